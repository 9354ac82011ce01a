// Command reconcile is the worker Lambda: it reconciles one account per reconcile request of
// an SQS batch and reports partial batch failures, and answers the operator command's direct
// invocations (dry runs, stack status, checks: it reads only). The logic is in
// internal/worker, internal/reconcile and internal/operator.
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
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/operator"
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
	op := &operator.Handler{Cfg: cfg, Log: log}
	if err = errors.Join(err, awsErr); err == nil {
		var r *reconcile.Reconciler
		if r, err = reconcile.New(cfg, awsCfg); err == nil {
			r.Log = log
			w.Reconciler, op = r, operator.New(cfg, awsCfg, r, log)
		}
	}
	// A bad configuration fails every message, so it shows in the function's errors and the
	// messages reach the DLQ with the reason, instead of a crash loop at init; the operator
	// command is told which settings are wrong.
	w.ConfigErr, op.ConfigErr = err, err
	w.Operator = op
	lambda.Start(w.Invoke)
}
