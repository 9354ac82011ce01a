// Package trail chooses the CloudTrail trail that forwards an account's events to the target,
// and starts again a forwarding trail that was stopped.
//
// What makes a trail usable is the target's (Rules). For Cloud One's v1 template (CloudOne):
// the forwarder subscribes to the bucket's event notifications, which S3 sends only to targets
// in the bucket's own region (https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventNotifications.html:
// "the destination must be in the same AWS Region as the bucket"), so the bucket must be in the
// stack's region and of the same account; and it reads the log objects without any KMS grant,
// so a trail that encrypts with SSE-KMS cannot be read. For Vision One (VisionOne): a trail in
// the stack's account and region that records management events, read and write, with log
// file validation on, and the SNS topic it notifies on each log file delivery, in the same
// account and region.
package trail

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
)

// API is the part of the CloudTrail client the resolution uses. Status, selectors and
// StartLogging go to the trail's home region, where every trail answers to its name.
type API interface {
	DescribeTrails(ctx context.Context, in *cloudtrail.DescribeTrailsInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.DescribeTrailsOutput, error)
	GetTrailStatus(ctx context.Context, in *cloudtrail.GetTrailStatusInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.GetTrailStatusOutput, error)
	GetEventSelectors(ctx context.Context, in *cloudtrail.GetEventSelectorsInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.GetEventSelectorsOutput, error)
	StartLogging(ctx context.Context, in *cloudtrail.StartLoggingInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.StartLoggingOutput, error)
	ListTags(ctx context.Context, in *cloudtrail.ListTagsInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.ListTagsOutput, error)
}

// ManagedTag marks what the onboarder's stacks create: CloudFormation propagates stack tags
// to the resources it makes, so the trail the stack made itself carries it.
const ManagedTag = "cloudone-onboarder:managed"

// BucketsAPI is the part of the S3 client used to check that a bucket belongs to the account
// and is in the stack's region. The client's region must be the stack's region: S3 answers
// ListBuckets filtered by BucketRegion only from that region's endpoint.
type BucketsAPI interface {
	ListBuckets(ctx context.Context, in *s3.ListBucketsInput, optFns ...func(*s3.Options)) (*s3.ListBucketsOutput, error)
}

// Clients are the member account's clients. CloudTrail returns a client for a region.
type Clients struct {
	CloudTrail func(region string) API
	S3         BucketsAPI
}

// Rules say what makes a trail usable for a target.
type Rules struct {
	// Bucket: the trail's bucket must be the account's and in the stack's region, and found
	// there (Cloud One v1's forwarder reads the bucket's event notifications).
	Bucket bool
	// NoKMS: a trail that encrypts its logs with SSE-KMS is not usable (v1's forwarder has no
	// grant to decrypt them).
	NoKMS bool
	// HomeRegion: the trail's home region must be the stack's (Vision One: the trail and its
	// topic in the stack's account and region).
	HomeRegion bool
	// ReadAndWrite: management events must be recorded both read and write (else write is
	// enough).
	ReadAndWrite bool
	// Validation: log file validation must be on.
	Validation bool
	// Topic: the trail must notify an SNS topic of the account, in the stack's region, on each
	// log file delivery.
	Topic bool
	// OwnTrail says who makes a trail where none is usable: "the stack makes its own", or "the
	// onboarder's trail stack provides one".
	OwnTrail string
	// What is what the trail is checked for, in messages ("the v1 forwarder", "Vision One").
	What string
	// Own names the trail the onboarder provides, in messages: the stack's own trail (Cloud
	// One's stack makes it), or the trail stack's (Vision One's).
	Own string
}

// CloudOne are the rules of Trend Cloud One's v1 template.
var CloudOne = Rules{Bucket: true, NoKMS: true, OwnTrail: "the stack makes its own", What: "the v1 forwarder", Own: "the stack's own trail"}

