// Package worker holds the logic of the SQS worker Lambda: it decodes reconcile requests,
// takes one reconcile step per account and tells SQS when to bring each request back.
//
// A batch of the FIFO queue holds messages of one or more message groups (accounts). The
// groups run in parallel; the messages of one group are one account's requests in order, and
// since a reconcile looks at the account as it is, they are merged into one pass: the first
// message carries it, the later ones share its fate: deleted (absorbed) when it is done,
// back to the queue with it when it comes back, to be merged again then (the carrier's body
// alone does not say what they asked, an operator's --retry-failed for one).
//
// Nothing waits for CloudFormation inside an invocation. A pass that started a stack
// operation, or saw one under way, or waits for its start slot, returns its message as a
// batch item failure after setting the message's visibility to when it should come back
// (ChangeMessageVisibility): SQS delivers it again then, and meanwhile the FIFO group is
// blocked, so one account is never worked on twice at once while other accounts go on.
// Coming back does not count as a failure: transient failures are counted in the ledger, and
// after ONBOARDER_MAX_FAILURES in a row the request is dead-lettered with its reason; the
// queue's redrive (maxReceiveCount) is only the last resort for messages the worker could
// not handle at all (a crash, a timeout).
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
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

// SQSAPI is the part of the SQS client the worker uses: the dead-letter queue, and the
// visibility of a message that must come back later.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Worker is the SQS worker.
type Worker struct {
	Reconciler Reconciler
	// Operator answers the operator command's direct invocations (Invoke); nil: none.
	Operator  Operator
	Log       *slog.Logger
	Metrics   *metrics.Recorder
	ConfigErr error // if set, every message fails (and so shows in the DLQ after the retries)

	// SQS and QueueURL set the visibility of messages that come back later; without them such
	// messages come back after the queue's visibility timeout.
	SQS      SQSAPI
	QueueURL string
	// DeadLetterURL, when set, receives permanent and needs-person failures at once, with the
	// class and the reason as message attributes; the message is then done. Unset (or if the
	// send fails), such a message fails and SQS moves it after maxReceiveCount receives.
	DeadLetterURL string
	// Parallel bounds the groups of a batch worked on at once (default 10, the batch size).
	Parallel int
	// Margin is the time kept free before the invocation's deadline: a group not started by
	// then goes back to the queue at once (default 15 s).
	Margin time.Duration
}

// Outcomes of one message: the pass's (reconcile.Outcome), and the worker's own.
const (
	OutcomeDone     = string(reconcile.OutcomeDone)  // deleted from the queue
	OutcomeLater    = string(reconcile.OutcomeLater) // comes back after the delay the pass asked for (not a failure)
	OutcomeRetry    = string(reconcile.OutcomeRetry) // transient failure: comes back after a back-off
	OutcomeDLQ      = string(reconcile.OutcomeDLQ)   // permanent, needs a person, or too many failures: moved to the DLQ
	OutcomeAbsorbed = "absorbed"                     // merged into the pass of an earlier message of its group
	OutcomeHeldBack = "held-back"                    // not processed: no time left in this invocation
)

const bodyLogLimit = 1024

// Handle processes a batch, then writes its metrics. It never returns an error: every failure
// is a batch item failure.
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	resp := w.handle(ctx, ev)
	w.Metrics.Flush()
	return resp, nil
}

func (w *Worker) handle(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
	groups := groupsOf(ev.Records)
	failed := make([][]string, len(groups))
	sem := make(chan struct{}, max(w.Parallel, 1))
	if w.Parallel == 0 {
		sem = make(chan struct{}, 10)
	}
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			failed[i] = w.group(ctx, g)
		}()
	}
	wg.Wait()
	var resp events.SQSEventResponse
	for _, ids := range failed {
		for _, id := range ids {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		}
	}
	return resp
}

// groupsOf splits a batch by message group, in order of first appearance; messages without a
// group are groups of their own.
func groupsOf(ms []events.SQSMessage) [][]events.SQSMessage {
	var out [][]events.SQSMessage
	index := map[string]int{}
	for _, m := range ms {
		g := m.Attributes["MessageGroupId"]
		if i, ok := index[g]; ok && g != "" {
			out[i] = append(out[i], m)
			continue
		}
		index[g] = len(out)
		out = append(out, []events.SQSMessage{m})
	}
	return out
}

func (w *Worker) margin() time.Duration {
	if w.Margin > 0 {
		return w.Margin
	}
	return 15 * time.Second
}

