package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
)

const repairGoal = 60 * time.Second

func (r *report) onboardMarkdown(p func(string, ...any)) {
	o := r.Onboard
	p("## 8. Onboarding a wave of new accounts\n\n")
	if o == nil {
		p("Not measured in this run.\n\n")
		return
	}
	p("%d new accounts announced by Control Tower at once (one `CreateManagedAccount` event each, put on the default bus), onboarded through the real pipeline: the rules, the account vending Lambda, the FIFO queue, the reconcile Lambda (%d instances: the event source's `MaximumConcurrency` default in deploy/template.yaml, batches of 10) and the worker's returns with `ChangeMessageVisibility`. Every stack create runs **T = %s** in the fault proxy's CloudFormation layer (moto finishes stacks at once); every AWS call waits %s. The settings are the product's defaults: %d stack starts a minute (`ONBOARDER_MAX_STARTS_PER_MINUTE`), looks at an operation in progress after %s growing to %s. The accounts were made in moto (Organizations CreateAccount) with the member roles of deploy/member.yaml in the IAM gate, in %s.\n\n",
		o.Accounts, o.Concurrency, o.StackTime, o.Latency, o.Rate, config.DefaultCheckMinDelay, config.DefaultCheckMaxDelay, o.Seed.Round(time.Second))
	gbs := o.GBs()
	per := gbs / float64(max(o.InSync, 1))
	p("| accounts | wall time | T + accounts / rate | wall / (T + accounts / rate) | ≤ 1.3 | in sync | failed | dead-lettered | stack starts | most starts in any 60 s | first / last start | reconcile passes per account | Lambda GB-seconds per account |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	p("| %d | %s | %s | %.2f | %s | %d | %d | %d | %d | %d | +%s / +%s | %.1f | %.4f |\n\n", o.Accounts, sec(o.Wall), sec(o.Ideal), ratio(o.Wall, o.Ideal),
		verdict(ratio(o.Wall, o.Ideal) <= 1.3 && o.Failed == 0), o.InSync, o.Failed, o.DLQ, o.Starts, o.MaxPerMinute,
		o.FirstStart.Round(time.Second), o.LastStart.Round(time.Second), float64(o.Passes)/float64(max(o.Accounts, 1)), per)
	if o.FirstErr != "" {
		p("First account not in sync: `%s`\n\n", strings.ReplaceAll(o.FirstErr, "`", "'"))
	}
	var hs []string
	for h := range o.Busy {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	var parts []string
	for _, h := range hs {
		if o.Invocations[h] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d invocations, %s", h, o.Invocations[h], sec(o.Busy[h])))
		}
	}
	p("**Wall time** runs from the events put to the queue idle with every request deleted (every account settled). **GB-seconds** are the billed durations of every Lambda during the wave (the invocations' round trips, summed: %s) at the functions' 128 MB, %.1f GB-s in all, divided by the accounts onboarded. The requests wait for their start slot in the queue, not in a function: at 30 starts a minute the last of %d accounts starts about %s after the first, and no invocation waits for CloudFormation.\n\n",
		strings.Join(parts, "; "), gbs, o.Accounts, (time.Duration(o.Accounts-1) * time.Minute / time.Duration(max(o.Rate, 1))).Round(time.Second))

	if wd := o.Waiting; wd != nil {
		waitPer := wd.Busy.Seconds() * functionMemoryGB / float64(max(wd.Accounts, 1))
		model := wd.model(o.Accounts)
		p("**The waiting design beside it.** The same run also onboarded %d other accounts the way the reconcile Lambda worked before issue 12, driven with today's Reconciler in this process: %d invocations at a time (its `MaximumConcurrency`), each handed a batch of %d requests and reconciling them one after the other, staying in the invocation until each stack create ended (the waits are the Reconciler's own look delays; the SDK waiter it used looked every 30 s), without a start-rate limit. Measured: %s for %d accounts (%d failed), %s per account held in an invocation, **%.2f GB-seconds per account**. Its model for %d accounts: rounds of %d × %d accounts, each account holding an invocation for the %s measured, so ⌈%d / %d⌉ × %d × %s = **%s**.\n\n",
			wd.Accounts, wd.Concurrency, wd.Batch, sec(wd.Wall), wd.Accounts, wd.Failed, sec(wd.PerAccount), waitPer,
			o.Accounts, wd.Concurrency, wd.Batch, sec(wd.PerAccount), o.Accounts, wd.Concurrency*wd.Batch, wd.Batch, sec(wd.PerAccount), hours(model))
		p("| design | wall time for %d accounts | GB-seconds per account | how it was got |\n|---|---|---|---|\n", o.Accounts)
		p("| waits inside the invocation (before issue 12) | %s | %.2f | %d accounts measured, the wall time from its model |\n", hours(model), waitPer, wd.Accounts)
		p("| never waits (now) | %s | %.4f | measured |\n", hours(o.Wall), per)
		p("| gain | %.1f × faster | %.0f × cheaper | |\n\n", ratio(model, o.Wall), waitPer/max(per, 1e-9))
		if wd.FirstErr != "" {
			p("First failure of the waiting design: `%s`\n\n", strings.ReplaceAll(wd.FirstErr, "`", "'"))
		}
	}

	p("## 9. Repair latency during the wave\n\n")
	p("While the %d creates were in flight, %d accounts onboarded before the wave (each forwarding through its own logging trail) had that trail stopped, at even shares of the wave's ideal time: `StopLogging` in moto, then the CloudTrail event put on the default bus as EventBridge would deliver it. The latency runs from the event put to the onboarder's `StartLogging` call (recorded by the local environment's recorder). Goal: at most 60 s, however many creates are under way.\n\n", o.Accounts, len(o.Repairs))
	if len(o.Repairs) > 0 {
		p("| account | stopped at | event → StartLogging | ≤ 60 s |\n|---|---|---|---|\n")
		for _, rp := range o.Repairs {
			lat := sec(rp.Latency)
			if rp.Err != "" {
				lat = rp.Err
			}
			p("| %s | +%s | %s | %s |\n", rp.Account, rp.At.Round(time.Second), lat, verdict(rp.Err == "" && rp.Latency <= repairGoal))
		}
		p("\n")
	}
}

