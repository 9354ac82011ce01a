package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/crossaccount"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/target"
)

// Planner dry-runs a reconcile request: the worker's reconciler with DryRun set, whose ledger,
// rollout and start slots cannot be written (New wires it so).
type Planner interface {
	Reconcile(ctx context.Context, req queue.Request) reconcile.Result
}

// CloudFormationAPI is the part of a member account's CloudFormation the answers read.
type CloudFormationAPI interface {
	stack.DescribeAPI
	stack.SummaryAPI
}

// TrailAPI is the part of a member account's CloudTrail status reads.
type TrailAPI interface {
	DescribeTrails(ctx context.Context, in *cloudtrail.DescribeTrailsInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.DescribeTrailsOutput, error)
	GetTrailStatus(ctx context.Context, in *cloudtrail.GetTrailStatusInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.GetTrailStatusOutput, error)
}

// IdentityAPI tells whose credentials a member configuration holds.
type IdentityAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Member is a member account's clients in the stacks' region, opened with a role.
type Member struct {
	CloudFormation CloudFormationAPI
	CloudTrail     func(region string) TrailAPI
	Identity       IdentityAPI
}

// Members opens member accounts with one role (AWSMembers: the execution role, or the
// fallback role).
type Members interface {
	Member(ctx context.Context, account, region string) (Member, error)
}

// Handler answers operator requests. Its fields are its dependencies; New wires the real ones.
type Handler struct {
	Cfg       config.Config
	ConfigErr error // the worker's configuration is invalid: only config is answered

	Planner  Planner
	Secrets  reconcile.Secrets      // the worker's cached secret: the stacks' region
	CloudOne reconcile.KeyDescriber // the worker's cached key lookups
	// FreshSecrets and FreshCloudOne give a store and a client without a cache, for check: a
	// rotated secret or a revoked key shows at once. nil: Secrets and CloudOne.
	FreshSecrets  func() reconcile.Secrets
	FreshCloudOne func() reconcile.KeyDescriber
	Members       Members // the execution role
	Fallback      Members // ONBOARDER_FALLBACK_ROLE_NAME; nil: none
	// VisionOne is the Vision One target, read only, for what check says of its kept
	// templates; nil for Cloud One.
	VisionOne *target.VisionOne

	Log *slog.Logger
	// Parallel bounds the accounts worked on at once (default 10, as a batch of the queue);
	// Margin is the time kept free before the invocation's deadline: an account not started
	// by then is Deferred (default 15 s).
	Parallel int
	Margin   time.Duration
}

// Serve answers one request. It never panics and never writes; the answer carries no secret.
func (h *Handler) Serve(ctx context.Context, req Request) Response {
	start := time.Now()
	seen := &seenCreds{}
	resp := seen.scrub(h.serve(ctx, req, seen))
	h.log().InfoContext(ctx, "operator", "op", req.Op, "accounts", len(req.Accounts)+len(req.Requests),
		"deferred", len(resp.Deferred), "outcome", map[bool]string{true: "failed", false: "answered"}[resp.Error != ""],
		"reason", resp.Error, "duration_ms", time.Since(start).Milliseconds())
	return resp
}

// serve is Serve's work, a panic turned into an answer.
func (h *Handler) serve(ctx context.Context, req Request, seen *seenCreds) (resp Response) {
	defer func() {
		if p := recover(); p != nil {
			resp = Response{Op: req.Op, Error: fmt.Sprintf("internal error: %v", p)}
		}
	}()
	resp.Op = req.Op
	if req.Op == OpConfig {
		cfg := h.Cfg
		resp.Config = &cfg
		if h.ConfigErr != nil {
			resp.ConfigError = h.ConfigErr.Error()
		}
		return resp
	}
	if h.ConfigErr != nil {
		resp.Error = "the reconcile function's configuration is invalid: " + oneLine(h.ConfigErr.Error())
		return resp
	}
	if n := len(req.Accounts) + len(req.Requests); n > maxAccounts {
		resp.Error = fmt.Sprintf("%d accounts in one request: at most %d (send chunks of %d)", n, maxAccounts, ChunkSize)
		return resp
	}
	// Every answer is scrubbed of the secret the worker holds, whether or not this request
	// read it: a text from an account or a stack may quote it (Trend's template puts the key
	// in member accounts, docs/SECURITY.md).
	seen.add(ctx, h.Secrets)
	switch req.Op {
	case OpPlan:
		resp.Plans, resp.Deferred, resp.Error = h.plan(ctx, req.Requests, seen)
	case OpStatus:
		resp.Stacks, resp.Deferred, resp.Error = h.status(ctx, req.Accounts, seen)
	case OpCheck:
		resp.Checks, resp.Error = h.check(ctx, req, seen)
	default:
		resp.Error = fmt.Sprintf("op %q: must be one of %s, %s, %s, %s", clip(req.Op), OpConfig, OpPlan, OpStatus, OpCheck)
	}
	return resp
}

