// Package fake holds one fake per AWS API the product calls (SQS, CloudFormation, CloudTrail,
// S3, STS, Secrets Manager, DynamoDB, EventBridge, Organizations) and one in-memory ledger,
// shared by the unit tests of every package. Each fake implements every consumer-side
// interface of internal/ that names its API's methods, with the SDK's own signatures, so the
// SDK's paginators and waiters accept it.
//
// A fake is for what no emulator can produce, or not in a unit test: a stack left in
// UPDATE_ROLLBACK_FAILED or rolled back by a custom resource, a throttling storm, an SQS batch
// whose entries are refused one by one, an outage of one call while the next succeeds, and the
// fast, moto-free unit step. What a user meets (the handlers over HTTP, moto in server mode,
// the templates) is tested in integration/ against the local world, not here.
//
// Every operation of a fake is a Calls value: it records each call's input (safe for
// concurrent use: the code under test runs goroutines and the tests run with -race), answers
// with an injected error (Fail queues one per call, FailAlways stands until cleared), an
// override (Do) or a canned output (Return), and otherwise with the fake's default, which
// behaves as the service does where the tests rely on it (each default names its source).
// An operation no test relies on has no default: it answers an error that says so, never an
// invented answer. Fakes that share a Log record the order of their calls across APIs, which
// is how a test asserts which writes were made and which were not.
//
// The fakes' state (a stack, an Organization, a table) is in exported fields or set through
// methods: a test sets or changes it before the code under test runs or between runs, never
// while it runs.
package fake
