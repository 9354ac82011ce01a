//go:build integration

package integration

// Offboarding: an account that leaves the scope (closed, removed from the Organization, moved
// out of the included OUs) has the onboarder's stack deleted under ONBOARDER_OFFBOARD=delete,
// or is reported, whichever way the onboarder learns of it: the Organizations event, or the
// daily sweep when the event was lost. An excluded account is reported and never touched.
//
// What moto does not do and the local world adds: moto's CloseAccount makes the account
// SUSPENDED at once (AWS passes through PENDING_CLOSURE first: the sweep's unit test covers
// that state) and its STS still hands out credentials into a closed account; the fault proxy
// refuses AssumeRole into it, as AWS does (proxy.Proxy.CloseAccount).

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
)

func TestE2EOffboarding(t *testing.T) {
	w0 := seedWorldWith(t, "us-east-1",
		localworld.OU{Name: "Workloads", Accounts: []string{"close-ev", "remove-ev", "move-ev", "close-sw", "remove-sw", "move-sw", "exclude-sw", "stays", "delete-fails"}},
		localworld.OU{Name: "Sandbox", Accounts: []string{"move-in"}},
	)
	wk, sb := w0.org.OUs["Workloads"], w0.org.OUs["Sandbox"]
	env := map[string]string{"ONBOARDER_INCLUDE_OUS": wk, "ONBOARDER_OFFBOARD": "delete"}
	w := w0.start(worldOpts{region: "us-east-1", env: env, allowDenials: []string{"sts:AssumeRole", "cloudformation:DescribeStacks"}})
	acct := func(n string) localworld.Account { return w.org.Account(n) }
	orgs := organizations.NewFromConfig(w.h.Moto.Config(w.ctx, "us-east-1"))

	// Onboard the Workloads accounts.
	w.put(localworld.Manual())
	w.drain()
	for _, n := range []string{"close-ev", "remove-ev", "move-ev", "close-sw", "remove-sw", "move-sw", "exclude-sw", "stays", "delete-fails"} {
		checkOnboarded(t, w, acct(n), "True", "")
	}
	if w.stack(acct("move-in").ID, stackRegion, stackName) != nil {
		t.Fatal("move-in, in the Sandbox OU, was onboarded")
	}

	// The events.
	w.closeAccount(orgs, acct("close-ev"))
	w.removeAccount(orgs, acct("remove-ev"))
	w.moveAccount(orgs, acct("move-ev"), wk, sb)
	w.moveAccount(orgs, acct("move-in"), sb, wk)
	// A deletion that fails (a custom resource of Trend's template that fails on delete): the
	// CloudFormation layer plays it, as moto cannot.
	w.removeAccount(orgs, acct("delete-fails"))
	w.h.Faults.FailStacks(proxy.StackFailure{Account: acct("delete-fails").ID, Operation: "DELETE"})
	mark := w.h.Recorder.Mark()
	w.put(localworld.OrganizationsAccountCall("RemoveAccountFromOrganization", acct("delete-fails").ID))
	w.put(localworld.OrganizationsAccountCall("CloseAccount", acct("close-ev").ID),
		localworld.OrganizationsAccountCall("RemoveAccountFromOrganization", acct("remove-ev").ID),
		localworld.MoveAccountCall(acct("move-ev").ID, wk, sb),
		localworld.MoveAccountCall(acct("move-in").ID, sb, wk))
	w.drain()
	w.checkUnreachable(acct("close-ev"), "account-closed", mark)
	w.checkDeleted(acct("remove-ev"), "account-removed")
	w.checkDeleted(acct("move-ev"), "ou-not-included")
	checkOnboarded(t, w, acct("move-in"), "True", "")
	if e := w.ledgerEntry(acct("delete-fails").ID); e.Class != "needs-person" || e.Offboard != "account-removed" || !strings.Contains(e.Failed, "CloudOneIntegration") ||
		!strings.Contains(e.Reason, "DELETE_FAILED") {
		t.Errorf("a deletion that failed: ledger %+v, want needs-person naming the resource", e)
	}
	if d := w.dlqDepth(); d != "1" {
		t.Errorf("DLQ depth %s, want 1 (the failed deletion)", d)
	}

	// The sweep, for the same changes made without an event reaching the onboarder.
	w.closeAccount(orgs, acct("close-sw"))
	w.removeAccount(orgs, acct("remove-sw"))
	w.moveAccount(orgs, acct("move-sw"), wk, sb)
	env["ONBOARDER_EXCLUDE_ACCOUNTS"] = acct("exclude-sw").ID
	w.restart(env)
	mark = w.h.Recorder.Mark()
	w.sweep()
	w.checkUnreachable(acct("close-sw"), "account-not-active", mark)
	w.checkDeleted(acct("remove-sw"), "account-not-in-organization")
	w.checkDeleted(acct("move-sw"), "ou-not-included")
	w.checkUntouched(acct("exclude-sw"), mark)
	checkOnboarded(t, w, acct("stays"), "True", "")
	if ws := w.h.Recorder.Since(mark, localworld.Writes, localworld.InAccount(acct("stays").ID)); len(ws) > 0 {
		t.Errorf("the account that stays in scope got writes: %s", describeCalls(ws))
	}

	// Offboarding is done once: the next sweep offboards nobody again and writes nothing.
	marks, mark := w.marks(), w.h.Recorder.Mark()
	w.sweep()
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("the second sweep wrote: %s", describeCalls(ws))
	}
	done := 0
	for _, e := range logEntries(w.logsSince(marks, "sweep")) {
		if e["message"] == "sweep done" {
			done++
			if e["offboarded"] != float64(0) {
				t.Errorf("the second sweep offboarded again: %v", e)
			}
		}
	}
	if done == 0 {
		t.Error("the second sweep logged no 'sweep done'")
	}
}

