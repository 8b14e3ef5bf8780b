package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/lifelinehq/lifeline/entra"
)

// browser is the Snapshots screen: pick a snapshot, then browse its objects kind by kind
// in a virtualised table with a k9s-style filter; enter opens an object.
type browser struct {
	env    *env
	keys   browserKeys
	width  int
	height int

	picking bool // choosing a snapshot
	pick    int  // cursor in the snapshot list

	snap    int64 // snapshot whose objects are shown (0: none yet)
	loading bool
	read    int // objects read so far while loading
	err     error
	kinds   []entra.Kind
	rows    map[entra.Kind]*rowSet
	kind    int // index into kinds
	table   table

	filtering bool   // the filter input has focus
	filter    string // text typed after "/"
	filterTag int    // tags filter results so stale ones are dropped
}

type browserKeys struct {
	list      listKeys
	NextKind  key.Binding
	PrevKind  key.Binding
	Filter    key.Binding
	Snapshots key.Binding
	Graph     key.Binding
}

func newBrowser(e *env) *browser {
	return &browser{env: e, picking: true, keys: browserKeys{
		list:      newListKeys(),
		NextKind:  key.NewBinding(key.WithKeys("right", "l", "]"), key.WithHelp("→/l", "next kind")),
		PrevKind:  key.NewBinding(key.WithKeys("left", "h", "["), key.WithHelp("←/h", "previous kind")),
		Filter:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter (!inverts)")),
		Snapshots: key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "pick snapshot")),
		Graph:     key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "dependencies")),
	}}
}

func (b *browser) Title() string { return "Snapshots" }

func (b *browser) SetSize(w, h int) {
	b.width, b.height = w, h
	b.table.setSize(w, max(h-3, 1))
}

func (b *browser) Capturing() bool { return b.filtering }

func (b *browser) KeyMap() help.KeyMap {
	k := b.keys
	if b.filtering {
		enter := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply filter"))
		esc := key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter"))
		return keyMap{short: []key.Binding{enter, esc}, full: [][]key.Binding{{enter, esc}}}
	}
	if b.picking {
		pick := []key.Binding{k.list.Up, k.list.Down, k.list.Open}
		if b.snap != 0 {
			pick = append(pick, key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back to the open snapshot")))
		}
		return keyMap{short: pick, full: [][]key.Binding{pick}}
	}
	return keyMap{
		short: []key.Binding{k.list.Open, k.Filter, k.NextKind, k.Snapshots},
		full:  [][]key.Binding{k.list.moves(), {k.list.Open, k.Filter, k.NextKind, k.PrevKind, k.Snapshots, k.Graph}},
	}
}

// Back clears an applied filter, then returns to the snapshot list; from the list it
// returns to the snapshot that was open, as if the list had not been asked for.
func (b *browser) Back() bool {
	switch {
	case b.picking && b.snap != 0:
		b.picking = false
		for i, s := range b.env.snaps {
			if s.ID == b.snap {
				b.pick = i
			}
		}
		return true
	case b.filter != "":
		b.filter = ""
		b.table.setView(query{}, nil)
		b.filterTag++
		return true
	case !b.picking:
		b.picking = true
		return true
	}
	return false
}

// filterDoneMsg carries the result of one filter keystroke.
type filterDoneMsg struct {
	tag  int
	q    query
	view []int32
}

// showSnapshotMsg asks the browser to open a snapshot (from the Overview).
type showSnapshotMsg struct{ snap int64 }

func (b *browser) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case storeLoadedMsg:
		if len(b.env.snaps) > 0 {
			b.pick = len(b.env.snaps) - 1
		}
	case showSnapshotMsg:
		return b, b.open(msg.snap)
	case objectsProgressMsg:
		if msg.snap == b.snap && b.loading {
			b.read = msg.read
			return b, msg.next
		}
	case objectsLoadedMsg:
		if msg.snap != b.snap {
			return b, nil
		}
		b.loading, b.err, b.kinds, b.rows = false, msg.err, msg.kinds, msg.rows
		b.kind = 0
		b.showKind()
	case filterDoneMsg:
		if msg.tag == b.filterTag {
			b.table.setView(msg.q, msg.view)
		}
	case tea.KeyPressMsg:
		if b.filtering {
			return b, b.filterKey(msg)
		}
		if b.picking {
			return b, b.pickKey(msg)
		}
		return b, b.tableKey(msg)
	}
	return b, nil
}

