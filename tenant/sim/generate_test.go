package sim

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// genCache caches datasets by size and seed: generating is deterministic, and several
// tests look at the same tenant from different angles. Tests must not modify them.
var genCache sync.Map

func genDataset(t *testing.T, users int, seed int64) *Dataset {
	t.Helper()
	type key struct {
		users int
		seed  int64
	}
	type entry struct {
		once sync.Once
		ds   *Dataset
		err  error
	}
	v, _ := genCache.LoadOrStore(key{users, seed}, &entry{})
	e := v.(*entry)
	e.once.Do(func() { e.ds, e.err = Generate(GenerateOptions{Users: users, Seed: seed}) })
	if e.err != nil {
		t.Fatalf("Generate(%d users, seed %d): %v", users, seed, e.err)
	}
	return e.ds
}

// genIndex is a decoded dataset, indexed the ways references name objects.
type genIndex struct {
	ds       *Dataset
	objs     map[string]map[string]any // by object id
	kinds    map[string]entra.Kind
	byKind   map[entra.Kind][]map[string]any
	appIDs   map[string]entra.Kind // appId -> application, or servicePrincipal when no app has it
	spAppIDs map[string]bool
	roleTmpl map[string]bool
}

func genIndexTenant(t *testing.T, ds *Dataset) *genIndex {
	t.Helper()
	ix := &genIndex{
		ds: ds, objs: map[string]map[string]any{}, kinds: map[string]entra.Kind{},
		byKind: map[entra.Kind][]map[string]any{}, appIDs: map[string]entra.Kind{},
		spAppIDs: map[string]bool{}, roleTmpl: map[string]bool{},
	}
	for _, o := range ds.Objects {
		var m map[string]any
		if err := json.Unmarshal(o.JSON, &m); err != nil {
			t.Fatalf("%s %s: invalid JSON: %v", o.Kind, o.ID, err)
		}
		if _, dup := ix.objs[o.ID]; dup {
			t.Fatalf("object id %s used twice", o.ID)
		}
		ix.objs[o.ID] = m
		ix.kinds[o.ID] = o.Kind
		ix.byKind[o.Kind] = append(ix.byKind[o.Kind], m)
	}
	for _, m := range ix.byKind[entra.KindApplication] {
		ix.appIDs[m["appId"].(string)] = entra.KindApplication
	}
	for _, m := range ix.byKind[entra.KindServicePrincipal] {
		id := m["appId"].(string)
		ix.spAppIDs[id] = true
		if _, ok := ix.appIDs[id]; !ok {
			ix.appIDs[id] = entra.KindServicePrincipal
		}
	}
	for _, m := range ix.byKind[entra.KindRoleDefinition] {
		ix.roleTmpl[m["templateId"].(string)] = true
	}
	return ix
}

func genStr(m map[string]any, key string) string { s, _ := m[key].(string); return s }

func genStrs(m map[string]any, key string) []string {
	arr, _ := m[key].([]any)
	out := make([]string, 0, len(arr))
	for _, v := range arr {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func genPath(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m, _ = m[k].(map[string]any)
	}
	return m
}

var genSizes = []int{10, 50, 500, 2000}

func TestGenerateRefusesSizesOutOfRange(t *testing.T) {
	t.Parallel()
	for _, n := range []int{-1, 0, 9, 1_000_001} {
		ds, err := Generate(GenerateOptions{Users: n, Seed: 1})
		if err == nil || ds != nil {
			t.Errorf("Generate(%d users) = %v, %v; want an error", n, ds, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "between 10 and 1000000") || strings.Count(msg, ". ") > 0 {
			t.Errorf("Generate(%d users) error %q: want one sentence naming the range", n, msg)
		}
	}
}

func genHashDataset(ds *Dataset) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%v|%v\n", ds.TenantID, ds.Domain, ds.DisplayName, ds.BreakGlass, ds.Admins)
	for _, o := range ds.Objects {
		fmt.Fprintf(h, "%s|%s|%d|", o.Kind, o.ID, len(o.JSON))
		h.Write(o.JSON)
	}
	for _, l := range ds.Links {
		fmt.Fprintf(h, "%s|%s|%s|%s|%s\n", l.FromKind, l.From, l.Name, l.ToKind, l.To)
	}
	return [32]byte(h.Sum(nil))
}

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	for _, n := range []int{10, 2000} {
		a, err := Generate(GenerateOptions{Users: n, Seed: 42})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Generate(GenerateOptions{Users: n, Seed: 42})
		if err != nil {
			t.Fatal(err)
		}
		if genHashDataset(a) != genHashDataset(b) {
			t.Errorf("%d users, seed 42: two runs gave different datasets", n)
		}
		c, err := Generate(GenerateOptions{Users: n, Seed: 43})
		if err != nil {
			t.Fatal(err)
		}
		if genHashDataset(a) == genHashDataset(c) || a.TenantID == c.TenantID || a.Domain == c.Domain {
			t.Errorf("%d users: seeds 42 and 43 gave the same tenant (%s, %s)", n, a.TenantID, a.Domain)
		}
		if a.Objects[0].ID == c.Objects[0].ID {
			t.Errorf("%d users: seeds 42 and 43 gave the same first user id %s", n, a.Objects[0].ID)
		}
	}
}

var genGUIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
var genOpaqueRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}(-1)?$`)

// TestGenerateObjectsAreCanonicalAndComplete checks every object against entra: valid
// JSON in canonical form, the id it is filed under, only properties entra knows, and
// every readable property present (null when unset), as Graph returns them under a
// full $select.
func TestGenerateObjectsAreCanonicalAndComplete(t *testing.T) {
	t.Parallel()
	for _, n := range genSizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			ds := genDataset(t, n, int64(n))
			if !genGUIDRE.MatchString(ds.TenantID) {
				t.Errorf("tenant id %q is not a lower-case v4 GUID", ds.TenantID)
			}
			if !strings.HasSuffix(ds.Domain, fmt.Sprint(n)+".onmicrosoft.com") || ds.DisplayName == "" {
				t.Errorf("domain %q / name %q do not derive from the seed", ds.Domain, ds.DisplayName)
			}
			for _, o := range ds.Objects {
				spec, ok := entra.Lookup(o.Kind)
				if !ok {
					t.Fatalf("object %s has unknown kind %s", o.ID, o.Kind)
				}
				var v any
				if err := json.Unmarshal(o.JSON, &v); err != nil {
					t.Fatalf("%s %s: invalid JSON: %v", o.Kind, o.ID, err)
				}
				canon, _ := json.Marshal(v)
				if !bytes.Equal(canon, o.JSON) {
					t.Fatalf("%s %s: JSON is not canonical (sorted keys, encoding/json escaping):\n got %s\nwant %s", o.Kind, o.ID, o.JSON, canon)
				}
				m := v.(map[string]any)
				if m["id"] != o.ID {
					t.Errorf("%s %s: JSON id is %v", o.Kind, o.ID, m["id"])
				}
				switch o.Kind {
				case entra.KindRoleAssignment, entra.KindAppRoleAssignment, entra.KindOAuth2PermissionGrant:
					if !genOpaqueRE.MatchString(o.ID) {
						t.Errorf("%s id %q is not an opaque base64url id", o.Kind, o.ID)
					}
				case entra.KindAuthenticationMethodsPolicy:
					if o.ID != "authenticationMethodsPolicy" {
						t.Errorf("singleton id %q", o.ID)
					}
				case entra.KindRoleDefinition:
					// Built-in role ids are Microsoft's template ids, which predate v4 GUIDs.
				default:
					if !genGUIDRE.MatchString(o.ID) {
						t.Errorf("%s id %q is not a lower-case v4 GUID", o.Kind, o.ID)
					}
				}
				want := map[string]bool{}
				for _, p := range spec.Properties {
					if p.Access == entra.WriteOnly {
						if _, ok := m[p.Name]; ok {
							t.Errorf("%s %s: holds write-only %s", o.Kind, o.ID, p.Name)
						}
						continue
					}
					want[p.Name] = true
				}
				if o.Kind == entra.KindNamedLocation {
					// Polymorphic: each concrete type carries its own properties only.
					typ := genStr(m, "@odata.type")
					var own []string
					switch typ {
					case entra.IPNamedLocationType:
						own = []string{"ipRanges", "isTrusted"}
					case entra.CountryNamedLocationType:
						own = []string{"countriesAndRegions", "countryLookupMethod", "includeUnknownCountriesAndRegions"}
					default:
						t.Fatalf("named location %s has @odata.type %q", o.ID, typ)
					}
					want = map[string]bool{"@odata.type": true, "id": true, "createdDateTime": true, "displayName": true, "modifiedDateTime": true}
					for _, p := range own {
						want[p] = true
					}
				}
				for k := range m {
					if !want[k] {
						t.Errorf("%s %s: property %q is not one entra lists", o.Kind, o.ID, k)
					}
				}
				for k := range want {
					if _, ok := m[k]; !ok {
						t.Errorf("%s %s: readable property %q missing (Graph returns null when unset)", o.Kind, o.ID, k)
					}
				}
				genCheckTimestamps(t, o, m)
			}
		})
	}
}

// genCheckTimestamps walks every *DateTime value: null, or RFC 3339 in UTC no later than the
// generator's fixed base.
func genCheckTimestamps(t *testing.T, o Object, v any) {
	t.Helper()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if s, ok := c.(string); ok && strings.HasSuffix(k, "DateTime") && !strings.HasPrefix(k, "end") {
					ts, err := time.Parse(time.RFC3339, s)
					if err != nil || !strings.HasSuffix(s, "Z") || ts.After(base) {
						t.Errorf("%s %s: %s = %q is not an RFC 3339 UTC time before %s", o.Kind, o.ID, k, s, base)
					}
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
}

// TestGenerateReferencesResolve follows every reference entra declares, and every link,
// to an object of an allowed kind in the same dataset.
func TestGenerateReferencesResolve(t *testing.T) {
	t.Parallel()
	for _, n := range genSizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			ds := genDataset(t, n, int64(n))
			ix := genIndexTenant(t, ds)
			counts := map[string]int{}
			for _, o := range ds.Objects {
				spec := entra.MustLookup(o.Kind)
				for _, ref := range spec.ExtractReferences(ix.objs[o.ID]) {
					counts[ref.Reference.Relation]++
					where := fmt.Sprintf("%s %s %s = %q", o.Kind, o.ID, ref.Pointer, ref.Value)
					switch ref.Reference.Form {
					case entra.ObjectID, entra.DirectoryScope:
						kind, ok := ix.kinds[ref.ID]
						if !ok {
							t.Errorf("%s: no object has id %s", where, ref.ID)
							continue
						}
						if !slices.Contains(ref.Reference.Targets, kind) {
							t.Errorf("%s: names a %s, want one of %v", where, kind, ref.Reference.Targets)
						}
						if ref.Reference.Form == entra.DirectoryScope {
							if sk, _ := entra.ScopeKind(ref.Value); sk != kind {
								t.Errorf("%s: scope form names a %s but the object is a %s", where, sk, kind)
							}
						}
					case entra.AppID:
						kind, ok := ix.appIDs[ref.ID]
						switch {
						case !ok:
							t.Errorf("%s: no application or service principal has this appId", where)
						case kind == entra.KindServicePrincipal && o.Kind == entra.KindServicePrincipal:
							// A first-party service principal: its application lives in
							// Microsoft's tenant. entra declares only KindApplication here.
							if owner := genStr(ix.objs[o.ID], "appOwnerOrganizationId"); owner == ds.TenantID {
								t.Errorf("%s: the tenant's own service principal has no application", where)
							}
						case !slices.Contains(ref.Reference.Targets, kind):
							t.Errorf("%s: resolves to a %s, want one of %v", where, kind, ref.Reference.Targets)
						}
					case entra.RoleTemplateID:
						if !ix.roleTmpl[ref.ID] {
							t.Errorf("%s: no role definition has this template id", where)
						}
					}
				}
			}
			// Every relation a generated tenant should exercise, at every size.
			for _, rel := range []string{
				"ca-exclude-user", "ca-include-user", "ca-include-group", "ca-exclude-group", "ca-include-role",
				"ca-app", "ca-location", "ca-exclude-location", "role-principal", "role-definition", "role-scope",
				"app-role-principal", "app-role-resource", "grant-client", "grant-resource", "grant-principal",
				"app-requires", "app-sp", "authmethod-include-group", "authmethod-exclude-group", "authmethod-campaign-exclude",
			} {
				if counts[rel] == 0 {
					t.Errorf("no reference of relation %s in a %d-user tenant", rel, n)
				}
			}
			if n >= 500 {
				for _, rel := range []string{"ca-exclude-role", "ca-exclude-app", "ca-include-sp", "app-known-client", "app-preauthorized"} {
					if counts[rel] == 0 {
						t.Errorf("no reference of relation %s in a %d-user tenant", rel, n)
					}
				}
			}

			seen := map[Link]bool{}
			for _, l := range ds.Links {
				if seen[l] {
					t.Errorf("link %+v appears twice", l)
				}
				seen[l] = true
				spec := entra.MustLookup(l.FromKind)
				ls, ok := spec.Link(l.Name)
				if !ok {
					t.Errorf("link %+v: %s has no link named %s", l, l.FromKind, l.Name)
					continue
				}
				if ix.kinds[l.From] != l.FromKind {
					t.Errorf("link %+v: holder is a %q", l, ix.kinds[l.From])
				}
				if ix.kinds[l.To] != l.ToKind {
					t.Errorf("link %+v: target is a %q", l, ix.kinds[l.To])
				}
				if !slices.Contains(ls.Targets, l.ToKind) {
					t.Errorf("link %+v: %s.%s may not point at a %s", l, l.FromKind, l.Name, l.ToKind)
				}
			}
		})
	}
}

// TestGenerateUniqueness holds the keys Graph keeps unique tenant-wide.
func TestGenerateUniqueness(t *testing.T) {
	t.Parallel()
	for _, n := range genSizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			ix := genIndexTenant(t, genDataset(t, n, int64(n)))
			unique := func(what string, vals []string) {
				seen := map[string]bool{}
				for _, v := range vals {
					k := strings.ToLower(v)
					if seen[k] {
						t.Errorf("%s %q is not unique", what, v)
					}
					seen[k] = true
				}
			}
			var upns, nicks, uris, uniqueNames, spAppIDs, appIDs []string
			for _, u := range ix.byKind[entra.KindUser] {
				upn := genStr(u, "userPrincipalName")
				if !strings.HasSuffix(upn, "@"+ix.ds.Domain) {
					t.Errorf("UPN %q is not in the tenant's domain", upn)
				}
				for _, c := range upn {
					if c > 127 {
						t.Errorf("UPN %q is not ASCII", upn)
						break
					}
				}
				upns = append(upns, upn)
			}
			for _, g := range ix.byKind[entra.KindGroup] {
				if slices.Contains(genStrs(g, "groupTypes"), "Unified") {
					nicks = append(nicks, genStr(g, "mailNickname"))
				}
			}
			for _, a := range ix.byKind[entra.KindApplication] {
				uris = append(uris, genStrs(a, "identifierUris")...)
				if u := genStr(a, "uniqueName"); u != "" {
					uniqueNames = append(uniqueNames, u)
				}
				appIDs = append(appIDs, genStr(a, "appId"))
			}
			for _, sp := range ix.byKind[entra.KindServicePrincipal] {
				spAppIDs = append(spAppIDs, genStr(sp, "appId"))
			}
			unique("userPrincipalName", upns)
			unique("Microsoft 365 mailNickname", nicks)
			unique("identifierUri", uris)
			unique("uniqueName", uniqueNames)
			unique("service principal appId", spAppIDs)
			unique("application appId", appIDs)
			if len(uris) == 0 || len(uniqueNames) == 0 {
				t.Errorf("%d users: %d identifierUris, %d uniqueNames; want some of each", n, len(uris), len(uniqueNames))
			}
		})
	}
}

// TestGenerateIsRealistic checks the shape of a mid-size tenant: the populations, the
// break-glass and administrator accounts, group semantics, and the scaffolding that a
// drill's incidents tear down.
func TestGenerateIsRealistic(t *testing.T) {
	t.Parallel()
	const n = 2000
	ds := genDataset(t, n, n)
	ix := genIndexTenant(t, ds)
	count := func(k entra.Kind) int { return len(ix.byKind[k]) }
	for _, k := range entra.Kinds() {
		if count(k) == 0 {
			t.Errorf("no %s in the tenant", k)
		}
	}
	if c := count(entra.KindUser); c != n {
		t.Errorf("%d users, want %d", c, n)
	}
	if c := count(entra.KindGroup); c < n/40 || c > n/10 {
		t.Errorf("%d groups for %d users, want about %d", c, n, n/20)
	}
	if c := count(entra.KindApplication); c < 5 || c > n/100 {
		t.Errorf("%d applications for %d users", c, n)
	}
	if c, a := count(entra.KindServicePrincipal), count(entra.KindApplication); c != a+3 {
		t.Errorf("%d service principals for %d applications, want one each plus 3 first-party", c, a)
	}
	if c := count(entra.KindConditionalAccessPolicy); c < 6 || c > 20 {
		t.Errorf("%d CA policies", c)
	}
	if c := count(entra.KindNamedLocation); c < 4 || c > 12 {
		t.Errorf("%d named locations", c)
	}
	if c := count(entra.KindOrganization); c != 1 {
		t.Errorf("%d organizations", c)
	}
	org := ix.objs[ds.TenantID]
	if org == nil || genStr(org, "displayName") != ds.DisplayName {
		t.Fatalf("organization object %v does not carry the tenant id and name", org)
	}
	if dom := org["verifiedDomains"].([]any)[0].(map[string]any); dom["name"] != ds.Domain || dom["isInitial"] != true {
		t.Errorf("verified domain %v", dom)
	}

	// Users: break-glass, admins, guests, disabled accounts, managers.
	if len(ds.BreakGlass) != 2 {
		t.Fatalf("break-glass accounts: %v", ds.BreakGlass)
	}
	for i, id := range ds.BreakGlass {
		u := ix.objs[id]
		if genStr(u, "displayName") != fmt.Sprintf("Break Glass %d", i+1) || genStr(u, "userPrincipalName") != fmt.Sprintf("breakglass%d@%s", i+1, ds.Domain) || u["accountEnabled"] != true {
			t.Errorf("break-glass account %d: %s %s enabled=%v", i+1, genStr(u, "displayName"), genStr(u, "userPrincipalName"), u["accountEnabled"])
		}
	}
	globalAdmins := map[string]bool{}
	for _, ra := range ix.byKind[entra.KindRoleAssignment] {
		if genStr(ra, "roleDefinitionId") == genRoleGlobalAdmin && genStr(ra, "directoryScopeId") == "/" && ix.kinds[genStr(ra, "principalId")] == entra.KindUser {
			globalAdmins[genStr(ra, "principalId")] = true
		}
	}
	if len(ds.Admins) < 5 || len(globalAdmins) != len(ds.Admins) {
		t.Errorf("Admins %d, users holding Global Administrator %d; want the same handful", len(ds.Admins), len(globalAdmins))
	}
	for _, id := range ds.Admins {
		if !globalAdmins[id] {
			t.Errorf("admin %s holds no Global Administrator assignment", id)
		}
	}
	var guests, disabled, withPhone int
	for _, u := range ix.byKind[entra.KindUser] {
		if genStr(u, "userType") == "Guest" {
			guests++
			if !strings.Contains(genStr(u, "userPrincipalName"), "#EXT#@") {
				t.Errorf("guest UPN %q lacks #EXT#", genStr(u, "userPrincipalName"))
			}
		}
		if u["accountEnabled"] == false {
			disabled++
		}
		if len(genStrs(u, "businessPhones")) == 1 {
			withPhone++
		}
		if _, ok := u["passwordProfile"]; ok {
			t.Errorf("user %s has a passwordProfile", u["id"])
		}
	}
	if guests == 0 || disabled == 0 || disabled > n/10 || withPhone < n/2 {
		t.Errorf("guests %d, disabled %d, with a business phone %d of %d", guests, disabled, withPhone, n)
	}
	managers := map[string]string{}
	for _, l := range ds.Links {
		if l.Name == "manager" {
			if _, dup := managers[l.From]; dup {
				t.Errorf("user %s has two managers", l.From)
			}
			managers[l.From] = l.To
		}
	}
	if len(managers) < n*8/10 {
		t.Errorf("%d of %d users have a manager", len(managers), n)
	}
	for u := range managers {
		seen := map[string]bool{}
		for cur := u; cur != ""; cur = managers[cur] {
			if seen[cur] {
				t.Fatalf("manager chain from %s loops", u)
			}
			seen[cur] = true
		}
	}

	// Groups: types, membership semantics, nesting without cycles, sizes.
	groups := map[string]map[string]any{}
	for _, g := range ix.byKind[entra.KindGroup] {
		groups[genStr(g, "id")] = g
	}
	members := map[string][]Link{}
	userMemberships := 0
	for _, l := range ds.Links {
		if l.FromKind == entra.KindGroup && l.Name == "members" {
			members[l.From] = append(members[l.From], l)
			if l.ToKind == entra.KindUser {
				userMemberships++
			}
		}
	}
	if per := float64(userMemberships) / n; per < 3 || per > 6 {
		t.Errorf("%.2f group memberships per user, want 3 to 6", per)
	}
	var unified, security, dynamic, assignable, nesting, spMembers int
	for id, g := range groups {
		types := genStrs(g, "groupTypes")
		isUnified := slices.Contains(types, "Unified")
		if isUnified {
			unified++
			if g["mailEnabled"] != true || g["securityEnabled"] != false || genStr(g, "mail") == "" || len(genStrs(g, "proxyAddresses")) == 0 {
				t.Errorf("Microsoft 365 group %s: mailEnabled %v securityEnabled %v mail %q", g["displayName"], g["mailEnabled"], g["securityEnabled"], g["mail"])
			}
		} else {
			security++
			if g["mailEnabled"] != false || g["securityEnabled"] != true {
				t.Errorf("security group %s: mailEnabled %v securityEnabled %v", g["displayName"], g["mailEnabled"], g["securityEnabled"])
			}
		}
		if g["isAssignableToRole"] == true {
			assignable++
			if isUnified {
				t.Errorf("role-assignable group %s is not a security group", g["displayName"])
			}
		}
		if slices.Contains(types, "DynamicMembership") {
			dynamic++
			rule := genStr(g, "membershipRule")
			if rule == "" || g["membershipRuleProcessingState"] != "On" {
				t.Errorf("dynamic group %s: rule %q state %v", g["displayName"], rule, g["membershipRuleProcessingState"])
			}
			dept := regexp.MustCompile(`user\.department -eq "([^"]+)"`).FindStringSubmatch(rule)
			for _, l := range members[id] {
				if l.ToKind != entra.KindUser {
					t.Errorf("dynamic group %s holds a %s", g["displayName"], l.ToKind)
				} else if dept != nil && genStr(ix.objs[l.To], "department") != dept[1] {
					t.Errorf("dynamic group %s (%s) holds a user of %q", g["displayName"], rule, genStr(ix.objs[l.To], "department"))
				}
			}
		}
		for _, l := range members[id] {
			switch l.ToKind {
			case entra.KindGroup:
				nesting++
				if isUnified || slices.Contains(genStrs(groups[l.To], "groupTypes"), "Unified") {
					t.Errorf("group %s contains group %s: only security groups nest", g["displayName"], groups[l.To]["displayName"])
				}
			case entra.KindServicePrincipal:
				spMembers++
				if isUnified {
					t.Errorf("Microsoft 365 group %s contains a service principal", g["displayName"])
				}
			}
		}
	}
	if unified == 0 || security == 0 || dynamic == 0 || assignable == 0 || nesting == 0 || spMembers == 0 {
		t.Errorf("groups: %d unified, %d security, %d dynamic, %d role-assignable, %d nested, %d SP members", unified, security, dynamic, assignable, nesting, spMembers)
	}
	var visit func(id string, onPath map[string]bool)
	visit = func(id string, onPath map[string]bool) {
		if onPath[id] {
			t.Fatalf("group nesting cycle through %s", groups[id]["displayName"])
		}
		onPath[id] = true
		for _, l := range members[id] {
			if l.ToKind == entra.KindGroup {
				visit(l.To, onPath)
			}
		}
		delete(onPath, id)
	}
	groupSizes := []int{}
	for id := range groups {
		visit(id, map[string]bool{})
		groupSizes = append(groupSizes, len(members[id]))
	}
	slices.Sort(groupSizes)
	if median, largest := groupSizes[len(groupSizes)/2], groupSizes[len(groupSizes)-1]; largest < 10*median {
		t.Errorf("group sizes are not skewed: median %d, largest %d", median, largest)
	}

	// Applications and service principals.
	for _, a := range ix.byKind[entra.KindApplication] {
		if genStr(a, "publisherDomain") != ds.Domain {
			t.Errorf("application %s publisherDomain %q", a["displayName"], a["publisherDomain"])
		}
		for _, c := range a["passwordCredentials"].([]any) {
			if cred := c.(map[string]any); cred["secretText"] != nil || genStr(cred, "hint") == "" {
				t.Errorf("application %s password credential %v", a["displayName"], cred)
			}
		}
	}
	graphSP := false
	for _, sp := range ix.byKind[entra.KindServicePrincipal] {
		if genStr(sp, "appId") == genGraphAppID {
			graphSP = true
			if genStr(sp, "appOwnerOrganizationId") != genMicrosoftTenant || len(sp["appRoles"].([]any)) == 0 || len(sp["oauth2PermissionScopes"].([]any)) == 0 {
				t.Errorf("Microsoft Graph service principal %v", sp)
			}
			continue
		}
		if app, ok := ix.appIDs[genStr(sp, "appId")]; ok && app == entra.KindApplication {
			if genStr(sp, "appOwnerOrganizationId") != ds.TenantID || !slices.Contains(genStrs(sp, "tags"), "WindowsAzureActiveDirectoryIntegratedApp") {
				t.Errorf("service principal %s: owner %v tags %v", sp["displayName"], sp["appOwnerOrganizationId"], sp["tags"])
			}
		}
	}
	if !graphSP {
		t.Error("no Microsoft Graph service principal")
	}
	principalTypes := map[string]int{}
	for _, ara := range ix.byKind[entra.KindAppRoleAssignment] {
		pt := genStr(ara, "principalType")
		principalTypes[pt]++
		kind := map[string]entra.Kind{"User": entra.KindUser, "Group": entra.KindGroup, "ServicePrincipal": entra.KindServicePrincipal}[pt]
		if ix.kinds[genStr(ara, "principalId")] != kind {
			t.Errorf("app role assignment %s: principalType %s but the principal is a %s", ara["id"], pt, ix.kinds[genStr(ara, "principalId")])
		}
		resource := ix.objs[genStr(ara, "resourceId")]
		if genStr(ara, "resourceDisplayName") != genStr(resource, "displayName") {
			t.Errorf("app role assignment %s: resourceDisplayName %q, resource is %q", ara["id"], ara["resourceDisplayName"], resource["displayName"])
		}
		roleID := genStr(ara, "appRoleId")
		found := roleID == entra.DefaultAccessAppRoleID
		for _, r := range resource["appRoles"].([]any) {
			found = found || r.(map[string]any)["id"] == roleID
		}
		if !found {
			t.Errorf("app role assignment %s: role %s is not one of %s's app roles", ara["id"], roleID, resource["displayName"])
		}
	}
	for _, pt := range []string{"User", "Group", "ServicePrincipal"} {
		if principalTypes[pt] == 0 {
			t.Errorf("no app role assignment to a %s", pt)
		}
	}
	consent := map[string]int{}
	for _, gr := range ix.byKind[entra.KindOAuth2PermissionGrant] {
		consent[genStr(gr, "consentType")]++
		if (genStr(gr, "consentType") == "Principal") != (gr["principalId"] != nil) {
			t.Errorf("grant %s: consentType %v with principalId %v", gr["id"], gr["consentType"], gr["principalId"])
		}
	}
	if consent["AllPrincipals"] == 0 || consent["Principal"] == 0 {
		t.Errorf("grants by consent type: %v", consent)
	}

	// Directory roles.
	builtIns := 0
	for _, rd := range ix.byKind[entra.KindRoleDefinition] {
		if rd["isBuiltIn"] == true {
			builtIns++
		}
		if genStr(rd, "id") != genStr(rd, "templateId") {
			t.Errorf("role definition %s: id %v, templateId %v", rd["displayName"], rd["id"], rd["templateId"])
		}
	}
	if builtIns != len(genBuiltinRoles) || count(entra.KindRoleDefinition) == builtIns {
		t.Errorf("%d built-in of %d role definitions; want all %d built-ins and some custom", builtIns, count(entra.KindRoleDefinition), len(genBuiltinRoles))
	}
	scopes := map[string]int{}
	heldBy := map[entra.Kind]int{}
	customHeld := 0
	for _, ra := range ix.byKind[entra.KindRoleAssignment] {
		scope := genStr(ra, "directoryScopeId")
		k, _ := entra.ScopeKind(scope)
		scopes[string(k)]++
		heldBy[ix.kinds[genStr(ra, "principalId")]]++
		if rd := ix.objs[genStr(ra, "roleDefinitionId")]; rd != nil && rd["isBuiltIn"] == false {
			customHeld++
		}
		if k := ix.kinds[genStr(ra, "principalId")]; k == entra.KindGroup && groups[genStr(ra, "principalId")]["isAssignableToRole"] != true {
			t.Errorf("role assignment %s goes to a group that is not role-assignable", ra["id"])
		}
	}
	if scopes[""] == 0 || scopes[string(entra.KindAdministrativeUnit)] == 0 || scopes[string(entra.KindApplication)] == 0 {
		t.Errorf("role assignments by scope: %v", scopes)
	}
	if heldBy[entra.KindUser] == 0 || heldBy[entra.KindGroup] == 0 || heldBy[entra.KindServicePrincipal] == 0 || customHeld == 0 {
		t.Errorf("role assignments by principal: %v, custom roles %d", heldBy, customHeld)
	}

	// Administrative units.
	auTypes := map[string]int{}
	for _, au := range ix.byKind[entra.KindAdministrativeUnit] {
		auTypes[genStr(au, "membershipType")]++
	}
	if auTypes["Assigned"] == 0 || auTypes["Dynamic"] == 0 {
		t.Errorf("administrative units by membership type: %v", auTypes)
	}

	// Conditional Access and named locations.
	states := map[string]int{}
	for _, p := range ix.byKind[entra.KindConditionalAccessPolicy] {
		states[genStr(p, "state")]++
		users := genPath(p, "conditions", "users")
		for _, bg := range ds.BreakGlass {
			if !slices.Contains(genStrs(users, "excludeUsers"), bg) {
				t.Errorf("CA policy %q does not exclude break-glass account %s", p["displayName"], bg)
			}
		}
		gc := genPath(p, "grantControls")
		if gc == nil || gc["customAuthenticationFactors"] == nil || gc["termsOfUse"] == nil {
			t.Errorf("CA policy %q grantControls %v", p["displayName"], gc)
		}
		if p["templateId"] != nil {
			t.Errorf("CA policy %q templateId %v", p["displayName"], p["templateId"])
		}
	}
	for _, s := range []string{"enabled", "enabledForReportingButNotEnforced", "disabled"} {
		if states[s] == 0 {
			t.Errorf("no CA policy in state %s (%v)", s, states)
		}
	}
	locTypes := map[string]int{}
	for _, l := range ix.byKind[entra.KindNamedLocation] {
		locTypes[genStr(l, "@odata.type")]++
		ranges, _ := l["ipRanges"].([]any)
		if genStr(l, "@odata.type") == entra.IPNamedLocationType && len(ranges) == 0 {
			t.Errorf("IP named location %s has no ranges", l["displayName"])
		}
		for _, r := range ranges {
			rng := r.(map[string]any)
			if t4 := rng["@odata.type"]; t4 != entra.IPv4RangeType && t4 != entra.IPv6RangeType || genStr(rng, "cidrAddress") == "" {
				t.Errorf("named location %s ip range %v", l["displayName"], rng)
			}
		}
	}
	if locTypes[entra.IPNamedLocationType] == 0 || locTypes[entra.CountryNamedLocationType] == 0 {
		t.Errorf("named locations by type: %v", locTypes)
	}

	// Authentication methods policy.
	amp := ix.objs["authenticationMethodsPolicy"]
	var methods []string
	for _, c := range amp["authenticationMethodConfigurations"].([]any) {
		cfg := c.(map[string]any)
		methods = append(methods, genStr(cfg, "id"))
		if !strings.HasSuffix(genStr(cfg, "@odata.type"), "AuthenticationMethodConfiguration") || cfg["includeTargets"] == nil || cfg["excludeTargets"] == nil {
			t.Errorf("authentication method configuration %v", cfg)
		}
	}
	for _, m := range []string{"Fido2", "MicrosoftAuthenticator", "Sms", "TemporaryAccessPass", "Email"} {
		if !slices.Contains(methods, m) {
			t.Errorf("authentication methods policy lacks %s (has %v)", m, methods)
		}
	}
}

