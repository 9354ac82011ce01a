// Package stack holds the onboarding stack's contract: its desired parameters and tags, the
// fingerprint that tells drift without reading secrets back, and what an observed stack is.
package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
)

// Parameter names of the Trend all-in-one template.
const (
	ParamAPIKey        = "CloudOneApiKey"
	ParamServiceToken  = "VisionOneServiceToken"
	ParamCreateNew     = "CreateNewTrail"
	ParamBucket        = "ExistingCloudtrailBucketName"
	ParamQSS3Bucket    = "QSS3BucketName"
	ParamQSS3KeyPrefix = "QSS3KeyPrefix"
)

// Tags the onboarder puts on the stacks it manages.
const (
	TagManaged       = "cloudone-onboarder:managed"        // "true"
	TagFingerprint   = "cloudone-onboarder:fingerprint"    // hash of the desired state, no secret in it
	TagSecretVersion = "cloudone-onboarder:secret-version" // the secret's version id (not secret)
	TagTemplate      = "cloudone-onboarder:template"       // the template the stack was last written with (TemplateLabel)
)

// TemplateLabel is the value of TagTemplate: the template URL, when IAM takes it as a tag value.
// CloudFormation propagates stack tags to the resources the stack makes, and Trend's template
// makes IAM roles, whose tag values are at most 256 characters of letters, digits, spaces and
// _.:/=+-@ (https://docs.aws.amazon.com/IAM/latest/APIReference/API_Tag.html: "Pattern:
// [\p{L}\p{Z}\p{N}_.:/=+\-@]*"); any other character (the ? of ?versionId=, a %-escape, a ~)
// would fail every write of the stack. Such a URL is labelled with those characters made _,
// its end kept after "..." when it is too long, and " sha256=" with the start of the URL's hash,
// so that two URLs never share a label.
func TemplateLabel(url string) string {
	clean := strings.Map(func(r rune) rune {
		if iamTagRune(r) {
			return r
		}
		return '_'
	}, url)
	if clean == url && utf8.RuneCountInString(url) <= maxTagValue {
		return url
	}
	sum := sha256.Sum256([]byte(url))
	suffix := " sha256=" + hex.EncodeToString(sum[:6])
	if r := []rune(clean); len(r)+len(suffix) > maxTagValue {
		keep := maxTagValue - len(suffix) - len("...")
		clean = "..." + string(r[len(r)-keep:])
	}
	return clean + suffix
}

// maxTagValue is the longest tag value IAM takes, in characters.
const maxTagValue = 256

// iamTagRune reports whether IAM takes r in a tag value: \p{L}, \p{Z}, \p{N} or _.:/=+-@.
func iamTagRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.In(r, unicode.Z) || unicode.IsNumber(r) || strings.ContainsRune("_.:/=+-@", r)
}

// IAMTagValue reports whether IAM takes v as a tag value.
func IAMTagValue(v string) bool {
	for _, r := range v {
		if !iamTagRune(r) {
			return false
		}
	}
	return utf8.RuneCountInString(v) <= maxTagValue
}

// Masked is what a secret parameter shows, here as in DescribeStacks (NoEcho).
const Masked = "****"

// Desired is the stack the account should have.
type Desired struct {
	Name string
	// TemplateURL is where a write reads the template from; TemplateID is the template's
	// identity, for the fingerprint and the template tag: the URL itself when empty. A target
	// whose URL changes without the template changing (a Vision One template generated again
	// before its key expires) gives an identity that stays.
	TemplateURL, TemplateID string
	// MakeTemplate, when TemplateURL is empty, makes the template a write needs (Vision One
	// generates one when none is kept young): the reconcile calls it before a write, never in a
	// pass that writes nothing, since each generation makes a new key in the vendor. It returns
	// the URL, and why one was made ("" when another worker had made it meanwhile).
	MakeTemplate func(ctx context.Context) (url, why string, err error)
	Params       map[string]string // the non-secret parameters
	// Secrets are the secret parameters (NoEcho in the template), by name, and SecretVersion
	// the version of the secret they come from: a rotation changes the fingerprint, the values
	// never reach it.
	Secrets       map[string]secret.Value
	SecretVersion string
}

