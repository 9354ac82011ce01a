//go:build integration

package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithy "github.com/aws/smithy-go"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
)

var motoURL string

// TestMain starts one moto_server for the package (localworld.StartMoto: a missing
// moto_server fails the run with the way to install it).
func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	moto, err := localworld.StartMoto(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	motoURL = moto.URL
	code := m.Run()
	moto.Stop()
	os.Exit(code)
}

func start(t *testing.T, opts ...proxy.Option) *proxy.Proxy {
	t.Helper()
	p, err := proxy.Start(motoURL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// cfg is an SDK config against endpoint with the standard retryer: maxAttempts attempts, tiny
// backoff, no retry quota (so that tests do not drain it).
func cfg(endpoint string, maxAttempts int, creds aws.CredentialsProvider) aws.Config {
	if creds == nil {
		creds = credentials.NewStaticCredentialsProvider("testing", "testing", "")
	}
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  creds,
		BaseEndpoint: aws.String(endpoint),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.MaxBackoff = 5 * time.Millisecond
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// call is one SDK call per service, as the product's clients make them.
type call struct {
	service, action string
	do              func(ctx context.Context, c aws.Config) error
}

var calls = []call{
	{"cloudformation", "DescribeStacks", func(ctx context.Context, c aws.Config) error {
		_, err := cloudformation.NewFromConfig(c).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{})
		return err
	}},
	{"sts", "GetCallerIdentity", func(ctx context.Context, c aws.Config) error {
		_, err := sts.NewFromConfig(c).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	}},
	{"cloudtrail", "DescribeTrails", func(ctx context.Context, c aws.Config) error {
		_, err := cloudtrail.NewFromConfig(c).DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{})
		return err
	}},
	{"secretsmanager", "ListSecrets", func(ctx context.Context, c aws.Config) error {
		_, err := secretsmanager.NewFromConfig(c).ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
		return err
	}},
	{"dynamodb", "ListTables", func(ctx context.Context, c aws.Config) error {
		_, err := dynamodb.NewFromConfig(c).ListTables(ctx, &dynamodb.ListTablesInput{})
		return err
	}},
	{"organizations", "ListRoots", func(ctx context.Context, c aws.Config) error {
		_, err := organizations.NewFromConfig(c).ListRoots(ctx, &organizations.ListRootsInput{})
		return err
	}},
	{"events", "ListRules", func(ctx context.Context, c aws.Config) error {
		_, err := eventbridge.NewFromConfig(c).ListRules(ctx, &eventbridge.ListRulesInput{})
		return err
	}},
	{"sqs", "ListQueues", func(ctx context.Context, c aws.Config) error {
		_, err := sqs.NewFromConfig(c).ListQueues(ctx, &sqs.ListQueuesInput{})
		return err
	}},
	{"s3", "ListBuckets", func(ctx context.Context, c aws.Config) error {
		_, err := s3.NewFromConfig(c, func(o *s3.Options) { o.UsePathStyle = true }).ListBuckets(ctx, &s3.ListBucketsInput{})
		return err
	}},
}

func TestClassifiesEveryService(t *testing.T) {
	p := start(t)
	ctx := context.Background()
	for _, c := range calls {
		_ = c.do(ctx, cfg(p.URL, 1, nil)) // organizations may answer "not in an organization": fine
	}
	got := p.Calls(proxy.Filter{})
	if len(got) != len(calls) {
		t.Fatalf("proxy saw %d calls, want %d: %+v", len(got), len(calls), got)
	}
	for i, c := range calls {
		want := proxy.Call{Service: c.service, Action: c.action, Account: proxy.DefaultAccount, Region: "us-east-1"}
		if g := got[i]; g.Service != want.Service || g.Action != want.Action || g.Account != want.Account || g.Region != want.Region {
			t.Errorf("call %d: got %+v, want %+v", i, g, want)
		}
	}
}

func TestThrottleIsRetriedAsThrottle(t *testing.T) {
	ctx := context.Background()
	throttles := retry.IsErrorThrottles(retry.DefaultThrottles)
	for _, c := range calls {
		t.Run(c.service, func(t *testing.T) {
			p := start(t)
			p.Add(proxy.Rule{Service: c.service, Action: c.action, Fault: proxy.Throttle{}})
			err := c.do(ctx, cfg(p.URL, 3, nil))
			var maxErr *retry.MaxAttemptsError
			if !errors.As(err, &maxErr) || maxErr.Attempt != 3 {
				t.Fatalf("want retries exhausted after 3 attempts, got %v", err)
			}
			if throttles.IsErrorThrottle(err) != aws.TrueTernary {
				t.Errorf("the SDK does not classify %v as throttling", err)
			}
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("not an API error: %v", err)
			}
			if _, ok := retry.DefaultThrottleErrorCodes[apiErr.ErrorCode()]; !ok {
				t.Errorf("code %q is not a throttle code", apiErr.ErrorCode())
			}
			if n := len(p.Calls(proxy.Filter{Service: c.service})); n != 3 {
				t.Errorf("proxy saw %d attempts, want 3", n)
			}
			if s := p.Stats(); s.Faults["throttle"] != 3 {
				t.Errorf("stats: %+v", s)
			}
			if c.service == "organizations" && apiErr.ErrorCode() != "TooManyRequestsException" {
				t.Errorf("organizations throttles with TooManyRequestsException, got %q", apiErr.ErrorCode())
			}
			t.Logf("%s: %s (%T)", c.service, apiErr.ErrorCode(), apiErr)

			// Two throttles, then success within 3 attempts.
			p.Clear()
			p.ResetStats()
			p.Add(proxy.Rule{Service: c.service, Fault: proxy.Throttle{}, Times: 2})
			if err := c.do(ctx, cfg(p.URL, 3, nil)); err != nil && c.service != "organizations" {
				t.Errorf("after 2 throttles: %v", err)
			}
			if n := p.Stats().Requests; n != 3 {
				t.Errorf("proxy saw %d attempts, want 3", n)
			}
		})
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	ctx := context.Background()
	for _, c := range calls {
		for _, status := range []int{500, 503} {
			t.Run(fmt.Sprintf("%s/%d", c.service, status), func(t *testing.T) {
				p := start(t)
				p.Add(proxy.Rule{Service: c.service, Fault: proxy.ServerError{Status: status}})
				err := c.do(ctx, cfg(p.URL, 2, nil))
				var maxErr *retry.MaxAttemptsError
				if !errors.As(err, &maxErr) || maxErr.Attempt != 2 {
					t.Fatalf("want retries exhausted after 2 attempts, got %v", err)
				}
				var re *awshttp.ResponseError
				if !errors.As(err, &re) || re.HTTPStatusCode() != status {
					t.Fatalf("want HTTP %d, got %v", status, err)
				}
				var apiErr smithy.APIError
				if !errors.As(err, &apiErr) {
					t.Fatalf("not an API error: %v", err)
				}
				if apiErr.ErrorFault() == smithy.FaultClient {
					t.Errorf("fault of %s is client", apiErr.ErrorCode())
				}
				t.Logf("%s %d: %s", c.service, status, apiErr.ErrorCode())
			})
		}
	}
}

func TestResetIsRetried(t *testing.T) {
	ctx := context.Background()
	for _, c := range calls {
		t.Run(c.service, func(t *testing.T) {
			p := start(t)
			p.Add(proxy.Rule{Service: c.service, Fault: proxy.Reset{}})
			err := c.do(ctx, cfg(p.URL, 2, nil))
			var maxErr *retry.MaxAttemptsError
			if !errors.As(err, &maxErr) || maxErr.Attempt != 2 {
				t.Fatalf("want retries exhausted after 2 attempts, got %v", err)
			}
			if !strings.Contains(err.Error(), "connection reset") {
				t.Errorf("not a connection reset: %v", err)
			}
			p.Clear()
			p.Add(proxy.Rule{Service: c.service, Fault: proxy.Reset{}, Times: 1})
			if err := c.do(ctx, cfg(p.URL, 2, nil)); err != nil && c.service != "organizations" {
				t.Errorf("after one reset: %v", err)
			}
		})
	}
}

// A truncated body fails deserialization with io.ErrUnexpectedEOF, which the SDK's standard
// retryer does NOT retry (as with a real truncated response). A client that adds a retryable
// for it gets the retry.
func TestTruncateSurfacesAsUnexpectedEOF(t *testing.T) {
	ctx := context.Background()
	eofRetryable := retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return aws.TrueTernary
		}
		return aws.UnknownTernary
	})
	for _, c := range calls {
		t.Run(c.service, func(t *testing.T) {
			p := start(t)
			p.Add(proxy.Rule{Service: c.service, Fault: proxy.Truncate{}, Times: 1})
			err := c.do(ctx, cfg(p.URL, 3, nil))
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("want unexpected EOF, got %v", err)
			}
			var de *smithy.DeserializationError
			if !errors.As(err, &de) {
				t.Errorf("not a deserialization error: %T %v", err, err)
			}
			if r := retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err); r == aws.TrueTernary {
				t.Errorf("the SDK now retries truncated bodies: update the docs")
			}
			if n := p.Stats().Requests; n != 1 {
				t.Errorf("%d attempts, want 1 (not retried)", n)
			}

			p.Clear()
			p.ResetStats()
			p.Add(proxy.Rule{Service: c.service, Fault: proxy.Truncate{}, Times: 1})
			withEOF := cfg(p.URL, 3, nil)
			withEOF.Retryer = func() aws.Retryer {
				return retry.NewStandard(func(o *retry.StandardOptions) {
					o.MaxAttempts, o.MaxBackoff, o.RateLimiter = 3, 5*time.Millisecond, ratelimit.None
					o.Retryables = append(o.Retryables, eofRetryable)
				})
			}
			if err := c.do(ctx, withEOF); err != nil && c.service != "organizations" {
				t.Errorf("with an EOF retryable: %v", err)
			}
			if n := p.Stats().Requests; n != 2 {
				t.Errorf("%d attempts, want 2", n)
			}
		})
	}
}

