// Package awsconf builds the AWS configuration of the onboarder's processes, with the SDK's
// standard retryer given more attempts (throttling is likely at Organization scale).
//
// The Lambdas use Lambda, which reads the environment the Lambda service sets and nothing
// else: it links none of the SDK's shared-config, SSO or IMDS credential providers, which
// keeps the functions small and their cold start short. The operator command, which runs
// where profiles and SSO are the norm, uses config.LoadDefaultConfig with Retryer.
package awsconf

import (
	"errors"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
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

// Lambda returns a Lambda function's configuration from its environment: AWS_REGION,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, which the Lambda service
// sets, and AWS_ENDPOINT_URL when set (the local emulator). It makes no network call.
func Lambda() (aws.Config, error) { return FromLookup(os.LookupEnv) }

// FromLookup is Lambda over any lookup function (tests pass a map).
func FromLookup(lookup func(string) (string, bool)) (aws.Config, error) {
	get := func(k string) string { v, _ := lookup(k); return v }
	region := get("AWS_REGION")
	if region == "" {
		region = get("AWS_DEFAULT_REGION")
	}
	var errs []error
	if region == "" {
		errs = append(errs, errors.New("AWS_REGION is not set (the Lambda service sets it)"))
	}
	key, secret := get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		errs = append(errs, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (the Lambda service sets them from the function's role)"))
	}
	cfg := aws.Config{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(key, secret, get("AWS_SESSION_TOKEN"))),
		Retryer:     Retryer,
	}
	if ep := get("AWS_ENDPOINT_URL"); ep != "" {
		cfg.BaseEndpoint = aws.String(ep)
	}
	return cfg, errors.Join(errs...)
}
