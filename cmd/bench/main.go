// Command bench measures the onboarder's performance budget (issues 7, 12 and 21) on this
// machine and writes docs/PERFORMANCE.md: cold start, memory, size, AWS calls per decision, the
// sweep at scale against its floor, the sweep under throttling, the event parsers' speed, a
// wave of new accounts whose stack creates take minutes (beside the waiting design it
// replaced), the repairs made during it, the sweep of a 10,000-account Organization, and for
// the Vision One target its calls per decision (Vision One's counted apart) and a wave of new
// accounts that each need the trail stack and then the Vision One stack.
//
//	go run ./cmd/bench -out docs/PERFORMANCE.md            # the full run (make bench)
//	go run ./cmd/bench -accounts 20 -cold-starts 3 -onboard-accounts 20 -stack-time 20s \
//	    -waiting-accounts 4 -org-accounts 500 -v1-accounts 20 -out /tmp/p.md   # a quick look
//	go run ./cmd/bench -only visionone -v1-accounts 20 -stack-time 20s -out /tmp/p.md   # Vision One's sections only
//
// It needs moto_server on PATH, like the end-to-end suite. Every figure that has a floor is
// measured beside it in the same run and reported as a ratio; repeated figures are medians.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// options are the sizes of a run; the defaults are the issue's.
type options struct {
	Out          string
	Accounts     int           // accounts in moto for the sweep
	ColdStarts   int           // cold starts per handler
	Repeats      int           // sweep repeats per concurrency (product and floor each)
	RepeatsC1    int           // repeats at concurrency 1, the long one
	ParallelC1   bool          // run the product and the floor at the same time at concurrency 1
	TunedMoto    bool          // run moto through the local world's moto_server.py --tuned (same answers, no per-request key scan)
	Latency      time.Duration // injected on every AWS call of the sweep
	Concurrency  []int         // sweep concurrencies
	ThrottleConc int           // concurrency of the throttled sweep
	ThrottleProb float64       // share of calls throttled
	MemoryShare  int           // reconcile requests of the 1,000-account sweep the reconcile Lambda processes
	BenchTime    string        // -benchtime of the parser benchmarks
	// The onboarding wave (issue 12).
	OnboardAccounts int           // new accounts in the wave
	StackTime       time.Duration // how long each stack create runs (T)
	Repairs         int           // forwarding trails stopped during the wave
	WaitingAccounts int           // accounts onboarded the waiting way beside the wave
	WaitingConc     int           // concurrent invocations of the waiting design
	WaitingBatch    int           // requests per invocation of the waiting design
	// The sweep of a large Organization.
	OrgAccounts int     // member accounts
	OrgOUs      int     // included OUs they are spread over
	OrgThrottle float64 // share of Organizations calls throttled
	// The Vision One target (issue 21): accounts in its wave (each needs two stacks).
	V1Accounts int
	Skip       map[string]bool
	Log        io.Writer
}

func defaultOptions() options {
	return options{
		Out: "docs/PERFORMANCE.md", Accounts: 1000, ColdStarts: 15, Repeats: 2, RepeatsC1: 1, ParallelC1: true, TunedMoto: true,
		Latency: 50 * time.Millisecond, Concurrency: []int{1, 8, 32}, ThrottleConc: 32, ThrottleProb: 0.2,
		MemoryShare: 100, BenchTime: "1s", Skip: map[string]bool{}, Log: os.Stderr,
		OnboardAccounts: 1000, StackTime: 120 * time.Second, Repairs: 3, WaitingAccounts: 25, WaitingConc: 5, WaitingBatch: 5,
		OrgAccounts: 10000, OrgOUs: 10, OrgThrottle: 0.05, V1Accounts: 300,
	}
}

