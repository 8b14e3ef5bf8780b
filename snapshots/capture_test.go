package snapshots_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

// unthrottled is a client budget far above what an unthrottled sim will ever see.
var unthrottled = graphapi.Budget{ResourceUnitsPer10s: 10_000_000, WritesPer150s: 10_000_000, ConditionalAccessPerSecond: 10_000, AuditPer10s: 100_000}

var (
	dsOnce sync.Once
	ds     *sim.Dataset
)

type simTenant struct {
	srv    *sim.Server
	client *graphapi.Client
}

func startSim(t *testing.T, mode sim.ThrottleMode) *simTenant {
	t.Helper()
	dsOnce.Do(func() {
		var err error
		if ds, err = sim.Generate(sim.GenerateOptions{Users: 60, Seed: 5}); err != nil {
			panic(err)
		}
	})
	return startSimOf(t, ds, mode)
}

// startSimOf serves dataset d.
func startSimOf(t *testing.T, d *sim.Dataset, mode sim.ThrottleMode) *simTenant {
	t.Helper()
	s, err := sim.New(d, sim.Options{Throttle: mode})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg := graphapi.Config{GraphURL: srv.Info().GraphURL}
	if mode == sim.ThrottleOff {
		// An unthrottled sim: let the client go as fast as the machine does, instead of
		// pacing CA reads to Graph's 1 request/s.
		cfg.Budget = unthrottled
	}
	c, err := graphapi.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &simTenant{srv: srv, client: c}
}

