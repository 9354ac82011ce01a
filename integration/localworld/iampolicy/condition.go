package iampolicy

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Condition operators and how they treat missing keys and multiple values follow
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
// and, for several keys and values,
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
// and, for ForAnyValue/ForAllValues,
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html

// comparison reports whether one request value matches one policy value.
type comparison func(requestValue, policyValue string) bool

// operatorDef is one base operator (without set prefix or IfExists suffix).
type operatorDef struct {
	compare comparison
	// negated operators (StringNotEquals, NotIpAddress, ...) match when the request value
	// matches none of the policy values, and match when the key is missing.
	negated bool
	// check says what is wrong with a policy value, "" when nothing is.
	check func(policyValue string) string
}

var operators = map[string]operatorDef{
	"StringEquals":              {compare: func(r, p string) bool { return r == p }},
	"StringNotEquals":           {compare: func(r, p string) bool { return r == p }, negated: true},
	"StringEqualsIgnoreCase":    {compare: strings.EqualFold},
	"StringNotEqualsIgnoreCase": {compare: strings.EqualFold, negated: true},
	"StringLike":                {compare: stringLike},
	"StringNotLike":             {compare: stringLike, negated: true},

	"NumericEquals":            numeric(func(c int) bool { return c == 0 }, false),
	"NumericNotEquals":         numeric(func(c int) bool { return c == 0 }, true),
	"NumericLessThan":          numeric(func(c int) bool { return c < 0 }, false),
	"NumericLessThanEquals":    numeric(func(c int) bool { return c <= 0 }, false),
	"NumericGreaterThan":       numeric(func(c int) bool { return c > 0 }, false),
	"NumericGreaterThanEquals": numeric(func(c int) bool { return c >= 0 }, false),

	"DateEquals":            date(func(c int) bool { return c == 0 }, false),
	"DateNotEquals":         date(func(c int) bool { return c == 0 }, true),
	"DateLessThan":          date(func(c int) bool { return c < 0 }, false),
	"DateLessThanEquals":    date(func(c int) bool { return c <= 0 }, false),
	"DateGreaterThan":       date(func(c int) bool { return c > 0 }, false),
	"DateGreaterThanEquals": date(func(c int) bool { return c >= 0 }, false),

	"Bool":         {compare: strings.EqualFold, check: boolProblem},
	"BinaryEquals": {compare: func(r, p string) bool { return r == p }},

	"IpAddress":    {compare: inRange, check: rangeProblem},
	"NotIpAddress": {compare: inRange, negated: true, check: rangeProblem},

	// "ArnEquals and ArnLike behave identically": each of the six colon-separated fields is
	// matched on its own, case-sensitively, with * and ? wildcards.
	"ArnEquals":    {compare: arnLike},
	"ArnLike":      {compare: arnLike},
	"ArnNotEquals": {compare: arnLike, negated: true},
	"ArnNotLike":   {compare: arnLike, negated: true},
}

const (
	forAnyValue  = "ForAnyValue:"
	forAllValues = "ForAllValues:"
	ifExists     = "IfExists"
)

// operator is a parsed operator name such as "ForAllValues:StringLikeIfExists".
type operator struct {
	set      string // "", forAnyValue or forAllValues
	ifExists bool
	null     bool // the Null check, which has no operatorDef
	def      operatorDef
}

// parseOperator reads an operator name; the string says what is wrong with it, "" when nothing.
func parseOperator(name string) (operator, string) {
	var op operator
	base := name
	for _, set := range []string{forAnyValue, forAllValues} {
		if rest, ok := strings.CutPrefix(base, set); ok {
			op.set, base = set, rest
		}
	}
	if base == "Null" {
		op.null = true
		if op.set != "" {
			return op, "Null takes no ForAnyValue:/ForAllValues: prefix"
		}
		return op, ""
	}
	if rest, ok := strings.CutSuffix(base, ifExists); ok {
		op.ifExists, base = true, rest
	}
	def, ok := operators[base]
	if !ok {
		return op, "unknown condition operator (see reference_policies_elements_condition_operators.html; names are case-sensitive)"
	}
	op.def = def
	return op, ""
}

// valueProblem checks a policy value against what the operator compares.
func (op operator) valueProblem(v string) string {
	if op.null {
		return boolProblem(v)
	}
	if op.def.check == nil {
		return ""
	}
	return op.def.check(v)
}

