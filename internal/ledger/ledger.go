// Package ledger keeps, in a DynamoDB table of the management account, the last decision the
// worker made for each account: where its stack lives, which trail forwards, and what happened.
//
// The trail guard reads it to tell an event about the forwarding trail from one about any
// other trail without calling the member account; the operator command shows it.
package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Entry is the last known state of one account.
type Entry struct {
	Account         string    `dynamodbav:"account" json:"account"`
	Region          string    `dynamodbav:"region" json:"region"`
	StackName       string    `dynamodbav:"stackName" json:"stackName"`
	StackStatus     string    `dynamodbav:"stackStatus" json:"stackStatus"`
	Managed         bool      `dynamodbav:"managed" json:"managed"`
	TrailMode       string    `dynamodbav:"trailMode" json:"trailMode"`
	CreateNewTrail  bool      `dynamodbav:"createNewTrail" json:"createNewTrail"`
	TrailARN        string    `dynamodbav:"trailArn,omitempty" json:"trailArn,omitempty"`
	TrailName       string    `dynamodbav:"trailName,omitempty" json:"trailName,omitempty"`
	TrailHomeRegion string    `dynamodbav:"trailHomeRegion,omitempty" json:"trailHomeRegion,omitempty"`
	Bucket          string    `dynamodbav:"bucket,omitempty" json:"bucket,omitempty"`
	Action          string    `dynamodbav:"action" json:"action"`
	Class           string    `dynamodbav:"class" json:"class"`
	Reason          string    `dynamodbav:"reason" json:"reason"`
	UpdatedAt       time.Time `dynamodbav:"updatedAt" json:"updatedAt"`
}

// Digest identifies the state the entry records: the stack, the trail resolution and any
// failure (class and reason). The time is left out, and so are the action and reason of a
// decision that succeeded. The sweep hands the digest of the stored entry to the worker,
// which then does not rewrite the entry when it decided nothing new: an account in sync
// costs no write, and the entry keeps the last change the onboarder made (its action,
// reason and UpdatedAt), not the last time it looked.
func (e Entry) Digest() string {
	e.UpdatedAt = time.Time{}
	if e.Class == "" || e.Class == "none" {
		e.Action, e.Reason = "", ""
	}
	b, _ := json.Marshal(e)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// ForwardingTrail reports whether the trail, given by name or ARN as in a CloudTrail event
// made in eventRegion, is the trail this entry says forwards to Cloud One.
func (e Entry) ForwardingTrail(nameOrARN, eventRegion string) bool {
	if e.TrailARN == "" {
		return false
	}
	if nameOrARN == e.TrailARN {
		return true
	}
	// A bare name means the trail of that name whose home region is the call's region.
	return nameOrARN == e.TrailName && eventRegion == e.TrailHomeRegion
}

// DynamoAPI is the part of the DynamoDB client the ledger uses.
type DynamoAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// Table is the ledger table.
type Table struct {
	DB   DynamoAPI
	Name string
}

// Get returns the entry of an account; found is false when there is none.
func (t *Table) Get(ctx context.Context, account string) (e Entry, found bool, err error) {
	out, err := t.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(t.Name),
		Key:            map[string]ddbtypes.AttributeValue{"account": &ddbtypes.AttributeValueMemberS{Value: account}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return e, false, fmt.Errorf("read ledger entry of %s from %s: %w", account, t.Name, err)
	}
	if len(out.Item) == 0 {
		return e, false, nil
	}
	if err := attributevalue.UnmarshalMap(out.Item, &e); err != nil {
		return e, false, fmt.Errorf("decode ledger entry of %s: %w", account, err)
	}
	return e, true, nil
}

// Put writes the entry of an account, replacing the previous one.
func (t *Table) Put(ctx context.Context, e Entry) error {
	item, err := attributevalue.MarshalMap(e)
	if err != nil {
		return fmt.Errorf("encode ledger entry of %s: %w", e.Account, err)
	}
	if _, err := t.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(t.Name), Item: item}); err != nil {
		return fmt.Errorf("write ledger entry of %s to %s: %w", e.Account, t.Name, err)
	}
	return nil
}

// All returns every entry, keyed by account.
func (t *Table) All(ctx context.Context) (map[string]Entry, error) {
	out := map[string]Entry{}
	p := dynamodb.NewScanPaginator(t.DB, &dynamodb.ScanInput{TableName: aws.String(t.Name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan ledger %s: %w", t.Name, err)
		}
		for _, item := range page.Items {
			var e Entry
			if err := attributevalue.UnmarshalMap(item, &e); err != nil {
				return nil, fmt.Errorf("decode ledger entry: %w", err)
			}
			out[e.Account] = e
		}
	}
	return out, nil
}
