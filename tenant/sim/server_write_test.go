package sim

import (
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
)

func newUserBody(nick string) map[string]any {
	return map[string]any{
		"accountEnabled": true, "displayName": "New " + nick, "mailNickname": nick,
		"userPrincipalName": nick + "@" + tDomain,
		"passwordProfile":   map[string]any{"password": "xWwvJ]6NMw+bWH-d", "forceChangePasswordNextSignIn": true},
	}
}

func TestCreateUpdateDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.must(e.do("POST", "/v1.0/users", newUserBody("dave")), 201)
	id := r.str("id")
	if len(id) != 36 || r.str("userPrincipalName") != "dave@"+tDomain || r.json["passwordProfile"] != nil || r.json["accountEnabled"] != nil {
		t.Fatalf("created user: %s", r.raw)
	}
	if r.str("@odata.context") != e.base+"/v1.0/$metadata#users/$entity" {
		t.Errorf("context %s", r.str("@odata.context"))
	}
	r = e.must(e.do("GET", "/v1.0/users/"+id+"?$select=accountEnabled,createdDateTime,passwordProfile", nil), 200)
	if r.json["accountEnabled"] != true || r.str("createdDateTime") == "" || r.json["passwordProfile"] != nil {
		t.Errorf("stored user: %s", r.raw)
	}
	e.must(e.do("PATCH", "/v1.0/users/"+id, map[string]any{"jobTitle": "CFO", "department": "Finance"}), 204)
	r = e.must(e.do("GET", "/v1.0/users/"+id+"?$select=jobTitle,department", nil), 200)
	if r.str("jobTitle") != "CFO" || r.str("department") != "Finance" {
		t.Errorf("after PATCH: %s", r.raw)
	}
	// Groups: an M365 group gets its mail; a security group none.
	r = e.must(e.do("POST", "/v1.0/groups", map[string]any{"displayName": "Sales", "mailEnabled": true, "mailNickname": "sales",
		"securityEnabled": false, "groupTypes": []string{"Unified"}, "owners@odata.bind": []string{"https://graph.microsoft.com/v1.0/users/" + tAlice}}), 201)
	gid := r.str("id")
	if r.str("mail") != "sales@"+tDomain || r.str("visibility") != "Public" {
		t.Errorf("M365 group: %s", r.raw)
	}
	r = e.must(e.do("GET", "/v1.0/groups/"+gid+"/owners", nil), 200)
	if len(r.values()) != 1 || r.values()[0]["id"] != tAlice {
		t.Errorf("bound owner: %s", r.raw)
	}
	// Applications get an appId; their service principal copies the app roles.
	r = e.must(e.do("POST", "/v1.0/applications", map[string]any{"displayName": "Ledger",
		"appRoles": []any{map[string]any{"id": "aaaaaaaa-0000-4000-8000-000000000001", "value": "Ledger.All", "allowedMemberTypes": []string{"Application"}, "isEnabled": true, "displayName": "All", "description": "x"}}}), 201)
	appID := r.str("appId")
	if len(appID) != 36 || r.str("publisherDomain") != tDomain {
		t.Fatalf("application: %s", r.raw)
	}
	r = e.must(e.do("POST", "/v1.0/servicePrincipals", map[string]any{"appId": appID}), 201)
	if r.str("appDisplayName") != "Ledger" || !strings.Contains(string(r.raw), "Ledger.All") {
		t.Errorf("service principal: %s", r.raw)
	}
	r = e.do("POST", "/v1.0/servicePrincipals", map[string]any{"appId": "12345678-1234-4234-8234-123456789012"})
	if r.status != 400 || !strings.Contains(r.str("error", "message"), "does not reference a valid application object") {
		t.Errorf("SP for unknown app: %d %s", r.status, r.raw)
	}
	// Named locations: PATCH needs @odata.type.
	r = e.must(e.do("POST", "/v1.0/identity/conditionalAccess/namedLocations", map[string]any{"@odata.type": entra.CountryNamedLocationType,
		"displayName": "Blocked", "countriesAndRegions": []string{"KP"}}), 201)
	loc := r.str("id")
	if r.str("@odata.type") != entra.CountryNamedLocationType || r.json["isTrusted"] != nil {
		t.Errorf("country location: %s", r.raw)
	}
	if r := e.do("PATCH", "/v1.0/identity/conditionalAccess/namedLocations/"+loc, map[string]any{"displayName": "X"}); r.status != 400 {
		t.Errorf("PATCH without @odata.type: %d", r.status)
	}
	e.must(e.do("PATCH", "/v1.0/identity/conditionalAccess/namedLocations/"+loc, map[string]any{"@odata.type": entra.CountryNamedLocationType, "displayName": "X"}), 204)
	e.must(e.do("DELETE", "/v1.0/users/"+id, nil), 204)
	e.must(e.do("GET", "/v1.0/users/"+id, nil), 404)
}

func TestBadWritesChangeNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	before := e.snapshot()
	cases := []struct {
		method, path string
		body         any
		status       int
		msg          string
	}{
		{"POST", "/v1.0/users", `{"displayName": `, 400, "JSON"},
		{"POST", "/v1.0/users", `[1,2]`, 400, "JSON"},
		{"POST", "/v1.0/users", map[string]any{"accountEnabled": true, "displayName": "x", "mailNickname": "x", "userPrincipalName": "x@" + tDomain, "passwordProfile": map[string]any{"password": "p"}, "favouriteColour": "red"}, 400, "favouriteColour"},
		{"POST", "/v1.0/users", map[string]any{"accountEnabled": "yes", "displayName": "x", "mailNickname": "x", "userPrincipalName": "x@" + tDomain, "passwordProfile": map[string]any{"password": "p"}}, 400, "accountEnabled"},
		{"POST", "/v1.0/users", map[string]any{"accountEnabled": true, "displayName": "x", "mailNickname": "x", "passwordProfile": map[string]any{"password": "p"}}, 400, "userPrincipalName"},
		{"POST", "/v1.0/users", map[string]any{"accountEnabled": true, "displayName": "x", "mailNickname": "x", "userPrincipalName": "x@" + tDomain, "passwordProfile": map[string]any{"password": "p"}, "createdDateTime": "2020-01-01T00:00:00Z"}, 400, "read-only"},
		{"POST", "/v1.0/users", map[string]any{"accountEnabled": true, "displayName": "x", "mailNickname": "x", "userPrincipalName": "x@evil.example", "passwordProfile": map[string]any{"password": "p"}}, 400, "domain"},
		{"POST", "/v1.0/users", newUserBody("alice"), 400, "Another object with the same value for property userPrincipalName already exists."},
		{"PATCH", "/v1.0/users/" + tBob, map[string]any{"userPrincipalName": "ALICE@" + tDomain}, 400, "userPrincipalName already exists"},
		{"PATCH", "/v1.0/users/" + tBob, map[string]any{"businessPhones": "123"}, 400, "businessPhones"},
		{"PATCH", "/v1.0/groups/" + tSecGroup, map[string]any{"groupTypes": []string{"Unified"}}, 400, "created"},
		{"POST", "/v1.0/groups", map[string]any{"displayName": "Dup", "mailEnabled": true, "mailNickname": "MARKETING", "securityEnabled": false, "groupTypes": []string{"Unified"}}, 400, "mailNickname already exists"},
		{"POST", "/v1.0/groups", map[string]any{"displayName": "DL", "mailEnabled": true, "mailNickname": "dl", "securityEnabled": false}, 400, "mail-enabled"},
		{"POST", "/v1.0/groups", map[string]any{"displayName": "G", "mailEnabled": false, "mailNickname": "g", "securityEnabled": true, "members@odata.bind": []string{"https://graph.microsoft.com/v1.0/users/" + tAlice, "https://graph.microsoft.com/v1.0/users/00000000-dead-4000-8000-000000000000"}}, 404, "does not exist"},
		{"POST", "/v1.0/applications", map[string]any{"displayName": "Dup", "identifierUris": []string{"API://payroll"}}, 400, "identifierUris already exists"},
		{"POST", "/v1.0/applications", map[string]any{"displayName": "Dup", "uniqueName": "payroll"}, 400, "uniqueName already exists"},
		{"POST", "/v1.0/applications", map[string]any{"displayName": "Dup", "appId": "x"}, 400, "read-only"},
		{"POST", "/v1.0/servicePrincipals", map[string]any{"appId": tAppID}, 400, "appId already exists"},
		{"PATCH", "/v1.0/applications/" + tApp, map[string]any{"uniqueName": "other"}, 400, "created"},
		{"POST", "/v1.0/identity/conditionalAccess/policies", map[string]any{"displayName": "P", "state": "on", "conditions": map[string]any{}}, 400, "state"},
		{"POST", "/v1.0/identity/conditionalAccess/policies", map[string]any{"displayName": "P", "state": "enabled", "conditions": map[string]any{"users": map[string]any{}}}, 400, "applications"},
		{"POST", "/v1.0/identity/conditionalAccess/namedLocations", map[string]any{"displayName": "L"}, 400, "@odata.type"},
		{"PATCH", "/v1.0/roleManagement/directory/roleDefinitions/" + tGlobalAdm, map[string]any{"displayName": "Mine"}, 403, "Built-in"},
		{"DELETE", "/v1.0/roleManagement/directory/roleDefinitions/" + tGlobalAdm, nil, 403, "Built-in"},
		{"POST", "/v1.0/roleManagement/directory/roleAssignments", map[string]any{"principalId": tAlice, "roleDefinitionId": tGlobalAdm, "directoryScopeId": "/"}, 409, "conflicting object"},
		{"POST", "/v1.0/roleManagement/directory/roleAssignments", map[string]any{"principalId": tSecGroup, "roleDefinitionId": tGlobalAdm}, 400, "role-assignable"},
		{"POST", "/v1.0/roleManagement/directory/roleAssignments", map[string]any{"principalId": tAlice, "roleDefinitionId": "00000000-1111-4111-8111-000000000000"}, 404, "does not exist"},
		{"POST", "/v1.0/servicePrincipals/" + tAppSP + "/appRoleAssignedTo", map[string]any{"principalId": tAlice, "resourceId": tAppSP, "appRoleId": "99999999-9999-4999-8999-999999999999"}, 400, "not found"},
		{"POST", "/v1.0/oauth2PermissionGrants", map[string]any{"clientId": tAppSP, "resourceId": tGraphSP, "consentType": "AllPrincipals", "scope": "x"}, 409, "conflicting"},
		{"PATCH", "/v1.0/oauth2PermissionGrants/" + tGrant, map[string]any{"clientId": tGraphSP}, 400, "created"},
		{"PATCH", "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Fido2", map[string]any{"state": "enabled"}, 400, "@odata.type"},
		{"POST", "/v1.0/organization", map[string]any{"displayName": "x"}, 405, "not allowed"},
		{"DELETE", "/v1.0/directory/deletedItems/" + tAlice, nil, 404, "does not exist"},
		{"POST", "/v1.0/directory/deletedItems/" + tAlice + "/restore", nil, 404, "does not exist"},
	}
	for _, c := range cases {
		r := e.do(c.method, c.path, c.body)
		if r.status != c.status || !strings.Contains(r.str("error", "message"), c.msg) || r.errCode() == "" {
			t.Errorf("%s %s %v: %d %s", c.method, c.path, c.body, r.status, r.raw)
		}
		if after := e.snapshot(); after != before {
			t.Fatalf("%s %s changed the directory", c.method, c.path)
		}
	}
}

func TestGzipRequestBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	body := gzipBytes([]byte(`{"jobTitle":"Gzipped"}`))
	e.must(e.do("PATCH", "/v1.0/users/"+tAlice, body, "Content-Encoding", "gzip"), 204)
	r := e.must(e.do("GET", "/v1.0/users/"+tAlice+"?$select=jobTitle", nil), 200)
	if r.str("jobTitle") != "Gzipped" {
		t.Errorf("gzip body not applied: %s", r.raw)
	}
	if r := e.do("PATCH", "/v1.0/users/"+tAlice, []byte("not gzip"), "Content-Encoding", "gzip"); r.status != 400 {
		t.Errorf("bad gzip: %d", r.status)
	}
}

func TestAssignmentsAndGrants(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.must(e.do("POST", "/v1.0/servicePrincipals/"+tAppSP+"/appRoleAssignedTo", map[string]any{"principalId": tBob, "resourceId": tAppSP, "appRoleId": tAppRole}), 201)
	aid := r.str("id")
	if r.str("principalDisplayName") != "Bob" || r.str("principalType") != "User" || r.str("resourceDisplayName") != "Payroll" || r.str("createdDateTime") == "" || strings.Count(aid, "-") == 4 {
		t.Errorf("app role assignment: %s", r.raw)
	}
	if r := e.do("POST", "/v1.0/users/"+tBob+"/appRoleAssignments", map[string]any{"principalId": tBob, "resourceId": tAppSP, "appRoleId": tAppRole}); r.status != 400 {
		t.Errorf("duplicate app role assignment: %d %s", r.status, r.raw)
	}
	r = e.must(e.do("GET", "/v1.0/users/"+tBob+"/appRoleAssignments", nil), 200)
	if len(r.values()) != 1 || r.values()[0]["id"] != aid {
		t.Errorf("principal view: %s", r.raw)
	}
	e.must(e.do("POST", "/v1.0/servicePrincipals/"+tGraphSP+"/appRoleAssignments", map[string]any{"principalId": tGraphSP, "resourceId": tAppSP, "appRoleId": entra.DefaultAccessAppRoleID}), 201)
	e.must(e.do("DELETE", "/v1.0/servicePrincipals/"+tAppSP+"/appRoleAssignedTo/"+aid, nil), 204)
	e.must(e.do("GET", "/v1.0/servicePrincipals/"+tAppSP+"/appRoleAssignedTo/"+aid, nil), 404)
	// Grants: PATCH scope, DELETE.
	e.must(e.do("PATCH", "/v1.0/oauth2PermissionGrants/"+tGrant, map[string]any{"scope": "User.Read Mail.Read"}), 204)
	r = e.must(e.do("GET", "/v1.0/oauth2PermissionGrants/"+tGrant, nil), 200)
	if r.str("scope") != "User.Read Mail.Read" {
		t.Errorf("grant scope: %s", r.raw)
	}
	r = e.must(e.do("POST", "/v1.0/oauth2PermissionGrants", map[string]any{"clientId": tAppSP, "resourceId": tGraphSP, "consentType": "Principal", "principalId": tCarol, "scope": "User.Read"}), 201)
	e.must(e.do("DELETE", "/v1.0/oauth2PermissionGrants/"+r.str("id"), nil), 204)
	// Role assignments by template id, at an administrative unit's scope; a custom role.
	r = e.must(e.do("POST", "/v1.0/roleManagement/directory/roleAssignments", map[string]any{"principalId": tRoleGroup, "roleDefinitionId": tGlobalAdm, "directoryScopeId": "/administrativeUnits/" + tAU}), 201)
	e.must(e.do("DELETE", "/v1.0/roleManagement/directory/roleAssignments/"+r.str("id"), nil), 204)
	r = e.must(e.do("POST", "/v1.0/roleManagement/directory/roleDefinitions", map[string]any{"displayName": "Helpers", "isEnabled": true,
		"rolePermissions": []any{map[string]any{"allowedResourceActions": []string{"microsoft.directory/users/basic/update"}}}}), 201)
	if r.json["isBuiltIn"] != false || r.str("templateId") != r.str("id") {
		t.Errorf("custom role: %s", r.raw)
	}
	e.must(e.do("PATCH", "/v1.0/roleManagement/directory/roleDefinitions/"+r.str("id"), map[string]any{"description": "x"}), 204)
	e.must(e.do("DELETE", "/v1.0/roleManagement/directory/roleDefinitions/"+r.str("id"), nil), 204)
	// Singletons.
	e.must(e.do("PATCH", "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Fido2",
		map[string]any{"@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration", "state": "enabled",
			"includeTargets": []any{map[string]any{"targetType": "group", "id": tSecGroup}}}), 204)
	r = e.must(e.do("GET", "/v1.0/policies/authenticationMethodsPolicy", nil), 200)
	if !strings.Contains(string(r.raw), tSecGroup) {
		t.Errorf("policy after configuration PATCH: %s", r.raw)
	}
	e.must(e.do("PATCH", "/v1.0/policies/authenticationMethodsPolicy", map[string]any{"reconfirmationInDays": 30}), 204)
}

