package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/target"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/worker"
)

// FakeReconciler answers from ReconcileFn and records the requests.
type FakeReconciler struct {
	mu          sync.Mutex
	Requests    []queue.Request
	ReconcileFn func(req queue.Request) reconcile.Result
}

var _ worker.Reconciler = (*FakeReconciler)(nil)

func (f *FakeReconciler) Reconcile(_ context.Context, req queue.Request) reconcile.Result {
	f.mu.Lock()
	f.Requests = append(f.Requests, req)
	f.mu.Unlock()
	return f.ReconcileFn(req)
}

func msg(id, account, eventID string) events.SQSMessage {
	body, _ := json.Marshal(queue.Request{Version: queue.Version, Account: account, Trigger: "cloudtrail:StopLogging", Reason: "test", EventID: eventID, ReplayName: "r1"})
	return events.SQSMessage{MessageId: id, Body: string(body), ReceiptHandle: "rh-" + id,
		Attributes: map[string]string{"MessageGroupId": account, "ApproximateReceiveCount": "1"}}
}

func run(t *testing.T, w *worker.Worker, batch events.SQSEvent) events.SQSEventResponse {
	t.Helper()
	raw, _ := json.Marshal(batch)
	out, err := lambda.NewHandler(w.Handle).Invoke(context.Background(), raw)
	if err != nil {
		t.Fatalf("handler error: %v", err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

func failed(resp events.SQSEventResponse) string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return strings.Join(ids, ",")
}

// A batch: groups run in parallel, the messages of a group are one pass carried by the first,
// a pass that asks to come back sets its message's visibility, bad messages and permanent
// failures go to the DLQ at once.
func TestWorkerBatch(t *testing.T) {
	const a, b, c, d = "012345678901", "123456789012", "210987654321", "004455667788"
	results := map[string]reconcile.Result{
		"ok-1":   {Action: reconcile.ActionNone, Class: fault.None, Reason: "in sync", Outcome: reconcile.OutcomeDone},
		"ok-2":   {Action: reconcile.ActionUpdate, Class: fault.None, Reason: "parameters differ", Changes: []reconcile.Change{{Parameter: "CreateNewTrail", Before: "False", After: "True"}}, Steps: []reconcile.Step{{Action: reconcile.ActionUpdate, Detail: "UpdateStack"}}, Outcome: reconcile.OutcomeDone},
		"busy":   {Action: reconcile.ActionWait, Class: fault.None, Reason: "UPDATE_IN_PROGRESS: come back", Outcome: reconcile.OutcomeLater, RetryAfter: 45 * time.Second},
		"broken": {Action: reconcile.ActionNeedsPerson, Class: fault.NeedsPerson, Reason: "DELETE_FAILED: delete the stack by hand", Outcome: reconcile.OutcomeDLQ},
		"bad":    {Action: reconcile.ActionFail, Class: fault.Permanent, Reason: "template URL refused", Err: errors.New("ValidationError"), Outcome: reconcile.OutcomeDLQ},
		"zero":   {Action: reconcile.ActionNone, Outcome: reconcile.OutcomeDone}, // no class, no error: success
		"flaky":  {Action: reconcile.ActionFail, Class: fault.Transient, Reason: "throttled", Outcome: reconcile.OutcomeRetry, RetryAfter: 2 * time.Minute, Failures: 2},
		"silent": {Action: reconcile.ActionNone}, // no outcome: a reconciler's bug, tried again later
		"boom":   {},
	}
	rec := &FakeReconciler{ReconcileFn: func(req queue.Request) reconcile.Result {
		if req.EventID == "boom" {
			panic("nil map")
		}
		r := results[req.EventID]
		r.Account = req.Account
		return r
	}}
	var logs, emf bytes.Buffer
	q := &fake.SQS{}
	w := &worker.Worker{Reconciler: rec, Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: metrics.New(&emf, "reconcile"),
		SQS: q, QueueURL: "https://sqs.example/q.fifo", DeadLetterURL: "https://sqs.example/dlq.fifo"}
	bad := events.SQSMessage{MessageId: "m6", Body: `{"version":2,"account":"12345"}`, Attributes: map[string]string{"MessageGroupId": d}}
	batch := events.SQSEvent{Records: []events.SQSMessage{
		msg("m1", a, "ok-1"),
		msg("m2", b, "busy"),   // comes back in 45 s
		msg("m3", a, "ok-2"),   // merged into m1's pass
		msg("m4", b, "ok-1"),   // merged into m2's pass: comes back with it
		msg("m5", c, "broken"), // needs a person: the DLQ
		bad,                    // permanent decode error: the DLQ
		msg("m7", d, "ok-1"),   // its group's pass, after the bad message
		msg("m8", c, "ok-1"),   // merged into m5's pass
		msg("m9", "999999999999", "zero"),
		msg("m10", "888888888888", "bad"),
		msg("m11", "777777777777", "boom"),
		msg("m12", "666666666666", "flaky"),
		msg("m13", "555555555555", "silent"),
	}}
	resp := run(t, w, batch)
	if got, want := failed(resp), "m2,m4,m11,m12,m13"; got != want {
		t.Errorf("failures %s, want %s (the ones that come back)", got, want)
	}
	var processed []string
	for _, r := range rec.Requests {
		processed = append(processed, r.Account+"/"+r.EventID)
	}
	sort.Strings(processed)
	if got := strings.Join(processed, " "); got != "004455667788/ok-1 012345678901/ok-1 123456789012/busy 210987654321/broken 555555555555/silent 666666666666/flaky 777777777777/boom 888888888888/bad 999999999999/zero" {
		t.Errorf("processed %s: one pass per account", got)
	}
	for _, r := range rec.Requests {
		if r.Account == a && !strings.Contains(r.Reason, "test") {
			t.Errorf("merged request %+v", r)
		}
	}
	if v := q.Visibility(); v["rh-m2"] != 45 || v["rh-m4"] != 45 || v["rh-m12"] != 120 || v["rh-m11"] != 30 || v["rh-m13"] != 30 {
		t.Errorf("visibility %v: m2 and m4 (merged into its pass) in 45 s, m12 after its back-off, m11 (a panic) and m13 (no outcome) not at once", v)
	}
	if len(q.SendMessageCalls.Succeeded()) != 3 {
		t.Errorf("dead-lettered %d, want 3 (m5, m6, m10)", len(q.SendMessageCalls.Succeeded()))
	}
	// One line per message, with the fields.
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	byMsg := map[string]map[string]any{}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m["msg"] == "message" || m["msg"] == "reconcile" {
			byMsg[fmt.Sprint(m["message_id"])] = m
		}
	}
	if len(byMsg) != len(batch.Records) {
		t.Errorf("%d messages logged of %d", len(byMsg), len(batch.Records))
	}
	for id, want := range map[string]string{"m1": "INFO done none", "m2": "INFO later none", "m3": "INFO absorbed <nil>", "m4": "INFO later <nil>",
		"m5": "ERROR dlq needs-person", "m6": "ERROR dlq permanent", "m10": "ERROR dlq permanent", "m11": "WARN retry transient", "m12": "WARN retry transient", "m13": "WARN retry none"} {
		m := byMsg[id]
		if got := fmt.Sprint(m["level"], " ", m["outcome"], " ", m["class"]); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
	if m := byMsg["m2"]; fmt.Sprint(m["retry_after_s"]) != "45" || fmt.Sprint(m["absorbed"]) != "1" {
		t.Errorf("m2 line %v", m)
	}
	if m := byMsg["m6"]; !strings.Contains(fmt.Sprint(m["body"]), `"account":"12345"`) || !strings.Contains(fmt.Sprint(m["reason"]), "version=2") {
		t.Errorf("bad message not logged with its request: %v", m)
	}
	if m := byMsg["m10"]; !strings.Contains(fmt.Sprint(m["reason"]), "ValidationError") {
		t.Errorf("m10 reason %v", m["reason"])
	}
	if !strings.Contains(emf.String(), `"Class":"none"`) {
		t.Errorf("no outcome metric: %s", emf.String())
	}
}

func TestWorkerConfigErrorAndDeadline(t *testing.T) {
	rec := &FakeReconciler{ReconcileFn: func(queue.Request) reconcile.Result {
		return reconcile.Result{Class: fault.None, Outcome: reconcile.OutcomeDone}
	}}
	w := &worker.Worker{Reconciler: rec, ConfigErr: errors.New("ONBOARDER_SECRET_ARN is required")}
	resp := run(t, w, events.SQSEvent{Records: []events.SQSMessage{msg("m1", "012345678901", "e1"), msg("m2", "123456789012", "e2")}})
	if failed(resp) != "m1,m2" || len(rec.Requests) != 0 {
		t.Errorf("config error: failures %s, %d reconciles", failed(resp), len(rec.Requests))
	}
	w = &worker.Worker{Reconciler: rec}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp, err := w.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{msg("m1", "012345678901", "e1")}})
	if err != nil || failed(resp) != "m1" || len(rec.Requests) != 0 {
		t.Errorf("deadline: failures %s, err %v", failed(resp), err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second) // less than the margin
	defer cancel()
	resp, _ = w.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{msg("m1", "012345678901", "e1")}})
	if failed(resp) != "m1" || len(rec.Requests) != 0 {
		t.Errorf("too little time left: failures %s, %d reconciles", failed(resp), len(rec.Requests))
	}
}

