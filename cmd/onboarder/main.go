// Command onboarder is the operator's tool: it checks a deployment (validate), shows the
// accounts (status), plans and runs reconciles (plan, reconcile), replays archived events
// (replay), rolls out template versions (rollout) and sends dead letters back (dlq). It needs
// one setting, ONBOARDER_RECONCILE_FUNCTION; see `onboarder --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := newApp(os.Stdout, os.Stderr).execute(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
