package localworld

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/iampolicy"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
)

// Names of the member roles of deploy/member.yaml (its defaults), which the local
// environment's Lambdas use, as the recommended install does.
const (
	MemberExecutionRole = "CloudOneOnboarderExecution"
	MemberCFNRole       = "CloudOneOnboarderCloudFormation"
)

// roleCreds are a function's credentials: its role's, as Lambda hands them out.
type roleCreds struct{ key, secret, token string }

// setupIAM makes the local world's IAM like AWS's: the functions' roles of
// deploy/template.yaml are created in moto's management account, each Lambda runs with
// credentials of its own role, and the IAM gate of the fault proxy knows every role (the
// functions', and in each member account the execution and CloudFormation roles of
// deploy/member.yaml and AWSControlTowerExecution) so that any call a role does not allow is
// refused as on AWS.
func (e *Env) setupIAM(ctx context.Context) error {
	g := e.Opts.Faults
	cfg := e.central
	orgs := organizations.NewFromConfig(e.Moto.Config(ctx, e.Region))
	org, err := orgs.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		return fmt.Errorf("describe organization (seed it before Setup): %w", err)
	}
	e.OrgID = aws.ToString(org.Organization.Id)
	g.ForgetIAM()
	g.ResetDenials()
	dir := filepath.Dir(e.Opts.RulesFile)
	settings := proxy.IAMSettings{OrgID: e.OrgID, Management: ManagementAccount, PartitionKeys: map[string]string{LedgerTable: "account"}}
	if e.Install != ManagementAccount {
		// The Organization's delegation policy, as the forwarder stack creates it.
		doc, _, err := ResourcePolicy(filepath.Join(dir, "forwarder.yaml"), "OrganizationsDelegation", "Content", iampolicy.Resource, TemplateValues{Region: OrganizationsRegion, Account: ManagementAccount,
			Params: map[string]string{"InstallAccountId": e.Install, "OnboarderBusArn": e.BusARN}})
		if err != nil {
			return err
		}
		settings.Delegation = &doc
	}
	g.EnforceIAM(settings)

	roles, err := ReadRoles(e.Opts.RulesFile, e.templateValues())
	if err != nil {
		return err
	}
	ic := iam.NewFromConfig(cfg)
	stsc := sts.NewFromConfig(cfg)
	e.creds = map[string]roleCreds{}
	for _, r := range roles {
		if len(r.Functions) == 0 {
			continue
		}
		name := "onboarder-" + r.LogicalID
		arn := r.ARN(e.Install, name)
		if err := createRole(ctx, ic, r, name); err != nil {
			return err
		}
		if err := addRole(g, r, arn, strings.Join(r.Functions, ",")); err != nil {
			return err
		}
		for _, fn := range r.Functions {
			out, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(arn), RoleSessionName: aws.String(fn), DurationSeconds: aws.Int32(43200)})
			if err != nil {
				return fmt.Errorf("credentials of %s for %s: %w", arn, fn, err)
			}
			c := out.Credentials
			e.creds[fn] = roleCreds{aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)}
			g.AddCredentials(aws.ToString(c.AccessKeyId), arn, fn)
			if e.Recorder != nil {
				e.Recorder.AddCredentials(aws.ToString(c.AccessKeyId), e.Install)
			}
		}
	}

	// The member roles, from deploy/member.yaml, resolved once with a placeholder account.
	const placeholder = "000000000000"
	memberParams := map[string]string{
		"CentralEventBusArn": e.BusARN, "ManagementAccountId": ManagementAccount, "InstallAccountId": e.installParam(), "OrganizationId": e.OrgID,
		"PrimaryRegion": "us-east-1", "CreateExecutionRole": "true", "OnboardingStackName": "CloudOne",
		"OnboardingTemplateBucket": TemplateBucket, "Target": e.target(),
	}
	if v := e.Opts.VisionOne; v != nil {
		// The Vision One target's settings, as DEPLOY.md has the operator read them: the bucket of
		// the generated templates and the OIDC provider from one generated template, the trail
		// stack's bucket from the central stack's TrailTemplateUrl.
		memberParams["VisionOneStackName"], memberParams["TrailStackName"] = VisionOneStackName, TrailStackName
		memberParams["VisionOneTemplateBucket"], memberParams["VisionOneOidcProvider"] = v.TemplateBucket, v.OIDCProvider
		memberParams["TrailTemplateBucket"] = TemplateBucket
	}
	member, err := ReadRoles(filepath.Join(dir, "member.yaml"), TemplateValues{Region: "us-east-1", Account: placeholder, Params: memberParams})
	if err != nil {
		return err
	}
	var accounts []string
	p := organizations.NewListAccountsPaginator(orgs, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list accounts: %w", err)
		}
		for _, a := range page.Accounts {
			if id := aws.ToString(a.Id); id != ManagementAccount {
				accounts = append(accounts, id)
			}
		}
	}
	sort.Strings(accounts)
	inMoto := len(accounts) <= 50 // a large (benchmark) Organization: the gate alone knows them
	for _, acct := range accounts {
		for _, r := range member {
			rr := *r
			rr.Trust = strings.ReplaceAll(r.Trust, placeholder, acct)
			rr.Policies = map[string]string{}
			for k, v := range r.Policies {
				rr.Policies[k] = strings.ReplaceAll(v, placeholder, acct)
			}
			if err := addRole(g, &rr, rr.ARN(acct, rr.LogicalID), rr.Name+" in "+acct); err != nil {
				return err
			}
			if inMoto && (rr.LogicalID == "ExecutionRole" || rr.LogicalID == "CloudFormationRole" || rr.LogicalID == "VisionOneCloudFormationRole") {
				mc, err := e.Moto.AccountConfig(ctx, acct, "us-east-1", ExecutionRole)
				if err != nil {
					return err
				}
				if err := createRole(ctx, iam.NewFromConfig(mc), &rr, rr.Name); err != nil {
					return err
				}
			}
		}
		// Control Tower's role: AdministratorAccess, trusting the management account.
		trust := iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+ManagementAccount+`:root"},"Action":"sts:AssumeRole"}]}`, iampolicy.Trust)
		g.AddRole(proxy.Role{ARN: "arn:aws:iam::" + acct + ":role/" + ExecutionRole, Label: ExecutionRole + " in " + acct, Trust: &trust,
			Policies: []iampolicy.Document{iampolicy.MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, iampolicy.Identity)}})
	}
	return e.setupOperator(ctx, g)
}

