//go:build integration

package localworld

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// The tuned moto (the benchmark's) must tell accounts apart exactly as moto_server does:
// each member account's credentials see that account's buckets only, asked repeatedly (the
// remembered answers), and the management account's plain credentials see their own.
func TestTunedMotoKeepsAccountsApart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := StartMotoWith(ctx, MotoOptions{Tuned: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	buckets := func(cfg aws.Config) []string {
		out, err := S3(cfg).ListBuckets(ctx, &s3.ListBucketsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, b := range out.Buckets {
			names = append(names, aws.ToString(b.Name))
		}
		return names
	}
	members := []string{"210987654321", "345678901234"}
	for _, a := range members {
		if err := m.Bucket(ctx, a, "us-east-1", "only-"+a); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Bucket(ctx, ManagementAccount, "us-east-1", "only-management"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		for _, a := range members {
			cfg, err := m.AccountConfig(ctx, a, "us-east-1", ExecutionRole)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if got := buckets(cfg); !slices.Equal(got, []string{"only-" + a}) {
					t.Fatalf("account %s sees %v", a, got)
				}
			}
		}
		if got := buckets(m.Config(ctx, "us-east-1")); !slices.Equal(got, []string{"only-management"}) {
			t.Fatalf("the management account sees %v", got)
		}
	}
	if logs := m.Logs().String(); strings.Contains(logs, `"GET /`) || strings.Contains(logs, `"PUT /`) {
		t.Errorf("the tuned moto logged request lines:\n%s", m.Logs().String())
	}
}

// The tuned SQS send path answers as moto's own: FIFO deduplication still drops a repeated
// deduplication id, a batch's entries all land, and the queue's attributes, message counts
// included, read the same on both servers.
func TestTunedMotoSQSAnswersAlike(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	attrs := map[bool]map[string]string{}
	for _, tuned := range []bool{false, true} {
		m, err := StartMotoWith(ctx, MotoOptions{Tuned: tuned})
		if err != nil {
			t.Fatal(err)
		}
		q := sqs.NewFromConfig(m.Config(ctx, "eu-west-1"))
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("t.fifo"), Attributes: map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "false"}})
		if err != nil {
			t.Fatal(err)
		}
		var entries []sqstypes.SendMessageBatchRequestEntry
		for i := range 10 {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String("m"),
				MessageGroupId: aws.String(fmt.Sprint("g", i)), MessageDeduplicationId: aws.String(fmt.Sprint("d", i))})
		}
		if _, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: out.QueueUrl, Entries: entries}); err != nil {
			t.Fatal(err)
		}
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String("again"),
			MessageGroupId: aws.String("g0"), MessageDeduplicationId: aws.String("d0")}); err != nil {
			t.Fatal(err)
		}
		got, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		m.Stop()
		delete(got.Attributes, "CreatedTimestamp")
		delete(got.Attributes, "LastModifiedTimestamp")
		attrs[tuned] = got.Attributes
	}
	if attrs[true]["ApproximateNumberOfMessages"] != "10" {
		t.Errorf("the tuned moto holds %s messages, want 10 (the repeated deduplication id dropped)", attrs[true]["ApproximateNumberOfMessages"])
	}
	if !maps.Equal(attrs[false], attrs[true]) {
		t.Errorf("attributes differ:\nmoto:  %v\ntuned: %v", attrs[false], attrs[true])
	}
}

// DynamoDB's single-item writes are atomic on AWS: of many conditional writes racing on one
// item, exactly one passes its condition (moto_server.py serializes moto's, which check and
// then write without a lock).
func TestMotoConditionalWritesRace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := StartMotoWith(ctx, MotoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	db := dynamodb.NewFromConfig(m.Config(ctx, "us-east-1"))
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("race"), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: ddbtypes.KeyTypeHash}}}); err != nil {
		t.Fatal(err)
	}
	for round := range 40 {
		key := fmt.Sprintf("item-%d", round)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for w := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("race"),
					Key:                       map[string]ddbtypes.AttributeValue{"k": &ddbtypes.AttributeValueMemberS{Value: key}},
					UpdateExpression:          aws.String("SET claimedBy = :w"),
					ConditionExpression:       aws.String("attribute_not_exists(claimedBy)"),
					ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":w": &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(w)}}})
				var cond *ddbtypes.ConditionalCheckFailedException
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.As(err, &cond):
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d conditional writes passed, want 1", round, n)
		}
	}
}

// A trail seeded with validation and a topic is one Vision One can use, as the product's own
// resolution judges it; without them it is passed over, saying why.
func TestSeedTrailForVisionOne(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := StartMoto(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	const account, region = "210987654321", "us-east-1"
	arn, err := m.SeedTrail(ctx, Trail{Account: account, Name: "audit", Bucket: "audit-" + account, HomeRegion: region, Logging: true,
		LogFileValidation: true, Topic: "audit-deliveries"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.SeedTrail(ctx, Trail{Account: account, Name: "plain", Bucket: "plain-" + account, HomeRegion: region, Logging: true}); err != nil {
		t.Fatal(err)
	}
	cfg, err := m.AccountConfig(ctx, account, region, ExecutionRole)
	if err != nil {
		t.Fatal(err)
	}
	ct := cloudtrail.NewFromConfig(cfg)
	ch, err := trail.Resolve(ctx, trail.Clients{CloudTrail: func(string) trail.API { return ct }, S3: S3(cfg)},
		trail.Input{Account: account, Region: region, Mode: config.TrailAuto, Rules: trail.VisionOne})
	if err != nil {
		t.Fatal(err)
	}
	if ch.TrailARN != arn || ch.TopicARN != "arn:aws:sns:"+region+":"+account+":audit-deliveries" || ch.CreateNewTrail {
		t.Errorf("choice %+v, want trail %s with its topic", ch, arn)
	}
	if !slices.ContainsFunc(ch.Skipped, func(s string) bool { return strings.HasPrefix(s, "plain: log file validation is off") }) {
		t.Errorf("the trail without validation nor topic: skipped %q", ch.Skipped)
	}
}
