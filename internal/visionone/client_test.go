package visionone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
)

const testKey = "eyJhbGciOi.TESTKEY-visionone-0123456789"

var key = secret.NewValue(testKey)

// recorded is one request the test server saw.
type recorded struct {
	method, path, auth, contentType string
	body                            []byte
}

// server is the test's own Vision One: it records each request and answers with the
// handler's status, headers and body.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newServer(t *testing.T, answer func(r *http.Request) (int, http.Header, string)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, recorded{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b})
		s.mu.Unlock()
		status, h, body := answer(r)
		for k, vs := range h {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

func client(s *server) *Client {
	return &Client{BaseURL: s.URL, HTTP: &http.Client{Timeout: 2 * time.Second}}
}

func TestBaseURL(t *testing.T) {
	for region, want := range map[string]string{
		"us":  "https://api.xdr.trendmicro.com",
		"jp":  "https://api.xdr.trendmicro.co.jp",
		"eu":  "https://api.eu.xdr.trendmicro.com",
		"au":  "https://api.au.xdr.trendmicro.com",
		"sg":  "https://api.sg.xdr.trendmicro.com",
		"in":  "https://api.in.xdr.trendmicro.com",
		"mea": "https://api.mea.xdr.trendmicro.com",
		"EU":  "https://api.eu.xdr.trendmicro.com",
	} {
		got, err := BaseURL(region)
		if err != nil || got != want {
			t.Errorf("BaseURL(%q) = %q, %v; want %q", region, got, err, want)
		}
	}
	for _, bad := range []string{"", "us-1", "uk", "api.xdr.trendmicro.com"} {
		if _, err := BaseURL(bad); err == nil || !strings.Contains(err.Error(), "mea") {
			t.Errorf("BaseURL(%q): %v, want an error listing the regions", bad, err)
		}
	}
}

func TestGenerateTemplateSendsTheDocumentedFields(t *testing.T) {
	s := newServer(t, func(r *http.Request) (int, http.Header, string) {
		return 200, nil, `{"templateUrl":"https://example-bucket.s3.amazonaws.com/t/abc.template","visionOneOidcProviderUrl":"https://oidc.example/x","createStackUrl":"https://console.aws.amazon.com/cloudformation/home#/stacks/quickcreate"}`
	})
	got, err := client(s).GenerateTemplate(context.Background(), key, TemplateRequest{
		AWSRegion: "eu-west-1", AWSAccountName: "prod-7", AWSAccountDescription: "connected by cloudone-onboarder",
		Features:   []FeatureRequest{{ID: "feature-a", Regions: []string{"eu-west-1"}}, {ID: "feature-b"}},
		CustomTags: []Tag{{Key: "cloudone-onboarder:managed", Value: "true"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Template{TemplateURL: "https://example-bucket.s3.amazonaws.com/t/abc.template", VisionOneOIDCProviderURL: "https://oidc.example/x"}
	if got != want {
		t.Errorf("template %+v, want %+v", got, want)
	}
	reqs := s.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/v3.0/cam/awsAccounts/generateCfnTemplateLinks" {
		t.Errorf("%s %s", r.method, r.path)
	}
	if r.auth != "Bearer "+testKey || r.contentType != "application/json" {
		t.Errorf("Authorization %q, Content-Type %q", r.auth, r.contentType)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	wantBody := map[string]any{
		"awsRegion": "eu-west-1", "templateAccountType": "single", "awsAccountName": "prod-7",
		"awsAccountDescription": "connected by cloudone-onboarder",
		"features":              []any{map[string]any{"id": "feature-a", "regions": []any{"eu-west-1"}}, map[string]any{"id": "feature-b"}},
		"customTags":            []any{map[string]any{"key": "cloudone-onboarder:managed", "value": "true"}},
	}
	if !reflect.DeepEqual(body, wantBody) {
		t.Errorf("body %s\nwant %v", r.body, wantBody)
	}
}

func TestGenerateTemplateRefusesBadInputBeforeAnyCall(t *testing.T) {
	s := newServer(t, func(*http.Request) (int, http.Header, string) { return 200, nil, `{}` })
	for name, in := range map[string]TemplateRequest{
		"awsRegion":           {},
		"templateAccountType": {AWSRegion: "eu-west-1", TemplateAccountType: "organization"},
		"features[0].id":      {AWSRegion: "eu-west-1", Features: []FeatureRequest{{Regions: []string{"eu-west-1"}}}},
	} {
		_, err := client(s).GenerateTemplate(context.Background(), key, in)
		if fault.ClassOf(err) != fault.Permanent || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want a permanent error naming the field", name, err)
		}
	}
	_, err := client(s).Features(context.Background(), secret.NewValue(""))
	if fault.ClassOf(err) != fault.Permanent || !strings.Contains(err.Error(), "visionOneApiKey") {
		t.Errorf("empty key: %v", err)
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("%d requests made with bad input", n)
	}
}

func TestGenerateTemplateRefusesAnAnswerWithoutAURL(t *testing.T) {
	for _, body := range []string{`{}`, `{"templateUrl":"s3://bucket/key-X-Amz-Signature"}`, `{"templateUrl":"https://"}`, `not json`} {
		s := newServer(t, func(*http.Request) (int, http.Header, string) { return 200, nil, body })
		_, err := client(s).GenerateTemplate(context.Background(), key, TemplateRequest{AWSRegion: "eu-west-1"})
		if fault.ClassOf(err) != fault.Transient {
			t.Errorf("answer %s: %v, want a transient error", body, err)
		}
		// A template's URL is handled as a secret: an error never quotes it.
		if err != nil && (strings.Contains(err.Error(), "bucket/key") || strings.Contains(err.Error(), "Signature")) {
			t.Errorf("answer %s: the error quotes the template's URL: %v", body, err)
		}
	}
}

func TestFeaturesReadsAListOrItems(t *testing.T) {
	want := []string{"core", "cloudtrail-feature"}
	for _, body := range []string{
		`[{"id":"core","name":"Core features"},{"id":"cloudtrail-feature","name":"XDR for Cloud - AWS CloudTrail","description":"d"}]`,
		`{"items":[{"id":"core","name":"Core features"},{"id":"cloudtrail-feature","name":"XDR for Cloud - AWS CloudTrail","description":"d"}]}`,
	} {
		s := newServer(t, func(*http.Request) (int, http.Header, string) { return 200, nil, body })
		fs, err := client(s).Features(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, f := range fs {
			ids = append(ids, f.ID)
		}
		if !reflect.DeepEqual(ids, want) || fs[1].Name != "XDR for Cloud - AWS CloudTrail" || fs[1].Description != "d" || len(fs[1].Raw) == 0 {
			t.Errorf("answer %s: features %+v", body, fs)
		}
		if r := s.requests()[0]; r.method != http.MethodGet || r.path != "/v3.0/cam/awsAccounts/features" || r.auth != "Bearer "+testKey {
			t.Errorf("request %+v", r)
		}
	}
	for _, body := range []string{`{"features":[]}`, `[{"name":"no id"}]`, `"x"`} {
		s := newServer(t, func(*http.Request) (int, http.Header, string) { return 200, nil, body })
		if _, err := client(s).Features(context.Background(), key); fault.ClassOf(err) != fault.Transient {
			t.Errorf("answer %s: %v, want a transient error", body, err)
		}
	}
}

func TestAccount(t *testing.T) {
	s := newServer(t, func(r *http.Request) (int, http.Header, string) {
		switch r.URL.Path {
		case "/v3.0/cam/awsAccounts/012345678901":
			return 200, nil, `{"id":"012345678901","name":"prod-7","roleArn":"arn:aws:iam::012345678901:role/VisionOneRole","state":"failed",
"features":[{"id":"core","regions":["eu-west-1"],"templateVersion":"2.1.0","missingAwsPermissions":["iam:GetRole","s3:GetObject"]},
{"id":"cloudtrail-feature","templateVersion":"2.1.0"}],"lastSyncedDateTime":"2026-12-01T10:00:00Z","createdDateTime":"2026-11-01T10:00:00Z"}`
		case "/v3.0/cam/awsAccounts/111111111111":
			return 200, nil, `{"id":"222222222222","state":"managed"}`
		}
		return 404, http.Header{"X-Trace-Id": {"trace-404"}}, `{"error":{"code":"NotFound","message":"The AWS account does not exist."}}`
	})
	c := client(s)
	a, found, err := c.Account(context.Background(), key, "012345678901")
	if err != nil || !found {
		t.Fatalf("found %v, err %v", found, err)
	}
	if a.ID != "012345678901" || a.State != StateFailed || a.RoleARN == "" || len(a.Features) != 2 || a.Features[0].TemplateVersion != "2.1.0" {
		t.Errorf("account %+v", a)
	}
	if got := a.MissingPermissions(); !reflect.DeepEqual(got, []string{"core: iam:GetRole", "core: s3:GetObject"}) {
		t.Errorf("missing permissions %v", got)
	}
	if ts, ok := a.LastSynced(); !ok || !ts.Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("last synced %v %v", ts, ok)
	}
	if len(a.Raw) == 0 {
		t.Error("no raw answer")
	}
	// Not found is an answer, not an error.
	if _, found, err := c.Account(context.Background(), key, "000000000000"); found || err != nil {
		t.Errorf("unknown account: found %v, err %v", found, err)
	}
	// An answer about another account is not believed.
	if _, _, err := c.Account(context.Background(), key, "111111111111"); fault.ClassOf(err) != fault.Transient {
		t.Errorf("answer about another account: %v", err)
	}
	// Ids are checked before any call: a path is never built from anything else.
	n := len(s.requests())
	for _, bad := range []string{"12345", "01234567890a", "../features", "012345678901/x", ""} {
		if _, _, err := c.Account(context.Background(), key, bad); fault.ClassOf(err) != fault.Permanent {
			t.Errorf("account id %q: %v", bad, err)
		}
		if _, err := c.DeleteAccount(context.Background(), key, bad); fault.ClassOf(err) != fault.Permanent {
			t.Errorf("delete account id %q: %v", bad, err)
		}
	}
	if len(s.requests()) != n {
		t.Error("a request was made for a bad account id")
	}
}

func TestDeleteAccount(t *testing.T) {
	status := 204
	s := newServer(t, func(r *http.Request) (int, http.Header, string) {
		if r.Method != http.MethodDelete || r.URL.Path != "/v3.0/cam/awsAccounts/012345678901" {
			return 400, nil, `{"error":{"code":"BadRequest","message":"wrong call"}}`
		}
		if status == 404 {
			return 404, nil, `{"error":{"code":"NotFound","message":"gone"}}`
		}
		return status, nil, ""
	})
	c := client(s)
	for _, tc := range []struct {
		status int
		found  bool
		class  fault.Class
	}{{204, true, fault.None}, {200, true, fault.None}, {404, false, fault.None}, {500, false, fault.Transient}, {403, false, fault.Permanent}} {
		status = tc.status
		found, err := c.DeleteAccount(context.Background(), key, "012345678901")
		if found != tc.found || fault.ClassOf(err) != tc.class {
			t.Errorf("HTTP %d: found %v, err %v; want %v, %s", tc.status, found, err, tc.found, tc.class)
		}
	}
}

func TestFailureClasses(t *testing.T) {
	// The server echoes the key in its message and its trace id, as a careless proxy might:
	// the error must carry neither.
	cases := []struct {
		status     int
		header     http.Header
		body       string
		class      fault.Class
		contains   []string
		retryAfter time.Duration
	}{
		{401, nil, `{"error":{"code":"InvalidCredentials","message":"token ` + testKey + ` expired"}}`, fault.Permanent,
			[]string{"HTTP 401", "InvalidCredentials", "visionOneApiKey", "Cloud Accounts", "trace-1"}, 0},
		{403, nil, `{"error":{"code":"AccessDenied","message":"insufficient permissions"}}`, fault.Permanent,
			[]string{"HTTP 403", "AccessDenied: insufficient permissions", "visionOneApiKey", "Cloud Accounts"}, 0},
		{400, nil, `{"error":{"code":"InvalidParameter","message":"awsRegion is invalid"}}`, fault.Permanent,
			[]string{"HTTP 400", "InvalidParameter: awsRegion is invalid"}, 0},
		{404, nil, `{"error":{"code":"NotFound","message":"no such API"}}`, fault.Permanent, []string{"HTTP 404", "region"}, 0},
		{429, http.Header{"Retry-After": {"7"}}, `{"error":{"code":"TooManyRequests","message":"Too many API requests"}}`, fault.Transient,
			[]string{"HTTP 429", "Too many API requests"}, 7 * time.Second},
		{429, http.Header{"Retry-After": {time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)}}, `{}`, fault.Transient, []string{"HTTP 429"}, 90 * time.Second},
		{429, nil, `{"message":"Too many API requests"}`, fault.Transient, []string{"Too many API requests"}, 0},
		{500, nil, `oops`, fault.Transient, []string{"HTTP 500"}, 0},
		{502, nil, ``, fault.Transient, []string{"HTTP 502"}, 0},
		{503, nil, `{"error":{"code":"ServiceUnavailable","message":"maintenance"}}`, fault.Transient, []string{"HTTP 503", "maintenance"}, 0},
		{504, nil, `{"error":{"code":"GatewayTimeout"}}`, fault.Transient, []string{"HTTP 504", "GatewayTimeout"}, 0},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			s := newServer(t, func(*http.Request) (int, http.Header, string) {
				h := http.Header{"X-Trace-Id": {"trace-1 " + testKey}}
				for k, v := range tc.header {
					h[k] = v
				}
				return tc.status, h, tc.body
			})
			_, err := client(s).Features(context.Background(), key)
			if got := fault.ClassOf(err); got != tc.class {
				t.Fatalf("class %s (%v), want %s", got, err, tc.class)
			}
			for _, want := range tc.contains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), testKey) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), testKey) {
				t.Errorf("the key leaked into the error: %v", err)
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != tc.status {
				t.Errorf("not an *APIError with the status: %#v", err)
			}
			d := fault.RetryAfter(err) // what the worker waits at least
			ok := d > 0
			if tc.retryAfter == 0 && ok {
				t.Errorf("Retry-After %v from an answer without one", d)
			}
			if tc.retryAfter > 0 && (!ok || d < tc.retryAfter-2*time.Second || d > tc.retryAfter) {
				t.Errorf("Retry-After %v %v, want about %v", d, ok, tc.retryAfter)
			}
			if tc.status == 429 {
				var rl *RateLimitError
				if !errors.As(err, &rl) {
					t.Errorf("a 429 is not a *RateLimitError: %#v", err)
				}
			}
		})
	}
}