// plan dry-runs each request.
func (h *Handler) plan(ctx context.Context, reqs []queue.Request, seen *seenCreds) ([]reconcile.Result, []string, string) {
	for i, r := range reqs {
		if err := r.Validate(); err != nil {
			return nil, nil, fmt.Sprintf("requests[%d]: %s", i, oneLine(err.Error()))
		}
	}
	out := make([]reconcile.Result, len(reqs))
	done := h.each(ctx, len(reqs), func(ctx context.Context, i int) {
		res := h.Planner.Reconcile(ctx, reqs[i])
		res.Err = nil // Error carries its text
		out[i] = res
	})
	var plans []reconcile.Result
	var deferred []string
	for i, ok := range done {
		if ok {
			plans = append(plans, out[i])
		} else {
			deferred = append(deferred, reqs[i].Account)
		}
	}
	seen.add(ctx, h.Secrets)
	return plans, deferred, ""
}

// status reads each account's stack and forwarding.
func (h *Handler) status(ctx context.Context, accounts []string, seen *seenCreds) ([]Stack, []string, string) {
	for _, a := range accounts {
		if err := config.ValidateAccountID(a); err != nil {
			return nil, nil, "accounts: " + err.Error()
		}
	}
	region, err := h.region(ctx, h.Secrets, h.CloudOne, seen)
	if err != nil {
		return nil, nil, "the stacks' region: " + oneLine(err.Error())
	}
	out := make([]Stack, len(accounts))
	done := h.each(ctx, len(accounts), func(ctx context.Context, i int) {
		out[i] = h.stackOf(ctx, accounts[i], region)
	})
	var stacks []Stack
	var deferred []string
	for i, ok := range done {
		if ok {
			stacks = append(stacks, out[i])
		} else {
			deferred = append(deferred, accounts[i])
		}
	}
	return stacks, deferred, ""
}

// region is the stacks' AWS region: the Vision One target's ONBOARDER_STACK_REGION; for Cloud
// One, ONBOARDER_CLOUDONE_REGION's, else the API key's.
func (h *Handler) region(ctx context.Context, s reconcile.Secrets, c1 reconcile.KeyDescriber, seen *seenCreds) (string, error) {
	if h.Cfg.Target == config.TargetVisionOne {
		return h.Cfg.StackRegion, nil
	}
	if h.Cfg.CloudOneRegion != "" {
		return cloudone.AWSRegion(h.Cfg.CloudOneRegion)
	}
	creds, err := s.Get(ctx)
	if err != nil {
		return "", err
	}
	seen.keep(creds)
	key, err := c1.Describe(ctx, creds.APIKey)
	if err != nil {
		return "", err
	}
	return cloudone.AWSRegion(key.Region)
}

// open opens the account with the execution role, or with the fallback role where the
// execution role is denied; via names the fallback role when it was used.
func (h *Handler) open(ctx context.Context, account, region string) (m Member, via string, err error) {
	m, err = h.Members.Member(ctx, account, region)
	var denied *crossaccount.DeniedError
	if err != nil && h.Fallback != nil && errors.As(err, &denied) {
		fm, ferr := h.Fallback.Member(ctx, account, region)
		if ferr == nil {
			return fm, h.Cfg.FallbackRoleName, nil
		}
		return m, "", fmt.Errorf("%w; the fallback role too: %v", err, ferr)
	}
	return m, "", err
}

