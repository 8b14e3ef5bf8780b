package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
)

// buildPlanMsg asks the Plan screen to build a plan back to a snapshot, scoped to some
// objects or whole (empty scope).
type buildPlanMsg struct {
	snap  int64
	scope []graphx.NodeID
}

// planBuiltMsg is a built plan; tag drops the answers of builds asked for earlier.
type planBuiltMsg struct {
	tag  int
	plan *engine.Plan
	err  error
}

// buildPlan captures the tenant afresh (the plan's fingerprint must be the tenant's as it
// is now, or apply refuses it) and builds the plan back to snap.
func buildPlan(e *env, tag int, snap snapshots.Snapshot, scope []graphx.NodeID, observe func(snapshots.CaptureProgress)) tea.Cmd {
	store, client, now := e.store, e.live.client, e.now()
	if client == nil {
		return nil
	}
	ctx := e.live.readContext("plan")
	return func() tea.Msg {
		live, cleanup, err := engine.CaptureLive(ctx, client, snap.TenantID, observe)
		if err != nil {
			return planBuiltMsg{tag: tag, err: err}
		}
		defer cleanup()
		plan, err := engine.BuildPlan(ctx, snapshots.State{Store: store, Snapshot: snap}, live, engine.PlanOptions{Scope: scope, Now: now})
		return planBuiltMsg{tag: tag, plan: plan, err: err}
	}
}

// planSavedMsg says where a plan was written, and which version of it: key is the
// Plan screen's exclusionKey when s was pressed.
type planSavedMsg struct {
	path string
	key  string
	err  error
}

// savePlan writes the plan as the CLI does: indented JSON, mode 0600 (a plan holds the
// tenant's objects), with DB naming the snapshot file so 'lifeline apply' finds it. It
// replaces only an earlier plan (engine.CheckPlanDestination).
func savePlan(plan *engine.Plan, path, key string) tea.Cmd {
	return func() tea.Msg {
		if err := engine.CheckPlanDestination(path); err != nil {
			return planSavedMsg{path: path, key: key, err: err}
		}
		var b bytes.Buffer
		err := engine.WritePlanJSON(&b, plan)
		if err == nil {
			err = os.WriteFile(path, b.Bytes(), 0o600)
		}
		if err == nil {
			err = os.Chmod(path, 0o600) // WriteFile keeps an existing file's mode
		}
		return planSavedMsg{path: path, key: key, err: err}
	}
}

// planLine is one row of the plan: a stage heading (step < 0) or a step.
type planLine struct {
	stage, step int
}

// planScreen shows a plan by stage; space takes a step (with what depends on it) or a
// whole stage out of the run, s saves it and a goes on to apply it.
type planScreen struct {
	env      *env
	width    int
	height   int
	tag      int
	building bool
	read     tenantRead // the capture a build starts with
	err      error
	snap     int64
	scope    []graphx.NodeID
	plan     *engine.Plan
	excluded map[string]bool
	// dependents and byID index the plan's steps; verify depends on every step and is
	// left out of dependents, so excluding a step never excludes verify.
	dependents map[string][]string
	byID       map[string]*engine.Step
	names      map[string]string // object id -> display name, for link targets
	lines      []planLine
	cursor     int
	offset     int
	note       string // what the last toggle did, in one sentence
	saved      string // where the plan was last saved
	// savedKey is the exclusionKey of the version saved: a step taken out or put back
	// after saving makes the plan on the screen a different one from the file's.
	savedKey string
	keys     planKeys
}

type planKeys struct {
	list     listKeys
	Mark     key.Binding
	Save     key.Binding
	Apply    key.Binding
	Build    key.Binding
	Open     key.Binding
	Warnings key.Binding
}

func newPlanScreen(e *env) *planScreen {
	return &planScreen{env: e, excluded: map[string]bool{}, keys: planKeys{
		list:     newListKeys(),
		Mark:     key.NewBinding(key.WithKeys("space"), key.WithHelp("space", "take in/out")),
		Save:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "save PLAN.json")),
		Apply:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "apply")),
		Build:    key.NewBinding(key.WithKeys("b"), key.WithHelp("b", "build whole plan")),
		Open:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "step in full")),
		Warnings: key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "warnings in full")),
	}}
}

