// Package ledger keeps, in a DynamoDB table of the install account (the management account,
// or a delegated administrator), the last decision the worker made for each account: where
// its stack lives, which trail forwards, what happened, and the vendor's own view of it. The
// same table keeps the rollout (rollout.Store) and, for Vision One, the generated templates
// (items keyed TemplateKeyPrefix and the template's identity, their URLs sealed).
//
// The trail guard reads it to tell an event about the forwarding trail from one about any
// other trail without calling the member account; the operator command shows it.
package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// Entry is the last known state of one account.
type Entry struct {
	Account         string `dynamodbav:"account" json:"account"`
	Region          string `dynamodbav:"region" json:"region"`
	StackName       string `dynamodbav:"stackName" json:"stackName"`
	StackStatus     string `dynamodbav:"stackStatus" json:"stackStatus"`
	Managed         bool   `dynamodbav:"managed" json:"managed"`
	TrailMode       string `dynamodbav:"trailMode" json:"trailMode"`
	CreateNewTrail  bool   `dynamodbav:"createNewTrail" json:"createNewTrail"`
	TrailARN        string `dynamodbav:"trailArn,omitempty" json:"trailArn,omitempty"`
	TrailName       string `dynamodbav:"trailName,omitempty" json:"trailName,omitempty"`
	TrailHomeRegion string `dynamodbav:"trailHomeRegion,omitempty" json:"trailHomeRegion,omitempty"`
	Bucket          string `dynamodbav:"bucket,omitempty" json:"bucket,omitempty"`
	Action          string `dynamodbav:"action" json:"action"`
	Class           string `dynamodbav:"class" json:"class"`
	Reason          string `dynamodbav:"reason" json:"reason"`
	// Failed is the resource that made the onboarder's own write fail, when that is the
	// reason a person is needed.
	Failed string `dynamodbav:"failed,omitempty" json:"failed,omitempty"`
	// ReportedBy is the id of the request that first reported the needs-person state Reason
	// says (dead-lettered it): later requests that find the same state are not reported
	// again, but that request, received again, is (its report did not get out).
	ReportedBy string `dynamodbav:"reportedBy,omitempty" json:"reportedBy,omitempty"`
	// StartSlot is the start slot a request holds while it waits for it (the start-rate limit).
	StartSlot time.Time `dynamodbav:"startSlot,omitempty" json:"startSlot,omitzero"`
	// Failures counts transient failures in a row, since FailingSince.
	Failures     int       `dynamodbav:"failures,omitempty" json:"failures,omitempty"`
	FailingSince time.Time `dynamodbav:"failingSince,omitempty" json:"failingSince,omitzero"`
	// Offboard is set once the account left the scope (closed, removed, moved out, excluded,
	// gone): why, as a queue.Offboard* code. The entry then records the offboarding: its
	// Action says what the onboarder did (offboarded: reported; delete: deleting its stack).
	Offboard string `dynamodbav:"offboard,omitempty" json:"offboard,omitempty"`
	// Left is what the offboarding left behind, in the account and in the vendor, for a
	// person to remove by hand.
	Left string `dynamodbav:"left,omitempty" json:"left,omitempty"`
	// The vendor's own view of the account, when the target keeps one (Vision One): its
	// state (managed, outdated, failed), what it says is wrong, and the version of its
	// template the account runs.
	VendorState           string    `dynamodbav:"vendorState,omitempty" json:"vendorState,omitempty"`
	VendorProblems        []string  `dynamodbav:"vendorProblems,omitempty" json:"vendorProblems,omitempty"`
	VendorTemplateVersion string    `dynamodbav:"vendorTemplateVersion,omitempty" json:"vendorTemplateVersion,omitempty"`
	UpdatedAt             time.Time `dynamodbav:"updatedAt" json:"updatedAt"`
}

// StatusUnreachable is the stack status an entry records when the account could not be opened
// any more (closed, suspended): the onboarder cannot see its stack.
const StatusUnreachable = "UNREACHABLE"

// hasStack reports whether the entry saw a stack in the account.
func (e Entry) hasStack() bool {
	switch e.StackStatus {
	case "", "ABSENT", "DELETE_COMPLETE", StatusUnreachable:
		return false
	}
	return true
}

