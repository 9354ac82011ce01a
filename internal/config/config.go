// Package config reads the onboarder's settings from the environment, once, and checks them
// all before any AWS call. Defaults are written here and nowhere else.
package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
)

// Defaults of the parameter contract (docs/ARCHITECTURE.md, section 3).
const (
	DefaultStackName         = "CloudOne"
	DefaultTemplateURL       = "https://aws-abi-pilot.s3.us-east-1.amazonaws.com/latest/cfnabi-trend-cloudone/templates/trend-cloudone-onboard/main.template.yaml"
	DefaultQSS3BucketName    = "cloudone-community"
	DefaultAccountsURL       = "https://accounts.cloudone.trendmicro.com"
	DefaultExecutionRoleName = "AWSControlTowerExecution"
	DefaultSecretCacheTTL    = time.Minute
	DefaultSessionName       = "cloudone-onboarder"
	// A stack operation of Trend's template takes minutes: the first look after a write is
	// after 30 s, later looks wait half the operation's age so far, at most 5 minutes.
	DefaultCheckMinDelay = 30 * time.Second
	DefaultCheckMaxDelay = 5 * time.Minute
	// Transient failures in a row before a request is dead-lettered (the queue's own redrive,
	// after many more receives, is the last resort).
	DefaultMaxFailures = 5
	// Each start of Trend's stack makes about six Cloud One calls from the member account
	// (API key lookup, cloud account, CloudTrail stack, Vision One connector, Workload
	// Security settings and connector), and Cloud One answers 429 over a rolling 60-second
	// window: 30 starts a minute are about 180 Cloud One calls a minute, spaced evenly.
	DefaultMaxStartsPerMinute = 30
	// AccessDenied on AssumeRole is retried this long after an account joined the
	// Organization (a new account's roles take minutes to become usable).
	DefaultAssumeRoleGrace = 30 * time.Minute
)

// Targets: the vendor the accounts are connected to (ONBOARDER_TARGET).
const (
	TargetCloudOne  = "cloudone"  // Trend Cloud One's v1 all-in-one template (the default)
	TargetVisionOne = "visionone" // Trend Vision One's Cloud Accounts, with CloudTrail
)

// TrailMode says how the forwarding trail is chosen.
type TrailMode string

const (
	TrailAuto     TrailMode = "auto"     // an existing suitable trail, else a new one
	TrailExisting TrailMode = "existing" // an existing suitable trail, else a person must act
	TrailNew      TrailMode = "new"      // always a new trail made by the stack
)

// OffboardPolicy says what happens to the onboarding stack of an account that leaves the
// scope: closed, removed from the Organization, moved out of the included OUs, excluded.
type OffboardPolicy string

const (
	OffboardReport OffboardPolicy = "report" // say what is left, in the account and in Cloud One; change nothing
	OffboardDelete OffboardPolicy = "delete" // delete the onboarder's own stack (never a foreign one) where the account can still be opened
)

