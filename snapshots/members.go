package snapshots

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/lifelinehq/lifeline/entra"
)

// Most of a changed object did not change: an edited user differs from its snapshot in
// two of forty properties. Decoding both versions whole to find those two was most of
// what diffing a large incident cost. Members splits a stored object into its
// top-level members without decoding their values, so that equal members are
// recognised by their bytes (equal bytes are equal JSON) and only the members that
// differ are decoded.

// Member is one top-level member of a JSON object: its name, decoded, and its value as
// it is in the object.
type Member struct {
	Key   string
	Value []byte
}

// Members is an object split into its top-level members, sorted by name, each once.
type Members []Member

// SplitMembers splits the JSON object data into its members, appending them to buf[:0].
// Names are decoded as encoding/json decodes them (escapes included). ok is false when
// it cannot split data exactly as encoding/json would decode it: not one well-formed
// object, or a name given twice. The caller then decodes data whole, which gives the
// error or the meaning encoding/json gives.
func SplitMembers(data []byte, buf Members) (Members, bool) {
	if cap(buf) == 0 {
		buf = make(Members, 0, 8+len(data)/32) // a member takes thirty-odd bytes
	}
	out := buf[:0]
	d := fastDecoder{b: data}
	d.space()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return nil, false
	}
	d.i++
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
	} else {
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
			d.space()
			start := d.i
			if !d.skip() {
				return nil, false
			}
			out = append(out, Member{Key: k, Value: d.b[start:d.i]})
			d.space()
			if d.i >= len(d.b) {
				return nil, false
			}
			if d.b[d.i] == ',' {
				d.i++
				continue
			}
			if d.b[d.i] != '}' {
				return nil, false
			}
			d.i++
			break
		}
	}
	d.space()
	if d.i != len(d.b) {
		return nil, false
	}
	// Stored objects are canonical, their members already in order.
	if !slices.IsSortedFunc(out, func(a, b Member) int { return strings.Compare(a.Key, b.Key) }) {
		slices.SortStableFunc(out, func(a, b Member) int { return strings.Compare(a.Key, b.Key) })
	}
	for i := 1; i < len(out); i++ {
		if out[i].Key == out[i-1].Key {
			return nil, false
		}
	}
	return out, true
}

// Get returns the raw value of the member named key.
func (ms Members) Get(key string) ([]byte, bool) {
	i, ok := slices.BinarySearchFunc(ms, key, func(m Member, k string) int { return strings.Compare(m.Key, k) })
	if !ok {
		return nil, false
	}
	return ms[i].Value, true
}

// Value returns the member named key decoded as Object.Decode decodes it (nil when it
// is absent, as a map lookup gives).
func (ms Members) Value(key string) (any, error) {
	raw, ok := ms.Get(key)
	if !ok {
		return nil, nil
	}
	return DecodeValue(raw)
}

// String returns the member named key when it is a string ("" otherwise).
func (ms Members) String(key string) string {
	raw, ok := ms.Get(key)
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	v, err := DecodeValue(raw)
	if err != nil {
		return ""
	}
	s, _ := v.(string)
	return s
}

// DisplayName is entra.DisplayName of the object, read from the members it needs.
func (ms Members) DisplayName(kind entra.Kind) string {
	m := make(map[string]any, 4)
	for _, k := range entra.DisplayNameProperties {
		if s := ms.String(k); s != "" {
			m[k] = s
		}
	}
	return entra.DisplayName(kind, m)
}

// DecodeValue decodes one JSON value as Object.Decode decodes an object's members
// (json.Number for numbers).
func DecodeValue(raw []byte) (any, error) {
	d := fastDecoder{b: raw}
	if v, ok := d.value(); ok {
		d.space()
		if d.i == len(d.b) {
			return v, nil
		}
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, &json.SyntaxError{Offset: dec.InputOffset()}
	}
	return v, nil
}

// skip moves past the value at d.i, checking it is well-formed JSON as encoding/json
// would (its strings' bytes are not checked: encoding/json accepts any, replacing what
// is not UTF-8), without decoding it.
func (d *fastDecoder) skip() bool {
	if d.i >= len(d.b) {
		return false
	}
	switch c := d.b[d.i]; {
	case c == '"':
		return d.skipString()
	case c == '{':
		d.depth++
		if d.depth > maxFastDepth {
			return false
		}
		d.i++
		d.space()
		if d.i < len(d.b) && d.b[d.i] == '}' {
			d.i++
			d.depth--
			return true
		}
		for {
			d.space()
			if d.i >= len(d.b) || d.b[d.i] != '"' || !d.skipString() {
				return false
			}
			d.space()
			if d.i >= len(d.b) || d.b[d.i] != ':' {
				return false
			}
			d.i++
			d.space()
			if !d.skip() {
				return false
			}
			d.space()
			if d.i >= len(d.b) {
				return false
			}
			switch d.b[d.i] {
			case ',':
				d.i++
			case '}':
				d.i++
				d.depth--
				return true
			default:
				return false
			}
		}
	case c == '[':
		d.depth++
		if d.depth > maxFastDepth {
			return false
		}
		d.i++
		d.space()
		if d.i < len(d.b) && d.b[d.i] == ']' {
			d.i++
			d.depth--
			return true
		}
		for {
			d.space()
			if !d.skip() {
				return false
			}
			d.space()
			if d.i >= len(d.b) {
				return false
			}
			switch d.b[d.i] {
			case ',':
				d.i++
			case ']':
				d.i++
				d.depth--
				return true
			default:
				return false
			}
		}
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		_, ok := d.number()
		return ok
	}
	return false
}

// skipString moves past the string at d.i, which is a '"', checking its escapes.
func (d *fastDecoder) skipString() bool {
	for i := d.i + 1; i < len(d.b); i++ {
		if i = plainRun(d.b, i, false); i >= len(d.b) {
			return false
		}
		switch c := d.b[i]; {
		case c == '"':
			d.i = i + 1
			return true
		case c == '\\':
			i++
			if i >= len(d.b) {
				return false
			}
			switch d.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(d.b) {
					return false
				}
				for _, h := range d.b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false
					}
				}
				i += 4
			default:
				return false
			}
		case c < 0x20:
			return false
		}
	}
	return false
}

// Members returns the object split into its members (appended to buf[:0]). An object
// SplitMembers leaves to encoding/json is decoded as Decode decodes it and split from
// that, so the members mean what Decode's map holds, and its errors are Decode's.
func (o Object) Members(buf Members) (Members, error) {
	if ms, ok := SplitMembers(o.JSON, buf); ok {
		return ms, nil
	}
	m, err := o.Decode()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("%s %s: stored JSON is unreadable: %w", o.Kind, o.ID, err)
	}
	ms, ok := SplitMembers(b.Bytes(), buf)
	if !ok {
		// What an encoder wrote from a map (each name once) always splits.
		return nil, fmt.Errorf("%s %s: stored JSON cannot be split into its members", o.Kind, o.ID)
	}
	return ms, nil
}
