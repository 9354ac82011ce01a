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

// TestMemberRulePatterns creates the forwarding rules of deploy/member.yaml (resolved for the
// account and region of the golden events) on moto's default bus with SQS targets, puts every
// golden CloudTrail and CloudFormation event and variants of the stack calls, and checks which
// rule forwarded each: trail calls as the central rules select them, stack calls only when they
// name the onboarding stack, by its name or by its ARN in this account and region; another
// stack, a nested stack of the onboarding stack, a look-alike name, a failed call do not cross.
func TestMemberRulePatterns(t *testing.T) {
	const goldenAccount = "012345678901" // the account of internal/event/testdata's calls
	w := seedWorld(t, "us-east-1")
	rules, err := localworld.ReadRules(filepath.Join(suite.root, "deploy", "member.yaml"), localworld.TemplateValues{
		Region: w.region, Account: goldenAccount, Params: map[string]string{
			"CentralEventBusArn":  "arn:aws:events:us-east-1:" + localworld.ManagementAccount + ":event-bus/" + localworld.BusName,
			"ManagementAccountId": localworld.ManagementAccount, "OrganizationId": "o-abcdefghij", "PrimaryRegion": w.region,
		}})
	if err != nil {
		t.Fatal(err)
	}
	eb := eventbridge.NewFromConfig(w.h.Moto.Config(w.ctx, w.region))
	q := sqs.NewFromConfig(w.h.Moto.Config(w.ctx, w.region))
	queues := map[string]string{} // rule -> queue URL
	for _, r := range rules {
		out, err := q.CreateQueue(w.ctx, &sqs.CreateQueueInput{QueueName: aws.String("member-" + r.Name)})
		if err != nil {
			t.Fatal(err)
		}
		queues[r.Name] = aws.ToString(out.QueueUrl)
		if _, err := eb.PutRule(w.ctx, &eventbridge.PutRuleInput{Name: aws.String(r.Name), EventBusName: aws.String("default"), EventPattern: aws.String(r.Pattern)}); err != nil {
			t.Fatalf("put rule %s: %v", r.Name, err)
		}
		if _, err := eb.PutTargets(w.ctx, &eventbridge.PutTargetsInput{Rule: aws.String(r.Name), EventBusName: aws.String("default"), Targets: []ebtypes.Target{{
			Id: aws.String("queue"), Arn: aws.String("arn:aws:sqs:" + w.region + ":" + localworld.ManagementAccount + ":member-" + r.Name)}}}); err != nil {
			t.Fatalf("put target of %s: %v", r.Name, err)
		}
	}
	for _, want := range []string{"ForwardTrailEventsRule", "ForwardStackEventsRule"} {
		if _, ok := queues[want]; !ok {
			t.Fatalf("member.yaml has no rule %s (rules: %v)", want, queues)
		}
	}

	var cases []patternCase
	dir := filepath.Join(suite.root, "internal", "event", "testdata")
	read := func(file string) map[string]any {
		raw, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		var ev map[string]any
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return ev
	}
	files, _ := filepath.Glob(filepath.Join(dir, "cloud*.json"))
	stackCalls := 0
	for _, f := range files {
		name := filepath.Base(f)
		ev := read(name)
		d, _ := ev["detail"].(map[string]any)
		_, failed := d["errorCode"]
		var want []string
		switch {
		case failed:
		case strings.HasPrefix(name, "cloudtrail-"):
			want = []string{"ForwardTrailEventsRule"}
		case name == "cloudformation-delete-other-stack.json":
		case strings.HasPrefix(name, "cloudformation-"):
			want = []string{"ForwardStackEventsRule"}
			stackCalls++
		}
		cases = append(cases, patternCase{name: name, event: ev, want: want})
	}
	if len(files) < 10 || stackCalls < 3 {
		t.Fatalf("golden events: %d files, %d calls on the onboarding stack", len(files), stackCalls)
	}
	// Variants: the same UpdateStack naming other stacks.
	for _, v := range []struct {
		stackName string
		forward   bool
	}{
		{"CloudOne", true},
		{"arn:aws:cloudformation:us-east-1:" + goldenAccount + ":stack/CloudOne/4f7a3c10-dae1-11ee-8a7b-0affd1c2b3a4", true},
		{"CloudOne-CloudTrail-1RHQ7B0ZG4X9K", false}, // a nested stack of the onboarding stack
		{"arn:aws:cloudformation:us-east-1:" + goldenAccount + ":stack/CloudOne-CloudTrail-1RHQ7B0ZG4X9K/4f7a3c10-dae1-11ee-8a7b-0affd1c2b3a4", false},
		{"CloudOneX", false},
		{"cloudone", false},
		{"arn:aws:cloudformation:us-east-1:" + goldenAccount + ":stack/CloudOneX/4f7a3c10-dae1-11ee-8a7b-0affd1c2b3a4", false},
		{"arn:aws:cloudformation:eu-west-1:" + goldenAccount + ":stack/CloudOne/4f7a3c10-dae1-11ee-8a7b-0affd1c2b3a4", false},
		{"arn:aws:cloudformation:us-east-1:" + localworld.ManagementAccount + ":stack/CloudOne/4f7a3c10-dae1-11ee-8a7b-0affd1c2b3a4", false},
		{"AWSControlTowerBP-BASELINE-CLOUDWATCH", false}, // a landing-zone update
	} {
		ev := read("cloudformation-update-stack-arn.json")
		ev["detail"].(map[string]any)["requestParameters"].(map[string]any)["stackName"] = v.stackName
		c := patternCase{name: "UpdateStack " + v.stackName + " (variant)", event: ev}
		if v.forward {
			c.want = []string{"ForwardStackEventsRule"}
		}
		cases = append(cases, c)
	}

	for i := range cases {
		c := &cases[i]
		detail, _ := c.event["detail"].(map[string]any)
		detail["goldenCase"] = c.name
		d, _ := json.Marshal(detail)
		src, _ := c.event["source"].(string)
		dt, _ := c.event["detail-type"].(string)
		out, err := eb.PutEvents(w.ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			Source: aws.String(src), DetailType: aws.String(dt), Detail: aws.String(string(d)), EventBusName: aws.String("default"),
		}}})
		if err != nil || out.FailedEntryCount > 0 {
			t.Fatalf("%s: put: %v", c.name, err)
		}
	}
	got := map[string][]string{} // case -> rules
	for rule, url := range queues {
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
					t.Fatalf("%s queue: %v", rule, err)
				}
				name, _ := ev.Detail["goldenCase"].(string)
				got[name] = append(got[name], rule)
				_, _ = q.DeleteMessage(w.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
			}
		}
	}
	forwarded := 0
	for _, c := range cases {
		g := got[c.name]
		sort.Strings(g)
		if !slices.Equal(g, c.want) {
			t.Errorf("%s: forwarded by %v, want %v", c.name, g, c.want)
		}
		if len(c.want) > 0 {
			forwarded++
		}
	}
	t.Logf("%d events, %d must be forwarded, %d must not", len(cases), forwarded, len(cases)-forwarded)
}
