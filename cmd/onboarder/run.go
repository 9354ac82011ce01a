package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
)

// accountResult is one account's reconcile (or plan), as printed and as JSON.
type accountResult struct {
	Name string `json:"name,omitempty"`
	reconcile.Result
}

// selection is the --account / --all pair of plan and reconcile.
type selection struct {
	accounts []string
	all      bool
}

func (s *selection) flags(cmd *cobra.Command) {
	cmd.Flags().StringSliceVar(&s.accounts, "account", nil, "account `ID` to work on (repeatable, or comma separated; ids may also be given as arguments)")
	cmd.Flags().BoolVar(&s.all, "all", false, "every ACTIVE in-scope account of the organization")
}

// ids checks the selection: --all, or at least one account id, not both.
func (s *selection) ids(args []string) ([]string, error) {
	ids, err := accountIDs(s.accounts, args)
	if err != nil {
		return nil, err
	}
	switch {
	case s.all && len(ids) > 0:
		return nil, usageErrorf("--all and account ids exclude each other")
	case !s.all && len(ids) == 0:
		return nil, usageErrorf("name the accounts with --account ID (repeatable) or use --all")
	}
	return ids, nil
}

func (a *app) planCmd() *cobra.Command {
	var (
		sel         selection
		asJSON      bool
		concurrency int
	)
	cmd := &cobra.Command{
		Use:   "plan [--account ID ... | --all] [--json]",
		Short: "Dry run: what a reconcile would do in each account, and why",
		Long: `plan runs the reconcile of each account in dry-run mode: it reads the stack, the trails and
the secret's version, and prints the action it would take, why, and each parameter change as
before -> after. Secret parameters are masked (****, with the secret's version id); plan
changes nothing (no stack, trail or ledger write).
Actions: none (in sync), create, update, delete (a failed create, then create), 
continue-update-rollback, start-logging, wait (a stack operation is in progress), leave-alone
(a stack that is not the onboarder's), needs-person, fail.
Accounts that left the scope (closed, suspended, removed, moved out of ONBOARDER_INCLUDE_OUS,
excluded) while the ledger says the onboarder's stack is there are planned too, as the
sweep finds them: delete (ONBOARDER_OFFBOARD=delete: the onboarder's own stack) or offboarded
(the stack and what stays in Cloud One are reported), with what is left behind.

Exit codes: 0 every account is in sync (or left alone), 3 at least one account would change,
1 an account failed (this wins over 3), 2 usage error.`,
		Example: "  onboarder plan --all\n  onboarder plan --account 012345678901 --json",
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			ids, err := sel.ids(args)
			if err != nil {
				return err
			}
			if concurrency < 1 {
				return usageErrorf("--concurrency %d: must be at least 1", concurrency)
			}
			return a.plan(cmd.Context(), ids, asJSON, concurrency)
		}),
	}
	sel.flags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of results instead of text")
	cmd.Flags().IntVar(&concurrency, "concurrency", 8, "accounts planned at the same time")
	return cmd
}

// reconcileOpts are the reconcile command's flags.
type reconcileOpts struct {
	concurrency int
	enqueue     bool
	retryFailed bool
	noWait      bool
	timeout     time.Duration
}

