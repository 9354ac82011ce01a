package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/cloudone"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/operator"
)

func (a *app) validateCmd() *cobra.Command {
	var account, stackSet string
	cmd := &cobra.Command{
		Use:   "validate [--account ID] [--member-stackset NAME]",
		Short: "Preflight: check everything a deployment needs, one line per check",
		Long: `validate checks, in order, and prints one line per check, OK, WARN or FAIL with the reason:
  configuration   ONBOARDER_RECONCILE_FUNCTION answers, and its configuration (the central
                  stack's parameters) is complete and valid
  aws             your credentials work (STS GetCallerIdentity)
  organization    the organization's accounts can be listed; how many are in scope
  shape           where it runs: the management account, or a delegated administrator account
                  (docs/DEPLOY.md, section 13), where AWSControlTowerExecution cannot be used
  secret          the reconcile function reads ONBOARDER_SECRET_ARN, with cloudOneApiKey and
                  visionOneServiceToken (the Vision One target: visionOneApiKey); you never
                  read it
  cloudone key    Cloud One accepts the API key; its region and the AWS region it maps to
                  (ONBOARDER_CLOUDONE_REGION, when set, wins and the line says so); not
                  applicable to the Vision One target
  execution role  the reconcile function assumes ONBOARDER_EXECUTION_ROLE_NAME in --account
                  (default: the first in-scope account), and ONBOARDER_FALLBACK_ROLE_NAME
                  when it is set
  template        the reconcile function reads ONBOARDER_TEMPLATE_URL there, with the execution
                  role (CloudFormation GetTemplateSummary in the stacks' region), and it takes
                  the parameters the onboarder sends: it declares each, and requires no other.
                  For the Vision One target, whose templates Vision One generates: the template
                  kept for the version in force, when it was generated, its bucket and Vision
                  One's OIDC provider (the member StackSet's VisionOneTemplateBucket and
                  VisionOneOidcProvider); none is generated for the check
  trail           a trail logs the management account's management events in us-east-1:
                  Organizations' CloseAccount, RemoveAccountFromOrganization and MoveAccount
                  reach EventBridge only through it
  guardrail       the guardrail SCP of deploy/guardrail.yaml is over every in-scope account
                  (a WARN, not a failure, when it is missing or partial)
  regions         the member StackSet (--member-stackset) has instances in the stacks' region
                  and in the home region of every forwarding trail the ledger knows
The secret, the key and the member roles are checked by the reconcile function (a
synchronous invocation that reads only), the rest with your credentials. No secret value is
ever printed.

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
	cmd.Flags().StringVar(&account, "account", "", "account `ID` in which the reconcile function assumes the execution role and reads the template")
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

	// configuration: the reconcile function answers with a valid configuration.
	var cfg config.Config
	fn, cfgErr := a.function()
	awsCfg, awsErr := a.aws(ctx)
	var e *env
	if awsErr == nil {
		if r := functionRegion(fn); r != "" {
			awsCfg.Region = r
		}
		e = &env{awsCfg: awsCfg, c: a.newClients(awsCfg), worker: &workerClient{Function: fn, Parallel: 1}}
		e.worker.API = e.c.Lambda
		if a.verbose {
			e.worker.Verbose = a.stderr
		}
	}
	switch {
	case cfgErr != nil:
	case awsErr != nil:
		cfgErr = notChecked("no working AWS configuration to ask the reconcile function with")
	default:
		cfg, cfgErr = e.workerConfig(ctx)
	}
	if cfgErr != nil {
		c.fail("configuration", cfgErr)
		cfgErr = notChecked("the reconcile function's configuration is not known")
	} else {
		c.ok("configuration", "reconcile function %s: stack %s, template %s, trail mode %s, execution role %s, scope: %s",
			e.worker.Function, cfg.StackName, cfg.TemplateURL, cfg.TrailMode, cfg.ExecutionRoleName, scopeText(cfg))
	}

	// aws
	var self string // the account the command runs in
	if awsErr != nil {
		c.fail("aws", awsErr)
		awsErr = notChecked("no working AWS configuration")
	} else if id, err := e.c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		c.fail("aws", fmt.Errorf("STS GetCallerIdentity: %w", err))
		awsErr = notChecked("no working AWS configuration")
	} else {
		self = aws.ToString(id.Account)
		c.ok("aws", "account %s as %s, region %s", self, aws.ToString(id.Arn), e.awsCfg.Region)
	}
	bothErr := awsErr // what the checks with your credentials and the function's settings need
	if bothErr == nil {
		bothErr = cfgErr
	}

	// organization
	var first string
	var in []target
	var sc *scope
	var mgmt string
	orgErr := bothErr
	if orgErr != nil {
		c.fail("organization", orgErr)
	} else {
		sc = newScope(e.c.Organizations, cfg)
		var out []outOfScope
		in, out, orgErr = sc.accounts(ctx, nil, true)
		if err := orgErr; err != nil {
			c.fail("organization", err)
			orgErr = notChecked("the organization could not be listed")
		} else {
			mgmt, _ = sc.ManagementAccount(ctx) // cached by accounts
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
	} else if mgmt == self {
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

	// secret, cloudone key, execution role, fallback role, template: the reconcile function's.
	chosen := account
	if chosen == "" {
		chosen = first
	}
	region := ""
	if cfg.CloudOneRegion != "" {
		region, _ = cloudone.AWSRegion(cfg.CloudOneRegion)
	}
	if cfgErr != nil {
		for _, name := range []string{operator.CheckSecret, operator.CheckCloudOne, operator.CheckRole, operator.CheckTemplate} {
			c.fail(name, cfgErr)
		}
	} else {
		var accounts []string
		if chosen != "" {
			accounts = []string{chosen}
		}
		results, err := e.worker.check(ctx, operator.Request{Accounts: accounts})
		if err != nil {
			for _, name := range []string{operator.CheckSecret, operator.CheckCloudOne, operator.CheckRole, operator.CheckTemplate} {
				c.fail(name, err)
			}
		}
		for _, r := range results {
			switch {
			case r.OK:
				c.ok(r.Name, "%s", r.Detail)
			default:
				c.fail(r.Name, errors.New(r.Detail))
			}
			if r.Name == operator.CheckCloudOne && r.Region != "" {
				region = r.Region
			}
		}
	}

	// trail
	if orgErr != nil {
		c.fail("trail", orgErr)
	} else if ok, warn, err := checkTrail(ctx, e.c.CloudTrail, mgmt, self); err != nil {
		c.fail("trail", err)
	} else if warn != "" {
		c.warn("trail", "%s", warn)
	} else {
		c.ok("trail", "%s", ok)
	}

	// guardrail
	if orgErr != nil {
		c.fail("guardrail", orgErr)
	} else if ok, warn, err := checkGuardrail(ctx, e.c.Organizations, sc, cfg, in); err != nil {
		c.fail("guardrail", err)
	} else if warn != "" {
		c.warn("guardrail", "%s", warn)
	} else {
		c.ok("guardrail", "%s", ok)
	}

	// regions
	switch {
	case bothErr != nil:
		c.fail("regions", bothErr)
	case region == "":
		c.fail("regions", notChecked("no AWS region for the stacks (the Cloud One region is unknown)"))
	default:
		var entries map[string]ledger.Entry
		var err error
		if l := e.ledger(); l != nil {
			entries, err = l.All(ctx)
		}
		if err != nil {
			c.fail("regions", fmt.Errorf("read the ledger %s: %w", cfg.LedgerTable, err))
			break
		}
		if msg, err := checkRegions(ctx, e.c.StackSets, stackSet, region, entries, delegated); err != nil {
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
