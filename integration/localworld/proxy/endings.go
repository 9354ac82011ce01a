package proxy

// The work that ends a stack operation of the layer, run before the stack shows its final
// status (phase.prepare): the stack's trails (trails.go), then the stack hook.

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// caller is what the layer's own calls about rec need. Caller holds l.mu.
func (rec *stackRec) caller() stackCaller {
	return stackCaller{account: rec.key.account, region: rec.key.region, name: rec.key.name, id: rec.id, auth: rec.auth.Clone(), host: rec.host}
}

// lastWrite is the stack's last completed write, or what the record knows of the stack when
// none went through the layer (an adopted stack). Caller holds l.mu.
func (rec *stackRec) lastWrite() *write {
	if rec.done != nil {
		return rec.done
	}
	return &write{params: rec.params, tags: rec.tags, noEcho: rec.noEcho}
}

// completeWrite ends a create or update that moto took: the trails of the write, then the
// hook, which may still fail the operation. The write becomes the stack's last one.
func (p *Proxy) completeWrite(rec *stackRec, op, status string, w *write) *StackFailure {
	l := p.stacks
	l.mu.Lock()
	s, live, hook := rec.caller(), rec.trails, l.hook
	l.mu.Unlock()
	if len(w.trails) > 0 || len(live) > 0 {
		if f := p.applyTrails(rec, s, w, live); f != nil {
			return f
		}
	}
	if hook != nil {
		if err := hook(p.outcome(s, op, status, w, true)); err != nil {
			return hookFailure(err)
		}
	}
	l.mu.Lock()
	rec.done, rec.params, rec.tags = w, w.params, w.tags
	l.mu.Unlock()
	return nil
}

// applyTrails makes the stack's trails those of w (nil: none) and records what the stack has
// afterwards, whether or not that worked.
func (p *Proxy) applyTrails(rec *stackRec, s stackCaller, w *write, live map[string]liveTrail) *StackFailure {
	var want []desiredTrail
	var f *StackFailure
	if w != nil {
		want, f = p.resolveTrails(s, w.doc, w)
	}
	if f == nil {
		live, f = p.syncTrails(s, want, live)
	}
	p.stacks.mu.Lock()
	rec.trails = live
	p.stacks.mu.Unlock()
	return f
}

// completeDelete ends a delete: the stack's trails go (before moto deletes the bucket they
// write to), then the hook, which may still fail the delete.
func (p *Proxy) completeDelete(rec *stackRec) *StackFailure {
	l := p.stacks
	l.mu.Lock()
	s, live, hook, w := rec.caller(), rec.trails, l.hook, rec.lastWrite()
	l.mu.Unlock()
	if len(live) > 0 {
		left, f := p.syncTrails(s, nil, live)
		l.mu.Lock()
		rec.trails = left
		l.mu.Unlock()
		if f != nil {
			return f
		}
	}
	if hook != nil {
		if err := hook(p.outcome(s, "DELETE", "DELETE_COMPLETE", w, false)); err != nil {
			return hookFailure(err)
		}
	}
	return nil
}

// endFailure ends an operation that failed: with dropTrails (a create rolled back) the
// stack's trails go, then the hook is told. w is the write that failed (nil: the last one).
func (p *Proxy) endFailure(rec *stackRec, op, status string, w *write, dropTrails bool) *StackFailure {
	l := p.stacks
	l.mu.Lock()
	s, live, hook := rec.caller(), rec.trails, l.hook
	if w == nil {
		w = rec.lastWrite()
	}
	l.mu.Unlock()
	if dropTrails && len(live) > 0 {
		// As the rest of the rollback here, deleting them cannot fail the stack.
		left, _ := p.syncTrails(s, nil, live)
		l.mu.Lock()
		rec.trails = left
		l.mu.Unlock()
	}
	if hook != nil {
		_ = hook(p.outcome(s, op, status, w, false))
	}
	return nil
}

