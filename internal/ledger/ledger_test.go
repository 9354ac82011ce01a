package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// One worker at a time generates a template: a claim holds for its time, unless a template
// generated since is kept; a kept template replaces the claim, and once it ages a new claim
// is possible again. (DynamoDB's conditions are evaluated by the fake as DynamoDB does.)
func TestClaimTemplate(t *testing.T) {
	ctx := context.Background()
	tab := &ledger.Table{DB: &fake.DynamoDB{}, Name: "ledger"}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	const key, maxAge, claimFor = "visionone/us-east-1/ct", 60 * 24 * time.Hour, 2 * time.Minute
	claim := func(at time.Time, who string) bool {
		t.Helper()
		ok, err := tab.ClaimTemplate(ctx, key, who, at, at.Add(-maxAge), claimFor)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim(now, "a") {
		t.Fatal("the first claim failed")
	}
	if claim(now.Add(time.Second), "b") {
		t.Error("a second claim within the first's time succeeded")
	}
	if !claim(now.Add(claimFor+time.Second), "c") {
		t.Error("a claim older than its time still held")
	}
	if kept, err := tab.PutTemplate(ctx, key, ledger.Generated{URL: "https://t/1", Generated: now.Add(claimFor + 2*time.Second)}); err != nil || !kept {
		t.Fatalf("put: %v %v", kept, err)
	}
	if g, ok, err := tab.Template(ctx, key); err != nil || !ok || g.URL != "https://t/1" {
		t.Fatalf("template %+v %v %v", g, ok, err)
	}
	if claim(now.Add(time.Hour), "d") {
		t.Error("a claim succeeded while a fresh template is kept")
	}
	if !claim(now.Add(maxAge+time.Hour), "e") {
		t.Error("no claim possible once the template aged")
	}
}

// An account offboarded with its stack left in place is offboarded again once the delete policy
// is set, however the last pass ended: reported (offboarded), or, for Vision One, removed from
// the vendor with the stack left (forget). Once the stack is gone, nothing is left.
func TestStackLeft(t *testing.T) {
	for _, c := range []struct {
		name string
		e    ledger.Entry
		want bool
	}{
		{"reported, stack in place", ledger.Entry{Managed: true, Offboard: queue.OffboardRemoved, Action: "offboarded", StackStatus: "CREATE_COMPLETE"}, true},
		{"forgotten by the vendor, stack in place", ledger.Entry{Managed: true, Offboard: queue.OffboardRemoved, Action: "forget", StackStatus: "UPDATE_COMPLETE"}, true},
		{"forgotten by the vendor after the delete", ledger.Entry{Managed: true, Offboard: queue.OffboardRemoved, Action: "forget", StackStatus: "DELETE_COMPLETE"}, false},
		{"offboarded, stack deleted", ledger.Entry{Managed: true, Offboard: queue.OffboardRemoved, Action: "offboarded", StackStatus: "ABSENT"}, false},
		{"a foreign stack", ledger.Entry{Offboard: queue.OffboardRemoved, Action: "offboarded", StackStatus: "CREATE_COMPLETE"}, false},
		{"still in scope", ledger.Entry{Managed: true, Action: "none", StackStatus: "CREATE_COMPLETE"}, false},
	} {
		if got := c.e.StackLeft(); got != c.want {
			t.Errorf("%s: StackLeft %v, want %v", c.name, got, c.want)
		}
		s := c.e.Summarize()
		if got := s.NeedsOffboarding(queue.OffboardRemoved, true); got != (c.want || c.e.Onboarded()) {
			t.Errorf("%s: needs offboarding under delete: %v", c.name, got)
		}
		if s.NeedsOffboarding(queue.OffboardExcluded, true) && !c.e.Onboarded() {
			t.Errorf("%s: an excluded account is offboarded again", c.name)
		}
	}
}
