package trend_test

// The Vision One stand-in, driven by the product's own client (internal/visionone), so that
// the two cannot drift apart on a field name.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/trend"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/visionone"
)

const v1Key = "v1-standin-key-0123456789abcdef"

var ctx = context.Background()

func standIn(t *testing.T, o trend.VisionOneOptions) (*trend.VisionOne, *visionone.Client) {
	t.Helper()
	if o.Keys == nil {
		o.Keys = []string{v1Key}
	}
	v := trend.NewVisionOne(o)
	t.Cleanup(v.Close)
	return v, &visionone.Client{BaseURL: v.URL, HTTP: &http.Client{Timeout: 5 * time.Second}}
}

var key = secret.NewValue(v1Key)

func generate(t *testing.T, c *visionone.Client, features ...string) visionone.Template {
	t.Helper()
	req := visionone.TemplateRequest{AWSRegion: "eu-west-3", AWSAccountName: "prod-7", AWSAccountDescription: "by the onboarder",
		CustomTags: []visionone.Tag{{Key: "cloudone-onboarder:managed", Value: "true"}}}
	for _, f := range features {
		req.Features = append(req.Features, visionone.FeatureRequest{ID: f, Regions: []string{"eu-west-3"}})
	}
	tpl, err := c.GenerateTemplate(ctx, key, req)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

type camDoc struct {
	Parameters map[string]struct {
		Default *string `yaml:"Default"`
		NoEcho  bool    `yaml:"NoEcho"`
	} `yaml:"Parameters"`
	Resources map[string]yaml.Node `yaml:"Resources"`
	Metadata  struct {
		StandIn map[string]string `yaml:"VisionOneStandIn"`
	} `yaml:"Metadata"`
}

// rawGenerate posts a generation request as is and returns the answer's fields.
func rawGenerate(t *testing.T, base, body string) map[string]string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/v3.0/cam/awsAccounts/generateCfnTemplateLinks", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+v1Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]string
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("generate: %d %v: %s", resp.StatusCode, err, b)
	}
	return out
}

func fetch(t *testing.T, u string) ([]byte, camDoc) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	var d camDoc
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return b, d
}

