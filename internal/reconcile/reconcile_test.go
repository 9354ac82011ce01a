package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/crossaccount"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

const (
	acct     = "012345678901" // a leading zero: ids are strings
	region   = "us-east-1"
	apiKey   = "KEYID123:SUPERSECRETAPIKEYVALUE"
	apiToken = "VISIONONETOKENSECRETVALUE"
)

type env struct {
	t      *testing.T
	calls  *fake.Log
	cfn    *fake.CloudFormation
	trails *fake.CloudTrail
	s3     *fake.S3
	r      *Reconciler
	ledger *fake.Ledger
	logs   *bytes.Buffer
}

func newEnv(t *testing.T, mutate ...func(*config.Config)) *env {
	t.Helper()
	c := &fake.Log{}
	cfg := config.Default()
	cfg.SecretARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:onboarder-AbCdEf"
	cfg.CloudOneRegion = "us-1"
	cfg.MaxStartsPerMinute = 0 // pacing has its own tests
	for _, m := range mutate {
		m(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e := &env{
		t: t, calls: c,
		cfn: &fake.CloudFormation{Log: c, Account: acct, Region: region, NoEcho: []string{stack.ParamAPIKey, stack.ParamServiceToken},
			TemplateParameters: v1Parameters()},
		trails: &fake.CloudTrail{Log: c, Logging: map[string]bool{}, Selectors: map[string]*cloudtrail.GetEventSelectorsOutput{}, Tags: map[string][]cttypes.Tag{}},
		s3:     &fake.S3{Log: c},
		ledger: &fake.Ledger{},
		logs:   &bytes.Buffer{},
	}
	e.r = &Reconciler{
		Cfg:      cfg,
		Secrets:  &fakeSecrets{creds: secret.Credentials{APIKey: secret.NewValue(apiKey), ServiceToken: secret.NewValue(apiToken), VersionID: "v1"}},
		CloudOne: &fakeCloudOne{key: cloudone.Key{ID: "KEYID123", Region: "us-1"}},
		Members: &fake.Members[Member]{Answer: Member{CloudFormation: e.cfn, Trails: trail.Clients{
			CloudTrail: func(string) trail.API { return e.trails },
			S3:         e.s3,
		}}},
		Ledger: e.ledger,
		Log:    slog.New(slog.NewJSONHandler(e.logs, nil)),
	}
	return e
}

func (e *env) run() Result {
	e.t.Helper()
	return e.runReq(queue.Request{Version: 1, Account: acct, Trigger: "test", EventID: "e1"})
}

func (e *env) runReq(req queue.Request) Result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mark := len(e.calls.Ops())
	res := e.r.Reconcile(ctx, req)
	e.t.Logf("result: %+v", res)
	e.t.Logf("calls: %v", e.calls.Ops()[mark:])
	return res
}

// v1Parameters are the parameters Trend's v1 template declares (aws-ia/cfn-abi-trend-cloudone@39352c3
// templates/trend-cloudone-onboard/main.template.yaml): the key and the token without a default.
func v1Parameters() []cfntypes.ParameterDeclaration {
	var out []cfntypes.ParameterDeclaration
	for _, p := range []string{stack.ParamAPIKey, stack.ParamServiceToken, stack.ParamCreateNew, stack.ParamBucket, stack.ParamQSS3Bucket, stack.ParamQSS3KeyPrefix} {
		d := cfntypes.ParameterDeclaration{ParameterKey: aws.String(p)}
		if p != stack.ParamAPIKey && p != stack.ParamServiceToken {
			d.DefaultValue = aws.String("")
		}
		out = append(out, d)
	}
	return out
}

// entries are the ledger entries written, in order; lastEntry the last one.
func (e *env) entries() []ledger.Entry { return e.ledger.PutCalls.Succeeded() }

func (e *env) lastEntry() ledger.Entry {
	e.t.Helper()
	all := e.entries()
	if len(all) == 0 {
		e.t.Fatal("no ledger entry written")
	}
	return all[len(all)-1]
}

// desired is the desired stack of the env's configuration with the bucket ("" : new trail).
func (e *env) desired(bucket string) stack.Desired {
	createNew := "True"
	if bucket != "" {
		createNew = "False"
	}
	return stack.Desired{Name: "CloudOne", TemplateURL: e.r.Cfg.TemplateURL, Params: map[string]string{
		stack.ParamCreateNew: createNew, stack.ParamBucket: bucket,
		stack.ParamQSS3Bucket: e.r.Cfg.QSS3BucketName, stack.ParamQSS3KeyPrefix: e.r.Cfg.QSS3KeyPrefix,
	}, Secrets: stack.CloudOneSecrets(secret.Credentials{APIKey: secret.NewValue(apiKey), ServiceToken: secret.NewValue(apiToken)}), SecretVersion: "v1"}
}

// addTrail gives the account a trail to its own bucket.
func (e *env) addTrail(name, bucket string, logging bool) {
	t := trailOf(acct, region, name, bucket, true)
	e.trails.Trails = append(e.trails.Trails, t)
	e.trails.Logging[aws.ToString(t.TrailARN)] = logging
	e.s3.Buckets = append(e.s3.Buckets, bucket)
}

// seedStack puts a stack as the onboarder would have made it, then sets its status.
func (e *env) seedStack(status cfntypes.StackStatus, bucket string) {
	e.t.Helper()
	d := e.desired(bucket)
	e.cfn.Stack = &cfntypes.Stack{
		StackName: aws.String("CloudOne"), StackId: aws.String("arn:aws:cloudformation:us-east-1:" + acct + ":stack/CloudOne/1"),
		StackStatus: status, StackStatusReason: aws.String("seeded"), Parameters: e.cfn.Mask(d.Parameters()), Tags: d.Tags(nil),
	}
}

func params(ps []cfntypes.Parameter) map[string]string {
	m := map[string]string{}
	for _, p := range ps {
		m[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	return m
}

func tags(ts []cfntypes.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range ts {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func expect(t *testing.T, res Result, action Action, class fault.Class) {
	t.Helper()
	if res.Action != action || res.Class != class {
		t.Fatalf("got action %s class %s (%s), want %s %s", res.Action, res.Class, res.Reason, action, class)
	}
}

func expectWrites(t *testing.T, e *env, want ...string) {
	t.Helper()
	if got := e.calls.Writes(); !slices.Equal(got, want) {
		t.Fatalf("write calls %v, want %v", got, want)
	}
}

// A new account: create, come back while CloudFormation works, done when it settles.
func TestAbsentCreatesThenComesBack(t *testing.T) {
	e := newEnv(t)
	res := e.run()
	expect(t, res, ActionCreate, fault.None)
	expectWrites(t, e, "CreateStack")
	in := e.cfn.CreateStackCalls.Last()
	p := params(in.Parameters)
	if p["CreateNewTrail"] != "True" || p["ExistingCloudtrailBucketName"] != "" || p["QSS3BucketName"] != "cloudone-community" || p["QSS3KeyPrefix"] != "" {
		t.Fatalf("parameters %v", p)
	}
	if p["CloudOneApiKey"] != apiKey || p["VisionOneServiceToken"] != apiToken {
		t.Fatal("the secrets are not passed to the stack")
	}
	if !slices.Equal(in.Capabilities, []cfntypes.Capability{"CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"}) {
		t.Fatalf("capabilities %v", in.Capabilities)
	}
	tg := tags(in.Tags)
	if tg[stack.TagManaged] != "true" || len(tg[stack.TagFingerprint]) != 32 || tg[stack.TagSecretVersion] != "v1" {
		t.Fatalf("tags %v", tg)
	}
	if tok := aws.ToString(in.ClientRequestToken); !strings.HasPrefix(tok, "onboarder-create-"+tg[stack.TagFingerprint][:16]+"-") || len(tok) > 128 {
		t.Fatalf("token %q", tok)
	}
	if res.StatusBefore != "ABSENT" || res.StatusAfter != "CREATE_IN_PROGRESS" || res.Region != region || res.RetryAfter != e.r.Cfg.CheckMinDelay {
		t.Fatalf("statuses %s -> %s in %s, retry after %s", res.StatusBefore, res.StatusAfter, res.Region, res.RetryAfter)
	}
	if len(e.entries()) != 1 || !e.entries()[0].Managed || !e.entries()[0].CreateNewTrail || e.entries()[0].Action != "create" {
		t.Fatalf("ledger %+v", e.entries())
	}
	// In progress: no write, come back later; the entry keeps saying "create".
	res = e.run()
	expect(t, res, ActionWait, fault.None)
	expectWrites(t, e, "CreateStack")
	if res.RetryAfter < e.r.Cfg.CheckMinDelay {
		t.Fatalf("retry after %s", res.RetryAfter)
	}
	e.cfn.Settle(cfntypes.StackStatusCreateComplete, "")
	res = e.run()
	expect(t, res, ActionNone, fault.None)
	if res.RetryAfter != 0 {
		t.Fatalf("done, but retry after %s", res.RetryAfter)
	}
	if last := e.lastEntry(); last.Action != "create" || last.StackStatus != "CREATE_COMPLETE" {
		t.Fatalf("ledger after the create settled: %+v", last)
	}
}

// The same request retried (a throttled call, the same message again) sends the same token:
// CloudFormation takes it as the same operation.
func TestTokenIsStableForARequest(t *testing.T) {
	e := newEnv(t)
	e.cfn.CreateStackCalls.FailAlways(apiErr("Throttling", "Rate exceeded"))
	expect(t, e.run(), ActionFail, fault.Transient)
	first := aws.ToString(e.cfn.CreateStackCalls.Last().ClientRequestToken)
	e.cfn.CreateStackCalls.FailAlways(nil)
	expect(t, e.run(), ActionCreate, fault.None)
	if got := aws.ToString(e.cfn.CreateStackCalls.Last().ClientRequestToken); got != first || got == "" {
		t.Fatalf("tokens %q then %q", first, got)
	}
	other := e.runReq(queue.Request{Version: 1, Account: acct, Trigger: "test", EventID: "e2"})
	expect(t, other, ActionWait, fault.None) // in progress: nothing to write
}

// Row: DELETE_COMPLETE -> CreateStack.
func TestDeleteCompleteCreates(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusDeleteComplete, "")
	expect(t, e.run(), ActionCreate, fault.None)
	expectWrites(t, e, "CreateStack")
}

// Row: *_COMPLETE and as desired -> nothing, and the in-sync check is cheap.
func TestCompleteInSyncDoesNothing(t *testing.T) {
	for _, st := range []cfntypes.StackStatus{"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"} {
		t.Run(string(st), func(t *testing.T) {
			e := newEnv(t)
			e.addTrail("org-audit", "audit-bucket", true)
			e.seedStack(st, "audit-bucket")
			res := e.run()
			expect(t, res, ActionNone, fault.None)
			expectWrites(t, e)
			if got := e.calls.Ops(); !slices.Equal(got, []string{"DescribeStacks", "DescribeTrails", "GetTrailStatus"}) {
				t.Fatalf("in-sync calls %v", got)
			}
			if !res.InSync() || res.RetryAfter != 0 {
				t.Fatal("not in sync")
			}
		})
	}
}

// Row: *_COMPLETE and something differs -> UpdateStack, with the other tags kept.
func TestCompleteDiffersUpdates(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	e.cfn.Stack.Tags = append(e.cfn.Stack.Tags, cfntypes.Tag{Key: aws.String("team"), Value: aws.String("secops")})
	e.r.Cfg.QSS3KeyPrefix = "mirror/"
	res := e.run()
	expect(t, res, ActionUpdate, fault.None)
	expectWrites(t, e, "UpdateStack")
	if tags(e.cfn.UpdateStackCalls.Last().Tags)["team"] != "secops" {
		t.Fatal("UpdateStack dropped a tag that is not ours")
	}
	if len(res.Changes) != 1 || res.Changes[0].Parameter != "QSS3KeyPrefix" || res.Changes[0].After != "mirror/" {
		t.Fatalf("changes %+v", res.Changes)
	}
	if !strings.HasPrefix(aws.ToString(e.cfn.UpdateStackCalls.Last().ClientRequestToken), "onboarder-update-") || res.RetryAfter == 0 {
		t.Fatalf("token %q, retry after %s", aws.ToString(e.cfn.UpdateStackCalls.Last().ClientRequestToken), res.RetryAfter)
	}
}

// "No updates are to be performed." is success.
func TestNoUpdatesIsSuccess(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusUpdateComplete, "")
	e.cfn.Stack.Tags = []cfntypes.Tag{{Key: aws.String(stack.TagManaged), Value: aws.String("true")}, {Key: aws.String(stack.TagSecretVersion), Value: aws.String("v1")}}
	e.cfn.UpdateStackCalls.FailAlways(apiErr("ValidationError", "No updates are to be performed."))
	res := e.run()
	expect(t, res, ActionNone, fault.None)
	expectWrites(t, e, "UpdateStack")
}

// A write refused because an operation started meanwhile means "look again", not a failure.
func TestBusyStackMeansWait(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	e.r.Cfg.QSS3KeyPrefix = "mirror/"
	e.cfn.UpdateStackCalls.FailAlways(apiErr("ValidationError", "Stack:arn:aws:cloudformation:us-east-1:"+acct+":stack/CloudOne/1 is in UPDATE_IN_PROGRESS state and can not be updated."))
	res := e.run()
	expect(t, res, ActionWait, fault.None)
	if res.RetryAfter == 0 {
		t.Fatal("no retry asked")
	}
	e = newEnv(t)
	e.cfn.CreateStackCalls.FailAlways(apiErr("AlreadyExistsException", "Stack [CloudOne] already exists"))
	expect(t, e.run(), ActionWait, fault.None)
}

// Rows: ROLLBACK_COMPLETE, ROLLBACK_FAILED, CREATE_FAILED not from the onboarder's write ->
// DeleteStack; CreateStack once the delete is over.
func TestForeignFailedCreateIsDeletedThenCreated(t *testing.T) {
	for _, st := range []cfntypes.StackStatus{"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED"} {
		t.Run(string(st), func(t *testing.T) {
			e := newEnv(t)
			e.seedStack(st, "")
			e.cfn.Event(string(st), "someone else's create", "Console-CreateStack-1a2b")
			res := e.run()
			expect(t, res, ActionDelete, fault.None)
			expectWrites(t, e, "DeleteStack")
			if aws.ToString(e.cfn.DeleteStackCalls.Last().StackName) != aws.ToString(e.cfn.Stack.StackId) || !strings.HasPrefix(aws.ToString(e.cfn.DeleteStackCalls.Last().ClientRequestToken), "onboarder-delete-") {
				t.Fatalf("delete %+v", e.cfn.DeleteStackCalls.Last())
			}
			expect(t, e.run(), ActionWait, fault.None) // DELETE_IN_PROGRESS
			e.cfn.Settle(cfntypes.StackStatusDeleteComplete, "")
			expect(t, e.run(), ActionCreate, fault.None)
			expectWrites(t, e, "DeleteStack", "CreateStack")
		})
	}
}

// Row: the onboarder's own create for this desired state rolled back -> needs a person, the
// first failed resource is the reason, no new write; an operator's --retry-failed writes again.
func TestOwnCreateRolledBackNeedsPerson(t *testing.T) {
	e := newEnv(t)
	expect(t, e.run(), ActionCreate, fault.None)
	e.cfn.Settle(cfntypes.StackStatusRollbackComplete, "CloudOneIntegration")
	res := e.run()
	expect(t, res, ActionNeedsPerson, fault.NeedsPerson)
	expectWrites(t, e, "CreateStack")
	if res.Failed == nil || res.Failed.LogicalID != "CloudOneIntegration" || !strings.Contains(res.Reason, "CloudOneIntegration (AWS::CloudFormation::CustomResource)") ||
		!strings.Contains(res.Reason, "--retry-failed") {
		t.Fatalf("reason %q, failed %+v", res.Reason, res.Failed)
	}
	last := e.lastEntry()
	if last.Class != "needs-person" || !strings.Contains(last.Failed, "CloudOneIntegration") {
		t.Fatalf("ledger %+v", last)
	}
	// Another request for the same desired state: still no write, and reported once.
	res = e.runReq(queue.Request{Version: 1, Account: acct, Trigger: "sweep", EventID: "e9"})
	expect(t, res, ActionNeedsPerson, fault.NeedsPerson)
	expectWrites(t, e, "CreateStack")
	if !res.AlreadyReported {
		t.Fatal("the same needs-person state must be reported once")
	}
	// The desired state changed (the secret rotated): a new write is allowed.
	e2 := newEnv(t)
	expect(t, e2.run(), ActionCreate, fault.None)
	e2.cfn.Settle(cfntypes.StackStatusRollbackComplete, "CloudOneIntegration")
	e2.r.Secrets = &fakeSecrets{creds: secret.Credentials{APIKey: secret.NewValue(apiKey), ServiceToken: secret.NewValue(apiToken), VersionID: "v2"}}
	expect(t, e2.run(), ActionDelete, fault.None)
	// An operator asks again for the same state: one more try, delete then create. When
	// that create fails too, the retrying request (it comes back to look) needs a person
	// again instead of deleting and creating for ever.
	retry := queue.Request{Version: 1, Account: acct, Trigger: "operator", EventID: "e10", RetryFailed: true}
	res = e.runReq(retry)
	expect(t, res, ActionDelete, fault.None)
	e.cfn.Settle(cfntypes.StackStatusDeleteComplete, "")
	expect(t, e.runReq(retry), ActionCreate, fault.None)
	e.cfn.Settle(cfntypes.StackStatusRollbackComplete, "CloudOneIntegration")
	res = e.runReq(retry)
	expect(t, res, ActionNeedsPerson, fault.NeedsPerson)
	expectWrites(t, e, "CreateStack", "DeleteStack", "CreateStack")
	if res.AlreadyReported {
		t.Fatal("the retry's own failure must be reported")
	}
}

// A needs-person state is reported once across requests, but the request that reported it,
// received again (its DLQ send failed, or there is no DLQ URL), reports it again: it is
// never deleted before it reached the DLQ.
func TestNeedsPersonReportedUntilItGetsOut(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusDeleteFailed, "")
	first := queue.Request{Version: 1, Account: acct, Trigger: "sweep", EventID: "e1"}
	for i := range 2 {
		res := e.runReq(first)
		expect(t, res, ActionNeedsPerson, fault.NeedsPerson)
		if res.AlreadyReported {
			t.Fatalf("receive %d of the reporting request: reported already", i+1)
		}
	}
	if res := e.runReq(queue.Request{Version: 1, Account: acct, Trigger: "sweep", EventID: "e2"}); !res.AlreadyReported {
		t.Fatal("another request for the same state must not report it again")
	}
}

// ownUpdateFails has the onboarder update an in-sync stack (a new key prefix), then ends that
// update in status (a rollback state) with VisionOneEnrollment failed and the old parameters
// and tags back, as CloudFormation's rollback leaves them.
func ownUpdateFails(t *testing.T, status cfntypes.StackStatus) *env {
	t.Helper()
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	e.r.Cfg.QSS3KeyPrefix = "mirror/"
	expect(t, e.run(), ActionUpdate, fault.None)
	old := e.desired("")
	old.Params[stack.ParamQSS3KeyPrefix] = ""
	e.cfn.Stack.Parameters, e.cfn.Stack.Tags = e.cfn.Mask(old.Parameters()), old.Tags(nil)
	e.cfn.Settle(status, "VisionOneEnrollment")
	return e
}

// Row: the onboarder's own update rolled back (UPDATE_ROLLBACK_COMPLETE, old parameters) ->
// needs a person; someone else's rolled-back update is written over.
func TestOwnUpdateRolledBackNeedsPerson(t *testing.T) {
	e := ownUpdateFails(t, cfntypes.StackStatusUpdateRollbackComplete)
	res := e.run()
	expect(t, res, ActionNeedsPerson, fault.NeedsPerson)
	expectWrites(t, e, "UpdateStack")
	if !strings.Contains(res.Reason, "VisionOneEnrollment") || !strings.Contains(res.Reason, "old parameters are back") {
		t.Fatalf("reason %q", res.Reason)
	}

	e = newEnv(t)
	e.seedStack(cfntypes.StackStatusUpdateRollbackComplete, "")
	e.cfn.Event("UPDATE_ROLLBACK_COMPLETE", "", "Console-UpdateStack-9z")
	e.r.Cfg.QSS3KeyPrefix = "mirror/"
	expect(t, e.run(), ActionUpdate, fault.None)
}

// Row: UPDATE_ROLLBACK_FAILED -> ContinueUpdateRollback; failing again after ours -> a person.
func TestUpdateRollbackFailedContinues(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusUpdateRollbackFailed, "")
	res := e.run()
	expect(t, res, ActionContinueRollback, fault.None)
	expectWrites(t, e, "ContinueUpdateRollback")
	if !strings.HasPrefix(aws.ToString(e.cfn.ContinueUpdateRollbackCalls.Last().ClientRequestToken), "onboarder-rollback-") {
		t.Fatalf("token %q", aws.ToString(e.cfn.ContinueUpdateRollbackCalls.Last().ClientRequestToken))
	}
	e.cfn.Settle(cfntypes.StackStatusUpdateRollbackFailed, "Bucket")
	res = e.run()
	expect(t, res, ActionNeedsPerson, fault.NeedsPerson)
	expectWrites(t, e, "ContinueUpdateRollback")
}

// The onboarder's own update fails and so does its rollback: the rollback is continued, and
// once it completes the failed update is not written again (the latest operation is then the
// ContinueUpdateRollback; the update before it is the onboarder's, for this desired state).
func TestOwnUpdateWhoseRollbackFailedIsNotWrittenAgain(t *testing.T) {
	e := ownUpdateFails(t, cfntypes.StackStatusUpdateRollbackFailed)
	expect(t, e.run(), ActionContinueRollback, fault.None)
	e.cfn.Settle(cfntypes.StackStatusUpdateRollbackComplete, "")
	res := e.run()
	expect(t, res, ActionNeedsPerson, fault.NeedsPerson)
	expectWrites(t, e, "UpdateStack", "ContinueUpdateRollback")
	if res.Failed == nil || res.Failed.LogicalID != "VisionOneEnrollment" {
		t.Fatalf("failed %+v: want the update's failed resource", res.Failed)
	}
}

// Row: *_IN_PROGRESS -> come back later, after a delay that grows with the operation's age.
func TestInProgressComesBackLater(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		age  time.Duration
		want time.Duration
	}{{0, 30 * time.Second}, {4 * time.Minute, 2 * time.Minute}, {time.Hour, 5 * time.Minute}} {
		e := newEnv(t, func(c *config.Config) { c.CheckMinDelay, c.CheckMaxDelay = 30*time.Second, 5*time.Minute })
		e.r.Now = func() time.Time { return now }
		e.seedStack(cfntypes.StackStatusUpdateInProgress, "")
		e.cfn.Stack.LastUpdatedTime = aws.Time(now.Add(-tc.age))
		res := e.run()
		expect(t, res, ActionWait, fault.None)
		expectWrites(t, e)
		if got := e.calls.Ops(); !slices.Equal(got, []string{"DescribeStacks"}) {
			t.Fatalf("a stack in progress costs one call, got %v", got)
		}
		if res.RetryAfter != tc.want {
			t.Errorf("age %s: retry after %s, want %s", tc.age, res.RetryAfter, tc.want)
		}
	}
}

