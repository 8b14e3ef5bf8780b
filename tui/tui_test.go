package tui

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/lifelinehq/lifeline/entra"
)

// press makes a key press the way the terminal reports it.
func press(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	case " ":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

// driver runs a Model the way the program would, synchronously: every command's
// message is fed back into Update until none is left.
type driver struct {
	t    testing.TB
	m    Model
	quit bool
}

func newDriver(t testing.TB, w, h int) *driver {
	t.Helper()
	store, _ := newTestStore(t)
	d := &driver{t: t, m: NewOffline(store, "tenant.db", true)}
	d.send(tea.WindowSizeMsg{Width: w, Height: h})
	d.run(d.m.Init())
	return d
}

func (d *driver) send(msg tea.Msg) {
	nm, cmd := d.m.Update(msg)
	d.m = nm.(Model)
	d.run(cmd)
}

func (d *driver) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case nil:
	case tea.QuitMsg:
		d.quit = true
	case tea.BatchMsg:
		for _, c := range msg {
			d.run(c)
		}
	default:
		d.send(msg)
	}
}

// keys presses each key in turn; a plain word is typed one rune at a time.
func (d *driver) keys(keys ...string) {
	for _, k := range keys {
		switch k {
		case "enter", "esc", "tab", "backspace", "down", "up", "ctrl+c":
			d.send(press(k))
		default:
			for _, r := range k {
				d.send(press(string(r)))
			}
		}
	}
}

func (d *driver) view() string { return ansi.Strip(d.m.View().Content) }

func TestStartsOnOverviewWithTheFile(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 80, 24)
	if got := d.m.Current(); got != "Overview" {
		t.Fatalf("first screen %q, want Overview", got)
	}
	v := d.view()
	for _, want := range []string{tenantID, "offline file: tenant.db", "OFFLINE · READ-ONLY", "baseline", "after incident", "hard deleted", "modified          4"} {
		if !strings.Contains(v, want) {
			t.Errorf("overview lacks %q:\n%s", want, v)
		}
	}
}

func TestJumpToScreenByName(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 80, 24)
	for _, c := range []struct{ typed, want string }{{"diff", "Diff"}, {"sn", "Snapshots"}, {"gr", "Graph"}, {"overview", "Overview"}} {
		d.keys(":", c.typed, "enter")
		if got := d.m.Current(); got != c.want {
			t.Errorf(":%s went to %q, want %q", c.typed, got, c.want)
		}
	}
	d.keys(":", "nowhere", "enter")
	if d.m.Current() != "Overview" || !strings.Contains(d.view(), "no screen named nowhere") {
		t.Errorf("an unknown screen name should stay put and say so:\n%s", d.view())
	}
	d.keys(":", "diff", "esc")
	if d.m.Current() != "Overview" {
		t.Errorf("esc should cancel the jump, got %q", d.m.Current())
	}
}

func TestQuitKeys(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 80, 24)
	d.keys("q")
	if !d.quit {
		t.Fatal("q should quit")
	}
	d = newDriver(t, 80, 24)
	d.keys(":", "sn", "enter", "enter", "/", "q")
	if d.quit {
		t.Fatal("q while filtering is text, not quit")
	}
	if d.m.base["snapshots"].(*browser).filter != "q" {
		t.Fatalf("filter = %q, want q", d.m.base["snapshots"].(*browser).filter)
	}
	d.keys("ctrl+c")
	if !d.quit {
		t.Fatal("ctrl+c always quits")
	}
}

