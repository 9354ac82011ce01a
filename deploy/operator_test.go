package deploy_test

// The operators' policy of template.yaml (OperatorPolicy) grants each AWS call the operator
// command makes, on the resource it makes it on, and nothing more: the calls are found in the
// command's source (cmd/onboarder) and in the methods of the product's packages it calls
// (the ledger, the rollout store, the queue sender, the scope), as SDK operation inputs and
// paginators; the policy is evaluated as AWS evaluates it (integration/localworld/iampolicy).
// It grants nothing that reaches the Cloud One key or a member account.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/iampolicy"
)

const (
	opRegion  = "eu-west-1"
	opAccount = "123456789012"
	opTable   = "arn:aws:dynamodb:" + opRegion + ":" + opAccount + ":table/cloudone-onboarder-LedgerTable-ABC"
)

// operatorIAMAction names the IAM action that authorizes an SDK operation, where it is not the
// operation's own name (SQS Developer Guide, "Amazon SQS API permissions": SendMessageBatch
// is authorized as sqs:SendMessage; Lambda's Invoke is lambda:InvokeFunction,
// https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
var operatorIAMAction = map[string]string{
	"sqs:SendMessageBatch": "sqs:SendMessage",
	"lambda:Invoke":        "lambda:InvokeFunction",
}

// iamPrefix is each SDK service package's IAM service prefix.
var iamPrefix = map[string]string{
	"cloudformation": "cloudformation", "cloudtrail": "cloudtrail", "dynamodb": "dynamodb", "eventbridge": "events",
	"lambda": "lambda", "organizations": "organizations", "sqs": "sqs", "sts": "sts", "secretsmanager": "secretsmanager",
	"iam": "iam", "s3": "s3",
}

// free are the calls that need no permission: "no permissions are required to perform this
// operation" (STS API Reference, GetCallerIdentity).
var free = map[string]bool{"sts:GetCallerIdentity": true}

// srcFile is a parsed Go file with what its imports are named.
type srcFile struct {
	pkg     string // the product package it belongs to ("main" for the command)
	file    *ast.File
	imports map[string]string // local name -> import path
}

func parseDir(t *testing.T, dir, pkg string) []srcFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []srcFile
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		sf := srcFile{pkg: pkg, file: f, imports: map[string]string{}}
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			name := path[strings.LastIndex(path, "/")+1:]
			if im.Name != nil {
				name = im.Name.Name
			}
			sf.imports[name] = path
		}
		out = append(out, sf)
	}
	if len(out) == 0 {
		t.Fatalf("no Go file in %s", dir)
	}
	return out
}

const sdkService = "github.com/aws/aws-sdk-go-v2/service/"
const product = "github.com/cloudone-onboarder/cloudone-onboarder/internal/"

