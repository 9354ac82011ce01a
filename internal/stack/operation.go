package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
)

// Op is a kind of stack write.
type Op string

const (
	OpCreate           Op = "create"
	OpUpdate           Op = "update"
	OpDelete           Op = "delete"
	OpContinueRollback Op = "rollback" // ContinueUpdateRollback
)

// tokenPrefix starts every ClientRequestToken the onboarder sends, so that a stack's events
// tell its operations from anyone else's.
const tokenPrefix = "onboarder-"

// Token is the ClientRequestToken of a stack write: derived from the request (its id) and the
// step (the operation and the fingerprint of the desired state it writes), so that a retry of
// the same step (an SDK retry, the same message received again) is the same operation for
// CloudFormation, and so that the stack's events say which desired state an operation wrote.
// CloudFormation allows [a-zA-Z0-9][-a-zA-Z0-9]*, at most 128 characters
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html).
func Token(op Op, fingerprint, requestID string) string {
	fp := fingerprint
	if len(fp) > 16 {
		fp = fp[:16]
	}
	if fp == "" {
		fp = "0"
	}
	h := sha256.Sum256([]byte(requestID + "\x00" + string(op) + "\x00" + fingerprint))
	return tokenPrefix + string(op) + "-" + fp + "-" + hex.EncodeToString(h[:8])
}

