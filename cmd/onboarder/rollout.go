package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/operator"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/org"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
)

func (a *app) rolloutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout start|status|pause|resume",
		Short: "Roll a new version of the onboarding template out in waves: canary first, halt on failures",
		Long: `rollout moves the in-scope accounts from the template in force (ONBOARDER_TEMPLATE_URL, or
the last rollout's) to a new one in waves, as StackSets' failure tolerance and maximum
concurrency do for stack instances: the canary wave first (--canary accounts, or every
in-scope account under --canary-ou), then batches of --batch accounts (or --batch-percent of
them). The worker releases a wave when every account of the one before has settled (its stack
written with the new version and complete, or left alone), and halts the rollout when more
accounts of a wave failed than --failure-tolerance allows (the onboarder's own update rolled
back: the failed resource is named). Until its wave is released an account keeps the old
version, whatever the trigger (the sweep, a repair); an account that joins during the
rollout gets the new version once the canary wave passed.

It needs the reconcile function's ledger (the rollout is one item of it) and queue (start
and resume enqueue the wave's accounts). Before anything is written, start and resume
--template-url have the reconcile function read the version's template in the canary's (or
the current wave's) first account, with the execution role, as its stack writes will, and
refuse a template whose parameters are not the ones the onboarder sends, naming those it
does not declare and those it requires that the onboarder does not send.

  start   --template-url URL [--assets-bucket B --assets-prefix P] (--canary ID,... | --canary-ou OU)
          [--batch N | --batch-percent P] [--failure-tolerance N]
  status  where the rollout stands: its waves, the current wave's settled and failed accounts
  pause   stop releasing waves (the current wave's stacks go on)
  resume  [--template-url FIXED [--assets-bucket B --assets-prefix P]]: go on after a pause or a
          halt, with a fixed version if given (or the old one: a rollback in waves); the current
          wave's accounts that did not settle are enqueued again

For Cloud One, a version is the main template's URL and, with --assets-bucket and
--assets-prefix, where its nested templates are (the QSS3BucketName and QSS3KeyPrefix
parameters of Trend's template, from which it builds their URLs); without them the configured
ones (ONBOARDER_QSS3_BUCKET_NAME, ONBOARDER_QSS3_KEY_PREFIX) stay. For Vision One
(ONBOARDER_TARGET=visionone), whose templates Vision One generates, a version is a label,
visionone:<label>: rolling out visionone:2 has every account's stack written, wave by wave,
from a template Vision One generates now (what turns an account Vision One calls outdated
into a current one); the template check then happens before each write, in the worker. One
rollout at a time: a halted one is resumed, not replaced.

Exit codes: 0 done, 1 a failure (or, for status, a halted rollout), 2 usage error.`,
		Example: "  onboarder rollout start --template-url https://bucket.s3.amazonaws.com/trend/v2/main.template.yaml --canary 012345678901 --batch-percent 10\n" +
			"  onboarder rollout status\n  onboarder rollout resume --template-url https://bucket.s3.amazonaws.com/trend/v2.1/main.template.yaml\n" +
			"  onboarder rollout start --template-url visionone:2 --canary-ou ou-abcd-12345678 --batch 50",
	}
	var (
		to, canaryOU     string
		canary           []string
		batch, tolerance int
		percent          float64
		asJSON           bool
		assets           [2]string // bucket, prefix
	)
	// version is the version the flags name (nil: none named).
	version := func(cmd *cobra.Command) (*rollout.Version, error) {
		set := cmd.Flags().Changed("assets-bucket") || cmd.Flags().Changed("assets-prefix")
		switch {
		case to == "" && set:
			return nil, usageErrorf("--assets-bucket and --assets-prefix go with --template-url")
		case to == "":
			return nil, nil
		case strings.HasPrefix(to, config.VisionOneVersionPrefix) && set:
			return nil, usageErrorf("--assets-bucket and --assets-prefix are Cloud One's: a Vision One version (%s) has no assets", to)
		case strings.HasPrefix(to, config.VisionOneVersionPrefix) && !config.VisionOneVersion(to):
			return nil, usageErrorf("--template-url=%q: a Vision One version is visionone:<label>, the label of letters, digits, '.', '_' or '-'", to)
		case strings.HasPrefix(to, config.VisionOneVersionPrefix):
		case !strings.HasPrefix(to, "https://") && !strings.HasPrefix(to, "http://"):
			return nil, usageErrorf("--template-url=%q: must be an http(s) URL (Cloud One) or visionone:<label> (Vision One)", to)
		case set && (!cmd.Flags().Changed("assets-bucket") || !cmd.Flags().Changed("assets-prefix")):
			return nil, usageErrorf("--assets-bucket and --assets-prefix go together (the prefix may be \"\")")
		}
		v := &rollout.Version{URL: to}
		if set {
			if errs := config.ValidateAssets("--assets-bucket", assets[0], "--assets-prefix", assets[1]); len(errs) > 0 {
				return nil, usageErrorf("%v", errors.Join(errs...))
			}
			v.Bucket, v.Prefix = assets[0], assets[1]
		}
		return v, nil
	}
	start := &cobra.Command{Use: "start", Short: "Start a rollout of a new template version",
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			v, err := version(cmd)
			switch {
			case err != nil:
				return err
			case v == nil:
				return usageErrorf("--template-url: required, the new version's URL")
			case len(canary) == 0 && canaryOU == "":
				return usageErrorf("name the canary wave: --canary ID (repeatable) or --canary-ou OU")
			case batch < 0, tolerance < 0, percent < 0 || percent > 100:
				return usageErrorf("--batch and --failure-tolerance must not be negative; --batch-percent is 0 to 100")
			case batch > 0 && percent > 0:
				return usageErrorf("--batch and --batch-percent exclude each other")
			}
			ids, err := accountIDs(canary, nil)
			if err != nil {
				return err
			}
			return a.rolloutStart(cmd.Context(), *v, ids, canaryOU, batch, percent, tolerance)
		})}
	assetFlags := func(c *cobra.Command) {
		c.Flags().StringVar(&assets[0], "assets-bucket", "", "the version's QSS3BucketName: the `bucket` of its nested templates")
		c.Flags().StringVar(&assets[1], "assets-prefix", "", "the version's QSS3KeyPrefix: their key `prefix` (ends with /, or empty)")
	}
	start.Flags().StringVar(&to, "template-url", "", "`URL` of the new template version")
	assetFlags(start)
	start.Flags().StringSliceVar(&canary, "canary", nil, "canary account `ID` (repeatable, or comma separated)")
	start.Flags().StringVar(&canaryOU, "canary-ou", "", "every in-scope account under this `OU` is in the canary wave")
	start.Flags().IntVar(&batch, "batch", 0, "accounts per wave after the canary (0: the rest in one wave)")
	start.Flags().Float64Var(&percent, "batch-percent", 0, "accounts per wave after the canary, as a percentage of the in-scope accounts")
	start.Flags().IntVar(&tolerance, "failure-tolerance", 0, "accounts of a wave that may fail without halting the rollout")
	status := &cobra.Command{Use: "status", Short: "Show where the rollout stands",
		RunE: runE(func(cmd *cobra.Command, args []string) error { return a.rolloutStatus(cmd.Context(), asJSON) })}
	status.Flags().BoolVar(&asJSON, "json", false, "print the rollout as JSON")
	pause := &cobra.Command{Use: "pause", Short: "Stop releasing waves",
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return a.rolloutSetState(cmd.Context(), rollout.Paused, nil)
		})}
	resume := &cobra.Command{Use: "resume", Short: "Go on after a pause or a halt",
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			v, err := version(cmd)
			if err != nil {
				return err
			}
			return a.rolloutSetState(cmd.Context(), rollout.Running, v)
		})}
	resume.Flags().StringVar(&to, "template-url", "", "`URL` of a fixed version to go on with")
	assetFlags(resume)
	cmd.AddCommand(start, status, pause, resume)
	return cmd
}

