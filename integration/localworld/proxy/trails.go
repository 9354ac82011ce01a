package proxy

// Trails from templates: AWS::CloudTrail::Trail, which moto 5.2.1 cannot make (its
// moto/cloudtrail/models.py declares no cloudformation_type, so moto's CloudFormation skips the
// resource with "No Moto CloudFormation support for AWS::CloudTrail::Trail", and fails a stack
// whose Outputs ask for one of its attributes). The layer plays what CloudFormation does:
//
//   - at the write, the trail's identity is fixed: its TrailName, or a name made of the
//     stack's name, the logical id and a random suffix as CloudFormation names resources
//     ("Name type", AWS CloudFormation User Guide); its ARN
//     arn:aws:cloudtrail:<region>:<account>:trail/<name>. moto is given the template without
//     the trail resources, every Ref and Fn::GetAtt of a trail replaced by what AWS answers
//     (Ref: the trail's name, the resource's primaryIdentifier TrailName; Arn; SnsTopicArn:
//     the topic's ARN; the readOnlyProperties of the AWS::CloudTrail::Trail resource provider
//     schema), so the stack's Outputs read as on AWS;
//   - when the create or update completes (before the stack shows *_COMPLETE), the layer
//     makes or changes the trail in the stack's account and region through moto's CloudTrail
//     API, with the properties resolved against the stack's resources in moto (Refs to its
//     bucket and topic, parameters, conditions); it starts or stops logging as IsLogging says,
//     puts EventSelectors, and tags the trail with the stack's tags (CloudFormation
//     propagates stack tags to the resources it creates: CreateStack, Tags, AWS CloudFormation
//     API Reference) and its own Tags. A trail gets none of the aws:cloudformation:* system
//     tags: its schema says "cloudFormationSystemTags": false. A new TrailName replaces the
//     trail (TrailName is a createOnlyProperty): the new one is made, the old one deleted;
//   - a trail name already taken in the account and region fails the resource, as CloudTrail's
//     TrailAlreadyExistsException does (moto's create_trail overwrites it silently); any
//     failure fails the operation, which rolls back as the layer's failures do;
//   - when the stack is deleted, its trails are deleted.
// Not played: the bucket policy check CloudTrail makes at CreateTrail
// (InsufficientS3BucketPolicyException: moto's CloudFormation ignores AWS::S3::BucketPolicy),
// log delivery, the trail in DescribeStackResources and stack events of the trail resource,
// trails of a stack that was deleted in moto directly, and a TrailName that refers to a
// resource (it is resolved from parameters at the write).

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

const trailType = "AWS::CloudTrail::Trail"

// trailPlan is a trail a write's template declares, as the layer will make it.
type trailPlan struct {
	logicalID string
	name, arn string
	snsArn    any // the expression of the topic's ARN (GetAtt SnsTopicArn); nil without SnsTopicName
}

// liveTrail is a trail the layer made for a stack.
type liveTrail struct{ name, arn string }

