package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
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
