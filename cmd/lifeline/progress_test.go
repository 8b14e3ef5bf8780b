package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/snapshots"
)

// screen replays what progress wrote the way a terminal shows it: "\n" starts the next
// row (the tty adds the carriage return), and the escapes progress uses move the
// cursor up, clear a row and clear to the end of the screen.
func screen(t *testing.T, out string) []string {
	t.Helper()
	rows := [][]rune{{}}
	row, col := 0, 0
	put := func(r rune) {
		for len(rows[row]) <= col {
			rows[row] = append(rows[row], ' ')
		}
		rows[row][col] = r
		col++
	}
	in := []rune(out)
	for i := 0; i < len(in); i++ {
		switch r := in[i]; r {
		case '\r':
			col = 0
		case '\n':
			row, col = row+1, 0
			if row == len(rows) {
				rows = append(rows, []rune{})
			}
		case '\x1b':
			j := i + 2 // past "\x1b["
			for j < len(in) && in[j] >= '0' && in[j] <= '9' {
				j++
			}
			n, _ := strconv.Atoi(string(in[i+2 : j]))
			switch in[j] {
			case 'A':
				if n > row {
					t.Fatalf("cursor moved %d rows up from row %d: above the block", n, row)
				}
				row -= n
			case 'K':
				rows[row] = rows[row][:0]
			case 'J':
				rows[row] = rows[row][:min(col, len(rows[row]))]
				rows = rows[:row+1]
			default:
				t.Fatalf("unexpected escape %q", string(in[i:j+1]))
			}
			i = j
		default:
			put(r)
		}
	}
	var lines []string
	for _, r := range rows {
		lines = append(lines, strings.TrimRight(string(r), " "))
	}
	return lines
}

func TestProgressRedrawsOneBlockThatFitsTheTerminal(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	width := 72
	p := newProgressWith(&out, true, nil, func() time.Time { return now }, func() (int, int) { return width, 24 })
	step := func(d time.Duration, ev snapshots.CaptureProgress) {
		now = now.Add(d)
		p.update(ev)
	}
	step(time.Second, snapshots.CaptureProgress{Kind: "user", Objects: 0, Total: 1000})
	step(time.Second, snapshots.CaptureProgress{Kind: "user", Objects: 400, Total: 1000})
	step(0, snapshots.CaptureProgress{Kind: "application", Objects: 102, Done: true})
	step(200*time.Millisecond, snapshots.CaptureProgress{Kind: "group", Objects: 30})

	got := screen(t, out.String())
	want := []string{
		"capturing 2.2s, 532 objects, 242/s, ETA 1.8s",
		"  user                             400 of 1,000         333/s  ETA 1.8s",
		"  group                             30                   14/s",
		"  read: application 102",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A narrow terminal: every line is cut short of the last column, so none wraps.
	width = 30
	step(time.Second, snapshots.CaptureProgress{Kind: "user", Objects: 1000, Total: 1000, Done: true})
	got = screen(t, out.String())
	if len(got) != 3 {
		t.Fatalf("after the users were read the block has %d lines, want 3:\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, l := range got {
		if n := len([]rune(l)); n > width-1 {
			t.Errorf("line of %d columns on a %d-column terminal: %q", n, width, l)
		}
	}
	if !strings.HasSuffix(got[2], "...") || !strings.HasPrefix(got[2], "  read: user 1,000") {
		t.Errorf("read line %q", got[2])
	}

	// finish leaves nothing behind, and later events draw nothing.
	p.finish()
	if got := screen(t, out.String()); strings.Join(got, "") != "" {
		t.Errorf("after finish the screen shows %q", got)
	}
	n := out.Len()
	p.update(snapshots.CaptureProgress{Kind: "group", Objects: 40})
	p.finish()
	if out.Len() != n {
		t.Errorf("an event after finish drew %q", out.String()[n:])
	}
}

// A block taller than the terminal cannot be redrawn in place: it keeps the header, the
// first kinds and the line of those read, one line short of the screen's height.
func TestProgressFitsAShortTerminal(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	p := newProgressWith(&out, true, nil, func() time.Time { return now }, func() (int, int) { return 80, 4 })
	for _, k := range []string{"user", "group", "application", "servicePrincipal"} {
		now = now.Add(time.Second)
		p.update(snapshots.CaptureProgress{Kind: k, Objects: 10})
	}
	p.update(snapshots.CaptureProgress{Kind: "namedLocation", Objects: 7, Done: true})
	got := screen(t, out.String())
	if len(got) != 3 || !strings.HasPrefix(got[0], "capturing 4.0s, 47 objects") || !strings.HasPrefix(got[1], "  user ") || got[2] != "  read: namedLocation 7" {
		t.Fatalf("on a 4-row terminal:\n%s", strings.Join(got, "\n"))
	}
}

func TestProgressIsSilentOffATerminal(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := newProgress(&out, false, nil)
	p.update(snapshots.CaptureProgress{Kind: "user", Objects: 10, Total: 20})
	p.finish()
	if out.Len() != 0 {
		t.Errorf("progress wrote %q with stderr not a terminal", out.String())
	}
}

func TestProgressNumbers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ got, want string }{
		{grouped(0), "0"}, {grouped(999), "999"}, {grouped(1000), "1,000"}, {grouped(-1234567), "-1,234,567"},
		{perSecond(840), "840/s"}, {perSecond(12_540), "12.5k/s"},
		{clock(1500 * time.Millisecond), "1.5s"}, {clock(59970 * time.Millisecond), "1m00s"},
		{clock(125 * time.Second), "2m05s"}, {clock(3*time.Hour + 20*time.Minute), "3h20m"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
