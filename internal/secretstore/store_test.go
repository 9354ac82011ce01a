package secretstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
)

const good = `{"cloudOneApiKey":"id:TOPSECRETKEY","visionOneServiceToken":"TOPSECRETTOKEN"}`

func TestStoreCachesAndPicksUpRotation(t *testing.T) {
	now := time.Unix(0, 0)
	sm := &fake.SecretsManager{}
	sm.Put("arn:x", good, "v1")
	s := &Store{API: sm, ARN: "arn:x", TTL: time.Minute, Now: func() time.Time { return now }}
	c, err := s.Get(context.Background())
	if err != nil || c.APIKey.Reveal() != "id:TOPSECRETKEY" || c.VersionID != "v1" {
		t.Fatalf("%v %v", c, err)
	}
	sm.Put("arn:x", good, "v2")
	s.Get(context.Background())
	if sm.GetSecretValueCalls.Count() != 1 {
		t.Fatal("not cached")
	}
	now = now.Add(61 * time.Second)
	c, _ = s.Get(context.Background())
	if sm.GetSecretValueCalls.Count() != 2 || c.VersionID != "v2" {
		t.Fatal("rotation not picked up after the TTL")
	}
}

func TestBadSecrets(t *testing.T) {
	cases := []struct {
		name, value string // value "": the secret is not there (ResourceNotFoundException)
		want        string
	}{
		{"missing", "", "does not exist"},
		{"not JSON", "TOPSECRET plain", "not JSON"},
		{"no token", `{"cloudOneApiKey":"id:TOPSECRETKEY"}`, "field visionOneServiceToken is missing"},
		{"wrong type", `{"cloudOneApiKey":5,"visionOneServiceToken":"TOPSECRETTOKEN"}`, "field cloudOneApiKey must be a string"},
		{"empty", `{"cloudOneApiKey":"","visionOneServiceToken":"TOPSECRETTOKEN"}`, "field cloudOneApiKey is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sm := &fake.SecretsManager{}
			if tc.value != "" {
				sm.Put("arn:x", tc.value, "v1")
			}
			s := &Store{API: sm, ARN: "arn:x", TTL: time.Minute}
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