func main() {
	o := defaultOptions()
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.StringVar(&o.Out, "out", o.Out, "the report to (re)write")
	fs.IntVar(&o.Accounts, "accounts", o.Accounts, "accounts in moto for the sweep at scale and the memory of a sweep")
	fs.IntVar(&o.ColdStarts, "cold-starts", o.ColdStarts, "cold starts per handler (median)")
	fs.IntVar(&o.Repeats, "repeats", o.Repeats, "runs of the product and of the floor per sweep concurrency (median), except concurrency 1")
	fs.IntVar(&o.RepeatsC1, "repeats-c1", o.RepeatsC1, "runs of the product and of the floor at concurrency 1 (about 200 s each at 1,000 accounts)")
	fs.BoolVar(&o.ParallelC1, "parallel-c1", o.ParallelC1, "at concurrency 1, run the product and the floor at the same time (moto is nearly idle; halves the longest part of the run)")
	fs.BoolVar(&o.TunedMoto, "tuned-moto", o.TunedMoto, "run moto through integration/localworld/moto_server.py --tuned: the same answers, without moto's scan of every account's access keys on each request (false: moto_server as the tests run it)")
	fs.DurationVar(&o.Latency, "latency", o.Latency, "latency injected on every AWS call of the sweep")
	conc := fs.String("concurrency", "1,8,32", "sweep concurrencies, comma separated")
	fs.IntVar(&o.ThrottleConc, "throttle-concurrency", o.ThrottleConc, "concurrency of the throttled sweep")
	fs.Float64Var(&o.ThrottleProb, "throttle", o.ThrottleProb, "share of calls throttled in the throttled sweep")
	fs.IntVar(&o.MemoryShare, "memory-share", o.MemoryShare, "reconcile requests of the sweep that the reconcile Lambda processes for the memory figure")
	fs.StringVar(&o.BenchTime, "benchtime", o.BenchTime, "-benchtime of the parser benchmarks")
	fs.IntVar(&o.OnboardAccounts, "onboard-accounts", o.OnboardAccounts, "new accounts in the onboarding wave")
	fs.DurationVar(&o.StackTime, "stack-time", o.StackTime, "how long each stack create runs in the onboarding wave (T)")
	fs.IntVar(&o.Repairs, "repairs", o.Repairs, "forwarding trails stopped during the wave (repair latency)")
	fs.IntVar(&o.WaitingAccounts, "waiting-accounts", o.WaitingAccounts, "accounts onboarded the waiting way (the design before issue 12) beside the wave")
	fs.IntVar(&o.WaitingConc, "waiting-concurrency", o.WaitingConc, "concurrent invocations of the waiting design (its MaximumConcurrency)")
	fs.IntVar(&o.WaitingBatch, "waiting-batch", o.WaitingBatch, "requests per invocation of the waiting design (its BatchSize)")
	fs.IntVar(&o.OrgAccounts, "org-accounts", o.OrgAccounts, "member accounts of the large Organization the sweep lists")
	fs.IntVar(&o.OrgOUs, "org-ous", o.OrgOUs, "included OUs the large Organization's accounts are spread over")
	fs.Float64Var(&o.OrgThrottle, "org-throttle", o.OrgThrottle, "share of Organizations calls throttled in the sweep of the large Organization")
	cpuprofile := fs.String("cpuprofile", "", "write this process's CPU profile to the file (the product's and the floor's work in the sweep sections run here)")
	fs.IntVar(&o.V1Accounts, "v1-accounts", o.V1Accounts, "new accounts in the Vision One target's wave (each gets the trail stack, then the Vision One stack)")
	skip := fs.String("skip", "", "sections to leave out, comma separated: "+strings.Join(sections, ","))
	only := fs.String("only", "", "run only these sections, comma separated (visionone: v1calls,v1onboard); the others are skipped")
	_ = fs.Parse(os.Args[1:])
	var err error
	if o.Concurrency, err = parseInts(*conc); err != nil {
		fmt.Fprintf(os.Stderr, "bench: -concurrency: %v\n", err)
		os.Exit(2)
	}
	if o.Skip, err = skipped(*skip, *only); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: -cpuprofile: %v\n", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// sections are the sections of a run, in order; the harness and seed sections follow from them.
var sections = []string{"size", "parse", "coldstart", "calls", "memory", "sweep", "throttle", "onboard", "org", "v1calls", "v1onboard"}

// aliases name groups of sections for -skip and -only.
var aliases = map[string][]string{"visionone": {"v1calls", "v1onboard"}}

// skipped is the set of sections a run leaves out: those -skip names, and with -only every
// section it does not name. A name that is no section is an error.
func skipped(skip, only string) (map[string]bool, error) {
	names := func(flag, list string) (map[string]bool, error) {
		out := map[string]bool{}
		for _, s := range strings.Split(list, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			if group, ok := aliases[s]; ok {
				for _, g := range group {
					out[g] = true
				}
				continue
			}
			if !slices.Contains(sections, s) {
				return nil, fmt.Errorf("-%s: %q is not a section (%s, or visionone)", flag, s, strings.Join(sections, ", "))
			}
			out[s] = true
		}
		return out, nil
	}
	out, err := names("skip", skip)
	if err != nil {
		return nil, err
	}
	keep, err := names("only", only)
	if err != nil {
		return nil, err
	}
	if len(keep) > 0 {
		for _, s := range sections {
			if !keep[s] {
				out[s] = true
			}
		}
	}
	return out, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// run measures every section not skipped and writes the report, even when a section failed
// (the failure is in the report and in the error).
func run(ctx context.Context, o options) error {
	start := time.Now()
	rep := &report{Opts: o, Started: start, Machine: machine()}
	var logMu sync.Mutex // sections log from several goroutines (the wave and the waiting design)
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(o.Log, "bench [%s] %s\n", time.Since(start).Round(time.Second), fmt.Sprintf(format, args...))
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	var errs []string
	section := func(name string, fn func() error) bool {
		if o.Skip[name] {
			logf("%s: skipped", name)
			return false
		}
		t := time.Now()
		logf("%s: start", name)
		if err := fn(); err != nil {
			logf("%s: FAILED: %v", name, err)
			errs = append(errs, name+": "+err.Error())
			rep.Failures = append(rep.Failures, name+": "+err.Error())
			return false
		}
		logf("%s: done in %s", name, time.Since(t).Round(100*time.Millisecond))
		return true
	}
	// needs is a section that cannot run because one it builds on failed: it fails too,
	// saying so, instead of running on a world that is not there.
	needs := func(on string) func() error {
		return func() error { return fmt.Errorf("not run: it needs the %s section, which failed or was skipped", on) }
	}

	section("size", func() (err error) { rep.Size, err = measureSize(ctx, root); return })
	section("parse", func() (err error) { rep.Parse, err = measureParse(ctx, root, o.BenchTime); return })
	section("coldstart", func() (err error) { rep.Cold, err = measureColdStarts(ctx, root, o.ColdStarts, logf); return })

	needWorld := !(o.Skip["calls"] && o.Skip["memory"] && o.Skip["sweep"] && o.Skip["throttle"] && o.Skip["onboard"] && o.Skip["org"] &&
		o.Skip["v1calls"] && o.Skip["v1onboard"])
	if needWorld {
		var w *world
		section("harness", func() (err error) { w, err = startWorld(ctx, o.TunedMoto, logf); return })
		if w != nil {
			defer w.stop()
			section("calls", func() (err error) { rep.Calls, rep.MemNew, err = w.measureCalls(ctx, !o.Skip["memory"]); return })
			scale := !(o.Skip["memory"] && o.Skip["sweep"] && o.Skip["throttle"])
			var accounts []string
			if scale {
				// The memory, sweep and throttle sections run on the scale world the seed makes.
				if section("seed", func() (err error) { rep.Seed, err = w.seedScale(ctx, o.Accounts); return }) {
					section("memory", func() (err error) { rep.MemSweep, accounts, err = w.measureSweepMemory(ctx, o.MemoryShare); return })
					if accounts == nil {
						accounts = w.accounts
					}
					rep.SweepAccounts = len(accounts)
					section("sweep", func() (err error) { rep.Sweep, err = w.measureSweep(ctx, o, accounts, logf); return })
					section("throttle", func() (err error) { rep.Throttle, err = w.measureThrottle(ctx, o, accounts); return })
				} else {
					for _, name := range []string{"memory", "sweep", "throttle"} {
						section(name, needs("seed"))
					}
				}
			}
			section("onboard", func() (err error) { rep.Onboard, err = w.measureOnboarding(ctx, o); return })
			section("org", func() (err error) { rep.Org, err = w.measureOrgSweep(ctx, o); return })
			section("v1calls", func() (err error) { rep.V1Calls, err = w.measureV1Calls(ctx); return })
			section("v1onboard", func() (err error) { rep.V1Onboard, err = w.measureV1Onboarding(ctx, o); return })
		}
	}
	rep.Duration = time.Since(start)
	if err := os.WriteFile(o.Out, []byte(rep.markdown()), 0o644); err != nil {
		return err
	}
	logf("wrote %s", o.Out)
	if len(errs) > 0 {
		return fmt.Errorf("%d sections failed: %s", len(errs), strings.Join(errs, "; "))
	}
	return nil
}
