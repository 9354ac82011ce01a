//go:build integration

package integration

// The fault runs of issue 8: AWS misbehaving on the wire (through integration/localworld/proxy, between
// the call recorder and moto), CloudFormation states moto never produces (DescribeStacks
// rewritten by the proxy), the Cloud One stand-in failing, and a broken secret. Each run
// onboards 20 accounts through the real pipeline (Control Tower events on the default bus,
// the intake Lambda, the FIFO queue with its redrive to the DLQ, the reconcile Lambdas) and
// accounts for every request: in sync (read through the SDK from moto), or in the DLQ with
// a reason in the logs. Nothing may be lost. Run them with
//
//	go test -tags integration -run Fault ./integration/...
//
// ONBOARDER_WRITE_RELIABILITY=docs/RELIABILITY.md (relative to the module root, or absolute)
// writes the table of the run.

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

const (
	faultAccounts = 20
	// The reconcile queue's redrive, the last resort: a request comes back while its stack
	// operation runs, which is not a failure; the worker counts failures itself
	// (ONBOARDER_MAX_FAILURES, faultMaxFailures here) and dead-letters on its own.
	faultMaxReceive  = 30
	faultMaxFailures = 4
)

// faultRow is one line of docs/RELIABILITY.md.
type faultRow struct {
	Group, Scenario, Fault, Outcome string
	In, InSync, InDLQ, Lost         int
	Injected                        int // faults the proxy (or the stand-in) injected
	Writes                          int // CloudFormation write calls (the CloudFormation runs), -1: not counted
	Duration                        time.Duration
	Seq                             int // the scenario's place in its group, as declared
}

var faultRows struct {
	sync.Mutex
	rows []faultRow
}

func addFaultRow(r faultRow) {
	faultRows.Lock()
	defer faultRows.Unlock()
	faultRows.rows = append(faultRows.rows, r)
}

// faultWorld is a fault run's environment: 20 member accounts, the Lambdas with the redrive
// of faultMaxReceive receives.
type faultWorld struct {
	*world
	accounts []localworld.Account
	// The Cloud One stand-in's request count when its fault began and when it ended.
	c1From, c1Until int64
	// The Lambdas' logs' marks when the run's requests were put (runStates).
	runMarks lambdaMarks
}

type faultOpts struct {
	env          map[string]string
	functionEnv  map[string]map[string]string
	maxReceive   int
	allowDenials []string // IAM actions the scenario makes the gate refuse on purpose
}

func newFaultWorld(t *testing.T, o faultOpts) *faultWorld {
	t.Helper()
	h := lane(t)
	h.Faults.Clear()
	h.CloudOne.Fail(0)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	if o.maxReceive == 0 {
		o.maxReceive = faultMaxReceive
	}
	w, env, err := startFaultWorld(ctx, t, h, o)
	if err != nil {
		t.Fatal(err)
	}
	env.Pump.BatchSize = 2 // 20 accounts in ten parallel batches
	w.env = env
	t.Cleanup(func() {
		checkDenials(t, h, o.allowDenials)
		if t.Failed() {
			t.Logf("Lambda logs of this test:\n%s", redact(env.LambdaLogs()))
		}
		env.Close()
	})
	return &faultWorld{world: w, accounts: w.org.Accounts}
}

func startFaultWorld(ctx context.Context, t *testing.T, h *localworld.Harness, o faultOpts) (*world, *localworld.Env, error) {
	if err := h.Moto.Reset(ctx); err != nil {
		return nil, nil, err
	}
	names := make([]string, faultAccounts)
	for i := range names {
		names[i] = fmt.Sprintf("fault-%02d", i+1)
	}
	const region = "eu-west-1"
	org, err := h.Moto.SeedOrganization(ctx, region, localworld.OU{Name: "Workloads", Accounts: names})
	if err != nil {
		return nil, nil, fmt.Errorf("seed organization: %w", err)
	}
	w := &world{t: t, h: h, ctx: ctx, org: org, region: region}
	env := map[string]string{"ONBOARDER_MAX_FAILURES": strconv.Itoa(faultMaxFailures)}
	maps.Copy(env, o.env)
	opts := h.Options(region, secret())
	opts.Env, opts.FunctionEnv, opts.ReconcileConcurrency, opts.MaxReceiveCount = env, o.functionEnv, 10, o.maxReceive
	e, err := localworld.Setup(ctx, h.Moto, h.Recorder, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("set up the environment: %w\n%s", err, motoTail(h))
	}
	return w, e, nil
}

