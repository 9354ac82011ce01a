package main

// The bench's own arithmetic, parsing and report, from given figures: no moto, no build, no
// run. A run of the bench against the local world is behind the integration tag
// (run_test.go).

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseBenchOutput(t *testing.T) {
	out := []byte(`goos: linux
goarch: amd64
pkg: github.com/cloudone-onboarder/cloudone-onboarder/internal/event
BenchmarkParseTrailCall-2   	   14230	     84262 ns/op	    6597 B/op	      76 allocs/op
BenchmarkParseControlTower 	    9000	    120000.5 ns/op
BenchmarkParse-Manual-8     	    1000	      1500 ns/op	     100 B/op	       2 allocs/op
Benchmark
PASS
ok  	github.com/cloudone-onboarder/cloudone-onboarder/internal/event	3.2s
`)
	got := parseBenchOutput(out)
	want := []parseRow{
		{Name: "ParseTrailCall", NsPerOp: 84262, BytesPerOp: 6597, AllocsPerOp: 76},
		{Name: "ParseControlTower", NsPerOp: 120000.5},                         // no -benchmem columns, no -GOMAXPROCS suffix
		{Name: "Parse-Manual", NsPerOp: 1500, BytesPerOp: 100, AllocsPerOp: 2}, // only a numeric suffix is GOMAXPROCS
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if rows := parseBenchOutput([]byte("PASS\nok x 0.1s\n")); len(rows) != 0 {
		t.Errorf("no benchmark lines: got %+v", rows)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{{nil, 0}, {[]time.Duration{5}, 5}, {[]time.Duration{3, 1, 2}, 2}, {[]time.Duration{4, 1, 3, 2}, 2}, {[]time.Duration{10, 20}, 15}} {
		in := append([]time.Duration(nil), c.in...)
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Fatalf("median sorted its argument: %v", c.in)
			}
		}
	}
	runs := []sweepRun{{Wall: 3 * time.Second}, {Wall: time.Second}, {Wall: 2 * time.Second}}
	if got := medianRun(runs); got != 2*time.Second {
		t.Errorf("medianRun = %v, want 2s", got)
	}
}

func TestParseInts(t *testing.T) {
	got, err := parseInts("1, 8,32")
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 8 || got[2] != 32 {
		t.Errorf("parseInts(1, 8,32) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "1,,2", "0", "-3", "a"} {
		if _, err := parseInts(bad); err == nil {
			t.Errorf("parseInts(%q) accepted", bad)
		}
	}
}

func TestInitReport(t *testing.T) {
	out := "START RequestId: x\nINIT REPORT(durationMs: 12.5) Init Duration: 0.1 ms\nEND\n"
	if d, ok := initReport(out); !ok || d != 12500*time.Microsecond {
		t.Errorf("initReport = %v, %v; want 12.5ms", d, ok)
	}
	if _, ok := initReport("REPORT RequestId: x Init Duration: 0.31 ms"); ok {
		t.Error("the emulator's own Init Duration field was read as the init phase")
	}
}

func TestMostWithin(t *testing.T) {
	s := func(secs ...float64) []time.Duration {
		var out []time.Duration
		for _, x := range secs {
			out = append(out, time.Duration(x*float64(time.Second)))
		}
		return out
	}
	for _, c := range []struct {
		times []time.Duration
		want  int
	}{
		{nil, 0},
		{s(0), 1},
		{s(0, 1, 2, 59.9), 4},
		{s(0, 1, 2, 60), 3},           // a window is [start, start+60 s)
		{s(0, 30, 61, 62, 63, 89), 5}, // 30..89
	} {
		if got := mostWithin(c.times, time.Minute); got != c.want {
			t.Errorf("mostWithin(%v) = %d, want %d", c.times, got, c.want)
		}
	}
}

func TestWaveArithmetic(t *testing.T) {
	// 25 accounts, 5 invocations of 5: one round of 5 accounts one after the other.
	wd := &waitingResult{Concurrency: 5, Batch: 5, PerAccount: 2 * time.Minute}
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{1, 10 * time.Minute}, {25, 10 * time.Minute}, {26, 20 * time.Minute}, {1000, 400 * time.Minute}} {
		if got := wd.model(c.n); got != c.want {
			t.Errorf("model(%d) = %v, want %v", c.n, got, c.want)
		}
	}
	o := &onboardResult{Busy: map[string]time.Duration{"reconcile": 96 * time.Second, "accountvending": 32 * time.Second}}
	if got := o.GBs(); got != 16 { // 128 s at 0.125 GB
		t.Errorf("GBs = %v, want 16", got)
	}
	if hours(90*time.Minute) != "90.0 min" || hours(3*time.Hour) != "3.0 h" {
		t.Errorf("hours: %q %q", hours(90*time.Minute), hours(3*time.Hour))
	}
	if ratio(time.Second, 0) != 0 || ratio(3*time.Second, 2*time.Second) != 1.5 {
		t.Error("ratio")
	}
}