// operatorCalls lists the IAM actions of the operator command's AWS calls.
func operatorCalls(t *testing.T) []string {
	t.Helper()
	// The product packages whose methods and functions the command may call.
	wrappers := map[string][]srcFile{}
	for _, p := range []string{"ledger", "rollout", "queue", "org", "reconcile"} {
		wrappers[p] = parseDir(t, filepath.Join("..", "internal", p), p)
	}
	// funcs indexes every function and method of the wrappers by package and name.
	type fn struct {
		pkg  string
		decl *ast.FuncDecl
		file srcFile
	}
	funcs := map[string][]fn{} // "pkg.Name" -> declarations (methods of any type share a name)
	for pkg, files := range wrappers {
		for _, f := range files {
			for _, d := range f.file.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
					funcs[pkg+"."+fd.Name.Name] = append(funcs[pkg+"."+fd.Name.Name], fn{pkg, fd, f})
				}
			}
		}
	}
	calls := map[string]bool{}
	constructed := map[string]bool{} // wrapper types the code builds ("ledger.Table")
	var queue []fn
	seen := map[*ast.FuncDecl]bool{}
	// visit records the SDK operations n names and queues the wrapper code it calls.
	visit := func(sf srcFile, n ast.Node, methods map[string]bool) {
		ast.Inspect(n, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CompositeLit:
				if sel, ok := x.Type.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok && strings.HasPrefix(sf.imports[id.Name], product) {
						constructed[strings.TrimPrefix(sf.imports[id.Name], product)+"."+sel.Sel.Name] = true
					}
				}
			case *ast.SelectorExpr:
				id, ok := x.X.(*ast.Ident)
				if !ok {
					return true
				}
				path := sf.imports[id.Name]
				switch {
				case strings.HasPrefix(path, sdkService):
					svc := strings.TrimPrefix(path, sdkService)
					name := x.Sel.Name
					var op string
					if strings.HasPrefix(name, "New") && strings.HasSuffix(name, "Paginator") {
						op = strings.TrimSuffix(strings.TrimPrefix(name, "New"), "Paginator")
					} else if strings.HasSuffix(name, "Input") {
						op = strings.TrimSuffix(name, "Input")
					}
					if op != "" && iamPrefix[svc] != "" {
						calls[svc+":"+op] = true
					}
				case strings.HasPrefix(path, product):
					for _, f := range funcs[strings.TrimPrefix(path, product)+"."+x.Sel.Name] {
						if f.decl.Recv == nil {
							queue = append(queue, f)
						}
					}
				default:
					methods[x.Sel.Name] = true // a method call on a value: resolved below
				}
			case *ast.CallExpr:
				if id, ok := x.Fun.(*ast.Ident); ok && sf.pkg != "main" {
					queue = append(queue, funcs[sf.pkg+"."+id.Name]...) // a function of the same package
				}
			}
			return true
		})
	}
	methods := map[string]bool{}
	for _, f := range parseDir(t, filepath.Join("..", "cmd", "onboarder"), "main") {
		visit(f, f.file, methods)
	}
	for round := 0; round < 20; round++ {
		// Method calls resolve to the methods of that name of the wrapper types built.
		for key, fs := range funcs {
			name := key[strings.Index(key, ".")+1:]
			if !methods[name] {
				continue
			}
			for _, f := range fs {
				if f.decl.Recv == nil || len(f.decl.Recv.List) == 0 {
					continue
				}
				typ := f.decl.Recv.List[0].Type
				if st, ok := typ.(*ast.StarExpr); ok {
					typ = st.X
				}
				if id, ok := typ.(*ast.Ident); ok && constructed[f.pkg+"."+id.Name] {
					queue = append(queue, f)
				}
			}
		}
		if len(queue) == 0 {
			break
		}
		next := queue
		queue = nil
		for _, f := range next {
			if seen[f.decl] {
				continue
			}
			seen[f.decl] = true
			visit(f.file, f.decl.Body, methods)
		}
	}
	var out []string
	for c := range calls {
		if a, ok := operatorIAMAction[c]; ok {
			c = a
		}
		svc, op, _ := strings.Cut(c, ":")
		if p := iamPrefix[svc]; p != "" {
			c = p + ":" + op
		}
		if !free[c] && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}

// operatorPolicy is the OperatorPolicy of template.yaml, resolved for an install account.
func operatorPolicy(t *testing.T) iampolicy.Document {
	t.Helper()
	r, a := opRegion, opAccount
	doc, content, err := localworld.ResourcePolicy("template.yaml", "OperatorPolicy", "PolicyDocument", iampolicy.Identity, localworld.TemplateValues{
		Region: r, Account: a,
		Params: map[string]string{"EventBusName": "cloudone-onboarder", "OrganizationId": "o-abcdefghij", "SecretArn": "arn:aws:secretsmanager:" + r + ":" + a + ":secret:x"},
		Refs:   map[string]string{"OnboarderBus": "cloudone-onboarder"},
		Attrs: map[string]string{
			"ReconcileFunction.Arn":        "arn:aws:lambda:" + r + ":" + a + ":function:cloudone-onboarder-ReconcileFunction-ABC",
			"ReconcileQueue.Arn":           "arn:aws:sqs:" + r + ":" + a + ":cloudone-onboarder-reconcile.fifo",
			"ReconcileDeadLetterQueue.Arn": "arn:aws:sqs:" + r + ":" + a + ":cloudone-onboarder-reconcile-dlq.fifo",
			"LedgerTable.Arn":              opTable,
			"DefaultBusArchive.Arn":        "arn:aws:events:" + r + ":" + a + ":archive/cloudone-onboarder-default",
			"OnboarderBusArchive.Arn":      "arn:aws:events:" + r + ":" + a + ":archive/cloudone-onboarder-own",
			"OnboarderBus.Arn":             "arn:aws:events:" + r + ":" + a + ":event-bus/cloudone-onboarder",
		}})
	if err != nil {
		t.Fatalf("OperatorPolicy is not a valid identity policy: %v\n%s", err, content)
	}
	return doc
}

// operatorUse is where the command makes each call: the resource, and the context AWS gives.
type operatorUse struct {
	resource string
	context  map[string][]string
}

var rolloutKey = map[string][]string{"dynamodb:LeadingKeys": {"#rollout"}}

