package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
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
	return events.SQSMessage{MessageId: id, Body: string(body),
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

func TestWorkerBatch(t *testing.T) {
	const a, b, c, d = "012345678901", "123456789012", "210987654321", "004455667788"
	results := map[string]reconcile.Result{
		"ok-1":   {Action: reconcile.ActionNone, Class: fault.None, Reason: "in sync"},
		"ok-2":   {Action: reconcile.ActionUpdate, Class: fault.None, Reason: "parameters differ", Changes: []reconcile.Change{{Parameter: "CreateNewTrail", Before: "False", After: "True"}}, Steps: []reconcile.Step{{Action: reconcile.ActionUpdate, Detail: "UpdateStack"}}},
		"busy":   {Action: reconcile.ActionWait, Class: fault.Transient, Reason: "UPDATE_IN_PROGRESS past the deadline"},
		"broken": {Action: reconcile.ActionNeedsPerson, Class: fault.NeedsPerson, Reason: "DELETE_FAILED: delete the stack by hand"},
		"bad":    {Action: reconcile.ActionFail, Class: fault.Permanent, Reason: "template URL refused", Err: errors.New("ValidationError")},
		"zero":   {Action: reconcile.ActionNone}, // no class, no error: success
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
	w := &worker.Worker{Reconciler: rec, Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: metrics.New(&emf, "reconcile")}
	bad := events.SQSMessage{MessageId: "m6", Body: `{"version":2,"account":"12345"}`, Attributes: map[string]string{"MessageGroupId": d}}
	batch := events.SQSEvent{Records: []events.SQSMessage{
		msg("m1", a, "ok-1"),
		msg("m2", b, "busy"),   // transient: fails, and holds back m4 (same group)
		msg("m3", a, "ok-2"),   // group a still fine
		msg("m4", b, "ok-1"),   // held back
		msg("m5", c, "broken"), // needs a person: DLQ path
		bad,                    // permanent decode error: DLQ path
		msg("m7", d, "ok-1"),   // held back behind the bad message
		msg("m8", c, "ok-1"),   // held back behind m5
		msg("m9", "999999999999", "zero"),
		msg("m10", "888888888888", "bad"),
		msg("m11", "777777777777", "boom"),
	}}
	resp := run(t, w, batch)
	if got, want := failed(resp), "m2,m4,m5,m6,m7,m8,m10,m11"; got != want {
		t.Errorf("failures %s, want %s", got, want)
	}
	var processed []string
	for _, r := range rec.Requests {
		processed = append(processed, r.Account+"/"+r.EventID)
	}
	if got := strings.Join(processed, " "); got != "012345678901/ok-1 123456789012/busy 012345678901/ok-2 210987654321/broken 999999999999/zero 888888888888/bad 777777777777/boom" {
		t.Errorf("processed %s: held-back messages must not reach the reconciler", got)
	}
	// One line per message, with the fields.
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != len(batch.Records) {
		t.Errorf("%d log lines for %d messages", len(lines), len(batch.Records))
	}
	byMsg := map[string]map[string]any{}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		byMsg[fmt.Sprint(m["message_id"])] = m
	}
	for id, want := range map[string]string{"m1": "INFO done none", "m2": "WARN retry transient", "m4": "WARN held-back <nil>",
		"m5": "ERROR dlq needs-person", "m6": "ERROR dlq permanent", "m10": "ERROR dlq permanent", "m11": "WARN retry transient"} {
		m := byMsg[id]
		if got := fmt.Sprint(m["level"], " ", m["outcome"], " ", m["class"]); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
	if m := byMsg["m3"]; m["changes"] == nil || m["steps"] == nil || m["replay"] != "r1" || m["event_id"] != "ok-2" || m["action"] != "update" {
		t.Errorf("m3 line %v", m)
	}
	if m := byMsg["m6"]; !strings.Contains(fmt.Sprint(m["body"]), `"account":"12345"`) || !strings.Contains(fmt.Sprint(m["reason"]), "version=2") {
		t.Errorf("bad message not logged with its request: %v", m)
	}
	if m := byMsg["m10"]; !strings.Contains(fmt.Sprint(m["reason"]), "ValidationError") {
		t.Errorf("m10 reason %v", m["reason"])
	}
	if !strings.Contains(emf.String(), `"Action":"update","Class":"none"`) && !strings.Contains(emf.String(), `"Class":"none"`) {
		t.Errorf("no outcome metric: %s", emf.String())
	}
}

func TestWorkerConfigErrorAndDeadline(t *testing.T) {
	rec := &FakeReconciler{ReconcileFn: func(queue.Request) reconcile.Result { return reconcile.Result{Class: fault.None} }}
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
}

// FakeDeadLetter records the messages moved to the DLQ.
type FakeDeadLetter struct {
	mu   sync.Mutex
	Sent []*sqs.SendMessageInput
	Err  error
}

var _ worker.DeadLetterAPI = (*FakeDeadLetter)(nil)

func (f *FakeDeadLetter) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return nil, f.Err
	}
	f.Sent = append(f.Sent, in)
	return &sqs.SendMessageOutput{}, nil
}

// Permanent and needs-person failures go to the DLQ at once, with their reason; transient
// ones go back to the queue; when the DLQ cannot be reached, SQS redrive is the fallback.
func TestDeadLetterAtOnce(t *testing.T) {
	const a, b, c = "012345678901", "123456789012", "210987654321"
	rec := &FakeReconciler{ReconcileFn: func(req queue.Request) reconcile.Result {
		switch req.Account {
		case a:
			return reconcile.Result{Action: reconcile.ActionNeedsPerson, Class: fault.NeedsPerson, Reason: "stack is DELETE_FAILED"}
		case b:
			return reconcile.Result{Action: reconcile.ActionWait, Class: fault.Transient, Reason: "in progress"}
		}
		return reconcile.Result{Action: reconcile.ActionNone, Class: fault.None}
	}}
	dlq := &FakeDeadLetter{}
	w := &worker.Worker{Reconciler: rec, DeadLetter: dlq, DeadLetterURL: "https://sqs.example/dlq.fifo"}
	bad := events.SQSMessage{MessageId: "m-bad", Body: `{"version":7}`, Attributes: map[string]string{"MessageGroupId": c}}
	resp := run(t, w, events.SQSEvent{Records: []events.SQSMessage{msg("m-a", a, "e1"), msg("m-b", b, "e2"), bad}})
	if got := failed(resp); got != "m-b" {
		t.Fatalf("failures %q, want only the transient one", got)
	}
	if len(dlq.Sent) != 2 {
		t.Fatalf("dead-lettered %d messages, want 2", len(dlq.Sent))
	}
	first := dlq.Sent[0]
	if *first.MessageGroupId != a || *first.MessageAttributes["class"].StringValue != "needs-person" ||
		!strings.Contains(*first.MessageAttributes["reason"].StringValue, "DELETE_FAILED") || *first.MessageBody != msg("m-a", a, "e1").Body {
		t.Fatalf("dead letter %+v", first)
	}
	if !strings.Contains(*dlq.Sent[1].MessageAttributes["reason"].StringValue, "version=7") {
		t.Fatalf("the reason of the bad message does not name the field: %s", *dlq.Sent[1].MessageAttributes["reason"].StringValue)
	}

	dlq.Err = errors.New("AccessDenied")
	resp = run(t, w, events.SQSEvent{Records: []events.SQSMessage{msg("m-a2", a, "e3")}})
	if got := failed(resp); got != "m-a2" {
		t.Fatalf("with the DLQ unreachable, failures %q, want m-a2 (SQS redrive)", got)
	}
}
