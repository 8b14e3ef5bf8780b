package tui

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/progress"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// runBuffer is how many engine events may wait for the UI. Step and finished events
// block the run only when this many are unread; progress events never block it.
const runBuffer = 4096

// callsShown bounds the Graph call log the screen keeps.
const callsShown = 200

// callsEvery is how often the call log is read while a run goes on.
const callsEvery = 500 * time.Millisecond

// confirmMsg opens the confirmation of a plan on the Run screen.
type confirmMsg struct {
	plan *engine.Plan
	path string // where the plan was saved, for the journal ("" when not saved)
	// differs names a saved file that holds another version of the plan (steps were
	// taken out or put back since): the confirmation says this run is not that file.
	differs string
	// key is the Plan screen's exclusionKey of this version of the plan: the run's
	// lockout verdict is recorded under it, for the Plan screen to show on this
	// version alone.
	key string
}

// runBatchMsg carries the engine events that were waiting, in order, and, last, the
// run's end. The pump sends them in batches so a fast run costs one Update per batch.
type runBatchMsg struct {
	run    int // which run (a later run's screen ignores an earlier one's leftovers)
	events []engine.Event
	done   *runDone
}

// runDone is how Apply returned.
type runDone struct {
	report *engine.ApplyReport
	err    error
}

// callsMsg is the tail of the client's call log, with the client's counters as they
// stood: read twice a second, they keep the screen moving while Graph throttles and
// no step finishes.
type callsMsg struct {
	run   int
	calls []graphapi.Call
	stats graphapi.Stats
	at    time.Time
}

// forward adapts Apply's event callback to the channel the pump reads. Progress and
// throttle events are dropped when the UI is behind (the next one says the same, newer);
// every other event waits for room, so no step is ever missing from the screen.
// Once the session ends (ctx is done) nothing reads the channel any more, and no
// event waits: the run stops between rounds instead of blocking on a full channel.
func forward(ctx context.Context, ch chan<- any) func(engine.Event) {
	return func(ev engine.Event) {
		switch ev.Type {
		case engine.EventProgress, engine.EventThrottle:
			select {
			case ch <- ev:
			default:
			}
		default:
			select {
			case ch <- ev:
			case <-ctx.Done():
			}
		}
	}
}

// pump waits for the run's next event, then takes every event already waiting (up to a
// bound, so one message stays cheap), and re-arms itself from Update.
func pump(run int, ch <-chan any) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		first, ok := <-ch
		if !ok {
			return nil
		}
		msg := runBatchMsg{run: run}
		add := func(x any) {
			switch x := x.(type) {
			case engine.Event:
				msg.events = append(msg.events, x)
			case runDone:
				msg.done = &x
			}
		}
		add(first)
		for len(msg.events) < 512 && msg.done == nil {
			select {
			case x, ok := <-ch:
				if !ok {
					return msg
				}
				add(x)
			default:
				return msg
			}
		}
		return msg
	}
}

// startApply runs the plan. The command itself is the run's goroutine: it returns only
// when Apply does, having sent the end through the channel after the last event.
func startApply(e *env, plan *engine.Plan, path string, ch chan<- any, control *engine.Control) tea.Cmd {
	l, store := e.live, e.store
	client, ctx := l.client, l.ctx
	if client == nil {
		return nil
	}
	opts := engine.ApplyOptions{
		Store:        store,
		Client:       client,
		PlanPath:     path,
		Operator:     l.operator,
		PasswordFile: e.passwordFile(),
		Control:      control,
		Events:       forward(ctx, ch),
		Fingerprint: func(ctx context.Context) (string, error) {
			return engine.LiveFingerprint(ctx, client, plan.TenantID)
		},
		Verify: func(ctx context.Context) (bool, string, error) {
			rep, err := verifyNow(ctx, client, store, plan.Snapshot, plan.Scope, nil)
			if err != nil {
				return false, "", err
			}
			return rep.Settled(), verifySentence(rep), nil
		},
	}
	l.applying.Add(1)
	return func() tea.Msg {
		defer l.applying.Done()
		rep, err := engine.Apply(ctx, plan, opts)
		select {
		case ch <- runDone{report: rep, err: err}:
		case <-ctx.Done():
		}
		close(ch)
		return nil
	}
}