func TestBrowseFilterOpenAndBack(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 80, 24)
	d.keys("enter") // overview: browse the newest snapshot
	b := d.m.base["snapshots"].(*browser)
	if d.m.Current() != "Snapshots" || b.picking || b.snap != 2 {
		t.Fatalf("enter on the overview should browse snapshot 2, got %q picking=%v snap=%d", d.m.Current(), b.picking, b.snap)
	}
	// kinds are sorted: application, conditionalAccessPolicy, group, servicePrincipal, user
	d.keys("l", "l", "l", "l")
	if k := b.kinds[b.kind]; k != "user" || b.table.len() != 4 {
		t.Fatalf("kind %s with %d rows, want user with 4", k, b.table.len())
	}
	d.keys("/", "ali")
	if b.table.len() != 1 || b.table.at(0).name != "Alice" {
		t.Fatalf("filter ali kept %d rows", b.table.len())
	}
	d.keys("enter") // leave the filter input, keep the filter
	if b.filtering || b.filter != "ali" {
		t.Fatalf("enter should keep the filter and leave the input (filtering=%v filter=%q)", b.filtering, b.filter)
	}
	d.keys("/", "backspace", "backspace", "backspace", "!e")
	if names := rowNames(b); names != "Carol" {
		t.Fatalf("!e kept %q, want Carol (the only user whose name and id lack an e)", names)
	}
	d.keys("esc")
	if b.filter != "" || b.table.len() != 4 {
		t.Fatalf("esc in the filter should clear it: filter %q, %d rows", b.filter, b.table.len())
	}
	d.keys("/", "1111-4111-8111-000000000005", "enter", "enter")
	if got := d.m.Current(); got != "user Dave" {
		t.Fatalf("enter should open Dave by id, got %q", got)
	}
	if !strings.Contains(d.view(), `"department": "Unknown"`) || !strings.Contains(d.view(), "← members of group "+gAdmins) {
		t.Fatalf("object view lacks its JSON or links:\n%s", d.view())
	}
	d.keys("esc")
	if d.m.Current() != "Snapshots" || len(d.m.stack) != 1 {
		t.Fatalf("esc should return to the table, got %q", d.m.Current())
	}
	d.keys("esc", "esc")
	if !b.picking {
		t.Fatal("esc with no filter should return to the snapshot list")
	}
	d.keys("up", "esc")
	if b.picking || b.snap != 2 || b.kinds[b.kind] != "user" || !strings.Contains(d.view(), "Alice") {
		t.Fatalf("esc on the snapshot list should return to snapshot 2's users as they were: picking=%v snap=%d\n%s", b.picking, b.snap, d.view())
	}
}

func rowNames(b *browser) string {
	var names []string
	for i := range b.table.len() {
		names = append(names, b.table.at(i).name)
	}
	return strings.Join(names, ",")
}

func TestDiffPickAndOpenChange(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 80, 24)
	d.keys(":", "diff", "enter")
	ds := d.m.base["diff"].(*diffScreen)
	if ds.res == nil || len(ds.res.Changes) != 7 {
		t.Fatalf("diff of the last two snapshots should hold 7 changes, got %+v", ds.res)
	}
	c, _ := ds.selected()
	if c.ID != uBob {
		t.Fatalf("first change should be Bob (hard deleted), got %s", c.DisplayName)
	}
	d.keys("j", "j", "enter")
	if got := d.m.Current(); got != "conditionalAccessPolicy Require MFA for admins" {
		t.Fatalf("opened %q", got)
	}
	v := d.view()
	for _, want := range []string{"actor:  mallory@contoso.example", "time:   2026-11-02T08:00:00Z", "state", `before: "enabled"`, `after:  "enabledForReportingButNotEnforced"`} {
		if !strings.Contains(v, want) {
			t.Errorf("change view lacks %q:\n%s", want, v)
		}
	}
	d.keys("esc", "f")
	if ds.from != 0 || ds.to != 1 {
		t.Fatalf("f at the oldest snapshot should stay: from %d to %d", ds.from, ds.to)
	}
}

func TestGraphWalkAndBack(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 80, 24)
	d.keys(":", "diff", "enter", "j", "j", "d")
	g, ok := d.m.top().(*graphScreen)
	if !ok || g.g == nil {
		t.Fatalf("d should open the graph, got %q", d.m.Current())
	}
	if len(g.entries) != 4 {
		t.Fatalf("the MFA policy references 4 objects, got %d", len(g.entries))
	}
	d.keys("G", "enter") // the last reference: group Admins
	if g.focus.ID != gAdmins {
		t.Fatalf("walked to %s, want Admins", g.focus)
	}
	if !strings.Contains(d.view(), "blast radius 1 (conditionalAccessPolicy 1)") {
		t.Fatalf("Admins' blast radius should be the policy:\n%s", d.view())
	}
	d.keys("esc")
	if g.focus.ID != caMFA {
		t.Fatalf("esc should walk back to the policy, at %s", g.focus)
	}
	d.keys("esc")
	if d.m.Current() != "Diff" {
		t.Fatalf("esc at the first object should close the graph, at %q", d.m.Current())
	}
}

func TestHelpToggleAndResize(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 80, 24)
	d.keys("?")
	if !strings.Contains(d.view(), "previous screen") {
		t.Fatalf("? should show the full help:\n%s", d.view())
	}
	for _, size := range [][2]int{{80, 24}, {120, 40}, {200, 60}, {40, 10}} {
		d.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		lines := strings.Split(d.view(), "\n")
		if len(lines) != size[1] {
			t.Errorf("%dx%d: view has %d lines", size[0], size[1], len(lines))
		}
		for i, l := range lines {
			if w := ansi.StringWidth(l); w > size[0] {
				t.Errorf("%dx%d: line %d is %d wide", size[0], size[1], i, w)
			}
		}
	}
}

