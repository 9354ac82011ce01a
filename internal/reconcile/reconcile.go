package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// Secrets gives the Cloud One credentials (cached by secretstore.Store).
type Secrets interface {
	Get(ctx context.Context) (secret.Credentials, error)
}

// KeyDescriber reads an API key's Cloud One region (cloudone.Client).
type KeyDescriber interface {
	Describe(ctx context.Context, apiKey secret.Value) (cloudone.Key, error)
}

// CloudFormationAPI is the part of the CloudFormation client the reconcile uses; the SDK's
// stack waiters accept it.
type CloudFormationAPI interface {
	cloudformation.DescribeStacksAPIClient
	CreateStack(ctx context.Context, in *cloudformation.CreateStackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.CreateStackOutput, error)
	UpdateStack(ctx context.Context, in *cloudformation.UpdateStackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.UpdateStackOutput, error)
	DeleteStack(ctx context.Context, in *cloudformation.DeleteStackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DeleteStackOutput, error)
	ContinueUpdateRollback(ctx context.Context, in *cloudformation.ContinueUpdateRollbackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.ContinueUpdateRollbackOutput, error)
}

// Member is a member account's clients in the stack's region.
type Member struct {
	CloudFormation CloudFormationAPI
	Trails         trail.Clients
}

// Members opens member accounts (crossaccount.Assumer behind AWSMembers).
type Members interface {
	Member(ctx context.Context, account, region string) (Member, error)
}

// Ledger records the last decision per account (ledger.Table).
type Ledger interface {
	Put(ctx context.Context, e ledger.Entry) error
}

// Reconciler reconciles accounts. Its fields are its dependencies; New wires the real ones.
type Reconciler struct {
	Cfg      config.Config
	Secrets  Secrets
	CloudOne KeyDescriber
	Members  Members
	Ledger   Ledger // nil: no ledger
	Log      *slog.Logger
	Now      func() time.Time
}

// defaultBudget bounds waits when the context has no deadline (the operator command).
const defaultBudget = 30 * time.Minute

// Reconcile brings one account's onboarding stack to the desired state and says what it did.
// It never panics; a failure is in the result's Class and Err.
func (r *Reconciler) Reconcile(ctx context.Context, req queue.Request) (res Result) {
	res = Result{Account: req.Account, StackName: r.Cfg.StackName, DryRun: r.Cfg.DryRun, Action: ActionNone, Class: fault.None}
	var creds secret.Credentials
	defer func() {
		if p := recover(); p != nil {
			r.fail(&res, fault.Permanentf("reconcile %s: internal error: %v", req.Account, p), creds)
		}
		r.finish(ctx, req, &res, creds)
	}()
	if err := r.run(ctx, req, &res, &creds); err != nil {
		r.fail(&res, err, creds)
	}
	return res
}

func (r *Reconciler) fail(res *Result, err error, creds secret.Credentials) {
	err = scrub(err, creds)
	res.Err, res.Error, res.Class = err, err.Error(), fault.ClassOf(err)
	if res.Class == fault.None { // a skip is not a failure
		res.Err, res.Error = nil, ""
		return
	}
	if res.Action == ActionNone || res.Action == ActionWait {
		if res.Class == fault.NeedsPerson {
			res.Action = ActionNeedsPerson
		} else if res.Action == ActionNone {
			res.Action = ActionFail
		}
	}
	if res.Reason == "" {
		res.Reason = res.Error
	}
}

// scrub removes the secret values from an error's text, whatever produced it, keeping its
// class: no API answer can carry the key or the token into a log.
func scrub(err error, creds secret.Credentials) error {
	msg := err.Error()
	clean := msg
	for _, v := range []secret.Value{creds.APIKey, creds.ServiceToken} {
		if s := v.Reveal(); len(s) >= 4 {
			clean = strings.ReplaceAll(clean, s, "[redacted]")
		}
	}
	if clean == msg {
		return err
	}
	return fault.As(fault.ClassOf(err), errors.New(clean))
}

