package event_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/event"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
)

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// outcome is "ok", "skip" or "permanent".
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	if _, ok := fault.IsSkip(err); ok {
		return "skip"
	}
	return string(fault.ClassOf(err))
}

func TestGolden(t *testing.T) {
	type want struct {
		outcome, kind, name, account, region, replay string
		state                                        string // lifecycle
		ou                                           string
		errorCode, resName, arnAccount               string // calls
		identityARN                                  string
		manual                                       []string
		invalid                                      int
		all                                          bool
		moveFrom, moveTo                             string // organizations account calls
	}
	const member = "012345678901"
	cases := map[string]want{
		"controltower-create-managed-account.json":             {outcome: "ok", kind: "controltower-managed-account", name: "CreateManagedAccount", account: member, region: "us-east-1", state: "SUCCEEDED", ou: "ou-ab12-k2l3m4n5"},
		"controltower-create-managed-account-failed.json":      {outcome: "ok", kind: "controltower-managed-account", name: "CreateManagedAccount", account: "", region: "us-east-1", state: "FAILED", ou: "ou-ab12-k2l3m4n5"},
		"controltower-create-managed-account-replay.json":      {outcome: "ok", kind: "controltower-managed-account", name: "CreateManagedAccount", account: member, region: "us-east-1", state: "SUCCEEDED", ou: "ou-ab12-k2l3m4n5", replay: "onboarder-replay-20240306"},
		"controltower-update-managed-account.json":             {outcome: "ok", kind: "controltower-managed-account", name: "UpdateManagedAccount", account: "123456789012", region: "us-east-1", state: "SUCCEEDED", ou: "ou-ab12-sb0x7q9z"},
		"controltower-update-managed-account-in-progress.json": {outcome: "ok", kind: "controltower-managed-account", name: "UpdateManagedAccount", account: "123456789012", region: "us-east-1", state: "IN_PROGRESS", ou: "ou-ab12-k2l3m4n5"},
		"organizations-create-account-result.json":             {outcome: "ok", kind: "organizations-create-account", name: "CreateAccountResult", account: "004455667788", region: "us-east-1", state: "SUCCEEDED"},
		"organizations-create-account-result-failed.json":      {outcome: "ok", kind: "organizations-create-account", name: "CreateAccountResult", account: "", region: "us-east-1", state: "FAILED"},
		"cloudtrail-stop-logging.json":                         {outcome: "ok", kind: "cloudtrail-call", name: "StopLogging", account: member, region: "us-east-1", resName: "org-audit", arnAccount: member},
		"cloudtrail-stop-logging-by-name.json":                 {outcome: "ok", kind: "cloudtrail-call", name: "StopLogging", account: member, region: "us-east-1", resName: "org-audit", identityARN: "arn:aws:iam::012345678901:user/ops-bot"},
		"cloudtrail-stop-logging-failed.json":                  {outcome: "ok", kind: "cloudtrail-call", name: "StopLogging", account: member, region: "us-east-1", resName: "org-audit", arnAccount: member, errorCode: "AccessDenied"},
		"cloudtrail-stop-logging-own-role.json":                {outcome: "ok", kind: "cloudtrail-call", name: "StopLogging", account: member, region: "us-east-1", resName: "org-audit", arnAccount: member, identityARN: "arn:aws:sts::012345678901:assumed-role/AWSControlTowerExecution/cloudone-onboarder"},
		"cloudtrail-stop-logging-other-account-trail.json":     {outcome: "ok", kind: "cloudtrail-call", name: "StopLogging", account: member, region: "us-east-1", resName: "org-audit", arnAccount: "210987654321"},
		"cloudtrail-stop-logging-moto-replay.json":             {outcome: "ok", kind: "cloudtrail-call", name: "StopLogging", account: member, region: "us-east-1", resName: "org-audit", replay: "onboarder-replay-20240306"},
		"cloudtrail-start-logging.json":                        {outcome: "ok", kind: "cloudtrail-call", name: "StartLogging", account: member, region: "us-east-1", resName: "org-audit", arnAccount: member},
		"cloudtrail-delete-trail.json":                         {outcome: "ok", kind: "cloudtrail-call", name: "DeleteTrail", account: member, region: "us-east-1", resName: "org-audit"},
		"cloudtrail-delete-trail-other.json":                   {outcome: "ok", kind: "cloudtrail-call", name: "DeleteTrail", account: member, region: "eu-west-1", resName: "scratch-debug"},
		"cloudtrail-create-trail.json":                         {outcome: "ok", kind: "cloudtrail-call", name: "CreateTrail", account: member, region: "us-east-1", resName: "security-lake"},
		"cloudtrail-update-trail.json":                         {outcome: "ok", kind: "cloudtrail-call", name: "UpdateTrail", account: member, region: "us-east-1", resName: "org-audit", arnAccount: member},
		"cloudtrail-put-event-selectors.json":                  {outcome: "ok", kind: "cloudtrail-call", name: "PutEventSelectors", account: member, region: "us-east-1", resName: "org-audit"},
		"cloudformation-delete-stack.json":                     {outcome: "ok", kind: "cloudformation-call", name: "DeleteStack", account: member, region: "us-east-1", resName: "CloudOne"},
		"cloudformation-update-stack-arn.json":                 {outcome: "ok", kind: "cloudformation-call", name: "UpdateStack", account: member, region: "us-east-1", resName: "CloudOne", arnAccount: member},
		"cloudformation-update-stack-own-role.json":            {outcome: "ok", kind: "cloudformation-call", name: "UpdateStack", account: member, region: "us-east-1", resName: "CloudOne"},
		"cloudformation-delete-other-stack.json":               {outcome: "ok", kind: "cloudformation-call", name: "DeleteStack", account: member, region: "us-east-1", resName: "network-baseline"},
		"cloudformation-delete-stack-failed.json":              {outcome: "ok", kind: "cloudformation-call", name: "DeleteStack", account: member, region: "us-east-1", resName: "CloudOne", errorCode: "AccessDenied"},
		"manual-accounts.json":                                 {outcome: "ok", kind: "manual-request", name: "Reconcile Request", region: "us-east-1", manual: []string{member, "123456789012"}},
		"manual-all.json":                                      {outcome: "ok", kind: "manual-request", name: "Reconcile Request", region: "us-east-1", all: true},
		"manual-bad-ids.json":                                  {outcome: "ok", kind: "manual-request", name: "Reconcile Request", region: "us-east-1", manual: []string{member, "123456789012"}, invalid: 2},
		"scheduled-events.json":                                {outcome: "ok", kind: "schedule", name: "Scheduled Event", region: "us-east-1"},
		"scheduled-scheduler.json":                             {outcome: "ok", kind: "schedule", name: "Scheduled Event"}, // the schedule's Input names no region
		"unknown-ec2-run-instances.json":                       {outcome: "skip"},
		"organizations-close-account.json":                     {outcome: "ok", kind: "organizations-account-call", name: "CloseAccount", account: member, region: "us-east-1"},
		"organizations-remove-account.json":                    {outcome: "ok", kind: "organizations-account-call", name: "RemoveAccountFromOrganization", account: member, region: "us-east-1"},
		"organizations-move-account.json":                      {outcome: "ok", kind: "organizations-account-call", name: "MoveAccount", account: member, region: "us-east-1", moveFrom: "ou-ab12-k2l3m4n5", moveTo: "ou-ab12-sb0x7q9z"},
		"organizations-move-account-failed.json":               {outcome: "ok", kind: "organizations-account-call", name: "MoveAccount", account: "", region: "us-east-1", errorCode: "AccessDenied"},
	}
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) != len(cases) {
		t.Errorf("%d golden files, %d cases: every golden file needs a case", len(files), len(cases))
	}
	for name, w := range cases {
		t.Run(name, func(t *testing.T) {
			ev, err := event.Parse(golden(t, name))
			if got := outcome(err); got != w.outcome {
				t.Fatalf("outcome %s (%v), want %s", got, err, w.outcome)
			}
			if ev == nil || ev.ID == "" {
				t.Fatalf("no event id on %v", ev)
			}
			if err != nil {
				return
			}
			if string(ev.Kind) != w.kind || ev.Name != w.name || ev.Account != w.account || ev.Region != w.region || ev.ReplayName != w.replay {
				t.Errorf("got kind=%s name=%s account=%q region=%s replay=%q", ev.Kind, ev.Name, ev.Account, ev.Region, ev.ReplayName)
			}
			if ev.Time.IsZero() {
				t.Error("time not parsed")
			}
			if l := ev.Lifecycle; l != nil {
				if l.State != w.state || l.OUID != w.ou {
					t.Errorf("lifecycle %+v", l)
				}
			} else if w.state != "" {
				t.Error("no lifecycle")
			}
			if c := ev.Call; c != nil {
				if c.Name != w.resName || c.ARNAccount != w.arnAccount || c.ErrorCode != w.errorCode {
					t.Errorf("call %+v", c)
				}
				if w.identityARN != "" && c.Identity.ARN != w.identityARN {
					t.Errorf("identity %+v", c.Identity)
				}
			} else if w.resName != "" {
				t.Error("no call")
			}
			if c := ev.AccountCall; c != nil {
				if c.Source != w.moveFrom || c.Destination != w.moveTo || c.ErrorCode != w.errorCode {
					t.Errorf("account call %+v", c)
				}
			} else if w.kind == string(event.KindAccountCall) {
				t.Error("no account call")
			}
			if m := ev.Manual; m != nil {
				if strings.Join(m.Accounts, ",") != strings.Join(w.manual, ",") || len(m.Invalid) != w.invalid || m.All != w.all {
					t.Errorf("manual %+v", m)
				}
			}
		})
	}
}

