package stack

import (
	"strings"
	"testing"
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
