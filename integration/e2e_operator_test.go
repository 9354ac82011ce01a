//go:build integration

package integration

// The operator command (the real binary) run as a real operator: a person signed in through
// IAM Identity Center to the install account, whose role (AWSReservedSSO_OnboarderOperator_…)
// has only the central stack's operator policy (deploy/template.yaml, OperatorPolicy), every
// call of it evaluated by the IAM gate (checkDenials fails a test on any refusal it did not
// provoke). It needs no key and no member role: what only the worker may read, it asks the
// real reconcile function, under the Lambda emulator, through the local world's Lambda
// endpoint (the fault proxy answers Invoke with the running function).
//
// Each subcommand of the README has a test here, or in e2e_rollout_test.go (rollout start,
// status, resume): validate, status, plan, reconcile (TestE2EOperatorOnboards,
// TestE2EOperatorRetryFailed), replay (TestE2EOperatorReplay), rollout pause and resume and a
// refused version (TestE2EOperatorRollout), dlq list and redrive (TestE2EOperatorDeadLetters);
// the delegated administrator shape (TestE2EOperatorDelegated); what the operator may not do
// (TestE2EOperatorRefused).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithy "github.com/aws/smithy-go"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
)

// memberStackSet makes the member StackSet validate reads, with an instance in the stacks'
// region for each account (the local world makes the member roles itself: its StackSet is
// only what validate's regions check reads).
func (w *world) memberStackSet(accounts ...string) {
	w.t.Helper()
	cfn := cloudformation.NewFromConfig(w.h.Moto.Config(w.ctx, w.env.Region))
	if _, err := cfn.CreateStackSet(w.ctx, &cloudformation.CreateStackSetInput{StackSetName: aws.String("cloudone-onboarder-member"),
		TemplateBody: aws.String(`{"Resources":{"Handle":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}`)}); err != nil {
		w.t.Fatal(err)
	}
	if _, err := cfn.CreateStackInstances(w.ctx, &cloudformation.CreateStackInstancesInput{StackSetName: aws.String("cloudone-onboarder-member"),
		Accounts: accounts, Regions: []string{stackRegion}}); err != nil {
		w.t.Fatal(err)
	}
}

// orgTrail gives the management account the organization trail a Control Tower landing zone
// has: multi-Region, logging, recording management events, in us-east-1 here. It returns the
// trail's name.
func (w *world) orgTrail() string {
	w.t.Helper()
	cfg := w.h.Moto.Config(w.ctx, "us-east-1")
	const name, bucket = "aws-controltower-BaselineCloudTrail", "aws-controltower-logs-123456789012-us-east-1"
	if _, err := localworld.S3(cfg).CreateBucket(w.ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		w.t.Fatal(err)
	}
	ct := cloudtrail.NewFromConfig(cfg)
	if _, err := ct.CreateTrail(w.ctx, &cloudtrail.CreateTrailInput{Name: aws.String(name), S3BucketName: aws.String(bucket),
		IsMultiRegionTrail: aws.Bool(true), IsOrganizationTrail: aws.Bool(true), IncludeGlobalServiceEvents: aws.Bool(true)}); err != nil {
		w.t.Fatal(err)
	}
	if _, err := ct.StartLogging(w.ctx, &cloudtrail.StartLoggingInput{Name: aws.String(name)}); err != nil {
		w.t.Fatal(err)
	}
	if _, err := ct.PutEventSelectors(w.ctx, &cloudtrail.PutEventSelectorsInput{TrailName: aws.String(name), EventSelectors: []cttypes.EventSelector{
		{IncludeManagementEvents: aws.Bool(true), ReadWriteType: cttypes.ReadWriteTypeAll}}}); err != nil {
		w.t.Fatal(err)
	}
	return name
}