// readCalls reads the tail of the call log after a pause.
func readCalls(run int, client *graphapi.Client, after time.Duration) tea.Cmd {
	if client == nil {
		return nil
	}
	return tea.Tick(after, func(time.Time) tea.Msg {
		calls := client.Calls()
		if len(calls) > callsShown {
			calls = calls[len(calls)-callsShown:]
		}
		return callsMsg{run: run, calls: calls, stats: client.Stats(), at: time.Now()}
	})
}

type runPhase int

const (
	runIdle runPhase = iota
	runConfirm
	runRunning
	runFinished
)

// runScreen confirms a plan, runs it and shows it running: per-stage progress, the
// write rate against the budget, throttling, failures and the Graph calls.
type runScreen struct {
	env    *env
	width  int
	height int
	phase  runPhase
	run    int // counts runs started, to tell their messages apart
	plan   *engine.Plan
	path   string
	// version is the running plan's version on the Plan screen (confirmMsg.key):
	// its lockout verdict is recorded under it.
	version string
	// confirm is the plan awaiting the typed domain, and back the phase its esc returns
	// to: the last run's report stays until another run starts.
	confirm *confirmMsg
	back    runPhase
	typed   string
	refuse  string // why the last confirmation did not start

	events  chan any
	control *engine.Control
	paused  bool
	pace    float64

	stages    []engine.StageProgress
	stage     string
	prog      *engine.Progress
	waited    float64 // seconds throttling held requests back
	throttles int
	failures  []engine.StepEvent
	lines     []string // run, stage, pause and end messages
	calls     []graphapi.Call
	// rates are the writes made in each second of the run, the sparkline: second
	// rateFirst on (older ones dropped, rateSeconds kept), counted from rateFrom, the
	// engine's time of the run's first progress event. lastW is the writes the last
	// progress event counted.
	rateFrom  time.Time
	rateFirst int
	lastW     int64
	rates     []float64
	// started, base and live follow the run between its events: when it began, the
	// client's counters then, and as last read (callsMsg).
	started    time.Time
	base, live graphapi.Stats
	liveAt     time.Time
	// high is the most of each count the screen has shown: the engine's figures and
	// the client's, read at different moments, disagree, and a count that goes down
	// over a run reads as lost work.
	high   runCounts
	report *engine.ApplyReport
	err    error
	bar    progress.Model
	keys   runKeys
}

// runCounts are the run's running totals, as shown.
type runCounts struct{ writes, requests, retries, throttled int64 }

// raise takes the newest figures (the engine's, and between its events the client's
// counters since the run began) into the high-water marks.
func (r *runScreen) raise() {
	h := &r.high
	h.throttled = max(h.throttled, int64(r.throttles))
	if p := r.prog; p != nil {
		h.writes = max(h.writes, p.Writes)
		h.requests = max(h.requests, p.Requests)
		h.retries = max(h.retries, p.Retries)
	}
	if r.phase == runRunning && !r.liveAt.IsZero() {
		// Between events (a throttled round can take minutes) the client's counters
		// say the run is alive. Once it has ended they count other reads (the tenant
		// read again after it), not the run's.
		h.requests = max(h.requests, r.live.Requests-r.base.Requests)
		h.retries = max(h.retries, r.live.Retries-r.base.Retries)
		h.throttled = max(h.throttled, r.live.Throttled-r.base.Throttled)
	}
}

type runKeys struct {
	Pause, Faster, Slower, Verify, Cancel key.Binding
}

