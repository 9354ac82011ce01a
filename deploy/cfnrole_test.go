package deploy_test

// The CloudFormation service role of member.yaml (CloudFormationRole) against the permission
// table of Trend's v1 template, testdata/trend-v1-permissions.json. For every resource type of
// the table, the needed actions are its create, update and delete handler permissions (and
// those of the other schema copies read, alsoRead) and its tag permissions, less the actions
// the table marks notNeeded, each with its reason. The role must
//   - allow each needed action on a resource named as Trend's stack names it, in more than one
//     region (the role is global and serves every governed region);
//   - allow nothing else: every action it grants is needed by some type or is in outsideTable;
//   - allow no write on Resource "*", and nothing on the resources of others (roleScope);
//   - stay within IAM's size limit for a role's inline policies.
// The role's documents are resolved with concrete parameter values and evaluated with
// integration/localworld/iampolicy, as AWS evaluates them.

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/iampolicy"
)

const (
	exampleAccount    = "111122223333"
	managementAccount = "999988887777"
	// maxRoleInlinePolicies is the aggregate size of a role's inline policies IAM accepts, white
	// space not counted (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
	maxRoleInlinePolicies = 10240
	// maxManagedPolicy is the size of one customer managed policy.
	maxManagedPolicy = 6144
)

// exampleRegions: the role is created once, in the primary region, and used in all of them.
var exampleRegions = []string{"us-east-1", "ap-southeast-2"}

// requiredParams are values for the parameters of member.yaml that have no default.
var requiredParams = map[string]string{
	"CentralEventBusArn":  "arn:aws:events:us-east-1:" + managementAccount + ":event-bus/cloudone-onboarder",
	"ManagementAccountId": managementAccount,
	"OrganizationId":      "o-abcdefghij",
	"PrimaryRegion":       "us-east-1",
}

// longParams are the longest values the parameters allow, for the size check.
var longParams = map[string]string{
	"OnboardingStackName":      "Abcdefgh",
	"CloudFormationRoleName":   strings.Repeat("r", 64),
	"OnboardingTemplateBucket": strings.Repeat("b", 63),
	"QSS3BucketName":           strings.Repeat("q", 63),
}

// outsideTable lists the actions the role may grant that no handler list of the table carries.
var outsideTable = map[string]string{
	// The table's transforms[].candidatePermission: Trend's CloudTrail stack uses the
	// AWS::Serverless-2016-10-31 transform, which a service role expands with this permission.
	"cloudformation:createchangeset": "the table's transforms[].candidatePermission: the Serverless transform of Trend's CloudTrail stack",
	// Read-only actions of the permissions "the user would need" "to deploy this stack", which
	// Trend's README lists since May 2023 (lines 118, 122, 143 and 151 at that commit).
	"lambda:getfunctionconfiguration": trendDeployList,
	"iam:listaccountaliases":          trendDeployList,
	"s3:getbucketlocation":            trendDeployList + " (the template buckets)",
}

const trendDeployList = "https://github.com/aws-ia/cfn-abi-trend-cloudone/blob/bad883b49a78f4ac704aefad5adc9d328efdd8ba/templates/trend-cloudone-onboard/README.md"

// TestOutsideTableNamesItsSource: an action the role grants beyond the table carries the public
// source that asks for it, as a link or the table field it comes from, never a bare attribution.
func TestOutsideTableNamesItsSource(t *testing.T) {
	for a, why := range outsideTable {
		if !strings.Contains(why, "https://") && !strings.Contains(why, "the table's ") {
			t.Errorf("outsideTable: %s: %q names no public source (a link, or the table's field)", a, why)
		}
	}
}

// iamAction maps operation names the schemas list to the IAM action that authorizes them. The
// S3 API reference says, e.g. for DeleteBucketCors, "To use this operation, you must have
// permission to perform the s3:PutBucketCORS action".
var iamAction = map[string]string{
	"s3:deletebucketanalyticsconfiguration": "s3:putanalyticsconfiguration",
	"s3:deletebucketcors":                   "s3:putbucketcors",
	"s3:deletebucketencryption":             "s3:putencryptionconfiguration",
	"s3:deletebucketlifecycle":              "s3:putlifecycleconfiguration",
	"s3:deletebucketmetricsconfiguration":   "s3:putmetricsconfiguration",
	"s3:deletebucketreplication":            "s3:putreplicationconfiguration",
	"s3:deletebuckettagging":                "s3:putbuckettagging",
	"s3:putbucketreplication":               "s3:putreplicationconfiguration",
	"s3:putobjectlockconfiguration":         "s3:putbucketobjectlockconfiguration",
}