func (fw *faultWorld) ids() []string {
	var out []string
	for _, a := range fw.accounts {
		out = append(out, a.ID)
	}
	return out
}

// controlTower puts one Control Tower CreateManagedAccount event per account.
func (fw *faultWorld) controlTower(accounts ...localworld.Account) {
	var es []localworld.Entry
	for _, a := range accounts {
		es = append(es, localworld.ControlTowerAccount("CreateManagedAccount", a, "SUCCEEDED", fw.env.Region))
	}
	fw.put(es...)
}

// drainFor runs the pump until idle, within limit; during runs alongside (nil: nothing).
func (fw *faultWorld) drainFor(limit time.Duration, during func(ctx context.Context)) localworld.Stats {
	fw.t.Helper()
	ctx, cancel := context.WithTimeout(fw.ctx, limit)
	defer cancel()
	var wg sync.WaitGroup
	if during != nil {
		wg.Add(1)
		go func() { defer wg.Done(); during(ctx) }()
	}
	st, err := fw.env.Drain(ctx)
	cancel()
	wg.Wait()
	if err != nil {
		fw.t.Fatalf("drain: %v (stats: %d invocations, %d function errors, %d item failures)", err,
			st.Invocations["reconcile"], len(st.FunctionErrors), st.ItemFailures)
	}
	return st
}

// inSync checks one account's stack through the SDK against moto (no product code), with the
// CloudFormation layer's status: in the mapped region, settled, managed, fingerprinted, with
// the contract's parameters (a new trail, or an existing trail's bucket) and the secret's key
// and token. It returns why not, or "".
func (fw *faultWorld) inSync(account string) string {
	s := fw.stack(account, stackRegion, stackName)
	if s == nil {
		return "no stack " + stackName + " in " + stackRegion
	}
	// Settled: *_COMPLETE, except a create that rolled back. UPDATE_ROLLBACK_COMPLETE is a
	// stack back on its previous (here: the desired) parameters.
	if st := string(s.StackStatus); !strings.HasSuffix(st, "_COMPLETE") || st == "ROLLBACK_COMPLETE" || st == "IMPORT_ROLLBACK_COMPLETE" {
		return "stack status " + st
	}
	tg := localworld.StackTags(s)
	if tg["cloudone-onboarder:managed"] != "true" || tg["cloudone-onboarder:fingerprint"] == "" {
		return "stack lacks the onboarder's tags"
	}
	p := localworld.StackParams(s)
	newTrail := p["CreateNewTrail"] == "True" && p["ExistingCloudtrailBucketName"] == ""
	existing := p["CreateNewTrail"] == "False" && p["ExistingCloudtrailBucketName"] != ""
	if !(newTrail || existing) || p["QSS3BucketName"] != "cloudone-community" {
		return "parameters " + publicParams(s)
	}
	if p["CloudOneApiKey"] != c1Key.APIKey() || p["VisionOneServiceToken"] != v1Tok {
		return "the stack does not carry the secret's key and token"
	}
	return ""
}

// dlqAccounts reads every message of the DLQ (hiding them for a minute) and returns the
// accounts of the requests, with their counts.
func (fw *faultWorld) dlqAccounts() map[string]int {
	fw.t.Helper()
	q := sqs.NewFromConfig(fw.h.Moto.Config(fw.ctx, fw.env.Region))
	out := map[string]int{}
	for {
		r, err := q.ReceiveMessage(fw.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(fw.env.DLQURL), MaxNumberOfMessages: 10, VisibilityTimeout: 120})
		if err != nil {
			fw.t.Fatalf("read the DLQ: %v", err)
		}
		if len(r.Messages) == 0 {
			return out
		}
		for _, m := range r.Messages {
			req, err := queue.Decode(aws.ToString(m.Body))
			if err != nil {
				fw.t.Errorf("DLQ message %s is not a request: %v", aws.ToString(m.MessageId), err)
				continue
			}
			out[req.Account]++
		}
	}
}