// VisionOne are the rules of Trend Vision One's Cloud Accounts CloudTrail feature: Trend's
// CloudTrail configuration page asks for a trail that logs management events, read and write,
// with log file validation, and the SNS topic it notifies, in the stack's account and region.
var VisionOne = Rules{HomeRegion: true, ReadAndWrite: true, Validation: true, Topic: true,
	OwnTrail: "the onboarder's trail stack provides one", What: "Vision One", Own: "the trail stack's trail"}

// Input is what the resolution needs to know.
type Input struct {
	Account       string
	Region        string           // the region of the stack (mapped from the Cloud One region)
	Mode          config.TrailMode // auto, existing, new
	CurrentBucket string           // the bucket the stack forwards today ("" if none or a new trail)
	CurrentTrail  string           // the trail the stack uses today, by ARN, where the stack names it (Vision One)
	CurrentNew    bool             // the stack exists, is ours and uses the trail the onboarder made (v1: CreateNewTrail "True")
	Rules         Rules            // what makes a trail usable; the zero Rules are CloudOne's
}

// Choice is the outcome of the resolution.
type Choice struct {
	Mode           string `json:"mode"`
	CreateNewTrail bool   `json:"createNewTrail"`
	TrailARN       string `json:"trailArn,omitempty"`
	TrailName      string `json:"trailName,omitempty"`
	HomeRegion     string `json:"homeRegion,omitempty"`
	Bucket         string `json:"bucket,omitempty"`
	TopicARN       string `json:"topicArn,omitempty"` // the SNS topic the trail notifies (Vision One)
	// Stopped: the trail the stack forwards (or its own trail) does not log: it must be
	// started again (StartLogging by name, in its home region: Start does it).
	Stopped bool     `json:"stopped,omitempty"`
	Why     string   `json:"why"`
	Skipped []string `json:"skipped,omitempty"` // trails looked at and why they were not chosen
}

