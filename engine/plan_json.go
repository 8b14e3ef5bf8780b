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
