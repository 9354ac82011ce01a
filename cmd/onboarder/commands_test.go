package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	smithy "github.com/aws/smithy-go"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/operator"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
)

func TestUsageErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"plan"}, "--account ID (repeatable) or use --all"},
		{[]string{"plan", "--all", "--account", f.members[0]}, "exclude each other"},
		{[]string{"plan", "--account", "12345678901"}, `--account "12345678901": must be a 12-digit`},
		{[]string{"reconcile", "--account", f.members[0], "--account", "abc"}, `--account "abc"`},
		{[]string{"reconcile", "--all", "--concurrency", "0"}, "--concurrency 0"},
		{[]string{"reconcile", "--all", "--timeout", "0s"}, "--timeout 0s"},
		{[]string{"status", "--account", "1234567890123"}, `"1234567890123"`},
		{[]string{"status", "--nope"}, "unknown flag: --nope"},
		{[]string{"validate", "extra"}, `unknown command "extra"`},
		{[]string{"replay", "--from", "2025-01-01T00:00:00Z", "--to", "2025-01-02T00:00:00Z"}, `"archive" not set`},
		{[]string{"replay", "--archive", "a", "--from", "yesterday", "--to", "2025-01-02T00:00:00Z"}, `--from "yesterday": not an RFC3339 time`},
		{[]string{"replay", "--archive", "a", "--from", "2025-01-02T00:00:00Z", "--to", "2025-01-01T00:00:00Z"}, "must be before"},
		{[]string{"dlq", "redrive"}, "--account ID (repeatable) or use --all"},
		{[]string{"dlq", "list", "x"}, `unknown command "x"`},
		{[]string{"rollout", "start", "--canary", f.members[0]}, "--template-url: required"},
	} {
		r := f.runExit(exitUsage, tc.args...)
		if !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "--help' for usage") {
			t.Errorf("onboarder %v: stderr %q lacks %q", tc.args, r.stderr, tc.want)
		}
	}
	if n := f.lambda.InvokeCalls.Count(); n != 0 {
		t.Errorf("a usage error invoked the worker %d times", n)
	}
	for _, c := range []string{"validate", "status", "plan", "reconcile", "replay", "rollout", "dlq"} {
		r := f.runExit(exitOK, c, "--help")
		if !strings.Contains(r.stdout, "Exit codes") || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("%s --help:\n%s", c, r.stdout)
		}
	}
	if r := f.runExit(exitOK, "--help"); !strings.Contains(r.stdout, "3  plan only") || !strings.Contains(r.stdout, FunctionVar) {
		t.Errorf("root help:\n%s", r.stdout)
	}
}

// The command needs the function's name; a worker whose configuration is invalid is named.
func TestTheWorkerIsNeeded(t *testing.T) {
	f := newFixture(t)
	delete(f.env, FunctionVar)
	r := f.runExit(exitFailure, "status")
	if !strings.Contains(r.stderr, FunctionVar+" is not set") || !strings.Contains(r.stderr, "ReconcileFunctionName") {
		t.Errorf("without the function: %s", r.stderr)
	}
	f.env[FunctionVar] = "nope"
	if r := f.runExit(exitFailure, "status"); !strings.Contains(r.stderr, "ResourceNotFoundException") || !strings.Contains(r.stderr, "ReconcileFunctionName") {
		t.Errorf("another function: %s", r.stderr)
	}
	f.env[FunctionVar] = function
	f.worker.cfgErr = `ONBOARDER_STACK_NAME="WayTooLongName": must be 1 to 8 characters`
	if r := f.runExit(exitFailure, "plan", "--all"); !strings.Contains(r.stderr, "configuration (the central stack's parameters) is invalid") || !strings.Contains(r.stderr, "WayTooLongName") {
		t.Errorf("a bad configuration: %s", r.stderr)
	}
	// An ARN names the region the command's clients use.
	if got := functionRegion("arn:aws:lambda:eu-central-1:999999999999:function:onboarder-reconcile"); got != "eu-central-1" {
		t.Errorf("region of an ARN: %q", got)
	}
}

func TestChunks(t *testing.T) {
	for _, tc := range []struct {
		n, size int
		want    [][2]int
	}{
		{0, 25, nil},
		{25, 25, [][2]int{{0, 25}}},
		{60, 25, [][2]int{{0, 25}, {25, 50}, {50, 60}}},
		{3, 0, [][2]int{{0, 3}}},
	} {
		if got := chunks(tc.n, tc.size); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("chunks(%d, %d) = %v, want %v", tc.n, tc.size, got, tc.want)
		}
	}
}

