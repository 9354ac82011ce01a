package localworld

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
)

// OnboardingTemplate is the stand-in for Trend's onboarding template: the same six parameters
// and constraints, and resources moto can create. It passes cfn-lint.
//
//go:embed onboarding-template.yaml
var OnboardingTemplate []byte

// Names of the central resources (as deploy/template.yaml names them for a stack "onboarder").
const (
	BusName           = "cloudone-onboarder"
	QueueName         = "onboarder-reconcile.fifo"
	DLQName           = "onboarder-reconcile-dlq.fifo"
	LedgerTable       = "onboarder-ledger"
	SecretName        = "cloudone-onboarder/credentials"
	TemplateBucket    = "onboarder-templates"
	TemplateKey       = "cloudone/onboarding-template.yaml"
	IntakeQueuePrefix = "localworld-intake-"
	// IntakeDLQName is the intake dead-letter queue (IntakeDeadLetterQueue), the OnFailure
	// destination of the intake functions' asynchronous invocations.
	IntakeDLQName = "onboarder-intake-dlq"
	// TrailTemplateKey is where the Vision One target's trail stack (deploy/visionone-trail.yaml)
	// is kept, in TemplateBucket: the artifacts bucket the central stack's TrailTemplateUrl names.
	TrailTemplateKey = "visionone/visionone-trail.yaml"
)

// VisionOne configures an Env for the Vision One target (the central stack's Target=visionone):
// its functions are configured as deploy/template.yaml configures them for that target, and the
// member accounts' roles are deploy/member.yaml's for it.
type VisionOne struct {
	APIURL string // the Vision One stand-in (ONBOARDER_VISIONONE_API_URL); the secret carries its key
	// StackRegion is the central stack's StackRegion: the region of the accounts' Vision One
	// stacks and trails; "" is the central stack's own region, as the template says.
	StackRegion string
	// TemplateBucket is the bucket of the templates Vision One generates (member.yaml's
	// VisionOneTemplateBucket), OIDCProvider its OIDC provider as IAM names it
	// (VisionOneOidcProvider): what the stand-in answers.
	TemplateBucket, OIDCProvider string
}

// Names of the Vision One target's stacks: deploy/template.yaml's defaults.
const (
	VisionOneStackName = "Vision-One-Cloud-Account-Management"
	TrailStackName     = "cloudone-onboarder-trail"
)

// Options configure an Env.
type Options struct {
	Region               string                       // the Control Tower home region, where the onboarder runs; default eu-west-1
	Secret               SecretValue                  // the secret's value
	CloudOneURL          string                       // the Cloud One stand-in
	RIE                  string                       // aws-lambda-rie
	Binaries             map[string]string            // handler name -> bootstrap
	RulesFile            string                       // deploy/template.yaml
	Env                  map[string]string            // extra or overriding function variables (ONBOARDER_*), all functions
	FunctionEnv          map[string]map[string]string // per handler, over Env
	ReconcileConcurrency int                          // reconcile instances; default 2
	VisibilityTimeout    int32                        // seconds, every queue; default 2
	MaxReceiveCount      int                          // reconcile queue redrive; default 50, as deploy/template.yaml
	Tees                 []io.Writer                  // receive every line every process writes
	NoLambdas            bool                         // only the AWS resources (a demo can start its own functions)
	// Faults is the fault proxy between the Lambdas and moto. When set, the world is made
	// like AWS where moto is kinder: its IAM gate enforces the roles of deploy/template.yaml
	// and deploy/member.yaml (each Lambda runs with its own role's credentials), and its
	// CloudFormation layer makes stack operations take StackTiming (and fail when told).
	Faults      *proxy.Proxy
	StackTiming *proxy.StackTiming // nil: DefaultStackTiming
	// InstallAccount is the account the central stack runs in: "" for the management
	// account; a member account of the seeded Organization for a delegated administrator
	// install (docs/DEPLOY.md, section 13), which needs Faults (the IAM gate plays the
	// Organizations delegation moto lacks).
	InstallAccount string
	// VisionOne, when set, makes the Env one of the Vision One target; nil: Cloud One's.
	VisionOne *VisionOne
}

