package sim

import (
	"net/http"
	"strings"

	"github.com/lifelinehq/lifeline/entra"
)

// deletedItems handles /directory/deletedItems (graph-spec §3.3–3.5).
func (c *call) deletedItems(rest []string) (*result, *apiError) {
	if len(rest) == 0 {
		return nil, badRequest("The OData cast type is a required part of the URI: use /directory/deletedItems/microsoft.graph.{user|group|application|servicePrincipal|administrativeUnit}.")
	}
	if cast, ok := strings.CutPrefix(rest[0], "microsoft.graph."); ok {
		k, known := entra.KindForODataType(cast)
		spec, _ := entra.Lookup(k)
		if !known || spec.Bin != entra.DirectoryBin {
			return nil, segmentNotFound(rest[0])
		}
		if len(rest) == 1 {
			if c.method != http.MethodGet {
				return nil, methodNotAllowed()
			}
			return c.listBin(k, "/directory/deletedItems/"+rest[0], string(k)+"s")
		}
		o := c.binned(rest[1], entra.DirectoryBin)
		if o == nil || o.kind != k {
			return nil, notFound(rest[1])
		}
		return c.binnedObject(o, rest[2:])
	}
	o := c.binned(rest[0], entra.DirectoryBin)
	if o == nil {
		return nil, notFound(rest[0])
	}
	return c.binnedObject(o, rest[1:])
}

// binned returns the object with id waiting in the given bin, or nil.
func (c *call) binned(id string, bin entra.BinKind) *object {
	o := c.st.objs[id]
	if o == nil || o.live() || entra.MustLookup(o.kind).Bin != bin {
		return nil
	}
	return o
}

// binnedObject handles GET/DELETE on a binned object and POST .../restore.
func (c *call) binnedObject(o *object, rest []string) (*result, *apiError) {
	ctx := "directoryObjects"
	if entra.MustLookup(o.kind).Bin == entra.ConditionalAccessBin {
		ctx = "identity/conditionalAccess/deletedItems/" + binContainer(o.kind)
	}
	switch {
	case len(rest) == 0 && c.method == http.MethodGet:
		p, err := projectionFor(o.kind, c.selectOf())
		if err != nil {
			return nil, err
		}
		if len(c.selectOf()) == 0 {
			p.all = true
		}
		return jsonResult(200, c.entityBytes(binView(o), ctx, odataTypeOf(o), p, c.selectOf())), nil
	case len(rest) == 0 && c.method == http.MethodDelete:
		if err := c.st.purge(o, c.now, c.who); err != nil {
			return nil, err
		}
		return noContent(), nil
	case len(rest) == 1 && rest[0] == "restore":
		if c.method != http.MethodPost {
			return nil, methodNotAllowed()
		}
		body, err := c.readOptionalBody()
		if err != nil {
			return nil, err
		}
		newUPN, reconcile := "", false
		for k, v := range body {
			switch k {
			case "newUserPrincipalName":
				s, ok := v.(string)
				if !ok {
					return nil, badRequest("Cannot convert the literal to the expected type 'Edm.String' of property 'newUserPrincipalName'.")
				}
				newUPN = s
			case "autoReconcileProxyConflict":
				b, ok := v.(bool)
				if !ok && v != nil {
					return nil, badRequest("Cannot convert the literal to the expected type 'Edm.Boolean' of property 'autoReconcileProxyConflict'.")
				}
				reconcile = b
			default:
				return nil, badRequest("Property '%s' is not a parameter of the restore action.", k)
			}
		}
		restored, rerr := c.st.restore(o, newUPN, reconcile, c.now, c.who)
		if rerr != nil {
			return nil, rerr
		}
		p, _ := projectionFor(restored.kind, nil)
		p.all = true
		return jsonResult(200, c.entityBytes(restored, ctx, odataTypeOf(restored), p, nil)), nil
	}
	if len(rest) == 0 {
		return nil, methodNotAllowed()
	}
	return nil, segmentNotFound(rest[len(rest)-1])
}

// binView is how a binned object reads: soft-deleted security groups report
// securityEnabled false (a documented quirk, graph-spec §3.3).
func binView(o *object) *object {
	if o.kind == entra.KindGroup && !isUnified(o.data) && getBool(o.data, "securityEnabled") {
		return &object{kind: o.kind, id: o.id, data: withMembers(o.data, map[string]any{"securityEnabled": false}), deleted: o.deleted}
	}
	return o
}

// listBin lists one kind's bin, paged like a collection, items with @odata.type and
// deletedDateTime.
func (c *call) listBin(k entra.Kind, path, context string) (*result, *apiError) {
	lq, err := c.parseListQuery(path)
	if err != nil {
		return nil, err
	}
	p, err := projectionFor(k, lq.sel)
	if err != nil {
		return nil, err
	}
	if len(lq.sel) == 0 {
		p.all = true
	} else if !contains(p.names, "deletedDateTime") {
		p = newProjection(append(append([]string(nil), p.names...), "deletedDateTime"), p.hide)
	}
	ps := pageSpec{
		path: path, context: context, iterate: c.st.bin[k].Ascend,
		item: func(id string) *object { return c.st.objs[id] },
		write: func(out []byte, o *object) []byte {
			return appendObject(out, binView(o), p, odataTypeOf(o))
		},
	}
	if lq.filter != "" {
		f, ferr := parseFilter(lq.filter, schemaFor(k, lq.advanced))
		if ferr != nil {
			return nil, ferr
		}
		ps.match = func(o *object) bool { return f.eval(filterEnv{data: o.data}) }
	}
	return c.page(lq, ps), nil
}

func binContainer(k entra.Kind) string {
	if k == entra.KindNamedLocation {
		return "namedLocations"
	}
	return "policies"
}

// caDeletedItems handles the beta Conditional Access recycle bin (graph-spec §3.6).
func (c *call) caDeletedItems(rest []string) (*result, *apiError) {
	if len(rest) == 0 {
		return nil, segmentNotFound("deletedItems")
	}
	var k entra.Kind
	switch rest[0] {
	case "policies":
		k = entra.KindConditionalAccessPolicy
	case "namedLocations":
		k = entra.KindNamedLocation
	default:
		return nil, segmentNotFound(rest[0])
	}
	if len(rest) == 1 {
		if c.method != http.MethodGet {
			return nil, methodNotAllowed()
		}
		return c.listBin(k, "/identity/conditionalAccess/deletedItems/"+rest[0], "identity/conditionalAccess/deletedItems/"+rest[0])
	}
	o := c.binned(rest[1], entra.ConditionalAccessBin)
	if o == nil || o.kind != k {
		return nil, notFound(rest[1])
	}
	return c.binnedObject(o, rest[2:])
}
