package localworld

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/iampolicy"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
)

// The local world's operator is what a real one is: a person signed in through IAM Identity
// Center to the install account (the management account, or the delegated administrator
// account of docs/DEPLOY.md section 13), holding the role IAM Identity Center makes for a
// permission set, with only the central stack's operator policy attached, as a customer
// managed policy (docs/DEPLOY.md, "Run the command as a person"). Every call the operator
// command makes is evaluated by the IAM gate, like every Lambda's.
//
// IAM Identity Center names the role AWSReservedSSO_<permission set>_<unique suffix>, under
// the path /aws-reserved/sso.amazonaws.com/<region>/ (IAM Identity Center User Guide,
// "Referencing permission sets in resource policies, Amazon EKS, and AWS KMS",
// https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html).
// The role's trust is IAM Identity Center's own (a person gets its credentials through the
// AWS access portal); the local world assumes the role with the harness's credentials,
// which moto allows whatever the trust says and the gate does not gate.

// OperatorPermissionSet is the permission set of the local world's operators.
const OperatorPermissionSet = "OnboarderOperator"

// OperatorSession is the role session name of the local world's operator: IAM Identity
// Center uses the person's user name.
const OperatorSession = "operator@example.com"

// ReconcileFunction is the name of the reconcile function in the local world: the central
// stack "onboarder"'s functions are onboarder-<handler>.
const ReconcileFunction = "onboarder-reconcile"

// operatorPolicyName is OperatorPolicy's name for the central stack "onboarder".
const operatorPolicyName = "onboarder-operator"

// Operator is the person the world's operator command runs as.
type Operator struct {
	RoleARN string
	Session string
	creds   roleCreds
}

// setupOperator makes the operator's role in the install account, with the operator policy
// of deploy/template.yaml attached, and gives the gate its credentials.
func (e *Env) setupOperator(ctx context.Context, g *proxy.Proxy) error {
	doc, content, err := ResourcePolicy(e.Opts.RulesFile, "OperatorPolicy", "PolicyDocument", iampolicy.Identity, e.templateValues())
	if err != nil {
		return fmt.Errorf("the operator policy: %w", err)
	}
	suffix := make([]byte, 8)
	_, _ = rand.Read(suffix)
	name := "AWSReservedSSO_" + OperatorPermissionSet + "_" + hex.EncodeToString(suffix)
	path := "/aws-reserved/sso.amazonaws.com/" + e.Region + "/"
	arn := "arn:aws:iam::" + e.Install + ":role" + path + name
	trust := `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Principal":{"Service":"sso.amazonaws.com"},"Action":"sts:AssumeRole"},` +
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + ManagementAccount + `:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:RoleSessionName":"` + OperatorSession + `"}}}]}`
	ic := iam.NewFromConfig(e.central)
	pol, err := ic.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(operatorPolicyName), PolicyDocument: aws.String(string(content)),
		Description: aws.String("cloudone-onboarder operator command")})
	if err != nil {
		return fmt.Errorf("create the operator policy: %w", err)
	}
	if _, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), Path: aws.String(path), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		return fmt.Errorf("create the operator's role: %w", err)
	}
	if _, err := ic.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: pol.Policy.Arn}); err != nil {
		return fmt.Errorf("attach the operator policy: %w", err)
	}
	t, err := iampolicy.Parse([]byte(trust), iampolicy.Trust)
	if err != nil {
		return fmt.Errorf("the operator role's trust: %w", err)
	}
	g.AddRole(proxy.Role{ARN: arn, Label: "the operator (IAM Identity Center permission set " + OperatorPermissionSet + ")", Policies: []iampolicy.Document{doc}, Trust: &t})
	out, err := sts.NewFromConfig(e.Moto.Config(ctx, e.Region)).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(arn),
		RoleSessionName: aws.String(OperatorSession), DurationSeconds: aws.Int32(43200)})
	if err != nil {
		return fmt.Errorf("credentials of the operator's role: %w", err)
	}
	c := out.Credentials
	e.Operator = &Operator{RoleARN: arn, Session: OperatorSession,
		creds: roleCreds{aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)}}
	g.AddCredentials(e.Operator.creds.key, arn, OperatorSession)
	return nil
}

// templateValues resolve deploy/template.yaml for this world.
func (e *Env) templateValues() TemplateValues {
	return TemplateValues{Region: e.Region, Account: e.Install,
		Params: map[string]string{
			"OrganizationId": e.OrgID, "SecretArn": e.SecretARN, "EventBusName": BusName, "ManagementAccountId": e.managementParam(),
			"ExecutionRoleName": e.executionRole(), "CloudFormationRoleName": e.cfnRole(), "OnboardingStackName": "CloudOne",
			"Target": e.target(),
		},
		Refs:  map[string]string{"OnboarderBus": BusName, "LedgerTable": LedgerTable, "AWS::StackName": "onboarder"},
		Attrs: e.centralAttrs(),
	}
}

// OperatorEnv is the environment of the operator command run against this world as the
// operator: the operator role's credentials, the install region, the fault proxy (the IAM
// gate) as the endpoint, and the one setting the command needs, the reconcile function.
func (e *Env) OperatorEnv() ([]string, error) {
	if e.Operator == nil || e.Opts.Faults == nil {
		return nil, errors.New("the operator runs behind the IAM gate: the world needs the fault proxy (Options.Faults)")
	}
	c := e.Operator.creds
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true", "NO_COLOR=1", "TERM=dumb",
		"AWS_REGION=" + e.Region, "AWS_ENDPOINT_URL=" + e.Opts.Faults.URL,
		"AWS_ACCESS_KEY_ID=" + c.key, "AWS_SECRET_ACCESS_KEY=" + c.secret, "AWS_SESSION_TOKEN=" + c.token,
		"ONBOARDER_RECONCILE_FUNCTION=" + ReconcileFunction}
	sort.Strings(env)
	return env, nil
}