func (r *Reconciler) run(ctx context.Context, req queue.Request, res *Result, credsOut *secret.Credentials) error {
	if err := config.ValidateAccountID(req.Account); err != nil {
		return fault.Permanentf("reconcile request: %w", err)
	}
	creds, err := r.Secrets.Get(ctx)
	if err != nil {
		return err
	}
	*credsOut = creds
	region, err := r.awsRegion(ctx, creds)
	if err != nil {
		return err
	}
	res.Region = region
	m, err := r.Members.Member(ctx, req.Account, region)
	if err != nil {
		return err
	}
	name := r.Cfg.StackName
	where := fmt.Sprintf("%s in %s/%s", name, req.Account, region)
	var roleARN *string // the CloudFormation service role, when configured
	if arn := r.Cfg.CFNRoleARN("aws", req.Account); arn != "" {
		roleARN = aws.String(arn)
	}

	var desired *stack.Desired // resolved once per reconcile
	wrote := false             // this reconcile changed the stack
	for step := 0; step < config.DefaultMaxReconcileSteps; step++ {
		obs, err := stack.Describe(ctx, m.CloudFormation, name)
		if err != nil {
			return fmt.Errorf("describe stack %s: %w", where, err)
		}
		status := string(obs.Status)
		if !obs.Exists {
			status = "ABSENT"
		}
		if step == 0 {
			res.StatusBefore = status
		}
		res.StatusAfter, res.Managed = status, obs.Managed()
		if obs.Exists && !obs.Managed() && !r.Cfg.AdoptExisting {
			res.Action = ActionLeaveAlone
			res.Reason = fmt.Sprintf("stack %s exists (%s) and was not created by the onboarder (no %s tag): left alone; set ONBOARDER_ADOPT_EXISTING=true to adopt it", where, status, stack.TagManaged)
			return nil
		}
		state := stack.Classify(obs)
		if wrote && (state == stack.StateFailed || state == stack.StateRollbackBad) {
			return fault.Transientf("stack %s ended %s after this reconcile changed it: %s; the next attempt repairs it", where, status, obs.Reason)
		}
		switch state {
		case stack.StateAbsent:
			if desired, err = r.desire(ctx, m, res, obs, creds, desired); err != nil {
				return err
			}
			res.Changes = changes(stack.Observed{}, *desired)
			if r.plan(res, ActionCreate, "stack "+where+" is absent: create it") {
				return nil
			}
			_, err := m.CloudFormation.CreateStack(ctx, &cloudformation.CreateStackInput{
				StackName:    aws.String(name),
				TemplateURL:  aws.String(desired.TemplateURL),
				Parameters:   desired.Parameters(),
				Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam, cfntypes.CapabilityCapabilityAutoExpand},
				Tags:         desired.Tags(nil),
				RoleARN:      roleARN,
			})
			if fault.IsCode(err, "AlreadyExistsException") {
				r.note(res, ActionWait, "stack "+where+" was created by someone else meanwhile: look again")
				continue
			}
			if err != nil {
				return fmt.Errorf("create stack %s: %w", where, err)
			}
			wrote = true
			r.did(ctx, res, ActionCreate, "created stack "+where)
		case stack.StateComplete:
			if desired, err = r.desire(ctx, m, res, obs, creds, desired); err != nil {
				return err
			}
			diff := changes(obs, *desired)
			if obs.Tags[stack.TagFingerprint] == desired.Fingerprint() && len(diff) == 0 {
				if res.Action == ActionNone || res.Action == ActionStartLogging {
					if res.Trail != nil && res.Trail.Restarted { // done (or planned) in desire
						res.Action, res.Reason = ActionStartLogging, res.Trail.Why
					}
					if res.Reason == "" {
						res.Reason = "stack " + where + " is " + status + " and in sync (" + res.Trail.Why + ")"
					}
				}
				return nil
			}
			res.Changes = diff
			why := "stack " + where + " differs: " + describeChanges(diff)
			if !obs.Managed() {
				why = "adopting stack " + where + " (ONBOARDER_ADOPT_EXISTING): " + describeChanges(diff)
			}
			if r.plan(res, ActionUpdate, why) {
				return nil
			}
			_, err := m.CloudFormation.UpdateStack(ctx, &cloudformation.UpdateStackInput{
				StackName:    aws.String(name),
				TemplateURL:  aws.String(desired.TemplateURL),
				Parameters:   desired.Parameters(),
				Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam, cfntypes.CapabilityCapabilityAutoExpand},
				Tags:         desired.Tags(obs.Tags),
				RoleARN:      roleARN,
			})
			if stack.NoUpdates(err) {
				res.Action, res.Changes = ActionNone, nil
				res.Reason = "CloudFormation: no updates are to be performed on " + where + ": in sync"
				res.Steps = append(res.Steps, Step{Action: ActionNone, Detail: res.Reason})
				return nil
			}
			if err != nil {
				return fmt.Errorf("update stack %s: %w", where, err)
			}
			wrote = true
			r.did(ctx, res, ActionUpdate, "updated stack "+where+": "+describeChanges(diff))
		case stack.StateFailed:
			if r.plan(res, ActionRecreate, "stack "+where+" is "+status+" ("+obs.Reason+"): delete it, then create it") {
				return nil
			}
			if _, err := m.CloudFormation.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(obs.ID), RoleARN: roleARN}); err != nil {
				return fmt.Errorf("delete failed stack %s: %w", where, err)
			}
			r.did(ctx, res, ActionRecreate, "deleted stack "+where+" ("+status+") to create it again")
		case stack.StateRollbackBad:
			if r.plan(res, ActionContinueRollback, "stack "+where+" is UPDATE_ROLLBACK_FAILED ("+obs.Reason+"): continue the rollback") {
				return nil
			}
			if _, err := m.CloudFormation.ContinueUpdateRollback(ctx, &cloudformation.ContinueUpdateRollbackInput{StackName: aws.String(obs.ID), RoleARN: roleARN}); err != nil {
				return fmt.Errorf("continue update rollback of %s: %w", where, err)
			}
			r.did(ctx, res, ActionContinueRollback, "continued the rollback of stack "+where)
		case stack.StateInProgress:
			if r.Cfg.DryRun {
				r.plan(res, ActionWait, "stack "+where+" is "+status+": would wait for it")
				return nil
			}
			r.note(res, ActionWait, "stack "+where+" is "+status+": waiting")
		case stack.StateDeleteFailed:
			return fault.NeedsPersonf("stack %s is DELETE_FAILED (%s): a person must remove what blocks the deletion (see the stack events), then delete the stack; the onboarder recreates it afterwards", where, obs.Reason)
		case stack.StateReview:
			return fault.NeedsPersonf("stack %s is REVIEW_IN_PROGRESS: a change set awaits execution or deletion by a person", where)
		}
		if err := r.wait(ctx, m.CloudFormation, obs.ID, name); err != nil {
			return fmt.Errorf("wait for stack %s: %w", where, err)
		}
	}
	return fault.Transientf("stack %s still changing after %d steps: retry later", where, config.DefaultMaxReconcileSteps)
}

