package iampolicy

import "fmt"

// Decision is the outcome of evaluating policies for a request.
type Decision int

const (
	// NotApplicable: no statement applies, which AWS treats as an implicit deny.
	NotApplicable Decision = iota
	// Allow: an Allow statement applies and no Deny statement does.
	Allow
	// Deny: a Deny statement applies; it overrides every Allow.
	Deny
)

func (d Decision) String() string {
	switch d {
	case NotApplicable:
		return "implicit deny (no statement applies)"
	case Allow:
		return "allow"
	case Deny:
		return "explicit deny"
	}
	return fmt.Sprintf("Decision(%d)", int(d))
}

// Evaluate decides the request against the document's statements, as in
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html:
// a statement applies when its action, resource, principal (when it names one) and every
// condition match; an applying Deny wins over any Allow; with no applying statement the result
// is NotApplicable. The statement returned is the deciding one (the first applying Deny, else
// the first applying Allow), nil for NotApplicable; it points into d.Statements.
//
// d is expected to come from Parse: a hand-built statement with an unknown condition operator
// applies to nothing.
func (d Document) Evaluate(r Request) (Decision, *Statement) {
	var allow *Statement
	for i := range d.Statements {
		s := &d.Statements[i]
		if !s.applies(r) {
			continue
		}
		if s.Effect == "Deny" {
			return Deny, s
		}
		if allow == nil && s.Effect == "Allow" {
			allow = s
		}
	}
	if allow != nil {
		return Allow, allow
	}
	return NotApplicable, nil
}

// applies reports whether the statement matches the request (whatever its effect).
func (s *Statement) applies(r Request) bool {
	return s.actionMatches(r.Action) &&
		s.resourceMatches(r.Resource) &&
		s.principalMatches(r.Principal) &&
		conditionsHold(s.Condition, r.Context)
}

// fullAWSAccess is the AWS managed SCP attached by default to the root, every OU and every
// account of an organization.
const fullAWSAccess = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`

// FullAWSAccess returns the FullAWSAccess SCP. A deny-list SCP allows nothing on its own: AWS
// combines it with FullAWSAccess, and so must a caller of Authorize:
//
//	policy.Authorize(rolePolicies, []policy.Document{policy.FullAWSAccess(), denyList}, req)
//
// https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_evaluation.html
func FullAWSAccess() Document { return MustParse(fullAWSAccess, SCP) }

// Authorize decides a request of a principal whose identity-based policies are identity, in an
// account governed by the SCPs scps (nil or empty: no SCPs apply, as in the management account
// or outside an organization). Permission boundaries, session policies and resource-based
// policies are left out. The rules, in AWS's order:
//  1. an explicit Deny in any SCP or identity-based policy denies;
//  2. when SCPs are given, one of them must allow (see FullAWSAccess: SCPs are not implicitly
//     allowing, exactly as in AWS when FullAWSAccess is detached);
//  3. an identity-based policy must allow.
//
// All SCPs are treated as attached at one level; AWS requires an Allow at every level (root,
// each OU, account), so pass the SCPs of the strictest path, or call Authorize once per level.
//
// The string explains the outcome in the words of AWS's AccessDenied messages
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html), e.g.
// "no identity-based policy allows the cloudformation:CreateStack action" or
// "explicit deny in a service control policy (statement DenyStopLogging)".
func Authorize(identity []Document, scps []Document, r Request) (bool, string) {
	scpDecision, scpStatement := evaluateAll(scps, r)
	idDecision, idStatement := evaluateAll(identity, r)
	switch {
	case scpDecision == Deny:
		return false, "explicit deny in a service control policy" + describe(scps, scpStatement)
	case idDecision == Deny:
		return false, "explicit deny in an identity-based policy" + describe(identity, idStatement)
	case len(scps) > 0 && scpDecision != Allow:
		return false, fmt.Sprintf("no service control policy allows the %s action", r.Action)
	case idDecision != Allow:
		return false, fmt.Sprintf("no identity-based policy allows the %s action", r.Action)
	}
	return true, "allowed by an identity-based policy" + describe(identity, idStatement)
}

// evaluateAll decides the request against several documents as if they were one.
func evaluateAll(docs []Document, r Request) (Decision, *Statement) {
	decision, statement := NotApplicable, (*Statement)(nil)
	for _, d := range docs {
		switch got, s := d.Evaluate(r); {
		case got == Deny:
			return Deny, s
		case got == Allow && decision == NotApplicable:
			decision, statement = Allow, s
		}
	}
	return decision, statement
}

// describe names a statement for a message: " (statement Sid)", or by position when it has no Sid.
func describe(docs []Document, s *Statement) string {
	if s == nil {
		return ""
	}
	if s.Sid != "" {
		return fmt.Sprintf(" (statement %s)", s.Sid)
	}
	for i := range docs {
		for j := range docs[i].Statements {
			if &docs[i].Statements[j] == s {
				return fmt.Sprintf(" (policy %d, Statement[%d])", i, j)
			}
		}
	}
	return ""
}
