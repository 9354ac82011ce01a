//go:build integration

package integration

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/iampolicy"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
)

// ---- Cloud One ----

func TestFaultCloudOne(t *testing.T) {
	t.Parallel()
	fail := func(status int) func(*faultWorld) {
		return func(fw *faultWorld) { fw.c1From = fw.h.CloudOne.Requests(); fw.h.CloudOne.Fail(status) }
	}
	// The fault lasts d, and in any case until a request met it: on a loaded machine the
	// first reconcile may come later than d, and the scenario would prove nothing.
	restoreAfter := func(d time.Duration) func(context.Context, *faultWorld) {
		return func(ctx context.Context, fw *faultWorld) {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
			for fw.h.CloudOne.Requests() == fw.c1From && ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond): // polling the stand-in's count
				}
			}
			fw.c1Until = fw.h.CloudOne.Requests()
			fw.h.CloudOne.Fail(0)
		}
	}
	count := func(fw *faultWorld) int { return int(fw.c1Until - fw.c1From) }
	permanent := func(fw *faultWorld) int { return int(fw.h.CloudOne.Requests() - fw.c1From) }
	// Permanent answers: each request fails at once, and the only retries are the redrive's.
	onlyRedrive := func(fw *faultWorld, tl tally, mark int) {
		if n := permanent(fw); n > 2*faultAccounts {
			fw.t.Errorf("Cloud One got %d requests for %d accounts: a rejected key must be dead-lettered at once, not retried", n, faultAccounts)
		}
		if ws := fw.memberWrites(mark); len(ws) > 0 {
			fw.t.Errorf("writes to member accounts with a rejected key: %s", describeCalls(ws))
		}
	}
	cases := []faultCase{
		{name: "Cloud One 401", fault: "the accounts API answers 401 to the key lookup", before: fail(401), injected: permanent,
			wantDLQ: []string{"*"}, reason: "Cloud One rejected API key LEAKKEYID0c1 (HTTP 401): the key is wrong, expired or lacks access", after: onlyRedrive},
		{name: "Cloud One 403", fault: "the accounts API answers 403 to the key lookup", before: fail(403), injected: permanent,
			wantDLQ: []string{"*"}, reason: "Cloud One rejected API key LEAKKEYID0c1 (HTTP 403)", after: onlyRedrive},
		{name: "Cloud One 429", fault: "the accounts API answers 429 for the first 3 s", before: fail(429), during: restoreAfter(3 * time.Second), injected: count},
		{name: "Cloud One 503", fault: "the accounts API answers 503 for the first 3 s", before: fail(503), during: restoreAfter(3 * time.Second), injected: count},
		{name: "Cloud One timeout", fault: "the accounts API holds every request unanswered for the first 8 s (client timeout 10 s)",
			before: func(fw *faultWorld) { fw.c1From = fw.h.CloudOne.Requests(); fw.h.CloudOne.Hang() }, during: restoreAfter(8 * time.Second), injected: count},
	}
	for i, c := range cases {
		c.group, c.seq, c.mustInject = "cloudone", i, true
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) { runFault(t, c) })
	}
}

// ---- the secret ----

func TestFaultSecret(t *testing.T) {
	t.Parallel()
	put := func(v string) func(*faultWorld) {
		return func(fw *faultWorld) {
			if _, err := secretsmanager.NewFromConfig(fw.h.Moto.Config(fw.ctx, fw.env.Region)).PutSecretValue(fw.ctx,
				&secretsmanager.PutSecretValueInput{SecretId: aws.String(fw.env.SecretARN), SecretString: aws.String(v)}); err != nil {
				fw.t.Fatal(err)
			}
		}
	}
	cases := []faultCase{
		{name: "secret missing", fault: "the secret is deleted (no recovery window)", wantDLQ: []string{"*"}, reason: "it does not exist",
			before: func(fw *faultWorld) {
				if _, err := secretsmanager.NewFromConfig(fw.h.Moto.Config(fw.ctx, fw.env.Region)).DeleteSecret(fw.ctx,
					&secretsmanager.DeleteSecretInput{SecretId: aws.String(fw.env.SecretARN), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
					fw.t.Fatal(err)
				}
			}},
		// The broken values carry the key and the token: the leak checks would find them.
		{name: "secret not JSON", fault: "the secret holds the key and the token as plain text", wantDLQ: []string{"*"}, reason: "value is not JSON",
			before: put(c1Key.APIKey() + " " + v1Tok)},
		{name: "secret lacks a field", fault: "the secret's JSON has the API key but no visionOneServiceToken", wantDLQ: []string{"*"},
			reason: "field visionOneServiceToken is missing", before: put(`{"cloudOneApiKey":"` + c1Key.APIKey() + `","visionOneToken":"` + v1Tok + `"}`)},
	}
	for i, c := range cases {
		c.group, c.seq = "secret", i
		c.after = func(fw *faultWorld, tl tally, mark int) {
			if ws := fw.memberWrites(mark); len(ws) > 0 {
				fw.t.Errorf("writes to member accounts without a usable secret: %s", describeCalls(ws))
			}
		}
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) { runFault(t, c) })
	}
}

