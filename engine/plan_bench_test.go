package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

// BenchmarkBuildPlan100k builds the restore plan of an incident that touched about
// 100,000 objects of a generated 100,000-user tenant: the design's goal is under 5 s.
// Generating the tenant and writing both states takes far longer and is not timed.
// LIFELINE_BENCH_PLAN, when set, is a file the plan is written to (JSON), so that
// the plans two versions of the planner build can be compared; LIFELINE_BENCH_DIR
// keeps the generated incident between runs.
func BenchmarkBuildPlan100k(b *testing.B) {
	if testing.Short() {
		b.Skip("100k-object incident: run without -short")
	}
	target, live, changed := cachedIncident(b, 100_000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var plan *Plan
	for i := 0; i < b.N; i++ {
		var err error
		plan, err = BuildPlan(ctx, target, live, PlanOptions{Now: fixedNow})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	steps := 0
	for _, s := range plan.Stages {
		steps += len(s.Steps)
	}
	b.ReportMetric(float64(changed), "changed")
	b.ReportMetric(float64(steps), "steps")
	if out := os.Getenv("LIFELINE_BENCH_PLAN"); out != "" {
		// The plan itself, to compare the plans of two versions of the planner.
		data, err := json.Marshal(plan)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(out, data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWritePlan100k writes the plan of BenchmarkBuildPlan100k's incident as the
// plan file holds it (WritePlanJSON: indented JSON, about 350 MB), which lifeline plan
// does after building it. Building the plan is not timed.
func BenchmarkWritePlan100k(b *testing.B) {
	if testing.Short() {
		b.Skip("100k-object incident: run without -short")
	}
	target, live, _ := cachedIncident(b, 100_000)
	plan, err := BuildPlan(context.Background(), target, live, PlanOptions{Now: fixedNow})
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out.Reset()
		if err := WritePlanJSON(&out, plan); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(out.Len())/1e6, "MB")
}

// cachedIncident is benchIncident, kept between runs in $LIFELINE_BENCH_DIR when it
// is set (generating a 100,000-user incident takes far longer than planning it): the
// two files and the number of changed objects are written there the first time and
// opened afterwards.
func cachedIncident(tb testing.TB, users int) (target, live snapshots.State, changed int) {
	dir := os.Getenv("LIFELINE_BENCH_DIR")
	if dir == "" {
		return benchIncident(tb, users)
	}
	ctx := context.Background()
	base := filepath.Join(dir, fmt.Sprintf("incident-%d", users))
	count, err := os.ReadFile(base + ".changed")
	if err != nil {
		for _, f := range []string{base + "-target.db", base + "-live.db"} {
			os.Remove(f) // what an interrupted run left
		}
		target, live, changed = writeIncident(tb, users, func(name string) string { return base + "-" + name + ".db" })
		if err := os.WriteFile(base+".changed", []byte(fmt.Sprint(changed)), 0o600); err != nil {
			tb.Fatal(err)
		}
		return target, live, changed
	}
	if _, err := fmt.Sscan(string(count), &changed); err != nil {
		tb.Fatal(err)
	}
	open := func(name string) snapshots.State {
		store, err := snapshots.Open(ctx, name, snapshots.OpenOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { store.Close() })
		snaps, err := store.Snapshots(ctx)
		if err != nil || len(snaps) != 1 {
			tb.Fatalf("%s: %v snapshots, %v", name, len(snaps), err)
		}
		return snapshots.State{Store: store, Snapshot: snaps[0]}
	}
	target, live = open(base+"-target.db"), open(base+"-live.db")
	live.Live = true
	return target, live, changed
}

// benchIncident writes a generated tenant of the given size as the known-good snapshot
// and, into a second store as a live capture would, the tenant after a mass incident:
// of every ten users three are gone for good, two are in the recycle bin (one in four of
// them edited before deletion), four were edited; groups are edited or deleted, app role
// assignments deleted, and attackers' users were added and put in groups. It returns
// both states and the number of objects the incident touched.
func benchIncident(tb testing.TB, users int) (target, live snapshots.State, changed int) {
	dir := tb.TempDir()
	return writeIncident(tb, users, func(name string) string { return filepath.Join(dir, name+".db") })
}

// writeIncident is benchIncident writing the two states to the files path names.
func writeIncident(tb testing.TB, users int, path func(name string) string) (target, live snapshots.State, changed int) {
	tb.Helper()
	ctx := context.Background()
	ds, err := sim.Generate(sim.GenerateOptions{Users: users, Seed: 7})
	if err != nil {
		tb.Fatal(err)
	}
	write := func(name string, day int, objects []sim.Object, inBin map[string]bool, links []sim.Link) snapshots.State {
		store, err := snapshots.Open(ctx, path(name), snapshots.OpenOptions{Create: true})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { store.Close() })
		w, err := store.Begin(ctx, snapshots.SnapshotMeta{TenantID: ds.TenantID, TakenAt: time.Date(2026, 11, day, 3, 0, 0, 0, time.UTC), Label: name})
		if err != nil {
			tb.Fatal(err)
		}
		for _, o := range objects {
			if err := w.PutObject(ctx, o.Kind, o.ID, o.JSON, inBin[o.ID]); err != nil {
				tb.Fatal(err)
			}
		}
		for _, l := range links {
			if err := w.PutLink(ctx, snapshots.Link{Kind: l.FromKind, From: l.From, Name: l.Name, To: l.To, ToKind: l.ToKind}); err != nil {
				tb.Fatal(err)
			}
		}
		snap, err := w.Commit(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		return snapshots.State{Store: store, Snapshot: snap}
	}
	target = write("target", 1, ds.Objects, nil, ds.Links)

	edit := func(o sim.Object, set map[string]any) sim.Object {
		var m map[string]any
		if err := json.Unmarshal(o.JSON, &m); err != nil {
			tb.Fatal(err)
		}
		for k, v := range set {
			m[k] = v
		}
		data, err := json.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		return sim.Object{Kind: o.Kind, ID: o.ID, JSON: data}
	}
	r := rand.New(rand.NewPCG(7, 7))
	var after []sim.Object
	gone, binned := map[string]bool{}, map[string]bool{}
	var groups []string
	for _, o := range ds.Objects {
		switch o.Kind {
		case entra.KindUser:
			switch r.IntN(10) {
			case 0, 1, 2:
				gone[o.ID] = true
			case 3, 4:
				binned[o.ID] = true
				set := map[string]any{"deletedDateTime": "2026-11-02T01:00:00Z"}
				if r.IntN(4) == 0 {
					set["jobTitle"] = "Deleted by attacker"
				}
				after = append(after, edit(o, set))
			case 5, 6, 7, 8:
				after = append(after, edit(o, map[string]any{"department": "Tampered", "officeLocation": "Nowhere"}))
			default:
				after = append(after, o)
				continue
			}
			changed++
		case entra.KindGroup:
			switch r.IntN(10) {
			case 0:
				gone[o.ID] = true
			case 1, 2:
				groups = append(groups, o.ID)
				after = append(after, edit(o, map[string]any{"description": "pwned"}))
			default:
				groups = append(groups, o.ID)
				after = append(after, o)
				continue
			}
			changed++
		case entra.KindAppRoleAssignment:
			if r.IntN(3) == 0 {
				gone[o.ID] = true
				changed++
				continue
			}
			after = append(after, o)
		default:
			after = append(after, o)
		}
	}
	// Links of deleted objects go with them; those of objects in a bin are gone while
	// they are there.
	var links []sim.Link
	for _, l := range ds.Links {
		if gone[l.From] || gone[l.To] || binned[l.From] || binned[l.To] {
			continue
		}
		links = append(links, l)
	}
	added := users / 20
	for i := 0; i < added; i++ {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		after = append(after, sim.Object{Kind: entra.KindUser, ID: id,
			JSON: []byte(fmt.Sprintf(`{"accountEnabled":true,"displayName":"Attacker %d","id":"%s","mailNickname":"attacker%d","userPrincipalName":"attacker%d@%s"}`, i, id, i, i, ds.Domain))})
		links = append(links, sim.Link{FromKind: entra.KindGroup, From: groups[r.IntN(len(groups))], Name: "members", ToKind: entra.KindUser, To: id})
		changed++
	}
	live = write("live", 2, after, binned, links)
	live.Live = true
	return target, live, changed
}
