// Package visionone talks to the Cloud Accounts (CAM) API of Trend Vision One: it lists the
// features an AWS account can have, asks for the CloudFormation template that connects one
// AWS account, reads Vision One's view of a connected account and removes one.
//
// Sources (each field, path and header below names its own):
//   - trendmicro/vision-one-mcp-server, internal/v1client/cam.go (the v3.0 CAM paths and
//     methods: GET /v3.0/cam/awsAccounts/{id}, GET /v3.0/cam/awsAccounts/features, POST
//     /v3.0/cam/awsAccounts/generateCfnTemplateLinks, DELETE /v3.0/cam/awsAccounts/{id}),
//     internal/v1mcp/tools/cam.go (the body fields of generateCfnTemplateLinks),
//     internal/v1client/v1client.go (Authorization: Bearer <key>; the regional hosts);
//   - trendmicro/terraform-provider-vision-one at cf219f1, internal/trendmicro/client.go (the
//     x-trace-id response header, quoted in errors) and
//     internal/trendmicro/cloud_account_management/aws/api/cam_connector.go (the account's
//     fields: CloudAccountResponse, CloudAccountFeatureDetailAWSResponse; read there under
//     /beta/cam/awsAccounts, the same resources as /v3.0), gcp/api/cam_connector_test.go
//     (the error body {"error":{"code":"NotFound","message":...}});
//   - Trend's documentation: automation.trendmicro.com/xdr/Guides/API-Request-Limits (429
//     "Too many API requests" over a 60-second window, 1 MB bodies, a 60-second request
//     timeout answered with 504), docs.trendmicro.com trend-vision-one-adding-aws-account-manually
//     (the answer's templateUrl, visionOneOidcProviderUrl, createStackUrl; the API key's role
//     needs full permissions to add, edit and delete Cloud Accounts).
//
// Not in any source read: the shape of the features list (read here as {"items": [...]}, the
// envelope of the CAM account list in terraform-provider-vision-one's
// aws/data-sources/api/cam_connect_aws_accounts.go, or as a bare array), the fields of a
// feature besides its id, the status codes of a successful generate or delete (any 2xx is
// taken), whether a 429 carries Retry-After (used when present), and which feature id is the
// CloudTrail one (read from Features at run time, never written here).
package visionone

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
)

// DefaultTimeout bounds one call when Client.HTTP is nil. Vision One answers 504 after 60 s
// (API-Request-Limits); a call that takes half of that is treated as failed for now and
// retried later, so that a reconcile pass never spends its budget on one call.
const DefaultTimeout = 30 * time.Second

// maxBody is the largest answer read: Vision One's own request body limit is 1 MB
// (API-Request-Limits), and no answer of these calls comes near it.
const maxBody = 1 << 20

// Account states (terraform-provider-vision-one, CloudAccountResponse.State; the values are
// those of the AWS account list's filter: vision-one-mcp-server
// internal/v1mcp/tooldescriptions/descriptions.go, FilterAWSAccounts, "state ... managed,
// outdated, failed").
const (
	StateManaged  = "managed"
	StateOutdated = "outdated"
	StateFailed   = "failed"
)

// TemplateAccountSingle is generateCfnTemplateLinks' templateAccountType for one account
// (enum "single", "organization": vision-one-mcp-server internal/v1mcp/tools/cam.go).
const TemplateAccountSingle = "single"

// Client calls the CAM API of one Vision One region.
type Client struct {
	BaseURL string       // e.g. https://api.xdr.trendmicro.com (BaseURL(region))
	HTTP    *http.Client // nil: a client with DefaultTimeout
}

// Feature is one entry of GET /v3.0/cam/awsAccounts/features. Only ID is sourced (it is
// what generateCfnTemplateLinks' features[].id takes); Name and Description are read from
// "name" and "description" when the answer has them, which no source shows. Raw is the
// entry as Vision One sent it.
type Feature struct {
	ID          string
	Name        string
	Description string
	Raw         json.RawMessage
}

// FeatureRequest is one element of generateCfnTemplateLinks' features: the feature's id and
// the AWS regions to deploy it in.
type FeatureRequest struct {
	ID      string   `json:"id"`
	Regions []string `json:"regions,omitempty"`
}

