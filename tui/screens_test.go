package tui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// The live screens are tested on a session without a client: the test stands in for the
// tenant, sending what its commands would have answered. The hand-made tenant's first
// snapshot is the file's only one and its second plays the live capture, so the
// incident is the fixture's seven changes.

const testDomain = "contoso.example"

var testNow = t0.Add(48 * time.Hour)

type liveFixture struct {
	store *snapshots.Store
	snaps []snapshots.Snapshot
}

func newLiveDriver(t testing.TB, w, h int, readOnly bool) (*driver, *liveFixture) {
	t.Helper()
	store, _ := newTestStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	snaps, err := store.Snapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, path: "tenant.db", readOnly: readOnly, graphs: map[int64]*graphx.Graph{}, now: func() time.Time { return testNow }}
	e.live = &liveEnv{url: "https://graph.example.test/v1.0", ctx: ctx, cancel: cancel, operator: "console test"}
	d := &driver{t: t, m: newModel(e)}
	d.send(tea.WindowSizeMsg{Width: w, Height: h})
	d.send(connInfoMsg{conn: connSimulated, domain: testDomain})
	d.send(storeLoadedMsg{tenant: tenantID, snaps: snaps[:1]})
	d.send(liveCapturedMsg{gen: e.live.liveGen, state: snapshots.State{Store: store, Snapshot: snaps[1], Live: true}})
	d.send(binLoadedMsg{rep: testBin()})
	return d, &liveFixture{store: store, snaps: snaps}
}

func strp(s string) *string { return &s }
func intp(n int) *int       { return &n }

// testBin is a bin with one object in each purge band.
func testBin() *engine.BinReport {
	item := func(kind entra.Kind, id, name string, days int, actor *string, deps *int) engine.BinItem {
		purge := testNow.Add(time.Duration(days)*24*time.Hour - time.Hour)
		return engine.BinItem{Kind: kind, ID: id, DisplayName: name, DeletedAt: purge.Add(-engine.Retention), PurgeAt: purge, DaysLeft: days, Actor: actor, Dependents: deps}
	}
	return &engine.BinReport{Now: testNow, Snapshot: 1, Warnings: []string{}, Items: []engine.BinItem{
		item(entra.KindUser, uCarol, "Carol", 2, strp("mallory@contoso.example"), intp(1)),
		item(entra.KindGroup, gSales, "Sales", 6, strp("mallory@contoso.example"), intp(0)),
		item(entra.KindApplication, appPay, "Payroll", 25, nil, nil),
	}}
}