// Many accounts go to the worker in chunks of operator.ChunkSize; the accounts an invocation
// deferred are asked again, and an account never reached is a failure of its own row.
func TestPlanInChunks(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for i := range 60 {
		ids = append(ids, fmt.Sprintf("5000000000%02d", i))
	}
	w := &workerClient{API: f.lambda, Function: function, Parallel: 3}
	var reqs []queue.Request
	for _, id := range ids {
		reqs = append(reqs, queue.Request{Version: 1, Account: id, Trigger: "operator", EventID: "e"})
	}
	f.worker.defer1[ids[7]], f.worker.defer1[ids[59]] = true, true
	got := w.plan(context.Background(), reqs)
	if len(got) != 60 {
		t.Fatalf("%d results", len(got))
	}
	for i, r := range got {
		if r.Account != ids[i] || r.Class != fault.None {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	var sizes []int
	for _, op := range f.worker.ops() {
		sizes = append(sizes, len(op.Requests))
	}
	slices.Sort(sizes)
	if fmt.Sprint(sizes) != "[2 10 25 25]" { // 25, 25, 10, then the two deferred ones again
		t.Errorf("invocations of %v requests, want 25, 25, 10 and the deferred 2", sizes)
	}
	// An account the worker never reaches fails, alone, with what to do.
	f.worker.defer1 = map[string]bool{ids[0]: true}
	w.Rounds = 1
	got = w.plan(context.Background(), reqs[:2])
	if got[0].Action != reconcile.ActionFail || !strings.Contains(got[0].Error, "run the command again") || got[1].Class != fault.None {
		t.Errorf("an account never reached: %+v", got)
	}
}

func TestStatus(t *testing.T) {
	f := newFixture(t)
	dev, logging, foreign := f.members[0], f.members[1], f.members[2]
	f.worker.stacks[dev] = operator.Stack{Account: dev, Region: "us-east-1", StackStatus: "CREATE_COMPLETE", Managed: true, TrailMode: "new", Forwarding: "own trail",
		Template: "https://t.s3.amazonaws.com/trend/v1/main.template.yaml", LastUpdated: "2026-01-02T03:04:05Z"}
	f.worker.stacks[logging] = operator.Stack{Account: logging, Region: "us-east-1", StackStatus: "CREATE_COMPLETE", Managed: true, TrailMode: "existing", Bucket: "audit-logs",
		Forwarding: "STOPPED", TrailName: "audit"}
	f.worker.stacks[foreign] = operator.Stack{Account: foreign, Error: "assume arn:aws:iam::333333333333:role/CloudOneOnboarderExecution: access denied"}
	updated := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	f.ledgerEntry(ledger.Entry{Account: logging, Region: "us-east-1", Action: "update", Class: "needs-person", Reason: "UPDATE_ROLLBACK_COMPLETE: CloudOneIntegration failed", UpdatedAt: updated})
	f.ledgerEntry(ledger.Entry{Account: "555555555555", Region: "us-east-1", StackStatus: "CREATE_COMPLETE", Managed: true, Offboard: queue.OffboardMissing,
		Left: "in Cloud One: the CloudTrail registration", UpdatedAt: updated})

	r := f.runExit(exitFailure, "status") // foreign's row failed
	for _, want := range []string{"ACCOUNT", "FORWARDING", dev, "Workloads", "CREATE_COMPLETE", "trend/v1/main.template.yaml", "STOPPED (audit)",
		"2026-03-04 05:06 UTC update", "Cost: 1 of 3 accounts", "Last reconcile failed (1):", "CloudOneIntegration failed",
		"Offboarded, out of scope (1):", "555555555555 account-not-in-organization", foreign + ": assume"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, f.members[3]) || !strings.Contains(r.stderr, "not in scope: "+f.members[3]) || !strings.Contains(r.stderr, "management account") {
		t.Errorf("the excluded and management accounts are named on stderr only:\n%s\n%s", r.stdout, r.stderr)
	}
	// The worker was asked for the in-scope accounts only.
	for _, op := range f.worker.ops() {
		if op.Op == operator.OpStatus && (slices.Contains(op.Accounts, f.members[3]) || slices.Contains(op.Accounts, mgmt)) {
			t.Errorf("the worker was asked about %v", op.Accounts)
		}
	}

	rows := decodeJSON[[]statusRow](t, f.runExit(exitOK, "status", "--json", "--account", dev).stdout)
	if len(rows) != 1 || rows[0].Account != dev || rows[0].OUName != "Workloads" || rows[0].LastAction != "(stack)" || rows[0].LastUpdate != "2026-01-02T03:04:05Z" {
		t.Errorf("status --json --account: %+v", rows)
	}
	if r := f.runExit(exitFailure, "status", "--account", "000000000042"); !strings.Contains(r.stderr, "000000000042") || !strings.Contains(r.stderr, "not a member of the organization") {
		t.Errorf("an account of another organization: %s", r.stderr)
	}
	if n := len(f.log.Writes()); n != 0 {
		t.Errorf("status wrote: %v", f.log.Writes())
	}
}

// status for the Vision One target: the vendor's view from the ledger (state, template version,
// problems in Vision One's words), the trail the stack names, no bucket column.
func TestStatusVisionOne(t *testing.T) {
	f := newFixture(t)
	f.worker.cfg.Target, f.worker.cfg.TemplateURL = config.TargetVisionOne, config.DefaultVisionOneVersion
	ok, failed := f.members[0], f.members[1]
	f.worker.stacks[ok] = operator.Stack{Account: ok, Region: "us-east-1", StackStatus: "CREATE_COMPLETE", Managed: true, TrailMode: "new",
		Forwarding: "logging", TrailName: "cloudone-onboarder-visionone", Template: "visionone:1:us-east-1:cloud-audit-log-monitoring"}
	f.worker.stacks[failed] = operator.Stack{Account: failed, Region: "us-east-1", StackStatus: "CREATE_COMPLETE", Managed: true, TrailMode: "existing",
		Forwarding: "NO TOPIC: the trail no longer notifies arn:aws:sns:us-east-1:222222222222:audit", TrailName: "audit", Template: "visionone:2:us-east-1:cloud-audit-log-monitoring"}
	f.ledgerEntry(ledger.Entry{Account: ok, Region: "us-east-1", Action: "none", VendorState: "managed", VendorTemplateVersion: "1.4.2", UpdatedAt: time.Now()})
	f.ledgerEntry(ledger.Entry{Account: failed, Region: "us-east-1", Action: "none", Class: "needs-person", Reason: "Vision One says the account failed",
		VendorState: "failed", VendorProblems: []string{"cloud-audit-log-monitoring: missing AWS permissions sns:Subscribe"}, UpdatedAt: time.Now()})

	r := f.runExit(exitOK, "status", "--account", ok+","+failed)
	// The TEMPLATE column shows each stack's version (its template tag's beginning: during a
	// rollout, visionone:1 or visionone:2).
	for _, want := range []string{"VISION ONE", "managed (template 1.4.2)", "failed", "logging (cloudone-onboarder-visionone)", "NO TOPIC",
		"visionone:1:us-east-1:cloud-aud…", "visionone:2:us-east-1:cloud-aud…",
		"Vision One reports problems (1):", "missing AWS permissions sns:Subscribe", "onboarder's trail stack for Vision One"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "BUCKET") {
		t.Errorf("the Vision One table has a bucket column:\n%s", r.stdout)
	}
	rows := decodeJSON[[]statusRow](t, f.runExit(exitOK, "status", "--json", "--account", failed).stdout)
	if len(rows) != 1 || rows[0].VendorState != "failed" || len(rows[0].VendorProblems) != 1 {
		t.Errorf("status --json: %+v", rows)
	}
}

func TestPlan(t *testing.T) {
	f := newFixture(t)
	dev, foreign := f.members[0], f.members[2]
	f.worker.plans[dev] = []reconcile.Result{{Action: reconcile.ActionCreate, Class: fault.None, DryRun: true, Reason: "stack CloudOne in " + dev + "/us-east-1 is absent: create it",
		Changes: []reconcile.Change{{Parameter: stack.ParamCreateNew, Before: "", After: "True"}, {Parameter: stack.ParamBucket}}}}
	f.worker.plans[foreign] = []reconcile.Result{{Action: reconcile.ActionLeaveAlone, Class: fault.None, Reason: "not the onboarder's"}}
	r := f.runExit(exitDrift, "plan", "--all")
	for _, want := range []string{dev + " (dev): create: stack CloudOne", `CreateNewTrail: "" -> "True"`, foreign + " (foreign): leave-alone", "plan: 3 accounts, 1 would change"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "ExistingCloudtrailBucketName") {
		t.Errorf("an empty parameter that stays empty is shown:\n%s", r.stdout)
	}
	var planned []queue.Request
	for _, op := range f.worker.ops() {
		planned = append(planned, op.Requests...)
	}
	if len(planned) != 3 || planned[0].Trigger != "operator" || planned[0].Reason != "onboarder plan" || planned[0].RetryFailed {
		t.Errorf("the requests planned: %+v", planned)
	}
	results := decodeJSON[[]map[string]any](t, f.runExit(exitDrift, "plan", "--json", "--account", dev).stdout)
	if len(results) != 1 || results[0]["action"] != "create" || results[0]["dryRun"] != true || results[0]["name"] != "dev" {
		t.Errorf("plan --json: %v", results)
	}
	f.worker.plans[dev] = []reconcile.Result{{Action: reconcile.ActionFail, Class: fault.Permanent, Reason: "assume role", Error: "access denied"}}
	if r := f.runExit(exitFailure, "plan", "--account", dev); !strings.Contains(r.stdout, "fail FAILED [permanent]") {
		t.Errorf("a failed plan:\n%s", r.stdout)
	}
	// An account that left the scope and whose ledger says the onboarder's stack is there is
	// planned as an offboarding.
	f.ledgerEntry(ledger.Entry{Account: "555555555555", Region: "us-east-1", StackStatus: "CREATE_COMPLETE", Managed: true, UpdatedAt: time.Now()})
	f.worker.requests, f.worker.plans = nil, map[string][]reconcile.Result{}
	f.runExit(exitOK, "plan", "--all")
	var off []queue.Request
	for _, op := range f.worker.ops() {
		for _, q := range op.Requests {
			if q.Offboard != "" {
				off = append(off, q)
			}
		}
	}
	if len(off) != 1 || off[0].Account != "555555555555" || off[0].Offboard != queue.OffboardMissing {
		t.Errorf("offboardings planned: %+v", off)
	}
	if n := len(f.log.Writes()); n != 0 {
		t.Errorf("plan wrote: %v", f.log.Writes())
	}
}

// reconcile enqueues, then follows each account with dry runs of the same request until it
// ends, and says where each stands and what the worker did.
func TestReconcileFollows(t *testing.T) {
	f := newFixture(t)
	dev, logging, foreign := f.members[0], f.members[1], f.members[2]
	create := reconcile.Result{Action: reconcile.ActionCreate, Class: fault.None, Reason: "absent: create it"}
	wait := reconcile.Result{Action: reconcile.ActionWait, Class: fault.None, Reason: "CREATE_IN_PROGRESS: come back"}
	f.worker.plans[dev] = []reconcile.Result{create, wait, {Action: reconcile.ActionNone, Class: fault.None, Reason: "in sync", StatusAfter: "CREATE_COMPLETE"}}
	f.worker.plans[logging] = []reconcile.Result{{Action: reconcile.ActionNeedsPerson, Class: fault.NeedsPerson, Reason: "the onboarder's own update rolled back: CloudOneIntegration"}}
	f.worker.plans[foreign] = []reconcile.Result{{Action: reconcile.ActionLeaveAlone, Class: fault.None, Reason: "not the onboarder's"}}
	f.ledgerEntry(ledger.Entry{Account: dev, Region: "us-east-1", Action: "create", Reason: "create stack CloudOne started", UpdatedAt: time.Now().Add(time.Minute)})

	r := f.runExit(exitFailure, "reconcile", "--all", "--retry-failed")
	for _, want := range []string{"enqueued 3 reconcile requests on " + queueURL, dev + " (dev): in sync: in sync", "the worker: create at ", "stack: CREATE_COMPLETE",
		logging + " (logging): needs a person: ", "onboarder reconcile --account " + logging + " --retry-failed", foreign + " (foreign): left alone",
		"summary: 3 accounts: in sync 1, left alone 1, needs a person 1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("reconcile lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "[3/3] ") {
		t.Errorf("no progress lines off a terminal:\n%s", r.stderr)
	}
	sent := f.sqs.Queue(queueURL)
	if len(sent) != 3 {
		t.Fatalf("%d requests enqueued", len(sent))
	}
	var enqueued []queue.Request
	for _, m := range sent {
		req, err := queue.Decode(m.Body)
		must(t, "decode", err)
		if m.GroupID != req.Account || req.Trigger != "operator" || !req.RetryFailed || !strings.HasPrefix(req.EventID, "operator-") {
			t.Errorf("enqueued %+v in group %s", req, m.GroupID)
		}
		enqueued = append(enqueued, req)
	}
	// The follow asked about the very requests it enqueued (same event id: same tokens).
	for _, op := range f.worker.ops() {
		for _, q := range op.Requests {
			if q.EventID != enqueued[0].EventID || !q.RetryFailed {
				t.Errorf("followed with %+v, enqueued %+v", q, enqueued[0])
			}
		}
	}
	// dev was looked at until in sync: three looks; the others once.
	looks := map[string]int{}
	for _, op := range f.worker.ops() {
		for _, q := range op.Requests {
			looks[q.Account]++
		}
	}
	if looks[dev] != 3 || looks[logging] != 1 || looks[foreign] != 1 {
		t.Errorf("looks %v", looks)
	}

	// --no-wait enqueues and returns.
	f.worker.requests = nil
	r = f.runExit(exitOK, "reconcile", "--account", dev, "--no-wait")
	if !strings.Contains(r.stdout, "enqueued 1 reconcile requests") || !strings.Contains(r.stdout, dev+" (dev)  enqueued") {
		t.Errorf("--no-wait:\n%s", r.stdout)
	}
	for _, op := range f.worker.ops() {
		if op.Op == operator.OpPlan {
			t.Error("--no-wait followed")
		}
	}
	// --enqueue is --no-wait, deprecated.
	if r := f.runExit(exitOK, "reconcile", "--account", dev, "--enqueue"); !strings.Contains(r.stdout+r.stderr, "deprecated") {
		t.Errorf("--enqueue:\n%s%s", r.stdout, r.stderr)
	}
	// Still under way at the timeout: the worker goes on, and that is not a failure.
	f.worker.plans[dev] = []reconcile.Result{wait}
	r = f.runExit(exitOK, "reconcile", "--account", dev, "--timeout", "20ms")
	if !strings.Contains(r.stdout, "under way") || !strings.Contains(r.stdout, "1 accounts are still under way") {
		t.Errorf("under way at the timeout:\n%s", r.stdout)
	}
	// A worker in dry-run mode changes nothing: the command says so and does not follow.
	f.worker.cfg.DryRun = true
	if r := f.runExit(exitOK, "reconcile", "--account", dev); !strings.Contains(r.stdout, "ONBOARDER_DRY_RUN=true") {
		t.Errorf("a dry-run worker:\n%s", r.stdout)
	}
}

// A dead letter is sent back before it is deleted, in order within an account, and left
// where it is when the send fails; others' stay and are made visible again.
func TestDLQRedriveSendsThenDeletes(t *testing.T) {
	f := newFixture(t)
	dev, logging := f.members[0], f.members[1]
	body := func(acct, reason string) string {
		return fmt.Sprintf(`{"version":1,"account":%q,"trigger":"sweep","reason":%q,"eventId":"ev-%s"}`, acct, reason, reason)
	}
	attrs := func(class, reason string) map[string]sqstypes.MessageAttributeValue {
		return map[string]sqstypes.MessageAttributeValue{"class": {DataType: aws.String("String"), StringValue: aws.String(class)},
			"reason": {DataType: aws.String("String"), StringValue: aws.String(reason)}}
	}
	d1 := f.sqs.Add(fake.Message{QueueURL: dlqURL, Body: body(dev, "first"), GroupID: dev, Attributes: attrs("needs-person", "DELETE_FAILED: bucket not empty")})
	d2 := f.sqs.Add(fake.Message{QueueURL: dlqURL, Body: body(dev, "second"), GroupID: dev}) // moved by SQS's redrive: no attributes
	l1 := f.sqs.Add(fake.Message{QueueURL: dlqURL, Body: body(logging, "third"), GroupID: logging, Attributes: attrs("permanent", "AccessDenied")})

	list := decodeJSON[[]deadLetter](t, f.runExit(exitOK, "dlq", "list", "--json").stdout)
	if len(list) != 3 {
		t.Fatalf("listed %d messages, want 3: %+v", len(list), list)
	}
	byID := map[string]deadLetter{}
	for _, m := range list {
		byID[m.MessageID] = m
	}
	if m := byID[d1]; m.Account != dev || m.Class != "needs-person" || m.Reason != "DELETE_FAILED: bucket not empty" || !m.Decodes || m.Trigger != "sweep" {
		t.Errorf("the worker's dead letter: %+v", m)
	}
	if m := byID[l1]; m.Account != logging || m.Class != "permanent" {
		t.Errorf("logging's dead letter: %+v", m)
	}
	if m := byID[d2]; m.Account != dev || m.Class != "" || m.Reason != movedBySQS {
		t.Errorf("a dead letter SQS moved: %+v", m)
	}
	if len(f.sqs.Queue(dlqURL)) != 3 {
		t.Fatal("dlq list deleted a message")
	}
	r := f.runExit(exitOK, "dlq", "list")
	if !strings.Contains(r.stdout, "DELETE_FAILED: bucket not empty") || !strings.Contains(r.stdout, "messages in "+dlqURL) {
		t.Errorf("dlq list:\n%s", r.stdout)
	}

	// Redrive dev's: both, in order, each sent before it is deleted.
	mark := f.log.Len()
	r = f.runExit(exitOK, "dlq", "redrive", "--account", dev)
	var ops []string
	for _, o := range f.log.Ops()[mark:] {
		if o == "SendMessage" || o == "DeleteMessage" {
			ops = append(ops, o)
		}
	}
	if strings.Join(ops, ",") != "SendMessage,DeleteMessage,SendMessage,DeleteMessage" {
		t.Errorf("calls %v, want each send before its delete", ops)
	}
	back := f.sqs.Queue(queueURL)
	if len(back) != 2 || back[0].Body != body(dev, "first") || back[1].Body != body(dev, "second") || back[0].GroupID != dev ||
		back[0].DeduplicationID == back[1].DeduplicationID || !strings.HasPrefix(back[0].DeduplicationID, "redrive-") {
		t.Errorf("sent back %+v", back)
	}
	left := f.sqs.Queue(dlqURL)
	if len(left) != 1 || left[0].ID != l1 {
		t.Errorf("left in the DLQ: %+v", left)
	}
	if !strings.Contains(r.stdout, "sent back [moved by SQS]") || !strings.Contains(r.stdout, "2 sent back") || !strings.Contains(r.stdout, "1 left") {
		t.Errorf("redrive output:\n%s", r.stdout)
	}
	if v := f.sqs.Visibility(); len(v) == 0 {
		t.Error("logging's message was not made visible again")
	}

	// A send that fails leaves the message in the DLQ, undeleted, and fails the run.
	f.sqs.SendMessageCalls.Fail(errors.New("ServiceUnavailable"))
	mark = f.log.Len()
	r = f.runExit(exitFailure, "dlq", "redrive", "--all")
	for _, o := range f.log.Ops()[mark:] {
		if o == "DeleteMessage" {
			t.Error("a message whose send failed was deleted")
		}
	}
	if len(f.sqs.Queue(dlqURL)) != 1 || !strings.Contains(r.stdout, "NOT sent back") {
		t.Errorf("after a failed send:\n%s", r.stdout)
	}
	// Then it goes.
	f.runExit(exitOK, "dlq", "redrive", "--all")
	if len(f.sqs.Queue(dlqURL)) != 0 || len(f.sqs.Queue(queueURL)) != 3 {
		t.Errorf("DLQ %d, queue %d", len(f.sqs.Queue(dlqURL)), len(f.sqs.Queue(queueURL)))
	}
}

func TestTrailCheck(t *testing.T) {
	const self = mgmt
	for _, tc := range []struct {
		name     string
		setup    func(f *fixture)
		install  string
		ok, warn string // in the message
		err      string
	}{
		{"an organization trail that logs", func(f *fixture) { f.orgTrail("org-trail", "eu-west-1", true, true) }, self, "organization trail org-trail (multi-Region, home eu-west-1) logs", "", ""},
		{"a trail of us-east-1", func(f *fixture) { f.orgTrail("east", "us-east-1", false, true) }, self, "logs the management account's management events in us-east-1", "", ""},
		{"stopped", func(f *fixture) { f.orgTrail("org-trail", "eu-west-1", true, false) }, self, "", "", "it is not logging"},
		{"single-Region elsewhere", func(f *fixture) { f.orgTrail("west", "eu-west-1", false, true) }, self, "", "", "a single-Region trail of eu-west-1"},
		{"no management events", func(f *fixture) {
			arn := f.orgTrail("data-only", "us-east-1", true, true)
			f.trails.Selectors[arn] = &cloudtrail.GetEventSelectorsOutput{EventSelectors: []cttypes.EventSelector{
				{IncludeManagementEvents: aws.Bool(false), ReadWriteType: cttypes.ReadWriteTypeAll}}}
		}, self, "", "", "record no (write) management events"},
		{"none", func(*fixture) {}, self, "", "", "no trail of the management account " + mgmt + " logs in us-east-1"},
		{"none visible from a delegated administrator", func(*fixture) {}, "123412341234", "", "no organization trail is visible from this account", ""},
		{"refused", func(f *fixture) {
			f.trails.DescribeTrailsCalls.FailAlways(&smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"})
		}, self, "", "", "grant cloudtrail:DescribeTrails, cloudtrail:GetTrailStatus and cloudtrail:GetEventSelectors"},
		{"status unreadable from a member", func(f *fixture) {
			f.orgTrail("org-trail", "eu-west-1", true, true)
			f.trails.GetTrailStatusCalls.FailAlways(&smithy.GenericAPIError{Code: "TrailNotFoundException", Message: "Unknown trail"})
		}, "123412341234", "", "cannot be read from this account", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.setup(f)
			ok, warn, err := checkTrail(context.Background(), func(string) TrailAPI { return f.trails }, mgmt, tc.install)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q (ok %q warn %q)", err, tc.err, ok, warn)
				}
			case tc.warn != "":
				if err != nil || !strings.Contains(warn, tc.warn) {
					t.Errorf("warning %q, want %q (err %v)", warn, tc.warn, err)
				}
			default:
				if err != nil || warn != "" || !strings.Contains(ok, tc.ok) {
					t.Errorf("ok %q, want %q (warn %q, err %v)", ok, tc.ok, warn, err)
				}
			}
		})
	}
}

