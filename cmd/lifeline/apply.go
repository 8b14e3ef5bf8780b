package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// exitPending is apply's exit code when it stopped with steps still pending: running
// the same command again resumes (DESIGN.md).
const exitPending = 4

func newApplyCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		db, graphURL, passwords string
		yes, asJSON             bool
		pace                    float64
	)
	cmd := &cobra.Command{
		Use:   "apply PLAN.json",
		Short: "Run a restore plan against the tenant, paced, batched, journaled and resumable",
		Long: `apply runs a plan written by 'lifeline plan'. It refuses a plan for another tenant,
a plan file edited since it was written (its seal no longer matches), or one the tenant
has moved past (its live fingerprint no longer matches), then runs the
stages in order: requests are paced to the tenant's Graph budget (--pace is the fraction
of it lifeline may use), sent 20 to a $batch, throttled ones waited out and sent again;
a step that fails has its dependents skipped and the rest go on.

Every step's state and result, and the old id -> new id of every recreated object, are
journaled in the plan's snapshot file in the same transaction. Running the same command
again after a crash, Ctrl-C or kill -9 resumes where it stopped and creates nothing twice;
a resume is refused when another plan wrote to the tenant since, or when an object it
still has to recreate already exists. A plan whose every step is done is not run again.
One apply runs with a snapshot file at a time (a second is refused at once), and a plan
is refused with a copy of its file that lacks restores the plan's file held.

Recreated users get generated passwords, written only to the --passwords file (mode 0600,
default PLAN.passwords next to the plan), never printed. Before any Conditional Access
policy leaves report-only, a lockout check proves that no enabled policy blocks every
administrator or a break-glass account of the snapshot.

Progress goes to stderr; --json prints one event per line on stdout instead
({"type", "at", "stage", "step": {...}, "progress": {...}, "message"}), the last being
"finished", or "refused" with the sentence when the plan is refused before it runs. Exit codes: 0 every step done, 1 a step failed, 4 stopped with steps pending.`,
		Args: oneArg("the plan file 'lifeline plan' wrote (PLAN.json)"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			out := newApplyOutput(stdout, stderr, asJSON, isTerminal(os.Stderr))
			// A script reading --json learns of a refusal from stdout too, not only from
			// stderr: its last line is then a "refused" event instead of "finished".
			defer func() { out.refused(errorSentence(cmd, err)) }()
			if cmd.Flags().Changed("pace") && !(pace > 0 && pace <= 1) {
				return usagef(fmt.Sprintf("--pace %v: give the fraction of the tenant's budget to use, above 0 and at most 1 (default %v)", pace, graphapi.DefaultPace))
			}
			planPath := args[0]
			data, err := os.ReadFile(planPath)
			if err != nil {
				// The OS's words name the file and why ("no such file", "is a
				// directory"); the sentence adds what apply wants instead.
				return fmt.Errorf("cannot read the plan: %w; give the PLAN.json file 'lifeline plan --out' wrote", err)
			}
			plan, err := engine.ReadPlan(data)
			if err != nil {
				return fmt.Errorf("%s: %w", planPath, err)
			}
			if db == "" {
				db = plan.DB
			}
			if db == "" {
				return usagef("the plan does not name its snapshot file; pass --db FILE")
			}
			if passwords == "" {
				passwords = strings.TrimSuffix(planPath, filepath.Ext(planPath)) + ".passwords"
			}
			ctx := cmd.Context()
			store, err := openStore(ctx, db, true)
			if err != nil {
				return err
			}
			defer store.Close()
			snap, err := store.Resolve(ctx, fmt.Sprint(plan.Snapshot))
			if err != nil {
				return err
			}
			// The tenant the snapshot was taken from, unless told otherwise: a plan is
			// only ever applied to its own tenant.
			if graphURL == "" && os.Getenv("LIFELINE_GRAPH_URL") == "" {
				graphURL = snap.GraphURL
			}
			client, err := connect(ctx, graphURL, stderr)
			if err != nil {
				return err
			}
			if pace > 0 {
				client.SetPace(pace)
			}
			if !yes {
				if err := confirmApply(ctx, client, plan, os.Stdin, stderr); err != nil {
					return err
				}
			}
			rep, err := engine.Apply(ctx, plan, engine.ApplyOptions{
				Store: store, Client: client, PlanPath: planPath, Operator: operatorName(client),
				PasswordFile: passwords, Events: out.event,
				Fingerprint: func(ctx context.Context) (string, error) {
					fmt.Fprintln(stderr, "Reading the live tenant to check that the plan is current...")
					return engine.LiveFingerprint(ctx, client, plan.TenantID)
				},
				Verify: func(ctx context.Context) (bool, string, error) {
					rep, err := engine.VerifyLive(ctx, client, snapshots.State{Store: store, Snapshot: snap}, engine.VerifyOptions{Scope: plan.Scope})
					if err != nil {
						return false, "", err
					}
					return rep.Settled(), engine.VerifySentence(rep), nil
				},
			})
			out.finish()
			if rep == nil {
				return err
			}
			if !asJSON {
				printApplyReport(stdout, plan, rep)
			}
			return applyOutcome(rep, err, rerunCommand(planPath, cmd.Flags()))
		},
	}
	f := cmd.Flags()
	f.StringVar(&db, "db", "", "snapshot file (default: the one the plan names)")
	f.StringVar(&graphURL, "graph-url", "", "Graph base URL (default $LIFELINE_GRAPH_URL, else the snapshot's own)")
	f.StringVar(&passwords, "passwords", "", "file for generated passwords, mode 0600 (default PLAN.passwords)")
	f.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	f.Float64Var(&pace, "pace", 0, fmt.Sprintf("fraction of the tenant's Graph budget to use, 0 < pace <= 1 (default %v)", graphapi.DefaultPace))
	f.BoolVar(&asJSON, "json", false, "print one JSON event per line")
	return cmd
}

