package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/awsconf"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
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
	getenv         func(string) (string, bool)          // the environment (config.FromLookup)
	awsOptions     []func(*awsconfig.LoadOptions) error // added to LoadDefaultConfig (tests record calls)
	isTerminal     func(io.Writer) bool                 // progress bar or plain lines
	verbose        bool                                 // --verbose: the reconciler's decision logs
	poll           time.Duration                        // the longest sleep between steps of a followed reconcile (0: 10 s)
}

// pollEvery is the longest wait between two steps of a reconcile the command follows.
func (a *app) pollEvery() time.Duration {
	if a.poll > 0 {
		return a.poll
	}
	return 10 * time.Second
}

func newApp(stdout, stderr io.Writer) *app {
	// Accounts run concurrently: the reconciler's logs and the progress share stderr.
	return &app{stdout: &syncWriter{w: stdout}, stderr: &syncWriter{w: stderr}, getenv: os.LookupEnv, isTerminal: isTerminal}
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
		Short: "Operate the Cloud One onboarder: check, inspect, plan, reconcile, replay, roll out",
		Long: `onboarder keeps every in-scope account of the AWS Organization onboarded to Trend Cloud One.
This command is the operator's side of it. It reads the same environment variables as the
Lambdas (ONBOARDER_SECRET_ARN, ONBOARDER_TEMPLATE_URL, ONBOARDER_INCLUDE_OUS, ...) and the
standard AWS ones (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL, ...), with the management
account's credentials.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "log every decision of the reconciler to stderr")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageErrorf("%v", err) })
	root.AddCommand(a.validateCmd(), a.statusCmd(), a.planCmd(), a.reconcileCmd(), a.replayCmd(), a.rolloutCmd())
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

// config reads the configuration from the environment and, when valid is set, checks it.
func (a *app) config(valid bool) (config.Config, error) {
	cfg, err := a.checkedConfig(valid)
	if err != nil {
		return cfg, fmt.Errorf("configuration (environment):\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return cfg, nil
}

// checkedConfig is config with the problems as they are: one per line.
func (a *app) checkedConfig(valid bool) (config.Config, error) {
	cfg, err := config.FromLookup(a.getenv)
	if err == nil && valid {
		err = cfg.Validate()
	}
	return cfg, err
}

// aws loads the management account's configuration (profiles, SSO and the rest of the
// default chain), with the product's retryer (operator runs go over many accounts).
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
		return cfg, errors.New("no AWS region: set AWS_REGION (the management account's home region)")
	}
	return cfg, nil
}

// logger is the reconciler's logger: warnings only, every decision with --verbose.
func (a *app) logger() *slog.Logger {
	level := slog.LevelWarn
	if a.verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}

// oneLine flattens a joined error for a one-line report.
func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
}