// canonical is the IAM action a listed name is authorized as, in lower case (IAM action names
// are case-insensitive; the CloudTrail schema writes "CloudTrail:").
func canonical(action string) string {
	a := strings.ToLower(action)
	if to, ok := iamAction[a]; ok {
		return to
	}
	return a
}

// ---------------------------------------------------------------- the table

type permissionTable struct {
	ResourceTypes []struct {
		Type     string   `json:"type"`
		Create   []string `json:"create"`
		Update   []string `json:"update"`
		Delete   []string `json:"delete"`
		AlsoRead []struct {
			Create []string `json:"create"`
			Update []string `json:"update"`
			Delete []string `json:"delete"`
		} `json:"alsoRead"`
		NotNeeded map[string]string `json:"notNeeded"`
	} `json:"resourceTypes"`
	TagPropagation []struct {
		Type    string   `json:"type"`
		Actions []string `json:"actions"`
	} `json:"tagPropagation"`
}

func readTable(t *testing.T) permissionTable {
	t.Helper()
	return readTableFrom(t, "testdata/trend-v1-permissions.json", 10)
}

// readTableFrom reads a permission table that must hold at least minTypes resource types.
func readTableFrom(t *testing.T, file string, minTypes int) permissionTable {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var tab permissionTable
	if err := json.Unmarshal(b, &tab); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(tab.ResourceTypes) < minTypes {
		t.Fatalf("%s: only %d resource types", file, len(tab.ResourceTypes))
	}
	return tab
}

// listed returns, per resource type, every action name its lists hold (tag permissions included).
func (tab permissionTable) listed() map[string][]string {
	out := map[string][]string{}
	for _, rt := range tab.ResourceTypes {
		names := slices.Concat(rt.Create, rt.Update, rt.Delete)
		for _, a := range rt.AlsoRead {
			names = slices.Concat(names, a.Create, a.Update, a.Delete)
		}
		out[rt.Type] = names
	}
	for _, tp := range tab.TagPropagation {
		if _, ok := out[tp.Type]; ok {
			out[tp.Type] = append(out[tp.Type], tp.Actions...)
		}
	}
	for typ, names := range out {
		sort.Strings(names)
		out[typ] = slices.Compact(names)
	}
	return out
}

// need is one action a resource type needs: the name the table lists and its IAM action.
type need struct{ typ, name, action string }

// needs are the listed actions less notNeeded, in table order.
func (tab permissionTable) needs() []need {
	listed := tab.listed()
	var out []need
	for _, rt := range tab.ResourceTypes {
		for _, name := range listed[rt.Type] {
			if _, skip := rt.NotNeeded[name]; !skip {
				out = append(out, need{typ: rt.Type, name: name, action: canonical(name)})
			}
		}
	}
	return out
}

// ---------------------------------------------------------------- the role's documents

// roleDocuments are the identity policies of CloudFormationRole, resolved with vals: the role's
// Policies, and AWS::IAM::Policy / ManagedPolicy resources attached to it by Roles.
type roleDocuments struct {
	docs    []iampolicy.Document
	inline  [][]byte // resolved JSON of each inline document
	managed [][]byte
}

func loadRole(t *testing.T, overrides map[string]string) roleDocuments {
	t.Helper()
	return loadRoleOf(t, "CloudFormationRole", overrides)
}

