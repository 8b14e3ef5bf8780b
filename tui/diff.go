package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
)

// diffScreen shows the changes between two snapshots of the file, grouped by class and
// kind; enter opens one change.
type diffScreen struct {
	env      *env
	from, to int // indexes into env.snaps
	// live makes the "to" side the live tenant (its latest capture) instead of snaps[to].
	live    bool
	loading bool
	err     error
	res     *snapshots.DiffResult
	copies  engine.Recreated // what a restore recreated
	lines   []diffLine
	cursor  int // index into lines; always on a change line when there is one
	offset  int
	width   int
	height  int
	keys    diffKeys

	filtering bool   // the filter input has focus
	filter    string // k9s-style: text in name or id, "!" inverts
}

type diffLine struct {
	// text is a heading's, or a change's details; a change's name and id are kept apart
	// so that the name column follows the width (nameWidth).
	text     string
	name, id string
	change   int // index into res.Changes, -1 for a heading
}

// nameWidth is the name column's: wider as the screen is, so that two long names
// ("role Global Administrator for …") can be told apart, with room left for the id and
// the details.
func (d *diffScreen) nameWidth() int { return min(max(d.width-70, 22), 48) }

type diffKeys struct {
	list                         listKeys
	FromOlder, FromNewer         key.Binding
	ToOlder, ToNewer, Dependents key.Binding
	Filter                       key.Binding
	Plan                         key.Binding
}

func newDiffScreen(e *env) *diffScreen {
	return &diffScreen{env: e, from: -1, to: -1, keys: diffKeys{
		list:       newListKeys(),
		FromOlder:  key.NewBinding(key.WithKeys("f"), key.WithHelp("f/F", "from older/newer")),
		FromNewer:  key.NewBinding(key.WithKeys("F")),
		ToOlder:    key.NewBinding(key.WithKeys("t"), key.WithHelp("t/T", "to older/newer")),
		ToNewer:    key.NewBinding(key.WithKeys("T")),
		Dependents: key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "dependencies")),
		Filter:     key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter (!inverts)")),
		Plan:       key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "plan the restore")),
	}}
}

func (d *diffScreen) Title() string { return "Diff" }

func (d *diffScreen) SetSize(w, h int) {
	d.width, d.height = w, h
	d.offset = scrollTo(d.offset, d.cursor, d.bodyHeight(), len(d.lines))
}

func (d *diffScreen) bodyHeight() int { return max(d.height-2, 1) }

func (d *diffScreen) KeyMap() help.KeyMap {
	k := d.keys
	if d.filtering {
		enter := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply filter"))
		esc := key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter"))
		return keyMap{short: []key.Binding{enter, esc}, full: [][]key.Binding{{enter, esc}}}
	}
	if d.live {
		plan := k.Plan
		if d.filter != "" {
			plan.SetHelp("p", "plan the filtered changes")
		}
		return keyMap{short: []key.Binding{k.list.Open, k.Filter, plan, k.FromOlder, k.ToOlder, k.Dependents},
			full: [][]key.Binding{k.list.moves(), {k.list.Open, k.Filter, plan, k.FromOlder, k.ToOlder, k.Dependents}}}
	}
	return keyMap{short: []key.Binding{k.list.Open, k.Filter, k.FromOlder, k.ToOlder, k.Dependents},
		full: [][]key.Binding{k.list.moves(), {k.list.Open, k.Filter, k.FromOlder, k.ToOlder, k.Dependents}}}
}

func (d *diffScreen) Capturing() bool { return d.filtering }

// Back clears an applied filter.
func (d *diffScreen) Back() bool {
	if d.filter == "" {
		return false
	}
	d.filter = ""
	d.build()
	return true
}

func (d *diffScreen) filterKey(msg tea.KeyPressMsg) {
	switch msg.String() {
	case "enter":
		d.filtering = false
		return
	case "esc":
		d.filtering = false
		d.Back()
		return
	case "backspace":
		r := []rune(d.filter)
		if len(r) == 0 {
			d.filtering = false
			return
		}
		d.filter = string(r[:len(r)-1])
	default:
		if msg.Text == "" {
			return
		}
		d.filter += msg.Text
	}
	d.build()
}

