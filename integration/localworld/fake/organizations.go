package fake

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// Organizations is an Organization as its management account sees it: the accounts, and the
// tree of roots ("r-…"), OUs ("ou-…") and accounts in Parents. It implements
// intake.Organizations, org.API and the operator's OrganizationsAPI and guardrail API. The
// answers come from the model; the service's errors for what it does not hold are its typed
// errors with moto's messages (moto/organizations/exceptions.py and models.py). The policy
// calls (ListPolicies, ListTargetsForPolicy) have no default.
type Organizations struct {
	Log *Log

	// Management is the management account's id; "" when the caller is in no Organization.
	Management string
	// Accounts are the Organization's accounts, in the order ListAccounts answers them.
	Accounts []orgtypes.Account
	// Parents maps each account and OU to its parent: an OU or a root.
	Parents map[string]string
	// Names are the OUs' names, by id.
	Names map[string]string
	// PageSize is how many items a List call answers at most per page (its MaxResults when
	// smaller); 0: 20, AWS's limit (Organizations API Reference, ListAccounts and
	// ListAccountsForParent, "MaxResults ... Maximum value of 20", as the local world's
	// stand-in cites it in integration/localworld/orgs.go).
	PageSize int

	ListAccountsCalls                     Calls[*organizations.ListAccountsInput, *organizations.ListAccountsOutput]
	ListParentsCalls                      Calls[*organizations.ListParentsInput, *organizations.ListParentsOutput]
	DescribeAccountCalls                  Calls[*organizations.DescribeAccountInput, *organizations.DescribeAccountOutput]
	DescribeOrganizationCalls             Calls[*organizations.DescribeOrganizationInput, *organizations.DescribeOrganizationOutput]
	DescribeOrganizationalUnitCalls       Calls[*organizations.DescribeOrganizationalUnitInput, *organizations.DescribeOrganizationalUnitOutput]
	ListAccountsForParentCalls            Calls[*organizations.ListAccountsForParentInput, *organizations.ListAccountsForParentOutput]
	ListOrganizationalUnitsForParentCalls Calls[*organizations.ListOrganizationalUnitsForParentInput, *organizations.ListOrganizationalUnitsForParentOutput]
	ListRootsCalls                        Calls[*organizations.ListRootsInput, *organizations.ListRootsOutput]
	ListPoliciesCalls                     Calls[*organizations.ListPoliciesInput, *organizations.ListPoliciesOutput]
	ListTargetsForPolicyCalls             Calls[*organizations.ListTargetsForPolicyInput, *organizations.ListTargetsForPolicyOutput]

	mu sync.Mutex
}

// size is the page size of a List call that asks for at most max.
func (f *Organizations) size(max *int32) int {
	n := f.PageSize
	if n <= 0 {
		n = 20
	}
	if max != nil && int(*max) > 0 && int(*max) < n {
		n = int(*max)
	}
	return n
}

func (f *Organizations) ListAccounts(ctx context.Context, in *organizations.ListAccountsInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error) {
	return f.ListAccountsCalls.invoke(ctx, f.Log, read("ListAccounts"), in, func(_ context.Context, in *organizations.ListAccountsInput) (*organizations.ListAccountsOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		start, end, next, err := page(in.NextToken, len(f.Accounts), f.size(in.MaxResults))
		if err != nil {
			return nil, err
		}
		return &organizations.ListAccountsOutput{Accounts: slices.Clone(f.Accounts[start:end]), NextToken: next}, nil
	})
}

// ListParents answers the parent Parents names: a root when its id begins with "r-", else an OU.
func (f *Organizations) ListParents(ctx context.Context, in *organizations.ListParentsInput, _ ...func(*organizations.Options)) (*organizations.ListParentsOutput, error) {
	return f.ListParentsCalls.invoke(ctx, f.Log, read("ListParents"), in, func(_ context.Context, in *organizations.ListParentsInput) (*organizations.ListParentsOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		p, ok := f.Parents[aws.ToString(in.ChildId)]
		if !ok {
			// The SDK's service/organizations/types/errors.go (moto has no message of its own).
			return nil, &orgtypes.ChildNotFoundException{Message: aws.String("We can't find an organizational unit (OU) or Amazon Web Services account with the ChildId that you specified.")}
		}
		typ := orgtypes.ParentTypeOrganizationalUnit
		if strings.HasPrefix(p, "r-") {
			typ = orgtypes.ParentTypeRoot
		}
		return &organizations.ListParentsOutput{Parents: []orgtypes.Parent{{Id: aws.String(p), Type: typ}}}, nil
	})
}

func (f *Organizations) DescribeAccount(ctx context.Context, in *organizations.DescribeAccountInput, _ ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error) {
	return f.DescribeAccountCalls.invoke(ctx, f.Log, read("DescribeAccount"), in, func(_ context.Context, in *organizations.DescribeAccountInput) (*organizations.DescribeAccountOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, a := range f.Accounts {
			if aws.ToString(a.Id) == aws.ToString(in.AccountId) {
				return &organizations.DescribeAccountOutput{Account: &a}, nil
			}
		}
		return nil, &orgtypes.AccountNotFoundException{Message: aws.String("You specified an account that doesn't exist.")}
	})
}

