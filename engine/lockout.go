package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
)

// privilegedRoles are the built-in directory roles (by template id) whose holders count
// as administrators for the lockout check: each of them can undo a bad Conditional
// Access policy, so as long as one of them can still sign in, the tenant is not lost.
var privilegedRoles = map[string]string{
	"62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
	"e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
	"b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
	"194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
}

// LockoutFacts are what the check knows about the target snapshot's people: who the
// administrators and the break-glass accounts are, and, for each of them, the groups
// they belong to (transitively) and the role template ids they hold, so that a policy's
// user conditions can be evaluated against them.
//
// Administrators are the enabled users holding a privileged built-in role (Global,
// Privileged Role, Conditional Access or Security Administrator) tenant-wide, directly or
// through a group. Break-glass accounts are the users every enabled blocking or MFA
// policy of the snapshot excludes (when there is at least one), plus the users whose
// name says they are one ("Break Glass 1", "emergency-access@...").
type LockoutFacts struct {
	people     map[string]*lockoutPerson
	admins     []string
	breakGlass []string
	// policies are the ids of the snapshot's CA policies: a policy that is not among
	// them was added since, and the fix is to switch it off, not to restore it.
	policies map[string]bool
}

// lockoutPerson is one administrator or break-glass account.
type lockoutPerson struct {
	id, name string
	guest    bool
	// groups are every group the user is a member of, through nested groups too.
	groups []string
	// roles are the role template ids the user holds at any scope; tenantRoles those
	// held tenant-wide. A policy's includeRoles is matched against roles and its
	// excludeRoles against tenantRoles: when in doubt a person is included and not
	// excluded, so that doubt makes the check stricter, never laxer.
	roles, tenantRoles []string
}

// caUsers is a policy's user condition, as sets.
type caUsers struct {
	includeAll, includeGuests                 bool
	includeUsers, includeGroups, includeRoles map[string]bool
	excludeGuests                             bool
	excludeUsers, excludeGroups, excludeRoles map[string]bool
}

// Lockout is one policy that would lock people out.
type Lockout struct {
	PolicyID   string `json:"policy_id"`
	PolicyName string `json:"policy_name"`
	// Blocked are the display names (UPN when no name) of the administrators and
	// break-glass accounts the policy blocks, sorted.
	Blocked []string `json:"blocked"`
	// Reason is one sentence: what the policy does to whom and what to fix.
	Reason string `json:"reason"`
}