func hours(d time.Duration) string {
	if d >= 2*time.Hour {
		return fmt.Sprintf("%.1f h", d.Hours())
	}
	return fmt.Sprintf("%.1f min", d.Minutes())
}

func (r *report) onboardGoals() []goal {
	o := r.Onboard
	if o == nil {
		return nil
	}
	q := ratio(o.Wall, o.Ideal)
	per := o.GBs() / float64(max(o.InSync, 1))
	fig := fmt.Sprintf("%.2f (%s for %d accounts, T = %s, %d starts a minute); %d failed; %.4f GB-s per account", q, sec(o.Wall), o.Accounts, o.StackTime, o.Rate, o.Failed, per)
	why := "the requests wait for their start slot and for CloudFormation in the queue, not in a function (section 8)"
	if wd := o.Waiting; wd != nil {
		waitPer := wd.Busy.Seconds() * functionMemoryGB / float64(max(wd.Accounts, 1))
		why += fmt.Sprintf("; the waiting design: %s for the same accounts by its model, %.2f GB-s per account", hours(wd.model(o.Accounts)), waitPer)
	}
	if q > 1.3 || o.Failed > 0 {
		why = "over the goal: see section 8 for the accounts not in sync and the starts per minute"
	}
	gs := []goal{{"8. onboarding", "wall / (T + accounts / start rate) ≤ 1.3, 0 failed", fig, verdict(q <= 1.3 && o.Failed == 0), why}}
	if len(o.Repairs) > 0 {
		worst, ok := time.Duration(0), true
		for _, rp := range o.Repairs {
			worst = max(worst, rp.Latency)
			ok = ok && rp.Err == "" && rp.Latency <= repairGoal
		}
		gs = append(gs, goal{"9. repair latency", "StopLogging event → StartLogging ≤ 60 s during the wave", fmt.Sprintf("worst %s of %d", sec(worst), len(o.Repairs)), verdict(ok),
			"a repair is its own account's request: no other account's operation holds it, and it needs no start slot"})
	}
	return gs
}

