package reconcile

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/target"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// The state table of docs/ARCHITECTURE.md, row by row, on the pure decision: each case is an
// observation and the step (and row) it must give. Every row of the table has a case, and
// TestDecideCoversEveryRow fails when a row has none.
func TestDecideTable(t *testing.T) {
	want := desiredFor("")
	other := desiredFor("other-bucket")
	observed := func(status string, d stack.Desired, managed bool) stack.Observed {
		o := stack.Observed{Exists: true, ID: "arn:aws:cloudformation:us-east-1:" + acct + ":stack/CloudOne/1", Status: cfntypes.StackStatus(status),
			Params: map[string]string{}, Tags: map[string]string{}}
		for _, p := range d.Parameters() {
			o.Params[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
		}
		if managed {
			for _, tg := range d.Tags(nil) {
				o.Tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
			}
		}
		return o
	}
	ours := func(op stack.Op, d stack.Desired) *stack.Operation {
		return &stack.Operation{Token: stack.Token(op, d.Fingerprint(), "r"), Ours: true, Op: op, Fingerprint: d.Fingerprint()[:16],
			Failed: &stack.Failure{LogicalID: "CloudOneIntegration", Type: "AWS::CloudFormation::CustomResource", Status: "CREATE_FAILED", Reason: "Cloud One said no"}}
	}
	after := func(op, prev *stack.Operation) *stack.Operation { c := *op; c.Previous = prev; return &c }
	theirs := &stack.Operation{Token: "Console-1", Failed: &stack.Failure{LogicalID: "X", Type: "AWS::IAM::Role", Status: "CREATE_FAILED", Reason: "denied"}}
	stopped := &trail.Choice{Stopped: true, TrailName: "audit", Why: "trail audit forwards to the stack but was stopped"}
	takes := stack.TemplateParams{stack.ParamAPIKey: false, stack.ParamServiceToken: false, stack.ParamCreateNew: true, stack.ParamBucket: true, stack.ParamQSS3Bucket: true, stack.ParamQSS3KeyPrefix: true}
	later := stack.TemplateParams{"CloudOneApiKeySecret": false, stack.ParamQSS3Bucket: true, stack.ParamQSS3KeyPrefix: true}
	cases := []struct {
		name string
		o    Observation
		step Action
		row  Row
		log  bool // StartLogging first
		in   string
	}{
		{"absent", Observation{Desired: &want}, ActionCreate, RowAbsent, false, "absent"},
		{"absent, trail irrelevant", Observation{Desired: &want, Trail: &trail.Choice{CreateNewTrail: true}}, ActionCreate, RowAbsent, false, ""},
		{"absent, the template takes the parameters", Observation{Desired: &want, Template: takes}, ActionCreate, RowAbsent, false, "absent"},
		{"absent, the template does not take the parameters", Observation{Desired: &want, Template: later}, ActionNeedsPerson, RowTemplateRefused, false,
			"it does not declare CloudOneApiKey, CreateNewTrail, ExistingCloudtrailBucketName, VisionOneServiceToken; it requires CloudOneApiKeySecret"},
		{"differs, the template does not take the parameters", Observation{Stack: observed("CREATE_COMPLETE", want, true), Desired: &other, Template: later}, ActionNeedsPerson, RowTemplateRefused, false, "no stack is written from it"},
		{"in sync, whatever the template declares", Observation{Stack: observed("CREATE_COMPLETE", want, true), Desired: &want, Template: later}, ActionNone, RowInSync, false, "in sync"},
		{"not ours", Observation{Stack: observed("CREATE_COMPLETE", want, false), Desired: &want}, ActionLeaveAlone, RowNotOurs, false, "ONBOARDER_ADOPT_EXISTING"},
		{"not ours, adopting", Observation{Stack: observed("CREATE_COMPLETE", want, false), Desired: &want, Adopt: true}, ActionUpdate, RowDiffers, false, "adopting"},
		{"create in progress", Observation{Stack: observed("CREATE_IN_PROGRESS", want, true)}, ActionWait, RowInProgress, false, "settles"},
		{"update cleanup in progress", Observation{Stack: observed("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", want, true)}, ActionWait, RowInProgress, false, ""},
		{"rollback in progress", Observation{Stack: observed("ROLLBACK_IN_PROGRESS", want, true)}, ActionWait, RowInProgress, false, ""},
		{"delete in progress", Observation{Stack: observed("DELETE_IN_PROGRESS", want, true)}, ActionWait, RowInProgress, false, ""},
		{"update failed with rollback disabled", Observation{Stack: observed("UPDATE_FAILED", want, true), LastOp: theirs}, ActionNeedsPerson, RowHalted, false, "rollback-stack"},
		{"import rollback failed", Observation{Stack: observed("IMPORT_ROLLBACK_FAILED", want, true)}, ActionNeedsPerson, RowHalted, false, "without rolling back"},
		{"in sync", Observation{Stack: observed("CREATE_COMPLETE", want, true), Desired: &want}, ActionNone, RowInSync, false, "in sync"},
		{"in sync, what it made is gone", Observation{Stack: observed("CREATE_COMPLETE", want, true), Desired: &want, Drifted: "its trail t is gone"}, ActionDelete, RowDrifted, false, "its trail t is gone, which an update cannot make again: delete it, then create it again"},
		{"differs, what it made is gone", Observation{Stack: observed("CREATE_COMPLETE", want, true), Desired: &other, Drifted: "its trail t is gone"}, ActionUpdate, RowDiffers, false, ""},
		{"in sync, update rolled back by someone", Observation{Stack: observed("UPDATE_ROLLBACK_COMPLETE", want, true), Desired: &want}, ActionNone, RowInSync, false, ""},
		{"in sync, trail stopped", Observation{Stack: observed("UPDATE_COMPLETE", want, true), Desired: &want, Trail: stopped}, ActionStartLogging, RowInSync, true, "start logging"},
		{"differs", Observation{Stack: observed("CREATE_COMPLETE", want, true), Desired: &other}, ActionUpdate, RowDiffers, false, "ExistingCloudtrailBucketName"},
		{"differs, trail stopped", Observation{Stack: observed("CREATE_COMPLETE", want, true), Desired: &other, Trail: stopped}, ActionUpdate, RowDiffers, true, ""},
		{"someone's update rolled back, differs", Observation{Stack: observed("UPDATE_ROLLBACK_COMPLETE", want, true), Desired: &other, LastOp: theirs}, ActionUpdate, RowDiffers, false, ""},
		{"our update for an older state rolled back", Observation{Stack: observed("UPDATE_ROLLBACK_COMPLETE", want, true), Desired: &other, LastOp: ours(stack.OpUpdate, want)}, ActionUpdate, RowDiffers, false, ""},
		{"our update for this state rolled back", Observation{Stack: observed("UPDATE_ROLLBACK_COMPLETE", want, true), Desired: &other, LastOp: ours(stack.OpUpdate, other)}, ActionNeedsPerson, RowOwnUpdateFailed, false, "CloudOneIntegration (AWS::CloudFormation::CustomResource) CREATE_FAILED: Cloud One said no"},
		{"our update rolled back, operator retries", Observation{Stack: observed("UPDATE_ROLLBACK_COMPLETE", want, true), Desired: &other, LastOp: ours(stack.OpUpdate, other), RetryFailed: true}, ActionUpdate, RowDiffers, false, ""},
		{"our update rolled back again, the operator's retry", Observation{Stack: observed("UPDATE_ROLLBACK_COMPLETE", want, true), Desired: &other, LastOp: ours(stack.OpUpdate, other), RetryFailed: true, Request: "r"}, ActionNeedsPerson, RowOwnUpdateFailed, false, "Cloud One said no"},
		{"our update's failed rollback continued", Observation{Stack: observed("UPDATE_ROLLBACK_COMPLETE", want, true), Desired: &other, LastOp: after(ours(stack.OpContinueRollback, other), ours(stack.OpUpdate, other))}, ActionNeedsPerson, RowOwnUpdateFailed, false, "Cloud One said no"},
		{"someone's failed rollback continued", Observation{Stack: observed("UPDATE_ROLLBACK_COMPLETE", want, true), Desired: &other, LastOp: after(ours(stack.OpContinueRollback, other), theirs)}, ActionUpdate, RowDiffers, false, ""},
		{"someone's create rolled back", Observation{Stack: observed("ROLLBACK_COMPLETE", want, true), Desired: &want, LastOp: theirs}, ActionDelete, RowFailedCreate, false, "delete it, then create it"},
		{"rollback failed", Observation{Stack: observed("ROLLBACK_FAILED", want, true), Desired: &want}, ActionDelete, RowFailedCreate, false, ""},
		{"create failed", Observation{Stack: observed("CREATE_FAILED", want, true), Desired: &want}, ActionDelete, RowFailedCreate, false, ""},
		{"our create for an older state rolled back", Observation{Stack: observed("ROLLBACK_COMPLETE", want, true), Desired: &other, LastOp: ours(stack.OpCreate, want)}, ActionDelete, RowFailedCreate, false, ""},
		{"our create for this state rolled back", Observation{Stack: observed("ROLLBACK_COMPLETE", want, true), Desired: &want, LastOp: ours(stack.OpCreate, want)}, ActionNeedsPerson, RowOwnCreateFailed, false, "--retry-failed"},
		{"our create rolled back, operator retries", Observation{Stack: observed("ROLLBACK_COMPLETE", want, true), Desired: &want, LastOp: ours(stack.OpCreate, want), RetryFailed: true}, ActionDelete, RowFailedCreate, false, ""},
		{"our create rolled back again, the operator's retry", Observation{Stack: observed("ROLLBACK_COMPLETE", want, true), Desired: &want, LastOp: ours(stack.OpCreate, want), RetryFailed: true, Request: "r"}, ActionNeedsPerson, RowOwnCreateFailed, false, "Cloud One said no"},
		{"update rollback failed", Observation{Stack: observed("UPDATE_ROLLBACK_FAILED", want, true), Desired: &want, LastOp: theirs}, ActionContinueRollback, RowRollbackFailed, false, "continue the rollback"},
		{"update rollback failed again after ours", Observation{Stack: observed("UPDATE_ROLLBACK_FAILED", want, true), Desired: &want, LastOp: ours(stack.OpContinueRollback, want)}, ActionNeedsPerson, RowOwnContinueAgain, false, ""},
		{"delete failed", Observation{Stack: observed("DELETE_FAILED", want, true), LastOp: theirs}, ActionNeedsPerson, RowDeleteFailed, false, "X (AWS::IAM::Role)"},
		{"review in progress", Observation{Stack: observed("REVIEW_IN_PROGRESS", want, true)}, ActionNeedsPerson, RowReview, false, "change set"},
		// the vendor's own view, for a target that keeps one (Vision One)
		{"in sync, the view not read", Observation{Stack: observed("CREATE_COMPLETE", want, true), Desired: &want, HasView: true}, ActionNone, RowInSync, false, "in sync"},
		{"in sync, managed", Observation{Stack: observed("CREATE_COMPLETE", want, true), Desired: &want, HasView: true, View: &target.View{Found: true, State: "managed"}}, ActionNone, RowInSync, false, "in sync"},
		{"in sync, outdated", Observation{Stack: observed("CREATE_COMPLETE", want, true), Desired: &want, HasView: true, View: &target.View{Found: true, State: "outdated", Outdated: true, TemplateVersion: "1.2"}},
			ActionNone, RowInSync, false, "template outdated (version 1.2): a rollout"},
		{"in sync, not registered yet", Observation{Stack: observed("CREATE_COMPLETE", want, true), Desired: &want, HasView: true, View: &target.View{}}, ActionWait, RowViewPending, false, "does not know account"},
		{"in sync, never registered", Observation{Stack: settledAgo(observed("CREATE_COMPLETE", want, true), 2*time.Hour), Desired: &want, HasView: true, View: &target.View{}}, ActionNeedsPerson, RowViewUnknown, false, "the new stack registers the account"},
		{"in sync, failed", Observation{Stack: observed("UPDATE_COMPLETE", want, true), Desired: &want, HasView: true,
			View: &target.View{Found: true, State: "failed", Failed: true, Problems: []string{"cloud-audit-log-monitoring: missing iam:PassRole"}}}, ActionNeedsPerson, RowViewFailed, false, "missing iam:PassRole"},
		{"in sync, stopped trail, failed", Observation{Stack: observed("UPDATE_COMPLETE", want, true), Desired: &want, Trail: stopped, HasView: true,
			View: &target.View{Found: true, State: "failed", Failed: true}}, ActionNeedsPerson, RowViewFailed, true, "reports account"},
		// offboarding: the account left the scope
		{"offboard, closed account", Observation{Offboard: "account-closed", Unreachable: "sts:AssumeRole of R was denied", WasOurs: true, Policy: config.OffboardDelete}, ActionOffboarded, RowOffboardUnreachable, false, "cannot be opened"},
		{"offboard, absent", Observation{Offboard: "ou-not-included", Policy: config.OffboardDelete, WasOurs: true}, ActionOffboarded, RowOffboardGone, false, "nothing to delete"},
		{"offboard, not ours", Observation{Offboard: "ou-not-included", Stack: observed("CREATE_COMPLETE", want, false), Policy: config.OffboardDelete, Adopt: true}, ActionLeaveAlone, RowOffboardNotOurs, false, "never deleted"},
		{"offboard, excluded: never touched", Observation{Offboard: "excluded-account", WasOurs: true, Policy: config.OffboardReport}, ActionOffboarded, RowOffboardExcluded, false, "never touched"},
		{"offboard, excluded, delete policy: never deleted", Observation{Offboard: "excluded-account", WasOurs: true, Stack: observed("CREATE_COMPLETE", want, true), Policy: config.OffboardDelete}, ActionOffboarded, RowOffboardExcluded, false, "move the account out of ONBOARDER_INCLUDE_OUS"},
		{"offboard, report", Observation{Offboard: "ou-not-included", Stack: observed("CREATE_COMPLETE", want, true), Policy: config.OffboardReport}, ActionOffboarded, RowOffboardReport, false, "ONBOARDER_OFFBOARD=delete"},
		{"offboard, delete", Observation{Offboard: "ou-not-included", OffboardWhy: "ou-not-included: the sweep found it", Stack: observed("UPDATE_COMPLETE", want, true), Policy: config.OffboardDelete}, ActionDelete, RowOffboardDelete, false, "the sweep found it"},
		{"offboard, delete, own trail", Observation{Offboard: "account-not-in-organization", Stack: observed("CREATE_COMPLETE", want, true), Policy: config.OffboardDelete}, ActionDelete, RowOffboardDelete, false, "its bucket with the logs delivered so far"},
		{"offboard, delete a failed stack", Observation{Offboard: "account-removed", Stack: observed("ROLLBACK_COMPLETE", want, true), Policy: config.OffboardDelete}, ActionDelete, RowOffboardDelete, false, "Workload Security connector"},
		{"offboard, in progress", Observation{Offboard: "account-removed", Stack: observed("DELETE_IN_PROGRESS", want, true), Policy: config.OffboardDelete}, ActionWait, RowOffboardInProgress, false, "then delete it"},
		{"offboard, delete failed", Observation{Offboard: "account-removed", Stack: observed("DELETE_FAILED", want, true), LastOp: theirs, Policy: config.OffboardDelete}, ActionNeedsPerson, RowOffboardDeleteFailed, false, "X (AWS::IAM::Role)"},
		{"offboard, gone, the vendor keeps it", Observation{Offboard: "account-removed", Policy: config.OffboardDelete, WasOurs: true, HasView: true, View: &target.View{Found: true}},
			ActionForget, RowOffboardForget, false, "remove account " + acct + " from Cloud One"},
		{"offboard, report, the vendor keeps it", Observation{Offboard: "ou-not-included", Stack: observed("CREATE_COMPLETE", want, true), Policy: config.OffboardReport, HasView: true, View: &target.View{Found: true}},
			ActionForget, RowOffboardForget, false, "is left in place"},
		{"offboard, gone, the vendor forgot it", Observation{Offboard: "account-removed", Policy: config.OffboardDelete, WasOurs: true, HasView: true, View: &target.View{}},
			ActionOffboarded, RowOffboardGone, false, "nothing to delete"},
		{"offboard, excluded, the vendor is not asked", Observation{Offboard: "excluded-account", WasOurs: true, HasView: true}, ActionOffboarded, RowOffboardExcluded, false, "never touched"},
	}
	delays := Delays{Min: 30 * time.Second, Max: 5 * time.Minute}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Where = "CloudOne in " + acct + "/us-east-1"
			tc.o.Now, tc.o.Delays = now, delays
			if tc.o.Stack.Exists && tc.o.Stack.LastUpdated.IsZero() {
				tc.o.Stack.LastUpdated = now.Add(-4 * time.Minute)
			}
			p, row := Decide(tc.o)
			if p.Step != tc.step || row != tc.row || p.StartLogging != tc.log {
				t.Fatalf("got %s (row %q, start logging %v), want %s (row %q, start logging %v): %s", p.Step, row, p.StartLogging, tc.step, tc.row, tc.log, p.Why)
			}
			if !strings.Contains(p.Why, tc.in) {
				t.Errorf("why %q lacks %q", p.Why, tc.in)
			}
			if p.Step == ActionNeedsPerson && strings.Contains(string(tc.row), "onboarder's own") && p.Failed == nil {
				t.Errorf("needs-person after our own write names no failed resource")
			}
			// The plan carries what becomes of the request once its step is taken.
			want := Next{Outcome: OutcomeDone}
			switch {
			case tc.step == ActionWait:
				want = Next{Outcome: OutcomeLater, After: 2 * time.Minute} // half the operation's age
			case tc.step == ActionNeedsPerson:
				want = Next{Outcome: OutcomeDLQ}
			case tc.step.writesStack():
				want = Next{Outcome: OutcomeLater, After: delays.Min}
			}
			if p.Next != want {
				t.Errorf("next %+v, want %+v", p.Next, want)
			}
			// A dry run plans the same step and comes back for nothing it would write.
			dry := tc.o
			dry.DryRun = true
			if dp, drow := Decide(dry); dp.Step != p.Step || drow != row || !dp.DryRun || (p.Step.writesStack() && dp.Next != Next{Outcome: OutcomeDone}) {
				t.Errorf("dry run: %s (row %q), next %+v", dp.Step, drow, dp.Next)
			}
			// The vendor's view is read for a stack in sync, and for an offboarding's end.
			if tc.o.HasView && tc.o.View == nil && row != RowOffboardExcluded && p.Step != ActionNeedsPerson && !p.ReadView {
				t.Errorf("the vendor's view was not asked for (step %s)", p.Step)
			}
			// A create or update reads the template's parameters first: not read, it asks for them.
			if unread := tc.o; unread.Template == nil {
				up, urow := Decide(unread)
				if up.ReadTemplate != ((up.Step == ActionCreate || up.Step == ActionUpdate) && unread.Desired != nil) || urow != row {
					t.Errorf("read the template %v for step %s", up.ReadTemplate, up.Step)
				}
			} else if p.ReadTemplate {
				t.Error("a read template is asked for again")
			}
			// Only stack writes are paced.
			paced := tc.o
			paced.Paced = true
			if pp, _ := Decide(paced); pp.Paced != p.Step.writesStack() {
				t.Errorf("paced %v for step %s", pp.Paced, p.Step)
			}
		})
	}
	// Decide is a pure function: the same observation gives the same plan.
	o := Observation{Stack: observed("CREATE_COMPLETE", want, true), Desired: &other}
	p1, _ := Decide(o)
	p2, _ := Decide(o)
	if p1.Why != p2.Why || p1.Step != p2.Step {
		t.Fatal("Decide is not deterministic")
	}
}

