//go:build integration

package integration

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
)

// checkOnboarded asserts the stack of a freshly onboarded account: in the mapped region and
// nowhere else, with the parameters, tags and capabilities of the contract.
func checkOnboarded(t *testing.T, w *world, a localworld.Account, wantNewTrail, wantBucket string) {
	t.Helper()
	checkOnboardedWith(t, w, a, wantNewTrail, wantBucket, "cloudone-community", "")
}

// checkOnboardedWith is checkOnboarded for a template version whose assets (QSS3BucketName,
// QSS3KeyPrefix) are not the configured ones.
func checkOnboardedWith(t *testing.T, w *world, a localworld.Account, wantNewTrail, wantBucket, assetsBucket, assetsPrefix string) {
	t.Helper()
	if got := w.stacksEverywhere(a.ID, stackName); !slices.Equal(got, []string{stackRegion}) {
		t.Fatalf("%s: stack %s in regions %v, want only [%s]", a.Name, stackName, got, stackRegion)
	}
	s := w.stack(a.ID, stackRegion, stackName)
	if !strings.HasSuffix(string(s.StackStatus), "_COMPLETE") {
		t.Errorf("%s: status %s", a.Name, s.StackStatus)
	}
	p := localworld.StackParams(s)
	want := map[string]string{"CreateNewTrail": wantNewTrail, "ExistingCloudtrailBucketName": wantBucket,
		"QSS3BucketName": assetsBucket, "QSS3KeyPrefix": assetsPrefix}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s: parameter %s = %q, want %q (public parameters: %s)", a.Name, k, p[k], v, publicParams(s))
		}
	}
	// moto reads NoEcho parameters back in clear, which lets the suite check them; compare
	// without printing.
	if p["CloudOneApiKey"] != c1Key.APIKey() && p["CloudOneApiKey"] != "****" {
		t.Errorf("%s: CloudOneApiKey is not the key of the secret", a.Name)
	}
	if p["VisionOneServiceToken"] != v1Tok && p["VisionOneServiceToken"] != "****" {
		t.Errorf("%s: VisionOneServiceToken is not the token of the secret", a.Name)
	}
	tg := localworld.StackTags(s)
	if tg["cloudone-onboarder:managed"] != "true" {
		t.Errorf("%s: tag cloudone-onboarder:managed = %q, want true (tags %v)", a.Name, tg["cloudone-onboarder:managed"], tg)
	}
	if tg["cloudone-onboarder:fingerprint"] == "" {
		t.Errorf("%s: no tag cloudone-onboarder:fingerprint (tags %v)", a.Name, tg)
	}
	// moto's DescribeStacks does not return Capabilities: read them from the recorded call.
	calls := w.h.Recorder.Calls(localworld.InService("cloudformation"), localworld.InAccount(a.ID), localworld.WithAction("CreateStack", "UpdateStack"))
	if len(calls) == 0 {
		t.Fatalf("%s: no CreateStack call recorded", a.Name)
	}
	last := calls[len(calls)-1]
	if last.Region != stackRegion {
		t.Errorf("%s: %s in %s, want %s", a.Name, last.Action, last.Region, stackRegion)
	}
	for _, c := range []string{"CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"} {
		if !capability(last.Body, c) {
			t.Errorf("%s: %s did not ask for %s", a.Name, last.Action, c)
		}
	}
}

// capability finds a capability in a CreateStack/UpdateStack body of either protocol.
func capability(body []byte, c string) bool {
	if v, err := url.ParseQuery(string(body)); err == nil {
		for k, vs := range v {
			if strings.HasPrefix(k, "Capabilities.") && slices.Contains(vs, c) {
				return true
			}
		}
	}
	return strings.Contains(string(body), `"`+c+`"`)
}

