package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/metrics"
)

func TestEMF(t *testing.T) {
	var buf bytes.Buffer
	r := metrics.New(&buf, "trailguard")
	r.Now = func() time.Time { return time.UnixMilli(1700000000000) }
	r.Event("skip", "own-change")
	r.Outcome("update", "none")
	r.Calls.Add("SQS", "SendMessageBatch")
	r.Calls.Add("SQS", "SendMessageBatch")
	r.Flush()
	r.Flush() // nothing left
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	var m struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Function, Decision, Reason string
		Events                     float64
	}
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	d := m.AWS.CloudWatchMetrics[0]
	if m.AWS.Timestamp != 1700000000000 || d.Namespace != "CloudOneOnboarder" || strings.Join(d.Dimensions[0], ",") != "Function,Decision,Reason" ||
		d.Metrics[0].Name != "Events" || m.Events != 1 || m.Function != "trailguard" || m.Decision != "skip" || m.Reason != "own-change" {
		t.Errorf("EMF line %s", lines[0])
	}
	if !strings.Contains(lines[2], `"AWSCalls":2`) || !strings.Contains(lines[2], `"Operation":"SendMessageBatch"`) {
		t.Errorf("calls line %s", lines[2])
	}
	var nilRec *metrics.Recorder
	nilRec.Event("x", "y") // a nil recorder is off, not a panic
	nilRec.Flush()
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCountCalls(t *testing.T) {
	var n atomic.Int32
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: aws.AnonymousCredentials{},
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
		HTTPClient: &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			status := http.StatusOK
			if n.Add(1) == 1 {
				status = http.StatusInternalServerError // the first attempt fails: one retry
			}
			return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
				Body: io.NopCloser(strings.NewReader(`{"QueueUrl":"https://q"}`)), Request: r}, nil
		})},
	}
	c := &metrics.Counter{}
	metrics.CountCalls(&cfg, c)
	client := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String("https://sqs.example") })
	for range 2 {
		if _, err := client.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String("q")}); err != nil {
			t.Fatal(err)
		}
	}
	s := c.Snapshot()
	if len(s) != 1 || s[0].Service != "SQS" || s[0].Operation != "GetQueueUrl" || s[0].Calls != 2 || s[0].Attempts != 3 {
		t.Errorf("counted %+v, want SQS GetQueueUrl 2 calls, 3 attempts", s)
	}
	if c.Total() != 2 || c.Get("SQS", "GetQueueUrl") != 2 {
		t.Errorf("total %d", c.Total())
	}
}
