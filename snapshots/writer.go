package snapshots

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// SnapshotMeta describes a snapshot being written.
type SnapshotMeta struct {
	// TenantID is the tenant captured; a file holds one tenant only.
	TenantID string
	// GraphURL is where it was captured from.
	GraphURL string
	// TakenAt is when the capture started.
	TakenAt time.Time
	// Label is the operator's name for it ("before change 4711").
	Label string
	// Incremental marks snapshots built from the previous one plus delta changes.
	Incremental bool
	// Source is "capture", "import" or "entraexporter".
	Source string
}

// Writer stages one snapshot inside a single write transaction: nothing is visible, and
// nothing of the file's earlier snapshots changes, until Commit. A capture that fails
// halfway rolls back and leaves no half snapshot. A Writer is not safe for concurrent use;
// a capture funnels its collectors into one goroutine that owns it.
//
// Object versions go to the file as they arrive (unless the previous snapshot already
// holds the same version); the manifest itself is staged in memory, compactly, and
// written at Commit in key order, where only what changed since the previous snapshot
// costs a row: a full capture of a million objects makes a few million cheap appends
// rather than tens of millions of random index updates.
type Writer struct {
	s      *Store
	tx     *sql.Tx
	meta   SnapshotMeta
	prev   int64
	done   bool
	tokens map[string]string
	prune  bool

	putAudit *sql.Stmt
	pack     *packer // packs whole versions; shared with a capture's collectors
	st       stage
	blobs    rowBuffer // pending blob rows (id, data)
	nextBlob int64     // next blob id
	newBlob  int64     // blob ids from here on were written by this snapshot
	orphans  []int64   // blobs written by this snapshot that nothing references any more
	// damaged are the versions kept from the previous snapshot whose stored copies
	// were found damaged, and stored again from the fresh copies (reuse.go).
	damaged []damagedVersion
	// check, when set, sees the snapshot about to be committed (its root hash and
	// counts known) and may refuse it: the commit then writes nothing.
	check func(Snapshot) error
}

// Begin starts a new snapshot of meta.TenantID. It refuses a tenant other than the one
// the file already holds.
func (s *Store) Begin(ctx context.Context, meta SnapshotMeta) (*Writer, error) {
	db, err := s.writable()
	if err != nil {
		return nil, err
	}
	if meta.TenantID == "" {
		return nil, errors.New("a snapshot needs the tenant id it was taken from")
	}
	if meta.Source == "" {
		meta.Source = "capture"
	}
	if meta.TakenAt.IsZero() {
		meta.TakenAt = time.Now()
	}
	tx, err := db.BeginTx(ctx, nil)
	if isBusy(err) {
		return nil, s.busyError("a capture, an import or an apply", "; wait for it to finish or write to another file", err)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot start writing to %s: %w", s.path, err)
	}
	w := &Writer{s: s, tx: tx, meta: meta, tokens: map[string]string{}, st: newStage()}
	w.blobs = rowBuffer{table: "blobs(id, data)", cols: 2}
	fail := func(err error) (*Writer, error) {
		tx.Rollback()
		return nil, err
	}
	var tenant string
	err = tx.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'tenant_id'").Scan(&tenant)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, "INSERT INTO meta(key, value) VALUES ('tenant_id', ?)", meta.TenantID); err != nil {
			return fail(err)
		}
	case err != nil:
		return fail(err)
	case tenant != meta.TenantID:
		verb := "import" // an EntraExporter folder is imported too
		if meta.Source == "capture" {
			verb = "capture"
		}
		return fail(fmt.Errorf("%s holds snapshots of tenant %s, not %s; %s this tenant into another file", s.path, tenant, meta.TenantID, verb))
	}
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM snapshots").Scan(&w.prev); err != nil {
		return fail(err)
	}
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM blobs").Scan(&w.nextBlob); err != nil {
		return fail(err)
	}
	w.nextBlob++
	w.newBlob = w.nextBlob
	if w.pack, err = loadPacker(ctx, tx); err != nil {
		return fail(fmt.Errorf("cannot read the dictionaries in %s: %w", s.path, err))
	}
	if !s.immutable {
		w.pack.path = s.path
	}
	if err := w.loadNames(ctx); err != nil {
		return fail(fmt.Errorf("cannot read the link targets in %s: %w", s.path, err))
	}
	if w.prev > 0 {
		if err := w.loadPrevious(ctx); err != nil {
			return fail(fmt.Errorf("cannot read the newest snapshot in %s: %w", s.path, err))
		}
		if err := w.pack.seed(ctx, tx); err != nil {
			return fail(fmt.Errorf("cannot read the newest snapshot in %s: %w", s.path, err))
		}
	}
	if w.putAudit, err = tx.PrepareContext(ctx, "INSERT OR IGNORE INTO audit(id, activity_at, activity, data) VALUES (?, ?, ?, ?)"); err != nil {
		return fail(err)
	}
	return w, nil
}

