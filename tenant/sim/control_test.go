package sim

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestAuditLog(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, Options{Clock: func() time.Time { return now }})
	attacker := e.tokenFor(AttackerClientID, AttackerClientSecret)
	e.must(e.doWith(attacker, "DELETE", "/v1.0/users/"+tAlice, nil), 204)
	e.must(e.doWith(attacker, "PATCH", "/v1.0/users/"+tBob, map[string]any{"jobTitle": "Pwned"}), 204)
	e.must(e.do("POST", "/v1.0/groups/"+tSecGroup+"/members/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/users/" + tCarol}), 204)
	e.must(e.do("POST", "/v1.0/directory/deletedItems/"+tAlice+"/restore", nil), 200)
	e.must(e.do("DELETE", "/v1.0/servicePrincipals/"+tAppSP, nil), 204)
	e.must(e.do("POST", "/v1.0/directory/deletedItems/"+tAppSP+"/restore", nil), 200)
	e.must(e.do("DELETE", "/v1.0/roleManagement/directory/roleAssignments/"+tRoleAsg, nil), 204)

	r := e.must(e.do("GET", "/v1.0/auditLogs/directoryAudits", nil), 200)
	var names []string
	for _, v := range r.values() {
		names = append(names, v["activityDisplayName"].(string))
	}
	want := "Remove member from role,Restore service principal,Remove service principal,Restore user,Add member to group,Update user,Delete user"
	if strings.Join(names, ",") != want {
		t.Fatalf("activities (newest first):\n got %s\nwant %s", strings.Join(names, ","), want)
	}
	del := r.values()[6]
	app := del["initiatedBy"].(map[string]any)["app"].(map[string]any)
	targets := del["targetResources"].([]any)
	if app["displayName"] != "Contoso Sync Helper" || app["appId"] != AttackerClientID || del["category"] != "UserManagement" ||
		del["loggedByService"] != "Core Directory" || del["operationType"] != "Delete" || del["result"] != "success" ||
		del["activityDateTime"] != "2026-03-01T12:00:00Z" || targets[0].(map[string]any)["userPrincipalName"] != "alice@"+tDomain {
		t.Errorf("delete entry: %v", del)
	}
	upd := r.values()[5]
	mods := upd["targetResources"].([]any)[0].(map[string]any)["modifiedProperties"].([]any)
	if len(mods) != 1 || mods[0].(map[string]any)["displayName"] != "jobTitle" || mods[0].(map[string]any)["newValue"] != `["Pwned"]` {
		t.Errorf("update entry modifiedProperties: %v", mods)
	}
	// Filters.
	for f, n := range map[string]int{
		"activityDisplayName eq 'Delete user'":                                 1,
		"activityDateTime ge 2026-03-01T00:00:00Z":                             7,
		"activityDateTime ge 2026-03-02T00:00:00Z":                             0,
		"targetResources/any(t: t/id eq '" + tBob + "')":                       1,
		"initiatedBy/app/appId eq '" + AttackerClientID + "'":                  2,
		"startswith(activityDisplayName,'Restore')":                            2,
		"activityDisplayName eq 'Delete user' or category eq 'RoleManagement'": 2,
	} {
		r := e.must(e.do("GET", "/v1.0/auditLogs/directoryAudits?$filter="+url.QueryEscape(f), nil), 200)
		if len(r.values()) != n {
			t.Errorf("%s: %d entries, want %d", f, len(r.values()), n)
		}
	}
	id := r.values()[0]["id"].(string)
	e.must(e.do("GET", "/v1.0/auditLogs/directoryAudits/"+id, nil), 200)
	// Paging newest first, then retention by the sim clock.
	r = e.must(e.do("GET", "/v1.0/auditLogs/directoryAudits?$top=4", nil), 200)
	r2 := e.must(e.do("GET", r.str("@odata.nextLink"), nil), 200)
	if len(r.values()) != 4 || len(r2.values()) != 3 || r2.values()[2]["activityDisplayName"] != "Delete user" {
		t.Errorf("audit paging: %s / %s", r.raw, r2.raw)
	}
	e.sim.Advance(31 * 24 * time.Hour)
	if r := e.must(e.do("GET", "/v1.0/auditLogs/directoryAudits?$filter="+url.QueryEscape("activityDisplayName eq 'Delete user'"), nil), 200); len(r.values()) != 0 {
		t.Errorf("audit retention: %s", r.raw)
	}
}

