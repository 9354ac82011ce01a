// Package lambdalog gives the Lambdas their logger: JSON lines on stdout, one per decision,
// with the request id when the function's log format is JSON.
package lambdalog

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// New returns the process's logger.
func New() *slog.Logger {
	if os.Getenv("AWS_LAMBDA_LOG_FORMAT") == "JSON" {
		return lambdacontext.NewLogger()
	}
	return slog.New(slog.NewJSONHandler(os.Stdout, nil))
}