// operatorDraining runs the operator command while the pump carries the queue's requests to
// the reconcile function, as Lambda's event source would, and returns its output once the
// command exits; it fails the test on another exit code than want.
func (w *world) operatorDraining(want int, args ...string) string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 3*time.Minute)
	defer cancel()
	type ran struct {
		out, stderr string
		code        int
		err         error
	}
	done := make(chan ran, 1)
	go func() {
		out, stderr, code, err := w.env.RunOperator(ctx, w.h.Operator, args...)
		done <- ran{out, stderr, code, err}
	}()
	for {
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := w.env.Drain(dctx)
		dcancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			w.t.Fatalf("drain: %v", err)
		}
		select {
		case r := <-done:
			if r.err != nil || r.code != want {
				w.t.Fatalf("onboarder %s: exit %d (want %d), %v\n%s\n%s", strings.Join(args, " "), r.code, want, r.err, redact(r.out), redact(r.stderr))
			}
			w.drain()
			return r.out
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// The operator checks the install, sees what would change, reconciles every account and
// sees them onboarded, with no key and no member role of their own.
func TestE2EOperatorOnboards(t *testing.T) {
	w := seedWorldWith(t, "us-east-1", localworld.OU{Name: "Workloads", Accounts: []string{"work-a", "work-b", "work-c"}}).
		start(worldOpts{region: "us-east-1"})
	acct := func(n string) localworld.Account { return w.org.Account(n) }
	w.memberStackSet(acct("work-a").ID, acct("work-b").ID, acct("work-c").ID)
	trailName := w.orgTrail()
	if !strings.Contains(w.env.Operator.RoleARN, ":role/aws-reserved/sso.amazonaws.com/us-east-1/AWSReservedSSO_OnboarderOperator_") {
		t.Fatalf("the operator's role %s is not an IAM Identity Center role", w.env.Operator.RoleARN)
	}

	// validate: every check, the trail included; the guardrail is not deployed here (a WARN).
	out := w.operator(0, "validate")
	for _, want := range []string{
		"OK    configuration   reconcile function " + localworld.ReconcileFunction,
		"OK    aws             account " + localworld.ManagementAccount + " as arn:aws:sts::" + localworld.ManagementAccount + ":assumed-role/AWSReservedSSO_OnboarderOperator_",
		"OK    organization", "OK    shape           installed in the management account",
		"OK    secret", "OK    cloudone key    key " + c1Key.ID + " accepted", ":role/" + localworld.MemberExecutionRole + " assumed in ",
		"OK    template        " + w.env.TemplateURL + " takes the parameters the onboarder sends", "OK    trail           organization trail " + trailName,
		"WARN  guardrail", "OK    regions", "passed, 1 with a warning",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate lacks %q:\n%s", want, out)
		}
	}

	// plan: every account would be created; nothing is written.
	mark := w.h.Recorder.Mark()
	began := time.Now()
	out = w.operator(3, "plan", "--all")
	t.Logf("plan --all of %d accounts as the operator: %s (the command's process, its calls and the worker's dry runs)", 3, time.Since(began).Round(time.Millisecond))
	if !strings.Contains(out, "plan: 3 accounts, 3 would change") || !strings.Contains(out, `CreateNewTrail: "" -> "True"`) ||
		!strings.Contains(out, "**** (secret version") {
		t.Errorf("plan:\n%s", out)
	}
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("plan wrote in member accounts: %s", describeCalls(ws))
	}
	if ids := w.ledgerAccounts(); len(ids) != 0 {
		t.Errorf("plan wrote the ledger: %v", ids)
	}
	// status: the stacks are absent.
	out = w.operator(0, "status")
	if strings.Count(out, "ABSENT") != 3 || !strings.Contains(out, "Workloads") {
		t.Errorf("status before:\n%s", out)
	}

	// reconcile: enqueued, carried out by the worker, followed to the end.
	out = w.operatorDraining(0, "reconcile", "--all", "--poll", "500ms", "--timeout", "2m")
	for _, n := range []string{"work-a", "work-b", "work-c"} {
		if !strings.Contains(out, acct(n).ID+" ("+n+"): in sync") {
			t.Errorf("reconcile does not say %s is in sync:\n%s", n, out)
		}
		checkOnboarded(t, w, acct(n), "True", "")
	}
	if !strings.Contains(out, "enqueued 3 reconcile requests") || !strings.Contains(out, "the worker: create at ") || !strings.Contains(out, "summary: 3 accounts: in sync 3") {
		t.Errorf("reconcile:\n%s", out)
	}
	out = w.operator(0, "status", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 3 {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	for _, r := range rows {
		if r["stackStatus"] != "CREATE_COMPLETE" || r["managed"] != true || r["lastAction"] != "create" || r["forwarding"] != "own trail" {
			t.Errorf("status row %v", r)
		}
	}
	if out := w.operator(0, "plan", "--all"); !strings.Contains(out, "plan: 3 accounts, 0 would change") {
		t.Errorf("plan after:\n%s", out)
	}

	// validate fails when the trail that carries Organizations' events stops.
	if _, err := cloudtrail.NewFromConfig(w.h.Moto.Config(w.ctx, "us-east-1")).StopLogging(w.ctx, &cloudtrail.StopLoggingInput{Name: aws.String(trailName)}); err != nil {
		t.Fatal(err)
	}
	out = w.operator(1, "validate")
	if !strings.Contains(out, "FAIL  trail") || !strings.Contains(out, "it is not logging") || !strings.Contains(out, "1 of 11 checks failed") {
		t.Errorf("validate with the trail stopped:\n%s", out)
	}
}

// The documented recovery: the onboarder's own create rolled back, the account needs a
// person; status says so; the cause fixed, reconcile --retry-failed brings it in sync.
func TestE2EOperatorRetryFailed(t *testing.T) {
	w := newWorld(t, worldOpts{})
	a := w.org.Account("work-a")
	w.h.Faults.FailStacks(proxy.StackFailure{Account: a.ID, Operation: "CREATE", LogicalID: "WorkloadSecurityConnector",
		ResourceType: "Custom::WorkloadSecurity", Reason: "Cloud One Workload Security answered 403"})
	w.onboard(a)
	out := w.operator(0, "status", "--account", a.ID)
	if !strings.Contains(out, "ROLLBACK_COMPLETE") || !strings.Contains(out, "Last reconcile failed (1):") || !strings.Contains(out, "WorkloadSecurityConnector") {
		t.Errorf("status of the failed account:\n%s", out)
	}
	// Without --retry-failed, nothing is written: the account needs a person.
	mark := w.h.Recorder.Mark()
	out = w.operatorDraining(1, "reconcile", "--account", a.ID, "--poll", "500ms")
	if !strings.Contains(out, "needs a person") || !strings.Contains(out, "--retry-failed") {
		t.Errorf("reconcile without --retry-failed:\n%s", out)
	}
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("a write without --retry-failed: %s", describeCalls(ws))
	}
	w.h.Faults.ClearStackFailures()
	out = w.operatorDraining(0, "reconcile", "--account", a.ID, "--retry-failed", "--poll", "500ms")
	if !strings.Contains(out, a.ID+" (work-a): in sync") {
		t.Errorf("reconcile --retry-failed:\n%s", out)
	}
	checkOnboarded(t, w, a, "True", "")
}

