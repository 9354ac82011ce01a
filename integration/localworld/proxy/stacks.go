package proxy

// The CloudFormation layer: stack operations that take time and can fail, as on AWS.
//
// moto settles every stack operation inside the call that starts it, never rolls back and
// does not implement ContinueUpdateRollback. On AWS a create, update or delete stays
// *_IN_PROGRESS for minutes (Trend's stack is nested stacks with custom resources that call
// Cloud One), a failed create goes CREATE_FAILED -> ROLLBACK_IN_PROGRESS -> ROLLBACK_COMPLETE
// and a failed update UPDATE_ROLLBACK_IN_PROGRESS -> UPDATE_ROLLBACK_COMPLETE with the old
// parameters back; a write while an operation runs is refused with ValidationError "Stack:ID
// is in STATUS state and can not be updated."; a write that repeats a ClientRequestToken is
// not a second operation; DescribeStackEvents names the resource that failed, and every event
// carries the ClientRequestToken of the operation that caused it.
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-describing-stacks.html,
// https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackEvent.html,
// https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html ClientRequestToken.)
//
// With EnableStacks the proxy keeps a record of every stack written through it and plays
// these rules over moto:
//   - a create or update that succeeds is passed to moto at once (moto validates it and makes
//     the resources); the record shows *_IN_PROGRESS for the configured time, then moto's
//     own status shows through;
//   - a create that fails is passed to moto too (its resources are made, as CloudFormation
//     makes them before one fails) and, when the rollback ends, deleted from moto: the record
//     alone then answers, ROLLBACK_COMPLETE, until the stack is deleted;
//   - an update that fails is not passed to moto, which so keeps the old parameters: the
//     record shows UPDATE_ROLLBACK_COMPLETE over them;
//   - a delete is passed to moto when its time is over; one that fails ends DELETE_FAILED and
//     moto keeps the stack;
//   - ContinueUpdateRollback is answered by the layer (moto 5.2.1 lacks it);
//   - DescribeStacks answers are moto's, with the status, the reason and NoEcho parameters
//     ("****", as CloudFormation shows them) from the record; DescribeStackEvents answers
//     are the record's for the stacks it knows.
//   - AWS::CloudTrail::Trail resources, which moto cannot make, are made by the layer when
//     the operation completes (trails.go);
//   - a stack hook (SetStackHook) is told of every operation as it ends, before the stack
//     shows its final status, and may fail one about to succeed, as a custom resource of the
//     stack would: the local world's vendor stand-ins learn of stacks this way, as the real
//     vendors learn of them from the stack's own custom resources (endings.go).
// Stacks written to moto directly (the harness's own) are adopted by the layer at their first
// write through it. ForceStackStatus gives a stack a state that another party's operation
// left (ROLLBACK_FAILED, DELETE_FAILED, ...).

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// StackTiming is how long each phase of a stack operation stays in progress.
type StackTiming struct {
	Create   time.Duration // CREATE_IN_PROGRESS
	Update   time.Duration // UPDATE_IN_PROGRESS
	Delete   time.Duration // DELETE_IN_PROGRESS
	Rollback time.Duration // ROLLBACK_IN_PROGRESS, UPDATE_ROLLBACK_IN_PROGRESS (after a failure, or ContinueUpdateRollback)
}

// Uniform is a timing where every phase lasts d.
func Uniform(d time.Duration) StackTiming {
	return StackTiming{Create: d, Update: d, Delete: d, Rollback: max(d/2, time.Millisecond)}
}

// StackFailure makes stack operations fail. Empty match fields match everything.
type StackFailure struct {
	Account, Region, Stack string
	// Operation is CREATE, UPDATE, DELETE, or UPDATE_ROLLBACK (the rollback of a failed
	// update fails too: UPDATE_ROLLBACK_FAILED).
	Operation string
	// TemplateURLContains selects by the TemplateURL of the write (a broken template version).
	TemplateURLContains string
	// ParameterEquals selects by parameter values of the write.
	ParameterEquals map[string]string
	Times           int // at most this many failures; 0: no limit
	// The resource that fails, as its stack event shows it. Defaults: a custom resource of the
	// onboarding template that calls Cloud One.
	LogicalID, ResourceType, Reason string
}

func (f StackFailure) logicalID() string { return or(f.LogicalID, "CloudOneIntegration") }
func (f StackFailure) resourceType() string {
	return or(f.ResourceType, "AWS::CloudFormation::CustomResource")
}
func (f StackFailure) reason() string {
	return or(f.Reason, "Received response status [FAILED] from custom resource. Message returned: Cloud One API returned 500 (RequestId: 8d1f0c2e-4b7a-4c51-9f4e-2f6c1a9b3e70)")
}

// Error makes a StackFailure an error a StackHook can return: the resource it names fails
// with its reason.
func (f *StackFailure) Error() string { return f.logicalID() + ": " + f.reason() }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// StackView is the layer's view of one stack.
type StackView struct {
	ID, Status, Reason string
	InMoto             bool // moto holds the stack (false once a failed create has rolled back)
}

type stackKey struct{ account, region, name string }

type stackEvent struct {
	id, logicalID, physicalID, resourceType, status, reason, token string
	at                                                             time.Time
}

// phase is a future step of an operation: at its time the status changes, events are added
// and do runs (an action on moto).
type phase struct {
	at     time.Time
	status string
	reason string
	events []stackEvent
	do     func()
	// overlay false: from now on moto's own status is the truth again.
	overlay bool
	// prepare, when set, is the work that ends the operation (the stack's trails, the stack
	// hook): it runs outside the lock once the phase is due, and the phase applies only after
	// it, the stack showing its previous status meanwhile, as a stack is in progress until its
	// last resource is done. A failure it returns replaces this phase and those after it with
	// onFail's (none: the phase applies anyway).
	prepare        func() *StackFailure
	onFail         func(at time.Time, f *StackFailure) []phase
	started, ready bool
}

type stackRec struct {
	key     stackKey
	id      string
	status  string
	reason  string
	overlay bool // status and reason override moto's
	inMoto  bool
	deleted bool // DELETE_COMPLETE: kept for lookups by id
	noEcho  map[string]bool
	tokens  map[string]bool
	events  []stackEvent // oldest first
	phases  []phase
	auth    http.Header // of the last write: the layer's own calls to moto are made as that caller
	host    string
	// params and tags of the last completed write (the create's until then), for the answers
	// about a stack moto no longer holds
	params [][2]string
	tags   [][2]string
	seq    int                  // counts schedules: the preparation of an overtaken one is dropped
	done   *write               // the last write that completed
	trails map[string]liveTrail // the trails the layer made for the stack, by logical id
}

