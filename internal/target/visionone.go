package target

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/visionone"
)

// Parameters of Vision One's generated template that the onboarder sets per account (Vision
// One documentation, "Adding an AWS account" and "CloudTrail configuration"); the generated
// template pre-fills the others (the key, the Vision One account, the OIDC provider, the
// region), which the onboarder leaves as they are.
const (
	ParamCloudAccountName = "CloudAccountName"
	ParamTrailARN         = "CloudAuditLogMonitoringCloudTrailArn"
	ParamTopicARN         = "CloudAuditLogMonitoringCloudTrailSNSTopicArn"
)

// Outputs of the onboarder's trail stack (deploy/visionone-trail.yaml).
const (
	OutputTrailARN = "TrailArn"
	OutputTopicARN = "TopicArn"
)

// VisionOneAPI is the part of visionone.Client the target uses.
type VisionOneAPI interface {
	Features(ctx context.Context, key secret.Value) ([]visionone.Feature, error)
	GenerateTemplate(ctx context.Context, key secret.Value, in visionone.TemplateRequest) (visionone.Template, error)
	Account(ctx context.Context, key secret.Value, awsAccountID string) (visionone.Account, bool, error)
	DeleteAccount(ctx context.Context, key secret.Value, awsAccountID string) (bool, error)
}

// Templates keeps the generated templates, so that every worker uses one per region and
// feature set, generated again only once it ages (*ledger.Table). ClaimTemplate lets one
// worker at a time generate one (ledger.Table.ClaimTemplate).
type Templates interface {
	Template(ctx context.Context, key string) (ledger.Generated, bool, error)
	ClaimTemplate(ctx context.Context, key, owner string, now, fresh time.Time, claimFor time.Duration) (bool, error)
	PutTemplate(ctx context.Context, key string, g ledger.Generated) (bool, error)
}

// claimFor is how long a worker's claim to generate a template holds: a generation is one
// call to Vision One (DefaultTimeout, 30 s, at most); a claim older than this is a worker that
// died, and another may generate.
const claimFor = 2 * time.Minute

// VisionOne is Trend Vision One's Cloud Accounts: one stack per account from a template Vision
// One generates (POST /v3.0/cam/awsAccounts/generateCfnTemplateLinks) for the stack's region
// and the CloudTrail feature, which registers the account in Vision One when it completes. The
// CloudTrail feature reads a trail of the account in the stack's region and the SNS topic that
// trail notifies; where the account has none usable, the onboarder's trail stack provides one.
type VisionOne struct {
	Cfg       config.Config
	API       VisionOneAPI
	Templates Templates

	mu       sync.Mutex
	features []string // the feature ids, read once
}

var _ Target = (*VisionOne)(nil)

func (*VisionOne) Name() string               { return config.TargetVisionOne }
func (t *VisionOne) StackName() string        { return t.Cfg.StackName }
func (*VisionOne) HasView() bool              { return true }
func (t *VisionOne) PrerequisiteName() string { return t.Cfg.TrailStackName }

// Region is the configured region of the stacks (ONBOARDER_STACK_REGION).
func (t *VisionOne) Region(context.Context, secret.Credentials) (string, error) {
	return t.Cfg.StackRegion, nil
}

// Trail: Vision One's rules; the trail the stack names today comes first.
func (t *VisionOne) Trail(obs stack.Observed, _ bool, in *trail.Input) {
	in.Rules = trail.VisionOne
	in.CurrentTrail = obs.Params[ParamTrailARN]
}

// Prerequisite is the onboarder's trail stack, where the chosen trail is the onboarder's own.
func (t *VisionOne) Prerequisite(in Input) *stack.Desired {
	if !in.Trail.CreateNewTrail {
		return nil
	}
	return &stack.Desired{Name: t.Cfg.TrailStackName, TemplateURL: t.Cfg.TrailTemplateURL, Params: map[string]string{}}
}

