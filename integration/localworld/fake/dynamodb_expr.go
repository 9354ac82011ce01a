package fake

import (
	"math/big"
	"reflect"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// expr evaluates the condition and update expressions of one request, with its placeholders.
type expr struct {
	names  map[string]string
	values map[string]ddbtypes.AttributeValue

	toks []string
	pos  int
}

// tokenize splits an expression into names (#n, :v, plain, with their dots), operators and
// punctuation.
func tokenize(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case strings.ContainsRune("(),=+-.", rune(c)):
			out = append(out, string(c))
			i++
		case c == '<' || c == '>':
			if i+1 < len(s) && (s[i+1] == '=' || c == '<' && s[i+1] == '>') {
				out = append(out, s[i:i+2])
				i += 2
			} else {
				out = append(out, string(c))
				i++
			}
		case c == '#' || c == ':' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			out = append(out, s[i:j])
			i = j
		default:
			return nil, notEmulated("the character %q in an expression", c)
		}
	}
	return out, nil
}

// unused refuses placeholders that none of the expressions uses, as DynamoDB does
// (moto/dynamodb/responses.py).
func (x *expr) unused(exprs ...*string) error {
	used := map[string]bool{}
	for _, e := range exprs {
		toks, err := tokenize(aws.ToString(e))
		if err != nil {
			return err
		}
		for _, t := range toks {
			used[t] = true
		}
	}
	for _, k := range sortedKeys(x.names) {
		if !used[k] {
			return ddbValidation("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", k)
		}
	}
	for _, k := range sortedKeys(x.values) {
		if !used[k] {
			return ddbValidation("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", k)
		}
	}
	return nil
}

func (x *expr) start(s string) error {
	toks, err := tokenize(s)
	x.toks, x.pos = toks, 0
	return err
}

func (x *expr) peek() string {
	if x.pos < len(x.toks) {
		return x.toks[x.pos]
	}
	return ""
}

func (x *expr) next() string {
	t := x.peek()
	x.pos++
	return t
}

func (x *expr) expect(t string) error {
	if got := x.next(); got != t {
		return ddbValidation("Invalid expression: expected %q, found %q", t, got)
	}
	return nil
}

// keyword reports whether the next token is the keyword (keywords are case-insensitive).
func (x *expr) keyword(k string) bool { return strings.EqualFold(x.peek(), k) }

// path reads a document path: names joined by dots, each #placeholder resolved.
func (x *expr) path() ([]string, error) {
	var p []string
	for {
		t := x.next()
		switch {
		case strings.HasPrefix(t, "#"):
			n, ok := x.names[t]
			if !ok {
				// moto/dynamodb/exceptions.py
				return nil, ddbValidation("An expression attribute name used in the document path is not defined; attribute name: %s", t)
			}
			p = append(p, n)
		case t == "" || strings.HasPrefix(t, ":") || strings.ContainsAny(t[:1], "(),=+-.<>"):
			return nil, ddbValidation("Invalid expression: expected an attribute name, found %q", t)
		default:
			p = append(p, t)
		}
		if x.peek() != "." {
			return p, nil
		}
		x.next()
	}
}

// operand reads a :value or a path and returns its value in it (nil when the path is absent).
func (x *expr) operand(it Item) (ddbtypes.AttributeValue, error) {
	if t := x.peek(); strings.HasPrefix(t, ":") {
		x.next()
		v, ok := x.values[t]
		if !ok {
			// moto/dynamodb/exceptions.py
			return nil, ddbValidation("An expression attribute value used in expression is not defined; attribute value: %s", t)
		}
		return v, nil
	}
	if t := x.peek(); x.pos+1 < len(x.toks) && x.toks[x.pos+1] == "(" {
		return nil, notEmulated("the function %s", t)
	}
	p, err := x.path()
	if err != nil {
		return nil, err
	}
	return get(it, p), nil
}

// check evaluates a condition on the item (nil: no item); a false condition is
// ConditionalCheckFailedException.
func (x *expr) check(cond *string, it Item) error {
	if cond == nil {
		return nil
	}
	if err := x.start(*cond); err != nil {
		return err
	}
	ok, err := x.or(it)
	if err != nil {
		return err
	}
	if x.pos < len(x.toks) {
		return ddbValidation("Invalid ConditionExpression: unexpected %q", x.peek())
	}
	if !ok {
		// moto/dynamodb/exceptions.py
		return &ddbtypes.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	}
	return nil
}

