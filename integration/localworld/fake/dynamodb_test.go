package fake_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/starts"
)

// The DynamoDB fake serves the three stores of the product: the limiter's conditional claim
// and atomic increment, the rollout's conditional put and its SET/ADD/DELETE/REMOVE updates of
// nested paths, and the ledger's put, get and scan (which skips the other items).
func TestDynamoDBServesTheStores(t *testing.T) {
	db := &fake.DynamoDB{}
	now := time.UnixMilli(1_800_000_000_000)
	l := &starts.Limiter{DB: db, Table: "t", PerMinute: 30, Now: func() time.Time { return now }}
	for i, want := range []time.Time{now, now.Add(2 * time.Second), now.Add(4 * time.Second)} {
		if got, err := l.Take(ctx); err != nil || !got.Equal(want) {
			t.Fatalf("slot %d: %v %v, want %v", i, got, err, want)
		}
	}
	if it := db.Item("t", starts.Key); it == nil || it["next"].(*ddbtypes.AttributeValueMemberN).Value != fmt.Sprint(now.Add(6*time.Second).UnixMilli()) {
		t.Fatalf("schedule item %v", it)
	}
	now = now.Add(6 * time.Second) // the next slot is now: claimed at once ("#n <= :now")
	n := db.UpdateItemCalls.Count()
	if got, err := l.Take(ctx); err != nil || !got.Equal(now) || db.UpdateItemCalls.Count() != n+1 {
		t.Fatalf("the slot that is now: %v %v in %d calls, want one", got, err, db.UpdateItemCalls.Count()-n)
	}

	s := &rollout.Store{DB: db, Table: "t"}
	r := rollout.Rollout{ID: "r1", To: rollout.Version{URL: "new"}, Waves: [][]string{{"000000000001"}, {"000000000002"}}}
	if err := s.Start(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, r); !errors.Is(err, rollout.ErrBusy) {
		t.Fatalf("a second start: %v", err)
	}
	got, err := s.Record(ctx, "r1", 0, "000000000001", true, "boom")
	if err != nil || got == nil || got.Failed["000000000001"] != "boom" {
		t.Fatalf("record a failure: %+v %v", got, err)
	}
	got, err = s.Record(ctx, "r1", 0, "000000000001", false, "")
	if err != nil || got == nil || len(got.Failed) != 0 || !slices.Equal(got.Settled, []string{"000000000001"}) {
		t.Fatalf("record a success: %+v %v", got, err)
	}
	if got, err := s.Record(ctx, "r1", 1, "000000000002", false, ""); got != nil || err != nil {
		t.Fatalf("a pass of a wave not released was recorded: %+v %v", got, err)
	}
	if released, err := s.Advance(ctx, got); err != nil || !slices.Equal(released, []string{"000000000002"}) {
		t.Fatalf("advance: %v %v", released, err)
	}
	if got, _ := s.Get(ctx); got.Wave != 1 || len(got.Settled) != 0 {
		t.Fatalf("after the advance: %+v", got)
	}

	tb := &ledger.Table{DB: db, Name: "t"}
	if err := tb.Put(ctx, ledger.Entry{Account: "012345678901", Action: "create"}); err != nil {
		t.Fatal(err)
	}
	if e, ok, err := tb.Get(ctx, "012345678901"); !ok || err != nil || e.Action != "create" {
		t.Fatalf("get %+v %v %v", e, ok, err)
	}
	if all, err := tb.All(ctx); err != nil || len(all) != 1 {
		t.Fatalf("all %v %v (the schedule and the rollout are not accounts)", all, err)
	}

	// A set left empty by DELETE is removed: DynamoDB has no empty sets.
	key := fake.Item{"account": &ddbtypes.AttributeValueMemberS{Value: "x"}}
	for _, u := range []string{"ADD s :v", "DELETE s :v"} {
		if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: key, UpdateExpression: aws.String(u),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": &ddbtypes.AttributeValueMemberSS{Value: []string{"a"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if it := db.Item("t", "x"); len(it) != 1 {
		t.Fatalf("item %v, want its key alone", it)
	}
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: key,
		UpdateExpression: aws.String("SET a = :v"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":v": &ddbtypes.AttributeValueMemberN{Value: "1"}, ":unused": &ddbtypes.AttributeValueMemberN{Value: "2"}}})
	if err == nil {
		t.Fatal("an unused expression value was accepted")
	}
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: key,
		UpdateExpression: aws.String("SET a = if_not_exists(a, :v)"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": &ddbtypes.AttributeValueMemberN{Value: "1"}}})
	if err == nil {
		t.Fatal("a function the fake does not evaluate was answered")
	}
}