// Resolve chooses the forwarding trail in the account and region:
//   - new: the stack makes its own trail (CreateNewTrail "True"); no call is made (Vision One:
//     the onboarder's trail stack's trail is looked for, by its tag, to keep it).
//   - auto: a trail that logs, covers the region (multi-region or home region), records
//     management events and writes to a bucket of the account; the bucket the stack already
//     uses is preferred; a stack that made its own trail keeps it (the trail with the stack's
//     managed tag). None: a new trail.
//   - existing: like auto, but none found is an error that needs a person.
//
// The trail writing to the bucket the stack already uses, if stopped, is kept and marked
// Stopped: the caller starts it again (StopLogging is a classic defence-evasion step).
// Resolve only reads.
func Resolve(ctx context.Context, c Clients, in Input) (Choice, error) {
	if in.Rules.OwnTrail == "" {
		in.Rules = CloudOne
	}
	ch := Choice{Mode: string(in.Mode)}
	if in.Mode == config.TrailNew && !in.Rules.Topic {
		ch.CreateNewTrail, ch.Why = true, "trail mode new: "+in.Rules.OwnTrail+" trail"
		return ch, nil
	}

	out, err := c.CloudTrail(in.Region).DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
	if err != nil {
		return ch, fmt.Errorf("describe trails in %s/%s: %w", in.Account, in.Region, err)
	}
	cands := candidates(out.TrailList, in, &ch)
	if in.Mode == config.TrailNew {
		// Vision One in mode new: the onboarder's trail stack's trail, found by its tag.
		stackTrail, _, err := ownTrail(ctx, c, cands)
		if err != nil {
			return ch, fmt.Errorf("list tags of trails in %s: %w", in.Account, err)
		}
		ch.CreateNewTrail = true
		if stackTrail == nil {
			ch.Why = "trail mode new: " + in.Rules.OwnTrail
			return ch, nil
		}
		return ch, keepOwn(ctx, c, in, *stackTrail, &ch, "trail mode new")
	}
	// The trail writing to the bucket the stack already uses comes first, and settles most
	// checks in one status call; only when it does not qualify are the tags read.
	if in.CurrentBucket != "" {
		for len(cands) > 0 && cands[0].bucket == in.CurrentBucket {
			ok, err := suitable(ctx, c, in, cands[0], &ch)
			if ok || err != nil {
				return ch, err
			}
			cands = cands[1:]
		}
	}
	stackTrail, cands, err := ownTrail(ctx, c, cands)
	if err != nil {
		return ch, fmt.Errorf("list tags of trails in %s: %w", in.Account, err)
	}
	if in.Mode == config.TrailAuto && in.CurrentNew {
		// Auto mode prefers what the stack already uses: its own trail. It is kept, and
		// started again if someone stopped it.
		ch.CreateNewTrail = true
		if stackTrail == nil {
			ch.Why = "the stack's own trail forwards; kept (auto mode prefers what the stack already uses); it was not found among the account's trails"
			return ch, nil
		}
		return ch, keepOwn(ctx, c, in, *stackTrail, &ch, keptInUse)
	}
	if in.CurrentTrail != "" {
		// The trail the stack names comes first: kept while it qualifies; the onboarder's own
		// trail (its trail stack's) is kept as auto mode keeps what the stack already uses.
		if stackTrail != nil && stackTrail.arn == in.CurrentTrail {
			ch.CreateNewTrail = true
			return ch, keepOwn(ctx, c, in, *stackTrail, &ch, keptInUse)
		}
		for i, t := range cands {
			if t.arn == in.CurrentTrail {
				ok, err := suitable(ctx, c, in, t, &ch)
				if ok || err != nil {
					return ch, err
				}
				cands = append(cands[:i:i], cands[i+1:]...)
				break
			}
		}
	}
	for _, t := range cands {
		ok, err := suitable(ctx, c, in, t, &ch)
		if err != nil {
			return ch, err
		}
		if ok {
			return ch, nil
		}
	}
	if in.Mode == config.TrailExisting {
		return ch, fault.NeedsPersonf("trail mode existing: no trail in %s is usable for %s (%s); create one, or set ONBOARDER_TRAIL_MODE=auto",
			in.Account, in.Rules.What, strings.Join(ch.Skipped, "; "))
	}
	ch.CreateNewTrail = true
	ch.Why = "no suitable trail: " + in.Rules.OwnTrail
	if stackTrail != nil && in.Rules.Topic {
		// Vision One: the onboarder's trail stack already made one; it is the choice.
		return ch, keepOwn(ctx, c, in, *stackTrail, &ch, "no other trail is usable")
	}
	switch {
	case orgTrailsOnly(out.TrailList, in.Account):
		// A Control Tower landing zone: CloudTrail bills every copy of management events after
		// the first (https://aws.amazon.com/cloudtrail/pricing/), and the organization trail is
		// the first.
		ch.Why = "own trail: the account has only the organization trail (" + strings.Join(ch.Skipped, "; ") +
			"): " + in.Rules.OwnTrail + ", a second, billed copy of the account's management events (docs/DEPLOY.md, section 10)"
	case len(ch.Skipped) > 0:
		ch.Why = "no suitable trail (" + strings.Join(ch.Skipped, "; ") + "): " + in.Rules.OwnTrail
	}
	return ch, nil
}

// orgTrailsOnly reports whether every trail the account sees belongs to another account (an
// organization trail), and there is at least one.
func orgTrailsOnly(list []cttypes.Trail, account string) bool {
	for _, t := range list {
		if arnAccount(aws.ToString(t.TrailARN)) == account {
			return false
		}
	}
	return len(list) > 0
}

// trail is a DescribeTrails entry reduced to what matters.
type trail struct {
	arn, name, home, bucket, kmsKey, topic string
	multiRegion, custom, validation        bool
}

