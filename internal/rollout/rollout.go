// Package rollout moves the Organization from one version of the onboarding template to
// another in waves, as StackSets' operation preferences do for stack instances: a canary wave
// first, then batches; each wave is released when every account of the one before settled,
// and the rollout halts when more accounts of a wave failed than its failure tolerance allows.
//
// The rollout is one item of the ledger table (key "#rollout", which ledger scans skip). The
// reconcile reads it on every pass to choose the template of an account (TemplateFor): an
// account gets the new version once its wave is released, so that neither the sweep nor a
// repair pushes a version the rollout has not reached. A pass that ends for an account of the
// current wave is recorded (Record); the pass that completes the wave releases the next one
// (Advance, a conditional write: one releaser) and enqueues its accounts.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Key is the table key of the rollout item (not an account id: ledger scans skip it).
const Key = "#rollout"

// State is where a rollout stands.
type State string

const (
	Running State = "running" // waves are released as the ones before settle
	Paused  State = "paused"  // settling is recorded, no wave is released
	Halted  State = "halted"  // a wave failed beyond its tolerance: a person resumes it (with a fixed version, or the old one)
	Done    State = "done"    // every wave settled: the new version is the one in force
)

// Version is a version of the onboarding template: the URL of its main template and where
// its nested templates are. Trend's main template builds their URLs from its QSS3BucketName
// and QSS3KeyPrefix parameters (aws-ia/cfn-abi-trend-cloudone@39352c3
// templates/trend-cloudone-onboard/main.template.yaml: TemplateURL
// https://${QSS3BucketName}.s3.amazonaws.com/${QSS3KeyPrefix}cloudone.template.yaml and its
// siblings), so a version copied whole under a prefix of its own moves those two with the URL.
// A version whose parameters differ (the file's later versions drop CloudOneApiKey for
// CloudOneApiKeySecret and require TrendStagingS3Bucket) is not a rollout but a release of
// the onboarder: CloudFormation refuses the canary's update on its parameters, and the
// rollout halts there.
type Version struct {
	URL    string `dynamodbav:"url"`
	Bucket string `dynamodbav:"bucket,omitempty"` // QSS3BucketName; "": the configured one (and Prefix unused)
	Prefix string `dynamodbav:"prefix,omitempty"` // QSS3KeyPrefix, when Bucket is set
}

// String is the version as status shows it.
func (v Version) String() string {
	if v.Bucket == "" {
		return v.URL
	}
	return fmt.Sprintf("%s (assets s3://%s/%s)", v.URL, v.Bucket, v.Prefix)
}

// Rollout is a rollout of template version To over the accounts of Waves, from From.
type Rollout struct {
	Key       string     `dynamodbav:"account"`
	ID        string     `dynamodbav:"id"`
	From      Version    `dynamodbav:"from"`
	To        Version    `dynamodbav:"to"`
	Waves     [][]string `dynamodbav:"waves,omitempty"` // dropped when the rollout is done (Sizes stay)
	Sizes     []int      `dynamodbav:"sizes,omitempty"` // the waves' sizes, once they are dropped
	Wave      int        `dynamodbav:"wave"`            // the last wave released (0: the canary)
	Tolerance int        `dynamodbav:"tolerance"`       // accounts of a wave that may fail without halting the rollout
	State     State      `dynamodbav:"state"`
	Reason    string     `dynamodbav:"reason"`
	// Settled and Failed are the accounts of wave Wave whose pass ended: done with To, or
	// failed (with why).
	Settled []string          `dynamodbav:"settled,stringset,omitempty"`
	Failed  map[string]string `dynamodbav:"failed"`
	Started time.Time         `dynamodbav:"started"`
	Updated time.Time         `dynamodbav:"updated"`
}

// WaveSizes is the number of accounts of each wave.
func (r *Rollout) WaveSizes() []int {
	if len(r.Waves) == 0 {
		return r.Sizes
	}
	sizes := make([]int, len(r.Waves))
	for i, w := range r.Waves {
		sizes[i] = len(w)
	}
	return sizes
}

// WaveOf is the wave of an account, or -1 when the rollout does not name it (it joined later).
func (r *Rollout) WaveOf(account string) int {
	for i, w := range r.Waves {
		for _, a := range w {
			if a == account {
				return i
			}
		}
	}
	return -1
}

