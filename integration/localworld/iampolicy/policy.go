// Package iampolicy holds IAM policy documents: parsed by the rules of the IAM policy grammar and
// evaluated as AWS evaluates them.
//
// Three users share it: the test harness's IAM gate in front of moto (which enforces no IAM)
// evaluates every call of the product against the policies of the caller's role; template tests
// ask whether a role allows a list of actions; and the service control policy shipped in deploy/
// is validated against the Organizations rules, size limit included.
//
// The rules come from the AWS documentation, cited where they are applied:
//   - grammar: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html
//   - evaluation: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
//   - conditions: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
//   - principals: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
//   - SCPs: https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_syntax.html
//
// Left out on purpose: policy variables (${aws:username} is accepted and compared as literal
// text, as in a "2008-10-17" policy), permission boundaries, session policies, resource control
// policies and the combination of identity-based with resource-based policies (Authorize looks
// at identity-based policies and SCPs; a resource-based policy is evaluated on its own).
package iampolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Kind says which family of policy a document is; the grammar differs per family.
type Kind int

const (
	// Identity is a role's inline or managed policy: no Principal; Resource or NotResource required.
	Identity Kind = iota
	// Trust is a role's trust policy: Principal or NotPrincipal required, no Resource, only sts actions.
	Trust
	// Resource is a resource-based policy (bucket, queue, event bus): Principal and Resource required.
	Resource
	// SCP is a service control policy: no Principal; Resource or NotResource required; at most
	// MaxSCPSize characters once the white space outside strings is removed.
	SCP
)

// String names the kind as AWS's messages do.
func (k Kind) String() string {
	switch k {
	case Identity:
		return "identity-based policy"
	case Trust:
		return "trust policy"
	case Resource:
		return "resource-based policy"
	case SCP:
		return "service control policy"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// withArticle is the name with "a" or "an", for messages.
func (k Kind) withArticle() string {
	if k == Identity {
		return "an " + k.String()
	}
	return "a " + k.String()
}

// Document is a parsed policy. Version is "" when a trust or resource-based policy left it out
// (AWS then reads it as "2008-10-17").
type Document struct {
	Version    string
	ID         string
	Statements []Statement
}

// Statement is one statement. Exactly one of Action and NotAction is set; Resource and
// NotResource, Principal and NotPrincipal as the document's Kind requires. String-or-array
// elements are always slices here.
type Statement struct {
	Sid                     string
	Effect                  string // "Allow" or "Deny"
	Principal, NotPrincipal *Principals
	Action, NotAction       []string
	Resource, NotResource   []string
	// Condition maps operator -> condition key -> values. JSON booleans and numbers are kept
	// as their text ("true", "10").
	Condition map[string]map[string][]string
}

// Principals is the value of a Principal or NotPrincipal element. All is the bare "*".
type Principals struct {
	All           bool
	AWS           []string
	Service       []string
	Federated     []string
	CanonicalUser []string
}

// Principal is the caller of a request.
type Principal struct {
	// ARN is a role (arn:aws:iam::111122223333:role/path/name), an assumed-role session
	// (arn:aws:sts::111122223333:assumed-role/name/session) or a user ARN.
	ARN string
	// Account is the caller's account; when empty it is read from ARN.
	Account string
	// Service is a service principal such as "lambda.amazonaws.com".
	Service string
	// Federated is the identity provider of AssumeRoleWithWebIdentity or AssumeRoleWithSAML
	// (an OIDC or SAML provider ARN, or a name such as "cognito-identity.amazonaws.com").
	Federated string
}

// Request is one call to authorize.
type Request struct {
	// Action is "service:Operation", such as "cloudformation:CreateStack".
	Action string
	// Resource is the ARN the call acts on. "" means the gate could not derive it: then every
	// Resource element matches and no NotResource element does, so an Allow scoped to some
	// resource still allows and a Deny on NotResource never fires. A request with a known
	// resource is evaluated exactly.
	Resource string
	// Principal is the caller; only trust and resource-based policies look at it.
	Principal Principal
	// Context holds the condition keys of the request, such as "aws:PrincipalOrgID",
	// "aws:PrincipalArn", "sts:RoleSessionName" or "iam:PassedToService". Key names match
	// case-insensitively, as AWS condition keys do. Evaluate adds no keys of its own.
	Context map[string][]string
}

// MustParse parses s or panics; for tests and for documents compiled into the program.
func MustParse(s string, kind Kind) Document {
	d, err := Parse([]byte(s), kind)
	if err != nil {
		panic(fmt.Sprintf("policy.MustParse: %v", err))
	}
	return d
}

// JSON is the canonical encoding of d: elements in the grammar's order, Statement, Action,
// Resource and principal lists always arrays, condition values always strings. Parse reads it
// back to an equal Document.
func (d Document) JSON() []byte {
	out := jsonDocument{Version: d.Version, ID: d.ID, Statement: make([]jsonStatement, 0, len(d.Statements))}
	for _, s := range d.Statements {
		out.Statement = append(out.Statement, jsonStatement{
			Sid:          s.Sid,
			Effect:       s.Effect,
			Principal:    principalJSON(s.Principal),
			NotPrincipal: principalJSON(s.NotPrincipal),
			Action:       s.Action,
			NotAction:    s.NotAction,
			Resource:     s.Resource,
			NotResource:  s.NotResource,
			Condition:    s.Condition,
		})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		// Only strings, slices and maps of strings are encoded: this cannot fail.
		panic(fmt.Sprintf("policy: encode document: %v", err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

type jsonDocument struct {
	Version   string          `json:"Version,omitempty"`
	ID        string          `json:"Id,omitempty"`
	Statement []jsonStatement `json:"Statement"`
}

type jsonStatement struct {
	Sid          string                         `json:"Sid,omitempty"`
	Effect       string                         `json:"Effect"`
	Principal    any                            `json:"Principal,omitempty"`
	NotPrincipal any                            `json:"NotPrincipal,omitempty"`
	Action       []string                       `json:"Action,omitempty"`
	NotAction    []string                       `json:"NotAction,omitempty"`
	Resource     []string                       `json:"Resource,omitempty"`
	NotResource  []string                       `json:"NotResource,omitempty"`
	Condition    map[string]map[string][]string `json:"Condition,omitempty"`
}

type jsonPrincipals struct {
	AWS           []string `json:"AWS,omitempty"`
	Service       []string `json:"Service,omitempty"`
	Federated     []string `json:"Federated,omitempty"`
	CanonicalUser []string `json:"CanonicalUser,omitempty"`
}

// principalJSON returns the value to encode for p: nil (left out), "*" or an object.
func principalJSON(p *Principals) any {
	switch {
	case p == nil:
		return nil
	case p.All:
		return "*"
	}
	return jsonPrincipals{AWS: p.AWS, Service: p.Service, Federated: p.Federated, CanonicalUser: p.CanonicalUser}
}