// stackOf reads one account's stack and, for a stack that forwards an existing trail,
// whether a trail writes to its bucket and logs. Errors end in the row.
func (h *Handler) stackOf(ctx context.Context, account, region string) Stack {
	st := Stack{Account: account, Region: region}
	if h.Cfg.Excluded(account) {
		st.Error = "excluded (ONBOARDER_EXCLUDE_ACCOUNTS): the onboarder never reads it"
		return st
	}
	m, via, err := h.open(ctx, account, region)
	if err != nil {
		st.Error = oneLine(err.Error())
		return st
	}
	st.Via = via
	obs, err := stack.Describe(ctx, m.CloudFormation, h.Cfg.StackName)
	if err != nil {
		st.Error = fmt.Sprintf("describe stack %s in %s/%s: %s", h.Cfg.StackName, account, region, oneLine(err.Error()))
		return st
	}
	if !obs.Exists {
		st.StackStatus = "ABSENT"
		return st
	}
	st.StackStatus, st.Managed, st.Template = string(obs.Status), obs.Managed(), obs.Tags[stack.TagTemplate]
	when := obs.LastUpdated
	if when.IsZero() {
		when = obs.Created
	}
	if !when.IsZero() {
		st.LastUpdated = when.UTC().Format(time.RFC3339)
	}
	if h.Cfg.Target == config.TargetVisionOne {
		if err := h.visionOneTrail(ctx, m, &st, obs, account, region); err != nil {
			st.Error = fmt.Sprintf("forwarding health in %s/%s: %s", account, region, oneLine(err.Error()))
		}
		return st
	}
	switch obs.Params[stack.ParamCreateNew] {
	case "True":
		st.TrailMode, st.Forwarding = "new", "own trail"
	case "False":
		st.TrailMode, st.Bucket = "existing", obs.Params[stack.ParamBucket]
		st.Forwarding, st.TrailName, err = forwarding(ctx, m, region, st.Bucket)
		if err != nil {
			st.Error = fmt.Sprintf("forwarding health in %s/%s: %s", account, region, oneLine(err.Error()))
		}
	}
	return st
}

// visionOneTrail fills the trail columns of a Vision One stack: the trail and topic its
// parameters name, whether that trail is the onboarder's own (the trail stack's output) or an
// existing one, and whether it logs and still notifies the topic Vision One reads.
func (h *Handler) visionOneTrail(ctx context.Context, m Member, st *Stack, obs stack.Observed, account, region string) error {
	trailARN, topic := obs.Params[target.ParamTrailARN], obs.Params[target.ParamTopicARN]
	if trailARN == "" {
		st.Forwarding = "NO TRAIL named by the stack"
		return nil
	}
	st.TrailName = trailARN[strings.LastIndex(trailARN, "/")+1:]
	st.TrailMode = "existing"
	own, err := stack.Describe(ctx, m.CloudFormation, h.Cfg.TrailStackName)
	if err != nil {
		return fmt.Errorf("describe the trail stack %s: %w", h.Cfg.TrailStackName, err)
	}
	if own.Exists && own.Outputs[target.OutputTrailARN] == trailARN {
		st.TrailMode = "new"
	}
	out, err := m.CloudTrail(region).DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("describe trails: %w", err)
	}
	i := slices.IndexFunc(out.TrailList, func(t cttypes.Trail) bool { return aws.ToString(t.TrailARN) == trailARN })
	if i < 0 {
		st.Forwarding = "NO TRAIL: " + st.TrailName + " is gone"
		return nil
	}
	tr := out.TrailList[i]
	status, err := m.CloudTrail(region).GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: tr.TrailARN})
	if err != nil {
		return fmt.Errorf("get status of trail %s: %w", trailARN, err)
	}
	switch {
	case !aws.ToBool(status.IsLogging):
		st.Forwarding = "STOPPED"
	case aws.ToString(tr.SnsTopicARN) != topic:
		st.Forwarding = "NO TOPIC: the trail no longer notifies " + topic
	default:
		st.Forwarding = "logging"
	}
	return nil
}

// forwarding tells whether a trail that covers region writes to bucket and is logging.
func forwarding(ctx context.Context, m Member, region, bucket string) (health, trailName string, err error) {
	if bucket == "" {
		return "NO BUCKET", "", nil
	}
	out, err := m.CloudTrail(region).DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
	if err != nil {
		return "", "", fmt.Errorf("describe trails: %w", err)
	}
	health = "NO TRAIL writes to the bucket"
	for _, tr := range out.TrailList {
		if aws.ToString(tr.S3BucketName) != bucket {
			continue
		}
		home := aws.ToString(tr.HomeRegion)
		if home == "" {
			home = region
		}
		st, err := m.CloudTrail(home).GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: tr.TrailARN})
		if err != nil {
			return "", "", fmt.Errorf("get status of trail %s: %w", aws.ToString(tr.TrailARN), err)
		}
		if aws.ToBool(st.IsLogging) {
			return "logging", aws.ToString(tr.Name), nil
		}
		health, trailName = "STOPPED", aws.ToString(tr.Name)
	}
	return health, trailName, nil
}

