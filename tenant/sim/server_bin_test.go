package sim

import (
	"strings"
	"testing"
	"time"
)

func TestLinkRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ref := func(id string) map[string]any {
		return map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + id}
	}
	e.must(e.do("POST", "/v1.0/groups/"+tSecGroup+"/members/$ref", ref(tCarol)), 204)
	e.must(e.do("POST", "/v1.0/groups/"+tSecGroup+"/members/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v2/" + tTenant + "/directoryObjects/" + tAppSP + "/Microsoft.DirectoryServices.ServicePrincipal"}), 204)
	before := e.snapshot()
	for _, c := range []struct {
		path   string
		body   any
		status int
		msg    string
	}{
		{"/v1.0/groups/" + tSecGroup + "/members/$ref", ref(tCarol), 400, "One or more added object references already exist for the following modified properties: 'members'."},
		{"/v1.0/groups/" + tSecGroup + "/members/$ref", ref("00000000-dead-4000-8000-000000000000"), 404, "does not exist"},
		{"/v1.0/groups/" + tSecGroup + "/members/$ref", ref(tSecGroup), 400, "own"},
		{"/v1.0/groups/" + tM365Group + "/members/$ref", ref(tSecGroup), 400, "Microsoft 365 group"},
		{"/v1.0/groups/" + tSecGroup + "/members/$ref", ref(tM365Group), 400, "Microsoft 365 group"},
		{"/v1.0/groups/" + tSecGroup + "/owners/$ref", ref(tSecGroup), 400, "cannot be added"},
		{"/v1.0/groups/" + tSecGroup + "/members/$ref", map[string]any{}, 400, "@odata.id"},
	} {
		r := e.do("POST", c.path, c.body)
		if r.status != c.status || !strings.Contains(r.str("error", "message"), c.msg) {
			t.Errorf("POST %s %v: %d %s", c.path, c.body, r.status, r.raw)
		}
	}
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		msg          string
	}{
		{"DELETE", "/v1.0/groups/" + tSecGroup + "/owners/" + tCarol + "/$ref", nil, 400, "at least one owner"},
		{"DELETE", "/v1.0/groups/" + tSecGroup + "/members/" + tAppSP + "x/$ref", nil, 404, "One or more removed object references do not exist"},
		{"PATCH", "/v1.0/groups/" + tSecGroup, map[string]any{"members@odata.bind": []string{"https://graph.microsoft.com/v1.0/users/" + tRoleGroup[:35] + "9"}}, 404, "does not exist"},
		{"PATCH", "/v1.0/groups/" + tSecGroup, map[string]any{"members@odata.bind": refs(21)}, 400, "20"},
		{"DELETE", "/v1.0/users/" + tCarol + "/manager/$ref", nil, 404, "manager"},
	} {
		r := e.do(c.method, c.path, c.body)
		if r.status != c.status || !strings.Contains(r.str("error", "message"), c.msg) {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.raw)
		}
	}
	if e.snapshot() != before {
		t.Fatal("a refused link change changed the directory")
	}
	// PATCH binds are all or nothing, and work when all are good.
	e.must(e.do("PATCH", "/v1.0/groups/"+tRoleGroup, map[string]any{"members@odata.bind": []string{
		"https://graph.microsoft.com/v1.0/users/" + tAlice, "https://graph.microsoft.com/v1.0/groups/" + tSecGroup}}), 204)
	if r := e.must(e.do("GET", "/v1.0/groups/"+tRoleGroup+"/members", nil), 200); len(r.values()) != 2 {
		t.Errorf("bound members: %s", r.raw)
	}
	e.must(e.do("DELETE", "/v1.0/groups/"+tSecGroup+"/members/"+tCarol+"/$ref", nil), 204)
	e.must(e.do("PUT", "/v1.0/users/"+tCarol+"/manager/$ref", ref(tBob)), 204)
	if r := e.must(e.do("GET", "/v1.0/users/"+tCarol+"/manager", nil), 200); r.str("id") != tBob {
		t.Errorf("manager: %s", r.raw)
	}
	e.must(e.do("DELETE", "/v1.0/users/"+tCarol+"/manager/$ref", nil), 204)
	e.must(e.do("POST", "/v1.0/directory/administrativeUnits/"+tAU+"/members/$ref", ref(tAlice)), 204)
	e.must(e.do("POST", "/v1.0/applications/"+tApp+"/owners/$ref", ref(tAlice)), 204)
	e.must(e.do("POST", "/v1.0/servicePrincipals/"+tAppSP+"/owners/$ref", ref(tAlice)), 204)
	// Removing one of two owners is fine.
	e.must(e.do("DELETE", "/v1.0/groups/"+tM365Group+"/owners/"+tBob+"/$ref", nil), 204)
}

func refs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "https://graph.microsoft.com/v1.0/users/" + tAlice
	}
	return out
}

