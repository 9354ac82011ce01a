// Package proxy is a fault-injecting loopback reverse proxy between the AWS SDK and moto.
//
// Clients point AWS_ENDPOINT_URL (or BaseEndpoint) at Proxy.URL; the proxy forwards every request
// to the upstream (moto) unchanged, Host header included, and injects the faults of the rules that
// match the request. A request is classified from the request alone: service and region from the
// SigV4 credential scope, action from X-Amz-Target, the query Action parameter or the S3 method and
// path, and account from the access key (keys returned by STS AssumeRole through the proxy belong to
// the role's account; any other key belongs to the default account, as in moto).
//
// Faults are shaped as the service's protocol shapes them, so the SDK's retryer classifies them as
// AWS would cause them: query XML for CloudFormation, STS, IAM and other query services, JSON with
// x-amzn-ErrorType for JSON services (and x-amzn-query-error for query-compatible ones such as SQS),
// S3 XML for S3.
package proxy

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultAccount is the account of plain (not assumed-role) credentials: moto's default.
const DefaultAccount = "123456789012"

// Proxy is a running fault-injecting proxy. Its methods are safe for concurrent use.
type Proxy struct {
	URL string // http://127.0.0.1:PORT

	upstream  *url.URL
	transport *http.Transport
	server    *http.Server
	listener  net.Listener
	defAcct   string

	mu    sync.Mutex
	rng   *rand.Rand
	rules []*ruleState
	keys  map[string]string // access key id -> account
	calls []Call

	stacks *stacksLayer
	iam    iamGate
	served map[string]http.Handler // service (signing name) -> stand-in that answers instead of moto
}

// Option configures Start.
type Option func(*Proxy)

// WithSeed makes the fault dice deterministic (for a given order of requests).
func WithSeed(seed int64) Option {
	return func(p *Proxy) { p.rng = rand.New(rand.NewSource(seed)) }
}

// WithDefaultAccount sets the account of credentials not learned from AssumeRole.
func WithDefaultAccount(account string) Option {
	return func(p *Proxy) { p.defAcct = account }
}

// Start listens on 127.0.0.1:0 and forwards to upstream, which must be a loopback http URL.
func Start(upstream string, opts ...Option) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("proxy: upstream %q: %w", upstream, err)
	}
	if u.Scheme != "http" || !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("proxy: upstream %q must be an http URL on a loopback address", upstream)
	}
	p := &Proxy{
		upstream: u,
		defAcct:  DefaultAccount,
		rng:      rand.New(rand.NewSource(time.Now().UnixNano())),
		keys:     map[string]string{},
		transport: &http.Transport{
			Proxy:               nil, // never through an environment proxy
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true, // pass Accept-Encoding and bodies through untouched
		},
	}
	p.stacks = newStacksLayer(p)
	p.iam = newIAMGate()
	for _, o := range opts {
		o(p)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: listen: %w", err)
	}
	p.listener = l
	p.URL = "http://" + l.Addr().String()
	p.server = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.server.Serve(l) }()
	return p, nil
}

