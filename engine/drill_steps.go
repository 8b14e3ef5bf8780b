package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// The incidents' building blocks. Each reads what it needs live, draws its targets from
// its own seeded stream, writes as the attacker, and adds what it did to the report.

// Well-known directory role template ids.
const (
	drillRoleGA  = "62e90394-69f5-4237-9190-012177145e10"
	drillRolePRA = "e8611ab8-c189-46e8-94e1-60213ab1f814"
)

const drillReportOnly = "enabledForReportingButNotEnforced"

var (
	drillUserSelect  = []string{"id", "displayName", "userPrincipalName", "department", "jobTitle", "usageLocation", "accountEnabled"}
	drillGroupSelect = []string{"id", "displayName", "groupTypes", "isAssignableToRole", "securityEnabled"}
	drillRoleSelect  = []string{"id", "principalId", "roleDefinitionId", "directoryScopeId"}
)

// backdoorPrefix begins the attacker's own accounts' userPrincipalNames.
const backdoorPrefix = "svc-synchelper-"

// liveUsers are the tenant's users, the attacker's own accounts left out (those of
// this incident, and those an earlier drill on the tenant created).
func (in *injector) liveUsers(ctx context.Context) ([]drillObj, error) {
	all, err := in.list(ctx, "/users", drillUserSelect, false)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, u := range all {
		if !in.created[dstr(u, "id")] && !strings.HasPrefix(strings.ToLower(dstr(u, "userPrincipalName")), backdoorPrefix) {
			out = append(out, u)
		}
	}
	return out, nil
}

// drillApps are the tenant's applications, the sim's own drill apps (the operator's and
// the attacker's) left out.
func (in *injector) drillApps(ctx context.Context) ([]drillObj, error) {
	all, err := in.list(ctx, "/applications", []string{"id", "appId", "displayName"}, false)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, a := range all {
		if app := dstr(a, "appId"); !strings.EqualFold(app, graphapi.DrillClientID) && !strings.EqualFold(app, graphapi.AttackerClientID) {
			out = append(out, a)
		}
	}
	return out, nil
}

func (in *injector) policies(ctx context.Context) ([]drillObj, error) {
	return in.list(ctx, "/identity/conditionalAccess/policies", nil, false)
}

// breakGlass are the users Conditional Access policies exclude by id: the emergency
// access accounts, as Microsoft recommends. The incident remembers them, so that a step
// after the exclusions were removed still knows them.
func (in *injector) breakGlass(policies []drillObj) map[string]bool {
	if in.bg == nil {
		in.bg = map[string]bool{}
	}
	bg := in.bg
	spec := entra.MustLookup(entra.KindConditionalAccessPolicy)
	for _, p := range policies {
		for _, r := range spec.ExtractReferences(p) {
			if strings.HasSuffix(r.Reference.Path, "excludeUsers[]") {
				bg[r.ID] = true
			}
		}
	}
	return bg
}

// drillPolicyRefs maps each id a policy names through the given property paths (ending in
// "[]") to the policies naming it.
func drillPolicyRefs(policies []drillObj, kinds ...string) map[string][]string {
	out := map[string][]string{}
	spec := entra.MustLookup(entra.KindConditionalAccessPolicy)
	for _, p := range policies {
		for _, r := range spec.ExtractReferences(p) {
			for _, k := range kinds {
				if strings.HasSuffix(r.Reference.Path, k+"[]") && !slices.Contains(out[r.ID], dstr(p, "id")) {
					out[r.ID] = append(out[r.ID], dstr(p, "id"))
				}
			}
		}
	}
	return out
}

