package fake

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	smithy "github.com/aws/smithy-go"
)

// CloudFormation is one account's CloudFormation in one region, holding one stack as
// CloudFormation shows it to one look after another. It is the fake for what moto does not
// do: a write leaves the stack in progress until the test ends the operation with Settle (a
// create that rolls back, an update whose rollback fails, a delete that fails on a
// resource), and every operation writes stack events carrying its ClientRequestToken, which
// is how the product tells its own operations from a person's.
//
// It implements reconcile.CloudFormationAPI (DescribeStacks, DescribeStackEvents,
// CreateStack, UpdateStack, DeleteStack, ContinueUpdateRollback, GetTemplateSummary),
// stack.EventsAPI, stack.DescribeAPI, stack.SummaryAPI and the operator's ListStackInstances.
type CloudFormation struct {
	Log *Log
	// Account and Region make the stack ids; 000000000000 and us-east-1 when empty.
	Account, Region string
	// NoEcho names the template's NoEcho parameters: DescribeStacks shows their values as
	// "****", as moto does (moto/cloudformation/models.py, parameter_list) and AWS masks them
	// with asterisks (AWS CloudFormation User Guide, "Parameters", NoEcho).
	NoEcho []string

	// Stack is the stack; nil when there is none. DELETE_COMPLETE is found by its id only.
	Stack *cfntypes.Stack
	// Events are the stack's events, oldest first (DescribeStackEvents answers newest first).
	Events []cfntypes.StackEvent
	// Tokens are the ClientRequestTokens of the operations, in order.
	Tokens []string
	// StackInstances are the instances of each StackSet, by StackSet name.
	StackInstances map[string][]cfntypes.StackInstanceSummary
	// Templates are the parameters each template URL declares (GetTemplateSummary), and
	// TemplateParameters those of any other URL; a URL neither names answers CloudFormation's
	// ValidationError for a template it cannot read.
	Templates          map[string][]cfntypes.ParameterDeclaration
	TemplateParameters []cfntypes.ParameterDeclaration

	DescribeStacksCalls         Calls[*cloudformation.DescribeStacksInput, *cloudformation.DescribeStacksOutput]
	DescribeStackEventsCalls    Calls[*cloudformation.DescribeStackEventsInput, *cloudformation.DescribeStackEventsOutput]
	CreateStackCalls            Calls[*cloudformation.CreateStackInput, *cloudformation.CreateStackOutput]
	UpdateStackCalls            Calls[*cloudformation.UpdateStackInput, *cloudformation.UpdateStackOutput]
	DeleteStackCalls            Calls[*cloudformation.DeleteStackInput, *cloudformation.DeleteStackOutput]
	ContinueUpdateRollbackCalls Calls[*cloudformation.ContinueUpdateRollbackInput, *cloudformation.ContinueUpdateRollbackOutput]
	ListStackInstancesCalls     Calls[*cloudformation.ListStackInstancesInput, *cloudformation.ListStackInstancesOutput]
	GetTemplateSummaryCalls     Calls[*cloudformation.GetTemplateSummaryInput, *cloudformation.GetTemplateSummaryOutput]

	mu      sync.Mutex
	creates int
}

// validation is CloudFormation's error for a request it refuses, which the SDK does not model:
// a generic API error with the code ValidationError.
func validation(msg string) error {
	return &smithy.GenericAPIError{Code: "ValidationError", Message: msg, Fault: smithy.FaultClient}
}

// notExist is DescribeStacks' answer for a stack that is not there (moto/cloudformation/exceptions.py).
func notExist(name string) error { return validation("Stack with id " + name + " does not exist") }

// StackID returns the id CloudFormation gives the n-th stack of that name in the account.
func (f *CloudFormation) StackID(name string, n int) string {
	account, region := f.Account, f.Region
	if account == "" {
		account = "000000000000"
	}
	if region == "" {
		region = "us-east-1"
	}
	return fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/%d", region, account, name, n)
}

// Mask returns the parameters as DescribeStacks shows them: the NoEcho ones as "****".
func (f *CloudFormation) Mask(ps []cfntypes.Parameter) []cfntypes.Parameter {
	out := make([]cfntypes.Parameter, len(ps))
	for i, p := range ps {
		out[i] = p
		if slices.Contains(f.NoEcho, aws.ToString(p.ParameterKey)) {
			out[i].ParameterValue = aws.String("****")
		}
	}
	return out
}

// LastToken returns the token of the latest operation, "" when there was none.
func (f *CloudFormation) LastToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastToken()
}

func (f *CloudFormation) lastToken() string {
	if len(f.Tokens) == 0 {
		return ""
	}
	return f.Tokens[len(f.Tokens)-1]
}

