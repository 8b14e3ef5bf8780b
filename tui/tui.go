// Package tui is lifeline's terminal console, built on Bubble Tea v2.
//
// One root model (Model) owns routing, layout, help and the ":" screen jump. Screens
// implement Screen: they render a string into the size they are given and return
// commands; all I/O (reading the snapshot file, diffs, graph loads) runs in tea.Cmds that
// come back as typed messages, so Update never blocks.
package tui

import (
	"slices"
	"strings"
	"time"
	"unicode"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
)

// Screen is one page of the console. Only the root model returns a tea.View.
type Screen interface {
	Update(tea.Msg) (Screen, tea.Cmd)
	View() string
	SetSize(width, height int)
	KeyMap() help.KeyMap
	Title() string
}

// capturer is a screen that is taking text input (a filter): while it does, every key
// goes to it and global keys (q, ?, :) are not interpreted.
type capturer interface{ Capturing() bool }

// backer is a screen with its own levels: Back undoes one and reports true, or reports
// false when the root should pop the screen.
type backer interface{ Back() bool }

// env is what every screen shares: the open file and what is known about it.
type env struct {
	store    *snapshots.Store
	path     string
	readOnly bool
	tenant   string
	snaps    []snapshots.Snapshot
	// graphs caches loaded dependency graphs by snapshot id; written only in Update.
	graphs map[int64]*graphx.Graph
	// live is the tenant connection; nil offline.
	live *liveEnv
	now  func() time.Time
}

func (e *env) snapshot(id int64) (snapshots.Snapshot, bool) {
	for _, s := range e.snaps {
		if s.ID == id {
			return s, true
		}
	}
	return snapshots.Snapshot{}, false
}

// Screen names for ":" jumps, in tab order: the order of a recovery, from what is
// in the bin to what still differs.
var screenNames = []string{"overview", "bin", "snapshots", "diff", "graph", "plan", "run", "verify"}

// Model is the console's root model.
type Model struct {
	env      *env
	keys     globalKeys
	help     help.Model
	fullHelp bool
	width    int
	height   int

	base  map[string]Screen // the top-level screens, kept so their state survives jumps
	stack []Screen          // the screen shown is the last; stack[0] is a top-level screen
	cur   string            // name of stack[0]

	jumping bool // ":" prompt open
	jump    string
	status  string // one-line notice (errors, unknown screen names)
	err     error  // fatal: the file could not be read
}

// NewOffline returns the console over an open snapshot file, with no network: every
// screen is read-only. path is shown in the status bar.
func NewOffline(store *snapshots.Store, path string, readOnly bool) Model {
	_ = readOnly // offline sessions are always read-only; the flag matters for live sessions
	return New(Options{Store: store, Path: path, ReadOnly: true})
}

func newModel(e *env) Model {
	m := Model{env: e, keys: newGlobalKeys(), help: help.New(), width: 80, height: 24}
	m.base = map[string]Screen{
		"overview":  newOverview(e),
		"bin":       newBinScreen(e),
		"snapshots": newBrowser(e),
		"diff":      newDiffScreen(e),
		"graph":     newGraphScreen(e),
		"plan":      newPlanScreen(e),
		"run":       newRunScreen(e),
		"verify":    newVerifyScreen(e),
	}
	m.cur = "overview"
	m.stack = []Screen{m.base["overview"]}
	m.layout()
	return m
}

// Init starts reading the snapshot file and, live, the tenant: what it is, a capture
// (for the incident at a glance) and its recycle bin.
func (m Model) Init() tea.Cmd {
	cmds := []tea.Cmd{loadStore(m.env)}
	if l := m.env.live; l != nil {
		cmds = append(cmds, checkConnection(l), m.env.startCapture(), loadBin(m.env))
	}
	return tea.Batch(cmds...)
}

