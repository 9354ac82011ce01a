package main

// The Vision One target (issue 21): the calls of each decision, and a wave of new accounts,
// each needing the onboarder's trail stack and then the Vision One stack.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// v1Stacks are the stacks a new account without a usable trail gets, in order.
var v1Stacks = []string{localworld.TrailStackName, localworld.VisionOneStackName}

// v1Request is the request the account vending Lambda makes of Control Tower's event: it
// carries the account's name, the Vision One stack's CloudAccountName.
func v1Request(a localworld.Account) queue.Request {
	r := request(a.ID, "account-vending")
	r.AccountName = a.Name
	return r
}

// waitStack waits until the CloudFormation layer shows the stack in that status (its
// operation's end, the stand-in's registration included, runs on the layer's own timer).
func (w *world) waitStack(ctx context.Context, account, name, status string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, ok := w.h.Faults.Stack(account, stackRegion, name)
		if ok && v.Status == status {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stack %s in %s: %q after 30 s, want %s", name, account, v.Status, status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// measureV1Calls measures the calls of each decision of the Vision One target as
// measureCalls does Cloud One's, one pass at a time, the calls to Vision One counted apart by
// its stand-in. One process (a Reconciler with the product's wiring) makes every pass, as a
// warm reconcile Lambda would, from a cold start: its first pass assumes the role and reads
// the secret, and it reads Vision One's feature list and a template's parameters the first
// time it needs them.
func (w *world) measureV1Calls(ctx context.Context) ([]callRow, error) {
	if err := w.reset(ctx); err != nil {
		return nil, err
	}
	org, err := w.h.Moto.SeedOrganization(ctx, homeRegion, localworld.OU{Name: "Workloads",
		Accounts: []string{"v1-new-a", "v1-new-b", "v1-admin-a", "v1-look-a", "v1-look-b"}})
	if err != nil {
		return nil, err
	}
	w.org = org
	if err := w.setup(ctx, 1, 60, w.visionOne); err != nil {
		return nil, err
	}
	// Each row is one pass; the operations end on the layer's timer right after they start,
	// and waitStack waits for that before the next pass (except the looks at a create in
	// progress, below).
	w.h.Faults.EnableStacks(proxy.StackTiming{})
	defer w.h.Faults.EnableStacks(proxy.StackTiming{})
	newA, newB, admin, lookA, lookB := org.Account("v1-new-a"), org.Account("v1-new-b"), org.Account("v1-admin-a"), org.Account("v1-look-a"), org.Account("v1-look-b")
	// v1-admin-a's administrator made a trail Vision One can use: no trail stack.
	if _, err := w.h.Moto.SeedTrail(ctx, localworld.Trail{Account: admin.ID, Name: "audit", Bucket: "audit-logs-" + admin.ID,
		HomeRegion: stackRegion, Logging: true, LogFileValidation: true, Topic: "audit-deliveries"}); err != nil {
		return nil, err
	}
	r, err := w.reconciler(ctx, &metrics.Counter{})
	if err != nil {
		return nil, err
	}
	pass := func(a localworld.Account) (string, error) {
		res := r.Reconcile(ctx, v1Request(a))
		if res.Err != nil {
			return "", res.Err
		}
		return string(res.Action), nil
	}
	var rows []callRow
	measure := func(row callRow, a localworld.Account) error {
		row.HasVendor, row.Goal = true, goalNearMinimum
		row, err := w.measured(row, func() (string, error) { return pass(a) })
		if err == nil {
			rows = append(rows, row)
		}
		return err
	}
	steps := []func() error{
		func() error {
			return measure(callRow{Decision: "new account without a usable trail, cold credentials: the pass that starts the trail stack's create",
				Minimum: 4, VendorMinimum: 0,
				Why: "DescribeStacks of the Vision One stack (absent) + DescribeTrails (no usable trail) + DescribeStacks of the trail stack (absent) + CreateStack of the trail stack; nothing of Vision One, whose stack needs the trail first. In the management account: AssumeRole, the secret, the ledger and the start slot"}, newA)
		},
		func() error { return w.waitStack(ctx, newA.ID, localworld.TrailStackName, "CREATE_COMPLETE") },
		func() error {
			return measure(callRow{Decision: "the same account once its trail stack completed: the pass that starts the Vision One stack's create, the Organization's first (Vision One generates the template)",
				Minimum: 6, VendorMinimum: 2, Needed: []string{"cloudformation.GetTemplateSummary"},
				Why: "DescribeStacks of the Vision One stack (absent) + DescribeTrails (the trail stack's trail, its topic) + GetTrailStatus (it logs; a stopped one is started with the write) + DescribeStacks of the trail stack (complete, as desired: its outputs are the parameters) + GetTemplateSummary (the template was generated in this pass: no process has read its parameters, and they are checked before its first write, as every template's are) + CreateStack. Vision One: its feature list (the CloudTrail feature's id is not documented; read once per process unless ONBOARDER_VISIONONE_FEATURES names it) + the generation (one for every account: kept in the ledger)"}, newA)
		},
		func() error { return w.waitStack(ctx, newA.ID, localworld.VisionOneStackName, "CREATE_COMPLETE") },
		func() error {
			return measure(callRow{Decision: "the first look after the Vision One stack completed (it reads Vision One's view)",
				Minimum: 4, VendorMinimum: 1,
				Why: "DescribeStacks of both stacks (status, parameters, fingerprint tag) + DescribeTrails (the trail the stack names still exists, with its topic) + GetTrailStatus (it still logs); Vision One: the account (GET awsAccounts/{id}: state, missing permissions, template version)"}, newA)
		},
		func() error {
			return measure(callRow{Decision: "account in sync through the trail stack's trail (both stacks complete, Vision One says managed), warm credentials",
				Minimum: 4, VendorMinimum: 1,
				Why: "as the first look: DescribeStacks ×2 + DescribeTrails + GetTrailStatus; Vision One: the account"}, newA)
		},
		func() error {
			if res, _, err := settle(ctx, r, v1Request(admin), 50*time.Millisecond); err != nil || res.Err != nil {
				return fmt.Errorf("onboard v1-admin-a: %v %v", err, res.Err)
			}
			return nil
		},
		func() error {
			return measure(callRow{Decision: "account in sync through its administrator's trail (no trail stack), warm credentials",
				Minimum: 3, VendorMinimum: 1,
				Why: "DescribeStacks (status, parameters, fingerprint tag) + DescribeTrails (the trail still exists, with validation and its topic) + GetTrailStatus (it still logs); Vision One: the account"}, admin)
		},
		func() error { _, err := pass(newB); return err },
		func() error { return w.waitStack(ctx, newB.ID, localworld.TrailStackName, "CREATE_COMPLETE") },
		func() error {
			return measure(callRow{Decision: "another new account's pass that starts the Vision One stack's create: the template kept (no generation), its parameters already read by this process",
				Minimum: 5, VendorMinimum: 0,
				Why: "DescribeStacks of the Vision One stack (absent) + DescribeTrails + GetTrailStatus + DescribeStacks of the trail stack + CreateStack; nothing of Vision One: the template is the one the ledger keeps"}, newB)
		},
		func() error {
			// v1-look-a's trail stack create runs for an hour.
			w.h.Faults.EnableStacks(proxy.StackTiming{Create: time.Hour})
			_, err := pass(lookA)
			return err
		},
		func() error {
			return measure(callRow{Decision: "a look at the trail stack's create in progress",
				Minimum: 2, VendorMinimum: 0,
				Why: "DescribeStacks of the Vision One stack (absent) + DescribeStacks of the trail stack (still CREATE_IN_PROGRESS), and the request goes back to the queue with a longer delay"}, lookA)
		},
		func() error {
			// v1-look-b's trail stack completes at once, its Vision One stack's create runs for
			// an hour.
			w.h.Faults.EnableStacks(proxy.StackTiming{})
			if _, err := pass(lookB); err != nil {
				return err
			}
			if err := w.waitStack(ctx, lookB.ID, localworld.TrailStackName, "CREATE_COMPLETE"); err != nil {
				return err
			}
			w.h.Faults.EnableStacks(proxy.StackTiming{Create: time.Hour})
			_, err := pass(lookB)
			return err
		},
		func() error {
			return measure(callRow{Decision: "a look at the Vision One stack's create in progress",
				Minimum: 1, VendorMinimum: 0,
				Why: "DescribeStacks (still CREATE_IN_PROGRESS), and the request goes back to the queue with a longer delay"}, lookB)
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// measureV1Onboarding onboards o.V1Accounts new accounts of the Vision One target announced
// by Control Tower at once, through the Lambdas and the queue, with the deployment's default
// settings: none has a trail Vision One can use, so each gets the onboarder's trail stack,
// then the Vision One stack, every stack operation running o.StackTime.
func (w *world) measureV1Onboarding(ctx context.Context, o options) (*onboardResult, error) {
	res := &onboardResult{Accounts: o.V1Accounts, Stacks: len(v1Stacks), Concurrency: templateConcurrency, Rate: config.DefaultMaxStartsPerMinute,
		StackTime: o.StackTime, Latency: o.Latency}
	res.Ideal = waveIdeal(res.Stacks, res.Accounts, res.Rate, res.StackTime)
	if err := w.reset(ctx); err != nil {
		return res, err
	}
	t := time.Now()
	names := make([]string, o.V1Accounts)
	for i := range names {
		names[i] = fmt.Sprintf("v1wave-%04d", i+1)
	}
	org, err := w.h.Moto.SeedOrganization(ctx, homeRegion, localworld.OU{Name: "Wave", Accounts: names})
	if err != nil {
		return res, err
	}
	w.org = org
	err = w.setup(ctx, templateConcurrency, templateVisibility, w.visionOne, productDefaults)
	if err != nil {
		return res, err
	}
	res.Seed = time.Since(t)
	w.logf("v1onboard: %d accounts seeded in %s", len(org.Accounts), res.Seed.Round(time.Second))

	w.h.Faults.EnableStacks(proxy.Uniform(o.StackTime))
	w.h.Faults.Clear()
	w.h.Faults.Add(proxy.Rule{Fault: proxy.Latency{Fixed: o.Latency}})
	defer w.h.Faults.Clear()
	usage0, vendor0 := w.usage(), w.h.VisionOne.RequestsByOperation()
	mark := w.h.Recorder.Mark()
	var events []localworld.Entry
	for _, a := range org.Accounts {
		events = append(events, localworld.ControlTowerAccount("CreateManagedAccount", a, "SUCCEEDED", homeRegion))
	}
	t0 := time.Now()
	if _, err := w.env.Put(ctx, events...); err != nil {
		return res, err
	}
	w.logf("v1onboard: %d Control Tower events put; ideal %s", len(events), res.Ideal.Round(time.Second))
	dctx, cancel := context.WithTimeout(ctx, 3*res.Ideal+10*time.Minute)
	st, derr := w.env.Drain(dctx)
	cancel()
	res.Wall = time.Since(t0)
	w.logf("v1onboard: the queue is idle after %s (%.2f × ideal)", res.Wall.Round(time.Second), ratio(res.Wall, res.Ideal))

	byStack := w.waveFigures(ctx, res, st, usage0, mark, t0)
	res.StartsBy = map[string]int{}
	for _, name := range v1Stacks {
		res.StartsBy[name] = len(byStack[name])
	}
	res.Vendor = diffOps(vendor0, w.h.VisionOne.RequestsByOperation())
	res.Generations = len(w.h.VisionOne.Generations())
	for _, a := range org.Accounts {
		if why := w.v1Connected(a); why != "" {
			res.Failed++
			if res.FirstErr == "" {
				res.FirstErr = a.Name + ": " + why
			}
			continue
		}
		res.InSync++
	}
	var errs []error
	if derr != nil {
		errs = append(errs, derr)
	}
	if len(st.FunctionErrors) > 0 {
		errs = append(errs, fmt.Errorf("%d function errors, first: %v", len(st.FunctionErrors), st.FunctionErrors[0]))
	}
	return res, errors.Join(errs...)
}

// v1Connected says why an account of the Vision One wave is not connected ("" when it is):
// both its stacks complete, and Vision One says managed.
func (w *world) v1Connected(a localworld.Account) string {
	for _, name := range v1Stacks {
		if v, ok := w.h.Faults.Stack(a.ID, stackRegion, name); !ok || v.Status != "CREATE_COMPLETE" {
			return fmt.Sprintf("stack %s %q (%v)", name, v.Status, ok)
		}
	}
	if acct, ok := w.h.VisionOne.Account(a.ID); !ok || acct.State != "managed" {
		return fmt.Sprintf("Vision One knows the account: %v, state %q", ok, acct.State)
	}
	return ""
}
