package snapshots

import (
	"encoding/binary"
	"errors"
)

// Link sets are stored as names.n numbers, ascending, delta-encoded as uvarints after
// their count: a group of 50,000 members costs about 60 KB instead of 2 MB of ids, and a
// set's bytes are the same whenever its members are (within one file), so comparing two
// versions is comparing bytes.

var errBadLinkSet = errors.New("malformed link set")

// appendSet encodes ns, which must be ascending and free of duplicates.
func appendSet(dst []byte, ns []int64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ns)))
	var last int64
	for _, n := range ns {
		dst = binary.AppendUvarint(dst, uint64(n-last))
		last = n
	}
	return dst
}

// readSet decodes one set from b, appending its numbers to ns, and returns the rest of b.
func readSet(b []byte, ns []int64) ([]int64, []byte, error) {
	count, k := binary.Uvarint(b)
	if k <= 0 || count > uint64(len(b)) {
		return ns, nil, errBadLinkSet
	}
	b = b[k:]
	var last int64
	for i := uint64(0); i < count; i++ {
		d, k := binary.Uvarint(b)
		if k <= 0 || (i > 0 && d == 0) {
			return ns, nil, errBadLinkSet
		}
		b = b[k:]
		last += int64(d)
		ns = append(ns, last)
	}
	return ns, b, nil
}

// namedSet is one link name's targets, as names.n numbers.
type namedSet struct {
	name string
	ns   []int64
}

// appendRefs encodes the inline (single-valued) links of an object: for each name, its
// length, the name, and its set.
func appendRefs(dst []byte, sets []namedSet) []byte {
	for _, s := range sets {
		dst = binary.AppendUvarint(dst, uint64(len(s.name)))
		dst = append(dst, s.name...)
		dst = appendSet(dst, s.ns)
	}
	return dst
}

// readRefs decodes what appendRefs wrote.
func readRefs(b []byte) ([]namedSet, error) {
	var out []namedSet
	for len(b) > 0 {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, errBadLinkSet
		}
		name := string(b[k : k+int(l)])
		b = b[k+int(l):]
		var ns []int64
		var err error
		if ns, b, err = readSet(b, nil); err != nil {
			return nil, err
		}
		out = append(out, namedSet{name, ns})
	}
	return out, nil
}