// The ideal time of a wave: the larger of its two bounds (waveIdeal's comment).
func TestWaveIdeal(t *testing.T) {
	mins := func(m float64) time.Duration { return time.Duration(m * float64(time.Minute)) }
	for _, c := range []struct {
		stacks, n, rate int
		t, want         time.Duration
	}{
		{1, 1000, 30, 2 * time.Minute, mins(2 + 1000.0/30)}, // Cloud One's: T + n/rate, both bounds alike
		{2, 300, 30, 2 * time.Minute, 22 * time.Minute},     // T + 2n/rate = 22 min > 2T + n/rate = 14 min
		{2, 30, 30, 2 * time.Minute, 5 * time.Minute},       // a small wave: 2T + n/rate = 5 min > T + 2n/rate = 4 min
		{2, 60, 30, 2 * time.Minute, 6 * time.Minute},       // n/rate = T: the bounds meet
		{2, 20, 30, 20 * time.Second, 100 * time.Second},    // the quick look's
		{3, 10, 60, time.Minute, 3*time.Minute + 10*time.Second},
		{1, 10, 0, time.Second, 10*time.Minute + time.Second}, // a rate of 0 is read as 1 a minute, not a division by zero
	} {
		if got := waveIdeal(c.stacks, c.n, c.rate, c.t); got != c.want {
			t.Errorf("waveIdeal(%d stacks, %d accounts, %d a minute, T %s) = %s, want %s", c.stacks, c.n, c.rate, c.t, got, c.want)
		}
	}
	if got := slotOf(30); got != 2*time.Second {
		t.Errorf("slotOf(30) = %s", got)
	}
	o := &onboardResult{Accounts: 300, Rate: 30, StackTime: 2 * time.Minute}
	if got := v1IdealParts(o); got != "T + 2 · accounts / rate = 22m0s, 2T + accounts / rate = 14m0s" {
		t.Errorf("v1IdealParts = %q", got)
	}
}

// The Vision One wave's goal: within 1.3 × the ideal, every account connected, one generation.
func TestV1WaveMet(t *testing.T) {
	ok := onboardResult{Accounts: 300, InSync: 300, Wall: 26 * time.Minute, Ideal: 22 * time.Minute, Generations: 1}
	if !v1WaveMet(&ok) {
		t.Errorf("%+v: not met", ok)
	}
	for name, bad := range map[string]func(o *onboardResult){
		"slow":             func(o *onboardResult) { o.Wall = 29 * time.Minute }, // 1.32 × ideal
		"a failed account": func(o *onboardResult) { o.Failed, o.InSync = 1, 299 },
		"one not in sync":  func(o *onboardResult) { o.InSync = 299 },
		"two generations":  func(o *onboardResult) { o.Generations = 2 },
		"no generation":    func(o *onboardResult) { o.Generations = 0 },
		"nothing measured": func(o *onboardResult) { *o = onboardResult{} },
	} {
		o := ok
		bad(&o)
		if v1WaveMet(&o) {
			t.Errorf("%s: met", name)
		}
	}
}