// sweep invokes the sweep on its schedule's event and drains.
func (w *world) sweep() {
	w.t.Helper()
	if _, ferr, err := w.env.Lambdas["sweep"].Invoke(w.ctx, localworld.ScheduledEvent(w.env.Region)); err != nil || ferr != nil {
		w.t.Fatalf("sweep: %v %v", err, ferr)
	}
	w.drain()
}

// restart starts the Lambdas again with these function variables (a changed setting).
func (w *world) restart(env map[string]string) {
	w.t.Helper()
	if err := w.env.Restart(w.ctx, env); err != nil {
		w.t.Fatal(err)
	}
}

// closeAccount closes an account in moto's Organizations, and in the IAM gate (see the file's
// comment).
func (w *world) closeAccount(orgs *organizations.Client, a localworld.Account) {
	w.t.Helper()
	if _, err := orgs.CloseAccount(w.ctx, &organizations.CloseAccountInput{AccountId: aws.String(a.ID)}); err != nil {
		w.t.Fatalf("close %s: %v", a.Name, err)
	}
	w.h.Faults.CloseAccount(a.ID)
}

func (w *world) removeAccount(orgs *organizations.Client, a localworld.Account) {
	w.t.Helper()
	if _, err := orgs.RemoveAccountFromOrganization(w.ctx, &organizations.RemoveAccountFromOrganizationInput{AccountId: aws.String(a.ID)}); err != nil {
		w.t.Fatalf("remove %s: %v", a.Name, err)
	}
}

func (w *world) moveAccount(orgs *organizations.Client, a localworld.Account, from, to string) {
	w.t.Helper()
	if _, err := orgs.MoveAccount(w.ctx, &organizations.MoveAccountInput{AccountId: aws.String(a.ID), SourceParentId: aws.String(from),
		DestinationParentId: aws.String(to)}); err != nil {
		w.t.Fatalf("move %s: %v", a.Name, err)
	}
}

// ledgerEntry reads an account's ledger entry.
func (w *world) ledgerEntry(account string) ledger.Entry {
	w.t.Helper()
	out, err := dynamodb.NewFromConfig(w.env.Central()).GetItem(context.WithoutCancel(w.ctx), &dynamodb.GetItemInput{
		TableName: aws.String(localworld.LedgerTable), Key: map[string]ddbtypes.AttributeValue{"account": &ddbtypes.AttributeValueMemberS{Value: account}}})
	if err != nil {
		w.t.Fatal(err)
	}
	var e ledger.Entry
	if err := attributevalue.UnmarshalMap(out.Item, &e); err != nil {
		w.t.Fatal(err)
	}
	return e
}

// checkDeleted: the onboarder's stack is gone and the ledger records the offboarding, with
// what stays in Cloud One.
func (w *world) checkDeleted(a localworld.Account, code string) {
	w.t.Helper()
	if got := w.stacksEverywhere(a.ID, stackName); len(got) > 0 {
		w.t.Errorf("%s (%s): stack still in %v", a.Name, code, got)
	}
	e := w.ledgerEntry(a.ID)
	if e.Offboard != code || e.Action != "offboarded" || e.StackStatus != "ABSENT" || !strings.Contains(e.Left, "Vision One enrollment") {
		w.t.Errorf("%s: ledger %+v, want offboarded (%s), ABSENT, with what is left in Cloud One", a.Name, e, code)
	}
}

// checkUntouched checks that an excluded account was offboarded by report, under the delete
// policy, without a call into it: its stack stays, the ledger says what it left.
func (w *world) checkUntouched(a localworld.Account, mark int) {
	w.t.Helper()
	if cs := w.h.Recorder.Since(mark, localworld.InAccount(a.ID)); len(cs) > 0 {
		w.t.Errorf("%s is excluded but was called: %s", a.Name, describeCalls(cs))
	}
	if w.stack(a.ID, stackRegion, stackName) == nil {
		w.t.Errorf("%s is excluded but its stack is gone", a.Name)
	}
	e := w.ledgerEntry(a.ID)
	if e.Offboard != "excluded-account" || e.Action != "offboarded" || !e.Managed || !strings.Contains(e.Left, "cloud account of AWS account "+a.ID) ||
		!strings.Contains(e.Reason, "never touched") {
		w.t.Errorf("%s: ledger %+v, want offboarded (excluded-account), never touched, with what is left", a.Name, e)
	}
}

// checkUnreachable: a closed account is reported, nothing is written in it, and its stack
// stays (AWS deletes it with the account).
func (w *world) checkUnreachable(a localworld.Account, code string, mark int) {
	w.t.Helper()
	if ws := w.h.Recorder.Since(mark, localworld.Writes, localworld.InAccount(a.ID)); len(ws) > 0 {
		w.t.Errorf("%s is closed but got writes: %s", a.Name, describeCalls(ws))
	}
	e := w.ledgerEntry(a.ID)
	if e.Offboard != code || e.Action != "offboarded" || e.StackStatus != ledger.StatusUnreachable || !e.Managed ||
		!strings.Contains(e.Left, "cloud account of AWS account "+a.ID) {
		w.t.Errorf("%s: ledger %+v, want offboarded (%s), UNREACHABLE, with what is left in Cloud One", a.Name, e, code)
	}
}
