//go:build integration

package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithy "github.com/aws/smithy-go"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
)

const layerTemplate = `Parameters:
  Secret: {Type: String, NoEcho: true}
  Mode: {Type: String, Default: a}
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub "${AWS::StackName}-${Mode}"
`

// layer is a proxy with the CloudFormation layer on, a CloudFormation client through it in
// region r (moto's default account), and the template uploaded to moto's S3.
func layer(t *testing.T, timing proxy.StackTiming) (*proxy.Proxy, *cloudformation.Client, string) {
	t.Helper()
	p := start(t)
	p.EnableStacks(timing)
	ctx := context.Background()
	s3c := s3.NewFromConfig(cfg(motoURL, 1, nil), func(o *s3.Options) { o.UsePathStyle = true })
	bucket := "layer-" + strings.ToLower(strings.ReplaceAll(t.Name(), "_", "-"))
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("t.yaml"), Body: bytes.NewReader([]byte(layerTemplate))}); err != nil {
		t.Fatal(err)
	}
	url := strings.Replace(motoURL, "127.0.0.1", "localhost", 1) + "/" + bucket + "/t.yaml"
	return p, cloudformation.NewFromConfig(cfg(p.URL, 1, nil), func(o *cloudformation.Options) { o.Region = "eu-west-3" }), url
}

func describe(t *testing.T, c *cloudformation.Client, name string) *cfntypes.Stack {
	t.Helper()
	out, err := c.DescribeStacks(context.Background(), &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && strings.Contains(ae.ErrorMessage(), "does not exist") {
			return nil
		}
		t.Fatal(err)
	}
	return &out.Stacks[0]
}