// Close stops the proxy and drops its connections.
func (p *Proxy) Close() error {
	err := p.server.Close()
	p.transport.CloseIdleConnections()
	return err
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ---- rules ----

// Rule injects Fault into the requests it matches. Empty match fields match everything.
type Rule struct {
	Service string // signing name: cloudformation, sts, sqs, events, s3, ...
	Action  string // DescribeStacks, AssumeRole, SendMessage, ListBuckets, ...
	Account string // the caller's account
	Region  string
	// Resource, when set, must be a substring of the resource the request names (a stack,
	// the role an AssumeRole asks for, a queue: as the IAM gate derives it).
	Resource string

	Fault Fault

	Probability float64       // chance per matching request; 0 means 1 (always)
	Times       int           // at most this many injections; 0 means no limit
	From, Until time.Time     // active window; zero means unbounded
	Duration    time.Duration // active for this long from From (or from Add when From is zero)
	// FromFirstMatch starts Duration at the first request the rule matches, not at Add: a
	// burst "from the first call" that a loaded machine cannot miss by calling late.
	FromFirstMatch bool
}

type ruleState struct {
	Rule
	injected int
}

// Add appends a rule. Rules are evaluated in order: Latency rules that fire add up with the
// others; the first other fault that fires ends the evaluation.
func (p *Proxy) Add(r Rule) {
	if r.Fault == nil {
		panic("proxy: Rule without a Fault")
	}
	if r.Duration > 0 && !r.FromFirstMatch {
		if r.From.IsZero() {
			r.From = time.Now()
		}
		r.Until = r.From.Add(r.Duration)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, &ruleState{Rule: r})
}

// Clear removes every rule.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Injected reports how many times the i-th rule (in Add order since the last Clear) fired.
func (p *Proxy) Injected(i int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i < 0 || i >= len(p.rules) {
		return 0
	}
	return p.rules[i].injected
}

func (r *ruleState) matches(c Call, now time.Time) bool {
	return match(r.Service, c.Service) && match(r.Action, c.Action) &&
		match(r.Account, c.Account) && match(r.Region, c.Region) &&
		(r.Resource == "" || strings.Contains(c.resource, r.Resource)) &&
		(r.From.IsZero() || !now.Before(r.From)) && (r.Until.IsZero() || now.Before(r.Until)) &&
		(r.Times == 0 || r.injected < r.Times)
}

func match(want, got string) bool { return want == "" || want == got }

// plan is what the rules decided for one request.
type plan struct {
	delay    time.Duration
	terminal Fault // Throttle, ServerError, Reset, Truncate, AccessDenied, Busy or LoseResponse
	kinds    []string
}

func (p *Proxy) decide(c Call) plan { return p.decideAt(c, time.Now()) }

func (p *Proxy) decideAt(c Call, now time.Time) plan {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pl plan
	for _, r := range p.rules {
		if !r.matches(c, now) {
			continue
		}
		if r.Probability > 0 && r.Probability < 1 && p.rng.Float64() >= r.Probability {
			continue
		}
		switch f := r.Fault.(type) {
		case Latency:
			d := f.Fixed
			if f.UpTo > 0 {
				d += time.Duration(p.rng.Int63n(int64(f.UpTo) + 1))
			}
			pl.delay += d
		default:
			pl.terminal = f
		}
		r.injected++
		if r.FromFirstMatch && r.Duration > 0 && r.From.IsZero() {
			r.From, r.Until = now, now.Add(r.Duration)
		}
		pl.kinds = append(pl.kinds, r.Fault.Kind())
		if pl.terminal != nil {
			break
		}
	}
	return pl
}

// ---- faults ----

// Fault is one of Throttle, ServerError, Reset, Truncate, Latency, AccessDenied, Busy,
// LoseResponse.
type Fault interface {
	Kind() string // the name counted in Stats
	isFault()
}

// Throttle answers with the service's throttling error (HTTP 400; S3: SlowDown, 503).
type Throttle struct{}

// ServerError answers with InternalFailure (500) or ServiceUnavailable (503) shaped for the service.
type ServerError struct{ Status int }

// Reset closes the client's connection with a TCP RST before any response.
type Reset struct{}

// Truncate forwards, then writes half of the response body under the full Content-Length and
// closes the connection.
type Truncate struct{}

// Latency waits Fixed plus a uniform random duration in [0, UpTo] before forwarding.
type Latency struct{ Fixed, UpTo time.Duration }

// AccessDenied answers with the service's AccessDenied, as IAM or an SCP would (for a
// condition the IAM gate cannot see, such as a role that is not usable yet).
type AccessDenied struct{ Reason string }

// Busy answers a CloudFormation write with CloudFormation's ValidationError for a stack whose
// operation started in the meantime ("Stack:ID is in UPDATE_IN_PROGRESS state and can not be
// updated.").
type Busy struct{}

// LoseResponse forwards the request (the service acts on it), then resets the connection: the
// caller never learns the outcome and retries.
type LoseResponse struct{}

func (Throttle) Kind() string      { return "throttle" }
func (f ServerError) Kind() string { return "server-error-" + strconv.Itoa(f.status()) }
func (Reset) Kind() string         { return "reset" }
func (Truncate) Kind() string      { return "truncate" }
func (Latency) Kind() string       { return "latency" }
func (AccessDenied) Kind() string  { return "access-denied" }
func (Busy) Kind() string          { return "busy" }
func (LoseResponse) Kind() string  { return "lose-response" }

func (Throttle) isFault()     {}
func (ServerError) isFault()  {}
func (Reset) isFault()        {}
func (Truncate) isFault()     {}
func (Latency) isFault()      {}
func (AccessDenied) isFault() {}
func (Busy) isFault()         {}
func (LoseResponse) isFault() {}

func (f ServerError) status() int {
	if f.Status == 0 {
		return http.StatusInternalServerError
	}
	return f.Status
}

// ---- counters ----

// Call is one request as the proxy saw it, with the faults injected into it.
type Call struct {
	Service, Action, Account, Region string
	Faults                           []string // kinds, in rule order

	resource string // the resource the request names, for rules (not recorded)
}

// Filter selects calls; empty fields match everything.
type Filter struct{ Service, Action, Account, Region string }

// Calls lists the requests that match f, in arrival order.
func (p *Proxy) Calls(f Filter) []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Call
	for _, c := range p.calls {
		if match(f.Service, c.Service) && match(f.Action, c.Action) && match(f.Account, c.Account) && match(f.Region, c.Region) {
			c.Faults = append([]string(nil), c.Faults...)
			out = append(out, c)
		}
	}
	return out
}