// RunOperator runs the operator command (bin, Harness.Operator) with args against this
// world, as the operator, and returns what it printed and its exit code; err is set only
// when it could not run.
func (e *Env) RunOperator(ctx context.Context, bin string, args ...string) (stdout, stderr string, code int, err error) {
	env, err := e.OperatorEnv()
	if err != nil {
		return "", "", 0, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Dir = filepath.Dir(bin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), errOut.String(), exit.ExitCode(), nil
	}
	return out.String(), errOut.String(), 0, err
}

// maxPayload is the Invoke payload quota of a synchronous invocation, request and response:
// "6 MB each for request and response (synchronous)" (Lambda quotas,
// https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), 6 MiB as the
// quota page counts it.
const maxPayload = 6 << 20

// serveLambda makes the fault proxy answer Lambda's Invoke of the world's functions with the
// running processes, as the Lambda service does for a synchronous invocation (Lambda API
// Reference, Invoke, https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html): 200 with
// the function's result; for an error the function returned, 200 with X-Amz-Function-Error
// and the error as the body; ResourceNotFoundException (404) for a function that does not
// exist; RequestTooLargeException (413) for a payload over the quota ("The request payload
// exceeded the Invoke request body JSON input quota", the SDK's
// service/lambda/types/errors.go). A result over the quota is a function error of the local
// world's own wording: AWS's exact text is not known here. The IAM gate checks
// lambda:InvokeFunction on the function before the call gets here.
func (e *Env) serveLambda() {
	if e.Opts.Faults == nil {
		return
	}
	e.Opts.Faults.Serve("lambda", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if len(parts) != 4 || parts[1] != "functions" || parts[3] != "invocations" || r.Method != http.MethodPost {
			lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "the local world's Lambda answers only Invoke")
			return
		}
		name := parts[2]
		if i := strings.LastIndex(name, ":function:"); i >= 0 {
			name = name[i+len(":function:"):]
		}
		handler, _ := strings.CutPrefix(name, "onboarder-")
		pool := e.Lambdas[handler]
		if pool == nil || !strings.HasPrefix(name, "onboarder-") {
			lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+parts[2])
			return
		}
		if t := r.Header.Get("X-Amz-Invocation-Type"); t != "" && t != "RequestResponse" {
			lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "the local world invokes synchronously only (InvocationType "+t+")")
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
		if err != nil {
			lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", err.Error())
			return
		}
		if len(body) > maxPayload {
			lambdaError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "Request must be smaller than "+strconv.Itoa(maxPayload)+" bytes for the InvokeFunction operation")
			return
		}
		out, ferr, err := pool.Invoke(r.Context(), body)
		if err != nil {
			lambdaError(w, http.StatusInternalServerError, "ServiceException", err.Error())
			return
		}
		if ferr == nil && len(out) > maxPayload {
			out, _ = json.Marshal(map[string]string{"errorType": "ResponseTooLarge", "errorMessage": "the response is larger than the 6 MB of a synchronous invocation"})
			ferr = errors.New("response too large")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		if ferr != nil {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.Copy(w, bytes.NewReader(out))
	}))
}

// lambdaError answers as Lambda's REST-JSON protocol shapes an error: the code in
// X-Amzn-ErrorType, and a JSON body.
func lambdaError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"Type": "User", "message": msg})
	_, _ = w.Write(b)
}

// OperatorConfig is an SDK configuration with the operator's credentials, through the IAM
// gate: what the operator may and may not do, for a test to try.
func (e *Env) OperatorConfig(ctx context.Context) (aws.Config, error) {
	if e.Operator == nil || e.Opts.Faults == nil {
		return aws.Config{}, errors.New("the operator runs behind the IAM gate: the world needs the fault proxy (Options.Faults)")
	}
	c := e.Operator.creds
	// A configuration of its own: a base endpoint given when loading one wins over the one
	// set on a copy (the SDK's resolveBaseEndpoint reads the load options again).
	return awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(e.Region), awsconfig.WithBaseEndpoint(e.Opts.Faults.URL),
		awsconfig.WithSharedConfigFiles([]string{}), awsconfig.WithSharedCredentialsFiles([]string{}),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.key, c.secret, c.token)))
}

// CreateArchives makes the two archives of deploy/template.yaml (moto cannot deploy the
// central stack's), named as the central stack "onboarder" names them: BusName-default, of
// the default bus, and BusName-own, of the onboarder's bus. It returns their names.
func (e *Env) CreateArchives(ctx context.Context) ([]string, error) {
	eb := eventbridge.NewFromConfig(e.central)
	defaultBus := "arn:aws:events:" + e.Region + ":" + e.Install + ":event-bus/default"
	var names []string
	for _, a := range []struct{ name, source, pattern string }{
		{BusName + "-default", defaultBus, `{"source":["aws.controltower","aws.organizations","onboarder.manual"]}`},
		{BusName + "-own", e.BusARN, `{"source":["aws.cloudtrail","aws.cloudformation","aws.controltower","aws.organizations","onboarder.manual"]}`},
	} {
		if _, err := eb.CreateArchive(ctx, &eventbridge.CreateArchiveInput{ArchiveName: aws.String(a.name), EventSourceArn: aws.String(a.source),
			EventPattern: aws.String(a.pattern)}); err != nil {
			return nil, fmt.Errorf("create archive %s: %w", a.name, err)
		}
		names = append(names, a.name)
	}
	return names, nil
}