// Desired is the Cloud Accounts stack: the template generated for the stack's region and
// features (kept and reused; once it aged, or when none is kept, no URL but MakeTemplate, which
// the reconcile calls before a write only), the account's name (the one the stack
// was made with, kept), and the trail and its topic (the chosen trail's, or the trail stack's
// outputs). Its identity is the version in force and what the template was generated for, not
// its URL: a template generated again is the same version, and an account is not rewritten for
// that alone (a rollout to a new version is).
func (t *VisionOne) Desired(ctx context.Context, in Input) (stack.Desired, error) {
	trailARN, topicARN := in.Trail.TrailARN, in.Trail.TopicARN
	if trailARN == "" || topicARN == "" {
		trailARN, topicARN = in.Outputs[OutputTrailARN], in.Outputs[OutputTopicARN]
	}
	if trailARN == "" || topicARN == "" {
		return stack.Desired{}, fault.Transientf("the trail for Vision One in %s/%s is not known yet (trail %q, topic %q): looking again", in.Account, in.Region, trailARN, topicARN)
	}
	features, err := t.featureIDs(ctx, in.Creds)
	if err != nil {
		return stack.Desired{}, err
	}
	url, _, err := t.template(ctx, in, features, false)
	if err != nil {
		return stack.Desired{}, err
	}
	name := in.Stack.Params[ParamCloudAccountName]
	if name == "" {
		name = in.AccountName
	}
	if name == "" {
		// A stack made again without a name at hand (a repair's request carries none, and the
		// deleted stack's parameters are gone): the name Vision One knows the account by, so
		// that a repair does not rename it to its id.
		a, found, err := t.API.Account(ctx, in.Creds.VisionOneKey, in.Account)
		if err != nil {
			return stack.Desired{}, err
		}
		if found {
			name = a.Name
		}
	}
	if name == "" {
		name = in.Account
	}
	d := stack.Desired{
		Name:        t.Cfg.StackName,
		TemplateURL: url,
		TemplateID:  in.Version.URL + ":" + in.Region + ":" + strings.Join(features, ","),
		Params:      map[string]string{ParamCloudAccountName: name, ParamTrailARN: trailARN, ParamTopicARN: topicARN},
	}
	if url == "" {
		// None kept young: generated before a write only, not for a pass that finds the
		// account in sync (each generation makes a new Vision One API key).
		d.MakeTemplate = func(ctx context.Context) (string, string, error) { return t.template(ctx, in, features, true) }
	}
	return d, nil
}

