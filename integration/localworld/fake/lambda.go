package fake

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Lambda is the Lambda API the operator command calls: Invoke, synchronously, of the
// reconcile function. Handler answers each invocation's payload, as the function would; an
// error it returns is a function error, which Lambda reports in the output's FunctionError
// ("Unhandled") with the error as the payload, {"errorMessage", "errorType"}, while the call
// itself succeeds (the SDK's service/lambda/api_op_Invoke.go, FunctionError: "If present,
// indicates that an error occurred during function execution. Details about the error are
// included in the response payload"). Without a Handler, or for another function than
// Function (when set), it answers ResourceNotFoundException.
type Lambda struct {
	Log      *Log
	Function string // the function's name or ARN; "": any
	Handler  func(ctx context.Context, payload []byte) ([]byte, error)

	InvokeCalls Calls[*lambda.InvokeInput, *lambda.InvokeOutput]
}

func (f *Lambda) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	return f.InvokeCalls.invoke(ctx, f.Log, read("Invoke"), in, func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		name := aws.ToString(in.FunctionName)
		if f.Handler == nil || (f.Function != "" && name != f.Function) {
			return nil, &lambdatypes.ResourceNotFoundException{Message: aws.String("Function not found: " + name)}
		}
		out, err := f.Handler(ctx, in.Payload)
		if err != nil {
			b, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": fmt.Sprintf("%T", err)})
			return &lambda.InvokeOutput{StatusCode: 200, FunctionError: aws.String("Unhandled"), Payload: b}, nil
		}
		return &lambda.InvokeOutput{StatusCode: 200, Payload: out}, nil
	})
}
