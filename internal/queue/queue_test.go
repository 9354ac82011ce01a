package queue_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// Batches go out in parallel, and a refused entry is named by its own account. SQS refusing
// one entry of a batch is a fake's: no emulator refuses on demand.
func TestSendNamesRefusedEntries(t *testing.T) {
	var reqs []queue.Request
	for i := range 25 {
		reqs = append(reqs, queue.Request{Account: fmt.Sprintf("%012d", 100+i), Trigger: "sweep", EventID: "e", Reason: "daily sweep"})
	}
	f := &fake.SQS{}
	f.Refuse(reqs[13].Account, sqstypes.BatchResultErrorEntry{Code: aws.String("InternalError"), Message: aws.String("try again")})
	err := (&queue.Sender{SQS: f, QueueURL: "q"}).Send(context.Background(), reqs)
	if err == nil || !strings.Contains(err.Error(), reqs[13].Account) || strings.Count(err.Error(), "enqueue reconcile request") != 1 {
		t.Fatalf("error %v, want one naming %s", err, reqs[13].Account)
	}
	sent := map[string]bool{}
	for _, m := range f.Messages() {
		sent[m.GroupID] = true
	}
	if f.SendMessageBatchCalls.Count() != 3 || len(sent) != 24 {
		t.Errorf("%d batches, %d accounts sent; want 3 and 24", f.SendMessageBatchCalls.Count(), len(sent))
	}
}
