package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/lifelinehq/lifeline/entra"
)

// Paging limits of directory collections (graph-spec §4.1).
const (
	defaultPageSize = 100
	maxPageSize     = 999
)

// listQuery is a collection request's query options, from the URL or, on later pages,
// from the $skiptoken that carries them.
type listQuery struct {
	top     int
	sel     []string
	filter  string
	count   bool
	expand  string
	orderby string
	// after is the cursor: the last id the previous page served.
	after string
	// first is true on a request without a $skiptoken.
	first bool
	// advanced is set when the request may use advanced query operators
	// (ConsistencyLevel: eventual with $count=true).
	advanced bool
}

// pageToken is what a $skiptoken carries.
type pageToken struct {
	Path    string   `json:"p"`
	Top     int      `json:"t,omitempty"`
	Select  []string `json:"s,omitempty"`
	Filter  string   `json:"f,omitempty"`
	Expand  string   `json:"e,omitempty"`
	OrderBy string   `json:"o,omitempty"`
	After   string   `json:"a"`
	Adv     bool     `json:"v,omitempty"`
}

// mintToken signs a value into an opaque token: clients cannot forge a cursor, and a
// token minted by another sim (another key) is refused.
func (s *Sim) mintToken(v any) string {
	payload, _ := json.Marshal(v)
	mac := hmac.New(sha256.New, s.tokenKey)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

// readToken verifies and decodes a token minted by mintToken.
func (s *Sim) readToken(tok string, v any) bool {
	p, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, s.tokenKey)
	mac.Write(payload)
	if !hmac.Equal(got, mac.Sum(nil)[:16]) {
		return false
	}
	return json.Unmarshal(payload, v) == nil
}

// queryOptions normalises query keys: "$top" and "top" are the same option, in any case.
func queryOptions(q url.Values) map[string]string {
	out := map[string]string{}
	for k, vs := range q {
		if len(vs) == 0 {
			continue
		}
		out[strings.ToLower(strings.TrimPrefix(k, "$"))] = vs[0]
	}
	return out
}

// parseListQuery reads a collection request's options. path is the collection's path,
// which a $skiptoken must have been minted for.
func (c *call) parseListQuery(path string) (*listQuery, *apiError) {
	opts := queryOptions(c.query)
	lq := &listQuery{top: defaultPageSize, first: true}
	if tok, ok := opts["skiptoken"]; ok {
		var pt pageToken
		if !c.s.readToken(tok, &pt) || pt.Path != path {
			return nil, badRequest("The $skiptoken value is malformed or was not issued for this request.")
		}
		lq.top, lq.sel, lq.filter, lq.expand, lq.orderby, lq.after, lq.advanced = pt.Top, pt.Select, pt.Filter, pt.Expand, pt.OrderBy, pt.After, pt.Adv
		if lq.top == 0 {
			lq.top = defaultPageSize
		}
		lq.first = false
		return lq, nil
	}
	for k := range opts {
		switch k {
		case "top", "select", "filter", "count", "expand", "orderby", "format", "deltatoken", "skiptoken", "api-version":
		case "skip":
			return nil, badRequest("'$skip' is not supported by the service.")
		case "search":
			return nil, unsupportedQuery("$search is not supported by the simulated tenant; use $filter.")
		}
	}
	if v, ok := opts["top"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return nil, badRequest("Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", v)
		}
		lq.top = n
	}
	if v, ok := opts["select"]; ok {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				lq.sel = append(lq.sel, name)
			}
		}
		if len(lq.sel) == 0 {
			return nil, badRequest("The query specified in the URI is not valid: $select is empty.")
		}
	}
	lq.filter = opts["filter"]
	lq.expand = opts["expand"]
	lq.orderby = opts["orderby"]
	if v, ok := opts["count"]; ok {
		switch strings.ToLower(v) {
		case "true":
			lq.count = true
		case "false":
		default:
			return nil, badRequest("Invalid value '%s' for query option $count.", v)
		}
	}
	lq.advanced = lq.count && strings.EqualFold(c.header.Get("ConsistencyLevel"), "eventual")
	return lq, nil
}

// nextToken is the $skiptoken for the page after the one that ended at last.
func (c *call) nextToken(path string, lq *listQuery, last string) string {
	return c.s.mintToken(pageToken{Path: path, Top: lq.top, Select: lq.sel, Filter: lq.filter, Expand: lq.expand, OrderBy: lq.orderby, After: last, Adv: lq.advanced})
}

