package snapshots

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/lifelinehq/lifeline/entra"
)

// canonicalizer produces the same bytes as the map-based Canonicalize (sorted keys, no
// whitespace, numbers verbatim, strings as encoding/json writes them with HTML escaping
// off, annotations and secrets dropped) by walking the input once and copying spans,
// without building a map per object. Capture spends most of its CPU here, so it matters:
// it is several times faster and allocates little. A property test holds it to
// Canonicalize's output.
type canonicalizer struct {
	in   []byte
	pos  int
	out  []byte
	drop map[string]bool // top-level keys to drop
	// scratch holds member spans while an object's keys are sorted.
	scratch []member
	// topID is the top-level "id" member, recorded as the object is read.
	topID string
	// values is scratch space for an object's member values while they are reordered.
	values []byte
}

type member struct {
	key        []byte // raw key bytes inside the quotes (unescaped form when escaped)
	start, end int    // the value's span in out
}

var errTrailing = errors.New("trailing data after the object")

// annotations are response-level members that are not part of the object.
var annotations = map[string]bool{"@odata.context": true, "@odata.etag": true, "@odata.id": true, "@odata.editLink": true}

// dropSets caches, per kind, the top-level members never stored.
var dropSets = func() map[entra.Kind]map[string]bool {
	m := map[entra.Kind]map[string]bool{}
	for _, spec := range entra.Specs() {
		d := map[string]bool{}
		for k := range annotations {
			d[k] = true
		}
		for _, p := range spec.Properties {
			if p.Secret || p.Access == entra.WriteOnly {
				d[p.Name] = true
			}
		}
		m[spec.Kind] = d
	}
	return m
}()

// canonicalFast canonicalizes one object and returns its id.
func canonicalFast(kind entra.Kind, raw []byte) (out []byte, id string, err error) {
	drop := dropSets[kind]
	if drop == nil {
		drop = annotations
	}
	if out, id, ok := canonicalAsIs(raw, drop); ok {
		return out, id, nil
	}
	c := &canonicalizer{in: raw, drop: drop, out: make([]byte, 0, len(raw))}
	c.ws()
	if c.pos >= len(c.in) || c.in[c.pos] != '{' {
		return nil, "", fmt.Errorf("invalid JSON for a %s: not an object", kind)
	}
	if err := c.object(1); err != nil {
		return nil, "", fmt.Errorf("invalid JSON for a %s: %w", kind, err)
	}
	c.ws()
	if c.pos != len(c.in) {
		return nil, "", fmt.Errorf("invalid JSON for a %s: %w", kind, errTrailing)
	}
	return c.out, c.topID, nil
}

