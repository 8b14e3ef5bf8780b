package tui

import (
	"fmt"
	"sort"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/lifelinehq/lifeline/snapshots"
)

// overview is the first screen: the tenant, the connection, the snapshots in the file
// and what changed between the last two.
type overview struct {
	env     *env
	width   int
	height  int
	cursor  int
	diff    *snapshots.DiffResult
	diffErr error
	diffing bool
	keys    listKeys
	refresh key.Binding
}

func newOverview(e *env) *overview {
	return &overview{env: e, keys: newListKeys(), refresh: key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "read the tenant again"))}
}

func (o *overview) Title() string { return "Overview" }

func (o *overview) SetSize(w, h int) { o.width, o.height = w, h }

func (o *overview) KeyMap() help.KeyMap {
	open := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "browse snapshot"))
	if o.env.live != nil {
		return keyMap{short: []key.Binding{o.keys.Up, o.keys.Down, open, o.refresh}, full: [][]key.Binding{{o.keys.Up, o.keys.Down, open, o.refresh}}}
	}
	return keyMap{short: []key.Binding{o.keys.Up, o.keys.Down, open}, full: [][]key.Binding{{o.keys.Up, o.keys.Down, open}}}
}

func (o *overview) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case storeLoadedMsg:
		n := len(o.env.snaps)
		o.cursor = max(n-1, 0)
		if n >= 2 && o.env.live == nil {
			o.diffing = true
			return o, loadDiff(o.env, o.env.snaps[n-2], o.env.snaps[n-1])
		}
	case diffLoadedMsg:
		n := len(o.env.snaps)
		if n >= 2 && !msg.live && msg.from == o.env.snaps[n-2].ID && msg.to == o.env.snaps[n-1].ID {
			o.diffing, o.diff, o.diffErr = false, msg.res, msg.err
		}
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, o.keys.Up):
			o.cursor = max(o.cursor-1, 0)
		case key.Matches(msg, o.keys.Down):
			o.cursor = min(o.cursor+1, max(len(o.env.snaps)-1, 0))
		case key.Matches(msg, o.refresh) && o.env.live != nil:
			return o, func() tea.Msg { return refreshMsg{} }
		case key.Matches(msg, o.keys.Open):
			if len(o.env.snaps) > 0 {
				id := o.env.snaps[o.cursor].ID
				return o, func() tea.Msg { return jumpMsg{name: "snapshots", then: showSnapshotMsg{snap: id}} }
			}
		}
	}
	return o, nil
}

func (o *overview) View() string {
	var b strings.Builder
	e := o.env
	if e.live != nil {
		b.WriteString(o.liveHeader())
	} else {
		fmt.Fprintf(&b, "%s %s\n", styles.title.Render("Tenant    "), nameOr(e.tenant, "…"))
		fmt.Fprintf(&b, "%s offline file: %s (read-only, no network)\n\n", styles.title.Render("Connection"), e.path)
	}
	fmt.Fprintf(&b, "%s\n", styles.header.Render(fmt.Sprintf("Snapshots (%d)", len(e.snaps))))
	if len(e.snaps) == 0 {
		b.WriteString("the file holds no snapshots yet\n")
	}
	// Snapshot rows: keep room for the diff summary below.
	room := max(o.height-3-strings.Count(o.headerText(), "\n")-o.diffHeight(), 2)
	off := scrollTo(0, o.cursor, room, len(e.snaps))
	if len(e.snaps) > 0 {
		b.WriteString(styles.faint.Render(pad(fmt.Sprintf("%4s  %-20s  %-16s  %8s  %6s  %7s  %s", "ID", "TAKEN AT (UTC)", "LABEL", "OBJECTS", "IN BIN", "LINKS", "BY KIND"), o.width)) + "\n")
	}
	for i := off; i < min(off+room-1, len(e.snaps)); i++ {
		s := e.snaps[i]
		line := pad(fmt.Sprintf("%4d  %-20s  %-16s  %8d  %6d  %7d  %s", s.ID, s.TakenAt.UTC().Format("2006-01-02 15:04:05Z"), clip(s.Label, 16),
			total(s.Counts), total(s.BinCounts), s.LinkCount, countsText(s)), o.width)
		if i == o.cursor {
			line = styles.selected.Render(line)
		}
		b.WriteString(line + "\n")
	}
	b.WriteString(o.diffView())
	return strings.TrimRight(b.String(), "\n")
}

func (o *overview) diffHeight() int { return strings.Count(o.diffView(), "\n") + 1 }

func (o *overview) headerText() string {
	if o.env.live != nil {
		return o.liveHeader()
	}
	return "\n\n\n"
}

func (o *overview) diffView() string {
	if o.env.live != nil {
		return o.incidentView()
	}
	n := len(o.env.snaps)
	if n < 2 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n", styles.header.Render(fmt.Sprintf("Changes from snapshot %d to %d", o.env.snaps[n-2].ID, o.env.snaps[n-1].ID)))
	switch {
	case o.diffing:
		b.WriteString("comparing…")
	case o.diffErr != nil:
		b.WriteString(styles.err.Render(o.diffErr.Error()))
	case o.diff == nil || len(o.diff.Changes) == 0:
		b.WriteString("no changes")
	default:
		for _, g := range groupChanges(o.diff.Changes) {
			var kinds []string
			for _, k := range g.kinds {
				kinds = append(kinds, fmt.Sprintf("%s %d", k.kind, len(k.idx)))
			}
			fmt.Fprintf(&b, "%-13s %5d  %s\n", strings.ReplaceAll(g.class, "_", " "), g.count, strings.Join(kinds, ", "))
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func countsText(s snapshots.Snapshot) string {
	keys := make([]string, 0, len(s.Counts))
	for k := range s.Counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, s.Counts[k]))
	}
	return strings.Join(parts, ", ")
}