// Update routes a message: window sizes and key presses to the root first, then keys to
// the screen on top, and every other message (command results) to all open screens,
// which ignore what is not theirs.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmds []tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return m, nil
	case tea.KeyPressMsg:
		// A key may set or clear the status, whose height the body's depends on; the
		// key's own paths lay out what else it changed.
		nm, cmd := m.key(msg)
		mm := nm.(Model)
		if mm.status != m.status {
			mm.layout()
		}
		return mm, cmd
	case tea.PasteMsg:
		return m.paste(msg)
	case storeLoadedMsg:
		if msg.err != nil && msg.again {
			// The list read before stands: a failed re-read (the file busy with another
			// shell's capture) is no reason to stop showing it.
			m.status = "reading the snapshot list again: " + msg.err.Error()
			m.layout()
			return m, nil
		}
		if msg.err != nil {
			m.err = msg.err
			return m, nil
		}
		same := msg.again && sameSnapshots(m.env.snaps, msg.snaps)
		m.env.tenant, m.env.snaps = msg.tenant, msg.snaps
		if same {
			return m, nil // nothing new: the screens keep their places in the list
		}
	case graphLoadedMsg:
		if msg.err == nil {
			m.env.graphs[msg.snap] = msg.g
		}
	case refreshMsg:
		return m, m.refreshLive()
	case pushMsg:
		msg.screen.SetSize(m.bodySize())
		m.stack = append(m.stack, msg.screen)
		cmds = append(cmds, msg.cmd)
		return m, tea.Batch(cmds...)
	case jumpMsg:
		m.goTo(msg.name)
		if msg.then != nil {
			s, cmd := m.stack[0].Update(msg.then)
			m.stack[0], m.base[m.cur] = s, s
			cmds = append(cmds, cmd)
		}
		m.layout()
		return m, tea.Batch(cmds...)
	case statusMsg:
		m.status = string(msg)
		m.layout()
		return m, nil
	}
	cmds = append(cmds, m.liveUpdate(msg))
	// Results of commands go to every screen: base screens and pushed ones.
	for name, s := range m.base {
		ns, cmd := s.Update(msg)
		m.base[name] = ns
		if m.stack[0] == s {
			m.stack[0] = ns
		}
		cmds = append(cmds, cmd)
	}
	for i := 1; i < len(m.stack); i++ {
		ns, cmd := m.stack[i].Update(msg)
		m.stack[i] = ns
		cmds = append(cmds, cmd)
	}
	m.layout()
	return m, tea.Batch(cmds...)
}

func (m Model) key(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	if key.Matches(msg, m.keys.ForceQuit) {
		return m, tea.Quit
	}
	if m.jumping {
		return m.jumpKey(msg)
	}
	if b, ok := m.base["bin"].(*binScreen); ok && !key.Matches(msg, m.keys.Back) {
		b.clearing = false // any other key, wherever it goes, keeps the marks
	}
	top := m.top()
	if c, ok := top.(capturer); ok && c.Capturing() {
		return m.forward(msg)
	}
	m.status = ""
	switch {
	case key.Matches(msg, m.keys.Quit):
		if r, ok := m.base["run"].(*runScreen); ok && r.phase == runRunning {
			// Quitting mid-run would stop it between rounds; say how to do that on purpose.
			pause := "a run is in progress: p pauses it"
			if r.paused {
				pause = "a run is paused: p resumes it"
			}
			m.status = pause + ", ctrl+c stops it between rounds (the journal keeps what was done)"
			return m, nil
		}
		return m, tea.Quit
	case key.Matches(msg, m.keys.Help):
		m.fullHelp = !m.fullHelp
		m.layout()
		return m, nil
	case key.Matches(msg, m.keys.Jump):
		m.jumping, m.jump = true, ""
		m.layout()
		return m, nil
	case key.Matches(msg, m.keys.NextScreen), key.Matches(msg, m.keys.PrevScreen):
		if len(m.stack) == 1 {
			step := 1
			if key.Matches(msg, m.keys.PrevScreen) {
				step = len(screenNames) - 1
			}
			i := indexOf(screenNames, m.cur)
			m.goTo(screenNames[(i+step)%len(screenNames)])
			m.layout()
			return m, nil
		}
	case key.Matches(msg, m.keys.Back):
		if m.fullHelp { // esc closes the help first, before it goes back anywhere
			m.fullHelp = false
			m.layout()
			return m, nil
		}
		if b, ok := top.(backer); ok && b.Back() {
			return m, nil
		}
		if len(m.stack) > 1 {
			m.stack = m.stack[:len(m.stack)-1]
			m.layout()
		}
		return m, nil
	}
	return m.forward(msg)
}

