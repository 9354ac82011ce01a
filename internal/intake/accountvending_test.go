package intake_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/intake"
)

func TestAccountVending(t *testing.T) {
	cases := []struct {
		name             string
		file             string
		raw              json.RawMessage
		cfg              func(c *config.Config)
		tree             map[string]string
		parentsErr       error
		wantErr          bool
		decision, reason string
		account, trigger string
		replay, level    string
		listParents      int
		offboard         string
	}{
		{name: "control tower create, leading zero", file: "controltower-create-managed-account.json", decision: "enqueue", reason: intake.ReasonManagedAccountReady, account: member, trigger: "controltower:CreateManagedAccount"},
		{name: "control tower update", file: "controltower-update-managed-account.json", decision: "enqueue", reason: intake.ReasonManagedAccountReady, account: "123456789012", trigger: "controltower:UpdateManagedAccount"},
		{name: "replayed", file: "controltower-create-managed-account-replay.json", decision: "enqueue", reason: intake.ReasonManagedAccountReady, account: member, trigger: "controltower:CreateManagedAccount", replay: "onboarder-replay-20240306"},
		{name: "failed", file: "controltower-create-managed-account-failed.json", decision: "skip", reason: intake.ReasonLifecycleFailed, level: "WARN"},
		{name: "in progress", file: "controltower-update-managed-account-in-progress.json", decision: "skip", reason: intake.ReasonLifecycleNotDone, account: "123456789012"},
		{name: "organizations", file: "organizations-create-account-result.json", decision: "enqueue", reason: intake.ReasonAccountCreated, account: "004455667788", trigger: "organizations:CreateAccountResult"},
		{name: "organizations failed", file: "organizations-create-account-result-failed.json", decision: "skip", reason: intake.ReasonLifecycleFailed, level: "WARN"},
		{name: "excluded", file: "controltower-create-managed-account.json", cfg: func(c *config.Config) { c.ExcludeAccounts = []string{member} }, decision: "skip", reason: intake.ReasonExcluded, account: member},
		// The scope is where the account is now (ListParents), not the OU the event names.
		{name: "OU listed", file: "controltower-create-managed-account.json", cfg: func(c *config.Config) { c.IncludeOUs = []string{"ou-ab12-k2l3m4n5"} },
			tree: map[string]string{member: "ou-ab12-k2l3m4n5"}, decision: "enqueue", reason: intake.ReasonManagedAccountReady, account: member, trigger: "controltower:CreateManagedAccount", listParents: 1},
		{name: "OU nested under a listed OU", file: "controltower-create-managed-account.json", cfg: func(c *config.Config) { c.IncludeOUs = []string{"ou-ab12-parent00"} },
			tree: map[string]string{member: "ou-ab12-k2l3m4n5", "ou-ab12-k2l3m4n5": "ou-ab12-parent00"}, decision: "enqueue", reason: intake.ReasonManagedAccountReady, account: member, trigger: "controltower:CreateManagedAccount", listParents: 2},
		{name: "OU not listed", file: "controltower-create-managed-account.json", cfg: func(c *config.Config) { c.IncludeOUs = []string{"ou-ab12-other000"} },
			tree: map[string]string{member: "ou-ab12-k2l3m4n5", "ou-ab12-k2l3m4n5": "r-ab12"}, decision: "skip", reason: intake.ReasonOUNotInScope, account: member, listParents: 2},
		{name: "replayed after the account moved out of the listed OU", file: "controltower-create-managed-account-replay.json", cfg: func(c *config.Config) { c.IncludeOUs = []string{"ou-ab12-k2l3m4n5"} },
			tree: map[string]string{member: "ou-ab12-sb0x7q9z", "ou-ab12-sb0x7q9z": "r-ab12"}, decision: "skip", reason: intake.ReasonOUNotInScope, account: member, replay: "onboarder-replay-20240306", listParents: 2},
		{name: "no longer in the Organization", file: "controltower-create-managed-account.json", cfg: func(c *config.Config) { c.IncludeOUs = []string{"ou-ab12-k2l3m4n5"} },
			parentsErr: &orgtypes.ChildNotFoundException{Message: aws.String("We can't find a child with the ChildId that you specified.")}, decision: "skip", reason: intake.ReasonNotInOrg, account: member, listParents: 1},
		{name: "root listed", file: "organizations-create-account-result.json", cfg: func(c *config.Config) { c.IncludeOUs = []string{"r-ab12"} },
			tree: map[string]string{"004455667788": "ou-ab12-k2l3m4n5", "ou-ab12-k2l3m4n5": "r-ab12"}, decision: "enqueue", reason: intake.ReasonAccountCreated, account: "004455667788", trigger: "organizations:CreateAccountResult", listParents: 2},
		{name: "organizations, OU not listed", file: "organizations-create-account-result.json", cfg: func(c *config.Config) { c.IncludeOUs = []string{"ou-ab12-other000"} },
			tree: map[string]string{"004455667788": "r-ab12"}, decision: "skip", reason: intake.ReasonOUNotInScope, account: "004455667788", listParents: 1},
		{name: "ListParents fails", file: "organizations-create-account-result.json", cfg: func(c *config.Config) { c.IncludeOUs = []string{"ou-ab12-other000"} },
			parentsErr: errors.New("TooManyRequestsException"), wantErr: true},
		// offboarding
		{name: "closed", file: "organizations-close-account.json", decision: "enqueue", reason: intake.ReasonAccountClosed, account: member, trigger: "organizations:CloseAccount", offboard: "account-closed"},
		{name: "removed", file: "organizations-remove-account.json", decision: "enqueue", reason: intake.ReasonAccountRemoved, account: member, trigger: "organizations:RemoveAccountFromOrganization", offboard: "account-removed"},
		{name: "closed, excluded", file: "organizations-close-account.json", cfg: func(c *config.Config) { c.ExcludeAccounts = []string{member} }, decision: "skip", reason: intake.ReasonExcluded, account: member},
		{name: "moved, every OU in scope", file: "organizations-move-account.json", decision: "skip", reason: intake.ReasonMovedWithinScope, account: member},
		{name: "moved out of the included OUs", file: "organizations-move-account.json", cfg: func(c *config.Config) { c.IncludeOUs = []string{"ou-ab12-k2l3m4n5"} },
			tree: map[string]string{"ou-ab12-sb0x7q9z": "r-ab12"}, decision: "enqueue", reason: "ou-not-included", account: member, trigger: "organizations:MoveAccount", listParents: 1, offboard: "ou-not-included"},
		{name: "moved into the included OUs", file: "organizations-move-account.json", cfg: func(c *config.Config) { c.IncludeOUs = []string{"ou-ab12-sb0x7q9z"} },
			tree: map[string]string{"ou-ab12-k2l3m4n5": "r-ab12"}, decision: "enqueue", reason: intake.ReasonMovedIntoScope, account: member, trigger: "organizations:MoveAccount", listParents: 1},
		{name: "moved within the included OUs", file: "organizations-move-account.json", cfg: func(c *config.Config) { c.IncludeOUs = []string{"r-ab12"} },
			tree: map[string]string{"ou-ab12-k2l3m4n5": "r-ab12", "ou-ab12-sb0x7q9z": "r-ab12"}, decision: "skip", reason: intake.ReasonMovedWithinScope, account: member, listParents: 2},
		{name: "moved between OUs out of scope", file: "organizations-move-account.json", cfg: func(c *config.Config) { c.IncludeOUs = []string{"ou-ab12-other000"} },
			tree: map[string]string{"ou-ab12-k2l3m4n5": "r-ab12", "ou-ab12-sb0x7q9z": "r-ab12"}, decision: "skip", reason: intake.ReasonOUNotInScope, account: member, listParents: 2},
		{name: "move failed", file: "organizations-move-account-failed.json", decision: "skip", reason: intake.ReasonFailedCall},
		{name: "trail event", file: "cloudtrail-stop-logging.json", decision: "skip", reason: intake.ReasonNotHandled, account: member},
		{name: "short account id", raw: mutate(t, "controltower-create-managed-account.json", func(m map[string]any) {
			detail(m)["serviceEventDetails"].(map[string]any)["createManagedAccountStatus"].(map[string]any)["account"].(map[string]any)["accountId"] = "12345678901"
		}), decision: "error", reason: intake.ReasonBadEvent, level: "ERROR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv()
			cfg := baseConfig()
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			e.orgs.Parents = c.tree
			e.orgs.ListParentsCalls.FailAlways(c.parentsErr)
			h := intake.NewAccountVending(cfg, intake.ValidateAccountVending(cfg), e.queue(), e.orgs, e.log, e.metrics)
			raw := c.raw
			if raw == nil {
				raw = golden(t, c.file)
			}
			err := invoke(t, h.Handle, raw)
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want error %v", err, c.wantErr)
			}
			if c.wantErr {
				return
			}
			ds := e.decisions(t)
			if len(ds) != 1 {
				t.Fatalf("%d decision lines:\n%s", len(ds), e.logs.String())
			}
			d := ds[0]
			if d["decision"] != c.decision || d["reason"] != c.reason || d["account"] != c.account || d["replay"] != c.replay {
				t.Errorf("got %v/%v account %v replay %v (%v)", d["decision"], d["reason"], d["account"], d["replay"], d["detail"])
			}
			if c.level != "" && d["level"] != c.level {
				t.Errorf("level %v, want %s", d["level"], c.level)
			}
			if got := e.orgs.ListParentsCalls.Count(); got != c.listParents {
				t.Errorf("%d ListParents calls, want %d", got, c.listParents)
			}
			reqs := requests(t, e.sqs)
			if c.decision != "enqueue" {
				if len(reqs) != 0 {
					t.Errorf("%d requests on a skip", len(reqs))
				}
				return
			}
			if len(reqs) != 1 || reqs[0].Account != c.account || reqs[0].Trigger != c.trigger || reqs[0].ReplayName != c.replay || reqs[0].EventID != d["event_id"] ||
				reqs[0].Offboard != c.offboard {
				t.Fatalf("requests %+v", reqs)
			}
			// An account onboarded by an event is one whose roles are being made (a new account,
			// and one moved into scope: the member StackSet makes the dedicated role because of
			// that same move): it has the AssumeRole grace from the event's time. An offboarding
			// has none.
			var ev struct {
				Time time.Time `json:"time"`
			}
			_ = json.Unmarshal(raw, &ev)
			if got, onboards := reqs[0].AccountSince, c.offboard == ""; onboards != got.Equal(ev.Time) || (!onboards && !got.IsZero()) {
				t.Errorf("AccountSince %s (event at %s), onboarding %v", got, ev.Time, onboards)
			}
		})
	}
}

