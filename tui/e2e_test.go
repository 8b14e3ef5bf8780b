package tui

import (
	"bytes"
	"io"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// TestEndToEndOffline runs the real program over a snapshot file: open it offline, go
// to Snapshots, filter, open an object, go back, quit.
func TestEndToEndOffline(t *testing.T) {
	store, path := newTestStore(t)
	tm := teatest.NewTestModel(t, NewOffline(store, path, true),
		teatest.WithInitialTermSize(100, 30),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
	// out keeps everything the program drew; mark is where the output that followed the
	// last keys begins, so each wait looks only at frames drawn after its keys.
	var out []byte
	mark := 0
	wait := func(what string) {
		t.Helper()
		base := len(out)
		// The duration is a deadline for a stuck program, not a speed check: a loaded
		// machine may take seconds to draw a frame.
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
			out = append(out[:base], b...)
			return bytes.Contains(out[mark:], []byte(what))
		}, teatest.WithDuration(30*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	}
	drain := func() {
		b, _ := io.ReadAll(tm.Output())
		out = append(out, b...)
	}
	typeKeys := func(keys ...string) {
		drain()
		mark = len(out)
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
	typeKeys("l", "l", "l", "l", "/", "d", "a", "v", "e", "enter")
	wait("1/1 shown of 4")
	typeKeys("enter")
	wait(`"department": "Unknown"`)
	typeKeys("esc")
	wait("filter: /dave")
	typeKeys("q")

	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	final := tm.FinalModel(t).(Model)
	if final.Current() != "Snapshots" || len(final.stack) != 1 {
		t.Fatalf("ended on %q with %d screens open, want Snapshots alone", final.Current(), len(final.stack))
	}
	if b := final.base["snapshots"].(*browser); b.filter != "dave" || b.table.len() != 1 {
		t.Fatalf("the filter should survive opening and closing an object: %q, %d rows", b.filter, b.table.len())
	}
}
