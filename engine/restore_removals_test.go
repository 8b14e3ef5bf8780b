package engine

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
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

// --without-removals leaves an added named location in place, and warns of it as of an
// added CA policy: a trusted one over every address exempts every sign-in from the
// policies that exclude trusted locations.
func TestPlanWithoutRemovalsWarnsOfAnAddedLocation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 17)
	resp, err := r.at.Do(ctx, graphapi.Request{Method: "POST", Path: "/identity/conditionalAccess/namedLocations", Body: json.RawMessage(`{
		"@odata.type":"#microsoft.graph.ipNamedLocation","displayName":"Branch VPN","isTrusted":true,
		"ipRanges":[{"@odata.type":"#microsoft.graph.iPv4CidrRange","cidrAddress":"0.0.0.0/1"},{"@odata.type":"#microsoft.graph.iPv4CidrRange","cidrAddress":"128.0.0.0/1"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	var loc struct{ ID string }
	_ = json.Unmarshal(resp.Body, &loc)
	plan := r.planTo(t, r.target, PlanOptions{WithoutRemovals: true})
	if !strings.Contains(strings.Join(plan.Warnings, "\n"), loc.ID) {
		t.Errorf("no warning names the added trusted location %s; warnings: %q", loc.ID, plan.Warnings)
	}
}

// An added policy that names an added location: both are deleted in remove-additions,
// the location after the policy (Graph may refuse to delete a location a policy still
// references).
func TestRemovedLocationWaitsOnThePoliciesNamingIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 17)
	resp, err := r.at.Do(ctx, graphapi.Request{Method: "POST", Path: "/identity/conditionalAccess/namedLocations", Body: json.RawMessage(`{
		"@odata.type":"#microsoft.graph.ipNamedLocation","displayName":"Branch VPN","isTrusted":true,
		"ipRanges":[{"@odata.type":"#microsoft.graph.iPv4CidrRange","cidrAddress":"0.0.0.0/1"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	var loc struct{ ID string }
	_ = json.Unmarshal(resp.Body, &loc)
	resp, err = r.at.Do(ctx, graphapi.Request{Method: "POST", Path: "/identity/conditionalAccess/policies", Body: mustJSON(map[string]any{
		"displayName": "evil", "state": "enabled",
		"conditions": map[string]any{"users": map[string]any{"includeUsers": []string{"All"}}, "applications": map[string]any{"includeApplications": []string{"All"}},
			"locations": map[string]any{"includeLocations": []string{loc.ID}}},
		"grantControls": map[string]any{"operator": "OR", "builtInControls": []string{"mfa"}}})})
	if err != nil {
		t.Fatal(err)
	}
	var pol struct{ ID string }
	_ = json.Unmarshal(resp.Body, &pol)
	plan := r.plan(t)
	dl := findStep(t, plan, StageRemoveAdditions, ActionRemoveObject, string(entra.KindNamedLocation), loc.ID)
	dp := findStep(t, plan, StageRemoveAdditions, ActionRemoveObject, string(entra.KindConditionalAccessPolicy), pol.ID)
	if len(dl.DependsOn) == 0 || dl.DependsOn[0] != dp.ID {
		t.Errorf("deleting location %s does not wait on deleting policy %s that references it: location step %+v", loc.ID, pol.ID, dl.DependsOn)
	}
}

var _ = graphx.NodeID{}

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