// write is a create or update as the layer passed it to moto.
type write struct {
	url    string         // the TemplateURL (for UsePreviousTemplate, the previous write's)
	body   []byte         // the template moto was given in its place (trails taken out); nil: the URL
	params [][2]string    // the parameters sent, UsePreviousValue resolved (secrets included: the layer's own record)
	tags   [][2]string    // the stack's tags
	doc    map[string]any // the template, read; nil when the layer could not read it
	noEcho map[string]bool
	trails []trailPlan
}

// paramMap is the write's parameters by name.
func (w *write) paramMap() map[string]string {
	m := map[string]string{}
	if w != nil {
		for _, kv := range w.params {
			m[kv[0]] = kv[1]
		}
	}
	return m
}

// effectiveParams are the stack's parameters: the template's, with their defaults, and the
// values sent.
func (w *write) effectiveParams() map[string]string {
	m := map[string]string{}
	if params, ok := w.doc["Parameters"].(map[string]any); ok {
		for name, def := range params {
			d, _ := def.(map[string]any)
			if v, has := d["Default"]; has {
				m[name] = scalarText(v)
			} else {
				m[name] = ""
			}
		}
	}
	for k, v := range w.paramMap() {
		m[k] = v
	}
	return m
}

// StackOutcome is a stack operation of the layer as it ends.
type StackOutcome struct {
	Account, Region, Stack, StackID string
	// Operation is CREATE, UPDATE, DELETE or CONTINUE_UPDATE_ROLLBACK.
	Operation string
	// Status is the status the stack ends in: CREATE_COMPLETE, UPDATE_COMPLETE,
	// DELETE_COMPLETE, ROLLBACK_COMPLETE, UPDATE_ROLLBACK_COMPLETE, UPDATE_ROLLBACK_FAILED or
	// DELETE_FAILED.
	Status      string
	TemplateURL string            // of the write ("" when the layer knows none)
	Parameters  map[string]string // the stack's parameters, NoEcho ones as **** (as DescribeStacks shows them)
	Tags        map[string]string
	Outputs     map[string]string // on CREATE_COMPLETE and UPDATE_COMPLETE: the stack's outputs
}

// StackHook is told of each stack operation the layer plays as it ends, before the stack
// shows its final status: the work of the stack itself (a custom resource that registers the
// account with a vendor) is done before a stack completes. For an operation about to succeed
// a hook may return an error: the operation then fails as if a resource of the stack had
// failed (a *StackFailure names the resource and the reason; any other error is the reason
// of a custom resource StackHook). For an operation that failed, the error is ignored.
type StackHook func(StackOutcome) error

// SetStackHook sets the hook (nil: none). ResetStacks keeps it.
func (p *Proxy) SetStackHook(h StackHook) {
	p.stacks.mu.Lock()
	defer p.stacks.mu.Unlock()
	p.stacks.hook = h
}

type stacksLayer struct {
	p         *Proxy
	mu        sync.Mutex
	enabled   bool
	timing    StackTiming
	recs      map[stackKey]*stackRec // live stacks by name
	byID      map[string]*stackRec
	failures  []*failureState
	templates map[string]templateFacts // by template URL
	hook      StackHook
}

type failureState struct {
	StackFailure
	fired int
}

func newStacksLayer(p *Proxy) *stacksLayer {
	return &stacksLayer{p: p, recs: map[stackKey]*stackRec{}, byID: map[string]*stackRec{}, templates: map[string]templateFacts{}}
}

// EnableStacks turns the CloudFormation layer on with the given timing (see the comment at
// the top of stacks.go). With a zero timing operations still pass through the layer and
// settle at the next look (or, when they end with work of the layer's, trails or the stack
// hook, as soon as that work is done).
func (p *Proxy) EnableStacks(t StackTiming) {
	p.stacks.mu.Lock()
	defer p.stacks.mu.Unlock()
	p.stacks.enabled, p.stacks.timing = true, t
}

// StackTimingNow returns the layer's timing and whether it is on.
func (p *Proxy) StackTimingNow() (StackTiming, bool) {
	p.stacks.mu.Lock()
	defer p.stacks.mu.Unlock()
	return p.stacks.timing, p.stacks.enabled
}

// FailStacks adds a failure rule and returns its index for StackFailures.
func (p *Proxy) FailStacks(f StackFailure) int {
	p.stacks.mu.Lock()
	defer p.stacks.mu.Unlock()
	p.stacks.failures = append(p.stacks.failures, &failureState{StackFailure: f})
	return len(p.stacks.failures) - 1
}

// StackFailures reports how many operations the i-th failure rule failed.
func (p *Proxy) StackFailures(i int) int {
	p.stacks.mu.Lock()
	defer p.stacks.mu.Unlock()
	if i < 0 || i >= len(p.stacks.failures) {
		return 0
	}
	return p.stacks.failures[i].fired
}

// ClearStackFailures removes every failure rule (operations under way keep their outcome).
func (p *Proxy) ClearStackFailures() {
	p.stacks.mu.Lock()
	defer p.stacks.mu.Unlock()
	p.stacks.failures = nil
}

// ResetStacks forgets every record and rule (after moto was reset).
func (p *Proxy) ResetStacks() {
	p.stacks.mu.Lock()
	defer p.stacks.mu.Unlock()
	p.stacks.recs, p.stacks.byID, p.stacks.failures = map[stackKey]*stackRec{}, map[string]*stackRec{}, nil
}

// ForceStackStatus gives the stack of that name a state another party's operation left: the
// layer shows it until the next operation on the stack. The stack must be known to the layer
// (written through the proxy at least once).
func (p *Proxy) ForceStackStatus(account, region, name, status, reason string) error {
	l := p.stacks
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.recs[stackKey{account, region, name}]
	if r == nil {
		return fmt.Errorf("proxy: no stack %s in %s/%s written through the proxy", name, account, region)
	}
	l.advance(r, time.Now())
	r.phases = nil
	r.seq++
	r.status, r.reason, r.overlay = status, reason, true
	r.events = append(r.events, stackEvent{id: newEventID(), logicalID: name, physicalID: r.id, resourceType: "AWS::CloudFormation::Stack",
		status: status, reason: reason, token: "forced-by-test", at: time.Now()})
	return nil
}

