package snapshots

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

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
	// Actor and At come from the directory audit log; both are null when no audit
	// entry explains the change (Evidence then says so).
	Actor    *string    `json:"actor"`
	At       *time.Time `json:"at"`
	Activity string     `json:"activity,omitempty"`
	Evidence string     `json:"evidence"`
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
}

type manifestRow struct {
	kind  string
	id    string
	hash  []byte
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

	a, err := from.Store.manifest(ctx, from.Snapshot.ID)
	if err != nil {
		return nil, err
	}
	b, err := to.Store.manifest(ctx, to.Snapshot.ID)
	if err != nil {
		return nil, err
	}
	byKey := map[string]int{} // kind\x00id -> index in res.Changes
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
		}
		kind := ""
		if ra != nil {
			kind = ra.kind
		} else {
			kind = rb.kind
		}
		if !want(kind) {
			continue
		}
		ch, err := classify(ctx, from, to, ra, rb, opts)
		if err != nil {
			return nil, err
		}
		if ch != nil {
			byKey[string(ch.Kind)+"\x00"+ch.ID] = len(res.Changes)
			res.Changes = append(res.Changes, *ch)
		}
	}
	if err := diffLinks(ctx, from, to, want, byKey, res); err != nil {
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

func refOf(s State) StateRef {
	return StateRef{Snapshot: s.Snapshot.ID, Label: s.Snapshot.Label, TakenAt: s.Snapshot.TakenAt, Live: s.Live}
}

func cmpRow(x, y *manifestRow) int {
	if c := strings.Compare(x.kind, y.kind); c != 0 {
		return c
	}
	return strings.Compare(x.id, y.id)
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
	for rows.Next() {
		var r manifestRow
		var inBin int
		if err := rows.Scan(&r.kind, &r.id, &r.hash, &r.blob, &inBin); err != nil {
			return nil, err
		}
		r.inBin = inBin == 1
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *Store) blob(ctx context.Context, blob int64) (map[string]any, error) {
	var data []byte
	if err := s.r.QueryRowContext(ctx, "SELECT data FROM blobs WHERE id = ?", blob).Scan(&data); err != nil {
		return nil, fmt.Errorf("object content missing from %s (run 'lifeline snapshots verify'): %w", s.path, err)
	}
	doc, err := resolveBlob(ctx, s.r, data)
	if err != nil {
		return nil, fmt.Errorf("object content unreadable in %s (run 'lifeline snapshots verify'): %w", s.path, err)
	}
	return decodeObject(doc)
}

func decodeObject(data []byte) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

func classify(ctx context.Context, from, to State, ra, rb *manifestRow, opts DiffOptions) (*Change, error) {
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
	case bytes.Equal(ra.hash, rb.hash):
		return nil, nil
	default:
		class = Modified
	}
	row := ra
	side := from
	if row == nil {
		row, side = rb, to
	}
	obj, err := side.Store.blob(ctx, row.blob)
	if err != nil {
		return nil, err
	}
	kind := entra.Kind(row.kind)
	ch := &Change{Kind: kind, ID: row.id, DisplayName: entra.DisplayName(kind, obj), Change: class, Properties: []PropertyChange{}, Links: []LinkChange{}}
	if class == Modified || class == Restored {
		after, err := to.Store.blob(ctx, rb.blob)
		if err != nil {
			return nil, err
		}
		ch.DisplayName = entra.DisplayName(kind, after)
		ignore := map[string]bool{"deletedDateTime": true, "@odata.type": false}
		if !opts.KeepVolatile {
			if spec, ok := entra.Lookup(kind); ok {
				for _, p := range spec.VolatileProperties() {
					ignore[p] = true
				}
			}
		}
		for k := range ignore {
			if ignore[k] {
				delete(obj, k)
				delete(after, k)
			}
		}
		ch.Properties = diffValues("", obj, after, ch.Properties)
		if class == Modified && len(ch.Properties) == 0 {
			// Only ignored properties changed; links are compared separately and may
			// still bring the object back as modified.
			return nil, nil
		}
	}
	return ch, nil
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
	if !equalJSON(a, b) {
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

func scalarKey(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// diffLinks merges both states' links and attaches additions and removals to the holder's
// change (creating a "modified" change for a holder that is otherwise unchanged).
func diffLinks(ctx context.Context, from, to State, want func(string) bool, byKey map[string]int, res *DiffResult) error {
	la, err := from.Store.linkRows(ctx, from.Snapshot.ID)
	if err != nil {
		return err
	}
	lb, err := to.Store.linkRows(ctx, to.Snapshot.ID)
	if err != nil {
		return err
	}
	i, j := 0, 0
	var pendingHolders []string
	holderChanges := map[string][]LinkChange{}
	for i < len(la) || j < len(lb) {
		var l Link
		var change string
		switch {
		case j >= len(lb) || (i < len(la) && linkLess(la[i], lb[j])):
			l, change = la[i], "removed"
			i++
		case i >= len(la) || linkLess(lb[j], la[i]):
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
		relation := l.Name
		if spec, ok := entra.Lookup(l.Kind); ok {
			if ls, ok := spec.Link(l.Name); ok {
				relation = ls.Relation
			}
		}
		key := string(l.Kind) + "\x00" + l.From
		if _, seen := holderChanges[key]; !seen {
			pendingHolders = append(pendingHolders, key)
		}
		holderChanges[key] = append(holderChanges[key], LinkChange{Relation: relation, TargetKind: string(l.ToKind), TargetID: l.To, Change: change})
	}
	for _, key := range pendingHolders {
		links := holderChanges[key]
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
		if o, err := to.Store.Object(ctx, to.Snapshot.ID, entra.Kind(kind), id); err == nil {
			if m, err := o.Decode(); err == nil {
				name = entra.DisplayName(entra.Kind(kind), m)
			}
		}
		byKey[key] = len(res.Changes)
		res.Changes = append(res.Changes, Change{Kind: entra.Kind(kind), ID: id, DisplayName: name, Change: Modified, Properties: []PropertyChange{}, Links: links})
	}
	sort.SliceStable(res.Changes, func(i, j int) bool {
		a, b := res.Changes[i], res.Changes[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.ID < b.ID
	})
	return nil
}

func linkLess(a, b Link) bool {
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	if a.From != b.From {
		return a.From < b.From
	}
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	if a.ToKind != b.ToKind {
		return a.ToKind < b.ToKind
	}
	return a.To < b.To
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
		actor, at := best.actor, best.at
		c.Actor, c.At, c.Activity = &actor, &at, best.activity
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
