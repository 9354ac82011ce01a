package reconcile

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/target"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/visionone"
)

// stacksByName is a member account's CloudFormation holding several stacks, one fake each,
// chosen by the stack's name (or the name in its ARN). GetTemplateSummary goes to first.
type stacksByName struct {
	first  *fake.CloudFormation
	stacks map[string]*fake.CloudFormation
}

func (s stacksByName) of(name *string) *fake.CloudFormation {
	n := aws.ToString(name)
	for k, f := range s.stacks {
		if n == k || strings.Contains(n, ":stack/"+k+"/") {
			return f
		}
	}
	return s.first
}

func (s stacksByName) DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, o ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	return s.of(in.StackName).DescribeStacks(ctx, in, o...)
}
func (s stacksByName) DescribeStackEvents(ctx context.Context, in *cloudformation.DescribeStackEventsInput, o ...func(*cloudformation.Options)) (*cloudformation.DescribeStackEventsOutput, error) {
	return s.of(in.StackName).DescribeStackEvents(ctx, in, o...)
}
func (s stacksByName) GetTemplateSummary(ctx context.Context, in *cloudformation.GetTemplateSummaryInput, o ...func(*cloudformation.Options)) (*cloudformation.GetTemplateSummaryOutput, error) {
	return s.first.GetTemplateSummary(ctx, in, o...)
}
func (s stacksByName) CreateStack(ctx context.Context, in *cloudformation.CreateStackInput, o ...func(*cloudformation.Options)) (*cloudformation.CreateStackOutput, error) {
	return s.of(in.StackName).CreateStack(ctx, in, o...)
}
func (s stacksByName) UpdateStack(ctx context.Context, in *cloudformation.UpdateStackInput, o ...func(*cloudformation.Options)) (*cloudformation.UpdateStackOutput, error) {
	return s.of(in.StackName).UpdateStack(ctx, in, o...)
}
func (s stacksByName) DeleteStack(ctx context.Context, in *cloudformation.DeleteStackInput, o ...func(*cloudformation.Options)) (*cloudformation.DeleteStackOutput, error) {
	return s.of(in.StackName).DeleteStack(ctx, in, o...)
}
func (s stacksByName) ContinueUpdateRollback(ctx context.Context, in *cloudformation.ContinueUpdateRollbackInput, o ...func(*cloudformation.Options)) (*cloudformation.ContinueUpdateRollbackOutput, error) {
	return s.of(in.StackName).ContinueUpdateRollback(ctx, in, o...)
}

const (
	camURL   = "https://cam-templates.s3.amazonaws.com/generated/eu-central-1.yaml"
	trailURL = "https://onboarder-artifacts.s3.amazonaws.com/visionone-trail.yaml"
)

// newVisionOneEnv is a reconcile for the Vision One target on fakes: Vision One's API, the
// member account's two stacks (the Cloud Accounts stack and the trail stack), one at a time.
func newVisionOneEnv(t *testing.T) (e *env, api *fake.VisionOne, cam, trailStack *fake.CloudFormation) {
	t.Helper()
	e = newEnv(t, func(c *config.Config) {
		c.Target, c.StackName, c.TemplateURL, c.StackRegion = config.TargetVisionOne, config.DefaultVisionOneStackName, config.DefaultVisionOneVersion, "us-east-1"
		c.TrailTemplateURL, c.Offboard = trailURL, config.OffboardDelete
	})
	api = &fake.VisionOne{Accounts: map[string]visionone.Account{}, TemplateURL: func(int, visionone.TemplateRequest) string { return camURL }}
	e.r.Target = &target.VisionOne{Cfg: e.r.Cfg, API: api, Templates: fake.Templates{}}
	e.r.Secrets = &fakeSecrets{creds: secret.Credentials{VisionOneKey: secret.NewValue("V1KEYSECRETVALUE"), VersionID: "v1"}}
	cam = &fake.CloudFormation{Log: e.calls, Account: acct, Region: region, Templates: map[string][]cfntypes.ParameterDeclaration{
		camURL:   {{ParameterKey: aws.String(target.ParamCloudAccountName), DefaultValue: aws.String("x")}, {ParameterKey: aws.String(target.ParamTrailARN)}, {ParameterKey: aws.String(target.ParamTopicARN)}, {ParameterKey: aws.String("VisionOneAPIKey"), DefaultValue: aws.String("pre-filled")}},
		trailURL: {},
	}}
	trailStack = &fake.CloudFormation{Log: e.calls, Account: acct, Region: region}
	e.r.Members = &fake.Members[Member]{Answer: Member{CloudFormation: stacksByName{first: cam, stacks: map[string]*fake.CloudFormation{
		config.DefaultTrailStackName: trailStack, config.DefaultVisionOneStackName: cam}},
		Trails: trail.Clients{CloudTrail: func(string) trail.API { return e.trails }, S3: e.s3}}}
	return e, api, cam, trailStack
}