// addPassword answers the secret once and keeps only its metadata; removePassword takes
// a credential away by keyId (204), and a keyId it does not hold is a 404. Both are
// audited, so an incident's new secret shows in the log.
func TestAddAndRemovePassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for _, holder := range []string{"/v1.0/applications/" + tApp, "/v1.0/servicePrincipals/" + tAppSP} {
		r := e.must(e.do("POST", holder+"/addPassword", map[string]any{"passwordCredential": map[string]any{"displayName": "backdoor"}}), 200)
		secret, keyID := r.str("secretText"), r.str("keyId")
		if len(secret) != 40 || r.str("hint") != secret[:3] || len(keyID) != 36 || r.str("displayName") != "backdoor" {
			t.Fatalf("addPassword on %s: %s", holder, r.raw)
		}
		r = e.must(e.do("GET", holder+"?$select=passwordCredentials", nil), 200)
		if raw := string(r.raw); !strings.Contains(raw, keyID) || strings.Contains(raw, secret) || !strings.Contains(raw, `"secretText":null`) {
			t.Fatalf("stored credentials of %s: %s", holder, r.raw)
		}
		e.must(e.do("POST", holder+"/removePassword", map[string]any{"keyId": keyID}), 204)
		if r = e.must(e.do("GET", holder+"?$select=passwordCredentials", nil), 200); strings.Contains(string(r.raw), keyID) {
			t.Fatalf("removePassword left the credential: %s", r.raw)
		}
		e.must(e.do("POST", holder+"/removePassword", map[string]any{"keyId": keyID}), 404)
		e.must(e.do("POST", holder+"/removePassword", map[string]any{}), 400)
	}
	r := e.must(e.do("GET", "/v1.0/auditLogs/directoryAudits", nil), 200)
	if n := strings.Count(string(r.raw), "Update application – Certificates and secrets management"); n != 2 {
		t.Errorf("%d audit entries for the application's secrets, want 2: %s", n, r.raw)
	}
}
