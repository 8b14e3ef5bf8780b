package sim

import (
	"net/http"
	"sort"
	"strconv"
)

// auditFields are the directoryAudit properties a $filter may name.
var auditFields = []string{"id", "category", "correlationId", "result", "resultReason", "activityDisplayName",
	"activityDateTime", "loggedByService", "operationType", "initiatedBy", "targetResources", "additionalDetails"}

// directoryAudits serves /auditLogs/directoryAudits, newest first.
func (c *call) directoryAudits(rest []string) (*result, *apiError) {
	if c.method != http.MethodGet {
		return nil, methodNotAllowed()
	}
	log := c.st.audit
	if len(rest) == 1 {
		for _, e := range log {
			if e.id == rest[0] {
				body := []byte(`{"@odata.context":`)
				body = strconv.AppendQuote(body, c.root+"/$metadata#auditLogs/directoryAudits/$entity")
				body = append(body, ',')
				return jsonResult(200, append(body, e.data[1:]...)), nil
			}
		}
		return nil, notFound(rest[0])
	}
	if len(rest) > 1 {
		return nil, segmentNotFound(rest[len(rest)-1])
	}
	path := "/auditLogs/directoryAudits"
	lq, err := c.parseListQuery(path)
	if err != nil {
		return nil, err
	}
	var sel *projection
	if len(lq.sel) > 0 {
		names := []string{"id"}
		for _, s := range lq.sel {
			if !contains(auditFields, s) {
				return nil, badRequest("Could not find a property named '%s' on type 'microsoft.graph.directoryAudit'.", s)
			}
			names = append(names, s)
		}
		sel = newProjection(names, nil)
	} else {
		sel = &projection{all: true}
	}
	ps := pageSpec{
		path: path, context: "auditLogs/directoryAudits",
		// The cursor is the sequence number: newest first, stable while entries are added.
		iterate: func(after string, fn func(string) bool) {
			start := len(log) - 1
			if after != "" {
				seq, _ := strconv.ParseUint(after, 10, 64)
				start = sort.Search(len(log), func(i int) bool { return log[i].seq >= seq }) - 1
			}
			for i := start; i >= 0; i-- {
				if !fn(strconv.FormatUint(log[i].seq, 10)) {
					return
				}
			}
		},
		item: func(key string) *object {
			seq, _ := strconv.ParseUint(key, 10, 64)
			i := sort.Search(len(log), func(i int) bool { return log[i].seq >= seq })
			if i < len(log) && log[i].seq == seq {
				return &object{id: log[i].id, data: log[i].data}
			}
			return nil
		},
		write: func(out []byte, o *object) []byte { return appendProjected(out, o.data, sel, "") },
	}
	if lq.filter != "" {
		f, ferr := parseFilter(lq.filter, filterSchema{resource: "microsoft.graph.directoryAudit", advanced: lq.advanced,
			known: func(name string) bool { return contains(auditFields, name) }})
		if ferr != nil {
			return nil, ferr
		}
		ps.match = func(o *object) bool { return f.eval(filterEnv{data: o.data}) }
	}
	return c.page(lq, ps), nil
}
