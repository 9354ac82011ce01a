// Package operator is the worker's answer to the operator command: a direct, synchronous
// invocation of the reconcile function (lambda:InvokeFunction) whose payload is an operator
// request, {"operator": {"op": ...}}, besides the SQS batches the function consumes.
//
// It exists so that no person needs the vendor's key or a member account's role: the
// worker reads the secret and assumes the execution role with its own role and
// configuration, as it does for every change, and answers what the command shows:
//
//   - config: the worker's configuration (no secret value is in it), so that the command and
//     the worker agree on the scope, the stack and the template;
//   - plan: a dry run of reconcile requests (no stack write, no ledger write, no start slot:
//     reconcile.Reconciler with DryRun), one result per request;
//   - status: each account's onboarding stack and forwarding, as `onboarder status` shows them;
//   - check: the checks of `onboarder validate` that need the secret or a member role: the
//     secret has the target's fields, the vendor accepts the key (Cloud One and its region, or
//     Vision One), the execution role
//     and the fallback role can be assumed in an account, the template takes the parameters
//     the onboarder sends (read there with the execution role, as a stack write reads it, and
//     compared as the worker compares before every write: stack.TemplateParams.Mismatch).
//
// Nothing here writes. The answer is JSON; its every text is scrubbed of the secret values
// before it leaves the function. An invocation works on the accounts it is given, a few at a
// time, and leaves the ones it could not start before its deadline to the caller (Deferred),
// which asks again: the function's timeout and the response's size bound what one
// invocation can do, and the command splits its accounts into chunks.
package operator

import (
	"strings"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/config"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/queue"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/reconcile"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/rollout"
)

// The operations.
const (
	OpConfig = "config"
	OpPlan   = "plan"
	OpStatus = "status"
	OpCheck  = "check"
)

// The checks of OpCheck, in the order they run.
const (
	CheckSecret   = "secret"
	CheckCloudOne = "cloudone key"
	CheckRole     = "execution role"
	CheckFallback = "fallback role"
	CheckTemplate = "template"
)

// maxAccounts is the most accounts one invocation takes (the command sends ChunkSize).
const maxAccounts = 100

// AllChecks are the checks of OpCheck when the request names none.
var AllChecks = []string{CheckSecret, CheckCloudOne, CheckRole, CheckFallback, CheckTemplate}

// ChunkSize is how many accounts the command puts in one invocation. A status look costs
// four to six calls in the member account, a dry-run pass up to ten (docs/ARCHITECTURE.md,
// section 4, "Calls per look"), so 25 accounts, ten at a time, take seconds, far inside the
// function's 120-second timeout even under throttling, and their answer (a few kilobytes
// each) far inside the 6 MB limit of a synchronous response (Lambda quotas,
// https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html: "Invocation
// payload (request and response): 6 MB each for request and response (synchronous)").
// Whatever an invocation could not start before its deadline comes back Deferred.
const ChunkSize = 25

// Payload is the payload of a direct invocation.
type Payload struct {
	Operator *Request `json:"operator"`
}

// Request is what the command asks.
type Request struct {
	Op string `json:"op"`
	// Requests are the reconcile requests a plan dry-runs (one per account).
	Requests []queue.Request `json:"requests,omitempty"`
	// Accounts: the accounts whose stacks status reads; for check, the account in which the
	// roles are assumed and the template is read (the first one).
	Accounts []string `json:"accounts,omitempty"`
	// Checks names the checks of a check request; empty: AllChecks.
	Checks []string `json:"checks,omitempty"`
	// Template is the template version a check reads (a rollout's new version); nil: the
	// configured one.
	Template *rollout.Version `json:"template,omitempty"`
}

// Response is the worker's answer.
type Response struct {
	Op string `json:"op"`
	// Error is set when the request as a whole could not be served: a bad request, or a
	// worker whose configuration is invalid (ConfigError then says which settings).
	Error string `json:"error,omitempty"`
	// Config is the worker's configuration (config), with ConfigError when it is invalid.
	Config      *config.Config `json:"config,omitempty"`
	ConfigError string         `json:"configError,omitempty"`
	// Plans are the dry-run results, one per request, in order (plan).
	Plans []reconcile.Result `json:"plans,omitempty"`
	// Stacks are the accounts' stacks, in order (status).
	Stacks []Stack `json:"stacks,omitempty"`
	// Checks are the checks' outcomes, in order (check).
	Checks []Check `json:"checks,omitempty"`
	// Deferred are the accounts this invocation did not start before its deadline: ask again.
	Deferred []string `json:"deferred,omitempty"`
}

// Stack is an account's onboarding stack and its forwarding, as `onboarder status` shows them.
type Stack struct {
	Account     string `json:"account"`
	Region      string `json:"region,omitempty"`
	StackStatus string `json:"stackStatus,omitempty"` // ABSENT when there is no stack
	Managed     bool   `json:"managed"`
	Template    string `json:"template,omitempty"`    // the template tag: the version the onboarder last wrote
	LastUpdated string `json:"lastUpdated,omitempty"` // RFC3339: the stack's last update, or its creation
	TrailMode   string `json:"trailMode,omitempty"`   // new (the stack's own trail; Vision One: the onboarder's trail stack) or existing
	Bucket      string `json:"bucket,omitempty"`      // the bucket the stack forwards (existing)
	Forwarding  string `json:"forwarding,omitempty"`  // logging, STOPPED, NO TRAIL..., own trail
	TrailName   string `json:"trailName,omitempty"`
	Via         string `json:"via,omitempty"` // the fallback role, when the execution role was denied
	Error       string `json:"error,omitempty"`
}

// Check is one check's outcome.
type Check struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Skipped: not checked, because something it needs failed or is not configured; with OK,
	// because it does not apply (the Vision One target has no Cloud One key).
	Skipped bool   `json:"skipped,omitempty"`
	Detail  string `json:"detail"`
	// Region is the stacks' AWS region (cloudone key); Mismatch, how the template's declared
	// parameters differ from those the onboarder sends (template).
	Region   string    `json:"region,omitempty"`
	Mismatch *Mismatch `json:"mismatch,omitempty"`
}

// Mismatch is how a template's parameters differ from a stack write's, as
// stack.TemplateParams.Mismatch says (the worker's own check before every write): Missing are
// sent and not declared, Unknown are declared without a default and not sent. Either refuses
// the write.
type Mismatch struct {
	Missing []string `json:"missing,omitempty"`
	Unknown []string `json:"unknown,omitempty"`
}

// OK reports whether the template takes the onboarder's writes.
func (m Mismatch) OK() bool { return len(m.Missing)+len(m.Unknown) == 0 }

// Error says what differs, naming the parameters, or "" when nothing does.
func (m Mismatch) Error() string {
	var parts []string
	if len(m.Missing) > 0 {
		parts = append(parts, "does not declare "+strings.Join(m.Missing, ", "))
	}
	if len(m.Unknown) > 0 {
		parts = append(parts, "requires "+strings.Join(m.Unknown, ", ")+", which the onboarder does not send")
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, " and ") + " (docs/ARCHITECTURE.md, section 3: the onboarder's parameter set)"
}
