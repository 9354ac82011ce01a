package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
)

// v1CallsMarkdown is section 4's part for the Vision One target.
func (r *report) v1CallsMarkdown(p func(string, ...any)) {
	p("### The Vision One target\n\n")
	if len(r.V1Calls) == 0 {
		p("Not measured in this run.\n\n")
		return
	}
	p("The same method with `ONBOARDER_TARGET=visionone`, configured as deploy/template.yaml configures it for that target (stacks in %s, the member roles of deploy/member.yaml with `Target=visionone` in the IAM gate), against the Vision One stand-in (`integration/localworld/trend/visionone.go`), which generates templates and marks an account managed when its stack completes, as Trend's template registers the account from within the stack. Every pass below is one process's (one Reconciler, as a warm reconcile Lambda), from a cold start: its first pass assumes the role and reads the secret, and it reads Vision One's feature list and a template's parameters (GetTemplateSummary, once per template URL and process, for 15 minutes) the first time it needs them. The requests carry the account's name, as the account vending Lambda's do. **Calls to Vision One** are not AWS calls: the stand-in counts them by operation, and they have a minimum of their own. The goal holds for each kind: member-account calls within one of their minimum, and calls to Vision One within one of theirs.\n\n", stackRegion)
	p("| decision | outcome | member-account calls | management-account calls | Vision One calls | member minimum | Vision One minimum | why the minimum | goal |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range r.V1Calls {
		p("| %s | %s | %d: %s | %d: %s | %d: %s | %d | %d | %s | %s |\n", c.Decision, c.Outcome, c.MemberN, c.Member, c.ManagementN, c.Management,
			c.VendorN, c.Vendor, c.Minimum, c.VendorMinimum, c.Why, c.Goal+": "+verdict(c.Met))
	}
	p("\n")
	if notes := callNotes(r.V1Calls); len(notes) > 0 {
		p("Calls above a minimum: %s.\n\n", strings.Join(notes, "; "))
	}
	p("In the management account, a Vision One pass that builds the desired stack also reads the kept template's ledger item (one DynamoDB GetItem beside Cloud One's ledger entry and rollout reads), an in-sync pass included, where the template's URL is not used: only a write needs it.\n\n")
}

// v1CallGoals are the goals table's rows of the Vision One calls.
func (r *report) v1CallGoals() []goal {
	var gs []goal
	for _, c := range r.V1Calls {
		why := c.Why
		if e := extraCalls(c); e != "" && !c.Met {
			why += "; over the goal, " + e
		}
		gs = append(gs, goal{"4. calls, Vision One: " + c.Decision, c.Goal + " (member account and Vision One, each)",
			fmt.Sprintf("%d member calls (minimum %d); Vision One %d (minimum %d)", c.MemberN, c.Minimum, c.VendorN, c.VendorMinimum), verdict(c.Met), why})
	}
	return gs
}

// v1IdealText is the ideal wave time's formula as the page writes it.
const v1IdealText = "max(T + 2 · accounts / rate, 2T + accounts / rate)"

