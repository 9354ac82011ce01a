package intake

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/event"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/org"
)

// Sweep handles the daily schedule and manual requests: it enqueues one request per active,
// in-scope member account (all of them, or the ones a manual request names).
type Sweep struct {
	base
	Orgs  Organizations
	scope *org.Scope // caches the management account for the life of the process
	// Ledger, when set, is read once per sweep so that each request carries the digest of
	// its account's entry, and the worker skips rewriting the entries that did not change.
	Ledger LedgerScanner
}

// NewSweep wires a Sweep. cfgErr, if not nil, is returned by every invocation.
func NewSweep(cfg config.Config, cfgErr error, q Enqueuer, orgs Organizations, log *slog.Logger, m *metrics.Recorder) *Sweep {
	return &Sweep{base: base{function: "sweep", Config: cfg, ConfigErr: cfgErr, Queue: q, Log: log, Metrics: m}, Orgs: orgs,
		scope: &org.Scope{API: orgs, Cfg: cfg}}
}

// Invoke makes the intake a lambda.Handler over the raw payload, so that a payload that is not
// even JSON is logged and counted as a bad event like any other, not refused by the runtime.
func (h *Sweep) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return nil, h.Handle(ctx, payload)
}

// Handle handles one event.
func (h *Sweep) Handle(ctx context.Context, raw json.RawMessage) error {
	defer h.Metrics.Flush()
	ev, ok, err := h.start(ctx, raw, event.KindSchedule, event.KindManual)
	if !ok {
		return err
	}
	var ds []decision
	if ev.Kind == event.KindManual && !ev.Manual.All {
		ds, err = h.named(ctx, ev)
	} else {
		ds, err = h.all(ctx, ev)
	}
	if err != nil {
		return h.fail(ctx, ev, err)
	}
	h.digests(ctx, ev, ds)
	if err := h.finish(ctx, ev, ds, ""); err != nil {
		return err
	}
	n := 0
	for _, d := range ds {
		if d.enqueue {
			n++
		}
	}
	h.log().InfoContext(ctx, "sweep done", "function", h.function, "event_id", ev.ID, "replay", ev.ReplayName,
		"trigger", ev.Trigger(), "accounts", len(ds), "enqueued", n)
	return nil
}

// digests stamps each enqueued decision with the digest of its account's ledger entry. A
// ledger that cannot be read costs only the saving: the worker then writes every entry.
func (h *Sweep) digests(ctx context.Context, ev *event.Event, ds []decision) {
	if h.Ledger == nil {
		return
	}
	entries, err := h.Ledger.All(ctx)
	if err != nil {
		h.log().WarnContext(ctx, "ledger not read: the worker will rewrite every entry", "function", h.function,
			"event_id", ev.ID, "error", err.Error())
		return
	}
	for i := range ds {
		if e, ok := entries[ds[i].account]; ok && ds[i].enqueue {
			ds[i].digest = e.Digest()
		}
	}
}

func (h *Sweep) reason(ev *event.Event) (string, string) {
	if ev.Kind == event.KindManual {
		return ReasonManual, "manual reconcile request"
	}
	return ReasonSweep, "daily sweep"
}

// all lists the organization's accounts and decides for each.
func (h *Sweep) all(ctx context.Context, ev *event.Event) ([]decision, error) {
	if h.Orgs == nil {
		return nil, fault.Permanentf("no Organizations client configured")
	}
	h.scope.Forget() // parents are looked up afresh each run: accounts move between OUs
	var ds []decision
	p := organizations.NewListAccountsPaginator(h.Orgs, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list organization accounts: %w", err)
		}
		for _, a := range page.Accounts {
			d, err := h.decideAccount(ctx, ev, a)
			if err != nil {
				return nil, err
			}
			ds = append(ds, d)
		}
	}
	return ds, nil
}

// named decides for the accounts a manual request names; bad ids are reported by name and
// the others still go.
func (h *Sweep) named(ctx context.Context, ev *event.Event) ([]decision, error) {
	var ds []decision
	for _, bad := range ev.Manual.Invalid {
		d := skip("", ReasonBadAccountID, "%s=%s: %s", bad.Field, bad.Value, bad.Err)
		d.level = slog.LevelError
		ds = append(ds, d)
	}
	if len(ev.Manual.Accounts) == 0 {
		return ds, nil
	}
	if h.Orgs == nil {
		return nil, fault.Permanentf("no Organizations client configured")
	}
	h.scope.Forget() // parents are looked up afresh each run: accounts move between OUs
	for _, id := range ev.Manual.Accounts {
		out, err := h.Orgs.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(id)})
		if fault.IsCode(err, "AccountNotFoundException") {
			d := skip(id, ReasonNotInOrg, "account %s is not a member of the organization", id)
			d.level = slog.LevelError
			ds = append(ds, d)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("describe account %s: %w", id, err)
		}
		a := types.Account{Id: aws.String(id)}
		if out.Account != nil {
			a = *out.Account
			a.Id = aws.String(id)
		}
		d, err := h.decideAccount(ctx, ev, a)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

func (h *Sweep) decideAccount(ctx context.Context, ev *event.Event, a types.Account) (decision, error) {
	id := aws.ToString(a.Id)
	if config.ValidateAccountID(id) != nil {
		d := skip("", ReasonBadAccountID, "Organizations returned account id %q", id)
		d.level = slog.LevelError
		return d, nil
	}
	code, detail, err := h.scope.Check(ctx, a)
	if err != nil {
		return decision{}, err
	}
	if code != "" {
		return skip(id, code, "%s", detail), nil
	}
	r, why := h.reason(ev)
	return enqueue(id, r, "%s", why), nil
}
