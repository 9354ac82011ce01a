package config

import (
	"strings"
	"testing"
	"time"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaults(t *testing.T) {
	c, err := FromLookup(lookup(map[string]string{"ONBOARDER_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:111111111111:secret:x"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.StackName != "CloudOne" || c.TrailMode != TrailAuto || c.ExecutionRoleName != "AWSControlTowerExecution" ||
		c.QSS3BucketName != "cloudone-community" || c.QSS3KeyPrefix != "" || c.TemplateURL != DefaultTemplateURL || c.DryRun || c.AdoptExisting ||
		c.Offboard != OffboardReport {
		t.Fatalf("defaults %+v", c)
	}
}

// Every problem is reported at once, each naming the field, the value and the rule.
func TestValidateReportsEverything(t *testing.T) {
	c, err := FromLookup(lookup(map[string]string{
		"ONBOARDER_STACK_NAME":       "CloudOneStack",
		"ONBOARDER_QSS3_BUCKET_NAME": "bad_bucket",
		"ONBOARDER_QSS3_KEY_PREFIX":  "prefix",
		"ONBOARDER_CLOUDONE_REGION":  "us-2",
		"ONBOARDER_TRAIL_MODE":       "sometimes",
		"ONBOARDER_OFFBOARD":         "erase",
		"ONBOARDER_EXCLUDE_ACCOUNTS": "12345678901,012345678901",
		"ONBOARDER_INCLUDE_OUS":      "ou-abcd-12345678,sales",
	}))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"ONBOARDER_SECRET_ARN is required",
		`ONBOARDER_STACK_NAME="CloudOneStack": must be 1 to 8 characters`,
		`ONBOARDER_QSS3_BUCKET_NAME="bad_bucket"`,
		`ONBOARDER_QSS3_KEY_PREFIX="prefix": must end with /`,
		`ONBOARDER_CLOUDONE_REGION="us-2": must be one of au-1, ca-1, de-1, gb-1, in-1, jp-1, sg-1, us-1`,
		`ONBOARDER_TRAIL_MODE="sometimes"`,
		`ONBOARDER_OFFBOARD="erase": must be report or delete`,
		`ONBOARDER_EXCLUDE_ACCOUNTS="12345678901"`,
		`ONBOARDER_INCLUDE_OUS="sales"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "012345678901") {
		t.Error("a valid account id was reported")
	}
}

func TestMalformedValues(t *testing.T) {
	_, err := FromLookup(lookup(map[string]string{"ONBOARDER_DRY_RUN": "yes please", "ONBOARDER_CHECK_MIN_DELAY": "soon", "ONBOARDER_MAX_STARTS_PER_MINUTE": "-3"}))
	for _, want := range []string{"ONBOARDER_DRY_RUN", "ONBOARDER_CHECK_MIN_DELAY", "ONBOARDER_MAX_STARTS_PER_MINUTE"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err %v lacks %s", err, want)
		}
	}
	c := Default()
	c.SecretARN = "arn:aws:secretsmanager:us-east-1:111111111111:secret:x"
	c.CheckMinDelay, c.CheckMaxDelay, c.InstallAccount = 500*time.Millisecond, 24*time.Hour, "12"
	c.MaxFailures, c.AssumeRoleGrace = 0, -time.Minute
	err = c.Validate()
	for _, want := range []string{"ONBOARDER_CHECK_MIN_DELAY=500ms", "ONBOARDER_CHECK_MAX_DELAY=24h0m0s", `ONBOARDER_INSTALL_ACCOUNT="12"`,
		"ONBOARDER_MAX_FAILURES=0", "ONBOARDER_ASSUME_ROLE_GRACE=-1m0s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v lacks %s", err, want)
		}
	}
}

func TestStackNames(t *testing.T) {
	for name, ok := range map[string]bool{"CloudOne": true, "C": true, "C1-x": true, "": false, "1Cloud": false, "CloudOne1": false, "Cloud_1": false, "-abc": false} {
		c := Default()
		c.SecretARN = "arn:aws:secretsmanager:us-east-1:111111111111:secret:x"
		c.StackName = name
		if got := c.Validate() == nil; got != ok {
			t.Errorf("stack name %q valid=%v, want %v", name, got, ok)
		}
	}
}

func TestAccountIDs(t *testing.T) {
	for id, ok := range map[string]bool{"012345678901": true, "000000000000": true, "12345678901": false, "1234567890123": false, "12345678901a": false, " 12345678901": false} {
		if got := ValidateAccountID(id) == nil; got != ok {
			t.Errorf("%q valid=%v, want %v", id, got, ok)
		}
	}
}
