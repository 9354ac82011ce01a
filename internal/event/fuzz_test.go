package event_test

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/event"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
)

var twelveDigits = regexp.MustCompile(`^[0-9]{12}$`)

// check holds for every result of a parse, whatever the input.
func check(t *testing.T, ev *event.Event, err error) {
	t.Helper()
	if err != nil {
		if c := fault.ClassOf(err); c != fault.Permanent && c != fault.None {
			t.Fatalf("parse error of class %s: %v", c, err)
		}
		if len(err.Error()) > 1000 {
			t.Fatalf("error of %d bytes", len(err.Error()))
		}
		return
	}
	if ev == nil || ev.Kind == "" {
		t.Fatalf("no error and no kind: %+v", ev)
	}
	switch ev.Kind {
	case event.KindTrailCall, event.KindStackCall:
		if !twelveDigits.MatchString(ev.Account) || ev.Call == nil {
			t.Fatalf("call without a valid account: %q", ev.Account)
		}
		if c := ev.Call; c.ARN != "" && !twelveDigits.MatchString(c.ARNAccount) {
			t.Fatalf("ARN account %q", c.ARNAccount)
		}
		if !ev.Call.Failed() && ev.Call.Name == "" {
			t.Fatalf("successful call without a resource name")
		}
	case event.KindManagedAccount, event.KindAccountCreated:
		if ev.Lifecycle == nil || ev.Lifecycle.State == "" {
			t.Fatal("lifecycle without state")
		}
		if ev.Lifecycle.Succeeded() && !twelveDigits.MatchString(ev.Account) {
			t.Fatalf("succeeded lifecycle without a valid account: %q", ev.Account)
		}
	case event.KindManual:
		m := ev.Manual
		if m == nil || (!m.All && len(m.Accounts)+len(m.Invalid) == 0) {
			t.Fatalf("manual request without accounts: %+v", m)
		}
		for _, a := range m.Accounts {
			if !twelveDigits.MatchString(a) {
				t.Fatalf("manual account %q", a)
			}
		}
	}
}

// seeds adds the golden files matching pattern; detailOnly adds only their detail.
func seeds(f *testing.F, pattern string, detailOnly bool) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden files %s", pattern)
	}
	for _, p := range files {
		raw := golden(f, filepath.Base(p))
		if detailOnly {
			var env struct {
				Detail json.RawMessage `json:"detail"`
			}
			if err := json.Unmarshal(raw, &env); err != nil {
				f.Fatal(err)
			}
			raw = env.Detail
		}
		f.Add(raw)
	}
}

// FuzzParse fuzzes whole events through the default registry.
func FuzzParse(f *testing.F) {
	seeds(f, "*.json", false)
	f.Add([]byte(`{"id":"1","source":"onboarder.manual","detail-type":"Reconcile Request","detail":{"accountIds":[1,"012345678901"]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := event.Parse(raw)
		check(t, ev, err)
	})
}

// fuzzParser fuzzes the detail of the events of the given keys.
func fuzzParser(f *testing.F, pattern string, keys []event.Key) {
	seeds(f, pattern, true)
	f.Fuzz(func(t *testing.T, detail []byte) {
		for _, k := range keys {
			if !json.Valid(detail) {
				return // the envelope decoder rejects it before any parser runs
			}
			env := map[string]any{"id": "fuzz", "source": k.Source, "detail-type": k.DetailType, "detail": json.RawMessage(detail)}
			raw, err := json.Marshal(env)
			if err != nil {
				return
			}
			ev, err := event.Parse(raw)
			check(t, ev, err)
			// The parser itself, on the envelope as read, with the key forced.
			p, ok := event.Default.Lookup(k)
			if !ok {
				t.Fatalf("no parser for %v", k)
			}
			direct := &event.Event{Envelope: event.Envelope{ID: "fuzz", Source: k.Source, DetailType: k.DetailType, Detail: detail}}
			direct.Name = k.EventName
			if err := p(direct); err == nil {
				check(t, direct, nil)
			} else {
				check(t, nil, err)
			}
		}
	})
}

func keysOf(source, detailType string, names ...string) []event.Key {
	out := []event.Key{}
	for _, n := range names {
		out = append(out, event.Key{Source: source, DetailType: detailType, EventName: n})
	}
	return out
}

func FuzzParseControlTower(f *testing.F) {
	fuzzParser(f, "controltower-*.json", keysOf("aws.controltower", event.DetailServiceEvent, "CreateManagedAccount", "UpdateManagedAccount"))
}

func FuzzParseOrganizations(f *testing.F) {
	fuzzParser(f, "organizations-*.json", keysOf("aws.organizations", event.DetailServiceEvent, "CreateAccountResult"))
}

func FuzzParseAccountCall(f *testing.F) {
	fuzzParser(f, "organizations-*.json", keysOf("aws.organizations", event.DetailAPICall, event.AccountEvents...))
}

func FuzzParseTrailCall(f *testing.F) {
	fuzzParser(f, "cloudtrail-*.json", keysOf("aws.cloudtrail", event.DetailAPICall, event.TrailEvents...))
}

func FuzzParseStackCall(f *testing.F) {
	fuzzParser(f, "cloudformation-*.json", keysOf("aws.cloudformation", event.DetailAPICall, event.StackEvents...))
}

func FuzzParseManual(f *testing.F) {
	fuzzParser(f, "manual-*.json", keysOf(event.SourceManual, event.DetailManual, ""))
}

func FuzzParseSchedule(f *testing.F) {
	fuzzParser(f, "scheduled-*.json", append(keysOf("aws.events", event.DetailScheduled, ""), keysOf("aws.scheduler", event.DetailScheduled, "")...))
}

func benchParse(b *testing.B, name string) {
	raw := golden(b, name)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := event.Parse(raw); err != nil && !strings.Contains(name, "unknown") {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseControlTower(b *testing.B) {
	benchParse(b, "controltower-create-managed-account.json")
}
func BenchmarkParseOrganizations(b *testing.B) {
	benchParse(b, "organizations-create-account-result.json")
}
func BenchmarkParseTrailCall(b *testing.B) { benchParse(b, "cloudtrail-stop-logging.json") }
func BenchmarkParseStackCall(b *testing.B) { benchParse(b, "cloudformation-update-stack-arn.json") }
func BenchmarkParseManual(b *testing.B)    { benchParse(b, "manual-bad-ids.json") }
func BenchmarkParseSchedule(b *testing.B)  { benchParse(b, "scheduled-events.json") }
func BenchmarkParseUnknown(b *testing.B)   { benchParse(b, "unknown-ec2-run-instances.json") }
