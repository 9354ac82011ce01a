package deploy_test

// The CloudFormation service role of the Vision One target (member.yaml, Target visionone:
// VisionOneCloudFormationRole) against testdata/visionone-permissions.json, as
// cfnrole_test.go checks the Cloud One role against Trend's table: every needed action of every
// resource type is allowed on a resource named as the stacks name it, in more than one region;
// nothing else is allowed; no write on "*"; nothing on what is not the stacks'; within IAM's size
// limit. The Vision One stack's types and properties are not published (the table's sources
// say what is known): for those, actions tied to a property are not granted, each with the
// reason, and the names are CloudFormation's, under VisionOneNamePrefix.

import (
	"slices"
	"strings"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/iampolicy"
)

const visionOneTable = "testdata/visionone-permissions.json"

// visionOneParams are member.yaml's parameters for the Vision One target.
var visionOneParams = map[string]string{
	"Target":                  "visionone",
	"VisionOneTemplateBucket": "trend-cam-templates-us",
	"TrailTemplateBucket":     "onboarder-artifacts",
	"VisionOneOidcProvider":   "cam-oidc.xdr.trendmicro.com/0a1b2c3d",
}

// Names as CloudFormation gives them to the stacks' resources (defaults of member.yaml): the
// Vision One stack's, cut to the services' limits from the stack name's end, and the trail
// stack's.
var (
	v1Stacks      = []string{"Vision-One-Cloud-Account-Management-CloudTrailStack-1QW2E3R4T5Y6"}
	v1Roles       = []string{"Vision-One-Cloud-Account-Management-VisionOneRole-1A2B3C4D5E6F", "Vision-One-Cloud-Account-Manag-CloudTrailFunctionRo-7G8H9J0K1L2M"}
	v1Functions   = []string{"Vision-One-Cloud-Account-Manag-CloudTrailFunction-Q1W2E3R4T5Y6", "Vision-One-Cloud-Account-Manag-RegistrationFunctio-A9S8D7F6G5H4"}
	v1Rule        = "Vision-One-Cloud-Account-Manage-CloudTrailRule-3K4L5M6N7B8V"
	v1Queue       = "Vision-One-Cloud-Account-Management-CloudTrailQueue-1Z2X3C4V5B6N"
	v1TrailBucket = "cloudone-onboarder-trail-bucket-1abcdefghijk"
	v1TrailTopic  = "cloudone-onboarder-trail-Topic-ABCDEFGHIJKL"
)

// v1Examples are the requests that check one needed action of one resource type (nil: none
// known, which the test reports).
func v1Examples(typ, action string) []iampolicy.Request {
	service, op, _ := strings.Cut(action, ":")
	var out []iampolicy.Request
	add := func(resource string, context map[string][]string) {
		out = append(out, iampolicy.Request{Action: action, Resource: resource, Context: context})
	}
	role := func(name string) string { return "arn:aws:iam::" + exampleAccount + ":role/" + name }
	for i, region := range exampleRegions {
		ra := region + ":" + exampleAccount
		switch service {
		case "cloudformation":
			for _, s := range v1Stacks {
				add("arn:aws:cloudformation:"+ra+":stack/"+s+"/4f0e1f30-8a2b-11ee-9d3c-0a1b2c3d4e5f", nil)
			}
		case "iam":
			if i > 0 {
				continue // global
			}
			switch {
			case op == "passrole" && typ == "AWS::CloudFormation::Stack":
				add(role("CloudOneOnboarderCloudFormation"), map[string][]string{"iam:PassedToService": {"cloudformation.amazonaws.com"}})
			case op == "passrole" && typ == "AWS::Lambda::Function":
				for _, r := range v1Roles {
					add(role(r), map[string][]string{"iam:PassedToService": {"lambda.amazonaws.com"}})
				}
			case typ == "AWS::IAM::OIDCProvider":
				add("arn:aws:iam::"+exampleAccount+":oidc-provider/"+visionOneParams["VisionOneOidcProvider"], nil)
			case typ == "AWS::IAM::Role" || typ == "AWS::IAM::Policy" && strings.Contains(op, "role"):
				for _, r := range v1Roles {
					add(role(r), nil)
				}
			}
		case "lambda":
			for _, f := range v1Functions {
				add("arn:aws:lambda:"+ra+":function:"+f, nil)
			}
		case "logs":
			if op == "describeloggroups" {
				add("arn:aws:logs:"+ra+":log-group::log-stream:", nil)
				continue
			}
			group := "arn:aws:logs:" + ra + ":log-group:/aws/lambda/" + v1Functions[0]
			add(group, nil)
			add(group+":*", nil)
		case "events":
			add("arn:aws:events:"+ra+":rule/"+v1Rule, nil)
		case "sqs":
			add("arn:aws:sqs:"+ra+":"+v1Queue, nil)
		case "sns":
			switch typ {
			case "AWS::SNS::Subscription":
				// The trail's topic: the trail stack's, or an existing trail's.
				for _, tp := range []string{v1TrailTopic, "audit-deliveries"} {
					if op == "unsubscribe" || strings.Contains(op, "subscriptionattributes") {
						add("arn:aws:sns:"+ra+":"+tp+":6f1c2a3b-0000-4d5e-8f9a-0b1c2d3e4f5a", nil)
					} else {
						add("arn:aws:sns:"+ra+":"+tp, nil)
					}
				}
			default:
				if op == "unsubscribe" {
					add("arn:aws:sns:"+ra+":"+v1TrailTopic+":6f1c2a3b-0000-4d5e-8f9a-0b1c2d3e4f5a", nil)
				} else {
					add("arn:aws:sns:"+ra+":"+v1TrailTopic, nil)
				}
			}
		case "s3":
			switch {
			case typ == "AWS::Lambda::Function":
				add("arn:aws:s3:::"+visionOneParams["VisionOneTemplateBucket"]+"/code/"+region+"/function.zip", nil)
			case op == "deleteobject" || op == "putobjectacl":
				add("arn:aws:s3:::"+v1TrailBucket+"/AWSLogs/"+exampleAccount+"/CloudTrail/"+region+"/2026/12/04/log.json.gz", nil)
			default:
				add("arn:aws:s3:::"+v1TrailBucket, nil)
			}
		case "cloudtrail":
			if op == "describetrails" {
				add("*", nil)
				continue
			}
			add("arn:aws:cloudtrail:"+ra+":trail/cloudone-onboarder-visionone", nil)
		}
	}
	return out
}

