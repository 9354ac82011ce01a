// Command sweep is the Lambda of the daily sweep and of manual requests: it enqueues one
// reconcile request per in-scope account. The logic is in internal/intake.
package main

import (
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
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
	err = errors.Join(err, intake.ValidateSweep(cfg))
	m := metrics.New(os.Stdout, "sweep")
	awsCfg, awsErr := awsconf.Lambda()
	metrics.CountCalls(&awsCfg, m.Calls)
	q := &queue.Sender{SQS: sqs.NewFromConfig(awsCfg), QueueURL: cfg.QueueURL}
	h := intake.NewSweep(cfg, errors.Join(err, awsErr), q, organizations.NewFromConfig(awsCfg), lambdalog.New(), m)
	if cfg.LedgerTable != "" {
		h.Ledger = &ledger.Table{DB: dynamodb.NewFromConfig(awsCfg), Name: cfg.LedgerTable}
	}
	h.Bus, h.BusName = eventbridge.NewFromConfig(awsCfg), cfg.EventBus
	lambda.Start(h)
}
