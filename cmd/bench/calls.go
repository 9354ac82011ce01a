package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
)

// callRow is one decision: the calls it made, by kind of account, beside its minimum.
type callRow struct {
	Decision    string
	Outcome     string // the action or the trail guard's decision
	Member      string
	MemberN     int
	Management  string
	ManagementN int
	Minimum     int // member-account calls the decision needs
	// Needed names the operations the minimum counts that a pass makes only at times (a
	// template's parameters, read once per URL and process): not listed as above the minimum.
	Needed []string
	// Vendor: the calls to the vendor's API (Vision One's, counted by its stand-in), beside
	// the ones the decision needs; HasVendor says they are counted (Cloud One's are not).
	HasVendor     bool
	Vendor        string
	VendorN       int
	VendorMinimum int
	Why           string
	Goal          string // "" when the row has no goal of its own
	Met           bool
}

// The goals a calls row can have.
const (
	goalNearMinimum = "within one call of the minimum"
	goalNoMember    = "no call to the member account"
)

// meets says whether the row's figures meet its goal: within one call of the minimum is the
// member account's calls and, where they are counted, the vendor's, each.
func (c callRow) meets() bool {
	switch c.Goal {
	case goalNearMinimum:
		return c.MemberN <= c.Minimum+1 && (!c.HasVendor || c.VendorN <= c.VendorMinimum+1)
	case goalNoMember:
		return c.MemberN == 0
	}
	return false
}

// memRow is the peak resident memory of one handler in one scenario.
type memRow struct {
	Name      string
	Scenario  string
	Peak      int64 // bytes: the largest VmHWM among the handler's processes
	Processes int
}

const memLimit = 40 << 20 // 40 MiB

// measureCalls sets up a small Organization and measures the AWS calls of each decision with
// the proxy's per-account counters (the SDK middleware metrics.CountCalls counts the same
// calls by operation; both are reported). With memory it then drives every handler through a
// new account's full onboarding and reads their peak memory.
func (w *world) measureCalls(ctx context.Context, memory bool) ([]callRow, []memRow, error) {
	if err := w.reset(ctx); err != nil {
		return nil, nil, err
	}
	org, err := w.h.Moto.SeedOrganization(ctx, homeRegion, localworld.OU{Name: "Workloads", Accounts: []string{"new-a", "sync-a", "mem-a", "look-a"}})
	if err != nil {
		return nil, nil, err
	}
	w.org = org
	if err := w.setup(ctx, 1, 60); err != nil {
		return nil, nil, err
	}
	// Each row is one pass: operations settle at the next look, except look-a's create below.
	w.h.Faults.EnableStacks(proxy.StackTiming{})
	newA, syncA, memA, lookA := org.Account("new-a"), org.Account("sync-a"), org.Account("mem-a"), org.Account("look-a")
	trailARN, err := w.h.Moto.SeedTrail(ctx, localworld.Trail{Account: syncA.ID, Name: "audit", Bucket: "audit-logs-" + syncA.ID, HomeRegion: stackRegion, Logging: true})
	if err != nil {
		return nil, nil, err
	}
	var rows []callRow
	measure := func(row callRow, fn func() (string, error)) error {
		row, err := w.measured(row, fn)
		if err == nil {
			rows = append(rows, row)
		}
		return err
	}
	reconcileOnce := func(r *reconcile.Reconciler, account string) (string, error) {
		res := r.Reconcile(ctx, request(account, "bench"))
		if res.Err != nil {
			return "", res.Err
		}
		return string(res.Action), nil
	}

	warm, err := w.reconciler(ctx, &metrics.Counter{})
	if err != nil {
		return nil, nil, err
	}
	// Onboard sync-a (it forwards through its existing trail), which also warms the credentials.
	if res, _, err := settle(ctx, warm, request(syncA.ID, "bench"), 50*time.Millisecond); err != nil || res.Err != nil {
		return nil, nil, fmt.Errorf("onboard sync-a: %v %v", err, res.Err)
	}
	if err := measure(callRow{Decision: "account in sync, warm credentials (second reconcile in the same process)", Minimum: 3,
		Why:  "DescribeStacks (status, parameters, fingerprint tag) + DescribeTrails (the forwarding trail still exists and covers the region) + GetTrailStatus (it still logs)",
		Goal: goalNearMinimum},
		func() (string, error) { return reconcileOnce(warm, syncA.ID) }); err != nil {
		return nil, nil, err
	}
	cold, err := w.reconciler(ctx, &metrics.Counter{})
	if err != nil {
		return nil, nil, err
	}
	if err := measure(callRow{Decision: "account in sync, cold credentials (a new process: what a sweep's first pass does)", Minimum: 3,
		Why: "the 3 calls above; AssumeRole, once per account and process, is a management-account call (STS, with the management account's keys), as are the secret (once per process) and the ledger write"},
		func() (string, error) { return reconcileOnce(cold, syncA.ID) }); err != nil {
		return nil, nil, err
	}
	fresh, err := w.reconciler(ctx, &metrics.Counter{})
	if err != nil {
		return nil, nil, err
	}
	if err := measure(callRow{Decision: "new account (no stack, no trail), cold credentials: the pass that starts the create", Minimum: 3,
		Why:  "DescribeStacks (absent) + DescribeTrails (no suitable trail) + CreateStack, and the pass returns: the request comes back to look. In the management account: AssumeRole, the secret, the ledger entry (read, then written) and the start slot (one DynamoDB UpdateItem)",
		Goal: goalNearMinimum},
		func() (string, error) { return reconcileOnce(fresh, newA.ID) }); err != nil {
		return nil, nil, err
	}
	// look-a's create runs for an hour: the next pass looks at an operation in progress. It
	// is measured last, after the memory scenario, whose sweep would find the create running.
	lookRow := func() error {
		w.h.Faults.EnableStacks(proxy.StackTiming{Create: time.Hour})
		defer w.h.Faults.EnableStacks(proxy.StackTiming{})
		if _, err := reconcileOnce(fresh, lookA.ID); err != nil {
			return fmt.Errorf("create look-a: %w", err)
		}
		return measure(callRow{Decision: "a look at a create in progress (what every later pass of a new account costs until it ends)", Minimum: 1,
			Why:  "DescribeStacks (still CREATE_IN_PROGRESS), and the request goes back to the queue with a longer delay",
			Goal: goalNearMinimum},
			func() (string, error) { return reconcileOnce(fresh, lookA.ID) })
	}
	tg := w.env.Lambdas["trailguard"]
	other := "arn:aws:cloudtrail:" + stackRegion + ":" + syncA.ID + ":trail/someone-elses-trail"
	if err := measure(callRow{Decision: "trail event about a trail that is not ours (trail guard Lambda)", Minimum: 0,
		Why:  "the ledger (one DynamoDB GetItem in the management account) says which trail forwards; the event names another one",
		Goal: goalNoMember},
		func() (string, error) {
			body := envelope("bench-irrelevant-0001", localworld.TrailCall(syncA.ID, stackRegion, "StopLogging", other), homeRegion)
			_, ferr, err := tg.Invoke(ctx, body)
			if err != nil || ferr != nil {
				return "", fmt.Errorf("trailguard: %v %v", err, ferr)
			}
			if n := len(w.h.Faults.Calls(proxy.Filter{Service: "sqs"})); n > 0 {
				return "enqueued", nil
			}
			return "skipped (nothing enqueued)", nil
		}); err != nil {
		return nil, nil, err
	}
	if !memory {
		err := lookRow()
		return rows, nil, err
	}

	// Memory: every handler through a new account's onboarding (Control Tower event ->
	// accountvending -> queue -> reconcile, which creates the stack), a trail event on the
	// forwarding trail (trailguard -> reconcile) and a sweep of the small Organization.
	w.h.Faults.ResetStats()
	if _, err := w.env.Put(ctx, localworld.ControlTowerAccount("CreateManagedAccount", memA, "SUCCEEDED", homeRegion),
		localworld.TrailCall(syncA.ID, stackRegion, "StopLogging", trailARN)); err != nil {
		return nil, nil, err
	}
	if _, err := w.drain(ctx); err != nil {
		return nil, nil, err
	}
	if _, ferr, err := w.env.Lambdas["sweep"].Invoke(ctx, localworld.ScheduledEvent(homeRegion)); err != nil || ferr != nil {
		return nil, nil, fmt.Errorf("sweep: %v %v", err, ferr)
	}
	st, err := w.drain(ctx)
	if err != nil {
		return nil, nil, err
	}
	if len(st.FunctionErrors) > 0 {
		return nil, nil, fmt.Errorf("function errors: %v", st.FunctionErrors)
	}
	var mem []memRow
	for _, name := range localworld.Handlers {
		mem = append(mem, w.memRow(name, "new account: full onboarding, plus a trail event and a sweep of 4 accounts"))
	}
	fm, err := w.floorMemory(ctx)
	if err != nil {
		return nil, nil, err
	}
	mem = append(mem, fm)
	err = lookRow()
	return rows, mem, err
}