// awsRegion is the AWS region of the stack: the configured Cloud One region, or the key's.
func (r *Reconciler) awsRegion(ctx context.Context, creds secret.Credentials) (string, error) {
	c1 := r.Cfg.CloudOneRegion
	if c1 == "" {
		k, err := r.CloudOne.Describe(ctx, creds.APIKey)
		if err != nil {
			return "", err
		}
		c1 = k.Region
	}
	region, err := cloudone.AWSRegion(c1)
	if err != nil {
		return "", fault.Permanentf("ONBOARDER_CLOUDONE_REGION: %w", err)
	}
	return region, nil
}

// desire resolves the trail and builds the desired stack, once per reconcile.
func (r *Reconciler) desire(ctx context.Context, m Member, res *Result, obs stack.Observed, creds secret.Credentials, cached *stack.Desired) (*stack.Desired, error) {
	if cached != nil {
		return cached, nil
	}
	in := trail.Input{Account: res.Account, Region: res.Region, Mode: r.Cfg.TrailMode, DryRun: r.Cfg.DryRun}
	if obs.Exists && stack.Classify(obs) == stack.StateComplete {
		if obs.Params[stack.ParamCreateNew] == "True" {
			in.CurrentNew = obs.Managed() || r.Cfg.AdoptExisting
		} else {
			in.CurrentBucket = obs.Params[stack.ParamBucket]
		}
	}
	ch, err := trail.Resolve(ctx, m.Trails, in)
	res.Trail = &ch
	if err != nil {
		return nil, err
	}
	if ch.Restarted {
		if r.Cfg.DryRun {
			res.Steps = append(res.Steps, Step{Action: ActionStartLogging, Detail: "would start logging on trail " + ch.TrailName})
		} else {
			r.did(ctx, res, ActionStartLogging, ch.Why)
		}
	}
	createNew, bucket := "False", ch.Bucket
	if ch.CreateNewTrail {
		createNew, bucket = "True", ""
	}
	return &stack.Desired{
		Name:        r.Cfg.StackName,
		TemplateURL: r.Cfg.TemplateURL,
		Params: map[string]string{
			stack.ParamCreateNew:     createNew,
			stack.ParamBucket:        bucket,
			stack.ParamQSS3Bucket:    r.Cfg.QSS3BucketName,
			stack.ParamQSS3KeyPrefix: r.Cfg.QSS3KeyPrefix,
		},
		Creds: creds,
	}, nil
}