// A rollout of a version whose template does not take the parameters the onboarder sends is
// refused before anything is written, naming them.
func TestRolloutRefusesABadTemplate(t *testing.T) {
	f := newFixture(t)
	mis := operator.Mismatch{Missing: []string{"CloudOneApiKey"}, Unknown: []string{"CloudOneApiKeySecret"}}
	f.worker.checks = []operator.Check{{Name: operator.CheckTemplate, Detail: "https://t/v2.yaml " + mis.Error(), Mismatch: &mis}}
	r := f.runExit(exitFailure, "rollout", "start", "--template-url", "https://t/v2.yaml", "--canary", f.members[0])
	if !strings.Contains(r.stderr, "refused, nothing was written") || !strings.Contains(r.stderr, "does not declare CloudOneApiKey and requires CloudOneApiKeySecret") {
		t.Errorf("rollout start of a bad version:\n%s", r.stderr)
	}
	if w := f.log.Writes(); len(w) != 0 {
		t.Errorf("written: %v", w)
	}
	var asked []operator.Request
	for _, op := range f.worker.ops() {
		if op.Op == operator.OpCheck {
			asked = append(asked, op)
		}
	}
	if len(asked) != 1 || asked[0].Template == nil || asked[0].Template.URL != "https://t/v2.yaml" || asked[0].Accounts[0] != f.members[0] {
		t.Errorf("the check asked: %+v", asked)
	}
	// A good one starts.
	f.worker.checks = []operator.Check{{Name: operator.CheckTemplate, OK: true, Detail: "takes the parameters the onboarder sends"}}
	r = f.runExit(exitOK, "rollout", "start", "--template-url", "https://t/v2.yaml", "--canary", f.members[0], "--batch", "1")
	if !strings.Contains(r.stdout, "wave 1: 1 accounts (canary, enqueued)") || len(f.sqs.Queue(queueURL)) != 1 {
		t.Errorf("rollout start:\n%s", r.stdout)
	}
	// resume --template-url is checked the same way, in the current wave.
	f.runExit(exitOK, "rollout", "pause")
	f.worker.checks = []operator.Check{{Name: operator.CheckTemplate, Detail: "https://t/v3.yaml " + mis.Error(), Mismatch: &mis}}
	writes := len(f.log.Writes())
	r = f.runExit(exitFailure, "rollout", "resume", "--template-url", "https://t/v3.yaml")
	if !strings.Contains(r.stderr, "refused, nothing was written") || len(f.log.Writes()) != writes {
		t.Errorf("resume with a bad version:\n%s", r.stderr)
	}
	if st := f.runExit(exitOK, "rollout", "status"); !strings.Contains(st.stdout, "PAUSED") {
		t.Errorf("the refused resume moved the rollout:\n%s", st.stdout)
	}
}

