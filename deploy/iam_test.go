package deploy_test

// The IAM rules of issue 4, checked on the templates themselves:
//   - no Action "*", no "service:*", no wildcard or NotAction in any action list;
//   - no write action on Resource "*" (or NotResource): only the read-only actions in
//     readOnlyOnStar may use "*", because AWS supports nothing narrower for them;
//   - sts:AssumeRole only on a role named by a parameter, with an aws:ResourceOrgID condition;
//   - secretsmanager:GetSecretValue only on the secret (no wildcard), kms:Decrypt only via a
//     service (kms:ViaService) on a named key;
//   - queue, bus and table actions only on resources of the template or an ARN parameter;
//   - trust policies that name accounts require aws:PrincipalOrgID; resource policies open to
//     "*" require an organization or source condition;
//   - no managed policies (SAM policy names, ManagedPolicyArns): they grant writes on "*".
// SAM function Policies (inline statements and policy templates) are checked like roles.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
)

// readOnlyOnStar lists the actions that may use Resource "*": each is read-only and supports
// no narrower resource (or must read resources of other accounts, like organization trails).
var readOnlyOnStar = map[string]bool{
	"organizations:listaccounts":                     true,
	"organizations:listaccountsforparent":            true,
	"organizations:listorganizationalunitsforparent": true,
	"organizations:describeaccount":                  true,
	"organizations:listparents":                      true,
	"organizations:describeorganization":             true,
	"cloudtrail:describetrails":                      true,
	"cloudtrail:gettrailstatus":                      true,
	"cloudtrail:geteventselectors":                   true,
	"cloudtrail:listtags":                            true,
	"s3:listallmybuckets":                            true,
	"iam:listaccountaliases":                         true,
	"cloudformation:gettemplatesummary":              true,
	// The operator policy's Organizations reads (validate's guardrail check, status's OU names).
	"organizations:describeorganizationalunit": true,
	"organizations:listroots":                  true,
	"organizations:listpolicies":               true,
	"organizations:listtargetsforpolicy":       true,
}

// scopedSAMTemplates are SAM policy templates whose statements are scoped to the resource
// named in their argument. Any other template (or a managed policy name) fails.
var scopedSAMTemplates = map[string]bool{
	"SQSSendMessagePolicy":                  true,
	"SQSPollerPolicy":                       true,
	"DynamoDBReadPolicy":                    true,
	"DynamoDBCrudPolicy":                    true,
	"AWSSecretsManagerGetSecretValuePolicy": true,
	"LambdaInvokePolicy":                    true,
	"EventBridgePutEventsPolicy":            true,
}

// ---------------------------------------------------------------- yaml.Node helpers

func parse(t *testing.T, src []byte) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatalf("parse template: %v", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatalf("template is not a YAML mapping")
	}
	return doc.Content[0]
}

// get returns the value of key in a mapping node, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// pairs returns the key/value pairs of a mapping node in order.
func pairs(m *yaml.Node) [][2]*yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		out = append(out, [2]*yaml.Node{m.Content[i], m.Content[i+1]})
	}
	return out
}

// intrinsic reports the CloudFormation function of n, in short (!Ref) or long (Ref:, Fn::Sub:)
// form, and its argument.
func intrinsic(n *yaml.Node) (string, *yaml.Node) {
	if n == nil {
		return "", nil
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		name := strings.TrimPrefix(n.Tag, "!")
		if name != "Ref" && name != "Condition" {
			name = "Fn::" + name
		}
		arg := *n
		arg.Tag = ""
		return name, &arg
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
		k := n.Content[0].Value
		if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
			return k, n.Content[1]
		}
	}
	return "", nil
}

