package intake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	smithy "github.com/aws/smithy-go"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/intake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
)

const management = "999999999999"

// org builds an organization: the management account, the member, a suspended account, an
// excluded one, one in another OU, and n more members, over pages of 5.
func org(e *env, n int) {
	accts := []orgtypes.Account{
		{Id: aws.String(management), State: orgtypes.AccountStateActive},
		{Id: aws.String(member), State: orgtypes.AccountStateActive},
		{Id: aws.String("123456789012"), State: orgtypes.AccountStateSuspended},
		{Id: aws.String("004455667788"), Status: orgtypes.AccountStatusActive}, // only the old field
		{Id: aws.String("210987654321"), State: orgtypes.AccountStateActive},
	}
	tree := map[string]string{member: "ou-ab12-k2l3m4n5", "004455667788": "ou-ab12-k2l3m4n5", "210987654321": "ou-ab12-sb0x7q9z",
		"ou-ab12-k2l3m4n5": "r-ab12", "ou-ab12-sb0x7q9z": "r-ab12", management: "r-ab12", "123456789012": "r-ab12"}
	for i := range n {
		id := fmt.Sprintf("5000000000%02d", i)
		accts = append(accts, orgtypes.Account{Id: aws.String(id), State: orgtypes.AccountStateActive})
		tree[id] = "ou-ab12-k2l3m4n5"
	}
	e.orgs.Management, e.orgs.Accounts, e.orgs.Parents, e.orgs.PageSize = management, accts, tree, 5
}

func reasonsByAccount(t *testing.T, e *env) map[string]string {
	out := map[string]string{}
	for _, d := range e.decisions(t) {
		out[fmt.Sprint(d["account"])] += fmt.Sprint(d["decision"], "/", d["reason"])
	}
	return out
}

// A sweep of the included OUs walks them (ListAccountsForParent, then their child OUs) and
// enqueues page by page: no ListParents per account; one of every account: ListAccounts.
func TestSweepScheduled(t *testing.T) {
	for _, file := range []string{"scheduled-events.json", "scheduled-scheduler.json", "manual-all.json"} {
		t.Run(file, func(t *testing.T) {
			e := newEnv()
			org(e, 12)
			cfg := baseConfig()
			cfg.ExcludeAccounts = []string{"004455667788"}
			cfg.IncludeOUs = []string{"ou-ab12-k2l3m4n5"}
			h := intake.NewSweep(cfg, intake.ValidateSweep(cfg), e.queue(), e.orgs, e.log, e.metrics)
			if err := invoke(t, h.Handle, golden(t, file)); err != nil {
				t.Fatal(err)
			}
			got := reasonsByAccount(t, e)
			want := map[string]string{
				member:         "enqueue/",
				"004455667788": "skip/" + intake.ReasonExcluded,
			}
			for a, w := range want {
				if !strings.HasPrefix(got[a], w) {
					t.Errorf("%s: %s, want %s", a, got[a], w)
				}
			}
			for _, outside := range []string{management, "123456789012", "210987654321"} {
				if _, ok := got[outside]; ok {
					t.Errorf("%s is outside the included OU, yet was decided on: %s", outside, got[outside])
				}
			}
			reqs := requests(t, e.sqs)
			if len(reqs) != 13 {
				t.Fatalf("%d requests, want 13", len(reqs))
			}
			if e.sqs.SendMessageBatchCalls.Count() != 3 {
				t.Errorf("%d batches, want 3 (one per page of 5, the excluded account left out)", e.sqs.SendMessageBatchCalls.Count())
			}
			wantTrigger := "sweep"
			if strings.HasPrefix(file, "manual") {
				wantTrigger = "manual"
			}
			var accts []string
			for _, r := range reqs {
				if r.Trigger != wantTrigger || r.EventID == "" {
					t.Errorf("request %+v", r)
				}
				accts = append(accts, r.Account)
			}
			sort.Strings(accts)
			if accts[0] != member {
				t.Errorf("leading zero lost: %v", accts)
			}
			if n := e.orgs.ListParentsCalls.Count(); n != 0 {
				t.Errorf("%d ListParents calls: the walk needs none", n)
			}
			// The management account is cached across invocations.
			if err := invoke(t, h.Handle, golden(t, file)); err != nil {
				t.Fatal(err)
			}
			if n := e.orgs.DescribeOrganizationCalls.Count(); n != 1 {
				t.Errorf("%d DescribeOrganization calls, want 1", n)
			}
		})
	}
	// Every account: ListAccounts, the scope rules on each.
	e := newEnv()
	org(e, 12)
	cfg := baseConfig()
	h := intake.NewSweep(cfg, intake.ValidateSweep(cfg), e.queue(), e.orgs, e.log, e.metrics)
	if err := invoke(t, h.Handle, golden(t, "scheduled-events.json")); err != nil {
		t.Fatal(err)
	}
	got := reasonsByAccount(t, e)
	if got[management] != "skip/"+intake.ReasonManagement || got["123456789012"] != "skip/"+intake.ReasonNotActive || got["210987654321"] != "enqueue/"+intake.ReasonSweep {
		t.Errorf("decisions %v", got)
	}
	if n := e.orgs.ListAccountsForParentCalls.Count() + e.orgs.ListParentsCalls.Count(); n != 0 {
		t.Errorf("%d calls per OU or parent in a sweep of every account", n)
	}
}

