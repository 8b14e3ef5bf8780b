package tui

import (
	"context"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// verifyMsg asks the Verify screen to compare the tenant with a snapshot.
type verifyMsg struct{ snap int64 }

// verifiedMsg is the comparison; tag drops earlier ones.
type verifiedMsg struct {
	tag int
	rep *engine.VerifyReport
	err error
}

// verifyNow reads the tenant and compares it with snapshot snap through the file's
// ledger (so recreated objects are matched under their new ids), for the objects in
// scope (all when empty).
func verifyNow(ctx context.Context, client *graphapi.Client, store *snapshots.Store, snap int64, scope []graphx.NodeID, observe func(snapshots.CaptureProgress)) (*engine.VerifyReport, error) {
	target, err := store.Resolve(ctx, fmt.Sprint(snap))
	if err != nil {
		return nil, err
	}
	ledger, err := engine.LoadLedger(ctx, store, target.TenantID)
	if err != nil {
		return nil, err
	}
	live, cleanup, err := engine.CaptureLive(ctx, client, target.TenantID, observe)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	return engine.Verify(ctx, snapshots.State{Store: store, Snapshot: target}, live, ledger, engine.VerifyOptions{Scope: scope})
}

// verifySentence is the verdict in one sentence, saying when it is a scoped one; what
// remains is said as 'lifeline verify' says it.
func verifySentence(rep *engine.VerifyReport) string {
	if !rep.Clean {
		return engine.VerifySentence(rep)
	}
	of := ""
	if n := len(rep.Scope); n > 0 {
		of = " for the " + plural(n, "scoped object", "scoped objects")
	}
	return fmt.Sprintf("clean: the tenant matches snapshot %d%s (%s Graph cannot restore, listed below)", rep.Snapshot, of, plural(len(rep.Unrestorable), "thing", "things"))
}

func runVerify(e *env, tag int, snap int64, observe func(snapshots.CaptureProgress)) tea.Cmd {
	client, store := e.live.client, e.store
	if client == nil {
		return nil
	}
	ctx := e.live.readContext("verify")
	return func() tea.Msg {
		rep, err := verifyNow(ctx, client, store, snap, nil, observe)
		return verifiedMsg{tag: tag, rep: rep, err: err}
	}
}

// verifyScreen shows what still differs from a snapshot after a restore, and what no
// restore can bring back (who needs a new password or secret).
type verifyScreen struct {
	env     *env
	tag     int
	snap    int64
	running bool
	read    tenantRead // the capture a comparison starts with
	rep     *engine.VerifyReport
	err     error
	pager   pager
	keys    listKeys
	run     key.Binding
	// width and height are the screen's; the pager gets what the verdict leaves.
	width, height int
}

func newVerifyScreen(e *env) *verifyScreen {
	return &verifyScreen{env: e, keys: newListKeys(), run: key.NewBinding(key.WithKeys("v", "enter"), key.WithHelp("v", "verify now"))}
}

// Title names the screen.
func (v *verifyScreen) Title() string { return "Verify" }

// SetSize sizes the pager below the verdict line.
func (v *verifyScreen) SetSize(w, h int) {
	redo := w != v.pager.width && v.rep != nil // the name column follows the width
	v.width, v.height = w, h
	v.sizePager()
	if redo {
		v.pager.setText(v.render())
	}
}

// KeyMap lists scrolling and verify.
func (v *verifyScreen) KeyMap() help.KeyMap {
	if v.env.live == nil {
		return keyMap{} // offline: none of its keys can do anything, so the help lists none
	}
	return keyMap{short: []key.Binding{v.run, v.keys.Up, v.keys.Down}, full: [][]key.Binding{v.keys.moves(), {v.run}}}
}

// Update starts comparisons and takes their results.
func (v *verifyScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case verifyMsg:
		return v, v.start(msg.snap)
	case verifiedMsg:
		if msg.tag == v.tag {
			v.running, v.rep, v.err = false, msg.rep, msg.err
			v.read.end()
			v.pager.offset = 0
			v.sizePager()
			v.pager.setText(v.render())
		}
	case readingTickMsg:
		return v, v.read.onTick(msg)
	case tea.KeyPressMsg:
		if key.Matches(msg, v.run) {
			snap := v.snap
			if s, ok := v.env.latest(); ok && snap == 0 {
				snap = s.ID
			}
			return v, v.start(snap)
		}
		v.pager.update(msg, v.keys)
	}
	return v, nil
}

