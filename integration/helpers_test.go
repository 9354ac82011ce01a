//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	smithy "github.com/aws/smithy-go"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
)

// Regions where a stack could wrongly land: the mapped ones and the home regions used here.
var allRegions = []string{"us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1",
	"ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ca-central-1"}

const (
	stackRegion = "us-east-1" // us-1 maps here
	stackName   = "CloudOne"
)

// world is one test's environment: moto reset, an Organization seeded, the central
// resources, the Lambdas running.
type world struct {
	t      *testing.T
	h      *localworld.Harness // the test's lane: its moto, fault proxy, recorder and Cloud One stand-in
	ctx    context.Context
	env    *localworld.Env
	org    *localworld.Org
	region string
}

type worldOpts struct {
	region       string            // home region; default eu-west-1
	env          map[string]string // function variables
	reconcilers  int
	functionEnv  map[string]map[string]string
	timing       *proxy.StackTiming // how long stack operations run (nil: localworld.DefaultStackTiming)
	allowDenials []string           // IAM actions the test makes the gate refuse on purpose
	install      string             // the account the central stack runs in ("": the management account)
	// visionOne: the Vision One target (the central stack's Target=visionone), with the lane's
	// Vision One stand-in, stacks in stackRegion, and a secret that holds its key.
	visionOne bool
}

func newWorld(t *testing.T, o worldOpts) *world {
	t.Helper()
	return seedWorld(t, o.region).start(o)
}

// seedWorld resets moto and seeds the Organization: OUs Workloads (work-a, work-b, work-c)
// and Sandbox (sandbox-a, sandbox-b), with the execution role in each member account.
func seedWorld(t *testing.T, region string) *world {
	t.Helper()
	return seedWorldWith(t, region,
		localworld.OU{Name: "Workloads", Accounts: []string{"work-a", "work-b", "work-c"}},
		localworld.OU{Name: "Sandbox", Accounts: []string{"sandbox-a", "sandbox-b"}},
	)
}

// seedWorldWith takes a lane for the test (which makes it parallel), resets its moto and
// seeds an Organization of these OUs.
func seedWorldWith(t *testing.T, region string, ous ...localworld.OU) *world {
	t.Helper()
	h := lane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	if err := h.Moto.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	h.VisionOne.Reset() // its templates were in moto's S3
	if region == "" {
		region = "eu-west-1"
	}
	org, err := h.Moto.SeedOrganization(ctx, region, ous...)
	if err != nil {
		t.Fatalf("seed organization: %v", err)
	}
	return &world{t: t, h: h, ctx: ctx, org: org, region: region}
}

// start creates the central resources and starts the Lambdas.
func (w *world) start(o worldOpts) *world {
	t := w.t
	t.Helper()
	opts := w.h.Options(w.region, secret())
	if o.visionOne {
		opts.Secret = localworld.SecretValue{VisionOneAPIKey: v1Key}
		opts.VisionOne = w.h.VisionOneTarget(stackRegion)
	}
	opts.Env, opts.FunctionEnv, opts.ReconcileConcurrency = o.env, o.functionEnv, max(o.reconcilers, 2)
	opts.StackTiming, opts.InstallAccount = o.timing, o.install
	env, err := localworld.Setup(w.ctx, w.h.Moto, w.h.Recorder, opts)
	if err != nil {
		t.Fatalf("set up the environment: %v\n%s", err, motoTail(w.h))
	}
	w.env = env
	t.Cleanup(func() {
		checkDenials(t, w.h, o.allowDenials)
		if t.Failed() {
			t.Logf("Lambda logs of this test:\n%s", redact(env.LambdaLogs()))
		}
		env.Close()
	})
	return w
}

// motoTail is the end of the lane's moto log (its request lines and errors), for a failed
// set-up.
func motoTail(h *localworld.Harness) string {
	s := redact(h.Moto.Logs().String())
	if i := strings.LastIndex(s[:max(0, len(s)-6000)], "\n"); i >= 0 {
		s = s[i+1:]
	}
	return "the last lines of moto (" + h.Moto.URL + "):\n" + s
}

