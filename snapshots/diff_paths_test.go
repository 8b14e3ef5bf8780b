package snapshots_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

// Diff reads two snapshots of one file by the manifest and link rows in only one of
// them, and states in two files by reading both whole. Both ways must give the same
// result: here the same file is opened twice, so Diff sees two stores.
func TestDiffOneFileIsTwoFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ds, err := sim.Generate(sim.GenerateOptions{Users: 2000, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "paths.db")
	store, err := snapshots.Open(ctx, path, snapshots.OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	write := func(day int, objects []sim.Object, links []sim.Link, bin map[string]bool) snapshots.Snapshot {
		w, err := store.Begin(ctx, snapshots.SnapshotMeta{TenantID: ds.TenantID, TakenAt: time.Date(2026, 11, day, 3, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objects {
			if err := w.PutObject(ctx, o.Kind, o.ID, o.JSON, bin[o.ID]); err != nil {
				t.Fatal(err)
			}
		}
		for _, l := range links {
			if err := w.PutLink(ctx, snapshots.Link{Kind: l.FromKind, From: l.From, Name: l.Name, To: l.To, ToKind: l.ToKind}); err != nil {
				t.Fatal(err)
			}
		}
		snap, err := w.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	first := write(1, ds.Objects, ds.Links, nil)
	// Every class of change: edits, deletions, objects sent to the bin, additions, and
	// links moved, dropped with their objects and restored in the third snapshot.
	var second, third []sim.Object
	gone, bin, bin3 := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, o := range ds.Objects {
		switch i % 29 {
		case 0:
			gone[o.ID] = true
			continue
		case 1:
			o = sim.Object{Kind: o.Kind, ID: o.ID, JSON: []byte(strings.Replace(string(o.JSON), `"displayName":`, `"displayName":"Tampered","x-was":`, 1))}
		case 2:
			bin[o.ID] = true
			bin3[o.ID] = i%2 == 0
		case 3:
			id := fmt.Sprintf("new-%d", i)
			second = append(second, sim.Object{Kind: entra.KindUser, ID: id, JSON: []byte(`{"id":"` + id + `","displayName":"Attacker ` + id + `"}`)})
		}
		second = append(second, o)
		if !bin[o.ID] || i%3 != 0 {
			third = append(third, o)
		}
	}
	var links []sim.Link
	for i, l := range ds.Links {
		if gone[l.From] || gone[l.To] {
			continue
		}
		if i%41 == 0 {
			l.To = ds.Objects[i%len(ds.Objects)].ID
		}
		links = append(links, l)
	}
	mid := write(2, second, links, bin)
	last := write(3, third, ds.Links, bin3)

	other, err := snapshots.Open(ctx, path, snapshots.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, pair := range [][2]snapshots.Snapshot{{first, mid}, {first, last}, {mid, last}, {last, first}} {
		for _, opts := range []snapshots.DiffOptions{{}, {Kinds: []entra.Kind{entra.KindGroup, entra.KindUser}, KeepVolatile: true}} {
			var got [2][]byte
			for i, to := range []*snapshots.Store{store, other} {
				res, err := snapshots.Diff(ctx, snapshots.State{Store: store, Snapshot: pair[0]}, snapshots.State{Store: to, Snapshot: pair[1]}, opts)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Changes) == 0 {
					t.Fatalf("snapshots %d and %d: no changes", pair[0].ID, pair[1].ID)
				}
				if got[i], err = json.Marshal(res); err != nil {
					t.Fatal(err)
				}
			}
			if string(got[0]) != string(got[1]) {
				t.Errorf("snapshots %d and %d (%+v): one file and two files differ:\n%s\n%s", pair[0].ID, pair[1].ID, opts, got[0], got[1])
			}
			// The planner's in-memory diff of the same two states gives the same bytes.
			from, to := snapshots.State{Store: store, Snapshot: pair[0]}, snapshots.State{Store: other, Snapshot: pair[1]}
			var a, b snapshots.Loaded
			for _, load := range []error{a.LoadObjects(ctx, from), a.LoadLinks(ctx, from), b.LoadObjects(ctx, to), b.LoadLinks(ctx, to)} {
				if load != nil {
					t.Fatal(load)
				}
			}
			res, err := snapshots.DiffLoaded(ctx, from, to, &a, &b, opts)
			if err != nil {
				t.Fatal(err)
			}
			if loaded, _ := json.Marshal(res); string(loaded) != string(got[1]) {
				t.Errorf("snapshots %d and %d (%+v): DiffLoaded differs from Diff:\n%s\n%s", pair[0].ID, pair[1].ID, opts, loaded, got[1])
			}
		}
	}
}
