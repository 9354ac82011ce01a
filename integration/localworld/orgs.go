package localworld

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Organizations is a stand-in for AWS Organizations that holds a large Organization in
// memory and answers the read calls the onboarder makes, for the benchmark of a sweep over
// 10,000 accounts. moto cannot hold that many: in moto 5.2.1, CreateAccount and MoveAccount
// scan the account list, and creating 1,000 accounts took 32 s, 3,000 took 172 s (10,000
// extrapolates to half an hour), and every listed page filters the whole list again.
//
// It speaks the awsJson1.1 protocol of Organizations and serves DescribeOrganization,
// ListRoots, ListAccounts, ListAccountsForParent, ListOrganizationalUnitsForParent,
// ListParents and DescribeAccount, with AWS's page limit: MaxResults is 1 to 20, and a page
// holds at most 20 entries (Organizations API Reference, ListAccounts and
// ListAccountsForParent, "MaxResults ... Maximum value of 20"); moto answers 100 per page.
// Anything else is refused with an error that names the operation. Serve it behind the
// fault proxy (Proxy.Serve("organizations", o)) so that latency, throttling and the IAM gate
// apply as to moto's answers.
type Organizations struct {
	ID         string // o-...
	Management string
	RootID     string

	mu       sync.RWMutex
	accounts map[string]*orgAccount // id -> account
	children map[string][]string    // parent id -> child OU ids, in creation order
	members  map[string][]string    // parent id -> account ids, in creation order
	parent   map[string]string      // account or OU id -> parent id
	ous      map[string]string      // OU id -> name
	next     int
}

type orgAccount struct {
	ID, Name, Email string
	Joined          time.Time
}

// NewOrganizations makes an Organization whose management account is management.
func NewOrganizations(management string) *Organizations {
	o := &Organizations{ID: "o-standin0001", Management: management, RootID: "r-st01",
		accounts: map[string]*orgAccount{}, children: map[string][]string{}, members: map[string][]string{},
		parent: map[string]string{}, ous: map[string]string{}}
	o.accounts[management] = &orgAccount{ID: management, Name: "management", Email: "management@example.com", Joined: time.Now().Add(-365 * 24 * time.Hour)}
	o.members[o.RootID] = []string{management}
	o.parent[management] = o.RootID
	return o
}

// AddOU creates an OU under parent (the root or an OU) and returns its id.
func (o *Organizations) AddOU(parent, name string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.next++
	id := fmt.Sprintf("ou-st01-%08d", o.next)
	o.ous[id], o.parent[id] = name, parent
	o.children[parent] = append(o.children[parent], id)
	return id
}

// AddAccount creates an active member account under parent and returns it.
func (o *Organizations) AddAccount(parent, name string) Account {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.next++
	id := fmt.Sprintf("3%011d", o.next)
	a := &orgAccount{ID: id, Name: name, Email: name + "@example.com", Joined: time.Now()}
	o.accounts[id], o.parent[id] = a, parent
	o.members[parent] = append(o.members[parent], id)
	return Account{ID: id, Name: name, Email: a.Email, OUID: parent, OUName: o.ous[parent]}
}

const orgPageLimit = 20

