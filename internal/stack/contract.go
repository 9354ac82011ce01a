package stack

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
)

// ContractParams are the parameters the onboarder sends with every stack write, and so the
// ones an onboarding template must declare, no more and no fewer (docs/ARCHITECTURE.md,
// section 3): a parameter sent that the template does not declare is refused by
// CloudFormation, and one it declares that is not sent gets its default, or fails the write.
var ContractParams = []string{ParamAPIKey, ParamServiceToken, ParamCreateNew, ParamBucket, ParamQSS3Bucket, ParamQSS3KeyPrefix}

// TemplateSummaryAPI is the part of the CloudFormation client that reads what a template
// declares without creating anything.
type TemplateSummaryAPI interface {
	GetTemplateSummary(ctx context.Context, in *cloudformation.GetTemplateSummaryInput, optFns ...func(*cloudformation.Options)) (*cloudformation.GetTemplateSummaryOutput, error)
}

// Mismatch is how a template's declared parameters differ from the contract.
type Mismatch struct {
	Missing []string `json:"missing,omitempty"` // sent by the onboarder, not declared by the template
	Unknown []string `json:"unknown,omitempty"` // declared by the template, not sent by the onboarder
}

// OK reports whether the template declares exactly the contract's parameters.
func (m Mismatch) OK() bool { return len(m.Missing) == 0 && len(m.Unknown) == 0 }

// Error says what differs, naming the parameters, or "" when nothing does.
func (m Mismatch) Error() string {
	var parts []string
	if len(m.Missing) > 0 {
		parts = append(parts, "does not declare "+strings.Join(m.Missing, ", "))
	}
	if len(m.Unknown) > 0 {
		parts = append(parts, "declares "+strings.Join(m.Unknown, ", ")+", which the onboarder does not send")
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, " and ") + " (the onboarding template must declare exactly " + strings.Join(ContractParams, ", ") + ")"
}

// CheckTemplate reads the parameters the template at url declares (GetTemplateSummary, which
// creates nothing) and compares them with the contract.
func CheckTemplate(ctx context.Context, api TemplateSummaryAPI, url string) (Mismatch, error) {
	out, err := api.GetTemplateSummary(ctx, &cloudformation.GetTemplateSummaryInput{TemplateURL: aws.String(url)})
	if err != nil {
		return Mismatch{}, fmt.Errorf("read the parameters of template %s (GetTemplateSummary): %w", url, err)
	}
	var declared []string
	for _, p := range out.Parameters {
		declared = append(declared, aws.ToString(p.ParameterKey))
	}
	return Compare(declared), nil
}

// Compare compares declared parameter names with the contract.
func Compare(declared []string) Mismatch {
	var m Mismatch
	for _, p := range ContractParams {
		if !slices.Contains(declared, p) {
			m.Missing = append(m.Missing, p)
		}
	}
	for _, p := range declared {
		if !slices.Contains(ContractParams, p) && !slices.Contains(m.Unknown, p) {
			m.Unknown = append(m.Unknown, p)
		}
	}
	slices.Sort(m.Unknown)
	return m
}
