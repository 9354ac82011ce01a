package trend

// The Vision One stand-in: the Cloud Accounts (CAM) API of Trend Vision One, as
// internal/visionone calls it, for tests, the demo and the benchmark. What it emulates, and
// where that comes from:
//   - Authorization: Bearer <key> on every call (trendmicro/vision-one-mcp-server,
//     internal/v1client/v1client.go); an unknown key is 401; a key whose role lacks Cloud
//     Accounts rights is 403 (DenyKey: the role must have full permissions to add, edit and
//     delete Cloud Accounts, docs.trendmicro.com trend-vision-one-adding-aws-account-manually).
//     Every answer carries x-trace-id (trendmicro/terraform-provider-vision-one cf219f1,
//     internal/trendmicro/client.go); errors are {"error": {"code", "message"}} (its CAM tests:
//     gcp/api/cam_connector_test.go), not found is code NotFound;
//   - GET /v3.0/cam/awsAccounts/features, POST /v3.0/cam/awsAccounts/generateCfnTemplateLinks,
//     GET and DELETE /v3.0/cam/awsAccounts/{id} (vision-one-mcp-server internal/v1client/cam.go),
//     with the body fields of internal/v1mcp/tools/cam.go (awsRegion, templateAccountType
//     single|organization, awsAccountName, awsAccountDescription, features [{id, regions}],
//     customTags [{key, value}]) and the answer templateUrl, visionOneOidcProviderUrl,
//     createStackUrl (trend-vision-one-adding-aws-account-manually); awsRegion defaults to
//     the Vision One region's AWS region (the same page; which one that is per region is not
//     sourced: Options.DefaultAWSRegion);
//   - the account's fields (id, name, description, roleArn, state managed|outdated|failed,
//     features [{id, regions, missingAwsPermissions, templateVersion}], createdDateTime,
//     updatedDateTime, lastSyncedDateTime: terraform-provider-vision-one
//     cloud_account_management/aws/api/cam_connector.go);
//   - each generated template embeds a new Vision One API key valid 90 days; a connect or
//     update from an older template fails (trend-vision-one-cloud-accounts-api-key-faq): the
//     stand-in fails the stack as the template's own registration would. Its parameters are
//     the documented set (CloudAccountName, CloudAccountDescription, VisionOneAPIKey (NoEcho),
//     VisionOneAccountID, VisionOneOIDCProviderURL, VisionOneRegion, OrganizationID, and with
//     the CloudTrail feature CloudAuditLogMonitoringCloudTrailArn and
//     CloudAuditLogMonitoringCloudTrailSNSTopicArn), pre-filled but for the CloudTrail ones;
//     its resources are a stand-in (visionone-cam-template.yaml says which, and why);
//   - the account registers itself when its stack completes (the CloudFormation layer's stack
//     hook: StackHook), managed, with the template's version;
//   - 429 answers "Too many API requests" (automation.trendmicro.com/xdr/Guides/API-Request-Limits).
// Not sourced, and the stand-in's own: the features' ids, names and descriptions and the list's
// {"items": [...]} envelope (the envelope of CAM's account list), the success codes (200, and
// 204 for a delete), the error codes other than NotFound, Retry-After on a 429, the OIDC
// provider URL (the stand-in's own), the template's URL (moto's S3, TemplateStore), its
// resources' names, its version numbers, and what Vision One does when a stack is deleted (the
// stand-in keeps the account: deleting the stack is not documented to remove it).

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
)

// camTemplate is the stand-in of the template Vision One generates (it passes cfn-lint).
//
//go:embed visionone-cam-template.yaml
var camTemplate []byte

// TemplateLifetime is how long a generated template's key is valid
// (trend-vision-one-cloud-accounts-api-key-faq: "valid for 90 days").
const TemplateLifetime = 90 * 24 * time.Hour

// DefaultStackName is the stack name Trend's console proposes for the Cloud Accounts stack
// (docs.trendmicro.com trend-vision-one-adding-aws-account); the onboarder makes it a setting.
const DefaultStackName = "Vision-One-Cloud-Account-Management"

