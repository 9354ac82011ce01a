package proxy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestPlanTrails(t *testing.T) {
	doc := mustParse(t, evalTemplate)
	plans, err := planTrails(doc, "111122223333", "eu-west-1", "S", map[string]string{"Secret": "x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 1 || plans[0].logicalID != "Trail" || plans[0].name != "trail-one" ||
		plans[0].arn != "arn:aws:cloudtrail:eu-west-1:111122223333:trail/trail-one" {
		t.Fatalf("plans %+v (the Off trail's condition is false)", plans)
	}
	// A trail without TrailName gets a name as CloudFormation names resources, and keeps it.
	doc2 := mustParse(t, "Resources:\n  T: {Type: AWS::CloudTrail::Trail, Properties: {S3BucketName: b, IsLogging: true}}\n")
	p1, err := planTrails(doc2, "111122223333", "eu-west-1", "MyStack", nil, nil)
	if err != nil || len(p1) != 1 || !strings.HasPrefix(p1[0].name, "MyStack-T-") || len(p1[0].name) != len("MyStack-T-")+12 {
		t.Fatalf("generated %+v %v", p1, err)
	}
	p2, _ := planTrails(doc2, "111122223333", "eu-west-1", "MyStack", nil, map[string]liveTrail{"T": {name: p1[0].name}})
	if p2[0].name != p1[0].name {
		t.Errorf("an update renamed the trail: %s -> %s", p1[0].name, p2[0].name)
	}
	for _, bad := range []string{"ab", "-trail", "trail name", strings.Repeat("a", 129)} {
		if _, err := planTrails(doc, "1", "r", "S", map[string]string{"Secret": "x", "Name": bad}, nil); err == nil {
			t.Errorf("trail name %q accepted", bad)
		}
	}
}

func TestTemplateForMotoAnswersForTheTrail(t *testing.T) {
	doc := mustParse(t, evalTemplate)
	plans, err := planTrails(doc, "111122223333", "eu-west-1", "S", map[string]string{"Secret": "x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := templateForMoto(doc, plans)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	res := got["Resources"].(map[string]any)
	if _, ok := res["Trail"]; ok {
		t.Error("moto is given the trail")
	}
	if _, ok := res["Off"]; ok {
		t.Error("moto is given a trail whose condition is false")
	}
	if _, ok := res["Policy"].(map[string]any)["DependsOn"]; ok {
		t.Error("a DependsOn on the trail is left for moto")
	}
	if d := res["Trail"]; d != nil {
		t.Error(d)
	}
	arn := "arn:aws:cloudtrail:eu-west-1:111122223333:trail/trail-one"
	cond, _ := json.Marshal(res["Policy"].(map[string]any)["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any)[0].(map[string]any)["Condition"])
	if string(cond) != `{"StringEquals":{"aws:SourceArn":"`+arn+`"}}` {
		t.Errorf("condition %s", cond)
	}
	outs := got["Outputs"].(map[string]any)
	topicArn := `{"Fn::Sub":["arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:${TopicNameOfTrail}",{"TopicNameOfTrail":{"Fn::GetAtt":["Topic","TopicName"]}}]}`
	for k, want := range map[string]string{
		"TrailArn":  `"` + arn + `"`,
		"TrailName": `"trail-one"`,
		"TopicArn":  topicArn,
		"Both":      `{"Fn::Sub":["trail-one|` + arn + `|${TrailSnsTopicArnOfTrail}|${Bucket}",{"TrailSnsTopicArnOfTrail":` + topicArn + `}]}`,
		"Joined":    `{"Fn::Join":[",",{"Fn::Split":["|","a|b"]}]}`,
	} {
		v, _ := json.Marshal(outs[k].(map[string]any)["Value"])
		if string(v) != want {
			t.Errorf("output %s = %s\nwant %s", k, v, want)
		}
	}
	// A Ref to an SNS topic is its ARN already; a literal ARN stays.
	resources := doc["Resources"].(map[string]any)
	if got := topicArnExpr(map[string]any{"Ref": "Topic"}, resources); !reflect.DeepEqual(got, map[string]any{"Ref": "Topic"}) {
		t.Errorf("Ref Topic -> %v", got)
	}
	if got := topicArnExpr("arn:aws:sns:eu-west-1:1:t", resources); got != "arn:aws:sns:eu-west-1:1:t" {
		t.Errorf("literal ARN -> %v", got)
	}
	// A reference to a trail that is not in the stack is refused, as CloudFormation refuses it.
	bad := mustParse(t, strings.Replace(evalTemplate, "TrailName: {Value: !Ref Trail}", "TrailName: {Value: !Ref Off}", 1))
	plans, _ = planTrails(bad, "111122223333", "eu-west-1", "S", map[string]string{"Secret": "x"}, nil)
	if _, err := templateForMoto(bad, plans); err == nil || !strings.Contains(err.Error(), "Off") {
		t.Errorf("Ref of a trail whose condition is false: %v", err)
	}
}
