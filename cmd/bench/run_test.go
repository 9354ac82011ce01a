//go:build integration

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBenchRuns runs the whole bench with tiny sizes and checks the report's shape, so that CI
// proves make bench works. The figures themselves are not asserted: they belong to the report.
func TestBenchRuns(t *testing.T) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		t.Fatalf("the bench runs against moto and needs moto_server on PATH (pip install 'moto[server]'): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var log bytes.Buffer
	o := defaultOptions()
	o.Out = t.TempDir() + "/PERFORMANCE.md"
	o.Accounts, o.ColdStarts, o.Repeats, o.RepeatsC1 = 3, 2, 1, 1
	o.Latency, o.Concurrency, o.ThrottleConc = 5*time.Millisecond, []int{1, 2}, 2
	o.MemoryShare, o.BenchTime, o.Log = 3, "10x", &log
	o.OnboardAccounts, o.StackTime, o.Repairs = 3, 3*time.Second, 1
	o.WaitingAccounts, o.WaitingConc, o.WaitingBatch = 2, 2, 1 // both at once: each waits out the product's 30 s look delay
	o.OrgAccounts, o.OrgOUs = 60, 2
	o.V1Accounts = 4 // not 3: its wave's row is found by its first cell, and the Cloud One wave's is "| 3 |"
	if err := run(ctx, o); err != nil {
		t.Fatalf("bench: %v\n%s", err, log.String())
	}
	b, err := os.ReadFile(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	rep := string(b)
	for _, want := range []string{
		"# Performance", "**Date:**", "**Machine:**", "go1.", "## Goals",
		"## 1. Cold start", "INIT REPORT", "| floor (empty handler) |",
		"## 2. Memory", "VmHWM", "| reconcile | sweep of 3 accounts", "a look at a create in progress",
		"## 3. Size", "| reconcile |",
		"## 4. AWS calls per decision", "account in sync, warm credentials", "new account", "trail that is not ours",
		"## 5. Sweep at scale", "| 1 |", "| 2 |",
		"## 6. Throttling",
		"## 7. Parse speed", "ns/op",
		"## 8. Onboarding a wave of new accounts", "The waiting design beside it", "| never waits (now) |",
		"## 9. Repair latency during the wave", "| live-0001 |",
		"## 10. Sweep of a large Organization", "Organizations is a stand-in", "| 60 |", "sweep of 60 accounts in 4 OUs",
		"| 1. cold start |", "| 2. memory |", "| 3. size |", "| 5. sweep at scale |", "| 6. throttling |",
		"| 8. onboarding |", "| 9. repair latency |", "| 10. sweep of a large Organization |",
		"### The Vision One target", "the pass that starts the trail stack's create", "Organization's first (Vision One generates the template)",
		"the first look after the Vision One stack completed", "a look at the Vision One stack's create in progress",
		"| 4. calls, Vision One: account in sync through the trail stack's trail",
		"## 11. Onboarding a wave of new accounts, Vision One target", "| 11. onboarding, Vision One |",
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	// The sizes are too small for the goals to mean anything, and their verdicts are the
	// machine's (a latency, a wall time): they are not asserted. Nothing may be lost: the
	// repair was made (its latency is a figure, not an error), and the sweep of the large
	// Organization enqueued each of its 60 accounts once, none outside it.
	if c := row(rep, "| live-0001 |"); len(c) != 4 || !regexp.MustCompile(`^\d+\.\d\d s$`).MatchString(c[2]) {
		t.Errorf("the repair during the wave: %q", c)
	}
	// accounts | wall | invocations | longest | timeout | requests | lost | duplicates | outside | no digest | queue depth | throttles | goal
	if c := row(rep, "| 60 |"); len(c) != 13 || c[6] != "0" || c[7] != "0" || c[8] != "0" || c[9] != "0" || c[10] != "60" {
		t.Errorf("the sweep of the large Organization lost, duplicated or strayed: %q", c)
	}
	// The Vision One wave connected its 4 accounts, each with its two stacks, from one
	// template generation: what its design guarantees, whatever the machine.
	// accounts | wall | ideal | ratio | goal | in sync | failed | DLQ | starts | most in 60 s | first / last | generations | passes | GB-s
	if c := row(rep, "| 4 |"); len(c) != 14 || c[5] != "4" || c[6] != "0" || c[7] != "0" || c[8] != "8 (4 + 4)" || c[11] != "1" {
		t.Errorf("the Vision One wave: %q", c)
	}
	if strings.Contains(rep, "Sections that failed") {
		t.Errorf("a section failed:\n%s", rep)
	}
	// Every table row has as many cells as its header.
	var cols int
	for _, l := range strings.Split(rep, "\n") {
		switch {
		case !strings.HasPrefix(l, "|"):
			cols = 0
		case cols == 0:
			cols = strings.Count(l, "|")
		case strings.Count(l, "|") != cols:
			t.Errorf("table row with %d separators, header has %d: %s", strings.Count(l, "|"), cols, l)
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s\nlog:\n%s", rep, log.String())
	}
}

// row is the cells of the first table row of the report that starts with prefix.
func row(rep, prefix string) []string {
	for _, l := range strings.Split(rep, "\n") {
		if strings.HasPrefix(l, prefix) {
			cells := strings.Split(strings.Trim(l, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			return cells
		}
	}
	return nil
}
