package sim

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// Role assignments, app role assignments and delegated permission grants: objects that
// connect other objects, with their own rules (graph-spec §2.7–2.9).

// roleDefinition finds a live role definition by id or template id.
func (st *store) roleDefinition(id string) *object {
	if o := st.get(entra.KindRoleDefinition, id); o != nil {
		return o
	}
	var found *object
	st.live[entra.KindRoleDefinition].Ascend("", func(rid string) bool {
		o := st.objs[rid]
		if strings.EqualFold(getString(o.data, "templateId"), id) {
			found = o
			return false
		}
		return true
	})
	return found
}

func propString(wb *writeBody, name string) string {
	var s string
	_ = json.Unmarshal(wb.props[name], &s)
	return s
}

// createRoleAssignment assigns a directory role (POST /roleManagement/directory/roleAssignments).
func (st *store) createRoleAssignment(wb *writeBody, now time.Time, who actor) (*object, *apiError) {
	roleID, principalID := propString(wb, "roleDefinitionId"), propString(wb, "principalId")
	scope, appScope := propString(wb, "directoryScopeId"), propString(wb, "appScopeId")
	role := st.roleDefinition(roleID)
	if role == nil {
		return nil, notFound(roleID)
	}
	principal := st.getAny(principalID)
	if principal == nil {
		return nil, notFound(principalID)
	}
	switch principal.kind {
	case entra.KindUser, entra.KindServicePrincipal:
	case entra.KindGroup:
		if !getBool(principal.data, "isAssignableToRole") {
			return nil, badRequest("The group '%s' is not role-assignable: only groups created with isAssignableToRole can be assigned directory roles.", principalID)
		}
	default:
		return nil, badRequest("A %s cannot be assigned a directory role.", principal.kind)
	}
	switch {
	case scope != "" && appScope != "":
		return nil, badRequest("Specify either directoryScopeId or appScopeId, not both.")
	case scope == "" && appScope == "":
		scope = "/"
	}
	if scope != "" && scope != "/" {
		target := entra.ScopeObjectID(scope)
		k, _ := entra.ScopeKind(scope)
		if st.get(k, target) == nil {
			return nil, badRequest("The directory scope '%s' does not name an administrative unit or application in the tenant.", scope)
		}
	}
	roleKey := strings.ToLower(getString(role.data, "templateId"))
	if roleKey == "" {
		roleKey = role.id
	}
	for _, id := range st.holders[principalID] {
		ra := st.objs[id]
		if ra == nil || ra.kind != entra.KindRoleAssignment {
			continue
		}
		other := st.roleDefinition(getString(ra.data, "roleDefinitionId"))
		otherKey := ""
		if other != nil {
			otherKey = strings.ToLower(getString(other.data, "templateId"))
			if otherKey == "" {
				otherKey = other.id
			}
		}
		if otherKey == roleKey && getString(ra.data, "directoryScopeId") == scope && getString(ra.data, "appScopeId") == appScope {
			return nil, conflictKey()
		}
	}
	id := newOpaqueID("-1")
	m := map[string]any{"id": id, "roleDefinitionId": roleID, "principalId": principalID,
		"directoryScopeId": nullable(scope), "appScopeId": nullable(appScope)}
	o := &object{kind: entra.KindRoleAssignment, id: id, data: mustJSON(m)}
	st.put(o)
	rt := targetOf(role)
	rt.typ = "Role"
	st.record(now, who, "Add member to role", "RoleManagement", "Assign", "", rt, targetOf(principal))
	return o, nil
}

// principalType is the principalType Graph writes for a principal's kind.
func principalType(k entra.Kind) string {
	switch k {
	case entra.KindUser:
		return "User"
	case entra.KindGroup:
		return "Group"
	}
	return "ServicePrincipal"
}