// DefaultStackTiming is how long stack operations run in the local world: long enough that
// every write is seen in progress by the next look, short enough for a test.
var DefaultStackTiming = proxy.Uniform(2 * time.Second)

// Env is a whole local deployment of the onboarder on moto: the central resources of the
// management account, the rules of deploy/template.yaml with SQS targets, the four Lambdas
// under the emulator, and the pump between them.
type Env struct {
	Moto     *Moto
	Recorder *Recorder // the Lambdas' AWS endpoint: every call they make is recorded
	Region   string
	Opts     Options
	Install  string     // the account the central stack runs in (ManagementAccount by default)
	central  aws.Config // the harness in the install account

	SecretARN    string
	QueueURL     string
	DLQURL       string
	BusARN       string
	TemplateURL  string
	IntakeQueues map[string]string // handler -> queue URL
	// IntakeDLQURL is the intake dead-letter queue: an intake event whose invocations all
	// failed lands there, as an invocation record (Pump.intake).
	IntakeDLQURL string
	// IntakeRetries is each intake handler's MaximumRetryAttempts (its EventInvokeConfig).
	IntakeRetries map[string]int
	Rules         []Rule
	Forwarded     []string // the forwarder rules deployed in the management account, as "region/rule"
	Lambdas       map[string]*Pool
	Pump          *Pump
	OrgID         string
	// TrailTemplateURL is deploy/visionone-trail.yaml in moto's S3 (the Vision One target).
	TrailTemplateURL string

	creds map[string]roleCreds // handler -> its role's credentials (with Faults)
	// Operator is the person the operator command runs as (with Faults): an IAM Identity
	// Center role of the install account with the central stack's operator policy.
	Operator *Operator
}

