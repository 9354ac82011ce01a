package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/operator"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
)

// FunctionVar names the reconcile function: the one setting the command needs.
const FunctionVar = "ONBOARDER_RECONCILE_FUNCTION"

// env is what the commands share: the worker's configuration, the AWS clients of the
// operator's own credentials, and the worker.
type env struct {
	cfg    config.Config // the reconcile function's configuration, as it answered
	awsCfg aws.Config
	c      *clients
	worker *workerClient
	scope  *scope
}

// function is the reconcile function the environment names, or a usage error.
func (a *app) function() (string, error) {
	fn, _ := a.getenv(FunctionVar)
	fn = strings.TrimSpace(fn)
	if fn == "" {
		return "", fmt.Errorf("%s is not set: the name or ARN of the reconcile function (the central stack's output ReconcileFunctionName); docs/DEPLOY.md, \"Run the command as a person\"", FunctionVar)
	}
	return fn, nil
}

// connect loads AWS and builds the clients and the worker, without asking anything yet.
func (a *app) connect(ctx context.Context, parallel int) (*env, error) {
	fn, err := a.function()
	if err != nil {
		return nil, err
	}
	awsCfg, err := a.aws(ctx)
	if err != nil {
		return nil, err
	}
	if r := functionRegion(fn); r != "" {
		awsCfg.Region = r // the function's ARN says where the central stack is
	}
	c := a.newClients(awsCfg)
	w := &workerClient{API: c.Lambda, Function: fn, Parallel: parallel}
	if a.verbose {
		w.Verbose = a.stderr
	}
	return &env{awsCfg: awsCfg, c: c, worker: w}, nil
}

// setup connects and asks the worker for its configuration, which must be valid.
func (a *app) setup(ctx context.Context, parallel int) (*env, error) {
	e, err := a.connect(ctx, parallel)
	if err != nil {
		return nil, err
	}
	cfg, err := e.workerConfig(ctx)
	if err != nil {
		return nil, err
	}
	e.cfg = cfg
	e.scope = newScope(e.c.Organizations, cfg)
	return e, nil
}

// workerConfig asks the reconcile function for its configuration.
func (e *env) workerConfig(ctx context.Context) (config.Config, error) {
	resp, err := e.worker.invoke(ctx, operator.Request{Op: operator.OpConfig})
	if err != nil {
		return config.Config{}, err
	}
	if resp.Config == nil {
		return config.Config{}, fmt.Errorf("the reconcile function %s did not say its configuration (is it an older version? deploy this release)", e.worker.Function)
	}
	if resp.ConfigError != "" {
		return *resp.Config, fmt.Errorf("the reconcile function's configuration (the central stack's parameters) is invalid:\n  %s", strings.ReplaceAll(resp.ConfigError, "\n", "\n  "))
	}
	return *resp.Config, nil
}

// ledger is the ledger table, or nil when the worker has none.
func (e *env) ledger() *ledger.Table {
	if e.cfg.LedgerTable == "" {
		return nil
	}
	return &ledger.Table{DB: e.c.DynamoDB, Name: e.cfg.LedgerTable}
}

// sender puts requests on the reconcile queue.
func (e *env) sender() (*queue.Sender, error) {
	if e.cfg.QueueURL == "" {
		return nil, errors.New("the reconcile function has no queue (ONBOARDER_QUEUE_URL): requests cannot be enqueued")
	}
	return &queue.Sender{SQS: e.c.SQS, QueueURL: e.cfg.QueueURL}, nil
}

// rollouts is the rollout store, or an error without a ledger.
func (e *env) rollouts() (*rollout.Store, error) {
	if e.cfg.LedgerTable == "" {
		return nil, errors.New("the reconcile function has no ledger (ONBOARDER_LEDGER_TABLE): the rollout is kept in the ledger table")
	}
	return &rollout.Store{DB: e.c.DynamoDB, Table: e.cfg.LedgerTable}, nil
}

// targets selects the accounts: the named ones, or every account, by the scope rules.
func (e *env) targets(ctx context.Context, ids []string) ([]target, []outOfScope, error) {
	return e.scope.accounts(ctx, ids, len(ids) == 0)
}