// expand flattens plain lists and both branches of Fn::If, and drops AWS::NoValue.
func expand(n *yaml.Node) []*yaml.Node {
	if n == nil {
		return nil
	}
	switch fn, arg := intrinsic(n); fn {
	case "Fn::If":
		if arg.Kind == yaml.SequenceNode && len(arg.Content) == 3 {
			return append(expand(arg.Content[1]), expand(arg.Content[2])...)
		}
		return []*yaml.Node{n}
	case "Ref":
		if arg.Value == "AWS::NoValue" {
			return nil
		}
		return []*yaml.Node{n}
	case "":
	default:
		return []*yaml.Node{n}
	}
	if n.Kind == yaml.SequenceNode {
		var out []*yaml.Node
		for _, c := range n.Content {
			out = append(out, expand(c)...)
		}
		return out
	}
	return []*yaml.Node{n}
}

// text is the literal text of a scalar or the template string of a Fn::Sub.
func text(n *yaml.Node) (string, bool) {
	if n == nil {
		return "", false
	}
	fn, arg := intrinsic(n)
	switch fn {
	case "":
		if n.Kind == yaml.ScalarNode {
			return n.Value, true
		}
	case "Fn::Sub":
		if arg.Kind == yaml.ScalarNode {
			return arg.Value, true
		}
		if arg.Kind == yaml.SequenceNode && len(arg.Content) > 0 && arg.Content[0].Kind == yaml.ScalarNode {
			return arg.Content[0].Value, true
		}
	}
	return "", false
}

// describe renders a value for messages.
func describe(n *yaml.Node) string {
	if n == nil {
		return "<nothing>"
	}
	if s, ok := text(n); ok {
		return fmt.Sprintf("%q", s)
	}
	if fn, arg := intrinsic(n); fn != "" {
		if arg.Kind == yaml.ScalarNode {
			return fn + " " + arg.Value
		}
		return fn + " ..."
	}
	return "<" + n.ShortTag() + ">"
}

// ---------------------------------------------------------------- the checker

type checker struct {
	file       string
	params     map[string]bool
	resources  map[string]bool
	findings   []string
	statements int // identity-policy statements checked (guards against a vacuous pass)
	assumes    int // sts:AssumeRole statements checked
}

func (c *checker) bad(where string, n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	c.findings = append(c.findings, fmt.Sprintf("%s:%d: %s: %s", c.file, line, where, fmt.Sprintf(format, args...)))
}

// ownRef reports whether n names a resource or parameter of this template, without wildcards:
// !Ref X, !GetAtt X.Arn, or a !Sub whose text has no "*" and refers to one of them.
func (c *checker) ownRef(n *yaml.Node) bool {
	switch fn, arg := intrinsic(n); fn {
	case "Ref":
		return c.resources[arg.Value] || c.params[arg.Value]
	case "Fn::GetAtt":
		name := arg.Value
		if arg.Kind == yaml.SequenceNode && len(arg.Content) > 0 {
			name = arg.Content[0].Value
		}
		name, _, _ = strings.Cut(name, ".")
		return c.resources[name]
	case "Fn::Sub":
		s, _ := text(n)
		if strings.Contains(s, "*") {
			return false
		}
		for _, m := range regexp.MustCompile(`\$\{([^}!]+)\}`).FindAllStringSubmatch(s, -1) {
			name, _, _ := strings.Cut(m[1], ".")
			if c.resources[name] || c.params[name] {
				return true
			}
		}
	}
	return false
}

func isStar(n *yaml.Node) bool {
	s, ok := text(n)
	return ok && s == "*"
}

func lowerAll(ns []*yaml.Node) []string {
	var out []string
	for _, n := range ns {
		s, _ := text(n)
		out = append(out, strings.ToLower(s))
	}
	return out
}

// conditionKey reports whether the statement has the key (case-insensitive) under any operator
// whose name contains op ("" matches any operator).
func conditionKey(stmt *yaml.Node, op, key string) bool {
	for _, opPair := range pairs(get(stmt, "Condition")) {
		if op != "" && !strings.Contains(opPair[0].Value, op) {
			continue
		}
		for _, kv := range pairs(opPair[1]) {
			if strings.EqualFold(kv[0].Value, key) {
				return true
			}
		}
	}
	return false
}