// Setup creates the central resources in the management account, the rules and their queues,
// and starts the Lambdas. moto should be reset before (Setup does not reset it).
func Setup(ctx context.Context, m *Moto, rec *Recorder, opts Options) (*Env, error) {
	if opts.Region == "" {
		opts.Region = "eu-west-1"
	}
	if opts.ReconcileConcurrency == 0 {
		opts.ReconcileConcurrency = 2
	}
	if opts.VisibilityTimeout == 0 {
		// Time compressed, as the CloudFormation layer compresses stack operations: on AWS the
		// reconcile queue hides a message 720 s (deploy/template.yaml), above the function's
		// timeout, as Lambda requires of an SQS event source ("the visibility timeout ... must
		// be at least as long as the function timeout": Lambda developer guide, "Using Lambda
		// with Amazon SQS"). Here a message a function still holds may come back after 2 s: a
		// harder world for duplicates, never a kinder one. What differs: the worker's
		// ChangeMessageVisibility on such a message, which moto 5.2.1 accepts by receipt handle
		// (moto/sqs/models.py, change_message_visibility) where AWS answers MessageNotInflight;
		// the worker then only logs, and the message comes back after the queue's timeout
		// either way (worker.later). The bench runs with the template's 720 s.
		opts.VisibilityTimeout = 2
	}
	if opts.MaxReceiveCount == 0 {
		// A request comes back while its stack operation runs, which is not a failure: the
		// redrive is the last resort, as in deploy/template.yaml.
		opts.MaxReceiveCount = 50
	}
	e := &Env{Moto: m, Recorder: rec, Region: opts.Region, Opts: opts, IntakeQueues: map[string]string{}, Lambdas: map[string]*Pool{}, Install: ManagementAccount}
	cfg := m.Config(ctx, e.Region)
	if opts.InstallAccount != "" && opts.InstallAccount != ManagementAccount {
		if opts.Faults == nil {
			return nil, errors.New("an install outside the management account needs the fault proxy (the Organizations delegation)")
		}
		var err error
		if cfg, err = m.AccountConfig(ctx, opts.InstallAccount, e.Region, ""); err != nil {
			return nil, err
		}
		e.Install = opts.InstallAccount
	}
	e.central = cfg

	// The secret.
	sm := secretsmanager.NewFromConfig(cfg)
	sec, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(SecretName), SecretString: aws.String(opts.Secret.JSON())})
	if err != nil {
		return nil, fmt.Errorf("create secret: %w", err)
	}
	e.SecretARN = aws.ToString(sec.ARN)

	// The ledger.
	if _, err := dynamodb.NewFromConfig(cfg).CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(LedgerTable),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("account"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("account"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	}); err != nil {
		return nil, fmt.Errorf("create ledger table: %w", err)
	}

	// The FIFO queue and its DLQ.
	q := sqs.NewFromConfig(cfg)
	dlq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(DLQName), Attributes: map[string]string{"FifoQueue": "true"}})
	if err != nil {
		return nil, fmt.Errorf("create DLQ: %w", err)
	}
	e.DLQURL = aws.ToString(dlq.QueueUrl)
	dlqARN := "arn:aws:sqs:" + e.Region + ":" + e.Install + ":" + DLQName
	redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": dlqARN, "maxReceiveCount": opts.MaxReceiveCount})
	qo, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(QueueName), Attributes: map[string]string{
		"FifoQueue": "true", "ContentBasedDeduplication": "false",
		"VisibilityTimeout": strconv.Itoa(int(opts.VisibilityTimeout)), "RedrivePolicy": string(redrive),
	}})
	if err != nil {
		return nil, fmt.Errorf("create reconcile queue: %w", err)
	}
	e.QueueURL = aws.ToString(qo.QueueUrl)

	// The custom bus and the rules, each with an SQS target per handler.
	eb := eventbridge.NewFromConfig(cfg)
	bus, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(BusName)})
	if err != nil {
		return nil, fmt.Errorf("create bus: %w", err)
	}
	e.BusARN = aws.ToString(bus.EventBusArn)
	if opts.RulesFile != "" {
		vals := TemplateValues{Region: e.Region, Account: e.Install,
			Params: map[string]string{"EventBusName": BusName, "ManagementAccountId": e.managementParam()}}
		if e.Rules, err = ReadRules(opts.RulesFile, vals); err != nil {
			return nil, err
		}
		if e.IntakeRetries, err = ReadInvokeRetries(opts.RulesFile, vals); err != nil {
			return nil, err
		}
	}
	idlq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(IntakeDLQName)})
	if err != nil {
		return nil, fmt.Errorf("create intake dead-letter queue: %w", err)
	}
	e.IntakeDLQURL = aws.ToString(idlq.QueueUrl)
	for _, r := range e.Rules {
		if r.Handler == "" {
			continue
		}
		if _, ok := e.IntakeQueues[r.Handler]; !ok {
			out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(IntakeQueuePrefix + r.Handler),
				Attributes: map[string]string{"VisibilityTimeout": strconv.Itoa(int(opts.VisibilityTimeout))}})
			if err != nil {
				return nil, fmt.Errorf("create intake queue of %s: %w", r.Handler, err)
			}
			e.IntakeQueues[r.Handler] = aws.ToString(out.QueueUrl)
		}
		busName := BusName
		if r.DefaultBus {
			busName = "default"
		}
		if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(r.Name), EventBusName: aws.String(busName), EventPattern: aws.String(r.Pattern)}); err != nil {
			return nil, fmt.Errorf("put rule %s: %w", r.Name, err)
		}
		if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(r.Name), EventBusName: aws.String(busName), Targets: []ebtypes.Target{{
			Id: aws.String(r.Handler), Arn: aws.String("arn:aws:sqs:" + e.Region + ":" + e.Install + ":" + IntakeQueuePrefix + r.Handler),
		}}}); err != nil {
			return nil, fmt.Errorf("put target of rule %s: %w", r.Name, err)
		}
	}

	// Organizations puts its events on the default bus of us-east-1 only (Put does the same):
	// a central stack in another region gets them through deploy/forwarder.yaml, whose rules
	// the world deploys there, targeting the onboarder's bus as the stack's do; a central
	// stack in another account gets Control Tower's too, from the home region.
	if opts.RulesFile != "" {
		file := filepath.Join(filepath.Dir(opts.RulesFile), "forwarder.yaml")
		regions := []string{}
		if e.Install != ManagementAccount {
			regions = append(regions, e.Region)
		}
		if e.Region != OrganizationsRegion || e.Install != ManagementAccount {
			regions = append(regions, OrganizationsRegion)
		}
		for _, r := range slices.Compact(regions) {
			if err := e.setupForwarder(ctx, file, r); err != nil {
				return nil, err
			}
		}
	}

	// The stand-in template in S3 (us-east-1, management account).
	s3c := S3(m.Config(ctx, "us-east-1"))
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(TemplateBucket)}); err != nil {
		return nil, fmt.Errorf("create template bucket: %w", err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(TemplateBucket), Key: aws.String(TemplateKey), Body: bytes.NewReader(OnboardingTemplate)}); err != nil {
		return nil, fmt.Errorf("upload template: %w", err)
	}
	e.TemplateURL = m.ObjectURL(TemplateBucket, TemplateKey)
	if opts.VisionOne != nil {
		// The trail stack, where the operator keeps it for the member accounts to read
		// (DEPLOY.md: the central stack's TrailTemplateUrl).
		file := filepath.Join(filepath.Dir(opts.RulesFile), "visionone-trail.yaml")
		body, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read the trail stack: %w", err)
		}
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(TemplateBucket), Key: aws.String(TrailTemplateKey), Body: bytes.NewReader(body)}); err != nil {
			return nil, fmt.Errorf("upload the trail stack: %w", err)
		}
		e.TrailTemplateURL = m.ObjectURL(TemplateBucket, TrailTemplateKey)
	}

	if opts.Faults != nil {
		timing := DefaultStackTiming
		if opts.StackTiming != nil {
			timing = *opts.StackTiming
		}
		opts.Faults.ResetStacks()
		opts.Faults.EnableStacks(timing)
		if err := e.setupIAM(ctx); err != nil {
			return nil, err
		}
	}

	e.serveLambda()
	if !opts.NoLambdas {
		if err := e.StartLambdas(ctx); err != nil {
			e.Close()
			return nil, err
		}
	}
	e.Pump = &Pump{SQS: q, Intake: map[string]Invoker{}, IntakeQueues: e.IntakeQueues, ReconcileQueueURL: e.QueueURL, Region: e.Region, Account: e.Install,
		IntakeRetries: e.IntakeRetries, IntakeDLQURL: e.IntakeDLQURL}
	e.wirePump()
	return e, nil
}

