package localworld

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// RIEModule is the Lambda runtime interface emulator, pinned.
const RIEModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// Handlers are the project's Lambda commands under handlers/.
var Handlers = []string{"accountvending", "trailguard", "sweep", "reconcile"}

// ModuleRoot finds the directory of the project's go.mod, starting from the working directory.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the module: go env GOMOD is empty")
	}
	return filepath.Dir(mod), nil
}

// EnsureRIE builds the emulator once per machine into a cache directory beside the Go build
// cache and returns the path of the binary.
func EnsureRIE(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOCACHE").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOCACHE: %w", err)
	}
	dir := filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), "onboarder-rie")
	bin := filepath.Join(dir, "aws-lambda-rie")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "install", RIEModule)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	cmd.Dir = dir // outside the module: go install pkg@version ignores the current module
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %w\n%s", RIEModule, err, b)
	}
	return bin, nil
}

// BuildHandlers builds each handler for the host as DIR/NAME/bootstrap and returns the paths
// by name. It runs one go build for all of them.
func BuildHandlers(ctx context.Context, moduleRoot, dir string, names ...string) (map[string]string, error) {
	if len(names) == 0 {
		names = Handlers
	}
	paths := map[string]string{}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range names {
		out := filepath.Join(dir, n, "bootstrap")
		paths[n] = out
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := goBuild(ctx, moduleRoot, out, "handlers/"+n); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return paths, errors.Join(errs...)
}

// BuildOperator builds the operator command (cmd/onboarder) for the host as DIR/onboarder.
func BuildOperator(ctx context.Context, moduleRoot, dir string) (string, error) {
	out := filepath.Join(dir, "onboarder")
	return out, goBuild(ctx, moduleRoot, out, "cmd/onboarder")
}

// goBuild builds the module's package pkg (a path under its root) for the host as out.
func goBuild(ctx context.Context, moduleRoot, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./"+pkg)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// LambdaOptions says how to run one function.
type LambdaOptions struct {
	Name      string            // function name (AWS_LAMBDA_FUNCTION_NAME), e.g. "reconcile"
	RIE       string            // path of aws-lambda-rie
	Bootstrap string            // path of the handler binary
	Env       map[string]string // the function's environment, as configured in AWS
	Timeout   time.Duration     // the function timeout; default 60s
	Tees      []io.Writer       // also receive the process output
}

// Lambda is one function process under the emulator. The emulator runs one invocation at a
// time; use a Pool for concurrency.
type Lambda struct {
	Name    string
	URL     string // the invocation endpoint
	cmd     *exec.Cmd
	logs    *Log
	done    chan struct{}
	timeout time.Duration
}

// StartLambda starts the emulator with the handler and waits until it listens. The function
// sees only opts.Env plus what Lambda itself sets.
func StartLambda(ctx context.Context, opts LambdaOptions) (*Lambda, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 60 * time.Second
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	l := &Lambda{Name: opts.Name, logs: NewLog(opts.Tees...), done: make(chan struct{}), timeout: opts.Timeout}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	l.URL = "http://" + addr + "/2015-03-31/functions/function/invocations"
	env := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        opts.Name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(int(opts.Timeout / time.Second)),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"LOG_LEVEL":                       "error",
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	l.cmd = exec.Command(opts.RIE,
		"--log-level", "error",
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		opts.Bootstrap)
	l.cmd.Dir = filepath.Dir(opts.Bootstrap)
	l.cmd.Env = scrubbedEnv(env)
	l.cmd.Stdout, l.cmd.Stderr = l.logs, l.logs
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := l.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s under the emulator: %w", opts.Name, err)
	}
	go func() { _ = l.cmd.Wait(); close(l.done) }()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := waitTCP(wctx, addr, l.done); err != nil {
		l.Stop()
		return nil, fmt.Errorf("%s: the emulator did not listen on %s: %w\n%s", opts.Name, addr, err, l.logs.String())
	}
	return l, nil
}

// Logs is the process output: the emulator's START/END/REPORT lines and the function's logs.
func (l *Lambda) Logs() *Log { return l.logs }

// Stop kills the emulator and the function.
func (l *Lambda) Stop() {
	if l == nil || l.cmd == nil || l.cmd.Process == nil {
		return
	}
	killGroup(l.cmd, l.done)
}

// FunctionError is an error the function returned (or a crash or timeout), as Lambda reports it.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
	Status  int    `json:"-"`
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.Type, e.Message)
}

