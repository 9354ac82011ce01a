package reconcile

import (
	"strings"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// Observation is what one receive of a request saw: the stack, its latest operation (read
// from the stack's events in the states where it matters), the desired state (when it was
// resolved) and what the request asks.
type Observation struct {
	Where   string         // "CloudOne in 012345678901/us-east-1", for reasons
	Stack   stack.Observed // Exists false: absent or DELETE_COMPLETE
	LastOp  *stack.Operation
	Desired *stack.Desired // nil when the decision needs none (in progress, not ours, ...)
	Trail   *trail.Choice
	// Adopt: ONBOARDER_ADOPT_EXISTING; RetryFailed: an operator asked to write again after
	// the onboarder's own write for this desired state failed, once: a write of that request
	// that fails too needs a person again.
	Adopt, RetryFailed bool
	Request            string // the request's id (queue.Request.ID), which its tokens derive from
}

// Plan is the decision: at most one stack step, and whether to start the forwarding trail
// again first. Why says it for people; Changes lists what an update or create sets.
type Plan struct {
	Step         Action
	StartLogging bool
	Why          string
	Changes      []Change
	// Failed is the resource that made the onboarder's own write fail, for needs-person.
	Failed *stack.Failure
}

// Row names the row of the state table (ARCHITECTURE.md, "Reconcile: observed stack -> next
// step") that a plan comes from; tests walk the table by it.
type Row string

const (
	RowAbsent           Row = "absent / DELETE_COMPLETE"
	RowNotOurs          Row = "exists, not created by the onboarder"
	RowInProgress       Row = "*_IN_PROGRESS"
	RowInSync           Row = "*_COMPLETE, as desired"
	RowDiffers          Row = "*_COMPLETE, something differs"
	RowOwnUpdateFailed  Row = "UPDATE_ROLLBACK_COMPLETE right after the onboarder's own update for this desired state"
	RowFailedCreate     Row = "ROLLBACK_COMPLETE, ROLLBACK_FAILED, CREATE_FAILED not caused by this onboarder's last write"
	RowOwnCreateFailed  Row = "ROLLBACK_COMPLETE right after the onboarder's own create for this desired state"
	RowRollbackFailed   Row = "UPDATE_ROLLBACK_FAILED"
	RowOwnContinueAgain Row = "UPDATE_ROLLBACK_FAILED after the onboarder's own ContinueUpdateRollback"
	RowDeleteFailed     Row = "DELETE_FAILED"
	RowReview           Row = "REVIEW_IN_PROGRESS"
	RowHalted           Row = "UPDATE_FAILED, IMPORT_ROLLBACK_FAILED (stopped without a rollback)"
)

// Decide is the state table as a pure function: the observation in, the next step out. It
// calls nothing and changes nothing; the code that acts on a plan holds no decisions.
func Decide(o Observation) (Plan, Row) {
	s := o.Stack
	status := string(s.Status)
	switch {
	case !s.Exists:
		return Plan{Step: ActionCreate, Why: "stack " + o.Where + " is absent: create it", Changes: changes(stack.Observed{}, o.Desired),
			StartLogging: stopped(o.Trail)}, RowAbsent
	case !s.Managed() && !o.Adopt:
		return Plan{Step: ActionLeaveAlone, Why: "stack " + o.Where + " exists (" + status + ") and was not created by the onboarder (no " +
			stack.TagManaged + " tag): left alone; set ONBOARDER_ADOPT_EXISTING=true to adopt it"}, RowNotOurs
	}
	switch stack.Classify(s) {
	case stack.StateInProgress:
		return Plan{Step: ActionWait, Why: "stack " + o.Where + " is " + status + ": come back when it settles"}, RowInProgress
	case stack.StateReview:
		return Plan{Step: ActionNeedsPerson, Why: "stack " + o.Where + " is REVIEW_IN_PROGRESS: a change set awaits execution or deletion by a person"}, RowReview
	case stack.StateHalted:
		return Plan{Step: ActionNeedsPerson, Failed: failed(o.LastOp),
			Why: "stack " + o.Where + " is " + status + because(o.LastOp, s.Reason) + ": an operation stopped there without rolling back (rollback disabled); a person must roll it back (aws cloudformation rollback-stack) or finish it; the onboarder takes over once it is *_COMPLETE"}, RowHalted
	case stack.StateDeleteFailed:
		p := Plan{Step: ActionNeedsPerson, Failed: failed(o.LastOp),
			Why: "stack " + o.Where + " is DELETE_FAILED" + because(o.LastOp, s.Reason) + ": a person must remove what blocks the deletion, then delete the stack; the onboarder creates it again afterwards"}
		return p, RowDeleteFailed
	case stack.StateFailed:
		if o.ownFailed(o.LastOp, stack.OpCreate) {
			return Plan{Step: ActionNeedsPerson, Failed: failed(o.LastOp),
				Why: "the onboarder's create of stack " + o.Where + " failed and rolled back (" + status + ")" + because(o.LastOp, s.Reason) +
					"; no new write for this desired state: fix the cause, then run onboarder reconcile --account " + account(o.Where) + " --retry-failed"}, RowOwnCreateFailed
		}
		return Plan{Step: ActionDelete, Why: "stack " + o.Where + " is " + status + because(o.LastOp, s.Reason) + ": delete it, then create it again"}, RowFailedCreate
	case stack.StateRollbackBad:
		if o.ownFailed(o.LastOp, stack.OpContinueRollback) {
			return Plan{Step: ActionNeedsPerson, Failed: failed(o.LastOp),
				Why: "stack " + o.Where + " is UPDATE_ROLLBACK_FAILED again after the onboarder continued its rollback" + because(o.LastOp, s.Reason) +
					": a person must fix the resource (or continue the rollback skipping it)"}, RowOwnContinueAgain
		}
		return Plan{Step: ActionContinueRollback, Why: "stack " + o.Where + " is UPDATE_ROLLBACK_FAILED" + because(o.LastOp, s.Reason) + ": continue the rollback"}, RowRollbackFailed
	}
	// *_COMPLETE
	diff := changes(s, o.Desired)
	if o.Desired != nil && s.Tags[stack.TagFingerprint] == o.Desired.Fingerprint() && len(diff) == 0 {
		p := Plan{Step: ActionNone, Why: "stack " + o.Where + " is " + status + " and in sync", StartLogging: stopped(o.Trail)}
		if p.StartLogging {
			p.Step, p.Why = ActionStartLogging, o.Trail.Why+": start logging again"
		} else if o.Trail != nil {
			p.Why += " (" + o.Trail.Why + ")"
		}
		return p, RowInSync
	}
	if upd := o.ownUpdate(); status == "UPDATE_ROLLBACK_COMPLETE" && o.ownFailed(upd, stack.OpUpdate) {
		return Plan{Step: ActionNeedsPerson, Failed: failed(upd), StartLogging: stopped(o.Trail),
			Why: "the onboarder's update of stack " + o.Where + " failed and rolled back (UPDATE_ROLLBACK_COMPLETE, the old parameters are back)" +
				because(upd, s.Reason) + "; no new write for this desired state: fix the cause, then run onboarder reconcile --account " +
				account(o.Where) + " --retry-failed"}, RowOwnUpdateFailed
	}
	why := "stack " + o.Where + " differs: " + describeChanges(diff)
	if !s.Managed() {
		why = "adopting stack " + o.Where + " (ONBOARDER_ADOPT_EXISTING): " + describeChanges(diff)
	}
	return Plan{Step: ActionUpdate, Why: why, Changes: diff, StartLogging: stopped(o.Trail)}, RowDiffers
}

// ownFailed reports whether op, a failed operation, was the onboarder's op of the desired
// state, and so must not be written again: unless an operator asked to retry, and this is
// not already that retry's own write.
func (o Observation) ownFailed(op *stack.Operation, kind stack.Op) bool {
	fp := fingerprint(o.Desired)
	if !op.For(kind, fp) {
		return false
	}
	return !o.RetryFailed || op.By(kind, fp, o.Request)
}

// ownUpdate is the onboarder's update that a stack in UPDATE_ROLLBACK_COMPLETE rolled back:
// the latest operation, or the one before it when the latest was the onboarder's
// ContinueUpdateRollback finishing that update's failed rollback. Nil when neither.
func (o Observation) ownUpdate() *stack.Operation {
	fp := fingerprint(o.Desired)
	switch op := o.LastOp; {
	case op.For(stack.OpUpdate, fp):
		return op
	case op.For(stack.OpContinueRollback, fp) && op.Previous.For(stack.OpUpdate, fp):
		return op.Previous
	}
	return nil
}

func stopped(t *trail.Choice) bool { return t != nil && t.Stopped }

func fingerprint(d *stack.Desired) string {
	if d == nil {
		return ""
	}
	return d.Fingerprint()
}

func failed(op *stack.Operation) *stack.Failure {
	if op == nil {
		return nil
	}
	return op.Failed
}

// because is ": <first failed resource>" (or the stack's status reason) for a reason text.
func because(op *stack.Operation, statusReason string) string {
	if f := failed(op); f != nil {
		return ": " + f.String()
	}
	if statusReason != "" {
		return " (" + statusReason + ")"
	}
	return ""
}

// account is the account id in a Where text ("CloudOne in 012345678901/us-east-1").
func account(where string) string {
	if i := strings.LastIndex(where, " in "); i >= 0 {
		where = where[i+4:]
	}
	a, _, _ := strings.Cut(where, "/")
	return a
}
