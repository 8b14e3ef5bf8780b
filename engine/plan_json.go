package engine

import (
	"encoding/json"
	"slices"
)

// appendJSON appends what json.Marshal gives for v, a value as decoding JSON gives it
// (maps, lists, strings, json.Number, bools, nil) or a plan body made of them. A large
// plan marshals hundreds of thousands of bodies, and encoding/json's reflection was most
// of that cost; the common shapes are written directly, with the same bytes, and
// anything else (a string needing escapes, a number, another type) is handed to
// json.Marshal itself, so the output cannot differ.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		if x {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case string:
		if plainString(x) {
			b = append(b, '"')
			b = append(b, x...)
			return append(b, '"'), nil
		}
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			if !plainString(k) {
				return marshalAppend(b, v)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, k...)
			b = append(b, '"', ':')
			var err error
			if b, err = appendJSON(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	return marshalAppend(b, v)
}

func marshalAppend(b []byte, v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, data...), nil
}

// plainString reports whether json.Marshal writes s as it is between quotes: printable
// ASCII with nothing it escapes (quote, backslash, and <, > and & for HTML).
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainByte[s[i]] {
			return false
		}
	}
	return true
}

// plainByte marks the bytes plainString accepts: one table lookup per byte instead of
// seven comparisons, over every string of hundreds of thousands of request bodies.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// canonicalAsWritten reports whether appendJSON writes raw, one stored JSON value, back
// exactly as it is once decoded: no whitespace, every string (names included) plain,
// every object's names in increasing order, numbers in JSON's grammar (a json.Number
// is written as it was read). A plan copies such values from the snapshot without
// decoding them; a value it rejects is decoded and written by appendJSON, so the bytes
// of the plan are the same either way.
func canonicalAsWritten(raw []byte) bool {
	end, ok := asWrittenValue(raw, 0)
	return ok && end == len(raw)
}

// asWrittenValue checks the value at raw[i:] as canonicalAsWritten does and returns
// where it ends.
func asWrittenValue(raw []byte, i int) (int, bool) {
	if i >= len(raw) {
		return i, false
	}
	switch c := raw[i]; {
	case c == '"':
		return asWrittenString(raw, i)
	case c == '{':
		i++
		if i < len(raw) && raw[i] == '}' {
			return i + 1, true
		}
		var last []byte
		for first := true; ; first = false {
			start := i
			end, ok := asWrittenString(raw, i)
			// Names in increasing byte order are the order appendJSON sorts them into,
			// and each is there once.
			if !ok || (!first && string(raw[start+1:end-1]) <= string(last)) {
				return i, false
			}
			last = raw[start+1 : end-1]
			if end >= len(raw) || raw[end] != ':' {
				return end, false
			}
			if i, ok = asWrittenValue(raw, end+1); !ok || i >= len(raw) {
				return i, false
			}
			switch raw[i] {
			case ',':
				i++
			case '}':
				return i + 1, true
			default:
				return i, false
			}
		}
	case c == '[':
		i++
		if i < len(raw) && raw[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = asWrittenValue(raw, i); !ok || i >= len(raw) {
				return i, false
			}
			switch raw[i] {
			case ',':
				i++
			case ']':
				return i + 1, true
			default:
				return i, false
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return asWrittenNumber(raw, i)
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(raw)-i >= len(lit) && string(raw[i:i+len(lit)]) == lit {
			return i + len(lit), true
		}
	}
	return i, false
}

// asWrittenString checks the string at raw[i:] (at its opening quote): plain bytes
// only, so no escapes.
func asWrittenString(raw []byte, i int) (int, bool) {
	if i >= len(raw) || raw[i] != '"' {
		return i, false
	}
	for i++; i < len(raw); i++ {
		if c := raw[i]; !plainByte[c] {
			return i + 1, c == '"'
		}
	}
	return i, false
}

// asWrittenNumber checks the number at raw[i:] against JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func asWrittenNumber(raw []byte, i int) (int, bool) {
	digits := func(i int) (int, bool) {
		start := i
		for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
			i++
		}
		return i, i > start
	}
	if raw[i] == '-' {
		i++
	}
	if i < len(raw) && raw[i] == '0' {
		i++
	} else {
		var ok bool
		if i, ok = digits(i); !ok {
			return i, false
		}
	}
	if i < len(raw) && raw[i] == '.' {
		var ok bool
		if i, ok = digits(i + 1); !ok {
			return i, false
		}
	}
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		i++
		if i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			i++
		}
		var ok bool
		if i, ok = digits(i); !ok {
			return i, false
		}
	}
	return i, true
}
