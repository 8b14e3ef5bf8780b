package engine

import (
	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
)

// objectIndex finds a side's objects by kind and id. A plan looks objects up by the
// million (every link's other end, both ends' fates, names), in a map far larger than
// the caches. Keyed by graphx.NodeID, each lookup compared two strings held elsewhere in
// memory; most ids are GUIDs, which are kept here as sixteen bytes beside a kind code,
// in a key without pointers that is compared where it lies.
type objectIndex struct {
	kinds []entra.Kind // a kind's code is its position
	guids map[guidKey]int32
	other map[graphx.NodeID]int32 // objects whose id is not a GUID in Graph's form
}

// guidKey is an object whose id is a GUID: its kind's code and the GUID's bytes.
type guidKey struct {
	kind uint8
	guid [16]byte
}

// newObjectIndex returns an empty index with room for n objects.
func newObjectIndex(n int) objectIndex {
	return objectIndex{guids: make(map[guidKey]int32, n), other: map[graphx.NodeID]int32{}}
}

// code returns kind's code, giving it one when add is set; ok is false when the kind
// has none (or there are too many kinds for a code, which then go to other).
func (x *objectIndex) code(kind entra.Kind, add bool) (c uint8, ok bool) {
	for i, k := range x.kinds {
		if k == kind {
			return uint8(i), true
		}
	}
	if !add || len(x.kinds) > 255 {
		return 0, false
	}
	x.kinds = append(x.kinds, kind)
	return uint8(len(x.kinds) - 1), true
}

// add indexes the object n at position i.
func (x *objectIndex) add(n graphx.NodeID, i int32) {
	if g, ok := snapshots.ParseGUID(n.ID); ok {
		if c, ok := x.code(n.Kind, true); ok {
			x.guids[guidKey{c, g}] = i
			return
		}
	}
	x.other[n] = i
}

// get returns the position of the object n.
func (x *objectIndex) get(n graphx.NodeID) (int32, bool) {
	if g, ok := snapshots.ParseGUID(n.ID); ok {
		if c, ok := x.code(n.Kind, false); ok {
			i, ok := x.guids[guidKey{c, g}]
			return i, ok
		}
		if len(x.kinds) <= 255 {
			return 0, false // a kind the side has no object of
		}
	}
	i, ok := x.other[n]
	return i, ok
}
