// Package reconcile brings one account's onboarding stack a step closer to the desired state
// per call, like a controller: it observes (the stack, its latest operation, the trails),
// decides with a pure function (Decide, the state table of ARCHITECTURE.md), takes at most
// one step (one stack write, after starting the forwarding trail again if it was stopped)
// and returns. Nothing waits for CloudFormation: a result with RetryAfter asks to be called
// again for the same request after that delay, when the operation it started or saw has
// moved on.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/crossaccount"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// Secrets gives the Cloud One credentials (cached by secretstore.Store).
type Secrets interface {
	Get(ctx context.Context) (secret.Credentials, error)
}

// KeyDescriber reads an API key's Cloud One region (cloudone.Client).
type KeyDescriber interface {
	Describe(ctx context.Context, apiKey secret.Value) (cloudone.Key, error)
}

// CloudFormationAPI is the part of the CloudFormation client the reconcile uses.
type CloudFormationAPI interface {
	cloudformation.DescribeStacksAPIClient
	stack.EventsAPI
	CreateStack(ctx context.Context, in *cloudformation.CreateStackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.CreateStackOutput, error)
	UpdateStack(ctx context.Context, in *cloudformation.UpdateStackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.UpdateStackOutput, error)
	DeleteStack(ctx context.Context, in *cloudformation.DeleteStackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DeleteStackOutput, error)
	ContinueUpdateRollback(ctx context.Context, in *cloudformation.ContinueUpdateRollbackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.ContinueUpdateRollbackOutput, error)
}

// Member is a member account's clients in the stack's region.
type Member struct {
	CloudFormation CloudFormationAPI
	Trails         trail.Clients
}

// Members opens member accounts (crossaccount.Assumer behind AWSMembers): Reconciler.Members
// with the execution role, Reconciler.Fallback with ONBOARDER_FALLBACK_ROLE_NAME.
type Members interface {
	Member(ctx context.Context, account, region string) (Member, error)
}

// Ledger keeps the last decision per account (ledger.Table).
type Ledger interface {
	Get(ctx context.Context, account string) (ledger.Entry, bool, error)
	Put(ctx context.Context, e ledger.Entry) error
}

// Starts paces stack operation starts across the Organization (starts.Limiter): Take returns
// the time of the slot it reserved; a slot not yet due is waited for.
type Starts interface {
	Take(ctx context.Context) (time.Time, error)
}

// Rollouts is the rollout of a new template version in waves (*rollout.Store).
type Rollouts interface {
	Get(ctx context.Context) (*rollout.Rollout, error)
	Record(ctx context.Context, id string, wave int, account string, failed bool, why string) (*rollout.Rollout, error)
	Advance(ctx context.Context, r *rollout.Rollout) ([]string, error)
}

// Reconciler reconciles accounts. Its fields are its dependencies; New wires the real ones.
type Reconciler struct {
	Cfg      config.Config
	Secrets  Secrets
	CloudOne KeyDescriber
	Members  Members
	Fallback Members // nil: no fallback role (ONBOARDER_FALLBACK_ROLE_NAME)
	Ledger   Ledger  // nil: no ledger (no failure count, no start slots kept)
	Starts   Starts  // nil: stack starts are not paced
	// Rollouts, when set, chooses each account's template (a rollout in waves) and records
	// the passes of the accounts of the current wave; Release enqueues a wave it released.
	Rollouts Rollouts
	Release  func(ctx context.Context, r *rollout.Rollout, wave int, why string, accounts []string) error
	Log      *slog.Logger
	Now      func() time.Time
}

// pass is one call of Reconcile: what it learned on the way.
type pass struct {
	r     *Reconciler
	req   queue.Request
	res   *Result
	creds secret.Credentials
	where string

	entry     *ledger.Entry // the account's ledger entry, read at most once
	entryRead bool
	slot      time.Time // the start slot this pass holds (scheduled or used)
	fallback  bool      // the account was opened with the fallback role
	// roleWait: the execution role was denied within a new account's grace; the pass waits
	// for it (not a failure that counts: the grace bounds the wait).
	roleWait bool
	// ro is the rollout read for this pass (nil: none), version the template version the
	// desired state used (zero: none was built).
	ro      *rollout.Rollout
	version rollout.Version
}

