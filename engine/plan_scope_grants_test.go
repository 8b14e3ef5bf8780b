package engine

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// A plan scoped to application A (its service principal S is a part) leaves a delegated
// grant made since to another client C for A's API (resourceId = S): that consent is
// C's, not A's, and the scoped verify does not count it either.
func TestScopedPlanLeavesOtherClientsGrantsToItsAPI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 30, 5)
	sps := map[string]string{} // appId -> sp id
	var anySP []string
	for _, s := range r.list(t, "/servicePrincipals", false) {
		sps[s["appId"].(string)] = s["id"].(string)
		anySP = append(anySP, s["id"].(string))
	}
	var app, sp string
	for _, a := range r.list(t, "/applications", false) {
		if id, ok := sps[a["appId"].(string)]; ok {
			app, sp = a["id"].(string), id
			break
		}
	}
	var client string
	for _, id := range anySP {
		if id != sp {
			client = id
			break
		}
	}
	if app == "" || client == "" {
		t.Skip("no app with an SP")
	}
	resp, err := r.at.Do(ctx, graphapi.Request{Method: "POST", Path: "/oauth2PermissionGrants", Body: mustJSON(map[string]any{
		"clientId": client, "consentType": "AllPrincipals", "resourceId": sp, "scope": "access_as_user"})})
	if err != nil {
		t.Fatal(err)
	}
	var g struct{ ID string }
	_ = json.Unmarshal(resp.Body, &g)
	scope := []graphx.NodeID{{Kind: entra.KindApplication, ID: app}}
	rep, err := VerifyLive(ctx, r.op, r.target, VerifyOptions{Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	counted := false
	for _, c := range rep.Differences {
		if c.ID == g.ID {
			counted = true
		}
	}
	plan := r.planTo(t, r.target, PlanOptions{Scope: scope})
	for _, s := range stepsOf(plan, StageRemoveAdditions) {
		if s.ObjectID == g.ID {
			t.Errorf("scoped to application %s, the plan deletes grant %s of client %s to its API (scoped verify counts it: %v); settled verdict before: %q", app, g.ID, client, counted, VerifySentence(rep))
		}
	}
}
