package reconcile

// Fakes for what no emulator produces: rollback and in-progress states, throttling, Cloud One
// outages. They record every call so that tests can assert that nothing was written.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithy "github.com/aws/smithy-go"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

func apiErr(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }

// calls records operations in order.
type calls struct {
	mu  sync.Mutex
	ops []string
}

func (c *calls) add(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops = append(c.ops, op)
}

func (c *calls) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ops...)
}

var writeOps = map[string]bool{"CreateStack": true, "UpdateStack": true, "DeleteStack": true, "ContinueUpdateRollback": true, "StartLogging": true}

func (c *calls) writes() []string {
	var out []string
	for _, op := range c.list() {
		if writeOps[strings.SplitN(op, " ", 2)[0]] {
			out = append(out, op)
		}
	}
	return out
}

// fakeCFN holds one stack, as CloudFormation shows it to one look after another: a write
// leaves the stack in progress (the test settles it with settle), and every operation
// writes stack events with its ClientRequestToken.
type fakeCFN struct {
	*calls
	stack     *cfntypes.Stack
	events    []cfntypes.StackEvent // oldest first
	createErr error
	updateErr error
	deleteErr error
	// describeErr, when set, is DescribeStacks' answer (a failure the reconcile cannot see past).
	describeErr error
	lastCreate  *cloudformation.CreateStackInput
	lastUpdate  *cloudformation.UpdateStackInput
	lastDelete  *cloudformation.DeleteStackInput
	lastCUR     *cloudformation.ContinueUpdateRollbackInput
	tokens      []string
}

var _ CloudFormationAPI = (*fakeCFN)(nil)

func (f *fakeCFN) DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	f.add("DescribeStacks")
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	if f.stack == nil || f.stack.StackStatus == cfntypes.StackStatusDeleteComplete && !strings.HasPrefix(aws.ToString(in.StackName), "arn:") {
		return nil, apiErr("ValidationError", "Stack with id "+aws.ToString(in.StackName)+" does not exist")
	}
	s := *f.stack
	return &cloudformation.DescribeStacksOutput{Stacks: []cfntypes.Stack{s}}, nil
}

func (f *fakeCFN) DescribeStackEvents(ctx context.Context, in *cloudformation.DescribeStackEventsInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStackEventsOutput, error) {
	f.add("DescribeStackEvents")
	out := &cloudformation.DescribeStackEventsOutput{}
	for i := len(f.events) - 1; i >= 0; i-- {
		out.StackEvents = append(out.StackEvents, f.events[i])
	}
	return out, nil
}

// event records a stack-level event of the operation with token tok.
func (f *fakeCFN) event(status, reason, tok string) {
	f.events = append(f.events, cfntypes.StackEvent{StackId: f.stack.StackId, StackName: f.stack.StackName, LogicalResourceId: f.stack.StackName,
		PhysicalResourceId: f.stack.StackId, ResourceType: aws.String("AWS::CloudFormation::Stack"), ResourceStatus: cfntypes.ResourceStatus(status),
		ResourceStatusReason: aws.String(reason), ClientRequestToken: aws.String(tok), Timestamp: aws.Time(time.Now())})
}

// lastToken is the token of the latest operation.
func (f *fakeCFN) lastToken() string {
	if len(f.tokens) == 0 {
		return ""
	}
	return f.tokens[len(f.tokens)-1]
}

// settle ends the operation under way with status; a failure names a resource, as
// CloudFormation's events do.
func (f *fakeCFN) settle(status cfntypes.StackStatus, failedResource string) {
	tok := f.lastToken()
	if failedResource != "" {
		f.events = append(f.events, cfntypes.StackEvent{StackId: f.stack.StackId, StackName: f.stack.StackName, LogicalResourceId: aws.String(failedResource),
			ResourceType: aws.String("AWS::CloudFormation::CustomResource"), ResourceStatus: cfntypes.ResourceStatusCreateFailed,
			ResourceStatusReason: aws.String("Received response status [FAILED] from custom resource"), ClientRequestToken: aws.String(tok)})
	}
	f.stack.StackStatus = status
	f.event(string(status), "", tok)
}