// Config is every setting of the product. Lambdas read the fields they need.
type Config struct {
	Target             string         // ONBOARDER_TARGET: cloudone (default) or visionone
	SecretARN          string         // ONBOARDER_SECRET_ARN
	StackName          string         // ONBOARDER_STACK_NAME
	TemplateURL        string         // ONBOARDER_TEMPLATE_URL
	QSS3BucketName     string         // ONBOARDER_QSS3_BUCKET_NAME
	QSS3KeyPrefix      string         // ONBOARDER_QSS3_KEY_PREFIX
	CloudOneRegion     string         // ONBOARDER_CLOUDONE_REGION; empty: resolved from the API key
	AccountsURL        string         // ONBOARDER_CLOUDONE_ACCOUNTS_URL
	TrailMode          TrailMode      // ONBOARDER_TRAIL_MODE
	ExecutionRoleName  string         // ONBOARDER_EXECUTION_ROLE_NAME
	FallbackRoleName   string         // ONBOARDER_FALLBACK_ROLE_NAME: assumed when the execution role is denied after a new account's grace; "": none
	CFNRoleName        string         // ONBOARDER_CLOUDFORMATION_ROLE_NAME: service role passed to CloudFormation; empty: none
	DryRun             bool           // ONBOARDER_DRY_RUN
	AdoptExisting      bool           // ONBOARDER_ADOPT_EXISTING
	Offboard           OffboardPolicy // ONBOARDER_OFFBOARD: report (default) or delete
	QueueURL           string         // ONBOARDER_QUEUE_URL (intake Lambdas, operator --enqueue)
	DeadLetterURL      string         // ONBOARDER_DLQ_URL: the worker moves permanent failures there at once; empty: SQS redrive
	LedgerTable        string         // ONBOARDER_LEDGER_TABLE (DynamoDB table of the last decision per account)
	IncludeOUs         []string       // ONBOARDER_INCLUDE_OUS, comma separated OU ids; empty: all
	ExcludeAccounts    []string       // ONBOARDER_EXCLUDE_ACCOUNTS, comma separated account ids
	SessionName        string         // role session name used in member accounts (member.yaml's trust requires it)
	SecretCacheTTL     time.Duration  // ONBOARDER_SECRET_CACHE_TTL, how long a read secret is trusted
	CheckMinDelay      time.Duration  // ONBOARDER_CHECK_MIN_DELAY, the first look after a stack write
	CheckMaxDelay      time.Duration  // ONBOARDER_CHECK_MAX_DELAY, the longest wait between looks at an operation
	MaxFailures        int            // ONBOARDER_MAX_FAILURES, transient failures in a row before the DLQ
	MaxStartsPerMinute int            // ONBOARDER_MAX_STARTS_PER_MINUTE, stack operations started per minute across the Organization; 0: unlimited
	AssumeRoleGrace    time.Duration  // ONBOARDER_ASSUME_ROLE_GRACE, how long after an account joined AccessDenied on AssumeRole is retried
	InstallAccount     string         // ONBOARDER_INSTALL_ACCOUNT, the account the onboarder runs in: manual requests come only from it
	EventBus           string         // ONBOARDER_EVENT_BUS, the onboarder\'s bus (the sweep puts its continuation there)
}

// Default returns the configuration with every default filled in.
func Default() Config {
	return Config{
		Target:             TargetCloudOne,
		StackName:          DefaultStackName,
		TemplateURL:        DefaultTemplateURL,
		QSS3BucketName:     DefaultQSS3BucketName,
		AccountsURL:        DefaultAccountsURL,
		TrailMode:          TrailAuto,
		Offboard:           OffboardReport,
		ExecutionRoleName:  DefaultExecutionRoleName,
		SessionName:        DefaultSessionName,
		SecretCacheTTL:     DefaultSecretCacheTTL,
		CheckMinDelay:      DefaultCheckMinDelay,
		CheckMaxDelay:      DefaultCheckMaxDelay,
		MaxFailures:        DefaultMaxFailures,
		MaxStartsPerMinute: DefaultMaxStartsPerMinute,
		AssumeRoleGrace:    DefaultAssumeRoleGrace,
	}
}

// FromEnv reads the configuration from the environment. It reports every malformed value
// at once; call Validate (or one of the ValidateFor* helpers) for the rules between fields.
func FromEnv() (Config, error) { return FromLookup(os.LookupEnv) }

