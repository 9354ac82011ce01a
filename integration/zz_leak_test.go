//go:build integration

package integration

import (
	"strings"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
)

// TestE2ENoSecretInOutput runs last (files run in name order): it onboards an account, so
// that the key and the token flow from the secret through the reconcile into a stack, then
// reads every line every Lambda process and moto wrote during the whole run, and everything
// the test binary printed so far, and finds neither the API key (nor its secret part) nor
// the token. TestMain repeats the check over the complete output after the last test.
func TestE2ENoSecretInOutput(t *testing.T) {
	w := newWorld(t, worldOpts{})
	a := w.org.Account("work-a")
	w.onboard(a)
	// The secret did flow: the product sent it to CloudFormation (the recorder keeps request
	// bodies in memory only).
	sent := false
	for _, c := range suite.rec.Calls(localworld.InAccount(a.ID), localworld.WithAction("CreateStack")) {
		if strings.Contains(string(c.Body), c1Key.Secret) {
			sent = true
		}
	}
	if !sent {
		t.Fatal("no CreateStack carried the API key: the leak check would prove nothing")
	}
	lambdaLogs := suite.allLogs.String()
	if !strings.Contains(lambdaLogs, `"message":"reconcile"`) {
		t.Fatal("no reconcile log line collected: the leak check would prove nothing")
	}
	if leaks := findLeaks(lambdaLogs); len(leaks) > 0 {
		t.Errorf("a secret appears in the process logs: %s", strings.Join(leaks, "; "))
	}
	if leaks := findLeaks(suite.output.String()); len(leaks) > 0 {
		t.Errorf("a secret appears in the test output: %s", strings.Join(leaks, "; "))
	}
	t.Logf("checked %d bytes of process logs and %d bytes of test output", len(lambdaLogs), suite.output.Len())
}