// check runs the checks the request names, in order.
func (h *Handler) check(ctx context.Context, req Request, seen *seenCreds) ([]Check, string) {
	want := req.Checks
	if len(want) == 0 {
		want = AllChecks
	}
	for _, c := range want {
		if !slices.Contains(AllChecks, c) {
			return nil, fmt.Sprintf("checks: %q is not one of %s", clip(c), strings.Join(AllChecks, ", "))
		}
	}
	account := ""
	if len(req.Accounts) > 0 {
		account = req.Accounts[0]
		if err := config.ValidateAccountID(account); err != nil {
			return nil, "accounts: " + err.Error()
		}
	}
	secrets, c1 := h.Secrets, h.CloudOne
	if h.FreshSecrets != nil {
		secrets = h.FreshSecrets()
	}
	if h.FreshCloudOne != nil {
		c1 = h.FreshCloudOne()
	}
	var out []Check
	add := func(c Check) {
		if slices.Contains(want, c.Name) {
			out = append(out, c)
		}
	}
	skip := func(name, why string) Check { return Check{Name: name, Skipped: true, Detail: "not checked: " + why} }
	na := func(name, why string) Check {
		return Check{Name: name, OK: true, Skipped: true, Detail: "not applicable: " + why}
	}

	// The secret, and the key's Cloud One region.
	creds, secretErr := secrets.Get(ctx)
	if secretErr != nil {
		add(Check{Name: CheckSecret, Detail: oneLine(secretErr.Error())})
	} else {
		seen.keep(creds)
		add(Check{Name: CheckSecret, OK: true, Detail: fmt.Sprintf("%s: %s present (version %s)", h.Cfg.SecretARN, strings.Join(h.Cfg.SecretFields(), " and "), creds.VersionID)})
	}
	region, regionWhy := "", ""
	if h.Cfg.CloudOneRegion != "" {
		region, _ = cloudone.AWSRegion(h.Cfg.CloudOneRegion) // Validate checked it maps
	}
	visionOne := h.Cfg.Target == config.TargetVisionOne
	if visionOne {
		region = h.Cfg.StackRegion
	}
	switch {
	case visionOne:
		add(na(CheckCloudOne, "the Vision One target uses no Cloud One key (ONBOARDER_TARGET="+config.TargetVisionOne+")"))
	case secretErr != nil:
		add(skip(CheckCloudOne, "the secret could not be read"))
		if region == "" {
			regionWhy = "the secret could not be read, so the Cloud One region is unknown"
		}
	case slices.Contains(want, CheckCloudOne) || region == "":
		key, err := c1.Describe(ctx, creds.APIKey)
		if err != nil {
			add(Check{Name: CheckCloudOne, Detail: oneLine(err.Error())})
			if region == "" {
				regionWhy = "the Cloud One region is unknown (the key was not accepted)"
			}
			break
		}
		keyRegion, _ := cloudone.AWSRegion(key.Region) // Describe checked it maps
		msg := fmt.Sprintf("key %s accepted by %s (Cloud One account %s): region %s, AWS region %s", key.ID, h.Cfg.AccountsURL, key.AccountID, key.Region, keyRegion)
		switch {
		case h.Cfg.CloudOneRegion == "":
			region = keyRegion
			msg += "; stacks go to " + keyRegion
		case h.Cfg.CloudOneRegion == key.Region:
			msg += "; ONBOARDER_CLOUDONE_REGION=" + h.Cfg.CloudOneRegion + " agrees"
		default:
			msg += fmt.Sprintf("; ONBOARDER_CLOUDONE_REGION=%s is set and wins: stacks go to %s (it differs from the key's region)", h.Cfg.CloudOneRegion, region)
		}
		add(Check{Name: CheckCloudOne, OK: true, Detail: msg, Region: region})
	}

	// The roles, in the account.
	var m Member
	var opened bool
	var openErr error
	excluded := account != "" && h.Cfg.Excluded(account)
	role := func(name string, members Members, arn string) {
		switch {
		case account == "":
			add(skip(name, "no account to try: pass --account ID"))
		case excluded:
			add(skip(name, account+" is excluded (ONBOARDER_EXCLUDE_ACCOUNTS): the onboarder never reads it; name another"))
		case region == "":
			add(skip(name, regionWhy))
		default:
			mm, err := members.Member(ctx, account, region)
			if err == nil {
				err = sameAccount(ctx, mm, account, arn)
			}
			if name == CheckRole {
				m, opened, openErr = mm, err == nil, err
			}
			if err != nil {
				add(Check{Name: name, Detail: oneLine(err.Error())})
				return
			}
			add(Check{Name: name, OK: true, Detail: fmt.Sprintf("%s assumed in %s (%s) by the reconcile function", arn, account, region), Region: region})
		}
	}
	if slices.Contains(want, CheckRole) || slices.Contains(want, CheckTemplate) {
		role(CheckRole, h.Members, h.Cfg.ExecutionRoleARN("aws", account))
	}
	if h.Cfg.FallbackRoleName != "" && h.Fallback != nil && slices.Contains(want, CheckFallback) {
		role(CheckFallback, h.Fallback, h.Cfg.FallbackRoleARN("aws", account))
	}

	// The template, read in the account with the execution role, as a stack write reads it,
	// and compared as the worker compares before every write.
	v := rollout.Version{URL: h.Cfg.TemplateURL, Bucket: h.Cfg.QSS3BucketName, Prefix: h.Cfg.QSS3KeyPrefix}
	if req.Template != nil && req.Template.URL != "" {
		v = *req.Template
	}
	if slices.Contains(want, CheckTemplate) {
		switch {
		case visionOne:
			add(h.keptTemplate(ctx, creds, secretErr, v.URL))
		case account == "":
			add(skip(CheckTemplate, "no account to read it in: pass --account ID"))
		case excluded:
			add(skip(CheckTemplate, account+" is excluded (ONBOARDER_EXCLUDE_ACCOUNTS): the onboarder never reads it; name another"))
		case region == "":
			add(skip(CheckTemplate, regionWhy))
		case openErr != nil:
			add(skip(CheckTemplate, "the execution role could not be assumed in "+account))
		default:
			if !opened {
				mm, _, err := h.open(ctx, account, region)
				if err != nil {
					add(skip(CheckTemplate, "the execution role could not be assumed in "+account+": "+oneLine(err.Error())))
					break
				}
				m = mm
			}
			add(templateCheck(ctx, h.Cfg, m.CloudFormation, v, account, region))
		}
	}
	return out, ""
}

