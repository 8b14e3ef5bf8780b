package entra

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestEveryKindIsComplete(t *testing.T) {
	t.Parallel()
	for _, s := range Specs() {
		if s.Collection == "" || !strings.HasPrefix(s.Collection, "/") {
			t.Errorf("%s: collection %q must be an absolute Graph path", s.Kind, s.Collection)
		}
		if _, ok := s.Property("id"); !ok {
			t.Errorf("%s: no id property", s.Kind)
		}
		if p, _ := s.Property("id"); p.Access != ReadOnly {
			t.Errorf("%s: id must be read-only, is %s", s.Kind, p.Access)
		}
		if s.AuditNoun == "" || s.AuditCategory == "" {
			t.Errorf("%s: audit vocabulary missing", s.Kind)
		}
		seen := map[string]bool{}
		for _, p := range s.Properties {
			if seen[p.Name] {
				t.Errorf("%s: property %s listed twice", s.Kind, p.Name)
			}
			seen[p.Name] = true
		}
		for _, r := range s.References {
			top, _, _ := strings.Cut(strings.TrimSuffix(r.Path, "[]"), ".")
			top = strings.TrimSuffix(top, "[]")
			if !seen[top] {
				t.Errorf("%s: reference %s starts at unknown property %s", s.Kind, r.Path, top)
			}
			for _, target := range r.Targets {
				if _, ok := Lookup(target); !ok {
					t.Errorf("%s: reference %s targets unknown kind %s", s.Kind, r.Path, target)
				}
			}
			if r.Relation == "" {
				t.Errorf("%s: reference %s has no relation name", s.Kind, r.Path)
			}
		}
		if strings.Contains(s.Collection, "{parent}") && s.Parent == "" {
			t.Errorf("%s: nested collection without a parent kind", s.Kind)
		}
	}
}

func TestSelectLeavesOutWriteOnlySecrets(t *testing.T) {
	t.Parallel()
	sel := MustLookup(KindUser).Select()
	if strings.Contains(sel, "passwordProfile") {
		t.Fatalf("user $select must not ask for the write-only passwordProfile: %s", sel)
	}
	for _, want := range []string{"userPrincipalName", "department", "usageLocation", "accountEnabled", "onPremisesExtensionAttributes"} {
		if !strings.Contains(","+sel+",", ","+want+",") {
			t.Errorf("user $select lacks %s", want)
		}
	}
	if got := MustLookup(KindUser).RequiredOnCreate(); strings.Join(got, ",") != "accountEnabled,displayName,mailNickname,passwordProfile,userPrincipalName" {
		t.Errorf("user required on create = %v", got)
	}
}

func TestDefaultPropertySets(t *testing.T) {
	t.Parallel()
	got := strings.Join(MustLookup(KindUser).DefaultProperties(), ",")
	want := "id,businessPhones,displayName,givenName,jobTitle,mail,mobilePhone,officeLocation,preferredLanguage,surname,userPrincipalName"
	if got != want {
		t.Errorf("user defaults\n got %s\nwant %s", got, want)
	}
	if d := MustLookup(KindConditionalAccessPolicy).DefaultProperties(); d != nil {
		t.Errorf("CA policies return every property by default, got a default set %v", d)
	}
}

func TestWritable(t *testing.T) {
	t.Parallel()
	u := MustLookup(KindUser)
	g := MustLookup(KindGroup)
	cases := []struct {
		spec   *Spec
		prop   string
		create bool
		want   bool
	}{
		{u, "department", false, true},
		{u, "createdDateTime", true, false},
		{u, "passwordProfile", true, true},
		{u, "noSuchProperty", true, false},
		{g, "isAssignableToRole", true, true},
		{g, "isAssignableToRole", false, false},
		{g, "mail", true, false},
	}
	for _, c := range cases {
		if got := c.spec.Writable(c.prop, c.create); got != c.want {
			t.Errorf("%s.%s create=%v: writable=%v, want %v", c.spec.Kind, c.prop, c.create, got, c.want)
		}
	}
}

const caPolicy = `{
  "id": "p1", "displayName": "Require MFA", "state": "enabled",
  "conditions": {
    "users": {"includeUsers": ["All"], "excludeUsers": ["bg1", "bg2"], "includeGroups": ["g1"], "excludeGroups": [],
              "includeRoles": ["62e90394-69f5-4237-9190-012177145e10"], "excludeRoles": []},
    "applications": {"includeApplications": ["app-1", "Office365"], "excludeApplications": []},
    "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted", "loc-1"]}
  },
  "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}
}`

