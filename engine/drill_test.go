package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/lifelinehq/lifeline/tenant/graphapi"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

// drillTenant is a freshly generated simulated tenant with the operator's and the
// attacker's clients.
type drillTenant struct {
	ds     *sim.Dataset
	op, at *graphapi.Client
	sim    *sim.Sim
	srv    *sim.Server // the listening tenant; a test may stop it and start another
}

func newDrillTenant(t *testing.T, users int, seed int64) *drillTenant {
	t.Helper()
	ds, err := sim.Generate(sim.GenerateOptions{Users: users, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(ds, sim.Options{Throttle: sim.ThrottleOff})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &drillTenant{ds: ds, sim: s, srv: srv}
	t.Cleanup(func() { d.srv.Close() })
	ctx := context.Background()
	op, err := graphapi.New(ctx, graphapi.Config{GraphURL: srv.Info().GraphURL, AdoptSimBudget: true})
	if err != nil {
		t.Fatal(err)
	}
	at, err := graphapi.New(ctx, graphapi.Config{GraphURL: srv.Info().GraphURL, ClientID: graphapi.AttackerClientID, ClientSecret: graphapi.AttackerClientSecret,
		Budget: drillUnlimited})
	if err != nil {
		t.Fatal(err)
	}
	d.op, d.at = op, at
	return d
}

func (d *drillTenant) inject(t *testing.T, name string, seed int64) IncidentReport {
	t.Helper()
	start := time.Now()
	rep, err := InjectIncident(context.Background(), d.op, d.at, name, seed)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Logf("%s in %s", name, time.Since(start).Round(time.Millisecond))
	if rep.Scenario != name || rep.TenantID != d.ds.TenantID || rep.Actor != "Contoso Sync Helper" || rep.ClockAfter.Before(rep.ClockBefore) {
		t.Fatalf("report header: %+v", rep)
	}
	for _, a := range rep.Actions {
		if a.Action == "advance-clock" {
			continue
		}
		if a.Count != len(a.IDs) || a.Count == 0 || !slices.IsSorted(a.IDs) || a.Summary == "" {
			t.Errorf("action %s %s: count %d, %d ids, summary %q", a.Action, a.Kind, a.Count, len(a.IDs), a.Summary)
		}
	}
	return rep
}

// attack sends one request as the attacker's app, as an incident would.
func (d *drillTenant) attack(t *testing.T, method, path string) {
	t.Helper()
	if _, err := d.at.Do(context.Background(), graphapi.Request{Method: method, Path: path}); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

// list reads a collection through the operator.
func (d *drillTenant) list(t *testing.T, path string, beta bool) []map[string]any {
	t.Helper()
	var out []map[string]any
	_, err := d.op.List(context.Background(), path, graphapi.ListOptions{Top: 999, Beta: beta}, func(p graphapi.Page) error {
		for _, raw := range p.Items {
			var o map[string]any
			if err := json.Unmarshal(raw, &o); err != nil {
				return err
			}
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (d *drillTenant) ids(t *testing.T, path string, beta bool) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, o := range d.list(t, path, beta) {
		out[o["id"].(string)] = true
	}
	return out
}

func (d *drillTenant) get(t *testing.T, path string, beta bool) (map[string]any, bool) {
	t.Helper()
	raw, err := d.op.Get(context.Background(), path, graphapi.ListOptions{Beta: beta})
	if graphapi.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var o map[string]any
	json.Unmarshal(raw, &o)
	return o, true
}

func drillActionIDs(rep IncidentReport, action, kind string) []string {
	var out []string
	for _, a := range rep.Actions {
		if a.Action == action && a.Kind == kind {
			out = append(out, a.IDs...)
		}
	}
	return out
}

// auditByAttacker counts the directory audit entries of an activity whose targets
// include ids, by initiating app.
func (d *drillTenant) auditApps(t *testing.T, activity string, ids []string) map[string]int {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	out := map[string]int{}
	for _, e := range d.list(t, "/auditLogs/directoryAudits?$filter=activityDisplayName eq '"+activity+"'", false) {
		hit := false
		for _, tr := range e["targetResources"].([]any) {
			if want[tr.(map[string]any)["id"].(string)] {
				hit = true
			}
		}
		if !hit {
			continue
		}
		app, _ := e["initiatedBy"].(map[string]any)["app"].(map[string]any)
		if app == nil {
			out[""]++
			continue
		}
		out[app["appId"].(string)]++
	}
	return out
}

// liveGlobalAdmin reports whether a Global Administrator assignment's principal is alive.
func (d *drillTenant) liveGlobalAdmin(t *testing.T, exclude map[string]bool) bool {
	t.Helper()
	for _, ra := range d.list(t, "/roleManagement/directory/roleAssignments", false) {
		p := ra["principalId"].(string)
		if ra["roleDefinitionId"] != drillRoleGA || exclude[p] {
			continue
		}
		if _, ok := d.get(t, "/users/"+p, false); ok {
			return true
		}
	}
	return false
}

func TestScenarioNames(t *testing.T) {
	t.Parallel()
	want := []string{"mass-user-deletion", "group-purge", "app-deletion", "ca-tampering", "attribute-tampering", "slow-burn", "kitchen-sink"}
	if got := ScenarioNames(); !slices.Equal(got, want) {
		t.Fatalf("names %v", got)
	}
	for _, s := range Scenarios() {
		if s.Description == "" || strings.Contains(s.Description, "\n") {
			t.Errorf("%s: description %q", s.Name, s.Description)
		}
		if _, ok := LookupScenario(s.Name); !ok {
			t.Errorf("lookup %s", s.Name)
		}
	}
	if _, ok := LookupScenario("Mass-User-Deletion"); ok {
		t.Error("names are exact")
	}
}

func TestDrillMassUserDeletion(t *testing.T) {
	t.Parallel()
	d := newDrillTenant(t, 150, 11)
	rep := d.inject(t, "mass-user-deletion", 5)
	deleted := drillActionIDs(rep, "soft-delete", "user")
	if len(deleted) != 50 || len(rep.Actions) != 1 {
		t.Fatalf("deleted %d users of 150 (actions %+v)", len(deleted), rep.Actions)
	}
	bin := d.ids(t, "/directory/deletedItems/microsoft.graph.user", false)
	if len(bin) != len(deleted) {
		t.Errorf("bin holds %d users, report says %d", len(bin), len(deleted))
	}
	for _, id := range deleted {
		if !bin[id] {
			t.Errorf("user %s not in the bin", id)
		}
	}
	// Administrators among them, break-glass accounts included, one Global Administrator alive.
	if !strings.Contains(rep.Actions[0].Summary, "administrators") || !strings.Contains(rep.Actions[0].Summary, "spared") {
		t.Errorf("summary: %s", rep.Actions[0].Summary)
	}
	admins := 0
	for _, id := range append(append([]string(nil), d.ds.Admins...), d.ds.BreakGlass...) {
		if bin[id] {
			admins++
		}
	}
	if admins == 0 {
		t.Error("no Global Administrator among the deleted users")
	}
	if !d.liveGlobalAdmin(t, nil) {
		t.Error("no Global Administrator assignment with a live principal")
	}
	// The audit log names the attacker app for every deletion.
	apps := d.auditApps(t, "Delete user", deleted)
	if apps[graphapi.AttackerClientID] != len(deleted) || len(apps) != 1 {
		t.Errorf("Delete user entries by app: %v", apps)
	}
}

func TestDrillIsDeterministic(t *testing.T) {
	t.Parallel()
	var reps [3]IncidentReport
	for i, seed := range []int64{9, 9, 10} {
		d := newDrillTenant(t, 60, 3)
		rep, err := InjectIncident(context.Background(), d.op, d.at, "mass-user-deletion", seed)
		if err != nil {
			t.Fatal(err)
		}
		reps[i] = rep
	}
	a, b, c := drillActionIDs(reps[0], "soft-delete", "user"), drillActionIDs(reps[1], "soft-delete", "user"), drillActionIDs(reps[2], "soft-delete", "user")
	if len(a) != 20 || !slices.Equal(a, b) {
		t.Errorf("same seed, different targets:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Error("another seed drew the same targets")
	}
}

// policyGroups collects every group id Conditional Access policies name.
func drillPolicyNames(policies []map[string]any, paths ...[]string) map[string]bool {
	out := map[string]bool{}
	for _, p := range policies {
		for _, path := range paths {
			for _, v := range dstrList(dchild(p, path[:len(path)-1]...)[path[len(path)-1]]) {
				out[v] = true
			}
		}
	}
	return out
}

func TestDrillGroupPurge(t *testing.T) {
	t.Parallel()
	d := newDrillTenant(t, 120, 12)
	rep := d.inject(t, "group-purge", 1)
	soft, purged := drillActionIDs(rep, "soft-delete", "group"), drillActionIDs(rep, "purge", "group")
	if len(purged) < 3 || !slices.Equal(soft, purged) {
		t.Fatalf("deleted %v, purged %v", soft, purged)
	}
	bin := d.ids(t, "/directory/deletedItems/microsoft.graph.group", false)
	named := drillPolicyNames(d.list(t, "/identity/conditionalAccess/policies", false),
		[]string{"conditions", "users", "includeGroups"}, []string{"conditions", "users", "excludeGroups"})
	stillNamed := 0
	for _, id := range purged {
		if _, live := d.get(t, "/groups/"+id, false); live || bin[id] {
			t.Errorf("group %s: live %v, in the bin %v", id, live, bin[id])
		}
		if named[id] {
			stillNamed++
		}
	}
	if stillNamed == 0 {
		t.Error("no Conditional Access policy names a purged group")
	}
	// Role assignments of the purged role-assignable groups went with them.
	for _, ra := range d.list(t, "/roleManagement/directory/roleAssignments", false) {
		if slices.Contains(purged, ra["principalId"].(string)) {
			t.Errorf("role assignment %s survived its group", ra["id"])
		}
	}
	if apps := d.auditApps(t, "Hard delete group", purged); apps[graphapi.AttackerClientID] != len(purged) {
		t.Errorf("Hard delete group entries by app: %v", apps)
	}
}

func TestDrillAppDeletion(t *testing.T) {
	t.Parallel()
	d := newDrillTenant(t, 120, 13)
	rep := d.inject(t, "app-deletion", 2)
	apps, sps := drillActionIDs(rep, "soft-delete", "application"), drillActionIDs(rep, "soft-delete", "servicePrincipal")
	purgedApps, purgedSPs := drillActionIDs(rep, "purge", "application"), drillActionIDs(rep, "purge", "servicePrincipal")
	if len(apps) < 2 || len(sps) == 0 || len(purgedApps) == 0 || len(purgedApps) == len(apps) || len(purgedSPs) == 0 {
		t.Fatalf("apps %v sps %v purged %v %v", apps, sps, purgedApps, purgedSPs)
	}
	if len(drillActionIDs(rep, "delete", "oAuth2PermissionGrant"))+len(drillActionIDs(rep, "delete", "appRoleAssignment")) == 0 {
		t.Error("no grant or app role assignment deleted")
	}
	appBin := d.ids(t, "/directory/deletedItems/microsoft.graph.application", false)
	spBin := d.ids(t, "/directory/deletedItems/microsoft.graph.servicePrincipal", false)
	for _, id := range apps {
		if _, live := d.get(t, "/applications/"+id, false); live {
			t.Errorf("application %s is live", id)
		}
		if appBin[id] == slices.Contains(purgedApps, id) {
			t.Errorf("application %s: in the bin %v, purged %v", id, appBin[id], slices.Contains(purgedApps, id))
		}
	}
	for _, id := range sps {
		if spBin[id] == slices.Contains(purgedSPs, id) {
			t.Errorf("service principal %s: in the bin %v, purged %v", id, spBin[id], slices.Contains(purgedSPs, id))
		}
	}
	for _, g := range d.list(t, "/oauth2PermissionGrants", false) {
		if slices.Contains(sps, g["clientId"].(string)) || slices.Contains(sps, g["resourceId"].(string)) {
			t.Errorf("grant %s of a deleted service principal survived", g["id"])
		}
	}
	// The CA policies keep the dangling appIds.
	named := drillPolicyNames(d.list(t, "/identity/conditionalAccess/policies", false),
		[]string{"conditions", "applications", "includeApplications"}, []string{"conditions", "applications", "excludeApplications"})
	dangling := 0
	for _, o := range d.ds.Objects {
		if o.Kind == "application" && slices.Contains(apps, o.ID) {
			var a struct {
				AppID string `json:"appId"`
			}
			json.Unmarshal(o.JSON, &a)
			if named[a.AppID] {
				dangling++
			}
		}
	}
	if dangling == 0 {
		t.Error("no deleted application is still named by a Conditional Access policy")
	}
	if got := d.auditApps(t, "Delete application", apps); got[graphapi.AttackerClientID] != len(apps) {
		t.Errorf("Delete application entries by app: %v", got)
	}
}

func TestDrillCATampering(t *testing.T) {
	t.Parallel()
	d := newDrillTenant(t, 100, 14)
	rep := d.inject(t, "ca-tampering", 3)
	for _, a := range []string{"remove-break-glass-exclusion", "set-report-only", "disable-policy", "weaken-grant-controls"} {
		if len(drillActionIDs(rep, a, "conditionalAccessPolicy")) == 0 {
			t.Errorf("no %s", a)
		}
	}
	deleted, purged := drillActionIDs(rep, "soft-delete", "conditionalAccessPolicy"), drillActionIDs(rep, "purge", "conditionalAccessPolicy")
	locDeleted := drillActionIDs(rep, "soft-delete", "namedLocation")
	if len(deleted) < 2 || len(purged) == 0 || len(purged) >= len(deleted) || len(locDeleted) == 0 {
		t.Fatalf("policies deleted %v purged %v, locations deleted %v", deleted, purged, locDeleted)
	}
	policies := d.list(t, "/identity/conditionalAccess/policies", false)
	excluded := drillPolicyNames(policies, []string{"conditions", "users", "excludeUsers"})
	for _, bg := range d.ds.BreakGlass {
		if excluded[bg] {
			t.Errorf("break-glass account %s is still excluded", bg)
		}
	}
	state := map[string]string{}
	for _, p := range policies {
		state[p["id"].(string)] = p["state"].(string)
	}
	for _, id := range drillActionIDs(rep, "set-report-only", "conditionalAccessPolicy") {
		if state[id] != drillReportOnly {
			t.Errorf("policy %s is %s", id, state[id])
		}
	}
	for _, id := range drillActionIDs(rep, "disable-policy", "conditionalAccessPolicy") {
		if state[id] != "disabled" {
			t.Errorf("policy %s is %s", id, state[id])
		}
	}
	bin := d.ids(t, "/identity/conditionalAccess/deletedItems/policies", true)
	for _, id := range deleted {
		if _, live := state[id]; live || bin[id] == slices.Contains(purged, id) {
			t.Errorf("policy %s: live %v, in the bin %v, purged %v", id, live, bin[id], slices.Contains(purged, id))
		}
	}
	locBin := d.ids(t, "/identity/conditionalAccess/deletedItems/namedLocations", true)
	for _, id := range locDeleted {
		if locBin[id] == slices.Contains(drillActionIDs(rep, "purge", "namedLocation"), id) {
			t.Errorf("named location %s in the bin: %v", id, locBin[id])
		}
	}
}

func TestDrillAttributeTampering(t *testing.T) {
	t.Parallel()
	d := newDrillTenant(t, 120, 15)
	rep := d.inject(t, "attribute-tampering", 4)
	created := drillActionIDs(rep, "create", "user")
	if len(created) != 1 {
		t.Fatalf("created %v", created)
	}
	backdoor := created[0]
	if n := len(drillActionIDs(rep, "set-department", "user")) + len(drillActionIDs(rep, "set-jobTitle", "user")) +
		len(drillActionIDs(rep, "set-usageLocation", "user")) + len(drillActionIDs(rep, "disable-account", "user")); n < 30 {
		t.Errorf("only %d attribute changes", n)
	}
	original := map[string]map[string]any{}
	for _, o := range d.ds.Objects {
		if o.Kind == "user" {
			var m map[string]any
			json.Unmarshal(o.JSON, &m)
			original[o.ID] = m
		}
	}
	for _, id := range drillActionIDs(rep, "set-department", "user") {
		u, _ := d.get(t, "/users/"+id+"?$select=department", false)
		if u["department"] == original[id]["department"] {
			t.Errorf("user %s kept department %v", id, u["department"])
		}
	}
	for _, id := range drillActionIDs(rep, "disable-account", "user") {
		if u, _ := d.get(t, "/users/"+id+"?$select=accountEnabled", false); u["accountEnabled"] != false {
			t.Errorf("user %s is still enabled", id)
		}
	}
	// The backdoor: Global Administrator, member of every role-assignable group.
	ga := false
	for _, ra := range d.list(t, "/roleManagement/directory/roleAssignments", false) {
		if ra["principalId"] == backdoor && ra["roleDefinitionId"] == drillRoleGA {
			ga = true
		}
	}
	if !ga {
		t.Error("the backdoor account is not a Global Administrator")
	}
	for _, g := range d.list(t, "/groups?$select=id,isAssignableToRole", false) {
		if g["isAssignableToRole"] != true {
			continue
		}
		if !d.ids(t, "/groups/"+g["id"].(string)+"/members", false)[backdoor] {
			t.Errorf("backdoor not a member of role-assignable group %s", g["id"])
		}
	}
	// Owners: the backdoor alone.
	for _, k := range []struct{ kind, path string }{{"group", "/groups/"}, {"application", "/applications/"}} {
		ids := drillActionIDs(rep, "remove-owner", k.kind)
		if len(ids) == 0 || !slices.Equal(ids, drillActionIDs(rep, "add-owner", k.kind)) {
			t.Errorf("%s owners: added %v removed %v", k.kind, drillActionIDs(rep, "add-owner", k.kind), ids)
		}
		for _, id := range ids {
			owners := d.ids(t, k.path+id+"/owners", false)
			if len(owners) != 1 || !owners[backdoor] {
				t.Errorf("%s %s owners %v", k.kind, id, owners)
			}
		}
	}
	if apps := d.auditApps(t, "Add member to role", []string{backdoor}); apps[graphapi.AttackerClientID] != 1 {
		t.Errorf("Add member to role entries by app: %v", apps)
	}
}

func TestDrillSlowBurn(t *testing.T) {
	t.Parallel()
	d := newDrillTenant(t, 120, 16)
	rep := d.inject(t, "slow-burn", 6)
	if ahead := rep.ClockAfter.Sub(rep.ClockBefore); ahead < 40*24*time.Hour {
		t.Errorf("clock advanced %s", ahead)
	}
	id, err := CheckSimulated(context.Background(), d.op)
	if err != nil || id.Clock.Sub(time.Now()) < 40*24*time.Hour-time.Minute {
		t.Errorf("sim clock %s (%v)", id.Clock, err)
	}
	var deleted, expired []string
	kinds := map[string]bool{}
	for _, a := range rep.Actions {
		switch a.Action {
		case "soft-delete":
			deleted = append(deleted, a.IDs...)
			kinds[a.Kind] = true
		case "expire":
			expired = append(expired, a.IDs...)
		}
	}
	for _, k := range []string{"user", "group", "application", "servicePrincipal", "conditionalAccessPolicy", "namedLocation"} {
		if !kinds[k] {
			t.Errorf("no %s deleted", k)
		}
	}
	slices.Sort(deleted)
	slices.Sort(expired)
	if len(deleted) == 0 || !slices.Equal(deleted, expired) {
		t.Errorf("deleted %d, expired %d", len(deleted), len(expired))
	}
	left := 0
	for _, b := range drillBins {
		bin := d.ids(t, b.path, b.beta)
		for _, id := range deleted {
			if bin[id] {
				left++
			}
		}
	}
	if left != 0 {
		t.Errorf("%d deleted objects still in a recycle bin after 40 days", left)
	}
	if len(drillActionIDs(rep, "remove-break-glass-exclusion", "conditionalAccessPolicy")) == 0 || len(drillActionIDs(rep, "remove-owner", "group")) == 0 {
		t.Error("the late tampering is missing")
	}
	if !d.liveGlobalAdmin(t, map[string]bool{drillActionIDs(rep, "create", "user")[0]: true}) {
		t.Error("no legitimate Global Administrator left")
	}
}

func TestDrillKitchenSink(t *testing.T) {
	t.Parallel()
	d := newDrillTenant(t, 150, 17)
	rep := d.inject(t, "kitchen-sink", 8)
	for _, want := range [][2]string{
		{"set-department", "user"}, {"create", "user"}, {"assign-role", "unifiedRoleAssignment"}, {"remove-owner", "group"},
		{"remove-break-glass-exclusion", "conditionalAccessPolicy"}, {"purge", "conditionalAccessPolicy"},
		{"soft-delete", "application"}, {"purge", "application"}, {"purge", "group"}, {"soft-delete", "user"},
	} {
		if len(drillActionIDs(rep, want[0], want[1])) == 0 {
			t.Errorf("no %s %s", want[0], want[1])
		}
	}
	backdoor := drillActionIDs(rep, "create", "user")[0]
	if slices.Contains(drillActionIDs(rep, "soft-delete", "user"), backdoor) {
		t.Error("the attacker deleted its own backdoor")
	}
	if !d.liveGlobalAdmin(t, map[string]bool{backdoor: true}) {
		t.Error("no legitimate Global Administrator left")
	}
	// Every write in the audit log since the incident began is the attacker's.
	since := rep.ClockBefore.Add(-time.Second).UTC().Format(time.RFC3339)
	n := 0
	for _, e := range d.list(t, "/auditLogs/directoryAudits?$filter=activityDateTime ge "+since, false) {
		app, _ := e["initiatedBy"].(map[string]any)["app"].(map[string]any)
		if app == nil || app["appId"] != graphapi.AttackerClientID {
			t.Errorf("audit entry %s %q by %v", e["id"], e["activityDisplayName"], e["initiatedBy"])
			break
		}
		n++
	}
	if n < 100 {
		t.Errorf("only %d audit entries", n)
	}
}

// drillToken is a credential for a tenant that is not a sim.
type drillToken struct{}

func (drillToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "not-a-jwt", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestDrillRefusesWhatIsNotASim(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":{"code":"Request_ResourceNotFound","message":"Not here."}}`))
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	c, err := graphapi.New(ctx, graphapi.Config{GraphURL: srv.URL + "/v1.0", Credential: drillToken{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range ScenarioNames() {
		rep, err := InjectIncident(ctx, c, c, name, 1)
		if err == nil || !strings.Contains(err.Error(), "not a lifeline simulated tenant") || strings.Count(err.Error(), ". ") > 0 {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rep.Actions) != 0 {
			t.Fatalf("%s: actions %+v", name, rep.Actions)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		if s != "GET /_sim/identity" {
			t.Errorf("request to a tenant that is not a sim: %s", s)
		}
	}
}

func TestDrillRefusesAnAttackerInAnotherTenant(t *testing.T) {
	t.Parallel()
	a, b := newDrillTenant(t, 30, 1), newDrillTenant(t, 30, 2)
	_, err := InjectIncident(context.Background(), a.op, b.at, "mass-user-deletion", 1)
	if err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("err %v", err)
	}
	if bin := b.ids(t, "/directory/deletedItems/microsoft.graph.user", false); len(bin) != 0 {
		t.Errorf("tenant b lost %d users", len(bin))
	}
	if _, err := InjectIncident(context.Background(), a.op, a.at, "mass-deletion", 1); err == nil || !strings.Contains(err.Error(), "kitchen-sink") {
		t.Errorf("unknown incident: %v", err)
	}
}

func TestDrillReportsWhatItDidBeforeAWriteFailed(t *testing.T) {
	t.Parallel()
	d := newDrillTenant(t, 100, 14)
	ctx := context.Background()
	// The sim's fault injection, seeded: the fourth write answers 500.
	if _, err := d.op.Raw(ctx, http.MethodPost, "/_sim/faults", map[string]any{"seed": 6, "error_rate": 0.25, "write_only": true}); err != nil {
		t.Fatal(err)
	}
	rep, err := InjectIncident(ctx, d.op, d.at, "ca-tampering", 3)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "the ca-tampering incident stopped while changing Conditional Access policies: 3 of ") ||
		!strings.Contains(msg, "500") || !strings.HasSuffix(msg, "the report lists what was done before.") {
		t.Errorf("error: %s", msg)
	}
	t.Log(msg)
	if _, err := d.op.Raw(ctx, http.MethodDelete, "/_sim/faults", nil); err != nil {
		t.Fatal(err)
	}
	changed := map[string]bool{}
	for _, a := range rep.Actions {
		for _, id := range a.IDs {
			changed[id] = true
		}
	}
	if len(changed) != 3 {
		t.Fatalf("report names %d policies: %+v", len(changed), rep.Actions)
	}
	// The report is the truth: what it names changed, and nothing else did.
	original := map[string]string{}
	for _, o := range d.ds.Objects {
		if o.Kind == "conditionalAccessPolicy" {
			original[o.ID] = string(o.JSON)
		}
	}
	for _, p := range d.list(t, "/identity/conditionalAccess/policies", false) {
		id := p["id"].(string)
		var orig map[string]any
		json.Unmarshal([]byte(original[id]), &orig)
		same := true
		for _, k := range []string{"state", "conditions", "grantControls"} {
			a, _ := json.Marshal(p[k])
			b, _ := json.Marshal(orig[k])
			same = same && string(a) == string(b)
		}
		if same == changed[id] {
			t.Errorf("policy %s: changed %v, reported %v", id, !same, changed[id])
		}
	}
}
