package fake

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// STS answers AssumeRole (stscreds.AssumeRoleAPIClient, what crossaccount.Assumer takes) and
// GetCallerIdentity (the account Account, as the role Role, when set).
// By default every role may be assumed: the credentials last DurationSeconds, one hour when
// it is not set (the SDK's service/sts/api_op_AssumeRole.go: "By default, the value is set to
// 3600 seconds"). Refusals are injected (an AccessDenied while a new account's role is not
// there yet).
type STS struct {
	Log *Log
	Now func() time.Time // nil: time.Now

	// Account and Role are whose credentials the client holds, for GetCallerIdentity.
	Account, Role string

	AssumeRoleCalls        Calls[*sts.AssumeRoleInput, *sts.AssumeRoleOutput]
	GetCallerIdentityCalls Calls[*sts.GetCallerIdentityInput, *sts.GetCallerIdentityOutput]
}

// GetCallerIdentity answers Account, and as the ARN Role's assumed-role session when Role
// is set (arn:aws:iam::A:role/P/N is seen as arn:aws:sts::A:assumed-role/N/SESSION).
func (f *STS) GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, _ ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return f.GetCallerIdentityCalls.invoke(ctx, f.Log, read("GetCallerIdentity"), in, func(context.Context, *sts.GetCallerIdentityInput) (*sts.GetCallerIdentityOutput, error) {
		arn := "arn:aws:iam::" + f.Account + ":root"
		if f.Role != "" {
			arn = "arn:aws:sts::" + f.Account + ":assumed-role/" + f.Role[strings.LastIndex(f.Role, "/")+1:] + "/fake-session"
		}
		return &sts.GetCallerIdentityOutput{Account: aws.String(f.Account), Arn: aws.String(arn), UserId: aws.String("AROAFAKEROLEID:fake-session")}, nil
	})
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
