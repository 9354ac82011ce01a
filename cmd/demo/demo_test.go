//go:build integration

package main

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
)

// TestDemo runs the whole demo in-process, as `make demo` does (and as `make demo
// TARGET=visionone` does, for the Vision One target's story), and checks what the design
// guarantees, whatever the speed of the machine: the exit code (the demo's own check of the
// end state in moto: every stack, its parameters and tags, the trail that logs again, no
// write during the replay, one message in the DLQ), the order of each account's decisions in
// each step, the status table, and no secret in anything the run printed or logged. It never
// asserts a look at an operation in progress ("wait"): whether the worker comes back before
// CloudFormation is done depends on the machine. It needs moto_server on PATH, like every test
// against moto: without it the test fails and says how to install it.
func TestDemo(t *testing.T) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		t.Fatal("moto_server is not on PATH: install it with pip install 'moto[server]'")
	}
	t.Run("cloudone", testCloudOneDemo)
	t.Run("visionone", testVisionOneDemo)
}

// testCloudOneDemo is `make demo`: the Cloud One target's story.
func testCloudOneDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code, d := runDemo(ctx, nil, &stdout, &stderr)
	out := stdout.String()
	if code != 0 {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, stderr.String())
	}

	// No secret anywhere: the demo's output and every line moto and the Lambdas wrote. The
	// secrets did flow: the key and the token went to CloudFormation, and the rotated key
	// (the recorder keeps the request bodies in memory only).
	logs := d.h.Logs.String()
	if !strings.Contains(logs, `"message":"reconcile"`) {
		t.Fatal("no reconcile line in the process log: the leak check would prove nothing")
	}
	writes := d.h.Recorder.Calls(localworld.InService("cloudformation"), localworld.WithAction("CreateStack", "UpdateStack"))
	for _, sec := range []string{c1Key.Secret, c1Key2.Secret, v1Tok} {
		if strings.Contains(out+stderr.String(), sec) || strings.Contains(logs, sec) {
			t.Fatal("a secret appears in the demo's output or in its process log")
		}
		if !slices.ContainsFunc(writes, func(c localworld.Call) bool { return bytes.Contains(c.Body, []byte(sec)) }) {
			t.Error("a secret of the demo reached no stack write: the leak check would prove nothing")
		}
	}
	if strings.Contains(out, `{"`) {
		t.Error("raw JSON in the demo's output")
	}

	// Each step's decisions, per account, in order. A look that found the operation still in
	// progress ("wait") or a request that waited for its start slot ("scheduled") comes back
	// later without a decision of its own: how many there are depends on the machine, so they
	// are left out of the sequences. Intakes: the decision of each account's event.
	if len(d.steps) != 5 {
		t.Fatalf("%d steps ran, want 5", len(d.steps))
	}
	type want struct {
		intake    string              // the handler whose decisions are checked
		decisions map[string]string   // account name -> the intake's decision ("" none)
		actions   map[string][]string // account name -> the worker's actions, in order
	}
	every := func(f func(name string) string) map[string]string {
		m := map[string]string{}
		for _, a := range d.org.Accounts {
			m[a.Name] = f(a.Name)
		}
		return m
	}
	enqueueAllButExcluded := every(func(n string) string {
		if n == acSandboxA {
			return "skip"
		}
		return "enqueue"
	})
	only := func(name, decision string) map[string]string {
		return every(func(n string) string {
			if n == name {
				return decision
			}
			return ""
		})
	}
	steps := []want{
		{"accountvending", enqueueAllButExcluded, map[string][]string{
			acPayments: {"create", "none"}, acIdentity: {"create", "none"}, acWeb: {"create", "none"}, acSandboxB: {"create", "none"},
			acAnalytics: {"leave-alone"}, acSandboxA: nil}},
		{"trailguard", only(acPayments, "enqueue"), map[string][]string{acPayments: {"update", "none"}}},
		{"trailguard", only(acIdentity, "enqueue"), map[string][]string{acIdentity: {"start-logging"}}},
		{"sweep", enqueueAllButExcluded, map[string][]string{
			acPayments: {"update", "none"}, acIdentity: {"update", "none"}, acWeb: {"update", "none"}, acSandboxB: {"update", "needs-person"},
			acAnalytics: {"leave-alone"}, acSandboxA: nil}},
	}
	for i, w := range steps {
		s := d.steps[i]
		for _, a := range d.org.Accounts {
			var got []string
			for _, e := range s.entries {
				if e.handler == w.intake && e.str("account") == a.ID {
					got = append(got, e.str("decision"))
				}
			}
			if wd := w.decisions[a.Name]; (wd == "" && len(got) > 0) || (wd != "" && !slices.Equal(got, []string{wd})) {
				t.Errorf("step %d (%s): %s's %s decisions %v, want [%s]", i+1, s.title, a.Name, w.intake, got, wd)
			}
			if acts := actions(s.entries, a.ID); !slices.Equal(acts, w.actions[a.Name]) {
				t.Errorf("step %d (%s): %s's reconcile actions %v, want %v", i+1, s.title, a.Name, acts, w.actions[a.Name])
			}
		}
	}
	// Step 4's failure is the rolled-back update, with the resource named and the way out.
	for _, e := range d.steps[3].entries {
		if e.handler == "reconcile" && e.str("account") == d.org.Account(acSandboxB).ID && e.str("action") == "needs-person" {
			if r := e.str("reason"); e.str("outcome") != "dlq" || !strings.Contains(r, failedID+" ("+failedType+") UPDATE_FAILED") || !strings.Contains(r, "--retry-failed") {
				t.Errorf("sandbox-b's failure: outcome %s, reason %q", e.str("outcome"), r)
			}
		}
	}
	// Step 5, the replay: every event went through again, marked as replayed, and nothing was
	// changed (no write: the demo's own check reads the recorder), nor reported a second time.
	replay := d.steps[4].entries
	replayed := map[string]bool{}
	for _, e := range replay {
		if e.str("replay") == "" {
			t.Errorf("step 5: a decision not marked as a replay: %s %s %s", e.handler, e.str("account"), e.str("action")+e.str("decision"))
		}
		if e.handler == "reconcile" {
			replayed[e.str("account")] = true
			if a := e.str("action"); !slices.Contains([]string{"none", "leave-alone", "needs-person"}, a) || e.str("outcome") == "dlq" {
				t.Errorf("step 5: the replay of %s: %s (%s), want no change and no second report", e.str("account"), a, e.str("outcome"))
			}
		}
	}
	for _, n := range []string{acPayments, acIdentity, acAnalytics, acWeb, acSandboxB} {
		if !replayed[d.org.Account(n).ID] {
			t.Errorf("step 5: no replayed request reached the worker for %s", n)
		}
	}

	// The web account's trail writes to a bucket in another region: never offered, and why.
	if !regexp.MustCompile(`reconcile +\d{12} +web +create `).MatchString(out) ||
		!strings.Contains(out, "eu-logs: bucket web-logs-") || !strings.Contains(out, "is not in us-east-1 (S3 sends event notifications only to targets in the bucket's own region)") {
		t.Errorf("the web account's create does not say why its trail's bucket was not used:\n%s", out)
	}

	// The status table: the end state. It is sorted by account id, and the ids are random:
	// its rows are checked in any order, between the command line and the verdict.
	from, to := strings.Index(out, "$ onboarder status"), strings.Index(out, "Last reconcile failed (1):")
	if from < 0 || to < from {
		t.Fatalf("no status table with one failure in the demo's output:\n%s", out)
	}
	table := out[from:to]
	for _, w := range []string{
		// LAST UPDATE is the last change: the replay changed nothing and rewrote nothing.
		`payments +│ Workloads │ UPDATE_COMPLETE +│ …[^│]*onboarding-template\.yaml │ new .* UTC update +│`,
		`identity +│ Workloads │ UPDATE_COMPLETE +│ [^│]+ │ existing │ identity-audit-\d{12} +│ logging \(audit\) .* UTC update +│`,
		`web +│ Workloads │ UPDATE_COMPLETE +│ [^│]+ │ new .* UTC update +│`,
		`sandbox-b +│ Sandbox +│ UPDATE_ROLLBACK_COMPLETE │ [^│]+ │ new .* UTC needs-person +│`,
		`analytics +│ Workloads │ CREATE_COMPLETE +│ - +│ .* │ no .* UTC leave-alone +│`,
	} {
		if !regexp.MustCompile(w).MatchString(table) {
			t.Errorf("no row matching %q in the status table:\n%s", w, table)
		}
	}
	if !regexp.MustCompile(`(?m)^ *\d{12} sandbox-b \[needs-person\]: .*` + failedID).MatchString(out[to:]) {
		t.Errorf("the status's failure list does not name sandbox-b's failed resource:\n%s", out[to:])
	}
	if !regexp.MustCompile(`(?m)^demo: all 6 accounts as expected`).MatchString(out) {
		t.Errorf("no verdict line:\n%s", out)
	}

	// Each sandbox-b update was written once: the failed one is not retried by the demo's
	// later steps (the replay included).
	var ups int
	for _, c := range d.h.Recorder.Calls(localworld.InAccount(d.org.Account(acSandboxB).ID), localworld.WithAction("UpdateStack")) {
		if c.Status < 300 {
			ups++
		}
	}
	if ups != 1 {
		t.Errorf("sandbox-b: %d accepted UpdateStack calls, want 1 (the rotation's, which rolled back)", ups)
	}
}

// actions is the worker's actions about an account, in order, without the passes that came
// back later without deciding anything (an operation still in progress, a start slot not yet
// due).
func actions(es []entry, account string) []string {
	var out []string
	for _, e := range es {
		if e.handler != "reconcile" || e.str("account") != account {
			continue
		}
		if a := e.str("action"); a != "wait" && a != "scheduled" {
			out = append(out, a)
		}
	}
	return out
}