// tally is what became of a run's requests.
type tally struct {
	inSync, inDLQ, lost []string
	dlqInSync           []string          // in the DLQ, yet in sync (a retry of a done request)
	why                 map[string]string // account -> why it is not in sync
	reasons             map[string]string // account in the DLQ -> the last reason logged for it
}

// account accounts for every request: in sync, in the DLQ (with the reason the worker logged),
// or lost.
func (fw *faultWorld) account(ids []string, logs string) tally {
	fw.t.Helper()
	dlq := fw.dlqAccounts()
	tl := tally{why: map[string]string{}, reasons: map[string]string{}}
	for _, id := range ids {
		why := fw.inSync(id)
		_, inDLQ := dlq[id]
		failed := lastOutcome(logs, id) != "done" // the worker's last word on it
		switch {
		case inDLQ && (failed || why != ""):
			// In the DLQ for a reason: even if moto's stack looks right (a rewritten state
			// that needs a person), the request is the DLQ's.
			tl.inDLQ = append(tl.inDLQ, id)
			tl.why[id] = why
			tl.reasons[id] = lastReason(logs, id)
		case why == "":
			tl.inSync = append(tl.inSync, id)
			if inDLQ {
				tl.dlqInSync = append(tl.dlqInSync, id)
			}
		default:
			tl.lost = append(tl.lost, id)
			tl.why[id] = why
		}
	}
	for id := range dlq {
		if !slices.Contains(ids, id) {
			fw.t.Errorf("the DLQ holds a request for %s, which no event asked for", id)
		}
	}
	return tl
}

// byReceive is the worker's decision lines about account, in receive order (the processes'
// logs are concatenated, not interleaved).
func byReceive(logs, account string) []map[string]any {
	ls := reconcileLogs(logs, account)
	n := func(e map[string]any) int { s, _ := e["receive_count"].(string); v, _ := strconv.Atoi(s); return v }
	sort.SliceStable(ls, func(i, j int) bool { return n(ls[i]) < n(ls[j]) })
	return ls
}

// lastOutcome is the outcome of the worker's last decision about account ("" if none).
func lastOutcome(logs, account string) string {
	ls := byReceive(logs, account)
	if len(ls) == 0 {
		return ""
	}
	o, _ := ls[len(ls)-1]["outcome"].(string)
	return o
}

// lastReason is the reason of the worker's last decision line about account that did not
// succeed.
func lastReason(logs, account string) string {
	r := ""
	for _, e := range byReceive(logs, account) {
		if e["outcome"] != "done" {
			r, _ = e["reason"].(string)
		}
	}
	return r
}

// faultCase is one scenario of a fault run.
type faultCase struct {
	group, name, fault string
	opts               faultOpts
	before             func(fw *faultWorld)                      // after the world starts, before the events
	during             func(ctx context.Context, fw *faultWorld) // alongside the drain
	drain              time.Duration                             // default 2 minutes
	wantDLQ            []string                                  // accounts (by name) expected in the DLQ; "*" for all
	reason             string                                    // what a DLQ reason must say
	after              func(fw *faultWorld, tl tally, mark int)  // more checks
	injected           func(fw *faultWorld) int                  // faults injected (default: the proxy's count)
	viaSweep           bool                                      // one manual request for the 20 accounts through the sweep, not 20 Control Tower events
	seq                int                                       // its place in its group (the order of the page's rows)
	mustInject         bool                                      // a run where no call met the fault proves nothing: it fails
}

