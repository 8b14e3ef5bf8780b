package engine

import (
	"context"
	"testing"

	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

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