// deleteUsers soft-deletes part of the users. With admins, every Global Administrator
// but one (the survivor a recovery needs) goes, and half of the other role holders;
// without, only users holding no role.
func (in *injector) deleteUsers(ctx context.Context, label string, part drillShare, admins bool) error {
	r := in.rng(label + "/users")
	users, err := in.liveUsers(ctx)
	if err != nil {
		return err
	}
	ras, err := in.list(ctx, "/roleManagement/directory/roleAssignments", drillRoleSelect, false)
	if err != nil {
		return err
	}
	policies, err := in.policies(ctx)
	if err != nil {
		return err
	}
	bg := in.breakGlass(policies)
	byID := map[string]drillObj{}
	for _, u := range users {
		byID[dstr(u, "id")] = u
	}
	ga, roleHolders := map[string]bool{}, map[string]bool{}
	for _, ra := range ras {
		p := dstr(ra, "principalId")
		if byID[p] == nil {
			continue
		}
		roleHolders[p] = true
		if strings.EqualFold(dstr(ra, "roleDefinitionId"), drillRoleGA) && dstr(ra, "directoryScopeId") == "/" {
			ga[p] = true
		}
	}
	// The survivor: a Global Administrator, enabled when one is.
	var enabledGA []string
	for _, id := range drillKeys(ga) {
		if byID[id]["accountEnabled"] == true {
			enabledGA = append(enabledGA, id)
		}
	}
	if len(enabledGA) == 0 {
		enabledGA = drillKeys(ga)
	}
	survivor := ""
	if len(enabledGA) > 0 {
		survivor = drillPick(r, enabledGA, 1)[0]
	}
	var gaOthers, otherAdmins, plain []string
	for _, u := range users {
		id := dstr(u, "id")
		switch {
		case id == survivor:
		case ga[id]:
			gaOthers = append(gaOthers, id)
		case roleHolders[id]:
			otherAdmins = append(otherAdmins, id)
		default:
			plain = append(plain, id)
		}
	}
	n := part.of(len(users))
	var chosen []string
	if admins {
		chosen = append(chosen, drillPick(r, gaOthers, len(gaOthers))...)
		chosen = append(chosen, drillPick(r, otherAdmins, drillShare{0.5, 1}.of(len(otherAdmins)))...)
	}
	chosen = append(chosen, drillPick(r, plain, len(plain))...)
	chosen = chosen[:min(n, len(chosen))]

	reqs := make([]graphapi.Request, len(chosen))
	for i, id := range chosen {
		reqs[i] = graphapi.Request{Method: http.MethodDelete, Path: "/users/" + id}
	}
	ok, err := in.send(ctx, "soft-deleting users", reqs, false)
	done := drillOK(chosen, ok)
	nAdmin, nGA, nBG := 0, 0, 0
	for _, id := range done {
		if roleHolders[id] {
			nAdmin++
		}
		if ga[id] {
			nGA++
		}
		if bg[id] {
			nBG++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Deleted %s, soft-deleted and kept in the recycle bin", drillPlural(len(done), "user", "users"))
	if nAdmin > 0 {
		fmt.Fprintf(&b, "; %s among them", drillPlural(nAdmin, "administrator", "administrators"))
		switch {
		case nGA > 0 && nBG > 0 && nBG <= nGA:
			fmt.Fprintf(&b, " (%s, %s)", drillPlural(nGA, "Global Administrator", "Global Administrators"),
				drillPick2(nBG, "one of them a break-glass account", fmt.Sprintf("%d of them break-glass accounts", nBG)))
		case nGA > 0 || nBG > 0:
			fmt.Fprintf(&b, " (%s)", drillList(drillPart(nGA, "Global Administrator", "Global Administrators"), drillPart(nBG, "break-glass account", "break-glass accounts")))
		}
	}
	if admins && survivor != "" {
		fmt.Fprintf(&b, "; Global Administrator %s was spared so that a recovery is possible", dstr(byID[survivor], "userPrincipalName"))
	}
	b.WriteString(".")
	in.rep.add("soft-delete", string(entra.KindUser), done, b.String())
	in.markBinned(string(entra.KindUser), done)
	return err
}

// deleteGroups deletes part of the groups that Conditional Access policies, directory
// role assignments and app role assignments point at (part of each), and with purge
// deletes them permanently from the recycle bin.
func (in *injector) deleteGroups(ctx context.Context, label string, part drillShare, purge bool) error {
	r := in.rng(label + "/groups")
	groups, err := in.list(ctx, "/groups", drillGroupSelect, false)
	if err != nil {
		return err
	}
	live := map[string]drillObj{}
	for _, g := range groups {
		live[dstr(g, "id")] = g
	}
	policies, err := in.policies(ctx)
	if err != nil {
		return err
	}
	caRefs := drillPolicyRefs(policies, "includeGroups", "excludeGroups")
	ras, err := in.list(ctx, "/roleManagement/directory/roleAssignments", drillRoleSelect, false)
	if err != nil {
		return err
	}
	roleRefs := map[string]int{}
	for _, ra := range ras {
		if p := dstr(ra, "principalId"); live[p] != nil {
			roleRefs[p]++
		}
	}
	ids := drillKeys(live)
	paths := make([]string, len(ids))
	for i, id := range ids {
		paths[i] = "/groups/" + id + "/appRoleAssignments?$select=id,resourceId"
	}
	lists, err := in.batchList(ctx, paths)
	if err != nil {
		return err
	}
	appRoleRefs := map[string]int{}
	for i, l := range lists {
		if len(l) > 0 {
			appRoleRefs[ids[i]] = len(l)
		}
	}
	var fromCA, fromRoles, fromAppRoles []string
	for _, id := range ids {
		if len(caRefs[id]) > 0 {
			fromCA = append(fromCA, id)
		}
		if roleRefs[id] > 0 {
			fromRoles = append(fromRoles, id)
		}
		if appRoleRefs[id] > 0 {
			fromAppRoles = append(fromAppRoles, id)
		}
	}
	chosenSet := map[string]bool{}
	for _, set := range [][]string{fromCA, fromRoles, fromAppRoles} {
		for _, id := range drillPick(r, set, part.of(len(set))) {
			chosenSet[id] = true
		}
	}
	chosen := drillKeys(chosenSet)
	nCA, nRoles, nAppRoles := 0, 0, 0
	policiesNaming := map[string]bool{}
	for _, id := range chosen {
		if len(caRefs[id]) > 0 {
			nCA++
			for _, p := range caRefs[id] {
				policiesNaming[p] = true
			}
		}
		if roleRefs[id] > 0 {
			nRoles++
		}
		if appRoleRefs[id] > 0 {
			nAppRoles++
		}
	}
	reqs := make([]graphapi.Request, len(chosen))
	for i, id := range chosen {
		reqs[i] = graphapi.Request{Method: http.MethodDelete, Path: "/groups/" + id}
	}
	ok, err := in.send(ctx, "deleting groups", reqs, false)
	done := drillOK(chosen, ok)
	kept := ", soft-deleted and kept in the recycle bin"
	if purge {
		kept = ""
	}
	in.rep.add("soft-delete", string(entra.KindGroup), done, fmt.Sprintf(
		"Deleted %s that other objects point at (%s)%s.", drillPlural(len(done), "group", "groups"),
		drillList(drillPart(nCA, "named by Conditional Access", "named by Conditional Access"), drillPart(nRoles, "holding directory roles", "holding directory roles"),
			drillPart(nAppRoles, "holding app role assignments", "holding app role assignments")), kept))
	in.markBinned(string(entra.KindGroup), done)
	if err != nil || !purge {
		return err
	}
	roleLinks, appRoleLinks := 0, 0
	for _, id := range done {
		roleLinks += roleRefs[id]
		appRoleLinks += appRoleRefs[id]
	}
	reqs = make([]graphapi.Request, len(done))
	for i, id := range done {
		reqs[i] = graphapi.Request{Method: http.MethodDelete, Path: "/directory/deletedItems/" + id}
	}
	ok, err = in.send(ctx, "permanently deleting groups", reqs, false)
	purged := drillOK(done, ok)
	var b strings.Builder
	fmt.Fprintf(&b, "Permanently deleted %s from the recycle bin", drillPick2(len(purged), "that group", fmt.Sprintf("those %d groups", len(purged))))
	if gone := drillList(drillPart(roleLinks, "role assignment", "role assignments"), drillPart(appRoleLinks, "app role assignment", "app role assignments")); gone != "" {
		fmt.Fprintf(&b, "; %s went with %s", gone, drillPick2(len(purged), "it", "them"))
	}
	if n := len(policiesNaming); n > 0 {
		fmt.Fprintf(&b, "; %s still %s %s", drillPlural(n, "Conditional Access policy", "Conditional Access policies"), drillPick2(n, "names", "name"),
			drillPick2(len(purged), "its id", "their ids"))
	}
	b.WriteString(".")
	in.rep.add("purge", string(entra.KindGroup), purged, b.String())
	in.forgetBinned(purged)
	return err
}

// deleteApps deletes part of the applications (one Conditional Access names at least,
// when there is one) with their service principals, after deleting the delegated grants
// and app role assignments of those service principals; purgePart of them are then
// deleted permanently, service principals included.
func (in *injector) deleteApps(ctx context.Context, label string, part, purgePart drillShare) error {
	r := in.rng(label + "/apps")
	apps, err := in.drillApps(ctx)
	if err != nil {
		return err
	}
	sps, err := in.list(ctx, "/servicePrincipals", []string{"id", "appId", "displayName"}, false)
	if err != nil {
		return err
	}
	spOf := map[string]string{}
	for _, sp := range sps {
		spOf[strings.ToLower(dstr(sp, "appId"))] = dstr(sp, "id")
	}
	policies, err := in.policies(ctx)
	if err != nil {
		return err
	}
	caApps := drillPolicyRefs(policies, "includeApplications", "excludeApplications")
	appByID := map[string]drillObj{}
	var ids []string
	for _, a := range apps {
		appByID[dstr(a, "id")] = a
		ids = append(ids, dstr(a, "id"))
	}
	named := func(id string) bool { return len(caApps[dstr(appByID[id], "appId")]) > 0 }
	order := drillPick(r, ids, len(ids))
	chosen := order[:part.of(len(order))]
	if !slices.ContainsFunc(chosen, named) && len(chosen) > 0 {
		if i := slices.IndexFunc(order, named); i >= 0 {
			chosen = append(chosen[:len(chosen)-1:len(chosen)-1], order[i])
		}
	}
	sort.Strings(chosen)
	var targetSPs []string
	spSet := map[string]bool{}
	for _, id := range chosen {
		if sp := spOf[strings.ToLower(dstr(appByID[id], "appId"))]; sp != "" {
			targetSPs = append(targetSPs, sp)
			spSet[sp] = true
		}
	}

	// Their delegated grants and app role assignments, both ways.
	grants, err := in.list(ctx, "/oauth2PermissionGrants", []string{"id", "clientId", "resourceId"}, false)
	if err != nil {
		return err
	}
	var grantIDs []string
	for _, g := range grants {
		if spSet[dstr(g, "clientId")] || spSet[dstr(g, "resourceId")] {
			grantIDs = append(grantIDs, dstr(g, "id"))
		}
	}
	var paths []string
	for _, sp := range targetSPs {
		paths = append(paths, "/servicePrincipals/"+sp+"/appRoleAssignedTo?$select=id,resourceId",
			"/servicePrincipals/"+sp+"/appRoleAssignments?$select=id,resourceId")
	}
	lists, err := in.batchList(ctx, paths)
	if err != nil {
		return err
	}
	resourceOf := map[string]string{}
	for _, l := range lists {
		for _, a := range l {
			resourceOf[dstr(a, "id")] = dstr(a, "resourceId")
		}
	}
	assignIDs := drillKeys(resourceOf)

	reqs := make([]graphapi.Request, len(grantIDs))
	for i, id := range grantIDs {
		reqs[i] = graphapi.Request{Method: http.MethodDelete, Path: "/oauth2PermissionGrants/" + id}
	}
	ok, err := in.send(ctx, "deleting delegated permission grants", reqs, false)
	done := drillOK(grantIDs, ok)
	in.rep.add("delete", string(entra.KindOAuth2PermissionGrant), done, fmt.Sprintf(
		"Deleted %s given to or by the service principals of the applications below (grants have no recycle bin).",
		drillPlural(len(done), "delegated permission grant", "delegated permission grants")))
	if err != nil {
		return err
	}
	reqs = make([]graphapi.Request, len(assignIDs))
	for i, id := range assignIDs {
		reqs[i] = graphapi.Request{Method: http.MethodDelete, Path: "/servicePrincipals/" + resourceOf[id] + "/appRoleAssignedTo/" + id}
	}
	ok, err = in.send(ctx, "deleting app role assignments", reqs, false)
	done = drillOK(assignIDs, ok)
	in.rep.add("delete", string(entra.KindAppRoleAssignment), done, fmt.Sprintf(
		"Deleted %s to and from those service principals (no recycle bin either).",
		drillPlural(len(done), "app role assignment", "app role assignments")))
	if err != nil {
		return err
	}

	reqs = make([]graphapi.Request, len(chosen))
	for i, id := range chosen {
		reqs[i] = graphapi.Request{Method: http.MethodDelete, Path: "/applications/" + id}
	}
	ok, err = in.send(ctx, "deleting applications", reqs, false)
	doneApps := drillOK(chosen, ok)
	nNamed, namedBy := 0, map[string]bool{}
	for _, id := range doneApps {
		if named(id) {
			nNamed++
			for _, p := range caApps[dstr(appByID[id], "appId")] {
				namedBy[p] = true
			}
		}
	}
	named2 := ""
	if nNamed > 0 {
		which := fmt.Sprintf("%d of them", nNamed)
		switch {
		case len(doneApps) == 1:
			which = "it"
		case nNamed == 1:
			which = "one of them"
		}
		named2 = fmt.Sprintf("; %s still %s %s by its dangling appId", drillPlural(len(namedBy), "Conditional Access policy", "Conditional Access policies"),
			drillPick2(len(namedBy), "names", "name"), which)
		if nNamed > 1 {
			named2 = strings.Replace(named2, "its dangling appId", "their dangling appIds", 1)
		}
	}
	in.rep.add("soft-delete", string(entra.KindApplication), doneApps, fmt.Sprintf(
		"Deleted %s, soft-deleted and kept in the recycle bin%s.", drillPlural(len(doneApps), "application", "applications"), named2))
	in.markBinned(string(entra.KindApplication), doneApps)
	if err != nil {
		return err
	}

	// Deleting an application deletes its service principal; delete any that stayed.
	binnedSPs := map[string]bool{}
	bin, err := in.list(ctx, "/directory/deletedItems/microsoft.graph.servicePrincipal", []string{"id"}, false)
	if err != nil {
		return err
	}
	for _, o := range bin {
		binnedSPs[dstr(o, "id")] = true
	}
	var left []string
	for _, sp := range targetSPs {
		if !binnedSPs[sp] {
			left = append(left, sp)
		}
	}
	reqs = make([]graphapi.Request, len(left))
	for i, id := range left {
		reqs[i] = graphapi.Request{Method: http.MethodDelete, Path: "/servicePrincipals/" + id}
	}
	ok, err = in.send(ctx, "deleting service principals", reqs, false)
	var doneSPs []string
	for _, sp := range targetSPs {
		if binnedSPs[sp] {
			doneSPs = append(doneSPs, sp)
		}
	}
	doneSPs = append(doneSPs, drillOK(left, ok)...)
	in.rep.add("soft-delete", string(entra.KindServicePrincipal), doneSPs, fmt.Sprintf(
		"%s went to the recycle bin with %s.", drillPick2(len(doneSPs), "Its service principal", fmt.Sprintf("Their %d service principals", len(doneSPs))),
		drillPick2(len(doneSPs), "it", "them")))
	in.markBinned(string(entra.KindServicePrincipal), doneSPs)
	if err != nil {
		return err
	}

	// Some of them for good.
	purgeApps := drillPick(r, doneApps, purgePart.of(len(doneApps)))
	sort.Strings(purgeApps)
	if len(purgeApps) == 0 {
		return nil
	}
	var purgeIDs, kinds []string
	for _, id := range purgeApps {
		purgeIDs, kinds = append(purgeIDs, id), append(kinds, string(entra.KindApplication))
		if sp := spOf[strings.ToLower(dstr(appByID[id], "appId"))]; sp != "" && slices.Contains(doneSPs, sp) {
			purgeIDs, kinds = append(purgeIDs, sp), append(kinds, string(entra.KindServicePrincipal))
		}
	}
	reqs = make([]graphapi.Request, len(purgeIDs))
	for i, id := range purgeIDs {
		reqs[i] = graphapi.Request{Method: http.MethodDelete, Path: "/directory/deletedItems/" + id}
	}
	ok, err = in.send(ctx, "permanently deleting applications and service principals", reqs, false)
	var pApps, pSPs []string
	for i, id := range purgeIDs {
		if !ok[i] {
			continue
		}
		if kinds[i] == string(entra.KindApplication) {
			pApps = append(pApps, id)
		} else {
			pSPs = append(pSPs, id)
		}
	}
	in.rep.add("purge", string(entra.KindApplication), pApps, fmt.Sprintf(
		"Permanently deleted %d of those applications from the recycle bin: %s.", len(pApps),
		drillPick2(len(pApps), "it must be recreated, with a new appId", "they must be recreated, with new appIds")))
	in.rep.add("purge", string(entra.KindServicePrincipal), pSPs, fmt.Sprintf(
		"Permanently deleted %s as well.", drillPick2(len(pSPs), "its service principal", fmt.Sprintf("their %d service principals", len(pSPs)))))
	in.forgetBinned(pApps)
	in.forgetBinned(pSPs)
	return err
}

// drillCAOptions say how hard a Conditional Access tampering hits.
type drillCAOptions struct {
	// deletePolicies and deleteLocations go to the CA recycle bin; with purge, half of
	// each (rounded down) are then deleted from it for good.
	deletePolicies, deleteLocations drillShare
	purge                           bool
	// Of the policies left: breakGlass lose their break-glass exclusions; of the enabled
	// ones, reportOnly are switched to report-only and then disable disabled; weaken of
	// those requiring MFA get weaker grant controls.
	breakGlass, reportOnly, disable, weaken drillShare
	// lockout pushes, last, a new enabled policy that blocks every user (pushLockout).
	lockout bool
}

// tamperCA changes, deletes and purges Conditional Access policies and named locations,
// one request at a time (Graph allows one such request per second per tenant).
func (in *injector) tamperCA(ctx context.Context, label string, o drillCAOptions) error {
	r := in.rng(label + "/ca")
	policies, err := in.policies(ctx)
	if err != nil {
		return err
	}
	locations, err := in.list(ctx, "/identity/conditionalAccess/namedLocations", nil, false)
	if err != nil {
		return err
	}
	bg := in.breakGlass(policies)
	byID := map[string]drillObj{}
	var ids []string
	for _, p := range policies {
		byID[dstr(p, "id")] = p
		ids = append(ids, dstr(p, "id"))
	}
	delPolicies := drillPick(r, ids, o.deletePolicies.of(len(ids)))
	var rest []string
	for _, id := range ids {
		if !slices.Contains(delPolicies, id) {
			rest = append(rest, id)
		}
	}
	var withBG, enabled, mfa []string
	for _, id := range rest {
		p := byID[id]
		if slices.ContainsFunc(dstrList(dchild(p, "conditions", "users")["excludeUsers"]), func(u string) bool { return bg[u] }) {
			withBG = append(withBG, id)
		}
		if dstr(p, "state") == "enabled" {
			enabled = append(enabled, id)
		}
		if slices.Contains(dstrList(dchild(p, "grantControls")["builtInControls"]), "mfa") {
			mfa = append(mfa, id)
		}
	}
	dropBG := drillPick(r, withBG, o.breakGlass.of(len(withBG)))
	toReport := drillPick(r, enabled, o.reportOnly.of(len(enabled)))
	var stillEnabled []string
	for _, id := range enabled {
		if !slices.Contains(toReport, id) {
			stillEnabled = append(stillEnabled, id)
		}
	}
	toDisable := drillPick(r, stillEnabled, o.disable.of(len(stillEnabled)))
	toWeaken := drillPick(r, mfa, o.weaken.of(len(mfa)))

	// One PATCH per policy, with every change it gets.
	var patched []string
	var reqs []graphapi.Request
	for _, id := range rest {
		body := map[string]any{}
		p := byID[id]
		if slices.Contains(dropBG, id) {
			conds := dchild(p, "conditions")
			users := dchild(conds, "users")
			var keep []any
			for _, u := range dstrList(users["excludeUsers"]) {
				if !bg[u] {
					keep = append(keep, u)
				}
			}
			users["excludeUsers"] = append([]any{}, keep...)
			body["conditions"] = conds
		}
		switch {
		case slices.Contains(toReport, id):
			body["state"] = drillReportOnly
		case slices.Contains(toDisable, id):
			body["state"] = "disabled"
		}
		if slices.Contains(toWeaken, id) {
			gc := dchild(p, "grantControls")
			ctrls := dstrList(gc["builtInControls"])
			if len(ctrls) > 1 {
				ctrls = slices.DeleteFunc(ctrls, func(c string) bool { return c == "mfa" })
			} else {
				// MFA alone: make it one option among two.
				ctrls = []string{"mfa", "domainJoinedDevice"}
				gc["operator"] = "OR"
			}
			gc["builtInControls"] = ctrls
			body["grantControls"] = gc
		}
		if len(body) == 0 {
			continue
		}
		patched = append(patched, id)
		reqs = append(reqs, graphapi.Request{Method: http.MethodPatch, Path: "/identity/conditionalAccess/policies/" + id, Body: drillBody(body)})
	}
	ok, err := in.send(ctx, "changing Conditional Access policies", reqs, true)
	done := drillOK(patched, ok)
	only := func(set []string) []string {
		var out []string
		for _, id := range set {
			if slices.Contains(done, id) {
				out = append(out, id)
			}
		}
		return out
	}
	in.rep.add("remove-break-glass-exclusion", string(entra.KindConditionalAccessPolicy), only(dropBG), fmt.Sprintf(
		"Removed the %s from the exclusions of %s: nothing spares them any more.",
		drillPlural(len(bg), "break-glass account", "break-glass accounts"), drillPlural(len(only(dropBG)), "Conditional Access policy", "Conditional Access policies")))
	in.rep.add("set-report-only", string(entra.KindConditionalAccessPolicy), only(toReport), fmt.Sprintf(
		"Switched %s to report-only (%s), which enforces nothing.", drillPlural(len(only(toReport)), "enabled policy", "enabled policies"), drillReportOnly))
	in.rep.add("disable-policy", string(entra.KindConditionalAccessPolicy), only(toDisable), fmt.Sprintf(
		"Disabled %s.", drillPlural(len(only(toDisable)), "enabled policy", "enabled policies")))
	in.rep.add("weaken-grant-controls", string(entra.KindConditionalAccessPolicy), only(toWeaken), fmt.Sprintf(
		"Weakened the grant controls of %s that required MFA: MFA is removed where other controls remain, or made optional (OR a domain-joined device) where it stood alone.",
		drillPlural(len(only(toWeaken)), "policy", "policies")))
	if err != nil {
		return err
	}

	// Deletions to the CA recycle bin, then some purged from it.
	var locIDs []string
	locNamed := drillPolicyRefs(policies, "includeLocations", "excludeLocations")
	for _, l := range locations {
		locIDs = append(locIDs, dstr(l, "id"))
	}
	delLocations := drillPick(r, locIDs, o.deleteLocations.of(len(locIDs)))
	purgePolicies := drillPick(r, delPolicies, len(delPolicies)/2)
	purgeLocations := drillPick(r, delLocations, len(delLocations)/2)
	if !o.purge {
		purgePolicies, purgeLocations = nil, nil
	}
	for _, step := range []struct {
		kind   entra.Kind
		ids    []string
		path   string
		noun   string
		purged []string
	}{
		{entra.KindConditionalAccessPolicy, delPolicies, "/identity/conditionalAccess/policies/", "Conditional Access policy|Conditional Access policies", purgePolicies},
		{entra.KindNamedLocation, delLocations, "/identity/conditionalAccess/namedLocations/", "named location|named locations", purgeLocations},
	} {
		ids := append([]string(nil), step.ids...)
		sort.Strings(ids)
		one, many, _ := strings.Cut(step.noun, "|")
		reqs := make([]graphapi.Request, len(ids))
		for i, id := range ids {
			reqs[i] = graphapi.Request{Method: http.MethodDelete, Path: step.path + id}
		}
		ok, err := in.send(ctx, "deleting "+many, reqs, true)
		done := drillOK(ids, ok)
		extra := ""
		if step.kind == entra.KindNamedLocation {
			used := 0
			for _, id := range done {
				if len(locNamed[id]) > 0 {
					used++
				}
			}
			switch {
			case used == 1 && len(done) == 1:
				extra = " (used by policies, which keep naming it)"
			case used > 0:
				extra = fmt.Sprintf(" (%d of them used by policies, which keep naming them)", used)
			}
		}
		in.rep.add("soft-delete", string(step.kind), done, fmt.Sprintf("Deleted %s%s to the Conditional Access recycle bin (beta).", drillPlural(len(done), one, many), extra))
		in.markBinned(string(step.kind), done)
		if err != nil {
			return err
		}
		purged := append([]string(nil), step.purged...)
		sort.Strings(purged)
		container := "policies"
		if step.kind == entra.KindNamedLocation {
			container = "namedLocations"
		}
		reqs = make([]graphapi.Request, len(purged))
		for i, id := range purged {
			reqs[i] = graphapi.Request{Method: http.MethodDelete, Path: "/identity/conditionalAccess/deletedItems/" + container + "/" + id, Beta: true}
		}
		ok, err = in.send(ctx, "permanently deleting "+many, reqs, true)
		done = drillOK(purged, ok)
		in.rep.add("purge", string(step.kind), done, fmt.Sprintf("Permanently deleted %d of those %s from the Conditional Access recycle bin.", len(done), many))
		in.forgetBinned(done)
		if err != nil {
			return err
		}
	}
	if o.lockout {
		return in.pushLockout(ctx)
	}
	return nil
}

// pushLockout creates an enabled policy that blocks every user from every app, named to
// pass for housekeeping: the lockout itself, which no snapshot before it holds.
func (in *injector) pushLockout(ctx context.Context) error {
	resp, err := in.at.Do(ctx, graphapi.Request{Method: http.MethodPost, Path: "/identity/conditionalAccess/policies", Body: drillBody(map[string]any{
		"displayName": "Block legacy authentication (all apps)", "state": "enabled",
		"conditions": map[string]any{"users": map[string]any{"includeUsers": []string{"All"}},
			"applications": map[string]any{"includeApplications": []string{"All"}}, "clientAppTypes": []string{"all"}},
		"grantControls": map[string]any{"operator": "OR", "builtInControls": []string{"block"}},
	})})
	if err != nil {
		return drillSeqFailure("pushing the blocking policy", 0, 1, err)
	}
	var p struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(resp.Body, &p) != nil || p.ID == "" {
		return fmt.Errorf("while pushing the blocking policy: POST /identity/conditionalAccess/policies answered without the new policy's id")
	}
	in.created[p.ID] = true
	in.rep.add("create", string(entra.KindConditionalAccessPolicy), []string{p.ID},
		"Pushed an enabled policy, \"Block legacy authentication (all apps)\", that in fact blocks every user from every app, administrators and break-glass accounts included: the lockout.")
	return nil
}

// drillUsageLocations are the countries tampering moves users to.
var drillUsageLocations = []string{"US", "GB", "DE", "FR", "NL", "IE", "IN", "BR", "JP", "AU", "CA", "SG"}

// tamperAttributes changes the department, job title and usage location of part of the
// users, and disables some: each chosen user gets one to four of these changes.
func (in *injector) tamperAttributes(ctx context.Context, label string, part drillShare) error {
	r := in.rng(label + "/attributes")
	users, err := in.liveUsers(ctx)
	if err != nil {
		return err
	}
	var depts, titles []string
	for _, u := range users {
		if d := dstr(u, "department"); d != "" && !slices.Contains(depts, d) {
			depts = append(depts, d)
		}
		if t := dstr(u, "jobTitle"); t != "" && !slices.Contains(titles, t) {
			titles = append(titles, t)
		}
	}
	sort.Strings(depts)
	sort.Strings(titles)
	other := func(pool []string, cur, fallback string) string {
		var c []string
		for _, v := range pool {
			if v != cur {
				c = append(c, v)
			}
		}
		if len(c) == 0 {
			return fallback
		}
		return c[r.IntN(len(c))]
	}
	byID := map[string]drillObj{}
	var ids []string
	for _, u := range users {
		byID[dstr(u, "id")] = u
		ids = append(ids, dstr(u, "id"))
	}
	chosen := drillPick(r, ids, part.of(len(ids)))
	sort.Strings(chosen)
	props := []string{"department", "jobTitle", "usageLocation", "accountEnabled"}
	changed := map[string][]string{}
	reqs := make([]graphapi.Request, len(chosen))
	for i, id := range chosen {
		u := byID[id]
		mask := 1 + r.IntN(15)
		if u["accountEnabled"] != true {
			mask &^= 8
		}
		if mask == 0 {
			mask = 1
		}
		body := map[string]any{}
		for bit, p := range props {
			if mask&(1<<bit) == 0 {
				continue
			}
			switch p {
			case "department":
				body[p] = other(depts, dstr(u, p), "Contractors")
			case "jobTitle":
				body[p] = other(titles, dstr(u, p), "Contractor")
			case "usageLocation":
				body[p] = other(drillUsageLocations, dstr(u, p), "US")
			case "accountEnabled":
				body[p] = false
			}
			changed[p] = append(changed[p], id)
		}
		reqs[i] = graphapi.Request{Method: http.MethodPatch, Path: "/users/" + id, Body: drillBody(body)}
	}
	ok, err := in.send(ctx, "changing user attributes", reqs, false)
	for _, c := range []struct{ prop, action, summary string }{
		{"department", "set-department", "Moved %s to another department (dynamic groups follow the department)."},
		{"jobTitle", "set-jobTitle", "Changed the job title of %s."},
		{"usageLocation", "set-usageLocation", "Changed the usage location of %s."},
		{"accountEnabled", "disable-account", "Disabled %s (accountEnabled false)."},
	} {
		var done []string
		for _, id := range changed[c.prop] {
			if ok[slices.Index(chosen, id)] {
				done = append(done, id)
			}
		}
		in.rep.add(c.action, string(entra.KindUser), done, fmt.Sprintf(c.summary, drillPlural(len(done), "user", "users")))
	}
	return err
}

// createBackdoor creates the attacker's own account, once per incident.
func (in *injector) createBackdoor(ctx context.Context, label string) error {
	if in.backdoor != "" {
		return nil
	}
	r := in.rng(label + "/backdoor")
	const pwChars = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%+-"
	pw := make([]byte, 20)
	for i := range pw {
		pw[i] = pwChars[r.IntN(len(pwChars))]
	}
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		nick := fmt.Sprintf("%s%04x", backdoorPrefix, r.IntN(1<<16))
		upn := nick + "@" + in.id.Domain
		resp, err := in.at.Do(ctx, graphapi.Request{Method: http.MethodPost, Path: "/users", Body: drillBody(map[string]any{
			"accountEnabled": true, "displayName": "Sync Helper Service", "mailNickname": nick, "userPrincipalName": upn,
			"department": "IT", "jobTitle": "Service Account",
			"passwordProfile": map[string]any{"password": string(pw), "forceChangePasswordNextSignIn": false},
		})})
		if graphapi.IsConflict(err) {
			last = err
			continue
		}
		if err != nil {
			return drillSeqFailure("creating the attacker's account", 0, 1, err)
		}
		var u struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(resp.Body, &u) != nil || u.ID == "" {
			return fmt.Errorf("while creating the attacker's account: POST /users answered without the new user's id")
		}
		in.backdoor = u.ID
		in.created[u.ID] = true
		in.rep.add("create", string(entra.KindUser), []string{u.ID}, fmt.Sprintf(
			"Created the backdoor account %s (\"Sync Helper Service\"), with a password only the attacker knows.", upn))
		return nil
	}
	return drillSeqFailure("creating the attacker's account", 0, 1, last)
}

// plantBackdoor creates the attacker's account and adds it to part of the role-assignable
// groups (the attacker app's service principal to one of them), then makes the account a
// Global Administrator and the app a Privileged Role Administrator.
func (in *injector) plantBackdoor(ctx context.Context, label string, groups drillShare) error {
	r := in.rng(label + "/privilege")
	if err := in.createBackdoor(ctx, label); err != nil {
		return err
	}
	all, err := in.list(ctx, "/groups", drillGroupSelect, false)
	if err != nil {
		return err
	}
	var privileged []string
	for _, g := range all {
		if g["isAssignableToRole"] == true {
			privileged = append(privileged, dstr(g, "id"))
		}
	}
	chosen := drillPick(r, privileged, groups.of(len(privileged)))
	sort.Strings(chosen)
	reqs := make([]graphapi.Request, len(chosen))
	for i, g := range chosen {
		reqs[i] = graphapi.Request{Method: http.MethodPost, Path: "/groups/" + g + "/members/$ref", Body: in.refBody(in.backdoor)}
	}
	ok, err := in.send(ctx, "adding the backdoor account to role-assignable groups", reqs, false)
	done := drillOK(chosen, ok)
	in.rep.add("add-member", string(entra.KindGroup), done, fmt.Sprintf(
		"Added the backdoor account to %s, and with %s to the directory roles %s.", drillPlural(len(done), "role-assignable group", "role-assignable groups"),
		map[bool]string{true: "it", false: "them"}[len(done) == 1], map[bool]string{true: "it holds", false: "they hold"}[len(done) == 1]))
	if err != nil {
		return err
	}
	// The attacker app itself joins one of them (already a member after an earlier drill
	// on the same tenant: nothing to do).
	if in.spID != "" && len(chosen) > 0 {
		g := drillPick(r, chosen, 1)[0]
		_, err := in.at.Do(ctx, graphapi.Request{Method: http.MethodPost, Path: "/groups/" + g + "/members/$ref", Body: in.refBody(in.spID)})
		switch {
		case err == nil:
			in.rep.add("add-app-member", string(entra.KindGroup), []string{g}, fmt.Sprintf("Added the attacker app %s itself (its service principal) to a role-assignable group.", in.rep.Actor))
		case !graphapi.IsConflict(err):
			return drillSeqFailure("adding the attacker app to a role-assignable group", 0, 1, err)
		}
	}
	var roles []string
	for _, a := range []struct{ principal, role, who string }{
		{in.backdoor, drillRoleGA, "backdoor"},
		{in.spID, drillRolePRA, "app"},
	} {
		if a.principal == "" {
			continue
		}
		resp, err := in.at.Do(ctx, graphapi.Request{Method: http.MethodPost, Path: "/roleManagement/directory/roleAssignments", Body: drillBody(map[string]any{
			"@odata.type": "#microsoft.graph.unifiedRoleAssignment", "roleDefinitionId": a.role, "principalId": a.principal, "directoryScopeId": "/",
		})})
		if a.who == "app" && graphapi.IsConflict(err) {
			continue
		}
		if err != nil {
			in.addRoles(roles)
			return drillSeqFailure("assigning directory roles", len(roles), 2, err)
		}
		var ra struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(resp.Body, &ra)
		roles = append(roles, ra.ID)
	}
	in.addRoles(roles)
	return nil
}

func (in *injector) addRoles(ids []string) {
	summary := "Made the backdoor account a Global Administrator"
	if len(ids) > 1 {
		summary += ", and the attacker app a Privileged Role Administrator"
	}
	in.rep.add("assign-role", string(entra.KindRoleAssignment), ids, summary+".")
}

// takeOwnership makes the backdoor account an owner of part of the groups and
// applications that have owners, then removes their original owners (a group's last
// owner cannot be removed, so the new one goes in first).
func (in *injector) takeOwnership(ctx context.Context, label string, groupPart, appPart drillShare) error {
	r := in.rng(label + "/owners")
	if err := in.createBackdoor(ctx, label); err != nil {
		return err
	}
	groups, err := in.list(ctx, "/groups", []string{"id"}, false)
	if err != nil {
		return err
	}
	apps, err := in.drillApps(ctx)
	if err != nil {
		return err
	}
	type holder struct {
		kind entra.Kind
		path string
		id   string
	}
	var all []holder
	for _, g := range groups {
		all = append(all, holder{entra.KindGroup, "/groups/", dstr(g, "id")})
	}
	for _, a := range apps {
		all = append(all, holder{entra.KindApplication, "/applications/", dstr(a, "id")})
	}
	paths := make([]string, len(all))
	for i, h := range all {
		paths[i] = h.path + h.id + "/owners?$select=id"
	}
	lists, err := in.batchList(ctx, paths)
	if err != nil {
		return err
	}
	owners := map[string][]string{}
	candidates := map[entra.Kind][]string{}
	holders := map[string]holder{}
	for i, h := range all {
		var ids []string
		for _, o := range lists[i] {
			ids = append(ids, dstr(o, "id"))
		}
		if len(ids) == 0 || slices.Contains(ids, in.backdoor) {
			continue
		}
		sort.Strings(ids)
		owners[h.id] = ids
		holders[h.id] = h
		candidates[h.kind] = append(candidates[h.kind], h.id)
	}
	chosen := map[entra.Kind][]string{
		entra.KindGroup:       drillPick(r, candidates[entra.KindGroup], groupPart.of(len(candidates[entra.KindGroup]))),
		entra.KindApplication: drillPick(r, candidates[entra.KindApplication], appPart.of(len(candidates[entra.KindApplication]))),
	}
	for _, k := range []entra.Kind{entra.KindGroup, entra.KindApplication} {
		sort.Strings(chosen[k])
	}
	var ordered []string
	ordered = append(ordered, chosen[entra.KindGroup]...)
	ordered = append(ordered, chosen[entra.KindApplication]...)
	reqs := make([]graphapi.Request, len(ordered))
	for i, id := range ordered {
		reqs[i] = graphapi.Request{Method: http.MethodPost, Path: holders[id].path + id + "/owners/$ref", Body: in.refBody(in.backdoor)}
	}
	ok, err := in.send(ctx, "adding the backdoor account as an owner", reqs, false)
	added := drillOK(ordered, ok)
	byKind := func(ids []string, k entra.Kind) []string {
		var out []string
		for _, id := range ids {
			if holders[id].kind == k {
				out = append(out, id)
			}
		}
		return out
	}
	in.rep.add("add-owner", string(entra.KindGroup), byKind(added, entra.KindGroup), fmt.Sprintf(
		"Made the backdoor account an owner of %s.", drillPlural(len(byKind(added, entra.KindGroup)), "group", "groups")))
	in.rep.add("add-owner", string(entra.KindApplication), byKind(added, entra.KindApplication), fmt.Sprintf(
		"Made the backdoor account an owner of %s.", drillPlural(len(byKind(added, entra.KindApplication)), "application", "applications")))
	if err != nil {
		return err
	}
	var removeOf []string
	reqs = reqs[:0]
	for _, id := range added {
		for _, o := range owners[id] {
			removeOf = append(removeOf, id)
			reqs = append(reqs, graphapi.Request{Method: http.MethodDelete, Path: holders[id].path + id + "/owners/" + o + "/$ref"})
		}
	}
	ok, err = in.send(ctx, "removing owners", reqs, false)
	links := map[string]int{}
	for i, id := range removeOf {
		if ok[i] {
			links[id]++
		}
	}
	for _, k := range []entra.Kind{entra.KindGroup, entra.KindApplication} {
		var ids []string
		n := 0
		for _, id := range drillKeys(links) {
			if holders[id].kind == k {
				ids = append(ids, id)
				n += links[id]
			}
		}
		noun := drillPick2(len(ids), "that group", fmt.Sprintf("those %d groups", len(ids)))
		if k == entra.KindApplication {
			noun = drillPick2(len(ids), "that application", fmt.Sprintf("those %d applications", len(ids)))
		}
		in.rep.add("remove-owner", string(k), ids, fmt.Sprintf("Removed the %s of %s: the backdoor account is now %s only owner.",
			drillPlural(n, "original owner", "original owners"), noun, drillPick2(len(ids), "its", "their")))
	}
	return err
}
