package snapshots

import (
	"context"
	"crypto/sha256"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/lifelinehq/lifeline/entra"
)

// Loaded is one state read whole into memory. A restore plan keeps every object and
// link of both states anyway; DiffLoaded compares two Loaded states from memory rather
// than reading the manifests, changed versions and links from the files again, which
// was most of what a large incident's diff cost.
type Loaded struct {
	// Objects are the state's objects in (kind, id) order, as AllObjects gives them.
	Objects []Object
	// Links are the state's links in key order, as Links gives them (nil until
	// LoadLinks).
	Links []Link

	complete    bool // every object of the manifest is in Objects
	linksLoaded bool
}

// LoadObjects reads a state's objects, as AllObjects does, into l. Links are read by
// LoadLinks, apart: the two may run at the same time (each sets its own fields), and a
// caller can report a damaged object before a damaged link as it would reading them in
// that order.
func (l *Loaded) LoadObjects(ctx context.Context, s State) error {
	objs, complete, err := s.Store.allObjects(ctx, s.Snapshot.ID, objectCapacity(s.Snapshot))
	if err != nil {
		return err
	}
	l.Objects, l.complete = objs, complete
	return nil
}

// LoadLinks reads the state's links, as Links does, into l.
func (l *Loaded) LoadLinks(ctx context.Context, s State) error {
	var links []Link
	if s.Snapshot.LinkCount > 0 {
		// A capacity hint, capped: a damaged count must not make a huge allocation.
		links = make([]Link, 0, min(s.Snapshot.LinkCount, 1<<20))
	}
	err := s.Store.Links(ctx, s.Snapshot.ID, func(k Link) error {
		links = append(links, k)
		return nil
	})
	if err != nil {
		return err
	}
	l.Links, l.linksLoaded = links, true
	return nil
}

// RootMatches reports whether the objects and links l holds hash to root, the root hash
// their snapshot was stored with, as 'lifeline snapshots verify' recomputes it from the
// file: false when a manifest row or a link was added, removed or altered in the file
// since, or when an object's content is missing from it. The two digests are computed at
// the same time. It needs both LoadObjects and LoadLinks.
func (l *Loaded) RootMatches(root string) bool {
	if !l.complete || !l.linksLoaded {
		return false
	}
	var objects, links []byte
	var wg sync.WaitGroup
	wg.Go(func() {
		objects = digestLines(len(l.Objects), func(dst []byte, i int) []byte {
			o := &l.Objects[i]
			return appendObjectLine(dst, string(o.Kind), o.ID, o.Hash[:], o.InBin)
		})
	})
	links = digestLines(len(l.Links), func(dst []byte, i int) []byte {
		return appendLinkLine(dst, &l.Links[i])
	})
	wg.Wait()
	return rootOf(objects, links) == root
}

// digestLines is the SHA-256 of n lines, line i appended by appendLine: written to the
// digest some tens of kilobytes at a time, as half a million small writes cost more
// than the hashing.
func digestLines(n int, appendLine func(dst []byte, i int) []byte) []byte {
	d, buf := sha256.New(), make([]byte, 0, 64<<10)
	for i := range n {
		if buf = appendLine(buf, i); len(buf) >= 60<<10 {
			d.Write(buf)
			buf = buf[:0]
		}
	}
	d.Write(buf)
	return d.Sum(nil)
}

// object finds an object of the state by kind and id.
func (l *Loaded) object(kind entra.Kind, id string) (Object, bool) {
	i := sort.Search(len(l.Objects), func(i int) bool {
		o := &l.Objects[i]
		return o.Kind > kind || (o.Kind == kind && o.ID >= id)
	})
	if i < len(l.Objects) && l.Objects[i].Kind == kind && l.Objects[i].ID == id {
		return l.Objects[i], true
	}
	return Object{}, false
}

// DiffLoaded is Diff(ctx, from, to, opts) of two states already loaded whole (a from
// from, b from to, each with its links), giving the same result without reading the
// files again. States in one file, or a state some of whose objects could not be
// loaded, are diffed by Diff itself.
func DiffLoaded(ctx context.Context, from, to State, a, b *Loaded, opts DiffOptions) (*DiffResult, error) {
	if from.Store == to.Store || a == nil || b == nil || !a.complete || !b.complete || !a.linksLoaded || !b.linksLoaded {
		return Diff(ctx, from, to, opts)
	}
	res := &DiffResult{From: refOf(from), To: refOf(to)}
	kinds := map[string]bool{}
	for _, k := range opts.Kinds {
		kinds[string(k)] = true
	}
	want := func(kind string) bool { return len(kinds) == 0 || kinds[kind] }

	// The manifests merged as manifestPairs merges two files' manifests; a row's blob
	// is its object's position in Objects plus one.
	row := func(objs []Object, i int) *manifestRow {
		o := &objs[i]
		return &manifestRow{kind: string(o.Kind), id: o.ID, hash: o.Hash, blob: int64(i + 1), inBin: o.InBin}
	}
	var pairs []rowPair
	x, y := a.Objects, b.Objects
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		var ra, rb *manifestRow
		switch {
		case j >= len(y) || (i < len(x) && objectLess(&x[i], &y[j])):
			ra = row(x, i)
			i++
		case i >= len(x) || objectLess(&y[j], &x[i]):
			rb = row(y, j)
			j++
		default:
			if x[i].Hash == y[j].Hash && x[i].InBin == y[j].InBin {
				i++
				j++
				continue // unchanged
			}
			ra, rb = row(x, i), row(y, j)
			i++
			j++
		}
		kind := ""
		if ra != nil {
			kind = ra.kind
		} else {
			kind = rb.kind
		}
		if want(kind) {
			pairs = append(pairs, rowPair{ra, rb})
		}
	}

	get := func(s *Store, blob int64) ([]byte, error) {
		objs := y
		if s == from.Store {
			objs = x
		}
		return objs[blob-1].JSON, nil
	}
	out := make([]*Change, len(pairs))
	errs := make([]error, len(pairs))
	const chunk = 128
	workers := max(1, min(runtime.GOMAXPROCS(0), 4, (len(pairs)+chunk-1)/chunk))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= len(pairs) {
					return
				}
				for k := lo; k < min(lo+chunk, len(pairs)); k++ {
					out[k], errs[k] = classify(ctx, from, to, pairs[k].ra, pairs[k].rb, opts, get)
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return finishDiff(ctx, from, to, want, out, res, a, b, opts)
}

// objectLess orders objects as the manifest does: by kind, then id.
func objectLess(p, q *Object) bool {
	if p.Kind != q.Kind {
		return p.Kind < q.Kind
	}
	return p.ID < q.ID
}