func params(s *cfntypes.Stack) map[string]string {
	m := map[string]string{}
	for _, p := range s.Parameters {
		m[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	return m
}

// waitStatus polls until the stack shows want (or is gone, for want ""); after 30 s it gives
// up (the operations here take at most a second).
func waitStatus(t *testing.T, c *cloudformation.Client, name, want string) *cfntypes.Stack {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := describe(t, c, name)
		got := ""
		if s != nil {
			got = string(s.StackStatus)
		}
		if got == want {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("stack %s: status %q, want %q", name, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// passedThrough checks that the stack's own events (the stack-level ones, oldest first) end
// with these statuses: the in-between states are read from the history, not caught live,
// which a loaded machine can miss.
func passedThrough(t *testing.T, c *cloudformation.Client, name string, want ...string) {
	t.Helper()
	out, err := c.DescribeStackEvents(context.Background(), &cloudformation.DescribeStackEventsInput{StackName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(out.StackEvents) - 1; i >= 0; i-- { // newest first in the answer
		if e := out.StackEvents[i]; aws.ToString(e.LogicalResourceId) == name {
			got = append(got, string(e.ResourceStatus))
		}
	}
	if len(got) < len(want) || !slices.Equal(got[len(got)-len(want):], want) {
		t.Errorf("stack %s went through %v, want it to end with %v", name, got, want)
	}
}

func apiCode(err error) (string, string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "", ""
}

func events(t *testing.T, c *cloudformation.Client, name string) []cfntypes.StackEvent {
	t.Helper()
	out, err := c.DescribeStackEvents(context.Background(), &cloudformation.DescribeStackEventsInput{StackName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return out.StackEvents
}

func TestStackOperationsTakeTime(t *testing.T) {
	ctx := context.Background()
	// The create runs until the test ends it, so that the checks made while it runs find it
	// running however slow the machine; the update and the delete end by themselves, and
	// their in-between states are read from the stack's history, not caught live.
	p, c, url := layer(t, proxy.StackTiming{Create: 10 * time.Minute, Update: 300 * time.Millisecond, Delete: 300 * time.Millisecond, Rollback: 300 * time.Millisecond})
	in := &cloudformation.CreateStackInput{StackName: aws.String("Slow"), TemplateURL: aws.String(url), ClientRequestToken: aws.String("tok-create-1"),
		Parameters: []cfntypes.Parameter{{ParameterKey: aws.String("Secret"), ParameterValue: aws.String("s3cr3t")}},
		Tags:       []cfntypes.Tag{{Key: aws.String("owner"), Value: aws.String("me")}}}
	out, err := c.CreateStack(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	s := describe(t, c, "Slow")
	if s.StackStatus != cfntypes.StackStatusCreateInProgress {
		t.Errorf("right after CreateStack: %s, want CREATE_IN_PROGRESS", s.StackStatus)
	}
	if p := params(s); p["Secret"] != "****" || p["Mode"] != "a" && p["Mode"] != "" {
		t.Errorf("parameters %v: NoEcho must read ****", p)
	}
	// The same token again is the same operation, not an AlreadyExists.
	again, err := c.CreateStack(ctx, in)
	if err != nil || aws.ToString(again.StackId) != aws.ToString(out.StackId) {
		t.Errorf("repeated token: %v, %v", again, err)
	}
	// Another token while it runs: AlreadyExists, as on AWS.
	in2 := *in
	in2.ClientRequestToken = aws.String("tok-create-2")
	if _, err := c.CreateStack(ctx, &in2); err == nil {
		t.Error("a second create with another token succeeded")
	} else if code, _ := apiCode(err); code != "AlreadyExistsException" {
		t.Errorf("second create: %v", err)
	}
	// An update while it runs: CloudFormation's own ValidationError.
	_, err = c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("Slow"), TemplateURL: aws.String(url),
		Parameters: []cfntypes.Parameter{{ParameterKey: aws.String("Secret"), ParameterValue: aws.String("x")}, {ParameterKey: aws.String("Mode"), ParameterValue: aws.String("b")}}})
	if code, msg := apiCode(err); code != "ValidationError" || !strings.Contains(msg, "is in CREATE_IN_PROGRESS state and can not be updated.") {
		t.Errorf("update during create: %v", err)
	}
	if s := describe(t, c, "Slow"); s.StackStatus != cfntypes.StackStatusCreateInProgress {
		t.Errorf("after the refused writes: %s, want CREATE_IN_PROGRESS", s.StackStatus)
	}
	if err := p.ForceStackStatus(proxy.DefaultAccount, "eu-west-3", "Slow", "CREATE_COMPLETE", ""); err != nil {
		t.Fatal(err)
	}

	// Update: in progress, then complete by itself, with the new parameter.
	if _, err := c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("Slow"), TemplateURL: aws.String(url), ClientRequestToken: aws.String("tok-update-1"),
		Parameters: []cfntypes.Parameter{{ParameterKey: aws.String("Secret"), ParameterValue: aws.String("x")}, {ParameterKey: aws.String("Mode"), ParameterValue: aws.String("b")}}}); err != nil {
		t.Fatal(err)
	}
	s = waitStatus(t, c, "Slow", "UPDATE_COMPLETE")
	passedThrough(t, c, "Slow", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE")
	if params(s)["Mode"] != "b" {
		t.Errorf("after the update: %v", params(s))
	}
	// Delete: in progress, then gone by itself.
	if _, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("Slow")}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "Slow", "")
	var statuses, tokens []string
	for _, e := range events(t, c, aws.ToString(out.StackId)) { // newest first
		if aws.ToString(e.LogicalResourceId) == "Slow" {
			statuses = append(statuses, string(e.ResourceStatus))
		}
		tokens = append(tokens, aws.ToString(e.ClientRequestToken))
	}
	if len(statuses) < 2 || statuses[0] != "DELETE_COMPLETE" || statuses[1] != "DELETE_IN_PROGRESS" {
		t.Errorf("the stack's history, newest first: %v, want DELETE_COMPLETE after DELETE_IN_PROGRESS", statuses)
	}
	// The token of the events is the token of the operation.
	if len(tokens) == 0 || tokens[len(tokens)-1] != "tok-create-1" {
		t.Errorf("event tokens %v: the oldest is the create's", tokens)
	}
}

func TestFailedCreateRollsBack(t *testing.T) {
	ctx := context.Background()
	p, c, url := layer(t, proxy.Uniform(200*time.Millisecond))
	i := p.FailStacks(proxy.StackFailure{Stack: "Bad", Operation: "CREATE", LogicalID: "Connector", ResourceType: "Custom::CloudOne", Reason: "Cloud One said no"})
	if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("Bad"), TemplateURL: aws.String(url), ClientRequestToken: aws.String("t-1"),
		Parameters: []cfntypes.Parameter{{ParameterKey: aws.String("Secret"), ParameterValue: aws.String("s")}},
		Tags:       []cfntypes.Tag{{Key: aws.String("managed"), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	s := waitStatus(t, c, "Bad", "ROLLBACK_COMPLETE")
	passedThrough(t, c, "Bad", "CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE")
	if len(s.Tags) != 1 || params(s)["Secret"] != "****" {
		t.Errorf("a rolled-back stack keeps its tags and masked parameters: %+v %v", s.Tags, params(s))
	}
	if p.StackFailures(i) != 1 {
		t.Errorf("failures %d", p.StackFailures(i))
	}
	var failed *cfntypes.StackEvent
	for _, e := range events(t, c, "Bad") {
		if e.ResourceStatus == cfntypes.ResourceStatusCreateFailed {
			failed = &e
		}
	}
	if failed == nil || aws.ToString(failed.LogicalResourceId) != "Connector" || aws.ToString(failed.ResourceType) != "Custom::CloudOne" ||
		aws.ToString(failed.ResourceStatusReason) != "Cloud One said no" || aws.ToString(failed.ClientRequestToken) != "t-1" {
		t.Errorf("failed event %+v", failed)
	}
	if _, err := c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("Bad"), TemplateURL: aws.String(url)}); err == nil {
		t.Error("update of a ROLLBACK_COMPLETE stack succeeded")
	} else if _, msg := apiCode(err); !strings.Contains(msg, "ROLLBACK_COMPLETE state and can not be updated") {
		t.Errorf("update of ROLLBACK_COMPLETE: %v", err)
	}
	// moto holds it no more; a delete ends it.
	if v, ok := p.Stack(proxy.DefaultAccount, "eu-west-3", "Bad"); !ok || v.InMoto {
		t.Errorf("view %+v %v", v, ok)
	}
	if _, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("Bad")}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "Bad", "")
}

func TestFailedUpdateKeepsOldParameters(t *testing.T) {
	ctx := context.Background()
	p, c, url := layer(t, proxy.Uniform(100*time.Millisecond))
	mk := func(mode string) []cfntypes.Parameter {
		return []cfntypes.Parameter{{ParameterKey: aws.String("Secret"), ParameterValue: aws.String("s")}, {ParameterKey: aws.String("Mode"), ParameterValue: aws.String(mode)}}
	}
	if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("Upd"), TemplateURL: aws.String(url), Parameters: mk("a")}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "Upd", "CREATE_COMPLETE")
	p.FailStacks(proxy.StackFailure{Operation: "UPDATE", ParameterEquals: map[string]string{"Mode": "broken"}})
	if _, err := c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("Upd"), TemplateURL: aws.String(url), Parameters: mk("broken"), ClientRequestToken: aws.String("u-1")}); err != nil {
		t.Fatal(err)
	}
	s := waitStatus(t, c, "Upd", "UPDATE_ROLLBACK_COMPLETE")
	passedThrough(t, c, "Upd", "UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE")
	if params(s)["Mode"] != "a" {
		t.Errorf("after the rollback the old parameters are back: %v", params(s))
	}
	// UPDATE_ROLLBACK_COMPLETE can be updated again.
	if _, err := c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("Upd"), TemplateURL: aws.String(url), Parameters: mk("c")}); err != nil {
		t.Fatal(err)
	}
	s = waitStatus(t, c, "Upd", "UPDATE_COMPLETE")
	if params(s)["Mode"] != "c" {
		t.Errorf("after the second update: %v", params(s))
	}
	// The rollback of an update can fail, and ContinueUpdateRollback ends it.
	p.FailStacks(proxy.StackFailure{Operation: "UPDATE", ParameterEquals: map[string]string{"Mode": "worse"}})
	p.FailStacks(proxy.StackFailure{Operation: "UPDATE_ROLLBACK"})
	if _, err := c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("Upd"), TemplateURL: aws.String(url), Parameters: mk("worse")}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "Upd", "UPDATE_ROLLBACK_FAILED")
	if _, err := c.ContinueUpdateRollback(ctx, &cloudformation.ContinueUpdateRollbackInput{StackName: aws.String("Upd")}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "Upd", "UPDATE_ROLLBACK_COMPLETE")
}