// Nested OUs are walked too.
func TestSweepWalksNestedOUs(t *testing.T) {
	e := newEnv()
	org(e, 0)
	// 210987654321 sits in ou-ab12-sb0x7q9z; put that OU under the included one.
	e.orgs.Parents["ou-ab12-sb0x7q9z"] = "ou-ab12-k2l3m4n5"
	cfg := baseConfig()
	cfg.IncludeOUs = []string{"ou-ab12-k2l3m4n5"}
	h := intake.NewSweep(cfg, intake.ValidateSweep(cfg), e.queue(), e.orgs, e.log, e.metrics)
	if err := invoke(t, h.Handle, golden(t, "scheduled-events.json")); err != nil {
		t.Fatal(err)
	}
	if got := reasonsByAccount(t, e); got["210987654321"] != "enqueue/"+intake.ReasonSweep {
		t.Errorf("an account of a nested OU: %q", got["210987654321"])
	}
}

// continuations returns the continuations the sweep put on the bus.
func continuations(bus *fake.EventBridge) []map[string]any {
	var out []map[string]any
	for _, en := range bus.Events() {
		var d map[string]any
		_ = json.Unmarshal([]byte(aws.ToString(en.Detail)), &d)
		out = append(out, map[string]any{"source": aws.ToString(en.Source), "detail-type": aws.ToString(en.DetailType),
			"bus": aws.ToString(en.EventBusName), "detail": d})
	}
	return out
}

// lastContinuation returns the continuation the sweep put on the bus last.
func lastContinuation(bus *fake.EventBridge) map[string]any {
	cs := continuations(bus)
	return cs[len(cs)-1]
}

