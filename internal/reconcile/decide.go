package reconcile

import (
	"strings"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/target"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// Outcome is what becomes of the request after a pass. The worker carries it out.
type Outcome string

const (
	OutcomeDone  Outcome = "done"  // finished: the message is deleted
	OutcomeLater Outcome = "later" // look again after RetryAfter (an operation under way, a start slot): not a failure
	OutcomeRetry Outcome = "retry" // a transient failure: try again after RetryAfter
	OutcomeDLQ   Outcome = "dlq"   // permanent, needs a person, or too many failures: the dead-letter queue
)

// Next is what becomes of the request after the pass, and when it comes back.
type Next struct {
	Outcome Outcome
	After   time.Duration
}

// Delays are when a request comes back: ONBOARDER_CHECK_MIN_DELAY and _MAX_DELAY.
type Delays struct{ Min, Max time.Duration }

// Check is when to look again at an operation that started at start (zero: unknown), seen at
// now: half its age so far, within Min and Max, so that a short operation is seen soon after
// it ends and a long one is not polled often.
func (d Delays) Check(start, now time.Time) time.Duration {
	w := d.Min
	if !start.IsZero() {
		w = max(w, now.Sub(start)/2)
	}
	return min(w, d.Max)
}

// Backoff is the delay before the next attempt after n transient failures in a row: Min,
// doubling, up to Max.
func (d Delays) Backoff(n int) time.Duration {
	w := d.Min
	for i := 1; i < n && w < d.Max; i++ {
		w *= 2
	}
	return min(w, d.Max)
}

// Observation is what one receive of a request saw: the stack, its latest operation (read
// from the stack's events in the states where it matters), the desired state (when it was
// resolved) and what the request asks, with the settings the decision depends on.
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
	// Offboard is set when the account left the scope (a queue.Offboard* code): the decision
	// is then the offboarding's, under Policy (ONBOARDER_OFFBOARD). OffboardWhy says how it
	// left, Unreachable why the account could not be opened (the stack is then not observed),
	// and WasOurs whether the ledger recorded the onboarder's stack there.
	Offboard, OffboardWhy string
	Policy                config.OffboardPolicy
	Unreachable           string
	WasOurs               bool
	// Vendor is what the target's offboarding says (zero: Cloud One's); Prerequisite: the stack
	// observed is the onboarder's own one the vendor's needed (its trail stack), the vendor's
	// being gone.
	Vendor       target.Offboarding
	Prerequisite bool
	// Drifted says what the stack made that is gone or changed behind CloudFormation's back
	// although the stack is as desired (the trail of the onboarder's trail stack, deleted or
	// changed by someone): "" when nothing is known to be.
	Drifted string
	// Template is what the desired template declares (GetTemplateSummary), nil while it was
	// not read: it is read only when the plan would write the stack from it.
	Template stack.TemplateParams
	// HasView: the target keeps its own view of a connected account (Vision One); View is it,
	// nil while it was not read: it is read only for a stack in sync (or an offboarding).
	HasView bool
	View    *target.View
	// DryRun: ONBOARDER_DRY_RUN, the plan is reported and not carried out; Paced: stack
	// writes take a start slot first (ONBOARDER_MAX_STARTS_PER_MINUTE); Now and Delays say
	// when a request comes back.
	DryRun, Paced bool
	Now           time.Time
	Delays        Delays
}

// Plan is the decision: at most one stack step, whether to start the forwarding trail again
// first, and what becomes of the request when the plan is carried out as planned. Why says
// it for people; Changes lists what an update or create sets.
type Plan struct {
	Step         Action
	StartLogging bool
	Why          string
	Changes      []Change
	// Failed is the resource that made the onboarder's own write fail, for needs-person.
	Failed *stack.Failure
	// Left is what an offboarding leaves behind, in the account and in the vendor.
	Left string
	// Next is the request's outcome once the plan is carried out: done, later (an operation
	// under way or just started: look again), or the dead-letter queue (needs a person).
	Next Next
	// Paced: the stack write waits for its start slot. DryRun: nothing is carried out.
	Paced, DryRun bool
	// ReadTemplate: the step writes the stack from a template whose parameters were not read;
	// the caller reads them (Observation.Template) and decides again. ReadView: the stack is in
	// sync and the vendor's own view of the account was not read; the caller reads it
	// (Observation.View) and decides again.
	ReadTemplate, ReadView bool
}

