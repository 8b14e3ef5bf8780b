package tui

import (
	"context"
	"os"
	osuser "os/user"
	"path/filepath"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// Options open a console session.
type Options struct {
	// Store is the open snapshot file and Path its name as the operator gave it.
	Store *snapshots.Store
	Path  string
	// Client, when set, makes the session live: the recycle bin, plans, apply and verify
	// reach the tenant through it. Nil opens the file offline, read-only.
	Client *graphapi.Client
	// ReadOnly disables every write to the tenant and to disk, even when live.
	ReadOnly bool
	// Operator is recorded in the apply journal ("console" plus the OS user when empty).
	Operator string
	// Now is the console's clock (time.Now when nil); tests pin it so goldens are stable.
	Now func() time.Time
}

// Connection kinds the overview and the status bar name.
const (
	connOffline   = "offline file"
	connLive      = "live"
	connSimulated = "simulated"
)

// liveEnv is what a live session knows about the tenant; every field is written only in
// the root's Init and Update (never in a command's goroutine), from the messages of the
// commands below.
type liveEnv struct {
	// client reaches the tenant. Tests build sessions without one: every command that
	// would read or write the tenant is then left out.
	client   *graphapi.Client
	url      string          // the Graph URL, as shown
	ctx      context.Context // cancelled by Close: stops captures and applies in flight
	cancel   context.CancelFunc
	operator string
	// reads cancel each owner's read of the tenant in flight (readContext).
	reads map[string]context.CancelFunc
	// applying counts the runs in flight (startApply), which Close waits for.
	applying sync.WaitGroup

	conn    string // connLive or connSimulated once checked; "" while checking
	domain  string // the tenant's primary domain, typed to confirm an apply
	connErr error

	state     *snapshots.State // the latest capture of the tenant
	liveGen   int              // the capture asked for last; older answers are dropped
	capturing bool
	read      tenantRead // the capture in flight, for the overview to say how far it is
	liveErr   error
	incident  *snapshots.DiffResult // latest snapshot -> live
	incFrom   int64
	// incRecreated counts the incident's hard-deleted objects that a restore recreated
	// (their copies are among its additions).
	incRecreated int

	bin    *engine.BinReport
	binErr error
	// binGen is the bin read asked for last (older answers are dropped), and
	// binReading says it has not answered: the Bin screen's rows are the last read's.
	binGen     int
	binReading bool

	// lockout is the verdict of the last run's lockout check, and lockoutKey the
	// version of the plan that run applied (the Plan screen's exclusionKey): the Plan
	// screen shows the verdict on that version alone, since a check of another plan
	// (an earlier build, or one with other steps taken out) says nothing of this one.
	lockout    string
	lockoutKey string

	// cleanups remove the scratch files of captures; Close runs them.
	cleanups []func()
}

// New opens the console: offline over the file when opts.Client is nil, live otherwise.
func New(opts Options) Model {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	e := &env{store: opts.Store, path: opts.Path, readOnly: opts.ReadOnly || opts.Client == nil || opts.Store.ReadOnly(), graphs: map[int64]*graphx.Graph{}, now: now}
	if opts.Client != nil {
		ctx, cancel := context.WithCancel(context.Background())
		op := opts.Operator
		if op == "" {
			op = "console " + osUser()
		}
		e.live = &liveEnv{client: opts.Client, url: opts.Client.GraphURL(), ctx: ctx, cancel: cancel, operator: op}
	}
	return newModel(e)
}

// osUser names who runs the console, for the journal: the OS account, or $USER when
// the account cannot be looked up (containers without /etc/passwd entries).
func osUser() string {
	if u, err := osuser.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

// Close stops what the session still runs (a capture, an apply) and removes the scratch
// files of its live captures. Call it once the program has ended, on its final model.
func (m Model) Close() {
	if l := m.env.live; l != nil {
		l.cancel()
		// A run stops between rounds once cancelled, its journal written; it is waited
		// for (boundedly: a round's requests may hang on a dead connection) so that the
		// process does not exit in the middle of that write.
		done := make(chan struct{})
		go func() { l.applying.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(closeWait):
		}
		for _, c := range l.cleanups {
			c()
		}
		l.cleanups = nil
	}
}

// closeWait bounds how long Close waits for a cancelled run to stop.
const closeWait = 15 * time.Second

// RunInProgress reports whether a restore is running: quitting stops it between rounds,
// and the journal resumes it.
func (m Model) RunInProgress() bool {
	r, ok := m.base["run"].(*runScreen)
	return ok && r.phase == runRunning
}

// RunPlanFile is the saved plan file the last run applied, or "" when the plan it ran
// was not saved or was changed after saving: only that exact file resumes the run
// ('lifeline apply' refuses any other version of the plan as stale).
func (m Model) RunPlanFile() string {
	r, ok := m.base["run"].(*runScreen)
	if !ok || r.phase == runIdle || r.phase == runConfirm {
		return ""
	}
	return r.path
}

// connection names how the session reaches the tenant.
func (e *env) connection() string {
	switch {
	case e.live == nil:
		return connOffline
	case e.live.conn == "":
		return "connecting"
	}
	return e.live.conn
}

// latest is the newest snapshot of the file.
func (e *env) latest() (snapshots.Snapshot, bool) {
	if len(e.snaps) == 0 {
		return snapshots.Snapshot{}, false
	}
	return e.snaps[len(e.snaps)-1], true
}

// dbPath is the snapshot file's absolute path: what a saved plan's DB names.
func (e *env) dbPath() string {
	p := e.path
	if e.store != nil {
		p = e.store.Path()
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return p
}

// sideFile is a file next to the snapshot file (the saved plan).
func (e *env) sideFile(name string) string { return filepath.Join(filepath.Dir(e.dbPath()), name) }

// passwordFile is where apply writes recreated users' generated passwords.
func (e *env) passwordFile() string { return e.dbPath() + ".passwords" }

// connInfoMsg says what the tenant is: simulated or live, and its primary domain.
type connInfoMsg struct {
	conn   string
	domain string
	err    error
}

// checkConnection asks the tenant whether it is a simulated one and reads its primary
// domain (the verified domain marked isDefault) from GET /organization.
func checkConnection(l *liveEnv) tea.Cmd {
	client, ctx := l.client, l.ctx
	if client == nil {
		return nil
	}
	return func() tea.Msg {
		msg := connInfoMsg{conn: connLive}
		if _, err := engine.CheckSimulated(ctx, client); err == nil {
			msg.conn = connSimulated
		}
		msg.domain, msg.err = engine.PrimaryDomain(ctx, client)
		return msg
	}
}

// liveCapturedMsg is a fresh capture of the tenant.
type liveCapturedMsg struct {
	gen     int
	state   snapshots.State
	cleanup func()
	err     error
}

// startCapture starts reading the whole tenant into a scratch file, followed by the
// overview's tenantRead until it ends.
func (e *env) startCapture() tea.Cmd {
	l := e.live
	l.liveGen++
	l.capturing = true
	observe, tick := l.read.begin("overview", e.now)
	if l.client == nil {
		l.read.end() // tests build sessions without a tenant: nothing to follow
		return nil
	}
	client, ctx, gen := l.client, l.readContext("overview"), l.liveGen
	capture := func() tea.Msg {
		st, cleanup, err := engine.CaptureLive(ctx, client, "", observe)
		return liveCapturedMsg{gen: gen, state: st, cleanup: cleanup, err: err}
	}
	return tea.Batch(capture, tick)
}

// readContext is the context of a new read of the tenant by owner ("overview",
// "plan", "verify"), whose previous read it cancels: pressing b, R or v again asks for
// a fresh answer, and the read it replaces would only spend Graph's budget on one that
// is thrown away.
func (l *liveEnv) readContext(owner string) context.Context {
	if l.reads == nil {
		l.reads = map[string]context.CancelFunc{}
	}
	if cancel := l.reads[owner]; cancel != nil {
		cancel()
	}
	ctx, cancel := context.WithCancel(l.ctx)
	l.reads[owner] = cancel
	return ctx
}

// liveDiff compares a snapshot with the live capture (the incident as it stands).
func liveDiff(e *env, from snapshots.Snapshot, live snapshots.State) tea.Cmd {
	store := e.store
	return func() tea.Msg {
		ctx, target := context.Background(), snapshots.State{Store: store, Snapshot: from}
		res, err := snapshots.Diff(ctx, target, live, snapshots.DiffOptions{})
		msg := diffLoadedMsg{from: from.ID, to: live.Snapshot.ID, live: true, res: res, err: err}
		if err == nil {
			msg.copies, msg.err = engine.RecreatedByRestores(ctx, target)
		}
		return msg
	}
}

// binLoadedMsg is the live recycle bin, as read by the gen'th read.
type binLoadedMsg struct {
	gen int
	rep *engine.BinReport
	err error
}

// loadBin starts reading the recycle bin, and says it is being read until it answers.
func loadBin(e *env) tea.Cmd {
	l := e.live
	l.binGen++
	l.binReading = true
	client, ctx, store, gen := l.client, l.ctx, e.store, l.binGen
	if client == nil {
		return nil
	}
	return func() tea.Msg {
		rep, err := engine.RecycleBin(ctx, client, store)
		return binLoadedMsg{gen: gen, rep: &rep, err: err}
	}
}

// refreshLive starts a new capture (and with it a new incident diff), a new bin read,
// and reads the file's snapshot list again: the incident and the plans are against the
// newest snapshot, which a capture from another shell may have made since.
func (m *Model) refreshLive() tea.Cmd {
	l := m.env.live
	if l == nil {
		return nil
	}
	return tea.Batch(m.env.startCapture(), loadBin(m.env), reloadStore(m.env))
}

// liveUpdate handles the messages that change what the session knows about the tenant,
// before they go on to the screens.
func (m *Model) liveUpdate(msg tea.Msg) tea.Cmd {
	l := m.env.live
	if l == nil {
		return nil
	}
	switch msg := msg.(type) {
	case connInfoMsg:
		l.conn, l.domain, l.connErr = msg.conn, msg.domain, msg.err
	case readingTickMsg:
		return l.read.onTick(msg)
	case liveCapturedMsg:
		if msg.cleanup != nil {
			l.cleanups = append(l.cleanups, msg.cleanup)
		}
		if msg.gen != l.liveGen {
			return nil
		}
		l.capturing, l.liveErr = false, msg.err
		l.read.end()
		if msg.err == nil {
			st := msg.state
			l.state = &st
			if s, ok := m.env.latest(); ok {
				return liveDiff(m.env, s, st)
			}
		}
	case storeLoadedMsg:
		// While a capture runs (R reads the list and the tenant again) its end diffs
		// the newest snapshot against it; the capture before it is not worth a diff.
		if s, ok := m.env.latest(); ok && l.state != nil && msg.err == nil && !l.capturing {
			return liveDiff(m.env, s, *l.state)
		}
	case diffLoadedMsg:
		if s, ok := m.env.latest(); ok && msg.live && msg.from == s.ID && l.state != nil && msg.to == l.state.Snapshot.ID {
			l.incident, l.incFrom, l.incRecreated = msg.res, msg.from, msg.copies.Count(msg.res)
			if msg.err != nil {
				l.liveErr = msg.err
			}
		}
	case binLoadedMsg:
		if msg.gen != l.binGen {
			return nil // a read R asked for again: the later one answers
		}
		l.bin, l.binErr, l.binReading = msg.rep, msg.err, false
	case runBatchMsg:
		if msg.done != nil {
			// A run changed the tenant: read it again, so the overview, the bin and the
			// diff show what is left rather than what was.
			return m.refreshLive()
		}
	}
	return nil
}
