package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
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
	calls  *calls
	cfn    *fakeCFN
	trails *fakeTrail
	s3     *fakeS3
	r      *Reconciler
	ledger *fakeLedger
	logs   *bytes.Buffer
}

func newEnv(t *testing.T, mutate ...func(*config.Config)) *env {
	t.Helper()
	c := &calls{}
	cfg := config.Default()
	cfg.SecretARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:onboarder-AbCdEf"
	cfg.CloudOneRegion = "us-1"
	cfg.WaitMinDelay = time.Millisecond
	cfg.WaitMargin = 0
	for _, m := range mutate {
		m(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e := &env{
		t: t, calls: c,
		cfn:    &fakeCFN{calls: c},
		trails: &fakeTrail{calls: c, logging: map[string]bool{}, selectors: map[string]*cloudtrail.GetEventSelectorsOutput{}, tags: map[string][]cttypes.Tag{}},
		s3:     &fakeS3{calls: c},
		ledger: &fakeLedger{},
		logs:   &bytes.Buffer{},
	}
	e.r = &Reconciler{
		Cfg:      cfg,
		Secrets:  &fakeSecrets{creds: secret.Credentials{APIKey: secret.NewValue(apiKey), ServiceToken: secret.NewValue(apiToken), VersionID: "v1"}},
		CloudOne: &fakeCloudOne{key: cloudone.Key{ID: "KEYID123", Region: "us-1"}},
		Members: &fakeMembers{m: Member{CloudFormation: e.cfn, Trails: trail.Clients{
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := e.r.Reconcile(ctx, queue.Request{Version: 1, Account: acct, Trigger: "test", EventID: "e1"})
	e.t.Logf("result: %+v", res)
	e.t.Logf("calls: %v", e.calls.list())
	return res
}

// addTrail gives the account a trail to its own bucket.
func (e *env) addTrail(name, bucket string, logging bool) {
	t := trailOf(acct, region, name, bucket, true)
	e.trails.trails = append(e.trails.trails, t)
	e.trails.logging[aws.ToString(t.TrailARN)] = logging
	e.s3.own = append(e.s3.own, bucket)
}

// seedStack puts a stack as the onboarder would have made it, then sets its status.
func (e *env) seedStack(status cfntypes.StackStatus, bucket string) {
	e.t.Helper()
	createNew := "True"
	if bucket != "" {
		createNew = "False"
	}
	d := stack.Desired{Name: "CloudOne", TemplateURL: e.r.Cfg.TemplateURL, Params: map[string]string{
		stack.ParamCreateNew: createNew, stack.ParamBucket: bucket,
		stack.ParamQSS3Bucket: e.r.Cfg.QSS3BucketName, stack.ParamQSS3KeyPrefix: e.r.Cfg.QSS3KeyPrefix,
	}, Creds: secret.Credentials{APIKey: secret.NewValue(apiKey), ServiceToken: secret.NewValue(apiToken), VersionID: "v1"}}
	e.cfn.stack = &cfntypes.Stack{
		StackName: aws.String("CloudOne"), StackId: aws.String("arn:aws:cloudformation:us-east-1:" + acct + ":stack/CloudOne/1"),
		StackStatus: status, StackStatusReason: aws.String("seeded"), Parameters: masked(d.Parameters()), Tags: d.Tags(nil),
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
	if got := e.calls.writes(); !slices.Equal(got, want) {
		t.Fatalf("write calls %v, want %v", got, want)
	}
}

// Row: absent -> CreateStack.
func TestAbsentCreates(t *testing.T) {
	e := newEnv(t)
	res := e.run()
	expect(t, res, ActionCreate, fault.None)
	expectWrites(t, e, "CreateStack")
	in := e.cfn.lastCreate
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
	if res.StatusBefore != "ABSENT" || res.StatusAfter != "CREATE_COMPLETE" || res.Region != region {
		t.Fatalf("statuses %s -> %s in %s", res.StatusBefore, res.StatusAfter, res.Region)
	}
	if len(e.ledger.entries) != 1 || !e.ledger.entries[0].Managed || !e.ledger.entries[0].CreateNewTrail {
		t.Fatalf("ledger %+v", e.ledger.entries)
	}
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
			if got := e.calls.list(); !slices.Equal(got, []string{"DescribeStacks", "DescribeTrails", "GetTrailStatus"}) {
				t.Fatalf("in-sync calls %v", got)
			}
			if !res.InSync() {
				t.Fatal("not in sync")
			}
		})
	}
}

// Row: *_COMPLETE and something differs -> UpdateStack, with the other tags kept.
func TestCompleteDiffersUpdates(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	e.cfn.stack.Tags = append(e.cfn.stack.Tags, cfntypes.Tag{Key: aws.String("team"), Value: aws.String("secops")})
	e.r.Cfg.QSS3KeyPrefix = "mirror/"
	res := e.run()
	expect(t, res, ActionUpdate, fault.None)
	expectWrites(t, e, "UpdateStack")
	if tags(e.cfn.lastUpdate.Tags)["team"] != "secops" {
		t.Fatal("UpdateStack dropped a tag that is not ours")
	}
	if len(res.Changes) != 1 || res.Changes[0].Parameter != "QSS3KeyPrefix" || res.Changes[0].After != "mirror/" {
		t.Fatalf("changes %+v", res.Changes)
	}
}

// Row: "No updates are to be performed." is success.
func TestNoUpdatesIsSuccess(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusUpdateComplete, "")
	e.cfn.stack.Tags = nil // the fingerprint is missing: the onboarder thinks it differs
	e.cfn.stack.Tags = []cfntypes.Tag{{Key: aws.String(stack.TagManaged), Value: aws.String("true")}, {Key: aws.String(stack.TagSecretVersion), Value: aws.String("v1")}}
	e.cfn.updateErr = apiErr("ValidationError", "No updates are to be performed.")
	res := e.run()
	expect(t, res, ActionNone, fault.None)
	expectWrites(t, e, "UpdateStack")
}

// Rows: ROLLBACK_COMPLETE, ROLLBACK_FAILED, CREATE_FAILED -> DeleteStack, wait, CreateStack.
func TestFailedStatesRecreate(t *testing.T) {
	for _, st := range []cfntypes.StackStatus{"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED"} {
		t.Run(string(st), func(t *testing.T) {
			e := newEnv(t)
			e.seedStack(st, "")
			res := e.run()
			expect(t, res, ActionRecreate, fault.None)
			expectWrites(t, e, "DeleteStack", "CreateStack")
			if res.StatusBefore != string(st) || res.StatusAfter != "CREATE_COMPLETE" {
				t.Fatalf("%s -> %s", res.StatusBefore, res.StatusAfter)
			}
		})
	}
}

// Row: UPDATE_ROLLBACK_FAILED -> ContinueUpdateRollback, wait, decide again.
func TestUpdateRollbackFailedContinues(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusUpdateRollbackFailed, "")
	e.r.Cfg.QSS3BucketName = "mirrorbucket" // after the rollback the stack still differs
	res := e.run()
	expect(t, res, ActionContinueRollback, fault.None)
	expectWrites(t, e, "ContinueUpdateRollback", "UpdateStack")
}

// Row: *_IN_PROGRESS -> wait inside the deadline, then decide.
func TestInProgressWaitsThenDecides(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusUpdateInProgress, "")
	// describe #1 (decide) and #2 (waiter) show in progress, then it settles.
	e.cfn.next = []cfntypes.StackStatus{"UPDATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"}
	res := e.run()
	expect(t, res, ActionWait, fault.None)
	expectWrites(t, e)
	if res.StatusAfter != "UPDATE_COMPLETE" {
		t.Fatalf("after %s", res.StatusAfter)
	}
}

// Row: *_IN_PROGRESS past the deadline -> transient: the message goes back to the queue.
func TestInProgressPastDeadlineIsTransient(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusCreateInProgress, "")
	e.r.Cfg.WaitMargin = time.Hour // no time left to wait
	res := e.run()
	expect(t, res, ActionWait, fault.Transient)
	expectWrites(t, e)
}

