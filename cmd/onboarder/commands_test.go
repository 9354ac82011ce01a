//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

func TestValidate(t *testing.T) {
	f := newFixture(t)
	r := f.runExit(exitOK, "validate")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	checks := lines[:len(lines)-1]
	if len(checks) != 10 {
		t.Fatalf("want 10 check lines, got %d:\n%s", len(checks), r.stdout)
	}
	for _, l := range checks {
		if !strings.HasPrefix(l, "OK    ") {
			t.Errorf("check not OK: %s", l)
		}
	}
	for _, want := range []string{"region us-1, AWS region us-east-1", "declares the six parameters", "role/AWSControlTowerExecution assumed in ",
		"cloudone-onboarder-guardrail-CloudOne (" + f.guardrail + ") is over every one of the 3 in-scope accounts (attached to " + f.root + ")",
		"StackSet cloudone-onboarder-member covers us-east-1", "shape           installed in the management account"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("validate output lacks %q:\n%s", want, r.stdout)
		}
	}

	// The configured Cloud One region wins, and the line says so (the member StackSet has
	// that region too).
	must(t, "create stack instances", err2(cloudformation.NewFromConfig(f.aws).CreateStackInstances(f.ctx, &cloudformation.CreateStackInstancesInput{
		StackSetName: aws.String("cloudone-onboarder-member"), Accounts: []string{f.members[0]}, Regions: []string{"eu-central-1"}})))
	f.env["ONBOARDER_CLOUDONE_REGION"] = "de-1"
	r = f.runExit(exitOK, "validate", "--account", f.members[1])
	if !strings.Contains(r.stdout, "ONBOARDER_CLOUDONE_REGION=de-1 is set and wins: stacks go to eu-central-1") ||
		!strings.Contains(r.stdout, "assumed in "+f.members[1]+" (eu-central-1)") {
		t.Errorf("configured region does not win:\n%s", r.stdout)
	}
	delete(f.env, "ONBOARDER_CLOUDONE_REGION")
}

// A guardrail that is missing or not over every account is a warning; a member StackSet that
// misses the stacks' region, or a forwarding trail's, is a failure.
func TestValidateGuardrailAndRegions(t *testing.T) {
	f := newFixture(t)
	orgs := organizations.NewFromConfig(f.aws)
	must(t, "detach", err2(orgs.DetachPolicy(f.ctx, &organizations.DetachPolicyInput{PolicyId: aws.String(f.guardrail), TargetId: aws.String(f.root)})))
	must(t, "attach to the OU", err2(orgs.AttachPolicy(f.ctx, &organizations.AttachPolicyInput{PolicyId: aws.String(f.guardrail), TargetId: aws.String(f.ou)})))
	r := f.runExit(exitOK, "validate")
	// The in-scope accounts are all in the OU: attached there, it covers them.
	if !strings.Contains(r.stdout, "OK    guardrail") || !strings.Contains(r.stdout, "(attached to "+f.ou+")") {
		t.Errorf("guardrail on the OU:\n%s", r.stdout)
	}
	must(t, "detach", err2(orgs.DetachPolicy(f.ctx, &organizations.DetachPolicyInput{PolicyId: aws.String(f.guardrail), TargetId: aws.String(f.ou)})))
	r = f.runExit(exitOK, "validate")
	if !strings.Contains(r.stdout, "WARN  guardrail") || !strings.Contains(r.stdout, "not over 3 of the 3 in-scope accounts") ||
		!strings.Contains(r.stdout, "1 with a warning") {
		t.Errorf("a detached guardrail is not a warning:\n%s", r.stdout)
	}

	f.env["ONBOARDER_CLOUDONE_REGION"] = "de-1" // stacks in eu-central-1, where the StackSet has no instance
	r = f.runExit(exitFailure, "validate")
	if !strings.Contains(r.stdout, "FAIL  regions") || !strings.Contains(r.stdout, "not in eu-central-1 (the onboarding stacks)") {
		t.Errorf("a StackSet missing the stacks' region:\n%s", r.stdout)
	}
	delete(f.env, "ONBOARDER_CLOUDONE_REGION")
	r = f.runExit(exitFailure, "validate", "--member-stackset", "nope")
	if !strings.Contains(r.stdout, "no StackSet nope") {
		t.Errorf("a missing StackSet:\n%s", r.stdout)
	}
}

