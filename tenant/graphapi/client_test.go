package graphapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The SDK compresses request bodies; they must arrive as gzip and decode to what was sent.
func TestRequestBodiesArriveGzipped(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1.0/users" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("Content-Encoding = %q, want gzip", r.Header.Get("Content-Encoding"))
		}
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("Content-Type = %q", r.Header.Get("Content-Type"))
		}
		var in map[string]any
		if err := json.Unmarshal(readBody(t, r), &in); err != nil {
			t.Errorf("body: %v", err)
		}
		in["id"] = "new-id"
		writeJSON(w, 201, in)
	})
	c := f.client(nil)
	resp, err := c.Do(context.Background(), Request{Method: "POST", Path: "/users", Body: json.RawMessage(`{"displayName":"Adele Vance"}`)})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if resp.Status != 201 || !strings.Contains(string(resp.Body), `"id":"new-id"`) || !strings.Contains(string(resp.Body), "Adele Vance") {
		t.Errorf("resp = %d %s", resp.Status, resp.Body)
	}
	if resp.RequestID != "req-201" {
		t.Errorf("RequestID = %q", resp.RequestID)
	}
}

// attempts records when each attempt reached the server, with the retry header it carried.
type attempts struct {
	mu    sync.Mutex
	times []time.Time
	retry []string
	body  []string
}

func (a *attempts) add(t *testing.T, r *http.Request) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.times = append(a.times, time.Now())
	a.retry = append(a.retry, r.Header.Get("Retry-Attempt"))
	if r.Body != nil {
		a.body = append(a.body, string(readBody(t, r)))
	}
	return len(a.times)
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	for _, status := range []int{429, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			var a attempts
			f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
				if a.add(t, r) == 1 {
					w.Header().Set("Retry-After", "1")
					writeJSON(w, status, map[string]any{"error": map[string]any{"code": "TooManyRequests", "message": "Please retry again later."}})
					return
				}
				writeJSON(w, 200, map[string]any{"id": "u1"})
			})
			var observed []Call
			var mu sync.Mutex
			c := f.client(func(c *Config) {
				c.Observer = func(call Call) { mu.Lock(); observed = append(observed, call); mu.Unlock() }
			})
			body, err := c.Get(context.Background(), "/users/u1", ListOptions{Select: []string{"id"}})
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if string(body) != "{\"id\":\"u1\"}\n" {
				t.Errorf("body = %q", body)
			}
			if len(a.times) != 2 {
				t.Fatalf("attempts = %d, want 2", len(a.times))
			}
			if gap := a.times[1].Sub(a.times[0]); gap < 900*time.Millisecond {
				t.Errorf("retried after %v, before Retry-After's 1 s", gap)
			}
			if a.retry[0] != "" || a.retry[1] != "1" {
				t.Errorf("Retry-Attempt headers = %q", a.retry)
			}
			calls := c.Calls()
			last := calls[len(calls)-2:]
			if last[0].Status != status || last[0].Retry != 0 || last[0].Throttled != (status == 429) ||
				last[1].Status != 200 || last[1].Retry != 1 || last[1].Path != "/users/u1" || last[1].Method != "GET" {
				t.Errorf("calls = %+v", last)
			}
			if last[0].RequestID != fmt.Sprintf("req-%d", status) || last[1].RequestID != "req-200" {
				t.Errorf("request ids = %q, %q", last[0].RequestID, last[1].RequestID)
			}
			mu.Lock()
			if len(observed) != len(calls) {
				t.Errorf("observer saw %d calls, ring holds %d", len(observed), len(calls))
			}
			mu.Unlock()
			s := c.Stats()
			if s.Retries != 1 || (status == 429) != (s.Throttled == 1) {
				t.Errorf("stats = %+v", s)
			}
			assertNoToken(t, f, calls)
		})
	}
}

// assertNoToken: the call log holds no token, however it is printed.
func assertNoToken(t *testing.T, f *fixture, calls []Call) {
	t.Helper()
	dump := fmt.Sprintf("%+v %#v", calls, calls)
	for _, part := range strings.Split(f.token, ".") {
		if strings.Contains(dump, part) {
			t.Fatalf("the call log contains part of the token")
		}
	}
}