// Row: DELETE_FAILED -> needs a person.
func TestDeleteFailedNeedsPerson(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusDeleteFailed, "")
	res := e.run()
	expect(t, res, ActionNeedsPerson, fault.NeedsPerson)
	expectWrites(t, e)
	if !strings.Contains(res.Error, "DELETE_FAILED") {
		t.Fatalf("error %q does not say what is wrong", res.Error)
	}
}

// Our own create rolled back within this reconcile: not looped on, retried later.
func TestOwnCreateRolledBackIsTransient(t *testing.T) {
	e := newEnv(t)
	e.cfn.afterCreate = cfntypes.StackStatusRollbackComplete
	res := e.run()
	expect(t, res, ActionCreate, fault.Transient)
	expectWrites(t, e, "CreateStack")
}

// Row: exists, not created by the onboarder -> left alone and reported; adopted when configured.
func TestNotOursLeftAloneUnlessAdopting(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	e.cfn.stack.Tags = []cfntypes.Tag{{Key: aws.String("owner"), Value: aws.String("someone")}}
	res := e.run()
	expect(t, res, ActionLeaveAlone, fault.None)
	expectWrites(t, e)
	if res.Managed || !strings.Contains(res.Reason, "not created by the onboarder") {
		t.Fatalf("reason %q", res.Reason)
	}

	e = newEnv(t, func(c *config.Config) { c.AdoptExisting = true })
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	e.cfn.stack.Tags = []cfntypes.Tag{{Key: aws.String("owner"), Value: aws.String("someone")}}
	res = e.run()
	expect(t, res, ActionUpdate, fault.None)
	tg := tags(e.cfn.lastUpdate.Tags)
	if tg["owner"] != "someone" || tg[stack.TagManaged] != "true" {
		t.Fatalf("adopted tags %v", tg)
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
		{"new ignores trails", config.TrailNew, true, true, "True", "", fault.None, []string{"DescribeStacks", "CreateStack", "DescribeStacks", "DescribeStacks"}},
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
			p := params(e.cfn.lastCreate.Parameters)
			if p["CreateNewTrail"] != tc.wantNew || p["ExistingCloudtrailBucketName"] != tc.wantBucket {
				t.Fatalf("params %v", p)
			}
			if tc.wantCalls != nil && !slices.Equal(e.calls.list(), tc.wantCalls) {
				t.Fatalf("calls %v, want %v", e.calls.list(), tc.wantCalls)
			}
		})
	}
}