// replay replays the stack's archive onto its bus: the replayed events reach the intakes.
func TestE2EOperatorReplay(t *testing.T) {
	w := newWorld(t, worldOpts{allowDenials: []string{"events:DescribeArchive"}})
	if _, err := w.env.CreateArchives(w.ctx); err != nil {
		t.Fatal(err)
	}
	a := w.org.Account("work-a")
	from := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	w.put(localworld.Manual(a.ID)) // onto the default bus, archived in BusName-default
	w.drain()
	checkOnboarded(t, w, a, "True", "")
	var delivered []string
	w.env.Pump.OnDeliver = func(h, body string) { delivered = append(delivered, h+" "+body) }
	defer func() { w.env.Pump.OnDeliver = nil }()
	to := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	out := w.operator(0, "replay", "--archive", localworld.BusName+"-default", "--from", from, "--to", to, "--name", "op-replay-1", "--wait", "--poll", "200ms")
	if !strings.Contains(out, "replay op-replay-1 started: archive "+localworld.BusName+"-default") || !strings.Contains(out, "replay op-replay-1 COMPLETED") ||
		!strings.Contains(out, "onto arn:aws:events:"+w.env.Region+":"+localworld.ManagementAccount+":event-bus/default") {
		t.Errorf("replay:\n%s", out)
	}
	w.drain()
	replayed := 0
	for _, d := range delivered {
		if strings.HasPrefix(d, "sweep ") && strings.Contains(d, "op-replay-1") {
			replayed++
		}
	}
	if replayed == 0 {
		t.Errorf("no replayed event reached the sweep (%d deliveries)", len(delivered))
	}
	// An archive that is not the stack's is refused the operator, and the refusal is named.
	_, stderr := w.operatorErr(1, "replay", "--archive", "someone-elses", "--from", from, "--to", to)
	if !strings.Contains(stderr, "describe archive someone-elses") || !strings.Contains(stderr, "AccessDenied") {
		t.Errorf("replay of another archive:\n%s", stderr)
	}
}