// loadNames reads the file's link target numbering, which new numbers continue.
func (w *Writer) loadNames(ctx context.Context) error {
	st := &w.st
	rows, err := w.tx.QueryContext(ctx, "SELECT first, data FROM names ORDER BY first")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var first int64
		var data []byte
		if err := rows.Scan(&first, &data); err != nil {
			return err
		}
		err := decodeNames(data, func(i int, kind entra.Kind, guid *[16]byte, id string) {
			if guid != nil {
				id = string(appendGUID(nil, guid))
			}
			st.setNumber(st.intern(kind, id), int32(first)+int32(i))
		})
		if err != nil {
			return err
		}
	}
	return rows.Err()
}

// loadPrevious stages what the newest snapshot holds, so that unchanged versions are
// recognised as they arrive and cost nothing: its open manifest and link rows.
func (w *Writer) loadPrevious(ctx context.Context) error {
	st := &w.st
	rows, err := w.tx.QueryContext(ctx, "SELECT kind, id, first_snap, hash, blob, in_bin, refs FROM objects WHERE last_snap IS NULL")
	if err != nil {
		return err
	}
	for rows.Next() {
		var kind, id string
		var p prevRow
		var hash, refs []byte
		var inBin int
		if err := rows.Scan(&kind, &id, &p.first, &hash, &p.blob, &inBin, &refs); err != nil {
			rows.Close()
			return err
		}
		copy(p.hash[:], hash)
		w.pack.previous = append(w.pack.previous, prevVersion{binary.BigEndian.Uint64(p.hash[:8]), p.blob})
		p.inBin = inBin == 1
		p.refs, p.end = st.keep(refs)
		h := st.intern(entra.Kind(kind), id)
		st.prevRows = append(st.prevRows, p)
		st.ents[h].prev = int32(len(st.prevRows))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	slices.SortFunc(w.pack.previous, func(a, b prevVersion) int { return cmp.Compare(a.key, b.key) })
	rows, err = w.tx.QueryContext(ctx, "SELECT kind, from_id, name, first_snap, targets FROM links WHERE last_snap IS NULL")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var kind, from, name string
		var p prevSet
		var targets []byte
		if err := rows.Scan(&kind, &from, &name, &p.first, &targets); err != nil {
			return err
		}
		p.start, p.end = st.keep(targets)
		st.prevSets[setKey{st.intern(entra.Kind(kind), from), st.linkName(name)}] = p
	}
	return rows.Err()
}

// Previous returns the id of the newest snapshot before this one (0 when none).
func (w *Writer) Previous() int64 { return w.prev }

// PutObject records one object as Graph returned it. inBin marks objects read from a
// recycle bin. Putting the same object twice keeps the last version.
func (w *Writer) PutObject(ctx context.Context, kind entra.Kind, id string, raw []byte, inBin bool) error {
	p, err := Prepare(kind, id, raw, inBin)
	if err != nil {
		return err
	}
	return w.PutPrepared(ctx, p)
}

// Prepared is an object canonicalized and hashed, ready for PutPrepared. Preparing is
// the CPU-heavy part of storing an object, so captures do it in their collectors, in
// parallel, and leave the writer only the inserts.
type Prepared struct {
	Kind  entra.Kind
	ID    string
	Data  []byte
	Hash  Hash
	InBin bool

	// packed is Data's stored form when a capture packed it already (Writer.pack);
	// PutPrepared packs it otherwise.
	packed []byte
	// storedAs is what checkStored found of the previous snapshot's stored copy of
	// this version: its blob when it holds exactly Data, minus its blob when it is
	// damaged, 0 when nobody checked (PutPrepared then does).
	storedAs int64
}

