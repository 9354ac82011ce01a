package intake

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/event"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/org"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// AccountVending turns account lifecycle events into one reconcile request for the account:
// Control Tower Create/UpdateManagedAccount and Organizations CreateAccountResult onboard a
// new account; Organizations CloseAccount, RemoveAccountFromOrganization and a MoveAccount out
// of ONBOARDER_INCLUDE_OUS offboard one (a MoveAccount into them onboards it).
type AccountVending struct {
	base
	// Orgs: ListParents, only when ONBOARDER_INCLUDE_OUS is set; DescribeAccount for the name of
	// an account onboarded by an event that carries none, for the Vision One target.
	Orgs Organizations
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

// Handle handles one event, then writes its metrics.
func (h *AccountVending) Handle(ctx context.Context, raw json.RawMessage) error {
	err := h.handle(ctx, raw)
	h.Metrics.Flush()
	return err
}

func (h *AccountVending) handle(ctx context.Context, raw json.RawMessage) error {
	ev, ok, err := h.start(ctx, raw, event.KindManagedAccount, event.KindAccountCreated, event.KindAccountCall)
	if !ok {
		return err
	}
	decide := h.decide
	if ev.Kind == event.KindAccountCall {
		decide = h.decideCall
	}
	d, err := decide(ctx, ev)
	if err == nil {
		d, err = h.named(ctx, d)
	}
	if err != nil {
		return h.fail(ctx, ev, err)
	}
	return h.finish(ctx, ev, []decision{d}, "")
}

// named gives an onboarding the account's name from Organizations where the event carries none
// (CreateAccountResult masks it, MoveAccount names no account), for the Vision One target: its
// stack names the account in Vision One (CloudAccountName, kept for the stack's life), and the
// worker, without a name, would name it by its id. Cloud One's stack takes no name: not asked.
func (h *AccountVending) named(ctx context.Context, d decision) (decision, error) {
	if h.Config.Target != config.TargetVisionOne || !d.enqueue || d.offboard != "" || d.name != "" {
		return d, nil
	}
	out, err := h.Orgs.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(d.account)})
	switch {
	case fault.IsCode(err, "AccountNotFoundException"):
		return d, nil // not a member (any more): the worker finds out, and names nothing
	case err != nil:
		return decision{}, fmt.Errorf("describe account %s (its name, for Vision One): %w", d.account, err)
	}
	if out.Account != nil {
		d.name = aws.ToString(out.Account.Name)
	}
	return d, nil
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
	// The scope is judged by where the account is now, not by the OU the event names: a
	// replayed or late event of an account moved out of the included OUs since must not
	// onboard it again (the sweep would offboard it, and the next replay onboard it again).
	in, ou, err := (&org.Scope{API: h.Orgs, Cfg: h.Config}).Included(ctx, ev.Account, "")
	switch {
	case fault.IsCode(err, "ChildNotFoundException", "AccountNotFoundException"):
		return skip(ev.Account, ReasonNotInOrg, "%s SUCCEEDED, but the account is no longer in the Organization", ev.Name), nil
	case err != nil:
		return decision{}, err
	case !in && l.OUID != "" && ou != l.OUID:
		return skip(ev.Account, ReasonOUNotInScope, "the event names OU %s, but the account is now in %s, which is not under ONBOARDER_INCLUDE_OUS", l.OUID, ou), nil
	case !in:
		return skip(ev.Account, ReasonOUNotInScope, "OU %s is not under ONBOARDER_INCLUDE_OUS", ou), nil
	}
	var d decision
	if ev.Kind == event.KindAccountCreated {
		// Organizations records the new account's name as "****" (its CreateAccountResult
		// events: internal/event/testdata/SOURCES.md): the id says which.
		d = enqueue(ev.Account, ReasonAccountCreated, "Organizations created account %s", ev.Account)
	} else {
		d = enqueue(ev.Account, ReasonManagedAccountReady, "%s SUCCEEDED for %s in OU %s", ev.Name, l.AccountName, l.OUName)
	}
	// The account is new (or newly enrolled): its roles may take minutes to be usable.
	d.since = ev.Time.Time
	if l.AccountName != "****" { // Organizations masks the name (internal/event/testdata/SOURCES.md)
		d.name = l.AccountName
	}
	return d, nil
}

// decideCall decides on an Organizations call that closes, removes or moves an account. The
// worker offboards under ONBOARDER_OFFBOARD; whether there is anything to offboard is its
// question (the ledger and the account say), not the intake's.
func (h *AccountVending) decideCall(ctx context.Context, ev *event.Event) (decision, error) {
	c := ev.AccountCall
	switch {
	case c.Failed():
		return skip(ev.Account, ReasonFailedCall, "%s failed (%s): it changed nothing", ev.Name, c.ErrorCode), nil
	case h.Config.Excluded(ev.Account):
		return skip(ev.Account, ReasonExcluded, "account is in ONBOARDER_EXCLUDE_ACCOUNTS"), nil
	}
	switch ev.Name {
	case "CloseAccount":
		return offboard(ev.Account, ReasonAccountClosed, "Organizations CloseAccount: the account is closing (PENDING_CLOSURE, then SUSPENDED)"), nil
	case "RemoveAccountFromOrganization":
		return offboard(ev.Account, ReasonAccountRemoved, "Organizations RemoveAccountFromOrganization: the account left the Organization"), nil
	}
	// MoveAccount
	if len(h.Config.IncludeOUs) == 0 {
		return skip(ev.Account, ReasonMovedWithinScope, "moved from %s to %s: every OU is in scope (ONBOARDER_INCLUDE_OUS is empty)", c.Source, c.Destination), nil
	}
	s := &org.Scope{API: h.Orgs, Cfg: h.Config}
	from, _, err := s.Included(ctx, ev.Account, c.Source)
	if err != nil {
		return decision{}, err
	}
	to, _, err := s.Included(ctx, ev.Account, c.Destination)
	if err != nil {
		return decision{}, err
	}
	switch {
	case from && to:
		return skip(ev.Account, ReasonMovedWithinScope, "moved from %s to %s: both are under ONBOARDER_INCLUDE_OUS", c.Source, c.Destination), nil
	case !to && !from:
		return skip(ev.Account, ReasonOUNotInScope, "moved from %s to %s: neither is under ONBOARDER_INCLUDE_OUS", c.Source, c.Destination), nil
	case to:
		d := enqueue(ev.Account, ReasonMovedIntoScope, "moved from %s into %s, under ONBOARDER_INCLUDE_OUS", c.Source, c.Destination)
		// New to the scope is new to the role: the member StackSet, deployed to the included
		// OUs, makes the dedicated execution role because of this same move, so AssumeRole
		// has the grace of a new account from the move's time.
		d.since = ev.Time.Time
		return d, nil
	}
	return offboard(ev.Account, queue.OffboardMovedOut, "moved from %s to %s, which is not under ONBOARDER_INCLUDE_OUS", c.Source, c.Destination), nil
}
