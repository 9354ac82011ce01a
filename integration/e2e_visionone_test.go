//go:build integration

package integration

// The Vision One target end to end (issue 21, "Done when"): the real Lambdas with
// ONBOARDER_TARGET=visionone, configured as deploy/template.yaml configures them for
// Target=visionone, against moto behind the IAM gate (the member roles of deploy/member.yaml for
// that target) and the CloudFormation layer, with the lane's Vision One stand-in
// (integration/localworld/trend/visionone.go) as Vision One's Cloud Accounts API: it generates
// the templates (kept in moto's S3), hears of every stack the layer completes, as Trend's
// template registers the account from within the stack, and can be told to fail an account.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/trend"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
)

const (
	v1Stack    = localworld.VisionOneStackName
	trailStack = localworld.TrailStackName
	// ownTrail is the trail the trail stack makes (deploy/visionone-trail.yaml's TrailName).
	ownTrail = "cloudone-onboarder-visionone"
)

// newV1World is newWorld for the Vision One target.
func newV1World(t *testing.T, o worldOpts) *world {
	t.Helper()
	o.visionOne = true
	return newWorld(t, o)
}

// stackWrites are the product's CreateStack and UpdateStack calls of a stack in an account since
// mark, with their form (the query protocol's body).
func (w *world) stackWrites(mark int, account, name string) []url.Values {
	w.t.Helper()
	var out []url.Values
	for _, c := range w.h.Recorder.Since(mark, localworld.InService("cloudformation"), localworld.InAccount(account), localworld.WithAction("CreateStack", "UpdateStack")) {
		form, err := url.ParseQuery(string(c.Body))
		if err != nil {
			w.t.Fatalf("%s body: %v", c.Action, err)
		}
		if form.Get("StackName") == name {
			form.Set("Action", c.Action)
			out = append(out, form)
		}
	}
	return out
}

// generation is the stand-in's template of that URL, if it generated one.
func (w *world) generation(u string) (trend.Generation, bool) {
	for _, g := range w.h.VisionOne.Generations() {
		if g.URL == u {
			return g, true
		}
	}
	return trend.Generation{}, false
}

// checkConnected asserts a connected account: the Vision One stack in the stack region and
// nowhere else, complete, written from a template the stand-in generated with the CloudTrail
// feature for that region, with the account's name, the trail and the topic, the managed tag
// and the capabilities; Vision One says managed; the ledger records the trail and Vision One's
// view.
func checkConnected(t *testing.T, w *world, a localworld.Account, trailARN, topicARN string) {
	t.Helper()
	if got := w.stacksEverywhere(a.ID, v1Stack); !slices.Equal(got, []string{stackRegion}) {
		t.Fatalf("%s: stack %s in regions %v, want only [%s]", a.Name, v1Stack, got, stackRegion)
	}
	s := w.stack(a.ID, stackRegion, v1Stack)
	if !strings.HasSuffix(string(s.StackStatus), "_COMPLETE") || strings.Contains(string(s.StackStatus), "ROLLBACK") {
		t.Errorf("%s: status %s (%s)", a.Name, s.StackStatus, aws.ToString(s.StackStatusReason))
	}
	p := localworld.StackParams(s)
	for k, v := range map[string]string{"CloudAuditLogMonitoringCloudTrailArn": trailARN, "CloudAuditLogMonitoringCloudTrailSNSTopicArn": topicARN, "CloudAccountName": a.Name} {
		if p[k] != v {
			t.Errorf("%s: parameter %s = %q, want %q", a.Name, k, p[k], v)
		}
	}
	if tg := localworld.StackTags(s); tg["cloudone-onboarder:managed"] != "true" || tg["cloudone-onboarder:fingerprint"] == "" {
		t.Errorf("%s: tags %v", a.Name, tg)
	}
	writes := w.stackWrites(0, a.ID, v1Stack)
	if len(writes) == 0 {
		t.Fatalf("%s: no write of %s recorded", a.Name, v1Stack)
	}
	last := writes[len(writes)-1]
	g, ok := w.generation(last.Get("TemplateURL"))
	if !ok || !g.CloudTrail || g.AWSRegion != stackRegion {
		t.Errorf("%s: %s from %s: not a template the stand-in generated with the CloudTrail feature for %s (%+v)", a.Name, last.Get("Action"), last.Get("TemplateURL"), stackRegion, g)
	}
	for _, c := range []string{"CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"} {
		if !capability([]byte(last.Encode()), c) {
			t.Errorf("%s: %s did not ask for %s", a.Name, last.Get("Action"), c)
		}
	}
	if acct, ok := w.h.VisionOne.Account(a.ID); !ok || acct.State != "managed" {
		t.Errorf("%s: Vision One knows the account: %v, state %q", a.Name, ok, acct.State)
	}
	e := w.ledgerEntry(a.ID)
	if e.StackName != v1Stack || e.Region != stackRegion || !e.Managed || e.Class != "none" || e.TrailARN != trailARN ||
		e.VendorState != "managed" || e.VendorTemplateVersion == "" {
		t.Errorf("%s: ledger entry %+v", a.Name, e)
	}
}

