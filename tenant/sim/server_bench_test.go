package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkSimListUsers measures listing a 100,000-user collection over loopback with
// $top=999, following nextLinks, as a capture does.
func BenchmarkSimListUsers(b *testing.B) {
	ds := manyUsers(testDataset(), 100_000)
	s, err := New(ds, Options{})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := s.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	e := &env{t: &testing.T{}, sim: s, srv: srv, base: strings.TrimSuffix(srv.Info().GraphURL, "/v1.0"), hc: &http.Client{Timeout: time.Minute}}
	e.token = benchToken(b, e)
	b.ResetTimer()
	objects := 0
	for i := 0; i < b.N; i++ {
		next := e.base + "/v1.0/users?$top=999&$select=" + "id,displayName,userPrincipalName,department,accountEnabled,mail"
		for next != "" {
			req, _ := http.NewRequest("GET", next, nil)
			req.Header.Set("Authorization", "Bearer "+e.token)
			resp, err := e.hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var page struct {
				Next  string            `json:"@odata.nextLink"`
				Value []json.RawMessage `json:"value"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("page: %v %d", err, resp.StatusCode)
			}
			objects += len(page.Value)
			next = page.Next
		}
	}
	b.ReportMetric(float64(objects)/b.Elapsed().Seconds(), "objects/s")
}

func benchToken(b *testing.B, e *env) string {
	resp, err := e.hc.PostForm(e.base+"/"+tTenant+"/oauth2/v2.0/token", map[string][]string{
		"grant_type": {"client_credentials"}, "client_id": {OperatorClientID}, "client_secret": {OperatorClientSecret},
		"scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(body, &out) != nil || out.AccessToken == "" {
		b.Fatalf("token: %s", body)
	}
	return out.AccessToken
}

// BenchmarkSimMemoryPerObject reports the heap a loaded sim holds per directory object:
// "bytes/object" for everything (dataset and sim sharing its bytes), "sim-bytes/object"
// for what the sim adds to the dataset it was given.
func BenchmarkSimMemoryPerObject(b *testing.B) {
	for i := 0; i < b.N; i++ {
		var m0, m1, m2 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		ds, err := Generate(GenerateOptions{Users: 100_000, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		s, err := New(ds, Options{})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&m2)
		n := float64(len(s.st.objs))
		b.ReportMetric(float64(m2.HeapAlloc-m0.HeapAlloc)/n, "bytes/object")
		b.ReportMetric(float64(m2.HeapAlloc-m1.HeapAlloc)/n, "sim-bytes/object")
		b.ReportMetric(n, "objects")
		runtime.KeepAlive(s)
		runtime.KeepAlive(ds)
	}
}
