//go:build integration

package proxy_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
)

// trailWorld is a proxy with the CloudFormation layer on, and SDK configurations through it
// in a member account (assumed through the proxy, as the reconcile does) and in moto's
// default account.
type trailWorld struct {
	p              *proxy.Proxy
	member         string
	memberCfg, mgm aws.Config
	cfn            *cloudformation.Client // member account
}

const trailRegion = "eu-west-3"

func newTrailWorld(t *testing.T, member string, timing proxy.StackTiming) *trailWorld {
	t.Helper()
	p := start(t)
	p.EnableStacks(timing)
	out, err := sts.NewFromConfig(cfg(p.URL, 1, nil)).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + member + ":role/Exec"), RoleSessionName: aws.String("trails")})
	if err != nil {
		t.Fatal(err)
	}
	cr := out.Credentials
	w := &trailWorld{p: p, member: member,
		memberCfg: cfg(p.URL, 1, credentials.NewStaticCredentialsProvider(*cr.AccessKeyId, *cr.SecretAccessKey, *cr.SessionToken)),
		mgm:       cfg(p.URL, 1, nil)}
	w.memberCfg.Region, w.mgm.Region = trailRegion, trailRegion
	w.cfn = cloudformation.NewFromConfig(w.memberCfg)
	return w
}

// upload puts a template in moto's S3 (default account) and returns a URL moto can read.
func upload(t *testing.T, body []byte) string {
	t.Helper()
	s3c := s3.NewFromConfig(cfg(motoURL, 1, nil), func(o *s3.Options) { o.UsePathStyle = true })
	bucket := "tpl-" + strings.ToLower(strings.NewReplacer("_", "-", "/", "-").Replace(t.Name()))
	ctx := context.Background()
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil && !strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") {
		t.Fatal(err)
	}
	key := "t-" + time.Now().Format("150405.000000000") + ".yaml"
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	return strings.Replace(motoURL, "127.0.0.1", "localhost", 1) + "/" + bucket + "/" + key
}

func outputs(s *cfntypes.Stack) map[string]string {
	m := map[string]string{}
	for _, o := range s.Outputs {
		m[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return m
}

func trails(t *testing.T, c aws.Config, region string) []cttypes.Trail {
	t.Helper()
	c.Region = region
	out, err := cloudtrail.NewFromConfig(c).DescribeTrails(context.Background(), &cloudtrail.DescribeTrailsInput{})
	if err != nil {
		t.Fatal(err)
	}
	return out.TrailList
}

func trailTags(t *testing.T, c aws.Config, arn string) map[string]string {
	t.Helper()
	out, err := cloudtrail.NewFromConfig(c).ListTags(context.Background(), &cloudtrail.ListTagsInput{ResourceIdList: []string{arn}})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range out.ResourceTagList {
		for _, tg := range r.TagsList {
			m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
	}
	return m
}

func isLogging(t *testing.T, c aws.Config, name string) bool {
	t.Helper()
	out, err := cloudtrail.NewFromConfig(c).GetTrailStatus(context.Background(), &cloudtrail.GetTrailStatusInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToBool(out.IsLogging)
}

func cfnParams(kv ...string) []cfntypes.Parameter {
	var out []cfntypes.Parameter
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, cfntypes.Parameter{ParameterKey: aws.String(kv[i]), ParameterValue: aws.String(kv[i+1])})
	}
	return out
}

func cfnTags(kv ...string) []cfntypes.Tag {
	var out []cfntypes.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, cfntypes.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

// TestOnboardersTrailStackThroughTheLayer creates deploy/visionone-trail.yaml in a member
// account: the trail is made in that account and region, as the template says, and the stack's
// outputs name it; the delete takes it away.
func TestOnboardersTrailStackThroughTheLayer(t *testing.T) {
	ctx := context.Background()
	w := newTrailWorld(t, "222233334444", proxy.Uniform(300*time.Millisecond))
	body, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "visionone-trail.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	url := upload(t, body)
	if _, err := w.cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("VisionOneTrail"), TemplateURL: aws.String(url),
		Parameters: cfnParams("TrailName", "vo-trail"), Tags: cfnTags("cloudone-onboarder:managed", "true", "team", "security")}); err != nil {
		t.Fatal(err)
	}
	s := waitStatus(t, w.cfn, "VisionOneTrail", "CREATE_COMPLETE")
	out := outputs(s)
	wantARN := "arn:aws:cloudtrail:" + trailRegion + ":" + w.member + ":trail/vo-trail"
	if out["TrailArn"] != wantARN || !strings.HasPrefix(out["TopicArn"], "arn:aws:sns:"+trailRegion+":"+w.member+":") || out["BucketName"] == "" {
		t.Fatalf("outputs %v", out)
	}
	ts := trails(t, w.memberCfg, trailRegion)
	if len(ts) != 1 {
		t.Fatalf("trails in the member account: %+v", ts)
	}
	tr := ts[0]
	if aws.ToString(tr.TrailARN) != wantARN || aws.ToString(tr.S3BucketName) != out["BucketName"] || aws.ToString(tr.SnsTopicARN) != out["TopicArn"] ||
		!aws.ToBool(tr.LogFileValidationEnabled) || aws.ToBool(tr.IsMultiRegionTrail) || !aws.ToBool(tr.IncludeGlobalServiceEvents) {
		t.Errorf("trail %+v", tr)
	}
	if !isLogging(t, w.memberCfg, "vo-trail") {
		t.Error("IsLogging: true, yet the trail does not log")
	}
	sel, err := cloudtrail.NewFromConfig(w.memberCfg).GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String("vo-trail")})
	if err != nil || len(sel.EventSelectors) != 1 || sel.EventSelectors[0].ReadWriteType != cttypes.ReadWriteTypeAll || !aws.ToBool(sel.EventSelectors[0].IncludeManagementEvents) {
		t.Errorf("event selectors %+v %v", sel, err)
	}
	tags := trailTags(t, w.memberCfg, wantARN)
	if tags["cloudone-onboarder:managed"] != "true" || tags["team"] != "security" {
		t.Errorf("trail tags %v: the stack's tags and the trail's own", tags)
	}
	for k := range tags {
		if strings.HasPrefix(k, "aws:") {
			t.Errorf("tag %s: a trail takes no CloudFormation system tags", k)
		}
	}
	// Nowhere else: not in the management account, not in another region of the member.
	if ts := trails(t, w.mgm, trailRegion); len(ts) != 0 {
		t.Errorf("trails in the default account: %+v", ts)
	}
	if ts := trails(t, w.memberCfg, "eu-west-1"); len(ts) != 0 {
		t.Errorf("a one-region trail shows in another region: %+v", ts)
	}
	if _, err := w.cfn.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("VisionOneTrail")}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, w.cfn, "VisionOneTrail", "")
	if ts := trails(t, w.memberCfg, trailRegion); len(ts) != 0 {
		t.Errorf("the stack is deleted, its trail is not: %+v", ts)
	}
}

