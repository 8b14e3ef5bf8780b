package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
)

const (
	vAlice   = `{"id":"u-alice","displayName":"Alice","userPrincipalName":"alice@contoso.test","accountEnabled":true,"mailNickname":"alice","securityIdentifier":"S-1-5-21-10"}`
	vCarol   = `{"id":"u-carol","displayName":"Carol","userPrincipalName":"carol@contoso.test","accountEnabled":true,"mailNickname":"carol","department":"Finance","createdDateTime":"2020-01-01T00:00:00Z","securityIdentifier":"S-1-5-21-11"}`
	vAdmins  = `{"id":"g-admins","displayName":"Admins","description":"Tenant admins","mailEnabled":false,"mailNickname":"admins","securityEnabled":true,"createdDateTime":"2020-01-01T00:00:00Z"}`
	vPayroll = `{"id":"a-payroll","appId":"appid-payroll","displayName":"Payroll","passwordCredentials":[{"keyId":"k1","hint":"abc"}]}`
	vPayrSP  = `{"id":"sp-payroll","appId":"appid-payroll","displayName":"Payroll","accountEnabled":true}`
	vCA      = `{"id":"ca-1","displayName":"Require MFA for payroll","state":"enabled","conditions":{"users":{"includeUsers":["All"],"excludeGroups":["g-admins"]},"applications":{"includeApplications":["appid-payroll"]}},"grantControls":{"operator":"OR","builtInControls":["mfa"]}}`
	vRole    = `{"id":"ra-1","principalId":"u-carol","roleDefinitionId":"62e90394-69f5-4237-9190-012177145e10","directoryScopeId":"/"}`
)

// verifyTarget is the known-good snapshot: Carol holds a role, is in Admins and owns
// Payroll; the CA policy leaves Admins out and targets Payroll by appId.
func verifyTarget(t *testing.T) snapshots.State {
	return writeState(t, "target", []planObj{
		{entra.KindUser, "u-alice", vAlice, false},
		{entra.KindUser, "u-carol", vCarol, false},
		{entra.KindGroup, "g-admins", vAdmins, false},
		{entra.KindApplication, "a-payroll", vPayroll, false},
		{entra.KindServicePrincipal, "sp-payroll", vPayrSP, false},
		{entra.KindConditionalAccessPolicy, "ca-1", vCA, false},
		{entra.KindRoleAssignment, "ra-1", vRole, false},
	}, verifyLinks(strings.NewReplacer()))
}

func verifyLinks(r *strings.Replacer) []snapshots.Link {
	ls := []snapshots.Link{
		member("g-admins", entra.KindUser, "u-carol"),
		member("g-admins", entra.KindUser, "u-alice"),
		{Kind: entra.KindGroup, From: "g-admins", Name: "owners", ToKind: entra.KindUser, To: "u-alice"},
		{Kind: entra.KindUser, From: "u-carol", Name: "manager", ToKind: entra.KindUser, To: "u-alice"},
		{Kind: entra.KindApplication, From: "a-payroll", Name: "owners", ToKind: entra.KindUser, To: "u-carol"},
	}
	for i := range ls {
		ls[i].From, ls[i].To = r.Replace(ls[i].From), r.Replace(ls[i].To)
	}
	return ls
}

// recreatedIDs is what a restore of Carol, Admins, Payroll and the role assignment did.
var recreatedIDs = strings.NewReplacer("u-carol", "u-carol-2", "g-admins", "g-admins-2", "a-payroll", "a-payroll-2",
	"sp-payroll", "sp-payroll-2", "appid-payroll", "appid-payroll-2", "ra-1", "ra-2")

func verifyLedger() graphx.Ledger {
	l := graphx.NewLedger()
	for old, now := range map[string]string{"u-carol": "u-carol-2", "g-admins": "g-admins-2", "a-payroll": "a-payroll-2", "sp-payroll": "sp-payroll-2", "ra-1": "ra-2"} {
		l.IDs[old] = now
	}
	l.AppIDs["appid-payroll"] = "appid-payroll-2"
	return l
}

