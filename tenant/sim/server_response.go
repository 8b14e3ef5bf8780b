package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// odataJSON is the content type Graph writes on every JSON answer.
const odataJSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// result is a handler's answer before it reaches the wire (or a $batch item).
type result struct {
	status      int
	body        []byte
	contentType string
	headers     map[string]string
	// pooled says body came from pageBuffer and goes back once written.
	pooled bool
}

// pageBuffers recycles the bodies of collection pages: a capture reads hundreds of
// 2 MB pages, and allocating each anew makes the garbage collector walk the whole
// directory again and again.
var pageBuffers sync.Pool

// maxPooled bounds the buffers kept for reuse.
const maxPooled = 8 << 20

// pageBuffer returns an empty buffer for a page body.
func (c *call) pageBuffer(size int) []byte {
	if b, ok := pageBuffers.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, size)
}

// putPageBuffer hands a buffer back for reuse, unless it is larger than worth keeping.
func putPageBuffer(b []byte) {
	if cap(b) > 0 && cap(b) <= maxPooled {
		b = b[:0]
		pageBuffers.Put(&b)
	}
}

// pagedResult is jsonResult for a body from pageBuffer.
func (c *call) pagedResult(body []byte) *result {
	res := jsonResult(200, body)
	res.pooled = true
	return res
}

// release hands a written result's body back for reuse: once it is on the wire, or
// copied into a $batch envelope.
func (res *result) release() {
	if res.pooled {
		putPageBuffer(res.body)
		res.body = nil
	}
}

func jsonResult(status int, body []byte) *result {
	return &result{status: status, body: body, contentType: odataJSON}
}

func noContent() *result { return &result{status: http.StatusNoContent} }

func textResult(s string) *result {
	return &result{status: 200, body: []byte(s), contentType: "text/plain;charset=utf-8"}
}

// errorResult renders a Graph error body (graph-spec §4.6).
func errorResult(e *apiError, requestID, clientRequestID string, now time.Time) *result {
	inner := map[string]any{
		"date":              now.UTC().Format("2006-01-02T15:04:05"),
		"request-id":        requestID,
		"client-request-id": clientRequestID,
	}
	errObj := map[string]any{"code": e.code, "message": e.message, "innerError": inner}
	if len(e.details) > 0 {
		errObj["details"] = e.details
	}
	body, _ := json.Marshal(map[string]any{"error": errObj})
	r := &result{status: e.status, body: body, contentType: "application/json", headers: map[string]string{}}
	for k, v := range e.headers {
		r.headers[k] = v
	}
	return r
}

// write sends a result with Graph's standard headers.
func (res *result) write(w http.ResponseWriter, requestID, clientRequestID string) {
	h := w.Header()
	h.Set("request-id", requestID)
	h.Set("client-request-id", clientRequestID)
	h.Set("OData-Version", "4.0")
	h.Set("Cache-Control", "no-cache")
	for k, v := range res.headers {
		h.Set(k, v)
	}
	if res.contentType != "" {
		h.Set("Content-Type", res.contentType)
	}
	if res.status != http.StatusNoContent {
		h.Set("Content-Length", strconv.Itoa(len(res.body)))
	}
	w.WriteHeader(res.status)
	if res.status != http.StatusNoContent {
		_, _ = w.Write(res.body)
	}
}

// writeHTTPError answers a request outside Graph's pipeline (unknown root paths).
func writeHTTPError(w http.ResponseWriter, r *http.Request, e *apiError) {
	rid := newGUID()
	crid := r.Header.Get("client-request-id")
	if crid == "" {
		crid = rid
	}
	errorResult(e, rid, crid, time.Now()).write(w, rid, crid)
}

// writePlainJSON answers the authority and control endpoints, which are not OData.
func writePlainJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
