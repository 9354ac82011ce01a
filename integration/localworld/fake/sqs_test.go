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

// A FIFO queue hands out a group's messages in order and no more of a group while one of
// it is in flight; a message left in flight comes back once made visible; a deleted one
// does not.
func TestSQSReceiveAndDelete(t *testing.T) {
	q := &fake.SQS{}
	const url = "https://sqs.eu-west-1.amazonaws.com/111111111111/dlq.fifo"
	a1 := q.Add(fake.Message{QueueURL: url, Body: "a1", GroupID: "a"})
	a2 := q.Add(fake.Message{QueueURL: url, Body: "a2", GroupID: "a"})
	b1 := q.Add(fake.Message{QueueURL: url, Body: "b1", GroupID: "b"})
	q.Add(fake.Message{QueueURL: "https://elsewhere", Body: "x", GroupID: "a"})
	receive := func(max int32) []sqstypes.Message {
		t.Helper()
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: max, VisibilityTimeout: 60})
		if err != nil {
			t.Fatal(err)
		}
		return out.Messages
	}
	got := receive(1)
	if len(got) != 1 || aws.ToString(got[0].MessageId) != a1 || got[0].Attributes["MessageGroupId"] != "a" {
		t.Fatalf("first receive: %+v", got)
	}
	// a is in flight: only b comes.
	if got2 := receive(10); len(got2) != 1 || aws.ToString(got2[0].MessageId) != b1 {
		t.Fatalf("second receive: %+v", got2)
	}
	if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: got[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if got3 := receive(10); len(got3) != 1 || aws.ToString(got3[0].MessageId) != a2 || got3[0].Attributes["ApproximateReceiveCount"] != "1" {
		t.Fatalf("after the delete: %+v", got3)
	} else if _, err := q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: got3[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	if got4 := receive(10); len(got4) != 1 || aws.ToString(got4[0].MessageId) != a2 || got4[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("a message made visible again: %+v", got4)
	}
	if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String("nope")}); err == nil {
		t.Error("an unknown receipt handle was accepted")
	}
	if n := len(q.Queue(url)); n != 2 {
		t.Errorf("%d messages left, want 2 (a2, b1)", n)
	}
}