func TestNetworkFailuresAreTransient(t *testing.T) {
	// A server that never answers: the client's timeout ends the call.
	hang := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer s.Close()
	defer close(hang)
	c := &Client{BaseURL: s.URL, HTTP: &http.Client{Timeout: 100 * time.Millisecond}}
	_, _, err := c.Account(context.Background(), key, "012345678901")
	if fault.ClassOf(err) != fault.Transient || strings.Contains(err.Error(), testKey) {
		t.Errorf("hang: %v", err)
	}
	// Nobody listening.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c = &Client{BaseURL: "http://" + addr}
	if _, err := c.DeleteAccount(context.Background(), key, "012345678901"); fault.ClassOf(err) != fault.Transient {
		t.Errorf("refused: %v", err)
	}
	// A base URL that is not one is permanent, and says which setting.
	c = &Client{BaseURL: "api.xdr.trendmicro.com"}
	if _, err := c.Features(context.Background(), key); fault.ClassOf(err) != fault.Permanent || !strings.Contains(err.Error(), "base URL") {
		t.Errorf("bad base URL: %v", err)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"-3":                            0,
		"12":                            12 * time.Second,
		"soon":                          0,
		"Fri, 04 Dec 2026 10:01:00 GMT": time.Minute,
		"Fri, 04 Dec 2026 09:59:00 GMT": 0,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", h, got, want)
		}
	}
}