// plan opens the Plan screen on a restore back to the "from" snapshot: of the whole
// tenant, or, while a filter is applied, scoped to the changes it keeps (the plan adds
// what they depend on), so that what is planned is what the screen shows.
func (d *diffScreen) plan() tea.Cmd {
	snap := d.env.snaps[d.from].ID
	if parseQuery(d.filter).empty() {
		// No filter, or one that keeps everything (a lone "!").
		return func() tea.Msg { return jumpMsg{name: "plan", then: buildPlanMsg{snap: snap}} }
	}
	if d.res == nil {
		return func() tea.Msg { return statusMsg("the diff is still being read: p plans once it is shown") }
	}
	var scope []graphx.NodeID
	for _, l := range d.lines {
		if l.change >= 0 {
			c := &d.res.Changes[l.change]
			scope = append(scope, graphx.NodeID{Kind: c.Kind, ID: c.ID})
		}
	}
	if len(scope) == 0 {
		return func() tea.Msg {
			return statusMsg("no change matches the filter, so there is nothing to plan: esc clears it, and p then plans the whole restore")
		}
	}
	return func() tea.Msg { return jumpMsg{name: "plan", then: buildPlanMsg{snap: snap, scope: scope}} }
}

// keep reports whether a filter keeps a change.
func keep(c snapshots.Change, q query) bool {
	if q.empty() {
		return true
	}
	hit := strings.Contains(strings.ToLower(c.DisplayName), q.text) || strings.Contains(strings.ToLower(c.ID), q.text)
	return hit != q.invert
}

func (d *diffScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case storeLoadedMsg:
		n := len(d.env.snaps)
		if l := d.env.live; l != nil && n >= 1 {
			// Live, the diff that matters is the incident: the newest snapshot against
			// the tenant now. The root computes it once the capture is in.
			d.from, d.to, d.live, d.loading = n-1, n-1, true, true
			return d, nil
		}
		if n >= 2 {
			d.from, d.to = n-2, n-1
			return d, d.reload()
		}
	case liveCapturedMsg:
		if d.live && d.from >= 0 && d.env.live.state != nil {
			if d.from == len(d.env.snaps)-1 {
				d.loading, d.res, d.lines = true, nil, nil // the root's incident diff is coming
				return d, nil
			}
			return d, d.reload()
		}
	case diffLoadedMsg:
		if d.from < 0 || msg.live != d.live || msg.from != d.env.snaps[d.from].ID {
			return d, nil
		}
		if d.live && (d.env.live.state == nil || msg.to != d.env.live.state.Snapshot.ID) {
			return d, nil
		}
		if !d.live && msg.to != d.env.snaps[d.to].ID {
			return d, nil
		}
		d.loading, d.err, d.res, d.copies = false, msg.err, msg.res, msg.copies
		d.build()
	case tea.KeyPressMsg:
		if d.filtering {
			d.filterKey(msg)
			return d, nil
		}
		return d, d.key(msg)
	}
	return d, nil
}

func (d *diffScreen) reload() tea.Cmd {
	d.loading, d.res, d.lines, d.cursor, d.offset = true, nil, nil, 0, 0
	if d.live {
		if d.env.live.state == nil {
			return nil // the capture's arrival reloads
		}
		return liveDiff(d.env, d.env.snaps[d.from], *d.env.live.state)
	}
	return loadDiff(d.env, d.env.snaps[d.from], d.env.snaps[d.to])
}

func (d *diffScreen) key(msg tea.KeyPressMsg) tea.Cmd {
	k := d.keys
	n := len(d.env.snaps)
	if d.live && n >= 1 {
		from, live := d.from, true
		switch {
		case key.Matches(msg, k.FromOlder):
			from = max(from-1, 0)
		case key.Matches(msg, k.FromNewer):
			from = min(from+1, n-1)
		case key.Matches(msg, k.ToOlder):
			if n >= 2 {
				live, from = false, min(from, n-2)
				d.to = n - 1
			}
		case key.Matches(msg, k.Plan):
			if d.from >= 0 {
				return d.plan()
			}
		}
		if from != d.from || live != d.live {
			d.from, d.live = from, live
			return d.reload()
		}
	} else if n >= 2 {
		from, to := d.from, d.to
		if key.Matches(msg, k.ToNewer) && to == n-1 && d.env.live != nil {
			d.live = true
			return d.reload()
		}
		if key.Matches(msg, k.Plan) && d.env.live != nil {
			// A plan restores the tenant as it is now, not a snapshot: say how to get
			// the diff it would undo, rather than do nothing.
			return status(fmt.Sprintf("p plans against the live tenant, and this diff is between two snapshots: T until the right side is the live tenant, then p plans back to snapshot %d", d.env.snaps[from].ID))
		}
		switch {
		case key.Matches(msg, k.FromOlder):
			from = max(from-1, 0)
		case key.Matches(msg, k.FromNewer):
			from = min(from+1, to-1)
		case key.Matches(msg, k.ToOlder):
			to = max(to-1, from+1)
		case key.Matches(msg, k.ToNewer):
			to = min(to+1, n-1)
		}
		if from != d.from || to != d.to {
			d.from, d.to = from, to
			return d.reload()
		}
	}
	switch {
	case key.Matches(msg, k.Filter):
		d.filtering = true
	case key.Matches(msg, k.list.Up):
		d.step(-1)
	case key.Matches(msg, k.list.Down):
		d.step(1)
	case key.Matches(msg, k.list.PageUp):
		d.step(-d.bodyHeight())
	case key.Matches(msg, k.list.PageDown):
		d.step(d.bodyHeight())
	case key.Matches(msg, k.list.Top):
		d.step(-len(d.lines))
	case key.Matches(msg, k.list.Bottom):
		d.step(len(d.lines))
	case key.Matches(msg, k.list.Open):
		if c, ok := d.selected(); ok {
			return push(newChangeScreen(d.env, d.snapFor(c), c), nil)
		}
	case key.Matches(msg, k.Dependents):
		if c, ok := d.selected(); ok {
			return openGraph(d.env, d.snapFor(c), c.Kind, c.ID)
		}
	}
	return nil
}

