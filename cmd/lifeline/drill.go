package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/engine"
)

func newDrillCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Recovery drills: inject incidents into a simulated tenant",
		Long: `Drills work only against simulated tenants ('lifeline sim serve'): every command
first asks the tenant to prove it is one, and refuses anything else.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupCommand("list, incident or run"),
	}
	cmd.AddCommand(newDrillListCommand(stdout), newDrillIncidentCommand(stdout, stderr), newDrillRunCommand(stdout, stderr))
	return cmd
}

func newDrillListCommand(stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the incidents a drill can inject",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if asJSON {
				return printJSON(stdout, engine.Scenarios())
			}
			t := newTable(stdout, "INCIDENT", "DESCRIPTION")
			for _, s := range engine.Scenarios() {
				t.row(s.Name, s.Description)
			}
			t.flush()
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: [{name, description}]")
	return cmd
}

func newDrillIncidentCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		graphURL string
		seed     int64
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "incident NAME",
		Short: "Inject an incident into a simulated tenant, as the tenant's compromised app",
		Long: `Inject the named incident (see 'lifeline drill list') into the simulated tenant at
--graph-url. Every write is made by the sim's "attacker" app registration, so the
audit log names it; time passes through the sim's clock where the incident needs it.
The same --seed on the same tenant picks the same targets.

Anything that does not prove, through GET /_sim/identity, that it is a lifeline
simulated tenant is refused before any write.`,
		Args: oneArg("an incident name ('lifeline drill list' shows them)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if _, ok := engine.LookupScenario(name); !ok {
				return usagef(fmt.Sprintf("unknown incident %q: use one of %s", name, strings.Join(engine.ScenarioNames(), ", ")))
			}
			if graphURL == "" && os.Getenv("LIFELINE_GRAPH_URL") == "" {
				// Microsoft Graph, the default elsewhere, is never a drill's tenant.
				return usagef("drill incident needs a simulated tenant: pass --graph-url with the graph_url 'lifeline sim serve' printed (or set LIFELINE_GRAPH_URL)")
			}
			ctx := cmd.Context()
			operator, err := connect(ctx, graphURL, stderr)
			if err != nil {
				return err
			}
			id, err := engine.CheckSimulated(ctx, operator)
			if err != nil {
				return err
			}
			attacker, err := engine.ConnectAttacker(ctx, operator, id)
			if err != nil {
				return err
			}
			var opts engine.IncidentOptions
			if !asJSON && isTerminal(os.Stderr) {
				start := time.Now()
				opts.Progress = func(a engine.IncidentAction) {
					fmt.Fprintf(stderr, "%7.1fs  %s %d %s\n", time.Since(start).Seconds(), a.Action, a.Count, a.Kind)
				}
			}
			rep, err := engine.InjectIncidentWith(ctx, operator, attacker, name, seed, opts)
			if asJSON {
				if err != nil {
					rep.Error = err.Error()
				}
				if perr := printJSON(stdout, rep); perr != nil && err == nil {
					return perr
				}
				return err
			}
			printIncident(stdout, rep, err != nil)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&graphURL, "graph-url", "", "Graph base URL of the simulated tenant (default $LIFELINE_GRAPH_URL)")
	f.Int64Var(&seed, "seed", 1, "seed of the target choice: the same seed on the same tenant picks the same targets")
	f.BoolVar(&asJSON, "json", false, "print JSON: {scenario, tenant_id, actor, clock_before, clock_after, actions: [{action, kind, count, ids}]}")
	return cmd
}

// printIncident writes the human report: one line per action, then who did it and the
// sim's clock.
func printIncident(w io.Writer, rep engine.IncidentReport, stopped bool) {
	if len(rep.Actions) == 0 && stopped {
		fmt.Fprintf(w, "Nothing was written to tenant %s.\n", rep.TenantID)
		return
	}
	head := "Injected %s into tenant %s (seed %d):\n"
	if stopped {
		head = "Injected part of %s into tenant %s (seed %d) before it stopped:\n"
	}
	fmt.Fprintf(w, head, rep.Scenario, rep.TenantID, rep.Seed)
	if len(rep.Actions) == 0 {
		fmt.Fprintln(w, "  - it found nothing left to act on (an earlier incident took it all).")
	}
	for _, a := range rep.Actions {
		fmt.Fprintf(w, "  - %s\n", a.Summary)
	}
	fmt.Fprintf(w, "Every write was made by the app %q (appId %s); the audit log names it.\n", rep.Actor, rep.ActorAppID)
	clock := fmtTime(rep.ClockAfter)
	if d := rep.ClockAfter.Sub(rep.ClockBefore); d >= time.Hour {
		clock += fmt.Sprintf(" (advanced %s from %s)", drillAdvance(d.Hours()), fmtTime(rep.ClockBefore))
	}
	fmt.Fprintf(w, "Sim clock: %s.\n", clock)
}

func drillAdvance(hours float64) string {
	h := int(hours)
	switch {
	case h%24 == 0:
		return fmt.Sprintf("%d days", h/24)
	case h > 24:
		return fmt.Sprintf("%d days %d hours", h/24, h%24)
	}
	return fmt.Sprintf("%d hours", h)
}