// testPlan is the plan back to snapshot 1 from the fixture's second snapshot.
func (f *liveFixture) plan(t testing.TB, scope ...graphx.NodeID) *engine.Plan {
	t.Helper()
	p, err := engine.BuildPlan(context.Background(), snapshots.State{Store: f.store, Snapshot: f.snaps[0]},
		snapshots.State{Store: f.store, Snapshot: f.snaps[1], Live: true}, engine.PlanOptions{Scope: scope, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// toPlan opens the Plan screen from the diff and hands it the built plan.
func (d *driver) toPlan(f *liveFixture) *planScreen {
	d.keys(":", "diff", "enter", "p")
	p := d.m.base["plan"].(*planScreen)
	d.send(planBuiltMsg{tag: p.tag, plan: f.plan(d.t)})
	return p
}

// startRun builds the fixture's plan and applies it, typing the domain: the Run
// screen then waits for the engine's events, which the test sends.
func (d *driver) startRun(f *liveFixture) (*planScreen, *runScreen) {
	p := d.toPlan(f)
	d.keys("a", testDomain, "enter")
	return p, d.m.base["run"].(*runScreen)
}

// runEvents is a short run of the fixture's plan as the engine reports it.
func runEvents(plan *engine.Plan) []engine.Event {
	at := testNow
	var evs []engine.Event
	tick := func() time.Time { at = at.Add(time.Second); return at }
	prog := func(done, writes int) *engine.Progress {
		p := &engine.Progress{Total: 0, Done: done, Writes: int64(writes), WritesPerSecond: float64(writes) / at.Sub(testNow).Seconds(),
			BudgetWritesPerSecond: 20, Pace: 0.9, Requests: int64(writes + 3), ElapsedSeconds: at.Sub(testNow).Seconds(), ETASeconds: 4}
		left := done
		for _, st := range plan.Stages {
			sp := engine.StageProgress{Name: st.Name, Total: len(st.Steps)}
			sp.Done = min(left, sp.Total)
			left -= sp.Done
			p.Stages = append(p.Stages, sp)
			p.Total += sp.Total
		}
		return p
	}
	evs = append(evs, engine.Event{Type: engine.EventRun, At: tick(), Message: "starting plan 0123456789ab"})
	done := 0
	for _, st := range plan.Stages {
		if len(st.Steps) == 0 {
			continue
		}
		evs = append(evs, engine.Event{Type: engine.EventStage, At: tick(), Stage: st.Name, Progress: prog(done, done*2)})
		for _, s := range st.Steps {
			state := snapshots.StepDone
			ev := &engine.StepEvent{ID: s.ID, Kind: s.Kind, ObjectID: s.ObjectID, DisplayName: s.DisplayName, Action: s.Action, State: state}
			if s.Action == engine.ActionLockoutCheck {
				ev.Note = "3 policies checked: none blocks every administrator (1) or a break-glass account (1)"
			}
			evs = append(evs, engine.Event{Type: engine.EventStep, At: tick(), Stage: st.Name, Step: ev})
			done++
			evs = append(evs, engine.Event{Type: engine.EventProgress, At: tick(), Progress: prog(done, done*2+done%3)})
		}
	}
	evs = append(evs, engine.Event{Type: engine.EventThrottle, At: tick(), WaitSeconds: 2.5, Message: "throttled"})
	return evs
}

func testCalls() []graphapi.Call {
	var calls []graphapi.Call
	for i := range 30 {
		c := graphapi.Call{Time: testNow.Add(time.Duration(i) * 300 * time.Millisecond), Method: "POST", Path: "/$batch", Status: 200, Duration: 42 * time.Millisecond, Batch: true, Items: 20}
		if i%7 == 3 {
			c.Status, c.Throttled, c.Retry = 429, true, 1
		}
		if i%5 == 0 {
			c = graphapi.Call{Time: c.Time, Method: "GET", Path: "/identity/conditionalAccess/policies", Status: 200, Duration: 12 * time.Millisecond}
		}
		calls = append(calls, c)
	}
	return calls
}

func TestLiveOverviewShowsTheIncidentAndTheBin(t *testing.T) {
	t.Parallel()
	d, _ := newLiveDriver(t, 120, 30, false)
	v := d.view()
	for _, want := range []string{"SIMULATED", "simulated: https://graph.example.test/v1.0", "(" + testDomain + ")",
		"3 objects · nearest purge in 2 days: user Carol", "7 changes since snapshot 1", "hard deleted      1  user 1"} {
		if !strings.Contains(v, want) {
			t.Errorf("overview lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "READ-ONLY") {
		t.Errorf("a writable live session shows no READ-ONLY badge:\n%s", v)
	}
}

// While the tenant is being read, the overview says how far the read is, brought up to
// date on each tick for as long as the capture runs.
func TestLiveOverviewShowsHowFarTheReadIs(t *testing.T) {
	t.Parallel()
	store, _ := newTestStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	now := testNow
	e := &env{store: store, path: "tenant.db", graphs: map[int64]*graphx.Graph{}, now: func() time.Time { return now }}
	e.live = &liveEnv{url: "https://graph.example.test/v1.0", ctx: ctx, cancel: cancel, operator: "console test"}
	d := &driver{t: t, m: newModel(e)}
	d.send(tea.WindowSizeMsg{Width: 140, Height: 30})
	e.startCapture()
	// Without a client startCapture reads nothing: follow a read as it does with one.
	observe, _ := e.live.read.begin("overview", e.now)
	if v := d.view(); !strings.Contains(v, "Incident    reading the tenant…\n") {
		t.Fatalf("before any object arrived:\n%s", v)
	}
	now = now.Add(2 * time.Second)
	observe(snapshots.CaptureProgress{Kind: "user", Objects: 3000, Total: 10_000})
	observe(snapshots.CaptureProgress{Kind: "application", Objects: 40, Total: 40, Done: true})
	tick := func() tea.Cmd {
		nm, cmd := d.m.Update(readingTickMsg{owner: "overview", gen: e.live.read.gen})
		d.m = nm.(Model)
		return cmd
	}
	if next := tick(); next == nil {
		t.Error("a tick during a capture schedules no next one")
	}
	if v, want := d.view(), "reading the tenant… 3040 objects, 1520/s, ETA 5s; user 3000 of 10000"; !strings.Contains(v, want) {
		t.Errorf("overview lacks %q:\n%s", want, v)
	}
	d.send(liveCapturedMsg{gen: e.live.liveGen, err: errors.New("Graph went away")})
	if next := tick(); next != nil {
		t.Error("a tick after the capture ended schedules another")
	}
}

// A refresh keeps the incident found before on screen, and says the tenant is being
// read again.
func TestLiveOverviewKeepsTheIncidentWhileReadingAgain(t *testing.T) {
	t.Parallel()
	d, _ := newLiveDriver(t, 160, 30, false)
	d.m.env.startCapture()
	if v, want := d.view(), "7 changes since snapshot 1: 1 hard-deleted"; !strings.Contains(v, want) || !strings.Contains(v, "· reading the tenant again…") {
		t.Errorf("overview during a refresh lacks %q and the reading:\n%s", want, v)
	}
}

// After a restore, the incident line says which of its hard deletions a restore already
// recreated, instead of leaving the responder to wonder whether it worked.
func TestLiveOverviewSaysWhatARestoreRecreated(t *testing.T) {
	t.Parallel()
	d, _ := newLiveDriver(t, 200, 30, false)
	l := d.m.env.live
	// The fixture's incident hard-deleted user Carol; say a restore recreated her as an
	// object the incident shows as added.
	var gone, added string
	for _, c := range l.incident.Changes {
		switch c.Change {
		case snapshots.HardDeleted:
			gone = c.ID
		case snapshots.Added:
			added = c.ID
		}
	}
	if gone == "" || added == "" {
		t.Fatalf("the fixture's incident has no hard-deleted or no added object: %+v", l.incident.Summary)
	}
	d.send(diffLoadedMsg{from: l.incFrom, to: l.state.Snapshot.ID, live: true, res: l.incident, copies: engine.NewRecreated(map[string]string{gone: added})})
	if v, want := d.view(), "(1 of the hard-deleted were recreated by a restore, their copies among the added: :verify matches them)"; !strings.Contains(v, want) {
		t.Errorf("overview lacks %q:\n%s", want, v)
	}
	// The Diff screen marks both rows.
	d.keys(":", "diff", "enter")
	v := d.view()
	for _, want := range []string{"recreated by a restore as " + added, "a restore's copy of " + gone} {
		if !strings.Contains(v, want) {
			t.Errorf("diff screen lacks %q:\n%s", want, v)
		}
	}
}

// R reads the file's snapshot list again with the tenant: a capture taken from
// another shell since the console opened shows up, and b plans back to it, as the
// CLI's --from latest would. A re-read that fails leaves the list as it was.
func TestRefreshReadsTheSnapshotListAgain(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 120, 40, false) // the session read the file when it held snapshot 1 alone
	if v := d.view(); !strings.Contains(v, "Snapshots (1)") {
		t.Fatalf("the session starts with one snapshot:\n%s", v)
	}
	d.keys("R")
	if v := d.view(); !strings.Contains(v, "Snapshots (2)") || !strings.Contains(v, "after incident") {
		t.Fatalf("R should list the snapshot taken since:\n%s", v)
	}
	d.keys(":", "plan", "enter", "b")
	if p := d.m.base["plan"].(*planScreen); p.snap != f.snaps[1].ID {
		t.Fatalf("b after R plans back to snapshot %d, want the newest, %d", p.snap, f.snaps[1].ID)
	}
	f.store.Close()
	d.keys(":", "overview", "enter", "R")
	if v := d.view(); d.m.err != nil || !strings.Contains(v, "Snapshots (2)") || !strings.Contains(v, "reading the snapshot list again:") {
		t.Fatalf("a failed re-read should say so and keep the list: fatal %v\n%s", d.m.err, v)
	}
}

func TestDiffPlansOnlyTheFilteredChanges(t *testing.T) {
	t.Parallel()
	d, _ := newLiveDriver(t, 160, 30, false)
	d.keys(":", "diff", "enter")
	diff := d.m.base["diff"].(*diffScreen)
	if diff.res == nil || len(diff.res.Changes) < 2 {
		t.Fatalf("the fixture's incident should have changes: %+v", diff.res)
	}
	c := diff.res.Changes[len(diff.res.Changes)-1]
	d.keys("/", c.ID, "enter")
	if !strings.Contains(d.view(), "plan the filtered changes") {
		t.Errorf("a filtered diff should say p plans what it shows:\n%s", d.view())
	}
	d.keys("p")
	p := d.m.base["plan"].(*planScreen)
	if d.m.Current() != "Plan" || len(p.scope) != 1 || p.scope[0] != (graphx.NodeID{Kind: c.Kind, ID: c.ID}) {
		t.Fatalf("p on a filtered diff should plan the change it shows: on %q, scope %v", d.m.Current(), p.scope)
	}
	d.keys(":", "diff", "enter", "/", "no-such-object", "enter", "p")
	if d.m.Current() != "Diff" || !strings.Contains(d.view(), "no change matches the filter, so there is nothing to plan") {
		t.Fatalf("p with nothing kept should say so and stay:\n%s", d.view())
	}
	d.keys("esc", "p")
	if d.m.Current() != "Plan" || len(p.scope) != 0 {
		t.Fatalf("p after esc should plan the whole restore: on %q, scope %v", d.m.Current(), p.scope)
	}
}

func TestJumpToTheRecoveryScreens(t *testing.T) {
	t.Parallel()
	d, _ := newLiveDriver(t, 80, 24, false)
	for _, c := range []struct{ typed, want string }{{"bin", "Recycle bin"}, {"pl", "Plan"}, {"run", "Run"}, {"v", "Verify"}, {"b", "Recycle bin"}} {
		d.keys(":", c.typed, "enter")
		if got := d.m.Current(); got != c.want {
			t.Errorf(":%s went to %q, want %q", c.typed, got, c.want)
		}
	}
}

func TestBinMarksAndPlansTheMarkedObjects(t *testing.T) {
	t.Parallel()
	d, _ := newLiveDriver(t, 120, 30, false)
	d.keys(":", "bin", "enter")
	b := d.m.base["bin"].(*binScreen)
	if it, _ := b.selected(); it.ID != uCarol {
		t.Fatalf("soonest purge first: cursor on %s, want Carol", it.DisplayName)
	}
	d.keys(" ", "j", " ") // mark Carol, skip Sales, mark Payroll
	if len(b.marked) != 2 || !b.marked[graphx.NodeID{Kind: entra.KindUser, ID: uCarol}] || !b.marked[graphx.NodeID{Kind: entra.KindApplication, ID: appPay}] {
		t.Fatalf("marked %v", b.marked)
	}
	if !strings.Contains(d.view(), "2 marked") {
		t.Fatalf("the bin should count the marks:\n%s", d.view())
	}
	d.keys("/", "pay", "enter")
	if len(b.rows) != 1 {
		t.Fatalf("filter pay kept %d rows", len(b.rows))
	}
	d.keys("esc", "enter")
	p := d.m.base["plan"].(*planScreen)
	if d.m.Current() != "Plan" || !p.building || p.snap != 1 || len(p.scope) != 2 || p.scope[0].ID != uCarol || p.scope[1].ID != appPay {
		t.Fatalf("enter should plan the marked objects: on %q, building %v, snap %d, scope %v", d.m.Current(), p.building, p.snap, p.scope)
	}
	if !strings.Contains(d.view(), "for 2 objects") {
		t.Fatalf("the plan screen should say what it builds:\n%s", d.view())
	}
}

func TestPlanTogglesStepsWithTheirDependents(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 120, 40, false)
	p := d.toPlan(f)
	if p.plan == nil || p.building {
		t.Fatalf("no plan on the screen")
	}
	// Find a step something else depends on, and which depends on another step itself
	// (putting it back must not count that one, which never went out).
	var line, deps int
	for i, l := range p.lines {
		if l.step >= 0 {
			s := p.plan.Stages[l.stage].Steps[l.step]
			if n := len(p.dependents[s.ID]); n > deps && len(s.DependsOn) > 0 {
				line, deps = i, n
			}
		}
	}
	if deps == 0 {
		t.Fatal("the fixture's plan has no step with dependents")
	}
	p.cursor = line
	step := p.plan.Stages[p.lines[line].stage].Steps[p.lines[line].step]
	d.keys(" ")
	if !p.excluded[step.ID] || len(p.excluded) < 1+deps {
		t.Fatalf("excluding %s should exclude its %d dependents: %v", step.ID, deps, p.excluded)
	}
	if !strings.Contains(p.note, "that depend") {
		t.Fatalf("the screen should say dependents went too: %q", p.note)
	}
	others := func(note string) string {
		_, n, _ := strings.Cut(note, ", and ")
		n, _, _ = strings.Cut(n, " ")
		return n
	}
	tookOut := others(p.note)
	eff := p.effective()
	for _, st := range eff.Stages {
		for _, s := range st.Steps {
			if p.excluded[s.ID] {
				t.Fatalf("effective plan keeps excluded step %s", s.ID)
			}
			for _, dep := range s.DependsOn {
				if p.excluded[dep] {
					t.Fatalf("step %s still depends on excluded %s", s.ID, dep)
				}
			}
		}
	}
	if _, err := engine.ReadPlan(planFile(t, eff)); err != nil {
		t.Fatalf("the edited plan must still be a valid plan: %v", err)
	}
	d.keys(" ")
	if len(p.excluded) != 0 || !strings.Contains(p.note, "put back") {
		t.Fatalf("putting the step back should bring back what went out with it: excluded %v, note %q", p.excluded, p.note)
	}
	if back := others(p.note); back != tookOut {
		t.Errorf("took out %s other steps but put back %s (%q): steps that never went out are not put back", tookOut, back, p.note)
	}
	// A stage row takes the whole stage out.
	for i, l := range p.lines {
		if l.step < 0 && len(p.plan.Stages[l.stage].Steps) > 0 {
			p.cursor = i
			break
		}
	}
	st := p.plan.Stages[p.lines[p.cursor].stage]
	d.keys(" ")
	for _, s := range st.Steps {
		if !p.excluded[s.ID] {
			t.Fatalf("stage %s: step %s still in", st.Name, s.ID)
		}
	}
	if !strings.Contains(d.view(), "[ ] "+st.Name) {
		t.Fatalf("the stage row should show it is out:\n%s", d.view())
	}
}

// a while the plan is being built says so: there is a plan coming, not none.
func TestApplyWhileBuildingSaysThePlanIsComing(t *testing.T) {
	t.Parallel()
	d, _ := newLiveDriver(t, 120, 40, false)
	d.keys(":", "plan", "enter", "a")
	if v := d.view(); !strings.Contains(v, "no plan to apply yet") {
		t.Errorf("a with no plan:\n%s", v)
	}
	d.keys("b", "a")
	if v := d.view(); d.m.Current() != "Plan" || !strings.Contains(v, "the plan is still being built") || strings.Contains(v, "no plan to apply yet") {
		t.Errorf("a while the plan is built: on %q\n%s", d.m.Current(), v)
	}
}

func TestReadOnlyRefusesEveryWrite(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 120, 30, true)
	if v := d.view(); !strings.Contains(v, "SIMULATED · READ-ONLY") {
		t.Fatalf("a read-only session shows the badge:\n%s", v)
	}
	d.toPlan(f)
	d.keys("s")
	if !strings.Contains(d.view(), "read-only: no writes") {
		t.Fatalf("s in a read-only session should say so:\n%s", d.view())
	}
	d.keys("a")
	if d.m.Current() != "Plan" || !strings.Contains(d.view(), "read-only: no writes") {
		t.Fatalf("a in a read-only session should stay and say so: on %q\n%s", d.m.Current(), d.view())
	}
	if !strings.Contains(d.view(), "apply (read-only: no writes)") {
		t.Fatalf("the help should show apply as refused:\n%s", d.view())
	}
	d = newDriver(t, 80, 24)
	d.keys(":", "run", "enter")
	if !strings.Contains(d.view(), "offline (read-only: no writes)") {
		t.Fatalf("offline, the run screen says it cannot write:\n%s", d.view())
	}
}

// Only the tenant's primary domain starts a run: in any case, as DNS compares names,
// but no other character (a look-alike) will do.
func TestRunStartsOnlyOnTheExactDomain(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 120, 40, false)
	d.toPlan(f)
	d.keys("a")
	r := d.m.base["run"].(*runScreen)
	if d.m.Current() != "Run" || r.phase != runConfirm {
		t.Fatalf("a should open the confirmation: on %q, phase %d", d.m.Current(), r.phase)
	}
	v := d.view()
	for _, want := range []string{tenantID, testDomain, "restore-from-bin", "relink", "Type the tenant's primary domain"} {
		if !strings.Contains(v, want) {
			t.Errorf("the confirmation lacks %q:\n%s", want, v)
		}
	}
	for _, miss := range []string{"contoso.exampl", "contoso.examples", "contoſo.example"} { // ſ, the long s, folds to s
		d.keys(miss, "enter")
		if r.phase != runConfirm || !strings.Contains(d.view(), "is not the tenant's primary domain") {
			t.Fatalf("a near miss, %q, must not start: phase %d\n%s", miss, r.phase, d.view())
		}
	}
	d.keys("q")
	if d.quit || r.typed != "q" {
		t.Fatalf("q while confirming is a letter: quit %v, typed %q", d.quit, r.typed)
	}
	d.keys("esc")
	if r.phase != runIdle {
		t.Fatalf("esc should cancel the confirmation")
	}
	d.keys("a", "Contoso.EXAMPLE", "enter")
	if r.phase != runRunning || r.control == nil || r.run != 1 {
		t.Fatalf("the domain, in any case (DNS names are case-insensitive), should start the run: phase %d\n%s", r.phase, d.view())
	}
	d.keys("q")
	if d.quit || !strings.Contains(d.view(), "a run is in progress: p pauses it") {
		t.Fatalf("q during a run should warn, not quit:\n%s", d.view())
	}
	d.keys(":", "run", "enter", "p", "q")
	if v := d.view(); d.quit || !strings.Contains(v, "a run is paused: p resumes it") || strings.Contains(v, "p pauses it") {
		t.Fatalf("q during a paused run should say p resumes it:\n%s", v)
	}
}

// A paste is typed first line only, whichever line break the terminal sends: xterm,
// VTE and tmux send CR, and a CR must not join the lines ("domain\rq" is not
// "domainq").
func TestPasteTypesTheFirstLineOnly(t *testing.T) {
	t.Parallel()
	for _, brk := range []string{"\r", "\n", "\r\n"} {
		d, f := newLiveDriver(t, 120, 40, false)
		d.toPlan(f)
		d.keys("a")
		d.send(tea.PasteMsg{Content: testDomain + brk + "q" + brk})
		if r := d.m.base["run"].(*runScreen); r.typed != testDomain {
			t.Errorf("a paste with %q line breaks typed %q at the apply prompt, want %q", brk, r.typed, testDomain)
		}
		d.keys("esc", ":", "bin", "enter", "/")
		d.send(tea.PasteMsg{Content: "carol" + brk + "sales"})
		if b := d.m.base["bin"].(*binScreen); b.filter != "carol" {
			t.Errorf("a paste with %q line breaks typed %q into the filter, want %q", brk, b.filter, "carol")
		}
	}
}

// On an 80-column terminal a failure on the Run screen wraps, so Graph's reason, at the
// end of the line, is read there rather than cut off.
func TestRunFailureWrapsOnANarrowTerminal(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 80, 40, false)
	p, r := d.startRun(f)
	fail := engine.Event{Type: engine.EventStep, At: testNow.Add(time.Minute), Stage: engine.StageRelink,
		Step: &engine.StepEvent{ID: "x", Kind: "group", DisplayName: "Sales", Action: engine.ActionAddLink, State: snapshots.StepFailed, Error: "Graph answered 400: one or more added object references already exist for the following modified properties: 'members'"}}
	d.send(runBatchMsg{run: r.run, events: append(runEvents(p.plan), fail)})
	v := d.view()
	if !strings.Contains(v, "'members'") {
		t.Fatalf("the failure's reason is cut off at 80 columns:\n%s", v)
	}
	for _, l := range strings.Split(v, "\n") {
		if ansi.StringWidth(l) > 80 {
			t.Errorf("a line wider than the terminal: %q", l)
		}
	}
}

