package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"unicode/utf8"

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

	targetErr, liveErr, diffErr error
}

// loadPlanInputs reads the target, the live state and their diff at the same time: the
// three reads are independent, and on a large incident each takes seconds. The target
// is read once for both its graph and its objects (LoadGraph and readSide would each
// read every object's JSON).
func loadPlanInputs(ctx context.Context, target, live snapshots.State) *planInputs {
	in := &planInputs{}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		in.diff, in.diffErr = snapshots.Diff(ctx, target, live, snapshots.DiffOptions{})
	}()
	go func() {
		defer wg.Done()
		// Live JSON is kept only where the plan needs it: an assignment's parent for a
		// removal, and what changed in an object before it went to the bin.
		in.live, in.liveErr = readSide(ctx, live, func(o snapshots.Object) bool {
			spec, ok := entra.Lookup(o.Kind)
			return ok && (spec.Parent != "" || o.InBin)
		})
	}()
	in.graph, in.target, in.targetErr = readTarget(ctx, target)
	wg.Wait()
	return in
}

// readTarget reads the target's objects and links once, building both its graph (as
// LoadGraph does) and its side (as readSide does, keeping every object's JSON).
func readTarget(ctx context.Context, s snapshots.State) (*graphx.Graph, *side, error) {
	b := graphx.NewBuilder()
	sd := &side{objs: map[graphx.NodeID]snapshots.Object{}, links: map[snapshots.Link]bool{}}
	objs, err := s.Store.AllObjects(ctx, s.Snapshot.ID)
	if err != nil {
		return nil, nil, err
	}
	for _, o := range objs {
		if _, ok := entra.Lookup(o.Kind); ok {
			if err := b.AddObject(o.Kind, o.ID, o.JSON, o.InBin); err != nil {
				return nil, nil, fmt.Errorf("%s %s in snapshot %d is unreadable: %w", o.Kind, o.ID, s.Snapshot.ID, err)
			}
		}
		sd.objs[graphx.NodeID{Kind: o.Kind, ID: o.ID}] = o
	}
	err = s.Store.Links(ctx, s.Snapshot.ID, func(l snapshots.Link) error {
		b.AddLink(l.Kind, l.From, l.Name, l.ToKind, l.To)
		sd.links[l] = true
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return b.Build(), sd, nil
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
		if o, ok := s.objs[n]; ok && o.JSON != nil {
			if _, done := s.ready[n]; !done {
				todo = append(todo, n)
			}
		}
	}
	out := make([]decoded, len(todo))
	workers := min(runtime.GOMAXPROCS(0), 4)
	const chunk = 256
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
				if lo >= len(todo) {
					return
				}
				for i := lo; i < min(lo+chunk, len(todo)); i++ {
					m, err := s.objs[todo[i]].Decode()
					out[i] = decoded{m, err}
				}
			}
		}()
	}
	wg.Wait()
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

// parallelFor calls fn(i) for every i in [0, n), spread over the available cores in
// chunks. fn must only read what other calls may be reading.
func parallelFor(n int, fn func(i int)) {
	const chunk = 1024
	workers := min(runtime.GOMAXPROCS(0), 4, (n+chunk-1)/chunk)
	if workers <= 1 {
		for i := range n {
			fn(i)
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
				for i := lo; i < min(lo+chunk, n); i++ {
					fn(i)
				}
			}
		}()
	}
	wg.Wait()
}

// jsonEqual reports whether a and b marshal to the same JSON, as comparing their
// mustJSON would, without marshalling the values decoding gives: maps marshal with
// sorted keys, so equal maps are those with the same keys and equal values, and decoded
// strings are valid UTF-8, on which marshalling is one-to-one. Other values are
// compared by marshalling them.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		if b == nil {
			return true
		}
	case string:
		if y, ok := b.(string); ok && utf8.ValidString(x) && utf8.ValidString(y) {
			return x == y
		}
	case json.Number:
		if y, ok := b.(json.Number); ok && x == y {
			return true
		}
	case bool:
		if y, ok := b.(bool); ok {
			return x == y
		}
	case map[string]any:
		if y, ok := b.(map[string]any); ok && x != nil && y != nil {
			if len(x) != len(y) {
				return false
			}
			for k, xv := range x {
				yv, ok := y[k]
				if !ok || !jsonEqual(xv, yv) {
					return false
				}
			}
			return true
		}
	case []any:
		if y, ok := b.([]any); ok && x != nil && y != nil {
			if len(x) != len(y) {
				return false
			}
			for i := range x {
				if !jsonEqual(x[i], y[i]) {
					return false
				}
			}
			return true
		}
	}
	return string(mustJSON(a)) == string(mustJSON(b))
}