// CAMFeature is a feature of the stand-in's list.
type CAMFeature struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// DefaultCloudTrailFeature is the stand-in's id of the CloudTrail feature. Trend's id is not
// known: the product reads the list. The name is the feature's name in Trend's pages ("XDR for
// Cloud - AWS CloudTrail", trend-vision-one-add-aws-control-tower-audit-account).
const DefaultCloudTrailFeature = "cloud-audit-log-monitoring"

// DefaultCAMFeatures is the stand-in's feature list.
var DefaultCAMFeatures = []CAMFeature{
	{ID: "core-features", Name: "Core features", Description: "Cloud asset inventory and posture (stand-in)"},
	{ID: DefaultCloudTrailFeature, Name: "XDR for Cloud - AWS CloudTrail", Description: "Detections from the account's CloudTrail logs (stand-in)"},
}

// TemplateStore keeps generated templates where CloudFormation can read them.
type TemplateStore interface {
	Put(ctx context.Context, key string, body []byte) (url string, err error)
}

// VisionOneOptions configure the stand-in.
type VisionOneOptions struct {
	Keys                []string      // the API keys it knows
	Store               TemplateStore // where templates go; nil: a MemoryStore (served by the stand-in itself; unit tests)
	Region              string        // the Vision One region: VisionOneRegion's default; default "us"
	BusinessID          string        // VisionOneAccountID's default; default a made-up id
	DefaultAWSRegion    string        // awsRegion when a request leaves it out; default us-east-1
	Features            []CAMFeature  // default DefaultCAMFeatures
	CloudTrailFeatureID string        // the feature that adds the CloudTrail parameters; default DefaultCloudTrailFeature
	TemplateVersion     string        // the version of the templates it generates; default "1.0.0"
	Now                 func() time.Time
}

// Generation is one template the stand-in generated.
type Generation struct {
	URL          string
	Created      time.Time
	Expires      time.Time
	Version      string
	AWSRegion    string
	AccountName  string
	Description  string
	Features     []FeatureChoice
	CustomTags   []map[string]string
	CloudTrail   bool // the template has the CloudTrail parameters
	OIDCProvider string
	seq          int64 // order of generation
}

// FeatureChoice is a feature of a generate request.
type FeatureChoice struct {
	ID      string   `json:"id"`
	Regions []string `json:"regions,omitempty"`
}

// CAMAccount is an account the stand-in knows, with the fields of the API.
type CAMAccount struct {
	ID                 string           `json:"id"`
	Name               string           `json:"name,omitempty"`
	Description        string           `json:"description,omitempty"`
	RoleArn            string           `json:"roleArn,omitempty"`
	State              string           `json:"state"`
	Features           []CAMFeatureDone `json:"features,omitempty"`
	CreatedDateTime    string           `json:"createdDateTime,omitempty"`
	UpdatedDateTime    string           `json:"updatedDateTime,omitempty"`
	LastSyncedDateTime string           `json:"lastSyncedDateTime,omitempty"`
}

// CAMFeatureDone is a feature of a connected account.
type CAMFeatureDone struct {
	ID                    string   `json:"id"`
	Regions               []string `json:"regions,omitempty"`
	MissingAWSPermissions []string `json:"missingAwsPermissions,omitempty"`
	TemplateVersion       string   `json:"templateVersion,omitempty"`
}

type keyState int

const (
	keyOK keyState = iota
	keyDenied
)

type camFault struct {
	status     int
	left       int
	retryAfter time.Duration
}

// VisionOne is the stand-in.
type VisionOne struct {
	*httptest.Server
	opts VisionOneOptions

	mu          sync.Mutex
	keys        map[string]keyState
	generations map[string]*Generation // by URL
	accounts    map[string]*CAMAccount
	faults      []*camFault
	now         func() time.Time
	version     string
	mem         *MemoryStore
	byOp        map[string]int // requests served, by operation (Operation)
	requests    atomic.Int64
	rejected    atomic.Int64
	generated   atomic.Int64
}

