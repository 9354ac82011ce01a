package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/spf13/cobra"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/operator"
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
	Via         string `json:"via,omitempty"`        // the fallback role the worker read the stack with
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
	// The vendor's own view of the account (Vision One: its state, managed, outdated or
	// failed; what it says is wrong, such as missing AWS permissions; the version of its
	// template the account runs), as the worker last read it (the ledger).
	VendorState           string   `json:"vendorState,omitempty"`
	VendorProblems        []string `json:"vendorProblems,omitempty"`
	VendorTemplateVersion string   `json:"vendorTemplateVersion,omitempty"`
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
                       trail) or "existing" and the bucket it forwards (ExistingCloudtrailBucketName);
                       for Vision One "new" is the onboarder's trail stack, and there is no
                       BUCKET column
  FORWARDING           "logging" when a trail writes to that bucket and logs, "STOPPED",
                       "NO TRAIL", or "own trail" (counted below the table: in a Control Tower
                       landing zone that trail is a second, billed copy of management events);
                       for Vision One, the trail the stack names: "logging", "STOPPED",
                       "NO TRAIL", or "NO TOPIC" when it no longer notifies the stack's topic
  TEMPLATE             the template the onboarder last wrote the stack with (the end of its
                       URL; --json has it whole), during a rollout the old or the new version
  VISION ONE           (the Vision One target) what Vision One says of the account, as the
                       worker last read it: managed, outdated (a rollout fixes it), failed,
                       and the version of Vision One's template it runs; what Vision One says
                       is wrong (failed features, missing AWS permissions) is listed below
  MANAGED              "yes" when the stack carries the cloudone-onboarder:managed tag
  LAST UPDATE          the last change the onboarder made, or its last failure, and when
                       (the ledger, ONBOARDER_LEDGER_TABLE); without a ledger, the stack's
                       last update or creation time
Below the table, the accounts whose last reconcile failed, with the reason (a stack write of
the onboarder's that rolled back names the resource that failed, and waits for a person:
fix the cause, then onboarder reconcile --account ID --retry-failed); then the accounts
offboarded after they left the scope (closed, removed, moved out, excluded: the ledger's
record, ONBOARDER_OFFBOARD), with what they left in the account and in Cloud One.
ACCOUNT, NAME, OU and LAST UPDATE are read with your credentials (Organizations, the
ledger); the live columns are read by the reconcile function, with its execution role, in
chunks of 25 accounts, --concurrency invocations at a time: you need no role in any member
account.
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
	cmd.Flags().IntVar(&concurrency, "concurrency", 4, "invocations of the reconcile function at the same time (25 accounts each)")
	return cmd
}