// candidates keeps the account's own trails that cover the region and write to a bucket,
// the current bucket first, then multi-region trails, then by ARN: a stable order.
func candidates(list []cttypes.Trail, in Input, ch *Choice) []trail {
	var out []trail
	for _, t := range list {
		tr := trail{
			arn: aws.ToString(t.TrailARN), name: aws.ToString(t.Name), home: aws.ToString(t.HomeRegion),
			bucket: aws.ToString(t.S3BucketName), multiRegion: aws.ToBool(t.IsMultiRegionTrail),
			custom: aws.ToBool(t.HasCustomEventSelectors), kmsKey: aws.ToString(t.KmsKeyId),
			topic: aws.ToString(t.SnsTopicARN), validation: aws.ToBool(t.LogFileValidationEnabled),
		}
		if tr.home == "" {
			tr.home = arnRegion(tr.arn)
		}
		r := in.Rules
		switch {
		case arnAccount(tr.arn) != in.Account:
			ch.Skipped = append(ch.Skipped, tr.name+": a trail of another account (organization trail)")
		case !tr.multiRegion && tr.home != in.Region:
			ch.Skipped = append(ch.Skipped, tr.name+": does not cover "+in.Region)
		case r.HomeRegion && tr.home != in.Region:
			ch.Skipped = append(ch.Skipped, tr.name+": its home region is "+tr.home+", not "+in.Region+" ("+r.What+" needs the trail and its topic in the stack's region)")
		case tr.bucket == "":
			ch.Skipped = append(ch.Skipped, tr.name+": writes to no bucket")
		case r.NoKMS && tr.kmsKey != "":
			ch.Skipped = append(ch.Skipped, tr.name+": encrypts its logs with SSE-KMS (key "+tr.kmsKey+"); the v1 forwarder has no grant to decrypt them")
		case r.Validation && !tr.validation:
			ch.Skipped = append(ch.Skipped, tr.name+": log file validation is off ("+r.What+" needs it)")
		case r.Topic && tr.topic == "":
			ch.Skipped = append(ch.Skipped, tr.name+": notifies no SNS topic ("+r.What+" reads the deliveries from it)")
		case r.Topic && (arnAccount(tr.topic) != in.Account || arnRegion(tr.topic) != in.Region):
			ch.Skipped = append(ch.Skipped, tr.name+": its SNS topic "+tr.topic+" is not in "+in.Account+"/"+in.Region)
		default:
			out = append(out, tr)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.bucket == in.CurrentBucket) != (b.bucket == in.CurrentBucket) {
			return a.bucket == in.CurrentBucket
		}
		if a.multiRegion != b.multiRegion {
			return a.multiRegion
		}
		return a.arn < b.arn
	})
	return out
}

// ownTrail finds, among the candidates, the trail the onboarding stack made itself (it carries
// the stack's managed tag) and returns it apart: it is never a candidate for
// ExistingCloudtrailBucketName, since pointing the stack at its own trail would delete it.
func ownTrail(ctx context.Context, c Clients, cands []trail) (*trail, []trail, error) {
	byHome := map[string][]string{}
	for _, t := range cands {
		byHome[t.home] = append(byHome[t.home], t.arn)
	}
	managed := map[string]bool{}
	for home, arns := range byHome {
		for start := 0; start < len(arns); start += 20 { // ListTags takes up to 20 trails
			out, err := c.CloudTrail(home).ListTags(ctx, &cloudtrail.ListTagsInput{ResourceIdList: arns[start:min(start+20, len(arns))]})
			if err != nil {
				return nil, nil, err
			}
			for _, rt := range out.ResourceTagList {
				for _, tg := range rt.TagsList {
					if aws.ToString(tg.Key) == ManagedTag && aws.ToString(tg.Value) == "true" {
						managed[aws.ToString(rt.ResourceId)] = true
					}
				}
			}
		}
	}
	var own *trail
	rest := cands[:0:0]
	for i, t := range cands {
		if managed[t.arn] && own == nil {
			own = &cands[i]
			continue
		}
		rest = append(rest, t)
	}
	return own, rest, nil
}

// keptInUse is why the trail the stack uses is kept, in auto mode.
const keptInUse = "auto mode prefers what the stack already uses"

