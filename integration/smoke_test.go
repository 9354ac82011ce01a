//go:build integration

package integration

import (
	"testing"
)

// TestHarnessSmoke checks the harness itself: rules on moto deliver to the intake Lambdas,
// the sweep enqueues, the pump reaches idle.
func TestHarnessSmoke(t *testing.T) {
	w := newWorld(t, worldOpts{})
	if len(w.env.Rules) == 0 {
		t.Fatal("no rules read from deploy/template.yaml")
	}
	for _, r := range w.env.Rules {
		t.Logf("rule %s default=%v -> %s", r.Name, r.DefaultBus, r.Handler)
	}
	st := w.onboard(w.org.Account("work-a"))
	t.Logf("stats: %+v", st)
	if st.Invocations["accountvending"] != 1 {
		t.Errorf("accountvending invocations = %d, want 1", st.Invocations["accountvending"])
	}
	if st.Invocations["reconcile"] == 0 {
		t.Errorf("the reconcile Lambda was not invoked")
	}
}
