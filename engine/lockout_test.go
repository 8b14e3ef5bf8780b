package engine

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

func member(group string, kind entra.Kind, id string) snapshots.Link {
	return snapshots.Link{Kind: entra.KindGroup, From: group, Name: "members", ToKind: kind, To: id}
}

const (
	roleGA      = "62e90394-69f5-4237-9190-012177145e10"
	roleCAAdmin = "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9"
	roleSecAdm  = "194ae4cb-b126-40b2-bd5b-6091b380977d"
	roleHelp    = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
)

func userJSON(id, name, upn string, extra string) string {
	s := `{"id":"` + id + `","displayName":"` + name + `","userPrincipalName":"` + upn + `","accountEnabled":true,"mailNickname":"` + id + `"`
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

func groupJSON(id, name string) string {
	return `{"id":"` + id + `","displayName":"` + name + `","mailEnabled":false,"mailNickname":"` + id + `","securityEnabled":true}`
}

func roleJSON(id, principal, role, scope string) string {
	return `{"id":"` + id + `","principalId":"` + principal + `","roleDefinitionId":"` + role + `","directoryScopeId":"` + scope + `"}`
}

// policyJSON builds a CA policy; users is the JSON of conditions.users.
func policyJSON(id, name, state, control, apps, users string) string {
	return `{"id":"` + id + `","displayName":"` + name + `","state":"` + state + `","conditions":{"users":` + users +
		`,"applications":{"includeApplications":` + apps + `,"excludeApplications":[]},"clientAppTypes":["all"],"locations":{"includeLocations":["All"],"excludeLocations":["AllTrusted"]}},` +
		`"grantControls":{"operator":"OR","builtInControls":["` + control + `"]}}`
}

// lockoutTenant is a small tenant: Gail holds Global Administrator directly, Grace holds
// Conditional Access Administrator through Admins, which is nested in Tier 0 (the
// role's holder); Dave is a disabled Global Administrator; Sam a Security Administrator
// of one administrative unit only; Alice a helpdesk administrator (not privileged enough to count) and Gus a guest; Gail
// is also a helpdesk administrator of one administrative unit. With breakGlass, Break
// Glass 1 (a Global Administrator, found by name) and the Ops Vault account (found only
// because both enabled policies exclude it) are there too.
func lockoutTenant(t *testing.T, breakGlass bool) snapshots.State {
	objs := []planObj{
		{entra.KindUser, "u-gail", userJSON("u-gail", "Gail", "gail@contoso.test", ""), false},
		{entra.KindUser, "u-grace", userJSON("u-grace", "Grace", "grace@contoso.test", ""), false},
		{entra.KindUser, "u-dave", userJSON("u-dave", "Dave", "dave@contoso.test", `"accountEnabled":false`), false},
		{entra.KindUser, "u-sam", userJSON("u-sam", "Sam", "sam@contoso.test", ""), false},
		{entra.KindUser, "u-alice", userJSON("u-alice", "Alice", "alice@contoso.test", ""), false},
		{entra.KindUser, "u-gus", userJSON("u-gus", "Gus", "gus_fabrikam.test#EXT#@contoso.test", `"userType":"Guest"`), false},
		{entra.KindUser, "u-gone", userJSON("u-gone", "Gone Admin", "gone@contoso.test", ""), true},
		{entra.KindGroup, "g-admins", groupJSON("g-admins", "Admins"), false},
		{entra.KindGroup, "g-tier0", groupJSON("g-tier0", "Tier 0"), false},
		{entra.KindRoleAssignment, "ra-gail", roleJSON("ra-gail", "u-gail", roleGA, "/"), false},
		{entra.KindRoleAssignment, "ra-tier0", roleJSON("ra-tier0", "g-tier0", roleCAAdmin, "/"), false},
		{entra.KindRoleAssignment, "ra-dave", roleJSON("ra-dave", "u-dave", roleGA, "/"), false},
		{entra.KindRoleAssignment, "ra-sam", roleJSON("ra-sam", "u-sam", roleSecAdm, "/administrativeUnits/au-1"), false},
		{entra.KindRoleAssignment, "ra-gone", roleJSON("ra-gone", "u-gone", roleGA, "/"), false},
		{entra.KindRoleAssignment, "ra-alice", roleJSON("ra-alice", "u-alice", roleHelp, "/"), false},
		{entra.KindRoleAssignment, "ra-gail-au", roleJSON("ra-gail-au", "u-gail", roleHelp, "/administrativeUnits/au-1"), false},
	}
	links := []snapshots.Link{
		member("g-admins", entra.KindUser, "u-grace"),
		member("g-tier0", entra.KindGroup, "g-admins"),
	}
	if !breakGlass {
		// Report-only: in the snapshot, but no exclusion in it makes a break-glass account.
		objs = append(objs, planObj{entra.KindConditionalAccessPolicy, "ca-old", policyJSON("ca-old", "Block everyone", "enabledForReportingButNotEnforced", "block", `["All"]`,
			`{"includeUsers":["All"]}`), false})
	}
	if breakGlass {
		objs = append(objs,
			planObj{entra.KindUser, "u-bg1", userJSON("u-bg1", "Break Glass 1", "bg1@contoso.test", ""), false},
			planObj{entra.KindUser, "u-vault", userJSON("u-vault", "", "vault@contoso.test", ""), false},
			planObj{entra.KindRoleAssignment, "ra-bg1", roleJSON("ra-bg1", "u-bg1", roleGA, "/"), false},
			planObj{entra.KindConditionalAccessPolicy, "ca-mfa", policyJSON("ca-mfa", "Require MFA", "enabled", "mfa", `["All"]`,
				`{"includeUsers":["All"],"excludeUsers":["u-bg1","u-vault"]}`), false},
			planObj{entra.KindConditionalAccessPolicy, "ca-legacy", policyJSON("ca-legacy", "Block legacy authentication", "enabled", "block", `["All"]`,
				`{"includeUsers":["All"],"excludeUsers":["u-bg1","u-vault"]}`), false},
			// Report-only: it does not decide who is a break-glass account.
			planObj{entra.KindConditionalAccessPolicy, "ca-pilot", policyJSON("ca-pilot", "Pilot", "enabledForReportingButNotEnforced", "mfa", `["All"]`,
				`{"includeUsers":["All"]}`), false},
		)
	}
	return writeState(t, "lockout", objs, links)
}

func decodePolicy(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return m
}

func TestLockoutFactsFindAdminsAndBreakGlass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name              string
		breakGlass        bool
		admins, emergency []string
	}{
		// Dave is disabled, Sam's role is scoped to an administrative unit, Alice's role is
		// not privileged, and the deleted admin is in the bin: none of them counts.
		{"without break-glass accounts", false, []string{"u-gail", "u-grace"}, nil},
		{"with break-glass accounts", true, []string{"u-bg1", "u-gail", "u-grace"}, []string{"u-bg1", "u-vault"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := LoadLockoutFacts(ctx, lockoutTenant(t, c.breakGlass))
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Admins(); !slices.Equal(got, c.admins) {
				t.Errorf("admins %v, want %v", got, c.admins)
			}
			if got := f.BreakGlass(); !slices.Equal(got, c.emergency) {
				t.Errorf("break-glass %v, want %v", got, c.emergency)
			}
		})
	}
}

