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
		t.Skip("the demo takes about 40 s: skipped with -short")
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
		`^The local AWS behaves like AWS where it matters: each Lambda runs with its own role`,
		`^1\. Account vending`,
		`accountvending +\d{12} +payments +enqueue +managed-account-ready: CreateManagedAccount SUCCEEDED for payments in OU Workloads$`,
		`accountvending +\d{12} +sandbox-a +skip +excluded-account: account is in ONBOARDER_EXCLUDE_ACCOUNTS$`,
		`reconcile +\d{12} +analytics +leave-alone +stack CloudOne in us-east-1 exists .*not created by the onboarder`,
		`reconcile +\d{12} +payments +create +stack CloudOne in us-east-1 is absent: create it; now CREATE_IN_PROGRESS$`,
		`trail: trail org-audit logs to payments-audit-\d{12}, a bucket of the account$`,
		`reconcile +\d{12} +payments +wait +stack CloudOne in us-east-1 is CREATE_IN_PROGRESS: come back when it settles`,
		`reconcile +\d{12} +payments +none +stack CloudOne in us-east-1 is CREATE_COMPLETE and in sync$`,
		`^2\. A person deletes the trail org-audit in payments`,
		`trailguard +\d{12} +payments +enqueue +forwarding-trail-changed: DeleteTrail on the forwarding trail arn:aws:cloudtrail:`,
		`reconcile +\d{12} +payments +update +stack CloudOne in us-east-1 differs: CreateNewTrail "False" -> "True"`,
		`^3\. A person stops logging on the trail audit in identity`,
		`trailguard +\d{12} +identity +enqueue +forwarding-trail-changed: StopLogging on the forwarding trail`,
		`reconcile +\d{12} +identity +start-logging +trail audit forwards to the stack but was stopped: start logging again$`,
		`^4\. The Cloud One API key is rotated`,
		`reconcile +\d{12} +sandbox-b +needs-person \(dlq, needs-person\) +the onboarder's update of stack CloudOne in us-east-1 failed and rolled back .*WorkloadSecurityConnector \(Custom::WorkloadSecurityConnector\) UPDATE_FAILED: .*--retry-failed$`,
		`^5\. Replay of the archives`,
		`accountvending +\d{12} +payments +enqueue +managed-account-ready: .*\(replayed\)$`,
		`^\$ onboarder status$`,
		`^Last reconcile failed \(1\):$`,
		`^\d{12} sandbox-b \[needs-person\]: .*WorkloadSecurityConnector`,
		`^demo: all 6 accounts as expected`,
	}
	// The web account's trail writes to a bucket in another region: never offered, and why.
	if !regexp.MustCompile(`reconcile +\d{12} +web +create `).MatchString(out) ||
		!strings.Contains(out, "eu-logs: bucket web-logs-") || !strings.Contains(out, "is not in us-east-1 (S3 sends event notifications only to targets in the bucket's own region)") {
		t.Errorf("the web account's create does not say why its trail's bucket was not used:\n%s", out)
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
	table := out[strings.Index(out, "$ onboarder status"):strings.Index(out, "Last reconcile failed")]
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
	// Nothing of the replay may be a change, nor a second report of sandbox-b.
	if regexp.MustCompile(`(?m)^ *reconcile +\d{12} +\S+ +(create|update|delete|start-logging|needs-person \(dlq, needs-person\)) .*\(replayed\)$`).MatchString(out) {
		t.Errorf("the replay changed something:\n%s", out)
	}
}
