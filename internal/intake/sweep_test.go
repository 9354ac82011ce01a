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
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	smithy "github.com/aws/smithy-go"

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
	e.orgs.ListAccountsFn = func(in *organizations.ListAccountsInput) (*organizations.ListAccountsOutput, error) {
		start := 0
		if in.NextToken != nil {
			fmt.Sscan(*in.NextToken, &start)
		}
		end := min(start+5, len(accts))
		out := &organizations.ListAccountsOutput{Accounts: accts[start:end]}
		if end < len(accts) {
			out.NextToken = aws.String(fmt.Sprint(end))
		}
		return out, nil
	}
	e.orgs.ListParentsFn = parentsFrom(tree)
	page := func(token *string, n int) (int, int, *string) {
		start := 0
		if token != nil {
			fmt.Sscan(*token, &start)
		}
		end := min(start+5, n)
		if end < n {
			return start, end, aws.String(fmt.Sprint(end))
		}
		return start, end, nil
	}
	e.orgs.ForParentFn = func(in *organizations.ListAccountsForParentInput) (*organizations.ListAccountsForParentOutput, error) {
		var under []orgtypes.Account
		for _, a := range accts {
			if tree[*a.Id] == *in.ParentId {
				under = append(under, a)
			}
		}
		start, end, next := page(in.NextToken, len(under))
		return &organizations.ListAccountsForParentOutput{Accounts: under[start:end], NextToken: next}, nil
	}
	e.orgs.OUsFn = func(in *organizations.ListOrganizationalUnitsForParentInput) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
		var ous []orgtypes.OrganizationalUnit
		for child, parent := range tree {
			if parent == *in.ParentId && strings.HasPrefix(child, "ou-") {
				ous = append(ous, orgtypes.OrganizationalUnit{Id: aws.String(child)})
			}
		}
		sort.Slice(ous, func(i, j int) bool { return *ous[i].Id < *ous[j].Id })
		start, end, next := page(in.NextToken, len(ous))
		return &organizations.ListOrganizationalUnitsForParentOutput{OrganizationalUnits: ous[start:end], NextToken: next}, nil
	}
	e.orgs.DescribeOrganizationFn = func(*organizations.DescribeOrganizationInput) (*organizations.DescribeOrganizationOutput, error) {
		return &organizations.DescribeOrganizationOutput{Organization: &orgtypes.Organization{MasterAccountId: aws.String(management)}}, nil
	}
	e.orgs.DescribeAccountFn = func(in *organizations.DescribeAccountInput) (*organizations.DescribeAccountOutput, error) {
		for _, a := range accts {
			if *a.Id == *in.AccountId {
				return &organizations.DescribeAccountOutput{Account: &a}, nil
			}
		}
		return nil, &orgtypes.AccountNotFoundException{Message: aws.String("not found")}
	}
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
			reqs := e.sqs.Requests(t)
			if len(reqs) != 13 {
				t.Fatalf("%d requests, want 13", len(reqs))
			}
			if len(e.sqs.Inputs) != 3 {
				t.Errorf("%d batches, want 3 (one per page of 5, the excluded account left out)", len(e.sqs.Inputs))
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
			if n := e.orgs.Calls["ListParents"]; n != 0 {
				t.Errorf("%d ListParents calls: the walk needs none", n)
			}
			// The management account is cached across invocations.
			if err := invoke(t, h.Handle, golden(t, file)); err != nil {
				t.Fatal(err)
			}
			if n := e.orgs.Calls["DescribeOrganization"]; n != 1 {
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
	if n := e.orgs.Calls["ListAccountsForParent"] + e.orgs.Calls["ListParents"]; n != 0 {
		t.Errorf("%d calls per OU or parent in a sweep of every account", n)
	}
}

// Nested OUs are walked too.
func TestSweepWalksNestedOUs(t *testing.T) {
	e := newEnv()
	org(e, 0)
	// 210987654321 sits in ou-ab12-sb0x7q9z; put that OU under the included one.
	inner := e.orgs.OUsFn
	e.orgs.OUsFn = func(in *organizations.ListOrganizationalUnitsForParentInput) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
		if *in.ParentId == "ou-ab12-k2l3m4n5" {
			return &organizations.ListOrganizationalUnitsForParentOutput{OrganizationalUnits: []orgtypes.OrganizationalUnit{{Id: aws.String("ou-ab12-sb0x7q9z")}}}, nil
		}
		return inner(in)
	}
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

// FakeBus records the continuations put on the bus.
type FakeBus struct {
	Events []map[string]any
	Err    error
}

func (f *FakeBus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	if f.Err != nil {
		return nil, f.Err
	}
	for _, en := range in.Entries {
		var d map[string]any
		_ = json.Unmarshal([]byte(aws.ToString(en.Detail)), &d)
		f.Events = append(f.Events, map[string]any{"source": aws.ToString(en.Source), "detail-type": aws.ToString(en.DetailType),
			"bus": aws.ToString(en.EventBusName), "detail": d})
	}
	return &eventbridge.PutEventsOutput{Entries: []ebtypes.PutEventsResultEntry{{EventId: aws.String("cont-1")}}}, nil
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
	bus := &FakeBus{}
	h.Bus, h.BusName = bus, "cloudone-onboarder"
	pages := 0
	inner := e.orgs.ForParentFn
	e.orgs.ForParentFn = func(in *organizations.ListAccountsForParentInput) (*organizations.ListAccountsForParentOutput, error) {
		pages++
		return inner(in)
	}
	first := golden(t, "scheduled-events.json")
	var firstID string
	_ = json.Unmarshal(first, &struct {
		ID *string `json:"id"`
	}{&firstID})
	raw := first
	for i := 0; i < 10; i++ {
		before := len(bus.Events)
		if err := h.Handle(&pageCtx{Context: context.Background()}, raw); err != nil {
			t.Fatal(err)
		}
		if len(bus.Events) == before {
			break // done
		}
		raw = asEvent(t, bus.Events[len(bus.Events)-1], fmt.Sprintf("cont-%d", i))
	}
	if len(bus.Events) < 2 {
		t.Fatalf("%d continuations: the sweep did not continue", len(bus.Events))
	}
	reqs := e.sqs.Requests(t)
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
	if pages != 3 {
		t.Errorf("%d account pages read, want 3 (no page twice)", pages)
	}
	c := bus.Events[0]
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
	if len(e.sqs.Inputs) != 0 || e.orgs.Total() != 0 {
		t.Fatalf("a manual request from another account was acted on")
	}
	ds := e.decisions(t)
	if len(ds) != 1 || ds[0]["reason"] != intake.ReasonNotFromInstall || ds[0]["level"] != "WARN" {
		t.Fatalf("decisions %v", ds)
	}
	raw = mutate(t, "manual-all.json", func(m map[string]any) { m["account"] = "999999999999" })
	if err := invoke(t, h.Handle, raw); err != nil || len(e.sqs.Inputs) == 0 {
		t.Fatalf("a manual request from the install account: %v, %d batches", err, len(e.sqs.Inputs))
	}
}

// A listing that keeps failing after the SDK's retries continues later, from the same page,
// a few times; then the event fails and the platform retries it.
func TestSweepThrottledContinuesThenFails(t *testing.T) {
	e := newEnv()
	org(e, 0)
	e.orgs.ListAccountsFn = func(*organizations.ListAccountsInput) (*organizations.ListAccountsOutput, error) {
		return nil, &smithy.GenericAPIError{Code: "TooManyRequestsException", Message: "AWS Organizations can't complete your request because another request is already in progress"}
	}
	cfg := baseConfig()
	h := intake.NewSweep(cfg, intake.ValidateSweep(cfg), e.queue(), e.orgs, e.log, e.metrics)
	bus := &FakeBus{}
	h.Bus, h.BusName = bus, "b"
	raw := golden(t, "scheduled-events.json")
	var err error
	for i := 0; i < 6 && err == nil; i++ {
		before := len(bus.Events)
		err = h.Handle(context.Background(), raw)
		if len(bus.Events) > before {
			raw = asEvent(t, bus.Events[len(bus.Events)-1], fmt.Sprintf("retry-%d", i))
		}
	}
	if len(bus.Events) != 3 || err == nil {
		t.Fatalf("%d continuations, err %v: want 3, then an error", len(bus.Events), err)
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
	reqs := e.sqs.Requests(t)
	if len(reqs) != 1 || reqs[0].Account != member || reqs[0].Trigger != "manual" {
		t.Errorf("requests %+v", reqs)
	}
}

func TestSweepErrors(t *testing.T) {
	cases := map[string]func(e *env){
		"ListAccounts": func(e *env) {
			e.orgs.ListAccountsFn = func(*organizations.ListAccountsInput) (*organizations.ListAccountsOutput, error) {
				return nil, errors.New("TooManyRequestsException")
			}
		},
		"DescribeOrganization": func(e *env) {
			e.orgs.DescribeOrganizationFn = func(*organizations.DescribeOrganizationInput) (*organizations.DescribeOrganizationOutput, error) {
				return nil, errors.New("ServiceException")
			}
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
			if len(e.sqs.Inputs) != 0 {
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

// FakeLedgerScanner answers Summaries from Entries.
type FakeLedgerScanner struct {
	Entries map[string]ledger.Entry
	Err     error
	Calls   int
}

func (f *FakeLedgerScanner) Summaries(context.Context) (map[string]ledger.Summary, error) {
	f.Calls++
	if f.Err != nil {
		return nil, f.Err
	}
	out := map[string]ledger.Summary{}
	for a, e := range f.Entries {
		out[a] = e.Summarize()
	}
	return out, nil
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
			scan := &FakeLedgerScanner{Entries: map[string]ledger.Entry{member: stored}, Err: tc.err}
			h.Ledger = scan
			if err := invoke(t, h.Handle, golden(t, "scheduled-scheduler.json")); err != nil {
				t.Fatal(err)
			}
			if scan.Calls != 1 {
				t.Fatalf("ledger read %d times, want once per sweep", scan.Calls)
			}
			found := false
			for _, r := range e.sqs.Requests(t) {
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
	bus := &FakeBus{}
	h.Bus, h.BusName = bus, "b"
	sends := 0
	e.sqs.SendMessageBatchFn = func(context.Context, *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
		if sends++; sends == 1 {
			return nil, errors.New("ServiceUnavailable")
		}
		return &sqs.SendMessageBatchOutput{}, nil
	}
	raw := golden(t, "scheduled-events.json")
	if err := h.Handle(context.Background(), raw); err != nil {
		t.Fatalf("the sweep failed instead of continuing: %v", err)
	}
	if len(bus.Events) != 1 {
		t.Fatalf("%d continuations, want 1", len(bus.Events))
	}
	if err := h.Handle(context.Background(), asEvent(t, bus.Events[0], "cont-1")); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range e.sqs.Requests(t) {
		seen[r.Account] = true
	}
	if len(bus.Events) != 1 || len(seen) < 12 {
		t.Fatalf("%d continuations, %d accounts enqueued", len(bus.Events), len(seen))
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
			h.Ledger = &FakeLedgerScanner{Entries: entries}
			if err := invoke(t, h.Handle, golden(t, "scheduled-events.json")); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, r := range e.sqs.Requests(t) {
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
