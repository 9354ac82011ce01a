package deploy_test

// The guardrail SCP of guardrail.yaml, resolved with concrete parameters and evaluated with
// integration/localworld/iampolicy as AWS evaluates SCPs: a valid SCP within the size quota, that
// denies a member account's administrator the onboarding stack, its functions, their logs, the
// stack's roles and policies, and every way around the exemption by role name (a role of an
// exempt name made, changed or passed), and spares the onboarder's roles and the stack's own.

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
	for _, p := range []map[string]string{
		{"DenyListFunctions": "false"},
		{"DenyListFunctions": "true"},
		{"OnboardingStackName": "Abcdefgh", "StackSetExecutionRoleName": "AWSCloudFormationStackSetExecutionRole"},
	} {
		_, content := guardrail(t, p)
		n := iampolicy.MinifiedSize(content)
		t.Logf("%v: %d characters minified (limit %d)", p, n, maxSCP)
		if n > maxSCP {
			t.Errorf("%v: the SCP is %d characters, Organizations accepts %d", p, n, maxSCP)
		}
	}
}

type scpCase struct {
	who, action, resource string
	denied                bool
}

// checkSCP evaluates each case as a request of the role who (a role name, with its path) of
// exampleAccount, whose own policies allow everything, under FullAWSAccess and the guardrail.
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

// Example resources of the onboarding stack "CloudOne" in exampleAccount, named as
// CloudFormation and Lambda name them.
const (
	exFunction = "arn:aws:lambda:us-east-1:" + exampleAccount + ":function:CloudOne-VisionOneEnrollmentSt-VisionOneEnrollmentFun-1A2B3C"
	exLogGroup = "arn:aws:logs:us-east-1:" + exampleAccount + ":log-group:/aws/lambda/CloudOne-WorkloadSecurityInte-AWSConnectorCreateLam-9Z8Y"
	exRoot     = "arn:aws:cloudformation:us-east-1:" + exampleAccount + ":stack/CloudOne/6b1f0a30-0000-11ef-9c6e-0a1b2c3d4e5f"
	exNested   = "arn:aws:cloudformation:eu-west-1:" + exampleAccount + ":stack/CloudOne-VisionOneEnrollmentStack-1QW2E3R4/6b1f0a30-0000-11ef-9c6e-0a1b2c3d4e5f"
	exGetInfo  = "arn:aws:cloudformation:us-east-1:" + exampleAccount + ":stack/CloudOne-CloudTrailGetInfoStack-7YT6/6b1f0a30-0000-11ef-9c6e-0a1b2c3d4e5f"
	exOwnRole  = "CloudOne-WorkloadSecurityIntegr-AWSConnectorLambdaF-1A2B"
	exPolicy   = "arn:aws:iam::" + exampleAccount + ":policy/CloudOne-CloudOneIntegrationStack-8ZK2-CloudOnePolicyPart1-2B3C"
	exOther    = "arn:aws:lambda:us-east-1:" + exampleAccount + ":function:payments-api"
	exStackSet = "stacksets-exec-8f3c2a1b0e9d4c7f6a5b4c3d2e1f0a9b"
	exSecret   = "arn:aws:secretsmanager:us-east-1:" + exampleAccount + ":secret:AuthTokenSecretManager-a1B2c3D4e5F6-AbCdEf"
)

func role(name string) string { return "arn:aws:iam::" + exampleAccount + ":role/" + name }

// roleWrites are the IAM calls that change who may assume a role, what it may do, or who may use
// it: each would let an administrator hold a role the guardrail exempts by name. TagRole and
// UntagRole count too, although no condition of the guardrail reads tags (a later one might).
var roleWrites = []string{
	"iam:CreateRole", "iam:DeleteRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole",
	"iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
	"iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary", "iam:PassRole",
	"iam:TagRole", "iam:UntagRole",
}

