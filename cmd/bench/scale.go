package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// seedInfo says how the scale world was made.
type seedInfo struct {
	Accounts  int
	Seed      time.Duration // Organization, accounts, execution roles, trails
	Onboard   time.Duration // the first reconcile of every account, no latency
	Onboard32 int           // concurrency of that first pass
}

// seedScale makes n member accounts (Organizations CreateAccount: moto makes the ids), each
// with a logging trail homed in the stack region, then onboards them all once without
// latency, with the Reconciler at high concurrency, so that every account is in sync.
func (w *world) seedScale(ctx context.Context, n int) (seedInfo, error) {
	info := seedInfo{Accounts: n, Onboard32: 16}
	if err := w.reset(ctx); err != nil {
		return info, err
	}
	t := time.Now()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("acct-%04d", i+1)
	}
	org, err := w.h.Moto.SeedOrganization(ctx, homeRegion, localworld.OU{Name: "Scale", Accounts: names})
	if err != nil {
		return info, err
	}
	w.org = org
	w.accounts = org.IDs()
	var mu sync.Mutex
	var errs []error
	forEach(len(w.accounts), 8, func(i int) {
		id := w.accounts[i]
		if _, err := w.h.Moto.SeedTrail(ctx, localworld.Trail{Account: id, Name: "audit", Bucket: "audit-logs-" + id, HomeRegion: stackRegion, Logging: true}); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	if err := errors.Join(errs...); err != nil {
		return info, err
	}
	if err := w.setup(ctx, 2, 900); err != nil {
		return info, err
	}
	info.Seed = time.Since(t)
	w.logf("seed: %d accounts with trails in %s", n, info.Seed.Round(time.Second))
	t = time.Now()
	// The scale world is set up, not measured: its stack operations settle at the next look
	// and its starts are not paced.
	w.h.Faults.EnableStacks(proxy.StackTiming{})
	r, err := w.reconciler(ctx, nil, quick)
	if err != nil {
		return info, err
	}
	if bad := settleAll(ctx, r, w.accounts, info.Onboard32); len(bad) > 0 {
		return info, fmt.Errorf("onboarding: %d accounts not in sync, first: %s %s %s", len(bad), bad[0].Account, bad[0].Action, bad[0].Error)
	}
	// No second pass to check: every sweep run below counts the accounts it changed, and
	// the report shows that count (0 when all were in sync).
	info.Onboard = time.Since(t)
	w.logf("seed: onboarded in %s", info.Onboard.Round(time.Second))
	return info, nil
}

// measureSweepMemory invokes the sweep Lambda on the scale Organization (it lists every
// account and enqueues one request each), checks that the queue holds one request per
// account, hands the first share of them to the reconcile Lambdas in SQS batches of 10, and
// reads both handlers' peak memory. It returns the accounts the sweep runs below are fed
// from: the Organization's, sorted.
func (w *world) measureSweepMemory(ctx context.Context, share int) ([]memRow, []string, error) {
	if w.env == nil || len(w.env.Lambdas) == 0 {
		return nil, nil, errors.New("no scale environment")
	}
	defer func() { w.env.Close() }() // the Lambdas are not needed after this: free the CPU
	t := time.Now()
	if _, ferr, err := w.env.Lambdas["sweep"].Invoke(ctx, localworld.ScheduledEvent(homeRegion)); err != nil || ferr != nil {
		return nil, nil, fmt.Errorf("sweep: %v %v", err, ferr)
	}
	w.logf("memory: the sweep Lambda enqueued in %s", time.Since(t).Round(time.Millisecond))
	q := w.env.Pump.SQS
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(w.env.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return nil, nil, err
	}
	if got := attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)]; got != fmt.Sprint(len(w.accounts)) {
		return nil, nil, fmt.Errorf("the sweep enqueued %s requests, want %d", got, len(w.accounts))
	}
	// Only the share the reconcile Lambdas take is received: draining 1,000 FIFO messages
	// from moto takes minutes and measures moto, not the product.
	t = time.Now()
	inScope := map[string]bool{}
	for _, a := range w.accounts {
		inScope[a] = true
	}
	seen := map[string]bool{}
	var msgs []sqstypes.Message
	for empty := 0; empty < 3 && len(msgs) < share; {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.env.QueueURL), MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			return nil, nil, err
		}
		if len(out.Messages) == 0 {
			empty++
			continue
		}
		for _, m := range out.Messages {
			var r queue.Request
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &r); err != nil {
				return nil, nil, fmt.Errorf("a reconcile request that is not JSON: %w", err)
			}
			if !inScope[r.Account] || seen[r.Account] {
				return nil, nil, fmt.Errorf("the sweep enqueued account %s twice or out of the Organization", r.Account)
			}
			seen[r.Account] = true
			msgs = append(msgs, m)
		}
	}
	w.logf("memory: %d requests received in %s", len(msgs), time.Since(t).Round(time.Millisecond))
	accounts := slices.Sorted(maps.Keys(inScope))
	var batches [][]sqstypes.Message
	for i := 0; i < min(share, len(msgs)); i += 10 {
		batches = append(batches, msgs[i:min(i+10, share, len(msgs))])
	}
	rec := w.env.Lambdas["reconcile"]
	var mu sync.Mutex
	var errs []error
	forEach(len(batches), rec.Size(), func(i int) {
		payload, _ := json.Marshal(w.env.Pump.SQSEvent(batches[i]))
		resp, ferr, err := rec.Invoke(ctx, payload)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil || ferr != nil:
			errs = append(errs, fmt.Errorf("reconcile: %v %v", err, ferr))
		case len(resp) > 0 && string(resp) != "null" && string(resp) != `{"batchItemFailures":[]}` && string(resp) != `{"batchItemFailures":null}`:
			errs = append(errs, fmt.Errorf("reconcile reported failures: %s", resp))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	w.logf("memory: %d requests reconciled", min(share, len(msgs)))
	_, _ = q.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(w.env.QueueURL)})
	scen := fmt.Sprintf("sweep of %d accounts", len(accounts))
	mem := []memRow{
		w.memRow("sweep", scen+": list them all, enqueue one request each"),
		w.memRow("reconcile", fmt.Sprintf("%s: %d of the requests, in batches of 10, over %d instances", scen, min(share, len(msgs)), rec.Size())),
	}
	return mem, accounts, nil
}

