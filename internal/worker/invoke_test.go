package worker_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/operator"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/worker"
)

// fakeOperator records the operator requests and answers each with its op.
type fakeOperator struct{ got []operator.Request }

func (f *fakeOperator) Serve(_ context.Context, req operator.Request) operator.Response {
	f.got = append(f.got, req)
	return operator.Response{Op: req.Op, Deferred: req.Accounts}
}

// One function, two payloads: the handler the Lambda starts (Invoke) tells an SQS batch from
// an operator request by its shape, and refuses anything else.
func TestInvokeDispatches(t *testing.T) {
	rec := &FakeReconciler{ReconcileFn: func(req queue.Request) reconcile.Result {
		return reconcile.Result{Account: req.Account, Action: reconcile.ActionNone, Class: fault.None, Outcome: reconcile.OutcomeDone}
	}}
	op := &fakeOperator{}
	w := &worker.Worker{Reconciler: rec, Operator: op}
	h := lambda.NewHandler(w.Invoke)

	batch, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{msg("m1", "111111111111", "e1")}})
	out, err := h.Invoke(context.Background(), batch)
	var resp events.SQSEventResponse
	if err != nil || json.Unmarshal(out, &resp) != nil || len(resp.BatchItemFailures) != 0 || len(rec.Requests) != 1 {
		t.Fatalf("an SQS batch: %s %v, %d requests", out, err, len(rec.Requests))
	}
	if len(op.got) != 0 {
		t.Error("the batch reached the operator handler")
	}

	out, err = h.Invoke(context.Background(), []byte(`{"operator":{"op":"status","accounts":["222222222222"]}}`))
	var ans operator.Response
	if err != nil || json.Unmarshal(out, &ans) != nil || ans.Op != "status" || len(ans.Deferred) != 1 || len(op.got) != 1 {
		t.Fatalf("an operator request: %s %v", out, err)
	}
	if len(rec.Requests) != 1 {
		t.Error("the operator request reached the reconciler")
	}

	out, err = h.Invoke(context.Background(), []byte(`{"operator":{"op":"status","bogus":1}}`))
	if err != nil || !strings.Contains(string(out), `unknown field \"bogus\"`) {
		t.Errorf("an operator request with an unknown field: %s %v", out, err)
	}
	for _, payload := range []string{`{"detail-type":"Scheduled Event"}`, `[1,2]`, `"x"`} {
		if _, err := h.Invoke(context.Background(), []byte(payload)); err == nil || !strings.Contains(err.Error(), "payload") {
			t.Errorf("payload %s: %v, want a refusal", payload, err)
		}
	}
	// A worker without an operator handler says so.
	w.Operator = nil
	out, _ = h.Invoke(context.Background(), []byte(`{"operator":{"op":"config"}}`))
	if !strings.Contains(string(out), "answers no operator request") {
		t.Errorf("no operator handler: %s", out)
	}
}
