package sim

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// maxBodyBytes bounds a request body (Graph's limit for directory writes is 4 MB).
const maxBodyBytes = 4 << 20

// call is one Graph request, top-level or a $batch item, on its way through the handlers.
type call struct {
	s       *Sim
	header  http.Header
	method  string
	version string
	// root is the absolute version root ("http://127.0.0.1:PORT/v1.0") for links.
	root  string
	path  string
	segs  []string
	query url.Values
	body  []byte
	who   actor
	tok   *tokenClaims
	now   time.Time
	st    *store

	requestID       string
	clientRequestID string
	// r is kept for the headers parseListQuery reads.
	r *http.Request
}

// serveGraph is the top-level Graph pipeline: ids, authentication, injected faults,
// throttling, the body, then the handlers.
func (s *Sim) serveGraph(w http.ResponseWriter, r *http.Request, version, rest string) {
	requestID := newGUID()
	clientRequestID := r.Header.Get("client-request-id")
	if clientRequestID == "" {
		clientRequestID = requestID
	}
	now := s.Now()
	// Graph's Date header is the tenant's time; a drill that advanced the sim's clock
	// shows it here, and clients that compute "days left" from it stay consistent.
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	fail := func(e *apiError) {
		errorResult(e, requestID, clientRequestID, now).write(w, requestID, clientRequestID)
	}

	claims, aerr := s.authenticate(r)
	if aerr != nil {
		fail(aerr)
		return
	}
	root := requestBase(r) + "/" + version
	if rest == "/$batch" {
		s.serveBatch(w, r, version, root, claims, requestID, clientRequestID)
		return
	}
	f := s.faults.decide(r.Method, false)
	if f != nil {
		if f.latency > 0 {
			time.Sleep(f.latency)
		}
		if f.drop {
			dropConnection(w)
			return
		}
		if f.err != nil {
			fail(f.err)
			return
		}
	}
	body, berr := readBody(r)
	if berr != nil {
		fail(berr)
		return
	}
	c := &call{
		s: s, header: r.Header, method: r.Method, version: version, root: root, path: rest,
		query: r.URL.Query(), body: body, tok: claims, now: now, r: r,
		requestID: requestID, clientRequestID: clientRequestID,
	}
	res := s.admitAndDispatch(c)
	if f != nil && f.lost && res.status < 300 {
		res.release()
		res = errorResult(gatewayTimeout(), requestID, clientRequestID, now)
	}
	res.write(w, requestID, clientRequestID)
	res.release()
	s.log.Debug("graph request", "method", r.Method, "path", r.URL.Path, "status", res.status, "app", claims.AppID)
}

// admitAndDispatch runs the throttle model, then the handlers; it is shared by top-level
// requests and $batch items, which are throttled one by one.
func (s *Sim) admitAndDispatch(c *call) *result {
	d := s.currentThrottler().Admit(c.tok.AppID, c.tok.TenantID, c.method, c.path, c.query)
	if !d.Allowed {
		e := newError(http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.")
		res := errorResult(e, c.requestID, c.clientRequestID, c.now)
		for k, v := range d.Headers {
			res.headers[k] = v
		}
		if d.RetryAfter > 0 {
			secs := int((d.RetryAfter + time.Second - 1) / time.Second)
			res.headers["Retry-After"] = strconv.Itoa(secs)
		}
		return res
	}
	res := s.dispatch(c)
	if len(d.Headers) > 0 {
		if res.headers == nil {
			res.headers = map[string]string{}
		}
		for k, v := range d.Headers {
			res.headers[k] = v
		}
	}
	return res
}

// dispatch runs a request's handler under the directory lock (shared for reads,
// exclusive for writes).
func (s *Sim) dispatch(c *call) *result {
	s.purgeDue(c.now)
	c.segs = splitPath(c.path)
	c.who = actor{appID: c.tok.AppID, displayName: c.tok.AppName, spID: c.tok.SPID, correlationID: newGUID()}
	if c.method == http.MethodGet || c.method == http.MethodHead {
		s.mu.RLock()
		defer s.mu.RUnlock()
	} else {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	c.st = s.st
	res, err := c.route()
	if err != nil {
		return errorResult(err, c.requestID, c.clientRequestID, c.now)
	}
	return res
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// requestBase is the scheme and host a request came in on, for absolute links.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		host = "127.0.0.1"
	}
	return scheme + "://" + host
}

// gzipReaders recycles the readers of gzipped bodies: each holds tens of kilobytes of
// inflate state, and a capture sends thousands of gzipped $batch envelopes.
var gzipReaders sync.Pool

// readBody reads a request body, gunzipping it when the client compressed it (the Go
// SDK gzips every body by default, graph-spec §1.1).
func readBody(r *http.Request) ([]byte, *apiError) {
	if r.Body == nil {
		return nil, nil
	}
	var rd io.Reader = io.LimitReader(r.Body, maxBodyBytes+1)
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))) {
	case "", "identity":
	case "gzip":
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(rd)
		} else {
			err = zr.Reset(rd)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil
			}
			return nil, badRequest("The request body is not valid gzip: %v.", err)
		}
		defer gzipReaders.Put(zr)
		rd = io.LimitReader(zr, maxBodyBytes+1)
	default:
		return nil, newError(http.StatusUnsupportedMediaType, "UnsupportedMediaType", "Content-Encoding '%s' is not supported.", r.Header.Get("Content-Encoding"))
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, badRequest("The request body could not be read: %v.", err)
	}
	if len(b) > maxBodyBytes {
		return nil, newError(http.StatusRequestEntityTooLarge, "Request_EntityTooLarge", "The request body is larger than %d bytes.", maxBodyBytes)
	}
	return b, nil
}