// Stack returns the layer's view of a live stack (not deleted), by name.
func (p *Proxy) Stack(account, region, name string) (StackView, bool) {
	l := p.stacks
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.recs[stackKey{account, region, name}]
	if r == nil {
		return StackView{}, false
	}
	l.advance(r, time.Now())
	if r.deleted {
		return StackView{}, false
	}
	return StackView{ID: r.id, Status: r.status, Reason: r.reason, InMoto: r.inMoto}, true
}

// advance applies the phases that are due. Caller holds l.mu.
func (l *stacksLayer) advance(r *stackRec, now time.Time) {
	for len(r.phases) > 0 && !r.phases[0].at.After(now) {
		if r.phases[0].prepare != nil && !r.phases[0].ready {
			return // it waits for its preparation (tick)
		}
		ph := r.phases[0]
		r.phases = r.phases[1:]
		r.status, r.reason, r.overlay = ph.status, ph.reason, ph.overlay
		for _, e := range ph.events {
			e.at = ph.at
			r.events = append(r.events, e)
		}
		if ph.do != nil {
			ph.do()
		}
	}
}

// schedule queues the phases of an operation and a timer for each, so that moto's state
// follows without anyone asking. Caller holds l.mu.
func (l *stacksLayer) schedule(r *stackRec, phases ...phase) {
	r.seq++
	seq := r.seq
	r.phases = append(r.phases[:0], phases...)
	for _, ph := range phases {
		d := time.Until(ph.at)
		time.AfterFunc(max(d, 0)+time.Millisecond, func() { l.tick(r, seq) })
	}
}

// tick applies the due phases of r and runs the preparation of the first one that waits for
// it (outside the lock: it calls moto and the hook).
func (l *stacksLayer) tick(r *stackRec, seq int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.advance(r, now)
	if r.seq != seq || len(r.phases) == 0 {
		return
	}
	head := r.phases[0]
	if head.prepare == nil || head.ready || head.started || head.at.After(now) {
		return
	}
	r.phases[0].started = true
	l.mu.Unlock()
	f := head.prepare()
	l.mu.Lock()
	if r.seq != seq || len(r.phases) == 0 || !r.phases[0].started {
		return // overtaken: a forced status, a stack forgotten
	}
	if f != nil && head.onFail != nil {
		l.schedule(r, head.onFail(time.Now(), f)...)
	} else {
		r.phases[0].ready = true
	}
	l.advance(r, time.Now())
}

func (l *stacksLayer) failure(c Call, name, op, templateURL string, params map[string]string) *StackFailure {
	for _, f := range l.failures {
		if !match(f.Account, c.Account) || !match(f.Region, c.Region) || !match(f.Stack, name) || f.Operation != op {
			continue
		}
		if f.TemplateURLContains != "" && !strings.Contains(templateURL, f.TemplateURLContains) {
			continue
		}
		ok := true
		for k, v := range f.ParameterEquals {
			if params[k] != v {
				ok = false
			}
		}
		if !ok || (f.Times > 0 && f.fired >= f.Times) {
			continue
		}
		f.fired++
		sf := f.StackFailure
		return &sf
	}
	return nil
}

// cfnRequest is a CloudFormation write as the query protocol carries it.
type cfnRequest struct {
	action, stackName, templateURL, token, roleARN string
	params                                         map[string]string
	paramKeys                                      []string        // in request order
	usePrevious                                    map[string]bool // parameters sent with UsePreviousValue
	usePreviousTemplate                            bool
	tags                                           [][2]string
}

func parseCFN(form url.Values) cfnRequest {
	q := cfnRequest{action: form.Get("Action"), stackName: form.Get("StackName"), templateURL: form.Get("TemplateURL"),
		token: form.Get("ClientRequestToken"), roleARN: form.Get("RoleARN"), params: map[string]string{}, usePrevious: map[string]bool{},
		usePreviousTemplate: form.Get("UsePreviousTemplate") == "true"}
	for i := 1; ; i++ {
		k := form.Get("Parameters.member." + strconv.Itoa(i) + ".ParameterKey")
		if k == "" {
			break
		}
		q.params[k] = form.Get("Parameters.member." + strconv.Itoa(i) + ".ParameterValue")
		q.paramKeys = append(q.paramKeys, k)
		if form.Get("Parameters.member."+strconv.Itoa(i)+".UsePreviousValue") == "true" {
			q.usePrevious[k] = true
		}
	}
	for i := 1; ; i++ {
		k := form.Get("Tags.member." + strconv.Itoa(i) + ".Key")
		if k == "" {
			break
		}
		q.tags = append(q.tags, [2]string{k, form.Get("Tags.member." + strconv.Itoa(i) + ".Value")})
	}
	return q
}

// newWrite is the record of a create or update: its parameters (UsePreviousValue read from
// prev), its template and, when the template declares trails, the template moto is given in
// its place (trails.go). body is the request as the client sent it; the one to pass to moto
// is returned.
func (p *Proxy) newWrite(c Call, q cfnRequest, body []byte, prev *write, live map[string]liveTrail) (*write, []byte, error) {
	w := &write{url: q.templateURL, tags: q.tags}
	old := prev.paramMap()
	for _, k := range q.paramKeys {
		v := q.params[k]
		if q.usePrevious[k] {
			v = old[k]
		}
		w.params = append(w.params, [2]string{k, v})
	}
	if q.templateURL == "" && q.usePreviousTemplate && prev != nil {
		// moto keeps the template it was given; the trails keep their names.
		w.url, w.doc, w.noEcho, w.trails = prev.url, prev.doc, prev.noEcho, prev.trails
		return w, body, nil
	}
	facts := p.templateOf(q.templateURL)
	w.doc, w.noEcho = facts.doc, facts.noEcho
	if len(facts.trails) == 0 {
		return w, body, nil
	}
	plans, err := planTrails(facts.doc, c.Account, c.Region, q.stackName, w.paramMap(), live)
	if err != nil {
		return nil, nil, err
	}
	if w.body, err = templateForMoto(facts.doc, plans); err != nil {
		return nil, nil, err
	}
	w.trails = plans
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, nil, err
	}
	form.Del("TemplateURL")
	form.Set("TemplateBody", string(w.body))
	return w, []byte(form.Encode()), nil
}

