package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/trend"
)

const (
	homeRegion  = "eu-west-1" // the Control Tower home region, where the onboarder runs
	stackRegion = "us-east-1" // Cloud One us-1 maps here
	stackName   = "CloudOne"
	replayName  = "demo-replay"
)

// The demo's credentials: made up, and never printed (the timeline masks them anyway).
var (
	c1Key = trend.Key{ID: "demokey0001", Secret: "demo-secret-3b9f2c71e4", Region: "us-1", Account: "700000000001"}
	v1Tok = "demo-v1-token-6d1a8e52"
	// The key the secret is rotated to in step 4.
	c1Key2 = trend.Key{ID: "demokey0002", Secret: "demo-secret-rotated-8a4e", Region: "us-1", Account: "700000000001"}
)

// The Organization: who is who, and what makes each account interesting.
const (
	acPayments  = "payments"  // an existing multi-region trail to its own bucket in us-east-1; later deleted
	acIdentity  = "identity"  // an existing trail to its own bucket; later stopped
	acAnalytics = "analytics" // a stack named CloudOne that is not ours
	acWeb       = "web"       // a trail whose bucket is in another region: not usable
	acSandboxA  = "sandbox-a" // excluded by ONBOARDER_EXCLUDE_ACCOUNTS
	acSandboxB  = "sandbox-b" // ordinary; its update fails after the key rotation
	ouWorkloads = "Workloads" //
	ouSandbox   = "Sandbox"   //
	trailOrg    = "org-audit" // payments' trail
	trailAudit  = "audit"     // identity's trail
	trailEU     = "eu-logs"   // web's trail
	foreignTag  = "platform-team"
	// sandbox-b's failed update, as Trend's stack reports a custom resource refused by Cloud One.
	failedID     = "WorkloadSecurityConnector"
	failedType   = "Custom::WorkloadSecurityConnector"
	failedReason = "Received response status [FAILED] from custom resource. Message returned: Workload Security answered HTTP 403: the API key lacks the Full Access role"
)

// demo is one run.
type demo struct {
	ctx     context.Context
	out     io.Writer
	h       *localworld.Harness
	env     *localworld.Env
	org     *localworld.Org
	tl      *timeline
	trails  map[string]string
	started time.Time
	// member-account writes during the replay (the harness's recorder): there should be none
	replayWrites []localworld.Call
	// steps are the decisions the Lambdas logged during each step, for the test
	steps []step
}

// step is one step of the story and the decision lines the Lambdas logged during it.
type step struct {
	title   string
	entries []entry
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	code, _ := runDemo(ctx, args, stdout, stderr)
	return code
}

// runDemo is run, returning the demo too (nil on a usage error): its steps, its harness's
// recorder and its process log stay readable after everything it started is stopped.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) (int, *demo) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "keep the log of moto and the Lambdas and print its path")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./cmd/demo [-v]\n\nThe whole onboarder on one machine (moto, the Cloud One stand-in, the real Lambdas).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, nil
		}
		return 2, nil
	}
	tmp, err := os.MkdirTemp("", "onboarder-demo-")
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1, nil
	}
	logPath := filepath.Join(tmp, "demo.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		_ = os.RemoveAll(tmp)
		return 1, nil
	}
	d := &demo{ctx: ctx, out: stdout, started: time.Now()}
	code := d.run(logFile)
	_ = logFile.Close()
	interrupted := code != 0 && ctx.Err() != nil
	if interrupted {
		fmt.Fprintln(stdout, "demo: interrupted: everything it started is stopped")
	}
	if (code != 0 && !interrupted) || *verbose {
		// Keep only the log: the binaries and the rest go.
		keep := filepath.Join(os.TempDir(), fmt.Sprintf("onboarder-demo-%d.log", os.Getpid()))
		if err := os.Rename(logPath, keep); err == nil {
			fmt.Fprintf(stdout, "demo: the log of moto and the Lambdas is %s\n", keep)
		}
	}
	_ = os.RemoveAll(tmp)
	return code, d
}

