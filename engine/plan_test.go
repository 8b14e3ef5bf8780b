package engine

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

type planObj struct {
	kind  entra.Kind
	id    string
	json  string
	inBin bool
}

func writeState(t *testing.T, name string, objs []planObj, links []snapshots.Link) snapshots.State {
	t.Helper()
	ctx := context.Background()
	s, err := snapshots.Open(ctx, filepath.Join(t.TempDir(), name+".db"), snapshots.OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w, err := s.Begin(ctx, snapshots.SnapshotMeta{TenantID: "tenant-1", TakenAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Label: name})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := w.PutObject(ctx, o.kind, o.id, []byte(o.json), o.inBin); err != nil {
			t.Fatalf("%s %s: %v", o.kind, o.id, err)
		}
	}
	for _, l := range links {
		if err := w.PutLink(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return snapshots.State{Store: s, Snapshot: snap}
}

const (
	alice   = `{"id":"u-alice","displayName":"Alice","userPrincipalName":"alice@contoso.test","accountEnabled":true,"mailNickname":"alice","department":"IT"}`
	bob     = `{"id":"u-bob","displayName":"Bob","userPrincipalName":"bob@contoso.test","accountEnabled":true,"mailNickname":"bob"}`
	carol   = `{"id":"u-carol","displayName":"Carol","userPrincipalName":"carol@contoso.test","accountEnabled":true,"mailNickname":"carol","createdDateTime":"2020-01-01T00:00:00Z"}`
	mallory = `{"id":"u-mallory","displayName":"Mallory","userPrincipalName":"mallory@contoso.test","accountEnabled":true,"mailNickname":"mallory"}`
	admins  = `{"id":"g-admins","displayName":"Admins","description":"Tenant admins","mailEnabled":false,"mailNickname":"admins","securityEnabled":true}`
	sales   = `{"id":"g-sales","displayName":"Sales","mailEnabled":false,"mailNickname":"sales","securityEnabled":true}`
	payroll = `{"id":"a-payroll","appId":"appid-payroll","displayName":"Payroll","appRoles":[{"id":"role-1","value":"Payroll.Read","displayName":"Read","allowedMemberTypes":["User"],"isEnabled":true}],"passwordCredentials":[{"keyId":"k1","hint":"abc","secretText":"SUPERSECRET"}]}`
	payrSP  = `{"id":"sp-payroll","appId":"appid-payroll","displayName":"Payroll","accountEnabled":true}`
	roleA   = `{"id":"ra-1","principalId":"u-carol","roleDefinitionId":"62e90394-69f5-4237-9190-012177145e10","directoryScopeId":"/"}`
	appRA   = `{"id":"ara-1","principalId":"u-carol","resourceId":"sp-payroll","appRoleId":"role-1","principalType":"User"}`
	office  = `{"@odata.type":"#microsoft.graph.ipNamedLocation","id":"nl-office","displayName":"Office","isTrusted":true,"ipRanges":[{"@odata.type":"#microsoft.graph.iPv4CidrRange","cidrAddress":"10.0.0.0/8"}]}`
)

func caPolicy(excludeAdmins bool) string {
	ex := `[]`
	if excludeAdmins {
		ex = `["g-admins"]`
	}
	return `{"id":"ca-1","displayName":"Require MFA for payroll","state":"enabled","conditions":{"users":{"includeGroups":["g-sales"],"excludeGroups":` + ex + `},"applications":{"includeApplications":["appid-payroll"]},"locations":{"includeLocations":["All"],"excludeLocations":["nl-office"]}},"grantControls":{"operator":"OR","builtInControls":["mfa"]}}`
}

func link(kind entra.Kind, from, name string, toKind entra.Kind, to string) snapshots.Link {
	return snapshots.Link{Kind: kind, From: from, Name: name, ToKind: toKind, To: to}
}

// incident builds the known-good state and a live state after an incident: Bob and the
// office location are in their bins, Carol, Payroll (app and SP), her role assignment and
// app role assignment are gone for good, Admins' description was changed, the CA policy
// lost its Admins exclusion, and Mallory was added and put in Admins and Alice in Sales.
func incident(t *testing.T) (target, live snapshots.State) {
	target = writeState(t, "target", []planObj{
		{entra.KindUser, "u-alice", alice, false},
		{entra.KindUser, "u-bob", bob, false},
		{entra.KindUser, "u-carol", carol, false},
		{entra.KindGroup, "g-admins", admins, false},
		{entra.KindGroup, "g-sales", sales, false},
		{entra.KindApplication, "a-payroll", payroll, false},
		{entra.KindServicePrincipal, "sp-payroll", payrSP, false},
		{entra.KindNamedLocation, "nl-office", office, false},
		{entra.KindConditionalAccessPolicy, "ca-1", caPolicy(true), false},
		{entra.KindRoleAssignment, "ra-1", roleA, false},
		{entra.KindAppRoleAssignment, "ara-1", appRA, false},
	}, []snapshots.Link{
		link(entra.KindGroup, "g-admins", "members", entra.KindUser, "u-alice"),
		link(entra.KindGroup, "g-admins", "members", entra.KindUser, "u-bob"),
		link(entra.KindGroup, "g-admins", "owners", entra.KindUser, "u-alice"),
		link(entra.KindGroup, "g-sales", "members", entra.KindUser, "u-carol"),
		link(entra.KindUser, "u-carol", "manager", entra.KindUser, "u-alice"),
		link(entra.KindApplication, "a-payroll", "owners", entra.KindUser, "u-alice"),
	})
	live = writeState(t, "live", []planObj{
		{entra.KindUser, "u-alice", alice, false},
		{entra.KindUser, "u-bob", bob, true},
		{entra.KindUser, "u-mallory", mallory, false},
		{entra.KindGroup, "g-admins", strings.Replace(admins, "Tenant admins", "pwned", 1), false},
		{entra.KindGroup, "g-sales", sales, false},
		{entra.KindNamedLocation, "nl-office", office, true},
		{entra.KindConditionalAccessPolicy, "ca-1", caPolicy(false), false},
	}, []snapshots.Link{
		link(entra.KindGroup, "g-admins", "members", entra.KindUser, "u-alice"),
		link(entra.KindGroup, "g-admins", "members", entra.KindUser, "u-mallory"),
		link(entra.KindGroup, "g-admins", "owners", entra.KindUser, "u-alice"),
		link(entra.KindGroup, "g-sales", "members", entra.KindUser, "u-alice"),
	})
	return target, live
}

var fixedNow = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

func build(t *testing.T, target, live snapshots.State, opts PlanOptions) (*Plan, []byte) {
	t.Helper()
	opts.Now = fixedNow
	plan, err := BuildPlan(context.Background(), target, live, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(plan, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return plan, b
}

func stageNames(p *Plan) []string {
	var out []string
	for _, s := range p.Stages {
		out = append(out, s.Name)
	}
	return out
}

func findStep(t *testing.T, p *Plan, stage, action, kind, id string) Step {
	t.Helper()
	for _, s := range p.Stages {
		if s.Name != stage {
			continue
		}
		for _, st := range s.Steps {
			if st.Action == action && st.Kind == kind && st.ObjectID == id {
				return st
			}
		}
	}
	t.Fatalf("no %s %s step for %s/%s in %s", stage, action, kind, id, stageNames(p))
	return Step{}
}

func stepsOf(p *Plan, stage string) []Step {
	for _, s := range p.Stages {
		if s.Name == stage {
			return s.Steps
		}
	}
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestPlanStagesAndOrder(t *testing.T) {
	target, live := incident(t)
	plan, raw := build(t, target, live, PlanOptions{})
	want := []string{StageRestoreFromBin, StageRecreate, StageRelink, StageRollback, StageRemoveAdditions, StageConditionalAccess, StageVerify}
	if got := strings.Join(stageNames(plan), ","); got != strings.Join(want, ",") {
		t.Fatalf("stages %s, want %s", got, want)
	}
	if plan.Format != PlanFormat || plan.TenantID != "tenant-1" || plan.LiveFingerprint != live.Snapshot.RootHash || plan.LiveFingerprint == "" {
		t.Errorf("header: %+v", plan)
	}

	// Bin: Bob with the directory bin, the office with the beta CA bin.
	bobStep := findStep(t, plan, StageRestoreFromBin, ActionRestore, "user", "u-bob")
	if r := bobStep.Requests[0]; r.Method != "POST" || r.Path != "/directory/deletedItems/u-bob/restore" || r.Beta {
		t.Errorf("bob restore: %+v", r)
	}
	nl := findStep(t, plan, StageRestoreFromBin, ActionRestore, "namedLocation", "nl-office")
	if r := nl.Requests[0]; r.Path != "/identity/conditionalAccess/deletedItems/namedLocations/nl-office/restore" || !r.Beta {
		t.Errorf("named location restore: %+v", r)
	}
	// Bob's membership usually comes back with him: its relink is only if missing.
	for _, s := range stepsOf(plan, StageRelink) {
		if (s.TargetID == "u-bob" || s.ObjectID == "u-bob") && !s.IfMissing {
			t.Errorf("relink of a link the bin restore brings back is not if-missing: %+v", s)
		}
	}

	// Recreate: carol, the app, then its SP (depending on the app), in that order.
	rec := stepsOf(plan, StageRecreate)
	var order []string
	for _, s := range rec {
		order = append(order, s.ObjectID)
	}
	if strings.Join(order, ",") != "u-carol,a-payroll,sp-payroll" {
		t.Errorf("recreate order %v", order)
	}
	carolStep := findStep(t, plan, StageRecreate, ActionRecreate, "user", "u-carol")
	app := findStep(t, plan, StageRecreate, ActionRecreate, "application", "a-payroll")
	sp := findStep(t, plan, StageRecreate, ActionRecreate, "servicePrincipal", "sp-payroll")
	if !contains(sp.DependsOn, app.ID) {
		t.Errorf("SP recreate depends on %v, want the app's %s", sp.DependsOn, app.ID)
	}
	var spBody map[string]any
	json.Unmarshal(sp.Requests[0].Body, &spBody)
	if spBody["appId"] != "{{appId:appid-payroll}}" {
		t.Errorf("SP body appId %v", spBody["appId"])
	}
	var carolBody map[string]any
	json.Unmarshal(carolStep.Requests[0].Body, &carolBody)
	if _, ok := carolBody["id"]; ok {
		t.Error("recreate body carries the read-only id")
	}
	if _, ok := carolBody["createdDateTime"]; ok {
		t.Error("recreate body carries a read-only property")
	}
	pp, _ := carolBody["passwordProfile"].(map[string]any)
	if pp["password"] != GeneratedPassword || pp["forceChangePasswordNextSignIn"] != true {
		t.Errorf("passwordProfile %v", carolBody["passwordProfile"])
	}
	var appBody map[string]any
	json.Unmarshal(app.Requests[0].Body, &appBody)
	roles, _ := appBody["appRoles"].([]any)
	if len(roles) != 1 || roles[0].(map[string]any)["id"] != "role-1" {
		t.Errorf("app roles keep their ids: %v", appBody["appRoles"])
	}

	// Relink: Carol back in Sales and her manager, with placeholders; the role assignment
	// and app role assignment recreated with rewritten ids.
	var member, manager *Step
	for _, s := range stepsOf(plan, StageRelink) {
		s := s
		switch {
		case s.ObjectID == "g-sales" && s.Link == "members" && s.TargetID == "u-carol":
			member = &s
		case s.ObjectID == "u-carol" && s.Link == "manager":
			manager = &s
		}
	}
	if member == nil || manager == nil {
		t.Fatalf("relink steps missing: %s", raw)
	}
	if r := member.Requests[0]; r.Method != "POST" || r.Path != "/groups/g-sales/members/$ref" ||
		!bytes.Contains(r.Body, []byte(`directoryObjects/{{id:u-carol}}`)) || !contains(member.DependsOn, carolStep.ID) {
		t.Errorf("member relink: %+v %s", member, r.Body)
	}
	if r := manager.Requests[0]; r.Method != "PUT" || r.Path != "/users/{{id:u-carol}}/manager/$ref" {
		t.Errorf("manager relink: %+v", r)
	}
	ra := findStep(t, plan, StageRelink, ActionRecreate, "unifiedRoleAssignment", "ra-1")
	if !contains(ra.DependsOn, carolStep.ID) || !bytes.Contains(ra.Requests[0].Body, []byte(`"principalId":"{{id:u-carol}}"`)) {
		t.Errorf("role assignment: %+v %s", ra, ra.Requests[0].Body)
	}
	ara := findStep(t, plan, StageRelink, ActionRecreate, "appRoleAssignment", "ara-1")
	if r := ara.Requests[0]; r.Path != "/servicePrincipals/{{id:sp-payroll}}/appRoleAssignedTo" ||
		!bytes.Contains(r.Body, []byte(`"appRoleId":"role-1"`)) || !contains(ara.DependsOn, sp.ID) || !contains(ara.DependsOn, carolStep.ID) {
		t.Errorf("app role assignment: %+v %s", ara, r.Body)
	}

	// Rollback: Admins' description.
	rb := findStep(t, plan, StageRollback, ActionRollback, "group", "g-admins")
	if string(rb.Requests[0].Body) != `{"description":"Tenant admins"}` || rb.Requests[0].Method != "PATCH" || !contains(rb.Paths, "description") {
		t.Errorf("rollback: %+v %s", rb, rb.Requests[0].Body)
	}

	// Removals: Mallory (and not her membership separately), Alice out of Sales.
	mal := findStep(t, plan, StageRemoveAdditions, ActionRemoveObject, "user", "u-mallory")
	if r := mal.Requests[0]; r.Method != "DELETE" || r.Path != "/users/u-mallory" {
		t.Errorf("remove mallory: %+v", r)
	}
	var removedLinks []string
	for _, s := range stepsOf(plan, StageRemoveAdditions) {
		if s.Action == ActionRemoveLink {
			removedLinks = append(removedLinks, s.ObjectID+"/"+s.Link+"/"+s.TargetID+" "+s.Requests[0].Path)
		}
	}
	if strings.Join(removedLinks, ";") != "g-sales/members/u-alice /groups/g-sales/members/u-alice/$ref" {
		t.Errorf("removed links %v", removedLinks)
	}

	// CA: report-only PATCH with the exclusion back and the appId rewritten, the lockout
	// check after it, enforce after the check.
	ca := findStep(t, plan, StageConditionalAccess, ActionReportOnly, "conditionalAccessPolicy", "ca-1")
	var caBody map[string]any
	json.Unmarshal(ca.Requests[0].Body, &caBody)
	if caBody["state"] != CAReportOnly {
		t.Errorf("CA step not report-only: %s", ca.Requests[0].Body)
	}
	if !bytes.Contains(ca.Requests[0].Body, []byte(`"excludeGroups":["g-admins"]`)) || !bytes.Contains(ca.Requests[0].Body, []byte(`{{appId:appid-payroll}}`)) {
		t.Errorf("CA body: %s", ca.Requests[0].Body)
	}
	if !contains(ca.DependsOn, app.ID) || !contains(ca.DependsOn, nl.ID) {
		t.Errorf("CA step depends on %v", ca.DependsOn)
	}
	lock := findStep(t, plan, StageConditionalAccess, ActionLockoutCheck, "conditionalAccessPolicy", "")
	if !contains(lock.DependsOn, ca.ID) || len(lock.Requests) != 0 {
		t.Errorf("lockout check: %+v", lock)
	}
	enf := findStep(t, plan, StageConditionalAccess, ActionEnforce, "conditionalAccessPolicy", "ca-1")
	if !contains(enf.DependsOn, lock.ID) || string(enf.Requests[0].Body) != `{"state":"enabled"}` {
		t.Errorf("enforce: %+v", enf)
	}
	casteps := stepsOf(plan, StageConditionalAccess)
	if casteps[len(casteps)-1].Action != ActionEnforce || casteps[len(casteps)-2].Action != ActionLockoutCheck {
		t.Errorf("CA stage order: %+v", casteps)
	}

	// Verify depends on everything.
	v := stepsOf(plan, StageVerify)
	total := 0
	for _, s := range plan.Stages[:len(plan.Stages)-1] {
		total += len(s.Steps)
	}
	if len(v) != 1 || v[0].Action != ActionVerify || len(v[0].DependsOn) != total {
		t.Errorf("verify: %+v (want %d deps)", v, total)
	}

	// Every dependency names a step of the plan.
	ids := map[string]bool{}
	for _, s := range plan.Stages {
		for _, st := range s.Steps {
			if ids[st.ID] {
				t.Errorf("duplicate step id %s", st.ID)
			}
			ids[st.ID] = true
		}
	}
	for _, s := range plan.Stages {
		for _, st := range s.Steps {
			for _, d := range st.DependsOn {
				if !ids[d] {
					t.Errorf("%s depends on unknown %s", st.ID, d)
				}
			}
		}
	}

	// Summary and warnings.
	sum := plan.Summary
	if sum.RestoreFromBin != 2 || sum.Recreate != 3 || sum.Links != 5 || sum.Removals != 2 || sum.CAPolicies != 1 || sum.Properties < 1 {
		t.Errorf("summary %+v", sum)
	}
	w := strings.Join(plan.Warnings, "\n")
	if !strings.Contains(w, "generated password") || !strings.Contains(w, "Carol") || !strings.Contains(w, "Payroll") || !strings.Contains(w, "missing from both") {
		t.Errorf("warnings: %s", w)
	}
}

func TestPlanIsDeterministicAndHoldsNoSecrets(t *testing.T) {
	target, live := incident(t)
	_, a := build(t, target, live, PlanOptions{})
	_, b := build(t, target, live, PlanOptions{})
	if !bytes.Equal(a, b) {
		t.Fatal("the same diff gave two different plans")
	}
	for _, s := range []string{"SUPERSECRET", "secretText", "passwordCredentials"} {
		if bytes.Contains(a, []byte(s)) {
			t.Errorf("plan holds %q", s)
		}
	}
	if StepID("a", "b", "user", "x") != StepID("a", "b", "user", "x") || len(StepID("a", "b", "user", "x")) != 12 {
		t.Error("step ids")
	}
}

func TestPlanWithoutRemovals(t *testing.T) {
	target, live := incident(t)
	plan, _ := build(t, target, live, PlanOptions{WithoutRemovals: true})
	if contains(stageNames(plan), StageRemoveAdditions) || !plan.Summary.WithoutRemovals || plan.Summary.Removals != 0 {
		t.Errorf("stages %v summary %+v", stageNames(plan), plan.Summary)
	}
}

func TestPlanScope(t *testing.T) {
	target, live := incident(t)
	plan, raw := build(t, target, live, PlanOptions{Scope: []graphx.NodeID{{Kind: entra.KindAppRoleAssignment, ID: "ara-1"}}})
	var got []string
	for _, s := range plan.Stages {
		for _, st := range s.Steps {
			got = append(got, s.Name+":"+st.Action+":"+st.ObjectID)
		}
	}
	// Carol and Payroll come back because the assignment needs them, and with their own
	// links (her manager, its owner): one level, not the links of what those pull in.
	want := "recreate:recreate:u-carol,recreate:recreate:a-payroll,recreate:recreate:sp-payroll,relink:add-link:u-carol,relink:add-link:a-payroll,relink:recreate:ara-1,verify:verify:"
	if strings.Join(got, ",") != want {
		t.Errorf("scoped plan:\n got %s\nwant %s\n%s", strings.Join(got, ","), want, raw)
	}

	if w := strings.Join(plan.Warnings, "\n"); !strings.Contains(w, "Carol (u-carol)") || strings.Contains(w, "missing from both") {
		t.Errorf("scoped warnings: %s", w)
	}

	plan, _ = build(t, target, live, PlanOptions{Scope: []graphx.NodeID{{Kind: entra.KindConditionalAccessPolicy, ID: "ca-1"}}})
	var ca []string
	for _, st := range stepsOf(plan, StageConditionalAccess) {
		ca = append(ca, st.Action)
	}
	if strings.Join(ca, ",") != "report-only,lockout-check,enforce" {
		t.Errorf("CA scope: %v", stageNames(plan))
	}
	// The group the policy names is recreated with its members, and nothing else relinked.
	recreated := map[string]bool{}
	for _, st := range stepsOf(plan, StageRecreate) {
		recreated[st.ObjectID] = true
	}
	for _, st := range stepsOf(plan, StageRelink) {
		if st.Action != ActionAddLink || !recreated[st.ObjectID] {
			t.Errorf("CA scope relinks what it does not recreate: %+v", st)
		}
	}
	if len(stepsOf(plan, StageRestoreFromBin)) != 1 {
		t.Errorf("CA scope should pull in the named location restore: %+v", stepsOf(plan, StageRestoreFromBin))
	}

	if _, err := BuildPlan(context.Background(), target, live, PlanOptions{Scope: []graphx.NodeID{{Kind: "gizmo", ID: "x"}}}); err == nil || !strings.Contains(err.Error(), "unknown object kind") {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := BuildPlan(context.Background(), target, live, PlanOptions{Scope: []graphx.NodeID{{Kind: entra.KindUser, ID: "nobody"}}}); err == nil || !strings.HasPrefix(err.Error(), "--scope kind=user,id=nobody is neither in snapshot") {
		t.Errorf("a scope naming no object: %v", err)
	}
}

func TestPlanCADeletedPolicies(t *testing.T) {
	target, _ := incident(t)
	live := writeState(t, "live2", []planObj{
		{entra.KindUser, "u-alice", alice, false},
		{entra.KindUser, "u-bob", bob, false},
		{entra.KindUser, "u-carol", carol, false},
		{entra.KindGroup, "g-admins", admins, false},
		{entra.KindApplication, "a-payroll", payroll, false},
		{entra.KindServicePrincipal, "sp-payroll", payrSP, false},
		{entra.KindNamedLocation, "nl-office", office, false},
		{entra.KindConditionalAccessPolicy, "ca-1", caPolicy(true), true},
		{entra.KindRoleAssignment, "ra-1", roleA, false},
		{entra.KindAppRoleAssignment, "ara-1", appRA, false},
	}, []snapshots.Link{
		link(entra.KindGroup, "g-admins", "members", entra.KindUser, "u-alice"),
		link(entra.KindGroup, "g-admins", "members", entra.KindUser, "u-bob"),
		link(entra.KindGroup, "g-admins", "owners", entra.KindUser, "u-alice"),
		link(entra.KindUser, "u-carol", "manager", entra.KindUser, "u-alice"),
		link(entra.KindApplication, "a-payroll", "owners", entra.KindUser, "u-alice"),
	})
	plan, raw := build(t, target, live, PlanOptions{})
	// Sales is gone for good: recreated, and the CA policy in the bin restored report-only.
	sales := findStep(t, plan, StageRecreate, ActionRecreate, "group", "g-sales")
	ca := findStep(t, plan, StageConditionalAccess, ActionRestore, "conditionalAccessPolicy", "ca-1")
	if len(ca.Requests) != 2 || !ca.Requests[0].Beta || ca.Requests[0].Path != "/identity/conditionalAccess/deletedItems/policies/ca-1/restore" ||
		!bytes.Contains(ca.Requests[1].Body, []byte(CAReportOnly)) || !contains(ca.DependsOn, sales.ID) {
		t.Errorf("CA restore: %+v\n%s", ca, raw)
	}

	// Hard-deleted policy: POST report-only with the group rewritten.
	live3 := writeState(t, "live3", []planObj{
		{entra.KindUser, "u-alice", alice, false},
		{entra.KindUser, "u-bob", bob, false},
		{entra.KindUser, "u-carol", carol, false},
		{entra.KindGroup, "g-admins", admins, false},
		{entra.KindApplication, "a-payroll", payroll, false},
		{entra.KindServicePrincipal, "sp-payroll", payrSP, false},
		{entra.KindNamedLocation, "nl-office", office, false},
		{entra.KindRoleAssignment, "ra-1", roleA, false},
		{entra.KindAppRoleAssignment, "ara-1", appRA, false},
	}, nil)
	plan, raw = build(t, target, live3, PlanOptions{})
	ca = findStep(t, plan, StageConditionalAccess, ActionRecreate, "conditionalAccessPolicy", "ca-1")
	r := ca.Requests[0]
	if r.Method != "POST" || r.Path != "/identity/conditionalAccess/policies" || !bytes.Contains(r.Body, []byte(`"state":"`+CAReportOnly+`"`)) ||
		!bytes.Contains(r.Body, []byte(`"includeGroups":["{{id:g-sales}}"]`)) {
		t.Errorf("CA recreate: %s\n%s", r.Body, raw)
	}
	enf := findStep(t, plan, StageConditionalAccess, ActionEnforce, "conditionalAccessPolicy", "ca-1")
	if enf.Requests[0].Path != "/identity/conditionalAccess/policies/{{id:ca-1}}" {
		t.Errorf("enforce path %s", enf.Requests[0].Path)
	}
}

func TestPlanEdgeCases(t *testing.T) {
	// The snapshot already had Bob in the bin (purged since), the CA policy was switched
	// off, Sales (with Carol in it) is gone for good, and a read-only property changed.
	target := writeState(t, "target", []planObj{
		{entra.KindUser, "u-alice", alice, false},
		{entra.KindUser, "u-bob", bob, true},
		{entra.KindUser, "u-carol", carol, false},
		{entra.KindGroup, "g-admins", admins, false},
		{entra.KindGroup, "g-sales", sales, false},
		{entra.KindConditionalAccessPolicy, "ca-1", caPolicy(true), false},
	}, []snapshots.Link{
		link(entra.KindGroup, "g-sales", "members", entra.KindUser, "u-carol"),
		link(entra.KindGroup, "g-sales", "owners", entra.KindUser, "u-alice"),
	})
	live := writeState(t, "live", []planObj{
		{entra.KindUser, "u-alice", alice, false},
		{entra.KindUser, "u-carol", strings.Replace(carol, "2020-01-01", "2021-01-01", 1), false},
		{entra.KindGroup, "g-admins", admins, false},
		{entra.KindConditionalAccessPolicy, "ca-1", strings.Replace(caPolicy(true), `"state":"enabled"`, `"state":"disabled"`, 1), false},
	}, nil)
	plan, raw := build(t, target, live, PlanOptions{})
	for _, s := range plan.Stages {
		for _, st := range s.Steps {
			if st.ObjectID == "u-bob" {
				t.Errorf("an object purged from a bin it was already in is planned: %+v", st)
			}
			if st.ObjectID == "u-carol" && s.Name == StageRollback {
				t.Errorf("read-only property rolled back: %+v", st)
			}
		}
	}
	sales := findStep(t, plan, StageRecreate, ActionRecreate, "group", "g-sales")
	var links []string
	for _, st := range stepsOf(plan, StageRelink) {
		if !contains(st.DependsOn, sales.ID) || !strings.HasPrefix(st.Requests[0].Path, "/groups/{{id:g-sales}}/") {
			t.Errorf("relink of the recreated group: %+v", st)
		}
		links = append(links, st.Link+":"+st.TargetID)
	}
	if strings.Join(links, ",") != "members:u-carol,owners:u-alice" {
		t.Errorf("links %v\n%s", links, raw)
	}
	ca := findStep(t, plan, StageConditionalAccess, ActionReportOnly, "conditionalAccessPolicy", "ca-1")
	if !contains(ca.DependsOn, sales.ID) || !contains(ca.Paths, "state") || !bytes.Contains(ca.Requests[0].Body, []byte(`"includeGroups":["{{id:g-sales}}"]`)) ||
		!bytes.Contains(ca.Requests[0].Body, []byte(CAReportOnly)) {
		t.Errorf("CA report-only: %+v %s", ca, ca.Requests[0].Body)
	}
	enf := findStep(t, plan, StageConditionalAccess, ActionEnforce, "conditionalAccessPolicy", "ca-1")
	if string(enf.Requests[0].Body) != `{"state":"enabled"}` {
		t.Errorf("enforce %s", enf.Requests[0].Body)
	}
	w := strings.Join(plan.Warnings, "\n")
	if !strings.Contains(w, "createdDateTime changed but Graph does not let a restore write it") {
		t.Errorf("warnings: %s", w)
	}
}

// TestPlanDanglingLinkWarnings: a planned object whose link names an object held by
// neither state is warned about; an unplanned one, or a link whose other end is still
// live, is not. The plan's graph leaves links out, so the planner checks them itself.
func TestPlanDanglingLinkWarnings(t *testing.T) {
	target := writeState(t, "target", []planObj{
		{entra.KindUser, "u-alice", alice, false},
		{entra.KindGroup, "g-admins", admins, false},
		{entra.KindGroup, "g-sales", sales, false},
	}, []snapshots.Link{
		link(entra.KindGroup, "g-admins", "members", entra.KindUser, "u-alice"),
		link(entra.KindGroup, "g-admins", "members", entra.KindUser, "u-ghost"),
		link(entra.KindGroup, "g-admins", "owners", entra.KindUser, "u-live"),
		link(entra.KindGroup, "g-sales", "members", entra.KindUser, "u-phantom"),
	})
	live := writeState(t, "live", []planObj{
		{entra.KindUser, "u-alice", alice, false},
		{entra.KindUser, "u-live", bob, false},
		{entra.KindGroup, "g-sales", sales, false},
	}, []snapshots.Link{
		link(entra.KindGroup, "g-sales", "members", entra.KindUser, "u-phantom"),
	})
	plan, _ := build(t, target, live, PlanOptions{})
	findStep(t, plan, StageRecreate, ActionRecreate, "group", "g-admins")
	w := strings.Join(plan.Warnings, "\n")
	if !strings.Contains(w, `group "Admins": member u-ghost points at an object missing from both the snapshot and the live tenant`) {
		t.Errorf("no warning for the recreated group's missing member:\n%s", w)
	}
	if strings.Contains(w, "u-live") || strings.Contains(w, "u-phantom") {
		t.Errorf("warned about a live object or an unplanned group:\n%s", w)
	}
}

func TestPlanRoleDefinitions(t *testing.T) {
	builtIn := `{"id":"rd-builtin","displayName":"Global Reader","isBuiltIn":true,"isEnabled":true,"rolePermissions":[{"allowedResourceActions":["microsoft.directory/allEntities/allProperties/read"]}]}`
	custom := `{"id":"rd-custom","displayName":"Helpdesk Lite","isBuiltIn":false,"isEnabled":true,"templateId":"rd-custom","rolePermissions":[{"allowedResourceActions":["microsoft.directory/users/basic/update"]}]}`
	assign := `{"id":"ra-9","principalId":"u-alice","roleDefinitionId":"rd-custom","directoryScopeId":"/"}`
	target := writeState(t, "target", []planObj{
		{entra.KindUser, "u-alice", alice, false},
		{entra.KindRoleDefinition, "rd-builtin", builtIn, false},
		{entra.KindRoleDefinition, "rd-custom", custom, false},
		{entra.KindRoleAssignment, "ra-9", assign, false},
	}, nil)
	live := writeState(t, "live", []planObj{{entra.KindUser, "u-alice", alice, false}}, nil)
	plan, raw := build(t, target, live, PlanOptions{})
	def := findStep(t, plan, StageRecreate, ActionRecreate, "unifiedRoleDefinition", "rd-custom")
	if len(stepsOf(plan, StageRecreate)) != 1 {
		t.Errorf("a built-in role definition is recreated:\n%s", raw)
	}
	ra := findStep(t, plan, StageRelink, ActionRecreate, "unifiedRoleAssignment", "ra-9")
	if !contains(ra.DependsOn, def.ID) || !bytes.Contains(ra.Requests[0].Body, []byte(`"roleDefinitionId":"{{id:rd-custom}}"`)) {
		t.Errorf("role assignment on a recreated definition: %+v %s", ra, ra.Requests[0].Body)
	}
	if w := strings.Join(plan.Warnings, "\n"); !strings.Contains(w, `built-in role definition "Global Reader"`) {
		t.Errorf("warnings: %s", w)
	}
}

func TestPlanBinRestoresMeetRecreatedObjects(t *testing.T) {
	// Bob was changed then deleted (in the bin); Sales, which he was in, is gone for good;
	// the CA policy lost its exclusion and then went to the CA bin.
	target := writeState(t, "target", []planObj{
		{entra.KindUser, "u-alice", alice, false},
		{entra.KindUser, "u-bob", bob, false},
		{entra.KindGroup, "g-admins", admins, false},
		{entra.KindGroup, "g-sales", sales, false},
		{entra.KindConditionalAccessPolicy, "ca-1", caPolicy(true), false},
	}, []snapshots.Link{
		link(entra.KindGroup, "g-sales", "members", entra.KindUser, "u-bob"),
		link(entra.KindGroup, "g-admins", "members", entra.KindUser, "u-bob"),
	})
	live := writeState(t, "live", []planObj{
		{entra.KindUser, "u-alice", alice, false},
		{entra.KindUser, "u-bob", strings.Replace(bob, `"displayName":"Bob"`, `"displayName":"Bob","jobTitle":"Owned"`, 1), true},
		{entra.KindGroup, "g-admins", admins, false},
		{entra.KindConditionalAccessPolicy, "ca-1", caPolicy(false), true},
	}, nil)
	plan, raw := build(t, target, live, PlanOptions{})
	restore := findStep(t, plan, StageRestoreFromBin, ActionRestore, "user", "u-bob")
	sales := findStep(t, plan, StageRecreate, ActionRecreate, "group", "g-sales")
	var relinks []Step
	for _, st := range stepsOf(plan, StageRelink) {
		if !st.IfMissing {
			relinks = append(relinks, st)
		}
	}
	if len(relinks) != 1 || relinks[0].ObjectID != "g-sales" || relinks[0].TargetID != "u-bob" ||
		!contains(relinks[0].DependsOn, restore.ID) || !contains(relinks[0].DependsOn, sales.ID) {
		t.Errorf("relinks (only the recreated group needs Bob back): %+v\n%s", relinks, raw)
	}
	rb := findStep(t, plan, StageRollback, ActionRollback, "user", "u-bob")
	if string(rb.Requests[0].Body) != `{"jobTitle":null}` || !contains(rb.DependsOn, restore.ID) {
		t.Errorf("rollback after restore: %+v %s", rb, rb.Requests[0].Body)
	}
	ca := findStep(t, plan, StageConditionalAccess, ActionRestore, "conditionalAccessPolicy", "ca-1")
	if len(ca.Requests) != 2 || !bytes.Contains(ca.Requests[1].Body, []byte(`"excludeGroups":["g-admins"]`)) ||
		!bytes.Contains(ca.Requests[1].Body, []byte(`"includeGroups":["{{id:g-sales}}"]`)) || !bytes.Contains(ca.Requests[1].Body, []byte(CAReportOnly)) {
		t.Errorf("CA restore patch: %s", ca.Requests[1].Body)
	}
}

func TestPlanRestoredPolicyGetsNewIDs(t *testing.T) {
	target := writeState(t, "target", []planObj{
		{entra.KindGroup, "g-admins", admins, false},
		{entra.KindGroup, "g-sales", sales, false},
		{entra.KindConditionalAccessPolicy, "ca-1", caPolicy(true), false},
	}, nil)
	live := writeState(t, "live", []planObj{
		{entra.KindGroup, "g-admins", admins, false},
		{entra.KindConditionalAccessPolicy, "ca-1", caPolicy(true), true},
	}, nil)
	plan, _ := build(t, target, live, PlanOptions{})
	ca := findStep(t, plan, StageConditionalAccess, ActionRestore, "conditionalAccessPolicy", "ca-1")
	if !bytes.Contains(ca.Requests[1].Body, []byte(`"includeGroups":["{{id:g-sales}}"]`)) || !contains(ca.Paths, "conditions") {
		t.Errorf("restored policy keeps the old id of a recreated group: %s", ca.Requests[1].Body)
	}
}

func TestPlanLeavesDynamicMembershipAlone(t *testing.T) {
	dyn := `{"id":"g-dyn","displayName":"All IT","groupTypes":["DynamicMembership"],"membershipRule":"user.department -eq \"IT\"","membershipRuleProcessingState":"On","mailEnabled":false,"mailNickname":"allit","securityEnabled":true}`
	target := writeState(t, "target", []planObj{
		{entra.KindUser, "u-alice", alice, false},
		{entra.KindUser, "u-carol", carol, false},
		{entra.KindGroup, "g-dyn", dyn, false},
	}, []snapshots.Link{link(entra.KindGroup, "g-dyn", "members", entra.KindUser, "u-carol")})
	live := writeState(t, "live", []planObj{
		{entra.KindUser, "u-alice", alice, false},
		{entra.KindGroup, "g-dyn", dyn, false},
	}, []snapshots.Link{link(entra.KindGroup, "g-dyn", "members", entra.KindUser, "u-alice")})
	plan, raw := build(t, target, live, PlanOptions{})
	if len(stepsOf(plan, StageRelink)) != 0 || len(stepsOf(plan, StageRemoveAdditions)) != 0 {
		t.Errorf("dynamic group members planned:\n%s", raw)
	}
}

func TestPlanGrantScopeRollsBackAssignmentsDoNot(t *testing.T) {
	grant := `{"id":"gr-1","clientId":"sp-payroll","resourceId":"sp-payroll","consentType":"AllPrincipals","scope":"User.Read"}`
	target := writeState(t, "target", []planObj{
		{entra.KindUser, "u-carol", carol, false},
		{entra.KindServicePrincipal, "sp-payroll", payrSP, false},
		{entra.KindOAuth2PermissionGrant, "gr-1", grant, false},
		{entra.KindAppRoleAssignment, "ara-1", appRA, false},
	}, nil)
	live := writeState(t, "live", []planObj{
		{entra.KindUser, "u-carol", carol, false},
		{entra.KindServicePrincipal, "sp-payroll", payrSP, false},
		{entra.KindOAuth2PermissionGrant, "gr-1", strings.Replace(grant, "User.Read", "User.Read Directory.ReadWrite.All", 1), false},
		{entra.KindAppRoleAssignment, "ara-1", strings.Replace(appRA, "role-1", "role-2", 1), false},
	}, nil)
	plan, raw := build(t, target, live, PlanOptions{})
	gr := findStep(t, plan, StageRollback, ActionRollback, "oAuth2PermissionGrant", "gr-1")
	if string(gr.Requests[0].Body) != `{"scope":"User.Read"}` || gr.Requests[0].Path != "/oauth2PermissionGrants/gr-1" {
		t.Errorf("grant rollback: %+v %s", gr, gr.Requests[0].Body)
	}
	if len(stepsOf(plan, StageRollback)) != 1 || !strings.Contains(strings.Join(plan.Warnings, "\n"), "cannot be updated in place") {
		t.Errorf("app role assignment change:\n%s", raw)
	}
}

func TestPlanBreaksRecreateCycles(t *testing.T) {
	// Two purged apps name each other: the CLI is the API's known client, the API is
	// a resource the CLI requires. Neither create may wait for the other.
	api := `{"id":"a-api","appId":"appid-api","displayName":"API","api":{"knownClientApplications":["appid-cli"]}}`
	cli := `{"id":"a-cli","appId":"appid-cli","displayName":"CLI","requiredResourceAccess":[{"resourceAppId":"appid-api","resourceAccess":[]}]}`
	target := writeState(t, "target", []planObj{{entra.KindUser, "u-alice", alice, false},
		{entra.KindApplication, "a-api", api, false}, {entra.KindApplication, "a-cli", cli, false}}, nil)
	// Alice's department changed too: her rollback comes after the deferred reference,
	// which the rollback stage holds first.
	moved := strings.Replace(alice, `"department":"IT"`, `"department":"Sales"`, 1)
	live := writeState(t, "live", []planObj{{entra.KindUser, "u-alice", moved, false}}, nil)
	plan, raw := build(t, target, live, PlanOptions{})
	rec := stepsOf(plan, StageRecreate)
	if len(rec) != 2 {
		t.Fatalf("recreate steps: %s", raw)
	}
	first, second := rec[0], rec[1]
	if len(first.DependsOn) != 0 || !contains(second.DependsOn, first.ID) {
		t.Errorf("the first create must wait on nothing, the second on the first: %+v %+v", first.DependsOn, second.DependsOn)
	}
	var patch *Step
	rollback := stepsOf(plan, StageRollback)
	for _, s := range rollback {
		if s.ObjectID == first.ObjectID {
			patch = &s
		}
	}
	if len(rollback) != 2 || rollback[0].ObjectID != first.ObjectID || rollback[1].ObjectID != "u-alice" {
		t.Fatalf("the rollback stage must hold the deferred reference, then Alice's rollback:\n%s", raw)
	}
	if patch == nil || !contains(patch.DependsOn, first.ID) || !contains(patch.DependsOn, second.ID) ||
		!bytes.Contains(patch.Requests[0].Body, []byte("{{appId:")) || !strings.HasPrefix(patch.Requests[0].Path, "/applications/{{id:") {
		t.Fatalf("the reference that closes the cycle is set afterwards: %+v\n%s", patch, raw)
	}
	if bytes.Contains(first.Requests[0].Body, []byte("{{appId:")) {
		t.Errorf("the first create still names the second: %s", first.Requests[0].Body)
	}
	if !strings.Contains(strings.Join(plan.Warnings, "\n"), "cycle") {
		t.Errorf("warnings: %v", plan.Warnings)
	}
}

// TestSortLinks: links sorted by holder run and within each run are in the order one
// sort of every link by the whole key gives, for links grouped by holder as a state
// gives them and for links that are not.
func TestSortLinks(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	kinds := []entra.Kind{entra.KindUser, entra.KindGroup, entra.KindServicePrincipal, entra.KindApplication}
	name := func(n graphx.NodeID) string { return "name-" + n.ID[:1] } // holders share names
	for round := range 200 {
		var ls []snapshots.Link
		seen := map[snapshots.Link]bool{}
		for range rng.IntN(60) {
			l := snapshots.Link{Kind: kinds[rng.IntN(2)], From: fmt.Sprint(rng.IntN(6), "-h"), Name: []string{"members", "owners"}[rng.IntN(2)],
				ToKind: kinds[rng.IntN(len(kinds))], To: fmt.Sprint(rng.IntN(9))}
			if !seen[l] {
				seen[l] = true
				ls = append(ls, l)
			}
		}
		if round%2 == 0 { // grouped by holder, as a state gives them
			slices.SortFunc(ls, snapshots.CompareLinks)
		}
		want := slices.Clone(ls)
		key := func(l snapshots.Link) string {
			return fmt.Sprintf("%02d|%s|%s|%s|%02d|%s", kindRank[l.Kind], name(graphx.NodeID{Kind: l.Kind, ID: l.From}), l.From, l.Name, kindRank[l.ToKind], l.To)
		}
		slices.SortFunc(want, func(a, b snapshots.Link) int { return strings.Compare(key(a), key(b)) })
		names := sortLinks(ls, name)
		if !slices.Equal(ls, want) {
			t.Fatalf("round %d:\n got %v\nwant %v", round, ls, want)
		}
		for _, l := range ls {
			if n := (graphx.NodeID{Kind: l.Kind, ID: l.From}); names[n] != name(n) {
				t.Fatalf("round %d: name of %v is %q", round, n, names[n])
			}
		}
	}
}

// TestPlanLargeIncidentIsDeterministic builds the plan of a generated incident large
// enough that every parallel part of the planner splits its work (thousands of
// changes, tens of thousands of links) twice, and checks that the two plans are the
// same bytes and hold each stage the incident needs. CI also runs it under the race
// detector.
func TestPlanLargeIncidentIsDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("generates an 8,000-user incident")
	}
	target, live, changed := benchIncident(t, 8000)
	var plans [2][]byte
	for i := range plans {
		plan, err := BuildPlan(context.Background(), target, live, PlanOptions{Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		if plans[i], err = json.Marshal(plan); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// The plan file's writer gives the encoder's bytes, its steps encoded in
			// parallel chunks (tens of thousands of steps: several chunks).
			requireEncoderBytes(t, plan)
			s := plan.Summary
			if changed < 5000 || s.RestoreFromBin == 0 || s.Recreate == 0 || s.Links < 5000 || s.Properties == 0 || s.Removals == 0 {
				t.Fatalf("%d changed objects planned as %+v", changed, s)
			}
		}
	}
	if !bytes.Equal(plans[0], plans[1]) {
		t.Fatal("two plans of the same incident differ")
	}
}

// capturedFile captures d's tenant into a new snapshot file, closed, for a test to
// damage.
func capturedFile(t *testing.T, d *drillTenant) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tenant.db")
	store, err := snapshots.Open(ctx, path, snapshots.OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := snapshots.Capture(ctx, d.op, store, snapshots.CaptureOptions{}); err != nil {
		t.Fatal(err)
	}
	return path
}

// planFromFile builds the plan from the newest snapshot in path back to d's live
// tenant, and returns BuildPlan's error.
func planFromFile(t *testing.T, d *drillTenant, path string) error {
	t.Helper()
	ctx := context.Background()
	store, err := snapshots.Open(ctx, path, snapshots.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	snap, err := store.Resolve(ctx, "latest")
	if err != nil {
		t.Fatal(err)
	}
	live, cleanup, err := CaptureLive(ctx, d.op, snap.TenantID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	_, err = BuildPlan(ctx, snapshots.State{Store: store, Snapshot: snap}, live, PlanOptions{})
	return err
}

// TestPlanRefusesAlteredSnapshotLinks swaps two groups' member sets inside the file, as
// someone adding themselves to an administrators' group in a backup would: the object
// hashes still match, but the root hash does not, and relink would otherwise put the
// other group's members into the tenant.
func TestPlanRefusesAlteredSnapshotLinks(t *testing.T) {
	t.Parallel()
	d := newDrillTenant(t, 40, 2)
	path := capturedFile(t, d)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query("SELECT from_id, targets FROM links WHERE kind = 'group' AND name = 'members' ORDER BY from_id")
	if err != nil {
		t.Fatal(err)
	}
	var into, from string
	var first []byte
	for rows.Next() && from == "" {
		var id string
		var targets []byte
		if err := rows.Scan(&id, &targets); err != nil {
			t.Fatal(err)
		}
		switch {
		case into == "":
			into, first = id, targets
		case !bytes.Equal(targets, first):
			from = id
		}
	}
	rows.Close()
	if from == "" {
		t.Fatal("no two groups with different members")
	}
	if _, err := db.Exec(`UPDATE links SET targets = (SELECT targets FROM links WHERE kind = 'group' AND from_id = ? AND name = 'members')
		WHERE kind = 'group' AND from_id = ? AND name = 'members'`, from, into); err != nil {
		t.Fatal(err)
	}
	db.Close()
	err = planFromFile(t, d, path)
	if err == nil || !strings.Contains(err.Error(), "is damaged") || !strings.Contains(err.Error(), "root hash") {
		t.Fatalf("a plan from altered links: %v", err)
	}
}

// A snapshot object edited in the file after it was stored no longer matches its hash:
// a plan that would send it refuses to be built, naming it, rather than restore what
// someone wrote into the file.
func TestPlanRefusesDamagedSnapshotContent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newDrillTenant(t, 40, 2)
	path := capturedFile(t, d)
	// A user's name, as its local part is stored (packed, but new text stays literal).
	users := d.list(t, "/users", false)
	user := users[len(users)/2]
	upn := user["userPrincipalName"].(string)
	local := []byte(upn[:strings.IndexByte(upn, '@')])
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(raw, local) == 0 {
		t.Fatalf("%s is not in the file as text", local)
	}
	raw = bytes.ReplaceAll(raw, local, bytes.ToUpper(local))
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	id := user["id"].(string)
	if _, err := d.at.Do(ctx, graphapi.Request{Method: "PATCH", Path: "/users/" + id, Body: json.RawMessage(`{"jobTitle":"Tampered"}`)}); err != nil {
		t.Fatal(err)
	}
	err = planFromFile(t, d, path)
	if err == nil || !strings.Contains(err.Error(), "is damaged") || !strings.Contains(err.Error(), "user "+id) {
		t.Fatalf("a plan from damaged content: %v", err)
	}
}

// A changed manager is put back by the relink stage's PUT, which replaces the one the
// incident set: deleting that one as an addition afterwards would leave no manager.
func TestPlanReplacesAChangedManagerWithoutRemovingIt(t *testing.T) {
	t.Parallel()
	users := []planObj{{entra.KindUser, "u-alice", alice, false}, {entra.KindUser, "u-bob", bob, false}, {entra.KindUser, "u-carol", carol, false}}
	target := writeState(t, "target", users, []snapshots.Link{link(entra.KindUser, "u-carol", "manager", entra.KindUser, "u-alice")})
	live := writeState(t, "live", users, []snapshots.Link{link(entra.KindUser, "u-carol", "manager", entra.KindUser, "u-bob")})
	plan, raw := build(t, target, live, PlanOptions{})
	put := findStep(t, plan, StageRelink, ActionAddLink, "user", "u-carol")
	if put.Requests[0].Method != "PUT" || put.TargetID != "u-alice" {
		t.Fatalf("the manager is not put back: %+v", put)
	}
	for _, s := range stepsOf(plan, StageRemoveAdditions) {
		if s.Action == ActionRemoveLink && s.Link == "manager" {
			t.Fatalf("the plan deletes the manager it puts back:\n%s", raw)
		}
	}
	// With no manager in the snapshot, the one the incident set is removed.
	plan, raw = build(t, writeState(t, "target2", users, nil), live, PlanOptions{})
	if rm := stepsOf(plan, StageRemoveAdditions); len(rm) != 1 || rm[0].Link != "manager" {
		t.Fatalf("an added manager is not removed:\n%s", raw)
	}
}