// FromLookup is FromEnv over any lookup function (tests pass a map).
func FromLookup(lookup func(string) (string, bool)) (Config, error) {
	c := Default()
	var errs []error
	str := func(name string, dst *string) {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			*dst = strings.TrimSpace(v)
		}
	}
	boolean := func(name string, dst *bool) {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: must be true or false", name, v))
				return
			}
			*dst = b
		}
	}
	duration := func(name string, dst *time.Duration) {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d < 0 {
				errs = append(errs, fmt.Errorf("%s=%q: must be a non-negative Go duration such as 30s or 2m", name, v))
				return
			}
			*dst = d
		}
	}
	integer := func(name string, dst *int) {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("%s=%q: must be a whole number, 0 or more", name, v))
				return
			}
			*dst = n
		}
	}
	list := func(name string, dst *[]string) {
		if v, ok := lookup(name); ok {
			for _, f := range strings.Split(v, ",") {
				if f = strings.TrimSpace(f); f != "" {
					*dst = append(*dst, f)
				}
			}
		}
	}
	var target string
	str("ONBOARDER_TARGET", &target)
	if target != "" {
		c.Target = strings.ToLower(target)
	}
	str("ONBOARDER_SECRET_ARN", &c.SecretARN)
	str("ONBOARDER_STACK_NAME", &c.StackName)
	str("ONBOARDER_TEMPLATE_URL", &c.TemplateURL)
	str("ONBOARDER_QSS3_BUCKET_NAME", &c.QSS3BucketName)
	if v, ok := lookup("ONBOARDER_QSS3_KEY_PREFIX"); ok {
		c.QSS3KeyPrefix = strings.TrimSpace(v)
	}
	str("ONBOARDER_CLOUDONE_REGION", &c.CloudOneRegion)
	str("ONBOARDER_CLOUDONE_ACCOUNTS_URL", &c.AccountsURL)
	var mode string
	str("ONBOARDER_TRAIL_MODE", &mode)
	if mode != "" {
		c.TrailMode = TrailMode(strings.ToLower(mode))
	}
	str("ONBOARDER_EXECUTION_ROLE_NAME", &c.ExecutionRoleName)
	str("ONBOARDER_FALLBACK_ROLE_NAME", &c.FallbackRoleName)
	str("ONBOARDER_CLOUDFORMATION_ROLE_NAME", &c.CFNRoleName)
	boolean("ONBOARDER_DRY_RUN", &c.DryRun)
	boolean("ONBOARDER_ADOPT_EXISTING", &c.AdoptExisting)
	var offboard string
	str("ONBOARDER_OFFBOARD", &offboard)
	if offboard != "" {
		c.Offboard = OffboardPolicy(strings.ToLower(offboard))
	}
	str("ONBOARDER_QUEUE_URL", &c.QueueURL)
	str("ONBOARDER_DLQ_URL", &c.DeadLetterURL)
	str("ONBOARDER_LEDGER_TABLE", &c.LedgerTable)
	list("ONBOARDER_INCLUDE_OUS", &c.IncludeOUs)
	list("ONBOARDER_EXCLUDE_ACCOUNTS", &c.ExcludeAccounts)
	duration("ONBOARDER_SECRET_CACHE_TTL", &c.SecretCacheTTL)
	duration("ONBOARDER_CHECK_MIN_DELAY", &c.CheckMinDelay)
	duration("ONBOARDER_CHECK_MAX_DELAY", &c.CheckMaxDelay)
	integer("ONBOARDER_MAX_FAILURES", &c.MaxFailures)
	integer("ONBOARDER_MAX_STARTS_PER_MINUTE", &c.MaxStartsPerMinute)
	duration("ONBOARDER_ASSUME_ROLE_GRACE", &c.AssumeRoleGrace)
	str("ONBOARDER_INSTALL_ACCOUNT", &c.InstallAccount)
	str("ONBOARDER_EVENT_BUS", &c.EventBus)
	return c, errors.Join(errs...)
}

