package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// The deployment's settings the onboarding runs with (deploy/template.yaml): the reconcile
// event source's MaximumConcurrency default and the functions' memory.
const (
	templateConcurrency = 5
	templateVisibility  = 720 // seconds, the reconcile queue's VisibilityTimeout
	functionMemoryGB    = 128.0 / 1024
)

// onboardResult is a wave of new accounts onboarded through the real pipeline, with the
// repairs made during it and the waiting design measured beside it.
type onboardResult struct {
	Accounts    int
	Stacks      int // stack operations each account needs, one after the other (0: one)
	Concurrency int
	Rate        int // ONBOARDER_MAX_STARTS_PER_MINUTE
	StackTime   time.Duration
	Latency     time.Duration
	Seed        time.Duration

	Wall     time.Duration // first event put .. the queue idle, every account settled
	Ideal    time.Duration // T + accounts / rate
	InSync   int
	Failed   int
	FirstErr string
	DLQ      int

	Starts       int           // CreateStack calls
	FirstStart   time.Duration // after the first event
	LastStart    time.Duration
	MaxPerMinute int // most CreateStack calls in any 60 s

	Invocations map[string]int           // by handler, during the wave
	Busy        map[string]time.Duration // billed duration by handler, during the wave
	Passes      int                      // reconcile requests handed to the reconcile Lambda

	Repairs []repairRun
	Waiting *waitingResult

	// The Vision One wave: the stack starts by stack name, the calls to Vision One by
	// operation, and the templates it generated.
	StartsBy    map[string]int
	Vendor      map[string]int
	Generations int
}

// GBs is the Lambda GB-seconds the wave cost: every handler's billed duration at 128 MB.
func (o *onboardResult) GBs() float64 {
	var d time.Duration
	for _, b := range o.Busy {
		d += b
	}
	return d.Seconds() * functionMemoryGB
}

type repairRun struct {
	Account string
	At      time.Duration // after the wave's first event
	Latency time.Duration // the StopLogging event put .. StartLogging
	Err     string
}

// waitingResult is the design before issue 12, driven with today's Reconciler: C invocations
// at a time, each handling a batch of B requests one after the other and staying in the
// invocation until each account's stack operation has ended (no start-rate limit).
type waitingResult struct {
	Accounts, Concurrency, Batch int
	Wall                         time.Duration
	Busy                         time.Duration // the invocations' durations, summed (what Lambda bills)
	PerAccount                   time.Duration // mean time one account held an invocation
	Failed                       int
	FirstErr                     string
}

// model is the waiting design's wall time for n accounts: rounds of C invocations, each of B
// accounts one after the other.
func (w *waitingResult) model(n int) time.Duration {
	per := w.Concurrency * w.Batch
	rounds := (n + per - 1) / per
	return time.Duration(rounds*w.Batch) * w.PerAccount
}

