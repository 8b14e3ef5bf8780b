package tui

import (
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/snapshots"
)

// A read says how far it is while kinds are being read, what it read once all are, and
// takes readings only on its own ticks.
func TestTenantReadText(t *testing.T) {
	t.Parallel()
	now := testNow
	var r tenantRead
	observe, _ := r.begin("plan", func() time.Time { return now })
	if r.text() != "" {
		t.Errorf("before any object: %q", r.text())
	}
	now = now.Add(4 * time.Second)
	observe(snapshots.CaptureProgress{Kind: "user", Objects: 800, Total: 1000})
	observe(snapshots.CaptureProgress{Kind: "group", Objects: 10})
	if r.onTick(readingTickMsg{owner: "verify", gen: r.gen}) != nil || r.onTick(readingTickMsg{owner: "plan", gen: r.gen - 1}) != nil || r.text() != "" {
		t.Errorf("another screen's tick, or an earlier read's, took a reading: %q", r.text())
	}
	if r.onTick(readingTickMsg{owner: "plan", gen: r.gen}) == nil {
		t.Error("its own tick schedules no next one")
	}
	if got, want := r.text(), "810 objects, 202/s, ETA 1s; user 800 of 1000"; got != want {
		t.Errorf("reading %q, want %q", got, want)
	}
	now = now.Add(5 * time.Second)
	observe(snapshots.CaptureProgress{Kind: "user", Objects: 1000, Total: 1000, Done: true})
	observe(snapshots.CaptureProgress{Kind: "group", Objects: 10, Done: true})
	now = now.Add(30 * time.Second) // the screen works on what was read: that is not reading
	r.onTick(readingTickMsg{owner: "plan", gen: r.gen})
	if got, want := r.text(), "1010 objects read in 9s"; got != want {
		t.Errorf("reading %q, want %q", got, want)
	}
	// A stalled kind with objects to come is the one named, and makes the ETA unknown.
	observe, _ = r.begin("plan", func() time.Time { return now })
	now = now.Add(time.Second)
	observe(snapshots.CaptureProgress{Kind: "user", Objects: 500, Total: 1000})
	observe(snapshots.CaptureProgress{Kind: "group", Objects: 5, Total: 100})
	now = now.Add(6 * time.Second)
	observe(snapshots.CaptureProgress{Kind: "group", Objects: 90, Total: 100})
	r.onTick(readingTickMsg{owner: "plan", gen: r.gen})
	if got, want := r.text(), "590 objects, 84/s; user 500 of 1000, waiting for Graph"; got != want {
		t.Errorf("reading %q, want %q", got, want)
	}
	r.end()
	if r.onTick(readingTickMsg{owner: "plan", gen: r.gen}) != nil {
		t.Error("a tick after the read ended schedules another")
	}
}
