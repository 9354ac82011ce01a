package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/crossaccount"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/target"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// stack is the stack reconciler: observe, Decide, act, Settle. A panic is a permanent failure
// of the pass, never of the process.
func (p *pass) stack(ctx context.Context) (res Result) {
	r := p.r
	res = Result{Account: p.req.Account, StackName: r.target().StackName(), DryRun: r.Cfg.DryRun, Action: ActionNone, Class: fault.None, Outcome: OutcomeDone}
	at := Setting{Account: p.req.Account, Role: r.Cfg.ExecutionRoleName, Now: p.now, Delays: r.delays(), StartsPerMinute: r.Cfg.MaxStartsPerMinute}
	defer func() {
		if v := recover(); v != nil {
			res = failure(res, fault.Permanentf("reconcile %s: internal error: %v", p.req.Account, v))
		}
	}()
	res, o, m, err := p.observe(ctx, res, &at)
	if err != nil {
		return failure(res, err)
	}
	if pre := p.pre; pre != nil {
		// The onboarder's own stack the vendor's needs (Vision One's trail stack) comes first:
		// a pass that has a step to take on it takes that one.
		pat := at
		pat.Where = pre.Where
		plan, row, err := p.decide(ctx, m, pre, pat, &res)
		if err != nil {
			return failure(res, err)
		}
		if plan.Step != ActionNone || plan.StartLogging || o.Desired == nil {
			res.StackName, res.StatusBefore, res.StatusAfter, res.Managed = pre.Desired.Name, statusOf(pre.Stack), statusOf(pre.Stack), pre.Stack.Managed()
			res.Row = string(row)
			return Settle(res, plan, p.act(ctx, m, *pre, plan, pat), pat)
		}
	}
	plan, row, err := p.decide(ctx, m, &o, at, &res)
	if err != nil {
		return failure(res, err)
	}
	res.Row = string(row)
	got := p.act(ctx, m, o, plan, at)
	return Settle(res, plan, got, at)
}

// decide decides on an observation, reading first what the plan asks for and deciding again
// with it: the template's parameters before a write from it, the vendor's view of an account
// whose stack is in sync.
func (p *pass) decide(ctx context.Context, m Member, o *Observation, at Setting, res *Result) (Plan, Row, error) {
	plan, row := Decide(*o)
	var err error
	switch {
	case plan.ReadTemplate && o.Desired.TemplateURL == "" && p.r.Cfg.DryRun:
		// A dry run of a target whose template is generated for the write (Vision One's, when
		// none is kept): there is none to read, and none is made. The plan is the write's.
		o.Template = stack.TemplateParams{}
		for _, n := range o.Desired.ParameterNames() {
			o.Template[n] = true
		}
		plan, row = Decide(*o)
		plan.Why += " (from a template " + p.r.target().Name() + " generates first: none is generated in a dry run)"
	case plan.ReadTemplate:
		made := ""
		if o.Desired.TemplateURL == "" && o.Desired.MakeTemplate != nil {
			// The template is made for the write, and only for one (Vision One generates it
			// when none is kept young: each generation is a new key in Vision One).
			if o.Desired.TemplateURL, made, err = o.Desired.MakeTemplate(ctx); err != nil {
				return plan, row, err
			}
		}
		if o.Template, err = p.template(ctx, m, *o.Desired, at); err != nil {
			return plan, row, err
		}
		plan, row = Decide(*o)
		if made != "" {
			plan.Why += " (" + made + ")"
		}
	case plan.ReadView:
		if o.View, err = p.r.target().View(ctx, p.creds, p.req.Account); err != nil {
			return plan, row, fmt.Errorf("read %s's view of account %s: %w", p.r.target().Name(), p.req.Account, err)
		}
		res.View = o.View
		plan, row = Decide(*o)
	}
	return plan, row, nil
}

