//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/trend"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
)

// awsCLI runs the AWS CLI against moto as the management account and returns its stdout.
func (w *world) awsCLI(args ...string) string {
	w.t.Helper()
	cmd := exec.CommandContext(w.ctx, "aws", append(args, "--output", "json")...)
	cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL="+w.h.Moto.URL, "AWS_ACCESS_KEY_ID="+localworld.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+localworld.SecretAccessKey, "AWS_DEFAULT_REGION="+w.env.Region, "AWS_REGION="+w.env.Region,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		w.t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

// TestE2EReplay: scenario 6.
func TestE2EReplay(t *testing.T) {
	w := newWorld(t, worldOpts{})
	a := w.org.Account("work-a")
	eb := eventbridge.NewFromConfig(w.env.Central())
	defaultBus := "arn:aws:events:" + w.env.Region + ":" + localworld.ManagementAccount + ":event-bus/default"
	arch, err := eb.CreateArchive(w.ctx, &eventbridge.CreateArchiveInput{
		ArchiveName: aws.String(localworld.BusName + "-default"), EventSourceArn: aws.String(defaultBus),
		EventPattern: aws.String(`{"source":["aws.controltower","aws.organizations","onboarder.manual"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Minute)
	w.onboard(a)
	checkOnboarded(t, w, a, "True", "")
	before := w.stack(a.ID, stackRegion, stackName)

	mark, marks := w.h.Recorder.Mark(), w.marks()
	var mu sync.Mutex
	var delivered []string
	w.env.Pump.OnDeliver = func(h, body string) {
		mu.Lock()
		defer mu.Unlock()
		delivered = append(delivered, h+" "+body)
	}
	name := "e2e-replay-1"
	w.awsCLI("events", "start-replay", "--replay-name", name, "--event-source-arn", aws.ToString(arch.ArchiveArn),
		"--event-start-time", start.UTC().Format(time.RFC3339), "--event-end-time", time.Now().Add(time.Minute).UTC().Format(time.RFC3339),
		"--destination", `{"Arn":"`+defaultBus+`"}`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var d struct{ State string }
		_ = json.Unmarshal([]byte(w.awsCLI("events", "describe-replay", "--replay-name", name)), &d)
		if d.State == "COMPLETED" {
			break
		}
		if time.Now().After(deadline) || d.State == "FAILED" {
			t.Fatalf("replay state %q", d.State)
		}
		time.Sleep(200 * time.Millisecond) // polling moto's replay state, not synchronizing with it
	}
	w.drain()

	replayed := 0
	for _, d := range delivered {
		if strings.HasPrefix(d, "accountvending ") && strings.Contains(d, `"replay-name"`) && strings.Contains(d, name) {
			replayed++
		}
	}
	if replayed == 0 {
		t.Fatalf("no replayed event reached accountvending (%d deliveries)", len(delivered))
	}
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("the replay made write calls in member accounts: %s", describeCalls(ws))
	}
	after := w.stack(a.ID, stackRegion, stackName)
	if publicParams(before) != publicParams(after) || localworld.StackTags(before)["cloudone-onboarder:fingerprint"] != localworld.StackTags(after)["cloudone-onboarder:fingerprint"] {
		t.Errorf("the replay changed the stack: %s -> %s", publicParams(before), publicParams(after))
	}
	// Logged as replays: the intake's event line and the worker's decision carry the name.
	for _, h := range []string{"accountvending", "reconcile"} {
		found := false
		for _, e := range logEntries(w.logsSince(marks, h)) {
			if e["replay"] == name {
				found = true
			}
		}
		if !found {
			t.Errorf("%s logged no line with replay=%q", h, name)
		}
	}
}

// envelope is an EventBridge event as a rule delivers it, with a fixed id.
func envelope(id string, e localworld.Entry, region string) []byte {
	b, _ := json.Marshal(map[string]any{"version": "0", "id": id, "detail-type": e.DetailType, "source": e.Source,
		"account": localworld.ManagementAccount, "time": time.Now().UTC().Format(time.RFC3339), "region": region,
		"resources": []string{}, "detail": e.Detail})
	return b
}

// TestE2EDuplicates: scenario 7.
func TestE2EDuplicates(t *testing.T) {
	w := newWorld(t, worldOpts{reconcilers: 3})
	a := w.org.Account("work-a")
	av, err := localworld.StartPool(w.ctx, 4, localworld.LambdaOptions{Name: "accountvending", RIE: w.h.RIE,
		Bootstrap: w.h.Binaries["accountvending"], Env: w.env.FunctionEnv("accountvending"), Tees: []io.Writer{w.h.Logs}})
	if err != nil {
		t.Fatal(err)
	}
	defer av.Stop()
	ev := localworld.ControlTowerAccount("CreateManagedAccount", a, "SUCCEEDED", w.env.Region)
	body := envelope("0c6e5d9a-dup0-4d3e-8f40-000000000007", ev, w.env.Region)
	invoke := func(n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, ferr, err := av.Invoke(w.ctx, body); err != nil || ferr != nil {
					t.Errorf("accountvending: %v %v", err, ferr)
				}
			}()
		}
		wg.Wait()
	}
	invoke(4) // concurrently
	// the same event also through the bus twice (EventBridge delivers at least once; a
	// redelivery through PutEvents gets another id)
	w.put(ev, ev)
	invoke(3) // concurrently, while the first requests wait in the queue
	for range 3 {
		invoke(1)
	}
	w.drain()
	if got := w.stacksEverywhere(a.ID, stackName); len(got) != 1 {
		t.Fatalf("stacks in %v, want one", got)
	}
	creates := w.h.Recorder.Calls(localworld.InService("cloudformation"), localworld.InAccount(a.ID), localworld.WithAction("CreateStack"))
	if len(creates) != 1 {
		t.Errorf("%d CreateStack calls, want 1", len(creates))
	}
	if d := w.dlqDepth(); d != "0" {
		t.Errorf("DLQ has %s messages", d)
	}
	checkOnboarded(t, w, a, "True", "")
}

// TestE2ESweep: scenario 8.
func TestE2ESweep(t *testing.T) {
	w0 := seedWorld(t, "")
	org := w0.org
	wk := org.OUs["Workloads"]
	w := w0.start(worldOpts{env: map[string]string{
		"ONBOARDER_INCLUDE_OUS":      wk,
		"ONBOARDER_EXCLUDE_ACCOUNTS": org.Account("work-c").ID,
	}})
	foreign := org.Account("work-b")
	w.foreignStack(foreign.ID, stackRegion, stackName)
	foreignBefore := w.stack(foreign.ID, stackRegion, stackName)

	marks := w.marks()
	mark := w.h.Recorder.Mark()
	if _, ferr, err := w.env.Lambdas["sweep"].Invoke(w.ctx, localworld.ScheduledEvent(w.env.Region)); err != nil || ferr != nil {
		t.Fatalf("sweep: %v %v", err, ferr)
	}
	w.drain()
	checkOnboarded(t, w, org.Account("work-a"), "True", "")
	for _, n := range []string{"work-c", "sandbox-a", "sandbox-b"} {
		if got := w.stacksEverywhere(org.Account(n).ID, stackName); len(got) > 0 {
			t.Errorf("%s is out of scope but has a stack in %v", n, got)
		}
		if ws := w.h.Recorder.Since(mark, localworld.Writes, localworld.InAccount(org.Account(n).ID)); len(ws) > 0 {
			t.Errorf("%s is out of scope but got writes: %s", n, describeCalls(ws))
		}
	}
	// The foreign stack: untouched and reported.
	after := w.stack(foreign.ID, stackRegion, stackName)
	if after == nil || publicParams(after) != publicParams(foreignBefore) || localworld.StackTags(after)["cloudone-onboarder:managed"] != "" {
		t.Errorf("the foreign stack in work-b was changed")
	}
	if ws := w.h.Recorder.Since(mark, localworld.Writes, localworld.InAccount(foreign.ID)); len(ws) > 0 {
		t.Errorf("writes to work-b, whose stack is not ours: %s", describeCalls(ws))
	}
	reported := false
	for _, e := range reconcileLogs(w.logsSince(marks, "reconcile"), foreign.ID) {
		if e["action"] == "leave-alone" {
			reported = true
		}
	}
	if !reported {
		t.Errorf("the foreign stack in work-b was not reported (no reconcile line with action leave-alone)")
	}

	// A second sweep finds everything in sync.
	marks, mark = w.marks(), w.h.Recorder.Mark()
	if _, ferr, err := w.env.Lambdas["sweep"].Invoke(w.ctx, localworld.ScheduledEvent(w.env.Region)); err != nil || ferr != nil {
		t.Fatalf("sweep: %v %v", err, ferr)
	}
	w.drain()
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("the second sweep wrote: %s", describeCalls(ws))
	}
	seen := reconcileLogs(w.logsSince(marks, "reconcile"), org.Account("work-a").ID)
	if len(seen) == 0 {
		t.Error("second sweep: no reconcile of work-a: the check below would prove nothing")
	}
	for _, e := range seen {
		if e["action"] != "none" {
			t.Errorf("second sweep: work-a action %v, want none", e["action"])
		}
	}
}

// snapshot is the state of the member accounts, read through the SDK, as JSON.
func (w *world) snapshot() string {
	w.t.Helper()
	state := map[string]any{}
	for _, a := range w.org.Accounts {
		for _, r := range allRegions {
			cfg := w.acctCfg(a.ID, r)
			stacks, err := cloudformation.NewFromConfig(cfg).DescribeStacks(w.ctx, &cloudformation.DescribeStacksInput{})
			if err != nil {
				w.t.Fatal(err)
			}
			trails, err := cloudtrail.NewFromConfig(cfg).DescribeTrails(w.ctx, &cloudtrail.DescribeTrailsInput{})
			if err != nil {
				w.t.Fatal(err)
			}
			var status []any
			for _, tr := range trails.TrailList {
				if aws.ToString(tr.HomeRegion) == r {
					st, err := cloudtrail.NewFromConfig(cfg).GetTrailStatus(w.ctx, &cloudtrail.GetTrailStatusInput{Name: tr.Name})
					if err != nil {
						w.t.Fatal(err)
					}
					status = append(status, aws.ToBool(st.IsLogging))
				}
			}
			state[a.ID+"/"+r] = map[string]any{"stacks": stacks.Stacks, "trails": trails.TrailList, "logging": status}
		}
		b, err := localworld.S3(w.acctCfg(a.ID, "us-east-1")).ListBuckets(w.ctx, &s3.ListBucketsInput{})
		if err != nil {
			w.t.Fatal(err)
		}
		state[a.ID+"/buckets"] = b.Buckets
	}
	out, _ := json.Marshal(state)
	return string(out)
}

// TestE2EDryRun: scenario 9.
func TestE2EDryRun(t *testing.T) {
	w := newWorld(t, worldOpts{env: map[string]string{"ONBOARDER_DRY_RUN": "true"}})
	withTrail := w.org.Account("work-b")
	name := "audit"
	if _, err := w.h.Moto.SeedTrail(w.ctx, localworld.Trail{Account: withTrail.ID, Name: name, Bucket: "audit-" + withTrail.ID,
		HomeRegion: stackRegion, Logging: false}); err != nil {
		t.Fatal(err)
	}
	before := w.snapshot()
	mark, marks := w.h.Recorder.Mark(), w.marks()
	if _, ferr, err := w.env.Lambdas["sweep"].Invoke(w.ctx, localworld.ScheduledEvent(w.env.Region)); err != nil || ferr != nil {
		t.Fatalf("sweep: %v %v", err, ferr)
	}
	w.put(localworld.ControlTowerAccount("CreateManagedAccount", w.org.Account("work-a"), "SUCCEEDED", w.env.Region),
		localworld.TrailCall(withTrail.ID, stackRegion, "StopLogging", name))
	w.drain()
	if after := w.snapshot(); after != before {
		t.Errorf("the dry run changed the member accounts (snapshot of %d bytes differs)", len(before))
	}
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("the dry run made write calls: %s", describeCalls(ws))
	}
	planned := map[string]bool{}
	for _, e := range reconcileLogs(w.logsSince(marks, "reconcile"), "") {
		if e["dry_run"] != true {
			t.Errorf("a reconcile line without dry_run=true: account %v action %v", e["account"], e["action"])
		}
		if e["action"] == "create" {
			planned[fmt.Sprint(e["account"])] = true
		}
	}
	for _, a := range w.org.Accounts {
		if !planned[a.ID] {
			t.Errorf("no planned create reported for %s", a.Name)
		}
	}
}

// TestE2ESecretRotation: scenario 10.
func TestE2ESecretRotation(t *testing.T) {
	w := newWorld(t, worldOpts{env: map[string]string{"ONBOARDER_SECRET_CACHE_TTL": "0s"}})
	a := w.org.Account("work-a")
	w.onboard(a)
	checkOnboarded(t, w, a, "True", "")
	fp := localworld.StackTags(w.stack(a.ID, stackRegion, stackName))["cloudone-onboarder:fingerprint"]

	rotated := trend.Key{ID: "LEAKKEYID0c2", Secret: "LEAKSECRETc1-rotated-5e1d", Region: "us-1", Account: c1Key.Account}
	w.h.CloudOne.AddKey(rotated)
	newTok := "LEAKTOKENv1-rotated-77a0"
	if _, err := secretsmanager.NewFromConfig(w.env.Central()).PutSecretValue(w.ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(w.env.SecretARN), SecretString: aws.String(localworld.SecretValue{CloudOneAPIKey: rotated.APIKey(), VisionOneServiceToken: newTok}.JSON())}); err != nil {
		t.Fatal(err)
	}
	mark := w.h.Recorder.Mark()
	w.put(localworld.Manual(a.ID))
	w.drain()
	if ups := w.h.Recorder.Since(mark, localworld.InAccount(a.ID), localworld.WithAction("UpdateStack")); len(ups) != 1 {
		t.Errorf("%d UpdateStack calls after the rotation, want 1", len(ups))
	}
	s := w.stack(a.ID, stackRegion, stackName)
	if got := localworld.StackTags(s)["cloudone-onboarder:fingerprint"]; got == fp || got == "" {
		t.Errorf("fingerprint tag %q did not change from %q", got, fp)
	}
	p := localworld.StackParams(s)
	if p["CloudOneApiKey"] != rotated.APIKey() || p["VisionOneServiceToken"] != newTok {
		t.Errorf("the stack does not carry the rotated key and token")
	}
}

// TestE2EUnrelatedTraffic: scenario 11.
func TestE2EUnrelatedTraffic(t *testing.T) {
	w := newWorld(t, worldOpts{})
	a := w.org.Account("work-a")
	_, arn, _ := seedForwardingTrail(t, w, a)
	mark, marks := w.h.Recorder.Mark(), w.marks()
	// The onboarder's own sessions: the execution role's session as the onboarder names it, and
	// CloudFormation's session of the service role, whatever its name.
	own := localworld.RoleSession(a.ID, localworld.MemberExecutionRole, config.DefaultSessionName)
	cfn := localworld.RoleSession(a.ID, localworld.MemberCFNRole, "AWSCloudFormation")
	w.put(
		localworld.APICall(a.ID, stackRegion, "cloudtrail.amazonaws.com", "UpdateTrail", own, map[string]any{"name": arn}, ""),
		localworld.APICall(a.ID, stackRegion, "cloudtrail.amazonaws.com", "CreateTrail", cfn, map[string]any{"name": "CloudOne-trail"}, ""),
		localworld.APICall(a.ID, stackRegion, "cloudformation.amazonaws.com", "UpdateStack", own, map[string]any{"stackName": stackName}, ""),
		localworld.APICall(a.ID, stackRegion, "cloudtrail.amazonaws.com", "StopLogging", localworld.Person(a.ID), map[string]any{"name": arn}, "AccessDenied"),
		localworld.APICall(a.ID, stackRegion, "cloudtrail.amazonaws.com", "DeleteTrail", localworld.Person(a.ID), map[string]any{"name": arn}, "TrailNotFoundException"),
		localworld.StackCall(a.ID, stackRegion, "DeleteStack", "SomeOtherStack"),
		localworld.StackCall(a.ID, stackRegion, "UpdateStack", "arn:aws:cloudformation:us-east-1:"+a.ID+":stack/Other/3c1e0f60-0000-11ef-8000-0a1b2c3d4e5f"),
	)
	// The rule filters failed calls out (errorCode exists: false); the trail guard must also
	// drop them by itself, so hand them to it directly as well.
	for i, e := range []localworld.Entry{
		localworld.APICall(a.ID, stackRegion, "cloudtrail.amazonaws.com", "StopLogging", localworld.Person(a.ID), map[string]any{"name": arn}, "AccessDenied"),
		localworld.APICall(a.ID, stackRegion, "cloudformation.amazonaws.com", "DeleteStack", localworld.Person(a.ID), map[string]any{"stackName": stackName}, "AccessDenied"),
	} {
		body := envelope(fmt.Sprintf("0c6e5d9a-err%d-4d3e-8f40-000000000011", i), e, w.env.Region)
		if _, ferr, err := w.env.Lambdas["trailguard"].Invoke(w.ctx, body); err != nil || ferr != nil {
			t.Errorf("trailguard on a failed call: %v %v", err, ferr)
		}
	}
	st := w.drain()
	// moto applies the rule's errorCode {exists: false}; whatever reaches the trail guard is
	// listed here with its decision.
	for _, e := range logEntries(w.logsSince(marks, "trailguard")) {
		if e["message"] == "event" {
			t.Logf("trailguard: %v %v -> %v (%v)", e["event_name"], e["detail"], e["decision"], e["reason"])
		}
	}
	t.Logf("deliveries: %v", st.Delivered)
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("unrelated traffic caused writes: %s", describeCalls(ws))
	}
	if n := st.Delivered["reconcile"]; n > 0 {
		t.Errorf("unrelated traffic enqueued %d reconcile requests", n)
	}

	// StopLogging on the forwarding trail is never skipped, not even when the onboarder's own
	// role made it (the onboarder never stops a trail: whoever did has its role).
	marks = w.marks()
	w.put(localworld.APICall(a.ID, stackRegion, "cloudtrail.amazonaws.com", "StopLogging", own, map[string]any{"name": arn}, ""))
	st = w.drain()
	if n := st.Delivered["reconcile"]; n != 1 {
		t.Errorf("StopLogging by the onboarder's role enqueued %d requests, want 1", n)
	}
	for _, e := range logEntries(w.logsSince(marks, "trailguard")) {
		if e["message"] == "event" && e["reason"] != "forwarding-trail-changed" {
			t.Errorf("StopLogging by the onboarder's role: %v (%v)", e["decision"], e["reason"])
		}
	}
}
