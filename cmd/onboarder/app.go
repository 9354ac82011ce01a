package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/awsconf"
)

// Exit codes, documented in the root command's help.
const (
	exitOK      = 0 // done, and for plan: every account in sync
	exitFailure = 1 // a check, an account or a call failed
	exitUsage   = 2 // bad command line
	exitDrift   = 3 // plan: at least one account would change
)

const exitCodesHelp = `Exit codes:
  0  success (plan: every account is in sync)
  1  failure: a check failed, an account could not be read or reconciled, or a call failed
  2  usage error: unknown command or flag, bad account id, bad time, missing argument
  3  plan only: at least one account would change (drift)`

// exitError carries an exit code. err nil means the outcome was already reported.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func failure(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{code: exitFailure, err: err}
}

// exitWith ends the command with code; what happened is already on the screen.
func exitWith(code int) error {
	if code == exitOK {
		return nil
	}
	return &exitError{code: code}
}

// app is the command's dependencies: where it writes, where it reads its configuration,
// and the hooks tests use. Commands build their AWS clients from one aws.Config.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) (string, bool)          // the environment
	awsOptions     []func(*awsconfig.LoadOptions) error // added to LoadDefaultConfig (tests record calls)
	newClients     func(aws.Config) *clients            // the AWS clients (tests put fakes here)
	isTerminal     func(io.Writer) bool                 // progress bar or plain lines
	verbose        bool                                 // --verbose: each invocation of the worker on stderr
	poll           time.Duration                        // the wait between two looks of a followed reconcile (0: 10 s)
	now            func() time.Time                     // nil: time.Now
}

// pollEvery is the wait between two looks at the accounts of a reconcile the command follows.
func (a *app) pollEvery() time.Duration {
	if a.poll > 0 {
		return a.poll
	}
	return 10 * time.Second
}

func (a *app) clock() time.Time {
	if a.now != nil {
		return a.now()
	}
	return time.Now()
}

func newApp(stdout, stderr io.Writer) *app {
	// Invocations run concurrently: the progress and the verbose lines share stderr.
	return &app{stdout: &syncWriter{w: stdout}, stderr: &syncWriter{w: stderr}, getenv: os.LookupEnv, isTerminal: isTerminal, newClients: awsClients}
}

// syncWriter serializes writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func isTerminal(w io.Writer) bool {
	if s, ok := w.(*syncWriter); ok {
		w = s.w
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// execute runs the command line and returns the exit code.
func (a *app) execute(ctx context.Context, args []string) int {
	root := a.root()
	root.SetArgs(args)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	path := "onboarder"
	if cmd != nil {
		path = cmd.CommandPath()
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(a.stderr, "onboarder: %s\n", ee.err)
		}
		if ee.code == exitUsage {
			fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", path)
		}
		return ee.code
	}
	// cobra's own errors: unknown command or flag, bad or missing arguments.
	fmt.Fprintf(a.stderr, "onboarder: %s\nRun '%s --help' for usage.\n", err, path)
	return exitUsage
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "onboarder",
		Short: "Operate the onboarder: check, inspect, plan, reconcile, replay, roll out, redrive",
		Long: `onboarder keeps every in-scope account of the AWS Organization onboarded to Trend Cloud One
or Trend Vision One (ONBOARDER_TARGET of the reconcile function).
This command is the operator's side of it, for a person with the central stack's operator
policy (cloudone-onboarder-operator), signed in to the install account the usual way
(AWS_PROFILE, IAM Identity Center, AWS_REGION: the install region).

It never reads the vendor's key and never enters a member account: it asks the reconcile
function, which does both with its own role. It needs one setting,
ONBOARDER_RECONCILE_FUNCTION (the function's name or ARN, the stack output
ReconcileFunctionName); the rest (the scope, the stack, the template, the queues, the
ledger) is the function's own configuration, which it asks the function for.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "print each invocation of the reconcile function on stderr")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageErrorf("%v", err) })
	root.AddCommand(a.validateCmd(), a.statusCmd(), a.planCmd(), a.reconcileCmd(), a.replayCmd(), a.rolloutCmd(), a.dlqCmd())
	return root
}

// runE adapts a command body: errors it returns are failures (exit 1) unless they carry
// another code.
func runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := fn(cmd, args); err != nil {
			return failure(err)
		}
		return nil
	}
}

// aws loads the operator's configuration (profiles, SSO and the rest of the default chain),
// with the product's retryer (operator runs go over many accounts).
func (a *app) aws(ctx context.Context) (aws.Config, error) {
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRetryer(awsconf.Retryer),
	}
	opts = append(opts, a.awsOptions...)
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return cfg, errors.New("no AWS region: set AWS_REGION (the region of the central stack)")
	}
	return cfg, nil
}

// oneLine flattens a joined error for a one-line report.
func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
}