// TestE2ENewAccount: scenario 1.
func TestE2ENewAccount(t *testing.T) {
	w := newWorld(t, worldOpts{})
	a := w.org.Account("work-a")
	st := w.onboard(a)
	if len(st.FunctionErrors) > 0 {
		t.Errorf("function errors: %v", st.FunctionErrors)
	}
	checkOnboarded(t, w, a, "True", "")
	for _, other := range w.org.Accounts {
		if other.ID != a.ID {
			if got := w.stacksEverywhere(other.ID, stackName); len(got) > 0 {
				t.Errorf("%s got a stack in %v from an event about %s", other.Name, got, a.Name)
			}
		}
	}
	// The worker assumed the execution role with its own session name.
	roles := w.h.Recorder.Calls(localworld.WithAction("AssumeRole"), func(c localworld.Call) bool {
		return strings.Contains(c.RoleARN, "::"+a.ID+":role/")
	})
	var sessions []string
	for _, c := range roles {
		if c.SessionName != localworld.SeedSession {
			sessions = append(sessions, c.SessionName)
		}
	}
	if len(sessions) == 0 {
		t.Errorf("no AssumeRole into %s by the product", a.ID)
	}
	for _, s := range sessions {
		if s != "cloudone-onboarder" {
			t.Errorf("AssumeRole session name %q, want cloudone-onboarder", s)
		}
	}
	if got := w.ledgerAccounts(); !slices.Equal(got, []string{a.ID}) {
		t.Errorf("ledger accounts %v, want [%s]", got, a.ID)
	}
	if w.dlqDepth() != "0" {
		t.Errorf("DLQ has %s messages", w.dlqDepth())
	}
}

// TestE2ETrailMode: scenario 2.
func TestE2ETrailMode(t *testing.T) {
	w := newWorld(t, worldOpts{})
	withTrail, without, farBucket := w.org.Account("work-a"), w.org.Account("work-b"), w.org.Account("work-c")
	// A multi-region trail homed in eu-west-1 covers us-east-1, and its bucket is in us-east-1.
	if _, err := w.h.Moto.SeedTrail(w.ctx, localworld.Trail{Account: withTrail.ID, Name: "org-audit", Bucket: "audit-logs-" + withTrail.ID,
		HomeRegion: "eu-west-1", BucketRegion: stackRegion, MultiRegion: true, Logging: true}); err != nil {
		t.Fatal(err)
	}
	// The same, with the bucket in eu-west-1: S3 notifies only targets in the bucket's own
	// region, so the forwarder in us-east-1 could not use it.
	if _, err := w.h.Moto.SeedTrail(w.ctx, localworld.Trail{Account: farBucket.ID, Name: "org-audit", Bucket: "audit-logs-" + farBucket.ID,
		HomeRegion: "eu-west-1", MultiRegion: true, Logging: true}); err != nil {
		t.Fatal(err)
	}
	// A trail that does not log, in the other account, must not count.
	if _, err := w.h.Moto.SeedTrail(w.ctx, localworld.Trail{Account: without.ID, Name: "stopped", Bucket: "stopped-logs-" + without.ID,
		HomeRegion: "us-east-1", MultiRegion: true, Logging: false}); err != nil {
		t.Fatal(err)
	}
	w.put(localworld.ControlTowerAccount("CreateManagedAccount", withTrail, "SUCCEEDED", w.env.Region),
		localworld.ControlTowerAccount("CreateManagedAccount", without, "SUCCEEDED", w.env.Region),
		localworld.ControlTowerAccount("CreateManagedAccount", farBucket, "SUCCEEDED", w.env.Region))
	marks := w.marks()
	w.drain()
	checkOnboarded(t, w, withTrail, "False", "audit-logs-"+withTrail.ID)
	checkOnboarded(t, w, without, "True", "")
	checkOnboarded(t, w, farBucket, "True", "")
	found := false
	for _, l := range reconcileLogs(w.logsSince(marks, "reconcile"), farBucket.ID) {
		if strings.Contains(fmt.Sprint(l["trail"]), "is not in us-east-1 (S3 sends event notifications only to targets in the bucket's own region)") {
			found = true
		}
	}
	if !found {
		t.Errorf("%s: the log does not say why the eu-west-1 bucket was not used", farBucket.Name)
	}
}

// seedForwardingTrail gives the account a single-region trail in us-east-1 and onboards it.
func seedForwardingTrail(t *testing.T, w *world, a localworld.Account) (name, arn, bucket string) {
	t.Helper()
	name, bucket = "audit", "audit-logs-"+a.ID
	arn, err := w.h.Moto.SeedTrail(w.ctx, localworld.Trail{Account: a.ID, Name: name, Bucket: bucket, HomeRegion: stackRegion, Logging: true})
	if err != nil {
		t.Fatal(err)
	}
	w.onboard(a)
	checkOnboarded(t, w, a, "False", bucket)
	return name, arn, bucket
}

