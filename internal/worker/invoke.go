package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/operator"
)

// Operator answers the operator command's direct invocations (*operator.Handler).
type Operator interface {
	Serve(ctx context.Context, req operator.Request) operator.Response
}

// Invoke is the function's entry point: one Lambda, two kinds of payload. An SQS batch (an
// object with "Records", what the event source mapping sends) is handled by Handle; an
// operator request ({"operator": {...}}, a direct synchronous invocation by the operator
// command) by Operator, which only reads. Anything else is refused with an error that says
// what was expected: no one but the event source and an operator invokes the function.
func (w *Worker) Invoke(ctx context.Context, payload json.RawMessage) (any, error) {
	var shape struct {
		Records  json.RawMessage `json:"Records"`
		Operator json.RawMessage `json:"operator"`
	}
	if err := json.Unmarshal(payload, &shape); err != nil {
		w.log().ErrorContext(ctx, "invocation", "outcome", "refused", "reason", "the payload is not a JSON object: "+err.Error())
		return nil, fmt.Errorf("the payload is not a JSON object: %w", err)
	}
	switch {
	case shape.Operator != nil && !bytes.Equal(shape.Operator, []byte("null")):
		var p operator.Payload
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return operator.Response{Error: "operator request: " + err.Error()}, nil
		}
		if w.Operator == nil {
			return operator.Response{Op: p.Operator.Op, Error: "this function answers no operator request"}, nil
		}
		resp := w.Operator.Serve(ctx, *p.Operator)
		w.Metrics.Flush()
		return resp, nil
	case shape.Records != nil:
		var ev events.SQSEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			w.log().ErrorContext(ctx, "invocation", "outcome", "refused", "reason", "an SQS batch that does not decode: "+err.Error())
			return nil, fmt.Errorf("an SQS batch that does not decode: %w", err)
		}
		return w.Handle(ctx, ev)
	}
	w.log().ErrorContext(ctx, "invocation", "outcome", "refused", "reason", "neither an SQS batch nor an operator request")
	return nil, errors.New(`the payload is neither an SQS batch ("Records") nor an operator request ("operator")`)
}