func TestValidateFailures(t *testing.T) {
	f := newFixture(t)
	ctx := f.ctx
	noToken, err := secretsmanager.NewFromConfig(f.aws).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("half"), SecretString: aws.String(`{"cloudOneApiKey":"` + f.key.APIKey() + `"}`),
	})
	must(t, "create secret", err)
	wrongKey, err := secretsmanager.NewFromConfig(f.aws).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("wrong"), SecretString: aws.String(`{"cloudOneApiKey":"` + f.key.ID + `:not-the-secret-xyz","visionOneServiceToken":"` + f.token + `"}`),
	})
	must(t, "create secret", err)
	for _, tc := range []struct {
		name, key, value string
		fail             string // the FAIL line must contain this
	}{
		{"secret lacks a field", "ONBOARDER_SECRET_ARN", aws.ToString(noToken.ARN), "FAIL  secret"},
		{"secret lacks a field, reason", "ONBOARDER_SECRET_ARN", aws.ToString(noToken.ARN), "field visionOneServiceToken is missing"},
		{"key rejected", "ONBOARDER_SECRET_ARN", aws.ToString(wrongKey.ARN), "FAIL  cloudone key    Cloud One rejected API key " + f.key.ID},
		{"template lacks parameters", "ONBOARDER_TEMPLATE_URL", f.templateURL("incomplete.template.yaml"), "does not declare VisionOneServiceToken, QSS3KeyPrefix"},
		{"template missing", "ONBOARDER_TEMPLATE_URL", f.templateURL("nope.yaml"), "FAIL  template"},
		{"bad configuration", "ONBOARDER_STACK_NAME", "WayTooLongName", "FAIL  configuration   ONBOARDER_STACK_NAME=\"WayTooLongName\": must be 1 to 8 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := f.env[tc.key]
			f.env[tc.key] = tc.value
			defer func() { f.env[tc.key] = old }()
			f.t = t
			r := f.runExit(exitFailure, "validate")
			if !strings.Contains(r.stdout, tc.fail) {
				t.Errorf("want a line with %q:\n%s", tc.fail, r.stdout)
			}
			if !strings.Contains(r.stdout, "checks failed") {
				t.Errorf("no failure count:\n%s", r.stdout)
			}
		})
	}
	f.t = t
	f.runExit(exitUsage, "validate", "--account", "12345")
}

