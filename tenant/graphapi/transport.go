package graphapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
)

const (
	// maxRetries is the kiota retry handler's budget per request (the SDK default is 3):
	// with pacing, 429s are rare, and when they come in a burst a few more patient
	// retries save a failed restore step.
	maxRetries = 5
	// maxInlineRetryAfter is the longest Retry-After the retry handler sits out on its own;
	// longer ones come back as a 429 *Error with RetryAfter so the engine can show the wait
	// and schedule around it rather than hang silently.
	maxInlineRetryAfter = 2 * time.Minute
	// maxBody bounds what one response may hold (a page of 999 objects is a few MB).
	maxBody = 256 << 20
	// getAttempts covers connection resets and cut-off bodies on reads, which the SDK's
	// retry handler does not retry; GETs are safe to send again.
	getAttempts = 3
)

// newHTTPClient builds the SDK's middleware pipeline over the base transport, with lifeline's
// pacer and recorder innermost so that every attempt, retries included, is charged and logged.
func (c *Client) newHTTPClient(base *http.Client) *http.Client {
	mws := append(graphMiddlewares(), &paceHandler{c}, &recordHandler{c})

	var rt http.RoundTripper
	switch {
	case base == nil:
		rt = defaultTransport()
	case base.Transport == nil:
		rt = http.DefaultTransport
	default:
		rt = base.Transport
	}
	return &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(rt, mws...),
		// The SDK's redirect handler follows redirects (and drops the token across hosts).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		// No client timeout: it would cut the retry handler's Retry-After waits short.
		// Contexts bound requests; the transport bounds a silent server.
	}
}

// graphMiddlewares is msgraph-sdk-go-core's default pipeline in a fixed order. kiota
// assembles its defaults from a Go map, so their order changes from run to run, and order
// matters: with the compression handler inside the retry handler, a retried POST goes out
// uncompressed under "Content-Encoding: gzip" (each handler works on its own shallow copy of
// the request). Compression goes outside retry, so retries resend the same gzip bytes.
func graphMiddlewares() []khttp.Middleware {
	opts := msgraphsdk.GetDefaultClientOptions()
	mws := msgraphgocore.GetDefaultMiddlewaresWithOptions(&opts)
	for i, m := range mws {
		if _, ok := m.(*khttp.CompressionHandler); ok {
			mws[i] = &gzipHandler{}
		}
	}
	sort.SliceStable(mws, func(i, j int) bool { return middlewareRank(mws[i]) < middlewareRank(mws[j]) })
	return mws
}

// gzipHandler stands in for kiota's CompressionHandler and does what it does (gzip a
// request body, at the same level, unless the request opted out or is already encoded;
// send it again uncompressed after a 415), with its gzip writers reused: kiota allocates
// a new writer, 800 KB of deflate state, for every request, and a capture's thousands of
// $batch envelopes made that the client's largest allocation.
type gzipHandler struct{}

var _ khttp.Middleware = (*gzipHandler)(nil)

// compressOption is kiota's per-request compression option key.
var compressOption = abs.RequestOptionKey{Key: "CompressionHandler"}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func (*gzipHandler) Intercept(pipeline khttp.Pipeline, middlewareIndex int, req *http.Request) (*http.Response, error) {
	if o, ok := req.Context().Value(compressOption).(interface{ ShouldCompress() bool }); ok && !o.ShouldCompress() {
		return pipeline.Next(req, middlewareIndex)
	}
	if req.Body == nil || req.Header.Get("Content-Encoding") != "" || hasByteRange(req.Header) {
		return pipeline.Next(req, middlewareIndex)
	}
	plain, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	plainLength := req.ContentLength
	var buf bytes.Buffer
	buf.Grow(len(plain)/4 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&buf)
	_, err = zw.Write(plain)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	gzipWriters.Put(zw)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Encoding", "gzip")
	req.Body = khttp.NopCloser(bytes.NewReader(buf.Bytes()))
	req.ContentLength = int64(buf.Len())
	resp, err := pipeline.Next(req, middlewareIndex)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnsupportedMediaType {
		resp.Body.Close()
		req.Header.Del("Content-Encoding")
		req.Body = khttp.NopCloser(bytes.NewReader(plain))
		req.ContentLength = plainLength
		return pipeline.Next(req, middlewareIndex)
	}
	return resp, nil
}

