package main

// The command's unit tests run it in process against the shared fakes of
// integration/localworld/fake: a fake Lambda whose handler plays the reconcile function's
// operator answers (fakeWorker, what a test says each account looks like), and the fakes of
// the calls the command makes with the operator's own credentials. They test the command's
// own logic: arguments, chunking, following, rendering, the dead-letter redrive's order. The
// command against the real worker, behind the IAM gate, is tested end to end in integration/.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/operator"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
)

const (
	mgmt     = "999999999999"
	function = "onboarder-reconcile"
	queueURL = "https://sqs.eu-west-1.amazonaws.com/999999999999/onboarder-reconcile.fifo"
	dlqURL   = "https://sqs.eu-west-1.amazonaws.com/999999999999/onboarder-reconcile-dlq.fifo"
	table    = "onboarder-ledger"
	root     = "r-ab12"
	ouWork   = "ou-ab12-workload1"
)

// fakeWorker answers the operator requests: plans and stacks per account, from what the test
// set, and records every request.
type fakeWorker struct {
	mu       sync.Mutex
	cfg      config.Config
	cfgErr   string
	plans    map[string][]reconcile.Result // account -> the answers of its successive plans (the last one repeats)
	stacks   map[string]operator.Stack
	checks   []operator.Check
	defer1   map[string]bool // accounts deferred the first time they are asked
	requests []operator.Request
}

func (f *fakeWorker) handle(_ context.Context, payload []byte) ([]byte, error) {
	var p operator.Payload
	if err := json.Unmarshal(payload, &p); err != nil || p.Operator == nil {
		return nil, fmt.Errorf("not an operator request: %s", payload)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	req := *p.Operator
	f.requests = append(f.requests, req)
	resp := operator.Response{Op: req.Op}
	deferred := func(a string) bool {
		if f.defer1[a] {
			delete(f.defer1, a)
			resp.Deferred = append(resp.Deferred, a)
			return true
		}
		return false
	}
	switch req.Op {
	case operator.OpConfig:
		cfg := f.cfg
		resp.Config, resp.ConfigError = &cfg, f.cfgErr
	case operator.OpPlan:
		for _, r := range req.Requests {
			if deferred(r.Account) {
				continue
			}
			answers := f.plans[r.Account]
			res := reconcile.Result{Account: r.Account, Action: reconcile.ActionNone, Class: fault.None, Reason: "stack CloudOne is CREATE_COMPLETE and in sync", DryRun: true}
			if len(answers) > 0 {
				res = answers[0]
				if len(answers) > 1 {
					f.plans[r.Account] = answers[1:]
				}
			}
			res.Account = r.Account
			resp.Plans = append(resp.Plans, res)
		}
	case operator.OpStatus:
		for _, a := range req.Accounts {
			if deferred(a) {
				continue
			}
			st, ok := f.stacks[a]
			if !ok {
				st = operator.Stack{Account: a, Region: "us-east-1", StackStatus: "ABSENT"}
			}
			resp.Stacks = append(resp.Stacks, st)
		}
	case operator.OpCheck:
		resp.Checks = f.checks
	}
	return json.Marshal(resp)
}

func (f *fakeWorker) ops() []operator.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]operator.Request(nil), f.requests...)
}

