package localworld

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Entry is one event to put on a bus, as a member account's forwarding rule or AWS would.
type Entry struct {
	DefaultBus bool   // the default bus (Control Tower, Organizations); else the onboarder's bus
	Source     string // aws.controltower, aws.cloudtrail, ...
	DetailType string
	Detail     map[string]any
}

// Identity is the userIdentity of a CloudTrail record.
type Identity map[string]any

// Person is a human in a member account (an SSO administrator).
func Person(account string) Identity {
	role := "AWSReservedSSO_AdministratorAccess_3f1e2d"
	return Identity{
		"type":        "AssumedRole",
		"principalId": "AROA2EXAMPLEPERSON01:jane.doe",
		"arn":         "arn:aws:sts::" + account + ":assumed-role/" + role + "/jane.doe",
		"accountId":   account,
		"sessionContext": map[string]any{"sessionIssuer": map[string]any{
			"type": "Role", "principalId": "AROA2EXAMPLEPERSON01",
			"arn":       "arn:aws:iam::" + account + ":role/aws-reserved/sso.amazonaws.com/" + role,
			"accountId": account, "userName": role,
		}},
	}
}

// RoleSession is an assumed-role session in a member account: the onboarder's own one is
// RoleSession(account, "AWSControlTowerExecution", "cloudone-onboarder").
func RoleSession(account, role, session string) Identity {
	return Identity{
		"type":        "AssumedRole",
		"principalId": "AROA2EXAMPLEROLE0001:" + session,
		"arn":         "arn:aws:sts::" + account + ":assumed-role/" + role + "/" + session,
		"accountId":   account,
		"sessionContext": map[string]any{"sessionIssuer": map[string]any{
			"type": "Role", "principalId": "AROA2EXAMPLEROLE0001",
			"arn":       "arn:aws:iam::" + account + ":role/" + role,
			"accountId": account, "userName": role,
		}},
	}
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ControlTowerAccount is a Control Tower lifecycle event (eventName CreateManagedAccount or
// UpdateManagedAccount) for a member account, with state SUCCEEDED or FAILED. Its detail has
// the fields of AWS's lifecycle-event samples (Control Tower User Guide, "Lifecycle events in
// AWS Control Tower"), which show no requestParameters, responseElements, recipientAccountId,
// managementEvent or eventCategory.
func ControlTowerAccount(eventName string, a Account, state, region string) Entry {
	now := time.Now().UTC()
	status := "createManagedAccountStatus"
	if eventName == "UpdateManagedAccount" {
		status = "updateManagedAccountStatus"
	}
	e := serviceEvent("aws.controltower", "controltower.amazonaws.com", eventName, region, now, map[string]any{status: map[string]any{
		"organizationalUnit": map[string]any{"organizationalUnitName": a.OUName, "organizationalUnitId": a.OUID},
		"account":            map[string]any{"accountName": a.Name, "accountId": a.ID},
		"state":              state,
		"message":            "AWS Control Tower successfully created a managed account.",
		"requestedTimestamp": now.Add(-20 * time.Minute).Format("2006-01-02T15:04:05-0700"),
		"completedTimestamp": now.Format("2006-01-02T15:04:05-0700"),
	}})
	e.Detail["eventVersion"] = "1.05"
	for _, k := range []string{"requestParameters", "responseElements", "recipientAccountId", "managementEvent", "eventCategory"} {
		delete(e.Detail, k)
	}
	return e
}

// APICall is a CloudTrail "AWS API Call via CloudTrail" event forwarded from a member
// account: source aws.cloudtrail or aws.cloudformation by eventSource.
func APICall(account, region, eventSource, eventName string, who Identity, request map[string]any, errorCode string) Entry {
	src := "aws." + eventSource[:len(eventSource)-len(".amazonaws.com")]
	d := map[string]any{
		"eventVersion":       "1.09",
		"userIdentity":       map[string]any(who),
		"eventTime":          time.Now().UTC().Format(time.RFC3339),
		"eventSource":        eventSource,
		"eventName":          eventName,
		"awsRegion":          region,
		"sourceIPAddress":    "203.0.113.24",
		"userAgent":          "aws-cli/2.15.30",
		"requestParameters":  request,
		"responseElements":   nil,
		"requestID":          uuid(),
		"eventID":            uuid(),
		"readOnly":           false,
		"eventType":          "AwsApiCall",
		"managementEvent":    true,
		"recipientAccountId": account,
		"eventCategory":      "Management",
	}
	if errorCode != "" {
		d["errorCode"] = errorCode
		d["errorMessage"] = "the call failed"
	}
	return Entry{Source: src, DetailType: "AWS API Call via CloudTrail", Detail: d}
}

// TrailCall is a CloudTrail API call on a trail (name or ARN) made by a person. CloudTrail
// records the trail under the API's own parameter: TrailName for PutEventSelectors and
// PutInsightSelectors, Name for CreateTrail, UpdateTrail, DeleteTrail, StartLogging and
// StopLogging (AWS CloudTrail API Reference; real records: DataDog/stratus-red-team's
// detonation logs, internal/event/testdata/SOURCES.md).
func TrailCall(account, region, eventName, trail string) Entry {
	param := "name"
	if eventName == "PutEventSelectors" || eventName == "PutInsightSelectors" {
		param = "trailName"
	}
	return APICall(account, region, "cloudtrail.amazonaws.com", eventName, Person(account), map[string]any{param: trail}, "")
}

// StackCall is a CloudFormation API call on a stack (name or ARN) made by a person.
func StackCall(account, region, eventName, stack string) Entry {
	return APICall(account, region, "cloudformation.amazonaws.com", eventName, Person(account), map[string]any{"stackName": stack}, "")
}

// Manual is a manual reconcile request: all accounts, or the ones named.
func Manual(accounts ...string) Entry {
	d := map[string]any{"all": true}
	if len(accounts) > 0 {
		d = map[string]any{"accountIds": accounts}
	}
	return Entry{DefaultBus: true, Source: "onboarder.manual", DetailType: "Reconcile Request", Detail: d}
}

// ScheduledEvent is the payload the daily sweep's schedule sends: the Input of SweepSchedule in
// deploy/template.yaml (EventBridge Scheduler, with its placeholders filled), which names no
// account and no region.
func ScheduledEvent(region string) []byte {
	at := scheduledTime()
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": "sweep-" + at, "detail-type": "Scheduled Event", "source": "aws.scheduler", "time": at,
		"resources": []string{"arn:aws:scheduler:" + region + ":" + ManagementAccount + ":schedule/default/cloudone-onboarder-SweepSchedule"},
		"detail":    map[string]any{},
	})
	return b
}