func operatorUses() map[string][]operatorUse {
	r, a := opRegion, opAccount
	queue := "arn:aws:sqs:" + r + ":" + a + ":cloudone-onboarder-reconcile.fifo"
	dlq := "arn:aws:sqs:" + r + ":" + a + ":cloudone-onboarder-reconcile-dlq.fifo"
	org := "arn:aws:organizations::999999999999:"
	return map[string][]operatorUse{
		"lambda:InvokeFunction":                    {{resource: "arn:aws:lambda:" + r + ":" + a + ":function:cloudone-onboarder-ReconcileFunction-ABC"}},
		"sqs:SendMessage":                          {{resource: queue}},
		"sqs:ReceiveMessage":                       {{resource: dlq}},
		"sqs:ChangeMessageVisibility":              {{resource: dlq}},
		"sqs:DeleteMessage":                        {{resource: dlq}},
		"dynamodb:Scan":                            {{resource: opTable}},
		"dynamodb:GetItem":                         {{resource: opTable, context: rolloutKey}},
		"dynamodb:PutItem":                         {{resource: opTable, context: rolloutKey}},
		"dynamodb:UpdateItem":                      {{resource: opTable, context: rolloutKey}},
		"organizations:DescribeOrganization":       {{resource: "*"}},
		"organizations:ListAccounts":               {{resource: "*"}},
		"organizations:ListRoots":                  {{resource: "*"}},
		"organizations:ListPolicies":               {{resource: "*"}},
		"organizations:DescribeAccount":            {{resource: org + "account/o-abcdefghij/111111111111"}},
		"organizations:DescribeOrganizationalUnit": {{resource: org + "ou/o-abcdefghij/ou-ab12-cdefghij"}},
		"organizations:ListParents":                {{resource: org + "account/o-abcdefghij/111111111111"}},
		"organizations:ListTargetsForPolicy":       {{resource: org + "policy/o-abcdefghij/service_control_policy/p-abcdefgh"}},
		"cloudformation:ListStackInstances":        {{resource: "arn:aws:cloudformation:" + r + ":999999999999:stackset/cloudone-onboarder-member:0a1b2c3d"}},
		"cloudtrail:DescribeTrails":                {{resource: "*"}},
		"cloudtrail:GetTrailStatus":                {{resource: "arn:aws:cloudtrail:us-east-1:999999999999:trail/org-trail"}},
		"cloudtrail:GetEventSelectors":             {{resource: "arn:aws:cloudtrail:us-east-1:999999999999:trail/org-trail"}},
		"events:DescribeArchive":                   {{resource: "arn:aws:events:" + r + ":" + a + ":archive/cloudone-onboarder-default"}, {resource: "arn:aws:events:" + r + ":" + a + ":archive/cloudone-onboarder-own"}},
		"events:StartReplay":                       {{resource: "arn:aws:events:" + r + ":" + a + ":archive/cloudone-onboarder-own"}},
		"events:DescribeReplay":                    {{resource: "arn:aws:events:" + r + ":" + a + ":replay/onboarder-20260101T000000Z-abcd"}},
		"events:DescribeEventBus":                  {{resource: "arn:aws:events:" + r + ":" + a + ":event-bus/cloudone-onboarder"}},
	}
}

func operatorAllows(doc iampolicy.Document, action, resource string, ctx map[string][]string) bool {
	principal := "arn:aws:iam::" + opAccount + ":role/aws-reserved/sso.amazonaws.com/" + opRegion + "/AWSReservedSSO_OnboarderOperator_0123456789abcdef"
	c := map[string][]string{"aws:PrincipalArn": {principal}}
	for k, v := range ctx {
		c[k] = v
	}
	ok, _ := iampolicy.Authorize([]iampolicy.Document{doc}, nil, iampolicy.Request{Action: action, Resource: resource, Context: c,
		Principal: iampolicy.Principal{ARN: principal, Account: opAccount}})
	return ok
}

func TestOperatorPolicyIsExactlyTheCommandsCalls(t *testing.T) {
	calls := operatorCalls(t)
	t.Logf("the operator command's AWS calls: %v", calls)
	// A scan that finds too little would pass vacuously.
	for _, want := range []string{"lambda:InvokeFunction", "sqs:SendMessage", "sqs:DeleteMessage", "dynamodb:Scan", "dynamodb:UpdateItem",
		"organizations:ListAccounts", "cloudtrail:GetEventSelectors", "events:StartReplay"} {
		if !slices.Contains(calls, want) {
			t.Fatalf("the scan did not find %s among %v: is it still finding the calls?", want, calls)
		}
	}
	doc := operatorPolicy(t)
	uses := operatorUses()
	for _, c := range calls {
		us, ok := uses[c]
		if !ok {
			t.Errorf("the command calls %s, which this test does not know where: add it to operatorUses (and to OperatorPolicy)", c)
			continue
		}
		for _, u := range us {
			if !operatorAllows(doc, c, u.resource, u.context) {
				t.Errorf("OperatorPolicy does not grant %s on %s, which the command calls", c, u.resource)
			}
		}
	}
	var granted []string
	for _, s := range doc.Statements {
		for _, a := range s.Action {
			if !slices.Contains(granted, a) {
				granted = append(granted, a)
			}
		}
	}
	for _, a := range granted {
		if !slices.Contains(calls, a) {
			t.Errorf("OperatorPolicy grants %s, which the command does not call", a)
		}
	}
}

