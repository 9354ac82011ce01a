// Command demo shows the whole onboarder on one machine: moto for AWS, the Cloud One (or Vision
// One) stand-in, the four real Lambdas under the runtime interface emulator, and the rules of
// deploy/template.yaml with SQS targets. It seeds an Organization, runs a story through the
// real pipeline (Cloud One: account vending, a deleted trail, a stopped trail, a key rotation
// that fails in one account, a replay of the archives; Vision One: account vending, a trail
// whose SNS topic is removed, a deleted stack, an account Vision One reports failed, a kept
// template that ages, a replay), prints a timeline built from the Lambdas' own log lines and
// the `onboarder status` table, and checks the end state in moto (through the SDK) and in the
// stand-in.
//
//	make demo                    # = go run ./cmd/demo (-target cloudone)
//	make demo TARGET=visionone   # = go run ./cmd/demo -target visionone
//	go run ./cmd/demo -v         # also keep and name the log file of moto and the Lambdas
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
