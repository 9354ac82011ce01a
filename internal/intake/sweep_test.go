package intake_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

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
				management:     "skip/" + intake.ReasonManagement,
				member:         "enqueue/",
				"123456789012": "skip/" + intake.ReasonNotActive,
				"004455667788": "skip/" + intake.ReasonExcluded,
				"210987654321": "skip/" + intake.ReasonOUNotInScope,
			}
			for a, w := range want {
				if !strings.HasPrefix(got[a], w) {
					t.Errorf("%s: %s, want %s", a, got[a], w)
				}
			}
			reqs := e.sqs.Requests(t)
			if len(reqs) != 13 {
				t.Fatalf("%d requests, want 13", len(reqs))
			}
			if len(e.sqs.Inputs) != 2 {
				t.Errorf("%d batches, want 2 (10 + 3)", len(e.sqs.Inputs))
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
			// Per-run cache: one ListParents per account listed and per OU.
			if n := e.orgs.Calls["ListParents"]; n > 12+2+2 {
				t.Errorf("%d ListParents calls: the OU cache does not work", n)
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

// FakeLedgerScanner answers All from Entries.
type FakeLedgerScanner struct {
	Entries map[string]ledger.Entry
	Err     error
	Calls   int
}

func (f *FakeLedgerScanner) All(context.Context) (map[string]ledger.Entry, error) {
	f.Calls++
	return f.Entries, f.Err
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