// Key names a call in Stats.
type Key struct{ Service, Action, Account string }

// Counts are the requests of one key and the faults injected into them, by kind.
type Counts struct {
	Requests int
	Faults   map[string]int
}

// Stats sums the calls.
type Stats struct {
	Requests int
	Faults   map[string]int // by kind
	ByCall   map[Key]Counts
}

// Stats returns the counters since Start or the last ResetStats.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{Faults: map[string]int{}, ByCall: map[Key]Counts{}}
	for _, c := range p.calls {
		s.Requests++
		k := Key{c.Service, c.Action, c.Account}
		cc := s.ByCall[k]
		cc.Requests++
		if cc.Faults == nil {
			cc.Faults = map[string]int{}
		}
		for _, kind := range c.Faults {
			cc.Faults[kind]++
			s.Faults[kind]++
		}
		s.ByCall[k] = cc
	}
	return s
}

// ResetStats forgets the recorded calls (not the learned access keys, nor the rules).
func (p *Proxy) ResetStats() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
}

// ---- classification ----

var credentialRE = regexp.MustCompile(`Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request`)

// classify reads what the request is. body is the request body, already read.
func (p *Proxy) classify(r *http.Request, body []byte) (c Call, form url.Values, query bool, akid string) {
	if m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		akid, c.Region, c.Service = m[1], m[2], m[3]
	} else if cred := r.URL.Query().Get("X-Amz-Credential"); cred != "" { // presigned
		if parts := strings.Split(cred, "/"); len(parts) == 5 {
			akid, c.Region, c.Service = parts[0], parts[2], parts[3]
		}
	}
	switch {
	case r.Header.Get("X-Amz-Target") != "":
		t := r.Header.Get("X-Amz-Target")
		c.Action = t[strings.LastIndex(t, ".")+1:]
	case strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		form, _ = url.ParseQuery(string(body))
		c.Action, query = form.Get("Action"), true
	case r.URL.Query().Get("Action") != "":
		form = r.URL.Query()
		c.Action, query = form.Get("Action"), true
	case c.Service == "s3":
		c.Action = s3Action(r)
	default:
		c.Action = r.Method + " " + r.URL.Path
	}
	p.mu.Lock()
	c.Account = p.keys[akid]
	p.mu.Unlock()
	if c.Account == "" {
		c.Account = p.defAcct
	}
	return c, form, query, akid
}

// s3Action names a path-style S3 request: the SDK's x-id when present, else a short name from
// the method, the path depth and the first sub-resource.
func s3Action(r *http.Request) string {
	q := r.URL.Query()
	if id := q.Get("x-id"); id != "" {
		return id
	}
	path := strings.Trim(r.URL.Path, "/")
	if path == "" {
		return "ListBuckets"
	}
	sub := ""
	for k := range q {
		if !strings.Contains(k, "-") && k != "prefix" && k != "delimiter" && k != "marker" {
			sub = strings.ToUpper(k[:1]) + k[1:]
			break
		}
	}
	verb := map[string]string{"GET": "Get", "PUT": "Put", "DELETE": "Delete", "HEAD": "Head", "POST": "Post"}[r.Method]
	if !strings.Contains(path, "/") { // bucket
		switch {
		case sub != "":
			return verb + "Bucket" + sub
		case r.Method == http.MethodGet:
			return "ListObjects"
		case r.Method == http.MethodPut:
			return "CreateBucket"
		}
		return verb + "Bucket"
	}
	return verb + "Object" + sub
}

