package snapshots

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

type fakeObj struct {
	kind  entra.Kind
	id    string
	json  string
	inBin bool
}

func put(t *testing.T, s *Store, at time.Time, objs []fakeObj, links []Link, audit []string) Snapshot {
	t.Helper()
	ctx := context.Background()
	w, err := s.Begin(ctx, SnapshotMeta{TenantID: "tenant-1", TakenAt: at})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := w.PutObject(ctx, o.kind, o.id, []byte(o.json), o.inBin); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range links {
		if err := w.PutLink(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	for i, a := range audit {
		var e struct {
			ActivityDateTime time.Time `json:"activityDateTime"`
			Activity         string    `json:"activityDisplayName"`
		}
		if err := json.Unmarshal([]byte(a), &e); err != nil {
			t.Fatal(err)
		}
		if err := w.PutAudit(ctx, fmt.Sprintf("audit-%d-%d", at.Unix(), i), e.ActivityDateTime, e.Activity, []byte(a)); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func auditJSON(at time.Time, activity, target, app string) string {
	return fmt.Sprintf(`{"activityDateTime":%q,"activityDisplayName":%q,"initiatedBy":{"user":null,"app":{"displayName":%q,"appId":"x"}},"targetResources":[{"id":%q}]}`,
		at.Format(time.RFC3339), activity, app, target)
}

func TestDiffEveryChangeClass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	t1 := t0.Add(24 * time.Hour)
	before := put(t, s, t0, []fakeObj{
		{entra.KindUser, "u-mod", `{"id":"u-mod","displayName":"Mod","department":"Sales","lastPasswordChangeDateTime":"2026-01-01T00:00:00Z","businessPhones":["1"]}`, false},
		{entra.KindUser, "u-soft", `{"id":"u-soft","displayName":"Soft"}`, false},
		{entra.KindUser, "u-hard", `{"id":"u-hard","displayName":"Hard"}`, false},
		{entra.KindUser, "u-back", `{"id":"u-back","displayName":"Back","deletedDateTime":"2026-10-30T00:00:00Z"}`, true},
		{entra.KindUser, "u-noise", `{"id":"u-noise","displayName":"Noise","lastPasswordChangeDateTime":"2026-01-01T00:00:00Z"}`, false},
		{entra.KindGroup, "g1", `{"id":"g1","displayName":"Admins"}`, false},
		{entra.KindConditionalAccessPolicy, "p1", `{"id":"p1","displayName":"MFA","state":"enabled","conditions":{"users":{"excludeUsers":["bg1","bg2"]}}}`, false},
	}, []Link{
		{Kind: entra.KindGroup, From: "g1", Name: "members", To: "u-mod", ToKind: entra.KindUser},
	}, nil)
	after := put(t, s, t1, []fakeObj{
		{entra.KindUser, "u-mod", `{"id":"u-mod","displayName":"Mod","department":"Finance","lastPasswordChangeDateTime":"2026-06-01T00:00:00Z","businessPhones":["1"]}`, false},
		{entra.KindUser, "u-soft", `{"id":"u-soft","displayName":"Soft","deletedDateTime":"2026-11-01T10:00:00Z"}`, true},
		{entra.KindUser, "u-back", `{"id":"u-back","displayName":"Back"}`, false},
		{entra.KindUser, "u-new", `{"id":"u-new","displayName":"Attacker"}`, false},
		{entra.KindUser, "u-noise", `{"id":"u-noise","displayName":"Noise","lastPasswordChangeDateTime":"2026-09-01T00:00:00Z"}`, false},
		{entra.KindGroup, "g1", `{"id":"g1","displayName":"Admins"}`, false},
		{entra.KindConditionalAccessPolicy, "p1", `{"id":"p1","displayName":"MFA","state":"enabledForReportingButNotEnforced","conditions":{"users":{"excludeUsers":["bg1"]}}}`, false},
	}, []Link{
		{Kind: entra.KindGroup, From: "g1", Name: "members", To: "u-new", ToKind: entra.KindUser},
	}, []string{
		auditJSON(t0.Add(2*time.Hour), "Delete user", "u-soft", "Contoso Sync Helper"),
		auditJSON(t0.Add(3*time.Hour), "Hard Delete user", "u-hard", "Contoso Sync Helper"),
		auditJSON(t0.Add(4*time.Hour), "Update conditional access policy", "p1", "Contoso Sync Helper"),
		auditJSON(t0.Add(5*time.Hour), "Add member to group", "g1", "Contoso Sync Helper"),
		auditJSON(t0.Add(6*time.Hour), "Update user", "someone-else", "Contoso Sync Helper"),
	})
	res, err := Diff(ctx, State{Store: s, Snapshot: before}, State{Store: s, Snapshot: after}, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Change{}
	for _, c := range res.Changes {
		got[c.ID] = c
	}
	for id, class := range map[string]string{"u-mod": Modified, "u-soft": SoftDeleted, "u-hard": HardDeleted, "u-back": Restored, "u-new": Added, "p1": Modified, "g1": Modified} {
		if got[id].Change != class {
			t.Errorf("%s: change %q, want %q", id, got[id].Change, class)
		}
	}
	if _, ok := got["u-noise"]; ok {
		t.Error("a change to an ignored (volatile) property was reported")
	}
	if want := (Summary{Added: 1, Modified: 3, SoftDeleted: 1, HardDeleted: 1, Restored: 1}); res.Summary != want {
		t.Errorf("summary %+v, want %+v", res.Summary, want)
	}
	if p := got["u-mod"].Properties; len(p) != 1 || p[0].Path != "department" || p[0].Before != "Sales" || p[0].After != "Finance" {
		t.Errorf("u-mod properties: %+v", p)
	}
	var p1 []string
	for _, p := range got["p1"].Properties {
		p1 = append(p1, fmt.Sprintf("%s %s->%s", p.Path, FormatValue(p.Before), FormatValue(p.After)))
	}
	if strings.Join(p1, "; ") != `conditions.users.excludeUsers[] "bg2"->null; state "enabled"->"enabledForReportingButNotEnforced"` {
		t.Errorf("p1 properties: %v", p1)
	}
	var links []string
	for _, l := range got["g1"].Links {
		links = append(links, l.Change+" "+l.Relation+" "+l.TargetID)
	}
	if strings.Join(links, "; ") != "removed member u-mod; added member u-new" {
		t.Errorf("g1 links: %v", links)
	}
	if c := got["u-soft"]; c.Actor == nil || *c.Actor != "Contoso Sync Helper" || c.Activity == nil || *c.Activity != "Delete user" {
		t.Errorf("u-soft actor: %+v", c)
	}
	if c := got["u-hard"]; c.Activity == nil || *c.Activity != "Hard Delete user" {
		t.Errorf("u-hard activity (case-insensitive match): %+v", c)
	}
	if c := got["u-mod"]; c.Actor != nil || c.Evidence != "no audit entry explains this change" {
		t.Errorf("u-mod has no audit evidence but got %+v", c)
	}
	out, _ := json.Marshal(res)
	for _, key := range []string{`"summary":{"added":1,"modified":3,"soft_deleted":1,"hard_deleted":1,"restored":1}`, `"display_name":"Attacker"`, `"target_kind":"user"`} {
		if !strings.Contains(string(out), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
	only, err := Diff(ctx, State{Store: s, Snapshot: before}, State{Store: s, Snapshot: after}, DiffOptions{Kinds: []entra.Kind{entra.KindConditionalAccessPolicy}})
	if err != nil || len(only.Changes) != 1 || only.Changes[0].ID != "p1" {
		t.Errorf("kind filter: %+v %v", only, err)
	}
	keep, _ := Diff(ctx, State{Store: s, Snapshot: before}, State{Store: s, Snapshot: after}, DiffOptions{KeepVolatile: true})
	if keep.Summary.Modified != 4 {
		t.Errorf("with volatile properties kept, modified = %d, want 4", keep.Summary.Modified)
	}
}

// TestDiffKeepsWhatItIsAskedTo: a diff keeps decoded first-state values only where it
// is asked: whole objects for hard-deleted objects of the kinds KeepBefore accepts, and
// changed members of modified objects of the kinds KeepChangedMembers accepts, not
// ignored members, nor members of restored objects, nor other kinds'. Both the
// file diff and the diff of loaded states.
func TestDiffKeepsWhatItIsAskedTo(t *testing.T) {
	t.Parallel()
	before := []fakeObj{
		{entra.KindUser, "u-mod", `{"id":"u-mod","displayName":"Mod","department":"Sales","lastPasswordChangeDateTime":"2026-01-01T00:00:00Z"}`, false},
		{entra.KindUser, "u-hard", `{"id":"u-hard","displayName":"Hard"}`, false},
		{entra.KindUser, "u-back", `{"id":"u-back","displayName":"Back","department":"Ops","deletedDateTime":"2026-10-30T00:00:00Z"}`, true},
		{entra.KindGroup, "g-mod", `{"id":"g-mod","displayName":"Mod","description":"before"}`, false},
		{entra.KindGroup, "g-hard", `{"id":"g-hard","displayName":"Gone"}`, false},
	}
	after := []fakeObj{
		{entra.KindUser, "u-mod", `{"id":"u-mod","displayName":"Mod","department":"Finance","lastPasswordChangeDateTime":"2026-06-01T00:00:00Z"}`, false},
		{entra.KindUser, "u-back", `{"id":"u-back","displayName":"Back","department":"Finance"}`, false},
		{entra.KindGroup, "g-mod", `{"id":"g-mod","displayName":"Mod","description":"after"}`, false},
	}
	users := func(k entra.Kind) bool { return k == entra.KindUser }
	opts := DiffOptions{KeepBefore: users, KeepChangedMembers: users}
	for name, diff := range diffsBothWays(t, before, after, nil, nil) {
		res, err := diff(opts)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]*Change{}
		for i := range res.Changes {
			got[res.Changes[i].ID] = &res.Changes[i]
		}
		for _, c := range []struct {
			id, member string
			want       any
			ok         bool
		}{
			{"u-mod", "department", "Sales", true},
			{"u-mod", "displayName", nil, false},                // unchanged
			{"u-mod", "lastPasswordChangeDateTime", nil, false}, // ignored (volatile)
			{"u-back", "department", nil, false},                // restored, not modified
			{"g-mod", "description", nil, false},                // a kind not asked for
		} {
			ch := got[c.id]
			if ch == nil {
				t.Fatalf("%s: no change for %s", name, c.id)
			}
			if v, ok := ch.BeforeMember(c.member); ok != c.ok || v != c.want {
				t.Errorf("%s: %s BeforeMember(%s) = %v, %v; want %v, %v", name, c.id, c.member, v, ok, c.want, c.ok)
			}
		}
		if m := got["u-hard"].TakeBefore(); m["displayName"] != "Hard" {
			t.Errorf("%s: hard-deleted user kept as %v", name, m)
		}
		for _, id := range []string{"g-hard", "u-mod", "u-back"} {
			if m := got[id].TakeBefore(); m != nil {
				t.Errorf("%s: %s kept whole: %v", name, id, m)
			}
		}
	}
}

// TestDiffOmitsLinkChanges: with OmitLinkChanges a diff reports the same changes, a
// holder whose links alone changed included, each with no links listed; without it
// the links are listed. Both the file diff and the diff of loaded states.
func TestDiffOmitsLinkChanges(t *testing.T) {
	t.Parallel()
	objs := []fakeObj{
		{entra.KindUser, "u1", `{"id":"u1","displayName":"One"}`, false},
		{entra.KindUser, "u2", `{"id":"u2","displayName":"Two"}`, false},
		{entra.KindGroup, "g-links", `{"id":"g-links","displayName":"Links only"}`, false},
		{entra.KindGroup, "g-both", `{"id":"g-both","displayName":"Both","description":"before"}`, false},
	}
	later := slices.Clone(objs)
	later[3] = fakeObj{entra.KindGroup, "g-both", `{"id":"g-both","displayName":"Both","description":"after"}`, false}
	member := func(g, u string) Link {
		return Link{Kind: entra.KindGroup, From: g, Name: "members", To: u, ToKind: entra.KindUser}
	}
	before := []Link{member("g-links", "u1"), member("g-both", "u1")}
	after := []Link{member("g-links", "u2"), member("g-both", "u1"), member("g-both", "u2")}
	diffs := diffsBothWays(t, objs, later, before, after)
	for _, omit := range []bool{false, true} {
		for name, diff := range diffs {
			res, err := diff(DiffOptions{OmitLinkChanges: omit})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range res.Changes {
				got = append(got, fmt.Sprintf("%s %s %d properties %d links", c.ID, c.Change, len(c.Properties), len(c.Links)))
			}
			want := []string{"g-both modified 1 properties 1 links", "g-links modified 0 properties 2 links"}
			if omit {
				want = []string{"g-both modified 1 properties 0 links", "g-links modified 0 properties 0 links"}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s, omit %v: changes %q, want %q", name, omit, got, want)
			}
		}
	}
}

// diffsBothWays stores two states, objects and links, both in one file and in a file
// each, and returns the two ways to diff them: "file" diffs within the one file (Diff),
// "loaded" loads the two files whole and diffs them from memory (DiffLoaded).
func diffsBothWays(t *testing.T, objsBefore, objsAfter []fakeObj, linksBefore, linksAfter []Link) map[string]func(DiffOptions) (*DiffResult, error) {
	t.Helper()
	ctx := context.Background()
	one := newStore(t)
	a, b := newStore(t), newStore(t)
	fromOne, toOne := State{Store: one, Snapshot: put(t, one, t0, objsBefore, linksBefore, nil)}, State{Store: one, Snapshot: put(t, one, t0.Add(time.Hour), objsAfter, linksAfter, nil)}
	fromA, toB := State{Store: a, Snapshot: put(t, a, t0, objsBefore, linksBefore, nil)}, State{Store: b, Snapshot: put(t, b, t0.Add(time.Hour), objsAfter, linksAfter, nil)}
	return map[string]func(DiffOptions) (*DiffResult, error){
		"file": func(opts DiffOptions) (*DiffResult, error) { return Diff(ctx, fromOne, toOne, opts) },
		"loaded": func(opts DiffOptions) (*DiffResult, error) {
			la, lb := &Loaded{}, &Loaded{}
			for _, err := range []error{la.LoadObjects(ctx, fromA), la.LoadLinks(ctx, fromA), lb.LoadObjects(ctx, toB), lb.LoadLinks(ctx, toB)} {
				if err != nil {
					return nil, err
				}
			}
			return DiffLoaded(ctx, fromA, toB, la, lb, opts)
		},
	}
}

// CompareLinks orders links as comparing their key's fields one after the other does,
// equal links included: checked over random links that share many fields.
func TestCompareLinksIsKeyOrder(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 8))
	pick := func(from ...string) string { return from[rng.IntN(len(from))] }
	link := func() Link {
		return Link{Kind: entra.Kind(pick("group", "user", "application")), From: pick("a", "b", "ab", ""), Name: pick("members", "owners", "manager"),
			ToKind: entra.Kind(pick("user", "group", "servicePrincipal")), To: pick("1", "2", "10", "")}
	}
	want := func(a, b Link) int {
		return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.From, b.From), strings.Compare(a.Name, b.Name),
			strings.Compare(string(a.ToKind), string(b.ToKind)), strings.Compare(a.To, b.To))
	}
	for range 20000 {
		a, b := link(), link()
		if got, w := CompareLinks(a, b), want(a, b); got != w {
			t.Fatalf("CompareLinks(%+v, %+v) = %d, want %d", a, b, got, w)
		}
	}
}

// Role assignments and grants are named by the objects they connect, looked up on the
// side that holds them and then on the other: a purged principal keeps its name.
func TestDiffNamesAssignmentsByWhatTheyConnect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	role := fakeObj{entra.KindRoleDefinition, "rd1", `{"id":"rd1","displayName":"Global Administrator"}`, false}
	app := fakeObj{entra.KindApplication, "a1", `{"id":"a1","displayName":"Payroll"}`, false}
	sp := fakeObj{entra.KindServicePrincipal, "sp1", `{"id":"sp1","displayName":"Payroll SP"}`, false}
	before := put(t, s, t0, []fakeObj{role, app, sp,
		{entra.KindUser, "u-gone", `{"id":"u-gone","displayName":"Carol"}`, false},
		{entra.KindRoleAssignment, "ra-gone", `{"id":"ra-gone","principalId":"u-gone","roleDefinitionId":"rd1","directoryScopeId":"/a1"}`, false},
	}, nil, nil)
	after := put(t, s, t0.Add(time.Hour), []fakeObj{role, app, sp,
		{entra.KindUser, "u-new", `{"id":"u-new","displayName":"Sync Helper Service"}`, false},
		{entra.KindRoleAssignment, "ra-new", `{"id":"ra-new","principalId":"u-new","roleDefinitionId":"rd1","directoryScopeId":"/"}`, false},
		{entra.KindOAuth2PermissionGrant, "g-new", `{"id":"g-new","clientId":"sp1","resourceId":"sp-unknown","scope":"User.Read"}`, false},
	}, nil, nil)
	res, err := Diff(ctx, State{Store: s, Snapshot: before}, State{Store: s, Snapshot: after}, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ra-gone": "role Global Administrator for Carol at /Payroll",
		"ra-new":  "role Global Administrator for Sync Helper Service at /",
		"g-new":   "grant Payroll SP -> sp-unknown (User.Read)",
	}
	for _, c := range res.Changes {
		if w, ok := want[c.ID]; ok {
			if c.DisplayName != w {
				t.Errorf("%s is named %q, want %q", c.ID, c.DisplayName, w)
			}
			delete(want, c.ID)
		}
	}
	for id := range want {
		t.Errorf("%s is not among the changes", id)
	}
}
