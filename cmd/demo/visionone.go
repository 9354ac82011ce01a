package main

// The Vision One target's story (-target visionone): the same pipeline, configured as
// deploy/template.yaml configures it with Target=visionone, against the Vision One stand-in
// (integration/localworld/trend/visionone.go): it generates the templates (kept in moto's S3),
// hears of every stack the CloudFormation layer completes (as Trend's template registers the
// account from within the stack), and can be told to report an account failed.

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
)

// The Vision One demo's API key for the onboarder (made up, never printed).
var v1Key = "demo-v1-api-key-51c9e3a7d0"

const (
	v1Stack    = localworld.VisionOneStackName // deploy/template.yaml's default VisionOneStackName
	trailStack = localworld.TrailStackName     // its default TrailStackName
	// ownTrail is the trail the trail stack makes (deploy/visionone-trail.yaml's TrailName).
	ownTrail   = "cloudone-onboarder-visionone"
	ouStaging  = "Staging" // outside ONBOARDER_INCLUDE_OUS: where new accounts wait
	acShop     = "shop"    // vended into Staging; moved into Workloads in step 5
	trailV1    = "audit"   // the trail payments' and identity's administrators made
	trailWeb   = "web-audit"
	topicV1    = "audit-deliveries" // the SNS topic their trails notify
	agedDays   = 75                 // step 5: how far the clocks move
	maxAgeDays = 60                 // ONBOARDER_VISIONONE_TEMPLATE_MAX_AGE, the central stack's default (1440h)
	// identity's failure, as the stand-in reports it: the features' missing AWS permissions
	// are the only words of Vision One's about a failure the sources show.
	missingPerm1 = "sns:Subscribe"
	missingPerm2 = "s3:GetObject"
)

// seedV1 makes the Organization of the Vision One story, the trails its administrators made,
// the central resources for Target=visionone, the archives, and starts the Lambdas.
func (d *demo) seedV1() error {
	ctx, m := d.ctx, d.h.Moto
	org, err := m.SeedOrganization(ctx, homeRegion,
		localworld.OU{Name: ouWorkloads, Accounts: []string{acPayments, acIdentity, acWeb}},
		localworld.OU{Name: ouSandbox, Accounts: []string{acSandboxA, acSandboxB}},
		localworld.OU{Name: ouStaging, Accounts: []string{acShop}},
	)
	if err != nil {
		return err
	}
	d.org = org
	d.trails = map[string]string{}
	// payments and identity: a trail Vision One can use (in the stack region, logging, log file
	// validation, notifying a topic of the account there); web: one without a topic.
	for _, t := range []localworld.Trail{
		{Account: org.Account(acPayments).ID, Name: trailV1, Bucket: "payments-audit-" + org.Account(acPayments).ID, Topic: topicV1},
		{Account: org.Account(acIdentity).ID, Name: trailV1, Bucket: "identity-audit-" + org.Account(acIdentity).ID, Topic: topicV1},
		{Account: org.Account(acWeb).ID, Name: trailWeb, Bucket: "web-audit-" + org.Account(acWeb).ID},
	} {
		t.HomeRegion, t.Logging, t.LogFileValidation = stackRegion, true, true
		arn, err := m.SeedTrail(ctx, t)
		if err != nil {
			return err
		}
		d.trails[d.tlName(t.Account)] = arn
	}

	opts := d.h.Options(homeRegion, localworld.SecretValue{VisionOneAPIKey: v1Key})
	opts.VisionOne = d.h.VisionOneTarget(stackRegion)
	opts.Env = map[string]string{
		"ONBOARDER_INCLUDE_OUS":      org.OUs[ouWorkloads] + "," + org.OUs[ouSandbox],
		"ONBOARDER_EXCLUDE_ACCOUNTS": org.Account(acSandboxA).ID,
	}
	env, err := localworld.Setup(ctx, m, d.h.Recorder, opts)
	if err != nil {
		return fmt.Errorf("set up the central resources and the Lambdas: %w", err)
	}
	d.env = env
	d.tl = newTimeline(env, org)
	// The onboarder bus's archive keeps Organizations' calls too: the forwarder brings MoveAccount
	// there from us-east-1.
	return d.archives(`{"source":["aws.cloudtrail","aws.cloudformation","aws.organizations","onboarder.manual"],"detail-type":["AWS API Call via CloudTrail","Reconcile Request"]}`)
}

// tlName is the name of a seeded account.
func (d *demo) tlName(id string) string {
	for _, a := range d.org.Accounts {
		if a.ID == id {
			return a.Name
		}
	}
	return id
}

