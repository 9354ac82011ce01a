package queue

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

type fakeSQS struct {
	mu      sync.Mutex
	batches int
	sent    map[string]bool
	reject  string // the account whose entry SQS refuses
}

func (f *fakeSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches++
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if aws.ToString(e.MessageGroupId) == f.reject {
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("try again")})
			continue
		}
		f.sent[aws.ToString(e.MessageGroupId)] = true
	}
	return out, nil
}

// Batches go out in parallel, and a refused entry is named by its own account.
func TestSendNamesRefusedEntries(t *testing.T) {
	var reqs []Request
	for i := range 25 {
		reqs = append(reqs, Request{Account: fmt.Sprintf("%012d", 100+i), Trigger: "sweep", EventID: "e", Reason: "daily sweep"})
	}
	f := &fakeSQS{sent: map[string]bool{}, reject: reqs[13].Account}
	err := (&Sender{SQS: f, QueueURL: "q"}).Send(context.Background(), reqs)
	if err == nil || !strings.Contains(err.Error(), reqs[13].Account) || strings.Count(err.Error(), "enqueue reconcile request") != 1 {
		t.Fatalf("error %v, want one naming %s", err, reqs[13].Account)
	}
	if f.batches != 3 || len(f.sent) != 24 {
		t.Errorf("%d batches, %d accounts sent; want 3 and 24", f.batches, len(f.sent))
	}
}