// snapFor is the snapshot in which a change's object exists: the "to" side, unless it
// is gone there.
func (d *diffScreen) snapFor(c snapshots.Change) int64 {
	if c.Change == snapshots.HardDeleted || d.live {
		return d.env.snaps[d.from].ID
	}
	return d.env.snaps[d.to].ID
}

func (d *diffScreen) selected() (snapshots.Change, bool) {
	if d.res == nil || d.cursor >= len(d.lines) || d.lines[d.cursor].change < 0 {
		return snapshots.Change{}, false
	}
	return d.res.Changes[d.lines[d.cursor].change], true
}

// step moves the cursor by n change lines' worth, skipping headings.
func (d *diffScreen) step(n int) {
	if len(d.lines) == 0 {
		return
	}
	dir := 1
	if n < 0 {
		dir = -1
	}
	target := min(max(d.cursor+n, 0), len(d.lines)-1)
	for target >= 0 && target < len(d.lines) && d.lines[target].change < 0 {
		target += dir
	}
	if target < 0 || target >= len(d.lines) {
		// ran off the end: search the other way
		target = min(max(d.cursor+n, 0), len(d.lines)-1)
		for target >= 0 && target < len(d.lines) && d.lines[target].change < 0 {
			target -= dir
		}
	}
	if target >= 0 && target < len(d.lines) {
		d.cursor = target
	}
	d.offset = scrollTo(d.offset, d.cursor, d.bodyHeight(), len(d.lines))
	if d.cursor > 0 && d.offset == d.cursor && d.lines[d.cursor-1].change < 0 {
		d.offset-- // keep the heading in view
	}
}

func (d *diffScreen) build() {
	d.lines = nil
	if d.res == nil {
		return
	}
	q := parseQuery(d.filter)
	for _, g := range groupChanges(d.res.Changes) {
		for _, kg := range g.kinds {
			var kept []int
			for _, i := range kg.idx {
				if keep(d.res.Changes[i], q) {
					kept = append(kept, i)
				}
			}
			if len(kept) == 0 {
				continue
			}
			d.lines = append(d.lines, diffLine{text: fmt.Sprintf("%s · %s (%d)", strings.ReplaceAll(g.class, "_", " "), kg.kind, len(kept)), change: -1})
			for _, i := range kept {
				c := d.res.Changes[i]
				var detail []string
				if len(c.Properties) > 0 || len(c.Links) > 0 {
					detail = append(detail, fmt.Sprintf("props %d · links %d", len(c.Properties), len(c.Links)))
				}
				if c.Actor != nil {
					detail = append(detail, "by "+*c.Actor)
				}
				if twin := d.copies.Twin(c); twin != "" && c.Change == snapshots.HardDeleted {
					detail = append(detail, "recreated by a restore as "+twin)
				} else if twin != "" {
					detail = append(detail, "a restore's copy of "+twin)
				}
				d.lines = append(d.lines, diffLine{name: nameOr(c.DisplayName, c.ID), id: c.ID, text: strings.Join(detail, " · "), change: i})
			}
		}
	}
	d.cursor = 0
	d.step(0)
	if len(d.lines) > 1 && d.lines[0].change < 0 {
		d.cursor = 1
	}
	d.offset = 0
}