func (v *verifyScreen) start(snap int64) tea.Cmd {
	if v.env.live == nil || snap == 0 {
		return nil
	}
	v.tag++
	v.snap, v.running, v.err = snap, true, nil
	observe, tick := v.read.begin("verify", v.env.now)
	run := runVerify(v.env, v.tag, snap, observe)
	if run == nil {
		v.read.end() // no tenant to read: nothing to follow
		return nil
	}
	return tea.Batch(run, tick)
}

// View renders the verdict and the report.
func (v *verifyScreen) View() string {
	switch {
	case v.env.live == nil:
		return "Verify compares the live tenant with a snapshot: this session is offline.\nOpen the console with --graph-url (or LIFELINE_GRAPH_URL), or run 'lifeline verify'."
	case v.running:
		line := fmt.Sprintf("Reading the tenant and comparing it with snapshot %d…", v.snap)
		if t := v.read.text(); t != "" {
			line += "\n" + t
		}
		return line
	case v.err != nil:
		return styles.err.Render(wrap("verify: "+v.err.Error(), v.width))
	case v.rep == nil:
		return "Nothing verified yet. Press v to compare the tenant with the newest snapshot\n(a finished run's v compares with the snapshot its plan restored)."
	}
	return styles.title.Render(v.verdict()) + "\n" + v.pager.view()
}

// verdict is the report's sentence, wrapped to the width: it says what is left to do.
func (v *verifyScreen) verdict() string {
	if v.err != nil || v.rep == nil {
		return ""
	}
	head := "✓ " + verifySentence(v.rep)
	if !v.rep.Clean {
		head = "✗ " + verifySentence(v.rep)
	}
	return hang(head, v.width, 2)
}

// sizePager gives the report the room below the verdict, however many lines it takes.
func (v *verifyScreen) sizePager() {
	v.pager.setSize(v.width, max(v.height-strings.Count(v.verdict(), "\n")-1, 1))
}

func (v *verifyScreen) render() string {
	if v.err != nil || v.rep == nil {
		return ""
	}
	rep := v.rep
	nameW := min(max(v.pager.width-70, 24), 48)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", styles.header.Render(fmt.Sprintf("Still different (%d)", len(rep.Differences))))
	if len(rep.Differences) == 0 {
		b.WriteString("  nothing: every restorable property and link matches\n")
	}
	for _, g := range groupChanges(rep.Differences) {
		for _, kg := range g.kinds {
			fmt.Fprintf(&b, "%s · %s (%d)\n", strings.ReplaceAll(g.class, "_", " "), kg.kind, len(kg.idx))
			for _, i := range kg.idx {
				c := rep.Differences[i]
				var what []string
				for _, p := range c.Properties {
					what = append(what, p.Path)
				}
				if n := len(c.Links); n > 0 {
					what = append(what, fmt.Sprintf("%d links", n))
				}
				fmt.Fprintf(&b, "  %-*s %s  %s\n", nameW, clip(nameOr(c.DisplayName, c.ID), nameW), c.ID, strings.Join(what, ", "))
			}
		}
	}
	fmt.Fprintf(&b, "\n%s\n", styles.header.Render(fmt.Sprintf("Cannot be restored by Graph (%d): tell these owners", len(rep.Unrestorable))))
	idNameW := min(max(v.pager.width-2-18-1-1-36, 12), 48)
	for _, u := range rep.Unrestorable {
		// The ids are what the owners are told: whole, the new one on a line of its own
		// (two ids and a name do not fit 120 columns).
		fmt.Fprintf(&b, "  %-18s %-*s %s\n", u.Kind, idNameW, clip(nameOr(u.DisplayName, u.ID), idNameW), u.ID)
		if u.NewID != "" {
			fmt.Fprintf(&b, "      recreated as %s\n", u.NewID)
		}
		fmt.Fprintf(&b, "      %s\n", u.What)
	}
	return strings.TrimRight(b.String(), "\n")
}