func (x *expr) or(it Item) (bool, error) {
	v, err := x.and(it)
	for err == nil && x.keyword("OR") {
		x.next()
		var w bool
		w, err = x.and(it)
		v = v || w
	}
	return v, err
}

func (x *expr) and(it Item) (bool, error) {
	v, err := x.unary(it)
	for err == nil && x.keyword("AND") {
		x.next()
		var w bool
		w, err = x.unary(it)
		v = v && w
	}
	return v, err
}

func (x *expr) unary(it Item) (bool, error) {
	switch t := x.peek(); {
	case strings.EqualFold(t, "NOT"):
		x.next()
		v, err := x.unary(it)
		return !v, err
	case t == "(":
		x.next()
		v, err := x.or(it)
		if err == nil {
			err = x.expect(")")
		}
		return v, err
	case t == "attribute_exists" || t == "attribute_not_exists":
		x.next()
		if err := x.expect("("); err != nil {
			return false, err
		}
		p, err := x.path()
		if err == nil {
			err = x.expect(")")
		}
		return (get(it, p) != nil) == (t == "attribute_exists"), err
	}
	a, err := x.operand(it)
	if err != nil {
		return false, err
	}
	cmp := x.next()
	if !slices.Contains([]string{"=", "<>", "<", "<=", ">", ">="}, cmp) {
		return false, notEmulated("the comparator %q", cmp)
	}
	b, err := x.operand(it)
	if err != nil {
		return false, err
	}
	return compare(a, cmp, b), nil
}

// update applies an update expression to the item and returns the top-level attributes it
// touched.
func (x *expr) update(s string, it Item) (map[string]bool, error) {
	if err := x.start(s); err != nil {
		return nil, err
	}
	touched := map[string]bool{}
	if len(x.toks) == 0 {
		return nil, ddbValidation("Invalid UpdateExpression: The expression can not be empty;")
	}
	for x.pos < len(x.toks) {
		clause := strings.ToUpper(x.next())
		if !slices.Contains([]string{"SET", "REMOVE", "ADD", "DELETE"}, clause) {
			return nil, ddbValidation("Invalid UpdateExpression: unexpected %q", clause)
		}
		for {
			p, err := x.path()
			if err != nil {
				return nil, err
			}
			touched[p[0]] = true
			switch clause {
			case "SET":
				err = x.set(it, p)
			case "REMOVE":
				remove(it, p)
			case "ADD", "DELETE":
				var v ddbtypes.AttributeValue
				if v, err = x.operand(it); err == nil {
					err = addOrDelete(clause, it, p, v)
				}
			}
			if err != nil {
				return nil, err
			}
			if x.peek() != "," {
				break
			}
			x.next()
		}
	}
	return touched, nil
}

// set reads "= operand [+|- operand]" and sets the path to it.
func (x *expr) set(it Item, p []string) error {
	if err := x.expect("="); err != nil {
		return err
	}
	v, err := x.operand(it)
	if err != nil {
		return err
	}
	if op := x.peek(); op == "+" || op == "-" {
		x.next()
		w, err := x.operand(it)
		if err != nil {
			return err
		}
		if v, err = arith(v, op, w); err != nil {
			return err
		}
	}
	if v == nil {
		return ddbValidation("The provided expression refers to an attribute that does not exist in the item")
	}
	return put(it, p, cloneValue(v))
}

// get returns the value at the path, nil when it is absent.
func get(it Item, p []string) ddbtypes.AttributeValue {
	var v ddbtypes.AttributeValue = &ddbtypes.AttributeValueMemberM{Value: it}
	for _, n := range p {
		m, ok := v.(*ddbtypes.AttributeValueMemberM)
		if !ok {
			return nil
		}
		if v, ok = m.Value[n]; !ok {
			return nil
		}
	}
	return v
}

// put sets the value at the path; the map that holds it must be there.
func put(it Item, p []string, v ddbtypes.AttributeValue) error {
	parent := it
	if len(p) > 1 {
		m, ok := get(it, p[:len(p)-1]).(*ddbtypes.AttributeValueMemberM)
		if !ok {
			return ddbValidation("The document path provided in the update expression is invalid for update")
		}
		parent = m.Value
	}
	parent[p[len(p)-1]] = v
	return nil
}

func remove(it Item, p []string) {
	parent := it
	if len(p) > 1 {
		m, ok := get(it, p[:len(p)-1]).(*ddbtypes.AttributeValueMemberM)
		if !ok {
			return
		}
		parent = m.Value
	}
	delete(parent, p[len(p)-1])
}