// run does the demo with everything it starts stopped on return.
func (d *demo) run(logFile io.Writer) int {
	fmt.Fprintln(d.out, "demo: starting moto, the Cloud One stand-in and the four Lambdas under the emulator")
	fmt.Fprintln(d.out, "      (the first run on a machine builds the emulator and the handlers: a few minutes)")
	h, err := localworld.StartHarness(d.ctx, []trend.Key{c1Key, c1Key2}, logFile)
	if err != nil {
		return d.fail("start the local environment: %v", err)
	}
	d.h = h
	defer h.Stop()
	if err := d.seed(); err != nil {
		return d.fail("seed: %v", err)
	}
	defer d.env.Close()
	d.printOrg()

	archiveStart := time.Now().Add(-time.Minute)
	steps := []struct {
		title, how string
		fn         func() error
	}{
		{"Account vending: Control Tower reports each account as a new managed account",
			"CreateManagedAccount SUCCEEDED on the default bus, one per account", d.accountVending},
		{"A person deletes the trail " + trailOrg + " in " + acPayments + ", which the stack forwards",
			"DeleteTrail through the SDK, then its CloudTrail event on the onboarder bus", d.deleteTrail},
		{"A person stops logging on the trail " + trailAudit + " in " + acIdentity + ", which the stack forwards",
			"StopLogging through the SDK, then its CloudTrail event on the onboarder bus", d.stopTrail},
		{"The Cloud One API key is rotated; in " + acSandboxB + " Cloud One refuses the new key, and the update rolls back",
			"PutSecretValue, then a manual request for every account; the CloudFormation layer fails " + acSandboxB + "'s " + failedID, d.rotate},
		{"Replay of the archives: the same events once more; nothing may change",
			"StartReplay of both archives to their buses, until COMPLETED", func() error { return d.replay(archiveStart) }},
	}
	fmt.Fprintln(d.out, "\nTimeline: each line is one decision a Lambda logged: the function, the account, what it did and why.")
	for i, s := range steps {
		fmt.Fprintf(d.out, "\n%d. %s\n   (%s)\n", i+1, s.title, s.how)
		marks := d.tl.mark()
		if err := s.fn(); err != nil {
			return d.fail("step %d: %v", i+1, err)
		}
		es := d.tl.entries(marks)
		d.steps = append(d.steps, step{title: s.title, entries: es})
		d.tl.print(d.out, es)
	}

	fmt.Fprintln(d.out, "\n$ onboarder status")
	if err := d.status(); err != nil {
		return d.fail("onboarder status: %v", err)
	}
	problems, n, err := d.check()
	if err != nil {
		return d.fail("check the end state: %v", err)
	}
	fmt.Fprintln(d.out)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(d.out, "demo: NOT AS EXPECTED: %s\n", p)
		}
		return 1
	}
	fmt.Fprintf(d.out, "demo: all %d accounts as expected (%s)\n", n, time.Since(d.started).Round(time.Second))
	return 0
}

func (d *demo) fail(format string, args ...any) int {
	if d.ctx.Err() != nil {
		return 1 // interrupted: run says so
	}
	fmt.Fprintf(d.out, "demo: FAILED: %s\n", mask(fmt.Sprintf(format, args...)))
	return 1
}