func newRunScreen(e *env) *runScreen {
	return &runScreen{env: e, pace: graphapi.DefaultPace,
		bar: progress.New(progress.WithWidth(30), progress.WithoutPercentage(), progress.WithFillCharacters('█', '░')),
		keys: runKeys{
			Pause:  key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause/resume")),
			Faster: key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+/-", "pace ±0.1")),
			Slower: key.NewBinding(key.WithKeys("-", "_")),
			Verify: key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "verify")),
			Cancel: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
		}}
}

// Title names the screen.
func (r *runScreen) Title() string { return "Run" }

// SetSize sizes the stage bars to the room left of the counts.
func (r *runScreen) SetSize(w, h int) {
	r.width, r.height = w, h
	r.bar.SetWidth(min(max(w-60, 10), 40))
}

// Capturing is true while the operator types the domain: q and : are letters then.
func (r *runScreen) Capturing() bool { return r.phase == runConfirm }

// KeyMap shows the keys of the phase.
func (r *runScreen) KeyMap() help.KeyMap {
	k := r.keys
	switch r.phase {
	case runConfirm:
		enter := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "start"))
		return keyMap{short: []key.Binding{enter, k.Cancel}, full: [][]key.Binding{{enter, k.Cancel}}}
	case runRunning:
		return keyMap{short: []key.Binding{k.Pause, k.Faster}, full: [][]key.Binding{{k.Pause, k.Faster}}}
	case runFinished:
		return keyMap{short: []key.Binding{k.Verify}, full: [][]key.Binding{{k.Verify}}}
	}
	return keyMap{}
}

// Update handles the confirmation, the run's events and the operator's controls.
func (r *runScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case confirmMsg:
		if r.phase == runRunning {
			return r, status("a run is in progress: wait for it to finish before applying another plan")
		}
		if r.phase != runConfirm {
			r.back = r.phase
		}
		r.phase, r.confirm, r.typed, r.refuse = runConfirm, &msg, "", ""
	case runBatchMsg:
		if msg.run != r.run {
			return r, nil
		}
		for _, ev := range msg.events {
			r.event(ev)
		}
		defer r.raise()
		if msg.done != nil {
			r.phase, r.report, r.err = runFinished, msg.done.report, msg.done.err
			if r.report != nil {
				r.prog = &r.report.Progress
				r.stages = r.report.Progress.Stages
			}
			return r, readCalls(r.run, r.env.live.client, 0)
		}
		return r, pump(r.run, r.events)
	case callsMsg:
		if msg.run != r.run {
			return r, nil
		}
		r.calls, r.live, r.liveAt = msg.calls, msg.stats, msg.at
		r.raise()
		if r.phase == runRunning {
			return r, readCalls(r.run, r.env.live.client, callsEvery)
		}
	case tea.KeyPressMsg:
		return r, r.key(msg)
	}
	return r, nil
}

func (r *runScreen) key(msg tea.KeyPressMsg) tea.Cmd {
	switch r.phase {
	case runConfirm:
		return r.confirmKey(msg)
	case runRunning:
		switch {
		case key.Matches(msg, r.keys.Pause):
			if r.paused {
				r.control.Resume()
			} else {
				r.control.Pause()
			}
			r.paused = !r.paused
		case key.Matches(msg, r.keys.Faster), key.Matches(msg, r.keys.Slower):
			d := 0.1
			if key.Matches(msg, r.keys.Slower) {
				d = -0.1
			}
			r.pace = math.Round(min(max(r.pace+d, 0.1), 1)*10) / 10
			r.control.SetPace(r.pace)
		}
	case runFinished:
		if key.Matches(msg, r.keys.Verify) && r.plan != nil {
			snap := r.plan.Snapshot
			return func() tea.Msg { return jumpMsg{name: "verify", then: verifyMsg{snap: snap}} }
		}
	}
	return nil
}