// paste types what the terminal pasted (bracketed paste: an id, a domain) into the
// input that has the keyboard, as if typed: its first line, without control
// characters. With no input open it is dropped, so a pasted "q" cannot quit.
func (m Model) paste(msg tea.PasteMsg) (tea.Model, tea.Cmd) {
	// A line ends at CR as well as LF: xterm, VTE and tmux send a paste's line breaks
	// as CR, which cut at LF alone (then dropped as a control character) would join
	// to the next line.
	text := msg.Content
	if i := strings.IndexAny(text, "\r\n"); i >= 0 {
		text = text[:i]
	}
	text = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, text)
	if text == "" {
		return m, nil
	}
	if m.jumping {
		m.jump += text
		return m, nil
	}
	if c, ok := m.top().(capturer); ok && c.Capturing() {
		// A rune at a time: a paste that spells "enter" or "esc" is text, not that key.
		var cmds []tea.Cmd
		var next tea.Model = m
		for _, r := range text {
			var cmd tea.Cmd
			next, cmd = next.(Model).forward(tea.KeyPressMsg{Code: r, Text: string(r)})
			cmds = append(cmds, cmd)
		}
		return next, tea.Batch(cmds...)
	}
	return m, nil
}

func (m Model) forward(msg tea.Msg) (tea.Model, tea.Cmd) {
	i := len(m.stack) - 1
	s, cmd := m.stack[i].Update(msg)
	m.stack[i] = s
	if i == 0 {
		m.base[m.cur] = s
	}
	m.layout()
	return m, cmd
}

func (m Model) jumpKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch msg.String() {
	case "esc":
		m.jumping = false
	case "enter":
		m.jumping = false
		name := matchScreen(m.jump)
		switch {
		case strings.TrimSpace(m.jump) == "":
			m.status = "type a screen name (" + strings.Join(screenNames, ", ") + "), then enter"
		case name == "":
			m.status = "no screen named " + strings.TrimSpace(m.jump) + " (screens: " + strings.Join(screenNames, ", ") + ")"
		default:
			m.goTo(name)
		}
	case "backspace":
		if r := []rune(m.jump); len(r) > 0 {
			m.jump = string(r[:len(r)-1])
		}
	case "tab":
		if name := matchScreen(m.jump); name != "" {
			m.jump = name
		}
	default:
		if msg.Text != "" {
			m.jump += msg.Text
		}
	}
	m.layout()
	return m, nil
}

// matchScreen resolves a typed screen name or unique prefix.
func matchScreen(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return ""
	}
	var hit string
	for _, n := range screenNames {
		if n == s {
			return n
		}
		if strings.HasPrefix(n, s) {
			if hit != "" {
				return ""
			}
			hit = n
		}
	}
	return hit
}

func (m *Model) goTo(name string) {
	m.cur = name
	m.stack = []Screen{m.base[name]}
}

func (m Model) top() Screen { return m.stack[len(m.stack)-1] }

// Current is the title of the screen shown (for tests and the window title).
func (m Model) Current() string { return m.top().Title() }

// chrome: tab bar (1 line) + status bar (1, or a notice's lines) + help (1 or the full
// help's height).
func (m Model) bodySize() (int, int) { return m.bodySizeBeside(m.statusHeight()) }

// bodySizeBeside is bodySize for a status bar of the given height, already built.
func (m Model) bodySizeBeside(status int) (int, int) {
	h := m.height - 1 - status - m.helpHeight()
	return max(m.width, 1), max(h, 1)
}

func (m Model) helpHeight() int {
	if m.jumping {
		return 1
	}
	if m.fullHelp {
		return strings.Count(m.helpView(), "\n") + 1
	}
	return 1
}

// layout re-applies sizes after every change: the help's height depends on state.
func (m *Model) layout() {
	m.help.SetWidth(m.width)
	m.help.ShowAll = m.fullHelp
	w, h := m.bodySize()
	for _, s := range m.stack {
		s.SetSize(w, h)
	}
}