func (r *report) v1OnboardMarkdown(p func(string, ...any)) {
	o := r.V1Onboard
	p("## 11. Onboarding a wave of new accounts, Vision One target\n\n")
	if o == nil {
		p("Not measured in this run.\n\n")
		return
	}
	p("%d new accounts announced by Control Tower at once (one `CreateManagedAccount` event each, put on the default bus), onboarded through the real pipeline as in section 8, with `ONBOARDER_TARGET=visionone` (deploy/template.yaml's settings for that target, the member roles of deploy/member.yaml with `Target=visionone` in the IAM gate) and the Vision One stand-in as Vision One. None of the accounts has a trail Vision One can use, so each needs **two stacks, one after the other**: the onboarder's trail stack (`%s`, deploy/visionone-trail.yaml), then the Vision One stack (`%s`) from the template Vision One generates, with the trail stack's trail and topic. Every stack create runs **T = %s** in the fault proxy's CloudFormation layer; every AWS call waits %s; %d reconcile instances; the product's defaults: %d stack starts a minute, looks at an operation in progress after %s growing to %s. Seeded (the accounts made in moto, the central resources) in %s.\n\n",
		o.Accounts, localworld.TrailStackName, localworld.VisionOneStackName, o.StackTime, o.Latency, o.Concurrency, o.Rate, config.DefaultCheckMinDelay, config.DefaultCheckMaxDelay, o.Seed.Round(time.Second))
	p("**The goal.** Every stack create takes a start slot of its own (a trail stack's and a Vision One stack's alike), and an account's second create can start only once its first has completed. So no wave can end before both of: the last of the 2 · accounts starts, (2 · accounts − 1) / rate after the first, plus its T; and the last account's first start, accounts / rate after the first, plus its two creates one after the other, 2T. The ideal is the larger, **%s**; at %d accounts, T = %s and %d a minute it is %s (%s). The design reaches the first bound once accounts / rate ≥ T: the first creates hold the first accounts / rate of slots, by when the first trail stacks have completed, and each account's Vision One create takes the next free slot when its next look finds its trail stack complete. The goal is the same as Cloud One's: wall / ideal ≤ 1.3, no account failed, and one template generation for the wave (one worker claims it; the others find it kept in the ledger).\n\n",
		v1IdealText, o.Accounts, o.StackTime, o.Rate, sec(o.Ideal), v1IdealParts(o))
	gbs := o.GBs()
	per := gbs / float64(max(o.InSync, 1))
	starts := o.StartsBy[localworld.TrailStackName] + o.StartsBy[localworld.VisionOneStackName]
	p("| accounts | wall time | ideal, %s | wall / ideal | ≤ 1.3 | in sync | failed | dead-lettered | stack starts (trail + Vision One) | most starts in any 60 s | first / last start | template generations | reconcile passes per account | Lambda GB-seconds per account |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n", v1IdealText)
	p("| %d | %s | %s | %.2f | %s | %d | %d | %d | %d (%d + %d) | %d | +%s / +%s | %d | %.1f | %.4f |\n\n", o.Accounts, sec(o.Wall), sec(o.Ideal), ratio(o.Wall, o.Ideal),
		verdict(v1WaveMet(o)), o.InSync, o.Failed, o.DLQ, starts, o.StartsBy[localworld.TrailStackName], o.StartsBy[localworld.VisionOneStackName], o.MaxPerMinute,
		o.FirstStart.Round(time.Second), o.LastStart.Round(time.Second), o.Generations, float64(o.Passes)/float64(max(o.Accounts, 1)), per)
	if o.Starts != starts {
		p("Stack starts of other stacks: %d.\n\n", o.Starts-starts)
	}
	if o.FirstErr != "" {
		p("First account not connected: `%s`\n\n", strings.ReplaceAll(o.FirstErr, "`", "'"))
	}
	var hs []string
	for h := range o.Busy {
		if o.Invocations[h] > 0 {
			hs = append(hs, h)
		}
	}
	slices.Sort(hs)
	var parts []string
	for _, h := range hs {
		parts = append(parts, fmt.Sprintf("%s %d invocations, %s", h, o.Invocations[h], sec(o.Busy[h])))
	}
	vendor, n := joinOps(o.Vendor)
	p("**In sync** is both stacks CREATE_COMPLETE and Vision One saying managed. **Wall time** runs from the events put to the queue idle with every request deleted. **GB-seconds** are the billed durations of every Lambda during the wave (%s) at 128 MB, %.1f GB-s in all, divided by the accounts connected. **Calls to Vision One** during the wave: %d (%s), %.2f per account: each reconcile process reads the feature list once, one generation serves the wave, and each account's view is read when its stack has completed.\n\n",
		strings.Join(parts, "; "), gbs, n, vendor, float64(n)/float64(max(o.Accounts, 1)))
}

// v1IdealParts says the two bounds of a wave's ideal time.
func v1IdealParts(o *onboardResult) string {
	slot := slotOf(o.Rate)
	a := o.StackTime + time.Duration(2*o.Accounts)*slot
	b := 2*o.StackTime + time.Duration(o.Accounts)*slot
	return fmt.Sprintf("T + 2 · accounts / rate = %s, 2T + accounts / rate = %s", a.Round(time.Second), b.Round(time.Second))
}

// v1WaveMet is the wave's goal: within 1.3 × the ideal, every account connected, one
// template generation.
func v1WaveMet(o *onboardResult) bool {
	return ratio(o.Wall, o.Ideal) <= 1.3 && o.Failed == 0 && o.InSync == o.Accounts && o.Generations == 1
}

func (r *report) v1OnboardGoals() []goal {
	o := r.V1Onboard
	if o == nil {
		return nil
	}
	per := o.GBs() / float64(max(o.InSync, 1))
	gens := fmt.Sprintf("%d template generations", o.Generations)
	if o.Generations == 1 {
		gens = "1 template generation"
	}
	fig := fmt.Sprintf("%.2f (%s for %d accounts, two stacks each, T = %s, %d starts a minute); %d failed; %s; %.4f GB-s per account",
		ratio(o.Wall, o.Ideal), sec(o.Wall), o.Accounts, o.StackTime, o.Rate, o.Failed, gens, per)
	why := "each account's two creates hold a start slot each, and the requests wait for their slots and for CloudFormation in the queue, not in a function (section 11)"
	if !v1WaveMet(o) {
		why = "over the goal: see section 11 for the accounts not connected, the starts per minute and the generations"
	}
	return []goal{{"11. onboarding, Vision One", "wall / " + v1IdealText + " ≤ 1.3, 0 failed, 1 template generation", fig, verdict(v1WaveMet(o)), why}}
}