// confirmKey takes the typed domain; only the tenant's (in any case) starts the run,
// and esc goes back to the plan.
func (r *runScreen) confirmKey(msg tea.KeyPressMsg) tea.Cmd {
	switch msg.String() {
	case "esc":
		// Back to the Plan screen, where a was pressed: left here, the operator would
		// read the last run's end (a refusal, say, "the plan is stale") as if it were
		// about the plan just cancelled. The last run's report stays for :run.
		r.phase, r.confirm, r.typed, r.refuse = r.back, nil, "", ""
		return tea.Batch(func() tea.Msg { return jumpMsg{name: "plan"} }, status("apply cancelled: nothing was written"))
	case "backspace":
		if t := []rune(r.typed); len(t) > 0 {
			r.typed = string(t[:len(t)-1])
		}
	case "enter":
		l := r.env.live
		switch {
		case l.domain == "":
			r.refuse = "the tenant's primary domain is not known yet (or could not be read), so the apply cannot be confirmed"
		case !engine.SameDomain(r.typed, l.domain):
			r.refuse = fmt.Sprintf("%q is not the tenant's primary domain; nothing was written", r.typed)
			r.typed = ""
		default:
			return r.start()
		}
	default:
		r.typed += msg.Text
	}
	return nil
}

// start begins the run: the engine's events come back through a buffered channel.
func (r *runScreen) start() tea.Cmd {
	r.run++
	r.plan, r.path, r.version, r.confirm = r.confirm.plan, r.confirm.path, r.confirm.key, nil
	r.phase, r.refuse, r.typed = runRunning, "", ""
	r.events = nil
	r.control = engine.NewControl()
	r.paused, r.report, r.err = false, nil, nil
	r.stages, r.stage, r.prog, r.rates, r.failures, r.lines, r.calls = nil, "", nil, nil, nil, nil, nil
	r.waited, r.throttles, r.lastW, r.rateFrom, r.rateFirst = 0, 0, 0, time.Time{}, 0
	r.started, r.base, r.live, r.liveAt, r.high = time.Now(), graphapi.Stats{}, graphapi.Stats{}, time.Time{}, runCounts{}
	if c := r.env.live.client; c != nil {
		r.base = c.Stats()
		if r.base.Pace > 0 {
			r.pace = math.Round(r.base.Pace*10) / 10
		}
	}
	for _, st := range r.plan.Stages {
		r.stages = append(r.stages, engine.StageProgress{Name: st.Name, Total: len(st.Steps)})
	}
	if r.env.live.client == nil {
		return nil // a test session: the test sends the events
	}
	r.events = make(chan any, runBuffer)
	return tea.Batch(startApply(r.env, r.plan, r.path, r.events, r.control), pump(r.run, r.events), readCalls(r.run, r.env.live.client, callsEvery))
}

// event folds one engine event into the screen.
func (r *runScreen) event(ev engine.Event) {
	if ev.Progress != nil {
		r.progress(ev)
	}
	switch ev.Type {
	case engine.EventRun:
		r.log(ev, ev.Message)
	case engine.EventStage:
		r.stage = ev.Stage
		r.log(ev, "stage "+ev.Stage)
	case engine.EventStep:
		s := ev.Step
		if s.State == snapshots.StepFailed {
			r.failures = append(r.failures, *s)
		}
		if s.Action == engine.ActionLockoutCheck && r.env.live != nil {
			l := r.env.live
			switch s.State {
			case snapshots.StepDone:
				l.lockout, l.lockoutKey = "passed: "+s.Note, r.version
			case snapshots.StepFailed:
				l.lockout, l.lockoutKey = "FAILED: "+s.Error, r.version
			}
		}
	case engine.EventThrottle:
		r.throttles++
		r.waited += ev.WaitSeconds
	case engine.EventPaused:
		r.paused = true
		r.log(ev, "paused: requests in flight finish, none start")
	case engine.EventResumed:
		r.paused = false
		r.log(ev, "resumed")
	case engine.EventFinished:
		r.log(ev, "finished: "+ev.Message)
	}
}