// adminCfg is an administrator of a member account (AWSControlTowerExecution, a session of a
// person), through the fault proxy: a stack the person deletes is deleted by the CloudFormation
// layer, trails included, as CloudFormation deletes a stack's resources (moto, called directly,
// would leave the trail the layer made).
func (w *world) adminCfg(account, region string) aws.Config {
	w.t.Helper()
	base := w.h.Moto.Config(w.ctx, region)
	base.BaseEndpoint, base.ConfigSources = aws.String(w.h.Faults.URL), nil
	out, err := sts.NewFromConfig(base).AssumeRole(w.ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + account + ":role/" + localworld.ExecutionRole), RoleSessionName: aws.String("alice")})
	if err != nil {
		w.t.Fatal(err)
	}
	cfg, c := base.Copy(), out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return cfg
}

// trailOf reads a trail of the account in the stack region: its ARN and its topic's.
func (w *world) trailOf(account, name string) (arn, topic string, ok bool) {
	w.t.Helper()
	out, err := cloudtrail.NewFromConfig(w.acctCfg(account, stackRegion)).DescribeTrails(w.ctx, &cloudtrail.DescribeTrailsInput{TrailNameList: []string{name}})
	if err != nil {
		w.t.Fatalf("describe trail %s in %s: %v", name, account, err)
	}
	for _, tr := range out.TrailList {
		if aws.ToString(tr.Name) == name {
			return aws.ToString(tr.TrailARN), aws.ToString(tr.SnsTopicARN), true
		}
	}
	return "", "", false
}