// TestGuardrailClosesTheWalkArounds: every way a member account's administrator could reach the
// key around the exemption by role name, one denied case each (issue 20, item 1).
func TestGuardrailClosesTheWalkArounds(t *testing.T) {
	doc, _ := guardrail(t, nil)
	var cases []scpCase
	// Take over an exempt role (change its trust or policies, or pass it to a stack or function
	// of one's own), then act as it; or make one where none is.
	for _, name := range []string{"CloudOneOnboarderExecution", "CloudOneOnboarderCloudFormation", "AWSControlTowerExecution", exOwnRole, exStackSet} {
		for _, a := range roleWrites {
			cases = append(cases, scpCase{"SandboxAdmin", a, role(name), true})
		}
	}
	cases = append(cases,
		// A new role whose name (or path) falls under an exempt pattern.
		scpCase{"SandboxAdmin", "iam:CreateRole", role("CloudOne-Exfil"), true},
		scpCase{"SandboxAdmin", "iam:CreateRole", role("CloudOne-x/Admin"), true},
		scpCase{"SandboxAdmin", "iam:CreateRole", role("stacksets-exec-mine"), true},
		// The stack's customer managed policies: a new default version changes what its roles may do.
		scpCase{"SandboxAdmin", "iam:CreatePolicyVersion", exPolicy, true},
		scpCase{"SandboxAdmin", "iam:SetDefaultPolicyVersion", exPolicy, true},
		scpCase{"SandboxAdmin", "iam:DeletePolicyVersion", exPolicy, true},
		scpCase{"SandboxAdmin", "iam:DeletePolicy", exPolicy, true},
		// Every Lambda read that returns FunctionConfiguration (its Environment holds the key):
		// GetFunction, GetFunctionConfiguration, ListVersionsByFunction, ListFunctions, and the
		// writes that answer with it.
		scpCase{"SandboxAdmin", "lambda:GetFunction", exFunction, true},
		scpCase{"SandboxAdmin", "lambda:GetFunctionConfiguration", exFunction, true},
		scpCase{"SandboxAdmin", "lambda:GetFunctionConfiguration", exFunction + ":1", true},
		scpCase{"SandboxAdmin", "lambda:ListVersionsByFunction", exFunction, true},
		scpCase{"SandboxAdmin", "lambda:ListFunctions", "*", true},
		scpCase{"SandboxAdmin", "lambda:PublishVersion", exFunction, true},
		scpCase{"SandboxAdmin", "lambda:UpdateFunctionConfiguration", exFunction, true},
		scpCase{"SandboxAdmin", "lambda:UpdateFunctionCode", exFunction, true},
		scpCase{"SandboxAdmin", "lambda:InvokeFunction", exFunction, true},
		scpCase{"SandboxAdmin", "lambda:InvokeFunctionUrl", exFunction, true},
		scpCase{"SandboxAdmin", "lambda:AddPermission", exFunction, true},
		// The custom resource's log group, which holds its event with the key: read, query, tail,
		// export, subscribe, extract into a metric, unmask; and every log group at once through
		// an account-wide subscription filter policy.
		scpCase{"SandboxAdmin", "logs:PutAccountPolicy", "*", true},
		scpCase{"SandboxAdmin", "logs:GetLogEvents", exLogGroup + ":log-stream:2024/03/05/[$LATEST]0123456789abcdef", true},
		scpCase{"SandboxAdmin", "logs:FilterLogEvents", exLogGroup + ":*", true},
		scpCase{"SandboxAdmin", "logs:StartQuery", exLogGroup + ":*", true},
		scpCase{"SandboxAdmin", "logs:StartLiveTail", exLogGroup + ":*", true},
		scpCase{"SandboxAdmin", "logs:CreateExportTask", exLogGroup + ":*", true},
		scpCase{"SandboxAdmin", "logs:PutSubscriptionFilter", exLogGroup + ":*", true},
		scpCase{"SandboxAdmin", "logs:PutMetricFilter", exLogGroup + ":*", true},
		scpCase{"SandboxAdmin", "logs:Unmask", exLogGroup + ":*", true},
		scpCase{"SandboxAdmin", "logs:AssociateKmsKey", exLogGroup + ":*", true},
		scpCase{"SandboxAdmin", "logs:DeleteLogGroup", exLogGroup + ":*", true},
		// The CloudTrail integration token's secret, which the stack's own roles read.
		scpCase{"SandboxAdmin", "secretsmanager:GetSecretValue", exSecret, true},
		scpCase{"SandboxAdmin", "secretsmanager:PutResourcePolicy", exSecret, true},
		// The stacks: writes, and the reads of what holds a token (nested stacks' parameters,
		// outputs, events, physical ids; events and drift results of the root).
		scpCase{"SandboxAdmin", "cloudformation:DeleteStack", exRoot, true},
		scpCase{"SandboxAdmin", "cloudformation:UpdateStack", exRoot, true},
		scpCase{"SandboxAdmin", "cloudformation:CreateChangeSet", exRoot, true},
		scpCase{"SandboxAdmin", "cloudformation:DescribeStackEvents", exRoot, true},
		scpCase{"SandboxAdmin", "cloudformation:DetectStackDrift", exRoot, true},
		scpCase{"SandboxAdmin", "cloudformation:UpdateStack", exNested, true},
		scpCase{"SandboxAdmin", "cloudformation:DescribeStacks", exNested, true},
		scpCase{"SandboxAdmin", "cloudformation:DescribeStacks", exGetInfo, true},
		scpCase{"SandboxAdmin", "cloudformation:DescribeStackEvents", exNested, true},
		scpCase{"SandboxAdmin", "cloudformation:DescribeStackResources", exNested, true},
		// The StackSet's execution role changes the exempt roles, nothing else of the stack.
		scpCase{exStackSet, "lambda:GetFunctionConfiguration", exFunction, true},
		scpCase{exStackSet, "logs:FilterLogEvents", exLogGroup + ":*", true},
		scpCase{exStackSet, "lambda:ListFunctions", "*", true},
	)
	checkSCP(t, doc, cases)
}

