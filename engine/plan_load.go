package engine

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
)

// planInputs is what a plan is built from: the target's graph and objects, the live
// objects, and the diff between them, each with the error reading it gave.
type planInputs struct {
	graph        *graphx.Graph
	target, live *side
	diff         *snapshots.DiffResult

	// targetIntact is false when the target's objects and links no longer hash to its
	// root hash (snapshots.Loaded.RootMatches).
	targetIntact bool

	targetErr, liveErr, diffErr error
}

// loadPlanInputs reads the target and the live state, each whole and once, then diffs
// them from memory while it builds the target's graph and both sides: the diff used to
// read the manifests, the changed objects and every link of both files again, which was
// most of what it cost. The two reads are independent and run at the same time, as do
// the diff and the graph. The diff keeps the target objects it decoded, and the target
// side hands them out (side.ready) instead of decoding them a second time.
func loadPlanInputs(ctx context.Context, target, live snapshots.State) *planInputs {
	in := &planInputs{}
	// Objects and links of both states are read at the same time, each by itself.
	tl, ll := &snapshots.Loaded{}, &snapshots.Loaded{}
	var tObjErr, tLinkErr, lObjErr, lLinkErr error
	var reads sync.WaitGroup
	reads.Add(3)
	go func() {
		defer reads.Done()
		lObjErr = ll.LoadObjects(ctx, live)
	}()
	go func() {
		defer reads.Done()
		lLinkErr = ll.LoadLinks(ctx, live)
	}()
	go func() {
		defer reads.Done()
		tLinkErr = tl.LoadLinks(ctx, target)
	}()
	tObjErr = tl.LoadObjects(ctx, target)
	reads.Wait()
	lErr := cmp.Or(lObjErr, lLinkErr)
	if tObjErr != nil {
		in.targetErr = tObjErr
		return in
	}
	// BuildPlan reports the target's errors first, then the live state's, then the
	// diff's: the diff is only needed when both were read.
	var wg sync.WaitGroup
	if tLinkErr == nil && lErr == nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.diff, in.diffErr = snapshots.DiffLoaded(ctx, target, live, tl, ll, snapshots.DiffOptions{KeepBefore: decodesToRecreate, KeepChangedMembers: keepsChangedMembers,
				OmitLinkChanges: true})
		}()
	}
	var liveSide sync.WaitGroup
	if tLinkErr == nil {
		// The diff compares stored hashes and relink re-adds the target's links as read:
		// a row altered in the file since must not reach the tenant.
		liveSide.Go(func() { in.targetIntact = tl.RootMatches(target.Snapshot.RootHash) })
	}
	if lErr != nil {
		in.liveErr = lErr
	} else {
		// Live JSON is kept only where the plan needs it: an assignment's parent for a
		// removal, and what changed in an object before it went to the bin. The live
		// side is built beside the target's.
		liveSide.Go(func() {
			in.live = loadedSide(ll, func(o snapshots.Object) bool {
				spec, ok := entra.Lookup(o.Kind)
				return ok && (spec.Parent != "" || o.InBin)
			})
		})
	}
	in.graph, in.target, in.targetErr = readTarget(target, tl, tLinkErr)
	liveSide.Wait()
	if in.target != nil && in.live != nil {
		matchLinks(in.target, in.live)
	}
	wg.Wait()
	if in.diffErr == nil && in.diff != nil && in.target != nil {
		// Decoded by the diff: the changed objects as the target holds them.
		in.target.ready = make(map[graphx.NodeID]decoded, len(in.diff.Changes))
		for i := range in.diff.Changes {
			c := &in.diff.Changes[i]
			if m := c.TakeBefore(); m != nil {
				in.target.ready[graphx.NodeID{Kind: c.Kind, ID: c.ID}] = decoded{obj: m}
			}
		}
	}
	return in
}