func TestStatus(t *testing.T) {
	f := newFixture(t)
	r := f.runExit(exitOK, "status")
	for _, want := range []string{"ACCOUNT", "FORWARDING", "LAST UPDATE", f.members[0], f.members[1], f.members[2], "ABSENT", "Workloads"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status table lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, f.members[3]) || !strings.Contains(r.stderr, f.members[3]) || !strings.Contains(r.stderr, "management account") {
		t.Errorf("excluded and management accounts must be left out of the table and named on stderr:\n%s\n%s", r.stdout, r.stderr)
	}

	// With a ledger, LAST UPDATE is the ledger's decision.
	_, err := dynamodb.NewFromConfig(f.aws).CreateTable(f.ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("onboarder-ledger"),
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("account"), KeyType: ddbtypes.KeyTypeHash}},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("account"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	must(t, "create ledger table", err)
	f.env["ONBOARDER_LEDGER_TABLE"] = "onboarder-ledger"
	f.runExit(exitOK, "reconcile", "--all")

	r = f.runExit(exitOK, "status", "--json")
	rows := decodeJSON[[]statusRow](t, r.stdout)
	if len(rows) != 3 {
		t.Fatalf("want 3 rows, got %d: %s", len(rows), r.stdout)
	}
	by := map[string]statusRow{}
	for _, row := range rows {
		by[row.Account] = row
	}
	dev, logging, foreign := by[f.members[0]], by[f.members[1]], by[f.members[2]]
	if dev.StackStatus != "CREATE_COMPLETE" || dev.TrailMode != "new" || dev.Forwarding != "own trail" || !dev.Managed || dev.LastAction != "create" || dev.OUName != "Workloads" || dev.Region != "us-east-1" {
		t.Errorf("dev row: %+v", dev)
	}
	if logging.TrailMode != "existing" || logging.Bucket != f.trailBkt || logging.Forwarding != "logging" || logging.TrailName != f.trailName || !logging.Managed {
		t.Errorf("logging row: %+v", logging)
	}
	if foreign.Managed || foreign.StackStatus != "CREATE_COMPLETE" || foreign.LastAction != "leave-alone" {
		t.Errorf("foreign row: %+v", foreign)
	}
	if _, err := time.Parse(time.RFC3339, dev.LastUpdate); err != nil {
		t.Errorf("lastUpdate %q: %v", dev.LastUpdate, err)
	}
	// The stack's own trail (dev's) is counted below the table with what it costs.
	r = f.runExit(exitOK, "status")
	if !strings.Contains(r.stdout, "Cost: 1 of 3 accounts forward through the stack's own trail") || !strings.Contains(r.stdout, "$2.00 per 100,000 events") {
		t.Errorf("status lacks the own-trail cost note:\n%s", r.stdout)
	}

	// A stopped forwarding trail shows, for the named account only.
	_, err = cloudtrail.NewFromConfig(f.member(f.members[1])).StopLogging(f.ctx, &cloudtrail.StopLoggingInput{Name: aws.String(f.trailName)})
	must(t, "stop logging", err)
	r = f.runExit(exitOK, "status", "--json", "--account", f.members[1])
	rows = decodeJSON[[]statusRow](t, r.stdout)
	if len(rows) != 1 || rows[0].Forwarding != "STOPPED" {
		t.Errorf("want one row with STOPPED forwarding: %s", r.stdout)
	}
	r = f.runExit(exitOK, "status", "--account", f.members[1])
	if !strings.Contains(r.stdout, "STOPPED (audit)") {
		t.Errorf("table lacks the stopped trail:\n%s", r.stdout)
	}

	// An account of another organization is a failure, named.
	r = f.runExit(exitFailure, "status", "--account", "000000000042")
	if !strings.Contains(r.stderr, "000000000042") || !strings.Contains(r.stderr, "not a member of the organization") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

// writeCall reports whether an AWS operation changes something.
func writeCall(op string) bool {
	_, name, _ := strings.Cut(op, ":")
	for _, p := range []string{"Describe", "List", "Get", "AssumeRole", "Scan"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	return true
}

func TestPlan(t *testing.T) {
	f := newFixture(t)
	before := f.allStacks()
	f.calls.take()
	r := f.runExit(exitDrift, "plan", "--all")
	calls := f.calls.take()
	if len(calls) == 0 {
		t.Fatal("no AWS call recorded")
	}
	for _, c := range calls {
		if writeCall(c) {
			t.Errorf("plan made a write call: %s", c)
		}
	}
	if after := f.allStacks(); !mapsEqual(before, after) {
		t.Errorf("plan changed moto's state:\nbefore %v\nafter  %v", before, after)
	}
	for _, want := range []string{
		f.members[0] + " (dev): create: ", `CreateNewTrail: "" -> "True"`,
		f.members[1] + " (logging): create: ", `ExistingCloudtrailBucketName: "" -> "` + f.trailBkt + `"`,
		f.members[2] + " (foreign): leave-alone: ", "CloudOneApiKey, VisionOneServiceToken: \"\" -> \"**** (secret version ",
		"plan: 3 accounts, 2 would change",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan output lacks %q:\n%s", want, r.stdout)
		}
	}

	r = f.runExit(exitDrift, "plan", "--json", "--account", f.members[0], "--account", f.members[2])
	var results []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &results); err != nil || len(results) != 2 {
		t.Fatalf("plan --json: %v\n%s", err, r.stdout)
	}
	if results[0]["action"] != "create" || results[0]["dryRun"] != true || results[1]["action"] != "leave-alone" {
		t.Errorf("plan --json results: %s", r.stdout)
	}

	f.runExit(exitOK, "reconcile", "--all")
	r = f.runExit(exitOK, "plan", "--all")
	if !strings.Contains(r.stdout, "0 would change") {
		t.Errorf("after reconcile:\n%s", r.stdout)
	}

	// A stopped forwarding trail is drift: plan says it would start it, and starts nothing.
	ct := cloudtrail.NewFromConfig(f.member(f.members[1]))
	_, err := ct.StopLogging(f.ctx, &cloudtrail.StopLoggingInput{Name: aws.String(f.trailName)})
	must(t, "stop logging", err)
	f.calls.take()
	r = f.runExit(exitDrift, "plan", "--account", f.members[1])
	if !strings.Contains(r.stdout, "start-logging") {
		t.Errorf("plan does not report the stopped trail:\n%s", r.stdout)
	}
	for _, c := range f.calls.take() {
		if writeCall(c) {
			t.Errorf("plan made a write call: %s", c)
		}
	}
	st, err := ct.GetTrailStatus(f.ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(f.trailName)})
	must(t, "trail status", err)
	if aws.ToBool(st.IsLogging) {
		t.Error("plan started the trail")
	}
}

