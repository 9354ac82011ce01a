package visionone

import (
	"fmt"
	"sort"
	"strings"
)

// hosts are the API base URLs of the Vision One regions.
//
// The region codes are the ones trendmicro/vision-one-mcp-server's README lists for its
// -region option ("au, jp, eu, sg, in, us or mea"). The hosts follow its
// internal/v1client/v1client.go (getRegionURL): us is https://api.xdr.trendmicro.com and jp
// https://api.xdr.trendmicro.co.jp, both written out there; every other code is
// https://api.<code>.xdr.trendmicro.com by that function's pattern. So the hosts of au, eu,
// sg, in and mea are inferred from the pattern, not read anywhere one by one: a region whose
// host differs needs the client's BaseURL set directly.
var hosts = map[string]string{
	"us":  "https://api.xdr.trendmicro.com",
	"jp":  "https://api.xdr.trendmicro.co.jp",
	"au":  "https://api.au.xdr.trendmicro.com",  // inferred from the pattern
	"eu":  "https://api.eu.xdr.trendmicro.com",  // inferred from the pattern
	"sg":  "https://api.sg.xdr.trendmicro.com",  // inferred from the pattern
	"in":  "https://api.in.xdr.trendmicro.com",  // inferred from the pattern
	"mea": "https://api.mea.xdr.trendmicro.com", // inferred from the pattern
}

// BaseURL returns the API base URL of a Vision One region (us, eu, jp, au, sg, in, mea).
func BaseURL(region string) (string, error) {
	if u, ok := hosts[strings.ToLower(strings.TrimSpace(region))]; ok {
		return u, nil
	}
	return "", fmt.Errorf("unknown Vision One region %q: not one of %v", region, Regions())
}

// Regions lists the Vision One region codes BaseURL knows, sorted.
func Regions() []string {
	out := make([]string, 0, len(hosts))
	for k := range hosts {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
