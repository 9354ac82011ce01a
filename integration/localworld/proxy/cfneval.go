package proxy

// A strict reading of CloudFormation templates, for the work the layer does itself where moto
// does not (trails: trails.go). A template is read into plain values with every short-form
// intrinsic (!Ref, !GetAtt, !Sub, ...) in its long form, as CloudFormation reads it
// ("Intrinsic function reference", AWS CloudFormation User Guide); eval resolves an
// expression against the stack's parameters, pseudo parameters, conditions and the physical
// ids of its resources. What it cannot resolve is an error that names the expression, never a
// guess: the operation then fails with that reason, so that a test learns at once that the
// local world does not play its template (integration/localworld/rules.go reads templates
// leniently for another purpose: rules and policies of the project's own templates).

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// parseTemplate reads a YAML or JSON template into plain values.
func parseTemplate(b []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("empty template")
	}
	v, err := treeOf(doc.Content[0])
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the template is not a mapping")
	}
	return m, nil
}

// treeOf converts a node, turning a tag !X into {"Fn::X": ...} (!Ref into {"Ref": ...},
// !Condition into {"Condition": ...}, the string form of !GetAtt into its list form).
func treeOf(n *yaml.Node) (any, error) {
	if n.Kind == yaml.AliasNode {
		return treeOf(n.Alias)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		name := n.Tag[1:]
		plain := *n
		plain.Tag = ""
		if n.Kind == yaml.ScalarNode {
			plain.Tag = "!!str"
		}
		inner, err := treeOf(&plain)
		if err != nil {
			return nil, err
		}
		switch name {
		case "Ref", "Condition":
			return map[string]any{name: inner}, nil
		case "GetAtt":
			if s, ok := inner.(string); ok {
				res, attr, _ := strings.Cut(s, ".")
				inner = []any{res, attr}
			}
		}
		return map[string]any{"Fn::" + name: inner}, nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int":
			if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
				return i, nil
			}
		case "!!float":
			if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
				return f, nil
			}
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err == nil {
				return b, nil
			}
		case "!!null":
			return nil, nil
		}
		return n.Value, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := treeOf(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := treeOf(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[n.Content[i].Value] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// resourceRef is what eval knows of a resource: its type and physical id (what Ref gives),
// and attributes it can answer besides those derived from the type.
type resourceRef struct {
	typ, physicalID string
	attrs           map[string]string
}

// evalEnv resolves expressions for one stack.
type evalEnv struct {
	account, region, stackName, stackID string
	params                              map[string]any // parameter values (a list for list types)
	conditions                          map[string]any // the template's Conditions
	mappings                            map[string]any
	resources                           map[string]resourceRef // by logical id; nil: no resource may be referred to
	condCache                           map[string]bool
	locals                              map[string]any // the variables of the Fn::Sub being resolved
}

// noValue is AWS::NoValue: the property or element is left out.
type noValue struct{}

func newEvalEnv(doc map[string]any, account, region, stackName, stackID string, given map[string]string) (*evalEnv, error) {
	e := &evalEnv{account: account, region: region, stackName: stackName, stackID: stackID,
		params: map[string]any{}, condCache: map[string]bool{}}
	e.conditions, _ = doc["Conditions"].(map[string]any)
	e.mappings, _ = doc["Mappings"].(map[string]any)
	params, _ := doc["Parameters"].(map[string]any)
	for name, def := range params {
		d, _ := def.(map[string]any)
		val, ok := given[name]
		if !ok {
			dv, has := d["Default"]
			if !has {
				return nil, fmt.Errorf("parameter %s has no value and no default", name)
			}
			val = scalarText(dv)
		}
		typ, _ := d["Type"].(string)
		if typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<") {
			var list []any
			for _, s := range strings.Split(val, ",") {
				list = append(list, strings.TrimSpace(s))
			}
			e.params[name] = list
		} else {
			e.params[name] = val
		}
	}
	return e, nil
}

func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// eval resolves v. A result of noValue{} means "leave it out".
func (e *evalEnv) eval(v any) (any, error) {
	switch x := v.(type) {
	case []any:
		out := make([]any, 0, len(x))
		for _, el := range x {
			r, err := e.eval(el)
			if err != nil {
				return nil, err
			}
			if _, skip := r.(noValue); !skip {
				out = append(out, r)
			}
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return e.intrinsic(k, arg)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, el := range x {
			r, err := e.eval(el)
			if err != nil {
				return nil, err
			}
			if _, skip := r.(noValue); !skip {
				out[k] = r
			}
		}
		return out, nil
	}
	return v, nil
}

func (e *evalEnv) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			//lint:ignore ST1005 Ref is CloudFormation's intrinsic function, named as templates write it
			return nil, fmt.Errorf("Ref of a non-string %v", arg)
		}
		return e.ref(name)
	case "Fn::GetAtt":
		res, attr, err := getAttArgs(arg)
		if err != nil {
			return nil, err
		}
		return e.getAtt(res, attr)
	case "Fn::Sub":
		return e.sub(arg)
	case "Fn::Join":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, fmt.Errorf("Fn::Join takes [delimiter, list]")
		}
		delim, _ := a[0].(string)
		items, err := e.eval(a[1])
		if err != nil {
			return nil, err
		}
		list, ok := items.([]any)
		if !ok {
			return nil, fmt.Errorf("Fn::Join of a non-list")
		}
		parts := make([]string, len(list))
		for i, it := range list {
			parts[i] = scalarText(it)
		}
		return strings.Join(parts, delim), nil
	case "Fn::Select":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, fmt.Errorf("Fn::Select takes [index, list]")
		}
		iv, err := e.eval(a[0])
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(scalarText(iv))
		if err != nil {
			return nil, fmt.Errorf("Fn::Select index %v", iv)
		}
		lv, err := e.eval(a[1])
		if err != nil {
			return nil, err
		}
		list, ok := lv.([]any)
		if !ok || i < 0 || i >= len(list) {
			return nil, fmt.Errorf("Fn::Select index %d out of range", i)
		}
		return list[i], nil
	case "Fn::Split":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, fmt.Errorf("Fn::Split takes [delimiter, string]")
		}
		s, err := e.eval(a[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(scalarText(s), scalarText(a[0])) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::If":
		a, ok := arg.([]any)
		if !ok || len(a) != 3 {
			return nil, fmt.Errorf("Fn::If takes [condition, then, else]")
		}
		c, err := e.condition(scalarText(a[0]))
		if err != nil {
			return nil, err
		}
		if c {
			return e.eval(a[1])
		}
		return e.eval(a[2])
	case "Fn::FindInMap":
		a, ok := arg.([]any)
		if !ok || len(a) != 3 {
			return nil, fmt.Errorf("Fn::FindInMap takes [map, key, key]")
		}
		var keys [3]string
		for i := range a {
			k, err := e.eval(a[i])
			if err != nil {
				return nil, err
			}
			keys[i] = scalarText(k)
		}
		m1, _ := e.mappings[keys[0]].(map[string]any)
		m2, _ := m1[keys[1]].(map[string]any)
		v, ok := m2[keys[2]]
		if !ok {
			return nil, fmt.Errorf("Fn::FindInMap %v: no such entry", keys)
		}
		return v, nil
	case "Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not", "Condition":
		return e.cond(map[string]any{fn: arg})
	}
	return nil, fmt.Errorf("%s is not played by the local world's CloudFormation layer", fn)
}