func (a *app) reconcileCmd() *cobra.Command {
	var (
		sel selection
		o   reconcileOpts
	)
	cmd := &cobra.Command{
		Use:   "reconcile [--account ID ... | --all] [--concurrency N] [--enqueue] [--retry-failed] [--no-wait]",
		Short: "Reconcile accounts now, or enqueue them for the worker",
		Long: `reconcile brings each account's onboarding stack to the desired state, --concurrency
accounts at a time, and prints what it did in each, then a summary by action and by outcome
class. On a terminal a progress bar shows on stderr; otherwise one line per account.

A reconcile takes one step at a time, as the worker does: it starts a stack operation and
looks again when CloudFormation has had time, until the account is in sync or needs a
person (at most --timeout), or, with --no-wait, it stops after the first step. Stack
operations are paced Organization-wide (ONBOARDER_MAX_STARTS_PER_MINUTE), with the worker.

When the onboarder's own write for the desired state failed (the stack rolled back), it does
not write again by itself: fix the cause, then run reconcile --retry-failed for the account.

With --enqueue it reconciles nothing itself: it puts one request per account on the worker's
queue (ONBOARDER_QUEUE_URL), trigger "operator", with a fresh event id, and the reconcile
Lambda does the work (--retry-failed goes with the requests).

Exit codes: 0 every account reconciled (or enqueued), 1 an account failed, 2 usage error.`,
		Example: "  onboarder reconcile --all --concurrency 16\n  onboarder reconcile --account 012345678901 --enqueue\n  onboarder reconcile --account 012345678901 --retry-failed",
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			ids, err := sel.ids(args)
			if err != nil {
				return err
			}
			if o.concurrency < 1 {
				return usageErrorf("--concurrency %d: must be at least 1", o.concurrency)
			}
			if o.enqueue {
				return a.enqueue(cmd.Context(), ids, o.retryFailed)
			}
			return a.reconcile(cmd.Context(), ids, o)
		}),
	}
	sel.flags(cmd)
	cmd.Flags().IntVar(&o.concurrency, "concurrency", 8, "accounts reconciled at the same time")
	cmd.Flags().BoolVar(&o.enqueue, "enqueue", false, "enqueue requests on ONBOARDER_QUEUE_URL instead of reconciling here")
	cmd.Flags().BoolVar(&o.retryFailed, "retry-failed", false, "write again although the onboarder's own write for this desired state failed (after fixing the cause)")
	cmd.Flags().BoolVar(&o.noWait, "no-wait", false, "stop after the first step of each account (the worker, or a later run, goes on)")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 30*time.Minute, "how long to follow the accounts' stack operations")
	return cmd
}

// runReconciles reconciles the targets with at most n at a time. done is called, one call at
// a time, as each account finishes. follow > 0 takes step after step, as the worker would,
// until the account needs no more or follow has passed.
func (a *app) runReconciles(ctx context.Context, e *env, dryRun bool, targets []target, n int, done func(accountResult), follow time.Duration, retryFailed bool) ([]accountResult, error) {
	cfg := e.cfg
	cfg.DryRun = dryRun
	r, err := reconcile.New(cfg, e.awsCfg)
	if err != nil {
		return nil, err
	}
	r.Log = a.logger()
	trigger := "operator"
	eventID := newEventID()
	digests := r.Digests(ctx) // as the sweep does: unchanged ledger entries are not rewritten
	results := make([]accountResult, len(targets))
	var mu sync.Mutex
	until := time.Now().Add(follow)
	forEach(ctx, len(targets), n, func(ctx context.Context, i int) {
		t := targets[i]
		req := queue.Request{
			Version: queue.Version, Account: t.ID, Trigger: trigger, EventID: eventID,
			Reason:       "onboarder " + map[bool]string{true: "plan", false: "reconcile"}[dryRun],
			LedgerDigest: digests[t.ID], RetryFailed: retryFailed,
		}
		if t.Offboard != "" {
			req.Offboard, req.Reason, req.RetryFailed = t.Offboard, t.Offboard+": "+t.Why, false
		}
		res := r.Reconcile(ctx, req)
		var steps []reconcile.Step
		var changed reconcile.Result // the pass that changed something, when one did
		for comesBack(res) && time.Now().Before(until) && ctx.Err() == nil {
			steps = append(steps, res.Steps...)
			if res.Changed() {
				changed = res
			}
			select {
			case <-ctx.Done():
			case <-time.After(min(res.RetryAfter, a.pollEvery(), time.Until(until))):
			}
			req.LedgerDigest = "" // the entry may have changed since the digest was read
			res = r.Reconcile(ctx, req)
		}
		res.Steps = append(steps, res.Steps...)
		if changed.Action != "" && res.Class == fault.None && (res.Action == reconcile.ActionNone || res.Action == reconcile.ActionWait) {
			// The account is where the change led: report the change, and where it stands.
			res.Action, res.Reason, res.Changes = changed.Action, changed.Reason+"; now "+res.StatusAfter, changed.Changes
		}
		results[i] = accountResult{Name: t.Name, Result: res}
		if done != nil {
			mu.Lock()
			done(results[i])
			mu.Unlock()
		}
	})
	return results, nil
}