// For the Vision One target, an account onboarded by an event that carries no name (Organizations
// masks it in CreateAccountResult; MoveAccount names no account) is named from Organizations:
// Vision One's stack names the account by it. Control Tower's events carry the name (no call);
// Cloud One's stack takes none (no call); an account Organizations does not know is enqueued
// unnamed; a failed call is retried.
func TestAccountVendingNamesForVisionOne(t *testing.T) {
	moved := func(c *config.Config) { c.IncludeOUs = []string{"ou-ab12-sb0x7q9z"} }
	cases := []struct {
		name, file string
		target     string
		cfg        func(c *config.Config)
		known      bool  // Organizations knows the account
		err        error // DescribeAccount's answer
		wantName   string
		describes  int
		wantErr    bool
	}{
		{name: "created by Organizations", file: "organizations-create-account-result.json", target: config.TargetVisionOne, known: true, wantName: "shop", describes: 1},
		{name: "moved into scope", file: "organizations-move-account.json", target: config.TargetVisionOne, cfg: moved, known: true, wantName: "shop", describes: 1},
		{name: "Control Tower names it", file: "controltower-create-managed-account.json", target: config.TargetVisionOne, known: true, wantName: "workload-prod", describes: 0},
		{name: "Cloud One", file: "organizations-move-account.json", target: config.TargetCloudOne, cfg: moved, known: true, describes: 0},
		{name: "not a member", file: "organizations-create-account-result.json", target: config.TargetVisionOne, describes: 1},
		{name: "throttled", file: "organizations-move-account.json", target: config.TargetVisionOne, cfg: moved, known: true,
			err: errors.New("TooManyRequestsException: Rate exceeded"), wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv()
			cfg := baseConfig()
			cfg.Target = c.target
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			e.orgs.Parents = map[string]string{"ou-ab12-k2l3m4n5": "r-ab12"}
			raw := golden(t, c.file)
			var ev struct {
				Detail struct {
					RequestParameters struct {
						AccountID string `json:"accountId"`
					} `json:"requestParameters"`
					ServiceEventDetails struct {
						CreateAccountStatus struct {
							AccountID string `json:"accountId"`
						} `json:"createAccountStatus"`
					} `json:"serviceEventDetails"`
				} `json:"detail"`
			}
			_ = json.Unmarshal(raw, &ev)
			id := ev.Detail.RequestParameters.AccountID + ev.Detail.ServiceEventDetails.CreateAccountStatus.AccountID
			if c.known {
				e.orgs.Accounts = []orgtypes.Account{{Id: aws.String(id), Name: aws.String("shop")}}
			}
			e.orgs.DescribeAccountCalls.FailAlways(c.err)
			h := intake.NewAccountVending(cfg, intake.ValidateAccountVending(cfg), e.queue(), e.orgs, e.log, e.metrics)
			err := invoke(t, h.Handle, raw)
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want error %v", err, c.wantErr)
			}
			if c.wantErr {
				if n := len(requests(t, e.sqs)); n != 0 {
					t.Errorf("%d requests sent for an event that failed", n)
				}
				return
			}
			reqs := requests(t, e.sqs)
			if len(reqs) != 1 || reqs[0].AccountName != c.wantName {
				t.Errorf("requests %+v, want one for %q", reqs, c.wantName)
			}
			if got := e.orgs.DescribeAccountCalls.Count(); got != c.describes {
				t.Errorf("%d DescribeAccount calls, want %d", got, c.describes)
			}
		})
	}
}
