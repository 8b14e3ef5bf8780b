package engine

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
)

// PlanFormat is the "format" value of a plan file.
const PlanFormat = "lifeline-plan/1"

// Stage names, in the order a plan runs them.
const (
	StageRestoreFromBin    = "restore-from-bin"
	StageRecreate          = "recreate"
	StageRelink            = "relink"
	StageRollback          = "rollback"
	StageRemoveAdditions   = "remove-additions"
	StageConditionalAccess = "conditional-access"
	StageVerify            = "verify"
)

// Step actions.
const (
	ActionRestore      = "restore"
	ActionRecreate     = "recreate"
	ActionAddLink      = "add-link"
	ActionRollback     = "rollback"
	ActionRemoveLink   = "remove-link"
	ActionRemoveObject = "remove-object"
	ActionReportOnly   = "report-only"
	ActionLockoutCheck = "lockout-check"
	ActionEnforce      = "enforce"
	ActionVerify       = "verify"
)

// CAReportOnly is the Conditional Access state a restored policy goes in with.
const CAReportOnly = "enabledForReportingButNotEnforced"

// GeneratedPassword is the placeholder apply replaces with a generated password; the
// password itself is never in a plan.
const GeneratedPassword = "{{generated}}"

// Request is one Graph request a step makes. Paths are relative to the version root
// and may hold ledger placeholders ({{id:OLD}}, {{appId:OLD}}).
type Request struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body,omitempty"`
	Beta   bool            `json:"beta,omitempty"`
}

// Step is one unit of a plan: one object (or one link of it) and the requests that put
// it back.
type Step struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	ObjectID    string `json:"object_id"`
	DisplayName string `json:"display_name"`
	Action      string `json:"action"`
	// Link and Target name the link of a link step (members -> user/ID).
	Link       string `json:"link,omitempty"`
	TargetKind string `json:"target_kind,omitempty"`
	TargetID   string `json:"target_id,omitempty"`
	// Paths are the properties a rollback step puts back.
	Paths []string `json:"paths,omitempty"`
	// IfMissing marks a link that a restore from the bin usually brings back: apply
	// reads the holder's links first and adds it only when it is still missing (an
	// incident may have removed it before deleting the object).
	IfMissing bool      `json:"if_missing,omitempty"`
	DependsOn []string  `json:"depends_on"`
	Requests  []Request `json:"requests"`
}

// Stage is a named group of steps.
type Stage struct {
	Name  string `json:"name"`
	Steps []Step `json:"steps"`
}

// PlanSummary counts what a plan does.
type PlanSummary struct {
	RestoreFromBin  int  `json:"restore_from_bin"`
	Recreate        int  `json:"recreate"`
	Links           int  `json:"links"`
	LinksToCheck    int  `json:"links_to_check,omitempty"`
	Properties      int  `json:"properties"`
	Removals        int  `json:"removals"`
	CAPolicies      int  `json:"ca_policies"`
	WithoutRemovals bool `json:"without_removals,omitempty"`
}

// Plan is a restore plan: what to do, in which order, to bring the live tenant back to a
// snapshot.
type Plan struct {
	Format          string      `json:"format"`
	TenantID        string      `json:"tenant_id"`
	Snapshot        int64       `json:"snapshot"`
	BuiltAt         time.Time   `json:"built_at"`
	LiveFingerprint string      `json:"live_fingerprint"`
	Summary         PlanSummary `json:"summary"`
	Stages          []Stage     `json:"stages"`
	Warnings        []string    `json:"warnings"`
	// Scope is the objects a scoped plan was built for (absent for a whole restore):
	// its verify step checks those.
	Scope []graphx.NodeID `json:"scope,omitempty"`
	// DB is the snapshot file the plan was built from: apply journals its steps and
	// ledger there. Absolute; set by whoever writes the plan file.
	DB string `json:"db,omitempty"`
	// Journal names the apply runs DB's journal held when the plan was built (a digest
	// of their plan hashes): the ledger the plan read came from those runs. Apply
	// refuses a file whose journal holds other runs, such as a copy taken before a
	// restore, whose ledger lacks the ids that restore gave the objects it recreated.
	// Absent from plans written before it existed.
	Journal string `json:"journal,omitempty"`
	// Seal is the SHA-256 of the plan file's bytes before it (WritePlanJSON), which
	// ReadPlan checks: a plan edited after it was written is refused, so what apply
	// sends is what 'lifeline plan' (or the console) planned.
	Seal string `json:"seal,omitempty"`
}

// PlanOptions shape a plan.
type PlanOptions struct {
	// Scope limits the plan to these objects and the steps they need (everything when empty).
	Scope []graphx.NodeID
	// WithoutRemovals leaves out the remove-additions stage.
	WithoutRemovals bool
	// Now is the plan's built_at (time.Now when zero).
	Now time.Time
}