func TestSoftDeleteRestoreAndPurge(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, Options{Clock: func() time.Time { return now }})
	e.must(e.do("DELETE", "/v1.0/users/"+tAlice, nil), 204)
	r := e.do("GET", "/v1.0/users/"+tAlice, nil)
	if r.status != 404 || r.str("error", "message") != "Resource '"+tAlice+"' does not exist or one of its queried reference-property objects are not present." {
		t.Errorf("soft-deleted user on its URL: %d %s", r.status, r.raw)
	}
	// Its memberships, role assignments and manager links hide while it is deleted.
	if r := e.must(e.do("GET", "/v1.0/groups/"+tSecGroup+"/members", nil), 200); len(r.values()) != 1 {
		t.Errorf("members while deleted: %s", r.raw)
	}
	if r := e.must(e.do("GET", "/v1.0/roleManagement/directory/roleAssignments", nil), 200); len(r.values()) != 0 {
		t.Errorf("role assignments while deleted: %s", r.raw)
	}
	r = e.must(e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user", nil), 200)
	if len(r.values()) != 1 || r.values()[0]["@odata.type"] != "#microsoft.graph.user" || r.values()[0]["deletedDateTime"] != "2026-03-01T12:00:00Z" {
		t.Fatalf("bin: %s", r.raw)
	}
	e.must(e.do("GET", "/v1.0/directory/deletedItems/"+tAlice, nil), 200)
	// The UPN is free meanwhile: a new user takes it, so the restore conflicts.
	r = e.must(e.do("POST", "/v1.0/users", newUserBody("alice")), 201)
	if r := e.do("POST", "/v1.0/directory/deletedItems/"+tAlice+"/restore", nil); r.status != 400 ||
		r.str("error", "message") != "Another object with the same value for property userPrincipalName already exists." {
		t.Errorf("conflicting restore: %d %s", r.status, r.raw)
	}
	r = e.must(e.do("POST", "/v1.0/directory/deletedItems/"+tAlice+"/restore", map[string]any{"newUserPrincipalName": "alice.restored@" + tDomain, "autoReconcileProxyConflict": true}), 200)
	if r.str("@odata.type") != "#microsoft.graph.user" || r.str("userPrincipalName") != "alice.restored@"+tDomain || r.json["deletedDateTime"] != nil {
		t.Errorf("restored: %s", r.raw)
	}
	if r := e.must(e.do("GET", "/v1.0/groups/"+tSecGroup+"/members", nil), 200); len(r.values()) != 2 {
		t.Errorf("membership after restore: %s", r.raw)
	}
	if r := e.must(e.do("GET", "/v1.0/roleManagement/directory/roleAssignments", nil), 200); len(r.values()) != 1 {
		t.Errorf("role assignment after restore: %s", r.raw)
	}
	// Deleting an application takes its service principal; restoring it does not.
	e.must(e.do("DELETE", "/v1.0/applications/"+tApp, nil), 204)
	e.must(e.do("GET", "/v1.0/servicePrincipals/"+tAppSP, nil), 404)
	if r := e.do("POST", "/v1.0/applications", map[string]any{"displayName": "Squatter", "uniqueName": "payroll"}); r.status != 400 {
		t.Errorf("uniqueName of a soft-deleted app should stay reserved: %d", r.status)
	}
	if r := e.must(e.do("GET", "/v1.0/oauth2PermissionGrants", nil), 200); len(r.values()) != 0 {
		t.Errorf("grant of a deleted client should hide: %s", r.raw)
	}
	e.must(e.do("POST", "/v1.0/directory/deletedItems/"+tApp+"/restore", "{}"), 200)
	e.must(e.do("GET", "/v1.0/servicePrincipals/"+tAppSP, nil), 404)
	e.must(e.do("POST", "/v1.0/directory/deletedItems/"+tAppSP+"/restore", nil), 200)
	if r := e.must(e.do("GET", "/v1.0/oauth2PermissionGrants", nil), 200); len(r.values()) != 1 {
		t.Errorf("grant after restore: %s", r.raw)
	}
	// Security groups go to the bin too, reporting securityEnabled false there.
	e.must(e.do("DELETE", "/v1.0/groups/"+tSecGroup, nil), 204)
	r = e.must(e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.group", nil), 200)
	if len(r.values()) != 1 || r.values()[0]["securityEnabled"] != false {
		t.Errorf("group bin: %s", r.raw)
	}
	// Permanent delete: gone for good, with its links; administrative units refuse.
	e.must(e.do("DELETE", "/v1.0/directory/deletedItems/"+tSecGroup, nil), 204)
	e.must(e.do("POST", "/v1.0/directory/deletedItems/"+tSecGroup+"/restore", nil), 404)
	e.must(e.do("DELETE", "/v1.0/directory/administrativeUnits/"+tAU, nil), 204)
	if r := e.do("DELETE", "/v1.0/directory/deletedItems/"+tAU, nil); r.status != 400 {
		t.Errorf("AU permanent delete: %d", r.status)
	}
	// Hard-deleting a principal removes what names it.
	e.must(e.do("DELETE", "/v1.0/users/"+tBob, nil), 204)
	e.must(e.do("DELETE", "/v1.0/directory/deletedItems/"+tBob, nil), 204)
	if r := e.must(e.do("GET", "/v1.0/groups/"+tM365Group+"/owners", nil), 200); len(r.values()) != 1 {
		t.Errorf("owners after hard delete: %s", r.raw)
	}
	// Purge by the clock: 30 days.
	e.must(e.do("DELETE", "/v1.0/users/"+tCarol, nil), 204)
	e.sim.Advance(29 * 24 * time.Hour)
	e.must(e.do("GET", "/v1.0/directory/deletedItems/"+tCarol, nil), 200)
	e.sim.Advance(25 * time.Hour)
	e.must(e.do("GET", "/v1.0/directory/deletedItems/"+tCarol, nil), 404)
	e.must(e.do("GET", "/v1.0/directory/deletedItems/"+tAU, nil), 404)
}

func TestConditionalAccessBin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.must(e.do("DELETE", "/v1.0/identity/conditionalAccess/policies/"+tPolicy, nil), 204)
	e.must(e.do("DELETE", "/v1.0/identity/conditionalAccess/namedLocations/"+tLocation, nil), 204)
	e.must(e.do("GET", "/v1.0/identity/conditionalAccess/policies/"+tPolicy, nil), 404)
	if r := e.do("GET", "/v1.0/identity/conditionalAccess/deletedItems/policies", nil); r.status != 400 {
		t.Errorf("CA bin on v1.0: %d", r.status)
	}
	r := e.must(e.do("GET", "/beta/identity/conditionalAccess/deletedItems/policies", nil), 200)
	if len(r.values()) != 1 || r.values()[0]["deletedDateTime"] == nil {
		t.Fatalf("CA bin: %s", r.raw)
	}
	r = e.must(e.do("POST", "/beta/identity/conditionalAccess/deletedItems/policies/"+tPolicy+"/restore", nil), 200)
	if r.str("state") != "enabled" || r.str("displayName") != "MFA for admins" {
		t.Errorf("restored policy: %s", r.raw)
	}
	e.must(e.do("GET", "/v1.0/identity/conditionalAccess/policies/"+tPolicy, nil), 200)
	r = e.must(e.do("GET", "/beta/identity/conditionalAccess/deletedItems/namedLocations/"+tLocation, nil), 200)
	if r.str("@odata.type") != "#microsoft.graph.ipNamedLocation" {
		t.Errorf("binned location: %s", r.raw)
	}
	e.must(e.do("DELETE", "/beta/identity/conditionalAccess/deletedItems/namedLocations/"+tLocation, nil), 204)
	e.must(e.do("POST", "/beta/identity/conditionalAccess/deletedItems/namedLocations/"+tLocation+"/restore", nil), 404)
	// References to deleted objects stay in policies.
	e.must(e.do("DELETE", "/v1.0/groups/"+tSecGroup, nil), 204)
	e.must(e.do("DELETE", "/v1.0/directory/deletedItems/"+tSecGroup, nil), 204)
	r = e.must(e.do("GET", "/v1.0/identity/conditionalAccess/policies/"+tPolicy, nil), 200)
	if !strings.Contains(string(r.raw), tSecGroup) {
		t.Errorf("CA reference was cleaned up: %s", r.raw)
	}
}