// loadRoleOf is loadRole for the role of that logical id.
func loadRoleOf(t *testing.T, logicalID string, overrides map[string]string) roleDocuments {
	t.Helper()
	root := parse(t, readTemplate(t, "member.yaml"))
	vals := map[string]string{
		"AWS::Partition": "aws",
		"AWS::AccountId": exampleAccount,
		"AWS::Region":    "us-east-1",
		"AWS::URLSuffix": "amazonaws.com",
	}
	for _, p := range pairs(get(root, "Parameters")) {
		if d := get(p[1], "Default"); d != nil {
			vals[p[0].Value] = d.Value
		}
	}
	for k, v := range requiredParams {
		vals[k] = v
	}
	for k, v := range overrides {
		vals[k] = v
	}
	resources := get(root, "Resources")
	role := get(resources, logicalID)
	if role == nil {
		t.Fatalf("member.yaml: resource %s is missing", logicalID)
	}
	props := get(role, "Properties")
	if m := get(props, "ManagedPolicyArns"); m != nil {
		t.Fatalf("member.yaml:%d: %s has ManagedPolicyArns, which this test cannot read; attach customer managed policies with their Roles property", m.Line, logicalID)
	}
	var rd roleDocuments
	add := func(where string, doc *yaml.Node, managed bool) {
		v, err := resolve(doc, vals)
		if err != nil {
			t.Fatalf("member.yaml: %s: %v", where, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("member.yaml: %s: %v", where, err)
		}
		d, err := iampolicy.Parse(b, iampolicy.Identity)
		if err != nil {
			t.Fatalf("member.yaml: %s is not a valid identity policy:\n%v", where, err)
		}
		rd.docs = append(rd.docs, d)
		if managed {
			rd.managed = append(rd.managed, b)
		} else {
			rd.inline = append(rd.inline, b)
		}
	}
	for i, p := range expand(get(props, "Policies")) {
		add(fmt.Sprintf("%s.Policies[%d]", logicalID, i), get(p, "PolicyDocument"), false)
	}
	for _, r := range pairs(resources) {
		typ, _ := text(get(r[1], "Type"))
		if typ != "AWS::IAM::Policy" && typ != "AWS::IAM::ManagedPolicy" {
			continue
		}
		attached := false
		for _, n := range expand(get(get(r[1], "Properties"), "Roles")) {
			if fn, arg := intrinsic(n); fn == "Ref" && arg.Value == logicalID {
				attached = true
			}
		}
		if attached {
			add(r[0].Value, get(get(r[1], "Properties"), "PolicyDocument"), typ == "AWS::IAM::ManagedPolicy")
		}
	}
	if len(rd.docs) == 0 {
		t.Fatalf("member.yaml: %s has no policies", logicalID)
	}
	return rd
}

// resolve turns a template value into plain JSON values: Ref and Fn::Sub are resolved with vals,
// any other function is an error.
func resolve(n *yaml.Node, vals map[string]string) (any, error) {
	if n == nil {
		return nil, fmt.Errorf("missing value")
	}
	switch fn, arg := intrinsic(n); fn {
	case "":
	case "Ref":
		v, ok := vals[arg.Value]
		if !ok {
			return nil, fmt.Errorf("line %d: Ref %s: no value", n.Line, arg.Value)
		}
		return v, nil
	case "Fn::Sub":
		return substitute(arg, vals)
	default:
		return nil, fmt.Errorf("line %d: %s is not resolved by this test", n.Line, fn)
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for _, kv := range pairs(n) {
			v, err := resolve(kv[1], vals)
			if err != nil {
				return nil, err
			}
			m[kv[0].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		var l []any
		for _, c := range n.Content {
			v, err := resolve(c, vals)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.AliasNode:
		return resolve(n.Alias, vals)
	}
	return n.Value, nil
}

var subVariable = regexp.MustCompile(`\$\{([^}]*)\}`)

// substitute resolves Fn::Sub: "text" or ["text", {Name: value}]; "${!X}" is the literal "${X}".
func substitute(arg *yaml.Node, vals map[string]string) (string, error) {
	tmpl := arg
	local := map[string]string{}
	if arg.Kind == yaml.SequenceNode {
		if len(arg.Content) != 2 {
			return "", fmt.Errorf("line %d: Fn::Sub takes [text, variables]", arg.Line)
		}
		tmpl = arg.Content[0]
		for _, kv := range pairs(arg.Content[1]) {
			v, err := resolve(kv[1], vals)
			if err != nil {
				return "", err
			}
			s, ok := v.(string)
			if !ok {
				return "", fmt.Errorf("line %d: Fn::Sub variable %s is not a string", kv[0].Line, kv[0].Value)
			}
			local[kv[0].Value] = s
		}
	}
	if tmpl.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("line %d: Fn::Sub text is not a string", arg.Line)
	}
	var problem error
	out := subVariable.ReplaceAllStringFunc(tmpl.Value, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}"
		}
		if v, ok := local[name]; ok {
			return v
		}
		if v, ok := vals[name]; ok {
			return v
		}
		problem = fmt.Errorf("line %d: Fn::Sub: no value for ${%s}", tmpl.Line, name)
		return m
	})
	return out, problem
}

