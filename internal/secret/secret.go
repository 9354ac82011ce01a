// Package secret reads the Cloud One credentials from Secrets Manager and keeps them in a
// type that cannot print itself.
package secret

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
)

// Value is a secret string. Every way of printing it (fmt verbs, slog, JSON) shows
// "[redacted]"; Reveal is the one way to the value, for the places that must send it.
type Value struct{ v string }

// NewValue wraps a secret string.
func NewValue(s string) Value { return Value{v: s} }

func (Value) String() string                  { return "[redacted]" }
func (Value) GoString() string                { return "[redacted]" }
func (Value) LogValue() slog.Value            { return slog.StringValue("[redacted]") }
func (Value) MarshalJSON() ([]byte, error)    { return []byte(`"[redacted]"`), nil }
func (Value) MarshalText() ([]byte, error)    { return []byte("[redacted]"), nil }
func (v Value) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte("[redacted]")) }

// Reveal returns the secret itself.
func (v Value) Reveal() string { return v.v }

// Empty reports whether the value is empty.
func (v Value) Empty() bool { return v.v == "" }

// Credentials are the contents of the onboarder's secret.
type Credentials struct {
	APIKey       Value  // cloudOneApiKey
	ServiceToken Value  // visionOneServiceToken
	VersionID    string // the secret version: part of the stack fingerprint, so rotation updates stacks
}

// SecretsAPI is the part of the Secrets Manager client the store uses.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Store reads the secret and caches it for TTL, so that a rotation is picked up within TTL.
type Store struct {
	API SecretsAPI
	ARN string
	TTL time.Duration
	Now func() time.Time // nil: time.Now

	mu      sync.Mutex
	cached  Credentials
	fetched time.Time
}

// Get returns the credentials, from the cache when fresh.
func (s *Store) Get(ctx context.Context) (Credentials, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fetched.IsZero() && now().Sub(s.fetched) < s.TTL {
		return s.cached, nil
	}
	out, err := s.API.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.ARN)})
	if err != nil {
		if fault.IsCode(err, "ResourceNotFoundException") {
			return Credentials{}, fault.Permanentf("read secret %s: it does not exist (ONBOARDER_SECRET_ARN)", s.ARN)
		}
		if fault.IsCode(err, "AccessDeniedException", "DecryptionFailure") {
			return Credentials{}, fault.Permanentf("read secret %s: %s: the function's role cannot read or decrypt it", s.ARN, fault.Code(err))
		}
		return Credentials{}, fmt.Errorf("read secret %s: %w", s.ARN, err)
	}
	c, err := parse(aws.ToString(out.SecretString))
	if err != nil {
		return Credentials{}, fault.Permanentf("secret %s: %w", s.ARN, err)
	}
	c.VersionID = aws.ToString(out.VersionId)
	s.cached, s.fetched = c, now()
	return c, nil
}

// parse reads the secret's JSON. Errors name the fields, never the values.
func parse(s string) (Credentials, error) {
	var doc map[string]any
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		return Credentials{}, errors.New(`value is not JSON; want {"cloudOneApiKey": "...", "visionOneServiceToken": "..."}`)
	}
	var errs []error
	field := func(name string) Value {
		raw, ok := doc[name]
		if !ok {
			errs = append(errs, fmt.Errorf("field %s is missing", name))
			return Value{}
		}
		str, ok := raw.(string)
		if !ok {
			errs = append(errs, fmt.Errorf("field %s must be a string", name))
			return Value{}
		}
		if strings.TrimSpace(str) == "" {
			errs = append(errs, fmt.Errorf("field %s is empty", name))
		}
		return NewValue(strings.TrimSpace(str))
	}
	c := Credentials{APIKey: field("cloudOneApiKey"), ServiceToken: field("visionOneServiceToken")}
	return c, errors.Join(errs...)
}