// Row names the row of the state table (docs/ARCHITECTURE.md, "Decide: the state table") that
// a plan comes from; tests walk the table by it.
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
	RowTemplateRefused  Row = "a create or update from a template whose parameters are not the ones the onboarder sends"
	RowViewPending      Row = "*_COMPLETE, as desired, not yet known to the vendor (it registers itself)"
	RowViewUnknown      Row = "*_COMPLETE, as desired, unknown to the vendor long after it settled"
	RowViewFailed       Row = "*_COMPLETE, as desired, the vendor reports the account failed or missing permissions"
	RowDrifted          Row = "*_COMPLETE, as desired, but what it made is gone or changed (the onboarder's trail stack's trail)"

	// Offboarding: the account left the scope.
	RowOffboardExcluded     Row = "offboarding: the account is excluded (ONBOARDER_EXCLUDE_ACCOUNTS): never touched"
	RowOffboardUnreachable  Row = "offboarding: the account cannot be opened (closed, suspended)"
	RowOffboardGone         Row = "offboarding: absent / DELETE_COMPLETE"
	RowOffboardNotOurs      Row = "offboarding: exists, not created by the onboarder"
	RowOffboardReport       Row = "offboarding, ONBOARDER_OFFBOARD=report: the onboarder's stack exists"
	RowOffboardInProgress   Row = "offboarding, ONBOARDER_OFFBOARD=delete: *_IN_PROGRESS"
	RowOffboardDeleteFailed Row = "offboarding, ONBOARDER_OFFBOARD=delete: DELETE_FAILED"
	RowOffboardDelete       Row = "offboarding, ONBOARDER_OFFBOARD=delete: the onboarder's stack exists, settled"
	RowOffboardForget       Row = "offboarding: the stack dealt with, the vendor still keeps the account"
)

// Decide is the state table as a pure function: the observation in, the next step out, with
// what becomes of the request once the step is taken. It calls nothing and changes nothing;
// the code that acts on a plan holds no decisions.
func Decide(o Observation) (Plan, Row) {
	p, row := decide(o)
	if (p.Step == ActionCreate || p.Step == ActionUpdate) && o.Desired != nil {
		// The template's contract is checked before a write from it: CloudFormation would
		// refuse the write on its parameters, or, under an unversioned URL that changed, run a
		// stack the onboarder does not know how to configure.
		if o.Template == nil {
			p.ReadTemplate = true
		} else if missing, unknown := o.Template.Mismatch(o.Desired.ParameterNames()); len(missing)+len(unknown) > 0 {
			p, row = Plan{Step: ActionNeedsPerson, Why: templateRefused(o.Desired.Template(), missing, unknown, p.Why)}, RowTemplateRefused
		}
	}
	p.DryRun = o.DryRun
	p.Paced = o.Paced && p.Step.writesStack()
	switch {
	case p.Step == ActionWait:
		p.Next = Next{Outcome: OutcomeLater, After: o.Delays.Check(o.Stack.Started(), o.Now)}
	case p.Step == ActionNeedsPerson:
		p.Next = Next{Outcome: OutcomeDLQ}
	case p.Step.writesStack() && !o.DryRun:
		// Look again soon after the operation started.
		p.Next = Next{Outcome: OutcomeLater, After: o.Delays.Min}
	default:
		p.Next = Next{Outcome: OutcomeDone}
	}
	return p, row
}

