package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// The look-alike read before a create escapes names with quotes, ampersands, plus
// signs, percent signs, unicode and backslashes: a group of such a name made since is
// found and journaled.
func TestLookAlikeReadsEscapeNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"O'Brien & R+D", "Ünïcode grüße", "100% #1 ?x=y", `back\slash "q"`} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			r := newRecovery(t, 30, 9)
			var g map[string]any
			for _, x := range r.list(t, "/groups", false) {
				if x["groupTypes"] == nil || len(x["groupTypes"].([]any)) == 0 {
					g = x
					break
				}
			}
			id, nick := g["id"].(string), g["mailNickname"].(string)
			if _, err := r.op.Do(ctx, graphapi.Request{Method: "PATCH", Path: "/groups/" + id, Body: mustJSON(map[string]any{"displayName": name})}); err != nil {
				t.Fatal(err)
			}
			rep, err := snapshots.Capture(ctx, r.op, r.store, snapshots.CaptureOptions{Label: "named"})
			if err != nil {
				t.Fatal(err)
			}
			r.target = snapshots.State{Store: r.store, Snapshot: rep.Snapshot}
			r.attack(t, "DELETE", "/groups/"+id)
			r.attack(t, "DELETE", "/directory/deletedItems/"+id)
			resp, err := r.at.Do(ctx, graphapi.Request{Method: "POST", Path: "/groups", Body: mustJSON(map[string]any{"displayName": name, "mailNickname": nick, "mailEnabled": false, "securityEnabled": true})})
			if err != nil {
				t.Fatal(err)
			}
			var evil struct{ ID string }
			_ = json.Unmarshal(resp.Body, &evil)
			plan := r.plan(t)
			create := findStep(t, plan, StageRecreate, ActionRecreate, string(entra.KindGroup), id)
			if _, err := Apply(ctx, plan, r.options(nil)); err != nil {
				t.Fatal(err)
			}
			recs, _ := r.store.StepRecords(ctx, PlanHash(plan))
			var res stepResult
			_ = json.Unmarshal(recs[create.ID].Result, &res)
			if !res.LookedUp || len(res.Preexisting) != 1 || res.Preexisting[0] != evil.ID {
				t.Errorf("%q: state %s result %s; look-alike %s", name, recs[create.ID].State, recs[create.ID].Result, evil.ID)
			}
			// The step says the name was taken, as the README promises.
			if !strings.Contains(res.Note, "made anew; live already with its name: group "+evil.ID) {
				t.Errorf("%q: the step's note does not name the look-alike %s: %q", name, evil.ID, res.Note)
			}
		})
	}
}
