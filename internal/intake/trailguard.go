package intake

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/event"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/org"
)

// TrailGuard turns CloudTrail calls on trails and CloudFormation calls on the onboarding
// stack, forwarded from member accounts, into reconcile requests, and skips everything that
// cannot have broken the forwarding. It never calls a member account: the ledger and the
// Organizations API live in the management account.
type TrailGuard struct {
	base
	Ledger Ledger
	Orgs   Organizations // ListParents, only when ONBOARDER_INCLUDE_OUS is set
}

// NewTrailGuard wires a TrailGuard. cfgErr, if not nil, is returned by every invocation.
func NewTrailGuard(cfg config.Config, cfgErr error, q Enqueuer, l Ledger, orgs Organizations, log *slog.Logger, m *metrics.Recorder) *TrailGuard {
	return &TrailGuard{base: base{function: "trailguard", Config: cfg, ConfigErr: cfgErr, Queue: q, Log: log, Metrics: m}, Ledger: l, Orgs: orgs}
}

// Invoke makes the intake a lambda.Handler over the raw payload, so that a payload that is not
// even JSON is logged and counted as a bad event like any other, not refused by the runtime.
func (h *TrailGuard) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return nil, h.Handle(ctx, payload)
}

// Handle handles one event, then writes its metrics.
func (h *TrailGuard) Handle(ctx context.Context, raw json.RawMessage) error {
	err := h.handle(ctx, raw)
	h.Metrics.Flush()
	return err
}

func (h *TrailGuard) handle(ctx context.Context, raw json.RawMessage) error {
	ev, ok, err := h.start(ctx, raw, event.KindTrailCall, event.KindStackCall)
	if !ok {
		return err
	}
	d, err := h.decide(ctx, ev)
	if err != nil {
		return h.fail(ctx, ev, err)
	}
	return h.finish(ctx, ev, []decision{d}, ev.Region)
}

func (h *TrailGuard) decide(ctx context.Context, ev *event.Event) (decision, error) {
	c, a := ev.Call, ev.Account
	// StopLogging and DeleteTrail on the forwarding trail are never skipped, whoever made them:
	// the onboarder never calls them, so its role making them means someone else has it.
	evasion := ev.Kind == event.KindTrailCall && (ev.Name == "StopLogging" || ev.Name == "DeleteTrail")
	switch {
	case c.Failed():
		return skip(a, ReasonFailedCall, "%s failed with %s: it changed nothing", ev.Name, c.ErrorCode), nil
	case !evasion && ownSession(c.Identity, a, h.Config):
		return skip(a, ReasonOwnChange, "%s made by the onboarder's own session (%s)", ev.Name, c.Identity.ARN), nil
	case h.Config.Excluded(a):
		return skip(a, ReasonExcluded, "account is in ONBOARDER_EXCLUDE_ACCOUNTS"), nil
	}
	var d decision
	if ev.Kind == event.KindStackCall {
		switch {
		case c.ARN != "" && c.ARNAccount != a:
			return skip(a, ReasonNotOnboardingStack, "stack %s belongs to account %s", c.Name, c.ARNAccount), nil
		case c.Name == h.Config.TrailStackName && h.Config.Target == config.TargetVisionOne:
			// The onboarder's trail stack, which Vision One's stack reads its trail from.
			d = enqueue(a, ReasonStackChanged, "%s on the onboarder's trail stack %s in %s", ev.Name, c.Name, ev.Region)
		case c.Name != h.Config.StackName:
			return skip(a, ReasonNotOnboardingStack, "stack %s is not the onboarding stack %s", c.Name, h.Config.StackName), nil
		default:
			d = enqueue(a, ReasonStackChanged, "%s on the onboarding stack %s in %s", ev.Name, c.Name, ev.Region)
		}
	} else {
		if c.ARN != "" && c.ARNAccount != a {
			return skip(a, ReasonOtherAccountTrail, "trail %s belongs to account %s", c.Name, c.ARNAccount), nil
		}
		var err error
		if d, err = h.decideTrail(ctx, ev); err != nil || !d.enqueue {
			return d, err
		}
	}
	in, ou, err := (&org.Scope{API: h.Orgs, Cfg: h.Config}).Included(ctx, a, "")
	if err != nil {
		return decision{}, err
	}
	if !in {
		return skip(a, ReasonOUNotInScope, "OU %s is not under ONBOARDER_INCLUDE_OUS", ou), nil
	}
	return d, nil
}

