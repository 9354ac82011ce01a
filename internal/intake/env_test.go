package intake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// requests decodes every message the intakes tried to send, taken or not, and checks that
// each one's group and deduplication id are its request's.
func requests(t *testing.T, q *fake.SQS) []queue.Request {
	t.Helper()
	var out []queue.Request
	for _, in := range q.SendMessageBatchCalls.Inputs() {
		for _, e := range in.Entries {
			r, err := queue.Decode(aws.ToString(e.MessageBody))
			if err != nil {
				t.Fatalf("message is not a valid request: %v", err)
			}
			if aws.ToString(e.MessageGroupId) != r.Account || aws.ToString(e.MessageDeduplicationId) != r.DeduplicationID() {
				t.Errorf("group %s / dedup %s do not match request %+v", aws.ToString(e.MessageGroupId), aws.ToString(e.MessageDeduplicationId), r)
			}
			out = append(out, r)
		}
	}
	return out
}

// env is one test's world: fakes, captured logs and metrics. The fakes stand for what a unit
// test cannot have: AWS itself (the handlers against moto are tested in integration/), and
// the failures no emulator plays on demand (throttling, an SQS outage, a ledger that cannot
// be read). The Organization's calls are in orgs.Log, in order.
type env struct {
	sqs     *fake.SQS
	orgs    *fake.Organizations
	ledger  *fake.Ledger
	logs    bytes.Buffer
	emf     bytes.Buffer
	log     *slog.Logger
	metrics *metrics.Recorder
}

func newEnv() *env {
	e := &env{sqs: &fake.SQS{}, orgs: &fake.Organizations{Log: &fake.Log{}}, ledger: &fake.Ledger{}}
	e.log = slog.New(slog.NewJSONHandler(&e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.metrics = metrics.New(&e.emf, "test")
	return e
}

func (e *env) queue() *queue.Sender {
	return &queue.Sender{SQS: e.sqs, QueueURL: "https://sqs.us-east-1.amazonaws.com/999999999999/reconcile.fifo"}
}

// lines decodes the JSON log lines.
func (e *env) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// decisions returns the "event" log lines.
func (e *env) decisions(t *testing.T) []map[string]any {
	var out []map[string]any
	for _, l := range e.lines(t) {
		if l["msg"] == "event" {
			out = append(out, l)
		}
	}
	return out
}

func baseConfig() config.Config {
	c := config.Default()
	c.QueueURL = "https://sqs.us-east-1.amazonaws.com/999999999999/reconcile.fifo"
	c.LedgerTable = "onboarder-ledger"
	return c
}

func golden(t *testing.T, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "event", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// invoke drives a handler from raw bytes, as the Lambda runtime does.
func invoke(t *testing.T, handler any, raw []byte) error {
	t.Helper()
	_, err := lambda.NewHandler(handler).Invoke(context.Background(), raw)
	return err
}

// mutate decodes a golden event, applies f, encodes it again.
func mutate(t *testing.T, name string, f func(m map[string]any)) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(golden(t, name), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, _ := json.Marshal(m)
	return b
}

func detail(m map[string]any) map[string]any { return m["detail"].(map[string]any) }