// NewVisionOne starts the stand-in. Close it when done.
func NewVisionOne(o VisionOneOptions) *VisionOne {
	if o.Region == "" {
		o.Region = "us"
	}
	if o.BusinessID == "" {
		o.BusinessID = "00000000-0000-4000-8000-standin00001"
	}
	if o.DefaultAWSRegion == "" {
		o.DefaultAWSRegion = "us-east-1"
	}
	if o.Features == nil {
		o.Features = DefaultCAMFeatures
	}
	if o.CloudTrailFeatureID == "" {
		o.CloudTrailFeatureID = DefaultCloudTrailFeature
	}
	if o.TemplateVersion == "" {
		o.TemplateVersion = "1.0.0"
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	v := &VisionOne{opts: o, keys: map[string]keyState{}, generations: map[string]*Generation{}, accounts: map[string]*CAMAccount{},
		now: now, version: o.TemplateVersion, byOp: map[string]int{}}
	for _, k := range o.Keys {
		v.keys[k] = keyOK
	}
	v.Server = httptest.NewServer(http.HandlerFunc(v.serve))
	if o.Store == nil {
		v.mem = &MemoryStore{base: v.URL + "/templates/", objects: map[string][]byte{}}
		v.opts.Store = v.mem
	}
	return v
}

// ---- switches ----

// AddKey makes a key known (again), with full rights.
func (v *VisionOne) AddKey(k string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.keys[k] = keyOK
}

// RevokeKey forgets a key: it is answered 401 from now on.
func (v *VisionOne) RevokeKey(k string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.keys, k)
}

// DenyKey keeps a key but takes its role's Cloud Accounts rights: 403 from now on.
func (v *VisionOne) DenyKey(k string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.keys[k] = keyDenied
}

// FailNext makes the next n requests answer status (401, 429, 503, ...) whatever they ask;
// a 429 carries Retry-After when retryAfter is set (whole seconds).
func (v *VisionOne) FailNext(n, status int, retryAfter time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.faults = append(v.faults, &camFault{status: status, left: n, retryAfter: retryAfter})
}

// ExpireTemplates makes every template generated so far expire now: a stack written from one
// fails, as a template older than 90 days does.
func (v *VisionOne) ExpireTemplates() {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	for _, g := range v.generations {
		if g.Expires.After(now) {
			g.Expires = now
		}
	}
}

// SetClock replaces the stand-in's clock (to see templates age).
func (v *VisionOne) SetClock(now func() time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.now = now
}

// SetTemplateVersion sets the version of the templates generated from now on.
func (v *VisionOne) SetTemplateVersion(version string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.version = version
}

// FailAccount makes a connected account failed, its features missing these AWS permissions:
// the only words of Vision One's about a failure the sources show. No source shows a field
// with a reason in other words, and the stand-in invents none.
func (v *VisionOne) FailAccount(account string, missingAWSPermissions ...string) error {
	return v.setState(account, "failed", missingAWSPermissions)
}

// OutdateAccount makes a connected account outdated (its template is older than Trend's
// current one).
func (v *VisionOne) OutdateAccount(account string) error {
	return v.setState(account, "outdated", nil)
}

func (v *VisionOne) setState(account, state string, missing []string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	a, ok := v.accounts[account]
	if !ok {
		return fmt.Errorf("vision one stand-in: account %s is not connected", account)
	}
	a.State = state
	for i := range a.Features {
		a.Features[i].MissingAWSPermissions = slices.Clone(missing)
	}
	a.UpdatedDateTime = stamp(v.now())
	return nil
}

// Reset forgets every account and template (keys and switches stay); after moto is reset.
func (v *VisionOne) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.generations, v.accounts, v.faults = map[string]*Generation{}, map[string]*CAMAccount{}, nil
	if v.mem != nil {
		v.mem.reset()
	}
}

// ---- inspection ----

// OIDCProviderURL is the stand-in's visionOneOidcProviderUrl, the same for every template (one
// Vision One account).
func (v *VisionOne) OIDCProviderURL() string { return v.URL + "/oidc/" + v.opts.BusinessID }

// Account returns what the stand-in knows of an account.
func (v *VisionOne) Account(id string) (CAMAccount, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	a, ok := v.accounts[id]
	if !ok {
		return CAMAccount{}, false
	}
	c := *a
	c.Features = slices.Clone(a.Features)
	return c, true
}

