package sim

import (
	"net/http"
	"strconv"

	"github.com/lifelinehq/lifeline/entra"
)

// links handles a navigation property of o: members, owners, manager.
func (c *call) links(o *object, name string, rest []string) (*result, *apiError) {
	ls, _ := entra.MustLookup(o.kind).Link(name)
	switch {
	case len(rest) == 0:
		if c.method != http.MethodGet {
			return nil, methodNotAllowed()
		}
		if ls.Single {
			return c.singleLink(o, name)
		}
		return c.listLinks(o, name, false)
	case len(rest) == 1 && rest[0] == "$ref":
		switch c.method {
		case http.MethodGet:
			if ls.Single {
				return c.singleLinkRef(o, name)
			}
			return c.listLinks(o, name, true)
		case http.MethodPost:
			if ls.Single {
				return nil, methodNotAllowed()
			}
			target, err := c.refTarget()
			if err != nil {
				return nil, err
			}
			if err := c.st.checkLink(o, name, target); err != nil {
				return nil, err
			}
			c.st.link(c.now, c.who, o, name, target)
			return noContent(), nil
		case http.MethodPut:
			if !ls.Single {
				return nil, methodNotAllowed()
			}
			target, err := c.refTarget()
			if err != nil {
				return nil, err
			}
			if err := c.st.setManager(c.now, c.who, o, target); err != nil {
				return nil, err
			}
			return noContent(), nil
		case http.MethodDelete:
			if !ls.Single {
				return nil, methodNotAllowed()
			}
			if err := c.st.clearManager(c.now, c.who, o); err != nil {
				return nil, err
			}
			return noContent(), nil
		}
		return nil, methodNotAllowed()
	case len(rest) == 2 && rest[1] == "$ref" && !ls.Single:
		if c.method != http.MethodDelete {
			return nil, methodNotAllowed()
		}
		if err := c.st.unlink(c.now, c.who, o, name, rest[0]); err != nil {
			return nil, err
		}
		return noContent(), nil
	}
	return nil, segmentNotFound(rest[len(rest)-1])
}

// refTarget reads a {"@odata.id": "..."} body and resolves the object it names.
func (c *call) refTarget() (*object, *apiError) {
	m, err := parseBody(c.body)
	if err != nil {
		return nil, err
	}
	raw, ok := m["@odata.id"]
	if !ok {
		return nil, badRequest("The request body must name the object to link in '@odata.id'.")
	}
	var u string
	if decodeErr := jsonUnmarshalString(raw, &u); decodeErr != nil || u == "" {
		return nil, badRequest("The value of '@odata.id' must be the URL of a directory object.")
	}
	for k := range m {
		if k != "@odata.id" && k != "@odata.context" {
			return nil, badRequest("Property '%s' is not allowed in a reference body.", k)
		}
	}
	id := refID(u)
	target := c.st.getAny(id)
	if target == nil {
		return nil, notFound(id)
	}
	return target, nil
}

// listLinks lists a link collection: the linked objects (with @odata.type), or with
// refs their @odata.id values. Soft-deleted objects are hidden until restored.
func (c *call) listLinks(o *object, name string, refs bool) (*result, *apiError) {
	path := entra.MustLookup(o.kind).ObjectPath(o.id) + "/" + name
	if refs {
		path += "/$ref"
	}
	lq, err := c.parseListQuery(path)
	if err != nil {
		return nil, err
	}
	set := c.st.linkSet(o.id, name)
	if set == nil {
		set = &idSet{}
	}
	ps := pageSpec{
		path: path, context: "directoryObjects", iterate: set.Ascend,
		item: func(id string) *object { return c.st.getAny(id) },
	}
	if refs {
		ps.write = func(out []byte, t *object) []byte {
			out = append(out, `{"@odata.id":`...)
			out = strconv.AppendQuote(out, c.root+"/directoryObjects/"+t.id)
			return append(out, '}')
		}
	} else {
		// Linked objects are of several kinds: $select is checked against each item's
		// kind, and an unknown name is refused only when no linked kind has it.
		if len(lq.sel) > 0 {
			ls, _ := entra.MustLookup(o.kind).Link(name)
			ok := false
			var firstErr *apiError
			for _, k := range ls.Targets {
				if _, perr := projectionFor(k, lq.sel); perr == nil {
					ok = true
				} else if firstErr == nil {
					firstErr = perr
				}
			}
			if !ok {
				return nil, firstErr
			}
		}
		projections := &kindProjections{sel: lq.sel, fallback: func(k entra.Kind) *projection {
			return newProjection(append([]string{"id"}, lq.sel...), writeOnlyProperties(k))
		}}
		ps.write = func(out []byte, t *object) []byte {
			return appendObject(out, t, projections.of(t.kind), t.kind.ODataType())
		}
	}
	if lq.filter != "" {
		f, ferr := parseFilter(lq.filter, filterSchema{resource: "microsoft.graph.directoryObject", advanced: lq.advanced, known: func(string) bool { return true }})
		if ferr != nil {
			return nil, ferr
		}
		ps.match = func(t *object) bool { return f.eval(filterEnv{data: t.data}) }
	}
	return c.page(lq, ps), nil
}

// singleLink answers GET /users/{id}/manager.
func (c *call) singleLink(o *object, name string) (*result, *apiError) {
	t := c.singleTarget(o, name)
	if t == nil {
		return nil, notFound(name)
	}
	p, err := projectionFor(t.kind, c.selectOf())
	if err != nil {
		return nil, err
	}
	return jsonResult(200, c.entityBytes(t, "directoryObjects", t.kind.ODataType(), p, nil)), nil
}

// singleLinkRef answers GET /users/{id}/manager/$ref.
func (c *call) singleLinkRef(o *object, name string) (*result, *apiError) {
	t := c.singleTarget(o, name)
	if t == nil {
		return nil, notFound(name)
	}
	return jsonResult(200, mustJSON(map[string]any{
		"@odata.context": c.root + "/$metadata#directoryObjects/$ref",
		"@odata.id":      c.root + "/directoryObjects/" + t.id,
	})), nil
}

func (c *call) singleTarget(o *object, name string) *object {
	set := c.st.linkSet(o.id, name)
	if set == nil {
		return nil
	}
	var t *object
	set.Ascend("", func(id string) bool {
		t = c.st.getAny(id)
		return t == nil
	})
	return t
}
