package snapshots

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
	"unsafe"

	"github.com/lifelinehq/lifeline/entra"
)

// The stage is the snapshot being written, in memory, laid out for a million objects:
// one fixed-size, pointer-free entry per object or link target (the garbage collector
// never scans it), ids kept as 16 bytes when they are GUIDs, and links as a flat list
// of records that Commit groups by holder.

// handle numbers a (kind, id) inside one Writer.
type handle = int32

const (
	entStaged = 1 << iota // in the snapshot being written
	entInBin              // ... as a recycle bin entry
	entGUID               // the id is a lowercase GUID, held in g
	// entChecked: blob, kept from an earlier snapshot, was found to hold exactly the
	// version with this hash (reuse.go). Staging another blob clears it.
	entChecked
)

type ent struct {
	g     [16]byte // the id, when entGUID
	str   int32    // index into stage.strs, otherwise
	pn    int32    // names.n, 0 until the object is numbered as a link target
	prev  int32    // 1 + index into stage.prevRows, 0 when the previous snapshot lacks it
	kind  byte     // index into stage.kinds
	flags byte
	hash  Hash
	blob  int64
}

func (e *ent) staged() bool { return e.flags&entStaged != 0 }
func (e *ent) inBin() bool  { return e.flags&entInBin != 0 }
func (e *ent) live() bool   { return e.flags&(entStaged|entInBin) == entStaged }

func (e *ent) stage(hash Hash, blob int64, inBin bool) {
	if blob != e.blob {
		e.flags &^= entChecked
	}
	e.flags |= entStaged
	e.flags &^= entInBin
	if inBin {
		e.flags |= entInBin
	}
	e.hash, e.blob = hash, blob
}

// prevRow is an object's open manifest row: its version in the previous snapshot. refs
// is a span of stage.arena.
type prevRow struct {
	first     int64
	blob      int64
	hash      Hash
	refs, end int32
	inBin     bool
}

type setKey struct {
	h    handle
	name uint16
}

type prevSet struct {
	first      int64
	start, end int32 // targets, a span of stage.arena
}

type linkTriple struct {
	from handle
	name uint16
	to   handle
}

// linkPair is one PutLink of a given link name.
type linkPair struct {
	from, to handle
}

// guidTable finds objects with GUID ids: open addressing, the GUID's own (random) bytes
// as the hash, and the key kept in the slot so that a lookup touches one cache line.
// Several times faster than a Go map on a million keys, and not scanned by the GC.
type guidTable struct {
	slots []guidSlot
	n     int
}

type guidSlot struct {
	g    [16]byte
	h    handle // -1: empty
	kind byte
}

func (t *guidTable) find(kind byte, g *[16]byte) (handle, int) {
	if len(t.slots) == 0 {
		return -1, -1
	}
	mask := len(t.slots) - 1
	i := int(binary.LittleEndian.Uint64(g[0:8])^uint64(kind)*0x9e3779b97f4a7c15) & mask
	for {
		s := &t.slots[i]
		if s.h < 0 {
			return -1, i
		}
		if s.g == *g && s.kind == kind {
			return s.h, i
		}
		i = (i + 1) & mask
	}
}

func (t *guidTable) insert(kind byte, g *[16]byte, h handle) {
	if t.n*4 >= len(t.slots)*3 {
		t.grow()
	}
	_, i := t.find(kind, g)
	t.slots[i] = guidSlot{g: *g, h: h, kind: kind}
	t.n++
}

func (t *guidTable) grow() {
	old := t.slots
	t.slots = make([]guidSlot, max(1024, 2*len(old)))
	for i := range t.slots {
		t.slots[i].h = -1
	}
	for _, s := range old {
		if s.h >= 0 {
			_, i := t.find(s.kind, &s.g)
			t.slots[i] = s
		}
	}
}

type stage struct {
	kinds    []entra.Kind // kind code -> kind
	kindCode map[entra.Kind]byte
	guids    guidTable         // objects with GUID ids
	others   map[string]handle // kind code byte + id, for other ids
	strs     []string
	ents     []ent

	// pairs holds the links put, by link name: 8 bytes a link. seqs, once a removal or
	// a clear has been recorded, holds beside each pair the sequence number it was put
	// at: a link survives when no RemoveLink of it and no ClearLinks of its name came
	// after it. A full capture never needs them.
	pairs     [][]linkPair
	seqs      [][]uint32
	seq       uint32
	clears    map[setKey]uint32
	tomb      map[linkTriple]uint32
	linkNames []string
	nameIdx   map[string]uint16

	prevRows []prevRow
	prevSets map[setKey]prevSet
	arena    []byte
	byPN     []handle // names.n -> handle
	maxPN    int32
}