// Row: DELETE_FAILED -> needs a person, with the resource that blocks the delete.
func TestDeleteFailedNeedsPerson(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusDeleteFailed, "")
	e.cfn.Tokens = []string{"Console-Delete-1"}
	e.cfn.Settle(cfntypes.StackStatusDeleteFailed, "TrailBucket")
	res := e.run()
	expect(t, res, ActionNeedsPerson, fault.NeedsPerson)
	expectWrites(t, e)
	if !strings.Contains(res.Error, "DELETE_FAILED") || !strings.Contains(res.Error, "TrailBucket") {
		t.Fatalf("error %q does not say what is wrong", res.Error)
	}
}

// Row: exists, not created by the onboarder -> left alone and reported; adopted when configured.
func TestNotOursLeftAloneUnlessAdopting(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	e.cfn.Stack.Tags = []cfntypes.Tag{{Key: aws.String("owner"), Value: aws.String("someone")}}
	res := e.run()
	expect(t, res, ActionLeaveAlone, fault.None)
	expectWrites(t, e)
	if res.Managed || !strings.Contains(res.Reason, "not created by the onboarder") {
		t.Fatalf("reason %q", res.Reason)
	}

	e = newEnv(t, func(c *config.Config) { c.AdoptExisting = true })
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	e.cfn.Stack.Tags = []cfntypes.Tag{{Key: aws.String("owner"), Value: aws.String("someone")}}
	res = e.run()
	expect(t, res, ActionUpdate, fault.None)
	tg := tags(e.cfn.UpdateStackCalls.Last().Tags)
	if tg["owner"] != "someone" || tg[stack.TagManaged] != "true" {
		t.Fatalf("adopted tags %v", tg)
	}
}