func mapsEqual(a, b map[string]map[string]string) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestReconcile(t *testing.T) {
	f := newFixture(t)
	r := f.runExit(exitOK, "reconcile", "--all", "--concurrency", "2")
	for _, want := range []string{"summary: 3 accounts", "by action: create 2, leave-alone 1", "by class:  none 3", "create stack CloudOne in " + f.members[0] + "/us-east-1 started", "now CREATE_COMPLETE"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("reconcile output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "[3/3] ") {
		t.Errorf("no plain progress lines off a terminal:\n%s", r.stderr)
	}
	for i, want := range []string{"CREATE_COMPLETE managed=true", "CREATE_COMPLETE managed=true", "CREATE_COMPLETE"} {
		if got := f.stacks(f.members[i])["CloudOne"]; !strings.HasPrefix(got, want) || (i == 2 && strings.Contains(got, "managed")) {
			t.Errorf("stack in %s: %q, want %q", f.members[i], got, want)
		}
	}
	if len(f.stacks(f.members[3])) != 0 {
		t.Error("the excluded account got a stack")
	}

	// On a terminal: a progress bar on stderr; the results still on stdout.
	f.terminal = true
	r = f.runExit(exitOK, "reconcile", "--all")
	if strings.Contains(r.stderr, "[1/3]") || !strings.Contains(r.stderr, "reconcile") || !strings.Contains(r.stdout, "by action: leave-alone 1, none 2") {
		t.Errorf("terminal run:\nstdout:\n%s\nstderr:\n%q", r.stdout, r.stderr)
	}
	f.terminal = false

	// Named: an excluded account is skipped, one outside the organization fails the run.
	r = f.runExit(exitOK, "reconcile", f.members[3])
	if !strings.Contains(r.stderr, "skipped: "+f.members[3]) || !strings.Contains(r.stdout, "summary: 0 accounts") {
		t.Errorf("excluded:\n%s\n%s", r.stdout, r.stderr)
	}
	r = f.runExit(exitFailure, "reconcile", "--account", f.members[0]+",000000000042")
	if !strings.Contains(r.stderr, "error: 000000000042: not a member of the organization") || !strings.Contains(r.stdout, f.members[0]+" (dev): none") {
		t.Errorf("outside the organization:\n%s\n%s", r.stdout, r.stderr)
	}

	// A failing account fails the run: the Cloud One key is revoked.
	f.c1.Fail(401)
	r = f.runExit(exitFailure, "reconcile", "--account", f.members[0])
	if !strings.Contains(r.stdout, "fail FAILED [permanent]") || !strings.Contains(r.stdout, "by class:  permanent 1") {
		t.Errorf("revoked key:\n%s", r.stdout)
	}
	f.c1.Fail(0)
}

func TestReconcileEnqueue(t *testing.T) {
	f := newFixture(t)
	r := f.runExit(exitFailure, "reconcile", "--all", "--enqueue")
	if !strings.Contains(r.stderr, "ONBOARDER_QUEUE_URL is not set") {
		t.Errorf("stderr: %s", r.stderr)
	}
	q := sqs.NewFromConfig(f.aws)
	out, err := q.CreateQueue(f.ctx, &sqs.CreateQueueInput{QueueName: aws.String("reconcile.fifo"), Attributes: map[string]string{"FifoQueue": "true"}})
	must(t, "create queue", err)
	f.env["ONBOARDER_QUEUE_URL"] = aws.ToString(out.QueueUrl)
	before := f.allStacks()
	r = f.runExit(exitOK, "reconcile", "--all", "--enqueue")
	if !strings.Contains(r.stdout, "enqueued 3 reconcile requests") {
		t.Errorf("stdout: %s", r.stdout)
	}
	if after := f.allStacks(); !mapsEqual(before, after) {
		t.Error("--enqueue reconciled")
	}
	var got []string
	for range 5 {
		msgs, err := q.ReceiveMessage(f.ctx, &sqs.ReceiveMessageInput{QueueUrl: out.QueueUrl, MaxNumberOfMessages: 10})
		must(t, "receive", err)
		for _, m := range msgs.Messages {
			req, err := queue.Decode(aws.ToString(m.Body))
			must(t, "decode request", err)
			if req.Trigger != "operator" || !strings.HasPrefix(req.EventID, "operator-") {
				t.Errorf("request %+v", req)
			}
			got = append(got, req.Account)
		}
		if len(got) >= 3 {
			break
		}
	}
	slices.Sort(got)
	want := []string{f.members[0], f.members[1], f.members[2]}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("enqueued %v, want %v", got, want)
	}
}