// Conditional Access answers 429 without Retry-After: the retry handler backs off on its own.
func TestThrottleWithoutRetryAfterBacksOff(t *testing.T) {
	t.Parallel()
	var a attempts
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if a.add(t, r) == 1 {
			writeJSON(w, 429, map[string]any{"error": map[string]any{"code": "TooManyRequests", "message": "Too many requests."}})
			return
		}
		writeJSON(w, 200, map[string]any{"value": []any{map[string]any{"id": "p1"}}})
	})
	c := f.client(nil)
	var n int
	if _, err := c.List(context.Background(), "/identity/conditionalAccess/policies", ListOptions{}, func(p Page) error {
		n += len(p.Items)
		return nil
	}); err != nil {
		t.Fatalf("List: %v", err)
	}
	if n != 1 || len(a.times) != 2 {
		t.Fatalf("items %d, attempts %d", n, len(a.times))
	}
	if gap := a.times[1].Sub(a.times[0]); gap < 900*time.Millisecond {
		t.Errorf("retried after %v: no backoff", gap)
	}
}

// A retried POST must resend the same compressed body: kiota's handler order is random, and
// with compression inside the retry handler the retry went out uncompressed under a gzip header.
func TestRetriedPostResendsTheGzippedBody(t *testing.T) {
	t.Parallel()
	var a attempts
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if a.add(t, r) == 1 {
			w.Header().Set("Retry-After", "0")
			writeJSON(w, 429, map[string]any{"error": map[string]any{"code": "TooManyRequests"}})
			return
		}
		writeJSON(w, 204, nil)
	})
	c := f.client(nil)
	for i := 0; i < 3; i++ {
		if _, err := c.Do(context.Background(), Request{Method: "PATCH", Path: "/users/u1", Body: json.RawMessage(`{"department":"Legal"}`)}); err != nil {
			t.Fatalf("Do: %v", err)
		}
		a.mu.Lock()
		a.times = a.times[:0]
		a.mu.Unlock()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, b := range a.body {
		if b != `{"department":"Legal"}` {
			t.Errorf("attempt %d body = %q", i, b)
		}
	}
}

func TestErrorsAreOneSentence(t *testing.T) {
	t.Parallel()
	type answer struct {
		status int
		ctype  string
		body   string
	}
	cases := []struct {
		name   string
		answer answer
		want   string // exact, or a fragment when prefixed with "~"
		check  func(error) bool
	}{
		{"not found", answer{404, "application/json", `{"error":{"code":"Request_ResourceNotFound","message":"Resource '1234' does not exist or one of its queried reference-property objects are not present.","innerError":{"date":"2025-02-13T10:17:06","request-id":"93b6f17e"}}}`},
			"GET /users/1234: Graph answered 404 Request_ResourceNotFound: Resource '1234' does not exist or one of its queried reference-property objects are not present.", IsNotFound},
		{"duplicate key", answer{400, "application/json", `{"error":{"code":"Request_BadRequest","message":"Another object with the same value for property userPrincipalName already exists."}}`},
			"GET /users/1234: Graph answered 400 Request_BadRequest: Another object with the same value for property userPrincipalName already exists.", IsConflict},
		{"conflict", answer{409, "application/json", `{"error":{"code":"Request_MultipleObjectsWithSameKeyValue","message":"A conflicting object with one or more of the specified property values is present in the directory."}}`},
			"~409 Request_MultipleObjectsWithSameKeyValue", IsConflict},
		{"forbidden", answer{403, "application/json", `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`},
			"GET /users/1234: Graph answered 403 Authorization_RequestDenied: Insufficient privileges to complete the operation; grant the app the Graph permission this request needs and admin-consent it.", nil},
		{"empty error body", answer{500, "", ""}, "GET /users/1234: Graph answered 500 with no error details.", nil},
		{"html error body", answer{502, "text/html", "<html><body>Bad gateway</body></html>"},
			`GET /users/1234: Graph answered 502 with a body that is not a Graph error: "<html><body>Bad gateway</body></html>".`, nil},
		{"multi-line message", answer{400, "application/json", `{"error":{"code":"Request_BadRequest","message":"line one\nline two\r\n"}}`},
			"GET /users/1234: Graph answered 400 Request_BadRequest: line one line two.", nil},
		{"garbage 200", answer{200, "application/json", "not json at all"},
			`~Graph answered 200 with a body that is not JSON: "not json at all"; check that the graph URL`, nil},
		{"cut-off 200", answer{200, "application/json", `{"id":"1234","displayName":"Ade`},
			"~Graph answered 200 with a body that was cut off before the JSON ended", nil},
		{"html 200", answer{200, "text/html", "<html>Sign in to your proxy</html>"}, "~with a body that is not JSON", nil},
		{"array 200", answer{200, "application/json", `[1,2]`}, "~with a body that is not a JSON object", nil},
		{"throttled", answer{429, "application/json", `{"error":{"code":"TooManyRequests","message":"Please retry again later."}}`},
			"~lower the pace", IsThrottled},
	}
	var mu sync.Mutex
	current := map[string]answer{}
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		a := current[r.Header.Get("X-Case")]
		mu.Unlock()
		if a.ctype != "" {
			w.Header().Set("Content-Type", a.ctype)
		}
		if a.status == 429 {
			w.Header().Set("Retry-After", "600") // longer than lifeline waits inline
		}
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	})
	c := f.client(nil)
	for _, tc := range cases {
		mu.Lock()
		current[tc.name] = tc.answer
		mu.Unlock()
		_, err := c.Get(context.Background(), "/users/1234", ListOptions{Headers: map[string]string{"X-Case": tc.name}})
		assertSentence(t, err)
		msg := err.Error()
		if frag, ok := strings.CutPrefix(tc.want, "~"); ok {
			if !strings.Contains(msg, frag) {
				t.Errorf("%s: %q does not contain %q", tc.name, msg, frag)
			}
		} else if msg != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, msg, tc.want)
		}
		if tc.check != nil && !tc.check(err) {
			t.Errorf("%s: classifier false for %v", tc.name, err)
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != tc.answer.status || e.Method != "GET" || e.Path != "/users/1234" {
			t.Errorf("%s: *Error = %+v", tc.name, e)
		}
		if tc.answer.status == 429 && e.RetryAfter != 10*time.Minute {
			t.Errorf("RetryAfter = %v, want Graph's 600 s", e.RetryAfter)
		}
	}
	if !IsNotFound(&Error{Status: 404}) || IsNotFound(errors.New("x")) || IsConflict(&Error{Status: 400, Message: "Invalid value"}) {
		t.Error("classifiers misfire")
	}
	if !IsConflict(&Error{Status: 400, Message: "One or more added object references already exist for the following modified properties: 'members'."}) {
		t.Error("an existing link is a conflict")
	}
}

