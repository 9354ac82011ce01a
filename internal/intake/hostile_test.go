package intake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/event"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/intake"
)

// hostileDir holds the hostile-input corpus and its manifest (issue 8).
var hostileDir = filepath.Join("..", "event", "testdata", "hostile")

// hostileWant is the outcome the manifest gives an event.
type hostileWant struct {
	Category string `json:"category"`
	Intake   string `json:"intake"`   // the intake whose kinds the event belongs to
	Decision string `json:"decision"` // error or skip
	Reason   string `json:"reason"`
	Detail   string `json:"detail"` // a substring of the log line's detail
	Layer    string `json:"layer"`  // "runtime": refused by the Lambda runtime's decoder before Handle
	Why      string `json:"why"`
}

type hostileManifest struct {
	Events    map[string]hostileWant `json:"events"`
	Generated map[string]hostileWant `json:"generated"`
}

func loadHostile(t *testing.T) hostileManifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(hostileDir, "outcomes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m hostileManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("outcomes.json: %v", err)
	}
	return m
}

// replaceOnce replaces old in a golden event, failing the test if it is not there.
func replaceOnce(t *testing.T, name, old, new string) []byte {
	t.Helper()
	b := golden(t, name)
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s has no %s", name, old)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

const stopLoggingName = `"name": "arn:aws:cloudtrail:us-east-1:012345678901:trail/org-audit"`

// generatedEvent builds the entries too big to commit.
func generatedEvent(t *testing.T, key string) []byte {
	t.Helper()
	switch key {
	case "gen:payload-1mb":
		return replaceOnce(t, "cloudtrail-stop-logging.json", `"eventVersion": "1.09",`, `"padding": "`+strings.Repeat("A", 1<<20)+`", "eventVersion": "1.09",`)
	case "gen:payload-1mb-unknown-source":
		return replaceOnce(t, "unknown-ec2-run-instances.json", `"eventVersion": "1.09",`, `"padding": "`+strings.Repeat("A", 1<<20)+`", "eventVersion": "1.09",`)
	case "gen:nesting-100k":
		return replaceOnce(t, "cloudtrail-stop-logging.json", stopLoggingName, `"name": `+strings.Repeat("[", 100000)+strings.Repeat("]", 100000))
	case "gen:nesting-9000-in-name":
		return replaceOnce(t, "cloudtrail-stop-logging.json", stopLoggingName, `"name": `+strings.Repeat(`{"a":`, 9000)+"1"+strings.Repeat("}", 9000))
	case "gen:nesting-9000-unknown-source":
		return replaceOnce(t, "unknown-ec2-run-instances.json", `"eventVersion": "1.09",`, `"deep": `+strings.Repeat("[", 9000)+strings.Repeat("]", 9000)+`, "eventVersion": "1.09",`)
	case "gen:id-200k":
		return replaceOnce(t, "unknown-ec2-run-instances.json", `"id": "0c6e5d9a-1b2c-4d3e-8f40-000000000070"`, `"id": "`+strings.Repeat("7", 200*1024)+`"`)
	}
	t.Fatalf("no generator for %s", key)
	return nil
}

// maxLogLine bounds a log line: a hostile event must never be echoed into the logs.
const maxLogLine = 4096

// hostileIntake is one intake wired to fakes that record every call and refuse writes.
type hostileIntake struct {
	name   string
	handle func(ctx context.Context, raw json.RawMessage) error
}

// hostileEnv wires the three intakes to fakes. SendMessageBatch, the only write an intake
// can make, fails the test unless allowWrites (entries waiting for a product fix).
func hostileEnv(t *testing.T) (*env, []hostileIntake) {
	e := newEnv()
	var mu sync.Mutex
	e.sqs.SendMessageBatchCalls.Do(func(_ context.Context, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
		mu.Lock()
		defer mu.Unlock()
		var bodies []string
		for _, en := range in.Entries {
			bodies = append(bodies, truncateForLog(aws.ToString(en.MessageBody)))
		}
		t.Errorf("AWS write: SQS SendMessageBatch for a hostile event: %v", bodies)
		return &sqs.SendMessageBatchOutput{}, nil
	})
	e.ledger.Seed(forwarding())
	e.orgs.Management = management
	e.orgs.Accounts = []orgtypes.Account{{Id: aws.String(member), State: orgtypes.AccountStateActive}}
	e.orgs.Parents = map[string]string{member: "r-ab12"}
	cfg := baseConfig()
	return e, []hostileIntake{
		{"accountvending", intake.NewAccountVending(cfg, intake.ValidateAccountVending(cfg), e.queue(), e.orgs, e.log, e.metrics).Handle},
		{"trailguard", intake.NewTrailGuard(cfg, intake.ValidateTrailGuard(cfg), e.queue(), e.ledger, e.orgs, e.log, e.metrics).Handle},
		{"sweep", intake.NewSweep(cfg, intake.ValidateSweep(cfg), e.queue(), e.orgs, e.log, e.metrics).Handle},
	}
}

func truncateForLog(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// forIntake is the outcome for intake of an event whose owner is w.Intake: parse-level
// outcomes are the same for all, the others are "not-handled" elsewhere.
func (w hostileWant) forIntake(name string) hostileWant {
	if name == w.Intake || w.Reason == intake.ReasonBadEvent || w.Reason == intake.ReasonUnknownEvent {
		return w
	}
	return hostileWant{Intake: w.Intake, Decision: intake.Skip, Reason: intake.ReasonNotHandled, Detail: "not handled by " + name}
}

// invokeSafe runs fn, turning a panic into a test failure.
func invokeSafe(t *testing.T, what string, fn func() error) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s panicked: %v", what, p)
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn()
}

// emfEvents counts the Events metric lines by decision/reason.
func emfEvents(t *testing.T, emf string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(emf), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("metrics line is not JSON: %q", truncateForLog(l))
		}
		if n, ok := m["Events"].(float64); ok {
			out[fmt.Sprint(m["Decision"], "/", m["Reason"])] += int(n)
		}
	}
	return out
}