// TemplateFor is the version an account gets: the configured one without a rollout (or, once
// a rollout is done, InForce); the new version once the account's wave is released; the old
// one before. An account the rollout does not name gets the new version once the canary wave
// passed.
func (r *Rollout) TemplateFor(account string, configured Version) Version {
	if r == nil || r.State == Done {
		return r.InForce(configured)
	}
	w := r.WaveOf(account)
	switch {
	case w >= 0 && w <= r.Wave, w < 0 && r.Wave >= 1:
		return r.To
	}
	return r.From
}

// InForce is the version in force when no wave decides: the configured one, but, once a
// rollout is done, its new version for as long as the configuration is the one it started
// from. So a done rollout does not freeze the template: a configuration deployed since (a new
// ONBOARDER_TEMPLATE_URL or new assets) is in force at once, for every account, as it is
// without a rollout; to take a version in waves, start a rollout instead.
func (r *Rollout) InForce(configured Version) Version {
	if r != nil && r.State == Done && configured == r.From {
		return r.To
	}
	return configured
}

// Plan splits accounts into waves: the canary accounts first (those in accounts), then
// batches of batch accounts (batch <= 0: one wave of the rest), in account order.
func Plan(accounts, canary []string, batch int) ([][]string, error) {
	in := map[string]bool{}
	for _, a := range accounts {
		in[a] = true
	}
	var first []string
	isCanary := map[string]bool{}
	for _, a := range canary {
		if !in[a] {
			return nil, fmt.Errorf("canary account %s is not an in-scope account of the organization", a)
		}
		if !isCanary[a] {
			first = append(first, a)
			isCanary[a] = true
		}
	}
	if len(first) == 0 {
		return nil, errors.New("the canary wave is empty: name at least one in-scope account or OU")
	}
	var rest []string
	for _, a := range accounts {
		if !isCanary[a] {
			rest = append(rest, a)
		}
	}
	sort.Strings(rest)
	waves := [][]string{first}
	if batch <= 0 {
		batch = len(rest)
	}
	for len(rest) > 0 {
		n := min(batch, len(rest))
		waves = append(waves, rest[:n])
		rest = rest[n:]
	}
	return waves, nil
}

// DynamoAPI is the part of the DynamoDB client the store uses.
type DynamoAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Store keeps the rollout in the ledger table.
type Store struct {
	DB    DynamoAPI
	Table string
	Now   func() time.Time
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func key() map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{"account": &ddbtypes.AttributeValueMemberS{Value: Key}}
}

// Get reads the rollout; nil when there is none.
func (s *Store) Get(ctx context.Context) (*Rollout, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: key(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read the rollout from %s: %w", s.Table, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return decode(out.Item)
}

func decode(item map[string]ddbtypes.AttributeValue) (*Rollout, error) {
	var r Rollout
	if err := attributevalue.UnmarshalMap(item, &r); err != nil {
		return nil, fmt.Errorf("decode the rollout: %w", err)
	}
	return &r, nil
}

// ErrBusy is returned by Start while another rollout is not done. A halted rollout is not
// replaced either: some of its accounts may run its new version, which a rollout from the
// old one would take back without a wave; resume it with a fixed version, or with the old
// one to roll back in waves.
var ErrBusy = errors.New("a rollout is running, paused or halted: wait for it, or resume it with a fixed version (onboarder rollout resume --template-url), or with the old one to roll back")

// Start writes a new rollout, unless one is running, paused or halted.
func (s *Store) Start(ctx context.Context, r Rollout) error {
	now := s.now()
	r.Key, r.State, r.Wave, r.Started, r.Updated, r.Settled, r.Failed = Key, Running, 0, now, now, nil, map[string]string{}
	item, err := attributevalue.MarshalMap(r)
	if err != nil {
		return fmt.Errorf("encode the rollout: %w", err)
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item,
		ConditionExpression:       aws.String("attribute_not_exists(#s) OR #s = :done"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":done": str(string(Done))},
	})
	if isConditionFailed(err) {
		return ErrBusy
	}
	if err != nil {
		return fmt.Errorf("write the rollout to %s: %w", s.Table, err)
	}
	return nil
}

