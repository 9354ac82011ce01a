//go:build integration

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
)

// TestStandInTemplateLints checks the stand-in onboarding template with cfn-lint, the
// reference checker (preinstalled with Python here; pip install cfn-lint elsewhere).
func TestStandInTemplateLints(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatal("cfn-lint is not on PATH: install it with pip install cfn-lint")
	}
	file := filepath.Join(t.TempDir(), "onboarding-template.yaml")
	if err := os.WriteFile(file, localworld.OnboardingTemplate, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, file).CombinedOutput(); err != nil {
		t.Errorf("cfn-lint: %v\n%s", err, out)
	}
}
