package starts

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// fakeTable evaluates the two update expressions the limiter sends, atomically, as DynamoDB
// does (an item's conditional update is atomic), and counts the calls.
type fakeTable struct {
	mu    sync.Mutex
	next  *int64
	calls int
}

func (f *fakeTable) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	n := func(k string) int64 {
		v, _ := strconv.ParseInt(in.ExpressionAttributeValues[k].(*ddbtypes.AttributeValueMemberN).Value, 10, 64)
		return v
	}
	if in.Key["account"].(*ddbtypes.AttributeValueMemberS).Value != Key {
		panic("wrong key")
	}
	switch aws.ToString(in.UpdateExpression) {
	case "SET #n = :next":
		if f.next != nil && *f.next > n(":now") {
			return nil, &ddbtypes.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
		}
		v := n(":next")
		f.next = &v
		return &dynamodb.UpdateItemOutput{}, nil
	case "SET #n = #n + :i":
		old := *f.next
		*f.next += n(":i")
		return &dynamodb.UpdateItemOutput{Attributes: map[string]ddbtypes.AttributeValue{"next": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(old, 10)}}}, nil
	}
	panic("unexpected expression " + aws.ToString(in.UpdateExpression))
}

func TestFreeScheduleStartsNow(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	l := &Limiter{DB: &fakeTable{}, Table: "t", PerMinute: 30, Now: func() time.Time { return now }}
	got, err := l.Take(context.Background())
	if err != nil || !got.Equal(now) {
		t.Fatalf("first slot %v %v, want now", got, err)
	}
	// A minute later the schedule is free again: now, not a slot in the past or the future.
	now = now.Add(time.Minute)
	if got, _ := l.Take(context.Background()); !got.Equal(now) {
		t.Fatalf("after idle: %v, want %v", got, now)
	}
}

// Many workers at once get distinct slots, spaced by 60s/PerMinute: at most PerMinute start
// in any minute, whatever the number of callers.
func TestConcurrentWorkersAreSpaced(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	db := &fakeTable{}
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
	if db.calls > 2*workers {
		t.Fatalf("%d calls for %d slots: at most two each", db.calls, workers)
	}
}
