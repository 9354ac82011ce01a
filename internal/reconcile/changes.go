package reconcile

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
)

// changes lists what differs between the stack and the desired state (nil desired: nothing
// known), parameter by parameter; secrets are masked and their change is told by the secret's
// version id.
func changes(obs stack.Observed, d *stack.Desired) []Change {
	if d == nil {
		return nil
	}
	var out []Change
	keys := make([]string, 0, len(d.Params))
	for k := range d.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		before, ok := obs.Params[k]
		if before != d.Params[k] || (obs.Exists && !ok) {
			out = append(out, Change{Parameter: k, Before: before, After: d.Params[k]})
		}
	}
	if secrets := d.SecretNames(); len(secrets) > 0 {
		if before := obs.Tags[stack.TagSecretVersion]; before != d.SecretVersion {
			b := ""
			if obs.Exists {
				b = stack.Masked + " (secret version " + orNone(before) + ")"
			}
			out = append(out, Change{Parameter: strings.Join(secrets, ", "), Before: b, After: stack.Masked + " (secret version " + d.SecretVersion + ")"})
		}
	}
	// The template: told by the stack's template tag; a stack written before that tag existed
	// tells it only by its fingerprint, when nothing else differs.
	switch before, ok := obs.Tags[stack.TagTemplate]; {
	case ok && before != stack.TemplateLabel(d.Template()):
		out = append(out, Change{Parameter: "template", Before: before, After: stack.TemplateLabel(d.Template())})
	case obs.Exists && !ok && len(out) == 0 && obs.Tags[stack.TagFingerprint] != d.Fingerprint():
		out = append(out, Change{Parameter: "template", Before: "(other template or settings)", After: d.Template()})
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