// ---- CloudFormation: states another party left, and the onboarder's own writes ----

// stateCase is one account of a CloudFormation run.
type stateCase struct {
	account         string // by name
	scenario, fault string
	before          func(fw *faultWorld, id string) // after the baseline, before the sweep's request
	during          func(ctx context.Context, fw *faultWorld, id string)
	dlq             bool
	reason          string
	check           func(t *testing.T, fw *faultWorld, id string, mark int, logs string) string // more checks; returns the outcome text
}

// cfnWrites lists the product's CloudFormation write calls in an account since mark.
func (fw *faultWorld) cfnWrites(id string, mark int) []string {
	var out []string
	for _, c := range fw.h.Recorder.Since(mark, localworld.Writes, localworld.InAccount(id), localworld.InService("cloudformation")) {
		out = append(out, c.Action)
	}
	return out
}

// force gives an account's stack a state another party's operation left, through the
// CloudFormation layer.
func force(status, reason string) func(fw *faultWorld, id string) {
	return func(fw *faultWorld, id string) {
		if err := fw.h.Faults.ForceStackStatus(id, stackRegion, stackName, status, reason); err != nil {
			fw.t.Fatal(err)
		}
	}
}

func writesAre(want ...string) func(t *testing.T, fw *faultWorld, id string, mark int, logs string) string {
	return func(t *testing.T, fw *faultWorld, id string, mark int, logs string) string {
		ws := fw.cfnWrites(id, mark)
		if !slices.Equal(ws, want) {
			t.Errorf("%s: CloudFormation writes %v, want %v", id, ws, want)
		}
		if len(ws) == 0 {
			return "no write call"
		}
		return strings.Join(ws, " then ")
	}
}

// passes describes the worker's passes over an account: how many, and how many came back
// later without counting as failures.
func passes(logs, id string) (n, later, failures int) {
	for _, l := range byReceive(logs, id) {
		n++
		switch l["outcome"] {
		case "later":
			later++
		case "retry":
			failures++
		}
	}
	return n, later, failures
}