// observe opens the account and reads what the decision needs, and nothing more: the stack;
// the stack's latest operation in the states where who caused it matters; the trails and the
// desired state when the stack may be written. It fills at with where the pass works.
func (p *pass) observe(ctx context.Context, res Result, at *Setting) (Result, Observation, Member, error) {
	r, req := p.r, p.req
	// Vendor names the target in every decision that speaks of it (the vendor's view of an
	// account in sync, an offboarding), not only in offboardings: without it a Vision One
	// account that failed was reported as "Cloud One reports account ... failed".
	o := Observation{Adopt: r.Cfg.AdoptExisting, RetryFailed: req.RetryFailed, Request: req.ID(),
		DryRun: r.Cfg.DryRun, Paced: r.Starts != nil, Now: p.now, Delays: at.Delays, HasView: r.target().HasView(),
		Vendor: r.target().Offboarding()}
	if err := config.ValidateAccountID(req.Account); err != nil {
		return res, o, Member{}, fault.Permanentf("reconcile request: %w", err)
	}
	creds, err := r.Secrets.Get(ctx)
	if err != nil {
		return res, o, Member{}, err
	}
	p.creds = creds
	region, err := r.target().Region(ctx, creds)
	if err != nil {
		return res, o, Member{}, err
	}
	res.Region, at.Region = region, region
	at.Where = r.target().StackName() + " in " + req.Account + "/" + region
	o.Where = at.Where
	if req.Offboard != "" {
		return p.observeOffboard(ctx, res, o, at)
	}
	m, err := r.Members.Member(ctx, req.Account, region)
	if err != nil {
		if m, err = p.fallBack(ctx, &res, at, err); err != nil {
			return res, o, m, err
		}
	}
	s, err := stack.Describe(ctx, m.CloudFormation, r.target().StackName())
	if err != nil {
		return res, o, m, fmt.Errorf("describe stack %s: %w", at.Where, at.memberErr("cloudformation:DescribeStacks", err))
	}
	o.Stack = s
	res.StatusBefore, res.StatusAfter, res.Managed = statusOf(s), statusOf(s), s.Managed()
	if s.Exists && !s.Managed() && !r.Cfg.AdoptExisting {
		return res, o, m, nil
	}
	state := stack.Classify(s)
	switch state {
	case stack.StateInProgress, stack.StateReview:
		return res, o, m, nil
	case stack.StateFailed, stack.StateRollbackBad, stack.StateDeleteFailed, stack.StateHalted:
		if o.LastOp, err = stack.LastOperation(ctx, m.CloudFormation, s.ID); err != nil {
			return res, o, m, fmt.Errorf("describe events of stack %s: %w", at.Where, at.memberErr("cloudformation:DescribeStackEvents", err))
		}
		if state == stack.StateDeleteFailed || state == stack.StateHalted {
			return res, o, m, nil
		}
	}
	if o.Desired, o.Trail, err = p.desire(ctx, m, s, region, at); err != nil {
		res.Trail = o.Trail
		return res, o, m, err
	}
	res.Trail = o.Trail
	if state == stack.StateComplete && s.Status == cfntypes.StackStatusUpdateRollbackComplete &&
		(s.Tags[stack.TagFingerprint] != o.Desired.Fingerprint() || len(changes(s, o.Desired)) > 0) {
		// A rolled-back update that the desired state would write again: whose was it?
		if o.LastOp, err = stack.LastOperation(ctx, m.CloudFormation, s.ID); err != nil {
			return res, o, m, fmt.Errorf("describe events of stack %s: %w", at.Where, at.memberErr("cloudformation:DescribeStackEvents", err))
		}
	}
	return res, o, m, nil
}

