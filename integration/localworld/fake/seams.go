package fake

import (
	"context"
	"sync"
	"time"
)

// The product's own seams that reconcile's tests fake beside the AWS APIs.

// Starts is the start limiter (reconcile.Starts): Take hands out Slots in order, then now.
type Starts struct {
	Slots []time.Time

	TakeCalls Calls[struct{}, time.Time]

	mu sync.Mutex
}

func (s *Starts) Take(ctx context.Context) (time.Time, error) {
	return s.TakeCalls.invoke(ctx, nil, write("Take"), struct{}{}, func(context.Context, struct{}) (time.Time, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.Slots) > 0 {
			slot := s.Slots[0]
			s.Slots = s.Slots[1:]
			return slot, nil
		}
		return time.Now(), nil
	})
}

// Place is where a member account is opened: the account and the region.
type Place struct{ Account, Region string }

// Members opens member accounts (reconcile.Members, with M its Member): every account
// answers Answer, unless an error is injected. Generic so that this package does not import
// reconcile, whose own tests use it.
type Members[M any] struct {
	Answer M

	MemberCalls Calls[Place, M]
}

func (m *Members[M]) Member(ctx context.Context, account, region string) (M, error) {
	return m.MemberCalls.invoke(ctx, nil, read("Member"), Place{account, region}, func(context.Context, Place) (M, error) {
		return m.Answer, nil
	})
}
