package sim

import (
	"slices"
	"sort"
)

// idSet is a sorted set of object ids, kept in chunks so that an insert into a
// million-id collection moves a few hundred strings, not a million, and a page read
// seeks to its cursor by binary search. Collections are listed in id order, which is
// what makes a $skiptoken a cursor (the last id served) that survives concurrent inserts.
//
// A link set also keeps each target's slot (store.slotFor) beside its id, in slots,
// whose chunks match chunks in length; -1 where no slot was given.
type idSet struct {
	chunks [][]string
	slots  [][]int32
	n      int
}

const (
	idChunkMax  = 1024
	idChunkFill = 512
)

// newIDSet builds a set from ids in any order.
func newIDSet(ids []string) *idSet {
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	s := &idSet{}
	for i := 0; i < len(sorted); i++ {
		if i > 0 && sorted[i] == sorted[i-1] {
			continue
		}
		if len(s.chunks) == 0 || len(s.chunks[len(s.chunks)-1]) >= idChunkFill {
			s.chunks = append(s.chunks, make([]string, 0, idChunkFill))
			s.slots = append(s.slots, make([]int32, 0, idChunkFill))
		}
		last := len(s.chunks) - 1
		s.chunks[last] = append(s.chunks[last], sorted[i])
		s.slots[last] = append(s.slots[last], -1)
		s.n++
	}
	return s
}

// Len returns the number of ids in the set.
func (s *idSet) Len() int { return s.n }

// chunkFor returns the index of the chunk that holds, or would hold, id.
func (s *idSet) chunkFor(id string) int {
	i := sort.Search(len(s.chunks), func(i int) bool {
		c := s.chunks[i]
		return c[len(c)-1] >= id
	})
	if i == len(s.chunks) && i > 0 {
		i--
	}
	return i
}

// Add inserts id; it reports whether the id was new.
func (s *idSet) Add(id string) bool { return s.AddSlot(id, -1) }

// AddSlot inserts id with its slot; it reports whether the id was new (an id already
// there keeps its slot).
func (s *idSet) AddSlot(id string, slot int32) bool {
	if len(s.chunks) == 0 {
		s.chunks = [][]string{{id}}
		s.slots = [][]int32{{slot}}
		s.n = 1
		return true
	}
	ci := s.chunkFor(id)
	c, sl := s.chunks[ci], s.slots[ci]
	j := sort.SearchStrings(c, id)
	if j < len(c) && c[j] == id {
		return false
	}
	c = slices.Insert(c, j, id)
	sl = slices.Insert(sl, j, slot)
	s.chunks[ci], s.slots[ci] = c, sl
	s.n++
	if len(c) > idChunkMax {
		half := len(c) / 2
		s.chunks = slices.Insert(s.chunks, ci+1, slices.Clone(c[half:]))
		s.chunks[ci] = slices.Clone(c[:half])
		s.slots = slices.Insert(s.slots, ci+1, slices.Clone(sl[half:]))
		s.slots[ci] = slices.Clone(sl[:half])
	}
	return true
}

// Remove deletes id; it reports whether the id was present.
func (s *idSet) Remove(id string) bool {
	if len(s.chunks) == 0 {
		return false
	}
	ci := s.chunkFor(id)
	c := s.chunks[ci]
	j := sort.SearchStrings(c, id)
	if j >= len(c) || c[j] != id {
		return false
	}
	c = slices.Delete(c, j, j+1)
	sl := slices.Delete(s.slots[ci], j, j+1)
	s.n--
	if len(c) == 0 {
		s.chunks = slices.Delete(s.chunks, ci, ci+1)
		s.slots = slices.Delete(s.slots, ci, ci+1)
		return true
	}
	s.chunks[ci], s.slots[ci] = c, sl
	return true
}

// Has reports whether id is in the set.
func (s *idSet) Has(id string) bool {
	if len(s.chunks) == 0 {
		return false
	}
	c := s.chunks[s.chunkFor(id)]
	j := sort.SearchStrings(c, id)
	return j < len(c) && c[j] == id
}

// Ascend calls fn for every id greater than after ("" = from the start), in order,
// until fn returns false.
func (s *idSet) Ascend(after string, fn func(id string) bool) {
	s.AscendSlots(after, func(id string, _ int32) bool { return fn(id) })
}

// AscendSlots is Ascend, also giving each id's slot (-1 when none was kept).
func (s *idSet) AscendSlots(after string, fn func(id string, slot int32) bool) {
	start := 0
	if after != "" {
		start = sort.Search(len(s.chunks), func(i int) bool {
			c := s.chunks[i]
			return c[len(c)-1] > after
		})
	}
	for ci := start; ci < len(s.chunks); ci++ {
		c, sl := s.chunks[ci], s.slots[ci]
		j := 0
		if after != "" {
			j = sort.Search(len(c), func(k int) bool { return c[k] > after })
		}
		for ; j < len(c); j++ {
			if !fn(c[j], sl[j]) {
				return
			}
		}
	}
}

// Slice returns every id in order.
func (s *idSet) Slice() []string {
	out := make([]string, 0, s.n)
	for _, c := range s.chunks {
		out = append(out, c...)
	}
	return out
}
