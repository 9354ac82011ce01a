package localworld

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// ExecutionRole is the role the onboarder assumes in member accounts.
const ExecutionRole = "AWSControlTowerExecution"

// OU is one organizational unit to create under the root, with its accounts by name.
type OU struct {
	Name     string
	Accounts []string
}

// Account is a member account that moto created.
type Account struct {
	ID     string
	Name   string
	Email  string
	OUID   string
	OUName string
}

// Org is the seeded Organization.
type Org struct {
	Management string
	RootID     string
	OUs        map[string]string // name -> id
	Accounts   []Account         // in creation order
}

// Account returns the member account of that name; it panics on a name the seed did not make.
func (o *Org) Account(name string) Account {
	for _, a := range o.Accounts {
		if a.Name == name {
			return a
		}
	}
	panic("localworld: no seeded account named " + name)
}

// IDs returns the member account ids, sorted.
func (o *Org) IDs() []string {
	var out []string
	for _, a := range o.Accounts {
		out = append(out, a.ID)
	}
	sort.Strings(out)
	return out
}

// SeedOrganization creates the Organization (all features) in the management account, the
// OUs under its root, the member accounts (moto makes the ids) moved into their OUs, and the
// execution role in each member account.
func (m *Moto) SeedOrganization(ctx context.Context, region string, ous ...OU) (*Org, error) {
	cfg := m.Config(ctx, region)
	orgs := organizations.NewFromConfig(cfg)
	if _, err := orgs.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		return nil, fmt.Errorf("create organization: %w", err)
	}
	roots, err := orgs.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) == 0 {
		return nil, fmt.Errorf("list roots: %v", err)
	}
	org := &Org{Management: ManagementAccount, RootID: aws.ToString(roots.Roots[0].Id), OUs: map[string]string{}}
	for _, ou := range ous {
		out, err := orgs.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{
			ParentId: aws.String(org.RootID), Name: aws.String(ou.Name)})
		if err != nil {
			return nil, fmt.Errorf("create OU %s: %w", ou.Name, err)
		}
		ouID := aws.ToString(out.OrganizationalUnit.Id)
		org.OUs[ou.Name] = ouID
		accounts := make([]Account, len(ou.Accounts))
		err = parallel(seedWorkers, len(ou.Accounts), func(i int) error {
			a, err := m.createAccount(ctx, orgs, ou.Accounts[i], org.RootID, ouID)
			a.OUName = ou.Name
			accounts[i] = a
			return err
		})
		if err != nil {
			return nil, err
		}
		org.Accounts = append(org.Accounts, accounts...)
	}
	err = parallel(seedWorkers, len(org.Accounts), func(i int) error { return m.SeedExecutionRole(ctx, org.Accounts[i].ID) })
	if err != nil {
		return nil, err
	}
	return org, nil
}

// seedWorkers is how many seeding calls run at once: moto answers one at a time, and a few
// callers keep it busy while the others wait on the loopback.
const seedWorkers = 8

// parallel runs fn for 0..count-1 on n workers and returns the errors of all, joined.
func parallel(n, count int, fn func(i int) error) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		next = make(chan int)
	)
	for range min(n, count) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range count {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

func (m *Moto) createAccount(ctx context.Context, orgs *organizations.Client, name, root, ou string) (Account, error) {
	email := name + "@example.com"
	out, err := orgs.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(email)})
	if err != nil {
		return Account{}, fmt.Errorf("create account %s: %w", name, err)
	}
	id := aws.ToString(out.CreateAccountStatus.AccountId)
	if id == "" {
		st, err := orgs.DescribeCreateAccountStatus(ctx, &organizations.DescribeCreateAccountStatusInput{
			CreateAccountRequestId: out.CreateAccountStatus.Id})
		if err != nil {
			return Account{}, fmt.Errorf("create account %s: status: %w", name, err)
		}
		id = aws.ToString(st.CreateAccountStatus.AccountId)
	}
	if ou != "" && ou != root {
		if _, err := orgs.MoveAccount(ctx, &organizations.MoveAccountInput{
			AccountId: aws.String(id), SourceParentId: aws.String(root), DestinationParentId: aws.String(ou)}); err != nil {
			return Account{}, fmt.Errorf("move account %s to %s: %w", id, ou, err)
		}
	}
	return Account{ID: id, Name: name, Email: email, OUID: ou}, nil
}