// Invoke calls the function synchronously with payload. response is the function's result;
// functionErr is set when the function failed (the emulator answers 200 with an
// {"errorMessage","errorType"} body for an error the handler returned, and other statuses
// for crashes and timeouts); err is set when the invocation itself could not be made.
func (l *Lambda) Invoke(ctx context.Context, payload []byte) (response []byte, functionErr error, err error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout+10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.URL, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("invoke %s: %w", l.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("invoke %s: read response: %w", l.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, &FunctionError{Type: "Status" + strconv.Itoa(resp.StatusCode), Message: string(body), Status: resp.StatusCode}, nil
	}
	if fe := asFunctionError(body); fe != nil {
		fe.Status = resp.StatusCode
		return body, fe, nil
	}
	if bytes.HasPrefix(body, []byte("Task timed out")) {
		return body, &FunctionError{Type: "Timeout", Message: string(body), Status: resp.StatusCode}, nil
	}
	return body, nil, nil
}

func asFunctionError(body []byte) *FunctionError {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	if _, ok := m["errorMessage"]; !ok {
		return nil
	}
	if _, ok := m["errorType"]; !ok {
		return nil
	}
	for k := range m {
		if k != "errorMessage" && k != "errorType" && k != "stackTrace" {
			return nil
		}
	}
	var fe FunctionError
	_ = json.Unmarshal(body, &fe)
	return &fe
}

// Invoker is anything that runs one invocation: a Lambda or a Pool.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) (response []byte, functionErr error, err error)
}

// Pool is several instances of one function: as many concurrent invocations as instances,
// like Lambda's concurrency.
type Pool struct {
	Name      string
	instances []*Lambda
	free      chan *Lambda
	calls     atomic.Int64 // invocations
	busy      atomic.Int64 // nanoseconds spent in invocations (what Lambda bills as duration)
	longest   atomic.Int64 // nanoseconds of the longest invocation
}

// StartPool starts n instances with the same options.
func StartPool(ctx context.Context, n int, opts LambdaOptions) (*Pool, error) {
	p := &Pool{Name: opts.Name, free: make(chan *Lambda, n)}
	for range n {
		l, err := StartLambda(ctx, opts)
		if err != nil {
			p.Stop()
			return nil, err
		}
		p.instances = append(p.instances, l)
		p.free <- l
	}
	return p, nil
}

// Size is the number of instances: the concurrency.
func (p *Pool) Size() int { return len(p.instances) }

// Invoke runs on a free instance, waiting for one.
func (p *Pool) Invoke(ctx context.Context, payload []byte) ([]byte, error, error) {
	var l *Lambda
	select {
	case l = <-p.free:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	defer func() { p.free <- l }()
	t := time.Now()
	defer func() {
		d := int64(time.Since(t))
		p.calls.Add(1)
		p.busy.Add(d)
		for m := p.longest.Load(); d > m && !p.longest.CompareAndSwap(m, d); m = p.longest.Load() {
		}
	}()
	return l.Invoke(ctx, payload)
}

// Usage is the pool's invocations so far, the time they took summed (the duration Lambda
// would bill: the caller's round trip, so a little more than the function's own) and the
// longest of them.
func (p *Pool) Usage() (invocations int, busy, longest time.Duration) {
	return int(p.calls.Load()), time.Duration(p.busy.Load()), time.Duration(p.longest.Load())
}

// Logs returns the output of every instance, instance after instance.
func (p *Pool) Logs() string {
	var b strings.Builder
	for _, l := range p.instances {
		b.WriteString(l.logs.String())
	}
	return b.String()
}

// LogsSince returns what every instance wrote after the marks of Marks.
func (p *Pool) LogsSince(marks []int) string {
	var b strings.Builder
	for i, l := range p.instances {
		m := 0
		if i < len(marks) {
			m = marks[i]
		}
		b.WriteString(l.logs.Since(m))
	}
	return b.String()
}

// Marks are the current log lengths of the instances, for LogsSince.
func (p *Pool) Marks() []int {
	out := make([]int, len(p.instances))
	for i, l := range p.instances {
		out[i] = l.logs.Len()
	}
	return out
}

// Stop stops every instance.
func (p *Pool) Stop() {
	for _, l := range p.instances {
		l.Stop()
	}
}