func TestExtractReferencesSkipsKeywords(t *testing.T) {
	t.Parallel()
	var obj map[string]any
	if err := json.Unmarshal([]byte(caPolicy), &obj); err != nil {
		t.Fatal(err)
	}
	refs := MustLookup(KindConditionalAccessPolicy).ExtractReferences(obj)
	var got []string
	for _, r := range refs {
		got = append(got, r.Reference.Relation+"="+r.ID+"@"+r.Pointer+"("+r.Reference.Form.String()+")")
	}
	want := []string{
		"ca-exclude-user=bg1@/conditions/users/excludeUsers/0(object id)",
		"ca-exclude-user=bg2@/conditions/users/excludeUsers/1(object id)",
		"ca-include-group=g1@/conditions/users/includeGroups/0(object id)",
		"ca-include-role=62e90394-69f5-4237-9190-012177145e10@/conditions/users/includeRoles/0(role template id)",
		"ca-app=app-1@/conditions/applications/includeApplications/0(appId)",
		"ca-exclude-location=loc-1@/conditions/locations/excludeLocations/1(object id)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("references\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRewritePathThroughAMap(t *testing.T) {
	t.Parallel()
	var obj map[string]any
	if err := json.Unmarshal([]byte(caPolicy), &obj); err != nil {
		t.Fatal(err)
	}
	ledger := map[string]string{"bg2": "bg2-new", "g1": "g1-new", "All": "must-not-happen"}
	spec := MustLookup(KindConditionalAccessPolicy)
	n := 0
	for _, ref := range spec.References {
		n += RewritePath(obj, ref.Path, func(v string) (string, bool) {
			if ref.IsSpecial(v) {
				return "", false
			}
			nv, ok := ledger[v]
			return nv, ok
		})
	}
	if n != 2 {
		t.Fatalf("rewrote %d values, want 2", n)
	}
	out, _ := json.Marshal(obj["conditions"].(map[string]any)["users"])
	if !strings.Contains(string(out), `"excludeUsers":["bg1","bg2-new"]`) || !strings.Contains(string(out), `"includeGroups":["g1-new"]`) || !strings.Contains(string(out), `"includeUsers":["All"]`) {
		t.Errorf("rewritten users condition: %s", out)
	}
}

func TestDirectoryScopes(t *testing.T) {
	t.Parallel()
	spec := MustLookup(KindRoleAssignment)
	for scope, want := range map[string]string{"/": "", "/administrativeUnits/au1": "au1", "/app1": "app1"} {
		refs := spec.ExtractReferences(map[string]any{"principalId": "u1", "roleDefinitionId": "r1", "directoryScopeId": scope})
		got := ""
		for _, r := range refs {
			if r.Reference.Relation == "role-scope" {
				got = r.ID
			}
		}
		if got != want {
			t.Errorf("scope %q -> %q, want %q", scope, got, want)
		}
	}
	if k, ok := ScopeKind("/administrativeUnits/x"); !ok || k != KindAdministrativeUnit {
		t.Errorf("AU scope kind = %v %v", k, ok)
	}
}

func TestParseKindAndODataTypes(t *testing.T) {
	t.Parallel()
	if k, err := ParseKind("serviceprincipal"); err != nil || k != KindServicePrincipal {
		t.Errorf("ParseKind(serviceprincipal) = %v, %v", k, err)
	}
	if _, err := ParseKind("printer"); err == nil || !strings.Contains(err.Error(), "use one of") {
		t.Errorf("ParseKind(printer) error = %v", err)
	}
	for typ, want := range map[string]Kind{"#microsoft.graph.ipNamedLocation": KindNamedLocation, "#microsoft.graph.user": KindUser, "microsoft.graph.unifiedRoleAssignment": KindRoleAssignment} {
		if got, ok := KindForODataType(typ); !ok || got != want {
			t.Errorf("KindForODataType(%s) = %v, %v", typ, got, ok)
		}
	}
}

// TestDisplayNameReadsOnlyItsProperties: a caller that decodes only
// DisplayNameProperties gets the same name as one that decodes the whole object.
func TestDisplayNameReadsOnlyItsProperties(t *testing.T) {
	t.Parallel()
	// Every property any kind has, each a distinct string, so that DisplayName starting
	// to read one more of them fails here.
	full := map[string]any{}
	names := []string{"principalDisplayName", "resourceDisplayName", "clientId", "resourceId", "scope",
		"roleDefinitionId", "principalId", "directoryScopeId", "displayName", "userPrincipalName", "id"}
	for _, k := range Kinds() {
		for _, p := range MustLookup(k).Properties {
			names = append(names, p.Name)
		}
	}
	for i, k := range names {
		if _, ok := full[k]; !ok {
			full[k] = fmt.Sprintf("v%d", i)
		}
	}
	only := map[string]any{}
	for _, k := range DisplayNameProperties {
		only[k] = full[k]
	}
	for _, k := range Kinds() {
		if got, want := DisplayName(k, only), DisplayName(k, full); got != want {
			t.Errorf("%s: DisplayName of DisplayNameProperties = %q, of the whole object %q", k, got, want)
		}
	}
}

// TestLinkRelation: a link's relation is the one its kind defines (the same name means
// different things on groups and administrative units), and its name otherwise.
func TestLinkRelation(t *testing.T) {
	for _, c := range []struct {
		kind       Kind
		name, want string
	}{
		{KindGroup, "members", "member"},
		{KindAdministrativeUnit, "members", "au-member"},
		{KindGroup, "noSuchLink", "noSuchLink"},
		{Kind("noSuchKind"), "members", "members"},
	} {
		if got := LinkRelation(c.kind, c.name); got != c.want {
			t.Errorf("LinkRelation(%s, %s) = %q, want %q", c.kind, c.name, got, c.want)
		}
	}
}
