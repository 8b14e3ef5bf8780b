package graphapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// Error is an answer from Graph that lifeline could not use: an error status, or a success
// whose body was not what Graph sends. Branch on Status and Code, never on Message
// (Microsoft's own advice).
type Error struct {
	// Status is the HTTP status (of the batch item, for batch results).
	Status int
	// Code and Message come from Graph's error body ("Request_ResourceNotFound", ...).
	Code, Message string
	// RequestID is Graph's request-id, for Microsoft support.
	RequestID string
	// Method and Path are the request, Path relative to the version root.
	Method, Path string
	// RetryAfter is Graph's Retry-After, when it sent one.
	RetryAfter time.Duration

	// problem, when set, describes a body that was not a Graph error body at all.
	problem string
}

// Error reads as one sentence: the request, Graph's answer, and what to do where obvious.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: Graph answered %d", e.Method, e.Path, e.Status)
	msg := strings.TrimRight(e.Message, ". ")
	switch {
	case e.problem != "":
		b.WriteString(" " + e.problem)
	case e.Code != "" && msg != "":
		b.WriteString(" " + e.Code + ": " + msg)
	case e.Code != "":
		b.WriteString(" " + e.Code)
	case msg != "":
		b.WriteString(": " + msg)
	default:
		b.WriteString(" with no error details")
	}
	if h := e.hint(); h != "" {
		b.WriteString("; " + h)
	}
	b.WriteString(".")
	return b.String()
}

// hint is the operator's next step, for the statuses where there is an obvious one.
func (e *Error) hint() string {
	switch {
	case e.problem != "" && e.Status < 300:
		return "check that the graph URL points at Microsoft Graph or a lifeline simulated tenant, then retry"
	case e.Status == http.StatusUnauthorized:
		return "check the app's credentials and that they belong to this tenant"
	case e.Status == http.StatusForbidden:
		return "grant the app the Graph permission this request needs and admin-consent it"
	case e.Status == http.StatusTooManyRequests:
		if e.RetryAfter > 0 {
			return fmt.Sprintf("Graph is throttling this app: wait %s or lower the pace", e.RetryAfter.Round(time.Second))
		}
		return "Graph is throttling this app: wait a little or lower the pace"
	case e.Status == http.StatusServiceUnavailable || e.Status == http.StatusGatewayTimeout:
		return "Graph is busy: retry in a moment"
	}
	return ""
}

// IsNotFound reports whether err says the object does not exist (404).
func IsNotFound(err error) bool {
	s, code, _ := errorFacts(err)
	return s == http.StatusNotFound || code == "Request_ResourceNotFound"
}

// IsConflict reports whether err says the object, or the link, already exists: a 409, or
// the 400 Request_BadRequest Graph uses for duplicate keys ("Another object with the same
// value for property ... already exists") and for links that are already there ("One or
// more added object references already exist", "Permission being assigned already exists
// on the object" for app role assignments). A restore treats these as "already done,
// reconcile".
func IsConflict(err error) bool {
	s, code, msg := errorFacts(err)
	if s == http.StatusConflict || code == "Request_MultipleObjectsWithSameKeyValue" {
		return true
	}
	return s == http.StatusBadRequest &&
		(strings.Contains(msg, "Another object with the same value") ||
			strings.Contains(msg, "added object references already exist") ||
			strings.Contains(msg, "Permission being assigned already exists"))
}

// IsThrottled reports whether err is Graph throttling the request (429), after the SDK's
// retries (or lifeline's, for batch items) ran out.
func IsThrottled(err error) bool {
	s, _, _ := errorFacts(err)
	return s == http.StatusTooManyRequests
}

// IsUnanswered reports whether err says the request got no answer at all: the tenant
// could not be reached, or the connection broke before a response came. Whether the
// request took effect is then unknown; a cancellation by the caller is not this.
func IsUnanswered(err error) bool {
	var rf *requestFailure
	return errors.As(err, &rf) && !errors.Is(rf.err, context.Canceled) && !errors.Is(rf.err, context.DeadlineExceeded)
}

// errorFacts extracts status, code and message from lifeline's errors and from the typed
// SDK's, so the Is* helpers work for callers of SDK() too.
func errorFacts(err error) (status int, code, msg string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Status, e.Code, e.Message
	}
	var oe odataerrors.ODataErrorable
	if errors.As(err, &oe) {
		if me := oe.GetErrorEscaped(); me != nil {
			code, msg = deref(me.GetCode()), deref(me.GetMessage())
		}
	}
	var ae abs.ApiErrorable
	if errors.As(err, &ae) {
		status = ae.GetStatusCode()
	}
	return status, code, msg
}