func TestRunFoldsEventsAndControls(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 120, 40, false)
	p, r := d.startRun(f)
	evs := runEvents(p.plan)
	fail := engine.Event{Type: engine.EventStep, At: testNow.Add(time.Minute), Stage: engine.StageRelink,
		Step: &engine.StepEvent{ID: "x", Kind: "group", DisplayName: "Sales", Action: engine.ActionAddLink, State: snapshots.StepFailed, Error: "Graph answered 400: one or more added object references already exist"}}
	d.send(runBatchMsg{run: r.run, events: append(evs, fail)})
	d.send(runBatchMsg{run: r.run - 1, events: []engine.Event{fail}}) // an earlier run's leftover
	if len(r.failures) != 1 || r.throttles != 1 || r.waited != 2.5 || len(r.rates) == 0 {
		t.Fatalf("failures %d, throttles %d waited %v, %d rate samples", len(r.failures), r.throttles, r.waited, len(r.rates))
	}
	if !strings.HasPrefix(d.m.env.live.lockout, "passed: 3 policies checked") {
		t.Fatalf("the lockout verdict should come from the run: %q", d.m.env.live.lockout)
	}
	if !d.m.RunInProgress() {
		t.Error("a running restore should count as in progress (quitting stops it)")
	}
	// Between events the client's counters and the clock keep the screen moving.
	stats := r.base
	stats.Requests, stats.Retries, stats.Throttled = stats.Requests+400, stats.Retries+64, stats.Throttled+37
	d.send(callsMsg{run: r.run, calls: testCalls(), stats: stats, at: r.started.Add(164 * time.Second)})
	for _, want := range []string{"retries 64", "throttled 37", "elapsed 2m44s"} {
		if v := d.view(); !strings.Contains(v, want) {
			t.Errorf("a run between events does not show %q:\n%s", want, v)
		}
	}
	d.keys("p")
	if !r.paused || !r.control.Paused() {
		t.Fatal("p should pause the run")
	}
	d.keys("p")
	if r.paused || r.control.Paused() {
		t.Fatal("p again should resume")
	}
	for range 20 {
		d.keys("+")
	}
	if r.pace != 1 || r.control.Pace() != 1 {
		t.Fatalf("pace clamps at 1: %v", r.pace)
	}
	for range 20 {
		d.keys("-")
	}
	if r.pace != 0.1 || r.control.Pace() != 0.1 {
		t.Fatalf("pace clamps at 0.1: %v", r.pace)
	}
	d.send(runBatchMsg{run: r.run, done: &runDone{report: &engine.ApplyReport{Done: 10, Failed: 1}}})
	if r.phase != runFinished || d.m.RunInProgress() {
		t.Fatal("the end should finish the run")
	}
	d.keys("v")
	if d.m.Current() != "Verify" || !d.m.base["verify"].(*verifyScreen).running {
		t.Fatalf("v after a run should verify: on %q", d.m.Current())
	}
}