// Prepare canonicalizes and hashes one object's Graph JSON.
func Prepare(kind entra.Kind, id string, raw []byte, inBin bool) (Prepared, error) {
	if id == "" {
		return Prepared{}, fmt.Errorf("a %s without an id cannot be stored", kind)
	}
	data, err := Canonicalize(kind, raw)
	if err != nil {
		return Prepared{}, fmt.Errorf("%s %s: %w", kind, id, err)
	}
	return Prepared{Kind: kind, ID: id, Data: data, Hash: HashOf(data), InBin: inBin}, nil
}

// PutPrepared records an object Prepare made.
func (w *Writer) PutPrepared(ctx context.Context, p Prepared) error {
	st := &w.st
	h := st.intern(p.Kind, p.ID)
	e := &st.ents[h]
	if e.staged() && e.hash == p.Hash && (e.blob >= w.newBlob || e.flags&entChecked != 0) {
		e.stage(e.hash, e.blob, p.InBin)
		return nil
	}
	prevDamaged := false
	if prev := st.prevOf(h); prev != nil && prev.hash == p.Hash {
		// The version is stored already: keep that copy, unless it was damaged since
		// (reuse.go), which would carry the damage into this snapshot.
		intact := p.storedAs == prev.blob
		if !intact && p.storedAs != -prev.blob {
			intact = w.storedIntact(ctx, prev.blob, p.Data)
		}
		if intact {
			w.unstage(h)
			st.ents[h].stage(p.Hash, prev.blob, p.InBin)
			st.ents[h].flags |= entChecked
			return nil
		}
		prevDamaged = true
		w.damaged = append(w.damaged, damagedVersion{kind: p.Kind, id: p.ID, first: prev.first})
	}
	var data []byte
	if prev := st.prevOf(h); prev != nil && !prevDamaged {
		// A changed version: store what changed against the previous one's whole form.
		d, err := w.deltaFrom(ctx, prev.blob, p.Data)
		if err != nil {
			return fmt.Errorf("%s %s: %w", p.Kind, p.ID, err)
		}
		data = d
	}
	if data == nil || len(data) > smallDelta {
		// Whole, packed, unless a delta is smaller: a delta of many members can be.
		packed := p.packed
		if packed == nil {
			packed = w.pack.packOne(p.Kind, p.Data)
		}
		if data == nil || len(packed) < len(data) {
			data = packed
		}
	}
	w.unstage(h)
	id := w.nextBlob
	w.nextBlob++
	if err := w.blobs.add(ctx, w.tx, len(data), id, data); err != nil {
		return err
	}
	st.ents[h].stage(p.Hash, id, p.InBin)
	return nil
}

// smallDelta is the size under which a delta is kept without comparing it with the
// packed whole version, which is rarely smaller than a few hundred bytes.
const smallDelta = 128

// deltaFrom encodes doc against the whole version behind blob prev (a version of the
// same object in the previous snapshot), or returns nil to store doc whole.
func (w *Writer) deltaFrom(ctx context.Context, prev int64, doc []byte) ([]byte, error) {
	var data []byte
	if err := w.tx.QueryRowContext(ctx, "SELECT data FROM blobs WHERE id = ?", prev).Scan(&data); err != nil {
		return nil, fmt.Errorf("its previous version cannot be read: %w", err)
	}
	base := prev
	if len(data) > 0 && data[0] == deltaMarker {
		b, _, err := deltaBase(data)
		if err != nil {
			return nil, fmt.Errorf("its previous version is damaged: %w", err)
		}
		base = b
		if err := w.tx.QueryRowContext(ctx, "SELECT data FROM blobs WHERE id = ?", base).Scan(&data); err != nil {
			return nil, fmt.Errorf("its previous version cannot be read: %w", err)
		}
		if len(data) == 0 || data[0] == deltaMarker {
			return nil, nil
		}
	}
	whole, err := wholeVersion(ctx, w.pack, data)
	if err != nil {
		// A damaged previous version (verify reports it) must not stop the capture
		// that would replace it: this version is stored whole.
		return nil, nil
	}
	return makeDelta(base, whole, doc), nil
}

// unstage takes an object out of the snapshot being written, remembering a version that
// only this snapshot wrote so that commit can drop it.
func (w *Writer) unstage(h handle) {
	e := &w.st.ents[h]
	if e.staged() && e.blob >= w.newBlob {
		w.orphans = append(w.orphans, e.blob)
	}
	e.flags &^= entStaged | entInBin
}