func (f *fakeCFN) CreateStack(ctx context.Context, in *cloudformation.CreateStackInput, _ ...func(*cloudformation.Options)) (*cloudformation.CreateStackOutput, error) {
	f.add("CreateStack")
	f.lastCreate = in
	if f.createErr != nil {
		return nil, f.createErr
	}
	if f.stack != nil && f.stack.StackStatus != cfntypes.StackStatusDeleteComplete {
		return nil, apiErr("AlreadyExistsException", "Stack ["+aws.ToString(in.StackName)+"] already exists")
	}
	f.tokens = append(f.tokens, aws.ToString(in.ClientRequestToken))
	f.events = nil
	f.stack = &cfntypes.Stack{
		StackName: in.StackName, StackId: aws.String("arn:aws:cloudformation:us-east-1:" + acct + ":stack/" + aws.ToString(in.StackName) + "/2"),
		StackStatus: cfntypes.StackStatusCreateInProgress, Parameters: masked(in.Parameters), Tags: in.Tags, Capabilities: in.Capabilities,
		CreationTime: aws.Time(time.Now()),
	}
	f.event("CREATE_IN_PROGRESS", "User Initiated", f.lastToken())
	return &cloudformation.CreateStackOutput{StackId: f.stack.StackId}, nil
}

func (f *fakeCFN) UpdateStack(ctx context.Context, in *cloudformation.UpdateStackInput, _ ...func(*cloudformation.Options)) (*cloudformation.UpdateStackOutput, error) {
	f.add("UpdateStack")
	f.lastUpdate = in
	if f.updateErr != nil {
		return nil, f.updateErr
	}
	f.tokens = append(f.tokens, aws.ToString(in.ClientRequestToken))
	f.stack.Parameters, f.stack.Tags, f.stack.StackStatus = masked(in.Parameters), in.Tags, cfntypes.StackStatusUpdateInProgress
	f.stack.LastUpdatedTime = aws.Time(time.Now())
	f.event("UPDATE_IN_PROGRESS", "User Initiated", f.lastToken())
	return &cloudformation.UpdateStackOutput{StackId: f.stack.StackId}, nil
}

func (f *fakeCFN) DeleteStack(ctx context.Context, in *cloudformation.DeleteStackInput, _ ...func(*cloudformation.Options)) (*cloudformation.DeleteStackOutput, error) {
	f.add("DeleteStack")
	f.lastDelete = in
	if f.deleteErr != nil {
		return nil, f.deleteErr
	}
	f.tokens = append(f.tokens, aws.ToString(in.ClientRequestToken))
	f.stack.StackStatus = cfntypes.StackStatusDeleteInProgress
	f.stack.DeletionTime = aws.Time(time.Now())
	f.event("DELETE_IN_PROGRESS", "User Initiated", f.lastToken())
	return &cloudformation.DeleteStackOutput{}, nil
}

func (f *fakeCFN) ContinueUpdateRollback(ctx context.Context, in *cloudformation.ContinueUpdateRollbackInput, _ ...func(*cloudformation.Options)) (*cloudformation.ContinueUpdateRollbackOutput, error) {
	f.add("ContinueUpdateRollback")
	f.lastCUR = in
	f.tokens = append(f.tokens, aws.ToString(in.ClientRequestToken))
	f.stack.StackStatus = cfntypes.StackStatusUpdateRollbackInProgress
	f.event("UPDATE_ROLLBACK_IN_PROGRESS", "User Initiated", f.lastToken())
	return &cloudformation.ContinueUpdateRollbackOutput{}, nil
}

// masked shows NoEcho parameters as DescribeStacks does.
func masked(ps []cfntypes.Parameter) []cfntypes.Parameter {
	out := make([]cfntypes.Parameter, len(ps))
	for i, p := range ps {
		out[i] = p
		if k := aws.ToString(p.ParameterKey); k == "CloudOneApiKey" || k == "VisionOneServiceToken" {
			out[i].ParameterValue = aws.String("****")
		}
	}
	return out
}

// fakeTrail is a member account's CloudTrail, all regions in one.
type fakeTrail struct {
	*calls
	trails    []cttypes.Trail
	logging   map[string]bool // by ARN
	selectors map[string]*cloudtrail.GetEventSelectorsOutput
	tags      map[string][]cttypes.Tag // by ARN
	err       error
}

func (f *fakeTrail) ListTags(ctx context.Context, in *cloudtrail.ListTagsInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.ListTagsOutput, error) {
	f.add("ListTags")
	out := &cloudtrail.ListTagsOutput{}
	for _, arn := range in.ResourceIdList {
		out.ResourceTagList = append(out.ResourceTagList, cttypes.ResourceTag{ResourceId: aws.String(arn), TagsList: f.tags[arn]})
	}
	return out, nil
}

