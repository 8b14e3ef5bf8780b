package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
)

// objectScreen shows one object of a snapshot: its JSON, pretty and scrollable, then
// its links in both directions.
type objectScreen struct {
	env       *env
	snap      int64
	kind      entra.Kind
	id        string
	name      string
	loading   bool
	err       error
	json      string
	linksDone bool
	linksErr  error
	out, in   []snapshots.Link
	pager     pager
	keys      listKeys
	graph     key.Binding
}

func newObjectScreen(e *env, snap int64, kind entra.Kind, id, name string) *objectScreen {
	return &objectScreen{env: e, snap: snap, kind: kind, id: id, name: name, loading: true, keys: newListKeys(),
		graph: key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "dependencies"))}
}

func (o *objectScreen) Title() string { return fmt.Sprintf("%s %s", o.kind, nameOr(o.name, o.id)) }

func (o *objectScreen) SetSize(w, h int) { o.pager.setSize(w, max(h-1, 1)) }

func (o *objectScreen) KeyMap() help.KeyMap {
	return keyMap{short: []key.Binding{o.keys.Up, o.keys.Down, o.keys.PageDown, o.graph},
		full: [][]key.Binding{o.keys.moves(), {o.graph}}}
}

func (o *objectScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case objectLoadedMsg:
		if msg.snap != o.snap || msg.kind != o.kind || msg.id != o.id {
			return o, nil
		}
		o.loading, o.err, o.json = false, msg.err, msg.pretty
		if msg.inBin {
			o.json = "(in the recycle bin at capture time)\n" + o.json
		}
		o.render()
	case linksLoadedMsg:
		if msg.snap != o.snap || msg.kind != o.kind || msg.id != o.id {
			return o, nil
		}
		o.linksDone, o.linksErr, o.out, o.in = true, msg.err, msg.out, msg.in
		o.render()
	case tea.KeyPressMsg:
		if key.Matches(msg, o.graph) {
			return o, openGraph(o.env, o.snap, o.kind, o.id)
		}
		o.pager.update(msg, o.keys)
	}
	return o, nil
}

func (o *objectScreen) View() string {
	head := styles.title.Render(o.Title()) + styles.faint.Render(fmt.Sprintf("  %s · snapshot %d", o.id, o.snap))
	switch {
	case o.loading:
		return head + "\nreading…"
	case o.err != nil:
		return head + "\n" + styles.err.Render(o.err.Error())
	}
	return head + "\n" + o.pager.view()
}

func (o *objectScreen) render() {
	var b strings.Builder
	b.WriteString(o.json)
	b.WriteString("\n\n" + styles.header.Render("Links") + "\n")
	switch {
	case !o.linksDone:
		b.WriteString("  reading links…\n")
	case o.linksErr != nil:
		b.WriteString("  " + o.linksErr.Error() + "\n")
	case len(o.out)+len(o.in) == 0:
		b.WriteString("  none\n")
	}
	for _, l := range o.out {
		fmt.Fprintf(&b, "  → %s  %s %s\n", l.Name, l.ToKind, l.To)
	}
	for _, l := range o.in {
		fmt.Fprintf(&b, "  ← %s of %s %s\n", l.Name, l.Kind, l.From)
	}
	o.pager.setText(strings.TrimRight(b.String(), "\n"))
}

func nameOr(name, id string) string {
	if name != "" {
		return name
	}
	return id
}
