package snapshots_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

// Capture benchmarks: a generated tenant (sim.Generate, seed 1) served by a sim in this
// process (throttling off, the client given an unlimited budget), captured into a new
// file each iteration. Metrics: objects/s (directory objects, live and in recycle bins;
// links are extra work, reported as "links"), the file's size in MB, and the seconds of
// one capture (opening the file to closing it), and the CPU seconds the process spent on
// it ("cpu-s-with-sim": the sim's serving included). The sim shares the process and its
// two cores with the capture, so these are end-to-end numbers, not lifeline's alone.
//
//	go test -run '^$' -bench 'Capture(10k|100k)$' -benchtime 1x ./snapshots
//
// The 1M benchmark needs minutes and ~10 GiB (the sim holds the tenant in the same
// process); it is skipped under -short. scripts/bench-capture.sh measures the capturing
// process alone (its RSS and CPU) against a sim in another process, through
// BenchmarkCaptureExternal. LIFELINE_BENCH_DB, when set, is the file to capture into
// (kept afterwards).

func BenchmarkCapture10k(b *testing.B)  { benchCapture(b, 10_000) }
func BenchmarkCapture100k(b *testing.B) { benchCapture(b, 100_000) }
func BenchmarkCapture1M(b *testing.B) {
	if testing.Short() {
		b.Skip("a million users take minutes; not under -short")
	}
	benchCapture(b, 1_000_000)
}

