//go:build integration

package integration

// The forwarder (deploy/forwarder.yaml) with the central stack outside us-east-1: Organizations
// delivers its events to EventBridge in us-east-1 only, so the world puts them there (as AWS
// does; moto would deliver them anywhere), and only the forwarder's rules, deployed there by
// the world, bring them to the onboarder's bus in the home region.

import (
	"slices"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/localenv"
)

func TestE2EOrganizationsEventsForwarded(t *testing.T) {
	w := seedWorldWith(t, "eu-west-1", localenv.OU{Name: "Workloads", Accounts: []string{"vended", "moved"}}).
		start(worldOpts{region: "eu-west-1", env: map[string]string{"ONBOARDER_OFFBOARD": "report"}})
	if !slices.Contains(w.env.Forwarded, "ForwardOrganizationsCreateAccountRule") || !slices.Contains(w.env.Forwarded, "ForwardOrganizationsAccountCallsRule") ||
		slices.Contains(w.env.Forwarded, "ForwardControlTowerLifecycleRule") {
		t.Fatalf("forwarder rules in us-east-1: %v, want the two Organizations rules (Control Tower's are read in the home region)", w.env.Forwarded)
	}
	for _, r := range w.env.Rules {
		if (r.Name == "OrganizationsCreateAccountRule" || r.Name == "OrganizationsAccountCallsRule") && r.DefaultBus {
			t.Errorf("%s is on the default bus of %s, where Organizations puts no event", r.Name, w.env.Region)
		}
	}

	// CreateAccountResult, put in us-east-1, onboards the account in the home region's stack.
	vended := w.org.Account("vended")
	w.put(localenv.OrganizationsCreateAccountResult(vended, "SUCCEEDED"))
	w.drain()
	checkOnboarded(t, w, vended, "True", "")
	if w.stack(w.org.Account("moved").ID, stackRegion, stackName) != nil {
		t.Fatal("an account no event named was onboarded")
	}
}