// measureOnboarding onboards o.OnboardAccounts new accounts announced by Control Tower at
// once, through the Lambdas and the queue, with stack creates that take o.StackTime and the
// deployment's default settings; during the wave it stops the forwarding trail of already
// onboarded accounts and times the repairs; beside the wave it drives the waiting design.
func (w *world) measureOnboarding(ctx context.Context, o options) (*onboardResult, error) {
	res := &onboardResult{Accounts: o.OnboardAccounts, Concurrency: templateConcurrency, Rate: config.DefaultMaxStartsPerMinute,
		StackTime: o.StackTime, Latency: o.Latency}
	res.Ideal = waveIdeal(1, o.OnboardAccounts, res.Rate, o.StackTime)
	if err := w.reset(ctx); err != nil {
		return res, err
	}
	t := time.Now()
	names := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s-%04d", prefix, i+1)
		}
		return out
	}
	org, err := w.h.Moto.SeedOrganization(ctx, homeRegion, localworld.OU{Name: "Wave", Accounts: names("wave", o.OnboardAccounts)},
		localworld.OU{Name: "Live", Accounts: names("live", o.Repairs)}, localworld.OU{Name: "Waiting", Accounts: names("wait", o.WaitingAccounts)})
	if err != nil {
		return res, err
	}
	w.org = org
	var wave, live, waiting []localworld.Account
	for _, a := range org.Accounts {
		switch a.OUName {
		case "Wave":
			wave = append(wave, a)
		case "Live":
			live = append(live, a)
		default:
			waiting = append(waiting, a)
		}
	}
	trails := map[string]string{}
	for _, a := range live {
		arn, err := w.h.Moto.SeedTrail(ctx, localworld.Trail{Account: a.ID, Name: "audit", Bucket: "audit-logs-" + a.ID, HomeRegion: stackRegion, Logging: true})
		if err != nil {
			return res, err
		}
		trails[a.ID] = arn
	}
	err = w.setup(ctx, templateConcurrency, templateVisibility, productDefaults)
	if err != nil {
		return res, err
	}
	// The live accounts are onboarded before the wave, as set-up: at once, unpaced.
	w.h.Faults.EnableStacks(proxy.StackTiming{})
	setupR, err := w.reconciler(ctx, nil, quick)
	if err != nil {
		return res, err
	}
	if bad := settleAll(ctx, setupR, accountIDs(live), 4); len(bad) > 0 {
		return res, fmt.Errorf("onboard the live accounts: %s %s %s", bad[0].Account, bad[0].Action, bad[0].Error)
	}
	res.Seed = time.Since(t)
	w.logf("onboard: %d + %d + %d accounts seeded in %s", len(wave), len(live), len(waiting), res.Seed.Round(time.Second))

	w.h.Faults.EnableStacks(proxy.Uniform(o.StackTime))
	w.h.Faults.Clear()
	w.h.Faults.Add(proxy.Rule{Fault: proxy.Latency{Fixed: o.Latency}})
	defer w.h.Faults.Clear()
	usage0 := w.usage()
	mark := w.h.Recorder.Mark()
	var events []localworld.Entry
	for _, a := range wave {
		events = append(events, localworld.ControlTowerAccount("CreateManagedAccount", a, "SUCCEEDED", homeRegion))
	}
	t0 := time.Now()
	if _, err := w.env.Put(ctx, events...); err != nil {
		return res, err
	}
	w.logf("onboard: %d Control Tower events put; ideal %s", len(events), res.Ideal.Round(time.Second))

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); res.Repairs = w.repairs(ctx, live, trails, t0, res.Ideal, mark) }()
	go func() { defer wg.Done(); res.Waiting = w.waitingDesign(ctx, o, accountIDs(waiting)) }()
	dctx, cancel := context.WithTimeout(ctx, 3*res.Ideal+10*time.Minute)
	st, derr := w.env.Drain(dctx)
	cancel()
	res.Wall = time.Since(t0)
	w.logf("onboard: the queue is idle after %s (%.2f × ideal)", res.Wall.Round(time.Second), ratio(res.Wall, res.Ideal))
	wg.Wait()

	w.waveFigures(ctx, res, st, usage0, mark, t0)
	for _, a := range wave {
		v, ok := w.h.Faults.Stack(a.ID, stackRegion, stackName)
		if ok && v.Status == "CREATE_COMPLETE" {
			res.InSync++
			continue
		}
		res.Failed++
		if res.FirstErr == "" {
			res.FirstErr = fmt.Sprintf("%s: stack %q (%v)", a.Name, v.Status, ok)
		}
	}
	var errs []error
	if derr != nil {
		errs = append(errs, derr)
	}
	if len(st.FunctionErrors) > 0 {
		errs = append(errs, fmt.Errorf("%d function errors, first: %v", len(st.FunctionErrors), st.FunctionErrors[0]))
	}
	for _, r := range res.Repairs {
		if r.Err != "" {
			errs = append(errs, fmt.Errorf("repair of %s: %s", r.Account, r.Err))
		}
	}
	return res, errors.Join(errs...)
}