// Tag is one of generateCfnTemplateLinks' customTags ({key, value}): tags Vision One puts on
// the resources its template makes.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// TemplateRequest is the body of POST /v3.0/cam/awsAccounts/generateCfnTemplateLinks.
type TemplateRequest struct {
	AWSRegion             string           `json:"awsRegion"`                       // the region the stack is deployed in
	TemplateAccountType   string           `json:"templateAccountType"`             // "single" (empty: single)
	AWSAccountName        string           `json:"awsAccountName,omitempty"`        // the name Vision One gives the account
	AWSAccountDescription string           `json:"awsAccountDescription,omitempty"` // its description
	Features              []FeatureRequest `json:"features,omitempty"`
	CustomTags            []Tag            `json:"customTags,omitempty"`
}

// Template is the answer of generateCfnTemplateLinks.
type Template struct {
	TemplateURL              string `json:"templateUrl"`              // the template to deploy
	VisionOneOIDCProviderURL string `json:"visionOneOidcProviderUrl"` // a parameter the template needs (pre-filled in it)
	// The answer's createStackUrl, the AWS console's quick-create link for people, is not read:
	// it holds the template's URL, which is handled as a secret.
}

// AccountFeature is one feature of a connected account (CloudAccountFeatureDetailAWSResponse).
type AccountFeature struct {
	ID                    string   `json:"id"`
	Regions               []string `json:"regions,omitempty"`
	MissingAWSPermissions []string `json:"missingAwsPermissions,omitempty"`
	TemplateVersion       string   `json:"templateVersion,omitempty"`
}

// Account is Vision One's view of a connected AWS account (CloudAccountResponse of
// terraform-provider-vision-one). Raw is the answer as Vision One sent it.
type Account struct {
	ID                 string           `json:"id"`
	Name               string           `json:"name,omitempty"`
	Description        string           `json:"description,omitempty"`
	RoleARN            string           `json:"roleArn,omitempty"`
	State              string           `json:"state"`
	Features           []AccountFeature `json:"features,omitempty"`
	CreatedDateTime    string           `json:"createdDateTime,omitempty"`
	UpdatedDateTime    string           `json:"updatedDateTime,omitempty"`
	LastSyncedDateTime string           `json:"lastSyncedDateTime,omitempty"`
	Raw                json.RawMessage  `json:"-"`
}

// LastSynced parses lastSyncedDateTime as RFC 3339 (the format of Vision One's timestamps is
// not documented in the sources; false when it is absent or reads otherwise).
func (a Account) LastSynced() (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, a.LastSyncedDateTime)
	return t, err == nil
}

// MissingPermissions lists every feature's missing AWS permissions, as "feature: permission".
func (a Account) MissingPermissions() []string {
	var out []string
	for _, f := range a.Features {
		for _, p := range f.MissingAWSPermissions {
			out = append(out, f.ID+": "+p)
		}
	}
	return out
}

// APIError is an answer of Vision One that is not a success. Its text names the call, the
// status, Vision One's error code and message when the body has them, and the x-trace-id to
// quote to Trend's support; never the API key.
type APIError struct {
	Op      string // what was being done
	Status  int
	Code    string // error.code of the body, e.g. NotFound
	Message string // error.message of the body
	TraceID string // the x-trace-id header
	Hint    string // what to check, for the statuses that need a person
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Vision One: %s: HTTP %d", e.Op, e.Status)
	switch {
	case e.Code != "" && e.Message != "":
		fmt.Fprintf(&b, " (%s: %s)", e.Code, e.Message)
	case e.Code != "":
		fmt.Fprintf(&b, " (%s)", e.Code)
	case e.Message != "":
		fmt.Fprintf(&b, " (%s)", e.Message)
	}
	if e.TraceID != "" {
		fmt.Fprintf(&b, ", x-trace-id %s", e.TraceID)
	}
	if e.Hint != "" {
		b.WriteString(": " + e.Hint)
	}
	return b.String()
}

// RateLimitError is a 429: Vision One counts requests over a rolling 60-second window and
// refuses more until the rate falls (API-Request-Limits). RetryAfter is the wait the
// Retry-After header asks for, zero when the answer has none (no source says Vision One
// sends it).
type RateLimitError struct {
	*APIError
	RetryAfter time.Duration
}

func (e *RateLimitError) Unwrap() error { return e.APIError }

// RetryAfterDelay is the wait Vision One asked for (fault.Waiter): the worker's next look is
// no sooner than that.
func (e *RateLimitError) RetryAfterDelay() time.Duration { return e.RetryAfter }