// identityStatement checks one statement of a policy attached to a principal.
func (c *checker) identityStatement(where string, stmt *yaml.Node) {
	if stmt.Kind != yaml.MappingNode {
		c.bad(where, stmt, "statement is not a mapping (%s)", describe(stmt))
		return
	}
	c.statements++
	if get(stmt, "NotAction") != nil {
		c.bad(where, stmt, "NotAction grants every other action")
	}
	if get(stmt, "NotResource") != nil {
		c.bad(where, stmt, "NotResource grants every other resource")
	}
	actionNodes := expand(get(stmt, "Action"))
	if len(actionNodes) == 0 && get(stmt, "NotAction") == nil {
		c.bad(where, stmt, "statement has no Action")
	}
	actions := lowerAll(actionNodes)
	for i, a := range actions {
		if a == "" {
			c.bad(where, actionNodes[i], "action %s is not a literal", describe(actionNodes[i]))
		} else if strings.Contains(a, "*") {
			c.bad(where, actionNodes[i], "action %q has a wildcard", a)
		}
	}
	allow := true
	if e, ok := text(get(stmt, "Effect")); ok && e == "Deny" {
		allow = false
	}
	if !allow {
		return
	}
	resources := expand(get(stmt, "Resource"))
	if len(resources) == 0 && get(stmt, "NotResource") == nil {
		c.bad(where, stmt, "statement has no Resource")
	}
	star := slices.ContainsFunc(resources, isStar)
	if star {
		for i, a := range actions {
			if a != "" && !readOnlyOnStar[a] {
				c.bad(where, actionNodes[i], "write (or unlisted) action %q on Resource \"*\"", a)
			}
		}
	}
	for _, a := range actions {
		service, _, _ := strings.Cut(a, ":")
		switch {
		case a == "sts:assumerole":
			c.assumes++
			for _, r := range resources {
				s, ok := text(r)
				if !ok || !regexp.MustCompile(`:role/(\$\{[A-Za-z0-9]+\}|[\w+=,.@-]+)$`).MatchString(s) {
					c.bad(where, r, "sts:AssumeRole on %s: must name one role (by parameter or literal), no wildcard in the name", describe(r))
				}
			}
			if !conditionKey(stmt, "StringEquals", "aws:ResourceOrgID") {
				c.bad(where, stmt, "sts:AssumeRole without a StringEquals aws:ResourceOrgID condition")
			}
		case a == "secretsmanager:getsecretvalue":
			for _, r := range resources {
				// The CloudFormation service role updates the one secret Trend's nested stack
				// makes (its update handler reads it back), which no Ref can name: it may read
				// exactly that name pattern.
				if t, ok := text(r); ok && strings.HasSuffix(t, ":secret:AuthTokenSecretManager-*") {
					continue
				}
				if !c.ownRef(r) {
					c.bad(where, r, "secretsmanager:GetSecretValue on %s: only on the secret (a Ref to its ARN parameter or resource)", describe(r))
				}
			}
		case a == "kms:decrypt":
			for _, r := range resources {
				if !c.ownRef(r) {
					c.bad(where, r, "kms:Decrypt on %s: only on the named key", describe(r))
				}
			}
			if !conditionKey(stmt, "", "kms:ViaService") {
				c.bad(where, stmt, "kms:Decrypt without a kms:ViaService condition")
			}
		case service == "sqs" || service == "dynamodb" || a == "events:putevents":
			for _, r := range resources {
				// The Vision One stack's service role makes the stack's own queue, which
				// CloudFormation names after the stack (<stack>-<LogicalId>-<suffix>) and no
				// Ref of member.yaml can name: it may manage the queues named so.
				if t, ok := text(r); ok && service == "sqs" && strings.HasPrefix(where, "VisionOneCloudFormationRole ") &&
					strings.HasSuffix(t, ":${AWS::AccountId}:${VisionOneNamePrefix}*") {
					continue
				}
				if !c.ownRef(r) {
					c.bad(where, r, "%s on %s: only on this template's own queue, table or bus", a, describe(r))
				}
			}
		}
	}
}

