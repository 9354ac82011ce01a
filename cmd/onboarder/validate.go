package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/crossaccount"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secretstore"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
)

// templateParams are the parameters the onboarding template must declare.
var templateParams = []string{
	stack.ParamAPIKey, stack.ParamServiceToken, stack.ParamCreateNew,
	stack.ParamBucket, stack.ParamQSS3Bucket, stack.ParamQSS3KeyPrefix,
}

func (a *app) validateCmd() *cobra.Command {
	var account, stackSet string
	cmd := &cobra.Command{
		Use:   "validate [--account ID]",
		Short: "Preflight: check everything a deployment needs, one line per check",
		Long: `validate checks, in order, and prints one line per check, OK or FAIL with the reason:
  configuration   the ONBOARDER_* environment is complete and valid
  aws             the management account's credentials work (STS GetCallerIdentity)
  secret          ONBOARDER_SECRET_ARN can be read and has cloudOneApiKey and visionOneServiceToken
  cloudone key    Cloud One accepts the API key; its region and the AWS region it maps to
                  (ONBOARDER_CLOUDONE_REGION, when set, wins and the line says so)
  template        ONBOARDER_TEMPLATE_URL is reachable (CloudFormation GetTemplateSummary in
                  the mapped region) and declares the six parameters of the contract
  organization    the organization's accounts can be listed; how many are in scope
  shape           where it runs: the management account, or a delegated administrator account
                  (docs/DEPLOY.md, section 13), where AWSControlTowerExecution cannot be used
  execution role  ONBOARDER_EXECUTION_ROLE_NAME can be assumed in --account (default: the
                  first in-scope account), and ONBOARDER_FALLBACK_ROLE_NAME when it is set
  guardrail       the guardrail SCP of deploy/guardrail.yaml is over every in-scope account
                  (a WARN, not a failure, when it is missing or partial)
  regions         the member StackSet (--member-stackset) has instances in the stacks' region
                  and in the home region of every forwarding trail the ledger knows
No secret value is ever printed.

Exit codes: 0 every check passed (warnings allowed), 1 a check failed, 2 usage error.`,
		Example: "  onboarder validate\n  onboarder validate --account 012345678901",
		Args:    cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if account != "" {
				if err := config.ValidateAccountID(account); err != nil {
					return usageErrorf("--account %q: must be a 12-digit AWS account id", account)
				}
			}
			return a.validate(cmd.Context(), account, stackSet)
		}),
	}
	cmd.Flags().StringVar(&account, "account", "", "account `ID` in which to assume the execution role")
	cmd.Flags().StringVar(&stackSet, "member-stackset", "cloudone-onboarder-member", "`NAME` of the member StackSet of deploy/member.yaml")
	return cmd
}

// checks prints check lines and counts failures.
type checks struct {
	a      *app
	total  int
	failed int
	warned int
}

func (c *checks) ok(name, format string, args ...any) {
	c.total++
	fmt.Fprintf(c.a.stdout, "OK    %-15s %s\n", name, fmt.Sprintf(format, args...))
}

func (c *checks) warn(name, format string, args ...any) {
	c.total++
	c.warned++
	fmt.Fprintf(c.a.stdout, "WARN  %-15s %s\n", name, fmt.Sprintf(format, args...))
}

func (c *checks) fail(name string, err error) {
	c.total++
	c.failed++
	fmt.Fprintf(c.a.stdout, "FAIL  %-15s %s\n", name, oneLine(err))
}

var errNotChecked = errors.New("not checked")

func notChecked(why string) error { return fmt.Errorf("%w: %s", errNotChecked, why) }

