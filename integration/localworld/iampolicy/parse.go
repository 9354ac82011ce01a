package iampolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The policy language versions IAM knows.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17" // the default when Version is left out
)

// MaxSCPSize is the largest service control policy AWS Organizations stores, in characters of
// the document without white space outside strings.
// https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html
const MaxSCPSize = 5120

var (
	// "prefix:Action", the prefix in lower case; wildcards in the action part.
	// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
	servicePrefix = regexp.MustCompile(`^[a-z0-9-]+$`)
	actionName    = regexp.MustCompile(`^[A-Za-z0-9*?]+$`)
	// "In IAM, the Sid value is limited to ASCII uppercase letters (A-Z), lowercase letters (a-z),
	// and numbers (0-9)."
	// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_sid.html
	sidPattern = regexp.MustCompile(`^[A-Za-z0-9]*$`)
	accountID  = regexp.MustCompile(`^[0-9]{12}$`)
)

// Parse reads a policy document of the given kind and checks it against the policy grammar
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html) and the
// rules of its kind. It is strict: an unknown or repeated element is an error, element names
// are case-sensitive, and every problem is reported (joined with errors.Join), each naming its
// place, as in
//
//	Statement[2].Action[0] "s3GetObject": an action must be "service:Action" or "*"
//
// A document with any problem yields the zero Document.
func Parse(doc []byte, kind Kind) (Document, error) {
	var raw json.RawMessage
	if err := json.Unmarshal(doc, &raw); err != nil {
		return Document{}, fmt.Errorf("not a JSON document: %w", err)
	}
	p := &parser{kind: kind}
	d := p.document(raw)
	if kind == SCP {
		// "All characters in your SCP count against its maximum size ... you can delete any
		// white space, such as space characters and line breaks that are outside quotation marks."
		// https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_syntax.html
		if n := MinifiedSize(doc); n > MaxSCPSize {
			p.fail("policy", "%d characters without white space; a service control policy may have at most %d", n, MaxSCPSize)
		}
	}
	if err := errors.Join(p.problems...); err != nil {
		return Document{}, err
	}
	return d, nil
}

// MinifiedSize is the length of a JSON document with the white space outside strings removed:
// the size AWS Organizations counts against MaxSCPSize.
func MinifiedSize(doc []byte) int {
	n, inString, escaped := 0, false, false
	for _, c := range doc {
		switch {
		case inString:
			n++
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == ' ', c == '\t', c == '\n', c == '\r':
		default:
			n++
			inString = c == '"'
		}
	}
	return n
}

// parser collects every problem of one document.
type parser struct {
	kind     Kind
	problems []error
}

func (p *parser) fail(place, format string, args ...any) {
	p.problems = append(p.problems, fmt.Errorf("%s: %s", place, fmt.Sprintf(format, args...)))
}

func (p *parser) failValue(place, value, format string, args ...any) {
	p.problems = append(p.problems, fmt.Errorf("%s %s: %s", place, strconv.Quote(value), fmt.Sprintf(format, args...)))
}

// member is one key and value of a JSON object, in document order.
type member struct {
	key   string
	value json.RawMessage
}

// object reads raw as a JSON object. A repeated key is a problem (encoding/json would keep the
// last one silently, which could drop a Deny statement unseen).
func (p *parser) object(place string, raw json.RawMessage) ([]member, bool) {
	if jsonType(raw) != "object" {
		p.fail(place, "must be a JSON object, not %s", jsonType(raw))
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the '{'; raw is valid JSON
		p.fail(place, "%v", err)
		return nil, false
	}
	var members []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			p.fail(place, "%v", err)
			return nil, false
		}
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			p.fail(place, "%v", err)
			return nil, false
		}
		if seen[key] {
			p.fail(place+"."+key, "appears twice; JSON parsers keep either one, so write it once")
			continue
		}
		seen[key] = true
		members = append(members, member{key: key, value: value})
	}
	return members, true
}