// Title names the screen.
func (p *planScreen) Title() string { return "Plan" }

// SetSize keeps the cursor in view.
func (p *planScreen) SetSize(w, h int) {
	p.width, p.height = w, h
	p.offset = scrollTo(p.offset, p.cursor, p.listHeight(), len(p.lines))
}

// KeyMap shows save and apply as refused when the session may not write.
func (p *planScreen) KeyMap() help.KeyMap {
	if p.env.live == nil {
		return keyMap{} // offline: none of its keys can do anything, so the help lists none
	}
	k := p.keys
	save, apply := k.Save, k.Apply
	if p.env.readOnly {
		save = key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "save (read-only: no writes)"))
		apply = key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "apply (read-only: no writes)"))
	}
	return keyMap{short: []key.Binding{k.Mark, save, apply, k.Build, k.Open, k.Warnings},
		full: [][]key.Binding{k.list.moves(), {k.Mark, save, apply, k.Build, k.Open, k.Warnings}}}
}

// Update handles builds and keys.
func (p *planScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case buildPlanMsg:
		return p, p.build(msg.snap, msg.scope)
	case planBuiltMsg:
		if msg.tag != p.tag {
			return p, nil
		}
		p.building, p.err = false, msg.err
		p.read.end()
		if msg.err == nil {
			p.setPlan(msg.plan)
		}
	case readingTickMsg:
		return p, p.read.onTick(msg)
	case planSavedMsg:
		if msg.err != nil {
			return p, status("saving the plan: " + msg.err.Error())
		}
		p.saved, p.savedKey = msg.path, msg.key
		return p, status("plan saved to " + msg.path)
	case tea.KeyPressMsg:
		return p, p.key(msg)
	}
	return p, nil
}

func status(s string) tea.Cmd { return func() tea.Msg { return statusMsg(s) } }

func (p *planScreen) build(snap int64, scope []graphx.NodeID) tea.Cmd {
	if p.env.live == nil {
		p.err = fmt.Errorf("a plan is built against the live tenant: this session is offline; open the console with --graph-url")
		return nil
	}
	s, ok := p.env.snapshot(snap)
	if !ok {
		p.err = fmt.Errorf("the file holds no snapshot %d", snap)
		return nil
	}
	p.tag++
	p.building, p.err, p.snap, p.scope, p.plan, p.lines = true, nil, snap, scope, nil, nil
	observe, tick := p.read.begin("plan", p.env.now)
	build := buildPlan(p.env, p.tag, s, scope, observe)
	if build == nil {
		p.read.end() // no tenant to read: nothing to follow
		return nil
	}
	return tea.Batch(build, tick)
}

func (p *planScreen) setPlan(plan *engine.Plan) {
	p.plan, p.excluded, p.note, p.saved, p.savedKey = plan, map[string]bool{}, "", "", ""
	p.dependents, p.byID, p.names = map[string][]string{}, map[string]*engine.Step{}, map[string]string{}
	p.lines = p.lines[:0]
	for si := range plan.Stages {
		st := &plan.Stages[si]
		p.lines = append(p.lines, planLine{stage: si, step: -1})
		for i := range st.Steps {
			s := &st.Steps[i]
			p.byID[s.ID] = s
			if s.Link == "" && s.DisplayName != "" {
				p.names[s.ObjectID] = s.DisplayName
			}
			p.lines = append(p.lines, planLine{stage: si, step: i})
			if s.Action == engine.ActionVerify {
				continue
			}
			for _, d := range s.DependsOn {
				p.dependents[d] = append(p.dependents[d], s.ID)
			}
		}
	}
	p.cursor, p.offset = 0, 0
}