// sweepRun is one timed sweep.
type sweepRun struct {
	Wall     time.Duration
	Failed   int
	Changed  int
	Calls    int            // requests the proxy saw
	Throttle int            // throttling errors the proxy injected
	ByOp     map[string]int // requests by Service.Action
	Attempts int            // SDK attempts (metrics.CountCalls), product only
	SDKCalls int            // SDK operations invoked (metrics.CountCalls), product only
	FirstErr string
}

// sweepPoint is one concurrency: the product's and the floor's runs.
type sweepPoint struct {
	Concurrency    int
	Product, Floor []sweepRun
}

func (w *world) runProduct(ctx context.Context, accounts []string, n int) (sweepRun, error) {
	c := &metrics.Counter{}
	r, err := w.reconciler(ctx, c)
	if err != nil {
		return sweepRun{}, err
	}
	w.h.Faults.ResetStats()
	t := time.Now()
	failed, changed := reconcileAll(ctx, r, accounts, n)
	run := sweepRun{Wall: time.Since(t), Failed: len(failed), Changed: len(changed)}
	if len(failed) > 0 {
		run.FirstErr = failed[0].Error
	}
	w.fillStats(&run)
	fillCounts(&run, c)
	return run, nil
}

// fillCounts takes the calls from the SDK middleware (metrics.CountCalls): they are the
// run's own even when another run shares the proxy.
func fillCounts(run *sweepRun, c *metrics.Counter) {
	run.ByOp = map[string]int{}
	run.Calls, run.SDKCalls, run.Attempts = 0, 0, 0
	for _, call := range c.Snapshot() {
		run.SDKCalls += call.Calls
		run.Attempts += call.Attempts
		run.ByOp[call.Service+"."+call.Operation] += call.Calls
	}
	run.Calls = run.SDKCalls
}

// runFloor is the bare client: per account only the calls the in-sync decision needs, with
// cold credentials like the product's first pass: AssumeRole, DescribeStacks,
// DescribeTrails, GetTrailStatus; new clients per account, as the product makes them.
func (w *world) runFloor(ctx context.Context, accounts []string, n int) (sweepRun, error) {
	base, err := awsconfig.LoadDefaultConfig(ctx, w.loadOptions()...)
	if err != nil {
		return sweepRun{}, err
	}
	base.Region = stackRegion
	c := &metrics.Counter{}
	metrics.CountCalls(&base, c)
	stsc := sts.NewFromConfig(base)
	w.h.Faults.ResetStats()
	var mu sync.Mutex
	run := sweepRun{}
	t := time.Now()
	forEach(len(accounts), n, func(i int) {
		err := floorAccount(ctx, base, stsc, accounts[i])
		if err != nil {
			mu.Lock()
			run.Failed++
			if run.FirstErr == "" {
				run.FirstErr = err.Error()
			}
			mu.Unlock()
		}
	})
	run.Wall = time.Since(t)
	w.fillStats(&run)
	fillCounts(&run, c)
	return run, nil
}