func TestGuardrailKeepsOthersAwayFromTheKey(t *testing.T) {
	doc, _ := guardrail(t, nil)
	checkSCP(t, doc, []scpCase{
		// What the guardrail leaves a member account's administrator.
		{"SandboxAdmin", "cloudformation:DescribeStacks", exRoot, false}, // NoEcho parameters
		{"SandboxAdmin", "cloudformation:GetTemplate", exRoot, false},
		{"SandboxAdmin", "cloudformation:DescribeStacks", "*", false},
		{"SandboxAdmin", "lambda:GetPolicy", exFunction, false},
		{"SandboxAdmin", "lambda:ListTags", exFunction, false},
		{"SandboxAdmin", "logs:DescribeLogStreams", exLogGroup + ":*", false},
		{"SandboxAdmin", "iam:GetRole", role("CloudOneOnboarderExecution"), false},
		{"SandboxAdmin", "iam:ListAttachedRolePolicies", role(exOwnRole), false},
		{"SandboxAdmin", "iam:GetPolicyVersion", exPolicy, false},
		{"SandboxAdmin", "lambda:GetFunctionConfiguration", exOther, false},
		{"SandboxAdmin", "logs:FilterLogEvents", "arn:aws:logs:us-east-1:" + exampleAccount + ":log-group:/aws/lambda/payments-api:*", false},
		{"SandboxAdmin", "iam:CreateRole", role("payments-api-role"), false},
		{"SandboxAdmin", "iam:PutRolePolicy", role("CloudOneX"), false},
		{"SandboxAdmin", "cloudformation:DeleteStack", "arn:aws:cloudformation:us-east-1:" + exampleAccount + ":stack/CloudOneX/6b1f0a30-0000-11ef-9c6e-0a1b2c3d4e5f", false},
		// The reconcile role of an install account under the guardrail assumes the execution role
		// of a member account (the trust policy decides who may).
		{"cloudone-onboarder/reconcile/cloudone-onboarder-ReconcileRole-1A2B", "sts:AssumeRole", role("CloudOneOnboarderExecution"), false},
		// The onboarder's roles, the StackSet's and the stack's own.
		{"CloudOneOnboarderExecution", "cloudformation:UpdateStack", exRoot, false},
		{"CloudOneOnboarderExecution", "cloudformation:DescribeStackEvents", exNested, false},
		{"CloudOneOnboarderExecution", "iam:PassRole", role("CloudOneOnboarderCloudFormation"), false},
		{"CloudOneOnboarderCloudFormation", "lambda:UpdateFunctionConfiguration", exFunction, false},
		{"CloudOneOnboarderCloudFormation", "iam:CreateRole", role(exOwnRole), false},
		{"CloudOneOnboarderCloudFormation", "iam:PassRole", role(exOwnRole), false},
		{"CloudOneOnboarderCloudFormation", "iam:CreatePolicyVersion", exPolicy, false},
		{"CloudOneOnboarderCloudFormation", "logs:PutRetentionPolicy", exLogGroup + ":*", false},
		{"AWSControlTowerExecution", "cloudformation:DeleteStack", exRoot, false},
		{"AWSControlTowerExecution", "iam:UpdateAssumeRolePolicy", role("AWSControlTowerExecution"), false},
		{exStackSet, "iam:CreateRole", role("CloudOneOnboarderExecution"), false},
		{exStackSet, "iam:PutRolePolicy", role("CloudOneOnboarderCloudFormation"), false},
		{exOwnRole, "lambda:InvokeFunction", exFunction, false},
		{exOwnRole, "logs:PutLogEvents", exLogGroup + ":log-stream:x", false},
		{exOwnRole, "secretsmanager:GetSecretValue", exSecret, false},
		{"SandboxAdmin", "secretsmanager:DescribeSecret", exSecret, false},
		{"SandboxAdmin", "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:" + exampleAccount + ":secret:payments-db-AbCdEf", false},
	})
}

