package snapshots

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// Snapshot is one captured state of the tenant.
type Snapshot struct {
	ID          int64             `json:"id"`
	TenantID    string            `json:"tenant_id"`
	TakenAt     time.Time         `json:"taken_at"`
	Label       string            `json:"label"`
	GraphURL    string            `json:"graph_url"`
	Counts      map[string]int    `json:"counts"`
	RootHash    string            `json:"root_hash"`
	BinCounts   map[string]int    `json:"bin_counts"`
	LinkCount   int               `json:"link_count"`
	DeltaTokens map[string]string `json:"-"`
	Incremental bool              `json:"incremental"`
	Source      string            `json:"source"`
}

// Object is one object as a snapshot holds it.
type Object struct {
	Kind entra.Kind
	ID   string
	// Hash is the SHA-256 of JSON.
	Hash Hash
	// InBin marks objects that were in a recycle bin at capture time.
	InBin bool
	// JSON is the canonical Graph JSON.
	JSON json.RawMessage
}

// Decode returns the object's JSON as a map.
func (o Object) Decode() (map[string]any, error) {
	if m, ok := decodeFast(o.JSON); ok {
		return m, nil
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(o.JSON)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s %s: stored JSON is unreadable: %w", o.Kind, o.ID, err)
	}
	return m, nil
}

// Link is one relationship kept apart from object properties: From's navigation
// property Name (members, owners, manager) contains To.
type Link struct {
	Kind   entra.Kind `json:"kind"`
	From   string     `json:"from"`
	Name   string     `json:"name"`
	To     string     `json:"to"`
	ToKind entra.Kind `json:"to_kind"`
}

// ErrNoSnapshot is returned (wrapped) when a snapshot reference matches nothing.
var ErrNoSnapshot = errors.New("no such snapshot")

// Snapshots lists every snapshot in the file, oldest first.
func (s *Store) Snapshots(ctx context.Context) ([]Snapshot, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, tenant_id, graph_url, taken_at, label, counts, bin_counts, link_count, delta_tokens, root_hash, incremental, source
		FROM snapshots ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("cannot read snapshots from %s: %w", s.path, err)
	}
	defer rows.Close()
	var out []Snapshot
	for rows.Next() {
		snap, err := scanSnapshot(rows)
		if err != nil {
			// The JSON decoder's words ("invalid character '\x0f' in string literal")
			// say nothing to an operator: which row, and what to do, do.
			return nil, fmt.Errorf("the table of snapshots in %s is damaged (the row of snapshot %d cannot be read); run 'lifeline snapshots verify --db %s' and restore the file from a copy you trust", s.path, snap.ID, s.path)
		}
		out = append(out, snap)
	}
	return out, rows.Err()
}

func scanSnapshot(rows interface{ Scan(...any) error }) (Snapshot, error) {
	var snap Snapshot
	var takenAt, counts, binCounts, tokens string
	var incremental int
	if err := rows.Scan(&snap.ID, &snap.TenantID, &snap.GraphURL, &takenAt, &snap.Label, &counts, &binCounts, &snap.LinkCount, &tokens, &snap.RootHash, &incremental, &snap.Source); err != nil {
		return snap, err
	}
	var err error
	if snap.TakenAt, err = time.Parse(time.RFC3339Nano, takenAt); err != nil {
		return snap, err
	}
	snap.Incremental = incremental == 1
	if err := json.Unmarshal([]byte(counts), &snap.Counts); err != nil {
		return snap, err
	}
	if err := json.Unmarshal([]byte(binCounts), &snap.BinCounts); err != nil {
		return snap, err
	}
	if err := json.Unmarshal([]byte(tokens), &snap.DeltaTokens); err != nil {
		return snap, err
	}
	return snap, nil
}

