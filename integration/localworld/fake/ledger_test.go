package fake_test

import (
	"errors"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
)

// The ledger answers what was written last, or seeded, and what was written, in order.
func TestLedger(t *testing.T) {
	l := &fake.Ledger{}
	l.Seed(ledger.Entry{Account: "000000000001", Action: "seeded"})
	l.Put(ctx, ledger.Entry{Account: "000000000002", Action: "create"})
	l.Put(ctx, ledger.Entry{Account: "000000000002", Action: "update"})
	if e, ok, _ := l.Get(ctx, "000000000002"); !ok || e.Action != "update" {
		t.Fatalf("get %+v", e)
	}
	if _, ok, _ := l.Get(ctx, "000000000003"); ok {
		t.Fatal("an account without an entry was found")
	}
	if w := l.PutCalls.Succeeded(); len(w) != 2 || w[0].Action != "create" {
		t.Fatalf("written %+v", w)
	}
	if s, _ := l.Summaries(ctx); len(s) != 2 || s["000000000001"].Digest != (ledger.Entry{Account: "000000000001", Action: "seeded"}).Digest() {
		t.Fatalf("summaries %v", s)
	}
	l.GetCalls.FailAlways(errors.New("ThrottlingException"))
	if _, _, err := l.Get(ctx, "000000000001"); err == nil || l.GetCalls.Count() != 3 {
		t.Fatalf("get: %v, %d reads", err, l.GetCalls.Count())
	}
}