// Generations lists the templates generated, oldest first.
func (v *VisionOne) Generations() []Generation {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]Generation, 0, len(v.generations))
	for _, g := range v.generations {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// Requests counts the requests served; Rejected those refused for their key (401, 403).
func (v *VisionOne) Requests() int64 { return v.requests.Load() }
func (v *VisionOne) Rejected() int64 { return v.rejected.Load() }

// Operations of the API, as RequestsByOperation names them.
const (
	OpFeatures      = "GET features"
	OpGenerate      = "POST generateCfnTemplateLinks"
	OpGetAccount    = "GET awsAccounts/{id}"
	OpDeleteAccount = "DELETE awsAccounts/{id}"
)

// RequestsByOperation counts the requests served since the stand-in started, by operation
// (OpFeatures, ...; a template the stand-in serves itself is "GET template", any other
// request its method and path), refused ones included: what a caller spent on Vision One (the
// benchmark counts a decision's calls with it).
func (v *VisionOne) RequestsByOperation() map[string]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]int, len(v.byOp))
	for k, n := range v.byOp {
		out[k] = n
	}
	return out
}

// operation names a request for RequestsByOperation: its method and what it asks for.
func operation(r *http.Request) string {
	what := r.URL.Path
	switch {
	case strings.HasPrefix(r.URL.Path, "/templates/"):
		what = "template"
	case r.URL.Path == "/v3.0/cam/awsAccounts/features":
		what = "features"
	case r.URL.Path == "/v3.0/cam/awsAccounts/generateCfnTemplateLinks":
		what = "generateCfnTemplateLinks"
	case accountPathRE.MatchString(r.URL.Path):
		what = "awsAccounts/{id}"
	}
	return r.Method + " " + what
}

// ---- the stack hook ----

// StackHook is the CloudFormation layer's hook (proxy.Proxy.SetStackHook): a stack written
// from one of the stand-in's templates registers its account when it completes, as Trend's
// template does from within the stack, and fails when the template has expired.
func (v *VisionOne) StackHook(o proxy.StackOutcome) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	g, ok := v.generations[o.TemplateURL]
	if !ok || (o.Status != "CREATE_COMPLETE" && o.Status != "UPDATE_COMPLETE") {
		// Not a template of ours, or an operation that failed or deleted the stack: the
		// account (if any) stays as Vision One last saw it.
		return nil
	}
	now := v.now()
	if !now.Before(g.Expires) {
		return &proxy.StackFailure{LogicalID: "CloudAccountRegistration", ResourceType: "Custom::CloudAccountRegistration",
			Reason: "The Vision One API key of this template expired on " + stamp(g.Expires) + ": generate a new template (Vision One stand-in)"}
	}
	a, known := v.accounts[o.Account]
	if !known {
		a = &CAMAccount{ID: o.Account, CreatedDateTime: stamp(now)}
		v.accounts[o.Account] = a
	}
	a.Name, a.Description = o.Parameters["CloudAccountName"], o.Parameters["CloudAccountDescription"]
	a.RoleArn = o.Outputs["VisionOneRoleArn"]
	a.State = "managed"
	a.Features = nil
	for _, f := range g.Features {
		a.Features = append(a.Features, CAMFeatureDone{ID: f.ID, Regions: f.Regions, TemplateVersion: g.Version})
	}
	a.UpdatedDateTime, a.LastSyncedDateTime = stamp(now), stamp(now)
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ---- HTTP ----

var accountPathRE = regexp.MustCompile(`^/v3\.0/cam/awsAccounts/([^/]+)$`)