// TestFaultStackStates onboards 20 accounts, then gives seven of them a state another party's
// operation left, which moto never produces (the proxy's CloudFormation layer holds it), and
// reconciles all 20 through the sweep. The other 13 are the control: in sync, untouched.
func TestFaultStackStates(t *testing.T) {
	recreated := writesAre("DeleteStack", "CreateStack")
	// The other party's update ends once the worker has come back to the stack n times (its
	// passes logged as "later"): a clock would let a slow worker find it over at its first
	// look, and a fast one at its n-th.
	releaseAfterLooks := func(n int) func(ctx context.Context, fw *faultWorld, id string) {
		return func(ctx context.Context, fw *faultWorld, id string) {
			for {
				if _, later, _ := passes(fw.logsSince(fw.runMarks, "reconcile"), id); later >= n {
					break
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond): // polling the logs
				}
			}
			_ = fw.h.Faults.ForceStackStatus(id, stackRegion, stackName, "UPDATE_COMPLETE", "")
		}
	}
	waited := func(minLater int) func(t *testing.T, fw *faultWorld, id string, mark int, logs string) string {
		return func(t *testing.T, fw *faultWorld, id string, mark int, logs string) string {
			if ws := fw.cfnWrites(id, mark); len(ws) > 0 {
				t.Errorf("%s: writes %v while the stack was in progress", id, ws)
			}
			n, later, failures := passes(logs, id)
			if later < minLater || failures > 0 {
				t.Errorf("%s: %d passes, %d came back later, %d failures: want at least %d later, no failure", id, n, later, failures, minLater)
			}
			return fmt.Sprintf("no write; came back %d times (not counted as failures), then in sync", later)
		}
	}
	cases := []stateCase{
		{account: "fault-01", scenario: "stack ROLLBACK_COMPLETE", fault: "someone else's create rolled back", before: force("ROLLBACK_COMPLETE", "Rollback requested by user."), check: recreated},
		{account: "fault-02", scenario: "stack ROLLBACK_FAILED", fault: "someone else's create failed to roll back", before: force("ROLLBACK_FAILED", "The following resource(s) failed to delete: [Role]."), check: recreated},
		{account: "fault-03", scenario: "stack CREATE_FAILED", fault: "someone else's create failed", before: force("CREATE_FAILED", "Resource handler returned message"), check: recreated},
		{account: "fault-04", scenario: "stack UPDATE_ROLLBACK_FAILED", fault: "someone else's update failed to roll back", before: force("UPDATE_ROLLBACK_FAILED", "The following resource(s) failed to update: [Fn]."),
			check: writesAre("ContinueUpdateRollback")},
		{account: "fault-05", scenario: "stack UPDATE_IN_PROGRESS", fault: "someone else's update in progress until the worker has come back once",
			before: force("UPDATE_IN_PROGRESS", "User Initiated"), during: releaseAfterLooks(1), check: waited(1)},
		{account: "fault-06", scenario: "stack UPDATE_IN_PROGRESS, long", fault: fmt.Sprintf("someone else's update in progress until the worker has come back %d times (more than %d failures' worth of looks)", faultMaxFailures+1, faultMaxFailures),
			before: force("UPDATE_IN_PROGRESS", "User Initiated"), during: releaseAfterLooks(faultMaxFailures + 1), check: waited(faultMaxFailures + 1)},
		{account: "fault-07", scenario: "stack DELETE_FAILED", fault: "someone else's delete failed", before: force("DELETE_FAILED", "The following resource(s) failed to delete: [TrailBucket]."),
			dlq: true, reason: "DELETE_FAILED", check: writesAre()},
	}
	runStates(t, "stack", cases, faultOpts{})
}

