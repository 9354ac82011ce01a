package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/trend"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/crossaccount"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secretstore"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/target"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

const (
	acct      = "111122223333"
	other     = "444455556666"
	region    = "us-east-1"
	secretARN = "arn:aws:secretsmanager:eu-west-1:999999999999:secret:onboarder-AbCdEf"
	tplURL    = "https://templates.example.com/v1/main.yaml"
)

var key = trend.Key{ID: "KEYID0001", Secret: "OPSECRETHALF-0123456789", Region: "us-1", Account: "c1-42"}

const token = "OPTOKEN-abcdef0123456789"

// world is a Handler over the shared fakes: one member account with a CloudFormation and a
// CloudTrail, the secret, the Cloud One stand-in.
type world struct {
	t      *testing.T
	h      *Handler
	cfn    *fake.CloudFormation
	trails *fake.CloudTrail
	sts    *fake.STS
	sm     *fake.SecretsManager
	ledger *fake.Ledger
	starts *fake.Starts
	c1     *trend.Server
	exec   *fake.Members[Member]
}

func newWorld(t *testing.T, mutate ...func(*config.Config)) *world {
	t.Helper()
	cfg := config.Default()
	cfg.SecretARN, cfg.TemplateURL = secretARN, tplURL
	for _, m := range mutate {
		m(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, c1: trend.New(key), sm: &fake.SecretsManager{}, ledger: &fake.Ledger{}, starts: &fake.Starts{},
		cfn:    &fake.CloudFormation{Account: acct, Region: region, NoEcho: []string{stack.ParamAPIKey, stack.ParamServiceToken}, Templates: map[string][]cfntypes.ParameterDeclaration{tplURL: decls(v1Params...)}},
		trails: &fake.CloudTrail{Logging: map[string]bool{}, Selectors: map[string]*cloudtrail.GetEventSelectorsOutput{}, Tags: map[string][]cttypes.Tag{}},
		sts:    &fake.STS{Account: acct, Role: "arn:aws:iam::" + acct + ":role/" + cfg.ExecutionRoleName},
	}
	t.Cleanup(w.c1.Close)
	w.sm.Put(secretARN, fmt.Sprintf(`{"cloudOneApiKey":%q,"visionOneServiceToken":%q}`, key.APIKey(), token), "v1")
	cfg.AccountsURL = w.c1.URL
	secrets := func() reconcile.Secrets { return &secretstore.Store{API: w.sm, ARN: secretARN} }
	c1 := func() reconcile.KeyDescriber { return &cloudone.Client{BaseURL: w.c1.URL} }
	w.exec = &fake.Members[Member]{Answer: Member{CloudFormation: w.cfn, CloudTrail: func(string) TrailAPI { return w.trails }, Identity: w.sts}}
	r := &reconcile.Reconciler{Cfg: cfg, Secrets: secrets(), CloudOne: c1(), Ledger: w.ledger, Starts: w.starts,
		Members: &fake.Members[reconcile.Member]{Answer: reconcile.Member{CloudFormation: w.cfn, Trails: trail.Clients{
			CloudTrail: func(string) trail.API { return w.trails }, S3: &fake.S3{}}}},
	}
	w.h = &Handler{Cfg: cfg, Planner: DryRun(r), Secrets: r.Secrets, CloudOne: r.CloudOne, FreshSecrets: secrets, FreshCloudOne: c1, Members: w.exec}
	return w
}

func (w *world) serve(req Request) Response {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp := w.h.Serve(ctx, req)
	b, _ := json.Marshal(resp)
	for _, s := range []string{key.Secret, token} {
		if strings.Contains(string(b), s) {
			w.t.Fatalf("the answer holds a secret value: %s", b)
		}
	}
	return resp
}

func TestConfig(t *testing.T) {
	w := newWorld(t)
	resp := w.serve(Request{Op: OpConfig})
	if resp.Error != "" || resp.Config == nil || resp.Config.TemplateURL != tplURL || resp.ConfigError != "" {
		t.Fatalf("config: %+v", resp)
	}
	// A worker whose configuration is invalid says so, and answers nothing else.
	w.h.ConfigErr = errors.New("ONBOARDER_STACK_NAME=\"WayTooLongName\": must be 1 to 8 characters")
	resp = w.serve(Request{Op: OpConfig})
	if !strings.Contains(resp.ConfigError, "WayTooLongName") || resp.Config == nil {
		t.Errorf("config of a bad configuration: %+v", resp)
	}
	resp = w.serve(Request{Op: OpStatus, Accounts: []string{acct}})
	if !strings.Contains(resp.Error, "configuration is invalid") || resp.Stacks != nil {
		t.Errorf("status with a bad configuration: %+v", resp)
	}
}

func TestBadRequests(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Op: "delete"}, `op "delete": must be one of`},
		{Request{Op: OpStatus, Accounts: []string{"12345"}}, "accounts: account id \"12345\""},
		{Request{Op: OpPlan, Requests: []queue.Request{{Version: 1, Account: acct}}}, "requests[0]: trigger: required"},
		{Request{Op: OpCheck, Checks: []string{"everything"}}, `checks: "everything" is not one of`},
		{Request{Op: OpStatus, Accounts: make([]string, maxAccounts+1)}, "at most 100"},
	} {
		if resp := w.serve(tc.req); !strings.Contains(resp.Error, tc.want) {
			t.Errorf("%+v: error %q, want %q", tc.req, resp.Error, tc.want)
		}
	}
}

