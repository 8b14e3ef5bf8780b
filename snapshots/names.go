package snapshots

import (
	"encoding/binary"
	"errors"

	"github.com/lifelinehq/lifeline/entra"
)

// A names row holds a run of link target numbers: uvarint count, uvarint number of
// kinds, the kinds (uvarint length, bytes), then per target its kind's index (one
// byte) and its id: 0 and 16 bytes for a lowercase GUID, or 1, uvarint length and bytes.

const namesPerRow = 4096

var errBadNames = errors.New("malformed names row")

type namesEncoder struct {
	kinds []entra.Kind
	idx   map[entra.Kind]byte
	body  []byte
	count int
}

func (e *namesEncoder) add(kind entra.Kind, guid *[16]byte, id string) {
	if e.idx == nil {
		e.idx = map[entra.Kind]byte{}
	}
	k, ok := e.idx[kind]
	if !ok {
		k = byte(len(e.kinds))
		e.kinds = append(e.kinds, kind)
		e.idx[kind] = k
	}
	e.body = append(e.body, k)
	if guid != nil {
		e.body = append(e.body, 0)
		e.body = append(e.body, guid[:]...)
	} else {
		e.body = append(e.body, 1)
		e.body = binary.AppendUvarint(e.body, uint64(len(id)))
		e.body = append(e.body, id...)
	}
	e.count++
}

func (e *namesEncoder) bytes() []byte {
	out := binary.AppendUvarint(nil, uint64(e.count))
	out = binary.AppendUvarint(out, uint64(len(e.kinds)))
	for _, k := range e.kinds {
		out = binary.AppendUvarint(out, uint64(len(k)))
		out = append(out, k...)
	}
	return append(out, e.body...)
}

// decodeNames calls fn for each (kind, id) of a names row, GUIDs given as bytes.
func decodeNames(b []byte, fn func(i int, kind entra.Kind, guid *[16]byte, id string)) error {
	count, k := binary.Uvarint(b)
	if k <= 0 || count > uint64(len(b)) {
		return errBadNames
	}
	b = b[k:]
	nk, k := binary.Uvarint(b)
	if k <= 0 || nk > 256 {
		return errBadNames
	}
	b = b[k:]
	kinds := make([]entra.Kind, nk)
	for i := range kinds {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return errBadNames
		}
		kinds[i] = entra.Kind(b[k : k+int(l)])
		b = b[k+int(l):]
	}
	var g [16]byte
	for i := 0; i < int(count); i++ {
		if len(b) < 2 || int(b[0]) >= len(kinds) {
			return errBadNames
		}
		kind := kinds[b[0]]
		switch b[1] {
		case 0:
			if len(b) < 18 {
				return errBadNames
			}
			copy(g[:], b[2:18])
			fn(i, kind, &g, "")
			b = b[18:]
		case 1:
			l, k := binary.Uvarint(b[2:])
			if k <= 0 || l > uint64(len(b)-2-k) {
				return errBadNames
			}
			fn(i, kind, nil, string(b[2+k:2+k+int(l)]))
			b = b[2+k+int(l):]
		default:
			return errBadNames
		}
	}
	if len(b) != 0 {
		return errBadNames
	}
	return nil
}
