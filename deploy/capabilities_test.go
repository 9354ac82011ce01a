package deploy_test

// Every command that deploys one of the templates acknowledges what the template holds. AWS
// refuses a stack with IAM resources unless CAPABILITY_IAM or CAPABILITY_NAMED_IAM is given,
// and one whose IAM resources have custom names (a RoleName, a ManagedPolicyName) unless
// CAPABILITY_NAMED_IAM is: "If you have IAM resources with custom names, you must specify
// CAPABILITY_NAMED_IAM. If you don't specify either of these capabilities, CloudFormation
// returns an InsufficientCapabilities error" (CloudFormation API Reference, CreateStack,
// Capabilities: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html).
// moto 5.2.1 checks no capability (moto/cloudformation/responses.py reads Capabilities and
// keeps them), so the guide's [moto] run cannot catch a missing one: this test does.

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// iamTypes are the resource types CreateStack's Capabilities names as IAM resources, and the
// property that gives each a custom name ("" where it has none).
var iamTypes = map[string]string{
	"AWS::IAM::AccessKey": "", "AWS::IAM::Group": "GroupName", "AWS::IAM::InstanceProfile": "InstanceProfileName",
	"AWS::IAM::ManagedPolicy": "ManagedPolicyName", "AWS::IAM::Policy": "", "AWS::IAM::Role": "RoleName",
	"AWS::IAM::User": "UserName", "AWS::IAM::UserToGroupAddition": "",
}

// capabilitiesNeeded reads a template: CAPABILITY_NAMED_IAM when an IAM resource has a custom
// name, CAPABILITY_IAM when it has IAM resources (a SAM function without a Role makes one),
// "" when none. why names the first resource that decided it.
func capabilitiesNeeded(t *testing.T, file string) (need, why string) {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range pairs(get(parse(t, src), "Resources")) {
		typ, props := get(kv[1], "Type").Value, get(kv[1], "Properties")
		named, isIAM := iamTypes[typ]
		if typ == "AWS::Serverless::Function" && get(props, "Role") == nil {
			isIAM = true
		}
		switch {
		case isIAM && named != "" && get(props, named) != nil:
			return "CAPABILITY_NAMED_IAM", kv[0].Value + " (" + typ + ") has a " + named
		case isIAM && need == "":
			need, why = "CAPABILITY_IAM", kv[0].Value+" ("+typ+")"
		}
	}
	return need, why
}

var (
	deployVerb  = regexp.MustCompile(`aws cloudformation (?:deploy|create-stack|update-stack|create-stack-set|update-stack-set|create-change-set)\b`)
	templateArg = regexp.MustCompile(`--template-(?:file|body)\s+(?:file://)?(\S+)`)
	capsArg     = regexp.MustCompile(`--capabilities((?:\s+CAPABILITY_[A-Z_]+)+)`)
)

// deployCommand is a command that creates or updates a stack or a StackSet from a file.
type deployCommand struct {
	where, text, template string
}

func deployCommands(t *testing.T, root string) []deployCommand {
	t.Helper()
	var out []deployCommand
	add := func(where, text string) {
		if !deployVerb.MatchString(text) {
			return
		}
		m := templateArg.FindStringSubmatch(text)
		if m == nil {
			return
		}
		file := m[1]
		switch {
		case strings.Contains(file, "packaged.yaml"): // deploy/template.yaml after `make package`
			file = "deploy/template.yaml"
		case strings.Contains(file, "$(DIST)"), strings.Contains(file, "$"):
			t.Errorf("%s: the template %s is not a file of the repository this test can read", where, file)
			return
		}
		out = append(out, deployCommand{where: where, text: text, template: filepath.Join(root, file)})
	}
	for _, block := range shellBlocks(t, filepath.Join(root, "docs", "DEPLOY.md")) {
		for _, c := range block {
			add("docs/DEPLOY.md line "+itoa(c.line), stripCommentsAll(c.text))
		}
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(mk), "\n") {
		add("Makefile line "+itoa(i+1), l)
	}
	return out
}

func TestDeployCommandsAcknowledgeIAM(t *testing.T) {
	root := filepath.Join("..")
	cmds := deployCommands(t, root)
	if len(cmds) < 8 {
		t.Fatalf("only %d deploy commands found in docs/DEPLOY.md and the Makefile: the reader lost some", len(cmds))
	}
	for _, c := range cmds {
		need, why := capabilitiesNeeded(t, c.template)
		var given []string
		if m := capsArg.FindStringSubmatch(c.text); m != nil {
			given = strings.Fields(m[1])
		}
		switch {
		case need == "CAPABILITY_NAMED_IAM" && !slices.Contains(given, need):
			t.Errorf("%s deploys %s with capabilities %v: %s, so CloudFormation wants CAPABILITY_NAMED_IAM (InsufficientCapabilities)",
				c.where, filepath.Base(c.template), given, why)
		case need == "CAPABILITY_IAM" && !slices.Contains(given, "CAPABILITY_IAM") && !slices.Contains(given, "CAPABILITY_NAMED_IAM"):
			t.Errorf("%s deploys %s with capabilities %v: it has IAM resources (%s) (InsufficientCapabilities)",
				c.where, filepath.Base(c.template), given, why)
		}
	}
}

// The reader itself: a template with a named role needs CAPABILITY_NAMED_IAM, one with an
// unnamed role CAPABILITY_IAM, and the central template's operator policy has a custom name.
func TestCapabilitiesNeeded(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	named := write("named.yaml", "Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: !Ref N\n")
	anon := write("anon.yaml", "Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      Path: /x/\n")
	none := write("none.yaml", "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n")
	for file, want := range map[string]string{named: "CAPABILITY_NAMED_IAM", anon: "CAPABILITY_IAM", none: ""} {
		if got, _ := capabilitiesNeeded(t, file); got != want {
			t.Errorf("%s: %q, want %q", filepath.Base(file), got, want)
		}
	}
	if got, why := capabilitiesNeeded(t, filepath.Join("template.yaml")); got != "CAPABILITY_NAMED_IAM" {
		t.Errorf("deploy/template.yaml: %q (%s), want CAPABILITY_NAMED_IAM: its operator policy has a ManagedPolicyName", got, why)
	}
}
