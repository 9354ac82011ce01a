//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestFaultReport runs after the fault runs (files run in name order): it prints the table of
// every scenario that ran, fails if any lost an event, checks the whole run's output for the
// secrets, and writes docs/RELIABILITY.md when ONBOARDER_WRITE_RELIABILITY names a path.
func TestFaultReport(t *testing.T) {
	faultRows.Lock()
	rows := append([]faultRow(nil), faultRows.rows...)
	faultRows.Unlock()
	if len(rows) == 0 {
		t.Skip("no fault scenario ran")
	}
	order := map[string]int{"wire": 0, "stack": 1, "own": 2, "cloudone": 3, "secret": 4}
	sort.SliceStable(rows, func(i, j int) bool { return order[rows[i].Group] < order[rows[j].Group] })
	table := reliabilityTable(rows)
	t.Logf("fault runs:\n%s", table)
	for _, r := range rows {
		if r.Lost != 0 {
			t.Errorf("%s: %d events lost", r.Scenario, r.Lost)
		}
		if r.In != r.InSync+r.InDLQ+r.Lost {
			t.Errorf("%s: %d in, %d in sync + %d in the DLQ + %d lost", r.Scenario, r.In, r.InSync, r.InDLQ, r.Lost)
		}
	}
	if leaks := findLeaks(suite.allLogs.String()); len(leaks) > 0 {
		t.Errorf("a secret appears in the process logs of the fault runs: %s", strings.Join(leaks, "; "))
	}
	if leaks := findLeaks(suite.output.String()); len(leaks) > 0 {
		t.Errorf("a secret appears in the test output: %s", strings.Join(leaks, "; "))
	}
	path := os.Getenv("ONBOARDER_WRITE_RELIABILITY")
	if path == "" {
		return
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(suite.root, path)
	}
	if err := os.WriteFile(path, []byte(reliabilityDoc(rows)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

func reliabilityTable(rows []faultRow) string {
	var b strings.Builder
	b.WriteString("| scenario | fault injected | outcome | events in | in sync | in the DLQ | lost | stack write calls |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fault := r.Fault
		if r.Injected > 0 {
			fault += fmt.Sprintf(" (%d injected)", r.Injected)
		}
		writes := ""
		if r.Group == "stack" || r.Group == "own" {
			writes = fmt.Sprint(r.Writes)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %d | %d | %s |\n", md(r.Scenario), md(fault), md(r.Outcome), r.In, r.InSync, r.InDLQ, r.Lost, writes)
	}
	return b.String()
}

func md(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }

func reliabilityDoc(rows []faultRow) string {
	var total time.Duration
	for _, r := range rows {
		total += r.Duration
	}
	var b strings.Builder
	b.WriteString(reliabilityIntro)
	b.WriteString("\n## Results\n\n")
	b.WriteString(reliabilityTable(rows))
	fmt.Fprintf(&b, "\n%d scenarios, %s in all on the machine that wrote this page. Events lost: 0 in every row, or the run fails.\n",
		len(rows), total.Round(time.Second))
	b.WriteString(reliabilityOutro)
	return b.String()
}

const reliabilityIntro = `# Reliability under faults

This page is written by the end-to-end fault runs of the integration suite:

    ONBOARDER_WRITE_RELIABILITY=docs/RELIABILITY.md go test -tags integration -run Fault ./integration/...

## What was emulated, and how

Everything runs on one machine, as in the rest of the end-to-end suite (` + "`integration/`" + `):
moto in server mode stands in for AWS, the four real Lambda binaries run under the Lambda runtime
interface emulator, and an httptest server of the project (` + "`internal/cloudone/cloudonetest`" + `)
stands in for the Cloud One accounts API. Events travel through the EventBridge rules of
` + "`deploy/template.yaml`" + ` (with SQS targets), the intake Lambda, the FIFO reconcile queue and
its redrive policy to the real DLQ on moto (4 receives, 5 in the stack-state run; 2 s
visibility), and the reconcile Lambda (10 instances, batches of 2, 120 s timeout).

- **Faults on the wire.** Every AWS call of the Lambdas goes through a call recorder and then
  ` + "`internal/faultproxy`" + `, a loopback reverse proxy in front of moto. Its rules pick calls by
  service, action, account and region, with a probability, a count or a time window, and answer
  them as the service's protocol would: throttling and 500/503 errors as query XML
  (CloudFormation, STS, IAM), JSON with ` + "`x-amzn-ErrorType`" + ` (SQS, DynamoDB, Secrets Manager,
  Organizations) or S3 XML (` + "`SlowDown`" + `); a connection reset is a TCP RST before any
  response; a truncated body is half the response under the full ` + "`Content-Length`" + `, then a
  closed connection; latency waits before forwarding. The faults hit every service the intakes and
  the worker call: STS, Organizations, SQS, DynamoDB, Secrets Manager, CloudFormation, CloudTrail,
  S3. Only the harness's own calls (seeding, the event pump, the checks) go to moto directly.
- **CloudFormation states moto never produces.** moto's stacks settle at once. The proxy rewrites
  ` + "`<StackStatus>`" + ` in DescribeStacks responses of one account's stack (for a number of responses,
  or for a time window, "held then released"), so that the worker sees ROLLBACK_COMPLETE,
  UPDATE_IN_PROGRESS, DELETE_FAILED and the rest, and acts on moto for real. moto 5.2.1 does not
  implement ContinueUpdateRollback: that one call is recorded and then answered with success by a
  shim in front of the reconcile Lambda's endpoint.
- **Cloud One.** The stand-in answers every request with 401, 403, 429 or 503, or holds it without
  an answer until the client gives up. ` + "`ONBOARDER_CLOUDONE_REGION`" + ` is not set, so every
  reconcile looks the key up.
- **The secret.** The Secrets Manager secret is deleted, or holds text that is not JSON, or JSON
  that lacks the Vision One token.

Each scenario starts from an empty moto, seeds an Organization with 20 member accounts and puts
one Control Tower ` + "`CreateManagedAccount`" + ` event per account on the default bus (for the
stack states: the 20 accounts are onboarded first, then a manual request through the sweep
reconciles them all, with one account's stack in the rewritten state). Then the queues are drained,
the faults are removed and every request is accounted for: **in sync** means the account's stack
exists in us-east-1 (Cloud One us-1), settled, tagged as the onboarder's, with the contract's
parameters and the secret's key and token, read through the AWS SDK from moto, not through
product code; **in the DLQ** means its request is in the reconcile DLQ and the worker logged a
reason for it; anything else is **lost**. Every run's Lambda output is searched for the API key
and the token (and the whole test run's output once more at the end): neither may appear.
`

const reliabilityOutro = `
## Reading the table

- "injected" counts the faulty answers the proxy gave (or, for Cloud One, the requests the
  stand-in refused or held); a throttled call that the SDK retried is counted once per attempt.
- Transient faults (throttling, 5xx, resets, truncation, latency, Cloud One 429/503/timeouts, a
  stack in progress) are retried by the SDK's standard retryer (10 attempts, back-off up to 20 s,
  ` + "`io.ErrUnexpectedEOF`" + ` retryable) and then by the queue; permanent ones (Cloud One 401/403,
  a broken secret) and "needs a person" (DELETE_FAILED) are not retried: the worker moves the
  message to the DLQ at once, with its class and reason as message attributes and in its log line
  (a message the worker cannot move, the queue's redrive policy moves after 4 receives).
`
