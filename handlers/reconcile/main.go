// Command reconcile is the SQS worker Lambda: it reconciles one account per reconcile request
// and reports partial batch failures. The logic is in internal/worker and internal/reconcile.
package main

import (
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/awsconf"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/lambdalog"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/worker"
)

func main() {
	log := lambdalog.New()
	m := metrics.New(os.Stdout, "reconcile")
	cfg, err := config.FromEnv()
	awsCfg, awsErr := awsconf.Lambda()
	metrics.CountCalls(&awsCfg, m.Calls)
	w := &worker.Worker{Log: log, Metrics: m, SQS: sqs.NewFromConfig(awsCfg), QueueURL: cfg.QueueURL, DeadLetterURL: cfg.DeadLetterURL}
	if err = errors.Join(err, awsErr); err == nil {
		var r *reconcile.Reconciler
		if r, err = reconcile.New(cfg, awsCfg); err == nil {
			r.Log = log
			w.Reconciler = r
		}
	}
	// A bad configuration fails every message, so it shows in the function's errors and the
	// messages reach the DLQ with the reason, instead of a crash loop at init.
	w.ConfigErr = err
	lambda.Start(w.Handle)
}
