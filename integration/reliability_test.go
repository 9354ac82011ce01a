//go:build integration

package integration

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// faultReport is run by TestMain after every test: it prints the table of every fault
// scenario that ran, reports any that lost an event, and writes docs/RELIABILITY.md when
// ONBOARDER_WRITE_RELIABILITY names a path (relative to the module root, or absolute) and no
// event was lost. It returns the problems; none when no fault scenario ran and no page was
// asked for.
func faultReport(out io.Writer) []string {
	faultRows.Lock()
	rows := append([]faultRow(nil), faultRows.rows...)
	faultRows.Unlock()
	path := os.Getenv("ONBOARDER_WRITE_RELIABILITY")
	if len(rows) == 0 {
		if path != "" {
			return []string{"ONBOARDER_WRITE_RELIABILITY is set, but no fault scenario ran: nothing written"}
		}
		return nil
	}
	sortFaultRows(rows)
	table := reliabilityTable(rows)
	fmt.Fprintf(out, "integration: fault runs:\n%s", table)
	var problems []string
	for _, r := range rows {
		if r.Lost != 0 {
			problems = append(problems, fmt.Sprintf("fault run %s: %d events lost", r.Scenario, r.Lost))
		}
		if r.In != r.InSync+r.InDLQ+r.Lost {
			problems = append(problems, fmt.Sprintf("fault run %s: %d in, %d in sync + %d in the DLQ + %d lost", r.Scenario, r.In, r.InSync, r.InDLQ, r.Lost))
		}
	}
	if path == "" {
		return problems
	}
	if len(problems) > 0 {
		return append(problems, "events were lost: "+path+" not written")
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(suite.root, path)
	}
	if err := os.WriteFile(path, []byte(reliabilityDoc(rows)), 0o644); err != nil {
		return append(problems, err.Error())
	}
	fmt.Fprintf(out, "integration: wrote %s\n", path)
	return nil
}

// sortFaultRows puts the rows in the page's order: by group, then as each group declares its
// scenarios, whatever order they ran in.
func sortFaultRows(rows []faultRow) {
	order := map[string]int{"wire": 0, "stack": 1, "own": 2, "cloudone": 3, "secret": 4}
	sort.SliceStable(rows, func(i, j int) bool {
		if order[rows[i].Group] != order[rows[j].Group] {
			return order[rows[i].Group] < order[rows[j].Group]
		}
		return rows[i].Seq < rows[j].Seq
	})
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
interface emulator, and an httptest server of the project (` + "`integration/localworld/trend`" + `)
stands in for the Cloud One accounts API. Events travel through the EventBridge rules of
` + "`deploy/template.yaml`" + ` (with SQS targets), the intake Lambda, the FIFO reconcile queue and
its redrive policy to the real DLQ on moto (30 receives: the last resort; the worker itself
dead-letters after 4 transient failures in a row, ` + "`ONBOARDER_MAX_FAILURES`" + `), and the
reconcile Lambda (10 instances, batches of 2, 120 s timeout; a request comes back 1 s after a write,
then after half the operation's age, at most 5 s).

The local AWS behaves like AWS where it decides the outcome (` + "`integration/localworld/proxy`" + `, in front
of moto): each Lambda runs with the credentials of its own role of ` + "`deploy/template.yaml`" + `
behind an IAM gate, the member accounts have the roles of ` + "`deploy/member.yaml`" + `, and a call
a role does not allow fails the run; every stack operation stays in progress for 2 s, and can fail
and roll back, with the failed resource in its events.

- **Faults on the wire.** Every AWS call of the Lambdas goes through a call recorder and then
  ` + "`integration/localworld/proxy`" + `. Its rules pick calls by service, action, account, region and
  resource, with a probability, a count or a time window, and answer them as the service's protocol
  would: throttling and 500/503 errors as query XML (CloudFormation, STS, IAM), JSON with
  ` + "`x-amzn-ErrorType`" + ` (SQS, DynamoDB, Secrets Manager, Organizations) or S3 XML
  (` + "`SlowDown`" + `); a connection reset is a TCP RST before any response; a truncated body is half
  the response under the full ` + "`Content-Length`" + `, then a closed connection; latency waits
  before forwarding; a lost answer forwards the call, then resets the connection. The faults hit
  every service the intakes and the worker call. Only the harness's own calls (seeding, the event
  pump, the checks) go to moto directly.
- **CloudFormation.** The proxy's CloudFormation layer holds every stack operation in progress and
  fails the ones it is told to: a create goes CREATE_FAILED, ROLLBACK_IN_PROGRESS, ROLLBACK_COMPLETE;
  an update UPDATE_ROLLBACK_IN_PROGRESS, UPDATE_ROLLBACK_COMPLETE with the old parameters; the stack
  events name the failed resource and carry the operation's ClientRequestToken. It answers a write
  during an operation with CloudFormation's ValidationError, a repeated token as the same operation,
  and ContinueUpdateRollback (which moto 5.2.1 lacks). States that another party's operation left
  (ROLLBACK_FAILED, DELETE_FAILED, an update in progress) are put on a stack directly.
- **IAM.** An SCP on one account denies a write; AssumeRole into a new account is denied until its
  role is usable.
- **Cloud One.** The stand-in answers every request with 401, 403, 429 or 503, or holds it without
  an answer until the client gives up. ` + "`ONBOARDER_CLOUDONE_REGION`" + ` is not set, so every
  reconcile looks the key up.
- **The secret.** The Secrets Manager secret is deleted, or holds text that is not JSON, or JSON
  that lacks the Vision One token.

Each scenario starts from an empty moto, seeds an Organization with 20 member accounts and puts
one Control Tower ` + "`CreateManagedAccount`" + ` event per account on the default bus (for the
CloudFormation rows: the 20 accounts, each with a forwarding trail, are onboarded first, then a
manual request through the sweep reconciles them all, with one scenario per account and the other
accounts as the control). Then the queues are drained, the faults are removed and every request is
accounted for: **in sync** means the account's stack exists in us-east-1 (Cloud One us-1), settled
(with the layer's status), tagged as the onboarder's, with the contract's parameters and the
secret's key and token, read through the AWS SDK from moto, not through product code; **in the
DLQ** means its request is in the reconcile DLQ and the worker logged a reason for it; anything else
is **lost**. "Stack write calls" counts the onboarder's CloudFormation write calls in the account
during the scenario (refused ones included). Every run's Lambda output is searched for the API key
and the token (and the whole test run's output once more at the end): neither may appear.
`

const reliabilityOutro = `
## Reading the table

- "injected" counts the faulty answers the proxy gave (or, for Cloud One, the requests the
  stand-in refused or held); a throttled call that the SDK retried is counted once per attempt.
- Transient faults (throttling, 5xx, resets, truncation, latency, Cloud One 429/503/timeouts) are
  retried by the SDK's standard retryer (10 attempts, back-off up to 20 s, ` + "`io.ErrUnexpectedEOF`" + `
  retryable), then by the worker, which counts them and dead-letters a request after 4 in a row. A
  stack operation in progress, or a write refused because one started, is not a failure: the request
  comes back later. Permanent failures (Cloud One 401/403, a broken secret, AccessDenied inside the
  member account) and "needs a person" (DELETE_FAILED, the onboarder's own write rolled back) are
  not retried: the worker moves the message to the DLQ at once, with its class and reason as message
  attributes and in its log line (a message the worker cannot move, the queue's redrive moves after
  30 receives).
- A rolled-back request is written once: its one stack write call is in the last column.
`
