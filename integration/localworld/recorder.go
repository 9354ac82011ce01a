package localworld

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Call is one AWS API call that went through the Recorder.
type Call struct {
	Time        time.Time
	Service     string // signing name: cloudformation, cloudtrail, sts, sqs, ...
	Region      string // signing region
	Account     string // the account of the credentials (the management account for plain ones)
	AccessKey   string
	Action      string // CreateStack, StartLogging, ...; METHOD /path for REST services
	Status      int
	Body        []byte // the request body; it may hold secrets: never log it
	SessionName string // AssumeRole: the RoleSessionName asked for
	RoleARN     string // AssumeRole: the role asked for
}

// Write reports whether the call changes state: everything but Get*, List*, Describe*, Head*,
// Receive*, Lookup*, Scan, Query, Batch reads and the STS identity calls.
func (c Call) Write() bool {
	a := c.Action
	for _, p := range []string{"Get", "List", "Describe", "Head", "Receive", "Lookup", "Scan", "Query", "BatchGet", "Validate", "Estimate", "Test", "GET ", "HEAD "} {
		if strings.HasPrefix(a, p) {
			return false
		}
	}
	return a != "AssumeRole" && a != ""
}

// Recorder is a reverse proxy in front of moto that records every call: which service,
// region, account and action. The Lambdas get its URL as AWS_ENDPOINT_URL, so tests can see
// the product's write calls (none in a dry run), the capabilities it asked for (moto does not
// return them) and the session name it assumed roles with.
type Recorder struct {
	URL    string
	srv    *http.Server
	mu     sync.Mutex
	calls  []Call
	akids  map[string]string // access key id -> account, learned from AssumeRole
	target *url.URL
}

var (
	credRE   = regexp.MustCompile(`Credential=([^/]+)/[0-9]+/([^/]+)/([^/]+)/`)
	akidRE   = regexp.MustCompile(`<AccessKeyId>([^<]+)</AccessKeyId>`)
	accountR = regexp.MustCompile(`arn:aws[a-z-]*:iam::([0-9]{12}):role/`)
)

// StartRecorder starts a recorder forwarding to moto.
func StartRecorder(motoURL string) (*Recorder, error) {
	t, err := url.Parse(motoURL)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Recorder{URL: "http://" + l.Addr().String(), akids: map[string]string{}, target: t}
	rp := httputil.NewSingleHostReverseProxy(t)
	rp.ModifyResponse = r.response
	r.srv = &http.Server{Handler: r.handler(rp), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(l) }()
	return r, nil
}

// Stop closes the recorder.
func (r *Recorder) Stop() {
	if r != nil && r.srv != nil {
		_ = r.srv.Close()
	}
}

type callKey struct{}

func (r *Recorder) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		c := Call{Time: time.Now(), Body: body}
		if m := credRE.FindStringSubmatch(req.Header.Get("Authorization")); m != nil {
			c.AccessKey, c.Region, c.Service = m[1], m[2], m[3]
		}
		c.Action = action(req, body)
		if c.Action == "AssumeRole" {
			if v, err := url.ParseQuery(string(body)); err == nil {
				c.SessionName, c.RoleARN = v.Get("RoleSessionName"), v.Get("RoleArn")
			}
		}
		r.mu.Lock()
		c.Account = r.accountOf(c.AccessKey)
		r.mu.Unlock()
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		ctxReq := req.WithContext(contextWithCall(req.Context(), &c))
		next.ServeHTTP(rec, ctxReq)
		c.Status = rec.status
		r.mu.Lock()
		r.calls = append(r.calls, c)
		r.mu.Unlock()
	})
}

// AddCredentials tells the recorder the account of credentials it did not see handed out
// (the harness assumed them directly from moto).
func (r *Recorder) AddCredentials(akid, account string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.akids[akid] = account
}

func (r *Recorder) accountOf(akid string) string {
	if a, ok := r.akids[akid]; ok {
		return a
	}
	return ManagementAccount
}

func (r *Recorder) response(resp *http.Response) error {
	c := callFrom(resp.Request.Context())
	if c == nil || c.Action != "AssumeRole" || resp.StatusCode != http.StatusOK {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if m := akidRE.FindSubmatch(body); m != nil {
		if a := accountR.FindStringSubmatch(c.RoleARN); a != nil {
			r.mu.Lock()
			r.akids[string(m[1])] = a[1]
			r.mu.Unlock()
		}
	}
	return nil
}

// Calls returns the calls recorded so far that match every filter.
func (r *Recorder) Calls(filters ...func(Call) bool) []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Call
next:
	for _, c := range r.calls {
		for _, f := range filters {
			if !f(c) {
				continue next
			}
		}
		out = append(out, c)
	}
	return out
}

// Mark is the number of calls so far: pass it to Since.
func (r *Recorder) Mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// Since returns the calls after the mark that match every filter.
func (r *Recorder) Since(mark int, filters ...func(Call) bool) []Call {
	all := r.Calls()
	if mark > len(all) {
		mark = len(all)
	}
	var out []Call
next:
	for _, c := range all[mark:] {
		for _, f := range filters {
			if !f(c) {
				continue next
			}
		}
		out = append(out, c)
	}
	return out
}

// Filters for Calls and Since.
func Writes(c Call) bool { return c.Write() }
func InService(services ...string) func(Call) bool {
	return func(c Call) bool {
		for _, s := range services {
			if c.Service == s {
				return true
			}
		}
		return false
	}
}
func InAccount(account string) func(Call) bool {
	return func(c Call) bool { return c.Account == account }
}
func WithAction(actions ...string) func(Call) bool {
	return func(c Call) bool {
		for _, a := range actions {
			if c.Action == a {
				return true
			}
		}
		return false
	}
}

// action names the operation of an AWS request in any of its protocols.
func action(req *http.Request, body []byte) string {
	if t := req.Header.Get("X-Amz-Target"); t != "" {
		return t[strings.LastIndex(t, ".")+1:]
	}
	if i := strings.Index(req.URL.Path, "/operation/"); i >= 0 && strings.HasPrefix(req.URL.Path, "/service/") {
		return req.URL.Path[i+len("/operation/"):]
	}
	if strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") != "" {
			return v.Get("Action")
		}
	}
	if a := req.URL.Query().Get("Action"); a != "" {
		return a
	}
	return req.Method + " " + req.URL.Path
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
