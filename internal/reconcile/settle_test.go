package reconcile

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// Settle's table, row by row: a plan and what acting on it did, in; the result's action,
// class, outcome and delay out. Every row of the table in Settle's comment has a case.
func TestSettleTable(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	at := Setting{Account: acct, Region: region, Where: "CloudOne in " + acct + "/" + region, Role: "CloudOneOnboarderExecution",
		Now: now, Delays: Delays{Min: 30 * time.Second, Max: 5 * time.Minute}, StartsPerMinute: 30}
	write := func(step Action) Plan {
		return Plan{Step: step, Why: "stack CloudOne differs: x", Next: Next{Outcome: OutcomeLater, After: 30 * time.Second}, Paced: true}
	}
	denied := apiErr("AccessDenied", "not authorized to perform: cloudformation:CreateStack with an explicit deny in a service control policy")
	cases := []struct {
		name    string
		plan    Plan
		got     Acted
		action  Action
		class   fault.Class
		outcome Outcome
		after   time.Duration
		status  string // the status after, when the row sets one
		in      string // in the reason or a step
	}{
		{"dry run: a write is only reported", Plan{Step: ActionCreate, Why: "stack absent: create it", DryRun: true, Next: Next{Outcome: OutcomeDone}},
			Acted{}, ActionCreate, fault.None, OutcomeDone, 0, "ABSENT", "dry run: would stack absent"},
		{"dry run: a stopped trail is only reported", Plan{Step: ActionStartLogging, StartLogging: true, DryRun: true, Next: Next{Outcome: OutcomeDone}},
			Acted{}, ActionStartLogging, fault.None, OutcomeDone, 0, "", "dry run: would start logging on trail audit"},
		{"dry run: needs a person all the same", Plan{Step: ActionNeedsPerson, Why: "DELETE_FAILED", DryRun: true, Next: Next{Outcome: OutcomeDLQ}},
			Acted{}, ActionNeedsPerson, fault.NeedsPerson, OutcomeDLQ, 0, "", "DELETE_FAILED"},
		{"StartLogging denied", Plan{Step: ActionStartLogging, StartLogging: true, Next: Next{Outcome: OutcomeDone}},
			Acted{StartErr: apiErr("AccessDeniedException", "denied")}, ActionFail, fault.Permanent, OutcomeDLQ, 0, "", "cloudtrail:StartLogging"},
		{"StartLogging throttled, no stack write", Plan{Step: ActionUpdate, StartLogging: true, Next: Next{Outcome: OutcomeLater, After: 30 * time.Second}},
			Acted{StartErr: apiErr("ThrottlingException", "Rate exceeded")}, ActionFail, fault.Transient, OutcomeRetry, 0, "", "Rate exceeded"},
		{"StartLogging done, in sync", Plan{Step: ActionStartLogging, StartLogging: true, Why: "trail audit was stopped: start logging again", Next: Next{Outcome: OutcomeDone}},
			Acted{Started: true}, ActionStartLogging, fault.None, OutcomeDone, 0, "", "started logging again on trail audit"},
		{"needs a person", Plan{Step: ActionNeedsPerson, Why: "the onboarder's create failed", Next: Next{Outcome: OutcomeDLQ}},
			Acted{}, ActionNeedsPerson, fault.NeedsPerson, OutcomeDLQ, 0, "", "the onboarder's create failed"},
		{"as planned: nothing to write", Plan{Step: ActionNone, Why: "in sync", Next: Next{Outcome: OutcomeDone}},
			Acted{}, ActionNone, fault.None, OutcomeDone, 0, "", "in sync"},
		{"as planned: wait for the operation", Plan{Step: ActionWait, Why: "CREATE_IN_PROGRESS", Next: Next{Outcome: OutcomeLater, After: 2 * time.Minute}},
			Acted{}, ActionWait, fault.None, OutcomeLater, 2 * time.Minute, "", "CREATE_IN_PROGRESS"},
		{"start slot not taken", write(ActionCreate), Acted{SlotErr: errors.New("dynamodb: throttled")}, ActionFail, fault.Transient, OutcomeRetry, 0, "", "take a stack start slot"},
		{"start slot not due", write(ActionCreate), Acted{Slot: now.Add(40 * time.Second)}, ActionScheduled, fault.None, OutcomeLater, 40 * time.Second, "", "ONBOARDER_MAX_STARTS_PER_MINUTE"},
		{"start slot far away: a hop of 15 minutes", write(ActionUpdate), Acted{Slot: now.Add(time.Hour)}, ActionScheduled, fault.None, OutcomeLater, 15 * time.Minute, "", "start slot at 2026-12-04T13:00:00Z"},
		{"start slot due: create sent", write(ActionCreate), Acted{Slot: now.Add(time.Second), Op: stack.OpCreate}, ActionCreate, fault.None, OutcomeLater, 30 * time.Second, "CREATE_IN_PROGRESS", "create stack CloudOne in"},
		{"start slot not due when taken, 20 s into the pass", write(ActionCreate), Acted{Slot: now.Add(60 * time.Second), SlotAt: now.Add(20 * time.Second)}, ActionScheduled, fault.None, OutcomeLater, 40 * time.Second, "", "ONBOARDER_MAX_STARTS_PER_MINUTE"},
		{"update sent", write(ActionUpdate), Acted{Op: stack.OpUpdate}, ActionUpdate, fault.None, OutcomeLater, 30 * time.Second, "UPDATE_IN_PROGRESS", "update stack"},
		{"delete sent", write(ActionDelete), Acted{Op: stack.OpDelete}, ActionDelete, fault.None, OutcomeLater, 30 * time.Second, "DELETE_IN_PROGRESS", "delete stack"},
		{"rollback continued", write(ActionContinueRollback), Acted{Op: stack.OpContinueRollback}, ActionContinueRollback, fault.None, OutcomeLater, 30 * time.Second, "UPDATE_ROLLBACK_IN_PROGRESS", "rollback stack"},
		{"update: no updates are to be performed", write(ActionUpdate), Acted{Op: stack.OpUpdate, WriteErr: apiErr("ValidationError", "No updates are to be performed.")},
			ActionNone, fault.None, OutcomeDone, 0, "UPDATE_COMPLETE", "no updates are to be performed"},
		{"write refused: the stack is busy", write(ActionUpdate), Acted{Op: stack.OpUpdate, WriteErr: apiErr("ValidationError", "Stack:arn is in UPDATE_IN_PROGRESS state and can not be updated.")},
			ActionWait, fault.None, OutcomeLater, 30 * time.Second, "UPDATE_COMPLETE", "busy with another operation"},
		{"write refused: the stack already exists", write(ActionCreate), Acted{Op: stack.OpCreate, WriteErr: apiErr("AlreadyExistsException", "Stack [CloudOne] already exists")},
			ActionWait, fault.None, OutcomeLater, 30 * time.Second, "ABSENT", "AlreadyExistsException"},
		{"write denied", write(ActionCreate), Acted{Op: stack.OpCreate, WriteErr: denied}, ActionFail, fault.Permanent, OutcomeDLQ, 0, "ABSENT", "cloudformation:CreateStack in " + acct + "/us-east-1 was denied (an SCP, or a missing permission of role CloudOneOnboarderExecution)"},
		{"write at a quota", write(ActionCreate), Acted{Op: stack.OpCreate, WriteErr: apiErr("LimitExceededException", "Limit for stacks exceeded")}, ActionNeedsPerson, fault.NeedsPerson, OutcomeDLQ, 0, "ABSENT", "Limit for stacks"},
		{"the vendor forgot the account", Plan{Step: ActionForget, Why: "offboarding: remove it", Next: Next{Outcome: OutcomeDone}}, Acted{Forgot: true},
			ActionForget, fault.None, OutcomeDone, 0, "", "removed account " + acct + " from the vendor"},
		{"the vendor could not forget it", Plan{Step: ActionForget, Why: "offboarding: remove it", Next: Next{Outcome: OutcomeDone}}, Acted{Forgot: true, ForgetErr: fault.Transientf("Vision One answered 503")},
			ActionFail, fault.Transient, OutcomeRetry, 0, "", "remove account " + acct + " from the vendor: Vision One answered 503"},
		{"dry run: the vendor is not asked", Plan{Step: ActionForget, Why: "remove it", DryRun: true, Next: Next{Outcome: OutcomeDone}}, Acted{},
			ActionForget, fault.None, OutcomeDone, 0, "", "dry run: would remove it"},
		{"write throttled", write(ActionDelete), Acted{Op: stack.OpDelete, WriteErr: apiErr("Throttling", "Rate exceeded")}, ActionFail, fault.Transient, OutcomeRetry, 0, "UPDATE_COMPLETE", "tried to delete"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := Result{Account: acct, Region: region, Action: ActionNone, Class: fault.None, StatusBefore: "UPDATE_COMPLETE", StatusAfter: "UPDATE_COMPLETE",
				Trail: &trail.Choice{TrailName: "audit", TrailARN: "arn:aws:cloudtrail:us-east-1:" + acct + ":trail/audit", Why: "trail audit forwards"}}
			if tc.plan.Step == ActionCreate {
				res.StatusBefore, res.StatusAfter = "ABSENT", "ABSENT"
			}
			before := *res.Trail
			got := Settle(res, tc.plan, tc.got, at)
			if got.Action != tc.action || got.Class != tc.class || got.Outcome != tc.outcome || got.RetryAfter != tc.after {
				t.Fatalf("got %s/%s/%s after %s, want %s/%s/%s after %s: %s %s", got.Action, got.Class, got.Outcome, got.RetryAfter,
					tc.action, tc.class, tc.outcome, tc.after, got.Reason, got.Error)
			}
			if tc.status != "" && got.StatusAfter != tc.status {
				t.Errorf("status after %s, want %s", got.StatusAfter, tc.status)
			}
			text := got.Reason + " " + got.Error
			for _, s := range got.Steps {
				text += " " + s.Detail
			}
			if !strings.Contains(text, tc.in) {
				t.Errorf("%q is not in %q", tc.in, text)
			}
			if (got.Action == ActionScheduled) != !got.startSlot.IsZero() {
				t.Errorf("start slot kept %v for action %s", got.startSlot, got.Action)
			}
			if res.Trail.Why != before.Why {
				t.Error("Settle changed its input's trail choice")
			}
		})
	}
}

// A slot is due within the queue's one-second granularity.
func TestSlotDue(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]bool{-time.Minute: true, 0: true, time.Second: true, 1001 * time.Millisecond: false, time.Minute: false} {
		if got := SlotDue(now.Add(d), now); got != want {
			t.Errorf("slot in %s: due %v, want %v", d, got, want)
		}
	}
}