const trailUpdateTemplate = `
Parameters:
  Name: {Type: String}
  Logging: {Type: String, Default: "true", AllowedValues: ["true", "false"]}
Resources:
  Logs: {Type: AWS::S3::Bucket}
  Topic: {Type: AWS::SNS::Topic}
  Trail:
    Type: AWS::CloudTrail::Trail
    Properties:
      TrailName: !Ref Name
      S3BucketName: !Ref Logs
      SnsTopicName: !Ref Topic
      IsLogging: !Ref Logging
      Tags: [{Key: own, Value: tag}]
Outputs:
  Name: {Value: !Ref Trail}
  Topic: {Value: !GetAtt Trail.SnsTopicArn}
`

func TestTrailFollowsStackUpdates(t *testing.T) {
	ctx := context.Background()
	w := newTrailWorld(t, "222233335555", proxy.Uniform(200*time.Millisecond))
	url := upload(t, []byte(trailUpdateTemplate))
	if _, err := w.cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("T"), TemplateURL: aws.String(url),
		Parameters: cfnParams("Name", "first"), Tags: cfnTags("a", "1", "b", "2")}); err != nil {
		t.Fatal(err)
	}
	s := waitStatus(t, w.cfn, "T", "CREATE_COMPLETE")
	ct := w.memberCfg
	arn1 := "arn:aws:cloudtrail:" + trailRegion + ":" + w.member + ":trail/first"
	if o := outputs(s); o["Name"] != "first" || !strings.HasPrefix(o["Topic"], "arn:aws:sns:") {
		t.Errorf("outputs %v", o)
	}
	if !isLogging(t, ct, "first") {
		t.Error("not logging")
	}
	// Stop logging, change the stack's tags: the trail follows.
	if _, err := w.cfn.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("T"), TemplateURL: aws.String(url),
		Parameters: cfnParams("Name", "first", "Logging", "false"), Tags: cfnTags("a", "1", "c", "3")}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, w.cfn, "T", "UPDATE_COMPLETE")
	if isLogging(t, ct, "first") {
		t.Error("IsLogging false, the trail still logs")
	}
	if tags := trailTags(t, ct, arn1); tags["a"] != "1" || tags["c"] != "3" || tags["own"] != "tag" || tags["b"] != "" {
		t.Errorf("tags after the update %v", tags)
	}
	// A new TrailName replaces the trail.
	if _, err := w.cfn.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("T"), TemplateURL: aws.String(url),
		Parameters: cfnParams("Name", "second"), Tags: cfnTags("a", "1")}); err != nil {
		t.Fatal(err)
	}
	s = waitStatus(t, w.cfn, "T", "UPDATE_COMPLETE")
	var names []string
	for _, tr := range trails(t, ct, trailRegion) {
		names = append(names, aws.ToString(tr.Name))
	}
	if !slices.Equal(names, []string{"second"}) || outputs(s)["Name"] != "second" || !isLogging(t, ct, "second") {
		t.Errorf("after a rename: trails %v, outputs %v", names, outputs(s))
	}
}