// asEvent is a continuation as the bus delivers it back to the sweep.
func asEvent(t *testing.T, put map[string]any, id string) json.RawMessage {
	b, err := json.Marshal(map[string]any{"version": "0", "id": id, "detail-type": put["detail-type"], "source": put["source"],
		"account": "999999999999", "time": "2026-12-01T05:00:00Z", "region": "eu-west-1", "resources": []string{}, "detail": put["detail"]})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A sweep whose invocation would end before the last page puts its continuation on the bus,
// and the next invocation goes on from that page, not from the start: every account enqueued
// once, with the first sweep's event id.
func TestSweepContinues(t *testing.T) {
	e := newEnv()
	org(e, 12)
	cfg := baseConfig()
	cfg.IncludeOUs = []string{"ou-ab12-k2l3m4n5"}
	h := intake.NewSweep(cfg, intake.ValidateSweep(cfg), e.queue(), e.orgs, e.log, e.metrics)
	bus := &fake.EventBridge{}
	h.Bus, h.BusName = bus, "cloudone-onboarder"
	first := golden(t, "scheduled-events.json")
	var firstID string
	_ = json.Unmarshal(first, &struct {
		ID *string `json:"id"`
	}{&firstID})
	raw := first
	for i := 0; i < 10; i++ {
		before := len(continuations(bus))
		if err := h.Handle(&pageCtx{Context: context.Background()}, raw); err != nil {
			t.Fatal(err)
		}
		if len(continuations(bus)) == before {
			break // done
		}
		raw = asEvent(t, lastContinuation(bus), fmt.Sprintf("cont-%d", i))
	}
	if len(continuations(bus)) < 2 {
		t.Fatalf("%d continuations: the sweep did not continue", len(continuations(bus)))
	}
	reqs := requests(t, e.sqs)
	seen := map[string]int{}
	for _, r := range reqs {
		seen[r.Account]++
		if r.EventID != firstID || r.Trigger != "sweep" {
			t.Errorf("request %+v: every request of the sweep carries its first event id", r)
		}
	}
	if len(seen) != 14 {
		t.Errorf("%d accounts enqueued, want 14", len(seen))
	}
	for a, n := range seen {
		if n != 1 {
			t.Errorf("%s enqueued %d times: the continuation started over", a, n)
		}
	}
	if pages := e.orgs.ListAccountsForParentCalls.Count(); pages != 3 {
		t.Errorf("%d account pages read, want 3 (no page twice)", pages)
	}
	c := continuations(bus)[0]
	if c["source"] != "onboarder.manual" || c["detail-type"] != "Reconcile Request" || c["bus"] != "cloudone-onboarder" {
		t.Errorf("continuation %v", c)
	}
}

// pageCtx reports a far deadline for the first page and a near one after it.
type pageCtx struct {
	context.Context
	calls int
}

func (p *pageCtx) Deadline() (time.Time, bool) {
	p.calls++
	if p.calls == 1 {
		return time.Now().Add(time.Hour), true
	}
	return time.Now().Add(time.Second), true
}

// Manual requests are accepted only from the install account.
func TestSweepRefusesManualFromElsewhere(t *testing.T) {
	e := newEnv()
	org(e, 0)
	cfg := baseConfig()
	cfg.InstallAccount = "999999999999"
	h := intake.NewSweep(cfg, intake.ValidateSweep(cfg), e.queue(), e.orgs, e.log, e.metrics)
	raw := mutate(t, "manual-all.json", func(m map[string]any) { m["account"] = "210987654321" })
	if err := invoke(t, h.Handle, raw); err != nil {
		t.Fatal(err)
	}
	if e.sqs.SendMessageBatchCalls.Count() != 0 || e.orgs.Log.Len() != 0 {
		t.Fatalf("a manual request from another account was acted on")
	}
	ds := e.decisions(t)
	if len(ds) != 1 || ds[0]["reason"] != intake.ReasonNotFromInstall || ds[0]["level"] != "WARN" {
		t.Fatalf("decisions %v", ds)
	}
	raw = mutate(t, "manual-all.json", func(m map[string]any) { m["account"] = "999999999999" })
	if err := invoke(t, h.Handle, raw); err != nil || e.sqs.SendMessageBatchCalls.Count() == 0 {
		t.Fatalf("a manual request from the install account: %v, %d batches", err, e.sqs.SendMessageBatchCalls.Count())
	}
}

// A listing that keeps failing after the SDK's retries continues later, from the same page,
// a few times; then the event fails and the platform retries it.
func TestSweepThrottledContinuesThenFails(t *testing.T) {
	e := newEnv()
	org(e, 0)
	e.orgs.ListAccountsCalls.FailAlways(&smithy.GenericAPIError{Code: "TooManyRequestsException", Message: "AWS Organizations can't complete your request because another request is already in progress"})
	cfg := baseConfig()
	h := intake.NewSweep(cfg, intake.ValidateSweep(cfg), e.queue(), e.orgs, e.log, e.metrics)
	bus := &fake.EventBridge{}
	h.Bus, h.BusName = bus, "b"
	raw := golden(t, "scheduled-events.json")
	var err error
	for i := 0; i < 6 && err == nil; i++ {
		before := len(continuations(bus))
		err = h.Handle(context.Background(), raw)
		if len(continuations(bus)) > before {
			raw = asEvent(t, lastContinuation(bus), fmt.Sprintf("retry-%d", i))
		}
	}
	if len(continuations(bus)) != 3 || err == nil {
		t.Fatalf("%d continuations, err %v: want 3, then an error", len(continuations(bus)), err)
	}
}

func TestSweepManualIDs(t *testing.T) {
	e := newEnv()
	org(e, 0)
	cfg := baseConfig()
	h := intake.NewSweep(cfg, intake.ValidateSweep(cfg), e.queue(), e.orgs, e.log, e.metrics)
	raw := mutate(t, "manual-bad-ids.json", func(m map[string]any) {
		detail(m)["accountIds"] = append(detail(m)["accountIds"].([]any), "777777777777", management)
	})
	if err := invoke(t, h.Handle, raw); err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, d := range e.decisions(t) {
		if d["reason"] == intake.ReasonBadAccountID {
			if d["level"] != "ERROR" {
				t.Errorf("bad id logged at %v", d["level"])
			}
			bad = append(bad, fmt.Sprint(d["detail"]))
		}
	}
	if len(bad) != 2 || !strings.Contains(bad[0], "detail.accountIds[1]") || !strings.Contains(bad[1], "detail.accountIds[2]") {
		t.Errorf("bad ids not reported by name: %q", bad)
	}
	got := reasonsByAccount(t, e)
	if got["777777777777"] != "skip/"+intake.ReasonNotInOrg || got[management] != "skip/"+intake.ReasonManagement ||
		got["123456789012"] != "skip/"+intake.ReasonNotActive || got[member] != "enqueue/"+intake.ReasonManual {
		t.Errorf("decisions %v", got)
	}
	reqs := requests(t, e.sqs)
	if len(reqs) != 1 || reqs[0].Account != member || reqs[0].Trigger != "manual" {
		t.Errorf("requests %+v", reqs)
	}
}

func TestSweepErrors(t *testing.T) {
	cases := map[string]func(e *env){
		"ListAccounts": func(e *env) {
			e.orgs.ListAccountsCalls.FailAlways(errors.New("TooManyRequestsException"))
		},
		"DescribeOrganization": func(e *env) {
			e.orgs.DescribeOrganizationCalls.FailAlways(errors.New("ServiceException"))
		},
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv()
			org(e, 0)
			breakIt(e)
			cfg := baseConfig()
			h := intake.NewSweep(cfg, nil, e.queue(), e.orgs, e.log, e.metrics)
			if err := invoke(t, h.Handle, golden(t, "scheduled-events.json")); err == nil {
				t.Fatal("no error: the platform would not retry")
			}
			if e.sqs.SendMessageBatchCalls.Count() != 0 {
				t.Error("sent a partial sweep")
			}
		})
	}
	// A configuration error shows in every invocation.
	e := newEnv()
	cfg := baseConfig()
	cfg.QueueURL = ""
	h := intake.NewSweep(cfg, intake.ValidateSweep(cfg), e.queue(), e.orgs, e.log, e.metrics)
	if err := invoke(t, h.Handle, golden(t, "scheduled-events.json")); err == nil || !strings.Contains(err.Error(), "ONBOARDER_QUEUE_URL") {
		t.Errorf("error %v", err)
	}
}