// Failure is the resource whose failure made an operation fail, as its stack event tells.
type Failure struct {
	LogicalID string `json:"logicalId"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	Reason    string `json:"reason"`
	Stack     string `json:"stack,omitempty"` // the nested stack it failed in, when not the stack itself
}

// String is the failure for people: "Connector (Custom::CloudOne) CREATE_FAILED: reason".
func (f Failure) String() string {
	s := f.LogicalID + " (" + f.Type + ") " + f.Status + ": " + f.Reason
	if f.Stack != "" {
		s += " (in nested stack " + f.Stack + ")"
	}
	return s
}

// Operation is the latest operation on a stack, read from its events.
type Operation struct {
	Token string `json:"token,omitempty"`
	// Ours: the token is one of the onboarder's; then Op and Fingerprint are what it wrote.
	Ours        bool     `json:"ours"`
	Op          Op       `json:"op,omitempty"`
	Fingerprint string   `json:"fingerprint,omitempty"` // the first 16 characters of the desired state's fingerprint
	Failed      *Failure `json:"failed,omitempty"`      // the first resource that failed in it, if any
	// Previous is the operation before it, as far as the events read go back (nil: none
	// seen): after a ContinueUpdateRollback, the update whose rollback it finished.
	Previous *Operation `json:"previous,omitempty"`
}

// For reports whether the operation was the onboarder's op writing the desired state with
// this fingerprint.
func (o *Operation) For(op Op, fingerprint string) bool {
	if o == nil || !o.Ours || o.Op != op {
		return false
	}
	fp := fingerprint
	if len(fp) > 16 {
		fp = fp[:16]
	}
	return o.Fingerprint == fp
}

// By reports whether the operation is op of the desired state with this fingerprint written
// by the request with this id: the same step of the same request.
func (o *Operation) By(op Op, fingerprint, requestID string) bool {
	return o != nil && o.Token == Token(op, fingerprint, requestID)
}

func parseToken(tok string) (ours bool, op Op, fp string) {
	if !strings.HasPrefix(tok, tokenPrefix) {
		return false, "", ""
	}
	parts := strings.SplitN(strings.TrimPrefix(tok, tokenPrefix), "-", 3)
	if len(parts) != 3 {
		return false, "", ""
	}
	return true, Op(parts[0]), parts[1]
}

// EventsAPI is what LastOperation needs.
type EventsAPI interface {
	DescribeStackEvents(ctx context.Context, in *cloudformation.DescribeStackEventsInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStackEventsOutput, error)
}

// maxEventPages bounds the events read: an operation of Trend's stack writes a few dozen.
const maxEventPages = 3

// LastOperation reads the stack's events (newest first) and returns its latest operation:
// the token all its events share and the first resource that failed in it. A failed nested
// stack is followed once, so that the reason names the resource that failed inside it, not
// "Embedded stack ... was not successfully created".
func LastOperation(ctx context.Context, api EventsAPI, stackID string) (*Operation, error) {
	evs, err := events(ctx, api, stackID)
	if err != nil || len(evs) == 0 {
		return nil, err
	}
	op := operation(ctx, api, evs, aws.ToString(evs[0].ClientRequestToken))
	for _, e := range evs { // newest first: the first other token is the operation before
		if tok := aws.ToString(e.ClientRequestToken); tok != op.Token {
			op.Previous = operation(ctx, api, evs, tok)
			break
		}
	}
	return op, nil
}

// operation is the operation with token tok among the events, with its first failure.
func operation(ctx context.Context, api EventsAPI, evs []cfntypes.StackEvent, tok string) *Operation {
	op := &Operation{Token: tok}
	op.Ours, op.Op, op.Fingerprint = parseToken(tok)
	op.Failed = firstFailure(evs, tok)
	if f := op.Failed; f != nil && f.Type == "AWS::CloudFormation::Stack" {
		for _, e := range evs {
			if aws.ToString(e.LogicalResourceId) == f.LogicalID && strings.HasPrefix(aws.ToString(e.PhysicalResourceId), "arn:") {
				nested, err := events(ctx, api, aws.ToString(e.PhysicalResourceId))
				if err == nil {
					// The failure of this operation inside the nested stack (its events carry
					// the token of the operation that caused them, when it had one), else
					// the nested stack's oldest failure.
					inner := firstFailure(nested, tok)
					if inner == nil {
						inner = firstFailure(nested, "")
					}
					if inner != nil {
						inner.Stack = f.LogicalID
						op.Failed = inner
					}
				}
				break
			}
		}
	}
	return op
}

func events(ctx context.Context, api EventsAPI, stackID string) ([]cfntypes.StackEvent, error) {
	var out []cfntypes.StackEvent
	in := &cloudformation.DescribeStackEventsInput{StackName: aws.String(stackID)}
	for range maxEventPages {
		page, err := api.DescribeStackEvents(ctx, in)
		if err != nil {
			return out, err
		}
		out = append(out, page.StackEvents...)
		if page.NextToken == nil {
			break
		}
		in.NextToken = page.NextToken
	}
	return out, nil
}

// firstFailure is the oldest resource failure of the operation with token tok ("" for any),
// leaving out the stack's own summary events and the cancellations that follow a failure.
func firstFailure(evs []cfntypes.StackEvent, tok string) *Failure {
	var first *Failure
	for _, e := range evs { // newest first: the last match is the oldest
		if tok != "" && aws.ToString(e.ClientRequestToken) != tok {
			continue
		}
		st := string(e.ResourceStatus)
		reason := aws.ToString(e.ResourceStatusReason)
		if !strings.HasSuffix(st, "_FAILED") || aws.ToString(e.PhysicalResourceId) == aws.ToString(e.StackId) && aws.ToString(e.ResourceType) == "AWS::CloudFormation::Stack" && aws.ToString(e.LogicalResourceId) == aws.ToString(e.StackName) {
			continue
		}
		if strings.Contains(reason, "Resource creation cancelled") || strings.Contains(reason, "Resource update cancelled") {
			continue
		}
		first = &Failure{LogicalID: aws.ToString(e.LogicalResourceId), Type: aws.ToString(e.ResourceType), Status: st, Reason: reason}
	}
	return first
}

// Started is when the stack's current operation began, as DescribeStacks tells it: the
// deletion time, else the last update, else the creation. Zero when unknown.
func (o Observed) Started() time.Time {
	for _, t := range []time.Time{o.DeletionTime, o.LastUpdated, o.Created} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}
