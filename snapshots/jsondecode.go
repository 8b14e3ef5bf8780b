package snapshots

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"sync/atomic"
	"unicode/utf8"
)

// Decoding stored objects into maps is most of what a diff or a restore plan of a large
// incident costs, and encoding/json's reflection-driven decoder spends most of its time
// on generality the stored JSON does not need. decodeFast decodes the common case
// directly, giving exactly what encoding/json gives with UseNumber (map[string]any,
// []any never nil, string, json.Number, bool, nil; the last of duplicate keys wins);
// anything it does not handle exactly it refuses, and the caller falls back to
// encoding/json, so results and errors stay the same.

// maxFastDepth bounds the nesting decodeFast follows (encoding/json allows 10,000 and
// errors beyond; stored objects nest a handful of levels).
const maxFastDepth = 512

// decodeFast decodes data, which must hold one JSON object and nothing but white space
// after it; ok is false when it cannot decode data exactly as encoding/json would.
func decodeFast(data []byte) (m map[string]any, ok bool) {
	d := fastDecoder{b: data}
	d.space()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return nil, false
	}
	v, ok := d.object()
	if !ok {
		return nil, false
	}
	d.space()
	if d.i != len(d.b) {
		return nil, false
	}
	return v, true
}

type fastDecoder struct {
	b     []byte
	i     int
	depth int
}

// space moves past JSON whitespace. Stored objects have none, and most calls find a
// byte above ' ', which no whitespace is: one comparison says so.
func (d *fastDecoder) space() {
	for d.i < len(d.b) && d.b[d.i] <= ' ' {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *fastDecoder) value() (any, bool) {
	d.space()
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		m, ok := d.object()
		return m, ok
	case c == '[':
		return d.array()
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return nil, false
}

func (d *fastDecoder) literal(lit string) bool {
	if len(d.b)-d.i < len(lit) || string(d.b[d.i:d.i+len(lit)]) != lit {
		return false
	}
	d.i += len(lit)
	return true
}

// object decodes the object at d.i, which is a '{'.
func (d *fastDecoder) object() (map[string]any, bool) {
	d.depth++
	if d.depth > maxFastDepth {
		return nil, false
	}
	var m map[string]any
	if d.depth == 1 {
		// A stored object has tens of members: sizing its map up front saves growing
		// it three or four times.
		m = make(map[string]any, countMembers(d.b[d.i:]))
	} else {
		m = map[string]any{}
	}
	d.i++
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		d.depth--
		return m, true
	}
	for {
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, false
		}
		k, ok := d.key()
		if !ok {
			return nil, false
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, false
		}
		d.i++
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		m[k] = v
		d.space()
		if d.i >= len(d.b) {
			return nil, false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			d.depth--
			return m, true
		default:
			return nil, false
		}
	}
}

// array decodes the array at d.i, which is a '['.
func (d *fastDecoder) array() (any, bool) {
	d.depth++
	if d.depth > maxFastDepth {
		return nil, false
	}
	d.i++
	a := make([]any, 0)
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		d.depth--
		return a, true
	}
	for {
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		a = append(a, v)
		d.space()
		if d.i >= len(d.b) {
			return nil, false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			d.depth--
			return a, true
		default:
			return nil, false
		}
	}
}

// keyCache holds recently decoded member names: stored objects of a kind share their
// names, and reusing one string per name saves an allocation per member. Slots are
// replaced whole, so concurrent decoders need no lock.
var keyCache [4096]atomic.Pointer[string]