// Stack writes wait for their slot of the Organization-wide start schedule, keep it across
// passes, and start when it is due.
func TestPacedStarts(t *testing.T) {
	now := time.Now()
	e := newEnv(t)
	e.r.Now = func() time.Time { return now }
	starts := &fake.Starts{Slots: []time.Time{now.Add(40 * time.Second)}}
	e.r.Starts = starts
	e.r.Cfg.MaxStartsPerMinute = 30
	res := e.run()
	expect(t, res, ActionScheduled, fault.None)
	expectWrites(t, e)
	if res.RetryAfter != 40*time.Second || !strings.Contains(res.Reason, "ONBOARDER_MAX_STARTS_PER_MINUTE") {
		t.Fatalf("retry after %s, reason %q", res.RetryAfter, res.Reason)
	}
	last := e.lastEntry()
	if !last.StartSlot.Equal(now.Add(40*time.Second).UTC()) && !last.StartSlot.Equal(now.Add(40*time.Second)) {
		t.Fatalf("slot not kept: %+v", last)
	}
	// Back early: the same slot, still waiting, no second slot taken.
	now = now.Add(10 * time.Second)
	expect(t, e.run(), ActionScheduled, fault.None)
	if starts.TakeCalls.Count() != 1 {
		t.Fatalf("slots taken %d, want 1", starts.TakeCalls.Count())
	}
	// The slot is due: the create starts and the slot is spent.
	now = now.Add(30 * time.Second)
	expect(t, e.run(), ActionCreate, fault.None)
	expectWrites(t, e, "CreateStack")
	if starts.TakeCalls.Count() != 1 || !e.lastEntry().StartSlot.IsZero() {
		t.Fatalf("slots taken %d, entry %+v", starts.TakeCalls.Count(), e.lastEntry())
	}
	// In sync accounts take no slot.
	e.cfn.Settle(cfntypes.StackStatusCreateComplete, "")
	expect(t, e.run(), ActionNone, fault.None)
	if starts.TakeCalls.Count() != 1 {
		t.Fatalf("an in-sync pass took a slot")
	}
}

// clockStarts is a start schedule with free slots: each Take hands out the clock's present,
// after the pass has spent some seconds getting there.
type clockStarts struct {
	now   *time.Time
	spent time.Duration
}

func (s clockStarts) Take(context.Context) (time.Time, error) {
	*s.now = s.now.Add(s.spent)
	return *s.now, nil
}

// A slot is judged when it is in hand, not when the pass began: a pass that took seconds to
// reach its slot (a cold start, a throttled call retried) writes at once when the schedule is
// free, instead of waiting in the queue for a slot already due.
func TestSlotJudgedWhenTaken(t *testing.T) {
	now := time.Now()
	e := newEnv(t)
	e.r.Now = func() time.Time { return now }
	e.r.Starts = clockStarts{now: &now, spent: 5 * time.Second}
	e.r.Cfg.MaxStartsPerMinute = 30
	expect(t, e.run(), ActionCreate, fault.None)
	expectWrites(t, e, "CreateStack")
	if !e.lastEntry().StartSlot.IsZero() {
		t.Fatalf("the slot was kept as if it waited: %+v", e.lastEntry())
	}
}

