// Package worker holds the logic of the SQS worker Lambda: it decodes reconcile requests,
// reconciles each account and reports partial batch failures.
//
// FIFO order: once a message of a message group (an account) fails, the later messages of
// that group in the batch are not processed and are reported as failures too, so that SQS
// redelivers them after the failed one and per-account order holds.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
)

// Reconciler reconciles one account (*reconcile.Reconciler).
type Reconciler interface {
	Reconcile(ctx context.Context, req queue.Request) reconcile.Result
}

// DeadLetterAPI is the part of the SQS client that moves a message to the dead-letter queue.
type DeadLetterAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Worker is the SQS worker.
type Worker struct {
	Reconciler Reconciler
	Log        *slog.Logger
	Metrics    *metrics.Recorder
	ConfigErr  error // if set, every message fails (and so shows in the DLQ after the retries)

	// DeadLetter and DeadLetterURL, when set, receive permanent and needs-person failures at
	// once, with the class and the reason as message attributes; the message is then done.
	// Unset (or if the send fails), such a message fails and SQS moves it after
	// maxReceiveCount receives.
	DeadLetter    DeadLetterAPI
	DeadLetterURL string
}

// Outcomes of one message.
const (
	OutcomeDone     = "done"      // deleted from the queue
	OutcomeRetry    = "retry"     // transient: back to the queue
	OutcomeDLQ      = "dlq"       // permanent or needs a person: back to the queue until maxReceiveCount, then the DLQ
	OutcomeHeldBack = "held-back" // not processed: an earlier message of its group failed
)

const bodyLogLimit = 1024

// Handle processes a batch. It never returns an error: every failure is a batch item failure.
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	defer w.Metrics.Flush()
	var resp events.SQSEventResponse
	failedGroups := map[string]string{} // group -> message id of the first failure
	for _, m := range ev.Records {
		group := m.Attributes["MessageGroupId"]
		fail := func() {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			if group != "" {
				if _, ok := failedGroups[group]; !ok {
					failedGroups[group] = m.MessageId
				}
			}
		}
		if first, ok := failedGroups[group]; ok && group != "" {
			w.log().WarnContext(ctx, "message", "message_id", m.MessageId, "group", group, "account", group,
				"outcome", OutcomeHeldBack, "reason", "message "+first+" of the same group failed earlier in the batch")
			w.Metrics.Outcome("held-back", string(fault.Transient))
			fail()
			continue
		}
		if w.ConfigErr != nil {
			w.log().ErrorContext(ctx, "message", "message_id", m.MessageId, "group", group,
				"outcome", OutcomeRetry, "class", string(fault.Permanent), "reason", "configuration: "+w.ConfigErr.Error())
			fail()
			continue
		}
		if err := ctx.Err(); err != nil {
			w.log().WarnContext(ctx, "message", "message_id", m.MessageId, "group", group,
				"outcome", OutcomeRetry, "class", string(fault.Transient), "reason", "deadline reached before the message: "+err.Error())
			fail()
			continue
		}
		req, err := queue.Decode(m.Body)
		if err != nil {
			body := m.Body
			if len(body) > bodyLogLimit {
				body = body[:bodyLogLimit] + "..."
			}
			w.log().ErrorContext(ctx, "message", "message_id", m.MessageId, "group", group, "account", clip(req.Account),
				"event_id", clip(req.EventID), "replay", clip(req.ReplayName), "outcome", OutcomeDLQ, "class", string(fault.ClassOf(err)),
				"reason", err.Error(), "body", body, "receive_count", m.Attributes["ApproximateReceiveCount"])
			w.Metrics.Outcome("decode", string(fault.Permanent))
			if !w.deadLetter(ctx, m, fault.Permanent, err.Error()) {
				fail()
			}
			continue
		}
		if !w.reconcile(ctx, m, req) {
			fail()
		}
	}
	return resp, nil
}

