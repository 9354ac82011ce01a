package localworld

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestReadRulesOfTheDeploymentTemplate(t *testing.T) {
	file := filepath.Join("..", "..", "deploy", "template.yaml")
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the deployment template: %v", err)
	}
	for _, tc := range []struct {
		region            string
		wantOrgDefaultBus bool
	}{{"us-east-1", true}, {"eu-west-1", false}} {
		rules, err := ReadRules(file, TemplateValues{Region: tc.region, Account: ManagementAccount})
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]Rule{}
		for _, r := range rules {
			byName[r.Name] = r
			if r.Pattern == "" || r.Pattern == "null" {
				t.Errorf("%s: rule %s has no pattern", tc.region, r.Name)
			}
		}
		ct, ok := byName["ControlTowerLifecycleRule"]
		if !ok || !ct.DefaultBus || ct.Handler != "accountvending" || !strings.Contains(ct.Pattern, "CreateManagedAccount") {
			t.Errorf("%s: ControlTowerLifecycleRule = %+v", tc.region, ct)
		}
		if tr, ok := byName["TrailEventsRule"]; !ok || tr.DefaultBus || tr.Handler != "trailguard" {
			t.Errorf("%s: TrailEventsRule = %+v", tc.region, tr)
		}
		// Organizations' events are on the default bus of us-east-1 only; elsewhere the
		// forwarder puts them on the onboarder's bus.
		if org, ok := byName["OrganizationsCreateAccountRule"]; !ok || org.DefaultBus != tc.wantOrgDefaultBus {
			t.Errorf("%s: OrganizationsCreateAccountRule = %+v (present %v), want on the default bus = %v", tc.region, org, ok, tc.wantOrgDefaultBus)
		}
	}
}