// What a person must not get through the operator policy: the key, a member account, another
// function, the worker's queue consumption, any ledger item but the rollout's.
func TestOperatorPolicyRefuses(t *testing.T) {
	doc := operatorPolicy(t)
	r, a := opRegion, opAccount
	for _, tc := range []struct {
		action, resource string
		ctx              map[string][]string
	}{
		{"secretsmanager:GetSecretValue", "arn:aws:secretsmanager:" + r + ":" + a + ":secret:x", nil},
		{"sts:AssumeRole", "arn:aws:iam::111111111111:role/CloudOneOnboarderExecution", nil},
		{"sts:AssumeRole", "arn:aws:iam::111111111111:role/AWSControlTowerExecution", nil},
		{"lambda:InvokeFunction", "arn:aws:lambda:" + r + ":" + a + ":function:cloudone-onboarder-SweepFunction-ABC", nil},
		{"lambda:GetFunctionConfiguration", "arn:aws:lambda:" + r + ":" + a + ":function:cloudone-onboarder-ReconcileFunction-ABC", nil},
		{"lambda:UpdateFunctionConfiguration", "arn:aws:lambda:" + r + ":" + a + ":function:cloudone-onboarder-ReconcileFunction-ABC", nil},
		{"sqs:ReceiveMessage", "arn:aws:sqs:" + r + ":" + a + ":cloudone-onboarder-reconcile.fifo", nil},
		{"sqs:DeleteMessage", "arn:aws:sqs:" + r + ":" + a + ":cloudone-onboarder-reconcile.fifo", nil},
		{"sqs:SendMessage", "arn:aws:sqs:" + r + ":" + a + ":cloudone-onboarder-reconcile-dlq.fifo", nil},
		{"dynamodb:PutItem", opTable, map[string][]string{"dynamodb:LeadingKeys": {"111111111111"}}},
		{"dynamodb:UpdateItem", opTable, map[string][]string{"dynamodb:LeadingKeys": {"#starts"}}},
		{"dynamodb:PutItem", opTable, nil}, // no partition key given
		{"dynamodb:DeleteItem", opTable, rolloutKey},
		{"cloudformation:GetTemplateSummary", "*", nil},
		{"cloudformation:CreateStack", "arn:aws:cloudformation:" + r + ":" + a + ":stack/CloudOne/x", nil},
		{"cloudtrail:StopLogging", "arn:aws:cloudtrail:us-east-1:999999999999:trail/org-trail", nil},
		{"events:PutEvents", "arn:aws:events:" + r + ":" + a + ":event-bus/cloudone-onboarder", nil},
		{"events:StartReplay", "arn:aws:events:" + r + ":" + a + ":archive/someone-elses", nil},
		{"organizations:MoveAccount", "*", nil},
	} {
		if operatorAllows(doc, tc.action, tc.resource, tc.ctx) {
			t.Errorf("OperatorPolicy allows %s on %s (%v)", tc.action, tc.resource, tc.ctx)
		}
	}
}

// The stack outputs what DEPLOY tells a person to use: the function's name and the policy's.
func TestOperatorOutputs(t *testing.T) {
	root := parse(t, readTemplate(t, "template.yaml"))
	outs := get(root, "Outputs")
	for _, name := range []string{"ReconcileFunctionName", "OperatorPolicyName", "OperatorPolicyArn", "ReconcileQueueUrl", "ReconcileDeadLetterQueueUrl"} {
		if get(outs, name) == nil {
			t.Errorf("template.yaml has no output %s", name)
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "docs", "DEPLOY.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"OperatorPolicyName", "ReconcileFunctionName", "ONBOARDER_RECONCILE_FUNCTION", "cloudone-onboarder-operator",
		"attach-customer-managed-policy-reference-to-permission-set", "onboarder dlq redrive"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("docs/DEPLOY.md does not mention %s", want)
		}
	}
}