func (a *app) status(ctx context.Context, ids []string, asJSON bool, concurrency int) error {
	e, err := a.setup(ctx, concurrency)
	if err != nil {
		return err
	}
	targets, skipped, err := e.targets(ctx, ids)
	if err != nil {
		return err
	}
	var entries map[string]ledger.Entry
	var ledgerErr error
	if l := e.ledger(); l != nil {
		entries, ledgerErr = l.All(ctx)
	}
	accounts := make([]string, 0, len(targets))
	for _, t := range targets {
		accounts = append(accounts, t.ID)
	}
	stacks := e.worker.status(ctx, accounts)
	rows := make([]statusRow, len(targets))
	forEach(ctx, len(targets), 8, func(ctx context.Context, i int) {
		rows[i] = e.statusRow(ctx, targets[i], stacks[i], entries)
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
		if err := renderStatus(a, rows, e.cfg.Target == config.TargetVisionOne); err != nil {
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

// statusRow joins what the operator reads (the account's OU, its ledger entry) and what the
// worker read in the account (the stack and its forwarding).
func (e *env) statusRow(ctx context.Context, t target, st operator.Stack, entries map[string]ledger.Entry) statusRow {
	row := statusRow{Account: t.ID, Name: t.Name, Region: st.Region}
	var err error
	if row.OU, row.OUName, err = e.scope.ou(ctx, t.ID); err != nil {
		row.Error = oneLine(err)
		return row
	}
	if en, ok := entries[t.ID]; ok {
		row.LastUpdate, row.LastAction = en.UpdatedAt.UTC().Format(time.RFC3339), en.Action
		if en.Class != "" && en.Class != "none" {
			row.Class, row.Reason = en.Class, en.Reason
		}
		row.VendorState, row.VendorProblems, row.VendorTemplateVersion = en.VendorState, en.VendorProblems, en.VendorTemplateVersion
	}
	if st.Error != "" {
		row.Error = st.Error
		return row
	}
	row.StackStatus, row.Managed, row.Template, row.Via = st.StackStatus, st.Managed, st.Template, st.Via
	row.TrailMode, row.Bucket, row.Forwarding, row.TrailName = st.TrailMode, st.Bucket, st.Forwarding, st.TrailName
	if row.LastUpdate == "" && st.LastUpdated != "" {
		row.LastUpdate, row.LastAction = st.LastUpdated, "(stack)"
	}
	return row
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

// renderStatus prints the table; visionOne adds the vendor's view and leaves out the bucket.
func renderStatus(a *app, all []statusRow, visionOne bool) error {
	var rows, offboarded []statusRow
	for _, r := range all {
		if r.Offboard != "" {
			offboarded = append(offboarded, r)
		} else {
			rows = append(rows, r)
		}
	}
	t := tablewriter.NewWriter(a.stdout)
	if visionOne {
		t.Header("Account", "Name", "OU", "Stack", "Template", "Trail", "Forwarding", "Vision One", "Managed", "Last update")
	} else {
		t.Header("Account", "Name", "OU", "Stack", "Template", "Trail", "Bucket", "Forwarding", "Managed", "Last update")
	}
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
		cells := []any{r.Account, r.Name, r.OUName, stackCol, dash(templateLabel(r.Template)), dash(r.TrailMode), dash(r.Bucket), dash(fwd), managed, dash(last)}
		if visionOne {
			view := r.VendorState
			if r.VendorTemplateVersion != "" {
				view += " (template " + r.VendorTemplateVersion + ")"
			}
			cells = []any{r.Account, r.Name, r.OUName, stackCol, dash(templateLabel(r.Template)), dash(r.TrailMode), dash(fwd), dash(view), managed, dash(last)}
		}
		if err := t.Append(cells...); err != nil {
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
	if own > 0 && visionOne {
		// The same pricing: the trail stack's trail is a further copy where the organization
		// trail records the account's management events already.
		fmt.Fprintf(a.stdout, "\nCost: %d of %d accounts use the onboarder's trail stack for Vision One: a second, billed copy\n"+
			"of their management events where the organization trail already records them,\n"+
			"$2.00 per 100,000 events (CloudTrail pricing), and its bucket and topic. See docs/DEPLOY.md, section 10.\n", own, len(rows))
	} else if own > 0 {
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
	var vendor []statusRow
	for _, r := range rows {
		if len(r.VendorProblems) > 0 {
			vendor = append(vendor, r)
		}
	}
	if len(vendor) > 0 {
		fmt.Fprintf(a.stdout, "\nVision One reports problems (%d):\n", len(vendor))
		for _, r := range vendor {
			fmt.Fprintf(a.stdout, "  %s %s [%s]:\n", r.Account, r.Name, dash(r.VendorState))
			for _, p := range r.VendorProblems {
				fmt.Fprintf(a.stdout, "    %s\n", scrubText(p))
			}
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

// templateLabel shortens a template for the table, to at most 32 characters: of a URL its
// path, and the end of it, where the version and the file name are; of a template that is not a
// URL (Vision One's, "visionone:<label>:<region>:<features>") the beginning, where its version is.
func templateLabel(url string) string {
	i := strings.Index(url, "://")
	if i < 0 {
		if r := []rune(url); len(r) > 32 {
			return string(r[:31]) + "…"
		}
		return url
	}
	url = url[i+3:]
	if j := strings.Index(url, "/"); j >= 0 {
		url = url[j+1:]
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