// serveStacks handles the CloudFormation actions of the layer; it reports false for the
// ones it leaves to moto untouched.
func (p *Proxy) serveStacks(w http.ResponseWriter, r *http.Request, c Call, form url.Values, body []byte) bool {
	l := p.stacks
	l.mu.Lock()
	on := l.enabled
	l.mu.Unlock()
	if !on || c.Service != "cloudformation" || form == nil {
		return false
	}
	q := parseCFN(form)
	switch q.action {
	case "CreateStack":
		p.createStack(w, r, c, q, body)
	case "UpdateStack":
		p.updateStack(w, r, c, q, body)
	case "DeleteStack":
		p.deleteStack(w, r, c, q, body)
	case "ContinueUpdateRollback":
		p.continueRollback(w, r, c, q, body)
	case "DescribeStacks":
		p.describeStacks(w, r, c, q, body)
	case "DescribeStackEvents":
		return p.describeStackEvents(w, c, q)
	default:
		return false
	}
	return true
}

// lookup finds the record a StackName (a name or a stack id) names, applying due phases.
// Caller holds l.mu.
func (l *stacksLayer) lookup(c Call, nameOrID string) *stackRec {
	var r *stackRec
	if strings.HasPrefix(nameOrID, "arn:") {
		r = l.byID[nameOrID]
	} else {
		r = l.recs[stackKey{c.Account, c.Region, nameOrID}]
	}
	if r != nil {
		l.advance(r, time.Now())
	}
	return r
}

func (p *Proxy) createStack(w http.ResponseWriter, r *http.Request, c Call, q cfnRequest, body []byte) {
	l := p.stacks
	l.mu.Lock()
	if rec := l.lookup(c, q.stackName); rec != nil && !rec.deleted && p.stale(r, rec) {
		l.forget(rec)
	}
	if rec := l.lookup(c, q.stackName); rec != nil && !rec.deleted {
		if q.token != "" && rec.tokens[q.token] {
			l.mu.Unlock()
			writeCFNResult(w, "CreateStack", "<StackId>"+html.EscapeString(rec.id)+"</StackId>")
			return
		}
		l.mu.Unlock()
		writeCFNError(w, http.StatusBadRequest, "AlreadyExistsException", "Stack ["+q.stackName+"] already exists")
		return
	}
	fail := l.failure(c, q.stackName, "CREATE", q.templateURL, q.params)
	timing := l.timing
	l.mu.Unlock()
	facts := p.templateOf(q.templateURL)
	if fail == nil {
		fail = tagFailure(facts, q.tags)
	}
	wr, body, err := p.newWrite(c, q, body, nil, nil)
	if err != nil {
		writeCFNError(w, http.StatusBadRequest, "ValidationError", "Template error: "+err.Error())
		return
	}

	resp, out, err := p.roundTrip(r, body)
	if err != nil {
		http.Error(w, "proxy: upstream: "+err.Error(), http.StatusBadGateway)
		return
	}
	if resp.StatusCode != http.StatusOK {
		passThrough(w, resp, out)
		return
	}
	id := xmlText(out, "StackId")
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := &stackRec{key: stackKey{c.Account, c.Region, q.stackName}, id: id, status: "CREATE_IN_PROGRESS", reason: "User Initiated",
		overlay: true, inMoto: true, noEcho: facts.noEcho, tokens: map[string]bool{}, auth: r.Header.Clone(), host: r.Host, tags: q.tags,
		params: wr.params}
	if q.token != "" {
		rec.tokens[q.token] = true
	}
	rec.events = []stackEvent{stackLevel(rec, "CREATE_IN_PROGRESS", "User Initiated", q.token, now)}
	l.recs[rec.key], l.byID[id] = rec, rec
	if fail != nil {
		l.schedule(rec, p.createFailed(rec, fail, q.token, now.Add(timing.Create), wr)...)
	} else {
		done := phase{at: now.Add(timing.Create), status: "CREATE_COMPLETE", overlay: false,
			events: []stackEvent{stackLevel(rec, "CREATE_COMPLETE", "", q.token, now)}}
		if l.hook != nil || len(wr.trails) > 0 {
			done.prepare = func() *StackFailure { return p.completeWrite(rec, "CREATE", "CREATE_COMPLETE", wr) }
			done.onFail = func(at time.Time, f *StackFailure) []phase { return p.createFailed(rec, f, q.token, at, wr) }
		}
		l.schedule(rec, done)
	}
	writeCFNResult(w, "CreateStack", "<StackId>"+html.EscapeString(id)+"</StackId>")
}

// createFailed is how a failed create goes on: ROLLBACK_IN_PROGRESS at failedAt, then
// ROLLBACK_COMPLETE, when the stack's resources (trails included) are deleted. Caller holds
// l.mu.
func (p *Proxy) createFailed(rec *stackRec, f *StackFailure, token string, failedAt time.Time, wr *write) []phase {
	l := p.stacks
	why := "The following resource(s) failed to create: [" + f.logicalID() + "]. Rollback requested by user."
	end := phase{at: failedAt.Add(l.timing.Rollback), status: "ROLLBACK_COMPLETE", overlay: true,
		events: []stackEvent{stackLevel(rec, "ROLLBACK_COMPLETE", "", token, failedAt)},
		do:     func() { p.motoDelete(rec) }}
	if l.hook != nil || len(rec.trails) > 0 || len(wr.trails) > 0 {
		end.prepare = func() *StackFailure { return p.endFailure(rec, "CREATE", "ROLLBACK_COMPLETE", wr, true) }
	}
	return []phase{
		{at: failedAt, status: "ROLLBACK_IN_PROGRESS", reason: why, overlay: true, events: []stackEvent{
			{id: newEventID(), logicalID: f.logicalID(), resourceType: f.resourceType(), status: "CREATE_FAILED", reason: f.reason(), token: token},
			stackLevel(rec, "ROLLBACK_IN_PROGRESS", why, token, failedAt),
		}},
		end,
	}
}

func stackLevel(r *stackRec, status, reason, token string, at time.Time) stackEvent {
	return stackEvent{id: newEventID(), logicalID: r.key.name, physicalID: r.id, resourceType: "AWS::CloudFormation::Stack",
		status: status, reason: reason, token: token, at: at}
}

// stale reports whether moto no longer holds a stack the record says it holds: someone
// deleted it in moto directly (the harness, as a person would). Caller holds l.mu, which
// stale releases while it asks moto.
func (p *Proxy) stale(r *http.Request, rec *stackRec) bool {
	if !rec.inMoto || strings.HasSuffix(rec.status, "_IN_PROGRESS") {
		return false
	}
	l := p.stacks
	l.mu.Unlock()
	resp, out, err := p.motoCall(r.Header, r.Host, url.Values{"Action": {"DescribeStacks"}, "Version": {"2010-05-15"}, "StackName": {rec.id}})
	l.mu.Lock()
	if err != nil {
		return false
	}
	return resp.StatusCode != http.StatusOK || xmlText(out, "StackStatus") == "DELETE_COMPLETE"
}