func TestTakenTrailNameRollsTheCreateBack(t *testing.T) {
	ctx := context.Background()
	w := newTrailWorld(t, "222233336666", proxy.Uniform(200*time.Millisecond))
	s3c := s3.NewFromConfig(w.memberCfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("someone-elses-logs"),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(trailRegion)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cloudtrail.NewFromConfig(w.memberCfg).CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("taken"), S3BucketName: aws.String("someone-elses-logs")}); err != nil {
		t.Fatal(err)
	}
	url := upload(t, []byte(trailUpdateTemplate))
	if _, err := w.cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("T"), TemplateURL: aws.String(url),
		Parameters: cfnParams("Name", "taken"), ClientRequestToken: aws.String("tok-1")}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, w.cfn, "T", "ROLLBACK_COMPLETE")
	var failed *cfntypes.StackEvent
	for _, e := range events(t, w.cfn, "T") {
		if e.ResourceStatus == cfntypes.ResourceStatusCreateFailed {
			failed = &e
		}
	}
	if failed == nil || aws.ToString(failed.LogicalResourceId) != "Trail" || aws.ToString(failed.ResourceType) != "AWS::CloudTrail::Trail" ||
		!strings.Contains(aws.ToString(failed.ResourceStatusReason), "already exists") || aws.ToString(failed.ClientRequestToken) != "tok-1" {
		t.Errorf("failed event %+v", failed)
	}
	ts := trails(t, w.memberCfg, trailRegion)
	if len(ts) != 1 || aws.ToString(ts[0].S3BucketName) != "someone-elses-logs" {
		t.Errorf("the trail that was there is changed: %+v", ts)
	}
}

// hookTemplate is the layer's test template with a trail and outputs.
const hookTemplate = layerTemplate + `  Logs: {Type: AWS::S3::Bucket}
  Trail:
    Type: AWS::CloudTrail::Trail
    Properties:
      S3BucketName: !Ref Logs
      IsLogging: !Equals [!Ref Mode, a]
Outputs:
  TopicName: {Value: !GetAtt Topic.TopicName}
  TrailArn: {Value: !GetAtt Trail.Arn}
`

// recorder is a stack hook that records what it is told, can hold an operation until
// released, and fails the operations fail says.
type recorder struct {
	mu   sync.Mutex
	seen []proxy.StackOutcome
	hold chan struct{} // when set, an operation about to succeed waits for it to close
	fail func(proxy.StackOutcome) error
}

func (r *recorder) hook(o proxy.StackOutcome) error {
	r.mu.Lock()
	r.seen = append(r.seen, o)
	hold, fail := r.hold, r.fail
	r.mu.Unlock()
	if hold != nil && strings.HasSuffix(o.Status, "_COMPLETE") && !strings.Contains(o.Status, "ROLLBACK") {
		<-hold
	}
	if fail != nil {
		return fail(o)
	}
	return nil
}

func (r *recorder) last() proxy.StackOutcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seen) == 0 {
		return proxy.StackOutcome{}
	}
	return r.seen[len(r.seen)-1]
}

