package event

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
)

// Kind is the family of an event; the intake Lambdas each handle some kinds.
type Kind string

const (
	KindManagedAccount Kind = "controltower-managed-account" // Control Tower Create/UpdateManagedAccount
	KindAccountCreated Kind = "organizations-create-account" // Organizations CreateAccountResult
	KindAccountCall    Kind = "organizations-account-call"   // Organizations CloseAccount, RemoveAccountFromOrganization, MoveAccount
	KindTrailCall      Kind = "cloudtrail-call"              // CloudTrail API call on a trail
	KindStackCall      Kind = "cloudformation-call"          // CloudFormation API call on a stack
	KindManual         Kind = "manual-request"               // onboarder.manual Reconcile Request
	KindSchedule       Kind = "schedule"                     // the daily sweep
)

// Detail types and sources the registry knows.
const (
	DetailAPICall      = "AWS API Call via CloudTrail"
	DetailServiceEvent = "AWS Service Event via CloudTrail"
	DetailScheduled    = "Scheduled Event"
	DetailManual       = "Reconcile Request"
	SourceManual       = "onboarder.manual"
)

// Event is a parsed, validated event. Exactly one of Lifecycle, Call, AccountCall and Manual
// is set for the kinds that have one; a schedule has none.
type Event struct {
	Envelope
	Kind      Kind
	Name      string     // detail.eventName for CloudTrail-shaped events, else the detail-type
	Account   string     // the account the event is about; "" for schedules and manual requests
	Region    string     // the region of the call or of the event
	Lifecycle *Lifecycle // KindManagedAccount, KindAccountCreated
	Call      *Call      // KindTrailCall, KindStackCall
	// AccountCall is an Organizations call that closes, removes or moves the account.
	AccountCall *AccountCall // KindAccountCall
	Manual      *Manual      // KindManual
}

// Trigger names the event in a queue.Request: "cloudtrail:StopLogging", "manual", "sweep".
func (e *Event) Trigger() string {
	switch e.Kind {
	case KindManual:
		return "manual"
	case KindSchedule:
		return "sweep"
	}
	return strings.TrimPrefix(e.Source, "aws.") + ":" + e.Name
}

// Key selects a parser. EventName is empty for events that are not CloudTrail-shaped.
type Key struct{ Source, DetailType, EventName string }

// Parser reads the detail of one kind of event into ev, whose envelope is already read.
type Parser func(ev *Event) error

// Registry maps keys to parsers. Unknown keys are skips, never errors.
type Registry struct{ parsers map[Key]Parser }

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{parsers: map[Key]Parser{}} }

// Register adds (or replaces) the parser of a key.
func (r *Registry) Register(k Key, p Parser) { r.parsers[k] = p }

// Keys lists the registered keys.
func (r *Registry) Keys() []Key {
	out := make([]Key, 0, len(r.parsers))
	for k := range r.parsers {
		out = append(out, k)
	}
	return out
}

// Lookup returns the parser of a key.
func (r *Registry) Lookup(k Key) (Parser, bool) {
	p, ok := r.parsers[k]
	return p, ok
}

// cloudTrailShaped reports whether the detail of a detail-type carries eventName.
func cloudTrailShaped(detailType string) bool { return strings.HasSuffix(detailType, "via CloudTrail") }

