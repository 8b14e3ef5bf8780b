package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
)

// VerifyOptions narrow a verify.
type VerifyOptions struct {
	// Scope limits the report to these objects (all when empty). An id may be given in
	// the snapshot's id space or, for a recreated object, as its new id.
	Scope []graphx.NodeID
}

// Unrestorable is one thing a restore could not bring back, and why.
type Unrestorable struct {
	Kind string `json:"kind"`
	// ID is the object's id in the snapshot.
	ID string `json:"id"`
	// NewID is its id now, when it was recreated.
	NewID       string `json:"new_id,omitempty"`
	DisplayName string `json:"display_name"`
	// What names what is missing: "password (a generated one was issued)", "client
	// secrets and certificates", "read-only property securityIdentifier".
	What string `json:"what"`
}

// VerifyReport says whether the live tenant is back to a snapshot.
type VerifyReport struct {
	Snapshot int64 `json:"snapshot"`
	// Clean is true only when every restorable property and link matches.
	Clean   bool              `json:"clean"`
	Summary snapshots.Summary `json:"summary"`
	// Differences are what still differs, in the snapshot's ids; objects added since the
	// snapshot count too (the operator left them in place).
	Differences []snapshots.Change `json:"differences"`
	// Unrestorable are what no restore can bring back; they are not differences.
	Unrestorable []Unrestorable `json:"unrestorable"`
	// Scope are the objects compared when the verify was scoped (absent: the whole
	// tenant): a clean scoped verify says nothing of the rest.
	Scope []graphx.NodeID `json:"scope,omitempty"`
}

// LeftInPlace counts the differences no plan changes: objects added since the
// snapshot, of kinds a plan leaves in place with a warning (groups, applications,
// named locations...). Deleting a group or an application someone made is a call for
// a person, not a restore.
func (r *VerifyReport) LeftInPlace() int {
	n := 0
	for _, c := range r.Differences {
		if leftInPlace(c) {
			n++
		}
	}
	return n
}

// Settled reports whether nothing remains that a plan would change: the tenant
// matches, or differs only by objects LeftInPlace counts. Apply's verify step passes
// when settled, saying what was left: failing it would send the operator to build
// a new plan that leaves the same objects again.
func (r *VerifyReport) Settled() bool {
	return r.Clean || r.LeftInPlace() == len(r.Differences)
}

