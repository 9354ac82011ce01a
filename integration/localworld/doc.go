// Package localworld is the local world of the onboarder: moto in server mode for AWS,
// the real Lambda binaries under the Lambda runtime interface emulator, the Cloud One
// stand-in, the seeding of an Organization and its accounts, and the pump that carries
// events the real way (EventBridge rules with SQS targets, then the intake Lambdas, then the
// FIFO queue, then the reconcile Lambda). The integration suite, the demo and the benchmark
// use it; it has no build tags and needs moto_server on PATH at run time.
//
// Nothing here synchronizes with sleeps: every wait is a poll with a deadline.
package localworld
