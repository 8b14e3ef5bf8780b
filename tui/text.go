package tui

import (
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// textScreen shows a block of text in full, wrapped to the screen and scrollable:
// what a list row had to cut (a plan step's requests, the lockout verdict, the plan's
// warnings).
type textScreen struct {
	title string
	text  string
	pager pager
	keys  listKeys
}

func newTextScreen(title, text string) *textScreen {
	return &textScreen{title: title, text: text, keys: newListKeys()}
}

// Title names the screen.
func (t *textScreen) Title() string { return t.title }

// SetSize wraps the text to the new width.
func (t *textScreen) SetSize(w, h int) {
	t.pager.setSize(w, max(h-1, 1))
	t.pager.setText(wrap(t.text, w)) // ids (GUIDs) whole
}

// KeyMap is the scrolling keys.
func (t *textScreen) KeyMap() help.KeyMap {
	return keyMap{short: []key.Binding{t.keys.Up, t.keys.Down, t.keys.PageDown}, full: [][]key.Binding{t.keys.moves()}}
}

// Update scrolls.
func (t *textScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		t.pager.update(k, t.keys)
	}
	return t, nil
}

// View is the title and the visible part of the text.
func (t *textScreen) View() string {
	return styles.title.Render(t.title) + "\n" + strings.TrimRight(t.pager.view(), "\n")
}

// wrap fits a sentence the operator must read whole (an error, a verdict) to the width,
// breaking at spaces and, in long paths and URLs, at separators: cut at the edge, its
// end (often the remedy) would be lost.
// Hyphens do not break a line (ansi.Wrap breaks at every one): ids, domains and
// words like report-only would come apart where a responder copies or reads them.
func wrap(s string, w int) string {
	s = strings.ReplaceAll(s, "-", nbHyphen)
	lines := strings.Split(ansi.Wrap(s, max(w, 20), " ,/"), "\n")
	for i, l := range lines {
		// A line broken after a comma keeps the space after it, one cell too many.
		lines[i] = strings.ReplaceAll(strings.TrimRight(l, " "), nbHyphen, "-")
	}
	return strings.Join(lines, "\n")
}

// nbHyphen stands in for hyphens while wrap breaks lines: the non-breaking hyphen.
const nbHyphen = "\u2011"

// hang wraps s to the width left after a label indent cells wide, and indents the lines
// after the first by as much, so that they line up under the first.
func hang(s string, w, indent int) string {
	return strings.ReplaceAll(wrap(s, w-indent), "\n", "\n"+strings.Repeat(" ", indent))
}

// joinFacts joins the facts of a status line with " · ", starting a new line, indented
// two cells, before a fact that would not fit in w: a narrow terminal (80 columns) then
// shows every fact, where clipping the one long line cut off the last ones (the pace,
// the ETA). w <= 0 keeps one line.
func joinFacts(w int, facts ...string) string {
	var b strings.Builder
	lineWidth := 0
	for i, f := range facts {
		fw := ansi.StringWidth(f)
		switch {
		case i == 0:
		case w > 0 && lineWidth+3+fw > w:
			b.WriteString("\n  ")
			lineWidth = 2
		default:
			b.WriteString(" · ")
			lineWidth += 3
		}
		b.WriteString(f)
		lineWidth += fw
	}
	return b.String()
}
