package localworld

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/iampolicy"
)

// Rule is an EventBridge rule of deploy/template.yaml that routes events to an intake Lambda.
type Rule struct {
	Name       string // the logical id
	DefaultBus bool   // on the default bus; else on the onboarder's custom bus
	Pattern    string // the event pattern, as JSON
	Handler    string // the handler the target names (accountvending, trailguard, sweep, ...)
}

// TemplateValues resolve !Ref, !Sub and !GetAtt when reading the deployment template.
type TemplateValues struct {
	Region  string
	Account string
	Params  map[string]string // overrides of parameter defaults
	// Refs and Attrs are the values of resources: Refs by logical id (!Ref X), Attrs by
	// "X.Attr" (!GetAtt X.Attr, ${X.Attr}). A resource not given resolves to its logical id.
	Refs  map[string]string
	Attrs map[string]string
}

// ReadRules reads the rules with an EventPattern from a CloudFormation/SAM template, skipping
// rules whose Condition is false for the given values. Short-form tags (!Ref, !GetAtt, !Sub,
// ...) are read by walking yaml.Node.
func ReadRules(file string, vals TemplateValues) ([]Rule, error) {
	t, res, err := loadTemplate(file, vals)
	if err != nil {
		return nil, err
	}
	handlerOf := handlers(res)
	var rules []Rule
	for i := 0; i+1 < len(res.Content); i += 2 {
		id, r := res.Content[i].Value, res.Content[i+1]
		if ty := get(r, "Type"); ty == nil || ty.Value != "AWS::Events::Rule" {
			continue
		}
		if c := get(r, "Condition"); c != nil && !t.condition(c.Value) {
			continue
		}
		props := get(r, "Properties")
		pat := get(props, "EventPattern")
		if pat == nil {
			continue
		}
		var pattern any
		if pat.Kind == yaml.ScalarNode {
			if err := json.Unmarshal([]byte(pat.Value), &pattern); err != nil {
				return nil, fmt.Errorf("rule %s: EventPattern: %w", id, err)
			}
		} else {
			pattern = t.value(pat)
		}
		pj, _ := json.Marshal(pattern)
		rule := Rule{Name: id, Pattern: string(pj), DefaultBus: true}
		if bus := get(props, "EventBusName"); bus != nil {
			v := t.value(bus)
			rule.DefaultBus = v == "default" || v == nil
		}
		if targets := get(props, "Targets"); targets != nil {
			for _, tg := range targets.Content {
				if fn := refTarget(get(tg, "Arn")); fn != "" {
					rule.Handler = handlerOf[fn]
				}
			}
		}
		rules = append(rules, rule)
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].Name < rules[j].Name })
	return rules, nil
}

// ReadInvokeRetries reads the asynchronous invocation settings of the template's functions
// (AWS::Lambda::EventInvokeConfig): for each handler, how many times Lambda retries an
// invocation that failed before it sends the event to the OnFailure destination.
func ReadInvokeRetries(file string, vals TemplateValues) (map[string]int, error) {
	_, res, err := loadTemplate(file, vals)
	if err != nil {
		return nil, err
	}
	handlerOf := handlers(res)
	out := map[string]int{}
	for i := 0; i+1 < len(res.Content); i += 2 {
		id, r := res.Content[i].Value, res.Content[i+1]
		if ty := get(r, "Type"); ty == nil || ty.Value != "AWS::Lambda::EventInvokeConfig" {
			continue
		}
		props := get(r, "Properties")
		fn, n := refTarget(get(props, "FunctionName")), get(props, "MaximumRetryAttempts")
		if handlerOf[fn] == "" || n == nil {
			return nil, fmt.Errorf("%s: %s names no function of the template or no MaximumRetryAttempts", file, id)
		}
		v, err := strconv.Atoi(n.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: MaximumRetryAttempts %q: %w", file, id, n.Value, err)
		}
		out[handlerOf[fn]] = v
	}
	return out, nil
}

// handlers maps the template's functions, by logical id, to the handlers they run.
func handlers(res *yaml.Node) map[string]string {
	handlerOf := map[string]string{} // function logical id -> handler name
	for i := 0; i+1 < len(res.Content); i += 2 {
		id, r := res.Content[i].Value, res.Content[i+1]
		if ty := get(r, "Type"); ty != nil && (ty.Value == "AWS::Serverless::Function" || ty.Value == "AWS::Lambda::Function") {
			if cu := get(get(r, "Properties"), "CodeUri"); cu != nil && cu.Kind == yaml.ScalarNode {
				handlerOf[id] = strings.TrimSuffix(path.Base(cu.Value), ".zip")
			} else {
				handlerOf[id] = strings.ToLower(strings.TrimSuffix(id, "Function"))
			}
		}
	}
	return handlerOf
}

