//go:build integration

package integration

// A new version of the onboarding template, rolled out in waves by the operator command
// (`onboarder rollout`, the real binary) and carried out by the real Lambdas: a broken version
// halts after the canary wave and reaches no other account; resumed with a fixed version, the
// rollout settles wave by wave until every account runs it.
//
// What moto does not do and the local world adds: moto would take any update at once; the
// CloudFormation layer of the fault proxy fails the update of the broken version as AWS does
// when a custom resource of Trend's template fails (UPDATE_ROLLBACK_COMPLETE, the old
// template, parameters and tags back, the resource named in the stack events). The stand-in
// template has no trail of its own (moto makes none): that an untouched account "still
// forwards" is checked as its stack being complete with the parameters, template and
// fingerprint of the last version, with no write in the account since the rollout started.

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
)

func TestE2ERollout(t *testing.T) {
	names := []string{"canary", "roll-a", "roll-b", "roll-c", "roll-d"}
	w := seedWorldWith(t, "us-east-1", localworld.OU{Name: "Workloads", Accounts: names}).
		start(worldOpts{region: "us-east-1"})
	acct := func(n string) localworld.Account { return w.org.Account(n) }
	w.put(localworld.Manual())
	w.drain()
	v1 := w.env.TemplateURL
	before := map[string]string{} // account -> fingerprint under v1
	for _, n := range names {
		checkOnboarded(t, w, acct(n), "True", "")
		tg := localworld.StackTags(w.stack(acct(n).ID, stackRegion, stackName))
		if tg["cloudone-onboarder:template"] != v1 {
			t.Fatalf("%s: template tag %q, want %s", n, tg["cloudone-onboarder:template"], v1)
		}
		before[acct(n).ID] = tg["cloudone-onboarder:fingerprint"]
	}

	// Two new versions: a broken one, whose custom resource fails on update, and its fix.
	broken := w.uploadTemplate("cloudone/v2-broken/onboarding-template.yaml", "Version 2")
	fixed := w.uploadTemplate("cloudone/v2.1/onboarding-template.yaml", "Version 2.1")
	rule := w.h.Faults.FailStacks(proxy.StackFailure{Operation: "UPDATE", TemplateURLContains: "/v2-broken/"})
	defer w.h.Faults.ClearStackFailures()

	mark := w.h.Recorder.Mark()
	out := w.operator(0, "rollout", "start", "--template-url", broken, "--canary", acct("canary").ID, "--batch", "2", "--failure-tolerance", "0")
	if !strings.Contains(out, "wave 1: 1 accounts (canary, enqueued)") || !strings.Contains(out, "wave 3: 2 accounts") {
		t.Fatalf("rollout start:\n%s", out)
	}
	w.drain()

	// The canary's update failed and rolled back: the rollout halted after the canary wave,
	// naming the resource and the reason.
	if n := w.h.Faults.StackFailures(rule); n != 1 {
		t.Errorf("the broken version failed %d updates, want 1 (the canary's)", n)
	}
	r := w.rollout()
	if r.State != rollout.Halted || r.Wave != 0 || !strings.Contains(r.Reason, "wave 1 of 3: 1 of 1 accounts failed") ||
		!strings.Contains(r.Reason, "CloudOneIntegration") || !strings.Contains(r.Reason, "Cloud One API returned 500") {
		t.Errorf("rollout after the broken canary: %s %d %q, want halted at wave 1 naming CloudOneIntegration", r.State, r.Wave, r.Reason)
	}
	out = w.operator(1, "rollout", "status") // exit 1: halted
	if !strings.Contains(out, "HALTED, wave 1 of 3") || !strings.Contains(out, "failed: "+acct("canary").ID+": ") ||
		!strings.Contains(out, "wave 2: 2 accounts: not released") {
		t.Errorf("rollout status of the halted rollout:\n%s", out)
	}
	canary := w.stack(acct("canary").ID, stackRegion, stackName)
	if canary.StackStatus != "UPDATE_ROLLBACK_COMPLETE" || localworld.StackTags(canary)["cloudone-onboarder:template"] != v1 {
		t.Errorf("canary: %s with template %q, want UPDATE_ROLLBACK_COMPLETE with v1 back", canary.StackStatus, localworld.StackTags(canary)["cloudone-onboarder:template"])
	}
	if e := w.ledgerEntry(acct("canary").ID); e.Class != "needs-person" || !strings.Contains(e.Failed, "CloudOneIntegration") {
		t.Errorf("canary ledger %+v, want needs-person naming the resource", e)
	}
	// The other accounts are untouched and still forward; a sweep pushes the version to none
	// of them, and writes nothing anywhere (the canary's failed desired state is not retried).
	untouched := func(when string) {
		t.Helper()
		for _, n := range names[1:] {
			a := acct(n)
			if ws := w.h.Recorder.Since(mark, localworld.Writes, localworld.InAccount(a.ID)); len(ws) > 0 {
				t.Errorf("%s: %s got writes: %s", when, n, describeCalls(ws))
			}
			checkOnboarded(t, w, a, "True", "")
			tg := localworld.StackTags(w.stack(a.ID, stackRegion, stackName))
			if tg["cloudone-onboarder:template"] != v1 || tg["cloudone-onboarder:fingerprint"] != before[a.ID] {
				t.Errorf("%s: %s has template %q fingerprint %q, want v1 as before", when, n, tg["cloudone-onboarder:template"], tg["cloudone-onboarder:fingerprint"])
			}
		}
	}
	untouched("after the halt")
	sweepMark := w.h.Recorder.Mark()
	w.sweep()
	untouched("after a sweep")
	if ws := w.memberWrites(sweepMark); len(ws) > 0 {
		t.Errorf("the sweep during the halted rollout wrote: %s", describeCalls(ws))
	}
	if r := w.rollout(); r.State != rollout.Halted {
		t.Errorf("the sweep moved the halted rollout: %s %q", r.State, r.Reason)
	}

	// Resumed with the fixed version, whose assets (nested templates, Lambda packages) sit
	// beside it: the canary is updated to it, then each wave in turn.
	out = w.operator(0, "rollout", "resume", "--template-url", fixed, "--assets-bucket", localworld.TemplateBucket, "--assets-prefix", "cloudone/v2.1/")
	if !strings.Contains(out, "resumed at wave 1 of 3") || !strings.Contains(out, "1 accounts enqueued again") {
		t.Errorf("rollout resume:\n%s", out)
	}
	w.drain()
	r = w.rollout()
	if r.State != rollout.Done || r.To.URL != fixed || r.To.Prefix != "cloudone/v2.1/" || !strings.Contains(r.Reason, "every wave settled (3)") {
		t.Errorf("rollout after the resume: %s wave %d %q, want done with %s", r.State, r.Wave, r.Reason, fixed)
	}
	if len(r.Waves) != 0 || len(r.Settled) != 0 {
		t.Errorf("the done rollout kept its account lists (%d waves, %d settled): every pass reads them", len(r.Waves), len(r.Settled))
	}
	out = w.operator(0, "rollout", "status")
	if !strings.Contains(out, "DONE, wave 3 of 3") || !strings.Contains(out, "wave 1: 1 accounts: settled") || !strings.Contains(out, "wave 3: 2 accounts: settled") {
		t.Errorf("rollout status of the done rollout:\n%s", out)
	}
	for _, n := range names {
		s := w.stack(acct(n).ID, stackRegion, stackName)
		if got := localworld.StackTags(s)["cloudone-onboarder:template"]; s.StackStatus != "UPDATE_COMPLETE" || got != fixed {
			t.Errorf("%s: %s with template %q, want UPDATE_COMPLETE with %s", n, s.StackStatus, got, fixed)
		}
		checkOnboardedWith(t, w, acct(n), "True", "", localworld.TemplateBucket, "cloudone/v2.1/")
	}
	// The waves went in order: each account of a wave was released only after the wave before
	// settled, which the release events of the reconcile's logs show.
	type release struct {
		at   time.Time
		wave string
	}
	var rel []release
	for _, e := range logEntries(w.env.LambdaLogs()) { // the processes' logs, one after the other
		if e["message"] == "rollout wave released" {
			at, err := time.Parse(time.RFC3339Nano, jsonString(e["timestamp"]))
			if err != nil {
				t.Fatalf("log timestamp: %v", err)
			}
			rel = append(rel, release{at, jsonString(e["wave"])})
		}
	}
	sort.Slice(rel, func(i, j int) bool { return rel[i].at.Before(rel[j].at) })
	var released []string
	for _, r := range rel {
		released = append(released, r.wave)
	}
	if strings.Join(released, ",") != "2,3" {
		t.Errorf("waves released by the worker: %v, want 2 then 3", released)
	}
	out = w.operator(0, "status")
	if strings.Count(out, "v2.1/onboarding-template.yaml") != len(names) {
		t.Errorf("onboarder status does not show the fixed version for every account:\n%s", out)
	}
}

