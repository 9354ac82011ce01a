package main

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemo runs the whole demo in-process, as `make demo` does, and checks its exit code and
// the key lines of its timeline. It needs moto_server on PATH, like every test against moto:
// without it the test fails and says how to install it.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes about 30 s: skipped with -short")
	}
	if _, err := exec.LookPath("moto_server"); err != nil {
		t.Fatal("moto_server is not on PATH: install it with pip install 'moto[server]'")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, nil, &stdout, &stderr)
	out := stdout.String()
	if code != 0 {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, stderr.String())
	}
	for _, sec := range []string{c1Key.APIKey(), c1Key.Secret, v1Tok} {
		if strings.Contains(out+stderr.String(), sec) {
			t.Fatal("a secret appears in the demo's output")
		}
	}
	if strings.Contains(out, `{"`) {
		t.Error("raw JSON in the demo's output")
	}
	// Key lines: each in order, as regular expressions over one line.
	want := []string{
		`^1\. Account vending`,
		`accountvending +\d{12} +payments +enqueue +managed-account-ready: CreateManagedAccount SUCCEEDED for payments in OU Workloads$`,
		`accountvending +\d{12} +sandbox-a +skip +excluded-account: account is in ONBOARDER_EXCLUDE_ACCOUNTS$`,
		`reconcile +\d{12} +payments +create +stack CloudOne in us-east-1 is absent: create it; now CREATE_COMPLETE$`,
		`trail: trail org-audit logs to payments-audit-\d{12}, a bucket of the account$`,
		`reconcile +\d{12} +analytics +leave-alone +stack CloudOne in us-east-1 exists .*not created by the onboarder`,
		`reconcile +\d{12} +web +create +stack CloudOne in us-east-1 is absent: create it; now CREATE_COMPLETE$`,
		`trail: no suitable trail: the stack makes its own$`,
		`^2\. A person deletes the trail org-audit in payments`,
		`trailguard +\d{12} +payments +enqueue +forwarding-trail-changed: DeleteTrail on the forwarding trail arn:aws:cloudtrail:`,
		`reconcile +\d{12} +payments +update +stack CloudOne in us-east-1 differs: CreateNewTrail "False" -> "True"`,
		`^3\. A person stops logging on the trail audit in identity`,
		`trailguard +\d{12} +identity +enqueue +forwarding-trail-changed: StopLogging on the forwarding trail`,
		`reconcile +\d{12} +identity +start-logging +trail audit forwards to the stack but was stopped: logging started again$`,
		`^4\. Replay of the archives`,
		`accountvending +\d{12} +payments +enqueue +managed-account-ready: .*\(replayed\)$`,
		`reconcile +\d{12} +payments +none +stack CloudOne in us-east-1 is UPDATE_COMPLETE and in sync +\(replayed\)$`,
		`^\$ onboarder status$`,
		`^demo: all 6 accounts as expected`,
	}
	lines := strings.Split(out, "\n")
	i := 0
	for _, w := range want {
		re := regexp.MustCompile(w)
		for i < len(lines) && !re.MatchString(strings.TrimSpace(lines[i])) {
			i++
		}
		if i == len(lines) {
			t.Fatalf("no line matching %q (in order) in the demo's output:\n%s", w, out)
		}
	}
	// The status table is sorted by account id, and the ids are random: its rows are checked
	// in any order, between the command line and the verdict.
	table := out[strings.Index(out, "$ onboarder status"):strings.Index(out, "demo: all 6 accounts")]
	for _, w := range []string{
		// LAST UPDATE is the last change: the replay changed nothing and rewrote nothing.
		`payments +│ Workloads │ UPDATE_COMPLETE │ new .* UTC update +│`,
		`identity +│ Workloads │ CREATE_COMPLETE │ existing │ identity-audit-\d{12} +│ logging \(audit\) .* UTC start-logging +│`,
		`web +│ Workloads │ CREATE_COMPLETE │ new .* UTC create +│`,
		`analytics +│ Workloads │ CREATE_COMPLETE │ .* │ no .* UTC leave-alone +│`,
	} {
		if !regexp.MustCompile(w).MatchString(table) {
			t.Errorf("no row matching %q in the status table:\n%s", w, table)
		}
	}
	// Nothing of the replay may be a change.
	if regexp.MustCompile(`(create|update|start-logging) .*\(replayed\)`).MatchString(out) {
		t.Errorf("the replay changed something:\n%s", out)
	}
}