var (
	stackNameRE   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,7}$`)
	qsBucketRE    = regexp.MustCompile(`^[0-9a-zA-Z]+([0-9a-zA-Z-]*[0-9a-zA-Z])*$`)
	qsKeyPrefixRE = regexp.MustCompile(`^[0-9a-zA-Z-/.]*$`)
	accountRE     = regexp.MustCompile(`^[0-9]{12}$`)
	ouRE          = regexp.MustCompile(`^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$`)
	roleNameRE    = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// ValidateAssets checks the bucket and key prefix of the onboarding template's assets (its
// QSS3BucketName and QSS3KeyPrefix parameters, whose constraints these are); the errors name
// the fields as given.
func ValidateAssets(bucketField, bucket, prefixField, prefix string) []error {
	var errs []error
	if !qsBucketRE.MatchString(bucket) {
		errs = append(errs, fmt.Errorf("%s=%q: must match ^[0-9a-zA-Z]+([0-9a-zA-Z-]*[0-9a-zA-Z])*$ (letters, digits and inner hyphens)", bucketField, bucket))
	}
	if !qsKeyPrefixRE.MatchString(prefix) {
		errs = append(errs, fmt.Errorf("%s=%q: must match ^[0-9a-zA-Z-/.]*$ (letters, digits, hyphens, slashes and dots)", prefixField, prefix))
	} else if prefix != "" && !strings.HasSuffix(prefix, "/") {
		errs = append(errs, fmt.Errorf("%s=%q: must end with / when not empty", prefixField, prefix))
	}
	return errs
}

// Validate checks the rules of the onboarding contract and returns every problem at once.
// Each message names the field, the value and the rule. It needs no secret and no AWS call.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, value, rule string) {
		errs = append(errs, fmt.Errorf("%s=%q: %s", field, value, rule))
	}
	switch c.Target {
	case TargetCloudOne, TargetVisionOne:
	default:
		bad("ONBOARDER_TARGET", c.Target, "must be "+TargetCloudOne+" (Trend Cloud One's v1 template) or "+TargetVisionOne+" (Trend Vision One's Cloud Accounts)")
	}
	if c.SecretARN == "" {
		errs = append(errs, errors.New("ONBOARDER_SECRET_ARN is required: the ARN of the Secrets Manager secret holding cloudOneApiKey and visionOneServiceToken"))
	} else if !strings.HasPrefix(c.SecretARN, "arn:") || !strings.Contains(c.SecretARN, ":secretsmanager:") {
		bad("ONBOARDER_SECRET_ARN", c.SecretARN, "must be a Secrets Manager secret ARN (arn:aws:secretsmanager:...)")
	}
	errs = append(errs, c.validateNames()...)
	if !strings.HasPrefix(c.TemplateURL, "https://") && !strings.HasPrefix(c.TemplateURL, "http://") {
		bad("ONBOARDER_TEMPLATE_URL", c.TemplateURL, "must be an http(s) URL of the onboarding template")
	}
	errs = append(errs, ValidateAssets("ONBOARDER_QSS3_BUCKET_NAME", c.QSS3BucketName, "ONBOARDER_QSS3_KEY_PREFIX", c.QSS3KeyPrefix)...)
	if c.CloudOneRegion != "" {
		if _, err := cloudone.AWSRegion(c.CloudOneRegion); err != nil {
			bad("ONBOARDER_CLOUDONE_REGION", c.CloudOneRegion, "must be one of "+strings.Join(cloudone.Regions(), ", ")+", or empty to read it from the API key")
		}
	}
	if !strings.HasPrefix(c.AccountsURL, "https://") && !strings.HasPrefix(c.AccountsURL, "http://") {
		bad("ONBOARDER_CLOUDONE_ACCOUNTS_URL", c.AccountsURL, "must be an http(s) URL")
	}
	switch c.TrailMode {
	case TrailAuto, TrailExisting, TrailNew:
	default:
		bad("ONBOARDER_TRAIL_MODE", string(c.TrailMode), "must be auto, existing or new")
	}
	errs = append(errs, c.validateOffboard()...)
	if c.CFNRoleName != "" && !roleNameRE.MatchString(c.CFNRoleName) {
		bad("ONBOARDER_CLOUDFORMATION_ROLE_NAME", c.CFNRoleName, "must be empty or an IAM role name (1 to 64 of letters, digits and +=,.@_-)")
	}
	errs = append(errs, c.validateScope()...)
	errs = append(errs, c.validatePacing()...)
	return errors.Join(errs...)
}

func (c Config) validateOffboard() []error {
	switch c.Offboard {
	case OffboardReport, OffboardDelete:
		return nil
	}
	return []error{fmt.Errorf("ONBOARDER_OFFBOARD=%q: must be report or delete", string(c.Offboard))}
}

// validatePacing checks the worker's delays and limits.
func (c Config) validatePacing() []error {
	var errs []error
	if c.CheckMinDelay < time.Second {
		errs = append(errs, fmt.Errorf("ONBOARDER_CHECK_MIN_DELAY=%s: must be at least 1s (SQS visibility is set in seconds)", c.CheckMinDelay))
	}
	if c.CheckMaxDelay < c.CheckMinDelay || c.CheckMaxDelay > 12*time.Hour {
		errs = append(errs, fmt.Errorf("ONBOARDER_CHECK_MAX_DELAY=%s: must be between ONBOARDER_CHECK_MIN_DELAY (%s) and 12h (the longest SQS visibility timeout)", c.CheckMaxDelay, c.CheckMinDelay))
	}
	if c.MaxFailures < 1 || c.MaxFailures > 100 {
		errs = append(errs, fmt.Errorf("ONBOARDER_MAX_FAILURES=%d: must be between 1 and 100 (the queue's MaxReceiveCount is the last resort behind it)", c.MaxFailures))
	}
	if c.AssumeRoleGrace < 0 || c.AssumeRoleGrace > 24*time.Hour {
		errs = append(errs, fmt.Errorf("ONBOARDER_ASSUME_ROLE_GRACE=%s: must be between 0s (no grace) and 24h", c.AssumeRoleGrace))
	}
	if c.MaxStartsPerMinute > 6000 {
		errs = append(errs, fmt.Errorf("ONBOARDER_MAX_STARTS_PER_MINUTE=%d: must be at most 6000 (0 turns the limit off)", c.MaxStartsPerMinute))
	}
	if c.InstallAccount != "" && ValidateAccountID(c.InstallAccount) != nil {
		errs = append(errs, fmt.Errorf("ONBOARDER_INSTALL_ACCOUNT=%q: must be a 12-digit account id", c.InstallAccount))
	}
	return errs
}

// validateNames checks the names the worker and the trail guard share.
func (c Config) validateNames() []error {
	var errs []error
	bad := func(field, value, rule string) { errs = append(errs, fmt.Errorf("%s=%q: %s", field, value, rule)) }
	if !stackNameRE.MatchString(c.StackName) {
		bad("ONBOARDER_STACK_NAME", c.StackName, "must be 1 to 8 characters, a letter first, then letters, digits or hyphens (nested resource names of the onboarding template hit a 64-character limit)")
	}
	if c.FallbackRoleName != "" && !roleNameRE.MatchString(c.FallbackRoleName) {
		bad("ONBOARDER_FALLBACK_ROLE_NAME", c.FallbackRoleName, "must be an IAM role name (1 to 64 of letters, digits and +=,.@_-) or empty")
	}
	if c.FallbackRoleName != "" && c.FallbackRoleName == c.ExecutionRoleName {
		bad("ONBOARDER_FALLBACK_ROLE_NAME", c.FallbackRoleName, "is the execution role itself (ONBOARDER_EXECUTION_ROLE_NAME): leave it empty")
	}
	if !roleNameRE.MatchString(c.ExecutionRoleName) {
		bad("ONBOARDER_EXECUTION_ROLE_NAME", c.ExecutionRoleName, "must be an IAM role name (1 to 64 of letters, digits and +=,.@_-)")
	}
	if !sessionNameRE.MatchString(c.SessionName) {
		bad("session name", c.SessionName, "must be 2 to 64 of letters, digits and +=,.@_-")
	}
	return errs
}

// validateScope checks the OU allow-list and the account deny-list.
func (c Config) validateScope() []error {
	var errs []error
	for _, ou := range c.IncludeOUs {
		if !ouRE.MatchString(ou) {
			errs = append(errs, fmt.Errorf("ONBOARDER_INCLUDE_OUS=%q: each entry must be an OU id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx)", ou))
		}
	}
	for _, a := range c.ExcludeAccounts {
		if err := ValidateAccountID(a); err != nil {
			errs = append(errs, fmt.Errorf("ONBOARDER_EXCLUDE_ACCOUNTS=%q: each entry must be a 12-digit account id", a))
		}
	}
	return errs
}

// ValidateIntake checks what the intake Lambdas use; none needs the secret. The trail guard
// also reads the ledger and recognizes the stack and the onboarder's own session.
func (c Config) ValidateIntake(trailguard bool) error {
	var errs []error
	bad := func(field, value, rule string) { errs = append(errs, fmt.Errorf("%s=%q: %s", field, value, rule)) }
	switch {
	case c.QueueURL == "":
		errs = append(errs, errors.New("ONBOARDER_QUEUE_URL is required: the URL of the reconcile FIFO queue"))
	case !strings.HasPrefix(c.QueueURL, "https://") && !strings.HasPrefix(c.QueueURL, "http://"):
		bad("ONBOARDER_QUEUE_URL", c.QueueURL, "must be an http(s) SQS queue URL")
	case !strings.HasSuffix(c.QueueURL, ".fifo"):
		bad("ONBOARDER_QUEUE_URL", c.QueueURL, "must be a FIFO queue (name ending in .fifo)")
	}
	errs = append(errs, c.validateScope()...)
	errs = append(errs, c.validateOffboard()...)
	if trailguard {
		if c.LedgerTable == "" {
			errs = append(errs, errors.New("ONBOARDER_LEDGER_TABLE is required: the DynamoDB table of the last decision per account"))
		}
		errs = append(errs, c.validateNames()...)
	}
	return errors.Join(errs...)
}

// ValidateAccountID checks that id is a 12-digit account id. Ids are strings: they may
// start with 0 and are never parsed as numbers.
func ValidateAccountID(id string) error {
	if !accountRE.MatchString(id) {
		if len(id) > 32 {
			id = id[:32] + "..."
		}
		return fmt.Errorf("account id %q: must be exactly 12 digits", id)
	}
	return nil
}

// ExecutionRoleARN is the role assumed in a member account.
func (c Config) ExecutionRoleARN(partition, account string) string {
	return roleARN(partition, account, c.ExecutionRoleName)
}

// FallbackRoleARN is the role assumed when the execution role is denied, or "".
func (c Config) FallbackRoleARN(partition, account string) string {
	return roleARN(partition, account, c.FallbackRoleName)
}

// CFNRoleARN is the CloudFormation service role passed in the member account, or "".
func (c Config) CFNRoleARN(partition, account string) string {
	return roleARN(partition, account, c.CFNRoleName)
}

// roleARN is the ARN of a role in an account ("" for no name; partition "" is "aws").
func roleARN(partition, account, name string) string {
	if name == "" {
		return ""
	}
	if partition == "" {
		partition = "aws"
	}
	return "arn:" + partition + ":iam::" + account + ":role/" + name
}

// Excluded reports whether the account is on the deny-list.
func (c Config) Excluded(account string) bool {
	for _, a := range c.ExcludeAccounts {
		if a == account {
			return true
		}
	}
	return false
}

// OUIncluded reports whether an account in the given OU (or root) is in scope.
func (c Config) OUIncluded(ou string) bool {
	if len(c.IncludeOUs) == 0 {
		return true
	}
	for _, o := range c.IncludeOUs {
		if o == ou {
			return true
		}
	}
	return false
}
