// Package crossaccount gives AWS configurations for member accounts: it assumes the
// execution role in each account and caches the credentials until shortly before they expire.
package crossaccount

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
)

// Assumer hands out member-account configurations built on one base configuration.
type Assumer struct {
	Base        aws.Config                   // the management account's configuration
	STS         stscreds.AssumeRoleAPIClient // nil: sts.NewFromConfig(Base)
	RoleARN     func(account string) string
	SessionName string // identifies the onboarder in the member account's CloudTrail

	once  sync.Once
	mu    sync.Mutex
	cache map[string]*aws.CredentialsCache
}

// Credentials returns the cached credentials provider of an account's execution role.
func (a *Assumer) Credentials(account string) *aws.CredentialsCache {
	a.once.Do(func() {
		if a.STS == nil {
			a.STS = sts.NewFromConfig(a.Base)
		}
		a.cache = map[string]*aws.CredentialsCache{}
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.cache[account]; ok {
		return c
	}
	p := stscreds.NewAssumeRoleProvider(a.STS, a.RoleARN(account), func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = a.SessionName
		o.Duration = time.Hour
	})
	c := aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = 5 * time.Minute // refresh before a long stack wait can outlive them
	})
	a.cache[account] = c
	return c
}

// DeniedError is AccessDenied on AssumeRole. Whether it is worth retrying depends on how new
// the account is (IAM is eventually consistent right after an account is created), which the
// caller knows: by itself it is permanent.
type DeniedError struct {
	Role string
	Err  error
}

func (e *DeniedError) Error() string { return "assume " + e.Role + ": access denied: " + e.Err.Error() }
func (e *DeniedError) Unwrap() error { return e.Err }

// Config returns the configuration for an account and region. It assumes the role now
// (or takes cached credentials), so that a failure to assume is reported as such, AccessDenied
// as a *DeniedError.
func (a *Assumer) Config(ctx context.Context, account, region string) (aws.Config, error) {
	creds := a.Credentials(account)
	if _, err := creds.Retrieve(ctx); err != nil {
		if fault.IsCode(err, "AccessDenied", "AccessDeniedException") {
			return aws.Config{}, fault.As(fault.Permanent, &DeniedError{Role: a.RoleARN(account), Err: err})
		}
		return aws.Config{}, fault.As(fault.ClassOf(err), fmt.Errorf("assume %s: %w", a.RoleARN(account), err))
	}
	cfg := a.Base.Copy()
	cfg.Credentials = creds
	cfg.Region = region
	return cfg, nil
}
