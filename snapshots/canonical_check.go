package snapshots

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// canonicalAsIs is the canonicalizer's fast path: when an object is already laid out in
// canonical form (keys strictly ascending at every level, no whitespace, no secret
// member but null, no top-level member that is never stored), its canonical bytes are its own
// bytes, except for strings escaped otherwise than encoding/json escapes them (another
// writer's "\u0026" for "&"), which are rewritten in place. That is one pass, several
// times cheaper than reordering. Graph writes keys in its own order, so live tenants
// take the general path; the simulated tenant and lifeline's own exports take this one.
// ok is false whenever the input is anything else, valid or not: the general path then
// decides, so both paths always agree.
func canonicalAsIs(raw []byte, drop map[string]bool) (out []byte, id string, ok bool) {
	c := canonCheck{in: raw, drop: drop}
	if len(raw) == 0 || raw[0] != '{' || !c.object(1) || c.pos != len(raw) {
		return nil, "", false
	}
	if c.out == nil {
		return raw, c.id, true
	}
	return append(c.out, raw[c.copied:]...), c.id, true
}

// dropFirst marks the first bytes of every member name some kind never stores, so that
// most names need no map lookup.
var dropFirst = func() (t [256]bool) {
	for _, d := range dropSets {
		for k := range d {
			t[k[0]] = true
		}
	}
	for k := range annotations {
		t[k[0]] = true
	}
	return t
}()

// plainASCII marks the bytes a string holds as themselves in encoding/json's output.
var plainASCII = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

type canonCheck struct {
	in   []byte
	pos  int
	drop map[string]bool
	id   string
	// out is the rewritten object once a string needed rewriting (nil until then), and
	// copied how much of in it covers.
	out    []byte
	copied int
}

func (c *canonCheck) value(depth int) bool {
	if depth > 1000 || c.pos >= len(c.in) {
		return false
	}
	switch ch := c.in[c.pos]; {
	case ch == '{':
		return c.object(depth + 1)
	case ch == '[':
		return c.array(depth + 1)
	case ch == '"':
		start := c.pos
		if _, ok := c.str(); ok {
			return true
		}
		return c.rewriteString(start)
	case ch == 't':
		return c.lit("true")
	case ch == 'f':
		return c.lit("false")
	case ch == 'n':
		return c.lit("null")
	case ch == '-' || (ch >= '0' && ch <= '9'):
		return c.number()
	}
	return false
}

func (c *canonCheck) lit(s string) bool {
	if len(c.in)-c.pos < len(s) || string(c.in[c.pos:c.pos+len(s)]) != s {
		return false
	}
	c.pos += len(s)
	return true
}

func (c *canonCheck) number() bool {
	in, p := c.in, c.pos
	if in[p] == '-' {
		p++
	}
	digits := func() int {
		n := 0
		for p < len(in) && in[p] >= '0' && in[p] <= '9' {
			p++
			n++
		}
		return n
	}
	if p < len(in) && in[p] == '0' {
		p++
	} else if digits() == 0 {
		return false
	}
	if p < len(in) && in[p] == '.' {
		p++
		if digits() == 0 {
			return false
		}
	}
	if p < len(in) && (in[p] == 'e' || in[p] == 'E') {
		p++
		if p < len(in) && (in[p] == '+' || in[p] == '-') {
			p++
		}
		if digits() == 0 {
			return false
		}
	}
	c.pos = p
	return true
}

// str accepts a string that encoding/json would write back byte for byte: no escapes at
// all, valid UTF-8, and no U+2028 or U+2029 (which it escapes). It returns the contents.
func (c *canonCheck) str() ([]byte, bool) {
	in := c.in
	p := c.pos + 1
	start := p
	for p < len(in) {
		// Eight bytes at a time while none is special (a quote, a backslash, a control
		// byte or the start of a multi-byte character), then byte by byte.
		p = plainRun(in, p, true)
		for p < len(in) && plainASCII[in[p]] {
			p++
		}
		if p >= len(in) {
			break
		}
		b := in[p]
		switch {
		case b == '"':
			c.pos = p + 1
			return in[start:p], true
		case b == '\\' || b < 0x20:
			return nil, false
		case b < utf8.RuneSelf:
			p++
		default:
			r, size := utf8.DecodeRune(in[p:])
			if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
				return nil, false
			}
			p += size
		}
	}
	return nil, false
}

// rewriteString re-encodes the string token at start the way encoding/json writes its
// value, when it is a valid token that str refused.
func (c *canonCheck) rewriteString(start int) bool {
	in := c.in
	end := start + 1
	for end < len(in) && in[end] != '"' {
		if in[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(in) {
		return false
	}
	var s string
	if err := json.Unmarshal(in[start:end+1], &s); err != nil {
		return false
	}
	if c.out == nil {
		c.out = make([]byte, 0, len(in)+16)
	}
	c.out = append(c.out, in[c.copied:start]...)
	c.out = appendJSONString(c.out, []byte(s))
	c.copied = end + 1
	c.pos = end + 1
	return true
}

func (c *canonCheck) array(depth int) bool {
	c.pos++ // [
	if c.pos < len(c.in) && c.in[c.pos] == ']' {
		c.pos++
		return true
	}
	for {
		if !c.value(depth) || c.pos >= len(c.in) {
			return false
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
		case ']':
			c.pos++
			return true
		default:
			return false
		}
	}
}

func (c *canonCheck) object(depth int) bool {
	c.pos++ // {
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
		return true
	}
	var prev []byte
	first := true
	top := depth == 1
	for {
		if c.pos >= len(c.in) || c.in[c.pos] != '"' {
			return false
		}
		key, ok := c.str()
		if !ok || (!first && bytes.Compare(prev, key) >= 0) {
			return false // unsorted, repeated, or escaped keys: rewrite
		}
		prev, first = key, false
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return false
		}
		c.pos++
		valueStart := c.pos
		if secretMember(key) {
			// Whatever it holds must be stored as null; only null is as is.
			if !c.lit("null") {
				return false
			}
		} else if !c.value(depth) {
			return false
		}
		if top {
			if len(key) > 0 && dropFirst[key[0]] && c.drop[string(key)] {
				return false // rare: let the general path leave it out
			}
			if string(key) == "id" && c.in[valueStart] == '"' {
				if c.out != nil && c.copied > valueStart {
					// The id itself was rewritten: read it back from the output.
					var s string
					if json.Unmarshal(c.in[valueStart:c.pos], &s) != nil {
						return false
					}
					c.id = s
				} else {
					c.id = string(c.in[valueStart+1 : c.pos-1])
				}
			}
		}
		if c.pos >= len(c.in) {
			return false
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
		case '}':
			c.pos++
			return true
		default:
			return false
		}
	}
}