// v1Scope are requests the role must refuse: the same services, on what is not the stacks'.
var v1Scope = []iampolicy.Request{
	{Action: "iam:CreateRole", Resource: "arn:aws:iam::" + exampleAccount + ":role/AWSControlTowerExecution"},
	{Action: "iam:PutRolePolicy", Resource: "arn:aws:iam::" + exampleAccount + ":role/CloudOneOnboarderExecution"},
	{Action: "iam:PassRole", Resource: "arn:aws:iam::" + exampleAccount + ":role/AWSControlTowerExecution",
		Context: map[string][]string{"iam:PassedToService": {"lambda.amazonaws.com"}}},
	{Action: "iam:PassRole", Resource: "arn:aws:iam::" + exampleAccount + ":role/" + v1Roles[0],
		Context: map[string][]string{"iam:PassedToService": {"ec2.amazonaws.com"}}},
	{Action: "iam:CreateOpenIDConnectProvider", Resource: "arn:aws:iam::" + exampleAccount + ":oidc-provider/token.actions.githubusercontent.com"},
	{Action: "iam:CreateUser", Resource: "arn:aws:iam::" + exampleAccount + ":user/Vision-One-x"},
	{Action: "cloudformation:DeleteStack", Resource: "arn:aws:cloudformation:us-east-1:" + exampleAccount + ":stack/StackSet-cloudone-onboarder-member-1a2b/4f0e1f30-8a2b-11ee-9d3c-0a1b2c3d4e5f"},
	{Action: "lambda:UpdateFunctionCode", Resource: "arn:aws:lambda:us-east-1:" + exampleAccount + ":function:aws-controltower-NotificationForwarder"},
	{Action: "sqs:SetQueueAttributes", Resource: "arn:aws:sqs:us-east-1:" + exampleAccount + ":payments-orders"},
	{Action: "sns:SetTopicAttributes", Resource: "arn:aws:sns:us-east-1:" + exampleAccount + ":audit-deliveries"},
	{Action: "sns:DeleteTopic", Resource: "arn:aws:sns:us-east-1:" + exampleAccount + ":audit-deliveries"},
	{Action: "s3:DeleteObject", Resource: "arn:aws:s3:::audit-logs-" + exampleAccount + "/AWSLogs/x"},
	{Action: "s3:DeleteBucket", Resource: "arn:aws:s3:::" + v1TrailBucket},
	{Action: "cloudtrail:StopLogging", Resource: "arn:aws:cloudtrail:us-east-1:" + exampleAccount + ":trail/audit"},
	{Action: "cloudtrail:DeleteTrail", Resource: "arn:aws:cloudtrail:us-east-1:" + managementAccount + ":trail/aws-controltower-BaselineCloudTrail"},
	{Action: "events:PutTargets", Resource: "arn:aws:events:us-east-1:" + exampleAccount + ":rule/StackSet-cloudone-onb-ForwardTrailEventsRule-1A2B3C"},
}

