package intake

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/event"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/org"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// Bus puts the sweep's continuation on the onboarder's bus (*eventbridge.Client).
type Bus interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// LedgerSummaries reads the summary of every account's ledger entry (*ledger.Table): its
// digest, and whether an account found out of scope needs offboarding.
type LedgerSummaries interface {
	Summaries(ctx context.Context) (map[string]ledger.Summary, error)
}

// Sweep handles the daily schedule and manual requests: it enqueues one request per active,
// in-scope member account (all of them, or the ones a manual request names).
//
// It also finds the accounts that left the scope while the ledger says the onboarder's stack
// is there (an event lost, or a setting changed): SUSPENDED or PENDING_CLOSURE, newly in
// ONBOARDER_EXCLUDE_ACCOUNTS, moved out of ONBOARDER_INCLUDE_OUS, or gone from the
// Organization. Those get an offboarding request. The walk sees the first three as it lists
// the accounts; the accounts of the ledger it did not see are asked for one by one at its
// end (DescribeAccount: gone, or where they are now).
//
// It walks the Organization page by page and enqueues each page as it is read, so that an
// Organization of any size costs memory for one page, and a failure loses nothing read
// before it. With ONBOARDER_INCLUDE_OUS it walks the included OUs and their children with
// ListAccountsForParent and ListOrganizationalUnitsForParent (no ListParents per account).
// When its invocation is about to end before the last page, it puts a continuation request
// on the onboarder's bus (the same rule brings it back to the sweep) and the next invocation
// goes on from that page, not from the start.
type Sweep struct {
	base
	Orgs  Organizations
	scope *org.Scope // caches the management account for the life of the process
	// Ledger, when set, is read once per invocation so that each request carries the digest
	// of its account's entry, and the worker skips rewriting the entries that did not change;
	// it also says which accounts out of scope need offboarding.
	Ledger LedgerSummaries
	// Bus and BusName receive the continuation; unset, a sweep that runs out of time fails
	// (and is retried from the start by Lambda).
	Bus     Bus
	BusName string
	// Margin is the time kept free before the deadline for the continuation (default 30 s).
	Margin time.Duration
	Now    func() time.Time
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

// Handle handles one event, then writes its metrics.
func (h *Sweep) Handle(ctx context.Context, raw json.RawMessage) error {
	err := h.handle(ctx, raw)
	h.Metrics.Flush()
	return err
}

func (h *Sweep) handle(ctx context.Context, raw json.RawMessage) error {
	ev, ok, err := h.start(ctx, raw, event.KindSchedule, event.KindManual)
	if !ok {
		return err
	}
	if ev.Kind == event.KindManual && h.Config.InstallAccount != "" && ev.Envelope.Account != h.Config.InstallAccount {
		d := skip("", ReasonNotFromInstall, "manual request from account %q: manual requests are accepted only from the install account %s",
			ev.Envelope.Account, h.Config.InstallAccount)
		d.level = slog.LevelWarn
		h.record(ctx, ev, d)
		return nil
	}
	if h.Orgs == nil {
		return h.fail(ctx, ev, fault.Permanentf("no Organizations client configured"))
	}
	h.scope.Forget() // parents are looked up afresh each run: accounts move between OUs
	if ev.Kind == event.KindManual && !ev.Manual.All {
		sums := h.summaries(ctx, ev)
		ds, err := h.named(ctx, ev, sums)
		if err != nil {
			return h.fail(ctx, ev, err)
		}
		h.stamp(ctx, ev, ds, sums)
		if err := h.finish(ctx, ev, ds, ""); err != nil {
			return err
		}
		h.done(ctx, ev, sweepID(ev), len(ds), enqueued(ds), 0, offboarded(ds))
		return nil
	}
	return h.walk(ctx, ev)
}

func enqueued(ds []decision) int {
	n := 0
	for _, d := range ds {
		if d.enqueue {
			n++
		}
	}
	return n
}

func offboarded(ds []decision) int {
	n := 0
	for _, d := range ds {
		if d.offboard != "" {
			n++
		}
	}
	return n
}

func (h *Sweep) done(ctx context.Context, ev *event.Event, id string, accounts, n, pages, offboards int) {
	h.log().InfoContext(ctx, "sweep done", "function", h.function, "event_id", ev.ID, "sweep_id", id, "replay", ev.ReplayName,
		"trigger", ev.Trigger(), "accounts", accounts, "enqueued", n, "pages", pages, "offboarded", offboards)
}

// unseen offboards the accounts whose ledger entry needs offboarding once they are out of
// scope and that the walk did not see in this invocation: each is asked for
// (DescribeAccount), and offboarded when it is gone from the Organization or out of scope. A
// walk that ran in one invocation (the usual case) asks only for those; one that continued
// across invocations asks again for the accounts earlier invocations saw, until the
// invocation nears its end (the next sweep asks again). It returns how many it enqueued.
func (h *Sweep) unseen(ctx context.Context, ev *event.Event, sums map[string]ledger.Summary, seen map[string]bool) (int, error) {
	var ids []string
	for id, s := range sums {
		if !seen[id] && h.needsOffboarding(s, "") {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var ds []decision
	for i, id := range ids {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < h.margin() {
			h.log().WarnContext(ctx, "sweep: the check of the accounts the walk did not see stops here; the next sweep goes on",
				"function", h.function, "event_id", ev.ID, "checked", i, "of", len(ids))
			break
		}
		out, err := h.Orgs.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(id)})
		if fault.IsCode(err, "AccountNotFoundException") {
			ds = append(ds, offboard(id, queue.OffboardMissing, "the sweep did not find the account in the Organization (removed, or closed more than 90 days ago)"))
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("describe account %s, which the ledger has and the walk did not see: %w", id, err)
		}
		a := types.Account{Id: aws.String(id)}
		if out.Account != nil {
			a = *out.Account
			a.Id = aws.String(id)
		}
		code, detail, err := h.scope.Check(ctx, a)
		if err != nil {
			return 0, err
		}
		if oc := queue.OffboardCode(code); oc != "" && h.needsOffboarding(sums[id], oc) {
			ds = append(ds, offboard(id, oc, "the sweep found the account out of scope: %s", detail))
		}
	}
	h.stamp(ctx, ev, ds, sums)
	if err := h.send(ctx, ev, ds, ""); err != nil {
		return 0, err
	}
	return len(ds), nil
}

// sweepID is the event id every request of a sweep carries: the first event's, also in the
// invocations that continue it (the deduplication id of a request is the same whichever
// invocation enqueues it).
func sweepID(ev *event.Event) string {
	if ev.Manual != nil && ev.Manual.Continuation != nil {
		return ev.Manual.Continuation.SweepID
	}
	return ev.ID
}

// summaries reads the ledger's summaries once per invocation. A ledger that cannot be read
// costs the saving (the worker then writes every entry) and this run's offboarding findings
// (the next sweep makes them).
func (h *Sweep) summaries(ctx context.Context, ev *event.Event) map[string]ledger.Summary {
	if h.Ledger == nil {
		return nil
	}
	ss, err := h.Ledger.Summaries(ctx)
	if err != nil {
		h.log().WarnContext(ctx, "ledger not read: the worker will rewrite every entry, and no account is offboarded by this run",
			"function", h.function, "event_id", ev.ID, "error", err.Error())
		return nil
	}
	return ss
}

// stamp gives each enqueued decision the digest of its account's ledger entry.
func (h *Sweep) stamp(_ context.Context, _ *event.Event, ds []decision, sums map[string]ledger.Summary) {
	for i := range ds {
		if s, ok := sums[ds[i].account]; ok && ds[i].enqueue {
			ds[i].digest = s.Digest
		}
	}
}

// needsOffboarding reports whether an account found out of scope for why (a queue.Offboard*
// code, "" while unknown) has something to offboard.
func (h *Sweep) needsOffboarding(s ledger.Summary, why string) bool {
	return s.NeedsOffboarding(why, h.Config.Offboard == config.OffboardDelete)
}

func (h *Sweep) reason(ev *event.Event) (string, string) {
	trigger := ev.Trigger()
	if c := ev.Manual; c != nil && c.Continuation != nil {
		trigger = c.Continuation.Trigger
	}
	if trigger == "manual" {
		return ReasonManual, "manual reconcile request"
	}
	return ReasonSweep, "daily sweep"
}

// cursor is where the walk is: event.Continuation without the bookkeeping.
type cursor = event.Continuation

func (h *Sweep) startCursor(ev *event.Event) cursor {
	if ev.Manual != nil && ev.Manual.Continuation != nil {
		return *ev.Manual.Continuation
	}
	c := cursor{SweepID: ev.ID, Trigger: ev.Trigger()}
	var ous []string
	for _, ou := range h.Config.IncludeOUs {
		if len(ou) > 2 && ou[:2] == "r-" { // a root: every account
			ous = nil
			break
		}
		ous = append(ous, ou)
	}
	if len(ous) > 0 {
		c.Parent, c.Phase, c.Pending = ous[0], "accounts", ous[1:]
	}
	return c
}

func (h *Sweep) margin() time.Duration {
	if h.Margin > 0 {
		return h.Margin
	}
	return 30 * time.Second
}

// walk lists the Organization page by page from the cursor and enqueues each page.
func (h *Sweep) walk(ctx context.Context, ev *event.Event) error {
	c := h.startCursor(ev)
	sums := h.summaries(ctx, ev)
	seen := map[string]bool{}
	accounts := 0
	for {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < h.margin() {
			return h.continueLater(ctx, ev, c, "the invocation ends soon")
		}
		// A page that fails after the SDK's retries (listing, deciding or enqueueing it) is
		// tried again by a continuation from the same cursor, up to three in a row: pages
		// already enqueued are not sent again, and one sent twice is deduplicated by SQS.
		stopped := func(what string, err error) error {
			if fault.ClassOf(err) == fault.Transient && c.Attempt < 3 && h.Bus != nil {
				c.Attempt++
				return h.continueLater(ctx, ev, c, what+" failed: "+err.Error())
			}
			return h.fail(ctx, ev, err)
		}
		start := c // the cursor of this page, before page() adds child OUs to it
		page, next, err := h.page(ctx, &c)
		if err != nil {
			return stopped("listing", err)
		}
		var ds []decision
		for _, a := range page {
			d, err := h.decideAccount(ctx, ev, a, c.Parent == "", sums)
			if err != nil {
				c = start
				return stopped("deciding", err)
			}
			seen[aws.ToString(a.Id)] = true
			ds = append(ds, d)
		}
		h.stamp(ctx, ev, ds, sums)
		wev := *ev
		wev.ID = c.SweepID // the requests of every invocation of one sweep share its event id and trigger
		if c.Trigger == "sweep" {
			wev.Kind = event.KindSchedule
		}
		if err := h.send(ctx, &wev, ds, ""); err != nil {
			c = start
			return stopped("enqueueing", err)
		}
		c.Attempt = 0
		accounts += len(ds)
		c.Enqueued += enqueued(ds)
		c.Pages++
		c.Offboarded += offboarded(ds)
		if !h.advance(&c, next) {
			n, err := h.unseen(ctx, &wev, sums, seen)
			c.Enqueued += n
			c.Offboarded += n
			if err != nil {
				return h.fail(ctx, ev, err)
			}
			h.done(ctx, ev, c.SweepID, accounts, c.Enqueued, c.Pages, c.Offboarded)
			return nil
		}
	}
}

// page reads the page the cursor points at: accounts of the Organization or of an OU, or the
// child OUs of an OU (then it returns no accounts, and the children join the walk).
func (h *Sweep) page(ctx context.Context, c *cursor) ([]types.Account, *string, error) {
	var token *string
	if c.Token != "" {
		token = aws.String(c.Token)
	}
	switch {
	case c.Parent == "":
		out, err := h.Orgs.ListAccounts(ctx, &organizations.ListAccountsInput{NextToken: token})
		if err != nil {
			return nil, nil, fmt.Errorf("list organization accounts (page %d): %w", c.Pages+1, err)
		}
		return out.Accounts, out.NextToken, nil
	case c.Phase == "ous":
		out, err := h.Orgs.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(c.Parent), NextToken: token})
		if err != nil {
			return nil, nil, fmt.Errorf("list the OUs under %s: %w", c.Parent, err)
		}
		for _, ou := range out.OrganizationalUnits {
			c.Pending = append(c.Pending, aws.ToString(ou.Id))
		}
		return nil, out.NextToken, nil
	default:
		out, err := h.Orgs.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(c.Parent), NextToken: token})
		if err != nil {
			return nil, nil, fmt.Errorf("list the accounts of %s: %w", c.Parent, err)
		}
		return out.Accounts, out.NextToken, nil
	}
}

