package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// pager scrolls a block of text, rendering only the visible lines.
type pager struct {
	lines  []string
	offset int
	width  int
	height int
}

func (p *pager) setText(s string) {
	p.lines = strings.Split(s, "\n")
	p.offset = min(p.offset, p.maxOffset())
}

func (p *pager) maxOffset() int { return max(len(p.lines)-p.height, 0) }

func (p *pager) setSize(w, h int) {
	p.width, p.height = w, h
	p.offset = min(p.offset, p.maxOffset())
}

// update scrolls on movement keys and reports whether it used the key.
func (p *pager) update(msg tea.KeyPressMsg, k listKeys) bool {
	switch {
	case key.Matches(msg, k.Up):
		p.offset--
	case key.Matches(msg, k.Down):
		p.offset++
	case key.Matches(msg, k.PageUp):
		p.offset -= p.height
	case key.Matches(msg, k.PageDown):
		p.offset += p.height
	case key.Matches(msg, k.Top):
		p.offset = 0
	case key.Matches(msg, k.Bottom):
		p.offset = p.maxOffset()
	default:
		return false
	}
	p.offset = min(max(p.offset, 0), p.maxOffset())
	return true
}

func (p *pager) view() string {
	end := min(p.offset+p.height, len(p.lines))
	out := make([]string, 0, end-p.offset)
	for _, l := range p.lines[p.offset:end] {
		out = append(out, clip(l, p.width))
	}
	return strings.Join(out, "\n")
}
