package snapshots

import "bytes"

// A capture reads half a million link entries for a 100,000-user tenant (members@delta,
// manager@delta, owners), nearly all in the one form Graph writes them:
//
//	{"@odata.type":"#microsoft.graph.user","id":"…"}
//	{"@odata.type":"#microsoft.graph.user","id":"…","@removed":{"reason":"deleted"}}
//
// readRef reads that form by matching it, and hands anything else to parseRef, whose
// answer it gives for the entries it reads itself (a test holds it to that).

const (
	refTypePrefix = `{"@odata.type":"`
	refIDPrefix   = `","id":"`
	refRemoved    = `,"@removed":{"reason":"`
)

// readRef is parseRef for a link entry.
func readRef(elem []byte) (refEntry, error) {
	if r, ok := matchRef(elem); ok {
		return r, nil
	}
	return parseRef(elem)
}

// matchRef reads elem when it is exactly one of the forms above, with a non-empty id
// and no escapes; ok is false otherwise.
func matchRef(elem []byte) (refEntry, bool) {
	var r refEntry
	if !bytes.HasPrefix(elem, []byte(refTypePrefix)) {
		return r, false
	}
	p := len(refTypePrefix)
	typEnd := plainStringEnd(elem, p)
	if typEnd < 0 {
		return r, false
	}
	if !bytes.HasPrefix(elem[typEnd:], []byte(refIDPrefix)) {
		return r, false
	}
	p = typEnd + len(refIDPrefix)
	idEnd := plainStringEnd(elem, p)
	if idEnd <= p {
		return r, false
	}
	rest := elem[idEnd+1:]
	switch {
	case len(rest) == 1 && rest[0] == '}':
	case bytes.HasPrefix(rest, []byte(refRemoved)):
		reasonEnd := plainStringEnd(rest, len(refRemoved))
		if reasonEnd < 0 || string(rest[reasonEnd:]) != `"}}` {
			return r, false
		}
		r.removed = true
	default:
		return r, false
	}
	r.id = elem[p:idEnd:idEnd]
	r.typed = true
	r.kind, r.ok = kindForTypeBytes(elem[len(refTypePrefix):typEnd])
	return r, true
}

// plainStringEnd returns the index of the quote that ends the string contents starting
// at p, or -1 when a backslash or a control byte comes first (or no quote does).
func plainStringEnd(b []byte, p int) int {
	for i := p; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i
		case c == '\\' || c < 0x20:
			return -1
		}
	}
	return -1
}