func (d *demo) printOrgV1() {
	notes := map[string]string{
		acPayments: "trail " + trailV1 + " (home " + stackRegion + "): logging, log file validation, notifies the topic " + topicV1,
		acIdentity: "trail " + trailV1 + " (home " + stackRegion + "): logging, log file validation, notifies the topic " + topicV1,
		acWeb:      "trail " + trailWeb + " (home " + stackRegion + "): logging, log file validation, no SNS topic",
		acSandboxA: "excluded: ONBOARDER_EXCLUDE_ACCOUNTS",
		acSandboxB: "nothing yet",
		acShop:     "new, in " + ouStaging + ": outside ONBOARDER_INCLUDE_OUS (" + ouWorkloads + ", " + ouSandbox + ")",
	}
	fmt.Fprintf(d.out, "\nOrganization (management account %s, Control Tower home %s; Vision One stacks and trails in %s)\n",
		localworld.ManagementAccount, homeRegion, stackRegion)
	timing, _ := d.h.Faults.StackTimingNow()
	fmt.Fprintf(d.out, "The local AWS behaves like AWS where it matters: each Lambda runs with its own role of deploy/template.yaml behind an\n"+
		"IAM gate (member accounts: the roles of deploy/member.yaml with Target=visionone), and every stack operation runs for %s\n"+
		"before it settles. The Vision One stand-in generates each template (its key lasts 90 days) and marks an account managed\n"+
		"when a stack from one of its templates completes, as the template's own registration does.\n", timing.Create)
	for _, a := range d.org.Accounts {
		fmt.Fprintf(d.out, "   %s  %-10s %-10s %s\n", a.ID, a.Name, a.OUName, notes[a.Name])
	}
}

// visionOneStory is the Vision One target's story.
func (d *demo) visionOneStory(archiveStart time.Time) []storyStep {
	return []storyStep{
		{"Account vending: Control Tower reports each account as a new managed account",
			"CreateManagedAccount SUCCEEDED on the default bus, one per account", d.accountVending},
		{"A person turns off SNS delivery on the trail " + trailV1 + " in " + acPayments + ", which the Vision One stack names",
			"UpdateTrail with an empty SnsTopicName through the SDK, then its CloudTrail event on the onboarder bus", d.removeTopic},
		{"A person deletes the Vision One stack in " + acSandboxB,
			"DeleteStack through the SDK as the account's administrator, then its CloudTrail event on the onboarder bus", d.deleteV1Stack},
		{"Vision One reports " + acIdentity + " failed; the next pass over every account reads it",
			"the stand-in's FailAccount (missing " + missingPerm1 + ", " + missingPerm2 + "), then a manual request for every account", d.failAccount},
		{fmt.Sprintf("%d days later the kept template is past its maximum age (%d days): every account is looked at, then %s moves into %s",
			agedDays, maxAgeDays, acShop, ouWorkloads),
			fmt.Sprintf("the stand-in's clock moves %d days on, the ledger's record of the template %d days back; a manual request for every account, then MoveAccount", agedDays, agedDays),
			d.ageTemplate},
		{"Replay of the archives: the same events once more; nothing may change",
			"StartReplay of both archives to their buses, until COMPLETED", func() error { return d.replay(archiveStart) }},
	}
}

// removeTopic turns off the SNS notification of payments' trail, as the CloudTrail console's
// "SNS notification delivery" switch does: UpdateTrail without a topic (CloudTrail User Guide,
// "Configuring Amazon SNS notifications for CloudTrail"; the API takes an empty SnsTopicName
// for it, moto 5.2.1 so, moto/cloudtrail/models.py Trail.update).
func (d *demo) removeTopic() error {
	a := d.org.Account(acPayments)
	ct, err := d.trailClient(a.ID, stackRegion)
	if err != nil {
		return err
	}
	if _, err := ct.UpdateTrail(d.ctx, &cloudtrail.UpdateTrailInput{Name: aws.String(trailV1), SnsTopicName: aws.String("")}); err != nil {
		return fmt.Errorf("update trail %s: %w", trailV1, err)
	}
	if _, err := d.env.Put(d.ctx, localworld.TrailCall(a.ID, stackRegion, "UpdateTrail", d.trails[acPayments])); err != nil {
		return err
	}
	return d.drain()
}

