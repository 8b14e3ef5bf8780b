package sim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// BenchmarkSimListUsers measures listing a 100,000-user collection over loopback with
// $top=999, following nextLinks, as a capture does.
func BenchmarkSimListUsers(b *testing.B) {
	e := benchServe(b, manyUsers(testDataset(), 100_000), Options{})
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

// benchServe serves ds on loopback for a benchmark (closed when it ends), with an
// operator token and a client that waits up to a minute for a large page.
func benchServe(b *testing.B, ds *Dataset, opts Options) *env {
	e := newEnvWith(b, ds, opts)
	e.hc.Timeout = time.Minute
	return e
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

// BenchmarkSimCaptureReads serves the reads that make up most of a capture of a
// generated 100,000-user tenant (seed 1), over loopback to a plain net/http client that
// only finds each page's nextLink: every user with every property lifeline selects,
// 999 a page; the managers' delta round; the groups' delta round with members; every
// group's owners through $batch, 20 a batch. "cpu-s" is the process's CPU time per round
// (the sim's work, the client's being small), "objects/s" directory objects per second.
func BenchmarkSimCaptureReads(b *testing.B) {
	ds, err := Generate(GenerateOptions{Users: 100_000, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	e := benchServe(b, ds, Options{Throttle: ThrottleOff})
	var groups []string
	for _, o := range ds.Objects {
		if o.Kind == entra.KindGroup {
			groups = append(groups, o.ID)
		}
	}
	get := func(u string, hdr ...string) []byte {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := e.hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
		}
		return body
	}
	walk := func(u string, hdr ...string) {
		for u != "" {
			body := get(u, hdr...)
			u = ""
			if i := bytes.Index(body, []byte(`"@odata.nextLink":"`)); i >= 0 {
				rest := body[i+len(`"@odata.nextLink":"`):]
				u = string(rest[:bytes.IndexByte(rest, '"')])
			}
		}
	}
	prefer := []string{"Prefer", "odata.maxpagesize=999"}
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v1 := e.base + "/v1.0"
		walk(v1 + "/users?$top=999&$select=" + entra.MustLookup(entra.KindUser).Select())
		walk(v1+"/users/delta?$select=id,manager", prefer...)
		walk(v1+"/groups/delta?$select="+entra.MustLookup(entra.KindGroup).Select()+",members", prefer...)
		for start := 0; start < len(groups); start += 20 {
			var reqs []map[string]string
			for j, id := range groups[start:min(start+20, len(groups))] {
				reqs = append(reqs, map[string]string{"id": strconv.Itoa(j), "method": "GET", "url": "/groups/" + id + "/owners?$select=id&$top=999"})
			}
			body, _ := json.Marshal(map[string]any{"requests": reqs})
			req, _ := http.NewRequest("POST", v1+"/$batch", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e.token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := e.hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("$batch: %d", resp.StatusCode)
			}
		}
	}
	b.StopTimer()
	objects := float64(len(ds.Objects)) * float64(b.N)
	b.ReportMetric(objects/b.Elapsed().Seconds(), "objects/s")
	b.ReportMetric((processCPU()-cpu0).Seconds()/float64(b.N), "cpu-s")
}
