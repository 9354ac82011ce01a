package starts

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
)

// scheduleKept fails the test unless the limiter keeps its schedule in the item of Key.
func scheduleKept(t *testing.T, db *fake.DynamoDB) {
	t.Helper()
	if db.Item("t", Key) == nil {
		t.Fatalf("no schedule item under the key %q", Key)
	}
}

func TestFreeScheduleStartsNow(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	db := &fake.DynamoDB{}
	l := &Limiter{DB: db, Table: "t", PerMinute: 30, Now: func() time.Time { return now }}
	got, err := l.Take(context.Background())
	if err != nil || !got.Equal(now) {
		t.Fatalf("first slot %v %v, want now", got, err)
	}
	// A minute later the schedule is free again: now, not a slot in the past or the future.
	now = now.Add(time.Minute)
	if got, _ := l.Take(context.Background()); !got.Equal(now) {
		t.Fatalf("after idle: %v, want %v", got, now)
	}
	scheduleKept(t, db)
}

// Many workers at once get distinct slots, spaced by 60s/PerMinute: at most PerMinute start
// in any minute, whatever the number of callers.
func TestConcurrentWorkersAreSpaced(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	db := &fake.DynamoDB{}
	l := &Limiter{DB: db, Table: "t", PerMinute: 30, Now: func() time.Time { return now }}
	const workers = 40
	slots := make([]time.Time, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := l.Take(context.Background())
			if err != nil {
				t.Error(err)
			}
			slots[i] = s
		}()
	}
	wg.Wait()
	sort.Slice(slots, func(i, j int) bool { return slots[i].Before(slots[j]) })
	for i := 1; i < workers; i++ {
		if d := slots[i].Sub(slots[i-1]); d != 2*time.Second {
			t.Fatalf("slots %d and %d are %s apart, want 2s", i-1, i, d)
		}
	}
	inFirstMinute := 0
	for _, s := range slots {
		if s.Before(now.Add(time.Minute)) {
			inFirstMinute++
		}
	}
	if inFirstMinute != 30 {
		t.Fatalf("%d starts in the first minute, want 30", inFirstMinute)
	}
	if n := db.UpdateItemCalls.Count(); n > 2*workers {
		t.Fatalf("%d calls for %d slots: at most two each", n, workers)
	}
	scheduleKept(t, db)
}