// policyDocument checks the statements of an identity policy document.
func (c *checker) policyDocument(where string, doc *yaml.Node) {
	if doc == nil {
		c.bad(where, doc, "policy without PolicyDocument")
		return
	}
	for _, d := range expand(doc) {
		for _, s := range expand(get(d, "Statement")) {
			c.identityStatement(where, s)
		}
	}
}

// trustPolicy checks an AssumeRolePolicyDocument.
func (c *checker) trustPolicy(where string, doc *yaml.Node) {
	for _, d := range expand(doc) {
		for _, s := range expand(get(d, "Statement")) {
			for _, a := range lowerAll(expand(get(s, "Action"))) {
				if strings.Contains(a, "*") {
					c.bad(where, s, "trust action %q has a wildcard", a)
				}
			}
			p := get(s, "Principal")
			if isStar(p) {
				c.bad(where, s, "trust policy open to Principal \"*\"")
			}
			if aws := get(p, "AWS"); aws != nil {
				if !conditionKey(s, "", "aws:PrincipalOrgID") {
					c.bad(where, s, "trust of AWS principals without an aws:PrincipalOrgID condition")
				}
			}
		}
	}
}

// resourcePolicy checks a resource-based policy (queue, bus, topic).
func (c *checker) resourcePolicy(where string, statements []*yaml.Node) {
	for _, s := range statements {
		for _, a := range lowerAll(expand(get(s, "Action"))) {
			if strings.Contains(a, "*") {
				c.bad(where, s, "action %q has a wildcard", a)
			}
		}
		p := get(s, "Principal")
		open := isStar(p) || isStar(get(p, "AWS"))
		if open && !conditionKey(s, "", "aws:PrincipalOrgID") && !conditionKey(s, "", "aws:SourceArn") &&
			!conditionKey(s, "", "aws:SourceAccount") {
			c.bad(where, s, "resource policy open to \"*\" without aws:PrincipalOrgID, aws:SourceArn or aws:SourceAccount")
		}
	}
}

// samPolicies checks the Policies property of a SAM function.
func (c *checker) samPolicies(where string, policies *yaml.Node) {
	if s, ok := text(policies); ok && policies.Kind == yaml.ScalarNode {
		c.bad(where, policies, "managed policy %q (managed policies grant writes on \"*\"; use inline statements)", s)
		return
	}
	if get(policies, "Statement") != nil { // a single inline document
		c.policyDocument(where, policies)
		return
	}
	for _, p := range expand(policies) {
		switch {
		case p.Kind == yaml.ScalarNode || intrinsic1(p):
			c.bad(where, p, "managed policy %s (managed policies grant writes on \"*\"; use inline statements)", describe(p))
		case get(p, "Statement") != nil:
			c.policyDocument(where, p)
		case p.Kind == yaml.MappingNode && len(p.Content) == 2:
			name := p.Content[0].Value
			if !scopedSAMTemplates[name] {
				c.bad(where, p, "SAM policy template %s is not on the list of scoped templates", name)
			}
		default:
			c.bad(where, p, "unrecognised SAM policy entry")
		}
	}
}

func intrinsic1(n *yaml.Node) bool { fn, _ := intrinsic(n); return fn != "" }