// An account connected to Vision One, end to end on fakes: with no trail Vision One can use,
// the onboarder's trail stack first, then the Cloud Accounts stack from its trail and topic;
// Vision One's view read once in sync (not registered yet: come back; failed: a person, in its
// words); offboarded with the delete policy: the Cloud Accounts stack, then the trail stack,
// then the account in Vision One.
func TestVisionOneAccount(t *testing.T) {
	e, api, cam, trailStack := newVisionOneEnv(t)
	now := time.Now()
	e.r.Now = func() time.Time { return now }
	req := queue.Request{Version: 1, Account: acct, AccountName: "payments", Trigger: "test", EventID: "e1"}

	// No usable trail: the trail stack first.
	res := e.runReq(req)
	expect(t, res, ActionCreate, fault.None)
	if res.StackName != config.DefaultTrailStackName || trailStack.CreateStackCalls.Count() != 1 || aws.ToString(trailStack.CreateStackCalls.Last().TemplateURL) != trailURL || cam.CreateStackCalls.Count() != 0 {
		t.Fatalf("first pass: %+v", res)
	}
	// It completes; its trail is the account's, tagged the onboarder's, with its topic.
	ownARN, topic := "arn:aws:cloudtrail:us-east-1:"+acct+":trail/cloudone-onboarder-trail", "arn:aws:sns:us-east-1:"+acct+":cloudone-onboarder-trail"
	e.trails.AddTrail(cttypes.Trail{Name: aws.String("cloudone-onboarder-trail"), TrailARN: aws.String(ownARN), HomeRegion: aws.String(region),
		S3BucketName: aws.String("own-logs"), LogFileValidationEnabled: aws.Bool(true), SnsTopicARN: aws.String(topic)}, true)
	e.trails.Tags = map[string][]cttypes.Tag{ownARN: {{Key: aws.String(trail.ManagedTag), Value: aws.String("true")}}}
	trailStack.Stack.Outputs = []cfntypes.Output{{OutputKey: aws.String(target.OutputTrailARN), OutputValue: aws.String(ownARN)}, {OutputKey: aws.String(target.OutputTopicARN), OutputValue: aws.String(topic)}}
	trailStack.Settle(cfntypes.StackStatusCreateComplete, "")

	// Then the Cloud Accounts stack, from the generated template, with the trail and topic.
	res = e.runReq(req)
	expect(t, res, ActionCreate, fault.None)
	in := cam.CreateStackCalls.Last()
	if in == nil || aws.ToString(in.StackName) != config.DefaultVisionOneStackName || aws.ToString(in.TemplateURL) != camURL {
		t.Fatalf("second pass: %+v, create %+v", res, in)
	}
	if p := params(in.Parameters); p[target.ParamTrailARN] != ownARN || p[target.ParamTopicARN] != topic || p[target.ParamCloudAccountName] != "payments" || len(p) != 3 {
		t.Errorf("parameters %v", p)
	}
	cam.Settle(cfntypes.StackStatusCreateComplete, "")

	// In sync, Vision One does not know the account yet: come back.
	res = e.runReq(req)
	if res.Row != string(RowViewPending) || res.Outcome != OutcomeLater {
		t.Fatalf("not registered yet: %+v", res)
	}
	// Registered, managed: done; the view is in the result.
	api.Accounts[acct] = visionone.Account{ID: acct, State: "managed", Features: []visionone.AccountFeature{{ID: "cloud-audit-log-monitoring", TemplateVersion: "2.0"}}}
	res = e.runReq(req)
	expect(t, res, ActionNone, fault.None)
	if res.View == nil || res.View.State != "managed" || res.View.TemplateVersion != "2.0" {
		t.Fatalf("view %+v", res.View)
	}
	// The trail stack's trail deleted behind CloudFormation's back: the trail stack, in sync
	// as CloudFormation sees it, is deleted to be made again; the Vision One stack is not
	// pointed at the trail that is gone.
	e.trails.Trails = nil
	camUpdates := cam.UpdateStackCalls.Count()
	res = e.runReq(req)
	if res.Action != ActionDelete || res.StackName != config.DefaultTrailStackName || res.Row != string(RowDrifted) ||
		!strings.Contains(res.Reason, "its trail "+ownARN+" is gone") || cam.UpdateStackCalls.Count() != camUpdates {
		t.Fatalf("the trail stack's trail deleted: %+v", res)
	}
	trailStack.Settle(cfntypes.StackStatusDeleteComplete, "")
	res = e.runReq(req)
	if res.Action != ActionCreate || res.StackName != config.DefaultTrailStackName {
		t.Fatalf("after the drifted trail stack was deleted: %+v", res)
	}
	e.trails.AddTrail(cttypes.Trail{Name: aws.String("cloudone-onboarder-trail"), TrailARN: aws.String(ownARN), HomeRegion: aws.String(region),
		S3BucketName: aws.String("own-logs-2"), LogFileValidationEnabled: aws.Bool(true), SnsTopicARN: aws.String(topic)}, true)
	trailStack.Settle(cfntypes.StackStatusCreateComplete, "")
	res = e.runReq(req)
	expect(t, res, ActionNone, fault.None)

	// Failed, with Vision One's words: a person.
	api.Accounts[acct] = visionone.Account{ID: acct, State: "failed", Features: []visionone.AccountFeature{{ID: "cloud-audit-log-monitoring", MissingAWSPermissions: []string{"sqs:CreateQueue"}}}}
	res = e.runReq(req)
	expect(t, res, ActionNeedsPerson, fault.NeedsPerson)
	if !strings.Contains(res.Reason, "sqs:CreateQueue") || !strings.Contains(res.Reason, "Vision One reports account "+acct+" failed") || res.Row != string(RowViewFailed) {
		t.Errorf("failed: %s", res.Reason)
	}
	expectWrites(t, e, "CreateStack", "CreateStack", "DeleteStack", "CreateStack")

	// Offboarded: the Cloud Accounts stack, the trail stack, then Vision One forgets it.
	off := queue.Request{Version: 1, Account: acct, Trigger: "organizations:RemoveAccountFromOrganization", EventID: "e9", Offboard: queue.OffboardRemoved, Reason: "account-removed"}
	res = e.runReq(off)
	if res.Action != ActionDelete || res.StackName != config.DefaultVisionOneStackName {
		t.Fatalf("offboarding, first: %+v", res)
	}
	cam.Settle(cfntypes.StackStatusDeleteComplete, "")
	res = e.runReq(off)
	if res.Action != ActionDelete || res.StackName != config.DefaultTrailStackName || !strings.Contains(res.Reason, "the onboarder's trail stack") {
		t.Fatalf("offboarding, second: %+v", res)
	}
	trailStack.Settle(cfntypes.StackStatusDeleteComplete, "")
	res = e.runReq(off)
	if res.Action != ActionForget || len(api.Deleted) != 1 || api.Deleted[0] != acct {
		t.Fatalf("offboarding, third: %+v, deleted %v", res, api.Deleted)
	}
	res = e.runReq(off)
	if res.Action != ActionOffboarded || res.Row != string(RowOffboardGone) || len(api.Deleted) != 1 {
		t.Fatalf("offboarding, done: %+v", res)
	}
	// The key never shows.
	for _, r := range []Result{res} {
		if strings.Contains(r.Reason+r.Error+r.Left, "V1KEYSECRETVALUE") {
			t.Fatal("the Vision One key leaked")
		}
	}
}