// comesBack reports whether the pass asked to be run again later for its request.
func comesBack(r reconcile.Result) bool {
	return r.Outcome == reconcile.OutcomeLater || r.Outcome == reconcile.OutcomeRetry
}

// drift reports whether a result is a change the reconcile would make.
func drift(r reconcile.Result) bool {
	return r.Class == fault.None && r.Action != reconcile.ActionNone && r.Action != reconcile.ActionLeaveAlone
}

func (a *app) plan(ctx context.Context, ids []string, asJSON bool, n int) error {
	e, err := a.setup(ctx, false)
	if err != nil {
		return err
	}
	targets, skipped, err := e.targets(ctx, ids)
	if err != nil {
		return err
	}
	off, err := offboardings(ctx, e.ledger(), e.cfg, len(ids) == 0, targets, skipped)
	if err != nil {
		return err
	}
	results, err := a.runReconciles(ctx, e, true, append(targets, off...), n, nil, 0, false)
	if err != nil {
		return err
	}
	failed, changes := reportSkipped(a.stderr, skipped), 0
	for _, r := range results {
		if r.Class != fault.None {
			failed = true
		}
		if drift(r.Result) {
			changes++
		}
	}
	if asJSON {
		if results == nil {
			results = []accountResult{}
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			printResult(a.stdout, r, true)
		}
		fmt.Fprintf(a.stdout, "plan: %d accounts, %d would change; %s\n", len(results), changes, countsText(results))
	}
	switch {
	case failed:
		return exitWith(exitFailure)
	case changes > 0:
		return exitWith(exitDrift)
	}
	return nil
}

func (a *app) reconcile(ctx context.Context, ids []string, o reconcileOpts) error {
	e, err := a.setup(ctx, false)
	if err != nil {
		return err
	}
	targets, skipped, err := e.targets(ctx, ids)
	if err != nil {
		return err
	}
	off, err := offboardings(ctx, e.ledger(), e.cfg, len(ids) == 0, targets, skipped)
	if err != nil {
		return err
	}
	targets = append(targets, off...)
	failed := reportSkipped(a.stderr, skipped)
	p := a.newProgress(len(targets), "reconcile")
	follow := o.timeout
	if o.noWait {
		follow = 0
	}
	results, err := a.runReconciles(ctx, e, false, targets, o.concurrency, p.step, follow, o.retryFailed)
	p.finish()
	if err != nil {
		return err
	}
	for _, r := range results {
		printResult(a.stdout, r, false)
		failed = failed || r.Class != fault.None
		if comesBack(r.Result) {
			fmt.Fprintf(a.stdout, "    still under way: the worker (or another run) goes on; onboarder status shows it\n")
		}
	}
	printSummary(a.stdout, results)
	if failed {
		return exitWith(exitFailure)
	}
	return nil
}

func (a *app) enqueue(ctx context.Context, ids []string, retryFailed bool) error {
	e, err := a.setup(ctx, false)
	if err != nil {
		return err
	}
	if e.cfg.QueueURL == "" {
		return fmt.Errorf("--enqueue: ONBOARDER_QUEUE_URL is not set (the reconcile queue of the deployment)")
	}
	targets, skipped, err := e.targets(ctx, ids)
	if err != nil {
		return err
	}
	failed := reportSkipped(a.stderr, skipped)
	id := newEventID()
	reqs := make([]queue.Request, 0, len(targets))
	for _, t := range targets {
		reqs = append(reqs, queue.Request{Version: queue.Version, Account: t.ID, Trigger: "operator", EventID: id, Reason: "onboarder reconcile --enqueue", RetryFailed: retryFailed})
	}
	if len(reqs) > 0 {
		s := &queue.Sender{SQS: sqs.NewFromConfig(e.awsCfg), QueueURL: e.cfg.QueueURL}
		if err := s.Send(ctx, reqs); err != nil {
			return err
		}
	}
	for _, t := range targets {
		fmt.Fprintf(a.stdout, "%s  enqueued\n", t.ID)
	}
	fmt.Fprintf(a.stdout, "enqueued %d reconcile requests on %s (event id %s)\n", len(reqs), e.cfg.QueueURL, id)
	if failed {
		return exitWith(exitFailure)
	}
	return nil
}

