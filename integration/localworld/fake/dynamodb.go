package fake

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	smithy "github.com/aws/smithy-go"
)

// Item is a DynamoDB item.
type Item = map[string]ddbtypes.AttributeValue

// DynamoDB is DynamoDB as the ledger, the start limiter and the rollout store use it
// (ledger.DynamoAPI, starts.DynamoAPI, rollout.DynamoAPI): tables of items in memory, each
// write of one item atomic, every read consistent. It evaluates the condition and update
// expressions those packages send (comparisons, AND, OR, NOT, attribute_exists and
// attribute_not_exists; SET with + and -, REMOVE, ADD and DELETE on numbers and sets, nested
// map paths) as the SDK's service/dynamodb/api_op_UpdateItem.go describes them, and refuses
// placeholders that no expression uses, as DynamoDB does. What it does not evaluate
// (functions such as if_not_exists, list indexes, projections, filters, queries) is an error
// that says so, never a guess.
type DynamoDB struct {
	Log *Log
	// KeyName is the partition key of every table; "account" when empty (the ledger table's,
	// which the start schedule and the rollout share).
	KeyName string

	GetItemCalls    Calls[*dynamodb.GetItemInput, *dynamodb.GetItemOutput]
	PutItemCalls    Calls[*dynamodb.PutItemInput, *dynamodb.PutItemOutput]
	UpdateItemCalls Calls[*dynamodb.UpdateItemInput, *dynamodb.UpdateItemOutput]
	ScanCalls       Calls[*dynamodb.ScanInput, *dynamodb.ScanOutput]

	mu     sync.Mutex
	tables map[string]map[string]Item
}

func (d *DynamoDB) keyName() string {
	if d.KeyName == "" {
		return "account"
	}
	return d.KeyName
}

// ddbValidation is DynamoDB's error for a request it refuses, which the SDK does not model.
func ddbValidation(format string, args ...any) error {
	return &smithy.GenericAPIError{Code: "ValidationException", Message: fmt.Sprintf(format, args...), Fault: smithy.FaultClient}
}

// notEmulated is the error for a part of a request the fake does not evaluate.
func notEmulated(format string, args ...any) error {
	return fmt.Errorf("fake DynamoDB: "+format+" is not emulated: give the call an answer with Return or Do", args...)
}

// key returns the partition key value of a Key or an item, as text.
func (d *DynamoDB) key(it Item) (string, error) {
	switch v := it[d.keyName()].(type) {
	case *ddbtypes.AttributeValueMemberS:
		return v.Value, nil
	case *ddbtypes.AttributeValueMemberN:
		return v.Value, nil
	}
	// moto/dynamodb/exceptions.py
	return "", ddbValidation("The provided key element does not match the schema")
}

// Item returns a copy of the item of table under key, nil when there is none.
func (d *DynamoDB) Item(table, key string) Item {
	d.mu.Lock()
	defer d.mu.Unlock()
	it, ok := d.tables[table][key]
	if !ok {
		return nil
	}
	return cloneItem(it)
}

// SetItem stores a copy of the item in table, as PutItem does, without a call.
func (d *DynamoDB) SetItem(table string, it Item) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	k, err := d.key(it)
	if err != nil {
		return err
	}
	d.store(table, k, cloneItem(it))
	return nil
}

// store keeps the item. d.mu is held.
func (d *DynamoDB) store(table, key string, it Item) {
	if d.tables == nil {
		d.tables = map[string]map[string]Item{}
	}
	if d.tables[table] == nil {
		d.tables[table] = map[string]Item{}
	}
	d.tables[table][key] = it
}