// A Vision One version is a label: the command takes visionone:<label> for the Vision One
// target and refuses a URL there, and refuses a label for Cloud One, before anything is written.
func TestRolloutVisionOneVersions(t *testing.T) {
	f := newFixture(t)
	f.worker.checks = []operator.Check{{Name: operator.CheckTemplate, OK: true, Skipped: true, Detail: "not applicable"}}
	r := f.runExit(exitFailure, "rollout", "start", "--template-url", "visionone:2", "--canary", f.members[0])
	if !strings.Contains(r.stderr, "refused, nothing was written") || !strings.Contains(r.stderr, "visionone:2 is a Vision One version") {
		t.Errorf("a Vision One label for Cloud One:\n%s", r.stderr)
	}
	f.runExit(exitUsage, "rollout", "start", "--template-url", "visionone:two words", "--canary", f.members[0])
	f.runExit(exitUsage, "rollout", "start", "--template-url", "visionone:2", "--assets-bucket", "b", "--assets-prefix", "", "--canary", f.members[0])

	f.worker.cfg.Target = config.TargetVisionOne
	f.worker.cfg.TemplateURL = config.DefaultVisionOneVersion
	r = f.runExit(exitFailure, "rollout", "start", "--template-url", "https://t/v2.yaml", "--canary", f.members[0])
	if !strings.Contains(r.stderr, "refused, nothing was written") || !strings.Contains(r.stderr, "name a version as visionone:<label>") {
		t.Errorf("a URL for Vision One:\n%s", r.stderr)
	}
	if w := f.log.Writes(); len(w) != 0 {
		t.Errorf("written: %v", w)
	}
	r = f.runExit(exitFailure, "rollout", "start", "--template-url", config.DefaultVisionOneVersion, "--canary", f.members[0])
	if !strings.Contains(r.stderr, "nothing to roll out") {
		t.Errorf("the version in force:\n%s", r.stderr)
	}
	r = f.runExit(exitOK, "rollout", "start", "--template-url", "visionone:2", "--canary", f.members[0], "--batch", "1")
	if !strings.Contains(r.stdout, "wave 1: 1 accounts (canary, enqueued)") || len(f.sqs.Queue(queueURL)) != 1 {
		t.Errorf("rollout start of visionone:2:\n%s", r.stdout)
	}
}

