//go:build integration

package main

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// testVisionOneDemo is `make demo TARGET=visionone`: the Vision One target's story. Besides the
// demo's own check of the end state (each account's stacks, the trail its Vision One stack
// names, the template of its last write, its name in Vision One, Vision One's state, no write in
// the accounts in sync once the template aged, none during the replay, identity's failure alone
// in the DLQ), it checks each step's decisions per account, in order, the reasons that carry
// the story (a template generated first, and why; Vision One's words), the status table, and
// that neither the onboarder's Vision One key nor a generated template's URL was printed or
// logged.
func testVisionOneDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code, d := runDemo(ctx, []string{"-target", "visionone"}, &stdout, &stderr)
	out := stdout.String()
	if code != 0 {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, stderr.String())
	}

	// No secret anywhere: the key went to Vision One (the stand-in accepted every request), and
	// the generated templates' URLs (they lead to a template that holds a key) went to
	// CloudFormation only.
	logs := d.h.Logs.String()
	if !strings.Contains(logs, `"message":"reconcile"`) {
		t.Fatal("no reconcile line in the process log: the leak check would prove nothing")
	}
	if d.h.VisionOne.Requests() == 0 || d.h.VisionOne.Rejected() != 0 {
		t.Errorf("Vision One served %d requests and refused %d: the key did not flow as it should", d.h.VisionOne.Requests(), d.h.VisionOne.Rejected())
	}
	if strings.Contains(out+stderr.String(), v1Key) || strings.Contains(logs, v1Key) {
		t.Fatal("the Vision One key appears in the demo's output or in its process log")
	}
	for _, g := range d.h.VisionOne.Generations() {
		if strings.Contains(out+stderr.String(), g.URL) || strings.Contains(logs, g.URL) {
			t.Errorf("a generated template's URL appears in the demo's output or in its process log")
		}
	}
	if strings.Contains(out, `{"`) {
		t.Error("raw JSON in the demo's output")
	}

	// Each step's decisions, per account, in order. Left out, as machine-dependent: a look at an
	// operation in progress ("wait"), a start waiting for its slot ("scheduled"), and a pass
	// that found another worker generating the template ("fail", transient: it looks again).
	if len(d.steps) != 6 {
		t.Fatalf("%d steps ran, want 6", len(d.steps))
	}
	type want struct {
		decisions map[string]map[string]string // intake -> account name -> its decision
		actions   map[string][]string          // account name -> the worker's actions, in order
	}
	steps := []want{
		{map[string]map[string]string{"accountvending": {acPayments: "enqueue", acIdentity: "enqueue", acWeb: "enqueue", acSandboxA: "skip", acSandboxB: "enqueue", acShop: "skip"}},
			map[string][]string{acPayments: {"create", "none"}, acIdentity: {"create", "none"},
				acWeb: {"create", "create", "none"}, acSandboxB: {"create", "create", "none"}}}, // web, sandbox-b: the trail stack first
		{map[string]map[string]string{"trailguard": {acPayments: "enqueue"}},
			map[string][]string{acPayments: {"create", "update", "none"}}},
		{map[string]map[string]string{"trailguard": {acSandboxB: "enqueue"}},
			map[string][]string{acSandboxB: {"create", "none"}}},
		{map[string]map[string]string{"sweep": {acPayments: "enqueue", acIdentity: "enqueue", acWeb: "enqueue", acSandboxA: "skip", acSandboxB: "enqueue"}},
			map[string][]string{acPayments: {"none"}, acIdentity: {"needs-person"}, acWeb: {"none"}, acSandboxB: {"none"}}},
		{map[string]map[string]string{"sweep": {acPayments: "enqueue", acIdentity: "enqueue", acWeb: "enqueue", acSandboxA: "skip", acSandboxB: "enqueue"},
			"accountvending": {acShop: "enqueue"}}, // the sweep, before the move: shop is not in scope yet
			map[string][]string{acPayments: {"none"}, acIdentity: {"needs-person"}, acWeb: {"none"}, acSandboxB: {"none"},
				acShop: {"create", "create", "none"}}},
	}
	for i, w := range steps {
		s := d.steps[i]
		for _, a := range d.org.Accounts {
			for _, h := range []string{"accountvending", "trailguard", "sweep"} {
				var got []string
				for _, e := range s.entries {
					if e.handler == h && e.str("account") == a.ID {
						got = append(got, e.str("decision"))
					}
				}
				wd := w.decisions[h][a.Name]
				if (wd == "" && len(got) > 0) || (wd != "" && !slices.Equal(got, []string{wd})) {
					t.Errorf("step %d (%s): %s's %s decisions %v, want [%s]", i+1, s.title, a.Name, h, got, wd)
				}
			}
			if acts := v1Actions(s.entries, a.ID); !slices.Equal(acts, w.actions[a.Name]) {
				t.Errorf("step %d (%s): %s's reconcile actions %v, want %v", i+1, s.title, a.Name, acts, w.actions[a.Name])
			}
		}
	}
	// Step 1: the first write generated the template, once none was kept; each account in sync
	// says what Vision One said of it.
	reasons := func(step int, name string) []entry {
		var out []entry
		for _, e := range d.steps[step].entries {
			if e.handler == "reconcile" && e.str("account") == d.org.Account(name).ID {
				out = append(out, e)
			}
		}
		return out
	}
	generated := 0
	for _, e := range d.steps[0].entries {
		if e.handler == "reconcile" && strings.Contains(e.str("reason"), "(Vision One generated a new template first: none was kept for "+stackRegion+")") {
			generated++
		}
	}
	if generated != 1 {
		t.Errorf("step 1: %d passes say they generated the template, want 1", generated)
	}
	for _, n := range []string{acPayments, acIdentity, acWeb, acSandboxB} {
		es := reasons(0, n)
		if len(es) == 0 || es[len(es)-1].str("action") != "none" || !viewManaged(es[len(es)-1]) {
			t.Errorf("step 1: %s's last pass does not find it in sync and managed in Vision One", n)
		}
	}
	// Step 2: the trail no longer usable (its topic gone): the trail stack provides one.
	for _, e := range reasons(1, acPayments) {
		if e.str("action") == "create" && !strings.Contains(e.str("reason"), "stack "+trailStack+" ") {
			t.Errorf("step 2: payments' create is not the trail stack's: %s", e.str("reason"))
		}
		if e.str("action") == "update" && !strings.Contains(e.str("reason"), "CloudAuditLogMonitoringCloudTrailSNSTopicArn") {
			t.Errorf("step 2: payments' update does not change the topic: %s", e.str("reason"))
		}
	}
	// Steps 3 and 4: made again from the kept template (no generation); the failure reaches a
	// person once, in Vision One's words.
	for _, step := range []int{2, 3} {
		for _, e := range d.steps[step].entries {
			if strings.Contains(e.str("reason"), "generated a new template") {
				t.Errorf("step %d: a template was generated: %s", step+1, e.str("reason"))
			}
		}
	}
	for _, e := range reasons(3, acIdentity) {
		if r := e.str("reason"); e.str("outcome") != "dlq" || !strings.Contains(r, "Vision One reports account "+d.org.Account(acIdentity).ID+" failed") ||
			!strings.Contains(r, missingPerm1) || !strings.Contains(r, missingPerm2) {
			t.Errorf("step 4: identity: outcome %s, reason %q", e.str("outcome"), r)
		}
	}
	// Step 5: the write generated a new template first, and says why; the accounts in sync
	// generated none (the demo's check: two templates in all, no write in them).
	for _, e := range reasons(4, acShop) {
		if e.str("action") == "create" && strings.Contains(e.str("reason"), "stack "+v1Stack+" ") &&
			!strings.Contains(e.str("reason"), "(Vision One generated a new template first: the kept one, generated ") {
			t.Errorf("step 5: shop's Vision One stack was not written from a template generated first: %s", e.str("reason"))
		}
	}
	for _, e := range reasons(4, acIdentity) {
		if e.str("outcome") == "dlq" || !strings.HasPrefix(e.str("reason"), "still needs a person (already reported)") {
			t.Errorf("step 5: identity reported again: %s (%s)", e.str("reason"), e.str("outcome"))
		}
	}
	// Step 6, the replay: every event went through again, marked as replayed, and nothing was
	// changed, nor reported a second time.
	replayed := map[string]bool{}
	for _, e := range d.steps[5].entries {
		if e.str("replay") == "" {
			t.Errorf("step 6: a decision not marked as a replay: %s %s %s", e.handler, e.str("account"), e.str("action")+e.str("decision"))
		}
		if e.handler == "reconcile" {
			replayed[e.str("account")] = true
			if a := e.str("action"); !slices.Contains([]string{"none", "needs-person"}, a) || e.str("outcome") == "dlq" {
				t.Errorf("step 6: the replay of %s: %s (%s), want no change and no second report", e.str("account"), a, e.str("outcome"))
			}
		}
	}
	for _, n := range []string{acPayments, acIdentity, acWeb, acSandboxB, acShop} {
		if !replayed[d.org.Account(n).ID] {
			t.Errorf("step 6: no replayed request reached the worker for %s", n)
		}
	}

	// The web account's trail notifies no topic: never used, and why.
	if !strings.Contains(out, "no suitable trail ("+trailWeb+": notifies no SNS topic") {
		t.Errorf("the web account's trail stack create does not say why its trail was not used:\n%s", out)
	}

	// The status table: the end state, rows in any order (sorted by random account ids).
	from, to := strings.Index(out, "$ onboarder status"), strings.Index(out, "Last reconcile failed (1):")
	if from < 0 || to < from {
		t.Fatalf("no status table with one failure in the demo's output:\n%s", out)
	}
	table := out[from:to]
	const tpl = `visionone:1:us-east-1:cloud-aud… │ `
	const own = `new +│ logging \(cloudone-onboarder-visionone\) +│ managed \(template 1\.0\.0\) +│ yes +│ `
	for _, w := range []string{
		`payments +│ Workloads │ UPDATE_COMPLETE +│ ` + tpl + own + `.* UTC update +│`,
		`identity +│ Workloads │ CREATE_COMPLETE +│ ` + tpl + `existing │ logging \(audit\) +│ failed \(template 1\.0\.0\) +│ yes +│ .* UTC needs-person │`,
		`web +│ Workloads │ CREATE_COMPLETE +│ ` + tpl + own + `.* UTC create +│`,
		`sandbox-b +│ Sandbox +│ CREATE_COMPLETE +│ ` + tpl + own + `.* UTC create +│`,
		`shop +│ Workloads │ CREATE_COMPLETE +│ ` + tpl + own + `.* UTC create +│`,
	} {
		if !regexp.MustCompile(w).MatchString(table) {
			t.Errorf("no row matching %q in the status table:\n%s", w, table)
		}
	}
	if strings.Contains(table, "sandbox-a") {
		t.Errorf("the excluded account is in the status table:\n%s", table)
	}
	rest := out[to:]
	if !regexp.MustCompile(`(?m)^ *\d{12} identity \[needs-person\]: Vision One reports account \d{12} failed: .*`+regexp.QuoteMeta(missingPerm1)).MatchString(rest) ||
		!regexp.MustCompile(`(?s)Vision One reports problems \(1\):\n *\d{12} identity \[failed\]:\n[^\n]*`+regexp.QuoteMeta(missingPerm1)).MatchString(rest) {
		t.Errorf("the status does not report identity's failure in Vision One's words:\n%s", rest)
	}
	if !regexp.MustCompile(`(?m)^demo: all 6 accounts as expected`).MatchString(out) {
		t.Errorf("no verdict line:\n%s", out)
	}
}

// v1Actions is the worker's actions about an account, in order, without the passes that came
// back later without deciding anything: an operation still in progress, a start slot not yet
// due, another worker generating the template the write needs.
func v1Actions(es []entry, account string) []string {
	var out []string
	for _, e := range es {
		if e.handler != "reconcile" || e.str("account") != account {
			continue
		}
		a := e.str("action")
		if a == "wait" || a == "scheduled" || (a == "fail" && e.str("class") == "transient" && strings.Contains(e.str("reason"), "is being generated by another worker")) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// viewManaged reports whether a reconcile line says Vision One reported the account managed.
func viewManaged(e entry) bool {
	v, ok := e.fields["view"].(map[string]any)
	return ok && v["found"] == true && v["state"] == "managed"
}
