package reconcile

import (
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
)

// RolloutMark's rows: which passes the rollout records, and as failed.
func TestRolloutMark(t *testing.T) {
	const later = "210987654321"
	v1, v2 := rollout.Version{URL: "https://t/v1.yaml"}, rollout.Version{URL: "https://t/v2.yaml"}
	running := &rollout.Rollout{ID: "r1", From: v1, To: v2, Waves: [][]string{{acct}, {later}}, State: rollout.Running}
	paused := *running
	paused.State = rollout.Paused
	halted := *running
	halted.State = rollout.Halted
	done := Result{Account: acct, Class: fault.None, Outcome: OutcomeDone}
	cases := []struct {
		name           string
		res            Result
		ro             *rollout.Rollout
		used           rollout.Version
		record, failed bool
	}{
		{"no rollout", done, nil, v2, false, false},
		{"settled with the new version", done, running, v2, true, false},
		{"settled, no stack built (offboarded, left alone)", done, running, rollout.Version{}, true, false},
		{"settled while paused", done, &paused, v2, true, false},
		{"halted: nothing recorded", done, &halted, v2, false, false},
		{"built from the old version (read before its wave)", done, running, v1, false, false},
		{"an account of a later wave", Result{Account: later, Class: fault.None, Outcome: OutcomeDone}, running, v1, false, false},
		{"an operation under way", Result{Account: acct, Class: fault.None, Outcome: OutcomeLater}, running, v2, false, false},
		{"a transient failure", Result{Account: acct, Class: fault.Transient, Outcome: OutcomeRetry}, running, v2, false, false},
		{"gave up", Result{Account: acct, Class: fault.Transient, Outcome: OutcomeDLQ, GiveUp: true}, running, v2, true, true},
		{"needs a person", Result{Account: acct, Class: fault.NeedsPerson, Outcome: OutcomeDLQ}, running, v2, true, true},
		{"needs a person, already reported", Result{Account: acct, Class: fault.NeedsPerson, Outcome: OutcomeDone, AlreadyReported: true}, running, v2, true, true},
		{"permanent", Result{Account: acct, Class: fault.Permanent, Outcome: OutcomeDLQ}, running, v2, true, true},
		{"dry run", Result{Account: acct, Class: fault.None, Outcome: OutcomeDone, DryRun: true}, running, v2, false, false},
	}
	for _, tc := range cases {
		if record, failed := RolloutMark(tc.res, tc.ro, tc.used); record != tc.record || failed != tc.failed {
			t.Errorf("%s: record %v failed %v, want %v %v", tc.name, record, failed, tc.record, tc.failed)
		}
	}
}