// ---------------------------------------------------------------- example resources

// The names Trend's stack gives its resources: nested stacks are <parent>-<LogicalId>-<suffix>,
// resources without a name property <stack>-<LogicalId>-<suffix> (cut to the service's limit).
var (
	exampleStacks = []string{
		"CloudOne",
		"CloudOne-CloudTrail-1RHQ7B0ZG4X9K",
		"CloudOne-CloudOneIntegrationStack-8ZK2L1M0N3PQ",
		"CloudOne-CloudOneIntegrationStack-8ZK2L1M0N3PQ-CloudOneIntegrationStack-1T0Y6W2V5U4S",
	}
	exampleRoles = []string{
		"CloudOne-CloudOneIntegrationStack-1ABC-CloudOneRole-XYZ",
		"CloudOne-CloudTrail-1RHQ7B0ZG4X-SenderLambdaIAMRole-4G7H2J9K1L0M",
		"CloudOne-GetCloudOneRegionAn-GetCloudOneRegionAndAcc-5N6B7V8C9X0Z",
	}
	exampleFunctions = []string{
		"CloudOne-CloudTrail-1AB-Function-XYZ",
		"CloudOne-CloudTrail-1RHQ7B0ZG4-SenderLambdaFunction-Q1W2E3R4T5Y6",
		"CloudOne-VisionOneEnrollmentSt-VisionOneEnrollmentF-A1S2D3F4G5H6",
	}
	examplePolicy = "CloudOne-CloudOneIntegrationStack-8ZK2-CloudOneIntegrationStack-1T0Y-CloudOnePolicyPart1-2B3C4D5E6F7G"
)