func TestVisionOneCloudFormationRoleAllowsWhatTheStacksNeed(t *testing.T) {
	tab, role := readTableFrom(t, visionOneTable, 15), loadRoleOf(t, "VisionOneCloudFormationRole", visionOneParams)
	if n := len(tab.needs()); n < 80 {
		t.Fatalf("only %d needed actions in the table: is it still read?", n)
	}
	report(t, missingWith(role.docs, tab, v1Examples))
}

func TestVisionOneCloudFormationRoleAllowsNothingElse(t *testing.T) {
	tab, role := readTableFrom(t, visionOneTable, 15), loadRoleOf(t, "VisionOneCloudFormationRole", visionOneParams)
	report(t, beyondWith(role.docs, tab, nil, visionOneTable))
	report(t, writesOnStar(role.docs))
	report(t, outOfScopeOf(role.docs, v1Scope))
}

// The Vision One role is made only for that target, and the Cloud One role only for Cloud One,
// under the same name (the central stack passes one CloudFormationRoleName).
func TestCloudFormationRolesFollowTheTarget(t *testing.T) {
	root := parse(t, readTemplate(t, "member.yaml"))
	for id, cond := range map[string]string{"CloudFormationRole": "CreateCloudOneRoles", "VisionOneCloudFormationRole": "CreateVisionOneRoles"} {
		r := get(get(root, "Resources"), id)
		if c, _ := text(get(r, "Condition")); c != cond {
			t.Errorf("%s: condition %q, want %s", id, c, cond)
		}
		if fn, arg := intrinsic(get(get(r, "Properties"), "RoleName")); fn != "Ref" || arg.Value != "CloudFormationRoleName" {
			t.Errorf("%s: RoleName is not !Ref CloudFormationRoleName", id)
		}
	}
}

func TestVisionOneCloudFormationRoleNotNeededReasons(t *testing.T) {
	tab := readTableFrom(t, visionOneTable, 15)
	listed := tab.listed()
	count := 0
	for _, rt := range tab.ResourceTypes {
		for action, why := range rt.NotNeeded {
			count++
			if len(strings.Fields(why)) < 4 {
				t.Errorf("%s: notNeeded %s: the reason %q is too short to say what it serves", rt.Type, action, why)
			}
			if !slices.Contains(listed[rt.Type], action) {
				t.Errorf("%s: notNeeded %s is in none of its lists (spelling?)", rt.Type, action)
			}
		}
	}
	if count == 0 {
		t.Fatal("no notNeeded entries in the table: is it still read?")
	}
}

func TestVisionOneCloudFormationRoleSize(t *testing.T) {
	long := map[string]string{"VisionOneNamePrefix": "V" + strings.Repeat("n", 29), "TrailStackName": "t" + strings.Repeat("s", 39),
		"CloudFormationRoleName": strings.Repeat("r", 64), "VisionOneTemplateBucket": strings.Repeat("b", 63),
		"VisionOneOidcProvider": strings.Repeat("o", 255), "TrailName": strings.Repeat("x", 128)}
	for k, v := range visionOneParams {
		if _, ok := long[k]; !ok {
			long[k] = v
		}
	}
	total := 0
	for _, b := range loadRoleOf(t, "VisionOneCloudFormationRole", long).inline {
		total += iampolicy.MinifiedSize(b)
	}
	t.Logf("longest parameters: inline policies %d characters (limit %d)", total, maxRoleInlinePolicies)
	if total > maxRoleInlinePolicies {
		t.Errorf("the role's inline policies have %d characters without white space; IAM accepts %d in total", total, maxRoleInlinePolicies)
	}
}

// TestVisionOneCloudFormationRoleCatchesSeededGaps: the checks report a gap seeded into a copy
// of the role's documents.
func TestVisionOneCloudFormationRoleCatchesSeededGaps(t *testing.T) {
	tab, role := readTableFrom(t, visionOneTable, 15), loadRoleOf(t, "VisionOneCloudFormationRole", visionOneParams)
	for _, tc := range []struct {
		name string
		got  []string
		want string
	}{
		{"dropped sns:Subscribe", missingWith(without(role.docs, "sns:Subscribe"), tab, v1Examples), "AWS::SNS::Subscription needs sns:Subscribe"},
		{"dropped s3:PutBucketOwnershipControls", missingWith(without(role.docs, "s3:PutBucketOwnershipControls"), tab, v1Examples), "AWS::S3::Bucket needs s3:PutBucketOwnershipControls"},
		{"extra action", beyondWith(append(slices.Clone(role.docs), iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateGrant","Resource":"*"}]}`, iampolicy.Identity)), tab, nil, visionOneTable), "allows kms:CreateGrant"},
	} {
		found := false
		for _, f := range tc.got {
			found = found || strings.Contains(f, tc.want)
		}
		if !found {
			t.Errorf("%s: want a finding containing %q, got:\n%s", tc.name, tc.want, strings.Join(tc.got, "\n"))
		}
	}
}