// A plan is the reconcile's decision, and writes nothing: no stack, no ledger entry, no start
// slot, whatever the decision.
func TestPlanWritesNothing(t *testing.T) {
	w := newWorld(t, func(c *config.Config) { c.CloudOneRegion = "us-1" })
	req := queue.Request{Version: 1, Account: acct, Trigger: "operator", EventID: "op-1", Reason: "onboarder plan"}
	resp := w.serve(Request{Op: OpPlan, Requests: []queue.Request{req}})
	if resp.Error != "" || len(resp.Plans) != 1 {
		t.Fatalf("plan: %+v", resp)
	}
	p := resp.Plans[0]
	if p.Account != acct || p.Action != reconcile.ActionCreate || !p.DryRun || p.Class != fault.None {
		t.Errorf("plan of an account without a stack: %+v", p)
	}
	if n := w.cfn.CreateStackCalls.Count() + w.cfn.UpdateStackCalls.Count(); n != 0 {
		t.Errorf("%d stack writes", n)
	}
	if n := w.ledger.PutCalls.Count(); n != 0 {
		t.Errorf("%d ledger writes", n)
	}
	if n := w.starts.TakeCalls.Count(); n != 0 {
		t.Errorf("%d start slots taken", n)
	}
}

// The dry-run copy cannot write even where a pass would try: its ledger and rollout refuse.
func TestDryRunCannotWrite(t *testing.T) {
	r := &reconcile.Reconciler{Ledger: &fake.Ledger{}, Rollouts: &rollout.Store{}, Starts: &fake.Starts{},
		Release: func(context.Context, *rollout.Rollout, int, string, []string) error { return nil }}
	d := DryRun(r)
	if !d.Cfg.DryRun || d.Starts != nil || d.Release != nil || r.Cfg.DryRun {
		t.Fatalf("dry copy %+v (original DryRun %v)", d, r.Cfg.DryRun)
	}
	if err := d.Ledger.Put(context.Background(), ledger.Entry{Account: acct}); err == nil {
		t.Error("the dry ledger wrote")
	}
	if _, err := d.Rollouts.Record(context.Background(), "r", 0, acct, false, ""); err == nil {
		t.Error("the dry rollout recorded")
	}
	if _, err := d.Rollouts.Advance(context.Background(), &rollout.Rollout{}); err == nil {
		t.Error("the dry rollout advanced")
	}
	if n := r.Ledger.(*fake.Ledger).PutCalls.Count(); n != 0 {
		t.Errorf("the original ledger got %d writes", n)
	}
	// Vision One's generated templates are neither claimed, generated nor kept by a dry run.
	kept := fake.Templates{}
	v1 := DryRun(&reconcile.Reconciler{Target: &target.VisionOne{Templates: kept}}).Target.(*target.VisionOne)
	if !v1.Cfg.DryRun {
		t.Error("the dry target would generate templates")
	}
	if ok, err := v1.Templates.PutTemplate(context.Background(), "visionone/us-east-1/x", ledger.Generated{URL: "https://t"}); ok || err != nil || len(kept) != 0 {
		t.Errorf("the dry target kept a template: %v %v %v", ok, err, kept)
	}
	if ok, err := v1.Templates.ClaimTemplate(context.Background(), "visionone/us-east-1/x", "plan", time.Now(), time.Now(), time.Minute); ok || err != nil || len(kept) != 0 {
		t.Errorf("the dry target claimed a template: %v %v %v", ok, err, kept)
	}
}

