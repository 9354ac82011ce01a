package intake_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/intake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
)

const member = "012345678901"

func forwarding() ledger.Entry {
	return ledger.Entry{Account: member, Region: "us-east-1", StackName: "CloudOne", Managed: true, TrailMode: "auto",
		TrailARN: "arn:aws:cloudtrail:us-east-1:012345678901:trail/org-audit", TrailName: "org-audit", TrailHomeRegion: "us-east-1",
		Class: "none"}
}

func TestTrailGuard(t *testing.T) {
	type tc struct {
		name      string
		file      string
		raw       json.RawMessage
		cfg       func(c *config.Config)
		entry     *ledger.Entry // nil: no entry
		ledgerErr error
		tree      map[string]string
		sendErr   error
		wantErr   bool
		decision  string
		reason    string
		replay    string
		noCalls   bool // an irrelevant event makes no call at all
	}
	needsPerson := forwarding()
	needsPerson.Class = "needs-person"
	newTrail := forwarding()
	newTrail.CreateNewTrail, newTrail.TrailARN, newTrail.TrailName = true, "", ""
	ownTrail := forwarding() // the stack's own trail, found by the worker through its tag
	ownTrail.CreateNewTrail = true
	unmanaged := forwarding()
	unmanaged.Managed = false
	fw := forwarding()
	cases := []tc{
		{name: "stop logging forwarding trail by ARN", file: "cloudtrail-stop-logging.json", entry: &fw, decision: "enqueue", reason: intake.ReasonForwardingTrail},
		{name: "stop logging forwarding trail by name", file: "cloudtrail-stop-logging-by-name.json", entry: &fw, decision: "enqueue", reason: intake.ReasonForwardingTrail},
		{name: "failed call", file: "cloudtrail-stop-logging-failed.json", entry: &fw, decision: "skip", reason: intake.ReasonFailedCall, noCalls: true},
		// StopLogging and DeleteTrail on the forwarding trail are never skipped, whoever made them.
		{name: "stop logging by the onboarder's role", file: "cloudtrail-stop-logging-own-role.json", entry: &fw, decision: "enqueue", reason: intake.ReasonForwardingTrail},
		// Other changes by the onboarder's own session (its StartLogging, the trail its stack
		// makes) are its own: skipped. Its session is its role and its session name; the
		// CloudFormation service role's sessions are CloudFormation's, for the stack.
		{name: "create trail by the onboarder's session", file: "cloudtrail-create-trail.json", entry: &fw, raw: withIdentity(t, "cloudtrail-create-trail.json",
			"arn:aws:sts::"+member+":assumed-role/AWSControlTowerExecution/cloudone-onboarder"), decision: "skip", reason: intake.ReasonOwnChange, noCalls: true},
		{name: "create trail through the fallback role", file: "cloudtrail-create-trail.json", entry: &fw, cfg: func(c *config.Config) {
			c.ExecutionRoleName, c.FallbackRoleName = "CloudOneOnboarderExecution", "AWSControlTowerExecution"
		}, raw: withIdentity(t, "cloudtrail-create-trail.json", "arn:aws:sts::"+member+":assumed-role/AWSControlTowerExecution/cloudone-onboarder"), decision: "skip", reason: intake.ReasonOwnChange, noCalls: true},
		{name: "create trail by the CloudFormation role", file: "cloudtrail-create-trail.json", entry: &fw, cfg: func(c *config.Config) { c.CFNRoleName = "CloudOneOnboarderCloudFormation" },
			raw: withIdentity(t, "cloudtrail-create-trail.json", "arn:aws:sts::"+member+":assumed-role/CloudOneOnboarderCloudFormation/AWSCloudFormation"), decision: "skip", reason: intake.ReasonOwnChange, noCalls: true},
		// A role is not the onboarder: AWSControlTowerExecution serves Control Tower, CfCT,
		// AFT and people too. Their sessions are theirs.
		{name: "update forwarding trail by Control Tower's session of the role", file: "cloudtrail-update-trail.json", entry: &fw, raw: withIdentity(t, "cloudtrail-update-trail.json",
			"arn:aws:sts::"+member+":assumed-role/AWSControlTowerExecution/AWS-ControlTower-Session"), decision: "enqueue", reason: intake.ReasonForwardingTrail},
		{name: "delete onboarding stack by a person through the role", file: "cloudformation-delete-stack.json", raw: withIdentity(t, "cloudformation-delete-stack.json",
			"arn:aws:sts::"+member+":assumed-role/AWSControlTowerExecution/jane.doe"), decision: "enqueue", reason: intake.ReasonStackChanged},
		// A session name proves nothing: anyone may choose "cloudone-onboarder".
		{name: "update trail by an impostor session", file: "cloudtrail-update-trail.json", entry: &fw, raw: withIdentity(t, "cloudtrail-update-trail.json",
			"arn:aws:sts::"+member+":assumed-role/SomeAdmin/cloudone-onboarder"), decision: "enqueue", reason: intake.ReasonForwardingTrail},
		{name: "trail of another account", file: "cloudtrail-stop-logging-other-account-trail.json", entry: &fw, decision: "skip", reason: intake.ReasonOtherAccountTrail, noCalls: true},
		{name: "moto delivery, replayed", file: "cloudtrail-stop-logging-moto-replay.json", entry: &fw, decision: "enqueue", reason: intake.ReasonForwardingTrail, replay: "onboarder-replay-20240306"},
		{name: "start logging forwarding trail", file: "cloudtrail-start-logging.json", entry: &fw, decision: "skip", reason: intake.ReasonTrailStarted},
		{name: "delete forwarding trail", file: "cloudtrail-delete-trail.json", entry: &fw, decision: "enqueue", reason: intake.ReasonForwardingTrail},
		{name: "delete another trail", file: "cloudtrail-delete-trail-other.json", entry: &fw, decision: "skip", reason: intake.ReasonNotForwardingTrail},
		{name: "same name, other region", file: "cloudtrail-delete-trail.json", entry: &fw, raw: mutate(t, "cloudtrail-delete-trail.json", func(m map[string]any) { detail(m)["awsRegion"] = "eu-west-1" }),
			decision: "skip", reason: intake.ReasonNotForwardingTrail},
		{name: "create trail", file: "cloudtrail-create-trail.json", entry: &fw, decision: "skip", reason: intake.ReasonNotForwardingTrail},
		{name: "create trail while needs-person", file: "cloudtrail-create-trail.json", entry: &needsPerson, decision: "enqueue", reason: intake.ReasonMayFix},
		{name: "delete other trail while needs-person", file: "cloudtrail-delete-trail-other.json", entry: &needsPerson, decision: "skip", reason: intake.ReasonNotForwardingTrail},
		{name: "update forwarding trail", file: "cloudtrail-update-trail.json", entry: &fw, decision: "enqueue", reason: intake.ReasonForwardingTrail},
		{name: "put event selectors forwarding trail", file: "cloudtrail-put-event-selectors.json", entry: &fw, decision: "enqueue", reason: intake.ReasonForwardingTrail},
		{name: "no ledger entry", file: "cloudtrail-delete-trail-other.json", decision: "enqueue", reason: intake.ReasonTrailUnknown},
		{name: "stack makes its own trail", file: "cloudtrail-delete-trail-other.json", entry: &newTrail, decision: "enqueue", reason: intake.ReasonStackTrail},
		{name: "stack's own trail deleted", file: "cloudtrail-delete-trail.json", entry: &ownTrail, decision: "enqueue", reason: intake.ReasonForwardingTrail},
		{name: "another trail while the stack has its own", file: "cloudtrail-delete-trail-other.json", entry: &ownTrail, decision: "skip", reason: intake.ReasonNotForwardingTrail},
		{name: "stack not managed", file: "cloudtrail-delete-trail-other.json", entry: &unmanaged, decision: "enqueue", reason: intake.ReasonNotManaged},
		{name: "ledger down", file: "cloudtrail-stop-logging.json", ledgerErr: errors.New("ThrottlingException"), wantErr: true},
		{name: "sqs down", file: "cloudtrail-stop-logging.json", entry: &fw, sendErr: errors.New("ServiceUnavailable"), wantErr: true},
		{name: "delete onboarding stack", file: "cloudformation-delete-stack.json", decision: "enqueue", reason: intake.ReasonStackChanged},
		{name: "update onboarding stack by ARN", file: "cloudformation-update-stack-arn.json", decision: "enqueue", reason: intake.ReasonStackChanged},
		{name: "stack update by own role", file: "cloudformation-update-stack-own-role.json", decision: "skip", reason: intake.ReasonOwnChange, noCalls: true},
		{name: "other stack", file: "cloudformation-delete-other-stack.json", decision: "skip", reason: intake.ReasonNotOnboardingStack, noCalls: true},
		{name: "failed stack call", file: "cloudformation-delete-stack-failed.json", decision: "skip", reason: intake.ReasonFailedCall, noCalls: true},
		{name: "stack ARN of another account", file: "cloudformation-update-stack-arn.json", raw: mutate(t, "cloudformation-update-stack-arn.json", func(m map[string]any) {
			detail(m)["requestParameters"] = map[string]any{"stackName": "arn:aws:cloudformation:us-east-1:210987654321:stack/CloudOne/4f7a3c10"}
		}), decision: "skip", reason: intake.ReasonNotOnboardingStack, noCalls: true},
		{name: "other stack name configured", file: "cloudformation-delete-stack.json", cfg: func(c *config.Config) { c.StackName = "C1" }, decision: "skip", reason: intake.ReasonNotOnboardingStack, noCalls: true},
		// Vision One: its stack and the onboarder's trail stack it reads its trail from.
		{name: "vision one: its stack deleted", file: "cloudformation-delete-stack.json", cfg: func(c *config.Config) { c.Target, c.StackName = config.TargetVisionOne, "CloudOne" },
			decision: "enqueue", reason: intake.ReasonStackChanged},
		{name: "vision one: the trail stack deleted", file: "cloudformation-delete-stack.json", cfg: func(c *config.Config) {
			c.Target, c.StackName, c.TrailStackName = config.TargetVisionOne, config.DefaultVisionOneStackName, "CloudOne"
		}, decision: "enqueue", reason: intake.ReasonStackChanged},
		{name: "cloud one: a stack named like the trail stack", file: "cloudformation-delete-stack.json", cfg: func(c *config.Config) { c.StackName, c.TrailStackName = "C1", "CloudOne" },
			decision: "skip", reason: intake.ReasonNotOnboardingStack, noCalls: true},
		{name: "excluded account", file: "cloudtrail-stop-logging.json", entry: &fw, cfg: func(c *config.Config) { c.ExcludeAccounts = []string{member} }, decision: "skip", reason: intake.ReasonExcluded, noCalls: true},
		{name: "OU in scope", file: "cloudtrail-stop-logging.json", entry: &fw, cfg: func(c *config.Config) { c.IncludeOUs = []string{"ou-ab12-k2l3m4n5"} },
			tree: map[string]string{member: "ou-ab12-k2l3m4n5"}, decision: "enqueue", reason: intake.ReasonForwardingTrail},
		{name: "OU out of scope", file: "cloudtrail-stop-logging.json", entry: &fw, cfg: func(c *config.Config) { c.IncludeOUs = []string{"ou-ab12-k2l3m4n5"} },
			tree: map[string]string{member: "ou-ab12-sb0x7q9z", "ou-ab12-sb0x7q9z": "r-ab12"}, decision: "skip", reason: intake.ReasonOUNotInScope},
		{name: "lifecycle event", file: "controltower-create-managed-account.json", decision: "skip", reason: intake.ReasonNotHandled, noCalls: true},
		{name: "unknown event", file: "unknown-ec2-run-instances.json", decision: "skip", reason: intake.ReasonUnknownEvent, noCalls: true},
		{name: "account id as a number", file: "cloudtrail-stop-logging.json", raw: mutate(t, "cloudtrail-stop-logging.json", func(m map[string]any) { detail(m)["recipientAccountId"] = 12345678901 }),
			decision: "error", reason: intake.ReasonBadEvent, noCalls: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv()
			cfg := baseConfig()
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			if c.entry != nil {
				e.ledger.Seed(*c.entry)
			}
			e.ledger.GetCalls.FailAlways(c.ledgerErr)
			e.sqs.SendMessageBatchCalls.FailAlways(c.sendErr)
			e.orgs.Parents = c.tree
			h := intake.NewTrailGuard(cfg, intake.ValidateTrailGuard(cfg), e.queue(), e.ledger, e.orgs, e.log, e.metrics)
			raw := c.raw
			if raw == nil {
				raw = golden(t, c.file)
			}
			err := invoke(t, h.Handle, raw)
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want error %v\n%s", err, c.wantErr, e.logs.String())
			}
			if c.wantErr {
				return
			}
			ds := e.decisions(t)
			if len(ds) != 1 {
				t.Fatalf("%d decision lines, want 1:\n%s", len(ds), e.logs.String())
			}
			d := ds[0]
			if d["decision"] != c.decision || d["reason"] != c.reason || d["replay"] != c.replay {
				t.Errorf("decision %v/%v replay %q, want %s/%s %q: %v", d["decision"], d["reason"], d["replay"], c.decision, c.reason, c.replay, d["detail"])
			}
			if d["event_id"] == "" {
				t.Error("no event_id")
			}
			reqs := requests(t, e.sqs)
			if c.decision == "enqueue" {
				if len(reqs) != 1 {
					t.Fatalf("%d requests, want 1", len(reqs))
				}
				r := reqs[0]
				if r.Account != member || r.EventID != d["event_id"] || r.ReplayName != c.replay || r.Region == "" || !strings.Contains(r.Trigger, ":") {
					t.Errorf("request %+v", r)
				}
				// A trail event's request carries the digest of the ledger entry it was decided on.
				want := ""
				if c.entry != nil && strings.HasPrefix(c.file, "cloudtrail-") {
					want = c.entry.Digest()
				}
				if r.LedgerDigest != want {
					t.Errorf("ledger digest %q, want %q", r.LedgerDigest, want)
				}
			} else if len(reqs) != 0 {
				t.Errorf("skip sent %d requests", len(reqs))
			}
			if c.noCalls && (e.ledger.GetCalls.Count()+e.orgs.Log.Len() != 0) {
				t.Errorf("irrelevant event made calls: ledger %d, organizations %v", e.ledger.GetCalls.Count(), e.orgs.Log.Ops())
			}
			if c.decision == "error" {
				if d["level"] != "ERROR" || !strings.Contains(e.emf.String(), `"Decision":"error"`) {
					t.Errorf("bad event not visible: level %v, metrics %s", d["level"], e.emf.String())
				}
			}
			if !strings.Contains(e.emf.String(), `"Reason":"`+c.reason+`"`) {
				t.Errorf("no metric for reason %s: %s", c.reason, e.emf.String())
			}
		})
	}
}

