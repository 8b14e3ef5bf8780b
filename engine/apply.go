package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// roundSize is how many requests one round of apply hands to $batch: four envelopes of
// twenty, which the client sends in parallel. The pacer, not this number, sets the rate.
const roundSize = 80

// maxAttempts bounds how often a step is sent again after Graph failed it with a 5xx or
// never answered; throttling (429) does not count, it is waited out.
const maxAttempts = 5

// ApplyOptions say where a plan is applied and how.
type ApplyOptions struct {
	// Store is the snapshot file the plan was built from: its target snapshot, and the
	// journal and ledger apply writes.
	Store *snapshots.Store
	// Client reaches the tenant; it must be the plan's tenant.
	Client *graphapi.Client
	// PlanPath is recorded in the journal (informational).
	PlanPath string
	// Operator says who ran the apply (OS user, host, app), for the journal.
	Operator string
	// PasswordFile receives the generated passwords of recreated users, created with
	// mode 0600. Required when the plan recreates users.
	PasswordFile string
	// Control pauses, resumes and re-paces the run (nil: none).
	Control *Control
	// Events receives the run's events, synchronously from the run's goroutine.
	Events func(Event)
	// Fingerprint returns the live tenant's fingerprint (the root hash of a fresh
	// capture). It is called when a plan's run starts, not when it resumes: a plan the
	// tenant has moved past is refused.
	Fingerprint func(context.Context) (string, error)
	// Verify runs the plan's verify step: it re-reads the tenant and reports whether
	// nothing is left that a plan would change (VerifyReport.Settled), with the
	// verdict's sentence. Nil leaves the step pending for 'lifeline verify'.
	Verify func(context.Context) (settled bool, summary string, err error)
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	// failpoint, in tests, is called at named points ("before-send", "after-send",
	// "after-journal"); an error there stops the run as a crash would. At "password"
	// it is the error of writing a generated password down.
	failpoint func(point string) error
	// unansweredWait, in tests, replaces the pause before a round is sent again after
	// one that got no answer at all (unansweredPause).
	unansweredWait time.Duration
}

// unansweredRounds is how many rounds in a row may get no answer at all before the run
// stops with its steps pending: the tenant is unreachable, and failing every step it
// cannot reach (five attempts each, in moments) would bury the one cause under
// hundreds of failures. Between them the run waits unansweredPause, then twice that,
// so a blip of a few seconds passes unnoticed.
const unansweredRounds = 3

// unansweredPause is the first wait after a round that got no answer.
const unansweredPause = 2 * time.Second

// StepOutcome is one step that did not complete, with why.
type StepOutcome struct {
	ID          string `json:"id"`
	Stage       string `json:"stage"`
	Kind        string `json:"kind"`
	ObjectID    string `json:"object_id,omitempty"`
	DisplayName string `json:"display_name"`
	Action      string `json:"action"`
	Reason      string `json:"reason"`
}