func (p *planScreen) key(msg tea.KeyPressMsg) tea.Cmd {
	k := p.keys
	move := func(n int) {
		p.cursor = min(max(p.cursor+n, 0), max(len(p.lines)-1, 0))
		p.offset = scrollTo(p.offset, p.cursor, p.listHeight(), len(p.lines))
	}
	switch {
	case key.Matches(msg, k.Mark):
		if p.plan != nil && p.cursor < len(p.lines) {
			p.toggle(p.lines[p.cursor])
		}
	case key.Matches(msg, k.Build):
		if s, ok := p.env.latest(); ok {
			return p.build(s.ID, nil)
		}
	case key.Matches(msg, k.Open):
		if p.plan != nil && p.cursor < len(p.lines) && p.lines[p.cursor].step >= 0 {
			l := p.lines[p.cursor]
			s := p.plan.Stages[l.stage].Steps[l.step]
			return push(newTextScreen(fmt.Sprintf("%s %s %s", s.Action, s.Kind, nameOr(s.DisplayName, s.ObjectID)), p.stepText(&s)), nil)
		}
	case key.Matches(msg, k.Warnings):
		if p.plan == nil || len(p.plan.Warnings) == 0 {
			return status("the plan has no warnings")
		}
		return push(newTextScreen(fmt.Sprintf("Plan warnings (%d)", len(p.plan.Warnings)), "⚠ "+strings.Join(p.plan.Warnings, "\n\n⚠ ")), nil)
	case key.Matches(msg, k.Save):
		switch {
		case p.env.readOnly:
			return status("read-only: no writes")
		case p.plan == nil:
			return status("no plan to save yet")
		}
		plan := p.effective()
		plan.DB = p.env.dbPath()
		return savePlan(plan, p.env.sideFile("PLAN.json"), p.exclusionKey())
	case key.Matches(msg, k.Apply):
		switch {
		case p.env.readOnly:
			return status("read-only: no writes")
		case p.building:
			// Not "no plan": the operator who typed a while it builds is waiting for it.
			return status("the plan is still being built: a applies it once it is on the screen")
		case p.plan == nil:
			return status("no plan to apply yet: build one (b, or enter on the recycle bin)")
		}
		plan := p.effective()
		plan.DB = p.env.dbPath()
		// Only the file that holds exactly this plan is named to the journal and to
		// the operator as resumable; an earlier version of it would be refused as stale.
		c := confirmMsg{plan: plan, path: p.savedPath(), key: p.exclusionKey()}
		if c.path == "" {
			c.differs = p.saved
		}
		if onlyVerify(plan) {
			return status("nothing to apply: every step but verify is taken out (space puts steps back; v on the Verify screen checks the tenant)")
		}
		return confirmUnlessApplied(p.env.store, c)
	case key.Matches(msg, k.list.Up):
		move(-1)
	case key.Matches(msg, k.list.Down):
		move(1)
	case key.Matches(msg, k.list.PageUp):
		move(-p.listHeight())
	case key.Matches(msg, k.list.PageDown):
		move(p.listHeight())
	case key.Matches(msg, k.list.Top):
		move(-len(p.lines))
	case key.Matches(msg, k.list.Bottom):
		move(len(p.lines))
	}
	return nil
}

