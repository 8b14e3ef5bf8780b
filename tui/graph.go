package tui

import (
	"fmt"
	"sort"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
)

// graphScreen shows an object's references and dependents in one snapshot, with its
// blast radius; enter walks to a neighbour and esc walks back.
type graphScreen struct {
	env     *env
	snap    int64
	focus   graphx.NodeID
	history []graphx.NodeID
	g       *graphx.Graph
	loading bool
	err     error
	entries []graphEntry
	blast   graphx.BlastRadius
	cursor  int
	offset  int
	width   int
	height  int
	keys    listKeys
	find    key.Binding

	asking  bool   // the "find an object" input has focus
	query   string // what is typed there
	pending string // a query waiting for the graph to load
	findErr error
}

type graphEntry struct {
	out  bool // a reference (focus → other) rather than a dependent
	edge graphx.Edge
	node graphx.Node
}

func newGraphScreen(e *env) *graphScreen {
	return &graphScreen{env: e, keys: newListKeys(),
		find: key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "find object"))}
}

func (s *graphScreen) Capturing() bool { return s.asking }

// openGraph opens the dependency view of one object above the current screen.
func openGraph(e *env, snap int64, kind entra.Kind, id string) tea.Cmd {
	s := newGraphScreen(e)
	s.snap, s.focus, s.loading = snap, graphx.NodeID{Kind: kind, ID: id}, true
	return push(s, loadGraph(e, snap))
}

func (s *graphScreen) Title() string {
	if s.focus.ID == "" {
		return "Graph"
	}
	return "Graph of " + s.label(s.focus)
}

func (s *graphScreen) label(id graphx.NodeID) string {
	if s.g != nil {
		if n, ok := s.g.Node(id); ok && n.DisplayName != "" {
			return string(id.Kind) + " " + n.DisplayName
		}
	}
	return id.String()
}

func (s *graphScreen) SetSize(w, h int) {
	s.width, s.height = w, h
	s.offset = scrollTo(s.offset, s.cursor, s.listHeight(), len(s.entries))
}

func (s *graphScreen) KeyMap() help.KeyMap {
	if s.asking {
		enter := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "find"))
		esc := key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel"))
		return keyMap{short: []key.Binding{enter, esc}, full: [][]key.Binding{{enter, esc}}}
	}
	walk := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "walk to neighbour"))
	return keyMap{short: []key.Binding{s.keys.Up, s.keys.Down, walk, s.find}, full: [][]key.Binding{s.keys.moves(), {walk, s.find}}}
}

// Back walks back to the previous object.
func (s *graphScreen) Back() bool {
	if len(s.history) == 0 {
		return false
	}
	s.focus = s.history[len(s.history)-1]
	s.history = s.history[:len(s.history)-1]
	s.build()
	return true
}

func (s *graphScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case graphLoadedMsg:
		if (s.focus.ID == "" && s.pending == "") || msg.snap != s.snap || s.g != nil {
			return s, nil
		}
		s.loading, s.err, s.g = false, msg.err, msg.g
		if s.pending != "" && s.g != nil {
			s.resolve()
		}
		s.build()
	case tea.KeyPressMsg:
		if s.asking {
			return s, s.askKey(msg)
		}
		n := len(s.entries)
		switch {
		case key.Matches(msg, s.find):
			s.asking, s.query = true, ""
			return s, nil
		case key.Matches(msg, s.keys.Up):
			s.cursor--
		case key.Matches(msg, s.keys.Down):
			s.cursor++
		case key.Matches(msg, s.keys.PageUp):
			s.cursor -= s.listHeight()
		case key.Matches(msg, s.keys.PageDown):
			s.cursor += s.listHeight()
		case key.Matches(msg, s.keys.Top):
			s.cursor = 0
		case key.Matches(msg, s.keys.Bottom):
			s.cursor = n - 1
		case key.Matches(msg, s.keys.Open):
			if s.cursor < n {
				s.history = append(s.history, s.focus)
				s.focus = s.entries[s.cursor].node.NodeID
				s.build()
				return s, nil
			}
		}
		s.cursor = min(max(s.cursor, 0), max(n-1, 0))
		s.offset = scrollTo(s.offset, s.cursor, s.listHeight(), n)
	}
	return s, nil
}

