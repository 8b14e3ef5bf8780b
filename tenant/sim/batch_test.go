package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

func batchResponses(r response) map[string]map[string]any {
	out := map[string]map[string]any{}
	arr, _ := r.json["responses"].([]any)
	for _, it := range arr {
		m := it.(map[string]any)
		out[m["id"].(string)] = m
	}
	return out
}

func TestBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.must(e.do("POST", "/v1.0/$batch", map[string]any{"requests": []any{
		map[string]any{"id": "1", "method": "GET", "url": "/users?$select=id,displayName&$top=2"},
		map[string]any{"id": "2", "method": "POST", "url": "users", "headers": map[string]string{"Content-Type": "application/json"}, "body": newUserBody("frank")},
		map[string]any{"id": "3", "method": "PATCH", "url": "/users/00000000-dead-4000-8000-000000000000", "body": map[string]any{"jobTitle": "x"}, "headers": map[string]string{"Content-Type": "application/json"}},
		map[string]any{"id": "4", "dependsOn": []string{"3"}, "method": "GET", "url": "/users"},
		map[string]any{"id": "5", "dependsOn": []string{"2"}, "method": "GET", "url": "/users?$filter=" + url.QueryEscape("mailNickname eq 'frank'")},
	}}), 200)
	got := batchResponses(r)
	if len(got) != 5 {
		t.Fatalf("responses: %s", r.raw)
	}
	status := func(id string) int { return int(got[id]["status"].(float64)) }
	if status("1") != 200 || status("2") != 201 || status("3") != 404 || status("4") != 424 || status("5") != 200 {
		t.Errorf("statuses: %s", r.raw)
	}
	body1 := got["1"]["body"].(map[string]any)
	if next, _ := body1["@odata.nextLink"].(string); !strings.HasPrefix(next, e.base+"/v1.0/users?$skiptoken=") {
		t.Errorf("item nextLink: %v", body1)
	}
	if v := got["5"]["body"].(map[string]any)["value"].([]any); len(v) != 1 {
		t.Errorf("dependent item: %v", got["5"])
	}
	if h := got["3"]["headers"].(map[string]any); !strings.HasPrefix(fmt.Sprint(h["Content-Type"]), "application/json") {
		t.Errorf("item headers: %v", h)
	}
	// Envelope errors: too many, duplicates, malformed.
	var many []any
	for i := 0; i < 21; i++ {
		many = append(many, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/users"})
	}
	before := e.snapshot()
	for name, body := range map[string]any{
		"21 items":   map[string]any{"requests": many},
		"duplicates": map[string]any{"requests": []any{map[string]any{"id": "a", "method": "GET", "url": "/users"}, map[string]any{"id": "A", "method": "DELETE", "url": "/users/" + tAlice}}},
		"malformed":  `{"requests": [`,
		"no url":     map[string]any{"requests": []any{map[string]any{"id": "a", "method": "GET"}}},
		"bad dep":    map[string]any{"requests": []any{map[string]any{"id": "a", "method": "DELETE", "url": "/users/" + tAlice, "dependsOn": []string{"zz"}}}},
	} {
		if r := e.do("POST", "/v1.0/$batch", body); r.status != 400 || r.errCode() == "" {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	if e.snapshot() != before {
		t.Error("a refused batch changed the directory")
	}
	// Gzipped envelopes work (the SDK compresses every body).
	gz := gzipBytes([]byte(`{"requests":[{"id":"1","method":"GET","url":"/organization"}]}`))
	r = e.must(e.do("POST", "/v1.0/$batch", gz, "Content-Encoding", "gzip"), 200)
	if status := batchResponses(r)["1"]["status"]; status != float64(200) {
		t.Errorf("gzipped batch: %s", r.raw)
	}
}

func TestBatchItemsAreThrottledOneByOne(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, Options{Throttle: ThrottleRealistic, Clock: func() time.Time { return now }})
	// Conditional Access allows one request per second per tenant, without Retry-After.
	var items []any
	for i := 0; i < 3; i++ {
		items = append(items, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/identity/conditionalAccess/policies"})
	}
	r := e.must(e.do("POST", "/v1.0/$batch", map[string]any{"requests": items}), 200)
	got := batchResponses(r)
	throttled := 0
	for _, it := range got {
		if it["status"] == float64(429) {
			throttled++
			body := it["body"].(map[string]any)["error"].(map[string]any)
			if body["code"] != "TooManyRequests" {
				t.Errorf("throttled item body: %v", it)
			}
		}
	}
	if throttled != 2 {
		t.Errorf("throttled items: %d of 3: %s", throttled, r.raw)
	}
	// Top-level: the same budget answers 429.
	if r := e.do("GET", "/v1.0/identity/conditionalAccess/policies", nil); r.status != 429 || r.errCode() != "TooManyRequests" {
		t.Errorf("top-level CA request: %d %s", r.status, r.raw)
	}
	// Audit logs: five per ten seconds per app, with Retry-After.
	var last response
	for i := 0; i < 6; i++ {
		last = e.do("GET", "/v1.0/auditLogs/directoryAudits", nil)
	}
	if last.status != 429 || last.header.Get("Retry-After") == "" {
		t.Errorf("sixth audit read: %d %v", last.status, last.header)
	}
}

// batchEnvelope writes what mustJSON writes for the envelope, byte for byte.
func TestBatchEnvelopeMatchesMustJSON(t *testing.T) {
	t.Parallel()
	res := jsonResult(200, []byte(`{"value":[{"id":"a","displayName":"R&D <team>"}]}`))
	items := []json.RawMessage{
		encodeBatchResponse("1", res),
		encodeBatchResponse("2", errorResult(newError(404, "Request_ResourceNotFound", "Resource 'x' does not exist."), "r", "c", time.Unix(0, 0))),
		encodeBatchResponse("3", textResult("42")),
	}
	for _, responses := range [][]json.RawMessage{items, items[:1], {}} {
		want := mustJSON(map[string]any{"responses": responses})
		if got := batchEnvelope(responses); !bytes.Equal(got, want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	}
}
