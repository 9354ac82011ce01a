package reconcile

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// Acted is what carrying out a plan did: facts for Settle, no decision.
type Acted struct {
	Started  bool  // StartLogging ran and succeeded
	StartErr error // StartLogging failed
	// Slot is the start slot the stack write holds (zero: not paced); SlotErr: none could be
	// taken. A slot not due yet (SlotDue) stops the plan before its write. SlotAt is when the
	// slot was in hand, what it is judged against (zero: the pass's start).
	Slot    time.Time
	SlotAt  time.Time
	SlotErr error
	// Op is the stack write sent ("" for none), WriteErr CloudFormation's answer.
	Op       stack.Op
	WriteErr error
	// Forgot: the vendor was asked to forget the account; ForgetErr its answer.
	Forgot    bool
	ForgetErr error
}

// SlotDue reports whether a start slot has come at now: within a second, the granularity of
// the queue's delays.
func SlotDue(slot, now time.Time) bool { return slot.Sub(now) <= time.Second }

// slotNow is the time a taken slot is judged against: when it was in hand, not when the pass
// began. A pass that took seconds to get there (a cold start, a throttled call retried) gets
// a slot of the schedule's present, and judged against its start, that slot looked seconds
// ahead: the write waited a round trip of the queue for a slot already due.
func (a Acted) slotNow(passStart time.Time) time.Time {
	if a.SlotAt.IsZero() {
		return passStart
	}
	return a.SlotAt
}

// act carries out a plan and returns what happened: it starts the forwarding trail again,
// takes (or keeps) a start slot and sends the stack write, stopping at the first call that
// fails or at a slot that is not due. A dry run carries out nothing.
func (p *pass) act(ctx context.Context, m Member, o Observation, plan Plan, at Setting) Acted {
	var got Acted
	if plan.DryRun {
		return got
	}
	if plan.StartLogging {
		if got.StartErr = trail.Start(ctx, m.Trails, *o.Trail); got.StartErr != nil {
			return got
		}
		got.Started = true
		p.changed(ctx, at, ActionStartLogging, "started logging again on trail "+o.Trail.TrailName+" ("+o.Trail.TrailARN+")")
	}
	if plan.Step == ActionForget {
		var known bool
		got.Forgot = true
		known, got.ForgetErr = p.r.target().Forget(ctx, p.creds, p.req.Account)
		if got.ForgetErr == nil && known { // one it no longer knew was removed by someone else: nothing changed here
			p.changed(ctx, at, ActionForget, "removed account "+p.req.Account+" from the vendor ("+p.r.target().Name()+")")
		}
		return got
	}
	if !plan.Step.writesStack() {
		return got
	}
	if plan.Paced {
		got.Slot, got.SlotErr = p.startSlot(ctx)
		got.SlotAt = p.r.now()
		if got.SlotErr != nil || !SlotDue(got.Slot, got.slotNow(at.Now)) {
			return got
		}
	}
	got.Op, got.WriteErr = p.write(ctx, m, o, plan, at)
	if got.WriteErr == nil {
		p.changed(ctx, at, plan.Step, string(got.Op)+" stack "+at.Where+" started")
	}
	return got
}

// startSlot is the start slot of the account's stack write: the one its ledger entry keeps
// from an earlier pass, else a new one of the Organization-wide schedule.
func (p *pass) startSlot(ctx context.Context) (time.Time, error) {
	if e := p.ledgerEntry(ctx); e != nil && !e.StartSlot.IsZero() {
		return e.StartSlot, nil
	}
	return p.r.Starts.Take(ctx)
}

// write sends the plan's stack write with a ClientRequestToken derived from the request and
// the step, and returns the operation and CloudFormation's answer.
func (p *pass) write(ctx context.Context, m Member, o Observation, plan Plan, at Setting) (stack.Op, error) {
	r := p.r
	name := r.target().StackName()
	if o.Desired != nil { // the stack the plan is about: the vendor's, or the onboarder's own it needs
		name = o.Desired.Name
	}
	var roleARN *string // the CloudFormation service role, when configured
	if arn := r.Cfg.CFNRoleARN("aws", p.req.Account); arn != "" && !at.Fallback {
		// With the fallback role the account has no member roles yet: the stack is written
		// with the caller's permissions (a stack that has a service role keeps it).
		roleARN = aws.String(arn)
	}
	caps := []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam, cfntypes.CapabilityCapabilityAutoExpand}
	op := opOf(plan.Step)
	token := aws.String(stack.Token(op, fingerprint(o.Desired), p.req.ID()))
	var err error
	switch op {
	case stack.OpCreate:
		_, err = m.CloudFormation.CreateStack(ctx, &cloudformation.CreateStackInput{
			StackName: aws.String(name), TemplateURL: aws.String(o.Desired.TemplateURL), Parameters: o.Desired.Parameters(),
			Capabilities: caps, Tags: o.Desired.Tags(nil), RoleARN: roleARN, ClientRequestToken: token,
		})
	case stack.OpUpdate:
		_, err = m.CloudFormation.UpdateStack(ctx, &cloudformation.UpdateStackInput{
			StackName: aws.String(name), TemplateURL: aws.String(o.Desired.TemplateURL), Parameters: o.Desired.Parameters(),
			Capabilities: caps, Tags: o.Desired.Tags(o.Stack.Tags), RoleARN: roleARN, ClientRequestToken: token,
		})
	case stack.OpDelete:
		_, err = m.CloudFormation.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(o.Stack.ID), RoleARN: roleARN, ClientRequestToken: token})
	case stack.OpContinueRollback:
		_, err = m.CloudFormation.ContinueUpdateRollback(ctx, &cloudformation.ContinueUpdateRollbackInput{StackName: aws.String(o.Stack.ID), RoleARN: roleARN, ClientRequestToken: token})
	}
	return op, err
}

// opOf is the stack operation of a write step.
func opOf(a Action) stack.Op {
	return map[Action]stack.Op{ActionCreate: stack.OpCreate, ActionUpdate: stack.OpUpdate, ActionDelete: stack.OpDelete,
		ActionContinueRollback: stack.OpContinueRollback}[a]
}

// changed logs a change made in the account.
func (p *pass) changed(ctx context.Context, at Setting, a Action, detail string) {
	p.r.logger().LogAttrs(ctx, slog.LevelInfo, "stack change",
		slog.String("account", at.Account), slog.String("region", at.Region),
		slog.String("action", string(a)), slog.String("outcome", "done"), slog.String("detail", detail))
}