// DropBin drops from the snapshot being written every object of kind that was in a
// recycle bin, before the bin is read again (objects purged since the previous
// snapshot must not be carried forward).
func (w *Writer) DropBin(ctx context.Context, kind entra.Kind) error {
	c := w.st.code(kind)
	for i := range w.st.ents {
		if e := &w.st.ents[i]; e.kind == c && e.staged() && e.inBin() {
			w.unstage(handle(i))
		}
	}
	return nil
}

// Staged returns the staged version of an object (for merging a partial delta record
// onto the previous version), or nil when the object is not staged.
func (w *Writer) Staged(ctx context.Context, kind entra.Kind, id string) ([]byte, error) {
	h, ok := w.st.lookup(kind, id)
	if !ok || !w.st.ents[h].staged() {
		return nil, nil
	}
	if err := w.blobs.flush(ctx, w.tx); err != nil {
		return nil, err
	}
	var data []byte
	if err := w.tx.QueryRowContext(ctx, "SELECT data FROM blobs WHERE id = ?", w.st.ents[h].blob).Scan(&data); err != nil {
		return nil, fmt.Errorf("%s %s: its staged version cannot be read: %w", kind, id, err)
	}
	doc, err := resolveBlob(ctx, w.tx, w.pack, data)
	if err != nil {
		return nil, fmt.Errorf("%s %s: its stored version, which this change is laid over, is damaged (run 'lifeline snapshots verify --db %s'; a full capture without --incremental stores it afresh)", kind, id, w.s.path)
	}
	return doc, nil
}

