package snapshots_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

// A manager removed shows in a delta round as an empty manager@delta: the incremental
// snapshot must drop the link, as a full capture would not find it.
func TestIncrementalCaptureFollowsManagerChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tn := startSim(t, sim.ThrottleOff)
	inc := openStore(t, "inc.db")
	first, err := snapshots.Capture(ctx, tn.client, inc, snapshots.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	managed := map[string]string{}
	if err := inc.Links(ctx, first.Snapshot.ID, func(l snapshots.Link) error {
		if l.Name == "manager" {
			managed[l.From] = l.To
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, o := range ds.Objects {
		if o.Kind == entra.KindUser && managed[o.ID] != "" {
			users = append(users, o.ID)
		}
	}
	if len(users) < 2 {
		t.Fatalf("the tenant has %d users with managers", len(users))
	}
	mustDo(t, tn.client, "DELETE", "/users/"+users[0]+"/manager/$ref", "")
	mustDo(t, tn.client, "PUT", "/users/"+users[1]+"/manager/$ref", `{"@odata.id":"https://graph.microsoft.com/v1.0/users/`+users[0]+`"}`)

	snap, err := snapshots.Capture(ctx, tn.client, inc, snapshots.CaptureOptions{Incremental: true})
	if err != nil {
		t.Fatal(err)
	}
	full := openStore(t, "full.db")
	ref, err := snapshots.Capture(ctx, tn.client, full, snapshots.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Snapshot.RootHash != ref.Snapshot.RootHash || snap.Snapshot.LinkCount != ref.Snapshot.LinkCount {
		t.Fatalf("incremental %s (%d links), full %s (%d links)", snap.Snapshot.RootHash, snap.Snapshot.LinkCount, ref.Snapshot.RootHash, ref.Snapshot.LinkCount)
	}
	now := map[string]string{}
	inc.Links(ctx, snap.Snapshot.ID, func(l snapshots.Link) error {
		if l.Name == "manager" {
			now[l.From] = l.To
		}
		return nil
	})
	if now[users[0]] != "" || now[users[1]] != users[0] {
		t.Fatalf("managers after the changes: %q, %q", now[users[0]], now[users[1]])
	}
	if v, err := inc.Verify(ctx, nil); err != nil || !v.OK() {
		t.Fatalf("verify: %+v %v", v, err)
	}
}

// A full capture of a tenant that did not change stores no version again (its
// collectors do not even pack them), and one after a change stores that change alone;
// both read back exactly as a capture into a new file does.
func TestFullRecaptureStoresOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tn := startSim(t, sim.ThrottleOff)
	store := openStore(t, "daily.db")
	versions := func() int {
		db, err := sql.Open("sqlite", store.Path()+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow("SELECT count(*) FROM blobs").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	first, err := snapshots.Capture(ctx, tn.client, store, snapshots.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored := versions()
	again, err := snapshots.Capture(ctx, tn.client, store, snapshots.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := versions(); n != stored || again.Snapshot.RootHash != first.Snapshot.RootHash {
		t.Fatalf("an unchanged tenant's capture stored %d versions more, root hash %s then %s", n-stored, first.Snapshot.RootHash, again.Snapshot.RootHash)
	}
	var user string
	for _, o := range ds.Objects {
		if o.Kind == entra.KindUser {
			user = o.ID
			break
		}
	}
	mustDo(t, tn.client, "PATCH", "/users/"+user, `{"department":"Incident Response"}`)
	changed, err := snapshots.Capture(ctx, tn.client, store, snapshots.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := versions(); n != stored+1 {
		t.Fatalf("a capture after one change stored %d versions, want 1", n-stored)
	}
	ref, err := snapshots.Capture(ctx, tn.client, openStore(t, "fresh.db"), snapshots.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if changed.Snapshot.RootHash != ref.Snapshot.RootHash {
		t.Fatalf("root hash %s, a capture into a new file %s", changed.Snapshot.RootHash, ref.Snapshot.RootHash)
	}
	if rep, err := store.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", rep.Damage, err)
	}
}