// examples are the requests that check one needed action of one resource type: the action on
// each resource of that type, in each example region. nil means the test knows no resource for
// it, which is reported: add one here.
func examples(typ, action string) []iampolicy.Request {
	service, op, _ := strings.Cut(action, ":")
	var out []iampolicy.Request
	add := func(resource string, context map[string][]string) {
		out = append(out, iampolicy.Request{Action: action, Resource: resource, Context: context})
	}
	passedTo := func(service string) map[string][]string {
		return map[string][]string{"iam:PassedToService": {service}}
	}
	role := func(name string) string { return "arn:aws:iam::" + exampleAccount + ":role/" + name }
	for i, region := range exampleRegions {
		ra := region + ":" + exampleAccount
		bucket := "arn:aws:s3:::" + exampleAccount + "-" + region + "-cloud-one-cloudtrail-bucket"
		switch service {
		case "cloudformation":
			for _, s := range exampleStacks {
				add("arn:aws:cloudformation:"+ra+":stack/"+s+"/4f0e1f30-8a2b-11ee-9d3c-0a1b2c3d4e5f", nil)
			}
		case "iam":
			if i > 0 {
				continue // global
			}
			switch {
			case op == "passrole" && typ == "AWS::CloudFormation::Stack":
				// Nested stacks run with this same role.
				add(role("CloudOneOnboarderCloudFormation"), passedTo("cloudformation.amazonaws.com"))
			case op == "passrole" && typ == "AWS::Lambda::Function":
				for _, r := range exampleRoles {
					add(role(r), passedTo("lambda.amazonaws.com"))
				}
			case op == "passrole":
			case typ == "AWS::IAM::OIDCProvider":
				add("arn:aws:iam::"+exampleAccount+":oidc-provider/cloudaccounts.us-1.cloudone.trendmicro.com", nil)
				add("arn:aws:iam::"+exampleAccount+":oidc-provider/cloudaccounts.trend-us-1.cloudone.trendmicro.com", nil)
			case typ == "AWS::IAM::ManagedPolicy" && strings.HasSuffix(op, "rolepolicy"):
				add(role(exampleRoles[0]), nil)
			case typ == "AWS::IAM::ManagedPolicy" && !strings.Contains(op, "user") && !strings.Contains(op, "group"):
				add("arn:aws:iam::"+exampleAccount+":policy/"+examplePolicy, nil)
			case typ == "AWS::IAM::Role" || typ == "AWS::IAM::Policy" && strings.Contains(op, "role"):
				for _, r := range exampleRoles {
					add(role(r), nil)
				}
			}
		case "lambda":
			for _, f := range exampleFunctions {
				add("arn:aws:lambda:"+ra+":function:"+f, nil)
			}
		case "s3":
			switch {
			case typ == "AWS::Lambda::Function" && (op == "getobject" || op == "getobjectversion"):
				// The code of the SAM functions of Trend's CloudTrail stack (S3BucketName from Cloud One).
				add("arn:aws:s3:::cloud-trail-client-stack-template-prod-"+region+"/lambda/forwarder/main.zip", nil)
			case typ != "AWS::S3::Bucket" && typ != "AWS::S3::BucketPolicy":
			case op == "deleteobject" || op == "putobjectacl":
				add(bucket+"/AWSLogs/"+exampleAccount+"/CloudTrail/"+region+"/2024/01/31/log.json.gz", nil)
			default:
				add(bucket, nil)
			}
		case "logs":
			if op == "describeloggroups" {
				add("arn:aws:logs:"+ra+":log-group::log-stream:", nil)
				continue
			}
			group := "arn:aws:logs:" + ra + ":log-group:/aws/lambda/" + exampleFunctions[1]
			add(group, nil)      // TagResource, UntagResource, ListTagsForResource
			add(group+":*", nil) // every other action
		case "cloudtrail":
			add("arn:aws:cloudtrail:"+ra+":trail/CloudOne-CloudTrail-1RHQ7B0ZG4X9K-CloudTrail-7M8N9B0V1C2X", nil)
		case "secretsmanager":
			// A secret without Name is named <LogicalId>-<12 characters>, then -<6 characters>.
			add("arn:aws:secretsmanager:"+ra+":secret:AuthTokenSecretManager-a1B2c3D4e5F6-AbCdEf", nil)
		case "events":
			add("arn:aws:events:"+ra+":rule/CloudOne-CloudTrail-1RHQ7B0ZG4X9-HealthCheckerSchedule-3K4L5M6N7B8V", nil)
		}
	}
	return out
}

// roleScope are requests the role must refuse: the same services, on what is not the stack's.
var roleScope = []iampolicy.Request{
	{Action: "iam:CreateRole", Resource: "arn:aws:iam::" + exampleAccount + ":role/AWSControlTowerExecution"},
	{Action: "iam:PutRolePolicy", Resource: "arn:aws:iam::" + exampleAccount + ":role/CloudOneOnboarderExecution"},
	{Action: "iam:PassRole", Resource: "arn:aws:iam::" + exampleAccount + ":role/AWSControlTowerExecution",
		Context: map[string][]string{"iam:PassedToService": {"lambda.amazonaws.com"}}},
	{Action: "iam:PassRole", Resource: "arn:aws:iam::" + exampleAccount + ":role/" + exampleRoles[0],
		Context: map[string][]string{"iam:PassedToService": {"ec2.amazonaws.com"}}},
	{Action: "iam:CreatePolicy", Resource: "arn:aws:iam::" + exampleAccount + ":policy/Admin"},
	{Action: "iam:CreateOpenIDConnectProvider", Resource: "arn:aws:iam::" + exampleAccount + ":oidc-provider/token.actions.githubusercontent.com"},
	{Action: "cloudformation:DeleteStack", Resource: "arn:aws:cloudformation:us-east-1:" + exampleAccount + ":stack/StackSet-cloudone-onboarder-member-1a2b/4f0e1f30-8a2b-11ee-9d3c-0a1b2c3d4e5f"},
	{Action: "lambda:UpdateFunctionCode", Resource: "arn:aws:lambda:us-east-1:" + exampleAccount + ":function:aws-controltower-NotificationForwarder"},
	{Action: "logs:DeleteLogGroup", Resource: "arn:aws:logs:us-east-1:" + exampleAccount + ":log-group:aws-controltower/CloudTrailLogs:*"},
	{Action: "s3:DeleteObject", Resource: "arn:aws:s3:::aws-controltower-logs-" + managementAccount + "-us-east-1/AWSLogs/x"},
	{Action: "s3:PutBucketPolicy", Resource: "arn:aws:s3:::" + managementAccount + "-us-east-1-cloud-one-cloudtrail-bucket"},
	{Action: "cloudtrail:StopLogging", Resource: "arn:aws:cloudtrail:us-east-1:" + managementAccount + ":trail/aws-controltower-BaselineCloudTrail"},
	{Action: "secretsmanager:GetSecretValue", Resource: "arn:aws:secretsmanager:us-east-1:" + exampleAccount + ":secret:cloudone-onboarder-a1B2c3"},
	{Action: "events:PutTargets", Resource: "arn:aws:events:us-east-1:" + exampleAccount + ":rule/StackSet-cloudone-onb-ForwardTrailEventsRule-1A2B3C"},
}

