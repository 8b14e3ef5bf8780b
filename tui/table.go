package tui

import (
	"bytes"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/lifelinehq/lifeline/entra"
)

// objRow is one object in the browser's table.
type objRow struct {
	kind  entra.Kind
	id    string
	name  string
	inBin bool
}

func newObjRow(kind entra.Kind, id, name string, inBin bool) objRow {
	return objRow{kind: kind, id: id, name: name, inBin: inBin}
}

// rowSet is the rows of one kind with their search text: every row's lower-cased
// display name and id, laid end to end in one buffer (rows separated by a newline),
// so that a filter scans contiguous memory and can skip non-matching rows with one
// bytes.Index call.
type rowSet struct {
	rows []objRow
	hay  []byte
	offs []int // offs[i] is where row i's text starts; offs[len(rows)] is the end
}

func newRowSet(rows []objRow) *rowSet {
	s := &rowSet{rows: rows, offs: make([]int, 0, len(rows)+1)}
	size := 0
	for _, r := range rows {
		size += len(r.name) + len(r.id) + 2
	}
	s.hay = make([]byte, 0, size)
	for _, r := range rows {
		s.offs = append(s.offs, len(s.hay))
		s.hay = appendLower(s.hay, r.name)
		s.hay = append(s.hay, 0)
		s.hay = appendLower(s.hay, r.id)
		s.hay = append(s.hay, '\n')
	}
	s.offs = append(s.offs, len(s.hay))
	return s
}

// appendLower appends s lower-cased, with control characters (the separators) made spaces.
func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			for _, r := range strings.ToLower(s[i:]) {
				if r < ' ' {
					r = ' '
				}
				dst = utf8.AppendRune(dst, r)
			}
			return dst
		}
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c < ' ':
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

func (s *rowSet) text(i int) []byte { return s.hay[s.offs[i]:s.offs[i+1]] }

// query is a parsed k9s-style filter: text matches the display name or id, case
// insensitively; a leading "!" keeps the rows that do not match.
type query struct {
	text   string
	invert bool
}

func parseQuery(s string) query {
	q := query{}
	if strings.HasPrefix(s, "!") {
		q.invert, s = true, s[1:]
	}
	// Control characters never match (they separate rows in the search text).
	q.text = strings.Map(func(r rune) rune {
		if r < ' ' {
			return -1
		}
		return r
	}, strings.ToLower(s))
	return q
}

func (q query) empty() bool { return q.text == "" }

// narrows reports whether every row q keeps is also kept by prev, so q can filter
// prev's result instead of every row.
func (q query) narrows(prev query) bool {
	if prev.empty() || q.invert != prev.invert {
		return false
	}
	if q.invert {
		// !abc keeps rows without "abc"; !ab keeps fewer: the new text is a substring.
		return strings.Contains(prev.text, q.text)
	}
	return strings.Contains(q.text, prev.text)
}

// filterRows returns the indexes of the rows (out of base, or all rows when base is
// nil) that q keeps. Large inputs are split across the available cores.
func filterRows(set *rowSet, base []int32, q query) []int32 {
	n := len(set.rows)
	if base != nil {
		n = len(base)
	}
	needle := []byte(q.text)
	match := func(lo, hi int, out []int32) []int32 {
		if base == nil && !q.invert {
			// Jump from match to match through the buffer.
			start, end := set.offs[lo], set.offs[hi]
			row := lo
			for pos := start; pos < end; {
				i := bytes.Index(set.hay[pos:end], needle)
				if i < 0 {
					break
				}
				at := pos + i
				for set.offs[row+1] <= at {
					row++
				}
				out = append(out, int32(row))
				row++
				pos = set.offs[row]
			}
			return out
		}
		for i := lo; i < hi; i++ {
			r := int32(i)
			if base != nil {
				r = base[i]
			}
			if bytes.Contains(set.text(int(r)), needle) != q.invert {
				out = append(out, r)
			}
		}
		return out
	}
	workers := runtime.GOMAXPROCS(0)
	if n < 50_000 || workers < 2 {
		return match(0, n, make([]int32, 0, 64))
	}
	// One allocation: each worker fills its own stretch of out (a stretch is as long as
	// its input, which bounds its matches), then the stretches are closed up.
	out := make([]int32, n)
	counts := make([]int, workers)
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[w] = len(match(lo, hi, out[lo:lo:hi]))
		}()
	}
	wg.Wait()
	total := 0
	for w, c := range counts {
		total += copy(out[total:], out[w*chunk:w*chunk+c])
	}
	return out[:total:total]
}

// table is a virtualised list of rows: it keeps the filtered indexes and renders only
// the visible window, so its cost per keystroke does not grow with the row count
// (apart from the filter itself).
type table struct {
	set     *rowSet
	rows    []objRow
	view    []int32 // indexes into rows; nil means every row
	applied query   // the query view was computed for
	cursor  int
	offset  int
	width   int
	height  int
}

func (t *table) setRows(set *rowSet) {
	if set == nil {
		set = newRowSet(nil)
	}
	t.set, t.rows, t.view, t.applied, t.cursor, t.offset = set, set.rows, nil, query{}, 0, 0
}

func (t *table) len() int {
	if t.view == nil {
		return len(t.rows)
	}
	return len(t.view)
}

func (t *table) at(i int) objRow {
	if t.view == nil {
		return t.rows[i]
	}
	return t.rows[t.view[i]]
}

func (t *table) selected() (objRow, bool) {
	if t.len() == 0 {
		return objRow{}, false
	}
	return t.at(t.cursor), true
}

// filterFunc returns the work that applies q, to run off the update loop: it reads only
// immutable slices.
func (t *table) filterFunc(q query) func() []int32 {
	set := t.set
	if q.empty() {
		return func() []int32 { return nil }
	}
	var base []int32
	if t.view != nil && q.narrows(t.applied) {
		base = t.view
	}
	return func() []int32 { return filterRows(set, base, q) }
}

func (t *table) setView(q query, view []int32) {
	t.applied, t.view = q, view
	if t.view != nil && len(t.view) == 0 {
		t.view = []int32{}
	}
	t.cursor = min(t.cursor, max(t.len()-1, 0))
	t.offset = scrollTo(t.offset, t.cursor, t.bodyHeight(), t.len())
}

func (t *table) move(d int) {
	t.cursor = min(max(t.cursor+d, 0), max(t.len()-1, 0))
	t.offset = scrollTo(t.offset, t.cursor, t.bodyHeight(), t.len())
}

func (t *table) bodyHeight() int { return max(t.height-1, 1) }

func (t *table) setSize(w, h int) {
	t.width, t.height = w, h
	t.offset = scrollTo(t.offset, t.cursor, t.bodyHeight(), t.len())
}

// render draws the header and the visible rows only.
func (t *table) render() string {
	w := t.width
	idW := 36
	binW := 4
	nameW := w - idW - binW - 2
	if nameW < 12 {
		idW = max(w-binW-2-12, 8)
		nameW = w - idW - binW - 2
	}
	var b strings.Builder
	b.WriteString(styles.header.Render(pad("DISPLAY NAME", nameW) + " " + pad("ID", idW) + " " + pad("BIN", binW)))
	end := min(t.offset+t.bodyHeight(), t.len())
	for i := t.offset; i < end; i++ {
		r := t.at(i)
		bin := ""
		if r.inBin {
			bin = "bin"
		}
		line := pad(r.name, nameW) + " " + pad(r.id, idW) + " " + pad(bin, binW)
		if i == t.cursor {
			line = styles.selected.Render(line)
		}
		b.WriteByte('\n')
		b.WriteString(line)
	}
	return b.String()
}