// featureIDs are the features the template is generated with: the configured ones, else the
// CloudTrail feature, found among the features Vision One lists (its id is not documented:
// the feature whose id, name or description speaks of CloudTrail or audit logs).
func (t *VisionOne) featureIDs(ctx context.Context, creds secret.Credentials) ([]string, error) {
	if len(t.Cfg.VisionOneFeatures) > 0 {
		return sorted(t.Cfg.VisionOneFeatures), nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.features != nil {
		return t.features, nil
	}
	all, err := t.API.Features(ctx, creds.VisionOneKey)
	if err != nil {
		return nil, err
	}
	var found, ids []string
	for _, f := range all {
		ids = append(ids, f.ID)
		text := strings.ToLower(f.ID + " " + f.Name + " " + f.Description)
		if strings.Contains(text, "cloudtrail") || strings.Contains(text, "audit-log") || strings.Contains(text, "audit log") {
			found = append(found, f.ID)
		}
	}
	if len(found) != 1 {
		return nil, fault.NeedsPersonf("Vision One lists the features %s, and %d of them look like the CloudTrail one (%s): set ONBOARDER_VISIONONE_FEATURES to its id",
			strings.Join(ids, ", "), len(found), strings.Join(found, ", "))
	}
	t.features = found
	return found, nil
}

// template is the URL of the template generated for the version, the stack's region and the
// features: the
// one kept, while younger than ONBOARDER_VISIONONE_TEMPLATE_MAX_AGE; else, with generate, a new
// one (kept for every worker), and why it was made; without generate, "" (Desired: a pass that
// writes nothing generates nothing). A generated template embeds a key that lasts 90 days; the
// maximum age leaves a margin, so that no write uses an expired one.
//
// The ledger keeps the URL sealed (seal.go): a kept one that does not open with the current
// key (rotated since) is made again.
func (t *VisionOne) template(ctx context.Context, in Input, features []string, generate bool) (string, string, error) {
	// One per version: a rollout to a new version (visionone:2) writes every account from a
	// template Vision One generates for it, not from the one kept for the old version.
	key := in.Version.URL + "/" + in.Region + "/" + strings.Join(features, ",")
	kept := func(g ledger.Generated) (string, bool) {
		url, err := openURL(in.Creds.VisionOneKey, key, g.URL)
		return url, err == nil
	}
	fresh := in.Now.Add(-t.Cfg.VisionOneTemplateMaxAge)
	why := "none was kept for " + in.Region
	if g, ok, err := t.Templates.Template(ctx, key); err != nil {
		return "", "", err
	} else if ok && g.Generated.After(fresh) {
		if url, ok := kept(g); ok {
			return url, "", nil
		}
		// Young, but sealed with another key (rotated since): claimed and made again as if
		// it had aged.
		fresh = g.Generated.Add(time.Second)
		why = "the kept one was sealed with another Vision One key (rotated since)"
	} else if ok {
		why = "the kept one, generated " + g.Generated.UTC().Format("2006-01-02") + ", is older than the maximum age of " +
			age(t.Cfg.VisionOneTemplateMaxAge) + " (ONBOARDER_VISIONONE_TEMPLATE_MAX_AGE)"
	}
	if !generate || t.Cfg.DryRun {
		// A dry run changes nothing, in Vision One neither: a generation makes a new API key
		// there (and keeps the template in the ledger). No URL: the plan says a write would
		// generate one first; the stack's identity (TemplateID) does not depend on its URL.
		return "", why, nil
	}
	// One worker generates it; the others look again shortly and find it kept. Without the
	// claim, every worker that found none generated one at once (a wave of new accounts), each
	// a new Vision One API key.
	if claimed, err := t.Templates.ClaimTemplate(ctx, key, "account "+in.Account, in.Now, fresh, claimFor); err != nil {
		return "", "", err
	} else if !claimed {
		if g, ok, err := t.Templates.Template(ctx, key); err == nil && ok && g.Generated.After(fresh) {
			if url, ok := kept(g); ok {
				return url, "", nil
			}
		}
		return "", "", fault.Transientf("Vision One's template for %s is being generated by another worker: looking again", key)
	}
	req := visionone.TemplateRequest{AWSRegion: in.Region, TemplateAccountType: visionone.TemplateAccountSingle,
		AWSAccountName: "cloudone-onboarder", AWSAccountDescription: "connected by the cloudone-onboarder",
		CustomTags: []visionone.Tag{{Key: stack.TagManaged, Value: "true"}}}
	for _, f := range features {
		req.Features = append(req.Features, visionone.FeatureRequest{ID: f, Regions: []string{in.Region}})
	}
	gen, err := t.API.GenerateTemplate(ctx, in.Creds.VisionOneKey, req)
	if err != nil {
		return "", "", err
	}
	sealed, err := sealURL(in.Creds.VisionOneKey, key, gen.TemplateURL)
	if err != nil {
		return "", "", fmt.Errorf("seal the generated template's URL: %w", err)
	}
	_, oidc, _ := strings.Cut(gen.VisionOneOIDCProviderURL, "://")
	put, err := t.Templates.PutTemplate(ctx, key, ledger.Generated{URL: sealed, Generated: in.Now, Bucket: bucketOf(gen.TemplateURL), OIDCProvider: oidc})
	if err != nil {
		return "", "", err
	}
	if !put { // another worker kept a newer one meanwhile: every worker uses that one
		if g, ok, err := t.Templates.Template(ctx, key); err == nil && ok {
			if url, ok := kept(g); ok {
				return url, "", nil
			}
		}
	}
	return gen.TemplateURL, "Vision One generated a new template first: " + why, nil
}

// age says a maximum age in days when it is whole days.
func age(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

// KeptTemplate is what may be said of a kept template: everything but its URL.
type KeptTemplate struct {
	Key          string    // version/region/features
	Generated    time.Time // when Vision One generated it (its key expires 90 days later)
	Bucket       string    // the S3 bucket it is in ("" when its URL names none)
	OIDCProvider string    // Vision One's OIDC provider, as IAM names it
}

// Kept is the template kept for the version in the stacks' region, if any, without its URL;
// it reads the features (a call to Vision One, once per process) and never generates.
func (t *VisionOne) Kept(ctx context.Context, creds secret.Credentials, version string) (KeptTemplate, bool, error) {
	features, err := t.featureIDs(ctx, creds)
	if err != nil {
		return KeptTemplate{}, false, err
	}
	key := version + "/" + t.Cfg.StackRegion + "/" + strings.Join(features, ",")
	g, ok, err := t.Templates.Template(ctx, key)
	if err != nil || !ok || g.Generated.IsZero() {
		return KeptTemplate{Key: key}, false, err
	}
	return KeptTemplate{Key: key, Generated: g.Generated, Bucket: g.Bucket, OIDCProvider: g.OIDCProvider}, true, nil
}

// bucketOf is the S3 bucket of an S3 URL, virtual-hosted (https://B.s3[.region].amazonaws.com/K)
// or path-style (https://s3[.region].amazonaws.com/B/K, and an endpoint's http://host/B/K);
// "" when it names none.
func bucketOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	host := u.Hostname()
	if i := strings.Index(host, ".s3."); i > 0 {
		return host[:i]
	}
	if i := strings.Index(host, ".s3-"); i > 0 {
		return host[:i]
	}
	if b, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/"); b != "" && (strings.HasPrefix(host, "s3.") || strings.HasPrefix(host, "s3-") || !strings.Contains(host, "amazonaws.com")) {
		return b
	}
	return ""
}