// A calls row meets "within one call of the minimum" by its member-account calls and, where
// they are counted, its calls to the vendor, each.
func TestCallRowMeets(t *testing.T) {
	for _, c := range []struct {
		row  callRow
		want bool
	}{
		{callRow{Goal: goalNearMinimum, MemberN: 4, Minimum: 3}, true},
		{callRow{Goal: goalNearMinimum, MemberN: 5, Minimum: 3}, false},
		{callRow{Goal: goalNearMinimum, MemberN: 5, Minimum: 3, VendorN: 9}, false}, // vendor not counted: no help either
		{callRow{Goal: goalNearMinimum, MemberN: 3, Minimum: 3, VendorN: 9}, true},  // Cloud One: the stand-in's calls are not counted
		{callRow{Goal: goalNearMinimum, HasVendor: true, MemberN: 3, Minimum: 3, VendorN: 2, VendorMinimum: 1}, true},
		{callRow{Goal: goalNearMinimum, HasVendor: true, MemberN: 3, Minimum: 3, VendorN: 3, VendorMinimum: 1}, false},
		{callRow{Goal: goalNoMember, MemberN: 0, Minimum: 0}, true},
		{callRow{Goal: goalNoMember, MemberN: 1, Minimum: 0}, false},
		{callRow{MemberN: 0}, false}, // no goal: nothing is met
	} {
		if got := c.row.meets(); got != c.want {
			t.Errorf("%+v: meets %v, want %v", c.row, got, c.want)
		}
	}
}

func TestDiffAndJoinOps(t *testing.T) {
	before := map[string]int{"GET features": 2, "GET awsAccounts/{id}": 5}
	after := map[string]int{"GET features": 2, "GET awsAccounts/{id}": 6, "POST generateCfnTemplateLinks": 1}
	d := diffOps(before, after)
	if len(d) != 2 || d["GET awsAccounts/{id}"] != 1 || d["POST generateCfnTemplateLinks"] != 1 {
		t.Errorf("diffOps = %v", d)
	}
	if s, n := joinOps(d); s != "GET awsAccounts/{id} ×1, POST generateCfnTemplateLinks ×1" || n != 2 {
		t.Errorf("joinOps = %q, %d", s, n)
	}
	if s, n := joinOps(map[string]int{"GET features": 0}); s != "none" || n != 0 {
		t.Errorf("joinOps of nothing = %q, %d", s, n)
	}
}

