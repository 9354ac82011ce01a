// Package reconcile brings one account's Cloud One onboarding stack to the desired state:
// it resolves the Cloud One region and the forwarding trail, reads the stack, decides by the
// state table of ARCHITECTURE.md, acts (unless dry run), waits within the deadline, and
// returns a Result that says what it did and why.
//
// Entry points (used by handlers/reconcile and cmd/onboarder):
//
//	r, err := reconcile.New(cfg, awsCfg)          // cfg validated; awsCfg of the management account
//	res := r.Reconcile(ctx, queue.Request{...})   // never panics; res.Class says what to do with a failure
package reconcile
