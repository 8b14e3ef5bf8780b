package tui

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// TestEndToEndOffline runs the real program over a snapshot file: open it offline, go
// to Snapshots, filter (pasting the text), open an object, go back, quit.
func TestEndToEndOffline(t *testing.T) {
	store, path := newTestStore(t)
	seen := &atomic.Pointer[string]{}
	tm := teatest.NewTestModel(t, probe{Model: NewOffline(store, path, true), seen: seen},
		teatest.WithInitialTermSize(100, 30),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
	// The renderer redraws only the cells that changed, so text on the screen is not
	// always contiguous in the output (a filter's "1/4 shown" becomes "1/1 shown" by one
	// cell): each wait looks at the screen as the model last drew it. The duration is a
	// deadline for a stuck program, not a speed check.
	wait := func(what string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func([]byte) bool {
			s := seen.Load()
			return s != nil && strings.Contains(*s, what)
		}, teatest.WithDuration(30*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	}
	typeKeys := func(keys ...string) {
		for _, k := range keys {
			tm.Send(press(k))
		}
	}
	wait("offline file: " + path)
	wait("modified")

	typeKeys(":", "s", "n", "enter")
	wait("Pick a snapshot")
	typeKeys("enter")
	wait("application (1)")
	// A paste with no input open is dropped (a pasted "q" does not quit); one into the
	// filter is typed, first line only.
	tm.Send(tea.PasteMsg{Content: "q"})
	typeKeys("l", "l", "l", "l", "/")
	tm.Send(tea.PasteMsg{Content: "dave\nsecond line"})
	tm.Send(tea.PasteMsg{Content: "enter"}) // text, not the key: the filter then matches nothing
	typeKeys("backspace", "backspace", "backspace", "backspace", "backspace")
	typeKeys("enter")
	wait("1/1 shown of 4")
	typeKeys("enter")
	wait(`"department": "Unknown"`)
	typeKeys("esc")
	wait("filter: /dave")
	typeKeys("q")

	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	final := tm.FinalModel(t).(probe).Model
	if final.Current() != "Snapshots" || len(final.stack) != 1 {
		t.Fatalf("ended on %q with %d screens open, want Snapshots alone", final.Current(), len(final.stack))
	}
	if b := final.base["snapshots"].(*browser); b.filter != "dave" || b.table.len() != 1 {
		t.Fatalf("the filter should survive opening and closing an object: %q, %d rows", b.filter, b.table.len())
	}
}
