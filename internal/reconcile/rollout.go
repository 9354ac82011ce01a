package reconcile

import (
	"context"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
)

// rollout is the rollout reconciler: it records the end of a pass of an account of the
// current wave (settled, or failed with the reason), and releases the next wave when this pass
// completed the wave. A failure here fails nothing: the next pass of the account (at the
// latest the daily sweep's) records it again.
func (p *pass) rollout(ctx context.Context, res Result) {
	r, ro := p.r, p.ro
	record, failed := RolloutMark(res, ro, p.version)
	if !record || r.Rollouts == nil {
		return
	}
	why := res.Reason
	if res.Failed != nil {
		why = res.Failed.String()
	}
	now, err := r.Rollouts.Record(ctx, ro.ID, ro.Wave, p.req.Account, failed, why)
	if err == nil && now != nil {
		var next []string
		if next, err = r.Rollouts.Advance(ctx, now); err == nil && len(next) > 0 && r.Release != nil {
			if err = r.Release(ctx, now, now.Wave+1, "released", next); err == nil {
				r.logger().InfoContext(ctx, "rollout wave released", "rollout", now.ID, "wave", now.Wave+2, "of", len(now.Waves), "accounts", len(next), "template", now.To.String())
			}
		}
	}
	if err != nil {
		r.logger().ErrorContext(ctx, "rollout not recorded: the next sweep records this account again", "rollout", ro.ID, "account", p.req.Account, "error", err.Error())
	}
}

// RolloutMark says whether a pass is recorded in the rollout, and as failed: a pass of an
// account of the current wave of a running (or paused) rollout that built its stack from the
// new version (or built none) is recorded once it ends, settled when it is done and in sync,
// failed when it needs a person, failed for good or gave up; a pass that comes back later, or
// retries a transient failure, is not recorded yet. A dry run records nothing.
func RolloutMark(res Result, ro *rollout.Rollout, used rollout.Version) (record, failed bool) {
	if ro == nil || res.DryRun || (ro.State != rollout.Running && ro.State != rollout.Paused) {
		return false, false
	}
	if ro.WaveOf(res.Account) != ro.Wave || (used != rollout.Version{} && used != ro.To) {
		return false, false
	}
	switch {
	case res.Class == fault.None && res.Outcome == OutcomeDone:
		return true, false
	case res.Class == fault.NeedsPerson || res.Class == fault.Permanent || res.GiveUp:
		return true, true
	}
	return false, false
}