func floorAccount(ctx context.Context, base aws.Config, stsc *sts.Client, account string) error {
	out, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + account + ":role/" + localworld.ExecutionRole), RoleSessionName: aws.String("bench-floor")})
	if err != nil {
		return err
	}
	cfg := base.Copy()
	c := out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	if _, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stackName)}); err != nil {
		return err
	}
	ct := cloudtrail.NewFromConfig(cfg)
	tr, err := ct.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
	if err != nil {
		return err
	}
	if len(tr.TrailList) == 0 {
		return fmt.Errorf("no trail in %s", account)
	}
	_, err = ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: tr.TrailList[0].TrailARN})
	return err
}

func (w *world) fillStats(run *sweepRun) {
	run.Throttle = w.h.Faults.Stats().Faults["throttle"]
}

// measureSweep times the product's sweep and the floor side by side at each concurrency,
// with the latency on every call, alternating which goes first.
func (w *world) measureSweep(ctx context.Context, o options, accounts []string, logf func(string, ...any)) ([]sweepPoint, error) {
	w.h.Faults.Clear()
	w.h.Faults.Add(proxy.Rule{Fault: proxy.Latency{Fixed: o.Latency}})
	defer w.h.Faults.Clear()
	var points []sweepPoint
	for _, n := range o.Concurrency {
		p := sweepPoint{Concurrency: n}
		reps := o.Repeats
		if n == 1 {
			reps = o.RepeatsC1
		}
		for r := range max(reps, 1) {
			if n == 1 && o.ParallelC1 {
				// At concurrency 1 the time is the latency's: moto is nearly idle, so the
				// product and the floor run at the same time, truly side by side.
				var fr, pr sweepRun
				var ferr, perr error
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); fr, ferr = w.runFloor(ctx, accounts, n) }()
				go func() { defer wg.Done(); pr, perr = w.runProduct(ctx, accounts, n) }()
				wg.Wait()
				if err := errors.Join(ferr, perr); err != nil {
					return points, err
				}
				p.Floor, p.Product = append(p.Floor, fr), append(p.Product, pr)
				logf("sweep c=1 run %d, side by side: floor %s (%d failed), product %s (%d failed, %d changed)", r+1,
					fr.Wall.Round(time.Millisecond), fr.Failed, pr.Wall.Round(time.Millisecond), pr.Failed, pr.Changed)
				continue
			}
			for k := range 2 {
				if (r+k)%2 == 0 {
					run, err := w.runFloor(ctx, accounts, n)
					if err != nil {
						return points, err
					}
					p.Floor = append(p.Floor, run)
					logf("sweep c=%d run %d floor: %s, %d failed", n, r+1, run.Wall.Round(time.Millisecond), run.Failed)
				} else {
					run, err := w.runProduct(ctx, accounts, n)
					if err != nil {
						return points, err
					}
					p.Product = append(p.Product, run)
					logf("sweep c=%d run %d product: %s, %d failed, %d changed", n, r+1, run.Wall.Round(time.Millisecond), run.Failed, run.Changed)
				}
			}
		}
		points = append(points, p)
	}
	return points, nil
}

// throttleResult is the throttled sweep.
type throttleResult struct {
	Concurrency int
	Probability float64
	Run         sweepRun
}

func (w *world) measureThrottle(ctx context.Context, o options, accounts []string) (*throttleResult, error) {
	w.h.Faults.Clear()
	w.h.Faults.Add(proxy.Rule{Fault: proxy.Latency{Fixed: o.Latency}})
	w.h.Faults.Add(proxy.Rule{Fault: proxy.Throttle{}, Probability: o.ThrottleProb})
	defer w.h.Faults.Clear()
	run, err := w.runProduct(ctx, accounts, o.ThrottleConc)
	if err != nil {
		return nil, err
	}
	return &throttleResult{Concurrency: o.ThrottleConc, Probability: o.ThrottleProb, Run: run}, nil
}
