// Command accountvending is the Lambda that turns account lifecycle events into reconcile
// requests. The logic is in internal/intake.
package main

import (
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/awsconf"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/intake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/lambdalog"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

func main() {
	cfg, err := config.FromEnv()
	err = errors.Join(err, intake.ValidateAccountVending(cfg))
	m := metrics.New(os.Stdout, "accountvending")
	awsCfg, awsErr := awsconf.Lambda()
	metrics.CountCalls(&awsCfg, m.Calls)
	q := &queue.Sender{SQS: sqs.NewFromConfig(awsCfg), QueueURL: cfg.QueueURL}
	h := intake.NewAccountVending(cfg, errors.Join(err, awsErr), q, organizations.NewFromConfig(awsCfg), lambdalog.New(), m)
	lambda.Start(h)
}
