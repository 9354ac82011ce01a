package fake

import (
	"context"
	"fmt"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/visionone"
)

// VisionOne answers as Vision One's Cloud Accounts API does (target.VisionOneAPI), for the
// tests that need no HTTP: the features it lists, the templates it generates (counted), the
// accounts it knows and those it was asked to forget. Err, when set, is every call's answer.
// The HTTP stand-in, with the API's wire format, is integration/localworld/trend.VisionOne.
type VisionOne struct {
	// FeatureList is what Features lists; nil: the CloudTrail feature alone
	// (cloud-audit-log-monitoring, the id the stand-in gives it).
	FeatureList []visionone.Feature
	// TemplateURL makes the n-th generated template's URL (n from 1); nil:
	// https://cam-templates.s3.amazonaws.com/<region>/<first feature>/<n>.yaml.
	TemplateURL func(n int, in visionone.TemplateRequest) string
	Accounts    map[string]visionone.Account
	Deleted     []string
	Generated   int
	Err         error
}

func (f *VisionOne) Features(context.Context, secret.Value) ([]visionone.Feature, error) {
	if f.FeatureList == nil {
		return []visionone.Feature{{ID: "cloud-audit-log-monitoring"}}, f.Err
	}
	return f.FeatureList, f.Err
}

func (f *VisionOne) GenerateTemplate(_ context.Context, _ secret.Value, in visionone.TemplateRequest) (visionone.Template, error) {
	if f.Err != nil {
		return visionone.Template{}, f.Err
	}
	f.Generated++
	if f.TemplateURL != nil {
		return visionone.Template{TemplateURL: f.TemplateURL(f.Generated, in)}, nil
	}
	feature := ""
	if len(in.Features) > 0 {
		feature = in.Features[0].ID
	}
	return visionone.Template{TemplateURL: fmt.Sprintf("https://cam-templates.s3.amazonaws.com/%s/%s/%d.yaml", in.AWSRegion, feature, f.Generated)}, nil
}

func (f *VisionOne) Account(_ context.Context, _ secret.Value, id string) (visionone.Account, bool, error) {
	if f.Err != nil {
		return visionone.Account{}, false, f.Err
	}
	a, ok := f.Accounts[id]
	return a, ok, nil
}

func (f *VisionOne) DeleteAccount(_ context.Context, _ secret.Value, id string) (bool, error) {
	if f.Err != nil {
		return false, f.Err
	}
	_, ok := f.Accounts[id]
	delete(f.Accounts, id)
	f.Deleted = append(f.Deleted, id)
	return ok, nil
}
