//go:build integration

// Package integration is the end-to-end suite: the real Lambdas under the runtime interface
// emulator, over HTTP, against moto, with events travelling through EventBridge rules read
// from deploy/template.yaml. Run it with
//
//	go test -tags integration ./integration/...
//
// Its tests run in parallel, -parallel at once (make integration: 3), each on a local AWS of
// its own (a lane); the leak check and the fault report run after the last one (TestMain).
// It needs moto_server on PATH (pip install 'moto[server]') and fails without it.
package integration

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/trend"
)

// Secrets of the run: easy to grep for in the leak check.
var (
	c1Key = trend.Key{ID: "LEAKKEYID0c1", Secret: "LEAKSECRETc1-4f0e9a7b2d", Region: "us-1", Account: "711111111111"}
	v1Tok = "LEAKTOKENv1-9c2b7e5a31"
	// v1Key is the Vision One target's API key (the secret's visionOneApiKey), which the
	// Vision One stand-in of every lane knows.
	v1Key = "LEAKV1APIKEY-3e8d61c0b7f2"
)

func secret() localworld.SecretValue {
	return localworld.SecretValue{CloudOneAPIKey: c1Key.APIKey(), VisionOneServiceToken: v1Tok}
}

// secretMarkers are the strings that must never appear in any output.
func secretMarkers() []string {
	// Longest first, so that masking one never leaves the rest of a longer one visible.
	return []string{c1Key.APIKey(), "LEAKSECRETc1-rotated", "LEAKTOKENv1-rotated", v1Key, c1Key.Secret, v1Tok, "LEAKV1APIKEY", "LEAKSECRET", "LEAKTOKEN"}
}

// suite is what the tests share. Each test that needs AWS takes a lane for itself: a whole
// local AWS (moto, the fault proxy with its IAM gate and CloudFormation layer, the recorder,
// the Cloud One stand-in) that no other test touches while it runs, so that tests run in
// parallel, as many at once as there are lanes (-parallel, the lanes' number).
var suite struct {
	lanes    chan *localworld.Harness // the lanes not in use
	all      []*localworld.Harness    // every lane (the first owns the built binaries)
	root     string                   // the module root
	allLogs  *localworld.Log          // every line of every process of the run, every lane
	output   *localworld.Log          // everything the test binary printed
	setupErr error
}

// lane takes a lane for the test, which it marks parallel, and gives it back, its rules and
// failures cleared, when the test ends.
func lane(t *testing.T) *localworld.Harness {
	t.Helper()
	if suite.setupErr != nil {
		t.Fatalf("harness: %v", suite.setupErr)
	}
	t.Parallel()
	h := <-suite.lanes
	t.Cleanup(func() {
		h.Faults.Clear()
		h.Faults.ResetDenials()
		h.Faults.ClearSCPs()
		h.Faults.ClearStackFailures()
		h.CloudOne.Fail(0)
		// The Vision One stand-in: its accounts, templates and switches go, its clock is the
		// machine's again, and the key is known with full rights.
		h.VisionOne.Reset()
		h.VisionOne.SetClock(time.Now)
		h.VisionOne.AddKey(v1Key)
		suite.lanes <- h
	})
	return h
}

// TestMain runs the suite between two things no test can do: before, it starts the harness
// and captures every byte the test binary prints; after the last test, it prints the fault
// runs' table and writes docs/RELIABILITY.md when asked (faultReport), then searches the whole
// run's output and every line every process wrote for the secrets (leakCheck). Either
// failing fails the run.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse() // for wholeRun, before m.Run
	// Capture every byte the test binary prints (test logs included) for the leak check,
	// while still passing it through.
	suite.output = localworld.NewLog()
	realOut := os.Stdout
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(realOut, "FAIL: capture the test output for the leak check: %v\n", err)
		return 1
	}
	os.Stdout = w
	var copied sync.WaitGroup
	copied.Add(1)
	go func() { defer copied.Done(); _, _ = io.Copy(io.MultiWriter(realOut, suite.output), r) }()

	suite.allLogs = localworld.NewLog()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	suite.setupErr = setup(ctx)
	cancel()
	if suite.setupErr != nil {
		fmt.Printf("integration: harness failed after %s: %v\n", time.Since(start).Round(time.Millisecond), suite.setupErr)
	} else {
		fmt.Printf("integration: %d lanes ready in %s\n", len(suite.all), time.Since(start).Round(time.Millisecond))
	}
	code := m.Run()
	problems := faultReport(os.Stdout) // printed where the leak check reads it
	teardown()
	// Every byte printed so far is in suite.output once the pipe is closed and drained.
	w.Close()
	copied.Wait()
	os.Stdout = realOut
	problems = append(problems, leakCheck(realOut)...)
	for _, p := range problems {
		fmt.Fprintf(realOut, "FAIL: %s\n", p)
	}
	if len(problems) > 0 {
		return 1
	}
	return code
}

