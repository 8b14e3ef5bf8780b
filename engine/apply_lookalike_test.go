package engine

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// TestResumeNeverAdoptsALookAlikeMadeBefore, but the step was journaled 'sent' by an
// older lifeline (its result has no looked_up/preexisting): an operator who upgrades
// mid-incident and resumes. The one match may be the attacker's look-alike, so the
// resume leaves it to a person instead of adopting it.
func TestResumeFromAnOlderJournalLeavesALookAlikeToAPerson(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 9)
	apps := r.list(t, "/applications", false)
	app, name := apps[0]["id"].(string), apps[0]["displayName"].(string)
	r.attack(t, "DELETE", "/applications/"+app)
	r.attack(t, "DELETE", "/directory/deletedItems/"+app)
	resp, err := r.at.Do(ctx, graphapi.Request{Method: "POST", Path: "/applications", Body: mustJSON(map[string]any{"displayName": name})})
	if err != nil {
		t.Fatal(err)
	}
	var evil struct{ ID string }
	_ = json.Unmarshal(resp.Body, &evil)
	plan := r.plan(t)
	create := findStep(t, plan, StageRecreate, ActionRecreate, string(entra.KindApplication), app)
	crash := r.options(nil)
	crash.failpoint = func(p string) error {
		if p != "before-send" {
			return nil
		}
		recs, err := r.store.StepRecords(ctx, PlanHash(plan))
		if err != nil {
			return err
		}
		rec := recs[create.ID]
		if rec.State != snapshots.StepSent {
			return nil
		}
		var res map[string]any
		_ = json.Unmarshal(rec.Result, &res)
		t.Logf("journaled result as written: %s", rec.Result)
		delete(res, "looked_up")
		delete(res, "preexisting")
		rec.Result = mustJSON(res)
		if err := r.store.Journal(ctx, PlanHash(plan), r.target.Snapshot.TenantID, []snapshots.StepRecord{rec}, nil); err != nil {
			return err
		}
		return errCrash
	}
	if _, err := Apply(ctx, plan, crash); !errors.Is(err, errCrash) {
		t.Fatalf("first apply: %v", err)
	}
	rep, err := Apply(ctx, plan, r.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	ledger, _ := LoadLedger(ctx, r.store, r.target.Snapshot.TenantID)
	if now := ledger.IDs[app]; now == evil.ID {
		t.Errorf("resumed from an older journal: the purged application %s was recorded as the attacker's look-alike %s (reconciled=%d)", app, evil.ID, rep.Reconciled)
	}
}