func TestControlSurface(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, Options{Clock: func() time.Time { return now }})
	r := e.must(e.do("GET", "/_sim/identity", nil), 200)
	if r.json["simulated"] != true || r.str("tenant_id") != tTenant || r.str("domain") != tDomain || r.json["users"] != float64(3) || r.str("clock") != "2026-03-01T12:00:00Z" {
		t.Errorf("identity: %s", r.raw)
	}
	attacker := e.tokenFor(AttackerClientID, AttackerClientSecret)
	if r := e.doWith(attacker, "GET", "/_sim/identity", nil); r.status != 403 {
		t.Errorf("attacker on the control surface: %d", r.status)
	}
	if r := e.doWith("", "POST", "/_sim/reset", nil); r.status != 401 {
		t.Errorf("anonymous reset: %d", r.status)
	}
	r = e.must(e.do("POST", "/_sim/clock", map[string]any{"advance": "72h"}), 200)
	if r.str("clock") != "2026-03-04T12:00:00Z" {
		t.Errorf("clock: %s", r.raw)
	}
	r = e.must(e.do("POST", "/_sim/clock", map[string]any{"advance_seconds": 3600}), 200)
	if r.str("clock") != "2026-03-04T13:00:00Z" {
		t.Errorf("clock: %s", r.raw)
	}
	if r := e.do("POST", "/_sim/clock", map[string]any{"advance": "soon"}); r.status != 400 {
		t.Errorf("bad advance: %d", r.status)
	}
	if r := e.must(e.do("POST", "/_sim/throttle", map[string]any{"mode": "realistic"}), 200); r.str("throttle") != "realistic" {
		t.Errorf("throttle: %s", r.raw)
	}
	if r := e.must(e.do("GET", "/_sim/identity", nil), 200); r.str("throttle") != "realistic" {
		t.Errorf("identity after the switch: %s", r.raw)
	}
	if r := e.do("POST", "/_sim/throttle", map[string]any{"mode": "fast"}); r.status != 400 {
		t.Errorf("unknown throttle mode: %d", r.status)
	}
	e.must(e.do("POST", "/_sim/throttle", map[string]any{"mode": "off"}), 200)
	e.must(e.do("DELETE", "/v1.0/users/"+tAlice, nil), 204)
	e.must(e.do("POST", "/_sim/reset", nil), 200)
	e.must(e.do("GET", "/v1.0/users/"+tAlice, nil), 200)
	if r := e.must(e.do("GET", "/_sim/identity", nil), 200); r.str("clock") != "2026-03-01T12:00:00Z" {
		t.Errorf("clock after reset: %s", r.raw)
	}
	if r := e.must(e.do("GET", "/v1.0/auditLogs/directoryAudits", nil), 200); len(r.values()) != 0 {
		t.Errorf("audit after reset: %s", r.raw)
	}
}

