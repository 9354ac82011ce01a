package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
)

// Lifecycle states of Control Tower and Organizations account events.
const (
	StateSucceeded  = "SUCCEEDED"
	StateFailed     = "FAILED"
	StateInProgress = "IN_PROGRESS"
)

// Lifecycle is an account lifecycle event: Control Tower Create/UpdateManagedAccount or
// Organizations CreateAccountResult. The OU is known only for Control Tower events.
type Lifecycle struct {
	State       string
	AccountName string
	OUID        string
	OUName      string
	Message     string // Control Tower message or Organizations failureReason
	Requested   time.Time
	Completed   time.Time
}

// Succeeded reports whether the lifecycle event means a usable account.
func (l *Lifecycle) Succeeded() bool { return l.State == StateSucceeded }

// Identity is the detail.userIdentity of a CloudTrail event.
type Identity struct {
	Type           string // IAMUser, AssumedRole, Root, AWSService, ...
	ARN            string
	AccountID      string // "" when absent or malformed
	PrincipalID    string
	InvokedBy      string
	IssuerType     string // sessionContext.sessionIssuer.type
	IssuerUserName string // sessionContext.sessionIssuer.userName: the role name of a session
}

// Call is a CloudTrail-recorded API call on a trail or a stack.
type Call struct {
	EventSource  string
	ErrorCode    string // set when the call failed: it changed nothing
	ErrorMessage string
	Identity     Identity
	Resource     string // the trail (requestParameters.name or trailName, see trailParameter) or stackName, as given
	Name         string // the bare trail or stack name
	ARN          string // the ARN when Resource is one, else ""
	ARNAccount   string // account of the ARN
	ARNRegion    string // region of the ARN
	StackID      string // stack ARNs only: the id part
}

// Failed reports whether the call failed (and so changed nothing).
func (c *Call) Failed() bool { return c.ErrorCode != "" }

// Manual is an onboarder.manual Reconcile Request.
type Manual struct {
	All      bool
	Accounts []string         // valid ids, deduplicated, in order
	Invalid  []InvalidAccount // ids that are not 12-digit strings, reported by position
	// Continuation is set on the request a sweep puts on the bus for itself when its
	// invocation ends before the last page: it goes on from there.
	Continuation *Continuation
}

// Continuation is where a sweep stopped: the walk over the Organization's accounts, page by
// page, and what it did so far.
type Continuation struct {
	SweepID  string   `json:"sweepId"`           // the event id of the sweep it continues (the requests' event id)
	Trigger  string   `json:"trigger"`           // sweep or manual
	Pending  []string `json:"pending,omitempty"` // OUs still to walk
	Parent   string   `json:"parent,omitempty"`  // the OU being walked ("" : every account, ListAccounts)
	Phase    string   `json:"phase,omitempty"`   // accounts or ous (of Parent)
	Token    string   `json:"token,omitempty"`   // the NextToken of the page to read
	Pages    int      `json:"pages"`             // pages read so far
	Enqueued int      `json:"enqueued"`          // requests enqueued so far
	// Offboarded counts the offboarding requests among them.
	Offboarded int `json:"offboarded,omitempty"`
	Attempt    int `json:"attempt,omitempty"` // failed tries of this page in a row
}

var ouOrRootRE = regexp.MustCompile(`^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$`)

// validate checks a continuation read from an event; each message names the field.
func (c *Continuation) validate() error {
	var errs []error
	bad := func(f string, args ...any) { errs = append(errs, fault.Permanentf(f, args...)) }
	if c.SweepID == "" || len(c.SweepID) > 128 {
		bad("detail.continuation.sweepId: required, 1 to 128 characters")
	}
	if c.Trigger != "sweep" && c.Trigger != "manual" {
		bad("detail.continuation.trigger=%q: must be sweep or manual", truncate(c.Trigger, 32))
	}
	for i, ou := range c.Pending {
		if !ouOrRootRE.MatchString(ou) {
			bad("detail.continuation.pending[%d]=%q: must be an OU or root id", i, truncate(ou, 40))
		}
	}
	if c.Parent != "" && !ouOrRootRE.MatchString(c.Parent) {
		bad("detail.continuation.parent=%q: must be an OU or root id", truncate(c.Parent, 40))
	}
	if c.Phase != "" && c.Phase != "accounts" && c.Phase != "ous" {
		bad("detail.continuation.phase=%q: must be accounts or ous", truncate(c.Phase, 32))
	}
	if len(c.Token) > 4096 {
		bad("detail.continuation.token: at most 4096 characters")
	}
	if c.Pages < 0 || c.Enqueued < 0 || c.Attempt < 0 || c.Offboarded < 0 {
		bad("detail.continuation: pages, enqueued and attempt must not be negative")
	}
	return errors.Join(errs...)
}

