package stack

import (
	"strings"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
)

// The template label is a stack tag that CloudFormation propagates to the IAM roles of Trend's
// template: IAM takes it, and two URLs never share one.
func TestTemplateLabelIsAnIAMTagValue(t *testing.T) {
	long := "https://example-bucket.s3.us-east-1.amazonaws.com/" + strings.Repeat("nested/", 40) + "main.template.yaml"
	urls := []string{
		"https://aws-abi-pilot.s3.us-east-1.amazonaws.com/latest/cfnabi-trend-cloudone/templates/trend-cloudone-onboard/main.template.yaml",
		"https://mirror.s3.amazonaws.com/trend/main.template.yaml?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
		"https://mirror.s3.amazonaws.com/trend/main.template.yaml?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHZ",
		"https://mirror.s3.amazonaws.com/trend%20v2/main~1.template.yaml",
		"https://mirror.s3.amazonaws.com/trend_v2/main_1.template.yaml",
		long,
		long + "?versionId=x",
	}
	seen := map[string]string{}
	for _, u := range urls {
		l := TemplateLabel(u)
		if !IAMTagValue(l) {
			t.Errorf("label %q of %s is not an IAM tag value", l, u)
		}
		if other, ok := seen[l]; ok {
			t.Errorf("%s and %s share the label %q", u, other, l)
		}
		seen[l] = u
	}
	if got := TemplateLabel(urls[0]); got != urls[0] {
		t.Errorf("a URL IAM takes is its own label: %q", got)
	}
	if got := TemplateLabel(long); !strings.HasPrefix(got, "...") || !strings.Contains(got, "main.template.yaml sha256=") {
		t.Errorf("a long URL keeps its end: %q", got)
	}
	for v, want := range map[string]bool{"a b_c.d:e/f=g+h-i@j": true, "ünïcode 123": true, "a?b": false, "…x": false, "a~b": false, strings.Repeat("a", 257): false} {
		if got := IAMTagValue(v); got != want {
			t.Errorf("IAMTagValue(%q) = %v, want %v", v, got, want)
		}
	}
}

// A template takes a write when it declares every parameter sent and has a default for every
// one it declares that is not sent.
func TestTemplateMismatch(t *testing.T) {
	v1 := TemplateParams{ParamAPIKey: false, ParamServiceToken: false, ParamCreateNew: true, ParamBucket: true, ParamQSS3Bucket: true, ParamQSS3KeyPrefix: true}
	sent := Desired{Params: map[string]string{ParamCreateNew: "True", ParamBucket: "", ParamQSS3Bucket: "b", ParamQSS3KeyPrefix: ""},
		Secrets: CloudOneSecrets(secret.Credentials{})}.ParameterNames()
	if m, u := v1.Mismatch(sent); len(m)+len(u) > 0 {
		t.Errorf("v1 refused: missing %v, unknown %v", m, u)
	}
	// Trend's later version (aws-ia/cfn-abi-trend-cloudone@5a525f6): a secret ARN, a staging bucket.
	later := TemplateParams{"CloudOneApiKeySecret": false, "CloudOneAccountID": false, "TrendStagingS3Bucket": false, "CloudOneRegion": true, ParamQSS3Bucket: true, ParamQSS3KeyPrefix: true}
	m, u := later.Mismatch(sent)
	if strings.Join(m, ",") != "CloudOneApiKey,CreateNewTrail,ExistingCloudtrailBucketName,VisionOneServiceToken" ||
		strings.Join(u, ",") != "CloudOneAccountID,CloudOneApiKeySecret,TrendStagingS3Bucket" {
		t.Errorf("missing %v, unknown %v", m, u)
	}
}