// AccessDenied on AssumeRole is retried for a new account, and permanent (naming the role
// and what to check) once the grace period is over or for an account of long standing.
func TestAssumeRoleDenied(t *testing.T) {
	denied := fault.As(fault.Permanent, &crossaccount.DeniedError{Role: "arn:aws:iam::" + acct + ":role/CloudOneOnboarderExecution", Err: apiErr("AccessDenied", "not authorized")})
	e := newEnv(t)
	e.r.Members = failingMembers(denied)
	res := e.runReq(queue.Request{Version: 1, Account: acct, Trigger: "controltower:CreateManagedAccount", EventID: "e1", AccountSince: time.Now().Add(-5 * time.Minute)})
	expect(t, res, ActionFail, fault.Transient)
	if !strings.Contains(res.Error, "grace") || res.RetryAfter == 0 {
		t.Fatalf("new account: %q, retry after %s", res.Error, res.RetryAfter)
	}
	res = e.runReq(queue.Request{Version: 1, Account: acct, Trigger: "sweep", EventID: "e2", AccountSince: time.Now().Add(-48 * time.Hour)})
	expect(t, res, ActionFail, fault.Permanent)
	if !strings.Contains(res.Error, "CloudOneOnboarderExecution") || !strings.Contains(res.Error, "trusts") {
		t.Fatalf("old account: %q", res.Error)
	}
	res = e.run() // no joining time known
	expect(t, res, ActionFail, fault.Permanent)

	// Waiting for a new account's role spends no failure budget: with ONBOARDER_MAX_FAILURES=2
	// it waits the whole grace, looking again as the account ages, last at the grace's end.
	e = newEnv(t, func(c *config.Config) { c.MaxFailures = 2 })
	e.r.Members = failingMembers(denied)
	now := time.Now()
	e.r.Now = func() time.Time { return now }
	joined := now.Add(-4 * time.Minute)
	var waits []time.Duration
	for i := range 4 {
		res := e.runReq(queue.Request{Version: 1, Account: acct, Trigger: "controltower:CreateManagedAccount", EventID: "e3", AccountSince: joined})
		expect(t, res, ActionFail, fault.Transient)
		if res.GiveUp || res.Failures != 0 {
			t.Fatalf("pass %d: gave up %v after %d failures within the grace", i+1, res.GiveUp, res.Failures)
		}
		waits = append(waits, res.RetryAfter)
		now = now.Add(res.RetryAfter)
	}
	if waits[0] != 2*time.Minute || waits[1] != 3*time.Minute {
		t.Fatalf("waits %v: want half the account's age (2m, then 3m)", waits)
	}
	now = joined.Add(e.r.Cfg.AssumeRoleGrace - 10*time.Second)
	if res := e.runReq(queue.Request{Version: 1, Account: acct, Trigger: "sweep", EventID: "e3", AccountSince: joined}); res.RetryAfter != 11*time.Second {
		t.Fatalf("near the grace's end: back after %s, want when it ends", res.RetryAfter)
	}
}

// With ONBOARDER_FALLBACK_ROLE_NAME, an execution role that is denied for good (past a new
// account's grace, or for an account of long standing) gives way to the fallback role: the
// stack is written without the CloudFormation service role (the member roles are not there),
// and the result says which role was used. Within the grace, the request still waits.
func TestFallbackRole(t *testing.T) {
	denied := fault.As(fault.Permanent, &crossaccount.DeniedError{Role: "arn:aws:iam::" + acct + ":role/CloudOneOnboarderExecution", Err: apiErr("AccessDenied", "not authorized")})
	e := newEnv(t, func(c *config.Config) {
		c.ExecutionRoleName, c.CFNRoleName, c.FallbackRoleName = "CloudOneOnboarderExecution", "CloudOneOnboarderCloudFormation", "AWSControlTowerExecution"
	})
	member := e.r.Members.(*fake.Members[Member]).Answer
	fallback := &fake.Members[Member]{Answer: member}
	e.r.Members, e.r.Fallback = failingMembers(denied), fallback

	res := e.runReq(queue.Request{Version: 1, Account: acct, Trigger: "controltower:CreateManagedAccount", EventID: "e1", AccountSince: time.Now().Add(-5 * time.Minute)})
	expect(t, res, ActionFail, fault.Transient)
	if fallback.MemberCalls.Count() != 0 || res.Via != "" {
		t.Fatalf("within the grace the fallback was used (%d times, via %q)", fallback.MemberCalls.Count(), res.Via)
	}

	res = e.runReq(queue.Request{Version: 1, Account: acct, Trigger: "controltower:CreateManagedAccount", EventID: "e1", AccountSince: time.Now().Add(-2 * time.Hour)})
	expect(t, res, ActionCreate, fault.None)
	if !strings.Contains(res.Via, "AWSControlTowerExecution") || !strings.Contains(res.Via, "CloudOneOnboarderExecution") {
		t.Errorf("via %q, want both roles named", res.Via)
	}
	if e.cfn.CreateStackCalls.Last() == nil || e.cfn.CreateStackCalls.Last().RoleARN != nil {
		t.Errorf("the create through the fallback role passed the service role %v", e.cfn.CreateStackCalls.Last().RoleARN)
	}

	fallback.MemberCalls.FailAlways(fault.As(fault.Permanent, &crossaccount.DeniedError{Role: "arn:aws:iam::" + acct + ":role/AWSControlTowerExecution", Err: apiErr("AccessDenied", "not authorized")}))
	res = e.run()
	expect(t, res, ActionFail, fault.Permanent)
	if !strings.Contains(res.Error, "CloudOneOnboarderExecution") || !strings.Contains(res.Error, "fallback role AWSControlTowerExecution") {
		t.Errorf("both denied: %q", res.Error)
	}
}

// The execution role itself is never its own fallback.
func TestFallbackRoleConfig(t *testing.T) {
	c := config.Default()
	c.SecretARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:onboarder-AbCdEf"
	c.FallbackRoleName = c.ExecutionRoleName
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "ONBOARDER_FALLBACK_ROLE_NAME") {
		t.Fatalf("fallback = execution role: %v", err)
	}
	c.FallbackRoleName = "bad role"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "ONBOARDER_FALLBACK_ROLE_NAME") {
		t.Fatalf("bad name: %v", err)
	}
}

// AccessDenied inside the member account (an SCP, a missing permission) is permanent and
// names the action; LimitExceededException needs a person.
func TestMemberErrorsClasses(t *testing.T) {
	e := newEnv(t)
	e.cfn.CreateStackCalls.FailAlways(apiErr("AccessDenied", "User: arn:aws:sts::"+acct+":assumed-role/X/s is not authorized to perform: cloudformation:CreateStack with an explicit deny in a service control policy"))
	res := e.run()
	expect(t, res, ActionFail, fault.Permanent)
	if !strings.Contains(res.Error, "cloudformation:CreateStack") || !strings.Contains(res.Error, "SCP") {
		t.Fatalf("error %q", res.Error)
	}
	e = newEnv(t)
	e.cfn.CreateStackCalls.FailAlways(apiErr("LimitExceededException", "Limit for stacks exceeded"))
	expect(t, e.run(), ActionNeedsPerson, fault.NeedsPerson)
}

// Transient failures are counted in the ledger, backed off, and given up on after
// ONBOARDER_MAX_FAILURES in a row; success resets the count.
func TestFailureBudget(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.MaxFailures = 3 })
	e.trails.DescribeTrailsCalls.FailAlways(apiErr("ThrottlingException", "Rate exceeded"))
	var delays []time.Duration
	for i := 1; i <= 3; i++ {
		res := e.run()
		expect(t, res, ActionFail, fault.Transient)
		if res.Failures != i || res.GiveUp != (i == 3) {
			t.Fatalf("pass %d: failures %d give up %v", i, res.Failures, res.GiveUp)
		}
		delays = append(delays, res.RetryAfter)
	}
	if !(delays[0] < delays[1] && delays[1] < delays[2]) {
		t.Fatalf("back-off does not grow: %v", delays)
	}
	e.trails.DescribeTrailsCalls.FailAlways(nil)
	expect(t, e.run(), ActionCreate, fault.None)
	if last := e.lastEntry(); last.Failures != 0 {
		t.Fatalf("the count was not reset: %+v", last)
	}
}

// Trail modes.
func TestTrailModes(t *testing.T) {
	cases := []struct {
		name       string
		mode       config.TrailMode
		trail      bool
		logging    bool
		wantNew    string
		wantBucket string
		wantClass  fault.Class
		wantCalls  []string
	}{
		{"auto with a logging trail", config.TrailAuto, true, true, "False", "own-bucket", fault.None, nil},
		{"auto without a trail", config.TrailAuto, false, false, "True", "", fault.None, nil},
		{"auto with a stopped trail", config.TrailAuto, true, false, "True", "", fault.None, nil},
		{"existing with a logging trail", config.TrailExisting, true, true, "False", "own-bucket", fault.None, nil},
		{"existing without a trail", config.TrailExisting, false, false, "", "", fault.NeedsPerson, nil},
		{"new ignores trails", config.TrailNew, true, true, "True", "", fault.None, []string{"DescribeStacks", "GetTemplateSummary", "CreateStack"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *config.Config) { c.TrailMode = tc.mode })
			if tc.trail {
				e.addTrail("main", "own-bucket", tc.logging)
			}
			res := e.run()
			if res.Class != tc.wantClass {
				t.Fatalf("class %s (%s), want %s", res.Class, res.Error, tc.wantClass)
			}
			if tc.wantClass != fault.None {
				expectWrites(t, e)
				return
			}
			p := params(e.cfn.CreateStackCalls.Last().Parameters)
			if p["CreateNewTrail"] != tc.wantNew || p["ExistingCloudtrailBucketName"] != tc.wantBucket {
				t.Fatalf("params %v", p)
			}
			if tc.wantCalls != nil && !slices.Equal(e.calls.Ops(), tc.wantCalls) {
				t.Fatalf("calls %v, want %v", e.calls.Ops(), tc.wantCalls)
			}
		})
	}
}

