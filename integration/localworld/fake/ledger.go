package fake

import (
	"context"
	"sync"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
)

// Ledger is the ledger in memory: it implements the ledger interfaces of intake (Ledger,
// LedgerSummaries) and reconcile (Ledger, and Digests), and the operator's summaries, as
// ledger.Table does over DynamoDB. Get answers the entry last written or seeded for the
// account; PutCalls.Succeeded() is every entry written, in order. Get's output is a pointer:
// nil when the account has no entry (to inject one, Return it or Seed it).
type Ledger struct {
	GetCalls       Calls[string, *ledger.Entry]
	PutCalls       Calls[ledger.Entry, struct{}]
	AllCalls       Calls[struct{}, map[string]ledger.Entry]
	DigestsCalls   Calls[struct{}, map[string]string]
	SummariesCalls Calls[struct{}, map[string]ledger.Summary]

	mu      sync.Mutex
	entries map[string]ledger.Entry
}

// Seed stores entries as if written before the test, without a call.
func (l *Ledger) Seed(entries ...ledger.Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range entries {
		l.keep(e)
	}
}

// keep stores an entry. l.mu is held.
func (l *Ledger) keep(e ledger.Entry) {
	if l.entries == nil {
		l.entries = map[string]ledger.Entry{}
	}
	l.entries[e.Account] = e
}

func (l *Ledger) Get(ctx context.Context, account string) (ledger.Entry, bool, error) {
	e, err := l.GetCalls.invoke(ctx, nil, read("Get"), account, func(_ context.Context, account string) (*ledger.Entry, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		e, ok := l.entries[account]
		if !ok {
			return nil, nil
		}
		return &e, nil
	})
	if err != nil || e == nil {
		return ledger.Entry{}, false, err
	}
	return *e, true, nil
}

func (l *Ledger) Put(ctx context.Context, e ledger.Entry) error {
	_, err := l.PutCalls.invoke(ctx, nil, write("Put"), e, func(_ context.Context, e ledger.Entry) (struct{}, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.keep(e)
		return struct{}{}, nil
	})
	return err
}

// all answers with f of every entry, keyed by account.
func all[V any](l *Ledger, f func(ledger.Entry) V) func(context.Context, struct{}) (map[string]V, error) {
	return func(context.Context, struct{}) (map[string]V, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		out := make(map[string]V, len(l.entries))
		for a, e := range l.entries {
			out[a] = f(e)
		}
		return out, nil
	}
}

func (l *Ledger) All(ctx context.Context) (map[string]ledger.Entry, error) {
	return l.AllCalls.invoke(ctx, nil, read("All"), struct{}{}, all(l, func(e ledger.Entry) ledger.Entry { return e }))
}

func (l *Ledger) Digests(ctx context.Context) (map[string]string, error) {
	return l.DigestsCalls.invoke(ctx, nil, read("Digests"), struct{}{}, all(l, ledger.Entry.Digest))
}

func (l *Ledger) Summaries(ctx context.Context) (map[string]ledger.Summary, error) {
	return l.SummariesCalls.invoke(ctx, nil, read("Summaries"), struct{}{}, all(l, ledger.Entry.Summarize))
}
