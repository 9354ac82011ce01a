package target_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/target"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/visionone"
)

var creds = secret.Credentials{VisionOneKey: secret.NewValue("V1-ONBOARDER-KEY-0123456789abcdef")}

func visionOne(api *fake.VisionOne) *target.VisionOne {
	cfg := config.Default()
	cfg.Target, cfg.StackName, cfg.StackRegion = config.TargetVisionOne, config.DefaultVisionOneStackName, "eu-central-1"
	cfg.TrailTemplateURL = "https://onboarder-artifacts.s3.amazonaws.com/visionone-trail.yaml"
	return &target.VisionOne{Cfg: cfg, API: api, Templates: fake.Templates{}}
}

// forWrite is the desired stack as a write uses it: its template made first when none is kept
// young (the reconcile calls MakeTemplate before a write).
func forWrite(v1 *target.VisionOne, in target.Input) (stack.Desired, error) {
	d, err := v1.Desired(context.Background(), in)
	if err == nil && d.TemplateURL == "" && d.MakeTemplate != nil {
		d.TemplateURL, _, err = d.MakeTemplate(context.Background())
	}
	return d, err
}

// Desired generates no template: a pass that finds the account in sync writes nothing, and a
// generation makes a new Vision One API key. Where none is kept young, the desired stack has
// no URL and MakeTemplate, which generates one (once), says why, and keeps it for the next.
func TestVisionOneGeneratesOnlyForAWrite(t *testing.T) {
	api := &fake.VisionOne{FeatureList: []visionone.Feature{{ID: "cloud-audit-log-monitoring"}}}
	v1 := visionOne(api)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	in := target.Input{Account: "012345678901", AccountName: "payments", Region: "eu-central-1", Now: now,
		Version: rollout.Version{URL: config.DefaultVisionOneVersion}, Creds: creds,
		Trail: trail.Choice{TrailARN: "arn:aws:cloudtrail:eu-central-1:012345678901:trail/audit", TopicARN: "arn:aws:sns:eu-central-1:012345678901:audit"}}
	ctx := context.Background()
	d, err := v1.Desired(ctx, in)
	if err != nil || d.TemplateURL != "" || d.MakeTemplate == nil || api.Generated != 0 {
		t.Fatalf("none kept: %+v %v, generated %d; want no URL, a MakeTemplate, none generated", d, err, api.Generated)
	}
	url, why, err := d.MakeTemplate(ctx)
	if err != nil || url == "" || api.Generated != 1 || !strings.Contains(why, "Vision One generated a new template first: none was kept for eu-central-1") {
		t.Fatalf("MakeTemplate: %q %q %v, generated %d", url, why, err, api.Generated)
	}
	kept, err := v1.Desired(ctx, in)
	if err != nil || kept.TemplateURL != url || kept.MakeTemplate != nil || kept.Fingerprint() != d.Fingerprint() {
		t.Errorf("kept: %+v %v, want the URL %s, no MakeTemplate, the same fingerprint", kept, err, url)
	}
	// Aged: a pass that writes nothing still generates nothing.
	in.Now = now.Add(75 * 24 * time.Hour)
	aged, err := v1.Desired(ctx, in)
	if err != nil || aged.TemplateURL != "" || aged.MakeTemplate == nil || api.Generated != 1 || aged.Fingerprint() != d.Fingerprint() {
		t.Fatalf("aged: %+v %v, generated %d", aged, err, api.Generated)
	}
	url2, why, err := aged.MakeTemplate(ctx)
	if err != nil || url2 == url || api.Generated != 2 ||
		!strings.Contains(why, "the kept one, generated 2026-12-04, is older than the maximum age of 60 days (ONBOARDER_VISIONONE_TEMPLATE_MAX_AGE)") {
		t.Errorf("aged, MakeTemplate: %q %q %v, generated %d", url2, why, err, api.Generated)
	}
	// A dry run makes none, even asked.
	v1.Cfg.DryRun = true
	in.Now = now.Add(150 * 24 * time.Hour)
	if d, err := v1.Desired(ctx, in); err != nil || d.TemplateURL != "" {
		t.Fatalf("dry run: %+v %v", d, err)
	} else if u, _, err := d.MakeTemplate(ctx); err != nil || u != "" || api.Generated != 2 {
		t.Errorf("dry run, MakeTemplate: %q %v, generated %d", u, err, api.Generated)
	}
}

