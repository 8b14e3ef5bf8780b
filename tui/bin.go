package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/graphx"
)

// Purge thresholds: an object this close to its purge is coloured, because once Entra
// purges it only a recreate (new id, new secrets) brings it back.
const (
	purgeUrgentDays  = 3
	purgeWarningDays = 7
)

// Purge colours are the terminal's own red and yellow (ANSI 1 and 3), so they follow
// its theme on light and dark backgrounds alike.
var (
	purgeUrgent  = lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true)
	purgeWarning = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
)

// binScreen lists the live recycle bins, soonest purge first: space marks objects and
// enter (or r) plans the restore of the marked ones.
type binScreen struct {
	env    *env
	width  int
	height int
	cursor int
	offset int
	marked map[graphx.NodeID]bool
	rows   []int // indexes into the report's items that the filter keeps

	filtering bool
	filter    string
	keys      binKeys
	// clearing says esc was pressed with objects marked: a second esc clears the marks,
	// any other key keeps them (the root disarms it on every other key, those it takes
	// itself included). One stray esc must not lose a long selection.
	clearing bool
}

type binKeys struct {
	list    listKeys
	Mark    key.Binding
	Restore key.Binding
	Filter  key.Binding
	Reload  key.Binding
}

func newBinScreen(e *env) *binScreen {
	return &binScreen{env: e, marked: map[graphx.NodeID]bool{}, keys: binKeys{
		list:    newListKeys(),
		Mark:    key.NewBinding(key.WithKeys("space"), key.WithHelp("space", "mark")),
		Restore: key.NewBinding(key.WithKeys("enter", "r"), key.WithHelp("enter/r", "plan restore of marked")),
		Filter:  key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter (!inverts)")),
		Reload:  key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "read again")),
	}}
}

// Title names the screen in the tab bar and the window title.
func (s *binScreen) Title() string { return "Recycle bin" }

// SetSize keeps the cursor in view at the new height.
func (s *binScreen) SetSize(w, h int) {
	s.width, s.height = w, h
	s.offset = scrollTo(s.offset, s.cursor, s.listHeight(), len(s.rows))
}

// Capturing is true while the filter input has focus.
func (s *binScreen) Capturing() bool { return s.filtering }

// Back clears the filter, then the marks, before the root leaves the screen.
func (s *binScreen) Back() bool {
	switch {
	case s.filter != "":
		s.filter = ""
		s.build()
		return true
	case len(s.marked) > 0 && !s.clearing:
		s.clearing = true
		return true
	case len(s.marked) > 0:
		s.marked, s.clearing = map[graphx.NodeID]bool{}, false
		return true
	}
	return false
}

// KeyMap is the screen's bindings for the help line.
func (s *binScreen) KeyMap() help.KeyMap {
	if s.env.live == nil {
		return keyMap{} // offline: none of its keys can do anything, so the help lists none
	}
	k := s.keys
	if s.filtering {
		enter := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply filter"))
		esc := key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter"))
		return keyMap{short: []key.Binding{enter, esc}, full: [][]key.Binding{{enter, esc}}}
	}
	restore := k.Restore
	if s.env.readOnly {
		// Planning writes nothing, so it stays; the Plan screen refuses to save or apply.
		restore = key.NewBinding(key.WithKeys("enter", "r"), key.WithHelp("enter/r", "plan restore (read-only)"))
	}
	return keyMap{short: []key.Binding{k.Mark, restore, k.Filter, k.Reload},
		full: [][]key.Binding{k.list.moves(), {k.Mark, restore, k.Filter, k.Reload}}}
}

func (s *binScreen) items() []engine.BinItem {
	if s.env.live == nil || s.env.live.bin == nil {
		return nil
	}
	return s.env.live.bin.Items
}

// build applies the filter to the report's items.
func (s *binScreen) build() {
	q := parseQuery(s.filter)
	s.rows = s.rows[:0]
	for i, it := range s.items() {
		if q.empty() {
			s.rows = append(s.rows, i)
			continue
		}
		hay := strings.ToLower(it.DisplayName + "\x00" + it.ID + "\x00" + string(it.Kind))
		if strings.Contains(hay, q.text) != q.invert {
			s.rows = append(s.rows, i)
		}
	}
	s.cursor = min(s.cursor, max(len(s.rows)-1, 0))
	s.offset = scrollTo(s.offset, s.cursor, s.listHeight(), len(s.rows))
}

// Update handles the bin's arrival and the screen's keys.
func (s *binScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case binLoadedMsg:
		// The root stored the report in env; keep marks on objects still in the bin.
		keep := map[graphx.NodeID]bool{}
		for _, it := range s.items() {
			n := graphx.NodeID{Kind: it.Kind, ID: it.ID}
			if s.marked[n] {
				keep[n] = true
			}
		}
		s.marked = keep
		s.build()
	case tea.KeyPressMsg:
		if s.filtering {
			s.filterKey(msg)
			return s, nil
		}
		return s, s.key(msg)
	}
	return s, nil
}

