package reconcile

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/target"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// Record's table, row by row: the pass's result and the stored entry in; what becomes of the
// request, the entry and whether it is written out. Every row of the table in Record's comment
// has a case.
func TestRecordTable(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	cfg := config.Default()
	cfg.MaxFailures = 3
	req := queue.Request{Version: 1, Account: acct, Trigger: "test", EventID: "e1"}
	other := queue.Request{Version: 1, Account: acct, Trigger: "sweep", EventID: "s9"}
	inSync := Result{Account: acct, Region: region, StackName: "CloudOne", Action: ActionNone, Class: fault.None, Outcome: OutcomeDone,
		StatusBefore: "CREATE_COMPLETE", StatusAfter: "CREATE_COMPLETE", Managed: true, Reason: "stack CloudOne is CREATE_COMPLETE and in sync",
		Trail: &trail.Choice{Mode: "auto", TrailARN: "arn:aws:cloudtrail:us-east-1:" + acct + ":trail/audit", TrailName: "audit", HomeRegion: region, Bucket: "b"}}
	transient := failure(inSync, fault.Transientf("throttled"))
	rateLimited := failure(inSync, fault.As(fault.Transient, waitErr(90*time.Second)))
	roleWait := transient
	roleWait.waitsForRole = true
	needsPerson := failure(inSync, fault.NeedsPersonf("the onboarder's update failed"))
	created := inSync
	created.Action, created.StatusAfter, created.Outcome, created.RetryAfter = ActionCreate, "CREATE_IN_PROGRESS", OutcomeLater, 30*time.Second
	created.Steps = []Step{{Action: ActionCreate, Detail: "create stack started"}}
	scheduled := inSync
	scheduled.Action, scheduled.Outcome, scheduled.RetryAfter, scheduled.startSlot = ActionScheduled, OutcomeLater, 40*time.Second, now.Add(40*time.Second)
	waiting := inSync
	waiting.Action, waiting.StatusAfter, waiting.Trail, waiting.Outcome, waiting.RetryAfter = ActionWait, "UPDATE_IN_PROGRESS", nil, OutcomeLater, time.Minute
	offboarded := inSync
	offboarded.Action, offboarded.Offboard, offboarded.Left = ActionOffboarded, queue.OffboardExcluded, "in Cloud One: the cloud account"
	entryOf := func(res Result, r queue.Request) *ledger.Entry {
		_, e, _ := Record(res, nil, RecordInput{Request: r, Cfg: cfg, Now: now.Add(-time.Hour), Kept: true})
		return &e
	}
	failing := func(n int) *ledger.Entry {
		e := entryOf(transient, req)
		e.Failures, e.FailingSince = n, now.Add(-10*time.Minute)
		return e
	}
	lastChange := entryOf(created, req)
	lastChange.StackStatus = "CREATE_COMPLETE"

	cases := []struct {
		name     string
		res      Result
		prev     *ledger.Entry
		req      queue.Request
		kept     bool
		outcome  Outcome
		after    time.Duration
		failures int
		giveUp   bool
		write    bool
		check    func(t *testing.T, res Result, e ledger.Entry)
	}{
		{"transient within a new account's role grace: not counted", roleWait, failing(2),
			queue.Request{Version: 1, Account: acct, Trigger: "t", EventID: "e1", AccountSince: now.Add(-4 * time.Minute)}, true,
			OutcomeRetry, 2 * time.Minute, 2, false, false, nil}, // the entry already says it
		{"transient within the grace, near its end: back when it ends", roleWait, nil,
			queue.Request{Version: 1, Account: acct, Trigger: "t", EventID: "e1", AccountSince: now.Add(-cfg.AssumeRoleGrace + 10*time.Second)}, true,
			OutcomeRetry, 11 * time.Second, 0, false, true, nil},
		{"transient: the first failure", transient, nil, req, true, OutcomeRetry, 30 * time.Second, 1, false, true,
			func(t *testing.T, _ Result, e ledger.Entry) {
				if !e.FailingSince.Equal(now) {
					t.Errorf("failing since %s", e.FailingSince)
				}
			}},
		{"transient: counted and backed off", transient, failing(1), req, true, OutcomeRetry, time.Minute, 2, false, true,
			func(t *testing.T, _ Result, e ledger.Entry) {
				if !e.FailingSince.Equal(now.Add(-10 * time.Minute)) {
					t.Errorf("failing since %s: the first failure's time is kept", e.FailingSince)
				}
			}},
		{"transient: gives up at ONBOARDER_MAX_FAILURES", transient, failing(2), req, true, OutcomeDLQ, 2 * time.Minute, 3, true, true, nil},
		{"transient, rate limited: back no sooner than its Retry-After", rateLimited, nil, req, true, OutcomeRetry, 90 * time.Second, 1, false, true, nil},
		{"transient, rate limited: the back-off when longer", rateLimited, failing(3), req, true, OutcomeDLQ, 4 * time.Minute, 4, true, true, nil},
		{"transient, no entry kept: not counted", transient, nil, req, false, OutcomeRetry, 30 * time.Second, 0, false, false, nil},
		{"needs a person, recorded by another request: reported once", needsPerson, entryOf(needsPerson, other), req, true, OutcomeDone, 0, 0, false, false,
			func(t *testing.T, res Result, e ledger.Entry) {
				if !res.AlreadyReported || e.ReportedBy != other.ID() {
					t.Errorf("already reported %v, by %s", res.AlreadyReported, e.ReportedBy)
				}
			}},
		{"needs a person, recorded by this request: its report did not get out", needsPerson, entryOf(needsPerson, req), req, true, OutcomeDLQ, 0, 0, false, false,
			func(t *testing.T, res Result, _ ledger.Entry) {
				if res.AlreadyReported {
					t.Error("the request that reported it is not reported again")
				}
			}},
		{"needs a person", needsPerson, lastChange, req, true, OutcomeDLQ, 0, 0, false, true,
			func(t *testing.T, _ Result, e ledger.Entry) {
				if e.ReportedBy != req.ID() || e.Class != "needs-person" {
					t.Errorf("entry %+v", e)
				}
			}},
		{"no change, entry already says it", inSync, lastChange, req, true, OutcomeDone, 0, 0, false, false, nil},
		{"no change: the last change is kept", inSync, func() *ledger.Entry { e := *lastChange; e.StackStatus = "UPDATE_IN_PROGRESS"; return &e }(), req, true,
			OutcomeDone, 0, 0, false, true,
			func(t *testing.T, _ Result, e ledger.Entry) {
				if e.Action != "create" || !e.UpdatedAt.Equal(lastChange.UpdatedAt) || e.StackStatus != "CREATE_COMPLETE" {
					t.Errorf("entry %+v: want the create kept, with the new status", e)
				}
			}},
		{"no change: a scheduled write says so", scheduled, lastChange, req, true, OutcomeLater, 40 * time.Second, 0, false, true,
			func(t *testing.T, _ Result, e ledger.Entry) {
				if e.Action != "scheduled" || !e.StartSlot.Equal(now.Add(40*time.Second)) || !e.UpdatedAt.Equal(now) {
					t.Errorf("entry %+v", e)
				}
			}},
		{"no change: the trail not resolved is kept", waiting, lastChange, req, true, OutcomeLater, time.Minute, 0, false, true,
			func(t *testing.T, _ Result, e ledger.Entry) {
				if e.TrailARN != lastChange.TrailARN || e.Bucket != "b" {
					t.Errorf("entry %+v: the trail was dropped", e)
				}
			}},
		{"a change", created, nil, req, true, OutcomeLater, 30 * time.Second, 0, false, true,
			func(t *testing.T, _ Result, e ledger.Entry) {
				if e.Action != "create" || !e.Managed || e.Failures != 0 || !e.UpdatedAt.Equal(now) {
					t.Errorf("entry %+v", e)
				}
			}},
		{"a change, after failures: the count is reset", created, failing(2), req, true, OutcomeLater, 30 * time.Second, 0, false, true,
			func(t *testing.T, _ Result, e ledger.Entry) {
				if e.Failures != 0 || !e.FailingSince.IsZero() {
					t.Errorf("entry %+v", e)
				}
			}},
		{"offboarded: what is left is recorded", offboarded, lastChange, queue.Request{Version: 1, Account: acct, Trigger: "sweep", EventID: "s1", Offboard: queue.OffboardExcluded}, true,
			OutcomeDone, 0, 0, false, true,
			func(t *testing.T, _ Result, e ledger.Entry) {
				if e.Offboard != queue.OffboardExcluded || e.Left == "" || e.Action != "offboarded" {
					t.Errorf("entry %+v", e)
				}
			}},
		{"dry run: nothing written", created, nil, req, false, OutcomeLater, 30 * time.Second, 0, false, false, nil},
		{"the vendor's view is recorded", func() Result {
			r := inSync
			r.View = &target.View{Found: true, State: "outdated", Outdated: true, TemplateVersion: "1.4", Problems: []string{"f: sqs:CreateQueue"}}
			return r
		}(), lastChange, req, true, OutcomeDone, 0, 0, false, true,
			func(t *testing.T, _ Result, e ledger.Entry) {
				if e.VendorState != "outdated" || e.VendorTemplateVersion != "1.4" || len(e.VendorProblems) != 1 {
					t.Errorf("entry %+v", e)
				}
			}},
		{"a pass that did not read the view keeps it", inSync, func() *ledger.Entry { e := *lastChange; e.VendorState = "managed"; return &e }(), req, true, OutcomeDone, 0, 0, false, false,
			func(t *testing.T, _ Result, e ledger.Entry) {
				if e.VendorState != "managed" {
					t.Errorf("entry %+v", e)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, e, write := Record(tc.res, tc.prev, RecordInput{Request: tc.req, Cfg: cfg, Now: now, Kept: tc.kept})
			if res.Outcome != tc.outcome || res.RetryAfter != tc.after || res.Failures != tc.failures || res.GiveUp != tc.giveUp || write != tc.write {
				t.Fatalf("outcome %s after %s, failures %d, give up %v, write %v; want %s after %s, %d, %v, %v",
					res.Outcome, res.RetryAfter, res.Failures, res.GiveUp, write, tc.outcome, tc.after, tc.failures, tc.giveUp, tc.write)
			}
			if e.Failures != tc.failures {
				t.Errorf("entry failures %d, want %d", e.Failures, tc.failures)
			}
			if tc.check != nil {
				tc.check(t, res, e)
			}
		})
	}
}

// An entry that could not be written fails the pass (retried soon), without a count.
func TestLedgerFailed(t *testing.T) {
	cfg := config.Default()
	res := LedgerFailed(Result{Action: ActionNone, Class: fault.None, Outcome: OutcomeDone}, errors.New("dynamodb: 500"), RecordInput{Cfg: cfg})
	if res.Class != fault.Transient || res.Outcome != OutcomeRetry || res.RetryAfter != cfg.CheckMinDelay || !strings.Contains(res.Error, "trail guard") {
		t.Fatalf("%+v", res)
	}
}

// The sweep's digest spares the read of an entry that says what the pass would record, and
// only then.
func TestDigestSays(t *testing.T) {
	cfg := config.Default()
	res := Result{Account: acct, Region: region, StackName: "CloudOne", Action: ActionNone, Class: fault.None, StatusAfter: "CREATE_COMPLETE", Managed: true,
		Trail: &trail.Choice{CreateNewTrail: true}}
	_, e, _ := Record(res, nil, RecordInput{Cfg: cfg, Now: time.Now(), Kept: true})
	req := queue.Request{LedgerDigest: e.Digest()}
	if _, ok := DigestSays(res, req, cfg); !ok {
		t.Fatal("the digest of the entry this pass records does not spare the read")
	}
	for name, r := range map[string]Result{
		"changed": func() Result { r := res; r.Action = ActionUpdate; return r }(),
		"failed":  failure(res, fault.Transientf("x")),
		"other":   func() Result { r := res; r.StatusAfter = "UPDATE_COMPLETE"; return r }(),
	} {
		if _, ok := DigestSays(r, req, cfg); ok {
			t.Errorf("%s: the digest spared the read", name)
		}
	}
	if _, ok := DigestSays(res, queue.Request{}, cfg); ok {
		t.Error("no digest spared the read")
	}
	// Vision One: the vendor's view is part of the entry, and so of the digest.
	v1 := res
	v1.View = &target.View{Found: true, State: "managed", TemplateVersion: "5"}
	_, e, _ = Record(v1, nil, RecordInput{Cfg: cfg, Now: time.Now(), Kept: true})
	v1req := queue.Request{LedgerDigest: e.Digest()}
	if _, ok := DigestSays(v1, v1req, cfg); !ok {
		t.Error("Vision One: the digest of the entry this pass records does not spare the read")
	}
	outdated := v1
	outdated.View = &target.View{Found: true, State: "outdated", TemplateVersion: "4"}
	if _, ok := DigestSays(outdated, v1req, cfg); ok {
		t.Error("Vision One: a changed view of the vendor spared the read")
	}
}

// waitErr is an error that asks to be tried again after d (an HTTP 429's Retry-After).
type waitErr time.Duration

func (w waitErr) Error() string                  { return "rate limited" }
func (w waitErr) RetryAfterDelay() time.Duration { return time.Duration(w) }