// trailNameRE is CloudTrail's rule for names: 3 to 128 letters, digits, '.', '_' or '-',
// starting and ending with a letter or digit (CreateTrail, Name, AWS CloudTrail API Reference).
var trailNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]$`)

// planTrails fixes the identity of the trails of a write. prev are the stack's trails so far:
// a trail without TrailName keeps the name it was given.
func planTrails(doc map[string]any, account, region, stackName string, params map[string]string, prev map[string]liveTrail) ([]trailPlan, error) {
	ids := resourcesOfType(doc, trailType)
	if len(ids) == 0 {
		return nil, nil
	}
	env, err := newEvalEnv(doc, account, region, stackName, "", params)
	if err != nil {
		return nil, err
	}
	resources, _ := doc["Resources"].(map[string]any)
	var plans []trailPlan
	for _, id := range ids {
		res, _ := resources[id].(map[string]any)
		if in, err := env.resourceCondition(res); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		} else if !in {
			continue
		}
		props, _ := res["Properties"].(map[string]any)
		pl := trailPlan{logicalID: id}
		if raw, ok := props["TrailName"]; ok {
			v, err := env.eval(raw)
			if err != nil {
				return nil, fmt.Errorf("%s.TrailName: %w", id, err)
			}
			pl.name = scalarText(v)
		} else if old, ok := prev[id]; ok {
			pl.name = old.name
		} else {
			pl.name = generatedName(stackName, id, 128)
		}
		if !trailNameRE.MatchString(pl.name) {
			return nil, fmt.Errorf("%s.TrailName %q: a trail name is 3 to 128 letters, digits, '.', '_' or '-', starting and ending with a letter or digit", id, pl.name)
		}
		pl.arn = "arn:aws:cloudtrail:" + region + ":" + account + ":trail/" + pl.name
		if raw, ok := props["SnsTopicName"]; ok {
			pl.snsArn = topicArnExpr(raw, resources)
		}
		plans = append(plans, pl)
	}
	return plans, nil
}

// topicArnExpr turns the expression of SnsTopicName (a topic's name or ARN) into one that
// gives the topic's ARN, for moto to resolve: Ref of an AWS::SNS::Topic is its ARN already.
func topicArnExpr(raw any, resources map[string]any) any {
	if m, ok := raw.(map[string]any); ok {
		if ref, ok := m["Ref"].(string); ok {
			if r, _ := resources[ref].(map[string]any); r != nil && r["Type"] == "AWS::SNS::Topic" {
				return raw
			}
		}
	}
	if s, ok := raw.(string); ok && strings.HasPrefix(s, "arn:") {
		return s
	}
	return map[string]any{"Fn::Sub": []any{"arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:${TopicNameOfTrail}",
		map[string]any{"TopicNameOfTrail": raw}}}
}

// generatedName is a physical name as CloudFormation makes one: stack-logicalID-SUFFIX.
func generatedName(stack, logicalID string, max int) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	suffix := make([]byte, 12)
	for i := range suffix {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(letters))))
		suffix[i] = letters[n.Int64()]
	}
	head := stack + "-" + logicalID
	if len(head) > max-13 {
		head = head[:max-13]
	}
	return head + "-" + string(suffix)
}

// templateForMoto is the template moto is given: without the trails, each reference to one
// replaced by what AWS answers for it.
func templateForMoto(doc map[string]any, plans []trailPlan) ([]byte, error) {
	byID := map[string]trailPlan{}
	for _, p := range plans {
		byID[p.logicalID] = p
	}
	trails := map[string]bool{}
	for _, id := range resourcesOfType(doc, trailType) {
		trails[id] = true
	}
	out := map[string]any{}
	for k, v := range doc {
		out[k] = v
	}
	res := map[string]any{}
	for id, r := range doc["Resources"].(map[string]any) {
		if trails[id] {
			continue
		}
		v, err := replaceTrailRefs(r, byID, trails)
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", id, err)
		}
		if m, ok := v.(map[string]any); ok {
			if d := dropDependsOn(m["DependsOn"], trails); d != nil {
				m["DependsOn"] = d
			} else {
				delete(m, "DependsOn")
			}
		}
		res[id] = v
	}
	out["Resources"] = res
	if o, ok := doc["Outputs"]; ok {
		v, err := replaceTrailRefs(o, byID, trails)
		if err != nil {
			return nil, fmt.Errorf("outputs: %w", err)
		}
		out["Outputs"] = v
	}
	return json.Marshal(out)
}

func dropDependsOn(d any, trails map[string]bool) any {
	switch x := d.(type) {
	case string:
		if trails[x] {
			return nil
		}
		return x
	case []any:
		var keep []any
		for _, e := range x {
			if s, _ := e.(string); !trails[s] {
				keep = append(keep, e)
			}
		}
		if len(keep) == 0 {
			return nil
		}
		return keep
	}
	return d
}

var subVarRE = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

func replaceTrailRefs(v any, plans map[string]trailPlan, trails map[string]bool) (any, error) {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := replaceTrailRefs(e, plans, trails)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			if ref, ok := x["Ref"].(string); ok && trails[ref] {
				p, ok := plans[ref]
				if !ok {
					//lint:ignore ST1005 Ref is CloudFormation's intrinsic function, named as templates write it
					return nil, fmt.Errorf("Ref %s: the trail is not in the stack (its condition is false)", ref)
				}
				return p.name, nil
			}
			if ga, ok := x["Fn::GetAtt"]; ok {
				res, attr, err := getAttArgs(ga)
				if err == nil && trails[res] {
					return trailAttr(plans, res, attr)
				}
			}
			if sub, ok := x["Fn::Sub"]; ok {
				return replaceInSub(sub, plans, trails)
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := replaceTrailRefs(e, plans, trails)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

func trailAttr(plans map[string]trailPlan, res, attr string) (any, error) {
	p, ok := plans[res]
	if !ok {
		return nil, fmt.Errorf("Fn::GetAtt %s.%s: the trail is not in the stack (its condition is false)", res, attr)
	}
	switch attr {
	case "Arn":
		return p.arn, nil
	case "SnsTopicArn":
		if p.snsArn == nil {
			return nil, fmt.Errorf("Fn::GetAtt %s.SnsTopicArn: the trail has no SnsTopicName", res)
		}
		return p.snsArn, nil
	}
	return nil, fmt.Errorf("Fn::GetAtt %s.%s: AWS::CloudTrail::Trail has the attributes Arn and SnsTopicArn", res, attr)
}

// replaceInSub rewrites ${Trail}, ${Trail.Arn} and ${Trail.SnsTopicArn} in a Fn::Sub: the
// first two become text, the third a variable of the Sub.
func replaceInSub(sub any, plans map[string]trailPlan, trails map[string]bool) (any, error) {
	s, ok := sub.(string)
	vars := map[string]any{}
	if !ok {
		a, _ := sub.([]any)
		if len(a) != 2 {
			return map[string]any{"Fn::Sub": sub}, nil
		}
		s, _ = a[0].(string)
		vm, _ := a[1].(map[string]any)
		for k, v := range vm {
			r, err := replaceTrailRefs(v, plans, trails)
			if err != nil {
				return nil, err
			}
			vars[k] = r
		}
	}
	var err error
	s = subVarRE.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		res, attr, dotted := strings.Cut(name, ".")
		if !trails[res] || vars[name] != nil {
			return m
		}
		if !dotted {
			p, ok := plans[res]
			if !ok {
				err = fmt.Errorf("${%s}: the trail is not in the stack (its condition is false)", name)
				return m
			}
			return p.name
		}
		v, e := trailAttr(plans, res, attr)
		if e != nil {
			err = e
			return m
		}
		if text, isText := v.(string); isText {
			return text
		}
		local := res + attr + "OfTrail"
		vars[local] = v
		return "${" + local + "}"
	})
	if err != nil {
		return nil, err
	}
	if len(vars) == 0 {
		return map[string]any{"Fn::Sub": s}, nil
	}
	return map[string]any{"Fn::Sub": []any{s, vars}}, nil
}

// stackCaller is what the layer's own calls to moto need of a stack: its identity and the
// credentials of its last write (moto takes the account from the access key).
type stackCaller struct {
	account, region, name, id string
	auth                      http.Header
	host                      string
}

// stackResources reads the stack's resources from moto (DescribeStackResources).
func (p *Proxy) stackResources(s stackCaller) (map[string]resourceRef, error) {
	resp, out, err := p.motoCall(s.auth, s.host, url.Values{"Action": {"DescribeStackResources"}, "Version": {"2010-05-15"}, "StackName": {s.id}})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("DescribeStackResources: HTTP %d: %s", resp.StatusCode, xmlText(out, "Message"))
	}
	var doc struct {
		Members []struct {
			LogicalID  string `xml:"LogicalResourceId"`
			PhysicalID string `xml:"PhysicalResourceId"`
			Type       string `xml:"ResourceType"`
		} `xml:"DescribeStackResourcesResult>StackResources>member"`
	}
	if err := xml.Unmarshal(out, &doc); err != nil {
		return nil, err
	}
	m := map[string]resourceRef{}
	for _, r := range doc.Members {
		m[r.LogicalID] = resourceRef{typ: r.Type, physicalID: r.PhysicalID}
	}
	return m, nil
}

// desiredTrail is a trail as the template wants it, resolved.
type desiredTrail struct {
	plan      trailPlan
	create    map[string]any // the CreateTrail input (Name, S3BucketName, ... without TagsList)
	logging   bool
	selectors map[string]any // PutEventSelectors input without TrailName; nil: none given
	tags      map[string]string
}

// resolveTrails resolves the properties of the trails of a write against the stack's
// resources in moto.
func (p *Proxy) resolveTrails(s stackCaller, doc map[string]any, w *write) ([]desiredTrail, *StackFailure) {
	if len(w.trails) == 0 {
		return nil, nil
	}
	fail := func(id string, err error) *StackFailure {
		return &StackFailure{LogicalID: id, ResourceType: trailType, Reason: err.Error()}
	}
	env, err := newEvalEnv(doc, s.account, s.region, s.name, s.id, w.paramMap())
	if err != nil {
		return nil, fail(w.trails[0].logicalID, err)
	}
	env.resources, err = p.stackResources(s)
	if err != nil {
		return nil, fail(w.trails[0].logicalID, err)
	}
	for _, pl := range w.trails {
		env.resources[pl.logicalID] = resourceRef{typ: trailType, physicalID: pl.name, attrs: map[string]string{"Arn": pl.arn}}
	}
	resources, _ := doc["Resources"].(map[string]any)
	var out []desiredTrail
	for _, pl := range w.trails {
		res, _ := resources[pl.logicalID].(map[string]any)
		pv, err := env.eval(res["Properties"])
		if err != nil {
			return nil, fail(pl.logicalID, err)
		}
		props, _ := pv.(map[string]any)
		d, err := trailInput(pl, props, s, w.tags)
		if err != nil {
			return nil, fail(pl.logicalID, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// trailInput maps the resource's properties (AWS::CloudTrail::Trail, AWS CloudFormation
// Template Reference) to CloudTrail's API.
func trailInput(pl trailPlan, props map[string]any, s stackCaller, stackTags [][2]string) (desiredTrail, error) {
	d := desiredTrail{plan: pl, create: map[string]any{"Name": pl.name}, tags: map[string]string{}}
	// Required by the resource provider schema: S3BucketName and IsLogging.
	bucket, ok := props["S3BucketName"].(string)
	if !ok || bucket == "" {
		//lint:ignore ST1005 CloudFormation's own words, as its stack events say them
		return d, fmt.Errorf("Properties validation failed: required key [S3BucketName] not found")
	}
	d.create["S3BucketName"] = bucket
	lv, ok := props["IsLogging"]
	if !ok {
		//lint:ignore ST1005 CloudFormation's own words, as its stack events say them
		return d, fmt.Errorf("Properties validation failed: required key [IsLogging] not found")
	}
	var err error
	if d.logging, err = boolOf("IsLogging", lv); err != nil {
		return d, err
	}
	for _, k := range []string{"IncludeGlobalServiceEvents", "IsMultiRegionTrail", "EnableLogFileValidation", "IsOrganizationTrail"} {
		if v, ok := props[k]; ok {
			b, err := boolOf(k, v)
			if err != nil {
				return d, err
			}
			d.create[k] = b
		}
	}
	for cfn, api := range map[string]string{"S3KeyPrefix": "S3KeyPrefix", "CloudWatchLogsLogGroupArn": "CloudWatchLogsLogGroupArn",
		"CloudWatchLogsRoleArn": "CloudWatchLogsRoleArn", "KMSKeyId": "KmsKeyId"} {
		if v, ok := props[cfn]; ok {
			d.create[api] = scalarText(v)
		}
	}
	if v, ok := props["SnsTopicName"]; ok {
		topic := scalarText(v)
		if strings.HasPrefix(topic, "arn:") {
			// CloudTrail takes a name or an ARN; moto takes a name and builds the ARN in the
			// trail's account and region.
			parts := strings.Split(topic, ":")
			if len(parts) != 6 || parts[3] != s.region || parts[4] != s.account {
				return d, fmt.Errorf("SnsTopicName %s: the local world makes trails notify topics of their own account and region only", topic)
			}
			topic = parts[5]
		}
		d.create["SnsTopicName"] = topic
	}
	if v, ok := props["EventSelectors"]; ok {
		d.selectors = map[string]any{"EventSelectors": v}
	} else if v, ok := props["AdvancedEventSelectors"]; ok {
		d.selectors = map[string]any{"AdvancedEventSelectors": v}
	}
	if _, ok := props["InsightSelectors"]; ok {
		return d, fmt.Errorf("InsightSelectors are not played by the local world's CloudFormation layer")
	}
	for _, kv := range stackTags {
		d.tags[kv[0]] = kv[1]
	}
	if tl, ok := props["Tags"].([]any); ok {
		for _, t := range tl {
			m, _ := t.(map[string]any)
			d.tags[scalarText(m["Key"])] = scalarText(m["Value"])
		}
	}
	return d, nil
}

func boolOf(name string, v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		if b, err := strconv.ParseBool(x); err == nil && (strings.EqualFold(x, "true") || strings.EqualFold(x, "false")) {
			return b, nil
		}
	}
	return false, fmt.Errorf("%s: %v is not a Boolean", name, v)
}

// syncTrails makes the stack's trails what want says (nil: none), changing, creating and
// deleting through moto's CloudTrail API, and returns the trails the stack has afterwards.
func (p *Proxy) syncTrails(s stackCaller, want []desiredTrail, live map[string]liveTrail) (map[string]liveTrail, *StackFailure) {
	now := map[string]liveTrail{}
	for k, v := range live {
		now[k] = v
	}
	var replaced []liveTrail
	for _, d := range want {
		id := d.plan.logicalID
		fail := func(err error) *StackFailure {
			return &StackFailure{LogicalID: id, ResourceType: trailType, Reason: err.Error()}
		}
		cur, exists := now[id]
		if exists && cur.name == d.plan.name {
			in := map[string]any{}
			for k, v := range d.create {
				in[k] = v
			}
			// An update sends every property: one left out of the template goes back to
			// CloudTrail's default (CreateTrail: global service events included, one region,
			// no validation, no topic, no prefix).
			for k, def := range map[string]any{"IncludeGlobalServiceEvents": true, "IsMultiRegionTrail": false,
				"EnableLogFileValidation": false, "SnsTopicName": "", "S3KeyPrefix": ""} {
				if _, ok := in[k]; !ok {
					in[k] = def
				}
			}
			if _, err := p.cloudtrail(s, "UpdateTrail", in); err != nil {
				return now, fail(err)
			}
			if err := p.retag(s, d); err != nil {
				return now, fail(err)
			}
		} else {
			if _, err := p.cloudtrail(s, "GetTrail", map[string]any{"Name": d.plan.name}); err == nil {
				//lint:ignore ST1005 CloudFormation's own words, as its stack events say them
				return now, fail(fmt.Errorf("Trail %s already exists (Service: CloudTrail, Status Code: 400, Error Code: TrailAlreadyExistsException)", d.plan.name))
			}
			in := map[string]any{}
			for k, v := range d.create {
				in[k] = v
			}
			if len(d.tags) > 0 {
				in["TagsList"] = tagList(d.tags)
			}
			if _, err := p.cloudtrail(s, "CreateTrail", in); err != nil {
				return now, fail(err)
			}
			if exists {
				replaced = append(replaced, cur)
			}
			now[id] = liveTrail{name: d.plan.name, arn: d.plan.arn}
		}
		action := "StopLogging"
		if d.logging {
			action = "StartLogging"
		}
		// By name: moto 5.2.1's start_logging and stop_logging look the trail up by name only.
		if _, err := p.cloudtrail(s, action, map[string]any{"Name": d.plan.name}); err != nil {
			return now, fail(err)
		}
		sel := d.selectors
		if sel == nil && exists {
			// Selectors taken out of the template: the default of a trail, all management
			// events ("Logging management events", AWS CloudTrail User Guide).
			sel = map[string]any{"EventSelectors": []any{map[string]any{"ReadWriteType": "All", "IncludeManagementEvents": true}}}
		}
		if sel != nil {
			in := map[string]any{"TrailName": d.plan.name}
			for k, v := range sel {
				in[k] = v
			}
			if _, err := p.cloudtrail(s, "PutEventSelectors", in); err != nil {
				return now, fail(err)
			}
		}
	}
	wanted := map[string]bool{}
	for _, d := range want {
		wanted[d.plan.logicalID] = true
	}
	var gone []string
	for id := range now {
		if !wanted[id] {
			gone = append(gone, id)
		}
	}
	sort.Strings(gone)
	for _, id := range gone {
		replaced = append(replaced, now[id])
		delete(now, id)
	}
	for _, t := range replaced {
		if _, err := p.cloudtrail(s, "DeleteTrail", map[string]any{"Name": t.name}); err != nil && !strings.Contains(err.Error(), "TrailNotFound") {
			return now, &StackFailure{LogicalID: t.name, ResourceType: trailType, Reason: err.Error()}
		}
	}
	return now, nil
}

// retag makes the trail's tags the wanted ones.
func (p *Proxy) retag(s stackCaller, d desiredTrail) error {
	out, err := p.cloudtrail(s, "ListTags", map[string]any{"ResourceIdList": []string{d.plan.arn}})
	if err != nil {
		return err
	}
	var doc struct {
		ResourceTagList []struct {
			TagsList []struct{ Key, Value string }
		}
	}
	_ = json.Unmarshal(out, &doc)
	var drop []any
	for _, r := range doc.ResourceTagList {
		for _, t := range r.TagsList {
			if _, keep := d.tags[t.Key]; !keep {
				drop = append(drop, map[string]any{"Key": t.Key, "Value": t.Value})
			}
		}
	}
	if len(drop) > 0 {
		if _, err := p.cloudtrail(s, "RemoveTags", map[string]any{"ResourceId": d.plan.arn, "TagsList": drop}); err != nil {
			return err
		}
	}
	if len(d.tags) > 0 {
		if _, err := p.cloudtrail(s, "AddTags", map[string]any{"ResourceId": d.plan.arn, "TagsList": tagList(d.tags)}); err != nil {
			return err
		}
	}
	return nil
}

func tagList(tags map[string]string) []any {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]any, 0, len(keys))
	for _, k := range keys {
		out = append(out, map[string]any{"Key": k, "Value": tags[k]})
	}
	return out
}

var accessKeyOfAuth = regexp.MustCompile(`Credential=([^/,\s]+)/`)

// cloudtrail calls moto's CloudTrail API (JSON 1.1) as the stack's caller, in its region. An
// error's text is CloudTrail's code and message, as a stack event quotes them.
func (p *Proxy) cloudtrail(s stackCaller, action string, in any) ([]byte, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, p.upstream.String()+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	akid := motoReaderKey
	if m := accessKeyOfAuth.FindStringSubmatch(s.auth.Get("Authorization")); m != nil {
		akid = m[1]
	}
	// moto routes a call by the service and region of the credential scope, and takes the
	// account from the access key; it checks no signature.
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+akid+"/20260101/"+s.region+"/cloudtrail/aws4_request, SignedHeaders=host, Signature=0")
	if t := s.auth.Get("X-Amz-Security-Token"); t != "" {
		req.Header.Set("X-Amz-Security-Token", t)
	}
	req.Header.Set("X-Amz-Target", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."+action)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(out, &e)
		code := e.Type[strings.LastIndex(e.Type, "#")+1:]
		if code == "" {
			code = resp.Header.Get("X-Amzn-Errortype")
		}
		msg := e.Message
		if msg == "" {
			msg = strings.TrimSpace(string(out))
		}
		return nil, fmt.Errorf("%s (Service: CloudTrail, Status Code: %d, Error Code: %s)", html.UnescapeString(msg), resp.StatusCode, code)
	}
	return out, nil
}
