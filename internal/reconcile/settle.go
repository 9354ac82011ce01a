package reconcile

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
)

// Setting is where and when a pass works: what Settle needs besides the plan and the facts.
type Setting struct {
	Account, Region string
	Where           string // "CloudOne in 012345678901/us-east-1", for reasons
	// Role is the role the pass works with in the account (the execution role, or the
	// fallback role when Fallback), named when a call there is denied.
	Role     string
	Fallback bool
	Now      time.Time
	Delays   Delays
	// StartsPerMinute is ONBOARDER_MAX_STARTS_PER_MINUTE, named when a write waits for its slot.
	StartsPerMinute int
}

// maxHop bounds one wait in the queue: SQS keeps a message invisible for at most 12 hours,
// and a short hop keeps a waiting request close to what it waits for.
const maxHop = 15 * time.Minute

// Settle is the second pure function of a pass: it turns the plan and what acting on it did
// (the start slot's time, CloudFormation's answer to the write, a failure) into the result:
// what was done, why, and what becomes of the request. It calls nothing.
//
//	acted                                        result
//	dry run                                      the plan's step, "dry run: would ..."; its outcome
//	StartLogging failed                          fail (class of the error), no stack write
//	needs a person                               needs-person, dead-letter
//	start slot not taken                         fail (class of the error)
//	start slot not due                           scheduled: later, at the slot (15 minutes a hop at most)
//	write sent                                   the step, *_IN_PROGRESS: later, ONBOARDER_CHECK_MIN_DELAY
//	update: "No updates are to be performed."    none: done
//	write refused: stack busy, already exists    wait: later, ONBOARDER_CHECK_MIN_DELAY
//	write failed                                 fail (class of the error)
//	the vendor forgot the account                forget: done
//	the vendor could not forget it               fail (class of the error)
func Settle(res Result, plan Plan, got Acted, at Setting) Result {
	res.Action, res.Reason, res.Changes, res.Failed, res.Left = plan.Step, plan.Why, plan.Changes, plan.Failed, plan.Left
	res.Outcome, res.RetryAfter = plan.Next.Outcome, plan.Next.After
	if plan.DryRun {
		if plan.StartLogging && res.Trail != nil {
			res.Steps = append(res.Steps, Step{Action: ActionStartLogging, Detail: "dry run: would start logging on trail " + res.Trail.TrailName})
		}
		switch {
		case plan.Step == ActionNeedsPerson:
			return failure(res, fault.NeedsPersonf("%s", plan.Why))
		case plan.Step.writesStack(), plan.Step == ActionForget:
			res.Steps = append(res.Steps, Step{Action: plan.Step, Detail: "dry run: would " + plan.Why})
		}
		return res
	}
	if plan.StartLogging {
		if got.StartErr != nil {
			return failure(res, at.memberErr("cloudtrail:StartLogging", got.StartErr))
		}
		if res.Trail != nil {
			t := *res.Trail
			t.Why += ": logging started again"
			res.Trail = &t
			res.Steps = append(res.Steps, Step{Action: ActionStartLogging, Detail: "started logging again on trail " + t.TrailName + " (" + t.TrailARN + ")"})
		}
	}
	switch {
	case plan.Step == ActionNeedsPerson:
		return failure(res, fault.NeedsPersonf("%s", plan.Why))
	case plan.Step == ActionForget && got.ForgetErr != nil:
		return failure(res, fmt.Errorf("remove account %s from the vendor: %w", at.Account, got.ForgetErr))
	case plan.Step == ActionForget:
		res.Steps = append(res.Steps, Step{Action: ActionForget, Detail: "removed account " + at.Account + " from the vendor"})
		return res
	case !plan.Step.writesStack():
		return res
	case got.SlotErr != nil:
		return failure(res, fmt.Errorf("take a stack start slot: %w", got.SlotErr))
	case !got.Slot.IsZero() && !SlotDue(got.Slot, got.slotNow(at.Now)):
		wait := got.Slot.Sub(got.slotNow(at.Now))
		res.Action, res.Outcome, res.RetryAfter, res.startSlot = ActionScheduled, OutcomeLater, min(wait, maxHop), got.Slot
		res.Reason = fmt.Sprintf("%s; its start waits for its slot at %s (%s from now): at most %d stack operations start per minute across the Organization (ONBOARDER_MAX_STARTS_PER_MINUTE)",
			strings.TrimSuffix(res.Reason, "."), got.Slot.UTC().Format(time.RFC3339), wait.Round(time.Second), at.StartsPerMinute)
		res.Steps = append(res.Steps, Step{Action: ActionScheduled, Detail: "start slot at " + got.Slot.UTC().Format(time.RFC3339)})
		return res
	}
	op, err := got.Op, got.WriteErr
	switch {
	case err == nil:
		res.StatusAfter = inProgress[op]
		res.Steps = append(res.Steps, Step{Action: plan.Step, Detail: string(op) + " stack " + at.Where + " started"})
		return res
	case op == stack.OpUpdate && stack.NoUpdates(err):
		res.Action, res.Changes, res.StatusAfter, res.Outcome, res.RetryAfter = ActionNone, nil, res.StatusBefore, OutcomeDone, 0
		res.Reason = "CloudFormation: no updates are to be performed on " + at.Where + ": in sync"
		return res
	case stack.Busy(err), fault.IsCode(err, "AlreadyExistsException"):
		// Someone else's operation started between our look and our write: look again soon.
		res.Action, res.StatusAfter, res.Outcome, res.RetryAfter = ActionWait, res.StatusBefore, OutcomeLater, at.Delays.Min
		res.Reason = "stack " + at.Where + " is busy with another operation (" + fault.Code(err) + "): come back when it settles"
		return res
	}
	return failure(res, fmt.Errorf("%s stack %s: %w", op, at.Where, at.memberErr("cloudformation:"+cfnAction[op], err)))
}