// changes lists what differs between the stack and the desired state; secrets are masked
// and their change is told by the secret's version id.
func changes(obs stack.Observed, d stack.Desired) []Change {
	var out []Change
	for _, k := range []string{stack.ParamCreateNew, stack.ParamBucket, stack.ParamQSS3Bucket, stack.ParamQSS3KeyPrefix} {
		before, ok := obs.Params[k]
		if before != d.Params[k] || (obs.Exists && !ok) {
			out = append(out, Change{Parameter: k, Before: before, After: d.Params[k]})
		}
	}
	if before := obs.Tags[stack.TagSecretVersion]; before != d.Creds.VersionID {
		b := ""
		if obs.Exists {
			b = stack.Masked + " (secret version " + orNone(before) + ")"
		}
		out = append(out, Change{Parameter: stack.ParamAPIKey + ", " + stack.ParamServiceToken, Before: b, After: stack.Masked + " (secret version " + d.Creds.VersionID + ")"})
	}
	if obs.Exists && len(out) == 0 && obs.Tags[stack.TagFingerprint] != d.Fingerprint() {
		out = append(out, Change{Parameter: "template", Before: "(other template or settings)", After: d.TemplateURL})
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func describeChanges(cs []Change) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s %q -> %q", c.Parameter, c.Before, c.After))
	}
	return strings.Join(parts, ", ")
}

// plan records the decision. In a dry run it reports it and says to stop (true).
func (r *Reconciler) plan(res *Result, a Action, why string) bool {
	if res.Action == ActionNone || res.Action == ActionStartLogging || res.Action == ActionWait {
		res.Action = a
	}
	res.Reason = why
	if r.Cfg.DryRun {
		res.Steps = append(res.Steps, Step{Action: a, Detail: "dry run: would " + why})
		return true
	}
	return false
}

// note records a step that changed nothing.
func (r *Reconciler) note(res *Result, a Action, detail string) {
	res.Steps = append(res.Steps, Step{Action: a, Detail: detail})
	if res.Action == ActionNone {
		res.Action = a
	}
}

// did records and logs a change made.
func (r *Reconciler) did(ctx context.Context, res *Result, a Action, detail string) {
	res.Steps = append(res.Steps, Step{Action: a, Detail: detail})
	if res.Action == ActionNone || res.Action == ActionWait {
		res.Action = a
	}
	if res.Reason == "" {
		res.Reason = detail
	}
	r.logger().LogAttrs(ctx, slog.LevelInfo, "stack change",
		slog.String("account", res.Account), slog.String("region", res.Region),
		slog.String("action", string(a)), slog.String("outcome", "done"), slog.String("detail", detail))
}

func (r *Reconciler) logger() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// wait waits, with the SDK's stack waiter, until the stack is no longer in progress, within
// the deadline of ctx less the margin. Out of time, the error is transient: the message goes
// back to the queue and a later receive decides again.
func (r *Reconciler) wait(ctx context.Context, api CloudFormationAPI, id, name string) error {
	budget := defaultBudget
	if dl, ok := ctx.Deadline(); ok {
		budget = time.Until(dl) - r.Cfg.WaitMargin
	}
	minDelay := max(r.Cfg.WaitMinDelay, time.Millisecond)
	if budget < minDelay {
		return fault.Transientf("no time left in this invocation to wait: retry later")
	}
	ref := id
	if ref == "" {
		ref = name
	}
	w := cloudformation.NewStackCreateCompleteWaiter(api, func(o *cloudformation.StackCreateCompleteWaiterOptions) {
		o.MinDelay = minDelay
		o.MaxDelay = max(minDelay, time.Minute)
		o.Retryable = whileInProgress
	})
	if err := w.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(ref)}, budget); err != nil {
		if ctx.Err() == nil && strings.Contains(err.Error(), "exceeded max wait time") {
			return fault.Transientf("still in progress after %s: retry later", budget.Round(time.Second))
		}
		return err
	}
	return nil
}

