package fake

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Calls is one operation of a fake: it records the input of every call and decides each
// call's answer, in this order: the next error queued by Fail, the error set by FailAlways,
// the override set by Do, the output set by Return, and last the fake's default. The zero
// value is ready to use; it is safe for concurrent use.
type Calls[I, O any] struct {
	mu     sync.Mutex
	calls  []call[I]
	queued []error
	always error
	do     func(context.Context, I) (O, error)
	out    O
	hasOut bool
}

type call[I any] struct {
	in   I
	err  error
	done bool
}

// Fail queues errors: the next calls answer them, one per call, before anything else.
func (c *Calls[I, O]) Fail(errs ...error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queued = append(c.queued, errs...)
}

// FailAlways makes every call answer err once the queued errors are spent; nil clears it.
func (c *Calls[I, O]) FailAlways(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.always = err
}

// Do makes fn answer the calls in place of the canned output and the default; nil clears it.
// For the few tests that need behaviour of their own.
func (c *Calls[I, O]) Do(fn func(ctx context.Context, in I) (O, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.do = fn
}

// Return makes every call answer out in place of the default.
func (c *Calls[I, O]) Return(out O) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out, c.hasOut = out, true
}

// Inputs returns the input of every call so far, in the order the calls were made, failed
// calls included.
func (c *Calls[I, O]) Inputs() []I {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]I, 0, len(c.calls))
	for _, k := range c.calls {
		out = append(out, k.in)
	}
	return out
}

// Succeeded returns the inputs of the calls that returned without an error, in order.
func (c *Calls[I, O]) Succeeded() []I {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []I
	for _, k := range c.calls {
		if k.done && k.err == nil {
			out = append(out, k.in)
		}
	}
	return out
}

// Count returns the number of calls so far.
func (c *Calls[I, O]) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

// Last returns the input of the latest call, or the zero value when there was none.
func (c *Calls[I, O]) Last() I {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero I
	if len(c.calls) == 0 {
		return zero
	}
	return c.calls[len(c.calls)-1].in
}

// invoke records the call (in the log too, when there is one) and answers it.
func (c *Calls[I, O]) invoke(ctx context.Context, log *Log, o op, in I, def func(context.Context, I) (O, error)) (O, error) {
	log.add(o)
	c.mu.Lock()
	i := len(c.calls)
	c.calls = append(c.calls, call[I]{in: in})
	var err error
	switch {
	case len(c.queued) > 0:
		err, c.queued = c.queued[0], c.queued[1:]
	case c.always != nil:
		err = c.always
	}
	do, out, hasOut := c.do, c.out, c.hasOut
	c.mu.Unlock()

	var zero O
	switch {
	case err != nil:
		out = zero
	case do != nil:
		out, err = do(ctx, in)
	case hasOut:
	default:
		out, err = def(ctx, in)
	}
	c.mu.Lock()
	c.calls[i].err, c.calls[i].done = err, true
	c.mu.Unlock()
	if err != nil {
		return zero, err
	}
	return out, nil
}

// op names a call in a Log: the operation, whether it writes, and for a write that picks one
// of several resources, which one.
type op struct {
	name   string
	write  bool
	target string
}

func read(name string) op  { return op{name: name} }
func write(name string) op { return op{name: name, write: true} }

func (o op) String() string {
	if o.target == "" {
		return o.name
	}
	return o.name + " " + o.target
}

// Log is the order of the calls made to the fakes that share it (set as their Log field),
// across APIs. A call is named by its operation ("CreateStack"), and a write that picks one of
// several resources by the operation and the resource ("StartLogging main"). A nil Log
// records nothing. Safe for concurrent use.
type Log struct {
	mu  sync.Mutex
	ops []op
}

func (l *Log) add(o op) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, o)
}

// Ops returns every call so far, in order.
func (l *Log) Ops() []string { return l.names(func(op) bool { return true }) }

// Writes returns the calls that change something in AWS, in order.
func (l *Log) Writes() []string { return l.names(func(o op) bool { return o.write }) }

// Len returns the number of calls so far.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ops)
}

func (l *Log) names(keep func(op) bool) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, o := range l.ops {
		if keep(o) {
			out = append(out, o.String())
		}
	}
	return out
}

// noDefault answers a call of an operation no test has relied on yet: an error that says so,
// never an invented answer.
func noDefault[I, O any](api, operation string) func(context.Context, I) (O, error) {
	return func(context.Context, I) (O, error) {
		var zero O
		return zero, fmt.Errorf("fake %s: %s has no default answer: give it one with Return or Do", api, operation)
	}
}

// page returns the slice of n items a paged List call answers: from the index its token
// names, at most size (all when size <= 0), and the token of the next page, nil on the last.
func page(token *string, n, size int) (start, end int, next *string, err error) {
	if token != nil {
		if _, err := fmt.Sscan(*token, &start); err != nil || start < 0 || start > n {
			return 0, 0, nil, fmt.Errorf("fake: NextToken %q is not one this fake gave", *token)
		}
	}
	end = n
	if size > 0 {
		end = min(start+size, n)
	}
	if end < n {
		t := fmt.Sprint(end)
		next = &t
	}
	return start, end, next, nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
