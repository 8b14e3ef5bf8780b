package snapshots_test

import (
	"context"
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
