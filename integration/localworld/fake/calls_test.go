package fake_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
)

// A call answers the queued errors first, one each, then the standing one, then the
// override, then the canned output, then the default; every input is recorded, failed or not.
func TestCallsAnswerInOrder(t *testing.T) {
	s := &fake.SQS{}
	send := func(group string) error {
		_, err := s.SendMessage(ctx, &sqs.SendMessageInput{MessageGroupId: aws.String(group)})
		return err
	}
	first, second, always := errors.New("first"), errors.New("second"), errors.New("always")
	s.SendMessageCalls.Fail(first, second)
	s.SendMessageCalls.FailAlways(always)
	for i, want := range []error{first, second, always} {
		if err := send(fmt.Sprint(i)); err != want {
			t.Fatalf("call %d: %v, want %v", i, err, want)
		}
	}
	s.SendMessageCalls.FailAlways(nil)
	s.SendMessageCalls.Return(&sqs.SendMessageOutput{MessageId: aws.String("canned")})
	if out, err := s.SendMessage(ctx, &sqs.SendMessageInput{MessageGroupId: aws.String("3")}); err != nil || aws.ToString(out.MessageId) != "canned" {
		t.Fatalf("canned output: %v %v", out, err)
	}
	s.SendMessageCalls.Do(func(context.Context, *sqs.SendMessageInput) (*sqs.SendMessageOutput, error) {
		return &sqs.SendMessageOutput{MessageId: aws.String("override")}, nil
	})
	if out, _ := s.SendMessage(ctx, &sqs.SendMessageInput{MessageGroupId: aws.String("4")}); aws.ToString(out.MessageId) != "override" {
		t.Fatalf("the override does not come before the canned output: %v", aws.ToString(out.MessageId))
	}
	if len(s.Messages()) != 0 {
		t.Fatalf("the default ran: %v", s.Messages())
	}
	groups := func(ins []*sqs.SendMessageInput) (out []string) {
		for _, in := range ins {
			out = append(out, aws.ToString(in.MessageGroupId))
		}
		return out
	}
	if got := groups(s.SendMessageCalls.Inputs()); !slices.Equal(got, []string{"0", "1", "2", "3", "4"}) || s.SendMessageCalls.Count() != 5 {
		t.Fatalf("inputs %v", got)
	}
	if got := groups(s.SendMessageCalls.Succeeded()); !slices.Equal(got, []string{"3", "4"}) || aws.ToString(s.SendMessageCalls.Last().MessageGroupId) != "4" {
		t.Fatalf("succeeded %v", got)
	}
}

// Calls from many goroutines are all recorded, and each queued error is answered once.
func TestCallsConcurrent(t *testing.T) {
	s := &fake.SQS{Log: &fake.Log{}}
	s.SendMessageBatchCalls.Fail(errors.New("once"))
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for i := range 50 {
		wg.Go(func() {
			_, err := s.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{Entries: []sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("0"), MessageGroupId: aws.String(fmt.Sprint(i))}}})
			if err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if s.SendMessageBatchCalls.Count() != 50 || len(s.SendMessageBatchCalls.Succeeded()) != 49 || failed != 1 || len(s.Messages()) != 49 || s.Log.Len() != 50 {
		t.Fatalf("%d calls, %d succeeded, %d failed, %d messages, %d logged", s.SendMessageBatchCalls.Count(), len(s.SendMessageBatchCalls.Succeeded()), failed, len(s.Messages()), s.Log.Len())
	}
}