// Neither the onboarder's Vision One key nor a generated template's URL (which leads to a
// template that holds a key) reaches a result, a log line or the ledger: Vision One's errors
// that quote the key are scrubbed, and a template is named by its identity.
func TestVisionOneSecretsNeverLeak(t *testing.T) {
	leaked := func(t *testing.T, e *env, rs ...Result) {
		t.Helper()
		all := e.logs.String()
		for _, r := range rs {
			js, _ := json.Marshal(r)
			all += string(js) + r.Reason + r.Error + fmtAll(r)
		}
		led, _ := json.Marshal(e.entries())
		all += string(led)
		if strings.Contains(all, "V1KEYSECRETVALUE") || strings.Contains(all, camURL) || strings.Contains(all, "cam-templates") {
			t.Fatalf("a secret leaked: %s", all)
		}
	}
	withTrail := func(e *env) {
		arn := "arn:aws:cloudtrail:us-east-1:" + acct + ":trail/audit"
		e.trails.AddTrail(cttypes.Trail{Name: aws.String("audit"), TrailARN: aws.String(arn), HomeRegion: aws.String(region),
			S3BucketName: aws.String("audit-logs"), LogFileValidationEnabled: aws.Bool(true), SnsTopicARN: aws.String("arn:aws:sns:us-east-1:" + acct + ":audit")}, true)
	}
	req := queue.Request{Version: 1, Account: acct, AccountName: "payments", Trigger: "test", EventID: "e1"}

	// Vision One refuses, quoting the key.
	e, api, _, _ := newVisionOneEnv(t)
	withTrail(e)
	api.Err = fault.Permanentf("Vision One: generate a template: HTTP 401: key V1KEYSECRETVALUE is not valid")
	res := e.runReq(req)
	if res.Class != fault.Permanent {
		t.Fatalf("a refused key: %+v", res)
	}
	leaked(t, e, res)

	// The generated template does not take the onboarder's parameters: the reason names it by
	// its identity.
	e, _, cam, _ := newVisionOneEnv(t)
	withTrail(e)
	cam.Templates[camURL] = []cfntypes.ParameterDeclaration{{ParameterKey: aws.String("SomethingElse")}}
	res = e.runReq(req)
	expect(t, res, ActionNeedsPerson, fault.NeedsPerson)
	if !strings.Contains(res.Reason, config.DefaultVisionOneVersion+":us-east-1:cloud-audit-log-monitoring") {
		t.Errorf("the refused template is not named by its identity: %s", res.Reason)
	}
	leaked(t, e, res)

	// The template cannot be read.
	e, _, cam, _ = newVisionOneEnv(t)
	withTrail(e)
	cam.GetTemplateSummaryCalls.FailAlways(apiErr("ValidationError", "TemplateURL must reference a valid S3 object to which you have access."))
	res = e.runReq(req)
	if res.Class == fault.None {
		t.Fatalf("an unreadable template: %+v", res)
	}
	leaked(t, e, res)
}