// observeOffboard observes an account that left the scope. An account that cannot be opened
// any more (closed, suspended: AssumeRole is denied, with the fallback role too) is not an
// error: it is observed unreachable, with what the ledger says was left there.
func (p *pass) observeOffboard(ctx context.Context, res Result, o Observation, at *Setting) (Result, Observation, Member, error) {
	r, req := p.r, p.req
	res.Offboard = req.Offboard
	prev := p.ledgerEntry(ctx)
	o.Offboard, o.OffboardWhy, o.Policy, o.WasOurs = req.Offboard, offboardWhy(req.Reason), r.Cfg.Offboard, prev != nil && prev.Managed
	o.Vendor, o.HasView = r.target().Offboarding(), r.target().HasView()
	o.Adopt, o.RetryFailed = false, false
	if req.Offboard == queue.OffboardExcluded {
		// Never touched: what the stack was is what the ledger last saw.
		if prev != nil {
			res.StatusBefore, res.StatusAfter = prev.StackStatus, prev.StackStatus
		}
		res.Managed = o.WasOurs
		return res, o, Member{}, nil
	}
	m, err := r.Members.Member(ctx, req.Account, at.Region)
	if err != nil {
		m, err = p.fallBack(ctx, &res, at, err)
	}
	switch {
	case err != nil && fault.ClassOf(err) == fault.Permanent:
		o.Unreachable = unreachable(err)
		res.StatusBefore, res.StatusAfter, res.Managed = ledger.StatusUnreachable, ledger.StatusUnreachable, o.WasOurs
		return res, o, m, nil
	case err != nil:
		return res, o, m, err
	}
	s, err := stack.Describe(ctx, m.CloudFormation, r.target().StackName())
	if fault.IsCode(err, "AccessDenied", "AccessDeniedException") {
		// Credentials assumed before the account was closed are refused after it.
		o.Unreachable = "cloudformation:DescribeStacks was denied"
		res.StatusBefore, res.StatusAfter, res.Managed = ledger.StatusUnreachable, ledger.StatusUnreachable, o.WasOurs
		return res, o, m, nil
	}
	if err != nil {
		return res, o, m, fmt.Errorf("describe stack %s: %w", at.Where, at.memberErr("cloudformation:DescribeStacks", err))
	}
	if name := r.target().PrerequisiteName(); !s.Exists && name != "" {
		// The vendor's stack is gone: the onboarder's own stack it needed goes next.
		pre, err := stack.Describe(ctx, m.CloudFormation, name)
		if err != nil {
			return res, o, m, fmt.Errorf("describe stack %s in %s/%s: %w", name, req.Account, at.Region, at.memberErr("cloudformation:DescribeStacks", err))
		}
		if pre.Exists {
			s, o.Where, at.Where, res.StackName, o.Prerequisite = pre, name+" in "+req.Account+"/"+at.Region, name+" in "+req.Account+"/"+at.Region, name, true
		}
	}
	o.Stack = s
	res.StatusBefore, res.StatusAfter, res.Managed = statusOf(s), statusOf(s), s.Managed()
	if s.Managed() && stack.Classify(s) == stack.StateDeleteFailed {
		if o.LastOp, err = stack.LastOperation(ctx, m.CloudFormation, s.ID); err != nil {
			return res, o, m, fmt.Errorf("describe events of stack %s: %w", at.Where, at.memberErr("cloudformation:DescribeStackEvents", err))
		}
	}
	return res, o, m, nil
}

// offboardWhy is the first reason of a request (merged requests join theirs with "; ").
func offboardWhy(reason string) string {
	first, _, _ := strings.Cut(reason, "; ")
	return first
}

// unreachable says briefly why an account could not be opened.
func unreachable(err error) string {
	var denied *crossaccount.DeniedError
	if errors.As(err, &denied) {
		return "sts:AssumeRole of " + denied.Role + " was denied"
	}
	return err.Error()
}

// assumeFailed classifies a failure to assume the execution role. AccessDenied is IAM's
// eventual consistency right after an account is created (the role can take minutes to be
// usable), so it is retried within the grace period after the account joined; later it is
// permanent and says what to check. waits reports the wait within the grace.
func assumeFailed(err error, account string, since time.Time, grace time.Duration, now time.Time) (_ error, waits bool) {
	var denied *crossaccount.DeniedError
	if !errors.As(err, &denied) {
		return err, false
	}
	if !since.IsZero() && now.Sub(since) < grace {
		return fault.Transientf("assume %s: access denied %s after the account joined (within the %s grace of a new account); retrying: %w",
			denied.Role, now.Sub(since).Round(time.Second), grace, denied.Err), true
	}
	return fault.Permanentf("assume %s: access denied: check that the role exists in account %s (the member StackSet of deploy/member.yaml makes it), that it trusts the reconcile role of the onboarder, and that no SCP denies sts:AssumeRole: %w",
		denied.Role, account, denied.Err), false
}