// checkDenials fails the test for every call the IAM gate refused: a role of deploy/ lacks a
// permission its function needs. allow names the actions a test provokes on purpose.
func checkDenials(t *testing.T, h *localworld.Harness, allow []string) {
	t.Helper()
	for _, d := range h.Faults.Denials() {
		if slices.Contains(allow, d.Action) {
			continue
		}
		t.Errorf("IAM: %s", d)
	}
	h.Faults.ResetDenials()
	h.Faults.ClearSCPs()
	h.Faults.ClearStackFailures()
}

// redact masks the secret markers, in case a product bug printed one: the leak check reports
// it, and the failure dump must not spread it further.
func redact(s string) string {
	for _, m := range secretMarkers() {
		s = strings.ReplaceAll(s, m, "[REDACTED BY TEST]")
	}
	return redactTail(s)
}

// redactTail masks what may follow a masked marker up to the next quote or space.
func redactTail(s string) string {
	const tag = "[REDACTED BY TEST]"
	var b strings.Builder
	for {
		i := strings.Index(s, tag)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+len(tag)])
		s = s[i+len(tag):]
		j := strings.IndexAny(s, "\" \n")
		if j < 0 {
			return b.String()
		}
		s = s[j:]
	}
}

// put puts events and fails the test on error.
func (w *world) put(entries ...localworld.Entry) []string {
	w.t.Helper()
	ids, err := w.env.Put(w.ctx, entries...)
	if err != nil {
		w.t.Fatal(err)
	}
	return ids
}

// drain runs the pump until idle and fails the test if it could not.
func (w *world) drain() localworld.Stats {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 2*time.Minute)
	defer cancel()
	st, err := w.env.Drain(ctx)
	if err != nil {
		w.t.Fatalf("drain: %v (stats %+v)", err, st)
	}
	return st
}

// onboard sends the Control Tower event for the account and drains.
func (w *world) onboard(a localworld.Account) localworld.Stats {
	w.t.Helper()
	w.put(localworld.ControlTowerAccount("CreateManagedAccount", a, "SUCCEEDED", w.env.Region))
	return w.drain()
}

func (w *world) acctCfg(account, region string) aws.Config {
	w.t.Helper()
	cfg, err := w.h.Moto.AccountConfig(w.ctx, account, region, localworld.ExecutionRole)
	if err != nil {
		w.t.Fatal(err)
	}
	return cfg
}

func notFound(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "ValidationError" || strings.Contains(ae.ErrorMessage(), "does not exist"))
}

// stack reads a stack through the SDK from moto, with the status the CloudFormation layer
// shows for it (moto settles at once; the layer keeps operations in progress and rolls back);
// nil when there is none (or it was deleted). NoEcho parameters read in clear from moto.
func (w *world) stack(account, region, name string) *cfntypes.Stack {
	w.t.Helper()
	view, inLayer := w.h.Faults.Stack(account, region, name)
	out, err := cloudformation.NewFromConfig(w.acctCfg(account, region)).DescribeStacks(w.ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		if notFound(err) {
			if inLayer && !view.InMoto { // a create that rolled back: only the layer holds it
				return &cfntypes.Stack{StackName: aws.String(name), StackId: aws.String(view.ID), StackStatus: cfntypes.StackStatus(view.Status),
					StackStatusReason: aws.String(view.Reason)}
			}
			return nil
		}
		w.t.Fatalf("describe stack %s in %s/%s: %v", name, account, region, err)
	}
	for _, s := range out.Stacks {
		if s.StackStatus != cfntypes.StackStatusDeleteComplete {
			if inLayer && view.ID == aws.ToString(s.StackId) {
				s.StackStatus, s.StackStatusReason = cfntypes.StackStatus(view.Status), aws.String(view.Reason)
			}
			return &s
		}
	}
	return nil
}

// stacksEverywhere lists the regions where the account has a live stack of that name.
func (w *world) stacksEverywhere(account, name string) []string {
	var out []string
	for _, r := range allRegions {
		if w.stack(account, r, name) != nil {
			out = append(out, r)
		}
	}
	return out
}