// StepID returns a step's deterministic id: the first 12 hex digits of the SHA-256 of
// what the step is about, so the same diff always gives the same ids.
func StepID(stage, action string, kind entra.Kind, objectID string, extra ...string) string {
	// One buffer and one hash call: a large plan has hundreds of thousands of steps.
	var buf [256]byte
	b := buf[:0]
	for _, s := range [...]string{stage, action, string(kind), objectID} {
		b = append(append(b, s...), 0)
	}
	for _, s := range extra {
		b = append(append(b, s...), 0)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// IDPlaceholder is how a plan names the new id of a recreated object.
func IDPlaceholder(old string) string { return "{{id:" + old + "}}" }

// AppIDPlaceholder is how a plan names the new appId of a recreated application.
func AppIDPlaceholder(old string) string { return "{{appId:" + old + "}}" }

// directoryObjectsURL is the @odata.id prefix of $ref bodies.
const directoryObjectsURL = "https://graph.microsoft.com/v1.0/directoryObjects/"

// recreatable kinds go through the recreate stage; assignments through relink.
var recreatable = map[entra.Kind]bool{
	entra.KindUser: true, entra.KindGroup: true, entra.KindApplication: true, entra.KindServicePrincipal: true,
	entra.KindNamedLocation: true, entra.KindAdministrativeUnit: true, entra.KindRoleDefinition: true,
}

// nullsOnCreate are the kinds whose create bodies carry the snapshot's nulls.
var nullsOnCreate = map[entra.Kind]bool{entra.KindApplication: true, entra.KindServicePrincipal: true}

var assignmentKinds = map[entra.Kind]bool{
	entra.KindRoleAssignment: true, entra.KindAppRoleAssignment: true, entra.KindOAuth2PermissionGrant: true,
}

var removableKinds = map[entra.Kind]bool{
	entra.KindUser: true, entra.KindRoleAssignment: true, entra.KindAppRoleAssignment: true, entra.KindOAuth2PermissionGrant: true,
	// An added policy may be the lockout itself (block everyone); deleted, it waits
	// in the Conditional Access bin, restorable, and the lockout check after the
	// restore no longer counts it.
	entra.KindConditionalAccessPolicy: true,
	// So may an added named location: marked trusted over every address, it exempts
	// every sign-in from a policy that excludes AllTrusted without changing the
	// policy. It waits in the same bin.
	entra.KindNamedLocation: true,
}

var kindRank = func() map[entra.Kind]int {
	m := map[entra.Kind]int{}
	for i, k := range entra.Kinds() {
		m[k] = i
	}
	return m
}()

type side struct {
	// objects are the side's objects as loaded, and index each one's position: a map
	// of small values is several times cheaper to look up in than one of objects.
	objects []snapshots.Object
	index   objectIndex
	// links are the side's links in key order, each once, and inOther[i] whether
	// links[i] is a link of the other side too: found by merging the two sorted lists
	// (matchLinks), cheaper than hashing hundreds of thousands of five-string keys.
	links   []snapshots.Link
	inOther []bool
	// ready holds objects decoded ahead of use by prefetch, each handed out once.
	ready map[graphx.NodeID]decoded
	// dangling are the links whose other end the side does not hold, and linkTo[i] the
	// position in objects of links[i]'s other end (-1 when the side lacks it): both
	// found by resolveLinks, for the target only.
	dangling []graphx.Dangling
	linkTo   []int32
}

// newSide is the side of objects (which it keeps, and never changes) and links.
func newSide(objects []snapshots.Object, links []snapshots.Link) *side {
	sd := &side{objects: objects, index: newObjectIndex(len(objects)), links: sortedLinks(links)}
	for i, o := range objects {
		sd.index.add(graphx.NodeID{Kind: o.Kind, ID: o.ID}, int32(i))
	}
	return sd
}

// object returns the side's object n.
func (s *side) object(n graphx.NodeID) (snapshots.Object, bool) {
	i, ok := s.index.get(n)
	if !ok {
		return snapshots.Object{}, false
	}
	return s.objects[i], true
}

// has reports whether the side holds n, in a bin or not.
func (s *side) has(n graphx.NodeID) bool {
	_, ok := s.index.get(n)
	return ok
}

// present reports whether the side has the object outside any bin.
func (s *side) present(n graphx.NodeID) bool {
	i, ok := s.index.get(n)
	return ok && !s.objects[i].InBin
}

func (s *side) decode(n graphx.NodeID) (map[string]any, error) {
	if d, ok := s.ready[n]; ok {
		delete(s.ready, n)
		return d.obj, d.err
	}
	o, ok := s.object(n)
	if !ok || o.JSON == nil {
		return nil, fmt.Errorf("%s is not in the snapshot", n)
	}
	return o.Decode()
}

// members returns the object split into its top-level members, in buf when it is
// large enough: the plan reads a few properties of most objects it touches, and
// decoding only those is several times cheaper than decoding the object. Each call
// decodes anew, so it only reads the side and may run in parallel.
func (s *side) members(n graphx.NodeID, buf snapshots.Members) (snapshots.Members, error) {
	o, ok := s.object(n)
	if !ok || o.JSON == nil {
		return nil, fmt.Errorf("%s is not in the snapshot", n)
	}
	return o.Members(buf)
}

// memberBuf is room for the members of a typical object, on the stack of whoever
// splits one.
type memberBuf [64]snapshots.Member

// planner holds the state of one BuildPlan call.
type planner struct {
	target, live *side
	graph        *graphx.Graph
	changes      map[graphx.NodeID]*snapshots.Change
	ledger       graphx.Ledger // old -> placeholder
	restored     map[graphx.NodeID]string
	created      map[graphx.NodeID]string
	// mu guards stages and warnings: the recreate stage's bodies, the relink stage and
	// the rollback stage are built at the same time, each adding its own steps and all
	// adding warnings.
	mu       sync.Mutex
	stages   map[string][]Step
	warnings []warning
	// What else those three write is each one's own while they run: dynamic is
	// relink's (dynamicMembers' cache), as is target.ready (side.decode); deferred is
	// the recreate bodies' (read once all three are done); candidates is rollback's.
	// Before them, restoreFromBin (p.restored) runs beside recreate (p.created, the
	// ledger and target.ready).
	dynamic  map[graphx.NodeID]bool
	deferred []deferredRefs
	// scope is the scoped plan's objects (nil for a whole restore), and ruleHolders,
	// relink's, the dynamic groups and units each scoped object belongs to by their
	// rule alone: no step adds such a membership, so narrow keeps the holder's own
	// recreate or restore, which brings the membership back.
	scope       map[graphx.NodeID]bool
	ruleHolders map[graphx.NodeID][]graphx.NodeID
	// back is usersBroughtBack's, once read.
	back map[string]broughtBack
	// candidates are survivorCandidates' set, gathered when the plan recreated
	// candidatesFor objects.
	candidates    map[graphx.NodeID]bool
	candidatesFor int
	// earlier maps an object an earlier restore recreated (by its target id) to the id
	// of that copy, from the ledger.
	earlier map[string]string
	// liveObject reads one live object's JSON from its file: the live side keeps the
	// JSON of few objects in memory, and a user made since is read only when its name
	// may collide with one the plan brings back.
	liveObject func(kind entra.Kind, id string) ([]byte, error)
	// replaced are the live role assignments relink replaces (replacedAssignments),
	// settled before relink and rollback start.
	replaced map[graphx.NodeID]bool
}

// warning is one thing the plan cannot do, about one object (or the whole plan when
// obj is zero).
type warning struct {
	obj  graphx.NodeID
	text string
}

func (p *planner) warn(obj graphx.NodeID, format string, args ...any) {
	p.addWarnings(warning{obj: obj, text: fmt.Sprintf(format, args...)})
}

// addWarnings adds warnings to the plan's. Their order does not matter: the plan
// sorts them (finalWarnings).
func (p *planner) addWarnings(ws ...warning) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.warnings = append(p.warnings, ws...)
}

// forgetStamped drops, from the changes of objects an earlier restore recreated (rec),
// the properties Graph stamps on a copy or never lets a restore write (createdDateTime,
// securityIdentifier, a recreated app's certificates), and a change left with nothing:
// verify does not count them, and a plan step for them would fail on every run, or tell
// the operator to redo by hand what apply already restored.
func forgetStamped(changes []snapshots.Change, rec map[string]recreated) []snapshots.Change {
	out := changes[:0]
	for _, c := range changes {
		spec, known := entra.Lookup(c.Kind)
		if _, copied := rec[c.ID]; copied && known && c.Change == snapshots.Modified {
			props := c.Properties[:0:0]
			for _, pc := range c.Properties {
				top := topProperty(pc.Path)
				if !stampedOnCreate[top] && unrestorableProperty(spec, top, true) == "" {
					props = append(props, pc)
				}
			}
			c.Properties = props
			if len(props) == 0 && len(c.Links) == 0 {
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// BuildPlan builds the plan that brings live back to target: target is the known-good
// snapshot, live a fresh capture of the same tenant.
//
// Objects an earlier apply recreated (the target file's ledger: old id -> new id) are
// read in the target's ids, as verify reads them: otherwise a second plan back to the
// same snapshot would take each live copy for an addition to remove and its original
// for a deletion to recreate again, duplicating what has no unique key and cutting the
// copies' assignments. The plan names such objects by their target ids, and apply sends
// their requests to the live ids through the same ledger.
func BuildPlan(ctx context.Context, target snapshots.State, live snapshots.State, opts PlanOptions) (*Plan, error) {
	if target.Snapshot.TenantID != live.Snapshot.TenantID {
		return nil, fmt.Errorf("the snapshot is of tenant %s but the live state is of tenant %s", target.Snapshot.TenantID, live.Snapshot.TenantID)
	}
	for _, n := range opts.Scope {
		if _, ok := entra.Lookup(n.Kind); !ok {
			_, err := entra.ParseKind(string(n.Kind))
			return nil, fmt.Errorf("scope: %w", err)
		}
	}
	// apply compares the fingerprint with a fresh capture: it is live's as read.
	fingerprint := live.Snapshot.RootHash
	inv, rec, err := ledgerOf(ctx, target)
	if err != nil {
		return nil, err
	}
	var twins []snapshots.Object
	if len(inv.IDs)+len(inv.AppIDs) > 0 {
		mapped, cleanup, tw, err := mapLive(ctx, target, live, inv, rec)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		live, twins = mapped, tw
		// A scope may name a recreated object by the id it has now.
		scope := make([]graphx.NodeID, len(opts.Scope))
		for i, n := range opts.Scope {
			if old, ok := inv.IDs[n.ID]; ok {
				n.ID = old
			}
			scope[i] = n
		}
		opts.Scope = scope
	}
	defer raiseGCPercent()()
	in := loadPlanInputs(ctx, target, live)
	if in.targetErr != nil {
		return nil, in.targetErr
	}
	p := &planner{graph: in.graph, changes: map[graphx.NodeID]*snapshots.Change{}, ledger: graphx.NewLedger(),
		restored: map[graphx.NodeID]string{}, created: map[graphx.NodeID]string{}, stages: map[string][]Step{},
		dynamic: map[graphx.NodeID]bool{}, earlier: make(map[string]string, len(rec)),
		liveObject: func(kind entra.Kind, id string) ([]byte, error) {
			o, err := live.Store.Object(ctx, live.Snapshot.ID, kind, id)
			return o.JSON, err
		}}
	for old, r := range rec {
		p.earlier[old] = r.new
	}
	if len(opts.Scope) > 0 {
		p.scope, p.ruleHolders = map[graphx.NodeID]bool{}, map[graphx.NodeID][]graphx.NodeID{}
		for _, n := range opts.Scope {
			p.scope[n] = true
		}
	}
	// Apply would send a step about such an original to its copy's id (the ledger):
	// only a person can tell which of the two goes.
	for _, o := range twins {
		p.warn(graphx.NodeID{Kind: o.Kind, ID: o.ID}, "%s %s is live beside %s, the copy a restore recreated in its place; the plan leaves both: delete the one that should not be there", o.Kind, o.ID, rec[o.ID].new)
	}
	p.target = in.target
	if !in.targetIntact {
		return nil, fmt.Errorf("snapshot %d in %s is damaged: its objects and links no longer hash to its root hash (a manifest row or a link was added, removed or altered in the file, or an object's content is missing), so nothing was planned; 'lifeline snapshots verify --db %s' lists the damage: restore the file from a copy",
			target.Snapshot.ID, target.Store.Path(), target.Store.Path())
	}
	if in.liveErr != nil {
		return nil, in.liveErr
	}
	p.live = in.live
	for _, n := range opts.Scope {
		if !p.target.has(n) {
			if !p.live.has(n) {
				return nil, errScopeUnknown(n, target.Snapshot.ID)
			}
		}
	}
	if in.diffErr != nil {
		return nil, in.diffErr
	}
	diff := in.diff
	if len(rec) > 0 {
		diff.Changes = forgetStamped(diff.Changes, rec)
	}
	p.changes = make(map[graphx.NodeID]*snapshots.Change, len(diff.Changes))
	for i := range diff.Changes {
		c := &diff.Changes[i]
		p.changes[graphx.NodeID{Kind: c.Kind, ID: c.ID}] = c
	}
	// What is restored from a bin and what is recreated are settled at the same time:
	// neither reads what the other writes (p.restored, and p.created with the ledger).
	var restored sync.WaitGroup
	var restoreErr error
	restored.Go(func() { restoreErr = p.restoreFromBin() })
	buildRecreated, settleErr := p.recreate()
	restored.Wait()
	if err := cmp.Or(restoreErr, settleErr); err != nil {
		return nil, err
	}
	// Once recreate has settled what is recreated and under which ids, the create
	// bodies, the relink stage and the rollback stage read what the stages before them
	// settled, each adds steps to its own stage, and what else each writes is its own
	// (see planner): they are built at the same time, so that the parts of one that run
	// on a single core leave the other core to the others. Errors are reported in stage
	// order, as when they ran one after the other; the rollback stage's first steps are
	// those the recreate stage deferred.
	p.replaced = p.replacedAssignments()
	var stages sync.WaitGroup
	var recreateErr, relinkErr error
	stages.Go(func() { recreateErr = buildRecreated() })
	stages.Go(func() { relinkErr = p.relink() })
	rollbackErr := p.rollback()
	stages.Wait()
	if err := cmp.Or(recreateErr, relinkErr, rollbackErr); err != nil {
		return nil, err
	}
	p.deferredSteps()
	if err := p.freeAddressesTakenSince(); err != nil {
		return nil, err
	}
	if !opts.WithoutRemovals {
		if err := p.removeAdditions(); err != nil {
			return nil, err
		}
	} else {
		// Left in place on purpose, but a policy added since may be the lockout itself.
		for _, c := range p.sortedChanges(snapshots.Added, func(c *snapshots.Change) bool { return c.Kind == entra.KindConditionalAccessPolicy }) {
			p.warn(graphx.NodeID{Kind: c.Kind, ID: c.ID}, "Conditional Access policy %q (%s) was added since the snapshot and --without-removals leaves it in place: if it blocks sign-ins, delete it or build the plan without --without-removals", c.DisplayName, c.ID)
		}
		// So may a named location: a trusted one exempts sign-ins from policies.
		for _, c := range p.sortedChanges(snapshots.Added, func(c *snapshots.Change) bool { return c.Kind == entra.KindNamedLocation }) {
			p.warn(graphx.NodeID{Kind: c.Kind, ID: c.ID}, "named location %q (%s) was added since the snapshot and --without-removals leaves it in place: if it is marked trusted, policies that exclude trusted locations exempt every sign-in from it; delete it or build the plan without --without-removals", c.DisplayName, c.ID)
		}
	}
	if err := p.conditionalAccess(); err != nil {
		return nil, err
	}
	p.danglingWarnings()

	names := []string{StageRestoreFromBin, StageRecreate, StageRelink, StageRollback, StageRemoveAdditions, StageConditionalAccess}
	if opts.WithoutRemovals {
		names = []string{StageRestoreFromBin, StageRecreate, StageRelink, StageRollback, StageConditionalAccess}
	}
	if len(opts.Scope) > 0 {
		p.narrow(opts.Scope)
	}
	if err := p.checkTargetHashes(target); err != nil {
		return nil, err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	journal, err := journalDigest(ctx, target.Store, target.Snapshot.TenantID, "")
	if err != nil {
		return nil, err
	}
	plan := &Plan{Format: PlanFormat, TenantID: target.Snapshot.TenantID, Snapshot: target.Snapshot.ID, BuiltAt: now.UTC(), Scope: opts.Scope,
		LiveFingerprint: fingerprint, Journal: journal, Warnings: p.finalWarnings(opts.Scope)}
	var count int
	for _, name := range names {
		count += len(p.stages[name])
	}
	all := make([]string, 0, count)
	for _, name := range names {
		steps := p.stages[name]
		if steps == nil {
			steps = []Step{}
		}
		for _, s := range steps {
			all = append(all, s.ID)
		}
		plan.Stages = append(plan.Stages, Stage{Name: name, Steps: steps})
	}
	what := "re-read the tenant and diff against snapshot " + fmt.Sprint(target.Snapshot.ID)
	if len(opts.Scope) > 0 {
		what += ", for the objects in the plan's scope"
	}
	verify := Step{ID: StepID(StageVerify, ActionVerify, "", ""), Kind: "", ObjectID: "", DisplayName: what,
		Action: ActionVerify, DependsOn: nonNil(all), Requests: []Request{}}
	plan.Stages = append(plan.Stages, Stage{Name: StageVerify, Steps: []Step{verify}})
	plan.Summary = summarize(plan, opts.WithoutRemovals)
	return plan, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func summarize(plan *Plan, without bool) PlanSummary {
	return Summarize(plan.Stages, without)
}

// Summarize counts what stages do: the plan's summary, recomputed by a console that
// takes steps in or out of a plan.
func Summarize(stages []Stage, without bool) PlanSummary {
	s := PlanSummary{WithoutRemovals: without}
	for _, st := range stages {
		for _, step := range st.Steps {
			if step.Action == ActionRemoveObject && st.Name != StageRemoveAdditions {
				// a role assignment replaced, an earlier restore's stale copy, or an
				// account made in the name of a user the plan brings back
				s.Removals++
				continue
			}
			if step.Action == ActionRollback && st.Name != StageRollback {
				s.Properties++ // a mail set back early to free a restored user's address
				continue
			}
			switch st.Name {
			case StageRestoreFromBin:
				s.RestoreFromBin++
			case StageRecreate:
				s.Recreate++
			case StageRelink:
				if step.IfMissing {
					s.LinksToCheck++
				} else {
					s.Links++
				}
			case StageRollback:
				s.Properties += len(step.Paths)
			case StageRemoveAdditions:
				s.Removals++
			case StageConditionalAccess:
				if step.Action != ActionLockoutCheck && step.Action != ActionEnforce {
					s.CAPolicies++
				}
			}
		}
	}
	return s
}

// add appends a step to a stage, computing its id; target is the object a link step
// links to.
func (p *planner) add(stage string, s Step, target *graphx.NodeID) string {
	s.ID = stepID(stage, &s, target)
	return p.addWithID(stage, s)
}

// stepID is the id add gives a step; computing it only reads the step, so steps built
// in parallel compute theirs there and are added with addWithID.
func stepID(stage string, s *Step, target *graphx.NodeID) string {
	var extra [3]string
	n := 0
	if s.Link != "" {
		extra[n] = s.Link
		n++
	}
	if target != nil {
		extra[n], extra[n+1] = string(target.Kind), target.ID
		n += 2
	}
	return StepID(stage, s.Action, entra.Kind(s.Kind), s.ObjectID, extra[:n]...)
}

// addWithID is add of a step whose ID stepID has already set.
func (p *planner) addWithID(stage string, s Step) string {
	withEmptyLists(&s)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stages[stage] = append(p.stages[stage], s)
	return s.ID
}

// withEmptyLists gives a step without dependencies or requests empty lists, which the
// plan's JSON writes as [] rather than null.
func withEmptyLists(s *Step) {
	if s.DependsOn == nil {
		s.DependsOn = []string{}
	}
	if s.Requests == nil {
		s.Requests = []Request{}
	}
}

// addBuilt adds, in order, the steps of runs that were built (whose ID is set), as
// addWithID adds each: stages of tens or hundreds of thousands of steps, built in
// parallel, are added a run at a time instead of one call and two copies each. The
// runs are handed over (they are compacted in place), and a run added to an empty
// stage becomes the stage, uncopied.
func (p *planner) addBuilt(stage string, runs ...[]Step) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.stages[stage]
	for _, steps := range runs {
		built := 0
		for i := range steps {
			if steps[i].ID == "" {
				continue
			}
			if i != built {
				steps[built] = steps[i]
			}
			withEmptyLists(&steps[built])
			built++
		}
		clear(steps[built:]) // what was moved must not be held twice
		steps = steps[:built]
		if len(out) == 0 {
			out = steps
			continue
		}
		out = append(out, steps...)
	}
	p.stages[stage] = out
}

// stepObject is the object a step is about: none for the lockout check, which is
// about every policy it depends on.
func stepObject(s *Step) graphx.NodeID {
	if s.Action == ActionLockoutCheck {
		return graphx.NodeID{}
	}
	return graphx.NodeID{Kind: entra.Kind(s.Kind), ID: s.ObjectID}
}

// stepTarget is the object a link step links to, when it is one.
func stepTarget(s *Step) (graphx.NodeID, bool) {
	if s.TargetKind == "" && s.TargetID == "" {
		return graphx.NodeID{}, false
	}
	return graphx.NodeID{Kind: entra.Kind(s.TargetKind), ID: s.TargetID}, true
}

func (p *planner) displayName(n graphx.NodeID) string {
	if c, ok := p.changes[n]; ok && c.DisplayName != "" {
		return c.DisplayName
	}
	if node, ok := p.graph.Node(n); ok {
		return node.DisplayName
	}
	// The stored object, decoded here: side.decode hands out (and removes) what was
	// decoded ahead, and displayName is called by stages that run at the same time.
	if o, ok := p.live.object(n); ok && o.JSON != nil {
		if m, err := o.Decode(); err == nil {
			return entra.DisplayName(n.Kind, m)
		}
	}
	return n.ID
}

// sortedChanges returns the changes of a class in stable order (kind order, name, id).
func (p *planner) sortedChanges(class string, keep func(*snapshots.Change) bool) []*snapshots.Change {
	type changeKey struct {
		rank int
		c    *snapshots.Change
	}
	var keys []changeKey
	for _, c := range p.changes {
		if c.Change == class && keep(c) {
			keys = append(keys, changeKey{kindRank[c.Kind], c})
		}
	}
	// Kind order, name, id, with each kind's rank looked up once.
	keys = sortUnique(keys, func(a, b *changeKey) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), strings.Compare(a.c.DisplayName, b.c.DisplayName), strings.Compare(a.c.ID, b.c.ID))
	})
	var out []*snapshots.Change
	for _, k := range keys {
		out = append(out, k.c)
	}
	return out
}

// refBody is the body of a $ref request naming the directory object id: what
// marshalling {"@odata.id": directoryObjectsURL + id} gives, in one allocation.
func refBody(id string) json.RawMessage {
	if !plainString(id) {
		return mustJSON(map[string]any{"@odata.id": directoryObjectsURL + id})
	}
	const head, tail = `{"@odata.id":"` + directoryObjectsURL, `"}`
	b := make([]byte, 0, len(head)+len(id)+len(tail))
	return append(append(append(b, head...), id...), tail...)
}

func mustJSON(v any) json.RawMessage { return mustJSONSized(v, 0) }

// mustJSONSized is mustJSON writing into a buffer of size bytes: a create body is
// about as long as the stored object, and growing its buffer from nothing cost a
// copy per doubling.
func mustJSONSized(v any, size int) json.RawMessage {
	b, err := appendJSON(make([]byte, 0, size), v)
	if err != nil {
		panic(err) // maps of decoded JSON always marshal
	}
	return b
}

// objectPath is the Graph path of an object, with a placeholder when the object is
// recreated by the plan.
func (p *planner) objectPath(n graphx.NodeID) string {
	spec := entra.MustLookup(n.Kind)
	id := n.ID
	if _, ok := p.created[n]; ok {
		id = IDPlaceholder(n.ID)
	}
	return spec.ObjectPath(id)
}

// deps returns the steps that create or restore what obj's properties reference.
func (p *planner) deps(n graphx.NodeID) []string {
	var out []string
	for _, e := range p.graph.PropertyReferences(n) {
		if e.To == n {
			continue
		}
		for _, m := range [...]map[graphx.NodeID]string{p.created, p.restored} {
			if id, ok := m[e.To]; ok {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// dynamicMembers reports whether the holder's members are computed by a membership
// rule (dynamic groups and administrative units): Graph refuses to add or remove them.
func (p *planner) dynamicMembers(n graphx.NodeID, linkName string) bool {
	if linkName != "members" {
		return false
	}
	if d, ok := p.dynamic[n]; ok {
		return d
	}
	d := false
	var buf memberBuf
	if obj, err := p.target.members(n, buf[:0]); err == nil {
		types, _ := obj.Value("groupTypes")
		if types, ok := types.([]any); ok {
			for _, t := range types {
				if s, _ := t.(string); strings.EqualFold(s, "DynamicMembership") {
					d = true
				}
			}
		}
		if strings.EqualFold(obj.String("membershipType"), "Dynamic") {
			d = true
		}
	}
	p.dynamic[n] = d
	return d
}

// wasLive reports whether a changed object was outside any bin in the target: an
// object purged from a bin it was already in is not brought back.
func (p *planner) wasLive(c *snapshots.Change) bool {
	return p.target.present(graphx.NodeID{Kind: c.Kind, ID: c.ID})
}

// exists reports whether an object is live or will be once the plan has run.
func (p *planner) exists(n graphx.NodeID) bool {
	if p.live.present(n) {
		return true
	}
	_, c := p.created[n]
	_, r := p.restored[n]
	return c || r
}

func (p *planner) restoreFromBin() error {
	for _, c := range p.sortedChanges(snapshots.SoftDeleted, func(*snapshots.Change) bool { return true }) {
		n := graphx.NodeID{Kind: c.Kind, ID: c.ID}
		spec, ok := entra.Lookup(c.Kind)
		if !ok {
			continue
		}
		var req Request
		switch {
		case c.Kind == entra.KindConditionalAccessPolicy:
			continue // the conditional-access stage restores policies, report-only
		case spec.Bin == entra.DirectoryBin:
			req = Request{Method: "POST", Path: "/directory/deletedItems/" + c.ID + "/restore"}
		case c.Kind == entra.KindNamedLocation:
			req = Request{Method: "POST", Path: "/identity/conditionalAccess/deletedItems/namedLocations/" + c.ID + "/restore", Beta: true}
		default:
			p.warn(n, "%s %q (%s) is in a recycle bin lifeline cannot restore from", c.Kind, c.DisplayName, c.ID)
			continue
		}
		p.restored[n] = p.add(StageRestoreFromBin, Step{Kind: string(c.Kind), ObjectID: c.ID, DisplayName: c.DisplayName,
			Action: ActionRestore, Requests: []Request{req}}, nil)
	}
	return nil
}

// createProperties are, per kind, the properties a create body carries: known to
// entra, neither secret nor volatile, writable on create. Bodies are written for tens of
// thousands of objects of forty properties each; looking each name up in the kind's
// list, twice, was a tenth of writing them.
var createProperties = sync.OnceValue(func() map[entra.Kind]map[string]bool {
	out := map[entra.Kind]map[string]bool{}
	for _, k := range entra.Kinds() {
		spec := entra.MustLookup(k)
		props, seen := map[string]bool{}, map[string]bool{}
		for _, prop := range spec.Properties {
			if seen[prop.Name] {
				continue // Spec.Property gives the first of a name
			}
			seen[prop.Name] = true
			if !prop.Secret && !prop.Volatile && spec.Writable(prop.Name, true) {
				props[prop.Name] = true
			}
		}
		out[k] = props
	}
	return out
})

// updateProperties are, per kind, the properties (sorted by name) that a rollback of
// an object restored from a bin compares and puts back: neither secret nor volatile,
// not its deletion time, writable by an update.
var updateProperties = sync.OnceValue(func() map[entra.Kind][]string {
	out := map[entra.Kind][]string{}
	for _, k := range entra.Kinds() {
		spec := entra.MustLookup(k)
		for _, prop := range spec.Properties {
			if !prop.Secret && !prop.Volatile && prop.Name != "deletedDateTime" && spec.Writable(prop.Name, false) {
				out[k] = append(out[k], prop.Name)
			}
		}
		slices.Sort(out[k]) // binChanges walks them beside an object's sorted members
	}
	return out
})

// createBody returns the POST body recreating obj: only properties entra says are
// writable on create, never secrets, references to recreated objects as placeholders.
// For applications and service principals a null is sent as null: left out, Graph
// fills in its own default (isFallbackPublicClient becomes false) and the copy would
// differ. Other kinds leave nulls out: their snapshots hold the union of subtypes'
// properties (a country named location has no ipRanges to set to null).
func (p *planner) createBody(kind entra.Kind, obj map[string]any) map[string]any {
	creatable := createProperties()[kind]
	body := make(map[string]any, len(obj))
	for k, v := range obj {
		if !creatable[k] || (v == nil && !nullsOnCreate[kind]) {
			continue
		}
		body[k] = v
	}
	if t, ok := obj["@odata.type"].(string); ok && kind == entra.KindNamedLocation {
		body["@odata.type"] = t
	}
	graphx.Rewrite(kind, body, p.ledger)
	return body
}

// decodesToRecreate reports whether recreating an object of kind needs it decoded whole:
// its references are rewritten (and cut in a cycle), a built-in role definition is
// skipped, an application's appId goes in the ledger, a named location keeps its
// @odata.type. Objects of other kinds (users, groups) get their create bodies from
// their stored members (rawCreateBody), which for a mass deletion is tens of
// thousands of objects not decoded.
func decodesToRecreate(kind entra.Kind) bool {
	spec, ok := entra.Lookup(kind)
	return !ok || len(spec.References) > 0 || kind == entra.KindRoleDefinition || kind == entra.KindApplication ||
		kind == entra.KindNamedLocation
}

// temporaryPassword is the passwordProfile of every recreated user: apply replaces the
// placeholder with a generated password.
var temporaryPassword = snapshots.Members{{Key: "passwordProfile",
	Value: mustJSON(map[string]any{"forceChangePasswordNextSignIn": true, "password": GeneratedPassword})}}

// rawCreateBody is createBody for an object of a kind that does not decode to be
// recreated, with extra's members (sorted by name) set too, written as JSON: each
// member createBody keeps is copied from the stored object as it is when appendJSON
// would write it back the same (canonicalAsWritten), and decoded and written
// otherwise, so the bytes are those of the decoded path. ok is false when a name needs
// escaping or a value does not decode: the caller then decodes the object, which
// gives what the decoded path gives.
func (p *planner) rawCreateBody(n graphx.NodeID, extra snapshots.Members, size int) (_ json.RawMessage, ok bool, _ error) {
	var buf memberBuf
	ms, err := p.target.members(n, buf[:0])
	if err != nil {
		return nil, false, err
	}
	creatable := createProperties()[n.Kind]
	body := append(make([]byte, 0, size), '{')
	write := func(m snapshots.Member) bool {
		if !plainString(m.Key) {
			return false
		}
		if len(body) > 1 {
			body = append(body, ',')
		}
		body = append(body, '"')
		body = append(body, m.Key...)
		body = append(body, '"', ':')
		if canonicalAsWritten(m.Value) {
			body = append(body, m.Value...)
			return true
		}
		v, err := snapshots.DecodeValue(m.Value)
		if err != nil {
			return false
		}
		body, err = appendJSON(body, v)
		return err == nil
	}
	for _, m := range ms {
		overridden := false // extra sets the member instead
		for len(extra) > 0 && extra[0].Key <= m.Key {
			if !write(extra[0]) {
				return nil, false, nil
			}
			overridden = overridden || extra[0].Key == m.Key
			extra = extra[1:]
		}
		if overridden {
			continue
		}
		if !creatable[m.Key] || (string(m.Value) == "null" && !nullsOnCreate[n.Kind]) {
			continue
		}
		if !write(m) {
			return nil, false, nil
		}
	}
	for _, e := range extra {
		if !write(e) {
			return nil, false, nil
		}
	}
	return append(body, '}'), true, nil
}

// recreate settles which objects the plan recreates, in what order and under which
// step ids (p.created), and their placeholders (p.ledger): what the stages after it
// read. It returns build, which writes their create bodies and adds their steps and
// the references deferred to break cycles (p.deferred); it writes nothing else of the
// planner, so BuildPlan runs it beside the relink and rollback stages.
func (p *planner) recreate() (build func() error, _ error) {
	var ids []graphx.NodeID
	decoded := map[graphx.NodeID]map[string]any{}
	gone := p.sortedChanges(snapshots.HardDeleted, func(c *snapshots.Change) bool { return recreatable[c.Kind] && p.wasLive(c) })
	toDecode := make([]*snapshots.Change, 0, len(gone))
	for _, c := range gone {
		if decodesToRecreate(c.Kind) {
			toDecode = append(toDecode, c)
		}
	}
	p.target.prefetch(changeNodes(toDecode))
	for _, c := range gone {
		n := graphx.NodeID{Kind: c.Kind, ID: c.ID}
		var obj map[string]any // nil: the body is written from the stored members
		if decodesToRecreate(c.Kind) {
			var err error
			if obj, err = p.target.decode(n); err != nil {
				return nil, err
			}
		}
		if c.Kind == entra.KindRoleDefinition {
			if b, _ := obj["isBuiltIn"].(bool); b {
				p.warn(n, "built-in role definition %q (%s) cannot be recreated", c.DisplayName, c.ID)
				continue
			}
		}
		ids = append(ids, n)
		decoded[n] = obj
		p.ledger.IDs[c.ID] = IDPlaceholder(c.ID)
		if c.Kind == entra.KindApplication {
			if appID, _ := obj["appId"].(string); appID != "" {
				p.ledger.AppIDs[appID] = AppIDPlaceholder(appID)
			}
		}
	}
	order, cycles := p.graph.Order(ids)
	for _, c := range cycles {
		p.warn(graphx.NodeID{}, "%s: they are recreated without the references that close the cycle, which a rollback step sets once all of them exist", c)
	}
	// Ids first, so that paths and deps see every recreated object.
	for _, n := range order {
		p.created[n] = StepID(StageRecreate, ActionRecreate, n.Kind, n.ID)
	}
	pos := make(map[graphx.NodeID]int, len(order))
	for i, n := range order {
		pos[n] = i
	}
	// Names are looked up in order (a lookup may decode); each object's body, deps and
	// JSON are its own and computed in parallel; the steps are added in order.
	names := make([]string, len(order))
	for i, n := range order {
		names[i] = p.displayName(n)
	}
	return func() error { return p.buildRecreated(order, names, pos, decoded) }, nil
}

// buildRecreated writes the create bodies of the objects recreate ordered, with their
// names, positions and decoded objects (nil for those written from stored members),
// and adds their steps and the references deferred to break cycles (p.deferred).
func (p *planner) buildRecreated(order []graphx.NodeID, names []string, pos map[graphx.NodeID]int, decoded map[graphx.NodeID]map[string]any) error {
	steps := make([]Step, len(order))
	cuts := make([]*deferredRefs, len(order))
	errs := make([]error, len(order))
	parallelFor(len(order), 1024, func(i int) {
		n := order[i]
		spec := entra.MustLookup(n.Kind)
		deps := p.deps(n)
		var extra snapshots.Members
		if n.Kind == entra.KindUser {
			extra = temporaryPassword
		}
		stored, _ := p.target.object(n)
		size := len(stored.JSON) + 128
		obj := decoded[n]
		var body json.RawMessage
		if obj == nil {
			var ok bool
			var err error
			if body, ok, err = p.rawCreateBody(n, extra, size); err != nil {
				errs[i] = err
				return
			}
			if !ok {
				// The read-only side, decoded here: side.decode hands out its cache
				// and may not run in parallel.
				if obj, err = stored.Decode(); err != nil {
					errs[i] = err
					return
				}
			}
		}
		if body == nil {
			m := p.createBody(n.Kind, obj)
			for _, e := range extra {
				m[e.Key] = json.RawMessage(e.Value)
			}
			if d := p.breakCycle(n, pos, m); d != nil {
				cuts[i] = d
				deps = slices.DeleteFunc(deps, func(id string) bool { return slices.Contains(d.later, id) })
			}
			body = mustJSONSized(m, size)
		}
		steps[i] = Step{Kind: string(n.Kind), ObjectID: n.ID, DisplayName: names[i], Action: ActionRecreate,
			DependsOn: nonNil(deps), Requests: []Request{{Method: "POST", Path: spec.Collection, Body: body}}}
		steps[i].ID = stepID(StageRecreate, &steps[i], nil)
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	var deferred []deferredRefs
	for _, d := range cuts {
		if d != nil {
			deferred = append(deferred, *d)
		}
	}
	p.deferred = deferred
	p.addBuilt(StageRecreate, steps)
	return nil
}

// deferredRefs are the properties of a recreated object that name objects recreated
// after it, in a dependency cycle (two apps that list each other as known clients):
// they are left out of its create and set by a rollback step once both exist.
type deferredRefs struct {
	n     graphx.NodeID
	props map[string]any
	later []string // the create steps of the objects named
}

// breakCycle takes out of body the top-level properties that reference an object created
// later in order, and returns them (nil when there are none).
func (p *planner) breakCycle(n graphx.NodeID, pos map[graphx.NodeID]int, body map[string]any) *deferredRefs {
	var d *deferredRefs
	for _, e := range p.graph.PropertyReferences(n) {
		if e.To == n {
			continue
		}
		at, ok := pos[e.To]
		if !ok || at <= pos[n] {
			continue
		}
		top := topProperty(e.Pointer)
		v, ok := body[top]
		if d == nil {
			d = &deferredRefs{n: n, props: map[string]any{}}
		}
		if ok {
			d.props[top] = v
			delete(body, top)
		}
		d.later = append(d.later, p.created[e.To])
	}
	if d != nil {
		slices.Sort(d.later)
		d.later = slices.Compact(d.later)
	}
	return d
}

// deferredSteps puts first in the rollback stage the steps that complete objects
// recreated in a cycle (p.deferred).
func (p *planner) deferredSteps() {
	var steps []Step
	for _, d := range p.deferred {
		if len(d.props) == 0 {
			continue
		}
		paths := make([]string, 0, len(d.props))
		for k := range d.props {
			paths = append(paths, k)
		}
		sort.Strings(paths)
		deps := slices.Compact(slices.Sorted(slices.Values(append([]string{p.created[d.n]}, d.later...))))
		step := Step{Kind: string(d.n.Kind), ObjectID: d.n.ID, DisplayName: p.displayName(d.n), Action: ActionRollback,
			Paths: paths, DependsOn: deps, Requests: []Request{{Method: "PATCH", Path: p.objectPath(d.n), Body: mustJSON(d.props)}}}
		step.ID = stepID(StageRollback, &step, nil)
		withEmptyLists(&step)
		steps = append(steps, step)
	}
	if len(steps) > 0 {
		p.stages[StageRollback] = append(steps, p.stages[StageRollback]...)
	}
}

// sortLinks puts links in stable order: holder kind, holder name, holder id, link name,
// target kind, target id.
// It returns the holders' names it looked up.
func sortLinks(ls []snapshots.Link, name func(graphx.NodeID) string) map[graphx.NodeID]string {
	pos := make([]int32, len(ls))
	for i := range pos {
		pos[i] = int32(i)
	}
	names := sortLinkPositions(ls, pos, name)
	sorted := make([]snapshots.Link, len(ls))
	for i, at := range pos {
		sorted[i] = ls[at]
	}
	copy(ls, sorted)
	return names
}

// sortLinkPositions is sortLinks of the links of ls at positions pos (in increasing
// order), sorting the positions: relink sorts which of the target's links it adds
// without copying them, and keeps where each one's other end is (side.linkTo).
func sortLinkPositions(ls []snapshots.Link, pos []int32, name func(graphx.NodeID) string) map[graphx.NodeID]string {
	names := map[graphx.NodeID]string{}
	// Links come from a state grouped by holder: the runs are sorted by holder, and
	// each run by link, which is a few tens of thousands of holders compared instead of
	// hundreds of thousands of links.
	type run struct {
		rank   int
		name   string
		lo, hi int
	}
	var runs []run
	grouped := true
	for i := 0; i < len(pos); {
		n := graphx.NodeID{Kind: ls[pos[i]].Kind, ID: ls[pos[i]].From}
		j := i + 1
		for j < len(pos) && ls[pos[j]].Kind == n.Kind && ls[pos[j]].From == n.ID {
			j++
		}
		nm, seen := names[n]
		if seen {
			grouped = false // a holder in two runs
		} else {
			nm = name(n)
			names[n] = nm
		}
		runs = append(runs, run{rank: kindRank[n.Kind], name: nm, lo: i, hi: j})
		i = j
	}
	if !grouped {
		sortPositionsByKey(ls, pos, names)
		return names
	}
	runs = sortUnique(runs, func(a, b *run) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), strings.Compare(a.name, b.name), strings.Compare(ls[pos[a.lo]].From, ls[pos[b.lo]].From))
	})
	out := make([]int32, 0, len(pos))
	byTarget := func(a, b int32) int { return compareLinkTargets(ls[a], ls[b]) }
	for _, r := range runs {
		at := len(out)
		out = append(out, pos[r.lo:r.hi]...)
		if mine := out[at:]; !slices.IsSortedFunc(mine, byTarget) {
			slices.SortFunc(mine, byTarget)
		}
	}
	copy(pos, out)
	return names
}

// compareLinkTargets orders one holder's links: link name, target kind, target id.
func compareLinkTargets(a, b snapshots.Link) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(kindRank[a.ToKind], kindRank[b.ToKind]), strings.Compare(a.To, b.To))
}

// sortPositionsByKey is sortLinkPositions of links not grouped by holder, each
// compared whole; names holds every holder's name.
func sortPositionsByKey(ls []snapshots.Link, pos []int32, names map[graphx.NodeID]string) {
	type linkKey struct {
		rank int
		name string
		at   int32
	}
	keys := make([]linkKey, len(pos))
	for i, at := range pos {
		l := &ls[at]
		keys[i] = linkKey{rank: kindRank[l.Kind], name: names[graphx.NodeID{Kind: l.Kind, ID: l.From}], at: at}
	}
	keys = sortUnique(keys, func(a, b *linkKey) int {
		x, y := &ls[a.at], &ls[b.at]
		return cmp.Or(cmp.Compare(a.rank, b.rank), strings.Compare(a.name, b.name), strings.Compare(x.From, y.From), compareLinkTargets(*x, *y))
	})
	for i := range keys {
		pos[i] = keys[i].at
	}
}

// fate says where an object of the target is and what the plan does with it.
type fate uint8

const (
	fateTarget   fate = 1 << iota // in the target, outside any bin
	fateLive                      // live, outside any bin
	fateCreated                   // recreated by the plan
	fateRestored                  // restored from a bin by the plan
)

// exists is planner.exists: in the target, and live or brought back by the plan.
func (f fate) exists() bool {
	return f&fateTarget != 0 && f&(fateLive|fateCreated|fateRestored) != 0
}

// fates returns the fate of each object of the target (by position) once the recreate
// and restore stages are planned: relink asks about both ends of hundreds of thousands
// of links, and reading them here replaces up to four map lookups per end.
func (p *planner) fates() []fate {
	f := make([]fate, len(p.target.objects))
	parallelChunks(len(f), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if o := &p.target.objects[i]; !o.InBin {
				f[i] |= fateTarget
				if p.live.present(graphx.NodeID{Kind: o.Kind, ID: o.ID}) {
					f[i] |= fateLive
				}
			}
		}
	})
	for n := range p.created {
		if i, ok := p.target.index.get(n); ok {
			f[i] |= fateCreated
		}
	}
	for n := range p.restored {
		if i, ok := p.target.index.get(n); ok {
			f[i] |= fateRestored
		}
	}
	return f
}

// byPosition returns the step ids of m (p.created or p.restored) by the position of
// their object in the target, "" for the others: relink reads them for the other end of
// hundreds of thousands of links.
func (p *planner) byPosition(m map[graphx.NodeID]string) []string {
	out := make([]string, len(p.target.objects))
	for n, id := range m {
		if i, ok := p.target.index.get(n); ok {
			out[i] = id
		}
	}
	return out
}

func (p *planner) relink() error {
	// The target's links are checked in parallel (only reading the planner's maps),
	// then the dynamic-membership check, which decodes and caches, runs on the few
	// that remain. The order they are found in does not matter: they are sorted.
	all := p.target.links
	fates := p.fates()
	// exists is p.exists (live, or brought back by the plan) of an object of the
	// target; links come grouped by holder, whose answer is kept for the next link, and
	// their other ends are resolved already (linkTo).
	exists := func(n graphx.NodeID) bool {
		i, ok := p.target.index.get(n)
		return ok && fates[i].exists()
	}
	// A link missing from live is added again when both ends exist once the plan has
	// run. (A restore from the bin brings back an object's links to objects that still
	// exist, unless the incident removed them first: the step says so, and apply
	// checks before adding it.)
	missingFromLive := make([]bool, len(all))
	parallelChunks(len(all), 1024, func(lo, hi int) {
		var holder graphx.NodeID
		holderExists := false
		for i := lo; i < hi; i++ {
			if p.target.inOther[i] {
				continue // live has it
			}
			l := all[i]
			from := graphx.NodeID{Kind: l.Kind, ID: l.From}
			if i == lo || from != holder {
				holder, holderExists = from, exists(from)
			}
			to := p.target.linkTo[i]
			missingFromLive[i] = holderExists && to >= 0 && fates[to].exists()
		}
	})
	count := 0
	for _, m := range missingFromLive {
		if m {
			count++
		}
	}
	missing := make([]int32, 0, count) // positions in all
	for i, m := range missingFromLive {
		l := &all[i]
		if !m {
			continue
		}
		if from := (graphx.NodeID{Kind: l.Kind, ID: l.From}); p.dynamicMembers(from, l.Name) {
			if to := (graphx.NodeID{Kind: l.ToKind, ID: l.To}); p.scope[to] {
				p.ruleHolders[to] = append(p.ruleHolders[to], from)
			}
			continue
		}
		missing = append(missing, int32(i))
	}
	names := sortLinkPositions(all, missing, p.displayName)
	// Each step is built (id included) in parallel, reading only what is settled by
	// now; they are added in order. Links come grouped by holder, and what a step needs
	// of its holder is looked up once per holder.
	steps := make([]Step, len(missing))
	createdAt, restoredAt := p.byPosition(p.created), p.byPosition(p.restored)
	parallelChunks(len(missing), 1024, func(lo, hi int) {
		var holder graphx.NodeID
		var holderPath, holderName, holderCreated, holderRestored string
		var hc, hr bool
		var linkName, linkPath string // the holder's last link name and its $ref path
		for i := lo; i < hi; i++ {
			at := missing[i]
			l := &all[at]
			from, to := graphx.NodeID{Kind: l.Kind, ID: l.From}, graphx.NodeID{Kind: l.ToKind, ID: l.To}
			if i == lo || from != holder {
				holder, holderPath, holderName = from, p.objectPath(from), names[from]
				holderCreated, hc = p.created[from]
				holderRestored, hr = p.restored[from]
				linkName, linkPath = "", ""
			}
			ls, ok := entra.MustLookup(l.Kind).Link(l.Name)
			if !ok {
				continue
			}
			method := "POST"
			if ls.Single {
				method = "PUT"
			}
			if linkPath == "" || l.Name != linkName {
				linkName, linkPath = l.Name, holderPath+"/"+l.Name+"/$ref"
			}
			// The link is missing from live because its other end is in the target
			// (linkTo is not -1).
			toCreated, toRestored := createdAt[p.target.linkTo[at]], restoredAt[p.target.linkTo[at]]
			tc, tr := toCreated != "", toRestored != ""
			ref := to.ID // a recreated target is named by its new id
			if tc {
				ref = IDPlaceholder(to.ID)
			}
			var deps []string
			for _, d := range [...]struct {
				id string
				ok bool
			}{{holderCreated, hc}, {holderRestored, hr}, {toCreated, tc}, {toRestored, tr}} {
				if d.ok {
					deps = append(deps, d.id)
				}
			}
			sort.Strings(deps)
			// A link between a restored object and one that is not recreated usually
			// comes back with the restore: apply checks for it before adding it.
			ifMissing := (hr && !tc) || (tr && !hc)
			steps[i] = Step{Kind: string(l.Kind), ObjectID: l.From, DisplayName: holderName, Action: ActionAddLink,
				Link: l.Name, TargetKind: string(l.ToKind), TargetID: l.To, DependsOn: deps, IfMissing: ifMissing,
				Requests: []Request{{Method: method, Path: linkPath, Body: refBody(ref)}}}
			steps[i].ID = stepID(StageRelink, &steps[i], &to)
		}
	})
	// Assignments and grants are objects, recreated with rewritten ids.
	var assignments []Step
	for _, c := range p.sortedChanges(snapshots.HardDeleted, func(c *snapshots.Change) bool { return assignmentKinds[c.Kind] && p.wasLive(c) }) {
		n := graphx.NodeID{Kind: c.Kind, ID: c.ID}
		step, ok, err := p.assignmentCreate(n, c.DisplayName)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if stale, ok := p.staleCopy(n); ok {
			// after the copy is gone, which keeps the two together in a scoped plan
			dependOn(&step, stale.ID)
			assignments = append(assignments, stale)
		}
		assignments = append(assignments, step)
	}
	// A live role assignment naming an object the plan recreates is replaced: Graph has
	// no update for it, and it names the purged original.
	replaced := make([]graphx.NodeID, 0, len(p.replaced))
	for n := range p.replaced {
		replaced = append(replaced, n)
	}
	p.sortNodes(replaced)
	for _, n := range replaced {
		step, ok, err := p.assignmentCreate(n, p.displayName(n))
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		remove := Step{Kind: string(n.Kind), ObjectID: n.ID, DisplayName: step.DisplayName, Action: ActionRemoveObject,
			DependsOn: step.DependsOn, Requests: []Request{{Method: "DELETE", Path: entra.MustLookup(n.Kind).ObjectPath(n.ID)}}}
		remove.ID = stepID(StageRelink, &remove, nil)
		// The create waits for the delete: until then the old id is the live one, and
		// once the create is journaled the ledger names the new one.
		dependOn(&step, remove.ID)
		assignments = append(assignments, remove, step)
	}
	p.addBuilt(StageRelink, steps, assignments)
	return nil
}

// dependOn makes s wait for step id too, keeping DependsOn sorted; the list may be
// shared with the step it was copied from, so it is not appended to in place.
func dependOn(s *Step, id string) {
	s.DependsOn = append(slices.Clone(s.DependsOn), id)
	slices.Sort(s.DependsOn)
}

// namesRecreated reports whether a property of n names an object the plan recreates.
func (p *planner) namesRecreated(n graphx.NodeID) bool {
	for _, e := range p.graph.PropertyReferences(n) {
		if _, ok := p.created[e.To]; ok {
			return true
		}
	}
	return false
}

// assignmentCreate is the step that creates assignment n as the target has it, naming
// what the plan recreates by placeholder; false (with a warning) when an object it
// needs will not exist.
func (p *planner) assignmentCreate(n graphx.NodeID, displayName string) (Step, bool, error) {
	obj, err := p.target.decode(n)
	if err != nil {
		return Step{}, false, err
	}
	for _, e := range p.graph.PropertyReferences(n) {
		if e.Required && !p.exists(e.To) {
			p.warn(n, "%s %q (%s) cannot be recreated: its %s %s is neither live nor restored by this plan", n.Kind, displayName, n.ID, e.Relation, e.To)
			return Step{}, false, nil
		}
	}
	spec := entra.MustLookup(n.Kind)
	body := p.createBody(n.Kind, obj)
	path := spec.Collection
	if spec.Parent != "" {
		parent, _ := body[spec.ParentProperty].(string)
		path = strings.ReplaceAll(path, "{parent}", parent)
	}
	step := Step{Kind: string(n.Kind), ObjectID: n.ID, DisplayName: displayName, Action: ActionRecreate,
		DependsOn: p.deps(n), Requests: []Request{{Method: "POST", Path: path, Body: mustJSON(body)}}}
	step.ID = stepID(StageRelink, &step, nil)
	return step, true, nil
}

// replacedAssignments are the role assignments, live and in the target, that name an
// object the plan recreates: the application their directoryScopeId points at, or a
// custom role definition. The live one names the purged original and Graph cannot
// update it, so relink deletes it and creates it again naming the copy.
func (p *planner) replacedAssignments() map[graphx.NodeID]bool {
	out := map[graphx.NodeID]bool{}
	for n := range p.survivorCandidates() {
		if n.Kind != entra.KindRoleAssignment || !p.target.present(n) || !p.live.present(n) {
			continue
		}
		if _, c := p.created[n]; !c && p.namesRecreated(n) {
			out[n] = true
		}
	}
	return out
}

// checkTargetHashes refuses a plan built from damaged snapshot content: every object of
// the target whose properties a step's requests carry (a recreate's body, a rollback's
// patch, a policy restored or put back) must still match the SHA-256 it was stored with. The diff
// compares stored hashes, so an object edited in the file would otherwise go into the
// tenant unnoticed. Restores, links and removals send no content, and a mass restore
// is mostly those: only what is sent is hashed. The manifest's hashes and the links are
// checked against the snapshot's root hash as they are loaded (planInputs.targetIntact).
// 'lifeline snapshots verify' checks the whole file.
func (p *planner) checkTargetHashes(target snapshots.State) error {
	seen := map[graphx.NodeID]bool{}
	var named []snapshots.Object
	for _, steps := range p.stages {
		for i := range steps {
			if !sendsContent(&steps[i]) {
				continue
			}
			n := graphx.NodeID{Kind: entra.Kind(steps[i].Kind), ID: steps[i].ObjectID}
			if seen[n] {
				continue
			}
			seen[n] = true
			if o, ok := p.target.object(n); ok && o.JSON != nil {
				named = append(named, o)
			}
		}
	}
	damaged := make([]bool, len(named))
	parallelFor(len(named), 256, func(i int) {
		damaged[i] = sha256.Sum256(named[i].JSON) != named[i].Hash
	})
	var bad []string
	for i, d := range damaged {
		if d {
			bad = append(bad, string(named[i].Kind)+" "+named[i].ID)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	count, more := len(bad), ""
	if len(bad) > 5 {
		bad, more = bad[:5], ", ..."
	}
	return fmt.Errorf("snapshot %d in %s is damaged: %d objects the plan would restore no longer match their hashes (%s%s), so nothing was planned; 'lifeline snapshots verify --db %s' lists the damage: restore the file from a copy",
		target.Snapshot.ID, target.Store.Path(), count, strings.Join(bad, ", "), more, target.Store.Path())
}

// sendsContent reports whether a step's requests carry the target's properties: any
// request with a body, but for a link's $ref (ids only). A restore from the bin sends
// none, except a Conditional Access policy's, which is patched back after.
func sendsContent(s *Step) bool {
	if s.Action == ActionAddLink || s.Action == ActionRemoveLink {
		return false
	}
	for _, r := range s.Requests {
		if len(r.Body) > 0 {
			return true
		}
	}
	return false
}

// staleCopy is the step that deletes the copy an earlier restore made of assignment n,
// when this plan brings that copy back and it names an object the plan recreates again.
// Graph hides an assignment while its principal waits in a bin, so the live capture
// lacks the copy; the plan's restore of the principal brings it back, still naming the
// older copy of (say) the application its directoryScopeId points at, and the
// assignment recreated beside it would leave it behind as an addition. The step runs
// after that restore and tolerates the copy's absence. A copy naming nothing
// recreated comes back as the plan wants it (apply's create finds it by natural key);
// one whose principal nothing restores cannot come back.
//
// The original is the same case without an earlier restore: hidden with its principal,
// it comes back with the principal's restore naming the purged object, and is deleted
// the same way (the step is a no-op when the incident deleted it before the principal).
func (p *planner) staleCopy(n graphx.NodeID) (Step, bool) {
	spec := entra.MustLookup(n.Kind)
	if spec.Parent != "" || !p.namesRecreated(n) {
		return Step{}, false
	}
	prev, earlier := p.earlier[n.ID]
	what := " (an earlier restore's copy, naming objects this plan recreates)"
	if !earlier {
		prev, what = n.ID, " (the original, which its principal's restore brings back naming objects this plan recreates)"
	}
	var deps []string
	for _, e := range p.graph.PropertyReferences(n) {
		if id, ok := p.restored[e.To]; ok {
			deps = append(deps, id)
		}
	}
	if len(deps) == 0 {
		return Step{}, false // nothing brings the copy back: Graph removed it with its principal, or the incident did
	}
	slices.Sort(deps)
	s := Step{Kind: string(n.Kind), ObjectID: prev, DisplayName: p.displayName(n) + what,
		Action: ActionRemoveObject, DependsOn: slices.Compact(deps), Requests: []Request{{Method: "DELETE", Path: spec.ObjectPath(prev)}}}
	s.ID = stepID(StageRelink, &s, nil)
	return s, true
}

// topProperty returns the top-level property a diff path names.
func topProperty(path string) string {
	path = strings.TrimPrefix(path, "/")
	if i := strings.IndexAny(path, ".[/"); i >= 0 {
		return path[:i]
	}
	return path
}

// patchFor returns the PATCH body and paths that put obj's changed properties back:
// the properties the diff changed plus those that reference recreated objects.
func (p *planner) patchFor(n graphx.NodeID) (map[string]any, []string, error) {
	spec, ok := entra.Lookup(n.Kind)
	if !ok || spec.ReadOnlyKind {
		return nil, nil, nil
	}
	var buf memberBuf
	obj, err := p.target.members(n, buf[:0])
	if err != nil {
		return nil, nil, err
	}
	body, paths, warns := p.patchOf(n, spec, obj)
	p.addWarnings(warns...)
	return body, paths, nil
}

// memberValues are an object's top-level members as the snapshot holds them, decoded
// one by one: snapshots.Members, or changedMembers.
type memberValues interface {
	Value(name string) (any, error)
}

// changedMembers are the memberValues of a survivor: the members the diff kept
// (snapshots.Change.BeforeMember) are read from the change, and the stored object is
// split only for another. Most survivors' patches put back only what the diff found
// changed, so forty thousand edited users are not split a second time. err is the
// error splitting gave, which fails the plan as it did when every object was split.
type changedMembers struct {
	c    *snapshots.Change // nil when the object did not change
	side *side             // where the object is stored, split when c lacks a member
	n    graphx.NodeID
	ms   snapshots.Members
	err  error
	done bool
}

// Value returns the member named name decoded (nil when absent). The diff's values are
// shared with the change: patchOf's callers only encode them (Rewrite changes nothing
// of the kinds the diff keeps members for).
func (m *changedMembers) Value(name string) (any, error) {
	if m.c != nil {
		if v, ok := m.c.BeforeMember(name); ok {
			return v, nil
		}
	}
	if !m.done {
		m.ms, m.err = m.side.members(m.n, nil)
		m.done = true
	}
	if m.err != nil {
		return nil, m.err
	}
	return m.ms.Value(name)
}

// keepsChangedMembers reports whether the diff keeps the changed members of modified
// objects of kind for the rollback stage: kinds without property references, whose
// patches graphx.Rewrite leaves as they are.
func keepsChangedMembers(kind entra.Kind) bool {
	spec, ok := entra.Lookup(kind)
	return ok && len(spec.References) == 0
}

// patchOf is patchFor of the object's members: it only reads the planner, so rollback
// runs it in parallel, and returns its warnings rather than adding them.
func (p *planner) patchOf(n graphx.NodeID, spec *entra.Spec, obj memberValues) (map[string]any, []string, []warning) {
	var warns []warning
	props := map[string][]string{}
	if c, ok := p.changes[n]; ok && c.Change == snapshots.Modified {
		for _, pc := range c.Properties {
			top := topProperty(pc.Path)
			prop, known := spec.Property(top)
			if known && (prop.Secret || prop.Volatile) {
				continue
			}
			if top == "passwordCredentials" {
				// Secrets the incident added are removed (removeAddedSecrets); one it
				// took away cannot be given back, for Graph never shows a secret again.
				if lost := secretsChanged(pc).lost; len(lost) > 0 {
					warns = append(warns, warning{obj: n, text: fmt.Sprintf("%s %q (%s): %d of its client secrets were removed since the snapshot and Graph cannot restore a secret; its owners must issue new ones", n.Kind, c.DisplayName, n.ID, len(lost))})
				}
				continue
			}
			if !spec.Writable(top, false) {
				warns = append(warns, warning{obj: n, text: fmt.Sprintf("%s %q (%s): %s changed but Graph does not let a restore write it", n.Kind, c.DisplayName, n.ID, top)})
				continue
			}
			props[top] = append(props[top], pc.Path)
		}
	}
	for _, e := range p.graph.PropertyReferences(n) {
		if _, ok := p.created[e.To]; ok {
			top := topProperty(e.Pointer)
			if spec.Writable(top, false) {
				props[top] = append(props[top], e.Pointer)
			}
		}
	}
	if len(props) == 0 {
		return nil, nil, warns
	}
	body := map[string]any{}
	var paths []string
	for top, ps := range props {
		v, err := obj.Value(top) // nil (JSON null) when the snapshot had none
		if err != nil {
			warns = append(warns, warning{obj: n, text: fmt.Sprintf("%s %s: %s is unreadable in the snapshot and is not rolled back: %v", n.Kind, n.ID, top, err)})
			continue
		}
		body[top] = v
		paths = append(paths, ps...)
	}
	graphx.Rewrite(n.Kind, body, p.ledger)
	withSubtype(n.Kind, body, obj)
	sort.Strings(paths)
	paths = uniq(paths)
	return body, paths, warns
}

// withSubtype puts a named location's @odata.type in its PATCH body: Graph refuses
// that PATCH without it (graph-spec §2.6), so no rollback of a
// widened trusted range could ever succeed.
func withSubtype(kind entra.Kind, body map[string]any, obj memberValues) {
	if kind != entra.KindNamedLocation {
		return
	}
	if t, err := obj.Value("@odata.type"); err == nil && t != nil {
		body["@odata.type"] = t
	}
}

func uniq(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// survivors returns the objects that exist on both sides (not recreated) and either
// changed or reference something recreated, in stable order.
func (p *planner) survivors(ca bool) []graphx.NodeID {
	var out []graphx.NodeID
	for n := range p.survivorCandidates() {
		if (n.Kind == entra.KindConditionalAccessPolicy) != ca {
			continue
		}
		if _, c := p.created[n]; c || !p.target.present(n) || !p.live.present(n) {
			continue
		}
		if p.replaced[n] {
			continue // relink replaces it
		}
		if n.Kind == entra.KindRoleAssignment || n.Kind == entra.KindAppRoleAssignment {
			// Graph has no PATCH for role and app role assignments.
			p.warn(n, "%s %q (%s) differs from the snapshot but cannot be updated in place; remove and re-add it by hand", n.Kind, p.displayName(n), n.ID)
			continue
		}
		out = append(out, n)
	}
	p.sortNodes(out)
	return out
}

// survivorCandidates are the objects changed in place and those that reference an
// object the plan recreates. They are gathered once for the rollback and the
// conditional-access stages, and again only if the plan has recreated more objects
// since (it never forgets one).
func (p *planner) survivorCandidates() map[graphx.NodeID]bool {
	if p.candidates != nil && p.candidatesFor == len(p.created) {
		return p.candidates
	}
	set := make(map[graphx.NodeID]bool, len(p.changes))
	for n, c := range p.changes {
		if c.Change == snapshots.Modified {
			set[n] = true
		}
	}
	// What references each recreated object is gathered in parallel (the graph is only
	// read), then added to the set.
	created := make([]graphx.NodeID, 0, len(p.created))
	for n := range p.created {
		created = append(created, n)
	}
	froms := make([][]graphx.NodeID, len(created))
	parallelFor(len(created), 1024, func(i int) {
		for _, e := range p.graph.PropertyReferencedBy(created[i]) {
			froms[i] = append(froms[i], e.From)
		}
	})
	for _, fs := range froms {
		for _, n := range fs {
			set[n] = true
		}
	}
	p.candidates, p.candidatesFor = set, len(p.created)
	return set
}

func (p *planner) sortNodes(ns []graphx.NodeID) {
	// Names and ranks are looked up once per node rather than twice per comparison.
	type nodeKey struct {
		rank int
		name string
		n    graphx.NodeID
	}
	keys := make([]nodeKey, len(ns))
	for i, n := range ns {
		keys[i] = nodeKey{kindRank[n.Kind], p.displayName(n), n}
	}
	keys = sortUnique(keys, func(a, b *nodeKey) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), strings.Compare(a.name, b.name), strings.Compare(a.n.ID, b.n.ID))
	})
	for i := range keys {
		ns[i] = keys[i].n
	}
}

// binChanges returns the PATCH body and paths that undo what changed in an object
// before it went to the bin (a restore brings back the object as it was deleted). It
// only reads the planner, so rollback runs it in parallel. Members with the same bytes
// are the same and are not decoded; a live member that does not decode counts as
// changed, a snapshot member that does not decode is left out.
func (p *planner) binChanges(n graphx.NodeID) (map[string]any, []string) {
	spec, ok := entra.Lookup(n.Kind)
	if !ok {
		return nil, nil
	}
	var bbuf, abuf memberBuf
	before, err := p.target.members(n, bbuf[:0])
	if err != nil {
		return nil, nil
	}
	after, err := p.live.members(n, abuf[:0])
	if err != nil {
		return nil, nil
	}
	body := map[string]any{}
	var paths []string
	// The names and both objects' members are sorted: one walk over the three finds
	// each name's two values (nil where absent), where looking each up cost two binary
	// searches for each of thirty names of twenty thousand objects.
	bi, ai := 0, 0
	for _, name := range updateProperties()[n.Kind] {
		var braw, araw []byte
		for bi < len(before) && before[bi].Key < name {
			bi++
		}
		if bi < len(before) && before[bi].Key == name {
			braw = before[bi].Value
		}
		for ai < len(after) && after[ai].Key < name {
			ai++
		}
		if ai < len(after) && after[ai].Key == name {
			araw = after[ai].Value
		}
		if bytes.Equal(braw, araw) {
			continue
		}
		b, berr := snapshots.DecodeMember(braw)
		a, aerr := snapshots.DecodeMember(araw)
		if berr != nil || (aerr == nil && snapshots.EqualJSON(b, a)) {
			continue
		}
		body[name] = b
		paths = append(paths, name)
	}
	// References to recreated objects need their new ids.
	for _, e := range p.graph.PropertyReferences(n) {
		if _, ok := p.created[e.To]; !ok {
			continue
		}
		top := topProperty(e.Pointer)
		if _, done := body[top]; !done && spec.Writable(top, false) {
			v, err := before.Value(top)
			if err != nil {
				continue
			}
			body[top] = v
			paths = append(paths, top)
		}
	}
	if len(paths) == 0 {
		return nil, nil
	}
	sort.Strings(paths)
	graphx.Rewrite(n.Kind, body, p.ledger)
	withSubtype(n.Kind, body, before)
	return body, paths
}

func (p *planner) rollback() error {
	var restored []graphx.NodeID
	for n := range p.restored {
		restored = append(restored, n)
	}
	p.sortNodes(restored)
	// The patches, their JSON and their steps' ids are computed in parallel (each
	// object's are its own), and the steps added in order.
	steps := make([]Step, len(restored))
	parallelFor(len(restored), 1024, func(i int) {
		n := restored[i]
		body, paths := p.binChanges(n)
		if body == nil {
			return
		}
		spec := entra.MustLookup(n.Kind)
		steps[i] = Step{Kind: string(n.Kind), ObjectID: n.ID, Action: ActionRollback,
			Paths: paths, DependsOn: append([]string{p.restored[n]}, p.deps(n)...), Requests: []Request{{Method: "PATCH", Path: spec.ObjectPath(n.ID), Body: mustJSON(body)}}}
		steps[i].ID = stepID(StageRollback, &steps[i], nil)
	})
	for i, n := range restored {
		if steps[i].ID != "" {
			steps[i].DisplayName = p.displayName(n)
		}
	}
	p.addBuilt(StageRollback, steps)

	survivors := p.survivors(false)
	steps = make([]Step, len(survivors))
	warns := make([][]warning, len(survivors))
	errs := make([]error, len(survivors))
	parallelFor(len(survivors), 1024, func(i int) {
		n := survivors[i]
		spec, ok := entra.Lookup(n.Kind)
		if !ok || spec.ReadOnlyKind {
			return
		}
		obj := &changedMembers{c: p.changes[n], side: p.target, n: n}
		body, paths, w := p.patchOf(n, spec, obj)
		if obj.err != nil {
			errs[i] = obj.err
			return
		}
		warns[i] = w
		if body == nil {
			return
		}
		steps[i] = Step{Kind: string(n.Kind), ObjectID: n.ID, Action: ActionRollback,
			Paths: paths, DependsOn: p.deps(n), Requests: []Request{{Method: "PATCH", Path: spec.ObjectPath(n.ID), Body: mustJSON(body)}}}
		steps[i].ID = stepID(StageRollback, &steps[i], nil)
	})
	for i, n := range survivors {
		if errs[i] != nil {
			return errs[i]
		}
		p.addWarnings(warns[i]...)
		if steps[i].ID != "" {
			steps[i].DisplayName = p.displayName(n)
		}
	}
	p.addBuilt(StageRollback, steps)
	return nil
}

func (p *planner) removeAdditions() error {
	// A single-valued link (a manager) the snapshot also holds is replaced by the
	// relink stage's PUT; deleting the live one after that would delete the restored one.
	type holderLink struct {
		from graphx.NodeID
		name string
	}
	replaced := map[holderLink]bool{}
	for _, l := range p.target.links {
		if ls, ok := entra.MustLookup(l.Kind).Link(l.Name); ok && ls.Single {
			replaced[holderLink{graphx.NodeID{Kind: l.Kind, ID: l.From}, l.Name}] = true
		}
	}
	var added []snapshots.Link
	for i, l := range p.live.links {
		if p.live.inOther[i] {
			continue
		}
		from, to := graphx.NodeID{Kind: l.Kind, ID: l.From}, graphx.NodeID{Kind: l.ToKind, ID: l.To}
		if !p.target.present(from) || !p.live.present(from) || !p.live.present(to) {
			continue
		}
		if replaced[holderLink{from, l.Name}] {
			continue
		}
		if c, ok := p.changes[to]; ok && c.Change == snapshots.Added && removableKinds[to.Kind] {
			continue // deleting the added object removes the link
		}
		if p.dynamicMembers(from, l.Name) {
			continue
		}
		added = append(added, l)
	}
	sortLinks(added, p.displayName)
	for _, l := range added {
		from, to := graphx.NodeID{Kind: l.Kind, ID: l.From}, graphx.NodeID{Kind: l.ToKind, ID: l.To}
		spec := entra.MustLookup(l.Kind)
		ls, ok := spec.Link(l.Name)
		if !ok {
			continue
		}
		path := spec.ObjectPath(l.From) + "/" + l.Name + "/" + l.To + "/$ref"
		if ls.Single {
			path = spec.ObjectPath(l.From) + "/" + l.Name + "/$ref"
		}
		p.add(StageRemoveAdditions, Step{Kind: string(l.Kind), ObjectID: l.From, DisplayName: p.displayName(from), Action: ActionRemoveLink,
			Link: l.Name, TargetKind: string(l.ToKind), TargetID: l.To, Requests: []Request{{Method: "DELETE", Path: path}}}, &to)
	}
	removed := map[graphx.NodeID]string{} // added objects deleted, by their step
	for _, c := range p.sortedChanges(snapshots.Added, func(*snapshots.Change) bool { return true }) {
		n := graphx.NodeID{Kind: c.Kind, ID: c.ID}
		if first, err := p.removeFirstIfItTakesTheName(n, c.DisplayName); err != nil || first {
			if err != nil {
				return err
			}
			continue
		}
		if !removableKinds[c.Kind] {
			p.warn(n, "%s %q (%s) was added since the snapshot; the plan leaves it in place", c.Kind, c.DisplayName, c.ID)
			continue
		}
		spec := entra.MustLookup(c.Kind)
		path := spec.ObjectPath(c.ID)
		if spec.Parent != "" {
			obj, err := p.live.decode(n)
			if err != nil {
				return err
			}
			parent, _ := obj[spec.ParentProperty].(string)
			path = strings.ReplaceAll(spec.Collection, "{parent}", parent) + "/" + c.ID
		}
		removed[n] = p.add(StageRemoveAdditions, Step{Kind: string(c.Kind), ObjectID: c.ID, DisplayName: c.DisplayName, Action: ActionRemoveObject,
			Requests: []Request{{Method: "DELETE", Path: path}}}, nil)
	}
	if err := p.locationsAfterTheirPolicies(removed); err != nil {
		return err
	}
	p.removeAddedSecrets()
	return nil
}

// locationsAfterTheirPolicies makes the deletion of an added named location wait on
// the deletion of the added policies that name it: Graph may refuse to delete a
// location a policy still references.
func (p *planner) locationsAfterTheirPolicies(removed map[graphx.NodeID]string) error {
	policies := map[string][]byte{} // removal step -> the added policy's JSON
	for n, step := range removed {
		if n.Kind != entra.KindConditionalAccessPolicy {
			continue
		}
		raw, err := p.liveObject(n.Kind, n.ID)
		if err != nil {
			return err
		}
		policies[step] = raw
	}
	for n, step := range removed {
		if n.Kind != entra.KindNamedLocation {
			continue
		}
		var deps []string
		for polStep, raw := range policies {
			if bytes.Contains(raw, []byte(`"`+n.ID+`"`)) {
				deps = append(deps, polStep)
			}
		}
		sort.Strings(deps)
		p.waitOn(StageRemoveAdditions, step, deps...)
	}
	return nil
}

func (p *planner) conditionalAccess() error {
	spec := entra.MustLookup(entra.KindConditionalAccessPolicy)
	reportOnly := func(path string) Request {
		return Request{Method: "PATCH", Path: path, Body: mustJSON(map[string]string{"state": CAReportOnly})}
	}
	type policy struct {
		n     graphx.NodeID
		step  string
		state string
	}
	var policies []policy
	targetState := func(n graphx.NodeID) string {
		obj, err := p.target.decode(n)
		if err != nil {
			return ""
		}
		s, _ := obj["state"].(string)
		return s
	}
	var nodes []graphx.NodeID
	kind := func(c *snapshots.Change) bool { return c.Kind == entra.KindConditionalAccessPolicy }
	for _, c := range p.sortedChanges(snapshots.SoftDeleted, kind) {
		nodes = append(nodes, graphx.NodeID{Kind: c.Kind, ID: c.ID})
	}
	for _, c := range p.sortedChanges(snapshots.HardDeleted, func(c *snapshots.Change) bool { return kind(c) && p.wasLive(c) }) {
		nodes = append(nodes, graphx.NodeID{Kind: c.Kind, ID: c.ID})
	}
	nodes = append(nodes, p.survivors(true)...)
	p.sortNodes(nodes)
	for _, n := range nodes {
		c := p.changes[n]
		name := p.displayName(n)
		var step Step
		switch {
		case c != nil && c.Change == snapshots.SoftDeleted:
			patch := reportOnly(spec.ObjectPath(n.ID))
			body, paths := p.binChanges(n)
			if body != nil {
				body["state"] = CAReportOnly
				patch.Body = mustJSON(body)
			}
			step = Step{Action: ActionRestore, Paths: paths, Requests: []Request{
				{Method: "POST", Path: "/identity/conditionalAccess/deletedItems/policies/" + n.ID + "/restore", Beta: true},
				patch,
			}}
		case c != nil && c.Change == snapshots.HardDeleted:
			obj, err := p.target.decode(n)
			if err != nil {
				return err
			}
			body := p.createBody(n.Kind, obj)
			body["state"] = CAReportOnly
			step = Step{Action: ActionRecreate, Requests: []Request{{Method: "POST", Path: spec.Collection, Body: mustJSON(body)}}}
		default:
			body, paths, err := p.patchFor(n)
			if err != nil {
				return err
			}
			if body == nil {
				continue
			}
			body["state"] = CAReportOnly
			step = Step{Action: ActionReportOnly, Paths: paths, Requests: []Request{{Method: "PATCH", Path: spec.ObjectPath(n.ID), Body: mustJSON(body)}}}
		}
		step.Kind, step.ObjectID, step.DisplayName, step.DependsOn = string(n.Kind), n.ID, name, p.deps(n)
		id := p.add(StageConditionalAccess, step, nil)
		if c != nil && c.Change == snapshots.HardDeleted {
			p.created[n] = id
		}
		policies = append(policies, policy{n: n, step: id, state: targetState(n)})
	}
	if len(policies) == 0 {
		return nil
	}
	var all []string
	for _, pol := range policies {
		all = append(all, pol.step)
	}
	lock := p.add(StageConditionalAccess, Step{Kind: string(entra.KindConditionalAccessPolicy), DisplayName: "no restored policy may lock out every administrator or the operator",
		Action: ActionLockoutCheck, DependsOn: all}, nil)
	for _, pol := range policies {
		if pol.state != "enabled" && pol.state != "disabled" {
			continue
		}
		p.add(StageConditionalAccess, Step{Kind: string(pol.n.Kind), ObjectID: pol.n.ID, DisplayName: p.displayName(pol.n), Action: ActionEnforce,
			DependsOn: []string{lock}, Requests: []Request{{Method: "PATCH", Path: p.objectPath(pol.n), Body: mustJSON(map[string]string{"state": pol.state})}}}, nil)
	}
	return nil
}

// danglingWarnings lists references of planned objects whose targets are in neither
// state: the property references the graph found dangling, and the links of the target
// whose other end it does not hold (the plan's graph leaves links out).
func (p *planner) danglingWarnings() {
	dangling := append(p.graph.Dangling(), p.target.dangling...)
	if len(dangling) == 0 {
		return // no need to gather the planned objects
	}
	planned := map[graphx.NodeID]bool{}
	for _, steps := range p.stages {
		for i := range steps {
			planned[stepObject(&steps[i])] = true
		}
	}
	for _, d := range dangling {
		if !planned[d.From] {
			continue
		}
		inLive := false
		for _, k := range d.Targets {
			if p.live.has(graphx.NodeID{Kind: k, ID: d.Value}) {
				inLive = true
			}
		}
		if !inLive {
			p.warn(d.From, "%s %q: %s %s points at an object missing from both the snapshot and the live tenant; it is kept as is",
				d.From.Kind, p.displayName(d.From), d.Relation, d.Value)
		}
	}
}

// finalWarnings returns the warnings about the plan's steps (and, for a scoped plan,
// only those about the scoped objects or the steps kept for them), sorted, with the
// users and applications that need a new password or secret.
func (p *planner) finalWarnings(scope []graphx.NodeID) []string {
	keep := map[graphx.NodeID]bool{}
	for _, n := range scope {
		keep[n] = true
	}
	var passwords, secrets []string
	for _, s := range p.stages[StageRecreate] {
		switch n := stepObject(&s); n.Kind {
		case entra.KindUser:
			passwords = append(passwords, fmt.Sprintf("%s (%s)", s.DisplayName, n.ID))
		case entra.KindApplication:
			secrets = append(secrets, fmt.Sprintf("%s (%s)", s.DisplayName, n.ID))
		}
	}
	if len(scope) > 0 {
		// Only a scoped plan filters its warnings.
		for _, steps := range p.stages {
			for i := range steps {
				keep[stepObject(&steps[i])] = true
			}
		}
	}
	out := []string{}
	for _, w := range p.warnings {
		if len(scope) == 0 || w.obj == (graphx.NodeID{}) || keep[w.obj] {
			out = append(out, w.text)
		}
	}
	if len(passwords) > 0 {
		out = append(out, "recreated users get a generated password, delivered out of band (Graph cannot restore passwords): "+strings.Join(passwords, ", "))
	}
	if len(secrets) > 0 {
		out = append(out, "recreated applications have no secrets or certificates; their owners need new ones: "+strings.Join(secrets, ", "))
	}
	sort.Strings(out)
	return uniq(out)
}

// partOfTarget are the references that make the referring object part of what an
// operator means by the target: the role assignments, app role assignments and
// delegated grants of a principal (its access), the service principal of an
// application (its enterprise app in the tenant), and a service principal's
// assignments and consents as resource and client (who may use it, what it may do).
var partOfTarget = map[string]bool{
	"role-principal": true, "app-role-principal": true, "grant-principal": true,
	"app-sp": true, "app-role-resource": true, "grant-client": true,
}

// withParts is the scope with the objects that are part of its objects (partOfTarget),
// found in the target's graph: a scoped principal comes back with its access (the
// role assignments, app role assignments and delegated grants it held are objects of
// their own that point at it, and a break-glass account recreated without its Global
// Administrator assignment is not what the operator asked for), a scoped application
// with its service principal and what that one holds.
func (p *planner) withParts(scope []graphx.NodeID) map[graphx.NodeID]bool {
	in := map[graphx.NodeID]bool{}
	todo := slices.Clone(scope)
	for len(todo) > 0 {
		n := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if in[n] {
			continue
		}
		in[n] = true
		for _, e := range p.graph.PropertyReferencedBy(n) {
			if partOfTarget[e.Relation] {
				todo = append(todo, e.From)
			}
		}
	}
	// Access granted since the snapshot is a part too, found on the live side: the
	// Global Administrator assignment an attacker gave a scoped user goes with the
	// user's restore (scoped verify counts it, so leaving it would fail every run).
	ids := make(map[string]bool, len(in))
	for n := range in {
		ids[n.ID] = true
	}
	for n, c := range p.changes {
		if c.Change != snapshots.Added || !partKinds[n.Kind] {
			continue
		}
		raw, err := p.liveObject(n.Kind, n.ID)
		if err != nil {
			continue // its removal step, if any, reports the object
		}
		if slices.ContainsFunc(partRefs(n.Kind, raw), func(id string) bool { return ids[id] }) {
			in[n] = true
		}
	}
	return in
}

// partKinds are the kinds with a reference in partOfTarget: the objects partRefs reads.
var partKinds = func() map[entra.Kind]bool {
	m := map[entra.Kind]bool{}
	for _, s := range entra.Specs() {
		for _, r := range s.References {
			if partOfTarget[r.Relation] {
				m[s.Kind] = true
			}
		}
	}
	return m
}()

// partRefs reads what an object's JSON names through its references in partOfTarget
// (an assignment's principal, a grant's principal and client, a service principal's
// appId): the objects it is part of. The plan finds those in the target's graph; this
// is for what only the live side holds, and for verify. The paths are top-level.
func partRefs(kind entra.Kind, raw []byte) []string {
	if !partKinds[kind] {
		return nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return nil
	}
	var out []string
	for _, r := range entra.MustLookup(kind).References {
		var v string
		if partOfTarget[r.Relation] && json.Unmarshal(obj[r.Path], &v) == nil && v != "" {
			out = append(out, v)
		}
	}
	return out
}

// narrow keeps the steps about the scoped objects and their parts (withParts), and the
// steps they depend on.
func (p *planner) narrow(scope []graphx.NodeID) {
	in := p.withParts(scope)
	byID := map[string]Step{}
	for _, steps := range p.stages {
		for _, s := range steps {
			byID[s.ID] = s
		}
	}
	keep := map[string]bool{}
	var visit func(id string)
	visit = func(id string) {
		if keep[id] {
			return
		}
		keep[id] = true
		if byID[id].Action == ActionLockoutCheck {
			return // its policies are filtered below, not pulled in
		}
		for _, d := range byID[id].DependsOn {
			visit(d)
		}
	}
	for id, s := range byID {
		t, hasTarget := stepTarget(&s)
		if in[stepObject(&s)] || (hasTarget && in[t]) {
			visit(id)
		}
	}
	// A scoped user's membership of a purged dynamic group comes back only with the
	// group: its rule, not a step, adds the member.
	for _, n := range scope {
		for _, h := range p.ruleHolders[n] {
			if id, ok := p.created[h]; ok {
				visit(id)
			} else if id, ok := p.restored[h]; ok {
				visit(id)
			}
		}
	}
	// An object the scope brings back because a scoped step needs it (the group a
	// policy excludes, the application of a service principal) comes back with its
	// own links too: a break-glass exclusion group recreated empty would put the
	// policy on the very accounts it excluded. One level only, so a scope does not
	// grow into the whole incident through the members' own links.
	pulled := map[graphx.NodeID]bool{}
	for id := range keep {
		s := byID[id]
		if n := stepObject(&s); (s.Action == ActionRecreate || s.Action == ActionRestore) && !in[n] {
			pulled[n] = true
		}
	}
	for id, s := range byID {
		if s.Action == ActionAddLink && pulled[stepObject(&s)] {
			visit(id)
		}
	}
	// The lockout check stays with any kept policy step and keeps only their ids.
	for name, steps := range p.stages {
		var out []Step
		for _, s := range steps {
			if s.Action == ActionLockoutCheck {
				var deps []string
				for _, d := range s.DependsOn {
					if keep[d] {
						deps = append(deps, d)
					}
				}
				if len(deps) == 0 && !keep[s.ID] {
					continue
				}
				s.DependsOn = nonNil(deps)
				keep[s.ID] = true
			}
			if keep[s.ID] {
				out = append(out, s)
			}
		}
		p.stages[name] = out
	}
}