// fallBack opens the account with the fallback role (ONBOARDER_FALLBACK_ROLE_NAME) when the
// execution role is denied for good: after a new account's grace, during which the request
// waits for the member StackSet to make the role, or at once for an account of long standing.
// Without a fallback, or when the fallback is denied too, the pass fails as assumeFailed says.
func (p *pass) fallBack(ctx context.Context, res *Result, at *Setting, err error) (Member, error) {
	var denied *crossaccount.DeniedError
	isDenied := errors.As(err, &denied)
	err, res.waitsForRole = assumeFailed(err, p.req.Account, p.req.AccountSince, p.r.Cfg.AssumeRoleGrace, p.now)
	if p.r.Fallback == nil || !isDenied || fault.ClassOf(err) != fault.Permanent {
		return Member{}, err
	}
	m, ferr := p.r.Fallback.Member(ctx, p.req.Account, at.Region)
	if ferr != nil {
		return Member{}, fault.As(fault.ClassOf(err), fmt.Errorf("%w; the fallback role %s could not be assumed either: %v",
			err, p.r.Cfg.FallbackRoleName, ferr))
	}
	at.Role, at.Fallback = p.r.Cfg.FallbackRoleName, true
	res.Via = fmt.Sprintf("the fallback role %s: %s could not be assumed", p.r.Cfg.FallbackRoleName, denied.Role)
	return m, nil
}

func statusOf(s stack.Observed) string {
	if !s.Exists {
		return "ABSENT"
	}
	return string(s.Status)
}

// desire resolves the trail and builds the desired stack, as the target says.
func (p *pass) desire(ctx context.Context, m Member, obs stack.Observed, region string, at *Setting) (*stack.Desired, *trail.Choice, error) {
	r, t := p.r, p.r.target()
	in := trail.Input{Account: p.req.Account, Region: region, Mode: r.Cfg.TrailMode}
	if obs.Exists && stack.Classify(obs) == stack.StateComplete {
		t.Trail(obs, r.Cfg.AdoptExisting, &in)
	} else {
		t.Trail(stack.Observed{}, false, &in)
	}
	ch, err := trail.Resolve(ctx, m.Trails, in)
	if err != nil {
		return nil, &ch, at.memberErr("cloudtrail:DescribeTrails", err)
	}
	v, err := p.templateVersion(ctx)
	if err != nil {
		return nil, &ch, err
	}
	tin := target.Input{Account: p.req.Account, AccountName: p.req.AccountName, Region: region, Trail: ch, Version: v, Creds: p.creds, Now: p.now, Stack: obs}
	if pre := t.Prerequisite(tin); pre != nil {
		// The onboarder's own stack comes first: observed here, decided first by the pass; the
		// vendor's stack is built from its outputs once it is settled and in sync.
		po, err := p.observePrerequisite(ctx, m, pre, region, at)
		if err != nil {
			return nil, &ch, err
		}
		p.pre = &po
		if stack.Classify(po.Stack) != stack.StateComplete || po.Stack.Tags[stack.TagFingerprint] != pre.Fingerprint() {
			return nil, &ch, nil
		}
		if ch.TrailARN == "" {
			// The stack is in sync as CloudFormation sees it, yet the resolution found no usable
			// trail of it: its trail was deleted, or changed (its topic removed by UpdateTrail)
			// by someone. Built from its outputs, the vendor's stack would name a trail that
			// does not work; the prerequisite is made again first (Decide: RowDrifted).
			po.Drifted = drift(po.Stack.Outputs[target.OutputTrailARN], ch)
			return nil, &ch, nil
		}
		tin.Outputs = po.Stack.Outputs
	}
	d, err := t.Desired(ctx, tin)
	if err != nil {
		return nil, &ch, err
	}
	return &d, &ch, nil
}

// drift says what became of the trail the onboarder's trail stack made (arn, its output),
// from the resolution that did not find it usable: why it was passed over, or gone.
func drift(arn string, ch trail.Choice) string {
	name := arn[strings.LastIndex(arn, "/")+1:]
	for _, s := range ch.Skipped {
		if strings.HasPrefix(s, name+": ") {
			return "its trail " + arn + " is not usable (" + strings.TrimPrefix(s, name+": ") + ")"
		}
	}
	return "its trail " + arn + " is gone"
}