func TestStatus(t *testing.T) {
	w := newWorld(t)
	// No stack.
	resp := w.serve(Request{Op: OpStatus, Accounts: []string{acct}})
	if resp.Error != "" || len(resp.Stacks) != 1 || resp.Stacks[0].StackStatus != "ABSENT" || resp.Stacks[0].Region != region {
		t.Fatalf("status without a stack: %+v", resp)
	}
	// The onboarder's stack, forwarding an existing trail that logs, then is stopped.
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	w.cfn.Stack = &cfntypes.Stack{StackName: aws.String("CloudOne"), StackId: aws.String(w.cfn.StackID("CloudOne", 1)), StackStatus: cfntypes.StackStatusCreateComplete,
		CreationTime: aws.Time(created),
		Parameters: []cfntypes.Parameter{{ParameterKey: aws.String(stack.ParamCreateNew), ParameterValue: aws.String("False")},
			{ParameterKey: aws.String(stack.ParamBucket), ParameterValue: aws.String("audit-logs")}},
		Tags: []cfntypes.Tag{{Key: aws.String(stack.TagManaged), Value: aws.String("true")}, {Key: aws.String(stack.TagTemplate), Value: aws.String(tplURL)}}}
	arn := "arn:aws:cloudtrail:us-east-1:" + acct + ":trail/audit"
	w.trails.AddTrail(cttypes.Trail{Name: aws.String("audit"), TrailARN: aws.String(arn), S3BucketName: aws.String("audit-logs"), HomeRegion: aws.String(region), IsMultiRegionTrail: aws.Bool(true)}, true)
	resp = w.serve(Request{Op: OpStatus, Accounts: []string{acct}})
	st := resp.Stacks[0]
	if st.StackStatus != "CREATE_COMPLETE" || !st.Managed || st.Template != tplURL || st.TrailMode != "existing" || st.Bucket != "audit-logs" ||
		st.Forwarding != "logging" || st.TrailName != "audit" || st.LastUpdated != "2026-01-02T03:04:05Z" || st.Error != "" {
		t.Errorf("status of a forwarding stack: %+v", st)
	}
	w.trails.SetLogging(arn, false)
	if st := w.serve(Request{Op: OpStatus, Accounts: []string{acct}}).Stacks[0]; st.Forwarding != "STOPPED" {
		t.Errorf("a stopped trail shows %q", st.Forwarding)
	}
	if n := w.trails.StartLoggingCalls.Count(); n != 0 {
		t.Errorf("status started logging %d times", n)
	}

	// An excluded account is never read; a denied role is an error of its row only.
	w.h.Cfg.ExcludeAccounts = []string{other}
	denied := fault.As(fault.Permanent, &crossaccount.DeniedError{Role: "arn:aws:iam::" + acct + ":role/x", Err: errors.New("AccessDenied")})
	w.exec.MemberCalls.Fail(denied)
	resp = w.serve(Request{Op: OpStatus, Accounts: []string{acct, other}})
	if len(resp.Stacks) != 2 || !strings.Contains(resp.Stacks[0].Error, "access denied") || !strings.Contains(resp.Stacks[1].Error, "excluded") {
		t.Errorf("denied and excluded: %+v", resp.Stacks)
	}
	for _, p := range w.exec.MemberCalls.Inputs() {
		if p.Account == other {
			t.Error("the excluded account was opened")
		}
	}
	// With a fallback role, a denied execution role is read through it, and the row says so.
	w.h.Cfg.FallbackRoleName = "AWSControlTowerExecution"
	w.h.Fallback = &fake.Members[Member]{Answer: w.exec.Answer}
	w.exec.MemberCalls.Fail(denied)
	if st := w.serve(Request{Op: OpStatus, Accounts: []string{acct}}).Stacks[0]; st.Via != "AWSControlTowerExecution" || st.StackStatus != "CREATE_COMPLETE" {
		t.Errorf("through the fallback role: %+v", st)
	}
}