// CloudOneSecrets are the secret parameters of Trend's v1 template, from the secret.
func CloudOneSecrets(c secret.Credentials) map[string]secret.Value {
	return map[string]secret.Value{ParamAPIKey: c.APIKey, ParamServiceToken: c.ServiceToken}
}

// Template is the template's identity: TemplateID, or the URL.
func (d Desired) Template() string {
	if d.TemplateID != "" {
		return d.TemplateID
	}
	return d.TemplateURL
}

// Fingerprint hashes everything that defines the desired stack except the secret values:
// the template's identity, the non-secret parameters and the secret's version id. A rotation
// of the secret changes the version id and so the fingerprint.
func (d Desired) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte("v1\x00" + d.Template() + "\x00" + d.SecretVersion))
	for _, k := range sortedKeys(d.Params) {
		h.Write([]byte("\x00" + k + "=" + d.Params[k]))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Parameters are the CloudFormation parameters, secrets first, each group by name.
func (d Desired) Parameters() []cfntypes.Parameter {
	var out []cfntypes.Parameter
	for _, k := range sortedKeys(d.Secrets) {
		out = append(out, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(d.Secrets[k].Reveal())})
	}
	for _, k := range sortedKeys(d.Params) {
		out = append(out, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(d.Params[k])})
	}
	return out
}

