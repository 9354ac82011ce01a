//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/iampolicy"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
)

// The guardrail SCP of deploy/guardrail.yaml on every member account (resolved from the
// template with its defaults, enforced by the IAM gate): the onboarder still onboards an
// account, and an administrator of that account can no longer read the onboarding functions'
// configuration (one by one or through ListFunctions) or logs (one log group, or every log group
// through an account-wide subscription filter policy), where Trend's template leaves the API
// key, nor delete the stack.
func TestE2EGuardrailSCP(t *testing.T) {
	w := newWorld(t, worldOpts{allowDenials: []string{"lambda:GetFunctionConfiguration", "lambda:ListFunctions", "logs:FilterLogEvents", "logs:PutAccountPolicy", "cloudformation:DeleteStack"}})
	props, err := localworld.ResourceProperties(filepath.Join(suite.root, "deploy", "guardrail.yaml"), "Guardrail",
		localworld.TemplateValues{Region: w.region, Account: localworld.ManagementAccount, Params: map[string]string{"TargetIds": w.org.RootID}})
	if err != nil {
		t.Fatal(err)
	}
	content, _ := json.Marshal(props["Content"])
	scp, err := iampolicy.Parse(content, iampolicy.SCP)
	if err != nil {
		t.Fatalf("guardrail: %v", err)
	}
	for _, a := range w.org.Accounts {
		w.h.Faults.AddSCP(a.ID, scp)
	}
	t.Cleanup(w.h.Faults.ClearSCPs)

	a := w.org.Account("work-b")
	w.put(localworld.ControlTowerAccount("CreateManagedAccount", a, "SUCCEEDED", w.env.Region))
	w.drain()
	checkOnboarded(t, w, a, "True", "")

	// An administrator of the account, as a person would assume the role.
	adminARN := "arn:aws:iam::" + a.ID + ":role/SandboxAdmin"
	trust := iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+localworld.ManagementAccount+`:root"},"Action":"sts:AssumeRole"}]}`, iampolicy.Trust)
	w.h.Faults.AddRole(proxy.Role{ARN: adminARN, Label: "SandboxAdmin in " + a.ID, Trust: &trust,
		Policies: []iampolicy.Document{iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, iampolicy.Identity)}})
	base := w.h.Moto.Config(w.ctx, stackRegion)
	// Through the fault proxy, which learns the session's key and gates its calls (the
	// loaded configuration's sources would put moto's endpoint back on each client).
	base.BaseEndpoint, base.ConfigSources = aws.String(w.h.Faults.URL), nil
	out, err := sts.NewFromConfig(base).AssumeRole(w.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(adminARN), RoleSessionName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	admin := base.Copy()
	c := out.Credentials
	admin.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))

	denied := func(what string, err error, statement string) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || !strings.Contains(ae.ErrorCode(), "AccessDenied") || !strings.Contains(ae.ErrorMessage(), statement) {
			t.Errorf("%s: %v, want AccessDenied by statement %s", what, err, statement)
		}
	}
	// Lambda and CloudWatch Logs have no SDK client in this module: signed requests as the SDK
	// would make them.
	fn := func(name string) (int, string) {
		return signed(t, admin, "lambda", http.MethodGet, "/2015-03-31/functions/"+name+"/configuration", "", nil)
	}
	if status, body := fn("CloudOne-VisionOneEnrollmentSt-VisionOneEnrollmentFun-1A2B3C"); status == http.StatusOK || !strings.Contains(body, "AccessDeniedException") || !strings.Contains(body, "DenyOnboardingResources") {
		t.Errorf("GetFunctionConfiguration of an onboarding function: %d %s, want AccessDeniedException by statement DenyOnboardingResources", status, body)
	}
	if status, body := signed(t, admin, "logs", http.MethodPost, "/", "Logs_20140328.FilterLogEvents",
		[]byte(`{"logGroupName":"/aws/lambda/CloudOne-WorkloadSecurityInte-AWSConnectorCreateLam-9Z8Y"}`)); status == http.StatusOK || !strings.Contains(body, "DenyOnboardingResources") {
		t.Errorf("FilterLogEvents of an onboarding function's logs: %d %s, want AccessDenied by statement DenyOnboardingResources", status, body)
	}
	if status, body := signed(t, admin, "lambda", http.MethodGet, "/2015-03-31/functions/", "", nil); status == http.StatusOK || !strings.Contains(body, "DenyAccountWideReads") {
		t.Errorf("ListFunctions: %d %s, want AccessDenied by statement DenyAccountWideReads", status, body)
	}
	// The gate names no resource for a logs call without a log group, so any Deny statement of
	// the policy applies to it (the first one answers); deploy/guardrail_test.go checks that
	// DenyAccountWideReads is the one that denies it on AWS's "*".
	if status, body := signed(t, admin, "logs", http.MethodPost, "/", "Logs_20140328.PutAccountPolicy",
		[]byte(`{"policyName":"everything","policyType":"SUBSCRIPTION_FILTER_POLICY","policyDocument":"{\"DestinationArn\":\"arn:aws:lambda:us-east-1:`+a.ID+`:function:mine\"}"}`)); status == http.StatusOK || !strings.Contains(body, "explicit deny in a service control policy") {
		t.Errorf("PutAccountPolicy (an account-wide subscription filter): %d %s, want AccessDenied by the guardrail", status, body)
	}
	_, err = cloudformation.NewFromConfig(admin).DeleteStack(w.ctx, &cloudformation.DeleteStackInput{StackName: aws.String(stackName)})
	denied("DeleteStack of the onboarding stack", err, "DenyOnboardingStack")
	if s := w.stack(a.ID, stackRegion, stackName); s == nil || !strings.HasSuffix(string(s.StackStatus), "_COMPLETE") {
		t.Errorf("the onboarding stack is gone or changed after the administrator's DeleteStack: %+v", s)
	}
	// The administrator keeps everything else: another function is answered by Lambda (moto).
	if status, body := fn("payments-api"); strings.Contains(body, "AccessDenied") {
		t.Errorf("GetFunctionConfiguration of another function: %d %s, want it answered", status, body)
	}
}

// signed makes one SigV4-signed request to the fault proxy and returns the status and body.
func signed(t *testing.T, cfg aws.Config, service, method, path, target string, body []byte) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, aws.ToString(cfg.BaseEndpoint)+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, cfg.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
