package target

import (
	"context"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// KeyDescriber reads an API key's Cloud One region (cloudone.Client).
type KeyDescriber interface {
	Describe(ctx context.Context, apiKey secret.Value) (cloudone.Key, error)
}

// CloudOne is Trend Cloud One's v1 all-in-one template (aws-ia/cfn-abi-trend-cloudone at
// 39352c3, templates/trend-cloudone-onboard/main.template.yaml): one stack per account, in the
// AWS region of the Cloud One region, that makes its own trail where the account has none
// usable (CreateNewTrail) and registers the account in Cloud One from its custom resources.
type CloudOne struct {
	Cfg  config.Config
	Keys KeyDescriber // the key's region, when ONBOARDER_CLOUDONE_REGION is not set
}

var _ Target = (*CloudOne)(nil)

func (*CloudOne) Name() string                      { return config.TargetCloudOne }
func (t *CloudOne) StackName() string               { return t.Cfg.StackName }
func (*CloudOne) Prerequisite(Input) *stack.Desired { return nil }
func (*CloudOne) PrerequisiteName() string          { return "" }
func (*CloudOne) HasView() bool                     { return false }

// Region is the AWS region of the configured Cloud One region, or of the key's.
func (t *CloudOne) Region(ctx context.Context, creds secret.Credentials) (string, error) {
	c1 := t.Cfg.CloudOneRegion
	if c1 == "" {
		k, err := t.Keys.Describe(ctx, creds.APIKey)
		if err != nil {
			return "", err
		}
		c1 = k.Region
	}
	region, err := cloudone.AWSRegion(c1)
	if err != nil {
		return "", fault.Permanentf("ONBOARDER_CLOUDONE_REGION: %w", err)
	}
	return region, nil
}

// Trail: the v1 forwarder's rules; the bucket the stack forwards today, or its own trail.
func (t *CloudOne) Trail(obs stack.Observed, adopting bool, in *trail.Input) {
	in.Rules = trail.CloudOne
	if obs.Params[stack.ParamCreateNew] == "True" {
		in.CurrentNew = obs.Managed() || adopting
	} else {
		in.CurrentBucket = obs.Params[stack.ParamBucket]
	}
}

// Desired is the v1 stack: the key and the token from the secret, the trail (an existing
// trail's bucket, or a new trail), and the template's assets (its QSS3 parameters) of the
// version in force.
func (t *CloudOne) Desired(_ context.Context, in Input) (stack.Desired, error) {
	createNew, bucket := "False", in.Trail.Bucket
	if in.Trail.CreateNewTrail {
		createNew, bucket = "True", ""
	}
	qsBucket, qsPrefix := in.Version.Bucket, in.Version.Prefix
	if qsBucket == "" { // a version with the configured assets
		qsBucket, qsPrefix = t.Cfg.QSS3BucketName, t.Cfg.QSS3KeyPrefix
	}
	return stack.Desired{
		Name:        t.Cfg.StackName,
		TemplateURL: in.Version.URL,
		Params: map[string]string{
			stack.ParamCreateNew:     createNew,
			stack.ParamBucket:        bucket,
			stack.ParamQSS3Bucket:    qsBucket,
			stack.ParamQSS3KeyPrefix: qsPrefix,
		},
		Secrets:       stack.CloudOneSecrets(in.Creds),
		SecretVersion: in.Creds.VersionID,
	}, nil
}

// View: Cloud One offers no API that says whether an account is connected and forwarding.
func (*CloudOne) View(context.Context, secret.Credentials, string) (*View, error) { return nil, nil }

// Forget: the v1 stack's custom resources remove the cloud account when the stack is deleted;
// nothing is kept apart from it that the onboarder could remove.
func (*CloudOne) Forget(context.Context, secret.Credentials, string) (bool, error) { return false, nil }

// Offboarding says what Trend's v1 template does on delete and leaves behind.
func (*CloudOne) Offboarding() Offboarding {
	return Offboarding{
		Vendor:    "Cloud One",
		StackMade: "the onboarding stack and what it made (its forwarder functions, and its own trail and bucket where CreateNewTrail is True)",
		DeleteWhy: "so that Trend's custom resources remove the Cloud One cloud account and the Workload Security connector",
		// Trend's CloudTrail stack (trendmicro/cloudone-community@8ae34fe,
		// Common/Cloud-Account/aws-tf-connectors-automation/cloudtrail.yaml) has, when it makes
		// the trail, a custom resource CleanupBucketOnDelete that deletes every object of the
		// trail bucket on Delete, so that the bucket can go.
		OwnTrailGoes: "the stack's own trail goes with it, and its bucket with the logs delivered so far (Trend's CloudTrail stack empties the bucket on delete: archive them first where they must be kept)",
		LeftInVendor: func(acct string) string {
			return "in Cloud One: the cloud account of AWS account " + acct + ", its Workload Security connector, its CloudTrail registration and its Vision One enrollment: remove them there by hand"
		},
		// Trend's v1 template removes the cloud account and the Workload Security connector on
		// delete, without checking Cloud One's answers, and leaves the CloudTrail registration
		// and the Vision One enrollment (aws-ia/cfn-abi-trend-cloudone@39352c3, the custom
		// resources of templates/trend-cloudone-onboard/: their Delete handlers).
		LeftAfterDelete: func(acct string) string {
			return "in Cloud One: the CloudTrail registration and the Vision One enrollment of AWS account " + acct +
				" (Trend's v1 template does not remove them on delete), and, if the stack was deleted with a revoked key, its cloud account and Workload Security connector: check there and remove them by hand"
		},
	}
}