// The Vision One stack: the template generated for the region and the CloudTrail feature,
// reused until it ages and then generated again under the same identity; the account's name
// kept from the stack; the trail and topic from the choice or the trail stack's outputs.
func TestVisionOneDesired(t *testing.T) {
	api := &fake.VisionOne{FeatureList: []visionone.Feature{{ID: "cloud-sentry"}, {ID: "cloud-audit-log-monitoring", Name: "CloudTrail log monitoring"}, {ID: "container-security"}}}
	v1 := visionOne(api)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	in := target.Input{Account: "012345678901", AccountName: "payments", Region: "eu-central-1", Now: now,
		Version: rollout.Version{URL: config.DefaultVisionOneVersion}, Creds: creds,
		Trail: trail.Choice{TrailARN: "arn:aws:cloudtrail:eu-central-1:012345678901:trail/audit", TopicARN: "arn:aws:sns:eu-central-1:012345678901:audit"}}
	d, err := forWrite(v1, in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "Vision-One-Cloud-Account-Management" || !strings.Contains(d.TemplateURL, "/cloud-audit-log-monitoring/") || len(d.Secrets) != 0 ||
		d.Params[target.ParamCloudAccountName] != "payments" || d.Params[target.ParamTrailARN] != in.Trail.TrailARN || d.Params[target.ParamTopicARN] != in.Trail.TopicARN {
		t.Fatalf("desired %+v", d)
	}
	// Reused within its age: the same URL, no new generation.
	in.Now = now.Add(59 * 24 * time.Hour)
	d2, _ := forWrite(v1, in)
	if d2.TemplateURL != d.TemplateURL || api.Generated != 1 {
		t.Errorf("generated %d times, URL %s", api.Generated, d2.TemplateURL)
	}
	// Aged past ONBOARDER_VISIONONE_TEMPLATE_MAX_AGE: generated again, and the stack's
	// identity (so its fingerprint) does not change for that alone.
	in.Now = now.Add(61 * 24 * time.Hour)
	d3, _ := forWrite(v1, in)
	if d3.TemplateURL == d.TemplateURL || api.Generated != 2 || d3.Fingerprint() != d.Fingerprint() {
		t.Errorf("after 61 days: generated %d times, URL %s, fingerprint changed %v", api.Generated, d3.TemplateURL, d3.Fingerprint() != d.Fingerprint())
	}
	// A new version (a rollout's) is a new identity, from a template generated for it (the one
	// kept for the old version is Vision One's old template).
	in.Version = rollout.Version{URL: "visionone:2"}
	if d4, _ := forWrite(v1, in); d4.Fingerprint() == d.Fingerprint() || api.Generated != 3 || d4.TemplateURL == d3.TemplateURL {
		t.Errorf("a new version: fingerprint changed %v, generated %d", d4.Fingerprint() != d.Fingerprint(), api.Generated)
	}
	// The name the stack was made with is kept; the trail stack's outputs stand in for the choice.
	in.Stack = stack.Observed{Exists: true, Params: map[string]string{target.ParamCloudAccountName: "payments-old"}}
	in.Trail = trail.Choice{CreateNewTrail: true}
	in.Outputs = map[string]string{target.OutputTrailARN: "arn:aws:cloudtrail:eu-central-1:012345678901:trail/own", target.OutputTopicARN: "arn:aws:sns:eu-central-1:012345678901:own"}
	d5, err := forWrite(v1, in)
	if err != nil || d5.Params[target.ParamCloudAccountName] != "payments-old" || !strings.HasSuffix(d5.Params[target.ParamTrailARN], "/own") {
		t.Errorf("desired %+v %v", d5, err)
	}
	// Without a trail yet: not a write, a look again.
	in.Outputs = nil
	if _, err := forWrite(v1, in); fault.ClassOf(err) != fault.Transient {
		t.Errorf("no trail: %v", err)
	}
	// The prerequisite is the trail stack, only for the onboarder's own trail.
	if p := v1.Prerequisite(target.Input{Trail: trail.Choice{CreateNewTrail: true}}); p == nil || p.Name != config.DefaultTrailStackName || p.TemplateURL != v1.Cfg.TrailTemplateURL {
		t.Errorf("prerequisite %+v", p)
	}
	if p := v1.Prerequisite(target.Input{Trail: trail.Choice{TrailARN: "arn"}}); p != nil {
		t.Errorf("a prerequisite for an existing trail: %+v", p)
	}
}

// The ledger never holds a generated template's URL in the clear (it leads to a template that
// holds a key): it is sealed with the onboarder's Vision One key; a kept one that does not
// open (the key was rotated, or the item was copied under another key) is generated again.
func TestVisionOneTemplateSealed(t *testing.T) {
	api := &fake.VisionOne{FeatureList: []visionone.Feature{{ID: "cloud-audit-log-monitoring"}}}
	v1 := visionOne(api)
	kept := v1.Templates.(fake.Templates)
	in := target.Input{Account: "012345678901", Region: "eu-central-1", Now: time.Now(), Creds: creds,
		Version: rollout.Version{URL: config.DefaultVisionOneVersion}, Trail: trail.Choice{TrailARN: "a", TopicARN: "t"}}
	d, err := forWrite(v1, in)
	if err != nil {
		t.Fatal(err)
	}
	g := kept["visionone:1/eu-central-1/cloud-audit-log-monitoring"]
	if g.URL == "" || strings.Contains(g.URL, "cam-templates") || strings.Contains(g.URL, "https") {
		t.Fatalf("the ledger holds %q", g.URL)
	}
	if g.Bucket != "cam-templates" {
		t.Errorf("the kept template's bucket is %q", g.Bucket)
	}
	if d2, _ := forWrite(v1, in); d2.TemplateURL != d.TemplateURL || api.Generated != 1 {
		t.Errorf("the sealed URL was not reused: %s, generated %d", d2.TemplateURL, api.Generated)
	}
	// Under another item's key it does not open.
	kept["visionone:1/eu-west-1/cloud-audit-log-monitoring"] = g
	in.Region = "eu-west-1"
	if _, err := forWrite(v1, in); err != nil || api.Generated != 2 {
		t.Errorf("a copied item was used: generated %d, %v", api.Generated, err)
	}
	// After a rotation of the onboarder's key: generated again.
	in.Region = "eu-central-1"
	in.Creds = secret.Credentials{VisionOneKey: secret.NewValue("V1-ROTATED-KEY-fedcba9876543210")}
	if d3, err := forWrite(v1, in); err != nil || api.Generated != 3 || d3.TemplateURL == d.TemplateURL {
		t.Errorf("after a rotation: generated %d, %v", api.Generated, err)
	}
}

// The CloudTrail feature is found by what Vision One lists; none, or more than one, needs a
// person (its id is not documented), and ONBOARDER_VISIONONE_FEATURES names it.
func TestVisionOneFeatures(t *testing.T) {
	in := target.Input{Account: "012345678901", Region: "eu-central-1", Now: time.Now(), Trail: trail.Choice{TrailARN: "a", TopicARN: "t"}, Creds: creds}
	for _, fs := range [][]visionone.Feature{{{ID: "cloud-sentry"}}, {{ID: "cloudtrail-a"}, {ID: "cloudtrail-b"}}} {
		if _, err := visionOne(&fake.VisionOne{FeatureList: fs}).Desired(context.Background(), in); fault.ClassOf(err) != fault.NeedsPerson || !strings.Contains(err.Error(), "ONBOARDER_VISIONONE_FEATURES") {
			t.Errorf("features %v: %v", fs, err)
		}
	}
	v1 := visionOne(&fake.VisionOne{})
	v1.Cfg.VisionOneFeatures = []string{"cloud-audit-log-monitoring"}
	if d, err := forWrite(v1, in); err != nil || !strings.Contains(d.TemplateURL, "cloud-audit-log-monitoring") {
		t.Errorf("configured feature: %+v %v", d, err)
	}
	api := &fake.VisionOne{Err: fault.Permanentf("Vision One: list AWS account FeatureList: HTTP 401")}
	if _, err := visionOne(api).Desired(context.Background(), in); fault.ClassOf(err) != fault.Permanent {
		t.Errorf("a refused key: %v", err)
	}
}

// Vision One's view of an account, and forgetting one.
func TestVisionOneView(t *testing.T) {
	api := &fake.VisionOne{Accounts: map[string]visionone.Account{
		"012345678901": {ID: "012345678901", State: "failed", Features: []visionone.AccountFeature{{ID: "cloud-audit-log-monitoring", MissingAWSPermissions: []string{"sns:Subscribe"}, TemplateVersion: "2.1"}}, LastSyncedDateTime: "2026-12-04T10:00:00Z"},
		"123456789012": {ID: "123456789012", State: "outdated"},
	}}
	v1 := visionOne(api)
	v, err := v1.View(context.Background(), secret.Credentials{}, "012345678901")
	if err != nil || !v.Found || !v.Failed || v.Outdated || v.TemplateVersion != "2.1" || len(v.Problems) != 1 || !strings.Contains(v.Problems[0], "sns:Subscribe") || v.Synced.IsZero() {
		t.Fatalf("view %+v %v", v, err)
	}
	if v, _ := v1.View(context.Background(), secret.Credentials{}, "123456789012"); !v.Outdated || v.Failed {
		t.Errorf("outdated view %+v", v)
	}
	if v, _ := v1.View(context.Background(), secret.Credentials{}, "999999999999"); v.Found {
		t.Errorf("unknown account %+v", v)
	}
	if found, err := v1.Forget(context.Background(), secret.Credentials{}, "012345678901"); !found || err != nil {
		t.Errorf("forget: %v %v", found, err)
	}
	api.Err = errors.New("boom")
	if _, err := v1.View(context.Background(), secret.Credentials{}, "123456789012"); err == nil {
		t.Error("an error was lost")
	}
}

// Two workers that find no template: one generates it, the other looks again (a transient
// failure) and then uses the one kept; a claim of a worker that died lapses.
func TestVisionOneTemplateGeneratedOnce(t *testing.T) {
	api := &fake.VisionOne{FeatureList: []visionone.Feature{{ID: "cloud-audit-log-monitoring"}}}
	v1 := visionOne(api)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	in := target.Input{Account: "012345678901", AccountName: "a", Region: "eu-central-1", Now: now, Version: rollout.Version{URL: config.DefaultVisionOneVersion}, Creds: creds,
		Trail: trail.Choice{TrailARN: "arn:aws:cloudtrail:eu-central-1:012345678901:trail/audit", TopicARN: "arn:aws:sns:eu-central-1:012345678901:audit"}}
	key := "visionone:1/eu-central-1/cloud-audit-log-monitoring"
	tpl := v1.Templates.(fake.Templates)
	// Another worker holds the claim.
	tpl[key+"#claim"] = ledger.Generated{Generated: now.Add(-10 * time.Second)}
	if _, err := forWrite(v1, in); fault.ClassOf(err) != fault.Transient || !strings.Contains(err.Error(), "being generated by another worker") || api.Generated != 0 {
		t.Fatalf("while another worker generates: %v, generated %d", err, api.Generated)
	}
	// It kept one: used.
	sealed, err := target.SealURL(creds.VisionOneKey, key, "https://kept/1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tpl[key] = ledger.Generated{URL: sealed, Generated: now.Add(-5 * time.Second)}
	if d, err := forWrite(v1, in); err != nil || d.TemplateURL != "https://kept/1.yaml" || api.Generated != 0 {
		t.Fatalf("once kept: %+v %v, generated %d", d, err, api.Generated)
	}
	// A claim of a worker that died, and no template: generated after the claim's time.
	delete(tpl, key)
	tpl[key+"#claim"] = ledger.Generated{Generated: now.Add(-3 * time.Minute)}
	if d, err := forWrite(v1, in); err != nil || api.Generated != 1 || d.TemplateURL == "https://kept/1.yaml" || tpl[key].URL == "" {
		t.Fatalf("a lapsed claim: %+v %v, generated %d", d, err, api.Generated)
	}
}

// A stack made again without a name at hand (a repair's request has none) takes the name
// Vision One knows the account by; unknown to Vision One, its id.
func TestVisionOneNameOfARepair(t *testing.T) {
	api := &fake.VisionOne{FeatureList: []visionone.Feature{{ID: "cloud-audit-log-monitoring"}},
		Accounts: map[string]visionone.Account{"012345678901": {ID: "012345678901", Name: "payments", State: "managed"}}}
	v1 := visionOne(api)
	in := target.Input{Account: "012345678901", Region: "eu-central-1", Now: time.Now(), Version: rollout.Version{URL: config.DefaultVisionOneVersion}, Creds: creds,
		Trail: trail.Choice{TrailARN: "arn:aws:cloudtrail:eu-central-1:012345678901:trail/audit", TopicARN: "arn:aws:sns:eu-central-1:012345678901:audit"}}
	if d, err := forWrite(v1, in); err != nil || d.Params[target.ParamCloudAccountName] != "payments" {
		t.Errorf("a repair: %+v %v, want Vision One's name", d.Params, err)
	}
	in.Account = "123456789012"
	if d, err := forWrite(v1, in); err != nil || d.Params[target.ParamCloudAccountName] != "123456789012" {
		t.Errorf("unknown to Vision One: %+v %v, want the id", d.Params, err)
	}
}

// The bucket of a template URL, as S3 names buckets in URLs (virtual-hosted and path-style,
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html).
func TestBucketOf(t *testing.T) {
	for url, want := range map[string]string{
		"https://cam-templates.s3.amazonaws.com/a/b.yaml?X-Amz-Signature=x": "cam-templates",
		"https://cam-templates.s3.eu-central-1.amazonaws.com/a/b.yaml":      "cam-templates",
		"https://cam-templates.s3-eu-west-1.amazonaws.com/b.yaml":           "cam-templates",
		"https://s3.us-east-1.amazonaws.com/cam-templates/b.yaml":           "cam-templates",
		"http://127.0.0.1:5000/cam-templates/b.yaml":                        "cam-templates",
		"https://cloudformation.amazonaws.com/":                             "",
		"not a url":                                                         "",
	} {
		if got := target.BucketOf(url); got != want {
			t.Errorf("bucketOf(%q) = %q, want %q", url, got, want)
		}
	}
}