// ---------------------------------------------------------------- the checks

// missing reports each needed action the documents do not allow on its example resources.
func missing(docs []iampolicy.Document, tab permissionTable) []string {
	return missingWith(docs, tab, examples)
}

// missingWith is missing with the example resources of ex.
func missingWith(docs []iampolicy.Document, tab permissionTable, ex func(typ, action string) []iampolicy.Request) []string {
	var out []string
	for _, n := range tab.needs() {
		reqs := ex(n.typ, n.action)
		if len(reqs) == 0 {
			out = append(out, fmt.Sprintf("%s: %s: this test has no example resource for it (add one to examples, or mark it notNeeded with a reason)", n.typ, n.name))
			continue
		}
		for _, r := range reqs {
			if ok, why := iampolicy.Authorize(docs, nil, r); !ok {
				out = append(out, fmt.Sprintf("%s needs %s on %s: %s", n.typ, n.name, r.Resource, why))
			}
		}
	}
	return out
}

// beyond reports every action the documents allow that no type needs and outsideTable does not
// list, and Allow statements that use NotAction, NotResource or wildcards in actions.
func beyond(docs []iampolicy.Document, tab permissionTable) []string {
	return beyondWith(docs, tab, outsideTable, "testdata/trend-v1-permissions.json")
}

// beyondWith is beyond for the table of that file, with the actions outside it.
func beyondWith(docs []iampolicy.Document, tab permissionTable, outside map[string]string, file string) []string {
	needed := map[string]bool{}
	for _, n := range tab.needs() {
		needed[n.action] = true
	}
	var out []string
	for i, d := range docs {
		for j, s := range d.Statements {
			if s.Effect != "Allow" {
				continue
			}
			where := fmt.Sprintf("policy %d statement %d (%s)", i, j, s.Sid)
			if s.NotAction != nil || s.NotResource != nil {
				out = append(out, where+": NotAction or NotResource")
			}
			for _, a := range s.Action {
				la := strings.ToLower(a)
				switch {
				case strings.ContainsAny(la, "*?"):
					out = append(out, fmt.Sprintf("%s: action %s has a wildcard", where, a))
				case !needed[la] && outside[la] == "":
					out = append(out, fmt.Sprintf("%s: allows %s, which no resource type of %s needs (add it to the table, or to the actions outside it with the reason)", where, a, file))
				}
			}
		}
	}
	return out
}

// writesOnStar reports Allow statements on Resource "*" with an action that is not read-only
// (readOnlyOnStar of iam_test.go).
func writesOnStar(docs []iampolicy.Document) []string {
	var out []string
	for i, d := range docs {
		for j, s := range d.Statements {
			if s.Effect != "Allow" || !slices.Contains(s.Resource, "*") {
				continue
			}
			for _, a := range s.Action {
				if !readOnlyOnStar[strings.ToLower(a)] {
					out = append(out, fmt.Sprintf("policy %d statement %d (%s): %s on Resource \"*\"", i, j, s.Sid, a))
				}
			}
		}
	}
	return out
}