// waveFigures fills in what every wave reports once the queue is idle: the Lambdas'
// invocations and billed time since usage0, the reconcile passes, the stack starts the Lambdas
// made since the recorder's mark (their times after t0), and the dead-letter queue's depth. It
// returns the starts' times by stack name.
func (w *world) waveFigures(ctx context.Context, res *onboardResult, st localworld.Stats, usage0 map[string]usage, mark int, t0 time.Time) map[string][]time.Duration {
	usage1 := w.usage()
	res.Invocations, res.Busy = map[string]int{}, map[string]time.Duration{}
	for h, u := range usage1 {
		res.Invocations[h] = u.n - usage0[h].n
		res.Busy[h] = u.busy - usage0[h].busy
	}
	res.Passes = st.Delivered["reconcile"]
	var creates []time.Duration
	byStack := map[string][]time.Duration{}
	for _, c := range w.h.Recorder.Since(mark, localworld.WithAction("CreateStack")) {
		at := c.Time.Sub(t0)
		creates = append(creates, at)
		form, _ := url.ParseQuery(string(c.Body))
		byStack[form.Get("StackName")] = append(byStack[form.Get("StackName")], at)
	}
	sort.Slice(creates, func(i, j int) bool { return creates[i] < creates[j] })
	res.Starts = len(creates)
	if len(creates) > 0 {
		res.FirstStart, res.LastStart = creates[0], creates[len(creates)-1]
	}
	res.MaxPerMinute = mostWithin(creates, time.Minute)
	attrs, err := w.env.Pump.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(w.env.DLQURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err == nil {
		res.DLQ, _ = strconv.Atoi(attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	}
	return byStack
}

// waveIdeal is the shortest time a wave of n new accounts can take when each needs stacks
// stack operations one after the other, each running t, and stack starts are paced at rate a
// minute across the Organization (the start slots of ONBOARDER_MAX_STARTS_PER_MINUTE). Two
// bounds hold, and the larger is the ideal:
//   - every one of the n·stacks starts holds a slot of its own, so the last one starts
//     (n·stacks − 1)/rate after the first and its operation runs t more: t + n·stacks/rate;
//   - an account's stacks run one after the other, and the last account to get its first
//     slot gets it (n − 1)/rate after the first: stacks·t + n/rate.
//
// Both count one slot more than the strict bound, as Cloud One's T + n/rate always did.
//
// With one stack per account both are t + n/rate (Cloud One). With two (Vision One: the trail
// stack, then the Vision One stack) the first is the larger once n/rate ≥ t: the first
// stacks' slots run out after n/rate, by when the first trail stacks have long completed, and
// the second stacks take the slots that follow, without a gap.
func waveIdeal(stacks, n, rate int, t time.Duration) time.Duration {
	slot := slotOf(rate)
	return max(t+time.Duration(n*stacks)*slot, time.Duration(stacks)*t+time.Duration(n)*slot)
}

// slotOf is the time between two start slots at rate starts a minute.
func slotOf(rate int) time.Duration { return time.Minute / time.Duration(max(rate, 1)) }

// mostWithin is the largest number of the sorted times that fall in any window of that
// length (a window holds t when start <= t < start+window).
func mostWithin(sorted []time.Duration, window time.Duration) int {
	most := 0
	for i, j := 0, 0; i < len(sorted); i++ {
		for sorted[i]-sorted[j] >= window {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

type usage struct {
	n    int
	busy time.Duration
}

func (w *world) usage() map[string]usage {
	out := map[string]usage{}
	for h, p := range w.env.Lambdas {
		n, b, _ := p.Usage()
		out[h] = usage{n, b}
	}
	return out
}

func accountIDs(as []localworld.Account) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

// repairs stops each live account's forwarding trail at an even share of the ideal wave
// time, as a person would, puts the CloudTrail event, and times the onboarder's StartLogging.
func (w *world) repairs(ctx context.Context, live []localworld.Account, trails map[string]string, t0 time.Time, ideal time.Duration, mark int) []repairRun {
	var out []repairRun
	for i, a := range live {
		at := ideal * time.Duration(i+1) / time.Duration(len(live)+1)
		select {
		case <-ctx.Done():
			return out
		case <-time.After(time.Until(t0.Add(at))):
		}
		r := repairRun{Account: a.Name, At: time.Since(t0)}
		cfg, err := w.h.Moto.AccountConfig(ctx, a.ID, stackRegion, localworld.ExecutionRole)
		if err == nil {
			_, err = cloudtrail.NewFromConfig(cfg).StopLogging(ctx, &cloudtrail.StopLoggingInput{Name: aws.String("audit")})
		}
		if err == nil {
			_, err = w.env.Put(ctx, localworld.TrailCall(a.ID, stackRegion, "StopLogging", trails[a.ID]))
		}
		if err != nil {
			r.Err = err.Error()
			out = append(out, r)
			continue
		}
		put := time.Now()
		for deadline := put.Add(5 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			var done *time.Time
			for _, c := range w.h.Recorder.Since(mark, localworld.InAccount(a.ID), localworld.WithAction("StartLogging")) {
				if c.Time.After(put) {
					done = &c.Time
					break
				}
			}
			if done != nil {
				r.Latency = done.Sub(put)
				break
			}
			if time.Now().After(deadline) {
				r.Err = "no StartLogging within 5 minutes"
				break
			}
		}
		w.logf("onboard: repair of %s at +%s took %s %s", a.Name, r.At.Round(time.Second), r.Latency.Round(time.Millisecond), r.Err)
		out = append(out, r)
	}
	return out
}

// waitingDesign drives today's Reconciler the way the reconcile Lambda worked before issue
// 12: Concurrency invocations at a time, each given a batch and reconciling its requests one
// after the other, each until its stack operation ended (waiting inside the invocation, as
// the SDK's waiter did; here the waits are the Reconciler's own check delays), without a
// start-rate limit.
func (w *world) waitingDesign(ctx context.Context, o options, accounts []string) *waitingResult {
	res := &waitingResult{Accounts: len(accounts), Concurrency: o.WaitingConc, Batch: o.WaitingBatch}
	if len(accounts) == 0 {
		return nil
	}
	r, err := w.reconciler(ctx, nil, unpaced)
	if err != nil {
		res.Failed, res.FirstErr = len(accounts), err.Error()
		return res
	}
	var batches [][]string
	for i := 0; i < len(accounts); i += res.Batch {
		batches = append(batches, accounts[i:min(i+res.Batch, len(accounts))])
	}
	var mu sync.Mutex
	t := time.Now()
	forEach(len(batches), res.Concurrency, func(i int) {
		start := time.Now()
		for _, a := range batches[i] {
			last, _, err := settle(ctx, r, queue.Request{Version: queue.Version, Account: a, Trigger: "account-vending", EventID: "bench-wait-" + a, Reason: "bench"}, 0)
			if err == nil && last.Class != fault.None {
				err = errors.New(last.Error)
			}
			if err != nil {
				mu.Lock()
				res.Failed++
				if res.FirstErr == "" {
					res.FirstErr = err.Error()
				}
				mu.Unlock()
			}
		}
		mu.Lock()
		res.Busy += time.Since(start)
		mu.Unlock()
	})
	res.Wall = time.Since(t)
	res.PerAccount = res.Busy / time.Duration(len(accounts))
	w.logf("onboard: the waiting design onboarded %d accounts in %s (%d failed)", len(accounts), res.Wall.Round(time.Second), res.Failed)
	return res
}

// productDefaults sets the pacing the product ships with (deploy/template.yaml's defaults), not
// the end-to-end suite's quick one: the waves measure what a user would see.
func productDefaults(opts *localworld.Options) {
	opts.Env = map[string]string{
		"ONBOARDER_CHECK_MIN_DELAY":       config.DefaultCheckMinDelay.String(),
		"ONBOARDER_CHECK_MAX_DELAY":       config.DefaultCheckMaxDelay.String(),
		"ONBOARDER_MAX_STARTS_PER_MINUTE": strconv.Itoa(config.DefaultMaxStartsPerMinute),
	}
}