// measured runs one decision (fn, which returns its outcome) and fills the row with the calls
// it made: AWS calls by kind of account, from the fault proxy's counters, and calls to Vision
// One, from its stand-in's, when the row counts them.
func (w *world) measured(row callRow, fn func() (string, error)) (callRow, error) {
	w.h.Faults.ResetStats()
	before := w.h.VisionOne.RequestsByOperation()
	out, err := fn()
	if err != nil {
		return row, fmt.Errorf("%s: %w", row.Decision, err)
	}
	cs := w.proxyCalls()
	row.Outcome = out
	row.Member, row.MemberN = joinCalls(cs, true)
	row.Management, row.ManagementN = joinCalls(cs, false)
	if row.HasVendor {
		row.Vendor, row.VendorN = joinOps(diffOps(before, w.h.VisionOne.RequestsByOperation()))
	}
	row.Met = row.meets()
	return row, nil
}

func (w *world) drain(ctx context.Context) (localworld.Stats, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	return w.env.Drain(ctx)
}

func (w *world) memRow(name, scenario string) memRow {
	hwm := vmHWM(w.h.Binaries[name])
	r := memRow{Name: name, Scenario: scenario, Processes: len(hwm)}
	if len(hwm) > 0 {
		r.Peak = hwm[0]
	}
	return r
}

// floorMemory is the empty handler's peak after one invocation, built as the harness builds
// the handlers.
func (w *world) floorMemory(ctx context.Context) (memRow, error) {
	dir, err := os.MkdirTemp("", "bench-floor-")
	if err != nil {
		return memRow{}, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/bench/floor")
	cmd.Dir = w.h.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return memRow{}, fmt.Errorf("build the floor: %w\n%s", err, b)
	}
	p, err := startRIE(ctx, w.h.RIE, bin, "floor", coldEnv())
	if err != nil {
		return memRow{}, err
	}
	defer p.stop()
	if _, err := p.invoke(ctx, `{}`); err != nil {
		return memRow{}, err
	}
	hwm := vmHWM(bin)
	r := memRow{Name: floorName, Scenario: "one invocation", Processes: len(hwm)}
	if len(hwm) > 0 {
		r.Peak = hwm[0]
	}
	return r, nil
}
