//go:build integration

package integration

// Scenarios where AWS differs from moto and the product must act like AWS expects: an install
// scoped by OU (the intakes' Organizations reads, behind the IAM gate), stack operations that
// take time (a repair overtakes another account's create; starts paced across workers), and
// the onboarder's own write that rolled back (no blind retry; an operator's retry).

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// An install scoped by OU: account vending (an Organizations event names no OU), the trail
// guard and a manual request by account id all ask Organizations, with the roles of
// deploy/template.yaml behind the IAM gate.
func TestE2EScopedByOU(t *testing.T) {
	w0 := seedWorld(t, "us-east-1")
	wk := w0.org.OUs["Workloads"]
	w := w0.start(worldOpts{region: "us-east-1", env: map[string]string{"ONBOARDER_INCLUDE_OUS": wk}})
	mark := w.h.Recorder.Mark() // the lane's recorder holds earlier tests' calls too
	in, out := w.org.Account("work-a"), w.org.Account("sandbox-a")
	w.put(localworld.OrganizationsCreateAccountResult(in, "SUCCEEDED"), localworld.OrganizationsCreateAccountResult(out, "SUCCEEDED"))
	w.drain()
	checkOnboarded(t, w, in, "True", "")
	if got := w.stacksEverywhere(out.ID, stackName); len(got) > 0 {
		t.Errorf("%s is outside the included OU but got a stack in %v", out.Name, got)
	}
	// The trail guard: a forwarding trail of the account, stopped.
	b := w.org.Account("work-b")
	name, arn, _ := seedForwardingTrail(t, w, b)
	if _, err := cloudtrail.NewFromConfig(w.acctCfg(b.ID, stackRegion)).StopLogging(w.ctx, &cloudtrail.StopLoggingInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	w.put(localworld.TrailCall(b.ID, stackRegion, "StopLogging", arn))
	w.drain()
	if !w.trailLogging(b.ID, stackRegion, name) {
		t.Errorf("the forwarding trail of %s was not started again in an install scoped by OU", b.Name)
	}
	// A manual request that names accounts (DescribeAccount, ListParents).
	c := w.org.Account("work-c")
	w.put(localworld.Manual(c.ID, out.ID))
	w.drain()
	checkOnboarded(t, w, c, "True", "")
	if got := w.stacksEverywhere(out.ID, stackName); len(got) > 0 {
		t.Errorf("a manual request onboarded %s, outside the included OU", out.Name)
	}
	calls := map[string]bool{}
	for _, c := range w.h.Recorder.Since(mark, localworld.InService("organizations")) {
		calls[c.Action] = true
	}
	for _, want := range []string{"ListParents", "DescribeAccount"} {
		if !calls[want] {
			t.Errorf("no %s call: the scenario does not prove its permission", want)
		}
	}
}

// Stack creates that CloudFormation holds in progress: a StopLogging on another account's
// forwarding trail is repaired while they run, not after them, so no worker waits for
// CloudFormation. The creates run for ten minutes, longer than the test may take: the repair
// either comes while all four are in progress, or the workers (two for four creates) are
// held by them and it does not come at all.
func TestE2ERepairOvertakesCreates(t *testing.T) {
	w := newWorld(t, worldOpts{reconcilers: 2})
	a := w.org.Account("work-a")
	name, arn, _ := seedForwardingTrail(t, w, a)
	w.h.Faults.EnableStacks(proxy.StackTiming{Create: 10 * time.Minute, Update: 2 * time.Second, Delete: 2 * time.Second, Rollback: time.Second})
	newcomers := []localworld.Account{w.org.Account("work-b"), w.org.Account("work-c"), w.org.Account("sandbox-a"), w.org.Account("sandbox-b")}
	var events []localworld.Entry
	for _, n := range newcomers {
		events = append(events, localworld.ControlTowerAccount("CreateManagedAccount", n, "SUCCEEDED", w.env.Region))
	}
	mark := w.h.Recorder.Mark()
	w.put(events...)
	ctx, stop := context.WithCancel(w.ctx)
	drained := make(chan error, 1)
	go func() { _, err := w.env.Drain(ctx); drained <- err }()
	defer func() {
		stop()
		if err := <-drained; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("drain: %v", err)
		}
	}()
	// Once every create has started, someone stops the forwarding trail of work-a.
	waitFor(t, 2*time.Minute, "a CreateStack call for each new account", func() bool {
		return len(w.h.Recorder.Since(mark, localworld.WithAction("CreateStack"))) >= len(newcomers)
	})
	if _, err := cloudtrail.NewFromConfig(w.acctCfg(a.ID, stackRegion)).StopLogging(w.ctx, &cloudtrail.StopLoggingInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	w.put(localworld.TrailCall(a.ID, stackRegion, "StopLogging", arn))
	waitFor(t, 2*time.Minute, "the product's StartLogging on work-a's trail, while the creates run", func() bool {
		return len(w.h.Recorder.Since(mark, localworld.InAccount(a.ID), localworld.WithAction("StartLogging"))) > 0
	})
	if starts := w.h.Recorder.Since(mark, localworld.InAccount(a.ID), localworld.WithAction("StartLogging")); len(starts) != 1 {
		t.Errorf("%d StartLogging calls in %s, want 1", len(starts), a.Name)
	}
	if !w.trailLogging(a.ID, stackRegion, name) {
		t.Error("the forwarding trail does not log")
	}
	// The repair came while every create was still in progress, each started once.
	for _, n := range newcomers {
		if s := w.stack(n.ID, stackRegion, stackName); s == nil || s.StackStatus != "CREATE_IN_PROGRESS" {
			t.Errorf("%s: stack %v, want its create still in progress", n.Name, s)
		}
		if cs := w.h.Recorder.Since(mark, localworld.InAccount(n.ID), localworld.WithAction("CreateStack")); len(cs) != 1 {
			t.Errorf("%s: %d CreateStack calls, want 1", n.Name, len(cs))
		}
	}
}

// waitFor polls cond until it holds, and fails the test after limit (a bound on how long a
// failure takes to show, not a timing the test asserts).
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond) // polling the recorder, not synchronizing with it
	}
}