// benchSim serves a generated tenant of n users, unthrottled, with a client that does
// not pace itself.
func benchSim(b *testing.B, n int) (*sim.Server, *graphapi.Client) {
	b.Helper()
	ds, err := sim.Generate(sim.GenerateOptions{Users: n, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	s, err := sim.New(ds, sim.Options{Throttle: sim.ThrottleOff})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := s.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	c, err := graphapi.New(context.Background(), graphapi.Config{GraphURL: srv.Info().GraphURL, Budget: unthrottled})
	if err != nil {
		b.Fatal(err)
	}
	return srv, c
}

// externalClient reaches the simulated tenant at $LIFELINE_BENCH_GRAPH_URL, unpaced, or
// skips the benchmark when none is given.
func externalClient(b *testing.B) *graphapi.Client {
	url := os.Getenv("LIFELINE_BENCH_GRAPH_URL")
	if url == "" {
		b.Skip("set LIFELINE_BENCH_GRAPH_URL to a simulated tenant's graph URL")
	}
	c, err := graphapi.New(context.Background(), graphapi.Config{GraphURL: url, Budget: unthrottled})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkCaptureExternal captures from the simulated tenant at $LIFELINE_BENCH_GRAPH_URL
// (a 'lifeline sim serve --throttle off' in another process), so that the capturing
// process can be measured alone; scripts/bench-capture.sh runs it under /usr/bin/time.
func BenchmarkCaptureExternal(b *testing.B) {
	c := externalClient(b)
	runCaptures(b, c, true)
}

// BenchmarkRecaptureExternal is BenchmarkCaptureExternal's daily case: the tenant at
// $LIFELINE_BENCH_GRAPH_URL is captured once into a new file, untimed, and then b.N
// times again into the same file, each capture finding most versions already stored
// (and checking that their stored copies are intact before it keeps them). Its "cpu-s"
// is the CPU of one such capture.
func BenchmarkRecaptureExternal(b *testing.B) {
	c := externalClient(b)
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "recapture.db")
	capture := func() {
		store, err := snapshots.Open(ctx, path, snapshots.OpenOptions{Create: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := snapshots.Capture(ctx, c, store, snapshots.CaptureOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := store.Close(); err != nil {
			b.Fatal(err)
		}
	}
	capture()
	cpu0 := processCPU()
	start := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		capture()
	}
	b.StopTimer()
	b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/capture")
	b.ReportMetric((processCPU()-cpu0).Seconds()/float64(b.N), "cpu-s")
}

func benchCapture(b *testing.B, n int) {
	_, client := benchSim(b, n)
	runCaptures(b, client, false)
}

// runCaptures captures b.N times into a new file; alone says the process does nothing
// else, so its CPU time is the capture's ("cpu-s").
func runCaptures(b *testing.B, client *graphapi.Client, alone bool) {
	ctx := context.Background()
	dir := b.TempDir()
	var objects, links int
	var size int64
	var took time.Duration
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		path := filepath.Join(dir, "capture.db")
		if k := os.Getenv("LIFELINE_BENCH_DB"); k != "" {
			path = k
		}
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(path + suffix)
		}
		start := time.Now()
		store, err := snapshots.Open(ctx, path, snapshots.OpenOptions{Create: true})
		if err != nil {
			b.Fatal(err)
		}
		rep, err := snapshots.Capture(ctx, client, store, snapshots.CaptureOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := store.Close(); err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		objects, links = 0, rep.Links
		for _, c := range rep.Snapshot.Counts {
			objects += c
		}
		for _, c := range rep.Snapshot.BinCounts {
			objects += c
		}
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		size = fi.Size()
	}
	b.StopTimer()
	b.ReportMetric(float64(objects)*float64(b.N)/took.Seconds(), "objects/s")
	b.ReportMetric(float64(links), "links")
	b.ReportMetric(float64(size)/1e6, "file-MB")
	b.ReportMetric(took.Seconds()/float64(b.N), "s/capture")
	// CPU seconds per capture: the capture's alone, or with the in-process sim's.
	if alone {
		b.ReportMetric((processCPU()-cpu0).Seconds()/float64(b.N), "cpu-s")
	} else {
		b.ReportMetric((processCPU()-cpu0).Seconds()/float64(b.N), "cpu-s-with-sim")
	}
}

// BenchmarkStore100k measures lifeline's own side of a capture without the network: the
// objects of a generated 100,000-user tenant prepared (canonicalized and hashed) and put,
// its links put, and the snapshot committed. It is the rate a capture could reach if
// Graph (or the simulated tenant) answered instantly. "prepare-s" is the preparing,
// which a capture spreads over its collectors; the rest runs in the writer goroutine.
func BenchmarkStore100k(b *testing.B) { benchStore(b, 100_000) }

// BenchmarkStore1M is BenchmarkStore100k at a million users (skipped under -short).
func BenchmarkStore1M(b *testing.B) {
	if testing.Short() {
		b.Skip("a million users take minutes; not under -short")
	}
	benchStore(b, 1_000_000)
}

func benchStore(b *testing.B, n int) {
	ds, err := sim.Generate(sim.GenerateOptions{Users: n, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	dir := b.TempDir()
	var prep, write time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		path := filepath.Join(dir, "store.db")
		os.Remove(path)
		store, err := snapshots.Open(ctx, path, snapshots.OpenOptions{Create: true})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		ps := make([]snapshots.Prepared, len(ds.Objects))
		for j, o := range ds.Objects {
			if ps[j], err = snapshots.Prepare(o.Kind, o.ID, o.JSON, false); err != nil {
				b.Fatal(err)
			}
		}
		prep += time.Since(start)
		start = time.Now()
		w, err := store.Begin(ctx, snapshots.SnapshotMeta{TenantID: ds.TenantID})
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range ps {
			if err := w.PutPrepared(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
		for _, l := range ds.Links {
			if err := w.PutLink(ctx, snapshots.Link{Kind: l.FromKind, From: l.From, Name: l.Name, To: l.To, ToKind: l.ToKind}); err != nil {
				b.Fatal(err)
			}
		}
		w.PruneLinks(ctx)
		if _, err := w.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		write += time.Since(start)
		store.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(len(ds.Objects))*float64(b.N)/(prep+write).Seconds(), "objects/s")
	b.ReportMetric(prep.Seconds()/float64(b.N), "prepare-s")
	b.ReportMetric(write.Seconds()/float64(b.N), "write-s")
}
