package localworld

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func secondsDuration(s int) time.Duration { return time.Duration(s) * time.Second }

// Pump carries messages the way Lambda's event sources would: each message an EventBridge rule
// delivered to an intake queue goes to its intake Lambda as the event itself; reconcile
// requests go to the reconcile Lambda in SQS batches, and the ones that succeeded are deleted
// while failures become visible again after the visibility timeout (and reach the DLQ after
// maxReceiveCount receives).
type Pump struct {
	SQS          *sqs.Client
	Region       string
	Account      string             // the queues' account (the install account)
	Intake       map[string]Invoker // handler -> function
	IntakeQueues map[string]string  // handler -> queue URL
	// IntakeRetries is each intake handler's MaximumRetryAttempts, IntakeDLQURL its OnFailure
	// destination (deploy/template.yaml's EventInvokeConfig): an event whose invocations all
	// failed goes there, never silently away.
	IntakeRetries        map[string]int
	IntakeDLQURL         string
	Reconcile            Invoker
	ReconcileQueueURL    string
	ReconcileConcurrency int
	BatchSize            int32 // default 10
	// OnDeliver, if set, sees every message body handed to a function (intake events and
	// reconcile requests), before the invocation.
	OnDeliver func(handler, body string)
}

// Stats counts what a Drain did.
type Stats struct {
	Invocations    map[string]int // by handler
	Delivered      map[string]int // messages handed over, by handler
	FunctionErrors []error        // function errors, in order
	ItemFailures   int            // reconcile batch items reported as failed
	Deleted        int            // reconcile messages deleted after success
}

func (s *Stats) add(o Stats) {
	for k, v := range o.Invocations {
		s.Invocations[k] += v
	}
	for k, v := range o.Delivered {
		s.Delivered[k] += v
	}
	s.FunctionErrors = append(s.FunctionErrors, o.FunctionErrors...)
	s.ItemFailures += o.ItemFailures
	s.Deleted += o.Deleted
}

func newStats() Stats { return Stats{Invocations: map[string]int{}, Delivered: map[string]int{}} }

// Drain pumps until every queue is empty with nothing in flight, or ctx ends (default
// deadline 3 minutes). It returns the stats and ctx's error if it did not get idle.
func (p *Pump) Drain(ctx context.Context) (Stats, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
	}
	total := newStats()
	quiet := 0 // idle reads in a row, with nothing received between them
	for {
		got := 0
		for h, url := range p.IntakeQueues {
			n, st, err := p.intake(ctx, h, url)
			total.add(st)
			if err != nil {
				return total, err
			}
			got += n
		}
		n, st, err := p.reconcile(ctx)
		total.add(st)
		if err != nil {
			return total, err
		}
		got += n
		if got > 0 {
			quiet = 0
			continue
		}
		idle, err := p.idle(ctx)
		if err != nil {
			return total, err
		}
		wait := 200 * time.Millisecond // messages are in flight (a request waits to come back)
		if idle {
			quiet++
			if quiet == 2 {
				return total, nil
			}
			// One idle read is not enough: moto counts ApproximateNumberOfMessages before
			// ApproximateNumberOfMessagesNotVisible (BASE_ATTRIBUTES in moto/sqs/models.py), so
			// a message whose visibility ends between the two is in neither; on AWS both are
			// approximate too. A second read after a receive finds it.
			wait = 50 * time.Millisecond
		} else {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return total, fmt.Errorf("pump: queues not idle: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
}

func (p *Pump) receive(ctx context.Context, url string) ([]sqstypes.Message, error) {
	bs := p.BatchSize
	if bs == 0 {
		bs = 10
	}
	out, err := p.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), MaxNumberOfMessages: bs, WaitTimeSeconds: 0,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
	})
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", url, err)
	}
	return out.Messages, nil
}

func (p *Pump) intake(ctx context.Context, handler, url string) (int, Stats, error) {
	st := newStats()
	fn := p.Intake[handler]
	msgs, err := p.receive(ctx, url)
	if err != nil || len(msgs) == 0 {
		return 0, st, err
	}
	if fn == nil {
		return 0, st, fmt.Errorf("pump: no Lambda for handler %s", handler)
	}
	for _, m := range msgs {
		st.Invocations[handler]++
		st.Delivered[handler]++
		if p.OnDeliver != nil {
			p.OnDeliver(handler, aws.ToString(m.Body))
		}
		_, ferr, err := fn.Invoke(ctx, []byte(aws.ToString(m.Body)))
		if err != nil {
			return len(msgs), st, err
		}
		if ferr != nil {
			st.FunctionErrors = append(st.FunctionErrors, fmt.Errorf("%s: %w", handler, ferr))
			// Lambda retries a failed asynchronous invocation MaximumRetryAttempts times, then
			// sends an invocation record to the OnFailure destination (Lambda developer guide,
			// "Retaining records of asynchronous invocations"): here the event comes back from its
			// queue for each retry, and then goes to the intake dead-letter queue.
			if rc, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"]); rc <= p.IntakeRetries[handler] {
				continue
			}
			if err := p.deadLetterIntake(ctx, handler, m, ferr); err != nil {
				return len(msgs), st, err
			}
		}
		if _, err := p.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
			return len(msgs), st, fmt.Errorf("delete from %s: %w", url, err)
		}
	}
	return len(msgs), st, nil
}