func TestReplay(t *testing.T) {
	f := newFixture(t)
	eb := eventbridge.NewFromConfig(f.aws)
	bus, err := eb.CreateEventBus(f.ctx, &eventbridge.CreateEventBusInput{Name: aws.String("onboarder")})
	must(t, "create bus", err)
	_, err = eb.CreateArchive(f.ctx, &eventbridge.CreateArchiveInput{ArchiveName: aws.String("onboarder-events"), EventSourceArn: bus.EventBusArn})
	must(t, "create archive", err)
	_, err = eb.PutEvents(f.ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String("onboarder"), Source: aws.String("test"), DetailType: aws.String("test"), Detail: aws.String(`{"a":1}`),
	}}})
	must(t, "put events", err)
	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	to := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)

	r := f.runExit(exitOK, "replay", "--archive", "onboarder-events", "--from", from, "--to", to, "--wait", "--poll", "50ms", "--name", "r1")
	if !strings.Contains(r.stdout, "replay r1 started: archive onboarder-events") || !strings.Contains(r.stdout, "replay r1 COMPLETED") || !strings.Contains(r.stderr, "100%") {
		t.Errorf("replay --wait:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	d, err := eb.DescribeReplay(f.ctx, &eventbridge.DescribeReplayInput{ReplayName: aws.String("r1")})
	must(t, "describe replay", err)
	if aws.ToString(d.EventSourceArn) == "" || aws.ToString(d.Destination.Arn) != aws.ToString(bus.EventBusArn) {
		t.Errorf("replay source %s destination %s", aws.ToString(d.EventSourceArn), aws.ToString(d.Destination.Arn))
	}
	r = f.runExit(exitOK, "replay", "--archive", "onboarder-events", "--from", from, "--to", to, "--bus", "onboarder")
	if !strings.Contains(r.stdout, "onto "+aws.ToString(bus.EventBusArn)) {
		t.Errorf("replay --bus:\n%s", r.stdout)
	}
	r = f.runExit(exitFailure, "replay", "--archive", "nope", "--from", from, "--to", to)
	if !strings.Contains(r.stderr, "describe archive nope") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"plan"}, "--account ID (repeatable) or use --all"},
		{[]string{"plan", "--all", "--account", f.members[0]}, "exclude each other"},
		{[]string{"plan", "--account", "12345678901"}, `--account "12345678901": must be a 12-digit`},
		{[]string{"reconcile", "--account", f.members[0], "--account", "abc"}, `--account "abc"`},
		{[]string{"reconcile", "--all", "--concurrency", "0"}, "--concurrency 0"},
		{[]string{"status", "--account", "1234567890123"}, `"1234567890123"`},
		{[]string{"status", "--nope"}, "unknown flag: --nope"},
		{[]string{"validate", "extra"}, `unknown command "extra"`},
		{[]string{"replay", "--from", "2025-01-01T00:00:00Z", "--to", "2025-01-02T00:00:00Z"}, `"archive" not set`},
		{[]string{"replay", "--archive", "a", "--from", "yesterday", "--to", "2025-01-02T00:00:00Z"}, `--from "yesterday": not an RFC3339 time`},
		{[]string{"replay", "--archive", "a", "--from", "2025-01-02T00:00:00Z", "--to", "2025-01-01T00:00:00Z"}, "must be before"},
	} {
		r := f.runExit(exitUsage, tc.args...)
		if !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "--help' for usage") {
			t.Errorf("onboarder %v: stderr %q lacks %q", tc.args, r.stderr, tc.want)
		}
	}
	// Help for every subcommand, with the exit codes.
	for _, c := range []string{"validate", "status", "plan", "reconcile", "replay"} {
		r := f.runExit(exitOK, c, "--help")
		if !strings.Contains(r.stdout, "Exit codes") || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("%s --help:\n%s", c, r.stdout)
		}
	}
	r := f.runExit(exitOK, "--help")
	if !strings.Contains(r.stdout, "3  plan only") {
		t.Errorf("root help lacks the exit codes:\n%s", r.stdout)
	}
}