// uploadTemplate puts a version of the stand-in template (another description) in the
// template bucket and returns its URL.
func (w *world) uploadTemplate(key, version string) string {
	w.t.Helper()
	body := bytes.Replace(localworld.OnboardingTemplate, []byte("Description: >-"), []byte("Description: >-\n  "+version+" of the stand-in."), 1)
	if bytes.Equal(body, localworld.OnboardingTemplate) {
		w.t.Fatal("the stand-in template has no description to change")
	}
	if _, err := localworld.S3(w.h.Moto.Config(w.ctx, "us-east-1")).PutObject(w.ctx, &s3.PutObjectInput{
		Bucket: aws.String(localworld.TemplateBucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		w.t.Fatal(err)
	}
	return w.h.Moto.ObjectURL(localworld.TemplateBucket, key)
}

// operator runs the operator command against the world and returns its output; it fails the
// test on another exit code than want.
func (w *world) operator(want int, args ...string) string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 2*time.Minute)
	defer cancel()
	out, stderr, code, err := w.env.RunOperator(ctx, w.h.Operator, args...)
	if err != nil || code != want {
		w.t.Fatalf("onboarder %s: exit %d (want %d), %v\n%s\n%s", strings.Join(args, " "), code, want, err, redact(out), redact(stderr))
	}
	return out
}

// rollout reads the rollout from the ledger table.
func (w *world) rollout() *rollout.Rollout {
	w.t.Helper()
	st := &rollout.Store{DB: dynamodb.NewFromConfig(w.env.Central()), Table: localworld.LedgerTable}
	r, err := st.Get(context.WithoutCancel(w.ctx))
	if err != nil || r == nil {
		w.t.Fatalf("read the rollout: %v %v", r, err)
	}
	return r
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}
