package snapshots

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
type Writer struct {
	s      *Store
	tx     *sql.Tx
	meta   SnapshotMeta
	prev   int64
	done   bool
	tokens map[string]string

	putBlob, putObj, delObj, putLink, delLink, putAudit *sql.Stmt
	// indexed is set once the staging indexes exist; from then on a put replaces the
	// staged version in place instead of leaving the newest for commit to pick.
	indexed bool
}

// ensureIndexed builds the staging indexes (once).
func (w *Writer) ensureIndexed(ctx context.Context) error {
	if w.indexed {
		return nil
	}
	for _, q := range []string{
		// Index first (one sort), then keep only the newest version of each object and
		// one copy of each link, finding duplicates through the index.
		"CREATE INDEX temp.stage_objects_key ON stage_objects(kind, id)",
		`DELETE FROM stage_objects WHERE EXISTS (SELECT 1 FROM stage_objects n
			WHERE n.kind = stage_objects.kind AND n.id = stage_objects.id AND n.rowid > stage_objects.rowid)`,
		"CREATE INDEX temp.stage_links_key ON stage_links(kind, from_id, name, to_id)",
		`DELETE FROM stage_links WHERE EXISTS (SELECT 1 FROM stage_links o
			WHERE o.kind = stage_links.kind AND o.from_id = stage_links.from_id AND o.name = stage_links.name
			AND o.to_id = stage_links.to_id AND o.rowid < stage_links.rowid)`,
	} {
		if _, err := w.tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	w.indexed = true
	return nil
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
	if err != nil {
		return nil, fmt.Errorf("cannot start writing to %s: %w", s.path, err)
	}
	w := &Writer{s: s, tx: tx, meta: meta, tokens: map[string]string{}}
	fail := func(err error) (*Writer, error) { tx.Rollback(); return nil, err }

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
		return fail(fmt.Errorf("%s holds snapshots of tenant %s, not %s; capture this tenant into another file", s.path, tenant, meta.TenantID))
	}
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM snapshots").Scan(&w.prev); err != nil {
		return fail(err)
	}
	// Staging tables are plain append-only tables: a full capture writes hundreds of
	// thousands of rows, and random-key B-tree inserts would dominate its time. Their
	// indexes are built once, when something first needs to look up (an incremental
	// capture) or at commit.
	for _, q := range []string{
		"DROP TABLE IF EXISTS temp.stage_objects",
		"DROP TABLE IF EXISTS temp.stage_links",
		"CREATE TEMP TABLE stage_objects (kind TEXT NOT NULL, id TEXT NOT NULL, hash BLOB NOT NULL, in_bin INTEGER NOT NULL)",
		"CREATE TEMP TABLE stage_links (kind TEXT NOT NULL, from_id TEXT NOT NULL, name TEXT NOT NULL, to_id TEXT NOT NULL, to_kind TEXT NOT NULL)",
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fail(err)
		}
	}
	err = nil
	prep := func(dst **sql.Stmt, q string) {
		if err == nil {
			*dst, err = tx.PrepareContext(ctx, q)
		}
	}
	prep(&w.putBlob, "INSERT OR IGNORE INTO blobs(hash, data) VALUES (?, ?)")
	prep(&w.putObj, "INSERT INTO stage_objects(kind, id, hash, in_bin) VALUES (?, ?, ?, ?)")
	prep(&w.delObj, "DELETE FROM stage_objects WHERE kind = ? AND id = ?")
	prep(&w.putLink, "INSERT INTO stage_links(kind, from_id, name, to_id, to_kind) VALUES (?, ?, ?, ?, ?)")
	prep(&w.delLink, "DELETE FROM stage_links WHERE kind = ? AND from_id = ? AND name = ? AND to_id = ?")
	prep(&w.putAudit, "INSERT OR IGNORE INTO audit(id, activity_at, activity, data) VALUES (?, ?, ?, ?)")
	if err != nil {
		return fail(err)
	}
	return w, nil
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
	if _, err := w.putBlob.ExecContext(ctx, p.Hash[:], p.Data); err != nil {
		return err
	}
	if w.indexed {
		if _, err := w.delObj.ExecContext(ctx, string(p.Kind), p.ID); err != nil {
			return err
		}
	}
	_, err := w.putObj.ExecContext(ctx, string(p.Kind), p.ID, p.Hash[:], boolInt(p.InBin))
	return err
}