// hasByteRange reports a Content-Range in bytes (an upload slice), which is sent as is.
func hasByteRange(h http.Header) bool {
	for _, v := range h.Values("Content-Range") {
		if strings.Contains(strings.ToLower(v), "bytes") {
			return true
		}
	}
	return false
}

func middlewareRank(m khttp.Middleware) int {
	switch m.(type) {
	case *msgraphgocore.GraphTelemetryHandler:
		return 0
	case *khttp.UrlReplaceHandler:
		return 1
	case *gzipHandler:
		return 2
	case *khttp.RetryHandler:
		return 3
	case *khttp.RedirectHandler:
		return 4
	case *khttp.ParametersNameDecodingHandler:
		return 5
	case *khttp.UserAgentHandler:
		return 6
	case *khttp.HeadersInspectionHandler:
		return 7
	}
	return 8
}

// defaultTransport is kiota's transport with room for a worker pool's connections to one
// host and a bound on servers that accept a request and never answer.
func defaultTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ForceAttemptHTTP2 = true
	t.MaxIdleConnsPerHost = 32
	t.ResponseHeaderTimeout = 2 * time.Minute
	return t
}

var kiotaMethods = map[string]abs.HttpMethod{
	http.MethodGet:     abs.GET,
	http.MethodPost:    abs.POST,
	http.MethodPatch:   abs.PATCH,
	http.MethodPut:     abs.PUT,
	http.MethodDelete:  abs.DELETE,
	http.MethodHead:    abs.HEAD,
	http.MethodOptions: abs.OPTIONS,
}

// rawResponse is an answer exactly as it came, before any interpretation.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// readFailure is a body that broke off mid-read: a network failure, like a refused
// connection, and retried the same way.
type readFailure struct{ err error }

func (e *readFailure) Error() string { return "reading the response: " + e.err.Error() }
func (e *readFailure) Unwrap() error { return e.err }

// exchange sends one request through the SDK's request adapter (token, middleware pipeline)
// and returns the raw answer. Every status comes back as a rawResponse; errors mean no
// usable answer arrived.
func (c *Client) exchange(ctx context.Context, method string, u *url.URL, body []byte, headers map[string]string) (*rawResponse, error) {
	m, ok := kiotaMethods[method]
	path := c.ep.display(u)
	if !ok {
		return nil, fmt.Errorf("%s %s: lifeline does not send %q requests.", method, path, method)
	}
	attempts := 1
	if m, _ := metaFrom(ctx); method == http.MethodGet || m.readsOnly {
		attempts = getAttempts
	}
	for attempt := 1; ; attempt++ {
		res, err := c.exchangeOnce(ctx, m, u, body, headers)
		var ue *url.Error
		var rf *readFailure
		switch {
		case err == nil && (attempt >= attempts || !serverFault(res.status)):
			return res, nil
		case err == nil:
			// A read Graph failed on its side is sent again, as a lost one is.
		case ctx.Err() != nil:
			return nil, &requestFailure{method: method, path: path, host: c.ep.host, err: ctx.Err()}
		case !errors.As(err, &ue) && !errors.As(err, &rf):
			// Not the network: the token could not be had.
			return nil, signInError(err, c.who, c.ep.scope())
		case attempt >= attempts:
			return nil, &requestFailure{method: method, path: path, host: c.ep.host, err: err}
		}
		if err := c.sleep(ctx, time.Duration(attempt)*500*time.Millisecond); err != nil {
			return nil, &requestFailure{method: method, path: path, host: c.ep.host, err: err}
		}
	}
}

func (c *Client) exchangeOnce(ctx context.Context, m abs.HttpMethod, u *url.URL, body []byte, headers map[string]string) (*rawResponse, error) {
	ri := abs.NewRequestInformation()
	ri.Method = m
	ri.SetUri(*u)
	for k, v := range headers {
		ri.Headers.Add(k, v)
	}
	if body != nil {
		ri.Content = body
		if !ri.Headers.ContainsKey("Content-Type") {
			ri.Headers.Add("Content-Type", "application/json")
		}
	}
	var out *rawResponse
	handler := abs.NewRequestHandlerOption()
	// A response handler hands the adapter's raw *http.Response to lifeline: Graph's JSON
	// stays byte for byte as sent, and error bodies are mapped by status and content rather
	// than through the SDK's model (whose Error method panics on a body without "error").
	handler.SetResponseHandler(func(r any, _ abs.ErrorMappings) (any, error) {
		resp, ok := r.(*http.Response)
		if !ok || resp == nil {
			return nil, &readFailure{errors.New("no response")}
		}
		defer resp.Body.Close()
		b, err := readResponseBody(resp)
		if err != nil {
			return nil, &readFailure{err}
		}
		if len(b) > maxBody {
			return nil, &readFailure{fmt.Errorf("the response is larger than %d MiB", maxBody>>20)}
		}
		out = &rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
		return nil, nil
	})
	ri.AddRequestOptions([]abs.RequestOption{handler, c.retryOptions()})
	if _, err := c.adapter.SendPrimitive(ctx, ri, "[]byte", nil); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, &readFailure{errors.New("no response")}
	}
	return out, nil
}