// SecretNames are the names of the secret parameters.
func (d Desired) SecretNames() []string { return sortedKeys(d.Secrets) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Tags returns the stack's tags: the other tags of the stack kept, ours set.
func (d Desired) Tags(existing map[string]string) []cfntypes.Tag {
	all := map[string]string{}
	for k, v := range existing {
		all[k] = v
	}
	all[TagManaged] = "true"
	all[TagFingerprint] = d.Fingerprint()
	if len(d.Secrets) > 0 {
		all[TagSecretVersion] = d.SecretVersion
	}
	all[TagTemplate] = TemplateLabel(d.Template())
	out := make([]cfntypes.Tag, 0, len(all))
	for _, k := range sortedKeys(all) {
		out = append(out, cfntypes.Tag{Key: aws.String(k), Value: aws.String(all[k])})
	}
	return out
}

// Observed is the stack as DescribeStacks shows it.
type Observed struct {
	Exists  bool
	ID      string
	Status  cfntypes.StackStatus
	Reason  string
	Params  map[string]string // NoEcho ones read "****"
	Tags    map[string]string
	Outputs map[string]string // the stack's outputs, by key

	Created, LastUpdated, DeletionTime time.Time
}

// Managed reports whether the onboarder created (or adopted) the stack.
func (o Observed) Managed() bool { return o.Tags[TagManaged] == "true" }

// DescribeAPI is what Describe needs; the SDK's stack waiters take the same client.
type DescribeAPI = cloudformation.DescribeStacksAPIClient

// Describe reads the stack. A stack that does not exist, or was deleted, is Exists=false.
func Describe(ctx context.Context, api DescribeAPI, name string) (Observed, error) {
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		if NotFound(err) {
			return Observed{}, nil
		}
		return Observed{}, err
	}
	if len(out.Stacks) == 0 {
		return Observed{}, nil
	}
	s := out.Stacks[0]
	if s.StackStatus == cfntypes.StackStatusDeleteComplete {
		return Observed{Status: s.StackStatus}, nil
	}
	o := Observed{
		Exists: true, ID: aws.ToString(s.StackId), Status: s.StackStatus,
		Reason: aws.ToString(s.StackStatusReason),
		Params: map[string]string{}, Tags: map[string]string{}, Outputs: map[string]string{},
		Created: aws.ToTime(s.CreationTime), LastUpdated: aws.ToTime(s.LastUpdatedTime), DeletionTime: aws.ToTime(s.DeletionTime),
	}
	for _, p := range s.Parameters {
		o.Params[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	for _, t := range s.Tags {
		o.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	for _, out := range s.Outputs {
		o.Outputs[aws.ToString(out.OutputKey)] = aws.ToString(out.OutputValue)
	}
	return o, nil
}

// NotFound reports whether err says the stack does not exist.
func NotFound(err error) bool {
	return fault.IsCode(err, "ValidationError") && strings.Contains(err.Error(), "does not exist")
}

// NoUpdates reports whether err is UpdateStack's "No updates are to be performed.", which
// is success.
func NoUpdates(err error) bool {
	return fault.IsCode(err, "ValidationError") && strings.Contains(err.Error(), "No updates are to be performed")
}

// Busy reports whether err is CloudFormation refusing a write because an operation is under
// way: ValidationError "Stack:ID is in UPDATE_IN_PROGRESS state and can not be updated."
// (the state can be any *_IN_PROGRESS). It means "look again later".
func Busy(err error) bool {
	if !fault.IsCode(err, "ValidationError") {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "_IN_PROGRESS state and can not be updated") || strings.Contains(msg, "_IN_PROGRESS state and can not be deleted")
}

// State is a row of the state table (docs/ARCHITECTURE.md, "Decide: the state table").
type State int

const (
	StateAbsent       State = iota // absent or DELETE_COMPLETE: create
	StateComplete                  // *_COMPLETE: compare, update if it differs
	StateFailed                    // ROLLBACK_COMPLETE, ROLLBACK_FAILED, CREATE_FAILED: a failed create
	StateRollbackBad               // UPDATE_ROLLBACK_FAILED: continue the rollback
	StateInProgress                // *_IN_PROGRESS: come back later
	StateDeleteFailed              // DELETE_FAILED: a person must act
	StateReview                    // REVIEW_IN_PROGRESS: a change set nobody executed; a person must act
	StateHalted                    // UPDATE_FAILED, IMPORT_ROLLBACK_FAILED: stopped without rolling back; a person must act
)

// Classify maps an observed stack to its row of the state table.
func Classify(o Observed) State {
	if !o.Exists {
		return StateAbsent
	}
	s := string(o.Status)
	switch {
	case s == "ROLLBACK_COMPLETE" || s == "ROLLBACK_FAILED" || s == "CREATE_FAILED":
		return StateFailed
	case s == "UPDATE_ROLLBACK_FAILED":
		return StateRollbackBad
	case s == "DELETE_FAILED":
		return StateDeleteFailed
	case s == "REVIEW_IN_PROGRESS":
		return StateReview
	case s == "UPDATE_FAILED" || s == "IMPORT_ROLLBACK_FAILED":
		// UPDATE_FAILED is where an update made with rollback disabled (UpdateStack
		// DisableRollback, which the onboarder never sets) stops; IMPORT_ROLLBACK_FAILED is an
		// import whose rollback failed. Neither moves on by itself: RollbackStack "rolls back
		// the specified stack to the last known stable state from CREATE_FAILED or
		// UPDATE_FAILED" (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_RollbackStack.html).
		return StateHalted
	case strings.HasSuffix(s, "_IN_PROGRESS"):
		return StateInProgress
	case strings.HasSuffix(s, "_COMPLETE"):
		return StateComplete
	}
	// A status this code does not know (CloudFormation adds some now and then): look again
	// later rather than write.
	return StateInProgress
}

// Settled is when the stack's last operation began, as DescribeStacks tells it: the last
// update, else the creation. For a settled stack, when it was last written. Zero when unknown.
func (o Observed) Settled() time.Time {
	if !o.LastUpdated.IsZero() {
		return o.LastUpdated
	}
	return o.Created
}