// group runs one account's messages and returns the ids of those that go back to the queue.
func (w *Worker) group(ctx context.Context, ms []events.SQSMessage) []string {
	var failed []string
	fail := func(m events.SQSMessage) { failed = append(failed, m.MessageId) }
	group := ms[0].Attributes["MessageGroupId"]
	if w.ConfigErr != nil {
		for _, m := range ms {
			w.log().ErrorContext(ctx, "message", "message_id", m.MessageId, "group", group,
				"outcome", OutcomeRetry, "class", string(fault.Permanent), "reason", "configuration: "+w.ConfigErr.Error())
			fail(m)
		}
		return failed
	}
	if dl, ok := ctx.Deadline(); (ok && time.Until(dl) < w.margin()) || ctx.Err() != nil {
		for _, m := range ms {
			w.log().WarnContext(ctx, "message", "message_id", m.MessageId, "group", group, "account", group,
				"outcome", OutcomeHeldBack, "reason", "too little time left in this invocation: back to the queue")
			w.Metrics.Outcome("held-back", string(fault.Transient))
			w.later(ctx, m, time.Second)
			fail(m)
		}
		return failed
	}
	var carrier *events.SQSMessage
	var reqs []queue.Request
	var absorbed []events.SQSMessage
	for i := range ms {
		m := ms[i]
		req, err := queue.Decode(m.Body)
		if err != nil {
			w.badMessage(ctx, m, req, err, fail)
			continue
		}
		if carrier == nil {
			carrier = &ms[i]
		} else {
			absorbed = append(absorbed, m)
		}
		reqs = append(reqs, req)
	}
	if carrier == nil {
		return failed
	}
	req := merge(reqs)
	if rc := carrier.Attributes["ApproximateReceiveCount"]; rc != "" && rc != "1" {
		// The digest describes the entry when the request was made; the request's own
		// earlier passes may have changed the entry since (a failure counted, a slot).
		req.LedgerDigest = ""
	}
	done, back := w.reconcile(ctx, *carrier, req, len(absorbed))
	if !done {
		fail(*carrier)
	}
	for _, m := range absorbed {
		if !done {
			w.log().InfoContext(ctx, "message", "message_id", m.MessageId, "group", group, "account", req.Account,
				"outcome", OutcomeLater, "reason", "merged into the pass of message "+carrier.MessageId+" of the same account; comes back with it")
			if back > 0 {
				w.later(ctx, m, back)
			}
			fail(m)
			continue
		}
		w.log().InfoContext(ctx, "message", "message_id", m.MessageId, "group", group, "account", req.Account,
			"outcome", OutcomeAbsorbed, "reason", "merged into the pass of message "+carrier.MessageId+" of the same account")
	}
	return failed
}