func TestForcedStatusAndFailedDelete(t *testing.T) {
	ctx := context.Background()
	p, c, url := layer(t, proxy.Uniform(50*time.Millisecond))
	if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("F"), TemplateURL: aws.String(url),
		Parameters: []cfntypes.Parameter{{ParameterKey: aws.String("Secret"), ParameterValue: aws.String("s")}}}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "F", "CREATE_COMPLETE")
	if err := p.ForceStackStatus(proxy.DefaultAccount, "eu-west-3", "F", "ROLLBACK_FAILED", "someone else's rollback failed"); err != nil {
		t.Fatal(err)
	}
	if s := describe(t, c, "F"); s.StackStatus != "ROLLBACK_FAILED" || aws.ToString(s.StackStatusReason) != "someone else's rollback failed" {
		t.Errorf("forced: %s %q", s.StackStatus, aws.ToString(s.StackStatusReason))
	}
	p.FailStacks(proxy.StackFailure{Operation: "DELETE", LogicalID: "Bucket", ResourceType: "AWS::S3::Bucket", Reason: "The bucket you tried to delete is not empty"})
	if _, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("F")}); err != nil {
		t.Fatal(err)
	}
	s := waitStatus(t, c, "F", "DELETE_FAILED")
	if !strings.Contains(aws.ToString(s.StackStatusReason), "[Bucket]") {
		t.Errorf("reason %q", aws.ToString(s.StackStatusReason))
	}
}