// TestViewGolden renders every screen at 80x24 and 160x48, ANSI stripped; regenerate
// with go test ./tui -run TestViewGolden -update.
func TestViewGolden(t *testing.T) {
	screens := []struct {
		name string
		keys []string
	}{
		{"overview", nil},
		{"snapshot-list", []string{":", "snap", "enter"}},
		{"objects", []string{"enter", "l", "l", "l", "l"}},
		{"objects-filtered", []string{"enter", "l", "l", "l", "l", "/", "!glass", "enter"}},
		{"object", []string{"enter", "l", "l", "l", "l", "enter"}},
		{"diff", []string{":", "diff", "enter"}},
		{"diff-filtered", []string{":", "diff", "enter", "/", "ad", "enter"}},
		{"change", []string{":", "diff", "enter", "j", "j", "enter"}},
		{"graph", []string{":", "diff", "enter", "j", "j", "d"}},
		{"graph-find", []string{":", "graph", "enter", "/", "Admins", "enter"}},
		{"help", []string{"?"}},
		// Offline, the recovery screens say what they need instead of acting.
		{"bin-offline", []string{":", "bin", "enter"}},
		{"plan-offline", []string{":", "plan", "enter", "s"}},
		{"run-offline", []string{":", "run", "enter"}},
		{"verify-offline", []string{":", "verify", "enter"}},
	}
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		for _, s := range screens {
			t.Run(fmt.Sprintf("%s-%dx%d", s.name, size[0], size[1]), func(t *testing.T) {
				d := newDriver(t, size[0], size[1])
				d.keys(s.keys...)
				golden.RequireEqual(t, d.view())
			})
		}
	}
}

func TestStaleResultsAreDropped(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 80, 24)
	d.keys(":", "snap", "enter", "enter") // browse snapshot 2
	b := d.m.base["snapshots"].(*browser)
	before := len(b.kinds)
	// A late answer for snapshot 1, and a filter result from an old keystroke.
	d.send(objectsLoadedMsg{snap: 1, kinds: nil, rows: nil})
	d.send(filterDoneMsg{tag: b.filterTag - 1, q: parseQuery("zzz"), view: []int32{}})
	d.send(objectsProgressMsg{snap: 1, read: 5})
	if b.snap != 2 || len(b.kinds) != before || b.table.len() == 0 || b.read != 0 {
		t.Fatalf("stale messages changed the browser: snap %d, %d kinds, %d rows, read %d", b.snap, len(b.kinds), b.table.len(), b.read)
	}
}

func TestDiffFilter(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 80, 24)
	d.keys(":", "diff", "enter", "/", "a")
	ds := d.m.base["diff"].(*diffScreen)
	var names []string
	for _, l := range ds.lines {
		if l.change >= 0 {
			names = append(names, ds.res.Changes[l.change].DisplayName)
		}
	}
	// Changes whose name or id holds an "a": Carol, Require MFA for admins, Admins, Sales, Alice, Dave.
	if got := strings.Join(names, ","); got != "Carol,Require MFA for admins,Admins,Sales,Alice,Dave" {
		t.Fatalf("filter a kept %s", got)
	}
	d.keys("backspace", "!a", "enter")
	if c, ok := ds.selected(); !ok || c.DisplayName != "Bob" || len(ds.lines) != 2 {
		t.Fatalf("!a should keep Bob alone, got %d lines", len(ds.lines))
	}
	d.keys("q")
	if !d.quit {
		t.Fatal("q after leaving the filter input quits")
	}
	d = newDriver(t, 80, 24)
	d.keys(":", "diff", "enter", "/", "zzz", "esc")
	if ds := d.m.base["diff"].(*diffScreen); ds.filter != "" || len(ds.lines) != 13 {
		t.Fatalf("esc should clear the filter: %q, %d lines", ds.filter, len(ds.lines))
	}
}

func TestGraphFindByName(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 80, 24)
	d.keys(":", "graph", "enter")
	if !strings.Contains(d.view(), "Press / to find one") {
		t.Fatalf("the empty graph screen should say how to start:\n%s", d.view())
	}
	d.keys("/", "Admins", "enter")
	g := d.m.base["graph"].(*graphScreen)
	if g.focus.ID != gAdmins || g.snap != 2 || len(g.entries) == 0 {
		t.Fatalf("find Admins: focus %s in snapshot %d with %d entries", g.focus, g.snap, len(g.entries))
	}
	d.keys("/", "nobody-at-all", "enter")
	if g.focus.ID != gAdmins || g.findErr == nil || !strings.Contains(d.view(), "nobody-at-all") {
		t.Fatalf("an unknown name should keep the focus and say so:\n%s", d.view())
	}
	d.keys("/", "alice@contoso.example", "enter")
	if g.focus.ID != uAlice || g.findErr != nil {
		t.Fatalf("find by UPN: focus %s, err %v", g.focus, g.findErr)
	}
	d.keys("esc")
	if g.focus.ID != gAdmins {
		t.Fatalf("esc walks back to the previous object, at %s", g.focus)
	}
}

