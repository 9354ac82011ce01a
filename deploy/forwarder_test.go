package deploy_test

// The forwarder of forwarder.yaml (management account): its rules select exactly the events of
// the central stack's rules, and the Organizations delegation it creates is a valid
// resource-based policy that lets the install account make every Organizations call of the
// product's code, reads only, and nobody else any.

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/iampolicy"
)

func TestForwarderPatternsMatchCentral(t *testing.T) {
	for _, central := range []string{"ControlTowerLifecycleRule", "OrganizationsCreateAccountRule", "OrganizationsAccountCallsRule"} {
		c, f := rulePattern(t, "template.yaml", central), rulePattern(t, "forwarder.yaml", "Forward"+central)
		if !reflect.DeepEqual(c, f) {
			t.Errorf("forwarder.yaml Forward%s pattern %v differs from template.yaml %s pattern %v", central, f, central, c)
		}
	}
}

// The central stack's rules for these events sit on the default bus only where AWS puts the
// events there: Control Tower's in the management account, Organizations' in its us-east-1.
func TestCentralRulesFollowTheEvents(t *testing.T) {
	for _, tc := range []struct {
		region, management string
		want               map[string]bool // rule -> on the default bus
	}{
		{"us-east-1", "", map[string]bool{"ControlTowerLifecycleRule": true, "OrganizationsCreateAccountRule": true, "OrganizationsAccountCallsRule": true}},
		{"eu-west-1", "", map[string]bool{"ControlTowerLifecycleRule": true, "OrganizationsCreateAccountRule": false, "OrganizationsAccountCallsRule": false}},
		{"us-east-1", managementAccount, map[string]bool{"ControlTowerLifecycleRule": false, "OrganizationsCreateAccountRule": false, "OrganizationsAccountCallsRule": false}},
	} {
		rules, err := localworld.ReadRules("template.yaml", localworld.TemplateValues{Region: tc.region, Account: exampleAccount,
			Params: map[string]string{"ManagementAccountId": tc.management, "EventBusName": "cloudone-onboarder"}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, r := range rules {
			if _, ok := tc.want[r.Name]; ok {
				got[r.Name] = r.DefaultBus
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s, ManagementAccountId %q: rules on the default bus %v, want %v", tc.region, tc.management, got, tc.want)
		}
	}
}

// orgCallRE finds the Organizations operations the code calls: their input types and
// paginators.
var orgCallRE = regexp.MustCompile(`organizations\.(?:New(\w+)Paginator|(\w+)Input)\b`)

// productOrgCalls lists the Organizations actions of the product's code: the handlers, the
// operator command and the logic, not the local environment that stands in for AWS.
func productOrgCalls(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, dir := range []string{"../handlers", "../cmd/onboarder", "../internal"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range orgCallRE.FindAllStringSubmatch(string(b), -1) {
				seen["organizations:"+m[1]+m[2]] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	calls := make([]string, 0, len(seen))
	for c := range seen {
		calls = append(calls, c)
	}
	sort.Strings(calls)
	return calls
}

func TestOrganizationsDelegation(t *testing.T) {
	const install = exampleAccount
	doc, content, err := localworld.ResourcePolicy("forwarder.yaml", "OrganizationsDelegation", "Content", iampolicy.Resource, localworld.TemplateValues{Region: "us-east-1", Account: managementAccount,
		Params: map[string]string{"InstallAccountId": install, "OnboarderBusArn": "arn:aws:events:eu-west-1:" + install + ":event-bus/cloudone-onboarder"}})
	if err != nil {
		t.Fatalf("the delegation is not a valid resource-based policy: %v\n%s", err, content)
	}

	calls := productOrgCalls(t)
	t.Logf("Organizations calls of the code: %v", calls)
	if len(calls) < 6 {
		t.Fatalf("found only %v in the code: is the scan still finding the calls?", calls)
	}
	var granted []string
	for _, s := range doc.Statements {
		granted = append(granted, s.Action...)
	}
	for _, a := range granted {
		op := strings.TrimPrefix(a, "organizations:")
		if !strings.HasPrefix(op, "Describe") && !strings.HasPrefix(op, "List") || strings.Contains(a, "*") {
			t.Errorf("the delegation grants %s: only named Describe and List actions", a)
		}
		if !slices.Contains(calls, a) {
			t.Errorf("the delegation grants %s, which the code does not call", a)
		}
	}

	role := "arn:aws:iam::" + install + ":role/cloudone-onboarder/reconcile/cloudone-onboarder-ReconcileRole-AbC"
	authorize := func(principal, action string) iampolicy.Decision {
		d, _ := doc.Evaluate(iampolicy.Request{Action: action, Resource: "arn:aws:organizations::" + managementAccount + ":account/o-abcdefghij/" + exampleAccount,
			Principal: iampolicy.Principal{ARN: principal}, Context: map[string][]string{"aws:PrincipalArn": {principal}}})
		return d
	}
	for _, a := range calls {
		if d := authorize(role, a); d != iampolicy.Allow {
			t.Errorf("the install account's reconcile role may not call %s: %s", a, d)
		}
	}
	for _, a := range []string{"organizations:CreateAccount", "organizations:MoveAccount", "organizations:AttachPolicy", "organizations:PutResourcePolicy", "organizations:CloseAccount"} {
		if d := authorize(role, a); d == iampolicy.Allow {
			t.Errorf("the install account may call %s", a)
		}
	}
	if d := authorize("arn:aws:iam::444455556666:role/admin", "organizations:ListAccounts"); d == iampolicy.Allow {
		t.Error("another account may list the accounts")
	}
}

// The member execution role trusts the reconcile role of the account that runs the central
// stack: the management account by default, the delegated administrator account when
// InstallAccountId names it, and then not the management account any more.
func TestExecutionRoleTrustsTheInstallAccount(t *testing.T) {
	const delegated = "444455556666"
	for _, tc := range []struct {
		install        string
		trusted, other string
	}{
		{"", managementAccount, delegated},
		{delegated, delegated, managementAccount},
	} {
		p := map[string]string{"InstallAccountId": tc.install}
		for k, v := range requiredParams {
			p[k] = v
		}
		props, err := localworld.ResourceProperties("member.yaml", "ExecutionRole", localworld.TemplateValues{Region: "us-east-1", Account: exampleAccount, Params: p})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(props["AssumeRolePolicyDocument"])
		d, err := iampolicy.Parse(b, iampolicy.Trust)
		if err != nil {
			t.Fatalf("InstallAccountId %q: %v\n%s", tc.install, err, b)
		}
		assume := func(account string) iampolicy.Decision {
			arn := "arn:aws:iam::" + account + ":role/cloudone-onboarder/reconcile/cloudone-onboarder-ReconcileRole-AbC"
			got, _ := d.Evaluate(iampolicy.Request{Action: "sts:AssumeRole", Principal: iampolicy.Principal{ARN: arn},
				Context: map[string][]string{"aws:PrincipalArn": {arn}, "aws:PrincipalOrgID": {"o-abcdefghij"}, "sts:RoleSessionName": {"cloudone-onboarder"}}})
			return got
		}
		if got := assume(tc.trusted); got != iampolicy.Allow {
			t.Errorf("InstallAccountId %q: the reconcile role of %s may not assume the execution role: %s", tc.install, tc.trusted, got)
		}
		if got := assume(tc.other); got == iampolicy.Allow {
			t.Errorf("InstallAccountId %q: the reconcile role of %s may assume the execution role", tc.install, tc.other)
		}
	}
}
