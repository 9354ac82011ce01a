package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/olekukonko/tablewriter"
	"github.com/spf13/cobra"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// The dead-letter queue holds two kinds of messages (docs/ARCHITECTURE.md, section 6):
//   - the worker's own: a request that is permanent or needs a person is sent there at once
//     (SendMessage), with the message attributes class and reason;
//   - SQS's: a request received MaxReceiveCount times without being deleted (the worker
//     could not handle it at all) is moved by the queue's redrive policy, with no attribute
//     of the worker's.
// SQS's own redrive (StartMessageMoveTask) moves only messages that a source queue moved to
// the DLQ: "This action is currently limited to supporting message redrive from queues that
// are configured as dead-letter queues (DLQs) of other Amazon SQS queues only" (SQS API
// Reference, StartMessageMoveTask,
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html);
// the worker's own dead letters have no source queue. So the command reads the DLQ itself and
// sends each message back to the reconcile queue, which works for both kinds.

// dlqVisibility is how long a message read from the DLQ stays hidden while the command works
// on it; the command makes it visible again when it leaves it there.
const dlqVisibility = 60

// deadLetter is one message of the DLQ, as dlq list shows it.
type deadLetter struct {
	MessageID string `json:"messageId"`
	Account   string `json:"account"`
	Class     string `json:"class"`             // the worker's: permanent, needs-person; "" when SQS moved it
	Reason    string `json:"reason"`            // the worker's, or what SQS's move means
	Trigger   string `json:"trigger,omitempty"` // the request's
	Request   string `json:"request,omitempty"` // the request's reason
	Sent      string `json:"sent,omitempty"`    // RFC3339: when the message reached the DLQ
	Receives  int    `json:"receives"`          // ApproximateReceiveCount
	Decodes   bool   `json:"decodes"`           // the body is a request this command reads

	body, receipt, group string
}

// movedBySQS is the reason shown for a message SQS moved there.
const movedBySQS = "moved by SQS after MaxReceiveCount receives: the worker could not handle it (see its log)"

func (a *app) dlqCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq list|redrive",
		Short: "See the reconcile dead-letter queue and send its requests back",
		Long: `The reconcile dead-letter queue (ONBOARDER_DLQ_URL of the reconcile function) holds the
requests the worker gave up on: those it moved there itself, at once, with a class
(permanent, needs-person) and a reason, and those SQS moved after MaxReceiveCount receives
(no class: the worker could not handle them at all; its log says why).

  list     show every message: account, class, reason, when; nothing is deleted
  redrive  send the messages of --account ID (repeatable) or --all back to the reconcile
           queue, each with its body, its account as message group and a new deduplication
           id, and delete each from the dead-letter queue only once it was sent

Fix the cause first (the reason says which); a request whose own stack write failed needs
onboarder reconcile --account ID --retry-failed instead (a redriven one finds the same
failed write and needs a person again). SQS's start-message-move-task sends a message back
to the queue it came from, which the worker's own messages do not have, or moves the whole
queue to a destination; this command moves both kinds, for the accounts you choose.

Exit codes: 0 done, 1 a message could not be read, sent or deleted, 2 usage error.`,
	}
	var asJSON bool
	list := &cobra.Command{Use: "list [--json]", Short: "Show the dead-letter queue's messages", Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error { return a.dlqList(cmd.Context(), asJSON) })}
	list.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	var sel selection
	redrive := &cobra.Command{Use: "redrive [--account ID ... | --all]", Short: "Send the dead letters back to the reconcile queue",
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			ids, err := sel.ids(args)
			if err != nil {
				return err
			}
			return a.dlqRedrive(cmd.Context(), ids)
		})}
	sel.flags(redrive)
	redrive.Flags().Lookup("all").Usage = "every message of the dead-letter queue"
	cmd.AddCommand(list, redrive)
	return cmd
}

// dlqEnv sets up and checks that the worker has a DLQ and a queue.
func (a *app) dlqEnv(ctx context.Context) (*env, error) {
	e, err := a.setup(ctx, 1)
	if err != nil {
		return nil, err
	}
	if e.cfg.DeadLetterURL == "" {
		return nil, errors.New("the reconcile function has no dead-letter queue (ONBOARDER_DLQ_URL)")
	}
	return e, nil
}

// dlq reads the dead-letter queue: every message it returns is hidden for dlqVisibility
// seconds, and each is handed to fn once, in the order SQS returns them (in order within
// an account, a FIFO message group). It stops when a receive brings nothing new.
type dlq struct {
	api SQSAPI
	url string
}

func (d dlq) each(ctx context.Context, fn func(m deadLetter) error) error {
	seen := map[string]bool{}
	for ctx.Err() == nil {
		out, err := d.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(d.url), MaxNumberOfMessages: 10, VisibilityTimeout: dlqVisibility,
			// A long poll of one second asks every SQS server, where a short poll samples some
			// of them and may answer nothing while messages are there (SQS Developer Guide,
			// "Amazon SQS short and long polling").
			WaitTimeSeconds:             1,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			return fmt.Errorf("read the dead-letter queue %s: %w", d.url, err)
		}
		fresh := 0
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			if seen[id] {
				continue
			}
			seen[id], fresh = true, fresh+1
			if err := fn(decodeDeadLetter(m)); err != nil {
				return err
			}
		}
		if fresh == 0 {
			return nil
		}
	}
	return ctx.Err()
}