// recreatedLive is the tenant after a faithful restore: the recreated objects have new
// ids and new creation data, everything that named them names the new ids, and the
// recreated application has no secret. edit changes the objects' JSON further; links
// replaces the links when not nil.
func recreatedLive(t *testing.T, edit func(kind entra.Kind, json string) string, extra []planObj, links []snapshots.Link) snapshots.State {
	fresh := strings.NewReplacer(`"createdDateTime":"2020-01-01T00:00:00Z"`, `"createdDateTime":"2026-11-22T04:00:00Z"`,
		`"S-1-5-21-11"`, `"S-1-5-21-99"`, `,"passwordCredentials":[{"keyId":"k1","hint":"abc"}]`, ``)
	objs := []planObj{
		{entra.KindUser, "u-alice", vAlice, false},
		{entra.KindUser, "u-carol-2", fresh.Replace(recreatedIDs.Replace(vCarol)), false},
		{entra.KindGroup, "g-admins-2", fresh.Replace(recreatedIDs.Replace(vAdmins)), false},
		{entra.KindApplication, "a-payroll-2", fresh.Replace(recreatedIDs.Replace(vPayroll)), false},
		{entra.KindServicePrincipal, "sp-payroll-2", recreatedIDs.Replace(vPayrSP), false},
		{entra.KindConditionalAccessPolicy, "ca-1", recreatedIDs.Replace(vCA), false},
		{entra.KindRoleAssignment, "ra-2", recreatedIDs.Replace(vRole), false},
	}
	objs = append(objs, extra...)
	for i := range objs {
		if edit != nil {
			objs[i].json = edit(objs[i].kind, objs[i].json)
		}
	}
	if links == nil {
		links = verifyLinks(recreatedIDs)
	}
	return writeState(t, "live", objs, links)
}

func whats(us []Unrestorable) []string {
	var out []string
	for _, u := range us {
		s := fmt.Sprintf("%s %s: %s", u.Kind, u.ID, u.What)
		if u.NewID != "" {
			s += " (now " + u.NewID + ")"
		}
		out = append(out, s)
	}
	return out
}

func changeLines(cs []snapshots.Change) []string {
	var out []string
	for _, c := range cs {
		line := fmt.Sprintf("%s %s %s", c.Kind, c.ID, c.Change)
		for _, p := range c.Properties {
			line += fmt.Sprintf(" %s:%v->%v", p.Path, p.Before, p.After)
		}
		for _, l := range c.Links {
			line += fmt.Sprintf(" %s %s %s", l.Relation, l.Change, l.TargetID)
		}
		out = append(out, line)
	}
	return out
}

func TestVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	faithful := []string{
		"application a-payroll: client secrets and certificates (now a-payroll-2)",
		"user u-carol: password (a generated one was issued) (now u-carol-2)",
		"user u-carol: read-only property securityIdentifier (now u-carol-2)",
	}
	withoutLinks := func(drop func(snapshots.Link) bool) []snapshots.Link {
		var out []snapshots.Link
		for _, l := range verifyLinks(recreatedIDs) {
			if !drop(l) {
				out = append(out, l)
			}
		}
		return out
	}
	cases := []struct {
		name         string
		live         func(t *testing.T) snapshots.State
		ledger       graphx.Ledger
		scope        []graphx.NodeID
		differences  []string
		unrestorable []string
	}{
		{name: "faithful recreate with new ids", ledger: verifyLedger(),
			live:         func(t *testing.T) snapshots.State { return recreatedLive(t, nil, nil, nil) },
			unrestorable: faithful},
		{name: "faithful recreate, mapped in the live scratch store", ledger: verifyLedger(),
			live: func(t *testing.T) snapshots.State {
				s := recreatedLive(t, nil, nil, nil)
				s.Live = true
				return s
			},
			unrestorable: faithful},
		{name: "a real difference on a recreated object is reported with its old id", ledger: verifyLedger(),
			live: func(t *testing.T) snapshots.State {
				return recreatedLive(t, func(k entra.Kind, j string) string {
					return strings.Replace(j, `"department":"Finance"`, `"department":"Sales"`, 1)
				}, nil, nil)
			},
			differences:  []string{"user u-carol modified department:Finance->Sales"},
			unrestorable: faithful},
		{name: "a CA policy still naming the deleted group differs", ledger: verifyLedger(),
			live: func(t *testing.T) snapshots.State {
				return recreatedLive(t, func(k entra.Kind, j string) string {
					if k != entra.KindConditionalAccessPolicy {
						return j
					}
					return strings.Replace(j, "g-admins-2", "g-admins", 1)
				}, nil, nil)
			},
			differences: []string{"conditionalAccessPolicy ca-1 modified conditions.users.excludeGroups[]:g-admins-><nil>" +
				" conditions.users.excludeGroups[]:<nil>->g-admins (deleted; the recreated object is g-admins-2)"},
			unrestorable: faithful},
		{name: "without the ledger nothing recreated matches", ledger: graphx.NewLedger(),
			live: func(t *testing.T) snapshots.State { return recreatedLive(t, nil, nil, nil) },
			differences: []string{
				"application a-payroll hard_deleted owner removed u-carol",
				"application a-payroll-2 added owner added u-carol-2",
				"conditionalAccessPolicy ca-1 modified conditions.applications.includeApplications[]:appid-payroll-><nil> conditions.applications.includeApplications[]:<nil>->appid-payroll-2 conditions.users.excludeGroups[]:g-admins-><nil> conditions.users.excludeGroups[]:<nil>->g-admins-2",
				"group g-admins hard_deleted member removed u-alice member removed u-carol owner removed u-alice",
				"group g-admins-2 added member added u-alice member added u-carol-2 owner added u-alice",
				"servicePrincipal sp-payroll hard_deleted",
				"servicePrincipal sp-payroll-2 added",
				"unifiedRoleAssignment ra-1 hard_deleted",
				"unifiedRoleAssignment ra-2 added",
				"user u-carol hard_deleted manager removed u-alice",
				"user u-carol-2 added manager added u-alice",
			}},
		{name: "read-only differences on a survivor are unrestorable, not differences", ledger: verifyLedger(),
			live: func(t *testing.T) snapshots.State {
				return recreatedLive(t, func(k entra.Kind, j string) string {
					return strings.Replace(j, `"S-1-5-21-10"`, `"S-1-5-21-77"`, 1)
				}, nil, nil)
			},
			unrestorable: slices.Insert(slices.Clone(faithful), 1, "user u-alice: read-only property securityIdentifier")},
		{name: "an object added since the snapshot is a difference", ledger: verifyLedger(),
			live: func(t *testing.T) snapshots.State {
				return recreatedLive(t, nil, []planObj{{entra.KindUser, "u-mallory", userJSON("u-mallory", "Mallory", "mallory@contoso.test", ""), false}}, nil)
			},
			differences:  []string{"user u-mallory added"},
			unrestorable: faithful},
		{name: "a membership of a recreated user that was not put back", ledger: verifyLedger(),
			live: func(t *testing.T) snapshots.State {
				return recreatedLive(t, nil, nil, withoutLinks(func(l snapshots.Link) bool { return l.Name == "members" && l.To == "u-carol-2" }))
			},
			differences:  []string{"group g-admins modified member removed u-carol"},
			unrestorable: faithful},
		{name: "scoped to the recreated user by its new id", ledger: verifyLedger(), scope: []graphx.NodeID{{Kind: entra.KindUser, ID: "u-carol-2"}},
			live: func(t *testing.T) snapshots.State {
				return recreatedLive(t, func(k entra.Kind, j string) string {
					return strings.Replace(strings.Replace(j, `"Tenant admins"`, `"pwned"`, 1), `"department":"Finance"`, `"department":"Sales"`, 1)
				}, nil, withoutLinks(func(l snapshots.Link) bool { return l.Name == "members" && l.To == "u-carol-2" }))
			},
			differences: []string{"group g-admins modified member removed u-carol", "user u-carol modified department:Finance->Sales"},
			unrestorable: []string{
				"user u-carol: password (a generated one was issued) (now u-carol-2)",
				"user u-carol: read-only property securityIdentifier (now u-carol-2)",
			}},
		{name: "scoped to another object", ledger: verifyLedger(), scope: []graphx.NodeID{{Kind: entra.KindUser, ID: "u-alice"}},
			live: func(t *testing.T) snapshots.State {
				return recreatedLive(t, func(k entra.Kind, j string) string {
					return strings.Replace(j, `"department":"Finance"`, `"department":"Sales"`, 1)
				}, nil, nil)
			}},
		{name: "a ledger entry from before the snapshot maps nothing away",
			ledger: graphx.Ledger{IDs: map[string]string{"u-alice-original": "u-alice"}, AppIDs: map[string]string{}},
			live: func(t *testing.T) snapshots.State {
				return writeState(t, "live", []planObj{
					{entra.KindUser, "u-alice", vAlice, false}, {entra.KindUser, "u-carol", vCarol, false},
					{entra.KindGroup, "g-admins", vAdmins, false}, {entra.KindApplication, "a-payroll", vPayroll, false},
					{entra.KindServicePrincipal, "sp-payroll", vPayrSP, false}, {entra.KindConditionalAccessPolicy, "ca-1", vCA, false},
					{entra.KindRoleAssignment, "ra-1", vRole, false},
				}, verifyLinks(strings.NewReplacer()))
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := verifyTarget(t)
			rep, err := Verify(ctx, target, c.live(t), c.ledger, VerifyOptions{Scope: c.scope})
			if err != nil {
				t.Fatal(err)
			}
			if got := changeLines(rep.Differences); !slices.Equal(got, c.differences) {
				t.Errorf("differences:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(c.differences, "\n  "))
			}
			if got := whats(rep.Unrestorable); !slices.Equal(got, c.unrestorable) {
				t.Errorf("unrestorable:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(c.unrestorable, "\n  "))
			}
			if rep.Clean != (len(c.differences) == 0) || rep.Snapshot != target.Snapshot.ID || rep.Differences == nil || rep.Unrestorable == nil {
				t.Errorf("clean %v, snapshot %d, nil lists %v %v", rep.Clean, rep.Snapshot, rep.Differences == nil, rep.Unrestorable == nil)
			}
			s := rep.Summary
			if s.Added+s.Modified+s.SoftDeleted+s.HardDeleted+s.Restored != len(rep.Differences) {
				t.Errorf("summary %+v counts other than %d differences", s, len(rep.Differences))
			}
		})
	}
}

func TestVerifyRefusesBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	target := verifyTarget(t)
	live := recreatedLive(t, nil, nil, nil)
	for _, c := range []struct {
		name  string
		live  snapshots.State
		scope []graphx.NodeID
		want  string
	}{
		{"another tenant", snapshots.State{Store: live.Store, Snapshot: snapshots.Snapshot{ID: live.Snapshot.ID, TenantID: "tenant-2"}}, nil, "tenant"},
		{"an unknown kind", live, []graphx.NodeID{{Kind: "printer", ID: "x"}}, "unknown object kind"},
		{"an object on neither side", live, []graphx.NodeID{{Kind: entra.KindUser, ID: "u-nobody"}}, "--scope kind=user,id=u-nobody is neither in snapshot"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(ctx, target, c.live, verifyLedger(), VerifyOptions{Scope: c.scope})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one with %q", err, c.want)
			}
		})
	}
}

