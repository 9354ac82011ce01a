// Package metrics writes CloudWatch Embedded Metric Format (EMF) lines to stdout, where the
// Lambda runtime hands them to CloudWatch Logs, which extracts the metrics. It also counts
// the AWS calls an aws.Config makes, through a smithy middleware.
package metrics

import (
	"context"
	"encoding/json"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// Namespace is the CloudWatch namespace of every metric of the product.
const Namespace = "CloudOneOnboarder"

// Recorder writes EMF lines. The zero value writes nothing; it is safe for concurrent use.
type Recorder struct {
	W        io.Writer        // stdout in Lambda; nil: metrics are off
	Function string           // dimension "Function": accountvending, trailguard, sweep, reconcile
	Calls    *Counter         // AWS calls counted by CountCalls, flushed by Flush; may be nil
	Now      func() time.Time // nil: time.Now

	mu sync.Mutex
}

// New returns a recorder for function writing to w, with a call counter.
func New(w io.Writer, function string) *Recorder {
	return &Recorder{W: w, Function: function, Calls: &Counter{}}
}

// Event counts one event decision: decision is enqueue, skip or error; reason is a short,
// stable code (the dimension must stay low-cardinality).
func (r *Recorder) Event(decision, reason string) {
	r.emit([]string{"Function", "Decision", "Reason"}, map[string]string{"Decision": decision, "Reason": reason}, "Events", 1, "Count")
}

// Enqueued counts requests put on the queue.
func (r *Recorder) Enqueued(n int) {
	if n > 0 {
		r.emit([]string{"Function"}, nil, "RequestsEnqueued", float64(n), "Count")
	}
}

// Outcome counts one reconcile result by action and class.
func (r *Recorder) Outcome(action, class string) {
	r.emit([]string{"Function", "Action", "Class"}, map[string]string{"Action": action, "Class": class}, "Reconciles", 1, "Count")
	if class != "" && class != "none" {
		// No dimensions: the ReconcileFailed alarm of deploy/template.yaml sees every failure.
		r.emit([]string{}, nil, "ReconcileFailed", 1, "Count")
	}
}

// Duration records how long a reconcile took.
func (r *Recorder) Duration(action string, d time.Duration) {
	r.emit([]string{"Function", "Action"}, map[string]string{"Action": action}, "ReconcileDuration", float64(d.Milliseconds()), "Milliseconds")
}

// Flush writes the AWS calls counted since the last flush, one line per service and
// operation, and resets the counter. Handlers call it at the end of every invocation.
func (r *Recorder) Flush() {
	if r == nil || r.Calls == nil {
		return
	}
	for _, c := range r.Calls.Take() {
		r.emit([]string{"Function", "Service", "Operation"}, map[string]string{"Service": c.Service, "Operation": c.Operation}, "AWSCalls", float64(c.Calls), "Count")
		if c.Attempts > c.Calls {
			r.emit([]string{"Function", "Service", "Operation"}, map[string]string{"Service": c.Service, "Operation": c.Operation}, "AWSRetries", float64(c.Attempts-c.Calls), "Count")
		}
	}
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

func (r *Recorder) emit(dims []string, values map[string]string, name string, value float64, unit string) {
	if r == nil || r.W == nil {
		return
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	line := map[string]any{
		"_aws": emfMeta{
			Timestamp:         now().UnixMilli(),
			CloudWatchMetrics: []emfDirective{{Namespace: Namespace, Dimensions: [][]string{dims}, Metrics: []emfMetric{{Name: name, Unit: unit}}}},
		},
		"Function": r.Function,
		name:       value,
	}
	for k, v := range values {
		if v == "" {
			v = "none"
		}
		line[k] = v
	}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	b = append(b, '\n')
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.W.Write(b)
}

// Call is the count of one operation of one service.
type Call struct {
	Service   string `json:"service"`
	Operation string `json:"operation"`
	Calls     int    `json:"calls"`    // operations invoked
	Attempts  int    `json:"attempts"` // HTTP attempts, retries included
}

// Counter counts AWS calls per service and operation. Safe for concurrent use.
type Counter struct {
	mu    sync.Mutex
	calls map[[2]string]*Call
}

func (c *Counter) add(service, op string, calls, attempts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[[2]string]*Call{}
	}
	k := [2]string{service, op}
	e := c.calls[k]
	if e == nil {
		e = &Call{Service: service, Operation: op}
		c.calls[k] = e
	}
	e.Calls += calls
	e.Attempts += attempts
}

// Add counts one call (tests, and callers that count by hand).
func (c *Counter) Add(service, op string) { c.add(service, op, 1, 1) }

// Snapshot returns the counts, sorted by service then operation.
func (c *Counter) Snapshot() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Call, 0, len(c.calls))
	for _, e := range c.calls {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Operation < out[j].Operation
	})
	return out
}

// Take returns the counts and resets the counter.
func (c *Counter) Take() []Call {
	s := c.Snapshot()
	c.mu.Lock()
	c.calls = nil
	c.mu.Unlock()
	return s
}

// Total is the number of calls counted.
func (c *Counter) Total() int {
	n := 0
	for _, e := range c.Snapshot() {
		n += e.Calls
	}
	return n
}

// Get returns the number of calls of one operation ("SQS", "SendMessageBatch").
func (c *Counter) Get(service, op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.calls[[2]string{service, op}]; e != nil {
		return e.Calls
	}
	return 0
}

// CountCalls makes every client built from cfg count its calls in c: one call per
// operation invoked (initialize step) and one attempt per HTTP attempt (after the retryer).
// Service names are the SDK's service ids ("SQS", "Organizations", "CloudFormation").
func CountCalls(cfg *aws.Config, c *Counter) {
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("CountCalls",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				c.add(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx), 1, 0)
				return next.HandleInitialize(ctx, in)
			}), middleware.After); err != nil {
			return err
		}
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("CountAttempts",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				c.add(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx), 0, 1)
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	})
}