func (d *diffScreen) View() string {
	var b strings.Builder
	n := len(d.env.snaps)
	switch {
	case d.live:
		f := d.env.snaps[d.from]
		fmt.Fprintf(&b, "%s snapshot %d (%s) → the live tenant\n", styles.title.Render("Diff"), f.ID, f.TakenAt.UTC().Format(time.DateTime))
	case d.env.live != nil && n == 1:
		return "Reading the live tenant to compare it with snapshot " + fmt.Sprint(d.env.snaps[0].ID) + "…"
	case n < 2 || d.from < 0:
		return "The file holds " + fmt.Sprint(n) + " snapshot(s): a diff needs two."
	default:
		f, t := d.env.snaps[d.from], d.env.snaps[d.to]
		fmt.Fprintf(&b, "%s snapshot %d (%s) → snapshot %d (%s)\n", styles.title.Render("Diff"), f.ID, f.TakenAt.UTC().Format(time.DateTime), t.ID, t.TakenAt.UTC().Format(time.DateTime))
	}
	switch {
	case d.loading:
		b.WriteString("comparing…")
		return b.String()
	case d.err != nil:
		b.WriteString(styles.err.Render(d.err.Error()))
		return b.String()
	case d.res == nil || len(d.res.Changes) == 0:
		b.WriteString("no changes")
		return b.String()
	}
	// The filter comes first so that narrow terminals still show it.
	switch {
	case d.filtering:
		b.WriteString("/" + d.filter + "█   ")
	case d.filter != "":
		b.WriteString("filter: /" + d.filter + "   ")
	}
	if d.filter != "" {
		// The totals after it are the whole diff's: say how many the filter keeps.
		shown := 0
		for _, l := range d.lines {
			if l.change >= 0 {
				shown++
			}
		}
		b.WriteString(fmt.Sprintf("%d of %d changes shown · ", shown, len(d.res.Changes)))
	}
	s := d.res.Summary
	b.WriteString(styles.faint.Render(fmt.Sprintf("%d added · %d modified · %d soft-deleted · %d hard-deleted · %d restored", s.Added, s.Modified, s.SoftDeleted, s.HardDeleted, s.Restored)))
	if len(d.lines) == 0 {
		b.WriteString("\nno change matches the filter")
	}
	end := min(d.offset+d.bodyHeight(), len(d.lines))
	for i := d.offset; i < end; i++ {
		l := d.lines[i]
		text := l.text
		if l.change >= 0 {
			text = fmt.Sprintf("  %s %-36s %s", pad(l.name, d.nameWidth()), l.id, l.text)
		}
		switch {
		case l.change < 0:
			text = styles.header.Render(text)
		case i == d.cursor:
			text = styles.selected.Render(pad(text, d.width))
		}
		b.WriteString("\n" + text)
	}
	return b.String()
}

// changeScreen shows one change: property changes (path, before, after), link changes,
// and who made it when, if the audit log says.
type changeScreen struct {
	env   *env
	snap  int64
	c     snapshots.Change
	pager pager
	keys  listKeys
	graph key.Binding
}

func newChangeScreen(e *env, snap int64, c snapshots.Change) *changeScreen {
	s := &changeScreen{env: e, snap: snap, c: c, keys: newListKeys(),
		graph: key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "dependencies"))}
	s.pager.setText(s.render())
	return s
}

func (s *changeScreen) Title() string {
	return fmt.Sprintf("%s %s", s.c.Kind, nameOr(s.c.DisplayName, s.c.ID))
}

func (s *changeScreen) SetSize(w, h int) { s.pager.setSize(w, h) }

func (s *changeScreen) KeyMap() help.KeyMap {
	return keyMap{short: []key.Binding{s.keys.Up, s.keys.Down, s.graph}, full: [][]key.Binding{s.keys.moves(), {s.graph}}}
}

func (s *changeScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		if key.Matches(k, s.graph) {
			return s, openGraph(s.env, s.snap, s.c.Kind, s.c.ID)
		}
		s.pager.update(k, s.keys)
	}
	return s, nil
}

func (s *changeScreen) View() string { return s.pager.view() }

func (s *changeScreen) render() string {
	c := s.c
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s\n", styles.title.Render(s.Title()), styles.faint.Render(c.ID))
	fmt.Fprintf(&b, "change: %s\n", strings.ReplaceAll(c.Change, "_", " "))
	actor, at := "unknown", "unknown"
	if c.Actor != nil {
		actor = *c.Actor
	}
	if c.At != nil {
		at = c.At.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(&b, "actor:  %s\ntime:   %s\n", actor, at)
	if c.Activity != nil {
		fmt.Fprintf(&b, "audit:  %s\n", *c.Activity)
	}
	if c.Evidence != "" {
		fmt.Fprintf(&b, "source: %s\n", c.Evidence)
	}
	b.WriteString("\n" + styles.header.Render(fmt.Sprintf("Properties (%d)", len(c.Properties))) + "\n")
	for _, p := range c.Properties {
		fmt.Fprintf(&b, "%s\n  before: %s\n  after:  %s\n", p.Path, snapshots.FormatValue(p.Before), snapshots.FormatValue(p.After))
	}
	b.WriteString("\n" + styles.header.Render(fmt.Sprintf("Links (%d)", len(c.Links))) + "\n")
	for _, l := range c.Links {
		sign := "+"
		if l.Change == "removed" {
			sign = "-"
		}
		fmt.Fprintf(&b, "%s %s  %s %s\n", sign, l.Relation, l.TargetKind, l.TargetID)
	}
	return strings.TrimRight(b.String(), "\n")
}
