package graphx

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
)

// fixture is a small tenant touching every reference form entra declares.
func fixture(t testing.TB) *Graph {
	t.Helper()
	b := NewBuilder()
	add := func(kind entra.Kind, id, raw string) {
		if err := b.AddObject(kind, id, []byte(raw), false); err != nil {
			t.Fatal(err)
		}
	}
	add(entra.KindUser, "u1", `{"id":"u1","displayName":"Adele","userPrincipalName":"adele@contoso.com"}`)
	add(entra.KindUser, "u2", `{"id":"u2","displayName":"Break Glass","userPrincipalName":"bg@contoso.com"}`)
	add(entra.KindGroup, "g1", `{"id":"g1","displayName":"Admins"}`)
	add(entra.KindGroup, "g2", `{"id":"g2","displayName":"All Staff"}`)
	add(entra.KindApplication, "a1", `{"id":"a1","appId":"app-1","displayName":"Payroll","requiredResourceAccess":[{"resourceAppId":"00000003-0000-0000-c000-000000000000"}]}`)
	add(entra.KindServicePrincipal, "s1", `{"id":"s1","appId":"app-1","displayName":"Payroll"}`)
	add(entra.KindServicePrincipal, "graph", `{"id":"graph","appId":"00000003-0000-0000-c000-000000000000","displayName":"Microsoft Graph","appOwnerOrganizationId":"f8cdef31-a31e-4b4a-93e4-5f571e91255a"}`)
	add(entra.KindOrganization, "tenant-1", `{"id":"tenant-1","displayName":"Contoso"}`)
	add(entra.KindUser, "u3", `{"id":"u3","displayName":"Adele","userPrincipalName":"adele.v@contoso.com"}`)
	add(entra.KindNamedLocation, "loc1", `{"id":"loc1","displayName":"HQ"}`)
	add(entra.KindAdministrativeUnit, "au1", `{"id":"au1","displayName":"EMEA"}`)
	add(entra.KindRoleDefinition, "62e90394-69f5-4237-9190-012177145e10", `{"id":"62e90394-69f5-4237-9190-012177145e10","templateId":"62e90394-69f5-4237-9190-012177145e10","displayName":"Global Administrator"}`)
	add(entra.KindRoleAssignment, "ra1", `{"id":"ra1","principalId":"g1","roleDefinitionId":"62e90394-69f5-4237-9190-012177145e10","directoryScopeId":"/"}`)
	add(entra.KindRoleAssignment, "ra2", `{"id":"ra2","principalId":"u1","roleDefinitionId":"62e90394-69f5-4237-9190-012177145e10","directoryScopeId":"/administrativeUnits/au1"}`)
	add(entra.KindAppRoleAssignment, "ara1", `{"id":"ara1","principalId":"g1","resourceId":"s1","appRoleId":"r1","principalDisplayName":"Admins","resourceDisplayName":"Payroll"}`)
	add(entra.KindOAuth2PermissionGrant, "gr1", `{"id":"gr1","clientId":"s1","resourceId":"graph","consentType":"AllPrincipals","scope":"User.Read"}`)
	add(entra.KindConditionalAccessPolicy, "p1", `{"id":"p1","displayName":"MFA for admins","conditions":{
		"users":{"includeUsers":[],"excludeUsers":["u2"],"includeGroups":["g1","gone-group"],"excludeGroups":[],"includeRoles":["62e90394-69f5-4237-9190-012177145e10"]},
		"applications":{"includeApplications":["app-1","Office365"]},
		"locations":{"includeLocations":["All"],"excludeLocations":["loc1","AllTrusted"]}}}`)
	add(entra.KindAuthenticationMethodsPolicy, "authenticationMethodsPolicy", `{"id":"authenticationMethodsPolicy","authenticationMethodConfigurations":[{"id":"Fido2","includeTargets":[{"id":"all_users"},{"id":"g2"}],"excludeTargets":[]}]}`)
	b.AddLink(entra.KindGroup, "g1", "members", entra.KindUser, "u1")
	b.AddLink(entra.KindGroup, "g2", "members", entra.KindGroup, "g1")
	b.AddLink(entra.KindGroup, "g1", "owners", entra.KindUser, "u2")
	b.AddLink(entra.KindAdministrativeUnit, "au1", "members", entra.KindUser, "u1")
	b.AddLink(entra.KindGroup, "g2", "members", entra.KindUser, "purged-user")
	return b.Build()
}

