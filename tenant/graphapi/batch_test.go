package graphapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

type envelopeItem struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// batchServer answers $batch envelopes item by item with answer, in reverse order (Graph
// may answer in any order), and records every envelope it saw.
type batchServer struct {
	t      *testing.T
	mu     sync.Mutex
	rounds [][]envelopeItem
	answer func(it envelopeItem, seen int) (status int, headers map[string]string, body any)
	seen   map[string]int
}

func (s *batchServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1.0/$batch" {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Content-Encoding") != "gzip" {
		s.t.Error("envelope not gzipped")
	}
	var env struct{ Requests []envelopeItem }
	if err := json.Unmarshal(readBody(s.t, r), &env); err != nil {
		s.t.Errorf("envelope: %v", err)
		return
	}
	if len(env.Requests) > 20 {
		s.t.Errorf("envelope with %d items", len(env.Requests))
	}
	s.mu.Lock()
	s.rounds = append(s.rounds, env.Requests)
	var out []map[string]any
	for i := len(env.Requests) - 1; i >= 0; i-- {
		it := env.Requests[i]
		s.seen[it.URL]++
		status, h, body := s.answer(it, s.seen[it.URL])
		a := map[string]any{"id": it.ID, "status": status, "headers": h}
		if body != nil {
			a["body"] = body
		}
		out = append(out, a)
	}
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"responses": out})
}