// keyHint is what a person checks when Vision One refuses the key.
const keyHint = "check the Vision One API key in the secret's visionOneApiKey field (expired, revoked or from " +
	"another region?) and that its role has full permissions on Cloud Accounts (add, edit and delete)"

// Features lists the features Vision One offers AWS accounts (GET
// /v3.0/cam/awsAccounts/features). The CloudTrail feature's id is to be found here.
func (c *Client) Features(ctx context.Context, key secret.Value) ([]Feature, error) {
	const op = "list AWS account features"
	body, _, err := c.do(ctx, key, op, http.MethodGet, "/v3.0/cam/awsAccounts/features", nil, false)
	if err != nil {
		return nil, err
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		var env struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(body, &env); err != nil || env.Items == nil {
			return nil, fault.Transientf("Vision One: %s: the answer is neither a list nor {\"items\": [...]}", op)
		}
		raw = env.Items
	}
	out := make([]Feature, 0, len(raw))
	for i, r := range raw {
		var f struct {
			ID          string `json:"id"`
			Name        string `json:"name"`
			Description string `json:"description"`
		}
		if err := json.Unmarshal(r, &f); err != nil || f.ID == "" {
			return nil, fault.Transientf("Vision One: %s: entry %d has no id", op, i)
		}
		out = append(out, Feature{ID: f.ID, Name: f.Name, Description: f.Description, Raw: r})
	}
	return out, nil
}

// GenerateTemplate asks Vision One for a CloudFormation template that connects one AWS
// account (POST /v3.0/cam/awsAccounts/generateCfnTemplateLinks). Each call makes a new
// template with a new embedded Vision One key, valid 90 days (docs.trendmicro.com
// trend-vision-one-cloud-accounts-api-key-faq).
func (c *Client) GenerateTemplate(ctx context.Context, key secret.Value, in TemplateRequest) (Template, error) {
	const op = "generate CloudFormation template"
	if in.TemplateAccountType == "" {
		in.TemplateAccountType = TemplateAccountSingle
	}
	if in.TemplateAccountType != TemplateAccountSingle {
		return Template{}, fault.Permanentf("Vision One: %s: templateAccountType %q: the onboarder connects accounts one by one (%q)", op, in.TemplateAccountType, TemplateAccountSingle)
	}
	if in.AWSRegion == "" {
		return Template{}, fault.Permanentf("Vision One: %s: awsRegion is empty: the template must be made for the stack's region", op)
	}
	for i, f := range in.Features {
		if f.ID == "" {
			return Template{}, fault.Permanentf("Vision One: %s: features[%d].id is empty", op, i)
		}
	}
	payload, err := json.Marshal(in)
	if err != nil {
		return Template{}, fault.Permanentf("Vision One: %s: %v", op, err)
	}
	body, _, err := c.do(ctx, key, op, http.MethodPost, "/v3.0/cam/awsAccounts/generateCfnTemplateLinks", payload, false)
	if err != nil {
		return Template{}, err
	}
	var t Template
	if err := json.Unmarshal(body, &t); err != nil {
		return Template{}, fault.Transientf("Vision One: %s: the answer is not JSON: %v", op, err)
	}
	if t.TemplateURL == "" {
		return Template{}, fault.Transientf("Vision One: %s: the answer has no templateUrl", op)
	}
	if u, err := url.Parse(t.TemplateURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// The URL itself is not quoted: it leads to a template that holds a key.
		return Template{}, fault.Transientf("Vision One: %s: the answer's templateUrl is not an http(s) URL", op)
	}
	return t, nil
}

// Account reads Vision One's view of a connected AWS account (GET
// /v3.0/cam/awsAccounts/{awsAccountId}). An account Vision One does not know is (_, false, nil).
func (c *Client) Account(ctx context.Context, key secret.Value, awsAccountID string) (Account, bool, error) {
	op := "read AWS account " + awsAccountID
	if err := checkAccountID(awsAccountID); err != nil {
		return Account{}, false, err
	}
	body, found, err := c.do(ctx, key, op, http.MethodGet, "/v3.0/cam/awsAccounts/"+awsAccountID, nil, true)
	if err != nil || !found {
		return Account{}, false, err
	}
	var a Account
	if err := json.Unmarshal(body, &a); err != nil {
		return Account{}, false, fault.Transientf("Vision One: %s: the answer is not JSON: %v", op, err)
	}
	if a.ID != "" && a.ID != awsAccountID {
		return Account{}, false, fault.Transientf("Vision One: %s: the answer is about account %s", op, a.ID)
	}
	a.ID = awsAccountID
	a.Raw = json.RawMessage(body)
	return a, true, nil
}