// A non-2xx returns the Response too: its headers matter (Location on a delta 410).
func TestErrorKeepsResponse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "https://example.invalid/next")
		writeJSON(w, 410, map[string]any{"error": map[string]any{"code": "resyncRequired", "message": "Resync required."}})
	})
	c := f.client(nil)
	resp, err := c.Do(context.Background(), Request{Path: "/users/delta"})
	if err == nil || resp == nil || resp.Header.Get("Location") == "" || resp.Status != 410 {
		t.Fatalf("resp %+v, err %v", resp, err)
	}
}

func TestInvalidRequestsSendNothing(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	c := f.client(nil)
	ctx := context.Background()
	for _, r := range []Request{
		{Method: "POST", Path: "/users", Body: json.RawMessage(`{"broken"`)},
		{Path: "https://evil.example.com/v1.0/users"},
		{Method: "TRACE", Path: "/users"},
	} {
		_, err := c.Do(ctx, r)
		assertSentence(t, err)
	}
	if hits.Load() != 0 {
		t.Errorf("%d invalid requests reached the server", hits.Load())
	}
}

func TestCancellationReturnsPromptly(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	c := f.client(nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := c.Get(ctx, "/users/u1", ListOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	assertSentence(t, err)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancellation took %v", d)
	}
}

// Raw reaches the sim's control surface with the token, outside Graph's pacing.
func TestRawReachesTheControlSurface(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_sim/clock" || r.Method != "POST" {
			http.NotFound(w, r)
			return
		}
		if got := string(readBody(t, r)); got != `{"advance":"720h"}` {
			t.Errorf("body = %q", got)
		}
		writeJSON(w, 200, map[string]any{"now": "2026-04-01T00:00:00Z"})
	})
	c := f.client(nil)
	before := c.Stats()
	resp, err := c.Raw(context.Background(), "post", "/_sim/clock", map[string]string{"advance": "720h"})
	if err != nil || resp.Status != 200 || !strings.Contains(string(resp.Body), "2026-04-01") {
		t.Fatalf("Raw: %v %+v", err, resp)
	}
	after := c.Stats()
	if after.ResourceUnits != before.ResourceUnits || after.Requests != before.Requests+1 {
		t.Errorf("control calls must be logged but not charged: before %+v after %+v", before, after)
	}
	calls := c.Calls()
	if last := calls[len(calls)-1]; last.Path != "/_sim/clock" || last.Method != "POST" {
		t.Errorf("last call = %+v", last)
	}
	if _, err := c.Raw(context.Background(), "GET", "/_sim/missing", nil); !IsNotFound(err) {
		t.Errorf("err = %v", err)
	}
}

