package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/org"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// OrganizationsAPI is the part of the Organizations client the command uses.
type OrganizationsAPI interface {
	organizations.ListAccountsAPIClient
	DescribeAccount(ctx context.Context, in *organizations.DescribeAccountInput, optFns ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error)
	DescribeOrganization(ctx context.Context, in *organizations.DescribeOrganizationInput, optFns ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
	DescribeOrganizationalUnit(ctx context.Context, in *organizations.DescribeOrganizationalUnitInput, optFns ...func(*organizations.Options)) (*organizations.DescribeOrganizationalUnitOutput, error)
	ListParents(ctx context.Context, in *organizations.ListParentsInput, optFns ...func(*organizations.Options)) (*organizations.ListParentsOutput, error)
}

// target is an account the command works on. Offboard is set for an account that left the
// scope and whose ledger entry needs offboarding (a queue.Offboard* code, Why says more).
type target struct {
	ID       string
	Name     string
	Offboard string
	Why      string
}

// outOfScope is an account the command does not work on, and why. Failed marks a named
// account that could not be used (not in the organization): the command exits 1.
type outOfScope struct {
	ID     string `json:"account"`
	Name   string `json:"name,omitempty"`
	Why    string `json:"why"`
	Failed bool   `json:"failed,omitempty"`
	Code   string `json:"-"` // the scope reason code (org.NotActive, ...), or queue.OffboardMissing
}

// scope applies the scope rules of the Lambdas (org.Scope: ACTIVE accounts, not the
// management account, not in ONBOARDER_EXCLUDE_ACCOUNTS, under one of ONBOARDER_INCLUDE_OUS,
// nested OUs included) and names OUs for people.
type scope struct {
	*org.Scope
	api OrganizationsAPI

	mu    sync.Mutex
	names map[string]string // OU id -> name
}

func newScope(api OrganizationsAPI, cfg config.Config) *scope {
	return &scope{Scope: &org.Scope{API: api, Cfg: cfg}, api: api, names: map[string]string{}}
}

// accounts returns the named accounts (ids), or with all every account of the organization,
// split into those in scope and the others.
func (s *scope) accounts(ctx context.Context, ids []string, all bool) ([]target, []outOfScope, error) {
	if _, err := s.ManagementAccount(ctx); err != nil {
		return nil, nil, err
	}
	var list []orgtypes.Account
	var out []outOfScope
	if all {
		p := organizations.NewListAccountsPaginator(s.api, &organizations.ListAccountsInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, nil, fmt.Errorf("list organization accounts: %w", err)
			}
			list = append(list, page.Accounts...)
		}
		sort.Slice(list, func(i, j int) bool { return aws.ToString(list[i].Id) < aws.ToString(list[j].Id) })
	} else {
		for _, id := range ids {
			d, err := s.api.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(id)})
			if fault.IsCode(err, "AccountNotFoundException") {
				out = append(out, outOfScope{ID: id, Why: "not a member of the organization", Failed: true, Code: queue.OffboardMissing})
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("describe account %s: %w", id, err)
			}
			a := orgtypes.Account{Id: aws.String(id)}
			if d.Account != nil {
				a = *d.Account
			}
			list = append(list, a)
		}
	}
	var in []target
	for _, a := range list {
		id, name := aws.ToString(a.Id), aws.ToString(a.Name)
		code, why, err := s.Check(ctx, a)
		if err != nil {
			return nil, nil, err
		}
		if why != "" {
			out = append(out, outOfScope{ID: id, Name: name, Why: why, Code: code})
			continue
		}
		in = append(in, target{ID: id, Name: name})
	}
	return in, out, nil
}

// ou returns the account's OU id and a name for people ("Root" for the root).
func (s *scope) ou(ctx context.Context, account string) (id, name string, err error) {
	id, err = s.Parent(ctx, account)
	if err != nil || id == "" {
		return id, id, err
	}
	if strings.HasPrefix(id, "r-") {
		return id, "Root", nil
	}
	s.mu.Lock()
	name, ok := s.names[id]
	s.mu.Unlock()
	if ok {
		return id, name, nil
	}
	out, err := s.api.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String(id)})
	if err != nil || out.OrganizationalUnit == nil {
		name = id // the id says enough; a missing name is not worth failing the row
	} else {
		name = aws.ToString(out.OrganizationalUnit.Name)
	}
	s.mu.Lock()
	s.names[id] = name
	s.mu.Unlock()
	return id, name, nil
}

// accountIDs checks the ids given on the command line (flag values and arguments), drops
// duplicates and keeps their order. A bad id is a usage error that names it.
func accountIDs(lists ...[]string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, v := range l {
			for _, id := range strings.Split(v, ",") {
				id = strings.TrimSpace(id)
				if id == "" {
					continue
				}
				if err := config.ValidateAccountID(id); err != nil {
					return nil, usageErrorf("--account %q: must be a 12-digit AWS account id", id)
				}
				if !seen[id] {
					seen[id] = true
					out = append(out, id)
				}
			}
		}
	}
	return out, nil
}

// forEach runs fn for each index with at most n at a time, and waits for all.
func forEach(ctx context.Context, count, n int, fn func(ctx context.Context, i int)) {
	sem := make(chan struct{}, max(n, 1))
	var wg sync.WaitGroup
	for i := range count {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(ctx, i)
		}()
	}
	wg.Wait()
}

// offboardings are the accounts out of scope (skipped) or, with all, gone from the
// organization, whose ledger entry needs offboarding, as the sweep finds them. A named account
// that is gone is not a failure then: it is offboarded. Without a ledger there are none.
func offboardings(ctx context.Context, l summaries, cfg config.Config, all bool, targets []target, skipped []outOfScope) ([]target, error) {
	if l == nil {
		return nil, nil
	}
	sums, err := l.Summaries(ctx)
	if err != nil {
		return nil, err
	}
	deleting := cfg.Offboard == config.OffboardDelete
	known := map[string]bool{}
	for _, t := range targets {
		known[t.ID] = true
	}
	var out []target
	for i, s := range skipped {
		known[s.ID] = true
		if oc := queue.OffboardCode(s.Code); oc != "" && sums[s.ID].NeedsOffboarding(oc, deleting) {
			out = append(out, target{ID: s.ID, Name: s.Name, Offboard: oc, Why: s.Why})
			skipped[i].Failed = false
		}
	}
	if all {
		var gone []string
		for id, s := range sums {
			if !known[id] && s.NeedsOffboarding(queue.OffboardMissing, deleting) {
				gone = append(gone, id)
			}
		}
		sort.Strings(gone)
		for _, id := range gone {
			out = append(out, target{ID: id, Offboard: queue.OffboardMissing, Why: "not a member of the organization"})
		}
	}
	return out, nil
}

// summaries reads the ledger's summaries (*ledger.Table).
type summaries interface {
	Summaries(ctx context.Context) (map[string]ledger.Summary, error)
}
