package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/trend"
)

// v1Trail is a trail as an account's CloudTrail describes it.
type v1Trail struct {
	arn, topic string
	logging    bool
}

// checkV1 reads the Vision One story's end state in moto through the SDK and in the Vision One
// stand-in (not through the product's code) and returns what is not as expected, and the number
// of accounts checked.
func (d *demo) checkV1() ([]string, int, error) {
	var problems []string
	bad := func(a localworld.Account, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s %s: %s", a.ID, a.Name, fmt.Sprintf(format, args...)))
	}
	gens := d.h.VisionOne.Generations()
	if len(gens) != 2 {
		problems = append(problems, fmt.Sprintf("Vision One generated %d templates, want 2 (one for every account, one after it aged)", len(gens)))
	}
	if d.generatedBefore != 1 || d.generatedInSync != d.generatedBefore {
		problems = append(problems, fmt.Sprintf("%d templates generated before the template aged, %d after the pass over the accounts in sync: want 1 and 1 (a pass that writes nothing generates nothing)",
			d.generatedBefore, d.generatedInSync))
	}
	// Where each account's Vision One stack should read its trail: its administrator's trail,
	// or the trail stack's; and the template of its last write: the first generation, or the
	// one made after the first aged (shop's, vended then).
	type want struct {
		ownTrail bool
		template int // index in gens
	}
	wants := map[string]want{
		acPayments: {true, 0}, // its trail's topic removed: the trail stack's since step 2
		acIdentity: {false, 0},
		acWeb:      {true, 0}, // its trail notifies no topic
		acSandboxB: {true, 0}, // made again in step 3 from the kept template
		acShop:     {true, 1},
	}
	for _, a := range d.org.Accounts {
		var regions []string
		for _, r := range allRegions {
			s, err := d.stackNamed(a.ID, r, v1Stack)
			if err != nil {
				return nil, 0, err
			}
			if s != nil {
				regions = append(regions, r)
			}
		}
		known, hasKnown := d.h.VisionOne.Account(a.ID)
		w, managed := wants[a.Name]
		if !managed {
			if len(regions) > 0 || hasKnown {
				bad(a, "excluded, but has a %s stack in %v (Vision One knows it: %v)", v1Stack, regions, hasKnown)
			}
			continue
		}
		if len(regions) != 1 || regions[0] != stackRegion {
			bad(a, "%s stacks in %v, want only %s", v1Stack, regions, stackRegion)
			continue
		}
		s, err := d.stackNamed(a.ID, stackRegion, v1Stack)
		if err != nil {
			return nil, 0, err
		}
		if v, ok := d.h.Faults.Stack(a.ID, stackRegion, v1Stack); ok && v.ID == aws.ToString(s.StackId) {
			s.StackStatus = cfntypes.StackStatus(v.Status) // the CloudFormation layer's status (moto settles at once)
		}
		if !strings.HasSuffix(string(s.StackStatus), "_COMPLETE") || strings.Contains(string(s.StackStatus), "ROLLBACK") {
			bad(a, "stack status %s", s.StackStatus)
		}
		p, tg := localworld.StackParams(s), localworld.StackTags(s)
		if tg["cloudone-onboarder:managed"] != "true" {
			bad(a, "stack not tagged cloudone-onboarder:managed=true")
		}
		if p["CloudAccountName"] != a.Name {
			bad(a, "CloudAccountName %q, want the account's name", p["CloudAccountName"])
		}
		trailStackNow, err := d.stackNamed(a.ID, stackRegion, trailStack)
		if err != nil {
			return nil, 0, err
		}
		name := trailV1
		switch {
		case w.ownTrail:
			name = ownTrail
			if trailStackNow == nil {
				bad(a, "no trail stack %s", trailStack)
			}
		case trailStackNow != nil:
			bad(a, "a trail stack beside a trail Vision One can use")
		}
		tr, ok, err := d.v1Trail(a.ID, name)
		if err != nil {
			return nil, 0, err
		}
		if !ok || !tr.logging || tr.topic == "" {
			bad(a, "trail %s: found %v, logging %v, topic %q", name, ok, tr.logging, tr.topic)
		} else if p["CloudAuditLogMonitoringCloudTrailArn"] != tr.arn || p["CloudAuditLogMonitoringCloudTrailSNSTopicArn"] != tr.topic {
			bad(a, "the stack names trail %s and topic %s, want %s and %s", p["CloudAuditLogMonitoringCloudTrailArn"], p["CloudAuditLogMonitoringCloudTrailSNSTopicArn"], tr.arn, tr.topic)
		}
		if u := d.lastTemplate(a.ID); w.template < len(gens) && u != gens[w.template].URL {
			bad(a, "last written from template %d of %d generated, want %d", genIndex(gens, u)+1, len(gens), w.template+1)
		}
		state := "managed"
		if a.Name == acIdentity {
			state = "failed" // the stand-in's switch, step 4
		}
		if !hasKnown || known.State != state {
			bad(a, "Vision One knows the account: %v, state %q, want %s", hasKnown, known.State, state)
		}
	}
	// The administrators' trails the onboarder found unusable are as they left them: it never
	// changes a trail it does not own.
	for _, n := range []string{acPayments, acWeb} {
		a := d.org.Account(n)
		name := map[string]string{acPayments: trailV1, acWeb: trailWeb}[n]
		if tr, ok, err := d.v1Trail(a.ID, name); err != nil {
			return nil, 0, err
		} else if !ok || tr.topic != "" {
			bad(a, "trail %s: found %v, topic %q: the onboarder changed it", name, ok, tr.topic)
		}
	}
	// sandbox-b's stack was made again: not the one the person deleted.
	if n := d.stackCreates(d.org.Account(acSandboxB).ID, v1Stack); n != 2 {
		bad(d.org.Account(acSandboxB), "%d creates of %s, want 2 (vended, and made again)", n, v1Stack)
	}
	// Step 5: the accounts in sync were not rewritten (shop, vended then, is written); the replay
	// changed nothing.
	for _, c := range d.h.Recorder.Since(d.ageMark, localworld.Writes, func(c localworld.Call) bool {
		return c.Account != localworld.ManagementAccount && c.Account != d.org.Account(acShop).ID
	}) {
		problems = append(problems, fmt.Sprintf("after the template aged, a write in an account in sync: %s %s/%s %s", c.Service, c.Account, c.Region, c.Action))
	}
	for _, c := range d.replayWrites {
		problems = append(problems, fmt.Sprintf("the replay wrote: %s %s/%s %s", c.Service, c.Account, c.Region, c.Action))
	}
	// Only identity's failure waits in the DLQ, once, in Vision One's words.
	n, err := d.dlqDepth()
	if err != nil {
		return nil, 0, err
	}
	if n != "1" {
		problems = append(problems, fmt.Sprintf("%s messages in the dead-letter queue, want 1 (identity, failed in Vision One)", n))
	} else if acct, reason, err := d.dlqMessage(); err != nil {
		return nil, 0, err
	} else if acct != d.org.Account(acIdentity).ID || !strings.Contains(reason, "Vision One reports account "+acct+" failed") || !strings.Contains(reason, missingPerm1) {
		problems = append(problems, fmt.Sprintf("the dead-letter queue holds account %s: %q, want identity's failure in Vision One's words", acct, reason))
	}
	return problems, len(d.org.Accounts), nil
}

