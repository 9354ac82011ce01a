//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/faultproxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/localenv"
)

// ---- Cloud One ----

func TestFaultCloudOne(t *testing.T) {
	var from int64
	fail := func(status int) func(*faultWorld) {
		return func(*faultWorld) { from = suite.c1.Requests(); suite.c1.Fail(status) }
	}
	var until int64
	restoreAfter := func(d time.Duration) func(context.Context, *faultWorld) {
		return func(ctx context.Context, _ *faultWorld) {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
			until = suite.c1.Requests()
			suite.c1.Fail(0)
		}
	}
	count := func() int { return int(until - from) }
	permanent := func() int { return int(suite.c1.Requests() - from) }
	// Permanent answers: each request fails at once, and the only retries are the redrive's.
	onlyRedrive := func(fw *faultWorld, tl tally, mark int) {
		if n := permanent(); n > faultAccounts*faultMaxReceive {
			fw.t.Errorf("Cloud One got %d requests for %d accounts: more than one per receive (%d receives)", n, faultAccounts, faultMaxReceive)
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
			before: func(*faultWorld) { from = suite.c1.Requests(); suite.c1.Hang() }, during: restoreAfter(8 * time.Second), injected: count},
	}
	for _, c := range cases {
		c.group = "cloudone"
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) { runFault(t, c) })
	}
}

// ---- the secret ----