func (f *Organizations) DescribeOrganization(ctx context.Context, in *organizations.DescribeOrganizationInput, _ ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error) {
	return f.DescribeOrganizationCalls.invoke(ctx, f.Log, read("DescribeOrganization"), in, func(context.Context, *organizations.DescribeOrganizationInput) (*organizations.DescribeOrganizationOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.Management == "" {
			return nil, &orgtypes.AWSOrganizationsNotInUseException{Message: aws.String("Your account is not a member of an organization.")}
		}
		return &organizations.DescribeOrganizationOutput{Organization: &orgtypes.Organization{MasterAccountId: aws.String(f.Management)}}, nil
	})
}

func (f *Organizations) DescribeOrganizationalUnit(ctx context.Context, in *organizations.DescribeOrganizationalUnitInput, _ ...func(*organizations.Options)) (*organizations.DescribeOrganizationalUnitOutput, error) {
	return f.DescribeOrganizationalUnitCalls.invoke(ctx, f.Log, read("DescribeOrganizationalUnit"), in, func(_ context.Context, in *organizations.DescribeOrganizationalUnitInput) (*organizations.DescribeOrganizationalUnitOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		id := aws.ToString(in.OrganizationalUnitId)
		if _, ok := f.Parents[id]; !ok || !strings.HasPrefix(id, "ou-") {
			return nil, &orgtypes.OrganizationalUnitNotFoundException{Message: aws.String("You specified an organizational unit that doesn't exist.")}
		}
		return &organizations.DescribeOrganizationalUnitOutput{OrganizationalUnit: f.ou(id)}, nil
	})
}

// ou is the OU of that id. f.mu is held.
func (f *Organizations) ou(id string) *orgtypes.OrganizationalUnit {
	ou := &orgtypes.OrganizationalUnit{Id: aws.String(id)}
	if n, ok := f.Names[id]; ok {
		ou.Name = aws.String(n)
	}
	return ou
}

// ListAccountsForParent answers the accounts directly under the parent, in Accounts' order.
func (f *Organizations) ListAccountsForParent(ctx context.Context, in *organizations.ListAccountsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	return f.ListAccountsForParentCalls.invoke(ctx, f.Log, read("ListAccountsForParent"), in, func(_ context.Context, in *organizations.ListAccountsForParentInput) (*organizations.ListAccountsForParentOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var under []orgtypes.Account
		for _, a := range f.Accounts {
			if f.Parents[aws.ToString(a.Id)] == aws.ToString(in.ParentId) {
				under = append(under, a)
			}
		}
		start, end, next, err := page(in.NextToken, len(under), f.size(in.MaxResults))
		if err != nil {
			return nil, err
		}
		return &organizations.ListAccountsForParentOutput{Accounts: under[start:end], NextToken: next}, nil
	})
}

// ListOrganizationalUnitsForParent answers the OUs directly under the parent, by id.
func (f *Organizations) ListOrganizationalUnitsForParent(ctx context.Context, in *organizations.ListOrganizationalUnitsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
	return f.ListOrganizationalUnitsForParentCalls.invoke(ctx, f.Log, read("ListOrganizationalUnitsForParent"), in, func(_ context.Context, in *organizations.ListOrganizationalUnitsForParentInput) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var ous []orgtypes.OrganizationalUnit
		for _, child := range sortedKeys(f.Parents) {
			if f.Parents[child] == aws.ToString(in.ParentId) && strings.HasPrefix(child, "ou-") {
				ous = append(ous, *f.ou(child))
			}
		}
		start, end, next, err := page(in.NextToken, len(ous), f.size(in.MaxResults))
		if err != nil {
			return nil, err
		}
		return &organizations.ListOrganizationalUnitsForParentOutput{OrganizationalUnits: ous[start:end], NextToken: next}, nil
	})
}

// ListRoots answers the roots Parents names, by id.
func (f *Organizations) ListRoots(ctx context.Context, in *organizations.ListRootsInput, _ ...func(*organizations.Options)) (*organizations.ListRootsOutput, error) {
	return f.ListRootsCalls.invoke(ctx, f.Log, read("ListRoots"), in, func(_ context.Context, in *organizations.ListRootsInput) (*organizations.ListRootsOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		seen := map[string]bool{}
		for _, p := range f.Parents {
			if strings.HasPrefix(p, "r-") {
				seen[p] = true
			}
		}
		var roots []orgtypes.Root
		for _, id := range sortedKeys(seen) {
			roots = append(roots, orgtypes.Root{Id: aws.String(id)})
		}
		start, end, next, err := page(in.NextToken, len(roots), f.size(in.MaxResults))
		if err != nil {
			return nil, err
		}
		return &organizations.ListRootsOutput{Roots: roots[start:end], NextToken: next}, nil
	})
}

func (f *Organizations) ListPolicies(ctx context.Context, in *organizations.ListPoliciesInput, _ ...func(*organizations.Options)) (*organizations.ListPoliciesOutput, error) {
	return f.ListPoliciesCalls.invoke(ctx, f.Log, read("ListPolicies"), in, noDefault[*organizations.ListPoliciesInput, *organizations.ListPoliciesOutput]("Organizations", "ListPolicies"))
}

func (f *Organizations) ListTargetsForPolicy(ctx context.Context, in *organizations.ListTargetsForPolicyInput, _ ...func(*organizations.Options)) (*organizations.ListTargetsForPolicyOutput, error) {
	return f.ListTargetsForPolicyCalls.invoke(ctx, f.Log, read("ListTargetsForPolicy"), in, noDefault[*organizations.ListTargetsForPolicyInput, *organizations.ListTargetsForPolicyOutput]("Organizations", "ListTargetsForPolicy"))
}