// centralAttrs are the !GetAtt values of deploy/template.yaml's resources in the local world.
func (e *Env) centralAttrs() map[string]string {
	r, a := e.Region, e.Install
	return map[string]string{
		"ReconcileQueue.Arn":           "arn:aws:sqs:" + r + ":" + a + ":" + QueueName,
		"ReconcileDeadLetterQueue.Arn": "arn:aws:sqs:" + r + ":" + a + ":" + DLQName,
		"IntakeDeadLetterQueue.Arn":    "arn:aws:sqs:" + r + ":" + a + ":" + IntakeQueuePrefix + "dlq",
		"LedgerTable.Arn":              "arn:aws:dynamodb:" + r + ":" + a + ":table/" + LedgerTable,
		"OnboarderBus.Arn":             e.BusARN,
		"AccountVendingLogGroup.Arn":   "arn:aws:logs:" + r + ":" + a + ":log-group:/cloudone-onboarder/onboarder/accountvending:*",
		"TrailGuardLogGroup.Arn":       "arn:aws:logs:" + r + ":" + a + ":log-group:/cloudone-onboarder/onboarder/trailguard:*",
		"SweepLogGroup.Arn":            "arn:aws:logs:" + r + ":" + a + ":log-group:/cloudone-onboarder/onboarder/sweep:*",
		"ReconcileLogGroup.Arn":        "arn:aws:logs:" + r + ":" + a + ":log-group:/cloudone-onboarder/onboarder/reconcile:*",
		"SweepFunction.Arn":            "arn:aws:lambda:" + r + ":" + a + ":function:onboarder-sweep",
		"ReconcileFunction.Arn":        "arn:aws:lambda:" + r + ":" + a + ":function:" + ReconcileFunction,
		"DefaultBusArchive.Arn":        "arn:aws:events:" + r + ":" + a + ":archive/" + BusName + "-default",
		"OnboarderBusArchive.Arn":      "arn:aws:events:" + r + ":" + a + ":archive/" + BusName + "-own",
	}
}

// target is the central stack's and member.yaml's Target.
func (e *Env) target() string {
	if e.Opts.VisionOne != nil {
		return "visionone"
	}
	return "cloudone"
}

// installParam is member.yaml's InstallAccountId: empty for the management account.
func (e *Env) installParam() string {
	if e.Install == ManagementAccount {
		return ""
	}
	return e.Install
}

func (e *Env) executionRole() string {
	if v := e.Opts.Env["ONBOARDER_EXECUTION_ROLE_NAME"]; v != "" {
		return v
	}
	return MemberExecutionRole
}

func (e *Env) cfnRole() string {
	if v, ok := e.Opts.Env["ONBOARDER_CLOUDFORMATION_ROLE_NAME"]; ok {
		return v
	}
	return MemberCFNRole
}

// addRole registers a template role with the gate; the policies must parse by IAM's grammar.
func addRole(g *proxy.Proxy, r *TemplateRole, arn, label string) error {
	trust, err := iampolicy.Parse([]byte(r.Trust), iampolicy.Trust)
	if err != nil {
		return fmt.Errorf("trust policy of %s: %w", r.LogicalID, err)
	}
	role := proxy.Role{ARN: arn, Label: label, Trust: &trust}
	names := make([]string, 0, len(r.Policies))
	for n := range r.Policies {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d, err := iampolicy.Parse([]byte(r.Policies[n]), iampolicy.Identity)
		if err != nil {
			return fmt.Errorf("policy %s of %s: %w", n, r.LogicalID, err)
		}
		role.Policies = append(role.Policies, d)
	}
	g.AddRole(role)
	return nil
}

func createRole(ctx context.Context, ic *iam.Client, r *TemplateRole, name string) error {
	if _, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), Path: aws.String(r.Path),
		AssumeRolePolicyDocument: aws.String(r.Trust)}); err != nil {
		return fmt.Errorf("create role %s: %w", name, err)
	}
	for pn, doc := range r.Policies {
		if _, err := ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(pn),
			PolicyDocument: aws.String(doc)}); err != nil {
			return fmt.Errorf("put policy %s of role %s: %w", pn, name, err)
		}
	}
	return nil
}
