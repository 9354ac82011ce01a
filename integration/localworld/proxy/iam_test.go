//go:build integration

package proxy_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/iampolicy"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
)

const (
	gateOrg    = "o-abcdefghij"
	gateMember = "222222222222"
	fnRole     = "arn:aws:iam::123456789012:role/cloudone-onboarder/reconcile/onboarder-ReconcileRole-T"
	execRole   = "arn:aws:iam::" + gateMember + ":role/CloudOneOnboarderExecution"
)

func gate(t *testing.T) *proxy.Proxy {
	t.Helper()
	p := start(t)
	p.EnforceIAM(proxy.IAMSettings{OrgID: gateOrg, Management: "123456789012"})
	p.AddRole(proxy.Role{ARN: fnRole, Label: "reconcile", Policies: []iampolicy.Document{iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[
		{"Sid":"Send","Effect":"Allow","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:123456789012:gate-q"},
		{"Sid":"Assume","Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::*:role/CloudOneOnboarderExecution","Condition":{"StringEquals":{"aws:ResourceOrgID":"`+gateOrg+`"}}}]}`, iampolicy.Identity)}})
	trust := iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole",
		"Condition":{"StringEquals":{"aws:PrincipalOrgID":"`+gateOrg+`","sts:RoleSessionName":"cloudone-onboarder"},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/cloudone-onboarder/reconcile/*"}}}]}`, iampolicy.Trust)
	p.AddRole(proxy.Role{ARN: execRole, Label: "execution role", Trust: &trust, Policies: []iampolicy.Document{iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[
		{"Sid":"Stacks","Effect":"Allow","Action":["cloudformation:DescribeStacks","cloudformation:CreateStack"],"Resource":"arn:aws:cloudformation:*:`+gateMember+`:stack/CloudOne/*"}]}`, iampolicy.Identity)}})
	p.AddCredentials("AKIAFUNCTIONKEY", fnRole, "reconcile")
	return p
}

func fnCfg(p *proxy.Proxy) aws.Config {
	return cfg(p.URL, 1, credentials.NewStaticCredentialsProvider("AKIAFUNCTIONKEY", "x", ""))
}

func TestIAMGateAllowsWhatThePolicyAllows(t *testing.T) {
	ctx := context.Background()
	p := gate(t)
	admin := sqs.NewFromConfig(cfg(motoURL, 1, nil))
	q, err := admin.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("gate-q")})
	if err != nil {
		t.Fatal(err)
	}
	fn := sqs.NewFromConfig(fnCfg(p))
	// SendMessageBatch is authorized as sqs:SendMessage.
	if _, err := fn.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: q.QueueUrl,
		Entries: []sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("1"), MessageBody: aws.String("x")}}}); err != nil {
		t.Errorf("SendMessageBatch: %v", err)
	}
	if _, err := fn.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}); err == nil {
		t.Error("DeleteQueue was allowed")
	} else if code, msg := apiCode(err); code != "AccessDenied" || !strings.Contains(msg, "sqs:DeleteQueue") {
		t.Errorf("DeleteQueue: %v", err)
	}
	ds := p.Denials()
	if len(ds) != 1 || ds[0].Caller != "reconcile" || ds[0].Action != "sqs:DeleteQueue" || !strings.HasSuffix(ds[0].Resource, ":gate-q") {
		t.Errorf("denials %+v", ds)
	}
	// The harness's own credentials are not gated.
	if _, err := admin.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl}); err != nil {
		t.Error(err)
	}
}

func TestIAMGateAssumeRoleAndTrust(t *testing.T) {
	ctx := context.Background()
	p := gate(t)
	stsc := sts.NewFromConfig(fnCfg(p))
	// The trust policy requires the session name.
	if _, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(execRole), RoleSessionName: aws.String("someone")}); err == nil {
		t.Error("a session name the trust policy does not allow was accepted")
	} else if code, msg := apiCode(err); code != "AccessDenied" || !strings.Contains(msg, "trust policy") {
		t.Errorf("wrong session: %v", err)
	}
	// A role that does not exist.
	if _, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + gateMember + ":role/Nope"), RoleSessionName: aws.String("cloudone-onboarder")}); err == nil {
		t.Error("assumed a role nobody made")
	}
	out, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(execRole), RoleSessionName: aws.String("cloudone-onboarder")})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	member := cfg(p.URL, 1, credentials.NewStaticCredentialsProvider(*out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken))
	cfn := cloudformation.NewFromConfig(member)
	if _, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("CloudOne")}); err != nil {
		if code, _ := apiCode(err); code == "AccessDenied" {
			t.Errorf("DescribeStacks of CloudOne denied: %v", err)
		}
	}
	if _, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("Other")}); err == nil {
		t.Error("DescribeStacks of another stack allowed")
	} else if code, _ := apiCode(err); code != "AccessDenied" {
		t.Errorf("another stack: %v", err)
	}
	// CreateStack with a service role needs iam:PassRole, which the policy lacks.
	_, err = cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("CloudOne"), TemplateBody: aws.String(`{"Resources":{}}`),
		RoleARN: aws.String("arn:aws:iam::" + gateMember + ":role/CloudOneOnboarderCloudFormation")})
	if code, msg := apiCode(err); code != "AccessDenied" || !strings.Contains(msg, "iam:PassRole") {
		t.Errorf("CreateStack with a role: %v", err)
	}
	// An SCP on the member account denies even what the role allows.
	p.AddSCP(gateMember, iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[{"Sid":"NoStacks","Effect":"Deny","Action":"cloudformation:CreateStack","Resource":"*"}]}`, iampolicy.SCP))
	_, err = cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("CloudOne"), TemplateBody: aws.String(`{"Resources":{}}`)})
	if code, msg := apiCode(err); code != "AccessDenied" || !strings.Contains(msg, "service control policy (statement NoStacks)") {
		t.Errorf("CreateStack under an SCP: %v", err)
	}
}