// forget drops a record whose stack is gone. Caller holds l.mu.
func (l *stacksLayer) forget(rec *stackRec) {
	rec.seq++
	rec.deleted, rec.inMoto, rec.phases = true, false, nil
	if l.recs[rec.key] == rec {
		delete(l.recs, rec.key)
	}
}

// adopt returns the record of a stack the layer has not written yet, read from moto (nil
// when moto has no such stack). Caller holds l.mu, which adopt releases while it asks moto.
func (p *Proxy) adopt(r *http.Request, c Call, nameOrID string) *stackRec {
	l := p.stacks
	l.mu.Unlock()
	form := url.Values{"Action": {"DescribeStacks"}, "Version": {"2010-05-15"}, "StackName": {nameOrID}}
	resp, out, err := p.motoCall(r.Header, r.Host, form)
	l.mu.Lock()
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	id, status := xmlText(out, "StackId"), xmlText(out, "StackStatus")
	name := xmlText(out, "StackName")
	if id == "" || status == "DELETE_COMPLETE" {
		return nil
	}
	if rec := l.byID[id]; rec != nil {
		return rec
	}
	rec := &stackRec{key: stackKey{c.Account, c.Region, name}, id: id, status: status, inMoto: true,
		tokens: map[string]bool{}, auth: r.Header.Clone(), host: r.Host}
	l.recs[rec.key], l.byID[id] = rec, rec
	return rec
}

func notUpdatable(w http.ResponseWriter, rec *stackRec) {
	writeCFNError(w, http.StatusBadRequest, "ValidationError", "Stack:"+rec.id+" is in "+rec.status+" state and can not be updated.")
}

func (p *Proxy) updateStack(w http.ResponseWriter, r *http.Request, c Call, q cfnRequest, body []byte) {
	l := p.stacks
	l.mu.Lock()
	rec := l.lookup(c, q.stackName)
	if rec == nil || rec.deleted {
		rec = p.adopt(r, c, q.stackName)
	}
	if rec == nil {
		l.mu.Unlock()
		writeCFNError(w, http.StatusBadRequest, "ValidationError", "Stack with id "+q.stackName+" does not exist")
		return
	}
	if q.token != "" && rec.tokens[q.token] {
		l.mu.Unlock()
		writeCFNResult(w, "UpdateStack", "<StackId>"+html.EscapeString(rec.id)+"</StackId>")
		return
	}
	switch rec.status {
	case "CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE":
	default:
		l.mu.Unlock()
		notUpdatable(w, rec)
		return
	}
	fail := l.failure(c, rec.key.name, "UPDATE", q.templateURL, q.params)
	var rollbackFail *StackFailure
	if fail != nil {
		rollbackFail = l.failure(c, rec.key.name, "UPDATE_ROLLBACK", q.templateURL, q.params)
	}
	timing := l.timing
	prev, live := rec.done, rec.trails
	l.mu.Unlock()
	facts := p.templateOf(q.templateURL)
	if fail == nil {
		fail = tagFailure(facts, q.tags)
	}
	wr, body, err := p.newWrite(c, q, body, prev, live)
	if err != nil {
		writeCFNError(w, http.StatusBadRequest, "ValidationError", "Template error: "+err.Error())
		return
	}

	if fail == nil {
		resp, out, err := p.roundTrip(r, body)
		if err != nil {
			http.Error(w, "proxy: upstream: "+err.Error(), http.StatusBadGateway)
			return
		}
		if resp.StatusCode != http.StatusOK { // "No updates are to be performed." among others
			passThrough(w, resp, out)
			return
		}
	}
	noEcho := facts.noEcho
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advance(rec, now)
	if len(noEcho) > 0 {
		rec.noEcho = noEcho
	}
	if q.token != "" {
		rec.tokens[q.token] = true
	}
	rec.auth, rec.host = r.Header.Clone(), r.Host
	rec.status, rec.reason, rec.overlay = "UPDATE_IN_PROGRESS", "User Initiated", true
	rec.events = append(rec.events, stackLevel(rec, "UPDATE_IN_PROGRESS", "User Initiated", q.token, now))
	if fail != nil {
		// The update never reached moto: nothing to undo there.
		l.schedule(rec, p.updateFailed(rec, fail, rollbackFail, q.token, now.Add(timing.Update), false)...)
	} else {
		done := phase{at: now.Add(timing.Update), status: "UPDATE_COMPLETE", overlay: false,
			events: []stackEvent{stackLevel(rec, "UPDATE_COMPLETE", "", q.token, now)}}
		if l.hook != nil || len(wr.trails) > 0 || len(rec.trails) > 0 {
			done.prepare = func() *StackFailure { return p.completeWrite(rec, "UPDATE", "UPDATE_COMPLETE", wr) }
			// moto has the update already: the rollback gives it the last write back.
			done.onFail = func(at time.Time, f *StackFailure) []phase { return p.updateFailed(rec, f, nil, q.token, at, true) }
		}
		l.schedule(rec, done)
	}
	writeCFNResult(w, "UpdateStack", "<StackId>"+html.EscapeString(rec.id)+"</StackId>")
}

