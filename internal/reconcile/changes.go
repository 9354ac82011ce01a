package reconcile

import (
	"fmt"
	"strings"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
)

// changes lists what differs between the stack and the desired state (nil desired: nothing
// known); secrets are masked and their change is told by the secret's version id.
func changes(obs stack.Observed, d *stack.Desired) []Change {
	if d == nil {
		return nil
	}
	var out []Change
	for _, k := range []string{stack.ParamCreateNew, stack.ParamBucket, stack.ParamQSS3Bucket, stack.ParamQSS3KeyPrefix} {
		before, ok := obs.Params[k]
		if before != d.Params[k] || (obs.Exists && !ok) {
			out = append(out, Change{Parameter: k, Before: before, After: d.Params[k]})
		}
	}
	if before := obs.Tags[stack.TagSecretVersion]; before != d.Creds.VersionID {
		b := ""
		if obs.Exists {
			b = stack.Masked + " (secret version " + orNone(before) + ")"
		}
		out = append(out, Change{Parameter: stack.ParamAPIKey + ", " + stack.ParamServiceToken, Before: b, After: stack.Masked + " (secret version " + d.Creds.VersionID + ")"})
	}
	// The template: told by the stack's template tag; a stack written before that tag existed
	// tells it only by its fingerprint, when nothing else differs.
	switch before, ok := obs.Tags[stack.TagTemplate]; {
	case ok && before != stack.TemplateLabel(d.TemplateURL):
		out = append(out, Change{Parameter: "template", Before: before, After: stack.TemplateLabel(d.TemplateURL)})
	case obs.Exists && !ok && len(out) == 0 && obs.Tags[stack.TagFingerprint] != d.Fingerprint():
		out = append(out, Change{Parameter: "template", Before: "(other template or settings)", After: d.TemplateURL})
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func describeChanges(cs []Change) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s %q -> %q", c.Parameter, c.Before, c.After))
	}
	return strings.Join(parts, ", ")
}