func (b *browser) open(snap int64) tea.Cmd {
	for i, s := range b.env.snaps {
		if s.ID == snap {
			b.pick = i
		}
	}
	b.picking = false
	if snap == b.snap && !b.loading && b.err == nil {
		return nil
	}
	b.snap, b.loading, b.read, b.err, b.kinds, b.rows = snap, true, 0, nil, nil, nil
	b.filter = ""
	b.filterTag++
	b.table.setRows(nil)
	return loadObjects(b.env, snap)
}

func (b *browser) showKind() {
	if len(b.kinds) == 0 {
		b.table.setRows(nil)
		return
	}
	b.table.setRows(b.rows[b.kinds[b.kind]])
	b.table.setSize(b.width, max(b.height-3, 1))
	if b.filter != "" {
		q := parseQuery(b.filter)
		b.table.setView(q, b.table.filterFunc(q)())
	}
}

func (b *browser) pickKey(msg tea.KeyPressMsg) tea.Cmd {
	n := len(b.env.snaps)
	switch {
	case key.Matches(msg, b.keys.list.Up):
		b.pick = max(b.pick-1, 0)
	case key.Matches(msg, b.keys.list.Down):
		b.pick = min(b.pick+1, max(n-1, 0))
	case key.Matches(msg, b.keys.list.Open):
		if n > 0 {
			return b.open(b.env.snaps[b.pick].ID)
		}
	}
	return nil
}

func (b *browser) tableKey(msg tea.KeyPressMsg) tea.Cmd {
	k := b.keys
	page := b.table.bodyHeight()
	switch {
	case key.Matches(msg, k.list.Up):
		b.table.move(-1)
	case key.Matches(msg, k.list.Down):
		b.table.move(1)
	case key.Matches(msg, k.list.PageUp):
		b.table.move(-page)
	case key.Matches(msg, k.list.PageDown):
		b.table.move(page)
	case key.Matches(msg, k.list.Top):
		b.table.move(-b.table.len())
	case key.Matches(msg, k.list.Bottom):
		b.table.move(b.table.len())
	case key.Matches(msg, k.NextKind), key.Matches(msg, k.PrevKind):
		if len(b.kinds) > 0 {
			d := 1
			if key.Matches(msg, k.PrevKind) {
				d = len(b.kinds) - 1
			}
			b.kind = (b.kind + d) % len(b.kinds)
			b.filterTag++
			b.showKind()
		}
	case key.Matches(msg, k.Filter):
		b.filtering = true
	case key.Matches(msg, k.Snapshots):
		b.picking = true
	case key.Matches(msg, k.list.Open):
		if r, ok := b.table.selected(); ok {
			s := newObjectScreen(b.env, b.snap, r.kind, r.id, r.name)
			return push(s, loadObject(b.env, b.snap, r.kind, r.id))
		}
	case key.Matches(msg, k.Graph):
		if r, ok := b.table.selected(); ok {
			return openGraph(b.env, b.snap, r.kind, r.id)
		}
	}
	return nil
}

func (b *browser) filterKey(msg tea.KeyPressMsg) tea.Cmd {
	switch msg.String() {
	case "enter":
		b.filtering = false
		return nil
	case "esc":
		b.filtering = false
		if b.filter != "" {
			b.Back() // clears the filter typed; with none, esc only closes the input
		}
		return nil
	case "backspace":
		r := []rune(b.filter)
		if len(r) == 0 {
			b.filtering = false
			return nil
		}
		b.filter = string(r[:len(r)-1])
	default:
		if msg.Text == "" {
			return nil
		}
		b.filter += msg.Text
	}
	return b.runFilter()
}