// runFault runs one scenario: 20 Control Tower events, drained with the fault in place, then
// every request accounted for, the logs checked for secrets and the reasons, and a row.
func runFault(t *testing.T, c faultCase) {
	start := time.Now()
	fw := newFaultWorld(t, c.opts)
	t.Logf("world ready in %s", time.Since(start).Round(time.Millisecond))
	if c.before != nil {
		c.before(fw)
	}
	fw.h.Faults.ResetStats()
	mark, marks := fw.h.Recorder.Mark(), fw.marks()
	if c.viaSweep {
		fw.put(localworld.Manual(fw.ids()...))
	} else {
		fw.controlTower(fw.accounts...)
	}
	var during func(ctx context.Context)
	if c.during != nil {
		during = func(ctx context.Context) { c.during(ctx, fw) }
	}
	limit := c.drain
	if limit == 0 {
		limit = 2 * time.Minute
	}
	st := fw.drainFor(limit, during)
	t.Logf("drained after %s: %d reconcile invocations, %d item failures, %d function errors", time.Since(start).Round(time.Millisecond),
		st.Invocations["reconcile"], st.ItemFailures, len(st.FunctionErrors))
	injected := 0
	if c.injected != nil {
		injected = c.injected(fw)
	} else {
		for _, n := range fw.h.Faults.Stats().Faults {
			injected += n
		}
	}
	if c.mustInject && injected == 0 {
		t.Errorf("%s: no call met the fault: the scenario proves nothing", c.name)
	}
	fw.h.Faults.Clear()
	fw.h.CloudOne.Fail(0)
	logs := fw.logsSince(marks, "reconcile")
	tl := fw.account(fw.ids(), logs)
	fw.check(c, tl, logs)
	if c.after != nil {
		c.after(fw, tl, mark)
	}
	fw.checkNoLeak()
	if dir := os.Getenv("ONBOARDER_FAULT_LOGS"); dir != "" { // for a look at a run: the Lambda logs, secrets masked
		_ = os.WriteFile(filepath.Join(dir, strings.NewReplacer(" ", "_", "%", "pct", "/", "_").Replace(c.name)+".log"), []byte(redact(fw.env.LambdaLogs())), 0o644)
	}
	row := faultRow{Group: c.group, Scenario: c.name, Fault: c.fault, In: faultAccounts,
		InSync: len(tl.inSync), InDLQ: len(tl.inDLQ), Lost: len(tl.lost), Injected: injected, Duration: time.Since(start), Seq: c.seq}
	row.Outcome = outcome(tl)
	addFaultRow(row)
	t.Logf("%s: %d in, %d in sync, %d in the DLQ, %d lost; %d faults injected; %s", c.name, row.In, row.InSync, row.InDLQ, row.Lost,
		injected, row.Duration.Round(time.Second))
}

func outcome(tl tally) string {
	switch {
	case len(tl.lost) > 0:
		return fmt.Sprintf("LOST %d: %s", len(tl.lost), strings.Join(tl.lost, ", "))
	case len(tl.inDLQ) == 0:
		s := "all in sync"
		if len(tl.dlqInSync) > 0 {
			s += fmt.Sprintf(" (%d also in the DLQ after a retry of a done request)", len(tl.dlqInSync))
		}
		return s
	}
	// One reason, shortened, as an example.
	var rs []string
	for _, r := range tl.reasons {
		rs = append(rs, r)
	}
	sort.Strings(rs)
	r := ""
	if len(rs) > 0 {
		r = rs[0]
		if i := strings.Index(r, ": "); i > 0 && len(r) > 160 {
			r = r[i+2:]
		}
		if len(r) > 160 {
			r = r[:157] + "..."
		}
	}
	return fmt.Sprintf("%d in the DLQ: %q", len(tl.inDLQ), r)
}