// observePrerequisite observes the onboarder's own stack the vendor's needs, as the vendor's
// is observed: the stack, and its latest operation where who caused its state matters.
func (p *pass) observePrerequisite(ctx context.Context, m Member, d *stack.Desired, region string, at *Setting) (Observation, error) {
	where := d.Name + " in " + p.req.Account + "/" + region
	o := Observation{Where: where, Desired: d, RetryFailed: p.req.RetryFailed, Request: p.req.ID(),
		DryRun: p.r.Cfg.DryRun, Paced: p.r.Starts != nil, Now: p.now, Delays: at.Delays}
	s, err := stack.Describe(ctx, m.CloudFormation, d.Name)
	if err != nil {
		return o, fmt.Errorf("describe stack %s: %w", where, at.memberErr("cloudformation:DescribeStacks", err))
	}
	o.Stack = s
	switch stack.Classify(s) {
	case stack.StateFailed, stack.StateRollbackBad, stack.StateDeleteFailed, stack.StateHalted:
		if o.LastOp, err = stack.LastOperation(ctx, m.CloudFormation, s.ID); err != nil {
			return o, fmt.Errorf("describe events of stack %s: %w", where, at.memberErr("cloudformation:DescribeStackEvents", err))
		}
	case stack.StateComplete:
		if s.Status == cfntypes.StackStatusUpdateRollbackComplete && s.Tags[stack.TagFingerprint] != d.Fingerprint() {
			if o.LastOp, err = stack.LastOperation(ctx, m.CloudFormation, s.ID); err != nil {
				return o, fmt.Errorf("describe events of stack %s: %w", where, at.memberErr("cloudformation:DescribeStackEvents", err))
			}
		}
	}
	return o, nil
}

// rolloutRead is the rollout item as a read ahead of its use found it.
type rolloutRead struct {
	ro  *rollout.Rollout
	err error
}

// readRolloutAhead starts the pass's read of the rollout item; templateVersion takes its
// answer. A pass that ends before it needs the version leaves the answer unread.
func (p *pass) readRolloutAhead(ctx context.Context) {
	ch := make(chan rolloutRead, 1)
	go func() {
		ro, err := p.r.Rollouts.Get(ctx)
		ch <- rolloutRead{ro: ro, err: err}
	}()
	p.roAhead = ch
}

// templateVersion is the template of the account's desired stack: the one in force, or,
// during a rollout, the version the account's wave has reached. A rollout that cannot be read
// fails the pass (transient): a version must not reach an account before its wave.
func (p *pass) templateVersion(ctx context.Context) (rollout.Version, error) {
	r := p.r
	if r.Rollouts != nil && p.ro == nil {
		var ro *rollout.Rollout
		var err error
		if p.roAhead != nil {
			got := <-p.roAhead
			p.roAhead, ro, err = nil, got.ro, got.err
		} else {
			ro, err = r.Rollouts.Get(ctx)
		}
		if err != nil {
			return rollout.Version{}, fault.Transientf("%v", err)
		}
		p.ro = ro
	}
	p.version = p.ro.TemplateFor(p.req.Account, rollout.Version{URL: r.Cfg.TemplateURL, Bucket: r.Cfg.QSS3BucketName, Prefix: r.Cfg.QSS3KeyPrefix})
	return p.version, nil
}

// template is what the desired stack's template declares, read in the member account, where
// the stack is written (the execution role may GetTemplateSummary): once per URL and process,
// for templateTTL. Errors name the template by its identity: a generated template's URL
// leads to a template that holds a key, and is never written down (target.VisionOne).
func (p *pass) template(ctx context.Context, m Member, d stack.Desired, at Setting) (stack.TemplateParams, error) {
	url := d.TemplateURL
	if v, ok := p.r.templates.Load(url); ok && p.now.Sub(v.(templateRead).at) < templateTTL {
		return v.(templateRead).params, nil
	}
	t, err := stack.ReadTemplate(ctx, m.CloudFormation, url)
	if err != nil {
		return nil, fmt.Errorf("read the parameters of template %s: %w", d.Template(), at.memberErr("cloudformation:GetTemplateSummary", err))
	}
	p.r.templates.Store(url, templateRead{params: t, at: p.now})
	return t, nil
}

// ledgerEntry reads the account's ledger entry once per pass; nil when there is none or it
// cannot be read (the caller then works without it).
func (p *pass) ledgerEntry(ctx context.Context) *ledger.Entry {
	if p.entryRead || p.r.Ledger == nil {
		return p.entry
	}
	p.entryRead = true
	e, found, err := p.r.Ledger.Get(ctx, p.req.Account)
	if err != nil {
		p.r.logger().WarnContext(ctx, "ledger entry not read", "account", p.req.Account, "error", err.Error())
		return nil
	}
	if found {
		p.entry = &e
	}
	return p.entry
}
