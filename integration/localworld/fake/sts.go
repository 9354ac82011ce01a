package fake

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// STS answers AssumeRole (stscreds.AssumeRoleAPIClient, what crossaccount.Assumer takes).
// By default every role may be assumed: the credentials last DurationSeconds, one hour when
// it is not set (the SDK's service/sts/api_op_AssumeRole.go: "By default, the value is set to
// 3600 seconds"). Refusals are injected (an AccessDenied while a new account's role is not
// there yet).
type STS struct {
	Log *Log
	Now func() time.Time // nil: time.Now

	AssumeRoleCalls Calls[*sts.AssumeRoleInput, *sts.AssumeRoleOutput]
}

func (f *STS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	return f.AssumeRoleCalls.invoke(ctx, f.Log, read("AssumeRole"), in, func(_ context.Context, in *sts.AssumeRoleInput) (*sts.AssumeRoleOutput, error) {
		now := time.Now()
		if f.Now != nil {
			now = f.Now()
		}
		d := time.Hour
		if in.DurationSeconds != nil {
			d = time.Duration(*in.DurationSeconds) * time.Second
		}
		// arn:aws:iam::ACCOUNT:role/NAME assumed is arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION.
		role := aws.ToString(in.RoleArn)
		user := strings.Replace(strings.Replace(role, ":iam::", ":sts::", 1), ":role/", ":assumed-role/", 1) + "/" + aws.ToString(in.RoleSessionName)
		return &sts.AssumeRoleOutput{
			Credentials: &ststypes.Credentials{AccessKeyId: aws.String("ASIAFAKEACCESSKEY"), SecretAccessKey: aws.String("fake-secret-access-key"),
				SessionToken: aws.String("fake-session-token"), Expiration: aws.Time(now.Add(d))},
			AssumedRoleUser: &ststypes.AssumedRoleUser{Arn: aws.String(user), AssumedRoleId: aws.String("AROAFAKEROLEID:" + aws.ToString(in.RoleSessionName))},
		}, nil
	})
}