// publicParams are the non-secret parameters (moto reads NoEcho parameters back in clear:
// never print those).
func publicParams(s *cfntypes.Stack) string {
	p := localworld.StackParams(s)
	var keys []string
	for k := range p {
		if k != "CloudOneApiKey" && k != "VisionOneServiceToken" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q ", k, p[k])
	}
	return b.String()
}

// trailStatus reads whether a trail logs (by name, in its home region).
func (w *world) trailLogging(account, region, name string) bool {
	w.t.Helper()
	out, err := cloudtrail.NewFromConfig(w.acctCfg(account, region)).GetTrailStatus(w.ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(name)})
	if err != nil {
		w.t.Fatalf("trail status %s in %s/%s: %v", name, account, region, err)
	}
	return aws.ToBool(out.IsLogging)
}

// ledgerItems counts the ledger's items.
func (w *world) ledgerAccounts() []string {
	w.t.Helper()
	out, err := dynamodb.NewFromConfig(w.env.Central()).Scan(w.ctx, &dynamodb.ScanInput{TableName: aws.String(localworld.LedgerTable)})
	if err != nil {
		w.t.Fatal(err)
	}
	var ids []string
	for _, it := range out.Items {
		if v, ok := it["account"].(*ddbtypes.AttributeValueMemberS); ok && ledger.IsAccountKey(v.Value) {
			ids = append(ids, v.Value)
		}
	}
	sort.Strings(ids)
	return ids
}

// dlqDepth is the number of messages in the reconcile DLQ.
func (w *world) dlqDepth() string {
	out, err := sqs.NewFromConfig(w.env.Central()).GetQueueAttributes(w.ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(w.env.DLQURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		w.t.Fatal(err)
	}
	return out.Attributes["ApproximateNumberOfMessages"]
}

// logEntries parses the JSON lines of logs (other lines are skipped).
func logEntries(logs string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// reconcileLogs are the worker's decision lines (msg "reconcile") in logs, for an account
// ("" for all).
func reconcileLogs(logs, account string) []map[string]any {
	var out []map[string]any
	for _, e := range logEntries(logs) {
		if (e["message"] == "reconcile" || e["msg"] == "reconcile") && (account == "" || e["account"] == account) {
			out = append(out, e)
		}
	}
	return out
}

// lambdaMarks marks every Lambda's log, to read what came after.
type lambdaMarks map[string][]int

func (w *world) marks() lambdaMarks {
	m := lambdaMarks{}
	for n, p := range w.env.Lambdas {
		m[n] = p.Marks()
	}
	return m
}

func (w *world) logsSince(m lambdaMarks, handler string) string {
	p := w.env.Lambdas[handler]
	if p == nil {
		return ""
	}
	return p.LogsSince(m[handler])
}

// memberWrites are the write calls to member accounts (stacks, trails, buckets, roles) after mark.
func (w *world) memberWrites(mark int) []localworld.Call {
	return w.h.Recorder.Since(mark, localworld.Writes, func(c localworld.Call) bool { return c.Account != localworld.ManagementAccount })
}

func describeCalls(cs []localworld.Call) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%s %s/%s %s; ", c.Service, c.Account, c.Region, c.Action)
	}
	return b.String()
}

// foreignStack creates a stack of the onboarding template in an account, as a person would,
// without the onboarder's tags.
func (w *world) foreignStack(account, region, name string) {
	w.t.Helper()
	_, err := cloudformation.NewFromConfig(w.acctCfg(account, region)).CreateStack(w.ctx, &cloudformation.CreateStackInput{
		StackName: aws.String(name), TemplateURL: aws.String(w.env.TemplateURL),
		Parameters: []cfntypes.Parameter{
			{ParameterKey: aws.String("CloudOneApiKey"), ParameterValue: aws.String("someone-elses-key")},
			{ParameterKey: aws.String("VisionOneServiceToken"), ParameterValue: aws.String("someone-elses-token")},
			{ParameterKey: aws.String("CreateNewTrail"), ParameterValue: aws.String("True")},
		},
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam},
		Tags:         []cfntypes.Tag{{Key: aws.String("owner"), Value: aws.String("platform-team")}},
	})
	if err != nil {
		w.t.Fatalf("create foreign stack: %v", err)
	}
}
