package snapshots

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lifelinehq/lifeline/entra"
)

// Change classes, as diff reports them.
const (
	Added       = "added"
	Modified    = "modified"
	SoftDeleted = "soft_deleted"
	HardDeleted = "hard_deleted"
	Restored    = "restored"
)

// State is one side of a diff: a snapshot in a store. A live tenant is diffed by
// capturing it into a scratch store first, so both sides are read the same way.
type State struct {
	Store    *Store
	Snapshot Snapshot
	// Live marks a state captured from the tenant just now.
	Live bool
}

// StateRef names a diff side in reports.
type StateRef struct {
	Snapshot int64     `json:"snapshot,omitempty"`
	Label    string    `json:"label,omitempty"`
	TakenAt  time.Time `json:"taken_at"`
	Live     bool      `json:"live,omitempty"`
}

// PropertyChange is one changed value: a property, a nested condition, or one member of
// a list of plain values (path ending in "[]", with before or after null).
type PropertyChange struct {
	Path   string `json:"path"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// LinkChange is one added or removed relationship of the changed object.
type LinkChange struct {
	Relation   string `json:"relation"`
	TargetKind string `json:"target_kind"`
	TargetID   string `json:"target_id"`
	Change     string `json:"change"` // "added" | "removed"
}

// Change is one object that differs between the two states.
type Change struct {
	Kind        entra.Kind       `json:"kind"`
	ID          string           `json:"id"`
	DisplayName string           `json:"display_name"`
	Change      string           `json:"change"`
	Properties  []PropertyChange `json:"properties"`
	Links       []LinkChange     `json:"links"`
	// Actor, At and Activity come from the directory audit log; all three are null when
	// no audit entry explains the change (Evidence then says so).
	Actor    *string    `json:"actor"`
	At       *time.Time `json:"at"`
	Activity *string    `json:"activity"`
	Evidence string     `json:"evidence"`

	// before is a hard-deleted object decoded from the first state, kept when
	// DiffOptions asked.
	before map[string]any
	// beforeMembers are a modified object's top-level members that differ, decoded from
	// the first state, kept when DiffOptions asked.
	beforeMembers []keptMember
}

// keptMember is one top-level member of an object, decoded.
type keptMember struct {
	name  string
	value any
}

// BeforeMember returns the first state's value of a modified object's top-level member
// that the diff reports changed, decoded (nil when the first state lacks it), when the
// diff was asked to keep them (DiffOptions.KeepChangedMembers) and both versions split
// into members; ok is false for any other member or change (ignored members, members
// whose bytes differ but not their values). A restore plan puts those values back,
// and the diff has decoded them already. The value is shared: callers must not change
// it.
func (c *Change) BeforeMember(name string) (value any, ok bool) {
	for _, m := range c.beforeMembers {
		if m.name == name {
			return m.value, true
		}
	}
	return nil, false
}

// TakeBefore returns a hard-deleted object as the first state holds it, decoded, when
// the diff was asked to keep it (DiffOptions.KeepBefore); nil otherwise. A restore
// plan recreates it from the whole object, which the diff decodes once for both. It is
// handed out once (the caller may change it).
func (c *Change) TakeBefore() map[string]any {
	m := c.before
	c.before = nil
	return m
}

// Summary counts changes by class.
type Summary struct {
	Added       int `json:"added"`
	Modified    int `json:"modified"`
	SoftDeleted int `json:"soft_deleted"`
	HardDeleted int `json:"hard_deleted"`
	Restored    int `json:"restored"`
}

// DiffResult is the whole difference between two states.
type DiffResult struct {
	From    StateRef `json:"from"`
	To      StateRef `json:"to"`
	Summary Summary  `json:"summary"`
	Changes []Change `json:"changes"`
}

// DiffOptions narrows a diff.
type DiffOptions struct {
	// Kinds limits the diff to these kinds (all when empty).
	Kinds []entra.Kind
	// KeepVolatile reports properties that change on their own (entra's Volatile
	// list), which diff otherwise ignores.
	KeepVolatile bool
	// KeepBefore, when set, keeps on each hard-deleted change of a kind it accepts the
	// object decoded whole from the first state, for Change.TakeBefore. Other changes'
	// objects are not decoded whole.
	KeepBefore func(entra.Kind) bool
	// KeepChangedMembers, when set, keeps on each modified change of a kind it accepts
	// the first state's value of every top-level member it reports changed (when both
	// versions split into members), for Change.BeforeMember.
	KeepChangedMembers func(entra.Kind) bool
	// OmitLinkChanges leaves every change's Links empty: a holder whose links changed
	// is still reported (modified, when nothing else changed it), without the list of
	// what was added and removed. A restore plan matches the two states' links itself,
	// and listing half a million additions and removals was a tenth of what loading a
	// large incident allocated.
	OmitLinkChanges bool
}

type manifestRow struct {
	kind  string
	id    string
	hash  Hash
	blob  int64
	inBin bool
}

// Diff compares two states object by object: added, modified (each property as a JSON
// path with before and after, each link added or removed), soft-deleted (now in a
// recycle bin), hard-deleted (gone, not in a bin) and restored. Unchanged objects are
// recognised by hash without reading their JSON, so the cost follows the churn.
func Diff(ctx context.Context, from, to State, opts DiffOptions) (*DiffResult, error) {
	res := &DiffResult{From: refOf(from), To: refOf(to)}
	kinds := map[string]bool{}
	for _, k := range opts.Kinds {
		kinds[string(k)] = true
	}
	want := func(kind string) bool { return len(kinds) == 0 || kinds[kind] }

	var pairs []rowPair
	err := manifestPairs(ctx, from, to, func(ra, rb *manifestRow) error {
		kind := ""
		if ra != nil {
			kind = ra.kind
		} else {
			kind = rb.kind
		}
		if want(kind) {
			pairs = append(pairs, rowPair{ra, rb})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	changes, err := classifyAll(ctx, from, to, pairs, opts)
	if err != nil {
		return nil, err
	}
	return finishDiff(ctx, from, to, want, changes, res, nil, nil, opts)
}

// finishDiff completes a diff from its classified objects: links, audit evidence and
// the summary. a and b are the states loaded whole (DiffLoaded), nil to read the files.
func finishDiff(ctx context.Context, from, to State, want func(string) bool, changes []*Change, res *DiffResult, a, b *Loaded, opts DiffOptions) (*DiffResult, error) {
	byKey := map[string]int{} // kind\x00id -> index in res.Changes
	n := 0
	for _, ch := range changes {
		if ch != nil {
			n++
		}
	}
	res.Changes = slices.Grow(res.Changes, n)
	for _, ch := range changes {
		if ch != nil {
			byKey[string(ch.Kind)+"\x00"+ch.ID] = len(res.Changes)
			res.Changes = append(res.Changes, *ch)
		}
	}
	if err := diffLinks(ctx, from, to, want, byKey, res, a, b, opts.OmitLinkChanges); err != nil {
		return nil, err
	}
	if err := nameEnds(ctx, from, to, res); err != nil {
		return nil, err
	}
	if err := attachAudit(ctx, from, to, res); err != nil {
		return nil, err
	}
	for _, c := range res.Changes {
		switch c.Change {
		case Added:
			res.Summary.Added++
		case Modified:
			res.Summary.Modified++
		case SoftDeleted:
			res.Summary.SoftDeleted++
		case HardDeleted:
			res.Summary.HardDeleted++
		case Restored:
			res.Summary.Restored++
		}
	}
	return res, nil
}

// rowPair is an object's manifest rows in the two states (nil where absent).
type rowPair struct{ ra, rb *manifestRow }

// classifyAll classifies every pair, in parallel: reading and decoding the changed
// objects' versions is most of a large diff's cost, and each pair is independent.
// Pairs are taken in the order of the versions they read, a chunk at a time with one
// query per store for the chunk's versions: versions are stored in arrival order, so
// this reads the file's pages about once each instead of once per object. The result is
// in pair order, and the error is the one of the first failing pair, as if the pairs
// had been classified one after another.
func classifyAll(ctx context.Context, from, to State, pairs []rowPair, opts DiffOptions) ([]*Change, error) {
	out := make([]*Change, len(pairs))
	errs := make([]error, len(pairs))
	var order []int // the pairs that read versions, by the first version they read
	for i, p := range pairs {
		if fb, tb := blobsNeeded(p.ra, p.rb); fb != 0 || tb != 0 {
			order = append(order, i)
		} else {
			out[i], errs[i] = classify(ctx, from, to, p.ra, p.rb, opts, nil)
		}
	}
	first := func(i int) int64 {
		fb, tb := blobsNeeded(pairs[i].ra, pairs[i].rb)
		if fb != 0 {
			return fb
		}
		return tb
	}
	slices.SortFunc(order, func(x, y int) int { return cmp.Compare(first(x), first(y)) })

	const chunk = 128
	workers := max(1, min(runtime.GOMAXPROCS(0), 4, (len(order)+chunk-1)/chunk))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var fromIDs, toIDs []int64
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= len(order) {
					return
				}
				idx := order[lo:min(lo+chunk, len(order))]
				fromIDs, toIDs = fromIDs[:0], toIDs[:0]
				for _, i := range idx {
					fb, tb := blobsNeeded(pairs[i].ra, pairs[i].rb)
					if fb != 0 {
						fromIDs = append(fromIDs, fb)
					}
					if tb != 0 {
						toIDs = append(toIDs, tb)
					}
				}
				fromData := from.Store.blobsData(ctx, fromIDs)
				toData := to.Store.blobsData(ctx, toIDs)
				get := func(s *Store, blob int64) ([]byte, error) {
					data := toData
					if s == from.Store && s != to.Store {
						data = fromData
					} else if s == from.Store {
						// One file for both states: either batch may hold the version.
						if d, ok := fromData[blob]; ok {
							return s.resolvedBlob(ctx, blob, d, true)
						}
					}
					d, ok := data[blob]
					return s.resolvedBlob(ctx, blob, d, ok)
				}
				for _, i := range idx {
					out[i], errs[i] = classify(ctx, from, to, pairs[i].ra, pairs[i].rb, opts, get)
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// blobsNeeded returns the versions classify reads for a pair: from the first state
// (fromBlob) and from the second (toBlob), 0 for none. It follows classify's cases.
func blobsNeeded(ra, rb *manifestRow) (fromBlob, toBlob int64) {
	switch {
	case ra == nil && rb.inBin:
		return 0, 0
	case ra == nil:
		return 0, rb.blob
	case rb == nil:
		return ra.blob, 0
	case !ra.inBin && rb.inBin:
		return ra.blob, 0
	case ra.inBin && !rb.inBin:
		return ra.blob, rb.blob
	case ra.inBin && rb.inBin, ra.hash == rb.hash:
		return 0, 0
	default:
		return ra.blob, rb.blob
	}
}

// blobsData reads the stored forms of the given versions with one query; a version it
// leaves out (or all of them, should the query fail) is read again by itself, which
// reports what went wrong.
func (s *Store) blobsData(ctx context.Context, ids []int64) map[int64][]byte {
	out, _ := s.readBlobs(ctx, ids)
	return out
}

// readBlobs reads the stored forms of the given versions with one query. Versions not
// in the file are not in the map.
func (s *Store) readBlobs(ctx context.Context, ids []int64) (map[int64][]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	q := make([]byte, 0, 48+2*len(ids))
	q = append(q, "SELECT id, data FROM blobs WHERE id IN (?"...)
	args := make([]any, len(ids))
	for i, id := range ids {
		if i > 0 {
			q = append(q, ",?"...)
		}
		args[i] = id
	}
	q = append(q, ')')
	rows, err := s.r.QueryContext(ctx, string(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[int64][]byte, len(ids))
	for rows.Next() {
		var id int64
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return out, err
		}
		out[id] = data
	}
	return out, rows.Err()
}

// resolvedBlob is the JSON of a version whose stored form blobsData read (ok) or, when
// it did not, reads it as blobJSON does.
func (s *Store) resolvedBlob(ctx context.Context, blob int64, data []byte, ok bool) ([]byte, error) {
	if !ok {
		return s.blobJSON(ctx, blob)
	}
	doc, err := resolveBlob(ctx, s.r, &s.dicts, data)
	if err != nil {
		return nil, fmt.Errorf("object content unreadable in %s (run 'lifeline snapshots verify'): %w", s.path, err)
	}
	return doc, nil
}

// refOf names a side in reports. A live side's snapshot is a scratch capture whose id and
// label name nothing the operator has (its id would read as the file's snapshot of
// that number): only its time is given.
func refOf(s State) StateRef {
	if s.Live {
		return StateRef{TakenAt: s.Snapshot.TakenAt, Live: true}
	}
	return StateRef{Snapshot: s.Snapshot.ID, Label: s.Snapshot.Label, TakenAt: s.Snapshot.TakenAt}
}

func cmpRow(x, y *manifestRow) int {
	if c := strings.Compare(x.kind, y.kind); c != 0 {
		return c
	}
	return strings.Compare(x.id, y.id)
}

// manifestPairs calls fn, in (kind, id) order, with every object whose manifest row is
// not the same in both states: ra is its row in from (nil when absent), rb its row in to.
// Two snapshots of one file share the row of every object that did not change between
// them (the manifest is stored as validity intervals), so SQLite itself skips those and
// only the churn reaches Go; states in different files are read whole, both at once.
func manifestPairs(ctx context.Context, from, to State, fn func(ra, rb *manifestRow) error) error {
	if from.Store == to.Store {
		rows, err := from.Store.manifestDelta(ctx, from.Snapshot.ID, to.Snapshot.ID)
		if err != nil {
			return err
		}
		for i := 0; i < len(rows); {
			var ra, rb *manifestRow
			r := &rows[i]
			i++
			if r.inA {
				ra = &r.manifestRow
			} else {
				rb = &r.manifestRow
			}
			if i < len(rows) && rows[i].inA != r.inA && cmpRow(&rows[i].manifestRow, &r.manifestRow) == 0 {
				if rows[i].inA {
					ra = &rows[i].manifestRow
				} else {
					rb = &rows[i].manifestRow
				}
				i++
			}
			if err := fn(ra, rb); err != nil {
				return err
			}
		}
		return nil
	}
	var b []manifestRow
	var errB error
	done := make(chan struct{})
	go func() {
		defer close(done)
		b, errB = to.Store.manifest(ctx, to.Snapshot.ID)
	}()
	a, err := from.Store.manifest(ctx, from.Snapshot.ID)
	<-done
	if err != nil {
		return err
	}
	if errB != nil {
		return errB
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var ra, rb *manifestRow
		switch {
		case j >= len(b) || (i < len(a) && cmpRow(&a[i], &b[j]) < 0):
			ra = &a[i]
			i++
		case i >= len(a) || cmpRow(&a[i], &b[j]) > 0:
			rb = &b[j]
			j++
		default:
			ra, rb = &a[i], &b[j]
			i++
			j++
			if ra.hash == rb.hash && ra.inBin == rb.inBin {
				continue // unchanged: classify would say so without reading anything
			}
		}
		if err := fn(ra, rb); err != nil {
			return err
		}
	}
	return nil
}

// kindCache hands out one string per kind name read from a result set, so that a
// manifest of a million rows holds a dozen kind strings rather than a million.
type kindCache struct{ last string }

func (k *kindCache) get(b []byte) string {
	if string(b) != k.last {
		k.last = string(b)
	}
	return k.last
}

// manifest reads a snapshot's (kind, id, hash, in_bin) rows in key order, without the
// objects' JSON.
func (s *Store) manifest(ctx context.Context, snap int64) ([]manifestRow, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT kind, id, hash, blob, in_bin FROM objects WHERE "+inSnapshot+" ORDER BY kind, id", snap)
	if err != nil {
		return nil, fmt.Errorf("cannot read snapshot %d: %w", snap, err)
	}
	defer rows.Close()
	var out []manifestRow
	var kinds kindCache
	var kind, hash sql.RawBytes
	for rows.Next() {
		var r manifestRow
		var inBin int
		if err := rows.Scan(&kind, &r.id, &hash, &r.blob, &inBin); err != nil {
			return nil, err
		}
		r.kind = kinds.get(kind)
		copy(r.hash[:], hash)
		r.inBin = inBin == 1
		out = append(out, r)
	}
	return out, rows.Err()
}

// deltaRow is a manifest row that is in exactly one of two snapshots.
type deltaRow struct {
	manifestRow
	inA bool // in the first snapshot (else in the second)
}

// manifestDelta reads, in key order, the manifest rows of the file that are in snapshot
// a or in snapshot b but not in both: the objects that differ between them. An object
// that changed has one row on each side, next to each other.
func (s *Store) manifestDelta(ctx context.Context, a, b int64) ([]deltaRow, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT kind, id, hash, blob, in_bin, "+inSnapshotA+" FROM objects WHERE ("+inSnapshotA+") != ("+inSnapshotB+") ORDER BY kind, id", a, b)
	if err != nil {
		return nil, fmt.Errorf("cannot read snapshots %d and %d: %w", a, b, err)
	}
	defer rows.Close()
	var out []deltaRow
	var kinds kindCache
	var kind, hash sql.RawBytes
	for rows.Next() {
		var r deltaRow
		var inBin, inA int
		if err := rows.Scan(&kind, &r.id, &hash, &r.blob, &inBin, &inA); err != nil {
			return nil, err
		}
		r.kind = kinds.get(kind)
		copy(r.hash[:], hash)
		r.inBin = inBin == 1
		r.inA = inA == 1
		out = append(out, r)
	}
	return out, rows.Err()
}

// inSnapshotA and inSnapshotB are inSnapshot for the first and second of two snapshot
// parameters.
const (
	inSnapshotA = "(first_snap <= ?1 AND (last_snap IS NULL OR last_snap >= ?1))"
	inSnapshotB = "(first_snap <= ?2 AND (last_snap IS NULL OR last_snap >= ?2))"
)

// blobJSON reads a version's JSON.
func (s *Store) blobJSON(ctx context.Context, blob int64) ([]byte, error) {
	var data []byte
	if err := s.r.QueryRowContext(ctx, "SELECT data FROM blobs WHERE id = ?", blob).Scan(&data); err != nil {
		return nil, fmt.Errorf("object content missing from %s (run 'lifeline snapshots verify'): %w", s.path, err)
	}
	doc, err := resolveBlob(ctx, s.r, &s.dicts, data)
	if err != nil {
		return nil, fmt.Errorf("object content unreadable in %s (run 'lifeline snapshots verify'): %w", s.path, err)
	}
	return doc, nil
}

func decodeObject(data []byte) (map[string]any, error) {
	if m, ok := decodeFast(data); ok {
		return m, nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// classify classifies one pair, reading versions' JSON with get (Store.blobJSON when
// nil).
func classify(ctx context.Context, from, to State, ra, rb *manifestRow, opts DiffOptions, get func(*Store, int64) ([]byte, error)) (*Change, error) {
	if get == nil {
		get = func(s *Store, blob int64) ([]byte, error) { return s.blobJSON(ctx, blob) }
	}
	var class string
	switch {
	case ra == nil && rb.inBin:
		return nil, nil // created and deleted between the two states: nothing to restore
	case ra == nil:
		class = Added
	case rb == nil && ra.inBin:
		class = HardDeleted // purged from the bin
	case rb == nil:
		class = HardDeleted
	case !ra.inBin && rb.inBin:
		class = SoftDeleted
	case ra.inBin && !rb.inBin:
		class = Restored
	case ra.inBin && rb.inBin:
		return nil, nil
	case ra.hash == rb.hash:
		return nil, nil
	default:
		class = Modified
	}
	row := ra
	side := from
	if row == nil {
		row, side = rb, to
	}
	data, err := get(side.Store, row.blob)
	if err != nil {
		return nil, err
	}
	kind := entra.Kind(row.kind)
	ch := &Change{Kind: kind, ID: row.id, Change: class, Properties: []PropertyChange{}, Links: []LinkChange{}}
	if class == Modified || class == Restored {
		after, err := get(to.Store, rb.blob)
		if err != nil {
			return nil, err
		}
		ignore := map[string]bool{"deletedDateTime": true, "@odata.type": false}
		if !opts.KeepVolatile {
			if spec, ok := entra.Lookup(kind); ok {
				for _, p := range spec.VolatileProperties() {
					ignore[p] = true
				}
			}
		}
		var keep func(name string, before any)
		if class == Modified && opts.KeepChangedMembers != nil && opts.KeepChangedMembers(kind) {
			keep = func(name string, before any) { ch.beforeMembers = append(ch.beforeMembers, keptMember{name, before}) }
		}
		ch.Properties, ch.DisplayName, err = diffObjects(kind, data, after, ignore, ch.Properties, keep)
		if err != nil {
			return nil, err
		}
		if class == Modified && len(ch.Properties) == 0 {
			// Only ignored properties changed; links are compared separately and may
			// still bring the object back as modified.
			return nil, nil
		}
		return ch, nil
	}
	// A restore plan recreates what is gone from the whole object: it is decoded
	// whole for it. Otherwise only the members that name the object are.
	keepWhole := class == HardDeleted && opts.KeepBefore != nil && opts.KeepBefore(kind)
	var buf [64]Member
	if !keepWhole {
		if ms, ok := SplitMembers(data, buf[:0]); ok {
			ch.DisplayName = ms.DisplayName(kind)
			return ch, nil
		}
	}
	obj, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	ch.DisplayName = entra.DisplayName(kind, obj)
	if keepWhole {
		ch.before = obj
	}
	return ch, nil
}

// diffObjects is diffTop of two versions of an object, given as JSON, and the name of
// the second: members whose bytes are equal are equal and are not decoded; the others
// are decoded and diffed as diffTop would. keep, when not nil, is given each member
// that has changes and its first value decoded, when the objects split into members.
func diffObjects(kind entra.Kind, a, b []byte, ignore map[string]bool, out []PropertyChange, keep func(name string, before any)) ([]PropertyChange, string, error) {
	var abuf, bbuf [64]Member
	am, aok := SplitMembers(a, abuf[:0])
	bm, bok := SplitMembers(b, bbuf[:0])
	if !aok || !bok {
		x, err := decodeObject(a)
		if err != nil {
			return nil, "", err
		}
		y, err := decodeObject(b)
		if err != nil {
			return nil, "", err
		}
		return diffTop(x, y, ignore, out), entra.DisplayName(kind, y), nil
	}
	i, j := 0, 0
	for i < len(am) || j < len(bm) {
		var key string
		var av, bv []byte
		switch {
		case j >= len(bm) || (i < len(am) && am[i].Key < bm[j].Key):
			key, av = am[i].Key, am[i].Value
			i++
		case i >= len(am) || bm[j].Key < am[i].Key:
			key, bv = bm[j].Key, bm[j].Value
			j++
		default:
			key, av, bv = am[i].Key, am[i].Value, bm[j].Value
			i++
			j++
			if bytes.Equal(av, bv) {
				continue
			}
		}
		if ignore[key] {
			continue
		}
		x, err := DecodeMember(av)
		if err != nil {
			return nil, "", err
		}
		y, err := DecodeMember(bv)
		if err != nil {
			return nil, "", err
		}
		if sameScalar(x, y) {
			continue
		}
		n := len(out)
		if out = diffValues(key, x, y, out); keep != nil && len(out) > n {
			keep(key, x)
		}
	}
	return out, bm.DisplayName(kind), nil
}

// DecodeMember decodes a member's value as Members.Value does; nil (an absent member)
// is JSON null, as a map lookup gives.
func DecodeMember(raw []byte) (any, error) {
	if raw == nil {
		return nil, nil
	}
	return DecodeValue(raw)
}

// diffTop is diffValues of two decoded objects less their ignored top-level members:
// what deleting those members from both and diffing would give, leaving both as they
// are.
func diffTop(a, b map[string]any, ignore map[string]bool, out []PropertyChange) []PropertyChange {
	// The union of the keys without a set: a's, then b's that a lacks.
	keys := make([]string, 0, len(a)+4)
	for k := range a {
		if !ignore[k] {
			keys = append(keys, k)
		}
	}
	for k := range b {
		if _, inA := a[k]; !inA && !ignore[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		av, bv := a[k], b[k]
		if sameScalar(av, bv) {
			continue // what diffValues finds for them: nothing
		}
		out = diffValues(k, av, bv, out)
	}
	return out
}

// sameScalar reports whether a and b are the same string, number, bool or both null:
// values diffValues finds no change in, checked without its encoding comparison (most
// members of a changed object did not change).
func sameScalar(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	return false
}

// diffValues appends the differences between a and b under path.
func diffValues(path string, a, b any, out []PropertyChange) []PropertyChange {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out = diffValues(p, am[k], bm[k], out)
		}
		return out
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && scalars(as) && scalars(bs) {
		// Lists of plain values (ids in a CA condition, phone numbers): one change per
		// member added or removed, so a removed break-glass exclusion reads as one line.
		inA := map[string]int{}
		for _, v := range as {
			inA[scalarKey(v)]++
		}
		inB := map[string]int{}
		for _, v := range bs {
			inB[scalarKey(v)]++
		}
		for _, v := range as {
			if k := scalarKey(v); inB[k] == 0 {
				out = append(out, PropertyChange{Path: path + "[]", Before: v, After: nil})
			} else {
				inB[k]--
			}
		}
		for _, v := range bs {
			if k := scalarKey(v); inA[k] == 0 {
				out = append(out, PropertyChange{Path: path + "[]", Before: nil, After: v})
			} else {
				inA[k]--
			}
		}
		return out
	}
	if !EqualJSON(a, b) {
		out = append(out, PropertyChange{Path: path, Before: a, After: b})
	}
	return out
}

func scalars(vs []any) bool {
	for _, v := range vs {
		switch v.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

// scalarKey returns a key of a plain value that two values share exactly when their
// JSON encodings are equal. Decoded strings are valid UTF-8, on which encoding is
// one-to-one, so a string is its own key (marked apart from encoded values, none of
// which starts with 's').
func scalarKey(v any) string {
	if s, ok := v.(string); ok {
		return "s" + s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// EqualJSON reports whether a and b encode to the same JSON. Values as decoding gives
// them are compared directly (maps encode with sorted keys, so equal maps are those with
// the same keys and equal values); anything else is compared by its encoding.
func EqualJSON(a, b any) bool {
	switch x := a.(type) {
	case nil:
		if b == nil {
			return true
		}
	case string:
		if y, ok := b.(string); ok && utf8.ValidString(x) && utf8.ValidString(y) {
			return x == y
		}
	case json.Number:
		if y, ok := b.(json.Number); ok && x == y {
			return true // unequal numbers may still encode alike ("1" is never "1.0", but let encoding say)
		}
	case bool:
		if y, ok := b.(bool); ok {
			return x == y
		}
	case map[string]any:
		if y, ok := b.(map[string]any); ok && x != nil && y != nil {
			if len(x) != len(y) {
				return false
			}
			for k, xv := range x {
				yv, ok := y[k]
				if !ok || !EqualJSON(xv, yv) {
					return false
				}
			}
			return true
		}
	case []any:
		if y, ok := b.([]any); ok && x != nil && y != nil {
			if len(x) != len(y) {
				return false
			}
			for i := range x {
				if !EqualJSON(x[i], y[i]) {
					return false
				}
			}
			return true
		}
	}
	xb, _ := json.Marshal(a)
	yb, _ := json.Marshal(b)
	return bytes.Equal(xb, yb)
}

// holderLinkChanges is one holder's added and removed links, in link order.
type holderLinkChanges struct {
	key   string // kind\x00id
	links []LinkChange
}

// diffLinks merges both states' links and attaches additions and removals to the holder's
// change (creating a "modified" change for a holder that is otherwise unchanged), or
// only reports the holder when omit is set (DiffOptions.OmitLinkChanges).
// a and b are the states loaded whole (DiffLoaded, two files), nil to read the files.
func diffLinks(ctx context.Context, from, to State, want func(string) bool, byKey map[string]int, res *DiffResult, a, b *Loaded, omit bool) error {
	var holders []holderLinkChanges
	var err error
	if a != nil && b != nil {
		holders, err = mergeLinkChanges(a.Links, b.Links, want, !omit)
	} else if from.Store == to.Store {
		holders, err = linkChangesDelta(ctx, from.Store, from.Snapshot.ID, to.Snapshot.ID, want)
	} else {
		holders, err = linkChangesMerge(ctx, from, to, want)
	}
	if err != nil {
		return err
	}
	classified := len(res.Changes)
	for _, h := range holders {
		key, links := h.key, h.links
		if omit {
			links = []LinkChange{}
		}
		if idx, ok := byKey[key]; ok {
			c := &res.Changes[idx]
			if c.Change == HardDeleted || c.Change == SoftDeleted || c.Change == Added {
				// The holder's own change explains its links; keep them for the restore
				// plan (hard-deleted groups must get their members back).
				c.Links = append(c.Links, links...)
				continue
			}
			c.Links = append(c.Links, links...)
			continue
		}
		kind, id, _ := strings.Cut(key, "\x00")
		name := id
		if b != nil {
			if o, ok := b.object(entra.Kind(kind), id); ok {
				// Only its name is needed: the members that make it are decoded.
				var buf [64]Member
				if ms, err := o.Members(buf[:0]); err == nil {
					name = ms.DisplayName(entra.Kind(kind))
				}
			}
		} else if o, err := to.Store.Object(ctx, to.Snapshot.ID, entra.Kind(kind), id); err == nil {
			if m, err := o.Decode(); err == nil {
				name = entra.DisplayName(entra.Kind(kind), m)
			}
		}
		byKey[key] = len(res.Changes)
		res.Changes = append(res.Changes, Change{Kind: entra.Kind(kind), ID: id, DisplayName: name, Change: Modified, Properties: []PropertyChange{}, Links: links})
	}
	res.Changes = mergeSorted(res.Changes, classified)
	return nil
}

// mergeSorted returns changes in (kind, id) order, stably. The first n come in that
// order from the manifests, and the holders appended after them too: merging the two
// costs a copy of each, where sorting a hundred thousand large changes cost a second.
func mergeSorted(changes []Change, n int) []Change {
	compare := func(a, b *Change) int {
		return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.ID, b.ID))
	}
	sorted := func(cs []Change) bool {
		for i := 1; i < len(cs); i++ {
			if compare(&cs[i-1], &cs[i]) > 0 {
				return false
			}
		}
		return true
	}
	head, tail := changes[:n], changes[n:]
	if !sorted(head) || !sorted(tail) {
		slices.SortStableFunc(changes, func(a, b Change) int { return compare(&a, &b) })
		return changes
	}
	if len(tail) == 0 {
		return changes
	}
	out := make([]Change, 0, len(changes))
	i, j := 0, 0
	for i < len(head) && j < len(tail) {
		if compare(&tail[j], &head[i]) < 0 {
			out = append(out, tail[j])
			j++
		} else {
			out = append(out, head[i])
			i++
		}
	}
	out = append(out, head[i:]...)
	return append(out, tail[j:]...)
}

// linkChange returns the LinkChange of l, named by its relation.
func linkChange(l Link, change string) LinkChange {
	return linkChangeOf(l, entra.LinkRelation(l.Kind, l.Name), change)
}

// linkChangeOf is linkChange with the link's relation already known.
func linkChangeOf(l Link, relation, change string) LinkChange {
	return LinkChange{Relation: relation, TargetKind: string(l.ToKind), TargetID: l.To, Change: change}
}

// linkChangesMerge compares the links of states in two files: target numbers differ
// between files, so both sides are read whole (at the same time) and merged by value.
func linkChangesMerge(ctx context.Context, from, to State, want func(string) bool) ([]holderLinkChanges, error) {
	var lb []Link
	var errB error
	done := make(chan struct{})
	go func() {
		defer close(done)
		lb, errB = to.Store.linkRows(ctx, to.Snapshot.ID)
	}()
	la, err := from.Store.linkRows(ctx, from.Snapshot.ID)
	<-done
	if err != nil {
		return nil, err
	}
	if errB != nil {
		return nil, errB
	}
	return mergeLinkChanges(la, lb, want, true)
}

// mergeLinkChanges compares two states' links, each in key order, by value: each
// holder with changes, and with detail the links added and removed.
func mergeLinkChanges(la, lb []Link, want func(string) bool, detail bool) ([]holderLinkChanges, error) {
	i, j := 0, 0
	var out []holderLinkChanges
	// A holder's links come together, by name: the last holder, and the relation of
	// the last kind and link name, are kept rather than looked up (or joined into a
	// key) for each of hundreds of thousands of links.
	var lastFrom string
	var lastKind, relKind entra.Kind
	var relName, relation string
	for i < len(la) || j < len(lb) {
		var l Link
		var change string
		c := 0
		switch {
		case j >= len(lb):
			c = -1
		case i >= len(la):
			c = 1
		default:
			c = CompareLinks(la[i], lb[j])
		}
		switch {
		case c < 0:
			l, change = la[i], "removed"
			i++
		case c > 0:
			l, change = lb[j], "added"
			j++
		default:
			i++
			j++
			continue
		}
		if !want(string(l.Kind)) {
			continue
		}
		// Links come in holder order, so a holder's changes are contiguous.
		if len(out) == 0 || l.Kind != lastKind || l.From != lastFrom {
			out = append(out, holderLinkChanges{key: string(l.Kind) + "\x00" + l.From})
			lastKind, lastFrom = l.Kind, l.From
		}
		if !detail {
			continue // the holder is all that is asked for
		}
		if relation == "" || l.Kind != relKind || l.Name != relName {
			relKind, relName, relation = l.Kind, l.Name, entra.LinkRelation(l.Kind, l.Name)
		}
		h := &out[len(out)-1]
		h.links = append(h.links, linkChangeOf(l, relation, change))
	}
	return out, nil
}

// holderDelta is what changed of one holder's links between two snapshots of a file:
// the link sets (by name) of the rows that are in only one of them.
type holderDelta struct {
	kind, id string
	a, b     map[string][]int64
}

// linkChangesDelta compares the links of two snapshots of one file. A holder's link
// rows (and the manifest row holding its single-valued links) that did not change are
// shared by both snapshots, so only the rows in exactly one of them are read, and their
// sets are compared as target numbers, which one file gives each target once.
func linkChangesDelta(ctx context.Context, s *Store, a, b int64, want func(string) bool) ([]holderLinkChanges, error) {
	names, err := s.nameTable(ctx)
	if err != nil {
		return nil, err
	}
	holders := map[string]*holderDelta{}
	var keys []string
	holder := func(kind, id string) *holderDelta {
		key := kind + "\x00" + id
		h := holders[key]
		if h == nil {
			h = &holderDelta{kind: kind, id: id, a: map[string][]int64{}, b: map[string][]int64{}}
			holders[key] = h
			keys = append(keys, key)
		}
		return h
	}
	add := func(h *holderDelta, inA bool, name string, ns []int64) {
		side := h.b
		if inA {
			side = h.a
		}
		if prev, ok := side[name]; ok {
			// One name in two rows of a side: keep the set ascending and free of
			// duplicates, as the merge below expects.
			ns = append(append([]int64(nil), prev...), ns...)
			slices.Sort(ns)
			ns = slices.Compact(ns)
		}
		side[name] = ns
	}
	wrap := func(err error) error {
		return fmt.Errorf("cannot read links of snapshots %d and %d: %w", a, b, err)
	}

	refRows, err := s.r.QueryContext(ctx, "SELECT kind, id, refs, "+inSnapshotA+" FROM objects WHERE ("+inSnapshotA+") != ("+inSnapshotB+") AND refs IS NOT NULL", a, b)
	if err != nil {
		return nil, wrap(err)
	}
	defer refRows.Close()
	var kinds kindCache
	var kind, refs sql.RawBytes
	for refRows.Next() {
		var id string
		var inA int
		if err := refRows.Scan(&kind, &id, &refs, &inA); err != nil {
			return nil, wrap(err)
		}
		k := kinds.get(kind)
		if !want(k) {
			continue
		}
		sets, err := readRefs(refs)
		if err != nil {
			return nil, wrap(fmt.Errorf("%s %s: its stored links are damaged: %w", k, id, err))
		}
		h := holder(k, id)
		for _, set := range sets {
			add(h, inA == 1, set.name, set.ns)
		}
	}
	if err := refRows.Err(); err != nil {
		return nil, wrap(err)
	}
	setRows, err := s.r.QueryContext(ctx, "SELECT kind, from_id, name, targets, "+inSnapshotA+" FROM links WHERE ("+inSnapshotA+") != ("+inSnapshotB+")", a, b)
	if err != nil {
		return nil, wrap(err)
	}
	defer setRows.Close()
	var targets sql.RawBytes
	for setRows.Next() {
		var id, name string
		var inA int
		if err := setRows.Scan(&kind, &id, &name, &targets, &inA); err != nil {
			return nil, wrap(err)
		}
		k := kinds.get(kind)
		if !want(k) {
			continue
		}
		ns, rest, err := readSet(targets, nil)
		if err == nil && len(rest) > 0 {
			err = errBadLinkSet
		}
		if err != nil {
			return nil, wrap(fmt.Errorf("%s %s: its stored %s are damaged: %w", k, id, name, err))
		}
		add(holder(k, id), inA == 1, name, ns)
	}
	if err := setRows.Err(); err != nil {
		return nil, wrap(err)
	}

	slices.SortFunc(keys, func(x, y string) int {
		hx, hy := holders[x], holders[y]
		return cmp.Or(strings.Compare(hx.kind, hy.kind), strings.Compare(hx.id, hy.id))
	})
	type diffLink struct {
		l       Link
		removed bool
	}
	var out []holderLinkChanges
	var diffs []diffLink
	for _, key := range keys {
		h := holders[key]
		diffs = diffs[:0]
		emit := func(name string, n int64, removed bool) error {
			t, ok := names.get(n)
			if !ok {
				return wrap(fmt.Errorf("%s %s: a stored %s link points at target number %d, which the file does not name", h.kind, h.id, name, n))
			}
			diffs = append(diffs, diffLink{Link{Kind: entra.Kind(h.kind), From: h.id, Name: name, To: t.id, ToKind: t.kind}, removed})
			return nil
		}
		for name, x := range h.a {
			y := h.b[name]
			i, j := 0, 0
			for i < len(x) || j < len(y) {
				switch {
				case j >= len(y) || (i < len(x) && x[i] < y[j]):
					if err := emit(name, x[i], true); err != nil {
						return nil, err
					}
					i++
				case i >= len(x) || y[j] < x[i]:
					if err := emit(name, y[j], false); err != nil {
						return nil, err
					}
					j++
				default:
					i++
					j++
				}
			}
		}
		for name, y := range h.b {
			if _, ok := h.a[name]; ok {
				continue
			}
			for _, n := range y {
				if err := emit(name, n, false); err != nil {
					return nil, err
				}
			}
		}
		if len(diffs) == 0 {
			continue
		}
		slices.SortFunc(diffs, func(x, y diffLink) int {
			return cmp.Or(strings.Compare(x.l.Name, y.l.Name), strings.Compare(string(x.l.ToKind), string(y.l.ToKind)), strings.Compare(x.l.To, y.l.To))
		})
		hc := holderLinkChanges{key: key}
		for i := 0; i < len(diffs); i++ {
			d := diffs[i]
			if i+1 < len(diffs) && diffs[i+1].l == d.l && diffs[i+1].removed != d.removed {
				i++ // two numbers naming one target: the link is on both sides
				continue
			}
			change := "added"
			if d.removed {
				change = "removed"
			}
			hc.links = append(hc.links, linkChange(d.l, change))
		}
		if len(hc.links) > 0 {
			out = append(out, hc)
		}
	}
	return out, nil
}

// CompareLinks orders links by key (kind, from, name, to kind, to), the order Links
// and Loaded give them in. Fields are tested for equality first, which is all a link
// both states share needs: merging two states' half a million links compares most
// fields of most pairs whole.
func CompareLinks(a, b Link) int {
	switch {
	case a.Kind != b.Kind:
		return strings.Compare(string(a.Kind), string(b.Kind))
	case a.From != b.From:
		return strings.Compare(a.From, b.From)
	case a.Name != b.Name:
		return strings.Compare(a.Name, b.Name)
	case a.ToKind != b.ToKind:
		return strings.Compare(string(a.ToKind), string(b.ToKind))
	}
	return strings.Compare(a.To, b.To)
}

func (s *Store) linkRows(ctx context.Context, snap int64) ([]Link, error) {
	var out []Link
	err := s.Links(ctx, snap, func(l Link) error { out = append(out, l); return nil })
	return out, err
}

// attachAudit matches each change with the newest audit entry, captured in either store
// between the two states, whose target is the object and whose activity fits the change.
func attachAudit(ctx context.Context, from, to State, res *DiffResult) error {
	since := from.Snapshot.TakenAt.Add(-time.Minute)
	byTarget := map[string][]auditHit{}
	collect := func(s *Store) error {
		return s.Audit(ctx, since, time.Time{}, func(e AuditEntry) error {
			rec, err := ParseAudit(e.JSON)
			if err != nil {
				return nil // an unreadable entry is no evidence
			}
			for _, t := range rec.Targets {
				byTarget[t] = append(byTarget[t], auditHit{at: e.At, activity: rec.Activity, actor: rec.Actor, id: e.ID})
			}
			return nil
		})
	}
	if err := collect(from.Store); err != nil {
		return err
	}
	if to.Store != from.Store {
		if err := collect(to.Store); err != nil {
			return err
		}
	}
	for i := range res.Changes {
		c := &res.Changes[i]
		var best *auditHit
		for k := range byTarget[c.ID] {
			h := &byTarget[c.ID][k]
			if !to.Live && h.at.After(to.Snapshot.TakenAt.Add(time.Minute)) {
				continue
			}
			if !ActivityFits(c.Change, h.activity) {
				continue
			}
			if best == nil || h.at.After(best.at) || (h.at.Equal(best.at) && h.id > best.id) {
				best = h
			}
		}
		if best == nil {
			c.Evidence = "no audit entry explains this change"
			continue
		}
		actor, at, activity := best.actor, best.at, best.activity
		c.Actor, c.At, c.Activity = &actor, &at, &activity
		c.Evidence = "audit"
	}
	return nil
}

type auditHit struct {
	at       time.Time
	activity string
	actor    string
	id       string
}

// ActivityFits says whether an audit activity can explain a change class (Added,
// SoftDeleted, ...). Activity names vary in casing between the portal and the API, so
// matching ignores case.
func ActivityFits(class, activity string) bool {
	a := strings.ToLower(activity)
	switch class {
	case Added:
		return strings.HasPrefix(a, "add ") || strings.HasPrefix(a, "create ")
	case SoftDeleted:
		return strings.HasPrefix(a, "delete ") || strings.HasPrefix(a, "remove service principal")
	case HardDeleted:
		return strings.HasPrefix(a, "hard delete") || strings.HasPrefix(a, "delete ") || strings.HasPrefix(a, "remove ")
	case Restored:
		return strings.HasPrefix(a, "restore ")
	default:
		return strings.HasPrefix(a, "update ") || strings.HasPrefix(a, "add ") || strings.HasPrefix(a, "remove ") ||
			strings.HasPrefix(a, "set ") || strings.HasPrefix(a, "disable ") || strings.HasPrefix(a, "enable ")
	}
}

// FormatValue renders a changed value compactly for human output.
func FormatValue(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(t)
	default:
		b, _ := json.Marshal(t)
		return string(b)
	}
}
