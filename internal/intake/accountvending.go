package intake

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/event"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/org"
)

// AccountVending turns account lifecycle events (Control Tower Create/UpdateManagedAccount,
// Organizations CreateAccountResult) into one reconcile request for the new account.
type AccountVending struct {
	base
	Orgs Organizations // ListParents, only when ONBOARDER_INCLUDE_OUS is set
}

// NewAccountVending wires an AccountVending. cfgErr, if not nil, is returned by every
// invocation.
func NewAccountVending(cfg config.Config, cfgErr error, q Enqueuer, orgs Organizations, log *slog.Logger, m *metrics.Recorder) *AccountVending {
	return &AccountVending{base: base{function: "accountvending", Config: cfg, ConfigErr: cfgErr, Queue: q, Log: log, Metrics: m}, Orgs: orgs}
}

// Invoke makes the intake a lambda.Handler over the raw payload, so that a payload that is not
// even JSON is logged and counted as a bad event like any other, not refused by the runtime.
func (h *AccountVending) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return nil, h.Handle(ctx, payload)
}

// Handle handles one event.
func (h *AccountVending) Handle(ctx context.Context, raw json.RawMessage) error {
	defer h.Metrics.Flush()
	ev, ok, err := h.start(ctx, raw, event.KindManagedAccount, event.KindAccountCreated)
	if !ok {
		return err
	}
	d, err := h.decide(ctx, ev)
	if err != nil {
		return h.fail(ctx, ev, err)
	}
	return h.finish(ctx, ev, []decision{d}, "")
}

func (h *AccountVending) decide(ctx context.Context, ev *event.Event) (decision, error) {
	l := ev.Lifecycle
	switch {
	case l.State == event.StateFailed:
		d := skip(ev.Account, ReasonLifecycleFailed, "%s state FAILED: %s", ev.Name, l.Message)
		d.level = slog.LevelWarn
		return d, nil
	case !l.Succeeded():
		return skip(ev.Account, ReasonLifecycleNotDone, "%s state %s: only SUCCEEDED onboards", ev.Name, l.State), nil
	case h.Config.Excluded(ev.Account):
		return skip(ev.Account, ReasonExcluded, "account is in ONBOARDER_EXCLUDE_ACCOUNTS"), nil
	}
	in, ou, err := (&org.Scope{API: h.Orgs, Cfg: h.Config}).Included(ctx, ev.Account, l.OUID)
	if err != nil {
		return decision{}, err
	}
	if !in {
		return skip(ev.Account, ReasonOUNotInScope, "OU %s is not under ONBOARDER_INCLUDE_OUS", ou), nil
	}
	var d decision
	if ev.Kind == event.KindAccountCreated {
		d = enqueue(ev.Account, ReasonAccountCreated, "Organizations created account %s", l.AccountName)
	} else {
		d = enqueue(ev.Account, ReasonManagedAccountReady, "%s SUCCEEDED for %s in OU %s", ev.Name, l.AccountName, l.OUName)
	}
	// The account is new (or newly enrolled): its roles may take minutes to be usable.
	d.since = ev.Time.Time
	return d, nil
}