func newStage() stage {
	return stage{kindCode: map[entra.Kind]byte{}, others: map[string]handle{},
		clears: map[setKey]uint32{}, tomb: map[linkTriple]uint32{}, nameIdx: map[string]uint16{}, prevSets: map[setKey]prevSet{}}
}

func (st *stage) code(kind entra.Kind) byte {
	c, ok := st.kindCode[kind]
	if !ok {
		if len(st.kinds) == 255 {
			panic("snapshots: more than 255 kinds")
		}
		c = byte(len(st.kinds))
		st.kinds = append(st.kinds, kind)
		st.kindCode[kind] = c
	}
	return c
}

// ParseGUID reads a GUID in Graph's lowercase canonical form, the sixteen bytes it
// spells; ok is false for anything else (upper case, braces, opaque ids), which callers
// keep as a string so that it reads back exactly as it came: two ids are the same
// string exactly when they parse to the same bytes.
func ParseGUID(id string) (g [16]byte, ok bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return g, false
	}
	var bad byte
	for j, i := range guidDigits {
		hi, lo := unhexTable[id[i]], unhexTable[id[i+1]]
		bad |= hi | lo
		g[j] = hi<<4 | lo&15
	}
	return g, bad&0xf0 == 0
}

// guidDigits are where each byte's two hex digits start in a GUID's text.
var guidDigits = [16]int{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// unhexTable maps lowercase hex digits to their value and every other byte to 0xff.
var unhexTable = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
	}
	return t
}()

func appendGUID(dst []byte, g *[16]byte) []byte {
	var b [36]byte
	hex.Encode(b[0:8], g[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], g[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], g[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], g[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], g[10:16])
	return append(dst, b[:]...)
}

func (st *stage) intern(kind entra.Kind, id string) handle {
	c := st.code(kind)
	if g, ok := ParseGUID(id); ok {
		if h, _ := st.guids.find(c, &g); h >= 0 {
			return h
		}
		h := handle(len(st.ents))
		st.ents = append(st.ents, ent{g: g, kind: c, flags: entGUID})
		st.guids.insert(c, &g, h)
		return h
	}
	var buf [128]byte
	k := append(append(buf[:0], c), id...)
	if h, ok := st.others[string(k)]; ok {
		return h
	}
	h := handle(len(st.ents))
	st.others[string(k)] = h
	st.strs = append(st.strs, id)
	st.ents = append(st.ents, ent{str: int32(len(st.strs) - 1), kind: c})
	return h
}

// internBytes is intern for an id held as bytes.
func (st *stage) internBytes(kind entra.Kind, id []byte) handle {
	if len(id) == 36 {
		if g, ok := ParseGUID(unsafeString(id)); ok {
			c := st.code(kind)
			if h, _ := st.guids.find(c, &g); h >= 0 {
				return h
			}
			h := handle(len(st.ents))
			st.ents = append(st.ents, ent{g: g, kind: c, flags: entGUID})
			st.guids.insert(c, &g, h)
			return h
		}
	}
	return st.intern(kind, string(id))
}

// unsafeString views b as a string for a read that does not keep it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (st *stage) lookup(kind entra.Kind, id string) (handle, bool) {
	c, ok := st.kindCode[kind]
	if !ok {
		return 0, false
	}
	if g, ok := ParseGUID(id); ok {
		h, _ := st.guids.find(c, &g)
		return h, h >= 0
	}
	var buf [128]byte
	h, ok := st.others[string(append(append(buf[:0], c), id...))]
	return h, ok
}

func (st *stage) id(h handle) string {
	e := &st.ents[h]
	if e.flags&entGUID != 0 {
		return string(appendGUID(nil, &e.g))
	}
	return st.strs[e.str]
}

// appendID appends an object's id without allocating for GUIDs.
func (st *stage) appendID(dst []byte, h handle) []byte {
	e := &st.ents[h]
	if e.flags&entGUID != 0 {
		return appendGUID(dst, &e.g)
	}
	return append(dst, st.strs[e.str]...)
}

func (st *stage) kindOf(h handle) entra.Kind { return st.kinds[st.ents[h].kind] }

// compareIDs orders two objects' ids as strings compare.
func (st *stage) compareIDs(a, b handle) int {
	ea, eb := &st.ents[a], &st.ents[b]
	if ea.flags&eb.flags&entGUID != 0 {
		// Lowercase hex with dashes at fixed places sorts as the bytes do.
		return bytes.Compare(ea.g[:], eb.g[:])
	}
	if ea.flags&entGUID == 0 && eb.flags&entGUID == 0 {
		return strings.Compare(st.strs[ea.str], st.strs[eb.str])
	}
	var x, y [40]byte
	return bytes.Compare(st.appendID(x[:0], a), st.appendID(y[:0], b))
}