// confirmApply asks the operator to type the tenant's primary domain: a restore writes to
// a production directory, and the domain is what tells one tenant from another.
func confirmApply(ctx context.Context, client *graphapi.Client, plan *engine.Plan, in *os.File, stderr io.Writer) error {
	if !isTerminal(in) {
		return usagef(fmt.Sprintf("apply writes to tenant %s; pass --yes to confirm when not at a terminal", plan.TenantID))
	}
	domain, err := engine.PrimaryDomain(ctx, client)
	if err != nil {
		return err
	}
	s := plan.Summary
	fmt.Fprintf(stderr, "This will write to tenant %s (%s):\n", domain, plan.TenantID)
	fmt.Fprintf(stderr, "  %d to restore from the bin, %d to recreate, %d links to restore, %d properties to roll back, %d additions to remove, %d CA policies\n",
		s.RestoreFromBin, s.Recreate, s.Links, s.Properties, s.Removals, s.CAPolicies)
	fmt.Fprintf(stderr, "Type the tenant's domain (%s) to go on: ", domain)
	line, _ := bufio.NewReader(in).ReadString('\n')
	if !engine.SameDomain(strings.TrimSpace(line), domain) {
		return &exitError{code: exitFailure, err: errors.New("the domain typed does not match; nothing was written")}
	}
	return nil
}

// operatorName is who the journal says ran the apply.
func operatorName(client *graphapi.Client) string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s via %s", name, host, client.GraphURL())
}

// applyOutput renders apply's events: JSON lines on stdout, or progress on stderr
// (redrawn in place on a terminal, one line per stage and failure otherwise).
type applyOutput struct {
	mu       sync.Mutex
	stdout   io.Writer
	stderr   io.Writer
	json     bool
	terminal bool
	enc      *json.Encoder
	last     time.Time
	drawn    bool
	finished bool // the run's finished event was written
}

func newApplyOutput(stdout, stderr io.Writer, asJSON, terminal bool) *applyOutput {
	o := &applyOutput{stdout: stdout, stderr: stderr, json: asJSON, terminal: terminal}
	o.enc = json.NewEncoder(stdout)
	o.enc.SetEscapeHTML(false)
	return o
}

