//go:build integration

package deploy_test

// The guide runs: every command of docs/DEPLOY.md marked [moto] is run, as written, against a
// fresh moto, in order, in one shell, so that the guide cannot drift from the templates and
// the code. A manual request the guide puts on a bus is also parsed by the onboarder's own
// event parser, which must accept it.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/event"
)

// values that [AWS only] commands (the central stack's outputs) would give the later ones.
var awsOnlyValues = map[string]string{
	"BUS_ARN":            "arn:aws:events:us-east-1:123456789012:event-bus/cloudone-onboarder",
	"RECONCILE_ROLE_ARN": "arn:aws:iam::123456789012:role/cloudone-onboarder/reconcile/cloudone-onboarder-ReconcileRole-1A2B3C",
}

var putEventsRE = regexp.MustCompile(`(?s)aws events put-events --entries '(\[.*?\])'`)

func TestDeployGuideRuns(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatalf("the guide's commands run with the AWS CLI: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	blocks := shellBlocks(t, filepath.Join(root, "docs", "DEPLOY.md"))
	var script strings.Builder
	ran := 0
	for _, b := range blocks {
		marked := false
		for _, c := range b {
			marked = marked || c.moto
		}
		if !marked {
			continue
		}
		// A block with a [moto] command runs whole, but for its [AWS only] commands: its
		// unmarked lines set up what the marked ones use (umask, read, variables).
		for _, c := range b {
			if c.aws {
				continue
			}
			if strings.HasPrefix(strings.TrimSpace(c.text), "make ") {
				continue // the zips are made below, in the scratch copy
			}
			if c.moto {
				ran++
				for _, m := range putEventsRE.FindAllStringSubmatch(c.text, -1) {
					checkManualRequests(t, c.line, m[1])
				}
			}
			script.WriteString("echo '== DEPLOY.md line " + itoa(c.line) + "'\n")
			script.WriteString(c.text)
		}
	}
	if ran < 15 {
		t.Fatalf("only %d [moto] commands found in docs/DEPLOY.md: the parser lost some", ran)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	moto, err := localworld.StartMoto(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer moto.Stop()
	// A scratch copy of the templates, with stand-in zips where `make package` puts them.
	tree := t.TempDir()
	for _, d := range []string{"deploy", "dist"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"template.yaml", "member.yaml", "forwarder.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, "deploy", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tree, "deploy", f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, fn := range []string{"accountvending", "trailguard", "sweep", "reconcile"} {
		if err := os.WriteFile(filepath.Join(tree, "dist", fn+".zip"), []byte("PK stand-in"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	config := filepath.Join(tree, "aws-config")
	if err := os.WriteFile(config, []byte("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	prelude := "set -euo pipefail\naws organizations create-organization --feature-set ALL >/dev/null\n"
	for k, v := range awsOnlyValues {
		prelude += k + "=" + v + "\n"
	}
	cmd := exec.CommandContext(ctx, "bash", "-c", prelude+script.String())
	cmd.Dir = tree
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tree, "AWS_CONFIG_FILE=" + config, "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_ENDPOINT_URL=" + moto.URL, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_PAGER="}
	// The guide reads the key and the token at a prompt.
	cmd.Stdin = strings.NewReader("GUIDEKEY:guide-secret\nguide-token\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("a [moto] command of docs/DEPLOY.md failed (%v); the last line names it:\n%s", err, tail(string(out), 3000))
	}
	t.Logf("%d [moto] commands ran", ran)
}

// checkManualRequests parses each manual request of a put-events command with the event parser.
func checkManualRequests(t *testing.T, line int, entries string) {
	t.Helper()
	var es []struct {
		Source, DetailType, Detail, EventBusName string
	}
	if err := json.Unmarshal([]byte(entries), &es); err != nil {
		t.Errorf("DEPLOY.md line %d: the entries are not JSON: %v", line, err)
		return
	}
	for _, e := range es {
		env, _ := json.Marshal(map[string]any{"version": "0", "id": "docs-1", "detail-type": e.DetailType, "source": e.Source,
			"account": "123456789012", "time": "2026-12-01T00:00:00Z", "region": "us-east-1", "resources": []string{},
			"detail": json.RawMessage(e.Detail)})
		ev, err := event.Default.Parse(env)
		if err != nil {
			t.Errorf("DEPLOY.md line %d: the onboarder rejects this event: %v", line, err)
			continue
		}
		if ev.Kind != event.KindManual {
			t.Errorf("DEPLOY.md line %d: parsed as %s, want a manual request", line, ev.Kind)
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