func TestLatency(t *testing.T) {
	ctx := context.Background()
	p := start(t, proxy.WithSeed(1))
	do := calls[1].do // sts GetCallerIdentity
	_ = do(ctx, cfg(p.URL, 1, nil))
	measure := func() time.Duration {
		t0 := time.Now()
		if err := do(ctx, cfg(p.URL, 1, nil)); err != nil {
			t.Fatal(err)
		}
		return time.Since(t0)
	}
	// A fixed latency holds the call at least that long. How much longer a call takes is the
	// machine's, not the proxy's: no upper bound is asserted on a clock.
	p.Add(proxy.Rule{Service: "sts", Fault: proxy.Latency{Fixed: 300 * time.Millisecond}})
	if d := measure(); d < 300*time.Millisecond {
		t.Errorf("fixed 300ms: took %v", d)
	}
	p.Clear()
	p.Add(proxy.Rule{Service: "sts", Fault: proxy.Latency{UpTo: 200 * time.Millisecond}})
	for range 5 {
		measure()
	}
	if s := p.Stats(); s.Faults["latency"] != 6 {
		t.Errorf("latency injected %d times, want 6", s.Faults["latency"])
	}
}

func TestAccountFromAssumeRole(t *testing.T) {
	ctx := context.Background()
	p := start(t)
	const member = "111111111111"
	out, err := sts.NewFromConfig(cfg(p.URL, 1, nil)).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + member + ":role/Exec"), RoleSessionName: aws.String("t"),
	})
	if err != nil {
		t.Fatal(err)
	}
	cr := out.Credentials
	memberCreds := credentials.NewStaticCredentialsProvider(*cr.AccessKeyId, *cr.SecretAccessKey, *cr.SessionToken)
	id, err := sts.NewFromConfig(cfg(p.URL, 1, memberCreds)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != member {
		t.Fatalf("moto: assumed credentials act in %v (err %v)", aws.ToString(id.Account), err)
	}
	if got := p.Calls(proxy.Filter{Action: "GetCallerIdentity"}); len(got) != 1 || got[0].Account != member {
		t.Fatalf("attributed to %+v", got)
	}
	if got := p.Calls(proxy.Filter{Action: "AssumeRole"}); len(got) != 1 || got[0].Account != proxy.DefaultAccount {
		t.Fatalf("AssumeRole attributed to %+v", got)
	}

	p.Add(proxy.Rule{Account: member, Fault: proxy.Throttle{}})
	listQueues := calls[7].do
	if err := listQueues(ctx, cfg(p.URL, 1, nil)); err != nil {
		t.Errorf("management account hit by a member rule: %v", err)
	}
	err = listQueues(ctx, cfg(p.URL, 1, memberCreds))
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "RequestThrottled" {
		t.Errorf("member account not throttled: %v", err)
	}
	s := p.Stats()
	if c := s.ByCall[proxy.Key{Service: "sqs", Action: "ListQueues", Account: member}]; c.Requests != 1 || c.Faults["throttle"] != 1 {
		t.Errorf("member stats: %+v", c)
	}
	if c := s.ByCall[proxy.Key{Service: "sqs", Action: "ListQueues", Account: proxy.DefaultAccount}]; c.Requests != 1 || len(c.Faults) != 0 {
		t.Errorf("management stats: %+v", c)
	}
}