func TestReadRulesShortAndLongForms(t *testing.T) {
	src := `
Parameters:
  Bus: {Type: String, Default: my-bus}
  Env: {Type: String, Default: prod}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  NotProd: {"Fn::Not": [{"Condition": IsProd}]}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: ../dist/worker.zip}
  Plain:
    Type: AWS::Lambda::Function
  R1:
    Type: AWS::Events::Rule
    Condition: IsProd
    Properties:
      EventBusName: !Ref Bus
      EventPattern:
        account: [!Ref "AWS::AccountId"]
        resources: [!Sub "arn:${AWS::Partition}:x:${AWS::Region}:${AWS::AccountId}:y"]
      Targets:
        - {Id: a, Arn: !GetAtt Fn.Arn}
  R2:
    Type: AWS::Events::Rule
    Condition: NotProd
    Properties:
      EventPattern: {source: [x]}
  R3:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: '{"source": ["y"]}'
      Targets:
        - {Id: b, Arn: {"Fn::GetAtt": [Plain, Arn]}}
`
	file := filepath.Join(t.TempDir(), "t.yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	rules, err := ReadRules(file, TemplateValues{Region: "eu-west-1", Account: "000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 || rules[0].Name != "R1" || rules[1].Name != "R3" {
		t.Fatalf("rules = %+v, want R1 and R3 (R2's condition is false)", rules)
	}
	want := `{"account":["000000000001"],"resources":["arn:aws:x:eu-west-1:000000000001:y"]}`
	if rules[0].Pattern != want || rules[0].DefaultBus || rules[0].Handler != "worker" {
		t.Errorf("R1 = %+v, want pattern %s on the custom bus for worker", rules[0], want)
	}
	if rules[1].Pattern != `{"source":["y"]}` || !rules[1].DefaultBus || rules[1].Handler != "plain" {
		t.Errorf("R3 = %+v", rules[1])
	}
}

func TestAction(t *testing.T) {
	for _, tc := range []struct {
		name   string
		req    func() *http.Request
		body   string
		action string
		write  bool
	}{
		{"json target", func() *http.Request {
			r := httptest.NewRequest("POST", "/", nil)
			r.Header.Set("X-Amz-Target", "CloudTrail_20131101.StartLogging")
			return r
		}, "", "StartLogging", true},
		{"query", func() *http.Request {
			r := httptest.NewRequest("POST", "/", nil)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			return r
		}, "Action=DescribeStacks&Version=2010-05-15", "DescribeStacks", false},
		{"cbor", func() *http.Request {
			return httptest.NewRequest("POST", "/service/GraniteServiceVersion20100801/operation/PutMetricData", nil)
		}, "", "PutMetricData", true},
		{"rest", func() *http.Request { return httptest.NewRequest("GET", "/bucket/key", nil) }, "", "GET /bucket/key", false},
	} {
		got := action(tc.req(), []byte(tc.body))
		if got != tc.action {
			t.Errorf("%s: action %q, want %q", tc.name, got, tc.action)
		}
		if w := (Call{Action: got}).Write(); w != tc.write {
			t.Errorf("%s: Write() = %v, want %v", tc.name, w, tc.write)
		}
	}
}

func TestAsFunctionError(t *testing.T) {
	if fe := asFunctionError([]byte(`{"errorMessage":"boom","errorType":"errorString"}`)); fe == nil || fe.Message != "boom" {
		t.Errorf("a Go handler's error was not recognized: %+v", fe)
	}
	if fe := asFunctionError([]byte(`{"batchItemFailures":[]}`)); fe != nil {
		t.Errorf("a response was taken for an error: %+v", fe)
	}
	if fe := asFunctionError([]byte(`null`)); fe != nil {
		t.Errorf("null was taken for an error")
	}
}

func TestOnboardingTemplateContract(t *testing.T) {
	var doc struct {
		Parameters map[string]struct {
			NoEcho         bool     `yaml:"NoEcho"`
			AllowedValues  []string `yaml:"AllowedValues"`
			AllowedPattern string   `yaml:"AllowedPattern"`
		} `yaml:"Parameters"`
		Outputs map[string]any `yaml:"Outputs"`
	}
	if err := yaml.Unmarshal(OnboardingTemplate, &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Parameters
	if len(p) != 6 {
		t.Errorf("%d parameters, want 6", len(p))
	}
	if !p["CloudOneApiKey"].NoEcho || !p["VisionOneServiceToken"].NoEcho {
		t.Error("the key and the token must be NoEcho")
	}
	if v := p["CreateNewTrail"].AllowedValues; len(v) != 2 || v[0] != "True" || v[1] != "False" {
		t.Errorf("CreateNewTrail AllowedValues = %v", v)
	}
	if _, ok := p["ExistingCloudtrailBucketName"]; !ok {
		t.Error("no ExistingCloudtrailBucketName")
	}
	if p["QSS3BucketName"].AllowedPattern != `^[0-9a-zA-Z]+([0-9a-zA-Z-]*[0-9a-zA-Z])*$` {
		t.Errorf("QSS3BucketName pattern = %q", p["QSS3BucketName"].AllowedPattern)
	}
	if p["QSS3KeyPrefix"].AllowedPattern != `^[0-9a-zA-Z-/.]*$` {
		t.Errorf("QSS3KeyPrefix pattern = %q", p["QSS3KeyPrefix"].AllowedPattern)
	}
	for name := range doc.Outputs {
		if strings.Contains(name, "Key") || strings.Contains(name, "Token") {
			t.Errorf("output %s looks like a secret", name)
		}
	}
}

func TestLogSince(t *testing.T) {
	var tee strings.Builder
	l := NewLog(&tee)
	_, _ = l.Write([]byte("one\n"))
	m := l.Len()
	_, _ = l.Write([]byte("two\n"))
	if l.Since(m) != "two\n" || l.String() != "one\ntwo\n" || tee.String() != "one\ntwo\n" {
		t.Errorf("Since %q String %q tee %q", l.Since(m), l.String(), tee.String())
	}
}