func (o *applyOutput) event(e engine.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finished = o.finished || e.Type == engine.EventFinished
	if o.json {
		_ = o.enc.Encode(e)
		return
	}
	switch e.Type {
	case engine.EventRun:
		o.line(e.Message)
	case engine.EventStage:
		o.line(fmt.Sprintf("Stage %s: %s", e.Stage, steps(stageTotal(e.Progress, e.Stage))))
	case engine.EventStep:
		if e.Step.State == snapshots.StepFailed {
			o.line("  FAILED " + e.Step.Error)
		} else if e.Step.Action == engine.ActionLockoutCheck && e.Step.State == snapshots.StepDone {
			o.line("  lockout check passed: " + e.Step.Note)
		} else if e.Step.Action == engine.ActionVerify && e.Step.State == snapshots.StepDone {
			o.line("  verified: " + e.Step.Note)
		}
	case engine.EventThrottle:
		o.line(fmt.Sprintf("  throttled: %s (%.1f s)", e.Message, e.WaitSeconds))
	case engine.EventProgress:
		switch {
		case o.terminal && time.Since(o.last) > 200*time.Millisecond:
			o.last = time.Now()
			fmt.Fprintf(o.stderr, "\r\033[K%s", fitWidth(os.Stderr, "  "+progressLine(e.Progress)))
			o.drawn = true
		case !o.terminal && time.Since(o.last) >= logProgressEvery:
			// A log (tee, nohup, a CI job) gets a line now and then rather than none.
			o.last = time.Now()
			o.line("  " + progressLine(e.Progress))
		}
	case engine.EventPaused, engine.EventResumed:
		o.line(e.Type)
	}
}

// logProgressEvery is how often apply writes a progress line when stderr is not a
// terminal.
const logProgressEvery = 30 * time.Second

func (o *applyOutput) line(s string) {
	if o.drawn {
		fmt.Fprint(o.stderr, "\r\033[K")
		o.drawn = false
	}
	fmt.Fprintln(o.stderr, s)
}

// eventRefused is the last --json line of an apply that ended without running: the
// plan or its file refused, the tenant unreachable before the first step.
const eventRefused = "refused"

// refused writes, for --json, the sentence that ended an apply before its run
// finished; a run that finished has said everything in its events.
func (o *applyOutput) refused(sentence string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.json || o.finished || sentence == "" {
		return
	}
	_ = o.enc.Encode(engine.Event{Type: eventRefused, At: time.Now().UTC(), Message: sentence})
}

func (o *applyOutput) finish() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.drawn {
		fmt.Fprintln(o.stderr)
		o.drawn = false
	}
}

func stageTotal(p *engine.Progress, stage string) int {
	if p == nil {
		return 0
	}
	for _, s := range p.Stages {
		if s.Name == stage {
			return s.Total
		}
	}
	return 0
}

// steps says how many steps, "1 step" or "N steps".
func steps(n int) string { return plural(n, "step", "steps") }

// plural says how many of something there are: "1 object", "3 objects".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// applyOutcome is how a run ended, as the exit code and the one sentence the operator
// acts on; again is the command that resumes it.
func applyOutcome(rep *engine.ApplyReport, err error, again string) error {
	switch {
	case err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return &exitError{code: exitPending, err: fmt.Errorf("apply stopped with %s pending; run '%s' again to resume", steps(rep.Pending), again)}
	case err != nil:
		return &exitError{code: exitPending, err: fmt.Errorf("%v; %s pending: run '%s' again to resume", err, steps(rep.Pending), again)}
	case rep.Failed > 0 && rep.NeedsANewPlan():
		return &exitError{code: exitFailure, err: fmt.Errorf("%s, each on what this plan cannot see (an object purged or deleted since it was built, or differences its verify step found); running it again cannot mend that: build a new plan with 'lifeline plan' and apply that", failedAndSkipped(rep))}
	case rep.Failed > 0:
		return &exitError{code: exitFailure, err: fmt.Errorf("%s; fix what each failure names, then run '%s' again", failedAndSkipped(rep), again)}
	case rep.Pending > 0:
		return &exitError{code: exitPending, err: fmt.Errorf("%s still pending; run '%s' again to resume", steps(rep.Pending), again)}
	}
	return nil
}

// failedAndSkipped counts a run's failed steps and the steps skipped because of them.
func failedAndSkipped(rep *engine.ApplyReport) string {
	were, them := "were", "them"
	if rep.Skipped == 1 {
		were = "was"
	}
	if rep.Failed == 1 {
		them = "it"
	}
	return fmt.Sprintf("%s failed and %d %s skipped because of %s", steps(rep.Failed), rep.Skipped, were, them)
}