// rolloutEnv is what the rollout commands use: the store and the queue.
func (a *app) rolloutEnv(ctx context.Context, needQueue bool) (*env, *rollout.Store, *queue.Sender, error) {
	e, err := a.setup(ctx, 1)
	if err != nil {
		return nil, nil, nil, err
	}
	store, err := e.rollouts()
	if err != nil {
		return nil, nil, nil, err
	}
	var q *queue.Sender
	if needQueue {
		if q, err = e.sender(); err != nil {
			return nil, nil, nil, err
		}
	}
	return e, store, q, nil
}

// checkVersion asks the reconcile function to read the template of a version in account, as
// a stack write there reads it, and refuses a template whose parameters are not the ones the
// onboarder sends (stack.ReadTemplate and TemplateParams.Mismatch, the worker's own check
// before every write, which validate's template check runs too). Nothing is written before it
// passes.
func (e *env) checkVersion(ctx context.Context, v rollout.Version, account string) error {
	if err := sameTarget(e.cfg.Target, v); err != nil {
		return err
	}
	checks, err := e.worker.check(ctx, operator.Request{Checks: []string{operator.CheckTemplate}, Accounts: []string{account}, Template: &v})
	if err != nil {
		return fmt.Errorf("refused, nothing was written: the template of %s could not be checked: %w", v.URL, err)
	}
	c, ok := checkNamed(checks, operator.CheckTemplate)
	switch {
	case !ok:
		return fmt.Errorf("refused, nothing was written: the reconcile function did not check the template of %s", v.URL)
	case !c.OK:
		return fmt.Errorf("refused, nothing was written: %s", c.Detail)
	}
	return nil
}