// -skip and -only name sections (or the visionone group); anything else is refused.
func TestSkipped(t *testing.T) {
	keys := func(m map[string]bool) string {
		var out []string
		for _, s := range sections {
			if m[s] {
				out = append(out, s)
			}
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct{ skip, only, want string }{
		{"", "", ""},
		{"size, parse", "", "size,parse"},
		{"", "visionone", "size,parse,coldstart,calls,memory,sweep,throttle,onboard,org"},
		{"", "v1calls", "size,parse,coldstart,calls,memory,sweep,throttle,onboard,org,v1onboard"},
		{"v1onboard", "visionone", "size,parse,coldstart,calls,memory,sweep,throttle,onboard,org,v1onboard"},
		{"visionone", "", "v1calls,v1onboard"},
	} {
		got, err := skipped(c.skip, c.only)
		if err != nil || keys(got) != c.want {
			t.Errorf("skipped(%q, %q) = %q, %v; want %q", c.skip, c.only, keys(got), err, c.want)
		}
	}
	for _, bad := range [][2]string{{"sweeps", ""}, {"", "vision-one"}} {
		if _, err := skipped(bad[0], bad[1]); err == nil || !strings.Contains(err.Error(), "is not a section") {
			t.Errorf("skipped(%q, %q): %v", bad[0], bad[1], err)
		}
	}
}

// figures is a report of every section, with figures chosen so that each goal's verdict is
// known: the cold start, the sizes and the sweep miss their goals, the rest meet them.
func figures() *report {
	o := defaultOptions()
	o.Concurrency = []int{1, 8}
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	sweep := func(wall time.Duration, calls int) sweepRun {
		return sweepRun{Wall: wall, Calls: calls, ByOp: map[string]int{"STS.AssumeRole": 10, "CloudFormation.DescribeStacks": 10}}
	}
	return &report{
		Opts: o, Started: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), Duration: 42 * time.Minute, Machine: "2 × test CPU",
		Size:  []sizeRow{{floorName, 5_000_000, 2_000_000}, {"reconcile", 12_000_000, 4_200_000}, {"sweep", 9_000_000, 3_100_000}},
		Parse: []parseRow{{Name: "ParseTrailCall", NsPerOp: 84262, BytesPerOp: 6597, AllocsPerOp: 76}},
		Cold: []coldRow{
			{Name: floorName, Init: ms(10, 12, 8), FirstCall: ms(20, 20, 20)},
			{Name: "reconcile", Init: ms(40, 36, 44), FirstCall: ms(60, 60, 60)}, // 4 × floor: not met
			{Name: "sweep", Init: ms(20, 20, 20), FirstCall: ms(30, 30, 30)},
		},
		Calls: []callRow{
			{Decision: "account in sync, warm credentials", Outcome: "none", Member: "CloudFormation.DescribeStacks ×1", MemberN: 1, Management: "none", Minimum: 1, Why: "one look", Goal: "≤ minimum", Met: true},
			{Decision: "trail that is not ours", Outcome: "skip", Member: "none", Management: "none", Why: "not ours"},
		},
		MemNew:        []memRow{{Name: "reconcile", Scenario: "new account", Peak: 30 << 20, Processes: 1}},
		MemSweep:      []memRow{{Name: "sweep", Scenario: "sweep of 1000 accounts", Peak: 20 << 20, Processes: 1}},
		Seed:          seedInfo{Accounts: 1000, Seed: time.Minute, Onboard: 2 * time.Minute, Onboard32: 16},
		SweepAccounts: 1000,
		Sweep: []sweepPoint{
			{Concurrency: 1, Product: []sweepRun{sweep(100*time.Second, 5000)}, Floor: []sweepRun{sweep(90*time.Second, 4000)}},
			{Concurrency: 8, Product: []sweepRun{sweep(30*time.Second, 5000), sweep(34*time.Second, 5000)}, Floor: []sweepRun{sweep(20*time.Second, 4000), sweep(20*time.Second, 4000)}}, // 1.6 × floor
		},
		Throttle: &throttleResult{Concurrency: 32, Probability: 0.2, Run: sweepRun{Wall: 40 * time.Second, SDKCalls: 5000, Attempts: 6200, Throttle: 1200}},
		Onboard: &onboardResult{Accounts: 1000, Concurrency: 5, Rate: 30, StackTime: 2 * time.Minute, Latency: 50 * time.Millisecond, Seed: time.Minute,
			Wall: 36 * time.Minute, Ideal: 35*time.Minute + 20*time.Second, InSync: 1000, Starts: 1000, MaxPerMinute: 30,
			FirstStart: time.Second, LastStart: 33 * time.Minute, Invocations: map[string]int{"reconcile": 4000}, Busy: map[string]time.Duration{"reconcile": time.Hour}, Passes: 4000,
			Repairs: []repairRun{{Account: "live-0001", At: 10 * time.Minute, Latency: 12 * time.Second}},
			Waiting: &waitingResult{Accounts: 25, Concurrency: 5, Batch: 5, Wall: 10 * time.Minute, Busy: 50 * time.Minute, PerAccount: 2 * time.Minute}},
		Org: &orgResult{Accounts: 10000, OUs: 10, Outside: 100, Latency: 50 * time.Millisecond, Throttle: 0.05, Seed: time.Minute,
			Wall: 3 * time.Minute, Invocations: 2, Longest: 100 * time.Second, Enqueued: 10000, Requests: 10000, QueueDepth: 10000,
			ByOp: map[string]int{"organizations.ListAccountsForParent": 600}, Throttled: 30, Memory: memRow{Name: "sweep", Scenario: "large Organization", Peak: 25 << 20, Processes: 1}},
		V1Calls: []callRow{
			{Decision: "first Vision One create", Outcome: "create", Member: "cloudformation.CreateStack ×1, cloudformation.DescribeStacks ×2, cloudformation.GetTemplateSummary ×1, cloudtrail.DescribeTrails ×1, cloudtrail.GetTrailStatus ×1, cloudtrail.ListTags ×1", MemberN: 7,
				Management: "dynamodb.GetItem ×3", ManagementN: 3, HasVendor: true, Vendor: "GET features ×1, POST generateCfnTemplateLinks ×1", VendorN: 2, Minimum: 5, VendorMinimum: 2, Why: "five calls", Goal: goalNearMinimum}, // 2 over: not met
			{Decision: "Vision One in sync", Outcome: "none", Member: "cloudformation.DescribeStacks ×2, cloudtrail.DescribeTrails ×1, cloudtrail.GetTrailStatus ×1, cloudtrail.ListTags ×1", MemberN: 5,
				Management: "dynamodb.GetItem ×3", ManagementN: 3, HasVendor: true, Vendor: "GET awsAccounts/{id} ×1", VendorN: 1, Minimum: 4, VendorMinimum: 1, Why: "four calls", Goal: goalNearMinimum, Met: true},
		},
		V1Onboard: &onboardResult{Accounts: 300, Stacks: 2, Concurrency: 5, Rate: 30, StackTime: 2 * time.Minute, Latency: 50 * time.Millisecond, Seed: 10 * time.Second,
			Wall: 23 * time.Minute, Ideal: 22 * time.Minute, InSync: 300, Starts: 600, MaxPerMinute: 31, FirstStart: 2 * time.Second, LastStart: 20 * time.Minute,
			Invocations: map[string]int{"reconcile": 1500, "accountvending": 300}, Busy: map[string]time.Duration{"reconcile": 20 * time.Minute, "accountvending": 30 * time.Second}, Passes: 3300,
			StartsBy: map[string]int{"cloudone-onboarder-trail": 300, "Vision-One-Cloud-Account-Management": 300},
			Vendor:   map[string]int{"GET awsAccounts/{id}": 300, "GET features": 5, "POST generateCfnTemplateLinks": 1}, Generations: 1},
	}
}

// goalRow finds the goals table's row of an item and returns its cells.
func goalRow(t *testing.T, rep, item string) []string {
	t.Helper()
	for _, l := range strings.Split(rep, "\n") {
		if strings.HasPrefix(l, "| "+item+" |") {
			cells := strings.Split(strings.Trim(l, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			return cells
		}
	}
	t.Fatalf("no goal row %q in:\n%s", item, rep)
	return nil
}

func TestReportFromFigures(t *testing.T) {
	rep := figures().markdown()
	// Every section, in order.
	last := -1
	for _, h := range []string{"# Performance", "## Goals", "## 1. Cold start", "## 2. Memory", "## 3. Size", "## 4. AWS calls per decision",
		"### The Vision One target", "## 5. Sweep at scale", "## 6. Throttling", "## 7. Parse speed", "## 8. Onboarding a wave of new accounts",
		"## 9. Repair latency during the wave", "## 10. Sweep of a large Organization", "## 11. Onboarding a wave of new accounts, Vision One target"} {
		i := strings.Index(rep, "\n"+h+"\n")
		if h == "# Performance" {
			i = strings.Index(rep, h+"\n")
		}
		if i < 0 || i < last {
			t.Errorf("section %q missing or out of order", h)
		}
		last = i
	}
	// The goals, worked out from the figures.
	for _, c := range []struct {
		item, figure, verdict string
	}{
		{"1. cold start", "worst reconcile at 4.00 × floor", "**not met**"},
		{"2. memory", "worst 30.0 MiB, reconcile (new account)", "met"},
		{"3. size", "largest reconcile, 4.20 MB", "**not met**"},
		{"4. calls: account in sync, warm credentials", "1 member calls (minimum 1)", "met"},
		{"5. sweep at scale", "worst 1.60 × floor at concurrency 8; 0 failed", "**not met**"},
		{"6. throttling", "0 failed, 40.00 s wall", "met"},
		{"7. parse speed", "1 benchmarks", "—"},
		{"8. onboarding", "1.02 (2160.00 s for 1000 accounts", "met"},
		{"9. repair latency", "worst 12.00 s of 1", "met"},
		{"10. sweep of a large Organization", "10000 enqueued of 10000, 0 lost, 0 duplicates", "met"},
		{"4. calls, Vision One: first Vision One create", "7 member calls (minimum 5); Vision One 2 (minimum 2)", "**not met**"},
		{"4. calls, Vision One: Vision One in sync", "5 member calls (minimum 4); Vision One 1 (minimum 1)", "met"},
		{"11. onboarding, Vision One", "1.05 (1380.00 s for 300 accounts, two stacks each, T = 2m0s, 30 starts a minute); 0 failed; 1 template generation; 0.5125 GB-s per account", "met"},
	} {
		cells := goalRow(t, rep, c.item)
		if len(cells) != 5 || !strings.HasPrefix(cells[2], c.figure) || cells[3] != c.verdict {
			t.Errorf("goal %s: %q, want figure %q… and verdict %q", c.item, cells, c.figure, c.verdict)
		}
	}
	if strings.Count(rep, "\n| 4. calls: ") != 1 {
		t.Error("a calls row without a goal of its own got a goal row")
	}
	// The tables' figures.
	for _, want := range []string{
		"| reconcile | 40.0 ms | 4.00 | 60.0 ms | 3.00 | 3 |", // medians and ratios to the floor
		"| reconcile | 12.00 MB | 4.20 MB | 2.10 | **not met** |",
		"| 8 | 32.00 s | 20.00 s | 1.60 | **not met** | 2 + 2 | 0 | 5.00 / 4.00 |",
		"| 40.00 s | 0.00 s | 5000 | 6200 | 1200 | 1200 | 0 |", // no unthrottled sweep ran at concurrency 32
		"| ParseTrailCall | 84262 | 6597 | 76 |",
		"| never waits (now) |",
		"| live-0001 | +10m0s | 12.00 s | met |",
		"| 10000 | 180.00 s | 2 | 100.00 s | 5m0s |",
		"| 300 | 1380.00 s | 1320.00 s | 1.05 | met | 300 | 0 | 0 | 600 (300 + 300) | 31 | +2s / +20m0s | 1 | 11.0 | 0.5125 |",
		"(T + 2 · accounts / rate = 22m0s, 2T + accounts / rate = 14m0s)",
		"**Calls to Vision One** during the wave: 306 (GET awsAccounts/{id} ×300, GET features ×5, POST generateCfnTemplateLinks ×1), 1.02 per account",
		"| 7: cloudformation.CreateStack ×1, cloudformation.DescribeStacks ×2, cloudformation.GetTemplateSummary ×1, cloudtrail.DescribeTrails ×1, cloudtrail.GetTrailStatus ×1, cloudtrail.ListTags ×1 | 3: dynamodb.GetItem ×3 | 2: GET features ×1, POST generateCfnTemplateLinks ×1 | 5 | 2 | five calls | within one call of the minimum: **not met** |",
		"*first Vision One create*, 2 over the member minimum: cloudtrail.ListTags",
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	checkTables(t, rep)
	if strings.Contains(rep, "Sections that failed") {
		t.Error("a failures block without failures")
	}
}

func TestReportOfAFailedRun(t *testing.T) {
	r := &report{Opts: defaultOptions(), Started: time.Now(), Failures: []string{"seed: moto did not answer", "sweep: not run: it needs the seed section, which failed or was skipped"}}
	rep := r.markdown()
	if !strings.Contains(rep, "> **Sections that failed in this run:**\n> - seed: moto did not answer\n> - sweep: not run") {
		t.Errorf("the failures are not listed:\n%s", rep)
	}
	// Nothing measured: no goal is claimed, and the later sections say so.
	if regexp.MustCompile(`(?m)^\| \d+\. `).MatchString(rep) {
		t.Errorf("goals claimed for a run that measured nothing:\n%s", rep)
	}
	if strings.Count(rep, "Not measured in this run.") != 4 {
		t.Errorf("sections 8, 10, 11 and section 4's Vision One part do not say they were not measured:\n%s", rep)
	}
	checkTables(t, rep)
}

// checkTables checks that every row of every table has as many cells as its header.
func checkTables(t *testing.T, rep string) {
	t.Helper()
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
}

// A section that needs the local environment, run when the section that sets it up failed,
// fails with an error instead of a nil dereference (the bench crashed in measureSweep after
// a failed seed).
func TestNoEnvironmentIsAnError(t *testing.T) {
	w := &world{}
	if _, err := w.productConfig(); !errors.Is(err, errNoEnv) {
		t.Errorf("productConfig without an environment: %v, want errNoEnv", err)
	}
	if _, err := w.reconciler(t.Context(), nil); !errors.Is(err, errNoEnv) {
		t.Errorf("reconciler without an environment: %v, want errNoEnv", err)
	}
}

// A call the row's minimum counts (Needed) is not said to be above it; the others are.
func TestExtraCallsLeaveOutTheNeeded(t *testing.T) {
	row := callRow{Member: "cloudformation.CreateStack ×1, cloudformation.GetTemplateSummary ×1, cloudtrail.ListTags ×1", MemberN: 7, Minimum: 6}
	if got := extraCalls(row); !strings.Contains(got, "1 over the member minimum: cloudtrail.ListTags") || !strings.Contains(got, "GetTemplateSummary") {
		t.Errorf("without Needed: %q", got)
	}
	row.Needed = []string{"cloudformation.GetTemplateSummary"}
	if got := extraCalls(row); !strings.Contains(got, "1 over the member minimum: cloudtrail.ListTags") || strings.Contains(got, "GetTemplateSummary") {
		t.Errorf("with GetTemplateSummary needed: %q", got)
	}
	row.MemberN = 6
	if got := extraCalls(row); got != "" {
		t.Errorf("at the minimum: %q", got)
	}
}

// The bench builds the handlers as make build does: the same flags, so that the sizes and cold
// starts it reports are those of what is deployed.
func TestLambdaFlagsAreMakeBuilds(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	var build string
	for _, l := range strings.Split(string(mk), "\n") {
		if k, v, ok := strings.Cut(l, ":="); ok && !strings.HasPrefix(l, "\t") {
			vars[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		if strings.Contains(l, "go build") && strings.Contains(l, "./handlers/") {
			build = l
		}
	}
	for k, v := range vars {
		build = strings.ReplaceAll(build, "$("+k+")", v)
	}
	build = strings.ReplaceAll(build, "'", "")
	for _, f := range lambdaFlags {
		if !strings.Contains(build, f) {
			t.Errorf("make build's command %q lacks the bench's flag %q", strings.TrimSpace(build), f)
		}
	}
	for _, f := range []string{"-gcflags=", "-ldflags=", "-tags "} {
		if strings.Contains(build, f) && !slices.ContainsFunc(lambdaFlags, func(x string) bool { return strings.HasPrefix(x, strings.TrimSpace(f)) }) {
			t.Errorf("make build sets %s, the bench does not", f)
		}
	}
}