func (s *binScreen) filterKey(msg tea.KeyPressMsg) {
	switch msg.String() {
	case "enter":
		s.filtering = false
		return
	case "esc":
		s.filtering, s.filter = false, ""
	case "backspace":
		r := []rune(s.filter)
		if len(r) == 0 {
			s.filtering = false
			return
		}
		s.filter = string(r[:len(r)-1])
	default:
		if msg.Text == "" {
			return
		}
		s.filter += msg.Text
	}
	s.build()
}

func (s *binScreen) key(msg tea.KeyPressMsg) tea.Cmd {
	k := s.keys
	move := func(n int) {
		s.cursor = min(max(s.cursor+n, 0), max(len(s.rows)-1, 0))
		s.offset = scrollTo(s.offset, s.cursor, s.listHeight(), len(s.rows))
	}
	switch {
	case key.Matches(msg, k.Mark):
		if it, ok := s.selected(); ok {
			n := graphx.NodeID{Kind: it.Kind, ID: it.ID}
			did := "marked"
			if s.marked[n] {
				delete(s.marked, n)
				did = "unmarked"
			} else {
				s.marked[n] = true
			}
			move(1)
			// Said, since the cursor does not always show it: on the last row it stays
			// put, and a second space there unmarks what the first marked.
			return status(fmt.Sprintf("%s %s %s · %d marked", did, it.Kind, nameOr(it.DisplayName, it.ID), len(s.marked)))
		}
	case key.Matches(msg, k.Restore):
		return s.restore()
	case key.Matches(msg, k.Filter):
		s.filtering = true
	case key.Matches(msg, k.Reload):
		if s.env.live != nil {
			return func() tea.Msg { return refreshMsg{} }
		}
	case key.Matches(msg, k.list.Up):
		move(-1)
	case key.Matches(msg, k.list.Down):
		move(1)
	case key.Matches(msg, k.list.PageUp):
		move(-s.listHeight())
	case key.Matches(msg, k.list.PageDown):
		move(s.listHeight())
	case key.Matches(msg, k.list.Top):
		move(-len(s.rows))
	case key.Matches(msg, k.list.Bottom):
		move(len(s.rows))
	}
	return nil
}

// restore opens the Plan screen on a plan scoped to the marked objects (the one under
// the cursor when none is marked), against the newest snapshot.
func (s *binScreen) restore() tea.Cmd {
	latest, ok := s.env.latest()
	if !ok {
		return func() tea.Msg { return statusMsg("the file holds no snapshot to plan a restore from") }
	}
	var scope []graphx.NodeID
	for _, it := range s.items() { // report order: soonest purge first
		n := graphx.NodeID{Kind: it.Kind, ID: it.ID}
		if s.marked[n] {
			scope = append(scope, n)
		}
	}
	if len(scope) == 0 {
		it, ok := s.selected()
		if !ok {
			return nil
		}
		scope = []graphx.NodeID{{Kind: it.Kind, ID: it.ID}}
	}
	return func() tea.Msg { return jumpMsg{name: "plan", then: buildPlanMsg{snap: latest.ID, scope: scope}} }
}

func (s *binScreen) selected() (engine.BinItem, bool) {
	items := s.items()
	if s.cursor >= len(s.rows) {
		return engine.BinItem{}, false
	}
	return items[s.rows[s.cursor]], true
}

// listHeight is the rows' room: the screen less the summary, filter and header lines,
// the line that says the bin is being read again, and the selected id's line when the
// table is too narrow for whole ids.
func (s *binScreen) listHeight() int {
	h := s.height - 3
	if s.rereading() {
		h--
	}
	if s.columns().idW < idWidth {
		h--
	}
	return max(h, 1)
}

// rereading reports whether the bin is being read again (R, or the refresh after a
// run) while the screen shows the last read.
func (s *binScreen) rereading() bool {
	l := s.env.live
	return l != nil && l.binReading && (l.bin != nil || l.binErr != nil)
}

// rereadingLine says the rows are the last read's: a mark made now may go on an object
// that has left the bin since, or miss one that arrived.
const rereadingLine = "reading the recycle bin again… (the rows below are from the last read)"

