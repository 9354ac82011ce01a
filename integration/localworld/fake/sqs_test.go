package fake_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
)

// A batch whose group is refused fails entry by entry; the rest is taken.
func TestSQSRefusesEntries(t *testing.T) {
	s := &fake.SQS{}
	s.Refuse("b", sqstypes.BatchResultErrorEntry{Code: aws.String("InternalError"), Message: aws.String("try again")})
	out, err := s.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String("q"), Entries: []sqstypes.SendMessageBatchRequestEntry{
		{Id: aws.String("0"), MessageGroupId: aws.String("a"), MessageBody: aws.String("one")},
		{Id: aws.String("1"), MessageGroupId: aws.String("b"), MessageBody: aws.String("two")},
	}})
	if err != nil || len(out.Failed) != 1 || aws.ToString(out.Failed[0].Id) != "1" || aws.ToString(out.Failed[0].Code) != "InternalError" ||
		len(out.Successful) != 1 || aws.ToString(out.Successful[0].Id) != "0" {
		t.Fatalf("output %+v, %v", out, err)
	}
	if m := s.Messages(); len(m) != 1 || m[0].Body != "one" || m[0].QueueURL != "q" || m[0].GroupID != "a" {
		t.Fatalf("messages %+v", m)
	}
	s.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{ReceiptHandle: aws.String("rh"), VisibilityTimeout: 30})
	s.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{ReceiptHandle: aws.String("rh"), VisibilityTimeout: 45})
	if v := s.Visibility(); v["rh"] != 45 || len(v) != 1 {
		t.Fatalf("visibility %v", v)
	}
}