func (st *stage) linkName(name string) uint16 {
	i, ok := st.nameIdx[name]
	if !ok {
		if len(st.linkNames) == 1<<16-1 {
			panic("snapshots: too many link names")
		}
		i = uint16(len(st.linkNames))
		st.linkNames = append(st.linkNames, name)
		st.nameIdx[name] = i
	}
	return i
}

func (st *stage) prevOf(h handle) *prevRow {
	if p := st.ents[h].prev; p > 0 {
		return &st.prevRows[p-1]
	}
	return nil
}

func (st *stage) span(start, end int32) []byte { return st.arena[start:end] }

func (st *stage) keep(b []byte) (int32, int32) {
	start := int32(len(st.arena))
	st.arena = append(st.arena, b...)
	return start, int32(len(st.arena))
}

// setNumber records that names.n n is h.
func (st *stage) setNumber(h handle, n int32) {
	st.ents[h].pn = n
	for int32(len(st.byPN)) <= n {
		st.byPN = append(st.byPN, -1)
	}
	st.byPN[n] = h
	st.maxPN = max(st.maxPN, n)
}

func (st *stage) addLink(from handle, name uint16, to handle) {
	for int(name) >= len(st.pairs) {
		st.pairs = append(st.pairs, nil)
		if st.seqs != nil {
			st.seqs = append(st.seqs, nil)
		}
	}
	st.pairs[name] = append(st.pairs[name], linkPair{from, to})
	if st.seqs != nil {
		st.seqs[name] = append(st.seqs[name], st.seq)
	}
}

// nextSeq starts a new sequence number for a removal or a clear, tracking the sequence
// of every link from the first one on.
func (st *stage) nextSeq() uint32 {
	if st.seqs == nil {
		st.seqs = make([][]uint32, len(st.pairs))
		for i, p := range st.pairs {
			st.seqs[i] = make([]uint32, len(p))
		}
	}
	st.seq++
	return st.seq
}

// alive says whether the i-th link put under name survives the removals and clears
// made after it.
func (st *stage) alive(name uint16, i int) bool {
	if st.seqs == nil {
		return true
	}
	seq := st.seqs[name][i]
	r := st.pairs[name][i]
	if len(st.clears) > 0 {
		if s, ok := st.clears[setKey{r.from, name}]; ok && seq < s {
			return false
		}
	}
	if len(st.tomb) > 0 {
		if s, ok := st.tomb[linkTriple{r.from, name, r.to}]; ok && seq < s {
			return false
		}
	}
	return true
}

func lookupSpec(k entra.Kind) (*entra.Spec, bool) {
	s, ok := entra.Lookup(k)
	return s, ok
}

// sortedHandles returns the handles keep selects in key order, (kind, id) as strings
// compare. It sorts on an 8-byte prefix of each id, held beside the handle, and looks at
// whole ids only for ties: several times faster than comparing through st.ents.
func (st *stage) sortedHandles(kindRank []int, keep func(h int) bool) []handle {
	// A kind whose ids are all GUIDs sorts on their first 8 bytes; otherwise on the first
	// 8 bytes of the ids' text.
	mixed := make([]bool, len(st.kinds))
	for i := range st.ents {
		if st.ents[i].flags&entGUID == 0 {
			mixed[st.ents[i].kind] = true
		}
	}
	type item struct {
		prefix uint64
		rank   uint32
		h      handle
	}
	items := make([]item, 0, len(st.ents))
	var buf [40]byte
	for h := range st.ents {
		if !keep(h) {
			continue
		}
		e := &st.ents[h]
		var p uint64
		if !mixed[e.kind] {
			p = binary.BigEndian.Uint64(e.g[:8])
		} else {
			id := st.appendID(buf[:0], handle(h))
			var b [8]byte
			copy(b[:], id)
			p = binary.BigEndian.Uint64(b[:])
		}
		items = append(items, item{p, uint32(kindRank[e.kind]), handle(h)})
	}
	slices.SortFunc(items, func(a, b item) int {
		if a.rank != b.rank {
			return int(a.rank) - int(b.rank)
		}
		if a.prefix != b.prefix {
			if a.prefix < b.prefix {
				return -1
			}
			return 1
		}
		return st.compareIDs(a.h, b.h)
	})
	out := make([]handle, len(items))
	for i, it := range items {
		out[i] = it.h
	}
	return out
}
