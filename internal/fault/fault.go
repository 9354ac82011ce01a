// Package fault classifies errors: what the platform should do with the work that failed.
//
// A handler looks only at the class: transient work is retried (the message goes back to the
// queue), permanent work is logged and ends in the dead-letter queue, work that needs a person
// ends there too with a reason that says what to do, and a skip is acknowledged and dropped.
package fault

import (
	"errors"
	"fmt"
	"time"

	smithy "github.com/aws/smithy-go"
)

// Class is what a failure means for the work that hit it.
type Class string

const (
	None        Class = "none"         // no failure
	Transient   Class = "transient"    // retry later: throttling, in progress, outages
	Permanent   Class = "permanent"    // retrying cannot help: bad input, bad configuration
	NeedsPerson Class = "needs-person" // a person must act (DELETE_FAILED, no usable trail, ...)
)

// Error carries a class with the error it wraps.
type Error struct {
	Class Class
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func wrap(c Class, format string, args ...any) error {
	return &Error{Class: c, Err: fmt.Errorf(format, args...)}
}

// Transientf, Permanentf and NeedsPersonf build classified errors; %w works as in fmt.Errorf.
func Transientf(format string, args ...any) error   { return wrap(Transient, format, args...) }
func Permanentf(format string, args ...any) error   { return wrap(Permanent, format, args...) }
func NeedsPersonf(format string, args ...any) error { return wrap(NeedsPerson, format, args...) }

// As marks err with class c, keeping its text and chain.
func As(c Class, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Class: c, Err: err}
}

// Skip is "not ours, acknowledge and drop": an event that the product does not act on.
// It is not a failure; handlers log the reason and return success.
type Skip struct{ Reason string }

func (s *Skip) Error() string { return "skipped: " + s.Reason }

// Skipf returns a *Skip with a formatted reason.
func Skipf(format string, args ...any) error { return &Skip{Reason: fmt.Sprintf(format, args...)} }

// IsSkip reports whether err is a skip and returns its reason.
func IsSkip(err error) (string, bool) {
	var s *Skip
	if errors.As(err, &s) {
		return s.Reason, true
	}
	return "", false
}

// transientCodes are AWS error codes that clear up by themselves.
var transientCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true,
	"RequestThrottledException": true, "TooManyRequestsException": true,
	"ProvisionedThroughputExceededException": true, "RequestLimitExceeded": true,
	"SlowDown": true, "RequestTimeout": true, "RequestTimeoutException": true,
	"InternalError": true, "InternalFailure": true, "InternalServerError": true,
	"ServiceUnavailable": true, "ServiceUnavailableException": true,
	"OperationInProgressException": true, "ConcurrentModificationException": true,
}

// needsPersonCodes are AWS error codes that a person must clear: a quota is reached (the
// account's stack quota, IAM role quota, ...), which no retry raises.
var needsPersonCodes = map[string]bool{"LimitExceededException": true}

// ClassOf returns the class of err. AWS errors are judged by their code, then by their
// smithy fault (server faults are transient, client faults permanent); anything else that
// is not classified explicitly is transient.
func ClassOf(err error) Class {
	if err == nil {
		return None
	}
	if _, ok := IsSkip(err); ok {
		return None
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Class
	}
	if code := Code(err); code != "" {
		if transientCodes[code] {
			return Transient
		}
		if needsPersonCodes[code] {
			return NeedsPerson
		}
		// AccessDenied (an SCP, a missing permission) is permanent: the callers that know
		// better (AssumeRole into a new account) say so.
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorFault() == smithy.FaultServer {
			return Transient
		}
		return Permanent
	}
	// Anything else (deadlines, exhausted retries, broken responses) is retried: a message
	// that keeps failing ends in the dead-letter queue once its receive count is spent, so
	// erring on this side loses nothing, while a wrong "permanent" would skip the retries.
	return Transient
}

// Code returns the AWS error code of err, or "".
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// IsCode reports whether err is an AWS error with one of the codes.
func IsCode(err error, codes ...string) bool {
	c := Code(err)
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// Waiter is an error that says how long to wait before trying again (an HTTP 429's
// Retry-After).
type Waiter interface {
	error
	RetryAfterDelay() time.Duration
}

// RetryAfter is the wait the first error in err's chain that says one asks for; zero when
// none does.
func RetryAfter(err error) time.Duration {
	var w Waiter
	if errors.As(err, &w) {
		return max(w.RetryAfterDelay(), 0)
	}
	return 0
}