// InvalidAccount is one bad entry of a manual request.
type InvalidAccount struct {
	Field string // detail.accountIds[3]
	Value string // the entry as JSON, shortened
	Err   string
}

func permanentJSON(path string, err error) error {
	return fault.Permanentf("%s: %s", path, jsonError(err))
}

// str reads an optional string field; a value of another type is an error naming it.
func str(path string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fault.Permanentf("%s: must be a string, got %s", path, jsonKind(raw))
	}
	return s, nil
}

type lifecycleStatus struct {
	State   json.RawMessage `json:"state"`
	Message json.RawMessage `json:"message"`
	Account struct {
		AccountID   json.RawMessage `json:"accountId"`
		AccountName json.RawMessage `json:"accountName"`
	} `json:"account"`
	OrganizationalUnit struct {
		ID   json.RawMessage `json:"organizationalUnitId"`
		Name json.RawMessage `json:"organizationalUnitName"`
	} `json:"organizationalUnit"`
	RequestedTimestamp json.RawMessage `json:"requestedTimestamp"`
	CompletedTimestamp json.RawMessage `json:"completedTimestamp"`
}

func parseManagedAccount(statusKey string) Parser {
	return func(ev *Event) error {
		path := "detail.serviceEventDetails." + statusKey
		var d struct {
			AWSRegion           string                     `json:"awsRegion"`
			ServiceEventDetails map[string]json.RawMessage `json:"serviceEventDetails"`
		}
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			return permanentJSON("detail", err)
		}
		raw, ok := d.ServiceEventDetails[statusKey]
		if !ok || string(raw) == "null" {
			return fault.Permanentf("%s: required", path)
		}
		var st lifecycleStatus
		if err := json.Unmarshal(raw, &st); err != nil {
			return permanentJSON(path, err)
		}
		l := &Lifecycle{}
		var err error
		if l.State, err = str(path+".state", st.State); err != nil {
			return err
		}
		if l.State == "" {
			return fault.Permanentf("%s.state: required", path)
		}
		// A failed or unfinished event may lack the account: it is dropped anyway.
		ev.Account, err = accountField(path+".account.accountId", st.Account.AccountID, l.State == StateSucceeded)
		if err != nil && l.State == StateSucceeded {
			return err
		}
		l.AccountName, _ = str(path+".account.accountName", st.Account.AccountName)
		if l.OUID, err = str(path+".organizationalUnit.organizationalUnitId", st.OrganizationalUnit.ID); err != nil {
			return err
		}
		l.OUName, _ = str(path+".organizationalUnit.organizationalUnitName", st.OrganizationalUnit.Name)
		l.Message, _ = str(path+".message", st.Message)
		// Timestamps are informative: a form we do not know leaves them zero.
		if s, _ := str("", st.RequestedTimestamp); s != "" {
			l.Requested, _ = ParseTime(s)
		}
		if s, _ := str("", st.CompletedTimestamp); s != "" {
			l.Completed, _ = ParseTime(s)
		}
		if d.AWSRegion != "" {
			ev.Region = d.AWSRegion
		}
		ev.Kind, ev.Lifecycle = KindManagedAccount, l
		return nil
	}
}

