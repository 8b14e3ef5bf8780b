package snapshots

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/klauspost/compress/s2"

	"github.com/lifelinehq/lifeline/entra"
)

// A packed version is a blobs row of the form 0x02, the uvarint id of a dicts row, then
// the canonical JSON as one S2 block compressed against that dictionary.
//
// Compressing a 2 KB user by itself saves a third of it: what repeats is across users
// (the same keys in the same order, the same domains, departments and nulls). Against a
// dictionary made from the first users of the file it packs to about a fifth. The file
// shrinks by as much, and so does what SQLite writes, twice over in WAL mode, during a
// capture: packing costs less CPU than the writing it saves. S2 decodes at well over a
// gigabyte a second, so reading a snapshot back costs little more.
const packedMarker = 0x02

// dictSample is how many bytes of a kind's first versions its dictionary is made from:
// S2 uses at most 64 KB, and a few dozen users compress about as well as thousands.
// The versions gathered for the sample are stored plain.
const dictSample = 60 << 10

// maxVersionSize bounds what a packed version may unpack to. The largest Graph objects
// (applications with big manifests) are tens of kilobytes; a damaged length prefix must
// not make a large allocation. Larger versions are stored plain.
const maxVersionSize = 4 << 20

// maxDictID is the largest dictionary id a packed version can name.
const maxDictID = 1 << 62

var errBadPacked = errors.New("malformed packed version")

// dictSource finds the dictionary a packed version names.
type dictSource interface {
	dict(ctx context.Context, id int64) (*s2.Dict, error)
}

// packer packs the versions a Writer stores, each against the dictionary of its kind.
// It is safe for concurrent use: captures pack in their collectors, off the writer.
type packer struct {
	mu     sync.Mutex
	byKind map[entra.Kind]*kindDict
	byID   map[int64]*s2.Dict // the file's dictionaries and this snapshot's new ones
	next   int64              // id of the next new dictionary
	fresh  []freshDict        // made by this snapshot, written at commit

	// previous holds the first eight bytes of the hash of every version in the
	// previous snapshot with the blob that stores it, sorted by those bytes; set at
	// Begin and only read afterwards.
	previous []prevVersion
	// path is the file whose committed versions checkStored reads, over readers
	// (idle ones; guarded by mu); "" leaves the checking to the writer.
	path    string
	readers []*storedReader
}

// prevVersion is a version of the previous snapshot: the first eight bytes of its hash
// and the blob that stores it.
type prevVersion struct {
	key  uint64
	blob int64
}

// kindDict is the dictionary new versions of one kind are packed with or, until there is
// one, the sample it will be made from.
type kindDict struct {
	id     int64
	d      *s2.Dict
	sample []byte
}

type freshDict struct {
	id   int64
	kind entra.Kind
	data []byte
}

// loadPacker reads the file's dictionaries: the newest of each kind packs what this
// snapshot adds. A damaged dictionary is left out, so that its kind gets a new one
// rather than a file with one bad row refusing every capture (verify reports the
// versions packed with it).
func loadPacker(ctx context.Context, tx *sql.Tx) (*packer, error) {
	p := &packer{byKind: map[entra.Kind]*kindDict{}, byID: map[int64]*s2.Dict{}, next: 1}
	rows, err := tx.QueryContext(ctx, "SELECT id, kind, data FROM dicts ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var kind string
		var data []byte
		if err := rows.Scan(&id, &kind, &data); err != nil {
			return nil, err
		}
		p.next = max(p.next, id+1)
		d := s2.NewDict(data)
		if d == nil || id < 1 || id > maxDictID {
			continue
		}
		p.byID[id] = d
		p.byKind[entra.Kind(kind)] = &kindDict{id: id, d: d}
	}
	return p, rows.Err()
}

// seed starts the sample of every kind without a dictionary from the plain versions
// of the newest snapshot: a file written before versions were packed, or whose first
// capture of a kind was too small to make one, would otherwise never pack the few new
// versions a day brings. It reads at most a sample's worth of each kind.
func (p *packer) seed(ctx context.Context, tx *sql.Tx) error {
	q, err := tx.PrepareContext(ctx, `SELECT b.data FROM objects o JOIN blobs b ON b.id = o.blob
		WHERE o.kind = ? AND o.last_snap IS NULL AND substr(b.data, 1, 1) = x'7b' LIMIT 256`)
	if err != nil {
		return err
	}
	defer q.Close()
	for _, kind := range entra.Kinds() {
		if k := p.byKind[kind]; k != nil && k.d != nil {
			continue
		}
		rows, err := q.QueryContext(ctx, string(kind))
		if err != nil {
			return err
		}
		var sample []byte
		for rows.Next() && len(sample) < dictSample {
			var data []byte
			if err := rows.Scan(&data); err != nil {
				rows.Close()
				return err
			}
			sample = append(sample, data...)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(sample) > 0 {
			p.addSample(kind, sample)
		}
	}
	return nil
}

// pack appends the stored form of doc, canonical JSON of kind, to dst: packed when the
// kind has a dictionary and packing makes it smaller, doc itself otherwise. scratch is
// room for the compressor's output, reused between calls; pack returns both.
func (p *packer) pack(dst, scratch []byte, kind entra.Kind, doc []byte) (out, scratchOut []byte) {
	if len(doc) > maxVersionSize {
		return append(dst, doc...), scratch
	}
	id, d := p.dictFor(kind, doc)
	if d == nil {
		return append(dst, doc...), scratch
	}
	if n := s2.MaxEncodedLen(len(doc)); cap(scratch) < n {
		scratch = make([]byte, n) // doc is under maxVersionSize, so n is never negative
	}
	block := d.Encode(scratch[:cap(scratch)], doc)
	if 1+uvarintLen(uint64(id))+len(block) >= len(doc) {
		return append(dst, doc...), scratch
	}
	dst = append(dst, packedMarker)
	dst = binary.AppendUvarint(dst, uint64(id))
	return append(dst, block...), scratch
}

// stored reports whether the previous snapshot probably holds the version with hash h
// already: the writer will then keep that one, and packing it again would be wasted.
// The check is on a prefix of the hash, so a rare false yes only means the writer
// packs the version itself.
func (p *packer) stored(h Hash) bool {
	_, found := p.storedBlob(h)
	return found
}

// storedBlob returns the blob that probably stores the version with hash h in the
// previous snapshot (see stored).
func (p *packer) storedBlob(h Hash) (int64, bool) {
	key := binary.BigEndian.Uint64(h[:8])
	i, found := slices.BinarySearchFunc(p.previous, key, func(v prevVersion, k uint64) int { return cmp.Compare(v.key, k) })
	if !found {
		return 0, false
	}
	return p.previous[i].blob, true
}

// packOne is pack for a single version, into a slice of its own.
func (p *packer) packOne(kind entra.Kind, doc []byte) []byte {
	out, _ := p.pack(nil, nil, kind, doc)
	return out
}

// dictFor returns the dictionary kind packs with, or nil while its sample is still being
// gathered (doc then joins the sample).
func (p *packer) dictFor(kind entra.Kind, doc []byte) (int64, *s2.Dict) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if k := p.byKind[kind]; k != nil && k.d != nil {
		return k.id, k.d
	}
	p.sampleLocked(kind, doc)
	return 0, nil // this version is part of the sample: it stays plain
}