// Assignments and grants have no name of their own: their rows say what they connect,
// by the names of the objects the snapshot holds, and by id otherwise.
func TestLinkingRowsAreNamedByWhatTheyConnect(t *testing.T) {
	t.Parallel()
	rows := map[entra.Kind][]objRow{
		entra.KindUser:                  {newObjRow(entra.KindUser, "u1", "Alice", false)},
		entra.KindRoleDefinition:        {newObjRow(entra.KindRoleDefinition, "rd1", "Global Administrator", false)},
		entra.KindApplication:           {newObjRow(entra.KindApplication, "a1", "Payroll", false)},
		entra.KindServicePrincipal:      {newObjRow(entra.KindServicePrincipal, "a1", "Payroll's id on another kind", false), newObjRow(entra.KindServicePrincipal, "s1", "Microsoft Graph", false)},
		entra.KindRoleAssignment:        {newObjRow(entra.KindRoleAssignment, "ra1", "", false), newObjRow(entra.KindRoleAssignment, "ra2", "", false)},
		entra.KindOAuth2PermissionGrant: {newObjRow(entra.KindOAuth2PermissionGrant, "g1", "", false)},
	}
	nameLinkingRows(rows, []linkingRow{
		{kind: entra.KindRoleAssignment, at: 0, props: map[string]any{"principalId": "u1", "roleDefinitionId": "rd1", "directoryScopeId": "/a1"}},
		{kind: entra.KindRoleAssignment, at: 1, props: map[string]any{"principalId": "gone", "roleDefinitionId": "rd1", "directoryScopeId": "/"}},
		{kind: entra.KindOAuth2PermissionGrant, at: 0, props: map[string]any{"clientId": "sp9", "resourceId": "s1", "scope": "User.Read"}},
	})
	for _, c := range []struct {
		row  objRow
		want string
	}{
		{rows[entra.KindRoleAssignment][0], "role Global Administrator for Alice at /Payroll"},
		{rows[entra.KindRoleAssignment][1], "role Global Administrator for gone at /"},
		{rows[entra.KindOAuth2PermissionGrant][0], "grant sp9 -> Microsoft Graph (User.Read)"},
	} {
		if c.row.name != c.want {
			t.Errorf("%s %s is named %q, want %q", c.row.kind, c.row.id, c.row.name, c.want)
		}
	}
	// The search text follows the name: a filter finds the row by the names it shows.
	if set := newRowSet(rows[entra.KindRoleAssignment]); !bytes.Contains(set.hay, []byte("alice")) {
		t.Errorf("the row set's search text lacks the principal's name: %q", set.hay)
	}
}

// esc in an empty filter input only closes the input: the object table stays, as the
// operator left it, instead of going back to the snapshot list.
func TestEscInAnEmptyFilterOnlyClosesIt(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 80, 24)
	d.keys("enter")
	b := d.m.base["snapshots"].(*browser)
	d.keys("/", "esc")
	if b.filtering || b.picking || !strings.Contains(d.view(), "/ to filter") {
		t.Fatalf("esc in an empty filter left the table: filtering=%v picking=%v\n%s", b.filtering, b.picking, d.view())
	}
	d.keys("/", "x", "backspace", "esc")
	if b.filtering || b.picking {
		t.Fatalf("esc in a filter emptied by backspace left the table: filtering=%v picking=%v", b.filtering, b.picking)
	}
}

// A filter that keeps nothing says so on Snapshots (as on the Bin), and the Diff's
// header counts what its filter keeps, not only the whole diff.
func TestFiltersSayWhatTheyKeep(t *testing.T) {
	t.Parallel()
	d := newDriver(t, 120, 30)
	d.keys("enter", "/", "zzzz")
	if v := d.view(); !strings.Contains(v, "no object matches the filter") {
		t.Errorf("a filter that matches nothing on Snapshots:\n%s", v)
	}
	d.keys("esc", ":", "diff", "enter", "/", "alice")
	if v := d.view(); !strings.Contains(v, "1 of 7 changes shown") {
		t.Errorf("the diff's filtered count:\n%s", v)
	}
}