// Which trails qualify: another account's, another region's, a foreign bucket, no
// management events, a bucket in another region than the stack's (S3 notifies only targets
// in the bucket's region), logs encrypted with SSE-KMS (the forwarder cannot read them).
func TestTrailEligibility(t *testing.T) {
	e := newEnv(t)
	org := trailOf("999999999999", region, "org-trail", "log-archive", true)
	org.IsOrganizationTrail = aws.Bool(true)
	other := trailOf(acct, "eu-west-1", "eu-only", "eu-bucket", false)
	foreign := trailOf(acct, region, "foreign", "not-mine", true)
	dataOnly := trailOf(acct, region, "data-only", "data-bucket", true)
	dataOnly.HasCustomEventSelectors = aws.Bool(true)
	farBucket := trailOf(acct, "eu-west-1", "org-audit", "eu-audit-bucket", true) // covers us-east-1, writes to eu-west-1
	kms := trailOf(acct, region, "encrypted", "kms-bucket", true)
	kms.KmsKeyId = aws.String("arn:aws:kms:us-east-1:" + acct + ":key/1234")
	e.trails.Trails = []cttypes.Trail{org, other, foreign, dataOnly, farBucket, kms}
	for _, tr := range e.trails.Trails {
		e.trails.Logging[aws.ToString(tr.TrailARN)] = true
	}
	e.s3.Buckets = []string{"eu-bucket", "data-bucket", "eu-audit-bucket", "kms-bucket"}
	e.s3.Regions = map[string]string{"eu-bucket": "eu-west-1", "eu-audit-bucket": "eu-west-1"}
	e.trails.Selectors[aws.ToString(dataOnly.TrailARN)] = &cloudtrail.GetEventSelectorsOutput{EventSelectors: []cttypes.EventSelector{{IncludeManagementEvents: aws.Bool(false), ReadWriteType: cttypes.ReadWriteTypeAll}}}
	res := e.run()
	expect(t, res, ActionCreate, fault.None)
	if p := params(e.cfn.CreateStackCalls.Last().Parameters); p["CreateNewTrail"] != "True" {
		t.Fatalf("params %v", p)
	}
	if len(res.Trail.Skipped) != 6 {
		t.Fatalf("skipped %v", res.Trail.Skipped)
	}
	all := strings.Join(res.Trail.Skipped, "; ")
	for _, want := range []string{"org-audit: bucket eu-audit-bucket is not in us-east-1", "encrypted: encrypts its logs with SSE-KMS", "foreign: bucket not-mine belongs to another account"} {
		if !strings.Contains(all, want) {
			t.Errorf("skipped %q lacks %q", all, want)
		}
	}
	if strings.Contains(res.Trail.Why, "only the organization trail") {
		t.Errorf("the account has trails of its own, yet: %s", res.Trail.Why)
	}

	// A Control Tower account: only the organization trail. The stack's own trail is a second,
	// billed copy of management events, and the reason says so.
	e = newEnv(t)
	e.trails.Trails = []cttypes.Trail{org}
	e.trails.Logging[aws.ToString(org.TrailARN)] = true
	res = e.run()
	expect(t, res, ActionCreate, fault.None)
	if want := "own trail: the account has only the organization trail (org-trail: a trail of another account (organization trail)): the stack makes its own, a second, billed copy"; !strings.HasPrefix(res.Trail.Why, want) {
		t.Errorf("why %q, want it to begin %q", res.Trail.Why, want)
	}

	// Advanced selectors with the Management category qualify.
	e = newEnv(t)
	e.addTrail("adv", "adv-bucket", true)
	e.trails.Trails[0].HasCustomEventSelectors = aws.Bool(true)
	e.trails.Selectors[aws.ToString(e.trails.Trails[0].TrailARN)] = &cloudtrail.GetEventSelectorsOutput{AdvancedEventSelectors: []cttypes.AdvancedEventSelector{{
		FieldSelectors: []cttypes.AdvancedFieldSelector{{Field: aws.String("eventCategory"), Equals: []string{"Management"}}},
	}}}
	e.run()
	if p := params(e.cfn.CreateStackCalls.Last().Parameters); p["ExistingCloudtrailBucketName"] != "adv-bucket" {
		t.Fatalf("params %v", p)
	}
}

// Repair: the forwarding trail was stopped -> started again, stack untouched.
func TestStoppedForwardingTrailIsRestarted(t *testing.T) {
	e := newEnv(t)
	e.addTrail("main", "own-bucket", false)
	e.seedStack(cfntypes.StackStatusCreateComplete, "own-bucket")
	res := e.run()
	expect(t, res, ActionStartLogging, fault.None)
	expectWrites(t, e, "StartLogging main")
	if !res.Trail.Stopped || !e.trails.Logging[aws.ToString(e.trails.Trails[0].TrailARN)] || !strings.Contains(res.Trail.Why, "logging started again") {
		t.Fatalf("trail not restarted: %+v", res.Trail)
	}
}

// Repair: the forwarding trail was deleted -> resolved again, the stack updated.
func TestDeletedForwardingTrailIsReResolved(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusCreateComplete, "own-bucket") // no trail any more
	res := e.run()
	expect(t, res, ActionUpdate, fault.None)
	p := params(e.cfn.UpdateStackCalls.Last().Parameters)
	if p["CreateNewTrail"] != "True" || p["ExistingCloudtrailBucketName"] != "" {
		t.Fatalf("params %v", p)
	}

	// ... or to another suitable trail when there is one.
	e = newEnv(t)
	e.addTrail("second", "second-bucket", true)
	e.seedStack(cfntypes.StackStatusCreateComplete, "own-bucket")
	expect(t, e.run(), ActionUpdate, fault.None)
	if p := params(e.cfn.UpdateStackCalls.Last().Parameters); p["CreateNewTrail"] != "False" || p["ExistingCloudtrailBucketName"] != "second-bucket" {
		t.Fatalf("params %v", p)
	}
}

// A stack that made its own trail keeps it in auto mode (no flapping to another trail), and
// its trail, found by the tag CloudFormation propagates, is started again when stopped.
func TestOwnTrailIsKeptAndRepaired(t *testing.T) {
	e := newEnv(t)
	e.addTrail("other", "other-bucket", true)
	e.addTrail("CloudOne-trail", "cloudone-stack-bucket", false)
	own := aws.ToString(e.trails.Trails[1].TrailARN)
	e.trails.Tags[own] = []cttypes.Tag{{Key: aws.String(stack.TagManaged), Value: aws.String("true")}}
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	res := e.run()
	expect(t, res, ActionStartLogging, fault.None)
	expectWrites(t, e, "StartLogging CloudOne-trail")
	if !e.trails.Logging[own] || res.Trail.TrailARN != own || !res.Trail.CreateNewTrail {
		t.Fatalf("trail %+v", res.Trail)
	}
	// Logging again: in sync, and the own trail is never offered as an existing bucket.
	res = e.run()
	expect(t, res, ActionNone, fault.None)

	e = newEnv(t)
	e.addTrail("CloudOne-trail", "cloudone-stack-bucket", true)
	e.trails.Tags[aws.ToString(e.trails.Trails[0].TrailARN)] = []cttypes.Tag{{Key: aws.String(stack.TagManaged), Value: aws.String("true")}}
	e.r.Cfg.TrailMode = config.TrailExisting
	if res := e.run(); res.Class != fault.NeedsPerson {
		t.Fatalf("the stack's own trail was taken as an existing trail: %+v", res)
	}
}

// Secret rotation changes the version id and so updates the stack.
func TestSecretRotationUpdates(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	e.r.Secrets = &fakeSecrets{creds: secret.Credentials{APIKey: secret.NewValue(apiKey + "2"), ServiceToken: secret.NewValue(apiToken), VersionID: "v2"}}
	res := e.run()
	expect(t, res, ActionUpdate, fault.None)
	if len(res.Changes) != 1 || !strings.Contains(res.Changes[0].After, "v2") || strings.Contains(res.Changes[0].After, apiKey) {
		t.Fatalf("changes %+v", res.Changes)
	}
}