func TestBatchSplitsRequeuesThrottledItemsAndKeepsOrder(t *testing.T) {
	t.Parallel()
	s := &batchServer{t: t, seen: map[string]int{}}
	s.answer = func(it envelopeItem, seen int) (int, map[string]string, any) {
		if !uuidRe.MatchString(it.ID) {
			t.Errorf("item id %q is not a UUID", it.ID)
		}
		if !strings.HasPrefix(it.URL, "/") || strings.Contains(it.URL, "://") || strings.Contains(it.URL, "v1.0") {
			t.Errorf("item url %q is not relative to the version root", it.URL)
		}
		var n int
		fmt.Sscanf(it.URL[strings.LastIndex(it.URL, "/u")+2:], "%d", &n)
		if it.Method == "PATCH" {
			var b map[string]any
			if err := json.Unmarshal(it.Body, &b); err != nil || b["department"] != "Legal" {
				t.Errorf("item body %s is not the JSON object sent", it.Body)
			}
			if it.Headers["Content-Type"] != "application/json" {
				t.Errorf("item headers %v lack Content-Type", it.Headers)
			}
		}
		switch {
		case n%7 == 0 && seen == 1:
			ra := "2"
			if n == 14 {
				ra = "5"
			}
			return 429, map[string]string{"Retry-After": ra, "Content-Type": "application/json"},
				map[string]any{"error": map[string]any{"code": "TooManyRequests", "message": "Please retry again later."}}
		case n == 30 && seen == 1:
			return 503, map[string]string{}, nil
		case n == 40:
			return 404, map[string]string{"Content-Type": "application/json"},
				map[string]any{"error": map[string]any{"code": "Request_ResourceNotFound", "message": fmt.Sprintf("Resource 'u%d' does not exist.", n)}}
		case it.Method == "PATCH":
			return 204, map[string]string{}, nil
		}
		return 200, map[string]string{"Content-Type": "application/json", "request-id": fmt.Sprintf("item-%d", n)}, map[string]any{"id": fmt.Sprintf("u%d", n)}
	}
	f := newFixture(t, s.serve)
	clock := newFakeClock()
	c := f.client(func(c *Config) { c.sleep = clock.sleep })

	var reqs []Request
	for i := 0; i < 45; i++ {
		r := Request{Path: fmt.Sprintf("/users/u%d?$select=id", i)}
		if i%5 == 4 {
			r = Request{Method: "PATCH", Path: fmt.Sprintf("/users/u%d", i), Body: json.RawMessage(`{"department":"Legal"}`)}
		}
		reqs = append(reqs, r)
	}
	before := c.Stats()
	results, err := c.Batch(context.Background(), reqs)
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if len(results) != 45 {
		t.Fatalf("%d results", len(results))
	}
	for i, res := range results {
		switch {
		case i == 40:
			if !IsNotFound(res.Err) || res.Response == nil || res.Response.Status != 404 {
				t.Errorf("item 40: %+v", res)
			}
			assertSentence(t, res.Err)
			if res.Err != nil && !strings.HasPrefix(res.Err.Error(), "GET /users/u40: Graph answered 404") {
				t.Errorf("item error names the envelope, not the item: %v", res.Err)
			}
		case i%5 == 4:
			if res.Err != nil || res.Response.Status != 204 || res.Response.Body != nil {
				t.Errorf("item %d: %+v %v", i, res.Response, res.Err)
			}
		default:
			if res.Err != nil || string(res.Response.Body) != fmt.Sprintf(`{"id":"u%d"}`, i) {
				t.Errorf("item %d out of order or failed: %+v %v", i, res.Response, res.Err)
				continue
			}
			if res.Response.RequestID != fmt.Sprintf("item-%d", i) {
				t.Errorf("item %d request id %q", i, res.Response.RequestID)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var sizes []int
	for _, r := range s.rounds {
		sizes = append(sizes, len(r))
	}
	// Round one: 20, 20, 5. Round two: the seven throttled items (0, 7, ..., 42) and the 503.
	slices.Sort(sizes[:len(sizes)-1]) // the first round's envelopes run concurrently
	if fmt.Sprint(sizes) != "[5 20 20 8]" {
		t.Errorf("envelope sizes = %v", sizes)
	}
	if got := clock.recorded(); len(got) != 1 || got[0] != 5*time.Second {
		t.Errorf("requeue waits = %v, want one wait of the longest Retry-After (5 s)", got)
	}
	st := c.Stats()
	if st.Throttled != 7 || st.Retries != 8 {
		t.Errorf("stats: throttled %d retries %d", st.Throttled, st.Retries)
	}
	// Items, not envelopes, are charged, each time they are sent: 36 GETs with $select at
	// 1 RU, 9 PATCHes at 1 RU + 1 write; then the 8 requeued items, one of them a PATCH (u14).
	if st.Writes-before.Writes != 9+1 || st.ResourceUnits-before.ResourceUnits != 45+8 {
		t.Errorf("charged %d RU and %d writes", st.ResourceUnits, st.Writes)
	}
	var batchCalls int
	for _, call := range c.Calls() {
		if call.Batch {
			batchCalls++
			if call.Path != "/$batch" || call.Items == 0 {
				t.Errorf("envelope call %+v", call)
			}
		}
	}
	if batchCalls != 4 {
		t.Errorf("%d envelope calls recorded", batchCalls)
	}
}

func TestBatchGivesUpOnItemsThrottledForever(t *testing.T) {
	t.Parallel()
	s := &batchServer{t: t, seen: map[string]int{}}
	s.answer = func(it envelopeItem, seen int) (int, map[string]string, any) {
		if it.URL == "/users/ok" {
			return 200, nil, map[string]any{"id": "ok"}
		}
		return 429, map[string]string{}, map[string]any{"error": map[string]any{"code": "TooManyRequests"}}
	}
	f := newFixture(t, s.serve)
	clock := newFakeClock()
	c := f.client(func(c *Config) { c.sleep = clock.sleep })
	results, err := c.Batch(context.Background(), []Request{{Path: "/users/ok"}, {Path: "/users/throttled"}})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Err != nil || !IsThrottled(results[1].Err) {
		t.Errorf("results = %+v", results)
	}
	assertSentence(t, results[1].Err)
	// Exponential backoff without Retry-After, bounded by 180 s of waiting in total.
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, 64 * time.Second}
	if got := clock.recorded(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
}

func TestBatchEnvelopeFailures(t *testing.T) {
	t.Parallel()
	cases := map[string]func(w http.ResponseWriter){
		"400": func(w http.ResponseWriter) {
			writeJSON(w, 400, map[string]any{"error": map[string]any{"code": "BadRequest", "message": "Invalid batch payload."}})
		},
		"garbage": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"responses":[{"id":`))
		},
		"missing": func(w http.ResponseWriter) { writeJSON(w, 200, map[string]any{"responses": []any{}}) },
	}
	var mu sync.Mutex
	current := ""
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := cases[current]
		mu.Unlock()
		h(w)
	})
	c := f.client(nil)
	for name := range cases {
		mu.Lock()
		current = name
		mu.Unlock()
		results, err := c.Batch(context.Background(), []Request{{Path: "/users/a"}, {Method: "DELETE", Path: "/groups/g"}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, res := range results {
			assertSentence(t, res.Err)
			if res.Err != nil && name == "missing" && !strings.Contains(res.Err.Error(), "left this request out") {
				t.Errorf("%s item %d: %v", name, i, res.Err)
			}
		}
	}
	// Invalid items fail alone, before anything is sent.
	results, err := c.Batch(context.Background(), []Request{{Method: "POST", Path: "/users", Body: json.RawMessage(`{`)}, {Path: "https://evil.example.com/v1.0/users"}})
	if err != nil || results[0].Err == nil || results[1].Err == nil {
		t.Errorf("invalid items: %+v %v", results, err)
	}
}

func TestBatchCancellation(t *testing.T) {
	t.Parallel()
	s := &batchServer{t: t, seen: map[string]int{}}
	s.answer = func(envelopeItem, int) (int, map[string]string, any) {
		return 429, map[string]string{"Retry-After": "30"}, nil
	}
	f := newFixture(t, s.serve)
	ctx, cancel := context.WithCancel(context.Background())
	c := f.client(func(c *Config) {
		c.sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	})
	results, err := c.Batch(ctx, []Request{{Path: "/users/a"}})
	if !errors.Is(err, context.Canceled) || !errors.Is(results[0].Err, context.Canceled) {
		t.Errorf("err %v, item %v", err, results[0].Err)
	}
}

// An envelope of reads whose connection drops is sent again, as a GET is; one that
// writes is not (its items may have taken effect), and its items fail unanswered.
func TestBatchOfReadsIsSentAgainAfterADroppedConnection(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	envelopes := 0
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		envelopes++
		first := envelopes == 1
		mu.Unlock()
		var env struct {
			Requests []struct {
				ID string `json:"id"`
			} `json:"requests"`
		}
		_ = json.Unmarshal(readBody(t, r), &env)
		if first {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // the answer is lost on the way
			}
			return
		}
		var answers []any
		for _, it := range env.Requests {
			answers = append(answers, map[string]any{"id": it.ID, "status": 200, "body": map[string]any{"id": "x"}})
		}
		writeJSON(w, 200, map[string]any{"responses": answers})
	})
	c := f.client(nil)
	results, err := c.Batch(context.Background(), []Request{{Path: "/users/a"}, {Path: "/groups/g"}})
	if err != nil || results[0].Err != nil || results[1].Err != nil {
		t.Fatalf("reads after a dropped connection: %v %+v", err, results)
	}
	mu.Lock()
	envelopes = 0
	mu.Unlock()
	results, err = c.Batch(context.Background(), []Request{{Path: "/users/a"}, {Method: "DELETE", Path: "/groups/g"}})
	if err != nil || !IsUnanswered(results[1].Err) {
		t.Fatalf("a write after a dropped connection: %v %+v", err, results)
	}
	mu.Lock()
	defer mu.Unlock()
	if envelopes != 1 {
		t.Errorf("an envelope with a write was sent %d times", envelopes)
	}
}

// Graph's odd 500 or 502 on a read is met again by a second try: a read, alone or in a
// batch, is sent again; a write is not (it may have been applied).
func TestReadsAreSentAgainAfterAServerFault(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]int{}
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Method+" "+r.URL.Path]++
		n := seen[r.Method+" "+r.URL.Path]
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/$batch") {
			var env struct {
				Requests []struct {
					ID, Method string
				} `json:"requests"`
			}
			_ = json.Unmarshal(readBody(t, r), &env)
			var answers []any
			for _, it := range env.Requests {
				status := 200
				if n == 1 {
					status = 500
				}
				answers = append(answers, map[string]any{"id": it.ID, "status": status, "body": map[string]any{"id": "x"}})
			}
			writeJSON(w, 200, map[string]any{"responses": answers})
			return
		}
		if n == 1 || r.Method != http.MethodGet {
			writeJSON(w, 502, map[string]any{"error": map[string]any{"code": "UnknownError", "message": "Bad gateway."}})
			return
		}
		writeJSON(w, 200, map[string]any{"id": "x"})
	})
	c := f.client(nil)
	ctx := context.Background()
	if _, err := c.Get(ctx, "/users/a", ListOptions{}); err != nil {
		t.Errorf("a read after a 502: %v", err)
	}
	if _, err := c.Do(ctx, Request{Method: "PATCH", Path: "/users/a", Body: []byte(`{}`)}); err == nil {
		t.Error("a write answered 502 succeeded")
	}
	results, err := c.Batch(ctx, []Request{{Path: "/users/b"}, {Method: "DELETE", Path: "/groups/g"}})
	if err != nil || results[0].Err != nil || results[1].Err == nil {
		t.Errorf("a batch answered 500: %v; read %v, write %v", err, results[0].Err, results[1].Err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["PATCH /v1.0/users/a"] != 1 {
		t.Errorf("the write was sent %d times", seen["PATCH /v1.0/users/a"])
	}
}

// A 504 says nothing of whether the directory applied the request: a POST so answered
// (a create, in a batch or an envelope holding one) goes back to the caller, who can
// look for what it made, instead of being sent again and made twice. Other requests
// are sent again as before.
func TestCreatesAnsweredGatewayTimeoutAreNotSentAgain(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]int{}
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/$batch") {
			mu.Lock()
			seen[r.Method+" "+r.URL.Path]++
			mu.Unlock()
			writeJSON(w, 504, map[string]any{"error": map[string]any{"code": "UnknownError", "message": "Gateway timeout."}})
			return
		}
		var env struct {
			Requests []struct {
				ID, Method, URL string
			} `json:"requests"`
		}
		_ = json.Unmarshal(readBody(t, r), &env)
		var answers []any
		for _, it := range env.Requests {
			mu.Lock()
			seen[it.Method+" "+it.URL]++
			n := seen[it.Method+" "+it.URL]
			mu.Unlock()
			status := 504
			if n > 1 {
				status = 200
			}
			answers = append(answers, map[string]any{"id": it.ID, "status": status, "headers": map[string]string{"Retry-After": "0"}, "body": map[string]any{"id": "x"}})
		}
		writeJSON(w, 200, map[string]any{"responses": answers})
	})
	c := f.client(nil)
	ctx := context.Background()
	results, err := c.Batch(ctx, []Request{{Method: "POST", Path: "/groups", Body: []byte(`{}`)}, {Method: "PATCH", Path: "/groups/g", Body: []byte(`{}`)}})
	if err != nil || results[0].Err == nil || results[1].Err != nil {
		t.Errorf("a batch answered 504: %v; POST %v, PATCH %v", err, results[0].Err, results[1].Err)
	}
	if _, err := c.Do(ctx, Request{Method: "POST", Path: "/users", Body: []byte(`{}`)}); err == nil {
		t.Error("a POST answered 504 succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["POST /groups"] != 1 || seen["PATCH /groups/g"] != 2 || seen["POST /v1.0/users"] != 1 {
		t.Errorf("requests sent: %v; want the creates once and the PATCH again", seen)
	}
}