func (v *VisionOne) serve(w http.ResponseWriter, r *http.Request) {
	v.requests.Add(1)
	v.mu.Lock()
	v.byOp[operation(r)]++
	v.mu.Unlock()
	w.Header().Set("x-trace-id", newTraceID())
	if strings.HasPrefix(r.URL.Path, "/templates/") && v.mem != nil && r.Method == http.MethodGet {
		v.mem.serve(w, r)
		return
	}
	v.mu.Lock()
	var f *camFault
	for len(v.faults) > 0 && f == nil {
		if v.faults[0].left > 0 {
			f = v.faults[0]
			f.left--
		} else {
			v.faults = v.faults[1:]
		}
	}
	v.mu.Unlock()
	if f != nil {
		switch f.status {
		case http.StatusTooManyRequests:
			if f.retryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(f.retryAfter.Round(time.Second)/time.Second)))
			}
			camError(w, f.status, "TooManyRequests", "Too many API requests")
		case http.StatusUnauthorized:
			v.rejected.Add(1)
			camError(w, f.status, "Unauthorized", "The API key is invalid or expired")
		default:
			camError(w, f.status, strings.ReplaceAll(http.StatusText(f.status), " ", ""), http.StatusText(f.status))
		}
		return
	}
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	v.mu.Lock()
	state, known := v.keys[key]
	v.mu.Unlock()
	switch {
	case !ok || key == "" || !known:
		v.rejected.Add(1)
		camError(w, http.StatusUnauthorized, "Unauthorized", "The API key is invalid or expired")
		return
	case state == keyDenied:
		v.rejected.Add(1)
		camError(w, http.StatusForbidden, "AccessDenied", "The role of the API key has no permission for Cloud Accounts")
		return
	}
	switch {
	case r.URL.Path == "/v3.0/cam/awsAccounts/features" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"items": v.opts.Features})
	case r.URL.Path == "/v3.0/cam/awsAccounts/generateCfnTemplateLinks" && r.Method == http.MethodPost:
		v.generate(w, r)
	case accountPathRE.MatchString(r.URL.Path) && (r.Method == http.MethodGet || r.Method == http.MethodDelete):
		v.account(w, r, accountPathRE.FindStringSubmatch(r.URL.Path)[1])
	default:
		camError(w, http.StatusNotFound, "NotFound", "No such API: "+r.Method+" "+r.URL.Path)
	}
}