// validate: the worker's checks and the operator's own, one line each, in order; a missing
// function fails the configuration line and what depends on it, not the others.
func TestValidate(t *testing.T) {
	f := newFixture(t)
	f.worker.checks = []operator.Check{
		{Name: operator.CheckSecret, OK: true, Detail: "secret: both fields present"},
		{Name: operator.CheckCloudOne, OK: true, Detail: "key accepted", Region: "us-east-1"},
		{Name: operator.CheckRole, OK: true, Detail: "role assumed"},
		{Name: operator.CheckTemplate, OK: true, Detail: "takes the parameters the onboarder sends"},
	}
	f.orgs.ListPoliciesCalls.Return(&organizations.ListPoliciesOutput{})
	f.cfn.StackInstances = map[string][]cfntypes.StackInstanceSummary{"cloudone-onboarder-member": {{Account: aws.String(f.members[0]), Region: aws.String("us-east-1")}}}
	f.orgTrail("org-trail", "us-east-1", true, true)
	r := f.runExit(exitOK, "validate")
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if fs := strings.Fields(l); len(fs) > 1 && (fs[0] == "OK" || fs[0] == "WARN" || fs[0] == "FAIL") {
			names = append(names, strings.TrimSpace(l[6:21]))
		}
	}
	if got := strings.Join(names, ","); got != "configuration,aws,organization,shape,secret,cloudone key,execution role,template,trail,guardrail,regions" {
		t.Errorf("checks %s\n%s", got, r.stdout)
	}
	for _, want := range []string{"OK    configuration   reconcile function " + function, "OK    trail           organization trail org-trail",
		"WARN  guardrail", "OK    regions", "all 11 checks passed, 1 with a warning"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("validate lacks %q:\n%s", want, r.stdout)
		}
	}
	var checked []operator.Request
	for _, op := range f.worker.ops() {
		if op.Op == operator.OpCheck {
			checked = append(checked, op)
		}
	}
	if len(checked) != 1 || len(checked[0].Accounts) != 1 || checked[0].Accounts[0] != f.members[0] {
		t.Errorf("the worker's checks were asked for %+v, want the first in-scope account", checked)
	}

	// A failing check of the worker's is a failure of its line.
	f.worker.checks[3] = operator.Check{Name: operator.CheckTemplate, Detail: "https://t does not declare CloudOneApiKey"}
	if r := f.runExit(exitFailure, "validate", "--account", f.members[1]); !strings.Contains(r.stdout, "FAIL  template        https://t does not declare") {
		t.Errorf("a failed template check:\n%s", r.stdout)
	}

	// Without the function: the configuration fails, the operator's own checks still run.
	delete(f.env, FunctionVar)
	r = f.runExit(exitFailure, "validate")
	for _, want := range []string{"FAIL  configuration   " + FunctionVar + " is not set", "OK    aws             account " + mgmt} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("validate without the function lacks %q:\n%s", want, r.stdout)
		}
	}
}
