package snapshots

import (
	"slices"
	"sync"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// RateWindow is how far back a CaptureMeter reads a kind's rate: long enough to smooth
// over pages arriving in bursts, short enough that the rate falls while Graph throttles
// and the ETA follows.
const RateWindow = 5 * time.Second

// CaptureMeter follows a capture's progress events and tells, per kind, how far it is,
// how fast it goes and when it should end. The CLI's progress block and the console's
// screens that wait on a read of the tenant (Overview, Plan, Verify) read one. It is
// safe for concurrent use: Observe is a CaptureOptions.Progress.
type CaptureMeter struct {
	now   func() time.Time
	mu    sync.Mutex
	start time.Time
	last  time.Time // of the latest event
	kinds map[string]*meterKind
}

// meterKind is what a meter knows of one kind.
type meterKind struct {
	objects, total int64
	done           bool
	// samples are recent (time, objects) pairs, at most one per sampleEvery, with at
	// most one older than RateWindow (which anchors the rate).
	samples []meterSample
}

// meterSample is a kind's count at one moment.
type meterSample struct {
	at      time.Time
	objects int64
}

// sampleEvery bounds how many samples a kind keeps: pages arrive many times a second.
const sampleEvery = 100 * time.Millisecond

// NewCaptureMeter returns a meter whose capture starts now, reading time from now (tests
// pass a fake clock).
func NewCaptureMeter(now func() time.Time) *CaptureMeter {
	return &CaptureMeter{now: now, start: now(), kinds: map[string]*meterKind{}}
}

// Observe records one event. Events come from several goroutines, possibly out of
// order: the meter keeps the largest count, the latest total and a done once seen.
func (m *CaptureMeter) Observe(ev CaptureProgress) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.last = now
	k := m.kinds[ev.Kind]
	if k == nil {
		k = &meterKind{}
		m.kinds[ev.Kind] = k
	}
	k.objects = max(k.objects, ev.Objects)
	if ev.Total > 0 {
		k.total = ev.Total
	}
	k.done = k.done || ev.Done
	if n := len(k.samples); n > 0 && now.Sub(k.samples[n-1].at) < sampleEvery {
		k.samples[n-1].objects = k.objects
	} else {
		k.samples = append(k.samples, meterSample{at: now, objects: k.objects})
	}
	old := 0
	for old+1 < len(k.samples) && now.Sub(k.samples[old+1].at) >= RateWindow {
		old++
	}
	k.samples = k.samples[old:]
}

// CaptureStatus is a meter's reading.
type CaptureStatus struct {
	// Elapsed is the time since the capture began; Objects the objects read of every kind,
	// the latest of them LastAt after it began.
	Elapsed time.Duration
	Objects int64
	LastAt  time.Duration
	// Kinds are those heard of so far, in entra's order.
	Kinds []KindStatus
	// ETA is the longest ETA of the kinds still being read, 0 when it is unknown: no
	// kind has one, or a kind with objects still to come has stalled.
	ETA time.Duration
}

// KindStatus is how far the capture of one kind is.
type KindStatus struct {
	Kind string
	// Objects were read so far; Total is Graph's count as the capture began (0 unknown).
	Objects, Total int64
	Done           bool
	// Rate is objects per second over the last RateWindow (since the capture began
	// while a kind has a single sample); 0 once nothing arrived for a whole window.
	Rate float64
	// ETA is how long the kind should still take, 0 when unknown: no total, no rate,
	// done, or so slow that an ETA would be silly.
	ETA time.Duration
}

// Status reads the meter now.
func (m *CaptureMeter) Status() CaptureStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	st := CaptureStatus{Elapsed: now.Sub(m.start)}
	if !m.last.IsZero() {
		st.LastAt = m.last.Sub(m.start)
	}
	stalled := false
	for _, kind := range kindOrder(m.kinds) {
		k := m.kinds[kind]
		ks := KindStatus{Kind: kind, Objects: k.objects, Total: k.total, Done: k.done, Rate: k.rate(m.start, now)}
		ks.ETA = k.eta(ks.Rate)
		stalled = stalled || ks.Stalled()
		st.Objects += k.objects
		st.ETA = max(st.ETA, ks.ETA)
		st.Kinds = append(st.Kinds, ks)
	}
	if stalled {
		st.ETA = 0
	}
	return st
}

// Stalled says the kind has objects still to come and none arrived for a whole
// RateWindow: Graph throttling it, or a slow page.
func (k KindStatus) Stalled() bool { return !k.Done && k.Total > k.Objects && k.Rate <= 0 }

// kindOrder is the kinds of m in entra's order, any other after them by name.
func kindOrder(m map[string]*meterKind) []string {
	var out []string
	for _, k := range entra.Kinds() {
		if _, ok := m[string(k)]; ok {
			out = append(out, string(k))
		}
	}
	var others []string
	for k := range m {
		if _, known := entra.Lookup(entra.Kind(k)); !known {
			others = append(others, k)
		}
	}
	slices.Sort(others)
	return append(out, others...)
}

// rate is objects per second over the last RateWindow as of now, or since start while
// the kind has a single sample.
func (k *meterKind) rate(start, now time.Time) float64 {
	from := meterSample{at: start}
	if len(k.samples) > 1 {
		from = k.samples[0]
	}
	// The newest sample a window old or more anchors it: samples are only taken as
	// objects arrive, so during a stall it is the last one, and the rate is 0.
	for _, s := range k.samples {
		if now.Sub(s.at) >= RateWindow {
			from = s
		}
	}
	secs := now.Sub(from.at).Seconds()
	if secs < 0.05 {
		return 0
	}
	return float64(k.objects-from.objects) / secs
}

// eta is how long the kind should still take at rate, 0 when that is unknown.
func (k *meterKind) eta(rate float64) time.Duration {
	if k.done || k.total <= k.objects || rate <= 0 {
		return 0
	}
	secs := float64(k.total-k.objects) / rate
	if secs > 99*3600 {
		return 0 // a trickle: no ETA is better than a silly one
	}
	return time.Duration(secs * float64(time.Second))
}