func TestTrailGuardConfigError(t *testing.T) {
	e := newEnv()
	cfg := baseConfig()
	cfg.LedgerTable = ""
	cfg.ExcludeAccounts = []string{"12345"}
	h := intake.NewTrailGuard(cfg, intake.ValidateTrailGuard(cfg), e.queue(), e.ledger, e.orgs, e.log, e.metrics)
	err := invoke(t, h.Handle, golden(t, "cloudtrail-stop-logging.json"))
	if err == nil || !strings.Contains(err.Error(), "ONBOARDER_LEDGER_TABLE") || !strings.Contains(err.Error(), "ONBOARDER_EXCLUDE_ACCOUNTS") {
		t.Fatalf("error %v should name every bad setting", err)
	}
	if e.sqs.SendMessageBatchCalls.Count() != 0 {
		t.Error("sent with a bad configuration")
	}
}

func TestValidateNeedsNoSecret(t *testing.T) {
	cfg := baseConfig()
	for name, err := range map[string]error{
		"accountvending": intake.ValidateAccountVending(cfg),
		"trailguard":     intake.ValidateTrailGuard(cfg),
		"sweep":          intake.ValidateSweep(cfg),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	cfg.QueueURL = "https://sqs.us-east-1.amazonaws.com/999999999999/reconcile"
	if err := intake.ValidateSweep(cfg); err == nil || !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("standard queue accepted: %v", err)
	}
}

// withIdentity is a golden event made by another assumed-role session.
func withIdentity(t *testing.T, name, arn string) json.RawMessage {
	return mutate(t, name, func(m map[string]any) {
		detail(m)["userIdentity"] = map[string]any{"type": "AssumedRole", "arn": arn, "accountId": member}
	})
}