func (a *app) validate(ctx context.Context, account, stackSet string) error {
	c := &checks{a: a}

	// configuration
	cfg, err := a.checkedConfig(true)
	if err != nil {
		c.fail("configuration", err)
	} else {
		c.ok("configuration", "stack %s, template %s, trail mode %s, execution role %s, scope: %s",
			cfg.StackName, cfg.TemplateURL, cfg.TrailMode, cfg.ExecutionRoleName, scopeText(cfg))
	}

	// aws
	awsCfg, awsErr := a.aws(ctx)
	var self string // the account the command runs in
	if awsErr == nil {
		id, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			awsErr = fmt.Errorf("STS GetCallerIdentity: %w", err)
		} else {
			self = aws.ToString(id.Account)
			c.ok("aws", "account %s as %s, region %s", aws.ToString(id.Account), aws.ToString(id.Arn), awsCfg.Region)
		}
	}
	if awsErr != nil {
		c.fail("aws", awsErr)
		awsErr = notChecked("no working AWS configuration")
	}

	// secret
	var creds secret.Credentials
	secretErr := awsErr
	switch {
	case secretErr != nil:
	case cfg.SecretARN == "":
		secretErr = notChecked("ONBOARDER_SECRET_ARN is not set")
	default:
		store := &secretstore.Store{API: secretsmanager.NewFromConfig(awsCfg), ARN: cfg.SecretARN, TTL: cfg.SecretCacheTTL}
		creds, secretErr = store.Get(ctx)
	}
	if secretErr != nil {
		c.fail("secret", scrubErr(secretErr, creds))
	} else {
		c.ok("secret", "%s: cloudOneApiKey and visionOneServiceToken present (version %s)", cfg.SecretARN, creds.VersionID)
	}

	// cloudone key and region
	region := ""
	if cfg.CloudOneRegion != "" {
		region, _ = cloudone.AWSRegion(cfg.CloudOneRegion)
	}
	if secretErr != nil {
		c.fail("cloudone key", notChecked("the secret could not be read"))
	} else {
		key, err := (&cloudone.Client{BaseURL: cfg.AccountsURL}).Describe(ctx, creds.APIKey)
		if err != nil {
			c.fail("cloudone key", scrubErr(err, creds))
		} else {
			keyRegion, _ := cloudone.AWSRegion(key.Region) // Describe checked it maps
			msg := fmt.Sprintf("key %s accepted by %s (Cloud One account %s): region %s, AWS region %s", key.ID, cfg.AccountsURL, key.AccountID, key.Region, keyRegion)
			switch {
			case cfg.CloudOneRegion == "":
				region = keyRegion
				msg += "; stacks go to " + keyRegion
			case cfg.CloudOneRegion == key.Region:
				msg += "; ONBOARDER_CLOUDONE_REGION=" + cfg.CloudOneRegion + " agrees"
			default:
				msg += fmt.Sprintf("; ONBOARDER_CLOUDONE_REGION=%s is set and wins: stacks go to %s (it differs from the key's region)", cfg.CloudOneRegion, region)
			}
			c.ok("cloudone key", "%s", msg)
		}
	}

	// template
	switch {
	case awsErr != nil:
		c.fail("template", awsErr)
	case region == "":
		c.fail("template", notChecked("no AWS region for the stacks (the Cloud One region is unknown)"))
	default:
		if missing, err := checkTemplate(ctx, awsCfg, region, cfg.TemplateURL); err != nil {
			c.fail("template", fmt.Errorf("%s in %s: GetTemplateSummary: %w", cfg.TemplateURL, region, err))
		} else if len(missing) > 0 {
			c.fail("template", fmt.Errorf("%s does not declare %s (the onboarding template must declare %s)", cfg.TemplateURL, strings.Join(missing, ", "), strings.Join(templateParams, ", ")))
		} else {
			c.ok("template", "%s reachable in %s, declares the six parameters", cfg.TemplateURL, region)
		}
	}

	// organization
	var first string
	var in []target
	var sc *scope
	orgErr := awsErr
	if awsErr != nil {
		c.fail("organization", awsErr)
	} else {
		sc = newScope(organizations.NewFromConfig(awsCfg), cfg)
		var out []outOfScope
		in, out, orgErr = sc.accounts(ctx, nil, true)
		if err := orgErr; err != nil {
			c.fail("organization", err)
			orgErr = notChecked("the organization could not be listed")
		} else {
			mgmt, _ := sc.ManagementAccount(ctx) // cached by accounts
			c.ok("organization", "management account %s, %d accounts, %d in scope", mgmt, len(in)+len(out), len(in))
			if len(in) > 0 {
				first = in[0].ID
			}
		}
	}

	// shape
	delegated := false
	if orgErr != nil {
		c.fail("shape", orgErr)
	} else if mgmt, _ := sc.ManagementAccount(ctx); mgmt == self {
		c.ok("shape", "installed in the management account %s, where SCPs do not apply (docs/DEPLOY.md, section 13: a delegated administrator install)", self)
	} else {
		delegated = true
		var bad []string
		for _, r := range []struct{ field, name string }{{"ONBOARDER_EXECUTION_ROLE_NAME", cfg.ExecutionRoleName}, {"ONBOARDER_FALLBACK_ROLE_NAME", cfg.FallbackRoleName}} {
			if r.name == config.DefaultExecutionRoleName {
				bad = append(bad, r.field+"="+r.name)
			}
		}
		if len(bad) > 0 {
			c.fail("shape", fmt.Errorf("a delegated administrator install in %s (management account %s): %s trusts only the management account; use the execution role of deploy/member.yaml deployed with InstallAccountId=%s",
				self, mgmt, strings.Join(bad, ", "), self))
		} else {
			c.ok("shape", "a delegated administrator install in %s (management account %s): the Organization's delegation answers its reads", self, mgmt)
		}
	}

	// execution role
	chosen := account
	if chosen == "" {
		chosen = first
	}
	switch {
	case awsErr != nil:
		c.fail("execution role", awsErr)
	case chosen == "":
		c.fail("execution role", notChecked("no account to try: pass --account ID"))
	case region == "":
		c.fail("execution role", notChecked("no AWS region for the stacks (the Cloud One region is unknown)"))
	default:
		as := &crossaccount.Assumer{Base: awsCfg, RoleARN: func(acc string) string { return cfg.ExecutionRoleARN("aws", acc) }, SessionName: cfg.SessionName}
		mcfg, err := as.Config(ctx, chosen, region)
		if err != nil {
			c.fail("execution role", err)
			break
		}
		id, err := sts.NewFromConfig(mcfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		switch {
		case err != nil:
			c.fail("execution role", fmt.Errorf("assumed %s, but GetCallerIdentity failed: %w", cfg.ExecutionRoleARN("aws", chosen), err))
		case aws.ToString(id.Account) != chosen:
			c.fail("execution role", fmt.Errorf("assumed %s, but the credentials belong to account %s", cfg.ExecutionRoleARN("aws", chosen), aws.ToString(id.Account)))
		default:
			c.ok("execution role", "%s assumed in %s (%s)", cfg.ExecutionRoleARN("aws", chosen), chosen, region)
		}
		if cfg.FallbackRoleName != "" {
			fs := &crossaccount.Assumer{Base: awsCfg, RoleARN: func(acc string) string { return cfg.FallbackRoleARN("aws", acc) }, SessionName: cfg.SessionName}
			if _, err := fs.Config(ctx, chosen, region); err != nil {
				c.fail("fallback role", err)
			} else {
				c.ok("fallback role", "%s assumed in %s", cfg.FallbackRoleARN("aws", chosen), chosen)
			}
		}
	}

	// guardrail
	if orgErr != nil {
		c.fail("guardrail", orgErr)
	} else if ok, warn, err := checkGuardrail(ctx, organizations.NewFromConfig(awsCfg), sc, cfg, in); err != nil {
		c.fail("guardrail", err)
	} else if warn != "" {
		c.warn("guardrail", "%s", warn)
	} else {
		c.ok("guardrail", "%s", ok)
	}

	// regions
	switch {
	case awsErr != nil:
		c.fail("regions", awsErr)
	case region == "":
		c.fail("regions", notChecked("no AWS region for the stacks (the Cloud One region is unknown)"))
	default:
		var entries map[string]ledger.Entry
		var err error
		if cfg.LedgerTable != "" {
			entries, err = (&ledger.Table{DB: dynamodb.NewFromConfig(awsCfg), Name: cfg.LedgerTable}).All(ctx)
		}
		if err != nil {
			c.fail("regions", fmt.Errorf("read the ledger %s: %w", cfg.LedgerTable, err))
			break
		}
		if msg, err := checkRegions(ctx, cloudformation.NewFromConfig(awsCfg), stackSet, region, entries, delegated); err != nil {
			c.fail("regions", err)
		} else {
			c.ok("regions", "%s", msg)
		}
	}

	if c.failed > 0 {
		fmt.Fprintf(a.stdout, "%d of %d checks failed\n", c.failed, c.total)
		return exitWith(exitFailure)
	}
	if c.warned > 0 {
		fmt.Fprintf(a.stdout, "all %d checks passed, %d with a warning\n", c.total, c.warned)
		return nil
	}
	fmt.Fprintf(a.stdout, "all %d checks passed\n", c.total)
	return nil
}