// askKey edits the "find an object" input; enter looks the object up in the graph of
// this screen's snapshot (the newest one when none is chosen), loading it first.
func (s *graphScreen) askKey(msg tea.KeyPressMsg) tea.Cmd {
	switch msg.String() {
	case "esc":
		s.asking = false
	case "backspace":
		if r := []rune(s.query); len(r) > 0 {
			s.query = string(r[:len(r)-1])
		}
	case "enter":
		s.asking = false
		if strings.TrimSpace(s.query) == "" || len(s.env.snaps) == 0 {
			return nil
		}
		s.pending, s.findErr = strings.TrimSpace(s.query), nil
		if s.snap == 0 {
			s.snap = s.env.snaps[len(s.env.snaps)-1].ID
		}
		if s.g != nil {
			s.resolve()
			s.build()
			return nil
		}
		s.loading = true
		return loadGraph(s.env, s.snap)
	default:
		s.query += msg.Text
	}
	return nil
}

// resolve moves the focus to the object the pending query names.
func (s *graphScreen) resolve() {
	n, err := s.g.Lookup(s.pending)
	s.pending = ""
	if err != nil {
		s.findErr = err
		return
	}
	if s.focus.ID != "" && s.focus != n.NodeID {
		s.history = append(s.history, s.focus)
	}
	s.focus = n.NodeID
}

func (s *graphScreen) build() {
	s.entries, s.cursor, s.offset = nil, 0, 0
	if s.g == nil {
		return
	}
	node := func(id graphx.NodeID) graphx.Node {
		if n, ok := s.g.Node(id); ok {
			return n
		}
		return graphx.Node{NodeID: id}
	}
	for _, e := range s.g.References(s.focus) {
		s.entries = append(s.entries, graphEntry{out: true, edge: e, node: node(e.To)})
	}
	for _, e := range s.g.ReferencedBy(s.focus) {
		s.entries = append(s.entries, graphEntry{edge: e, node: node(e.From)})
	}
	s.blast = s.g.BlastRadius(s.focus)
}

// header: title, blast radius, column heading.
func (s *graphScreen) listHeight() int {
	h := s.height - 4
	if s.asking || s.findErr != nil {
		h--
	}
	return max(h, 1)
}

func (s *graphScreen) View() string {
	var b strings.Builder
	switch {
	case s.asking:
		b.WriteString("find: " + s.query + "█  " + styles.faint.Render("(id, userPrincipalName, appId or display name)") + "\n")
	case s.findErr != nil:
		b.WriteString(styles.err.Render(s.findErr.Error()) + "\n")
	}
	if s.focus.ID == "" {
		if s.loading {
			return b.String() + "building the dependency graph…"
		}
		return b.String() + "No object chosen. Press / to find one by id, UPN, appId or display name (in the\nnewest snapshot), or press d on an object in Snapshots or Diff."
	}
	fmt.Fprintf(&b, "%s  %s\n", styles.title.Render(s.Title()), styles.faint.Render(fmt.Sprintf("snapshot %d", s.snap)))
	switch {
	case s.loading:
		b.WriteString("building the dependency graph…")
		return b.String()
	case s.err != nil:
		b.WriteString(styles.err.Render(s.err.Error()))
		return b.String()
	}
	if _, ok := s.g.Node(s.focus); !ok {
		b.WriteString(s.focus.String() + " is not in this snapshot")
		return b.String()
	}
	kinds := make([]string, 0, len(s.blast.ByKind))
	for k, n := range s.blast.ByKind {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	out := 0
	for _, e := range s.entries {
		if e.out {
			out++
		}
	}
	fmt.Fprintf(&b, "blast radius %d", s.blast.Count)
	if len(kinds) > 0 {
		b.WriteString(" (" + strings.Join(kinds, ", ") + ")")
	}
	fmt.Fprintf(&b, " · references %d · dependents %d\n", out, len(s.entries)-out)
	b.WriteString(styles.header.Render(pad(fmt.Sprintf("%-3s %-24s %-24s %s", "", "RELATION", "KIND", "OBJECT"), s.width)))
	if len(s.entries) == 0 {
		b.WriteString("\nno references in either direction")
	}
	end := min(s.offset+s.listHeight(), len(s.entries))
	for i := s.offset; i < end; i++ {
		e := s.entries[i]
		dir := "→"
		if !e.out {
			dir = "←"
		}
		name := nameOr(e.node.DisplayName, e.node.ID)
		if e.node.InBin {
			name += " (in bin)"
		}
		line := pad(fmt.Sprintf("%-3s %-24s %-24s %s", dir, clip(e.edge.Relation, 24), clip(string(e.node.Kind), 24), name), s.width)
		if i == s.cursor {
			line = styles.selected.Render(line)
		}
		b.WriteString("\n" + line)
	}
	return b.String()
}