// TestTrailParameter walks every watched trail call with the trail given by name and by ARN,
// in the field CloudTrail records for that call: the API's own parameter, Name for
// CreateTrail, UpdateTrail, DeleteTrail, StartLogging and StopLogging, TrailName for
// PutEventSelectors and PutInsightSelectors (testdata/SOURCES.md names the real records). The
// other field alone is not the trail: a call that carries only it is a bad event that names
// the missing field. PutInsightSelectors is not watched: the test registers the trail parser
// for it in a registry of its own.
func TestTrailParameter(t *testing.T) {
	const member, arn = "012345678901", "arn:aws:cloudtrail:us-east-1:012345678901:trail/org-audit"
	field := map[string]string{
		"CreateTrail": "name", "UpdateTrail": "name", "DeleteTrail": "name", "StartLogging": "name", "StopLogging": "name",
		"PutEventSelectors": "trailName", "PutInsightSelectors": "trailName",
	}
	calls := append([]string{"PutInsightSelectors"}, event.TrailEvents...)
	if len(field) != len(calls) {
		t.Fatalf("%d trail calls, %d in this table: every watched call needs a row", len(calls), len(field))
	}
	reg := event.NewRegistry()
	for _, k := range event.Default.Keys() {
		p, _ := event.Default.Lookup(k)
		reg.Register(k, p)
	}
	trail, ok := event.Default.Lookup(event.Key{Source: "aws.cloudtrail", DetailType: event.DetailAPICall, EventName: "StopLogging"})
	if !ok {
		t.Fatal("no trail parser")
	}
	reg.Register(event.Key{Source: "aws.cloudtrail", DetailType: event.DetailAPICall, EventName: "PutInsightSelectors"}, trail)
	other := map[string]string{"name": "trailName", "trailName": "name"}
	type row struct {
		call, field, value string
		outcome, errHas    string
		arnAccount         string
	}
	rows := []row{}
	for _, call := range calls {
		f, ok := field[call]
		if !ok {
			t.Fatalf("%s is watched but has no row", call)
		}
		rows = append(rows,
			row{call: call, field: f, value: "org-audit", outcome: "ok"},
			row{call: call, field: f, value: arn, outcome: "ok", arnAccount: member},
			row{call: call, field: other[f], value: "org-audit", outcome: "permanent", errHas: "detail.requestParameters." + f + ": required"},
		)
	}
	for _, r := range rows {
		t.Run(r.call+"/"+r.field+"="+r.value, func(t *testing.T) {
			raw := mutate(t, "cloudtrail-stop-logging.json", func(m map[string]any) {
				detail(m)["eventName"] = r.call
				detail(m)["requestParameters"] = map[string]any{r.field: r.value}
			})
			ev, err := reg.Parse(raw)
			if got := outcome(err); got != r.outcome {
				t.Fatalf("outcome %s (%v), want %s", got, err, r.outcome)
			}
			if err != nil {
				if !strings.Contains(err.Error(), r.errHas) {
					t.Errorf("error %q does not name %q", err, r.errHas)
				}
				return
			}
			if c := ev.Call; c.Name != "org-audit" || c.Resource != r.value || c.ARNAccount != r.arnAccount {
				t.Errorf("call %+v", c)
			}
		})
	}
}