// A write whose answer is lost is retried by the SDK with the same token: the layer takes it
// as the same operation, so the retry succeeds and there is one stack, one create.
func TestLostAnswerRetriedWithTheSameToken(t *testing.T) {
	ctx := context.Background()
	p, _, url := layer(t, proxy.Uniform(100*time.Millisecond))
	c := cloudformation.NewFromConfig(cfg(p.URL, 3, nil), func(o *cloudformation.Options) { o.Region = "eu-west-3" })
	p.Add(proxy.Rule{Service: "cloudformation", Action: "CreateStack", Fault: proxy.LoseResponse{}, Times: 1})
	out, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("Lost"), TemplateURL: aws.String(url), ClientRequestToken: aws.String("tok-lost"),
		Parameters: []cfntypes.Parameter{{ParameterKey: aws.String("Secret"), ParameterValue: aws.String("s")}}})
	if err != nil {
		t.Fatalf("the retry with the same token must succeed: %v", err)
	}
	if n := len(p.Calls(proxy.Filter{Action: "CreateStack"})); n != 2 {
		t.Fatalf("%d CreateStack calls, want 2 (the lost one and its retry)", n)
	}
	s := waitStatus(t, c, "Lost", "CREATE_COMPLETE")
	if aws.ToString(s.StackId) != aws.ToString(out.StackId) {
		t.Fatal("the retry made another stack")
	}
	creates := 0
	for _, e := range events(t, c, "Lost") {
		if e.ResourceStatus == "CREATE_IN_PROGRESS" {
			creates++
		}
	}
	if creates != 1 {
		t.Fatalf("%d create operations, want 1", creates)
	}
}