// Dry run: the same decisions, no write call.
func TestDryRun(t *testing.T) {
	cases := []struct {
		name   string
		seed   func(*env)
		action Action
	}{
		{"absent", func(e *env) {}, ActionCreate},
		{"differs", func(e *env) { e.seedStack("CREATE_COMPLETE", ""); e.r.Cfg.QSS3KeyPrefix = "x/" }, ActionUpdate},
		{"rolled back", func(e *env) { e.seedStack("ROLLBACK_COMPLETE", "") }, ActionDelete},
		{"rollback failed", func(e *env) { e.seedStack("UPDATE_ROLLBACK_FAILED", "") }, ActionContinueRollback},
		{"stopped trail", func(e *env) { e.addTrail("main", "b1", false); e.seedStack("CREATE_COMPLETE", "b1") }, ActionStartLogging},
		{"in sync", func(e *env) { e.seedStack("CREATE_COMPLETE", "") }, ActionNone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *config.Config) { c.DryRun = true })
			tc.seed(e)
			res := e.run()
			expect(t, res, tc.action, fault.None)
			expectWrites(t, e)
			if !res.DryRun || len(e.entries()) != 0 {
				t.Fatal("a dry run must say so and write no ledger entry")
			}
		})
	}
}

// Cloud One region from the API key; its failures keep their class.
func TestRegionFromKey(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.CloudOneRegion = "" })
	e.r.CloudOne = &fakeCloudOne{key: cloudone.Key{ID: "KEYID123", Region: "de-1"}}
	res := e.run()
	if res.Region != "eu-central-1" {
		t.Fatalf("region %s", res.Region)
	}
	e = newEnv(t, func(c *config.Config) { c.CloudOneRegion = "" })
	e.r.CloudOne = &fakeCloudOne{err: fault.Permanentf("Cloud One rejected API key KEYID123 (HTTP 401)")}
	expect(t, e.run(), ActionFail, fault.Permanent)
	expectWrites(t, e)
}

// Bad account ids are permanent and make no call.
func TestBadAccount(t *testing.T) {
	e := newEnv(t)
	res := e.r.Reconcile(context.Background(), queue.Request{Version: 1, Account: "12345678901", Trigger: "test"})
	expect(t, res, ActionFail, fault.Permanent)
	if len(e.calls.Ops()) != 0 {
		t.Fatal("calls made for a bad account id")
	}
}

// Throttling that outlasts the SDK's retries is transient.
func TestThrottlingIsTransient(t *testing.T) {
	e := newEnv(t)
	e.trails.DescribeTrailsCalls.FailAlways(apiErr("ThrottlingException", "Rate exceeded"))
	expect(t, e.run(), ActionFail, fault.Transient)
}

// The API key and the token appear in no log line, no error and no result, even when every
// call fails and the failures quote them.
func TestSecretsNeverLeak(t *testing.T) {
	failures := []error{
		apiErr("ValidationError", "Parameter CloudOneApiKey value "+apiKey+" is invalid"),
		apiErr("AccessDenied", "token "+apiToken+" denied"),
		apiErr("InternalFailure", apiKey+apiToken),
		// The key's secret half, and URL- and JSON-escaped forms, as an HTTP answer or a
		// custom resource's message may quote them.
		apiErr("ValidationError", "secret part SUPERSECRETAPIKEYVALUE refused"),
		apiErr("InternalFailure", `GET /api/apikeys?key=KEYID123%3ASUPERSECRETAPIKEYVALUE failed`),
		apiErr("InternalFailure", `{"ApiKey":"KEYID123:SUPERSECRETAPIKEYVALUE"}`),
	}
	for _, f := range failures {
		e := newEnv(t)
		e.cfn.CreateStackCalls.FailAlways(f)
		res := e.run()
		e2 := newEnv(t)
		e2.trails.DescribeTrailsCalls.FailAlways(f)
		e2.seedStack("CREATE_COMPLETE", "b")
		res2 := e2.run()
		e3 := newEnv(t, func(c *config.Config) { c.CloudOneRegion = "" })
		e3.r.CloudOne = &fakeCloudOne{err: f}
		res3 := e3.run()
		for i, r := range []Result{res, res2, res3} {
			js, _ := json.Marshal(r)
			all := string(js) + r.Error + r.Reason + fmtAll(r) + e.logs.String() + e2.logs.String() + e3.logs.String()
			if r.Err != nil {
				all += r.Err.Error()
			}
			if strings.Contains(all, apiKey) || strings.Contains(all, "SUPERSECRETAPIKEYVALUE") || strings.Contains(all, apiToken) {
				t.Fatalf("case %d: a secret leaked: %s", i, all)
			}
			if r.Class == fault.None {
				t.Fatalf("case %d: failure not reported", i)
			}
		}
	}
	// A custom resource that failed quoting its input (the key): the needs-person reason,
	// the failed resource, the ledger and the log carry none of it.
	e := newEnv(t)
	expect(t, e.run(), ActionCreate, fault.None)
	e.cfn.Events = append(e.cfn.Events, cfntypes.StackEvent{StackId: e.cfn.Stack.StackId, StackName: e.cfn.Stack.StackName,
		LogicalResourceId: aws.String("CloudOneIntegration"), ResourceType: aws.String("AWS::CloudFormation::CustomResource"),
		ResourceStatus: cfntypes.ResourceStatusCreateFailed, ClientRequestToken: aws.String(e.cfn.LastToken()),
		ResourceStatusReason: aws.String(`Received response status [FAILED]: {"ApiKey": "` + apiKey + `", "Token": "` + apiToken + `"}`)})
	e.cfn.Stack.StackStatusReason = aws.String("The following resource(s) failed to create: key " + apiKey)
	e.cfn.Settle(cfntypes.StackStatusRollbackComplete, "")
	res := e.run()
	expect(t, res, ActionNeedsPerson, fault.NeedsPerson)
	if res.Failed == nil || res.Failed.LogicalID != "CloudOneIntegration" || !strings.Contains(res.Reason, "[redacted]") {
		t.Fatalf("failed %+v, reason %q", res.Failed, res.Reason)
	}
	js, _ := json.Marshal(res)
	led, _ := json.Marshal(e.entries())
	if all := string(js) + res.Reason + fmtAll(res) + string(led) + e.logs.String(); strings.Contains(all, apiKey) || strings.Contains(all, apiToken) {
		t.Fatalf("a secret leaked through a failed resource's reason: %s", all)
	}
}

func fmtAll(r Result) string {
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Info("r", "result", r)
	return b.String()
}

// With a CloudFormation service role configured, every write passes it.
func TestServiceRolePassed(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.CFNRoleName = "CloudOneOnboarderCfn" })
	expect(t, e.run(), ActionCreate, fault.None)
	if got := aws.ToString(e.cfn.CreateStackCalls.Last().RoleARN); got != "arn:aws:iam::"+acct+":role/CloudOneOnboarderCfn" {
		t.Fatalf("RoleARN %q", got)
	}
	e = newEnv(t)
	e.run()
	if e.cfn.CreateStackCalls.Last().RoleARN != nil {
		t.Fatal("no service role configured, but one was passed")
	}
}

// The sweep hands the digest of the stored ledger entry: an unchanged entry is not rewritten,
// a changed one is.
func TestLedgerWrittenOnlyWhenChanged(t *testing.T) {
	e := newEnv(t)
	e.addTrail("main", "own-bucket", true)
	e.seedStack(cfntypes.StackStatusCreateComplete, "own-bucket")
	e.run()
	if len(e.entries()) != 1 {
		t.Fatalf("first reconcile wrote %d entries", len(e.entries()))
	}
	stored := e.entries()[0]
	req := queue.Request{Version: 1, Account: acct, Trigger: "sweep", EventID: "e2", LedgerDigest: stored.Digest()}
	e.r.Now = func() time.Time { return time.Now().Add(time.Hour) } // only the time differs
	if res := e.r.Reconcile(context.Background(), req); !res.InSync() || len(e.entries()) != 1 {
		t.Fatalf("unchanged entry rewritten: %d writes, %+v", len(e.entries()), res)
	}
	e.trails.Logging[aws.ToString(e.trails.Trails[0].TrailARN)] = false // the trail stopped: logging is started again
	if res := e.r.Reconcile(context.Background(), req); res.Action != ActionStartLogging || len(e.entries()) != 2 {
		t.Fatalf("a change with the same end state not written: %d writes, %+v", len(e.entries()), res)
	}
	if got := e.entries()[1]; got.Action != string(ActionStartLogging) || got.Digest() != stored.Digest() {
		t.Fatalf("entry after start-logging: %+v (its state is the same, its action is new)", got)
	}
	// The next sweep finds it in sync: the entry keeps saying what was last changed.
	req.LedgerDigest = e.entries()[1].Digest()
	if res := e.r.Reconcile(context.Background(), req); !res.InSync() || len(e.entries()) != 2 {
		t.Fatalf("in sync after a change: %d writes, %+v", len(e.entries()), res)
	}
	// A failure is written, and so is the recovery from it.
	e.cfn.DescribeStacksCalls.FailAlways(errors.New("boom"))
	if res := e.r.Reconcile(context.Background(), req); res.Class == fault.None || len(e.entries()) != 3 {
		t.Fatalf("failure: %d writes, %+v", len(e.entries()), res)
	}
	e.cfn.DescribeStacksCalls.FailAlways(nil)
	req.LedgerDigest = e.entries()[2].Digest()
	if res := e.r.Reconcile(context.Background(), req); !res.InSync() || len(e.entries()) != 4 {
		t.Fatalf("recovery: %d writes, %+v", len(e.entries()), res)
	}
}