// LoadLockoutFacts reads the target snapshot's users, group memberships, role
// definitions and assignments and Conditional Access policies, and works out who the
// administrators and the break-glass accounts are. Objects in a recycle bin are left
// out: nobody signs in with a deleted account.
func LoadLockoutFacts(ctx context.Context, target snapshots.State) (*LockoutFacts, error) {
	store, snap := target.Store, target.Snapshot.ID

	// A role assignment names a role definition by id; a CA policy names roles by
	// template id. They are equal for built-in roles, and a custom role's templateId
	// says which it is.
	templates := map[string]string{}
	err := store.Objects(ctx, snap, entra.KindRoleDefinition, func(o snapshots.Object) error {
		var d struct {
			TemplateID string `json:"templateId"`
		}
		if err := json.Unmarshal(o.JSON, &d); err != nil {
			return fmt.Errorf("role definition %s in snapshot %d is unreadable: %w", o.ID, snap, err)
		}
		if !o.InBin && d.TemplateID != "" {
			templates[o.ID] = d.TemplateID
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	type held struct {
		role   string
		tenant bool
	}
	roles := map[string][]held{} // principal (user or group) -> roles
	err = store.Objects(ctx, snap, entra.KindRoleAssignment, func(o snapshots.Object) error {
		var a struct {
			PrincipalID      string `json:"principalId"`
			RoleDefinitionID string `json:"roleDefinitionId"`
			DirectoryScopeID string `json:"directoryScopeId"`
		}
		if err := json.Unmarshal(o.JSON, &a); err != nil {
			return fmt.Errorf("role assignment %s in snapshot %d is unreadable: %w", o.ID, snap, err)
		}
		if o.InBin || a.PrincipalID == "" {
			return nil
		}
		role := a.RoleDefinitionID
		if t, ok := templates[role]; ok {
			role = t
		}
		roles[a.PrincipalID] = append(roles[a.PrincipalID], held{role: role, tenant: a.DirectoryScopeID == "/" || a.DirectoryScopeID == ""})
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Direct memberships, member -> groups; the transitive ones are worked out per
	// group, once, below.
	parents := map[string][]string{}
	err = store.Links(ctx, snap, func(l snapshots.Link) error {
		if l.Kind == entra.KindGroup && l.Name == "members" && (l.ToKind == entra.KindUser || l.ToKind == entra.KindGroup) {
			parents[l.To] = append(parents[l.To], l.From)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ancestors := map[string][]string{}
	closure := func(direct []string) []string {
		var out []string
		for _, g := range direct {
			out = append(out, g)
			up, ok := ancestors[g]
			if !ok {
				up = groupAncestors(g, parents)
				ancestors[g] = up
			}
			out = append(out, up...)
		}
		sort.Strings(out)
		return compactStrings(out)
	}

	// The policies a break-glass account is left out of: every enabled one that blocks
	// or asks for MFA (Microsoft's guidance is to exclude them from all of those).
	var strict []caUsers
	policies := map[string]bool{}
	err = store.Objects(ctx, snap, entra.KindConditionalAccessPolicy, func(o snapshots.Object) error {
		policies[o.ID] = true
		if o.InBin {
			return nil
		}
		p, err := o.Decode()
		if err != nil {
			return err
		}
		if s, _ := p["state"].(string); s == "enabled" && (hasControl(p, "block") || hasControl(p, "mfa") || authStrength(p)) {
			strict = append(strict, compileUsers(p))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	f := &LockoutFacts{people: map[string]*lockoutPerson{}, policies: policies}
	err = store.Objects(ctx, snap, entra.KindUser, func(o snapshots.Object) error {
		if o.InBin {
			return nil
		}
		var u struct {
			DisplayName       string `json:"displayName"`
			UserPrincipalName string `json:"userPrincipalName"`
			UserType          string `json:"userType"`
			AccountEnabled    *bool  `json:"accountEnabled"`
		}
		if err := json.Unmarshal(o.JSON, &u); err != nil {
			return fmt.Errorf("user %s in snapshot %d is unreadable: %w", o.ID, snap, err)
		}
		p := &lockoutPerson{id: o.ID, name: u.DisplayName, guest: strings.EqualFold(u.UserType, "Guest")}
		if p.name == "" {
			p.name = u.UserPrincipalName
		}
		if p.name == "" {
			p.name = o.ID
		}
		p.groups = closure(parents[o.ID])
		admin := false
		for _, holder := range append([]string{o.ID}, p.groups...) {
			for _, h := range roles[holder] {
				p.roles = append(p.roles, h.role)
				if h.tenant {
					p.tenantRoles = append(p.tenantRoles, h.role)
					if _, ok := privilegedRoles[h.role]; ok {
						admin = true
					}
				}
			}
		}
		sort.Strings(p.roles)
		p.roles = compactStrings(p.roles)
		sort.Strings(p.tenantRoles)
		p.tenantRoles = compactStrings(p.tenantRoles)
		// A disabled administrator cannot sign in whatever the policies say, so it
		// cannot be the one who is left to fix them.
		admin = admin && (u.AccountEnabled == nil || *u.AccountEnabled)
		bg := breakGlassName(u.DisplayName) || breakGlassName(u.UserPrincipalName)
		if !bg && len(strict) > 0 {
			bg = true
			for i := range strict {
				if !strict[i].excludes(p) {
					bg = false
					break
				}
			}
		}
		if admin {
			f.admins = append(f.admins, o.ID)
		}
		if bg {
			f.breakGlass = append(f.breakGlass, o.ID)
		}
		if admin || bg {
			f.people[o.ID] = p
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(f.admins)
	sort.Strings(f.breakGlass)
	return f, nil
}

// groupAncestors returns every group g is a member of, directly or through other
// groups, breadth first; a membership cycle ends where it comes back.
func groupAncestors(g string, parents map[string][]string) []string {
	seen := map[string]bool{g: true}
	var out []string
	queue := []string{g}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, p := range parents[cur] {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
				queue = append(queue, p)
			}
		}
	}
	return out
}

func compactStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := s[:1]
	for _, v := range s[1:] {
		if v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}

// breakGlassName reports whether a name says the account is an emergency-access one.
// Separators are read as spaces so that "break-glass" and "emergency_access" match too.
func breakGlassName(s string) bool {
	s = strings.ToLower(strings.NewReplacer("-", " ", "_", " ", ".", " ").Replace(s))
	return strings.Contains(s, "break glass") || strings.Contains(s, "breakglass") || strings.Contains(s, "emergency access")
}

// Admins returns the administrators' user ids, sorted.
func (f *LockoutFacts) Admins() []string { return append([]string(nil), f.admins...) }

// BreakGlass returns the break-glass accounts' user ids, sorted.
func (f *LockoutFacts) BreakGlass() []string { return append([]string(nil), f.breakGlass...) }

// Check evaluates Conditional Access policies (Graph JSON, ids in the target snapshot's
// id space, "state" already set to the state each would have once enforced) and returns
// the policies that would block every administrator or any break-glass account, sorted
// by policy name. Empty means safe.
//
// A policy blocks a person when it is enabled, its grant controls hold "block", it
// applies to all cloud apps (or Office 365, or the Microsoft admin portals, without which
// an administrator cannot repair anything), and its user condition includes the person
// and does not exclude them. Location, platform, client-app and risk conditions save
// nobody: a break-glass account must work from anywhere, and an administrator locked out
// of everything but one network is one outage away from being locked out entirely.
// Report-only and disabled policies never fail.
func (f *LockoutFacts) Check(policies []map[string]any) []Lockout {
	out := []Lockout{}
	for _, p := range policies {
		if s, _ := p["state"].(string); s != "enabled" || !hasControl(p, "block") {
			continue
		}
		apps := blockedApps(p)
		if apps == "" {
			continue
		}
		users := compileUsers(p)
		blocks := func(id string) bool {
			person := f.people[id]
			return person != nil && users.includes(person) && !users.excludes(person)
		}
		blocked := map[string]bool{}
		var glass []string
		for _, id := range f.breakGlass {
			if blocks(id) {
				blocked[id] = true
				glass = append(glass, f.people[id].name)
			}
		}
		admins := 0
		for _, id := range f.admins {
			if blocks(id) {
				blocked[id] = true
				admins++
			}
		}
		everyAdmin := len(f.admins) > 0 && admins == len(f.admins)
		if len(glass) == 0 && !everyAdmin {
			continue
		}
		var names []string
		for id := range blocked {
			names = append(names, f.people[id].name)
		}
		sort.Strings(names)
		sort.Strings(glass)
		id, _ := p["id"].(string)
		name, _ := p["displayName"].(string)
		if name == "" {
			name = id
		}
		var reason string
		switch {
		case !f.policies[id]:
			who := "every administrator (" + strings.Join(names, ", ") + ")"
			if len(glass) > 0 {
				who = accounts(glass)
				if everyAdmin {
					who += " and every administrator"
				}
			}
			reason = fmt.Sprintf("CA policy %q, which is not in the snapshot, would block %s from %s; switch it off or delete it in the tenant, then run apply again.",
				name, who, apps)
		case len(glass) > 0 && everyAdmin:
			reason = fmt.Sprintf("CA policy %q would block %s and every administrator from %s; restore its break-glass exclusion in the snapshot or exclude the accounts from it, then run apply again.",
				name, accounts(glass), apps)
		case len(glass) > 0:
			reason = fmt.Sprintf("CA policy %q would block %s from %s; restore its break-glass exclusion in the snapshot or exclude the accounts from it, then run apply again.",
				name, accounts(glass), apps)
		default:
			reason = fmt.Sprintf("CA policy %q would block every administrator (%s) from %s; exclude a break-glass account or an administrators' group or role from it in the snapshot, then run apply again.",
				name, strings.Join(names, ", "), apps)
		}
		out = append(out, Lockout{PolicyID: id, PolicyName: name, Blocked: names, Reason: reason})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PolicyName != out[j].PolicyName {
			return out[i].PolicyName < out[j].PolicyName
		}
		return out[i].PolicyID < out[j].PolicyID
	})
	return out
}

func accounts(names []string) string {
	if len(names) == 1 {
		return "break-glass account " + names[0]
	}
	return "break-glass accounts " + strings.Join(names, ", ")
}

// blockedApps names what a policy's application condition covers when it is enough to
// lock an administrator out ("" when it is not): all cloud apps, Office 365 or the
// admin portals. Excluded applications do not narrow it: the apps an administrator
// needs to repair a tenant are rarely the ones left out.
func blockedApps(p map[string]any) string {
	var names []string
	for _, a := range jsonStrings(p, "conditions", "applications", "includeApplications") {
		switch {
		case strings.EqualFold(a, "All"):
			return "all cloud apps"
		case strings.EqualFold(a, "Office365"):
			names = append(names, "Office 365")
		case strings.EqualFold(a, "MicrosoftAdminPortals"):
			names = append(names, "the Microsoft admin portals")
		}
	}
	sort.Strings(names)
	return strings.Join(compactStrings(names), " and ")
}

// hasControl reports whether a policy's grant controls hold a built-in control.
func hasControl(p map[string]any, control string) bool {
	for _, c := range jsonStrings(p, "grantControls", "builtInControls") {
		if strings.EqualFold(c, control) {
			return true
		}
	}
	return false
}

// authStrength reports whether a policy requires an authentication strength, which is
// MFA by another name.
func authStrength(p map[string]any) bool {
	g, _ := p["grantControls"].(map[string]any)
	return g != nil && g["authenticationStrength"] != nil
}

// jsonStrings returns the strings of the array at path in a decoded JSON object.
func jsonStrings(obj map[string]any, path ...string) []string {
	var cur any = obj
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	arr, _ := cur.([]any)
	out := make([]string, 0, len(arr))
	for _, v := range arr {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func stringSet(vs []string) map[string]bool {
	m := make(map[string]bool, len(vs))
	for _, v := range vs {
		m[v] = true
	}
	return m
}

// compileUsers reads a policy's user condition.
func compileUsers(p map[string]any) caUsers {
	path := func(k string) []string { return jsonStrings(p, "conditions", "users", k) }
	c := caUsers{
		includeUsers: stringSet(path("includeUsers")), includeGroups: stringSet(path("includeGroups")), includeRoles: stringSet(path("includeRoles")),
		excludeUsers: stringSet(path("excludeUsers")), excludeGroups: stringSet(path("excludeGroups")), excludeRoles: stringSet(path("excludeRoles")),
	}
	for u := range c.includeUsers {
		switch {
		case strings.EqualFold(u, "All"):
			c.includeAll = true
		case strings.EqualFold(u, "GuestsOrExternalUsers"):
			c.includeGuests = true
		}
	}
	for u := range c.excludeUsers {
		if strings.EqualFold(u, "GuestsOrExternalUsers") {
			c.excludeGuests = true
		}
	}
	// The object form of the guest condition includes guests too; its exclude form is
	// not honoured, because it may name only some kinds of external user.
	if users, _ := jsonPath(p, "conditions", "users").(map[string]any); users != nil && users["includeGuestsOrExternalUsers"] != nil {
		c.includeGuests = true
	}
	return c
}

func jsonPath(obj map[string]any, path ...string) any {
	var cur any = obj
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func anyIn(vs []string, set map[string]bool) bool {
	for _, v := range vs {
		if set[v] {
			return true
		}
	}
	return false
}

// includes reports whether the user condition takes the person in.
func (c *caUsers) includes(p *lockoutPerson) bool {
	return c.includeAll || c.includeUsers[p.id] || (c.includeGuests && p.guest) ||
		anyIn(p.groups, c.includeGroups) || anyIn(p.roles, c.includeRoles)
}

// excludes reports whether the user condition leaves the person out.
func (c *caUsers) excludes(p *lockoutPerson) bool {
	return c.excludeUsers[p.id] || (c.excludeGuests && p.guest) ||
		anyIn(p.groups, c.excludeGroups) || anyIn(p.tenantRoles, c.excludeRoles)
}
