package reconcile

// The reconcile's own seams (the secret, the Cloud One key lookup) in tests. The AWS APIs are
// the shared fakes of integration/localworld/fake, which record every call so that tests can
// assert what was written, and play what no emulator produces (rollback and in-progress
// states, throttling).

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	smithy "github.com/aws/smithy-go"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
)

func apiErr(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }

type fakeSecrets struct {
	creds secret.Credentials
	err   error
}

func (f *fakeSecrets) Get(context.Context) (secret.Credentials, error) { return f.creds, f.err }

type fakeCloudOne struct {
	key cloudone.Key
	err error
}

func (f *fakeCloudOne) Describe(context.Context, secret.Value) (cloudone.Key, error) {
	return f.key, f.err
}

// trailOf builds a DescribeTrails entry.
func trailOf(account, region, name, bucket string, multi bool) cttypes.Trail {
	return cttypes.Trail{
		Name: aws.String(name), TrailARN: aws.String(fmt.Sprintf("arn:aws:cloudtrail:%s:%s:trail/%s", region, account, name)),
		HomeRegion: aws.String(region), S3BucketName: aws.String(bucket), IsMultiRegionTrail: aws.Bool(multi),
	}
}