// wirePump points the pump at the running Lambdas.
func (e *Env) wirePump() {
	for h, p := range e.Lambdas {
		if h == "reconcile" {
			e.Pump.Reconcile = p
		} else {
			e.Pump.Intake[h] = p
		}
	}
	if p, ok := e.Lambdas["reconcile"]; ok {
		e.Pump.ReconcileConcurrency = p.Size()
	}
}

// Restart stops the Lambdas and starts them again with these function variables, as a
// stack update that changes a setting does.
func (e *Env) Restart(ctx context.Context, env map[string]string) error {
	e.Close()
	e.Opts.Env = env
	if err := e.StartLambdas(ctx); err != nil {
		return err
	}
	e.wirePump()
	return nil
}

// FunctionEnv is the environment of one handler, as the deployment template configures it.
func (e *Env) FunctionEnv(handler string) map[string]string {
	endpoint := e.Moto.URL
	if e.Recorder != nil {
		endpoint = e.Recorder.URL
	}
	env := map[string]string{
		"AWS_REGION":                         e.Region,
		"AWS_DEFAULT_REGION":                 e.Region,
		"AWS_ACCESS_KEY_ID":                  AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":              SecretAccessKey,
		"AWS_ENDPOINT_URL":                   endpoint,
		"AWS_LAMBDA_LOG_FORMAT":              "JSON",
		"AWS_LAMBDA_LOG_LEVEL":               "INFO",
		"ONBOARDER_SECRET_ARN":               e.SecretARN,
		"ONBOARDER_TEMPLATE_URL":             e.TemplateURL,
		"ONBOARDER_CLOUDONE_ACCOUNTS_URL":    e.Opts.CloudOneURL,
		"ONBOARDER_QUEUE_URL":                e.QueueURL,
		"ONBOARDER_DLQ_URL":                  e.DLQURL,
		"ONBOARDER_LEDGER_TABLE":             LedgerTable,
		"ONBOARDER_EXECUTION_ROLE_NAME":      MemberExecutionRole,
		"ONBOARDER_CLOUDFORMATION_ROLE_NAME": MemberCFNRole,
		"ONBOARDER_STACK_NAME":               "CloudOne",
		"ONBOARDER_INSTALL_ACCOUNT":          e.Install,
		"ONBOARDER_EVENT_BUS":                BusName,
		// The local world's operations take seconds, not minutes: look again after 1 s.
		"ONBOARDER_CHECK_MIN_DELAY": "1s",
		"ONBOARDER_CHECK_MAX_DELAY": "5s",
		// 600 starts a minute: one every 100 ms, so that tests that do not look at pacing are
		// not slowed by it.
		"ONBOARDER_MAX_STARTS_PER_MINUTE": "600",
	}
	if v := e.Opts.VisionOne; v != nil {
		// As deploy/template.yaml's Globals set them with Target=visionone and the parameters'
		// defaults (VisionOneStackName, VisionOneTemplateVersion, VisionOneRegion,
		// VisionOneTemplateMaxAge, TrailStackName, VisionOneFeatures empty: the CloudTrail
		// feature as Vision One lists it).
		region := v.StackRegion
		if region == "" {
			region = e.Region
		}
		maps.Copy(env, map[string]string{
			"ONBOARDER_TARGET":                     "visionone",
			"ONBOARDER_STACK_NAME":                 VisionOneStackName,
			"ONBOARDER_TEMPLATE_URL":               "visionone:1",
			"ONBOARDER_STACK_REGION":               region,
			"ONBOARDER_VISIONONE_REGION":           "us",
			"ONBOARDER_VISIONONE_API_URL":          v.APIURL,
			"ONBOARDER_VISIONONE_FEATURES":         "",
			"ONBOARDER_VISIONONE_TEMPLATE_MAX_AGE": "1440h",
			"ONBOARDER_TRAIL_STACK_NAME":           TrailStackName,
			"ONBOARDER_TRAIL_TEMPLATE_URL":         e.TrailTemplateURL,
		})
	}
	if e.Opts.Faults == nil {
		// Without the IAM gate the member roles of member.yaml are not there.
		env["ONBOARDER_EXECUTION_ROLE_NAME"], env["ONBOARDER_CLOUDFORMATION_ROLE_NAME"] = ExecutionRole, ""
	}
	if c, ok := e.creds[handler]; ok {
		env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"] = c.key, c.secret, c.token
	}
	maps.Copy(env, e.Opts.Env)
	maps.Copy(env, e.Opts.FunctionEnv[handler])
	return env
}

