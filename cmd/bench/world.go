package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/logging"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/trend"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/awsconf"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
)

const (
	homeRegion  = "eu-west-1" // where the onboarder runs
	stackRegion = "us-east-1" // us-1 maps here
	stackName   = "CloudOne"
)

// benchKey is the Cloud One key of the run (the stand-in knows it; us-1 -> us-east-1).
var benchKey = trend.Key{ID: "BENCHKEY0001", Secret: "bench-secret-0d1e2f", Region: "us-1", Account: "711111111111"}

// benchV1Key is the Vision One API key of the run (the Vision One stand-in knows it).
const benchV1Key = "BENCHV1KEY-5f3c9a17d2e8"

// world is the local environment of the run: the harness (moto, the fault proxy, the
// recorder, the emulator, the handler binaries, the Cloud One stand-in) and the current Env.
type world struct {
	h        *localworld.Harness
	env      *localworld.Env
	org      *localworld.Org
	accounts []string // the seeded member accounts of the scale world, sorted
	logf     func(string, ...any)
}

func startWorld(ctx context.Context, tuned bool, logf func(string, ...any)) (*world, error) {
	h, err := localworld.StartHarnessWith(ctx, localworld.MotoOptions{Tuned: tuned}, []trend.Key{benchKey})
	if err != nil {
		return nil, err
	}
	h.VisionOne.AddKey(benchV1Key)
	return &world{h: h, logf: logf}, nil
}

func (w *world) stop() {
	w.env.Close()
	w.h.Stop()
}

// reset clears moto, the proxy's rules and counters, and the Vision One stand-in's accounts
// and templates (kept in moto's S3), and stops the Lambdas of the last Env.
func (w *world) reset(ctx context.Context) error {
	if w.env != nil {
		w.env.Close()
		w.env = nil
	}
	w.h.Faults.Clear()
	w.h.Faults.ResetStats()
	w.h.VisionOne.Reset()
	return w.h.Moto.Reset(ctx)
}

// setup creates the central resources and starts the Lambdas.
func (w *world) setup(ctx context.Context, reconcilers int, visibility int32, mods ...func(*localworld.Options)) error {
	opts := w.h.Options(homeRegion, localworld.SecretValue{CloudOneAPIKey: benchKey.APIKey(), VisionOneServiceToken: "bench-token-5a6b7c"})
	opts.ReconcileConcurrency = reconcilers
	opts.VisibilityTimeout = visibility
	opts.Tees = nil // the harness log would keep every line of every run
	for _, m := range mods {
		m(&opts)
	}
	env, err := localworld.Setup(ctx, w.h.Moto, w.h.Recorder, opts)
	if err != nil {
		return err
	}
	w.env = env
	return nil
}

// visionOne makes an Env one of the Vision One target (the central stack's Target=visionone,
// its stacks in stackRegion), with the Vision One stand-in as Vision One and its key in the
// secret.
func (w *world) visionOne(opts *localworld.Options) {
	opts.VisionOne = w.h.VisionOneTarget(stackRegion)
	opts.Secret = localworld.SecretValue{VisionOneAPIKey: benchV1Key}
}

// awsConfig is the management account's configuration for code run in this process, built as
// the product builds it (awsconf: the standard retryer with 10 attempts), against the fault
// proxy, counting calls in c when c is not nil.
func (w *world) awsConfig(ctx context.Context, c *metrics.Counter) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, append([]func(*awsconfig.LoadOptions) error{awsconfig.WithRetryer(awsconf.Retryer)}, w.loadOptions()...)...)
	if err != nil {
		return cfg, err
	}
	if c != nil {
		metrics.CountCalls(&cfg, c)
	}
	return cfg, nil
}

func (w *world) loadOptions() []func(*awsconfig.LoadOptions) error {
	return []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(homeRegion),
		awsconfig.WithBaseEndpoint(w.h.Faults.URL),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(localworld.AccessKeyID, localworld.SecretAccessKey, "")),
		awsconfig.WithSharedConfigFiles([]string{}),
		awsconfig.WithSharedCredentialsFiles([]string{}),
		// The fault proxy's DynamoDB throttling answers carry no X-Amz-Crc32 header, and the
		// SDK warns about each on stderr; the retry itself is unaffected.
		awsconfig.WithLogger(logging.Nop{}),
	}
}

// errNoEnv is what a section gets that needs the environment an earlier section failed to
// set up (or a reset cleared).
var errNoEnv = errors.New("no local environment: the section that sets it up failed or did not run")

