package proxy

// The IAM gate: AWS authorizes every call against the caller's policies; moto, unless its
// own IAM mode is on, allows everything. With EnforceIAM the proxy evaluates each call of a
// known principal (credentials registered with AddCredentials, or handed out by an
// AssumeRole through the proxy) against the identity-based policies of its role
// (integration/localworld/iampolicy, AWS's evaluation logic), and the service control policies of its account
// (SCPs do not apply to the management account:
// https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html).
// A call that is not allowed is answered with AccessDenied shaped as the service's protocol
// shapes it, and recorded (Denials), so that a test fails naming the caller and the action.
//
// What it checks:
//   - the IAM action of the call, which is not always the API's name (SendMessageBatch is
//     authorized as sqs:SendMessage, ListBuckets as s3:ListAllMyBuckets: actionOf);
//   - the resource ARN where the request names it (queues, tables, secrets, stacks, trails,
//     buses, buckets and objects, roles); other calls are checked by action alone, as moto's
//     own IAM mode checks every call;
//   - the actions AWS authorizes besides the call itself: iam:PassRole on the RoleARN a
//     CloudFormation write passes (with iam:PassedToService), s3:GetObject on the TemplateURL
//     CloudFormation reads with the caller's credentials;
//   - sts:AssumeRole: the target role must exist (be registered) and its trust policy must
//     allow the caller, with the keys trust policies use (aws:PrincipalArn,
//     aws:PrincipalOrgID, sts:RoleSessionName); the caller's own policy sees
//     aws:ResourceOrgID of the target account;
//   - CloudFormation assuming the service role a write passes: the role must exist and its
//     trust must let the service principal cloudformation.amazonaws.com in with no condition
//     key, since CloudFormation documents none that it sends
//     (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html;
//     a key a service does not send is absent: "AWS global condition context keys",
//     https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).
// Not checked: resource-based policies (bucket, queue and bus policies), permission
// boundaries, session policies.

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/iampolicy"
)

// Role is a role the gate knows: its ARN, a label for messages (the function that runs with
// it, or the role's name), its identity-based policies and its trust policy.
type Role struct {
	ARN      string
	Label    string
	Policies []iampolicy.Document
	Trust    *iampolicy.Document
}

// IAMSettings are the facts about the Organization that conditions ask for.
type IAMSettings struct {
	OrgID      string          // aws:PrincipalOrgID, aws:ResourceOrgID
	Management string          // the management account: SCPs do not apply to it
	Accounts   map[string]bool // the accounts of the Organization (nil: every account is)
	// Delegation is the Organization's resource-based delegation policy (PutResourcePolicy,
	// which moto 5.2.1 does not have): with it, a member account's Organizations calls that
	// both its role and this policy allow are answered as the management account's are, as
	// AWS answers a delegated administrator
	// (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_delegate_policies.html);
	// moto answers a member account only DescribeOrganization and ListRoots, from its own
	// empty view for the rest (moto/organizations/models.py). Without it, a member account's
	// Organizations calls are refused, as AWS refuses them without a delegation.
	Delegation *iampolicy.Document
	// PartitionKeys names the partition key attribute of each table (by name): an item
	// request on one of them carries dynamodb:LeadingKeys, the partition key value it names,
	// for conditions on it (Amazon DynamoDB Developer Guide, "Using IAM policy conditions for
	// fine-grained access control",
	// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html).
	PartitionKeys map[string]string
}

// Denial is one call the gate refused.
type Denial struct {
	Caller   string // the label of the caller's role
	RoleARN  string
	Account  string
	Action   string // the IAM action
	API      string // the API call it was part of
	Resource string
	Reason   string
}

func (d Denial) String() string {
	res := d.Resource
	if res == "" {
		res = "*"
	}
	s := fmt.Sprintf("%s (%s) was denied %s on %s", d.Caller, d.RoleARN, d.Action, res)
	if d.API != "" && !strings.EqualFold(d.API, d.Action[strings.Index(d.Action, ":")+1:]) {
		s += " (part of " + d.API + ")"
	}
	return s + ": " + d.Reason
}

type principal struct {
	roleARN, session, account string
}

