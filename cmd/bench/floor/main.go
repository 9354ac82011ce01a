// Command floor is the empty aws-lambda-go handler that cmd/bench measures beside the
// product's handlers: the floor of cold start, memory and size. It does nothing at init and
// answers every event with nil.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) error { return nil })
}
