package fake

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS is the SQS API the product calls: SendMessageBatch (queue.SQSAPI), SendMessage and
// ChangeMessageVisibility (worker.SQSAPI), ReceiveMessage and DeleteMessage (the operator's
// dead-letter queue). By default it takes every message, except the
// entries of a batch whose message group Refuse names: those come back one by one in the
// output's Failed list while the rest of the batch is taken, as SQS answers a batch (the SDK's
// service/sqs/api_op_SendMessageBatch.go: "For each message in the batch, the response
// contains a SendMessageBatchResultEntry tag if the message succeeds or a
// BatchResultErrorEntry tag if the message fails").
// It keeps no deduplication window: every message taken is kept, duplicates included.
//
// Its queues are FIFO queues as SQS keeps them: ReceiveMessage returns the messages of a
// queue in order, hides each for the visibility timeout asked, and returns no message of a
// message group while an earlier one of that group is in flight, though one call may return
// several of a group (SQS Developer Guide, "FIFO queue delivery logic in Amazon SQS",
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html:
// SQS attempts to return as many messages of the same group ID as possible in one call, and
// returns no more of that group in later calls until those are deleted or visible again);
// DeleteMessage removes a message by its receipt handle.
type SQS struct {
	Log *Log
	Now func() time.Time // nil: time.Now

	SendMessageBatchCalls        Calls[*sqs.SendMessageBatchInput, *sqs.SendMessageBatchOutput]
	SendMessageCalls             Calls[*sqs.SendMessageInput, *sqs.SendMessageOutput]
	ChangeMessageVisibilityCalls Calls[*sqs.ChangeMessageVisibilityInput, *sqs.ChangeMessageVisibilityOutput]
	ReceiveMessageCalls          Calls[*sqs.ReceiveMessageInput, *sqs.ReceiveMessageOutput]
	DeleteMessageCalls           Calls[*sqs.DeleteMessageInput, *sqs.DeleteMessageOutput]

	mu         sync.Mutex
	refused    map[string]sqstypes.BatchResultErrorEntry
	messages   []Message
	visibility map[string]int32
	receipts   int
}

// Message is a message SQS took.
type Message struct {
	QueueURL        string
	ID              string
	Body            string
	GroupID         string
	DeduplicationID string
	Attributes      map[string]sqstypes.MessageAttributeValue

	deleted      bool
	hiddenUntil  time.Time
	receipt      string
	receiveCount int
	sent         time.Time
}

// Deleted reports whether the message was deleted.
func (m Message) Deleted() bool { return m.deleted }

// Add puts a message on a queue, as another sender (or SQS's redrive) would; its id is
// returned.
func (s *SQS) Add(m Message) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.take(m)
}

func (s *SQS) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
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
	m.sent = s.now()
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
		for i := range s.messages {
			if m := &s.messages[i]; m.receipt != "" && m.receipt == aws.ToString(in.ReceiptHandle) && !m.deleted {
				m.hiddenUntil = s.now().Add(time.Duration(in.VisibilityTimeout) * time.Second)
			}
		}
		return &sqs.ChangeMessageVisibilityOutput{}, nil
	})
}

func (s *SQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	return s.ReceiveMessageCalls.invoke(ctx, s.Log, read("ReceiveMessage"), in, func(_ context.Context, in *sqs.ReceiveMessageInput) (*sqs.ReceiveMessageOutput, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		now, url := s.now(), aws.ToString(in.QueueUrl)
		max := int(in.MaxNumberOfMessages)
		if max <= 0 {
			max = 1
		}
		busy := map[string]bool{} // groups with a message in flight before this call
		for _, m := range s.messages {
			if m.QueueURL == url && !m.deleted && m.hiddenUntil.After(now) {
				busy[m.GroupID] = true
			}
		}
		out := &sqs.ReceiveMessageOutput{}
		for i := range s.messages {
			m := &s.messages[i]
			if len(out.Messages) >= max {
				break
			}
			if m.QueueURL != url || m.deleted || m.hiddenUntil.After(now) || (m.GroupID != "" && busy[m.GroupID]) {
				continue
			}
			s.receipts++
			m.receipt = fmt.Sprintf("receipt-%d-%s", s.receipts, m.ID)
			m.receiveCount++
			m.hiddenUntil = now.Add(time.Duration(in.VisibilityTimeout) * time.Second)
			out.Messages = append(out.Messages, sqstypes.Message{
				MessageId: aws.String(m.ID), Body: aws.String(m.Body), ReceiptHandle: aws.String(m.receipt),
				MessageAttributes: m.Attributes,
				Attributes: map[string]string{
					string(sqstypes.MessageSystemAttributeNameMessageGroupId):          m.GroupID,
					string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount): fmt.Sprint(m.receiveCount),
					string(sqstypes.MessageSystemAttributeNameSentTimestamp):           fmt.Sprint(m.sent.UnixMilli()),
				},
			})
		}
		return out, nil
	})
}

func (s *SQS) DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	return s.DeleteMessageCalls.invoke(ctx, s.Log, write("DeleteMessage"), in, func(_ context.Context, in *sqs.DeleteMessageInput) (*sqs.DeleteMessageOutput, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i := range s.messages {
			if m := &s.messages[i]; m.receipt != "" && m.receipt == aws.ToString(in.ReceiptHandle) && m.QueueURL == aws.ToString(in.QueueUrl) {
				m.deleted = true
				return &sqs.DeleteMessageOutput{}, nil
			}
		}
		// SQS answers ReceiptHandleIsInvalid for a handle it did not issue for the queue
		// (the SDK's service/sqs/types/errors.go).
		return nil, &sqstypes.ReceiptHandleIsInvalid{Message: aws.String("The input receipt handle is invalid.")}
	})
}

// Queue returns the messages of a queue that are not deleted, in order.
func (s *SQS) Queue(url string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if m.QueueURL == url && !m.deleted {
			out = append(out, m)
		}
	}
	return out
}