// status of a Vision One stack: the trail and topic its parameters name, whether the trail
// logs and still notifies that topic, whether the trail is the onboarder's own.
func TestStatusVisionOne(t *testing.T) {
	w := newWorld(t)
	w.h.Cfg.Target, w.h.Cfg.StackName, w.h.Cfg.StackRegion = config.TargetVisionOne, config.DefaultVisionOneStackName, region
	arn := "arn:aws:cloudtrail:us-east-1:" + acct + ":trail/audit"
	topic := "arn:aws:sns:us-east-1:" + acct + ":audit-deliveries"
	w.cfn.Stack = &cfntypes.Stack{StackName: aws.String(config.DefaultVisionOneStackName), StackId: aws.String(w.cfn.StackID(config.DefaultVisionOneStackName, 1)),
		StackStatus: cfntypes.StackStatusCreateComplete, CreationTime: aws.Time(time.Now()),
		Parameters: []cfntypes.Parameter{{ParameterKey: aws.String(target.ParamTrailARN), ParameterValue: aws.String(arn)},
			{ParameterKey: aws.String(target.ParamTopicARN), ParameterValue: aws.String(topic)}},
		Tags: []cfntypes.Tag{{Key: aws.String(stack.TagManaged), Value: aws.String("true")}}}
	w.trails.AddTrail(cttypes.Trail{Name: aws.String("other"), TrailARN: aws.String("arn:aws:cloudtrail:us-east-1:" + acct + ":trail/other"), HomeRegion: aws.String(region)}, false)
	w.trails.AddTrail(cttypes.Trail{Name: aws.String("audit"), TrailARN: aws.String(arn), HomeRegion: aws.String(region), SnsTopicARN: aws.String(topic)}, true)
	st := w.serve(Request{Op: OpStatus, Accounts: []string{acct}}).Stacks[0]
	if st.Error != "" || st.TrailMode != "existing" || st.TrailName != "audit" || st.Forwarding != "logging" || st.Bucket != "" {
		t.Errorf("a forwarding Vision One stack: %+v", st)
	}
	w.trails.SetLogging(arn, false)
	if st := w.serve(Request{Op: OpStatus, Accounts: []string{acct}}).Stacks[0]; st.Forwarding != "STOPPED" {
		t.Errorf("a stopped trail shows %q", st.Forwarding)
	}
	w.trails.SetLogging(arn, true)
	w.trails.Trails[1].SnsTopicARN = nil
	if st := w.serve(Request{Op: OpStatus, Accounts: []string{acct}}).Stacks[0]; !strings.HasPrefix(st.Forwarding, "NO TOPIC") {
		t.Errorf("a trail without the topic shows %q", st.Forwarding)
	}
	w.trails.Trails = w.trails.Trails[:1]
	if st := w.serve(Request{Op: OpStatus, Accounts: []string{acct}}).Stacks[0]; !strings.HasPrefix(st.Forwarding, "NO TRAIL") {
		t.Errorf("a deleted trail shows %q", st.Forwarding)
	}
	if n := w.trails.StartLoggingCalls.Count(); n != 0 {
		t.Errorf("status started logging %d times", n)
	}
}