type iamGate struct {
	on       bool
	settings IAMSettings
	roles    map[string]*Role                // by role ARN
	creds    map[string]principal            // access key id -> principal
	scps     map[string][]iampolicy.Document // account -> SCPs (deny lists; FullAWSAccess is implied)
	closed   map[string]string               // account -> its state after CloseAccount (SUSPENDED)
	denials  []Denial
}

// CloseAccount makes the gate treat an account as AWS does once Organizations closed it: no
// role in it can be assumed any more, and sessions assumed before are refused. moto closes the account in Organizations (SUSPENDED at
// once: moto/organizations/models.py, FakeAccount.close) but its STS still hands out
// credentials into it. On AWS a closed account is suspended for the 90 days of the
// post-closure period and only its root user can sign in, to reopen it ("Closing a member
// account in your organization", AWS Organizations User Guide).
func (p *Proxy) CloseAccount(account string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.iam.closed[account] = "SUSPENDED"
}

// EnforceIAM turns the gate on.
func (p *Proxy) EnforceIAM(s IAMSettings) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.iam.on, p.iam.settings = true, s
}

// AddRole makes a role known to the gate (replacing one of the same ARN).
func (p *Proxy) AddRole(r Role) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.iam.roles[r.ARN] = &r
}

// AddCredentials says that an access key acts as a session of a role (as Lambda hands a
// function its role's credentials).
func (p *Proxy) AddCredentials(accessKeyID, roleARN, session string) {
	m := roleArnRE.FindStringSubmatch(roleARN)
	if m == nil {
		panic("proxy: AddCredentials: not a role ARN: " + roleARN)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.iam.creds[accessKeyID] = principal{roleARN: roleARN, session: session, account: m[1]}
	p.keys[accessKeyID] = m[1]
}

// AddSCP attaches a service control policy to an account (with FullAWSAccess implied: the
// documents are meant to deny).
func (p *Proxy) AddSCP(account string, doc iampolicy.Document) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.iam.scps[account] = append(p.iam.scps[account], doc)
}

// ClearSCPs detaches every SCP.
func (p *Proxy) ClearSCPs() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.iam.scps = map[string][]iampolicy.Document{}
}

// Denials returns the calls refused since the last ResetDenials.
func (p *Proxy) Denials() []Denial {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Denial(nil), p.iam.denials...)
}

// ResetDenials forgets the refused calls.
func (p *Proxy) ResetDenials() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.iam.denials = nil
}

// ForgetIAM drops the roles and credentials (after moto was reset); SCPs and settings stay.
func (p *Proxy) ForgetIAM() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.iam.roles, p.iam.creds, p.iam.closed = map[string]*Role{}, map[string]principal{}, map[string]string{}
}

func newIAMGate() iamGate {
	return iamGate{roles: map[string]*Role{}, creds: map[string]principal{}, scps: map[string][]iampolicy.Document{}, closed: map[string]string{}}
}

// check is one authorization the gate makes for a call.
type check struct {
	action, resource string
	context          map[string][]string
}