// The lockout verdict belongs to the version of the plan that ran: the Plan screen
// shows it on that version alone, and "pending" on a plan built again since or with a
// step taken out, whose check looks at the tenant now or at other policies.
func TestLockoutVerdictBelongsToThePlanThatRan(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 120, 40, false)
	p, r := d.startRun(f)
	d.send(runBatchMsg{run: r.run, events: runEvents(p.plan), done: &runDone{report: &engine.ApplyReport{}}})
	const passed, pending = "Lockout check: passed: 3 policies checked", "Lockout check: pending: runs during apply"
	verdict := func(when, want string) {
		t.Helper()
		if v := strings.Join(strings.Fields(d.view()), " "); !strings.Contains(v, want) {
			t.Errorf("%s: the plan's header lacks %q:\n%s", when, want, d.view())
		}
	}
	d.keys(":", "plan", "enter")
	verdict("the plan that ran", passed)
	d.keys("j", " ")
	verdict("a step taken out since the run", pending)
	d.keys(" ")
	verdict("the step put back: the plan that ran again", passed)
	d.keys("b")
	d.send(planBuiltMsg{tag: p.tag, plan: f.plan(t)})
	verdict("a plan built again since the run", pending)
}

func TestForwardDropsProgressNeverSteps(t *testing.T) {
	t.Parallel()
	ch := make(chan any, 2)
	ctx, cancel := context.WithCancel(context.Background())
	send := forward(ctx, ch)
	for range 5 {
		send(engine.Event{Type: engine.EventProgress})
	}
	if len(ch) != 2 {
		t.Fatalf("progress events beyond the buffer are dropped, not waited for: %d queued", len(ch))
	}
	sent := make(chan struct{})
	go func() {
		send(engine.Event{Type: engine.EventStep, Step: &engine.StepEvent{ID: "s1"}})
		close(sent)
	}()
	<-ch
	<-sent
	<-ch
	if ev := (<-ch).(engine.Event); ev.Type != engine.EventStep {
		t.Fatalf("the step event must arrive: got %s", ev.Type)
	}
	// Once the session has ended nothing reads the channel: a step event no longer
	// waits for room, so the run can stop.
	send(engine.Event{Type: engine.EventProgress})
	send(engine.Event{Type: engine.EventProgress})
	cancel()
	send(engine.Event{Type: engine.EventStep, Step: &engine.StepEvent{ID: "s2"}})
}

func TestPumpBatchesAndEnds(t *testing.T) {
	t.Parallel()
	ch := make(chan any, 10)
	for range 3 {
		ch <- engine.Event{Type: engine.EventProgress}
	}
	ch <- runDone{report: &engine.ApplyReport{}}
	close(ch)
	msg := pump(7, ch)().(runBatchMsg)
	if msg.run != 7 || len(msg.events) != 3 || msg.done == nil {
		t.Fatalf("pump: %+v", msg)
	}
	if pump(7, ch)() != nil {
		t.Fatal("a closed channel ends the pump")
	}
}

// The writes/s sparkline is what each second of the run wrote: events a few
// milliseconds apart make no spike, a stall shows as a gap, and while the run goes on
// its last second, still being counted, is not drawn. It keeps the last 512 seconds.
func TestRunSparklineCountsWritesPerSecond(t *testing.T) {
	t.Parallel()
	start := func() (*driver, *runScreen) {
		d, f := newLiveDriver(t, 120, 40, false)
		_, r := d.startRun(f)
		return d, r
	}
	progress := func(after time.Duration, writes int64) engine.Event {
		return engine.Event{Type: engine.EventProgress, At: testNow.Add(after), Progress: &engine.Progress{Writes: writes}}
	}
	sparkLine := func(d *driver) string {
		for _, l := range strings.Split(d.view(), "\n") {
			if strings.HasPrefix(l, "writes/s") {
				return l
			}
		}
		return ""
	}
	d, r := start()
	// 20 writes in the first second, by events 100ms apart (between them, 100/s); 5 in
	// the next; nothing for three seconds; then 5.
	d.send(runBatchMsg{run: r.run, events: []engine.Event{progress(0, 0), progress(100*time.Millisecond, 10),
		progress(200*time.Millisecond, 20), progress(1500*time.Millisecond, 25), progress(5200*time.Millisecond, 30)}})
	if want := []float64{20, 5, 0, 0, 0, 5}; !slices.Equal(r.rates, want) {
		t.Fatalf("writes per second %v, want %v", r.rates, want)
	}
	if got, want := sparkLine(d), "writes/s █▃▁▁▁"; got != want {
		t.Errorf("while running, the sparkline draws the seconds that are over: %q, want %q", got, want)
	}
	d.send(runBatchMsg{run: r.run, done: &runDone{report: &engine.ApplyReport{Done: 1, Progress: engine.Progress{Writes: 30}}}})
	if got, want := sparkLine(d), "writes/s █▃▁▁▁▃"; got != want {
		t.Errorf("after the run, the sparkline draws every second: %q, want %q", got, want)
	}

	d, r = start()
	var evs []engine.Event
	for s := range 600 {
		evs = append(evs, progress(time.Duration(s)*time.Second, int64(3*s)))
	}
	d.send(runBatchMsg{run: r.run, events: evs})
	if len(r.rates) != rateSeconds || r.rates[0] != 3 || r.rates[rateSeconds-1] != 3 {
		t.Fatalf("a 600s run keeps its last %d seconds of 3 writes: %d kept, first %v, last %v", rateSeconds, len(r.rates), r.rates[0], r.rates[len(r.rates)-1])
	}
	d.send(runBatchMsg{run: r.run, events: []engine.Event{progress(2*time.Hour, 1800)}})
	if len(r.rates) != rateSeconds || r.rates[0] != 0 || r.rates[rateSeconds-1] != 1800-3*599 {
		t.Fatalf("after a stall longer than what is kept: %d kept, first %v, last %v", len(r.rates), r.rates[0], r.rates[len(r.rates)-1])
	}
}