// Record notes that the pass of an account of wave wave of rollout id ended: settled, or
// failed with why. It returns the rollout as it is now, or nil when the rollout moved on (a
// later wave, another rollout): then nothing was recorded.
func (s *Store) Record(ctx context.Context, id string, wave int, account string, failed bool, why string) (*Rollout, error) {
	in := &dynamodb.UpdateItemInput{TableName: aws.String(s.Table), Key: key(),
		ConditionExpression:       aws.String("#id = :id AND #w = :w"),
		ExpressionAttributeNames:  map[string]string{"#id": "id", "#w": "wave", "#u": "updated"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":id": str(id), ":w": num(wave), ":now": str(s.now().Format(time.RFC3339Nano))},
		ReturnValues:              ddbtypes.ReturnValueAllNew,
	}
	if failed {
		in.UpdateExpression = aws.String("SET #f.#a = :why, #u = :now DELETE #st :a")
		in.ExpressionAttributeNames["#f"], in.ExpressionAttributeNames["#a"], in.ExpressionAttributeNames["#st"] = "failed", account, "settled"
		in.ExpressionAttributeValues[":why"], in.ExpressionAttributeValues[":a"] = str(why), &ddbtypes.AttributeValueMemberSS{Value: []string{account}}
	} else {
		in.UpdateExpression = aws.String("ADD #st :a SET #u = :now REMOVE #f.#acc")
		in.ExpressionAttributeNames["#st"], in.ExpressionAttributeNames["#f"], in.ExpressionAttributeNames["#acc"] = "settled", "failed", account
		in.ExpressionAttributeValues[":a"] = &ddbtypes.AttributeValueMemberSS{Value: []string{account}}
	}
	out, err := s.update(ctx, in)
	if isConditionFailed(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("record %s in the rollout: %w", account, err)
	}
	return decode(out.Attributes)
}

// Advance moves a running rollout on when its current wave is complete: it halts it when more
// accounts failed than the tolerance, ends it after the last wave, or releases the next wave
// and returns its accounts, which the caller enqueues. One caller wins the conditional write;
// the others get nothing.
func (s *Store) Advance(ctx context.Context, r *Rollout) (released []string, err error) {
	if r == nil || r.State != Running || r.Wave >= len(r.Waves) {
		return nil, nil
	}
	wave := r.Waves[r.Wave]
	failed, settled := 0, 0
	for _, a := range wave {
		if _, f := r.Failed[a]; f {
			failed++
		} else if contains(r.Settled, a) {
			settled++
		}
	}
	set := func(expr string, vals map[string]ddbtypes.AttributeValue, names ...string) error {
		vals[":id"], vals[":w"], vals[":running"], vals[":now"] = str(r.ID), num(r.Wave), str(string(Running)), str(s.now().Format(time.RFC3339Nano))
		ns := map[string]string{"#id": "id", "#w": "wave", "#s": "state", "#u": "updated", "#r": "reason"}
		for _, n := range names {
			ns["#"+n] = n
		}
		_, err := s.update(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.Table), Key: key(),
			UpdateExpression:          aws.String(strings.Replace(expr, "SET ", "SET #u = :now, ", 1)),
			ConditionExpression:       aws.String("#id = :id AND #w = :w AND #s = :running"),
			ExpressionAttributeNames:  ns,
			ExpressionAttributeValues: vals,
		})
		if isConditionFailed(err) {
			return errLost
		}
		return err
	}
	switch {
	case failed > r.Tolerance:
		var why []string
		for _, a := range wave {
			if f, ok := r.Failed[a]; ok {
				why = append(why, a+": "+f)
			}
		}
		reason := fmt.Sprintf("wave %d of %d: %d of %d accounts failed, more than the tolerance of %d: %s", r.Wave+1, len(r.Waves), failed, len(wave), r.Tolerance, strings.Join(why, "; "))
		err = set("SET #s = :halted, #r = :reason", map[string]ddbtypes.AttributeValue{":halted": str(string(Halted)), ":reason": str(reason)})
	case failed+settled < len(wave):
		return nil, nil
	case r.Wave == len(r.Waves)-1:
		// Done, the rollout drops its account lists: every pass reads the item, and an
		// account id in a list costs 13 bytes of it (12 and one of list overhead: "Item
		// sizes and formats", Amazon DynamoDB Developer Guide), 130 KB or 33 read units at
		// 10,000 accounts; a done rollout gives every account its version without them.
		sizes, merr := attributevalue.Marshal(r.WaveSizes())
		if merr != nil {
			return nil, fmt.Errorf("encode the wave sizes: %w", merr)
		}
		err = set("SET #s = :done, #r = :reason, #sizes = :sizes REMOVE #waves, #settled, #failed", map[string]ddbtypes.AttributeValue{":done": str(string(Done)), ":sizes": sizes,
			":reason": str(fmt.Sprintf("every wave settled (%d); %s is the template in force: set OnboardingTemplateUrl (ONBOARDER_TEMPLATE_URL)%s to it", len(r.Waves), r.To, map[bool]string{true: " and the QSS3 parameters"}[r.To.Bucket != ""]))},
			"sizes", "waves", "settled", "failed")
	default:
		err = set("SET #w = :next, #failed = :empty, #r = :reason REMOVE #settled", map[string]ddbtypes.AttributeValue{":next": num(r.Wave + 1), ":empty": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{}},
			":reason": str(fmt.Sprintf("wave %d of %d released: wave %d settled (%d failed, tolerance %d)", r.Wave+2, len(r.Waves), r.Wave+1, failed, r.Tolerance))}, "failed", "settled")
		if err == nil {
			return r.Waves[r.Wave+1], nil
		}
	}
	if errors.Is(err, errLost) {
		return nil, nil
	}
	return nil, err
}