// createAppRoleAssignment assigns an app role of a resource service principal.
func (st *store) createAppRoleAssignment(wb *writeBody, now time.Time, who actor) (*object, *apiError) {
	principalID, resourceID, appRoleID := propString(wb, "principalId"), propString(wb, "resourceId"), propString(wb, "appRoleId")
	principal := st.getAny(principalID)
	if principal == nil || (principal.kind != entra.KindUser && principal.kind != entra.KindGroup && principal.kind != entra.KindServicePrincipal) {
		return nil, notFound(principalID)
	}
	resource := st.get(entra.KindServicePrincipal, resourceID)
	if resource == nil {
		return nil, notFound(resourceID)
	}
	if appRoleID != entra.DefaultAccessAppRoleID {
		var roles []struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(getMember(resource.data, "appRoles"), &roles)
		found := false
		for _, r := range roles {
			if strings.EqualFold(r.ID, appRoleID) {
				found = true
			}
		}
		if !found {
			return nil, badRequest("Permission being assigned was not found on application '%s'.", resourceID)
		}
	}
	for _, id := range st.holders[principalID] {
		a := st.objs[id]
		if a != nil && a.kind == entra.KindAppRoleAssignment && getString(a.data, "principalId") == principalID &&
			getString(a.data, "resourceId") == resourceID && strings.EqualFold(getString(a.data, "appRoleId"), appRoleID) {
			return nil, badRequest("Permission being assigned already exists on the object.")
		}
	}
	id := newOpaqueID("")
	pm, _ := decodeObject(principal.data)
	rm, _ := decodeObject(resource.data)
	m := map[string]any{
		"id": id, "appRoleId": appRoleID, "principalId": principalID, "resourceId": resourceID,
		"createdDateTime": formatTime(now), "deletedDateTime": nil,
		"principalDisplayName": pm["displayName"], "principalType": principalType(principal.kind),
		"resourceDisplayName": rm["displayName"],
	}
	o := &object{kind: entra.KindAppRoleAssignment, id: id, data: mustJSON(m)}
	st.put(o)
	st.record(now, who, appRoleActivity(true, principal.kind), "ApplicationManagement", "Assign", "", targetOf(resource), targetOf(principal))
	return o, nil
}

// appRoleActivity names an app role assignment change as the audit log does.
func appRoleActivity(add bool, principal entra.Kind) string {
	switch {
	case add && principal == entra.KindUser:
		return "Add app role assignment grant to user"
	case add && principal == entra.KindGroup:
		return "Add app role assignment to group"
	case add:
		return "Add app role assignment to service principal"
	case principal == entra.KindUser:
		return "Remove app role assignment from user"
	case principal == entra.KindGroup:
		return "Remove app role assignment from group"
	}
	return "Remove app role assignment from service principal"
}

// createGrant records a delegated permission grant (POST /oauth2PermissionGrants).
func (st *store) createGrant(wb *writeBody, now time.Time, who actor) (*object, *apiError) {
	clientID, resourceID := propString(wb, "clientId"), propString(wb, "resourceId")
	consent, principalID := propString(wb, "consentType"), propString(wb, "principalId")
	client := st.get(entra.KindServicePrincipal, clientID)
	if client == nil {
		return nil, notFound(clientID)
	}
	resource := st.get(entra.KindServicePrincipal, resourceID)
	if resource == nil {
		return nil, notFound(resourceID)
	}
	switch consent {
	case "AllPrincipals":
		if principalID != "" {
			return nil, badRequest("principalId must be null when consentType is AllPrincipals.")
		}
	case "Principal":
		if principalID == "" {
			return nil, badRequest("A value is required for property 'principalId' when consentType is Principal.")
		}
		if st.get(entra.KindUser, principalID) == nil {
			return nil, notFound(principalID)
		}
	}
	for _, id := range st.holders[clientID] {
		g := st.objs[id]
		if g != nil && g.kind == entra.KindOAuth2PermissionGrant && getString(g.data, "clientId") == clientID &&
			getString(g.data, "resourceId") == resourceID && getString(g.data, "consentType") == consent &&
			getString(g.data, "principalId") == principalID {
			return nil, conflictKey()
		}
	}
	id := newOpaqueID("")
	m := map[string]any{"id": id, "clientId": clientID, "resourceId": resourceID, "consentType": consent,
		"principalId": nullable(principalID), "scope": propString(wb, "scope")}
	o := &object{kind: entra.KindOAuth2PermissionGrant, id: id, data: mustJSON(m)}
	st.put(o)
	st.record(now, who, "Add delegated permission grant", "ApplicationManagement", "Assign", "", targetOf(resource), targetOf(client))
	return o, nil
}

// deleteActivity names a hard delete of a connecting object as the audit log does.
func (st *store) deleteActivity(o *object) (string, bool) {
	switch o.kind {
	case entra.KindRoleAssignment:
		return "Remove member from role", true
	case entra.KindAppRoleAssignment:
		k := entra.KindServicePrincipal
		if p := st.objs[getString(o.data, "principalId")]; p != nil {
			k = p.kind
		}
		return appRoleActivity(false, k), true
	case entra.KindOAuth2PermissionGrant:
		return "Remove delegated permission grant", true
	}
	return "", false
}
