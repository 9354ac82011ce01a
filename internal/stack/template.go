package stack

import (
	"context"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
)

// SummaryAPI is what ReadTemplate needs (CloudFormation GetTemplateSummary).
type SummaryAPI interface {
	GetTemplateSummary(ctx context.Context, in *cloudformation.GetTemplateSummaryInput, optFns ...func(*cloudformation.Options)) (*cloudformation.GetTemplateSummaryOutput, error)
}

// TemplateParams are the parameters a template declares, by name: true when it has a default.
type TemplateParams map[string]bool

// ReadTemplate reads the parameters a template declares (GetTemplateSummary of its URL): the
// onboarding template's URL may be unversioned (Trend's is under latest/), so what it declares
// is read, not assumed.
func ReadTemplate(ctx context.Context, api SummaryAPI, url string) (TemplateParams, error) {
	out, err := api.GetTemplateSummary(ctx, &cloudformation.GetTemplateSummaryInput{TemplateURL: aws.String(url)})
	if err != nil {
		return nil, err
	}
	t := TemplateParams{}
	for _, p := range out.Parameters {
		t[aws.ToString(p.ParameterKey)] = p.DefaultValue != nil
	}
	return t, nil
}

// Mismatch compares the parameters a write sends with those the template declares. missing
// are sent and not declared (CloudFormation refuses the write: "Parameters: [..] do not exist
// in the template"); unknown are declared without a default and not sent (it refuses: "Parameters:
// [..] must have values"). Both sorted; none when the template takes the write.
func (t TemplateParams) Mismatch(sent []string) (missing, unknown []string) {
	was := map[string]bool{}
	for _, p := range sent {
		was[p] = true
		if _, ok := t[p]; !ok {
			missing = append(missing, p)
		}
	}
	for p, hasDefault := range t {
		if !hasDefault && !was[p] {
			unknown = append(unknown, p)
		}
	}
	sort.Strings(missing)
	sort.Strings(unknown)
	return missing, unknown
}

// ParameterNames are the names of the parameters a write of the desired stack sends.
func (d Desired) ParameterNames() []string {
	names := append(sortedKeys(d.Secrets), sortedKeys(d.Params)...)
	sort.Strings(names)
	return names
}