// toggle takes a step or a stage out of the run, with every step that depends on it
// (they could not run), or puts it back with every step it needs.
func (p *planScreen) toggle(l planLine) {
	st := p.plan.Stages[l.stage]
	var ids []string
	if l.step >= 0 {
		ids = []string{st.Steps[l.step].ID}
	} else {
		for _, s := range st.Steps {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) == 0 {
		return
	}
	out := false // take out when any of them is in
	for _, id := range ids {
		if !p.excluded[id] {
			out = true
		}
	}
	what := st.Name + " stage"
	if l.step >= 0 {
		s := st.Steps[l.step]
		what = s.Action + " " + nameOr(s.DisplayName, s.ObjectID)
	}
	// The note counts the other steps whose state changed, not those already there.
	changing := 0
	for _, id := range ids {
		if p.excluded[id] != out {
			changing++
		}
	}
	if out {
		n := p.closure(ids, func(id string) []string { return p.dependents[id] }, true)
		n += p.dropOrphanDeletes()
		p.note = "took out " + what
		if extra := n - changing; extra > 0 {
			p.note += ", and " + plural(extra, "step that depends", "steps that depend") + " on it"
		}
		return
	}
	// Putting back is the mirror of taking out: the steps that went out with it come
	// back, and so does every step any of them needs.
	var back []string
	p.walk(ids, func(id string) []string { return p.dependents[id] }, func(id string) { back = append(back, id) })
	n := p.closure(back, func(id string) []string { return p.byID[id].DependsOn }, false)
	p.note = "put back " + what
	if extra := n - changing; extra > 0 {
		p.note += ", and " + plural(extra, "step that goes", "steps that go") + " with it"
	}
}

// dropOrphanDeletes takes out the deletes that only made room for a step now out: a
// replaced role assignment is deleted, then created again, and a delete without its
// create would leave the assignment gone. It returns how many it took out.
func (p *planScreen) dropOrphanDeletes() int {
	n := 0
	for id, s := range p.byID {
		if s.Action != engine.ActionRemoveObject || p.excluded[id] {
			continue
		}
		waiting, out := 0, 0 // the steps that wait for the delete (verify aside)
		for _, d := range p.dependents[id] {
			if p.byID[d] == nil || p.byID[d].Action == engine.ActionVerify {
				continue
			}
			waiting++
			if p.excluded[d] {
				out++
			}
		}
		if waiting > 0 && out == waiting {
			p.excluded[id] = true
			n++
		}
	}
	return n
}

// walk visits ids and everything next reaches from them, once each.
func (p *planScreen) walk(ids []string, next func(string) []string, visit func(string)) {
	seen := map[string]bool{}
	queue := append([]string{}, ids...)
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if seen[id] || p.byID[id] == nil {
			continue
		}
		seen[id] = true
		visit(id)
		queue = append(queue, next(id)...)
	}
}

// closure sets excluded=out on ids and everything next reaches from them, and counts
// the steps whose state it changed.
func (p *planScreen) closure(ids []string, next func(string) []string, out bool) int {
	n := 0
	p.walk(ids, func(id string) []string {
		if !out && p.byID[id].Action == engine.ActionVerify {
			return nil // verify needs every step in name only: putting it back brings none
		}
		return next(id)
	}, func(id string) {
		if p.excluded[id] != out {
			n++
		}
		if out {
			p.excluded[id] = true
		} else {
			delete(p.excluded, id)
		}
	})
	return n
}

// onlyVerify reports whether the plan has nothing to write: no step but verify.
func onlyVerify(plan *engine.Plan) bool {
	for _, st := range plan.Stages {
		for _, s := range st.Steps {
			if s.Action != engine.ActionVerify {
				return false
			}
		}
	}
	return true
}

// confirmUnlessApplied opens the confirmation of the plan, unless the journal says it
// was applied completely already: apply would refuse it, and typing the domain first
// only to be refused wastes the operator's time. It reads the journal as apply does
// (the run finished, every step done); when the journal cannot be read, apply decides.
func confirmUnlessApplied(store *snapshots.Store, c confirmMsg) tea.Cmd {
	return func() tea.Msg {
		if store != nil {
			if at, done, err := engine.AppliedCompletely(context.Background(), store, c.plan); err == nil && done {
				return statusMsg(fmt.Sprintf("this plan was applied completely on %s, so there is nothing to send: v on the Verify screen checks the tenant now, and b builds a new plan to restore it again",
					at.UTC().Format(time.DateTime+" MST")))
			}
		}
		return jumpMsg{name: "run", then: c}
	}
}