// TestNoSecretInOutput runs every command, verbose, in text and JSON, through drift, a
// reconcile, failures and a rotation, and looks for the secret values in all the output
// (f.run checks each run; this test makes sure every command and path is run).
func TestNoSecretInOutput(t *testing.T) {
	f := newFixture(t)
	var all strings.Builder
	run := func(args ...string) {
		r := f.run(append([]string{"--verbose"}, args...)...)
		all.WriteString(r.stdout + r.stderr)
	}
	run("validate")
	run("status")
	run("status", "--json")
	run("plan", "--all")
	run("plan", "--all", "--json")
	run("reconcile", "--all")
	// Rotate the secret: the plan shows an update of the masked parameters.
	newSecret := "rotated-" + randHex(12)
	f.c1.AddKey(withSecret(f.key, newSecret))
	_, err := secretsmanager.NewFromConfig(f.aws).PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(f.env["ONBOARDER_SECRET_ARN"]), SecretString: aws.String(`{"cloudOneApiKey":"` + f.key.ID + ":" + newSecret + `","visionOneServiceToken":"` + f.token + `"}`),
	})
	must(t, "rotate", err)
	f.key.Secret = newSecret
	run("plan", "--all")
	run("plan", "--all", "--json")
	run("reconcile", "--all")
	f.c1.Fail(401)
	run("validate")
	run("plan", "--all")
	f.c1.Fail(0)
	run("replay", "--archive", "none", "--from", "2025-01-01T00:00:00Z", "--to", "2025-01-02T00:00:00Z")
	out := all.String()
	if !strings.Contains(out, "****") || !strings.Contains(out, "update") {
		t.Errorf("the rotation did not show as a masked update:\n%s", out)
	}
	for _, s := range []string{newSecret, f.token, "c1secret-"} {
		if strings.Contains(out, s) {
			t.Fatalf("secret %q in the output", s)
		}
	}
}