// projectionFor returns what a read of kind k shows: the $select list plus id, or the
// kind's default property set, or every readable property.
// kindProjections hands out one projection of a $select per kind for a page of
// directory objects of mixed kinds (mostly one or two), built on first use; a kind the
// selection does not fit gets fallback's.
type kindProjections struct {
	sel      []string
	fallback func(entra.Kind) *projection
	byKind   map[entra.Kind]*projection
}

func (ps *kindProjections) of(k entra.Kind) *projection {
	p := ps.byKind[k]
	if p == nil {
		var err *apiError
		if p, err = projectionFor(k, ps.sel); err != nil {
			p = ps.fallback(k)
		}
		if ps.byKind == nil {
			ps.byKind = map[entra.Kind]*projection{}
		}
		ps.byKind[k] = p
	}
	return p
}

func projectionFor(k entra.Kind, sel []string, extra ...string) (*projection, *apiError) {
	spec := entra.MustLookup(k)
	hide := writeOnlyProperties(k)
	if len(sel) == 0 {
		if d := spec.DefaultProperties(); d != nil {
			return newProjection(d, hide), nil
		}
		p := newProjection(nil, hide)
		p.all = true
		return p, nil
	}
	names := []string{"id"}
	for _, name := range sel {
		if name == "id" || contains(names, name) {
			continue
		}
		if _, ok := spec.Property(name); !ok && !contains(extra, name) {
			return nil, badRequest("Could not find a property named '%s' on type '%s'.", name, typeName(k))
		}
		names = append(names, name)
	}
	return newProjection(names, hide), nil
}

// selectContext is the "(a,b)" suffix @odata.context carries for a $select.
func selectContext(sel []string) string {
	if len(sel) == 0 {
		return ""
	}
	names := []string{}
	for _, s := range sel {
		if !contains(names, s) {
			names = append(names, s)
		}
	}
	return "(" + strings.Join(names, ",") + ")"
}

// schemaFor is the $filter schema of kind k: its properties.
func schemaFor(k entra.Kind, advanced bool) filterSchema {
	spec := entra.MustLookup(k)
	return filterSchema{
		resource: typeName(k),
		advanced: advanced,
		known: func(name string) bool {
			_, ok := spec.Property(name)
			return ok || name == "@odata.type"
		},
	}
}

// pageSpec describes one collection read.
type pageSpec struct {
	// path is the collection's path relative to the version root, for nextLinks.
	path string
	// context is the @odata.context fragment ("users", "directoryObjects").
	context string
	// iterate walks the candidates in cursor order, starting after a cursor.
	iterate func(after string, fn func(id string) bool)
	// item returns the object to show for an id, or nil to skip it.
	item func(id string) *object
	// write appends one item's JSON.
	write func(out []byte, o *object) []byte
	// match filters items (nil = all).
	match func(o *object) bool
}

// page serves one page of a collection: at most top items after the cursor, an absolute
// @odata.nextLink when more remain, @odata.count on the first page when asked.
func (c *call) page(lq *listQuery, ps pageSpec) *result {
	// The items are chosen first and written second, straight after the annotations:
	// the nextLink (which names the last item) comes before "value", and a page of 999
	// users is 2 MB that should be written once, not grown and copied.
	items := make([]*object, 0, min(lq.top, 128))
	last := ""
	more := false
	ps.iterate(lq.after, func(id string) bool {
		o := ps.item(id)
		if o == nil || (ps.match != nil && !ps.match(o)) {
			return true
		}
		if len(items) == lq.top {
			more = true
			return false
		}
		items = append(items, o)
		last = id
		return true
	})
	body := c.pageBuffer(1024)
	body = append(body, `{"@odata.context":`...)
	body = strconv.AppendQuote(body, c.root+"/$metadata#"+ps.context+selectContext(lq.sel))
	if lq.first && lq.count && lq.advanced {
		total := 0
		ps.iterate("", func(id string) bool {
			if o := ps.item(id); o != nil && (ps.match == nil || ps.match(o)) {
				total++
			}
			return true
		})
		body = append(body, `,"@odata.count":`...)
		body = strconv.AppendInt(body, int64(total), 10)
	}
	if more {
		body = append(body, `,"@odata.nextLink":`...)
		body = strconv.AppendQuote(body, c.root+ps.path+"?$skiptoken="+url.QueryEscape(c.nextToken(ps.path, lq, last)))
	}
	body = append(body, `,"value":[`...)
	for i, o := range items {
		if i > 0 {
			body = append(body, ',')
		}
		start := len(body)
		body = ps.write(body, o)
		if i == 0 {
			// Room for the rest at about the first item's size (a $select may show
			// far less than the stored objects).
			body = slices.Grow(body, (len(body)-start+1)*(len(items)-1)*9/8)
		}
	}
	body = append(body, "]}"...)
	return c.pagedResult(body)
}
