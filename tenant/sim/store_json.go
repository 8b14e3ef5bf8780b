package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
)

// Objects are kept as canonical JSON (compact, keys sorted at every level) so that a
// read is a slice of stored bytes rather than a decode and an encode: the store can hold
// a million users and list them at loopback speed. The helpers here walk those bytes.

// canonicalJSON re-encodes raw as compact JSON with sorted keys. json.Marshal sorts map
// keys, so a decode into any and an encode give the canonical form.
func canonicalJSON(raw []byte) ([]byte, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return marshalCanonical(v)
}

// marshalCanonical encodes v without HTML escaping, so stored bytes read as Graph writes them.
func marshalCanonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// mustJSON encodes a value the sim built itself; a failure is a programming error.
func mustJSON(v any) []byte {
	b, err := marshalCanonical(v)
	if err != nil {
		panic("sim: encoding " + err.Error())
	}
	return b
}

// decodeObject decodes canonical object bytes into a map, keeping numbers exact.
func decodeObject(data []byte) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// member is one top-level member of a JSON object: its raw key (without quotes, escapes
// left as they are) and its raw value.
type member struct {
	key   []byte
	value []byte
}

// eachMember calls fn for every top-level member of the object in data, in document
// order, until fn returns false. It trusts data to be valid JSON (the store only holds
// bytes it encoded itself).
func eachMember(data []byte, fn func(m member) bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(data, i)
		if i >= len(data) || data[i] == '}' {
			return
		}
		if data[i] == ',' {
			i++
			continue
		}
		kEnd := skipString(data, i)
		key := data[i+1 : kEnd-1]
		i = skipSpace(data, kEnd)
		if i < len(data) && data[i] == ':' {
			i++
		}
		i = skipSpace(data, i)
		vEnd := skipValue(data, i)
		if !fn(member{key: key, value: data[i:vEnd]}) {
			return
		}
		i = vEnd
	}
}

// getMember returns the raw value of the named top-level member, or nil.
func getMember(data []byte, name string) []byte {
	var out []byte
	eachMember(data, func(m member) bool {
		if string(m.key) == name {
			out = m.value
			return false
		}
		return true
	})
	return out
}

// getString returns the named top-level member as a string ("" when absent or not a string).
func getString(data []byte, name string) string {
	v := getMember(data, name)
	if len(v) == 0 || v[0] != '"' {
		return ""
	}
	s, err := strconv.Unquote(string(v))
	if err != nil {
		var out string
		if json.Unmarshal(v, &out) == nil {
			return out
		}
		return ""
	}
	return s
}

// getBool returns the named top-level member as a boolean (false when absent).
func getBool(data []byte, name string) bool {
	return string(getMember(data, name)) == "true"
}

// getStrings returns the named top-level member as a list of strings.
func getStrings(data []byte, name string) []string {
	v := getMember(data, name)
	if len(v) == 0 || v[0] != '[' {
		return nil
	}
	var out []string
	_ = json.Unmarshal(v, &out)
	return out
}

func skipSpace(data []byte, i int) int {
	// No whitespace byte is above ' ': one comparison passes over the rest.
	for i < len(data) && data[i] <= ' ' {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string that starts at data[i] == '"'.
func skipString(data []byte, i int) int {
	i++
	for i < len(data) {
		// Stored JSON is valid: jump to the next quote (a vectorised search), then
		// count the backslashes before it to know whether it ends the string.
		q := bytes.IndexByte(data[i:], '"')
		if q < 0 {
			return len(data)
		}
		i += q
		bs := 0
		for k := i - 1; k >= 0 && data[k] == '\\'; k-- {
			bs++
		}
		if bs%2 == 0 {
			return i + 1
		}
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value that starts at data[i].
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return i
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				i = skipString(data, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default:
		for i < len(data) {
			switch data[i] {
			case ',', '}', ']', ' ', '\n', '\t', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// projection says which members of a stored object a response shows.
type projection struct {
	// all shows every stored member.
	all bool
	// names are the members to show (when !all), in the order they are written when absent.
	names []string
	index map[string]int
	// hide are members never shown (write-only secrets that slipped into a dataset).
	hide map[string]bool
	// shapeKeys is the shape (see store_shape.go) of an object shown as stored under
	// this projection ("" when none is); idOnly says the projection is the id alone.
	shapeKeys string
	idOnly    bool
}

func newProjection(names []string, hide map[string]bool) *projection {
	p := &projection{names: names, index: make(map[string]int, len(names)), hide: hide}
	for i, n := range names {
		p.index[n] = i
	}
	p.shapeKeys = projectionShape(names, hide)
	p.idOnly = len(names) == 1 && names[0] == "id" && !hide["id"]
	return p
}

// appendProjected appends the object in data to out, keeping the projected members plus
// "@odata.type" when stored. odataType, when set, is written first (polymorphic
// collections need it and most stored objects do not carry it). extra members (already
// encoded `"k":v` pairs) are appended at the end. Members the projection names but the
// object lacks are written as null, as Graph does. It allocates nothing per member: a
// list of a million users is a walk over stored bytes.
func appendProjected(out []byte, data []byte, p *projection, odataType string, extra ...[]byte) []byte {
	out = append(out, '{')
	n := 0
	sep := func() {
		if n > 0 {
			out = append(out, ',')
		}
		n++
	}
	if odataType != "" {
		sep()
		out = append(out, `"@odata.type":`...)
		out = strconv.AppendQuote(out, odataType)
	}
	var seenBits uint64
	var seenMore []bool
	if !p.all && len(p.names) > 64 {
		seenMore = make([]bool, len(p.names))
	}
	eachMember(data, func(m member) bool {
		if string(m.key) == "@odata.type" {
			if odataType != "" {
				return true
			}
		} else if p.hide[string(m.key)] {
			return true
		} else if !p.all {
			i, ok := p.index[string(m.key)]
			if !ok {
				return true
			}
			if seenMore != nil {
				seenMore[i] = true
			} else {
				seenBits |= 1 << uint(i)
			}
		}
		sep()
		out = append(out, '"')
		out = append(out, m.key...)
		out = append(out, '"', ':')
		out = append(out, m.value...)
		return true
	})
	if !p.all {
		for i, name := range p.names {
			seen := seenBits&(1<<uint(i)) != 0
			if seenMore != nil {
				seen = seenMore[i]
			}
			if !seen {
				sep()
				out = strconv.AppendQuote(out, name)
				out = append(out, ":null"...)
			}
		}
	}
	for _, e := range extra {
		if len(e) == 0 {
			continue
		}
		sep()
		out = append(out, e...)
	}
	return append(out, '}')
}

// withMembers returns a copy of the object in data with the given members set (nil values
// remove the member), keeping keys sorted.
func withMembers(data []byte, set map[string]any) []byte {
	m, err := decodeObject(data)
	if err != nil {
		m = map[string]any{}
	}
	for k, v := range set {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return mustJSON(m)
}

// sortedKeys returns the keys of m in order, for deterministic messages.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// jsonNull is the JSON null literal, used as an explicit "no value" when encoding.
var jsonNull = json.RawMessage("null")

// jsonUnmarshalString decodes a JSON string value.
func jsonUnmarshalString(raw []byte, s *string) error { return json.Unmarshal(raw, s) }