func (a *app) rolloutStart(ctx context.Context, to rollout.Version, canary []string, canaryOU string, batch int, percent float64, tolerance int) error {
	e, store, q, err := a.rolloutEnv(ctx, true)
	if err != nil {
		return err
	}
	prev, err := store.Get(ctx)
	if err != nil {
		return err
	}
	if prev != nil && prev.State != rollout.Done {
		return fmt.Errorf("rollout %s is %s: %w", prev.ID, prev.State, rollout.ErrBusy)
	}
	// A done rollout's version, unless the configuration changed since.
	from := prev.InForce(rollout.Version{URL: e.cfg.TemplateURL, Bucket: e.cfg.QSS3BucketName, Prefix: e.cfg.QSS3KeyPrefix})
	if to.Bucket == "" {
		to.Bucket, to.Prefix = from.Bucket, from.Prefix // the assets stay where they are
	}
	if from == to {
		return fmt.Errorf("--template-url is the template in force (%s): nothing to roll out", to)
	}
	targets, _, err := e.targets(ctx, nil)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		return errors.New("no account is in scope: nothing to roll out")
	}
	accounts := make([]string, 0, len(targets))
	for _, t := range targets {
		accounts = append(accounts, t.ID)
	}
	if canaryOU != "" {
		under := &org.Scope{API: e.scope.api, Cfg: config.Config{IncludeOUs: []string{canaryOU}}}
		for _, id := range accounts {
			in, _, err := under.Included(ctx, id, "")
			if err != nil {
				return err
			}
			if in {
				canary = append(canary, id)
			}
		}
	}
	if percent > 0 {
		batch = max(1, int(math.Ceil(percent*float64(len(accounts))/100)))
	}
	waves, err := rollout.Plan(accounts, canary, batch)
	if err != nil {
		return usageErrorf("%v", err)
	}
	if err := e.checkVersion(ctx, to, waves[0][0]); err != nil {
		return err
	}
	r := rollout.Rollout{ID: "rollout-" + newEventID(), From: from, To: to, Waves: waves, Tolerance: tolerance,
		Reason: fmt.Sprintf("started by the operator: wave 1 of %d (the canary) released", len(waves))}
	if err := store.Start(ctx, r); err != nil {
		return err
	}
	if err := reconcile.SQSRelease(q)(ctx, &r, 0, "released", waves[0]); err != nil {
		return fmt.Errorf("rollout %s started, but its canary wave was not enqueued (the next sweep reconciles it): %w", r.ID, err)
	}
	fmt.Fprintf(a.stdout, "rollout %s started: %s -> %s\n", r.ID, from, to)
	for i, w := range waves {
		fmt.Fprintf(a.stdout, "  wave %d: %d accounts%s\n", i+1, len(w), map[bool]string{true: " (canary, enqueued)"}[i == 0])
	}
	fmt.Fprintf(a.stdout, "failure tolerance: %d per wave; follow it with onboarder rollout status\n", tolerance)
	return nil
}