// StagedIDs returns the ids of the live (not binned) objects of kind staged so far.
func (w *Writer) StagedIDs(ctx context.Context, kind entra.Kind) ([]string, error) {
	c := w.st.code(kind)
	var ids []string
	for i := range w.st.ents {
		if e := &w.st.ents[i]; e.kind == c && e.live() {
			ids = append(ids, w.st.id(handle(i)))
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// PruneLinks makes Commit drop every link whose holder or target is not a live object of
// the snapshot. Graph hides the links of deleted objects, but an incremental capture
// carries links forward and a delta round need not report every link a deletion ended
// (a deleted user's group memberships, the manager link of its reports).
func (w *Writer) PruneLinks(ctx context.Context) error {
	w.prune = true
	return nil
}

// RemoveObject drops an object from the snapshot being written (a delta said it is gone).
func (w *Writer) RemoveObject(ctx context.Context, kind entra.Kind, id string) error {
	if h, ok := w.st.lookup(kind, id); ok {
		w.unstage(h)
	}
	return nil
}

// PutLink records one relationship.
func (w *Writer) PutLink(ctx context.Context, l Link) error {
	st := &w.st
	st.addLink(st.intern(l.Kind, l.From), st.linkName(l.Name), st.intern(l.ToKind, l.To))
	return nil
}

// linkRef is a link target as a capture reads it: its kind and its id, a slice of the
// page it came in (no string per link).
type linkRef struct {
	kind entra.Kind
	id   []byte
}

// putLinkRefs records links that share their holder and name.
func (w *Writer) putLinkRefs(kind entra.Kind, from, name string, to []linkRef) {
	st := &w.st
	h, n := st.intern(kind, from), st.linkName(name)
	for _, l := range to {
		st.addLink(h, n, st.internBytes(l.kind, l.id))
	}
}

// RemoveLink drops a relationship from the snapshot being written.
func (w *Writer) RemoveLink(ctx context.Context, l Link) error {
	st := &w.st
	from, ok := st.lookup(l.Kind, l.From)
	if !ok {
		return nil
	}
	name, ok := st.nameIdx[l.Name]
	if !ok {
		return nil
	}
	seq := st.nextSeq()
	// The target's kind is not part of a link's key: drop it under any kind.
	for _, k := range st.kinds {
		if to, ok := st.lookup(k, l.To); ok {
			st.tomb[linkTriple{from, name, to}] = seq
		}
	}
	return nil
}

// CarryForward copies every object of kind, and the links those objects hold, from the
// previous snapshot into this one, so that an incremental capture only has to record
// what a delta round says changed.
func (w *Writer) CarryForward(ctx context.Context, kind entra.Kind) error {
	st := &w.st
	c := st.code(kind)
	for i := range st.ents {
		e := &st.ents[i]
		if e.kind != c || e.prev == 0 {
			continue
		}
		p := st.prevRows[e.prev-1]
		w.unstage(handle(i))
		st.ents[i].stage(p.hash, p.blob, p.inBin)
		if p.end > p.refs {
			sets, err := readRefs(st.span(p.refs, p.end))
			if err != nil {
				return fmt.Errorf("%s %s: its stored links are damaged: %w", kind, st.id(handle(i)), err)
			}
			for _, s := range sets {
				if err := st.carrySet(handle(i), st.linkName(s.name), s.ns); err != nil {
					return err
				}
			}
		}
	}
	for k, p := range st.prevSets {
		if st.ents[k.h].kind != c {
			continue
		}
		ns, _, err := readSet(st.span(p.start, p.end), nil)
		if err != nil {
			return fmt.Errorf("%s %s: its stored %s are damaged: %w", kind, st.id(k.h), st.linkNames[k.name], err)
		}
		if err := st.carrySet(k.h, k.name, ns); err != nil {
			return err
		}
	}
	return nil
}

func (st *stage) carrySet(from handle, name uint16, ns []int64) error {
	for _, n := range ns {
		if n <= 0 || n >= int64(len(st.byPN)) || st.byPN[n] < 0 {
			return fmt.Errorf("a stored link points at target number %d, which the file does not name", n)
		}
		st.addLink(from, name, st.byPN[n])
	}
	return nil
}

// ClearLinks drops from the snapshot being written every link of one name held by one
// object, before its full list is recorded again.
func (w *Writer) ClearLinks(ctx context.Context, kind entra.Kind, from, name string) error {
	st := &w.st
	h, ok := st.lookup(kind, from)
	if !ok {
		return nil
	}
	ni, ok := st.nameIdx[name]
	if !ok {
		return nil
	}
	st.clears[setKey{h, ni}] = st.nextSeq()
	return nil
}

// PutAudit records a directory audit entry; entries already in the file are kept once.
func (w *Writer) PutAudit(ctx context.Context, id string, at time.Time, activity string, raw []byte) error {
	_, err := w.putAudit.ExecContext(ctx, id, at.UTC().Format(time.RFC3339Nano), activity, compressAudit(raw))
	return err
}

// SetDeltaToken records the delta link a kind's capture ended with, for the next
// incremental capture.
func (w *Writer) SetDeltaToken(kind entra.Kind, link string) { w.tokens[string(kind)] = link }

// Rollback abandons the snapshot. It is safe to call after Commit.
func (w *Writer) Rollback() error {
	if w.done {
		return nil
	}
	w.done = true
	w.pack.closeReaders()
	return w.tx.Rollback()
}

// Commit turns the staged objects and links into a snapshot: closes the manifest rows
// of objects that changed or vanished, opens rows for new versions, computes counts and
// the root hash, and commits, all in one transaction.
func (w *Writer) Commit(ctx context.Context) (Snapshot, error) {
	if w.done {
		return Snapshot{}, errors.New("snapshot already committed or rolled back")
	}
	snap, err := w.commit(ctx)
	w.pack.closeReaders()
	if err != nil {
		w.Rollback()
		return Snapshot{}, err
	}
	w.done = true
	return snap, nil
}

// dropOrphans deletes the versions this snapshot wrote but does not reference (an
// object put twice with different content, or removed after it was put).
func (w *Writer) dropOrphans(ctx context.Context) error {
	if len(w.orphans) == 0 {
		return nil
	}
	referenced := map[int64]bool{}
	for i := range w.st.ents {
		if e := &w.st.ents[i]; e.staged() && e.blob >= w.newBlob {
			referenced[e.blob] = true
		}
	}
	for _, b := range w.orphans {
		if referenced[b] {
			continue
		}
		if _, err := w.tx.ExecContext(ctx, "DELETE FROM blobs WHERE id = ?", b); err != nil {
			return err
		}
	}
	return nil
}

// rootOf defines the root hash: the SHA-256 of the hex SHA-256 of the manifest lines
// ("o\tkind\tid\thash\tin_bin\n", in (kind, id) order), a newline, and the hex SHA-256 of
// the link lines ("l\tkind\tfrom\tname\tto\tto_kind\n", in (kind, from, name, to_kind,
// to) order). Two digests rather than one stream, so that both are computed in one pass.
func rootOf(objects, links []byte) string {
	d := sha256.New()
	d.Write(hex.AppendEncode(nil, objects))
	d.Write([]byte{'\n'})
	d.Write(hex.AppendEncode(nil, links))
	return hex.EncodeToString(d.Sum(nil))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