// FromSDK turns an error from the typed client (SDK) into lifeline's one-sentence *Error, so
// that callers who use models at the edges report failures like everybody else. Errors that
// are not Graph answers are returned unchanged.
func FromSDK(err error, method, path string) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ae abs.ApiErrorable
	if !errors.As(err, &ae) {
		return err
	}
	out := &Error{Status: ae.GetStatusCode(), Method: method, Path: path}
	var oe odataerrors.ODataErrorable
	if errors.As(err, &oe) {
		if me := oe.GetErrorEscaped(); me != nil {
			out.Code, out.Message = deref(me.GetCode()), cleanText(deref(me.GetMessage()), 300)
			if ie := me.GetInnerError(); ie != nil {
				out.RequestID = deref(ie.GetRequestId())
			}
		}
	}
	if h := ae.GetResponseHeaders(); h != nil {
		if v := h.Get("Retry-After"); len(v) > 0 {
			out.RetryAfter, _ = retryAfter(v[0], time.Now())
		}
		if out.RequestID == "" {
			if v := h.Get("request-id"); len(v) > 0 {
				out.RequestID = v[0]
			}
		}
	}
	if out.Code == "" && out.Message == "" {
		out.problem = "with no error details the SDK could read"
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// graphErrorBody is Graph's error shape (graph-spec §4.6).
type graphErrorBody struct {
	Error *struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError *struct {
			RequestID string `json:"request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

// newStatusError maps a non-2xx answer, whatever its body, to an *Error.
func newStatusError(method, path string, status int, header http.Header, body []byte, now time.Time) *Error {
	e := &Error{Status: status, Method: method, Path: path, RequestID: requestID(header)}
	if d, ok := retryAfter(header.Get("Retry-After"), now); ok {
		e.RetryAfter = d
	}
	trimmed := strings.TrimSpace(string(body))
	if trimmed == "" {
		return e
	}
	var g graphErrorBody
	if err := json.Unmarshal(body, &g); err != nil || g.Error == nil {
		e.problem = "with a body that is not a Graph error: " + snippet(trimmed)
		return e
	}
	e.Code = cleanText(g.Error.Code, 100)
	e.Message = cleanText(g.Error.Message, 300)
	if g.Error.InnerError != nil && g.Error.InnerError.RequestID != "" && e.RequestID == "" {
		e.RequestID = g.Error.InnerError.RequestID
	}
	return e
}

// newBodyError is a success status whose body lifeline cannot use.
func newBodyError(method, path string, status int, header http.Header, what string) *Error {
	return &Error{Status: status, Method: method, Path: path, RequestID: requestID(header), problem: what}
}

// jsonProblem describes in a few words why a body is not the JSON expected; err is the
// decoder's complaint, used when the JSON is valid but of the wrong shape.
func jsonProblem(body []byte, err error) string {
	s := strings.TrimSpace(string(body))
	switch {
	case s == "":
		return "with an empty body where JSON was expected"
	case json.Valid(body):
		return "with JSON of an unexpected shape (" + cleanText(err.Error(), 120) + ")"
	case looksTruncated(s):
		return "with a body that was cut off before the JSON ended"
	}
	return "with a body that is not JSON: " + snippet(s)
}

// looksTruncated: starts like JSON but ends early, the signature of a page cut off in
// transit (as opposed to an HTML error page from a proxy).
func looksTruncated(s string) bool {
	if s[0] != '{' && s[0] != '[' {
		return false
	}
	var v any
	err := json.Unmarshal([]byte(s), &v)
	return err != nil && strings.Contains(err.Error(), "unexpected end of JSON input")
}

// snippet quotes the start of a body so the operator can recognise it (an HTML login page, a
// proxy's error), without dumping it.
func snippet(s string) string {
	return strconv.Quote(cleanText(s, 60))
}

// cleanText makes server-provided text fit in one line: whitespace collapsed, control
// characters dropped, length capped on a rune boundary.
func cleanText(s string, limit int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case !unicode.IsPrint(r):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "…"
	}
	return out
}

// requestFailure describes a request that got no answer: the network failed or the caller
// gave up. It wraps the cause so errors.Is(err, context.Canceled) still works.
type requestFailure struct {
	method, path, host string
	err                error
}

func (e *requestFailure) Error() string {
	switch {
	case errors.Is(e.err, context.Canceled):
		return fmt.Sprintf("%s %s: stopped because the operation was cancelled.", e.method, e.path)
	case errors.Is(e.err, context.DeadlineExceeded):
		return fmt.Sprintf("%s %s: %s did not answer in time; check the graph URL and that the tenant is reachable.", e.method, e.path, e.host)
	}
	cause := e.err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err
	}
	return fmt.Sprintf("%s %s: could not reach %s (%s); check the graph URL and that the tenant is reachable.",
		e.method, e.path, e.host, cleanText(cause.Error(), 200))
}

func (e *requestFailure) Unwrap() error { return e.err }