func (r *runScreen) log(ev engine.Event, s string) {
	r.lines = append(r.lines, ev.At.UTC().Format("15:04:05")+" "+s)
	if len(r.lines) > 50 {
		r.lines = r.lines[len(r.lines)-50:]
	}
}

// progress takes the engine's counts and adds the writes made since the last event to
// the second of the run the event is in.
func (r *runScreen) progress(ev engine.Event) {
	p := ev.Progress
	r.prog = p
	if len(p.Stages) > 0 {
		r.stages = p.Stages
	}
	r.countWrites(ev.At, p.Writes)
}

// rateSeconds bounds the seconds of writes the sparkline keeps.
const rateSeconds = 512

// countWrites adds the writes counted up to at to that second's sample. A sample is
// what one second of the run wrote, so that the sparkline reads as writes/s: a rate
// between two events (writes over the time between them) made two events a few
// milliseconds apart a spike that flattened the rest, and a stall, with no events,
// no sample. The seconds with no event in them count none, and show as a gap.
func (r *runScreen) countWrites(at time.Time, writes int64) {
	if r.rateFrom.IsZero() {
		r.rateFrom = at
	}
	sec := int(max(at.Sub(r.rateFrom), 0) / time.Second)
	i := max(sec-r.rateFirst, 0) // a late event's writes count in the oldest second kept
	if i >= len(r.rates)+rateSeconds {
		// A gap longer than what is kept: nothing before it would be shown.
		r.rates, r.rateFirst, i = r.rates[:0], sec-rateSeconds+1, rateSeconds-1
	}
	for len(r.rates) <= i {
		r.rates = append(r.rates, 0)
	}
	r.rates[i] += float64(max(writes-r.lastW, 0))
	r.lastW = max(r.lastW, writes)
	if extra := len(r.rates) - rateSeconds; extra > 0 {
		r.rates, r.rateFirst = r.rates[extra:], r.rateFirst+extra
	}
}

// completeRates are the samples to draw: while the run goes on, its last second is
// still being counted, and drawn it would read as a drop in the rate.
func (r *runScreen) completeRates() []float64 {
	if r.phase == runRunning && len(r.rates) > 0 {
		return r.rates[:len(r.rates)-1]
	}
	return r.rates
}

// sparkline draws the last w samples, scaled to the largest.
func sparkline(samples []float64, w int) string {
	const ticks = "▁▂▃▄▅▆▇█"
	bars := []rune(ticks)
	if w <= 0 || len(samples) == 0 {
		return ""
	}
	if len(samples) > w {
		samples = samples[len(samples)-w:]
	}
	top := 0.0
	for _, s := range samples {
		top = max(top, s)
	}
	var b strings.Builder
	for _, s := range samples {
		i := 0
		if top > 0 {
			i = int(math.Round(s / top * float64(len(bars)-1)))
		}
		b.WriteRune(bars[min(max(i, 0), len(bars)-1)])
	}
	return b.String()
}

// View renders the phase.
func (r *runScreen) View() string {
	switch {
	case r.env.live == nil:
		return "Applying a plan needs the live tenant:\nthis session is offline (read-only: no writes)."
	case r.env.readOnly:
		return "READ-ONLY session: no writes. Open the console without --read-only to apply a plan."
	}
	switch r.phase {
	case runConfirm:
		return r.confirmView()
	case runRunning, runFinished:
		return r.runView()
	}
	return "No run yet.\n\nBuild a plan on the Plan screen (:plan), review it, then press a there to apply it."
}