// seed makes the Organization, the trails, the foreign stack, the central resources, the
// archives and starts the Lambdas.
func (d *demo) seed() error {
	ctx, m := d.ctx, d.h.Moto
	org, err := m.SeedOrganization(ctx, homeRegion,
		localworld.OU{Name: ouWorkloads, Accounts: []string{acPayments, acIdentity, acAnalytics, acWeb}},
		localworld.OU{Name: ouSandbox, Accounts: []string{acSandboxA, acSandboxB}},
	)
	if err != nil {
		return err
	}
	d.org = org
	pay, idn := org.Account(acPayments), org.Account(acIdentity)
	d.trails = map[string]string{}
	if d.trails[acPayments], err = m.SeedTrail(ctx, localworld.Trail{Account: pay.ID, Name: trailOrg, Bucket: "payments-audit-" + pay.ID,
		HomeRegion: homeRegion, BucketRegion: stackRegion, MultiRegion: true, Logging: true}); err != nil {
		return err
	}
	if d.trails[acIdentity], err = m.SeedTrail(ctx, localworld.Trail{Account: idn.ID, Name: trailAudit, Bucket: "identity-audit-" + idn.ID,
		HomeRegion: stackRegion, Logging: true}); err != nil {
		return err
	}
	web := org.Account(acWeb)
	if _, err = m.SeedTrail(ctx, localworld.Trail{Account: web.ID, Name: trailEU, Bucket: "web-logs-" + web.ID,
		HomeRegion: homeRegion, MultiRegion: true, Logging: true}); err != nil {
		return err
	}

	opts := d.h.Options(homeRegion, localworld.SecretValue{CloudOneAPIKey: c1Key.APIKey(), VisionOneServiceToken: v1Tok})
	// The rotation of step 4 is seen by the next request (the Lambdas trust a read secret a
	// minute by default).
	opts.Env = map[string]string{"ONBOARDER_EXCLUDE_ACCOUNTS": org.Account(acSandboxA).ID, "ONBOARDER_SECRET_CACHE_TTL": "0s"}
	env, err := localworld.Setup(ctx, m, d.h.Recorder, opts)
	if err != nil {
		return fmt.Errorf("set up the central resources and the Lambdas: %w", err)
	}
	d.env = env
	d.tl = newTimeline(env, org)
	if err := d.foreignStack(org.Account(acAnalytics).ID); err != nil {
		return err
	}
	// The archives of deploy/template.yaml (moto does not deploy them from the template here).
	eb := eventbridge.NewFromConfig(m.Config(ctx, homeRegion))
	for _, a := range []struct{ name, source, pattern string }{
		{localworld.BusName + "-default", "arn:aws:events:" + homeRegion + ":" + localworld.ManagementAccount + ":event-bus/default",
			`{"source":["aws.controltower","aws.organizations","onboarder.manual"],"detail-type":["AWS Service Event via CloudTrail","Reconcile Request"]}`},
		{localworld.BusName + "-own", env.BusARN,
			`{"source":["aws.cloudtrail","aws.cloudformation","onboarder.manual"],"detail-type":["AWS API Call via CloudTrail","Reconcile Request"]}`},
	} {
		if _, err := eb.CreateArchive(ctx, &eventbridge.CreateArchiveInput{ArchiveName: aws.String(a.name),
			EventSourceArn: aws.String(a.source), EventPattern: aws.String(a.pattern)}); err != nil {
			return fmt.Errorf("create archive %s: %w", a.name, err)
		}
	}
	return nil
}

// foreignStack creates a CloudOne stack in the account as a person of another team would:
// without the onboarder's tags.
func (d *demo) foreignStack(account string) error {
	cfg, err := d.h.Moto.AccountConfig(d.ctx, account, stackRegion, localworld.ExecutionRole)
	if err != nil {
		return err
	}
	_, err = cloudformation.NewFromConfig(cfg).CreateStack(d.ctx, &cloudformation.CreateStackInput{
		StackName: aws.String(stackName), TemplateURL: aws.String(d.env.TemplateURL),
		Parameters: []cfntypes.Parameter{
			{ParameterKey: aws.String("CloudOneApiKey"), ParameterValue: aws.String("another-teams-key")},
			{ParameterKey: aws.String("VisionOneServiceToken"), ParameterValue: aws.String("another-teams-token")},
			{ParameterKey: aws.String("CreateNewTrail"), ParameterValue: aws.String("True")},
		},
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam},
		Tags:         []cfntypes.Tag{{Key: aws.String("owner"), Value: aws.String(foreignTag)}},
	})
	if err != nil {
		return fmt.Errorf("create the foreign stack in %s: %w", account, err)
	}
	return nil
}