// A dry run of a Vision One account with a trail it can use: the plan is the Vision One
// stack's create, and nothing is written, in the account or in Vision One (no template
// generated, none read).
func TestVisionOneDryRunGeneratesNothing(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Target, c.StackName, c.TemplateURL, c.StackRegion = config.TargetVisionOne, config.DefaultVisionOneStackName, config.DefaultVisionOneVersion, "us-east-1"
		c.TrailTemplateURL, c.DryRun = trailURL, true
	})
	api := &fake.VisionOne{Accounts: map[string]visionone.Account{}, TemplateURL: func(int, visionone.TemplateRequest) string { return camURL }}
	e.r.Target = &target.VisionOne{Cfg: e.r.Cfg, API: api, Templates: fake.Templates{}}
	e.r.Secrets = &fakeSecrets{creds: secret.Credentials{VisionOneKey: secret.NewValue("V1KEYSECRETVALUE"), VersionID: "v1"}}
	trailARN, topic := "arn:aws:cloudtrail:us-east-1:"+acct+":trail/audit", "arn:aws:sns:us-east-1:"+acct+":audit"
	e.trails.AddTrail(cttypes.Trail{Name: aws.String("audit"), TrailARN: aws.String(trailARN), HomeRegion: aws.String(region),
		S3BucketName: aws.String("audit-logs"), LogFileValidationEnabled: aws.Bool(true), SnsTopicARN: aws.String(topic)}, true)
	res := e.runReq(queue.Request{Version: 1, Account: acct, AccountName: "payments", Trigger: "test", EventID: "e1"})
	if res.Action != ActionCreate || !res.DryRun || res.StackName != config.DefaultVisionOneStackName || !strings.Contains(res.Reason, "none is generated in a dry run") {
		t.Fatalf("dry run: %+v", res)
	}
	if api.Generated != 0 || e.cfn.GetTemplateSummaryCalls.Count() != 0 {
		t.Errorf("the dry run generated %d templates and read %d", api.Generated, e.cfn.GetTemplateSummaryCalls.Count())
	}
	expectWrites(t, e)
}