// readTarget builds the target's graph and its side, keeping every object's JSON, from
// the loaded target; linkErr is the error reading its links gave, reported after any
// unreadable object as reading them in that order would. The graph is LoadGraph's
// without the links (members, owners): a plan orders its creates and rollbacks by
// property references only, the relink stage reads the links from the side, and the
// side lists those whose other end it lacks (side.dangling) for danglingWarnings. Half
// a million member edges were most of what building the graph cost.
func readTarget(s snapshots.State, l *snapshots.Loaded, linkErr error) (*graphx.Graph, *side, error) {
	b := graphx.NewBuilder()
	for _, o := range l.Objects {
		if _, ok := entra.Lookup(o.Kind); ok {
			if err := b.AddObject(o.Kind, o.ID, o.JSON, o.InBin); err != nil {
				return nil, nil, fmt.Errorf("%s %s in snapshot %d is unreadable: %w", o.Kind, o.ID, s.Snapshot.ID, err)
			}
		}
	}
	sd := newSide(l.Objects, l.Links)
	if linkErr != nil {
		return nil, nil, linkErr
	}
	sd.dangling = sd.resolveLinks()
	return b.Build(), sd, nil
}

// resolveLinks finds where the side's links end (linkTo) and returns those held by an
// object of a known kind whose other end the side lacks, as graphx reports a dangling
// link. The links are resolved in parallel, and a holder once for its run of links.
func (s *side) resolveLinks() []graphx.Dangling {
	s.linkTo = make([]int32, len(s.links))
	found := make([]bool, len(s.links))
	parallelChunks(len(s.links), 4096, func(lo, hi int) {
		var holder graphx.NodeID
		holderHeld := false
		for i := lo; i < hi; i++ {
			l := &s.links[i]
			if from := (graphx.NodeID{Kind: l.Kind, ID: l.From}); i == lo || from != holder {
				holder, holderHeld = from, known(from.Kind) && s.has(from)
			}
			to, ok := s.index.get(graphx.NodeID{Kind: l.ToKind, ID: l.To})
			if !ok {
				to = -1
			}
			s.linkTo[i] = to
			found[i] = holderHeld && !(ok && known(l.ToKind))
		}
	})
	var out []graphx.Dangling
	for i, f := range found {
		if !f {
			continue
		}
		l := s.links[i]
		out = append(out, graphx.Dangling{From: graphx.NodeID{Kind: l.Kind, ID: l.From}, Relation: entra.LinkRelation(l.Kind, l.Name),
			Value: l.To, Targets: []entra.Kind{l.ToKind}})
	}
	return out
}

// known reports whether entra knows kind: objects of other kinds are kept but are not
// nodes of the graph.
func known(kind entra.Kind) bool {
	_, ok := entra.Lookup(kind)
	return ok
}

// loadedSide is the side of a loaded state: it keeps the JSON of the objects keepJSON
// accepts (all when nil). The loaded objects are not changed (a diff may be reading
// them).
func loadedSide(l *snapshots.Loaded, keepJSON func(snapshots.Object) bool) *side {
	objects := l.Objects
	if keepJSON != nil {
		objects = slices.Clone(objects)
		for i := range objects {
			if !keepJSON(objects[i]) {
				objects[i].JSON = nil
			}
		}
	}
	return newSide(objects, l.Links)
}

// sortedLinks returns links in key order, each once. Links come that way from the
// store, and are then returned as they are (they may be shared with a diff, so they are
// never changed in place); otherwise a sorted copy is.
func sortedLinks(links []snapshots.Link) []snapshots.Link {
	strict := true
	for i := 1; i < len(links); i++ {
		if snapshots.CompareLinks(links[i-1], links[i]) >= 0 {
			strict = false
			break
		}
	}
	if strict {
		return links
	}
	out := slices.Clone(links)
	slices.SortFunc(out, snapshots.CompareLinks)
	return slices.Compact(out)
}

