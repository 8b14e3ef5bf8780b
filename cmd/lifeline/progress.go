package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/term"

	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// progress draws a capture's progress on a terminal as a block of lines redrawn in
// place: a header (time so far, objects, their rate, Graph requests, an ETA), one line
// per kind still being read (objects, of how many, rate, ETA) and one line naming the
// kinds already read. Every line is cut to the terminal's width, read at each draw:
// a line that wraps would break the redraw and scroll the screen full of copies.
type progress struct {
	w     io.Writer
	on    bool
	size  func() (width, height int)
	now   func() time.Time
	stats func() graphapi.Stats // nil: no request counts
	meter *snapshots.CaptureMeter

	mu    sync.Mutex
	heard bool // an event arrived: until then nothing is drawn
	last  time.Time
	drawn int // lines the last draw left on screen
	stop  chan struct{}
	ended chan struct{}
	once  sync.Once
}

const (
	redrawEvery = 100 * time.Millisecond
	// tickEvery redraws when no objects arrive (a throttled or slow collection), so the
	// clock and the rates show the capture is alive.
	tickEvery = 500 * time.Millisecond
)

// newProgress returns a display on w that draws only when on (stderr is a terminal);
// stats, when set, adds Graph's request and throttling counts to the header.
func newProgress(w io.Writer, on bool, stats func() graphapi.Stats) *progress {
	p := newProgressWith(w, on, stats, time.Now, func() (int, int) { return terminalSize(os.Stderr) })
	if on {
		p.stop, p.ended = make(chan struct{}), make(chan struct{})
		go p.tick()
	}
	return p
}

// newProgressWith is newProgress with the clock and the terminal's size given, and no
// ticker: tests draw it frame by frame.
func newProgressWith(w io.Writer, on bool, stats func() graphapi.Stats, now func() time.Time, size func() (int, int)) *progress {
	return &progress{w: w, on: on, size: size, now: now, stats: stats, meter: snapshots.NewCaptureMeter(now)}
}

// terminalSize is f's width and height, or 80x24 when it has none.
func terminalSize(f *os.File) (width, height int) {
	w, h, err := term.GetSize(f.Fd())
	if err != nil || w <= 0 {
		return 80, 24
	}
	return w, h
}

// fitWidth cuts s to the width of the terminal on f, so that a line redrawn in place
// with "\r" never wraps.
func fitWidth(f *os.File, s string) string {
	w, _ := terminalSize(f)
	return fit(s, w)
}

// fit cuts s short of the last column of a terminal width columns wide (a character in
// the last column leaves some terminals about to wrap). The marks are ASCII: "·" and
// "…" take two columns on terminals that draw ambiguous-width characters wide.
func fit(s string, width int) string {
	return ansi.Truncate(s, max(width-1, 1), "...")
}

func (p *progress) tick() {
	defer close(p.ended)
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			// Nothing is drawn before the first event: until then the terminal may be
			// showing a sign-in prompt.
			if p.on && p.heard && p.now().Sub(p.last) >= tickEvery {
				p.draw()
			}
			p.mu.Unlock()
		}
	}
}

// events is the capture's Progress callback: nil when nothing is drawn, so that the
// capture does not spend requests on totals nobody sees.
func (p *progress) events() func(snapshots.CaptureProgress) {
	if !p.on {
		return nil
	}
	return p.update
}

// update records an event from the capture (called from several goroutines).
func (p *progress) update(ev snapshots.CaptureProgress) {
	p.meter.Observe(ev)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.on {
		return
	}
	p.heard = true
	if p.now().Sub(p.last) >= redrawEvery || ev.Done {
		p.draw()
	}
}

// lines renders the display as of now.
func (p *progress) lines() []string {
	st := p.meter.Status()
	header := fmt.Sprintf("capturing %s, %s objects, %s", clock(st.Elapsed), grouped(st.Objects), perSecond(float64(st.Objects)/max(st.Elapsed.Seconds(), 0.001)))
	if p.stats != nil {
		s := p.stats()
		header += fmt.Sprintf(", %s requests", grouped(s.Requests))
		if s.Throttled > 0 {
			header += fmt.Sprintf(", %s throttled", grouped(s.Throttled))
		}
	}
	if st.ETA > 0 {
		header += ", ETA " + clock(st.ETA)
	}
	out := []string{header}
	var read []string
	for _, k := range st.Kinds {
		if k.Done {
			read = append(read, k.Kind+" "+grouped(k.Objects))
			continue
		}
		of := ""
		if k.Total > 0 {
			of = "of " + grouped(k.Total)
		}
		line := fmt.Sprintf("  %-26s %9s %-13s %8s", k.Kind, grouped(k.Objects), of, perSecond(k.Rate))
		if k.ETA > 0 {
			line += "  ETA " + clock(k.ETA)
		}
		if k.Stalled() {
			line += "  waiting for Graph"
		}
		out = append(out, line)
	}
	if len(read) > 0 {
		out = append(out, "  read: "+strings.Join(read, ", "))
	}
	return out
}

// draw replaces the block on screen with the current one. The caller holds p.mu.
func (p *progress) draw() {
	p.last = p.now()
	lines := p.lines()
	width, height := p.size()
	if height > 2 && len(lines) > height-1 {
		// A block taller than the screen cannot be redrawn in place: keep the header,
		// the first kinds and the list of those read.
		lines = append(lines[:height-2:height-2], lines[len(lines)-1])
	}
	var b strings.Builder
	p.rewind(&b)
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("\x1b[2K")
		b.WriteString(fit(l, width))
	}
	b.WriteString("\x1b[J")
	io.WriteString(p.w, b.String())
	p.drawn = len(lines)
}

// finish stops the display and erases it, leaving the cursor where it began; later
// events draw nothing.
func (p *progress) finish() {
	p.once.Do(p.end)
}

func (p *progress) end() {
	if p.stop != nil {
		close(p.stop)
		<-p.ended
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.on = false
	if p.drawn > 0 {
		var b strings.Builder
		p.rewind(&b)
		b.WriteString("\x1b[J")
		io.WriteString(p.w, b.String())
		p.drawn = 0
	}
}

// rewind moves the cursor to the start of the block's first line.
func (p *progress) rewind(b *strings.Builder) {
	if p.drawn > 1 {
		fmt.Fprintf(b, "\x1b[%dA", p.drawn-1)
	}
	b.WriteByte('\r')
}

// grouped writes n with thousands separators: 1,234,567.
func grouped(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// perSecond is a rate the way a person reads it at a glance: 840/s, 12.5k/s.
func perSecond(r float64) string {
	if r < 1000 {
		return fmt.Sprintf("%.0f/s", r)
	}
	return fmt.Sprintf("%.1fk/s", r/1000)
}

// clock is a duration to the tenth of a second under a minute, then to the second.
func clock(d time.Duration) string {
	switch {
	case d.Round(100*time.Millisecond) < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}