func TestIAMActionNames(t *testing.T) {
	ctx := context.Background()
	p := gate(t)
	// ListBuckets is authorized as s3:ListAllMyBuckets, which the function lacks.
	_, err := s3.NewFromConfig(fnCfg(p), func(o *s3.Options) { o.UsePathStyle = true }).ListBuckets(ctx, &s3.ListBucketsInput{})
	if code, msg := apiCode(err); code != "AccessDenied" || !strings.Contains(msg, "s3:ListAllMyBuckets") {
		t.Errorf("ListBuckets: %v", err)
	}
}

// A member account's Organizations calls: refused without a delegation policy, refused when
// the policy does not name the action, and answered with the management account's view when
// it does, as AWS answers a delegated administrator (moto alone answers from the member's own,
// empty view).
func TestIAMGateOrganizationsDelegation(t *testing.T) {
	ctx := context.Background()
	admin := organizations.NewFromConfig(cfg(motoURL, 1, nil))
	if _, err := admin.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{}); err != nil {
		if _, err := admin.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
			t.Fatal(err)
		}
	}
	p := gate(t)
	delegatedRole := "arn:aws:iam::" + gateMember + ":role/cloudone-onboarder/reconcile/onboarder-ReconcileRole-D"
	p.AddRole(proxy.Role{ARN: delegatedRole, Label: "delegated reconcile", Policies: []iampolicy.Document{iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["organizations:ListAccounts","organizations:DescribeOrganization"],"Resource":"*"}]}`, iampolicy.Identity)}})
	p.AddCredentials("AKIADELEGATEDKEY", delegatedRole, "reconcile")
	member := organizations.NewFromConfig(cfg(p.URL, 1, credentials.NewStaticCredentialsProvider("AKIADELEGATEDKEY", "x", "")))

	if _, err := member.ListAccounts(ctx, &organizations.ListAccountsInput{}); err == nil {
		t.Error("ListAccounts from a member account was answered without a delegation policy")
	} else if code, msg := apiCode(err); code != "AccessDeniedException" || !strings.Contains(msg, "no delegation policy") {
		t.Errorf("without a delegation: %v", err)
	}

	delegation := iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+gateMember+`:root"},
		"Action":"organizations:ListAccounts","Resource":"*"}]}`, iampolicy.Resource)
	p.EnforceIAM(proxy.IAMSettings{OrgID: gateOrg, Management: "123456789012", Delegation: &delegation})
	out, err := member.ListAccounts(ctx, &organizations.ListAccountsInput{})
	if err != nil {
		t.Fatalf("ListAccounts through the delegation: %v", err)
	}
	found := false
	for _, a := range out.Accounts {
		found = found || aws.ToString(a.Id) == "123456789012"
	}
	if !found {
		t.Errorf("ListAccounts through the delegation did not see the management account's Organization: %d accounts", len(out.Accounts))
	}
	if _, err := member.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{}); err == nil {
		t.Error("DescribeOrganization was answered, which the delegation does not name")
	} else if code, msg := apiCode(err); code != "AccessDeniedException" || !strings.Contains(msg, "delegation policy does not allow") {
		t.Errorf("an action the delegation does not name: %v", err)
	}
}

// CloudFormation assumes the service role a write passes: the role must exist, and its trust
// must let cloudformation.amazonaws.com in with no condition key, since CloudFormation
// documents none that it sends (a trust on aws:SourceAccount would refuse every write).
func TestIAMGateCloudFormationAssumesTheServiceRole(t *testing.T) {
	ctx := context.Background()
	p := gate(t)
	const deployer = "arn:aws:iam::" + gateMember + ":role/Deployer"
	p.AddRole(proxy.Role{ARN: deployer, Label: "deployer", Policies: []iampolicy.Document{iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["cloudformation:CreateStack","iam:PassRole"],"Resource":"*"}]}`, iampolicy.Identity)}})
	p.AddCredentials("AKIADEPLOYERKEY", deployer, "d")
	cfn := cloudformation.NewFromConfig(cfg(p.URL, 1, credentials.NewStaticCredentialsProvider("AKIADEPLOYERKEY", "x", "")))
	service := func(name, trust string) string {
		arn := "arn:aws:iam::" + gateMember + ":role/" + name
		doc := iampolicy.MustParse(trust, iampolicy.Trust)
		p.AddRole(proxy.Role{ARN: arn, Label: name, Trust: &doc})
		return arn
	}
	sourceAccount := service("WithSourceAccount", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cloudformation.amazonaws.com"},
		"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"`+gateMember+`"}}}]}`)
	plain := service("Plain", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cloudformation.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	create := func(name, role string) error {
		_, err := cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(`{"Resources":{"H":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}`),
			RoleARN: aws.String(role)})
		return err
	}
	if code, msg := apiCode(create("A", sourceAccount)); code != "AccessDenied" || !strings.Contains(msg, "does not let cloudformation.amazonaws.com assume it") {
		t.Errorf("a service role trusting on aws:SourceAccount: %s %s", code, msg)
	}
	if code, msg := apiCode(create("B", "arn:aws:iam::"+gateMember+":role/Nobody")); code != "AccessDenied" || !strings.Contains(msg, "does not exist") {
		t.Errorf("a service role nobody made: %s %s", code, msg)
	}
	if err := create("C", plain); err != nil {
		if code, _ := apiCode(err); code == "AccessDenied" {
			t.Errorf("a service role CloudFormation may assume: %v", err)
		}
	}
}