// StartLambdas starts every built handler: one instance per intake handler, and
// ReconcileConcurrency instances of the reconcile.
func (e *Env) StartLambdas(ctx context.Context) error {
	for name, bin := range e.Opts.Binaries {
		// Timeouts as in deploy/template.yaml, but the reconcile's, kept short so that tests
		// of waits past the deadline stay short.
		n, timeout := 1, 30
		switch name {
		case "sweep":
			timeout = 300
		case "reconcile":
			n, timeout = e.Opts.ReconcileConcurrency, 120
		}
		p, err := StartPool(ctx, n, LambdaOptions{Name: name, RIE: e.Opts.RIE, Bootstrap: bin,
			Env: e.FunctionEnv(name), Timeout: secondsDuration(timeout), Tees: e.Opts.Tees})
		if err != nil {
			return err
		}
		e.Lambdas[name] = p
	}
	return nil
}

// Close stops the Lambdas.
func (e *Env) Close() {
	if e == nil {
		return
	}
	for _, p := range e.Lambdas {
		p.Stop()
	}
}

// OrganizationsRegion is where Organizations, a global service, delivers its events to
// EventBridge ("Monitoring AWS Organizations events with EventBridge", AWS Organizations User
// Guide: us-east-1 only); moto delivers an event wherever it is put.
const OrganizationsRegion = "us-east-1"