// Parse reads raw bytes into an event. Errors are classified: a malformed event is
// fault.Permanent (naming the field), an event no parser handles is a *fault.Skip. On error
// the returned event, when not nil, holds what could be read of the envelope (id,
// replay-name) for the log line. Parse never panics, whatever the input.
func (r *Registry) Parse(raw []byte) (*Event, error) {
	if len(raw) > MaxSize {
		return salvage(raw), fault.Permanentf("event: %d bytes, more than the %d EventBridge allows", len(raw), MaxSize)
	}
	ev := &Event{}
	if err := json.Unmarshal(raw, &ev.Envelope); err != nil {
		return salvage(raw), fault.Permanentf("event: not an EventBridge event: %s", jsonError(err))
	}
	if len(ev.ID) > maxID || len(ev.ReplayName) > maxID {
		ev.ID, ev.ReplayName = truncate(ev.ID, maxID), truncate(ev.ReplayName, maxID)
		return ev, fault.Permanentf("id or replay-name: longer than %d characters (an EventBridge id is a 36-character UUID)", maxID)
	}
	if ev.ID == "" {
		return ev, fault.Permanentf("id: required")
	}
	if ev.Version != "" && ev.Version != "0" {
		return ev, fault.Permanentf("version=%q: this parser reads EventBridge envelope version 0", truncate(ev.Version, 16))
	}
	if ev.Source == "" || ev.DetailType == "" {
		return ev, fault.Permanentf("source and detail-type: required")
	}
	ev.Region = ev.Envelope.Region
	ev.Name = ev.DetailType
	k := Key{Source: ev.Source, DetailType: ev.DetailType}
	if cloudTrailShaped(ev.DetailType) {
		var h struct {
			EventName string `json:"eventName"`
		}
		if err := json.Unmarshal(ev.Detail, &h); err != nil || h.EventName == "" {
			if err == nil {
				return ev, fault.Permanentf("detail.eventName: required")
			}
			return ev, fault.Permanentf("detail: %s", jsonError(err))
		}
		k.EventName, ev.Name = h.EventName, h.EventName
	}
	p, ok := r.parsers[k]
	if !ok {
		if k.EventName != "" {
			return ev, fault.Skipf("no parser for %s / %s / %s", truncate(k.Source, 64), truncate(k.DetailType, 64), truncate(k.EventName, 64))
		}
		return ev, fault.Skipf("no parser for %s / %s", truncate(k.Source, 64), truncate(k.DetailType, 64))
	}
	if err := p(ev); err != nil {
		return ev, err
	}
	return ev, nil
}

// salvage reads the id and replay-name of an event that did not parse, for the log line.
// maxID bounds the id and replay-name of an event, which are logged and enqueued.
const maxID = 128

func salvage(raw []byte) *Event {
	if len(raw) > MaxSize {
		raw = nil
	}
	var s struct {
		ID         any `json:"id"`
		ReplayName any `json:"replay-name"`
	}
	_ = json.Unmarshal(raw, &s)
	ev := &Event{}
	ev.ID, _ = s.ID.(string)
	ev.ReplayName, _ = s.ReplayName.(string)
	ev.ID, ev.ReplayName = truncate(ev.ID, 128), truncate(ev.ReplayName, 128)
	return ev
}

// jsonError shortens a decoding error without echoing the input.
func jsonError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "value"
		}
		return truncate(field, 128) + ": must be " + te.Type.String() + ", got a " + te.Value
	}
	return truncate(err.Error(), 200)
}

// Default is the registry of every kind the product handles.
var Default = newDefault()

// Parse parses raw with the default registry.
func Parse(raw []byte) (*Event, error) { return Default.Parse(raw) }

// TrailEvents are the CloudTrail calls on trails the trail guard watches.
var TrailEvents = []string{"CreateTrail", "DeleteTrail", "UpdateTrail", "StopLogging", "StartLogging", "PutEventSelectors"}

// StackEvents are the CloudFormation calls on stacks the trail guard watches.
var StackEvents = []string{"DeleteStack", "UpdateStack"}

// AccountEvents are the Organizations calls that take an account out of the Organization or
// move it between OUs: account vending offboards (or, moved into scope, onboards) on them.
var AccountEvents = []string{"CloseAccount", "RemoveAccountFromOrganization", "MoveAccount"}

func newDefault() *Registry {
	r := NewRegistry()
	r.Register(Key{"aws.controltower", DetailServiceEvent, "CreateManagedAccount"}, parseManagedAccount("createManagedAccountStatus"))
	r.Register(Key{"aws.controltower", DetailServiceEvent, "UpdateManagedAccount"}, parseManagedAccount("updateManagedAccountStatus"))
	r.Register(Key{"aws.organizations", DetailServiceEvent, "CreateAccountResult"}, parseCreateAccountResult)
	for _, n := range TrailEvents {
		r.Register(Key{"aws.cloudtrail", DetailAPICall, n}, parseCall(KindTrailCall, "cloudtrail.amazonaws.com"))
	}
	for _, n := range StackEvents {
		r.Register(Key{"aws.cloudformation", DetailAPICall, n}, parseCall(KindStackCall, "cloudformation.amazonaws.com"))
	}
	for _, n := range AccountEvents {
		r.Register(Key{"aws.organizations", DetailAPICall, n}, parseAccountCall)
	}
	r.Register(Key{SourceManual, DetailManual, ""}, parseManual)
	r.Register(Key{"aws.events", DetailScheduled, ""}, parseSchedule)
	r.Register(Key{"aws.scheduler", DetailScheduled, ""}, parseSchedule)
	return r
}