// updateFailed is how a failed update goes on: UPDATE_ROLLBACK_IN_PROGRESS at failedAt, then
// UPDATE_ROLLBACK_COMPLETE with the last completed write back in moto (revert: moto has the
// failed one) and its trails, or UPDATE_ROLLBACK_FAILED when rollbackFail says so or the
// revert fails. Caller holds l.mu.
func (p *Proxy) updateFailed(rec *stackRec, f, rollbackFail *StackFailure, token string, failedAt time.Time, revert bool) []phase {
	l := p.stacks
	why := "The following resource(s) failed to update: [" + f.logicalID() + "]. "
	rolledBack := failedAt.Add(l.timing.Rollback)
	failedRollback := func(at time.Time, rf *StackFailure) phase {
		reason := "The following resource(s) failed to update: [" + rf.logicalID() + "]. "
		ph := phase{at: at, status: "UPDATE_ROLLBACK_FAILED", reason: reason, overlay: true,
			events: []stackEvent{
				{id: newEventID(), logicalID: rf.logicalID(), resourceType: rf.resourceType(), status: "UPDATE_FAILED", reason: rf.reason(), token: token},
				stackLevel(rec, "UPDATE_ROLLBACK_FAILED", reason, token, at),
			}}
		if l.hook != nil {
			ph.prepare = func() *StackFailure { return p.endFailure(rec, "UPDATE", "UPDATE_ROLLBACK_FAILED", nil, false) }
		}
		return ph
	}
	var end phase
	if rollbackFail != nil {
		end = failedRollback(rolledBack, rollbackFail)
	} else {
		end = phase{at: rolledBack, status: "UPDATE_ROLLBACK_COMPLETE", overlay: true,
			events: []stackEvent{stackLevel(rec, "UPDATE_ROLLBACK_COMPLETE", "", token, failedAt)}}
		if revert || l.hook != nil {
			end.prepare = func() *StackFailure { return p.rollbackUpdate(rec, revert) }
			end.onFail = func(at time.Time, rf *StackFailure) []phase { return []phase{failedRollback(at, rf)} }
		}
	}
	return []phase{
		{at: failedAt, status: "UPDATE_ROLLBACK_IN_PROGRESS", reason: why, overlay: true, events: []stackEvent{
			{id: newEventID(), logicalID: f.logicalID(), resourceType: f.resourceType(), status: "UPDATE_FAILED", reason: f.reason(), token: token},
			stackLevel(rec, "UPDATE_ROLLBACK_IN_PROGRESS", why, token, failedAt),
		}},
		end,
	}
}

func (p *Proxy) deleteStack(w http.ResponseWriter, r *http.Request, c Call, q cfnRequest, body []byte) {
	l := p.stacks
	l.mu.Lock()
	rec := l.lookup(c, q.stackName)
	if rec == nil {
		rec = p.adopt(r, c, q.stackName)
	}
	if rec == nil || rec.deleted { // deleting a stack that is not there succeeds, as on AWS
		l.mu.Unlock()
		writeCFNResult(w, "DeleteStack", "")
		return
	}
	if (q.token != "" && rec.tokens[q.token]) || rec.status == "DELETE_IN_PROGRESS" {
		l.mu.Unlock()
		writeCFNResult(w, "DeleteStack", "")
		return
	}
	if strings.HasSuffix(rec.status, "_IN_PROGRESS") {
		l.mu.Unlock()
		notUpdatable(w, rec)
		return
	}
	fail := l.failure(c, rec.key.name, "DELETE", "", nil)
	timing := l.timing
	now := time.Now()
	defer l.mu.Unlock()
	if q.token != "" {
		rec.tokens[q.token] = true
	}
	rec.auth, rec.host = r.Header.Clone(), r.Host
	rec.status, rec.reason, rec.overlay = "DELETE_IN_PROGRESS", "User Initiated", true
	rec.events = append(rec.events, stackLevel(rec, "DELETE_IN_PROGRESS", "User Initiated", q.token, now))
	deleteFailed := func(at time.Time, f *StackFailure) phase {
		why := "The following resource(s) failed to delete: [" + f.logicalID() + "]. "
		ph := phase{at: at, status: "DELETE_FAILED", reason: why, overlay: true, events: []stackEvent{
			{id: newEventID(), logicalID: f.logicalID(), resourceType: f.resourceType(), status: "DELETE_FAILED", reason: f.reason(), token: q.token},
			stackLevel(rec, "DELETE_FAILED", why, q.token, at),
		}}
		if l.hook != nil {
			ph.prepare = func() *StackFailure { return p.endFailure(rec, "DELETE", "DELETE_FAILED", nil, false) }
		}
		return ph
	}
	if fail != nil {
		l.schedule(rec, deleteFailed(now.Add(timing.Delete), fail))
		writeCFNResult(w, "DeleteStack", "")
		return
	}
	done := phase{at: now.Add(timing.Delete), status: "DELETE_COMPLETE", overlay: true,
		events: []stackEvent{stackLevel(rec, "DELETE_COMPLETE", "", q.token, now)},
		do: func() {
			p.motoDelete(rec)
			rec.deleted = true
			if l.recs[rec.key] == rec {
				delete(l.recs, rec.key)
			}
		}}
	if l.hook != nil || len(rec.trails) > 0 {
		done.prepare = func() *StackFailure { return p.completeDelete(rec) }
		done.onFail = func(at time.Time, f *StackFailure) []phase { return []phase{deleteFailed(at, f)} }
	}
	l.schedule(rec, done)
	writeCFNResult(w, "DeleteStack", "")
}

func (p *Proxy) continueRollback(w http.ResponseWriter, r *http.Request, c Call, q cfnRequest, body []byte) {
	l := p.stacks
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := l.lookup(c, q.stackName)
	if rec == nil || rec.deleted {
		writeCFNError(w, http.StatusBadRequest, "ValidationError", "Stack with id "+q.stackName+" does not exist")
		return
	}
	if q.token != "" && rec.tokens[q.token] {
		writeCFNResult(w, "ContinueUpdateRollback", "")
		return
	}
	if rec.status != "UPDATE_ROLLBACK_FAILED" {
		writeCFNError(w, http.StatusBadRequest, "ValidationError", "Stack:"+rec.id+" is in "+rec.status+" state and can not be updated.")
		return
	}
	now := time.Now()
	if q.token != "" {
		rec.tokens[q.token] = true
	}
	rec.status, rec.reason, rec.overlay = "UPDATE_ROLLBACK_IN_PROGRESS", "User Initiated", true
	rec.events = append(rec.events, stackLevel(rec, "UPDATE_ROLLBACK_IN_PROGRESS", "User Initiated", q.token, now))
	done := phase{at: now.Add(l.timing.Rollback), status: "UPDATE_ROLLBACK_COMPLETE", overlay: true,
		events: []stackEvent{stackLevel(rec, "UPDATE_ROLLBACK_COMPLETE", "", q.token, now)}}
	if l.hook != nil {
		done.prepare = func() *StackFailure {
			return p.endFailure(rec, "CONTINUE_UPDATE_ROLLBACK", "UPDATE_ROLLBACK_COMPLETE", nil, false)
		}
	}
	l.schedule(rec, done)
	writeCFNResult(w, "ContinueUpdateRollback", "")
}

// motoDelete deletes the stack in moto, as the caller of its last write. Caller holds l.mu.
func (p *Proxy) motoDelete(rec *stackRec) {
	if !rec.inMoto {
		return
	}
	rec.inMoto = false
	auth, host, id := rec.auth, rec.host, rec.id
	go func() { // moto is asked outside the lock
		_, _, _ = p.motoCall(auth, host, url.Values{"Action": {"DeleteStack"}, "Version": {"2010-05-15"}, "StackName": {id}})
	}()
}