// Reconcile takes one step for one account and says what it did. It never panics and never
// waits for CloudFormation; a failure is in the result's Class and Err, and RetryAfter > 0
// asks for the same request again after that delay.
func (r *Reconciler) Reconcile(ctx context.Context, req queue.Request) (res Result) {
	res = Result{Account: req.Account, StackName: r.Cfg.StackName, DryRun: r.Cfg.DryRun, Action: ActionNone, Class: fault.None}
	p := &pass{r: r, req: req, res: &res}
	defer func() {
		if v := recover(); v != nil {
			p.fail(fault.Permanentf("reconcile %s: internal error: %v", req.Account, v))
		}
		p.finish(ctx)
	}()
	if err := p.run(ctx); err != nil {
		p.fail(err)
	}
	return res
}

func (p *pass) run(ctx context.Context) error {
	r, req, res := p.r, p.req, p.res
	if err := config.ValidateAccountID(req.Account); err != nil {
		return fault.Permanentf("reconcile request: %w", err)
	}
	creds, err := r.Secrets.Get(ctx)
	if err != nil {
		return err
	}
	p.creds = creds
	region, err := r.awsRegion(ctx, creds)
	if err != nil {
		return err
	}
	res.Region = region
	p.where = r.Cfg.StackName + " in " + req.Account + "/" + region
	if req.Offboard != "" {
		return p.offboard(ctx, region)
	}
	m, err := r.Members.Member(ctx, req.Account, region)
	if err != nil {
		if m, err = p.fallBack(ctx, region, err); err != nil {
			return err
		}
	}
	obs, err := p.observe(ctx, m)
	if err != nil {
		return err
	}
	plan, row := Decide(obs)
	res.Row = string(row)
	return p.act(ctx, m, obs, plan)
}

