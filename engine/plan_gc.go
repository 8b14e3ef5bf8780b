package engine

import (
	"runtime/debug"
	"sync"
)

// planGCPercent is the GC target BuildPlan runs with. A plan of a large incident
// allocates gigabytes of short-lived decoded objects on top of a live heap of more than
// a gigabyte (both states, the graph, the diff); at the default of 100 the collector
// keeps re-marking that live heap. Measured on the 100,000-user incident of
// BenchmarkBuildPlan100k (2 cores): 400 instead of 100 cut the collector's CPU from
// about 4.4 s to 1.3 s per plan before the other changes, and after them still saves
// 3 to 5 s of CPU (user 20.7-21.0 s against 20.6-25.8 s for the benchmark process),
// for a peak RSS of 3.9 GB instead of 2.9-3.1 GB. A GOMEMLIMIT still caps the heap:
// the collector runs early when it is near.
const planGCPercent = 400

var (
	gcMu      sync.Mutex
	gcRaised  int // BuildPlan calls under way
	gcPercent int // the setting to restore when the last one ends
)

// raiseGCPercent raises the process's GC target to planGCPercent for the duration of a
// BuildPlan call and returns the function that restores it. The setting is global, so
// overlapping calls share one raise and the last one out restores what was there; a
// setting already higher (or GC turned off) is left alone.
func raiseGCPercent() (restore func()) {
	gcMu.Lock()
	defer gcMu.Unlock()
	if gcRaised == 0 {
		gcPercent = debug.SetGCPercent(planGCPercent)
		if gcPercent < 0 || gcPercent >= planGCPercent {
			debug.SetGCPercent(gcPercent)
		}
	}
	gcRaised++
	return func() {
		gcMu.Lock()
		defer gcMu.Unlock()
		gcRaised--
		if gcRaised == 0 {
			debug.SetGCPercent(gcPercent)
		}
	}
}
