package sim

import (
	"runtime"
	"testing"
)

// The generator must build a 100,000-user tenant in a few seconds and a million users in
// well under a minute on two cores; these benchmarks measure it. Run them with
//
//	go test -run xxx -bench Generate -benchtime 1x ./tenant/sim/
//
// Besides time and allocations they report the tenant's size (objects, links, bytes of
// JSON) and the heap the finished dataset holds.

func BenchmarkGenerate100k(b *testing.B) { benchmarkGenerate(b, 100_000) }

func BenchmarkGenerate1M(b *testing.B) {
	if testing.Short() {
		b.Skip("a million users take a while and about 3 GB; run without -short")
	}
	benchmarkGenerate(b, 1_000_000)
}

func benchmarkGenerate(b *testing.B, users int) {
	b.ReportAllocs()
	var ds *Dataset
	for b.Loop() {
		var err error
		if ds, err = Generate(GenerateOptions{Users: users, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	jsonBytes := 0
	for _, o := range ds.Objects {
		jsonBytes += len(o.JSON)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(len(ds.Objects)), "objects")
	b.ReportMetric(float64(len(ds.Links)), "links")
	b.ReportMetric(float64(jsonBytes)/(1<<20), "MB-json")
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "MB-heap-retained")
	runtime.KeepAlive(ds)
}
