package tui

import (
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/lifelinehq/lifeline/snapshots"
)

// tenantRead follows one capture of the tenant for a screen that waits on it (the
// overview's incident, a plan, a verify), so that the screen can say how far the read
// is instead of showing the same line for minutes. The capture's goroutine feeds the
// meter; the screen takes a reading in Update on each readingTickMsg of its own.
type tenantRead struct {
	owner   string // which screen's ticks are this read's
	gen     int    // the read asked for last; ticks of earlier ones stop
	active  bool
	meter   *snapshots.CaptureMeter
	reading snapshots.CaptureStatus
}

// readingTickMsg asks owner for a new reading of its read gen.
type readingTickMsg struct {
	owner string
	gen   int
}

// readingEvery is how often a waiting screen's line is brought up to date.
const readingEvery = 500 * time.Millisecond

// begin starts following a new read: observe is the capture's Progress, tick the first
// of the ticks that keep the reading up to date until end.
func (r *tenantRead) begin(owner string, now func() time.Time) (observe func(snapshots.CaptureProgress), tick tea.Cmd) {
	r.owner, r.active = owner, true
	r.gen++
	r.meter, r.reading = snapshots.NewCaptureMeter(now), snapshots.CaptureStatus{}
	return r.meter.Observe, readingTick(owner, r.gen)
}

// end stops the ticks: the read is over.
func (r *tenantRead) end() { r.active = false }

// onTick takes a reading when msg is this read's tick, and schedules the next.
func (r *tenantRead) onTick(msg readingTickMsg) tea.Cmd {
	if !r.active || msg.owner != r.owner || msg.gen != r.gen {
		return nil
	}
	r.reading = r.meter.Status()
	return readingTick(r.owner, r.gen)
}

// readingTick is owner's next tick for read gen.
func readingTick(owner string, gen int) tea.Cmd {
	return tea.Tick(readingEvery, func(time.Time) tea.Msg { return readingTickMsg{owner: owner, gen: gen} })
}

// text says how far the read is, "" before any object arrived: "3040 objects, 1520/s,
// ETA 5s; user 3000 of 10000", naming the kind with the longest way to go, or "1010
// objects read in 9s" while no kind is being read (the read is over and the screen
// works on it, or the next kinds have not started yet).
func (r *tenantRead) text() string {
	st := r.reading
	if st.Objects == 0 {
		return ""
	}
	slowest := slowestKind(st.Kinds)
	if slowest == nil {
		return fmt.Sprintf("%d objects read in %s", st.Objects, ceilSecond(st.LastAt))
	}
	line := fmt.Sprintf("%d objects, %.0f/s", st.Objects, float64(st.Objects)/max(st.Elapsed.Seconds(), 0.001))
	if st.ETA > 0 {
		line += ", ETA " + ceilSecond(st.ETA).String()
	}
	line += fmt.Sprintf("; %s %d", slowest.Kind, slowest.Objects)
	if slowest.Total > 0 {
		line += fmt.Sprintf(" of %d", slowest.Total)
	}
	if slowest.Stalled() {
		line += ", waiting for Graph"
	}
	return line
}

// slowestKind is the kind still being read with the longest way to go: a stalled one
// with objects to come first (its ETA is unknown), then the longest ETA, then, among
// kinds without a total, the one with the most objects so far. nil when none is running.
func slowestKind(kinds []snapshots.KindStatus) *snapshots.KindStatus {
	rank := func(k snapshots.KindStatus) (int, float64) {
		switch {
		case k.Stalled():
			return 3, float64(k.Total - k.Objects)
		case k.ETA > 0:
			return 2, k.ETA.Seconds()
		case k.Total > k.Objects:
			return 1, float64(k.Total - k.Objects)
		}
		return 0, float64(k.Objects)
	}
	var slowest *snapshots.KindStatus
	for i, k := range kinds {
		if k.Done {
			continue
		}
		if slowest == nil {
			slowest = &kinds[i]
			continue
		}
		c, v := rank(k)
		sc, sv := rank(*slowest)
		if c > sc || c == sc && v > sv {
			slowest = &kinds[i]
		}
	}
	return slowest
}

// ceilSecond rounds d up to the second: an ETA of 0.4 s is "1s", not "0s".
func ceilSecond(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}