// An onboarded account that leaves the scope is offboarded by the commands as by the sweep:
// moved out of the included OUs, plan says what would be deleted and deletes nothing, and
// reconcile deletes the onboarder's own stack under ONBOARDER_OFFBOARD=delete; newly excluded,
// it is reported and never touched, whatever the policy. status lists both as offboarded, with
// what they left.
func TestOffboardCommands(t *testing.T) {
	f := newFixture(t)
	_, err := dynamodb.NewFromConfig(f.aws).CreateTable(f.ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("onboarder-ledger"),
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("account"), KeyType: ddbtypes.KeyTypeHash}},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("account"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	must(t, "create ledger table", err)
	f.env["ONBOARDER_LEDGER_TABLE"] = "onboarder-ledger"
	f.env["ONBOARDER_INCLUDE_OUS"] = f.ou
	f.runExit(exitOK, "reconcile", "--all")
	dev, logging := f.members[0], f.members[1]
	orgs := organizations.NewFromConfig(f.aws)
	sandbox, err := orgs.CreateOrganizationalUnit(f.ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(f.root), Name: aws.String("Sandbox")})
	must(t, "create OU", err)
	must(t, "move dev out", err2(orgs.MoveAccount(f.ctx, &organizations.MoveAccountInput{AccountId: aws.String(dev), SourceParentId: aws.String(f.ou),
		DestinationParentId: sandbox.OrganizationalUnit.Id})))
	f.env["ONBOARDER_EXCLUDE_ACCOUNTS"] = f.members[3] + "," + logging
	never := "an excluded account is never touched (ONBOARDER_EXCLUDE_ACCOUNTS)"

	// report (the default): plan and reconcile say what stays; nothing is deleted.
	r := f.runExit(exitDrift, "plan", "--all")
	if !strings.Contains(r.stdout, dev+" (dev): offboarded: offboarding account "+dev+" (ou-not-included") || !strings.Contains(r.stdout, "ONBOARDER_OFFBOARD=report") ||
		!strings.Contains(r.stdout, logging+" (logging): offboarded: offboarding account "+logging+" (excluded-account") || !strings.Contains(r.stdout, never) {
		t.Errorf("plan under report:\n%s", r.stdout)
	}
	f.env["ONBOARDER_OFFBOARD"] = "delete"
	before := f.allStacks()
	f.calls.take()
	r = f.runExit(exitDrift, "plan", "--all")
	if !strings.Contains(r.stdout, dev+" (dev): delete: offboarding account "+dev) || !strings.Contains(r.stdout, "delete stack CloudOne in "+dev) ||
		!strings.Contains(r.stdout, logging+" (logging): offboarded: ") || !strings.Contains(r.stdout, never) {
		t.Errorf("plan under delete:\n%s", r.stdout)
	}
	for _, c := range f.calls.take() {
		if writeCall(c) {
			t.Errorf("plan made a write call: %s", c)
		}
	}
	if after := f.allStacks(); !mapsEqual(before, after) {
		t.Errorf("plan changed moto's state")
	}

	r = f.runExit(exitOK, "reconcile", "--all")
	if s := f.stacks(dev)["CloudOne"]; s != "" && !strings.HasPrefix(s, "DELETE_COMPLETE") {
		t.Errorf("the stack of the account moved out is %q, want deleted:\n%s", s, r.stdout)
	}
	if s := f.stacks(logging)["CloudOne"]; !strings.HasPrefix(s, "CREATE_COMPLETE") {
		t.Errorf("the stack of the excluded account is %q, want it untouched:\n%s", s, r.stdout)
	}
	if s := f.stacks(f.members[2])["CloudOne"]; !strings.HasPrefix(s, "CREATE_COMPLETE") {
		t.Errorf("the foreign stack is %q", s)
	}
	r = f.runExit(exitOK, "status")
	if !strings.Contains(r.stdout, "Offboarded, out of scope (2):") || !strings.Contains(r.stdout, dev+" ou-not-included") || !strings.Contains(r.stdout, logging+" excluded-account") ||
		!strings.Contains(r.stdout, "left: in Cloud One: the CloudTrail registration and the Vision One enrollment of AWS account "+dev) {
		t.Errorf("status does not list the offboarded accounts:\n%s", r.stdout)
	}
	rows := decodeJSON[[]statusRow](t, f.runExit(exitOK, "status", "--json").stdout)
	found := 0
	for _, row := range rows {
		switch {
		case row.Account == dev && row.Offboard == "ou-not-included" && row.StackStatus == "ABSENT" && row.Left != "":
			found++
		case row.Account == logging && row.Offboard == "excluded-account" && row.StackStatus == "CREATE_COMPLETE" && row.Left != "":
			found++
		}
	}
	if found != 2 {
		t.Errorf("status --json has not both offboarded rows: %+v", rows)
	}
	// Done once: a plan now finds nothing to offboard, not even the excluded account's stack
	// that stays under the delete policy.
	r = f.runExit(exitOK, "plan", "--all")
	if strings.Contains(r.stdout, dev) || strings.Contains(r.stdout, logging) {
		t.Errorf("plan offboards again:\n%s", r.stdout)
	}
}

