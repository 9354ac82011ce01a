// Package reconcile brings one account's onboarding stack a step closer to the desired state
// per call, like a controller. One call (Reconcile) is one pass over a request, made of three
// small reconcilers whose results combine:
//
//   - the stack: observe (the stack, its latest operation, the trails), decide with a pure
//     function (Decide, the state table of docs/ARCHITECTURE.md, whose plan carries the step,
//     the request's outcome and when it comes back), act (only executes: start the forwarding
//     trail again, take a start slot, at most one stack write), and settle what is known only
//     after acting (Settle, a second pure function: the slot's time, "no updates", a busy
//     stack, a failure's class);
//   - the ledger: Record, a pure function of the result and the stored entry, counts transient
//     failures, gives up after ONBOARDER_MAX_FAILURES, reports a needs-a-person state once and
//     says what to write;
//   - the rollout: the pass of an account of the current wave is recorded, and the pass that
//     completes the wave releases the next one.
//
// Nothing waits for CloudFormation: the Result's Outcome says what becomes of the request
// (done, later, retry, dead-letter) and RetryAfter when it comes back; the worker carries that
// out and decides nothing about the account.
//
// Entry points (used by handlers/reconcile, through internal/worker, and cmd/bench):
//
//	r, err := reconcile.New(cfg, awsCfg)          // cfg validated; awsCfg of the management account
//	res := r.Reconcile(ctx, queue.Request{...})   // never panics
package reconcile

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/target"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// Secrets gives the vendor's credentials (cached by secretstore.Store).
type Secrets interface {
	Get(ctx context.Context) (secret.Credentials, error)
}

// KeyDescriber reads an API key's Cloud One region (cloudone.Client).
type KeyDescriber = target.KeyDescriber

// CloudFormationAPI is the part of the CloudFormation client the reconcile uses.
type CloudFormationAPI interface {
	cloudformation.DescribeStacksAPIClient
	stack.EventsAPI
	stack.SummaryAPI
	CreateStack(ctx context.Context, in *cloudformation.CreateStackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.CreateStackOutput, error)
	UpdateStack(ctx context.Context, in *cloudformation.UpdateStackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.UpdateStackOutput, error)
	DeleteStack(ctx context.Context, in *cloudformation.DeleteStackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DeleteStackOutput, error)
	ContinueUpdateRollback(ctx context.Context, in *cloudformation.ContinueUpdateRollbackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.ContinueUpdateRollbackOutput, error)
}

// Member is a member account's clients in the stack's region.
type Member struct {
	CloudFormation CloudFormationAPI
	Trails         trail.Clients
}

// Members opens member accounts (crossaccount.Assumer behind AWSMembers): Reconciler.Members
// with the execution role, Reconciler.Fallback with ONBOARDER_FALLBACK_ROLE_NAME.
type Members interface {
	Member(ctx context.Context, account, region string) (Member, error)
}

// Ledger keeps the last decision per account (ledger.Table).
type Ledger interface {
	Get(ctx context.Context, account string) (ledger.Entry, bool, error)
	Put(ctx context.Context, e ledger.Entry) error
}

// Starts paces stack operation starts across the Organization (starts.Limiter): Take returns
// the time of the slot it reserved; a slot not yet due is waited for.
type Starts interface {
	Take(ctx context.Context) (time.Time, error)
}

// Rollouts is the rollout of a new template version in waves (*rollout.Store).
type Rollouts interface {
	Get(ctx context.Context) (*rollout.Rollout, error)
	Record(ctx context.Context, id string, wave int, account string, failed bool, why string) (*rollout.Rollout, error)
	Advance(ctx context.Context, r *rollout.Rollout) ([]string, error)
}

// Reconciler reconciles accounts. Its fields are its dependencies; New wires the real ones.
type Reconciler struct {
	Cfg     config.Config
	Secrets Secrets
	// Target is the vendor the accounts are connected to; nil: Cloud One's v1 template, with
	// CloudOne to read the key's region.
	Target   target.Target
	CloudOne KeyDescriber
	Members  Members
	Fallback Members // nil: no fallback role (ONBOARDER_FALLBACK_ROLE_NAME)
	Ledger   Ledger  // nil: no ledger (no failure count, no start slots kept)
	Starts   Starts  // nil: stack starts are not paced
	// Rollouts, when set, chooses each account's template (a rollout in waves) and records
	// the passes of the accounts of the current wave; Release enqueues a wave it released.
	Rollouts Rollouts
	Release  func(ctx context.Context, r *rollout.Rollout, wave int, why string, accounts []string) error
	Log      *slog.Logger
	Now      func() time.Time

	// templates keeps what each template URL declares (its parameters), read once per URL
	// and process, for templateTTL.
	templates sync.Map // URL -> templateRead
}

// templateRead is a template's parameters and when they were read.
type templateRead struct {
	params stack.TemplateParams
	at     time.Time
}

// templateTTL is how long a template's parameters are trusted: a template under an unversioned
// URL (Trend's latest/) can change.
const templateTTL = 15 * time.Minute

// pass is one call of Reconcile: the request and what the reconcilers learned on the way.
type pass struct {
	r     *Reconciler
	req   queue.Request
	now   time.Time
	creds secret.Credentials

	entry     *ledger.Entry // the account's ledger entry, read at most once
	entryRead bool
	// ro is the rollout read for this pass (nil: none), version the template version the
	// desired state used (zero: none was built).
	ro      *rollout.Rollout
	version rollout.Version
	// roAhead, when set, delivers the rollout item read beside the pass's first calls.
	roAhead chan rolloutRead
	// pre is the observation of the onboarder's own stack the vendor's needs, when the
	// target has one for this account (Vision One's trail stack).
	pre *Observation
}

// Reconcile takes one step for one account and says what it did and what becomes of the
// request. It never panics and never waits for CloudFormation.
func (r *Reconciler) Reconcile(ctx context.Context, req queue.Request) Result {
	p := &pass{r: r, req: req, now: r.now()}
	if r.Rollouts != nil && req.LedgerDigest != "" {
		// A sweep's pass (it carries the ledger digest) is in sync in the common case, and
		// needs the rollout only to know the version it is in sync with: the read runs beside
		// the member account's calls instead of after them, one call less to wait for.
		p.readRolloutAhead(ctx)
	}
	res := scrubResult(p.stack(ctx), p.creds)
	res = scrubResult(p.record(ctx, res), p.creds)
	p.rollout(ctx, res)
	return res
}

// target is the vendor the accounts are connected to.
func (r *Reconciler) target() target.Target {
	if r.Target != nil {
		return r.Target
	}
	return &target.CloudOne{Cfg: r.Cfg, Keys: r.CloudOne}
}

// delays are the configured delays of coming back.
func (r *Reconciler) delays() Delays {
	return Delays{Min: r.Cfg.CheckMinDelay, Max: r.Cfg.CheckMaxDelay}
}

func (r *Reconciler) logger() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Digests reads the whole ledger once and returns the digest of each account's entry, for
// work over many accounts in one process (the bench; the sweep Lambda reads them itself): set as
// Request.LedgerDigest, it spares the rewrite of every entry that did not change. Without a
// ledger that can be read it returns nil, and every entry is written.
func (r *Reconciler) Digests(ctx context.Context) map[string]string {
	all, ok := r.Ledger.(interface {
		Digests(ctx context.Context) (map[string]string, error)
	})
	if !ok || r.Cfg.DryRun {
		return nil
	}
	out, err := all.Digests(ctx)
	if err != nil {
		r.logger().WarnContext(ctx, "ledger not read: every entry will be rewritten", "error", err.Error())
		return nil
	}
	return out
}
