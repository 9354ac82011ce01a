package iampolicy

import "strings"

// wildcardMatch reports whether s matches pattern, in which * matches any run of characters
// (none included) and ? exactly one. Everything else matches itself, "${" included: policy
// variables are not expanded.
func wildcardMatch(pattern, s string) bool {
	p, v := []rune(pattern), []rune(s)
	pi, vi := 0, 0
	star, starV := -1, 0 // the last * seen and the position in v it is matching from
	for vi < len(v) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == v[vi]):
			pi++
			vi++
		case pi < len(p) && p[pi] == '*':
			star, starV = pi, vi
			pi++
		case star >= 0: // let the last * swallow one more character
			starV++
			pi, vi = star+1, starV
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// actionMatches applies Action or NotAction. Actions are case-insensitive and may hold * and ?.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
func (s *Statement) actionMatches(action string) bool {
	if s.Action != nil {
		return anyActionMatches(s.Action, action)
	}
	return !anyActionMatches(s.NotAction, action)
}

func anyActionMatches(patterns []string, action string) bool {
	action = strings.ToLower(action)
	for _, p := range patterns {
		if wildcardMatch(strings.ToLower(p), action) {
			return true
		}
	}
	return false
}

// resourceMatches applies Resource or NotResource: a case-sensitive match with * and ?.
// An unknown resource ("") matches every Resource element and no NotResource element; a
// statement with neither (a trust policy's) applies to its resource.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
func (s *Statement) resourceMatches(resource string) bool {
	switch {
	case s.Resource != nil:
		return resource == "" || anyResourceMatches(s.Resource, resource)
	case s.NotResource != nil:
		return resource != "" && !anyResourceMatches(s.NotResource, resource)
	}
	return true
}

func anyResourceMatches(patterns []string, resource string) bool {
	for _, p := range patterns {
		if wildcardMatch(p, resource) {
			return true
		}
	}
	return false
}

// principalMatches applies Principal or NotPrincipal; statements of identity-based policies and
// SCPs have neither and apply to whoever they are attached to. NotPrincipal uses the matching
// of Principal, so a role listed there also exempts its sessions; AWS documents that a Deny with
// NotPrincipal should list the session ARN and the account too, which this leaves to the author.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
func (s *Statement) principalMatches(caller Principal) bool {
	switch {
	case s.Principal != nil:
		return s.Principal.matches(caller)
	case s.NotPrincipal != nil:
		return !s.NotPrincipal.matches(caller)
	}
	return true
}

// matches reports whether the caller is one of the principals.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
func (ps *Principals) matches(caller Principal) bool {
	if ps.All {
		return true
	}
	for _, a := range ps.AWS {
		if awsPrincipalMatches(a, caller) {
			return true
		}
	}
	for _, svc := range ps.Service {
		if caller.Service != "" && strings.EqualFold(svc, caller.Service) {
			return true
		}
	}
	for _, f := range ps.Federated {
		if caller.Federated != "" && f == caller.Federated {
			return true
		}
	}
	// CanonicalUser (S3's legacy ids) never matches: no caller here carries one.
	return false
}

// awsPrincipalMatches matches one entry of an AWS principal list:
//   - "*" is everyone ("Principal": "*" and {"AWS": "*"} are equivalent);
//   - an account ("123456789012" or arn:aws:iam::123456789012:root) is every principal of that
//     account: the account's own IAM policies then decide;
//   - a role ARN is the role and every session of it; the session ARN
//     arn:aws:sts::A:assumed-role/NAME/SESSION carries no role path, so account and name decide;
//   - any other ARN (user, session) is that exact principal.
func awsPrincipalMatches(entry string, caller Principal) bool {
	if entry == "*" {
		return true
	}
	if accountID.MatchString(entry) {
		return caller.account() != "" && caller.account() == entry
	}
	want, ok := parseARN(entry)
	if !ok {
		return false
	}
	if want.service == "iam" && want.resource == "root" {
		return caller.account() == want.account && (caller.ARN == "" || callerPartition(caller) == want.partition)
	}
	if entry == caller.ARN {
		return true
	}
	roleName, isRole := strings.CutPrefix(want.resource, "role/")
	if !isRole {
		return false
	}
	roleName = roleName[strings.LastIndex(roleName, "/")+1:]
	got, ok := parseARN(caller.ARN)
	if !ok || got.service != "sts" || got.partition != want.partition || got.account != want.account {
		return false
	}
	session := strings.Split(got.resource, "/")
	return len(session) == 3 && session[0] == "assumed-role" && session[1] == roleName
}

// account is the caller's account, from Account or else from the ARN.
func (p Principal) account() string {
	if p.Account != "" {
		return p.Account
	}
	if a, ok := parseARN(p.ARN); ok {
		return a.account
	}
	return ""
}

func callerPartition(p Principal) string {
	a, _ := parseARN(p.ARN)
	return a.partition
}

// arn holds the fields of arn:partition:service:region:account:resource.
type arn struct {
	partition, service, region, account, resource string
}

func parseARN(s string) (arn, bool) {
	f := strings.SplitN(s, ":", 6)
	if len(f) != 6 || f[0] != "arn" {
		return arn{}, false
	}
	return arn{partition: f[1], service: f[2], region: f[3], account: f[4], resource: f[5]}, true
}