// reconcile runs one request; it reports whether the message is done.
func (w *Worker) reconcile(ctx context.Context, m events.SQSMessage, req queue.Request) bool {
	start := time.Now()
	res := w.call(ctx, req)
	class := res.Class
	if class == "" {
		class = fault.ClassOf(res.Err)
	}
	outcome, level := OutcomeDone, slog.LevelInfo
	switch class {
	case fault.None:
	case fault.Transient:
		outcome, level = OutcomeRetry, slog.LevelWarn
	default: // permanent, needs-person, or a class this worker does not know
		outcome, level = OutcomeDLQ, slog.LevelError
	}
	reason := res.Reason
	if msg := res.Error; msg == "" && res.Err != nil {
		reason = joinReason(reason, res.Err.Error())
	} else {
		reason = joinReason(reason, msg)
	}
	attrs := []any{
		"message_id", m.MessageId,
		"group", m.Attributes["MessageGroupId"],
		"receive_count", m.Attributes["ApproximateReceiveCount"],
		"account", req.Account,
		"region", res.Region,
		"event_id", req.EventID,
		"replay", req.ReplayName,
		"trigger", req.Trigger,
		"action", string(res.Action),
		"outcome", outcome,
		"class", string(class),
		"reason", reason,
		"dry_run", res.DryRun,
		"status_before", res.StatusBefore,
		"status_after", res.StatusAfter,
		"duration_ms", time.Since(start).Milliseconds(),
	}
	if len(res.Steps) > 0 {
		attrs = append(attrs, "steps", res.Steps)
	}
	if len(res.Changes) > 0 {
		attrs = append(attrs, "changes", res.Changes)
	}
	if res.Trail != nil {
		attrs = append(attrs, "trail", res.Trail)
	}
	w.log().Log(ctx, level, "reconcile", attrs...)
	action := string(res.Action)
	if action == "" {
		action = "unknown"
	}
	w.Metrics.Outcome(action, string(class))
	w.Metrics.Duration(action, time.Since(start))
	if outcome == OutcomeDLQ {
		return w.deadLetter(ctx, m, class, reason)
	}
	return class == fault.None
}

// deadLetter moves a message that retrying cannot fix to the dead-letter queue, with its
// class and reason, and reports whether it did (the message is then done).
func (w *Worker) deadLetter(ctx context.Context, m events.SQSMessage, class fault.Class, reason string) bool {
	if w.DeadLetter == nil || w.DeadLetterURL == "" {
		return false
	}
	group := m.Attributes["MessageGroupId"]
	if group == "" {
		group = "unknown"
	}
	_, err := w.DeadLetter.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:               aws.String(w.DeadLetterURL),
		MessageBody:            aws.String(m.Body),
		MessageGroupId:         aws.String(clip(group)),
		MessageDeduplicationId: aws.String(clip(m.MessageId)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"class":  {DataType: aws.String("String"), StringValue: aws.String(string(class))},
			"reason": {DataType: aws.String("String"), StringValue: aws.String(clipTo(reason, 4096))},
		},
	})
	if err != nil {
		w.log().ErrorContext(ctx, "dead letter", "message_id", m.MessageId, "group", group, "outcome", OutcomeRetry,
			"reason", "could not move the message to the DLQ, SQS redrive will: "+err.Error())
		return false
	}
	w.log().InfoContext(ctx, "dead letter", "message_id", m.MessageId, "group", group, "outcome", OutcomeDLQ,
		"class", string(class), "reason", "moved to the dead-letter queue; redrive it after the fix")
	return true
}

// joinReason appends detail to reason unless it already says it.
func joinReason(reason, detail string) string {
	switch {
	case detail == "" || strings.Contains(reason, detail):
		return reason
	case reason == "":
		return detail
	}
	return reason + ": " + detail
}

// call runs the reconciler, turning a panic into a transient failure (the message is retried
// and ends in the DLQ once its receives are spent).
func (w *Worker) call(ctx context.Context, req queue.Request) (res reconcile.Result) {
	defer func() {
		if p := recover(); p != nil {
			res = reconcile.Result{Account: req.Account, Action: reconcile.ActionFail, Class: fault.Transient,
				Reason: "reconcile panicked", Error: fmt.Sprint(p)}
		}
	}()
	if w.Reconciler == nil {
		return reconcile.Result{Account: req.Account, Action: reconcile.ActionFail, Class: fault.Permanent, Reason: "no reconciler configured"}
	}
	return w.Reconciler.Reconcile(ctx, req)
}

func (w *Worker) log() *slog.Logger {
	if w.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Log
}

// clip bounds a field of a request that did not decode, for the log line.
func clip(s string) string { return clipTo(s, 128) }

func clipTo(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
