package engine

// Restores that meet a user's mail address held by another user: Graph refuses them
// while it is (graph-spec §3.4).

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// mailUsers returns the ids and mails of the first n users of the tenant with a mail.
func mailUsers(t *testing.T, r *recovery, n int) (ids, mails []string) {
	for _, u := range r.list(t, "/users", false) {
		if m, _ := u["mail"].(string); m != "" && len(ids) < n {
			ids, mails = append(ids, u["id"].(string)), append(mails, m)
		}
	}
	return
}

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

// Alice to the bin, Bob given her mail: the plan summary (plan, apply and console
// headers) counts one restore from the bin, and Bob's early mail as a property.
func TestSummaryCountsAnEarlyMailAsAProperty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 48)
	ids, mails := mailUsers(t, r, 2)
	r.attack(t, "DELETE", "/users/"+ids[0])
	if _, err := r.at.Do(ctx, graphapi.Request{Method: "PATCH", Path: "/users/" + ids[1], Body: mustJSON(map[string]any{"mail": mails[0]})}); err != nil {
		t.Fatal(err)
	}
	plan := r.plan(t)
	restores := 0
	for _, s := range stepsOf(plan, StageRestoreFromBin) {
		if s.Action == ActionRestore {
			restores++
		}
	}
	if plan.Summary.RestoreFromBin != restores {
		t.Errorf("summary says %d to restore from the bin; the plan restores %d", plan.Summary.RestoreFromBin, restores)
	}
}

// Alice is purged (hard-deleted); a user made since holds her mail. With
// --without-removals the recreate fails, and its sentence says a mail address is held,
// not that her userPrincipalName is.
func TestRecreateMailConflictNamesTheAddress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 48)
	ids, mails := mailUsers(t, r, 1)
	alice, mail := ids[0], mails[0]
	r.attack(t, "DELETE", "/users/"+alice)
	r.attack(t, "DELETE", "/directory/deletedItems/"+alice)
	body := map[string]any{"accountEnabled": true, "displayName": "Made by hand", "mailNickname": "byhand", "userPrincipalName": "byhand@" + strings.SplitN(mail, "@", 2)[1],
		"mail": mail, "passwordProfile": map[string]any{"password": "xWwvJ]6NMw+bWH-d", "forceChangePasswordNextSignIn": true}}
	if _, err := r.op.Do(ctx, graphapi.Request{Method: "POST", Path: "/users", Body: mustJSON(body)}); err != nil {
		t.Fatal(err)
	}
	kept := r.planTo(t, r.target, PlanOptions{WithoutRemovals: true})
	rep, err := Apply(ctx, kept, r.options(nil))
	if err != nil || rep.Failed == 0 {
		t.Fatalf("apply: %v %+v", err, rep)
	}
	for _, f := range rep.Failures {
		if strings.Contains(f.Reason, alice) && !strings.Contains(f.Reason, "proxyAddresses") {
			t.Errorf("recreating the purged user whose mail is taken: %s", f.Reason)
		}
	}
}

// A chain: the attacker deletes Alice, gives Bob her mail, and gives Carol Bob's old
// mail. Carol's mail is set back before Bob's, and Bob's before Alice's restore: the
// restore succeeds the first time.
func TestRestoreFreesAChainOfTakenAddresses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 48)
	ids, mails := mailUsers(t, r, 3)
	alice, bob, carol := ids[0], ids[1], ids[2]
	r.attack(t, "DELETE", "/users/"+alice)
	for _, p := range [][2]string{{bob, mails[0]}, {carol, mails[1]}} {
		if _, err := r.at.Do(ctx, graphapi.Request{Method: "PATCH", Path: "/users/" + p[0], Body: mustJSON(map[string]any{"mail": p[1]})}); err != nil {
			t.Fatal(err)
		}
	}
	plan := r.plan(t)
	freeBob := findStep(t, plan, StageRestoreFromBin, ActionRollback, string(entra.KindUser), bob)
	freeCarol := findStep(t, plan, StageRestoreFromBin, ActionRollback, string(entra.KindUser), carol)
	if !slices.Contains(freeBob.DependsOn, freeCarol.ID) {
		t.Errorf("setting %s's mail back does not wait on setting %s's back: %+v", bob, carol, freeBob)
	}
	if rep, err := Apply(ctx, plan, r.options(nil)); err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("apply: %v; %+v", err, rep.Failures)
	}
}