// A generated template is made for a write and only for one (each generation makes a new
// Vision One API key): the first create generates it and says so; once it aged past
// ONBOARDER_VISIONONE_TEMPLATE_MAX_AGE, a pass that finds the account in sync generates none and
// writes nothing; the next write (the stack made again) generates a new one first, and says why.
func TestVisionOneTemplateGeneratedForAWriteOnly(t *testing.T) {
	e, api, cam, _ := newVisionOneEnv(t)
	e.r.Target = &target.VisionOne{Cfg: e.r.Cfg, API: api, Templates: fake.Templates{}}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	e.r.Now = func() time.Time { return now }
	trailARN, topic := "arn:aws:cloudtrail:us-east-1:"+acct+":trail/audit", "arn:aws:sns:us-east-1:"+acct+":audit"
	e.trails.AddTrail(cttypes.Trail{Name: aws.String("audit"), TrailARN: aws.String(trailARN), HomeRegion: aws.String(region),
		S3BucketName: aws.String("audit-logs"), LogFileValidationEnabled: aws.Bool(true), SnsTopicARN: aws.String(topic)}, true)
	req := queue.Request{Version: 1, Account: acct, AccountName: "payments", Trigger: "test", EventID: "e1"}

	res := e.runReq(req)
	expect(t, res, ActionCreate, fault.None)
	if api.Generated != 1 || !strings.Contains(res.Reason, "(Vision One generated a new template first: none was kept for us-east-1)") {
		t.Fatalf("first create: generated %d, reason %q", api.Generated, res.Reason)
	}
	cam.Settle(cfntypes.StackStatusCreateComplete, "")
	api.Accounts[acct] = visionone.Account{ID: acct, State: "managed"}
	expect(t, e.runReq(req), ActionNone, fault.None)

	now = now.Add(75 * 24 * time.Hour)
	res = e.runReq(req)
	expect(t, res, ActionNone, fault.None)
	if api.Generated != 1 {
		t.Errorf("a pass in sync generated a template (%d in all): it writes nothing", api.Generated)
	}
	expectWrites(t, e, "CreateStack")

	cam.Settle(cfntypes.StackStatusDeleteComplete, "")
	res = e.runReq(req)
	expect(t, res, ActionCreate, fault.None)
	if api.Generated != 2 || !strings.Contains(res.Reason, "(Vision One generated a new template first: the kept one, generated 2026-12-04, is older than the maximum age of 60 days (ONBOARDER_VISIONONE_TEMPLATE_MAX_AGE))") {
		t.Errorf("the write after the template aged: generated %d, reason %q", api.Generated, res.Reason)
	}
	expectWrites(t, e, "CreateStack", "CreateStack")
}