// Onboarded reports whether the entry says the onboarder's stack is in the account and the
// account was not offboarded: an account that leaves the scope then needs offboarding.
func (e Entry) Onboarded() bool { return e.Managed && e.Offboard == "" && e.hasStack() }

// StackLeft reports whether the account was offboarded with the onboarder's stack left in
// place (ONBOARDER_OFFBOARD=report; the action "offboarded" of reconcile.ActionOffboarded, or,
// for a vendor that keeps the account apart from the stack, "forget": Vision One was told to
// forget the account, and the stack stayed): with the delete policy set later, it is
// offboarded again.
func (e Entry) StackLeft() bool {
	return e.Managed && e.Offboard != "" && (e.Action == "offboarded" || e.Action == "forget") && e.hasStack()
}

// Summary is what a sweep needs of an entry: its digest, and whether the account needs
// offboarding when it is found out of scope.
type Summary struct {
	Digest    string
	Onboarded bool // Entry.Onboarded
	StackLeft bool // Entry.StackLeft
}

// NeedsOffboarding reports whether an account found out of scope for why (a queue.Offboard*
// code; "" while it is not known yet) has something to offboard: the onboarder's stack is
// there, or, when offboarding deletes (ONBOARDER_OFFBOARD=delete), an earlier offboarding
// reported it and left it, unless the account is excluded now: an excluded account is never
// touched, so its stack is reported once and never deleted.
func (s Summary) NeedsOffboarding(why string, deleting bool) bool {
	return s.Onboarded || (deleting && s.StackLeft && why != queue.OffboardExcluded)
}

// Summarize returns the summary of the entry.
func (e Entry) Summarize() Summary {
	return Summary{Digest: e.Digest(), Onboarded: e.Onboarded(), StackLeft: e.StackLeft()}
}

