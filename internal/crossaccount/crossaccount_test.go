package crossaccount

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	smithy "github.com/aws/smithy-go"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
)

type fakeSTS struct {
	fails    int // AccessDenied answers before success
	n        int
	sessions []string
}

func (f *fakeSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	f.n++
	f.sessions = append(f.sessions, aws.ToString(in.RoleSessionName)+" "+aws.ToString(in.RoleArn))
	if f.n <= f.fails {
		return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform sts:AssumeRole"}
	}
	return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{
		AccessKeyId: aws.String("AKIA"), SecretAccessKey: aws.String("s"), SessionToken: aws.String("t"),
		Expiration: aws.Time(time.Now().Add(time.Hour)),
	}}, nil
}

func newAssumer(f *fakeSTS) *Assumer {
	return &Assumer{STS: f, SessionName: "cloudone-onboarder", RoleARN: func(a string) string { return "arn:aws:iam::" + a + ":role/AWSControlTowerExecution" }}
}

// AccessDenied right after account creation is transient; the next try succeeds, and the
// credentials are cached per account.
func TestAccessDeniedThenSuccess(t *testing.T) {
	f := &fakeSTS{fails: 1}
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
	if f.n != 2 {
		t.Fatalf("AssumeRole called %d times, want 2 (cached after success)", f.n)
	}
	if f.sessions[1] != "cloudone-onboarder arn:aws:iam::012345678901:role/AWSControlTowerExecution" {
		t.Fatalf("session %q", f.sessions[1])
	}
	a.Config(context.Background(), "112345678901", "us-east-1")
	if f.n != 3 {
		t.Fatal("another account must assume its own role")
	}
}
