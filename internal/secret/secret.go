// Package secret holds the vendor's credentials (the Cloud One key, the Vision One key) in a
// type that cannot print itself.
// internal/secretstore reads them from Secrets Manager.
package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
)

// Value is a secret string. Every way of printing it (fmt verbs, slog, JSON) shows
// "[redacted]"; Reveal is the one way to the value, for the places that must send it.
type Value struct{ v string }

// NewValue wraps a secret string.
func NewValue(s string) Value { return Value{v: s} }

func (Value) String() string                  { return "[redacted]" }
func (Value) GoString() string                { return "[redacted]" }
func (Value) LogValue() slog.Value            { return slog.StringValue("[redacted]") }
func (Value) MarshalJSON() ([]byte, error)    { return []byte(`"[redacted]"`), nil }
func (Value) MarshalText() ([]byte, error)    { return []byte("[redacted]"), nil }
func (v Value) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte("[redacted]")) }

// Reveal returns the secret itself.
func (v Value) Reveal() string { return v.v }

// Empty reports whether the value is empty.
func (v Value) Empty() bool { return v.v == "" }

// Credentials are the contents of the onboarder's secret.
type Credentials struct {
	APIKey       Value  // cloudOneApiKey
	ServiceToken Value  // visionOneServiceToken
	VisionOneKey Value  // visionOneApiKey: the onboarder's own key for Vision One's API (the Vision One target)
	VersionID    string // the secret version: part of the stack fingerprint, so rotation updates stacks
}

// Redacted is what Scrub puts in place of a secret.
const Redacted = "[redacted]"

// Scrub removes every form of the credentials' values from a text, whatever produced it (an
// AWS error that quotes a parameter, a custom resource's message that quotes its input, an
// HTTP answer): each value, the secret part of the API key (after its first ':', the part
// before it being the key's id), and the URL-escaped and JSON-escaped forms of each. Values
// shorter than 4 characters are left alone: they would blank out ordinary words.
func (c Credentials) Scrub(text string) string {
	for _, form := range c.forms() {
		text = strings.ReplaceAll(text, form, Redacted)
	}
	return text
}

// forms are the strings Scrub removes, longest first, so that a longer form is not cut into
// pieces by a shorter one it contains.
func (c Credentials) forms() []string {
	var raw []string
	for _, v := range []Value{c.APIKey, c.ServiceToken, c.VisionOneKey} {
		raw = append(raw, v.v)
		if _, after, ok := strings.Cut(v.v, ":"); ok {
			raw = append(raw, after)
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range raw {
		for _, f := range []string{r, url.QueryEscape(r), url.PathEscape(r), jsonString(r, true), jsonString(r, false)} {
			if len(f) >= 4 && !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// jsonString is s as a JSON string's content, with <, > and & escaped (as Go's encoders write
// them) or not (as most others do).
func jsonString(s string, escapeHTML bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(s)
	return strings.Trim(strings.TrimSpace(b.String()), `"`)
}
