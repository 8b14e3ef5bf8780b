package tui

import (
	"fmt"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/lifelinehq/lifeline/entra"
)

// BenchmarkFilter1M measures one filter keystroke on a 1,000,000-row object table, from
// the key press to the rendered frame: Update, the filter command, its result through
// Update, and View. It alternates typing and deleting a character so every iteration
// scans the whole table (no narrowing shortcut).
func BenchmarkFilter1M(b *testing.B) {
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
	step(press("/"))
	step(press("9"))
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			step(press("7"))
		} else {
			step(press("backspace"))
		}
		_ = m.View()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}
