package main

import "github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"

// The shared fakes implement the command's interfaces (the other product interfaces are
// asserted in the fake package's own tests).
var (
	_ LambdaAPI            = (*fake.Lambda)(nil)
	_ SQSAPI               = (*fake.SQS)(nil)
	_ DynamoDBAPI          = (*fake.DynamoDB)(nil)
	_ OrganizationsFullAPI = (*fake.Organizations)(nil)
	_ OrganizationsAPI     = (*fake.Organizations)(nil)
	_ guardrailAPI         = (*fake.Organizations)(nil)
	_ stackSetAPI          = (*fake.CloudFormation)(nil)
	_ TrailAPI             = (*fake.CloudTrail)(nil)
	_ EventBridgeAPI       = (*fake.EventBridge)(nil)
	_ IdentityAPI          = (*fake.STS)(nil)
	_ summaries            = (*fake.Ledger)(nil)
)
