package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// sweepTimeout is the sweep function's timeout (deploy/template.yaml, SweepFunction).
const sweepTimeout = 300 * time.Second

// orgResult is the sweep Lambda over a large Organization.
type orgResult struct {
	Accounts, OUs, Outside int // included accounts, included OUs (with their children), accounts outside them
	Latency                time.Duration
	Throttle               float64
	Seed                   time.Duration

	Wall        time.Duration // the scheduled event .. the last invocation (continuations included) done
	Invocations int
	Longest     time.Duration // the longest invocation
	Busy        time.Duration

	Enqueued   int // distinct accounts in the requests sent
	Requests   int // requests sent (SendMessageBatch entries)
	Lost       int // included accounts without a request
	Duplicates int // requests beyond one per account
	Strays     int // requests for accounts outside the included OUs
	NoDigest   int // requests without the ledger digest
	QueueDepth int // the reconcile queue's messages afterwards

	ByOp      map[string]int // calls (attempts) by Service.Action, the recorder's count
	Throttled int            // throttling answers injected
	Memory    memRow
}

// measureOrgSweep serves a large Organization from the Organizations stand-in (moto cannot
// hold it: see integration/localworld/orgs.go) behind the fault proxy, with every included
// account's ledger entry in DynamoDB, and times the sweep Lambda's scheduled run over it with
// latency on every AWS call and throttling on Organizations.
func (w *world) measureOrgSweep(ctx context.Context, o options) (*orgResult, error) {
	res := &orgResult{Latency: o.Latency, Throttle: o.OrgThrottle, ByOp: map[string]int{}}
	if err := w.reset(ctx); err != nil {
		return res, err
	}
	t := time.Now()
	// moto keeps a small Organization of its own for the IAM gate's set-up (its id is the
	// stand-in's); the product's Organizations calls go to the stand-in.
	morg, err := organizations.NewFromConfig(w.h.Moto.Config(ctx, homeRegion)).CreateOrganization(ctx,
		&organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil {
		return res, err
	}
	so := localworld.NewOrganizations(localworld.ManagementAccount)
	so.ID = aws.ToString(morg.Organization.Id)
	var included []string
	inScope := map[string]bool{}
	perOU := o.OrgAccounts / max(o.OrgOUs, 1)
	for i := range o.OrgOUs {
		top := so.AddOU(so.RootID, fmt.Sprintf("Unit-%02d", i+1))
		child := so.AddOU(top, fmt.Sprintf("Unit-%02d-Sandbox", i+1))
		included = append(included, top)
		n := perOU
		if i == o.OrgOUs-1 {
			n = o.OrgAccounts - perOU*(o.OrgOUs-1)
		}
		for j := range n {
			parent := top
			if j%10 == 9 { // a tenth of each unit sits in its child OU
				parent = child
			}
			inScope[so.AddAccount(parent, fmt.Sprintf("u%02d-%05d", i+1, j+1)).ID] = true
		}
		res.OUs += 2
	}
	elsewhere := so.AddOU(so.RootID, "Elsewhere")
	res.Outside = max(o.OrgAccounts/100, 1)
	for j := range res.Outside {
		so.AddAccount(elsewhere, fmt.Sprintf("else-%05d", j+1))
	}
	res.Accounts = len(inScope)
	w.h.Faults.Serve("organizations", so)
	defer w.h.Faults.Serve("organizations", nil)

	err = w.setup(ctx, 1, 900, func(opts *localworld.Options) {
		opts.Env = map[string]string{"ONBOARDER_INCLUDE_OUS": strings.Join(included, ",")}
	})
	if err != nil {
		return res, err
	}
	if err := w.seedLedger(ctx, inScope); err != nil {
		return res, err
	}
	res.Seed = time.Since(t)
	w.logf("org: %d accounts in %d included OUs (+%d outside) and their ledger entries in %s", res.Accounts, res.OUs, res.Outside, res.Seed.Round(time.Second))

	w.h.Faults.Clear()
	w.h.Faults.ResetStats()
	w.h.Faults.Add(proxy.Rule{Fault: proxy.Latency{Fixed: o.Latency}})
	w.h.Faults.Add(proxy.Rule{Service: "organizations", Fault: proxy.Throttle{}, Probability: o.OrgThrottle})
	defer w.h.Faults.Clear()
	mark := w.h.Recorder.Mark()
	pump := w.env.Pump
	pump.ReconcileQueueURL = "" // only the sweep and its continuations run: the requests stay queued
	t = time.Now()
	_, ferr, err := w.env.Lambdas["sweep"].Invoke(ctx, localworld.ScheduledEvent(homeRegion))
	if err != nil || ferr != nil {
		return res, fmt.Errorf("sweep: %v %v", err, ferr)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	st, err := pump.Drain(dctx) // continuations, if the sweep ran short of time
	cancel()
	res.Wall = time.Since(t)
	if err != nil {
		return res, err
	}
	if len(st.FunctionErrors) > 0 {
		return res, fmt.Errorf("%d function errors, first: %v", len(st.FunctionErrors), st.FunctionErrors[0])
	}
	res.Invocations, res.Busy, res.Longest = w.env.Lambdas["sweep"].Usage()
	res.Throttled = w.h.Faults.Stats().Faults["throttle"]
	res.Memory = w.memRow("sweep", fmt.Sprintf("sweep of %d accounts in %d OUs: walk, read the ledger, enqueue one request each", res.Accounts, res.OUs))

	seen := map[string]int{}
	for _, c := range w.h.Recorder.Since(mark) {
		res.ByOp[c.Service+"."+c.Action]++
		if c.Service != "sqs" || c.Action != "SendMessageBatch" || c.Status != 200 {
			continue
		}
		var in struct {
			Entries []struct{ MessageBody string }
		}
		if err := json.Unmarshal(c.Body, &in); err != nil {
			return res, fmt.Errorf("a SendMessageBatch body that is not JSON: %w", err)
		}
		for _, e := range in.Entries {
			var r queue.Request
			if err := json.Unmarshal([]byte(e.MessageBody), &r); err != nil {
				return res, fmt.Errorf("a reconcile request that is not JSON: %w", err)
			}
			res.Requests++
			seen[r.Account]++
			if r.LedgerDigest == "" {
				res.NoDigest++
			}
		}
	}
	for a, n := range seen {
		switch {
		case !inScope[a]:
			res.Strays += n
		case n > 1:
			res.Duplicates += n - 1
		}
		if inScope[a] {
			res.Enqueued++
		}
	}
	res.Lost = res.Accounts - res.Enqueued
	attrs, err := pump.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(w.env.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return res, err
	}
	res.QueueDepth, _ = strconv.Atoi(attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	w.logf("org: swept in %s over %d invocations (longest %s): %d requests for %d accounts, %d lost, %d throttles",
		res.Wall.Round(time.Millisecond), res.Invocations, res.Longest.Round(time.Millisecond), res.Requests, res.Enqueued, res.Lost, res.Throttled)
	var errs []error
	if res.Lost > 0 || res.Strays > 0 || res.Duplicates > 0 {
		errs = append(errs, fmt.Errorf("%d accounts lost, %d requests out of scope, %d duplicates", res.Lost, res.Strays, res.Duplicates))
	}
	if res.QueueDepth != res.Accounts {
		errs = append(errs, fmt.Errorf("the queue holds %d requests, want %d", res.QueueDepth, res.Accounts))
	}
	return res, errors.Join(errs...)
}

// seedLedger writes an in-sync ledger entry for each account, straight into moto.
func (w *world) seedLedger(ctx context.Context, accounts map[string]bool) error {
	db := dynamodb.NewFromConfig(w.h.Moto.Config(ctx, homeRegion))
	var batch []ddbtypes.WriteRequest
	flush := func() error {
		for len(batch) > 0 {
			out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{localworld.LedgerTable: batch}})
			if err != nil {
				return fmt.Errorf("seed the ledger: %w", err)
			}
			batch = out.UnprocessedItems[localworld.LedgerTable]
		}
		return nil
	}
	now := time.Now().UTC()
	for a := range accounts {
		item, err := attributevalue.MarshalMap(ledger.Entry{Account: a, Region: stackRegion, StackName: stackName, StackStatus: "CREATE_COMPLETE",
			Managed: true, TrailMode: "new", CreateNewTrail: true, Action: "none", Class: "none", Reason: "in sync", UpdatedAt: now})
		if err != nil {
			return err
		}
		batch = append(batch, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: item}})
		if len(batch) == 25 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
