package fake_test

import (
	"context"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/worker"
)

// Every product interface an API's methods appear in; the operator's, in package main, are
// asserted in cmd/onboarder's tests.
var (
	_ queue.SQSAPI  = (*fake.SQS)(nil)
	_ worker.SQSAPI = (*fake.SQS)(nil)
)

var ctx = context.Background()