func (a *app) rolloutStatus(ctx context.Context, asJSON bool) error {
	_, store, _, err := a.rolloutEnv(ctx, false)
	if err != nil {
		return err
	}
	r, err := store.Get(ctx)
	if err != nil {
		return err
	}
	if r == nil {
		fmt.Fprintln(a.stdout, "no rollout")
		return nil
	}
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "rollout %s: %s, wave %d of %d\n  from %s\n  to   %s\n  %s\n", r.ID, strings.ToUpper(string(r.State)),
			min(r.Wave+1, len(r.WaveSizes())), len(r.WaveSizes()), r.From, r.To, scrubText(r.Reason))
		for i, n := range r.WaveSizes() {
			line := fmt.Sprintf("  wave %d: %d accounts", i+1, n)
			switch {
			case i < r.Wave || r.State == rollout.Done:
				line += ": settled"
			case i == r.Wave:
				settled, failed, pending := 0, 0, []string{}
				for _, acc := range r.Waves[i] {
					if _, f := r.Failed[acc]; f {
						failed++
					} else if contains(r.Settled, acc) {
						settled++
					} else {
						pending = append(pending, acc)
					}
				}
				line += fmt.Sprintf(": %d settled, %d failed, %d under way", settled, failed, len(pending))
			default:
				line += ": not released"
			}
			fmt.Fprintln(a.stdout, line)
		}
		for _, acc := range slices.Sorted(maps.Keys(r.Failed)) {
			fmt.Fprintf(a.stdout, "  failed: %s: %s\n", acc, scrubText(r.Failed[acc]))
		}
	}
	if r.State == rollout.Halted {
		return exitWith(exitFailure)
	}
	return nil
}

func (a *app) rolloutSetState(ctx context.Context, state rollout.State, to *rollout.Version) error {
	e, store, q, err := a.rolloutEnv(ctx, state == rollout.Running)
	if err != nil {
		return err
	}
	if to != nil {
		// The fixed version is read where the current wave runs, before anything is written.
		cur, err := store.Get(ctx)
		if err != nil {
			return err
		}
		if cur == nil {
			return errors.New("no rollout to resume")
		}
		account := ""
		if cur.Wave < len(cur.Waves) && len(cur.Waves[cur.Wave]) > 0 {
			account = cur.Waves[cur.Wave][0]
		} else if targets, _, err := e.targets(ctx, nil); err == nil && len(targets) > 0 {
			account = targets[0].ID
		}
		if account == "" {
			return errors.New("refused, nothing was written: no account to read the fixed version's template in")
		}
		v := *to
		if v.Bucket == "" {
			v.Bucket, v.Prefix = cur.To.Bucket, cur.To.Prefix
		}
		if err := e.checkVersion(ctx, v, account); err != nil {
			return err
		}
	}
	r, again, err := store.SetState(ctx, state, to)
	if err != nil {
		return err
	}
	if state == rollout.Paused {
		fmt.Fprintf(a.stdout, "rollout %s paused at wave %d of %d: no further wave is released\n", r.ID, r.Wave+1, len(r.Waves))
		return nil
	}
	// The current wave's accounts that did not settle go again (with the fixed version); a wave
	// that already settled is moved on.
	if len(again) > 0 {
		if err := reconcile.SQSRelease(q)(ctx, r, r.Wave, "resumed-"+newEventID(), again); err != nil {
			return fmt.Errorf("rollout %s resumed, but its wave's accounts were not enqueued again: %w", r.ID, err)
		}
	}
	now, err := store.Get(ctx)
	if err != nil {
		return err
	}
	next, err := store.Advance(ctx, now)
	if err != nil {
		return err
	}
	if len(next) > 0 {
		if err := reconcile.SQSRelease(q)(ctx, now, now.Wave+1, "released", next); err != nil {
			return fmt.Errorf("rollout %s resumed and released wave %d, but its accounts were not enqueued (the next sweep reconciles them): %w", r.ID, now.Wave+2, err)
		}
	}
	fmt.Fprintf(a.stdout, "rollout %s resumed at wave %d of %d (%s): %d accounts enqueued again\n", r.ID, r.Wave+1, len(r.Waves), r.To, len(again))
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// sameTarget refuses a version of the other target's kind: a URL for Vision One, whose
// templates Vision One generates, or a Vision One label for Cloud One's template.
func sameTarget(target string, v rollout.Version) error {
	vision := strings.HasPrefix(v.URL, config.VisionOneVersionPrefix)
	switch {
	case target == config.TargetVisionOne && !vision:
		return fmt.Errorf("refused, nothing was written: the onboarder connects accounts to Vision One (ONBOARDER_TARGET=%s), whose templates Vision One generates: name a version as visionone:<label>, not %s", target, v.URL)
	case target != config.TargetVisionOne && vision:
		return fmt.Errorf("refused, nothing was written: %s is a Vision One version, and the onboarder connects accounts to Cloud One (ONBOARDER_TARGET=%s): name the template's URL", v.URL, target)
	}
	return nil
}