var _ trail.API = (*fakeTrail)(nil)

func (f *fakeTrail) DescribeTrails(ctx context.Context, in *cloudtrail.DescribeTrailsInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.DescribeTrailsOutput, error) {
	f.add("DescribeTrails")
	if f.err != nil {
		return nil, f.err
	}
	return &cloudtrail.DescribeTrailsOutput{TrailList: f.trails}, nil
}

func (f *fakeTrail) GetTrailStatus(ctx context.Context, in *cloudtrail.GetTrailStatusInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.GetTrailStatusOutput, error) {
	f.add("GetTrailStatus")
	return &cloudtrail.GetTrailStatusOutput{IsLogging: aws.Bool(f.logging[aws.ToString(in.Name)])}, nil
}

func (f *fakeTrail) GetEventSelectors(ctx context.Context, in *cloudtrail.GetEventSelectorsInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.GetEventSelectorsOutput, error) {
	f.add("GetEventSelectors")
	if s, ok := f.selectors[aws.ToString(in.TrailName)]; ok {
		return s, nil
	}
	return &cloudtrail.GetEventSelectorsOutput{}, nil
}

func (f *fakeTrail) StartLogging(ctx context.Context, in *cloudtrail.StartLoggingInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.StartLoggingOutput, error) {
	f.add("StartLogging " + aws.ToString(in.Name))
	for _, t := range f.trails {
		if aws.ToString(t.Name) == aws.ToString(in.Name) {
			f.logging[aws.ToString(t.TrailARN)] = true
		}
	}
	return &cloudtrail.StartLoggingOutput{}, nil
}

// fakeS3 lists the account's own buckets; their regions default to us-east-1.
type fakeS3 struct {
	*calls
	own     []string
	regions map[string]string
}

func (f *fakeS3) ListBuckets(ctx context.Context, in *s3.ListBucketsInput, _ ...func(*s3.Options)) (*s3.ListBucketsOutput, error) {
	f.add("ListBuckets")
	out := &s3.ListBucketsOutput{}
	for _, b := range f.own {
		r := f.regions[b]
		if r == "" {
			r = "us-east-1"
		}
		if strings.HasPrefix(b, aws.ToString(in.Prefix)) && (in.BucketRegion == nil || aws.ToString(in.BucketRegion) == r) {
			out.Buckets = append(out.Buckets, s3types.Bucket{Name: aws.String(b), BucketRegion: aws.String(r)})
		}
	}
	return out, nil
}

type fakeMembers struct {
	m   Member
	err error
	n   int
}

// fakeStarts hands out the slots in order, then now.
type fakeStarts struct {
	slots []time.Time
	n     int
}

func (f *fakeStarts) Take(context.Context) (time.Time, error) {
	f.n++
	if len(f.slots) > 0 {
		s := f.slots[0]
		f.slots = f.slots[1:]
		return s, nil
	}
	return time.Now(), nil
}

func (f *fakeMembers) Member(ctx context.Context, account, region string) (Member, error) {
	f.n++
	return f.m, f.err
}

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

// fakeLedger keeps every entry written, in order; Get answers with the last one written
// for the account.
type fakeLedger struct {
	entries []ledger.Entry
	gets    int
	getErr  error
}

func (f *fakeLedger) Put(_ context.Context, e ledger.Entry) error {
	f.entries = append(f.entries, e)
	return nil
}

func (f *fakeLedger) Get(_ context.Context, account string) (ledger.Entry, bool, error) {
	f.gets++
	if f.getErr != nil {
		return ledger.Entry{}, false, f.getErr
	}
	for i := len(f.entries) - 1; i >= 0; i-- {
		if f.entries[i].Account == account {
			return f.entries[i], true, nil
		}
	}
	return ledger.Entry{}, false, nil
}

// trailOf builds a DescribeTrails entry.
func trailOf(account, region, name, bucket string, multi bool) cttypes.Trail {
	return cttypes.Trail{
		Name: aws.String(name), TrailARN: aws.String(fmt.Sprintf("arn:aws:cloudtrail:%s:%s:trail/%s", region, account, name)),
		HomeRegion: aws.String(region), S3BucketName: aws.String(bucket), IsMultiRegionTrail: aws.Bool(multi),
	}
}
