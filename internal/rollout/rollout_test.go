package rollout

import (
	"slices"
	"strings"
	"testing"
)

func TestPlan(t *testing.T) {
	accounts := []string{"000000000005", "000000000001", "000000000003", "000000000002", "000000000004"}
	waves, err := Plan(accounts, []string{"000000000003", "000000000003"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"000000000003"}, {"000000000001", "000000000002"}, {"000000000004", "000000000005"}}
	if len(waves) != len(want) {
		t.Fatalf("waves %v", waves)
	}
	for i := range want {
		if !slices.Equal(waves[i], want[i]) {
			t.Errorf("wave %d: %v, want %v", i, waves[i], want[i])
		}
	}
	if w, _ := Plan(accounts, []string{"000000000001"}, 0); len(w) != 2 || len(w[1]) != 4 {
		t.Errorf("batch 0: %v, want the rest in one wave", w)
	}
	if _, err := Plan(accounts, []string{"999999999999"}, 1); err == nil || !strings.Contains(err.Error(), "999999999999") {
		t.Errorf("a canary out of scope: %v", err)
	}
	if _, err := Plan(accounts, nil, 1); err == nil {
		t.Error("an empty canary wave was accepted")
	}
}

// An account gets the new version once its wave is released, never before; an account the
// rollout does not name gets it once the canary wave passed; a finished rollout is in force
// while the configuration is the one it started from.
func TestTemplateFor(t *testing.T) {
	old, nw, inForce := Version{URL: "old"}, Version{URL: "new", Bucket: "b", Prefix: "v2/"}, Version{URL: "old"}
	r := &Rollout{From: old, To: nw, Waves: [][]string{{"a"}, {"b"}, {"c"}}, State: Running}
	for _, tc := range []struct {
		wave    int
		state   State
		account string
		want    Version
	}{
		{0, Running, "a", nw}, {0, Running, "b", old}, {0, Running, "joined", old},
		{1, Running, "b", nw}, {1, Running, "c", old}, {1, Running, "joined", nw},
		{1, Halted, "b", nw}, {1, Halted, "c", old}, {1, Paused, "c", old},
		{1, Done, "c", nw},
	} {
		r.Wave, r.State = tc.wave, tc.state
		if got := r.TemplateFor(tc.account, inForce); got != tc.want {
			t.Errorf("wave %d %s, %s: %s, want %s", tc.wave, tc.state, tc.account, got, tc.want)
		}
	}
	var none *Rollout
	if got := none.TemplateFor("a", Version{URL: "in-force"}); got.URL != "in-force" {
		t.Errorf("no rollout: %s", got)
	}
	// Done: the new version while the configuration is the old one; the configuration set to
	// the new one, or deployed since with another, is in force (a done rollout freezes nothing).
	r.State = Done
	for configured, want := range map[Version]Version{old: nw, nw: nw, {URL: "v3", Bucket: "b", Prefix: "v3/"}: {URL: "v3", Bucket: "b", Prefix: "v3/"}, {URL: "old", Bucket: "moved"}: {URL: "old", Bucket: "moved"}} {
		if got := r.TemplateFor("a", configured); got != want {
			t.Errorf("done, configured %s: %s, want %s", configured, got, want)
		}
	}
}