func TestFaultInjectionIsDeterministic(t *testing.T) {
	t.Parallel()
	run := func() string {
		e := newEnv(t, Options{})
		e.must(e.do("POST", "/_sim/faults", map[string]any{"seed": 7, "error_rate": 0.3, "throttle_rate": 0.3}), 200)
		var b strings.Builder
		for i := 0; i < 40; i++ {
			r := e.do("GET", "/v1.0/users?$top=1", nil)
			fmt.Fprintf(&b, "%d:%s ", r.status, r.header.Get("Retry-After"))
		}
		e.must(e.do("DELETE", "/_sim/faults", nil), 204)
		e.must(e.do("GET", "/v1.0/users", nil), 200)
		return b.String()
	}
	a, b := run(), run()
	if a != b {
		t.Errorf("same seed, different faults:\n%s\n%s", a, b)
	}
	for _, want := range []string{"200:", "429:1"} {
		if !strings.Contains(a, want) {
			t.Errorf("no %s among %s", want, a)
		}
	}
	if !strings.Contains(a, "503:1") && !strings.Contains(a, "504:1") && !strings.Contains(a, "500:") {
		t.Errorf("no server errors among %s", a)
	}
	// A misspelt setting is refused, not taken for no faults.
	e := newEnv(t, Options{})
	e.must(e.do("POST", "/_sim/faults", map[string]any{"seed": 1, "eror_rate": 0.5}), 400)
	// A dropped connection is an error on the client side.
	e.must(e.do("POST", "/_sim/faults", map[string]any{"seed": 1, "drop_rate": 1, "write_only": true}), 200)
	e.must(e.do("GET", "/v1.0/users", nil), 200)
	req, _ := newRequest("PATCH", e.base+"/v1.0/users/"+tAlice, `{"jobTitle":"x"}`, e.token)
	if resp, err := e.hc.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("dropped request answered %d", resp.StatusCode)
	}
}

func TestStateRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	opts := Options{StateDir: dir, Clock: func() time.Time { return now }}
	e := newEnv(t, opts)
	e.must(e.do("DELETE", "/v1.0/users/"+tAlice, nil), 204)
	e.must(e.do("PATCH", "/v1.0/users/"+tBob, map[string]any{"jobTitle": "Kept"}), 204)
	e.must(e.do("DELETE", "/v1.0/identity/conditionalAccess/policies/"+tPolicy, nil), 204)
	e.sim.Advance(48 * time.Hour)
	certBefore := string(e.sim.tls.certPEM)
	snapBefore := e.snapshot()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := New(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if string(s2.tls.certPEM) != certBefore || !s2.Now().Equal(now.Add(48*time.Hour)) {
		t.Error("certificate or clock not restored")
	}
	e2 := &env{t: t, sim: s2}
	if e2.snapshot() != snapBefore {
		t.Errorf("directory differs after a round trip:\n%s\n---\n%s", snapBefore, e2.snapshot())
	}
	srv2, err := s2.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	e2.srv, e2.hc, e2.base = srv2, e.hc, strings.TrimSuffix(srv2.Info().GraphURL, "/v1.0")
	e2.token = e.token // the signing key survives: old tokens still work
	r := e2.must(e2.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user", nil), 200)
	if len(r.values()) != 1 {
		t.Errorf("bin after restart: %s", r.raw)
	}
	e2.must(e2.do("POST", "/v1.0/directory/deletedItems/"+tAlice+"/restore", nil), 200)
	r = e2.must(e2.do("GET", "/v1.0/groups/"+tSecGroup+"/members", nil), 200)
	if len(r.values()) != 2 {
		t.Errorf("links after restart: %s", r.raw)
	}
	r = e2.must(e2.do("GET", "/v1.0/auditLogs/directoryAudits", nil), 200)
	if len(r.values()) != 4 {
		t.Errorf("audit after restart: %s", r.raw)
	}
}

// A lost answer: the write is applied, and the client is told 504, as when Graph's
// gateway gives up on a directory that did the work. Reads are never lost.
func TestLostAnswersApplyTheWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.must(e.do("POST", "/_sim/faults", map[string]any{"seed": 1, "lost_rate": 1}), 200)
	if r := e.do("POST", "/v1.0/users", newUserBody("lost")); r.status != 504 || r.header.Get("Retry-After") == "" {
		t.Fatalf("a write with its answer lost: %d %s", r.status, r.raw)
	}
	r := e.must(e.do("GET", "/v1.0/users?$filter=userPrincipalName%20eq%20'lost@"+tDomain+"'", nil), 200)
	if len(r.values()) != 1 {
		t.Errorf("the write whose answer was lost was not applied: %s", r.raw)
	}
	e.must(e.do("POST", "/_sim/faults", map[string]any{"seed": 1, "lost_rate": 1.5}), 400)
}
