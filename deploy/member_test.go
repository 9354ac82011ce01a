package deploy_test

// The member StackSet's forwarding rules (member.yaml) against the central stack's rules
// (template.yaml).

import (
	"reflect"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
)

// TestMemberPatternsMatchCentral: the member forwarding rules select what the central trailguard
// rules select, the stack rule only for the onboarding stack: its pattern is the central one
// plus a requestParameters.stackName filter on the stack's name or its ARN.
// integration/patterns_test.go puts events through the member rules on moto.
func TestMemberPatternsMatchCentral(t *testing.T) {
	c, m := rulePattern(t, "template.yaml", "TrailEventsRule"), rulePattern(t, "member.yaml", "ForwardTrailEventsRule")
	if !reflect.DeepEqual(c, m) {
		t.Errorf("member.yaml ForwardTrailEventsRule pattern %v differs from template.yaml TrailEventsRule pattern %v", m, c)
	}
	props, err := localworld.ResourceProperties("member.yaml", "ForwardStackEventsRule", localworld.TemplateValues{
		Region: "ap-southeast-2", Account: exampleAccount, Params: requiredParams})
	if err != nil {
		t.Fatal(err)
	}
	pattern, _ := props["EventPattern"].(map[string]any)
	detail, _ := pattern["detail"].(map[string]any)
	rp, _ := detail["requestParameters"].(map[string]any)
	want := []any{"CloudOne", map[string]any{"prefix": "arn:aws:cloudformation:ap-southeast-2:" + exampleAccount + ":stack/CloudOne/"}}
	if !reflect.DeepEqual(rp, map[string]any{"stackName": want}) {
		t.Errorf("member.yaml ForwardStackEventsRule: detail.requestParameters %v, want only stackName %v", rp, want)
	}
	// Without the filter, the pattern is the central rule's.
	written, _ := rulePattern(t, "member.yaml", "ForwardStackEventsRule").(map[string]any)
	if d, ok := written["detail"].(map[string]any); ok {
		delete(d, "requestParameters")
	}
	if central := rulePattern(t, "template.yaml", "StackEventsRule"); !reflect.DeepEqual(central, written) {
		t.Errorf("member.yaml ForwardStackEventsRule pattern (without its stack filter) %v differs from template.yaml StackEventsRule pattern %v", written, central)
	}
}

// TestMemberForwardsTheVisionOneStacks: with Target visionone, the stack rule forwards the calls
// on the Vision One stack and on the onboarder's trail stack (the trail guard acts on both), by
// name or ARN, and no longer the Cloud One stack's.
func TestMemberForwardsTheVisionOneStacks(t *testing.T) {
	params := map[string]string{"Target": "visionone"}
	for k, v := range requiredParams {
		params[k] = v
	}
	props, err := localworld.ResourceProperties("member.yaml", "ForwardStackEventsRule", localworld.TemplateValues{
		Region: "ap-southeast-2", Account: exampleAccount, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	pattern, _ := props["EventPattern"].(map[string]any)
	detail, _ := pattern["detail"].(map[string]any)
	rp, _ := detail["requestParameters"].(map[string]any)
	arn := "arn:aws:cloudformation:ap-southeast-2:" + exampleAccount + ":stack/"
	want := []any{"Vision-One-Cloud-Account-Management", map[string]any{"prefix": arn + "Vision-One-Cloud-Account-Management/"},
		"cloudone-onboarder-trail", map[string]any{"prefix": arn + "cloudone-onboarder-trail/"}}
	if !reflect.DeepEqual(rp, map[string]any{"stackName": want}) {
		t.Errorf("member.yaml ForwardStackEventsRule with Target visionone: detail.requestParameters %v, want only stackName %v", rp, want)
	}
}