// deadLetterIntake sends the invocation record of an intake event whose invocations all failed
// to the intake dead-letter queue. The record has the fields of Lambda's invocation record
// (Lambda developer guide, "Retaining records of asynchronous invocations", the example record):
// the local world has no request id of Lambda's, and gives the SQS message's.
func (p *Pump) deadLetterIntake(ctx context.Context, handler string, m sqstypes.Message, ferr error) error {
	if p.IntakeDLQURL == "" {
		return fmt.Errorf("pump: %s failed for good and there is no intake dead-letter queue: %w", handler, ferr)
	}
	rc, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	var payload any = json.RawMessage(aws.ToString(m.Body))
	if !json.Valid([]byte(aws.ToString(m.Body))) {
		payload = aws.ToString(m.Body)
	}
	var fe *FunctionError
	response := map[string]string{"errorMessage": ferr.Error(), "errorType": "Unhandled"}
	if errors.As(ferr, &fe) {
		response = map[string]string{"errorMessage": fe.Message, "errorType": fe.Type}
	}
	record, err := json.Marshal(map[string]any{
		"version":   "1.0",
		"timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"requestContext": map[string]any{"requestId": aws.ToString(m.MessageId),
			"functionArn": "arn:aws:lambda:" + p.Region + ":" + p.Account + ":function:" + handler + ":$LATEST",
			"condition":   "RetriesExhausted", "approximateInvokeCount": rc},
		"requestPayload":  payload,
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"responsePayload": response,
	})
	if err != nil {
		return err
	}
	if _, err := p.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(p.IntakeDLQURL), MessageBody: aws.String(string(record))}); err != nil {
		return fmt.Errorf("send the failed %s event to the intake dead-letter queue: %w", handler, err)
	}
	return nil
}

// reconcile receives batches (as many as there are reconcile instances) and invokes them
// concurrently.
func (p *Pump) reconcile(ctx context.Context) (int, Stats, error) {
	st := newStats()
	if p.ReconcileQueueURL == "" {
		return 0, st, nil
	}
	conc := max(p.ReconcileConcurrency, 1)
	var batches [][]sqstypes.Message
	for range conc {
		msgs, err := p.receive(ctx, p.ReconcileQueueURL)
		if err != nil {
			return 0, st, err
		}
		if len(msgs) == 0 {
			break
		}
		batches = append(batches, msgs)
	}
	if len(batches) == 0 {
		return 0, st, nil
	}
	if p.Reconcile == nil {
		return 0, st, errors.New("pump: no reconcile Lambda")
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	n := 0
	for _, b := range batches {
		n += len(b)
		wg.Add(1)
		go func() {
			defer wg.Done()
			bst, err := p.reconcileBatch(ctx, b)
			mu.Lock()
			defer mu.Unlock()
			st.add(bst)
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	return n, st, firstErr
}

// SQSEvent is the event Lambda's SQS event source gives the function for msgs.
func (p *Pump) SQSEvent(msgs []sqstypes.Message) events.SQSEvent {
	var ev events.SQSEvent
	for _, m := range msgs {
		attrs := map[string]string{}
		for k, v := range m.Attributes {
			attrs[k] = v
		}
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId:         aws.ToString(m.MessageId),
			ReceiptHandle:     aws.ToString(m.ReceiptHandle),
			Body:              aws.ToString(m.Body),
			Md5OfBody:         aws.ToString(m.MD5OfBody),
			Attributes:        attrs,
			MessageAttributes: map[string]events.SQSMessageAttribute{},
			EventSource:       "aws:sqs",
			EventSourceARN:    "arn:aws:sqs:" + p.Region + ":" + p.Account + ":" + QueueName,
			AWSRegion:         p.Region,
		})
	}
	return ev
}

func (p *Pump) reconcileBatch(ctx context.Context, msgs []sqstypes.Message) (Stats, error) {
	st := newStats()
	st.Invocations["reconcile"]++
	st.Delivered["reconcile"] += len(msgs)
	if p.OnDeliver != nil {
		for _, m := range msgs {
			p.OnDeliver("reconcile", aws.ToString(m.Body))
		}
	}
	payload, _ := json.Marshal(p.SQSEvent(msgs))
	resp, ferr, err := p.Reconcile.Invoke(ctx, payload)
	if err != nil {
		return st, err
	}
	failed := map[string]bool{}
	if ferr != nil {
		st.FunctionErrors = append(st.FunctionErrors, fmt.Errorf("reconcile: %w", ferr))
		for _, m := range msgs {
			failed[aws.ToString(m.MessageId)] = true
		}
	} else {
		var r events.SQSEventResponse
		if len(resp) > 0 && string(resp) != "null" {
			if err := json.Unmarshal(resp, &r); err != nil {
				return st, fmt.Errorf("reconcile: response is not an SQSEventResponse: %w", err)
			}
		}
		for _, f := range r.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		st.ItemFailures += len(r.BatchItemFailures)
	}
	for _, m := range msgs {
		if failed[aws.ToString(m.MessageId)] {
			continue
		}
		if _, err := p.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(p.ReconcileQueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
			return st, fmt.Errorf("delete reconcile message: %w", err)
		}
		st.Deleted++
	}
	return st, nil
}

// idle reports whether every queue is empty with nothing in flight.
func (p *Pump) idle(ctx context.Context) (bool, error) {
	urls := []string{}
	for _, u := range p.IntakeQueues {
		urls = append(urls, u)
	}
	if p.ReconcileQueueURL != "" {
		urls = append(urls, p.ReconcileQueueURL)
	}
	for _, u := range urls {
		out, err := p.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
				sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
				sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
		if err != nil {
			return false, fmt.Errorf("queue attributes of %s: %w", u, err)
		}
		for _, a := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"} {
			if v := out.Attributes[a]; v != "0" && v != "" {
				return false, nil
			}
		}
	}
	return true, nil
}