// reportSkipped tells which accounts are left out and reports whether one was a failure.
func reportSkipped(w io.Writer, skipped []outOfScope) bool {
	failed := false
	for _, s := range skipped {
		if s.Failed {
			failed = true
			fmt.Fprintf(w, "error: %s: %s\n", s.ID, s.Why)
			continue
		}
		fmt.Fprintf(w, "skipped: %s %s: %s\n", s.ID, s.Name, s.Why)
	}
	return failed
}

// printResult prints one account: a headline, then the steps (reconcile) or the parameter
// changes (plan). Results never hold a secret; changes of secret parameters read ****.
func printResult(w io.Writer, r accountResult, plan bool) {
	name := ""
	if r.Name != "" {
		name = " (" + r.Name + ")"
	}
	outcome := string(r.Action)
	if r.Class != fault.None {
		outcome += " FAILED [" + string(r.Class) + "]"
	}
	fmt.Fprintf(w, "%s%s: %s: %s\n", r.Account, name, outcome, r.Reason)
	if r.Error != "" && r.Error != r.Reason {
		fmt.Fprintf(w, "    error: %s\n", r.Error)
	}
	if r.Trail != nil && r.Trail.Why != "" {
		fmt.Fprintf(w, "    trail: %s\n", r.Trail.Why)
	}
	if plan {
		for _, c := range r.Changes {
			if c.Before == c.After {
				continue // a create lists every parameter; an empty one that stays empty says nothing
			}
			fmt.Fprintf(w, "    %s: %q -> %q\n", c.Parameter, c.Before, c.After)
		}
		return
	}
	for _, s := range r.Steps {
		fmt.Fprintf(w, "    %s: %s\n", s.Action, s.Detail)
	}
}

// countsText is "create 2, none 1" for the actions, then the failure classes if any.
func countsText(results []accountResult) string {
	actions, classes := map[string]int{}, map[string]int{}
	for _, r := range results {
		actions[string(r.Action)]++
		classes[string(r.Class)]++
	}
	return "actions: " + joinCounts(actions) + "; outcomes: " + joinCounts(classes)
}

func joinCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// printSummary ends a reconcile: counts per action and per outcome class.
func printSummary(w io.Writer, results []accountResult) {
	actions, classes := map[string]int{}, map[string]int{}
	for _, r := range results {
		actions[string(r.Action)]++
		classes[string(r.Class)]++
	}
	fmt.Fprintf(w, "summary: %d accounts\n", len(results))
	fmt.Fprintf(w, "  by action: %s\n", joinCounts(actions))
	fmt.Fprintf(w, "  by class:  %s\n", joinCounts(classes))
}

func newEventID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "operator-" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// progress shows accounts finishing: a bar on a terminal, plain lines otherwise.
type progress struct {
	bar   *progressbar.ProgressBar
	w     io.Writer
	total int
	done  int
}

func (a *app) newProgress(total int, what string) *progress {
	p := &progress{w: a.stderr, total: total}
	if total > 1 && a.isTerminal(a.stderr) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) step(r accountResult) {
	p.done++
	if p.bar != nil {
		_ = p.bar.Add(1)
		return
	}
	outcome := string(r.Action)
	if r.Class != fault.None {
		outcome += " FAILED [" + string(r.Class) + "]"
	}
	fmt.Fprintf(p.w, "[%d/%d] %s %s\n", p.done, p.total, r.Account, outcome)
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