// Busy answers a write as CloudFormation does when another operation started meanwhile;
// AccessDenied with a Resource match refuses one role only.
func TestBusyAndTargetedAccessDenied(t *testing.T) {
	ctx := context.Background()
	p, c, url := layer(t, proxy.Uniform(10*time.Millisecond))
	p.Add(proxy.Rule{Service: "cloudformation", Action: "CreateStack", Fault: proxy.Busy{}, Times: 1})
	_, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("B"), TemplateURL: aws.String(url)})
	if code, msg := apiCode(err); code != "ValidationError" || !strings.Contains(msg, "is in UPDATE_IN_PROGRESS state and can not be updated.") {
		t.Fatalf("busy: %v", err)
	}
	p.Add(proxy.Rule{Service: "sts", Action: "AssumeRole", Resource: ":333333333333:", Fault: proxy.AccessDenied{Reason: "the role is not usable yet"}})
	stsc := sts.NewFromConfig(cfg(p.URL, 1, nil))
	if _, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::333333333333:role/R"), RoleSessionName: aws.String("s")}); err == nil {
		t.Fatal("AssumeRole into the refused account succeeded")
	} else if code, _ := apiCode(err); code != "AccessDenied" {
		t.Fatalf("refused: %v", err)
	}
	if _, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::444444444444:role/R"), RoleSessionName: aws.String("s")}); err != nil {
		t.Fatalf("another account: %v", err)
	}
}

// A stack write whose tags IAM refuses fails as on AWS when the template makes an IAM role:
// CloudFormation propagates the stack's tags to the role, IAM refuses the value, and the
// operation rolls back naming the role. moto checks none of it.
func TestTagsIAMRefusesRollBack(t *testing.T) {
	ctx := context.Background()
	_, c, url := layer(t, proxy.Uniform(100*time.Millisecond))
	const withRole = `Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: "sts:AssumeRole"}]}
`
	s3c := s3.NewFromConfig(cfg(motoURL, 1, nil), func(o *s3.Options) { o.UsePathStyle = true })
	bucket := strings.TrimSuffix(strings.TrimPrefix(url[strings.Index(url, "/layer-"):], "/"), "/t.yaml")
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("role.yaml"), Body: bytes.NewReader([]byte(withRole))}); err != nil {
		t.Fatal(err)
	}
	roleURL := strings.TrimSuffix(url, "t.yaml") + "role.yaml"
	create := func(name, tmpl, value string) {
		t.Helper()
		var ps []cfntypes.Parameter
		if tmpl == url {
			ps = []cfntypes.Parameter{{ParameterKey: aws.String("Secret"), ParameterValue: aws.String("s")}}
		}
		if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateURL: aws.String(tmpl), Parameters: ps,
			Tags: []cfntypes.Tag{{Key: aws.String("managed"), Value: aws.String("true")}, {Key: aws.String("template"), Value: aws.String(value)}}}); err != nil {
			t.Fatal(err)
		}
	}
	create("Refused", roleURL, "https://mirror.s3.amazonaws.com/t.yaml?versionId=1")
	create("Taken", roleURL, "https://mirror.s3.amazonaws.com/t.yaml versionId=1")
	create("NoRole", url, "…/t.yaml?versionId=1")
	waitStatus(t, c, "Refused", "ROLLBACK_COMPLETE")
	waitStatus(t, c, "Taken", "CREATE_COMPLETE")
	waitStatus(t, c, "NoRole", "CREATE_COMPLETE")
	var failed *cfntypes.StackEvent
	for _, e := range events(t, c, "Refused") {
		if e.ResourceStatus == cfntypes.ResourceStatusCreateFailed {
			failed = &e
		}
	}
	if failed == nil || aws.ToString(failed.LogicalResourceId) != "Role" || aws.ToString(failed.ResourceType) != "AWS::IAM::Role" ||
		!strings.Contains(aws.ToString(failed.ResourceStatusReason), "tags.2.member.value") {
		t.Errorf("failed event %+v", failed)
	}
}
