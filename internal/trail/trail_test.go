package trail_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/fake"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

const (
	acct   = "012345678901"
	region = "eu-central-1"
)

// vtrail is a trail of the account that Vision One can use, changed by f.
func vtrail(name string, f func(t *cttypes.Trail)) cttypes.Trail {
	t := cttypes.Trail{
		Name: aws.String(name), TrailARN: aws.String("arn:aws:cloudtrail:" + region + ":" + acct + ":trail/" + name),
		HomeRegion: aws.String(region), S3BucketName: aws.String(name + "-logs"), LogFileValidationEnabled: aws.Bool(true),
		SnsTopicARN: aws.String("arn:aws:sns:" + region + ":" + acct + ":" + name + "-deliveries"),
	}
	if f != nil {
		f(&t)
	}
	return t
}

// Vision One's rules: the trail and its topic in the stack's account and region, management
// events read and write, log file validation; a trail that misses one is skipped, saying why,
// and the onboarder's trail stack provides one where none qualifies.
func TestVisionOneRules(t *testing.T) {
	cases := []struct {
		name      string
		trail     cttypes.Trail
		selectors *cloudtrail.GetEventSelectorsOutput
		mode      config.TrailMode
		chosen    bool
		skipped   string
	}{
		{"usable", vtrail("audit", nil), nil, config.TrailAuto, true, ""},
		{"multi-region, home here", vtrail("audit", func(t *cttypes.Trail) { t.IsMultiRegionTrail = aws.Bool(true) }), nil, config.TrailAuto, true, ""},
		{"multi-region, home elsewhere", vtrail("audit", func(t *cttypes.Trail) {
			t.IsMultiRegionTrail, t.HomeRegion = aws.Bool(true), aws.String("us-east-1")
		}), nil, config.TrailAuto, false, "its home region is us-east-1"},
		{"no topic", vtrail("audit", func(t *cttypes.Trail) { t.SnsTopicARN = nil }), nil, config.TrailAuto, false, "notifies no SNS topic"},
		{"topic of another account", vtrail("audit", func(t *cttypes.Trail) { t.SnsTopicARN = aws.String("arn:aws:sns:" + region + ":999999999999:t") }), nil, config.TrailAuto, false, "is not in " + acct + "/" + region},
		{"no validation", vtrail("audit", func(t *cttypes.Trail) { t.LogFileValidationEnabled = aws.Bool(false) }), nil, config.TrailAuto, false, "log file validation is off"},
		{"write only", vtrail("audit", func(t *cttypes.Trail) { t.HasCustomEventSelectors = aws.Bool(true) }),
			&cloudtrail.GetEventSelectorsOutput{EventSelectors: []cttypes.EventSelector{{IncludeManagementEvents: aws.Bool(true), ReadWriteType: cttypes.ReadWriteTypeWriteOnly}}},
			config.TrailAuto, false, "both read and write"},
		{"read and write", vtrail("audit", func(t *cttypes.Trail) { t.HasCustomEventSelectors = aws.Bool(true) }),
			&cloudtrail.GetEventSelectorsOutput{EventSelectors: []cttypes.EventSelector{{IncludeManagementEvents: aws.Bool(true), ReadWriteType: cttypes.ReadWriteTypeAll}}},
			config.TrailAuto, true, ""},
		{"advanced, write only", vtrail("audit", func(t *cttypes.Trail) { t.HasCustomEventSelectors = aws.Bool(true) }),
			&cloudtrail.GetEventSelectorsOutput{AdvancedEventSelectors: []cttypes.AdvancedEventSelector{{FieldSelectors: []cttypes.AdvancedFieldSelector{
				{Field: aws.String("eventCategory"), Equals: []string{"Management"}}, {Field: aws.String("readOnly"), Equals: []string{"false"}}}}}},
			config.TrailAuto, false, "both read and write"},
		{"organization trail", vtrail("org", func(t *cttypes.Trail) {
			t.TrailARN = aws.String("arn:aws:cloudtrail:" + region + ":999999999999:trail/org")
		}), nil, config.TrailAuto, false, "another account"},
		{"mode new", vtrail("audit", nil), nil, config.TrailNew, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ct := &fake.CloudTrail{Selectors: map[string]*cloudtrail.GetEventSelectorsOutput{}}
			ct.AddTrail(tc.trail, true)
			if tc.selectors != nil {
				ct.Selectors[aws.ToString(tc.trail.TrailARN)] = tc.selectors
			}
			c := trail.Clients{CloudTrail: func(string) trail.API { return ct }, S3: &fake.S3{}}
			ch, err := trail.Resolve(context.Background(), c, trail.Input{Account: acct, Region: region, Mode: tc.mode, Rules: trail.VisionOne})
			if err != nil {
				t.Fatal(err)
			}
			if tc.chosen {
				if ch.CreateNewTrail || ch.TrailARN != aws.ToString(tc.trail.TrailARN) || ch.TopicARN != aws.ToString(tc.trail.SnsTopicARN) {
					t.Fatalf("choice %+v, want the trail and its topic", ch)
				}
				return
			}
			if !ch.CreateNewTrail || !strings.Contains(ch.Why, "the onboarder's trail stack provides one") {
				t.Fatalf("choice %+v, want the onboarder's trail stack", ch)
			}
			if tc.skipped != "" && !strings.Contains(strings.Join(ch.Skipped, "; "), tc.skipped) {
				t.Errorf("skipped %v, want %q", ch.Skipped, tc.skipped)
			}
		})
	}
}