// release makes messages visible again.
func (d dlq) release(ctx context.Context, ms []deadLetter) error {
	var errs []error
	for _, m := range ms {
		if _, err := d.api.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(d.url),
			ReceiptHandle: aws.String(m.receipt), VisibilityTimeout: 0}); err != nil {
			errs = append(errs, fmt.Errorf("make message %s visible again (it is, after %d s): %w", m.MessageID, dlqVisibility, err))
		}
	}
	return errors.Join(errs...)
}

func decodeDeadLetter(m sqstypes.Message) deadLetter {
	d := deadLetter{MessageID: aws.ToString(m.MessageId), body: aws.ToString(m.Body), receipt: aws.ToString(m.ReceiptHandle),
		group: m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)], Reason: movedBySQS}
	d.Receives, _ = strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
	if ms, err := strconv.ParseInt(m.Attributes[string(sqstypes.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		d.Sent = time.UnixMilli(ms).UTC().Format(time.RFC3339)
	}
	if v, ok := m.MessageAttributes["class"]; ok {
		d.Class = aws.ToString(v.StringValue)
	}
	if v, ok := m.MessageAttributes["reason"]; ok {
		d.Reason = scrubText(aws.ToString(v.StringValue))
	}
	d.Account = d.group
	if req, err := queue.Decode(d.body); err == nil {
		d.Decodes, d.Account, d.Trigger, d.Request = true, req.Account, req.Trigger, scrubText(req.Reason)
	} else if config.ValidateAccountID(d.Account) != nil {
		d.Account = ""
	}
	return d
}

func (a *app) dlqList(ctx context.Context, asJSON bool) error {
	e, err := a.dlqEnv(ctx)
	if err != nil {
		return err
	}
	d := dlq{api: e.c.SQS, url: e.cfg.DeadLetterURL}
	var all []deadLetter
	readErr := d.each(ctx, func(m deadLetter) error { all = append(all, m); return nil })
	relErr := d.release(context.WithoutCancel(ctx), all)
	if asJSON {
		if all == nil {
			all = []deadLetter{}
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			return err
		}
	} else {
		t := tablewriter.NewWriter(a.stdout)
		t.Header("Account", "Class", "Reason", "Trigger", "Reached DLQ", "Receives", "Message")
		for _, m := range all {
			if err := t.Append(dash(m.Account), dash(m.Class), m.Reason, dash(m.Trigger), dash(m.Sent), strconv.Itoa(m.Receives), m.MessageID); err != nil {
				return err
			}
		}
		if err := t.Render(); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%d messages in %s; send them back with onboarder dlq redrive --account ID (or --all) once the cause is fixed\n", len(all), e.cfg.DeadLetterURL)
	}
	if err := errors.Join(readErr, relErr); err != nil {
		return err
	}
	return nil
}

// redriveID is the deduplication id of a message sent back: new for the reconcile queue, and
// the same if the command sends the same dead letter twice (a send that succeeded but whose
// delete failed, then a second redrive within SQS's five-minute deduplication window).
func redriveID(messageID string) string {
	h := sha256.Sum256([]byte("redrive\x00" + messageID))
	return "redrive-" + hex.EncodeToString(h[:16])
}

func (a *app) dlqRedrive(ctx context.Context, ids []string) error {
	e, err := a.dlqEnv(ctx)
	if err != nil {
		return err
	}
	if e.cfg.QueueURL == "" {
		return errors.New("the reconcile function has no queue (ONBOARDER_QUEUE_URL) to send the requests back to")
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	d := dlq{api: e.c.SQS, url: e.cfg.DeadLetterURL}
	var keep []deadLetter // left in the DLQ: made visible again at the end
	sent, failed := 0, false
	readErr := d.each(ctx, func(m deadLetter) error {
		switch {
		case len(want) > 0 && !want[m.Account]:
			keep = append(keep, m)
			return nil
		case m.Account == "":
			fmt.Fprintf(a.stdout, "%s: left in the dead-letter queue: it names no account (%s)\n", m.MessageID, m.Reason)
			keep, failed = append(keep, m), true
			return nil
		}
		// Sent first, deleted only once sent: a message is never in neither queue.
		_, err := e.c.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(e.cfg.QueueURL), MessageBody: aws.String(m.body),
			MessageGroupId: aws.String(m.Account), MessageDeduplicationId: aws.String(redriveID(m.MessageID))})
		if err != nil {
			fmt.Fprintf(a.stdout, "%s %s: NOT sent back, left in the dead-letter queue: %s\n", m.Account, m.MessageID, oneLine(err))
			keep, failed = append(keep, m), true
			return nil
		}
		if _, err := e.c.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(e.cfg.DeadLetterURL), ReceiptHandle: aws.String(m.receipt)}); err != nil {
			fmt.Fprintf(a.stdout, "%s %s: sent back, but still in the dead-letter queue (delete failed: %s); a redrive within 5 minutes is deduplicated\n", m.Account, m.MessageID, oneLine(err))
			failed = true
			return nil
		}
		sent++
		class := m.Class
		if class == "" {
			class = "moved by SQS"
		}
		fmt.Fprintf(a.stdout, "%s %s: sent back [%s] %s\n", m.Account, m.MessageID, class, m.Reason)
		return nil
	})
	relErr := d.release(context.WithoutCancel(ctx), keep)
	fmt.Fprintf(a.stdout, "redrive: %d sent back to %s, %d left in the dead-letter queue\n", sent, e.cfg.QueueURL, len(keep))
	if err := errors.Join(readErr, relErr); err != nil {
		return err
	}
	if failed {
		return exitWith(exitFailure)
	}
	return nil
}
