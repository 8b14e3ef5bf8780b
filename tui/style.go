package tui

import (
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// styles use attributes only (bold, reverse, faint, underline), never fixed colours, so
// the console reads the same on light and dark terminals.
var styles = struct {
	tab, tabActive, badge, header, selected, faint, err, title lipgloss.Style
}{
	tab:       lipgloss.NewStyle().Faint(true),
	tabActive: lipgloss.NewStyle().Reverse(true).Bold(true),
	badge:     lipgloss.NewStyle().Reverse(true),
	header:    lipgloss.NewStyle().Bold(true).Underline(true),
	selected:  lipgloss.NewStyle().Reverse(true),
	faint:     lipgloss.NewStyle().Faint(true),
	err:       lipgloss.NewStyle().Bold(true),
	title:     lipgloss.NewStyle().Bold(true),
}

// clip truncates one line to w cells (escape-code aware).
func clip(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// pad clips s to w cells and pads it with spaces to exactly w.
func pad(s string, w int) string {
	s = clip(s, w)
	if n := w - ansi.StringWidth(s); n > 0 {
		s += strings.Repeat(" ", n)
	}
	return s
}

// fit makes s exactly h lines, each at most w cells.
func fit(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		lines[i] = clip(l, w)
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// scrollTo returns the first visible line so that cursor stays within a window of h.
func scrollTo(offset, cursor, h, n int) int {
	if h <= 0 {
		return 0
	}
	if cursor < offset {
		offset = cursor
	}
	if cursor >= offset+h {
		offset = cursor - h + 1
	}
	if offset > n-h {
		offset = n - h
	}
	return max(offset, 0)
}