func TestVisionOneChecksTheKey(t *testing.T) {
	v, c := standIn(t, trend.VisionOneOptions{})
	for name, k := range map[string]string{"unknown": "not-a-key", "empty-ish": "x"} {
		_, err := c.Features(ctx, secret.NewValue(k))
		var ae *visionone.APIError
		if fault.ClassOf(err) != fault.Permanent || !errors.As(err, &ae) || ae.Status != 401 || ae.TraceID == "" || ae.Code == "" {
			t.Errorf("%s key: %#v", name, err)
		}
	}
	if _, err := c.Features(ctx, key); err != nil {
		t.Fatal(err)
	}
	v.DenyKey(v1Key)
	if _, err := c.Features(ctx, key); fault.ClassOf(err) != fault.Permanent || !strings.Contains(err.Error(), "HTTP 403") {
		t.Errorf("denied key: %v", err)
	}
	v.RevokeKey(v1Key)
	if _, err := c.Features(ctx, key); !strings.Contains(fmtErr(err), "HTTP 401") {
		t.Errorf("revoked key: %v", err)
	}
	if v.Rejected() != 4 || v.Requests() != 5 {
		t.Errorf("requests %d, rejected %d", v.Requests(), v.Rejected())
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestVisionOneGeneratesTheDocumentedTemplate(t *testing.T) {
	v, c := standIn(t, trend.VisionOneOptions{Region: "eu", BusinessID: "biz-1"})
	fs, err := c.Features(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.ID)
	}
	if strings.Join(ids, ",") != "core-features,"+trend.DefaultCloudTrailFeature {
		t.Errorf("features %v", ids)
	}
	withTrail := generate(t, c, "core-features", trend.DefaultCloudTrailFeature)
	_, d := fetch(t, withTrail.TemplateURL)
	documented := []string{"CloudAccountName", "CloudAccountDescription", "VisionOneAPIKey", "VisionOneAccountID", "VisionOneOIDCProviderURL",
		"VisionOneRegion", "OrganizationID", "CloudAuditLogMonitoringCloudTrailArn", "CloudAuditLogMonitoringCloudTrailSNSTopicArn"}
	if len(d.Parameters) != len(documented) {
		t.Errorf("%d parameters, want %d", len(d.Parameters), len(documented))
	}
	for _, p := range documented {
		if _, ok := d.Parameters[p]; !ok {
			t.Errorf("no parameter %s", p)
		}
	}
	def := func(p string) string {
		if d.Parameters[p].Default == nil {
			return "<none>"
		}
		return *d.Parameters[p].Default
	}
	for p, want := range map[string]string{"CloudAccountName": "prod-7", "CloudAccountDescription": "by the onboarder", "VisionOneAccountID": "biz-1",
		"VisionOneOIDCProviderURL": withTrail.VisionOneOIDCProviderURL, "VisionOneRegion": "eu", "OrganizationID": "",
		"CloudAuditLogMonitoringCloudTrailArn": "<none>", "CloudAuditLogMonitoringCloudTrailSNSTopicArn": "<none>"} {
		if got := def(p); got != want {
			t.Errorf("%s default %q, want %q", p, got, want)
		}
	}
	key1 := def("VisionOneAPIKey")
	if !d.Parameters["VisionOneAPIKey"].NoEcho || len(key1) < 20 {
		t.Errorf("VisionOneAPIKey: NoEcho %v, default %d characters", d.Parameters["VisionOneAPIKey"].NoEcho, len(key1))
	}
	if _, ok := d.Resources["CloudAuditLogMonitoringQueue"]; !ok || d.Metadata.StandIn["TemplateVersion"] != "1.0.0" {
		t.Errorf("resources %v, metadata %v", d.Resources, d.Metadata.StandIn)
	}
	gen, _ := time.Parse(time.RFC3339, d.Metadata.StandIn["GeneratedAt"])
	exp, _ := time.Parse(time.RFC3339, d.Metadata.StandIn["ExpiresAt"])
	if exp.Sub(gen) != 90*24*time.Hour {
		t.Errorf("generated %v, expires %v: a template lives 90 days", gen, exp)
	}
	// Without the CloudTrail feature, no CloudTrail parameter or resource; every template has
	// a key of its own.
	plain := generate(t, c, "core-features")
	_, d2 := fetch(t, plain.TemplateURL)
	for name := range d2.Parameters {
		if strings.HasPrefix(name, "CloudAuditLogMonitoring") {
			t.Errorf("parameter %s without the CloudTrail feature", name)
		}
	}
	if _, ok := d2.Resources["CloudAuditLogMonitoringQueue"]; ok {
		t.Error("CloudTrail resources without the CloudTrail feature")
	}
	if k2 := *d2.Parameters["VisionOneAPIKey"].Default; k2 == key1 || plain.TemplateURL == withTrail.TemplateURL {
		t.Error("two generations share a key or a URL")
	}
	if n := len(v.Generations()); n != 2 {
		t.Errorf("%d generations", n)
	}
	// Refused: a feature that is not in the list, an organization template.
	if _, err := c.GenerateTemplate(ctx, key, visionone.TemplateRequest{AWSRegion: "eu-west-3", Features: []visionone.FeatureRequest{{ID: "nope"}}}); fault.ClassOf(err) != fault.Permanent ||
		!strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("unknown feature: %v", err)
	}
	// The answer's createStackUrl (the product's client does not read it: it holds the URL).
	body, _ := json.Marshal(visionone.TemplateRequest{TemplateAccountType: visionone.TemplateAccountSingle, AWSRegion: "eu-west-3", AWSAccountName: "prod-7",
		Features: []visionone.FeatureRequest{{ID: trend.DefaultCloudTrailFeature, Regions: []string{"eu-west-3"}}}})
	raw := rawGenerate(t, v.URL, string(body))
	if !strings.Contains(raw["createStackUrl"], "templateURL="+url.QueryEscape(raw["templateUrl"])) ||
		!strings.Contains(raw["createStackUrl"], "stackName="+trend.DefaultStackName) || !strings.Contains(raw["createStackUrl"], "region=eu-west-3") {
		t.Errorf("createStackUrl %s", raw["createStackUrl"])
	}
}

func TestGeneratedTemplatesLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatal("cfn-lint is not on PATH: install it with pip install cfn-lint")
	}
	_, c := standIn(t, trend.VisionOneOptions{})
	dir := t.TempDir()
	var files []string
	for i, features := range [][]string{{"core-features", trend.DefaultCloudTrailFeature}, {"core-features"}} {
		b, _ := fetch(t, generate(t, c, features...).TemplateURL)
		f := filepath.Join(dir, "cam-"+string(rune('a'+i))+".yaml")
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if out, err := exec.Command(bin, files...).CombinedOutput(); err != nil {
		t.Errorf("cfn-lint: %v\n%s", err, out)
	}
}

func TestVisionOneRegistersTheAccountWhenItsStackCompletes(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	v, c := standIn(t, trend.VisionOneOptions{Now: func() time.Time { return now }})
	tpl := generate(t, c, "core-features", trend.DefaultCloudTrailFeature)
	const acct = "012345678901"
	done := proxy.StackOutcome{Account: acct, Region: "eu-west-3", Stack: trend.DefaultStackName, Operation: "CREATE", Status: "CREATE_COMPLETE",
		TemplateURL: tpl.TemplateURL, Parameters: map[string]string{"CloudAccountName": "prod-7", "VisionOneAPIKey": "****"},
		Outputs: map[string]string{"VisionOneRoleArn": "arn:aws:iam::" + acct + ":role/vo-role"}}
	// Not ours, or not a success: nothing registers.
	other := done
	other.TemplateURL = "http://localhost:1/other/template.yaml"
	failed := done
	failed.Status = "ROLLBACK_COMPLETE"
	for _, o := range []proxy.StackOutcome{other, failed} {
		if err := v.StackHook(o); err != nil {
			t.Fatal(err)
		}
	}
	if _, found, err := c.Account(ctx, key, acct); found || err != nil {
		t.Fatalf("registered by a stack that is not Vision One's, or that failed: %v %v", found, err)
	}
	if err := v.StackHook(done); err != nil {
		t.Fatal(err)
	}
	a, found, err := c.Account(ctx, key, acct)
	if err != nil || !found {
		t.Fatalf("found %v, err %v", found, err)
	}
	if a.State != visionone.StateManaged || a.Name != "prod-7" || a.RoleARN != done.Outputs["VisionOneRoleArn"] || len(a.Features) != 2 ||
		a.Features[1].ID != trend.DefaultCloudTrailFeature || a.Features[1].TemplateVersion != "1.0.0" || a.LastSyncedDateTime != "2026-12-04T10:00:00Z" {
		t.Errorf("account %+v", a)
	}
	// The switches.
	if err := v.FailAccount(acct, "cloudtrail:GetTrail", "sns:Subscribe"); err != nil {
		t.Fatal(err)
	}
	a, _, _ = c.Account(ctx, key, acct)
	if a.State != visionone.StateFailed || len(a.MissingPermissions()) != 4 || !strings.Contains(strings.Join(a.MissingPermissions(), " "), "sns:Subscribe") {
		t.Errorf("failed account %+v", a)
	}
	if err := v.OutdateAccount(acct); err != nil {
		t.Fatal(err)
	}
	if a, _, _ = c.Account(ctx, key, acct); a.State != visionone.StateOutdated {
		t.Errorf("state %s, want outdated", a.State)
	}
	if err := v.FailAccount("999999999999"); err == nil {
		t.Error("an account that is not connected was failed")
	}
	// An update from a newer template makes it managed again, with the new version.
	v.SetTemplateVersion("2.0.0")
	tpl2 := generate(t, c, "core-features")
	upd := done
	upd.Operation, upd.Status, upd.TemplateURL = "UPDATE", "UPDATE_COMPLETE", tpl2.TemplateURL
	if err := v.StackHook(upd); err != nil {
		t.Fatal(err)
	}
	if a, _, _ = c.Account(ctx, key, acct); a.State != visionone.StateManaged || len(a.Features) != 1 || a.Features[0].TemplateVersion != "2.0.0" {
		t.Errorf("after the update %+v", a)
	}
	// A template 90 days old fails the stack; so does every template after ExpireTemplates.
	now = now.Add(90 * 24 * time.Hour)
	err = v.StackHook(upd)
	var sf *proxy.StackFailure
	if !errors.As(err, &sf) || !strings.Contains(sf.Reason, "expired") {
		t.Errorf("90 days on: %v", err)
	}
	fresh := done
	fresh.TemplateURL = generate(t, c, "core-features").TemplateURL
	v.ExpireTemplates()
	if err := v.StackHook(fresh); !errors.As(err, &sf) {
		t.Errorf("after ExpireTemplates: %v", err)
	}
	// Removal.
	if gone, err := c.DeleteAccount(ctx, key, acct); !gone || err != nil {
		t.Errorf("delete: %v %v", gone, err)
	}
	if gone, err := c.DeleteAccount(ctx, key, acct); gone || err != nil {
		t.Errorf("delete again: %v %v", gone, err)
	}
	if _, found, err := c.Account(ctx, key, acct); found || err != nil {
		t.Errorf("after the delete: %v %v", found, err)
	}
}