// key decodes the member name at d.i, which is a '"'. A name already in keyCache is
// recognised by its bytes alone: only names without escapes or control or non-ASCII
// bytes are cached, so bytes equal to one up to the first quote are that name, whole.
func (d *fastDecoder) key() (string, bool) {
	start := d.i + 1
	if n := bytes.IndexByte(d.b[start:], '"'); n > 0 && n <= 64 {
		name := d.b[start : start+n]
		// A cheap hash of the length and three bytes: the cache only has to tell apart
		// the few hundred names Graph objects use.
		h := uint32(n)*2654435761 ^ uint32(name[0])<<16 ^ uint32(name[n/2])<<8 ^ uint32(name[n-1])
		slot := &keyCache[(h^h>>13)%uint32(len(keyCache))]
		if p := slot.Load(); p != nil && *p == string(name) {
			d.i = start + n + 1
			return *p, true
		}
		plain := true
		for _, c := range name {
			if c == '\\' || c < 0x20 || c >= 0x80 {
				plain = false
				break
			}
		}
		if plain {
			k := string(name)
			slot.Store(&k)
			d.i = start + n + 1
			return k, true
		}
	}
	v, ok := d.str()
	if !ok {
		return "", false
	}
	return v.(string), true
}

// specialBytes flags, with their high bits, the bytes of the eight in x that may be a
// quote, a backslash or a control character ("has a zero byte" and "has a byte less
// than" word tricks: several bytes at once, and strings are most of a stored object's
// bytes).
func specialBytes(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote := x ^ (ones * '"')
	slash := x ^ (ones * '\\')
	return (((quote - ones) &^ quote) | ((slash - ones) &^ slash) | ((x - ones*0x20) &^ x)) & highs
}

// plainRun returns the index of the first byte at or after i that may end a run of
// plain string content: a quote, a backslash or a control character, or (withHigh) a
// byte that is not ASCII. It tests eight bytes at a time, and when a word holds such a
// byte it returns that byte's index: the lowest flag of specialBytes is exact (a
// borrow can only flag bytes above a flagged one), so a string's end is found in one
// step rather than a byte at a time. Fewer than eight bytes before the end are left to
// the caller, who looks at the byte returned in any case.
func plainRun(b []byte, i int, withHigh bool) int {
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		m := specialBytes(x)
		if withHigh {
			m |= x & 0x8080808080808080
		}
		if m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
		i += 8
	}
	return i
}

// str decodes the string at d.i, which is a '"'. Strings with escapes are rare in
// stored objects and go through encoding/json, which knows every escape rule.
func (d *fastDecoder) str() (any, bool) {
	start := d.i + 1
	ascii, escaped := true, false
	for i := start; i < len(d.b); i++ {
		if ascii {
			if i = plainRun(d.b, i, true); i >= len(d.b) {
				break
			}
		}
		switch c := d.b[i]; {
		case c == '"':
			d.i = i + 1
			if escaped {
				var s string
				if err := json.Unmarshal(d.b[start-1:i+1], &s); err != nil {
					return nil, false
				}
				return s, true
			}
			raw := d.b[start:i]
			if !ascii && !utf8.Valid(raw) {
				return nil, false // encoding/json replaces bad bytes; let it
			}
			return string(raw), true
		case c == '\\':
			escaped = true
			i++ // skip the escaped byte (a '"' or '\\' must not end the scan)
		case c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false
}

// number decodes the number at d.i as a json.Number, checking JSON's number grammar.
func (d *fastDecoder) number() (any, bool) {
	start, i := d.i, d.i
	digits := func() bool {
		j := i
		for i < len(d.b) && d.b[i] >= '0' && d.b[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(d.b) && d.b[i] == '-' {
		i++
	}
	switch {
	case i < len(d.b) && d.b[i] == '0':
		i++
	case !digits():
		return nil, false
	}
	if i < len(d.b) && d.b[i] == '.' {
		i++
		if !digits() {
			return nil, false
		}
	}
	if i < len(d.b) && (d.b[i] == 'e' || d.b[i] == 'E') {
		i++
		if i < len(d.b) && (d.b[i] == '+' || d.b[i] == '-') {
			i++
		}
		if !digits() {
			return nil, false
		}
	}
	d.i = i
	return json.Number(d.b[start:i]), true
}

// countMembers estimates the number of members of the object b starts with by counting
// the commas at its top level; it is only a size hint, so malformed input just gives a
// poor one.
func countMembers(b []byte) int {
	n, depth, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return n + 1
			}
		case ',':
			if depth == 1 {
				n++
			}
		}
	}
	return n + 1
}