// authorize decides a call; nil means allowed (or not gated).
func (p *Proxy) authorize(r *http.Request, c Call, akid string, form url.Values, body []byte) *Denial {
	p.mu.Lock()
	on := p.iam.on
	who, known := p.iam.creds[akid]
	p.mu.Unlock()
	if !on || !known {
		return nil // the harness's own credentials
	}
	p.mu.Lock()
	role := p.iam.roles[who.roleARN]
	settings := p.iam.settings
	var scps []iampolicy.Document
	if who.account != settings.Management && len(p.iam.scps[who.account]) > 0 {
		scps = append([]iampolicy.Document{iampolicy.FullAWSAccess()}, p.iam.scps[who.account]...)
	}
	p.mu.Unlock()
	deny := func(action, resource, reason string) *Denial {
		label := who.roleARN
		if role != nil && role.Label != "" {
			label = role.Label
		}
		d := &Denial{Caller: label, RoleARN: who.roleARN, Account: who.account, Action: action, API: c.Action, Resource: resource, Reason: reason}
		p.mu.Lock()
		p.iam.denials = append(p.iam.denials, *d)
		p.mu.Unlock()
		return d
	}
	if c.Service == "sts" && c.Action == "GetCallerIdentity" {
		return nil // always allowed, whatever the policies say
	}
	p.mu.Lock()
	state := p.iam.closed[who.account]
	p.mu.Unlock()
	if state != "" {
		return deny(c.Service+":"+c.Action, "", "the account "+who.account+" is closed ("+state+")")
	}
	if role == nil {
		return deny(c.Service+":"+c.Action, "", "the caller's role "+who.roleARN+" is not known to the IAM gate")
	}
	sessionARN := "arn:aws:sts::" + who.account + ":assumed-role/" + who.roleARN[strings.LastIndex(who.roleARN, "/")+1:] + "/" + who.session
	for _, ch := range checksOf(r, c, form, body, settings) {
		if c.Service == "iam" && strings.Contains(ch.resource, ":role/") && form.Get("Path") == "" {
			ch.resource = p.knownRole(ch.resource)
		}
		req := iampolicy.Request{Action: ch.action, Resource: ch.resource, Context: map[string][]string{
			"aws:PrincipalArn": {who.roleARN}, "aws:PrincipalAccount": {who.account},
		}, Principal: iampolicy.Principal{ARN: sessionARN, Account: who.account}}
		if settings.OrgID != "" {
			req.Context["aws:PrincipalOrgID"] = []string{settings.OrgID}
		}
		for k, v := range ch.context {
			req.Context[k] = v
		}
		if ok, why := iampolicy.Authorize(role.Policies, scps, req); !ok {
			return deny(ch.action, ch.resource, why)
		}
	}
	if c.Service == "organizations" && who.account != settings.Management {
		req := iampolicy.Request{Action: "organizations:" + c.Action, Resource: c.resource,
			Principal: iampolicy.Principal{ARN: sessionARN, Account: who.account},
			Context:   map[string][]string{"aws:PrincipalArn": {who.roleARN}, "aws:PrincipalAccount": {who.account}}}
		if settings.Delegation == nil {
			return deny(req.Action, c.resource, "the Organization has no delegation policy: only the management account may call Organizations")
		}
		if d, _ := settings.Delegation.Evaluate(req); d != iampolicy.Allow {
			return deny(req.Action, c.resource, "the Organization's delegation policy does not allow it for "+who.account+" ("+d.String()+")")
		}
	}
	if c.Service == "cloudformation" && form.Get("RoleARN") != "" {
		service := form.Get("RoleARN")
		p.mu.Lock()
		sr := p.iam.roles[service]
		p.mu.Unlock()
		if sr == nil || sr.Trust == nil {
			return deny("sts:AssumeRole", service, "CloudFormation cannot assume the service role: it does not exist")
		}
		req := iampolicy.Request{Action: "sts:AssumeRole", Resource: service, Principal: iampolicy.Principal{Service: "cloudformation.amazonaws.com"},
			Context: map[string][]string{}}
		if d, _ := sr.Trust.Evaluate(req); d != iampolicy.Allow {
			return deny("sts:AssumeRole", service, "the trust policy of the service role "+service+" does not let cloudformation.amazonaws.com assume it ("+d.String()+")")
		}
	}
	if c.Service == "sts" && c.Action == "AssumeRole" {
		target := form.Get("RoleArn")
		p.mu.Lock()
		tr := p.iam.roles[target]
		state := ""
		if m := roleArnRE.FindStringSubmatch(target); m != nil {
			state = p.iam.closed[m[1]]
		}
		p.mu.Unlock()
		if state != "" {
			return deny("sts:AssumeRole", target, "the account is closed ("+state+"): no role in it can be assumed")
		}
		if tr == nil || tr.Trust == nil {
			return deny("sts:AssumeRole", target, "the role does not exist")
		}
		req := iampolicy.Request{Action: "sts:AssumeRole", Resource: target,
			Principal: iampolicy.Principal{ARN: sessionARN, Account: who.account},
			Context: map[string][]string{"aws:PrincipalArn": {who.roleARN}, "aws:PrincipalAccount": {who.account},
				"sts:RoleSessionName": {form.Get("RoleSessionName")}}}
		if settings.OrgID != "" {
			req.Context["aws:PrincipalOrgID"] = []string{settings.OrgID}
		}
		if d, _ := tr.Trust.Evaluate(req); d != iampolicy.Allow {
			return deny("sts:AssumeRole", target, "the trust policy of "+target+" does not allow the caller ("+d.String()+")")
		}
	}
	return nil
}

