package intake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/intake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
)

// FakeSQS records the batches it is sent.
type FakeSQS struct {
	mu                 sync.Mutex
	Inputs             []*sqs.SendMessageBatchInput
	SendMessageBatchFn func(ctx context.Context, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error)
}

var _ queue.SQSAPI = (*FakeSQS)(nil)

func (f *FakeSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	f.Inputs = append(f.Inputs, in)
	f.mu.Unlock()
	if f.SendMessageBatchFn != nil {
		return f.SendMessageBatchFn(ctx, in)
	}
	return &sqs.SendMessageBatchOutput{}, nil
}

// Requests decodes every message sent.
func (f *FakeSQS) Requests(t *testing.T) []queue.Request {
	t.Helper()
	var out []queue.Request
	for _, in := range f.Inputs {
		for _, e := range in.Entries {
			r, err := queue.Decode(aws.ToString(e.MessageBody))
			if err != nil {
				t.Fatalf("message is not a valid request: %v", err)
			}
			if aws.ToString(e.MessageGroupId) != r.Account || aws.ToString(e.MessageDeduplicationId) != r.DeduplicationID() {
				t.Errorf("group %s / dedup %s do not match request %+v", aws.ToString(e.MessageGroupId), aws.ToString(e.MessageDeduplicationId), r)
			}
			out = append(out, r)
		}
	}
	return out
}

// FakeOrgs is an Organizations client with canned answers; Calls counts calls by operation.
type FakeOrgs struct {
	mu                     sync.Mutex
	Calls                  map[string]int
	ListAccountsFn         func(in *organizations.ListAccountsInput) (*organizations.ListAccountsOutput, error)
	ListParentsFn          func(in *organizations.ListParentsInput) (*organizations.ListParentsOutput, error)
	DescribeAccountFn      func(in *organizations.DescribeAccountInput) (*organizations.DescribeAccountOutput, error)
	DescribeOrganizationFn func(in *organizations.DescribeOrganizationInput) (*organizations.DescribeOrganizationOutput, error)
	ForParentFn            func(in *organizations.ListAccountsForParentInput) (*organizations.ListAccountsForParentOutput, error)
	OUsFn                  func(in *organizations.ListOrganizationalUnitsForParentInput) (*organizations.ListOrganizationalUnitsForParentOutput, error)
}

var _ intake.Organizations = (*FakeOrgs)(nil)

func (f *FakeOrgs) count(op string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Calls == nil {
		f.Calls = map[string]int{}
	}
	f.Calls[op]++
}

func (f *FakeOrgs) Total() int {
	n := 0
	for _, c := range f.Calls {
		n += c
	}
	return n
}

func (f *FakeOrgs) ListAccounts(_ context.Context, in *organizations.ListAccountsInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error) {
	f.count("ListAccounts")
	return f.ListAccountsFn(in)
}

func (f *FakeOrgs) ListParents(_ context.Context, in *organizations.ListParentsInput, _ ...func(*organizations.Options)) (*organizations.ListParentsOutput, error) {
	f.count("ListParents")
	return f.ListParentsFn(in)
}

func (f *FakeOrgs) DescribeAccount(_ context.Context, in *organizations.DescribeAccountInput, _ ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error) {
	f.count("DescribeAccount")
	return f.DescribeAccountFn(in)
}

func (f *FakeOrgs) DescribeOrganization(_ context.Context, in *organizations.DescribeOrganizationInput, _ ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error) {
	f.count("DescribeOrganization")
	return f.DescribeOrganizationFn(in)
}

func (f *FakeOrgs) ListAccountsForParent(_ context.Context, in *organizations.ListAccountsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	f.count("ListAccountsForParent")
	return f.ForParentFn(in)
}

func (f *FakeOrgs) ListOrganizationalUnitsForParent(_ context.Context, in *organizations.ListOrganizationalUnitsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
	f.count("ListOrganizationalUnitsForParent")
	return f.OUsFn(in)
}

// parentsFrom answers ListParents from a child -> parent map.
func parentsFrom(tree map[string]string) func(in *organizations.ListParentsInput) (*organizations.ListParentsOutput, error) {
	return func(in *organizations.ListParentsInput) (*organizations.ListParentsOutput, error) {
		p, ok := tree[aws.ToString(in.ChildId)]
		if !ok {
			return nil, &orgtypes.ChildNotFoundException{Message: aws.String("no such child")}
		}
		typ := orgtypes.ParentTypeOrganizationalUnit
		if strings.HasPrefix(p, "r-") {
			typ = orgtypes.ParentTypeRoot
		}
		return &organizations.ListParentsOutput{Parents: []orgtypes.Parent{{Id: aws.String(p), Type: typ}}}, nil
	}
}

// FakeLedger is a ledger reader with canned entries.
type FakeLedger struct {
	Calls int
	GetFn func(account string) (ledger.Entry, bool, error)
}

var _ intake.Ledger = (*FakeLedger)(nil)

func (f *FakeLedger) Get(_ context.Context, account string) (ledger.Entry, bool, error) {
	f.Calls++
	return f.GetFn(account)
}

// env is one test's world: fakes, captured logs and metrics.
type env struct {
	sqs     *FakeSQS
	orgs    *FakeOrgs
	ledger  *FakeLedger
	logs    bytes.Buffer
	emf     bytes.Buffer
	log     *slog.Logger
	metrics *metrics.Recorder
}

func newEnv() *env {
	e := &env{sqs: &FakeSQS{}, orgs: &FakeOrgs{}, ledger: &FakeLedger{}}
	e.log = slog.New(slog.NewJSONHandler(&e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.metrics = metrics.New(&e.emf, "test")
	return e
}

func (e *env) queue() *queue.Sender {
	return &queue.Sender{SQS: e.sqs, QueueURL: "https://sqs.us-east-1.amazonaws.com/999999999999/reconcile.fifo"}
}

// lines decodes the JSON log lines.
func (e *env) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// decisions returns the "event" log lines.
func (e *env) decisions(t *testing.T) []map[string]any {
	var out []map[string]any
	for _, l := range e.lines(t) {
		if l["msg"] == "event" {
			out = append(out, l)
		}
	}
	return out
}

func baseConfig() config.Config {
	c := config.Default()
	c.QueueURL = "https://sqs.us-east-1.amazonaws.com/999999999999/reconcile.fifo"
	c.LedgerTable = "onboarder-ledger"
	return c
}

func golden(t *testing.T, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "event", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// invoke drives a handler from raw bytes, as the Lambda runtime does.
func invoke(t *testing.T, handler any, raw []byte) error {
	t.Helper()
	_, err := lambda.NewHandler(handler).Invoke(context.Background(), raw)
	return err
}

// mutate decodes a golden event, applies f, encodes it again.
func mutate(t *testing.T, name string, f func(m map[string]any)) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(golden(t, name), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, _ := json.Marshal(m)
	return b
}

func detail(m map[string]any) map[string]any { return m["detail"].(map[string]any) }
