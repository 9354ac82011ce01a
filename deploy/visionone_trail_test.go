package deploy_test

// The trail stack of the Vision One target (visionone-trail.yaml), read with concrete values:
// its bucket and topic policies, evaluated with integration/localworld/iampolicy as AWS
// evaluates resource-based policies, let CloudTrail write for this trail and nobody else
// anything; the trail records management events, read and write, in one region, with log
// file validation, and notifies the topic; the bucket is encrypted, private and owner-enforced;
// everything carries the managed tag. (The stack is also created through the local world's
// CloudFormation layer, trail included: integration/localworld/proxy/trails_test.go.)

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/iampolicy"
)

const (
	trailTemplate = "visionone-trail.yaml"
	trailRegion   = "eu-west-1"
	trailBucket   = "stack-bucket-1abcdefghij"
	trailTopic    = "arn:aws:sns:eu-west-1:111122223333:stack-Topic-ABCDEFGHIJKL"
)

var trailValues = localworld.TemplateValues{Region: trailRegion, Account: exampleAccount,
	Refs:  map[string]string{"Bucket": trailBucket, "Topic": trailTopic},
	Attrs: map[string]string{"Bucket.Arn": "arn:aws:s3:::" + trailBucket, "Topic.TopicName": "stack-Topic-ABCDEFGHIJKL"}}

func trailProps(t *testing.T, logicalID string) map[string]any {
	t.Helper()
	props, err := localworld.ResourceProperties(trailTemplate, logicalID, trailValues)
	if err != nil {
		t.Fatal(err)
	}
	return props
}

func trailPolicy(t *testing.T, logicalID string) iampolicy.Document {
	t.Helper()
	doc, content, err := localworld.ResourcePolicy(trailTemplate, logicalID, "PolicyDocument", iampolicy.Resource, trailValues)
	if err != nil {
		t.Fatalf("%v\n%s", err, content)
	}
	return doc
}

func TestTrailStackPoliciesLetOnlyThisTrailIn(t *testing.T) {
	trailARN := "arn:aws:cloudtrail:" + trailRegion + ":" + exampleAccount + ":trail/cloudone-onboarder-visionone"
	otherTrail := "arn:aws:cloudtrail:" + trailRegion + ":444455556666:trail/cloudone-onboarder-visionone"
	cloudtrail := iampolicy.Principal{Service: "cloudtrail.amazonaws.com"}
	admin := iampolicy.Principal{ARN: "arn:aws:iam::444455556666:role/Admin"}
	logObject := "arn:aws:s3:::" + trailBucket + "/AWSLogs/" + exampleAccount + "/CloudTrail/eu-west-1/2026/12/04/x.json.gz"
	ctx := func(source string, acl string) map[string][]string {
		m := map[string][]string{"aws:SourceArn": {source}}
		if acl != "" {
			m["s3:x-amz-acl"] = []string{acl}
		}
		return m
	}
	bucket, topic := trailPolicy(t, "BucketPolicy"), trailPolicy(t, "TopicPolicy")
	cases := []struct {
		name  string
		doc   iampolicy.Document
		req   iampolicy.Request
		allow bool
	}{
		{"CloudTrail reads the bucket ACL", bucket, iampolicy.Request{Action: "s3:GetBucketAcl", Resource: "arn:aws:s3:::" + trailBucket,
			Principal: cloudtrail, Context: ctx(trailARN, "")}, true},
		{"CloudTrail writes a log file", bucket, iampolicy.Request{Action: "s3:PutObject", Resource: logObject,
			Principal: cloudtrail, Context: ctx(trailARN, "bucket-owner-full-control")}, true},
		{"another account's trail writes", bucket, iampolicy.Request{Action: "s3:PutObject", Resource: logObject,
			Principal: cloudtrail, Context: ctx(otherTrail, "bucket-owner-full-control")}, false},
		{"a write without bucket-owner-full-control", bucket, iampolicy.Request{Action: "s3:PutObject", Resource: logObject,
			Principal: cloudtrail, Context: ctx(trailARN, "private")}, false},
		{"a write outside AWSLogs/<account>/", bucket, iampolicy.Request{Action: "s3:PutObject", Resource: "arn:aws:s3:::" + trailBucket + "/other/x",
			Principal: cloudtrail, Context: ctx(trailARN, "bucket-owner-full-control")}, false},
		{"CloudTrail deletes a log file", bucket, iampolicy.Request{Action: "s3:DeleteObject", Resource: logObject,
			Principal: cloudtrail, Context: ctx(trailARN, "")}, false},
		{"another account reads a log file", bucket, iampolicy.Request{Action: "s3:GetObject", Resource: logObject, Principal: admin}, false},
		{"another account writes", bucket, iampolicy.Request{Action: "s3:PutObject", Resource: logObject, Principal: admin,
			Context: ctx(trailARN, "bucket-owner-full-control")}, false},
		{"CloudTrail publishes for this trail", topic, iampolicy.Request{Action: "sns:Publish", Resource: trailTopic,
			Principal: cloudtrail, Context: ctx(trailARN, "")}, true},
		{"CloudTrail publishes for another trail", topic, iampolicy.Request{Action: "sns:Publish", Resource: trailTopic,
			Principal: cloudtrail, Context: ctx(otherTrail, "")}, false},
		{"another account publishes", topic, iampolicy.Request{Action: "sns:Publish", Resource: trailTopic, Principal: admin}, false},
		{"another account subscribes", topic, iampolicy.Request{Action: "sns:Subscribe", Resource: trailTopic, Principal: admin}, false},
	}
	for _, tc := range cases {
		d, _ := tc.doc.Evaluate(tc.req)
		if (d == iampolicy.Allow) != tc.allow {
			t.Errorf("%s: %s, want allow=%v", tc.name, d, tc.allow)
		}
	}
	for name, doc := range map[string]iampolicy.Document{"BucketPolicy": bucket, "TopicPolicy": topic} {
		for _, s := range doc.Statements {
			if s.Effect != "Allow" || s.Principal == nil || !reflect.DeepEqual(s.Principal.Service, []string{"cloudtrail.amazonaws.com"}) ||
				len(s.Principal.AWS) > 0 || s.Principal.All || len(s.Condition["StringEquals"]["aws:SourceArn"]) != 1 {
				t.Errorf("%s: statement %s must allow cloudtrail.amazonaws.com alone, with aws:SourceArn: %+v", name, s.Sid, s)
			}
		}
	}
}