// knownRole is the ARN, path included, of the known role an IAM call names by name only
// (arn:aws:iam::ACCOUNT:role/NAME); the ARN as given when none is known.
func (p *Proxy) knownRole(arn string) string {
	account, name := arn[len("arn:aws:iam::"):strings.Index(arn, ":role/")], arn[strings.LastIndex(arn, "/")+1:]
	p.mu.Lock()
	defer p.mu.Unlock()
	for known := range p.iam.roles {
		if m := roleArnRE.FindStringSubmatch(known); m != nil && m[1] == account && strings.HasSuffix(known, "/"+name) {
			return known
		}
	}
	return arn
}

// checksOf lists the authorizations AWS makes for a call: its IAM action on its resource,
// and the implied ones.
func checksOf(r *http.Request, c Call, form url.Values, body []byte, s IAMSettings) []check {
	action, resource := actionOf(r, c, form, body)
	main := check{action: action, resource: resource}
	out := []check{main}
	switch {
	case c.Service == "sts" && c.Action == "AssumeRole":
		if m := roleArnRE.FindStringSubmatch(form.Get("RoleArn")); m != nil && s.OrgID != "" && (s.Accounts == nil || s.Accounts[m[1]]) {
			out[0].context = map[string][]string{"aws:ResourceOrgID": {s.OrgID}}
		}
	case c.Service == "dynamodb":
		if keys := leadingKeys(c.Action, body, s.PartitionKeys); keys != nil {
			out[0].context = map[string][]string{"dynamodb:LeadingKeys": keys}
		}
	case c.Service == "cloudformation":
		// CloudFormation authorizes iam:PassRole on the service role a write passes
		// (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html)
		// and reads a TemplateURL with the caller's credentials.
		if role := form.Get("RoleARN"); role != "" {
			out = append(out, check{action: "iam:PassRole", resource: role,
				context: map[string][]string{"iam:PassedToService": {"cloudformation.amazonaws.com"}}})
		}
		if u := form.Get("TemplateURL"); u != "" {
			if obj := s3ObjectOfURL(u); obj != "" {
				out = append(out, check{action: "s3:GetObject", resource: obj})
			}
		}
	}
	return out
}

var queueURLRE = regexp.MustCompile(`^https?://[^/]+/(\d{12})/([^/?]+)`)