// eventID is the id the intake should log: the envelope's string id, when it can be read.
func eventID(raw []byte) (string, bool) {
	if len(raw) > event.MaxSize {
		return "", false
	}
	var s struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	id, ok := s.ID.(string)
	return id, ok && len(id) <= 128
}

// TestHostileEvents runs every event of the hostile corpus through the three intakes, as
// the Lambda runtime does, and checks the manifest's outcome: no panic, nil returned (a bad
// event is logged and dropped), the decision logged and counted, no AWS write.
func TestHostileEvents(t *testing.T) {
	m := loadHostile(t)
	type entry struct {
		key  string
		want hostileWant
	}
	var entries []entry
	for k, w := range m.Events {
		entries = append(entries, entry{k, w})
	}
	for k, w := range m.Generated {
		entries = append(entries, entry{k, w})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	if len(entries) < 40 {
		t.Errorf("%d corpus entries, issue 8 asks for at least 40", len(entries))
	}
	files, _ := filepath.Glob(filepath.Join(hostileDir, "*.json"))
	for _, f := range files {
		if b := filepath.Base(f); b != "outcomes.json" {
			if _, ok := m.Events[b]; !ok {
				t.Errorf("%s has no outcome in outcomes.json", b)
			}
		}
	}
	for _, en := range entries {
		t.Run(en.key, func(t *testing.T) {
			var raw []byte
			if strings.HasPrefix(en.key, "gen:") {
				raw = generatedEvent(t, en.key)
			} else {
				var err error
				if raw, err = os.ReadFile(filepath.Join(hostileDir, en.key)); err != nil {
					t.Fatal(err)
				}
			}
			if en.want.Decision == "" || en.want.Reason == "" || en.want.Intake == "" {
				t.Fatalf("manifest entry incomplete: %+v", en.want)
			}
			var problems []string
			for _, name := range []string{"accountvending", "trailguard", "sweep"} {
				problems = append(problems, hostileRun(t, name, raw, en.want)...)
			}
			for _, p := range problems {
				t.Error(p)
			}
		})
	}
}

// hostileRun runs raw through one intake and returns what differs from want.
func hostileRun(t *testing.T, name string, raw []byte, owner hostileWant) (problems []string) {
	t.Helper()
	want := owner.forIntake(name)
	bad := func(format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}
	e, handlers := hostileEnv(t)
	var h hostileIntake
	for _, c := range handlers {
		if c.name == name {
			h = c
		}
	}
	ctx := context.Background()
	err := invokeSafe(t, name, func() error {
		_, err := lambda.NewHandler(h.handle).Invoke(ctx, raw)
		return err
	})
	if want.Layer == "runtime" {
		// Refused by the runtime's decoder: nothing ran. Then the product's own defence:
		// Handle given the same bytes must classify them.
		if err == nil {
			bad("the runtime accepted a payload that is not one JSON value")
		}
		if e.logs.Len() != 0 || e.sqs.SendMessageBatchCalls.Count() != 0 || e.ledger.GetCalls.Count()+e.orgs.Log.Len() != 0 {
			bad("Handle ran although the runtime refused the payload")
		}
		e, handlers = hostileEnv(t)
		for _, c := range handlers {
			if c.name == name {
				h = c
			}
		}
		err = invokeSafe(t, name, func() error { return h.handle(ctx, raw) })
	}
	if err != nil {
		bad("returned %v: a bad event is logged and dropped, not retried", err)
	}
	if n := e.sqs.SendMessageBatchCalls.Count(); n != 0 {
		bad("%d SQS SendMessageBatch calls", n)
	}
	if e.orgs.Log.Len() != 0 {
		bad("Organizations calls %v", e.orgs.Log.Ops())
	}
	wantLedger := 0
	if name == "trailguard" && want.Reason == intake.ReasonNotForwardingTrail {
		wantLedger = 1 // decided on the ledger entry: the one read allowed
	}
	if n := e.ledger.GetCalls.Count(); n != wantLedger {
		bad("%d ledger reads, want %d", n, wantLedger)
	}
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if len(l) > maxLogLine {
			bad("a log line of %d bytes: the event is echoed into the logs", len(l))
		}
	}
	ds := e.decisions(t)
	if len(ds) == 0 {
		bad("no decision logged")
	}
	id, checkID := eventID(raw)
	detailSeen := want.Detail == ""
	for _, d := range ds {
		if d["decision"] != want.Decision || d["reason"] != want.Reason {
			bad("decision %v/%v, want %s/%s (%v)", d["decision"], d["reason"], want.Decision, want.Reason, d["detail"])
		}
		if want.Decision == intake.Error && d["level"] != "ERROR" {
			bad("a bad event logged at %v, want ERROR", d["level"])
		}
		if d["function"] != name {
			bad("function %v", d["function"])
		}
		if checkID && d["event_id"] != id {
			bad("event_id %q, want %q", truncateForLog(fmt.Sprint(d["event_id"])), id)
		}
		if strings.Contains(fmt.Sprint(d["detail"]), want.Detail) {
			detailSeen = true
		}
	}
	if !detailSeen && len(ds) > 0 {
		bad("detail %q does not name %q", truncateForLog(fmt.Sprint(ds[0]["detail"])), want.Detail)
	}
	counts := emfEvents(t, e.emf.String())
	if got := counts[want.Decision+"/"+want.Reason]; got != len(ds) || len(counts) != 1 {
		bad("metrics %v, want %d of %s/%s", counts, len(ds), want.Decision, want.Reason)
	}
	return problems
}