// View renders the bin as a table.
func (s *binScreen) View() string {
	l := s.env.live
	switch {
	case l == nil:
		return "The recycle bin is read from the tenant: this session is offline.\nOpen the console with --graph-url (or LIFELINE_GRAPH_URL) to see it."
	case l.binErr != nil:
		v := styles.err.Render(wrap("reading the recycle bin: "+l.binErr.Error(), s.width))
		if s.rereading() {
			v += "\nreading the recycle bin again…"
		}
		return v
	case l.bin == nil:
		return "Reading the recycle bins…"
	}
	var b strings.Builder
	rep := l.bin
	fmt.Fprintf(&b, "%s %d objects · %d marked", styles.title.Render("Recycle bin"), len(rep.Items), len(s.marked))
	if len(s.rows) > s.listHeight() {
		// A scrolled list must say so: its first row is not the soonest purge. Before
		// the clock, which a narrow terminal clips first.
		fmt.Fprintf(&b, " · row %d of %d", s.cursor+1, len(s.rows))
	}
	fmt.Fprintf(&b, " · soonest purge first (tenant clock %s)", rep.Now.UTC().Format("2006-01-02 15:04Z"))
	for _, w := range rep.Warnings {
		b.WriteString(" · " + styles.faint.Render(w))
	}
	b.WriteByte('\n')
	if s.rereading() {
		b.WriteString(clip(rereadingLine, s.width) + "\n")
	}
	switch {
	case s.clearing && len(s.marked) > 0:
		b.WriteString(styles.err.Render("esc again clears " + plural(len(s.marked), "mark", "marks") + "; any other key keeps them"))
	case s.filtering:
		b.WriteString("/" + s.filter + "█")
	case s.filter != "":
		b.WriteString(fmt.Sprintf("filter: /%s (%d shown)", s.filter, len(s.rows)))
	default:
		b.WriteString(styles.faint.Render("space marks · enter or r plans the restore of the marked objects · / filters"))
	}
	b.WriteByte('\n')
	c := s.columns()
	b.WriteString(styles.faint.Render(pad("   "+c.row("DAYS LEFT", "KIND", "NAME", "DELETED BY", "DEPS", "ID")[1:], s.width)))
	if len(s.rows) == 0 {
		if len(rep.Items) == 0 {
			b.WriteString("\nthe recycle bins are empty")
		} else {
			b.WriteString("\nno object matches the filter")
		}
		return b.String()
	}
	items := rep.Items
	end := min(s.offset+s.listHeight(), len(s.rows))
	for i := s.offset; i < end; i++ {
		it := items[s.rows[i]]
		mark := "  "
		if s.marked[graphx.NodeID{Kind: it.Kind, ID: it.ID}] {
			mark = "✓ "
		}
		actor, deps := "unknown", "-"
		if it.Actor != nil {
			actor = *it.Actor
		}
		if it.Dependents != nil {
			deps = fmt.Sprint(*it.Dependents)
		}
		days := fmt.Sprintf("%-9s", fmt.Sprintf("%d days", it.DaysLeft))
		rest := c.row("", string(it.Kind), nameOr(it.DisplayName, it.ID), actor, deps, it.ID)[1+9:]
		line := mark + " " + days + rest
		switch {
		case i == s.cursor:
			line = styles.selected.Render(pad(line, s.width))
		case it.DaysLeft <= purgeUrgentDays:
			line = mark + " " + purgeUrgent.Render(days) + rest
		case it.DaysLeft <= purgeWarningDays:
			line = mark + " " + purgeWarning.Render(days) + rest
		}
		b.WriteString("\n" + line)
	}
	if c.idW < idWidth {
		// Too narrow for whole ids: the selected one is whole below, to copy.
		if it, ok := s.selected(); ok {
			b.WriteString("\n" + styles.faint.Render("id ") + it.ID)
		}
	}
	return b.String()
}

// idWidth is an object id's: a GUID, 36 characters.
const idWidth = 36

// binColumns are the bin table's widths at the screen's width. The id comes whole
// first (responders copy it), then the name; the deleter gives way before either, and
// when even an id does not fit, the selected one is shown whole below the table.
type binColumns struct{ nameW, actorW, idW int }

func (s *binScreen) columns() binColumns {
	// mark+space (3), days (9), kind (23), deps (4), and the spaces between.
	rest := s.width - (3 + 9 + 1 + 23 + 1 + 1 + 4 + 2)
	c := binColumns{idW: idWidth}
	switch {
	case rest >= idWidth+16+1+16:
		c.actorW = min((rest-idWidth-1)/2, 24)
		c.nameW = min(rest-idWidth-1-c.actorW, 48)
	case rest >= idWidth+16:
		c.nameW = rest - idWidth
	default:
		c.nameW = 16
		c.idW = max(rest-16, 8)
	}
	return c
}

// row lays out one row (or the header) in the columns: days is 9 wide, kind 23.
func (c binColumns) row(days, kind, name, actor, deps, id string) string {
	r := fmt.Sprintf(" %-9s %-23s %-*s", days, clip(kind, 23), c.nameW, clip(name, c.nameW))
	if c.actorW > 0 {
		r += fmt.Sprintf(" %-*s", c.actorW, clip(actor, c.actorW))
	}
	return r + fmt.Sprintf(" %4s  %s", deps, clip(id, c.idW))
}
