package proxy

import (
	"math/rand"
	"testing"
	"time"
)

// A rule's window opens at Add (or From), or, with FromFirstMatch, at the first request it
// meets: a request that comes late still meets the whole burst.
func TestRuleWindow(t *testing.T) {
	call := Call{Service: "sqs", Action: "SendMessage"}
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	fromAdd := &Proxy{rng: rand.New(rand.NewSource(1))}
	fromAdd.Add(Rule{Fault: Throttle{}, From: at, Duration: 10 * time.Second})
	if pl := fromAdd.decideAt(call, at.Add(11*time.Second)); pl.terminal != nil {
		t.Errorf("a window from its start: a request 11 s later was throttled")
	}
	first := &Proxy{rng: rand.New(rand.NewSource(1))}
	first.Add(Rule{Fault: Throttle{}, Duration: 10 * time.Second, FromFirstMatch: true})
	late := at.Add(time.Hour) // the first request comes an hour after Add
	for _, c := range []struct {
		after time.Duration
		want  bool
	}{{0, true}, {9 * time.Second, true}, {10 * time.Second, false}, {time.Minute, false}} {
		if pl := first.decideAt(call, late.Add(c.after)); (pl.terminal != nil) != c.want {
			t.Errorf("from the first match, %s after it: throttled %v, want %v", c.after, pl.terminal != nil, c.want)
		}
	}
}