// IAM calls name the role (its path found among the known roles), CloudWatch Logs' account
// actions take "*", Lambda's version listing is ListVersionsByFunction.
func TestIAMGateResourcesOfRolesLogsAndVersions(t *testing.T) {
	ctx := context.Background()
	p := gate(t)
	_, err := iam.NewFromConfig(fnCfg(p)).UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("onboarder-ReconcileRole-T"), PolicyDocument: aws.String("{}")})
	if code, msg := apiCode(err); code != "AccessDenied" || !strings.Contains(msg, "iam:UpdateAssumeRolePolicy on resource: "+fnRole) {
		t.Errorf("UpdateAssumeRolePolicy: %v", err)
	}
	_, err = cloudwatchlogs.NewFromConfig(fnCfg(p)).PutAccountPolicy(ctx, &cloudwatchlogs.PutAccountPolicyInput{PolicyName: aws.String("x"), PolicyDocument: aws.String("{}"),
		PolicyType: "SUBSCRIPTION_FILTER_POLICY"})
	if code, msg := apiCode(err); code != "AccessDeniedException" || !strings.Contains(msg, "logs:PutAccountPolicy on resource: *") {
		t.Errorf("PutAccountPolicy: %v", err)
	}
	_, err = lambda.NewFromConfig(fnCfg(p)).ListVersionsByFunction(ctx, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String("CloudOne-forwarder")})
	if code, msg := apiCode(err); code != "AccessDeniedException" || !strings.Contains(msg, "lambda:ListVersionsByFunction on resource: arn:aws:lambda:") {
		t.Errorf("ListVersionsByFunction: %v", err)
	}
}