func TestTrailStackRecordsWhatVisionOneNeeds(t *testing.T) {
	trail := trailProps(t, "Trail")
	for k, want := range map[string]any{
		"TrailName": "cloudone-onboarder-visionone", "S3BucketName": trailBucket, "SnsTopicName": "stack-Topic-ABCDEFGHIJKL",
		"IsLogging": true, "IsMultiRegionTrail": false, "EnableLogFileValidation": true,
	} {
		if trail[k] != want {
			t.Errorf("Trail.%s = %v, want %v", k, trail[k], want)
		}
	}
	sel, _ := json.Marshal(trail["EventSelectors"])
	if string(sel) != `[{"IncludeManagementEvents":true,"ReadWriteType":"All"}]` {
		t.Errorf("EventSelectors %s: want management events, read and write, and no data events", sel)
	}
	bucket := trailProps(t, "Bucket")
	enc, _ := json.Marshal(bucket["BucketEncryption"])
	pab, _ := json.Marshal(bucket["PublicAccessBlockConfiguration"])
	own, _ := json.Marshal(bucket["OwnershipControls"])
	if string(enc) != `{"ServerSideEncryptionConfiguration":[{"ServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}` {
		t.Errorf("bucket encryption %s", enc)
	}
	if string(pab) != `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}` {
		t.Errorf("public access block %s", pab)
	}
	if string(own) != `{"Rules":[{"ObjectOwnership":"BucketOwnerEnforced"}]}` {
		t.Errorf("ownership %s", own)
	}
	for _, id := range []string{"Bucket", "Topic", "Trail"} {
		tags, _ := json.Marshal(trailProps(t, id)["Tags"])
		if string(tags) != `[{"Key":"cloudone-onboarder:managed","Value":"true"}]` {
			t.Errorf("%s tags %s, want cloudone-onboarder:managed=true", id, tags)
		}
	}
	root := parse(t, readTemplate(t, trailTemplate))
	var deps []string
	for _, n := range expand(get(get(get(root, "Resources"), "Trail"), "DependsOn")) {
		deps = append(deps, n.Value)
	}
	if !reflect.DeepEqual(deps, []string{"BucketPolicy", "TopicPolicy"}) {
		t.Errorf("the trail depends on %v: CloudTrail checks both policies when it makes the trail", deps)
	}
	for _, o := range []string{"TrailArn", "TopicArn", "BucketName"} {
		if get(get(root, "Outputs"), o) == nil {
			t.Errorf("no output %s", o)
		}
	}
}