func TestSparkline(t *testing.T) {
	t.Parallel()
	if got := sparkline([]float64{0, 1, 2, 3, 4, 5, 6, 7}, 8); got != "▁▂▃▄▅▆▇█" {
		t.Fatalf("sparkline %q", got)
	}
	if got := sparkline([]float64{5, 5, 1, 9}, 2); got != "▂█" {
		t.Fatalf("the last w samples: %q", got)
	}
	if sparkline(nil, 5) != "" {
		t.Fatal("no samples, no line")
	}
}

// TestLiveViewGolden renders the recovery screens at 80x24 and 160x48, ANSI stripped;
// regenerate with go test ./tui -run TestLiveViewGolden -update.
func TestLiveViewGolden(t *testing.T) {
	screens := []struct {
		name string
		do   func(d *driver, f *liveFixture)
	}{
		{"overview-live", func(*driver, *liveFixture) {}},
		{"bin", func(d *driver, _ *liveFixture) { d.keys(":", "bin", "enter", " ") }},
		{"diff-live", func(d *driver, _ *liveFixture) { d.keys(":", "diff", "enter") }},
		{"plan", func(d *driver, f *liveFixture) { d.toPlan(f) }},
		{"plan-excluded", func(d *driver, f *liveFixture) { d.toPlan(f); d.keys("j", "j", " ") }},
		{"run-confirm", func(d *driver, f *liveFixture) { d.toPlan(f); d.keys("a", "contoso") }},
		{"run", func(d *driver, f *liveFixture) {
			p, r := d.startRun(f)
			evs := runEvents(p.plan)
			d.send(runBatchMsg{run: r.run, events: evs[:len(evs)/2]})
			d.send(callsMsg{run: r.run, calls: testCalls()})
		}},
		{"run-finished", func(d *driver, f *liveFixture) {
			p, r := d.startRun(f)
			d.send(runBatchMsg{run: r.run, events: runEvents(p.plan)})
			d.send(callsMsg{run: r.run, calls: testCalls()})
			total := 0
			for _, st := range p.plan.Stages {
				total += len(st.Steps)
			}
			prog := *r.prog
			d.send(runBatchMsg{run: r.run, done: &runDone{report: &engine.ApplyReport{Done: total, Progress: prog, Lockouts: []engine.Lockout{}}}})
		}},
		{"verify", func(d *driver, _ *liveFixture) {
			d.keys(":", "verify", "enter", "v")
			v := d.m.base["verify"].(*verifyScreen)
			d.send(verifiedMsg{tag: v.tag, rep: &engine.VerifyReport{Snapshot: 1, Clean: false,
				Summary: snapshots.Summary{Modified: 1},
				Differences: []snapshots.Change{{Kind: entra.KindUser, ID: uAlice, DisplayName: "Alice", Change: snapshots.Modified,
					Properties: []snapshots.PropertyChange{{Path: "department", Before: "Finance", After: "Treasury"}}}},
				Unrestorable: []engine.Unrestorable{
					{Kind: "user", ID: uBob, NewID: "11111111-1111-4111-8111-0000000000b2", DisplayName: "Bob", What: "password (a generated one was issued)"},
					{Kind: "application", ID: appPay, DisplayName: "Payroll", What: "client secrets and certificates"},
				}}})
		}},
	}
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		for _, s := range screens {
			t.Run(fmt.Sprintf("%s-%dx%d", s.name, size[0], size[1]), func(t *testing.T) {
				d, f := newLiveDriver(t, size[0], size[1], false)
				s.do(d, f)
				golden.RequireEqual(t, d.view())
			})
		}
	}
}

// planFile is plan as the console saves it.
func planFile(t testing.TB, plan *engine.Plan) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := engine.WritePlanJSON(&b, plan); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestPlanSavesNextToTheSnapshotFile(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 120, 40, false)
	p := d.toPlan(f)
	d.keys("j", " ", "s") // take the first step out, then save
	path := filepath.Join(filepath.Dir(f.store.Path()), "PLAN.json")
	if p.saved != path || !strings.Contains(d.view(), "plan saved to "+path) {
		t.Fatalf("s should save to %s and say so: saved %q\n%s", path, p.saved, d.view())
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the plan file must be 0600: %v %v", info.Mode(), err)
	}
	raw, _ := os.ReadFile(path)
	plan, err := engine.ReadPlan(raw)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(f.store.Path())
	if plan.DB != abs {
		t.Fatalf("the saved plan names its snapshot file: %q, want %q", plan.DB, abs)
	}
	for _, st := range plan.Stages {
		for _, s := range st.Steps {
			if p.excluded[s.ID] {
				t.Fatalf("the saved plan keeps excluded step %s", s.ID)
			}
		}
	}
}

// Asking again for a plan, a verify or the overview's read cancels that owner's read in
// flight (its answer would be thrown away), and no other owner's.
func TestANewReadCancelsTheOneItReplaces(t *testing.T) {
	t.Parallel()
	l := &liveEnv{ctx: context.Background()}
	first := l.readContext("plan")
	verify := l.readContext("verify")
	second := l.readContext("plan")
	if first.Err() == nil {
		t.Error("the first plan read was not cancelled by the second")
	}
	if second.Err() != nil || verify.Err() != nil {
		t.Errorf("reads still wanted were cancelled: plan %v, verify %v", second.Err(), verify.Err())
	}
}

// One esc does not lose the marks: it asks, a second clears them, any other key keeps
// them; and esc closes the help before anything else.
func TestBinEscAsksBeforeClearingTheMarks(t *testing.T) {
	t.Parallel()
	d, _ := newLiveDriver(t, 120, 30, false)
	d.keys(":", "bin", "enter")
	b := d.m.base["bin"].(*binScreen)
	d.keys(" ", " ", "?", "esc")
	if len(b.marked) != 2 || d.m.fullHelp {
		t.Fatalf("esc with the help open: %d marks, help open %v; want the help closed and 2 marks", len(b.marked), d.m.fullHelp)
	}
	d.keys("esc")
	if len(b.marked) != 2 || !strings.Contains(d.view(), "esc again clears 2 marks") {
		t.Fatalf("one esc: %d marks\n%s", len(b.marked), d.view())
	}
	d.keys("k", "esc")
	if len(b.marked) != 2 {
		t.Fatalf("esc, another key, esc cleared the marks")
	}
	d.keys("?", "?", "esc") // a key the root takes (help) also keeps them
	if len(b.marked) != 2 {
		t.Fatalf("esc, help, esc cleared the marks")
	}
	d.keys("esc")
	if len(b.marked) != 0 || strings.Contains(d.view(), "esc again") {
		t.Fatalf("esc twice: %d marks left\n%s", len(b.marked), d.view())
	}
}

// Space marks and moves down; on the last row it cannot move, so a second space there
// unmarks: the status line says which each space did.
func TestBinSaysWhatSpaceDid(t *testing.T) {
	t.Parallel()
	d, _ := newLiveDriver(t, 120, 30, false)
	d.keys(":", "bin", "enter", "G", " ")
	b := d.m.base["bin"].(*binScreen)
	if v := d.view(); len(b.marked) != 1 || b.cursor != len(b.rows)-1 || !strings.Contains(v, "marked application Payroll · 1 marked") {
		t.Fatalf("space on the last row: %d marked, cursor %d of %d\n%s", len(b.marked), b.cursor, len(b.rows), v)
	}
	d.keys(" ")
	if v := d.view(); len(b.marked) != 0 || !strings.Contains(v, "unmarked application Payroll · 0 marked") {
		t.Fatalf("space again on the last row: %d marked\n%s", len(b.marked), v)
	}
}

