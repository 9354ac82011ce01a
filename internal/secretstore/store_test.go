package secretstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithy "github.com/aws/smithy-go"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
)

type fakeSM struct {
	value, version string
	err            error
	n              int
}

func (f *fakeSM) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.n++
	if f.err != nil {
		return nil, f.err
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(f.value), VersionId: aws.String(f.version)}, nil
}

const good = `{"cloudOneApiKey":"id:TOPSECRETKEY","visionOneServiceToken":"TOPSECRETTOKEN"}`

func TestStoreCachesAndPicksUpRotation(t *testing.T) {
	now := time.Unix(0, 0)
	sm := &fakeSM{value: good, version: "v1"}
	s := &Store{API: sm, ARN: "arn:x", TTL: time.Minute, Now: func() time.Time { return now }}
	c, err := s.Get(context.Background())
	if err != nil || c.APIKey.Reveal() != "id:TOPSECRETKEY" || c.VersionID != "v1" {
		t.Fatalf("%v %v", c, err)
	}
	sm.version = "v2"
	s.Get(context.Background())
	if sm.n != 1 {
		t.Fatal("not cached")
	}
	now = now.Add(61 * time.Second)
	c, _ = s.Get(context.Background())
	if sm.n != 2 || c.VersionID != "v2" {
		t.Fatal("rotation not picked up after the TTL")
	}
}

func TestBadSecrets(t *testing.T) {
	cases := []struct {
		name, value string
		err         error
		want        string
	}{
		{"missing", "", &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "no"}, "does not exist"},
		{"not JSON", "TOPSECRET plain", nil, "not JSON"},
		{"no token", `{"cloudOneApiKey":"id:TOPSECRETKEY"}`, nil, "field visionOneServiceToken is missing"},
		{"wrong type", `{"cloudOneApiKey":5,"visionOneServiceToken":"TOPSECRETTOKEN"}`, nil, "field cloudOneApiKey must be a string"},
		{"empty", `{"cloudOneApiKey":"","visionOneServiceToken":"TOPSECRETTOKEN"}`, nil, "field cloudOneApiKey is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Store{API: &fakeSM{value: tc.value, err: tc.err}, ARN: "arn:x", TTL: time.Minute}
			_, err := s.Get(context.Background())
			if err == nil || fault.ClassOf(err) != fault.Permanent || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v (class %s)", err, fault.ClassOf(err))
			}
			if strings.Contains(err.Error(), "TOPSECRET") {
				t.Fatalf("leak: %v", err)
			}
		})
	}
}