// TestFaultOwnWrites: the onboarder's own writes that CloudFormation refuses or rolls back,
// and the identity failures AWS has and moto does not. Each account is one scenario; the
// writes are counted: a rolled-back request is written at most once.
func TestFaultOwnWrites(t *testing.T) {
	stopTrail := func(fw *faultWorld, id string) { fw.deleteForwardingTrail(id) }
	cases := []stateCase{
		{account: "fault-01", scenario: "own create rolled back", fault: "CreateStack fails at the custom resource that calls Cloud One; the create rolls back",
			before: func(fw *faultWorld, id string) {
				fw.h.Faults.FailStacks(proxy.StackFailure{Account: id, Operation: "CREATE", LogicalID: "CloudOneIntegration",
					Reason: "Received response status [FAILED] from custom resource. Message returned: Cloud One API returned 500"})
				fw.deleteStack(id)
			},
			dlq: true, reason: "CloudOneIntegration (AWS::CloudFormation::CustomResource) CREATE_FAILED", check: writesAre("CreateStack")},
		{account: "fault-02", scenario: "own update rolled back", fault: "the forwarding trail is deleted; the UpdateStack that follows fails and rolls back (old parameters back)",
			before: func(fw *faultWorld, id string) {
				fw.h.Faults.FailStacks(proxy.StackFailure{Account: id, Operation: "UPDATE", LogicalID: "CloudTrailStack", ResourceType: "AWS::CloudFormation::Stack",
					Reason: "Embedded stack was not successfully updated"})
				stopTrail(fw, id)
			},
			dlq: true, reason: "CloudTrailStack (AWS::CloudFormation::Stack) UPDATE_FAILED", check: writesAre("UpdateStack")},
		{account: "fault-03", scenario: "write during an operation", fault: "the first two UpdateStack calls meet another operation (CloudFormation's ValidationError \"... is in UPDATE_IN_PROGRESS state and can not be updated.\")",
			before: func(fw *faultWorld, id string) {
				fw.h.Faults.Add(proxy.Rule{Service: "cloudformation", Action: "UpdateStack", Account: id, Fault: proxy.Busy{}, Times: 2})
				stopTrail(fw, id)
			},
			check: func(t *testing.T, fw *faultWorld, id string, mark int, logs string) string {
				writesAre("UpdateStack", "UpdateStack", "UpdateStack")(t, fw, id, mark, logs)
				if _, _, failures := passes(logs, id); failures > 0 {
					t.Errorf("%s: a busy stack counted as a failure", id)
				}
				return "UpdateStack refused twice (waited each time, no failure counted), then updated: in sync"
			}},
		{account: "fault-04", scenario: "AccessDenied in the member (SCP)", fault: "an SCP on the account denies cloudformation:CreateStack",
			before: func(fw *faultWorld, id string) {
				fw.h.Faults.AddSCP(id, iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[{"Sid":"DenyStacks","Effect":"Deny","Action":"cloudformation:CreateStack","Resource":"*"}]}`, iampolicy.SCP))
				fw.deleteStack(id)
			},
			dlq: true, reason: "cloudformation:CreateStack in " /* + id */, check: writesAre("CreateStack")},
		{account: "fault-05", scenario: "AccessDenied on AssumeRole for a new account, recovering", fault: "AssumeRole into the account is denied twice (its role is not usable yet)",
			before: func(fw *faultWorld, id string) {
				fw.deleteStack(id)
				// Twice, not for a time: a loaded machine could make the first AssumeRole later than any window.
				fw.h.Faults.Add(proxy.Rule{Service: "sts", Action: "AssumeRole", Resource: ":" + id + ":", Fault: proxy.AccessDenied{Reason: "the role is not usable yet"}, Times: 2})
			},
			check: func(t *testing.T, fw *faultWorld, id string, mark int, logs string) string {
				writesAre("CreateStack")(t, fw, id, mark, logs)
				_, _, failures := passes(logs, id)
				if failures == 0 {
					t.Errorf("%s: no retry after AccessDenied", id)
				}
				return fmt.Sprintf("%d transient failures (within the grace of a new account), then CreateStack: in sync", failures)
			}},
		{account: "fault-06", scenario: "repeated request token", fault: "the answer to CreateStack is lost (connection reset after CloudFormation took it); the SDK retries with the same token",
			before: func(fw *faultWorld, id string) {
				fw.deleteStack(id)
				fw.h.Faults.Add(proxy.Rule{Service: "cloudformation", Action: "CreateStack", Account: id, Fault: proxy.LoseResponse{}, Times: 1})
			},
			check: func(t *testing.T, fw *faultWorld, id string, mark int, logs string) string {
				writesAre("CreateStack", "CreateStack")(t, fw, id, mark, logs)
				creates := 0
				for _, e := range fw.h.Faults.StackEvents(id, stackRegion, stackName) {
					if strings.HasPrefix(e, stackName+" CREATE_IN_PROGRESS") {
						creates++
					}
				}
				if creates != 1 {
					t.Errorf("%s: %d create operations, want 1", id, creates)
				}
				return "CreateStack sent twice with one token: one operation, in sync"
			}},
	}
	runStates(t, "own", cases, faultOpts{allowDenials: []string{"cloudformation:CreateStack"}})
}

// deleteStack removes an account's stack (directly in moto, as a person would), so that the
// sweep's request creates it again.
func (fw *faultWorld) deleteStack(id string) {
	fw.t.Helper()
	if _, err := cloudformation.NewFromConfig(fw.acctCfg(id, stackRegion)).DeleteStack(fw.ctx, &cloudformation.DeleteStackInput{StackName: aws.String(stackName)}); err != nil {
		fw.t.Fatal(err)
	}
}

// deleteForwardingTrail deletes the trail the account's stack forwards (made by the baseline).
func (fw *faultWorld) deleteForwardingTrail(id string) {
	fw.t.Helper()
	if _, err := cloudtrail.NewFromConfig(fw.acctCfg(id, stackRegion)).DeleteTrail(fw.ctx, &cloudtrail.DeleteTrailInput{Name: aws.String("audit")}); err != nil {
		fw.t.Fatal(err)
	}
}

// runStates onboards the 20 accounts (each with a forwarding trail audit in us-east-1), puts
// each case's account in its state, reconciles all 20 through one manual request, and
// accounts for every request.
func runStates(t *testing.T, group string, cases []stateCase, o faultOpts) {
	start := time.Now()
	fw := newFaultWorld(t, o)
	for _, a := range fw.accounts {
		if _, err := fw.h.Moto.SeedTrail(fw.ctx, localworld.Trail{Account: a.ID, Name: "audit", Bucket: "audit-" + a.ID, HomeRegion: stackRegion, Logging: true}); err != nil {
			t.Fatal(err)
		}
	}
	fw.controlTower(fw.accounts...)
	fw.drainFor(2*time.Minute, nil)
	for _, a := range fw.accounts {
		if why := fw.inSync(a.ID); why != "" {
			t.Fatalf("baseline: %s is not onboarded: %s", a.Name, why)
		}
	}
	t.Logf("baseline of %d accounts onboarded in %s", faultAccounts, time.Since(start).Round(time.Millisecond))
	fw.h.Faults.ResetStats()
	for _, c := range cases {
		c.before(fw, fw.org.Account(c.account).ID)
	}
	mark, marks := fw.h.Recorder.Mark(), fw.marks()
	fw.runMarks = marks
	fw.put(localworld.Manual(fw.ids()...))
	fw.drainFor(3*time.Minute, func(ctx context.Context) {
		var wg sync.WaitGroup
		for _, c := range cases {
			if c.during != nil {
				wg.Add(1)
				go func() { defer wg.Done(); c.during(ctx, fw, fw.org.Account(c.account).ID) }()
			}
		}
		wg.Wait()
	})
	fw.h.Faults.Clear()
	logs := fw.logsSince(marks, "reconcile")
	tl := fw.account(fw.ids(), logs)
	fw.checkNoLeak()
	faulted := map[string]bool{}
	for i, c := range cases {
		id := fw.org.Account(c.account).ID
		faulted[id] = true
		t.Run(strings.ReplaceAll(c.scenario, " ", "_"), func(t *testing.T) {
			row := faultRow{Group: group, Scenario: c.scenario, Fault: c.fault, In: 1, Seq: i}
			switch {
			case slices.Contains(tl.inSync, id):
				row.InSync = 1
				if c.dlq {
					t.Errorf("%s (%s) is in sync, want it in the DLQ", c.account, c.scenario)
				}
			case slices.Contains(tl.inDLQ, id):
				row.InDLQ = 1
				if !c.dlq {
					t.Errorf("%s (%s) is in the DLQ (%s), want it in sync; reason %q", c.account, c.scenario, tl.why[id], tl.reasons[id])
				} else if !strings.Contains(tl.reasons[id], c.reason) {
					t.Errorf("%s is in the DLQ with reason %q, want it to say %q", c.account, tl.reasons[id], c.reason)
				}
			default:
				row.Lost = 1
				t.Errorf("LOST: %s (%s) is neither in sync (%s) nor in the DLQ", c.account, c.scenario, tl.why[id])
			}
			row.Outcome = c.check(t, fw, id, mark, logs)
			if c.dlq {
				r := tl.reasons[id]
				if len(r) > 200 {
					r = r[:197] + "..."
				}
				row.Outcome += "; in the DLQ: " + strconv.Quote(r)
			} else {
				row.Outcome += "; in sync"
			}
			row.Writes = len(fw.cfnWrites(id, mark))
			addFaultRow(row)
		})
	}
	row := faultRow{Group: group, Scenario: group + ": the other accounts", Fault: fmt.Sprintf("none (the same run, %d accounts)", faultAccounts-len(cases)), Seq: len(cases)}
	for _, a := range fw.accounts {
		if faulted[a.ID] {
			continue
		}
		row.In++
		switch {
		case slices.Contains(tl.inSync, a.ID):
			row.InSync++
		case slices.Contains(tl.inDLQ, a.ID):
			row.InDLQ++
			t.Errorf("control account %s is in the DLQ: %s", a.Name, tl.reasons[a.ID])
		default:
			row.Lost++
			t.Errorf("LOST: control account %s: %s", a.Name, tl.why[a.ID])
		}
		if ws := fw.cfnWrites(a.ID, mark); len(ws) > 0 {
			t.Errorf("control account %s was written: %v", a.Name, ws)
		}
	}
	row.Outcome = "no write; in sync"
	row.Duration = time.Since(start)
	addFaultRow(row)
	t.Logf("%s: %s", group, time.Since(start).Round(time.Second))
}
