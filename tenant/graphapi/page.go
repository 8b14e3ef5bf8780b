package graphapi

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/bits"
)

// splitPage decodes a collection page in one pass: it validates the whole body as JSON
// and returns the items of "value" as sub-slices of body (no copies), plus the paging
// annotations. encoding/json would scan each item twice (validate, then copy); pages of
// 999 two-kilobyte users made that the client's largest cost. It must accept and reject
// exactly what encoding/json does for a page (a property test holds it to that);
// anything it reports as an error is re-examined by encoding/json for the message.
func splitPage(body []byte) (Page, bool, error) {
	var p Page
	sawValue := false
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return p, false, errBadJSON
	}
	i = skipWS(body, i+1)
	if i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			if i >= len(body) || body[i] != '"' {
				return p, false, errBadJSON
			}
			kStart := i
			j, err := skipString(body, i)
			if err != nil {
				return p, false, err
			}
			key := body[kStart:j]
			i = skipWS(body, j)
			if i >= len(body) || body[i] != ':' {
				return p, false, errBadJSON
			}
			i = skipWS(body, i+1)
			vStart := i
			switch string(key) {
			case `"value"`:
				if i < len(body) && body[i] == 'n' {
					// "value": null leaves Value unset, as encoding/json does.
					if i, err = skipValue(body, i, 0); err != nil {
						return p, false, err
					}
					break
				}
				if i >= len(body) || body[i] != '[' {
					return p, false, errShape
				}
				items, end, err := splitArray(body, i)
				if err != nil {
					return p, false, err
				}
				p.Items, sawValue, i = items, true, end
			default:
				if i, err = skipValue(body, i, 0); err != nil {
					return p, false, err
				}
				span := body[vStart:i]
				switch string(key) {
				case `"@odata.nextLink"`:
					if err := json.Unmarshal(span, &p.NextLink); err != nil {
						return p, false, errShape
					}
				case `"@odata.deltaLink"`:
					if err := json.Unmarshal(span, &p.DeltaLink); err != nil {
						return p, false, errShape
					}
				case `"@odata.count"`:
					var n *int64
					if err := json.Unmarshal(span, &n); err != nil {
						return p, false, errShape
					}
					p.Count = n
				}
			}
			i = skipWS(body, i)
			if i < len(body) && body[i] == ',' {
				i = skipWS(body, i+1)
				continue
			}
			if i < len(body) && body[i] == '}' {
				i++
				break
			}
			return p, false, errBadJSON
		}
	}
	if skipWS(body, i) != len(body) {
		return p, false, errBadJSON
	}
	return p, sawValue, nil
}

var (
	errBadJSON = errors.New("invalid JSON")
	errShape   = errors.New("unexpected JSON shape")
)

func splitArray(b []byte, i int) ([]json.RawMessage, int, error) {
	i = skipWS(b, i+1)
	items := []json.RawMessage{}
	if i < len(b) && b[i] == ']' {
		return items, i + 1, nil
	}
	for {
		start := i
		end, err := skipValue(b, i, 1)
		if err != nil {
			return nil, 0, err
		}
		items = append(items, json.RawMessage(b[start:end:end]))
		i = skipWS(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == ']' {
			return items, i + 1, nil
		}
		return nil, 0, errBadJSON
	}
}

func skipWS(b []byte, i int) int {
	// No whitespace byte is above ' ': one comparison passes over the rest.
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index after the JSON value starting at i, validating it.
func skipValue(b []byte, i, depth int) (int, error) {
	if depth > 10000 {
		return 0, errBadJSON
	}
	if i >= len(b) {
		return 0, errBadJSON
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{':
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, nil
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return 0, errBadJSON
			}
			var err error
			if i, err = skipString(b, i); err != nil {
				return 0, err
			}
			i = skipWS(b, i)
			if i >= len(b) || b[i] != ':' {
				return 0, errBadJSON
			}
			if i, err = skipValue(b, skipWS(b, i+1), depth+1); err != nil {
				return 0, err
			}
			i = skipWS(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipWS(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				return i + 1, nil
			}
			return 0, errBadJSON
		}
	case c == '[':
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			if i, err = skipValue(b, i, depth+1); err != nil {
				return 0, err
			}
			i = skipWS(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipWS(b, i+1)
				continue
			}
			if i < len(b) && b[i] == ']' {
				return i + 1, nil
			}
			return 0, errBadJSON
		}
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(b, i)
	}
	return 0, errBadJSON
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, errBadJSON
	}
	return i + len(lit), nil
}

func skipNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return 0, errBadJSON
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return 0, errBadJSON
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return 0, errBadJSON
		}
	}
	return i, nil
}

// skipString returns the index after the string starting at i (its opening quote).
func skipString(b []byte, i int) (int, error) {
	i++
	for i < len(b) {
		// Eight bytes at a time up to the first quote, backslash or control byte: most
		// of a page of users is string contents.
		for i+8 <= len(b) {
			m := specialBytes(binary.LittleEndian.Uint64(b[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(b) {
				return 0, errBadJSON
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(b) {
					return 0, errBadJSON
				}
				for _, h := range b[i+2 : i+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return 0, errBadJSON
					}
				}
				i += 6
			default:
				return 0, errBadJSON
			}
		case c < 0x20:
			return 0, errBadJSON
		default:
			i++
		}
	}
	return 0, errBadJSON
}

// specialBytes flags (with its high bit) each of the 8 bytes of v, read little-endian,
// that may be a quote, a backslash or below 0x20, by the "has a zero byte" and "has a
// byte less than n" bit tricks. A false flag can only sit above a true one (a borrow runs
// upwards), so the lowest flag is always the first such byte, and 0 means there is none.
func specialBytes(v uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote := v ^ (ones * '"')
	backslash := v ^ (ones * '\\')
	special := (quote - ones) &^ quote
	special |= (backslash - ones) &^ backslash
	special |= (v - ones*0x20) &^ v
	return special & highs
}
