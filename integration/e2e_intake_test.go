//go:build integration

package integration

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
)

// An intake event that cannot be handled is not lost: the account vending Lambda fails while
// the reconcile queue refuses its requests, Lambda retries the event as its EventInvokeConfig
// says (MaximumRetryAttempts 2 in deploy/template.yaml), and then its invocation record lands
// in the intake dead-letter queue, the event inside, as Lambda's OnFailure destination does.
func TestE2EIntakeDeadLetter(t *testing.T) {
	w := newWorld(t, worldOpts{})
	for _, action := range []string{"SendMessage", "SendMessageBatch"} {
		w.h.Faults.Add(proxy.Rule{Service: "sqs", Action: action, Resource: localworld.QueueName,
			Fault: proxy.AccessDenied{Reason: "the reconcile queue refuses every request in this test"}})
	}
	a := w.org.Account("work-a")
	st := w.onboard(a)
	if n := st.Invocations["accountvending"]; n != 1+w.env.IntakeRetries["accountvending"] {
		t.Errorf("account vending invoked %d times, want 1 + %d retries", n, w.env.IntakeRetries["accountvending"])
	}
	out, err := sqs.NewFromConfig(w.env.Central()).ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(w.env.IntakeDLQURL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("%d messages in the intake dead-letter queue, want the one event", len(out.Messages))
	}
	var rec struct {
		RequestContext struct {
			FunctionArn            string `json:"functionArn"`
			Condition              string `json:"condition"`
			ApproximateInvokeCount int    `json:"approximateInvokeCount"`
		} `json:"requestContext"`
		RequestPayload struct {
			DetailType string `json:"detail-type"`
			Detail     struct {
				ServiceEventDetails json.RawMessage `json:"serviceEventDetails"`
			} `json:"detail"`
		} `json:"requestPayload"`
		ResponsePayload struct {
			ErrorMessage string `json:"errorMessage"`
		} `json:"responsePayload"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &rec); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(rec.RequestContext.FunctionArn, ":function:accountvending:$LATEST") || rec.RequestContext.Condition != "RetriesExhausted" ||
		rec.RequestContext.ApproximateInvokeCount != 1+w.env.IntakeRetries["accountvending"] {
		t.Errorf("request context %+v", rec.RequestContext)
	}
	if rec.RequestPayload.DetailType != "AWS Service Event via CloudTrail" || !strings.Contains(string(rec.RequestPayload.Detail.ServiceEventDetails), a.ID) {
		t.Errorf("the record does not carry the event of %s: %+v", a.ID, rec.RequestPayload)
	}
	if !strings.Contains(rec.ResponsePayload.ErrorMessage, "AccessDenied") {
		t.Errorf("the record does not say why: %q", rec.ResponsePayload.ErrorMessage)
	}
	if got := w.stacksEverywhere(a.ID, stackName); len(got) > 0 {
		t.Errorf("%s got a stack though its request never reached the queue: %v", a.Name, got)
	}
}