// A proxy address belongs to one active user: taking one another user holds is
// refused, and so is restoring a user while someone holds one of its addresses, unless
// autoReconcileProxyConflict drops those from the restored user (graph-spec §3.4).
func TestRestoreConflictsOnAProxyAddressHeldSince(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	mail := "shared@" + tDomain
	first := newUserBody("first")
	first["mail"] = mail
	id := e.must(e.do("POST", "/v1.0/users", first), 201).str("id")
	second := newUserBody("second")
	second["mail"] = "SHARED@" + tDomain
	if r := e.do("POST", "/v1.0/users", second); r.status != 400 || r.str("error", "message") != "Another object with the same value for property proxyAddresses already exists." {
		t.Errorf("a second user with a held address: %d %s", r.status, r.raw)
	}
	e.must(e.do("DELETE", "/v1.0/users/"+id, nil), 204)
	e.must(e.do("POST", "/v1.0/users", second), 201) // free while the first is in the bin
	if r := e.do("POST", "/v1.0/directory/deletedItems/"+id+"/restore", nil); r.status != 400 ||
		r.str("error", "message") != "Another object with the same value for property proxyAddresses already exists." {
		t.Errorf("restore while another user holds the address: %d %s", r.status, r.raw)
	}
	r := e.must(e.do("POST", "/v1.0/directory/deletedItems/"+id+"/restore", map[string]any{"autoReconcileProxyConflict": true}), 200)
	if got, _ := r.json["proxyAddresses"].([]any); len(got) != 0 {
		t.Errorf("the reconciled restore kept the held address: %s", r.raw)
	}
}