// TestVerifyWhatNoRestoreCanDo: a dynamic group's members, a purged built-in role and an
// object already in the bin in the snapshot are not differences, and a recreated user's
// original, still in the bin, gives way to its copy.
func TestVerifyWhatNoRestoreCanDo(t *testing.T) {
	t.Parallel()
	dyn := `{"id":"g-dyn","displayName":"All Finance","groupTypes":["DynamicMembership"],"membershipRule":"user.department -eq \"Finance\"","membershipRuleProcessingState":"On","mailEnabled":false,"mailNickname":"fin","securityEnabled":true}`
	builtin := `{"id":"rd-b","displayName":"Global Reader","isBuiltIn":true,"isEnabled":true,"rolePermissions":[],"templateId":"rd-b"}`
	target := writeState(t, "target", []planObj{
		{entra.KindUser, "u-alice", vAlice, false},
		{entra.KindUser, "u-carol", vCarol, false},
		{entra.KindUser, "u-old", userJSON("u-old", "Old", "old@contoso.test", ""), true},
		{entra.KindGroup, "g-dyn", dyn, false},
		{entra.KindRoleDefinition, "rd-b", builtin, false},
	}, []snapshots.Link{member("g-dyn", entra.KindUser, "u-carol"), member("g-dyn", entra.KindUser, "u-old")})
	live := writeState(t, "live", []planObj{
		{entra.KindUser, "u-alice", vAlice, false},
		{entra.KindUser, "u-carol", vCarol, true},
		{entra.KindUser, "u-carol-2", strings.ReplaceAll(vCarol, "u-carol", "u-carol-2"), false},
		{entra.KindGroup, "g-dyn", dyn, false},
	}, []snapshots.Link{{Kind: entra.KindUser, From: "u-carol", Name: "manager", ToKind: entra.KindUser, To: "u-alice"}})
	ledger := graphx.NewLedger()
	ledger.IDs["u-carol"] = "u-carol-2"
	rep, err := Verify(context.Background(), target, live, ledger, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"group g-dyn: dynamic members (its membership rule decides them; a restore cannot add or remove them)",
		"unifiedRoleDefinition rd-b: built-in role definition (Graph cannot recreate it)",
		"user u-carol: password (a generated one was issued) (now u-carol-2)",
	}
	if got := whats(rep.Unrestorable); !slices.Equal(got, want) {
		t.Errorf("unrestorable:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if !rep.Clean || len(rep.Differences) != 0 {
		t.Errorf("differences: %v", changeLines(rep.Differences))
	}
}