// Settle ends the operation under way with status. With failedResource, a resource of that
// logical id failed first (a custom resource that answered FAILED), as CloudFormation's
// events show it before the stack's own.
func (f *CloudFormation) Settle(status cfntypes.StackStatus, failedResource string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok := f.lastToken()
	if failedResource != "" {
		f.Events = append(f.Events, cfntypes.StackEvent{StackId: f.Stack.StackId, StackName: f.Stack.StackName, LogicalResourceId: aws.String(failedResource),
			ResourceType: aws.String("AWS::CloudFormation::CustomResource"), ResourceStatus: cfntypes.ResourceStatusCreateFailed,
			ResourceStatusReason: aws.String("Received response status [FAILED] from custom resource"), ClientRequestToken: aws.String(tok)})
	}
	f.Stack.StackStatus = status
	f.event(string(status), "", tok)
}

// Event records a stack-level event of an operation with token tok that the test plays (a
// person's create, say, with the console's token).
func (f *CloudFormation) Event(status, reason, tok string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.event(status, reason, tok)
}

// event records a stack-level event of the operation with token tok. f.mu is held.
func (f *CloudFormation) event(status, reason, tok string) {
	f.Events = append(f.Events, cfntypes.StackEvent{StackId: f.Stack.StackId, StackName: f.Stack.StackName, LogicalResourceId: f.Stack.StackName,
		PhysicalResourceId: f.Stack.StackId, ResourceType: aws.String("AWS::CloudFormation::Stack"), ResourceStatus: cfntypes.ResourceStatus(status),
		ResourceStatusReason: aws.String(reason), ClientRequestToken: aws.String(tok), Timestamp: aws.Time(time.Now())})
}

// start begins an operation on the stack: its token, its status and its first event. f.mu is held.
func (f *CloudFormation) start(token string, status cfntypes.StackStatus) {
	f.Tokens = append(f.Tokens, token)
	f.Stack.StackStatus = status
	f.event(string(status), "User Initiated", token)
}

func (f *CloudFormation) DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	return f.DescribeStacksCalls.invoke(ctx, f.Log, read("DescribeStacks"), in, func(_ context.Context, in *cloudformation.DescribeStacksInput) (*cloudformation.DescribeStacksOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		name := aws.ToString(in.StackName)
		if f.Stack == nil || f.Stack.StackStatus == cfntypes.StackStatusDeleteComplete && !strings.HasPrefix(name, "arn:") {
			return nil, notExist(name)
		}
		return &cloudformation.DescribeStacksOutput{Stacks: []cfntypes.Stack{*f.Stack}}, nil
	})
}

func (f *CloudFormation) DescribeStackEvents(ctx context.Context, in *cloudformation.DescribeStackEventsInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStackEventsOutput, error) {
	return f.DescribeStackEventsCalls.invoke(ctx, f.Log, read("DescribeStackEvents"), in, func(context.Context, *cloudformation.DescribeStackEventsInput) (*cloudformation.DescribeStackEventsOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		out := &cloudformation.DescribeStackEventsOutput{}
		for i := len(f.Events) - 1; i >= 0; i-- {
			out.StackEvents = append(out.StackEvents, f.Events[i])
		}
		return out, nil
	})
}

func (f *CloudFormation) CreateStack(ctx context.Context, in *cloudformation.CreateStackInput, _ ...func(*cloudformation.Options)) (*cloudformation.CreateStackOutput, error) {
	return f.CreateStackCalls.invoke(ctx, f.Log, write("CreateStack"), in, func(_ context.Context, in *cloudformation.CreateStackInput) (*cloudformation.CreateStackOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		name := aws.ToString(in.StackName)
		if f.Stack != nil && f.Stack.StackStatus != cfntypes.StackStatusDeleteComplete {
			return nil, &cfntypes.AlreadyExistsException{Message: aws.String("Stack [" + name + "] already exists")}
		}
		// A new stack gets a new id: seeded stacks are taken to be the first of their name.
		f.creates++
		f.Events = nil
		f.Stack = &cfntypes.Stack{
			StackName: in.StackName, StackId: aws.String(f.StackID(name, f.creates+1)), Parameters: f.Mask(in.Parameters),
			Tags: in.Tags, Capabilities: in.Capabilities, CreationTime: aws.Time(time.Now()),
		}
		f.start(aws.ToString(in.ClientRequestToken), cfntypes.StackStatusCreateInProgress)
		return &cloudformation.CreateStackOutput{StackId: f.Stack.StackId}, nil
	})
}