var errLost = errors.New("another writer moved the rollout on")

// SetState pauses or resumes a rollout (halted or paused -> running; running -> paused). A
// resume may name a fixed version (to; without assets, the rollout's stay): the failures of the current wave are forgotten, and
// its accounts that did not settle are returned for the caller to enqueue again.
func (s *Store) SetState(ctx context.Context, state State, to *Version) (*Rollout, []string, error) {
	r, err := s.Get(ctx)
	if err != nil {
		return nil, nil, err
	}
	if r == nil {
		return nil, nil, errors.New("no rollout: start one with onboarder rollout start")
	}
	switch {
	case state == Paused && r.State != Running:
		return nil, nil, fmt.Errorf("the rollout is %s: only a running rollout can be paused", r.State)
	case state == Running && r.State != Paused && r.State != Halted:
		return nil, nil, fmt.Errorf("the rollout is %s: only a paused or halted rollout can be resumed", r.State)
	}
	expr := "SET #s = :state, #u = :now, #r = :reason"
	vals := map[string]ddbtypes.AttributeValue{":state": str(string(state)), ":now": str(s.now().Format(time.RFC3339Nano)),
		":id": str(r.ID), ":old": str(string(r.State)), ":reason": str(string(state) + " by the operator")}
	var again []string
	if state == Running {
		if to != nil && to.Bucket == "" {
			v := *to
			v.Bucket, v.Prefix = r.To.Bucket, r.To.Prefix // the assets stay where they are
			to = &v
		}
		if to != nil && *to != r.To {
			av, err := attributevalue.Marshal(*to)
			if err != nil {
				return nil, nil, fmt.Errorf("encode the version: %w", err)
			}
			expr += ", #to = :to"
			vals[":to"] = av
			vals[":reason"] = str("resumed by the operator with template " + to.String())
			r.To = *to
		}
		expr += ", #f = :empty"
		vals[":empty"] = &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{}}
		for _, a := range r.Waves[r.Wave] {
			if !contains(r.Settled, a) {
				again = append(again, a)
			}
		}
		r.Failed = map[string]string{}
	}
	_, err = s.update(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.Table), Key: key(),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("#id = :id AND #s = :old"),
		ExpressionAttributeNames:  map[string]string{"#s": "state", "#u": "updated", "#id": "id", "#r": "reason", "#to": "to", "#f": "failed"},
		ExpressionAttributeValues: vals,
	})
	if isConditionFailed(err) {
		return nil, nil, errors.New("the rollout changed meanwhile: look again (onboarder rollout status)")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("update the rollout: %w", err)
	}
	r.State = state
	return r, again, nil
}

// update sends an UpdateItem after dropping the expression names and values it does not use:
// DynamoDB refuses unused ones (ValidationException).
func (s *Store) update(ctx context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
	used := map[string]bool{}
	for _, t := range tokenRE.FindAllString(aws.ToString(in.UpdateExpression)+" "+aws.ToString(in.ConditionExpression), -1) {
		used[t] = true
	}
	for k := range in.ExpressionAttributeNames {
		if !used[k] {
			delete(in.ExpressionAttributeNames, k)
		}
	}
	for k := range in.ExpressionAttributeValues {
		if !used[k] {
			delete(in.ExpressionAttributeValues, k)
		}
	}
	return s.DB.UpdateItem(ctx, in)
}

var tokenRE = regexp.MustCompile(`[#:][A-Za-z]+`)

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func str(s string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: s} }
func num(n int) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(n)}
}

func isConditionFailed(err error) bool {
	var ccf *ddbtypes.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