// loadTemplate reads a template and returns its resolver and its Resources.
func loadTemplate(file string, vals TemplateValues) (*tmpl, *yaml.Node, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil, fmt.Errorf("%s: empty", file)
	}
	t := &tmpl{vals: vals, params: map[string]string{}, lists: map[string]bool{}}
	root := doc.Content[0]
	for k, v := range vals.Params {
		t.params[k] = v
	}
	if ps := get(root, "Parameters"); ps != nil {
		for i := 0; i+1 < len(ps.Content); i += 2 {
			name := ps.Content[i].Value
			if typ := get(ps.Content[i+1], "Type"); typ != nil && typ.Value == "CommaDelimitedList" {
				t.lists[name] = true
			}
			if _, set := t.params[name]; !set {
				if d := get(ps.Content[i+1], "Default"); d != nil {
					t.params[name] = d.Value
				}
			}
		}
	}
	t.conditions = get(root, "Conditions")
	res := get(root, "Resources")
	if res == nil {
		return nil, nil, fmt.Errorf("%s: no Resources", file)
	}
	return t, res, nil
}

// ResourcePolicy reads the policy document a resource of a template holds in property (an
// AWS::Organizations::ResourcePolicy's Content, say), resolved for vals as ResourceProperties
// does, and parses it as kind. It returns the document and its JSON.
func ResourcePolicy(file, logicalID, property string, kind iampolicy.Kind, vals TemplateValues) (iampolicy.Document, []byte, error) {
	props, err := ResourceProperties(file, logicalID, vals)
	if err != nil {
		return iampolicy.Document{}, nil, err
	}
	b, err := json.Marshal(props[property])
	if err != nil {
		return iampolicy.Document{}, nil, err
	}
	doc, err := iampolicy.Parse(b, kind)
	if err != nil {
		return iampolicy.Document{}, b, fmt.Errorf("%s: %s.%s is not %s: %w", file, logicalID, property, kind, err)
	}
	return doc, b, nil
}

// ResourceProperties reads one resource of a template and returns its Properties with the
// intrinsics resolved for vals (Ref, Sub with or without variables, Join, Split, If,
// Condition, GetAtt from vals.Attrs), as CloudFormation would hand them to the resource.
func ResourceProperties(file, logicalID string, vals TemplateValues) (map[string]any, error) {
	t, res, err := loadTemplate(file, vals)
	if err != nil {
		return nil, err
	}
	r := get(res, logicalID)
	if r == nil {
		return nil, fmt.Errorf("%s: no resource %s", file, logicalID)
	}
	props, _ := t.value(get(r, "Properties")).(map[string]any)
	if props == nil {
		return nil, fmt.Errorf("%s: resource %s has no Properties", file, logicalID)
	}
	return props, nil
}

// refTarget returns the logical id named by !GetAtt X.Arn, !Ref X or their long forms.
func refTarget(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	switch n.Tag {
	case "!GetAtt":
		if n.Kind == yaml.ScalarNode {
			return strings.SplitN(n.Value, ".", 2)[0]
		}
		if len(n.Content) > 0 {
			return n.Content[0].Value
		}
	case "!Ref":
		return n.Value
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
		switch n.Content[0].Value {
		case "Fn::GetAtt":
			return refTarget(&yaml.Node{Tag: "!GetAtt", Kind: n.Content[1].Kind, Value: n.Content[1].Value, Content: n.Content[1].Content})
		case "Ref":
			return n.Content[1].Value
		}
	}
	return ""
}

type tmpl struct {
	vals       TemplateValues
	params     map[string]string
	lists      map[string]bool // CommaDelimitedList parameters: !Ref gives a list
	conditions *yaml.Node
	locals     map[string]any // the variables of the !Sub being resolved
}

