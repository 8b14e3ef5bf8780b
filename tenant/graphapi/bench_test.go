package graphapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// BenchmarkListThroughput measures how fast the client itself moves objects: 100,000 small
// users in pages of 999 from an in-process server, through the whole SDK pipeline (token,
// telemetry, retry, pacer, recorder), with a budget too large to ever wait. Capture's
// target is 50,000 objects/s; the client must not be what limits it.
func BenchmarkListThroughput(b *testing.B) {
	const total, pageSize = 100_000, 999
	token := fakeJWT(testTenant)
	var pages [][]byte
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(401)
			return
		}
		i, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(pages[i])
	}))
	defer srv.Close()
	srvURL = srv.URL
	for start := 0; start < total; start += pageSize {
		var items []map[string]any
		for i := start; i < min(start+pageSize, total); i++ {
			items = append(items, map[string]any{
				"@odata.type":       "#microsoft.graph.user",
				"id":                fmt.Sprintf("%08d-0000-4000-8000-000000000000", i),
				"displayName":       fmt.Sprintf("User %d", i),
				"userPrincipalName": fmt.Sprintf("user%d@contoso.onmicrosoft.com", i),
				"accountEnabled":    true,
				"department":        "Operations",
			})
		}
		page := map[string]any{"value": items}
		if next := start + pageSize; next < total {
			page["@odata.nextLink"] = srvURL + "/v1.0/users?$skiptoken=" + strconv.Itoa(len(pages)+1)
		}
		body, _ := json.Marshal(page)
		pages = append(pages, body)
	}
	c, err := New(context.Background(), Config{
		GraphURL:   srv.URL + "/v1.0",
		Credential: staticCredential{token},
		Budget:     Budget{ResourceUnitsPer10s: 1 << 30, WritesPer150s: 1 << 30, ConditionalAccessPerSecond: 1 << 20, AuditPer10s: 1 << 20},
		Pace:       1,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var n int
	for b.Loop() {
		if _, err := c.List(context.Background(), "/users", ListOptions{Top: pageSize}, func(p Page) error {
			n += len(p.Items)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "objects/s")
}