// retryOptions configures the SDK's retry handler per request: it honours Retry-After,
// backs off exponentially without it (Conditional Access answers 429 without one), stops
// when the caller gives up, and leaves long waits to the caller.
func (c *Client) retryOptions() *khttp.RetryHandlerOptions {
	return &khttp.RetryHandlerOptions{
		MaxRetries:   maxRetries,
		DelaySeconds: c.retryDelaySeconds,
		ShouldRetry: func(_ time.Duration, _ int, req *http.Request, resp *http.Response) bool {
			if req.Context().Err() != nil {
				return false
			}
			if resp.StatusCode == http.StatusGatewayTimeout && createsOnResend(req) {
				return false
			}
			d, ok := retryAfter(resp.Header.Get("Retry-After"), c.now())
			return !ok || d <= maxInlineRetryAfter
		},
	}
}

// isTextual reports whether a success body is legitimately not JSON ($count answers
// text/plain).
func isTextual(contentType string) bool {
	ct, _, _ := strings.Cut(strings.ToLower(contentType), ";")
	ct = strings.TrimSpace(ct)
	return ct == "text/plain" || ct == "application/octet-stream"
}

// requestMeta travels in a request's context from the client's methods down to its own
// middlewares: a batch envelope is paced by its items, not by itself.
type requestMeta struct {
	cost       cost
	costSet    bool
	batchItems int
	// readsOnly marks a POST that changes nothing (a $batch of GETs): sent again, as a
	// GET is, when its answer is lost.
	readsOnly bool
	// creates marks a $batch holding a POST item: see createsOnResend.
	creates bool
}

type metaKey struct{}

func withMeta(ctx context.Context, m requestMeta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

func metaFrom(ctx context.Context) (requestMeta, bool) {
	m, ok := ctx.Value(metaKey{}).(requestMeta)
	return m, ok
}

// createsOnResend reports whether sending req again after a 504 could create twice: a
// gateway timeout says nothing of whether the directory behind it applied the request,
// and a POST (a create, or a $batch holding one) has no natural idempotence. The SDK
// resends it; lifeline hands the 504 to its caller instead, and apply looks the object
// up by its natural key before it sends the create again.
func createsOnResend(req *http.Request) bool {
	if req.Method != http.MethodPost {
		return false
	}
	m, ok := metaFrom(req.Context())
	if !ok || m.batchItems == 0 {
		return true
	}
	return m.creates
}

// serverFault reports a status Graph gives for a fault on its side that the next
// attempt usually does not meet (500, 502). The SDK retries neither, and lifeline sends
// only reads again: a write Graph answered with 500 may have been applied.
func serverFault(s int) bool {
	return s == http.StatusInternalServerError || s == http.StatusBadGateway
}

func retriableStatus(s int) bool {
	return s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout
}

func requestID(h http.Header) string {
	if id := h.Get("request-id"); id != "" {
		return id
	}
	return h.Get("client-request-id")
}

// retryAfter parses a Retry-After value: seconds (Graph's form) or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

// readResponseBody reads a response body of at most maxBody+1 bytes. A body of announced
// length is read into one buffer of that size: io.ReadAll would grow a 2 MB page from 512
// bytes, copying and clearing it a dozen times.
func readResponseBody(resp *http.Response) ([]byte, error) {
	n := resp.ContentLength
	if n <= 0 || n > maxBody {
		return io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(resp.Body, b); err != nil {
		return nil, err
	}
	// Read to the end (net/http has already said EOF with the last bytes, so this costs
	// nothing): the connection is reused only after EOF, and a body longer than announced
	// is read whole, as before.
	var probe [512]byte
	for {
		k, err := resp.Body.Read(probe[:])
		b = append(b, probe[:k]...)
		if int64(len(b)) > maxBody {
			return b, nil
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