// holds evaluates the operator for one condition key. present is false when the request has no
// value for the key (absent or an empty list).
func (op operator) holds(policyValues, requestValues []string, present bool) bool {
	if op.null {
		// Null "true": the key must be absent; "false": it must be present.
		return slices.ContainsFunc(policyValues, func(v string) bool { return strings.EqualFold(v, strconv.FormatBool(!present)) })
	}
	if !present {
		switch {
		case op.ifExists: // "If the policy key is not present in the request context, the condition evaluates to true"
			return true
		case op.set == forAllValues: // "It also returns true if there are no context keys in the request"
			return true
		case op.set == forAnyValue: // returns false if there are no context keys
			return false
		}
		// "If the key ... is not present in the request context, the values do not match and
		// the condition is false. If the policy condition requires that the key is not matched,
		// such as StringNotLike or ArnNotLike, and the right key is not present, the condition
		// is true."
		return op.def.negated
	}
	// One request value satisfies the operator when it matches any policy value (values are
	// ORed) or, for a negated operator, none of them.
	satisfies := func(requestValue string) bool {
		matched := slices.ContainsFunc(policyValues, func(pv string) bool { return op.def.compare(requestValue, pv) })
		return matched != op.def.negated
	}
	switch {
	case op.set == forAllValues:
		return all(requestValues, satisfies)
	case op.set == forAnyValue:
		return slices.ContainsFunc(requestValues, satisfies)
	case op.def.negated:
		// Without a set operator a negated operator holds when no request value matches.
		return all(requestValues, satisfies)
	}
	return slices.ContainsFunc(requestValues, satisfies)
}

func all(values []string, f func(string) bool) bool {
	for _, v := range values {
		if !f(v) {
			return false
		}
	}
	return true
}

// conditionsHold reports whether every operator of a condition block holds (operators and the
// keys within one operator are ANDed).
func conditionsHold(block map[string]map[string][]string, context map[string][]string) bool {
	for name, keys := range block {
		op, problem := parseOperator(name)
		if problem != "" {
			return false // Parse refuses such a document; a hand-built one matches nothing
		}
		for key, policyValues := range keys {
			requestValues, present := lookup(context, key)
			if !op.holds(policyValues, requestValues, present) {
				return false
			}
		}
	}
	return true
}

// lookup finds a condition key in the request context; key names are case-insensitive.
func lookup(context map[string][]string, key string) ([]string, bool) {
	if values, ok := context[key]; ok {
		return values, len(values) > 0
	}
	for k, values := range context {
		if strings.EqualFold(k, key) {
			return values, len(values) > 0
		}
	}
	return nil, false
}

func stringLike(requestValue, pattern string) bool { return wildcardMatch(pattern, requestValue) }

// arnLike matches an ARN against an ARN pattern field by field; a value that is not an ARN
// matches nothing.
func arnLike(requestValue, pattern string) bool {
	got, want := strings.SplitN(requestValue, ":", 6), strings.SplitN(pattern, ":", 6)
	if len(got) != 6 || len(want) != 6 {
		return false
	}
	for i := range want {
		if !wildcardMatch(want[i], got[i]) {
			return false
		}
	}
	return true
}

// numeric builds a Numeric operator; a value that is not a number matches nothing.
func numeric(accept func(int) bool, negated bool) operatorDef {
	return operatorDef{
		negated: negated,
		compare: func(r, p string) bool {
			a, errA := strconv.ParseFloat(r, 64)
			b, errB := strconv.ParseFloat(p, 64)
			return errA == nil && errB == nil && accept(cmp.Compare(a, b))
		},
		check: func(p string) string {
			if _, err := strconv.ParseFloat(p, 64); err != nil {
				return "a Numeric operator needs a number"
			}
			return ""
		},
	}
}

// date builds a Date operator; a value that is not a date matches nothing.
func date(accept func(int) bool, negated bool) operatorDef {
	return operatorDef{
		negated: negated,
		compare: func(r, p string) bool {
			a, okA := parseDate(r)
			b, okB := parseDate(p)
			return okA && okB && accept(a.Compare(b))
		},
		check: func(p string) string {
			if _, ok := parseDate(p); !ok {
				return "a Date operator needs an RFC 3339 time (2026-01-02T15:04:05Z), a date (2026-01-02) or epoch seconds"
			}
			return ""
		},
	}
}

// parseDate reads the date forms the Date operators accept: ISO 8601 as RFC 3339, a plain date,
// or epoch seconds.
func parseDate(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(secs, 0), true
	}
	return time.Time{}, false
}

func boolProblem(v string) string {
	if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
		return `needs "true" or "false"`
	}
	return ""
}

// inRange reports whether an IP address is in a CIDR range (or equals a single address).
func inRange(requestValue, policyValue string) bool {
	addr, err := netip.ParseAddr(requestValue)
	if err != nil {
		return false
	}
	prefix, ok := parseRange(policyValue)
	return ok && prefix.Contains(addr.Unmap())
}

func parseRange(s string) (netip.Prefix, bool) {
	if prefix, err := netip.ParsePrefix(s); err == nil {
		return prefix.Masked(), true
	}
	if addr, err := netip.ParseAddr(s); err == nil {
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), true
	}
	return netip.Prefix{}, false
}

func rangeProblem(v string) string {
	if _, ok := parseRange(v); !ok {
		return "an IpAddress operator needs a CIDR range (203.0.113.0/24) or an address"
	}
	return ""
}
