package reconcile

import (
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// Action is what the reconcile did (or, in a dry run, would do) to an account.
type Action string

const (
	ActionNone             Action = "none"                     // in sync: nothing to do
	ActionCreate           Action = "create"                   // CreateStack
	ActionUpdate           Action = "update"                   // UpdateStack
	ActionRecreate         Action = "delete-and-create"        // DeleteStack, wait, CreateStack
	ActionContinueRollback Action = "continue-update-rollback" // ContinueUpdateRollback, wait, decide again
	ActionStartLogging     Action = "start-logging"            // StartLogging on the forwarding trail
	ActionWait             Action = "wait"                     // a stack operation is in progress
	ActionLeaveAlone       Action = "leave-alone"              // a stack that is not ours: reported, untouched
	ActionNeedsPerson      Action = "needs-person"             // DELETE_FAILED, no usable trail, ...
	ActionFail             Action = "fail"                     // the reconcile could not decide
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

func (a Action) writes() bool {
	switch a {
	case ActionCreate, ActionUpdate, ActionRecreate, ActionContinueRollback, ActionStartLogging:
		return true
	}
	return false
}

// InSync reports whether the account needed nothing.
func (r Result) InSync() bool { return r.Class == fault.None && r.Action == ActionNone }