// The onboarder's trail stack's trail (its tag) is kept once the stack names it, and found in
// mode new; another usable trail does not replace it (auto prefers what the stack uses).
func TestVisionOneOwnTrail(t *testing.T) {
	own := vtrail("cloudone-onboarder-trail", nil)
	other := vtrail("audit", nil)
	ct := &fake.CloudTrail{Tags: map[string][]cttypes.Tag{aws.ToString(own.TrailARN): {{Key: aws.String(trail.ManagedTag), Value: aws.String("true")}}}}
	ct.AddTrail(other, true)
	ct.AddTrail(own, false)
	c := trail.Clients{CloudTrail: func(string) trail.API { return ct }}
	ch, err := trail.Resolve(context.Background(), c, trail.Input{Account: acct, Region: region, Mode: config.TrailAuto, Rules: trail.VisionOne, CurrentTrail: aws.ToString(own.TrailARN)})
	if err != nil {
		t.Fatal(err)
	}
	if !ch.CreateNewTrail || ch.TrailARN != aws.ToString(own.TrailARN) || ch.TopicARN != aws.ToString(own.SnsTopicARN) || !ch.Stopped {
		t.Fatalf("choice %+v: want the onboarder's own trail kept, and started again", ch)
	}
	ch, err = trail.Resolve(context.Background(), c, trail.Input{Account: acct, Region: region, Mode: config.TrailNew, Rules: trail.VisionOne})
	if err != nil || !ch.CreateNewTrail || ch.TrailARN != aws.ToString(own.TrailARN) {
		t.Fatalf("mode new: %+v %v", ch, err)
	}
	ch, err = trail.Resolve(context.Background(), c, trail.Input{Account: acct, Region: region, Mode: config.TrailAuto, Rules: trail.VisionOne})
	if err != nil || ch.CreateNewTrail || ch.TrailARN != aws.ToString(other.TrailARN) {
		t.Fatalf("auto, no trail named yet: %+v %v, want the account's usable trail", ch, err)
	}
}

// The trail a Vision One stack names, stopped, stays the choice and is started again; another
// usable trail does not replace it. Not named, a stopped trail is passed over.
func TestVisionOneCurrentTrailStopped(t *testing.T) {
	current, other := vtrail("audit", nil), vtrail("another", nil)
	ct := &fake.CloudTrail{}
	ct.AddTrail(current, false)
	ct.AddTrail(other, true)
	c := trail.Clients{CloudTrail: func(string) trail.API { return ct }}
	ch, err := trail.Resolve(context.Background(), c, trail.Input{Account: acct, Region: region, Mode: config.TrailAuto, Rules: trail.VisionOne, CurrentTrail: aws.ToString(current.TrailARN)})
	if err != nil {
		t.Fatal(err)
	}
	if ch.CreateNewTrail || ch.TrailARN != aws.ToString(current.TrailARN) || ch.TopicARN != aws.ToString(current.SnsTopicARN) || !ch.Stopped {
		t.Fatalf("choice %+v: want the stack's stopped trail kept, to be started again", ch)
	}
	ch, err = trail.Resolve(context.Background(), c, trail.Input{Account: acct, Region: region, Mode: config.TrailAuto, Rules: trail.VisionOne})
	if err != nil || ch.TrailARN != aws.ToString(other.TrailARN) || ch.Stopped {
		t.Fatalf("no trail named: %+v %v, want the logging trail", ch, err)
	}
}

// The onboarder's trail stack's trail, chosen where no other trail is usable (before the Vision
// One stack exists, or names it), is called what it is, and why it is the choice: not "the
// stack's own trail" (Cloud One's stack makes its own; Vision One's makes none), nor "what the
// stack already uses".
func TestVisionOneOwnTrailSaysWhy(t *testing.T) {
	own := vtrail("cloudone-onboarder-visionone", nil)
	ct := &fake.CloudTrail{Tags: map[string][]cttypes.Tag{aws.ToString(own.TrailARN): {{Key: aws.String(trail.ManagedTag), Value: aws.String("true")}}}}
	ct.AddTrail(own, true)
	c := trail.Clients{CloudTrail: func(string) trail.API { return ct }}
	ch, err := trail.Resolve(context.Background(), c, trail.Input{Account: acct, Region: region, Mode: config.TrailAuto, Rules: trail.VisionOne})
	if err != nil || !ch.CreateNewTrail || ch.TrailARN != aws.ToString(own.TrailARN) {
		t.Fatalf("choice %+v %v", ch, err)
	}
	if want := "the trail stack's trail cloudone-onboarder-visionone logs; kept (no other trail is usable)"; ch.Why != want {
		t.Errorf("why %q, want %q", ch.Why, want)
	}
	ch, _ = trail.Resolve(context.Background(), c, trail.Input{Account: acct, Region: region, Mode: config.TrailAuto, Rules: trail.VisionOne, CurrentTrail: aws.ToString(own.TrailARN)})
	if want := "the trail stack's trail cloudone-onboarder-visionone logs; kept (auto mode prefers what the stack already uses)"; ch.Why != want {
		t.Errorf("named by the stack: why %q, want %q", ch.Why, want)
	}
}