// TestGuardrailGuardsEveryExemptName: for every role pattern the policy exempts, with default
// and other parameters, an administrator may neither make nor change nor pass a role that
// matches it; so adding an exemption without guarding it fails here.
func TestGuardrailGuardsEveryExemptName(t *testing.T) {
	for _, p := range []map[string]string{nil, {"OnboardingStackName": "Trend1", "ExemptRoleNames": "OnboarderExec,OnboarderCfn",
		"StackSetExecutionRoleName": "AWSCloudFormationStackSetExecutionRole"}} {
		doc, _ := guardrail(t, p)
		exempt := map[string]bool{}
		for _, s := range doc.Statements {
			for _, v := range s.Condition["ArnNotLike"]["aws:PrincipalArn"] {
				exempt[v] = true
			}
		}
		if len(exempt) < 4 {
			t.Fatalf("%v: only %d exempt patterns found: is the exemption still read?", p, len(exempt))
		}
		var cases []scpCase
		for pattern := range exempt {
			name, ok := strings.CutPrefix(pattern, "arn:*:iam::*:role/")
			if !ok {
				t.Errorf("%v: exempt pattern %s is not a role of any account", p, pattern)
				continue
			}
			name = strings.ReplaceAll(name, "*", "Mine")
			for _, a := range roleWrites {
				cases = append(cases, scpCase{"SandboxAdmin", a, role(name), true})
			}
		}
		checkSCP(t, doc, cases)
	}
}

func TestGuardrailFollowsItsParameters(t *testing.T) {
	doc, _ := guardrail(t, map[string]string{"OnboardingStackName": "Trend1", "ExemptRoleNames": "OnboarderExec,OnboarderCfn",
		"DenyListFunctions": "false"})
	fn := func(name string) string { return "arn:aws:lambda:us-east-1:" + exampleAccount + ":function:" + name }
	checkSCP(t, doc, []scpCase{
		{"SandboxAdmin", "lambda:GetFunctionConfiguration", fn("Trend1-GetCloudOneRegionAndAcco-GetCloudOneRegion-1A"), true},
		{"SandboxAdmin", "lambda:GetFunctionConfiguration", fn("CloudOne-GetCloudOneRegionAndAcco-GetCloudOneRegion-1A"), false},
		{"OnboarderExec", "lambda:GetFunctionConfiguration", fn("Trend1-GetCloudOneRegionAndAcco-GetCloudOneRegion-1A"), false},
		{"CloudOneOnboarderExecution", "lambda:GetFunctionConfiguration", fn("Trend1-GetCloudOneRegionAndAcco-GetCloudOneRegion-1A"), true},
		{"AWSControlTowerExecution", "cloudformation:DeleteStack", "arn:aws:cloudformation:us-east-1:" + exampleAccount + ":stack/Trend1/6b1f0a30-0000-11ef-9c6e-0a1b2c3d4e5f", true},
		{"SandboxAdmin", "iam:UpdateAssumeRolePolicy", role("OnboarderCfn"), true},
		{"SandboxAdmin", "iam:UpdateAssumeRolePolicy", role("CloudOneOnboarderCloudFormation"), false},
		{"SandboxAdmin", "lambda:ListFunctions", "*", false}, // DenyListFunctions=false
		{"SandboxAdmin", "logs:PutAccountPolicy", "*", true},
	})
	// Every Resource of the policy is scoped by the stack name or names an exempt role (or is
	// "*", for the calls that have no resource).
	for _, s := range doc.Statements {
		for _, r := range s.Resource {
			if r != "*" && !strings.Contains(r, "Trend1") && !strings.HasSuffix(r, ":secret:AuthTokenSecretManager-*") && !strings.HasSuffix(r, ":role/OnboarderExec") &&
				!strings.HasSuffix(r, ":role/OnboarderCfn") && !strings.HasSuffix(r, ":role/stacksets-exec-*") {
				t.Errorf("statement %s: resource %s is not scoped by the stack name or an exempt role", s.Sid, r)
			}
		}
	}
}