// SeedExecutionRole creates the execution role in a member account, trusting the management
// account (moto does not need it to exist for AssumeRole; it is there for realism).
func (m *Moto) SeedExecutionRole(ctx context.Context, account string) error {
	cfg, err := m.AccountConfig(ctx, account, "us-east-1", ExecutionRole)
	if err != nil {
		return err
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` +
		ManagementAccount + `:root"},"Action":"sts:AssumeRole"}]}`
	_, err = iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: aws.String(ExecutionRole), AssumeRolePolicyDocument: aws.String(trust)})
	if err != nil {
		return fmt.Errorf("create role %s in %s: %w", ExecutionRole, account, err)
	}
	return nil
}

// Bucket creates a bucket in an account and region.
func (m *Moto) Bucket(ctx context.Context, account, region, name string) error {
	cfg, err := m.AccountConfig(ctx, account, region, ExecutionRole)
	if err != nil {
		return err
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
	}
	if _, err := S3(cfg).CreateBucket(ctx, in); err != nil {
		return fmt.Errorf("create bucket %s in %s/%s: %w", name, account, region, err)
	}
	return nil
}

// Trail describes a trail to seed.
type Trail struct {
	Account    string
	Name       string
	Bucket     string // created in Account and BucketRegion unless BucketExists
	HomeRegion string
	// BucketRegion is where the bucket is (default HomeRegion): a multi-region trail may
	// write to a bucket of any region.
	BucketRegion string
	MultiRegion  bool
	Logging      bool
	// BucketExists says the bucket is already there (another account's, for example).
	BucketExists bool
	// Validation turns log file validation on; Topic, when set, is the name of an SNS topic
	// made in the account and home region, which the trail notifies on each log file
	// delivery: with both, and Logging, a trail Vision One can use (its CloudTrail
	// configuration page).
	Validation bool
	Topic      string
}

// SeedTrail creates the bucket (unless it exists) and the trail, and starts logging when
// asked. It returns the trail's ARN. (moto: Start/StopLogging only by name, in the home region.)
func (m *Moto) SeedTrail(ctx context.Context, t Trail) (string, error) {
	if t.BucketRegion == "" {
		t.BucketRegion = t.HomeRegion
	}
	if !t.BucketExists {
		if err := m.Bucket(ctx, t.Account, t.BucketRegion, t.Bucket); err != nil {
			return "", err
		}
	}
	cfg, err := m.AccountConfig(ctx, t.Account, t.HomeRegion, ExecutionRole)
	if err != nil {
		return "", err
	}
	in := &cloudtrail.CreateTrailInput{Name: aws.String(t.Name), S3BucketName: aws.String(t.Bucket),
		IsMultiRegionTrail: aws.Bool(t.MultiRegion), EnableLogFileValidation: aws.Bool(t.Validation)}
	if t.Topic != "" {
		if _, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(t.Topic)}); err != nil {
			return "", fmt.Errorf("create topic %s in %s/%s: %w", t.Topic, t.Account, t.HomeRegion, err)
		}
		// CloudTrail takes the topic's name or ARN (CreateTrail, SnsTopicName); moto 5.2.1
		// builds the ARN from whatever it is given (moto/cloudtrail/models.py,
		// Trail.topic_arn), so the name it is.
		in.SnsTopicName = aws.String(t.Topic)
	}
	ct := cloudtrail.NewFromConfig(cfg)
	out, err := ct.CreateTrail(ctx, in)
	if err != nil {
		return "", fmt.Errorf("create trail %s in %s/%s: %w", t.Name, t.Account, t.HomeRegion, err)
	}
	if t.Logging {
		if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(t.Name)}); err != nil {
			return "", fmt.Errorf("start logging %s in %s/%s: %w", t.Name, t.Account, t.HomeRegion, err)
		}
	}
	return aws.ToString(out.TrailARN), nil
}

// SecretValue is the JSON of the onboarder's secret: the Cloud One target's key and token, or
// the Vision One target's API key (a field left empty is left out).
type SecretValue struct {
	CloudOneAPIKey        string `json:"cloudOneApiKey,omitempty"`
	VisionOneServiceToken string `json:"visionOneServiceToken,omitempty"`
	VisionOneAPIKey       string `json:"visionOneApiKey,omitempty"`
}

// JSON encodes the value as it is stored.
func (s SecretValue) JSON() string {
	b, _ := json.Marshal(s)
	return string(b)
}