// check asserts the scenario's expectations on the tally.
func (fw *faultWorld) check(c faultCase, tl tally, logs string) {
	t := fw.t
	t.Helper()
	if len(tl.lost) > 0 {
		for _, id := range tl.lost {
			t.Errorf("LOST: %s is neither in sync (%s) nor in the DLQ", id, tl.why[id])
		}
	}
	if n := len(tl.inSync) + len(tl.inDLQ) + len(tl.lost); n != faultAccounts {
		t.Errorf("accounted for %d requests, want %d", n, faultAccounts)
	}
	want := map[string]bool{}
	for _, n := range c.wantDLQ {
		if n == "*" {
			for _, a := range fw.accounts {
				want[a.ID] = true
			}
			continue
		}
		want[fw.org.Account(n).ID] = true
	}
	for _, id := range tl.inDLQ {
		if !want[id] {
			t.Errorf("%s ended in the DLQ (%s), want it in sync; last reason: %s", id, tl.why[id], tl.reasons[id])
		}
		r := tl.reasons[id]
		if r == "" {
			t.Errorf("%s is in the DLQ with no reason in the logs", id)
		} else if c.reason != "" && !strings.Contains(r, c.reason) {
			t.Errorf("%s is in the DLQ with reason %q, want it to say %q", id, r, c.reason)
		}
	}
	for id := range want {
		if !slices.Contains(tl.inDLQ, id) {
			t.Errorf("%s: want it in the DLQ, it is not (in sync: %v)", id, slices.Contains(tl.inSync, id))
		}
	}
	_ = logs
}

// checkNoLeak looks for the key and the token in everything the run's Lambdas wrote.
func (fw *faultWorld) checkNoLeak() {
	fw.t.Helper()
	logs := fw.env.LambdaLogs()
	if !strings.Contains(logs, `"message":"reconcile"`) {
		fw.t.Errorf("no reconcile log line: the leak check would prove nothing")
	}
	if leaks := findLeaks(logs); len(leaks) > 0 {
		fw.t.Errorf("a secret appears in the Lambda logs of this fault run: %s", strings.Join(leaks, "; "))
	}
}

// ---- faults on the wire ----

func TestFaultWire(t *testing.T) {
	t.Parallel()
	all := func(f proxy.Fault, p float64) func(*faultWorld) {
		return func(fw *faultWorld) { fw.h.Faults.Add(proxy.Rule{Fault: f, Probability: p}) }
	}
	cases := []faultCase{
		{group: "wire", name: "throttling 30%", fault: "Throttling (query XML / JSON / S3 SlowDown) on 30% of all calls of every service",
			before: all(proxy.Throttle{}, 0.3)},
		{group: "wire", name: "throttling burst", fault: "Throttling on 100% of all calls for 10 s from the first event",
			before: func(fw *faultWorld) {
				// From the first call the burst meets, not from now: a loaded machine whose first
				// call comes late would otherwise miss it, and the case would prove nothing.
				fw.h.Faults.Add(proxy.Rule{Fault: proxy.Throttle{}, Duration: 10 * time.Second, FromFirstMatch: true})
			}},
		{group: "wire", name: "server error 500", fault: "HTTP 500 InternalFailure on 30% of all calls",
			before: all(proxy.ServerError{Status: 500}, 0.3)},
		{group: "wire", name: "server error 503", fault: "HTTP 503 ServiceUnavailable on 30% of all calls",
			before: all(proxy.ServerError{Status: 503}, 0.3)},
		{group: "wire", name: "connection reset", fault: "TCP RST before any response on 20% of all calls",
			before: all(proxy.Reset{}, 0.2)},
		{group: "wire", name: "truncated body", fault: "half the response body under the full Content-Length, then close, on 20% of all calls",
			before: all(proxy.Truncate{}, 0.2)},
		{group: "wire", name: "latency", fault: "0 to 2 s added before forwarding, on 25% of all calls",
			before: all(proxy.Latency{UpTo: 2 * time.Second}, 0.25)},
	}
	for i, c := range cases {
		c.seq = i
		c.mustInject = true
		// The intake Lambda handles one event per invocation, and the pump invokes intakes one
		// at a time: 20 events under throttling would queue behind each other's back-off. One
		// manual request through the sweep enqueues the 20 accounts in one invocation (the
		// sweep's Organizations and SQS calls are faulted like the rest).
		c.viaSweep = true
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) { runFault(t, c) })
	}
}
