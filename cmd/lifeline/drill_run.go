package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

func newDrillRunCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		graphURL, db, throttle string
		users                  int
		seed                   int64
		asJSON                 bool
	)
	cmd := &cobra.Command{
		Use:   "run NAME",
		Short: "Run a whole recovery drill: baseline, incident, plan, apply, verify, scored",
		Long: `Run a guided drill of the named incident (see 'lifeline drill list'): capture a
baseline snapshot, inject the incident as the tenant's compromised app, build the plan
back to the baseline, apply it, verify, and score the recovery: the time of each
phase, what the plan held, the write rate against the budget, how that compares with
Microsoft's quoted 500,000 changes in 30 hours, and whether verify came out clean.

Without --graph-url (or LIFELINE_GRAPH_URL) the drill starts its own simulated tenant
in-process (--users, --seed, --throttle). With one, the tenant must be a lifeline
simulated tenant: anything else is refused before any write.

--json prints {"scenario", "tenant_id", "snapshot", "incident", "phases": [{"name",
"seconds"}], "plan", "steps", "apply", "verify", "recovery_seconds", "changes_per_s",
"versus_microsoft", "score"}. Exit 0 when verify is clean, 3 when differences remain,
1 when a step failed.`,
		Args: oneArg("an incident name ('lifeline drill list' shows them)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if _, ok := engine.LookupScenario(name); !ok {
				return usagef(fmt.Sprintf("unknown incident %q: use one of %s", name, strings.Join(engine.ScenarioNames(), ", ")))
			}
			mode, err := sim.ParseThrottleMode(throttle)
			if err != nil {
				return usagef("--throttle: " + err.Error())
			}
			ctx := cmd.Context()
			dir, err := os.MkdirTemp("", "lifeline-drill-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			if graphURL == "" {
				graphURL = os.Getenv("LIFELINE_GRAPH_URL")
			}
			var operator *graphapi.Client
			if graphURL == "" {
				if users < sim.MinGenerateUsers || users > sim.MaxGenerateUsers {
					return usagef(fmt.Sprintf("--users %d: give between %d and %d", users, sim.MinGenerateUsers, sim.MaxGenerateUsers))
				}
				fmt.Fprintf(stderr, "Starting a simulated tenant in-process (%d users, seed %d, throttle %s)...\n", users, seed, mode)
				ds, err := sim.Generate(sim.GenerateOptions{Users: users, Seed: seed})
				if err != nil {
					return err
				}
				s, err := sim.New(ds, sim.Options{Throttle: mode, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					return err
				}
				srv, err := s.Start("127.0.0.1:0")
				if err != nil {
					return err
				}
				defer srv.Close()
				if operator, err = graphapi.New(ctx, graphapi.Config{GraphURL: srv.Info().GraphURL, AdoptSimBudget: true}); err != nil {
					return err
				}
			} else if operator, err = connect(ctx, graphURL, stderr); err != nil {
				return err
			}
			if db == "" {
				db = filepath.Join(dir, "drill.db")
			}
			store, err := snapshots.Open(ctx, db, snapshots.OpenOptions{Create: true})
			if err != nil {
				return err
			}
			defer store.Close()
			out := newApplyOutput(stdout, stderr, false, isTerminal(os.Stderr))
			opts := engine.DrillRunOptions{Operator: operator, Store: store, Scenario: name, Seed: seed,
				PasswordFile: filepath.Join(dir, "drill.passwords")}
			if !asJSON {
				opts.Phase = func(p string) { fmt.Fprintf(stderr, "== %s\n", p) }
				opts.Events = out.event
			}
			score, err := engine.RunDrill(ctx, opts)
			out.finish()
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(stdout, score); err != nil {
					return err
				}
			} else {
				printDrillScore(stdout, score)
			}
			switch {
			case score.Apply != nil && score.Apply.Failed > 0:
				return &exitError{code: exitFailure}
			case score.Verify == nil || !score.Verify.Clean:
				return &exitError{code: exitDifferences}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&graphURL, "graph-url", "", "a running simulated tenant (default: start one in-process)")
	f.IntVar(&users, "users", 1000, "users in the in-process tenant")
	f.Int64Var(&seed, "seed", 1, "seed of the in-process tenant and of the incident's targets")
	f.StringVar(&throttle, "throttle", "off", "throttling of the in-process tenant: off, or realistic")
	f.StringVar(&db, "db", "", "snapshot file to keep the drill in (default: a temporary one)")
	f.BoolVar(&asJSON, "json", false, "print the score as JSON")
	return cmd
}

// printDrillScore is the drill's report for people.
func printDrillScore(w io.Writer, s *engine.DrillScore) {
	fmt.Fprintf(w, "\nDrill %s on tenant %s: score %d/100\n", s.Scenario, s.TenantID, s.Score)
	for _, a := range s.Incident.Actions {
		if a.Summary != "" {
			fmt.Fprintf(w, "  incident: %s\n", a.Summary)
		}
	}
	p := s.Plan
	fmt.Fprintf(w, "  plan: %d steps: %d to restore from the bin, %d to recreate, %d links (%d to check), %d properties, %d removals, %d CA policies\n",
		s.Steps, p.RestoreFromBin, p.Recreate, p.Links, p.LinksToCheck, p.Properties, p.Removals, p.CAPolicies)
	for _, ph := range s.Phases {
		fmt.Fprintf(w, "  %-9s %8.2f s\n", ph.Name, ph.Seconds)
	}
	fmt.Fprintf(w, "  recovery (plan + apply + verify): %.2f s\n", s.RecoverySeconds)
	if a := s.Apply; a != nil {
		fmt.Fprintf(w, "  apply: %d done, %d failed, %d skipped; %d writes, %.1f writes/s; %.1f changes/s, %.0fx Microsoft's quoted 500,000 changes in 30 hours\n",
			a.Done, a.Failed, a.Skipped, a.Progress.Writes, a.Progress.WritesPerSecond, s.ChangesPerSecond, s.VersusMicrosoft)
		for _, f := range a.Failures {
			fmt.Fprintf(w, "  FAILED %s\n", f.Reason)
		}
	}
	switch v := s.Verify; {
	case v == nil:
		fmt.Fprintln(w, "  verify: did not run (a step it depends on did not complete)")
	case v.Clean:
		fmt.Fprintf(w, "  verify: clean; %d things Graph cannot restore (passwords, secrets, read-only properties)\n", len(v.Unrestorable))
	default:
		fmt.Fprintf(w, "  verify: %s\n", engine.VerifySentence(v))
	}
}