func TestSeededProbabilityIsDeterministic(t *testing.T) {
	ctx := context.Background()
	run := func() []bool {
		p := start(t, proxy.WithSeed(1))
		p.Add(proxy.Rule{Service: "sts", Fault: proxy.Throttle{}, Probability: 0.3})
		for range 60 {
			_ = calls[1].do(ctx, cfg(p.URL, 1, nil))
		}
		var hit []bool
		for _, c := range p.Calls(proxy.Filter{}) {
			hit = append(hit, len(c.Faults) > 0)
		}
		return hit
	}
	a, b := run(), run()
	n := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("runs differ at %d", i)
		}
		if a[i] {
			n++
		}
	}
	if n < 8 || n > 30 {
		t.Errorf("30%% of 60 calls throttled: %d", n)
	}
}

// The benchmark's shape: 50 ms on every call and 20% throttled, 32 clients at once, the SDK's
// default standard retryer (3 attempts, default retry quota).
func TestConcurrentLatencyAndThrottling(t *testing.T) {
	ctx := context.Background()
	p := start(t, proxy.WithSeed(7))
	p.Add(proxy.Rule{Fault: proxy.Latency{Fixed: 50 * time.Millisecond}})
	p.Add(proxy.Rule{Fault: proxy.Throttle{}, Probability: 0.2})
	c := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(p.URL),
		Retryer:      func() aws.Retryer { return retry.NewStandard() },
	}
	client := sqs.NewFromConfig(c)
	const workers, each = 32, 20
	errs := make(chan error, workers*each)
	t0 := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				_, err := client.ListQueues(ctx, &sqs.ListQueuesInput{})
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		var maxErr *retry.MaxAttemptsError
		switch {
		case err == nil:
		case errors.As(err, &maxErr): // three throttles in a row: 0.8% of calls at 20%
			failed++
		default:
			t.Error(err)
		}
	}
	s := p.Stats()
	t.Logf("%d calls in %v: %d requests, %d throttled, %d failed", workers*each, time.Since(t0), s.Requests, s.Faults["throttle"], failed)
	// Every throttle but the last of a failed call is retried once.
	if s.Requests != workers*each+s.Faults["throttle"]-failed {
		t.Errorf("requests %d != calls %d + throttled %d - failed %d", s.Requests, workers*each, s.Faults["throttle"], failed)
	}
	if s.Faults["latency"] != s.Requests {
		t.Errorf("latency on %d of %d requests", s.Faults["latency"], s.Requests)
	}
}

