package fake_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
)

// The Organization answers from its model, page by page, with the service's typed errors.
func TestOrganizationsModel(t *testing.T) {
	o := &fake.Organizations{Management: "999999999999", PageSize: 2,
		Accounts: []orgtypes.Account{{Id: aws.String("000000000001")}, {Id: aws.String("000000000002")}, {Id: aws.String("000000000003")}},
		Parents:  map[string]string{"000000000001": "ou-b", "000000000002": "ou-b", "000000000003": "r-1", "ou-b": "r-1", "ou-a": "r-1"},
		Names:    map[string]string{"ou-b": "Workloads"},
	}
	var ids []string
	p := organizations.NewListAccountsPaginator(o, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Accounts {
			ids = append(ids, aws.ToString(a.Id))
		}
	}
	if !slices.Equal(ids, []string{"000000000001", "000000000002", "000000000003"}) || o.ListAccountsCalls.Count() != 2 {
		t.Fatalf("accounts %v in %d pages", ids, o.ListAccountsCalls.Count())
	}
	ous, _ := o.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String("r-1")})
	if len(ous.OrganizationalUnits) != 2 || aws.ToString(ous.OrganizationalUnits[0].Id) != "ou-a" || aws.ToString(ous.OrganizationalUnits[1].Name) != "Workloads" {
		t.Fatalf("OUs %+v", ous.OrganizationalUnits)
	}
	parents, _ := o.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String("ou-b")})
	if parents.Parents[0].Type != orgtypes.ParentTypeRoot {
		t.Fatalf("parents %+v", parents.Parents)
	}
	var nf *orgtypes.ChildNotFoundException
	if _, err := o.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String("000000000009")}); !errors.As(err, &nf) {
		t.Fatalf("an unknown child: %v", err)
	}
	var anf *orgtypes.AccountNotFoundException
	if _, err := o.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String("000000000009")}); !errors.As(err, &anf) {
		t.Fatalf("an unknown account: %v", err)
	}
	many := &fake.Organizations{}
	for i := range 25 {
		many.Accounts = append(many.Accounts, orgtypes.Account{Id: aws.String(fmt.Sprintf("%012d", i))})
	}
	if out, _ := many.ListAccounts(ctx, &organizations.ListAccountsInput{}); len(out.Accounts) != 20 || out.NextToken == nil {
		t.Fatalf("a first page of %d accounts, want AWS's 20", len(out.Accounts))
	}
	if _, err := o.ListPolicies(ctx, &organizations.ListPoliciesInput{}); err == nil {
		t.Fatal("an operation with no default answered")
	}
}
