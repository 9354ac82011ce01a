// Package org answers the scope questions about the Organization's accounts that the sweep,
// the account-vending intake and the operator command share: is the account active, is it
// the management account, is it excluded, is it under one of the included OUs.
package org

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
)

// API is the part of the Organizations client the scope uses.
type API interface {
	ListParents(ctx context.Context, in *organizations.ListParentsInput, optFns ...func(*organizations.Options)) (*organizations.ListParentsOutput, error)
	DescribeOrganization(ctx context.Context, in *organizations.DescribeOrganizationInput, optFns ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
}

// Why an account is out of scope: short, stable codes (log fields and metric dimensions).
const (
	NotActive  = "account-not-active"
	Management = "management-account"
	Excluded   = "excluded-account"
	OutsideOUs = "ou-not-included"
)

// Scope applies the scope rules of the configuration. It caches the management account for
// its life, and the parents it looked up until Forget. Safe for concurrent use.
type Scope struct {
	API API
	Cfg config.Config

	mu      sync.Mutex
	mgmt    string
	parents map[string]string // child id -> parent id
}

// Forget drops the cached parents, so that accounts and OUs moved since are seen.
func (s *Scope) Forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parents = nil
}

// ManagementAccount returns the organization's management account, asked once.
func (s *Scope) ManagementAccount(ctx context.Context) (string, error) {
	s.mu.Lock()
	mgmt := s.mgmt
	s.mu.Unlock()
	if mgmt != "" {
		return mgmt, nil
	}
	out, err := s.API.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		return "", fmt.Errorf("describe organization: %w", err)
	}
	if out.Organization == nil || aws.ToString(out.Organization.MasterAccountId) == "" {
		return "", fault.Permanentf("describe organization: no management account in the answer")
	}
	s.mu.Lock()
	s.mgmt = aws.ToString(out.Organization.MasterAccountId)
	s.mu.Unlock()
	return aws.ToString(out.Organization.MasterAccountId), nil
}

// Check says why an Organizations account is out of scope (code and detail), or "" when it
// is in scope. It asks for the management account, and for parents only when OUs are set.
func (s *Scope) Check(ctx context.Context, a types.Account) (code, detail string, err error) {
	if code, detail, err = s.CheckAccount(ctx, a); code != "" || err != nil {
		return code, detail, err
	}
	in, ou, err := s.Included(ctx, aws.ToString(a.Id), "")
	if err != nil {
		return "", "", err
	}
	if !in {
		return OutsideOUs, "OU " + ou + " is not under ONBOARDER_INCLUDE_OUS", nil
	}
	return "", "", nil
}

// CheckAccount is Check without the OU rule, for an account found by walking the included
// OUs: active, not the management account, not excluded.
func (s *Scope) CheckAccount(ctx context.Context, a types.Account) (code, detail string, err error) {
	id := aws.ToString(a.Id)
	if !Active(a) {
		return NotActive, "account state " + State(a) + ": only ACTIVE accounts are onboarded", nil
	}
	mgmt, err := s.ManagementAccount(ctx)
	if err != nil {
		return "", "", err
	}
	if id == mgmt {
		return Management, "the management account is not onboarded by the onboarder", nil
	}
	if s.Cfg.Excluded(id) {
		return Excluded, "account is in ONBOARDER_EXCLUDE_ACCOUNTS", nil
	}
	return "", "", nil
}

// maxOUDepth bounds the walk up the OU tree (Organizations allows five levels of OUs).
const maxOUDepth = 8

// Included reports whether account, whose OU may be known (ou != ""), is under one of the
// included OUs or roots. Nested OUs count: an account in a child of an included OU is in.
// It returns the account's OU, for messages.
func (s *Scope) Included(ctx context.Context, account, ou string) (bool, string, error) {
	if len(s.Cfg.IncludeOUs) == 0 {
		return true, ou, nil
	}
	if s.API == nil {
		return false, ou, fault.Permanentf("ONBOARDER_INCLUDE_OUS is set but no Organizations client is configured")
	}
	if ou == "" {
		p, err := s.Parent(ctx, account)
		if err != nil {
			return false, "", err
		}
		ou = p
	}
	id := ou
	for range maxOUDepth {
		if s.Cfg.OUIncluded(id) {
			return true, ou, nil
		}
		if id == "" || strings.HasPrefix(id, "r-") {
			return false, ou, nil
		}
		p, err := s.Parent(ctx, id)
		if err != nil {
			return false, ou, err
		}
		id = p
	}
	return false, ou, nil
}

// Parent returns the parent (OU or root) of an account or OU.
func (s *Scope) Parent(ctx context.Context, child string) (string, error) {
	s.mu.Lock()
	p, ok := s.parents[child]
	s.mu.Unlock()
	if ok {
		return p, nil
	}
	out, err := s.API.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(child)})
	if err != nil {
		return "", fmt.Errorf("list parents of %s: %w", child, err)
	}
	if len(out.Parents) > 0 {
		p = aws.ToString(out.Parents[0].Id)
	}
	s.mu.Lock()
	if s.parents == nil {
		s.parents = map[string]string{}
	}
	s.parents[child] = p
	s.mu.Unlock()
	return p, nil
}

// Active reports whether an account is ACTIVE (State, or the older Status).
func Active(a types.Account) bool {
	if a.State != "" {
		return a.State == types.AccountStateActive
	}
	return a.Status == types.AccountStatusActive
}

// State is the account's state for people.
func State(a types.Account) string {
	switch {
	case a.State != "":
		return string(a.State)
	case a.Status != "":
		return string(a.Status)
	}
	return "unknown"
}