// DropBin drops from the snapshot being written every object of kind that was in a
// recycle bin, before the bin is read again (objects purged since the previous
// snapshot must not be carried forward).
func (w *Writer) DropBin(ctx context.Context, kind entra.Kind) error {
	if err := w.ensureIndexed(ctx); err != nil {
		return err
	}
	_, err := w.tx.ExecContext(ctx, "DELETE FROM stage_objects WHERE kind = ? AND in_bin = 1", string(kind))
	return err
}

// Staged returns the staged version of an object (for merging a partial delta record
// onto the previous version), or nil when the object is not staged.
func (w *Writer) Staged(ctx context.Context, kind entra.Kind, id string) ([]byte, error) {
	if err := w.ensureIndexed(ctx); err != nil {
		return nil, err
	}
	var data []byte
	err := w.tx.QueryRowContext(ctx, "SELECT b.data FROM stage_objects s JOIN blobs b ON b.hash = s.hash WHERE s.kind = ? AND s.id = ?", string(kind), id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return data, err
}

// StagedIDs returns the ids of the live (not binned) objects of kind staged so far.
func (w *Writer) StagedIDs(ctx context.Context, kind entra.Kind) ([]string, error) {
	if err := w.ensureIndexed(ctx); err != nil {
		return nil, err
	}
	rows, err := w.tx.QueryContext(ctx, "SELECT id FROM stage_objects WHERE kind = ? AND in_bin = 0 ORDER BY id", string(kind))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// PruneLinks drops staged links whose holder or target is not a live object of the
// snapshot. Graph hides the links of deleted objects, but an incremental capture carries
// links forward and a delta round need not report every link a deletion ended (a
// deleted user's group memberships, the manager link of its reports).
func (w *Writer) PruneLinks(ctx context.Context) error {
	if err := w.ensureIndexed(ctx); err != nil {
		return err
	}
	_, err := w.tx.ExecContext(ctx, `DELETE FROM stage_links WHERE
		NOT EXISTS (SELECT 1 FROM stage_objects s WHERE s.kind = stage_links.to_kind AND s.id = stage_links.to_id AND s.in_bin = 0)
		OR NOT EXISTS (SELECT 1 FROM stage_objects s WHERE s.kind = stage_links.kind AND s.id = stage_links.from_id AND s.in_bin = 0)`)
	return err
}

// RemoveObject drops an object from the snapshot being written (a delta said it is gone).
func (w *Writer) RemoveObject(ctx context.Context, kind entra.Kind, id string) error {
	if err := w.ensureIndexed(ctx); err != nil {
		return err
	}
	_, err := w.delObj.ExecContext(ctx, string(kind), id)
	return err
}

// PutLink records one relationship.
func (w *Writer) PutLink(ctx context.Context, l Link) error {
	if w.indexed {
		if _, err := w.delLink.ExecContext(ctx, string(l.Kind), l.From, l.Name, l.To); err != nil {
			return err
		}
	}
	_, err := w.putLink.ExecContext(ctx, string(l.Kind), l.From, l.Name, l.To, string(l.ToKind))
	return err
}

// RemoveLink drops a relationship from the snapshot being written.
func (w *Writer) RemoveLink(ctx context.Context, l Link) error {
	if err := w.ensureIndexed(ctx); err != nil {
		return err
	}
	_, err := w.delLink.ExecContext(ctx, string(l.Kind), l.From, l.Name, l.To)
	return err
}

// CarryForward copies every object of kind, and the links those objects hold, from the
// previous snapshot into this one, so that an incremental capture only has to record
// what a delta round says changed.
func (w *Writer) CarryForward(ctx context.Context, kind entra.Kind) error {
	if err := w.ensureIndexed(ctx); err != nil {
		return err
	}
	if w.prev == 0 {
		return nil
	}
	if _, err := w.tx.ExecContext(ctx, `INSERT OR REPLACE INTO stage_objects(kind, id, hash, in_bin)
		SELECT kind, id, hash, in_bin FROM objects WHERE kind = ? AND last_snap IS NULL`, string(kind)); err != nil {
		return err
	}
	_, err := w.tx.ExecContext(ctx, `INSERT OR IGNORE INTO stage_links(kind, from_id, name, to_id, to_kind)
		SELECT kind, from_id, name, to_id, to_kind FROM links WHERE kind = ? AND last_snap IS NULL`, string(kind))
	return err
}

// ClearLinks drops from the snapshot being written every link of one name held by one
// object, before its full list is recorded again.
func (w *Writer) ClearLinks(ctx context.Context, kind entra.Kind, from, name string) error {
	if err := w.ensureIndexed(ctx); err != nil {
		return err
	}
	_, err := w.tx.ExecContext(ctx, "DELETE FROM stage_links WHERE kind = ? AND from_id = ? AND name = ?", string(kind), from, name)
	return err
}

// PutAudit records a directory audit entry; entries already in the file are kept once.
func (w *Writer) PutAudit(ctx context.Context, id string, at time.Time, activity string, raw []byte) error {
	_, err := w.putAudit.ExecContext(ctx, id, at.UTC().Format(time.RFC3339Nano), activity, raw)
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
	if err != nil {
		w.Rollback()
		return Snapshot{}, err
	}
	w.done = true
	return snap, nil
}

func (w *Writer) commit(ctx context.Context) (Snapshot, error) {
	tx := w.tx
	if err := w.ensureIndexed(ctx); err != nil {
		return Snapshot{}, err
	}
	id := w.prev + 1
	snap := Snapshot{
		ID: id, TenantID: w.meta.TenantID, GraphURL: w.meta.GraphURL, TakenAt: w.meta.TakenAt.UTC().Truncate(time.Millisecond),
		Label: w.meta.Label, Incremental: w.meta.Incremental, Source: w.meta.Source,
		Counts: map[string]int{}, BinCounts: map[string]int{}, DeltaTokens: w.tokens,
	}
	rows, err := tx.QueryContext(ctx, "SELECT kind, in_bin, count(*) FROM stage_objects GROUP BY kind, in_bin")
	if err != nil {
		return snap, err
	}
	for rows.Next() {
		var kind string
		var inBin, n int
		if err := rows.Scan(&kind, &inBin, &n); err != nil {
			rows.Close()
			return snap, err
		}
		if inBin == 1 {
			snap.BinCounts[kind] = n
		} else {
			snap.Counts[kind] = n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return snap, err
	}
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM stage_links").Scan(&snap.LinkCount); err != nil {
		return snap, err
	}
	root, err := w.rootHash(ctx)
	if err != nil {
		return snap, err
	}
	snap.RootHash = root

	counts, _ := json.Marshal(snap.Counts)
	binCounts, _ := json.Marshal(snap.BinCounts)
	tokens, _ := json.Marshal(snap.DeltaTokens)
	if _, err := tx.ExecContext(ctx, `INSERT INTO snapshots(id, tenant_id, graph_url, taken_at, label, counts, bin_counts, link_count, delta_tokens, root_hash, incremental, source)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, snap.TenantID, snap.GraphURL, snap.TakenAt.Format(time.RFC3339Nano), snap.Label, string(counts), string(binCounts),
		snap.LinkCount, string(tokens), root, boolInt(snap.Incremental), snap.Source); err != nil {
		return snap, err
	}
	for _, q := range []string{
		// Close the rows of objects whose version or bin state changed, or that are gone.
		`UPDATE objects SET last_snap = ?1 - 1 WHERE last_snap IS NULL AND NOT EXISTS (
			SELECT 1 FROM stage_objects s WHERE s.kind = objects.kind AND s.id = objects.id AND s.hash = objects.hash AND s.in_bin = objects.in_bin)`,
		// Open rows for everything not still covered by an open row.
		`INSERT INTO objects(kind, id, first_snap, last_snap, hash, in_bin)
			SELECT s.kind, s.id, ?1, NULL, s.hash, s.in_bin FROM stage_objects s WHERE NOT EXISTS (
				SELECT 1 FROM objects o WHERE o.kind = s.kind AND o.id = s.id AND o.last_snap IS NULL)
			ORDER BY s.kind, s.id`,
		`UPDATE links SET last_snap = ?1 - 1 WHERE last_snap IS NULL AND NOT EXISTS (
			SELECT 1 FROM stage_links s WHERE s.kind = links.kind AND s.from_id = links.from_id AND s.name = links.name AND s.to_id = links.to_id)`,
		`INSERT INTO links(kind, from_id, name, to_id, to_kind, first_snap, last_snap)
			SELECT s.kind, s.from_id, s.name, s.to_id, s.to_kind, ?1, NULL FROM stage_links s WHERE NOT EXISTS (
				SELECT 1 FROM links l WHERE l.kind = s.kind AND l.from_id = s.from_id AND l.name = s.name AND l.to_id = s.to_id AND l.last_snap IS NULL)
			ORDER BY s.kind, s.from_id, s.name, s.to_id`,
	} {
		var args []any
		if strings.Contains(q, "?1") {
			args = []any{id}
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return snap, fmt.Errorf("cannot record snapshot %d: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return snap, fmt.Errorf("cannot commit snapshot %d to %s: %w", id, w.s.path, err)
	}
	return snap, nil
}

// rootHash hashes the staged manifest and links in key order; verify recomputes it from
// the stored intervals and blobs.
func (w *Writer) rootHash(ctx context.Context) (string, error) {
	h := newRootHasher()
	rows, err := w.tx.QueryContext(ctx, "SELECT kind, id, hash, in_bin FROM stage_objects ORDER BY kind, id")
	if err != nil {
		return "", err
	}
	if err := h.objects(rows); err != nil {
		return "", err
	}
	rows, err = w.tx.QueryContext(ctx, "SELECT kind, from_id, name, to_id, to_kind FROM stage_links ORDER BY kind, from_id, name, to_id")
	if err != nil {
		return "", err
	}
	if _, err := h.links(rows); err != nil {
		return "", err
	}
	return h.sum(), nil
}

// rootHasher defines the root hash: SHA-256 over one line per manifest entry
// ("o\tkind\tid\thash\tin_bin\n", in (kind, id) order) then one per link
// ("l\tkind\tfrom\tname\tto\tto_kind\n", in key order).
type rootHasher struct {
	h   interface{ Write([]byte) (int, error) }
	sum func() string
}

func newRootHasher() *rootHasher {
	d := sha256.New()
	return &rootHasher{h: d, sum: func() string { return hex.EncodeToString(d.Sum(nil)) }}
}

func (r *rootHasher) objects(rows *sql.Rows) error {
	defer rows.Close()
	var line []byte
	for rows.Next() {
		var kind, id string
		var hash []byte
		var inBin int
		if err := rows.Scan(&kind, &id, &hash, &inBin); err != nil {
			return err
		}
		line = append(line[:0], "o\t"...)
		line = append(line, kind...)
		line = append(line, '\t')
		line = append(line, id...)
		line = append(line, '\t')
		line = hex.AppendEncode(line, hash)
		line = append(line, '\t', byte('0'+inBin), '\n')
		r.h.Write(line)
	}
	return rows.Err()
}

func (r *rootHasher) links(rows *sql.Rows) (int, error) {
	defer rows.Close()
	var line []byte
	n := 0
	for rows.Next() {
		var kind, from, name, to, toKind string
		if err := rows.Scan(&kind, &from, &name, &to, &toKind); err != nil {
			return n, err
		}
		n++
		line = append(line[:0], "l\t"...)
		for i, f := range []string{kind, from, name, to, toKind} {
			if i > 0 {
				line = append(line, '\t')
			}
			line = append(line, f...)
		}
		line = append(line, '\n')
		r.h.Write(line)
	}
	return n, rows.Err()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
