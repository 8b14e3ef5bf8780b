package snapshots

import (
	"bytes"
	"encoding/json"
	"errors"
	"sync"

	"github.com/lifelinehq/lifeline/entra"
)

// A small scanner for the parts of Graph's answers that capture takes apart (delta items
// and their link annotations), without decoding them into maps. It finds members and
// skips values; whatever it keeps is validated later by the canonicalizer.

var errScan = errors.New("malformed JSON")

func scanWS(in []byte, p int) int {
	// No whitespace byte is above ' ': one comparison passes over the rest.
	for p < len(in) && in[p] <= ' ' && (in[p] == ' ' || in[p] == '\t' || in[p] == '\n' || in[p] == '\r') {
		p++
	}
	return p
}

// scanString returns the end (after the closing quote) of the string starting at p, and
// whether it holds escapes.
func scanString(in []byte, p int) (int, bool, error) {
	p++
	esc := false
	for p < len(in) {
		for p < len(in) && plainASCII[in[p]] {
			p++
		}
		if p >= len(in) {
			break
		}
		switch in[p] {
		case '"':
			return p + 1, esc, nil
		case '\\':
			esc = true
			p += 2
		default:
			p++
		}
	}
	return 0, false, errScan
}

// scanValue returns the end of the value starting at p (p at its first byte).
func scanValue(in []byte, p int) (int, error) {
	if p >= len(in) {
		return 0, errScan
	}
	switch in[p] {
	case '"':
		end, _, err := scanString(in, p)
		return end, err
	case '{', '[':
		depth := 0
		for p < len(in) {
			switch in[p] {
			case '"':
				end, _, err := scanString(in, p)
				if err != nil {
					return 0, err
				}
				p = end
				continue
			case '{', '[':
				depth++
				if depth > 1000 {
					return 0, errScan
				}
			case '}', ']':
				depth--
				if depth == 0 {
					return p + 1, nil
				}
			}
			p++
		}
		return 0, errScan
	default:
		start := p
		for p < len(in) {
			switch in[p] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if p == start {
					return 0, errScan
				}
				return p, nil
			}
			p++
		}
		return p, nil
	}
}

// member is one member of a JSON object: its key (raw, without quotes), its value, and
// the whole "key":value span.
type jsonMember struct {
	key, value []byte
	keyEscaped bool
	start, end int
}

// scanMembers calls fn for each member of the object in in.
func scanMembers(in []byte, fn func(m jsonMember) error) error {
	p := scanWS(in, 0)
	if p >= len(in) || in[p] != '{' {
		return errScan
	}
	p = scanWS(in, p+1)
	if p < len(in) && in[p] == '}' {
		return nil
	}
	for {
		if p >= len(in) || in[p] != '"' {
			return errScan
		}
		start := p
		kend, esc, err := scanString(in, p)
		if err != nil {
			return err
		}
		key := in[p+1 : kend-1]
		p = scanWS(in, kend)
		if p >= len(in) || in[p] != ':' {
			return errScan
		}
		p = scanWS(in, p+1)
		vstart := p
		if p, err = scanValue(in, p); err != nil {
			return err
		}
		if err := fn(jsonMember{key: key, value: in[vstart:p], keyEscaped: esc, start: start, end: p}); err != nil {
			return err
		}
		p = scanWS(in, p)
		if p >= len(in) {
			return errScan
		}
		if in[p] == '}' {
			return nil
		}
		if in[p] != ',' {
			return errScan
		}
		p = scanWS(in, p+1)
	}
}

// scanArray calls fn for each element of the array in in.
func scanArray(in []byte, fn func(elem []byte) error) error {
	p := scanWS(in, 0)
	if p >= len(in) || in[p] != '[' {
		return errScan
	}
	p = scanWS(in, p+1)
	if p < len(in) && in[p] == ']' {
		return nil
	}
	for {
		start := p
		var err error
		if p, err = scanValue(in, p); err != nil {
			return err
		}
		if err := fn(in[start:p]); err != nil {
			return err
		}
		p = scanWS(in, p)
		if p >= len(in) {
			return errScan
		}
		if in[p] == ']' {
			return nil
		}
		if in[p] != ',' {
			return errScan
		}
		p = scanWS(in, p+1)
	}
}

// jsonBytes returns a JSON string value's contents: a slice of v when it holds no
// escapes, a decoded copy otherwise (nil for anything but a string).
func jsonBytes(v []byte) []byte {
	if len(v) < 2 || v[0] != '"' {
		return nil
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1]
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return nil
	}
	return []byte(s)
}

// jsonString decodes a JSON string value ("" for anything else).
func jsonString(v []byte) string {
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	plain := true
	for _, b := range v[1 : len(v)-1] {
		if b == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return string(v[1 : len(v)-1])
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}

// refEntry is one entry of a link list (members, owners, members@delta): the target's id,
// its kind from "@odata.type" (ok false for types lifeline does not model), and whether
// it carries "@removed".
type refEntry struct {
	id      []byte // a slice of the page it came from
	kind    entra.Kind
	typed   bool
	ok      bool
	removed bool
}

func parseRef(elem []byte) (refEntry, error) {
	var r refEntry
	var typ []byte
	err := scanMembers(elem, func(m jsonMember) error {
		switch string(m.key) {
		case "id":
			r.id = jsonBytes(m.value)
		case "@odata.type":
			typ = m.value
		case "@removed":
			r.removed = true
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	if typ != nil {
		r.typed = true
		r.kind, r.ok = kindForType(jsonString(typ))
	}
	return r, nil
}

// kindForTypeBytes is kindForType of a type held as bytes, without copying them for the
// types of entra's kinds.
func kindForTypeBytes(t []byte) (entra.Kind, bool) {
	if k, ok := knownTypes[string(t)]; ok {
		return k.kind, k.ok
	}
	return kindForType(string(t))
}

var odataKinds = struct {
	sync.RWMutex
	m map[string]kindLookup
}{m: map[string]kindLookup{}}

type kindLookup struct {
	kind entra.Kind
	ok   bool
}

// knownTypes is what entra.KindForODataType says of the @odata.type of every kind entra
// knows, in a map that is never written after init: kindForType reads it without a lock.
var knownTypes = func() map[string]kindLookup {
	m := map[string]kindLookup{}
	for _, k := range entra.Kinds() {
		t := k.ODataType()
		kind, ok := entra.KindForODataType(t)
		m[t] = kindLookup{kind: kind, ok: ok}
	}
	return m
}()

// kindForType is entra.KindForODataType, remembered (for the few types a tenant has): a
// capture asks it once per link. The types of entra's kinds are answered without a
// lock, others from a cache of the ones seen.
func kindForType(t string) (entra.Kind, bool) {
	if k, ok := knownTypes[t]; ok {
		return k.kind, k.ok
	}
	odataKinds.RLock()
	k, hit := odataKinds.m[t]
	odataKinds.RUnlock()
	if hit {
		return k.kind, k.ok
	}
	k.kind, k.ok = entra.KindForODataType(t)
	odataKinds.Lock()
	if len(odataKinds.m) < 256 {
		odataKinds.m[t] = k
	}
	odataKinds.Unlock()
	return k.kind, k.ok
}