// check runs every rule over a template and returns the checker with its findings.
func check(t *testing.T, file string, src []byte) *checker {
	t.Helper()
	root := parse(t, src)
	c := &checker{file: file, params: map[string]bool{}, resources: map[string]bool{}}
	for _, p := range pairs(get(root, "Parameters")) {
		c.params[p[0].Value] = true
	}
	for _, r := range pairs(get(root, "Resources")) {
		c.resources[r[0].Value] = true
	}
	for _, r := range pairs(get(root, "Resources")) {
		name, res := r[0].Value, r[1]
		typ, _ := text(get(res, "Type"))
		props := get(res, "Properties")
		where := name + " (" + typ + ")"
		switch typ {
		case "AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group":
			for _, p := range expand(get(props, "Policies")) {
				c.policyDocument(where, get(p, "PolicyDocument"))
			}
			if typ == "AWS::IAM::Role" {
				c.trustPolicy(where, get(props, "AssumeRolePolicyDocument"))
			}
			for _, m := range expand(get(props, "ManagedPolicyArns")) {
				c.bad(where, m, "managed policy %s (managed policies grant writes on \"*\"; use inline statements)", describe(m))
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy", "AWS::IAM::UserPolicy", "AWS::IAM::GroupPolicy":
			c.policyDocument(where, get(props, "PolicyDocument"))
		case "AWS::Serverless::Function", "AWS::Serverless::StateMachine":
			if p := get(props, "Policies"); p != nil {
				c.samPolicies(where, p)
			}
		case "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy":
			for _, d := range expand(get(props, "PolicyDocument")) {
				c.resourcePolicy(where, expand(get(d, "Statement")))
			}
		case "AWS::Events::EventBusPolicy":
			c.resourcePolicy(where, expand(get(props, "Statement")))
		}
	}
	// SAM Globals may carry Policies too.
	if p := get(get(get(root, "Globals"), "Function"), "Policies"); p != nil {
		c.samPolicies("Globals.Function", p)
	}
	return c
}

// ---------------------------------------------------------------- tests

func readTemplate(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

func TestTemplatesFollowIAMRules(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"template.yaml", "member.yaml", "visionone-trail.yaml"} {
		if !slices.Contains(files, want) {
			t.Fatalf("deploy/%s is missing (found %v)", want, files)
		}
	}
	minimum := map[string]struct{ statements, assumes int }{
		"template.yaml": {statements: 15, assumes: 1},
		"member.yaml":   {statements: 10, assumes: 0},
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			c := check(t, f, readTemplate(t, f))
			for _, msg := range c.findings {
				t.Error(msg)
			}
			if m, ok := minimum[f]; ok {
				if c.statements < m.statements {
					t.Errorf("only %d policy statements checked, want at least %d: is the checker still finding the policies?", c.statements, m.statements)
				}
				if c.assumes < m.assumes {
					t.Errorf("%d sts:AssumeRole statements checked, want at least %d", c.assumes, m.assumes)
				}
			}
		})
	}
}