func (r *report) orgMarkdown(p func(string, ...any)) {
	g := r.Org
	p("## 10. Sweep of a large Organization\n\n")
	if g == nil {
		p("Not measured in this run.\n\n")
		return
	}
	p("The sweep Lambda's scheduled run over %d accounts in %d included OUs (`ONBOARDER_INCLUDE_OUS` names %d units; each has a child OU holding a tenth of its accounts, which the sweep finds with `ListOrganizationalUnitsForParent`), beside %d accounts in an OU that is not included. **Organizations is a stand-in** (`integration/localworld/orgs.go`): moto 5.2.1 took 32 s to create 1,000 accounts and 172 s for 3,000 (its CreateAccount and MoveAccount scan the account list), so 10,000 would take about half an hour, and it answers 100 accounts a page where AWS answers at most 20. The stand-in answers the SDK's own client with AWS's page limit and error codes, behind the fault proxy, so its calls are gated by the sweep role's policy, wait %s like every other AWS call, and %.0f%% of them are throttled with `TooManyRequestsException` (\"AWS Organizations can't complete your request because another request is already in progress\"). The ledger (moto's DynamoDB) holds an entry for every account, read once per invocation; the queue is moto's FIFO queue. Seeded in %s.\n\n",
		g.Accounts, g.OUs, g.OUs/2, g.Outside, g.Latency, g.Throttle*100, g.Seed.Round(time.Second))
	ok := g.Lost == 0 && g.Duplicates == 0 && g.Strays == 0 && g.Longest < sweepTimeout && g.QueueDepth == g.Accounts
	p("| accounts | wall time | invocations | longest invocation | function timeout | requests | lost | duplicates | outside the OUs | without the ledger digest | queue depth after | throttles injected | goal |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	p("| %d | %s | %d | %s | %s | %d | %d | %d | %d | %d | %d | %d | %s |\n\n", g.Accounts, sec(g.Wall), g.Invocations, sec(g.Longest), sweepTimeout,
		g.Requests, g.Lost, g.Duplicates, g.Strays, g.NoDigest, g.QueueDepth, g.Throttled, verdict(ok))
	var ks []string
	total := 0
	for k, n := range g.ByOp {
		ks = append(ks, k)
		total += n
	}
	slices.Sort(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s %d (%.3f per account)", k, g.ByOp[k], float64(g.ByOp[k])/float64(max(g.Accounts, 1))))
	}
	p("Calls (attempts, retries included) by operation: %s; %d in all, %.3f per account. Enqueues per account: %.2f (SendMessageBatch of 10).\n\n",
		strings.Join(parts, ", "), total, float64(total)/float64(max(g.Accounts, 1)), float64(g.Requests)/float64(max(g.Accounts, 1)))
	p("Peak memory of the sweep process: %s (section 2).\n\n", mib(g.Memory.Peak))
}

func (r *report) orgGoals() []goal {
	g := r.Org
	if g == nil {
		return nil
	}
	ok := g.Lost == 0 && g.Duplicates == 0 && g.Strays == 0 && g.Longest < sweepTimeout && g.QueueDepth == g.Accounts
	fig := fmt.Sprintf("%d enqueued of %d, %d lost, %d duplicates; %s in %d invocations (longest %s of %s)", g.Enqueued, g.Accounts, g.Lost, g.Duplicates,
		sec(g.Wall), g.Invocations, sec(g.Longest), sweepTimeout)
	return []goal{{"10. sweep of a large Organization", "every account enqueued once, 0 lost, within the function timeout, under throttling", fig, verdict(ok),
		fmt.Sprintf("page by page with the SDK's retryer; %d Organizations throttles injected, all retried; memory in section 2", g.Throttled)}}
}