// decide is the state table: the step and why.
func decide(o Observation) (Plan, Row) {
	if o.Offboard != "" {
		return decideOffboard(o)
	}
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
	if o.Drifted != "" && o.Desired != nil && s.Tags[stack.TagFingerprint] == o.Desired.Fingerprint() && len(diff) == 0 {
		// CloudFormation does not see the drift, and an update with the same template and
		// parameters is "no updates": the stack is deleted and created again.
		return Plan{Step: ActionDelete, Why: "stack " + o.Where + " is " + status + " and as desired, but " + o.Drifted +
			", which an update cannot make again: delete it, then create it again"}, RowDrifted
	}
	if o.Desired != nil && s.Tags[stack.TagFingerprint] == o.Desired.Fingerprint() && len(diff) == 0 {
		p := Plan{Step: ActionNone, Why: "stack " + o.Where + " is " + status + " and in sync", StartLogging: stopped(o.Trail)}
		if p.StartLogging {
			p.Step, p.Why = ActionStartLogging, o.Trail.Why+": start logging again"
		} else if o.Trail != nil {
			p.Why += " (" + o.Trail.Why + ")"
		}
		if o.HasView {
			return decideView(o, p)
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

// viewGrace is how long after its stack settled a vendor may not know an account yet: the
// account registers itself from the stack's resources (Vision One's template), and the
// vendor's view follows. Past it, a stack that settled unknown to the vendor needs a person.
const viewGrace = 30 * time.Minute

// decideView judges the vendor's own view of an account whose stack is in sync (p): read it
// first; unknown to the vendor, come back while it may still register itself, else a person;
// failed or missing permissions, a person, in the vendor's words; outdated, in sync, said.
func decideView(o Observation, p Plan) (Plan, Row) {
	v, vendor := o.View, o.vendor().Vendor
	switch {
	case v == nil:
		p.ReadView = true
		return p, RowInSync
	case !v.Found && o.Now.Sub(o.Stack.Settled()) < viewGrace:
		return Plan{Step: ActionWait, StartLogging: p.StartLogging,
			Why: "stack " + o.Where + " is " + string(o.Stack.Status) + ", and " + vendor + " does not know account " + account(o.Where) + " yet: come back once it registered itself"}, RowViewPending
	case !v.Found:
		return Plan{Step: ActionNeedsPerson, StartLogging: p.StartLogging,
			Why: "stack " + o.Where + " is " + string(o.Stack.Status) + " since " + o.Stack.Settled().UTC().Format(time.RFC3339) + ", but " + vendor + " does not know account " + account(o.Where) +
				": the stack's registration did not reach it (or the account was removed there since). The stack registers the account when it is created: check its events and " + vendor + "'s Cloud Accounts, then delete stack " + o.Where +
				" and run onboarder reconcile --account " + account(o.Where) + ": the onboarder makes it again, and the new stack registers the account"}, RowViewUnknown
	case v.Failed || len(v.Problems) > 0:
		why := vendor + " reports account " + account(o.Where) + " " + v.State
		if len(v.Problems) > 0 {
			why += ": " + strings.Join(v.Problems, "; ")
		}
		return Plan{Step: ActionNeedsPerson, StartLogging: p.StartLogging,
			Why: why + " (its stack " + o.Where + " is " + string(o.Stack.Status) + " and in sync): a person must fix it in the account or in " + vendor}, RowViewFailed
	case v.Outdated:
		p.Why += "; " + vendor + " reports the account's template outdated (version " + orNone(v.TemplateVersion) + "): a rollout to a new template version updates it"
	}
	return p, RowInSync
}

// decideOffboard is the state table of an account that left the scope: the onboarder's own
// stack is deleted under ONBOARDER_OFFBOARD=delete (so that Trend's custom resources remove
// the Cloud One cloud account and the Workload Security connector), reported otherwise; a
// stack that is not the onboarder's is never deleted, whatever the policy or the adoption; an
// excluded account is never touched, not even read: it is reported from the ledger.
func decideOffboard(o Observation) (Plan, Row) {
	p, row := decideOffboardStack(o)
	if p.Step != ActionOffboarded || !o.HasView || row == RowOffboardExcluded {
		return p, row
	}
	// The vendor keeps the account apart from the stack (Vision One: deleting the stack is
	// not documented to remove it): once the stack is dealt with, the vendor forgets it.
	switch {
	case o.View == nil:
		p.ReadView = true
	case o.View.Found:
		p.Step, row = ActionForget, RowOffboardForget
		p.Why += "; remove account " + account(o.Where) + " from " + o.vendor().Vendor
	}
	return p, row
}

// decideOffboardStack is the offboarding of the account's stack.
func decideOffboardStack(o Observation) (Plan, Row) {
	s, acct, v := o.Stack, account(o.Where), o.vendor()
	why := "offboarding account " + acct + " (" + o.Offboard + ")"
	if o.OffboardWhy != "" {
		why = "offboarding account " + acct + " (" + o.OffboardWhy + ")"
	}
	switch {
	case o.Offboard == queue.OffboardExcluded:
		if v.LeftExcluded != nil {
			v.LeftInVendor = v.LeftExcluded
		}
		return Plan{Step: ActionOffboarded, Left: leftIn(v, acct, o.WasOurs, false),
			Why: why + ": an excluded account is never touched (ONBOARDER_EXCLUDE_ACCOUNTS): nothing was read or deleted there, whatever ONBOARDER_OFFBOARD says; to have the onboarder delete its stack, move the account out of ONBOARDER_INCLUDE_OUS instead"}, RowOffboardExcluded
	case o.Unreachable != "":
		return Plan{Step: ActionOffboarded, Left: leftIn(v, acct, o.WasOurs, true),
			Why: why + ": the account cannot be opened any more (" + o.Unreachable + "): nothing was deleted"}, RowOffboardUnreachable
	case !s.Exists:
		return Plan{Step: ActionOffboarded, Left: leftAfterDelete(v, acct, o.WasOurs),
			Why: why + ": stack " + o.Where + " is absent: nothing to delete"}, RowOffboardGone
	case !s.Managed():
		return Plan{Step: ActionLeaveAlone, Left: "stack " + o.Where + " (not the onboarder's): whoever made it decides",
			Why: why + ": stack " + o.Where + " exists (" + string(s.Status) + ") and was not created by the onboarder (no " + stack.TagManaged + " tag): left alone, never deleted"}, RowOffboardNotOurs
	case o.Policy != config.OffboardDelete:
		return Plan{Step: ActionOffboarded, Left: leftIn(v, acct, true, false),
			Why: why + ": stack " + o.Where + " (" + string(s.Status) + ") is left in place (ONBOARDER_OFFBOARD=report): delete it by hand, or set ONBOARDER_OFFBOARD=delete and the onboarder deletes it"}, RowOffboardReport
	}
	switch stack.Classify(s) {
	case stack.StateInProgress:
		return Plan{Step: ActionWait, Why: why + ": stack " + o.Where + " is " + string(s.Status) + ": come back when it settles, then delete it"}, RowOffboardInProgress
	case stack.StateDeleteFailed:
		return Plan{Step: ActionNeedsPerson, Failed: failed(o.LastOp), Left: leftIn(v, acct, true, false),
			Why: why + ": stack " + o.Where + " is DELETE_FAILED" + because(o.LastOp, s.Reason) +
				": a person must remove what blocks the deletion and delete the stack, then remove what is left in " + v.Vendor}, RowOffboardDeleteFailed
	}
	if o.Prerequisite {
		return Plan{Step: ActionDelete, Why: why + ": delete stack " + o.Where + " (" + string(s.Status) + "), " + v.PrerequisiteGoes}, RowOffboardDelete
	}
	why += ": delete stack " + o.Where + " (" + string(s.Status) + "), " + v.DeleteWhy
	if s.Params[stack.ParamCreateNew] == "True" && v.OwnTrailGoes != "" {
		why += "; " + v.OwnTrailGoes
	}
	return Plan{Step: ActionDelete, Why: why}, RowOffboardDelete
}

// templateRefused says why no stack is written from a template, named by its identity (the
// URL, or the version of a generated template, whose URL is never written down).
func templateRefused(url string, missing, unknown []string, wanted string) string {
	why := "template " + url + " does not take the parameters the onboarder sends:"
	if len(missing) > 0 {
		why += " it does not declare " + strings.Join(missing, ", ") + ";"
	}
	if len(unknown) > 0 {
		why += " it requires " + strings.Join(unknown, ", ") + ", which the onboarder does not know;"
	}
	return why + " no stack is written from it (wanted: " + wanted + "). Point ONBOARDER_TEMPLATE_URL (or the rollout) at a template with the onboarder's parameter set (docs/ARCHITECTURE.md, section 3), or use an onboarder release made for this template"
}

// leftIn says what stays, in the account and in the vendor, when the onboarder's stack is not
// deleted: everything the stack made, and what the vendor keeps of the account.
func leftIn(v target.Offboarding, acct string, ours, unreachable bool) string {
	if !ours {
		if unreachable {
			return "unknown: the ledger has no record that the onboarder made a stack in " + acct + "; check " + v.Vendor + " for AWS account " + acct
		}
		return ""
	}
	where := "in the account: " + v.StackMade + "; "
	if unreachable {
		where = "in the account, until AWS deletes it: " + v.StackMade + "; "
	}
	return where + v.LeftInVendor(acct)
}

// leftAfterDelete says what stays in the vendor once the stack is deleted.
func leftAfterDelete(v target.Offboarding, acct string, ours bool) string {
	if !ours {
		return ""
	}
	return v.LeftAfterDelete(acct)
}

// vendor is what an offboarding says of the target: Cloud One's v1 template unless the
// observation names another.
func (o Observation) vendor() target.Offboarding {
	if o.Vendor.DeleteWhy != "" {
		return o.Vendor
	}
	return (&target.CloudOne{}).Offboarding()
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
