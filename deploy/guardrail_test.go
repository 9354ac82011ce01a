package deploy_test

// The guardrail SCP of guardrail.yaml, resolved with concrete parameters and evaluated with
// integration/localworld/iampolicy as AWS evaluates SCPs: a valid SCP within the size quota, that denies a
// member account's administrator the onboarding stack, its functions, their logs and the
// stack's roles, and spares the onboarder's roles and the stack's own.

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/iampolicy"
)

// maxSCP is the size of a service control policy Organizations accepts, white space not
// counted (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html).
const maxSCP = 5120

func guardrail(t *testing.T, params map[string]string) (iampolicy.Document, []byte) {
	t.Helper()
	p := map[string]string{"TargetIds": "ou-abcd-12345678"}
	for k, v := range params {
		p[k] = v
	}
	props, err := localworld.ResourceProperties("guardrail.yaml", "Guardrail", localworld.TemplateValues{Region: "us-east-1", Account: managementAccount, Params: p})
	if err != nil {
		t.Fatal(err)
	}
	if props["Type"] != "SERVICE_CONTROL_POLICY" {
		t.Fatalf("policy type %v", props["Type"])
	}
	content, err := json.Marshal(props["Content"])
	if err != nil {
		t.Fatal(err)
	}
	doc, err := iampolicy.Parse(content, iampolicy.SCP)
	if err != nil {
		t.Fatalf("the guardrail is not a valid SCP: %v\n%s", err, content)
	}
	return doc, content
}

func TestGuardrailIsAValidSCP(t *testing.T) {
	for _, list := range []string{"false", "true"} {
		_, content := guardrail(t, map[string]string{"DenyListFunctions": list})
		if n := iampolicy.MinifiedSize(content); n > maxSCP {
			t.Errorf("DenyListFunctions=%s: the SCP is %d characters, Organizations accepts %d", list, n, maxSCP)
		}
	}
}

type scpCase struct {
	who, action, resource string
	denied                bool
}

func checkSCP(t *testing.T, doc iampolicy.Document, cases []scpCase) {
	t.Helper()
	admin := iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, iampolicy.Identity)
	for _, c := range cases {
		arn := "arn:aws:iam::" + exampleAccount + ":role/" + c.who
		ok, why := iampolicy.Authorize([]iampolicy.Document{admin}, []iampolicy.Document{iampolicy.FullAWSAccess(), doc}, iampolicy.Request{
			Action: c.action, Resource: c.resource,
			Principal: iampolicy.Principal{ARN: arn},
			Context:   map[string][]string{"aws:PrincipalArn": {arn}, "aws:PrincipalAccount": {exampleAccount}},
		})
		if ok == c.denied {
			t.Errorf("%s %s on %s: allowed=%v (%s), want denied=%v", c.who, c.action, c.resource, ok, why, c.denied)
		}
	}
}