// leftInPlaceKinds names the kinds LeftInPlace counts, with how many of each, in the
// order of entra's kinds: "2 group, 1 application".
func (r *VerifyReport) leftInPlaceKinds() string {
	count := map[entra.Kind]int{}
	for _, c := range r.Differences {
		if leftInPlace(c) {
			count[c.Kind]++
		}
	}
	var parts []string
	for _, k := range entra.Kinds() {
		if n := count[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	return strings.Join(parts, ", ")
}

func leftInPlace(c snapshots.Change) bool {
	return c.Change == snapshots.Added && !removableKinds[c.Kind]
}

// recreated is one object of the target that a restore recreated under a new id.
type recreated struct {
	kind     entra.Kind
	old, new string
	obj      map[string]any
}

// Verify diffs live against target through the ledger (old id -> new id of every
// recreated object): a recreated object matches its original by ledger, not by id, and
// references to it are compared after mapping. Clean is true only when every restorable
// property and link matches; what cannot be restored is listed in Unrestorable and not
// counted as a difference.
//
// The live state is read in the snapshot's ids by writing a mapped copy of it (every id,
// every reference in its JSON, appIds too, every link end) as a new snapshot, then
// diffing the target against that copy: so verify compares exactly as diff and plan
// do. The copy goes into live's own store when live is a scratch capture (Live set and a
// store of its own), where unchanged objects cost nothing, and into a temporary file
// otherwise, so that a snapshot file the operator keeps never gains a made-up snapshot.
func Verify(ctx context.Context, target, live snapshots.State, ledger graphx.Ledger, opts VerifyOptions) (*VerifyReport, error) {
	if target.Snapshot.TenantID != live.Snapshot.TenantID {
		return nil, fmt.Errorf("the snapshot is of tenant %s but the live state is of tenant %s", target.Snapshot.TenantID, live.Snapshot.TenantID)
	}
	for _, n := range opts.Scope {
		if _, err := entra.ParseKind(string(n.Kind)); err != nil {
			return nil, fmt.Errorf("scope: %w", err)
		}
	}
	inv, rec, err := resolveLedger(ctx, target, ledger)
	if err != nil {
		return nil, err
	}
	scope, err := verifyScope(ctx, target, live, inv, opts.Scope)
	if err != nil {
		return nil, err
	}
	mapped := live
	var twins []snapshots.Object
	if len(inv.IDs)+len(inv.AppIDs) > 0 {
		var cleanup func()
		mapped, cleanup, twins, err = mapLive(ctx, target, live, inv, rec)
		if err != nil {
			return nil, err
		}
		defer cleanup()
	}
	diff, err := snapshots.Diff(ctx, target, mapped, snapshots.DiffOptions{})
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{Snapshot: target.Snapshot.ID, Differences: []snapshots.Change{}, Unrestorable: []Unrestorable{}, Scope: opts.Scope}
	seen := map[Unrestorable]bool{}
	lost := func(u Unrestorable) {
		if r, ok := rec[u.ID]; ok && string(r.kind) == u.Kind {
			u.NewID = r.new
		}
		if !seen[u] {
			seen[u] = true
			rep.Unrestorable = append(rep.Unrestorable, u)
		}
	}
	parts, err := scopeWithParts(ctx, target, scope)
	if err != nil {
		return nil, err
	}
	inScope := func(kind entra.Kind, id string) bool {
		return len(scope) == 0 || scope[graphx.NodeID{Kind: kind, ID: id}] || parts[strings.ToLower(id)]
	}
	gone := map[string]bool{} // recreated objects missing from live again
	for _, c := range diff.Changes {
		if c.Change == snapshots.HardDeleted {
			if r, ok := rec[c.ID]; ok && r.kind == c.Kind {
				gone[c.ID] = true
			}
		}
		keep, err := classifyChange(ctx, target, &c, rec, lost)
		if err != nil {
			return nil, err
		}
		if !keep {
			continue
		}
		if !inScope(c.Kind, c.ID) && len(scope) > 0 {
			// What a scoped plan brings back with a scoped object (partOfTarget) is
			// compared with it: a principal's assignments and grants, an application's
			// service principal and that one's own.
			held := mapped
			if c.Change != snapshots.Added {
				held = target
			}
			refs, err := heldPartRefs(ctx, held, c.Kind, c.ID)
			if err != nil {
				return nil, err
			}
			if slices.ContainsFunc(refs, func(id string) bool { return parts[strings.ToLower(id)] }) {
				rep.Differences = append(rep.Differences, c)
				continue
			}
		}
		if !inScope(c.Kind, c.ID) {
			// Out of scope, but its links to a scoped object (a scoped user's
			// memberships) are about that object.
			var links []snapshots.LinkChange
			for _, l := range c.Links {
				if inScope(entra.Kind(l.TargetKind), l.TargetID) {
					links = append(links, l)
				}
			}
			if len(links) == 0 {
				continue
			}
			c.Properties, c.Links = []snapshots.PropertyChange{}, links
		}
		rep.Differences = append(rep.Differences, c)
	}
	for _, o := range twins {
		if inScope(o.Kind, o.ID) {
			rep.Differences = append(rep.Differences, twinChange(o, rec[o.ID].new))
		}
	}
	// Unrestorable entries were collected for every object; keep the scoped ones.
	kept := rep.Unrestorable[:0]
	for _, u := range rep.Unrestorable {
		if inScope(entra.Kind(u.Kind), u.ID) {
			kept = append(kept, u)
		}
	}
	rep.Unrestorable = kept
	for _, old := range sortedKeys(rec) {
		r := rec[old]
		if gone[old] || !inScope(r.kind, old) {
			continue
		}
		name := entra.DisplayName(r.kind, r.obj)
		switch r.kind {
		case entra.KindUser:
			lost(Unrestorable{Kind: string(r.kind), ID: old, NewID: r.new, DisplayName: name, What: "password (a generated one was issued)"})
		case entra.KindApplication, entra.KindServicePrincipal:
			if nonEmpty(r.obj["passwordCredentials"]) || nonEmpty(r.obj["keyCredentials"]) {
				lost(Unrestorable{Kind: string(r.kind), ID: old, NewID: r.new, DisplayName: name, What: "client secrets and certificates"})
			}
		}
	}
	sort.Slice(rep.Unrestorable, func(i, j int) bool {
		a, b := rep.Unrestorable[i], rep.Unrestorable[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.DisplayName != b.DisplayName {
			return a.DisplayName < b.DisplayName
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.What < b.What
	})
	for _, c := range rep.Differences {
		switch c.Change {
		case snapshots.Added:
			rep.Summary.Added++
		case snapshots.Modified:
			rep.Summary.Modified++
		case snapshots.SoftDeleted:
			rep.Summary.SoftDeleted++
		case snapshots.HardDeleted:
			rep.Summary.HardDeleted++
		case snapshots.Restored:
			rep.Summary.Restored++
		}
	}
	rep.Clean = len(rep.Differences) == 0
	return rep, nil
}

// Recreated are the objects of a snapshot that an apply recreated under new ids (the
// file's ledger), so that a by-id diff can say that a "hard-deleted" object and an
// "added" one are the same. The zero value knows none.
type Recreated struct {
	now, was map[string]string // old id -> the id it has now, and back
}

// RecreatedByRestores returns the objects of target that an apply recreated.
func RecreatedByRestores(ctx context.Context, target snapshots.State) (Recreated, error) {
	_, rec, err := ledgerOf(ctx, target)
	if err != nil {
		return Recreated{}, err
	}
	now := make(map[string]string, len(rec))
	for old, o := range rec {
		now[old] = o.new
	}
	return NewRecreated(now), nil
}

// NewRecreated is Recreated from old id -> the id the object has now.
func NewRecreated(now map[string]string) Recreated {
	r := Recreated{now: now, was: make(map[string]string, len(now))}
	for old, n := range now {
		r.was[n] = old
	}
	return r
}

// Twin is the other id of c's pair: the copy's id for a hard-deleted original, the
// original's id for an added copy, "" for any other change.
func (r Recreated) Twin(c snapshots.Change) string {
	switch c.Change {
	case snapshots.HardDeleted:
		return r.now[c.ID]
	case snapshots.Added:
		return r.was[c.ID]
	}
	return ""
}

// Count is how many of a by-id diff's hard-deleted objects have their copy among its
// added ones: one object each, not two changes.
func (r Recreated) Count(res *snapshots.DiffResult) int {
	if res == nil || len(r.now) == 0 {
		return 0
	}
	added := map[string]bool{}
	for _, c := range res.Changes {
		if c.Change == snapshots.Added {
			added[c.ID] = true
		}
	}
	n := 0
	for _, c := range res.Changes {
		if now := r.Twin(c); now != "" && c.Change == snapshots.HardDeleted && added[now] {
			n++
		}
	}
	return n
}

// ledgerOf loads the ledger of target's tenant from target's file and keeps what
// applies to target (resolveLedger).
func ledgerOf(ctx context.Context, target snapshots.State) (graphx.Ledger, map[string]recreated, error) {
	ledger, err := LoadLedger(ctx, target.Store, target.Snapshot.TenantID)
	if err != nil {
		return graphx.Ledger{}, nil, err
	}
	return resolveLedger(ctx, target, ledger)
}

// resolveLedger keeps the ledger entries that matter to this target: an object the
// target holds, recreated (perhaps more than once: old -> new -> newer) under an id the
// target does not hold. A ledger spans every restore ever run on the tenant, and an
// entry from before the target was taken must not map the target's own objects away.
// It returns the live -> target map and the recreated objects by their target id.
func resolveLedger(ctx context.Context, target snapshots.State, ledger graphx.Ledger) (graphx.Ledger, map[string]recreated, error) {
	inv := graphx.NewLedger()
	rec := map[string]recreated{}
	for _, old := range sortedKeys(ledger.IDs) {
		o, ok, err := findObject(ctx, target, old)
		if err != nil {
			return inv, nil, err
		}
		if !ok {
			continue
		}
		cur := follow(ledger.IDs, old)
		if cur == old {
			continue
		}
		if _, err := target.Store.Object(ctx, target.Snapshot.ID, o.Kind, cur); err == nil {
			continue // the target already knows the object by its new id
		} else if !errors.Is(err, snapshots.ErrNoObject) {
			return inv, nil, err
		}
		obj, err := o.Decode()
		if err != nil {
			return inv, nil, err
		}
		inv.IDs[cur] = old
		rec[old] = recreated{kind: o.Kind, old: old, new: cur, obj: obj}
		if o.Kind == entra.KindApplication {
			if appID, _ := obj["appId"].(string); appID != "" {
				if now := follow(ledger.AppIDs, appID); now != appID {
					inv.AppIDs[now] = appID
				}
			}
		}
	}
	return inv, rec, nil
}

// heldPartRefs is partRefs of an object held in s (none for one s does not hold).
func heldPartRefs(ctx context.Context, s snapshots.State, kind entra.Kind, id string) ([]string, error) {
	if !partKinds[kind] {
		return nil, nil
	}
	o, err := s.Store.Object(ctx, s.Snapshot.ID, kind, id)
	if errors.Is(err, snapshots.ErrNoObject) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return partRefs(kind, o.JSON), nil
}

// scopeWithParts is the lower-cased ids of the scoped objects, the appIds of the scoped
// applications, and the ids of the service principals of those in target: what the
// assignments, grants and service principals heldPartRefs reads may name.
func scopeWithParts(ctx context.Context, target snapshots.State, scope map[graphx.NodeID]bool) (map[string]bool, error) {
	out := map[string]bool{}
	apps := false
	for n := range scope {
		out[strings.ToLower(n.ID)] = true
		if n.Kind != entra.KindApplication {
			continue
		}
		o, err := target.Store.Object(ctx, target.Snapshot.ID, n.Kind, n.ID)
		if errors.Is(err, snapshots.ErrNoObject) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var v struct {
			AppID string `json:"appId"`
		}
		_ = json.Unmarshal(o.JSON, &v)
		if v.AppID != "" {
			out[strings.ToLower(v.AppID)], apps = true, true
		}
	}
	if !apps {
		return out, nil
	}
	err := target.Store.Objects(ctx, target.Snapshot.ID, entra.KindServicePrincipal, func(o snapshots.Object) error {
		var v struct {
			AppID string `json:"appId"`
		}
		_ = json.Unmarshal(o.JSON, &v)
		if out[strings.ToLower(v.AppID)] {
			out[strings.ToLower(o.ID)] = true
		}
		return nil
	})
	return out, err
}

// findObject looks an object up by id alone. The ledger does not say the kind, and the
// store's key starts with it: a seek per kind (users first, where most ledgers are)
// costs far less than a scan of the snapshot.
func findObject(ctx context.Context, s snapshots.State, id string) (snapshots.Object, bool, error) {
	for _, k := range entra.Kinds() {
		o, err := s.Store.Object(ctx, s.Snapshot.ID, k, id)
		if err == nil {
			return o, true, nil
		}
		if !errors.Is(err, snapshots.ErrNoObject) {
			return o, false, err
		}
	}
	return snapshots.Object{}, false, nil
}

// follow walks a chain of replacements to its end; a cycle stops where it started.
func follow(m map[string]string, id string) string {
	cur := id
	for range len(m) {
		next, ok := m[cur]
		if !ok || next == "" || next == id {
			break
		}
		cur = next
	}
	return cur
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// errScopeUnknown is the one sentence plan and verify give for a scoped object that
// is on neither side, in the form the operator typed it.
func errScopeUnknown(n graphx.NodeID, snapshot int64) error {
	return fmt.Errorf("--scope kind=%s,id=%s is neither in snapshot %d nor in the live tenant: check the id ('lifeline graph' finds an object by its name)", n.Kind, n.ID, snapshot)
}

// verifyScope resolves the scope to target ids, refusing objects neither side holds.
func verifyScope(ctx context.Context, target, live snapshots.State, inv graphx.Ledger, scope []graphx.NodeID) (map[graphx.NodeID]bool, error) {
	out := map[graphx.NodeID]bool{}
	for _, n := range scope {
		kind, _ := entra.ParseKind(string(n.Kind))
		id := n.ID
		if old, ok := inv.IDs[id]; ok {
			id = old
		}
		_, errT := target.Store.Object(ctx, target.Snapshot.ID, kind, id)
		_, errL := live.Store.Object(ctx, live.Snapshot.ID, kind, n.ID)
		for _, err := range []error{errT, errL} {
			if err != nil && !errors.Is(err, snapshots.ErrNoObject) {
				return nil, err
			}
		}
		if errT != nil && errL != nil {
			return nil, errScopeUnknown(n, target.Snapshot.ID)
		}
		out[graphx.NodeID{Kind: kind, ID: id}] = true
	}
	return out, nil
}

// kindsWithReferences are the kinds whose JSON may name another object; the rest are
// copied as they are, which keeps mapping a large tenant (mostly users) cheap.
var kindsWithReferences = func() map[entra.Kind]bool {
	m := map[entra.Kind]bool{entra.KindApplication: true} // its own appId
	for _, s := range entra.Specs() {
		if len(s.References) > 0 {
			m[s.Kind] = true
		}
	}
	return m
}()

// mapLive writes live as a new snapshot in the target's ids and returns it with the
// function that removes a temporary store.
//
// twins are the live objects a copy claimed the id of that are not in a bin: an original
// live beside the copy a restore made of it (an assignment its principal's restore
// brought back, say). The mapped state cannot hold both; the caller says so.
func mapLive(ctx context.Context, target, live snapshots.State, inv graphx.Ledger, rec map[string]recreated) (_ snapshots.State, _ func(), twins []snapshots.Object, _ error) {
	store, cleanup := live.Store, func() {}
	if !live.Live || live.Store == target.Store {
		dir, err := os.MkdirTemp("", "lifeline-verify-")
		if err != nil {
			return snapshots.State{}, nil, nil, err
		}
		store, err = snapshots.Open(ctx, filepath.Join(dir, "mapped.db"), snapshots.OpenOptions{Create: true})
		if err != nil {
			os.RemoveAll(dir)
			return snapshots.State{}, nil, nil, err
		}
		cleanup = func() { store.Close(); os.RemoveAll(dir) }
	}
	w, err := store.Begin(ctx, snapshots.SnapshotMeta{TenantID: live.Snapshot.TenantID, GraphURL: live.Snapshot.GraphURL,
		TakenAt: live.Snapshot.TakenAt, Label: "live in the ids of snapshot " + fmt.Sprint(target.Snapshot.ID)})
	if err != nil {
		cleanup()
		return snapshots.State{}, nil, nil, err
	}
	fail := func(err error) (snapshots.State, func(), []snapshots.Object, error) {
		w.Rollback() // before the store it writes to is closed
		cleanup()
		return snapshots.State{}, nil, nil, err
	}
	stale := graphx.NewLedger()
	for old, r := range rec {
		stale.IDs[old] = old + " (deleted; the recreated object is " + r.new + ")"
	}
	for now, old := range inv.AppIDs {
		stale.AppIDs[old] = old + " (deleted; the recreated application has appId " + now + ")"
	}
	// An object still in live under its old id (say, in the bin while its recreated
	// copy is live) gives way to the copy: it is put last, and only when no copy
	// claimed its id.
	claimed := map[string]bool{}
	var shadowed []snapshots.Object
	err = live.Store.Objects(ctx, live.Snapshot.ID, "", func(o snapshots.Object) error {
		if _, ok := rec[o.ID]; ok {
			shadowed = append(shadowed, o)
			return nil
		}
		old, self := inv.IDs[o.ID]
		if !self && !kindsWithReferences[o.Kind] {
			return w.PutObject(ctx, o.Kind, o.ID, o.JSON, o.InBin)
		}
		m, err := o.Decode()
		if err != nil {
			return err
		}
		// A reference still naming a recreated object's old id points at nothing (or at
		// the deleted original): it is marked first, so that it differs from the
		// snapshot, and only then are new ids mapped back to old ones.
		n := graphx.Rewrite(o.Kind, m, stale)
		n += graphx.Rewrite(o.Kind, m, inv)
		id := o.ID
		if self {
			id, m["id"] = old, old
			claimed[old] = true
			n++
		}
		if o.Kind == entra.KindApplication {
			if appID, _ := m["appId"].(string); inv.AppIDs[appID] != "" {
				m["appId"] = inv.AppIDs[appID]
				n++
			}
		}
		raw := []byte(o.JSON)
		if n > 0 {
			if raw, err = json.Marshal(m); err != nil {
				return err
			}
		}
		return w.PutObject(ctx, o.Kind, id, raw, o.InBin)
	})
	if err != nil {
		return fail(fmt.Errorf("reading the live tenant in the snapshot's ids: %w", err))
	}
	for _, o := range shadowed {
		if claimed[o.ID] {
			if !o.InBin {
				twins = append(twins, o)
			}
			continue
		}
		if err := w.PutObject(ctx, o.Kind, o.ID, o.JSON, o.InBin); err != nil {
			return fail(err)
		}
	}
	end := func(id string) (string, bool) {
		if old, ok := inv.IDs[id]; ok {
			return old, true
		}
		return id, !claimed[id] // a shadowed object's own links go with it
	}
	err = live.Store.Links(ctx, live.Snapshot.ID, func(l snapshots.Link) error {
		from, ok1 := end(l.From)
		to, ok2 := end(l.To)
		if !ok1 || !ok2 {
			return nil
		}
		l.From, l.To = from, to
		return w.PutLink(ctx, l)
	})
	if err != nil {
		return fail(err)
	}
	snap, err := w.Commit(ctx)
	if err != nil {
		return fail(err)
	}
	return snapshots.State{Store: store, Snapshot: snap, Live: live.Live}, cleanup, twins, nil
}

// twinChange is the difference an original live beside its copy makes: an object the
// snapshot has once, live twice.
func twinChange(o snapshots.Object, copyID string) snapshots.Change {
	name := o.ID
	if m, err := o.Decode(); err == nil {
		name = entra.DisplayName(o.Kind, m)
	}
	return snapshots.Change{Kind: o.Kind, ID: o.ID, DisplayName: name, Change: snapshots.Added,
		Properties: []snapshots.PropertyChange{}, Links: []snapshots.LinkChange{},
		Evidence: fmt.Sprintf("live beside %s, the copy a restore recreated in its place: the snapshot has it once; delete the one that should not be there (lifeline ledger lists the copies)", copyID)}
}

// classifyChange moves what cannot be restored out of a change, reporting it through
// lost, and says whether anything restorable still differs.
func classifyChange(ctx context.Context, target snapshots.State, c *snapshots.Change, rec map[string]recreated, lost func(Unrestorable)) (bool, error) {
	spec, known := entra.Lookup(c.Kind)
	u := Unrestorable{Kind: string(c.Kind), ID: c.ID, DisplayName: c.DisplayName}
	switch c.Change {
	case snapshots.HardDeleted:
		o, err := target.Store.Object(ctx, target.Snapshot.ID, c.Kind, c.ID)
		if err != nil {
			return false, err
		}
		if o.InBin {
			return false, nil // already deleted when the snapshot was taken
		}
		if m, err := o.Decode(); err == nil && c.Kind == entra.KindRoleDefinition {
			if b, _ := m["isBuiltIn"].(bool); b {
				u.What = "built-in role definition (Graph cannot recreate it)"
				lost(u)
				return false, nil
			}
		}
		return true, nil
	case snapshots.Modified:
	default:
		return true, nil
	}
	if !known || spec.ReadOnlyKind {
		u.What = "settings lifeline reads but never writes"
		lost(u)
		return false, nil
	}
	_, isNew := rec[c.ID]
	props := c.Properties[:0:0]
	for _, pc := range c.Properties {
		if isNew && stampedOnCreate[topProperty(pc.Path)] {
			continue // a new object is new: saying so for each one buries what matters
		}
		if !isNew && topProperty(pc.Path) == "passwordCredentials" && len(secretsChanged(pc).added) > 0 {
			props = append(props, pc) // a secret the incident added: a plan takes it away
			continue
		}
		if what := unrestorableProperty(spec, topProperty(pc.Path), isNew); what != "" {
			u.What = what
			lost(u)
			continue
		}
		props = append(props, pc)
	}
	c.Properties = props
	links := c.Links[:0:0]
	dynamic := -1
	for _, l := range c.Links {
		if l.Relation == "member" || l.Relation == "au-member" {
			if dynamic < 0 {
				dynamic = 0
				if o, err := target.Store.Object(ctx, target.Snapshot.ID, c.Kind, c.ID); err == nil {
					if m, err := o.Decode(); err == nil && dynamicMembership(m) {
						dynamic = 1
					}
				}
			}
			if dynamic == 1 {
				u.What = "dynamic members (its membership rule decides them; a restore cannot add or remove them)"
				lost(u)
				continue
			}
		}
		links = append(links, l)
	}
	c.Links = links
	return len(c.Properties)+len(c.Links) > 0, nil
}

// stampedOnCreate are the properties Graph sets on every object it creates: a recreated
// object always differs there, and listing them would hide the passwords and secrets
// that someone has to act on.
var stampedOnCreate = map[string]bool{"createdDateTime": true}

// unrestorableProperty says why a changed top-level property cannot be put back ("" when
// it can): a recreated object can only be given what Graph accepts on create, a
// surviving one what it accepts on update.
func unrestorableProperty(spec *entra.Spec, top string, recreated bool) string {
	prop, ok := spec.Property(top)
	switch {
	case !ok:
		return "property " + top + " (not one lifeline restores)"
	case recreated && (spec.Kind == entra.KindApplication || spec.Kind == entra.KindServicePrincipal) &&
		(top == "passwordCredentials" || top == "keyCredentials"):
		return "client secrets and certificates"
	case prop.Secret:
		return "secret property " + top
	case recreated && !spec.Writable(top, true):
		return prop.Access.String() + " property " + top
	case !recreated && !spec.Writable(top, false):
		return prop.Access.String() + " property " + top
	}
	return ""
}

// dynamicMembership reports whether a group's or administrative unit's members are
// computed by a membership rule.
func dynamicMembership(obj map[string]any) bool {
	if types, ok := obj["groupTypes"].([]any); ok {
		for _, t := range types {
			if s, _ := t.(string); strings.EqualFold(s, "DynamicMembership") {
				return true
			}
		}
	}
	mt, _ := obj["membershipType"].(string)
	return strings.EqualFold(mt, "Dynamic")
}

func nonEmpty(v any) bool {
	a, ok := v.([]any)
	return ok && len(a) > 0
}
