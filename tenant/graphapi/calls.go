package graphapi

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	khttp "github.com/microsoft/kiota-http-go"
)

// Call is one HTTP attempt as the console's call log shows it. It never holds headers or
// bodies, so no token or secret can reach it.
type Call struct {
	// Time is when the attempt went out (after any pacing wait).
	Time time.Time
	// Method and Path say what was asked; Path is relative to the version root
	// ("/users/1234"), without the query.
	Method, Path string
	// Status is the HTTP status, 0 when no response came back.
	Status int
	// Duration is the time on the wire.
	Duration time.Duration
	// Retry is the SDK retry handler's Retry-Attempt header: 0 for a first attempt.
	Retry int
	// RequestID is Graph's request-id, what Microsoft support asks for.
	RequestID string
	// Throttled marks 429 answers.
	Throttled bool
	// Batch marks $batch envelopes; Items is how many requests the envelope carried.
	Batch bool
	Items int
}

// callRingSize bounds the call log: enough for a long apply, small enough to keep in memory.
const callRingSize = 10000

// callRing keeps the last calls, oldest overwritten first.
type callRing struct {
	mu   sync.Mutex
	buf  []Call
	next int
	full bool
}

func newCallRing(n int) *callRing { return &callRing{buf: make([]Call, n)} }

func (r *callRing) add(c Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = c
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// snapshot returns the calls oldest first.
func (r *callRing) snapshot() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]Call(nil), r.buf[:r.next]...)
	}
	out := make([]Call, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}

// Calls returns the most recent HTTP attempts (up to 10,000), oldest first.
func (c *Client) Calls() []Call { return c.calls.snapshot() }

// recordHandler is the innermost middleware: it sees each attempt exactly as sent, after
// the retry handler set Retry-Attempt and the pacer let it go.
type recordHandler struct{ c *Client }

var _ khttp.Middleware = (*recordHandler)(nil)

// Intercept records the attempt. It also buffers the bodies of answers the retry handler
// may throw away (429, 503, 504): the handler drops them unread, which would leak the
// connection behind each one.
func (h *recordHandler) Intercept(p khttp.Pipeline, i int, req *http.Request) (*http.Response, error) {
	c := h.c
	start := c.now()
	resp, err := p.Next(req, i)
	call := Call{
		Time:     start,
		Method:   req.Method,
		Path:     c.ep.display(req.URL),
		Duration: c.now().Sub(start),
	}
	call.Retry, _ = strconv.Atoi(req.Header.Get("Retry-Attempt"))
	if m, ok := metaFrom(req.Context()); ok && m.batchItems > 0 {
		call.Batch, call.Items = true, m.batchItems
	}
	if resp != nil {
		call.Status = resp.StatusCode
		call.RequestID = requestID(resp.Header)
		call.Throttled = resp.StatusCode == http.StatusTooManyRequests
		if retriableStatus(resp.StatusCode) && resp.Body != nil {
			// A read error only shortens the body; the status is what the retry
			// handler and the caller act on.
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(b))
		}
	}
	c.requests.Add(1)
	if call.Retry > 0 {
		c.retries.Add(1)
	}
	if call.Throttled {
		c.throttled.Add(1)
	}
	c.calls.add(call)
	if c.observer != nil {
		c.observer(call)
	}
	return resp, err
}