// whileInProgress is the waiter's retry rule: go on while the status ends in _IN_PROGRESS;
// any settled status (or a stack gone after a delete) ends the wait, and the reconcile
// decides again on what it sees.
func whileInProgress(ctx context.Context, in *cloudformation.DescribeStacksInput, out *cloudformation.DescribeStacksOutput, err error) (bool, error) {
	if err != nil {
		if stack.NotFound(err) {
			return false, nil
		}
		return false, err
	}
	if out == nil || len(out.Stacks) == 0 {
		return false, nil
	}
	return stack.Classify(stack.Observed{Exists: true, Status: out.Stacks[0].StackStatus}) == stack.StateInProgress, nil
}

// finish stamps the reason, writes the ledger (not in a dry run) and logs the decision.
func (r *Reconciler) finish(ctx context.Context, req queue.Request, res *Result, creds secret.Credentials) {
	if res.Reason == "" {
		res.Reason = string(res.Action)
	}
	if r.Ledger != nil && !res.DryRun && res.Region != "" {
		e := ledger.Entry{
			Account: res.Account, Region: res.Region, StackName: res.StackName, StackStatus: res.StatusAfter,
			Managed:   res.Managed || res.Action == ActionCreate || res.Action == ActionRecreate || (r.Cfg.AdoptExisting && res.Action == ActionUpdate),
			TrailMode: string(r.Cfg.TrailMode), Action: string(res.Action), Class: string(res.Class), Reason: res.Reason,
			UpdatedAt: r.now().UTC(),
		}
		if t := res.Trail; t != nil {
			e.CreateNewTrail, e.TrailARN, e.TrailName, e.TrailHomeRegion, e.Bucket = t.CreateNewTrail, t.TrailARN, t.TrailName, t.HomeRegion, t.Bucket
		}
		if !res.Changed() && r.ledgerHolds(ctx, req, e) {
			// Nothing was changed and the entry already says this: it stays as it is, and
			// keeps saying what the onboarder last changed and when.
		} else if err := r.Ledger.Put(ctx, e); err != nil && res.Class == fault.None {
			r.fail(res, fault.Transientf("reconciled, but %v: retrying so that the trail guard sees this account's trail", err), creds)
		}
	}
	if res.Err != nil {
		res.Err = scrub(res.Err, creds)
		res.Error = res.Err.Error()
	}
}

// ledgerHolds reports whether the stored entry records the same state as e: by the digest
// the request carries (the sweep and the trail guard read the entry), else by reading it,
// which costs the GetItem that the PutItem it spares would have cost. When in doubt, false.
func (r *Reconciler) ledgerHolds(ctx context.Context, req queue.Request, e ledger.Entry) bool {
	if req.LedgerDigest != "" {
		return req.LedgerDigest == e.Digest()
	}
	g, ok := r.Ledger.(interface {
		Get(ctx context.Context, account string) (ledger.Entry, bool, error)
	})
	if !ok {
		return false
	}
	stored, found, err := g.Get(ctx, e.Account)
	return err == nil && found && stored.Digest() == e.Digest()
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Digests reads the whole ledger once and returns the digest of each account's entry, for
// work over many accounts (onboarder reconcile --all does what the sweep Lambda does): set as
// Request.LedgerDigest, it spares the rewrite of every entry that did not change. Without a
// ledger that can be read it returns nil, and every entry is written.
func (r *Reconciler) Digests(ctx context.Context) map[string]string {
	all, ok := r.Ledger.(interface {
		All(ctx context.Context) (map[string]ledger.Entry, error)
	})
	if !ok || r.Cfg.DryRun {
		return nil
	}
	entries, err := all.All(ctx)
	if err != nil {
		r.logger().WarnContext(ctx, "ledger not read: every entry will be rewritten", "error", err.Error())
		return nil
	}
	out := make(map[string]string, len(entries))
	for a, e := range entries {
		out[a] = e.Digest()
	}
	return out
}