func (c *canonicalizer) ws() {
	// No whitespace byte is above ' ': one comparison passes over the rest.
	for c.pos < len(c.in) && c.in[c.pos] <= ' ' {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *canonicalizer) value(depth int, secret bool) error {
	if depth > 1000 {
		return errors.New("nested too deeply")
	}
	c.ws()
	if c.pos >= len(c.in) {
		return errors.New("unexpected end of input")
	}
	if secret {
		// A secret member: whatever it held, store null.
		start := len(c.out)
		if err := c.value(depth, false); err != nil {
			return err
		}
		c.out = append(c.out[:start], "null"...)
		return nil
	}
	switch ch := c.in[c.pos]; {
	case ch == '{':
		return c.object(depth + 1)
	case ch == '[':
		return c.array(depth + 1)
	case ch == '"':
		chk := canonCheck{in: c.in, pos: c.pos}
		if _, ok := chk.str(); ok {
			// Already as encoding/json writes it: copy.
			c.out = append(c.out, c.in[c.pos:chk.pos]...)
			c.pos = chk.pos
			return nil
		}
		s, err := c.str()
		if err != nil {
			return err
		}
		c.out = appendJSONString(c.out, s)
		return nil
	case ch == 't':
		return c.literal("true")
	case ch == 'f':
		return c.literal("false")
	case ch == 'n':
		return c.literal("null")
	case ch == '-' || (ch >= '0' && ch <= '9'):
		return c.number()
	default:
		return fmt.Errorf("invalid character %q", ch)
	}
}

func (c *canonicalizer) literal(lit string) error {
	if !bytes.HasPrefix(c.in[c.pos:], []byte(lit)) {
		return errors.New("invalid literal")
	}
	c.out = append(c.out, lit...)
	c.pos += len(lit)
	return nil
}

func (c *canonicalizer) number() error {
	start := c.pos
	if c.in[c.pos] == '-' {
		c.pos++
	}
	digits := func() int {
		n := 0
		for c.pos < len(c.in) && c.in[c.pos] >= '0' && c.in[c.pos] <= '9' {
			c.pos++
			n++
		}
		return n
	}
	if c.pos < len(c.in) && c.in[c.pos] == '0' {
		c.pos++
	} else if digits() == 0 {
		return errors.New("invalid number")
	}
	if c.pos < len(c.in) && c.in[c.pos] == '.' {
		c.pos++
		if digits() == 0 {
			return errors.New("invalid number")
		}
	}
	if c.pos < len(c.in) && (c.in[c.pos] == 'e' || c.in[c.pos] == 'E') {
		c.pos++
		if c.pos < len(c.in) && (c.in[c.pos] == '+' || c.in[c.pos] == '-') {
			c.pos++
		}
		if digits() == 0 {
			return errors.New("invalid number")
		}
	}
	c.out = append(c.out, c.in[start:c.pos]...)
	return nil
}

// str reads a string token and returns its decoded value (a slice of the input when
// it holds no escapes).
func (c *canonicalizer) str() ([]byte, error) {
	c.pos++ // opening quote
	start := c.pos
	for c.pos < len(c.in) {
		switch b := c.in[c.pos]; {
		case b == '"':
			s := c.in[start:c.pos]
			c.pos++
			return s, nil
		case b == '\\':
			// Rare: let encoding/json decode the whole token.
			end := c.pos
			for end < len(c.in) {
				if c.in[end] == '\\' {
					end += 2
					continue
				}
				if c.in[end] == '"' {
					break
				}
				end++
			}
			if end >= len(c.in) {
				return nil, errors.New("unterminated string")
			}
			var s string
			if err := json.Unmarshal(c.in[start-1:end+1], &s); err != nil {
				return nil, err
			}
			c.pos = end + 1
			return []byte(s), nil
		case b < 0x20:
			return nil, errors.New("control character in string")
		default:
			c.pos++
		}
	}
	return nil, errors.New("unterminated string")
}

func (c *canonicalizer) array(depth int) error {
	c.pos++ // [
	c.out = append(c.out, '[')
	c.ws()
	if c.pos < len(c.in) && c.in[c.pos] == ']' {
		c.pos++
		c.out = append(c.out, ']')
		return nil
	}
	for n := 0; ; n++ {
		if n > 0 {
			c.out = append(c.out, ',')
		}
		if err := c.value(depth, false); err != nil {
			return err
		}
		c.ws()
		if c.pos >= len(c.in) {
			return errors.New("unterminated array")
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
		case ']':
			c.pos++
			c.out = append(c.out, ']')
			return nil
		default:
			return errors.New("expected , or ] in array")
		}
	}
}

// object reads an object whose members sit at depth (1 for the top level) and writes
// it with its members in key order.
func (c *canonicalizer) object(depth int) error {
	c.pos++ // {
	base := len(c.scratch)
	valuesStart := len(c.out)
	c.ws()
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
		c.out = append(c.out, "{}"...)
		return nil
	}
	for {
		c.ws()
		if c.pos >= len(c.in) || c.in[c.pos] != '"' {
			return errors.New("expected a member name")
		}
		key, err := c.str()
		if err != nil {
			return err
		}
		c.ws()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return errors.New("expected : after a member name")
		}
		c.pos++
		start := len(c.out)
		if err := c.value(depth, secretMember(key)); err != nil {
			return err
		}
		if depth == 1 && c.drop[string(key)] {
			c.out = c.out[:start]
		} else {
			if depth == 1 && string(key) == "id" && c.out[start] == '"' {
				var id string
				_ = json.Unmarshal(c.out[start:], &id)
				c.topID = id
			}
			c.scratch = append(c.scratch, member{key: key, start: start, end: len(c.out)})
		}
		c.ws()
		if c.pos >= len(c.in) {
			return errors.New("unterminated object")
		}
		if c.in[c.pos] == ',' {
			c.pos++
			continue
		}
		if c.in[c.pos] != '}' {
			return errors.New("expected , or } in object")
		}
		c.pos++
		break
	}
	// Re-emit the members in key order (byte order, as encoding/json sorts map keys); a
	// repeated key keeps its last value, as decoding into a map does.
	ms := c.scratch[base:]
	cmp := func(a, b member) int { return bytes.Compare(a.key, b.key) }
	if !slices.IsSortedFunc(ms, cmp) {
		slices.SortStableFunc(ms, cmp)
	}
	w := 0
	for i := range ms {
		if w > 0 && bytes.Equal(ms[w-1].key, ms[i].key) {
			ms[w-1] = ms[i]
			continue
		}
		ms[w] = ms[i]
		w++
	}
	ms = ms[:w]
	c.values = append(c.values[:0], c.out[valuesStart:]...)
	values := c.values
	c.out = c.out[:valuesStart]
	c.out = append(c.out, '{')
	for i, m := range ms {
		if i > 0 {
			c.out = append(c.out, ',')
		}
		c.out = appendJSONString(c.out, m.key)
		c.out = append(c.out, ':')
		c.out = append(c.out, values[m.start-valuesStart:m.end-valuesStart]...)
	}
	c.out = append(c.out, '}')
	c.scratch = c.scratch[:base]
	return nil
}

// appendJSONString appends s as encoding/json encodes a string with HTML escaping off.
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				const hex = "0123456789abcdef"
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			// Decoding replaces invalid UTF-8 with U+FFFD, which then encodes as itself.
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', byte('8'+r-'\u2028'))
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
