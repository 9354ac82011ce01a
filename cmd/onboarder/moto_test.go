//go:build integration

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/middleware"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/trend"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/crossaccount"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
)

// The commands are tested against moto in server mode, started once for the package.
var motoURL, motoPort string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	moto, err := localworld.StartMoto(ctx) // a missing moto_server fails with the way to install it
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the cmd/onboarder tests run the commands against moto: %v\n", err)
		return 1
	}
	defer moto.Stop()
	motoURL, motoPort = moto.URL, fmt.Sprint(moto.Port)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": motoURL, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
		"AWS_SECRET_ACCESS_KEY": "testing", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "MOTO_ACCOUNT_ID"} {
		os.Unsetenv(k)
	}
	return m.Run()
}

// callLog records the AWS operations the command made ("Service:Operation").
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (c *callLog) option() func(*awsconfig.LoadOptions) error {
	return awsconfig.WithAPIOptions([]func(*middleware.Stack) error{func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("record-call", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			c.mu.Lock()
			c.calls = append(c.calls, awsmiddleware.GetServiceID(ctx)+":"+awsmiddleware.GetOperationName(ctx))
			c.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
	}})
}

func (c *callLog) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

// fixture is a seeded moto: an organization with four members, the secret, the Cloud One
// stand-in and the template.
//
//	members[0] "dev":      nothing yet (the stack makes its own trail)
//	members[1] "logging":  a multi-region trail logging to a bucket of its own
//	members[2] "foreign":  a stack named CloudOne that the onboarder did not create
//	members[3] "excluded": in ONBOARDER_EXCLUDE_ACCOUNTS
type fixture struct {
	t         *testing.T
	ctx       context.Context
	aws       aws.Config
	env       map[string]string
	members   []string
	ou        string
	key       trend.Key
	token     string
	c1        *trend.Server
	calls     *callLog
	terminal  bool
	trailName string
	trailBkt  string
	root      string // the Organization's root
	guardrail string // the guardrail SCP's id
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	resp, err := http.Post(motoURL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatalf("reset moto: %v", err)
	}
	resp.Body.Close()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, aws: awsCfg, calls: &callLog{}}
	f.key = trend.Key{ID: "key" + randHex(4), Secret: "c1secret-" + randHex(12), Region: "us-1", Account: "c1acct42"}
	f.token = "v1token-" + randHex(12)
	f.c1 = trend.New(f.key)
	t.Cleanup(f.c1.Close)

	// Organization.
	orgs := organizations.NewFromConfig(awsCfg)
	must(t, "create organization", err2(orgs.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})))
	roots, err := orgs.ListRoots(ctx, &organizations.ListRootsInput{})
	must(t, "list roots", err)
	ou, err := orgs.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: roots.Roots[0].Id, Name: aws.String("Workloads")})
	must(t, "create OU", err)
	f.ou = aws.ToString(ou.OrganizationalUnit.Id)
	for _, name := range []string{"dev", "logging", "foreign", "excluded"} {
		out, err := orgs.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
		must(t, "create account "+name, err)
		id := aws.ToString(out.CreateAccountStatus.AccountId)
		f.members = append(f.members, id)
		must(t, "move account", err2(orgs.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(id), SourceParentId: roots.Roots[0].Id, DestinationParentId: ou.OrganizationalUnit.Id})))
	}

	// The guardrail SCP over the root, with SCPs enabled.
	must(t, "enable SCPs", err2(orgs.EnablePolicyType(ctx, &organizations.EnablePolicyTypeInput{RootId: roots.Roots[0].Id, PolicyType: orgtypes.PolicyTypeServiceControlPolicy})))
	pol, err := orgs.CreatePolicy(ctx, &organizations.CreatePolicyInput{Name: aws.String(GuardrailName("CloudOne")), Type: orgtypes.PolicyTypeServiceControlPolicy,
		Description: aws.String("guardrail"), Content: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"lambda:GetFunction","Resource":"arn:aws:lambda:*:*:function:CloudOne-*"}]}`)})
	must(t, "create guardrail", err)
	f.guardrail = aws.ToString(pol.Policy.PolicySummary.Id)
	f.root = aws.ToString(roots.Roots[0].Id)
	must(t, "attach guardrail", err2(orgs.AttachPolicy(ctx, &organizations.AttachPolicyInput{PolicyId: pol.Policy.PolicySummary.Id, TargetId: roots.Roots[0].Id})))

	// The member StackSet, with an instance in the stacks' region (us-1 -> us-east-1).
	cfn := cloudformation.NewFromConfig(awsCfg)
	must(t, "create stack set", err2(cfn.CreateStackSet(ctx, &cloudformation.CreateStackSetInput{StackSetName: aws.String("cloudone-onboarder-member"),
		TemplateBody: aws.String(`{"Resources":{"Handle":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}`)})))
	must(t, "create stack instances", err2(cfn.CreateStackInstances(ctx, &cloudformation.CreateStackInstancesInput{StackSetName: aws.String("cloudone-onboarder-member"),
		Accounts: []string{f.members[0]}, Regions: []string{"us-east-1"}})))

	// Secret.
	sec, err := secretsmanager.NewFromConfig(awsCfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("onboarder/cloudone"),
		SecretString: aws.String(fmt.Sprintf(`{"cloudOneApiKey":%q,"visionOneServiceToken":%q}`, f.key.APIKey(), f.token)),
	})
	must(t, "create secret", err)

	// Templates, in a bucket of the management account; moto reads TemplateURLs that name localhost.
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	must(t, "create bucket", err2(s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("onboarder-templates")})))
	for _, name := range []string{"onboard.template.yaml", "incomplete.template.yaml"} {
		body, err := os.ReadFile("testdata/" + name)
		must(t, "read template", err)
		must(t, "upload template", err2(s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("onboarder-templates"), Key: aws.String(name), Body: bytes.NewReader(body)})))
	}

	// members[1]: a logging multi-region trail to a bucket of its own.
	f.trailName, f.trailBkt = "audit", "audit-logs-"+f.members[1]
	m1 := f.member(f.members[1])
	must(t, "create trail bucket", err2(s3.NewFromConfig(m1, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(f.trailBkt)})))
	ct := cloudtrail.NewFromConfig(m1)
	must(t, "create trail", err2(ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String(f.trailName), S3BucketName: aws.String(f.trailBkt), IsMultiRegionTrail: aws.Bool(true)})))
	must(t, "start logging", err2(ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(f.trailName)})))

	// members[2]: a CloudOne stack that is not ours.
	body, err := os.ReadFile("testdata/foreign.template.yaml")
	must(t, "read template", err)
	must(t, "create foreign stack", err2(cloudformation.NewFromConfig(f.member(f.members[2])).CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("CloudOne"), TemplateBody: aws.String(string(body))})))

	f.env = map[string]string{
		"ONBOARDER_SECRET_ARN":            aws.ToString(sec.ARN),
		"ONBOARDER_TEMPLATE_URL":          f.templateURL("onboard.template.yaml"),
		"ONBOARDER_CLOUDONE_ACCOUNTS_URL": f.c1.URL,
		"ONBOARDER_EXCLUDE_ACCOUNTS":      f.members[3],
		"ONBOARDER_CHECK_MIN_DELAY":       "1s",
	}
	return f
}

func (f *fixture) templateURL(name string) string {
	return "http://localhost:" + motoPort + "/onboarder-templates/" + name
}

// member is a configuration in a member account (moto isolates accounts by the assumed role).
func (f *fixture) member(account string) aws.Config {
	f.t.Helper()
	as := &crossaccount.Assumer{Base: f.aws, RoleARN: func(a string) string { return "arn:aws:iam::" + a + ":role/AWSControlTowerExecution" }, SessionName: "fixture"}
	cfg, err := as.Config(f.ctx, account, "us-east-1")
	must(f.t, "assume into "+account, err)
	return cfg
}

// stacks lists the stacks of an account, with status and managed tag: moto's state.
func (f *fixture) stacks(account string) map[string]string {
	f.t.Helper()
	out, err := cloudformation.NewFromConfig(f.member(account)).DescribeStacks(f.ctx, &cloudformation.DescribeStacksInput{})
	must(f.t, "describe stacks in "+account, err)
	m := map[string]string{}
	for _, s := range out.Stacks {
		v := string(s.StackStatus)
		for _, tg := range s.Tags {
			if aws.ToString(tg.Key) == stack.TagManaged {
				v += " managed=" + aws.ToString(tg.Value)
			}
		}
		if s.LastUpdatedTime != nil {
			v += " updated=" + s.LastUpdatedTime.String()
		}
		m[aws.ToString(s.StackName)] = v
	}
	return m
}

func (f *fixture) allStacks() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, m := range f.members {
		out[m] = f.stacks(m)
	}
	return out
}

// result is one run of the command.
type result struct {
	stdout, stderr string
	code           int
}

// run runs the command in-process with the fixture's environment. No output of any
// command may contain a secret value: every run checks it.
func (f *fixture) run(args ...string) result {
	f.t.Helper()
	var out, errb bytes.Buffer
	a := newApp(&out, &errb)
	a.getenv = func(k string) (string, bool) { v, ok := f.env[k]; return v, ok }
	a.poll = 100 * time.Millisecond
	a.isTerminal = func(io.Writer) bool { return f.terminal }
	a.awsOptions = []func(*awsconfig.LoadOptions) error{f.calls.option()}
	code := a.execute(f.ctx, args)
	r := result{stdout: out.String(), stderr: errb.String(), code: code}
	f.noSecret(args, r)
	return r
}

func (f *fixture) noSecret(args []string, r result) {
	f.t.Helper()
	for _, s := range []string{f.key.Secret, f.key.APIKey(), f.token} {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			f.t.Fatalf("onboarder %s printed a secret value:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
		}
	}
}

func (f *fixture) mustExit(r result, want int, args ...string) {
	f.t.Helper()
	if r.code != want {
		f.t.Fatalf("onboarder %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
}

// runExit runs the command and checks its exit code.
func (f *fixture) runExit(want int, args ...string) result {
	f.t.Helper()
	r := f.run(args...)
	f.mustExit(r, want, args...)
	return r
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func err2[T any](_ T, err error) error { return err }

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not the JSON expected: %v\n%s", err, s)
	}
	return v
}

func withSecret(k trend.Key, s string) trend.Key { k.Secret = s; return k }
