package tui

import (
	"fmt"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// BenchmarkFilter1M measures one filter keystroke on a 1,000,000-row object table, from
// the key press to the rendered frame: Update, the filter command, its result through
// Update, and View. It alternates typing and deleting a character so every iteration
// scans the whole table (no narrowing shortcut).
func BenchmarkFilter1M(b *testing.B) {
	step, view := bench1MTable(b)
	step(press("/"))
	step(press("9"))
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			step(press("7"))
		} else {
			step(press("backspace"))
		}
		_ = view()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}

// BenchmarkScroll1M measures one scrolling keystroke on the same 1,000,000-row table,
// key press to rendered frame, cycling through a line down, a page down, the bottom, a
// page up and the top, so the view moves across the whole table.
func BenchmarkScroll1M(b *testing.B) {
	step, view := bench1MTable(b)
	keys := []string{"down", "pgdown", "G", "pgup", "up", "g"}
	b.ResetTimer()
	for i := range b.N {
		step(press(keys[i%len(keys)]))
		_ = view()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// bench1MTable opens a console on a 1,000,000-row object table at 120x40 and returns
// how to send it a message (running the commands it returns) and render it.
func bench1MTable(b *testing.B) (func(tea.Msg), func() string) {
	b.Helper()
	const n = 1_000_000
	rows := make([]objRow, n)
	for i := range rows {
		rows[i] = newObjRow(entra.KindUser, fmt.Sprintf("%08x-1111-4111-8111-%012x", i, i), fmt.Sprintf("User %07d Department %d", i, i%97), i%50 == 0)
	}
	e := &env{path: "bench.db", readOnly: true}
	m := NewOffline(nil, "bench.db", true)
	m.env = e
	br := newBrowser(e)
	br.picking, br.snap = false, 1
	br.kinds = []entra.Kind{entra.KindUser}
	br.rows = map[entra.Kind]*rowSet{entra.KindUser: newRowSet(rows)}
	br.showKind()
	m.base["snapshots"] = br
	m.cur, m.stack = "snapshots", []Screen{br}
	step := func(msg tea.Msg) {
		nm, cmd := m.Update(msg)
		m = nm.(Model)
		for cmd != nil {
			out := cmd()
			cmd = nil
			if out != nil {
				nm, cmd = m.Update(out)
				m = nm.(Model)
			}
		}
	}
	step(tea.WindowSizeMsg{Width: 120, Height: 40})
	return step, func() string { return m.View().Content }
}

// BenchmarkRunScreenEvents measures the Run screen taking an apply's event stream at
// full budget: each iteration is one engine event through the root's Update (to every
// screen, as the program delivers it) and a full View at 160x48, with 200 Graph calls in
// the log and the sparkline and failures growing as a long run's do. The first 10,000
// iterations are a realistic mix: a step event, then a progress event, every tenth step a
// failure, every hundredth a throttle wait.
func BenchmarkRunScreenEvents(b *testing.B) {
	d, f := newLiveDriver(b, 160, 48, false)
	p, r := d.startRun(f)
	d.send(callsMsg{run: r.run, calls: append(testCalls(), make([]graphapi.Call, 170)...)})
	at := testNow
	prog := &engine.Progress{Total: 10_000, BudgetWritesPerSecond: 20, Pace: 0.9}
	for _, st := range p.plan.Stages {
		prog.Stages = append(prog.Stages, engine.StageProgress{Name: st.Name, Total: 10_000 / len(p.plan.Stages)})
	}
	event := func(i int) engine.Event {
		at = at.Add(50 * time.Millisecond)
		switch {
		case i%100 == 99:
			return engine.Event{Type: engine.EventThrottle, At: at, WaitSeconds: 1.5}
		case i%2 == 1:
			pr := *prog
			pr.Done, pr.Writes = i/2, int64(i)
			pr.ElapsedSeconds = at.Sub(testNow).Seconds()
			pr.WritesPerSecond = float64(i) / pr.ElapsedSeconds
			return engine.Event{Type: engine.EventProgress, At: at, Progress: &pr}
		}
		state := snapshots.StepDone
		if i%20 == 0 {
			state = snapshots.StepFailed
		}
		return engine.Event{Type: engine.EventStep, At: at, Stage: engine.StageRelink, Step: &engine.StepEvent{
			ID: fmt.Sprint(i), Kind: "group", DisplayName: fmt.Sprintf("Group %d", i), Action: engine.ActionAddLink, State: state, Error: "Graph answered 404"}}
	}
	var worst time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		nm, _ := d.m.Update(runBatchMsg{run: r.run, events: []engine.Event{event(i)}})
		d.m = nm.(Model)
		_ = d.m.View()
		worst = max(worst, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/op")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}
