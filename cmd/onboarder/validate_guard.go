package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
)

// GuardrailName is the name deploy/guardrail.yaml gives its SCP for a stack name.
func GuardrailName(stackName string) string { return "cloudone-onboarder-guardrail-" + stackName }

// guardrailAPI is the part of Organizations the guardrail check reads.
type guardrailAPI interface {
	organizations.ListPoliciesAPIClient
	organizations.ListTargetsForPolicyAPIClient
	organizations.ListRootsAPIClient
}

// checkGuardrail finds the guardrail SCP and says which in-scope accounts it covers: attached
// to the account, to one of its OUs or to the root, with SCPs enabled on the root. A missing
// or partial guardrail is a warning, not a failure: it is recommended, not required.
func checkGuardrail(ctx context.Context, api guardrailAPI, sc *scope, cfg config.Config, in []target) (ok, warn string, err error) {
	name := GuardrailName(cfg.StackName)
	roots, err := api.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		return "", "", fmt.Errorf("organizations:ListRoots: %w", err)
	}
	enabled := false
	for _, r := range roots.Roots {
		for _, pt := range r.PolicyTypes {
			if pt.Type == orgtypes.PolicyTypeServiceControlPolicy && pt.Status == orgtypes.PolicyTypeStatusEnabled {
				enabled = true
			}
		}
	}
	var id string
	p := organizations.NewListPoliciesPaginator(api, &organizations.ListPoliciesInput{Filter: orgtypes.PolicyTypeServiceControlPolicy})
	for p.HasMorePages() && id == "" {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", "", fmt.Errorf("organizations:ListPolicies: %w", err)
		}
		for _, pol := range page.Policies {
			if aws.ToString(pol.Name) == name {
				id = aws.ToString(pol.Id)
			}
		}
	}
	if id == "" {
		return "", fmt.Sprintf("no SCP named %s: administrators of member accounts can read the Cloud One key where Trend's template leaves it (docs/SECURITY.md); deploy deploy/guardrail.yaml (docs/DEPLOY.md)", name), nil
	}
	if !enabled {
		return "", fmt.Sprintf("%s (%s) exists, but service control policies are not enabled on the root: it applies to nobody", name, id), nil
	}
	targets := map[string]bool{}
	tp := organizations.NewListTargetsForPolicyPaginator(api, &organizations.ListTargetsForPolicyInput{PolicyId: aws.String(id)})
	for tp.HasMorePages() {
		page, err := tp.NextPage(ctx)
		if err != nil {
			return "", "", fmt.Errorf("organizations:ListTargetsForPolicy %s: %w", id, err)
		}
		for _, t := range page.Targets {
			targets[aws.ToString(t.TargetId)] = true
		}
	}
	var uncovered []string
	for _, a := range in {
		covered, err := coveredBy(ctx, sc, a.ID, targets)
		if err != nil {
			return "", "", err
		}
		if !covered {
			uncovered = append(uncovered, a.ID)
		}
	}
	attached := slices.Sorted(func(yield func(string) bool) {
		for t := range targets {
			if !yield(t) {
				return
			}
		}
	})
	if len(uncovered) > 0 {
		return "", fmt.Sprintf("%s (%s) is attached to %s, but not over %d of the %d in-scope accounts: %s", name, id,
			orNone(attached), len(uncovered), len(in), firstFew(uncovered, 5)), nil
	}
	return fmt.Sprintf("%s (%s) is over every one of the %d in-scope accounts (attached to %s)", name, id, len(in), orNone(attached)), "", nil
}

// coveredBy reports whether the account, or one of its ancestors, is among the targets.
func coveredBy(ctx context.Context, sc *scope, account string, targets map[string]bool) (bool, error) {
	for id, hops := account, 0; id != "" && hops < 8; hops++ { // Organizations nests OUs five deep
		if targets[id] {
			return true, nil
		}
		if strings.HasPrefix(id, "r-") {
			return false, nil
		}
		parent, err := sc.Parent(ctx, id)
		if err != nil {
			return false, fmt.Errorf("the parent of %s: %w", id, err)
		}
		id = parent
	}
	return false, nil
}

// stackSetAPI is the part of CloudFormation the regions check reads.
type stackSetAPI interface {
	cloudformation.ListStackInstancesAPIClient
}

// checkRegions says whether the member StackSet has instances in every region that matters:
// the stacks' region (their deletion is seen there) and the home region of every forwarding
// trail the ledger knows (a StopLogging is seen only there).
// A delegated administrator reads a service-managed StackSet with CallAs DELEGATED_ADMIN
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-delegated-admin.html).
func checkRegions(ctx context.Context, api stackSetAPI, stackSet, stackRegion string, entries map[string]ledger.Entry, delegated bool) (string, error) {
	have := map[string]bool{}
	in := &cloudformation.ListStackInstancesInput{StackSetName: aws.String(stackSet)}
	if delegated {
		in.CallAs = cfntypes.CallAsDelegatedAdmin
	}
	p := cloudformation.NewListStackInstancesPaginator(api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if fault.IsCode(err, "StackSetNotFoundException") {
			return "", fmt.Errorf("no StackSet %s in this account (the member stacks of deploy/member.yaml forward trail and stack events; name yours with --member-stackset)", stackSet)
		}
		if err != nil {
			return "", fmt.Errorf("CloudFormation ListStackInstances %s: %w", stackSet, err)
		}
		for _, s := range page.Summaries {
			have[aws.ToString(s.Region)] = true
		}
	}
	need := map[string][]string{stackRegion: {"the onboarding stacks"}}
	trails := map[string]int{}
	for _, e := range entries {
		if e.TrailHomeRegion != "" {
			trails[e.TrailHomeRegion]++
		}
	}
	for r, n := range trails {
		need[r] = append(need[r], fmt.Sprintf("the forwarding trails of %d accounts", n))
	}
	var missing []string
	for r, what := range need {
		if !have[r] {
			missing = append(missing, fmt.Sprintf("%s (%s)", r, strings.Join(what, ", ")))
		}
	}
	sort.Strings(missing)
	regions := slices.Sorted(func(yield func(string) bool) {
		for r := range have {
			if !yield(r) {
				return
			}
		}
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("StackSet %s has instances in %s but not in %s: changes there are never forwarded, and the onboarder would not repair them",
			stackSet, orNone(regions), strings.Join(missing, "; "))
	}
	return fmt.Sprintf("StackSet %s covers %s: the stacks' region %s and the %d home regions of the forwarding trails the ledger knows", stackSet, orNone(regions), stackRegion, len(trails)), nil
}

func orNone(xs []string) string {
	if len(xs) == 0 {
		return "nothing"
	}
	return strings.Join(xs, ", ")
}

func firstFew(xs []string, n int) string {
	if len(xs) <= n {
		return strings.Join(xs, ", ")
	}
	return strings.Join(xs[:n], ", ") + fmt.Sprintf(" and %d more", len(xs)-n)
}