// changeGroup is the changes of one class, by kind, in the order classes are read.
type changeGroup struct {
	class string
	count int
	kinds []kindGroup
}

type kindGroup struct {
	kind string
	idx  []int // indexes into the diff's changes
}

var classOrder = []string{snapshots.HardDeleted, snapshots.SoftDeleted, snapshots.Modified, snapshots.Added, snapshots.Restored}

func groupChanges(cs []snapshots.Change) []changeGroup {
	var out []changeGroup
	for _, class := range classOrder {
		byKind := map[string][]int{}
		for i, c := range cs {
			if c.Change == class {
				byKind[string(c.Kind)] = append(byKind[string(c.Kind)], i)
			}
		}
		if len(byKind) == 0 {
			continue
		}
		g := changeGroup{class: class}
		for k, idx := range byKind {
			g.kinds = append(g.kinds, kindGroup{kind: k, idx: idx})
			g.count += len(idx)
		}
		sort.Slice(g.kinds, func(i, j int) bool { return g.kinds[i].kind < g.kinds[j].kind })
		out = append(out, g)
	}
	return out
}

// liveHeader is the live session's first lines: the tenant, how it is reached, its
// recycle bin with the nearest purge, and the incident at a glance.
func (o *overview) liveHeader() string {
	e, l := o.env, o.env.live
	var b strings.Builder
	tenant := nameOr(e.tenant, "…")
	if l.domain != "" {
		tenant += " (" + l.domain + ")"
	}
	fmt.Fprintf(&b, "%s %s\n", styles.title.Render("Tenant     "), tenant)
	conn := e.connection() + ": " + l.url
	if e.readOnly {
		conn += " (read-only: no writes)"
	}
	if l.connErr != nil {
		conn += " · " + l.connErr.Error()
	}
	// These lines are sentences (an error, why the incident counts what it counts):
	// they wrap under their label rather than lose their end at the edge.
	const indent = 12
	fmt.Fprintf(&b, "%s %s\n", styles.title.Render("Connection "), hang(conn, o.width, indent))
	fmt.Fprintf(&b, "%s %s\n", styles.title.Render("Recycle bin"), hang(binLine(l), o.width, indent))
	fmt.Fprintf(&b, "%s %s\n\n", styles.title.Render("Incident   "), hang(o.incidentLine(), o.width, indent))
	return b.String()
}

// binLine counts the bin and names the object purged soonest.
func binLine(l *liveEnv) string {
	switch {
	case l.binErr != nil:
		return styles.err.Render(l.binErr.Error())
	case l.bin == nil:
		return "reading…"
	case len(l.bin.Items) == 0:
		return "empty"
	}
	it := l.bin.Items[0]
	return fmt.Sprintf("%d objects · nearest purge in %d days: %s %s", len(l.bin.Items), it.DaysLeft, it.Kind, nameOr(it.DisplayName, it.ID))
}

// incidentLine is the live diff's summary in one line.
func (o *overview) incidentLine() string {
	l := o.env.live
	switch {
	case l.liveErr != nil:
		return styles.err.Render(l.liveErr.Error())
	case l.incident == nil && l.capturing:
		return strings.TrimSpace("reading the tenant… " + l.read.text())
	case l.incident == nil:
		return "comparing…"
	}
	s := l.incident.Summary
	line := fmt.Sprintf("none: the tenant matches snapshot %d", l.incFrom)
	if len(l.incident.Changes) > 0 {
		line = fmt.Sprintf("%d changes since snapshot %d: %d hard-deleted, %d soft-deleted, %d modified, %d added",
			len(l.incident.Changes), l.incFrom, s.HardDeleted, s.SoftDeleted, s.Modified, s.Added)
		if l.incRecreated > 0 {
			line += fmt.Sprintf(" (%d of the hard-deleted were recreated by a restore, their copies among the added: :verify matches them)", l.incRecreated)
		}
	}
	if l.capturing {
		// A refresh: what was found stays until the new read replaces it.
		line += strings.TrimRight(" · reading the tenant again… "+l.read.text(), " ")
	}
	return line
}

// incidentView lists the live diff by class and kind.
func (o *overview) incidentView() string {
	l := o.env.live
	if l.incident == nil || len(l.incident.Changes) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n", styles.header.Render(fmt.Sprintf("Changes from snapshot %d to the live tenant (:diff to read them, :plan to undo them)", l.incFrom)))
	for _, g := range groupChanges(l.incident.Changes) {
		var kinds []string
		for _, k := range g.kinds {
			kinds = append(kinds, fmt.Sprintf("%s %d", k.kind, len(k.idx)))
		}
		fmt.Fprintf(&b, "%-13s %5d  %s\n", strings.ReplaceAll(g.class, "_", " "), g.count, strings.Join(kinds, ", "))
	}
	return strings.TrimRight(b.String(), "\n")
}