// Which trails qualify: another account's, another region's, a foreign bucket, no
// management events.
func TestTrailEligibility(t *testing.T) {
	e := newEnv(t)
	org := trailOf("999999999999", region, "org-trail", "log-archive", true)
	org.IsOrganizationTrail = aws.Bool(true)
	other := trailOf(acct, "eu-west-1", "eu-only", "eu-bucket", false)
	foreign := trailOf(acct, region, "foreign", "not-mine", true)
	dataOnly := trailOf(acct, region, "data-only", "data-bucket", true)
	dataOnly.HasCustomEventSelectors = aws.Bool(true)
	e.trails.trails = []cttypes.Trail{org, other, foreign, dataOnly}
	for _, tr := range e.trails.trails {
		e.trails.logging[aws.ToString(tr.TrailARN)] = true
	}
	e.s3.own = []string{"eu-bucket", "data-bucket"}
	e.trails.selectors[aws.ToString(dataOnly.TrailARN)] = &cloudtrail.GetEventSelectorsOutput{EventSelectors: []cttypes.EventSelector{{IncludeManagementEvents: aws.Bool(false), ReadWriteType: cttypes.ReadWriteTypeAll}}}
	res := e.run()
	expect(t, res, ActionCreate, fault.None)
	if p := params(e.cfn.lastCreate.Parameters); p["CreateNewTrail"] != "True" {
		t.Fatalf("params %v", p)
	}
	if len(res.Trail.Skipped) != 4 {
		t.Fatalf("skipped %v", res.Trail.Skipped)
	}

	// Advanced selectors with the Management category qualify.
	e = newEnv(t)
	e.addTrail("adv", "adv-bucket", true)
	e.trails.trails[0].HasCustomEventSelectors = aws.Bool(true)
	e.trails.selectors[aws.ToString(e.trails.trails[0].TrailARN)] = &cloudtrail.GetEventSelectorsOutput{AdvancedEventSelectors: []cttypes.AdvancedEventSelector{{
		FieldSelectors: []cttypes.AdvancedFieldSelector{{Field: aws.String("eventCategory"), Equals: []string{"Management"}}},
	}}}
	e.run()
	if p := params(e.cfn.lastCreate.Parameters); p["ExistingCloudtrailBucketName"] != "adv-bucket" {
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
	if !res.Trail.Restarted || !e.trails.logging[aws.ToString(e.trails.trails[0].TrailARN)] {
		t.Fatal("trail not restarted")
	}
}

// Repair: the forwarding trail was deleted -> resolved again, the stack updated.
func TestDeletedForwardingTrailIsReResolved(t *testing.T) {
	e := newEnv(t)
	e.seedStack(cfntypes.StackStatusCreateComplete, "own-bucket") // no trail any more
	res := e.run()
	expect(t, res, ActionUpdate, fault.None)
	p := params(e.cfn.lastUpdate.Parameters)
	if p["CreateNewTrail"] != "True" || p["ExistingCloudtrailBucketName"] != "" {
		t.Fatalf("params %v", p)
	}

	// ... or to another suitable trail when there is one.
	e = newEnv(t)
	e.addTrail("second", "second-bucket", true)
	e.seedStack(cfntypes.StackStatusCreateComplete, "own-bucket")
	expect(t, e.run(), ActionUpdate, fault.None)
	if p := params(e.cfn.lastUpdate.Parameters); p["CreateNewTrail"] != "False" || p["ExistingCloudtrailBucketName"] != "second-bucket" {
		t.Fatalf("params %v", p)
	}
}

// A stack that made its own trail keeps it in auto mode (no flapping to another trail), and
// its trail, found by the tag CloudFormation propagates, is started again when stopped.
func TestOwnTrailIsKeptAndRepaired(t *testing.T) {
	e := newEnv(t)
	e.addTrail("other", "other-bucket", true)
	e.addTrail("CloudOne-trail", "cloudone-stack-bucket", false)
	own := aws.ToString(e.trails.trails[1].TrailARN)
	e.trails.tags[own] = []cttypes.Tag{{Key: aws.String(stack.TagManaged), Value: aws.String("true")}}
	e.seedStack(cfntypes.StackStatusCreateComplete, "")
	res := e.run()
	expect(t, res, ActionStartLogging, fault.None)
	expectWrites(t, e, "StartLogging CloudOne-trail")
	if !e.trails.logging[own] || res.Trail.TrailARN != own || !res.Trail.CreateNewTrail {
		t.Fatalf("trail %+v", res.Trail)
	}
	// Logging again: in sync, and the own trail is never offered as an existing bucket.
	res = e.run()
	expect(t, res, ActionNone, fault.None)

	e = newEnv(t)
	e.addTrail("CloudOne-trail", "cloudone-stack-bucket", true)
	e.trails.tags[aws.ToString(e.trails.trails[0].TrailARN)] = []cttypes.Tag{{Key: aws.String(stack.TagManaged), Value: aws.String("true")}}
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
		{"rolled back", func(e *env) { e.seedStack("ROLLBACK_COMPLETE", "") }, ActionRecreate},
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
			if !res.DryRun || len(e.ledger.entries) != 0 {
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
	if len(e.calls.list()) != 0 {
		t.Fatal("calls made for a bad account id")
	}
}

// Throttling that outlasts the SDK's retries is transient.
func TestThrottlingIsTransient(t *testing.T) {
	e := newEnv(t)
	e.trails.err = apiErr("ThrottlingException", "Rate exceeded")
	expect(t, e.run(), ActionFail, fault.Transient)
}

// The API key and the token appear in no log line, no error and no result, even when every
// call fails and the failures quote them.
func TestSecretsNeverLeak(t *testing.T) {
	failures := []error{
		apiErr("ValidationError", "Parameter CloudOneApiKey value "+apiKey+" is invalid"),
		apiErr("AccessDenied", "token "+apiToken+" denied"),
		apiErr("InternalFailure", apiKey+apiToken),
	}
	for _, f := range failures {
		e := newEnv(t)
		e.cfn.createErr = f
		res := e.run()
		e2 := newEnv(t)
		e2.trails.err = f
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
	if got := aws.ToString(e.cfn.lastCreate.RoleARN); got != "arn:aws:iam::"+acct+":role/CloudOneOnboarderCfn" {
		t.Fatalf("RoleARN %q", got)
	}
	e = newEnv(t)
	e.run()
	if e.cfn.lastCreate.RoleARN != nil {
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
	if len(e.ledger.entries) != 1 {
		t.Fatalf("first reconcile wrote %d entries", len(e.ledger.entries))
	}
	stored := e.ledger.entries[0]
	req := queue.Request{Version: 1, Account: acct, Trigger: "sweep", EventID: "e2", LedgerDigest: stored.Digest()}
	e.r.Now = func() time.Time { return time.Now().Add(time.Hour) } // only the time differs
	if res := e.r.Reconcile(context.Background(), req); !res.InSync() || len(e.ledger.entries) != 1 {
		t.Fatalf("unchanged entry rewritten: %d writes, %+v", len(e.ledger.entries), res)
	}
	e.trails.logging[aws.ToString(e.trails.trails[0].TrailARN)] = false // the trail stopped: logging is started again
	if res := e.r.Reconcile(context.Background(), req); res.Action != ActionStartLogging || len(e.ledger.entries) != 2 {
		t.Fatalf("a change with the same end state not written: %d writes, %+v", len(e.ledger.entries), res)
	}
	if got := e.ledger.entries[1]; got.Action != string(ActionStartLogging) || got.Digest() != stored.Digest() {
		t.Fatalf("entry after start-logging: %+v (its state is the same, its action is new)", got)
	}
	// The next sweep finds it in sync: the entry keeps saying what was last changed.
	req.LedgerDigest = e.ledger.entries[1].Digest()
	if res := e.r.Reconcile(context.Background(), req); !res.InSync() || len(e.ledger.entries) != 2 {
		t.Fatalf("in sync after a change: %d writes, %+v", len(e.ledger.entries), res)
	}
	// A failure is written, and so is the recovery from it.
	e.cfn.describeErr = errors.New("boom")
	if res := e.r.Reconcile(context.Background(), req); res.Class == fault.None || len(e.ledger.entries) != 3 {
		t.Fatalf("failure: %d writes, %+v", len(e.ledger.entries), res)
	}
	e.cfn.describeErr = nil
	req.LedgerDigest = e.ledger.entries[2].Digest()
	if res := e.r.Reconcile(context.Background(), req); !res.InSync() || len(e.ledger.entries) != 4 {
		t.Fatalf("recovery: %d writes, %+v", len(e.ledger.entries), res)
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
	if len(e.ledger.entries) != 1 || e.ledger.gets != 1 {
		t.Fatalf("first reconcile: %d writes, %d reads; want 1, 1", len(e.ledger.entries), e.ledger.gets)
	}
	e.r.Now = func() time.Time { return time.Now().Add(time.Hour) }
	if res := e.r.Reconcile(context.Background(), req); !res.InSync() || len(e.ledger.entries) != 1 || e.ledger.gets != 2 {
		t.Fatalf("in sync again: %d writes, %d reads; want 1, 2: %+v", len(e.ledger.entries), e.ledger.gets, res)
	}
	e.trails.logging[aws.ToString(e.trails.trails[0].TrailARN)] = false
	if res := e.r.Reconcile(context.Background(), req); res.Action != ActionStartLogging || len(e.ledger.entries) != 2 || e.ledger.gets != 2 {
		t.Fatalf("a change: %d writes, %d reads; want 2, 2: %+v", len(e.ledger.entries), e.ledger.gets, res)
	}
	e.ledger.getErr = errors.New("ThrottlingException")
	if res := e.r.Reconcile(context.Background(), req); !res.InSync() || len(e.ledger.entries) != 3 {
		t.Fatalf("ledger unreadable: %d writes, want 3: %+v", len(e.ledger.entries), res)
	}
}