// A rollout paused and resumed by the operator, and a version whose template does not take
// the parameters the onboarder sends refused before anything is written.
func TestE2EOperatorRollout(t *testing.T) {
	names := []string{"canary", "roll-a", "roll-b"}
	w := seedWorldWith(t, "us-east-1", localworld.OU{Name: "Workloads", Accounts: names}).start(worldOpts{region: "us-east-1"})
	acct := func(n string) localworld.Account { return w.org.Account(n) }
	w.put(localworld.Manual())
	w.drain()

	// A later template, which takes the key from a secret ARN: refused, nothing written.
	later := bytes.ReplaceAll(localworld.OnboardingTemplate, []byte("CloudOneApiKey"), []byte("CloudOneApiKeySecret"))
	if bytes.Equal(later, localworld.OnboardingTemplate) {
		t.Fatal("the stand-in template has no CloudOneApiKey parameter to rename")
	}
	if _, err := localworld.S3(w.h.Moto.Config(w.ctx, "us-east-1")).PutObject(w.ctx, &s3.PutObjectInput{Bucket: aws.String(localworld.TemplateBucket),
		Key: aws.String("cloudone/v3/onboarding-template.yaml"), Body: bytes.NewReader(later)}); err != nil {
		t.Fatal(err)
	}
	v3 := w.h.Moto.ObjectURL(localworld.TemplateBucket, "cloudone/v3/onboarding-template.yaml")
	mark := w.h.Recorder.Mark()
	_, stderr := w.operatorErr(1, "rollout", "start", "--template-url", v3, "--canary", acct("canary").ID)
	if !strings.Contains(stderr, "refused, nothing was written") || !strings.Contains(stderr, "does not declare CloudOneApiKey and requires CloudOneApiKeySecret") {
		t.Errorf("rollout start of a later template:\n%s", stderr)
	}
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("writes after the refusal: %s", describeCalls(ws))
	}
	if r := w.rolloutItem(); r != nil {
		t.Errorf("a rollout was written: %+v", r)
	}

	// A good version: started, paused before the canary's wave completes, resumed.
	v2 := w.uploadTemplate("cloudone/v2/onboarding-template.yaml", "Version 2")
	out := w.operator(0, "rollout", "start", "--template-url", v2, "--canary", acct("canary").ID, "--batch", "1")
	if !strings.Contains(out, "wave 1: 1 accounts (canary, enqueued)") {
		t.Fatalf("rollout start:\n%s", out)
	}
	out = w.operator(0, "rollout", "pause")
	if !strings.Contains(out, "paused at wave 1 of 3") {
		t.Errorf("rollout pause:\n%s", out)
	}
	w.drain()
	if r := w.rollout(); r.State != rollout.Paused || r.Wave != 0 {
		t.Errorf("paused rollout after the canary: %s wave %d", r.State, r.Wave)
	}
	for _, n := range names[1:] {
		if got := localworld.StackTags(w.stack(acct(n).ID, stackRegion, stackName))["cloudone-onboarder:template"]; got == v2 {
			t.Errorf("%s got the new version while the rollout was paused", n)
		}
	}
	out = w.operator(0, "rollout", "status")
	if !strings.Contains(out, "PAUSED, wave 1 of 3") {
		t.Errorf("rollout status:\n%s", out)
	}
	out = w.operator(0, "rollout", "resume")
	if !strings.Contains(out, "resumed at wave 1 of 3") {
		t.Errorf("rollout resume:\n%s", out)
	}
	w.drain()
	if r := w.rollout(); r.State != rollout.Done {
		t.Errorf("rollout after the resume: %s %q", r.State, r.Reason)
	}
	for _, n := range names {
		if got := localworld.StackTags(w.stack(acct(n).ID, stackRegion, stackName))["cloudone-onboarder:template"]; got != v2 {
			t.Errorf("%s has template %q, want %s", n, got, v2)
		}
	}
}

