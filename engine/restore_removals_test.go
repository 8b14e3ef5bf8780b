package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// --without-removals leaves an added named location in place, and warns of it as of an
// added CA policy: a trusted one over every address exempts every sign-in from the
// policies that exclude trusted locations.
func TestPlanWithoutRemovalsWarnsOfAnAddedLocation(t *testing.T) {
	t.Parallel()
	r := newRecovery(t, 40, 17)
	loc := r.addTrustedLocation(t, "0.0.0.0/1", "128.0.0.0/1")
	plan := r.planTo(t, r.target, PlanOptions{WithoutRemovals: true})
	if !strings.Contains(strings.Join(plan.Warnings, "\n"), loc) {
		t.Errorf("no warning names the added trusted location %s; warnings: %q", loc, plan.Warnings)
	}
}

// An added policy that names an added location: both are deleted in remove-additions,
// the location after the policy (Graph may refuse to delete a location a policy still
// references).
func TestRemovedLocationWaitsOnThePoliciesNamingIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 17)
	loc := r.addTrustedLocation(t, "0.0.0.0/1")
	resp, err := r.at.Do(ctx, graphapi.Request{Method: "POST", Path: "/identity/conditionalAccess/policies", Body: mustJSON(map[string]any{
		"displayName": "evil", "state": "enabled",
		"conditions": map[string]any{"users": map[string]any{"includeUsers": []string{"All"}}, "applications": map[string]any{"includeApplications": []string{"All"}},
			"locations": map[string]any{"includeLocations": []string{loc}}},
		"grantControls": map[string]any{"operator": "OR", "builtInControls": []string{"mfa"}}})})
	if err != nil {
		t.Fatal(err)
	}
	var pol struct{ ID string }
	_ = json.Unmarshal(resp.Body, &pol)
	plan := r.plan(t)
	dl := findStep(t, plan, StageRemoveAdditions, ActionRemoveObject, string(entra.KindNamedLocation), loc)
	dp := findStep(t, plan, StageRemoveAdditions, ActionRemoveObject, string(entra.KindConditionalAccessPolicy), pol.ID)
	if len(dl.DependsOn) == 0 || dl.DependsOn[0] != dp.ID {
		t.Errorf("deleting location %s does not wait on deleting policy %s that references it: location step %+v", loc, pol.ID, dl.DependsOn)
	}
}