func parseCreateAccountResult(ev *Event) error {
	const path = "detail.serviceEventDetails.createAccountStatus"
	var d struct {
		AWSRegion           string `json:"awsRegion"`
		ServiceEventDetails struct {
			CreateAccountStatus *struct {
				State         json.RawMessage `json:"state"`
				AccountID     json.RawMessage `json:"accountId"`
				AccountName   json.RawMessage `json:"accountName"`
				FailureReason json.RawMessage `json:"failureReason"`
			} `json:"createAccountStatus"`
		} `json:"serviceEventDetails"`
	}
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		return permanentJSON("detail", err)
	}
	st := d.ServiceEventDetails.CreateAccountStatus
	if st == nil {
		return fault.Permanentf("%s: required", path)
	}
	l := &Lifecycle{}
	var err error
	if l.State, err = str(path+".state", st.State); err != nil {
		return err
	}
	if l.State == "" {
		return fault.Permanentf("%s.state: required", path)
	}
	ev.Account, err = accountField(path+".accountId", st.AccountID, l.State == StateSucceeded)
	if err != nil && l.State == StateSucceeded {
		return err
	}
	l.AccountName, _ = str(path+".accountName", st.AccountName)
	l.Message, _ = str(path+".failureReason", st.FailureReason)
	if d.AWSRegion != "" {
		ev.Region = d.AWSRegion
	}
	ev.Kind, ev.Lifecycle = KindAccountCreated, l
	return nil
}

// AccountCall is a CloudTrail-recorded Organizations call on a member account: CloseAccount,
// RemoveAccountFromOrganization or MoveAccount (the account is Event.Account).
type AccountCall struct {
	ErrorCode    string // set when the call failed: it changed nothing
	ErrorMessage string
	Source       string // MoveAccount: requestParameters.sourceParentId (an OU or root id)
	Destination  string // MoveAccount: requestParameters.destinationParentId
}

// Failed reports whether the call failed (and so changed nothing).
func (c *AccountCall) Failed() bool { return c.ErrorCode != "" }

// parseAccountCall reads an Organizations call on an account. The account is the one the
// call names (requestParameters.accountId), not the caller's: the calls are made from the
// management account.
func parseAccountCall(ev *Event) error {
	var d struct {
		EventSource       string          `json:"eventSource"`
		AWSRegion         json.RawMessage `json:"awsRegion"`
		ErrorCode         json.RawMessage `json:"errorCode"`
		ErrorMessage      json.RawMessage `json:"errorMessage"`
		RequestParameters *struct {
			AccountID           json.RawMessage `json:"accountId"`
			SourceParentID      json.RawMessage `json:"sourceParentId"`
			DestinationParentID json.RawMessage `json:"destinationParentId"`
		} `json:"requestParameters"`
	}
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		return permanentJSON("detail", err)
	}
	if d.EventSource != "organizations.amazonaws.com" {
		return fault.Skipf("detail.eventSource %q does not match source %s", truncate(d.EventSource, 64), ev.Source)
	}
	c := &AccountCall{}
	var err error
	if c.ErrorCode, err = str("detail.errorCode", d.ErrorCode); err != nil {
		return err
	}
	c.ErrorMessage, _ = str("detail.errorMessage", d.ErrorMessage)
	region, err := str("detail.awsRegion", d.AWSRegion)
	if err != nil {
		return err
	}
	if region != "" {
		ev.Region = region
	}
	rp := d.RequestParameters
	if rp == nil {
		if c.Failed() { // a call refused before it was read may record no parameters
			ev.Kind, ev.AccountCall = KindAccountCall, c
			return nil
		}
		return fault.Permanentf("detail.requestParameters: required")
	}
	if ev.Account, err = accountField("detail.requestParameters.accountId", rp.AccountID, !c.Failed()); err != nil && !c.Failed() {
		return err
	}
	if ev.Name == "MoveAccount" && !c.Failed() {
		for _, f := range []struct {
			path string
			raw  json.RawMessage
			dst  *string
		}{
			{"detail.requestParameters.sourceParentId", rp.SourceParentID, &c.Source},
			{"detail.requestParameters.destinationParentId", rp.DestinationParentID, &c.Destination},
		} {
			v, err := str(f.path, f.raw)
			if err != nil {
				return err
			}
			if !ouOrRootRE.MatchString(v) {
				return fault.Permanentf("%s=%q: required, an OU or root id", f.path, truncate(v, 40))
			}
			*f.dst = v
		}
	}
	ev.Kind, ev.AccountCall = KindAccountCall, c
	return nil
}

