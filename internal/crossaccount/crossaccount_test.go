package crossaccount

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	smithy "github.com/aws/smithy-go"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
)

func newAssumer(f *fake.STS) *Assumer {
	return &Assumer{STS: f, SessionName: "cloudone-onboarder", RoleARN: func(a string) string { return "arn:aws:iam::" + a + ":role/AWSControlTowerExecution" }}
}

// AccessDenied right after account creation is transient; the next try succeeds, and the
// credentials are cached per account. The refusal is a fake's: moto lets the role be assumed
// at once.
func TestAccessDeniedThenSuccess(t *testing.T) {
	f := &fake.STS{}
	f.AssumeRoleCalls.Fail(&smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform sts:AssumeRole"})
	a := newAssumer(f)
	_, err := a.Config(context.Background(), "012345678901", "us-east-1")
	var denied *DeniedError
	if !errors.As(err, &denied) || denied.Role != "arn:aws:iam::012345678901:role/AWSControlTowerExecution" {
		t.Fatalf("not a DeniedError: %v", err)
	}
	// By itself AccessDenied is permanent; the reconcile retries it for a new account.
	if fault.ClassOf(err) != fault.Permanent {
		t.Fatalf("class %s: %v", fault.ClassOf(err), err)
	}
	cfg, err := a.Config(context.Background(), "012345678901", "us-east-1")
	if err != nil || cfg.Region != "us-east-1" {
		t.Fatalf("%v", err)
	}
	a.Config(context.Background(), "012345678901", "eu-west-2")
	if n := f.AssumeRoleCalls.Count(); n != 2 {
		t.Fatalf("AssumeRole called %d times, want 2 (cached after success)", n)
	}
	if in := f.AssumeRoleCalls.Inputs()[1]; aws.ToString(in.RoleSessionName)+" "+aws.ToString(in.RoleArn) != "cloudone-onboarder arn:aws:iam::012345678901:role/AWSControlTowerExecution" {
		t.Fatalf("session %q %q", aws.ToString(in.RoleSessionName), aws.ToString(in.RoleArn))
	}
	a.Config(context.Background(), "112345678901", "us-east-1")
	if f.AssumeRoleCalls.Count() != 3 {
		t.Fatal("another account must assume its own role")
	}
}