func getAttArgs(arg any) (string, string, error) {
	switch a := arg.(type) {
	case string:
		res, attr, ok := strings.Cut(a, ".")
		if ok {
			return res, attr, nil
		}
	case []any:
		if len(a) == 2 {
			res, ok1 := a[0].(string)
			attr, ok2 := a[1].(string)
			if ok1 && ok2 {
				return res, attr, nil
			}
		}
	}
	return "", "", fmt.Errorf("Fn::GetAtt %v: want [resource, attribute]", arg)
}

func (e *evalEnv) ref(name string) (any, error) {
	switch name {
	case "AWS::AccountId":
		return e.account, nil
	case "AWS::Region":
		return e.region, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::StackName":
		return e.stackName, nil
	case "AWS::StackId":
		return e.stackID, nil
	case "AWS::NoValue":
		return noValue{}, nil
	}
	if v, ok := e.locals[name]; ok {
		return v, nil
	}
	if v, ok := e.params[name]; ok {
		return v, nil
	}
	if r, ok := e.resources[name]; ok {
		return r.physicalID, nil
	}
	if e.resources == nil {
		//lint:ignore ST1005 Ref is CloudFormation's intrinsic function, named as templates write it
		return nil, fmt.Errorf("Ref %s: only parameters can be read here", name)
	}
	//lint:ignore ST1005 Ref is CloudFormation's intrinsic function, named as templates write it
	return nil, fmt.Errorf("Ref %s: no such parameter, or no such resource in the stack", name)
}

