package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// A user who had no mail in the snapshot and was given a restored user's address since
// has its mail set back to none first, and the restore succeeds.
func TestAddressHolderWithoutMailInTheSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 48)
	ids, mails := mailUsers(t, r, 1)
	bob := reviewSecond(t, r, ids[0])
	if _, err := r.op.Do(ctx, graphapi.Request{Method: "PATCH", Path: "/users/" + bob, Body: []byte(`{"mail":null}`)}); err != nil {
		t.Fatal(err)
	}
	snap, err := snapshots.Capture(ctx, r.op, r.store, snapshots.CaptureOptions{Label: "nomail"})
	if err != nil {
		t.Fatal(err)
	}
	r.target = snapshots.State{Store: r.store, Snapshot: snap.Snapshot}
	r.attack(t, "DELETE", "/users/"+ids[0])
	// case differs too
	if _, err := r.at.Do(ctx, graphapi.Request{Method: "PATCH", Path: "/users/" + bob, Body: mustJSON(map[string]any{"mail": strings.ToUpper(mails[0])})}); err != nil {
		t.Fatal(err)
	}
	plan := r.plan(t)
	rep, err := Apply(ctx, plan, r.options(nil))
	if err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("apply: %v %+v", err, rep.Failures)
	}
}

func reviewSecond(t *testing.T, r *recovery, not string) string {
	for _, u := range r.list(t, "/users", false) {
		if id := u["id"].(string); id != not {
			return id
		}
	}
	return ""
}
