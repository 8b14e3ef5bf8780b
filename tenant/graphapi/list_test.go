package graphapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// Pages follow absolute nextLinks verbatim, ConsistencyLevel goes with every page, @odata.count
// comes from the first page, and the last page's deltaLink is returned.
func TestListFollowsNextLinksAndResendsHeaders(t *testing.T) {
	t.Parallel()
	var f *fixture
	f = newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("ConsistencyLevel") != "eventual" {
			t.Errorf("page %s without ConsistencyLevel", r.URL.RawQuery)
		}
		base := f.graph.URL + "/v1.0/users/delta"
		switch r.URL.Query().Get("$skiptoken") {
		case "":
			q := r.URL.Query()
			if q.Get("$select") != "id,displayName" || q.Get("$filter") != "accountEnabled eq true and startswith(displayName,'A B')" ||
				q.Get("$top") != "2" || q.Get("$count") != "true" {
				t.Errorf("first page query = %q", r.URL.RawQuery)
			}
			if strings.Contains(r.URL.RawQuery, "+") {
				t.Errorf("spaces must be %%20, not +: %q", r.URL.RawQuery)
			}
			writeJSON(w, 200, map[string]any{"@odata.count": 5, "@odata.nextLink": base + "?$skiptoken=X%27p2%27",
				"value": []any{map[string]any{"id": "1"}, map[string]any{"id": "2"}}})
		case "X'p2'":
			if !strings.Contains(r.URL.RawQuery, "X%27p2%27") {
				t.Errorf("nextLink not followed verbatim: %q", r.URL.RawQuery)
			}
			writeJSON(w, 200, map[string]any{"@odata.nextLink": base + "?$skiptoken=p3", "value": []any{}})
		case "p3":
			writeJSON(w, 200, map[string]any{"@odata.deltaLink": base + "?$deltatoken=d1",
				"value": []any{map[string]any{"id": "3"}, map[string]any{"id": "4", "@removed": map[string]any{"reason": "changed"}}, map[string]any{"id": "5"}}})
		default:
			t.Errorf("unexpected page %q", r.URL.RawQuery)
		}
	})
	c := f.client(nil)
	var ids []string
	var pages int
	var count *int64
	delta, err := c.List(context.Background(), "/users/delta", ListOptions{
		Select:  []string{"id", "displayName"},
		Filter:  "accountEnabled eq true and startswith(displayName,'A B')",
		Top:     2,
		Count:   true,
		Headers: map[string]string{"ConsistencyLevel": "eventual"},
	}, func(p Page) error {
		if pages == 0 {
			count = p.Count
		} else if p.Count != nil {
			t.Error("count on a later page")
		}
		pages++
		for _, it := range p.Items {
			var o struct{ ID string }
			if err := json.Unmarshal(it, &o); err != nil {
				t.Error(err)
			}
			ids = append(ids, o.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if strings.Join(ids, ",") != "1,2,3,4,5" || pages != 3 || count == nil || *count != 5 {
		t.Errorf("ids %v pages %d count %v", ids, pages, count)
	}
	if delta != f.graph.URL+"/v1.0/users/delta?$deltatoken=d1" {
		t.Errorf("deltaLink = %q", delta)
	}

	// The saved deltaLink is followed as is.
	f2 := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "$deltatoken=d1" {
			t.Errorf("delta query = %q", r.URL.RawQuery)
		}
		writeJSON(w, 200, map[string]any{"@odata.deltaLink": "http://" + r.Host + "/v1.0/users/delta?$deltatoken=d2", "value": []any{}})
	})
	c2 := f2.client(nil)
	delta, err = c2.ListURL(context.Background(), f2.graph.URL+"/v1.0/users/delta?$deltatoken=d1", nil, func(Page) error { return nil })
	if err != nil || !strings.HasSuffix(delta, "$deltatoken=d2") {
		t.Errorf("ListURL: %q, %v", delta, err)
	}
}

func TestListStopsOnCallbackError(t *testing.T) {
	t.Parallel()
	var f *fixture
	f = newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"@odata.nextLink": f.graph.URL + "/v1.0/users?$skiptoken=again" + r.URL.RawQuery, "value": []any{map[string]any{"id": "1"}}})
	})
	c := f.client(nil)
	stop := errors.New("stop")
	if _, err := c.List(context.Background(), "/users", ListOptions{}, func(Page) error { return stop }); err != stop {
		t.Errorf("err = %v, want the callback's", err)
	}
}

func TestListRejectsBadPages(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		body string
		want string
	}{
		"cut-off":        {`{"value":[{"id":"1"},{"id":"2"`, "cut off before the JSON ended"},
		"not collection": {`{"id":"1"}`, `not a collection`},
		"wrong shape":    {`{"value":{"id":"1"}}`, "unexpected shape"},
		"garbage":        {`<html>oops</html>`, "not JSON"},
		"empty":          {``, "empty body"},
		"relative next":  {`{"value":[],"@odata.nextLink":"/v1.0/users?$skiptoken=2"}`, "will not follow"},
		"foreign next":   {`{"value":[],"@odata.nextLink":"https://evil.example.com/v1.0/users?$skiptoken=2"}`, "will not follow"},
		"looping next":   {`{"value":[],"@odata.nextLink":"SELF"}`, "already sent"},
		"error":          {`{"error":{"code":"Request_UnsupportedQuery","message":"Unsupported query."}}`, "400 Request_UnsupportedQuery"},
	}
	var f *fixture
	f = newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		tc := cases[r.Header.Get("X-Case")]
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(tc.body, `"error"`) {
			w.WriteHeader(400)
		}
		_, _ = w.Write([]byte(strings.ReplaceAll(tc.body, "SELF", f.graph.URL+"/v1.0/users?$skiptoken=self")))
	})
	c := f.client(nil)
	for name, tc := range cases {
		_, err := c.List(context.Background(), "/users", ListOptions{Headers: map[string]string{"X-Case": name}}, func(Page) error { return nil })
		assertSentence(t, err)
		if err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %q does not contain %q", name, err, tc.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "GET /users: Graph answered") {
			t.Errorf("%s: %q does not name the request", name, err)
		}
	}
}

func TestAppendQuery(t *testing.T) {
	t.Parallel()
	cases := []struct {
		path string
		o    ListOptions
		want string
	}{
		{"/users", ListOptions{}, "/users"},
		{"/users", ListOptions{Select: []string{"id", "displayName"}, Top: 999}, "/users?$select=id%2CdisplayName&$top=999"},
		{"/groups?$orderby=displayName", ListOptions{Filter: "a eq 'b c'", Count: true, Expand: "members($select=id)"},
			"/groups?$orderby=displayName&$filter=a%20eq%20%27b%20c%27&$count=true&$expand=members%28%24select%3Did%29"},
	}
	for _, tc := range cases {
		if got := appendQuery(tc.path, tc.o); got != tc.want {
			t.Errorf("appendQuery(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}