func TestGuardrailKeepsOthersAwayFromTheKey(t *testing.T) {
	doc, _ := guardrail(t, nil)
	const (
		fn      = "arn:aws:lambda:us-east-1:" + exampleAccount + ":function:CloudOne-VisionOneEnrollmentSt-VisionOneEnrollmentFun-1A2B3C"
		logs    = "arn:aws:logs:us-east-1:" + exampleAccount + ":log-group:/aws/lambda/CloudOne-WorkloadSecurityInte-AWSConnectorCreateLam-9Z8Y:*"
		root    = "arn:aws:cloudformation:us-east-1:" + exampleAccount + ":stack/CloudOne/6b1f0a30-0000-11ef-9c6e-0a1b2c3d4e5f"
		nested  = "arn:aws:cloudformation:eu-west-1:" + exampleAccount + ":stack/CloudOne-VisionOneEnrollmentStack-1QW2E3R4/6b1f0a30-0000-11ef-9c6e-0a1b2c3d4e5f"
		getInfo = "arn:aws:cloudformation:us-east-1:" + exampleAccount + ":stack/CloudOne-CloudTrailGetInfoStack-7YT6/6b1f0a30-0000-11ef-9c6e-0a1b2c3d4e5f"
		ownRole = "arn:aws:iam::" + exampleAccount + ":role/CloudOne-WorkloadSecurityIntegr-AWSConnectorLambdaF-1A2B"
		other   = "arn:aws:lambda:us-east-1:" + exampleAccount + ":function:payments-api"
	)
	checkSCP(t, doc, []scpCase{
		// A member account's administrator.
		{"SandboxAdmin", "lambda:GetFunctionConfiguration", fn, true},
		{"SandboxAdmin", "lambda:GetFunction", fn, true},
		{"SandboxAdmin", "lambda:UpdateFunctionCode", fn, true},
		{"SandboxAdmin", "lambda:InvokeFunction", fn, true},
		{"SandboxAdmin", "logs:FilterLogEvents", logs, true},
		{"SandboxAdmin", "logs:StartLiveTail", logs, true},
		{"SandboxAdmin", "logs:PutSubscriptionFilter", logs, true},
		{"SandboxAdmin", "cloudformation:DeleteStack", root, true},
		{"SandboxAdmin", "cloudformation:UpdateStack", root, true},
		{"SandboxAdmin", "cloudformation:UpdateStack", nested, true},
		{"SandboxAdmin", "cloudformation:DescribeStacks", nested, true},
		{"SandboxAdmin", "cloudformation:DescribeStacks", getInfo, true},
		{"SandboxAdmin", "iam:UpdateAssumeRolePolicy", ownRole, true},
		{"SandboxAdmin", "iam:PassRole", ownRole, true},
		// What the guardrail leaves alone.
		{"SandboxAdmin", "cloudformation:DescribeStacks", root, false}, // NoEcho parameters
		{"SandboxAdmin", "lambda:GetFunctionConfiguration", other, false},
		{"SandboxAdmin", "cloudformation:DeleteStack", "arn:aws:cloudformation:us-east-1:" + exampleAccount + ":stack/CloudOneX/6b1f0a30-0000-11ef-9c6e-0a1b2c3d4e5f", false},
		{"SandboxAdmin", "lambda:ListFunctions", "*", false}, // DenyListFunctions is off by default
		// The onboarder's roles and the stack's own.
		{"CloudOneOnboarderExecution", "cloudformation:UpdateStack", root, false},
		{"CloudOneOnboarderExecution", "cloudformation:DescribeStacks", nested, false},
		{"CloudOneOnboarderCloudFormation", "lambda:UpdateFunctionConfiguration", fn, false},
		{"CloudOneOnboarderCloudFormation", "iam:PassRole", ownRole, false},
		{"AWSControlTowerExecution", "cloudformation:DeleteStack", root, false},
		{"CloudOne-WorkloadSecurityIntegr-AWSConnectorLambdaF-1A2B", "lambda:InvokeFunction", fn, false},
	})
}

func TestGuardrailFollowsItsParameters(t *testing.T) {
	doc, _ := guardrail(t, map[string]string{"OnboardingStackName": "Trend1", "ExemptRoleNames": "OnboarderExec,OnboarderCfn",
		"DenyListFunctions": "true"})
	fn := func(name string) string { return "arn:aws:lambda:us-east-1:" + exampleAccount + ":function:" + name }
	checkSCP(t, doc, []scpCase{
		{"SandboxAdmin", "lambda:GetFunctionConfiguration", fn("Trend1-GetCloudOneRegionAndAcco-GetCloudOneRegion-1A"), true},
		{"SandboxAdmin", "lambda:GetFunctionConfiguration", fn("CloudOne-GetCloudOneRegionAndAcco-GetCloudOneRegion-1A"), false},
		{"OnboarderExec", "lambda:GetFunctionConfiguration", fn("Trend1-GetCloudOneRegionAndAcco-GetCloudOneRegion-1A"), false},
		{"CloudOneOnboarderExecution", "lambda:GetFunctionConfiguration", fn("Trend1-GetCloudOneRegionAndAcco-GetCloudOneRegion-1A"), true},
		{"AWSControlTowerExecution", "cloudformation:DeleteStack", "arn:aws:cloudformation:us-east-1:" + exampleAccount + ":stack/Trend1/6b1f0a30-0000-11ef-9c6e-0a1b2c3d4e5f", true},
		{"SandboxAdmin", "lambda:ListFunctions", "*", true},
		{"OnboarderCfn", "lambda:ListFunctions", "*", false},
	})
	// Every Resource of the policy is scoped by the stack name (or is the ListFunctions "*").
	for _, s := range doc.Statements {
		for _, r := range s.Resource {
			if r != "*" && !strings.Contains(r, "Trend1") {
				t.Errorf("statement %s: resource %s is not scoped by the stack name", s.Sid, r)
			}
		}
	}
}