// An item request on a table whose partition key the gate knows carries
// dynamodb:LeadingKeys, so that a policy can hold a principal to some items; EventBridge's
// replay calls are checked against the archive, replay or bus they name; a Lambda stand-in
// is reached only with lambda:InvokeFunction on the function.
func TestIAMGateItemsReplaysInvocations(t *testing.T) {
	ctx := context.Background()
	p := start(t)
	p.EnforceIAM(proxy.IAMSettings{OrgID: gateOrg, Management: "123456789012", PartitionKeys: map[string]string{"gate-ledger": "account"}})
	const opRole = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/us-east-1/AWSReservedSSO_Op_0123456789abcdef"
	p.AddRole(proxy.Role{ARN: opRole, Label: "operator", Policies: []iampolicy.Document{iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["dynamodb:GetItem","dynamodb:PutItem"],"Resource":"arn:aws:dynamodb:us-east-1:123456789012:table/gate-ledger",
		 "Condition":{"ForAllValues:StringEquals":{"dynamodb:LeadingKeys":["#rollout"]},"Null":{"dynamodb:LeadingKeys":"false"}}},
		{"Effect":"Allow","Action":"events:DescribeArchive","Resource":"arn:aws:events:us-east-1:123456789012:archive/mine"},
		{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:123456789012:function:worker"}]}`, iampolicy.Identity)}})
	p.AddCredentials("AKIAOPERATORKEY", opRole, "operator@example.com")
	op := cfg(p.URL, 1, credentials.NewStaticCredentialsProvider("AKIAOPERATORKEY", "x", ""))

	db := dynamodb.NewFromConfig(cfg(motoURL, 1, nil))
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("gate-ledger"), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("account"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("account"), KeyType: ddbtypes.KeyTypeHash}}}); err != nil {
		t.Fatal(err)
	}
	opdb := dynamodb.NewFromConfig(op)
	item := func(k string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"account": &ddbtypes.AttributeValueMemberS{Value: k}}
	}
	if _, err := opdb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("gate-ledger"), Item: item("#rollout")}); err != nil {
		t.Errorf("PutItem of #rollout: %v", err)
	}
	if _, err := opdb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("gate-ledger"), Key: item("#rollout")}); err != nil {
		t.Errorf("GetItem of #rollout: %v", err)
	}
	if _, err := opdb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("gate-ledger"), Item: item("111111111111")}); err == nil {
		t.Error("PutItem of an account's entry was allowed")
	} else if code, msg := apiCode(err); code != "AccessDeniedException" || !strings.Contains(msg, "dynamodb:PutItem") {
		t.Errorf("PutItem of an account's entry: %v", err)
	}

	eb := eventbridge.NewFromConfig(op)
	if _, err := eb.DescribeArchive(ctx, &eventbridge.DescribeArchiveInput{ArchiveName: aws.String("theirs")}); err == nil {
		t.Error("DescribeArchive of another archive was allowed")
	} else if _, msg := apiCode(err); !strings.Contains(msg, "archive/theirs") {
		t.Errorf("DescribeArchive of another archive: %v", err)
	}

	invoked := 0
	p.Serve("lambda", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		invoked++
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer p.Serve("lambda", nil)
	fn := lambda.NewFromConfig(op)
	out, err := fn.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("worker"), Payload: []byte(`{}`)})
	if err != nil || string(out.Payload) != `{"ok":true}` {
		t.Errorf("Invoke of the function: %v %s", err, out.Payload)
	}
	if _, err := fn.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("other"), Payload: []byte(`{}`)}); err == nil {
		t.Error("Invoke of another function was allowed")
	} else if _, msg := apiCode(err); !strings.Contains(msg, "lambda:InvokeFunction") {
		t.Errorf("Invoke of another function: %v", err)
	}
	if invoked != 1 {
		t.Errorf("the stand-in answered %d invocations, want 1", invoked)
	}
}
