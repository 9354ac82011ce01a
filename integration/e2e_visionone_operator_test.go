//go:build integration

package integration

// The Vision One target seen by the operator (the real command, as the SSO operator behind
// the IAM gate): status with Vision One's view, a rollout to a new version label; and Vision
// One's API answering 429, 503, 401 and 403.

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
)

// TestVisionOneOperator: `onboarder status` shows what Vision One says of each account and the
// trail each stack names; Vision One moves to a new template version and calls the accounts
// outdated, which status shows; `onboarder rollout start --template-url visionone:2` refuses a
// URL, then writes every account, wave by wave, from a template Vision One generates for the
// new version (one generation for the rollout), and Vision One calls them managed again.
func TestVisionOneOperator(t *testing.T) {
	w := newV1World(t, worldOpts{})
	own, theirs := w.org.Account("work-a"), w.org.Account("work-b")
	trailName, _, _ := seedV1Trail(t, w, theirs)
	w.onboard(own)
	w.onboard(theirs)
	ids := own.ID + "," + theirs.ID

	out := w.operator(0, "status", "--account", ids)
	first, ok := w.h.VisionOne.Account(own.ID)
	if !ok || len(first.Features) == 0 {
		t.Fatalf("Vision One does not know %s: %+v", own.Name, first)
	}
	v1 := first.Features[0].TemplateVersion
	for _, want := range []string{"VISION ONE", "managed (template " + v1 + ")", "logging (" + ownTrail + ")", "logging (" + trailName + ")"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "BUCKET") {
		t.Errorf("the Vision One table has a bucket column:\n%s", out)
	}

	// Vision One's template moves on; the accounts are outdated, and status says so.
	w.h.VisionOne.SetTemplateVersion("2.0.0")
	for _, a := range []localworld.Account{own, theirs} {
		if err := w.h.VisionOne.OutdateAccount(a.ID); err != nil {
			t.Fatal(err)
		}
	}
	mark := w.h.Recorder.Mark()
	w.put(localworld.Manual(own.ID, theirs.ID))
	w.drain()
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("outdated accounts were written without a rollout: %s", describeCalls(ws))
	}
	var rows []statusJSON
	if err := json.Unmarshal([]byte(w.operator(0, "status", "--json", "--account", ids)), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.VendorState != "outdated" {
			t.Errorf("%s: status --json vendorState %q, want outdated", r.Account, r.VendorState)
		}
	}

	// A URL is not a Vision One version: refused before anything is written.
	mark = w.h.Recorder.Mark()
	if _, stderr := w.operatorErr(1, "rollout", "start", "--template-url", "https://example.com/v2.yaml", "--canary", own.ID); !strings.Contains(stderr, "name a version as visionone:<label>") {
		t.Errorf("rollout of a URL for Vision One:\n%s", stderr)
	}
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("writes after the refusal: %s", describeCalls(ws))
	}

	generated := len(w.h.VisionOne.Generations())
	out = w.operator(0, "rollout", "start", "--template-url", "visionone:2", "--canary", own.ID, "--batch", "1")
	if !strings.Contains(out, "wave 1: 1 accounts (canary, enqueued)") {
		t.Fatalf("rollout start:\n%s", out)
	}
	w.drain()
	if r := w.rollout(); r.State != rollout.Done {
		t.Fatalf("rollout %s: %q", r.State, r.Reason)
	}
	if n := len(w.h.VisionOne.Generations()) - generated; n != 1 {
		t.Errorf("%d templates generated for the rollout, want 1", n)
	}
	for _, a := range []localworld.Account{own, theirs} {
		if tag := localworld.StackTags(w.stack(a.ID, stackRegion, v1Stack))["cloudone-onboarder:template"]; !strings.HasPrefix(tag, "visionone:2:") {
			t.Errorf("%s: template tag %q, want visionone:2:...", a.Name, tag)
		}
		acct, _ := w.h.VisionOne.Account(a.ID)
		if acct.State != "managed" || len(acct.Features) == 0 || acct.Features[0].TemplateVersion != "2.0.0" {
			t.Errorf("%s: Vision One says %s, template %+v", a.Name, acct.State, acct.Features)
		}
	}
	w.put(localworld.Manual(own.ID, theirs.ID))
	w.drain()
	if out := w.operator(0, "status", "--account", ids); strings.Count(out, "managed (template 2.0.0)") != 2 {
		t.Errorf("status after the rollout:\n%s", out)
	}
}

// statusJSON is the part of `onboarder status --json` the tests read.
type statusJSON struct {
	Account     string `json:"account"`
	VendorState string `json:"vendorState"`
}

// TestVisionOneAPIFaults: Vision One throttling (429 with Retry-After) and failing (503) are
// retried until the account is connected; a revoked key (401) and a key whose role lost
// Cloud Accounts (403) reach a person at once, through the DLQ, with what to check and no
// key in the words.
func TestVisionOneAPIFaults(t *testing.T) {
	w := newV1World(t, worldOpts{})
	a := w.org.Account("work-a")
	w.h.VisionOne.FailNext(2, http.StatusTooManyRequests, time.Second)
	w.h.VisionOne.FailNext(2, http.StatusServiceUnavailable, 0)
	w.onboard(a)
	arn, topic, _ := w.trailOf(a.ID, ownTrail)
	checkConnected(t, w, a, arn, topic)
	if d := w.dlqDepth(); d != "0" {
		t.Fatalf("DLQ depth %s after transient failures", d)
	}

	for _, c := range []struct {
		account, status string
		break_          func()
	}{
		{"work-b", "HTTP 401", func() { w.h.VisionOne.RevokeKey(v1Key) }},
		{"work-c", "HTTP 403", func() { w.h.VisionOne.DenyKey(v1Key) }},
	} {
		acct := w.org.Account(c.account)
		w.h.VisionOne.AddKey(v1Key)
		c.break_()
		w.onboard(acct)
		r := w.dlqReason(acct.ID)
		if !strings.Contains(r, c.status) || !strings.Contains(r, "visionOneApiKey") || !strings.Contains(r, "Cloud Accounts") {
			t.Errorf("%s: DLQ reason %q, want %s and what to check", acct.Name, r, c.status)
		}
		if strings.Contains(r, v1Key) {
			t.Errorf("%s: the DLQ reason holds the key", acct.Name)
		}
	}
	w.h.VisionOne.AddKey(v1Key)
}