// setupForwarder deploys the rules of the forwarder template in a region of the management
// account, each with the onboarder's bus as its target.
func (e *Env) setupForwarder(ctx context.Context, file, region string) error {
	rules, err := ReadRules(file, TemplateValues{Region: region, Account: ManagementAccount,
		Params: map[string]string{"InstallAccountId": e.Install, "OnboarderBusArn": e.BusARN}})
	if err != nil {
		return err
	}
	eb := eventbridge.NewFromConfig(e.Moto.Config(ctx, region))
	for _, r := range rules {
		if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(r.Name), EventBusName: aws.String("default"), EventPattern: aws.String(r.Pattern)}); err != nil {
			return fmt.Errorf("put forwarder rule %s: %w", r.Name, err)
		}
		if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(r.Name), EventBusName: aws.String("default"),
			Targets: []ebtypes.Target{{Id: aws.String("onboarder-bus"), Arn: aws.String(e.BusARN)}}}); err != nil {
			return fmt.Errorf("put target of forwarder rule %s: %w", r.Name, err)
		}
		e.Forwarded = append(e.Forwarded, region+"/"+r.Name)
	}
	if len(rules) == 0 {
		return fmt.Errorf("%s: no forwarder rule for %s", file, region)
	}
	return nil
}

// managementParam is the central stack's ManagementAccountId: empty in the management account.
func (e *Env) managementParam() string {
	if e.Install == ManagementAccount {
		return ""
	}
	return ManagementAccount
}

// Central is an SDK configuration of the harness in the install account, in the home region:
// where the queues, the ledger, the secret and the bus are.
func (e *Env) Central() aws.Config { return e.central }

// Put puts entries on their buses with events PutEvents (management account, home region;
// Organizations' events in us-east-1, where AWS puts them) and returns the event ids.
func (e *Env) Put(ctx context.Context, entries ...Entry) ([]string, error) {
	// Control Tower and Organizations put on the management account's default bus; the rest
	// (manual requests, the member accounts' forwarded calls) is put in the install account.
	type dest struct {
		management bool
		region     string
	}
	destOf := func(en Entry) dest {
		switch {
		case en.Source == "aws.organizations" && en.DefaultBus:
			return dest{true, OrganizationsRegion}
		case en.Source == "aws.controltower" && en.DefaultBus:
			return dest{true, e.Region}
		}
		return dest{false, e.Region}
	}
	var ids []string
	for start := 0; start < len(entries); {
		// A call puts up to 10 entries, all to one account and region.
		to, end := destOf(entries[start]), start
		for end < len(entries) && end-start < 10 && destOf(entries[end]) == to {
			end++
		}
		var in []ebtypes.PutEventsRequestEntry
		for _, en := range entries[start:end] {
			d, err := json.Marshal(en.Detail)
			if err != nil {
				return nil, err
			}
			bus := BusName
			if en.DefaultBus {
				bus = "default"
			}
			in = append(in, ebtypes.PutEventsRequestEntry{Source: aws.String(en.Source), DetailType: aws.String(en.DetailType),
				Detail: aws.String(string(d)), EventBusName: aws.String(bus)})
		}
		cfg := e.central
		if to.management {
			cfg = e.Moto.Config(ctx, to.region)
		}
		out, err := eventbridge.NewFromConfig(cfg).PutEvents(ctx, &eventbridge.PutEventsInput{Entries: in})
		if err != nil {
			return nil, fmt.Errorf("put events: %w", err)
		}
		if out.FailedEntryCount > 0 {
			return nil, errors.New("put events: some entries failed")
		}
		for _, r := range out.Entries {
			ids = append(ids, aws.ToString(r.EventId))
		}
		start = end
	}
	return ids, nil
}

// Drain runs the pump until the queues are idle.
func (e *Env) Drain(ctx context.Context) (Stats, error) { return e.Pump.Drain(ctx) }

// LambdaLogs returns the output of every Lambda process so far.
func (e *Env) LambdaLogs() string {
	var b bytes.Buffer
	for _, name := range Handlers {
		if p, ok := e.Lambdas[name]; ok {
			b.WriteString(p.Logs())
		}
	}
	return b.String()
}
