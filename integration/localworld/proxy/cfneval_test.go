package proxy

import (
	"encoding/json"
	"strings"
	"testing"
)

const evalTemplate = `
Parameters:
  Name: {Type: String, Default: trail-one}
  Logging: {Type: String, AllowedValues: ["true", "false"], Default: "true"}
  Regions: {Type: CommaDelimitedList, Default: "eu-west-1, eu-west-3"}
  Secret: {Type: String, NoEcho: true}
Conditions:
  Logs: !Equals [!Ref Logging, "true"]
  NoLogs: !Not [!Condition Logs]
  Both: !And [!Condition Logs, !Equals [!Select [1, !Ref Regions], eu-west-3]]
Mappings:
  Sizes: {eu-west-1: {Small: "1"}}
Resources:
  Bucket: {Type: AWS::S3::Bucket}
  Topic: {Type: AWS::SNS::Topic}
  Trail:
    Type: AWS::CloudTrail::Trail
    DependsOn: [Bucket, Topic]
    Properties:
      TrailName: !Ref Name
      S3BucketName: !Ref Bucket
      SnsTopicName: !GetAtt Topic.TopicName
      IsLogging: !If [Logs, true, false]
      Tags:
        - {Key: where, Value: !Sub "${AWS::Region}/${AWS::AccountId}/${!Literal}"}
        - {Key: size, Value: !FindInMap [Sizes, !Ref "AWS::Region", Small]}
        - !If [Both, {Key: both, Value: "yes"}, !Ref "AWS::NoValue"]
  Off:
    Type: AWS::CloudTrail::Trail
    Condition: NoLogs
    Properties: {S3BucketName: !Ref Bucket, IsLogging: false}
  Policy:
    Type: AWS::SNS::TopicPolicy
    DependsOn: Trail
    Properties:
      Topics: [!Ref Topic]
      PolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {Service: cloudtrail.amazonaws.com}
            Action: sns:Publish
            Resource: !Ref Topic
            Condition: {StringEquals: {"aws:SourceArn": !GetAtt Trail.Arn}}
Outputs:
  TrailArn: {Value: !GetAtt Trail.Arn}
  TrailName: {Value: !Ref Trail}
  TopicArn: {Value: !GetAtt Trail.SnsTopicArn}
  Both: {Value: !Sub "${Trail}|${Trail.Arn}|${Trail.SnsTopicArn}|${Bucket}"}
  Joined: {Value: !Join [",", !Split ["|", "a|b"]]}
`

func mustParse(t *testing.T, src string) map[string]any {
	t.Helper()
	doc, err := parseTemplate([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestParseTemplateLongForms(t *testing.T) {
	doc := mustParse(t, evalTemplate)
	trail := doc["Resources"].(map[string]any)["Trail"].(map[string]any)["Properties"].(map[string]any)
	for k, want := range map[string]string{
		"TrailName":    `{"Ref":"Name"}`,
		"SnsTopicName": `{"Fn::GetAtt":["Topic","TopicName"]}`,
		"IsLogging":    `{"Fn::If":["Logs",true,false]}`,
	} {
		got, _ := json.Marshal(trail[k])
		if string(got) != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	cond, _ := json.Marshal(doc["Conditions"].(map[string]any)["NoLogs"])
	if string(cond) != `{"Fn::Not":[{"Condition":"Logs"}]}` {
		t.Errorf("NoLogs = %s", cond)
	}
}

func TestEvalResolvesAsCloudFormation(t *testing.T) {
	doc := mustParse(t, evalTemplate)
	env, err := newEvalEnv(doc, "111122223333", "eu-west-1", "S", "stack-id", map[string]string{"Secret": "x"})
	if err != nil {
		t.Fatal(err)
	}
	env.resources = map[string]resourceRef{
		"Bucket": {typ: "AWS::S3::Bucket", physicalID: "s-bucket-abc"},
		"Topic":  {typ: "AWS::SNS::Topic", physicalID: "arn:aws:sns:eu-west-1:111122223333:S-Topic-XYZ"},
	}
	props, err := env.eval(doc["Resources"].(map[string]any)["Trail"].(map[string]any)["Properties"])
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(props)
	want := `{"IsLogging":true,"S3BucketName":"s-bucket-abc","SnsTopicName":"S-Topic-XYZ","Tags":[{"Key":"where","Value":"eu-west-1/111122223333/${Literal}"},{"Key":"size","Value":"1"},{"Key":"both","Value":"yes"}],"TrailName":"trail-one"}`
	if string(got) != want {
		t.Errorf("properties\n%s\nwant\n%s", got, want)
	}
	// Without the Logging default, and with a false condition, the If and NoValue follow.
	env2, _ := newEvalEnv(doc, "111122223333", "eu-west-1", "S", "", map[string]string{"Secret": "x", "Logging": "false", "Regions": "a,b"})
	env2.resources = env.resources
	props, err = env2.eval(doc["Resources"].(map[string]any)["Trail"].(map[string]any)["Properties"])
	if err != nil {
		t.Fatal(err)
	}
	m := props.(map[string]any)
	if m["IsLogging"] != false || len(m["Tags"].([]any)) != 2 {
		t.Errorf("with Logging false: %v", m)
	}
	// Strict: what the layer cannot resolve is an error naming it, never a guess.
	for expr, want := range map[string]string{
		`{"Ref":"Nope"}`:                           "Ref Nope",
		`{"Fn::GetAtt":["Bucket","WebsiteURL"]}`:   "Bucket.WebsiteURL",
		`{"Fn::GetAZs":""}`:                        "Fn::GetAZs",
		`{"Fn::Sub":"${Missing}"}`:                 "Missing",
		`{"Fn::FindInMap":["Sizes","us-1","Big"]}`: "FindInMap",
		`{"Fn::If":["NoSuch",1,2]}`:                "NoSuch",
	} {
		var v any
		_ = json.Unmarshal([]byte(expr), &v)
		if _, err := env.eval(v); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %s", expr, err, want)
		}
	}
	if _, err := newEvalEnv(doc, "1", "r", "S", "", nil); err == nil || !strings.Contains(err.Error(), "Secret") {
		t.Errorf("a parameter without value or default: %v", err)
	}
}