// A rollout on moto, driven by the operator: start (the canary enqueued), the canary's
// reconcile writes the new version and releases the next wave (enqueued), an account of a wave
// not released keeps the old version, pause and resume, status as text and JSON.
func TestRollout(t *testing.T) {
	f := newFixture(t)
	_, err := dynamodb.NewFromConfig(f.aws).CreateTable(f.ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("onboarder-ledger"),
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("account"), KeyType: ddbtypes.KeyTypeHash}},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("account"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	must(t, "create ledger table", err)
	q := sqs.NewFromConfig(f.aws)
	qo, err := q.CreateQueue(f.ctx, &sqs.CreateQueueInput{QueueName: aws.String("reconcile.fifo"), Attributes: map[string]string{"FifoQueue": "true"}})
	must(t, "create queue", err)
	f.env["ONBOARDER_LEDGER_TABLE"], f.env["ONBOARDER_QUEUE_URL"] = "onboarder-ledger", aws.ToString(qo.QueueUrl)
	f.runExit(exitOK, "reconcile", "--all")
	// The new version: the template with another description, at another key.
	body, err := os.ReadFile("testdata/onboard.template.yaml")
	must(t, "read template", err)
	body = bytes.Replace(body, []byte("Description: Stand-in"), []byte("Description: Version 2 of the stand-in"), 1)
	_, err = s3.NewFromConfig(f.aws, func(o *s3.Options) { o.UsePathStyle = true }).PutObject(f.ctx, &s3.PutObjectInput{
		Bucket: aws.String("onboarder-templates"), Key: aws.String("v2/onboard.template.yaml"), Body: bytes.NewReader(body)})
	must(t, "upload v2", err)
	v2 := f.templateURL("v2/onboard.template.yaml")
	dev, logging := f.members[0], f.members[1]
	received := func() map[string]queue.Request {
		got := map[string]queue.Request{}
		for range 3 {
			msgs, err := q.ReceiveMessage(f.ctx, &sqs.ReceiveMessageInput{QueueUrl: qo.QueueUrl, MaxNumberOfMessages: 10})
			must(t, "receive", err)
			for _, m := range msgs.Messages {
				req, err := queue.Decode(aws.ToString(m.Body))
				must(t, "decode", err)
				got[req.Account] = req
				_, err = q.DeleteMessage(f.ctx, &sqs.DeleteMessageInput{QueueUrl: qo.QueueUrl, ReceiptHandle: m.ReceiptHandle})
				must(t, "delete", err)
			}
		}
		return got
	}

	f.runExit(exitUsage, "rollout", "start", "--template-url", v2)
	r := f.runExit(exitOK, "rollout", "start", "--template-url", v2, "--canary", dev, "--batch", "1")
	if !strings.Contains(r.stdout, "wave 1: 1 accounts (canary, enqueued)") || !strings.Contains(r.stdout, "wave 3: 1 accounts") {
		t.Errorf("start:\n%s", r.stdout)
	}
	if got := received(); len(got) != 1 || got[dev].Trigger != "rollout" {
		t.Errorf("the canary was not enqueued alone: %v", got)
	}
	f.runExit(exitFailure, "rollout", "start", "--template-url", v2+"x", "--canary", dev) // one at a time

	// An account of a wave not released keeps the old version.
	r = f.runExit(exitOK, "plan", "--account", logging)
	if !strings.Contains(r.stdout, "in sync") {
		t.Errorf("plan of an account whose wave is not released:\n%s", r.stdout)
	}
	// The canary's pass writes v2 and releases wave 2.
	r = f.runExit(exitOK, "reconcile", "--account", dev)
	if !strings.Contains(r.stdout, "update") {
		t.Errorf("the canary was not updated:\n%s", r.stdout)
	}
	r = f.runExit(exitOK, "rollout", "status")
	if !strings.Contains(r.stdout, "RUNNING, wave 2 of 3") || !strings.Contains(r.stdout, "wave 1: 1 accounts: settled") {
		t.Errorf("status after the canary:\n%s", r.stdout)
	}
	if got := received(); len(got) != 1 {
		t.Errorf("wave 2 was not enqueued: %v", got)
	}
	st := decodeJSON[[]statusRow](t, f.runExit(exitOK, "status", "--json", "--account", dev).stdout)
	if len(st) != 1 || st[0].Template != v2 {
		t.Errorf("status TEMPLATE of the canary: %+v", st)
	}

	r = f.runExit(exitOK, "rollout", "pause")
	if !strings.Contains(r.stdout, "paused at wave 2 of 3") {
		t.Errorf("pause: %s", r.stdout)
	}
	f.runExit(exitFailure, "rollout", "pause")
	r = f.runExit(exitOK, "rollout", "resume")
	if !strings.Contains(r.stdout, "resumed at wave 2 of 3") {
		t.Errorf("resume: %s", r.stdout)
	}
	js := decodeJSON[map[string]any](t, f.runExit(exitOK, "rollout", "status", "--json").stdout)
	if to, _ := js["To"].(map[string]any); js["State"] != "running" || to["URL"] != v2 || to["Bucket"] != "cloudone-community" {
		t.Errorf("status --json: %v", js)
	}
}