// TestGenerateScalesTheWholeTenant: every population grows with the user count, not
// just the users.
func TestGenerateScalesTheWholeTenant(t *testing.T) {
	t.Parallel()
	small, large := genDataset(t, 500, 500), genDataset(t, 2000, 2000)
	counts := func(ds *Dataset) map[entra.Kind]int {
		c := map[entra.Kind]int{}
		for _, o := range ds.Objects {
			c[o.Kind]++
		}
		return c
	}
	cs, cl := counts(small), counts(large)
	for _, k := range []entra.Kind{entra.KindUser, entra.KindGroup, entra.KindApplication, entra.KindServicePrincipal, entra.KindConditionalAccessPolicy, entra.KindAppRoleAssignment} {
		if cl[k] <= cs[k] {
			t.Errorf("%s: %d at 500 users, %d at 2000", k, cs[k], cl[k])
		}
	}
	if len(large.Links) < 3*len(small.Links) {
		t.Errorf("links: %d at 500 users, %d at 2000", len(small.Links), len(large.Links))
	}
}

func TestGenerateJSONMatchesEncodingJSONEscaping(t *testing.T) {
	t.Parallel()
	cases := []string{"plain", `quote " and \ backslash`, "<html> & stuff", "tab\tnew\nline\r", "\x00\x01\x1f", "São Paulo Friedrichstraße", "line\u2028sep\u2029", "bad \xff byte", "\b\f"}
	for _, s := range cases {
		var w genWriter
		w.str(s)
		want, _ := json.Marshal(s)
		if !bytes.Equal(w.b, want) {
			t.Errorf("escaping %q: got %s, want %s", s, w.b, want)
		}
	}
}