// ApplyReport is how a run ended.
type ApplyReport struct {
	PlanHash string `json:"plan_hash"`
	Resumed  bool   `json:"resumed"`
	// Done, Failed, Skipped and Pending count steps across the whole plan, including
	// steps done by earlier runs.
	Done    int `json:"done"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	Pending int `json:"pending"`
	// Reconciled counts creates whose earlier response was lost, found by natural key.
	Reconciled   int           `json:"reconciled"`
	Failures     []StepOutcome `json:"failures"`
	Skips        []StepOutcome `json:"skips"`
	Lockouts     []Lockout     `json:"lockouts"`
	Recreated    int           `json:"recreated"`
	Passwords    int           `json:"passwords"`
	PasswordFile string        `json:"password_file,omitempty"`
	Progress     Progress      `json:"progress"`
}

// newPlanAdvice ends the reason of every failure that running the same plan again
// cannot mend; NeedsANewPlan looks for it.
const newPlanAdvice = "build a new plan"

// NeedsANewPlan reports whether every failure of a run is one that running the plan
// again cannot mend (an object purged or deleted since the plan was built, differences
// the verify step found once everything else was done): the operator is then told to
// build a new plan, not to run this one again.
func (r *ApplyReport) NeedsANewPlan() bool {
	for _, f := range r.Failures {
		if !strings.Contains(f.Reason, newPlanAdvice) {
			return false
		}
	}
	return len(r.Failures) > 0
}

// ErrStale is returned (wrapped) when the tenant changed since the plan was built.
var ErrStale = errors.New("the plan is stale")

// ReadPlan parses a plan file and checks that it is one lifeline can apply, as
// WritePlanJSON wrote it (its seal).
func ReadPlan(data []byte) (*Plan, error) {
	var p Plan
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&p); err != nil {
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) {
			what := "the file holds a JSON " + te.Value
			if te.Field != "" {
				what = fmt.Sprintf("its %q is a JSON %s", te.Field, te.Value)
			}
			return nil, fmt.Errorf("the file is not a lifeline plan (%s); write one with 'lifeline plan'", what)
		}
		return nil, fmt.Errorf("the plan file is not valid JSON (%v); write it again with 'lifeline plan'", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("the plan file has more after the plan (it was appended to or edited); write it again with 'lifeline plan'")
	}
	if p.Format != PlanFormat {
		return nil, fmt.Errorf("the file is not a lifeline plan (format %q, expected %q); write one with 'lifeline plan'", p.Format, PlanFormat)
	}
	if p.TenantID == "" || p.Snapshot <= 0 || p.LiveFingerprint == "" {
		return nil, fmt.Errorf("the plan file has no tenant, snapshot or live fingerprint; write it again with 'lifeline plan'")
	}
	if err := checkSeal(data); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, st := range p.Stages {
		for _, s := range st.Steps {
			if s.ID == "" || seen[s.ID] {
				return nil, fmt.Errorf("the plan file has a missing or repeated step id %q; write it again with 'lifeline plan'", s.ID)
			}
			seen[s.ID] = true
		}
	}
	for _, st := range p.Stages {
		for _, s := range st.Steps {
			for _, d := range s.DependsOn {
				if !seen[d] {
					return nil, fmt.Errorf("step %s depends on %s, which is not in the plan; write the plan again with 'lifeline plan'", s.ID, d)
				}
			}
			for _, r := range s.Requests {
				// "//host/x" would be a URL of another host to anything that resolves it
				// against the Graph base; "\\" is the same to some parsers.
				if !strings.HasPrefix(r.Path, "/") || strings.HasPrefix(r.Path, "//") || strings.ContainsAny(r.Path, `\`) || strings.Contains(r.Path, "..") {
					return nil, fmt.Errorf("step %s has a request path %q that is not a Graph path; write the plan again with 'lifeline plan'", s.ID, r.Path)
				}
			}
		}
	}
	return &p, nil
}

// PlanHash identifies a plan in the journal: the SHA-256 of its JSON without the file
// path and the seal, so the same plan resumes wherever its file is, and a plan the
// console applies from memory is the plan it saves.
func PlanHash(p *Plan) string {
	c := *p
	c.DB, c.Seal = "", ""
	b, _ := json.Marshal(&c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// stepRun is one step's state during a run.
type stepRun struct {
	step    *Step
	stage   int
	state   string // "" pending, or a snapshots.Step* state
	attempt int
	res     stepResult
	// uncertain marks a create whose last attempt may have reached Graph: it is looked
	// up by natural key before it is sent again.
	uncertain bool
}

// stepResult is a step's journaled result.
type stepResult struct {
	Next       int      `json:"next,omitempty"` // requests completed so far
	NewID      string   `json:"new_id,omitempty"`
	NewAppID   string   `json:"new_app_id,omitempty"`
	RequestIDs []string `json:"request_ids,omitempty"`
	Statuses   []int    `json:"statuses,omitempty"`
	Note       string   `json:"note,omitempty"`
	Error      string   `json:"error,omitempty"`
	// LookedUp says the live objects sharing a create's natural key were read before
	// it was first sent, and Preexisting holds their ids: a create whose answer is
	// lost is never taken to be one of them (lookAlikes).
	LookedUp    bool     `json:"looked_up,omitempty"`
	Preexisting []string `json:"preexisting,omitempty"`
}

// applier holds one run.
type applier struct {
	opts   ApplyOptions
	plan   *Plan
	hash   string
	target snapshots.State
	steps  []*stepRun
	// byStage holds each stage's steps not yet finished; ready drops the rest.
	byStage [][]*stepRun
	byID    map[string]*stepRun
	ledger  graphx.Ledger // old -> new, every run's
	// copies counts the ledger entries naming each live id, for ownedElsewhere; only
	// setLedgerID changes the ledger's ids once the run starts, and keeps it.
	copies map[string]int
	now    func() time.Time
	start  time.Time
	base   graphapi.Stats
	report *ApplyReport
	// links caches the targets of holders' link collections read for if-missing steps.
	links    map[string]map[string]bool
	pwFile   *os.File
	lockouts []Lockout
	// silent counts the rounds in a row that got no answer at all.
	silent int
}

// Apply runs a plan against the tenant, journaling every step in the snapshot file so that
// running it again resumes where it stopped. It returns the report and an error only for
// what stopped the run as a whole (wrong tenant, stale plan, the file, the context);
// failed steps are in the report.
func Apply(ctx context.Context, plan *Plan, opts ApplyOptions) (*ApplyReport, error) {
	a := &applier{opts: opts, plan: plan, hash: PlanHash(plan), byID: map[string]*stepRun{}, now: opts.Now}
	if a.now == nil {
		a.now = time.Now
	}
	if opts.Store == nil || opts.Client == nil {
		return nil, errors.New("apply needs a snapshot file and a tenant connection")
	}
	// Claimed before the journal is read: two runs that both found the plan unstarted
	// would both recreate what it recreates.
	unlock, err := opts.Store.LockApply()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := a.preflight(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if a.pwFile != nil {
			a.pwFile.Close()
		}
	}()
	if opts.Control != nil {
		opts.Control.attach(opts.Client.SetPace)
	}
	a.start, a.base = a.now(), opts.Client.Stats()
	err = a.run(ctx)
	a.finishReport()
	a.emit(Event{Type: EventFinished, Progress: &a.report.Progress, Message: a.summaryLine()})
	if err == nil && a.report.Pending == 0 {
		if ferr := opts.Store.FinishRun(context.WithoutCancel(ctx), a.hash, a.now()); ferr != nil {
			return a.report, ferr
		}
	}
	return a.report, err
}

// preflight refuses a plan for another tenant or file, a stale plan, and an unusable
// password file, before anything is written anywhere.
func (a *applier) preflight(ctx context.Context) error {
	p, s := a.plan, a.opts.Store
	if got := a.opts.Client.TenantID(); got != "" && got != p.TenantID {
		return fmt.Errorf("the plan is for tenant %s but the credentials reach tenant %s; point --graph-url or AZURE_TENANT_ID at the plan's tenant", p.TenantID, got)
	}
	fileTenant, err := s.TenantID(ctx)
	if err != nil {
		return err
	}
	if fileTenant != p.TenantID {
		return fmt.Errorf("the plan is for tenant %s but %s holds snapshots of tenant %s; give the snapshot file the plan was built from", p.TenantID, s.Path(), fileTenant)
	}
	snap, err := s.Resolve(ctx, fmt.Sprint(p.Snapshot))
	if err != nil {
		return fmt.Errorf("the plan restores snapshot %d, which %s does not hold; give the snapshot file the plan was built from", p.Snapshot, s.Path())
	}
	a.target = snapshots.State{Store: s, Snapshot: snap}
	run, resumed, err := s.Run(ctx, a.hash)
	if err != nil {
		return err
	}
	// A run that stopped before it sent anything (a password file that could not be
	// written, a refusal at its first round) left the tenant as the plan found it: it is
	// checked as a plan starting afresh, by its fingerprint, not as a resume, which
	// would take any plan applied since the first attempt for one applied in between.
	wrote := resumed && run.LastWrite > 0
	// A plan starting afresh must find the runs its file held when it was built: their
	// ledger is what it read. (A resume is this file's own run: checkResume below
	// refuses it when another plan wrote since.)
	if !wrote && p.Journal != "" {
		journal, err := journalDigest(ctx, s, p.TenantID, a.hash)
		if err != nil {
			return err
		}
		if journal != p.Journal {
			return fmt.Errorf("%s does not hold the apply journal the plan was built with: it is another copy of the plan's snapshot file, or another restore ran since, and the ids of the objects those restores recreated would be wrong; %s",
				s.Path(), fileAdvice(p.DB, s.Path()))
		}
	}
	// Said before the tenant is read for the fingerprint, not after; a resume whose
	// users are all recreated needs no password file.
	records, err := s.StepRecords(ctx, a.hash)
	if err != nil {
		return err
	}
	if wrote {
		if err := a.checkResume(ctx, run, records); err != nil {
			return err
		}
	}
	passwords := needsPasswords(p, records)
	if passwords {
		if err := checkPasswordFile(a.opts.PasswordFile); err != nil {
			return err
		}
	}
	if !wrote && a.opts.Fingerprint != nil {
		fp, err := a.opts.Fingerprint(ctx)
		if err != nil {
			return fmt.Errorf("reading the live tenant to check the plan is current: %w", err)
		}
		if fp != p.LiveFingerprint {
			return fmt.Errorf("%w: the tenant changed since it was built (fingerprint %s, now %s); build a new plan with 'lifeline plan' and apply that", ErrStale, short(p.LiveFingerprint), short(fp))
		}
	}
	// Only ledger entries about this target's objects apply: the ledger spans every
	// restore ever run on the tenant (resolveLedger follows chains and drops the rest).
	all, err := LoadLedger(ctx, s, p.TenantID)
	if err != nil {
		return err
	}
	inv, _, err := resolveLedger(ctx, a.target, all)
	if err != nil {
		return err
	}
	a.ledger = ledgerNewToOld(inv)
	a.copies = map[string]int{}
	for _, n := range a.ledger.IDs {
		a.copies[n]++
	}
	a.report = &ApplyReport{PlanHash: a.hash, Resumed: resumed, Failures: []StepOutcome{}, Skips: []StepOutcome{}, Lockouts: []Lockout{}}
	a.byStage = make([][]*stepRun, len(p.Stages))
	for si := range p.Stages {
		for i := range p.Stages[si].Steps {
			st := &p.Stages[si].Steps[i]
			sr := &stepRun{step: st, stage: si}
			if r, ok := records[st.ID]; ok {
				sr.attempt = r.Attempts
				_ = json.Unmarshal(r.Result, &sr.res)
				switch r.State {
				case snapshots.StepDone:
					sr.state = snapshots.StepDone
				case snapshots.StepSent:
					// The run stopped with this step's requests out: a create may have
					// happened without its answer reaching the journal.
					sr.uncertain = st.Action == ActionRecreate && sr.res.Next == 0
				default:
					// Failed and skipped steps are tried again: the operator may have
					// fixed what stopped them.
					sr.res.Error, sr.attempt = "", 0
				}
			}
			a.steps = append(a.steps, sr)
			a.byStage[si] = append(a.byStage[si], sr)
			a.byID[st.ID] = sr
		}
	}
	// Before anything is written: the password file, the run's record.
	if wrote {
		if err := a.checkUnsentCreates(ctx); err != nil {
			return err
		}
	}
	if passwords {
		if err := a.openPasswordFile(); err != nil {
			return err
		}
	}
	operator := a.opts.Operator
	if err := s.StartRun(ctx, snapshots.Run{PlanHash: a.hash, TenantID: p.TenantID, Snapshot: p.Snapshot, PlanPath: a.opts.PlanPath, Operator: operator, StartedAt: a.now()}); err != nil {
		return err
	}
	msg := "starting plan " + short(a.hash)
	if resumed {
		msg = "resuming plan " + short(a.hash) + " from its journal"
	}
	a.emit(Event{Type: EventRun, Message: msg})
	return nil
}

// checkResume refuses to run again a plan that was applied completely, and to resume
// one after another plan wrote to the tenant. A resume skips the stale-plan check, since
// the plan's own steps changed the tenant; but a plan applied since may have restored
// what this one still has pending, and recreating it again would leave duplicates.
func (a *applier) checkResume(ctx context.Context, run snapshots.Run, records map[string]snapshots.StepRecord) error {
	s, p := a.opts.Store, a.plan
	done, total := stepsDone(p, records)
	if done == total && !run.FinishedAt.IsZero() {
		return fmt.Errorf("plan %s was applied completely on %s, so nothing was sent: a plan is applied once. 'lifeline verify --db %s --snapshot %d' checks the tenant now, and a new plan ('lifeline plan') restores it again",
			short(a.hash), run.FinishedAt.UTC().Format(time.DateTime+" MST"), s.Path(), p.Snapshot)
	}
	runs, err := s.Runs(ctx, p.TenantID)
	if err != nil {
		return err
	}
	for _, other := range runs {
		// The file's own order of sending rounds, not the clocks of the machines
		// that ran them.
		if other.PlanHash != a.hash && other.LastWrite > run.LastWrite {
			return fmt.Errorf("%w: plan %s stopped with %d of its %d steps to do, and plan %s wrote to the tenant since, so resuming could recreate what that one restored; build a new plan with 'lifeline plan' and apply that",
				ErrStale, short(a.hash), total-done, total, short(other.PlanHash))
		}
	}
	return nil
}

// stepsDone counts the plan's steps and those its journal records as done.
func stepsDone(p *Plan, records map[string]snapshots.StepRecord) (done, total int) {
	for _, st := range p.Stages {
		for _, step := range st.Steps {
			total++
			if r, ok := records[step.ID]; ok && r.State == snapshots.StepDone {
				done++
			}
		}
	}
	return done, total
}

// AppliedCompletely reports whether the journal in store holds a finished run of plan
// with every step done, and when it finished: such a plan is not applied again (Apply
// refuses it), so a console can say so before asking to confirm.
func AppliedCompletely(ctx context.Context, store *snapshots.Store, plan *Plan) (time.Time, bool, error) {
	hash := PlanHash(plan)
	run, ok, err := store.Run(ctx, hash)
	if err != nil || !ok || run.FinishedAt.IsZero() {
		return time.Time{}, false, err
	}
	records, err := store.StepRecords(ctx, hash)
	if err != nil {
		return time.Time{}, false, err
	}
	done, total := stepsDone(plan, records)
	return run.FinishedAt, done == total, nil
}

// checkUnsentCreates refuses a resume when an object a create still to send already
// exists by its natural key: something made it after the run stopped (a restore
// journaled in another snapshot file, a person), and sending the create would make it
// twice (a group has no unique key; Graph would take the second). A create that was
// in flight is reconciled instead (reconcile).
func (a *applier) checkUnsentCreates(ctx context.Context) error {
	var unsent []*stepRun
	for _, sr := range a.steps {
		// An assignment's natural key is all of it: one that exists (back with its
		// principal) is the one the create wants, and apply adopts it. A kind whose
		// natural key Graph keeps unique (a user's userPrincipalName) cannot be made
		// twice: the create is refused, with a sentence. Neither is looked up, which
		// spares a mass recreate of users a lookup each.
		if kind := entra.Kind(sr.step.Kind); assignmentKinds[kind] || uniqueByNaturalKey(kind) {
			continue
		}
		if sr.step.Action == ActionRecreate && sr.state == "" && !sr.uncertain && sr.attempt == 0 && sr.res.Next == 0 {
			unsent = append(unsent, sr)
		}
	}
	if len(unsent) == 0 {
		return nil
	}
	a.emit(Event{Type: EventRun, Message: fmt.Sprintf("checking that none of the %d objects still to recreate was made since the run stopped", len(unsent))})
	var made []string
	for _, sr := range unsent {
		matches, looked, err := a.naturalKeyMatches(ctx, sr)
		if err != nil && looked {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("checking whether %s %q was made since the run stopped: %w; run apply again", sr.step.Kind, sr.step.DisplayName, err)
		}
		if len(matches) > 0 {
			made = append(made, fmt.Sprintf("%s %q (live as %s)", sr.step.Kind, sr.step.DisplayName, matches[0].ID))
		}
	}
	if len(made) == 0 {
		return nil
	}
	more := ""
	if len(made) > 3 {
		made, more = made[:3], fmt.Sprintf(" and %d more", len(made)-3)
	}
	return fmt.Errorf("%w: %s%s already exist in the tenant, made since plan %s stopped (by another restore or a person), so resuming would create them twice; build a new plan with 'lifeline plan' and apply that",
		ErrStale, strings.Join(made, ", "), more, short(a.hash))
}

// uniqueByNaturalKey reports whether Graph keeps every natural key of kind unique in
// the tenant, so that a second create of the same object fails instead of duplicating.
func uniqueByNaturalKey(kind entra.Kind) bool {
	spec, ok := entra.Lookup(kind)
	if !ok || len(spec.NaturalKeys) == 0 {
		return false
	}
	for _, k := range spec.NaturalKeys {
		if !slices.Contains(spec.Unique, k) {
			return false
		}
	}
	return true
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// openPasswordFile opens (or creates) the file for generated passwords, which preflight
// has had checkPasswordFile accept.
func (a *applier) openPasswordFile() error {
	path := a.opts.PasswordFile
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("cannot open the password file %s: %w", path, err)
	}
	a.pwFile = f
	a.report.PasswordFile = path
	return nil
}

// checkPasswordFile refuses a password file that is missing from the options, a
// directory, readable by anyone but the operator, or a file that holds anything but
// generated passwords: appended to a snapshot file or a plan, they would be lost or
// end up where they must not be. It creates nothing.
func checkPasswordFile(path string) error {
	if path == "" {
		return errors.New("the plan recreates users, which get generated passwords, but no password file was given; pass --passwords FILE")
	}
	for _, side := range []string{"-wal", "-shm", "-journal"} {
		if strings.HasSuffix(path, side) {
			// SQLite's own files beside a database: it writes over what is appended.
			return fmt.Errorf("the password file %s looks like a SQLite %s file; name a new file", path, side)
		}
	}
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	switch {
	case err != nil:
		return fmt.Errorf("cannot open the password file %s: %w", path, err)
	case info.IsDir():
		return fmt.Errorf("the password file %s is a directory; name a file, such as %s", path, strings.TrimSuffix(path, "/")+"/passwords")
	case !info.Mode().IsRegular():
		return fmt.Errorf("the password file %s is not a regular file; name a new file", path)
	}
	// What the file holds is checked before who can read it: advice to chmod a
	// snapshot file or a plan named by mistake would be wrong twice over.
	if info.Size() > 0 {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("cannot open the password file %s: %w", path, err)
		}
		defer f.Close()
		if !isPasswordFile(f) {
			return fmt.Errorf("the password file %s already holds something other than generated passwords; name a new file", path)
		}
	}
	if info.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("the password file %s can be read by others (mode %v); run 'chmod 600 %s' or name a new file", path, info.Mode().Perm(), path)
	}
	return nil
}

// needsPasswords reports whether a step of the plan not done yet (by its journal
// records) sets a generated password.
func needsPasswords(p *Plan, records map[string]snapshots.StepRecord) bool {
	for _, st := range p.Stages {
		for _, s := range st.Steps {
			if r, ok := records[s.ID]; ok && r.State == snapshots.StepDone {
				continue
			}
			for _, r := range s.Requests {
				if bytes.Contains(r.Body, []byte(GeneratedPassword)) {
					return true
				}
			}
		}
	}
	return false
}

func (a *applier) emit(e Event) {
	if a.opts.Events == nil {
		return
	}
	if e.At.IsZero() {
		e.At = a.now().UTC()
	}
	a.opts.Events(e)
}

// run executes the stages in order; within a stage, every step whose dependencies are
// done goes out in rounds of up to roundSize requests.
func (a *applier) run(ctx context.Context) error {
	for si, stage := range a.plan.Stages {
		if len(stage.Steps) == 0 {
			continue
		}
		a.emit(Event{Type: EventStage, Stage: stage.Name, Progress: a.progress()})
		for {
			ready, pending, err := a.ready(ctx, si)
			if err != nil {
				return err
			}
			if len(ready) == 0 {
				if pending > 0 {
					// Only possible when a step waits on one of a later stage.
					if err := a.skipWaiting(ctx, si); err != nil {
						return err
					}
				}
				break
			}
			// The steps ready now go out round after round; what they make ready is
			// looked for once they are all sent, not before every round (a stage can
			// hold hundreds of thousands of steps).
			for len(ready) > 0 {
				if a.opts.Control != nil {
					if err := a.opts.Control.wait(ctx, func(t string) { a.emit(Event{Type: t, Progress: a.progress()}) }); err != nil {
						return err
					}
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				n, err := a.round(ctx, ready)
				if err != nil {
					return err
				}
				ready = ready[n:]
			}
		}
	}
	return nil
}

// ready returns the stage's steps that can run now, skipping (and journaling) those
// whose dependencies failed, and how many of its steps remain pending.
func (a *applier) ready(ctx context.Context, stage int) ([]*stepRun, int, error) {
	var out []*stepRun
	var skips []*stepRun
	// Finished steps leave the stage's list for good: later calls look only at the rest.
	a.byStage[stage] = slices.DeleteFunc(a.byStage[stage], func(sr *stepRun) bool { return finished(sr.state) })
	pending := len(a.byStage[stage])
	for _, sr := range a.byStage[stage] {
		ok := true
		for _, d := range sr.step.DependsOn {
			dep := a.byID[d]
			switch {
			case dep.state == snapshots.StepFailed || dep.state == snapshots.StepSkipped:
				sr.res.Error = fmt.Sprintf("skipped: it depends on %s %q (step %s), which %s", dep.step.Action, dep.step.DisplayName, d, dep.state)
				skips = append(skips, sr)
				ok = false
			case dep.state != snapshots.StepDone:
				ok = false
			}
			if !ok {
				break
			}
		}
		if ok {
			out = append(out, sr)
		}
	}
	if len(skips) > 0 {
		for _, sr := range skips {
			sr.state = snapshots.StepSkipped
		}
		if err := a.journal(ctx, skips, nil); err != nil {
			return nil, 0, err
		}
		for _, sr := range skips {
			a.emitStep(sr)
		}
		return a.ready(ctx, stage)
	}
	return out, pending, nil
}

func finished(state string) bool {
	return state == snapshots.StepDone || state == snapshots.StepFailed || state == snapshots.StepSkipped
}

func (a *applier) skipWaiting(ctx context.Context, stage int) error {
	skips := a.byStage[stage] // ready left only unfinished steps here
	for _, sr := range skips {
		sr.state, sr.res.Error = snapshots.StepSkipped, "skipped: it waits on steps that cannot run before it (a step of a later stage, or a dependency cycle); build a new plan"
	}
	if err := a.journal(ctx, skips, nil); err != nil {
		return err
	}
	for _, sr := range skips {
		a.emitStep(sr)
	}
	return nil
}

// journalAttempts bounds how long a journal write waits for another process holding the
// snapshot file: each attempt waits the store's busy timeout (10 s unless opened with
// another), so about half an hour.
const journalAttempts = 180

// journal writes step records and ledger entries in one transaction. A journal that cannot
// be written stops the run: going on would make creates that a resume cannot see. While
// another process holds the file (a capture into it takes the write lock for as long as
// it runs), the run waits for it, saying so: stopping a restore for that would be worse.
func (a *applier) journal(ctx context.Context, steps []*stepRun, ledger []snapshots.LedgerEntry) error {
	recs := make([]snapshots.StepRecord, 0, len(steps))
	at := a.now()
	for _, sr := range steps {
		state := sr.state
		if state == "" {
			state = snapshots.StepSent
		}
		res, _ := json.Marshal(sr.res)
		recs = append(recs, snapshots.StepRecord{StepID: sr.step.ID, State: state, Attempts: sr.attempt, Result: res, UpdatedAt: at})
	}
	for attempt := 1; ; attempt++ {
		// The write itself must not be cut short by Ctrl-C; the wait between attempts is.
		err := a.opts.Store.Journal(context.WithoutCancel(ctx), a.hash, a.plan.TenantID, recs, ledger)
		if !errors.Is(err, snapshots.ErrFileBusy) || attempt == journalAttempts || ctx.Err() != nil {
			return err
		}
		if attempt == 1 {
			a.emit(Event{Type: EventRun, Message: fmt.Sprintf("waiting for %s: another process (a capture or an import) is writing it; the apply goes on as soon as it is done", a.opts.Store.Path())})
		}
	}
}

func (a *applier) fail(point string) error {
	if a.opts.failpoint == nil {
		return nil
	}
	return a.opts.failpoint(point)
}

// round sends the next request of each ready step (local steps run in place), then
// journals every outcome in one transaction.
func (a *applier) round(ctx context.Context, ready []*stepRun) (int, error) {
	var sending []*stepRun
	var reqs []graphapi.Request
	var local []*stepRun
	used := 0
	for _, sr := range ready {
		if len(reqs) >= roundSize {
			break
		}
		used++
		switch sr.step.Action {
		case ActionLockoutCheck, ActionVerify:
			local = append(local, sr)
			continue
		}
		if len(sr.step.Requests) == 0 || sr.res.Next >= len(sr.step.Requests) {
			sr.state = snapshots.StepDone
			local = append(local, sr)
			continue
		}
		if sr.uncertain {
			if err := a.reconcile(ctx, sr); err != nil {
				return used, err
			}
			if sr.state == snapshots.StepDone {
				a.report.Reconciled++
			}
			if finished(sr.state) {
				local = append(local, sr)
				continue
			}
		}
		req, err := a.resolve(sr)
		var pwErr *passwordFileError
		if errors.As(err, &pwErr) {
			return used, err // nothing of this round was sent or journaled yet
		}
		if err != nil {
			sr.state, sr.res.Error = snapshots.StepFailed, err.Error()
			local = append(local, sr)
			continue
		}
		if sr.step.IfMissing && sr.res.Next == 0 {
			there, err := a.linkPresent(ctx, req)
			if err != nil {
				return used, err
			}
			if there {
				sr.state, sr.res.Note = snapshots.StepDone, "came back with the restore"
				local = append(local, sr)
				continue
			}
		}
		sr.attempt++
		sending = append(sending, sr)
		reqs = append(reqs, req)
	}
	for _, sr := range local {
		if finished(sr.state) {
			continue
		}
		switch sr.step.Action {
		case ActionLockoutCheck:
			a.lockoutCheck(ctx, sr)
		case ActionVerify:
			a.verifyStep(ctx, sr)
		}
		if ctx.Err() != nil && sr.state == snapshots.StepFailed {
			// Interrupted while it read the tenant, not failed: a failed lockout
			// check would skip every enforce step and leave the policies in
			// report-only; the next run does the check again.
			sr.state, sr.res.Error = "", ""
			return used, ctx.Err()
		}
	}
	if len(local) > 0 {
		if err := a.journal(ctx, local, nil); err != nil {
			return used, err
		}
		for _, sr := range local {
			a.emitStep(sr)
		}
	}
	if len(sending) == 0 {
		return used, nil
	}
	sending, reqs, err := a.lookAlikes(ctx, sending, reqs)
	if err != nil {
		return used, err
	}
	if len(sending) == 0 {
		return used, nil
	}
	// The steps are journaled as sent before their requests go out: a crash from here
	// on leaves them marked, and resume reconciles their creates by natural key.
	for _, sr := range sending {
		sr.state = ""
		if sr.step.Action == ActionRecreate && sr.res.Next == 0 {
			sr.uncertain = true
		}
	}
	if err := a.journal(ctx, sending, nil); err != nil {
		return used, err
	}
	if err := a.fail("before-send"); err != nil {
		return used, err
	}
	stats := a.opts.Client.Stats()
	sent := a.now()
	results, berr := a.opts.Client.Batch(ctx, reqs)
	if err := a.fail("after-send"); err != nil {
		return used, err
	}
	after := a.opts.Client.Stats()
	if after.Throttled > stats.Throttled {
		a.emit(Event{Type: EventThrottle, WaitSeconds: a.now().Sub(sent).Seconds(),
			Message: throttledSentence(int(after.Throttled - stats.Throttled))})
	}
	if berr == nil && unanswered(results) {
		return used, a.noAnswer(ctx, sending, results[0].Err)
	}
	a.silent = 0
	var ledger []snapshots.LedgerEntry
	for i, sr := range sending {
		if e := a.outcome(ctx, sr, reqs[i], results[i]); e != nil {
			ledger = append(ledger, *e)
		}
	}
	if err := a.journal(ctx, sending, ledger); err != nil {
		return used, err
	}
	if err := a.fail("after-journal"); err != nil {
		return used, err
	}
	for _, sr := range sending {
		if finished(sr.state) {
			a.emitStep(sr)
		}
	}
	a.emit(Event{Type: EventProgress, Progress: a.progress()})
	if berr != nil {
		return used, berr
	}
	return used, nil
}

// throttledSentence says that Graph throttled n requests of a round and lifeline sent
// them again.
func throttledSentence(n int) string {
	if n == 1 {
		return "Graph throttled 1 request; lifeline waited as asked and sent it again"
	}
	return fmt.Sprintf("Graph throttled %d requests; lifeline waited as asked and sent them again", n)
}

// unanswered reports whether no request of a round got an answer: no status, no
// Graph error, only a connection that could not be made or broke.
func unanswered(results []graphapi.BatchResult) bool {
	for _, r := range results {
		if r.Response != nil || !graphapi.IsUnanswered(r.Err) {
			return false
		}
	}
	return len(results) > 0
}

// noAnswer handles a round the tenant did not answer. Nothing is known of its requests,
// so none counts as an attempt: the steps stay sent (a create among them is looked up
// by natural key before it is sent again, as after a crash). After unansweredRounds
// such rounds in a row the run stops with everything pending, saying why, so that
// running apply again once the tenant answers picks up where it stopped.
func (a *applier) noAnswer(ctx context.Context, sending []*stepRun, cause error) error {
	for _, sr := range sending {
		sr.attempt--
	}
	if err := a.journal(ctx, sending, nil); err != nil {
		return err
	}
	a.silent++
	if a.silent >= unansweredRounds {
		return stoppedAnswering(cause)
	}
	wait := a.opts.unansweredWait
	if wait == 0 {
		wait = unansweredPause
	}
	wait <<= a.silent - 1
	a.emit(Event{Type: EventRun, Message: fmt.Sprintf("no answer from the tenant (%s); trying again in %s", strings.TrimSuffix(cause.Error(), "."), wait)})
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// stoppedAnswering is the error that stops a run the tenant no longer answers: with
// its steps pending, not failed, for the next run to pick up.
func stoppedAnswering(cause error) error {
	return fmt.Errorf("the tenant stopped answering (%s), so the run stopped and failed nothing", strings.TrimSuffix(cause.Error(), "."))
}

func (a *applier) emitStep(sr *stepRun) {
	s := sr.step
	a.emit(Event{Type: EventStep, Stage: a.plan.Stages[sr.stage].Name, Step: &StepEvent{
		ID: s.ID, Kind: s.Kind, ObjectID: s.ObjectID, DisplayName: s.DisplayName, Action: s.Action, State: sr.state,
		NewID: sr.res.NewID, Note: sr.res.Note, Error: sr.res.Error, RequestIDs: sr.res.RequestIDs,
	}})
}

// outcome records one request's answer on its step and returns the ledger entry a
// successful create produced.
func (a *applier) outcome(ctx context.Context, sr *stepRun, req graphapi.Request, res graphapi.BatchResult) *snapshots.LedgerEntry {
	if res.Response != nil {
		if res.Response.RequestID != "" {
			sr.res.RequestIDs = append(sr.res.RequestIDs, res.Response.RequestID)
		}
		sr.res.Statuses = append(sr.res.Statuses, res.Response.Status)
	}
	if res.Err == nil {
		if sr.step.Action == ActionAddLink {
			a.linkAdded(req)
		}
		return a.succeeded(sr, req, res.Response)
	}
	var gerr *graphapi.Error
	status := 0
	if errors.As(res.Err, &gerr) {
		status = gerr.Status
		if gerr.RequestID != "" && (res.Response == nil || res.Response.RequestID == "") {
			sr.res.RequestIDs = append(sr.res.RequestIDs, gerr.RequestID)
		}
	}
	switch {
	case graphapi.IsThrottled(res.Err):
		// Still throttled after the client's own requeues: the step waits for the next
		// round; throttling never fails a step.
		sr.attempt--
		return nil
	case status == 0 || status >= 500:
		if sr.attempt >= maxAttempts {
			sr.state, sr.res.Error = snapshots.StepFailed, fmt.Sprintf("%s failed %d times (%v); run apply again to retry it", describe(sr.step), sr.attempt, res.Err)
		}
		return nil
	case graphapi.IsNotFound(res.Err):
		switch {
		case req.Method == "DELETE" || sr.step.Action == ActionRemoveSecret:
			sr.res.Note = "already gone"
			a.advance(sr)
			return nil
		case sr.step.Action == ActionRestore && strings.HasSuffix(req.Path, "/restore"):
			if a.exists(ctx, sr.step) {
				sr.res.Note = "already restored"
				a.advance(sr)
				return nil
			}
			sr.state, sr.res.Error = snapshots.StepFailed, fmt.Sprintf("%s: it is no longer in the recycle bin (it was purged); %s, which will recreate it", describe(sr.step), newPlanAdvice)
			return nil
		case req.Method == "PATCH" || req.Method == "PUT" || (req.Method == "POST" && sr.step.Action != ActionRecreate):
			// What the request writes to is gone: deleted since the plan was built
			// (a second incident). Sending it again cannot help; a new plan can.
			sr.state, sr.res.Error = snapshots.StepFailed, fmt.Sprintf("%s: it no longer exists in the tenant (deleted since the plan was built); %s, which restores it", describe(sr.step), newPlanAdvice)
			return nil
		}
	case graphapi.IsConflict(res.Err):
		switch sr.step.Action {
		case ActionAddLink:
			sr.res.Note = "link already there"
			a.linkAdded(req)
			a.advance(sr)
			return nil
		case ActionRecreate, ActionRestore:
			// An assignment's natural key is all of it: one that exists is the one the
			// plan wanted (restoring its principal from the bin brought it back).
			if sr.step.Action == ActionRecreate && assignmentKinds[entra.Kind(sr.step.Kind)] {
				if err := a.reconcile(ctx, sr); err == nil && sr.state == snapshots.StepDone {
					sr.res.Note = "already there: it came back with its principal"
					return nil
				}
			}
			sr.state, sr.res.Error = snapshots.StepFailed, conflictSentence(sr.step, req, res.Err)
			return nil
		}
	}
	sr.state, sr.res.Error = snapshots.StepFailed, fmt.Sprintf("%s failed: %v", describe(sr.step), res.Err)
	return nil
}

// advance moves a step past a request that needed nothing more.
func (a *applier) advance(sr *stepRun) {
	sr.res.Next++
	if sr.res.Next >= len(sr.step.Requests) {
		sr.state = snapshots.StepDone
	}
}

func describe(s *Step) string {
	name := s.DisplayName
	if s.ObjectID != "" {
		name = fmt.Sprintf("%q (%s)", s.DisplayName, s.ObjectID)
	}
	verb := map[string]string{ActionRestore: "restoring", ActionRecreate: "recreating", ActionAddLink: "adding " + s.Link + " to",
		ActionRollback: "rolling back", ActionRemoveLink: "removing " + s.Link + " from", ActionRemoveObject: "deleting", ActionRemoveSecret: "removing a client secret from",
		ActionReportOnly: "putting back in report-only", ActionEnforce: "enforcing"}[s.Action]
	if verb == "" {
		verb = s.Action
	}
	return fmt.Sprintf("%s %s %s", verb, s.Kind, name)
}

// conflictSentence explains a uniqueness conflict: which value is taken, and the fix.
func conflictSentence(s *Step, req graphapi.Request, err error) string {
	var gerr *graphapi.Error
	hasErr := errors.As(err, &gerr)
	if hasErr && s.Kind == string(entra.KindUser) && strings.Contains(gerr.Message, "proxyAddresses") {
		// An address held by a user who may well belong (given it since) or was made
		// since in its name: which is the fix is for a person to see.
		return fmt.Sprintf("%s failed: another user holds one of its mail addresses (proxyAddresses) now; give the address back (set that user's mail back, or delete the user if it was made since in this one's name), then run apply again (the rest of the plan went on)", describe(s))
	}
	spec, ok := entra.Lookup(entra.Kind(s.Kind))
	taken := ""
	if ok && req.Body != nil {
		var body map[string]any
		if json.Unmarshal(req.Body, &body) == nil {
			for _, k := range append(append([]string{}, spec.Unique...), spec.NaturalKeys...) {
				if v, ok := body[k].(string); ok && v != "" {
					taken = fmt.Sprintf(" its %s %q is held by another object now", k, v)
					break
				}
			}
		}
	}
	if taken == "" && hasErr {
		taken = " " + strings.TrimRight(gerr.Message, ". ")
	}
	return fmt.Sprintf("%s failed:%s; rename or delete that object, then run apply again (the rest of the plan went on)", describe(s), taken)
}

// succeeded records a 2xx: a create's new ids go to the ledger at once.
func (a *applier) succeeded(sr *stepRun, req graphapi.Request, resp *graphapi.Response) *snapshots.LedgerEntry {
	var entry *snapshots.LedgerEntry
	if sr.step.Action == ActionRecreate && sr.res.Next == 0 && req.Method == "POST" {
		var created struct {
			ID    string `json:"id"`
			AppID string `json:"appId"`
		}
		if resp == nil || json.Unmarshal(resp.Body, &created) != nil || created.ID == "" {
			sr.state, sr.res.Error = snapshots.StepFailed, fmt.Sprintf("%s: Graph answered without the new object's id; capture the tenant and build a new plan", describe(sr.step))
			return nil
		}
		entry = a.record(sr, created.ID, created.AppID, resp.RequestID)
		if n := len(sr.res.Preexisting); n > 0 {
			// An attacker's look-alike, or a second object of the same name: the
			// operator should know the name is not unique now.
			sr.res.Note = fmt.Sprintf("made anew; live already with its name: %s %s", sr.step.Kind, strings.Join(sr.res.Preexisting, ", "))
		}
	}
	sr.uncertain = false
	a.advance(sr)
	return entry
}

// record puts a recreated object's new ids in the ledger (memory now, file with the
// step's journal row).
func (a *applier) record(sr *stepRun, newID, newAppID, requestID string) *snapshots.LedgerEntry {
	s := sr.step
	sr.res.NewID, sr.res.NewAppID = newID, newAppID
	e := &snapshots.LedgerEntry{Kind: entra.Kind(s.Kind), OldID: s.ObjectID, NewID: newID, DisplayName: s.DisplayName,
		StepID: s.ID, RequestID: requestID, RecordedAt: a.now().UTC()}
	a.setLedgerID(s.ObjectID, newID)
	if newAppID != "" {
		if old := a.oldAppID(s); old != "" {
			e.OldAppID, e.NewAppID = old, newAppID
			a.ledger.AppIDs[old] = newAppID
		}
	}
	return e
}

// setLedgerID records that the object old is live as newID now.
func (a *applier) setLedgerID(old, newID string) {
	if prev, ok := a.ledger.IDs[old]; ok {
		a.copies[prev]--
	}
	a.ledger.IDs[old] = newID
	a.copies[newID]++
}

// oldAppID reads a recreated application's original appId from the target snapshot.
func (a *applier) oldAppID(s *Step) string {
	if entra.Kind(s.Kind) != entra.KindApplication {
		return ""
	}
	o, err := a.target.Store.Object(context.Background(), a.target.Snapshot.ID, entra.KindApplication, s.ObjectID)
	if err != nil {
		return ""
	}
	obj, err := o.Decode()
	if err != nil {
		return ""
	}
	id, _ := obj["appId"].(string)
	return id
}

// exists reports whether the step's object is live (a restore whose answer was lost).
func (a *applier) exists(ctx context.Context, s *Step) bool {
	spec, ok := entra.Lookup(entra.Kind(s.Kind))
	if !ok || s.ObjectID == "" {
		return false
	}
	// The object may be a copy an earlier restore made: ask for it under its live id.
	_, err := a.opts.Client.Get(ctx, a.translatePath(spec.ObjectPath(s.ObjectID)), graphapi.ListOptions{Select: []string{"id"}})
	return err == nil
}

func (a *applier) finishReport() {
	r := a.report
	r.Done, r.Failed, r.Skipped, r.Pending = 0, 0, 0, 0
	for _, sr := range a.steps {
		out := StepOutcome{ID: sr.step.ID, Stage: a.plan.Stages[sr.stage].Name, Kind: sr.step.Kind, ObjectID: sr.step.ObjectID,
			DisplayName: sr.step.DisplayName, Action: sr.step.Action, Reason: sr.res.Error}
		switch sr.state {
		case snapshots.StepDone:
			r.Done++
			// An assignment that came back with its principal ("already there") keeps
			// its id: not recreated.
			if sr.step.Action == ActionRecreate && sr.res.NewID != "" && sr.res.NewID != sr.step.ObjectID {
				r.Recreated++
			}
		case snapshots.StepFailed:
			r.Failed++
			r.Failures = append(r.Failures, out)
		case snapshots.StepSkipped:
			r.Skipped++
			r.Skips = append(r.Skips, out)
		default:
			r.Pending++
		}
	}
	r.Lockouts = append(r.Lockouts, a.lockouts...)
	r.Progress = *a.progress()
}

func (a *applier) summaryLine() string {
	r := a.report
	return fmt.Sprintf("%d steps done, %d failed, %d skipped, %d pending", r.Done, r.Failed, r.Skipped, r.Pending)
}

// progress counts steps per stage and the write rate against the budget.
func (a *applier) progress() *Progress {
	p := &Progress{}
	for _, st := range a.plan.Stages {
		p.Stages = append(p.Stages, StageProgress{Name: st.Name})
	}
	remainingWrites := 0
	for _, sr := range a.steps {
		sp := &p.Stages[sr.stage]
		sp.Total++
		p.Total++
		switch sr.state {
		case snapshots.StepDone:
			sp.Done++
			p.Done++
		case snapshots.StepFailed:
			sp.Failed++
			p.Failed++
		case snapshots.StepSkipped:
			sp.Skipped++
			p.Skipped++
		default:
			for _, r := range sr.step.Requests[min(sr.res.Next, len(sr.step.Requests)):] {
				if r.Method != "GET" {
					remainingWrites++
				}
			}
		}
	}
	if a.opts.Client == nil || a.start.IsZero() {
		return p
	}
	s := a.opts.Client.Stats()
	p.Writes = s.Writes - a.base.Writes
	p.Requests = s.Requests - a.base.Requests
	p.Throttled = s.Throttled - a.base.Throttled
	p.Retries = s.Retries - a.base.Retries
	p.Pace = s.Pace
	p.BudgetWritesPerSecond = float64(s.Budget.WritesPer150s) / 150
	p.ElapsedSeconds = a.now().Sub(a.start).Seconds()
	if p.ElapsedSeconds > 0 {
		p.WritesPerSecond = float64(p.Writes) / p.ElapsedSeconds
	}
	// The pacer holds writes to the paced budget, so that is the rate the rest will go
	// at; the rate so far can be higher only for the burst a run opens with, and an ETA
	// from it comes out far too short ("ETA 0s" with thousands of writes to go).
	if rate := p.BudgetWritesPerSecond * p.Pace; rate > 0 && p.HasBudget() {
		p.ETASeconds = float64(remainingWrites) / rate
	}
	return p
}

// passwordFileError is a password that could not be written down. It stops the run, as
// a journal that cannot be written does: every user still to recreate would fail the
// same way, and a user must not be created with a password nobody has.
type passwordFileError struct {
	path string
	err  error
}

func (e *passwordFileError) Error() string {
	cause := e.err
	var pathErr *fs.PathError
	if errors.As(cause, &pathErr) {
		cause = pathErr.Err
	}
	return fmt.Sprintf("writing a generated password to %s failed (%v), so the run stopped before sending the user it is for; free space on that disk or pass --passwords with a file elsewhere", e.path, cause)
}

func (e *passwordFileError) Unwrap() error { return e.err }

// writePassword appends one generated password to the operator's file before the
// request carrying it goes out, so a lost answer never leaves a password unknown.
func (a *applier) writePassword(s *Step, upn, password string) error {
	if a.pwFile == nil {
		return errors.New("no password file is open")
	}
	line := fmt.Sprintf("%s\t%s\t%s\t%s\n", upn, password, s.ObjectID, a.now().UTC().Format(time.RFC3339))
	if err := a.fail("password"); err != nil {
		return &passwordFileError{path: a.pwFile.Name(), err: err}
	}
	if _, err := io.WriteString(a.pwFile, line); err != nil {
		return &passwordFileError{path: a.pwFile.Name(), err: err}
	}
	if err := a.pwFile.Sync(); err != nil {
		return &passwordFileError{path: a.pwFile.Name(), err: err}
	}
	a.report.Passwords++
	return nil
}

// fileAdvice says which file to apply a plan with, when the one given is not the file
// the plan was built from.
func fileAdvice(planDB, given string) string {
	if abs, err := filepath.Abs(given); err == nil {
		given = abs
	}
	if planDB != "" && planDB != given {
		return fmt.Sprintf("apply it with the file it was built from (--db %s), or build a new plan from %s", planDB, given)
	}
	return "build a new plan with 'lifeline plan' and apply that"
}