// outOfScope reports each roleScope request the documents allow.
func outOfScope(docs []iampolicy.Document) []string { return outOfScopeOf(docs, roleScope) }

// outOfScopeOf reports each of the requests the documents allow.
func outOfScopeOf(docs []iampolicy.Document, scope []iampolicy.Request) []string {
	var out []string
	for _, r := range scope {
		if ok, why := iampolicy.Authorize(docs, nil, r); ok {
			out = append(out, fmt.Sprintf("%s on %s (%v) is allowed: %s", r.Action, r.Resource, r.Context, why))
		}
	}
	return out
}

func report(t *testing.T, findings []string) {
	t.Helper()
	for _, f := range findings {
		t.Error(f)
	}
}

// ---------------------------------------------------------------- tests

func TestCloudFormationRoleAllowsWhatTrendsTemplateNeeds(t *testing.T) {
	tab, role := readTable(t), loadRole(t, nil)
	if n := len(tab.needs()); n < 100 {
		t.Fatalf("only %d needed actions in the table: is it still read?", n)
	}
	report(t, missing(role.docs, tab))
}

func TestCloudFormationRoleAllowsNothingElse(t *testing.T) {
	tab, role := readTable(t), loadRole(t, nil)
	report(t, beyond(role.docs, tab))
	report(t, writesOnStar(role.docs))
	report(t, outOfScope(role.docs))

	// outsideTable holds only what the table does not carry and the role grants.
	listed := map[string]bool{}
	for _, names := range tab.listed() {
		for _, n := range names {
			listed[canonical(n)] = true
		}
	}
	granted := map[string]bool{}
	for _, d := range role.docs {
		for _, s := range d.Statements {
			for _, a := range s.Action {
				granted[strings.ToLower(a)] = true
			}
		}
	}
	for a := range outsideTable {
		if listed[a] {
			t.Errorf("outsideTable lists %s, which the table carries: remove it from outsideTable", a)
		}
		if !granted[a] {
			t.Errorf("outsideTable lists %s, which the role does not grant: remove it", a)
		}
	}
}