// Accounts not started before the invocation's deadline (less its margin) are deferred.
func TestDeadlineDefers(t *testing.T) {
	w := newWorld(t)
	w.h.Parallel, w.h.Margin = 1, time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp := w.h.Serve(ctx, Request{Op: OpStatus, Accounts: []string{acct, other}})
	if len(resp.Stacks) != 0 || strings.Join(resp.Deferred, ",") != acct+","+other {
		t.Errorf("answer near the deadline: %+v", resp)
	}
}

func TestCheck(t *testing.T) {
	w := newWorld(t)
	resp := w.serve(Request{Op: OpCheck, Accounts: []string{acct}})
	want := []string{CheckSecret, CheckCloudOne, CheckRole, CheckTemplate}
	if len(resp.Checks) != len(want) {
		t.Fatalf("checks: %+v", resp)
	}
	for i, c := range resp.Checks {
		if c.Name != want[i] || !c.OK {
			t.Errorf("check %d: %+v, want %s OK", i, c, want[i])
		}
	}
	if c := resp.Checks[1]; c.Region != "us-east-1" || !strings.Contains(c.Detail, "key KEYID0001 accepted") {
		t.Errorf("cloudone key: %+v", c)
	}
	if c := resp.Checks[3]; !strings.Contains(c.Detail, "takes the parameters the onboarder sends") || w.cfn.GetTemplateSummaryCalls.Count() != 1 {
		t.Errorf("template: %+v", c)
	}

	// A version that declares one more parameter, with a default, takes the writes.
	w.cfn.Templates["https://templates.example.com/v1b/main.yaml"] = append(decls(v1Params...),
		cfntypes.ParameterDeclaration{ParameterKey: aws.String("Extra"), DefaultValue: aws.String("x")})
	resp = w.serve(Request{Op: OpCheck, Checks: []string{CheckTemplate}, Accounts: []string{acct}, Template: &rollout.Version{URL: "https://templates.example.com/v1b/main.yaml"}})
	if len(resp.Checks) != 1 || !resp.Checks[0].OK {
		t.Errorf("a template with one more parameter that has a default: %+v", resp.Checks)
	}

	// A rollout's version whose parameters are not the ones the onboarder sends, named.
	w.cfn.Templates["https://templates.example.com/v2/main.yaml"] = decls("CloudOneApiKeySecret", "VisionOneServiceToken", "CreateNewTrail",
		"ExistingCloudtrailBucketName", "QSS3BucketName", "QSS3KeyPrefix", "TrendStagingS3Bucket")
	resp = w.serve(Request{Op: OpCheck, Checks: []string{CheckTemplate}, Accounts: []string{acct}, Template: &rollout.Version{URL: "https://templates.example.com/v2/main.yaml"}})
	if len(resp.Checks) != 1 || resp.Checks[0].OK || resp.Checks[0].Mismatch == nil ||
		!strings.Contains(resp.Checks[0].Detail, "does not declare CloudOneApiKey and requires CloudOneApiKeySecret, TrendStagingS3Bucket, which the onboarder does not send") ||
		resp.Checks[0].Mismatch.Missing[0] != "CloudOneApiKey" || len(resp.Checks[0].Mismatch.Unknown) != 2 {
		t.Errorf("a later template: %+v", resp.Checks)
	}

	// A secret without the token, and a revoked key; the fresh store and client see them at once.
	w.sm.Put(secretARN, fmt.Sprintf(`{"cloudOneApiKey":%q}`, key.APIKey()), "v2")
	resp = w.serve(Request{Op: OpCheck, Accounts: []string{acct}})
	if c := resp.Checks[0]; c.OK || !strings.Contains(c.Detail, "visionOneServiceToken") {
		t.Errorf("a secret without the token: %+v", c)
	}
	if c := resp.Checks[1]; !c.Skipped {
		t.Errorf("the key without a secret: %+v", c)
	}
	w.sm.Put(secretARN, fmt.Sprintf(`{"cloudOneApiKey":%q,"visionOneServiceToken":%q}`, key.APIKey(), token), "v3")
	w.c1.Fail(401)
	resp = w.serve(Request{Op: OpCheck, Accounts: []string{acct}})
	if c := resp.Checks[1]; c.OK || !strings.Contains(c.Detail, "KEYID0001") {
		t.Errorf("a revoked key: %+v", c)
	}
	if c := resp.Checks[2]; !c.Skipped || !strings.Contains(c.Detail, "region is unknown") {
		t.Errorf("the role without a region: %+v", c)
	}
	w.c1.Fail(0)

	// A denied role: the template is not read.
	w.exec.MemberCalls.Fail(fault.As(fault.Permanent, &crossaccount.DeniedError{Role: "arn:aws:iam::" + acct + ":role/x", Err: errors.New("AccessDenied")}))
	before := w.cfn.GetTemplateSummaryCalls.Count()
	resp = w.serve(Request{Op: OpCheck, Accounts: []string{acct}})
	if c := resp.Checks[2]; c.OK || !strings.Contains(c.Detail, "access denied") {
		t.Errorf("a denied role: %+v", c)
	}
	if c := resp.Checks[3]; !c.Skipped || w.cfn.GetTemplateSummaryCalls.Count() != before {
		t.Errorf("the template behind a denied role: %+v", c)
	}
	// Credentials of another account than the one asked.
	w.sts.Account = other
	if c := w.serve(Request{Op: OpCheck, Checks: []string{CheckRole}, Accounts: []string{acct}}).Checks[0]; c.OK || !strings.Contains(c.Detail, "belong to account "+other) {
		t.Errorf("credentials of another account: %+v", c)
	}
	// An excluded account is never opened, not even for a check.
	w.h.Cfg.ExcludeAccounts = []string{acct}
	before = w.exec.MemberCalls.Count()
	if cs := w.serve(Request{Op: OpCheck, Checks: []string{CheckRole, CheckTemplate}, Accounts: []string{acct}}).Checks; len(cs) != 2 || !cs[0].Skipped || !cs[1].Skipped ||
		!strings.Contains(cs[0].Detail, "excluded") || w.exec.MemberCalls.Count() != before {
		t.Errorf("checks in an excluded account: %+v", cs)
	}
	w.h.Cfg.ExcludeAccounts = nil
	// No account to try.
	if c := w.serve(Request{Op: OpCheck, Checks: []string{CheckRole}}).Checks[0]; !c.Skipped || !strings.Contains(c.Detail, "--account") {
		t.Errorf("no account: %+v", c)
	}
}

