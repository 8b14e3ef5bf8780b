package sim

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/lifelinehq/lifeline/entra"
)

// collection handles a kind's collection path and everything under it.
func (c *call) collection(k entra.Kind, rest []string) (*result, *apiError) {
	spec := entra.MustLookup(k)
	if spec.Singleton {
		return nil, segmentNotFound(spec.Collection)
	}
	if len(rest) == 0 {
		switch c.method {
		case http.MethodGet:
			return c.list(k)
		case http.MethodPost:
			return c.create(k)
		}
		return nil, methodNotAllowed()
	}
	switch rest[0] {
	case "$count":
		if len(rest) != 1 || c.method != http.MethodGet {
			return nil, methodNotAllowed()
		}
		return c.count(k)
	case "delta", "microsoft.graph.delta", "microsoft.graph.delta()", "delta()":
		if (k != entra.KindUser && k != entra.KindGroup) || len(rest) != 1 {
			return nil, newError(http.StatusNotImplemented, "NotImplemented", "This operation target is not yet supported.")
		}
		if c.method != http.MethodGet {
			return nil, methodNotAllowed()
		}
		return c.delta(k)
	}
	id := rest[0]
	o := c.st.get(k, id)
	if o == nil && k == entra.KindUser && strings.Contains(id, "@") {
		o = c.st.get(k, c.st.holderOf(k, "userPrincipalName", id))
	}
	if o == nil || !c.st.visible(o) {
		return nil, notFound(id)
	}
	if len(rest) == 1 {
		switch c.method {
		case http.MethodGet:
			return c.entity(o, contextName(k), "", c.selectOf())
		case http.MethodPatch:
			return c.update(o)
		case http.MethodDelete:
			if err := c.st.remove(o, c.now, c.who); err != nil {
				return nil, err
			}
			return noContent(), nil
		}
		return nil, methodNotAllowed()
	}
	sub := rest[1]
	if _, ok := spec.Link(sub); ok {
		return c.links(o, sub, rest[2:])
	}
	switch {
	case sub == "appRoleAssignedTo" && k == entra.KindServicePrincipal:
		return c.appRoleAssignments(o, "resourceId", rest[2:])
	case sub == "appRoleAssignments" && (k == entra.KindUser || k == entra.KindGroup || k == entra.KindServicePrincipal):
		return c.appRoleAssignments(o, "principalId", rest[2:])
	case sub == "oauth2PermissionGrants" && len(rest) == 2 && c.method == http.MethodGet &&
		(k == entra.KindServicePrincipal || k == entra.KindUser):
		prop := "clientId"
		if k == entra.KindUser {
			prop = "principalId"
		}
		return c.listHolders(o, entra.KindOAuth2PermissionGrant, prop, "oauth2PermissionGrants")
	case sub == "memberOf" && len(rest) == 2 && c.method == http.MethodGet:
		return c.memberOf(o)
	case (sub == "addPassword" || sub == "removePassword") && len(rest) == 2 &&
		(k == entra.KindApplication || k == entra.KindServicePrincipal):
		return c.credentials(o, sub)
	}
	return nil, segmentNotFound(sub)
}

// list serves a kind's collection.
func (c *call) list(k entra.Kind) (*result, *apiError) {
	path := entra.MustLookup(k).Collection
	lq, err := c.parseListQuery(path)
	if err != nil {
		return nil, err
	}
	p, err := projectionFor(k, lq.sel)
	if err != nil {
		return nil, err
	}
	ps := pageSpec{
		path:    path,
		context: contextName(k),
		iterate: c.st.live[k].Ascend,
		item: func(id string) *object {
			if o := c.st.objs[id]; c.st.visible(o) {
				return o
			}
			return nil
		},
		write: func(out []byte, o *object) []byte { return appendObject(out, o, p, "") },
	}
	if lq.filter != "" {
		f, err := parseFilter(lq.filter, schemaFor(k, lq.advanced))
		if err != nil {
			return nil, err
		}
		ps.match = func(o *object) bool { return f.eval(filterEnv{data: o.data}) }
		if ids, ok := c.indexedCandidates(k, f); ok {
			ps.iterate = func(after string, fn func(string) bool) { newIDSet(ids).Ascend(after, fn) }
		}
	}
	return c.page(lq, ps), nil
}

// indexedCandidates narrows a filter of the form "key eq 'v'" (or "key in (...)") on an
// indexed key to the objects holding the value, so lookups by natural key do not scan a
// million objects. The filter still runs on the candidates.
func (c *call) indexedCandidates(k entra.Kind, f filterExpr) ([]string, bool) {
	values := func(prop string) ([]string, bool) {
		if v, ok := eqValue(f, prop); ok {
			return []string{v}, true
		}
		if in, ok := f.(inExpr); ok && len(in.path) == 1 && in.path[0] == prop {
			var out []string
			for _, l := range in.lits {
				out = append(out, l.s)
			}
			return out, true
		}
		return nil, false
	}
	if vals, ok := values("id"); ok {
		return vals, true
	}
	var prop string
	switch k {
	case entra.KindUser:
		prop = "userPrincipalName"
	case entra.KindServicePrincipal:
		prop = "appId"
	case entra.KindApplication:
		if vals, ok := values("appId"); ok {
			var ids []string
			for _, v := range vals {
				if app := c.st.appByAppID(v); app != nil {
					ids = append(ids, app.id)
				}
			}
			return ids, true
		}
		prop = "uniqueName"
	default:
		return nil, false
	}
	vals, ok := values(prop)
	if !ok {
		return nil, false
	}
	var ids []string
	for _, v := range vals {
		if id := c.st.holderOf(k, prop, v); id != "" {
			ids = append(ids, id)
		}
	}
	return ids, true
}