// A digest leaves out the time, and the action and reason of a decision that succeeded; it
// keeps the state and a failure's reason.
func TestLedgerDigest(t *testing.T) {
	base := ledger.Entry{Account: acct, Region: "us-east-1", StackName: "CloudOne", StackStatus: "CREATE_COMPLETE", Managed: true,
		TrailMode: "auto", Bucket: "b", Action: "create", Class: "none", Reason: "absent: create it", UpdatedAt: time.Now()}
	same := base
	same.Action, same.Reason, same.UpdatedAt = "none", "in sync", time.Now().Add(time.Hour)
	if base.Digest() != same.Digest() {
		t.Error("a successful decision's action, reason or time changed the digest")
	}
	for name, mod := range map[string]func(*ledger.Entry){
		"status":  func(e *ledger.Entry) { e.StackStatus = "UPDATE_COMPLETE" },
		"bucket":  func(e *ledger.Entry) { e.Bucket = "other" },
		"managed": func(e *ledger.Entry) { e.Managed = false },
		"class":   func(e *ledger.Entry) { e.Class = "transient" },
	} {
		e := base
		mod(&e)
		if e.Digest() == base.Digest() {
			t.Errorf("%s: the digest did not change", name)
		}
	}
	f1, f2 := base, base
	f1.Class, f2.Class = "transient", "transient"
	f1.Reason, f2.Reason = "throttled", "timed out"
	if f1.Digest() == f2.Digest() {
		t.Error("a failure's reason is not in the digest")
	}
}

// A request without a digest (account vending, a manual request by id) reads the stored
// entry before writing: an in-sync decision rewrites nothing, a change is written without
// reading, and a ledger that cannot be read is written to.
func TestLedgerReadWhenNoDigest(t *testing.T) {
	e := newEnv(t)
	e.addTrail("main", "own-bucket", true)
	e.seedStack(cfntypes.StackStatusCreateComplete, "own-bucket")
	req := queue.Request{Version: 1, Account: acct, Trigger: "vending", EventID: "e1"}
	e.r.Reconcile(context.Background(), req)
	if len(e.entries()) != 1 || e.ledger.GetCalls.Count() != 1 {
		t.Fatalf("first reconcile: %d writes, %d reads; want 1, 1", len(e.entries()), e.ledger.GetCalls.Count())
	}
	e.r.Now = func() time.Time { return time.Now().Add(time.Hour) }
	if res := e.r.Reconcile(context.Background(), req); !res.InSync() || len(e.entries()) != 1 || e.ledger.GetCalls.Count() != 2 {
		t.Fatalf("in sync again: %d writes, %d reads; want 1, 2: %+v", len(e.entries()), e.ledger.GetCalls.Count(), res)
	}
	e.trails.Logging[aws.ToString(e.trails.Trails[0].TrailARN)] = false
	if res := e.r.Reconcile(context.Background(), req); res.Action != ActionStartLogging || len(e.entries()) != 2 || e.ledger.GetCalls.Count() != 2 {
		t.Fatalf("a change: %d writes, %d reads; want 2, 2: %+v", len(e.entries()), e.ledger.GetCalls.Count(), res)
	}
	e.ledger.GetCalls.FailAlways(errors.New("ThrottlingException"))
	if res := e.r.Reconcile(context.Background(), req); !res.InSync() || len(e.entries()) != 3 {
		t.Fatalf("ledger unreadable: %d writes, want 3: %+v", len(e.entries()), res)
	}
}