// keptTemplate says what the Vision One template kept for version is, without its URL: when it
// was generated, the bucket it is in and Vision One's OIDC provider, the two settings of the
// member StackSet's roles (VisionOneTemplateBucket, VisionOneOidcProvider) that only a
// generated template tells. It never generates one (a generation makes a key in Vision One);
// the worker reads a template's parameters before each write from it.
func (h *Handler) keptTemplate(ctx context.Context, creds secret.Credentials, secretErr error, version string) Check {
	switch {
	case h.VisionOne == nil:
		return Check{Name: CheckTemplate, OK: true, Skipped: true, Detail: "not applicable: Vision One generates the template of each region; the worker reads it before each write"}
	case secretErr != nil:
		return Check{Name: CheckTemplate, Skipped: true, Detail: "not checked: the secret could not be read"}
	}
	k, found, err := h.VisionOne.Kept(ctx, creds, version)
	switch {
	case err != nil:
		return Check{Name: CheckTemplate, Detail: "read the Vision One template kept for " + version + ": " + oneLine(err.Error())}
	case !found:
		return Check{Name: CheckTemplate, OK: true, Region: h.Cfg.StackRegion, Detail: fmt.Sprintf("no template kept for %s yet: the first stack write generates one (Vision One makes a key for each); "+
			"validate again then to read its bucket and Vision One's OIDC provider, which the member StackSet's VisionOneTemplateBucket and VisionOneOidcProvider name", k.Key)}
	}
	detail := fmt.Sprintf("template kept for %s, generated %s (its key expires %s; a new one is generated after %s)", k.Key,
		k.Generated.UTC().Format(time.RFC3339), k.Generated.Add(90*24*time.Hour).UTC().Format("2006-01-02"), h.Cfg.VisionOneTemplateMaxAge)
	if k.Bucket != "" {
		detail += "; in bucket " + k.Bucket + " (the member StackSet's VisionOneTemplateBucket)"
	}
	if k.OIDCProvider != "" {
		detail += "; Vision One's OIDC provider " + k.OIDCProvider + " (VisionOneOidcProvider)"
	}
	return Check{Name: CheckTemplate, OK: true, Region: h.Cfg.StackRegion, Detail: detail}
}