// merge makes one request of an account's requests in a batch: the first one's identity
// (its tokens, its place), the reasons of all, and RetryFailed if any asked for it.
func merge(reqs []queue.Request) queue.Request {
	out := reqs[0]
	if len(reqs) == 1 {
		return out
	}
	out.LedgerDigest = "" // the requests may have read different entries
	var reasons []string
	for _, r := range reqs {
		out.RetryFailed = out.RetryFailed || r.RetryFailed
		if out.AccountSince.IsZero() || (!r.AccountSince.IsZero() && r.AccountSince.After(out.AccountSince)) {
			out.AccountSince = r.AccountSince
		}
		if r.Reason != "" && !contains(reasons, r.Reason) {
			reasons = append(reasons, r.Reason)
		}
	}
	out.Reason = strings.Join(reasons, "; ")
	// The account's requests are in order: the last one says whether it is in scope now.
	out.Offboard = reqs[len(reqs)-1].Offboard
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (w *Worker) badMessage(ctx context.Context, m events.SQSMessage, req queue.Request, err error, fail func(events.SQSMessage)) {
	body := m.Body
	if len(body) > bodyLogLimit {
		body = body[:bodyLogLimit] + "..."
	}
	w.log().ErrorContext(ctx, "message", "message_id", m.MessageId, "group", m.Attributes["MessageGroupId"], "account", clip(req.Account),
		"event_id", clip(req.EventID), "replay", clip(req.ReplayName), "outcome", OutcomeDLQ, "class", string(fault.ClassOf(err)),
		"reason", err.Error(), "body", body, "receive_count", m.Attributes["ApproximateReceiveCount"])
	w.Metrics.Outcome("decode", string(fault.Permanent))
	if !w.deadLetter(ctx, m, fault.Permanent, err.Error()) {
		fail(m)
	}
}

// reconcile runs one pass and carries out what the pass decided for its request; it reports
// whether the message is done (deleted), and if not, when it comes back (0: after the queue's
// visibility timeout). The worker decides nothing about the account: the result's Outcome
// says done, later, retry or dead-letter, and RetryAfter when.
func (w *Worker) reconcile(ctx context.Context, m events.SQSMessage, req queue.Request, absorbed int) (done bool, back time.Duration) {
	start := time.Now()
	res := w.call(ctx, req)
	class := res.Class
	if class == "" {
		class = fault.ClassOf(res.Err)
	}
	outcome := string(res.Outcome)
	level := map[string]slog.Level{OutcomeDone: slog.LevelInfo, OutcomeLater: slog.LevelInfo, OutcomeRetry: slog.LevelWarn, OutcomeDLQ: slog.LevelError}[outcome]
	if res.AlreadyReported {
		level = slog.LevelWarn
	}
	reason := res.Reason
	if msg := res.Error; msg == "" && res.Err != nil {
		reason = joinReason(reason, res.Err.Error())
	} else {
		reason = joinReason(reason, msg)
	}
	switch outcome {
	case OutcomeDone, OutcomeLater, OutcomeRetry, OutcomeDLQ:
	default:
		// A result that says nothing of its request (a reconciler's bug): try again later,
		// so that the queue's redrive moves it once its receives are spent.
		outcome, level = OutcomeRetry, slog.LevelWarn
		reason = joinReason(fmt.Sprintf("the pass said nothing of its request (outcome %q)", res.Outcome), reason)
	}
	if res.GiveUp {
		reason = fmt.Sprintf("gave up after %d transient failures in a row (ONBOARDER_MAX_FAILURES): %s", res.Failures, reason)
	}
	if res.AlreadyReported {
		reason = "still needs a person (already reported): " + reason
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
		"row", res.Row,
		"duration_ms", time.Since(start).Milliseconds(),
	}
	if res.RetryAfter > 0 && outcome != OutcomeDLQ {
		attrs = append(attrs, "retry_after_s", int(math.Ceil(res.RetryAfter.Seconds())))
	}
	if absorbed > 0 {
		attrs = append(attrs, "absorbed", absorbed)
	}
	if res.Failures > 0 {
		attrs = append(attrs, "failures", res.Failures)
	}
	if len(res.Steps) > 0 {
		attrs = append(attrs, "steps", res.Steps)
	}
	if len(res.Changes) > 0 {
		attrs = append(attrs, "changes", res.Changes)
	}
	if res.Failed != nil {
		attrs = append(attrs, "failed_resource", res.Failed)
	}
	if res.Via != "" {
		attrs = append(attrs, "via", res.Via)
	}
	if res.Trail != nil {
		attrs = append(attrs, "trail", res.Trail)
	}
	if v := res.View; v != nil {
		// What the vendor said of the account in this pass (Vision One: managed, outdated,
		// failed), the ground of a decision about an account in sync.
		attrs = append(attrs, "view", viewLog{Found: v.Found, State: v.State, TemplateVersion: v.TemplateVersion, Problems: v.Problems})
	}
	if res.Offboard != "" {
		attrs = append(attrs, "offboard", res.Offboard)
	}
	if res.Left != "" {
		// What an offboarding left behind is for a person to remove: a warning.
		attrs = append(attrs, "left", res.Left)
		level = max(level, slog.LevelWarn)
	}
	w.log().Log(ctx, level, "reconcile", attrs...)
	action := string(res.Action)
	if action == "" {
		action = "unknown"
	}
	w.Metrics.Outcome(action, string(class))
	w.Metrics.Duration(action, time.Since(start))
	switch outcome {
	case OutcomeDLQ:
		return w.deadLetter(ctx, m, class, reason), 0
	case OutcomeLater, OutcomeRetry:
		d := res.RetryAfter
		if d <= 0 {
			d = 30 * time.Second // a pass that asked for no delay (a panic): not at once
		}
		w.later(ctx, m, d)
		return false, d
	}
	return true, 0
}

// later sets when a message that goes back to the queue is delivered again. If that fails,
// it comes back after the queue's visibility timeout.
func (w *Worker) later(ctx context.Context, m events.SQSMessage, d time.Duration) {
	if w.SQS == nil || w.QueueURL == "" || m.ReceiptHandle == "" {
		return
	}
	secs := int32(min(max(math.Ceil(d.Seconds()), 0), 43200))
	_, err := w.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(w.QueueURL), ReceiptHandle: aws.String(m.ReceiptHandle), VisibilityTimeout: secs,
	})
	if err != nil {
		w.log().WarnContext(ctx, "visibility", "message_id", m.MessageId, "group", m.Attributes["MessageGroupId"],
			"reason", "could not set when the message comes back; it comes back after the queue's visibility timeout: "+err.Error())
	}
}

// deadLetter moves a message that retrying cannot fix to the dead-letter queue, with its
// class and reason, and reports whether it did (the message is then done).
func (w *Worker) deadLetter(ctx context.Context, m events.SQSMessage, class fault.Class, reason string) bool {
	if w.SQS == nil || w.DeadLetterURL == "" {
		return false
	}
	group := m.Attributes["MessageGroupId"]
	if group == "" {
		group = "unknown"
	}
	_, err := w.SQS.SendMessage(ctx, &sqs.SendMessageInput{
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
				Reason: "reconcile panicked", Error: fmt.Sprint(p), Outcome: reconcile.OutcomeRetry}
		}
	}()
	if w.Reconciler == nil {
		return reconcile.Result{Account: req.Account, Action: reconcile.ActionFail, Class: fault.Permanent, Reason: "no reconciler configured", Outcome: reconcile.OutcomeDLQ}
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

// viewLog is the vendor's view of an account in a reconcile line: found or not, its state, the
// version of its template the account runs, and what it says is wrong, in its words.
type viewLog struct {
	Found           bool     `json:"found"`
	State           string   `json:"state,omitempty"`
	TemplateVersion string   `json:"templateVersion,omitempty"`
	Problems        []string `json:"problems,omitempty"`
}