type callDetail struct {
	EventSource        string          `json:"eventSource"`
	AWSRegion          json.RawMessage `json:"awsRegion"`
	RecipientAccountID json.RawMessage `json:"recipientAccountId"`
	ErrorCode          json.RawMessage `json:"errorCode"`
	ErrorMessage       json.RawMessage `json:"errorMessage"`
	UserIdentity       struct {
		Type           json.RawMessage `json:"type"`
		ARN            json.RawMessage `json:"arn"`
		AccountID      json.RawMessage `json:"accountId"`
		PrincipalID    json.RawMessage `json:"principalId"`
		InvokedBy      json.RawMessage `json:"invokedBy"`
		SessionContext struct {
			SessionIssuer struct {
				Type     json.RawMessage `json:"type"`
				UserName json.RawMessage `json:"userName"`
			} `json:"sessionIssuer"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	RequestParameters struct {
		Name      json.RawMessage `json:"name"`
		TrailName json.RawMessage `json:"trailName"`
		StackName json.RawMessage `json:"stackName"`
	} `json:"requestParameters"`
}

// trailParameter is the requestParameters field that names the trail of a CloudTrail call.
// CloudTrail records a call's request under the API's own parameter names: CreateTrail,
// UpdateTrail, DeleteTrail, StartLogging and StopLogging take Name, PutEventSelectors and
// PutInsightSelectors take TrailName (CloudTrail API Reference; real records of both are
// named in testdata/SOURCES.md). Either holds a trail name or a trail ARN. PutInsightSelectors
// is not watched (Insights events add to what a trail delivers, they never remove from it);
// it is listed so that watching it would read the right field.
func trailParameter(eventName string) string {
	switch eventName {
	case "PutEventSelectors", "PutInsightSelectors":
		return "trailName"
	}
	return "name"
}

func parseCall(kind Kind, eventSource string) Parser {
	return func(ev *Event) error {
		var d callDetail
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			return permanentJSON("detail", err)
		}
		if d.EventSource != eventSource {
			return fault.Skipf("detail.eventSource %q does not match source %s", truncate(d.EventSource, 64), ev.Source)
		}
		c := &Call{EventSource: d.EventSource}
		var err error
		if c.ErrorCode, err = str("detail.errorCode", d.ErrorCode); err != nil {
			return err
		}
		c.ErrorMessage, _ = str("detail.errorMessage", d.ErrorMessage)
		region, err := str("detail.awsRegion", d.AWSRegion)
		if err != nil {
			return err
		}
		if region != "" {
			ev.Region = region
		}
		id := &c.Identity
		id.Type, _ = str("", d.UserIdentity.Type)
		id.ARN, _ = str("", d.UserIdentity.ARN)
		id.PrincipalID, _ = str("", d.UserIdentity.PrincipalID)
		id.InvokedBy, _ = str("", d.UserIdentity.InvokedBy)
		id.IssuerType, _ = str("", d.UserIdentity.SessionContext.SessionIssuer.Type)
		id.IssuerUserName, _ = str("", d.UserIdentity.SessionContext.SessionIssuer.UserName)

		// The account: recipientAccountId, then userIdentity.accountId, then the envelope
		// (moto delivers events without the top-level account).
		recipient, err := accountField("detail.recipientAccountId", d.RecipientAccountID, false)
		if err != nil {
			return err
		}
		caller, callerErr := accountField("detail.userIdentity.accountId", d.UserIdentity.AccountID, false)
		if callerErr == nil {
			id.AccountID = caller
		}
		switch {
		case recipient != "":
			ev.Account = recipient
		case callerErr != nil:
			return callerErr
		case caller != "":
			ev.Account = caller
		default:
			if ev.Account, err = accountField("account", json.RawMessage(quote(ev.Envelope.Account)), true); err != nil {
				return fault.Permanentf("detail.recipientAccountId: required, a 12-digit account id")
			}
		}

		field, raw := "detail.requestParameters.stackName", d.RequestParameters.StackName
		if kind == KindTrailCall {
			field, raw = "detail.requestParameters.name", d.RequestParameters.Name
			if trailParameter(ev.Name) == "trailName" {
				field, raw = "detail.requestParameters.trailName", d.RequestParameters.TrailName
			}
		}
		if c.Resource, err = str(field, raw); err != nil {
			return err
		}
		switch {
		case c.Resource == "" && !c.Failed():
			return fault.Permanentf("%s: required", field)
		case c.Resource != "":
			if err := c.splitResource(kind, field); err != nil && !c.Failed() {
				return err
			}
		}
		ev.Kind, ev.Call = kind, c
		return nil
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// splitResource reads a trail or stack given by name or ARN:
// arn:PARTITION:cloudtrail:REGION:ACCOUNT:trail/NAME and
// arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/ID.
func (c *Call) splitResource(kind Kind, field string) error {
	if !strings.HasPrefix(c.Resource, "arn:") {
		if strings.ContainsAny(c.Resource, ":/") {
			return fault.Permanentf("%s=%q: neither a name nor an ARN", field, truncate(c.Resource, 128))
		}
		c.Name = c.Resource
		return nil
	}
	service, prefix := "cloudtrail", "trail/"
	if kind == KindStackCall {
		service, prefix = "cloudformation", "stack/"
	}
	p := strings.SplitN(c.Resource, ":", 6)
	if len(p) != 6 || p[2] != service || !accountRE.MatchString(p[4]) || !strings.HasPrefix(p[5], prefix) {
		return fault.Permanentf("%s=%q: not a %s ARN (arn:aws:%s:REGION:ACCOUNT:%sNAME)", field, truncate(c.Resource, 128), service, service, prefix)
	}
	rest := strings.TrimPrefix(p[5], prefix)
	if kind == KindStackCall {
		rest, c.StackID, _ = strings.Cut(rest, "/")
	}
	if rest == "" {
		return fault.Permanentf("%s=%q: the ARN names no %s", field, truncate(c.Resource, 128), strings.TrimSuffix(prefix, "/"))
	}
	c.ARN, c.ARNRegion, c.ARNAccount, c.Name = c.Resource, p[3], p[4], rest
	return nil
}

func parseManual(ev *Event) error {
	var d struct {
		AccountIDs   json.RawMessage `json:"accountIds"`
		All          json.RawMessage `json:"all"`
		Continuation json.RawMessage `json:"continuation"`
	}
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		return permanentJSON("detail", err)
	}
	m := &Manual{}
	if len(d.Continuation) > 0 && string(d.Continuation) != "null" {
		c := &Continuation{}
		dec := json.NewDecoder(bytes.NewReader(d.Continuation))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			return fault.Permanentf("detail.continuation: %s", jsonError(err))
		}
		if err := c.validate(); err != nil {
			return err
		}
		m.Continuation = c
	}
	if len(d.All) > 0 && string(d.All) != "null" {
		if err := json.Unmarshal(d.All, &m.All); err != nil {
			return fault.Permanentf("detail.all: must be true or false, got %s", jsonKind(d.All))
		}
	}
	var ids []json.RawMessage
	if len(d.AccountIDs) > 0 && string(d.AccountIDs) != "null" {
		if err := json.Unmarshal(d.AccountIDs, &ids); err != nil {
			return fault.Permanentf("detail.accountIds: must be an array of 12-digit strings, got %s", jsonKind(d.AccountIDs))
		}
	}
	switch {
	case m.All && len(ids) > 0:
		return fault.Permanentf(`detail: give either "accountIds" or "all": true, not both`)
	case !m.All && len(ids) == 0:
		return fault.Permanentf(`detail: "accountIds" (a non-empty array of 12-digit strings) or "all": true required`)
	case m.Continuation != nil && !m.All:
		return fault.Permanentf(`detail.continuation: only with "all": true`)
	}
	seen := map[string]bool{}
	for i, raw := range ids {
		field := "detail.accountIds[" + strconv.Itoa(i) + "]"
		a, err := accountField(field, raw, true)
		if err != nil {
			m.Invalid = append(m.Invalid, InvalidAccount{Field: field, Value: truncate(string(raw), 32), Err: err.Error()})
			continue
		}
		if !seen[a] {
			seen[a] = true
			m.Accounts = append(m.Accounts, a)
		}
	}
	ev.Kind, ev.Manual = KindManual, m
	return nil
}

func parseSchedule(ev *Event) error {
	ev.Kind = KindSchedule
	return nil
}