func (o *Organizations) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op := target[strings.LastIndex(target, ".")+1:]
	var in struct {
		NextToken  string
		MaxResults int
		ParentId   string
		ChildId    string
		AccountId  string
	}
	body, _ := io.ReadAll(r.Body)
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			orgError(w, "InvalidInputException", "the request body is not JSON: "+err.Error())
			return
		}
	}
	if in.MaxResults < 0 || in.MaxResults > orgPageLimit {
		orgError(w, "InvalidInputException", fmt.Sprintf("MaxResults %d: must be 1 to %d", in.MaxResults, orgPageLimit))
		return
	}
	limit := in.MaxResults
	if limit == 0 {
		limit = orgPageLimit
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	switch op {
	case "DescribeOrganization":
		orgJSON(w, map[string]any{"Organization": map[string]any{"Id": o.ID, "Arn": o.arn("organization", o.ID), "FeatureSet": "ALL",
			"MasterAccountId": o.Management, "MasterAccountArn": o.arn("account", o.Management), "MasterAccountEmail": o.accounts[o.Management].Email}})
	case "ListRoots":
		orgJSON(w, map[string]any{"Roots": []any{map[string]any{"Id": o.RootID, "Arn": o.arn("root", o.RootID), "Name": "Root", "PolicyTypes": []any{}}}})
	case "ListAccounts":
		var all []string
		o.walk(o.RootID, func(id string) { all = append(all, id) })
		o.page(w, in.NextToken, "all", all, limit, "Accounts", func(id string) any { return o.account(id) })
	case "ListAccountsForParent":
		if !o.isParent(in.ParentId) {
			orgError(w, "ParentNotFoundException", "We can't find a root or OU with the ParentId that you specified.")
			return
		}
		o.page(w, in.NextToken, in.ParentId, o.members[in.ParentId], limit, "Accounts", func(id string) any { return o.account(id) })
	case "ListOrganizationalUnitsForParent":
		if !o.isParent(in.ParentId) {
			orgError(w, "ParentNotFoundException", "We can't find a root or OU with the ParentId that you specified.")
			return
		}
		o.page(w, in.NextToken, "ous:"+in.ParentId, o.children[in.ParentId], limit, "OrganizationalUnits", func(id string) any {
			return map[string]any{"Id": id, "Arn": o.arn("ou", id), "Name": o.ous[id]}
		})
	case "ListParents":
		p, ok := o.parent[in.ChildId]
		if !ok {
			orgError(w, "ChildNotFoundException", "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.")
			return
		}
		typ := "ORGANIZATIONAL_UNIT"
		if p == o.RootID {
			typ = "ROOT"
		}
		orgJSON(w, map[string]any{"Parents": []any{map[string]any{"Id": p, "Type": typ}}})
	case "DescribeAccount":
		if _, ok := o.accounts[in.AccountId]; !ok {
			orgError(w, "AccountNotFoundException", "You specified an account that doesn't exist.")
			return
		}
		orgJSON(w, map[string]any{"Account": o.account(in.AccountId)})
	default:
		orgError(w, "UnsupportedAPIEndpointException", "the Organizations stand-in (integration/localworld/orgs.go) does not serve "+op)
	}
}

func (o *Organizations) isParent(id string) bool {
	_, ou := o.ous[id]
	return id == o.RootID || ou
}

// walk visits every account under id, depth first.
func (o *Organizations) walk(id string, fn func(string)) {
	for _, a := range o.members[id] {
		fn(a)
	}
	for _, c := range o.children[id] {
		o.walk(c, fn)
	}
}

// page answers one page of ids from the offset the token names; the token is bound to the
// listing it came from, as AWS's are.
func (o *Organizations) page(w http.ResponseWriter, token, listing string, ids []string, limit int, key string, render func(string) any) {
	start := 0
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		l, off, ok := strings.Cut(string(b), "|")
		n, aerr := strconv.Atoi(off)
		if err != nil || !ok || aerr != nil || l != listing || n < 0 || n > len(ids) {
			orgError(w, "InvalidInputException", "You provided an invalid NextToken.")
			return
		}
		start = n
	}
	end := min(start+limit, len(ids))
	items := make([]any, 0, end-start)
	for _, id := range ids[start:end] {
		items = append(items, render(id))
	}
	out := map[string]any{key: items}
	if end < len(ids) {
		out["NextToken"] = base64.RawURLEncoding.EncodeToString([]byte(listing + "|" + strconv.Itoa(end)))
	}
	orgJSON(w, out)
}

func (o *Organizations) account(id string) map[string]any {
	a := o.accounts[id]
	return map[string]any{"Id": a.ID, "Arn": o.arn("account", a.ID), "Name": a.Name, "Email": a.Email, "Status": "ACTIVE", "State": "ACTIVE",
		"JoinedMethod": "CREATED", "JoinedTimestamp": float64(a.Joined.UnixMilli()) / 1000}
}

func (o *Organizations) arn(kind, id string) string {
	switch kind {
	case "organization":
		return "arn:aws:organizations::" + o.Management + ":organization/" + o.ID
	case "account":
		return "arn:aws:organizations::" + o.Management + ":account/" + o.ID + "/" + id
	case "root":
		return "arn:aws:organizations::" + o.Management + ":root/" + o.ID + "/" + id
	}
	return "arn:aws:organizations::" + o.Management + ":ou/" + o.ID + "/" + id
}

func orgJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", orgRequestID())
	_, _ = w.Write(b)
}

var orgRequests atomic.Int64

func orgRequestID() string { return fmt.Sprintf("standin-%012d", orgRequests.Add(1)) }

func orgError(w http.ResponseWriter, code, msg string) {
	b, _ := json.Marshal(map[string]string{"__type": code, "Message": msg})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", orgRequestID())
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(b)
}
