package operator

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/crossaccount"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secretstore"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/target"
)

// New wires a Handler to the worker: its configuration, its AWS configuration and its
// reconciler, whose dry-run copy (DryRun) plans: a dry run decides and changes nothing, by
// construction and not only by its DryRun flag.
func New(cfg config.Config, awsCfg aws.Config, r *reconcile.Reconciler, log *slog.Logger) *Handler {
	h := &Handler{
		Cfg: cfg, Planner: DryRun(r), Secrets: r.Secrets, CloudOne: r.CloudOne, Log: log,
		FreshSecrets: func() reconcile.Secrets {
			return &secretstore.Store{API: secretsmanager.NewFromConfig(awsCfg), ARN: cfg.SecretARN, Fields: cfg.SecretFields()}
		},
		FreshCloudOne: func() reconcile.KeyDescriber { return &cloudone.Client{BaseURL: cfg.AccountsURL} },
		Members: &AWSMembers{Assumer: &crossaccount.Assumer{Base: awsCfg, SessionName: cfg.SessionName,
			RoleARN: func(account string) string { return cfg.ExecutionRoleARN("aws", account) }}},
	}
	if v, ok := readOnlyTarget(r.Target).(*target.VisionOne); ok {
		h.VisionOne = v
	}
	if cfg.FallbackRoleName != "" {
		h.Fallback = &AWSMembers{Assumer: &crossaccount.Assumer{Base: awsCfg, SessionName: cfg.SessionName,
			RoleARN: func(account string) string { return cfg.FallbackRoleARN("aws", account) }}}
	}
	return h
}

// DryRun is a reconciler that plans, made of r's dependencies: DryRun set, no start limiter,
// no wave release, and a ledger, a rollout and a vendor's kept templates that can be read but
// not written. It is built field by field: a Reconciler keeps per-process caches that are not
// copied.
func DryRun(r *reconcile.Reconciler) *reconcile.Reconciler {
	cfg := r.Cfg
	cfg.DryRun = true
	dry := &reconcile.Reconciler{Cfg: cfg, Secrets: r.Secrets, Target: readOnlyTarget(r.Target), CloudOne: r.CloudOne,
		Members: r.Members, Fallback: r.Fallback, Log: r.Log, Now: r.Now}
	if r.Ledger != nil {
		dry.Ledger = readOnlyLedger{r.Ledger}
	}
	if r.Rollouts != nil {
		dry.Rollouts = readOnlyRollouts{r.Rollouts}
	}
	return dry
}

// readOnlyTarget is the target of a dry run: Vision One's generated templates are read from
// the ledger, never claimed, generated or kept (a generation makes a new key in Vision One: the
// plan says a write would generate one first).
func readOnlyTarget(t target.Target) target.Target {
	v, ok := t.(*target.VisionOne)
	if !ok {
		return t
	}
	cfg := v.Cfg
	cfg.DryRun = true
	return &target.VisionOne{Cfg: cfg, API: v.API, Templates: readOnlyTemplates{v.Templates}}
}

// AWSMembers opens member accounts with a role, credentials cached per account.
type AWSMembers struct {
	Assumer *crossaccount.Assumer
}

// Member returns the account's clients in region.
func (a *AWSMembers) Member(ctx context.Context, account, region string) (Member, error) {
	cfg, err := a.Assumer.Config(ctx, account, region)
	if err != nil {
		return Member{}, err
	}
	return Member{
		CloudFormation: cloudformation.NewFromConfig(cfg),
		CloudTrail: func(r string) TrailAPI {
			return cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) { o.Region = r })
		},
		Identity: sts.NewFromConfig(cfg),
	}, nil
}

// errReadOnly is what a dry run's write would get: it never gets there (reconcile writes
// nothing in a dry run), and if it did, nothing would be written.
var errReadOnly = errors.New("a dry run writes nothing")

// readOnlyLedger reads the ledger and refuses to write it.
type readOnlyLedger struct{ reconcile.Ledger }

func (readOnlyLedger) Put(context.Context, ledger.Entry) error { return errReadOnly }

// readOnlyRollouts reads the rollout and refuses to move it.
type readOnlyRollouts struct{ reconcile.Rollouts }

func (readOnlyRollouts) Record(context.Context, string, int, string, bool, string) (*rollout.Rollout, error) {
	return nil, errReadOnly
}

func (readOnlyRollouts) Advance(context.Context, *rollout.Rollout) ([]string, error) {
	return nil, errReadOnly
}

// readOnlyTemplates reads Vision One's kept templates and keeps none: PutTemplate reports the
// template not kept, and the caller uses the one it generated.
type readOnlyTemplates struct{ target.Templates }

func (readOnlyTemplates) PutTemplate(context.Context, string, ledger.Generated) (bool, error) {
	return false, nil
}

// ClaimTemplate claims nothing (a dry run never generates).
func (readOnlyTemplates) ClaimTemplate(context.Context, string, string, time.Time, time.Time, time.Duration) (bool, error) {
	return false, nil
}