func get(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func (t *tmpl) ref(name string) any {
	switch name {
	case "AWS::Region":
		return t.vals.Region
	case "AWS::AccountId":
		return t.vals.Account
	case "AWS::Partition":
		return "aws"
	case "AWS::URLSuffix":
		return "amazonaws.com"
	case "AWS::NoValue":
		return noValue{}
	}
	if v, ok := t.locals[name]; ok {
		return v
	}
	if v, ok := t.params[name]; ok {
		if t.lists[name] {
			var out []any
			for _, e := range strings.Split(v, ",") {
				out = append(out, strings.TrimSpace(e))
			}
			return out
		}
		return v
	}
	if v, ok := t.vals.Refs[name]; ok {
		return v
	}
	if v, ok := t.vals.Attrs[name]; ok { // ${X.Attr} in a !Sub
		return v
	}
	return name // a resource: its name is as good as anything here
}

func (t *tmpl) getAtt(n *yaml.Node) any {
	key := n.Value
	if n.Kind == yaml.SequenceNode && len(n.Content) == 2 {
		key = n.Content[0].Value + "." + n.Content[1].Value
	}
	if v, ok := t.vals.Attrs[key]; ok {
		return v
	}
	return key
}

// noValue is what !Ref AWS::NoValue (and an !If that picks it) resolves to: the element is
// left out of its list or map.
type noValue struct{}

// value converts a node to a Go value, resolving the intrinsics a pattern or a bus name uses.
func (t *tmpl) value(n *yaml.Node) any {
	switch n.Tag {
	case "!Ref":
		return t.ref(n.Value)
	case "!Sub":
		s := n.Value
		if n.Kind == yaml.SequenceNode && len(n.Content) > 0 {
			s = n.Content[0].Value
			if len(n.Content) == 2 { // !Sub [string, {Var: value}]
				vars, _ := t.value(n.Content[1]).(map[string]any)
				saved := t.locals
				t.locals = vars
				defer func() { t.locals = saved }()
			}
		}
		return t.sub(s)
	case "!Split":
		if n.Kind == yaml.SequenceNode && len(n.Content) == 2 {
			var out []any
			for _, e := range strings.Split(fmt.Sprint(t.value(n.Content[1])), n.Content[0].Value) {
				out = append(out, e)
			}
			return out
		}
	case "!Condition":
		return t.condition(n.Value)
	case "!GetAtt":
		return t.getAtt(n)
	case "!If":
		if n.Kind == yaml.SequenceNode && len(n.Content) == 3 {
			if t.condition(n.Content[0].Value) {
				return t.value(n.Content[1])
			}
			return t.value(n.Content[2])
		}
	case "!Join":
		if n.Kind == yaml.SequenceNode && len(n.Content) == 2 {
			var parts []string
			items, _ := t.value(n.Content[1]).([]any) // a list, or a list parameter
			for _, v := range items {
				parts = append(parts, fmt.Sprint(v))
			}
			return strings.Join(parts, n.Content[0].Value)
		}
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		// Other short forms (!GetAtt, !Join, ...) do not occur in patterns; keep the text.
		return n.Value
	}
	switch n.Kind {
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return n.Value
		}
		return v
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			if v := t.value(c); v != (noValue{}) {
				out = append(out, v)
			}
		}
		return out
	case yaml.MappingNode:
		if len(n.Content) == 2 {
			switch n.Content[0].Value {
			case "Ref":
				return t.ref(n.Content[1].Value)
			case "Fn::Sub", "Fn::Split", "Fn::Join":
				return t.value(&yaml.Node{Tag: "!" + strings.TrimPrefix(n.Content[0].Value, "Fn::"), Kind: n.Content[1].Kind,
					Value: n.Content[1].Value, Content: n.Content[1].Content})
			case "Fn::GetAtt":
				return t.getAtt(n.Content[1])
			case "Fn::If":
				return t.value(&yaml.Node{Tag: "!If", Kind: n.Content[1].Kind, Content: n.Content[1].Content})
			}
		}
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if v := t.value(n.Content[i+1]); v != (noValue{}) {
				out[n.Content[i].Value] = v
			}
		}
		return out
	case yaml.AliasNode:
		return t.value(n.Alias)
	}
	return nil
}

func (t *tmpl) sub(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(fmt.Sprint(t.ref(s[i+2 : i+j])))
		s = s[i+j+1:]
	}
}

// condition evaluates a named condition: Equals, Not, And, Or, Condition over Refs.
// Unknown forms count as true.
func (t *tmpl) condition(name string) bool {
	c := get(t.conditions, name)
	if c == nil {
		return true
	}
	return t.cond(c)
}

func (t *tmpl) cond(n *yaml.Node) bool {
	tag, args := n.Tag, n.Content
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 && strings.HasPrefix(n.Content[0].Value, "Fn::") {
		tag, args = "!"+strings.TrimPrefix(n.Content[0].Value, "Fn::"), n.Content[1].Content
		if n.Content[0].Value == "Condition" {
			return t.condition(n.Content[1].Value)
		}
	}
	switch tag {
	case "!Equals":
		if len(args) == 2 {
			return fmt.Sprint(t.value(args[0])) == fmt.Sprint(t.value(args[1]))
		}
	case "!Not":
		if len(args) == 1 {
			return !t.cond(args[0])
		}
	case "!And":
		for _, a := range args {
			if !t.cond(a) {
				return false
			}
		}
		return true
	case "!Or":
		for _, a := range args {
			if t.cond(a) {
				return true
			}
		}
		return false
	case "!Condition":
		return t.condition(n.Value)
	}
	return true
}