// While R reads the bin again, the screen says its rows are the last read's, as the
// Overview says it reads the tenant again; an answer to an earlier R does not end it.
func TestBinSaysItIsReadingAgain(t *testing.T) {
	t.Parallel()
	d, _ := newLiveDriver(t, 120, 30, false)
	d.keys(":", "bin", "enter")
	const again = "reading the recycle bin again…"
	if v := d.view(); strings.Contains(v, again) {
		t.Fatalf("the bin read at start-up is not being read again:\n%s", v)
	}
	d.keys("R", "R")
	l := d.m.env.live
	if v := d.view(); !strings.Contains(v, again) || !strings.Contains(v, "Carol") {
		t.Fatalf("during a refresh the bin shows the last read's rows and says it reads again:\n%s", v)
	}
	d.send(binLoadedMsg{gen: l.binGen - 1, rep: testBin()})
	if v := d.view(); !strings.Contains(v, again) {
		t.Fatalf("the answer to the first R ended the second's reading:\n%s", v)
	}
	d.send(binLoadedMsg{gen: l.binGen, rep: testBin()})
	if v := d.view(); strings.Contains(v, again) {
		t.Fatalf("the refresh has answered:\n%s", v)
	}
}

// A bin list taller than the screen says where the cursor is, so a scrolled list is not
// read as starting at the soonest purge; on an 80-column terminal too, where the header
// is clipped.
func TestBinSaysWhereAScrolledListIs(t *testing.T) {
	t.Parallel()
	d, _ := newLiveDriver(t, 80, 8, false)
	d.keys(":", "bin", "enter")
	b := d.m.base["bin"].(*binScreen)
	if len(b.rows) <= b.listHeight() {
		t.Fatalf("the fixture's bin (%d rows) fits in %d lines: make the screen smaller", len(b.rows), b.listHeight())
	}
	d.keys("G")
	if want := fmt.Sprintf("row %d of %d", len(b.rows), len(b.rows)); !strings.Contains(d.view(), want) {
		t.Fatalf("the scrolled bin lacks %q:\n%s", want, d.view())
	}
}

// On a small terminal the apply prompt, the domain to type and what was typed stay on
// the screen: the stage list gives way.
func TestRunConfirmFitsASmallTerminal(t *testing.T) {
	t.Parallel()
	const domain = "fourthcoffee42.onmicrosoft.com" // the demo's: longer than the fixture's
	for _, size := range [][2]int{{60, 15}, {80, 10}, {80, 8}, {40, 12}} {
		d, f := newLiveDriver(t, size[0], size[1], false)
		d.send(connInfoMsg{conn: connSimulated, domain: domain})
		d.toPlan(f)
		d.keys("a", "fourth")
		v := d.view()
		if !strings.Contains(v, domain) || !strings.Contains(v, "> fourth█") {
			t.Errorf("the %dx%d confirmation lacks the domain or the input:\n%s", size[0], size[1], v)
		}
		if size[1] >= 15 && !strings.Contains(strings.Join(strings.Fields(v), " "), "1 CA policy") {
			t.Errorf("the %dx%d confirmation lacks the totals:\n%s", size[0], size[1], v)
		}
	}
}

// Enter on a step shows it in full (its requests and bodies, which the row cuts), and w
// the plan's warnings; esc comes back.
func TestPlanStepsAndWarningsOpenInFull(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 80, 24, false)
	p := d.toPlan(f)
	var step engine.Step
	for i, l := range p.lines {
		if l.step >= 0 {
			if s := p.plan.Stages[l.stage].Steps[l.step]; len(s.Requests) > 0 && len(s.Requests[0].Body) > 0 {
				p.cursor, step = i, s
				break
			}
		}
	}
	if step.ID == "" {
		t.Fatal("the fixture's plan has no step with a request body")
	}
	d.keys("enter")
	ts, ok := d.m.top().(*textScreen)
	if !ok {
		t.Fatalf("enter on a step opened %T", d.m.top())
	}
	for _, want := range []string{step.Requests[0].Method + " " + step.Requests[0].Path, "step " + step.ID} {
		if !strings.Contains(ts.text, want) {
			t.Errorf("the step in full lacks %q:\n%s", want, ts.text)
		}
	}
	d.keys("esc")
	if d.m.top() != Screen(p) {
		t.Fatalf("esc should come back to the plan, on %T", d.m.top())
	}
	p.plan.Warnings = []string{"a warning much longer than the screen is wide, which the list cuts but the full view wraps onto further lines"}
	d.keys("w")
	if ts, ok := d.m.top().(*textScreen); !ok || !strings.Contains(ts.View(), "further lines") {
		t.Fatalf("w should show the warnings wrapped in full: %T\n%s", d.m.top(), d.view())
	}
}

// Taking out the create of a replaced role assignment takes its delete out too: the
// delete alone would leave the assignment gone.
func TestPlanTakesADeleteOutWithItsCreate(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 120, 40, false)
	p := d.toPlan(f)
	del := engine.Step{ID: "del1", Kind: "unifiedRoleAssignment", ObjectID: "ra1", Action: engine.ActionRemoveObject, DependsOn: []string{},
		Requests: []engine.Request{{Method: "DELETE", Path: "/roleManagement/directory/roleAssignments/ra1"}}}
	create := engine.Step{ID: "cre1", Kind: "unifiedRoleAssignment", ObjectID: "ra1", Action: engine.ActionRecreate, DependsOn: []string{"del1"},
		Requests: []engine.Request{{Method: "POST", Path: "/roleManagement/directory/roleAssignments", Body: []byte(`{}`)}}}
	plan := *p.plan
	plan.Stages = append([]engine.Stage(nil), plan.Stages...)
	for i, st := range plan.Stages {
		if st.Name == engine.StageRelink {
			plan.Stages[i].Steps = append([]engine.Step{del, create}, st.Steps...)
		}
		if st.Name == engine.StageVerify {
			v := st.Steps[0]
			v.DependsOn = append(append([]string(nil), v.DependsOn...), "del1", "cre1")
			plan.Stages[i].Steps = []engine.Step{v}
		}
	}
	d.send(planBuiltMsg{tag: p.tag, plan: &plan})
	for i, l := range p.lines {
		if l.step >= 0 && p.plan.Stages[l.stage].Steps[l.step].ID == "cre1" {
			p.cursor = i
		}
	}
	d.keys(" ")
	if !p.excluded["cre1"] || !p.excluded["del1"] {
		t.Fatalf("taking out the create: create out %v, delete out %v (%q)", p.excluded["cre1"], p.excluded["del1"], p.note)
	}
}

// A plan changed after it was saved is not the saved file: the confirmation says so,
// and the run does not name the file as the one to resume (it would be refused as
// stale). Putting the step back makes it the saved plan again.
func TestPlanEditedAfterSavingIsNotTheSavedFile(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 120, 40, false)
	p := d.toPlan(f)
	d.keys("s")
	path := filepath.Join(filepath.Dir(f.store.Path()), "PLAN.json")
	if p.savedPath() != path {
		t.Fatalf("just saved, the plan is the file: %q", p.savedPath())
	}
	d.keys("j", " ")
	if p.savedPath() != "" || !strings.Contains(d.view(), "changed since it was saved to") {
		t.Fatalf("a step taken out after saving makes another plan: saved path %q\n%s", p.savedPath(), d.view())
	}
	d.keys("a")
	r := d.m.base["run"].(*runScreen)
	if r.confirm.path != "" || !strings.Contains(strings.Join(strings.Fields(d.view()), " "), "This is not the plan saved in "+path) {
		t.Fatalf("the confirmation must say the plan is not the saved one: path %q\n%s", r.confirm.path, d.view())
	}
	d.keys(testDomain, "enter")
	if r.phase != runRunning || d.m.RunPlanFile() != "" {
		t.Fatalf("the run of an edited plan names no plan file to resume: %q", d.m.RunPlanFile())
	}

	d, f = newLiveDriver(t, 120, 40, false)
	p = d.toPlan(f)
	d.keys("s", "j", " ", " ")
	path = filepath.Join(filepath.Dir(f.store.Path()), "PLAN.json")
	if p.savedPath() != path {
		t.Fatalf("out and back in is the saved plan again: %q", p.savedPath())
	}
	d.keys("a")
	if strings.Contains(d.view(), "This is not the plan saved") || !strings.Contains(d.view(), "Saved in "+path) {
		t.Fatalf("the saved plan's confirmation names its file:\n%s", d.view())
	}
	d.keys(testDomain, "enter")
	if d.m.RunPlanFile() != path {
		t.Fatalf("the run of the saved plan names its file: %q", d.m.RunPlanFile())
	}
}