// offboard takes one step of the offboarding of an account that left the scope. An account
// that cannot be opened any more (closed, suspended: AssumeRole is denied, with the fallback
// role too) is not an error: it is reported, with what the ledger says was left there.
func (p *pass) offboard(ctx context.Context, region string) error {
	r, req, res := p.r, p.req, p.res
	res.Offboard = req.Offboard
	prev := p.ledgerEntry(ctx)
	o := Observation{Where: p.where, Offboard: req.Offboard, OffboardWhy: offboardWhy(req.Reason), Policy: r.Cfg.Offboard,
		Request: req.ID(), WasOurs: prev != nil && prev.Managed}
	m, err := r.Members.Member(ctx, req.Account, region)
	if err != nil {
		m, err = p.fallBack(ctx, region, err)
	}
	switch {
	case err != nil && fault.ClassOf(err) == fault.Permanent:
		o.Unreachable = unreachable(err)
		res.StatusBefore, res.StatusAfter, res.Managed = ledger.StatusUnreachable, ledger.StatusUnreachable, o.WasOurs
	case err != nil:
		return err
	default:
		s, err := stack.Describe(ctx, m.CloudFormation, r.Cfg.StackName)
		if fault.IsCode(err, "AccessDenied", "AccessDeniedException") {
			// Credentials assumed before the account was closed are refused after it.
			o.Unreachable = "cloudformation:DescribeStacks was denied"
			res.StatusBefore, res.StatusAfter, res.Managed = ledger.StatusUnreachable, ledger.StatusUnreachable, o.WasOurs
			break
		}
		if err != nil {
			return fmt.Errorf("describe stack %s: %w", p.where, p.memberErr("cloudformation:DescribeStacks", err))
		}
		o.Stack = s
		res.StatusBefore, res.StatusAfter, res.Managed = statusOf(s), statusOf(s), s.Managed()
		if s.Managed() && stack.Classify(s) == stack.StateDeleteFailed {
			if o.LastOp, err = stack.LastOperation(ctx, m.CloudFormation, s.ID); err != nil {
				return fmt.Errorf("describe events of stack %s: %w", p.where, p.memberErr("cloudformation:DescribeStackEvents", err))
			}
		}
	}
	plan, row := Decide(o)
	res.Row = string(row)
	return p.act(ctx, m, o, plan)
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
// permanent and says what to check.
func (p *pass) assumeFailed(err error) error {
	var denied *crossaccount.DeniedError
	if !errors.As(err, &denied) {
		return err
	}
	since, grace := p.req.AccountSince, p.r.Cfg.AssumeRoleGrace
	if !since.IsZero() && p.r.now().Sub(since) < grace {
		p.roleWait = true
		return fault.Transientf("assume %s: access denied %s after the account joined (within the %s grace of a new account); retrying: %w",
			denied.Role, p.r.now().Sub(since).Round(time.Second), grace, denied.Err)
	}
	return fault.Permanentf("assume %s: access denied: check that the role exists in account %s (the member StackSet of deploy/member.yaml makes it), that it trusts the reconcile role of the onboarder, and that no SCP denies sts:AssumeRole: %w",
		denied.Role, p.req.Account, denied.Err)
}

// fallBack opens the account with the fallback role (ONBOARDER_FALLBACK_ROLE_NAME) when the
// execution role is denied for good: after a new account's grace, during which the request
// waits for the member StackSet to make the role, or at once for an account of long standing.
// Without a fallback, or when the fallback is denied too, the pass fails as assumeFailed says.
func (p *pass) fallBack(ctx context.Context, region string, err error) (Member, error) {
	var denied *crossaccount.DeniedError
	isDenied := errors.As(err, &denied)
	err = p.assumeFailed(err)
	if p.r.Fallback == nil || !isDenied || fault.ClassOf(err) != fault.Permanent {
		return Member{}, err
	}
	m, ferr := p.r.Fallback.Member(ctx, p.req.Account, region)
	if ferr != nil {
		return Member{}, fault.As(fault.ClassOf(err), fmt.Errorf("%w; the fallback role %s could not be assumed either: %v",
			err, p.r.Cfg.FallbackRoleName, ferr))
	}
	p.fallback = true
	p.res.Via = fmt.Sprintf("the fallback role %s: %s could not be assumed", p.r.Cfg.FallbackRoleName, denied.Role)
	return m, nil
}

// observe reads what the decision needs, and nothing more: the stack; the stack's latest
// operation in the states where who caused it matters; the trails and the desired state when
// the stack may be written.
func (p *pass) observe(ctx context.Context, m Member) (Observation, error) {
	r, res := p.r, p.res
	o := Observation{Where: p.where, Adopt: r.Cfg.AdoptExisting, RetryFailed: p.req.RetryFailed, Request: p.req.ID()}
	s, err := stack.Describe(ctx, m.CloudFormation, r.Cfg.StackName)
	if err != nil {
		return o, fmt.Errorf("describe stack %s: %w", p.where, p.memberErr("cloudformation:DescribeStacks", err))
	}
	o.Stack = s
	res.StatusBefore, res.StatusAfter, res.Managed = statusOf(s), statusOf(s), s.Managed()
	if s.Exists && !s.Managed() && !r.Cfg.AdoptExisting {
		return o, nil
	}
	state := stack.Classify(s)
	switch state {
	case stack.StateInProgress, stack.StateReview:
		return o, nil
	case stack.StateFailed, stack.StateRollbackBad, stack.StateDeleteFailed, stack.StateHalted:
		if o.LastOp, err = stack.LastOperation(ctx, m.CloudFormation, s.ID); err != nil {
			return o, fmt.Errorf("describe events of stack %s: %w", p.where, p.memberErr("cloudformation:DescribeStackEvents", err))
		}
		if state == stack.StateDeleteFailed || state == stack.StateHalted {
			return o, nil
		}
	}
	if o.Desired, o.Trail, err = p.desire(ctx, m, s); err != nil {
		return o, err
	}
	if state == stack.StateComplete && s.Status == cfntypes.StackStatusUpdateRollbackComplete &&
		(s.Tags[stack.TagFingerprint] != o.Desired.Fingerprint() || len(changes(s, o.Desired)) > 0) {
		// A rolled-back update that the desired state would write again: whose was it?
		if o.LastOp, err = stack.LastOperation(ctx, m.CloudFormation, s.ID); err != nil {
			return o, fmt.Errorf("describe events of stack %s: %w", p.where, p.memberErr("cloudformation:DescribeStackEvents", err))
		}
	}
	return o, nil
}

func statusOf(s stack.Observed) string {
	if !s.Exists {
		return "ABSENT"
	}
	return string(s.Status)
}

// desire resolves the trail and builds the desired stack.
func (p *pass) desire(ctx context.Context, m Member, obs stack.Observed) (*stack.Desired, *trail.Choice, error) {
	r, res := p.r, p.res
	in := trail.Input{Account: p.req.Account, Region: res.Region, Mode: r.Cfg.TrailMode}
	if obs.Exists && stack.Classify(obs) == stack.StateComplete {
		if obs.Params[stack.ParamCreateNew] == "True" {
			in.CurrentNew = obs.Managed() || r.Cfg.AdoptExisting
		} else {
			in.CurrentBucket = obs.Params[stack.ParamBucket]
		}
	}
	ch, err := trail.Resolve(ctx, m.Trails, in)
	res.Trail = &ch
	if err != nil {
		return nil, &ch, p.memberErr("cloudtrail:DescribeTrails", err)
	}
	createNew, bucket := "False", ch.Bucket
	if ch.CreateNewTrail {
		createNew, bucket = "True", ""
	}
	v, err := p.templateVersion(ctx)
	if err != nil {
		return nil, &ch, err
	}
	qsBucket, qsPrefix := r.Cfg.QSS3BucketName, r.Cfg.QSS3KeyPrefix
	if v.Bucket != "" {
		qsBucket, qsPrefix = v.Bucket, v.Prefix
	}
	return &stack.Desired{
		Name:        r.Cfg.StackName,
		TemplateURL: v.URL,
		Params: map[string]string{
			stack.ParamCreateNew:     createNew,
			stack.ParamBucket:        bucket,
			stack.ParamQSS3Bucket:    qsBucket,
			stack.ParamQSS3KeyPrefix: qsPrefix,
		},
		Creds: p.creds,
	}, &ch, nil
}

// templateVersion is the template of the account's desired stack: the one in force, or,
// during a rollout, the version the account's wave has reached. A rollout that cannot be read
// fails the pass (transient): a version must not reach an account before its wave.
func (p *pass) templateVersion(ctx context.Context) (rollout.Version, error) {
	r := p.r
	if r.Rollouts != nil && p.ro == nil {
		ro, err := r.Rollouts.Get(ctx)
		if err != nil {
			return rollout.Version{}, fault.Transientf("%v", err)
		}
		p.ro = ro
	}
	p.version = p.ro.TemplateFor(p.req.Account, rollout.Version{URL: r.Cfg.TemplateURL})
	return p.version, nil
}

// recordRollout records the end of a pass of an account of a rollout's current wave (settled,
// or failed with the reason), and releases the next wave when this pass completed the wave.
// A pass that comes back later, or that built its stack from the old version (it read the
// rollout before its wave was released), records nothing.
func (p *pass) recordRollout(ctx context.Context) {
	r, res, ro := p.r, p.res, p.ro
	if ro == nil || r.Rollouts == nil || res.DryRun || (ro.State != rollout.Running && ro.State != rollout.Paused) {
		return
	}
	wave := ro.WaveOf(p.req.Account)
	if wave != ro.Wave || (p.version != rollout.Version{} && p.version != ro.To) {
		return
	}
	var failed bool
	switch {
	case res.Class == fault.None && res.RetryAfter == 0:
	case res.Class == fault.NeedsPerson || res.Class == fault.Permanent || res.GiveUp:
		failed = true
	default:
		return // not done yet
	}
	why := res.Reason
	if res.Failed != nil {
		why = res.Failed.String()
	}
	now, err := r.Rollouts.Record(ctx, ro.ID, wave, p.req.Account, failed, why)
	if err == nil && now != nil {
		var next []string
		if next, err = r.Rollouts.Advance(ctx, now); err == nil && len(next) > 0 && r.Release != nil {
			if err = r.Release(ctx, now, now.Wave+1, "released", next); err == nil {
				r.logger().InfoContext(ctx, "rollout wave released", "rollout", now.ID, "wave", now.Wave+2, "of", len(now.Waves), "accounts", len(next), "template", now.To.String())
			}
		}
	}
	if err != nil {
		r.logger().ErrorContext(ctx, "rollout not recorded: the next sweep records this account again", "rollout", ro.ID, "account", p.req.Account, "error", err.Error())
	}
}

// memberErr classifies an error of a call in the member account: AccessDenied there is an
// SCP or a missing permission of the execution role, which retrying cannot fix (permanent,
// naming the action); the rest keeps its class.
func (p *pass) memberErr(action string, err error) error {
	if fault.IsCode(err, "AccessDenied", "AccessDeniedException") {
		role := p.r.Cfg.ExecutionRoleName
		if p.fallback {
			role = p.r.Cfg.FallbackRoleName
		}
		return fault.Permanentf("%s in %s/%s was denied (an SCP, or a missing permission of role %s): %w",
			action, p.req.Account, p.res.Region, role, err)
	}
	return err
}

// act carries out a plan. It holds no decisions beyond how to run a step: pacing, the token,
// and the answers of CloudFormation that mean "not now".
func (p *pass) act(ctx context.Context, m Member, o Observation, plan Plan) error {
	r, res := p.r, p.res
	res.Action, res.Reason, res.Changes, res.Failed, res.Left = plan.Step, plan.Why, plan.Changes, plan.Failed, plan.Left
	if plan.StartLogging {
		t := *o.Trail
		if r.Cfg.DryRun {
			res.Steps = append(res.Steps, Step{Action: ActionStartLogging, Detail: "dry run: would start logging on trail " + t.TrailName})
		} else {
			if err := trail.Start(ctx, m.Trails, t); err != nil {
				return p.memberErr("cloudtrail:StartLogging", err)
			}
			res.Trail.Why = t.Why + ": logging started again"
			p.did(ctx, ActionStartLogging, "started logging again on trail "+t.TrailName+" ("+t.TrailARN+")")
		}
	}
	switch plan.Step {
	case ActionNone, ActionLeaveAlone, ActionStartLogging, ActionOffboarded:
		return nil
	case ActionWait:
		res.RetryAfter = r.checkDelay(o.Stack.Started())
		return nil
	case ActionNeedsPerson:
		return fault.NeedsPersonf("%s", plan.Why)
	}
	if r.Cfg.DryRun {
		res.Steps = append(res.Steps, Step{Action: plan.Step, Detail: "dry run: would " + plan.Why})
		return nil
	}
	if scheduled, err := p.pace(ctx); err != nil || scheduled {
		return err
	}
	return p.write(ctx, m, o, plan)
}

// pace holds back a stack write until the Organization-wide start schedule has a slot for it
// (ONBOARDER_MAX_STARTS_PER_MINUTE). The slot is kept in the account's ledger entry, so that
// the request keeps its place when it comes back. It reports whether the write must wait.
func (p *pass) pace(ctx context.Context) (bool, error) {
	r, res := p.r, p.res
	if r.Starts == nil {
		return false, nil
	}
	now := r.now()
	if e := p.ledgerEntry(ctx); e != nil && !e.StartSlot.IsZero() {
		p.slot = e.StartSlot
	} else {
		slot, err := r.Starts.Take(ctx)
		if err != nil {
			return false, fmt.Errorf("take a stack start slot: %w", err)
		}
		p.slot = slot
	}
	if wait := p.slot.Sub(now); wait > time.Second {
		res.Action, res.RetryAfter = ActionScheduled, min(wait, maxHop)
		res.Reason = fmt.Sprintf("%s; its start waits for its slot at %s (%s from now): at most %d stack operations start per minute across the Organization (ONBOARDER_MAX_STARTS_PER_MINUTE)",
			strings.TrimSuffix(res.Reason, "."), p.slot.UTC().Format(time.RFC3339), wait.Round(time.Second), r.Cfg.MaxStartsPerMinute)
		res.Steps = append(res.Steps, Step{Action: ActionScheduled, Detail: "start slot at " + p.slot.UTC().Format(time.RFC3339)})
		return true, nil
	}
	p.slot = time.Time{} // used now
	return false, nil
}

// maxHop bounds one wait in the queue: SQS keeps a message invisible for at most 12 hours,
// and a short hop keeps a waiting request close to what it waits for.
const maxHop = 15 * time.Minute

// write runs the stack step with a ClientRequestToken derived from the request and the step.
func (p *pass) write(ctx context.Context, m Member, o Observation, plan Plan) error {
	r, res := p.r, p.res
	name := r.Cfg.StackName
	var roleARN *string // the CloudFormation service role, when configured
	if arn := r.Cfg.CFNRoleARN("aws", p.req.Account); arn != "" && !p.fallback {
		// With the fallback role the account has no member roles yet: the stack is written
		// with the caller's permissions (a stack that has a service role keeps it).
		roleARN = aws.String(arn)
	}
	caps := []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam, cfntypes.CapabilityCapabilityAutoExpand}
	fp := fingerprint(o.Desired)
	var err error
	var op stack.Op
	switch plan.Step {
	case ActionCreate:
		op = stack.OpCreate
		_, err = m.CloudFormation.CreateStack(ctx, &cloudformation.CreateStackInput{
			StackName: aws.String(name), TemplateURL: aws.String(o.Desired.TemplateURL), Parameters: o.Desired.Parameters(),
			Capabilities: caps, Tags: o.Desired.Tags(nil), RoleARN: roleARN, ClientRequestToken: aws.String(stack.Token(op, fp, p.req.ID())),
		})
		res.StatusAfter = "CREATE_IN_PROGRESS"
	case ActionUpdate:
		op = stack.OpUpdate
		_, err = m.CloudFormation.UpdateStack(ctx, &cloudformation.UpdateStackInput{
			StackName: aws.String(name), TemplateURL: aws.String(o.Desired.TemplateURL), Parameters: o.Desired.Parameters(),
			Capabilities: caps, Tags: o.Desired.Tags(o.Stack.Tags), RoleARN: roleARN, ClientRequestToken: aws.String(stack.Token(op, fp, p.req.ID())),
		})
		res.StatusAfter = "UPDATE_IN_PROGRESS"
		if stack.NoUpdates(err) {
			res.Action, res.Changes, res.StatusAfter = ActionNone, nil, res.StatusBefore
			res.Reason = "CloudFormation: no updates are to be performed on " + p.where + ": in sync"
			return nil
		}
	case ActionDelete:
		op = stack.OpDelete
		_, err = m.CloudFormation.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(o.Stack.ID), RoleARN: roleARN,
			ClientRequestToken: aws.String(stack.Token(op, fp, p.req.ID()))})
		res.StatusAfter = "DELETE_IN_PROGRESS"
	case ActionContinueRollback:
		op = stack.OpContinueRollback
		_, err = m.CloudFormation.ContinueUpdateRollback(ctx, &cloudformation.ContinueUpdateRollbackInput{StackName: aws.String(o.Stack.ID), RoleARN: roleARN,
			ClientRequestToken: aws.String(stack.Token(op, fp, p.req.ID()))})
		res.StatusAfter = "UPDATE_ROLLBACK_IN_PROGRESS"
	default:
		return fault.Permanentf("reconcile %s: no way to run step %s", p.where, plan.Step)
	}
	switch {
	case err == nil:
		res.RetryAfter = r.Cfg.CheckMinDelay
		p.did(ctx, plan.Step, string(op)+" stack "+p.where+" started")
		return nil
	case stack.Busy(err), fault.IsCode(err, "AlreadyExistsException"):
		// Someone else's operation started between our look and our write: look again soon.
		res.Action, res.StatusAfter, res.RetryAfter = ActionWait, res.StatusBefore, r.Cfg.CheckMinDelay
		res.Reason = "stack " + p.where + " is busy with another operation (" + fault.Code(err) + "): come back when it settles"
		return nil
	}
	res.StatusAfter = res.StatusBefore
	return fmt.Errorf("%s stack %s: %w", op, p.where, p.memberErr("cloudformation:"+cfnAction(op), err))
}

