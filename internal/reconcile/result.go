package reconcile

import (
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/target"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// Action is what the reconcile did (or, in a dry run, would do) to an account.
type Action string

const (
	ActionNone             Action = "none"                     // in sync: nothing to do
	ActionCreate           Action = "create"                   // CreateStack
	ActionUpdate           Action = "update"                   // UpdateStack
	ActionDelete           Action = "delete"                   // DeleteStack of a failed create; CreateStack on a later pass
	ActionContinueRollback Action = "continue-update-rollback" // ContinueUpdateRollback; decide again on a later pass
	ActionStartLogging     Action = "start-logging"            // StartLogging on the forwarding trail
	ActionWait             Action = "wait"                     // a stack operation is in progress: come back later
	ActionScheduled        Action = "scheduled"                // a stack write waits for its start slot
	ActionLeaveAlone       Action = "leave-alone"              // a stack that is not ours: reported, untouched
	ActionNeedsPerson      Action = "needs-person"             // DELETE_FAILED, own write rolled back, no usable trail, ...
	ActionFail             Action = "fail"                     // the reconcile could not decide
	ActionOffboarded       Action = "offboarded"               // the account left the scope: recorded, with what is left behind
	ActionForget           Action = "forget"                   // the account left the scope: the vendor forgets it (Vision One's DELETE)
)

// Step is one action taken (or planned) during a reconcile, with its outcome.
type Step struct {
	Action Action `json:"action"`
	Detail string `json:"detail"`
}

// Change is one parameter that differs between the stack and the desired state. Secret
// parameters never show their values: Before and After are "****" and Detail says why.
type Change struct {
	Parameter string `json:"parameter"`
	Before    string `json:"before"`
	After     string `json:"after"`
}

// Result is what one reconcile of one account did and why. It is a value: handlers log it,
// the operator command prints it, the ledger stores it. It never holds a secret.
type Result struct {
	Account      string        `json:"account"`
	Region       string        `json:"region,omitempty"`
	StackName    string        `json:"stackName"`
	DryRun       bool          `json:"dryRun"`
	Action       Action        `json:"action"` // the main action
	Steps        []Step        `json:"steps,omitempty"`
	StatusBefore string        `json:"statusBefore,omitempty"`
	StatusAfter  string        `json:"statusAfter,omitempty"`
	Managed      bool          `json:"managed"`
	Reason       string        `json:"reason"`
	Trail        *trail.Choice `json:"trail,omitempty"`
	Changes      []Change      `json:"changes,omitempty"`
	Class        fault.Class   `json:"class"`
	Error        string        `json:"error,omitempty"`
	Err          error         `json:"-"`
	// Via names the fallback role when the pass could not use the execution role.
	Via string `json:"via,omitempty"`
	// Row is the row of the state table the decision came from.
	Row string `json:"row,omitempty"`
	// Failed is the resource that made the onboarder's own write fail (needs-person).
	Failed *stack.Failure `json:"failed,omitempty"`
	// Outcome is what becomes of the request: done, later, retry or dlq. RetryAfter, for later
	// and retry, is when to call again with the same request (an operation is under way, a
	// start slot is due later, or a transient failure is backed off).
	Outcome    Outcome       `json:"outcome"`
	RetryAfter time.Duration `json:"retryAfter,omitempty"`
	// Failures counts the transient failures in a row, GiveUp says there were too many
	// (ONBOARDER_MAX_FAILURES): the worker then dead-letters the request.
	Failures int  `json:"failures,omitempty"`
	GiveUp   bool `json:"giveUp,omitempty"`
	// AlreadyReported: the ledger already recorded this same needs-person state, so the
	// request that found it again is not dead-lettered a second time.
	AlreadyReported bool `json:"alreadyReported,omitempty"`
	// Offboard is set when the pass offboarded the account (a queue.Offboard* code); Left
	// says what stays behind, in the account and in the vendor, for a person to remove.
	Offboard string `json:"offboard,omitempty"`
	Left     string `json:"left,omitempty"`
	// View is the vendor's own view of the account, when the target keeps one and the pass
	// read it.
	View *target.View `json:"view,omitempty"`

	// startSlot is the start slot the request holds while its write waits for it (kept in
	// the ledger entry); waitsForRole: the execution role was denied within a new account's
	// grace, a wait that the grace bounds, not a failure that counts.
	startSlot    time.Time
	waitsForRole bool
}

// Changed reports whether the reconcile changed something in the account (a stack written,
// deleted or rolled back, or logging started), by its main action or any of its steps.
func (r Result) Changed() bool {
	if r.Action.writes() {
		return true
	}
	for _, s := range r.Steps {
		if s.Action.writes() {
			return true
		}
	}
	return false
}

func (a Action) writes() bool { return a == ActionStartLogging || a == ActionForget || a.writesStack() }

// writesStack reports whether the action is a stack write (a start of Trend's stack).
func (a Action) writesStack() bool {
	switch a {
	case ActionCreate, ActionUpdate, ActionDelete, ActionContinueRollback:
		return true
	}
	return false
}

// InSync reports whether the account needed nothing.
func (r Result) InSync() bool { return r.Class == fault.None && r.Action == ActionNone }