// fixture is an Organization of four members (dev, logging, foreign in the Workloads OU,
// excluded at the root), the worker's configuration, and the fakes.
type fixture struct {
	t        *testing.T
	env      map[string]string
	members  []string
	worker   *fakeWorker
	lambda   *fake.Lambda
	sqs      *fake.SQS
	ddb      *fake.DynamoDB
	orgs     *fake.Organizations
	cfn      *fake.CloudFormation
	trails   *fake.CloudTrail
	eb       *fake.EventBridge
	sts      *fake.STS
	log      *fake.Log
	terminal bool
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, members: []string{"111111111111", "222222222222", "333333333333", "444444444444"}, log: &fake.Log{}}
	cfg := config.Default()
	cfg.SecretARN = "arn:aws:secretsmanager:eu-west-1:999999999999:secret:onboarder-AbCdEf"
	cfg.QueueURL, cfg.DeadLetterURL, cfg.LedgerTable = queueURL, dlqURL, table
	cfg.ExcludeAccounts = []string{f.members[3]}
	cfg.CloudOneRegion = "us-1"
	f.worker = &fakeWorker{cfg: cfg, plans: map[string][]reconcile.Result{}, stacks: map[string]operator.Stack{}, defer1: map[string]bool{}}
	f.lambda = &fake.Lambda{Log: f.log, Function: function, Handler: f.worker.handle}
	f.sqs = &fake.SQS{Log: f.log}
	f.ddb = &fake.DynamoDB{Log: f.log}
	f.orgs = &fake.Organizations{Log: f.log, Management: mgmt, Parents: map[string]string{ouWork: root}, Names: map[string]string{ouWork: "Workloads"}}
	for i, name := range []string{"dev", "logging", "foreign", "excluded"} {
		f.orgs.Accounts = append(f.orgs.Accounts, orgtypes.Account{Id: aws.String(f.members[i]), Name: aws.String(name), Status: orgtypes.AccountStatusActive})
		f.orgs.Parents[f.members[i]] = ouWork
	}
	f.orgs.Parents[f.members[3]] = root
	f.orgs.Accounts = append(f.orgs.Accounts, orgtypes.Account{Id: aws.String(mgmt), Name: aws.String("management"), Status: orgtypes.AccountStatusActive})
	f.orgs.Parents[mgmt] = root
	f.cfn = &fake.CloudFormation{Log: f.log}
	f.trails = &fake.CloudTrail{Log: f.log, Logging: map[string]bool{}, Selectors: map[string]*cloudtrail.GetEventSelectorsOutput{}}
	f.eb = &fake.EventBridge{Log: f.log}
	f.sts = &fake.STS{Log: f.log, Account: mgmt, Role: "arn:aws:iam::" + mgmt + ":role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_OnboarderOperator_0123456789abcdef"}
	f.env = map[string]string{FunctionVar: function}
	// The SDK's configuration comes from the process environment: a region, and no profile of
	// the machine's.
	for k, v := range map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": ""} {
		t.Setenv(k, v)
	}
	return f
}

// ledgerEntry seeds an entry of the ledger table.
func (f *fixture) ledgerEntry(e ledger.Entry) {
	f.t.Helper()
	item, err := attributevalue.MarshalMap(e)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.ddb.SetItem(table, item); err != nil {
		f.t.Fatal(err)
	}
}

// orgTrail gives the management account an organization trail in region, logging or not.
func (f *fixture) orgTrail(name, home string, multi, logging bool) string {
	arn := "arn:aws:cloudtrail:" + home + ":" + mgmt + ":trail/" + name
	f.trails.AddTrail(cttypes.Trail{Name: aws.String(name), TrailARN: aws.String(arn), HomeRegion: aws.String(home), IsMultiRegionTrail: aws.Bool(multi),
		IsOrganizationTrail: aws.Bool(true), IncludeGlobalServiceEvents: aws.Bool(true)}, logging)
	return arn
}

type result struct {
	stdout, stderr string
	code           int
}

func (f *fixture) run(args ...string) result {
	f.t.Helper()
	var out, errb bytes.Buffer
	a := newApp(&out, &errb)
	a.getenv = func(k string) (string, bool) { v, ok := f.env[k]; return v, ok }
	a.isTerminal = func(io.Writer) bool { return f.terminal }
	a.poll = time.Millisecond
	a.newClients = func(aws.Config) *clients {
		return &clients{Lambda: f.lambda, SQS: f.sqs, DynamoDB: f.ddb, Organizations: f.orgs, StackSets: f.cfn,
			CloudTrail: func(string) TrailAPI { return f.trails }, EventBridge: f.eb, STS: f.sts}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := a.execute(ctx, args)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func (f *fixture) runExit(want int, args ...string) result {
	f.t.Helper()
	r := f.run(args...)
	if r.code != want {
		f.t.Fatalf("onboarder %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not the JSON expected: %v\n%s", err, s)
	}
	return v
}