// seedV1Trail gives the account a trail Vision One can use, as its administrator would make
// one: in the stack region, logging, with log file validation, notifying a topic of the
// account there. It returns the trail's name, ARN and topic ARN.
func seedV1Trail(t *testing.T, w *world, a localworld.Account) (name, arn, topic string) {
	t.Helper()
	name, bucket := "audit", "audit-logs-"+a.ID
	if err := w.h.Moto.Bucket(w.ctx, a.ID, stackRegion, bucket); err != nil {
		t.Fatal(err)
	}
	cfg := w.acctCfg(a.ID, stackRegion)
	to, err := sns.NewFromConfig(cfg).CreateTopic(w.ctx, &sns.CreateTopicInput{Name: aws.String("audit-deliveries")})
	if err != nil {
		t.Fatal(err)
	}
	ct := cloudtrail.NewFromConfig(cfg)
	// CloudTrail takes the topic's name or ARN (CreateTrail, SnsTopicName); moto 5.2.1 builds
	// the ARN from whatever it is given (moto/cloudtrail/models.py, Trail.topic_arn), so the
	// name it is.
	out, err := ct.CreateTrail(w.ctx, &cloudtrail.CreateTrailInput{Name: aws.String(name), S3BucketName: aws.String(bucket),
		SnsTopicName: aws.String("audit-deliveries"), EnableLogFileValidation: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ct.StartLogging(w.ctx, &cloudtrail.StartLoggingInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	return name, aws.ToString(out.TrailARN), aws.ToString(to.TopicArn)
}

// TestVisionOneNewAccountTrailStack: a vended account without a trail Vision One can use gets
// the onboarder's trail stack first, then the Vision One stack from a generated template, with
// the trail stack's trail and topic; Vision One says managed, and the ledger records it.
func TestVisionOneNewAccountTrailStack(t *testing.T) {
	w := newV1World(t, worldOpts{})
	a := w.org.Account("work-a")
	st := w.onboard(a)
	if len(st.FunctionErrors) > 0 {
		t.Errorf("function errors: %v", st.FunctionErrors)
	}
	ts := w.stack(a.ID, stackRegion, trailStack)
	if ts == nil || !strings.HasSuffix(string(ts.StackStatus), "_COMPLETE") {
		t.Fatalf("trail stack %+v", ts)
	}
	if tw := w.stackWrites(0, a.ID, trailStack); len(tw) != 1 || tw[0].Get("TemplateURL") != w.env.TrailTemplateURL {
		t.Errorf("trail stack writes %v, want one create from %s", tw, w.env.TrailTemplateURL)
	}
	arn, topic, ok := w.trailOf(a.ID, ownTrail)
	if !ok || topic == "" || !w.trailLogging(a.ID, stackRegion, ownTrail) {
		t.Fatalf("the trail stack's trail: %q %q %v", arn, topic, ok)
	}
	checkConnected(t, w, a, arn, topic)
	if e := w.ledgerEntry(a.ID); !e.CreateNewTrail {
		t.Errorf("ledger: createNewTrail false for the trail stack's trail: %+v", e)
	}
	for _, other := range w.org.Accounts {
		if other.ID != a.ID {
			if got := w.stacksEverywhere(other.ID, v1Stack); len(got) > 0 {
				t.Errorf("%s got a stack in %v from an event about %s", other.Name, got, a.Name)
			}
		}
	}
	if d := w.dlqDepth(); d != "0" {
		t.Errorf("DLQ has %s messages", d)
	}
}

// TestVisionOneNewAccountExistingTrail: a vended account whose administrator made a trail Vision
// One can use is connected with that trail and its topic, and gets no trail stack. Its repairs:
// the trail stopped is started again (no stack write); the trail's topic removed by UpdateTrail
// makes it unusable, so the trail stack provides one and the Vision One stack is pointed at it,
// the administrator's trail left as it is; the trail stack's own trail deleted is made again.
func TestVisionOneNewAccountExistingTrail(t *testing.T) {
	w := newV1World(t, worldOpts{})
	a := w.org.Account("work-b")
	name, arn, topic := seedV1Trail(t, w, a)
	w.onboard(a)
	checkConnected(t, w, a, arn, topic)
	if s := w.stack(a.ID, stackRegion, trailStack); s != nil {
		t.Errorf("a trail stack (%s) beside a trail Vision One can use", s.StackStatus)
	}
	if e := w.ledgerEntry(a.ID); e.CreateNewTrail || e.TrailName != name {
		t.Errorf("ledger %+v, want the existing trail %s", e, name)
	}

	// Stopped: started again, the stacks untouched.
	ct := cloudtrail.NewFromConfig(w.acctCfg(a.ID, stackRegion))
	if _, err := ct.StopLogging(w.ctx, &cloudtrail.StopLoggingInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	mark := w.h.Recorder.Mark()
	w.put(localworld.TrailCall(a.ID, stackRegion, "StopLogging", arn))
	w.drain()
	if !w.trailLogging(a.ID, stackRegion, name) {
		t.Error("the trail does not log after its StopLogging event")
	}
	var ws []string
	for _, c := range w.memberWrites(mark) {
		ws = append(ws, c.Action)
	}
	if !slices.Equal(ws, []string{"StartLogging"}) {
		t.Errorf("writes after StopLogging %v, want [StartLogging]", ws)
	}

	// Its topic removed. The CloudTrail console's "SNS notification delivery" turned off updates
	// the trail without its topic (CloudTrail User Guide, "Configuring Amazon SNS notifications
	// for CloudTrail"); the API takes an empty SnsTopicName for it (moto 5.2.1 so,
	// moto/cloudtrail/models.py Trail.update; the API reference does not say).
	if _, err := ct.UpdateTrail(w.ctx, &cloudtrail.UpdateTrailInput{Name: aws.String(name), SnsTopicName: aws.String("")}); err != nil {
		t.Fatal(err)
	}
	if _, tp, _ := w.trailOf(a.ID, name); tp != "" {
		t.Fatalf("UpdateTrail left the topic %s", tp)
	}
	mark = w.h.Recorder.Mark()
	w.put(localworld.TrailCall(a.ID, stackRegion, "UpdateTrail", arn))
	w.drain()
	ownARN, ownTopic, ok := w.trailOf(a.ID, ownTrail)
	if !ok || ownTopic == "" {
		t.Fatalf("no trail stack trail after the topic was removed: %q %q", ownARN, ownTopic)
	}
	checkConnected(t, w, a, ownARN, ownTopic)
	for _, c := range w.memberWrites(mark) {
		if c.Service == "cloudtrail" {
			t.Errorf("the onboarder changed a trail: %s %s", c.Action, c.Body)
		}
	}
	if _, tp, _ := w.trailOf(a.ID, name); tp != "" {
		t.Errorf("the administrator's trail got a topic again: %s", tp)
	}

	// The trail stack's trail deleted: made again.
	if _, err := ct.DeleteTrail(w.ctx, &cloudtrail.DeleteTrailInput{Name: aws.String(ownTrail)}); err != nil {
		t.Fatal(err)
	}
	w.put(localworld.TrailCall(a.ID, stackRegion, "DeleteTrail", ownARN))
	w.drain()
	again, againTopic, ok := w.trailOf(a.ID, ownTrail)
	if !ok || !w.trailLogging(a.ID, stackRegion, ownTrail) {
		t.Fatalf("the trail stack's trail was not made again")
	}
	checkConnected(t, w, a, again, againTopic)
	if d := w.dlqDepth(); d != "0" {
		t.Errorf("DLQ has %s messages", d)
	}
}

// TestVisionOneTrailDeleted: the existing trail the Vision One stack reads deleted: the trail
// stack provides one and the Vision One stack is updated with it.
func TestVisionOneTrailDeleted(t *testing.T) {
	w := newV1World(t, worldOpts{})
	a := w.org.Account("work-c")
	name, arn, topic := seedV1Trail(t, w, a)
	w.onboard(a)
	checkConnected(t, w, a, arn, topic)
	if _, err := cloudtrail.NewFromConfig(w.acctCfg(a.ID, stackRegion)).DeleteTrail(w.ctx, &cloudtrail.DeleteTrailInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	mark := w.h.Recorder.Mark()
	w.put(localworld.TrailCall(a.ID, stackRegion, "DeleteTrail", arn))
	w.drain()
	ownARN, ownTopic, ok := w.trailOf(a.ID, ownTrail)
	if !ok {
		t.Fatal("no trail stack trail after the trail was deleted")
	}
	checkConnected(t, w, a, ownARN, ownTopic)
	var ws []string
	for _, c := range w.memberWrites(mark) {
		if c.Service == "cloudformation" {
			ws = append(ws, c.Action)
		}
	}
	if !slices.Equal(ws, []string{"CreateStack", "UpdateStack"}) {
		t.Errorf("stack writes %v, want [CreateStack UpdateStack] (the trail stack, then the Vision One stack)", ws)
	}
}

// TestVisionOneStackDeleted: the Vision One stack deleted is made again, from the template kept
// (no new one is generated for it); the trail stack deleted is made again too, and the Vision
// One stack follows its new topic.
func TestVisionOneStackDeleted(t *testing.T) {
	w := newV1World(t, worldOpts{})
	a := w.org.Account("sandbox-a")
	w.onboard(a)
	arn, topic, _ := w.trailOf(a.ID, ownTrail)
	checkConnected(t, w, a, arn, topic)
	generated := len(w.h.VisionOne.Generations())

	cfn := cloudformation.NewFromConfig(w.adminCfg(a.ID, stackRegion))
	if _, err := cfn.DeleteStack(w.ctx, &cloudformation.DeleteStackInput{StackName: aws.String(v1Stack)}); err != nil {
		t.Fatal(err)
	}
	w.put(localworld.StackCall(a.ID, stackRegion, "DeleteStack", v1Stack))
	w.drain()
	checkConnected(t, w, a, arn, topic)
	if n := len(w.h.VisionOne.Generations()); n != generated {
		t.Errorf("%d templates generated, want %d: the kept one serves the repair", n, generated)
	}

	// The trail stack deleted, its trail and topic with it (the bucket stays: Retain).
	if _, err := cfn.DeleteStack(w.ctx, &cloudformation.DeleteStackInput{StackName: aws.String(trailStack)}); err != nil {
		t.Fatal(err)
	}
	w.put(localworld.StackCall(a.ID, stackRegion, "DeleteStack", trailStack))
	w.drain()
	again, againTopic, ok := w.trailOf(a.ID, ownTrail)
	if !ok || w.stack(a.ID, stackRegion, trailStack) == nil {
		t.Fatal("the trail stack was not made again")
	}
	checkConnected(t, w, a, again, againTopic)
}

// backdateTemplates makes the generated templates the ledger keeps look generated at t (the
// onboarder's record of when it generated them: the product reads its own clock against it).
func (w *world) backdateTemplates(at time.Time) int {
	w.t.Helper()
	db := dynamodb.NewFromConfig(w.env.Central())
	out, err := db.Scan(w.ctx, &dynamodb.ScanInput{TableName: aws.String(localworld.LedgerTable)})
	if err != nil {
		w.t.Fatal(err)
	}
	n := 0
	for _, it := range out.Items {
		k, _ := it["account"].(*ddbtypes.AttributeValueMemberS)
		if k == nil || !strings.HasPrefix(k.Value, ledger.TemplateKeyPrefix) {
			continue
		}
		it["generated"] = &ddbtypes.AttributeValueMemberS{Value: at.UTC().Truncate(time.Second).Format(time.RFC3339)}
		if _, err := db.PutItem(w.ctx, &dynamodb.PutItemInput{TableName: aws.String(localworld.LedgerTable), Item: it}); err != nil {
			w.t.Fatal(err)
		}
		n++
	}
	return n
}

// TestVisionOneTemplateRenewed: 89 days after a template was generated (its key lasts 90), the
// next write uses a template generated again first, never the old one; an account in sync from
// the old template is not rewritten for that alone.
func TestVisionOneTemplateRenewed(t *testing.T) {
	w := newV1World(t, worldOpts{})
	a, b := w.org.Account("work-a"), w.org.Account("work-b")
	w.onboard(a)
	arn, topic, _ := w.trailOf(a.ID, ownTrail)
	checkConnected(t, w, a, arn, topic)
	gens := w.h.VisionOne.Generations()
	if len(gens) != 1 {
		t.Fatalf("%d templates generated for one account, want 1", len(gens))
	}
	old := gens[0]

	// 89 days later, on both sides: Vision One's clock, and the onboarder's record of when it
	// generated the template (ONBOARDER_VISIONONE_TEMPLATE_MAX_AGE is 1440h, the central stack's
	// default).
	later := time.Now().Add(89 * 24 * time.Hour)
	w.h.VisionOne.SetClock(func() time.Time { return time.Now().Add(89 * 24 * time.Hour) })
	if n := w.backdateTemplates(time.Now().Add(-89 * 24 * time.Hour)); n != 1 {
		t.Fatalf("%d generated templates kept in the ledger, want 1", n)
	}
	if !later.Before(old.Expires) {
		t.Fatalf("the old template expires %s, before the test's 89 days", old.Expires)
	}
	mark := w.h.Recorder.Mark()
	w.onboard(b)
	gens = w.h.VisionOne.Generations()
	if len(gens) != 2 {
		t.Fatalf("%d templates generated, want 2 (the old one, and one made before the write)", len(gens))
	}
	writes := w.stackWrites(mark, b.ID, v1Stack)
	if len(writes) != 1 || writes[0].Get("TemplateURL") != gens[1].URL {
		t.Errorf("%s's writes %v, want one from the new template %s", b.Name, writes, gens[1].URL)
	}
	barn, btopic, _ := w.trailOf(b.ID, ownTrail)
	checkConnected(t, w, b, barn, btopic)
	if ws := w.h.Recorder.Since(mark, localworld.Writes, localworld.InAccount(a.ID)); len(ws) > 0 {
		t.Errorf("%s, in sync, was rewritten: %s", a.Name, describeCalls(ws))
	}
	// The sweep leaves the in-sync accounts on their templates, and connects the accounts it
	// finds from the template kept: no third generation.
	mark = w.h.Recorder.Mark()
	w.sweep()
	for _, x := range []localworld.Account{a, b} {
		if ws := w.h.Recorder.Since(mark, localworld.Writes, localworld.InAccount(x.ID)); len(ws) > 0 {
			t.Errorf("the sweep rewrote %s: %s", x.Name, describeCalls(ws))
		}
	}
	if n := len(w.h.VisionOne.Generations()); n != 2 {
		t.Errorf("%d templates generated after the sweep, want still 2", n)
	}
	c := w.org.Account("work-c")
	if ws := w.stackWrites(mark, c.ID, v1Stack); len(ws) != 1 || ws[0].Get("TemplateURL") != gens[1].URL {
		t.Errorf("%s connected by the sweep from %v, want the kept template %s", c.Name, ws, gens[1].URL)
	}
}

// TestVisionOneAccountFailed: an account Vision One reports failed, with the AWS permissions its
// features miss, reaches a person with Vision One's words: the DLQ, and a needs-a-person ledger
// entry with Vision One's view; reported once.
func TestVisionOneAccountFailed(t *testing.T) {
	w := newV1World(t, worldOpts{})
	a := w.org.Account("work-a")
	w.onboard(a)
	arn, topic, _ := w.trailOf(a.ID, ownTrail)
	checkConnected(t, w, a, arn, topic)
	if err := w.h.VisionOne.FailAccount(a.ID, "cloudtrail:GetTrailStatus", "sqs:ReceiveMessage"); err != nil {
		t.Fatal(err)
	}
	mark := w.h.Recorder.Mark()
	w.put(localworld.Manual(a.ID))
	w.drain()
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("a failed account got writes: %s", describeCalls(ws))
	}
	e := w.ledgerEntry(a.ID)
	if e.Class != "needs-person" || e.VendorState != "failed" || !strings.Contains(e.Reason, "cloudtrail:GetTrailStatus") ||
		!strings.Contains(e.Reason, "sqs:ReceiveMessage") || len(e.VendorProblems) != 2 {
		t.Errorf("ledger %+v, want needs-person with Vision One's state and missing permissions", e)
	}
	if d := w.dlqDepth(); d != "1" {
		t.Fatalf("DLQ depth %s, want 1", d)
	}
	if r := w.dlqReason(a.ID); !strings.Contains(r, "Vision One reports account "+a.ID+" failed") || !strings.Contains(r, "sqs:ReceiveMessage") {
		t.Errorf("DLQ reason %q, want Vision One's words", r)
	}
	// Reported once: the sweep finds the same state and does not dead-letter it again.
	w.sweep()
	if d := w.dlqDepth(); d != "1" {
		t.Errorf("DLQ depth %s after a sweep, want still 1", d)
	}
}

// TestVisionOneOffboarding: under ONBOARDER_OFFBOARD=delete an account removed from the
// Organization has its Vision One stack deleted, then the trail stack, then is removed from
// Vision One (DELETE /v3.0/cam/awsAccounts/{id}); an account that stays is untouched.
func TestVisionOneOffboarding(t *testing.T) {
	w := newV1World(t, worldOpts{region: "us-east-1", env: map[string]string{"ONBOARDER_OFFBOARD": "delete"}})
	gone, stays := w.org.Account("work-a"), w.org.Account("work-b")
	w.put(localworld.Manual(gone.ID, stays.ID))
	w.drain()
	for _, a := range []localworld.Account{gone, stays} {
		arn, topic, _ := w.trailOf(a.ID, ownTrail)
		checkConnected(t, w, a, arn, topic)
	}
	orgs := organizations.NewFromConfig(w.h.Moto.Config(w.ctx, "us-east-1"))
	w.removeAccount(orgs, gone)
	mark := w.h.Recorder.Mark()
	w.put(localworld.OrganizationsAccountCall("RemoveAccountFromOrganization", gone.ID))
	w.drain()
	var ws []string
	for _, c := range w.h.Recorder.Since(mark, localworld.Writes, localworld.InAccount(gone.ID)) {
		if c.Service == "cloudformation" {
			f, _ := url.ParseQuery(string(c.Body))
			n := f.Get("StackName")
			if strings.Contains(n, ":stack/") {
				n = strings.Split(n, "/")[1]
			}
			ws = append(ws, c.Action+" "+n)
		}
	}
	if !slices.Equal(ws, []string{"DeleteStack " + v1Stack, "DeleteStack " + trailStack}) {
		t.Errorf("offboarding writes %v, want the Vision One stack deleted, then the trail stack", ws)
	}
	for _, n := range []string{v1Stack, trailStack} {
		if got := w.stacksEverywhere(gone.ID, n); len(got) > 0 {
			t.Errorf("%s still in %v", n, got)
		}
	}
	if _, known := w.h.VisionOne.Account(gone.ID); known {
		t.Error("Vision One still knows the offboarded account")
	}
	if e := w.ledgerEntry(gone.ID); e.Offboard != "account-removed" || e.StackStatus != "ABSENT" || e.Class != "none" {
		t.Errorf("ledger %+v, want offboarded (account-removed), ABSENT", e)
	}
	if ws := w.h.Recorder.Since(mark, localworld.Writes, localworld.InAccount(stays.ID)); len(ws) > 0 {
		t.Errorf("%s, in scope, got writes: %s", stays.Name, describeCalls(ws))
	}
	if _, known := w.h.VisionOne.Account(stays.ID); !known {
		t.Errorf("Vision One forgot %s, which stays", stays.Name)
	}
	// Done once: a sweep offboards nothing again, and leaves the account that stays as it is
	// (it connects the accounts of the Organization it had not heard of).
	mark = w.h.Recorder.Mark()
	w.sweep()
	for _, a := range []localworld.Account{gone, stays} {
		if ws := w.h.Recorder.Since(mark, localworld.Writes, localworld.InAccount(a.ID)); len(ws) > 0 {
			t.Errorf("the sweep after the offboarding wrote in %s: %s", a.Name, describeCalls(ws))
		}
	}
	if _, known := w.h.VisionOne.Account(gone.ID); known {
		t.Error("the sweep connected the offboarded account again")
	}
}

// TestVisionOneSweepAndReplay: the sweep connects every account in scope (one template generated
// for all: one region, one feature set), a second sweep writes nothing, and a replayed vending
// event reconciles again without a write.
func TestVisionOneSweepAndReplay(t *testing.T) {
	w0 := seedWorld(t, "")
	wk := w0.org.OUs["Workloads"]
	w := w0.start(worldOpts{visionOne: true, env: map[string]string{"ONBOARDER_INCLUDE_OUS": wk}})
	eb := eventbridge.NewFromConfig(w.env.Central())
	defaultBus := "arn:aws:events:" + w.env.Region + ":" + localworld.ManagementAccount + ":event-bus/default"
	arch, err := eb.CreateArchive(w.ctx, &eventbridge.CreateArchiveInput{
		ArchiveName: aws.String(localworld.BusName + "-default"), EventSourceArn: aws.String(defaultBus),
		EventPattern: aws.String(`{"source":["aws.controltower","aws.organizations","onboarder.manual"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Minute)
	w.sweep()
	for _, n := range []string{"work-a", "work-b", "work-c"} {
		a := w.org.Account(n)
		arn, topic, _ := w.trailOf(a.ID, ownTrail)
		checkConnected(t, w, a, arn, topic)
	}
	for _, n := range []string{"sandbox-a", "sandbox-b"} {
		if got := w.stacksEverywhere(w.org.Account(n).ID, v1Stack); len(got) > 0 {
			t.Errorf("%s is out of scope but has a stack in %v", n, got)
		}
	}
	if n := len(w.h.VisionOne.Generations()); n != 1 {
		t.Errorf("%d templates generated, want 1 for every account of one region", n)
	}
	marks, mark := w.marks(), w.h.Recorder.Mark()
	w.sweep()
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("the second sweep wrote: %s", describeCalls(ws))
	}
	seen := reconcileLogs(w.logsSince(marks, "reconcile"), "")
	if len(seen) == 0 {
		t.Error("second sweep: no reconcile logged: the check below would prove nothing")
	}
	for _, e := range seen {
		if e["action"] != "none" {
			t.Errorf("second sweep: %v action %v (%v)", e["account"], e["action"], e["reason"])
		}
	}

	// A vending event, archived, replayed.
	a := w.org.Account("work-a")
	w.put(localworld.ControlTowerAccount("CreateManagedAccount", a, "SUCCEEDED", w.env.Region))
	w.drain()
	mark, marks = w.h.Recorder.Mark(), w.marks()
	name := "v1-replay-1"
	w.awsCLI("events", "start-replay", "--replay-name", name, "--event-source-arn", aws.ToString(arch.ArchiveArn),
		"--event-start-time", start.UTC().Format(time.RFC3339), "--event-end-time", time.Now().Add(time.Minute).UTC().Format(time.RFC3339),
		"--destination", `{"Arn":"`+defaultBus+`"}`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var d struct{ State string }
		_ = json.Unmarshal([]byte(w.awsCLI("events", "describe-replay", "--replay-name", name)), &d)
		if d.State == "COMPLETED" {
			break
		}
		if time.Now().After(deadline) || d.State == "FAILED" {
			t.Fatalf("replay state %q", d.State)
		}
		time.Sleep(200 * time.Millisecond) // polling moto's replay state, not synchronizing with it
	}
	w.drain()
	replayed := false
	for _, e := range reconcileLogs(w.logsSince(marks, "reconcile"), a.ID) {
		if e["replay"] == name {
			replayed = true
			if e["action"] != "none" {
				t.Errorf("the replay: action %v (%v), want none", e["action"], e["reason"])
			}
		}
	}
	if !replayed {
		t.Error("the worker logged no decision of the replay")
	}
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("the replay wrote: %s", describeCalls(ws))
	}
}

// TestVisionOneDryRun: a dry run reports what it would do for every account and writes nothing:
// not in the member accounts, not in Vision One (no template generated, no account removed).
func TestVisionOneDryRun(t *testing.T) {
	w := newV1World(t, worldOpts{env: map[string]string{"ONBOARDER_DRY_RUN": "true"}})
	// work-b has a trail Vision One could use, stopped; work-c one that logs (its plan needs
	// Vision One's template); the others none (their plan is the trail stack first).
	withTrail := w.org.Account("work-b")
	name, arn, _ := seedV1Trail(t, w, withTrail)
	if _, err := cloudtrail.NewFromConfig(w.acctCfg(withTrail.ID, stackRegion)).StopLogging(w.ctx, &cloudtrail.StopLoggingInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	seedV1Trail(t, w, w.org.Account("work-c"))
	before := w.snapshot()
	mark, marks := w.h.Recorder.Mark(), w.marks()
	w.sweep()
	w.put(localworld.ControlTowerAccount("CreateManagedAccount", w.org.Account("work-a"), "SUCCEEDED", w.env.Region),
		localworld.TrailCall(withTrail.ID, stackRegion, "StopLogging", arn))
	w.drain()
	if after := w.snapshot(); after != before {
		t.Errorf("the dry run changed the member accounts (snapshot of %d bytes differs)", len(before))
	}
	if ws := w.memberWrites(mark); len(ws) > 0 {
		t.Errorf("the dry run made write calls: %s", describeCalls(ws))
	}
	if n := len(w.h.VisionOne.Generations()); n != 0 {
		t.Errorf("the dry run generated %d templates in Vision One", n)
	}
	planned := map[string]bool{}
	for _, e := range reconcileLogs(w.logsSince(marks, "reconcile"), "") {
		if e["dry_run"] != true {
			t.Errorf("a reconcile line without dry_run=true: account %v action %v", e["account"], e["action"])
		}
		if e["action"] == "create" {
			planned[fmt.Sprint(e["account"])] = true
		}
	}
	for _, a := range w.org.Accounts {
		if !planned[a.ID] {
			t.Errorf("no planned create reported for %s", a.Name)
		}
	}
}