// TestCheckerCatchesBadPolicies seeds bad policies so that the rules cannot pass vacuously.
func TestCheckerCatchesBadPolicies(t *testing.T) {
	const head = `
Transform: AWS::Serverless-2016-10-31
Parameters:
  SecretArn: {Type: String}
  ExecutionRoleName: {Type: String}
  OrganizationId: {Type: String}
Resources:
  Queue: {Type: AWS::SQS::Queue}
`
	role := func(statement string) string {
		return head + `
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
` + statement
	}
	fn := func(policies string) string {
		return head + `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: x.zip
      Policies:
` + policies
	}
	cases := []struct {
		name, src, want string // want "" means: no finding
	}{
		{"good role", role(`
              - {Effect: Allow, Action: sqs:SendMessage, Resource: !GetAtt Queue.Arn}
              - Effect: Allow
                Action: sts:AssumeRole
                Resource: !Sub "arn:${AWS::Partition}:iam::*:role/${ExecutionRoleName}"
                Condition: {StringEquals: {aws:ResourceOrgID: !Ref OrganizationId}}
              - {Effect: Allow, Action: secretsmanager:GetSecretValue, Resource: !Ref SecretArn}
              - {Effect: Allow, Action: organizations:ListAccounts, Resource: "*"}
`), ""},
		{"action star", role(`
              - {Effect: Allow, Action: "*", Resource: !GetAtt Queue.Arn}
`), `action "*" has a wildcard`},
		{"service star", role(`
              - {Effect: Allow, Action: ["s3:GetObject", "sqs:*"], Resource: !GetAtt Queue.Arn}
`), `action "sqs:*" has a wildcard`},
		{"write on star", role(`
              - {Effect: Allow, Action: [cloudtrail:DescribeTrails, cloudtrail:StopLogging], Resource: "*"}
`), `write (or unlisted) action "cloudtrail:stoplogging" on Resource "*"`},
		{"write on star in a list", role(`
              - Effect: Allow
                Action: lambda:CreateFunction
                Resource: [!Sub "arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:x", "*"]
`), `write (or unlisted) action "lambda:createfunction"`},
		{"write on star in Fn::If branch", role(`
              - !If
                - SomeCondition
                - {Effect: Allow, Action: iam:CreateRole, Resource: "*"}
                - !Ref AWS::NoValue
`), `write (or unlisted) action "iam:createrole"`},
		{"long-form Fn::If", role(`
              - Fn::If:
                  - SomeCondition
                  - {Effect: Allow, Action: iam:PutRolePolicy, Resource: "*"}
                  - {Ref: AWS::NoValue}
`), `write (or unlisted) action "iam:putrolepolicy"`},
		{"NotAction", role(`
              - {Effect: Allow, NotAction: iam:CreateUser, Resource: !GetAtt Queue.Arn}
`), "NotAction grants every other action"},
		{"assume any role", role(`
              - Effect: Allow
                Action: sts:AssumeRole
                Resource: "arn:aws:iam::*:role/*"
                Condition: {StringEquals: {aws:ResourceOrgID: !Ref OrganizationId}}
`), "must name one role"},
		{"assume without org", role(`
              - Effect: Allow
                Action: sts:AssumeRole
                Resource: !Sub "arn:${AWS::Partition}:iam::*:role/${ExecutionRoleName}"
`), "without a StringEquals aws:ResourceOrgID condition"},
		{"secret wildcard", role(`
              - Effect: Allow
                Action: secretsmanager:GetSecretValue
                Resource: !Sub "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"
`), "only on the secret"},
		{"kms without via", role(`
              - {Effect: Allow, Action: kms:Decrypt, Resource: !Ref SecretArn}
`), "without a kms:ViaService condition"},
		{"foreign queue", role(`
              - {Effect: Allow, Action: sqs:SendMessage, Resource: "arn:aws:sqs:us-east-1:123456789012:other"}
`), "only on this template's own queue"},
		{"managed policy on role", head + `
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}
      ManagedPolicyArns: [arn:aws:iam::aws:policy/AdministratorAccess]
`, "managed policy"},
		{"trust without org", head + `
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {AWS: "arn:aws:iam::123456789012:root"}, Action: sts:AssumeRole}
`, "without an aws:PrincipalOrgID condition"},
		{"open bus policy", head + `
  Bus: {Type: AWS::Events::EventBus, Properties: {Name: b}}
  BusPolicy:
    Type: AWS::Events::EventBusPolicy
    Properties:
      EventBusName: !Ref Bus
      StatementId: s
      Statement: {Effect: Allow, Principal: "*", Action: events:PutEvents, Resource: !GetAtt Bus.Arn}
`, "open to \"*\" without aws:PrincipalOrgID"},
		{"SAM inline statement", fn(`
        - Statement:
            - {Effect: Allow, Action: s3:PutObject, Resource: "*"}
`), `write (or unlisted) action "s3:putobject"`},
		{"SAM managed policy name", fn(`
        - AWSLambdaBasicExecutionRole
`), "managed policy"},
		{"SAM unscoped template", fn(`
        - CloudWatchPutMetricPolicy: {}
`), "not on the list of scoped templates"},
		{"SAM good template", fn(`
        - SQSSendMessagePolicy: {QueueName: !GetAtt Queue.QueueName}
`), ""},
		{"SAM single document", head + `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: x.zip
      Policies:
        Statement:
          - {Effect: Allow, Action: dynamodb:DeleteTable, Resource: "*"}
`, `write (or unlisted) action "dynamodb:deletetable"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := check(t, "inline.yaml", []byte(tc.src))
			if tc.want == "" {
				if len(c.findings) > 0 {
					t.Fatalf("want no finding, got:\n%s", strings.Join(c.findings, "\n"))
				}
				return
			}
			for _, f := range c.findings {
				if strings.Contains(f, tc.want) {
					return
				}
			}
			t.Fatalf("want a finding containing %q, got:\n%s", tc.want, strings.Join(c.findings, "\n"))
		})
	}
}

// TestEnvironmentMatchesConfig keeps the functions' environment and internal/config in step:
// every variable the template sets is one config reads, and the values are references, so no
// secret can sit in a literal.
func TestEnvironmentMatchesConfig(t *testing.T) {
	root := parse(t, readTemplate(t, "template.yaml"))
	vars := get(get(get(get(root, "Globals"), "Function"), "Environment"), "Variables")
	if vars == nil {
		t.Fatal("template.yaml: Globals.Function.Environment.Variables is missing")
	}
	read := map[string]bool{}
	if _, err := config.FromLookup(func(name string) (string, bool) { read[name] = true; return "", false }); err != nil {
		t.Fatalf("config.FromLookup on an empty environment: %v", err)
	}
	var set []string
	for _, kv := range pairs(vars) {
		name := kv[0].Value
		set = append(set, name)
		if !read[name] {
			t.Errorf("template sets %s, which internal/config does not read", name)
		}
		if fn, _ := intrinsic(kv[1]); fn == "" {
			t.Errorf("%s is a literal (%s): use a parameter or resource reference", name, describe(kv[1]))
		}
	}
	// Variables config reads that the template leaves to their defaults, on purpose.
	defaults := map[string]bool{
		"ONBOARDER_SECRET_CACHE_TTL":  true,
		"ONBOARDER_CHECK_MIN_DELAY":   true,
		"ONBOARDER_CHECK_MAX_DELAY":   true,
		"ONBOARDER_MAX_FAILURES":      true,
		"ONBOARDER_ASSUME_ROLE_GRACE": true,
	}
	var missing []string
	for name := range read {
		if !slices.Contains(set, name) && !defaults[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("internal/config reads %v, which template.yaml does not set", missing)
	}
	// Functions may add variables; they must follow the same rules.
	for _, r := range pairs(get(root, "Resources")) {
		for _, kv := range pairs(get(get(get(r[1], "Properties"), "Environment"), "Variables")) {
			if !read[kv[0].Value] {
				t.Errorf("%s sets %s, which internal/config does not read", r[0].Value, kv[0].Value)
			}
		}
	}
}

// TestNoSecretInParametersOrOutputs: the secret parameter is an ARN without default, and no
// output refers to it.
func TestNoSecretInParametersOrOutputs(t *testing.T) {
	root := parse(t, readTemplate(t, "template.yaml"))
	p := get(get(root, "Parameters"), "SecretArn")
	if p == nil {
		t.Fatal("template.yaml: parameter SecretArn is missing")
	}
	if get(p, "Default") != nil {
		t.Error("SecretArn must have no default")
	}
	for _, o := range pairs(get(root, "Outputs")) {
		var buf strings.Builder
		enc := yaml.NewEncoder(&buf)
		_ = enc.Encode(o[1])
		if strings.Contains(buf.String(), "Secret") {
			t.Errorf("output %s refers to the secret", o[0].Value)
		}
	}
}

// rulePattern is the EventPattern of a rule of a template, as written (intrinsics unresolved).
func rulePattern(t *testing.T, file, rule string) any {
	t.Helper()
	root := parse(t, readTemplate(t, file))
	n := get(get(get(get(root, "Resources"), rule), "Properties"), "EventPattern")
	if n == nil {
		t.Fatalf("%s: %s has no EventPattern", file, rule)
	}
	var v any
	if err := n.Decode(&v); err != nil {
		t.Fatalf("%s: %s: %v", file, rule, err)
	}
	return v
}