func TestStackHookEndsEveryOperation(t *testing.T) {
	ctx := context.Background()
	w := newTrailWorld(t, "222233337777", proxy.Uniform(200*time.Millisecond))
	rec := &recorder{hold: make(chan struct{})}
	w.p.SetStackHook(rec.hook)
	url := upload(t, []byte(hookTemplate))
	if _, err := w.cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("H"), TemplateURL: aws.String(url),
		Parameters: cfnParams("Secret", "s3cr3t-value"), Tags: cfnTags("k", "v")}); err != nil {
		t.Fatal(err)
	}
	// The stack is in progress while the hook works.
	deadline := time.Now().Add(5 * time.Second)
	for rec.last().Status == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s := describe(t, w.cfn, "H"); s.StackStatus != cfntypes.StackStatusCreateInProgress {
		t.Errorf("while the hook runs: %s, want CREATE_IN_PROGRESS", s.StackStatus)
	}
	close(rec.hold)
	s := waitStatus(t, w.cfn, "H", "CREATE_COMPLETE")
	o := rec.last()
	if o.Account != w.member || o.Region != trailRegion || o.Stack != "H" || o.StackID != aws.ToString(s.StackId) || o.Operation != "CREATE" ||
		o.Status != "CREATE_COMPLETE" || o.TemplateURL != url || o.Parameters["Secret"] != "****" || o.Parameters["Mode"] != "a" || o.Tags["k"] != "v" ||
		o.Outputs["TopicName"] != "H-a" || !strings.Contains(o.Outputs["TrailArn"], ":trail/H-Trail-") {
		t.Errorf("outcome %+v", o)
	}
	for _, seen := range rec.seen {
		for k, v := range seen.Parameters {
			if strings.Contains(v, "s3cr3t") {
				t.Errorf("the hook saw the NoEcho parameter %s", k)
			}
		}
	}
	trailName := strings.TrimPrefix(o.Outputs["TrailArn"], "arn:aws:cloudtrail:"+trailRegion+":"+w.member+":trail/")
	if !isLogging(t, w.memberCfg, trailName) {
		t.Fatal("the created trail does not log")
	}

	// A hook that fails an update: it rolls back, moto gets the old parameters back, the
	// trail its old state, and the hook hears of the rollback.
	rec.fail = func(o proxy.StackOutcome) error {
		if o.Status == "UPDATE_COMPLETE" {
			return &proxy.StackFailure{LogicalID: "VisionOneRegistration", ResourceType: "Custom::VisionOne", Reason: "the template expired"}
		}
		return nil
	}
	if _, err := w.cfn.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("H"), TemplateURL: aws.String(url),
		Parameters: cfnParams("Secret", "s3cr3t-value", "Mode", "b"), ClientRequestToken: aws.String("upd-1")}); err != nil {
		t.Fatal(err)
	}
	s = waitStatus(t, w.cfn, "H", "UPDATE_ROLLBACK_COMPLETE")
	if params(s)["Mode"] != "a" || outputs(s)["TopicName"] != "H-a" {
		t.Errorf("after the rollback: parameters %v, outputs %v", params(s), outputs(s))
	}
	if !isLogging(t, w.memberCfg, trailName) {
		t.Error("the rollback left the trail as the failed update made it (not logging)")
	}
	var failed *cfntypes.StackEvent
	for _, e := range events(t, w.cfn, "H") {
		if e.ResourceStatus == cfntypes.ResourceStatusUpdateFailed {
			failed = &e
			break // newest first
		}
	}
	if failed == nil || aws.ToString(failed.LogicalResourceId) != "VisionOneRegistration" || aws.ToString(failed.ResourceStatusReason) != "the template expired" ||
		aws.ToString(failed.ClientRequestToken) != "upd-1" {
		t.Errorf("failed event %+v", failed)
	}
	if o := rec.last(); o.Status != "UPDATE_ROLLBACK_COMPLETE" || o.Parameters["Mode"] != "a" {
		t.Errorf("the hook was told %+v", o)
	}

	// The delete: the trail goes, the hook hears of it.
	rec.fail = nil
	if _, err := w.cfn.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("H")}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, w.cfn, "H", "")
	if o := rec.last(); o.Operation != "DELETE" || o.Status != "DELETE_COMPLETE" {
		t.Errorf("the hook was told %+v", o)
	}
	if ts := trails(t, w.memberCfg, trailRegion); len(ts) != 0 {
		t.Errorf("trails after the delete: %+v", ts)
	}
}

func TestStackHookFailsACreate(t *testing.T) {
	ctx := context.Background()
	w := newTrailWorld(t, "222233338888", proxy.Uniform(200*time.Millisecond))
	rec := &recorder{fail: func(o proxy.StackOutcome) error {
		if o.Status == "CREATE_COMPLETE" {
			return &proxy.StackFailure{LogicalID: "VisionOneRegistration", ResourceType: "Custom::VisionOne", Reason: "the template expired"}
		}
		return nil
	}}
	w.p.SetStackHook(rec.hook)
	url := upload(t, []byte(hookTemplate))
	if _, err := w.cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("H"), TemplateURL: aws.String(url),
		Parameters: cfnParams("Secret", "x")}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, w.cfn, "H", "ROLLBACK_COMPLETE")
	passedThrough(t, w.cfn, "H", "CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE")
	if ts := trails(t, w.memberCfg, trailRegion); len(ts) != 0 {
		t.Errorf("the create rolled back, its trail is still there: %+v", ts)
	}
	if o := rec.last(); o.Operation != "CREATE" || o.Status != "ROLLBACK_COMPLETE" {
		t.Errorf("the hook was told %+v", o)
	}
	if v, ok := w.p.Stack(w.member, trailRegion, "H"); !ok || v.InMoto {
		t.Errorf("moto still holds the rolled-back stack: %+v", v)
	}
}