// adminCFN is CloudFormation as a member account's administrator (AWSControlTowerExecution)
// through the fault proxy: the CloudFormation layer deletes the stack as CloudFormation does
// (moto, called directly, would settle at once and leave the layer's view behind).
func (d *demo) adminCFN(account string) (*cloudformation.Client, error) {
	base := d.h.Moto.Config(d.ctx, stackRegion)
	base.BaseEndpoint, base.ConfigSources = aws.String(d.h.Faults.URL), nil
	out, err := sts.NewFromConfig(base).AssumeRole(d.ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + account + ":role/" + localworld.ExecutionRole), RoleSessionName: aws.String("alice")})
	if err != nil {
		return nil, fmt.Errorf("assume %s in %s: %w", localworld.ExecutionRole, account, err)
	}
	cfg, c := base.Copy(), out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return cloudformation.NewFromConfig(cfg), nil
}

func (d *demo) deleteV1Stack() error {
	a := d.org.Account(acSandboxB)
	cfn, err := d.adminCFN(a.ID)
	if err != nil {
		return err
	}
	if _, err := cfn.DeleteStack(d.ctx, &cloudformation.DeleteStackInput{StackName: aws.String(v1Stack)}); err != nil {
		return fmt.Errorf("delete stack %s in %s: %w", v1Stack, a.Name, err)
	}
	if _, err := d.env.Put(d.ctx, localworld.StackCall(a.ID, stackRegion, "DeleteStack", v1Stack)); err != nil {
		return err
	}
	return d.drain()
}

// everyAccount is a manual request for every account of the Organization.
func (d *demo) everyAccount() error {
	if _, err := d.env.Put(d.ctx, localworld.Manual()); err != nil {
		return err
	}
	return d.drain()
}

func (d *demo) failAccount() error {
	if err := d.h.VisionOne.FailAccount(d.org.Account(acIdentity).ID, missingPerm1, missingPerm2); err != nil {
		return err
	}
	return d.everyAccount()
}

// ageTemplate moves time on: the stand-in's clock (Vision One sees its templates age), and the
// onboarder's record of when it generated the template it keeps (the product reads its own
// clock against it; a Lambda's clock cannot be moved from outside). Then every account is
// looked at, and shop moves into Workloads.
func (d *demo) ageTemplate() error {
	days := agedDays * 24 * time.Hour
	d.h.VisionOne.SetClock(func() time.Time { return time.Now().Add(days) })
	n, err := d.backdateTemplates(days)
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%d generated templates kept in the ledger, want 1", n)
	}
	d.ageMark, d.generatedBefore = d.h.Recorder.Mark(), len(d.h.VisionOne.Generations())
	if err := d.everyAccount(); err != nil {
		return err
	}
	d.generatedInSync = len(d.h.VisionOne.Generations())
	shop := d.org.Account(acShop)
	orgs := organizations.NewFromConfig(d.h.Moto.Config(d.ctx, homeRegion))
	if _, err := orgs.MoveAccount(d.ctx, &organizations.MoveAccountInput{AccountId: aws.String(shop.ID),
		SourceParentId: aws.String(d.org.OUs[ouStaging]), DestinationParentId: aws.String(d.org.OUs[ouWorkloads])}); err != nil {
		return fmt.Errorf("move %s: %w", acShop, err)
	}
	if _, err := d.env.Put(d.ctx, localworld.MoveAccountCall(shop.ID, d.org.OUs[ouStaging], d.org.OUs[ouWorkloads])); err != nil {
		return err
	}
	return d.drain()
}

// backdateTemplates moves the ledger's record of when each kept template was generated back by
// by, and returns how many it moved.
func (d *demo) backdateTemplates(by time.Duration) (int, error) {
	db := dynamodb.NewFromConfig(d.env.Central())
	out, err := db.Scan(d.ctx, &dynamodb.ScanInput{TableName: aws.String(localworld.LedgerTable)})
	if err != nil {
		return 0, fmt.Errorf("scan the ledger: %w", err)
	}
	n := 0
	for _, it := range out.Items {
		k, _ := it["account"].(*ddbtypes.AttributeValueMemberS)
		g, _ := it["generated"].(*ddbtypes.AttributeValueMemberS)
		if k == nil || g == nil || !strings.HasPrefix(k.Value, ledger.TemplateKeyPrefix) {
			continue
		}
		at, err := time.Parse(time.RFC3339, g.Value)
		if err != nil {
			return 0, fmt.Errorf("ledger item %s: generated %q: %w", k.Value, g.Value, err)
		}
		it["generated"] = &ddbtypes.AttributeValueMemberS{Value: at.Add(-by).UTC().Format(time.RFC3339)}
		if _, err := db.PutItem(d.ctx, &dynamodb.PutItemInput{TableName: aws.String(localworld.LedgerTable), Item: it}); err != nil {
			return 0, fmt.Errorf("backdate %s: %w", k.Value, err)
		}
		n++
	}
	return n, nil
}