func (v *VisionOne) account(w http.ResponseWriter, r *http.Request, id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	a, ok := v.accounts[id]
	if !ok {
		camError(w, http.StatusNotFound, "NotFound", "The AWS account "+id+" is not connected")
		return
	}
	if r.Method == http.MethodDelete {
		delete(v.accounts, id)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// generateRequest is the body of generateCfnTemplateLinks.
type generateRequest struct {
	AWSRegion             string              `json:"awsRegion"`
	TemplateAccountType   string              `json:"templateAccountType"`
	AWSAccountName        string              `json:"awsAccountName"`
	AWSAccountDescription string              `json:"awsAccountDescription"`
	Features              []FeatureChoice     `json:"features"`
	CustomTags            []map[string]string `json:"customTags"`
	// Documented, not emulated: the Server & Workload Protection instances to associate.
	ConnectedSecurityServices []map[string]any `json:"connectedSecurityServices"`
}

var awsRegionRE = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-[0-9]$`)

func (v *VisionOne) generate(w http.ResponseWriter, r *http.Request) {
	var in generateRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)) // 1 MB: API-Request-Limits
	// A field the API does not document is refused: a misspelt field name fails here rather
	// than being dropped silently (what Vision One does with one is not documented).
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		camError(w, http.StatusBadRequest, "InvalidParameter", "The request body is not valid: "+err.Error())
		return
	}
	switch in.TemplateAccountType {
	case "single":
	case "organization":
		camError(w, http.StatusBadRequest, "InvalidParameter", "templateAccountType organization is not emulated by the stand-in")
		return
	default:
		// The default when it is left out is not documented: the stand-in does not guess it.
		camError(w, http.StatusBadRequest, "InvalidParameter", "templateAccountType must be single or organization")
		return
	}
	if in.AWSRegion == "" {
		in.AWSRegion = v.opts.DefaultAWSRegion
	}
	if !awsRegionRE.MatchString(in.AWSRegion) {
		camError(w, http.StatusBadRequest, "InvalidParameter", "awsRegion "+in.AWSRegion+" is not an AWS region")
		return
	}
	cloudTrail := false
	for i, f := range in.Features {
		if !slices.ContainsFunc(v.opts.Features, func(k CAMFeature) bool { return k.ID == f.ID }) {
			camError(w, http.StatusBadRequest, "InvalidParameter", fmt.Sprintf("features[%d].id %q is not a feature", i, f.ID))
			return
		}
		cloudTrail = cloudTrail || f.ID == v.opts.CloudTrailFeatureID
	}
	for i, t := range in.CustomTags {
		if t["key"] == "" {
			camError(w, http.StatusBadRequest, "InvalidParameter", fmt.Sprintf("customTags[%d].key is empty", i))
			return
		}
	}
	v.mu.Lock()
	now, version := v.now(), v.version
	v.mu.Unlock()
	id := v.generated.Add(1)
	g := &Generation{Created: now, Expires: now.Add(TemplateLifetime), Version: version, AWSRegion: in.AWSRegion,
		AccountName: in.AWSAccountName, Description: in.AWSAccountDescription, Features: in.Features, CustomTags: in.CustomTags,
		CloudTrail: cloudTrail, OIDCProvider: v.OIDCProviderURL(), seq: id}
	body, err := v.render(g, "v1cam-"+randomHex(24))
	if err != nil {
		camError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	key := fmt.Sprintf("cam/%s-%04d/vision-one-cloud-account.template.yaml", now.UTC().Format("20060102T150405"), id)
	u, err := v.opts.Store.Put(r.Context(), key, body)
	if err != nil {
		camError(w, http.StatusInternalServerError, "InternalError", "store the template: "+err.Error())
		return
	}
	g.URL = u
	v.mu.Lock()
	v.generations[u] = g
	v.mu.Unlock()
	// The AWS console's quick-create link ("Create quick-create links for stacks", AWS
	// CloudFormation User Guide).
	create := "https://console.aws.amazon.com/cloudformation/home?region=" + url.QueryEscape(in.AWSRegion) +
		"#/stacks/create/review?templateURL=" + url.QueryEscape(u) + "&stackName=" + DefaultStackName
	writeJSON(w, http.StatusOK, map[string]string{"templateUrl": u, "visionOneOidcProviderUrl": g.OIDCProvider, "createStackUrl": create})
}

// render fills the stand-in template for one generation: the pre-filled defaults, and the
// CloudTrail parameters and resources only with the CloudTrail feature.
func (v *VisionOne) render(g *Generation, apiKey string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(camTemplate, &doc); err != nil {
		return nil, err
	}
	root := doc.Content[0]
	defaults := map[string]string{
		"CloudAccountName": g.AccountName, "CloudAccountDescription": g.Description, "VisionOneAPIKey": apiKey,
		"VisionOneAccountID": v.opts.BusinessID, "VisionOneOIDCProviderURL": g.OIDCProvider, "VisionOneRegion": v.opts.Region,
	}
	params := mapping(root, "Parameters")
	for name, val := range defaults {
		p := mapping(params, name)
		if p == nil {
			return nil, fmt.Errorf("the stand-in template has no parameter %s", name)
		}
		setScalar(p, "Default", val)
	}
	if !g.CloudTrail {
		for _, section := range []string{"Parameters", "Resources"} {
			removeKeys(mapping(root, section), func(k string) bool { return strings.HasPrefix(k, "CloudAuditLogMonitoring") })
		}
	}
	var features []string
	for _, f := range g.Features {
		features = append(features, f.ID)
	}
	meta := &yaml.Node{Kind: yaml.MappingNode}
	setScalar(meta, "GeneratedAt", stamp(g.Created))
	setScalar(meta, "ExpiresAt", stamp(g.Expires))
	setScalar(meta, "TemplateVersion", g.Version)
	setScalar(meta, "Features", strings.Join(features, ","))
	outer := &yaml.Node{Kind: yaml.MappingNode}
	outer.Content = append(outer.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "VisionOneStandIn"}, meta)
	root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "Metadata"}, outer)
	return yaml.Marshal(&doc)
}

func mapping(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func setScalar(m *yaml.Node, key, val string) {
	v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val, Style: yaml.DoubleQuotedStyle}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
}

func removeKeys(m *yaml.Node, drop func(string) bool) {
	if m == nil {
		return
	}
	var keep []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !drop(m.Content[i].Value) {
			keep = append(keep, m.Content[i], m.Content[i+1])
		}
	}
	m.Content = keep
}

func camError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func newTraceID() string { return randomHex(16) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ---- template stores ----

// MemoryStore keeps templates in memory and serves them from the stand-in itself: for tests
// without moto (CloudFormation cannot read them).
type MemoryStore struct {
	mu      sync.Mutex
	base    string
	objects map[string][]byte
}

// Put keeps a template and returns its URL on the stand-in.
func (m *MemoryStore) Put(_ context.Context, key string, body []byte) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = append([]byte(nil), body...)
	return m.base + key, nil
}

func (m *MemoryStore) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects = map[string][]byte{}
}

func (m *MemoryStore) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	b, ok := m.objects[strings.TrimPrefix(r.URL.Path, "/templates/")]
	m.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/x-yaml")
	_, _ = w.Write(b)
}
