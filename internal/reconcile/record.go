package reconcile

import (
	"context"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// record is the ledger reconciler: it reads the account's entry when the decision needs it,
// lets Record decide, and writes the entry Record asks for. Without a ledger, or in a dry run,
// Record still decides the request's outcome and nothing is read or written.
func (p *pass) record(ctx context.Context, res Result) Result {
	r := p.r
	keep := r.Ledger != nil && !res.DryRun && res.Region != ""
	var prev *ledger.Entry
	if keep && NeedsEntry(res) {
		prev = p.storedEntry(ctx, res)
	}
	in := RecordInput{Request: p.req, Cfg: r.Cfg, Now: p.now, Kept: keep}
	res, e, write := Record(res, prev, in)
	if !write {
		return res
	}
	if err := r.Ledger.Put(ctx, e); err != nil && res.Class == fault.None {
		return LedgerFailed(res, err, in)
	}
	return res
}

// storedEntry is the stored entry, read unless the request's digest already says the entry is
// what this pass would write.
func (p *pass) storedEntry(ctx context.Context, res Result) *ledger.Entry {
	if p.entryRead {
		return p.entry
	}
	if probe, ok := DigestSays(res, p.req, p.r.Cfg); ok {
		return &probe // the stored entry records this state: no read, no write
	}
	return p.ledgerEntry(ctx)
}

// RecordInput is what Record needs besides the result and the stored entry.
type RecordInput struct {
	Request queue.Request
	Cfg     config.Config
	Now     time.Time
	// Kept: the pass keeps a ledger entry (a ledger, not a dry run). Without one, failures
	// are not counted: nothing could remember them.
	Kept bool
}

// NeedsEntry reports whether recording a result needs the stored entry: to count failures, to
// keep what the pass did not learn, and to not rewrite an entry that already says this. A
// change that succeeded, with the trail resolved, needs none.
func NeedsEntry(res Result) bool {
	return !(res.Changed() && res.Class == fault.None && res.Trail != nil)
}

// DigestSays returns the entry the request's ledger digest (read by the sweep) stands for, when
// it is the state this pass would record: the stored entry need not be read. Only a pass that
// changed nothing, succeeded and holds no start slot qualifies.
func DigestSays(res Result, req queue.Request, cfg config.Config) (ledger.Entry, bool) {
	if req.LedgerDigest == "" || res.Changed() || res.Class != fault.None || !res.startSlot.IsZero() {
		return ledger.Entry{}, false
	}
	probe := ledger.Entry{Account: res.Account, Region: res.Region, StackName: res.StackName, StackStatus: res.StatusAfter,
		Managed: res.Managed, TrailMode: string(cfg.TrailMode), Class: string(res.Class)}
	if t := res.Trail; t != nil {
		probe.CreateNewTrail, probe.TrailARN, probe.TrailName, probe.TrailHomeRegion, probe.Bucket = t.CreateNewTrail, t.TrailARN, t.TrailName, t.HomeRegion, t.Bucket
	}
	if v := res.View; v != nil && v.Found { // as Record keeps it
		probe.VendorState, probe.VendorProblems, probe.VendorTemplateVersion = v.State, v.Problems, v.TemplateVersion
	}
	return probe, probe.Digest() == req.LedgerDigest
}

// Record is the ledger's decision, a pure function: from the pass's result and the account's
// stored entry (nil: none, or not read) it makes the entry to store and says whether it must
// be written, and it settles what becomes of a request that failed:
//
//	result                                          entry, request
//	transient, within a new account's role grace    failures kept; retry at half the account's age (the grace's end at the latest)
//	transient                                       failures+1; retry after the back-off; dead-letter at ONBOARDER_MAX_FAILURES
//	  (no entry kept: not counted, retried after ONBOARDER_CHECK_MIN_DELAY)
//	needs a person, already recorded by another     not rewritten; done (reported once)
//	  request
//	needs a person                                  reportedBy this request; dead-letter
//	no change, no failure, entry already says it    not written
//	no change, no failure                           the last change's action, reason and time kept
//	a change                                        written
func Record(res Result, prev *ledger.Entry, in RecordInput) (Result, ledger.Entry, bool) {
	cfg, now := in.Cfg, in.Now.UTC()
	if res.Reason == "" {
		res.Reason = string(res.Action)
	}
	e := ledger.Entry{
		Account: res.Account, Region: res.Region, StackName: res.StackName, StackStatus: res.StatusAfter,
		Managed:   res.Managed || res.Action == ActionCreate || res.Action == ActionDelete || (cfg.AdoptExisting && res.Action == ActionUpdate),
		TrailMode: string(cfg.TrailMode), Action: string(res.Action), Class: string(res.Class), Reason: res.Reason,
		StartSlot: res.startSlot, UpdatedAt: now,
	}
	if in.Request.Offboard != "" {
		e.Offboard, e.Left = in.Request.Offboard, res.Left
	}
	if t := res.Trail; t != nil {
		e.CreateNewTrail, e.TrailARN, e.TrailName, e.TrailHomeRegion, e.Bucket = t.CreateNewTrail, t.TrailARN, t.TrailName, t.HomeRegion, t.Bucket
	}
	if res.Failed != nil {
		e.Failed = res.Failed.String()
	}
	if v := res.View; v != nil && v.Found {
		e.VendorState, e.VendorProblems, e.VendorTemplateVersion = v.State, v.Problems, v.TemplateVersion
	}
	delays := Delays{Min: cfg.CheckMinDelay, Max: cfg.CheckMaxDelay}
	switch {
	case res.Class == fault.Transient && res.waitsForRole:
		// Waiting for a new account's role is bounded by the grace, not by the failure count:
		// look again as for an operation under way (half the account's age), and once more
		// when the grace ends, when the role is there, or the fallback role is used, or the
		// request fails for good.
		if prev != nil {
			e.Failures, e.FailingSince = prev.Failures, prev.FailingSince
		}
		res.Failures = e.Failures
		since := in.Request.AccountSince
		res.Outcome, res.RetryAfter = OutcomeRetry, delays.Check(since, in.Now)
		if rest := since.Add(cfg.AssumeRoleGrace).Sub(in.Now); rest > 0 && rest < res.RetryAfter {
			res.RetryAfter = rest + time.Second
		}
	case res.Class == fault.Transient:
		// Transient failures are counted here, not by the queue's receive count, which every
		// "come back later" spends too; after MaxFailures in a row the worker gives up.
		if in.Kept {
			e.Failures, e.FailingSince = 1, now
			if prev != nil && prev.Failures > 0 {
				e.Failures, e.FailingSince = prev.Failures+1, prev.FailingSince
			}
			res.Failures = e.Failures
			res.GiveUp = cfg.MaxFailures > 0 && e.Failures >= cfg.MaxFailures
		}
		// A 429's Retry-After (Vision One's) is honoured when it asks for longer.
		res.Outcome, res.RetryAfter = OutcomeRetry, max(delays.Backoff(res.Failures), fault.RetryAfter(res.Err))
		if res.GiveUp {
			res.Outcome = OutcomeDLQ
		}
	}
	if prev != nil && prev.Trail() != "" && res.Trail == nil {
		// A pass that did not resolve the trail (a stack in progress) keeps what is known.
		e.CreateNewTrail, e.TrailARN, e.TrailName, e.TrailHomeRegion, e.Bucket = prev.CreateNewTrail, prev.TrailARN, prev.TrailName, prev.TrailHomeRegion, prev.Bucket
	}
	if prev != nil && res.View == nil && res.Offboard == "" {
		// A pass that did not read the vendor's view keeps what is known of it.
		e.VendorState, e.VendorProblems, e.VendorTemplateVersion = prev.VendorState, prev.VendorProblems, prev.VendorTemplateVersion
	}
	if !res.Changed() && res.Class == fault.None && prev != nil && prev.Class == string(fault.None) && in.Request.Offboard == "" && prev.Offboard == "" {
		// Nothing was changed: the entry keeps saying what the onboarder last changed, and when.
		e.Action, e.Reason, e.UpdatedAt = prev.Action, prev.Reason, prev.UpdatedAt
		if res.Action == ActionScheduled {
			e.Action, e.Reason, e.UpdatedAt = string(res.Action), res.Reason, now
		}
	}
	if res.Class == fault.NeedsPerson {
		e.ReportedBy = in.Request.ID()
		if prev != nil && prev.Class == e.Class && prev.Reason == e.Reason {
			// The same needs-person state as already recorded. Reported by another request:
			// once is enough. Reported by this one: its report did not get out (the DLQ send
			// failed, or there is no ONBOARDER_DLQ_URL and the queue's redrive must move it),
			// so it is reported again.
			e.UpdatedAt, e.ReportedBy = prev.UpdatedAt, prev.ReportedBy
			res.AlreadyReported = prev.ReportedBy != in.Request.ID()
			if res.AlreadyReported {
				res.Outcome = OutcomeDone
			}
		}
	}
	write := in.Kept && (res.Changed() || prev == nil || prev.Digest() != e.Digest())
	return res, e, write
}

// LedgerFailed is the result of a pass that reconciled but could not write its ledger entry:
// retried (the trail guard must see this account's trail), without spending the failure count
// (the count lives in the entry that could not be written).
func LedgerFailed(res Result, err error, in RecordInput) Result {
	res = failure(res, fault.Transientf("reconciled, but %v: retrying so that the trail guard sees this account's trail", err))
	res.RetryAfter = Delays{Min: in.Cfg.CheckMinDelay, Max: in.Cfg.CheckMaxDelay}.Backoff(res.Failures)
	return res
}
