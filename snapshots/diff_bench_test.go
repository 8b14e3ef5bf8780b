package snapshots_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

// BenchmarkDiff1M diffs two snapshots of a 1,000,000-user tenant with 1% churn between
// them (attribute changes, deletions, new users, membership moves). Setting up the two
// snapshots takes minutes and is not timed.
func BenchmarkDiff1M(b *testing.B) {
	if testing.Short() {
		b.Skip("1M users: run without -short")
	}
	benchmarkDiff(b, 1_000_000)
}

// BenchmarkDiff100k is the same at 100,000 users.
func BenchmarkDiff100k(b *testing.B) { benchmarkDiff(b, 100_000) }

func benchmarkDiff(b *testing.B, users int) {
	ctx := context.Background()
	ds, err := sim.Generate(sim.GenerateOptions{Users: users, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	store, err := snapshots.Open(ctx, filepath.Join(b.TempDir(), "diff.db"), snapshots.OpenOptions{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	write := func(day int, objects []sim.Object, links []sim.Link) snapshots.Snapshot {
		w, err := store.Begin(ctx, snapshots.SnapshotMeta{TenantID: ds.TenantID, TakenAt: time.Date(2026, 11, day, 3, 0, 0, 0, time.UTC)})
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range objects {
			if err := w.PutObject(ctx, o.Kind, o.ID, o.JSON, false); err != nil {
				b.Fatal(err)
			}
		}
		for _, l := range links {
			if err := w.PutLink(ctx, snapshots.Link{Kind: l.FromKind, From: l.From, Name: l.Name, To: l.To, ToKind: l.ToKind}); err != nil {
				b.Fatal(err)
			}
		}
		snap, err := w.Commit(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return snap
	}
	before := write(1, ds.Objects, ds.Links)

	// 1% churn: of every hundred users one is changed, deleted or joined by a new one,
	// and one membership in a hundred moves to another user.
	r := rand.New(rand.NewPCG(9, 9))
	var after []sim.Object
	gone := map[string]bool{}
	changes := 0
	for _, o := range ds.Objects {
		if o.Kind != entra.KindUser || r.IntN(100) != 0 {
			after = append(after, o)
			continue
		}
		changes++
		switch changes % 3 {
		case 0:
			gone[o.ID] = true
		case 1:
			after = append(after, sim.Object{Kind: o.Kind, ID: o.ID, JSON: []byte(strings.Replace(string(o.JSON), `"department":`, `"department":"Tampered","x-was":`, 1))})
		default:
			after = append(after, o)
			id := fmt.Sprintf("new-%d", changes)
			after = append(after, sim.Object{Kind: entra.KindUser, ID: id, JSON: []byte(`{"id":"` + id + `","displayName":"Attacker ` + id + `"}`)})
		}
	}
	var links []sim.Link
	for _, l := range ds.Links {
		if gone[l.From] || gone[l.To] {
			continue
		}
		if r.IntN(100) == 0 && l.Name == "members" {
			l.To = ds.Objects[r.IntN(users)].ID
		}
		links = append(links, l)
	}
	afterSnap := write(2, after, links)
	b.ResetTimer()
	var res *snapshots.DiffResult
	for i := 0; i < b.N; i++ {
		res, err = snapshots.Diff(ctx, snapshots.State{Store: store, Snapshot: before}, snapshots.State{Store: store, Snapshot: afterSnap}, snapshots.DiffOptions{})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(res.Changes)), "changes")
	b.ReportMetric(float64(len(ds.Objects)), "objects")
}
