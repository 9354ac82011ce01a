package localworld

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// OperatorEnv is the environment of the operator command run against this world: the
// reconcile function's configuration, with the operator's own credentials (an administrator
// of the management account: the IAM gate does not restrict them) and the fault proxy as its
// endpoint, so that it sees the CloudFormation layer's stack statuses as the Lambdas do.
func (e *Env) OperatorEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "NO_COLOR=1", "TERM=dumb"}
	for k, v := range e.FunctionEnv("reconcile") {
		switch {
		case strings.HasPrefix(k, "AWS_LAMBDA_") || k == "AWS_SESSION_TOKEN":
			continue
		case k == "AWS_ENDPOINT_URL" && e.Opts.Faults != nil:
			v = e.Opts.Faults.URL
		case k == "AWS_ACCESS_KEY_ID":
			v = AccessKeyID
		case k == "AWS_SECRET_ACCESS_KEY":
			v = SecretAccessKey
		}
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// RunOperator runs the operator command (bin, Harness.Operator) with args against this
// world and returns what it printed and its exit code; err is set only when it could not run.
func (e *Env) RunOperator(ctx context.Context, bin string, args ...string) (stdout, stderr string, code int, err error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.OperatorEnv()
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), errOut.String(), exit.ExitCode(), nil
	}
	return out.String(), errOut.String(), 0, err
}
