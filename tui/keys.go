package tui

import (
	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
)

// globalKeys are the bindings every screen shares; the root interprets them.
type globalKeys struct {
	Help       key.Binding
	Jump       key.Binding
	NextScreen key.Binding
	PrevScreen key.Binding
	Back       key.Binding
	Quit       key.Binding
	ForceQuit  key.Binding
}

func newGlobalKeys() globalKeys {
	return globalKeys{
		Help:       key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Jump:       key.NewBinding(key.WithKeys(":"), key.WithHelp(":", "go to screen")),
		NextScreen: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next screen")),
		PrevScreen: key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous screen")),
		Back:       key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Quit:       key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		ForceQuit:  key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
	}
}

func (k globalKeys) ShortHelp() []key.Binding { return []key.Binding{k.Help, k.Jump, k.Back, k.Quit} }

func (k globalKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Help, k.Jump, k.NextScreen, k.PrevScreen}, {k.Back, k.Quit, k.ForceQuit}}
}

// combinedKeys is the help shown: the screen's bindings first, then the global ones.
type combinedKeys struct {
	screen help.KeyMap
	global globalKeys
}

func (c combinedKeys) ShortHelp() []key.Binding {
	return append(append([]key.Binding{}, c.screen.ShortHelp()...), c.global.ShortHelp()...)
}

func (c combinedKeys) FullHelp() [][]key.Binding {
	return append(append([][]key.Binding{}, c.screen.FullHelp()...), c.global.FullHelp()...)
}

// listKeys are the movement bindings of every list-like screen.
type listKeys struct {
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Top      key.Binding
	Bottom   key.Binding
	Open     key.Binding
}

func newListKeys() listKeys {
	return listKeys{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+f", "space"), key.WithHelp("pgdn", "page down")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/home", "top")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", "bottom")),
		Open:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
	}
}

func (k listKeys) moves() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom}
}

// keyMap is a help.KeyMap built from plain lists.
type keyMap struct {
	short []key.Binding
	full  [][]key.Binding
}

func (k keyMap) ShortHelp() []key.Binding  { return k.short }
func (k keyMap) FullHelp() [][]key.Binding { return k.full }