func (r *runScreen) confirmView() string {
	l, p := r.env.live, r.confirm.plan
	domain := l.domain
	if domain == "" {
		domain = "(unknown)"
	}
	total := 0
	for _, st := range p.Stages {
		total += len(st.Steps)
	}
	s := p.Summary
	// The confirmation is built of parts, each wrapped to the width; on a short
	// terminal the parts that matter least go first (spacing, the stage list, where the
	// plan was built), so that the prompt with the domain to type and what is typed are
	// always on the screen: starting a run blind is worse.
	type part struct {
		lines []string
		keep  int // higher stays longer
	}
	var parts []part
	add := func(keep int, text string) {
		parts = append(parts, part{lines: strings.Split(text, "\n"), keep: keep})
	}
	blank := func() { add(0, "") }
	add(6, styles.title.Render("Apply this plan? It writes to the tenant."))
	blank()
	add(3, hang(fmt.Sprintf("Tenant   %s · %s · %s", p.TenantID, domain, l.url), r.width, 9))
	add(2, wrap(fmt.Sprintf("Restores snapshot %d · plan built %s · %s", p.Snapshot, p.BuiltAt.UTC().Format(time.DateTime), connNoun(r.env.connection())), r.width))
	blank()
	var stages []string
	for _, st := range p.Stages {
		unit := "steps"
		if len(st.Steps) == 1 {
			unit = "step"
		}
		stages = append(stages, fmt.Sprintf("  %-20s %5d %s", st.Name, len(st.Steps), unit))
	}
	add(1, strings.Join(stages, "\n"))
	// Counted as the Plan screen counts them, so the two agree (relink is its links
	// and its links to check).
	add(5, hang(fmt.Sprintf("  %-20s %5d steps: %d from the bin, %d recreated, %d links, %d to check, %d properties, %d removals, %s",
		"total", total, s.RestoreFromBin, s.Recreate, s.Links, s.LinksToCheck, s.Properties, s.Removals, plural(s.CAPolicies, "CA policy", "CA policies")), r.width, 4))
	switch {
	case r.confirm.differs != "":
		add(7, styles.err.Render(wrap("This is not the plan saved in "+r.confirm.differs+": steps were taken out or put back since (s on the Plan screen saves this one).", r.width)))
	case r.confirm.path != "":
		add(1, wrap("Saved in "+r.confirm.path, r.width))
	}
	blank()
	add(9, wrap(fmt.Sprintf("Type the tenant's primary domain, %s, and press enter to start (esc cancels):", domain), r.width))
	input := "> " + r.typed + "█"
	if w := ansi.StringWidth(input); w > r.width && r.width > 2 {
		input = "> …" + ansi.TruncateLeft(r.typed+"█", w-r.width+1, "") // the end of what is typed
	}
	add(10, input)
	if r.refuse != "" {
		add(8, styles.err.Render(wrap(r.refuse, r.width)))
	}
	count := func() int {
		n := 0
		for _, pt := range parts {
			n += len(pt.lines)
		}
		return n
	}
	for keep := 0; keep <= 8 && count() > r.height; keep++ {
		kept := parts[:0]
		for _, pt := range parts {
			if pt.keep != keep {
				kept = append(kept, pt)
			}
		}
		parts = kept
	}
	var lines []string
	for _, pt := range parts {
		lines = append(lines, pt.lines...)
	}
	if extra := len(lines) - r.height; extra > 0 {
		lines = lines[extra:] // the prompt and the input are last: they stay
	}
	return strings.Join(lines, "\n")
}

// connNoun names the connection for the confirmation.
func connNoun(conn string) string {
	if conn == connSimulated {
		return "a simulated tenant"
	}
	return "a " + conn + " tenant"
}

// refused reports whether the run ended before it began: apply's checks (a stale plan,
// a plan applied already) turned it down, and nothing was written.
func (r *runScreen) refused() bool {
	return r.phase == runFinished && r.report == nil && r.err != nil
}

// refusedView says why the run was turned down, in full, with what to do in the
// console: there is no run to show, so no stage bars either (full or empty, they would
// say something happened).
func (r *runScreen) refusedView() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s REFUSED · nothing was written · plan for tenant %s → snapshot %d\n\n",
		styles.title.Render("Run"), r.plan.TenantID, r.plan.Snapshot)
	b.WriteString(styles.err.Render(wrap("The run was refused before it began: "+consoleAdvice(r.err.Error()), r.width)) + "\n")
	return strings.TrimRight(b.String(), "\n")
}

