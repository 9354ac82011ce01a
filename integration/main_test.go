//go:build integration

// Package integration is the end-to-end suite: the real Lambdas under the runtime interface
// emulator, over HTTP, against moto, with events travelling through EventBridge rules read
// from deploy/template.yaml. Run it with
//
//	go test -tags integration ./integration/...
//
// It needs moto_server on PATH (pip install 'moto[server]') and fails without it.
package integration

import (
	"context"
	"fmt"
	"io"
	"os"
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
)

func secret() localworld.SecretValue {
	return localworld.SecretValue{CloudOneAPIKey: c1Key.APIKey(), VisionOneServiceToken: v1Tok}
}

// secretMarkers are the strings that must never appear in any output.
func secretMarkers() []string {
	// Longest first, so that masking one never leaves the rest of a longer one visible.
	return []string{c1Key.APIKey(), "LEAKSECRETc1-rotated", "LEAKTOKENv1-rotated", c1Key.Secret, v1Tok, "LEAKSECRET", "LEAKTOKEN"}
}

var suite struct {
	*localworld.Harness
	moto     *localworld.Moto
	rec      *localworld.Recorder
	rie      string
	bins     map[string]string
	root     string
	c1       *trend.Server
	allLogs  *localworld.Log // every line of every process of the run
	output   *localworld.Log // everything the test binary printed
	setupErr error
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// Capture every byte the test binary prints (test logs included) for the leak check,
	// while still passing it through.
	suite.output = localworld.NewLog()
	realOut := os.Stdout
	r, w, err := os.Pipe()
	if err == nil {
		os.Stdout = w
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = io.Copy(io.MultiWriter(realOut, suite.output), r) }()
		defer func() {
			w.Close()
			wg.Wait()
			os.Stdout = realOut
		}()
	}
	suite.allLogs = localworld.NewLog() // replaced by the harness's log once it runs
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	suite.setupErr = setup(ctx)
	defer teardown()
	if suite.setupErr != nil {
		fmt.Printf("integration: harness failed after %s: %v\n", time.Since(start).Round(time.Millisecond), suite.setupErr)
	} else {
		fmt.Printf("integration: harness ready in %s\n", time.Since(start).Round(time.Millisecond))
	}
	code := m.Run()
	// The final leak check covers the whole run's output, including this check's own tests.
	if leaks := findLeaks(suite.output.String() + suite.allLogs.String()); len(leaks) > 0 {
		fmt.Fprintf(realOut, "FAIL: a secret appeared in the output of the run: %s\n", strings.Join(leaks, "; "))
		return 1
	}
	return code
}

func setup(ctx context.Context) error {
	h, err := localworld.StartHarness(ctx, []trend.Key{c1Key})
	if err != nil {
		return err
	}
	suite.Harness = h
	suite.moto, suite.rec, suite.rie, suite.bins, suite.root, suite.c1 = h.Moto, h.Recorder, h.RIE, h.Binaries, h.Root, h.CloudOne
	suite.allLogs = h.Logs
	return nil
}

func teardown() { suite.Harness.Stop() }

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