func TestFaultSecret(t *testing.T) {
	put := func(v string) func(*faultWorld) {
		return func(fw *faultWorld) {
			if _, err := secretsmanager.NewFromConfig(suite.moto.Config(fw.ctx, fw.env.Region)).PutSecretValue(fw.ctx,
				&secretsmanager.PutSecretValueInput{SecretId: aws.String(fw.env.SecretARN), SecretString: aws.String(v)}); err != nil {
				fw.t.Fatal(err)
			}
		}
	}
	cases := []faultCase{
		{name: "secret missing", fault: "the secret is deleted (no recovery window)", wantDLQ: []string{"*"}, reason: "it does not exist",
			before: func(fw *faultWorld) {
				if _, err := secretsmanager.NewFromConfig(suite.moto.Config(fw.ctx, fw.env.Region)).DeleteSecret(fw.ctx,
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
	for _, c := range cases {
		c.group = "secret"
		c.after = func(fw *faultWorld, tl tally, mark int) {
			if ws := fw.memberWrites(mark); len(ws) > 0 {
				fw.t.Errorf("writes to member accounts without a usable secret: %s", describeCalls(ws))
			}
		}
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) { runFault(t, c) })
	}
}

// ---- CloudFormation states moto never produces ----

// continueRollbackShim sits in front of the recorder as the reconcile Lambda's endpoint:
// moto 5.2.1 does not implement ContinueUpdateRollback, so that call is passed on (recorded,
// faults applied) and then answered with success; everything else passes through.
func continueRollbackShim(t *testing.T) string {
	target, _ := url.Parse(suite.rec.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		isCUR := strings.Contains(string(body), "Action=ContinueUpdateRollback") || strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".ContinueUpdateRollback")
		if !isCUR {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r) // moto answers "not implemented"; the recorder has the call
		if r.Header.Get("X-Amz-Target") != "" {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			_, _ = io.WriteString(w, "{}")
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, `<ContinueUpdateRollbackResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><ContinueUpdateRollbackResult/><ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ResponseMetadata></ContinueUpdateRollbackResponse>`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type stateCase struct {
	account string // by name
	status  string
	fault   string
	rule    faultproxy.Rule
	dlq     bool
	reason  string
	check   func(t *testing.T, fw *faultWorld, id string, mark int, logs string)
}

// actions lists the product's CloudFormation write calls in an account since mark.
func cfnWrites(id string, mark int) []string {
	var out []string
	for _, c := range suite.rec.Since(mark, localenv.Writes, localenv.InAccount(id), localenv.InService("cloudformation")) {
		out = append(out, c.Action)
	}
	return out
}

// TestFaultStackStates onboards 20 accounts, then gives seven of them a stack state moto never
// produces (DescribeStacks rewritten by the proxy) and reconciles all 20 through the sweep.
// The other 13 are the control: in sync, untouched.
func TestFaultStackStates(t *testing.T) {
	start := time.Now()
	shim := continueRollbackShim(t)
	fw := newFaultWorld(t, faultOpts{maxReceive: 5, functionEnv: map[string]map[string]string{"reconcile": {
		"AWS_ENDPOINT_URL":         shim,
		"ONBOARDER_WAIT_MIN_DELAY": "500ms",
		// The reconcile Lambda runs with a 120 s timeout: a 110 s margin leaves each
		// invocation about 10 s of waiting, so that a stack held longer outlives it.
		"ONBOARDER_WAIT_MARGIN": "110s",
	}}})
	fw.controlTower(fw.accounts...)
	fw.drainFor(time.Minute, nil)
	for _, a := range fw.accounts {
		if why := fw.inSync(a.ID); why != "" {
			t.Fatalf("baseline: %s is not onboarded: %s", a.Name, why)
		}
	}
	t.Logf("baseline of %d accounts onboarded in %s", faultAccounts, time.Since(start).Round(time.Millisecond))

	recreated := func(t *testing.T, fw *faultWorld, id string, mark int, logs string) {
		ws := cfnWrites(id, mark)
		if !slices.Equal(ws, []string{"DeleteStack", "CreateStack"}) {
			t.Errorf("%s: CloudFormation writes %v, want [DeleteStack CreateStack]", id, ws)
		}
	}
	rule := func(status string, times int, d time.Duration) faultproxy.Rule {
		return faultproxy.Rule{Service: "cloudformation", Action: "DescribeStacks", Fault: faultproxy.StackStatus{Status: status}, Times: times, Duration: d}
	}
	cases := []stateCase{
		{account: "fault-01", status: "ROLLBACK_COMPLETE", rule: rule("ROLLBACK_COMPLETE", 1, 0), check: recreated},
		{account: "fault-02", status: "ROLLBACK_FAILED", rule: rule("ROLLBACK_FAILED", 1, 0), check: recreated},
		{account: "fault-03", status: "CREATE_FAILED", rule: rule("CREATE_FAILED", 1, 0), check: recreated},
		{account: "fault-04", status: "UPDATE_ROLLBACK_FAILED", rule: rule("UPDATE_ROLLBACK_FAILED", 1, 0),
			check: func(t *testing.T, fw *faultWorld, id string, mark int, logs string) {
				if ws := cfnWrites(id, mark); !slices.Equal(ws, []string{"ContinueUpdateRollback"}) {
					t.Errorf("%s: CloudFormation writes %v, want [ContinueUpdateRollback]", id, ws)
				}
			}},
		{account: "fault-05", status: "UPDATE_IN_PROGRESS", fault: "UPDATE_IN_PROGRESS for 3 DescribeStacks (about 2 s), then released",
			rule: rule("UPDATE_IN_PROGRESS", 3, 0),
			check: func(t *testing.T, fw *faultWorld, id string, mark int, logs string) {
				ls := reconcileLogs(logs, id)
				if len(ls) != 1 || ls[0]["outcome"] != "done" || ls[0]["action"] != "wait" {
					t.Errorf("%s: want one reconcile that waited and was done, got %d lines: %v", id, len(ls), ls)
				}
				if ws := cfnWrites(id, mark); len(ws) > 0 {
					t.Errorf("%s: writes %v while the stack was in progress", id, ws)
				}
			}},
		{account: "fault-06", status: "UPDATE_IN_PROGRESS", fault: "UPDATE_IN_PROGRESS held for 20 s, past the invocation's wait budget (about 10 s), then released",
			rule: rule("UPDATE_IN_PROGRESS", 0, 20*time.Second),
			check: func(t *testing.T, fw *faultWorld, id string, mark int, logs string) {
				ls := byReceive(logs, id)
				retried := false
				for _, l := range ls[:max(len(ls)-1, 0)] {
					r, _ := l["reason"].(string)
					if l["outcome"] == "retry" && (strings.Contains(r, "in progress") || strings.Contains(r, "no time left")) {
						retried = true
					}
				}
				if !retried || len(ls) < 2 || ls[len(ls)-1]["outcome"] != "done" || ls[len(ls)-1]["receive_count"] == "1" {
					t.Errorf("%s: want a retry for lack of time, then done on a later receive; got %v", id, ls)
				}
				if ws := cfnWrites(id, mark); len(ws) > 0 {
					t.Errorf("%s: writes %v while the stack was in progress", id, ws)
				}
			}},
		{account: "fault-07", status: "DELETE_FAILED", rule: rule("DELETE_FAILED", 0, 0), dlq: true, reason: "DELETE_FAILED",
			check: func(t *testing.T, fw *faultWorld, id string, mark int, logs string) {
				if ws := suite.rec.Since(mark, localenv.Writes, localenv.InAccount(id)); len(ws) > 0 {
					t.Errorf("%s: write calls on a DELETE_FAILED stack: %s", id, describeCalls(ws))
				}
			}},
	}
	suite.Faults.ResetStats()
	mark, marks := suite.rec.Mark(), fw.marks()
	for i, c := range cases {
		cases[i].rule.Account = fw.org.Account(c.account).ID
		suite.Faults.Add(cases[i].rule)
	}
	fw.put(localenv.Manual(fw.ids()...))
	fw.drainFor(2*time.Minute, nil)
	var injected []int
	for i := range cases {
		injected = append(injected, suite.Faults.Injected(i))
	}
	suite.Faults.Clear()
	logs := fw.logsSince(marks, "reconcile")
	tl := fw.account(fw.ids(), logs)
	fw.checkNoLeak()

	faulted := map[string]bool{}
	for i, c := range cases {
		id := fw.org.Account(c.account).ID
		faulted[id] = true
		t.Run(c.status+"_"+c.account, func(t *testing.T) {
			row := faultRow{Group: "stack", Scenario: "stack " + c.status, Fault: c.fault, In: 1, Injected: injected[i]}
			if row.Fault == "" {
				row.Fault = fmt.Sprintf("DescribeStacks of one account's stack answers %s", c.status)
				if c.rule.Times > 0 {
					row.Fault += " (the first answer only)"
				} else if c.rule.Duration == 0 {
					row.Fault += " (always)"
				}
			}
			switch {
			case slices.Contains(tl.inSync, id):
				row.InSync = 1
				if c.dlq {
					t.Errorf("%s (%s) is in sync, want it in the DLQ", c.account, c.status)
				}
			case slices.Contains(tl.inDLQ, id):
				row.InDLQ = 1
				if !c.dlq {
					t.Errorf("%s (%s) is in the DLQ (%s), want it in sync; reason %q", c.account, c.status, tl.why[id], tl.reasons[id])
				} else if !strings.Contains(tl.reasons[id], c.reason) {
					t.Errorf("%s is in the DLQ with reason %q, want it to say %q", c.account, tl.reasons[id], c.reason)
				}
			default:
				row.Lost = 1
				t.Errorf("LOST: %s (%s) is neither in sync (%s) nor in the DLQ", c.account, c.status, tl.why[id])
			}
			c.check(t, fw, id, mark, logs)
			row.Outcome = stateOutcome(c, id, mark, logs)
			addFaultRow(row)
		})
	}
	// The control accounts: in sync, not written.
	row := faultRow{Group: "stack", Scenario: "stack states: the other accounts", Fault: "none (the same run, 13 accounts without a rewritten state)"}
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
		if ws := cfnWrites(a.ID, mark); len(ws) > 0 {
			t.Errorf("control account %s was written: %v", a.Name, ws)
		}
	}
	row.Outcome = "in sync, no write"
	row.Duration = time.Since(start)
	addFaultRow(row)
	t.Logf("stack states: %s", time.Since(start).Round(time.Second))
}

// stateOutcome says what the worker did, from the recorded calls and its log lines.
func stateOutcome(c stateCase, id string, mark int, logs string) string {
	ws := cfnWrites(id, mark)
	ls := byReceive(logs, id)
	receives := len(ls)
	var s string
	switch {
	case c.dlq:
		s = fmt.Sprintf("needs a person: no write call; after %d receive(s) the worker moved it to the DLQ with the reason", receives)
	case len(ws) > 0:
		s = strings.Join(ws, " then ") + ", in sync"
	default:
		s = "waited, no write call, in sync"
	}
	if !c.dlq && receives > 1 {
		s += fmt.Sprintf(" on receive %d (earlier receives: out of wait time, back to the queue)", receives)
	}
	return s
}