// consoleAdvice rewrites the engine's remedies, which are worded for the command line
// ("build a new plan with 'lifeline plan'"), as the keys that do the same in the
// console.
func consoleAdvice(msg string) string {
	for _, r := range []struct{ cli, console string }{
		{"; build a new plan with 'lifeline plan' and apply that", "; build a new plan on the Plan screen (:plan, then b) and apply that"},
		{". 'lifeline verify --db", ". v verifies the tenant now, and a new plan (:plan, then b) restores it again"},
	} {
		if i := strings.Index(msg, r.cli); i >= 0 {
			return msg[:i] + r.console
		}
	}
	return msg
}

// failureLines is how many lines one failure of the Run screen takes at most; the Plan
// screen has the whole text.
const failureLines = 3

func (r *runScreen) runView() string {
	if r.refused() {
		return r.refusedView()
	}
	var b strings.Builder
	state := "RUNNING"
	switch {
	case r.phase == runFinished && r.err != nil:
		state = "STOPPED"
	case r.phase == runFinished:
		state = "FINISHED"
	case r.paused:
		state = "PAUSED (p resumes)"
	}
	b.WriteString(joinFacts(r.width, styles.title.Render("Run")+" "+state,
		fmt.Sprintf("plan for tenant %s → snapshot %d", r.plan.TenantID, r.plan.Snapshot),
		fmt.Sprintf("pace %.1f of the budget", r.pace)) + "\n")
	for _, st := range r.stages {
		// The bar is the steps done, only: failed and skipped steps are not progress
		// (a tenant gone unreachable fails whole stages), and the text counts them.
		pct := 1.0
		if st.Total > 0 {
			pct = float64(st.Done) / float64(st.Total)
		}
		name := st.Name
		if st.Name == r.stage && r.phase == runRunning {
			name = "▸ " + name
		} else {
			name = "  " + name
		}
		line := fmt.Sprintf("%-22s %s %4d/%-4d", name, r.bar.ViewAs(pct), st.Done, st.Total)
		if st.Failed > 0 {
			line += fmt.Sprintf(" · %d failed", st.Failed)
		}
		if st.Skipped > 0 {
			line += fmt.Sprintf(" · %d skipped", st.Skipped)
		}
		b.WriteString(line + "\n")
	}
	if p := r.prog; p != nil {
		budget := "unlimited"
		if p.HasBudget() {
			budget = fmt.Sprintf("%.1f/s", p.BudgetWritesPerSecond*p.Pace)
		}
		elapsed := time.Duration(p.ElapsedSeconds * float64(time.Second))
		if r.phase == runRunning && !r.liveAt.IsZero() {
			elapsed = max(elapsed, r.liveAt.Sub(r.started))
		}
		hi := r.high
		// A rate over the first moments of a run (6 writes in 10ms) says nothing; a
		// finished run's, over all of it, is what it was.
		rate := ""
		if p.RateKnown() || r.phase == runFinished && p.ElapsedSeconds > 0 {
			rate = fmt.Sprintf(" at %.1f/s", p.WritesPerSecond)
		}
		facts := []string{
			fmt.Sprintf("Writes %d%s (budget %s)", hi.writes, rate, budget),
			fmt.Sprintf("requests %d", hi.requests),
			fmt.Sprintf("retries %d", hi.retries),
			fmt.Sprintf("throttled %d, waited %.1fs", hi.throttled, r.waited),
			fmt.Sprintf("elapsed %s", elapsed.Round(time.Second)),
		}
		switch {
		case r.phase != runRunning:
		case r.paused:
			facts = append(facts, "paused") // an ETA would stand still and mislead
		case p.ETASeconds >= 1 && p.RateKnown():
			facts = append(facts, fmt.Sprintf("ETA %s", time.Duration(p.ETASeconds*float64(time.Second)).Round(time.Second)))
		}
		b.WriteString(joinFacts(r.width, facts...) + "\n")
	} else if r.phase == runRunning {
		b.WriteString("Reading the tenant to check the plan is current…\n")
	}
	fmt.Fprintf(&b, "writes/s %s\n", sparkline(r.completeRates(), max(r.width-10, 1)))
	if n := len(r.lines); n > 0 {
		fmt.Fprintf(&b, "%s\n", styles.faint.Render(r.lines[n-1]))
	}
	if r.phase == runFinished {
		b.WriteString(r.endView())
	}
	if len(r.failures) > 0 {
		fmt.Fprintf(&b, "%s\n", styles.header.Render(fmt.Sprintf("Failures (%d)", len(r.failures))))
		from := max(len(r.failures)-3, 0)
		for _, f := range r.failures[from:] {
			// Graph's reason is at the end, where clipping cut it on a narrow terminal:
			// each failure wraps to up to failureLines lines.
			text := hang(fmt.Sprintf("%s %s %s: %s", f.Action, f.Kind, nameOr(f.DisplayName, f.ObjectID), f.Error), r.width, 4)
			if lines := strings.Split(text, "\n"); len(lines) > failureLines {
				text = strings.Join(lines[:failureLines], "\n") + "…"
			}
			fmt.Fprintf(&b, "  %s\n", text)
		}
	}
	used := strings.Count(b.String(), "\n")
	room := r.height - used - 1
	if room >= 2 {
		fmt.Fprintf(&b, "%s\n", styles.header.Render(fmt.Sprintf("Graph calls (last %d of %d kept)", min(room-1, len(r.calls)), len(r.calls))))
		from := max(len(r.calls)-(room-1), 0)
		for _, c := range r.calls[from:] {
			status := fmt.Sprint(c.Status)
			if c.Status == 0 {
				status = "---"
			}
			line := fmt.Sprintf("  %s %-6s %-3s retry %d %6s  %s", c.Time.UTC().Format("15:04:05.000"), c.Method, status, c.Retry, callDuration(c.Duration), c.Path)
			if c.Batch {
				line += fmt.Sprintf(" (%d requests)", c.Items)
			}
			b.WriteString(line + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// endView says how the run ended and what to do next.
func (r *runScreen) endView() string {
	var b strings.Builder
	if r.err != nil {
		fmt.Fprintf(&b, "%s\n", styles.err.Render(wrap("The run stopped: "+consoleAdvice(r.err.Error()), r.width)))
	}
	if rep := r.report; rep != nil {
		fmt.Fprintf(&b, "Done %d · failed %d · skipped %d · pending %d", rep.Done, rep.Failed, rep.Skipped, rep.Pending)
		if rep.Passwords > 0 {
			fmt.Fprintf(&b, " · %d generated passwords in %s", rep.Passwords, rep.PasswordFile)
		}
		b.WriteString(" · v verifies the tenant\n")
		for _, lo := range rep.Lockouts {
			fmt.Fprintf(&b, "%s\n", styles.err.Render("lockout: "+lo.Reason))
		}
		// Skips are steps that never ran because something they need did not happen:
		// name a few with why, so the operator knows what verify will still find.
		if n := len(rep.Skips); n > 0 {
			fmt.Fprintf(&b, "%s\n", styles.header.Render(fmt.Sprintf("Skipped (%d)", n)))
			for _, s := range rep.Skips[:min(n, 3)] {
				fmt.Fprintf(&b, "  %s %s %s: %s\n", s.Action, s.Kind, nameOr(s.DisplayName, s.ObjectID), s.Reason)
			}
		}
	}
	return b.String()
}

// callDuration is a Graph call's time to the millisecond; a call under one reads "<1ms",
// not "0s", which looks like a call that never went out.
func callDuration(d time.Duration) string {
	if d < time.Millisecond {
		return "<1ms"
	}
	return d.Round(time.Millisecond).String()
}