// A run apply turns down before it begins (a stale plan) is REFUSED, not FINISHED: no
// stage bars, the reason whole at any width, and the console's remedy, not the CLI's.
func TestRunRefusedInPreflightSaysSoInFull(t *testing.T) {
	t.Parallel()
	for _, w := range []int{80, 120} {
		d, f := newLiveDriver(t, w, 24, false)
		_, r := d.startRun(f)
		err := fmt.Errorf("%w: the tenant changed since it was built (fingerprint 0123456789ab, now ba9876543210); build a new plan with 'lifeline plan' and apply that", engine.ErrStale)
		d.send(runBatchMsg{run: r.run, done: &runDone{err: err}})
		v := d.view()
		flat := strings.Join(strings.Fields(v), " ")
		if !strings.Contains(v, "REFUSED") || strings.Contains(v, "FINISHED") || strings.Contains(v, "░") || strings.Contains(v, "█") {
			t.Errorf("%d: a refused run shows as refused, with no stage bars:\n%s", w, v)
		}
		if !strings.Contains(flat, "now ba9876543210); build a new plan on the Plan screen (:plan, then b) and apply that") || strings.Contains(v, "'lifeline plan'") {
			t.Errorf("%d: the reason is whole and its remedy is the console's:\n%s", w, v)
		}
	}
}

// When the tenant cannot be reached every step of a stage fails: its bar stays empty
// (failures are not progress) and says how many failed. The counts never go down over
// a run, though the engine's and the client's are read at different moments.
func TestRunBarsCountDoneStepsOnlyAndCountsNeverFall(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 120, 40, false)
	p, r := d.startRun(f)
	prog := &engine.Progress{Writes: 40, Requests: 50, Retries: 2, BudgetWritesPerSecond: 20, Pace: 0.9, ElapsedSeconds: 30}
	for _, st := range p.plan.Stages {
		sp := engine.StageProgress{Name: st.Name, Total: len(st.Steps)}
		if st.Name == engine.StageRelink {
			sp.Failed = sp.Total
		}
		prog.Stages = append(prog.Stages, sp)
	}
	d.send(runBatchMsg{run: r.run, events: []engine.Event{{Type: engine.EventProgress, At: testNow.Add(30 * time.Second), Progress: prog}}})
	stats := r.base
	stats.Requests += 90
	d.send(callsMsg{run: r.run, stats: stats, at: r.started.Add(31 * time.Second)})
	v := d.view()
	var relink string
	for _, l := range strings.Split(v, "\n") {
		if strings.Contains(l, engine.StageRelink) {
			relink = l
		}
	}
	if strings.Contains(relink, "█") || !strings.Contains(relink, "failed") {
		t.Fatalf("a stage whose every step failed shows an empty bar and the failures: %q\n%s", relink, v)
	}
	if !strings.Contains(v, "requests 90") {
		t.Fatalf("between events the client's count shows: \n%s", v)
	}
	// The end: the engine's report counts fewer requests than the client did.
	end := *prog
	end.Writes, end.Requests = 38, 60
	d.send(runBatchMsg{run: r.run, done: &runDone{report: &engine.ApplyReport{Failed: 5, Progress: end}}})
	if v := d.view(); !strings.Contains(v, "Writes 40 ") || !strings.Contains(v, "requests 90") {
		t.Fatalf("the counts went down at the end of the run:\n%s", v)
	}
}

// The sentences a responder acts on wrap to the width instead of losing their end at
// the edge: errors (plan, verify, bin, the status bar), the lockout verdict, the
// incident line, verify's verdict.
func TestSentencesWrapToTheWidth(t *testing.T) {
	t.Parallel()
	const tail = "(dial tcp 127.0.0.1:34043: connect: connection refused)"
	unreachable := errors.New("reading the tenant's clock: GET organization: could not reach 127.0.0.1:34043 " + tail)
	has := func(t *testing.T, d *driver, what string, want ...string) {
		t.Helper()
		flat := strings.Join(strings.Fields(d.view()), " ")
		for _, w := range want {
			if !strings.Contains(flat, w) {
				t.Errorf("%s: the screen lacks %q:\n%s", what, w, d.view())
			}
		}
	}
	d, f := newLiveDriver(t, 80, 24, false)
	d.send(binLoadedMsg{err: unreachable})
	d.keys(":", "bin", "enter")
	has(t, d, "bin error", tail)

	d.keys(":", "plan", "enter")
	p := d.m.base["plan"].(*planScreen)
	d.keys("b")
	d.send(planBuiltMsg{tag: p.tag, err: unreachable})
	has(t, d, "plan error", tail)
	d.send(planBuiltMsg{tag: p.tag, plan: f.plan(t)})
	has(t, d, "lockout verdict", "Lockout check: pending: runs during apply, before any policy leaves report-only")

	d.keys(":", "verify", "enter", "v")
	v := d.m.base["verify"].(*verifyScreen)
	d.send(verifiedMsg{tag: v.tag, err: unreachable})
	has(t, d, "verify error", tail)
	d.keys("v")
	d.send(verifiedMsg{tag: v.tag, rep: &engine.VerifyReport{Snapshot: 1, Clean: true, Scope: []graphx.NodeID{{Kind: entra.KindUser, ID: uAlice}},
		Unrestorable: []engine.Unrestorable{{Kind: "application", ID: appPay, DisplayName: "Payroll", What: "client secrets and certificates"}}}})
	has(t, d, "verify verdict", "(1 thing Graph cannot restore, listed below)")

	d.keys(":", "overview", "enter")
	d.m.env.live.incRecreated = 20
	has(t, d, "incident line", "their copies among the added: :verify matches them)")

	d.send(statusMsg("saving the plan: " + unreachable.Error()))
	has(t, d, "status", tail)
}

// Ids are whole where responders copy them, when the screen has room: the Bin's id
// column at 120 columns (and the selected id below the table at 80), Verify's new ids;
// the Diff's names grow with the width.
func TestIdsAreWholeAndNamesGrowWithTheWidth(t *testing.T) {
	t.Parallel()
	d, _ := newLiveDriver(t, 120, 40, false)
	d.keys(":", "bin", "enter")
	for _, it := range testBin().Items {
		if !strings.Contains(d.view(), it.ID) {
			t.Errorf("the bin at 120 columns cuts id %s:\n%s", it.ID, d.view())
		}
	}
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	if first := testBin().Items[0].ID; !strings.Contains(d.view(), "id "+first) {
		t.Errorf("the bin at 80 columns shows the selected id whole:\n%s", d.view())
	}

	d.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	d.keys(":", "verify", "enter", "v")
	v := d.m.base["verify"].(*verifyScreen)
	const newID = "11111111-1111-4111-8111-0000000000b2"
	d.send(verifiedMsg{tag: v.tag, rep: &engine.VerifyReport{Snapshot: 1, Unrestorable: []engine.Unrestorable{
		{Kind: "user", ID: uBob, NewID: newID, DisplayName: "Bob", What: "password (a generated one was issued)"}}}})
	if !strings.Contains(d.view(), uBob) || !strings.Contains(d.view(), newID) {
		t.Errorf("verify at 120 columns cuts an id:\n%s", d.view())
	}

	d.keys(":", "diff", "enter")
	diff := d.m.base["diff"].(*diffScreen)
	if w := diff.nameWidth(); w <= 22 {
		t.Errorf("at 120 columns the diff's names are %d wide, as at 80", w)
	}
}