// When a request comes back to look at an operation: half its age, within the delays; the
// back-off after failures doubles from the shortest delay to the longest.
func TestDelays(t *testing.T) {
	d := Delays{Min: 30 * time.Second, Max: 5 * time.Minute}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		age, want time.Duration
	}{{0, 30 * time.Second}, {20 * time.Second, 30 * time.Second}, {3 * time.Minute, 90 * time.Second}, {time.Hour, 5 * time.Minute}} {
		start := now.Add(-c.age)
		if c.age == 0 {
			start = time.Time{} // unknown
		}
		if got := d.Check(start, now); got != c.want {
			t.Errorf("check after %s: %s, want %s", c.age, got, c.want)
		}
	}
	for n, want := range []time.Duration{30 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		if got := d.Backoff(n); got != want {
			t.Errorf("back-off after %d failures: %s, want %s", n, got, want)
		}
	}
}

// Every row of the table is reached by some observation.
func TestDecideCoversEveryRow(t *testing.T) {
	rows := []Row{RowAbsent, RowNotOurs, RowInProgress, RowInSync, RowDiffers, RowOwnUpdateFailed, RowFailedCreate, RowOwnCreateFailed,
		RowRollbackFailed, RowOwnContinueAgain, RowDeleteFailed, RowReview, RowHalted, RowTemplateRefused, RowViewPending, RowViewUnknown, RowViewFailed, RowDrifted, RowOffboardForget,
		RowOffboardExcluded, RowOffboardUnreachable, RowOffboardGone, RowOffboardNotOurs, RowOffboardReport, RowOffboardInProgress, RowOffboardDeleteFailed, RowOffboardDelete}
	seen := map[Row]bool{}
	for _, st := range []string{"", "CREATE_COMPLETE", "DELETE_IN_PROGRESS", "DELETE_FAILED", "ROLLBACK_COMPLETE"} {
		for _, managed := range []bool{true, false} {
			for _, policy := range []config.OffboardPolicy{config.OffboardReport, config.OffboardDelete} {
				for _, unreachable := range []string{"", "denied", "excluded"} {
					o := Observation{Where: "w", Offboard: "account-closed", Policy: policy, Unreachable: unreachable}
					if unreachable == "excluded" {
						o.Offboard, o.Unreachable = "excluded-account", ""
					}
					if st != "" && unreachable == "" {
						o.Stack = stack.Observed{Exists: true, Status: cfntypes.StackStatus(st), Tags: map[string]string{}}
						if managed {
							o.Stack.Tags[stack.TagManaged] = "true"
						}
					}
					p, row := Decide(o)
					seen[row] = true
					if p.Step == ActionDelete && (!managed || policy != config.OffboardDelete || o.Offboard == "excluded-account") {
						t.Errorf("offboarding (%s) deleted a stack (managed %v, policy %s): %s", o.Offboard, managed, policy, p.Why)
					}
				}
			}
		}
	}
	want := desiredFor("")
	for _, st := range []string{"", "CREATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "CREATE_IN_PROGRESS", "ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED", "REVIEW_IN_PROGRESS", "UPDATE_FAILED"} {
		for _, managed := range []bool{true, false} {
			for _, own := range []bool{true, false} {
				for _, op := range []stack.Op{stack.OpCreate, stack.OpUpdate, stack.OpContinueRollback} {
					o := Observation{Where: "w", Desired: &want}
					if st != "" {
						o.Stack = stack.Observed{Exists: true, Status: cfntypes.StackStatus(st), Tags: map[string]string{}, Params: map[string]string{}}
						if managed {
							o.Stack.Tags[stack.TagManaged] = "true"
						}
					}
					if own {
						o.LastOp = &stack.Operation{Ours: true, Op: op, Fingerprint: want.Fingerprint()[:16]}
					}
					_, row := Decide(o)
					seen[row] = true
				}
			}
		}
	}
	inSync := stack.Observed{Exists: true, Status: "CREATE_COMPLETE", Tags: map[string]string{}, Params: map[string]string{}}
	for _, p := range want.Parameters() {
		inSync.Params[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	for _, tg := range want.Tags(nil) {
		inSync.Tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	_, row := Decide(Observation{Where: "w", Desired: &want, Stack: inSync})
	seen[row] = true
	_, row = Decide(Observation{Where: "w", Desired: &want, Stack: inSync, Drifted: "its trail is gone"})
	seen[row] = true
	_, row = Decide(Observation{Where: "w", Desired: &want, Template: stack.TemplateParams{"Other": false}})
	seen[row] = true
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	inSync.LastUpdated = now.Add(-time.Minute)
	for _, v := range []*target.View{{}, {Found: true, Failed: true}} {
		for _, age := range []time.Duration{0, time.Hour} {
			o := Observation{Where: "w", Desired: &want, Stack: inSync, HasView: true, View: v, Now: now.Add(age)}
			_, row = Decide(o)
			seen[row] = true
		}
	}
	_, row = Decide(Observation{Where: "w", Offboard: "account-removed", HasView: true, View: &target.View{Found: true}})
	seen[row] = true
	for _, r := range rows {
		if !seen[r] {
			t.Errorf("row %q is never reached", r)
		}
	}
}

// settledAgo is the stack as last written d before the table's now.
func settledAgo(o stack.Observed, d time.Duration) stack.Observed {
	o.LastUpdated = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC).Add(-d)
	return o
}

func desiredFor(bucket string) stack.Desired {
	createNew := "True"
	if bucket != "" {
		createNew = "False"
	}
	return stack.Desired{Name: "CloudOne", TemplateURL: "https://example.com/t.yaml", Params: map[string]string{
		stack.ParamCreateNew: createNew, stack.ParamBucket: bucket, stack.ParamQSS3Bucket: "cloudone-community", stack.ParamQSS3KeyPrefix: "",
	}, Secrets: stack.CloudOneSecrets(secret.Credentials{APIKey: secret.NewValue(apiKey), ServiceToken: secret.NewValue(apiToken)}), SecretVersion: "v1"}
}

// What an offboarding says is left in the vendor is true of the row: Vision One removes an
// account that leaves, but never an excluded one, which it keeps until a person removes it.
func TestOffboardLeftInTheVendor(t *testing.T) {
	v1 := (&target.VisionOne{}).Offboarding()
	excluded, _ := Decide(Observation{Where: "Vision-One-Cloud-Account-Management in " + acct + "/us-east-1", Offboard: "excluded-account", WasOurs: true,
		HasView: true, Vendor: v1, Policy: config.OffboardDelete})
	if !strings.Contains(excluded.Left, "stays in Cloud Accounts") || strings.Contains(excluded.Left, "nothing once") {
		t.Errorf("excluded: left %q, want what Vision One keeps", excluded.Left)
	}
	report, _ := Decide(Observation{Where: "Vision-One-Cloud-Account-Management in " + acct + "/us-east-1", Offboard: "ou-not-included", WasOurs: true,
		Stack: stack.Observed{Exists: true, Status: "CREATE_COMPLETE", Tags: map[string]string{stack.TagManaged: "true"}}, HasView: true, View: &target.View{}, Vendor: v1, Policy: config.OffboardReport})
	if !strings.Contains(report.Left, "nothing once the onboarder removed") {
		t.Errorf("report: left %q, want nothing in Vision One once removed", report.Left)
	}
}
