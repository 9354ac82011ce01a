package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/crossaccount"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secretstore"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/starts"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/target"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/visionone"
)

// New wires a Reconciler to AWS: awsCfg is the management account's configuration (one per
// process, reused by every invocation). Nothing is called until the first Reconcile.
func New(cfg config.Config, awsCfg aws.Config) (*Reconciler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fault.As(fault.Permanent, err)
	}
	keys := &cloudone.Client{BaseURL: cfg.AccountsURL}
	r := &Reconciler{
		Cfg:      cfg,
		Secrets:  &secretstore.Store{API: secretsmanager.NewFromConfig(awsCfg), ARN: cfg.SecretARN, TTL: cfg.SecretCacheTTL, Fields: cfg.SecretFields()},
		Target:   &target.CloudOne{Cfg: cfg, Keys: keys},
		CloudOne: keys,
		Members: &AWSMembers{Assumer: &crossaccount.Assumer{
			Base:        awsCfg,
			RoleARN:     func(account string) string { return cfg.ExecutionRoleARN("aws", account) },
			SessionName: cfg.SessionName,
		}},
		Log: slog.Default(),
	}
	if cfg.FallbackRoleName != "" {
		r.Fallback = &AWSMembers{Assumer: &crossaccount.Assumer{
			Base:        awsCfg,
			RoleARN:     func(account string) string { return cfg.FallbackRoleARN("aws", account) },
			SessionName: cfg.SessionName,
		}}
	}
	if cfg.Target == config.TargetVisionOne {
		base := cfg.VisionOneAPIURL
		if base == "" {
			var err error
			if base, err = visionone.BaseURL(cfg.VisionOneRegion); err != nil {
				return nil, fault.Permanentf("ONBOARDER_VISIONONE_REGION: %w", err)
			}
		}
		if cfg.LedgerTable == "" {
			return nil, fault.Permanentf("ONBOARDER_LEDGER_TABLE is required by the Vision One target: its generated templates are kept there for every worker")
		}
		r.Target = &target.VisionOne{Cfg: cfg, API: &visionone.Client{BaseURL: base},
			Templates: &ledger.Table{DB: dynamodb.NewFromConfig(awsCfg), Name: cfg.LedgerTable}}
	}
	if cfg.LedgerTable != "" {
		db := dynamodb.NewFromConfig(awsCfg)
		r.Ledger = &ledger.Table{DB: db, Name: cfg.LedgerTable}
		if cfg.MaxStartsPerMinute > 0 {
			r.Starts = &starts.Limiter{DB: db, Table: cfg.LedgerTable, PerMinute: cfg.MaxStartsPerMinute}
		}
		r.Rollouts = &rollout.Store{DB: db, Table: cfg.LedgerTable}
		if cfg.QueueURL != "" {
			r.Release = SQSRelease(&queue.Sender{SQS: sqs.NewFromConfig(awsCfg), QueueURL: cfg.QueueURL})
		}
	}
	return r, nil
}

// SQSRelease enqueues the accounts of a wave (0-based) of a rollout: one reconcile request
// each, with an event id of the rollout, the wave and why (a release that two passes make is
// deduplicated; a resume, another why, is not).
func SQSRelease(q *queue.Sender) func(ctx context.Context, r *rollout.Rollout, wave int, why string, accounts []string) error {
	return func(ctx context.Context, r *rollout.Rollout, wave int, why string, accounts []string) error {
		reqs := make([]queue.Request, 0, len(accounts))
		for _, a := range accounts {
			reqs = append(reqs, queue.Request{Version: queue.Version, Account: a, Trigger: "rollout",
				EventID: fmt.Sprintf("%s-wave-%d-%s", r.ID, wave, why),
				Reason:  fmt.Sprintf("rollout %s: wave %d of %d %s (template %s)", r.ID, wave+1, len(r.Waves), why, r.To.URL)})
		}
		return q.Send(ctx, reqs)
	}
}

// AWSMembers opens member accounts through the execution role.
type AWSMembers struct {
	Assumer *crossaccount.Assumer
}

// Member returns the account's clients for the region, with cached credentials.
func (a *AWSMembers) Member(ctx context.Context, account, region string) (Member, error) {
	cfg, err := a.Assumer.Config(ctx, account, region)
	if err != nil {
		return Member{}, err
	}
	var mu sync.Mutex
	trails := map[string]trail.API{}
	return Member{
		CloudFormation: cloudformation.NewFromConfig(cfg),
		Trails: trail.Clients{
			CloudTrail: func(r string) trail.API {
				mu.Lock()
				defer mu.Unlock()
				if c, ok := trails[r]; ok {
					return c
				}
				c := cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) { o.Region = r })
				trails[r] = c
				return c
			},
			S3: s3.NewFromConfig(cfg),
		},
	}, nil
}