// Offboarding, pass by pass: under ONBOARDER_OFFBOARD=delete the onboarder's stack is deleted
// (paced, with a token) and the ledger records the account as offboarded with what is left in
// Cloud One; under report nothing is written; a foreign stack is never deleted; an account
// that cannot be opened is reported from the ledger; a dry run deletes nothing.
func TestOffboarding(t *testing.T) {
	req := queue.Request{Version: 1, Account: acct, Trigger: "organizations:CloseAccount", EventID: "e9",
		Offboard: queue.OffboardRemoved, Reason: "account-removed: Organizations RemoveAccountFromOrganization"}
	last := func(e *env) ledger.Entry {
		t.Helper()
		if len(e.entries()) == 0 {
			t.Fatal("no ledger entry written")
		}
		return e.lastEntry()
	}
	t.Run("delete", func(t *testing.T) {
		e := newEnv(t, func(c *config.Config) { c.Offboard = config.OffboardDelete })
		e.seedStack("UPDATE_COMPLETE", "b")
		res := e.runReq(req)
		if res.Action != ActionDelete || e.cfn.DeleteStackCalls.Last() == nil || aws.ToString(e.cfn.DeleteStackCalls.Last().ClientRequestToken) == "" || res.RetryAfter == 0 {
			t.Fatalf("first pass %+v", res)
		}
		if en := last(e); en.Offboard != queue.OffboardRemoved || en.Action != "delete" || !en.Managed {
			t.Errorf("ledger after the delete started: %+v", en)
		}
		res = e.runReq(req) // still deleting
		if res.Action != ActionWait || res.Row != string(RowOffboardInProgress) {
			t.Errorf("second pass %s (%s)", res.Action, res.Row)
		}
		e.cfn.Settle(cfntypes.StackStatusDeleteComplete, "")
		res = e.runReq(req)
		if res.Action != ActionOffboarded || res.Row != string(RowOffboardGone) || res.RetryAfter != 0 {
			t.Fatalf("last pass %+v", res)
		}
		en := last(e)
		if en.Offboard != queue.OffboardRemoved || en.Action != string(ActionOffboarded) || !strings.Contains(en.Left, "Vision One enrollment") ||
			!strings.Contains(en.Reason, "RemoveAccountFromOrganization") {
			t.Errorf("ledger when done: %+v", en)
		}
		if en.Onboarded() || en.StackLeft() {
			t.Errorf("a deleted account still counts as onboarded or left: %+v", en)
		}
	})
	t.Run("report", func(t *testing.T) {
		e := newEnv(t)
		e.seedStack("CREATE_COMPLETE", "b")
		res := e.runReq(req)
		if res.Action != ActionOffboarded || len(e.calls.Writes()) > 0 || !strings.Contains(res.Left, "cloud account of AWS account "+acct) {
			t.Fatalf("report pass %+v, writes %v", res, e.calls.Writes())
		}
		if en := last(e); !en.StackLeft() || en.Onboarded() {
			t.Errorf("a reported account: %+v", en)
		}
	})
	t.Run("not ours", func(t *testing.T) {
		e := newEnv(t, func(c *config.Config) { c.Offboard, c.AdoptExisting = config.OffboardDelete, true })
		e.seedStack("CREATE_COMPLETE", "b")
		e.cfn.Stack.Tags = nil
		res := e.runReq(req)
		if res.Action != ActionLeaveAlone || len(e.calls.Writes()) > 0 {
			t.Fatalf("a foreign stack: %+v, writes %v", res, e.calls.Writes())
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		e := newEnv(t, func(c *config.Config) { c.Offboard = config.OffboardDelete })
		e.ledger.Seed(ledger.Entry{Account: acct, Region: "us-east-1", StackName: "CloudOne", StackStatus: "CREATE_COMPLETE", Managed: true, Action: "create", Class: "none"})
		e.r.Members = failingMembers(fault.As(fault.Permanent, &crossaccount.DeniedError{Role: "arn:aws:iam::" + acct + ":role/AWSControlTowerExecution", Err: apiErr("AccessDenied", "not authorized")}))
		res := e.runReq(req)
		if res.Action != ActionOffboarded || res.Row != string(RowOffboardUnreachable) || res.Class != fault.None {
			t.Fatalf("an account that cannot be opened: %+v", res)
		}
		en := last(e)
		if en.StackStatus != ledger.StatusUnreachable || !en.Managed || !strings.Contains(en.Left, "remove them there by hand") || en.StackLeft() {
			t.Errorf("ledger: %+v", en)
		}
	})
	t.Run("excluded: never touched, even with the delete policy", func(t *testing.T) {
		e := newEnv(t, func(c *config.Config) { c.Offboard = config.OffboardDelete })
		e.seedStack("CREATE_COMPLETE", "b")
		e.ledger.Seed(ledger.Entry{Account: acct, Region: "us-east-1", StackName: "CloudOne", StackStatus: "CREATE_COMPLETE", Managed: true, Action: "create", Class: "none"})
		members := e.r.Members.(*fake.Members[Member])
		excluded := req
		excluded.Offboard, excluded.Reason = queue.OffboardExcluded, "excluded-account: account is in ONBOARDER_EXCLUDE_ACCOUNTS"
		res := e.runReq(excluded)
		if res.Action != ActionOffboarded || res.Row != string(RowOffboardExcluded) || res.Class != fault.None || !strings.Contains(res.Left, "cloud account of AWS account "+acct) {
			t.Fatalf("an excluded account: %+v", res)
		}
		if members.MemberCalls.Count() != 0 || len(e.calls.Ops()) != 0 {
			t.Fatalf("the excluded account was opened (%d times) or called: %v", members.MemberCalls.Count(), e.calls.Ops())
		}
		if en := last(e); en.Offboard != queue.OffboardExcluded || en.StackStatus != "CREATE_COMPLETE" || !en.StackLeft() {
			t.Errorf("ledger: %+v", en)
		}
	})
	t.Run("dry run", func(t *testing.T) {
		e := newEnv(t, func(c *config.Config) { c.Offboard, c.DryRun = config.OffboardDelete, true })
		e.seedStack("CREATE_COMPLETE", "b")
		res := e.runReq(req)
		if res.Action != ActionDelete || len(e.calls.Writes()) > 0 || len(e.entries()) > 0 || len(res.Steps) != 1 || !strings.Contains(res.Steps[0].Detail, "dry run: would") {
			t.Fatalf("dry run %+v, writes %v", res, e.calls.Writes())
		}
	})
}

// fakeRollouts is a rollout store that keeps one rollout in memory and records the passes.
type fakeRollouts struct {
	r        *rollout.Rollout
	recorded []string
}

func (f *fakeRollouts) Get(context.Context) (*rollout.Rollout, error) { return f.r, nil }
func (f *fakeRollouts) Record(_ context.Context, id string, wave int, account string, failed bool, why string) (*rollout.Rollout, error) {
	f.recorded = append(f.recorded, fmt.Sprintf("%s wave %d %s failed=%t", id, wave, account, failed))
	return f.r, nil
}
func (f *fakeRollouts) Advance(context.Context, *rollout.Rollout) ([]string, error) { return nil, nil }

// During a rollout an account gets the version its wave has reached, with that version's
// assets (QSS3 parameters); an account of a later wave keeps the old one and is not touched.
func TestRolloutChoosesTheVersion(t *testing.T) {
	const later = "210987654321"
	from := rollout.Version{URL: config.Default().TemplateURL, Bucket: config.Default().QSS3BucketName, Prefix: config.Default().QSS3KeyPrefix}
	to := rollout.Version{URL: "https://mirror.s3.amazonaws.com/trend/v2/main.template.yaml", Bucket: "mirror", Prefix: "trend/v2/"}
	ro := &fakeRollouts{r: &rollout.Rollout{ID: "r1", From: from, To: to, Waves: [][]string{{acct}, {later}}, State: rollout.Running}}

	e := newEnv(t)
	e.r.Rollouts = ro
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	res := e.run()
	expect(t, res, ActionUpdate, fault.None)
	u := e.cfn.UpdateStackCalls.Last()
	if got := params(u.Parameters); aws.ToString(u.TemplateURL) != to.URL || got[stack.ParamQSS3Bucket] != "mirror" || got[stack.ParamQSS3KeyPrefix] != "trend/v2/" {
		t.Fatalf("canary account updated to %s with %v, want %s", aws.ToString(u.TemplateURL), got, to)
	}
	if len(res.Changes) != 3 || res.Changes[2].Parameter != "template" || res.Changes[2].Before != from.URL || res.Changes[2].After != to.URL {
		t.Fatalf("changes %+v, want the assets and the template", res.Changes)
	}

	// Done, the configuration unchanged: the new version stays in force; the configuration
	// deployed since with another version is in force at once (a done rollout freezes nothing).
	done := *ro.r
	done.State = rollout.Done
	e = newEnv(t)
	e.r.Rollouts = &fakeRollouts{r: &done}
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	expect(t, e.run(), ActionUpdate, fault.None)
	if u := e.cfn.UpdateStackCalls.Last(); aws.ToString(u.TemplateURL) != to.URL {
		t.Fatalf("done, configuration unchanged: updated to %s, want %s", aws.ToString(u.TemplateURL), to.URL)
	}
	e = newEnv(t)
	e.r.Rollouts = &fakeRollouts{r: &done}
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	e.r.Cfg.TemplateURL, e.r.Cfg.QSS3BucketName, e.r.Cfg.QSS3KeyPrefix = "https://mirror.s3.amazonaws.com/trend/v3/main.template.yaml", "mirror", "trend/v3/"
	expect(t, e.run(), ActionUpdate, fault.None)
	if u := e.cfn.UpdateStackCalls.Last(); aws.ToString(u.TemplateURL) != e.r.Cfg.TemplateURL || params(u.Parameters)[stack.ParamQSS3KeyPrefix] != "trend/v3/" {
		t.Fatalf("done, configuration changed since: updated to %s with %v, want the configuration", aws.ToString(u.TemplateURL), params(u.Parameters))
	}

	// An account of the next wave: in sync with the old version, so nothing to do.
	e = newEnv(t)
	e.r.Rollouts = ro
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	res = e.runReq(queue.Request{Version: 1, Account: later, Trigger: "sweep", EventID: "s1"})
	expect(t, res, ActionNone, fault.None)
	expectWrites(t, e)
	if len(ro.recorded) != 0 {
		t.Fatalf("passes recorded before their wave settled or for a later wave: %v", ro.recorded)
	}
}

// failingMembers opens no member account: every call answers err.
func failingMembers(err error) *fake.Members[Member] {
	m := &fake.Members[Member]{}
	m.MemberCalls.FailAlways(err)
	return m
}

// The template's contract is checked before the first write from it: a template that does not
// take the onboarder's parameters (Trend's later version, aws-ia/cfn-abi-trend-cloudone@5a525f6:
// a secret ARN, a staging bucket) gets no write and needs a person, naming the parameters; what
// a template declares is read once per URL (and process), and only by a pass that would write.
func TestTemplateContractCheckedBeforeAWrite(t *testing.T) {
	later := "https://mirror.s3.us-east-1.amazonaws.com/trend/5a525f6/main.template.yaml"
	e := newEnv(t, func(c *config.Config) { c.TemplateURL = later })
	e.cfn.Templates = map[string][]cfntypes.ParameterDeclaration{later: {
		{ParameterKey: aws.String("CloudOneApiKeySecret")}, {ParameterKey: aws.String("TrendStagingS3Bucket")},
		{ParameterKey: aws.String(stack.ParamQSS3Bucket), DefaultValue: aws.String("aws-abi-pilot")}, {ParameterKey: aws.String(stack.ParamQSS3KeyPrefix), DefaultValue: aws.String("")},
	}}
	res := e.run()
	expect(t, res, ActionNeedsPerson, fault.NeedsPerson)
	expectWrites(t, e)
	if res.Row != string(RowTemplateRefused) || !strings.Contains(res.Reason, "it does not declare CloudOneApiKey, CreateNewTrail, ExistingCloudtrailBucketName, VisionOneServiceToken") ||
		!strings.Contains(res.Reason, "it requires CloudOneApiKeySecret, TrendStagingS3Bucket") || res.Outcome != OutcomeDLQ {
		t.Fatalf("result %+v", res)
	}
	// Read once: the next pass (an operator's retry) decides from what was read.
	e.run()
	if n := e.cfn.GetTemplateSummaryCalls.Count(); n != 1 {
		t.Errorf("GetTemplateSummary called %d times, want once", n)
	}
	// The URL now serves the v1 parameter set: once the read ages out, the stack is created.
	e.cfn.Templates[later] = v1Parameters()
	e.r.Now = func() time.Time { return time.Now().Add(templateTTL + time.Minute) }
	expect(t, e.run(), ActionCreate, fault.None)
	expectWrites(t, e, "CreateStack")

	// A template that cannot be read fails the pass with its class, and names the action.
	e = newEnv(t)
	e.cfn.GetTemplateSummaryCalls.FailAlways(apiErr("AccessDenied", "not authorized to perform: cloudformation:GetTemplateSummary"))
	res = e.run()
	expect(t, res, ActionFail, fault.Permanent)
	if !strings.Contains(res.Error, "cloudformation:GetTemplateSummary") || !strings.Contains(res.Error, e.r.Cfg.TemplateURL) {
		t.Errorf("error %q", res.Error)
	}
	expectWrites(t, e)

	// A rollout's version that does not take the parameters: its canary gets no write, needs
	// a person, and the rollout records the failure (it halts beyond its tolerance).
	to := rollout.Version{URL: later}
	ro := &fakeRollouts{r: &rollout.Rollout{ID: "r1", From: rollout.Version{URL: config.Default().TemplateURL}, To: to, Waves: [][]string{{acct}}, State: rollout.Running}}
	e = newEnv(t)
	e.r.Rollouts = ro
	e.cfn.Templates = map[string][]cfntypes.ParameterDeclaration{later: {{ParameterKey: aws.String("CloudOneApiKeySecret")}}}
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	res = e.run()
	expect(t, res, ActionNeedsPerson, fault.NeedsPerson)
	expectWrites(t, e)
	if len(ro.recorded) != 1 || !strings.Contains(ro.recorded[0], "failed=true") {
		t.Errorf("rollout recorded %v, want the canary's failure", ro.recorded)
	}
}

// signalRollouts is a rollout store that says when it is read.
type signalRollouts struct {
	fakeRollouts
	read chan struct{}
}

func (s *signalRollouts) Get(ctx context.Context) (*rollout.Rollout, error) {
	close(s.read)
	return s.fakeRollouts.Get(ctx)
}

// A sweep's pass (it carries the ledger digest) reads the rollout beside its first member
// call, not after it: DescribeStacks waits here until the rollout was read, which a pass that
// reads it only when it builds the desired stack would never do.
func TestSweepPassReadsTheRolloutAhead(t *testing.T) {
	e := newEnv(t)
	ro := &signalRollouts{read: make(chan struct{})}
	e.r.Rollouts = ro
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	e.cfn.DescribeStacksCalls.Do(func(ctx context.Context, in *cloudformation.DescribeStacksInput) (*cloudformation.DescribeStacksOutput, error) {
		select {
		case <-ro.read:
		case <-time.After(time.Minute): // a read that is not ahead never comes: no wait on a fast machine
			t.Error("DescribeStacks ran and the rollout had not been read: the read is not ahead")
		}
		e.cfn.DescribeStacksCalls.Do(nil) // the fake's own answer from here on
		return e.cfn.DescribeStacks(ctx, in)
	})
	res := e.runReq(queue.Request{Version: 1, Account: acct, Trigger: "sweep", EventID: "s1", LedgerDigest: "some digest"})
	if res.Class != fault.None {
		t.Fatalf("pass %+v", res)
	}
}
