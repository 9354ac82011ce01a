package cloudone

import (
	"fmt"
	"sort"
)

// regionTable maps Cloud One regions to the AWS region where the onboarding stack must live
// (aws-ia/cfn-abi-trend-cloudone@39352c3 templates/trend-cloudone-onboard/README.md, "Limitations";
// docs/ARCHITECTURE.md, section 3).
var regionTable = map[string]string{
	"us-1": "us-east-1",
	"in-1": "ap-south-1",
	"gb-1": "eu-west-2",
	"au-1": "ap-southeast-2",
	"de-1": "eu-central-1",
	"jp-1": "ap-northeast-1",
	"sg-1": "ap-southeast-1",
	"ca-1": "ca-central-1",
}

// AWSRegion maps a Cloud One region to its AWS region.
func AWSRegion(cloudOneRegion string) (string, error) {
	r, ok := regionTable[cloudOneRegion]
	if !ok {
		return "", fmt.Errorf("unknown Cloud One region %q: not one of %v", cloudOneRegion, Regions())
	}
	return r, nil
}

// Regions lists the Cloud One regions, sorted.
func Regions() []string {
	out := make([]string, 0, len(regionTable))
	for k := range regionTable {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
