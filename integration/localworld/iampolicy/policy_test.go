package iampolicy

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// identityDoc wraps statements (JSON objects, comma-separated) in an identity-based policy.
func identityDoc(statements string) string {
	return `{"Version":"2012-10-17","Statement":[` + statements + `]}`
}

const allowAll = `{"Effect":"Allow","Action":"*","Resource":"*"}`

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		doc  string
		want string // a line of the error, place included
	}{
		// the document
		{"not JSON", Identity, `{"Version":`, "not a JSON document"},
		{"trailing data", Identity, identityDoc(allowAll) + `{}`, "not a JSON document"},
		{"not an object", Identity, `[]`, "policy: must be a JSON object, not array"},
		{"unknown top-level key", Identity, `{"Version":"2012-10-17","Statements":[` + allowAll + `]}`, `Statements: unknown element`},
		{"element names are case-sensitive", Identity, `{"version":"2012-10-17","Statement":[` + allowAll + `]}`, `version: unknown element`},
		{"unknown version", Identity, `{"Version":"2012-10-18","Statement":[` + allowAll + `]}`, `Version "2012-10-18": must be "2012-10-17"`},
		{"version not a string", Identity, `{"Version":2012,"Statement":[` + allowAll + `]}`, `Version: must be a string, not number`},
		{"identity policy without version", Identity, `{"Statement":[` + allowAll + `]}`, `Version: missing; AWS would read the policy as "2008-10-17"`},
		{"SCP without version", SCP, `{"Statement":[` + allowAll + `]}`, `add "Version": "2012-10-17"`},
		{"Id not a string", Identity, `{"Version":"2012-10-17","Id":7,"Statement":[` + allowAll + `]}`, `Id: must be a string, not number`},
		{"no statement", Identity, `{"Version":"2012-10-17"}`, `Statement: missing`},
		{"empty statement list", Identity, `{"Version":"2012-10-17","Statement":[]}`, `Statement: must not be an empty array`},
		{"statement a string", Identity, `{"Version":"2012-10-17","Statement":"Allow"}`, `Statement: must be an object or an array of objects, not string`},
		{"statement item not an object", Identity, identityDoc(`"Allow"`), `Statement[0]: must be a JSON object, not string`},
		{"repeated key", Identity, identityDoc(`{"Effect":"Allow","Effect":"Deny","Action":"*","Resource":"*"}`), `Statement[0].Effect: appears twice`},
		{"repeated Statement key", Identity, `{"Version":"2012-10-17","Statement":[` + allowAll + `],"Statement":[` + allowAll + `]}`, `policy.Statement: appears twice`},

		// statement elements
		{"unknown statement key", Identity, identityDoc(`{"Effect":"Allow","Actions":"*","Resource":"*"}`), `Statement[0].Actions: unknown element`},
		{"no effect", Identity, identityDoc(`{"Action":"*","Resource":"*"}`), `Statement[0]: Effect is missing`},
		{"effect in lower case", Identity, identityDoc(`{"Effect":"allow","Action":"*","Resource":"*"}`), `Statement[0].Effect "allow": must be "Allow" or "Deny"`},
		{"effect not a string", Identity, identityDoc(`{"Effect":true,"Action":"*","Resource":"*"}`), `Statement[0].Effect: must be a string, not boolean`},
		{"Action and NotAction", Identity, identityDoc(`{"Effect":"Allow","Action":"*","NotAction":"iam:*","Resource":"*"}`), `Statement[0]: has both Action and NotAction`},
		{"neither Action nor NotAction", Identity, identityDoc(`{"Effect":"Allow","Resource":"*"}`), `Statement[0]: needs Action or NotAction in an identity-based policy`},
		{"action without service", Identity, identityDoc(`{"Effect":"Allow","Action":["s3:GetObject","s3GetObject"],"Resource":"*"}`), `Statement[0].Action[1] "s3GetObject": an action must be "service:Action" or "*"`},
		{"service prefix in upper case", Identity, identityDoc(`{"Effect":"Allow","Action":"S3:GetObject","Resource":"*"}`), `Statement[0].Action[0] "S3:GetObject": the service prefix must be lower-case letters, digits and hyphens`},
		{"wildcard service prefix", Identity, identityDoc(`{"Effect":"Allow","Action":"*:GetObject","Resource":"*"}`), `"*:GetObject": the service prefix must be`},
		{"bad action name", Identity, identityDoc(`{"Effect":"Allow","Action":"s3:Get-Object","Resource":"*"}`), `Statement[0].Action[0] "s3:Get-Object": the action name may hold only letters, digits, * and ?`},
		{"empty action name", Identity, identityDoc(`{"Effect":"Allow","NotAction":"s3:","Resource":"*"}`), `Statement[0].NotAction[0] "s3:": the action name`},
		{"empty action list", Identity, identityDoc(`{"Effect":"Allow","Action":[],"Resource":"*"}`), `Statement[0].Action: must not be an empty array`},
		{"action not a string", Identity, identityDoc(`{"Effect":"Allow","Action":["s3:GetObject",3],"Resource":"*"}`), `Statement[0].Action[1]: must be a string, not number`},
		{"places count every item", Identity, identityDoc(`{"Effect":"Allow","Action":["s3:GetObject",3,"s3GetObject"],"Resource":"*"}`), `Statement[0].Action[2] "s3GetObject": an action must be`},
		{"action an object", Identity, identityDoc(`{"Effect":"Allow","Action":{},"Resource":"*"}`), `Statement[0].Action: must be a string or an array of strings, not object`},
		{"identity statement without resource", Identity, identityDoc(`{"Effect":"Allow","Action":"*"}`), `Statement[0]: needs Resource or NotResource in an identity-based policy`},
		{"Resource and NotResource", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"arn:aws:s3:::b"}`), `Statement[0]: has both Resource and NotResource`},
		{"resource not an ARN", Identity, identityDoc(`{"Effect":"Allow","Action":"s3:*","Resource":["*","my-bucket"]}`), `Statement[0].Resource[1] "my-bucket": a resource must be "*" or an ARN`},
		{"resource with too few fields", Identity, identityDoc(`{"Effect":"Allow","Action":"s3:*","NotResource":"arn:aws:s3:bucket"}`), `Statement[0].NotResource[0] "arn:aws:s3:bucket": a resource must be`},
		{"principal in identity policy", Identity, identityDoc(`{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}`), `Statement[0].Principal: not allowed in an identity-based policy`},
		{"NotPrincipal in SCP", SCP, identityDoc(`{"Effect":"Deny","NotPrincipal":{"AWS":"123456789012"},"Action":"*","Resource":"*"}`), `Statement[0].NotPrincipal: not allowed in a service control policy`},
		{"SCP action with a wildcard inside", SCP, identityDoc(`{"Effect":"Deny","Action":["lambda:Get*","ec2:*Instances"],"Resource":"*"}`), `Statement[0].Action[1] "ec2:*Instances": in a service control policy a wildcard may only end the action name`},
		{"SCP NotAction with a ? inside", SCP, identityDoc(`{"Effect":"Deny","NotAction":["logs:Describe*","logs:Get?ogEvents"],"Resource":"*"}`), `Statement[0].NotAction[1] "logs:Get?ogEvents": in a service control policy a wildcard may only end`},
		{"SCP statement without resource", SCP, identityDoc(`{"Effect":"Deny","Action":"cloudtrail:StopLogging"}`), `Statement[0]: needs Resource or NotResource in a service control policy`},

		// trust and resource-based policies
		{"trust policy without principal", Trust, identityDoc(`{"Effect":"Allow","Action":"sts:AssumeRole"}`), `Statement[0]: needs Principal or NotPrincipal in a trust policy`},
		{"trust policy with resource", Trust, identityDoc(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}`), `Statement[0].Resource: not allowed in a trust policy`},
		{"trust policy with an s3 action", Trust, identityDoc(`{"Effect":"Allow","Principal":"*","Action":["sts:AssumeRole","s3:GetObject"]}`), `Statement[0].Action[1] "s3:GetObject": a trust policy may only name sts actions`},
		{"trust policy with action *", Trust, identityDoc(`{"Effect":"Allow","Principal":"*","Action":"*"}`), `Statement[0].Action[0] "*": a trust policy may only name sts actions`},
		{"resource policy without principal", Resource, identityDoc(`{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*"}`), `Statement[0]: needs Principal or NotPrincipal in a resource-based policy`},
		{"resource policy without resource", Resource, identityDoc(`{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage"}`), `Statement[0]: needs Resource or NotResource in a resource-based policy`},
		{"Principal and NotPrincipal", Resource, identityDoc(`{"Effect":"Deny","Principal":"*","NotPrincipal":{"AWS":"123456789012"},"Action":"sqs:*","Resource":"*"}`), `Statement[0]: has both Principal and NotPrincipal`},

		// principals
		{"principal a plain ARN string", Trust, identityDoc(`{"Effect":"Allow","Principal":"arn:aws:iam::123456789012:root","Action":"sts:AssumeRole"}`), `Statement[0].Principal "arn:aws:iam::123456789012:root": must be "*" or an object`},
		{"principal an empty object", Trust, identityDoc(`{"Effect":"Allow","Principal":{},"Action":"sts:AssumeRole"}`), `Statement[0].Principal: names no principal`},
		{"principal an array", Trust, identityDoc(`{"Effect":"Allow","Principal":["*"],"Action":"sts:AssumeRole"}`), `Statement[0].Principal: must be a JSON object, not array`},
		{"unknown principal type", Trust, identityDoc(`{"Effect":"Allow","Principal":{"User":"x"},"Action":"sts:AssumeRole"}`), `Statement[0].Principal.User: unknown principal type`},
		{"wildcard inside a principal ARN", Trust, identityDoc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/*"},"Action":"sts:AssumeRole"}`), `Statement[0].Principal.AWS[0] "arn:aws:iam::123456789012:role/*": a principal cannot hold a wildcard`},
		{"short account id", Trust, identityDoc(`{"Effect":"Allow","Principal":{"AWS":["123456789012","12345"]},"Action":"sts:AssumeRole"}`), `Statement[0].Principal.AWS[1] "12345": an AWS principal must be "*", a 12-digit account id or an ARN`},
		{"empty service principal", Trust, identityDoc(`{"Effect":"Allow","Principal":{"Service":""},"Action":"sts:AssumeRole"}`), `Statement[0].Principal.Service[0]: must not be empty`},
		{"service principal a number", Trust, identityDoc(`{"Effect":"Allow","Principal":{"Service":1},"Action":"sts:AssumeRole"}`), `Statement[0].Principal.Service: must be a string or an array of strings, not number`},

		// Sid
		{"sid with a hyphen", Identity, identityDoc(`{"Sid":"Allow-All","Effect":"Allow","Action":"*","Resource":"*"}`), `Statement[0].Sid "Allow-All": a Sid may hold only ASCII letters and digits`},
		{"sid not a string", Identity, identityDoc(`{"Sid":1,"Effect":"Allow","Action":"*","Resource":"*"}`), `Statement[0].Sid: must be a string, not number`},
		{"sid used twice", Identity, identityDoc(`{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"B","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"*","Resource":"*"}`), `Statement[2].Sid "A": already used by Statement[0]`},

		// conditions
		{"condition not an object", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":[]}`), `Statement[0].Condition: must be a JSON object, not array`},
		{"unknown operator", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEqual":{"aws:PrincipalOrgID":"o-1"}}}`), `Statement[0].Condition.StringEqual: unknown condition operator`},
		{"operator names are case-sensitive", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"stringEquals":{"aws:PrincipalOrgID":"o-1"}}}`), `Statement[0].Condition.stringEquals: unknown condition operator`},
		{"unknown set prefix", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForSomeValues:StringEquals":{"aws:TagKeys":"a"}}}`), `Statement[0].Condition.ForSomeValues:StringEquals: unknown condition operator`},
		{"Null with a set prefix", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAnyValue:Null":{"aws:TagKeys":"true"}}}`), `Statement[0].Condition.ForAnyValue:Null: Null takes no ForAnyValue:/ForAllValues: prefix`},
		{"Null with IfExists", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NullIfExists":{"aws:TagKeys":"true"}}}`), `Statement[0].Condition.NullIfExists: unknown condition operator`},
		{"operator block not an object", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":"o-1"}}`), `Statement[0].Condition.StringEquals: must be a JSON object, not string`},
		{"operator without keys", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{}}}`), `Statement[0].Condition.StringEquals: names no condition key`},
		{"empty condition key", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"":"x"}}}`), `Statement[0].Condition.StringEquals: a condition key must not be empty`},
		{"null condition value", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":null}}}`), `Statement[0].Condition.StringEquals.aws:PrincipalOrgID[0]: a condition value must be a string, boolean or number, not null`},
		{"object condition value", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":["o-1",{}]}}}`), `Statement[0].Condition.StringEquals.aws:PrincipalOrgID[1]: a condition value must be a string, boolean or number, not object`},
		{"empty condition value list", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":[]}}}`), `Statement[0].Condition.StringEquals.aws:PrincipalOrgID: must not be an empty array`},
		{"numeric value not a number", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":"ten"}}}`), `Statement[0].Condition.NumericLessThan.s3:max-keys[0] "ten": a Numeric operator needs a number`},
		{"condition places count every item", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericEquals":{"k:n":[1,null,"ten"]}}}`), `Statement[0].Condition.NumericEquals.k:n[2] "ten": a Numeric operator needs a number`},
		{"date value not a date", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThanIfExists":{"aws:CurrentTime":"next year"}}}`), `Statement[0].Condition.DateLessThanIfExists.aws:CurrentTime[0] "next year": a Date operator needs`},
		{"bool value not a boolean", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}`), `Statement[0].Condition.Bool.aws:SecureTransport[0] "yes": needs "true" or "false"`},
		{"null value not a boolean", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Null":{"aws:TagKeys":"maybe"}}}`), `Statement[0].Condition.Null.aws:TagKeys[0] "maybe": needs "true" or "false"`},
		{"ip value not a range", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","300.1.1.1/8"]}}}`), `Statement[0].Condition.NotIpAddress.aws:SourceIp[1] "300.1.1.1/8": an IpAddress operator needs a CIDR range`},
		{"repeated operator", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"a:b":"1"},"StringEquals":{"a:c":"2"}}}`), `Statement[0].Condition.StringEquals: appears twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.doc), tt.kind)
			if err == nil {
				t.Fatalf("Parse accepted %s", tt.doc)
			}
			if !containsLine(err, tt.want) {
				t.Errorf("error does not say %q:\n%v", tt.want, err)
			}
			if !reflect.DeepEqual(d, Document{}) {
				t.Errorf("a rejected document must be the zero Document, got %+v", d)
			}
		})
	}
}

// containsLine reports whether one line of err contains want.
func containsLine(err error, want string) bool {
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.Contains(line, want) {
			return true
		}
	}
	return false
}

// TestParseAccepts holds the near misses of TestParseRejects: what the grammar allows.
func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		doc  string
	}{
		{"single statement object", Identity, `{"Version":"2012-10-17","Statement":` + allowAll + `}`},
		{"older version", Identity, `{"Version":"2008-10-17","Statement":[` + allowAll + `]}`},
		{"Id", Identity, `{"Version":"2012-10-17","Id":"x-1","Statement":[` + allowAll + `]}`},
		{"white space", Identity, "{\n  \"Version\": \"2012-10-17\",\n\t\"Statement\": [ " + allowAll + " ]\n}"},
		{"trust policy without version", Trust, `{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`},
		{"resource policy without version", Resource, `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:123456789012:q"}]}`},
		{"trust policy with sts actions", Trust, identityDoc(`{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":["sts:AssumeRole","sts:TagSession","sts:Set*"]}`)},
		{"trust policy with NotPrincipal", Trust, identityDoc(`{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:role/r"},"Action":"sts:AssumeRole"}`)},
		{"NotAction and NotResource", Identity, identityDoc(`{"Effect":"Deny","NotAction":["iam:*","sts:*"],"NotResource":"arn:aws:s3:::b/*"}`)},
		{"wildcards in actions", Identity, identityDoc(`{"Effect":"Allow","Action":["s3:Get*","s3:?etObject","ec2:*"],"Resource":"*"}`)},
		{"hyphen and digits in service prefix", Identity, identityDoc(`{"Effect":"Allow","Action":["resource-groups:List*","ec2:Describe*","s3:GetObject"],"Resource":"*"}`)},
		{"policy variable in resource", Identity, identityDoc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/home/${aws:username}/*"}`)},
		{"empty Sid and unique Sids", Identity, identityDoc(`{"Sid":"","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"A1","Effect":"Allow","Action":"*","Resource":"*"}`)},
		{"every principal form", Resource, identityDoc(`{"Effect":"Allow","Principal":{"AWS":["*","123456789012","arn:aws:iam::123456789012:root","arn:aws:iam::123456789012:role/p/r","arn:aws:sts::123456789012:assumed-role/r/s"],"Service":["lambda.amazonaws.com"],"Federated":"cognito-identity.amazonaws.com","CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}`)},
		{"SCP allow list with conditions", SCP, identityDoc(`{"Sid":"DenyOutsideRegions","Effect":"Deny","NotAction":["iam:*","organizations:*"],"Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":["us-east-1","eu-west-2"]}}}`)},
		{"every operator", Identity, identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{
			"StringEquals":{"k:a":"v"},"StringNotEquals":{"k:a":"v"},"StringEqualsIgnoreCase":{"k:a":"v"},"StringNotEqualsIgnoreCase":{"k:a":"v"},
			"StringLike":{"k:a":"v*"},"StringNotLike":{"k:a":"v?"},
			"NumericEquals":{"k:n":1},"NumericNotEquals":{"k:n":"1"},"NumericLessThan":{"k:n":1.5},"NumericLessThanEquals":{"k:n":-1},"NumericGreaterThan":{"k:n":"1e3"},"NumericGreaterThanEquals":{"k:n":0},
			"DateEquals":{"k:d":"2026-01-02T03:04:05Z"},"DateNotEquals":{"k:d":"2026-01-02"},"DateLessThan":{"k:d":1767225600},"DateLessThanEquals":{"k:d":"2026-01-02T03:04:05+01:00"},"DateGreaterThan":{"k:d":"2026-01-02T03:04:05.123Z"},"DateGreaterThanEquals":{"k:d":"2026-01-02"},
			"Bool":{"k:b":true},"BoolIfExists":{"k:b":"FALSE"},"BinaryEquals":{"k:x":"QmluYXJ5"},
			"IpAddress":{"k:ip":["203.0.113.0/24","2001:db8::/32","198.51.100.7"]},"NotIpAddress":{"k:ip":"10.0.0.0/8"},
			"ArnEquals":{"k:arn":"arn:aws:iam::123456789012:role/r"},"ArnLike":{"k:arn":"arn:aws:iam::*:role/*"},"ArnNotEquals":{"k:arn":"arn:aws:iam::123456789012:role/r"},"ArnNotLike":{"k:arn":"arn:aws:iam::*:role/x*"},
			"Null":{"k:a":"true"},
			"ForAnyValue:StringEquals":{"aws:TagKeys":"a"},"ForAllValues:StringLike":{"aws:TagKeys":"a*"},"ForAllValues:StringNotEqualsIfExists":{"aws:TagKeys":"b"},
			"StringEqualsIfExists":{"k:a":"v"},"ArnNotLikeIfExists":{"k:arn":"arn:aws:iam::*:role/y"}}}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.doc), tt.kind); err != nil {
				t.Fatalf("Parse: %v", err)
			}
		})
	}
}

func TestParseKeepsStructure(t *testing.T) {
	got := MustParse(`{"Version":"2012-10-17","Id":"bus","Statement":{"Sid":"ThisOrganization","Effect":"Allow",
		"Principal":{"AWS":"*","Service":["events.amazonaws.com"]},"Action":"events:PutEvents","Resource":"arn:aws:events:us-east-1:123456789012:event-bus/onboarder",
		"Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abcdefghij"},"Bool":{"aws:SecureTransport":true},"NumericLessThan":{"k:n":1.50}}}}`, Resource)
	want := Document{Version: "2012-10-17", ID: "bus", Statements: []Statement{{
		Sid:       "ThisOrganization",
		Effect:    "Allow",
		Principal: &Principals{AWS: []string{"*"}, Service: []string{"events.amazonaws.com"}},
		Action:    []string{"events:PutEvents"},
		Resource:  []string{"arn:aws:events:us-east-1:123456789012:event-bus/onboarder"},
		Condition: map[string]map[string][]string{
			"StringEquals":    {"aws:PrincipalOrgID": {"o-abcdefghij"}},
			"Bool":            {"aws:SecureTransport": {"true"}},
			"NumericLessThan": {"k:n": {"1.50"}},
		},
	}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	star := MustParse(identityDoc(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}`), Trust)
	if p := star.Statements[0].Principal; p == nil || !p.All || p.AWS != nil {
		t.Errorf(`Principal "*" = %+v, want All`, p)
	}
	trust := MustParse(`{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`, Trust)
	if trust.Version != "" {
		t.Errorf("missing Version read as %q, want it kept empty", trust.Version)
	}
	empty := MustParse(identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}`), Identity)
	if empty.Statements[0].Condition != nil {
		t.Errorf("an empty Condition should be no condition, got %v", empty.Statements[0].Condition)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	doc := `{"Statement":[
		{"Sid":"Read","Effect":"Allow","Action":["s3:GetObject","s3GetObject"],"Resource":"*"},
		{"Sid":"Read","Effect":"Permit","Action":"s3:PutObject"},
		{"Effect":"Deny","Principal":"*","Action":"*","Resource":"bucket","Condition":{"StringEqual":{"k:a":"b"}}}]}`
	_, err := Parse([]byte(doc), Identity)
	if err == nil {
		t.Fatal("Parse accepted a document with eight problems")
	}
	want := []string{
		`Version: missing`,
		`Statement[0].Action[1] "s3GetObject": an action must be "service:Action" or "*"`,
		`Statement[1].Effect "Permit": must be "Allow" or "Deny"`,
		`Statement[1]: needs Resource or NotResource`,
		`Statement[1].Sid "Read": already used by Statement[0]`,
		`Statement[2].Principal: not allowed in an identity-based policy`,
		`Statement[2].Resource[0] "bucket": a resource must be`,
		`Statement[2].Condition.StringEqual: unknown condition operator`,
	}
	for _, w := range want {
		if !containsLine(err, w) {
			t.Errorf("error does not say %q", w)
		}
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != len(want) {
		t.Errorf("want %d problems, got:\n%v", len(want), err)
	}
}

func TestSCPSize(t *testing.T) {
	// scp returns an SCP whose minified size is n.
	scp := func(n int, indent string) string {
		head := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::`
		tail := `"}]}`
		doc := head + strings.Repeat("a", n-len(head)-len(tail)) + tail
		return strings.ReplaceAll(doc, ",", ","+indent) // white space outside strings
	}
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{"at the limit", scp(MaxSCPSize, ""), ""},
		{"at the limit, pretty-printed", scp(MaxSCPSize, "\n    \t"), ""},
		{"one over", scp(MaxSCPSize+1, ""), "policy: 5121 characters without white space; a service control policy may have at most 5120"},
		{"one over, pretty-printed", scp(MaxSCPSize+1, "\r\n  "), "5121 characters"},
		{"white space inside strings counts", strings.Replace(scp(MaxSCPSize, ""), "aaaa", "a  a", 1), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), SCP)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Parse: %v", err)
			case tt.wantErr != "" && (err == nil || !containsLine(err, tt.wantErr)):
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
	// The limit is the SCP's alone: an identity policy of the same size is fine.
	if _, err := Parse([]byte(scp(MaxSCPSize+1, "")), Identity); err != nil {
		t.Errorf("identity policy: %v", err)
	}

	sizes := []struct {
		doc  string
		want int
	}{
		{`{ "a" : "b c" }`, len(`{"a":"b c"}`)},
		{"{\n\t\"a\": [\"x\\\" y\", 1,\r\n true]\n}", len(`{"a":["x\" y",1,true]}`)},
		{`{"a":"\\"  ,  "b":"c"}`, len(`{"a":"\\","b":"c"}`)},
	}
	for _, s := range sizes {
		if got := MinifiedSize([]byte(s.doc)); got != s.want {
			t.Errorf("MinifiedSize(%q) = %d, want %d", s.doc, got, s.want)
		}
	}
}

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything:at/all", true},
		{"?", "", false},
		{"?", "é", true},
		{"??", "é", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a*b", "ab", true},
		{"a*b", "abb", true},
		{"a*b", "abc", false},
		{"*.fifo", "reconcile.fifo", true},
		{"*.fifo", "reconcile.fifox", false},
		{"a*a*a*a*b", strings.Repeat("a", 40), false},
		{"${aws:username}", "${aws:username}", true},
		{"${aws:username}", "alice", false},
	}
	for _, tt := range tests {
		if got := wildcardMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// applies reports whether an Allow statement built by edit applies to r.
func applies(t *testing.T, s Statement, r Request) bool {
	t.Helper()
	s.Effect = "Allow"
	decision, _ := Document{Statements: []Statement{s}}.Evaluate(r)
	return decision == Allow
}

func TestActionMatching(t *testing.T) {
	tests := []struct {
		name      string
		action    []string
		notAction []string
		request   string
		want      bool
	}{
		{"star matches everything", []string{"*"}, nil, "cloudformation:CreateStack", true},
		{"exact", []string{"cloudformation:CreateStack"}, nil, "cloudformation:CreateStack", true},
		{"another action", []string{"cloudformation:CreateStack"}, nil, "cloudformation:DeleteStack", false},
		{"request case does not matter", []string{"cloudformation:CreateStack"}, nil, "CloudFormation:createstack", true},
		{"policy case does not matter", []string{"CLOUDFORMATION:CREATESTACK"}, nil, "cloudformation:CreateStack", true},
		{"no implicit prefix match", []string{"s3:GetObject"}, nil, "s3:GetObjectAcl", false},
		{"trailing star", []string{"cloudformation:Describe*"}, nil, "cloudformation:DescribeStackEvents", true},
		{"trailing star, other verb", []string{"cloudformation:Describe*"}, nil, "cloudformation:DeleteStack", false},
		{"leading star", []string{"cloudformation:*Stack"}, nil, "cloudformation:UpdateStack", true},
		{"leading star, other suffix", []string{"cloudformation:*Stack"}, nil, "cloudformation:DescribeStacks", false},
		{"question mark is one character", []string{"s3:?etObject"}, nil, "s3:GetObject", true},
		{"question mark is not two", []string{"s3:?etObject"}, nil, "s3:GgetObject", false},
		{"service star", []string{"s3:*"}, nil, "s3:PutObject", true},
		{"service star is not another service", []string{"s3:*"}, nil, "s3express:CreateSession", false},
		{"second of a list", []string{"sqs:SendMessage", "sqs:ReceiveMessage"}, nil, "sqs:ReceiveMessage", true},
		{"NotAction excludes", nil, []string{"iam:*", "sts:*"}, "iam:PassRole", false},
		{"NotAction applies to the rest", nil, []string{"iam:*", "sts:*"}, "s3:GetObject", true},
		{"NotAction is case-insensitive", nil, []string{"iam:PassRole"}, "IAM:passrole", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Statement{Action: tt.action, NotAction: tt.notAction, Resource: []string{"*"}}
			if got := applies(t, s, Request{Action: tt.request}); got != tt.want {
				t.Errorf("applies = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestResourceMatching(t *testing.T) {
	const bucket = "arn:aws:s3:::cloudone-community"
	tests := []struct {
		name        string
		resource    []string
		notResource []string
		request     string
		want        bool
	}{
		{"star", []string{"*"}, nil, bucket + "/key", true},
		{"exact", []string{bucket}, nil, bucket, true},
		{"objects are not the bucket", []string{bucket + "/*"}, nil, bucket, false},
		{"objects", []string{bucket + "/*"}, nil, bucket + "/templates/main.yaml", true},
		{"case-sensitive", []string{bucket + "/*"}, nil, "arn:aws:s3:::CloudOne-Community/key", false},
		{"star crosses colons and slashes", []string{"arn:aws:logs:*:123456789012:log-group:/aws/lambda/onboarder-*"}, nil,
			"arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/onboarder-reconcile:log-stream:2026/01/01", true},
		{"other account", []string{"arn:aws:logs:*:123456789012:log-group:*"}, nil, "arn:aws:logs:us-east-1:210987654321:log-group:x", false},
		{"question mark", []string{"arn:aws:sqs:us-east-1:123456789012:queue-?"}, nil, "arn:aws:sqs:us-east-1:123456789012:queue-1", true},
		{"question mark is one character", []string{"arn:aws:sqs:us-east-1:123456789012:queue-?"}, nil, "arn:aws:sqs:us-east-1:123456789012:queue-12", false},
		{"policy variables are literal", []string{"arn:aws:s3:::b/home/${aws:username}"}, nil, "arn:aws:s3:::b/home/alice", false},
		{"policy variables match themselves", []string{"arn:aws:s3:::b/home/${aws:username}"}, nil, "arn:aws:s3:::b/home/${aws:username}", true},
		{"NotResource excludes", nil, []string{bucket + "/*"}, bucket + "/key", false},
		{"NotResource applies to the rest", nil, []string{bucket + "/*"}, "arn:aws:s3:::other/key", true},
		{"unknown resource: Resource matches", []string{bucket}, nil, "", true},
		{"unknown resource: NotResource does not", nil, []string{bucket}, "", false},
		{"no resource element (trust policy)", nil, nil, "arn:aws:iam::123456789012:role/r", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Statement{Action: []string{"*"}, Resource: tt.resource, NotResource: tt.notResource}
			if got := applies(t, s, Request{Action: "s3:GetObject", Resource: tt.request}); got != tt.want {
				t.Errorf("applies = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPrincipalMatching(t *testing.T) {
	const (
		role        = "arn:aws:iam::123456789012:role/cloudone-onboarder/reconcile/ReconcileRole"
		session     = "arn:aws:sts::123456789012:assumed-role/ReconcileRole/reconcile"
		user        = "arn:aws:iam::123456789012:user/alice"
		otherRole   = "arn:aws:iam::210987654321:role/ReconcileRole"
		otherSessio = "arn:aws:sts::210987654321:assumed-role/ReconcileRole/reconcile"
	)
	lambda := Principal{Service: "lambda.amazonaws.com"}
	tests := []struct {
		name      string
		principal string // the Principal element
		caller    Principal
		want      bool
	}{
		{"star: a role", `"*"`, Principal{ARN: role}, true},
		{"star: a service", `"*"`, lambda, true},
		{"AWS star", `{"AWS":"*"}`, Principal{ARN: otherSessio}, true},
		{"account id: a session of the account", `{"AWS":"123456789012"}`, Principal{ARN: session}, true},
		{"account id: another account", `{"AWS":"123456789012"}`, Principal{ARN: otherSessio}, false},
		{"account id: not a service", `{"AWS":"123456789012"}`, lambda, false},
		{"account root: a user of the account", `{"AWS":"arn:aws:iam::123456789012:root"}`, Principal{ARN: user}, true},
		{"account root: Account without ARN", `{"AWS":"arn:aws:iam::123456789012:root"}`, Principal{Account: "123456789012"}, true},
		{"account root: another account", `{"AWS":"arn:aws:iam::123456789012:root"}`, Principal{ARN: otherRole}, false},
		{"account root: another partition", `{"AWS":"arn:aws:iam::123456789012:root"}`, Principal{ARN: "arn:aws-cn:iam::123456789012:user/alice"}, false},
		{"Account overrides the ARN's account", `{"AWS":"123456789012"}`, Principal{ARN: otherSessio, Account: "123456789012"}, true},
		{"role: the role", `{"AWS":"` + role + `"}`, Principal{ARN: role}, true},
		{"role: its session (path not in session ARN)", `{"AWS":"` + role + `"}`, Principal{ARN: session}, true},
		{"role: a session of another role", `{"AWS":"` + role + `"}`, Principal{ARN: "arn:aws:sts::123456789012:assumed-role/ReconcileRole2/reconcile"}, false},
		{"role: same name, another account", `{"AWS":"` + role + `"}`, Principal{ARN: otherSessio}, false},
		{"role: same name, another partition", `{"AWS":"` + role + `"}`, Principal{ARN: "arn:aws-cn:sts::123456789012:assumed-role/ReconcileRole/reconcile"}, false},
		{"role: a user of the same name", `{"AWS":"` + role + `"}`, Principal{ARN: "arn:aws:iam::123456789012:user/ReconcileRole"}, false},
		{"role: another role of the account", `{"AWS":"` + role + `"}`, Principal{ARN: "arn:aws:iam::123456789012:role/Other"}, false},
		{"user: the user", `{"AWS":"` + user + `"}`, Principal{ARN: user}, true},
		{"user: another user", `{"AWS":"` + user + `"}`, Principal{ARN: "arn:aws:iam::123456789012:user/bob"}, false},
		{"session: that session", `{"AWS":"` + session + `"}`, Principal{ARN: session}, true},
		{"session: another session of the role", `{"AWS":"` + session + `"}`, Principal{ARN: "arn:aws:sts::123456789012:assumed-role/ReconcileRole/other"}, false},
		{"session: not the role itself", `{"AWS":"` + session + `"}`, Principal{ARN: role}, false},
		{"second of a list", `{"AWS":["210987654321","` + role + `"]}`, Principal{ARN: session}, true},
		{"service: that service", `{"Service":"lambda.amazonaws.com"}`, lambda, true},
		{"service: another service", `{"Service":"lambda.amazonaws.com"}`, Principal{Service: "events.amazonaws.com"}, false},
		{"service: not a role", `{"Service":"lambda.amazonaws.com"}`, Principal{ARN: role}, false},
		{"service list", `{"Service":["events.amazonaws.com","lambda.amazonaws.com"]}`, lambda, true},
		{"federated: that provider", `{"Federated":"cognito-identity.amazonaws.com"}`, Principal{Federated: "cognito-identity.amazonaws.com"}, true},
		{"federated: another provider", `{"Federated":"cognito-identity.amazonaws.com"}`, Principal{Federated: "accounts.google.com"}, false},
		{"canonical user never matches", `{"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}`, Principal{ARN: role}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, element := range []string{"Principal", "NotPrincipal"} {
				d := MustParse(identityDoc(`{"Effect":"Allow","`+element+`":`+tt.principal+`,"Action":"sts:AssumeRole"}`), Trust)
				decision, _ := d.Evaluate(Request{Action: "sts:AssumeRole", Principal: tt.caller})
				want := tt.want != (element == "NotPrincipal") // NotPrincipal: everyone but those listed
				if got := decision == Allow; got != want {
					t.Errorf("%s: applies = %v, want %v", element, got, want)
				}
			}
		})
	}
}

func TestConditions(t *testing.T) {
	one := func(v ...string) []string { return v }
	tests := []struct {
		name      string
		condition string
		context   map[string][]string
		want      bool
	}{
		// strings
		{"StringEquals", `{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}`, map[string][]string{"aws:PrincipalOrgID": one("o-abc")}, true},
		{"StringEquals: other value", `{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}`, map[string][]string{"aws:PrincipalOrgID": one("o-xyz")}, false},
		{"StringEquals: value case matters", `{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}`, map[string][]string{"aws:PrincipalOrgID": one("O-ABC")}, false},
		{"StringEquals: key case does not", `{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}`, map[string][]string{"AWS:principalorgid": one("o-abc")}, true},
		{"StringEquals: missing key", `{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}`, nil, false},
		{"StringEquals: empty value list is missing", `{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}`, map[string][]string{"aws:PrincipalOrgID": {}}, false},
		{"StringEquals: no wildcards", `{"StringEquals":{"k:a":"o-*"}}`, map[string][]string{"k:a": one("o-abc")}, false},
		{"StringEquals: values are ORed", `{"StringEquals":{"k:a":["x","y"]}}`, map[string][]string{"k:a": one("y")}, true},
		{"StringEquals: none of the values", `{"StringEquals":{"k:a":["x","y"]}}`, map[string][]string{"k:a": one("z")}, false},
		{"StringEquals: one of several request values", `{"StringEquals":{"k:a":"x"}}`, map[string][]string{"k:a": one("w", "x")}, true},
		{"StringNotEquals", `{"StringNotEquals":{"k:a":"x"}}`, map[string][]string{"k:a": one("y")}, true},
		{"StringNotEquals: equal", `{"StringNotEquals":{"k:a":"x"}}`, map[string][]string{"k:a": one("x")}, false},
		{"StringNotEquals: missing key is true", `{"StringNotEquals":{"k:a":"x"}}`, nil, true},
		{"StringNotEquals: matches none of the values", `{"StringNotEquals":{"k:a":["x","y"]}}`, map[string][]string{"k:a": one("z")}, true},
		{"StringNotEquals: matches one of the values", `{"StringNotEquals":{"k:a":["x","y"]}}`, map[string][]string{"k:a": one("y")}, false},
		{"StringNotEquals: one of several request values matches", `{"StringNotEquals":{"k:a":"x"}}`, map[string][]string{"k:a": one("w", "x")}, false},
		{"StringEqualsIgnoreCase", `{"StringEqualsIgnoreCase":{"k:a":"ABC"}}`, map[string][]string{"k:a": one("abc")}, true},
		{"StringEqualsIgnoreCase: other value", `{"StringEqualsIgnoreCase":{"k:a":"ABC"}}`, map[string][]string{"k:a": one("abd")}, false},
		{"StringEqualsIgnoreCase: missing key", `{"StringEqualsIgnoreCase":{"k:a":"ABC"}}`, nil, false},
		{"StringNotEqualsIgnoreCase", `{"StringNotEqualsIgnoreCase":{"k:a":"ABC"}}`, map[string][]string{"k:a": one("abd")}, true},
		{"StringNotEqualsIgnoreCase: equal but for case", `{"StringNotEqualsIgnoreCase":{"k:a":"ABC"}}`, map[string][]string{"k:a": one("abc")}, false},
		{"StringNotEqualsIgnoreCase: missing key is true", `{"StringNotEqualsIgnoreCase":{"k:a":"ABC"}}`, nil, true},
		{"StringLike", `{"StringLike":{"sts:RoleSessionName":"cloudone-*"}}`, map[string][]string{"sts:RoleSessionName": one("cloudone-onboarder")}, true},
		{"StringLike: no match", `{"StringLike":{"sts:RoleSessionName":"cloudone-*"}}`, map[string][]string{"sts:RoleSessionName": one("other")}, false},
		{"StringLike: case-sensitive", `{"StringLike":{"sts:RoleSessionName":"cloudone-*"}}`, map[string][]string{"sts:RoleSessionName": one("CloudOne-x")}, false},
		{"StringLike: question mark", `{"StringLike":{"k:a":"v?"}}`, map[string][]string{"k:a": one("v1")}, true},
		{"StringLike: missing key", `{"StringLike":{"k:a":"*"}}`, nil, false},
		{"StringNotLike", `{"StringNotLike":{"k:a":"cloudone-*"}}`, map[string][]string{"k:a": one("other")}, true},
		{"StringNotLike: matches", `{"StringNotLike":{"k:a":"cloudone-*"}}`, map[string][]string{"k:a": one("cloudone-x")}, false},
		{"StringNotLike: missing key is true", `{"StringNotLike":{"k:a":"cloudone-*"}}`, nil, true},

		// numbers
		{"NumericEquals", `{"NumericEquals":{"k:n":"10"}}`, map[string][]string{"k:n": one("10.0")}, true},
		{"NumericEquals: other number", `{"NumericEquals":{"k:n":10}}`, map[string][]string{"k:n": one("11")}, false},
		{"NumericEquals: not a number", `{"NumericEquals":{"k:n":10}}`, map[string][]string{"k:n": one("ten")}, false},
		{"NumericEquals: missing key", `{"NumericEquals":{"k:n":10}}`, nil, false},
		{"NumericNotEquals", `{"NumericNotEquals":{"k:n":10}}`, map[string][]string{"k:n": one("11")}, true},
		{"NumericNotEquals: equal", `{"NumericNotEquals":{"k:n":10}}`, map[string][]string{"k:n": one("10")}, false},
		{"NumericNotEquals: missing key is true", `{"NumericNotEquals":{"k:n":10}}`, nil, true},
		{"NumericLessThan", `{"NumericLessThan":{"s3:max-keys":10}}`, map[string][]string{"s3:max-keys": one("9")}, true},
		{"NumericLessThan: equal", `{"NumericLessThan":{"s3:max-keys":10}}`, map[string][]string{"s3:max-keys": one("10")}, false},
		{"NumericLessThanEquals: equal", `{"NumericLessThanEquals":{"k:n":10}}`, map[string][]string{"k:n": one("10")}, true},
		{"NumericLessThanEquals: greater", `{"NumericLessThanEquals":{"k:n":10}}`, map[string][]string{"k:n": one("10.5")}, false},
		{"NumericGreaterThan", `{"NumericGreaterThan":{"k:n":10}}`, map[string][]string{"k:n": one("11")}, true},
		{"NumericGreaterThan: equal", `{"NumericGreaterThan":{"k:n":10}}`, map[string][]string{"k:n": one("10")}, false},
		{"NumericGreaterThanEquals: equal", `{"NumericGreaterThanEquals":{"k:n":-1.5}}`, map[string][]string{"k:n": one("-1.5")}, true},
		{"NumericGreaterThanEquals: less", `{"NumericGreaterThanEquals":{"k:n":-1.5}}`, map[string][]string{"k:n": one("-2")}, false},

		// dates
		{"DateLessThan", `{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, map[string][]string{"aws:CurrentTime": one("2026-05-01T12:00:00Z")}, true},
		{"DateLessThan: later", `{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, map[string][]string{"aws:CurrentTime": one("2031-05-01T12:00:00Z")}, false},
		{"DateLessThan: missing key", `{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, nil, false},
		{"DateLessThan: not a date", `{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, map[string][]string{"aws:CurrentTime": one("yesterday")}, false},
		{"DateLessThanEquals: same instant", `{"DateLessThanEquals":{"k:d":"2026-01-01T01:00:00+01:00"}}`, map[string][]string{"k:d": one("2026-01-01T00:00:00Z")}, true},
		{"DateLessThanEquals: a second later", `{"DateLessThanEquals":{"k:d":"2026-01-01T01:00:00+01:00"}}`, map[string][]string{"k:d": one("2026-01-01T00:00:01Z")}, false},
		{"DateGreaterThan", `{"DateGreaterThan":{"k:d":"2026-01-01"}}`, map[string][]string{"k:d": one("2026-01-01T00:00:01Z")}, true},
		{"DateGreaterThan: earlier", `{"DateGreaterThan":{"k:d":"2026-01-01"}}`, map[string][]string{"k:d": one("2025-12-31T23:59:59Z")}, false},
		{"DateGreaterThanEquals: epoch seconds", `{"DateGreaterThanEquals":{"k:d":1767225600}}`, map[string][]string{"k:d": one("2026-01-01T00:00:00Z")}, true},
		{"DateGreaterThanEquals: a second before", `{"DateGreaterThanEquals":{"k:d":1767225600}}`, map[string][]string{"k:d": one("2025-12-31T23:59:59Z")}, false},
		{"DateEquals: same instant, other zone", `{"DateEquals":{"k:d":"2026-01-01T01:00:00+01:00"}}`, map[string][]string{"k:d": one("2026-01-01T00:00:00Z")}, true},
		{"DateEquals: other instant", `{"DateEquals":{"k:d":"2026-01-01T01:00:00+01:00"}}`, map[string][]string{"k:d": one("2026-01-01T01:00:00Z")}, false},
		{"DateNotEquals", `{"DateNotEquals":{"k:d":"2026-01-01T00:00:00Z"}}`, map[string][]string{"k:d": one("2026-01-02T00:00:00Z")}, true},
		{"DateNotEquals: equal", `{"DateNotEquals":{"k:d":"2026-01-01T00:00:00Z"}}`, map[string][]string{"k:d": one("2026-01-01T00:00:00Z")}, false},
		{"DateNotEquals: missing key is true", `{"DateNotEquals":{"k:d":"2026-01-01T00:00:00Z"}}`, nil, true},

		// booleans and binary
		{"Bool", `{"Bool":{"aws:SecureTransport":"true"}}`, map[string][]string{"aws:SecureTransport": one("true")}, true},
		{"Bool: JSON boolean, other case", `{"Bool":{"aws:SecureTransport":true}}`, map[string][]string{"aws:SecureTransport": one("TRUE")}, true},
		{"Bool: false", `{"Bool":{"aws:SecureTransport":"true"}}`, map[string][]string{"aws:SecureTransport": one("false")}, false},
		{"Bool: missing key", `{"Bool":{"aws:SecureTransport":"true"}}`, nil, false},
		{"BinaryEquals", `{"BinaryEquals":{"k:x":"QmluYXJ5"}}`, map[string][]string{"k:x": one("QmluYXJ5")}, true},
		{"BinaryEquals: other value", `{"BinaryEquals":{"k:x":"QmluYXJ5"}}`, map[string][]string{"k:x": one("QmluYXJ6")}, false},

		// addresses
		{"IpAddress", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, map[string][]string{"aws:SourceIp": one("203.0.113.7")}, true},
		{"IpAddress: outside", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, map[string][]string{"aws:SourceIp": one("198.51.100.1")}, false},
		{"IpAddress: missing key", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, nil, false},
		{"IpAddress: not an address", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, map[string][]string{"aws:SourceIp": one("localhost")}, false},
		{"IpAddress: IPv6", `{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]}}`, map[string][]string{"aws:SourceIp": one("2001:db8::1")}, true},
		{"IpAddress: IPv6 outside", `{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, map[string][]string{"aws:SourceIp": one("2001:db9::1")}, false},
		{"IpAddress: a single address", `{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}`, map[string][]string{"aws:SourceIp": one("203.0.113.7")}, true},
		{"IpAddress: a single address, other", `{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}`, map[string][]string{"aws:SourceIp": one("203.0.113.8")}, false},
		{"NotIpAddress", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, map[string][]string{"aws:SourceIp": one("203.0.113.7")}, true},
		{"NotIpAddress: inside", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, map[string][]string{"aws:SourceIp": one("10.1.2.3")}, false},
		{"NotIpAddress: missing key is true", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, nil, true},

		// ARNs
		{"ArnLike", `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/cloudone-onboarder/reconcile/*"}}`, map[string][]string{"aws:PrincipalArn": one("arn:aws:iam::123456789012:role/cloudone-onboarder/reconcile/R")}, true},
		{"ArnLike: another path", `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/cloudone-onboarder/reconcile/*"}}`, map[string][]string{"aws:PrincipalArn": one("arn:aws:iam::123456789012:role/R")}, false},
		{"ArnLike: missing key", `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"}}`, nil, false},
		{"ArnLike: not an ARN", `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"}}`, map[string][]string{"aws:PrincipalArn": one("ReconcileRole")}, false},
		{"ArnLike: wildcard field", `{"ArnLike":{"aws:SourceArn":"arn:aws:events:*:123456789012:rule/*"}}`, map[string][]string{"aws:SourceArn": one("arn:aws:events:eu-west-2:123456789012:rule/trailguard")}, true},
		{"ArnLike: a wildcard stays in its field", `{"ArnLike":{"aws:SourceArn":"arn:aws:iam::*:role/x"}}`, map[string][]string{"aws:SourceArn": one("arn:aws:iam::1:2:role/x")}, false},
		{"ArnLike: case-sensitive", `{"ArnLike":{"aws:SourceArn":"arn:aws:iam::*:role/x"}}`, map[string][]string{"aws:SourceArn": one("arn:aws:iam::123456789012:role/X")}, false},
		{"ArnEquals", `{"ArnEquals":{"aws:SourceArn":"arn:aws:sqs:us-east-1:123456789012:reconcile.fifo"}}`, map[string][]string{"aws:SourceArn": one("arn:aws:sqs:us-east-1:123456789012:reconcile.fifo")}, true},
		{"ArnEquals: other ARN", `{"ArnEquals":{"aws:SourceArn":"arn:aws:sqs:us-east-1:123456789012:reconcile.fifo"}}`, map[string][]string{"aws:SourceArn": one("arn:aws:sqs:us-east-1:123456789012:other.fifo")}, false},
		{"ArnNotEquals", `{"ArnNotEquals":{"aws:SourceArn":"arn:aws:sqs:us-east-1:123456789012:q"}}`, map[string][]string{"aws:SourceArn": one("arn:aws:sqs:us-east-1:123456789012:other")}, true},
		{"ArnNotEquals: equal", `{"ArnNotEquals":{"aws:SourceArn":"arn:aws:sqs:us-east-1:123456789012:q"}}`, map[string][]string{"aws:SourceArn": one("arn:aws:sqs:us-east-1:123456789012:q")}, false},
		{"ArnNotEquals: missing key is true", `{"ArnNotEquals":{"aws:SourceArn":"arn:aws:sqs:us-east-1:123456789012:q"}}`, nil, true},
		{"ArnNotLike", `{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/onboarder-*"}}`, map[string][]string{"aws:PrincipalArn": one("arn:aws:iam::123456789012:role/admin")}, true},
		{"ArnNotLike: matches", `{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/onboarder-*"}}`, map[string][]string{"aws:PrincipalArn": one("arn:aws:iam::123456789012:role/onboarder-x")}, false},
		{"ArnNotLike: missing key is true", `{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/onboarder-*"}}`, nil, true},

		// IfExists
		{"IfExists: missing key is true", `{"StringEqualsIfExists":{"k:a":"x"}}`, nil, true},
		{"IfExists: present and matching", `{"StringEqualsIfExists":{"k:a":"x"}}`, map[string][]string{"k:a": one("x")}, true},
		{"IfExists: present and not matching", `{"StringEqualsIfExists":{"k:a":"x"}}`, map[string][]string{"k:a": one("y")}, false},
		{"IfExists on a negated operator: missing", `{"StringNotLikeIfExists":{"k:a":"x*"}}`, nil, true},
		{"IfExists on a negated operator: matching", `{"StringNotLikeIfExists":{"k:a":"x*"}}`, map[string][]string{"k:a": one("xy")}, false},
		{"BoolIfExists: missing", `{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}`, nil, true},
		{"BoolIfExists: present and false", `{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}`, map[string][]string{"aws:MultiFactorAuthPresent": one("false")}, false},
		{"NumericLessThanIfExists: present and greater", `{"NumericLessThanIfExists":{"k:n":5}}`, map[string][]string{"k:n": one("6")}, false},

		// Null
		{"Null true: absent", `{"Null":{"aws:TokenIssueTime":"true"}}`, nil, true},
		{"Null true: present", `{"Null":{"aws:TokenIssueTime":"true"}}`, map[string][]string{"aws:TokenIssueTime": one("2026-01-01T00:00:00Z")}, false},
		{"Null true: empty value list counts as absent", `{"Null":{"aws:TokenIssueTime":true}}`, map[string][]string{"aws:TokenIssueTime": {}}, true},
		{"Null false: present", `{"Null":{"aws:TokenIssueTime":"false"}}`, map[string][]string{"aws:TokenIssueTime": one("x")}, true},
		{"Null false: absent", `{"Null":{"aws:TokenIssueTime":false}}`, nil, false},

		// set operators
		{"ForAnyValue: one matches", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}`, map[string][]string{"aws:TagKeys": one("c", "a")}, true},
		{"ForAnyValue: none matches", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}`, map[string][]string{"aws:TagKeys": one("c", "d")}, false},
		{"ForAnyValue: missing key is false", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}`, nil, false},
		{"ForAnyValue negated: one differs", `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"a"}}`, map[string][]string{"aws:TagKeys": one("a", "b")}, true},
		{"ForAnyValue negated: none differs", `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"a"}}`, map[string][]string{"aws:TagKeys": one("a")}, false},
		{"ForAnyValue negated: missing key is false", `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"a"}}`, nil, false},
		{"ForAnyValue IfExists: missing key", `{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":"a"}}`, nil, true},
		{"ForAllValues: every value matches", `{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}`, map[string][]string{"aws:TagKeys": one("b", "a")}, true},
		{"ForAllValues: one does not", `{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}`, map[string][]string{"aws:TagKeys": one("a", "c")}, false},
		{"ForAllValues: missing key is true", `{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}`, nil, true},
		{"ForAllValues: empty value list is true", `{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}`, map[string][]string{"aws:TagKeys": {}}, true},
		{"ForAllValues StringLike", `{"ForAllValues:StringLike":{"aws:TagKeys":"key1*"}}`, map[string][]string{"aws:TagKeys": one("key1a", "key1b")}, true},
		{"ForAllValues StringLike: one outside", `{"ForAllValues:StringLike":{"aws:TagKeys":"key1*"}}`, map[string][]string{"aws:TagKeys": one("key1a", "key2")}, false},
		{"ForAllValues negated: none matches", `{"ForAllValues:StringNotLike":{"aws:TagKeys":"key1*"}}`, map[string][]string{"aws:TagKeys": one("key2:audit")}, true},
		{"ForAllValues negated: one matches", `{"ForAllValues:StringNotLike":{"aws:TagKeys":"key1*"}}`, map[string][]string{"aws:TagKeys": one("key1:hr", "key2")}, false},
		{"ForAllValues negated: missing key is true", `{"ForAllValues:StringNotLike":{"aws:TagKeys":"key1*"}}`, nil, true},

		// combining keys and operators
		{"keys of an operator are ANDed", `{"StringEquals":{"k:a":"1","k:b":"2"}}`, map[string][]string{"k:a": one("1"), "k:b": one("2")}, true},
		{"keys of an operator: one fails", `{"StringEquals":{"k:a":"1","k:b":"2"}}`, map[string][]string{"k:a": one("1"), "k:b": one("3")}, false},
		{"operators are ANDed", `{"StringEquals":{"k:a":"1"},"StringLike":{"k:b":"2*"}}`, map[string][]string{"k:a": one("1"), "k:b": one("23")}, true},
		{"operators: one fails", `{"StringEquals":{"k:a":"1"},"StringLike":{"k:b":"2*"}}`, map[string][]string{"k:a": one("1")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := MustParse(identityDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":`+tt.condition+`}`), Identity)
			decision, _ := d.Evaluate(Request{Action: "s3:GetObject", Context: tt.context})
			if got := decision == Allow; got != tt.want {
				t.Errorf("condition holds = %v, want %v (context %v)", got, tt.want, tt.context)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	const bucket = "arn:aws:s3:::cloudone-community"
	allowS3 := `{"Sid":"ReadWrite","Effect":"Allow","Action":"s3:*","Resource":"*"}`
	denyDelete := `{"Sid":"NoDelete","Effect":"Deny","Action":"s3:Delete*","Resource":"*"}`
	tests := []struct {
		name     string
		kind     Kind
		doc      string
		request  Request
		want     Decision
		wantSid  string
		wantNone bool // no deciding statement
	}{
		{"allow", Identity, identityDoc(allowS3 + "," + denyDelete), Request{Action: "s3:GetObject", Resource: bucket}, Allow, "ReadWrite", false},
		{"deny wins", Identity, identityDoc(allowS3 + "," + denyDelete), Request{Action: "s3:DeleteObject", Resource: bucket}, Deny, "NoDelete", false},
		{"deny wins whatever the order", Identity, identityDoc(denyDelete + "," + allowS3), Request{Action: "s3:DeleteBucket", Resource: bucket}, Deny, "NoDelete", false},
		{"no statement applies", Identity, identityDoc(allowS3 + "," + denyDelete), Request{Action: "sqs:SendMessage"}, NotApplicable, "", true},
		{"a deny alone allows nothing", Identity, identityDoc(denyDelete), Request{Action: "s3:GetObject"}, NotApplicable, "", true},
		{"first applying allow decides", Identity, identityDoc(`{"Sid":"A","Effect":"Allow","Action":"s3:Get*","Resource":"*"},{"Sid":"B","Effect":"Allow","Action":"s3:*","Resource":"*"}`), Request{Action: "s3:GetObject"}, Allow, "A", false},
		{"NotAction deny: outside the list", Identity, identityDoc(allowS3 + `,{"Sid":"OnlyIAM","Effect":"Deny","NotAction":["iam:*","sts:*"],"Resource":"*"}`), Request{Action: "s3:GetObject"}, Deny, "OnlyIAM", false},
		{"NotAction deny: inside the list", Identity, identityDoc(`{"Sid":"OnlyIAM","Effect":"Deny","NotAction":["iam:*","sts:*"],"Resource":"*"}`), Request{Action: "iam:GetRole"}, NotApplicable, "", true},
		{"NotResource allow: other resource", Identity, identityDoc(`{"Sid":"NotSecrets","Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::secrets/*"}`), Request{Action: "s3:GetObject", Resource: bucket + "/k"}, Allow, "NotSecrets", false},
		{"NotResource allow: excluded resource", Identity, identityDoc(`{"Sid":"NotSecrets","Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::secrets/*"}`), Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::secrets/k"}, NotApplicable, "", true},
		{"unknown resource: NotResource deny does not fire", Identity, identityDoc(allowS3 + `,{"Sid":"OnlyOurs","Effect":"Deny","Action":"s3:*","NotResource":"` + bucket + `/*"}`), Request{Action: "s3:GetObject"}, Allow, "ReadWrite", false},
		{"known resource: NotResource deny fires", Identity, identityDoc(allowS3 + `,{"Sid":"OnlyOurs","Effect":"Deny","Action":"s3:*","NotResource":"` + bucket + `/*"}`), Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::other/k"}, Deny, "OnlyOurs", false},
		{"deny unless organization: missing key denies", Identity, identityDoc(allowS3 + `,{"Sid":"OrgOnly","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-abc"}}}`), Request{Action: "s3:GetObject"}, Deny, "OrgOnly", false},
		{"deny unless organization: member passes", Identity, identityDoc(allowS3 + `,{"Sid":"OrgOnly","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-abc"}}}`), Request{Action: "s3:GetObject", Context: map[string][]string{"aws:PrincipalOrgID": {"o-abc"}}}, Allow, "ReadWrite", false},
		{"resource policy: listed principal", Resource, identityDoc(`{"Sid":"Bus","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"events:PutEvents","Resource":"arn:aws:events:us-east-1:123456789012:event-bus/b"}`), Request{Action: "events:PutEvents", Resource: "arn:aws:events:us-east-1:123456789012:event-bus/b", Principal: Principal{ARN: "arn:aws:iam::123456789012:role/r"}}, Allow, "Bus", false},
		{"resource policy: another principal", Resource, identityDoc(`{"Sid":"Bus","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"events:PutEvents","Resource":"arn:aws:events:us-east-1:123456789012:event-bus/b"}`), Request{Action: "events:PutEvents", Resource: "arn:aws:events:us-east-1:123456789012:event-bus/b", Principal: Principal{ARN: "arn:aws:iam::210987654321:role/r"}}, NotApplicable, "", true},
		{"NotPrincipal deny: the excepted role's session", Resource, identityDoc(`{"Sid":"OnlyReconcile","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:role/ReconcileRole"},"Action":"sqs:DeleteMessage","Resource":"*"}`), Request{Action: "sqs:DeleteMessage", Principal: Principal{ARN: "arn:aws:sts::123456789012:assumed-role/ReconcileRole/s"}}, NotApplicable, "", true},
		{"NotPrincipal deny: anyone else", Resource, identityDoc(`{"Sid":"OnlyReconcile","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:role/ReconcileRole"},"Action":"sqs:DeleteMessage","Resource":"*"}`), Request{Action: "sqs:DeleteMessage", Principal: Principal{ARN: "arn:aws:sts::123456789012:assumed-role/SweepRole/s"}}, Deny, "OnlyReconcile", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := MustParse(tt.doc, tt.kind)
			got, s := d.Evaluate(tt.request)
			if got != tt.want {
				t.Fatalf("Evaluate = %v, want %v", got, tt.want)
			}
			switch {
			case tt.wantNone && s != nil:
				t.Errorf("deciding statement = %+v, want none", *s)
			case !tt.wantNone && (s == nil || s.Sid != tt.wantSid):
				t.Errorf("deciding statement = %+v, want Sid %q", s, tt.wantSid)
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	const stack = "arn:aws:cloudformation:us-east-1:111122223333:stack/CloudOne/*"
	execution := MustParse(identityDoc(`{"Sid":"DeployStack","Effect":"Allow","Action":["cloudformation:CreateStack","cloudformation:UpdateStack","cloudformation:DescribeStacks"],"Resource":"`+stack+`"},
		{"Sid":"ReadTrails","Effect":"Allow","Action":["cloudtrail:DescribeTrails","cloudtrail:StartLogging","cloudtrail:StopLogging"],"Resource":"*"}`), Identity)
	noDelete := MustParse(identityDoc(`{"Sid":"NoStackDelete","Effect":"Deny","Action":"cloudformation:DeleteStack","Resource":"*"},{"Sid":"AlsoAllowDelete","Effect":"Allow","Action":"cloudformation:DeleteStack","Resource":"*"}`), Identity)
	extra := MustParse(identityDoc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}`), Identity)
	guardrail := MustParse(identityDoc(`{"Sid":"DenyStopLogging","Effect":"Deny","Action":"cloudtrail:StopLogging","Resource":"*","Condition":{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/cloudone-onboarder/*"}}}`), SCP)
	anonymousDeny := MustParse(identityDoc(`{"Effect":"Deny","Action":"cloudtrail:DeleteTrail","Resource":"*"}`), SCP)
	onlyCloudFormation := MustParse(identityDoc(`{"Sid":"AllowCloudFormation","Effect":"Allow","Action":"cloudformation:*","Resource":"*"}`), SCP)

	const createStack = "cloudformation:CreateStack"
	stackARN := "arn:aws:cloudformation:us-east-1:111122223333:stack/CloudOne/1234"
	caller := map[string][]string{"aws:PrincipalArn": {"arn:aws:iam::111122223333:role/cloudone-onboarder/ExecutionRole"}}
	tests := []struct {
		name     string
		identity []Document
		scps     []Document
		request  Request
		want     bool
		reason   string
	}{
		{"allowed, no SCPs", []Document{execution}, nil, Request{Action: createStack, Resource: stackARN}, true, "allowed by an identity-based policy (statement DeployStack)"},
		{"action not in the role", []Document{execution}, nil, Request{Action: "cloudformation:DeleteStack", Resource: stackARN}, false, "no identity-based policy allows the cloudformation:DeleteStack action"},
		{"resource outside the role's scope", []Document{execution}, nil, Request{Action: createStack, Resource: "arn:aws:cloudformation:us-east-1:111122223333:stack/Other/1"}, false, "no identity-based policy allows the cloudformation:CreateStack action"},
		{"no policies at all", nil, nil, Request{Action: createStack}, false, "no identity-based policy allows the cloudformation:CreateStack action"},
		{"allow from a second policy", []Document{execution, extra}, nil, Request{Action: "s3:GetObject"}, true, "allowed by an identity-based policy (policy 1, Statement[0])"},
		{"deny in one policy beats allow in another", []Document{execution, noDelete}, nil, Request{Action: "cloudformation:DeleteStack", Resource: stackARN}, false, "explicit deny in an identity-based policy (statement NoStackDelete)"},
		{"FullAWSAccess and a guardrail: allowed", []Document{execution}, []Document{FullAWSAccess(), guardrail}, Request{Action: createStack, Resource: stackARN}, true, "allowed by an identity-based policy (statement DeployStack)"},
		{"FullAWSAccess and a guardrail: denied", []Document{execution}, []Document{FullAWSAccess(), guardrail}, Request{Action: "cloudtrail:StopLogging"}, false, "explicit deny in a service control policy (statement DenyStopLogging)"},
		{"guardrail exception by condition", []Document{execution}, []Document{FullAWSAccess(), guardrail}, Request{Action: "cloudtrail:StopLogging", Context: caller}, true, "allowed by an identity-based policy (statement ReadTrails)"},
		{"SCP deny without Sid", []Document{execution}, []Document{FullAWSAccess(), anonymousDeny}, Request{Action: "cloudtrail:DeleteTrail"}, false, "explicit deny in a service control policy (policy 1, Statement[0])"},
		{"SCP deny beats identity allow and deny", []Document{noDelete}, []Document{FullAWSAccess(), MustParse(identityDoc(`{"Sid":"NoDelete","Effect":"Deny","Action":"cloudformation:Delete*","Resource":"*"}`), SCP)}, Request{Action: "cloudformation:DeleteStack"}, false, "explicit deny in a service control policy (statement NoDelete)"},
		{"deny-list SCP without FullAWSAccess allows nothing", []Document{execution}, []Document{guardrail}, Request{Action: createStack, Resource: stackARN}, false, "no service control policy allows the cloudformation:CreateStack action"},
		{"allow-list SCP: inside", []Document{execution}, []Document{onlyCloudFormation}, Request{Action: createStack, Resource: stackARN}, true, "allowed by an identity-based policy (statement DeployStack)"},
		{"allow-list SCP: outside", []Document{execution}, []Document{onlyCloudFormation}, Request{Action: "cloudtrail:DescribeTrails"}, false, "no service control policy allows the cloudtrail:DescribeTrails action"},
		{"SCP allows, role does not", []Document{execution}, []Document{FullAWSAccess()}, Request{Action: "iam:CreateRole"}, false, "no identity-based policy allows the iam:CreateRole action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := Authorize(tt.identity, tt.scps, tt.request)
			if got != tt.want || reason != tt.reason {
				t.Errorf("Authorize = %v, %q\n          want %v, %q", got, reason, tt.want, tt.reason)
			}
		})
	}
}

// TestReconcileTrustPolicy is the member account's execution role trust policy and the calls
// the reconcile function (and others) make against it.
func TestReconcileTrustPolicy(t *testing.T) {
	trust := MustParse(`{"Version":"2012-10-17","Statement":[{"Sid":"ReconcileFunctionOfThisOrganization","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abcdefghij","sts:RoleSessionName":"cloudone-onboarder"},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/cloudone-onboarder/reconcile/*"}}}]}`, Trust)
	const (
		sessionARN = "arn:aws:sts::123456789012:assumed-role/onboarder-ReconcileRole-X/reconcile"
		roleARN    = "arn:aws:iam::123456789012:role/cloudone-onboarder/reconcile/onboarder-ReconcileRole-X"
	)
	context := func(org, session, principalARN string) map[string][]string {
		c := map[string][]string{}
		for k, v := range map[string]string{"aws:PrincipalOrgID": org, "sts:RoleSessionName": session, "aws:PrincipalArn": principalARN} {
			if v != "" {
				c[k] = []string{v}
			}
		}
		return c
	}
	reconcile := Principal{ARN: sessionARN}
	tests := []struct {
		name    string
		request Request
		want    Decision
	}{
		{"the reconcile function", Request{Action: "sts:AssumeRole", Principal: reconcile, Context: context("o-abcdefghij", "cloudone-onboarder", roleARN)}, Allow},
		{"action names are case-insensitive", Request{Action: "STS:assumerole", Principal: reconcile, Context: context("o-abcdefghij", "cloudone-onboarder", roleARN)}, Allow},
		{"wrong session name", Request{Action: "sts:AssumeRole", Principal: reconcile, Context: context("o-abcdefghij", "someone-else", roleARN)}, NotApplicable},
		{"no session name", Request{Action: "sts:AssumeRole", Principal: reconcile, Context: context("o-abcdefghij", "", roleARN)}, NotApplicable},
		{"another organization", Request{Action: "sts:AssumeRole", Principal: reconcile, Context: context("o-zzzzzzzzzz", "cloudone-onboarder", roleARN)}, NotApplicable},
		{"no organization", Request{Action: "sts:AssumeRole", Principal: reconcile, Context: context("", "cloudone-onboarder", roleARN)}, NotApplicable},
		{"a role outside the reconcile path", Request{Action: "sts:AssumeRole", Principal: Principal{ARN: "arn:aws:sts::123456789012:assumed-role/onboarder-SweepRole-Y/reconcile"}, Context: context("o-abcdefghij", "cloudone-onboarder", "arn:aws:iam::123456789012:role/cloudone-onboarder/sweep/onboarder-SweepRole-Y")}, NotApplicable},
		{"another account, same path", Request{Action: "sts:AssumeRole", Principal: Principal{ARN: "arn:aws:sts::210987654321:assumed-role/onboarder-ReconcileRole-X/reconcile"}, Context: context("o-abcdefghij", "cloudone-onboarder", "arn:aws:iam::210987654321:role/cloudone-onboarder/reconcile/onboarder-ReconcileRole-X")}, NotApplicable},
		{"another sts action", Request{Action: "sts:TagSession", Principal: reconcile, Context: context("o-abcdefghij", "cloudone-onboarder", roleARN)}, NotApplicable},
		{"a service principal", Request{Action: "sts:AssumeRole", Principal: Principal{Service: "lambda.amazonaws.com"}, Context: context("o-abcdefghij", "cloudone-onboarder", roleARN)}, NotApplicable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, s := trust.Evaluate(tt.request)
			if got != tt.want {
				t.Fatalf("Evaluate = %v, want %v", got, tt.want)
			}
			if got == Allow && (s == nil || s.Sid != "ReconcileFunctionOfThisOrganization") {
				t.Errorf("deciding statement = %+v", s)
			}
		})
	}
}

func TestJSON(t *testing.T) {
	d := MustParse(`{"Version":"2012-10-17","Id":"x","Statement":{"Sid":"S","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:123456789012:q","Condition":{"Bool":{"aws:SecureTransport":true},"ArnLike":{"aws:SourceArn":"arn:aws:events:*:123456789012:rule/<r>&"}}}}`, Resource)
	want := `{"Version":"2012-10-17","Id":"x","Statement":[{"Sid":"S","Effect":"Allow","Principal":{"AWS":["123456789012"]},"Action":["sqs:SendMessage"],"Resource":["arn:aws:sqs:us-east-1:123456789012:q"],"Condition":{"ArnLike":{"aws:SourceArn":["arn:aws:events:*:123456789012:rule/<r>&"]},"Bool":{"aws:SecureTransport":["true"]}}}]}`
	if got := string(d.JSON()); got != want {
		t.Errorf("JSON =\n%s\nwant\n%s", got, want)
	}

	roundTrips := []struct {
		kind Kind
		doc  string
	}{
		{Resource, string(d.JSON())},
		{Trust, `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Effect":"Deny","NotPrincipal":{"Service":"lambda.amazonaws.com","Federated":"f"},"NotAction":"sts:Tag*"}]}`},
		{Identity, identityDoc(`{"Sid":"","Effect":"Deny","NotAction":["iam:*"],"NotResource":"arn:aws:s3:::b","Condition":{}}`)},
		{SCP, fullAWSAccess},
	}
	for _, rt := range roundTrips {
		first := MustParse(rt.doc, rt.kind)
		again, err := Parse(first.JSON(), rt.kind)
		if err != nil {
			t.Errorf("Parse(JSON()) of %s: %v", rt.doc, err)
			continue
		}
		if !reflect.DeepEqual(first, again) {
			t.Errorf("round trip of %s\n got %+v\nwant %+v", rt.doc, again, first)
		}
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse of a bad document did not panic")
		}
	}()
	MustParse(`{"Statement":[]}`, Identity)
}

func TestNames(t *testing.T) {
	names := map[fmt.Stringer]string{
		NotApplicable: "implicit deny (no statement applies)",
		Allow:         "allow",
		Deny:          "explicit deny",
		Decision(9):   "Decision(9)",
		Identity:      "identity-based policy",
		Trust:         "trust policy",
		Resource:      "resource-based policy",
		SCP:           "service control policy",
		Kind(9):       "Kind(9)",
	}
	for v, want := range names {
		if got := v.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

// FuzzParse checks that Parse never panics and that what it accepts survives JSON().
func FuzzParse(f *testing.F) {
	f.Add(identityDoc(allowAll), uint8(Identity))
	f.Add(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":["123456789012"]},"Action":"sts:AssumeRole","Condition":{"ForAllValues:StringLike":{"aws:TagKeys":["a*",1,true]}}}]}`, uint8(Trust))
	f.Add(`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","NotAction":"s3:*","NotResource":["arn:aws:s3:::b"]}}`, uint8(Resource))
	f.Add(fullAWSAccess, uint8(SCP))
	f.Fuzz(func(t *testing.T, doc string, kind uint8) {
		k := Kind(kind % 4)
		d, err := Parse([]byte(doc), k)
		if err != nil {
			return
		}
		if k == SCP && MinifiedSize(d.JSON()) > MaxSCPSize {
			return // arrays and escapes may lengthen a document that was at the limit
		}
		again, err := Parse(d.JSON(), k)
		if err != nil {
			t.Fatalf("Parse(JSON()) = %v for %s", err, d.JSON())
		}
		if !reflect.DeepEqual(d, again) {
			t.Fatalf("round trip changed the document:\n%+v\n%+v", d, again)
		}
	})
}
