// Command trailguard is the Lambda that turns changes to trails and to the onboarding stack
// in member accounts into reconcile requests. The logic is in internal/intake.
package main

import (
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/awsconf"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/intake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/lambdalog"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

func main() {
	cfg, err := config.FromEnv()
	err = errors.Join(err, intake.ValidateTrailGuard(cfg))
	m := metrics.New(os.Stdout, "trailguard")
	awsCfg, awsErr := awsconf.Lambda()
	metrics.CountCalls(&awsCfg, m.Calls)
	q := &queue.Sender{SQS: sqs.NewFromConfig(awsCfg), QueueURL: cfg.QueueURL}
	l := &ledger.Table{DB: dynamodb.NewFromConfig(awsCfg), Name: cfg.LedgerTable}
	h := intake.NewTrailGuard(cfg, errors.Join(err, awsErr), q, l, organizations.NewFromConfig(awsCfg), lambdalog.New(), m)
	lambda.Start(h)
}