// Stack starts are paced across the Organization, whatever the number of workers: at 60 a
// minute, ten reconcile instances start eight stacks at least a second apart.
func TestE2EStartsArePaced(t *testing.T) {
	w0 := seedWorldWith(t, "", localworld.OU{Name: "Workloads", Accounts: []string{"p-1", "p-2", "p-3", "p-4", "p-5", "p-6", "p-7", "p-8"}})
	w := w0.start(worldOpts{reconcilers: 10, env: map[string]string{"ONBOARDER_MAX_STARTS_PER_MINUTE": "60"}})
	mark := w.h.Recorder.Mark()
	var events []localworld.Entry
	for _, a := range w.org.Accounts {
		events = append(events, localworld.ControlTowerAccount("CreateManagedAccount", a, "SUCCEEDED", w.env.Region))
	}
	w.put(events...)
	w.drain()
	var at []time.Time
	for _, c := range w.h.Recorder.Since(mark, localworld.WithAction("CreateStack")) {
		at = append(at, c.Time)
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	if len(at) != len(w.org.Accounts) {
		t.Fatalf("%d CreateStack calls for %d accounts", len(at), len(w.org.Accounts))
	}
	for i := 1; i < len(at); i++ {
		// One slot a second; a request that gets its slot comes back within a second of it.
		if gap := at[i].Sub(at[i-1]); gap < 900*time.Millisecond && at[i].Sub(at[0]) < time.Duration(i-1)*time.Second {
			t.Errorf("starts %d and %d are %s apart, and %d starts came within %s: more than 60 a minute", i-1, i, gap, i+1, at[i].Sub(at[0]))
		}
	}
	if span := at[len(at)-1].Sub(at[0]); span < time.Duration(len(at)-2)*time.Second {
		t.Errorf("%d starts within %s: the pace of 60 a minute does not hold", len(at), span)
	}
	for _, a := range w.org.Accounts {
		checkOnboarded(t, w, a, "True", "")
	}
	scheduled := 0
	for _, l := range reconcileLogs(w.env.LambdaLogs(), "") {
		if l["action"] == "scheduled" && l["outcome"] == "later" {
			scheduled++
		}
	}
	if scheduled == 0 {
		t.Error("no request waited for its slot")
	}
}

// The onboarder's own create rolls back: no second write, the reason in the DLQ, the log and
// the ledger; a later sweep does not write again; an operator's --retry-failed does, once the
// cause is fixed.
func TestE2EOwnCreateRolledBack(t *testing.T) {
	w := newWorld(t, worldOpts{})
	a := w.org.Account("work-a")
	rule := w.h.Faults.FailStacks(proxy.StackFailure{Account: a.ID, Operation: "CREATE", LogicalID: "WorkloadSecurityConnector",
		ResourceType: "Custom::WorkloadSecurity", Reason: "Cloud One Workload Security answered 403"})
	mark := w.h.Recorder.Mark()
	w.onboard(a)
	if n := len(w.h.Recorder.Since(mark, localworld.InAccount(a.ID), localworld.WithAction("CreateStack"))); n != 1 {
		t.Fatalf("%d CreateStack calls, want 1", n)
	}
	if w.h.Faults.StackFailures(rule) != 1 {
		t.Fatal("the create did not fail")
	}
	if s := w.stack(a.ID, stackRegion, stackName); s == nil || s.StackStatus != "ROLLBACK_COMPLETE" {
		t.Fatalf("stack %v, want ROLLBACK_COMPLETE", s)
	}
	reason := w.dlqReason(a.ID)
	if !strings.Contains(reason, "WorkloadSecurityConnector (Custom::WorkloadSecurity) CREATE_FAILED: Cloud One Workload Security answered 403") || !strings.Contains(reason, "--retry-failed") {
		t.Errorf("DLQ reason %q", reason)
	}
	// The next sweep finds it still failed: no write.
	mark = w.h.Recorder.Mark()
	w.put(localworld.Manual(a.ID))
	w.drain()
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("a later request wrote again: %s", describeCalls(ws))
	}
	// The cause is fixed; an operator asks to retry.
	w.h.Faults.ClearStackFailures()
	req := queue.Request{Version: queue.Version, Account: a.ID, Trigger: "operator", EventID: "operator-retry-1", Reason: "onboarder reconcile --retry-failed", RetryFailed: true}
	if err := (&queue.Sender{SQS: sqs.NewFromConfig(w.env.Central()), QueueURL: w.env.QueueURL}).Send(w.ctx, []queue.Request{req}); err != nil {
		t.Fatal(err)
	}
	w.drain()
	ws := []string{}
	for _, c := range w.h.Recorder.Since(mark, localworld.InAccount(a.ID), localworld.InService("cloudformation"), localworld.Writes) {
		ws = append(ws, c.Action)
	}
	if !slices.Equal(ws, []string{"DeleteStack", "CreateStack"}) {
		t.Errorf("after --retry-failed: writes %v, want [DeleteStack CreateStack]", ws)
	}
	checkOnboarded(t, w, a, "True", "")
}

// dlqReason reads the reason attribute of the DLQ message of an account ("" if none).
func (w *world) dlqReason(account string) string {
	w.t.Helper()
	out, err := sqs.NewFromConfig(w.env.Central()).ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(w.env.DLQURL), MaxNumberOfMessages: 10, VisibilityTimeout: 1, MessageAttributeNames: []string{"All"}})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, m := range out.Messages {
		if r, err := queue.Decode(aws.ToString(m.Body)); err == nil && r.Account == account {
			if v, ok := m.MessageAttributes["reason"]; ok {
				return aws.ToString(v.StringValue)
			}
		}
	}
	return ""
}