// TestSourcesCoverEveryGoldenFile checks that testdata/SOURCES.md names every golden event and
// every hostile input (a new file needs its source or its derivation written down), and names
// no file that is gone.
func TestSourcesCoverEveryGoldenFile(t *testing.T) {
	doc := string(golden(t, "SOURCES.md"))
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	hostile, _ := filepath.Glob(filepath.Join("testdata", "hostile", "*.json"))
	if len(files) == 0 || len(hostile) == 0 {
		t.Fatal("no golden files")
	}
	exists := map[string]bool{}
	for _, f := range append(files, hostile...) {
		name := filepath.Base(f)
		exists[name] = true
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("SOURCES.md does not name %s", f)
		}
	}
	if bodies, _ := filepath.Glob(filepath.Join("testdata", "hostile", "queue-*.body")); len(bodies) > 0 && !strings.Contains(doc, "`queue-*.body`") {
		t.Error("SOURCES.md does not say what the queue-*.body files are")
	}
	for _, m := range regexp.MustCompile("`([a-z0-9-]+\\.json)`").FindAllStringSubmatch(doc, -1) {
		if !exists[m[1]] {
			t.Errorf("SOURCES.md names %s, which is not in testdata", m[1])
		}
	}
}

func TestControlTowerTimestamps(t *testing.T) {
	ev, err := event.Parse(golden(t, "controltower-create-managed-account.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2024, 3, 5, 10, 9, 32, 0, time.UTC)
	if !ev.Lifecycle.Completed.Equal(want) {
		t.Errorf("completed %v, want %v", ev.Lifecycle.Completed, want)
	}
	for _, s := range []string{"2019-11-15T11:45:18+0000", "2019-11-15T11:45:18Z", "2019-11-15T11:45:18.123+01:00", "2019-11-15T11:45:18.5+0000"} {
		if _, err := event.ParseTime(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := event.ParseTime("15/11/2019"); err == nil {
		t.Error("bad time parsed")
	}
}

// mutate decodes a golden file, applies f to it and encodes it again.
func mutate(t *testing.T, name string, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(golden(t, name), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func detail(m map[string]any) map[string]any { return m["detail"].(map[string]any) }
func ctAccount(m map[string]any) map[string]any {
	return detail(m)["serviceEventDetails"].(map[string]any)["createManagedAccountStatus"].(map[string]any)["account"].(map[string]any)
}

func TestBadEvents(t *testing.T) {
	cases := []struct {
		name, file string
		f          func(m map[string]any)
		raw        string
		outcome    string
		errHas     string
	}{
		{name: "account id as a number", file: "controltower-create-managed-account.json", f: func(m map[string]any) { ctAccount(m)["accountId"] = 12345678901 },
			outcome: "permanent", errHas: "createManagedAccountStatus.account.accountId: must be a string"},
		{name: "account id too short", file: "controltower-create-managed-account.json", f: func(m map[string]any) { ctAccount(m)["accountId"] = "12345678901" },
			outcome: "permanent", errHas: "accountId=\"12345678901\": must be exactly 12 digits"},
		{name: "account id missing", file: "controltower-create-managed-account.json", f: func(m map[string]any) { delete(ctAccount(m), "accountId") },
			outcome: "permanent", errHas: "accountId: required"},
		{name: "status missing", file: "controltower-create-managed-account.json", f: func(m map[string]any) { detail(m)["serviceEventDetails"] = map[string]any{} },
			outcome: "permanent", errHas: "createManagedAccountStatus: required"},
		{name: "recipient account number", file: "cloudtrail-stop-logging.json", f: func(m map[string]any) { detail(m)["recipientAccountId"] = 12345678901 },
			outcome: "permanent", errHas: "detail.recipientAccountId: must be a string"},
		{name: "no recipient, user identity account", file: "cloudtrail-stop-logging.json", f: func(m map[string]any) { delete(detail(m), "recipientAccountId"); delete(m, "account") },
			outcome: "ok"},
		{name: "no account anywhere", file: "cloudtrail-stop-logging.json", f: func(m map[string]any) {
			delete(detail(m), "recipientAccountId")
			delete(m, "account")
			delete(detail(m)["userIdentity"].(map[string]any), "accountId")
		}, outcome: "permanent", errHas: "detail.recipientAccountId: required"},
		{name: "trail name missing", file: "cloudtrail-stop-logging.json", f: func(m map[string]any) { detail(m)["requestParameters"] = nil },
			outcome: "permanent", errHas: "detail.requestParameters.name: required"},
		{name: "trail name missing on a failed call", file: "cloudtrail-stop-logging-failed.json", f: func(m map[string]any) { detail(m)["requestParameters"] = nil },
			outcome: "ok"},
		{name: "trail name a number", file: "cloudtrail-stop-logging.json", f: func(m map[string]any) { detail(m)["requestParameters"] = map[string]any{"name": 7} },
			outcome: "permanent", errHas: "detail.requestParameters.name: must be a string"},
		{name: "bad trail arn", file: "cloudtrail-stop-logging.json", f: func(m map[string]any) {
			detail(m)["requestParameters"] = map[string]any{"name": "arn:aws:s3:::bucket/x"}
		}, outcome: "permanent", errHas: "not a cloudtrail ARN"},
		{name: "bad stack arn", file: "cloudformation-delete-stack.json", f: func(m map[string]any) {
			detail(m)["requestParameters"] = map[string]any{"stackName": "arn:aws:cloudformation:us-east-1:12:stack/CloudOne/x"}
		}, outcome: "permanent", errHas: "not a cloudformation ARN"},
		{name: "eventSource mismatch", file: "cloudtrail-stop-logging.json", f: func(m map[string]any) { detail(m)["eventSource"] = "s3.amazonaws.com" },
			outcome: "skip"},
		{name: "unknown trail call", file: "cloudtrail-stop-logging.json", f: func(m map[string]any) { detail(m)["eventName"] = "AddTags" },
			outcome: "skip"},
		{name: "closed account id missing", file: "organizations-close-account.json", f: func(m map[string]any) { detail(m)["requestParameters"] = map[string]any{} },
			outcome: "permanent", errHas: "detail.requestParameters.accountId: required"},
		{name: "closed account parameters missing", file: "organizations-close-account.json", f: func(m map[string]any) { detail(m)["requestParameters"] = nil },
			outcome: "permanent", errHas: "detail.requestParameters: required"},
		{name: "moved to a bad parent", file: "organizations-move-account.json", f: func(m map[string]any) {
			detail(m)["requestParameters"].(map[string]any)["destinationParentId"] = "Sandbox"
		}, outcome: "permanent", errHas: `detail.requestParameters.destinationParentId="Sandbox": required, an OU or root id`},
		{name: "moved without a source", file: "organizations-move-account.json", f: func(m map[string]any) {
			delete(detail(m)["requestParameters"].(map[string]any), "sourceParentId")
		}, outcome: "permanent", errHas: "detail.requestParameters.sourceParentId"},
		{name: "organizations eventSource mismatch", file: "organizations-close-account.json", f: func(m map[string]any) { detail(m)["eventSource"] = "account.amazonaws.com" },
			outcome: "skip"},
		{name: "id missing", file: "scheduled-events.json", f: func(m map[string]any) { delete(m, "id") },
			outcome: "permanent", errHas: "id: required"},
		{name: "time +0000", file: "scheduled-events.json", f: func(m map[string]any) { m["time"] = "2019-11-15T11:45:18+0000" },
			outcome: "ok"},
		{name: "time garbage", file: "scheduled-events.json", f: func(m map[string]any) { m["time"] = "yesterday" },
			outcome: "permanent", errHas: "timestamp"},
		{name: "manual both", file: "manual-all.json", f: func(m map[string]any) { detail(m)["accountIds"] = []string{"012345678901"} },
			outcome: "permanent", errHas: "not both"},
		{name: "manual neither", file: "manual-all.json", f: func(m map[string]any) { m["detail"] = map[string]any{} },
			outcome: "permanent", errHas: "required"},
		{name: "manual ids not an array", file: "manual-all.json", f: func(m map[string]any) { m["detail"] = map[string]any{"accountIds": "012345678901"} },
			outcome: "permanent", errHas: "detail.accountIds: must be an array"},
		{name: "not json", raw: `{"id":"x",`, outcome: "permanent"},
		{name: "json null", raw: `null`, outcome: "permanent"},
		{name: "array", raw: `[1,2]`, outcome: "permanent"},
		{name: "detail null", raw: `{"id":"1","source":"aws.cloudtrail","detail-type":"AWS API Call via CloudTrail","detail":null}`, outcome: "permanent", errHas: "detail.eventName: required"},
		{name: "detail wrong type", raw: `{"id":"1","source":"aws.cloudtrail","detail-type":"AWS API Call via CloudTrail","detail":"x"}`, outcome: "permanent"},
		{name: "invalid utf-8", raw: "{\"id\":\"\xff\xfe\",\"source\":\"aws.cloudtrail\xff\",\"detail-type\":\"AWS API Call via CloudTrail\",\"detail\":{\"eventName\":\"\xffStop\"}}", outcome: "skip"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := []byte(c.raw)
			if c.file != "" {
				raw = mutate(t, c.file, c.f)
			}
			_, err := event.Parse(raw)
			if got := outcome(err); got != c.outcome {
				t.Fatalf("outcome %s (%v), want %s", got, err, c.outcome)
			}
			if c.errHas != "" && !strings.Contains(err.Error(), c.errHas) {
				t.Errorf("error %q does not contain %q", err, c.errHas)
			}
		})
	}
}

func TestHostile(t *testing.T) {
	big := bytes.Repeat([]byte("a"), 1<<20)
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	inputs := map[string][]byte{
		"1 MB":                 append(append([]byte(`{"id":"x","detail":"`), big...), '"', '}'),
		"1 MB under the limit": append(append([]byte(`{"id":"x","source":"aws.cloudtrail","detail-type":"AWS API Call via CloudTrail","detail":{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","x":"`), big[:200000]...), []byte(`"}}`)...),
		"deep nesting":         []byte(`{"id":"x","source":"aws.cloudtrail","detail-type":"AWS API Call via CloudTrail","detail":{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","requestParameters":` + deep[:200000] + `}}`),
		"deep detail":          []byte(`{"id":"x","source":"onboarder.manual","detail-type":"Reconcile Request","detail":` + deep[:100000] + `}`),
		"empty":                nil,
		"nulls":                []byte(`{"id":null,"source":null,"detail-type":null,"detail":null,"resources":null,"replay-name":null}`),
		"wrong types":          []byte(`{"id":1,"source":[],"detail-type":{},"detail":true,"resources":"x"}`),
		"nul bytes":            []byte("{\"id\":\"a\x00b\"}"),
		"ct null status":       []byte(`{"id":"1","source":"aws.controltower","detail-type":"AWS Service Event via CloudTrail","detail":{"eventName":"CreateManagedAccount","serviceEventDetails":{"createManagedAccountStatus":null}}}`),
		"ct wrong types":       []byte(`{"id":"1","source":"aws.controltower","detail-type":"AWS Service Event via CloudTrail","detail":{"eventName":"CreateManagedAccount","serviceEventDetails":{"createManagedAccountStatus":{"state":1,"account":[],"organizationalUnit":"x"}}}}`),
	}
	for name, raw := range inputs {
		t.Run(name, func(t *testing.T) {
			ev, err := event.Parse(raw)
			if err == nil && ev.Kind == "" {
				t.Errorf("no error and no kind")
			}
			if c := fault.ClassOf(err); c == fault.Transient {
				t.Errorf("hostile input must not be retried: %v", err)
			}
			if err != nil && len(err.Error()) > 600 {
				t.Errorf("error message of %d bytes echoes the input", len(err.Error()))
			}
		})
	}
}
