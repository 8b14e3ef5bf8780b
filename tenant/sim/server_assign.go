package sim

import (
	"net/http"

	"github.com/lifelinehq/lifeline/entra"
)

// appRoleAssignments handles /servicePrincipals/{id}/appRoleAssignedTo (prop
// "resourceId") and /{users|groups|servicePrincipals}/{id}/appRoleAssignments (prop
// "principalId"): the same assignments seen from the resource or from the principal.
func (c *call) appRoleAssignments(o *object, prop string, rest []string) (*result, *apiError) {
	sub := "appRoleAssignments"
	if prop == "resourceId" {
		sub = "appRoleAssignedTo"
	}
	if len(rest) == 0 {
		switch c.method {
		case http.MethodGet:
			return c.listHolders(o, entra.KindAppRoleAssignment, prop, sub)
		case http.MethodPost:
			wb, err := c.writeBodyOf(entra.KindAppRoleAssignment, true)
			if err != nil {
				return nil, err
			}
			if got := propString(wb, prop); got != o.id {
				return nil, badRequest("The %s '%s' in the body does not match the object '%s' in the request URL.", prop, got, o.id)
			}
			a, err := c.st.createAppRoleAssignment(wb, c.now, c.who)
			if err != nil {
				return nil, err
			}
			p, _ := projectionFor(entra.KindAppRoleAssignment, nil)
			ctx := contextName(o.kind) + "('" + o.id + "')/" + sub
			return jsonResult(http.StatusCreated, c.entityBytes(a, ctx, "", p, nil)), nil
		}
		return nil, methodNotAllowed()
	}
	if len(rest) != 1 {
		return nil, segmentNotFound(rest[len(rest)-1])
	}
	a := c.st.get(entra.KindAppRoleAssignment, rest[0])
	if a == nil || getString(a.data, prop) != o.id || !c.st.visible(a) {
		return nil, notFound(rest[0])
	}
	switch c.method {
	case http.MethodGet:
		return c.entity(a, contextName(o.kind)+"('"+o.id+"')/"+sub, "", c.selectOf())
	case http.MethodDelete:
		if err := c.st.remove(a, c.now, c.who); err != nil {
			return nil, err
		}
		return noContent(), nil
	}
	return nil, methodNotAllowed()
}