// inProgress is the stack's status once a write of each operation started.
var inProgress = map[stack.Op]string{stack.OpCreate: "CREATE_IN_PROGRESS", stack.OpUpdate: "UPDATE_IN_PROGRESS",
	stack.OpDelete: "DELETE_IN_PROGRESS", stack.OpContinueRollback: "UPDATE_ROLLBACK_IN_PROGRESS"}

// cfnAction is the IAM action of each operation.
var cfnAction = map[stack.Op]string{stack.OpCreate: "CreateStack", stack.OpUpdate: "UpdateStack", stack.OpDelete: "DeleteStack",
	stack.OpContinueRollback: "ContinueUpdateRollback"}

// failure is the result of a pass that failed with err: the action says so (needs-person, or
// fail with the step it tried), the reason is the error, and the request goes to the
// dead-letter queue unless the failure is transient (retried; Record says when). A skip is
// not a failure.
func failure(res Result, err error) Result {
	class := fault.ClassOf(err)
	if class == fault.None {
		return res
	}
	res.Err, res.Error, res.Class = err, err.Error(), class
	if class == fault.NeedsPerson {
		res.Action = ActionNeedsPerson
	} else {
		if res.Action.writes() {
			res.Steps = append(res.Steps, Step{Action: ActionFail, Detail: "tried to " + string(res.Action) + ": " + err.Error()})
		}
		res.Action = ActionFail
	}
	if res.Reason == "" || class != fault.NeedsPerson {
		res.Reason = res.Error
	}
	res.Outcome, res.RetryAfter = OutcomeDLQ, 0
	if class == fault.Transient {
		res.Outcome = OutcomeRetry
	}
	return res
}

// memberErr classifies an error of a call in the member account: AccessDenied there is an
// SCP or a missing permission of the role the pass works with, which retrying cannot fix
// (permanent, naming the action); the rest keeps its class.
func (at Setting) memberErr(action string, err error) error {
	if fault.IsCode(err, "AccessDenied", "AccessDeniedException") {
		return fault.Permanentf("%s in %s/%s was denied (an SCP, or a missing permission of role %s): %w",
			action, at.Account, at.Region, at.Role, err)
	}
	return err
}

// scrub removes the secret values from an error's text, whatever produced it, keeping its
// class: no API answer can carry the key or the token into a log.
func scrub(err error, creds secret.Credentials) error {
	msg := err.Error()
	clean := creds.Scrub(msg)
	if clean == msg {
		return err
	}
	return fault.As(fault.ClassOf(err), errors.New(clean))
}

// scrubResult removes the secret values, in every form (secret.Credentials.Scrub), from every
// text of the result that an API answer may have filled (an error, a stack's status reason, a
// failed resource's reason, which Trend's custom resources write and which may quote their
// input), before it reaches the ledger or a log.
func scrubResult(res Result, c secret.Credentials) Result {
	if res.Err != nil {
		res.Err = scrub(res.Err, c)
		res.Error = res.Err.Error()
	}
	res.Error = c.Scrub(res.Error)
	res.Reason = c.Scrub(res.Reason)
	res.Left = c.Scrub(res.Left)
	if f := res.Failed; f != nil {
		scrubbed := *f
		scrubbed.Reason = c.Scrub(f.Reason)
		res.Failed = &scrubbed
	}
	if res.Changes != nil {
		changes := make([]Change, len(res.Changes))
		for i, ch := range res.Changes {
			changes[i] = Change{Parameter: ch.Parameter, Before: c.Scrub(ch.Before), After: c.Scrub(ch.After)}
		}
		res.Changes = changes
	}
	if t := res.Trail; t != nil {
		scrubbed := *t
		scrubbed.Why = c.Scrub(t.Why)
		res.Trail = &scrubbed
	}
	steps := make([]Step, len(res.Steps))
	for i, s := range res.Steps {
		steps[i] = Step{Action: s.Action, Detail: c.Scrub(s.Detail)}
	}
	res.Steps = steps
	return res
}
