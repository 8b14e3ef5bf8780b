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
}

func newOverview(e *env) *overview { return &overview{env: e, keys: newListKeys()} }

func (o *overview) Title() string { return "Overview" }

func (o *overview) SetSize(w, h int) { o.width, o.height = w, h }

func (o *overview) KeyMap() help.KeyMap {
	open := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "browse snapshot"))
	return keyMap{short: []key.Binding{o.keys.Up, o.keys.Down, open}, full: [][]key.Binding{{o.keys.Up, o.keys.Down, open}}}
}

func (o *overview) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case storeLoadedMsg:
		n := len(o.env.snaps)
		o.cursor = max(n-1, 0)
		if n >= 2 {
			o.diffing = true
			return o, loadDiff(o.env, o.env.snaps[n-2], o.env.snaps[n-1])
		}
	case diffLoadedMsg:
		n := len(o.env.snaps)
		if n >= 2 && msg.from == o.env.snaps[n-2].ID && msg.to == o.env.snaps[n-1].ID {
			o.diffing, o.diff, o.diffErr = false, msg.res, msg.err
		}
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, o.keys.Up):
			o.cursor = max(o.cursor-1, 0)
		case key.Matches(msg, o.keys.Down):
			o.cursor = min(o.cursor+1, max(len(o.env.snaps)-1, 0))
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
	fmt.Fprintf(&b, "%s %s\n", styles.title.Render("Tenant    "), nameOr(e.tenant, "…"))
	fmt.Fprintf(&b, "%s offline file: %s (read-only, no network)\n\n", styles.title.Render("Connection"), e.path)
	fmt.Fprintf(&b, "%s\n", styles.header.Render(fmt.Sprintf("Snapshots (%d)", len(e.snaps))))
	if len(e.snaps) == 0 {
		b.WriteString("the file holds no snapshots yet\n")
	}
	// Snapshot rows: keep room for the diff summary below.
	room := max(o.height-6-o.diffHeight(), 2)
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

func (o *overview) diffView() string {
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
