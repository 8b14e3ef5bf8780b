package graphx_test

import (
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

// benchGraph times building the dependency graph of a generated tenant of n users.
func benchGraph(b *testing.B, n int) {
	b.Helper()
	ds, err := sim.Generate(sim.GenerateOptions{Users: n, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var g *graphx.Graph
	for i := 0; i < b.N; i++ {
		bl := graphx.NewBuilder()
		for _, o := range ds.Objects {
			if err := bl.AddObject(o.Kind, o.ID, o.JSON, false); err != nil {
				b.Fatal(err)
			}
		}
		for _, l := range ds.Links {
			bl.AddLink(l.FromKind, l.From, l.Name, l.ToKind, l.To)
		}
		g = bl.Build()
		// The name indexes are built on the first lookup, which every command that
		// reads the graph makes: it belongs to the build.
		if _, err := g.Lookup(ds.Objects[0].ID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(ds.Objects)), "objects")
	b.ReportMetric(float64(g.EdgeCount()), "edges")
}

// BenchmarkGraphBuild1M is the graph build for a 1,000,000-user tenant.
func BenchmarkGraphBuild1M(b *testing.B) {
	if testing.Short() {
		b.Skip("1M users: run without -short")
	}
	benchGraph(b, 1_000_000)
}

// BenchmarkBlastRadius1M times blast-radius queries on a built 1,000,000-user graph,
// over the objects with the most dependents: the break-glass accounts, the most
// referenced group, an application, and a plain user.
func BenchmarkBlastRadius1M(b *testing.B) {
	if testing.Short() {
		b.Skip("1M users: run without -short")
	}
	ds2, err := sim.Generate(sim.GenerateOptions{Users: 1_000_000, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	bl := graphx.NewBuilder()
	for _, o := range ds2.Objects {
		bl.AddObject(o.Kind, o.ID, o.JSON, false)
	}
	for _, l := range ds2.Links {
		bl.AddLink(l.FromKind, l.From, l.Name, l.ToKind, l.To)
	}
	graph := bl.Build()
	// The queries: every kind's most-referenced object plus a break-glass account.
	best := map[entra.Kind]graphx.NodeID{}
	most := map[entra.Kind]int{}
	for _, n := range graph.Nodes() {
		if c := len(graph.ReferencedBy(n.NodeID)); c > most[n.Kind] {
			most[n.Kind], best[n.Kind] = c, n.NodeID
		}
	}
	queries := []graphx.NodeID{{Kind: entra.KindUser, ID: ds2.BreakGlass[0]}}
	for _, id := range best {
		queries = append(queries, id)
	}
	b.ResetTimer()
	worst := 0
	for i := 0; i < b.N; i++ {
		for _, q := range queries {
			if br := graph.BlastRadius(q); br.Count > worst {
				worst = br.Count
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(queries))/1000, "ms/query")
	b.ReportMetric(float64(worst), "largest-radius")
}
