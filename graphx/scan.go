package graphx

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
)

var errMalformed = errors.New("malformed JSON object")

// topLevelStrings calls fn for each top-level member of the JSON object raw whose value
// is a string and whose name is one of keys, skipping every other value without
// decoding it. Building the graph of a million users needs only their names, and
// decoding each two-kilobyte user with encoding/json cost most of the build; names and
// values of other members are not even copied.
func topLevelStrings(raw []byte, keys []string, fn func(key, value string)) error {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return errMalformed
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return nil
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return errMalformed
		}
		kEnd, esc := stringEnd(raw, i)
		if kEnd < 0 {
			return errMalformed
		}
		key, wanted := "", false
		if !esc {
			name := raw[i+1 : kEnd-1]
			for _, k := range keys {
				if string(name) == k {
					key, wanted = k, true
					break
				}
			}
		} else if key = unquote(raw[i:kEnd], esc); slices.Contains(keys, key) {
			wanted = true
		}
		i = skipSpace(raw, kEnd)
		if i >= len(raw) || raw[i] != ':' {
			return errMalformed
		}
		i = skipSpace(raw, i+1)
		if i >= len(raw) {
			return errMalformed
		}
		if raw[i] == '"' {
			end, esc := stringEnd(raw, i)
			if end < 0 {
				return errMalformed
			}
			if wanted {
				fn(key, unquote(raw[i:end], esc))
			}
			i = end
		} else {
			end := skipNested(raw, i)
			if end < 0 {
				return errMalformed
			}
			i = end
		}
		i = skipSpace(raw, i)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
			continue
		}
		if i < len(raw) && raw[i] == '}' {
			return nil
		}
		return errMalformed
	}
}

func skipSpace(b []byte, i int) int {
	// No whitespace byte is above ' ': one comparison passes over the rest.
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string starting at b[i] (a quote), and whether
// it holds escapes; -1 when it is unterminated.
func stringEnd(b []byte, i int) (int, bool) {
	esc := false
	i++
	for i < len(b) {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return -1, esc
		}
		if bytes.IndexByte(b[i:i+q], '\\') >= 0 {
			esc = true
		}
		i += q
		n := 0
		for k := i - 1; b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return i + 1, esc
		}
		i++
	}
	return -1, esc
}

func unquote(tok []byte, esc bool) string {
	if !esc {
		return string(tok[1 : len(tok)-1])
	}
	var s string
	if json.Unmarshal(tok, &s) != nil {
		return ""
	}
	return s
}

// skipNested returns the index after the value at b[i] (an object, array, number or
// literal), or -1 when it does not end.
func skipNested(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			end, _ := stringEnd(b, i)
			if end < 0 {
				return -1
			}
			i = end
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	if depth == 0 {
		return i
	}
	return -1
}