// matchLinks marks the links each side shares with the other, merging the two sorted
// lists.
func matchLinks(a, b *side) {
	a.inOther, b.inOther = make([]bool, len(a.links)), make([]bool, len(b.links))
	i, j := 0, 0
	for i < len(a.links) && j < len(b.links) {
		switch c := snapshots.CompareLinks(a.links[i], b.links[j]); {
		case c < 0:
			i++
		case c > 0:
			j++
		default:
			a.inOther[i], b.inOther[j] = true, true
			i++
			j++
		}
	}
}

// decoded is one object's JSON decoded ahead of its use, with the error decoding gave.
type decoded struct {
	obj map[string]any
	err error
}

// prefetch decodes the JSON of the objects ns in parallel, ahead of a loop that decodes
// them one after another: decoding is most of what building a large plan costs. Each
// decoded map is handed out once (decode removes it), because the plan's steps may
// change the maps they get, and every decode must see the object as stored.
func (s *side) prefetch(ns []graphx.NodeID) {
	if s.ready == nil {
		s.ready = map[graphx.NodeID]decoded{}
	}
	var todo []graphx.NodeID
	for _, n := range ns {
		if o, ok := s.object(n); ok && o.JSON != nil {
			if _, done := s.ready[n]; !done {
				todo = append(todo, n)
			}
		}
	}
	out := make([]decoded, len(todo))
	parallelFor(len(todo), 256, func(i int) {
		o, _ := s.object(todo[i])
		m, err := o.Decode()
		out[i] = decoded{m, err}
	})
	for i, n := range todo {
		s.ready[n] = out[i]
	}
}

// changeNodes returns the nodes of changes, in order.
func changeNodes(cs []*snapshots.Change) []graphx.NodeID {
	out := make([]graphx.NodeID, len(cs))
	for i, c := range cs {
		out[i] = graphx.NodeID{Kind: c.Kind, ID: c.ID}
	}
	return out
}

// sortUnique returns s sorted by compare, which must order every two elements it is
// given (none compares equal), so that how it sorts does not change the result. It
// sorts pointers to the elements, which are large, and large slices in two halves at
// once, merged.
func sortUnique[T any](s []T, compare func(a, b *T) int) []T {
	ptrs := make([]*T, len(s))
	for i := range s {
		ptrs[i] = &s[i]
	}
	sortPtrs := func(ps []*T) { slices.SortFunc(ps, compare) }
	out := make([]T, 0, len(s))
	if len(s) < 1<<14 || runtime.GOMAXPROCS(0) < 2 {
		sortPtrs(ptrs)
		for _, p := range ptrs {
			out = append(out, *p)
		}
		return out
	}
	left, right := ptrs[:len(ptrs)/2], ptrs[len(ptrs)/2:]
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sortPtrs(left)
	}()
	sortPtrs(right)
	wg.Wait()
	i, j := 0, 0
	for i < len(left) && j < len(right) {
		if compare(left[i], right[j]) <= 0 {
			out = append(out, *left[i])
			i++
		} else {
			out = append(out, *right[j])
			j++
		}
	}
	for _, p := range left[i:] {
		out = append(out, *p)
	}
	for _, p := range right[j:] {
		out = append(out, *p)
	}
	return out
}

// parallelFor calls fn(i) for every i in [0, n), spread over the available cores in
// chunks of chunk. fn must only read what other calls may be reading.
func parallelFor(n, chunk int, fn func(i int)) {
	parallelChunks(n, chunk, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			fn(i)
		}
	})
}

// parallelChunks calls fn(lo, hi) for consecutive chunks [lo, hi) of [0, n), of chunk
// elements each, spread over the available cores; a caller keeps what neighbouring
// elements share from one to the next within a chunk. fn must only read what other
// calls may be reading.
func parallelChunks(n, chunk int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), 4, (n+chunk-1)/chunk)
	if workers <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				lo := next
				next += chunk
				mu.Unlock()
				if lo >= n {
					return
				}
				fn(lo, min(lo+chunk, n))
			}
		}()
	}
	wg.Wait()
}