// TestE2ETrailDeleted: scenario 3.
func TestE2ETrailDeleted(t *testing.T) {
	w := newWorld(t, worldOpts{})
	a := w.org.Account("work-a")
	name, arn, _ := seedForwardingTrail(t, w, a)
	if _, err := cloudtrail.NewFromConfig(w.acctCfg(a.ID, stackRegion)).DeleteTrail(w.ctx, &cloudtrail.DeleteTrailInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	w.put(localworld.TrailCall(a.ID, stackRegion, "DeleteTrail", arn))
	w.drain()
	s := w.stack(a.ID, stackRegion, stackName)
	if s == nil {
		t.Fatal("the stack is gone")
	}
	if p := localworld.StackParams(s); p["CreateNewTrail"] != "True" || p["ExistingCloudtrailBucketName"] != "" {
		t.Errorf("after the trail was deleted: %s, want CreateNewTrail True and no bucket", publicParams(s))
	}
}

// TestE2ELoggingStopped: scenario 4.
func TestE2ELoggingStopped(t *testing.T) {
	w := newWorld(t, worldOpts{})
	a := w.org.Account("work-a")
	name, arn, _ := seedForwardingTrail(t, w, a)
	if _, err := cloudtrail.NewFromConfig(w.acctCfg(a.ID, stackRegion)).StopLogging(w.ctx, &cloudtrail.StopLoggingInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if w.trailLogging(a.ID, stackRegion, name) {
		t.Fatal("StopLogging did not stop the trail")
	}
	w.put(localworld.TrailCall(a.ID, stackRegion, "StopLogging", arn))
	w.drain()
	if !w.trailLogging(a.ID, stackRegion, name) {
		t.Errorf("the forwarding trail does not log after its StopLogging event")
	}
	starts := w.h.Recorder.Calls(localworld.InService("cloudtrail"), localworld.InAccount(a.ID), localworld.WithAction("StartLogging"),
		func(c localworld.Call) bool { return c.Region == stackRegion })
	if len(starts) == 0 { // the seed talks to moto directly: only the product's calls are recorded
		t.Errorf("no StartLogging by the product in %s/%s", a.ID, stackRegion)
	}
}

// TestE2EStackDeleted: scenario 5.
func TestE2EStackDeleted(t *testing.T) {
	w := newWorld(t, worldOpts{})
	a := w.org.Account("work-a")
	w.onboard(a)
	checkOnboarded(t, w, a, "True", "")
	if _, err := cloudformation.NewFromConfig(w.acctCfg(a.ID, stackRegion)).DeleteStack(w.ctx, &cloudformation.DeleteStackInput{StackName: aws.String(stackName)}); err != nil {
		t.Fatal(err)
	}
	if w.stack(a.ID, stackRegion, stackName) != nil {
		t.Fatal("DeleteStack did not delete the stack")
	}
	w.put(localworld.StackCall(a.ID, stackRegion, "DeleteStack", stackName))
	w.drain()
	if w.stack(a.ID, stackRegion, stackName) == nil {
		t.Fatal("the stack was not redeployed after its DeleteStack event")
	}
	checkOnboarded(t, w, a, "True", "")
}

// TestE2ENewAccountOrganizationsEvent: scenario 1 with the Control Tower home region in
// us-east-1, where the Organizations CreateAccountResult rule exists too.
func TestE2ENewAccountOrganizationsEvent(t *testing.T) {
	w := newWorld(t, worldOpts{region: "us-east-1"})
	ruled := false
	for _, r := range w.env.Rules {
		if r.Name == "OrganizationsCreateAccountRule" {
			ruled = true
		}
	}
	if !ruled {
		t.Fatal("the Organizations rule is missing in us-east-1")
	}
	a := w.org.Account("sandbox-a")
	w.put(localworld.OrganizationsCreateAccountResult(a, "SUCCEEDED"))
	st := w.drain()
	if st.Invocations["accountvending"] != 1 {
		t.Errorf("accountvending invocations %d, want 1", st.Invocations["accountvending"])
	}
	checkOnboarded(t, w, a, "True", "")
	// A failed creation changes nothing.
	mark := w.h.Recorder.Mark()
	w.put(localworld.OrganizationsCreateAccountResult(w.org.Account("sandbox-b"), "FAILED"),
		localworld.ControlTowerAccount("CreateManagedAccount", w.org.Account("work-a"), "FAILED", w.env.Region))
	w.drain()
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("failed account creations caused writes: %s", describeCalls(ws))
	}
}