func relations(es []Edge, from bool) []string {
	var out []string
	for _, e := range es {
		other := e.To
		if from {
			other = e.From
		}
		out = append(out, e.Relation+":"+other.String())
	}
	return out
}

func TestEveryReferenceFormBecomesATypedEdge(t *testing.T) {
	t.Parallel()
	g := fixture(t)
	got := strings.Join(relations(g.References(NodeID{entra.KindConditionalAccessPolicy, "p1"}), false), " ")
	want := "ca-app:application/a1 ca-app:servicePrincipal/s1 ca-exclude-location:namedLocation/loc1 ca-exclude-user:user/u2 ca-include-group:group/g1 ca-include-role:unifiedRoleDefinition/62e90394-69f5-4237-9190-012177145e10"
	if got != want {
		t.Errorf("CA references\n got %s\nwant %s", got, want)
	}
	got = strings.Join(relations(g.References(NodeID{entra.KindRoleAssignment, "ra2"}), false), " ")
	if got != "role-definition:unifiedRoleDefinition/62e90394-69f5-4237-9190-012177145e10 role-principal:user/u1 role-scope:administrativeUnit/au1" {
		t.Errorf("role assignment references: %s", got)
	}
	got = strings.Join(relations(g.References(NodeID{entra.KindServicePrincipal, "s1"}), false), " ")
	if got != "app-sp:application/a1" {
		t.Errorf("SP references: %s", got)
	}
	got = strings.Join(relations(g.References(NodeID{entra.KindApplication, "a1"}), false), " ")
	if got != "app-requires:servicePrincipal/graph" {
		t.Errorf("app references: %s", got)
	}
	got = strings.Join(relations(g.ReferencedBy(NodeID{entra.KindGroup, "g2"}), true), " ")
	if got != "authmethod-include-group:authenticationMethodsPolicy/authenticationMethodsPolicy" {
		t.Errorf("g2 referenced by: %s", got)
	}
	got = strings.Join(relations(g.ReferencedBy(NodeID{entra.KindUser, "u1"}), true), " ")
	if got != "au-member:administrativeUnit/au1 member:group/g1 role-principal:unifiedRoleAssignment/ra2" {
		t.Errorf("u1 referenced by: %s", got)
	}
	var dangling []string
	for _, d := range g.Dangling() {
		dangling = append(dangling, d.From.String()+" "+d.Relation+" "+d.Value)
	}
	if strings.Join(dangling, "; ") != "conditionalAccessPolicy/p1 ca-include-group gone-group; group/g2 member purged-user" {
		t.Errorf("dangling: %v", dangling)
	}
}