// collectionKinds maps a top-level collection path to its kind.
var collectionKinds = func() map[string]entra.Kind {
	m := map[string]entra.Kind{}
	for _, spec := range entra.Specs() {
		if !strings.Contains(spec.Collection, "{parent}") && !spec.Singleton {
			m[strings.TrimPrefix(spec.Collection, "/")] = spec.Kind
		}
	}
	return m
}()

// route finds the handler of a path.
func (c *call) route() (*result, *apiError) {
	segs := c.segs
	if len(segs) == 0 {
		return nil, segmentNotFound("")
	}
	// Collections: the longest collection path that prefixes the request.
	for n := min(3, len(segs)); n >= 1; n-- {
		prefix := strings.Join(segs[:n], "/")
		if k, ok := collectionKinds[prefix]; ok {
			return c.collection(k, segs[n:])
		}
	}
	// Alternate keys: servicePrincipals(appId='...'), applications(appId='...').
	if name, key, ok := parseKeySegment(segs[0]); ok {
		switch name {
		case "servicePrincipals":
			if sp := c.st.spByAppID(key); sp != nil {
				return c.collection(entra.KindServicePrincipal, append([]string{sp.id}, segs[1:]...))
			}
			return nil, notFound(key)
		case "applications":
			if app := c.st.appByAppID(key); app != nil {
				return c.collection(entra.KindApplication, append([]string{app.id}, segs[1:]...))
			}
			return nil, notFound(key)
		}
	}
	switch segs[0] {
	case "directory":
		if len(segs) >= 2 && segs[1] == "deletedItems" {
			return c.deletedItems(segs[2:])
		}
	case "identity":
		if len(segs) >= 3 && segs[1] == "conditionalAccess" && segs[2] == "deletedItems" && c.version == "beta" {
			return c.caDeletedItems(segs[3:])
		}
	case "policies":
		if len(segs) >= 2 && segs[1] == "authenticationMethodsPolicy" {
			return c.authMethods(segs[2:])
		}
	case "auditLogs":
		if len(segs) >= 2 && segs[1] == "directoryAudits" {
			return c.directoryAudits(segs[2:])
		}
	case "directoryObjects":
		if len(segs) == 2 {
			if c.method != http.MethodGet {
				return nil, methodNotAllowed()
			}
			o := c.st.getAny(segs[1])
			if o == nil || !c.st.visible(o) {
				return nil, notFound(segs[1])
			}
			return c.entity(o, "directoryObjects", odataTypeOf(o), nil)
		}
	case "$batch":
		return nil, badRequest("A $batch request cannot contain another $batch request.")
	}
	last := segs[len(segs)-1]
	if len(segs) > 1 {
		last = segs[1]
	}
	return nil, segmentNotFound(last)
}

// parseKeySegment splits "servicePrincipals(appId='x')" into its parts.
func parseKeySegment(seg string) (name, key string, ok bool) {
	open := strings.Index(seg, "(appId='")
	if open < 0 || !strings.HasSuffix(seg, "')") {
		return "", "", false
	}
	return seg[:open], seg[open+len("(appId='") : len(seg)-2], true
}

// odataTypeOf is the @odata.type an object shows in polymorphic collections.
func odataTypeOf(o *object) string {
	if t := getString(o.data, "@odata.type"); t != "" {
		return t
	}
	return o.kind.ODataType()
}

// entity answers one object with its @odata.context.
func (c *call) entity(o *object, context, odataType string, sel []string) (*result, *apiError) {
	p, err := projectionFor(o.kind, sel)
	if err != nil {
		return nil, err
	}
	return jsonResult(200, c.entityBytes(o, context, odataType, p, sel)), nil
}

func (c *call) entityBytes(o *object, context, odataType string, p *projection, sel []string) []byte {
	ctx := c.root + "/$metadata#" + context + selectContext(sel) + "/$entity"
	obj := appendObject(nil, o, p, odataType)
	out := make([]byte, 0, len(obj)+len(ctx)+24)
	out = append(out, `{"@odata.context":`...)
	out = strconv.AppendQuote(out, ctx)
	if len(obj) > 2 {
		out = append(out, ',')
	}
	return append(out, obj[1:]...)
}

// selectOf reads $select for a single-object read.
func (c *call) selectOf() []string {
	v := queryOptions(c.query)["select"]
	if v == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// writeBodyOf parses and validates the request body for kind k.
func (c *call) writeBodyOf(k entra.Kind, create bool, binds ...string) (*writeBody, *apiError) {
	m, err := parseBody(c.body)
	if err != nil {
		return nil, err
	}
	return validateWrite(k, m, create, binds)
}

// contextName is the @odata.context entity set name of a kind's collection.
func contextName(k entra.Kind) string {
	spec := entra.MustLookup(k)
	switch k {
	case entra.KindNamedLocation:
		return "identity/conditionalAccess/namedLocations"
	case entra.KindConditionalAccessPolicy:
		return "identity/conditionalAccess/policies"
	case entra.KindAdministrativeUnit:
		return "directory/administrativeUnits"
	case entra.KindRoleAssignment:
		return "roleManagement/directory/roleAssignments"
	case entra.KindRoleDefinition:
		return "roleManagement/directory/roleDefinitions"
	}
	return strings.TrimPrefix(spec.Collection, "/")
}

// readJSONBody decodes an optional JSON body into v; an empty body is fine.
func (c *call) readOptionalBody() (map[string]any, *apiError) {
	b := bytes.TrimSpace(c.body)
	if len(b) == 0 {
		return map[string]any{}, nil
	}
	m, err := decodeObject(b)
	if err != nil {
		return nil, malformed()
	}
	return m, nil
}
