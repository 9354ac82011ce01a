package stack

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
)

type summaryFn func(*cloudformation.GetTemplateSummaryInput) (*cloudformation.GetTemplateSummaryOutput, error)

func (f summaryFn) GetTemplateSummary(_ context.Context, in *cloudformation.GetTemplateSummaryInput, _ ...func(*cloudformation.Options)) (*cloudformation.GetTemplateSummaryOutput, error) {
	return f(in)
}

func declaring(names ...string) summaryFn {
	return func(*cloudformation.GetTemplateSummaryInput) (*cloudformation.GetTemplateSummaryOutput, error) {
		out := &cloudformation.GetTemplateSummaryOutput{}
		for _, n := range names {
			out.Parameters = append(out.Parameters, cfntypes.ParameterDeclaration{ParameterKey: aws.String(n)})
		}
		return out, nil
	}
}

func TestCheckTemplate(t *testing.T) {
	// Trend's later main templates take the key from a secret (docs/ARCHITECTURE.md, section 9).
	later := []string{"CloudOneApiKeySecret", "VisionOneServiceToken", "CreateNewTrail", "ExistingCloudtrailBucketName",
		"QSS3BucketName", "QSS3KeyPrefix", "TrendStagingS3Bucket"}
	for _, tc := range []struct {
		name             string
		declared         []string
		missing, unknown []string
		msg              string
	}{
		{"the contract", ContractParams, nil, nil, ""},
		{"in another order", []string{ParamQSS3KeyPrefix, ParamAPIKey, ParamBucket, ParamServiceToken, ParamCreateNew, ParamQSS3Bucket}, nil, nil, ""},
		{"a later template", later, []string{ParamAPIKey}, []string{"CloudOneApiKeySecret", "TrendStagingS3Bucket"},
			"does not declare CloudOneApiKey and declares CloudOneApiKeySecret, TrendStagingS3Bucket, which the onboarder does not send"},
		{"too few", []string{ParamAPIKey}, []string{ParamServiceToken, ParamCreateNew, ParamBucket, ParamQSS3Bucket, ParamQSS3KeyPrefix}, nil,
			"does not declare VisionOneServiceToken, CreateNewTrail"},
		{"none", nil, ContractParams, nil, "does not declare CloudOneApiKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked string
			fn := declaring(tc.declared...)
			m, err := CheckTemplate(context.Background(), summaryFn(func(in *cloudformation.GetTemplateSummaryInput) (*cloudformation.GetTemplateSummaryOutput, error) {
				asked = aws.ToString(in.TemplateURL)
				return fn(in)
			}), "https://bucket.s3.amazonaws.com/v2/main.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if asked != "https://bucket.s3.amazonaws.com/v2/main.yaml" {
				t.Errorf("asked about %q", asked)
			}
			if !reflect.DeepEqual(m.Missing, tc.missing) || !reflect.DeepEqual(m.Unknown, tc.unknown) {
				t.Errorf("missing %v unknown %v, want %v %v", m.Missing, m.Unknown, tc.missing, tc.unknown)
			}
			if m.OK() != (tc.msg == "") || !strings.Contains(m.Error(), tc.msg) {
				t.Errorf("OK %v, message %q, want one with %q", m.OK(), m.Error(), tc.msg)
			}
		})
	}
	_, err := CheckTemplate(context.Background(), summaryFn(func(*cloudformation.GetTemplateSummaryInput) (*cloudformation.GetTemplateSummaryOutput, error) {
		return nil, errors.New("AccessDenied")
	}), "https://x/y.yaml")
	if err == nil || !strings.Contains(err.Error(), "read the parameters of template https://x/y.yaml (GetTemplateSummary): AccessDenied") {
		t.Errorf("error %v", err)
	}
}
