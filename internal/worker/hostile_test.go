package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/worker"
)

var hostileDir = filepath.Join("..", "event", "testdata", "hostile")

// hostileMessage is the outcome the manifest gives a reconcile-queue message body.
type hostileMessage struct {
	Outcome string `json:"outcome"` // dlq
	Class   string `json:"class"`   // permanent
	Reason  string `json:"reason"`  // a substring of the logged reason: the field
	Why     string `json:"why"`
}

// maxLogLine bounds a log line: a hostile message must never be echoed whole.
const maxLogLine = 4096

func generatedBody(t *testing.T, key string) string {
	t.Helper()
	switch key {
	case "gen:body-1mb":
		return `{"version":1,"account":"` + strings.Repeat("0", 1<<20) + `","trigger":"sweep","eventId":"big"}`
	case "gen:body-nesting-100k":
		return strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	}
	t.Fatalf("no generator for %s", key)
	return ""
}

// TestHostileMessages gives every bad message of the corpus to the worker, in a batch with a
// later message of the same group and a good message of another group. The bad message
// must be a batch item failure (with no DLQ configured it goes back to the queue and reaches
// the DLQ after maxReceiveCount: nothing silently dropped), logged at ERROR with the reason
// naming the field and counted; the Reconciler must never see it, while the later request of
// the same account and the other account still run.
func TestHostileMessages(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(hostileDir, "outcomes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Messages          map[string]hostileMessage `json:"messages"`
		GeneratedMessages map[string]hostileMessage `json:"generated_messages"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("outcomes.json: %v", err)
	}
	all := map[string]hostileMessage{}
	for k, v := range m.Messages {
		all[k] = v
	}
	for k, v := range m.GeneratedMessages {
		all[k] = v
	}
	files, _ := filepath.Glob(filepath.Join(hostileDir, "queue-*.body"))
	for _, f := range files {
		if _, ok := m.Messages[filepath.Base(f)]; !ok {
			t.Errorf("%s has no outcome in outcomes.json", filepath.Base(f))
		}
	}
	if len(all) < 7 {
		t.Errorf("%d message entries", len(all))
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		want := all[key]
		t.Run(key, func(t *testing.T) {
			var body string
			if strings.HasPrefix(key, "gen:") {
				body = generatedBody(t, key)
			} else {
				raw, err := os.ReadFile(filepath.Join(hostileDir, key))
				if err != nil {
					t.Fatal(err)
				}
				body = string(raw)
			}
			problems := hostileBatch(t, body, want)
			for _, p := range problems {
				t.Error(p)
			}
		})
	}
}

func hostileBatch(t *testing.T, body string, want hostileMessage) (problems []string) {
	t.Helper()
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	const groupA, groupB = "012345678901", "123456789012"
	rec := &FakeReconciler{ReconcileFn: func(req queue.Request) reconcile.Result {
		if req.EventID != "good-b" && req.EventID != "later-a" {
			t.Errorf("Reconciler called for %s/%s: a bad message reached it", req.Account, req.EventID)
		}
		return reconcile.Result{Account: req.Account, Action: reconcile.ActionNone, Class: fault.None, Reason: "in sync", Outcome: reconcile.OutcomeDone}
	}}
	var logs, emf bytes.Buffer
	w := &worker.Worker{Reconciler: rec, Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: metrics.New(&emf, "reconcile")}
	hostile := events.SQSMessage{MessageId: "hostile", Body: body,
		Attributes: map[string]string{"MessageGroupId": groupA, "ApproximateReceiveCount": "1"}}
	batch := events.SQSEvent{Records: []events.SQSMessage{hostile, msg("later-a", groupA, "later-a"), msg("good-b", groupB, "good-b")}}
	raw, err := json.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("worker panicked: %v", p)
			}
		}()
		out, err = lambda.NewHandler(w.Handle).Invoke(context.Background(), raw)
	}()
	if err != nil {
		t.Fatalf("handler error %v: failures must be batch item failures", err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if got := failed(resp); got != "hostile" {
		bad("batch item failures %q, want hostile (the bad message back to the queue: no DLQ here; the later request of its account still runs)", got)
	}
	if len(rec.Requests) != 2 {
		bad("%d reconciles, want 2 (later-a, good-b)", len(rec.Requests))
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if len(l) > maxLogLine {
			bad("a log line of %d bytes: the message is echoed into the logs", len(l))
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %.200q", l)
		}
		if m["message_id"] == "hostile" {
			if line != nil {
				bad("two log lines for the bad message")
			}
			line = m
		}
	}
	if line == nil {
		bad("the bad message is not logged")
		return problems
	}
	if line["level"] != "ERROR" || line["outcome"] != want.Outcome || line["class"] != want.Class {
		bad("logged %v/%v/%v, want ERROR/%s/%s", line["level"], line["outcome"], line["class"], want.Outcome, want.Class)
	}
	if reason := fmt.Sprint(line["reason"]); !strings.Contains(reason, want.Reason) {
		bad("reason %.300q does not name %q", reason, want.Reason)
	}
	if line["group"] != groupA || line["receive_count"] != "1" {
		bad("group %v receive_count %v", line["group"], line["receive_count"])
	}
	if !strings.Contains(emf.String(), `"Action":"decode"`) || !strings.Contains(emf.String(), `"Class":"permanent"`) || !strings.Contains(emf.String(), `"ReconcileFailed":1`) {
		bad("the bad message is not counted: %.500s", emf.String())
	}
	return problems
}