// Whatever text reaches the answer (an error of a member account, a reason), the secret
// values are scrubbed from it in every form.
func TestAnswersCarryNoSecret(t *testing.T) {
	w := newWorld(t)
	leak := "denied while handling " + key.APIKey() + " and " + token + " (" + strings.ReplaceAll(key.Secret, "-", "%2D") + ")"
	w.exec.MemberCalls.FailAlways(errors.New(leak))
	resp := w.serve(Request{Op: OpStatus, Accounts: []string{acct}}) // serve fails the test on a leak
	if !strings.Contains(resp.Stacks[0].Error, secret.Redacted) {
		t.Errorf("the error was not scrubbed: %q", resp.Stacks[0].Error)
	}
}

// decls are parameter declarations without defaults.
// v1Params are the parameters a Cloud One stack write sends (Trend's v1 template declares them).
var v1Params = []string{stack.ParamAPIKey, stack.ParamServiceToken, stack.ParamCreateNew, stack.ParamBucket, stack.ParamQSS3Bucket, stack.ParamQSS3KeyPrefix}

func decls(names ...string) []cfntypes.ParameterDeclaration {
	var out []cfntypes.ParameterDeclaration
	for _, n := range names {
		out = append(out, cfntypes.ParameterDeclaration{ParameterKey: aws.String(n)})
	}
	return out
}

