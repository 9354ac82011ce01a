package main

import (
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

// report is everything a run measured.
type report struct {
	Opts          options
	Started       time.Time
	Duration      time.Duration
	Machine       string
	Size          []sizeRow
	Parse         []parseRow
	Cold          []coldRow
	Calls         []callRow
	MemNew        []memRow
	MemSweep      []memRow
	Seed          seedInfo
	SweepAccounts int
	Sweep         []sweepPoint
	Throttle      *throttleResult
	Onboard       *onboardResult
	Org           *orgResult
	V1Calls       []callRow
	V1Onboard     *onboardResult
	Failures      []string
}

// memRows are every memory figure of the run.
func (r *report) memRows() []memRow {
	mem := append(append([]memRow{}, r.MemNew...), r.MemSweep...)
	if r.Org != nil && r.Org.Memory.Name != "" {
		mem = append(mem, r.Org.Memory)
	}
	return mem
}

type goal struct{ Item, Goal, Figure, Verdict, Why string }

func ms(d time.Duration) string  { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
func sec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
func mb(n int64) string          { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }
func mib(n int64) string         { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func medianRun(runs []sweepRun) time.Duration {
	var ds []time.Duration
	for _, r := range runs {
		ds = append(ds, r.Wall)
	}
	return median(ds)
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	o := r.Opts
	p("# Performance\n\n")
	p("Written by `make bench` (`go run ./cmd/bench -out docs/PERFORMANCE.md`); every run rewrites this page.\n\n")
	p("- **Date:** %s (the run took %s)\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Duration.Round(time.Second))
	p("- **Machine:** %s\n", r.Machine)
	p("- **Sizes of this run:** %d accounts, %d cold starts per handler, %d runs per sweep concurrency (%d at concurrency 1), %s latency per AWS call, concurrencies %v, throttling %.0f%% at concurrency %d, memory share %d requests, benchtime %s.\n",
		o.Accounts, o.ColdStarts, o.Repeats, o.RepeatsC1, o.Latency, o.Concurrency, o.ThrottleProb*100, o.ThrottleConc, o.MemoryShare, o.BenchTime)
	p("- **Sizes of the issue-12 sections:** a wave of %d new accounts with stack creates of %s, %d repairs during it, the waiting design on %d accounts (%d invocations × batches of %d); a sweep of %d accounts in %d included OUs with %.0f%% of Organizations calls throttled.\n",
		o.OnboardAccounts, o.StackTime, o.Repairs, o.WaitingAccounts, o.WaitingConc, o.WaitingBatch, o.OrgAccounts, o.OrgOUs, o.OrgThrottle*100)
	moto := "moto in server mode (`moto_server`, as the tests run it)"
	if o.TunedMoto {
		moto = "moto in server mode, started through `integration/localworld/moto_server.py --tuned` (moto's own server; the account of an access key is remembered instead of found by scanning every account's keys on each request, which at 1,000 accounts was most of moto's time per call and so of the floor's; request lines not logged; the same answers)"
	}
	p("- **Method:** AWS is %s behind the project's fault-injecting proxy (`integration/localworld/proxy`); the Lambdas are the real binaries under the Lambda runtime interface emulator (`integration/localworld`). Figures that have a floor are measured beside it in the same run and given as ratios; repeated figures are medians. The machine is shared and noisy: read ratios, not absolute times.\n\n", moto)
	if len(r.Failures) > 0 {
		p("> **Sections that failed in this run:**\n")
		for _, f := range r.Failures {
			p("> - %s\n", strings.ReplaceAll(f, "\n", " "))
		}
		p("\n")
	}
	goals := r.goals()
	p("## Goals\n\n| item | goal | figure | verdict | why |\n|---|---|---|---|---|\n")
	for _, g := range goals {
		p("| %s | %s | %s | %s | %s |\n", g.Item, g.Goal, g.Figure, g.Verdict, g.Why)
	}
	p("\n")

	p("## 1. Cold start\n\n")
	p("What is measured: each target is started %d times, each time as a new emulator and a new process, and invoked once with `{}` (an event every handler answers without an AWS call). **Init** is the emulator's `INIT REPORT(durationMs: …)` line (printed at `--log-level info`): from the start of the init phase to the runtime's first request for an event (`/runtime/invocation/next`), which is what Lambda bills as Init Duration. This emulator's `REPORT … Init Duration` field is its own bookkeeping (under a millisecond whatever the runtime does) and is not used. **First invoke** is the caller's round trip of that first invocation: process start, init and the invocation. All targets are built for the host (linux/%s) with the Lambda flags (`CGO_ENABLED=0 -tags lambda.norpc -trimpath -gcflags=all=-l -ldflags='-s -w'`); the floor is `cmd/bench/floor`, an empty aws-lambda-go handler. The targets are interleaved so that a noisy moment hits all alike.\n\n", o.ColdStarts, goarchHost())
	if len(r.Cold) > 0 {
		fl := r.coldFloor()
		p("| handler | init (median) | × floor | first invoke (median) | × floor | cold starts |\n|---|---|---|---|---|---|\n")
		for _, c := range r.Cold {
			p("| %s | %s | %.2f | %s | %.2f | %d |\n", c.Name, ms(median(c.Init)), ratio(median(c.Init), median(fl.Init)),
				ms(median(c.FirstCall)), ratio(median(c.FirstCall), median(fl.FirstCall)), len(c.Init))
		}
		p("\n")
	}

	p("## 2. Memory\n\n")
	p("Peak resident memory: `VmHWM` from `/proc/<pid>/status` of each bootstrap process (the emulator's child), read after the scenario, before the process ends. The handlers are built as the local environment builds them (`CGO_ENABLED=0 go build`). Goal: at most 40 MiB each, so that the 128 MB function size is safe.\n\n")
	if mem := r.memRows(); len(mem) > 0 {
		p("| handler | scenario | peak (VmHWM) | processes | ≤ 40 MiB |\n|---|---|---|---|---|\n")
		for _, m := range mem {
			p("| %s | %s | %s | %d | %s |\n", m.Name, m.Scenario, mib(m.Peak), m.Processes, verdict(m.Peak > 0 && m.Peak <= memLimit))
		}
		p("\n")
	}

	p("## 3. Size\n\n")
	p("Each bootstrap built for linux/arm64 with `CGO_ENABLED=0 -tags lambda.norpc -trimpath -gcflags=all=-l -ldflags='-s -w'` (as `make build`), zipped alone as `bootstrap` by %s (as `make package`: `zip -q -X -9`). MB = 10⁶ bytes; the goal reads 4 MB as 4,000,000 bytes, the stricter reading.\n\n", zipTool)
	if len(r.Size) > 0 {
		var fl sizeRow
		for _, s := range r.Size {
			if s.Name == floorName {
				fl = s
			}
		}
		p("| target | bootstrap | zip | zip × floor | zip ≤ 4 MB |\n|---|---|---|---|---|\n")
		for _, s := range r.Size {
			p("| %s | %s | %s | %.2f | %s |\n", s.Name, mb(s.Bootstrap), mb(s.Zip), float64(s.Zip)/float64(max(fl.Zip, 1)), verdict(s.Zip <= zipLimit))
		}
		p("\n")
	}

	p("## 4. AWS calls per decision\n\n")
	p("Counted by the fault proxy per account (the proxy learns which account each AssumeRole'd key belongs to; AssumeRole is made with the management account's keys and is counted there). The reconciles run in this process with the product's wiring (`reconcile.New` on an `aws.Config` from `internal/awsconf`, with `metrics.CountCalls`); the irrelevant event goes through the real trail guard Lambda. Calls to the Cloud One stand-in are not AWS calls and are not counted.\n\n")
	if len(r.Calls) > 0 {
		p("| decision | outcome | member-account calls | management-account calls | member minimum | why the minimum | goal |\n|---|---|---|---|---|---|---|\n")
		for _, c := range r.Calls {
			g := "—"
			if c.Goal != "" {
				g = c.Goal + ": " + verdict(c.Met)
			}
			p("| %s | %s | %d: %s | %d: %s | %d | %s | %s |\n", c.Decision, c.Outcome, c.MemberN, c.Member, c.ManagementN, c.Management, c.Minimum, c.Why, g)
		}
		p("\n")
		if notes := callNotes(r.Calls); len(notes) > 0 {
			p("Calls above a minimum: %s.\n\n", strings.Join(notes, "; "))
		}
	}
	r.v1CallsMarkdown(p)

	p("## 5. Sweep at scale\n\n")
	if r.Seed.Accounts > 0 {
		p("%d member accounts made with Organizations CreateAccount (moto makes the ids), each with the execution role and a logging trail homed in us-east-1, seeded in %s; then onboarded (the Reconciler at concurrency %d until every account was in sync, as set-up: no latency, no start-rate limit, stack operations settling at the next look) in %s; each sweep run below counts the accounts it changed. The sweep runs go over the Organization's accounts, for each of which the sweep Lambda enqueued one request (section 2).\n\n",
			r.Seed.Accounts, r.Seed.Seed.Round(time.Second), r.Seed.Onboard32, r.Seed.Onboard.Round(time.Second))
	}
	p("Every AWS call waits a fixed %s in the proxy. **Product:** the reconcile path as `onboarder reconcile --all --concurrency N` runs it: a new `reconcile.Reconciler` (product wiring, `internal/awsconf` retryer) reconciling every account with N workers. **Floor:** a bare SDK client making only what the in-sync decision needs per account, AssumeRole, DescribeStacks, DescribeTrails, GetTrailStatus, through the same proxy at the same concurrency. **Credentials are cold on both sides**: each run is a new process-like start, so the product assumes the role once per account (as a sweep's first pass in a fresh Lambda does; a warm Lambda's later passes skip it), and so does the floor. The product also reads the ledger once per run (a DynamoDB Scan, as the sweep Lambda does) so that it rewrites only the entries that changed (none, in sync), and reads the secret at the start and whenever its cache expires (ONBOARDER_SECRET_CACHE_TTL, a minute by default); these are in its figure and not in the floor's. The first sweep after onboarding writes nothing either: a ledger entry keeps the last change, and an in-sync decision does not rewrite it. At concurrency 1, where the time is the latency's and moto is nearly idle, the two run at the same time (`-parallel-c1`, default on); at higher concurrencies they run one after the other, alternating which goes first. Calls are counted by the SDK middleware (`metrics.CountCalls`) of each side.\n\n", o.Latency)
	if len(r.Sweep) > 0 {
		p("| concurrency | product (median) | floor (median) | product / floor | ≤ 1.3 | runs | failed accounts | calls per account, product / floor |\n|---|---|---|---|---|---|---|---|\n")
		for _, pt := range r.Sweep {
			pm, fm := medianRun(pt.Product), medianRun(pt.Floor)
			failed := 0
			for _, x := range append(append([]sweepRun{}, pt.Product...), pt.Floor...) {
				failed += x.Failed
			}
			n := max(r.SweepAccounts, 1)
			p("| %d | %s | %s | %.2f | %s | %d + %d | %d | %.2f / %.2f |\n", pt.Concurrency, sec(pm), sec(fm), ratio(pm, fm), verdict(ratio(pm, fm) <= 1.3 && failed == 0),
				len(pt.Product), len(pt.Floor), failed, float64(avgCalls(pt.Product))/float64(n), float64(avgCalls(pt.Floor))/float64(n))
		}
		p("\n")
		if len(r.Sweep[0].Product) > 0 {
			p("Calls of one product run by operation (concurrency %d): %s.\n\n", r.Sweep[0].Concurrency, opsText(r.Sweep[0].Product[0].ByOp))
		}
		if len(r.Sweep[0].Floor) > 0 {
			p("Calls of one floor run by operation: %s.\n\n", opsText(r.Sweep[0].Floor[0].ByOp))
		}
	}

	p("## 6. Throttling\n\n")
	if t := r.Throttle; t != nil {
		p("The same product sweep (%d accounts, %s latency) at concurrency %d with the service's throttling error injected on %.0f%% of calls (proxy `Throttle` with probability %.2f, every service). The product retries with `internal/awsconf`'s retryer: the SDK's standard retryer, 10 attempts, backoff capped at 20 s.\n\n",
			r.SweepAccounts, o.Latency, t.Concurrency, t.Probability*100, t.Probability)
		base := time.Duration(0)
		for _, pt := range r.Sweep {
			if pt.Concurrency == t.Concurrency {
				base = medianRun(pt.Product)
			}
		}
		p("| wall time | without throttling (median, section 5) | SDK operations | SDK attempts | throttles injected (proxy) | retries (attempts − operations) | accounts failed |\n|---|---|---|---|---|---|---|\n")
		p("| %s | %s | %d | %d | %d | %d | %d |\n\n", sec(t.Run.Wall), sec(base), t.Run.SDKCalls, t.Run.Attempts, t.Run.Throttle, t.Run.Attempts-t.Run.SDKCalls, t.Run.Failed)
		if t.Run.FirstErr != "" {
			p("First failure: `%s`\n\n", strings.ReplaceAll(t.Run.FirstErr, "`", "'"))
		}
	}

	p("## 7. Parse speed\n\n")
	p("`go test -run '^$' -bench . -benchmem -benchtime %s ./internal/event/`.\n\n", o.BenchTime)
	if len(r.Parse) > 0 {
		p("| benchmark | ns/op | B/op | allocs/op |\n|---|---|---|---|\n")
		for _, x := range r.Parse {
			p("| %s | %.0f | %d | %d |\n", x.Name, x.NsPerOp, x.BytesPerOp, x.AllocsPerOp)
		}
		p("\n")
	}
	r.onboardMarkdown(p)
	r.orgMarkdown(p)
	r.v1OnboardMarkdown(p)
	return b.String()
}

func goarchHost() string { return runtime.GOARCH }

func avgCalls(runs []sweepRun) int {
	if len(runs) == 0 {
		return 0
	}
	n := 0
	for _, r := range runs {
		n += r.Calls
	}
	return n / len(runs)
}

func opsText(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func (r *report) coldFloor() coldRow {
	for _, c := range r.Cold {
		if c.Name == floorName {
			return c
		}
	}
	return coldRow{}
}

// goals says for each goal whether it is met, and why.
func (r *report) goals() []goal {
	var gs []goal
	if len(r.Cold) > 0 {
		fl := median(r.coldFloor().Init)
		worst, name := 0.0, ""
		for _, c := range r.Cold {
			if c.Name != floorName && ratio(median(c.Init), fl) > worst {
				worst, name = ratio(median(c.Init), fl), c.Name
			}
		}
		why := fmt.Sprintf("floor %s; the handlers build their configuration and clients at init without any network call", ms(fl))
		if worst > 3 {
			why = fmt.Sprintf("floor %s; %s does more at init than the floor: move what can wait to the first event", ms(fl), name)
		}
		gs = append(gs, goal{"1. cold start", "init ≤ 3 × floor", fmt.Sprintf("worst %s at %.2f × floor", name, worst), verdict(worst <= 3), why})
	}
	if mem := r.memRows(); len(mem) > 0 {
		var worst memRow
		for _, m := range mem {
			if m.Name != floorName && m.Peak > worst.Peak {
				worst = m
			}
		}
		ok := worst.Peak <= memLimit
		for _, m := range mem {
			if m.Peak == 0 {
				ok = false
			}
		}
		why := "peak of every handler process in every scenario"
		if len(r.MemSweep) == 0 {
			why += "; the sweep of many accounts was not measured in this run"
		}
		gs = append(gs, goal{"2. memory", "peak RSS ≤ 40 MiB", fmt.Sprintf("worst %s, %s (%s)", mib(worst.Peak), worst.Name, worst.Scenario), verdict(ok), why})
	}
	if len(r.Size) > 0 {
		var worst sizeRow
		for _, s := range r.Size {
			if s.Zip > worst.Zip {
				worst = s
			}
		}
		why := "arm64, Lambda flags, deflate"
		if worst.Zip > zipLimit {
			why = "over the goal: see what the handler links with go list -deps ./handlers/" + worst.Name + " (the SDK clients are most of it; the empty handler alone zips to " + mb(floorZip(r.Size)) + ")"
		}
		gs = append(gs, goal{"3. size", "each zip ≤ 4 MB", fmt.Sprintf("largest %s, %s", worst.Name, mb(worst.Zip)), verdict(worst.Zip <= zipLimit), why})
	}
	for _, c := range r.Calls {
		if c.Goal != "" {
			gs = append(gs, goal{"4. calls: " + c.Decision, c.Goal, fmt.Sprintf("%d member calls (minimum %d)", c.MemberN, c.Minimum), verdict(c.Met), c.Why})
		}
	}
	gs = append(gs, r.v1CallGoals()...)
	if len(r.Sweep) > 0 {
		ok, worst, at, failed := true, 0.0, 0, 0
		for _, pt := range r.Sweep {
			q := ratio(medianRun(pt.Product), medianRun(pt.Floor))
			if q > worst {
				worst, at = q, pt.Concurrency
			}
			for _, x := range append(append([]sweepRun{}, pt.Product...), pt.Floor...) {
				failed += x.Failed
			}
		}
		ok = worst <= 1.3 && failed == 0
		why := fmt.Sprintf("%d accounts, cold credentials on both sides; the product's extra calls are the ledger read, once per run, and the secret, once per cache minute (see section 5)", r.SweepAccounts)
		if worst > 1.3 {
			why += "; over the goal: compare the calls per account of the two sides in section 5, and the product's calls by operation"
		}
		gs = append(gs, goal{"5. sweep at scale", "≤ 1.3 × floor at every concurrency, no failures", fmt.Sprintf("worst %.2f × floor at concurrency %d; %d failed", worst, at, failed), verdict(ok), why})
	}
	if t := r.Throttle; t != nil {
		why := fmt.Sprintf("%d throttles injected, all retried", t.Run.Throttle)
		if t.Run.Failed > 0 {
			why = fmt.Sprintf("%d throttles injected; first failure: %s", t.Run.Throttle, strings.ReplaceAll(t.Run.FirstErr, "|", "/"))
		}
		gs = append(gs, goal{"6. throttling", "no account failed", fmt.Sprintf("%d failed, %s wall", t.Run.Failed, sec(t.Run.Wall)), verdict(t.Run.Failed == 0), why})
	}
	if len(r.Parse) > 0 {
		gs = append(gs, goal{"7. parse speed", "reported (no goal)", fmt.Sprintf("%d benchmarks", len(r.Parse)), "—", "see section 7"})
	}
	gs = append(gs, r.onboardGoals()...)
	gs = append(gs, r.orgGoals()...)
	gs = append(gs, r.v1OnboardGoals()...)
	return gs
}

// extraCalls says which of a row's member-account calls the product makes beyond the
// minimum and why: the ones it is known to make (ListTags, GetTemplateSummary), from the
// figures; "" when the row is at its minimum or the extra calls are none of these.
func extraCalls(c callRow) string {
	if c.MemberN <= c.Minimum {
		return ""
	}
	var extra []string
	if strings.Contains(c.Member, "cloudtrail.ListTags") {
		extra = append(extra, "cloudtrail.ListTags (which of the account's trails is the onboarder's own, by its managed tag: made whenever the account has a trail to look at)")
	}
	if strings.Contains(c.Member, "cloudformation.GetTemplateSummary") && !slices.Contains(c.Needed, "cloudformation.GetTemplateSummary") {
		extra = append(extra, "cloudformation.GetTemplateSummary (the template's parameters, checked before the first write from it in a process: once per template URL and 15 minutes)")
	}
	if len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("%d over the member minimum: %s", c.MemberN-c.Minimum, strings.Join(extra, " and "))
}

// callNotes are the rows' calls above their minimum, as extraCalls says them.
func callNotes(rows []callRow) []string {
	var out []string
	for _, c := range rows {
		if e := extraCalls(c); e != "" {
			out = append(out, "*"+c.Decision+"*, "+e)
		}
	}
	return out
}

// floorZip is the zip size of the empty handler among the size rows (0 if absent).
func floorZip(rows []sizeRow) int64 {
	for _, s := range rows {
		if s.Name == floorName {
			return s.Zip
		}
	}
	return 0
}
