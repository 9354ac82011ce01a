// Package target is what differs between the vendors the onboarder connects accounts to: how
// an account's stacks are made (the template and its parameters, the stack's name), what a
// usable trail is and what the stack needs to know of it, the vendor's own view of a connected
// account, and what offboarding asks of the vendor. Two implementations: CloudOne (Trend Cloud
// One's v1 template, the default) and VisionOne (Trend Vision One's Cloud Accounts).
//
// The reconcile calls a Target; a Target never calls the reconcile. Observing, deciding and
// acting stay the reconcile's, for every target, and the ledger stays one table.
package target

import (
	"context"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/stack"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/trail"
)

// Target is one vendor's way of connecting an account.
type Target interface {
	// Name is the target's name, as ONBOARDER_TARGET says it: "cloudone", "visionone".
	Name() string
	// StackName is the name of the vendor's stack in each account.
	StackName() string
	// Region is the AWS region of the accounts' stacks.
	Region(ctx context.Context, creds secret.Credentials) (string, error)
	// Trail says what a usable trail is for the vendor, and what the resolution needs from the
	// vendor's stack as it stands (the bucket or the trail it names, whether it uses the
	// onboarder's own trail): in is filled from obs, a settled stack that may be written.
	Trail(obs stack.Observed, adopting bool, in *trail.Input)
	// Prerequisite is the onboarder's own stack the account needs before the vendor's, for
	// the chosen trail: nil when none (Cloud One's stack makes its own trail).
	// PrerequisiteName is its name ("" for a target that never has one), for offboarding.
	Prerequisite(in Input) *stack.Desired
	PrerequisiteName() string
	// Desired is the vendor's stack the account should have.
	Desired(ctx context.Context, in Input) (stack.Desired, error)
	// HasView reports whether the vendor keeps its own view of a connected account, and View
	// reads it (Cloud One offers no API that says whether an account is connected and
	// forwarding: it has none).
	HasView() bool
	View(ctx context.Context, creds secret.Credentials, account string) (*View, error)
	// Forget removes an account that left the scope from the vendor, where the vendor keeps
	// one apart from the stack; it reports whether there was one.
	Forget(ctx context.Context, creds secret.Credentials, account string) (bool, error)
	// Offboarding is what an offboarding says of the vendor.
	Offboarding() Offboarding
}

// Input is what building an account's desired stacks needs.
type Input struct {
	Account, AccountName, Region string
	// Trail is the chosen trail; Outputs are the outputs of the prerequisite stack, when the
	// target has one and it is settled.
	Trail   trail.Choice
	Outputs map[string]string
	// Version is the template version in force for the account (the configured one, or the
	// one a rollout's wave has reached).
	Version rollout.Version
	Creds   secret.Credentials
	Now     time.Time
	// Stack is the vendor's stack as it stands (zero: absent), for what the desired keeps of it.
	Stack stack.Observed
}

// View is the vendor's own view of a connected account.
type View struct {
	Found bool
	// State is the vendor's word for the account (Vision One: managed, outdated, failed).
	State string
	// Problems are what the vendor says is wrong, in its words (missing permissions, a failed
	// feature); empty when none.
	Problems []string
	// TemplateVersion is the version of the vendor's template the account runs.
	TemplateVersion string
	// Outdated: the vendor says the account's template is older than its current one (what a
	// rollout fixes).
	Outdated bool
	// Failed: the vendor says the account does not work; Problems says why.
	Failed bool
	// Synced is when the vendor last synced the account.
	Synced time.Time
}

// Offboarding is what an offboarding says of the vendor: why the onboarder deletes its stack,
// what stays in the vendor when the stack stays (or cannot be reached), and what stays after
// the stack is deleted.
type Offboarding struct {
	// Vendor names the vendor ("Cloud One", "Vision One").
	Vendor string
	// StackMade is what the vendor's stack made in the account.
	StackMade string
	// DeleteWhy ends "delete stack X": why deleting it offboards the account from the vendor.
	DeleteWhy string
	// OwnTrailGoes is added when the stack made its own trail: what goes with it.
	OwnTrailGoes string
	// LeftInVendor is what stays in the vendor for an account whose stack stays.
	LeftInVendor func(account string) string
	// LeftExcluded, where set, is what stays in the vendor for an excluded account, which the
	// onboarder never touches (LeftInVendor otherwise).
	LeftExcluded func(account string) string
	// LeftAfterDelete is what stays in the vendor once the stack is deleted.
	LeftAfterDelete func(account string) string
	// PrerequisiteGoes says what deleting the onboarder's own stack (the target's prerequisite)
	// takes with it.
	PrerequisiteGoes string
}
