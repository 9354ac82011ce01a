package localworld

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// ManagementAccount is the account moto gives to plain credentials: the Organization's
// management account, where the onboarder itself runs.
const ManagementAccount = "123456789012"

// Dummy credentials of the management account. moto accepts any; never set MOTO_ACCOUNT_ID.
const (
	AccessKeyID     = "testing"
	SecretAccessKey = "testing"
)

// Moto is a moto_server child process.
type Moto struct {
	URL  string // http://127.0.0.1:PORT, the endpoint for every service
	Port int
	cmd  *exec.Cmd
	logs *Log
	done chan struct{}

	baseOnce sync.Once
	base     aws.Config // loaded once; configWith copies it
}

// MotoInstallHint is the message when moto_server is missing.
const MotoInstallHint = "moto_server is not on PATH: install it with pip install 'moto[server]'"

// MotoOptions choose how moto runs.
type MotoOptions struct {
	// Tuned: the account of an access key is remembered instead of found by scanning every
	// account's keys on every request, and werkzeug's request lines are not written (see
	// moto_server.py). Answers are the same; at 1,000 accounts a call costs moto about half
	// the time. The benchmark uses it; the tests do not.
	Tuned bool
}

// motoServer is moto's own server with the patches that make it behave like AWS where the
// local world depends on it, and the benchmark's tuning (moto_server.py says which).
//
//go:embed moto_server.py
var motoServer []byte

// StartMoto starts moto_server on a free loopback port and waits until it answers. Its output
// goes to a Log (and to the tees).
func StartMoto(ctx context.Context, tees ...io.Writer) (*Moto, error) {
	return StartMotoWith(ctx, MotoOptions{}, tees...)
}

// StartMotoWith is StartMoto with options.
func StartMotoWith(ctx context.Context, o MotoOptions, tees ...io.Writer) (*Moto, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, errors.New(MotoInstallHint)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	m := &Moto{Port: port, URL: "http://127.0.0.1:" + strconv.Itoa(port), logs: NewLog(tees...), done: make(chan struct{})}
	if m.cmd, err = motoCommand(bin, port, o.Tuned); err != nil {
		return nil, err
	}
	m.cmd.Env = scrubbedEnv(nil)
	m.cmd.Stdout, m.cmd.Stderr = m.logs, m.logs
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	go func() { _ = m.cmd.Wait(); close(m.done) }()
	deadline, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := waitHTTP(deadline, m.URL+"/moto-api/", m.done); err != nil {
		m.Stop()
		return nil, fmt.Errorf("moto_server on port %d did not answer: %w\n%s", port, err, m.logs.String())
	}
	return m, nil
}

// motoCommand runs moto_server.py with the Python that runs moto_server (its script's
// interpreter line names it), else python3.
func motoCommand(motoServerBin string, port int, tuned bool) (*exec.Cmd, error) {
	py := pythonOf(motoServerBin)
	if py == "" {
		var err error
		if py, err = exec.LookPath("python3"); err != nil {
			return nil, errors.New("python3 is not on PATH: moto's server runs from Python")
		}
	}
	if out, err := exec.Command(py, "-c", "import moto.server").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s cannot import moto (%v: %s): %s", py, err, bytes.TrimSpace(out), MotoInstallHint)
	}
	args := []string{"-c", string(motoServer)}
	if tuned {
		args = append(args, "--tuned")
	}
	return exec.Command(py, append(args, "-H", "127.0.0.1", "-p", strconv.Itoa(port))...), nil
}

// pythonOf reads the interpreter of a Python console script ("#!/path/to/python"), or "".
func pythonOf(script string) string {
	f, err := os.Open(script)
	if err != nil {
		return ""
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	if !strings.HasPrefix(line, "#!") {
		return ""
	}
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if len(fields) == 0 || !strings.Contains(filepath.Base(fields[0]), "python") {
		return "" // env, or a shim (pyenv): python3 on PATH
	}
	return fields[0]
}

// Logs is moto's own output (request lines, which the tuned moto does not write; errors).
func (m *Moto) Logs() *Log { return m.logs }

// Reset clears all of moto's state.
func (m *Moto) Reset(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, m.URL+"/moto-api/reset", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset moto: status %d", resp.StatusCode)
	}
	return nil
}