func TestCloudFormationRoleTrust(t *testing.T) {
	root := parse(t, readTemplate(t, "member.yaml"))
	trust := get(get(get(get(root, "Resources"), "CloudFormationRole"), "Properties"), "AssumeRolePolicyDocument")
	v, err := resolve(trust, map[string]string{"AWS::AccountId": exampleAccount})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	d, err := iampolicy.Parse(b, iampolicy.Trust)
	if err != nil {
		t.Fatal(err)
	}
	cfn := iampolicy.Principal{Service: "cloudformation.amazonaws.com"}
	for _, tc := range []struct {
		name    string
		caller  iampolicy.Principal
		context map[string][]string
		want    iampolicy.Decision
	}{
		// CloudFormation is not documented to send aws:SourceAccount when it assumes a service
		// role: a trust that required it could refuse every stack operation (member.yaml).
		{"CloudFormation without a source account", cfn, nil, iampolicy.Allow},
		{"CloudFormation with a source account", cfn, map[string][]string{"aws:SourceAccount": {exampleAccount}}, iampolicy.Allow},
		{"Lambda", iampolicy.Principal{Service: "lambda.amazonaws.com"}, map[string][]string{"aws:SourceAccount": {exampleAccount}}, iampolicy.NotApplicable},
		{"a role of this account", iampolicy.Principal{ARN: "arn:aws:iam::" + exampleAccount + ":role/SandboxAdmin"}, nil, iampolicy.NotApplicable},
	} {
		got, _ := d.Evaluate(iampolicy.Request{Action: "sts:AssumeRole", Principal: tc.caller, Context: tc.context})
		if got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCloudFormationRoleNotNeededReasons(t *testing.T) {
	tab := readTable(t)
	listed := tab.listed()
	count := 0
	for _, rt := range tab.ResourceTypes {
		for action, why := range rt.NotNeeded {
			count++
			if len(strings.Fields(why)) < 4 {
				t.Errorf("%s: notNeeded %s: the reason %q does not say which property it serves and that the templates do not set it", rt.Type, action, why)
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

func TestCloudFormationRoleSize(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]string
	}{{"defaults", nil}, {"longest parameters", longParams}} {
		role := loadRole(t, tc.params)
		total := 0
		for _, b := range role.inline {
			total += iampolicy.MinifiedSize(b)
		}
		t.Logf("%s: inline policies %d characters (limit %d)", tc.name, total, maxRoleInlinePolicies)
		if total > maxRoleInlinePolicies {
			t.Errorf("%s: the role's inline policies have %d characters without white space; IAM accepts %d in total", tc.name, total, maxRoleInlinePolicies)
		}
		for i, b := range role.managed {
			if n := iampolicy.MinifiedSize(b); n > maxManagedPolicy {
				t.Errorf("%s: managed policy %d has %d characters; IAM accepts %d", tc.name, i, n, maxManagedPolicy)
			}
		}
	}
}

// TestCloudFormationRoleCatchesSeededGaps: each check reports a gap seeded into a copy of the
// role's documents, so that none of them passes vacuously.
func TestCloudFormationRoleCatchesSeededGaps(t *testing.T) {
	tab, role := readTable(t), loadRole(t, nil)
	extra := func(statement string) []iampolicy.Document {
		return append(slices.Clone(role.docs), iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[`+statement+`]}`, iampolicy.Identity))
	}
	cases := []struct {
		name  string
		check func([]iampolicy.Document) []string
		docs  []iampolicy.Document
		want  string
	}{
		{"dropped iam:TagRole", func(d []iampolicy.Document) []string { return missing(d, tab) },
			without(role.docs, "iam:TagRole"), "AWS::IAM::Role needs iam:TagRole on arn:aws:iam::111122223333:role/"},
		{"dropped cloudtrail:AddTags", func(d []iampolicy.Document) []string { return missing(d, tab) },
			without(role.docs, "cloudtrail:AddTags"), "AWS::CloudTrail::Trail needs CloudTrail:AddTags"},
		{"dropped s3:PutBucketCORS (authorizes DeleteBucketCors)", func(d []iampolicy.Document) []string { return missing(d, tab) },
			without(role.docs, "s3:PutBucketCORS"), "AWS::S3::Bucket needs s3:DeleteBucketCors"},
		{"extra action", func(d []iampolicy.Document) []string { return beyond(d, tab) },
			extra(`{"Effect":"Allow","Action":"iam:CreateUser","Resource":"arn:aws:iam::111122223333:user/CloudOne-x"}`), "allows iam:CreateUser"},
		{"action wildcard", func(d []iampolicy.Document) []string { return beyond(d, tab) },
			extra(`{"Effect":"Allow","Action":"lambda:*","Resource":"arn:aws:lambda:*:111122223333:function:CloudOne-*"}`), "has a wildcard"},
		{"write on star", writesOnStar,
			extra(`{"Effect":"Allow","Action":["cloudtrail:DescribeTrails","cloudtrail:StopLogging"],"Resource":"*"}`), "cloudtrail:StopLogging on Resource \"*\""},
		{"wider resource", outOfScope,
			extra(`{"Effect":"Allow","Action":"cloudtrail:StopLogging","Resource":"arn:aws:cloudtrail:*:*:trail/*"}`), "cloudtrail:StopLogging on arn:aws:cloudtrail:us-east-1:999988887777:trail/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if before := tc.check(role.docs); len(before) > 0 {
				t.Fatalf("the role already fails this check (%d findings), so the check cannot be shown to catch the mutation: see the other tests", len(before))
			}
			found := tc.check(tc.docs)
			for _, f := range found {
				if strings.Contains(f, tc.want) {
					return
				}
			}
			t.Errorf("want a finding containing %q, got:\n%s", tc.want, strings.Join(found, "\n"))
		})
	}
}

// without returns a copy of docs with action removed from every statement (and statements left
// without actions dropped).
func without(docs []iampolicy.Document, action string) []iampolicy.Document {
	var out []iampolicy.Document
	for _, d := range docs {
		c := d
		c.Statements = nil
		for _, s := range d.Statements {
			s.Action = slices.DeleteFunc(slices.Clone(s.Action), func(a string) bool { return strings.EqualFold(a, action) })
			if len(s.Action) > 0 || s.NotAction != nil {
				c.Statements = append(c.Statements, s)
			}
		}
		out = append(out, c)
	}
	return out
}
