package snapshots

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
)

// A blobs row holds one object version, in one of three forms:
//
//   - the canonical JSON itself (it starts with '{');
//   - packed: 0x02, then the canonical JSON compressed against a dictionary (pack.go);
//   - a delta: 0x01, the uvarint id of a blob holding a whole version of the same
//     object (plain or packed), then the top-level members that differ from it, in key
//     order, each as uvarint key length, key, uvarint value length + 1 (0: the member
//     is gone), value.
//
// An object that changes stores what changed, not its 2 KB again: a daily snapshot of a
// tenant where 1% of the users changed a department costs bytes per change. Deltas are
// always against a whole version (never chains); a version whose delta would be more
// than half its size, or larger than the version packed, is stored whole. The
// manifest's hash is of the canonical JSON, so verify checks what a delta rebuilds.

const deltaMarker = 0x01

var errBadDelta = errors.New("malformed object delta")

// queryer is a *sql.DB or *sql.Tx.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// resolveBlob returns the canonical JSON a blobs row holds: unpacked when it is packed
// (with a dictionary from dicts), rebuilt from its base (read over q) when it is a delta.
func resolveBlob(ctx context.Context, q queryer, dicts dictSource, data []byte) ([]byte, error) {
	if len(data) > 0 && data[0] != deltaMarker {
		return wholeVersion(ctx, dicts, data)
	}
	base, rest, err := deltaBase(data)
	if err != nil {
		return nil, err
	}
	var stored []byte
	if err := q.QueryRowContext(ctx, "SELECT data FROM blobs WHERE id = ?", base).Scan(&stored); err != nil {
		return nil, fmt.Errorf("the version a delta is based on (blob %d) cannot be read: %w", base, err)
	}
	whole, err := wholeVersion(ctx, dicts, stored)
	if err != nil {
		return nil, errBadDelta
	}
	return patchVersion(whole, rest)
}

// wholeVersion returns the canonical JSON of a blobs row that holds a whole version,
// plain or packed.
func wholeVersion(ctx context.Context, dicts dictSource, data []byte) ([]byte, error) {
	switch {
	case len(data) > 0 && data[0] == '{':
		return data, nil
	case len(data) > 0 && data[0] == packedMarker:
		return unpack(ctx, dicts, nil, data)
	default:
		return nil, errors.New("not a stored object")
	}
}

func deltaBase(data []byte) (int64, []byte, error) {
	if len(data) < 2 || data[0] != deltaMarker {
		return 0, nil, errors.New("not a stored object")
	}
	base, k := binary.Uvarint(data[1:])
	if k <= 0 || base == 0 || base > 1<<62 {
		return 0, nil, errBadDelta
	}
	return int64(base), data[1+k:], nil
}

// topMember is one member of a canonical object: its raw key and its "key":value span.
type topMember struct {
	key   []byte
	value []byte
	span  []byte
}

// topMembers splits a canonical object into its members; ok is false when a key is
// escaped (then no delta is made: escaped keys sort by their decoded text).
func topMembers(doc []byte, out []topMember) ([]topMember, bool) {
	ok := true
	err := scanMembers(doc, func(m jsonMember) error {
		if m.keyEscaped {
			ok = false
		}
		out = append(out, topMember{key: m.key, value: m.value, span: doc[m.start:m.end]})
		return nil
	})
	return out, ok && err == nil
}

// makeDelta encodes doc as a delta against base (a blob id and its canonical JSON), or
// returns nil when storing doc whole is as good.
func makeDelta(baseID int64, base, doc []byte) []byte {
	var bufA, bufB [128]topMember
	bm, ok1 := topMembers(base, bufA[:0])
	dm, ok2 := topMembers(doc, bufB[:0])
	if !ok1 || !ok2 {
		return nil
	}
	out := []byte{deltaMarker}
	out = binary.AppendUvarint(out, uint64(baseID))
	put := func(key, value []byte, gone bool) {
		out = binary.AppendUvarint(out, uint64(len(key)))
		out = append(out, key...)
		if gone {
			out = append(out, 0)
			return
		}
		out = binary.AppendUvarint(out, uint64(len(value))+1)
		out = append(out, value...)
	}
	i, j := 0, 0
	for i < len(bm) || j < len(dm) {
		c := 0
		switch {
		case i == len(bm):
			c = 1
		case j == len(dm):
			c = -1
		default:
			c = bytes.Compare(bm[i].key, dm[j].key)
		}
		switch {
		case c < 0:
			put(bm[i].key, nil, true)
			i++
		case c > 0:
			put(dm[j].key, dm[j].value, false)
			j++
		default:
			if !bytes.Equal(bm[i].value, dm[j].value) {
				put(dm[j].key, dm[j].value, false)
			}
			i++
			j++
		}
		if len(out) > len(doc)/2 {
			return nil
		}
	}
	// Whatever is stored must rebuild doc exactly.
	if got, err := patchVersion(base, out[1+uvarintLen(uint64(baseID)):]); err != nil || !bytes.Equal(got, doc) {
		return nil
	}
	return out
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// patchVersion rebuilds a version from the whole version it is based on and the changed
// members (the part of a delta after its base id).
func patchVersion(base, delta []byte) ([]byte, error) {
	var buf [128]topMember
	bm, ok := topMembers(base, buf[:0])
	if !ok {
		return nil, errBadDelta
	}
	out := make([]byte, 0, len(base)+len(delta))
	out = append(out, '{')
	n := 0
	emit := func(span []byte) {
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, span...)
		n++
	}
	i := 0
	var prev []byte
	for len(delta) > 0 {
		kl, k := binary.Uvarint(delta)
		if k <= 0 || kl > uint64(len(delta)-k) {
			return nil, errBadDelta
		}
		key := delta[k : k+int(kl)]
		delta = delta[k+int(kl):]
		vl, k := binary.Uvarint(delta)
		if k <= 0 || vl > uint64(len(delta)-k)+1 {
			return nil, errBadDelta
		}
		var value []byte
		gone := vl == 0
		if !gone {
			value = delta[k : k+int(vl)-1]
			delta = delta[k+int(vl)-1:]
		} else {
			delta = delta[k:]
		}
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			return nil, errBadDelta
		}
		prev = key
		for i < len(bm) && bytes.Compare(bm[i].key, key) < 0 {
			emit(bm[i].span)
			i++
		}
		if i < len(bm) && bytes.Equal(bm[i].key, key) {
			i++
		} else if gone {
			return nil, errBadDelta
		}
		if !gone {
			if n > 0 {
				out = append(out, ',')
			}
			out = append(out, '"')
			out = append(out, key...)
			out = append(out, '"', ':')
			out = append(out, value...)
			n++
		}
	}
	for ; i < len(bm); i++ {
		emit(bm[i].span)
	}
	return append(out, '}'), nil
}
