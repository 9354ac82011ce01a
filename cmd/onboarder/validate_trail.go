package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// Organizations' CloseAccount, RemoveAccountFromOrganization and MoveAccount reach
// EventBridge as "AWS API Call via CloudTrail" events, and "to record events with a
// detail-type value of AWS API Call via CloudTrail, a CloudTrail trail with logging enabled
// is required" (Amazon EventBridge User Guide, "AWS service events delivered via AWS
// CloudTrail", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html).
// Organizations' calls are recorded in US East (N. Virginia) only ("Logging API calls with
// AWS CloudTrail for AWS Organizations",
// https://docs.aws.amazon.com/organizations/latest/userguide/orgs_cloudtrail-integration.html),
// as global service events of the management account, so the trail must cover us-east-1
// (multi-Region, or single-Region there: "When you create a single-Region trail, CloudTrail
// records the events in that Region only", "Working with CloudTrail trails"), include global
// service events (CreateTrail, IncludeGlobalServiceEvents), log, and record management
// events. An organization trail logs the management account too, and member accounts see
// it with DescribeTrails ("Creating a trail for an organization",
// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-trail-organization.html);
// whether they may read its status is not documented there, so a status that cannot be read
// from a delegated administrator account is a warning that says where to look.

// orgEventsRegion is where Organizations' calls are recorded.
const orgEventsRegion = "us-east-1"

// grantTrailReads says what to grant when the trail reads are refused.
const grantTrailReads = "grant cloudtrail:DescribeTrails, cloudtrail:GetTrailStatus and cloudtrail:GetEventSelectors " +
	"(the central stack's operator policy, cloudone-onboarder-operator, has them)"

// checkTrail finds a trail of the management account mgmt that records its management events
// in us-east-1. self is the account the command runs in.
func checkTrail(ctx context.Context, ct func(region string) TrailAPI, mgmt, self string) (ok, warn string, err error) {
	out, err := ct(orgEventsRegion).DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
	if err != nil {
		if fault.IsCode(err, "AccessDeniedException", "AccessDenied") {
			return "", "", fmt.Errorf("cloudtrail:DescribeTrails in %s was refused: %s: %w", orgEventsRegion, grantTrailReads, err)
		}
		return "", "", fmt.Errorf("cloudtrail:DescribeTrails in %s: %w", orgEventsRegion, err)
	}
	why := "CloseAccount, RemoveAccountFromOrganization and MoveAccount reach EventBridge only through a logging trail of the management account's management events in us-east-1"
	var problems, unread []string
	for _, t := range out.TrailList {
		arn := aws.ToString(t.TrailARN)
		if arnField(arn, 4) != mgmt {
			continue // another account's trail records that account's calls, not the management account's
		}
		name := aws.ToString(t.Name)
		home := aws.ToString(t.HomeRegion)
		if home == "" {
			home = arnField(arn, 3)
		}
		kind := "trail " + name + " of the management account"
		if aws.ToBool(t.IsOrganizationTrail) {
			kind = "organization trail " + name
		}
		switch {
		case !aws.ToBool(t.IsMultiRegionTrail) && home != orgEventsRegion:
			problems = append(problems, kind+": a single-Region trail of "+home+", not of us-east-1")
			continue
		case !aws.ToBool(t.IncludeGlobalServiceEvents):
			problems = append(problems, kind+": it does not include global service events (IncludeGlobalServiceEvents)")
			continue
		}
		api := ct(home)
		st, err := api.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(arn)})
		if err != nil {
			if self != mgmt {
				unread = append(unread, fmt.Sprintf("%s (%s)", kind, strings.ReplaceAll(fault.Code(err), "Exception", "")))
				continue
			}
			if fault.IsCode(err, "AccessDeniedException", "AccessDenied") {
				return "", "", fmt.Errorf("cloudtrail:GetTrailStatus of %s was refused: %s: %w", arn, grantTrailReads, err)
			}
			return "", "", fmt.Errorf("cloudtrail:GetTrailStatus of %s: %w", arn, err)
		}
		if !aws.ToBool(st.IsLogging) {
			problems = append(problems, kind+": it is not logging (StartLogging it)")
			continue
		}
		sel, err := api.GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String(arn)})
		if err != nil {
			if fault.IsCode(err, "AccessDeniedException", "AccessDenied") {
				return "", "", fmt.Errorf("cloudtrail:GetEventSelectors of %s was refused: %s: %w", arn, grantTrailReads, err)
			}
			return "", "", fmt.Errorf("cloudtrail:GetEventSelectors of %s: %w", arn, err)
		}
		if !trail.RecordsManagement(sel) {
			problems = append(problems, kind+": its event selectors record no (write) management events")
			continue
		}
		return fmt.Sprintf("%s (%s) logs the management account's management events in us-east-1: Organizations' CloseAccount, RemoveAccountFromOrganization and MoveAccount reach EventBridge through it", kind, regionsOf(t)), "", nil
	}
	switch {
	case len(unread) > 0:
		return "", fmt.Sprintf("found %s, but its status and selectors cannot be read from this account (%s): check in the management account that it logs management events (%s)",
			strings.Join(unread, ", "), self, why), nil
	case len(problems) > 0:
		return "", "", fmt.Errorf("no trail will do: %s; %s (docs/DEPLOY.md, section 1)", strings.Join(problems, "; "), why)
	case self != mgmt:
		return "", fmt.Sprintf("no organization trail is visible from this account, and a trail of the management account %s alone is not: check there that one logs its management events in us-east-1 (%s)", mgmt, why), nil
	}
	return "", "", fmt.Errorf("no trail of the management account %s logs in us-east-1: %s; create one (a multi-Region or organization trail, docs/DEPLOY.md, section 1)", mgmt, why)
}

func regionsOf(t cttypes.Trail) string {
	if aws.ToBool(t.IsMultiRegionTrail) {
		return "multi-Region, home " + aws.ToString(t.HomeRegion)
	}
	return "us-east-1"
}

// arnField reads field i of an ARN (3: region, 4: account).
func arnField(arn string, i int) string {
	f := strings.SplitN(arn, ":", 6)
	if len(f) < 6 {
		return ""
	}
	return f[i]
}