// getAtt answers the attributes of the resource types the layer meets, derived from the
// physical id as AWS documents each return value ("Return values" of AWS::S3::Bucket and
// AWS::SNS::Topic, AWS CloudFormation Template Reference).
func (e *evalEnv) getAtt(res, attr string) (any, error) {
	if v, ok := e.locals[res+"."+attr]; ok {
		return v, nil
	}
	r, ok := e.resources[res]
	if !ok {
		return nil, fmt.Errorf("Fn::GetAtt %s.%s: no such resource in the stack", res, attr)
	}
	if v, ok := r.attrs[attr]; ok {
		return v, nil
	}
	switch r.typ + "." + attr {
	case "AWS::S3::Bucket.Arn":
		return "arn:aws:s3:::" + r.physicalID, nil
	case "AWS::S3::Bucket.DomainName":
		return r.physicalID + ".s3.amazonaws.com", nil
	case "AWS::S3::Bucket.RegionalDomainName":
		return r.physicalID + ".s3." + e.region + ".amazonaws.com", nil
	case "AWS::SNS::Topic.TopicArn":
		return r.physicalID, nil
	case "AWS::SNS::Topic.TopicName":
		return r.physicalID[strings.LastIndex(r.physicalID, ":")+1:], nil
	}
	return nil, fmt.Errorf("Fn::GetAtt %s.%s (%s) is not played by the local world's CloudFormation layer", res, attr, r.typ)
}

func (e *evalEnv) sub(arg any) (any, error) {
	s, ok := arg.(string)
	var vars map[string]any
	if !ok {
		a, isList := arg.([]any)
		if !isList || len(a) != 2 {
			return nil, fmt.Errorf("Fn::Sub takes a string or [string, variables]")
		}
		s, ok = a[0].(string)
		vm, isMap := a[1].(map[string]any)
		if !ok || !isMap {
			return nil, fmt.Errorf("Fn::Sub takes a string or [string, variables]")
		}
		vars = map[string]any{}
		for k, v := range vm {
			r, err := e.eval(v)
			if err != nil {
				return nil, err
			}
			vars[k] = r
		}
	}
	saved := e.locals
	e.locals = vars
	defer func() { e.locals = saved }()
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			return nil, fmt.Errorf("Fn::Sub %q: unclosed ${", s)
		}
		b.WriteString(s[:i])
		name := s[i+2 : i+j]
		s = s[i+j+1:]
		if strings.HasPrefix(name, "!") { // ${!Literal} is the text ${Literal}
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		var v any
		var err error
		if res, attr, dotted := strings.Cut(name, "."); dotted && !strings.HasPrefix(name, "AWS::") {
			v, err = e.getAtt(res, attr)
		} else {
			v, err = e.ref(name)
		}
		if err != nil {
			return nil, err
		}
		b.WriteString(scalarText(v))
	}
}

func (e *evalEnv) condition(name string) (bool, error) {
	if v, ok := e.condCache[name]; ok {
		return v, nil
	}
	c, ok := e.conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %s", name)
	}
	e.condCache[name] = false // a condition that refers to itself reads false, not forever
	v, err := e.cond(c)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	e.condCache[name] = v
	return v, nil
}

func (e *evalEnv) cond(c any) (bool, error) {
	m, ok := c.(map[string]any)
	if !ok || len(m) != 1 {
		if b, isBool := c.(bool); isBool {
			return b, nil
		}
		return false, fmt.Errorf("condition %v is not a function", c)
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Condition":
			return e.condition(scalarText(arg))
		case "Fn::Equals":
			if len(args) != 2 {
				return false, fmt.Errorf("Fn::Equals takes two values")
			}
			a, err := e.eval(args[0])
			if err != nil {
				return false, err
			}
			b, err := e.eval(args[1])
			if err != nil {
				return false, err
			}
			return canonical(a) == canonical(b), nil
		case "Fn::Not":
			if len(args) != 1 {
				return false, fmt.Errorf("Fn::Not takes one condition")
			}
			v, err := e.cond(args[0])
			return !v, err
		case "Fn::And", "Fn::Or":
			and := fn == "Fn::And"
			for _, a := range args {
				v, err := e.cond(a)
				if err != nil {
					return false, err
				}
				if v != and {
					return !and, nil
				}
			}
			return and, nil
		}
		return false, fmt.Errorf("%s is not a condition function", fn)
	}
	return false, nil
}

// canonical is a value as text, for comparisons (Fn::Equals compares strings: "true" equals
// true).
func canonical(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// resourceCondition reports whether a resource of the template is part of the stack.
func (e *evalEnv) resourceCondition(res map[string]any) (bool, error) {
	c, ok := res["Condition"]
	if !ok {
		return true, nil
	}
	return e.condition(scalarText(c))
}

// resourcesOfType lists the logical ids of a template's resources of one type, sorted.
func resourcesOfType(doc map[string]any, typ string) []string {
	res, _ := doc["Resources"].(map[string]any)
	var out []string
	for id, r := range res {
		if m, ok := r.(map[string]any); ok && m["Type"] == typ {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}
