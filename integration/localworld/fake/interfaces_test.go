package fake_test

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/intake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/operator"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/org"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secretstore"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/starts"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/target"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/worker"
)

// Every product interface an API's methods appear in; the operator's, in package main, are
// asserted in cmd/onboarder's tests.
var (
	_ queue.SQSAPI  = (*fake.SQS)(nil)
	_ worker.SQSAPI = (*fake.SQS)(nil)

	_ reconcile.CloudFormationAPI                = (*fake.CloudFormation)(nil)
	_ stack.EventsAPI                            = (*fake.CloudFormation)(nil)
	_ stack.DescribeAPI                          = (*fake.CloudFormation)(nil)
	_ stack.SummaryAPI                           = (*fake.CloudFormation)(nil)
	_ cloudformation.ListStackInstancesAPIClient = (*fake.CloudFormation)(nil)
	_ trail.API                                  = (*fake.CloudTrail)(nil)
	_ trail.BucketsAPI                           = (*fake.S3)(nil)

	_ target.Templates    = fake.Templates{}
	_ target.VisionOneAPI = (*fake.VisionOne)(nil)

	_ ledger.DynamoAPI       = (*fake.DynamoDB)(nil)
	_ starts.DynamoAPI       = (*fake.DynamoDB)(nil)
	_ rollout.DynamoAPI      = (*fake.DynamoDB)(nil)
	_ dynamodb.ScanAPIClient = (*fake.DynamoDB)(nil)

	_ stscreds.AssumeRoleAPIClient = (*fake.STS)(nil)
	_ secretstore.SecretsAPI       = (*fake.SecretsManager)(nil)
	_ intake.Bus                   = (*fake.EventBridge)(nil)
	_ intake.Organizations         = (*fake.Organizations)(nil)
	_ org.API                      = (*fake.Organizations)(nil)

	_ intake.Ledger          = (*fake.Ledger)(nil)
	_ intake.LedgerSummaries = (*fake.Ledger)(nil)
	_ reconcile.Ledger       = (*fake.Ledger)(nil)
	_ interface {
		Digests(context.Context) (map[string]string, error) // what Reconciler.Digests looks for
	} = (*fake.Ledger)(nil)
	_ reconcile.Starts  = (*fake.Starts)(nil)
	_ reconcile.Members = (*fake.Members[reconcile.Member])(nil)

	_ operator.CloudFormationAPI = (*fake.CloudFormation)(nil)
	_ operator.TrailAPI          = (*fake.CloudTrail)(nil)
	_ operator.IdentityAPI       = (*fake.STS)(nil)
	_ operator.Members           = (*fake.Members[operator.Member])(nil)
)

var ctx = context.Background()