// count serves /{collection}/$count, which needs ConsistencyLevel: eventual.
func (c *call) count(k entra.Kind) (*result, *apiError) {
	if !strings.EqualFold(c.header.Get("ConsistencyLevel"), "eventual") {
		return nil, badRequest("Count is not currently supported: add the header ConsistencyLevel: eventual.")
	}
	n := 0
	var f filterExpr
	if v := queryOptions(c.query)["filter"]; v != "" {
		var err *apiError
		if f, err = parseFilter(v, schemaFor(k, true)); err != nil {
			return nil, err
		}
	}
	c.st.live[k].Ascend("", func(id string) bool {
		o := c.st.objs[id]
		if c.st.visible(o) && (f == nil || f.eval(filterEnv{data: o.data})) {
			n++
		}
		return true
	})
	return textResult(strconv.Itoa(n)), nil
}

// create serves POST on a collection.
func (c *call) create(k entra.Kind) (*result, *apiError) {
	spec := entra.MustLookup(k)
	if spec.ReadOnlyKind {
		return nil, methodNotAllowed()
	}
	var binds []string
	if k == entra.KindGroup {
		binds = []string{"members", "owners"}
	}
	wb, err := c.writeBodyOf(k, true, binds...)
	if err != nil {
		return nil, err
	}
	var o *object
	switch k {
	case entra.KindRoleAssignment:
		o, err = c.st.createRoleAssignment(wb, c.now, c.who)
	case entra.KindOAuth2PermissionGrant:
		o, err = c.st.createGrant(wb, c.now, c.who)
	default:
		o, err = c.st.create(k, wb, c.now, c.who)
	}
	if err != nil {
		return nil, err
	}
	p, _ := projectionFor(k, nil)
	if k != entra.KindUser && k != entra.KindGroup {
		p.all = true
	}
	return jsonResult(http.StatusCreated, c.entityBytes(o, contextName(k), "", p, nil)), nil
}

// update serves PATCH on an object.
func (c *call) update(o *object) (*result, *apiError) {
	spec := entra.MustLookup(o.kind)
	if spec.ReadOnlyKind || o.kind == entra.KindRoleAssignment || o.kind == entra.KindAppRoleAssignment {
		return nil, methodNotAllowed()
	}
	var binds []string
	if o.kind == entra.KindGroup {
		binds = []string{"members", "owners"}
	}
	wb, err := c.writeBodyOf(o.kind, false, binds...)
	if err != nil {
		return nil, err
	}
	if err := c.st.update(o, wb, c.now, c.who); err != nil {
		return nil, err
	}
	return noContent(), nil
}

// listHolders lists the assignments or grants of a kind that name o in prop.
func (c *call) listHolders(o *object, k entra.Kind, prop, ctxSuffix string) (*result, *apiError) {
	path := entra.MustLookup(o.kind).ObjectPath(o.id) + "/" + ctxSuffix
	lq, err := c.parseListQuery(path)
	if err != nil {
		return nil, err
	}
	p, err := projectionFor(k, lq.sel)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, hid := range c.st.holders[o.id] {
		if h := c.st.objs[hid]; h != nil && h.kind == k && getString(h.data, prop) == o.id {
			ids = append(ids, hid)
		}
	}
	set := newIDSet(ids)
	ps := pageSpec{
		path: path, context: contextName(entra.MustLookup(o.kind).Kind) + "('" + o.id + "')/" + ctxSuffix,
		iterate: set.Ascend,
		item: func(id string) *object {
			if h := c.st.objs[id]; c.st.visible(h) {
				return h
			}
			return nil
		},
		write: func(out []byte, h *object) []byte { return appendObject(out, h, p, "") },
	}
	if lq.filter != "" {
		f, err := parseFilter(lq.filter, schemaFor(k, lq.advanced))
		if err != nil {
			return nil, err
		}
		ps.match = func(h *object) bool { return f.eval(filterEnv{data: h.data}) }
	}
	return c.page(lq, ps), nil
}

// memberOf lists the groups and administrative units an object is a direct member of.
func (c *call) memberOf(o *object) (*result, *apiError) {
	path := entra.MustLookup(o.kind).ObjectPath(o.id) + "/memberOf"
	lq, err := c.parseListQuery(path)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, k := range c.st.rev[o.id] {
		if k.name == "members" {
			ids = append(ids, k.from)
		}
	}
	set := newIDSet(ids)
	projections := &kindProjections{sel: lq.sel, fallback: func(k entra.Kind) *projection {
		p, _ := projectionFor(k, nil)
		return p
	}}
	return c.page(lq, pageSpec{
		path: path, context: "directoryObjects", iterate: set.Ascend,
		item: func(id string) *object { return c.st.getAny(id) },
		write: func(out []byte, h *object) []byte {
			return appendObject(out, h, projections.of(h.kind), h.kind.ODataType())
		},
	}), nil
}