// leakCheck searches everything the test binary printed and every line every Lambda process
// and moto wrote during the run for the API key (and its secret part) and the token. The
// check proves something only if the secret went through the product: it asks the recorder
// whether a stack write carried the key; in a run of the whole suite one must have.
func leakCheck(out io.Writer) []string {
	logs := suite.allLogs.String()
	var problems []string
	if leaks := findLeaks(suite.output.String()); len(leaks) > 0 {
		problems = append(problems, "a secret appears in the test output: "+strings.Join(leaks, "; "))
	}
	if leaks := findLeaks(logs); len(leaks) > 0 {
		problems = append(problems, "a secret appears in the process logs: "+strings.Join(leaks, "; "))
	}
	carried, v1Calls := int64(secretWrites()), visionOneCalls()
	switch {
	case carried+v1Calls > 0 && !strings.Contains(logs, `"message":"reconcile"`):
		problems = append(problems, "no reconcile log line was collected: the leak check would prove nothing")
	case (carried == 0 || v1Calls == 0) && wholeRun():
		problems = append(problems, fmt.Sprintf("in the whole suite the Cloud One key went into %d stack writes and the Vision One key into %d calls to Vision One: with none, the leak check would prove nothing for that key", carried, v1Calls))
	case carried+v1Calls == 0:
		fmt.Fprintln(out, "integration: leak check: no secret went through the product in this partial run: it proves nothing")
	}
	fmt.Fprintf(out, "integration: leak check: %d bytes of test output, %d bytes of process logs; the Cloud One key went to CloudFormation in %d stack writes, the Vision One key to Vision One in %d calls\n",
		suite.output.Len(), len(logs), carried, v1Calls)
	return problems
}

// secretWrites counts the stack writes of the run that carried the API key (the recorder
// keeps request bodies in memory only).
func secretWrites() int {
	n := 0
	for _, h := range suite.all {
		for _, c := range h.Recorder.Calls(localworld.InService("cloudformation"), localworld.WithAction("CreateStack", "UpdateStack")) {
			if strings.Contains(string(c.Body), c1Key.Secret) {
				n++
			}
		}
	}
	return n
}

// visionOneCalls counts the calls to the Vision One stand-ins that carried the Vision One key
// (the only key they know; a call they refused for its key does not count).
func visionOneCalls() int64 {
	var n int64
	for _, h := range suite.all {
		n += h.VisionOne.Requests() - h.VisionOne.Rejected()
	}
	return n
}

// wholeRun reports whether every test of the suite was asked for (no -run, no -skip).
func wholeRun() bool {
	for _, f := range []string{"test.run", "test.skip"} {
		if fl := flag.Lookup(f); fl != nil && fl.Value.String() != "" {
			return false
		}
	}
	return true
}

// setup starts one lane per test that may run at once (-parallel).
func setup(ctx context.Context) error {
	n := max(1, min(parallelism(), 6))
	hs, err := localworld.StartHarnesses(ctx, n, []trend.Key{c1Key}, suite.allLogs)
	if err != nil {
		return err
	}
	suite.all, suite.root = hs, hs[0].Root
	for _, h := range hs {
		h.VisionOne.AddKey(v1Key)
	}
	suite.lanes = make(chan *localworld.Harness, n)
	for _, h := range hs {
		suite.lanes <- h
	}
	return nil
}

// parallelism is -parallel: how many tests run at once (GOMAXPROCS by default).
func parallelism() int {
	if f := flag.Lookup("test.parallel"); f != nil {
		if n, err := strconv.Atoi(f.Value.String()); err == nil {
			return n
		}
	}
	return runtime.GOMAXPROCS(0)
}

// teardown stops every lane, the first (the binaries' owner) last.
func teardown() {
	for i := len(suite.all) - 1; i >= 0; i-- {
		suite.all[i].Stop()
	}
}

// findLeaks reports which secret markers occur in s, with a little context (the marker
// itself masked).
func findLeaks(s string) []string {
	var out []string
	for _, mk := range secretMarkers() {
		if i := strings.Index(s, mk); i >= 0 {
			from, to := max(0, i-80), min(len(s), i+len(mk)+40)
			ctx := s[from:to]
			for _, m2 := range secretMarkers() {
				ctx = strings.ReplaceAll(ctx, m2, "<secret>")
			}
			// A marker cut by the context window could still show a tail: drop up to the
			// next space after any remaining fragment.
			ctx = redactFragments(ctx)
			out = append(out, fmt.Sprintf("marker %q... at byte %d: %q", mk[:4], i, ctx))
		}
	}
	return out
}

// redactFragments masks any run of non-space bytes that follows "<secret>" or that starts
// with "LEAK".
func redactFragments(s string) string {
	fields := strings.SplitAfter(s, " ")
	for i, f := range fields {
		if strings.Contains(f, "<secret>") || strings.Contains(f, "LEAK") {
			fields[i] = "<secret-context> "
		}
	}
	return strings.Join(fields, "")
}