func TestVisionOneFailsTheNextCalls(t *testing.T) {
	v, c := standIn(t, trend.VisionOneOptions{})
	v.FailNext(2, http.StatusTooManyRequests, 3*time.Second)
	v.FailNext(1, http.StatusServiceUnavailable, 0)
	v.FailNext(1, http.StatusUnauthorized, 0)
	for i := 0; i < 2; i++ {
		_, err := c.Features(ctx, key)
		d := fault.RetryAfter(err)
		ok := d > 0
		if fault.ClassOf(err) != fault.Transient || !ok || d != 3*time.Second || !strings.Contains(err.Error(), "Too many API requests") {
			t.Errorf("call %d: %v (Retry-After %v %v)", i, err, d, ok)
		}
	}
	if _, err := c.Features(ctx, key); fault.ClassOf(err) != fault.Transient || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("503: %v", err)
	}
	if _, err := c.Features(ctx, key); fault.ClassOf(err) != fault.Permanent || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("401: %v", err)
	}
	if _, err := c.Features(ctx, key); err != nil {
		t.Errorf("after the faults: %v", err)
	}
}

// The stand-in counts what each caller spent on Vision One, by operation, refused requests
// included (the benchmark counts a decision's calls to Vision One with it).
func TestVisionOneCountsRequestsByOperation(t *testing.T) {
	v, c := standIn(t, trend.VisionOneOptions{})
	if _, err := c.Features(ctx, key); err != nil {
		t.Fatal(err)
	}
	tpl := generate(t, c, trend.DefaultCloudTrailFeature)
	if _, found, err := c.Account(ctx, key, "111122223333"); found || err != nil {
		t.Fatalf("an account nobody connected: %v %v", found, err)
	}
	if _, err := c.DeleteAccount(ctx, key, "111122223333"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Features(ctx, secret.NewValue("not-a-key")); err == nil {
		t.Fatal("an unknown key was accepted")
	}
	fetch(t, tpl.TemplateURL) // served by the stand-in itself (no store given)
	want := map[string]int{trend.OpFeatures: 2, trend.OpGenerate: 1, trend.OpGetAccount: 1, trend.OpDeleteAccount: 1, "GET template": 1}
	got := v.RequestsByOperation()
	if len(got) != len(want) {
		t.Errorf("requests by operation %v, want %v", got, want)
	}
	for op, n := range want {
		if got[op] != n {
			t.Errorf("%s: %d requests, want %d (all: %v)", op, got[op], n, got)
		}
	}
	got[trend.OpFeatures] = 99
	if v.RequestsByOperation()[trend.OpFeatures] != 2 {
		t.Error("RequestsByOperation returned the stand-in's own map")
	}
}
