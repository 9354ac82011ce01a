package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld"
)

// timeline reads the Lambdas' JSON log lines (the intakes' "event" decisions, the worker's
// "reconcile" results) and prints them for a person.
type timeline struct {
	env   *localworld.Env
	names map[string]string // account id -> name
}

func newTimeline(env *localworld.Env, org *localworld.Org) *timeline {
	t := &timeline{env: env, names: map[string]string{}}
	for _, a := range org.Accounts {
		t.names[a.ID] = a.Name
	}
	return t
}

// timelineHandlers are the functions whose lines make the timeline.
var timelineHandlers = []string{"accountvending", "trailguard", "sweep", "reconcile"}

type marks map[string][]int

func (t *timeline) mark() marks {
	m := marks{}
	for _, h := range timelineHandlers {
		if p := t.env.Lambdas[h]; p != nil {
			m[h] = p.Marks()
		}
	}
	return m
}

// entry is one log line of interest.
type entry struct {
	time    time.Time
	handler string
	fields  map[string]any
	waits   int // a "wait" line stands for this many looks at the same operation
}

// collapseWaits keeps one line for an account's looks at a stack operation in progress: the
// worker comes back to it again and again while CloudFormation works, which says nothing new.
func collapseWaits(es []entry) []entry {
	var out []entry
	lastWait := map[string]int{} // account -> index in out of its wait line, while they repeat
	for _, e := range es {
		acct := e.str("account")
		if e.handler == "reconcile" && e.str("action") == "wait" {
			if i, ok := lastWait[acct]; ok {
				out[i].waits++
				continue
			}
			e.waits = 1
			lastWait[acct] = len(out)
			out = append(out, e)
			continue
		}
		if e.handler == "reconcile" {
			delete(lastWait, acct)
		}
		out = append(out, e)
	}
	return out
}

func (e entry) str(k string) string {
	v, ok := e.fields[k]
	if !ok || v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// entries are the decision lines since the marks, in time order.
func (t *timeline) entries(m marks) []entry {
	var out []entry
	for _, h := range timelineHandlers {
		p := t.env.Lambdas[h]
		if p == nil {
			continue
		}
		for _, line := range strings.Split(p.LogsSince(m[h]), "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var f map[string]any
			if json.Unmarshal([]byte(line), &f) != nil {
				continue
			}
			msg, _ := f["msg"].(string)
			if msg == "" {
				msg, _ = f["message"].(string)
			}
			if msg != "event" && msg != "reconcile" {
				continue
			}
			ts, _ := f["timestamp"].(string) // the Lambdas' JSON logs
			if ts == "" {
				ts, _ = f["time"].(string)
			}
			// RFC 3339 with the fraction's trailing zeros dropped: compared as times, not
			// as strings ("…:01Z" sorts after "…:01.5Z").
			at, _ := time.Parse(time.RFC3339Nano, ts)
			out = append(out, entry{time: at, handler: h, fields: f})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		// intakes first, then the worker: the order the pipeline runs them
		ri, rj := out[i].handler == "reconcile", out[j].handler == "reconcile"
		if ri != rj {
			return rj
		}
		return out[i].time.Before(out[j].time)
	})
	return out
}

// print writes decision lines (entries' answer), one per decision, aligned:
//
//	FUNCTION        ACCOUNT       NAME       DECISION       WHY
func (t *timeline) print(w io.Writer, entries []entry) {
	es := collapseWaits(entries)
	if len(es) == 0 {
		fmt.Fprintln(w, "   (no decision logged)")
	}
	for _, e := range es {
		acct := e.str("account")
		name := t.names[acct]
		if acct == localworld.ManagementAccount {
			name = "(management)"
		}
		var what, why string
		var more []string
		if e.handler == "reconcile" {
			what = e.str("action")
			if c := e.str("class"); c != "none" && c != "" {
				what += " (" + e.str("outcome") + ", " + c + ")"
			}
			why = t.short(e.str("reason"), acct)
			// The trail resolution's why goes on its own line, out of the reason.
			if tr, ok := e.fields["trail"].(map[string]any); ok && e.str("action") != "start-logging" {
				if s, _ := tr["why"].(string); s != "" {
					why = strings.Replace(why, " ("+s+")", "", 1)
					more = append(more, "trail: "+t.short(s, acct))
				}
			}
			if b, a := e.str("status_before"), e.str("status_after"); a != "" && a != b {
				why += "; now " + a
			}
			// What Vision One said of the account, when the pass read it (its words about a
			// failure are in the reason already).
			if v, ok := e.fields["view"].(map[string]any); ok && !strings.Contains(why, "Vision One reports") {
				why += "; " + viewText(v)
			}
			if n := e.waits; n > 1 {
				why += fmt.Sprintf(" (%d looks, %s apart or more: no worker waits)", n, e.str("retry_after_s")+"s")
			}
		} else {
			what = e.str("decision")
			why = e.str("reason")
			if dt := e.str("detail"); dt != "" {
				why += ": " + t.short(dt, acct)
			}
		}
		if r := e.str("replay"); r != "" {
			why += "  (replayed)"
		}
		fmt.Fprintf(w, "   %-14s  %-12s  %-10s %-13s  %s\n", e.handler, acct, name, what, mask(why))
		for _, l := range more {
			fmt.Fprintf(w, "   %-14s  %-12s  %-10s %-13s    %s\n", "", "", "", "", mask(l))
		}
	}
}

// viewText says what a reconcile line's vendor view is.
func viewText(v map[string]any) string {
	if found, _ := v["found"].(bool); !found {
		return "Vision One does not know the account yet"
	}
	s, _ := v["state"].(string)
	if tv, _ := v["templateVersion"].(string); tv != "" {
		s += " (template " + tv + ")"
	}
	return "Vision One: " + s
}

// short drops the account from "ACCOUNT/REGION" in a reason: the line names it already.
func (t *timeline) short(s, account string) string {
	if account == "" {
		return s
	}
	return strings.ReplaceAll(s, " "+account+"/", " ")
}

// mask hides the demo's secrets, should anything ever print them.
func mask(s string) string {
	for _, sec := range []string{c1Key.APIKey(), c1Key.Secret, c1Key2.APIKey(), c1Key2.Secret, v1Tok, v1Key} {
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	return s
}