// templateCheck reads the parameters the version's template declares (GetTemplateSummary, in
// the account) and compares them with those a stack write of that version sends
// (stack.TemplateParams.Mismatch, the worker's own check before every write).
func templateCheck(ctx context.Context, cfg config.Config, api stack.SummaryAPI, v rollout.Version, account, region string) Check {
	declared, err := stack.ReadTemplate(ctx, api, v.URL)
	if err != nil {
		return Check{Name: CheckTemplate, Detail: fmt.Sprintf("read the parameters of template %s in %s/%s (GetTemplateSummary): %s", v.URL, account, region, oneLine(err.Error()))}
	}
	desired, err := (&target.CloudOne{Cfg: cfg}).Desired(ctx, target.Input{Account: account, Region: region, Version: v})
	if err != nil {
		return Check{Name: CheckTemplate, Detail: oneLine(err.Error())}
	}
	missing, unknown := declared.Mismatch(desired.ParameterNames())
	if mis := (Mismatch{Missing: missing, Unknown: unknown}); !mis.OK() {
		return Check{Name: CheckTemplate, Detail: v.URL + " " + mis.Error(), Mismatch: &mis, Region: region}
	}
	return Check{Name: CheckTemplate, OK: true, Region: region, Detail: fmt.Sprintf("%s takes the parameters the onboarder sends (%s; read in %s/%s with the execution role)",
		v.URL, strings.Join(desired.ParameterNames(), ", "), account, region)}
}

// sameAccount checks that the member credentials are the account's.
func sameAccount(ctx context.Context, m Member, account, arn string) error {
	id, err := m.Identity.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	switch {
	case err != nil:
		return fmt.Errorf("assumed %s, but GetCallerIdentity failed: %w", arn, err)
	case aws.ToString(id.Account) != account:
		return fmt.Errorf("assumed %s, but the credentials belong to account %s", arn, aws.ToString(id.Account))
	}
	return nil
}

// each runs fn for each index, Parallel at a time, and reports which ran: an index not
// started Margin before the invocation's deadline does not run.
func (h *Handler) each(ctx context.Context, n int, fn func(ctx context.Context, i int)) []bool {
	parallel, margin := h.Parallel, h.Margin
	if parallel <= 0 {
		parallel = 10
	}
	if margin <= 0 {
		margin = 15 * time.Second
	}
	ran := make([]bool, n)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		if dl, ok := ctx.Deadline(); (ok && time.Until(dl) < margin) || ctx.Err() != nil {
			<-sem
			continue
		}
		ran[i] = true
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(ctx, i)
		}()
	}
	wg.Wait()
	return ran
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// seenCreds are the secret values an answer was made with: the answer is scrubbed of them.
type seenCreds struct {
	mu    sync.Mutex
	creds []secret.Credentials
}

func (s *seenCreds) keep(c secret.Credentials) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds = append(s.creds, c)
}

// add keeps the credentials a (cached) store holds, if it can give them.
func (s *seenCreds) add(ctx context.Context, store reconcile.Secrets) {
	if store == nil {
		return
	}
	if c, err := store.Get(ctx); err == nil {
		s.keep(c)
	}
}

// scrub removes every form of the secret values from every text of the answer.
func (s *seenCreds) scrub(resp Response) Response {
	s.mu.Lock()
	creds := append([]secret.Credentials(nil), s.creds...)
	s.mu.Unlock()
	b, err := json.Marshal(resp)
	if err != nil {
		return Response{Op: resp.Op, Error: "the answer could not be encoded"}
	}
	clean := string(b)
	for _, c := range creds {
		clean = c.Scrub(clean) // the worker's one scrubber: every form of every value
	}
	if clean == string(b) {
		return resp
	}
	var out Response
	if err := json.Unmarshal([]byte(clean), &out); err != nil {
		return Response{Op: resp.Op, Error: "the answer held a secret value and could not be cleaned: withheld"}
	}
	return out
}

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