// Resolve finds a snapshot by reference: its numeric id, "latest", or its exact label.
func (s *Store) Resolve(ctx context.Context, ref string) (Snapshot, error) {
	snaps, err := s.Snapshots(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	if len(snaps) == 0 {
		return Snapshot{}, fmt.Errorf("%s holds no snapshots yet: %w", s.path, ErrNoSnapshot)
	}
	if ref == "" || strings.EqualFold(ref, "latest") {
		return snaps[len(snaps)-1], nil
	}
	if n, err := strconv.ParseInt(ref, 10, 64); err == nil {
		for _, snap := range snaps {
			if snap.ID == n {
				return snap, nil
			}
		}
	}
	var match []Snapshot
	for _, snap := range snaps {
		if snap.Label == ref {
			match = append(match, snap)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return Snapshot{}, fmt.Errorf("snapshot %q is not in %s (it has ids 1 to %d; 'lifeline snapshots list --db %s' shows them): %w", ref, s.path, snaps[len(snaps)-1].ID, s.path, ErrNoSnapshot)
	default:
		return Snapshot{}, fmt.Errorf("label %q names %d snapshots in %s; use a snapshot id instead", ref, len(match), s.path)
	}
}

const inSnapshot = "first_snap <= ?1 AND (last_snap IS NULL OR last_snap >= ?1)"

// Objects calls fn for every object of kind in snapshot snap, in id order; an empty kind
// means every kind (ordered by kind, then id). Objects in a recycle bin are included,
// marked InBin.
func (s *Store) Objects(ctx context.Context, snap int64, kind entra.Kind, fn func(Object) error) error {
	q := "SELECT o.kind, o.id, o.hash, o.in_bin, b.data FROM objects o JOIN blobs b ON b.id = o.blob WHERE " + inSnapshot
	args := []any{snap}
	if kind != "" {
		q += " AND o.kind = ?2"
		args = append(args, string(kind))
	}
	q += " ORDER BY o.kind, o.id"
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("cannot read snapshot %d: %w", snap, err)
	}
	defer rows.Close()
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return err
		}
		if o.JSON, err = s.objectJSON(ctx, o); err != nil {
			return err
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AllObjects returns every object of snapshot snap in (kind, id) order, recycle-bin
// objects included: what collecting Objects(ctx, snap, "", ...) gives, errors
// included, read faster. Objects reads each object's version as it goes, which visits
// the file's pages in no useful order (ids are random, versions are stored in arrival
// order) and, once the snapshot is larger than SQLite's page cache, reads a page per
// object; AllObjects reads the manifest first and then the versions in stored order,
// each page once. It holds the whole snapshot in memory, so it is for callers that
// keep every object anyway.
func (s *Store) AllObjects(ctx context.Context, snap int64) ([]Object, error) {
	objs, _, err := s.allObjects(ctx, snap, 0)
	return objs, err
}

// allObjects is AllObjects, also reporting whether every object of the manifest is in
// the result (complete is false when some version was missing and its object left out);
// capacity is how many objects to make room for (objectCapacity).
func (s *Store) allObjects(ctx context.Context, snap int64, capacity int) (_ []Object, complete bool, err error) {
	c, err := s.openRaw()
	if err != nil {
		return nil, false, fmt.Errorf("cannot read snapshot %d: %w", snap, err)
	}
	defer c.close()
	st, err := c.prepare("SELECT kind, id, hash, in_bin, blob FROM objects WHERE " + inSnapshot + " ORDER BY kind, id")
	if err != nil {
		return nil, false, fmt.Errorf("cannot read snapshot %d: %w", snap, err)
	}
	objs, blobs := make([]Object, 0, capacity), make([]int64, 0, capacity)
	var kinds kindCache
	for st.start(snap); ; {
		ok, err := st.next(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("cannot read snapshot %d: %w", snap, err)
		}
		if !ok {
			break
		}
		o := Object{Kind: entra.Kind(kinds.get(st.bytes(0))), ID: string(st.bytes(1)), InBin: st.int64(3) == 1}
		copy(o.Hash[:], st.bytes(2))
		objs = append(objs, o)
		blobs = append(blobs, st.int64(4))
	}
	// The versions, in stored order.
	ids := slices.Clone(blobs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	data, err := readBlobsInOrder(ctx, c, &s.dicts, ids)
	if err != nil {
		return nil, false, fmt.Errorf("cannot read snapshot %d: %w", snap, err)
	}
	out := objs[:0]
	complete = true
	used := make([]bool, len(ids))
	for i, o := range objs {
		at, _ := slices.BinarySearch(ids, blobs[i])
		d := data[at]
		if d == nil {
			// Objects joins the manifest with the versions: an object whose version
			// is missing is not listed (verify reports it).
			complete = false
			continue
		}
		if used[at] {
			d = slices.Clone(d) // every object gets JSON of its own, as from Objects
		}
		used[at] = true
		o.JSON = d
		if o.JSON, err = s.objectJSON(ctx, o); err != nil {
			return nil, false, err
		}
		out = append(out, o)
	}
	return out, complete, nil
}

// objectCapacity is how many objects snap records (outside a bin and in one), as a
// capacity for its manifest: growing a slice of a hundred thousand objects one doubling
// at a time copies it twice over. It is only a hint, capped so that a damaged count
// cannot make a large allocation: a manifest longer than the cap grows past it as any
// slice does.
func objectCapacity(snap Snapshot) int {
	const limit = 1 << 18
	n := 0
	for _, counts := range []map[string]int{snap.Counts, snap.BinCounts} {
		for _, k := range counts {
			n = min(n+min(max(k, 0), limit), limit)
		}
	}
	return n
}

// readBlobsInOrder reads the versions ids (sorted, each once) over c: data[i] is that
// of ids[i] (its canonical JSON, unpacked, or its delta), nil when the file lacks it.
// Where the ids are dense, as a snapshot's versions mostly are, a run of them is read
// with one range query, which SQLite walks in id order; elsewhere one at a time by id.
func readBlobsInOrder(ctx context.Context, c *rawConn, dicts dictSource, ids []int64) ([][]byte, error) {
	data := make([][]byte, len(ids))
	if len(ids) == 0 {
		return data, nil
	}
	r, err := newVersionReader(c, dicts)
	if err != nil {
		return nil, err
	}
	const run = 4096
	for lo := 0; lo < len(ids); {
		hi := min(lo+run, len(ids))
		if span := ids[hi-1] - ids[lo] + 1; span <= 2*int64(hi-lo) {
			// At least half the rows of the range are wanted: read them all and keep
			// those.
			if err := r.readRange(ctx, ids[lo:hi], data[lo:hi]); err != nil {
				return nil, err
			}
			lo = hi
			continue
		}
		d, ok, err := r.readOne(ctx, ids[lo])
		if err != nil {
			return nil, err
		}
		if ok {
			data[lo] = d
		}
		lo++
	}
	return data, nil
}

// objectJSON resolves what scanObject read (a plain or packed version, or a delta) to
// canonical JSON.
func (s *Store) objectJSON(ctx context.Context, o Object) (json.RawMessage, error) {
	doc, err := resolveBlob(ctx, s.r, &s.dicts, o.JSON)
	if err != nil {
		return nil, fmt.Errorf("%s %s: its stored version is unreadable (run 'lifeline snapshots verify'): %w", o.Kind, o.ID, err)
	}
	return doc, nil
}

func scanObject(rows interface{ Scan(...any) error }) (Object, error) {
	var o Object
	var kind string
	var hash, data []byte
	var inBin int
	if err := rows.Scan(&kind, &o.ID, &hash, &inBin, &data); err != nil {
		return o, err
	}
	o.Kind = entra.Kind(kind)
	copy(o.Hash[:], hash)
	o.InBin = inBin == 1
	o.JSON = data // the stored form, until objectJSON resolves it
	return o, nil
}

// ErrNoObject is returned (wrapped) when an object is not in a snapshot.
var ErrNoObject = errors.New("no such object")

// Object returns one object of a snapshot by kind and id; an empty kind searches every kind.
func (s *Store) Object(ctx context.Context, snap int64, kind entra.Kind, id string) (Object, error) {
	q := "SELECT o.kind, o.id, o.hash, o.in_bin, b.data FROM objects o JOIN blobs b ON b.id = o.blob WHERE " + inSnapshot + " AND o.id = ?2"
	args := []any{snap, id}
	if kind != "" {
		q += " AND o.kind = ?3"
		args = append(args, string(kind))
	}
	o, err := scanObject(s.r.QueryRowContext(ctx, q+" LIMIT 1", args...))
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("%s %s is not in snapshot %d: %w", orAny(kind), id, snap, ErrNoObject)
	}
	if err != nil {
		return o, err
	}
	o.JSON, err = s.objectJSON(ctx, o)
	return o, err
}

func orAny(k entra.Kind) string {
	if k == "" {
		return "object"
	}
	return string(k)
}

// Links calls fn for every link of snapshot snap in key order (kind, from, name,
// to_kind, to).
func (s *Store) Links(ctx context.Context, snap int64, fn func(Link) error) error {
	err := s.holderLinks(ctx, snap, func(holder []Link) error {
		for _, l := range holder {
			if err := fn(l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot read links of snapshot %d: %w", snap, err)
	}
	return nil
}

// holderLinks calls fn with each holder's links of snapshot snap, holders in (kind, id)
// order and each holder's links in (name, to_kind, to) order: the single-valued ones kept in the
// holder's manifest row merged with the link sets.
func (s *Store) holderLinks(ctx context.Context, snap int64, fn func([]Link) error) error {
	names, err := s.nameTable(ctx)
	if err != nil {
		return err
	}
	c, err := s.openRaw()
	if err != nil {
		return err
	}
	defer c.close()
	refRows, err := c.prepare("SELECT kind, id, refs FROM objects WHERE " + inSnapshot + " AND refs IS NOT NULL ORDER BY kind, id")
	if err != nil {
		return err
	}
	setRows, err := c.prepare("SELECT kind, from_id, name, targets FROM links WHERE " + inSnapshot + " ORDER BY kind, from_id, name")
	if err != nil {
		return err
	}
	refRows.start(snap)
	setRows.start(snap)

	type row struct {
		kind, id string
		sets     []namedSet
		ok       bool
	}
	var kinds, setKinds, linkNames kindCache
	nextRef := func() (row, error) {
		if ok, err := refRows.next(ctx); !ok || err != nil {
			return row{}, err
		}
		r := row{kind: kinds.get(refRows.bytes(0)), id: string(refRows.bytes(1))}
		sets, err := readRefs(refRows.bytes(2))
		if err != nil {
			return r, fmt.Errorf("%s %s: its stored links are damaged: %w", r.kind, r.id, err)
		}
		r.sets, r.ok = sets, true
		return r, nil
	}
	// Link rows come one name at a time: gather a holder's rows.
	var pending row
	nextSet := func() (row, error) {
		r := pending
		pending = row{}
		for {
			ok, err := setRows.next(ctx)
			if err != nil || !ok {
				return r, err
			}
			kind, id := setKinds.get(setRows.bytes(0)), setRows.bytes(1)
			name := linkNames.get(setRows.bytes(2))
			ns, rest, err := readSet(setRows.bytes(3), nil)
			if err == nil && len(rest) > 0 {
				err = errBadLinkSet
			}
			if err != nil {
				return r, fmt.Errorf("%s %s: its stored %s are damaged: %w", kind, id, name, err)
			}
			if r.ok && (kind != r.kind || string(id) != r.id) {
				pending = row{kind: kind, id: string(id), sets: []namedSet{{name, ns}}, ok: true}
				return r, nil
			}
			if !r.ok {
				r.kind, r.id, r.ok = kind, string(id), true
			}
			r.sets = append(r.sets, namedSet{name, ns})
		}
	}
	a, err := nextRef()
	if err != nil {
		return err
	}
	b, err := nextSet()
	if err != nil {
		return err
	}
	var links []Link
	for a.ok || b.ok {
		var sets []namedSet
		var kind, id string
		c := 0
		switch {
		case !b.ok:
			c = -1
		case !a.ok:
			c = 1
		default:
			c = cmp.Or(strings.Compare(a.kind, b.kind), strings.Compare(a.id, b.id))
		}
		if c <= 0 {
			kind, id = a.kind, a.id
			sets = append(sets, a.sets...)
			if a, err = nextRef(); err != nil {
				return err
			}
		}
		if c >= 0 {
			kind, id = b.kind, b.id
			sets = append(sets, b.sets...)
			if b, err = nextSet(); err != nil {
				return err
			}
		}
		links = links[:0]
		for _, set := range sets {
			for _, n := range set.ns {
				to, ok := names.get(n)
				if !ok {
					return fmt.Errorf("%s %s: a stored %s link points at target number %d, which the file does not name", kind, id, set.name, n)
				}
				links = append(links, Link{Kind: entra.Kind(kind), From: id, Name: set.name, To: to.id, ToKind: to.kind})
			}
		}
		slices.SortFunc(links, func(x, y Link) int {
			return cmp.Or(strings.Compare(x.Name, y.Name), strings.Compare(string(x.ToKind), string(y.ToKind)), strings.Compare(x.To, y.To))
		})
		if err := fn(links); err != nil {
			return err
		}
	}
	return nil
}

// nameTable is the file's link target numbering, read once and extended as it grows
// (names are only ever appended).
type nameTable struct {
	byN []target
}

type target struct {
	kind entra.Kind
	id   string
}

func (t *nameTable) get(n int64) (target, bool) {
	if n <= 0 || n >= int64(len(t.byN)) || t.byN[n].id == "" {
		return target{}, false
	}
	return t.byN[n], true
}

func (s *Store) nameTable(ctx context.Context) (*nameTable, error) {
	s.namesMu.Lock()
	defer s.namesMu.Unlock()
	var top sql.NullInt64
	if err := s.r.QueryRowContext(ctx, "SELECT max(first) FROM names").Scan(&top); err != nil {
		return nil, err
	}
	if s.names != nil && (!top.Valid || int64(len(s.names.byN)) > top.Int64) {
		return s.names, nil
	}
	t := &nameTable{}
	if s.names != nil {
		t.byN = s.names.byN
	}
	from := int64(len(t.byN))
	rows, err := s.r.QueryContext(ctx, "SELECT first, data FROM names WHERE first >= ? ORDER BY first", from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var first int64
		var data []byte
		if err := rows.Scan(&first, &data); err != nil {
			return nil, err
		}
		err := decodeNames(data, func(i int, kind entra.Kind, guid *[16]byte, id string) {
			n := first + int64(i)
			for int64(len(t.byN)) <= n {
				t.byN = append(t.byN, target{})
			}
			if guid != nil {
				id = string(appendGUID(nil, guid))
			}
			t.byN[n] = target{kind, id}
		})
		if err != nil {
			return nil, fmt.Errorf("the link target names are damaged: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.names = t
	return t, nil
}

// AuditEntry is one captured directory audit record.
type AuditEntry struct {
	ID       string
	At       time.Time
	Activity string
	JSON     json.RawMessage
}

// Audit calls fn for every captured audit entry with at in [since, until), oldest first.
// Zero times leave that end open.
func (s *Store) Audit(ctx context.Context, since, until time.Time, fn func(AuditEntry) error) error {
	q := "SELECT id, activity_at, activity, data FROM audit WHERE 1=1"
	var args []any
	if !since.IsZero() {
		q += " AND activity_at >= ?"
		args = append(args, since.UTC().Format(time.RFC3339Nano))
	}
	if !until.IsZero() {
		q += " AND activity_at < ?"
		args = append(args, until.UTC().Format(time.RFC3339Nano))
	}
	rows, err := s.r.QueryContext(ctx, q+" ORDER BY activity_at, id", args...)
	if err != nil {
		return fmt.Errorf("cannot read the audit log in %s: %w", s.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e AuditEntry
		var at string
		var data []byte
		if err := rows.Scan(&e.ID, &at, &e.Activity, &data); err != nil {
			return err
		}
		if e.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return fmt.Errorf("audit entry %s has a damaged time %q", e.ID, at)
		}
		if e.JSON, err = decompressAudit(data); err != nil {
			return fmt.Errorf("audit entry %s is damaged: %w", e.ID, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// LatestAuditTime returns the time of the newest captured audit entry (zero when none),
// where the next capture's audit read starts.
func (s *Store) LatestAuditTime(ctx context.Context) (time.Time, error) {
	var at sql.NullString
	if err := s.r.QueryRowContext(ctx, "SELECT max(activity_at) FROM audit").Scan(&at); err != nil {
		return time.Time{}, err
	}
	if !at.Valid {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, at.String)
}