// Too many transient failures in a row, and a needs-person state already reported.
func TestGiveUpAndAlreadyReported(t *testing.T) {
	rec := &FakeReconciler{ReconcileFn: func(req queue.Request) reconcile.Result {
		if req.EventID == "again" {
			return reconcile.Result{Action: reconcile.ActionNeedsPerson, Class: fault.NeedsPerson, Reason: "own create rolled back", AlreadyReported: true, Outcome: reconcile.OutcomeDone}
		}
		return reconcile.Result{Action: reconcile.ActionFail, Class: fault.Transient, Reason: "throttled", Failures: 5, GiveUp: true, Outcome: reconcile.OutcomeDLQ}
	}}
	q := &fake.SQS{}
	var logs bytes.Buffer
	w := &worker.Worker{Reconciler: rec, SQS: q, DeadLetterURL: "https://sqs.example/dlq.fifo", Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	resp := run(t, w, events.SQSEvent{Records: []events.SQSMessage{msg("m1", "012345678901", "e1"), msg("m2", "123456789012", "again")}})
	if failed(resp) != "" || len(q.SendMessageCalls.Succeeded()) != 1 || !strings.Contains(*q.SendMessageCalls.Succeeded()[0].MessageAttributes["reason"].StringValue, "gave up after 5 transient failures") {
		t.Fatalf("failures %q, dead letters %d", failed(resp), len(q.SendMessageCalls.Succeeded()))
	}
	if !strings.Contains(logs.String(), "still needs a person (already reported)") {
		t.Fatalf("logs %s", logs.String())
	}
}

// Permanent and needs-person failures go to the DLQ at once, with their reason; when the DLQ
// cannot be reached, SQS redrive is the fallback.
func TestDeadLetterAtOnce(t *testing.T) {
	const a, c = "012345678901", "210987654321"
	rec := &FakeReconciler{ReconcileFn: func(req queue.Request) reconcile.Result {
		return reconcile.Result{Action: reconcile.ActionNeedsPerson, Class: fault.NeedsPerson, Reason: "stack is DELETE_FAILED", Outcome: reconcile.OutcomeDLQ}
	}}
	dlq := &fake.SQS{}
	w := &worker.Worker{Reconciler: rec, SQS: dlq, DeadLetterURL: "https://sqs.example/dlq.fifo"}
	bad := events.SQSMessage{MessageId: "m-bad", Body: `{"version":7}`, Attributes: map[string]string{"MessageGroupId": c}}
	resp := run(t, w, events.SQSEvent{Records: []events.SQSMessage{msg("m-a", a, "e1"), bad}})
	if got := failed(resp); got != "" {
		t.Fatalf("failures %q, want none", got)
	}
	sent := dlq.SendMessageCalls.Succeeded()
	if len(sent) != 2 {
		t.Fatalf("dead-lettered %d messages, want 2", len(sent))
	}
	sort.Slice(sent, func(i, j int) bool { return *sent[i].MessageGroupId < *sent[j].MessageGroupId })
	first := sent[0]
	if *first.MessageGroupId != a || *first.MessageAttributes["class"].StringValue != "needs-person" ||
		!strings.Contains(*first.MessageAttributes["reason"].StringValue, "DELETE_FAILED") || *first.MessageBody != msg("m-a", a, "e1").Body {
		t.Fatalf("dead letter %+v", first)
	}
	if !strings.Contains(*sent[1].MessageAttributes["reason"].StringValue, "version=7") {
		t.Fatalf("the reason of the bad message does not name the field: %s", *sent[1].MessageAttributes["reason"].StringValue)
	}

	dlq.SendMessageCalls.FailAlways(errors.New("AccessDenied"))
	resp = run(t, w, events.SQSEvent{Records: []events.SQSMessage{msg("m-a2", a, "e3")}})
	if got := failed(resp); got != "m-a2" {
		t.Fatalf("with the DLQ unreachable, failures %q, want m-a2 (SQS redrive)", got)
	}
}

// The ledger digest a request carries describes the entry when the request was made: a
// message received again (after its own earlier passes changed the entry) goes without it.
func TestDigestOnlyOnFirstReceive(t *testing.T) {
	rec := &FakeReconciler{ReconcileFn: func(req queue.Request) reconcile.Result {
		return reconcile.Result{Account: req.Account, Action: reconcile.ActionNone, Class: fault.None, Outcome: reconcile.OutcomeDone}
	}}
	w := &worker.Worker{Reconciler: rec}
	for _, rc := range []string{"1", "3"} {
		body, _ := json.Marshal(queue.Request{Version: queue.Version, Account: "012345678901", Trigger: "sweep", EventID: "s1", LedgerDigest: "d1"})
		run(t, w, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m" + rc, Body: string(body),
			Attributes: map[string]string{"MessageGroupId": "012345678901", "ApproximateReceiveCount": rc}}}})
	}
	if got := rec.Requests[0].LedgerDigest + "," + rec.Requests[1].LedgerDigest; got != "d1," {
		t.Fatalf("digests %q: want it on the first receive only", got)
	}
}

