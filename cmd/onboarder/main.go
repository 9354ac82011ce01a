// Command onboarder is the operator's tool: it checks a deployment (validate), shows the
// accounts (status), plans and runs reconciles (plan, reconcile) and replays archived events
// (replay). It reads the same environment as the Lambdas; see `onboarder --help`.
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
