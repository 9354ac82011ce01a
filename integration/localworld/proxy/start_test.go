package proxy_test

import (
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
)

// The proxy forwards to a server on this machine only, over plain HTTP: it never reaches AWS.
// (The tests of what it does to calls run against moto, behind the integration tag.)
func TestStartRefusesNonLoopbackUpstream(t *testing.T) {
	for _, u := range []string{"http://example.com", "https://127.0.0.1:1", "http://10.0.0.1:5000"} {
		if p, err := proxy.Start(u); err == nil {
			p.Close()
			t.Errorf("Start(%q) accepted", u)
		}
	}
}
