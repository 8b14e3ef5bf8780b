package snapshots

import (
	"testing"
	"time"
)

// A kind that stops receiving objects (Graph throttling, a slow page) shows its rate
// falling to 0 over the rate window, and no ETA once it is 0; events out of order
// never take a count back or undo a done.
func TestCaptureMeterRatesAndETAs(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	m := NewCaptureMeter(func() time.Time { return now })
	for i := 1; i <= 10; i++ {
		now = now.Add(time.Second)
		m.Observe(CaptureProgress{Kind: "user", Objects: int64(i) * 1000, Total: 100_000})
	}
	m.Observe(CaptureProgress{Kind: "group", Objects: 50, Done: true})
	m.Observe(CaptureProgress{Kind: "group", Objects: 40}) // an older event, late
	m.Observe(CaptureProgress{Kind: "someFutureKind", Objects: 1})
	user := func() KindStatus { return m.Status().Kinds[0] }

	st := m.Status()
	if len(st.Kinds) != 3 || st.Kinds[0].Kind != "user" || st.Kinds[1].Kind != "group" || st.Kinds[2].Kind != "someFutureKind" {
		t.Fatalf("kinds %+v: want user, group, then kinds entra does not know", st.Kinds)
	}
	if g := st.Kinds[1]; g.Objects != 50 || !g.Done || g.ETA != 0 {
		t.Errorf("group after a late event: %+v", g)
	}
	if st.Objects != 10_051 || st.Elapsed != 10*time.Second || st.LastAt != 10*time.Second || st.ETA != 90*time.Second {
		t.Errorf("status %+v", st)
	}
	if u := user(); u.Rate != 1000 || u.ETA != 90*time.Second {
		t.Errorf("steady: %+v", u)
	}
	now = now.Add(2 * time.Second)
	if u := user(); u.Rate != 600 || u.ETA != 150*time.Second { // 3,000 objects in the last 5 s
		t.Errorf("2 s into a stall: %+v", u)
	}
	now = now.Add(5 * time.Second)
	if u := user(); u.Rate != 0 || u.ETA != 0 || !u.Stalled() {
		t.Errorf("7 s into a stall: %+v", u)
	}
	// A stalled kind makes the capture's ETA unknown, whatever the others' say.
	m.Observe(CaptureProgress{Kind: "servicePrincipal", Objects: 10, Total: 20})
	now = now.Add(time.Second)
	m.Observe(CaptureProgress{Kind: "servicePrincipal", Objects: 15, Total: 20})
	if st := m.Status(); st.ETA != 0 || st.LastAt != 18*time.Second {
		t.Errorf("with users stalled: ETA %v, last event at %v", st.ETA, st.LastAt)
	}
}