func TestLockoutBreakGlassName(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		want bool
	}{
		{"Break Glass 1", true}, {"breakglass2@contoso.test", true}, {"BREAK-GLASS admin", true},
		{"Emergency Access Account", true}, {"emergency_access@contoso.test", true},
		{"Glass Breaker", false}, {"Emergency Room", false}, {"", false},
	} {
		if got := breakGlassName(c.name); got != c.want {
			t.Errorf("breakGlassName(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestLockoutCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	withBG, err := LoadLockoutFacts(ctx, lockoutTenant(t, true))
	if err != nil {
		t.Fatal(err)
	}
	withoutBG, err := LoadLockoutFacts(ctx, lockoutTenant(t, false))
	if err != nil {
		t.Fatal(err)
	}
	const all = `["All"]`
	everyone := `{"includeUsers":["All"]}`
	cases := []struct {
		name    string
		facts   *LockoutFacts
		policy  string
		blocked []string // nil: the policy passes
		reason  string
	}{
		{"the snapshot's block policy as it was", withBG,
			policyJSON("ca-legacy", "Block legacy authentication", "enabled", "block", all, `{"includeUsers":["All"],"excludeUsers":["u-bg1","u-vault"]}`), nil, ""},
		{"a break-glass exclusion removed", withBG,
			policyJSON("ca-legacy", "Block legacy authentication", "enabled", "block", all, `{"includeUsers":["All"],"excludeUsers":["u-vault"]}`),
			[]string{"Break Glass 1", "Gail", "Grace"}, "restore its break-glass exclusion in the snapshot"},
		{"every exclusion removed", withBG,
			policyJSON("ca-legacy", "Block legacy authentication", "enabled", "block", all, everyone),
			[]string{"Break Glass 1", "Gail", "Grace", "vault@contoso.test"}, "and every administrator"},
		{"report-only never fails", withBG,
			policyJSON("ca-x", "Block everyone", CAReportOnly, "block", all, everyone), nil, ""},
		{"disabled never fails", withBG,
			policyJSON("ca-x", "Block everyone", "disabled", "block", all, everyone), nil, ""},
		{"MFA is not a block", withBG,
			policyJSON("ca-x", "MFA for everyone", "enabled", "mfa", all, everyone), nil, ""},
		{"one app only", withBG,
			policyJSON("ca-x", "Block payroll", "enabled", "block", `["appid-payroll"]`, everyone), nil, ""},
		{"the admin portals", withBG,
			policyJSON("ca-x", "Block portals", "enabled", "block", `["MicrosoftAdminPortals"]`, `{"includeUsers":["All"],"excludeUsers":["u-bg1"]}`),
			[]string{"Gail", "Grace", "vault@contoso.test"}, "from the Microsoft admin portals"},
		{"break-glass excluded by role and by guest keyword", withBG,
			policyJSON("ca-x", "Block", "enabled", "block", all, `{"includeUsers":["All"],"excludeRoles":["`+roleGA+`"],"excludeUsers":["GuestsOrExternalUsers"]}`),
			[]string{"Grace", "vault@contoso.test"}, "break-glass account vault@contoso.test"},
		{"a policy added since the snapshot", withBG,
			policyJSON("ca-new", "Attacker's policy", "enabled", "block", all, `{"includeUsers":["All"],"excludeUsers":["u-gail"]}`),
			[]string{"Break Glass 1", "Grace", "vault@contoso.test"}, "which is not in the snapshot, would block break-glass accounts Break Glass 1, vault@contoso.test from all cloud apps; switch it off or delete it"},
		{"block all users, an admins' group excluded", withoutBG,
			policyJSON("ca-x", "Block everyone", "enabled", "block", all, `{"includeUsers":["All"],"excludeGroups":["g-tier0"]}`), nil, ""},
		{"block all users, nobody excluded", withoutBG,
			policyJSON("ca-old", "Block everyone", "enabled", "block", all, everyone),
			[]string{"Gail", "Grace"}, `"Block everyone" would block every administrator (Gail, Grace) from all cloud apps; exclude a break-glass account`},
		{"locations save nobody", withoutBG,
			policyJSON("ca-x", "Block outside the office", "enabled", "block", `["Office365"]`, everyone),
			[]string{"Gail", "Grace"}, "from Office 365"},
		{"one admin's role only", withoutBG,
			policyJSON("ca-x", "Block GAs", "enabled", "block", all, `{"includeRoles":["`+roleGA+`"]}`), nil, ""},
		{"both admins by role and nested group", withoutBG,
			policyJSON("ca-x", "Block admins", "enabled", "block", all, `{"includeRoles":["`+roleGA+`"],"includeGroups":["g-tier0"]}`),
			[]string{"Gail", "Grace"}, "every administrator"},
		{"a role held in an administrative unit excludes nobody", withoutBG,
			policyJSON("ca-x", "Block", "enabled", "block", all, `{"includeUsers":["All"],"excludeRoles":["`+roleHelp+`"]}`),
			[]string{"Gail", "Grace"}, "every administrator"},
		{"a role held in an administrative unit includes", withoutBG,
			policyJSON("ca-x", "Block", "enabled", "block", all, `{"includeRoles":["`+roleHelp+`"],"includeGroups":["g-admins"]}`),
			[]string{"Gail", "Grace"}, "every administrator"},
		{"guests only", withoutBG,
			policyJSON("ca-x", "Block guests", "enabled", "block", all, `{"includeUsers":["GuestsOrExternalUsers"]}`), nil, ""},
		{"includeUsers None", withoutBG,
			policyJSON("ca-x", "Block nobody", "enabled", "block", all, `{"includeUsers":["None"]}`), nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.facts.Check([]map[string]any{decodePolicy(t, c.policy)})
			if c.blocked == nil {
				if len(got) != 0 {
					t.Fatalf("want no lockout, got %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("want one lockout, got %+v", got)
			}
			l := got[0]
			if l.PolicyID == "" || l.PolicyName == "" || !slices.Equal(l.Blocked, c.blocked) || !strings.Contains(l.Reason, c.reason) ||
				!strings.HasSuffix(l.Reason, "then run apply again.") || strings.Count(l.Reason, ". ") > 0 {
				t.Errorf("lockout %+v; want blocked %v and a reason with %q", l, c.blocked, c.reason)
			}
		})
	}
}

func TestLockoutCheckSortsByPolicyName(t *testing.T) {
	t.Parallel()
	f, err := LoadLockoutFacts(context.Background(), lockoutTenant(t, false))
	if err != nil {
		t.Fatal(err)
	}
	everyone := `{"includeUsers":["All"]}`
	got := f.Check([]map[string]any{
		decodePolicy(t, policyJSON("ca-2", "Zulu", "enabled", "block", `["All"]`, everyone)),
		decodePolicy(t, policyJSON("ca-1", "Alpha", "enabled", "block", `["All"]`, everyone)),
		decodePolicy(t, policyJSON("ca-3", "Mike", "enabled", "mfa", `["All"]`, everyone)),
	})
	if len(got) != 2 || got[0].PolicyName != "Alpha" || got[1].PolicyName != "Zulu" {
		t.Fatalf("%+v", got)
	}
	if got := f.Check(nil); got == nil || len(got) != 0 {
		t.Errorf("no policies: %#v", got)
	}
}

// TestLockoutGeneratedTenantPasses captures a generated tenant through the real client:
// its policies pass the check as generated, and taking the break-glass accounts out of
// a blocking policy's exclusions fails it.
func TestLockoutGeneratedTenantPasses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ds, err := sim.Generate(sim.GenerateOptions{Users: 1000, Seed: 11})
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
	t.Cleanup(func() { srv.Close() })
	client, err := graphapi.New(ctx, graphapi.Config{GraphURL: srv.Info().GraphURL, AdoptSimBudget: true})
	if err != nil {
		t.Fatal(err)
	}
	store, err := snapshots.Open(ctx, filepath.Join(t.TempDir(), "sim.db"), snapshots.OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	rep, err := snapshots.Capture(ctx, client, store, snapshots.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	target := snapshots.State{Store: store, Snapshot: rep.Snapshot}
	f, err := LoadLockoutFacts(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	bg := slices.Sorted(slices.Values(ds.BreakGlass))
	if got := f.BreakGlass(); !slices.Equal(got, bg) {
		t.Errorf("break-glass %v, want %v", got, bg)
	}
	admins := f.Admins()
	for _, id := range ds.Admins { // the Global Administrators, break-glass included
		if !slices.Contains(admins, id) {
			t.Errorf("global admin %s is not among the administrators %v", id, admins)
		}
	}
	var policies []map[string]any
	err = store.Objects(ctx, rep.Snapshot.ID, entra.KindConditionalAccessPolicy, func(o snapshots.Object) error {
		m, err := o.Decode()
		policies = append(policies, m)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(policies) < 10 {
		t.Fatalf("%d policies", len(policies))
	}
	if got := f.Check(policies); len(got) != 0 {
		t.Errorf("the generated policies should pass: %+v", got)
	}
	// Every policy enforced as it would be after a restore that switched them all on.
	for _, p := range policies {
		p["state"] = "enabled"
	}
	if got := f.Check(policies); len(got) != 0 {
		t.Errorf("the generated policies, all enforced, should pass: %+v", got)
	}
	var legacy map[string]any
	for _, p := range policies {
		if strings.HasSuffix(p["displayName"].(string), "Block legacy authentication") {
			legacy = p
		}
	}
	if legacy == nil {
		t.Fatal("no legacy-authentication policy")
	}
	legacy["conditions"].(map[string]any)["users"].(map[string]any)["excludeUsers"] = []any{}
	got := f.Check([]map[string]any{legacy})
	if len(got) != 1 || !slices.Contains(got[0].Blocked, "Break Glass 1") || !slices.Contains(got[0].Blocked, "Break Glass 2") {
		t.Fatalf("without its break-glass exclusions: %+v", got)
	}
}

// TestLockoutCatchesTheCATamperingDrill: after the ca-tampering incident took the
// break-glass exclusions out of every policy, enforcing the live policies in their
// snapshot states fails the check, naming both break-glass accounts, while the
// snapshot's own policies pass.
func TestLockoutCatchesTheCATamperingDrill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newDrillTenant(t, 200, 5)
	capture := func(name string) snapshots.State {
		store, err := snapshots.Open(ctx, filepath.Join(t.TempDir(), name+".db"), snapshots.OpenOptions{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		rep, err := snapshots.Capture(ctx, d.op, store, snapshots.CaptureOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return snapshots.State{Store: store, Snapshot: rep.Snapshot}
	}
	policies := func(s snapshots.State) map[string]map[string]any {
		out := map[string]map[string]any{}
		err := s.Store.Objects(ctx, s.Snapshot.ID, entra.KindConditionalAccessPolicy, func(o snapshots.Object) error {
			m, err := o.Decode()
			if !o.InBin {
				out[o.ID] = m
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	target := capture("target")
	d.inject(t, "ca-tampering", 3)
	live := capture("live")
	f, err := LoadLockoutFacts(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.BreakGlass()) != 2 {
		t.Fatalf("break-glass accounts %v", f.BreakGlass())
	}
	before := policies(target)
	var restored, original []map[string]any
	for id, p := range policies(live) {
		if b, ok := before[id]; ok {
			p["state"] = b["state"] // what apply would enforce
			restored = append(restored, p)
			original = append(original, b)
		}
	}
	if got := f.Check(original); len(got) != 0 {
		t.Errorf("the snapshot's policies should pass: %+v", got)
	}
	got := f.Check(restored)
	if len(got) == 0 {
		t.Fatal("enforcing the tampered policies passed the lockout check")
	}
	for _, l := range got {
		if !slices.Contains(l.Blocked, "Break Glass 1") || !slices.Contains(l.Blocked, "Break Glass 2") || !strings.Contains(l.Reason, "restore its break-glass exclusion") {
			t.Errorf("lockout %+v", l)
		}
	}
}
