// Command demo shows the whole onboarder on one machine: moto for AWS, the Cloud One
// stand-in, the four real Lambdas under the runtime interface emulator, and the rules of
// deploy/template.yaml with SQS targets. It seeds an Organization, runs account vending, a
// deleted trail, a stopped trail and a replay of the archive through the real pipeline,
// prints a timeline built from the Lambdas' own log lines and the `onboarder status` table,
// and checks the end state in moto through the SDK.
//
//	make demo        # = go run ./cmd/demo
//	go run ./cmd/demo -v   # also keep and name the log file of moto and the Lambdas
//
// Exit codes: 0 every account ended as expected, 1 it did not (or the demo failed), 2 usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
