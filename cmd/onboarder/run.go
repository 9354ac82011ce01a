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
	"time"

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
		Long: `plan asks the reconcile function for a dry run of each account: with its own role and
configuration it reads the stack, the trails and the secret's version, and answers the
action it would take, why, and each parameter change as before -> after. Secret parameters
are masked (****, with the secret's version id); plan changes nothing (no stack, trail or
ledger write, no start slot). Accounts go 25 to an invocation, --concurrency invocations at
a time.
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
	cmd.Flags().IntVar(&concurrency, "concurrency", 4, "invocations of the reconcile function at the same time (25 accounts each)")
	return cmd
}

// reconcileOpts are the reconcile command's flags.
type reconcileOpts struct {
	concurrency int
	retryFailed bool
	noWait      bool
	timeout     time.Duration
}

func (a *app) reconcileCmd() *cobra.Command {
	var (
		sel     selection
		o       reconcileOpts
		enqueue bool
	)
	cmd := &cobra.Command{
		Use:   "reconcile [--account ID ... | --all] [--retry-failed] [--no-wait] [--timeout D] [--poll D]",
		Short: "Ask the worker to reconcile accounts now, and follow them",
		Long: `reconcile puts one request per account on the reconcile queue (ONBOARDER_QUEUE_URL of the
reconcile function), trigger "operator", with a fresh event id, as the sweep does: the
reconcile function makes every change, with its own role, paced Organization-wide
(ONBOARDER_MAX_STARTS_PER_MINUTE). With --all, accounts that left the scope and whose ledger
entry says the onboarder's stack is there are offboarded, as the sweep offboards them.

Unless --no-wait, it then follows the accounts: every few seconds it asks the reconcile
function for a dry run of the same requests, until each account is in sync, left alone,
offboarded or needs a person, or --timeout has passed; then it prints, per account, where
it stands and the last change the worker made (the ledger's record). An account still under
way when the command stops goes on without it (onboarder status shows it).

When the onboarder's own write for the desired state failed (the stack rolled back), it does
not write again by itself: fix the cause, then run reconcile --retry-failed for the account
(the request carries retryFailed: one more try).

Exit codes: 0 every account reconciled (or enqueued, or still under way), 1 an account needs
a person or failed, or a call failed, 2 usage error.`,
		Example: "  onboarder reconcile --all\n  onboarder reconcile --account 012345678901 --retry-failed\n  onboarder reconcile --all --no-wait",
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			ids, err := sel.ids(args)
			if err != nil {
				return err
			}
			if o.concurrency < 1 {
				return usageErrorf("--concurrency %d: must be at least 1", o.concurrency)
			}
			if o.timeout <= 0 {
				return usageErrorf("--timeout %s: must be positive", o.timeout)
			}
			if a.poll <= 0 {
				return usageErrorf("--poll %s: must be positive", a.poll)
			}
			o.noWait = o.noWait || enqueue
			return a.reconcile(cmd.Context(), ids, o)
		}),
	}
	sel.flags(cmd)
	cmd.Flags().IntVar(&o.concurrency, "concurrency", 4, "invocations of the reconcile function at the same time while following (25 accounts each)")
	cmd.Flags().BoolVar(&o.retryFailed, "retry-failed", false, "write again although the onboarder's own write for this desired state failed (after fixing the cause)")
	cmd.Flags().BoolVar(&o.noWait, "no-wait", false, "enqueue and return: do not follow the accounts")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 30*time.Minute, "how long to follow the accounts")
	cmd.Flags().DurationVar(&a.poll, "poll", a.pollEvery(), "how often to look at the accounts while following them")
	cmd.Flags().BoolVar(&enqueue, "enqueue", false, "the same as --no-wait")
	_ = cmd.Flags().MarkDeprecated("enqueue", "reconcile always enqueues now; --enqueue means --no-wait")
	return cmd
}

// drift reports whether a result is a change the reconcile would make.
func drift(r reconcile.Result) bool {
	return r.Class == fault.None && r.Action != reconcile.ActionNone && r.Action != reconcile.ActionLeaveAlone
}

// requests are the reconcile requests of the targets: one per account, with one event id.
func requests(targets []target, eventID, reason string, retryFailed bool) []queue.Request {
	reqs := make([]queue.Request, 0, len(targets))
	for _, t := range targets {
		r := queue.Request{Version: queue.Version, Account: t.ID, Trigger: "operator", EventID: eventID, Reason: reason, RetryFailed: retryFailed}
		if t.Offboard != "" {
			r.Offboard, r.Reason, r.RetryFailed = t.Offboard, t.Offboard+": "+t.Why, false
		}
		reqs = append(reqs, r)
	}
	return reqs
}

// selected resolves the selection: the accounts in scope, those that left it and need
// offboarding (as the sweep finds them), and those left out.
func (e *env) selected(ctx context.Context, ids []string) ([]target, []outOfScope, error) {
	targets, skipped, err := e.targets(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	var sums summaries
	if l := e.ledger(); l != nil {
		sums = l
	}
	off, err := offboardings(ctx, sums, e.cfg, len(ids) == 0, targets, skipped)
	if err != nil {
		return nil, nil, err
	}
	return append(targets, off...), skipped, nil
}

func (a *app) plan(ctx context.Context, ids []string, asJSON bool, n int) error {
	e, err := a.setup(ctx, n)
	if err != nil {
		return err
	}
	targets, skipped, err := e.selected(ctx, ids)
	if err != nil {
		return err
	}
	plans := e.worker.plan(ctx, requests(targets, newEventID(), "onboarder plan", false))
	results := make([]accountResult, len(plans))
	for i, p := range plans {
		results[i] = accountResult{Name: targets[i].Name, Result: p}
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
		enc := json.NewEncoder(a.stdout) // results is never nil: an empty plan prints []
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

// step counts an account that finished, with where it ended.
func (p *progress) step(account, outcome string) {
	p.done++
	if p.bar != nil {
		_ = p.bar.Add(1)
		return
	}
	fmt.Fprintf(p.w, "[%d/%d] %s %s\n", p.done, p.total, account, outcome)
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
