package localworld

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// The Organizations stand-in answers the SDK's own client, pages as AWS does (at most 20)
// and refuses what AWS refuses.
func TestOrganizationsStandIn(t *testing.T) {
	o := NewOrganizations(ManagementAccount)
	work := o.AddOU(o.RootID, "Workloads")
	sandbox := o.AddOU(work, "Sandbox")
	for range 45 {
		o.AddAccount(work, "w")
	}
	last := o.AddAccount(sandbox, "s")
	srv := httptest.NewServer(o)
	defer srv.Close()
	c := organizations.New(organizations.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSTANDIN", "secret", "")})
	ctx := context.Background()

	var sizes []int
	p := organizations.NewListAccountsForParentPaginator(c, &organizations.ListAccountsForParentInput{ParentId: aws.String(work)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page.Accounts))
		for _, a := range page.Accounts {
			if a.State != types.AccountStateActive || a.JoinedTimestamp == nil || aws.ToString(a.Id) == "" {
				t.Fatalf("account %+v", a)
			}
		}
	}
	if len(sizes) != 3 || sizes[0] != 20 || sizes[1] != 20 || sizes[2] != 5 {
		t.Errorf("pages of %v, want [20 20 5]", sizes)
	}
	n := 0
	all := organizations.NewListAccountsPaginator(c, &organizations.ListAccountsInput{})
	for all.HasMorePages() {
		page, err := all.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Accounts)
	}
	if n != 47 { // 45 + 1 + the management account
		t.Errorf("ListAccounts listed %d accounts, want 47", n)
	}
	ous, err := c.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(work)})
	if err != nil || len(ous.OrganizationalUnits) != 1 || aws.ToString(ous.OrganizationalUnits[0].Id) != sandbox {
		t.Errorf("OUs under Workloads: %+v %v", ous, err)
	}
	parents, err := c.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(last.ID)})
	if err != nil || len(parents.Parents) != 1 || aws.ToString(parents.Parents[0].Id) != sandbox {
		t.Errorf("parents of %s: %+v %v", last.ID, parents, err)
	}
	org, err := c.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil || aws.ToString(org.Organization.MasterAccountId) != ManagementAccount {
		t.Errorf("DescribeOrganization: %+v %v", org, err)
	}

	_, err = c.ListAccounts(ctx, &organizations.ListAccountsInput{MaxResults: aws.Int32(21)})
	var invalid *types.InvalidInputException
	if !errors.As(err, &invalid) {
		t.Errorf("MaxResults 21: %v, want InvalidInputException", err)
	}
	_, err = c.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(sandbox), NextToken: aws.String("bm90LWEtdG9rZW4")})
	if !errors.As(err, &invalid) {
		t.Errorf("a token of another listing: %v, want InvalidInputException", err)
	}
	_, err = c.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String("999999999999")})
	var nf *types.AccountNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("DescribeAccount of a stranger: %v, want AccountNotFoundException", err)
	}
	_, err = c.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String("ou-none-00000000")})
	var pnf *types.ParentNotFoundException
	if !errors.As(err, &pnf) {
		t.Errorf("an unknown parent: %v, want ParentNotFoundException", err)
	}
	if _, err := c.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String("x"), Email: aws.String("x@example.com")}); err == nil {
		t.Error("CreateAccount was answered: the stand-in serves reads only")
	}
}
