// Package event turns EventBridge events into typed, validated events that the intake
// Lambdas decide on. Parsing never panics: a malformed event is a permanent error that names
// the field, an event the product does not handle is a skip (fault.Skip) with the reason.
package event

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
)

// MaxSize is the largest event accepted: EventBridge's own limit (256 KiB). Anything larger
// did not come from EventBridge and is rejected before it is decoded.
const MaxSize = 256 * 1024

// Envelope is the EventBridge event around a detail.
type Envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"` // absent in events delivered by moto: never relied upon
	Time       Time            `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	ReplayName string          `json:"replay-name,omitempty"` // set on events delivered by a replay
	Detail     json.RawMessage `json:"detail"`
}

// Time is a timestamp that reads both RFC 3339 and the "+0000" form of Control Tower
// (2019-11-15T11:45:18+0000).
type Time struct{ time.Time }

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05.999999999Z0700"}

// ParseTime parses a timestamp in any of the accepted forms.
func ParseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q: want RFC 3339 or 2006-01-02T15:04:05+0000", truncate(s, 64))
}

// UnmarshalJSON reads a JSON string timestamp; null and "" leave the zero time.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp: must be a string")
	}
	if s == "" {
		return nil
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// MarshalJSON writes RFC 3339.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte(`""`), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339))
}

var accountRE = regexp.MustCompile(`^[0-9]{12}$`)

// accountField reads an account id at path from raw JSON: a string of exactly 12 digits,
// leading zeros kept. A number, a wrong length or anything else is a permanent error that
// names the field. required=false lets a missing or null value through as "".
func accountField(path string, raw json.RawMessage, required bool) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		if required {
			return "", fault.Permanentf("%s: required, a 12-digit account id", path)
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fault.Permanentf("%s: must be a string of 12 digits, got %s", path, jsonKind(raw))
	}
	if !accountRE.MatchString(s) {
		return "", fault.Permanentf("%s=%q: must be exactly 12 digits", path, truncate(s, 32))
	}
	return s, nil
}

// jsonKind names the JSON type of raw for error messages, without echoing it.
func jsonKind(raw json.RawMessage) string {
	s := strings.TrimLeft(string(raw), " \t\r\n")
	if s == "" {
		return "nothing"
	}
	switch s[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// truncate keeps error messages and logs short whatever the input.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