func (p *Proxy) describeStacks(w http.ResponseWriter, r *http.Request, c Call, q cfnRequest, body []byte) {
	l := p.stacks
	resp, out, err := p.roundTrip(r, body)
	if err != nil {
		http.Error(w, "proxy: upstream: "+err.Error(), http.StatusBadGateway)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if resp.StatusCode != http.StatusOK {
		// moto does not know the stack: the layer may (a create that rolled back, a stack
		// deleted, asked for by id).
		rec := l.lookup(c, q.stackName)
		switch {
		case rec != nil && (!rec.inMoto || rec.deleted) && !(rec.deleted && !strings.HasPrefix(q.stackName, "arn:")):
			writeCFNResult(w, "DescribeStacks", "<Stacks><member>"+synthMember(rec)+"</member></Stacks>")
			return
		case rec != nil && rec.inMoto && !strings.HasSuffix(rec.status, "_IN_PROGRESS"):
			l.forget(rec) // deleted in moto directly
		}
		passThrough(w, resp, out)
		return
	}
	var doc describeStacksXML
	if err := xml.Unmarshal(out, &doc); err != nil {
		passThrough(w, resp, out)
		return
	}
	var b strings.Builder
	b.WriteString("<Stacks>")
	for _, m := range doc.Result.Members {
		id := m.field("StackId")
		if rec := l.byID[id]; rec != nil {
			l.advance(rec, time.Now())
			m = overlayMember(m, rec)
		}
		b.WriteString("<member>")
		for _, f := range m.Fields {
			b.WriteString("<" + f.XMLName.Local + ">" + f.Inner + "</" + f.XMLName.Local + ">")
		}
		b.WriteString("</member>")
	}
	b.WriteString("</Stacks>")
	if doc.Result.NextToken != "" {
		b.WriteString("<NextToken>" + html.EscapeString(doc.Result.NextToken) + "</NextToken>")
	}
	writeCFNResult(w, "DescribeStacks", b.String())
}

func (p *Proxy) describeStackEvents(w http.ResponseWriter, c Call, q cfnRequest) bool {
	l := p.stacks
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := l.lookup(c, q.stackName)
	if rec == nil || len(rec.events) == 0 {
		return false
	}
	var b strings.Builder
	b.WriteString("<StackEvents>")
	for i := len(rec.events) - 1; i >= 0; i-- { // newest first
		e := rec.events[i]
		b.WriteString("<member>")
		for _, kv := range [][2]string{
			{"StackId", rec.id}, {"EventId", e.id}, {"StackName", rec.key.name}, {"LogicalResourceId", e.logicalID},
			{"PhysicalResourceId", e.physicalID}, {"ResourceType", e.resourceType},
			{"Timestamp", e.at.UTC().Format("2006-01-02T15:04:05.000Z")}, {"ResourceStatus", e.status},
			{"ResourceStatusReason", e.reason}, {"ClientRequestToken", e.token},
		} {
			if kv[1] != "" {
				b.WriteString("<" + kv[0] + ">" + html.EscapeString(kv[1]) + "</" + kv[0] + ">")
			}
		}
		b.WriteString("</member>")
	}
	b.WriteString("</StackEvents>")
	writeCFNResult(w, "DescribeStackEvents", b.String())
	return true
}

// ---- XML ----

type rawField struct {
	XMLName xml.Name
	Inner   string `xml:",innerxml"`
}

type rawMember struct {
	Fields []rawField `xml:",any"`
}

func (m rawMember) field(name string) string {
	for _, f := range m.Fields {
		if f.XMLName.Local == name {
			return html.UnescapeString(f.Inner)
		}
	}
	return ""
}

func (m rawMember) set(name, value string) rawMember {
	out := rawMember{Fields: make([]rawField, 0, len(m.Fields)+1)}
	done := false
	for _, f := range m.Fields {
		if f.XMLName.Local == name {
			if value != "" {
				out.Fields = append(out.Fields, rawField{XMLName: xml.Name{Local: name}, Inner: html.EscapeString(value)})
			}
			done = true
			continue
		}
		out.Fields = append(out.Fields, f)
	}
	if !done && value != "" {
		out.Fields = append(out.Fields, rawField{XMLName: xml.Name{Local: name}, Inner: html.EscapeString(value)})
	}
	return out
}

type describeStacksXML struct {
	Result struct {
		Members   []rawMember `xml:"Stacks>member"`
		NextToken string      `xml:"NextToken"`
	} `xml:"DescribeStacksResult"`
}

var paramRE = regexp.MustCompile(`(?s)<member>\s*<ParameterKey>([^<]*)</ParameterKey>\s*<ParameterValue>[^<]*</ParameterValue>`)

// overlayMember puts the record's status, reason and NoEcho masking on moto's stack.
func overlayMember(m rawMember, rec *stackRec) rawMember {
	if rec.overlay {
		m = m.set("StackStatus", rec.status)
		m = m.set("StackStatusReason", rec.reason)
	}
	if len(rec.noEcho) > 0 {
		for i, f := range m.Fields {
			if f.XMLName.Local == "Parameters" {
				m.Fields[i].Inner = paramRE.ReplaceAllStringFunc(f.Inner, func(s string) string {
					k := paramRE.FindStringSubmatch(s)[1]
					if !rec.noEcho[html.UnescapeString(k)] {
						return s
					}
					return "<member><ParameterKey>" + k + "</ParameterKey><ParameterValue>****</ParameterValue>"
				})
			}
		}
	}
	return m
}

// synthMember is a stack moto does not hold (any more), from the record alone.
func synthMember(rec *stackRec) string {
	var b strings.Builder
	for _, kv := range [][2]string{{"StackId", rec.id}, {"StackName", rec.key.name}, {"StackStatus", rec.status}, {"StackStatusReason", rec.reason}} {
		if kv[1] != "" {
			b.WriteString("<" + kv[0] + ">" + html.EscapeString(kv[1]) + "</" + kv[0] + ">")
		}
	}
	if len(rec.events) > 0 {
		b.WriteString("<CreationTime>" + rec.events[0].at.UTC().Format("2006-01-02T15:04:05.000Z") + "</CreationTime>")
	}
	b.WriteString("<Parameters>")
	for _, kv := range rec.params {
		v := kv[1]
		if rec.noEcho[kv[0]] {
			v = "****"
		}
		b.WriteString("<member><ParameterKey>" + html.EscapeString(kv[0]) + "</ParameterKey><ParameterValue>" + html.EscapeString(v) + "</ParameterValue></member>")
	}
	b.WriteString("</Parameters><Tags>")
	for _, kv := range rec.tags {
		b.WriteString("<member><Key>" + html.EscapeString(kv[0]) + "</Key><Value>" + html.EscapeString(kv[1]) + "</Value></member>")
	}
	b.WriteString("</Tags>")
	return b.String()
}

func xmlText(body []byte, elem string) string {
	open, end := "<"+elem+">", "</"+elem+">"
	i := bytes.Index(body, []byte(open))
	if i < 0 {
		return ""
	}
	rest := body[i+len(open):]
	j := bytes.Index(rest, []byte(end))
	if j < 0 {
		return ""
	}
	return html.UnescapeString(string(rest[:j]))
}

func writeCFNResult(w http.ResponseWriter, action, inner string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, `<%sResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><%sResult>%s</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`,
		action, action, inner, action, newRequestID(), action)
}