// rolloutItem reads the rollout, nil when there is none.
func (w *world) rolloutItem() *rollout.Rollout {
	w.t.Helper()
	st := &rollout.Store{DB: dynamodb.NewFromConfig(w.env.Central()), Table: localworld.LedgerTable}
	r, err := st.Get(context.WithoutCancel(w.ctx))
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// operatorErr is operator that also returns stderr.
func (w *world) operatorErr(want int, args ...string) (string, string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 2*time.Minute)
	defer cancel()
	out, stderr, code, err := w.env.RunOperator(ctx, w.h.Operator, args...)
	if err != nil || code != want {
		w.t.Fatalf("onboarder %s: exit %d (want %d), %v\n%s\n%s", strings.Join(args, " "), code, want, err, redact(out), redact(stderr))
	}
	return out, stderr
}

// Both kinds of dead letters: the worker's own (a permanent failure: the Cloud One key was
// refused) and one SQS moved after MaxReceiveCount receives. dlq list shows both; dlq redrive
// sends them back once the cause is fixed, and the accounts are onboarded.
func TestE2EOperatorDeadLetters(t *testing.T) {
	w := newWorld(t, worldOpts{})
	refused, moved := w.org.Account("work-a"), w.org.Account("work-b")
	central := sqs.NewFromConfig(w.env.Central())

	// The worker's own: Cloud One refuses the key, a permanent failure, dead-lettered at once.
	w.h.CloudOne.Fail(401)
	w.put(localworld.Manual(refused.ID))
	w.drain()
	w.h.CloudOne.Fail(0)

	// SQS's: a request no worker deletes, received MaxReceiveCount times (as a crashing
	// consumer would), is moved to the DLQ by the queue's redrive policy on the next receive
	// (moto/sqs/models.py, receive_message).
	req := queue.Request{Version: queue.Version, Account: moved.ID, Trigger: "manual", EventID: "lost-1", Reason: "a request nobody handled"}
	if err := (&queue.Sender{SQS: central, QueueURL: w.env.QueueURL}).Send(w.ctx, []queue.Request{req}); err != nil {
		t.Fatal(err)
	}
	// A consumer that gives up makes the message visible again at once (a ReceiveMessage
	// VisibilityTimeout of 0 is not sent by the SDK: service/sqs/api_op_ReceiveMessage.go
	// writes it only when it is not zero).
	for i := 0; i <= 50; i++ {
		out, err := central.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.env.QueueURL), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			if _, err := central.ChangeMessageVisibility(w.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(w.env.QueueURL),
				ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := w.dlqDepth(); got != "2" {
		t.Fatalf("%s messages in the DLQ, want 2 (the worker's and SQS's)", got)
	}

	out := w.operator(0, "dlq", "list", "--json")
	var list []struct {
		Account, Class, Reason, MessageID string
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 {
		t.Fatalf("dlq list --json: %v\n%s", err, out)
	}
	by := map[string]int{}
	for i, m := range list {
		by[m.Account] = i
	}
	if m := list[by[refused.ID]]; m.Class != "permanent" || !strings.Contains(m.Reason, "Cloud One") {
		t.Errorf("the worker's dead letter: %+v", m)
	}
	if m := list[by[moved.ID]]; m.Class != "" || !strings.Contains(m.Reason, "moved by SQS") {
		t.Errorf("SQS's dead letter: %+v", m)
	}
	if got := w.dlqDepth(); got != "2" {
		t.Errorf("dlq list left %s messages, want 2", got)
	}

	out = w.operator(0, "dlq", "redrive", "--account", refused.ID)
	if !strings.Contains(out, "redrive: 1 sent back") || !strings.Contains(out, "1 left in the dead-letter queue") {
		t.Errorf("dlq redrive --account:\n%s", out)
	}
	out = w.operator(0, "dlq", "redrive", "--all")
	if !strings.Contains(out, "redrive: 1 sent back") || !strings.Contains(out, "[moved by SQS]") {
		t.Errorf("dlq redrive --all:\n%s", out)
	}
	w.drain()
	if got := w.dlqDepth(); got != "0" {
		t.Errorf("%s messages left in the DLQ", got)
	}
	checkOnboarded(t, w, refused, "True", "")
	checkOnboarded(t, w, moved, "True", "")
}

// The delegated administrator shape (docs/DEPLOY.md, section 13): the operator is a person of
// the install account; the Organizations reads go through the delegation.
func TestE2EOperatorDelegated(t *testing.T) {
	w0 := seedWorldWith(t, "eu-west-1",
		localworld.OU{Name: "Security", Accounts: []string{"security"}},
		localworld.OU{Name: "Workloads", Accounts: []string{"work-x", "work-y"}})
	install := w0.org.Account("security").ID
	w := w0.start(worldOpts{region: "eu-west-1", install: install})
	if !strings.HasPrefix(w.env.Operator.RoleARN, "arn:aws:iam::"+install+":role/aws-reserved/sso.amazonaws.com/eu-west-1/") {
		t.Fatalf("the operator's role %s is not of the install account", w.env.Operator.RoleARN)
	}
	w.orgTrail()
	out := w.operator(1, "validate") // no member StackSet in this world: the regions check fails
	for _, want := range []string{"OK    aws             account " + install, "OK    shape           a delegated administrator install in " + install,
		"OK    organization", "OK    secret", "OK    execution role", "OK    template",
		// moto shows an organization trail to the management account only
		// (moto/cloudtrail/models.py, describe_trails reads the caller's own account); AWS
		// shows it to members too ("Creating a trail for an organization").
		"WARN  trail           no organization trail is visible from this account",
		"FAIL  regions"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate lacks %q:\n%s", want, out)
		}
	}
	out = w.operator(3, "plan", "--all")
	if !strings.Contains(out, "plan: 3 accounts, 3 would change") {
		t.Errorf("plan:\n%s", out)
	}
	out = w.operatorDraining(0, "reconcile", "--all", "--poll", "500ms")
	if !strings.Contains(out, "summary: 3 accounts: in sync 3") {
		t.Errorf("reconcile:\n%s", out)
	}
	out = w.operator(0, "status")
	if strings.Count(out, "CREATE_COMPLETE") != 3 {
		t.Errorf("status:\n%s", out)
	}
}

// What the operator may not do, on AWS as here: read the Cloud One key, enter a member
// account, invoke another function, drain the worker's queue. Each is refused by the IAM gate.
func TestE2EOperatorRefused(t *testing.T) {
	denied := []string{"secretsmanager:GetSecretValue", "sts:AssumeRole", "lambda:InvokeFunction", "sqs:ReceiveMessage", "dynamodb:PutItem"}
	w := newWorld(t, worldOpts{allowDenials: denied})
	cfg, err := w.env.OperatorConfig(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := w.org.Account("work-a")
	refused := func(what string, err error) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || !strings.Contains(ae.ErrorCode(), "AccessDenied") {
			t.Errorf("%s: %v, want AccessDenied", what, err)
		}
	}
	_, err = secretsmanager.NewFromConfig(cfg).GetSecretValue(w.ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(w.env.SecretARN)})
	refused("reading the secret", err)
	for _, role := range []string{localworld.MemberExecutionRole, localworld.ExecutionRole} {
		_, err = sts.NewFromConfig(cfg).AssumeRole(w.ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + a.ID + ":role/" + role),
			RoleSessionName: aws.String("cloudone-onboarder")})
		refused("assuming "+role+" in a member account", err)
	}
	_, err = lambda.NewFromConfig(cfg).Invoke(w.ctx, &lambda.InvokeInput{FunctionName: aws.String("onboarder-sweep"), Payload: []byte(`{}`)})
	refused("invoking the sweep", err)
	_, err = sqs.NewFromConfig(cfg).ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.env.QueueURL)})
	refused("receiving the worker's requests", err)
	_, err = dynamodb.NewFromConfig(cfg).PutItem(w.ctx, &dynamodb.PutItemInput{TableName: aws.String(localworld.LedgerTable),
		Item: map[string]ddbtypes.AttributeValue{"account": &ddbtypes.AttributeValueMemberS{Value: a.ID}}})
	refused("writing an account's ledger entry", err)

	got := map[string]bool{}
	for _, d := range w.h.Faults.Denials() {
		if strings.Contains(d.Caller, localworld.OperatorPermissionSet) {
			got[d.Action] = true
		}
	}
	for _, a := range denied {
		if !got[a] {
			t.Errorf("the gate recorded no refusal of %s to the operator (%v)", a, got)
		}
	}
	// What the operator may do still works: the worker answers it.
	if out := w.operator(0, "status", "--account", a.ID); !strings.Contains(out, "ABSENT") {
		t.Errorf("status:\n%s", out)
	}
}
