//go:build integration

package integration

// The forwarder (deploy/forwarder.yaml) with the central stack outside us-east-1: Organizations
// delivers its events to EventBridge in us-east-1 only, so the world puts them there (as AWS
// does; moto would deliver them anywhere), and only the forwarder's rules, deployed there by
// the world, bring them to the onboarder's bus in the home region.

import (
	"slices"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
)

func TestE2EOrganizationsEventsForwarded(t *testing.T) {
	w := seedWorldWith(t, "eu-west-1", localworld.OU{Name: "Workloads", Accounts: []string{"vended", "moved"}}).
		start(worldOpts{region: "eu-west-1", env: map[string]string{"ONBOARDER_OFFBOARD": "report"}})
	if !slices.Equal(w.env.Forwarded, []string{"us-east-1/ForwardOrganizationsAccountCallsRule", "us-east-1/ForwardOrganizationsCreateAccountRule"}) {
		t.Fatalf("forwarder rules in us-east-1: %v, want the two Organizations rules (Control Tower's are read in the home region)", w.env.Forwarded)
	}
	for _, r := range w.env.Rules {
		if (r.Name == "OrganizationsCreateAccountRule" || r.Name == "OrganizationsAccountCallsRule") && r.DefaultBus {
			t.Errorf("%s is on the default bus of %s, where Organizations puts no event", r.Name, w.env.Region)
		}
	}

	// CreateAccountResult, put in us-east-1, onboards the account in the home region's stack.
	vended := w.org.Account("vended")
	w.put(localworld.OrganizationsCreateAccountResult(vended, "SUCCEEDED"))
	w.drain()
	checkOnboarded(t, w, vended, "True", "")
	if w.stack(w.org.Account("moved").ID, stackRegion, stackName) != nil {
		t.Fatal("an account no event named was onboarded")
	}
}

// The delegated administrator install (docs/DEPLOY.md, section 13): the central stack in a
// member account ("security"), the forwarder and the Organizations delegation in the
// management account, the member execution roles trusting the install account's reconcile
// role. What the local world adds: the IAM gate plays the Organization's delegation policy,
// which moto lacks (proxy.IAMSettings.Delegation); every other part is the real one.
func TestE2EDelegatedAdministrator(t *testing.T) {
	w0 := seedWorldWith(t, "eu-west-1",
		localworld.OU{Name: "Security", Accounts: []string{"security"}},
		localworld.OU{Name: "Workloads", Accounts: []string{"vended", "created", "work-x"}})
	install := w0.org.Account("security").ID
	w := w0.start(worldOpts{region: "eu-west-1", install: install})
	acct := func(n string) localworld.Account { return w.org.Account(n) }
	for _, want := range []string{"eu-west-1/ForwardControlTowerLifecycleRule", "us-east-1/ForwardControlTowerLifecycleRule",
		"us-east-1/ForwardOrganizationsCreateAccountRule", "us-east-1/ForwardOrganizationsAccountCallsRule"} {
		if !slices.Contains(w.env.Forwarded, want) {
			t.Fatalf("forwarder rules %v: %s is missing", w.env.Forwarded, want)
		}
	}
	mark := w.h.Recorder.Mark()

	// Control Tower vends an account: its event, on the management account's default bus,
	// is forwarded to the install account's bus and onboards the account.
	w.onboard(acct("vended"))
	checkOnboarded(t, w, acct("vended"), "True", "")
	// Organizations' CreateAccountResult, from us-east-1 of the management account.
	w.put(localworld.OrganizationsCreateAccountResult(acct("created"), "SUCCEEDED"))
	w.drain()
	checkOnboarded(t, w, acct("created"), "True", "")
	// A manual request from the install account: the sweep lists the Organization through
	// the delegation and onboards the rest, the install account included.
	w.put(localworld.Manual())
	w.drain()
	for _, n := range []string{"work-x", "security"} {
		checkOnboarded(t, w, acct(n), "True", "")
	}

	// Nothing ran in the management account: every call of the Lambdas was made with the
	// install account's credentials or a member execution role's, and the Organizations
	// reads went through the delegation (the gate refuses anything else: checkDenials).
	calls := w.h.Recorder.Since(mark)
	orgReads := 0
	for _, c := range calls {
		if c.Account == localworld.ManagementAccount {
			t.Errorf("a Lambda called %s:%s with the management account's credentials", c.Service, c.Action)
		}
		if c.Service == "organizations" {
			orgReads++
			if c.Account != install {
				t.Errorf("organizations:%s from %s, want the install account %s", c.Action, c.Account, install)
			}
		}
	}
	if orgReads == 0 {
		t.Error("no Organizations call was recorded: the delegation was not exercised")
	}
	t.Logf("%d calls of the Lambdas, %d of them Organizations reads through the delegation", len(calls), orgReads)
	assumes := w.h.Recorder.Since(mark, localworld.InService("sts"), localworld.WithAction("AssumeRole"))
	if len(assumes) == 0 {
		t.Fatal("no AssumeRole recorded")
	}
	for _, c := range assumes {
		if c.Account != install {
			t.Errorf("AssumeRole from %s, want the install account's reconcile role", c.Account)
		}
	}
}
