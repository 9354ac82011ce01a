package localenv

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The tuned moto (the benchmark's) must tell accounts apart exactly as moto_server does:
// each member account's credentials see that account's buckets only, asked repeatedly (the
// remembered answers), and the management account's plain credentials see their own.
func TestTunedMotoKeepsAccountsApart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := StartMotoWith(ctx, MotoOptions{Tuned: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	buckets := func(cfg aws.Config) []string {
		out, err := S3(cfg).ListBuckets(ctx, &s3.ListBucketsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, b := range out.Buckets {
			names = append(names, aws.ToString(b.Name))
		}
		return names
	}
	members := []string{"210987654321", "345678901234"}
	for _, a := range members {
		if err := m.Bucket(ctx, a, "us-east-1", "only-"+a); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Bucket(ctx, ManagementAccount, "us-east-1", "only-management"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		for _, a := range members {
			cfg, err := m.AccountConfig(ctx, a, "us-east-1", ExecutionRole)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if got := buckets(cfg); !slices.Equal(got, []string{"only-" + a}) {
					t.Fatalf("account %s sees %v", a, got)
				}
			}
		}
		if got := buckets(m.Config(ctx, "us-east-1")); !slices.Equal(got, []string{"only-management"}) {
			t.Fatalf("the management account sees %v", got)
		}
	}
	if logs := m.Logs().String(); strings.Contains(logs, `"GET /`) || strings.Contains(logs, `"PUT /`) {
		t.Errorf("the tuned moto logged request lines:\n%s", m.Logs().String())
	}
}
