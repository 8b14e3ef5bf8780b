package sim

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
)

// manyUsers adds n users to a dataset.
func manyUsers(ds *Dataset, n int) *Dataset {
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("99999999-0000-4000-8000-%012d", i)
		u := user(id, fmt.Sprintf("Bulk%04d", i))
		ds.Objects = append(ds.Objects, u)
	}
	return ds
}

func TestListPagingSelectAndCount(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, manyUsers(testDataset(), 250), Options{})
	r := e.must(e.do("GET", "/v1.0/users", nil), 200)
	if len(r.values()) != 100 || r.str("@odata.context") != e.base+"/v1.0/$metadata#users" {
		t.Fatalf("default page: %d items, context %s", len(r.values()), r.str("@odata.context"))
	}
	first := r.values()[0]
	for _, k := range []string{"id", "displayName", "userPrincipalName", "businessPhones", "mail", "officeLocation"} {
		if _, ok := first[k]; !ok {
			t.Errorf("default property %s missing: %v", k, first)
		}
	}
	for _, k := range []string{"department", "accountEnabled", "passwordProfile", "createdDateTime"} {
		if _, ok := first[k]; ok {
			t.Errorf("non-default property %s returned", k)
		}
	}
	// Follow nextLinks with $select and $top: every user once, in order, only selected fields.
	seen := map[string]bool{}
	next := "/v1.0/users?$select=displayName,department&$top=999&$count=true"
	pages := 0
	var total any
	for next != "" {
		r = e.must(e.do("GET", next, nil, "ConsistencyLevel", "eventual"), 200)
		if pages == 0 {
			total = r.json["@odata.count"]
			if r.str("@odata.context") != e.base+"/v1.0/$metadata#users(displayName,department)" {
				t.Errorf("context %s", r.str("@odata.context"))
			}
		} else if _, ok := r.json["@odata.count"]; ok {
			t.Error("@odata.count on a later page")
		}
		for _, v := range r.values() {
			if len(v) != 3 {
				t.Errorf("selected item %v", v)
			}
			seen[v["id"].(string)] = true
		}
		next = r.str("@odata.nextLink")
		pages++
	}
	if len(seen) != 253 || fmt.Sprint(total) != "253" || pages != 1 {
		t.Errorf("saw %d users over %d pages, count %v", len(seen), pages, total)
	}
	// Small pages: nextLinks are absolute and carry an opaque token.
	seen = map[string]bool{}
	next = "/v1.0/users?$top=100&$select=id"
	for pages = 0; next != ""; pages++ {
		r = e.must(e.do("GET", next, nil), 200)
		for _, v := range r.values() {
			seen[v["id"].(string)] = true
		}
		next = r.str("@odata.nextLink")
		if next != "" && (!strings.HasPrefix(next, e.base+"/v1.0/users?$skiptoken=") || strings.Contains(next, "select")) {
			t.Fatalf("nextLink %s", next)
		}
	}
	if len(seen) != 253 || pages != 3 {
		t.Errorf("paged %d users in %d pages", len(seen), pages)
	}
	// $count without ConsistencyLevel gives no count; /$count needs the header.
	if r := e.must(e.do("GET", "/v1.0/users?$count=true&$top=1", nil), 200); r.json["@odata.count"] != nil {
		t.Error("@odata.count without ConsistencyLevel")
	}
	r = e.must(e.do("GET", "/v1.0/users/$count", nil, "ConsistencyLevel", "eventual"), 200)
	if string(r.raw) != "253" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Errorf("$count: %q %s", r.raw, r.header.Get("Content-Type"))
	}
	if r := e.do("GET", "/v1.0/users/$count", nil); r.status != 400 {
		t.Errorf("$count without ConsistencyLevel: %d", r.status)
	}
}

func TestQueryOptionErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for _, tc := range []struct {
		path, code, msg string
	}{
		{"/v1.0/users?$top=1000", "Request_BadRequest", "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."},
		{"/v1.0/users?$top=0", "Request_BadRequest", "Must be between 1 and 999"},
		{"/v1.0/users?$select=displayName,nonsense", "Request_BadRequest", "nonsense"},
		{"/v1.0/users?$filter=" + url.QueryEscape("nonsense eq 'x'"), "Request_BadRequest", "nonsense"},
		{"/v1.0/users?$filter=" + url.QueryEscape("displayName ne 'x'"), "Request_UnsupportedQuery", "ne"},
		{"/v1.0/users?$filter=" + url.QueryEscape("displayName has 'x'"), "Request_UnsupportedQuery", "displayName"},
		{"/v1.0/users?$filter=" + url.QueryEscape("displayName eq 'x"), "Request_BadRequest", "unterminated"},
		{"/v1.0/users?$skiptoken=forged", "Request_BadRequest", "skiptoken"},
		{"/v1.0/directory/deletedItems", "Request_BadRequest", "cast"},
	} {
		r := e.do("GET", tc.path, nil)
		if r.status != 400 || r.errCode() != tc.code || !strings.Contains(r.str("error", "message"), tc.msg) {
			t.Errorf("%s: %d %s", tc.path, r.status, r.raw)
		}
	}
	// A skiptoken minted for another collection is refused.
	r := e.must(e.do("GET", "/v1.0/users?$top=1", nil), 200)
	next, _ := url.Parse(r.str("@odata.nextLink"))
	if r := e.do("GET", "/v1.0/groups?"+next.RawQuery, nil); r.status != 400 {
		t.Errorf("users token on groups: %d", r.status)
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	cases := map[string][]string{
		"userPrincipalName eq 'ALICE@" + tDomain + "'":                           {tAlice},
		"startswith(displayName,'b')":                                            {tBob},
		"displayName in ('Alice','Carol')":                                       {tAlice, tCarol},
		"id eq '" + tBob + "' or mailNickname eq 'carol'":                        {tBob, tCarol},
		"accountEnabled eq true and startswith(userPrincipalName,'carol@')":      {tCarol},
		"jobTitle eq null":                                                       {},
		"(displayName eq 'Alice' or displayName eq 'Bob') and surname eq 'Test'": {tAlice, tBob},
	}
	for f, want := range cases {
		r := e.must(e.do("GET", "/v1.0/users?$select=id&$filter="+url.QueryEscape(f), nil), 200)
		var got []string
		for _, v := range r.values() {
			got = append(got, v["id"].(string))
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: got %v want %v", f, got, want)
		}
	}
	r := e.must(e.do("GET", "/v1.0/servicePrincipals?$filter="+url.QueryEscape("appId eq '"+tAppID+"'"), nil), 200)
	if len(r.values()) != 1 || r.values()[0]["id"] != tAppSP {
		t.Errorf("appId filter: %s", r.raw)
	}
	r = e.must(e.do("GET", "/v1.0/applications?$filter="+url.QueryEscape("identifierUris/any(x:x eq 'api://payroll')"), nil), 200)
	if len(r.values()) != 1 {
		t.Errorf("any() filter: %s", r.raw)
	}
	r = e.must(e.do("GET", "/v1.0/oauth2PermissionGrants?$filter="+url.QueryEscape("clientId eq '"+tAppSP+"'"), nil), 200)
	if len(r.values()) != 1 || r.values()[0]["scope"] != "User.Read" {
		t.Errorf("grant filter: %s", r.raw)
	}
	r = e.must(e.do("GET", "/v1.0/roleManagement/directory/roleAssignments?$filter="+url.QueryEscape("principalId eq '"+tAlice+"'"), nil), 200)
	if len(r.values()) != 1 {
		t.Errorf("role assignment filter: %s", r.raw)
	}
}

func TestReadsOfEveryKind(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for _, spec := range entra.Specs() {
		if strings.Contains(spec.Collection, "{parent}") {
			continue
		}
		r := e.must(e.do("GET", "/v1.0"+spec.Collection, nil), 200)
		if spec.Singleton {
			if r.str("id") != "authenticationMethodsPolicy" {
				t.Errorf("%s: %s", spec.Kind, r.raw)
			}
			continue
		}
		if len(r.values()) == 0 {
			t.Errorf("%s: empty collection", spec.Kind)
		}
	}
	// Secrets never come back; polymorphic kinds carry @odata.type.
	r := e.must(e.do("GET", "/v1.0/applications/"+tApp+"?$select=passwordCredentials", nil), 200)
	if strings.Contains(string(r.raw), "leaked!") || !strings.Contains(string(r.raw), `"secretText":null`) {
		t.Errorf("application secret: %s", r.raw)
	}
	r = e.must(e.do("GET", "/v1.0/identity/conditionalAccess/namedLocations", nil), 200)
	if r.values()[0]["@odata.type"] != entra.IPNamedLocationType {
		t.Errorf("named location type: %s", r.raw)
	}
	r = e.must(e.do("GET", "/v1.0/groups/"+tSecGroup+"/members", nil), 200)
	if len(r.values()) != 2 || r.values()[0]["@odata.type"] != "#microsoft.graph.user" {
		t.Errorf("members: %s", r.raw)
	}
	r = e.must(e.do("GET", "/v1.0/groups/"+tSecGroup+"/members/$ref", nil), 200)
	if !strings.HasSuffix(r.values()[0]["@odata.id"].(string), "/directoryObjects/"+tAlice) {
		t.Errorf("members/$ref: %s", r.raw)
	}
	r = e.must(e.do("GET", "/v1.0/users/"+tBob+"/manager", nil), 200)
	if r.str("id") != tAlice || r.str("@odata.type") != "#microsoft.graph.user" {
		t.Errorf("manager: %s", r.raw)
	}
	r = e.must(e.do("GET", "/v1.0/users/alice@"+tDomain, nil), 200)
	if r.str("id") != tAlice {
		t.Errorf("user by UPN: %s", r.raw)
	}
	r = e.must(e.do("GET", "/v1.0/organization", nil), 200)
	if len(r.values()) != 1 || r.values()[0]["id"] != tTenant {
		t.Errorf("organization: %s", r.raw)
	}
	r = e.must(e.do("GET", "/beta/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Fido2", nil), 200)
	if r.str("@odata.type") != "#microsoft.graph.fido2AuthenticationMethodConfiguration" {
		t.Errorf("auth method config: %s", r.raw)
	}
}