// lastScheduled is the last scheduled time ScheduledEvent gave, so that two sweeps of one
// second (a test's, not a daily schedule's) are two runs, as two schedule times would be.
var lastScheduled struct {
	sync.Mutex
	t time.Time
}

// scheduledTime is a run's scheduled time as EventBridge Scheduler fills <aws.scheduler.scheduled-time>
// (seconds, UTC), later than the last one given.
func scheduledTime() string {
	lastScheduled.Lock()
	defer lastScheduled.Unlock()
	t := time.Now().UTC().Truncate(time.Second)
	if !t.After(lastScheduled.t) {
		t = lastScheduled.t.Add(time.Second)
	}
	lastScheduled.t = t
	return t.Format(time.RFC3339)
}

// OrganizationsCreateAccountResult is the Organizations event for a finished CreateAccount
// (published in us-east-1 only), with state SUCCEEDED or FAILED. Organizations records the new
// account's name masked, as "****" (Organizations User Guide, "Logging and monitoring in AWS
// Organizations", the CreateAccountResult entries).
func OrganizationsCreateAccountResult(a Account, state string) Entry {
	now := time.Now().UTC()
	status := map[string]any{
		"id":                 "car-" + strings.ReplaceAll(uuid(), "-", ""),
		"state":              state,
		"accountName":        "****",
		"accountId":          a.ID,
		"requestedTimestamp": now.Add(-2 * time.Minute).Format("Jan 2, 2006 3:04:05 PM"),
		"completedTimestamp": now.Format("Jan 2, 2006 3:04:05 PM"),
	}
	if state != "SUCCEEDED" {
		delete(status, "accountId") // the FAILED sample names no account: none was made
	}
	return serviceEvent("aws.organizations", "organizations.amazonaws.com", "CreateAccountResult", "us-east-1", now, map[string]any{"createAccountStatus": status})
}

// OrganizationsAccountCall is the CloudTrail-recorded Organizations call on a member account
// (CloseAccount, RemoveAccountFromOrganization), made by a person in the management account;
// Organizations records its calls in us-east-1 and EventBridge delivers them on the default
// bus there. MoveAccountCall is the same for MoveAccount.
func OrganizationsAccountCall(eventName, account string) Entry {
	e := APICall(ManagementAccount, "us-east-1", "organizations.amazonaws.com", eventName, Person(ManagementAccount), map[string]any{"accountId": account}, "")
	e.DefaultBus = true
	return e
}

// MoveAccountCall is Organizations MoveAccount of account from one parent (OU or root) to another.
func MoveAccountCall(account, from, to string) Entry {
	e := APICall(ManagementAccount, "us-east-1", "organizations.amazonaws.com", "MoveAccount", Person(ManagementAccount),
		map[string]any{"accountId": account, "sourceParentId": from, "destinationParentId": to}, "")
	e.DefaultBus = true
	return e
}

// serviceEvent is an "AWS Service Event via CloudTrail" on the default bus: the envelope that
// Control Tower and Organizations lifecycle events share, around their serviceEventDetails.
func serviceEvent(source, eventSource, eventName, region string, now time.Time, details map[string]any) Entry {
	return Entry{DefaultBus: true, Source: source, DetailType: "AWS Service Event via CloudTrail", Detail: map[string]any{
		"eventVersion":        "1.08",
		"userIdentity":        map[string]any{"accountId": ManagementAccount, "invokedBy": "AWS Internal"},
		"eventTime":           now.Format(time.RFC3339),
		"eventSource":         eventSource,
		"eventName":           eventName,
		"awsRegion":           region,
		"sourceIPAddress":     "AWS Internal",
		"userAgent":           "AWS Internal",
		"requestParameters":   nil,
		"responseElements":    nil,
		"eventID":             uuid(),
		"readOnly":            false,
		"eventType":           "AwsServiceEvent",
		"managementEvent":     true,
		"recipientAccountId":  ManagementAccount,
		"eventCategory":       "Management",
		"serviceEventDetails": details,
	}}
}