// operate starts an operation on the stack there (after change, when set) and returns its id.
func (f *CloudFormation) operate(name, token *string, status cfntypes.StackStatus, change func(*cfntypes.Stack)) (*string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Stack == nil {
		return nil, notExist(aws.ToString(name))
	}
	if change != nil {
		change(f.Stack)
	}
	f.start(aws.ToString(token), status)
	return f.Stack.StackId, nil
}

func (f *CloudFormation) UpdateStack(ctx context.Context, in *cloudformation.UpdateStackInput, _ ...func(*cloudformation.Options)) (*cloudformation.UpdateStackOutput, error) {
	return f.UpdateStackCalls.invoke(ctx, f.Log, write("UpdateStack"), in, func(_ context.Context, in *cloudformation.UpdateStackInput) (*cloudformation.UpdateStackOutput, error) {
		id, err := f.operate(in.StackName, in.ClientRequestToken, cfntypes.StackStatusUpdateInProgress, func(s *cfntypes.Stack) {
			s.Parameters, s.Tags, s.LastUpdatedTime = f.Mask(in.Parameters), in.Tags, aws.Time(time.Now())
		})
		if err != nil {
			return nil, err
		}
		return &cloudformation.UpdateStackOutput{StackId: id}, nil
	})
}

func (f *CloudFormation) DeleteStack(ctx context.Context, in *cloudformation.DeleteStackInput, _ ...func(*cloudformation.Options)) (*cloudformation.DeleteStackOutput, error) {
	return f.DeleteStackCalls.invoke(ctx, f.Log, write("DeleteStack"), in, func(_ context.Context, in *cloudformation.DeleteStackInput) (*cloudformation.DeleteStackOutput, error) {
		_, err := f.operate(in.StackName, in.ClientRequestToken, cfntypes.StackStatusDeleteInProgress, func(s *cfntypes.Stack) { s.DeletionTime = aws.Time(time.Now()) })
		if err != nil {
			return nil, err
		}
		return &cloudformation.DeleteStackOutput{}, nil
	})
}

func (f *CloudFormation) ContinueUpdateRollback(ctx context.Context, in *cloudformation.ContinueUpdateRollbackInput, _ ...func(*cloudformation.Options)) (*cloudformation.ContinueUpdateRollbackOutput, error) {
	return f.ContinueUpdateRollbackCalls.invoke(ctx, f.Log, write("ContinueUpdateRollback"), in, func(_ context.Context, in *cloudformation.ContinueUpdateRollbackInput) (*cloudformation.ContinueUpdateRollbackOutput, error) {
		if _, err := f.operate(in.StackName, in.ClientRequestToken, cfntypes.StackStatusUpdateRollbackInProgress, nil); err != nil {
			return nil, err
		}
		return &cloudformation.ContinueUpdateRollbackOutput{}, nil
	})
}

// ListStackInstances answers from StackInstances, in one page; a StackSet it does not hold is
// StackSetNotFoundException.
func (f *CloudFormation) ListStackInstances(ctx context.Context, in *cloudformation.ListStackInstancesInput, _ ...func(*cloudformation.Options)) (*cloudformation.ListStackInstancesOutput, error) {
	return f.ListStackInstancesCalls.invoke(ctx, f.Log, read("ListStackInstances"), in, func(_ context.Context, in *cloudformation.ListStackInstancesInput) (*cloudformation.ListStackInstancesOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		name := aws.ToString(in.StackSetName)
		all, ok := f.StackInstances[name]
		if !ok {
			// moto/cloudformation/exceptions.py
			return nil, &cfntypes.StackSetNotFoundException{Message: aws.String("StackSet " + name + " not found")}
		}
		return &cloudformation.ListStackInstancesOutput{Summaries: append([]cfntypes.StackInstanceSummary(nil), all...)}, nil
	})
}

// GetTemplateSummary answers the parameters the URL's template declares (Templates, else
// TemplateParameters).
func (f *CloudFormation) GetTemplateSummary(ctx context.Context, in *cloudformation.GetTemplateSummaryInput, _ ...func(*cloudformation.Options)) (*cloudformation.GetTemplateSummaryOutput, error) {
	return f.GetTemplateSummaryCalls.invoke(ctx, f.Log, read("GetTemplateSummary"), in, func(_ context.Context, in *cloudformation.GetTemplateSummaryInput) (*cloudformation.GetTemplateSummaryOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		ps, ok := f.Templates[aws.ToString(in.TemplateURL)]
		if !ok && f.TemplateParameters == nil {
			// The message CloudFormation gives for a TemplateURL it cannot read.
			return nil, validation("TemplateURL must be a supported URL.")
		}
		if !ok {
			ps = f.TemplateParameters
		}
		return &cloudformation.GetTemplateSummaryOutput{Parameters: slices.Clone(ps)}, nil
	})
}