// Trail names the forwarding trail for people: its ARN, "new" when the stack makes its own
// and it was not seen yet, or "" when unknown.
func (e Entry) Trail() string {
	switch {
	case e.TrailARN != "":
		return e.TrailARN
	case e.CreateNewTrail:
		return "new"
	}
	return ""
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

// All returns every account's entry, keyed by account. Items of the table that are not an
// account's (the start schedule) are left out.
func (t *Table) All(ctx context.Context) (map[string]Entry, error) {
	out := map[string]Entry{}
	err := t.scan(ctx, func(e Entry) { out[e.Account] = e })
	return out, err
}

// Digests returns the digest of every account's entry, keyed by account: what a sweep of
// many accounts needs, without holding the entries.
func (t *Table) Digests(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	err := t.scan(ctx, func(e Entry) { out[e.Account] = e.Digest() })
	return out, err
}

// Summaries returns the summary of every account's entry, keyed by account: what the sweep
// reads once per invocation.
func (t *Table) Summaries(ctx context.Context) (map[string]Summary, error) {
	out := map[string]Summary{}
	err := t.scan(ctx, func(e Entry) { out[e.Account] = e.Summarize() })
	return out, err
}

func (t *Table) scan(ctx context.Context, fn func(Entry)) error {
	p := dynamodb.NewScanPaginator(t.DB, &dynamodb.ScanInput{TableName: aws.String(t.Name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("scan ledger %s: %w", t.Name, err)
		}
		for _, item := range page.Items {
			if k, ok := item["account"].(*ddbtypes.AttributeValueMemberS); !ok || !IsAccountKey(k.Value) {
				continue
			}
			var e Entry
			if err := attributevalue.UnmarshalMap(item, &e); err != nil {
				return fmt.Errorf("decode ledger entry: %w", err)
			}
			fn(e)
		}
	}
	return nil
}

// IsAccountKey reports whether a key of the table is an account's (12 digits).
func IsAccountKey(k string) bool {
	if len(k) != 12 {
		return false
	}
	for _, c := range k {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// TemplateKeyPrefix starts the table keys of generated templates (not an account id: scans
// skip them).
const TemplateKeyPrefix = "#template/"

// Generated is a vendor's generated template kept for reuse: its URL (sealed by the target)
// and when it was made; the bucket it is in and the vendor's OIDC provider, which are not
// secret and which the member StackSet's roles name (`onboarder validate` reports them).
type Generated struct {
	Key          string    `dynamodbav:"account"`
	URL          string    `dynamodbav:"url"`
	Generated    time.Time `dynamodbav:"generated"`
	Bucket       string    `dynamodbav:"bucket,omitempty"`
	OIDCProvider string    `dynamodbav:"oidcProvider,omitempty"`
}

// Template reads the generated template kept under key (TemplateKeyPrefix and the target's
// key); found is false when there is none.
func (t *Table) Template(ctx context.Context, key string) (g Generated, found bool, err error) {
	out, err := t.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(t.Name),
		Key:            map[string]ddbtypes.AttributeValue{"account": &ddbtypes.AttributeValueMemberS{Value: TemplateKeyPrefix + key}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return g, false, fmt.Errorf("read generated template %s from %s: %w", key, t.Name, err)
	}
	if len(out.Item) == 0 {
		return g, false, nil
	}
	if err := attributevalue.UnmarshalMap(out.Item, &g); err != nil {
		return g, false, fmt.Errorf("decode generated template %s: %w", key, err)
	}
	return g, true, nil
}

// ClaimTemplate claims, for owner (a name for people: who generates it), the generation of the
// template kept under key: it succeeds unless another claim is younger than claimFor, or a
// template generated at fresh or later is kept already (another worker generated it
// meanwhile). It reports whether the caller may generate it; PutTemplate then replaces the
// item, claim included. So a wave of new accounts that all find no template generates one,
// not one per worker: each generation makes a new Vision One API key.
func (t *Table) ClaimTemplate(ctx context.Context, key, owner string, now, fresh time.Time, claimFor time.Duration) (bool, error) {
	db, ok := t.DB.(interface {
		UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	})
	if !ok {
		return false, fmt.Errorf("claim generated template %s: the ledger's client cannot UpdateItem", key)
	}
	// Whole seconds in UTC, as PutTemplate writes "generated": the times compare as strings.
	stamp := func(at time.Time) string { return at.UTC().Truncate(time.Second).Format(time.RFC3339) }
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(t.Name),
		Key:                      map[string]ddbtypes.AttributeValue{"account": &ddbtypes.AttributeValueMemberS{Value: TemplateKeyPrefix + key}},
		UpdateExpression:         aws.String("SET #c = :now, #by = :by"),
		ConditionExpression:      aws.String("(attribute_not_exists(#c) OR #c < :stale) AND (attribute_not_exists(#g) OR #g < :fresh)"),
		ExpressionAttributeNames: map[string]string{"#c": "claimed", "#by": "claimedBy", "#g": "generated"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":now": &ddbtypes.AttributeValueMemberS{Value: stamp(now)}, ":by": &ddbtypes.AttributeValueMemberS{Value: owner},
			":stale": &ddbtypes.AttributeValueMemberS{Value: stamp(now.Add(-claimFor))}, ":fresh": &ddbtypes.AttributeValueMemberS{Value: stamp(fresh)},
		},
	})
	var cond *ddbtypes.ConditionalCheckFailedException
	switch {
	case errors.As(err, &cond):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("claim generated template %s in %s: %w", key, t.Name, err)
	}
	return true, nil
}

// PutTemplate keeps a generated template under key, unless one made later is kept already (two
// workers that generate at once keep the newer): it reports whether this one was kept.
func (t *Table) PutTemplate(ctx context.Context, key string, g Generated) (bool, error) {
	// Whole seconds in UTC: the times compare as strings of one length.
	g.Key, g.Generated = TemplateKeyPrefix+key, g.Generated.UTC().Truncate(time.Second)
	item, err := attributevalue.MarshalMap(g)
	if err != nil {
		return false, fmt.Errorf("encode generated template %s: %w", key, err)
	}
	_, err = t.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(t.Name), Item: item,
		ConditionExpression:       aws.String("attribute_not_exists(#g) OR #g < :g"),
		ExpressionAttributeNames:  map[string]string{"#g": "generated"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":g": item["generated"]},
	})
	var cond *ddbtypes.ConditionalCheckFailedException
	switch {
	case errors.As(err, &cond):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("keep generated template %s in %s: %w", key, t.Name, err)
	}
	return true, nil
}
