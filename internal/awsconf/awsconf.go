// Package awsconf loads the one AWS configuration a process uses, with the SDK's standard
// retryer given more attempts (throttling is likely at Organization scale). The standard AWS
// variables apply unchanged, AWS_ENDPOINT_URL included, so the same binary talks to moto.
package awsconf

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
)

// MaxAttempts is how often the SDK tries a call before giving up.
const MaxAttempts = 10

// Retryer is the SDK's standard retryer with more attempts and a longer backoff cap.
func Retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.MaxBackoff = 20 * time.Second
		// A response cut short (connection lost mid-body) is not retried by the standard
		// retryer, which rates it "unknown"; it is as transient as a reset.
		o.Retryables = append(o.Retryables, retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return aws.TrueTernary
			}
			return aws.UnknownTernary
		}))
	})
}

// Load returns the process's configuration. It reads files and the environment only: no
// network call happens before the first request.
func Load(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts = append([]func(*config.LoadOptions) error{config.WithRetryer(Retryer)}, opts...)
	return config.LoadDefaultConfig(ctx, opts...)
}