// rollbackUpdate ends the rollback of an update. With revert (moto took the failed update)
// moto is given the last completed write back, and the trails follow it. A stack the layer
// adopted has no completed write of its own: moto then keeps the failed update's template
// and parameters, the one case where the layer shows UPDATE_ROLLBACK_COMPLETE over them.
func (p *Proxy) rollbackUpdate(rec *stackRec, revert bool) *StackFailure {
	l := p.stacks
	l.mu.Lock()
	s, live, hook, prev := rec.caller(), rec.trails, l.hook, rec.done
	l.mu.Unlock()
	if revert {
		if prev != nil {
			if err := p.motoRevert(s, prev); err != nil {
				return &StackFailure{LogicalID: s.name, ResourceType: "AWS::CloudFormation::Stack", Reason: err.Error()}
			}
		}
		if f := p.applyTrails(rec, s, prev, live); f != nil {
			return f
		}
	}
	if hook != nil {
		l.mu.Lock()
		w := rec.lastWrite()
		l.mu.Unlock()
		_ = hook(p.outcome(s, "UPDATE", "UPDATE_ROLLBACK_COMPLETE", w, false))
	}
	return nil
}

// motoRevert gives moto a write again: the template and parameters of the stack's last
// completed write.
func (p *Proxy) motoRevert(s stackCaller, w *write) error {
	form := url.Values{"Action": {"UpdateStack"}, "Version": {"2010-05-15"}, "StackName": {s.id}}
	switch {
	case w.body != nil:
		form.Set("TemplateBody", string(w.body))
	case w.url != "":
		form.Set("TemplateURL", w.url)
	default:
		form.Set("UsePreviousTemplate", "true")
	}
	for i, kv := range w.params {
		n := strconv.Itoa(i + 1)
		form.Set("Parameters.member."+n+".ParameterKey", kv[0])
		form.Set("Parameters.member."+n+".ParameterValue", kv[1])
	}
	for i, kv := range w.tags {
		n := strconv.Itoa(i + 1)
		form.Set("Tags.member."+n+".Key", kv[0])
		form.Set("Tags.member."+n+".Value", kv[1])
	}
	resp, out, err := p.motoCall(s.auth, s.host, form)
	if err != nil {
		return err
	}
	if msg := xmlText(out, "Message"); resp.StatusCode != http.StatusOK && !strings.Contains(msg, "No updates are to be performed") {
		return fmt.Errorf("the rollback could not restore the stack's previous template: %s", msg)
	}
	return nil
}

// hookFailure is the resource failure a hook's error stands for.
func hookFailure(err error) *StackFailure {
	var sf *StackFailure
	if errors.As(err, &sf) {
		c := *sf
		return &c
	}
	return &StackFailure{LogicalID: "StackHook", ResourceType: "AWS::CloudFormation::CustomResource", Reason: err.Error()}
}

// outcome is what the hook is told. outputs: read the stack's outputs from moto.
func (p *Proxy) outcome(s stackCaller, op, status string, w *write, outputs bool) StackOutcome {
	o := StackOutcome{Account: s.account, Region: s.region, Stack: s.name, StackID: s.id, Operation: op, Status: status,
		TemplateURL: w.url, Parameters: map[string]string{}, Tags: map[string]string{}}
	for k, v := range w.effectiveParams() {
		if w.noEcho[k] {
			v = "****" // as DescribeStacks shows a NoEcho parameter
		}
		o.Parameters[k] = v
	}
	for _, kv := range w.tags {
		o.Tags[kv[0]] = kv[1]
	}
	if outputs {
		o.Outputs = p.stackOutputs(s)
	}
	return o
}

// stackOutputs reads the stack's outputs from moto (nil when it cannot).
func (p *Proxy) stackOutputs(s stackCaller) map[string]string {
	resp, out, err := p.motoCall(s.auth, s.host, url.Values{"Action": {"DescribeStacks"}, "Version": {"2010-05-15"}, "StackName": {s.id}})
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	var doc struct {
		Outputs []struct {
			Key   string `xml:"OutputKey"`
			Value string `xml:"OutputValue"`
		} `xml:"DescribeStacksResult>Stacks>member>Outputs>member"`
	}
	if xml.Unmarshal(out, &doc) != nil {
		return nil
	}
	m := map[string]string{}
	for _, o := range doc.Outputs {
		m[o.Key] = o.Value
	}
	return m
}