// DeleteAccount removes an AWS account from Vision One (DELETE /v3.0/cam/awsAccounts/{id}).
// It deletes no stack. An account Vision One does not know is (false, nil): already gone.
func (c *Client) DeleteAccount(ctx context.Context, key secret.Value, awsAccountID string) (bool, error) {
	op := "remove AWS account " + awsAccountID
	if err := checkAccountID(awsAccountID); err != nil {
		return false, err
	}
	_, found, err := c.do(ctx, key, op, http.MethodDelete, "/v3.0/cam/awsAccounts/"+awsAccountID, nil, true)
	return found, err
}

var accountIDRE = regexp.MustCompile(`^\d{12}$`)

func checkAccountID(id string) error {
	if !accountIDRE.MatchString(id) {
		return fault.Permanentf("Vision One: AWS account id %q is not 12 digits", id)
	}
	return nil
}

// do makes one call. notFoundOK: a 404 is (nil, false, nil) instead of an error.
func (c *Client) do(ctx context.Context, key secret.Value, op, method, path string, payload []byte, notFoundOK bool) ([]byte, bool, error) {
	if key.Empty() {
		return nil, false, fault.Permanentf("Vision One: %s: the API key is empty: set visionOneApiKey in the secret", op)
	}
	base := strings.TrimRight(c.BaseURL, "/")
	if u, err := url.Parse(base); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, false, fault.Permanentf("Vision One: %s: base URL %q is not an http(s) URL", op, c.BaseURL)
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, false, fault.Permanentf("Vision One: %s: %v", op, err)
	}
	// Bearer authentication (vision-one-mcp-server v1client.go newRequest; terraform's
	// client.go DoRequest).
	req.Header.Set("Authorization", "Bearer "+key.Reveal())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "cloudone-onboarder")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		// Transport errors quote the URL and never the headers: safe to wrap.
		return nil, false, fault.Transientf("Vision One: %s: %w", op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, false, fault.Transientf("Vision One: %s: read the answer: %w", op, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return body, true, nil
	}
	ae := &APIError{Op: op, Status: resp.StatusCode, TraceID: clean(resp.Header.Get("x-trace-id"), key, 128)}
	ae.Code, ae.Message = errorBody(body, key)
	switch s := resp.StatusCode; {
	case s == http.StatusNotFound && notFoundOK:
		return nil, false, nil
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		ae.Hint = keyHint
		return nil, false, fault.As(fault.Permanent, ae)
	case s == http.StatusNotFound:
		ae.Hint = "check the Vision One region (the API's base URL)"
		return nil, false, fault.As(fault.Permanent, ae)
	case s == http.StatusTooManyRequests:
		return nil, false, fault.As(fault.Transient, &RateLimitError{APIError: ae, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())})
	case s >= 500 || s == http.StatusRequestTimeout:
		return nil, false, fault.As(fault.Transient, ae)
	default:
		return nil, false, fault.As(fault.Permanent, ae)
	}
}

// errorBody reads {"error": {"code", "message"}} (the shape terraform-provider-vision-one's
// CAM tests answer with) or a flat {"code", "message"}; what it returns is cleaned of the key
// and of control characters, and cut to a readable length.
func errorBody(body []byte, key secret.Value) (string, string) {
	var doc struct {
		Error *struct {
			Code    any    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Code    any    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return "", ""
	}
	code, msg := doc.Code, doc.Message
	if doc.Error != nil {
		code, msg = doc.Error.Code, doc.Error.Message
	}
	c := ""
	if code != nil {
		c = fmt.Sprint(code)
	}
	return clean(c, key, 64), clean(msg, key, 300)
}

// clean removes the key from s (as sent, and URL-escaped; never a value under 4 characters),
// replaces control characters and cuts s to max runes.
func clean(s string, key secret.Value, max int) string {
	k := key.Reveal()
	for _, form := range []string{k, url.QueryEscape(k)} {
		if len(form) >= 4 {
			s = strings.ReplaceAll(s, form, secret.Redacted)
		}
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return strings.TrimSpace(s)
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP-date (RFC 9110, section
// 10.2.3). Zero when absent, unreadable or in the past.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}