// addSample adds versions of kind to its sample, unless it has a dictionary.
func (p *packer) addSample(kind entra.Kind, docs []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if k := p.byKind[kind]; k == nil || k.d == nil {
		p.sampleLocked(kind, docs)
	}
}

// sampleLocked adds docs to the sample of kind, which has no dictionary, and once the
// sample is large enough makes the dictionary from it. p.mu is held.
func (p *packer) sampleLocked(kind entra.Kind, docs []byte) {
	k := p.byKind[kind]
	if k == nil {
		k = &kindDict{}
		p.byKind[kind] = k
	}
	k.sample = append(k.sample, docs...)
	if len(k.sample) < dictSample || p.next < 1 || p.next > maxDictID {
		return
	}
	// The search start makes S2 begin a block by trying the spot where the sampled
	// versions begin: every version of a kind starts with the same first key.
	d := s2.MakeDict(k.sample, k.sample[:min(len(k.sample), 32)])
	k.sample = nil
	if d == nil {
		return
	}
	k.id, k.d = p.next, d
	p.next++
	p.byID[k.id] = d
	p.fresh = append(p.fresh, freshDict{id: k.id, kind: kind, data: d.Bytes()})
}

// dict implements dictSource.
func (p *packer) dict(_ context.Context, id int64) (*s2.Dict, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.byID[id]; d != nil {
		return d, nil
	}
	return nil, fmt.Errorf("dictionary %d is missing", id)
}

// writeFresh records the dictionaries this snapshot made, in its transaction.
func (p *packer) writeFresh(ctx context.Context, tx *sql.Tx) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.fresh {
		if _, err := tx.ExecContext(ctx, "INSERT INTO dicts(id, kind, data) VALUES (?, ?, ?)", f.id, string(f.kind), f.data); err != nil {
			return fmt.Errorf("cannot record the dictionary of %ss: %w", f.kind, err)
		}
	}
	p.fresh = nil
	return nil
}

// packedLen returns the dictionary id of a packed version, the S2 block, and the length
// it unpacks to.
func packedLen(data []byte) (id int64, block []byte, n int, err error) {
	if len(data) < 2 || data[0] != packedMarker {
		return 0, nil, 0, errBadPacked
	}
	v, k := binary.Uvarint(data[1:])
	if k <= 0 || v == 0 || v > maxDictID {
		return 0, nil, 0, errBadPacked
	}
	block = data[1+k:]
	n, err = s2.DecodedLen(block)
	if err != nil || n > maxVersionSize {
		return 0, nil, 0, errBadPacked
	}
	return int64(v), block, n, nil
}

// unpack returns the canonical JSON of a packed version, decoded into dst when dst has
// room for it.
func unpack(ctx context.Context, dicts dictSource, dst, data []byte) ([]byte, error) {
	id, block, _, err := packedLen(data)
	if err != nil {
		return nil, err
	}
	d, err := dicts.dict(ctx, id)
	if err != nil {
		return nil, err
	}
	doc, err := d.Decode(dst, block)
	if err != nil || len(doc) == 0 || doc[0] != '{' {
		return nil, errBadPacked
	}
	return doc, nil
}

// dictCache holds the dictionaries of a file for its readers. Dictionaries never change
// once committed, and a version is only ever committed with or after its dictionary, so
// a cached one is never stale.
type dictCache struct {
	mu   sync.Mutex
	byID map[int64]*s2.Dict
	db   *sql.DB
}

// dict implements dictSource, reading a dictionary from the file the first time.
func (c *dictCache) dict(ctx context.Context, id int64) (*s2.Dict, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.byID[id]; d != nil {
		return d, nil
	}
	var data []byte
	if err := c.db.QueryRowContext(ctx, "SELECT data FROM dicts WHERE id = ?", id).Scan(&data); err != nil {
		return nil, fmt.Errorf("dictionary %d cannot be read: %w", id, err)
	}
	d := s2.NewDict(data)
	if d == nil {
		return nil, fmt.Errorf("dictionary %d is damaged", id)
	}
	if c.byID == nil {
		c.byID = map[int64]*s2.Dict{}
	}
	c.byID[id] = d
	return d, nil
}
