// Package starts paces the stack operations the onboarder starts across the Organization.
//
// Each start of Trend's onboarding stack makes its custom resources call Cloud One, whose APIs
// answer 429 over a rolling 60-second window. A wave of new accounts, a secret rotation or a
// template change must not start a thousand stacks in one minute, whatever the number of
// workers. The Limiter is a shared schedule of start slots, one every 60s/PerMinute, kept in
// one DynamoDB item (the ledger table's "#starts" key) and advanced with conditional writes, so
// that any number of concurrent workers together start at most PerMinute stacks in any minute
// (plus one at the window's edge). A request that gets a later slot waits for it in the
// queue (the worker returns it with that visibility delay); nothing polls.
package starts

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Key is the table key of the schedule item (not an account id: ledger scans skip it).
const Key = "#starts"

// DynamoAPI is the part of the DynamoDB client the limiter uses.
type DynamoAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Limiter hands out start slots.
type Limiter struct {
	DB        DynamoAPI
	Table     string
	PerMinute int
	Now       func() time.Time // nil: time.Now
}

// Take reserves the next start slot and returns its time: now when the schedule is free,
// else the first free slot after the ones already taken. It makes at most two writes:
//
//  1. claim "now": SET next = now+interval IF next is absent or next <= now;
//  2. if that condition fails, take the next slot: SET next = next+interval and return the
//     old value (an atomic update: concurrent callers get distinct slots).
func (l *Limiter) Take(ctx context.Context) (time.Time, error) {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	interval := time.Minute / time.Duration(max(l.PerMinute, 1))
	key := map[string]ddbtypes.AttributeValue{"account": &ddbtypes.AttributeValueMemberS{Value: Key}}
	nowMS := now.UnixMilli()
	_, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.Table),
		Key:                       key,
		UpdateExpression:          aws.String("SET #n = :next"),
		ConditionExpression:       aws.String("attribute_not_exists(#n) OR #n <= :now"),
		ExpressionAttributeNames:  map[string]string{"#n": "next"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":next": num(nowMS + interval.Milliseconds()), ":now": num(nowMS)},
	})
	if err == nil {
		return time.UnixMilli(nowMS), nil
	}
	var ccf *ddbtypes.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return time.Time{}, fmt.Errorf("claim a start slot in %s: %w", l.Table, err)
	}
	out, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.Table),
		Key:                       key,
		UpdateExpression:          aws.String("SET #n = #n + :i"),
		ExpressionAttributeNames:  map[string]string{"#n": "next"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":i": num(interval.Milliseconds())},
		ReturnValues:              ddbtypes.ReturnValueUpdatedOld,
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("take a start slot in %s: %w", l.Table, err)
	}
	v, ok := out.Attributes["next"].(*ddbtypes.AttributeValueMemberN)
	if !ok {
		return time.Time{}, fmt.Errorf("take a start slot in %s: the schedule item has no number \"next\"", l.Table)
	}
	ms, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("take a start slot in %s: next=%q: %w", l.Table, v.Value, err)
	}
	return time.UnixMilli(max(ms, nowMS)), nil
}

func num(n int64) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