var (
	roleArnRE   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role/`)
	accessKeyRE = regexp.MustCompile(`<AccessKeyId>([^<]+)</AccessKeyId>`)
)

// busyStackID is the stack a refused write names, as CloudFormation's message names it.
func busyStackID(c Call, form url.Values) string {
	name := form.Get("StackName")
	if strings.HasPrefix(name, "arn:") {
		return name
	}
	return "arn:aws:cloudformation:" + c.Region + ":" + c.Account + ":stack/" + name + "/00000000-0000-0000-0000-000000000000"
}

// ---- serving ----

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "proxy: read request: "+err.Error(), http.StatusBadGateway)
		return
	}
	c, form, query, akid := p.classify(r, body)
	_, c.resource = actionOf(r, c, form, body)
	if d := p.authorize(r, c, akid, form, body); d != nil {
		c.Faults = []string{"access-denied"}
		p.mu.Lock()
		p.calls = append(p.calls, c)
		p.mu.Unlock()
		writeAccessDenied(w, r, c, query, d)
		return
	}
	pl := p.decide(c)
	c.Faults = pl.kinds
	p.mu.Lock()
	p.calls = append(p.calls, c)
	p.mu.Unlock()

	if pl.delay > 0 {
		t := time.NewTimer(pl.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	switch f := pl.terminal.(type) {
	case Throttle, ServerError:
		writeError(w, r, c, query, f)
		return
	case Reset:
		reset(w)
		return
	case AccessDenied:
		d := &Denial{Caller: "fault rule", RoleARN: "arn:aws:iam::" + c.Account + ":role/caller", Action: c.Service + ":" + c.Action,
			Resource: c.resource, Reason: or(f.Reason, "the fault proxy denies it")}
		writeAccessDenied(w, r, c, query, d)
		return
	case Busy:
		writeCFNError(w, http.StatusBadRequest, "ValidationError", "Stack:"+busyStackID(c, form)+" is in UPDATE_IN_PROGRESS state and can not be updated.")
		return
	case LoseResponse:
		rec := httptest.NewRecorder()
		if !p.serveStacks(rec, r, c, form, body) {
			if resp, err := p.forward(r, body, false); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		reset(w)
		return
	}
	if pl.terminal == nil && p.serveStacks(w, r, c, form, body) {
		return
	}

	if c.Service == "organizations" && p.delegated(akid) {
		// Allowed by the delegation (authorize): moto answers it as the management account,
		// whose view a delegated administrator gets. moto reads the account from the access
		// key, and gives one it did not issue the default (management) account.
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Credential="+akid+"/", "Credential="+delegateKey+"/", 1))
		r.Header.Del("X-Amz-Security-Token")
	}
	resp, err := p.forward(r, body, false)
	if err != nil {
		http.Error(w, "proxy: upstream: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()

	if c.Service == "sts" && c.Action == "AssumeRole" && resp.StatusCode == http.StatusOK || pl.terminal != nil {
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			reset(w)
			return
		}
		if c.Action == "AssumeRole" {
			p.learn(form.Get("RoleArn"), form.Get("RoleSessionName"), out)
		}
		copyHeader(w.Header(), resp.Header)
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(resp.StatusCode)
		if _, ok := pl.terminal.(Truncate); ok {
			_, _ = w.Write(out[:len(out)/2])
			_ = http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler) // the server closes the connection without logging
		}
		_, _ = w.Write(out)
		return
	}
	copyHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// delegateKey is the access key the proxy signs a delegated Organizations call with: not one
// moto issued, so moto takes it for the management account's.
const delegateKey = "FAULTPROXYDELEGATED"

// delegated reports whether a caller's Organizations calls go to the management account's
// view: a member account's role, with a delegation policy in force (authorize allowed it).
func (p *Proxy) delegated(akid string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	who, ok := p.iam.creds[akid]
	return ok && p.iam.on && p.iam.settings.Delegation != nil && who.account != p.iam.settings.Management
}

// learn maps the access key an AssumeRole response hands out to the role's account, and to
// a session of the role for the IAM gate.
func (p *Proxy) learn(roleArn, session string, respBody []byte) {
	m := roleArnRE.FindStringSubmatch(roleArn)
	k := accessKeyRE.FindSubmatch(respBody)
	if m == nil || k == nil {
		return
	}
	p.mu.Lock()
	p.keys[string(k[1])] = m[1]
	p.iam.creds[string(k[1])] = principal{roleARN: roleArn, session: session, account: m[1]}
	p.mu.Unlock()
}

// Serve makes h answer the calls of one service (its signing name, e.g. "organizations")
// instead of the upstream: for a stand-in where moto cannot hold the scale a benchmark
// needs. Rules, the IAM gate and the counters apply as to any call. A nil h undoes it.
func (p *Proxy) Serve(service string, h http.Handler) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h == nil {
		delete(p.served, service)
		return
	}
	if p.served == nil {
		p.served = map[string]http.Handler{}
	}
	p.served[service] = h
}

func (p *Proxy) standIn(r *http.Request) http.Handler {
	m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served[m[3]]
}

func (p *Proxy) forward(r *http.Request, body []byte, identity bool) (*http.Response, error) {
	if h := p.standIn(r); h != nil {
		out := r.Clone(r.Context())
		out.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, out)
		return rec.Result(), nil
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = p.upstream.Scheme, p.upstream.Host
	out.Host = r.Host // what the client signed; moto builds URLs (SQS queue URLs) from it
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.TransferEncoding = nil
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	if identity { // the body is rewritten: ask for it uncompressed
		out.Header.Del("Accept-Encoding")
	}
	return p.transport.RoundTrip(out)
}

var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		if k == "Connection" || k == "Keep-Alive" || k == "Transfer-Encoding" {
			continue
		}
		dst[k] = append([]string(nil), vs...)
	}
}

// reset closes the client connection with an RST (SO_LINGER 0): "connection reset by peer".
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// writeError answers with the fault shaped as the service's protocol shapes errors.
func writeError(w http.ResponseWriter, r *http.Request, c Call, query bool, f Fault) {
	status, code, fault, msg := http.StatusBadRequest, "Throttling", "Sender", "Rate exceeded"
	if se, ok := f.(ServerError); ok {
		status, fault = se.status(), "Receiver"
		code, msg = "InternalFailure", "We encountered an internal error. Please try again."
		if status == http.StatusServiceUnavailable {
			code, msg = "ServiceUnavailable", "Service is unavailable. Please try again."
		}
	}
	reqID := newRequestID()
	h := w.Header()
	h.Set("X-Amzn-Requestid", reqID)
	switch {
	case c.Service == "s3":
		switch code {
		case "Throttling":
			status, code, msg = http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate."
		case "InternalFailure":
			code = "InternalError"
		}
		h.Set("Content-Type", "application/xml")
		h.Set("X-Amz-Request-Id", reqID)
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId><HostId>%s</HostId></Error>`,
			code, msg, reqID, reqID)
	case query:
		h.Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://%s.amazonaws.com/doc/"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
			c.Service, fault, code, msg, reqID)
	default: // JSON protocols (awsJson 1.0/1.1, restJson)
		typ := code
		switch {
		case code == "Throttling" && c.Service == "sqs":
			typ = "com.amazonaws.sqs#RequestThrottled"
		case code == "Throttling" && c.Service == "dynamodb":
			typ = "com.amazonaws.dynamodb.v20120810#ThrottlingException"
		case code == "Throttling" && c.Service == "organizations":
			// Organizations throttles with TooManyRequestsException (HTTP 400), most often
			// worded as below (aws/aws-sdk-js#2135, org-formation/org-formation-cli#280); the
			// SDK's standard retryer counts the code as throttling (aws/retry/standard.go).
			typ = "TooManyRequestsException"
			msg = "AWS Organizations can't complete your request because another request is already in progress. Try again later."
		case code == "Throttling":
			typ = "ThrottlingException"
		}
		short := typ[strings.LastIndex(typ, "#")+1:]
		ct := r.Header.Get("Content-Type")
		if !strings.HasPrefix(ct, "application/x-amz-json") {
			ct = "application/json"
		}
		h.Set("Content-Type", ct)
		h.Set("X-Amzn-ErrorType", short)
		if r.Header.Get("X-Amzn-Query-Mode") == "true" { // query-compatible JSON (SQS)
			h.Set("X-Amzn-Query-Error", short+";"+fault)
		}
		body := fmt.Sprintf(`{"__type":%q,"message":%q}`, typ, msg)
		if c.Service == "dynamodb" { // DynamoDB answers carry a CRC32 the SDK checks
			h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

var (
	idMu  sync.Mutex
	idRNG = rand.New(rand.NewSource(time.Now().UnixNano()))
)

func newRequestID() string {
	idMu.Lock()
	defer idMu.Unlock()
	b := make([]byte, 16)
	idRNG.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