// jsonType names the JSON type of a valid JSON value.
func jsonType(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// stringList reads a string or a non-empty array of strings, calling check (when not nil) with
// the place and value of each item; a single string is item [0].
func (p *parser) stringList(place string, raw json.RawMessage, check func(at, value string)) []string {
	var items []json.RawMessage
	switch jsonType(raw) {
	case "string":
		items = []json.RawMessage{raw}
	case "array":
		_ = json.Unmarshal(raw, &items)
		if len(items) == 0 {
			p.fail(place, "must not be an empty array")
			return nil
		}
	default:
		p.fail(place, "must be a string or an array of strings, not %s", jsonType(raw))
		return nil
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		at := fmt.Sprintf("%s[%d]", place, i)
		s, ok := p.str(at, item)
		if !ok {
			continue
		}
		if check != nil {
			check(at, s)
		}
		out = append(out, s)
	}
	return out
}

// str reads a single string.
func (p *parser) str(place string, raw json.RawMessage) (string, bool) {
	var s string
	if jsonType(raw) != "string" || json.Unmarshal(raw, &s) != nil {
		p.fail(place, "must be a string, not %s", jsonType(raw))
		return "", false
	}
	return s, true
}

func (p *parser) document(raw json.RawMessage) Document {
	var d Document
	members, ok := p.object("policy", raw)
	if !ok {
		return d
	}
	var haveVersion, haveStatement bool
	for _, m := range members {
		switch m.key {
		case "Version":
			haveVersion = true
			d.Version = p.version(m.value)
		case "Id":
			d.ID, _ = p.str("Id", m.value)
		case "Statement":
			haveStatement = true
			d.Statements = p.statements(m.value)
		default:
			p.fail(m.key, "unknown element; a policy holds Version, Id and Statement (names are case-sensitive)")
		}
	}
	if !haveVersion && (p.kind == Identity || p.kind == SCP) {
		// "If you do not include a Version element, the value defaults to 2008-10-17", in which
		// policy variables are literal text.
		// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html
		p.fail("Version", "missing; AWS would read the policy as %q, in which policy variables are plain text: add \"Version\": %q", Version2008, Version2012)
	}
	if !haveStatement {
		p.fail("Statement", "missing; a policy needs at least one statement")
	}
	p.uniqueSids(d.Statements)
	return d
}

func (p *parser) version(raw json.RawMessage) string {
	v, ok := p.str("Version", raw)
	if ok && v != Version2012 && v != Version2008 {
		p.failValue("Version", v, "must be %q (or the older %q)", Version2012, Version2008)
	}
	return v
}

// statements reads the Statement element: one object or a non-empty array of them.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_statement.html
func (p *parser) statements(raw json.RawMessage) []Statement {
	switch jsonType(raw) {
	case "object":
		return []Statement{p.statement("Statement", raw)}
	case "array":
		var items []json.RawMessage
		_ = json.Unmarshal(raw, &items)
		if len(items) == 0 {
			p.fail("Statement", "must not be an empty array")
		}
		out := make([]Statement, 0, len(items))
		for i, item := range items {
			out = append(out, p.statement(fmt.Sprintf("Statement[%d]", i), item))
		}
		return out
	}
	p.fail("Statement", "must be an object or an array of objects, not %s", jsonType(raw))
	return nil
}

// uniqueSids checks that no Sid is used twice: "In IAM, the Sid value must be unique within a
// JSON policy." (reference_policies_elements_sid.html)
func (p *parser) uniqueSids(statements []Statement) {
	first := map[string]int{}
	for i, s := range statements {
		if s.Sid == "" {
			continue
		}
		if j, dup := first[s.Sid]; dup {
			p.failValue(fmt.Sprintf("Statement[%d].Sid", i), s.Sid, "already used by Statement[%d]; a Sid must be unique in the policy", j)
			continue
		}
		first[s.Sid] = i
	}
}

func (p *parser) statement(place string, raw json.RawMessage) Statement {
	var s Statement
	members, ok := p.object(place, raw)
	if !ok {
		return s
	}
	has := map[string]bool{}
	for _, m := range members {
		at := place + "." + m.key
		has[m.key] = true
		switch m.key {
		case "Sid":
			s.Sid = p.sid(at, m.value)
		case "Effect":
			s.Effect = p.effect(at, m.value)
		case "Principal":
			s.Principal = p.principals(at, m.value)
		case "NotPrincipal":
			s.NotPrincipal = p.principals(at, m.value)
		case "Action":
			s.Action = p.actions(at, m.value)
		case "NotAction":
			s.NotAction = p.actions(at, m.value)
		case "Resource":
			s.Resource = p.resources(at, m.value)
		case "NotResource":
			s.NotResource = p.resources(at, m.value)
		case "Condition":
			s.Condition = p.condition(at, m.value)
		default:
			p.fail(at, "unknown element; a statement holds Sid, Effect, Principal or NotPrincipal, Action or NotAction, Resource or NotResource, and Condition (names are case-sensitive)")
		}
	}
	p.statementShape(place, has)
	return s
}

// statementShape checks which elements a statement of this kind must, may and must not have.
func (p *parser) statementShape(place string, has map[string]bool) {
	if !has["Effect"] {
		p.fail(place, "Effect is missing; it must be \"Allow\" or \"Deny\"")
	}
	p.exactlyOne(place, has, "Action", "NotAction")
	switch p.kind {
	case Identity, SCP:
		// "You cannot use the Principal element in an identity-based policy"; SCPs have no
		// Principal element either (orgs_manage_policies_scps_syntax.html).
		for _, e := range []string{"Principal", "NotPrincipal"} {
			if has[e] {
				p.fail(place+"."+e, "not allowed in %s: it applies to the identity it is attached to", p.kind.withArticle())
			}
		}
		p.exactlyOne(place, has, "Resource", "NotResource")
	case Trust:
		p.exactlyOne(place, has, "Principal", "NotPrincipal")
		// A trust policy's resource is the role itself; IAM refuses one that names a resource
		// ("Has prohibited field Resource").
		for _, e := range []string{"Resource", "NotResource"} {
			if has[e] {
				p.fail(place+"."+e, "not allowed in a trust policy: the resource is the role itself")
			}
		}
	case Resource:
		p.exactlyOne(place, has, "Principal", "NotPrincipal")
		p.exactlyOne(place, has, "Resource", "NotResource")
	}
}

func (p *parser) exactlyOne(place string, has map[string]bool, a, b string) {
	switch {
	case has[a] && has[b]:
		p.fail(place, "has both %s and %s; use one of them", a, b)
	case !has[a] && !has[b]:
		p.fail(place, "needs %s or %s in %s", a, b, p.kind.withArticle())
	}
}

func (p *parser) sid(place string, raw json.RawMessage) string {
	sid, ok := p.str(place, raw)
	if ok && !sidPattern.MatchString(sid) {
		p.failValue(place, sid, "a Sid may hold only ASCII letters and digits")
	}
	return sid
}

func (p *parser) effect(place string, raw json.RawMessage) string {
	e, ok := p.str(place, raw)
	if ok && e != "Allow" && e != "Deny" {
		p.failValue(place, e, "must be \"Allow\" or \"Deny\"")
	}
	return e
}

func (p *parser) actions(place string, raw json.RawMessage) []string {
	return p.stringList(place, raw, func(at, a string) {
		if problem := p.actionProblem(a); problem != "" {
			p.failValue(at, a, "%s", problem)
		}
	})
}

// actionProblem says what is wrong with an action string, "" when nothing is.
func (p *parser) actionProblem(a string) string {
	trustOnly := "a trust policy may only name sts actions (sts:AssumeRole, sts:TagSession, ...)"
	if a == "*" {
		if p.kind == Trust {
			return trustOnly
		}
		return ""
	}
	prefix, name, ok := strings.Cut(a, ":")
	switch {
	case !ok:
		return `an action must be "service:Action" or "*"`
	case !servicePrefix.MatchString(prefix):
		return "the service prefix must be lower-case letters, digits and hyphens"
	case !actionName.MatchString(name):
		return "the action name may hold only letters, digits, * and ?"
	case p.kind == Trust && prefix != "sts":
		// IAM: "AssumeRole policy may only specify STS AssumeRole actions."
		return trustOnly
	case p.kind == SCP && strings.ContainsAny(strings.TrimRight(name, "*?"), "*?"):
		// "In an SCP, the wildcard (*) and (?) characters in an Action or NotAction element can
		// be used only by themselves or at the end of the string" (Organizations User Guide,
		// "SCP syntax", Action and NotAction elements:
		// https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_syntax.html).
		// IAM policies allow them anywhere; an SCP such as "ec2:*Instances" is refused.
		return "in a service control policy a wildcard may only end the action name (\"ec2:Describe*\"), not stand inside it"
	}
	return ""
}

func (p *parser) resources(place string, raw json.RawMessage) []string {
	return p.stringList(place, raw, func(at, r string) {
		if r == "*" {
			return
		}
		// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
		if _, ok := parseARN(r); !ok {
			p.failValue(at, r, `a resource must be "*" or an ARN (arn:partition:service:region:account-id:resource)`)
		}
	})
}

// principals reads a Principal or NotPrincipal element: "*" or an object of AWS, Service,
// Federated and CanonicalUser lists.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
func (p *parser) principals(place string, raw json.RawMessage) *Principals {
	if jsonType(raw) == "string" {
		s, _ := p.str(place, raw)
		if s != "*" {
			p.failValue(place, s, `must be "*" or an object such as {"AWS": ...} or {"Service": ...}`)
		}
		return &Principals{All: true}
	}
	members, ok := p.object(place, raw)
	if !ok {
		return &Principals{}
	}
	if len(members) == 0 {
		p.fail(place, "names no principal")
	}
	var ps Principals
	for _, m := range members {
		at := place + "." + m.key
		switch m.key {
		case "AWS":
			ps.AWS = p.stringList(at, m.value, func(itemAt, a string) {
				if problem := awsPrincipalProblem(a); problem != "" {
					p.failValue(itemAt, a, "%s", problem)
				}
			})
		case "Service":
			ps.Service = p.nonEmptyStrings(at, m.value)
		case "Federated":
			ps.Federated = p.nonEmptyStrings(at, m.value)
		case "CanonicalUser":
			ps.CanonicalUser = p.nonEmptyStrings(at, m.value)
		default:
			p.fail(at, "unknown principal type; use AWS, Service, Federated or CanonicalUser")
		}
	}
	return &ps
}

func (p *parser) nonEmptyStrings(place string, raw json.RawMessage) []string {
	return p.stringList(place, raw, func(at, v string) {
		if v == "" {
			p.fail(at, "must not be empty")
		}
	})
}

// awsPrincipalProblem checks an AWS principal: "*", an account id or an ARN without wildcards
// ("You cannot use a wildcard to match part of a principal name or ARN.").
func awsPrincipalProblem(a string) string {
	switch {
	case a == "*", accountID.MatchString(a):
		return ""
	case strings.ContainsAny(a, "*?"):
		return `a principal cannot hold a wildcard except the whole value "*"; match names with an aws:PrincipalArn condition (ArnLike)`
	}
	if _, ok := parseARN(a); !ok {
		return `an AWS principal must be "*", a 12-digit account id or an ARN`
	}
	return ""
}

// condition reads the Condition element: operator -> key -> value or values.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html
func (p *parser) condition(place string, raw json.RawMessage) map[string]map[string][]string {
	blocks, ok := p.object(place, raw)
	if !ok || len(blocks) == 0 {
		return nil // an empty Condition is no condition
	}
	out := make(map[string]map[string][]string, len(blocks))
	for _, block := range blocks {
		at := place + "." + block.key
		op, problem := parseOperator(block.key)
		if problem != "" {
			p.fail(at, "%s", problem)
		}
		keys, ok := p.object(at, block.value)
		if !ok {
			continue
		}
		if len(keys) == 0 {
			p.fail(at, "names no condition key")
		}
		out[block.key] = make(map[string][]string, len(keys))
		for _, k := range keys {
			keyAt := at + "." + k.key
			if k.key == "" {
				p.fail(at, "a condition key must not be empty")
			}
			out[block.key][k.key] = p.conditionValues(keyAt, k.value, func(at, v string) {
				if bad := op.valueProblem(v); problem == "" && bad != "" {
					p.failValue(at, v, "%s", bad)
				}
			})
		}
	}
	return out
}

// conditionValues reads a condition value: a string, boolean or number, or a non-empty array
// of them; booleans and numbers keep their JSON text. check is called with the place and value
// of each item; a single value is item [0].
func (p *parser) conditionValues(place string, raw json.RawMessage, check func(at, value string)) []string {
	items := []json.RawMessage{raw}
	if jsonType(raw) == "array" {
		items = nil
		_ = json.Unmarshal(raw, &items)
		if len(items) == 0 {
			p.fail(place, "must not be an empty array")
		}
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		at := fmt.Sprintf("%s[%d]", place, i)
		var value string
		switch t := jsonType(item); t {
		case "string":
			_ = json.Unmarshal(item, &value)
		case "boolean", "number":
			value = string(bytes.TrimSpace(item))
		default:
			p.fail(at, "a condition value must be a string, boolean or number, not %s", t)
			continue
		}
		check(at, value)
		out = append(out, value)
	}
	return out
}
