//go:build integration

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
)

// patternCase is one event and the handlers whose rules must match it.
type patternCase struct {
	name  string
	event map[string]any
	want  []string // handlers, sorted; none: no rule may match
}

// goldenExpectation says which handler's rule each golden event of internal/event/testdata
// must reach. Failed API calls (an errorCode in the detail) reach none, whatever the service;
// scheduled events reach none because the schedule invokes the sweep directly (EventBridge
// Scheduler), and unknown sources reach none.
func goldenExpectation(file string, ev map[string]any) []string {
	if d, ok := ev["detail"].(map[string]any); ok && ev["detail-type"] == "AWS API Call via CloudTrail" {
		if _, failed := d["errorCode"]; failed {
			return nil
		}
	}
	switch {
	case strings.HasPrefix(file, "controltower-"), strings.HasPrefix(file, "organizations-"):
		return []string{"accountvending"}
	case strings.HasPrefix(file, "cloudtrail-"), strings.HasPrefix(file, "cloudformation-"):
		return []string{"trailguard"}
	case strings.HasPrefix(file, "manual-"):
		return []string{"sweep"}
	}
	return nil // scheduled-*, unknown-*
}

// TestRulePatternsMatchHandlers creates the rules of deploy/template.yaml on moto with SQS
// targets (as the suite does), puts every golden event of the handlers on the bus it travels
// on, and checks which rules matched: every kind reaches exactly its handler's rule, while
// failed calls, other event names and other sources reach none. Templates and handlers
// cannot drift apart without this test failing.
func TestRulePatternsMatchHandlers(t *testing.T) {
	w := seedWorld(t, "us-east-1") // the region where the Organizations rule exists
	opts := w.h.Options(w.region, secret())
	opts.Faults, opts.NoLambdas = nil, true // the rules alone: moto's EventBridge, no Lambda
	env, err := localworld.Setup(w.ctx, w.h.Moto, w.h.Recorder, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()

	var cases []patternCase
	dir := filepath.Join(suite.root, "internal", "event", "testdata")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) < 20 {
		t.Fatalf("golden events: %d files, %v", len(files), err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ev map[string]any
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cases = append(cases, patternCase{name: filepath.Base(f), event: ev, want: goldenExpectation(filepath.Base(f), ev)})
	}
	// Variants the golden files do not hold: other event names of the same services.
	for _, v := range []struct{ from, name, eventName string }{
		{"cloudtrail-delete-trail.json", "cloudtrail-lookup-events (variant)", "LookupEvents"},
		{"cloudformation-delete-stack.json", "cloudformation-create-stack (variant)", "CreateStack"},
		{"controltower-create-managed-account.json", "controltower-setup-landing-zone (variant)", "SetupLandingZone"},
		{"organizations-create-account-result.json", "organizations-invite-account (variant)", "InviteAccountToOrganization"},
	} {
		raw, err := os.ReadFile(filepath.Join(dir, v.from))
		if err != nil {
			t.Fatal(err)
		}
		var ev map[string]any
		_ = json.Unmarshal(raw, &ev)
		ev["detail"].(map[string]any)["eventName"] = v.eventName
		cases = append(cases, patternCase{name: v.name, event: ev})
	}

	// Put each event on the bus it travels on, marked so that deliveries can be told apart.
	eb := eventbridge.NewFromConfig(w.h.Moto.Config(w.ctx, w.region))
	for i := range cases {
		c := &cases[i]
		detail, _ := c.event["detail"].(map[string]any)
		if detail == nil {
			detail = map[string]any{}
		}
		detail["goldenCase"] = c.name
		d, _ := json.Marshal(detail)
		src, _ := c.event["source"].(string)
		dt, _ := c.event["detail-type"].(string)
		buses := []string{localworld.BusName} // trail and stack events: forwarded to the onboarder bus
		if src != "aws.cloudtrail" && src != "aws.cloudformation" {
			buses = []string{"default"}
		}
		for _, bus := range buses {
			out, err := eb.PutEvents(w.ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
				Source: aws.String(src), DetailType: aws.String(dt), Detail: aws.String(string(d)), EventBusName: aws.String(bus),
			}}})
			if err != nil || out.FailedEntryCount > 0 {
				t.Fatalf("%s: put on %s: %v", c.name, bus, err)
			}
		}
	}

	// Collect what each handler's queue received.
	got := map[string][]string{} // case -> handlers
	q := sqs.NewFromConfig(w.h.Moto.Config(w.ctx, w.region))
	for handler, url := range env.IntakeQueues {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			out, err := q.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Messages) == 0 {
				break
			}
			for _, m := range out.Messages {
				var ev struct {
					Detail map[string]any `json:"detail"`
				}
				if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil {
					t.Fatalf("%s queue: %v", handler, err)
				}
				name, _ := ev.Detail["goldenCase"].(string)
				got[name] = append(got[name], handler)
				_, _ = q.DeleteMessage(w.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
			}
		}
	}
	matched := 0
	for _, c := range cases {
		g := got[c.name]
		sort.Strings(g)
		if !slices.Equal(g, c.want) {
			t.Errorf("%s: reached %v, want %v", c.name, g, c.want)
		}
		if len(c.want) > 0 {
			matched++
		}
	}
	t.Logf("%d events, %d must reach a rule, %d must reach none", len(cases), matched, len(cases)-matched)
	for _, k := range []string{"accountvending", "trailguard", "sweep"} {
		if _, ok := env.IntakeQueues[k]; !ok {
			t.Errorf("no rule of deploy/template.yaml targets %s", k)
		}
	}
}