func (d *DynamoDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return d.GetItemCalls.invoke(ctx, d.Log, read("GetItem"), in, func(_ context.Context, in *dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
		if in.ProjectionExpression != nil || in.AttributesToGet != nil {
			return nil, notEmulated("GetItem with a projection")
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		k, err := d.key(in.Key)
		if err != nil {
			return nil, err
		}
		out := &dynamodb.GetItemOutput{}
		if it, ok := d.tables[aws.ToString(in.TableName)][k]; ok {
			out.Item = cloneItem(it)
		}
		return out, nil
	})
}

// target is the item a write of one item aims at: where, and what is there.
type target struct {
	table, key string
	old        Item // nil when there is none
}

// aim finds the item a write aims at and checks the request's placeholders and condition
// against it. d.mu is held.
func (d *DynamoDB) aim(table *string, key Item, x *expr, cond *string, exprs ...*string) (target, error) {
	k, err := d.key(key)
	if err != nil {
		return target{}, err
	}
	if err := x.unused(append(exprs, cond)...); err != nil {
		return target{}, err
	}
	t := target{table: aws.ToString(table), key: k, old: d.tables[aws.ToString(table)][k]}
	return t, x.check(cond, t.old)
}

func (d *DynamoDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return d.PutItemCalls.invoke(ctx, d.Log, write("PutItem"), in, func(_ context.Context, in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		t, err := d.aim(in.TableName, in.Item, &expr{names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues}, in.ConditionExpression)
		if err != nil {
			return nil, err
		}
		d.store(t.table, t.key, cloneItem(in.Item))
		switch in.ReturnValues {
		case ddbtypes.ReturnValueNone, "":
			return &dynamodb.PutItemOutput{}, nil
		case ddbtypes.ReturnValueAllOld:
			return &dynamodb.PutItemOutput{Attributes: cloneItem(t.old)}, nil
		}
		return nil, ddbValidation("ReturnValues can only be ALL_OLD or NONE")
	})
}

func (d *DynamoDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return d.UpdateItemCalls.invoke(ctx, d.Log, write("UpdateItem"), in, func(_ context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
		if in.AttributeUpdates != nil || in.Expected != nil {
			return nil, notEmulated("UpdateItem with the legacy AttributeUpdates or Expected")
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		x := &expr{names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues}
		t, err := d.aim(in.TableName, in.Key, x, in.ConditionExpression, in.UpdateExpression)
		if err != nil {
			return nil, err
		}
		// An update of an item that is not there makes it, with its key ("Edits an existing
		// item's attributes, or adds a new item to the table if it does not already exist":
		// the SDK's service/dynamodb/api_op_UpdateItem.go).
		next := cloneItem(t.old)
		if next == nil {
			next = cloneItem(in.Key)
		}
		touched, err := x.update(aws.ToString(in.UpdateExpression), next)
		if err != nil {
			return nil, err
		}
		d.store(t.table, t.key, next)
		out := &dynamodb.UpdateItemOutput{}
		switch in.ReturnValues {
		case ddbtypes.ReturnValueNone, "":
		case ddbtypes.ReturnValueAllOld:
			out.Attributes = cloneItem(t.old)
		case ddbtypes.ReturnValueAllNew:
			out.Attributes = cloneItem(next)
		case ddbtypes.ReturnValueUpdatedOld:
			out.Attributes = pick(t.old, touched)
		case ddbtypes.ReturnValueUpdatedNew:
			out.Attributes = pick(next, touched)
		default:
			return nil, notEmulated("ReturnValues %s", in.ReturnValues)
		}
		return out, nil
	})
}

// Scan answers every item of the table in key order, in pages of Limit items (all in one
// page when Limit is not set; the service's 1 MB page is not emulated).
func (d *DynamoDB) Scan(ctx context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return d.ScanCalls.invoke(ctx, d.Log, read("Scan"), in, func(_ context.Context, in *dynamodb.ScanInput) (*dynamodb.ScanOutput, error) {
		if in.FilterExpression != nil || in.ProjectionExpression != nil || in.ScanFilter != nil || in.AttributesToGet != nil || in.Segment != nil {
			return nil, notEmulated("Scan with a filter, a projection or segments")
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		items := d.tables[aws.ToString(in.TableName)]
		keys := sortedKeys(items)
		if in.ExclusiveStartKey != nil {
			after, err := d.key(in.ExclusiveStartKey)
			if err != nil {
				return nil, err
			}
			keys = keys[sort.SearchStrings(keys, after):]
			if len(keys) > 0 && keys[0] == after {
				keys = keys[1:]
			}
		}
		out := &dynamodb.ScanOutput{}
		if in.Limit != nil && int(*in.Limit) < len(keys) {
			keys = keys[:*in.Limit]
			out.LastEvaluatedKey = Item{d.keyName(): cloneValue(items[keys[len(keys)-1]][d.keyName()])}
		}
		for _, k := range keys {
			out.Items = append(out.Items, cloneItem(items[k]))
		}
		out.Count, out.ScannedCount = int32(len(out.Items)), int32(len(out.Items))
		return out, nil
	})
}

// pick returns the attributes of it named in names.
func pick(it Item, names map[string]bool) Item {
	out := Item{}
	for n := range names {
		if v, ok := it[n]; ok {
			out[n] = cloneValue(v)
		}
	}
	return out
}

func cloneItem(it Item) Item {
	if it == nil {
		return nil
	}
	out := make(Item, len(it))
	for k, v := range it {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v ddbtypes.AttributeValue) ddbtypes.AttributeValue {
	switch v := v.(type) {
	case *ddbtypes.AttributeValueMemberM:
		return &ddbtypes.AttributeValueMemberM{Value: cloneItem(v.Value)}
	case *ddbtypes.AttributeValueMemberL:
		l := make([]ddbtypes.AttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = cloneValue(e)
		}
		return &ddbtypes.AttributeValueMemberL{Value: l}
	case *ddbtypes.AttributeValueMemberSS:
		return &ddbtypes.AttributeValueMemberSS{Value: append([]string(nil), v.Value...)}
	case *ddbtypes.AttributeValueMemberNS:
		return &ddbtypes.AttributeValueMemberNS{Value: append([]string(nil), v.Value...)}
	case *ddbtypes.AttributeValueMemberS:
		return &ddbtypes.AttributeValueMemberS{Value: v.Value}
	case *ddbtypes.AttributeValueMemberN:
		return &ddbtypes.AttributeValueMemberN{Value: v.Value}
	case *ddbtypes.AttributeValueMemberBOOL:
		return &ddbtypes.AttributeValueMemberBOOL{Value: v.Value}
	case *ddbtypes.AttributeValueMemberNULL:
		return &ddbtypes.AttributeValueMemberNULL{Value: v.Value}
	case *ddbtypes.AttributeValueMemberB:
		return &ddbtypes.AttributeValueMemberB{Value: append([]byte(nil), v.Value...)}
	}
	return v
}