// TestGuardrailGuardsTheVisionOneStack: with Target visionone, the Vision One stack, its nested
// stacks, functions and their logs (where the generated template's key may be) are the exempt
// roles' and the stack's own roles' alone; the Cloud One names are no longer special; the
// policy stays within the size quota and guards every name it exempts.
func TestGuardrailGuardsTheVisionOneStack(t *testing.T) {
	p := map[string]string{"Target": "visionone"}
	doc, content := guardrail(t, p)
	n := iampolicy.MinifiedSize(content)
	t.Logf("%v: %d characters minified (limit %d)", p, n, maxSCP)
	if n > maxSCP {
		t.Errorf("the SCP is %d characters, Organizations accepts %d", n, maxSCP)
	}
	_, long := guardrail(t, map[string]string{"Target": "visionone", "VisionOneStackName": "V" + strings.Repeat("s", 127),
		"VisionOneNamePrefix": "V" + strings.Repeat("p", 29), "StackSetExecutionRoleName": "AWSCloudFormationStackSetExecutionRole"})
	n = iampolicy.MinifiedSize(long)
	t.Logf("with the longest Vision One names: %d characters minified (limit %d)", n, maxSCP)
	if n > maxSCP {
		t.Errorf("with the longest names the SCP is %d characters, Organizations accepts %d", n, maxSCP)
	}
	const (
		v1Root   = "arn:aws:cloudformation:us-east-1:" + exampleAccount + ":stack/Vision-One-Cloud-Account-Management/6b1f0a30-0000-11ef-9c6e-0a1b2c3d4e5f"
		v1Nested = "arn:aws:cloudformation:us-east-1:" + exampleAccount + ":stack/Vision-One-Cloud-Account-Management-CloudTrailStack-1QW2/6b1f0a30-0000-11ef-9c6e-0a1b2c3d4e5f"
		v1Fn     = "arn:aws:lambda:us-east-1:" + exampleAccount + ":function:Vision-One-Cloud-Account-Manag-RegistrationFunctio-A9S8D7F6G5H4"
		v1Logs   = "arn:aws:logs:us-east-1:" + exampleAccount + ":log-group:/aws/lambda/Vision-One-Cloud-Account-Manag-RegistrationFunctio-A9S8D7F6G5H4"
		v1Own    = "Vision-One-Cloud-Account-Manag-RegistrationFunctio-1A2B"
	)
	checkSCP(t, doc, []scpCase{
		{"SandboxAdmin", "lambda:GetFunctionConfiguration", v1Fn, true},
		{"SandboxAdmin", "lambda:UpdateFunctionConfiguration", v1Fn, true},
		{"SandboxAdmin", "logs:FilterLogEvents", v1Logs + ":*", true},
		{"SandboxAdmin", "cloudformation:DescribeStackEvents", v1Root, true},
		{"SandboxAdmin", "cloudformation:DeleteStack", v1Root, true},
		{"SandboxAdmin", "cloudformation:DescribeStacks", v1Nested, true},
		{"SandboxAdmin", "iam:UpdateAssumeRolePolicy", role(v1Own), true},
		{"SandboxAdmin", "iam:CreateRole", role("Vision-One-Exfil"), true},
		{"SandboxAdmin", "lambda:ListFunctions", "*", true},
		{"SandboxAdmin", "cloudformation:DescribeStacks", v1Root, false}, // NoEcho parameters
		{"SandboxAdmin", "lambda:GetFunctionConfiguration", exFunction, false},
		{"SandboxAdmin", "iam:CreateRole", role("CloudOne-x"), false},
		{"CloudOneOnboarderExecution", "cloudformation:UpdateStack", v1Root, false},
		{"CloudOneOnboarderCloudFormation", "lambda:UpdateFunctionConfiguration", v1Fn, false},
		{v1Own, "lambda:InvokeFunction", v1Fn, false},
		{v1Own, "logs:PutLogEvents", v1Logs + ":log-stream:x", false},
	})
	exempt := map[string]bool{}
	for _, s := range doc.Statements {
		for _, v := range s.Condition["ArnNotLike"]["aws:PrincipalArn"] {
			exempt[v] = true
		}
	}
	var cases []scpCase
	for pattern := range exempt {
		name, _ := strings.CutPrefix(pattern, "arn:*:iam::*:role/")
		for _, a := range roleWrites {
			cases = append(cases, scpCase{"SandboxAdmin", a, role(strings.ReplaceAll(name, "*", "Mine")), true})
		}
	}
	if len(exempt) < 4 {
		t.Fatalf("only %d exempt patterns", len(exempt))
	}
	checkSCP(t, doc, cases)
}