// v1Trail describes a trail of the account in the stack region.
func (d *demo) v1Trail(account, name string) (v1Trail, bool, error) {
	ct, err := d.trailClient(account, stackRegion)
	if err != nil {
		return v1Trail{}, false, err
	}
	out, err := ct.DescribeTrails(d.ctx, &cloudtrail.DescribeTrailsInput{TrailNameList: []string{name}})
	if err != nil {
		return v1Trail{}, false, fmt.Errorf("describe trail %s in %s: %w", name, account, err)
	}
	for _, t := range out.TrailList {
		if aws.ToString(t.Name) != name {
			continue
		}
		st, err := ct.GetTrailStatus(d.ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(name)})
		if err != nil {
			return v1Trail{}, false, fmt.Errorf("trail status of %s in %s: %w", name, account, err)
		}
		return v1Trail{arn: aws.ToString(t.TrailARN), topic: aws.ToString(t.SnsTopicARN), logging: aws.ToBool(st.IsLogging)}, true, nil
	}
	return v1Trail{}, false, nil
}

// stackWrites are the accepted CreateStack and UpdateStack calls of a stack in an account, in
// order, with their form (the query protocol's body), as the recorder saw them.
func (d *demo) stackWrites(account, name string) []url.Values {
	var out []url.Values
	for _, c := range d.h.Recorder.Calls(localworld.InService("cloudformation"), localworld.InAccount(account), localworld.WithAction("CreateStack", "UpdateStack")) {
		form, err := url.ParseQuery(string(c.Body))
		if err != nil || c.Status >= 300 || form.Get("StackName") != name {
			continue
		}
		form.Set("Action", c.Action)
		out = append(out, form)
	}
	return out
}

// lastTemplate is the template URL of the last write of the account's Vision One stack.
func (d *demo) lastTemplate(account string) string {
	ws := d.stackWrites(account, v1Stack)
	if len(ws) == 0 {
		return ""
	}
	return ws[len(ws)-1].Get("TemplateURL")
}

func (d *demo) stackCreates(account, name string) int {
	n := 0
	for _, w := range d.stackWrites(account, name) {
		if w.Get("Action") == "CreateStack" {
			n++
		}
	}
	return n
}

// dlqMessage reads the dead-letter queue's message without taking it: its account and reason.
func (d *demo) dlqMessage() (string, string, error) {
	out, err := sqs.NewFromConfig(d.h.Moto.Config(d.ctx, homeRegion)).ReceiveMessage(d.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(d.env.DLQURL),
		MaxNumberOfMessages: 1, VisibilityTimeout: 0, MessageAttributeNames: []string{"All"}})
	if err != nil {
		return "", "", fmt.Errorf("read the dead-letter queue: %w", err)
	}
	if len(out.Messages) == 0 {
		return "", "", nil
	}
	m := out.Messages[0]
	var req struct {
		Account string `json:"account"`
	}
	_ = json.Unmarshal([]byte(aws.ToString(m.Body)), &req)
	reason := ""
	if a, ok := m.MessageAttributes["reason"]; ok {
		reason = aws.ToString(a.StringValue)
	}
	return req.Account, reason, nil
}

// genIndex is the position of a template URL among the generations (-1: none of them).
func genIndex(gens []trend.Generation, u string) int {
	for i, g := range gens {
		if g.URL == u {
			return i
		}
	}
	return -1
}
