package main

import "github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"

// The shared fakes implement the operator's interfaces too, for a test that needs what moto
// does not do (the other product interfaces are asserted in the fake package's own tests).
var (
	_ OrganizationsAPI = (*fake.Organizations)(nil)
	_ guardrailAPI     = (*fake.Organizations)(nil)
	_ stackSetAPI      = (*fake.CloudFormation)(nil)
	_ EventBridgeAPI   = (*fake.EventBridge)(nil)
	_ summaries        = (*fake.Ledger)(nil)
)
