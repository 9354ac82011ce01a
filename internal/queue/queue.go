// Package queue holds the reconcile request, the message that intake Lambdas put on the FIFO
// queue and the worker consumes, and the sender that puts it there.
package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
)

// Version is the version of the request body. A worker rejects versions it does not know
// (permanent: the message ends in the dead-letter queue, where a newer worker can redrive it).
const Version = 1

// Request asks the worker to reconcile one account.
type Request struct {
	Version int    `json:"version"`
	Account string `json:"account"` // 12 digits, a string
	// AccountName is the account's name when the intake knows it (Control Tower's events,
	// the sweep's listing): a vendor that names the accounts it connects takes it.
	AccountName string `json:"accountName,omitempty"`
	Trigger     string `json:"trigger"`              // event kind, "sweep", "manual" or "operator"
	Reason      string `json:"reason"`               // why a look is needed, for people
	EventID     string `json:"eventId"`              // the EventBridge event id (or a made-up id)
	ReplayName  string `json:"replayName,omitempty"` // set when the event came from a replay
	Region      string `json:"region,omitempty"`     // region of the triggering API call, if any
	// LedgerDigest is the digest of the account's ledger entry when the request was made (the
	// sweep reads the ledger once); the worker does not rewrite an entry that is unchanged.
	LedgerDigest string `json:"ledgerDigest,omitempty"`
	// AccountSince is when the account joined the Organization (or was vended), when the
	// intake knows it: AccessDenied on AssumeRole is retried only for a while after it.
	AccountSince time.Time `json:"accountSince,omitzero"`
	// RetryFailed asks to write again although the onboarder's own write for this desired
	// state failed (an operator fixed the cause: onboarder reconcile --retry-failed).
	RetryFailed bool `json:"retryFailed,omitempty"`
	// Offboard, when set, asks the worker to offboard the account: it left the scope, and the
	// code says how (one of the Offboard* codes); Reason says more. ONBOARDER_OFFBOARD says
	// what the worker does then.
	Offboard string `json:"offboard,omitempty"`
}

// Why an account is offboarded: Request.Offboard. The codes are the intakes' reasons.
const (
	OffboardClosed    = "account-closed"              // Organizations CloseAccount
	OffboardRemoved   = "account-removed"             // Organizations RemoveAccountFromOrganization
	OffboardMovedOut  = "ou-not-included"             // MoveAccount out of ONBOARDER_INCLUDE_OUS, or found there by the sweep
	OffboardNotActive = "account-not-active"          // the sweep found it SUSPENDED or PENDING_CLOSURE
	OffboardExcluded  = "excluded-account"            // the sweep found it in ONBOARDER_EXCLUDE_ACCOUNTS
	OffboardMissing   = "account-not-in-organization" // the sweep did not find it in the Organization
)

// OffboardCodes lists the codes a request may carry.
var OffboardCodes = []string{OffboardClosed, OffboardRemoved, OffboardMovedOut, OffboardNotActive, OffboardExcluded, OffboardMissing}

// OffboardCode is the offboarding code of an account found out of scope for the scope reason
// code (org.NotActive, org.Excluded, org.OutsideOUs: the codes are the same), or "" when the
// reason is not one that offboards (the management account is never onboarded).
func OffboardCode(scope string) string {
	switch scope {
	case OffboardNotActive, OffboardExcluded, OffboardMovedOut, OffboardMissing:
		return scope
	}
	return ""
}

// ID identifies the request (its event, replay and account): the stack writes it makes carry
// tokens derived from it, so that a retry of the same request is the same operation.
func (r Request) ID() string {
	return r.DeduplicationID()[:32]
}

// Validate checks a request read from the queue; each message names the field.
func (r Request) Validate() error {
	var errs []error
	if r.Version != Version {
		errs = append(errs, fmt.Errorf("version=%d: this worker handles version %d", r.Version, Version))
	}
	if err := config.ValidateAccountID(r.Account); err != nil {
		errs = append(errs, fmt.Errorf("account: %w", err))
	}
	if r.Trigger == "" {
		errs = append(errs, errors.New("trigger: required"))
	}
	if r.Offboard != "" && !slices.Contains(OffboardCodes, r.Offboard) {
		errs = append(errs, fmt.Errorf("offboard=%q: must be one of %s", clip(r.Offboard, 40), strings.Join(OffboardCodes, ", ")))
	}
	return errors.Join(errs...)
}

// Decode parses a message body into a request. Errors are permanent.
func Decode(body string) (Request, error) {
	var r Request
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return r, fault.Permanentf("reconcile request: body is not a JSON request: %v", err)
	}
	if err := r.Validate(); err != nil {
		return r, fault.Permanentf("reconcile request: %w", err)
	}
	return r, nil
}

// DeduplicationID derives the FIFO deduplication id from the event id, the replay and the
// account, so that a redelivered event is dropped by SQS while a replay, which an operator
// asks for on purpose, is not.
func (r Request) DeduplicationID() string {
	h := sha256.Sum256([]byte(r.EventID + "\x00" + r.ReplayName + "\x00" + r.Account))
	return hex.EncodeToString(h[:])
}

// SQSAPI is the part of the SQS client the sender uses.
type SQSAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Sender puts requests on the FIFO queue: MessageGroupId is the account id, so work on one
// account is serialized while accounts run in parallel.
type Sender struct {
	SQS      SQSAPI
	QueueURL string
}

// Send enqueues the requests in batches of ten, up to sendParallel batches at a time (a
// sweep's page of 20 accounts is two batches: sent together, they cost one round trip). It
// returns an error naming every request that SQS did not take; the caller fails the event so
// that the platform retries it (the deduplication id makes the retry of the ones that were
// taken harmless).
func (s *Sender) Send(ctx context.Context, reqs []Request) error {
	var batches [][]sqstypes.SendMessageBatchRequestEntry
	for start := 0; start < len(reqs); start += 10 {
		end := min(start+10, len(reqs))
		entries := make([]sqstypes.SendMessageBatchRequestEntry, 0, end-start)
		for i, r := range reqs[start:end] {
			r.Version = Version
			body, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("encode reconcile request for %s: %w", r.Account, err)
			}
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{
				Id:                     aws.String(fmt.Sprint(i)),
				MessageBody:            aws.String(string(body)),
				MessageGroupId:         aws.String(r.Account),
				MessageDeduplicationId: aws.String(r.DeduplicationID()),
			})
		}
		batches = append(batches, entries)
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, sendParallel)
	)
	for b, entries := range batches {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out, err := s.SQS.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(s.QueueURL), Entries: entries})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("enqueue %d reconcile requests: %w", len(entries), err))
				return
			}
			for _, f := range out.Failed {
				var idx int
				fmt.Sscan(aws.ToString(f.Id), &idx)
				errs = append(errs, fault.Transientf("enqueue reconcile request for %s: %s: %s",
					reqs[b*10+idx].Account, aws.ToString(f.Code), aws.ToString(f.Message)))
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sendParallel is how many batches Send has in flight at once.
const sendParallel = 4

// clip shortens a value for an error message.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