func cfnAction(op stack.Op) string {
	return map[stack.Op]string{stack.OpCreate: "CreateStack", stack.OpUpdate: "UpdateStack", stack.OpDelete: "DeleteStack",
		stack.OpContinueRollback: "ContinueUpdateRollback"}[op]
}

// checkDelay is when to look again at an operation that started at start (zero: unknown):
// half its age so far, within ONBOARDER_CHECK_MIN_DELAY and ONBOARDER_CHECK_MAX_DELAY, so
// that a short operation is seen soon after it ends and a long one is not polled often.
func (r *Reconciler) checkDelay(start time.Time) time.Duration {
	d := r.Cfg.CheckMinDelay
	if !start.IsZero() {
		d = max(d, r.now().Sub(start)/2)
	}
	return min(d, r.Cfg.CheckMaxDelay)
}

// awsRegion is the AWS region of the stack: the configured Cloud One region, or the key's.
func (r *Reconciler) awsRegion(ctx context.Context, creds secret.Credentials) (string, error) {
	c1 := r.Cfg.CloudOneRegion
	if c1 == "" {
		k, err := r.CloudOne.Describe(ctx, creds.APIKey)
		if err != nil {
			return "", err
		}
		c1 = k.Region
	}
	region, err := cloudone.AWSRegion(c1)
	if err != nil {
		return "", fault.Permanentf("ONBOARDER_CLOUDONE_REGION: %w", err)
	}
	return region, nil
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

// did records and logs a change made.
func (p *pass) did(ctx context.Context, a Action, detail string) {
	res := p.res
	res.Steps = append(res.Steps, Step{Action: a, Detail: detail})
	p.r.logger().LogAttrs(ctx, slog.LevelInfo, "stack change",
		slog.String("account", res.Account), slog.String("region", res.Region),
		slog.String("action", string(a)), slog.String("outcome", "done"), slog.String("detail", detail))
}

func (p *pass) fail(err error) {
	res := p.res
	err = scrub(err, p.creds)
	res.Err, res.Error, res.Class = err, err.Error(), fault.ClassOf(err)
	if res.Class == fault.None { // a skip is not a failure
		res.Err, res.Error = nil, ""
		return
	}
	if res.Class == fault.NeedsPerson {
		res.Action = ActionNeedsPerson
	} else {
		if res.Action.writes() {
			res.Steps = append(res.Steps, Step{Action: ActionFail, Detail: "tried to " + string(res.Action) + ": " + err.Error()})
		}
		res.Action = ActionFail
	}
	if res.Reason == "" || res.Class != fault.NeedsPerson {
		res.Reason = res.Error
	}
	res.RetryAfter = 0
}

// scrub removes the secret values from an error's text, whatever produced it, keeping its
// class: no API answer can carry the key or the token into a log.
func scrub(err error, creds secret.Credentials) error {
	msg := err.Error()
	clean := scrubText(msg, creds)
	if clean == msg {
		return err
	}
	return fault.As(fault.ClassOf(err), errors.New(clean))
}

// scrubText removes the secret values from a text.
func scrubText(text string, creds secret.Credentials) string {
	for _, v := range []secret.Value{creds.APIKey, creds.ServiceToken} {
		if s := v.Reveal(); len(s) >= 4 {
			text = strings.ReplaceAll(text, s, "[redacted]")
		}
	}
	return text
}

// scrubResult removes the secret values from every text of the result that an API answer
// may have filled (a stack's status reason, a failed resource's reason, which Trend's custom
// resources write and which may quote their input), before it reaches the ledger or a log.
func (p *pass) scrubResult() {
	res, c := p.res, p.creds
	if res.Err != nil {
		res.Err = scrub(res.Err, c)
		res.Error = res.Err.Error()
	}
	res.Reason = scrubText(res.Reason, c)
	if f := res.Failed; f != nil {
		scrubbed := *f
		scrubbed.Reason = scrubText(f.Reason, c)
		res.Failed = &scrubbed
	}
	for i := range res.Steps {
		res.Steps[i].Detail = scrubText(res.Steps[i].Detail, c)
	}
}

// finish counts failures, writes the ledger (not in a dry run) and stamps the reason.
func (p *pass) finish(ctx context.Context) {
	r, res := p.r, p.res
	if res.Reason == "" {
		res.Reason = string(res.Action)
	}
	p.scrubResult()
	if r.Ledger != nil && !res.DryRun && res.Region != "" {
		p.writeLedger(ctx)
	}
	if res.Class == fault.Transient && p.roleWait {
		// Waiting for a new account's execution role: look again as for an operation under
		// way (half the account's age), and once more when the grace ends, when the role is
		// there, or the fallback role is used, or the request fails for good.
		since := p.req.AccountSince
		res.RetryAfter = r.checkDelay(since)
		if rest := since.Add(r.Cfg.AssumeRoleGrace).Sub(r.now()); rest > 0 && rest < res.RetryAfter {
			res.RetryAfter = rest + time.Second
		}
	}
	if res.Class == fault.Transient && res.RetryAfter == 0 {
		res.RetryAfter = r.backoff(res.Failures)
	}
	p.scrubResult() // writeLedger may have failed the pass
	p.recordRollout(ctx)
}

// backoff is the delay before the next attempt after n transient failures in a row.
func (r *Reconciler) backoff(n int) time.Duration {
	d := r.Cfg.CheckMinDelay
	for i := 1; i < n && d < r.Cfg.CheckMaxDelay; i++ {
		d *= 2
	}
	return min(d, r.Cfg.CheckMaxDelay)
}

func (p *pass) writeLedger(ctx context.Context) {
	r, res := p.r, p.res
	now := r.now().UTC()
	e := ledger.Entry{
		Account: res.Account, Region: res.Region, StackName: res.StackName, StackStatus: res.StatusAfter,
		Managed:   res.Managed || res.Action == ActionCreate || (r.Cfg.AdoptExisting && res.Action == ActionUpdate),
		TrailMode: string(r.Cfg.TrailMode), Action: string(res.Action), Class: string(res.Class), Reason: res.Reason,
		StartSlot: p.slot, UpdatedAt: now,
	}
	if res.Action == ActionDelete {
		e.Managed = true
	}
	if p.req.Offboard != "" {
		e.Offboard, e.Left = p.req.Offboard, res.Left
	}
	if t := res.Trail; t != nil {
		e.CreateNewTrail, e.TrailARN, e.TrailName, e.TrailHomeRegion, e.Bucket = t.CreateNewTrail, t.TrailARN, t.TrailName, t.HomeRegion, t.Bucket
	}
	if res.Failed != nil {
		e.Failed = res.Failed.String()
	}
	// The stored entry is needed to count failures, to keep what a pass did not learn, and
	// to not rewrite an entry that already says this; a change that succeeded needs none.
	var prev *ledger.Entry
	if !(res.Changed() && res.Class == fault.None && res.Trail != nil) {
		prev = p.ledgerEntryIfNeeded(ctx)
	}
	if res.Class == fault.Transient && p.roleWait {
		// Waiting for a new account's role is bounded by the grace, not by the failure count.
		if prev != nil {
			e.Failures, e.FailingSince = prev.Failures, prev.FailingSince
		}
		res.Failures = e.Failures
	} else if res.Class == fault.Transient {
		// Transient failures are counted here, not by the queue's receive count, which every
		// "come back later" spends too; after MaxFailures in a row the worker gives up.
		e.Failures, e.FailingSince = 1, now
		if prev != nil && prev.Failures > 0 {
			e.Failures, e.FailingSince = prev.Failures+1, prev.FailingSince
		}
		res.Failures = e.Failures
		res.GiveUp = r.Cfg.MaxFailures > 0 && e.Failures >= r.Cfg.MaxFailures
	}
	if prev != nil && prev.Trail() != "" && res.Trail == nil {
		// A pass that did not resolve the trail (a stack in progress) keeps what is known.
		e.CreateNewTrail, e.TrailARN, e.TrailName, e.TrailHomeRegion, e.Bucket = prev.CreateNewTrail, prev.TrailARN, prev.TrailName, prev.TrailHomeRegion, prev.Bucket
	}
	if !res.Changed() && res.Class == fault.None && prev != nil && prev.Class == string(fault.None) && p.req.Offboard == "" && prev.Offboard == "" {
		// Nothing was changed: the entry keeps saying what the onboarder last changed, and when.
		e.Action, e.Reason, e.UpdatedAt = prev.Action, prev.Reason, prev.UpdatedAt
		if res.Action == ActionScheduled {
			e.Action, e.Reason, e.UpdatedAt = string(res.Action), res.Reason, now
		}
	}
	if res.Class == fault.NeedsPerson {
		e.ReportedBy = p.req.ID()
		if prev != nil && prev.Class == e.Class && prev.Reason == e.Reason {
			// The same needs-person state as already recorded. Reported by another request:
			// once is enough. Reported by this one: its report did not get out (the DLQ send
			// failed, or there is no ONBOARDER_DLQ_URL and the queue's redrive must move it),
			// so it is reported again.
			e.UpdatedAt, e.ReportedBy = prev.UpdatedAt, prev.ReportedBy
			res.AlreadyReported = prev.ReportedBy != p.req.ID()
		}
	}
	if !res.Changed() && prev != nil && prev.Digest() == e.Digest() {
		return // the entry already says this
	}
	if err := r.Ledger.Put(ctx, e); err != nil && res.Class == fault.None {
		p.fail(fault.Transientf("reconciled, but %v: retrying so that the trail guard sees this account's trail", err))
	}
}

// ledgerEntryIfNeeded is the stored entry, read unless the request's digest already says the
// entry is what this pass would write.
func (p *pass) ledgerEntryIfNeeded(ctx context.Context) *ledger.Entry {
	if p.entryRead {
		return p.entry
	}
	if d := p.req.LedgerDigest; d != "" && !p.res.Changed() && p.res.Class == fault.None && p.slot.IsZero() {
		res := p.res
		probe := ledger.Entry{Account: res.Account, Region: res.Region, StackName: res.StackName, StackStatus: res.StatusAfter,
			Managed: res.Managed, TrailMode: string(p.r.Cfg.TrailMode), Class: string(res.Class)}
		if t := res.Trail; t != nil {
			probe.CreateNewTrail, probe.TrailARN, probe.TrailName, probe.TrailHomeRegion, probe.Bucket = t.CreateNewTrail, t.TrailARN, t.TrailName, t.HomeRegion, t.Bucket
		}
		if probe.Digest() == d {
			return &probe // the stored entry records this state: no read, no write
		}
	}
	return p.ledgerEntry(ctx)
}

func (r *Reconciler) logger() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Digests reads the whole ledger once and returns the digest of each account's entry, for
// work over many accounts (onboarder reconcile --all does what the sweep Lambda does): set as
// Request.LedgerDigest, it spares the rewrite of every entry that did not change. Without a
// ledger that can be read it returns nil, and every entry is written.
func (r *Reconciler) Digests(ctx context.Context) map[string]string {
	all, ok := r.Ledger.(interface {
		Digests(ctx context.Context) (map[string]string, error)
	})
	if !ok || r.Cfg.DryRun {
		return nil
	}
	out, err := all.Digests(ctx)
	if err != nil {
		r.logger().WarnContext(ctx, "ledger not read: every entry will be rewritten", "error", err.Error())
		return nil
	}
	return out
}
