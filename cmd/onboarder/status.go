package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/olekukonko/tablewriter"
	"github.com/spf13/cobra"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/crossaccount"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secretstore"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
)

// statusRow is one account in `onboarder status`, and one object of its --json output.
type statusRow struct {
	Account     string `json:"account"`
	Name        string `json:"name"`
	OU          string `json:"ou"`
	OUName      string `json:"ouName"`
	Region      string `json:"region"`
	StackStatus string `json:"stackStatus"`          // ABSENT when there is no stack
	TrailMode   string `json:"trailMode,omitempty"`  // new (the stack's own trail) or existing
	Bucket      string `json:"bucket,omitempty"`     // the bucket the stack forwards (existing)
	Forwarding  string `json:"forwarding,omitempty"` // logging, stopped, no-trail, own-trail
	TrailName   string `json:"trailName,omitempty"`  // the trail writing to the bucket
	Managed     bool   `json:"managed"`
	Template    string `json:"template,omitempty"`   // the template the onboarder last wrote the stack with (its tag)
	LastUpdate  string `json:"lastUpdate,omitempty"` // RFC3339
	LastAction  string `json:"lastAction,omitempty"` // the ledger's action, or "stack" when from the stack
	// Class and Reason: the ledger's last failure (needs-person, permanent, transient), with
	// its reason (for the onboarder's own write that rolled back: the resource that failed).
	Class  string `json:"class,omitempty"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
	// Offboard is set for an account that left the scope and was offboarded (the ledger's
	// record: why, a queue.Offboard* code), with what it left behind, in the account and in
	// Cloud One. Such a row comes from the ledger only.
	Offboard string `json:"offboard,omitempty"`
	Left     string `json:"left,omitempty"`
}

func (a *app) statusCmd() *cobra.Command {
	var (
		asJSON      bool
		accounts    []string
		concurrency int
	)
	cmd := &cobra.Command{
		Use:   "status [--json] [--account ID ...]",
		Short: "Show the in-scope accounts: stack, trail, forwarding, managed, last update",
		Long: `status shows one row per in-scope account of the organization (or per --account):
  ACCOUNT, NAME, OU    from AWS Organizations
  STACK                the onboarding stack's status in the mapped AWS region (ABSENT: none)
  TRAIL, BUCKET        the stack's trail mode: "new" (CreateNewTrail True, the stack's own
                       trail) or "existing" and the bucket it forwards (ExistingCloudtrailBucketName)
  FORWARDING           "logging" when a trail writes to that bucket and logs, "STOPPED",
                       "NO TRAIL", or "own trail" (counted below the table: in a Control Tower
                       landing zone that trail is a second, billed copy of management events)
  TEMPLATE             the template the onboarder last wrote the stack with (the end of its
                       URL; --json has it whole), during a rollout the old or the new version
  MANAGED              "yes" when the stack carries the cloudone-onboarder:managed tag
  LAST UPDATE          the last change the onboarder made, or its last failure, and when
                       (the ledger, ONBOARDER_LEDGER_TABLE); without a ledger, the stack's
                       last update or creation time
Below the table, the accounts whose last reconcile failed, with the reason (a stack write of
the onboarder's that rolled back names the resource that failed, and waits for a person:
fix the cause, then onboarder reconcile --account ID --retry-failed); then the accounts
offboarded after they left the scope (closed, removed, moved out, excluded: the ledger's
record, ONBOARDER_OFFBOARD), with what they left in the account and in Cloud One.
Member accounts are read through the execution role, --concurrency at a time.
With --json it prints a JSON array of objects, one per account.

