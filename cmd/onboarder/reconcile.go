package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
)

// Where a followed account stands.
const (
	standInSync     = "in sync"
	standLeftAlone  = "left alone"
	standOffboarded = "offboarded"
	standNeedsUs    = "needs a person"
	standFailed     = "failed"
	standUnderWay   = "under way"
)

// standing says where an account stands from a dry run of its request, and whether that is
// where it ends: the worker has nothing more to do (in sync, left alone, offboarded), or it
// will not go on by itself (needs a person, a permanent failure, which it dead-letters). A
// change the dry run would still make, an operation in progress, a start slot or a
// transient failure are under way: the worker goes on.
func standing(r reconcile.Result) (string, bool) {
	switch {
	case r.Class == fault.NeedsPerson:
		return standNeedsUs, true
	case r.Class == fault.Permanent:
		return standFailed, true
	case r.Class != fault.None:
		return standUnderWay, false
	case r.Action == reconcile.ActionNone:
		return standInSync, true
	case r.Action == reconcile.ActionLeaveAlone:
		return standLeftAlone, true
	case r.Action == reconcile.ActionOffboarded:
		return standOffboarded, true
	}
	return standUnderWay, false
}

// followed is one account of a reconcile.
type followed struct {
	t     target
	req   queue.Request
	last  reconcile.Result
	stand string
	done  bool
}

func (a *app) reconcile(ctx context.Context, ids []string, o reconcileOpts) error {
	e, err := a.setup(ctx, o.concurrency)
	if err != nil {
		return err
	}
	targets, skipped, err := e.selected(ctx, ids)
	if err != nil {
		return err
	}
	failed := reportSkipped(a.stderr, skipped)
	q, err := e.sender()
	if err != nil {
		return err
	}
	started := a.clock()
	id := newEventID()
	reqs := requests(targets, id, "onboarder reconcile", o.retryFailed)
	if len(reqs) > 0 {
		if err := q.Send(ctx, reqs); err != nil {
			return err
		}
	}
	fmt.Fprintf(a.stdout, "enqueued %d reconcile requests on %s (event id %s)\n", len(reqs), e.cfg.QueueURL, id)
	if e.cfg.DryRun {
		fmt.Fprintf(a.stdout, "note: the reconcile function runs with ONBOARDER_DRY_RUN=true (the central stack's DryRun): it decides and changes nothing; onboarder plan shows what it would do\n")
		o.noWait = true
	}
	if o.noWait || len(reqs) == 0 {
		for _, t := range targets {
			fmt.Fprintf(a.stdout, "%s%s  enqueued\n", t.ID, nameOf(t))
		}
		if failed {
			return exitWith(exitFailure)
		}
		return nil
	}

	fs := make([]*followed, len(targets))
	for i := range targets {
		fs[i] = &followed{t: targets[i], req: reqs[i], stand: standUnderWay}
	}
	p := a.newProgress(len(fs), "reconcile")
	until := started.Add(o.timeout)
	for ctx.Err() == nil {
		var pending []*followed
		for _, f := range fs {
			if !f.done {
				pending = append(pending, f)
			}
		}
		if len(pending) == 0 || !a.clock().Before(until) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(a.pollEvery(), max(until.Sub(a.clock()), 0))):
		}
		preqs := make([]queue.Request, len(pending))
		for i, f := range pending {
			preqs[i] = f.req
		}
		for i, r := range e.worker.plan(ctx, preqs) {
			f := pending[i]
			f.last = r
			f.stand, f.done = standing(r)
			if f.done {
				p.step(f.t.ID, f.stand)
			}
		}
	}
	p.finish()

	var entries map[string]ledger.Entry
	if l := e.ledger(); l != nil {
		entries, _ = l.All(ctx) // the worker's record of what it did; without it the looks say enough
	}
	counts := map[string]int{}
	for _, f := range fs {
		printFollowed(a.stdout, f, entries, started)
		counts[f.stand]++
		failed = failed || f.stand == standNeedsUs || f.stand == standFailed
	}
	fmt.Fprintf(a.stdout, "summary: %d accounts: %s\n", len(fs), joinCounts(counts))
	if counts[standUnderWay] > 0 {
		fmt.Fprintf(a.stdout, "%d accounts are still under way: the worker goes on; onboarder status shows them\n", counts[standUnderWay])
	}
	if failed {
		return exitWith(exitFailure)
	}
	return nil
}

// printFollowed prints where an account stands, why, and the last change the worker made
// since the command started (the ledger's record).
func printFollowed(w io.Writer, f *followed, entries map[string]ledger.Entry, since time.Time) {
	r := f.last
	why := r.Reason
	if why == "" {
		why = "not looked at yet"
	}
	fmt.Fprintf(w, "%s%s: %s: %s\n", f.t.ID, nameOf(f.t), f.stand, why)
	if r.Error != "" && r.Error != r.Reason {
		fmt.Fprintf(w, "    error: %s\n", r.Error)
	}
	if r.StatusAfter != "" {
		fmt.Fprintf(w, "    stack: %s\n", r.StatusAfter)
	}
	if e, ok := entries[f.t.ID]; ok && !e.UpdatedAt.Before(since.Add(-time.Second)) && e.Action != "" {
		line := fmt.Sprintf("    the worker: %s at %s", e.Action, e.UpdatedAt.UTC().Format(time.RFC3339))
		if e.Reason != "" {
			line += ": " + scrubText(e.Reason)
		}
		fmt.Fprintln(w, line)
	}
	if f.stand == standNeedsUs {
		fmt.Fprintf(w, "    fix the cause, then: onboarder reconcile --account %s --retry-failed\n", f.t.ID)
	}
}

func nameOf(t target) string {
	if t.Name == "" {
		return ""
	}
	return " (" + t.Name + ")"
}
