package fake_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
)

// A write leaves the stack in progress until Settle; each operation's events carry its token;
// a deleted stack is found by its id only; NoEcho parameters are masked; the writes are in
// the shared log.
func TestCloudFormationStack(t *testing.T) {
	log := &fake.Log{}
	f := &fake.CloudFormation{Log: log, Account: "012345678901", NoEcho: []string{"Key"}}
	if _, err := f.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("S")}); err == nil {
		t.Fatal("a stack that is not there was described")
	}
	out, err := f.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("S"), ClientRequestToken: aws.String("t1"),
		Parameters: []cfntypes.Parameter{{ParameterKey: aws.String("Key"), ParameterValue: aws.String("secret")}, {ParameterKey: aws.String("Mode"), ParameterValue: aws.String("new")}}})
	if err != nil || aws.ToString(out.StackId) != "arn:aws:cloudformation:us-east-1:012345678901:stack/S/2" {
		t.Fatalf("create: %v %v", out, err)
	}
	var ae *cfntypes.AlreadyExistsException
	if _, err := f.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("S")}); !errors.As(err, &ae) {
		t.Fatalf("second create: %v", err)
	}
	d, _ := f.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("S")})
	if s := d.Stacks[0]; s.StackStatus != cfntypes.StackStatusCreateInProgress || aws.ToString(s.Parameters[0].ParameterValue) != "****" || aws.ToString(s.Parameters[1].ParameterValue) != "new" {
		t.Fatalf("stack %+v", s)
	}
	f.Settle(cfntypes.StackStatusRollbackComplete, "Custom")
	ev, _ := f.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: aws.String("S")})
	var got []string
	for _, e := range ev.StackEvents {
		got = append(got, aws.ToString(e.LogicalResourceId)+" "+string(e.ResourceStatus)+" "+aws.ToString(e.ClientRequestToken))
	}
	if !slices.Equal(got, []string{"S ROLLBACK_COMPLETE t1", "Custom CREATE_FAILED t1", "S CREATE_IN_PROGRESS t1"}) {
		t.Fatalf("events, newest first: %v", got)
	}
	f.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("S"), ClientRequestToken: aws.String("t2")})
	f.Settle(cfntypes.StackStatusDeleteComplete, "")
	if _, err := f.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("S")}); err == nil {
		t.Fatal("a deleted stack found by its name")
	}
	if _, err := f.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: f.Stack.StackId}); err != nil {
		t.Fatalf("a deleted stack not found by its id: %v", err)
	}
	if out, _ := f.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("S"), ClientRequestToken: aws.String("t3")}); aws.ToString(out.StackId) == f.StackID("S", 2) {
		t.Fatal("a new stack has the id of the deleted one")
	}
	if f.LastToken() != "t3" || !slices.Equal(f.Tokens, []string{"t1", "t2", "t3"}) {
		t.Fatalf("tokens %v", f.Tokens)
	}
	if got := log.Writes(); !slices.Equal(got, []string{"CreateStack", "CreateStack", "DeleteStack", "CreateStack"}) {
		t.Fatalf("writes %v", got)
	}
	if _, err := f.ListStackInstances(ctx, &cloudformation.ListStackInstancesInput{StackSetName: aws.String("none")}); err == nil {
		t.Fatal("instances of a StackSet that is not there")
	}
}