func (d *demo) printOrg() {
	notes := map[string]string{
		acPayments:  "multi-region trail " + trailOrg + " (home " + homeRegion + ") logging to its own bucket in " + stackRegion,
		acIdentity:  "trail " + trailAudit + " (home " + stackRegion + ") logging to its own bucket",
		acAnalytics: "a stack named " + stackName + " made by another team (not ours)",
		acWeb:       "multi-region trail " + trailEU + " logging to its own bucket in " + homeRegion + " (not the stacks' region)",
		acSandboxA:  "excluded: ONBOARDER_EXCLUDE_ACCOUNTS",
		acSandboxB:  "nothing yet",
	}
	fmt.Fprintf(d.out, "\nOrganization (management account %s, Control Tower home %s; Cloud One us-1, so stacks go to %s)\n",
		localworld.ManagementAccount, homeRegion, stackRegion)
	timing, _ := d.h.Faults.StackTimingNow()
	fmt.Fprintf(d.out, "The local AWS behaves like AWS where it matters: each Lambda runs with its own role of deploy/template.yaml behind an\n"+
		"IAM gate (member accounts: the roles of deploy/member.yaml), and every stack operation runs for %s before it settles.\n", timing.Create)
	for _, a := range d.org.Accounts {
		fmt.Fprintf(d.out, "   %s  %-10s %-10s %s\n", a.ID, a.Name, a.OUName, notes[a.Name])
	}
}

// drain runs the pump until the queues are idle.
func (d *demo) drain() error {
	ctx, cancel := context.WithTimeout(d.ctx, 2*time.Minute)
	defer cancel()
	st, err := d.env.Drain(ctx)
	if err != nil {
		return err
	}
	if len(st.FunctionErrors) > 0 {
		return fmt.Errorf("function errors: %v", errors.Join(st.FunctionErrors...))
	}
	return nil
}

func (d *demo) accountVending() error {
	var entries []localworld.Entry
	for _, a := range d.org.Accounts {
		entries = append(entries, localworld.ControlTowerAccount("CreateManagedAccount", a, "SUCCEEDED", homeRegion))
	}
	if _, err := d.env.Put(d.ctx, entries...); err != nil {
		return err
	}
	return d.drain()
}

func (d *demo) trailClient(account, region string) (*cloudtrail.Client, error) {
	cfg, err := d.h.Moto.AccountConfig(d.ctx, account, region, localworld.ExecutionRole)
	if err != nil {
		return nil, err
	}
	return cloudtrail.NewFromConfig(cfg), nil
}

func (d *demo) deleteTrail() error {
	a := d.org.Account(acPayments)
	ct, err := d.trailClient(a.ID, homeRegion)
	if err != nil {
		return err
	}
	if _, err := ct.DeleteTrail(d.ctx, &cloudtrail.DeleteTrailInput{Name: aws.String(trailOrg)}); err != nil {
		return fmt.Errorf("delete trail %s: %w", trailOrg, err)
	}
	if _, err := d.env.Put(d.ctx, localworld.TrailCall(a.ID, homeRegion, "DeleteTrail", d.trails[acPayments])); err != nil {
		return err
	}
	return d.drain()
}

// rotate puts a new key in the secret; sandbox-b's update will fail at the resource that
// calls Cloud One, as Trend's stack does when Cloud One refuses a key.
func (d *demo) rotate() error {
	b := d.org.Account(acSandboxB)
	d.h.Faults.FailStacks(proxy.StackFailure{Account: b.ID, Operation: "UPDATE", LogicalID: failedID, ResourceType: failedType, Reason: failedReason})
	sm := secretsmanager.NewFromConfig(d.h.Moto.Config(d.ctx, homeRegion))
	if _, err := sm.PutSecretValue(d.ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(d.env.SecretARN),
		SecretString: aws.String(localworld.SecretValue{CloudOneAPIKey: c1Key2.APIKey(), VisionOneServiceToken: v1Tok}.JSON())}); err != nil {
		return fmt.Errorf("rotate the secret: %w", err)
	}
	var ids []string
	for _, a := range d.org.Accounts {
		ids = append(ids, a.ID)
	}
	if _, err := d.env.Put(d.ctx, localworld.Manual(ids...)); err != nil {
		return err
	}
	return d.drain()
}