// decideTrail reads the ledger to tell the forwarding trail from the others. A request it
// enqueues carries the digest of the entry it read, as the sweep's do: a trail event that
// turns out to change nothing (a duplicate, a replay) does not rewrite the entry.
func (h *TrailGuard) decideTrail(ctx context.Context, ev *event.Event) (decision, error) {
	d, e, found, err := h.decideFromLedger(ctx, ev)
	if err == nil && found && d.enqueue {
		d.digest = e.Digest()
	}
	return d, err
}

func (h *TrailGuard) decideFromLedger(ctx context.Context, ev *event.Event) (decision, ledger.Entry, bool, error) {
	c, a := ev.Call, ev.Account
	if h.Ledger == nil {
		return decision{}, ledger.Entry{}, false, fault.Permanentf("no ledger configured")
	}
	e, found, err := h.Ledger.Get(ctx, a)
	switch {
	case err != nil:
		return decision{}, e, false, err
	case !found:
		return enqueue(a, ReasonTrailUnknown, "%s on trail %s: no ledger entry, the worker decides", ev.Name, c.Name), e, found, nil
	case e.CreateNewTrail && e.TrailARN == "":
		return enqueue(a, ReasonStackTrail, "%s on trail %s: the stack makes its own trail, not yet seen by the worker; the worker decides", ev.Name, c.Name), e, found, nil
	case !e.Managed:
		return enqueue(a, ReasonNotManaged, "%s on trail %s: the stack is not managed yet, the worker decides", ev.Name, c.Name), e, found, nil
	}
	if !e.ForwardingTrail(c.Resource, ev.Region) {
		if (ev.Name == "CreateTrail" || ev.Name == "UpdateTrail") && e.Class == string(fault.NeedsPerson) {
			return enqueue(a, ReasonMayFix, "%s on trail %s while the account needs a person: it may fix it", ev.Name, c.Name), e, found, nil
		}
		return skip(a, ReasonNotForwardingTrail, "%s on trail %s in %s; the forwarding trail is %s", ev.Name, c.Name, ev.Region, e.TrailARN), e, found, nil
	}
	if ev.Name == "StartLogging" {
		return skip(a, ReasonTrailStarted, "trail started: nothing to repair"), e, found, nil
	}
	return enqueue(a, ReasonForwardingTrail, "%s on the forwarding trail %s", ev.Name, e.TrailARN), e, found, nil
}

// ownSession reports whether id is the onboarder's own session in account: a session of the
// CloudFormation service role (ONBOARDER_CLOUDFORMATION_ROLE_NAME: only CloudFormation may
// assume it, for the stacks that pass it: deploy/member.yaml), whatever its name; or a session
// of the execution role or the fallback role named as the onboarder names its sessions
// (ONBOARDER_EXECUTION_ROLE_NAME, ONBOARDER_FALLBACK_ROLE_NAME; the session name
// cloudone-onboarder). A role is not the onboarder: AWSControlTowerExecution serves Control
// Tower, Customizations for Control Tower, Account Factory for Terraform and people too, so a
// person's DeleteStack through it is theirs, and repaired at once. The session name alone
// proves nothing either (whoever may assume a role chooses it): both must be the onboarder's.
func ownSession(id event.Identity, account string, cfg config.Config) bool {
	role, session, ok := assumedRole(id, account)
	switch {
	case !ok:
		return false
	case cfg.CFNRoleName != "" && role == cfg.CFNRoleName:
		return true
	case role == cfg.ExecutionRoleName || (cfg.FallbackRoleName != "" && role == cfg.FallbackRoleName):
		return session == cfg.SessionName
	}
	return false
}

// assumedRole is the role and session of id when it is a session of a role of account:
// arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION.
func assumedRole(id event.Identity, account string) (role, session string, ok bool) {
	if id.Type != "AssumedRole" {
		return "", "", false
	}
	p := strings.SplitN(id.ARN, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[2] != "sts" || p[4] != account {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(p[5], "assumed-role/")
	if !ok {
		return "", "", false
	}
	role, session, ok = strings.Cut(rest, "/")
	return role, session, ok && role != "" && session != ""
}