// exclusionKey names the version of the plan on the screen: the build and the steps
// taken out. Two versions with the same key are the same plan.
func (p *planScreen) exclusionKey() string {
	ids := make([]string, 0, len(p.excluded))
	for id, out := range p.excluded {
		if out {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return fmt.Sprint(p.tag) + "\x00" + strings.Join(ids, "\x00")
}

// savedPath is where the plan on the screen is saved, or "" when it is not: never
// saved, or changed since.
func (p *planScreen) savedPath() string {
	if p.saved != "" && p.savedKey == p.exclusionKey() {
		return p.saved
	}
	return ""
}

// effective is the plan as the operator left it: excluded steps removed, and verify's
// dependencies narrowed to the steps that remain.
func (p *planScreen) effective() *engine.Plan {
	c := *p.plan
	c.Stages = make([]engine.Stage, 0, len(p.plan.Stages))
	for _, st := range p.plan.Stages {
		ns := engine.Stage{Name: st.Name, Steps: []engine.Step{}}
		for _, s := range st.Steps {
			if p.excluded[s.ID] {
				continue
			}
			deps := make([]string, 0, len(s.DependsOn))
			for _, d := range s.DependsOn {
				if !p.excluded[d] {
					deps = append(deps, d)
				}
			}
			s.DependsOn = deps
			ns.Steps = append(ns.Steps, s)
		}
		c.Stages = append(c.Stages, ns)
	}
	c.Summary = engine.Summarize(c.Stages, p.plan.Summary.WithoutRemovals)
	return &c
}

func (p *planScreen) headerLines() []string {
	pl := p.plan
	var out []string
	total, in := 0, 0
	for _, st := range pl.Stages {
		for _, s := range st.Steps {
			total++
			if !p.excluded[s.ID] {
				in++
			}
		}
	}
	sum := engine.Summarize(p.effective().Stages, pl.Summary.WithoutRemovals)
	out = append(out, fmt.Sprintf("%s restore tenant %s to snapshot %d · built %s · %d of %d steps in",
		styles.title.Render("Plan"), pl.TenantID, pl.Snapshot, pl.BuiltAt.UTC().Format(time.DateTime), in, total))
	scope := ""
	if len(p.scope) > 0 {
		scope = " · scoped to " + plural(len(p.scope), "object", "objects")
	}
	out = append(out, fmt.Sprintf("%d from the bin · %d to recreate · %d links, %d to check · %d properties · %d removals · %s%s",
		sum.RestoreFromBin, sum.Recreate, sum.Links, sum.LinksToCheck, sum.Properties, sum.Removals, plural(sum.CAPolicies, "CA policy", "CA policies"), scope))
	room := 1
	if p.height >= 30 {
		room = 3
	}
	for i, w := range pl.Warnings {
		if i == room {
			out = append(out, styles.faint.Render(fmt.Sprintf("  … and %d more warnings", len(pl.Warnings)-room)))
			break
		}
		out = append(out, "⚠ "+w)
	}
	if p.hasLockoutCheck() {
		// The verdict is what decides whether the policies may leave report-only: it
		// gets lines of its own, whole, not the end of a step's row.
		out = append(out, strings.Split(hang("Lockout check: "+p.lockoutVerdict(), p.width, 2), "\n")...)
	}
	var last []string
	if p.note != "" {
		last = append(last, p.note)
	}
	switch {
	case p.savedPath() != "":
		last = append(last, "saved to "+p.saved)
	case p.saved != "":
		last = append(last, styles.err.Render("changed since it was saved to "+p.saved+" (s saves this version)"))
	}
	switch {
	case len(last) > 0:
		out = append(out, strings.Join(last, " · "))
	default:
		out = append(out, styles.faint.Render("space takes a step or a stage out (with what depends on it) or puts it back"))
	}
	return out
}

func (p *planScreen) listHeight() int {
	if p.plan == nil {
		return max(p.height, 1)
	}
	return max(p.height-len(p.headerLines()), 1)
}

// stepText is a step in full: what it does, what it waits for, and the requests it
// sends with their bodies.
func (p *planScreen) stepText(s *engine.Step) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\nobject %s · step %s\n", s.Action, s.Kind, nameOr(s.DisplayName, s.ObjectID), s.ObjectID, s.ID)
	if s.Link != "" {
		fmt.Fprintf(&b, "link %s → %s %s (%s)\n", s.Link, s.TargetKind, s.TargetID, p.targetName(*s))
	}
	if len(s.Paths) > 0 {
		fmt.Fprintf(&b, "properties %s\n", strings.Join(s.Paths, ", "))
	}
	if s.IfMissing {
		b.WriteString("added only if still missing: a restore from the bin usually brings it back\n")
	}
	if s.Action == engine.ActionLockoutCheck {
		fmt.Fprintf(&b, "lockout check: %s\n", p.lockoutVerdict())
	}
	if len(s.DependsOn) > 0 {
		fmt.Fprintf(&b, "waits for %s\n", strings.Join(s.DependsOn, ", "))
	}
	for _, r := range s.Requests {
		fmt.Fprintf(&b, "\n%s %s\n", r.Method, r.Path)
		var pretty bytes.Buffer
		if len(r.Body) > 0 && json.Indent(&pretty, r.Body, "", "  ") == nil {
			b.WriteString(pretty.String() + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// hasLockoutCheck reports whether the plan checks for lockouts (it changes Conditional
// Access). It runs on every render, so it reads the Conditional Access stage alone, not
// a mass restore's thousands of steps before it.
func (p *planScreen) hasLockoutCheck() bool {
	for _, st := range p.plan.Stages {
		if st.Name != engine.StageConditionalAccess {
			continue
		}
		for _, s := range st.Steps {
			if s.Action == engine.ActionLockoutCheck {
				return true
			}
		}
	}
	return false
}

// lockoutVerdict says what the lockout check found: pending until a run of this very
// version of the plan reaches it. Another version's verdict is not shown: a rebuilt
// plan checks the tenant as it is now, and a plan with a policy step taken out checks
// other policies, so "passed" there could be false here.
func (p *planScreen) lockoutVerdict() string {
	if l := p.env.live; l != nil && l.lockout != "" && l.lockoutKey == p.exclusionKey() {
		return l.lockout
	}
	return "pending: runs during apply, before any policy leaves report-only"
}

// View renders the plan.
func (p *planScreen) View() string {
	switch {
	case p.env.live == nil:
		return "A plan is built against the live tenant: this session is offline.\nOpen the console with --graph-url (or LIFELINE_GRAPH_URL) to plan a restore."
	case p.building:
		what := "the whole tenant"
		if len(p.scope) > 0 {
			what = plural(len(p.scope), "object", "objects")
		}
		line := fmt.Sprintf("Reading the tenant and building the plan back to snapshot %d for %s…", p.snap, what)
		if t := p.read.text(); t != "" {
			line += "\n" + t
		}
		return line
	case p.err != nil:
		return styles.err.Render(wrap("building the plan: "+p.err.Error(), p.width))
	case p.plan == nil:
		return "No plan yet.\n\nPress b to plan the restore of the whole tenant to the newest snapshot,\np on the Diff screen to plan back to the snapshot shown there, or\nmark objects on the Recycle bin screen and press enter to restore only those."
	}
	var b strings.Builder
	for _, h := range p.headerLines() {
		b.WriteString(clip(h, p.width) + "\n")
	}
	end := min(p.offset+p.listHeight(), len(p.lines))
	for i := p.offset; i < end; i++ {
		l := p.lines[i]
		st := p.plan.Stages[l.stage]
		var line string
		if l.step < 0 {
			in := 0
			for _, s := range st.Steps {
				if !p.excluded[s.ID] {
					in++
				}
			}
			box := "[x]"
			switch {
			case in == 0 && len(st.Steps) > 0:
				box = "[ ]"
			case in < len(st.Steps):
				box = "[-]"
			}
			line = fmt.Sprintf("%s %-20s %s", box, st.Name, plural(len(st.Steps), "step", "steps"))
			if in < len(st.Steps) {
				line += fmt.Sprintf(" (%d in)", in)
			}
			line = styles.header.Render(line)
		} else {
			s := st.Steps[l.step]
			box := "[x]"
			if p.excluded[s.ID] {
				box = "[ ]"
			}
			what := fmt.Sprintf("%-13s %s %s", s.Action, s.Kind, nameOr(s.DisplayName, s.ObjectID))
			if s.Link != "" {
				what += fmt.Sprintf(" · %s → %s %s", s.Link, s.TargetKind, p.targetName(s))
			}
			if len(s.Paths) > 0 {
				what += " · " + strings.Join(s.Paths, ", ")
			}
			if s.Action == engine.ActionLockoutCheck {
				what += " · " + p.lockoutVerdict()
			}
			line = "  " + box + " " + what
		}
		if i == p.cursor {
			line = styles.selected.Render(pad(line, p.width))
		}
		b.WriteString(clip(line, p.width) + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// targetName names a link step's target when the plan has a step for it.
func (p *planScreen) targetName(s engine.Step) string { return nameOr(p.names[s.TargetID], s.TargetID) }

// plural counts n things in the right number.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
