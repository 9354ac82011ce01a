// Package secret holds the Cloud One credentials in a type that cannot print itself.
// internal/secretstore reads them from Secrets Manager.
package secret

import (
	"fmt"
	"log/slog"
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
	VersionID    string // the secret version: part of the stack fingerprint, so rotation updates stacks
}