// View lays out the tab bar, the screen, the status bar and the help line.
func (m Model) View() tea.View {
	var b strings.Builder
	b.WriteString(m.tabBar())
	b.WriteByte('\n')
	status := m.statusBar() // wrapped once per view: its height sizes the body
	statusHeight := strings.Count(status, "\n") + 1
	_, h := m.bodySizeBeside(statusHeight)
	var body string
	if m.err != nil {
		body = styles.err.Render("cannot read " + m.env.path + ": " + m.err.Error())
	} else {
		body = m.top().View()
	}
	b.WriteString(fit(body, m.width, h))
	b.WriteByte('\n')
	b.WriteString(fit(status, m.width, statusHeight))
	b.WriteByte('\n')
	switch {
	case m.jumping:
		b.WriteString(clip(":"+m.jump+"█  "+styles.faint.Render("screen: "+strings.Join(screenNames, " | ")), m.width))
	default:
		b.WriteString(fit(m.helpView(), m.width, m.helpHeight()))
	}
	v := tea.NewView(b.String())
	v.AltScreen = true
	v.WindowTitle = "lifeline · " + m.Current()
	if m.env.readOnly {
		v.WindowTitle += " (read-only)"
	}
	return v
}

// helpView is the screen's keys and the global ones; while an input has the keyboard
// only the input's, since ?, : and q are typed as text then.
func (m Model) helpView() string {
	if c, ok := m.top().(capturer); ok && c.Capturing() {
		return m.help.View(m.top().KeyMap())
	}
	return m.help.View(combinedKeys{screen: m.top().KeyMap(), global: m.keys})
}

func (m Model) tabBar() string {
	var parts []string
	for _, n := range screenNames {
		t := " " + strings.ToUpper(n[:1]) + n[1:] + " "
		if n == m.cur {
			parts = append(parts, styles.tabActive.Render(t))
		} else {
			parts = append(parts, styles.tab.Render(t))
		}
	}
	bar := "lifeline " + strings.Join(parts, " ")
	if len(m.stack) > 1 {
		bar += styles.faint.Render("  › " + m.top().Title())
	}
	return clip(bar, m.width)
}

func (m Model) statusBar() string {
	e := m.env
	mode := strings.ToUpper(e.connection())
	if e.live == nil {
		mode = "OFFLINE"
	}
	if e.readOnly {
		mode += " · READ-ONLY"
	}
	badge := styles.badge.Render(" " + mode + " ")
	tenant := e.tenant
	if tenant == "" {
		tenant = "…"
	}
	s := badge + " " + e.connection() + ": " + e.path + " · tenant " + tenant
	if e.live != nil {
		s = badge + " " + e.live.url + " · " + e.path + " · tenant " + tenant
	}
	if m.status != "" {
		// A notice is often an error with its remedy at the end: it wraps, under
		// itself, up to statusLines lines, rather than lose that end at the edge.
		indent := ansi.StringWidth(badge) + 1
		lines := strings.Split(hang(m.status, m.width, indent), "\n")
		if len(lines) > statusLines {
			lines = lines[:statusLines]
			lines[statusLines-1] += "…"
		}
		for i := range lines {
			lines[i] = styles.err.Render(lines[i])
		}
		return badge + " " + strings.Join(lines, "\n")
	}
	return clip(s, m.width)
}

// statusLines bounds how much of the screen a notice may take.
const statusLines = 4

// statusHeight is the status bar's lines: more than one for a long notice.
func (m Model) statusHeight() int { return strings.Count(m.statusBar(), "\n") + 1 }

// sameSnapshots reports whether two snapshot lists name the same snapshots.
func sameSnapshots(a, b []snapshots.Snapshot) bool {
	return slices.EqualFunc(a, b, func(x, y snapshots.Snapshot) bool { return x.ID == y.ID })
}

func indexOf(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return 0
}

// pushMsg asks the root to open a screen above the current one.
type pushMsg struct {
	screen Screen
	cmd    tea.Cmd
}

func push(s Screen, cmd tea.Cmd) tea.Cmd {
	return func() tea.Msg { return pushMsg{screen: s, cmd: cmd} }
}

// jumpMsg asks the root to show a top-level screen and hand it a message.
type jumpMsg struct {
	name string
	then tea.Msg
}

// statusMsg shows a one-line notice in the status bar.
type statusMsg string

// refreshMsg asks the root to read the tenant again (a capture and the bin), and the
// file's snapshot list.
type refreshMsg struct{}
