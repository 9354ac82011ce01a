package fake

import (
	"context"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/ledger"
)

// Templates keeps a vendor's generated templates in memory, as ledger.Table keeps them in
// its "#template/" items (target.Templates): a template under its key, and a worker's claim to
// generate one under key+"#claim". Tests read and set items directly. It is a map: one pass
// at a time uses it.
type Templates map[string]ledger.Generated

func (m Templates) Template(_ context.Context, key string) (ledger.Generated, bool, error) {
	g, ok := m[key]
	return g, ok, nil
}

// ClaimTemplate claims as the ledger does: a claim holds for claimFor, and none is given while
// a template generated at fresh or later is kept.
func (m Templates) ClaimTemplate(_ context.Context, key, _ string, now, fresh time.Time, claimFor time.Duration) (bool, error) {
	if g, ok := m[key]; ok && !g.Generated.Before(fresh) {
		return false, nil
	}
	if c, ok := m[key+"#claim"]; ok && now.Sub(c.Generated) < claimFor {
		return false, nil
	}
	m[key+"#claim"] = ledger.Generated{Generated: now}
	return true, nil
}

// PutTemplate keeps g unless a template generated as late or later is kept (the ledger's
// condition), and drops the claim.
func (m Templates) PutTemplate(_ context.Context, key string, g ledger.Generated) (bool, error) {
	if old, ok := m[key]; ok && !old.Generated.Before(g.Generated) {
		return false, nil
	}
	m[key] = g
	delete(m, key+"#claim")
	return true, nil
}
