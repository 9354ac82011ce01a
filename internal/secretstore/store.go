// Package secretstore reads the vendor's credentials from the Secrets Manager secret and
// caches them briefly, so that a rotation is picked up within minutes.
package secretstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
)

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
	// Fields are the fields the secret must have (config.Config.SecretFields); nil: Cloud
	// One's, cloudOneApiKey and visionOneServiceToken. The others are read when present.
	Fields []string

	mu      sync.Mutex
	cached  secret.Credentials
	fetched time.Time
}

// Get returns the credentials, from the cache when fresh.
func (s *Store) Get(ctx context.Context) (secret.Credentials, error) {
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
			return secret.Credentials{}, fault.Permanentf("read secret %s: it does not exist (ONBOARDER_SECRET_ARN)", s.ARN)
		}
		if fault.IsCode(err, "AccessDeniedException", "DecryptionFailure") {
			return secret.Credentials{}, fault.Permanentf("read secret %s: %s: the function's role cannot read or decrypt it", s.ARN, fault.Code(err))
		}
		return secret.Credentials{}, fmt.Errorf("read secret %s: %w", s.ARN, err)
	}
	c, err := parse(aws.ToString(out.SecretString), s.Fields)
	if err != nil {
		return secret.Credentials{}, fault.Permanentf("secret %s: %w", s.ARN, err)
	}
	c.VersionID = aws.ToString(out.VersionId)
	s.cached, s.fetched = c, now()
	return c, nil
}

// parse reads the secret's JSON: the required fields must be there, the others are read when
// present. Errors name the fields, never the values.
func parse(s string, required []string) (secret.Credentials, error) {
	if required == nil {
		required = []string{"cloudOneApiKey", "visionOneServiceToken"}
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		return secret.Credentials{}, fmt.Errorf("value is not JSON; want {%s}", example(required))
	}
	var errs []error
	field := func(name string) secret.Value {
		raw, ok := doc[name]
		must := slices.Contains(required, name)
		if !ok {
			if must {
				errs = append(errs, fmt.Errorf("field %s is missing", name))
			}
			return secret.Value{}
		}
		str, ok := raw.(string)
		if !ok {
			errs = append(errs, fmt.Errorf("field %s must be a string", name))
			return secret.Value{}
		}
		if must && strings.TrimSpace(str) == "" {
			errs = append(errs, fmt.Errorf("field %s is empty", name))
		}
		return secret.NewValue(strings.TrimSpace(str))
	}
	c := secret.Credentials{APIKey: field("cloudOneApiKey"), ServiceToken: field("visionOneServiceToken"), VisionOneKey: field("visionOneApiKey")}
	return c, errors.Join(errs...)
}

// example is the secret's JSON with the fields named and no value.
func example(fields []string) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = fmt.Sprintf("%q: \"...\"", f)
	}
	return strings.Join(parts, ", ")
}