// actionOf names the IAM action of a call and, where the request names it, its resource.
func actionOf(r *http.Request, c Call, form url.Values, body []byte) (string, string) {
	svc, api := c.Service, c.Action
	var js map[string]json.RawMessage
	if form == nil && len(body) > 0 && body[0] == '{' {
		_ = json.Unmarshal(body, &js)
	}
	str := func(k string) string {
		if form != nil {
			return form.Get(k)
		}
		var s string
		_ = json.Unmarshal(js[k], &s)
		return s
	}
	arn := func(service, resource string) string {
		return "arn:aws:" + service + ":" + c.Region + ":" + c.Account + ":" + resource
	}
	switch svc {
	case "sqs":
		action := map[string]string{"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
			"ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}[api]
		if action == "" {
			action = api
		}
		res := ""
		if m := queueURLRE.FindStringSubmatch(str("QueueUrl")); m != nil {
			res = "arn:aws:sqs:" + c.Region + ":" + m[1] + ":" + m[2]
		}
		return "sqs:" + action, res
	case "dynamodb":
		if t := str("TableName"); t != "" {
			return "dynamodb:" + api, arn("dynamodb", "table/"+t)
		}
		return "dynamodb:" + api, ""
	case "secretsmanager":
		if id := str("SecretId"); strings.HasPrefix(id, "arn:") {
			return "secretsmanager:" + api, id
		}
		return "secretsmanager:" + api, ""
	case "sts":
		return "sts:" + api, str("RoleArn")
	case "cloudformation":
		name := str("StackName")
		switch {
		case strings.HasPrefix(name, "arn:"):
			return "cloudformation:" + api, name
		case name != "":
			// A stack named, not yet known by id: any id matches stack/NAME/*.
			return "cloudformation:" + api, arn("cloudformation", "stack/"+name+"/00000000-0000-0000-0000-000000000000")
		}
		return "cloudformation:" + api, ""
	case "cloudtrail":
		name := str("Name")
		if name == "" {
			name = str("TrailName")
		}
		switch {
		case strings.HasPrefix(name, "arn:"):
			return "cloudtrail:" + api, name
		case name != "":
			return "cloudtrail:" + api, arn("cloudtrail", "trail/"+name)
		}
		return "cloudtrail:" + api, ""
	case "events":
		// The resource each call names: an archive, a replay, a bus (the resource types
		// archive, replay and event-bus of the Service Authorization Reference, "Actions,
		// resources, and condition keys for Amazon EventBridge"). StartReplay is checked
		// against the archive it replays, which the request names.
		switch api {
		case "DescribeArchive":
			if n := str("ArchiveName"); n != "" {
				return "events:" + api, arn("events", "archive/"+n)
			}
		case "StartReplay":
			if a := str("EventSourceArn"); a != "" {
				return "events:" + api, a
			}
		case "DescribeReplay":
			if n := str("ReplayName"); n != "" {
				return "events:" + api, arn("events", "replay/"+n)
			}
		case "DescribeEventBus":
			n := str("Name")
			switch {
			case strings.HasPrefix(n, "arn:"):
				return "events:" + api, n
			case n == "":
				n = "default"
			}
			return "events:" + api, arn("events", "event-bus/"+n)
		}
		if api == "PutEvents" {
			var entries []struct {
				EventBusName string `json:"EventBusName"`
			}
			_ = json.Unmarshal(js["Entries"], &entries)
			if len(entries) > 0 {
				bus := entries[0].EventBusName
				if bus == "" {
					bus = "default"
				}
				if !strings.HasPrefix(bus, "arn:") {
					bus = arn("events", "event-bus/"+bus)
				}
				return "events:PutEvents", bus
			}
		}
		return "events:" + api, ""
	case "s3":
		return s3IAM(r, api)
	case "lambda":
		return lambdaIAM(r, arn)
	case "logs":
		if g := str("logGroupName"); g != "" {
			return "logs:" + api, arn("logs", "log-group:"+g+":*")
		}
		// Account-level actions (PutAccountPolicy, DescribeLogGroups, ...) take "*"
		// (Service Authorization Reference, CloudWatch Logs: no resource type).
		return "logs:" + api, "*"
	case "iam":
		// Role and policy calls name their resource (Service Authorization Reference, IAM:
		// role arn:aws:iam::ACCOUNT:role/PATH/NAME, policy arn:aws:iam::ACCOUNT:policy/PATH/NAME).
		switch {
		case str("PolicyArn") != "" && !strings.Contains(api, "RolePolicy"):
			return "iam:" + api, str("PolicyArn")
		case str("RoleName") != "":
			path := str("Path")
			if path == "" {
				path = "/"
			}
			return "iam:" + api, "arn:aws:iam::" + c.Account + ":role" + path + str("RoleName")
		}
		return "iam:" + api, ""
	}
	return svc + ":" + api, ""
}

// leadingKeys is the partition key value an item request (GetItem, PutItem, UpdateItem,
// DeleteItem) names, for a table whose partition key is known; nil otherwise.
func leadingKeys(api string, body []byte, partitionKeys map[string]string) []string {
	var req struct {
		TableName string                                `json:"TableName"`
		Key       map[string]map[string]json.RawMessage `json:"Key"`
		Item      map[string]map[string]json.RawMessage `json:"Item"`
	}
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	name := partitionKeys[req.TableName]
	attrs := req.Key
	switch api {
	case "GetItem", "UpdateItem", "DeleteItem":
	case "PutItem":
		attrs = req.Item
	default:
		return nil
	}
	if name == "" || attrs == nil {
		return nil
	}
	for _, typ := range []string{"S", "N", "B"} {
		var v string
		if raw, ok := attrs[name][typ]; ok && json.Unmarshal(raw, &v) == nil {
			return []string{v}
		}
	}
	return nil
}

// lambdaIAM names the IAM action and resource of a Lambda REST call on a function
// (https://docs.aws.amazon.com/lambda/latest/api/API_Operations.html: the path is
// /2015-03-31/functions/NAME[/configuration|/code|/invocations]).
func lambdaIAM(r *http.Request, arn func(service, resource string) string) (string, string) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 || parts[1] != "functions" {
		return "lambda:" + r.Method + " " + r.URL.Path, ""
	}
	if len(parts) == 2 {
		if r.Method == http.MethodGet {
			return "lambda:ListFunctions", "*"
		}
		return "lambda:CreateFunction", ""
	}
	name := parts[2]
	if !strings.HasPrefix(name, "arn:") {
		name = arn("lambda", "function:"+name)
	}
	sub := ""
	if len(parts) > 3 {
		sub = parts[3]
	}
	action := map[string]string{
		"GET ": "GetFunction", "DELETE ": "DeleteFunction",
		"GET configuration": "GetFunctionConfiguration", "PUT configuration": "UpdateFunctionConfiguration",
		"PUT code": "UpdateFunctionCode", "POST invocations": "InvokeFunction",
		// GET /2015-03-31/functions/NAME/versions, POST to publish one
		// (https://docs.aws.amazon.com/lambda/latest/api/API_ListVersionsByFunction.html).
		"GET versions": "ListVersionsByFunction", "POST versions": "PublishVersion",
	}[r.Method+" "+sub]
	if action == "" {
		action = r.Method + " " + sub
	}
	return "lambda:" + action, name
}

