// Package intake holds the logic of the three intake Lambdas: accountvending (new accounts),
// trailguard (changes to trails and to the onboarding stack) and sweep (the daily safety net
// and manual requests). Each turns an EventBridge event into zero or more reconcile requests
// on the FIFO queue, logs one JSON line per decision and counts it in the metrics.
//
// Errors: a bad event is logged at ERROR with its id, counted, and dropped (the handler
// returns nil: retrying cannot fix it). A transient failure (SQS, Organizations, DynamoDB)
// is returned, so that the platform retries the event and, once the retries are spent,
// puts it in the function's on-failure destination.
package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/event"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/org"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// Enqueuer puts reconcile requests on the queue (*queue.Sender).
type Enqueuer interface {
	Send(ctx context.Context, reqs []queue.Request) error
}

// Organizations is the part of the Organizations client the intakes use.
type Organizations interface {
	ListAccounts(ctx context.Context, in *organizations.ListAccountsInput, optFns ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error)
	ListParents(ctx context.Context, in *organizations.ListParentsInput, optFns ...func(*organizations.Options)) (*organizations.ListParentsOutput, error)
	DescribeAccount(ctx context.Context, in *organizations.DescribeAccountInput, optFns ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error)
	DescribeOrganization(ctx context.Context, in *organizations.DescribeOrganizationInput, optFns ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
	ListAccountsForParent(ctx context.Context, in *organizations.ListAccountsForParentInput, optFns ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error)
	ListOrganizationalUnitsForParent(ctx context.Context, in *organizations.ListOrganizationalUnitsForParentInput, optFns ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error)
}

// Ledger reads the last decision of the worker for an account (*ledger.Table).
type Ledger interface {
	Get(ctx context.Context, account string) (ledger.Entry, bool, error)
}

var (
	_ Enqueuer        = (*queue.Sender)(nil)
	_ Ledger          = (*ledger.Table)(nil)
	_ LedgerSummaries = (*ledger.Table)(nil)
	_ Organizations   = (*organizations.Client)(nil)
)

// Decisions.
const (
	Enqueue = "enqueue"
	Skip    = "skip"
	Error   = "error" // a bad event, dropped after logging
)

// Reasons: short, stable codes (logged as "reason" and used as a metric dimension); the
// "detail" field of the log line says more.
const (
	// errors
	ReasonBadEvent = "bad-event" // the event does not parse: logged at ERROR and dropped
	// skips of every intake
	ReasonUnknownEvent = "unknown-event" // no parser for (source, detail-type, eventName)
	ReasonNotHandled   = "not-handled"   // a known event for another function
	ReasonExcluded     = org.Excluded
	ReasonOUNotInScope = org.OutsideOUs
	// accountvending
	ReasonLifecycleFailed     = "lifecycle-failed"        // state FAILED
	ReasonLifecycleNotDone    = "lifecycle-not-succeeded" // IN_PROGRESS or any other state
	ReasonAccountCreated      = "account-created"         // enqueue
	ReasonManagedAccountReady = "managed-account-ready"   // enqueue (Create/UpdateManagedAccount)
	ReasonMovedIntoScope      = "moved-into-scope"        // enqueue (MoveAccount into ONBOARDER_INCLUDE_OUS)
	ReasonMovedWithinScope    = "moved-within-scope"      // skip (MoveAccount that keeps the account in scope)
	// offboarding (enqueue, with queue.Request.Offboard): the queue.Offboard* codes
	ReasonAccountClosed  = queue.OffboardClosed
	ReasonAccountRemoved = queue.OffboardRemoved
	// trailguard
	ReasonFailedCall         = "failed-call"
	ReasonOwnChange          = "own-change"
	ReasonNotOnboardingStack = "not-onboarding-stack"
	ReasonOtherAccountTrail  = "trail-of-another-account"
	ReasonNotForwardingTrail = "not-forwarding-trail"
	ReasonTrailStarted       = "trail-started"
	ReasonStackChanged       = "stack-changed"            // enqueue
	ReasonTrailUnknown       = "no-ledger-entry"          // enqueue
	ReasonStackTrail         = "stack-creates-trail"      // enqueue (ledger says CreateNewTrail)
	ReasonNotManaged         = "not-managed"              // enqueue (ledger says Managed=false)
	ReasonForwardingTrail    = "forwarding-trail-changed" // enqueue
	ReasonMayFix             = "may-fix-needs-person"     // enqueue
	// sweep
	ReasonManagement   = org.Management
	ReasonNotActive    = org.NotActive
	ReasonNotInOrg     = "account-not-in-organization"
	ReasonBadAccountID = "bad-account-id"
	// a manual request that did not come from the install account
	ReasonNotFromInstall = "manual-not-from-install-account"
	ReasonSweep          = "sweep"  // enqueue
	ReasonManual         = "manual" // enqueue
)

// decision is what an intake decided for one account of one event.
type decision struct {
	account string
	enqueue bool
	reason  string // a Reason* code
	detail  string
	level   slog.Level
	digest  string    // the digest of the account's ledger entry, when the sweep read it
	since   time.Time // when the account joined the Organization (or was vended), when known
	name    string    // the account's name, when the event or the listing says it
	// offboard is set on a request to offboard the account (a queue.Offboard* code)
	offboard string
}

func skip(account, reason, format string, args ...any) decision {
	return decision{account: account, reason: reason, detail: fmt.Sprintf(format, args...), level: slog.LevelInfo}
}

func enqueue(account, reason, format string, args ...any) decision {
	return decision{account: account, enqueue: true, reason: reason, detail: fmt.Sprintf(format, args...), level: slog.LevelInfo}
}

// offboard enqueues a request to offboard the account, which left the scope: code is a
// queue.Offboard* code, also the decision's reason.
func offboard(account, code, format string, args ...any) decision {
	d := enqueue(account, code, format, args...)
	d.offboard = code
	return d
}

// base is what every intake shares.
type base struct {
	function  string
	Config    config.Config
	ConfigErr error // returned by every invocation: a misconfigured function shows in its errors
	Queue     Enqueuer
	Log       *slog.Logger
	Metrics   *metrics.Recorder
	Registry  *event.Registry // nil: event.Default
}

func (b *base) log() *slog.Logger {
	if b.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Log
}

// start checks the configuration and parses the event. ok is false when the event is done
// with (bad, unknown or not for this function: logged and counted); err is the
// configuration error.
func (b *base) start(ctx context.Context, raw json.RawMessage, kinds ...event.Kind) (ev *event.Event, ok bool, err error) {
	if b.ConfigErr != nil {
		b.log().ErrorContext(ctx, "configuration", "function", b.function, "error", b.ConfigErr.Error())
		return nil, false, fmt.Errorf("%s: configuration: %w", b.function, b.ConfigErr)
	}
	reg := b.Registry
	if reg == nil {
		reg = event.Default
	}
	ev, perr := reg.Parse(raw)
	if ev == nil {
		ev = &event.Event{}
	}
	if perr != nil {
		if why, isSkip := fault.IsSkip(perr); isSkip {
			b.record(ctx, ev, skip(ev.Account, ReasonUnknownEvent, "%s", why))
			return ev, false, nil
		}
		d := decision{account: ev.Account, reason: ReasonBadEvent, detail: perr.Error(), level: slog.LevelError}
		b.record(ctx, ev, d)
		return ev, false, nil
	}
	for _, k := range kinds {
		if ev.Kind == k {
			return ev, true, nil
		}
	}
	b.record(ctx, ev, skip(ev.Account, ReasonNotHandled, "%s events are not handled by %s", ev.Kind, b.function))
	return ev, false, nil
}

// record logs one decision and counts it.
func (b *base) record(ctx context.Context, ev *event.Event, d decision) {
	dec := Skip
	switch {
	case d.enqueue:
		dec = Enqueue
	case d.reason == ReasonBadEvent:
		dec = Error
	}
	attrs := []any{
		"function", b.function,
		"event_id", ev.ID,
		"replay", ev.ReplayName,
		"account", d.account,
		"decision", dec,
		"reason", d.reason,
		"detail", d.detail,
	}
	if ev.Kind != "" {
		attrs = append(attrs, "kind", string(ev.Kind), "event_name", ev.Name, "region", ev.Region)
	}
	b.log().Log(ctx, d.level, "event", attrs...)
	b.Metrics.Event(dec, d.reason)
}

// request builds the queue request of a decision.
func request(ev *event.Event, d decision, region string) queue.Request {
	return queue.Request{
		Version:    queue.Version,
		Account:    d.account,
		Trigger:    ev.Trigger(),
		Reason:     d.reason + ": " + d.detail,
		EventID:    ev.ID,
		ReplayName: ev.ReplayName,
		Region:     region,

		LedgerDigest: d.digest,
		AccountSince: d.since,
		AccountName:  d.name,
		Offboard:     d.offboard,
	}
}

// finish enqueues the requests of the decisions in one Send, then logs every decision. A
// failed send is returned (the platform retries the event; the deduplication id makes the
// requests SQS already took harmless).
func (b *base) finish(ctx context.Context, ev *event.Event, ds []decision, region string) error {
	if err := b.send(ctx, ev, ds, region); err != nil {
		return b.fail(ctx, ev, err)
	}
	return nil
}

// send is finish without the failure's log line, for a caller that handles it (the sweep
// continues from the page instead).
func (b *base) send(ctx context.Context, ev *event.Event, ds []decision, region string) error {
	var reqs []queue.Request
	for _, d := range ds {
		if d.enqueue {
			reqs = append(reqs, request(ev, d, region))
		}
	}
	if len(reqs) > 0 {
		if b.Queue == nil {
			return errors.New("no queue configured")
		}
		if err := b.Queue.Send(ctx, reqs); err != nil {
			return fmt.Errorf("enqueue %d reconcile requests: %w", len(reqs), err)
		}
		b.Metrics.Enqueued(len(reqs))
	}
	for _, d := range ds {
		b.record(ctx, ev, d)
	}
	return nil
}

// fail logs a transient failure of an event and returns it for the platform to retry.
func (b *base) fail(ctx context.Context, ev *event.Event, err error) error {
	b.log().ErrorContext(ctx, "event failed, will be retried", "function", b.function, "event_id", ev.ID,
		"replay", ev.ReplayName, "account", ev.Account, "class", string(fault.ClassOf(err)), "error", err.Error())
	b.Metrics.Event("retry", string(fault.ClassOf(err)))
	return fmt.Errorf("%s: event %s: %w", b.function, ev.ID, err)
}

// validate checks the settings an intake uses (not the secret: intakes never read it) and
// returns every problem at once.
func validate(c config.Config, trailguard bool) error { return c.ValidateIntake(trailguard) }

// ValidateAccountVending, ValidateTrailGuard and ValidateSweep check the settings each
// intake uses; none needs ONBOARDER_SECRET_ARN.
func ValidateAccountVending(c config.Config) error { return validate(c, false) }
func ValidateTrailGuard(c config.Config) error     { return validate(c, true) }
func ValidateSweep(c config.Config) error          { return validate(c, false) }