// keepOwn checks the onboarder's own trail (the stack's, or the trail stack's) and starts it
// again if it was stopped; kept says why it is the choice.
func keepOwn(ctx context.Context, c Clients, in Input, t trail, ch *Choice, kept string) error {
	ch.TrailARN, ch.TrailName, ch.HomeRegion, ch.Bucket, ch.TopicARN = t.arn, t.name, t.home, t.bucket, t.topic
	api := c.CloudTrail(t.home)
	st, err := api.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(t.arn)})
	if err != nil {
		return fmt.Errorf("get status of trail %s: %w", t.arn, err)
	}
	if aws.ToBool(st.IsLogging) {
		ch.Why = in.Rules.Own + " " + t.name + " logs; kept (" + kept + ")"
		return nil
	}
	ch.Stopped = true
	ch.Why = in.Rules.Own + " " + t.name + " was stopped"
	return nil
}

// Start starts logging again on the trail of a choice that is Stopped, by name in its home
// region: the form every CloudTrail endpoint accepts.
func Start(ctx context.Context, c Clients, ch Choice) error {
	if !ch.Stopped || ch.TrailName == "" {
		return nil
	}
	if _, err := c.CloudTrail(ch.HomeRegion).StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(ch.TrailName)}); err != nil {
		return fmt.Errorf("start logging on trail %s: %w", ch.TrailARN, err)
	}
	return nil
}

// suitable checks one candidate, in the cheapest order, and fills ch when it is chosen.
func suitable(ctx context.Context, c Clients, in Input, t trail, ch *Choice) (bool, error) {
	api := c.CloudTrail(t.home)
	// The trail the stack forwards today: found by its bucket (Cloud One's stack names the
	// bucket) or by its ARN (Vision One's stack names the trail). Without the second, a Vision
	// One stack's trail that someone stopped was passed over as "not logging" and replaced by
	// the trail stack's, instead of being started again.
	currentBucket := in.CurrentBucket != "" && t.bucket == in.CurrentBucket
	current := currentBucket || (in.CurrentTrail != "" && t.arn == in.CurrentTrail)
	if t.custom {
		sel, err := api.GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String(t.arn)})
		if err != nil {
			return false, fmt.Errorf("get event selectors of trail %s: %w", t.arn, err)
		}
		if !recordsManagement(sel, in.Rules.ReadAndWrite) {
			what := "records no management events"
			if in.Rules.ReadAndWrite {
				what = "does not record management events both read and write (" + in.Rules.What + " needs both)"
			}
			ch.Skipped = append(ch.Skipped, t.name+": "+what)
			return false, nil
		}
	}
	if !currentBucket && in.Rules.Bucket {
		// A bucket the stack already uses was checked when it was chosen (a bucket never
		// changes its region or its owner).
		where, err := bucketPlace(ctx, c.S3, t.bucket, in.Region)
		if err != nil {
			return false, fmt.Errorf("check bucket %s in %s: %w", t.bucket, in.Account, err)
		}
		switch where {
		case bucketOtherRegion:
			ch.Skipped = append(ch.Skipped, t.name+": bucket "+t.bucket+" is not in "+in.Region+" (S3 sends event notifications only to targets in the bucket's own region)")
			return false, nil
		case bucketForeign:
			ch.Skipped = append(ch.Skipped, t.name+": bucket "+t.bucket+" belongs to another account")
			return false, nil
		}
	}
	st, err := api.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(t.arn)})
	if err != nil {
		if fault.IsCode(err, "TrailNotFoundException") {
			ch.Skipped = append(ch.Skipped, t.name+": gone")
			return false, nil
		}
		return false, fmt.Errorf("get status of trail %s: %w", t.arn, err)
	}
	fill := func(why string) {
		ch.TrailARN, ch.TrailName, ch.HomeRegion, ch.Bucket, ch.TopicARN, ch.Why = t.arn, t.name, t.home, t.bucket, t.topic, why
	}
	if aws.ToBool(st.IsLogging) {
		switch {
		case currentBucket:
			fill("trail " + t.name + " logs to " + t.bucket + ", the bucket the stack uses")
		case current:
			fill("trail " + t.name + ", the trail the stack uses, logs to " + t.bucket)
		default:
			fill("trail " + t.name + " logs to " + t.bucket + ", a bucket of the account")
		}
		return true, nil
	}
	if !current {
		ch.Skipped = append(ch.Skipped, t.name+": not logging")
		return false, nil
	}
	// The forwarding trail was stopped: it stays the choice, to be started again.
	ch.Stopped = true
	fill("trail " + t.name + " forwards to the stack but was stopped")
	return true, nil
}