// advance moves the cursor past a page; false when the walk is over.
func (h *Sweep) advance(c *cursor, next *string) bool {
	if next != nil && aws.ToString(next) != "" {
		c.Token = aws.ToString(next)
		return true
	}
	c.Token = ""
	switch {
	case c.Parent == "":
		return false
	case c.Phase == "accounts":
		c.Phase = "ous"
		return true
	case len(c.Pending) > 0:
		c.Parent, c.Phase, c.Pending = c.Pending[0], "accounts", c.Pending[1:]
		return true
	}
	return false
}

// continueLater puts the cursor on the bus as a continuation request and ends the invocation.
func (h *Sweep) continueLater(ctx context.Context, ev *event.Event, c cursor, why string) error {
	if h.Bus == nil || h.BusName == "" {
		return h.fail(ctx, ev, fault.Transientf("sweep stopped at page %d (%s) and no bus is configured for its continuation (ONBOARDER_EVENT_BUS)", c.Pages+1, why))
	}
	detail, _ := json.Marshal(map[string]any{"all": true, "continuation": c})
	out, err := h.Bus.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(h.BusName), Source: aws.String(event.SourceManual), DetailType: aws.String(event.DetailManual), Detail: aws.String(string(detail)),
	}}})
	if err == nil && out.FailedEntryCount > 0 {
		err = fmt.Errorf("%s", aws.ToString(out.Entries[0].ErrorMessage))
	}
	if err != nil {
		return h.fail(ctx, ev, fmt.Errorf("put the sweep's continuation at page %d on bus %s: %w", c.Pages+1, h.BusName, err))
	}
	h.log().InfoContext(ctx, "sweep continues", "function", h.function, "event_id", ev.ID, "sweep_id", c.SweepID,
		"pages", c.Pages, "enqueued", c.Enqueued, "parent", c.Parent, "reason", why)
	return nil
}