// A reconcile line says what the vendor said of the account when the pass read its view (the
// ground of "in sync" or "needs a person" for Vision One), and nothing of a view not read.
func TestViewLogged(t *testing.T) {
	rec := &FakeReconciler{ReconcileFn: func(req queue.Request) reconcile.Result {
		r := reconcile.Result{Action: reconcile.ActionNone, Class: fault.None, Reason: "in sync", Outcome: reconcile.OutcomeDone}
		switch req.EventID {
		case "managed":
			r.View = &target.View{Found: true, State: "managed", TemplateVersion: "1.0.0"}
		case "failed":
			r.Action, r.Class, r.Outcome = reconcile.ActionNeedsPerson, fault.NeedsPerson, reconcile.OutcomeDone
			r.View = &target.View{Found: true, State: "failed", Failed: true, Problems: []string{"cloud-audit-log-monitoring: sns:Subscribe"}}
		case "unknown":
			r.View = &target.View{}
		}
		return r
	}}
	var logs bytes.Buffer
	w := &worker.Worker{Reconciler: rec, SQS: &fake.SQS{}, DeadLetterURL: "https://sqs.example/dlq.fifo", Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	run(t, w, events.SQSEvent{Records: []events.SQSMessage{msg("m1", "012345678901", "managed"), msg("m2", "123456789012", "failed"),
		msg("m3", "234567890123", "unknown"), msg("m4", "345678901234", "not-read")}})
	views := map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var f map[string]any
		if err := json.Unmarshal([]byte(l), &f); err != nil || f["msg"] != "reconcile" {
			continue
		}
		if v, ok := f["view"]; ok {
			views[f["event_id"].(string)] = v
		}
	}
	want := map[string]string{
		"managed": `{"found":true,"state":"managed","templateVersion":"1.0.0"}`,
		"failed":  `{"found":true,"problems":["cloud-audit-log-monitoring: sns:Subscribe"],"state":"failed"}`,
		"unknown": `{"found":false}`,
	}
	for id, w := range want {
		got, _ := json.Marshal(views[id])
		if string(got) != w {
			t.Errorf("%s: view %s, want %s", id, got, w)
		}
	}
	if v, ok := views["not-read"]; ok {
		t.Errorf("a pass that read no view logged one: %v", v)
	}
}