// addOrDelete applies ADD (a number added, 0 when absent; a set's union) or DELETE (a set's
// difference; an attribute left with an empty set is removed, as DynamoDB has no empty sets:
// moto/dynamodb/parsing/executors.py, DeleteExecutor).
func addOrDelete(clause string, it Item, p []string, v ddbtypes.AttributeValue) error {
	old := get(it, p)
	if clause == "ADD" {
		if _, ok := v.(*ddbtypes.AttributeValueMemberN); ok {
			if old == nil {
				old = &ddbtypes.AttributeValueMemberN{Value: "0"}
			}
			sum, err := arith(old, "+", v)
			if err != nil {
				return err
			}
			return put(it, p, sum)
		}
	}
	add, ok := setOf(v)
	if !ok {
		return ddbValidation("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: %s", clause)
	}
	have, _ := setOf(old)
	if old != nil && reflect.TypeOf(old) != reflect.TypeOf(v) {
		return ddbValidation("An operand in the update expression has an incorrect data type")
	}
	var out []string
	if clause == "ADD" {
		out = append(slices.Clone(have), add...)
		slices.Sort(out)
		out = slices.Compact(out)
	} else {
		for _, e := range have {
			if !slices.Contains(add, e) {
				out = append(out, e)
			}
		}
		if len(out) == 0 {
			remove(it, p)
			return nil
		}
	}
	switch v.(type) {
	case *ddbtypes.AttributeValueMemberNS:
		return put(it, p, &ddbtypes.AttributeValueMemberNS{Value: out})
	default:
		return put(it, p, &ddbtypes.AttributeValueMemberSS{Value: out})
	}
}

func setOf(v ddbtypes.AttributeValue) ([]string, bool) {
	switch v := v.(type) {
	case *ddbtypes.AttributeValueMemberSS:
		return v.Value, true
	case *ddbtypes.AttributeValueMemberNS:
		return v.Value, true
	}
	return nil, false
}

func number(v ddbtypes.AttributeValue) (*big.Rat, bool) {
	n, ok := v.(*ddbtypes.AttributeValueMemberN)
	if !ok {
		return nil, false
	}
	return new(big.Rat).SetString(n.Value)
}

// arith adds or subtracts two numbers.
func arith(a ddbtypes.AttributeValue, op string, b ddbtypes.AttributeValue) (ddbtypes.AttributeValue, error) {
	x, ok1 := number(a)
	y, ok2 := number(b)
	if !ok1 || !ok2 {
		return nil, ddbValidation("An operand in the update expression has an incorrect data type")
	}
	if op == "-" {
		y.Neg(y)
	}
	sum := new(big.Rat).Add(x, y)
	text := sum.RatString()
	if !sum.IsInt() {
		text = strings.TrimRight(sum.FloatString(38), "0")
	}
	return &ddbtypes.AttributeValueMemberN{Value: text}, nil
}

// compare evaluates a comparison: numbers by value, strings and binaries by their bytes,
// the other types by equality only. Values of different types, or absent, are never equal
// and never ordered.
func compare(a ddbtypes.AttributeValue, cmp string, b ddbtypes.AttributeValue) bool {
	c, ordered := order(a, b)
	switch cmp {
	case "=":
		return equal(a, b)
	case "<>":
		return !equal(a, b)
	case "<":
		return ordered && c < 0
	case "<=":
		return ordered && c <= 0
	case ">":
		return ordered && c > 0
	case ">=":
		return ordered && c >= 0
	}
	return false
}

func equal(a, b ddbtypes.AttributeValue) bool {
	if c, ordered := order(a, b); ordered {
		return c == 0
	}
	return a != nil && b != nil && reflect.DeepEqual(a, b)
}

// order compares two numbers, two strings or two binaries: -1, 0 or 1, and whether they are
// ordered at all.
func order(a, b ddbtypes.AttributeValue) (int, bool) {
	if a == nil || b == nil || reflect.TypeOf(a) != reflect.TypeOf(b) {
		return 0, false
	}
	switch a := a.(type) {
	case *ddbtypes.AttributeValueMemberN:
		x, ok1 := number(a)
		y, ok2 := number(b)
		if !ok1 || !ok2 {
			return 0, false
		}
		return x.Cmp(y), true
	case *ddbtypes.AttributeValueMemberS:
		return strings.Compare(a.Value, b.(*ddbtypes.AttributeValueMemberS).Value), true
	case *ddbtypes.AttributeValueMemberB:
		return strings.Compare(string(a.Value), string(b.(*ddbtypes.AttributeValueMemberB).Value)), true
	}
	return 0, false
}