func (d *demo) stopTrail() error {
	a := d.org.Account(acIdentity)
	ct, err := d.trailClient(a.ID, stackRegion)
	if err != nil {
		return err
	}
	// moto: Start/StopLogging only by name, in the trail's home region.
	if _, err := ct.StopLogging(d.ctx, &cloudtrail.StopLoggingInput{Name: aws.String(trailAudit)}); err != nil {
		return fmt.Errorf("stop logging %s: %w", trailAudit, err)
	}
	if _, err := d.env.Put(d.ctx, localworld.TrailCall(a.ID, stackRegion, "StopLogging", d.trails[acIdentity])); err != nil {
		return err
	}
	return d.drain()
}

// replay replays both archives (the default bus's and the onboarder bus's) to their buses,
// waits for COMPLETED and drains.
func (d *demo) replay(from time.Time) error {
	eb := eventbridge.NewFromConfig(d.h.Moto.Config(d.ctx, homeRegion))
	mark := d.h.Recorder.Mark()
	to := time.Now().Add(time.Minute)
	defaultBus := "arn:aws:events:" + homeRegion + ":" + localworld.ManagementAccount + ":event-bus/default"
	for _, r := range []struct{ name, archive, bus string }{
		{replayName, localworld.BusName + "-default", defaultBus},
		{replayName + "-own", localworld.BusName + "-own", d.env.BusARN},
	} {
		arch, err := eb.DescribeArchive(d.ctx, &eventbridge.DescribeArchiveInput{ArchiveName: aws.String(r.archive)})
		if err != nil {
			return fmt.Errorf("describe archive %s: %w", r.archive, err)
		}
		if _, err := eb.StartReplay(d.ctx, &eventbridge.StartReplayInput{ReplayName: aws.String(r.name), EventSourceArn: arch.ArchiveArn,
			EventStartTime: aws.Time(from), EventEndTime: aws.Time(to), Destination: &ebtypes.ReplayDestination{Arn: aws.String(r.bus)}}); err != nil {
			return fmt.Errorf("start replay %s: %w", r.name, err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, err := eb.DescribeReplay(d.ctx, &eventbridge.DescribeReplayInput{ReplayName: aws.String(r.name)})
			if err != nil {
				return fmt.Errorf("describe replay %s: %w", r.name, err)
			}
			if out.State == ebtypes.ReplayStateCompleted {
				break
			}
			if out.State == ebtypes.ReplayStateFailed || out.State == ebtypes.ReplayStateCancelled || time.Now().After(deadline) {
				return fmt.Errorf("replay %s: state %s", r.name, out.State)
			}
			select { // polling moto's replay state
			case <-d.ctx.Done():
				return d.ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	if err := d.drain(); err != nil {
		return err
	}
	d.replayWrites = d.h.Recorder.Since(mark, localworld.Writes, func(c localworld.Call) bool { return c.Account != localworld.ManagementAccount })
	return nil
}

// status runs the real `onboarder status` against moto, with the Lambdas' configuration.
func (d *demo) status() error {
	ctx, cancel := context.WithTimeout(d.ctx, time.Minute)
	defer cancel()
	out, stderr, code, err := d.env.RunOperator(ctx, d.h.Operator, "status")
	d.out.Write([]byte(mask(out)))
	if err == nil && code != 0 {
		err = fmt.Errorf("exit code %d", code)
	}
	if err != nil {
		return fmt.Errorf("%w: %s", err, mask(stderr))
	}
	return nil
}