// Without rules the proxy is transparent: S3 bodies both ways, SQS queue URLs (moto builds them
// from the Host header, which the proxy keeps).
func TestForwardsFaithfully(t *testing.T) {
	ctx := context.Background()
	p := start(t)
	c := cfg(p.URL, 1, nil)
	s3c := s3.NewFromConfig(c, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("fp-bucket")}); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 100_000)
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("fp-bucket"), Key: aws.String("a/b"), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("fp-bucket"), Key: aws.String("a/b")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(got) != body {
		t.Errorf("object of %d bytes came back as %d", len(body), len(got))
	}
	q, err := sqs.NewFromConfig(c).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("fp-q")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(aws.ToString(q.QueueUrl), p.URL+"/"+proxy.DefaultAccount+"/") {
		t.Errorf("queue URL %s does not go through the proxy", aws.ToString(q.QueueUrl))
	}
	var actions []string
	for _, c := range p.Calls(proxy.Filter{}) {
		actions = append(actions, c.Service+":"+c.Action)
	}
	want := "s3:CreateBucket s3:PutObject s3:GetObject sqs:CreateQueue"
	if strings.Join(actions, " ") != want {
		t.Errorf("actions %v, want %s", actions, want)
	}
}

// A stand-in served for one service answers instead of moto, behind the rules.
func TestServeStandIn(t *testing.T) {
	p := start(t)
	served := 0
	p.Serve("organizations", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, `{"Roots":[{"Id":"r-standin","Name":"Root"}]}`)
	}))
	p.Add(proxy.Rule{Service: "organizations", Fault: proxy.Throttle{}, Times: 1})
	out, err := organizations.NewFromConfig(cfg(p.URL, 3, nil)).ListRoots(context.Background(), &organizations.ListRootsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Roots) != 1 || aws.ToString(out.Roots[0].Id) != "r-standin" || served != 1 {
		t.Errorf("roots %+v, stand-in served %d times, want its one root once (after the throttle)", out.Roots, served)
	}
	if s := p.Stats(); s.Requests != 2 || s.Faults["throttle"] != 1 {
		t.Errorf("stats %+v, want 2 requests, 1 throttled", s)
	}
	p.Serve("organizations", nil)
	_, _ = organizations.NewFromConfig(cfg(p.URL, 1, nil)).ListRoots(context.Background(), &organizations.ListRootsInput{})
	if served != 1 {
		t.Error("the stand-in still answers after Serve(nil)")
	}
}
