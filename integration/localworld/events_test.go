package localworld

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/event"
)

// TestTrailCallReachesTheParser builds every trail call the trail guard watches, by name and
// by ARN, as the end-to-end suite puts it on the bus, and reads it back with the product's
// parser: the world records the trail in the field CloudTrail uses for that call (trailName
// for PutEventSelectors, name for the others), so the parser finds it there.
func TestTrailCallReachesTheParser(t *testing.T) {
	const account = "012345678901"
	for _, call := range event.TrailEvents {
		for _, trail := range []string{"org-audit", "arn:aws:cloudtrail:us-east-1:" + account + ":trail/org-audit"} {
			e := TrailCall(account, "us-east-1", call, trail)
			// The envelope EventBridge puts around the detail; moto delivers it without "account".
			raw, err := json.Marshal(map[string]any{"version": "0", "id": uuid(), "source": e.Source,
				"detail-type": e.DetailType, "time": "2024-03-05T10:22:31Z", "region": "us-east-1", "detail": e.Detail})
			if err != nil {
				t.Fatal(err)
			}
			ev, err := event.Parse(raw)
			if err != nil {
				t.Errorf("%s on %s: %v", call, trail, err)
				continue
			}
			if ev.Kind != event.KindTrailCall || ev.Account != account || ev.Call.Resource != trail || ev.Call.Name != "org-audit" {
				t.Errorf("%s on %s: kind %s account %s call %+v", call, trail, ev.Kind, ev.Account, ev.Call)
			}
		}
	}
}

// TestBuildersFollowTheGoldenEvents checks every event the world builds against the golden
// event of its kind in internal/event/testdata, whose shape comes from a public sample
// (testdata/SOURCES.md): the world may leave fields out, it never adds one that the sample
// does not show.
func TestBuildersFollowTheGoldenEvents(t *testing.T) {
	const member = "012345678901"
	a := Account{ID: member, Name: "workload-prod", OUID: "ou-ab12-k2l3m4n5", OUName: "Workloads"}
	failed := APICall(member, "us-east-1", "cloudtrail.amazonaws.com", "StopLogging", Person(member), map[string]any{"name": "org-audit"}, "AccessDenied")
	own := APICall(member, "us-east-1", "cloudformation.amazonaws.com", "UpdateStack",
		RoleSession(member, "AWSControlTowerExecution", "cloudone-onboarder"), map[string]any{"stackName": "CloudOne"}, "")
	cases := []struct {
		golden string
		entry  Entry
	}{
		{"cloudtrail-stop-logging.json", TrailCall(member, "us-east-1", "StopLogging", "org-audit")},
		{"cloudtrail-delete-trail.json", TrailCall(member, "us-east-1", "DeleteTrail", "org-audit")},
		{"cloudtrail-put-event-selectors.json", TrailCall(member, "us-east-1", "PutEventSelectors", "org-audit")},
		{"cloudtrail-stop-logging-failed.json", failed},
		{"cloudformation-delete-stack.json", StackCall(member, "us-east-1", "DeleteStack", "CloudOne")},
		{"cloudformation-update-stack-own-role.json", own},
		{"controltower-create-managed-account.json", ControlTowerAccount("CreateManagedAccount", a, "SUCCEEDED", "us-east-1")},
		{"controltower-update-managed-account.json", ControlTowerAccount("UpdateManagedAccount", a, "SUCCEEDED", "us-east-1")},
		{"organizations-create-account-result.json", OrganizationsCreateAccountResult(a, "SUCCEEDED")},
		{"organizations-close-account.json", OrganizationsAccountCall("CloseAccount", member)},
		{"organizations-remove-account.json", OrganizationsAccountCall("RemoveAccountFromOrganization", member)},
		{"organizations-move-account.json", MoveAccountCall(member, "ou-ab12-k2l3m4n5", "ou-ab12-sb0x7q9z")},
		{"manual-accounts.json", Manual(member)},
		{"manual-all.json", Manual()},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			var golden struct {
				Source     string         `json:"source"`
				DetailType string         `json:"detail-type"`
				Detail     map[string]any `json:"detail"`
			}
			raw, err := os.ReadFile(filepath.Join("..", "..", "internal", "event", "testdata", c.golden))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &golden); err != nil {
				t.Fatal(err)
			}
			if c.entry.Source != golden.Source || c.entry.DetailType != golden.DetailType {
				t.Errorf("source %q detail-type %q, the golden event has %q %q", c.entry.Source, c.entry.DetailType, golden.Source, golden.DetailType)
			}
			b, err := json.Marshal(c.entry.Detail)
			if err != nil {
				t.Fatal(err)
			}
			var built map[string]any
			if err := json.Unmarshal(b, &built); err != nil {
				t.Fatal(err)
			}
			for _, p := range extraFields("detail", built, golden.Detail) {
				t.Errorf("%s: no field of that name in %s", p, c.golden)
			}
		})
	}
	// Organizations masks the new account's name in CreateAccountResult.
	d := OrganizationsCreateAccountResult(a, "SUCCEEDED").Detail["serviceEventDetails"].(map[string]any)["createAccountStatus"].(map[string]any)
	if d["accountName"] != "****" {
		t.Errorf("createAccountStatus.accountName = %v, Organizations records ****", d["accountName"])
	}
}

// extraFields lists the paths of got's object fields that want does not have. Arrays are
// compared element by element against want's first element.
func extraFields(path string, got, want any) []string {
	var out []string
	switch g := got.(type) {
	case map[string]any:
		w, ok := want.(map[string]any)
		if !ok {
			return nil // a value where the sample has null or another type: a value, not a field
		}
		for k, v := range g {
			wv, ok := w[k]
			if !ok {
				out = append(out, path+"."+k)
				continue
			}
			out = append(out, extraFields(path+"."+k, v, wv)...)
		}
	case []any:
		w, ok := want.([]any)
		if !ok || len(w) == 0 {
			return nil
		}
		for i, v := range g {
			out = append(out, extraFields(fmt.Sprintf("%s[%d]", path, i), v, w[0])...)
		}
	}
	sort.Strings(out)
	return out
}
