package fake

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS is the SQS API the product calls: SendMessageBatch (queue.SQSAPI), SendMessage and
// ChangeMessageVisibility (worker.SQSAPI). By default it takes every message, except the
// entries of a batch whose message group Refuse names: those come back one by one in the
// output's Failed list while the rest of the batch is taken, as SQS answers a batch (the SDK's
// service/sqs/api_op_SendMessageBatch.go: "For each message in the batch, the response
// contains a SendMessageBatchResultEntry tag if the message succeeds or a
// BatchResultErrorEntry tag if the message fails").
// It keeps no deduplication window: every message taken is kept, duplicates included.
type SQS struct {
	Log *Log

	SendMessageBatchCalls        Calls[*sqs.SendMessageBatchInput, *sqs.SendMessageBatchOutput]
	SendMessageCalls             Calls[*sqs.SendMessageInput, *sqs.SendMessageOutput]
	ChangeMessageVisibilityCalls Calls[*sqs.ChangeMessageVisibilityInput, *sqs.ChangeMessageVisibilityOutput]

	mu         sync.Mutex
	refused    map[string]sqstypes.BatchResultErrorEntry
	messages   []Message
	visibility map[string]int32
}

// Message is a message SQS took.
type Message struct {
	QueueURL        string
	ID              string
	Body            string
	GroupID         string
	DeduplicationID string
	Attributes      map[string]sqstypes.MessageAttributeValue
}

// Refuse makes SendMessageBatch refuse, entry by entry, every message of the group from now
// on, with the code, message and fault of failure (its Id is the entry's).
func (s *SQS) Refuse(group string, failure sqstypes.BatchResultErrorEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused = map[string]sqstypes.BatchResultErrorEntry{}
	}
	s.refused[group] = failure
}

// Messages returns the messages taken so far, in order, by SendMessageBatch and SendMessage.
func (s *SQS) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Visibility returns the visibility timeout last set on each receipt handle, in seconds.
func (s *SQS) Visibility() map[string]int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int32, len(s.visibility))
	for k, v := range s.visibility {
		out[k] = v
	}
	return out
}

// take keeps a message and returns its id. s.mu is held.
func (s *SQS) take(m Message) string {
	m.ID = fmt.Sprintf("fake-message-%d", len(s.messages)+1)
	s.messages = append(s.messages, m)
	return m.ID
}

func (s *SQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	return s.SendMessageBatchCalls.invoke(ctx, s.Log, write("SendMessageBatch"), in, func(_ context.Context, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		out := &sqs.SendMessageBatchOutput{}
		for _, e := range in.Entries {
			if f, ok := s.refused[aws.ToString(e.MessageGroupId)]; ok {
				f.Id = e.Id
				out.Failed = append(out.Failed, f)
				continue
			}
			id := s.take(Message{QueueURL: aws.ToString(in.QueueUrl), Body: aws.ToString(e.MessageBody), GroupID: aws.ToString(e.MessageGroupId),
				DeduplicationID: aws.ToString(e.MessageDeduplicationId), Attributes: e.MessageAttributes})
			out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String(id)})
		}
		return out, nil
	})
}

func (s *SQS) SendMessage(ctx context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	return s.SendMessageCalls.invoke(ctx, s.Log, write("SendMessage"), in, func(_ context.Context, in *sqs.SendMessageInput) (*sqs.SendMessageOutput, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		id := s.take(Message{QueueURL: aws.ToString(in.QueueUrl), Body: aws.ToString(in.MessageBody), GroupID: aws.ToString(in.MessageGroupId),
			DeduplicationID: aws.ToString(in.MessageDeduplicationId), Attributes: in.MessageAttributes})
		return &sqs.SendMessageOutput{MessageId: aws.String(id)}, nil
	})
}

func (s *SQS) ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	return s.ChangeMessageVisibilityCalls.invoke(ctx, s.Log, write("ChangeMessageVisibility"), in, func(_ context.Context, in *sqs.ChangeMessageVisibilityInput) (*sqs.ChangeMessageVisibilityOutput, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.visibility == nil {
			s.visibility = map[string]int32{}
		}
		s.visibility[aws.ToString(in.ReceiptHandle)] = in.VisibilityTimeout
		return &sqs.ChangeMessageVisibilityOutput{}, nil
	})
}