func writeCFNError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		code, html.EscapeString(msg), newRequestID())
}

func passThrough(w http.ResponseWriter, resp *http.Response, body []byte) {
	copyHeader(w.Header(), resp.Header)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// roundTrip forwards the request to moto and reads the whole answer.
func (p *Proxy) roundTrip(r *http.Request, body []byte) (*http.Response, []byte, error) {
	resp, err := p.forward(r, body, true)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp, out, err
}

// motoCall makes a CloudFormation query call to moto as the caller whose headers are given
// (moto finds the account from the access key and does not check signatures).
func (p *Proxy) motoCall(h http.Header, host string, form url.Values) (*http.Response, []byte, error) {
	body := []byte(form.Encode())
	req, err := http.NewRequest(http.MethodPost, p.upstream.String()+"/", bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("Authorization", h.Get("Authorization"))
	if t := h.Get("X-Amz-Security-Token"); t != "" {
		req.Header.Set("X-Amz-Security-Token", t)
	}
	req.Header.Set("X-Amz-Date", h.Get("X-Amz-Date"))
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp, out, err
}

// templateFacts is what the layer needs of a template: its NoEcho parameter names, the
// logical ids of its IAM roles (the resources that take the stack's tags under IAM's rules)
// and of its trails, and the template itself, read (cfneval.go).
type templateFacts struct {
	noEcho   map[string]bool
	iamRoles []string
	trails   []string
	doc      map[string]any
}

// templateOf reads a template at a URL that moto serves (the path of the URL is asked of moto's
// S3, path-style). An unknown template masks nothing and has no role.
func (p *Proxy) templateOf(templateURL string) templateFacts {
	if templateURL == "" {
		return templateFacts{}
	}
	l := p.stacks
	l.mu.Lock()
	if f, ok := l.templates[templateURL]; ok {
		l.mu.Unlock()
		return f
	}
	l.mu.Unlock()
	u, err := url.Parse(templateURL)
	if err != nil {
		return templateFacts{}
	}
	// moto refuses anonymous reads; it takes the account from the access key and checks no
	// signature: the template is read as the default (management) account.
	h := http.Header{"Authorization": {"AWS4-HMAC-SHA256 Credential=" + motoReaderKey + "/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"}}
	resp, err := p.transport.RoundTrip(&http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: p.upstream.Scheme, Host: p.upstream.Host, Path: u.Path},
		Host: p.upstream.Host, Header: h})
	if err != nil {
		return templateFacts{}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return templateFacts{}
	}
	var t struct {
		Parameters map[string]struct {
			NoEcho any `yaml:"NoEcho"`
		} `yaml:"Parameters"`
		Resources map[string]struct {
			Type string `yaml:"Type"`
		} `yaml:"Resources"`
	}
	if yaml.Unmarshal(b, &t) != nil {
		return templateFacts{}
	}
	f := templateFacts{noEcho: map[string]bool{}}
	for k, v := range t.Parameters {
		if s := fmt.Sprint(v.NoEcho); strings.EqualFold(s, "true") {
			f.noEcho[k] = true
		}
	}
	for id, r := range t.Resources {
		if r.Type == "AWS::IAM::Role" {
			f.iamRoles = append(f.iamRoles, id)
		}
	}
	sort.Strings(f.iamRoles)
	if doc, err := parseTemplate(b); err == nil {
		f.doc = doc
		f.trails = resourcesOfType(doc, trailType)
	}
	l.mu.Lock()
	l.templates[templateURL] = f
	l.mu.Unlock()
	return f
}

// iamTagValue is IAM's rule for a tag value (https://docs.aws.amazon.com/IAM/latest/APIReference/API_Tag.html:
// "Length Constraints: Minimum length of 0. Maximum length of 256. Pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*").
var iamTagValue = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$`)

// tagFailure is the failure AWS gives a stack write whose tags IAM refuses: CloudFormation
// propagates a stack's tags to the resources it makes that take tags ("AWS CloudFormation
// propagates these tags to the resources created in the stack",
// https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html, Tags),
// IAM roles among them, so the first role's creation or update fails and the operation rolls
// back. moto neither propagates the tags nor checks them. Nil when IAM takes every tag.
func tagFailure(f templateFacts, tags [][2]string) *StackFailure {
	if len(f.iamRoles) == 0 {
		return nil
	}
	for i, kv := range tags {
		if !iamTagValue.MatchString(kv[1]) {
			return &StackFailure{LogicalID: f.iamRoles[0], ResourceType: "AWS::IAM::Role",
				Reason: fmt.Sprintf("1 validation error detected: Value at 'tags.%d.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]* (Service: Iam, Status Code: 400)", i+1)}
		}
	}
	return nil
}

// motoReaderKey is an access key moto maps to its default account.
const motoReaderKey = "testing"

func newEventID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	s := hex.EncodeToString(b)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// StackEvents returns the events the layer holds for a stack, newest first (tests read what
// the product would read).
func (p *Proxy) StackEvents(account, region, name string) []string {
	l := p.stacks
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.recs[stackKey{account, region, name}]
	if r == nil {
		return nil
	}
	l.advance(r, time.Now())
	out := make([]string, 0, len(r.events))
	for i := len(r.events) - 1; i >= 0; i-- {
		e := r.events[i]
		out = append(out, e.logicalID+" "+e.status+" "+e.reason)
	}
	return out
}