// The typed client shares the adapter: same token, same pipeline, same call log.
func TestSDKSharesThePipeline(t *testing.T) {
	t.Parallel()
	f := newFixture(t, orgHandler)
	c := f.client(nil)
	before := len(c.Calls())
	orgs, err := c.SDK().Organization().Get(context.Background(), nil)
	if err != nil {
		t.Fatalf("SDK: %v", FromSDK(err, "GET", "/organization"))
	}
	if v := orgs.GetValue(); len(v) != 1 || *v[0].GetDisplayName() != "Contoso" {
		t.Errorf("organization = %+v", v)
	}
	calls := c.Calls()
	if len(calls) != before+1 || calls[len(calls)-1].Path != "/organization" || calls[len(calls)-1].Status != 200 {
		t.Errorf("typed call not recorded: %+v", calls[before:])
	}
}

func TestFromSDKMapsTypedErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, map[string]any{"error": map[string]any{"code": "Request_ResourceNotFound", "message": "Resource 'x' does not exist.",
			"innerError": map[string]any{"request-id": "abc"}}})
	})
	c := f.client(nil)
	_, err := c.SDK().Users().ByUserId("x").Get(context.Background(), nil)
	if !IsNotFound(err) {
		t.Errorf("IsNotFound(typed) = false for %T", err)
	}
	err = FromSDK(err, "GET", "/users/x")
	assertSentence(t, err)
	var e *Error
	if !errors.As(err, &e) || e.Code != "Request_ResourceNotFound" || e.RequestID == "" {
		t.Errorf("FromSDK = %+v", e)
	}
}

func TestCallRingIsBounded(t *testing.T) {
	t.Parallel()
	r := newCallRing(3)
	for i := 1; i <= 5; i++ {
		r.add(Call{Status: i})
	}
	got := r.snapshot()
	if len(got) != 3 || got[0].Status != 3 || got[2].Status != 5 {
		t.Errorf("snapshot = %+v", got)
	}
}

// The SDK's default pipeline comes out in one order, every handler known: an SDK upgrade
// that adds or renames one shows up here.
func TestMiddlewareOrderIsFixed(t *testing.T) {
	t.Parallel()
	mws := graphMiddlewares()
	if len(mws) != 8 {
		t.Fatalf("%d default middlewares, want 8", len(mws))
	}
	for i, m := range mws {
		if middlewareRank(m) != i {
			t.Errorf("middleware %d is %T (rank %d)", i, m, middlewareRank(m))
		}
	}
}

func TestSpacesInHandWrittenQueries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("$filter") != "displayName eq 'A B'" || strings.Contains(r.URL.RawQuery, "+") {
			t.Errorf("query %q", r.URL.RawQuery)
		}
		writeJSON(w, 200, map[string]any{"value": []any{}})
	})
	c := f.client(nil)
	if _, err := c.Do(context.Background(), Request{Path: "/groups?$filter=displayName eq 'A B'"}); err != nil {
		t.Fatal(err)
	}
}

// A request nobody answered says which host kept quiet and what to check, in one
// sentence, whether the caller cancelled it, ran out of time or never reached the host.
func TestRequestFailuresSayWhatToCheck(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want string
	}{
		{context.Canceled, "GET /organization: stopped because the operation was cancelled."},
		{fmt.Errorf("awaiting headers: %w", context.DeadlineExceeded), "GET /organization: graph.example.test did not answer in time; check the graph URL and that the tenant is reachable."},
		{errors.New("connection refused"), "GET /organization: could not reach graph.example.test (connection refused); check the graph URL and that the tenant is reachable."},
	} {
		got := (&requestFailure{method: "GET", path: "/organization", host: "graph.example.test", err: c.err}).Error()
		if got != c.want {
			t.Errorf("%v:\n got %s\nwant %s", c.err, got, c.want)
		}
	}
}