// Cancelling a confirmation goes back to the Plan screen, where apply was pressed (the
// Run screen would show the last run's end as if it were this plan's), and keeps the
// last run's report: esc is "not this one", not "forget the last one".
func TestCancellingAConfirmKeepsTheLastRun(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 120, 40, false)
	_, r := d.startRun(f)
	d.send(runBatchMsg{run: r.run, done: &runDone{report: &engine.ApplyReport{Done: 10}}})
	d.keys(":", "plan", "enter", "a", "esc")
	if v := d.view(); d.m.Current() != "Plan" || !strings.Contains(v, "apply cancelled: nothing was written") {
		t.Fatalf("esc on the confirmation should go back to the plan and say nothing was written: on %q\n%s", d.m.Current(), v)
	}
	d.keys(":", "run", "enter")
	if v := d.view(); r.phase != runFinished || !strings.Contains(v, "FINISHED") || !strings.Contains(v, "Done 10") || strings.Contains(v, "No run yet") {
		t.Fatalf("esc on the confirmation erased the last run: phase %d\n%s", r.phase, v)
	}
}

// The confirmation counts the links to check as the Plan screen does, and a plan the
// journal says was applied completely (or one with nothing but verify) is refused
// before the operator types the domain.
func TestApplyRefusesAnAppliedPlanBeforeTheConfirmation(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 120, 40, false)
	p := d.toPlan(f)
	d.keys("a")
	if v := d.view(); !strings.Contains(v, "to check") {
		t.Errorf("the confirmation's totals should count the links to check, as the Plan screen does:\n%s", v)
	}
	d.keys("esc", ":", "plan", "enter")

	plan := p.effective()
	plan.DB = d.m.env.dbPath()
	ctx, hash := context.Background(), engine.PlanHash(plan)
	var steps []snapshots.StepRecord
	for _, st := range plan.Stages {
		for _, s := range st.Steps {
			steps = append(steps, snapshots.StepRecord{StepID: s.ID, State: snapshots.StepDone, Attempts: 1, Result: []byte("{}"), UpdatedAt: testNow})
		}
	}
	if err := f.store.StartRun(ctx, snapshots.Run{PlanHash: hash, TenantID: plan.TenantID, Snapshot: plan.Snapshot, Operator: "test", StartedAt: testNow}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Journal(ctx, hash, plan.TenantID, steps, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.store.FinishRun(ctx, hash, testNow); err != nil {
		t.Fatal(err)
	}
	d.keys("a")
	if d.m.Current() != "Plan" || !strings.Contains(strings.Join(strings.Fields(d.view()), " "), "this plan was applied completely") {
		t.Fatalf("an applied plan should be refused on the Plan screen: on %q\n%s", d.m.Current(), d.view())
	}

	for id, s := range p.byID {
		if s.Action != engine.ActionVerify {
			p.excluded[id] = true
		}
	}
	d.keys("a")
	if d.m.Current() != "Plan" || !strings.Contains(d.view(), "nothing to apply") {
		t.Fatalf("a plan of verify alone should be refused: on %q\n%s", d.m.Current(), d.view())
	}
}

// The write rate shows once the run has gone on long enough to mean something, and a
// paused run says so instead of showing an ETA that stands still.
func TestRunRateWaitsForAMeaningfulInterval(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 160, 40, false)
	_, r := d.startRun(f)
	prog := &engine.Progress{Writes: 6, WritesPerSecond: 577.1, BudgetWritesPerSecond: 20, Pace: 0.9, ElapsedSeconds: 0.01, ETASeconds: 30}
	d.send(runBatchMsg{run: r.run, events: []engine.Event{{Type: engine.EventProgress, At: testNow, Progress: prog}}})
	if v := d.view(); strings.Contains(v, "577.1/s") || strings.Contains(v, "ETA") {
		t.Errorf("a rate over 10ms is shown:\n%s", v)
	}
	later := *prog
	later.Writes, later.WritesPerSecond, later.ElapsedSeconds = 60, 17.5, 4
	d.send(runBatchMsg{run: r.run, events: []engine.Event{{Type: engine.EventProgress, At: testNow.Add(4 * time.Second), Progress: &later}}})
	if v := d.view(); !strings.Contains(v, "Writes 60 at 17.5/s") || !strings.Contains(v, "ETA 30s") {
		t.Errorf("after 4s the rate and the ETA show:\n%s", v)
	}
	d.keys("p")
	if v := d.view(); strings.Contains(v, "ETA") || !strings.Contains(v, "paused") {
		t.Errorf("a paused run shows an ETA:\n%s", v)
	}
}

// A run that finished within the first seconds shows the rate it had over all of it:
// the wait for a meaningful interval is for a run still going.
func TestFinishedRunShowsItsRateHoweverShort(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 160, 40, false)
	_, r := d.startRun(f)
	prog := engine.Progress{Writes: 2740, WritesPerSecond: 1712.5, BudgetWritesPerSecond: 1e9, Pace: 1, ElapsedSeconds: 1.6}
	d.send(runBatchMsg{run: r.run, done: &runDone{report: &engine.ApplyReport{Progress: prog}}})
	if v := d.view(); !strings.Contains(v, "Writes 2740 at 1712.5/s") {
		t.Errorf("a run finished in 1.6s hides its rate:\n%s", v)
	}
}

// p on a diff between two snapshots says why it plans nothing there, and how to get the
// diff it plans from, instead of doing nothing.
func TestDiffPBetweenSnapshotsSaysWhy(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 120, 40, false)
	d.send(storeLoadedMsg{tenant: tenantID, snaps: f.snaps})
	d.keys(":", "diff", "enter", "t")
	if df := d.m.base["diff"].(*diffScreen); df.live {
		t.Fatal("t should leave the live diff for one between snapshots")
	}
	d.keys("p")
	if v := strings.Join(strings.Fields(d.view()), " "); d.m.Current() != "Diff" || !strings.Contains(v, "p plans against the live tenant") {
		t.Fatalf("p between snapshots should say why it plans nothing: on %q\n%s", d.m.Current(), d.view())
	}
}

// While an input has the keyboard (the apply prompt, a filter) the help shows only its
// keys: ?, : and q are text there, and advertising them would mislead.
func TestHelpShowsOnlyTheInputsKeysWhileTyping(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 120, 40, false)
	d.toPlan(f)
	d.keys("a")
	last := func() string { v := strings.Split(d.view(), "\n"); return v[len(v)-1] }
	if l := last(); !strings.Contains(l, "esc cancel") || strings.Contains(l, "? help") || strings.Contains(l, "q quit") || strings.Contains(l, "go to screen") {
		t.Errorf("the apply prompt's help: %q", l)
	}
	d.keys("esc", ":", "bin", "enter", "/")
	if l := last(); strings.Contains(l, "q quit") || !strings.Contains(l, "esc") {
		t.Errorf("the bin filter's help: %q", l)
	}
	d.keys("esc")
	if l := last(); !strings.Contains(l, "? help") {
		t.Errorf("with the input closed the global keys come back: %q", l)
	}
}

// One of a thing is said in the singular, and ':' then enter with nothing typed asks
// for a name rather than naming an empty one.
func TestOneIsSingular(t *testing.T) {
	t.Parallel()
	d, f := newLiveDriver(t, 160, 48, false)
	p := d.m.base["plan"].(*planScreen)
	d.keys(":", "plan", "enter")
	p.build(f.snaps[0].ID, []graphx.NodeID{{Kind: entra.KindUser, ID: uCarol}})
	d.send(planBuiltMsg{tag: p.tag, plan: f.plan(t, graphx.NodeID{Kind: entra.KindUser, ID: uCarol})})
	if v := d.view(); !strings.Contains(v, "scoped to 1 object") || strings.Contains(v, "scoped to 1 objects") || strings.Contains(v, "1 CA policies") {
		t.Errorf("the plan's header:\n%s", v)
	}
	d.keys("a")
	if v := d.view(); strings.Contains(v, " 1 steps") {
		t.Errorf("the confirmation's stage list:\n%s", v)
	}
	d.keys("esc", ":", "bin", "enter", " ", "esc")
	if v := d.view(); !strings.Contains(v, "esc again clears 1 mark;") {
		t.Errorf("the bin's esc warning:\n%s", v)
	}
	d.keys(":", "enter")
	if v := d.view(); strings.Contains(v, "no screen named  ") || !strings.Contains(v, "type a screen name") {
		t.Errorf("':' then enter with nothing typed:\n%s", v)
	}
}

// A Graph call faster than a millisecond says so rather than "0s".
func TestCallDurationNeverReadsZero(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{300 * time.Microsecond: "<1ms", 4 * time.Millisecond: "4ms", 1500 * time.Millisecond: "1.5s"} {
		if got := callDuration(d); got != want {
			t.Errorf("callDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
