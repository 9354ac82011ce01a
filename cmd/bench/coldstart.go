package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
)

// coldRow is one target's cold starts.
type coldRow struct {
	Name      string
	Init      []time.Duration // the emulator's INIT REPORT durationMs: INIT START to the runtime's first /next
	FirstCall []time.Duration // the first invocation's round trip, seen by the caller (process start + init + invoke)
	Note      string
}

// initReportRE is what this emulator prints at --log-level info when the runtime asks for its
// first event: "INIT REPORT(durationMs: 23.307000)". Its REPORT line's "Init Duration" is the
// emulator's own bookkeeping (under a millisecond whatever the runtime does) and is not used.
var initReportRE = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// coldEnv is a plausible function environment: the handlers read it at init and make no call.
func coldEnv() map[string]string {
	return map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1",
		"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_ENDPOINT_URL":                "http://127.0.0.1:9",
		"AWS_LAMBDA_LOG_FORMAT":           "JSON",
		"AWS_LAMBDA_LOG_LEVEL":            "INFO",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"ONBOARDER_SECRET_ARN":            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cloudone-onboarder/credentials-AbCdEf",
		"ONBOARDER_QUEUE_URL":             "http://127.0.0.1:9/123456789012/onboarder-reconcile.fifo",
		"ONBOARDER_LEDGER_TABLE":          "onboarder-ledger",
		"ONBOARDER_CLOUDONE_REGION":       "us-1",
	}
}

// measureColdStarts starts each target n times under the emulator, each time a new process,
// and invokes it once with an event it answers without any AWS call.
func measureColdStarts(ctx context.Context, root string, n int, logf func(string, ...any)) ([]coldRow, error) {
	rie, err := localworld.EnsureRIE(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bench-host-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bins, err := buildAll(ctx, root, dir, runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	rows := make([]coldRow, len(targets))
	for i, t := range targets {
		rows[i].Name = t.Name
	}
	// Interleave the targets so that a noisy moment hits all of them alike.
	for k := range n {
		for i, t := range targets {
			init, first, err := coldStart(ctx, rie, bins[t.Name], t.Name)
			if err != nil {
				return nil, fmt.Errorf("cold start %d of %s: %w", k+1, t.Name, err)
			}
			rows[i].Init = append(rows[i].Init, init)
			rows[i].FirstCall = append(rows[i].FirstCall, first)
		}
	}
	logf("coldstart: %d cold starts of %d targets", n, len(targets))
	return rows, nil
}

// proc is a process under the emulator started by the bench (the local world starts the emulator at
// --log-level error, which hides the INIT REPORT line).
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	url  string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startRIE(ctx context.Context, rie, bootstrap, name string, env map[string]string) (*proc, error) {
	port, err := localworld.FreePort()
	if err != nil {
		return nil, err
	}
	api, err := localworld.FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p := &proc{out: &syncBuffer{}, done: make(chan struct{}), url: "http://" + addr + "/2015-03-31/functions/function/invocations"}
	p.cmd = exec.Command(rie, "--log-level", "info", "--runtime-interface-emulator-address", addr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(api), bootstrap)
	p.cmd.Dir = filepath.Dir(bootstrap)
	e := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "AWS_LAMBDA_FUNCTION_NAME=" + strings.Fields(name)[0]}
	for k, v := range env {
		e = append(e, k+"="+v)
	}
	p.cmd.Env = e
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("the emulator exited:\n%s", p.out.String())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("the emulator did not listen on %s", addr)
		}
	}
}

func (p *proc) invoke(ctx context.Context, payload string) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.url, strings.NewReader(payload))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return b, err
}

func (p *proc) stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// coldStart runs one cold start: the emulator starts the bootstrap on the first invocation.
func coldStart(ctx context.Context, rie, bootstrap, name string) (init, first time.Duration, err error) {
	p, err := startRIE(ctx, rie, bootstrap, name, coldEnv())
	if err != nil {
		return 0, 0, err
	}
	defer p.stop()
	t := time.Now()
	if _, err := p.invoke(ctx, `{}`); err != nil {
		return 0, 0, err
	}
	first = time.Since(t)
	// The INIT REPORT line is written before the invocation is answered; allow the pipe a moment.
	for range 100 {
		if d, ok := initReport(p.out.String()); ok {
			return d, first, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, 0, fmt.Errorf("no INIT REPORT line in the emulator's output:\n%s", p.out.String())
}

// initReport reads the init duration of the emulator's INIT REPORT(durationMs: …) line.
func initReport(out string) (time.Duration, bool) {
	m := initReportRE.FindStringSubmatch(out)
	if m == nil {
		return 0, false
	}
	ms, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(ms * float64(time.Millisecond)), true
}

// vmHWM returns the peak resident set (VmHWM, bytes) of every process whose executable is
// path: the bootstraps the emulator started.
func vmHWM(path string) []int64 {
	ents, _ := os.ReadDir("/proc")
	var out []int64
	for _, e := range ents {
		pid := e.Name()
		if _, err := strconv.Atoi(pid); err != nil {
			continue
		}
		exe, err := os.Readlink("/proc/" + pid + "/exe")
		if err != nil || exe != path {
			continue
		}
		if v := procField("/proc/"+pid+"/status", "VmHWM"); v != "" {
			if kb, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64); err == nil {
				out = append(out, kb*1024)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] > out[j] })
	return out
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