// The sweep reads the ledger once and stamps each request with its entry's digest; without
// the ledger (or when it cannot be read) the requests go without, and the sweep goes on.
func TestSweepCarriesLedgerDigests(t *testing.T) {
	stored := ledger.Entry{Account: member, Region: "us-east-1", Action: "none", Managed: true}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"ledger read", nil, stored.Digest()},
		{"ledger down", errors.New("ThrottlingException"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			org(e, 3)
			cfg := baseConfig()
			h := intake.NewSweep(cfg, intake.ValidateSweep(cfg), e.queue(), e.orgs, e.log, e.metrics)
			scan := &fake.Ledger{}
			scan.Seed(stored)
			scan.SummariesCalls.FailAlways(tc.err)
			h.Ledger = scan
			if err := invoke(t, h.Handle, golden(t, "scheduled-scheduler.json")); err != nil {
				t.Fatal(err)
			}
			if n := scan.SummariesCalls.Count(); n != 1 {
				t.Fatalf("ledger read %d times, want once per sweep", n)
			}
			found := false
			for _, r := range requests(t, e.sqs) {
				switch {
				case r.Account == member:
					found = true
					if r.LedgerDigest != tc.want {
						t.Errorf("digest %q, want %q", r.LedgerDigest, tc.want)
					}
				case r.LedgerDigest != "":
					t.Errorf("%s has no ledger entry but carries a digest", r.Account)
				}
			}
			if !found {
				t.Fatal("no request for the account with a ledger entry")
			}
		})
	}
}

