package main

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
)

// Every AWS call the command makes goes through these interfaces, with the SDK's own
// signatures, and every one is made with the operator's credentials in the install account
// (deploy/template.yaml's OperatorPolicy grants exactly these; deploy/operator_test.go keeps
// the two equal). Nothing here reads the secret or assumes a role.

// LambdaAPI invokes the reconcile function (its operator requests).
type LambdaAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// SQSAPI is the reconcile queue (reconcile, rollout: SendMessageBatch; dlq redrive:
// SendMessage) and its dead-letter queue (dlq: ReceiveMessage, ChangeMessageVisibility,
// DeleteMessage).
type SQSAPI interface {
	queue.SQSAPI
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// DynamoDBAPI is the ledger table: its entries read (ledger.Table: Scan) and the rollout item
// read and written (rollout.Store: GetItem, PutItem, UpdateItem).
type DynamoDBAPI interface {
	ledger.DynamoAPI
	rollout.DynamoAPI
}

// OrganizationsFullAPI is every Organizations read of the command.
type OrganizationsFullAPI interface {
	OrganizationsAPI
	guardrailAPI
}

// TrailAPI reads the trails of the install account (validate's trail check).
type TrailAPI interface {
	DescribeTrails(ctx context.Context, in *cloudtrail.DescribeTrailsInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.DescribeTrailsOutput, error)
	GetTrailStatus(ctx context.Context, in *cloudtrail.GetTrailStatusInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.GetTrailStatusOutput, error)
	GetEventSelectors(ctx context.Context, in *cloudtrail.GetEventSelectorsInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.GetEventSelectorsOutput, error)
}

// IdentityAPI says who the operator is (free of any permission).
type IdentityAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// clients are the command's AWS clients, all in the install account and region but CloudTrail,
// which is asked in the region a trail lives in.
type clients struct {
	Lambda        LambdaAPI
	SQS           SQSAPI
	DynamoDB      DynamoDBAPI
	Organizations OrganizationsFullAPI
	StackSets     stackSetAPI
	CloudTrail    func(region string) TrailAPI
	EventBridge   EventBridgeAPI
	STS           IdentityAPI
}

// awsClients builds the clients of an SDK configuration.
func awsClients(cfg aws.Config) *clients {
	return &clients{
		Lambda:        lambda.NewFromConfig(cfg),
		SQS:           sqs.NewFromConfig(cfg),
		DynamoDB:      dynamodb.NewFromConfig(cfg),
		Organizations: organizations.NewFromConfig(cfg),
		StackSets:     cloudformation.NewFromConfig(cfg),
		CloudTrail: func(region string) TrailAPI {
			return cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) { o.Region = region })
		},
		EventBridge: eventbridge.NewFromConfig(cfg),
		STS:         sts.NewFromConfig(cfg),
	}
}
