package cloudone_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/trend"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
)

var key = trend.Key{ID: "abcDEF123", Secret: "VERYSECRETPART", Region: "de-1", Account: "123456"}

func TestDescribeReadsRegion(t *testing.T) {
	srv := trend.New(key)
	defer srv.Close()
	c := &cloudone.Client{BaseURL: srv.URL}
	k, err := c.Describe(context.Background(), secret.NewValue(key.APIKey()))
	if err != nil {
		t.Fatal(err)
	}
	if k.Region != "de-1" || k.AccountID != "123456" || k.ID != "abcDEF123" {
		t.Fatalf("key %+v", k)
	}
	if r, _ := cloudone.AWSRegion(k.Region); r != "eu-central-1" {
		t.Fatalf("region %s", r)
	}
	// Cached: a key's region does not change.
	if _, err := c.Describe(context.Background(), secret.NewValue(key.APIKey())); err != nil || srv.Requests() != 1 {
		t.Fatalf("requests %d, err %v", srv.Requests(), err)
	}
	if srv.Rejected() != 0 {
		t.Fatal("the stand-in rejected the client's headers")
	}
}

func TestFailureClasses(t *testing.T) {
	cases := []struct {
		status int
		hang   bool
		want   fault.Class
	}{
		{http.StatusUnauthorized, false, fault.Permanent},
		{http.StatusForbidden, false, fault.Permanent},
		{http.StatusTooManyRequests, false, fault.Transient},
		{http.StatusServiceUnavailable, false, fault.Transient},
		{http.StatusInternalServerError, false, fault.Transient},
		{0, true, fault.Transient},
	}
	for _, tc := range cases {
		srv := trend.New(key)
		if tc.hang {
			srv.Hang()
		} else {
			srv.Fail(tc.status)
		}
		c := &cloudone.Client{BaseURL: srv.URL, HTTP: &http.Client{Timeout: 200 * time.Millisecond}}
		_, err := c.Describe(context.Background(), secret.NewValue(key.APIKey()))
		srv.Close()
		if got := fault.ClassOf(err); got != tc.want {
			t.Errorf("status %d hang %v: class %s (%v), want %s", tc.status, tc.hang, got, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), key.Secret) {
			t.Errorf("the key leaked into the error: %v", err)
		}
	}
}

func TestWrongKeyIsRejected(t *testing.T) {
	srv := trend.New(key)
	defer srv.Close()
	c := &cloudone.Client{BaseURL: srv.URL}
	_, err := c.Describe(context.Background(), secret.NewValue(key.ID+":wrong"))
	if fault.ClassOf(err) != fault.Permanent || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err %v", err)
	}
	_, err = c.Describe(context.Background(), secret.NewValue("no-colon"))
	if fault.ClassOf(err) != fault.Permanent || !strings.Contains(err.Error(), "cloudOneApiKey") {
		t.Fatalf("err %v", err)
	}
}