// A page whose requests cannot be enqueued (SQS failing after the SDK's retries) is tried
// again by a continuation from that page, not by the platform's retry of the whole event.
func TestSweepEnqueueFailureContinuesFromThePage(t *testing.T) {
	e := newEnv()
	org(e, 12)
	cfg := baseConfig()
	h := intake.NewSweep(cfg, intake.ValidateSweep(cfg), e.queue(), e.orgs, e.log, e.metrics)
	bus := &fake.EventBridge{}
	h.Bus, h.BusName = bus, "b"
	e.sqs.SendMessageBatchCalls.Fail(errors.New("ServiceUnavailable")) // the first batch, after the SDK's retries
	raw := golden(t, "scheduled-events.json")
	if err := h.Handle(context.Background(), raw); err != nil {
		t.Fatalf("the sweep failed instead of continuing: %v", err)
	}
	if len(continuations(bus)) != 1 {
		t.Fatalf("%d continuations, want 1", len(continuations(bus)))
	}
	if err := h.Handle(context.Background(), asEvent(t, continuations(bus)[0], "cont-1")); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range requests(t, e.sqs) {
		seen[r.Account] = true
	}
	if len(continuations(bus)) != 1 || len(seen) < 12 {
		t.Fatalf("%d continuations, %d accounts enqueued", len(continuations(bus)), len(seen))
	}
}

// The sweep offboards the accounts that left the scope while the ledger says the onboarder's
// stack is there: found in the walk (SUSPENDED, newly excluded) or, not seen by it, asked for
// one by one (gone from the Organization, moved out of the included OUs). An account the
// ledger has no stack of, or whose offboarding already reported its stack (unless the policy
// is now delete), is not offboarded again.
func TestSweepOffboardingFindings(t *testing.T) {
	onboarded := func(a string) ledger.Entry {
		return ledger.Entry{Account: a, Region: "us-east-1", StackStatus: "CREATE_COMPLETE", Managed: true, Action: "create", Class: "none"}
	}
	reported := func(a string) ledger.Entry {
		e := onboarded(a)
		e.Offboard, e.Action = "account-not-in-organization", "offboarded"
		return e
	}
	foreign := onboarded("500000000001")
	foreign.Managed = false
	entries := map[string]ledger.Entry{
		"123456789012": onboarded("123456789012"), // SUSPENDED
		"004455667788": onboarded("004455667788"), // excluded now
		"777777777777": onboarded("777777777777"), // gone
		"210987654321": onboarded("210987654321"), // in another OU
		"888888888888": reported("888888888888"),  // gone, already reported with its stack left
		"500000000001": foreign,                   // a stack that is not the onboarder's
	}
	for _, tc := range []struct {
		name   string
		ous    []string
		policy config.OffboardPolicy
		want   map[string]string // account -> offboard code ("" : no offboarding request)
	}{
		{"every OU", nil, config.OffboardReport, map[string]string{
			"123456789012": "account-not-active", "004455667788": "excluded-account", "777777777777": "account-not-in-organization",
			"888888888888": "", "500000000001": "", member: "", "210987654321": ""}},
		{"included OUs, delete", []string{"ou-ab12-k2l3m4n5"}, config.OffboardDelete, map[string]string{
			"123456789012": "account-not-active", "004455667788": "excluded-account", "777777777777": "account-not-in-organization",
			"210987654321": "ou-not-included", "888888888888": "account-not-in-organization", "500000000001": "", member: ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			org(e, 3)
			cfg := baseConfig()
			cfg.ExcludeAccounts, cfg.IncludeOUs, cfg.Offboard = []string{"004455667788"}, tc.ous, tc.policy
			h := intake.NewSweep(cfg, intake.ValidateSweep(cfg), e.queue(), e.orgs, e.log, e.metrics)
			scan := &fake.Ledger{}
			for _, en := range entries {
				scan.Seed(en)
			}
			h.Ledger = scan
			if err := invoke(t, h.Handle, golden(t, "scheduled-events.json")); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, r := range requests(t, e.sqs) {
				if _, dup := got[r.Account]; dup {
					t.Errorf("%s enqueued twice", r.Account)
				}
				got[r.Account] = r.Offboard
				if r.Offboard != "" && !strings.Contains(r.Reason, r.Offboard) {
					t.Errorf("%s: reason %q does not name %s", r.Account, r.Reason, r.Offboard)
				}
			}
			for a, want := range tc.want {
				code, enq := got[a]
				switch {
				case want != "" && code != want:
					t.Errorf("%s: offboard %q (enqueued %v), want %q", a, code, enq, want)
				case want == "" && code != "":
					t.Errorf("%s: offboarded (%s), want not", a, code)
				}
			}
			if got[member] != "" || !func() bool { _, ok := got[member]; return ok }() {
				t.Errorf("the member in scope was not enqueued to reconcile: %v", got)
			}
		})
	}
}