// runFilter starts filtering for the current text; the result comes back tagged.
func (b *browser) runFilter() tea.Cmd {
	b.filterTag++
	tag, q := b.filterTag, parseQuery(b.filter)
	work := b.table.filterFunc(q)
	return func() tea.Msg { return filterDoneMsg{tag: tag, q: q, view: work()} }
}

func (b *browser) View() string {
	if b.picking {
		return b.pickView()
	}
	var s strings.Builder
	snap, _ := b.env.snapshot(b.snap)
	fmt.Fprintf(&s, "%s snapshot %d  %s  %s\n", styles.title.Render("Objects in"), snap.ID, snap.TakenAt.UTC().Format("2006-01-02 15:04:05Z"), snap.Label)
	switch {
	case b.loading:
		s.WriteString("reading objects…")
		if b.read > 0 {
			fmt.Fprintf(&s, " %d so far", b.read)
		}
		return s.String()
	case b.err != nil:
		s.WriteString(styles.err.Render(b.err.Error()))
		return s.String()
	case len(b.kinds) == 0:
		s.WriteString("this snapshot holds no objects")
		return s.String()
	}
	// Kind tabs.
	s.WriteString(b.kindTabs() + "\n")
	// Filter line.
	switch {
	case b.filtering:
		s.WriteString("/" + b.filter + "█")
	case b.filter != "":
		s.WriteString(styles.faint.Render("filter: /" + b.filter))
	default:
		s.WriteString(styles.faint.Render("/ to filter"))
	}
	pos := 0
	if b.table.len() > 0 {
		pos = b.table.cursor + 1
	}
	s.WriteString(styles.faint.Render(fmt.Sprintf("   %d/%d shown of %d", pos, b.table.len(), len(b.table.rows))) + "\n")
	if b.table.len() == 0 && b.filter != "" {
		// A blank table would read as a snapshot without objects of this kind.
		s.WriteString("no object matches the filter")
		return s.String()
	}
	s.WriteString(b.table.render())
	return s.String()
}

func (b *browser) pickView() string {
	var s strings.Builder
	s.WriteString(styles.title.Render("Pick a snapshot") + "\n")
	if len(b.env.snaps) == 0 {
		s.WriteString("the file holds no snapshots")
		return s.String()
	}
	s.WriteString(styles.header.Render(pad(fmt.Sprintf("%4s  %-20s  %8s  %s", "ID", "TAKEN AT (UTC)", "OBJECTS", "LABEL"), b.width)))
	h := max(b.height-2, 1)
	off := scrollTo(0, b.pick, h, len(b.env.snaps))
	for i := off; i < min(off+h, len(b.env.snaps)); i++ {
		sn := b.env.snaps[i]
		line := pad(fmt.Sprintf("%4d  %-20s  %8d  %s", sn.ID, sn.TakenAt.UTC().Format("2006-01-02 15:04:05Z"), total(sn.Counts), sn.Label), b.width)
		if i == b.pick {
			line = styles.selected.Render(line)
		}
		s.WriteString("\n" + line)
	}
	return s.String()
}

func total(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// kindTabs renders one tab per kind, dropping tabs on the left when they do not fit so
// that the active one is always visible.
func (b *browser) kindTabs() string {
	tabs := make([]string, len(b.kinds))
	for i, k := range b.kinds {
		tabs[i] = fmt.Sprintf("%s (%d)", k, len(b.rows[k].rows))
	}
	first := 0
	for first < b.kind && ansi.StringWidth(strings.Join(tabs[first:b.kind+1], "  "))+3 > b.width {
		first++
	}
	var parts []string
	if first > 0 {
		parts = append(parts, "…")
	}
	for i := first; i < len(tabs); i++ {
		t := tabs[i]
		if i == b.kind {
			t = styles.tabActive.Render(t)
		}
		parts = append(parts, t)
	}
	return clip(strings.Join(parts, "  "), b.width)
}