// productConfig is the reconcile Lambda's configuration, read from its function environment.
func (w *world) productConfig() (config.Config, error) {
	if w.env == nil {
		return config.Config{}, errNoEnv
	}
	env := w.env.FunctionEnv("reconcile")
	return config.FromLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

// reconciler is a new Reconciler, as the reconcile Lambda or onboarder reconcile wires it:
// cold (no cached credentials, no cached secret), with the reconcile Lambda's configuration
// as mods change it.
func (w *world) reconciler(ctx context.Context, c *metrics.Counter, mods ...func(*config.Config)) (*reconcile.Reconciler, error) {
	pcfg, err := w.productConfig()
	if err != nil {
		return nil, err
	}
	for _, m := range mods {
		m(&pcfg)
	}
	cfg, err := w.awsConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	r, err := reconcile.New(pcfg, cfg)
	if err != nil {
		return nil, err
	}
	r.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	return r, nil
}

func request(account, trigger string) queue.Request {
	return queue.Request{Version: queue.Version, Account: account, Trigger: trigger, EventID: "bench-" + account, Reason: "bench"}
}

// reconcileAll reconciles the accounts n at a time, as onboarder reconcile --all does, and
// returns the failures and the accounts whose action was not "none".
func reconcileAll(ctx context.Context, r *reconcile.Reconciler, accounts []string, n int) (failed, changed []reconcile.Result) {
	var mu sync.Mutex
	digests := r.Digests(ctx) // as the sweep Lambda and onboarder reconcile --all do
	forEach(len(accounts), n, func(i int) {
		req := request(accounts[i], "sweep")
		req.LedgerDigest = digests[accounts[i]]
		res := r.Reconcile(ctx, req)
		mu.Lock()
		defer mu.Unlock()
		if res.Class != fault.None {
			failed = append(failed, res)
		} else if res.Action != reconcile.ActionNone {
			changed = append(changed, res)
		}
	})
	return failed, changed
}

// unpaced turns the start-rate limit off.
func unpaced(c *config.Config) { c.MaxStartsPerMinute = 0 }

// quick is the configuration of the bench's own set-up work: no start-rate limit, the
// shortest look delays (settleAll looks sooner still).
func quick(c *config.Config) {
	c.MaxStartsPerMinute, c.CheckMinDelay, c.CheckMaxDelay = 0, time.Second, time.Second
}

// settle reconciles one account until its decision needs no later look (the worker would
// then delete the request), waiting the delays the product asks for as the queue would, or
// at most upTo when upTo > 0 (set-up, where the stack operations settle at once).
func settle(ctx context.Context, r *reconcile.Reconciler, req queue.Request, upTo time.Duration) (reconcile.Result, int, error) {
	for passes := 1; ; passes++ {
		res := r.Reconcile(ctx, req)
		if res.RetryAfter <= 0 || res.GiveUp {
			return res, passes, nil
		}
		wait := res.RetryAfter
		if upTo > 0 {
			wait = min(wait, upTo)
		}
		select {
		case <-ctx.Done():
			return res, passes, fmt.Errorf("account %s: %w after %d passes (last: %s %s)", req.Account, ctx.Err(), passes, res.Action, res.Reason)
		case <-time.After(wait):
		}
	}
}

// settleAll settles the accounts n at a time and returns the ones that did not end in sync.
func settleAll(ctx context.Context, r *reconcile.Reconciler, accounts []string, n int) []reconcile.Result {
	var mu sync.Mutex
	var bad []reconcile.Result
	forEach(len(accounts), n, func(i int) {
		res, _, err := settle(ctx, r, request(accounts[i], "bench"), 50*time.Millisecond)
		if err != nil || res.Class != fault.None || (res.Action != reconcile.ActionNone && !res.Changed()) {
			if err != nil {
				res.Error = err.Error()
			}
			mu.Lock()
			bad = append(bad, res)
			mu.Unlock()
		}
	})
	return bad
}

func forEach(count, n int, fn func(i int)) {
	sem := make(chan struct{}, max(n, 1))
	var wg sync.WaitGroup
	for i := range count {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// envelope wraps an entry as EventBridge delivers it to a target.
func envelope(id string, e localworld.Entry, region string) []byte {
	b, _ := json.Marshal(map[string]any{"version": "0", "id": id, "detail-type": e.DetailType, "source": e.Source,
		"account": localworld.ManagementAccount, "time": time.Now().UTC().Format(time.RFC3339), "region": region,
		"resources": []string{}, "detail": e.Detail})
	return b
}

// callCount is the calls of one operation in one kind of account.
type callCount struct {
	Op       string // Service.Action as the proxy names it
	Member   bool   // in the member account (else the management account)
	Requests int
}

// proxyCalls sums the proxy's calls since its last ResetStats by operation and kind of account.
func (w *world) proxyCalls() []callCount {
	sum := map[callCount]int{}
	for k, c := range w.h.Faults.Stats().ByCall {
		sum[callCount{Op: k.Service + "." + k.Action, Member: k.Account != localworld.ManagementAccount}] += c.Requests
	}
	var out []callCount
	for k, n := range sum {
		k.Requests = n
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Member != out[j].Member {
			return out[i].Member
		}
		return out[i].Op < out[j].Op
	})
	return out
}

func joinCalls(cs []callCount, member bool) (string, int) {
	var parts []string
	n := 0
	for _, c := range cs {
		if c.Member == member {
			parts = append(parts, fmt.Sprintf("%s ×%d", c.Op, c.Requests))
			n += c.Requests
		}
	}
	if len(parts) == 0 {
		return "none", 0
	}
	return strings.Join(parts, ", "), n
}

// diffOps is the requests made between two counts by operation (after − before), the
// operations with none left out.
func diffOps(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for op, n := range after {
		if d := n - before[op]; d > 0 {
			out[op] = d
		}
	}
	return out
}

// joinOps says the requests by operation, sorted, as joinCalls says calls, and their sum.
func joinOps(m map[string]int) (string, int) {
	ops := make([]string, 0, len(m))
	n := 0
	for op, c := range m {
		if c > 0 {
			ops = append(ops, fmt.Sprintf("%s ×%d", op, c))
			n += c
		}
	}
	if n == 0 {
		return "none", 0
	}
	sort.Strings(ops)
	return strings.Join(ops, ", "), n
}