// Stop kills moto's process group and waits for it.
func (m *Moto) Stop() {
	if m == nil || m.cmd == nil || m.cmd.Process == nil {
		return
	}
	killGroup(m.cmd, m.done)
}

// Config is an SDK configuration of the management account in region, against moto.
func (m *Moto) Config(ctx context.Context, region string) aws.Config {
	return m.configWith(region, credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""))
}

func (m *Moto) configWith(region string, creds aws.CredentialsProvider) aws.Config {
	// One configuration is loaded and copied: loading reads the environment, and with
	// AWS_CA_BUNDLE set it parses the whole bundle, which for 1,000 seeded accounts was a
	// fifth of the seeding's CPU.
	m.baseOnce.Do(func() {
		m.base, _ = awsconfig.LoadDefaultConfig(context.Background(),
			awsconfig.WithBaseEndpoint(m.URL),
			awsconfig.WithSharedConfigFiles([]string{}),
			awsconfig.WithSharedCredentialsFiles([]string{}),
			awsconfig.WithRetryMaxAttempts(3),
		)
	})
	cfg := m.base.Copy()
	cfg.Region, cfg.Credentials = region, aws.NewCredentialsCache(creds)
	return cfg
}

// SeedSession is the role session name the harness uses in member accounts. It differs from
// the onboarder's, so nothing the harness does looks like the onboarder's own work.
const SeedSession = "localworld-seed"

// AccountConfig is an SDK configuration in a member account: AssumeRole into the execution
// role from the management account, as a person or Control Tower would. moto maps the
// returned credentials to the account. Credentials do not survive a Reset: call again.
func (m *Moto) AccountConfig(ctx context.Context, account, region, roleName string) (aws.Config, error) {
	if account == ManagementAccount {
		return m.Config(ctx, region), nil
	}
	if roleName == "" {
		roleName = "AWSControlTowerExecution"
	}
	out, err := sts.NewFromConfig(m.Config(ctx, region)).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::" + account + ":role/" + roleName),
		RoleSessionName: aws.String(SeedSession),
	})
	if err != nil {
		return aws.Config{}, fmt.Errorf("assume %s in %s: %w", roleName, account, err)
	}
	c := out.Credentials
	return m.configWith(region, credentials.NewStaticCredentialsProvider(
		aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))), nil
}

// S3 is an S3 client with path-style addressing, which moto needs on a loopback endpoint.
func S3(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

// ObjectURL is the URL of an object in moto's S3 that moto's CloudFormation can read: it must
// name localhost, not 127.0.0.1.
func (m *Moto) ObjectURL(bucket, key string) string {
	return "http://localhost:" + strconv.Itoa(m.Port) + "/" + bucket + "/" + key
}

// FreePort asks the kernel for a free loopback port, never one it handed out before in this
// process: the kernel can give the same free port twice in a row, and two servers started
// one after the other would then collide.
func FreePort() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		portsMu.Lock()
		seen := portsGiven[port]
		portsGiven[port] = true
		portsMu.Unlock()
		if !seen {
			return port, nil
		}
	}
	return 0, errors.New("find a free port: the kernel keeps offering ports already handed out")
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// waitHTTP polls url until any HTTP answer, the process ends, or ctx is done.
func waitHTTP(ctx context.Context, url string, done <-chan struct{}) error {
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-done:
			return errors.New("the process exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitTCP polls addr until it accepts a connection.
func waitTCP(ctx context.Context, addr string, done <-chan struct{}) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-done:
			return errors.New("the process exited")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// killGroup ends the process group of cmd (SIGTERM, then SIGKILL) and waits for the exit.
func killGroup(cmd *exec.Cmd, done <-chan struct{}) {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
}

// scrubbedEnv is the environment of a child process: PATH, HOME and the locale of this
// process, no AWS settings of the caller's, plus extra.
func scrubbedEnv(extra map[string]string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYENV_ROOT", "PYENV_VERSION"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}