Exit codes: 0 every account was read, 1 an account or a call failed, 2 usage error.`,
		Example: "  onboarder status\n  onboarder status --json --account 012345678901",
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			ids, err := accountIDs(accounts, args)
			if err != nil {
				return err
			}
			if concurrency < 1 {
				return usageErrorf("--concurrency %d: must be at least 1", concurrency)
			}
			return a.status(cmd.Context(), ids, asJSON, concurrency)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	cmd.Flags().StringSliceVar(&accounts, "account", nil, "only this account `ID` (repeatable, or comma separated; default: every in-scope account)")
	cmd.Flags().IntVar(&concurrency, "concurrency", 8, "accounts read at the same time")
	return cmd
}

// env is what commands that look at member accounts share.
type env struct {
	cfg    config.Config
	awsCfg aws.Config
	scope  *scope
	region string // the AWS region of the stacks
	creds  secret.Credentials
}

// ledger is the ledger table, or nil when ONBOARDER_LEDGER_TABLE is not set.
func (e *env) ledger() summaries {
	if e.cfg.LedgerTable == "" {
		return nil
	}
	return &ledger.Table{DB: dynamodb.NewFromConfig(e.awsCfg), Name: e.cfg.LedgerTable}
}

// setup reads and checks the configuration, loads AWS, and resolves the stacks' region
// (ONBOARDER_CLOUDONE_REGION, else the API key's).
func (a *app) setup(ctx context.Context, needRegion bool) (*env, error) {
	cfg, err := a.config(true)
	if err != nil {
		return nil, err
	}
	awsCfg, err := a.aws(ctx)
	if err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, awsCfg: awsCfg, scope: newScope(organizations.NewFromConfig(awsCfg), cfg)}
	if !needRegion {
		return e, nil
	}
	c1 := cfg.CloudOneRegion
	if c1 == "" {
		store := &secretstore.Store{API: secretsmanager.NewFromConfig(awsCfg), ARN: cfg.SecretARN, TTL: cfg.SecretCacheTTL}
		if e.creds, err = store.Get(ctx); err != nil {
			return nil, err
		}
		key, err := (&cloudone.Client{BaseURL: cfg.AccountsURL}).Describe(ctx, e.creds.APIKey)
		if err != nil {
			return nil, scrubErr(err, e.creds)
		}
		c1 = key.Region
	}
	if e.region, err = cloudone.AWSRegion(c1); err != nil {
		return nil, err
	}
	return e, nil
}

// targets selects the accounts: the named ones, or every account, by the scope rules.
func (e *env) targets(ctx context.Context, ids []string) ([]target, []outOfScope, error) {
	return e.scope.accounts(ctx, ids, len(ids) == 0)
}

func (a *app) status(ctx context.Context, ids []string, asJSON bool, concurrency int) error {
	e, err := a.setup(ctx, true)
	if err != nil {
		return err
	}
	targets, skipped, err := e.targets(ctx, ids)
	if err != nil {
		return err
	}
	var entries map[string]ledger.Entry
	var ledgerErr error
	if e.cfg.LedgerTable != "" {
		entries, ledgerErr = (&ledger.Table{DB: dynamodb.NewFromConfig(e.awsCfg), Name: e.cfg.LedgerTable}).All(ctx)
	}
	as := &crossaccount.Assumer{Base: e.awsCfg, RoleARN: func(acc string) string { return e.cfg.ExecutionRoleARN("aws", acc) }, SessionName: e.cfg.SessionName}
	rows := make([]statusRow, len(targets))
	forEach(ctx, len(targets), concurrency, func(ctx context.Context, i int) {
		rows[i] = e.statusOf(ctx, as, targets[i], entries)
	})
	rows = append(rows, offboardedRows(entries, targets, ids)...)

	failed := ledgerErr != nil
	for _, r := range rows {
		failed = failed || r.Error != ""
	}
	for _, s := range skipped {
		failed = failed || s.Failed
	}
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []statusRow{}
		}
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else {
		if err := renderStatus(a, rows); err != nil {
			return err
		}
		for _, r := range rows {
			if r.Error != "" {
				fmt.Fprintf(a.stdout, "%s: %s\n", r.Account, r.Error)
			}
		}
	}
	// Accounts left out go to stderr: stdout stays a table or a JSON array.
	for _, s := range skipped {
		prefix := "not in scope"
		if s.Failed {
			prefix = "error"
		}
		fmt.Fprintf(a.stderr, "%s: %s %s: %s\n", prefix, s.ID, s.Name, s.Why)
	}
	if ledgerErr != nil {
		fmt.Fprintf(a.stderr, "error: %v (LAST UPDATE shows the stacks' times)\n", ledgerErr)
	}
	if failed {
		return exitWith(exitFailure)
	}
	return nil
}

// offboardedRows are the ledger's offboarded accounts that are not in scope now (among ids,
// when given), sorted by account.
func offboardedRows(entries map[string]ledger.Entry, targets []target, ids []string) []statusRow {
	in := map[string]bool{}
	for _, t := range targets {
		in[t.ID] = true
	}
	var out []statusRow
	for id, en := range entries {
		if en.Offboard == "" || in[id] || (len(ids) > 0 && !slices.Contains(ids, id)) {
			continue
		}
		out = append(out, statusRow{Account: id, Region: en.Region, StackStatus: en.StackStatus, Managed: en.Managed,
			LastUpdate: en.UpdatedAt.UTC().Format(time.RFC3339), LastAction: en.Action, Offboard: en.Offboard, Left: en.Left,
			Class: map[bool]string{true: en.Class}[en.Class != "" && en.Class != "none"], Reason: en.Reason})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Account < out[j].Account })
	return out
}

func renderStatus(a *app, all []statusRow) error {
	var rows, offboarded []statusRow
	for _, r := range all {
		if r.Offboard != "" {
			offboarded = append(offboarded, r)
		} else {
			rows = append(rows, r)
		}
	}
	t := tablewriter.NewWriter(a.stdout)
	t.Header("Account", "Name", "OU", "Stack", "Template", "Trail", "Bucket", "Forwarding", "Managed", "Last update")
	for _, r := range rows {
		managed := "no"
		switch {
		case r.Managed:
			managed = "yes"
		case r.StackStatus == "ABSENT" || r.Error != "":
			managed = "-"
		}
		last := r.LastUpdate
		if t, err := time.Parse(time.RFC3339, last); err == nil {
			last = t.UTC().Format("2006-01-02 15:04 UTC")
		}
		if r.LastAction != "" {
			last += " " + r.LastAction
		}
		stackCol := r.StackStatus
		if r.Error != "" {
			stackCol = "ERROR"
		}
		fwd := r.Forwarding
		if r.TrailName != "" {
			fwd += " (" + r.TrailName + ")"
		}
		if err := t.Append(r.Account, r.Name, r.OUName, stackCol, dash(templateLabel(r.Template)), dash(r.TrailMode), dash(r.Bucket), dash(fwd), managed, dash(last)); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	own := 0
	for _, r := range rows {
		if r.TrailMode == "new" {
			own++
		}
	}
	if own > 0 {
		// CloudTrail delivers the first copy of management events free and bills each further
		// copy (https://aws.amazon.com/cloudtrail/pricing/); in a Control Tower landing zone the
		// organization trail is the first copy.
		fmt.Fprintf(a.stdout, "\nCost: %d of %d accounts forward through the stack's own trail (CreateNewTrail True): a second,\n"+
			"billed copy of their management events where the organization trail already records them,\n"+
			"$2.00 per 100,000 events (CloudTrail pricing). See docs/DEPLOY.md, section 10.\n", own, len(rows))
	}
	var failing []statusRow
	for _, r := range rows {
		if r.Class != "" {
			failing = append(failing, r)
		}
	}
	if len(failing) > 0 {
		fmt.Fprintf(a.stdout, "\nLast reconcile failed (%d):\n", len(failing))
		for _, r := range failing {
			fmt.Fprintf(a.stdout, "  %s %s [%s]: %s\n", r.Account, r.Name, r.Class, scrubText(r.Reason))
		}
	}
	if len(offboarded) > 0 {
		fmt.Fprintf(a.stdout, "\nOffboarded, out of scope (%d):\n", len(offboarded))
		for _, r := range offboarded {
			last := r.LastUpdate
			if t, err := time.Parse(time.RFC3339, last); err == nil {
				last = t.UTC().Format("2006-01-02 15:04 UTC")
			}
			class := ""
			if r.Class != "" {
				class = " [" + r.Class + "]"
			}
			fmt.Fprintf(a.stdout, "  %s %s (%s), %s%s: stack %s\n", r.Account, r.Offboard, last, r.LastAction, class, dash(r.StackStatus))
			if r.Class != "" {
				fmt.Fprintf(a.stdout, "    %s\n", scrubText(r.Reason))
			}
			if r.Left != "" {
				fmt.Fprintf(a.stdout, "    left: %s\n", scrubText(r.Left))
			}
		}
	}
	return nil
}

// templateLabel shortens a template URL for the table: its path, at most 32 characters (the
// end, where the version and the file name are).
func templateLabel(url string) string {
	if i := strings.Index(url, "://"); i >= 0 {
		url = url[i+3:]
		if j := strings.Index(url, "/"); j >= 0 {
			url = url[j+1:]
		}
	}
	if r := []rune(url); len(r) > 32 {
		return "…" + string(r[len(r)-31:])
	}
	return url
}

// scrubText keeps a reason to one line.
func scrubText(s string) string { return oneLine(errors.New(s)) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// describeRecorder keeps the DescribeStacks answer that stack.Describe reads, for the times.
type describeRecorder struct {
	api stack.DescribeAPI
	mu  sync.Mutex
	out *cloudformation.DescribeStacksOutput
}

func (d *describeRecorder) DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	out, err := d.api.DescribeStacks(ctx, in, optFns...)
	d.mu.Lock()
	d.out = out
	d.mu.Unlock()
	return out, err
}

// statusOf reads one account. Errors end in the row.
func (e *env) statusOf(ctx context.Context, as *crossaccount.Assumer, t target, entries map[string]ledger.Entry) statusRow {
	row := statusRow{Account: t.ID, Name: t.Name, Region: e.region}
	fail := func(err error) statusRow {
		row.Error = oneLine(scrubErr(err, e.creds))
		return row
	}
	var err error
	if row.OU, row.OUName, err = e.scope.ou(ctx, t.ID); err != nil {
		return fail(err)
	}
	if en, ok := entries[t.ID]; ok {
		row.LastUpdate, row.LastAction = en.UpdatedAt.UTC().Format(time.RFC3339), en.Action
		if en.Class != "" && en.Class != "none" {
			row.Class, row.Reason = en.Class, en.Reason
		}
	}
	mcfg, err := as.Config(ctx, t.ID, e.region)
	if err != nil {
		return fail(err)
	}
	rec := &describeRecorder{api: cloudformation.NewFromConfig(mcfg)}
	obs, err := stack.Describe(ctx, rec, e.cfg.StackName)
	if err != nil {
		return fail(fmt.Errorf("describe stack %s in %s/%s: %w", e.cfg.StackName, t.ID, e.region, err))
	}
	if !obs.Exists {
		row.StackStatus = "ABSENT"
		return row
	}
	row.StackStatus, row.Managed, row.Template = string(obs.Status), obs.Managed(), obs.Tags[stack.TagTemplate]
	if row.LastUpdate == "" && rec.out != nil && len(rec.out.Stacks) > 0 {
		s := rec.out.Stacks[0]
		when := s.LastUpdatedTime
		if when == nil {
			when = s.CreationTime
		}
		if when != nil {
			row.LastUpdate, row.LastAction = when.UTC().Format(time.RFC3339), "(stack)"
		}
	}
	switch {
	case obs.Params[stack.ParamCreateNew] == "True":
		row.TrailMode, row.Forwarding = "new", "own trail"
	case obs.Params[stack.ParamCreateNew] == "False":
		row.TrailMode, row.Bucket = "existing", obs.Params[stack.ParamBucket]
		row.Forwarding, row.TrailName, err = forwarding(ctx, mcfg, e.region, row.Bucket)
		if err != nil {
			return fail(fmt.Errorf("forwarding health in %s/%s: %w", t.ID, e.region, err))
		}
	}
	return row
}

// forwarding tells whether a trail that covers region writes to bucket and is logging.
func forwarding(ctx context.Context, mcfg aws.Config, region, bucket string) (health, trailName string, err error) {
	if bucket == "" {
		return "NO BUCKET", "", nil
	}
	ct := cloudtrail.NewFromConfig(mcfg, func(o *cloudtrail.Options) { o.Region = region })
	out, err := ct.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
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
		api := cloudtrail.NewFromConfig(mcfg, func(o *cloudtrail.Options) { o.Region = home })
		st, err := api.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: tr.TrailARN})
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