// rerunCommand is the apply command to run again to resume: the plan and every flag
// the operator gave, so a resume at 3 a.m. is one copy and paste that runs as the
// first attempt did (with --yes it does not stop to ask for the domain).
func rerunCommand(planPath string, flags *pflag.FlagSet) string {
	words := []string{"lifeline", "apply", shellWord(planPath)}
	flags.VisitAll(func(f *pflag.Flag) {
		switch {
		case !f.Changed:
		case f.Value.Type() == "bool" && f.Value.String() == "true":
			words = append(words, "--"+f.Name)
		case f.Value.Type() != "bool":
			words = append(words, "--"+f.Name, shellWord(f.Value.String()))
		}
	})
	return strings.Join(words, " ")
}

// shellWord quotes a word for a POSIX shell when it holds anything a shell would
// split or expand, so a path with a space still pastes as one argument.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=+,@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// progressLine is one line of where a run stands: steps and, once the run has gone on
// for a moment, the write rate against the budget and an ETA.
func progressLine(p *engine.Progress) string {
	if p == nil {
		return ""
	}
	budget := "(no write budget: a simulated tenant with throttling off)"
	if p.HasBudget() {
		budget = fmt.Sprintf("of a %.1f/s budget", p.BudgetWritesPerSecond)
	}
	line := fmt.Sprintf("%d/%d steps, %d failed", p.Done, p.Total, p.Failed)
	// The rate and the ETA wait until the run has gone on long enough to have one.
	if p.RateKnown() {
		line += fmt.Sprintf("; %.1f writes/s %s (pace %.0f%%)", p.WritesPerSecond, budget, p.Pace*100)
		if p.ETASeconds > 0 {
			line += fmt.Sprintf(", ETA %s", (time.Duration(p.ETASeconds) * time.Second).String())
		}
	}
	if p.Throttled > 0 {
		line += fmt.Sprintf(", %d throttled", p.Throttled)
	}
	return line
}

func printApplyReport(w io.Writer, plan *engine.Plan, rep *engine.ApplyReport) {
	p := rep.Progress
	verb := "Applied"
	if rep.Resumed {
		verb = "Resumed and applied"
	}
	fmt.Fprintf(w, "%s plan %s to tenant %s: %s done, %d failed, %d skipped, %d pending\n",
		verb, rep.PlanHash[:12], plan.TenantID, steps(rep.Done), rep.Failed, rep.Skipped, rep.Pending)
	budget := "no write budget (a simulated tenant with throttling off)"
	if p.HasBudget() {
		budget = fmt.Sprintf("%.0f%% of the tenant's write budget", p.WritesPerSecond/p.BudgetWritesPerSecond*100)
	}
	fmt.Fprintf(w, "%d requests, %d writes in %.1f s: %.1f writes/s, %s; %d throttled, %d retried\n",
		p.Requests, p.Writes, p.ElapsedSeconds, p.WritesPerSecond, budget, p.Throttled, p.Retries)
	if rep.Recreated > 0 {
		db := plan.DB
		if db == "" {
			db = "FILE"
		}
		fmt.Fprintf(w, "%d recreated with new ids: 'lifeline ledger --db %s' lists old -> new\n", rep.Recreated, db)
	}
	if rep.Reconciled > 0 {
		fmt.Fprintf(w, "%d whose answer was lost found by natural key, not created twice\n", rep.Reconciled)
	}
	if rep.PasswordFile != "" && rep.Passwords > 0 {
		fmt.Fprintf(w, "%d generated passwords are in %s (mode 0600); deliver them out of band\n", rep.Passwords, rep.PasswordFile)
	}
	for _, l := range rep.Lockouts {
		fmt.Fprintf(w, "LOCKOUT: %s\n", l.Reason)
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(w, "FAILED %s: %s\n", f.ID, f.Reason)
	}
	if len(rep.Skips) > 0 {
		fmt.Fprintf(w, "%d steps skipped because a step they depend on did not complete\n", len(rep.Skips))
	}
}