// s3IAM names the IAM action and resource of a path-style S3 request
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html).
func s3IAM(r *http.Request, api string) (string, string) {
	path := strings.Trim(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	res := ""
	if bucket != "" {
		res = "arn:aws:s3:::" + bucket
		if key != "" {
			res += "/" + key
		}
	}
	action := map[string]string{"ListBuckets": "ListAllMyBuckets", "HeadObject": "GetObject", "HeadBucket": "ListBucket",
		"ListObjects": "ListBucket", "ListObjectsV2": "ListBucket", "GetBucketLocation": "GetBucketLocation"}[api]
	if action == "" {
		action = api
	}
	if api == "ListBuckets" {
		res = ""
	}
	return "s3:" + action, res
}

// s3ObjectOfURL is the object ARN of an S3 URL, path-style or virtual-hosted
// (https://bucket.s3.region.amazonaws.com/key); "" when it is not one.
func s3ObjectOfURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	host, path := u.Hostname(), strings.TrimPrefix(u.Path, "/")
	if i := strings.Index(host, ".s3."); i > 0 || strings.HasSuffix(host, ".s3.amazonaws.com") {
		if i < 0 {
			i = strings.Index(host, ".s3.amazonaws.com")
		}
		return "arn:aws:s3:::" + host[:i] + "/" + path
	}
	if path == "" {
		return ""
	}
	return "arn:aws:s3:::" + path
}

// writeAccessDenied answers a refused call as the service would.
func writeAccessDenied(w http.ResponseWriter, r *http.Request, c Call, query bool, d *Denial) {
	res := d.Resource
	if res == "" {
		res = "*"
	}
	msg := "User: " + d.RoleARN + " is not authorized to perform: " + d.Action + " on resource: " + res + " because " + d.Reason
	reqID := newRequestID()
	h := w.Header()
	h.Set("X-Amzn-Requestid", reqID)
	switch {
	case c.Service == "s3":
		h.Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error><Code>AccessDenied</Code><Message>%s</Message><RequestId>%s</RequestId></Error>`, xmlEscape(msg), reqID)
	case query:
		h.Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://%s.amazonaws.com/doc/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
			c.Service, xmlEscape(msg), reqID)
	default:
		typ := "AccessDeniedException"
		ct := r.Header.Get("Content-Type")
		if !strings.HasPrefix(ct, "application/x-amz-json") {
			ct = "application/json"
		}
		h.Set("Content-Type", ct)
		h.Set("X-Amzn-ErrorType", typ)
		if r.Header.Get("X-Amzn-Query-Mode") == "true" { // SQS: the query error code
			h.Set("X-Amzn-Query-Error", "AccessDenied;Sender")
		}
		body := fmt.Sprintf(`{"__type":%q,"message":%q}`, typ, msg)
		if c.Service == "dynamodb" {
			h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, body)
	}
}

func xmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}