func openStore(t *testing.T, name string) *snapshots.Store {
	t.Helper()
	s, err := snapshots.Open(context.Background(), filepath.Join(t.TempDir(), name), snapshots.OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustDo(t *testing.T, c *graphapi.Client, method, path, body string) *graphapi.Response {
	t.Helper()
	r := graphapi.Request{Method: method, Path: path}
	if body != "" {
		r.Body = json.RawMessage(body)
	}
	resp, err := c.Do(context.Background(), r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

func TestCaptureHoldsEveryObjectAndLink(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tn := startSim(t, sim.ThrottleOff)
	store := openStore(t, "full.db")
	rep, err := snapshots.Capture(ctx, tn.client, store, snapshots.CaptureOptions{Label: "baseline"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, o := range ds.Objects {
		want[string(o.Kind)]++
	}
	for _, k := range entra.Kinds() {
		// The sim adds its own operator and attacker apps (and SPs) to every tenant.
		got, w := rep.Snapshot.Counts[string(k)], want[string(k)]
		if k == entra.KindApplication || k == entra.KindServicePrincipal {
			w += 2
		}
		if got != w && !(k == entra.KindRoleDefinition && got >= w) {
			t.Errorf("%s: captured %d, tenant has %d", k, got, w)
		}
	}
	// Every link of the dataset is in the snapshot, exactly.
	var wantLinks, gotLinks []string
	for _, l := range ds.Links {
		wantLinks = append(wantLinks, string(l.FromKind)+"/"+l.From+" "+l.Name+" "+l.To)
	}
	if err := store.Links(ctx, rep.Snapshot.ID, func(l snapshots.Link) error {
		gotLinks = append(gotLinks, string(l.Kind)+"/"+l.From+" "+l.Name+" "+l.To)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(wantLinks)
	if strings.Join(wantLinks, "\n") != strings.Join(gotLinks, "\n") {
		t.Fatalf("links differ: captured %d, dataset %d", len(gotLinks), len(wantLinks))
	}
	// Objects are stored as Graph returned them with every property selected.
	o, err := store.Object(ctx, rep.Snapshot.ID, entra.KindUser, ds.Objects[3].ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"department", "usageLocation", "onPremisesExtensionAttributes", "employeeOrgData"} {
		if !strings.Contains(string(o.JSON), `"`+p+`"`) {
			t.Errorf("captured user lacks %s: %s", p, o.JSON)
		}
	}
	if rep.Snapshot.DeltaTokens["user"] == "" || rep.Snapshot.DeltaTokens["group"] == "" {
		t.Errorf("no delta tokens recorded: %v", rep.Snapshot.DeltaTokens)
	}
	if v, err := store.Verify(ctx, nil); err != nil || !v.OK() {
		t.Fatalf("verify: %+v %v", v, err)
	}
}

// Progress counts each object once, a group whose members come on several pages
// included, tells the large kinds' totals up front, and says when each kind is done.
func TestCaptureProgressCountsEachObjectOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := sim.Generate(sim.GenerateOptions{Users: 1200, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	members := map[string]int{}
	largest := 0
	for _, l := range d.Links {
		if l.FromKind == entra.KindGroup && l.Name == "members" {
			members[l.From]++
			largest = max(largest, members[l.From])
		}
	}
	if largest <= 500 {
		t.Fatalf("the dataset's largest group has %d members: the test needs one that a delta page cuts short (over 500)", largest)
	}
	tn := startSimOf(t, d, sim.ThrottleOff)
	var mu sync.Mutex
	seen := map[string]int64{}
	totals := map[string]int64{}
	done := map[string]bool{}
	rep, err := snapshots.Capture(ctx, tn.client, openStore(t, "progress.db"), snapshots.CaptureOptions{Progress: func(ev snapshots.CaptureProgress) {
		mu.Lock()
		defer mu.Unlock()
		seen[ev.Kind] = max(seen[ev.Kind], ev.Objects)
		if ev.Total > 0 {
			totals[ev.Kind] = ev.Total
		}
		done[ev.Kind] = done[ev.Kind] || ev.Done
	}})
	if err != nil {
		t.Fatal(err)
	}
	for kind, n := range rep.Snapshot.Counts {
		if int(seen[kind]) != n {
			t.Errorf("%s: progress counted %d, the snapshot holds %d", kind, seen[kind], n)
		}
		if !done[kind] {
			t.Errorf("%s: never reported done", kind)
		}
	}
	for _, kind := range []entra.Kind{entra.KindUser, entra.KindGroup, entra.KindApplication, entra.KindServicePrincipal} {
		if int(totals[string(kind)]) != rep.Snapshot.Counts[string(kind)] {
			t.Errorf("%s: progress gave a total of %d, the snapshot holds %d", kind, totals[string(kind)], rep.Snapshot.Counts[string(kind)])
		}
	}
	// The totals cost one $count request per kind, and nothing when nobody watches.
	quiet, err := snapshots.Capture(ctx, tn.client, openStore(t, "quiet.db"), snapshots.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if quiet.Requests != rep.Requests-4 {
		t.Errorf("a capture without progress sent %d requests, one with it %d: want 4 fewer", quiet.Requests, rep.Requests)
	}
}

func TestIncrementalCaptureEqualsAFullOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tn, inc := capturedOnce(t)
	var users, groups []sim.Object
	for _, o := range ds.Objects {
		switch o.Kind {
		case entra.KindUser:
			users = append(users, o)
		case entra.KindGroup:
			groups = append(groups, o)
		}
	}
	var static sim.Object
	for _, g := range groups {
		s := string(g.JSON)
		if !strings.Contains(s, "Unified") && !strings.Contains(s, "DynamicMembership") && !strings.Contains(s, `"isAssignableToRole":true`) {
			static = g
			break
		}
	}
	// Creates, updates, soft and hard deletes, membership and manager changes.
	mustDo(t, tn.client, "POST", "/users", `{"accountEnabled":true,"displayName":"New Hire","mailNickname":"newhire","userPrincipalName":"newhire@`+ds.Domain+`","passwordProfile":{"password":"Aa1!aaaaaaaa"}}`)
	mustDo(t, tn.client, "PATCH", "/users/"+users[4].ID, `{"department":"Tampered","jobTitle":"Intern"}`)
	mustDo(t, tn.client, "DELETE", "/users/"+users[5].ID, "")
	mustDo(t, tn.client, "DELETE", "/users/"+users[6].ID, "")
	mustDo(t, tn.client, "DELETE", "/directory/deletedItems/"+users[6].ID, "")
	mustDo(t, tn.client, "PUT", "/users/"+users[9].ID+"/manager/$ref", `{"@odata.id":"https://graph.microsoft.com/v1.0/users/`+users[8].ID+`"}`)
	tn.client.Do(ctx, graphapi.Request{Method: "DELETE", Path: "/groups/" + static.ID + "/members/" + users[12].ID + "/$ref"})
	tn.client.Do(ctx, graphapi.Request{Method: "DELETE", Path: "/groups/" + static.ID + "/members/" + users[13].ID + "/$ref"})
	mustDo(t, tn.client, "POST", "/groups/"+static.ID+"/members/$ref", `{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/`+users[13].ID+`"}`)
	mustDo(t, tn.client, "PATCH", "/groups/"+groups[1].ID, `{"description":"changed by the incident"}`)

	snap := incrementalEqualsFull(t, tn, inc, "full")
	if !snap.Snapshot.Incremental {
		t.Fatal("the capture with Incremental is not marked incremental")
	}
	// And the diff between the two incremental snapshots tells the story.
	prev, _ := inc.Resolve(ctx, "1")
	res, err := snapshots.Diff(ctx, snapshots.State{Store: inc, Snapshot: prev}, snapshots.State{Store: inc, Snapshot: snap.Snapshot}, snapshots.DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Hard-deleting a user also removes its role and app role assignments.
	if res.Summary.Added != 1 || res.Summary.SoftDeleted != 1 || res.Summary.HardDeleted < 1 || res.Summary.Modified < 4 {
		t.Errorf("diff summary %+v", res.Summary)
	}
	classes := map[string]string{}
	for _, c := range res.Changes {
		classes[c.ID] = c.Change
	}
	if classes[users[4].ID] != snapshots.Modified || classes[users[5].ID] != snapshots.SoftDeleted || classes[users[6].ID] != snapshots.HardDeleted || classes[static.ID] != snapshots.Modified {
		t.Errorf("classes: %s %s %s %s", classes[users[4].ID], classes[users[5].ID], classes[users[6].ID], classes[static.ID])
	}
	for _, c := range res.Changes {
		if c.ID == users[5].ID && (c.Actor == nil || c.Activity == nil || *c.Activity != "Delete user") {
			t.Errorf("soft delete without its audit evidence: %+v", c)
		}
	}
}

// Delta tokens belong to the Graph endpoint that issued them: an incremental capture
// from another one is refused before anything is read, and the file stays as it was.
func TestIncrementalCaptureFromAnotherGraphURLIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first, second := startSim(t, sim.ThrottleOff), startSim(t, sim.ThrottleOff)
	store := openStore(t, "moved.db")
	if _, err := snapshots.Capture(ctx, first.client, store, snapshots.CaptureOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := snapshots.Capture(ctx, second.client, store, snapshots.CaptureOptions{Incremental: true})
	if err == nil || !strings.Contains(err.Error(), "its delta tokens only work there; pass --graph-url "+first.client.GraphURL()+" or take a full capture without --incremental") {
		t.Fatalf("incremental capture from another graph URL: %v", err)
	}
	if snaps, err := store.Snapshots(ctx); err != nil || len(snaps) != 1 {
		t.Fatalf("the refused capture left %d snapshots (%v), want 1", len(snaps), err)
	}
}

func TestFailedCaptureLeavesTheFileAsItWas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tn := startSim(t, sim.ThrottleOff)
	store := openStore(t, "t.db")
	first, err := snapshots.Capture(ctx, tn.client, store, snapshots.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Every read now fails with a 500, which no retry fixes.
	if _, err := tn.client.Raw(ctx, "POST", "/_sim/faults", map[string]any{"seed": 1, "error_rate": 1}); err != nil {
		t.Fatal(err)
	}
	_, err = snapshots.Capture(ctx, tn.client, store, snapshots.CaptureOptions{})
	if err == nil || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("capture against a failing tenant: %v", err)
	}
	snaps, err := store.Snapshots(ctx)
	if err != nil || len(snaps) != 1 || snaps[0].RootHash != first.Snapshot.RootHash {
		t.Fatalf("after a failed capture: %+v %v", snaps, err)
	}
	if v, err := store.Verify(ctx, nil); err != nil || !v.OK() {
		t.Fatalf("verify after a failed capture: %+v %v", v, err)
	}
}

func TestCaptureUnderRealisticThrottlingFailsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tn := startSim(t, sim.ThrottleRealistic)
	store := openStore(t, "t.db")
	rep, err := snapshots.Capture(ctx, tn.client, store, snapshots.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Snapshot.Counts["user"] != 60 {
		t.Fatalf("captured %d users", rep.Snapshot.Counts["user"])
	}
	for _, c := range tn.client.Calls() {
		if c.Status == 401 && c.Path == "/organization" {
			continue // the unauthenticated probe that discovers the sim's authority
		}
		if c.Status >= 400 && c.Status != 429 {
			t.Errorf("a request failed: %+v", c)
		}
		// Only the CA endpoints (1 request/s, no Retry-After) may answer 429, and the
		// client retries them; every other budget is paced, never exceeded.
		if c.Status == 429 && !strings.Contains(c.Path, "conditionalAccess") {
			t.Errorf("the pacer let a request exceed the budget: %+v", c)
		}
	}
}

// A label already in use is taken, but the capture warns that it now names several
// snapshots (and '--from LABEL' will be refused as ambiguous).
func TestCaptureWarnsOfASharedLabel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tn := startSim(t, sim.ThrottleOff)
	store := openStore(t, "labels.db")
	first, err := snapshots.Capture(ctx, tn.client, store, snapshots.CaptureOptions{Label: "daily"})
	if err != nil || len(first.Warnings) != 0 {
		t.Fatalf("first capture: %v, warnings %v", err, first.Warnings)
	}
	second, err := snapshots.Capture(ctx, tn.client, store, snapshots.CaptureOptions{Label: "daily"})
	if err != nil {
		t.Fatal(err)
	}
	want := `label "daily" also names snapshot 1, so it no longer picks one snapshot: name snapshots by id (2 is this one)`
	if len(second.Warnings) != 1 || second.Warnings[0] != want {
		t.Fatalf("second capture's warnings: %q", second.Warnings)
	}
}

// TestIncrementalCaptureAfterRestoresEqualsAFullOne takes incremental snapshots around a
// soft delete and a restore of a user and of a group: Graph brings their memberships
// back with them, and the groups' delta round must say so, or an incremental snapshot
// taken after a restore lacks them.
func TestIncrementalCaptureAfterRestoresEqualsAFullOne(t *testing.T) {
	t.Parallel()
	tn, inc := capturedOnce(t)
	// A user that is a member of a group, and a group with members (nested in another
	// one when the dataset has such a group).
	var user, group string
	for _, l := range ds.Links {
		if l.Name != "members" {
			continue
		}
		if user == "" && l.ToKind == entra.KindUser {
			user = l.To
		}
		if l.ToKind == entra.KindGroup {
			group = l.To
			break
		}
		if group == "" && l.FromKind == entra.KindGroup && l.To != user {
			group = l.From
		}
	}
	if user == "" || group == "" {
		t.Fatal("the dataset has no group with members")
	}
	mustDo(t, tn.client, "DELETE", "/users/"+user, "")
	mustDo(t, tn.client, "DELETE", "/groups/"+group, "")
	incrementalEqualsFull(t, tn, inc, "after the deletes")
	mustDo(t, tn.client, "POST", "/directory/deletedItems/"+user+"/restore", "")
	mustDo(t, tn.client, "POST", "/directory/deletedItems/"+group+"/restore", "")
	incrementalEqualsFull(t, tn, inc, "after the restores")
}

// capturedOnce starts an unthrottled sim and takes a full capture of it into a new
// file, for incremental captures to follow.
func capturedOnce(t *testing.T) (*simTenant, *snapshots.Store) {
	t.Helper()
	tn := startSim(t, sim.ThrottleOff)
	inc := openStore(t, "incremental.db")
	if _, err := snapshots.Capture(context.Background(), tn.client, inc, snapshots.CaptureOptions{}); err != nil {
		t.Fatal(err)
	}
	return tn, inc
}

// incrementalEqualsFull takes an incremental snapshot into inc and a full capture into a
// new file, and fails the test, with their differences, unless the two have the same
// root hash (so the same objects and links).
func incrementalEqualsFull(t *testing.T, tn *simTenant, inc *snapshots.Store, round string) snapshots.CaptureReport {
	t.Helper()
	ctx := context.Background()
	snap, err := snapshots.Capture(ctx, tn.client, inc, snapshots.CaptureOptions{Incremental: true})
	if err != nil {
		t.Fatal(err)
	}
	full := openStore(t, round+".db")
	ref, err := snapshots.Capture(ctx, tn.client, full, snapshots.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Snapshot.RootHash != ref.Snapshot.RootHash {
		res, _ := snapshots.Diff(ctx, snapshots.State{Store: full, Snapshot: ref.Snapshot}, snapshots.State{Store: inc, Snapshot: snap.Snapshot}, snapshots.DiffOptions{KeepVolatile: true})
		b, _ := json.MarshalIndent(res.Changes, "", " ")
		t.Fatalf("%s: the incremental snapshot (%d links) differs from a full capture (%d links):\n%s", round, snap.Snapshot.LinkCount, ref.Snapshot.LinkCount, b)
	}
	return snap
}

// damageVersion damages, behind the store's back (as a bad sector would), the stored
// version of the first object of kind in the newest snapshot, or the dictionaries when
// kind is "", and returns the damaged object's id.
func damageVersion(t *testing.T, store *snapshots.Store, kind string) string {
	t.Helper()
	db, err := sql.Open("sqlite", store.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if kind == "" {
		if _, err := db.Exec("UPDATE dicts SET data = x'00'"); err != nil {
			t.Fatal(err)
		}
		return ""
	}
	var id string
	var blob int64
	var data []byte
	if err := db.QueryRow("SELECT o.id, o.blob, b.data FROM objects o JOIN blobs b ON b.id = o.blob WHERE o.kind = ? AND o.last_snap IS NULL ORDER BY o.id LIMIT 1", kind).Scan(&id, &blob, &data); err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if _, err := db.Exec("UPDATE blobs SET data = ? WHERE id = ?", data, blob); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestCaptureStoresFreshCopiesOfDamagedStoredVersions(t *testing.T) {
	t.Parallel()
	// A user comes from a listing page, a group from a delta round, and a damaged
	// dictionary damages every version packed with it.
	for _, kind := range []string{"user", "group", ""} {
		t.Run("kind="+kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			tn, store := capturedOnce(t)
			victim := damageVersion(t, store, kind)
			rep, err := snapshots.Capture(ctx, tn.client, store, snapshots.CaptureOptions{})
			if err != nil {
				t.Fatal(err)
			}
			warned := strings.Join(rep.Warnings, "\n")
			if !strings.Contains(warned, "damaged ("+kind) || !strings.Contains(warned, victim) ||
				!strings.Contains(warned, "snapshot 1 still holds") || !strings.Contains(warned, "snapshots verify --db "+store.Path()) {
				t.Errorf("warnings = %q, want the damaged %s %s named, snapshot 1 and verify", warned, kind, victim)
			}
			v, err := store.Verify(ctx, []int64{rep.Snapshot.ID})
			if err != nil || !v.OK() {
				t.Fatalf("the new snapshot is damaged: %+v %v", v.Damage, err)
			}
			// The earlier snapshot is still damaged, and only it: the same hash in the
			// new snapshot names another, intact, copy.
			all, err := store.Verify(ctx, nil)
			if err != nil || all.OK() {
				t.Fatalf("verify of every snapshot: %+v %v, want snapshot 1 damaged", all.Damage, err)
			}
			for _, d := range all.Damage {
				if d.Snapshot != 1 {
					t.Errorf("damage reported of snapshot %d: %v", d.Snapshot, d)
				}
			}
		})
	}
}

func TestIncrementalCaptureRefusesToKeepADamagedVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tn, store := capturedOnce(t)
	victim := damageVersion(t, store, "user")
	_, err := snapshots.Capture(ctx, tn.client, store, snapshots.CaptureOptions{Incremental: true})
	if err == nil || !strings.Contains(err.Error(), "user "+victim) || !strings.Contains(err.Error(), "take a full capture") || strings.Contains(err.Error(), "cancel") {
		t.Fatalf("incremental capture over a damaged version: %v", err)
	}
	if snaps, err := store.Snapshots(ctx); err != nil || len(snaps) != 1 {
		t.Fatalf("the refused capture left %d snapshots (%v), want 1", len(snaps), err)
	}
}

func TestCaptureRefusesADamagedSnapshotsTableBeforeReadingTheTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tn, store := capturedOnce(t)
	db, err := sql.Open("sqlite", store.Path())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE snapshots SET counts = '{"user":` + "\x0f" + `'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := tn.client.Stats().Requests
	_, err = snapshots.Capture(ctx, tn.client, store, snapshots.CaptureOptions{})
	if err == nil || !strings.Contains(err.Error(), "table of snapshots in "+store.Path()+" is damaged") || strings.Contains(err.Error(), "invalid character") {
		t.Fatalf("capture into a file whose table of snapshots is damaged: %v", err)
	}
	if n := tn.client.Stats().Requests - before; n != 0 {
		t.Errorf("the refused capture sent %d requests to Graph, want none", n)
	}
}

func TestIncrementalCaptureReportsTheCauseNotTheCancellation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tn, store := capturedOnce(t)
	// A changed group arrives as its changed members, laid over its stored version:
	// that version is unreadable, which stops the writer and cancels the reads.
	db, err := sql.Open("sqlite", store.Path())
	if err != nil {
		t.Fatal(err)
	}
	var group string
	if err := db.QueryRow("SELECT id FROM objects WHERE kind = 'group' ORDER BY id LIMIT 1").Scan(&group); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE blobs SET data = x'02ff' WHERE id IN (SELECT blob FROM objects WHERE kind = 'group')"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	mustDo(t, tn.client, "PATCH", "/groups/"+group, `{"description":"changed by the incident"}`)
	_, err = snapshots.Capture(ctx, tn.client, store, snapshots.CaptureOptions{Incremental: true})
	if err == nil || strings.Contains(err.Error(), "cancel") || !strings.Contains(err.Error(), group) {
		t.Fatalf("incremental capture over a damaged group: %v, want the group named and no cancellation", err)
	}
}