// named decides for the accounts a manual request names; bad ids are reported by name and
// the others still go.
func (h *Sweep) named(ctx context.Context, ev *event.Event, sums map[string]ledger.Summary) ([]decision, error) {
	var ds []decision
	for _, bad := range ev.Manual.Invalid {
		d := skip("", ReasonBadAccountID, "%s=%s: %s", bad.Field, bad.Value, bad.Err)
		d.level = slog.LevelError
		ds = append(ds, d)
	}
	for _, id := range ev.Manual.Accounts {
		out, err := h.Orgs.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(id)})
		if fault.IsCode(err, "AccountNotFoundException") {
			if h.needsOffboarding(sums[id], queue.OffboardMissing) {
				ds = append(ds, offboard(id, queue.OffboardMissing, "account %s is not a member of the organization", id))
				continue
			}
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
		d, err := h.decideAccount(ctx, ev, a, true, sums)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// decideAccount applies the scope rules; checkOU is false for accounts the walk of the
// included OUs found (in scope by construction). An account out of scope whose ledger entry
// needs offboarding is offboarded.
func (h *Sweep) decideAccount(ctx context.Context, ev *event.Event, a types.Account, checkOU bool, sums map[string]ledger.Summary) (decision, error) {
	id := aws.ToString(a.Id)
	if config.ValidateAccountID(id) != nil {
		d := skip("", ReasonBadAccountID, "Organizations returned account id %q", id)
		d.level = slog.LevelError
		return d, nil
	}
	var code, detail string
	var err error
	if checkOU {
		code, detail, err = h.scope.Check(ctx, a)
	} else {
		code, detail, err = h.scope.CheckAccount(ctx, a)
	}
	if err != nil {
		return decision{}, err
	}
	if code != "" {
		if oc := queue.OffboardCode(code); oc != "" && h.needsOffboarding(sums[id], oc) {
			return offboard(id, oc, "the sweep found the account out of scope: %s", detail), nil
		}
		return skip(id, code, "%s", detail), nil
	}
	r, why := h.reason(ev)
	d := enqueue(id, r, "%s", why)
	d.since, d.name = aws.ToTime(a.JoinedTimestamp), aws.ToString(a.Name)
	return d, nil
}
