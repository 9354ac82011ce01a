package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	smithy "github.com/aws/smithy-go"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
)

// Regions where a stack could wrongly land.
var allRegions = []string{"us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1",
	"ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ca-central-1"}

// want is the expected end state of a managed account.
type want struct {
	newTrail string // CreateNewTrail
	bucket   string // ExistingCloudtrailBucketName
}

// check reads the end state in moto through the SDK (not through the product's code) and
// returns what is not as expected, and the number of accounts checked.
func (d *demo) check() ([]string, int, error) {
	var problems []string
	bad := func(a localworld.Account, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s %s: %s", a.ID, a.Name, fmt.Sprintf(format, args...)))
	}
	managed := map[string]want{
		acPayments: {"True", ""}, // its trail was deleted: the stack makes its own now
		acIdentity: {"False", "identity-audit-" + d.org.Account(acIdentity).ID},
		acWeb:      {"True", ""}, // its trail's bucket is in another region: never offered
		acSandboxB: {"True", ""},
	}
	for _, a := range d.org.Accounts {
		regions, err := d.stackRegions(a.ID)
		if err != nil {
			return nil, 0, err
		}
		switch a.Name {
		case acSandboxA:
			if len(regions) > 0 {
				bad(a, "excluded, but has a %s stack in %v", stackName, regions)
			}
			continue
		default:
			if len(regions) != 1 || regions[0] != stackRegion {
				bad(a, "%s stacks in %v, want only %s", stackName, regions, stackRegion)
				continue
			}
		}
		s, err := d.stack(a.ID)
		if err != nil {
			return nil, 0, err
		}
		p, tg := localworld.StackParams(s), localworld.StackTags(s)
		if a.Name == acAnalytics {
			if tg["cloudone-onboarder:managed"] != "" || tg["owner"] != foreignTag || p["CreateNewTrail"] != "True" ||
				p["CloudOneApiKey"] != "another-teams-key" {
				bad(a, "the other team's stack was changed (tags %v)", tg)
			}
			continue
		}
		w := managed[a.Name]
		if v, ok := d.h.Faults.Stack(a.ID, stackRegion, stackName); ok && v.ID == aws.ToString(s.StackId) {
			s.StackStatus = cfntypes.StackStatus(v.Status) // the CloudFormation layer's status (moto settles at once)
		}
		switch {
		case a.Name == acSandboxB:
			// Its update failed and rolled back: the old key and token are back, and a person
			// must look; the key rotation did not reach it.
			if s.StackStatus != cfntypes.StackStatusUpdateRollbackComplete {
				bad(a, "stack status %s, want UPDATE_ROLLBACK_COMPLETE", s.StackStatus)
			}
			if p["CloudOneApiKey"] != c1Key.APIKey() && p["CloudOneApiKey"] != "****" {
				bad(a, "the rolled-back stack does not carry the old key")
			}
		case !strings.HasSuffix(string(s.StackStatus), "_COMPLETE") || strings.Contains(string(s.StackStatus), "ROLLBACK"):
			bad(a, "stack status %s", s.StackStatus)
		case (p["CloudOneApiKey"] != c1Key2.APIKey() && p["CloudOneApiKey"] != "****") ||
			(p["VisionOneServiceToken"] != v1Tok && p["VisionOneServiceToken"] != "****"):
			// moto reads NoEcho parameters back in clear: compare, never print.
			bad(a, "the stack does not carry the rotated key and the token of the secret")
		}
		if tg["cloudone-onboarder:managed"] != "true" {
			bad(a, "stack not tagged cloudone-onboarder:managed=true")
		}
		if p["CreateNewTrail"] != w.newTrail || p["ExistingCloudtrailBucketName"] != w.bucket {
			bad(a, "CreateNewTrail=%q ExistingCloudtrailBucketName=%q, want %q %q",
				p["CreateNewTrail"], p["ExistingCloudtrailBucketName"], w.newTrail, w.bucket)
		}
	}
	// The stopped trail logs again.
	idn := d.org.Account(acIdentity)
	ct, err := d.trailClient(idn.ID, stackRegion)
	if err != nil {
		return nil, 0, err
	}
	st, err := ct.GetTrailStatus(d.ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(trailAudit)})
	if err != nil {
		return nil, 0, fmt.Errorf("trail status of %s in %s: %w", trailAudit, idn.ID, err)
	}
	if !aws.ToBool(st.IsLogging) {
		bad(idn, "trail %s does not log", trailAudit)
	}
	// The replay changed nothing, and only sandbox-b's failed update waits in the DLQ, once.
	for _, c := range d.replayWrites {
		problems = append(problems, fmt.Sprintf("the replay wrote: %s %s/%s %s", c.Service, c.Account, c.Region, c.Action))
	}
	n, err := d.dlqDepth()
	if err != nil {
		return nil, 0, err
	}
	if n != "1" {
		problems = append(problems, fmt.Sprintf("%s messages in the dead-letter queue, want 1 (sandbox-b's failed update)", n))
	}
	return problems, len(d.org.Accounts), nil
}

// dlqDepth is the number of messages in the reconcile queue's dead-letter queue.
func (d *demo) dlqDepth() (string, error) {
	q, err := sqs.NewFromConfig(d.h.Moto.Config(d.ctx, homeRegion)).GetQueueAttributes(d.ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(d.env.DLQURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return "", fmt.Errorf("DLQ depth: %w", err)
	}
	return q.Attributes["ApproximateNumberOfMessages"], nil
}

func (d *demo) stack(account string) (*cfntypes.Stack, error) {
	return d.stackIn(account, stackRegion)
}

// stackIn reads the CloudOne stack; nil when there is none.
func (d *demo) stackIn(account, region string) (*cfntypes.Stack, error) {
	return d.stackNamed(account, region, stackName)
}

// stackNamed reads a stack by name; nil when there is none.
func (d *demo) stackNamed(account, region, name string) (*cfntypes.Stack, error) {
	cfg, err := d.h.Moto.AccountConfig(d.ctx, account, region, localworld.ExecutionRole)
	if err != nil {
		return nil, err
	}
	out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(d.ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && (ae.ErrorCode() == "ValidationError" || strings.Contains(ae.ErrorMessage(), "does not exist")) {
			return nil, nil
		}
		return nil, fmt.Errorf("describe stack %s in %s/%s: %w", name, account, region, err)
	}
	for _, s := range out.Stacks {
		if s.StackStatus != cfntypes.StackStatusDeleteComplete {
			return &s, nil
		}
	}
	return nil, nil
}

func (d *demo) stackRegions(account string) ([]string, error) {
	var out []string
	for _, r := range allRegions {
		s, err := d.stackIn(account, r)
		if err != nil {
			return nil, err
		}
		if s != nil {
			out = append(out, r)
		}
	}
	return out, nil
}