func TestBlastRadius(t *testing.T) {
	t.Parallel()
	g := fixture(t)
	br := g.BlastRadius(NodeID{entra.KindGroup, "g1"})
	var got []string
	for _, im := range br.Impacted {
		v := "loses"
		if im.Vanishes {
			v = "vanishes"
		}
		got = append(got, im.Node.String()+" "+v+" via "+im.Via.Relation)
	}
	want := "group/g2 loses via member; conditionalAccessPolicy/p1 loses via ca-include-group; unifiedRoleAssignment/ra1 vanishes via role-principal; appRoleAssignment/ara1 vanishes via app-role-principal"
	if strings.Join(got, "; ") != want {
		t.Errorf("blast radius of g1\n got %s\nwant %s", strings.Join(got, "; "), want)
	}
	// Deleting the application takes its service principal, and with it the SP's
	// assignments and grants.
	br = g.BlastRadius(NodeID{entra.KindApplication, "a1"})
	if br.ByKind["servicePrincipal"] != 1 || br.ByKind["appRoleAssignment"] != 1 || br.ByKind["oAuth2PermissionGrant"] != 1 || br.ByKind["conditionalAccessPolicy"] != 1 || br.Count != 4 {
		t.Errorf("blast radius of a1: %+v", br.ByKind)
	}
	if br := g.BlastRadius(NodeID{entra.KindUser, "nobody"}); br.Count != 0 {
		t.Errorf("unknown node blast radius: %+v", br)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	g := fixture(t)
	for q, want := range map[string]string{
		"u1": "user/u1", "ADELE@contoso.com": "user/u1", "app-1": "application/a1", "mfa for admins": "conditionalAccessPolicy/p1",
		"Microsoft Graph": "servicePrincipal/graph", "00000003-0000-0000-c000-000000000000": "servicePrincipal/graph",
	} {
		n, err := g.Lookup(q)
		if err != nil || n.String() != want {
			t.Errorf("Lookup(%q) = %v, %v; want %s", q, n.String(), err, want)
		}
	}
	if n, err := g.Lookup("Payroll"); err != nil || n.String() != "application/a1" {
		t.Errorf("an app and its SP share a name: the application is meant, got %v %v", n, err)
	}
	if _, err := g.Lookup("Adele"); err == nil || !strings.Contains(err.Error(), "matches 2 objects (user/u1, user/u3)") {
		t.Errorf("ambiguous name: %v", err)
	}
	if _, err := g.Lookup("nobody@contoso.com"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "matches no object") {
		t.Errorf("unknown: %v", err)
	}
}

// Role assignments and grants are named by what they connect, where the graph holds it.
func TestAssignmentsAreNamedByTheirEnds(t *testing.T) {
	t.Parallel()
	g := fixture(t)
	for id, want := range map[NodeID]string{
		{Kind: entra.KindRoleAssignment, ID: "ra1"}:        "role Global Administrator for Admins at /",
		{Kind: entra.KindRoleAssignment, ID: "ra2"}:        "role Global Administrator for Adele at /administrativeUnits/EMEA",
		{Kind: entra.KindOAuth2PermissionGrant, ID: "gr1"}: "grant Payroll -> Microsoft Graph (User.Read)",
	} {
		if n, ok := g.Node(id); !ok || n.DisplayName != want {
			t.Errorf("%s is named %q, want %q", id, n.DisplayName, want)
		}
	}
}

func TestOrderPutsTargetsFirst(t *testing.T) {
	t.Parallel()
	g := fixture(t)
	var ids []NodeID
	for _, n := range g.Nodes() {
		ids = append(ids, n.NodeID)
	}
	order, cycles := g.Order(ids)
	if len(cycles) != 0 || len(order) != len(ids) {
		t.Fatalf("order %d of %d, cycles %v", len(order), len(ids), cycles)
	}
	pos := map[NodeID]int{}
	for i, id := range order {
		pos[id] = i
	}
	for _, id := range order {
		for _, e := range g.References(id) {
			if !e.Link && pos[e.To] > pos[id] {
				t.Errorf("%s comes before %s, which it references (%s)", id, e.To, e.Relation)
			}
		}
	}
	again, _ := g.Order(ids)
	for i := range order {
		if order[i] != again[i] {
			t.Fatal("order is not stable")
		}
	}
}

func TestCyclesAreReportedReadably(t *testing.T) {
	t.Parallel()
	b := NewBuilder()
	b.AddObject(entra.KindApplication, "a", []byte(`{"id":"a","appId":"A","displayName":"Alpha","api":{"knownClientApplications":["B"]}}`), false)
	b.AddObject(entra.KindApplication, "b", []byte(`{"id":"b","appId":"B","displayName":"Beta","api":{"knownClientApplications":["A"]}}`), false)
	b.AddObject(entra.KindServicePrincipal, "s", []byte(`{"id":"s","appId":"A","displayName":"Alpha"}`), false)
	g := b.Build()
	order, cycles := g.Order([]NodeID{{entra.KindServicePrincipal, "s"}, {entra.KindApplication, "b"}, {entra.KindApplication, "a"}})
	if len(cycles) != 1 || cycles[0] != `dependency cycle: application/a "Alpha" -[app-known-client]-> application/b "Beta" -[app-known-client]-> application/a` {
		t.Fatalf("cycles = %q", cycles)
	}
	if len(order) != 3 || order[2].ID != "s" {
		t.Fatalf("order = %v", order)
	}
}

// TestTopoSortProperty checks random DAGs: every dependency comes first, and the
// result does not depend on input order.
func TestTopoSortProperty(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	for round := 0; round < 200; round++ {
		n := 1 + r.IntN(40)
		deps := map[int][]int{}
		for i := 0; i < n; i++ {
			for j := 0; j < i; j++ {
				if r.IntN(5) == 0 {
					deps[i] = append(deps[i], j) // only on lower numbers: acyclic
				}
			}
		}
		items := r.Perm(n)
		less := func(a, b int) bool { return a%7 < b%7 || (a%7 == b%7 && a < b) }
		order, cycles := TopoSort(items, func(i int) []int { return deps[i] }, less)
		if len(cycles) != 0 || len(order) != n {
			t.Fatalf("round %d: %d of %d ordered, cycles %v", round, len(order), n, cycles)
		}
		pos := map[int]int{}
		for i, v := range order {
			pos[v] = i
		}
		for i, ds := range deps {
			for _, d := range ds {
				if pos[d] > pos[i] {
					t.Fatalf("round %d: %d placed before its dependency %d", round, i, d)
				}
			}
		}
		shuffled := r.Perm(n)
		again, _ := TopoSort(shuffled, func(i int) []int { return deps[i] }, less)
		for i := range order {
			if order[i] != again[i] {
				t.Fatalf("round %d: order depends on input order", round)
			}
		}
	}
}

func TestRewriteThroughTheLedger(t *testing.T) {
	t.Parallel()
	var obj map[string]any
	json.Unmarshal([]byte(`{"conditions":{"users":{"includeUsers":["All"],"excludeUsers":["u2"],"includeGroups":["g1"]},
		"applications":{"includeApplications":["app-1","Office365"]},"locations":{"excludeLocations":["loc1","AllTrusted"]}}}`), &obj)
	l := NewLedger()
	l.IDs["u2"], l.IDs["g1"], l.IDs["loc1"], l.IDs["All"] = "u2-new", "g1-new", "loc1-new", "never"
	l.AppIDs["app-1"] = "app-1-new"
	if n := Rewrite(entra.KindConditionalAccessPolicy, obj, l); n != 4 {
		t.Fatalf("rewrote %d, want 4", n)
	}
	out, _ := json.Marshal(obj)
	for _, want := range []string{`"excludeUsers":["u2-new"]`, `"includeGroups":["g1-new"]`, `"includeApplications":["app-1-new","Office365"]`, `"excludeLocations":["loc1-new","AllTrusted"]`, `"includeUsers":["All"]`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rewritten policy lacks %s: %s", want, out)
		}
	}
	ra := map[string]any{"principalId": "u1", "directoryScopeId": "/administrativeUnits/au1", "roleDefinitionId": "r"}
	l.IDs["au1"], l.IDs["u1"] = "au1-new", "u1-new"
	Rewrite(entra.KindRoleAssignment, ra, l)
	if ra["directoryScopeId"] != "/administrativeUnits/au1-new" || ra["principalId"] != "u1-new" {
		t.Errorf("role assignment rewritten to %v", ra)
	}
}

func TestTopLevelStringsAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	inputs := []string{
		`{"displayName":"A \"quoted\" \\ name","n":1.5,"arr":["x","}",{"displayName":"nested"}],"obj":{"a":"b"},"userPrincipalName":"a@b","t":true,"z":null}`,
		` { "appId" : "x\u00e9" , "b" : [ ] } `,
		`{}`,
	}
	for _, in := range inputs {
		want := map[string]any{}
		json.Unmarshal([]byte(in), &want)
		got := map[string]string{}
		keys := []string{"absent"}
		for k := range want {
			keys = append(keys, k)
		}
		if err := topLevelStrings([]byte(in), keys, func(k, v string) { got[k] = v }); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		// Members not asked for are skipped.
		only := map[string]string{}
		if err := topLevelStrings([]byte(in), []string{"displayName"}, func(k, v string) { only[k] = v }); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if s, _ := want["displayName"].(string); len(only) > 1 || only["displayName"] != s {
			t.Errorf("%s: asked for displayName, got %v", in, only)
		}
		for k, v := range want {
			if s, ok := v.(string); ok && got[k] != s {
				t.Errorf("%s: %s = %q, want %q", in, k, got[k], s)
			}
		}
		if len(got) != countStrings(want) {
			t.Errorf("%s: found %v", in, got)
		}
	}
	for _, bad := range []string{`{"a":`, `["a"]`, `{"a" "b"}`, `{"a":"b"`, `{"a":{"b":1}`} {
		if err := topLevelStrings([]byte(bad), nil, func(string, string) {}); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func countStrings(m map[string]any) int {
	n := 0
	for _, v := range m {
		if _, ok := v.(string); ok {
			n++
		}
	}
	return n
}

func TestCompareNodeStringsIsStringOrder(t *testing.T) {
	t.Parallel()
	ids := []NodeID{{"group", "a"}, {"group", "b"}, {"groupX", "a"}, {"grou", "p/a"}, {"user", ""}, {"", "x"}, {"user", "a/b"}, {"users", "a"}, {"group", ""}}
	for _, a := range ids {
		for _, b := range ids {
			if got, want := compareNodeStrings(a, b), strings.Compare(a.String(), b.String()); got != want {
				t.Errorf("compareNodeStrings(%v, %v) = %d, want %d", a, b, got, want)
			}
		}
	}
}

// TestPropertyReferencesAreReferencesLessLinks on the sample graph, both directions.
func TestPropertyReferencesAreReferencesLessLinks(t *testing.T) {
	t.Parallel()
	g := fixture(t)
	for _, n := range g.Nodes() {
		for _, dir := range []struct {
			all, props []Edge
		}{{g.References(n.NodeID), g.PropertyReferences(n.NodeID)}, {g.ReferencedBy(n.NodeID), g.PropertyReferencedBy(n.NodeID)}} {
			var want []Edge
			for _, e := range dir.all {
				if !e.Link {
					want = append(want, e)
				}
			}
			if len(want) != len(dir.props) {
				t.Fatalf("%s: %d property edges, want %d", n.NodeID, len(dir.props), len(want))
			}
			for i := range want {
				if want[i] != dir.props[i] {
					t.Fatalf("%s: edge %d is %+v, want %+v", n.NodeID, i, dir.props[i], want[i])
				}
			}
		}
	}
}

// TestLightNodesNameAsWholeDecoding: a node built from the few properties AddObject
// reads of an object without references has the name and keys of one built from the
// whole object, for every such kind, with its displayName, without it, and without its
// userPrincipalName too (every other property of every kind a distinct string).
func TestLightNodesNameAsWholeDecoding(t *testing.T) {
	t.Parallel()
	for _, k := range entra.Kinds() {
		if len(entra.MustLookup(k).References) > 0 {
			continue
		}
		full := map[string]any{}
		for _, other := range entra.Kinds() {
			for _, p := range entra.MustLookup(other).Properties {
				full[p.Name] = "v-" + p.Name
			}
		}
		full["id"] = "the-id" // an object's id member is its id
		for _, drop := range [][]string{nil, {"displayName"}, {"displayName", "userPrincipalName"}} {
			obj := map[string]any{}
			for name, v := range full {
				obj[name] = v
			}
			for _, d := range drop {
				delete(obj, d)
			}
			raw, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			light, whole := NewBuilder(), NewBuilder()
			if err := light.AddObject(k, "the-id", raw, false); err != nil {
				t.Fatal(err)
			}
			whole.AddDecoded(k, "the-id", obj, false)
			a, _ := light.Build().Node(NodeID{Kind: k, ID: "the-id"})
			b, _ := whole.Build().Node(NodeID{Kind: k, ID: "the-id"})
			if a.DisplayName != b.DisplayName || strings.Join(a.Keys, ",") != strings.Join(b.Keys, ",") {
				t.Errorf("%s without %v: light node %q %v, whole %q %v", k, drop, a.DisplayName, a.Keys, b.DisplayName, b.Keys)
			}
		}
	}
}