// View is Vision One's view of the account (GET /v3.0/cam/awsAccounts/{id}).
func (t *VisionOne) View(ctx context.Context, creds secret.Credentials, account string) (*View, error) {
	a, found, err := t.API.Account(ctx, creds.VisionOneKey, account)
	if err != nil || !found {
		return &View{}, err
	}
	v := &View{Found: true, State: a.State, Problems: a.MissingPermissions(),
		Outdated: a.State == visionone.StateOutdated, Failed: a.State == visionone.StateFailed}
	for _, f := range a.Features {
		if f.TemplateVersion != "" {
			v.TemplateVersion = f.TemplateVersion
		}
	}
	v.Synced, _ = a.LastSynced()
	return v, nil
}

// Forget removes the account from Vision One (DELETE /v3.0/cam/awsAccounts/{id}): it deletes
// no stack, and deleting the stack is not documented to remove the account.
func (t *VisionOne) Forget(ctx context.Context, creds secret.Credentials, account string) (bool, error) {
	return t.API.DeleteAccount(ctx, creds.VisionOneKey, account)
}

// Offboarding says what Vision One's stack makes, and what stays.
func (*VisionOne) Offboarding() Offboarding {
	return Offboarding{
		Vendor:    "Vision One",
		StackMade: "the Cloud Accounts stack and what it made (Vision One's IAM role and OIDC provider, the CloudTrail feature's functions), and the onboarder's trail stack where it made one",
		DeleteWhy: "so that Vision One's resources leave the account (deleting the stack is not documented to remove the account from Vision One: the onboarder removes it there when the stacks are gone)",
		LeftInVendor: func(acct string) string {
			return "in Vision One: nothing once the onboarder removed AWS account " + acct + " from Cloud Accounts (it does, whatever ONBOARDER_OFFBOARD says)"
		},
		LeftExcluded: func(acct string) string {
			return "in Vision One: AWS account " + acct + " stays in Cloud Accounts (an excluded account is never touched, in Vision One neither): remove it there by hand"
		},
		LeftAfterDelete: func(acct string) string {
			return "in Vision One: nothing once the onboarder removed AWS account " + acct + " from Cloud Accounts"
		},
		PrerequisiteGoes: "the onboarder's trail stack: its trail and topic go; its bucket stays, with the logs delivered so far (DeletionPolicy Retain: delete it when they are no longer needed)",
	}
}

func sorted(ss []string) []string {
	out := slices.Clone(ss)
	sort.Strings(out)
	return out
}
