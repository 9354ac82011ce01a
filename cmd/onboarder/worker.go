package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/operator"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
)

// workerClient asks the reconcile function (a synchronous invocation whose payload is an
// operator request, internal/operator) what only the worker may read: dry runs, the member
// accounts' stacks, and the checks that need the secret or a member role. Many accounts are
// split into chunks of operator.ChunkSize, Parallel invocations at a time; the accounts an
// invocation did not reach before its deadline (Deferred) are asked again, up to Rounds times.
type workerClient struct {
	API      LambdaAPI
	Function string // name or ARN
	Parallel int    // invocations at once (default 4)
	Chunk    int    // accounts per invocation (default operator.ChunkSize)
	Rounds   int    // how often deferred accounts are asked again (default 3)
	Verbose  io.Writer
}

// invoke sends one request and returns the worker's answer; an answer with Error is an error.
func (w *workerClient) invoke(ctx context.Context, req operator.Request) (operator.Response, error) {
	payload, err := json.Marshal(operator.Payload{Operator: &req})
	if err != nil {
		return operator.Response{}, err
	}
	start := time.Now()
	out, err := w.API.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(w.Function), Payload: payload})
	if w.Verbose != nil {
		fmt.Fprintf(w.Verbose, "invoke %s: %s of %d accounts: %s\n", w.Function, req.Op, len(req.Accounts)+len(req.Requests), time.Since(start).Round(time.Millisecond))
	}
	if err != nil {
		hint := ""
		if fault.IsCode(err, "AccessDeniedException", "AccessDenied") {
			hint = " (the operator policy of the central stack, cloudone-onboarder-operator, grants lambda:InvokeFunction on it)"
		}
		if fault.IsCode(err, "ResourceNotFoundException") {
			hint = " (ONBOARDER_RECONCILE_FUNCTION is the central stack's output ReconcileFunctionName, in its region: AWS_REGION)"
		}
		return operator.Response{}, fmt.Errorf("invoke the reconcile function %s (%s): %w%s", w.Function, req.Op, err, hint)
	}
	if out.FunctionError != nil {
		var fe struct {
			Type    string `json:"errorType"`
			Message string `json:"errorMessage"`
		}
		_ = json.Unmarshal(out.Payload, &fe)
		return operator.Response{}, fmt.Errorf("the reconcile function %s failed (%s): %s: %s", w.Function, aws.ToString(out.FunctionError), fe.Type, fe.Message)
	}
	var resp operator.Response
	if err := json.Unmarshal(out.Payload, &resp); err != nil {
		return operator.Response{}, fmt.Errorf("the reconcile function %s answered %s with something that is not an operator answer (is it an older version? deploy this release): %w", w.Function, req.Op, err)
	}
	if resp.Op != req.Op && resp.Error == "" {
		return operator.Response{}, fmt.Errorf("the reconcile function %s does not answer operator requests (is it an older version? deploy this release)", w.Function)
	}
	if resp.Error != "" {
		return resp, fmt.Errorf("the reconcile function %s: %s", w.Function, resp.Error)
	}
	return resp, nil
}

// chunks splits n items into consecutive ranges of at most size.
func chunks(n, size int) [][2]int {
	if size <= 0 {
		size = operator.ChunkSize
	}
	var out [][2]int
	for start := 0; start < n; start += size {
		out = append(out, [2]int{start, min(start+size, n)})
	}
	return out
}

// spread runs one invocation per chunk of the keys (account ids), Parallel at a time, and
// asks again for the keys an invocation deferred. ask gets a chunk's keys and returns the
// ones it deferred; an error fails the chunk's keys (fail is called for each).
func (w *workerClient) spread(ctx context.Context, keys []string, ask func(ctx context.Context, keys []string) ([]string, error), fail func(key string, err error)) {
	parallel, rounds := w.Parallel, w.Rounds
	if parallel <= 0 {
		parallel = 4
	}
	if rounds <= 0 {
		rounds = 3
	}
	pending := keys
	for round := 0; round < rounds && len(pending) > 0 && ctx.Err() == nil; round++ {
		cs := chunks(len(pending), w.Chunk)
		var mu sync.Mutex
		var again []string
		forEach(ctx, len(cs), parallel, func(ctx context.Context, i int) {
			part := pending[cs[i][0]:cs[i][1]]
			deferred, err := ask(ctx, part)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				for _, k := range part {
					fail(k, err)
				}
				return
			}
			again = append(again, deferred...)
		})
		slices.Sort(again)
		pending = again
	}
	for _, k := range pending {
		fail(k, fmt.Errorf("the reconcile function did not reach %s in %d invocations (its deadline came first): run the command again", k, rounds))
	}
}

// plan dry-runs the requests; the results come back in the requests' order. A request the
// worker could not answer has a result with Action fail.
func (w *workerClient) plan(ctx context.Context, reqs []queue.Request) []reconcile.Result {
	byAccount := map[string]queue.Request{}
	keys := make([]string, 0, len(reqs))
	for _, r := range reqs {
		byAccount[r.Account] = r
		keys = append(keys, r.Account)
	}
	var mu sync.Mutex
	got := map[string]reconcile.Result{}
	w.spread(ctx, keys, func(ctx context.Context, part []string) ([]string, error) {
		in := make([]queue.Request, 0, len(part))
		for _, k := range part {
			in = append(in, byAccount[k])
		}
		resp, err := w.invoke(ctx, operator.Request{Op: operator.OpPlan, Requests: in})
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range resp.Plans {
			got[r.Account] = r
		}
		return resp.Deferred, nil
	}, func(k string, err error) {
		mu.Lock()
		defer mu.Unlock()
		got[k] = reconcile.Result{Account: k, Action: reconcile.ActionFail, Class: fault.ClassOf(err), Reason: "not planned", Error: oneLine(err)}
	})
	out := make([]reconcile.Result, 0, len(reqs))
	for _, r := range reqs {
		out = append(out, got[r.Account])
	}
	return out
}

// status reads the accounts' stacks; the answers come back in the accounts' order.
func (w *workerClient) status(ctx context.Context, accounts []string) []operator.Stack {
	var mu sync.Mutex
	got := map[string]operator.Stack{}
	w.spread(ctx, accounts, func(ctx context.Context, part []string) ([]string, error) {
		resp, err := w.invoke(ctx, operator.Request{Op: operator.OpStatus, Accounts: part})
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, s := range resp.Stacks {
			got[s.Account] = s
		}
		return resp.Deferred, nil
	}, func(k string, err error) {
		mu.Lock()
		defer mu.Unlock()
		got[k] = operator.Stack{Account: k, Error: oneLine(err)}
	})
	out := make([]operator.Stack, 0, len(accounts))
	for _, a := range accounts {
		out = append(out, got[a])
	}
	return out
}

// check runs the worker's checks.
func (w *workerClient) check(ctx context.Context, req operator.Request) ([]operator.Check, error) {
	req.Op = operator.OpCheck
	resp, err := w.invoke(ctx, req)
	return resp.Checks, err
}

// checkNamed returns the named check of a list (and whether it is there).
func checkNamed(cs []operator.Check, name string) (operator.Check, bool) {
	for _, c := range cs {
		if c.Name == name {
			return c, true
		}
	}
	return operator.Check{}, false
}

// functionRegion is the region of a function given by ARN, or "".
func functionRegion(function string) string {
	if f := strings.Split(function, ":"); len(f) >= 7 && f[0] == "arn" && f[2] == "lambda" {
		return f[3]
	}
	return ""
}