// RecordsManagement reports whether a trail's selectors record (write) management events. A
// trail with no selectors at all has the default one, which records them.
func RecordsManagement(out *cloudtrail.GetEventSelectorsOutput) bool {
	return recordsManagement(out, false)
}

// recordsManagement reports whether the selectors record management events: write ones, and
// read ones too when both is set. A trail with no selectors at all has the default one, which
// records them all (ReadWriteType All:
// https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_EventSelector.html).
func recordsManagement(out *cloudtrail.GetEventSelectorsOutput, both bool) bool {
	if len(out.EventSelectors) == 0 && len(out.AdvancedEventSelectors) == 0 {
		return true
	}
	for _, s := range out.EventSelectors {
		if !aws.ToBool(s.IncludeManagementEvents) {
			continue
		}
		if s.ReadWriteType == cttypes.ReadWriteTypeAll || (!both && s.ReadWriteType != cttypes.ReadWriteTypeReadOnly) {
			return true
		}
	}
	for _, a := range out.AdvancedEventSelectors {
		management, readOnly := false, false
		for _, f := range a.FieldSelectors {
			switch aws.ToString(f.Field) {
			case "eventCategory":
				management = slices.Contains(f.Equals, "Management")
			case "readOnly":
				// A readOnly field selector narrows the selector to read or to write events
				// (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_AdvancedFieldSelector.html).
				readOnly = len(f.Equals) > 0
			}
		}
		if management && (!both || !readOnly) {
			return true
		}
	}
	return false
}

type bucketWhere int

const (
	bucketHere        bucketWhere = iota // the account's, in the region
	bucketOtherRegion                    // the account's, in another region
	bucketForeign                        // not the account's
)

// bucketPlace tells whether the account owns the bucket and whether it is in region:
// ListBuckets lists only the caller's own buckets, the prefix keeps the answer to one page,
// and BucketRegion filters by region (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html).
// A second call, without the region, tells "another region" from "another account".
func bucketPlace(ctx context.Context, api BucketsAPI, bucket, region string) (bucketWhere, error) {
	has := func(in *s3.ListBucketsInput) (bool, error) {
		out, err := api.ListBuckets(ctx, in)
		if err != nil {
			return false, err
		}
		for _, b := range out.Buckets {
			if aws.ToString(b.Name) == bucket {
				return true, nil
			}
		}
		return false, nil
	}
	here, err := has(&s3.ListBucketsInput{Prefix: aws.String(bucket), BucketRegion: aws.String(region), MaxBuckets: aws.Int32(1000)})
	if err != nil || here {
		return bucketHere, err
	}
	owned, err := has(&s3.ListBucketsInput{Prefix: aws.String(bucket), MaxBuckets: aws.Int32(1000)})
	if err != nil {
		return bucketForeign, err
	}
	if owned {
		return bucketOtherRegion, nil
	}
	return bucketForeign, nil
}

// arnAccount and arnRegion read fields 5 and 4 of an ARN.
func arnAccount(arn string) string { return arnField(arn, 4) }
func arnRegion(arn string) string  { return arnField(arn, 3) }

func arnField(arn string, i int) string {
	f := strings.SplitN(arn, ":", 6)
	if len(f) < 6 {
		return ""
	}
	return f[i]
}