func scopeText(cfg config.Config) string {
	var parts []string
	if len(cfg.IncludeOUs) == 0 {
		parts = append(parts, "all OUs")
	} else {
		parts = append(parts, "OUs "+strings.Join(cfg.IncludeOUs, ","))
	}
	if len(cfg.ExcludeAccounts) > 0 {
		parts = append(parts, "excluding "+strings.Join(cfg.ExcludeAccounts, ","))
	}
	return strings.Join(parts, ", ")
}

// checkTemplate asks CloudFormation for the template's summary and returns the contract's
// parameters it does not declare.
func checkTemplate(ctx context.Context, awsCfg aws.Config, region, url string) ([]string, error) {
	cfn := cloudformation.NewFromConfig(awsCfg, func(o *cloudformation.Options) { o.Region = region })
	out, err := cfn.GetTemplateSummary(ctx, &cloudformation.GetTemplateSummaryInput{TemplateURL: aws.String(url)})
	if err != nil {
		return nil, err
	}
	declared := map[string]bool{}
	for _, p := range out.Parameters {
		declared[aws.ToString(p.ParameterKey)] = true
	}
	var missing []string
	for _, p := range templateParams {
		if !declared[p] {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// scrubErr removes the secret values from an error's text, whatever produced it, in every form
// (secret.Credentials.Scrub: the worker's scrubber).
func scrubErr(err error, creds secret.Credentials) error {
	msg := err.Error()
	if clean := creds.Scrub(msg); clean != msg {
		return errors.New(clean)
	}
	return err
}