// Under the Vision One target, the secret holds Vision One's key alone, the stacks' region is
// ONBOARDER_STACK_REGION, and no Cloud One key or template URL is checked.
func TestCheckVisionOne(t *testing.T) {
	w := newWorld(t)
	w.h.Cfg.Target, w.h.Cfg.StackRegion, w.h.Cfg.TemplateURL = config.TargetVisionOne, region, config.DefaultVisionOneVersion
	w.sm.Put(secretARN, `{"visionOneApiKey":"V1KEY-0123456789abcdef"}`, "v1")
	w.h.FreshSecrets = func() reconcile.Secrets {
		return &secretstore.Store{API: w.sm, ARN: secretARN, Fields: w.h.Cfg.SecretFields()}
	}
	resp := w.serve(Request{Op: OpCheck, Accounts: []string{acct}})
	want := map[string]string{CheckSecret: "visionOneApiKey present", CheckCloudOne: "no Cloud One key", CheckRole: "assumed in " + acct, CheckTemplate: "Vision One generates the template"}
	if resp.Error != "" || len(resp.Checks) != len(want) {
		t.Fatalf("checks: %+v", resp)
	}
	for _, c := range resp.Checks {
		if !strings.Contains(c.Detail, want[c.Name]) {
			t.Errorf("%s: %+v, want %q", c.Name, c, want[c.Name])
		}
	}
	if n := w.cfn.GetTemplateSummaryCalls.Count(); n != 0 {
		t.Errorf("%d template reads", n)
	}
	if b, _ := json.Marshal(resp); strings.Contains(string(b), "V1KEY-0123456789abcdef") {
		t.Errorf("the answer holds Vision One's key: %s", b)
	}

	// With the target: none kept yet (none generated for the check), then the kept one's
	// bucket and OIDC provider, never its URL.
	kept := fake.Templates{}
	api := &fake.VisionOne{}
	w.h.VisionOne = &target.VisionOne{Cfg: w.h.Cfg, API: api, Templates: kept}
	tpl := func() Check {
		for _, c := range w.serve(Request{Op: OpCheck, Checks: []string{CheckTemplate}}).Checks {
			if c.Name == CheckTemplate {
				return c
			}
		}
		t.Fatal("no template check")
		return Check{}
	}
	if c := tpl(); !c.OK || !strings.Contains(c.Detail, "no template kept for visionone:1/us-east-1/cloud-audit-log-monitoring yet") {
		t.Errorf("none kept: %+v", c)
	}
	kept["visionone:1/us-east-1/cloud-audit-log-monitoring"] = ledger.Generated{URL: "sealed:v1:secret-looking", Generated: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Bucket: "trend-cam-templates", OIDCProvider: "cloudaccounts.xdr.trendmicro.com/oidc"}
	c := tpl()
	if !c.OK || !strings.Contains(c.Detail, "in bucket trend-cam-templates") || !strings.Contains(c.Detail, "OIDC provider cloudaccounts.xdr.trendmicro.com/oidc") ||
		!strings.Contains(c.Detail, "expires 2027-03-01") || strings.Contains(c.Detail, "sealed") {
		t.Errorf("kept: %+v", c)
	}
	if api.Generated != 0 {
		t.Errorf("the check generated %d templates", api.Generated)
	}
}
