package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
	"github.com/lifelinehq/lifeline/tenant/sim"
	"github.com/lifelinehq/lifeline/tui"
)

// demoUsers and demoSeed shape the embedded demo tenant: large enough to feel real,
// small enough to start in a second or two.
const (
	demoUsers = 3000
	demoSeed  = 42
)

// demoTenant is a running embedded demo: a simulated tenant on loopback and a
// snapshot file holding its baseline.
type demoTenant struct {
	srv      *sim.Server
	dir      string
	db       string
	client   *graphapi.Client
	incident engine.IncidentReport
	cleanup  func()
}

// startDemo starts the embedded tenant, captures its baseline into a temporary file,
// and returns with both ready. logs receives the sim's log lines.
func startDemo(ctx context.Context, logs io.Writer, addr string) (*demoTenant, error) {
	ds, err := sim.Generate(sim.GenerateOptions{Users: demoUsers, Seed: demoSeed})
	if err != nil {
		return nil, err
	}
	s, err := sim.New(ds, sim.Options{Throttle: sim.ThrottleOff, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		return nil, err
	}
	srv, err := s.Start(addr)
	if err != nil {
		return nil, fmt.Errorf("cannot start the demo tenant on %s: %w", addr, err)
	}
	dir, err := os.MkdirTemp("", "lifeline-demo-")
	if err != nil {
		srv.Close()
		return nil, err
	}
	d := &demoTenant{srv: srv, dir: dir, db: filepath.Join(dir, "demo.db")}
	d.cleanup = func() { srv.Close(); os.RemoveAll(dir) }
	cfg := graphapi.Config{GraphURL: srv.Info().GraphURL, AdoptSimBudget: true}
	if d.client, err = graphapi.New(ctx, cfg); err != nil {
		d.cleanup()
		return nil, err
	}
	store, err := snapshots.Open(ctx, d.db, snapshots.OpenOptions{Create: true})
	if err != nil {
		d.cleanup()
		return nil, err
	}
	defer store.Close()
	if _, err := snapshots.Capture(ctx, d.client, store, snapshots.CaptureOptions{Label: "baseline (known good)"}); err != nil {
		d.cleanup()
		return nil, fmt.Errorf("capturing the demo baseline: %w", err)
	}
	// The incident: everything at once, by the attacker app, so the audit log tells it.
	id, err := engine.CheckSimulated(ctx, d.client)
	if err == nil {
		var attacker *graphapi.Client
		if attacker, err = engine.ConnectAttacker(ctx, d.client, id); err == nil {
			d.incident, err = engine.InjectIncident(ctx, d.client, attacker, demoIncident, demoSeed)
		}
	}
	if err != nil {
		d.cleanup()
		return nil, fmt.Errorf("injecting the demo incident: %w", err)
	}
	return d, nil
}

// demoIncident is the drill scenario the demo injects after its baseline.
const demoIncident = "kitchen-sink"

func newDemoCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		addr      string
		noConsole bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Open the console on an embedded simulated tenant mid-incident, with nothing set up",
		Long: `Start a simulated tenant in-process on loopback (3,000 users, seed 42), take a
baseline snapshot of it into a temporary file, inject the kitchen-sink incident
(mass deletion, purged groups, deleted apps, tampered Conditional Access and
attributes, all by an "attacker" app), and open the console on it, live: the
recycle bin, the incident, a plan, apply and verify, all against the sim.

With --no-console, or when stdout is not a terminal, it prints the commands to
walk the recovery with instead and keeps serving until Ctrl-C. Everything is
removed on exit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.InOrStdin(), stdout, addr, !noConsole && isTerminalWriter(stdout), false)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "address for the embedded tenant (loopback)")
	cmd.Flags().BoolVar(&noConsole, "no-console", false, "print the walk-through instead of opening the console")
	return cmd
}

// isTerminalWriter reports whether w is a terminal: the console needs one to draw on.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// runDemo starts the demo tenant, then opens the console on it (console; read-only
// when 'lifeline --read-only' asked, for the demo is a tenant like any other to the
// flag) or prints the walk-through and serves until ctx ends.
func runDemo(ctx context.Context, in io.Reader, stdout io.Writer, addr string, console, readOnly bool) error {
	logf, err := os.CreateTemp("", "lifeline-demo-*.log")
	if err != nil {
		return err
	}
	defer os.Remove(logf.Name())
	defer logf.Close()
	fmt.Fprintf(stdout, "Starting the demo tenant (%d users), taking its baseline snapshot and injecting the %s incident...\n", demoUsers, demoIncident)
	d, err := startDemo(ctx, logf, addr)
	if err != nil {
		return err
	}
	defer d.cleanup()
	if console {
		store, err := snapshots.Open(ctx, d.db, snapshots.OpenOptions{})
		if err != nil {
			return err
		}
		defer store.Close()
		return runConsole(ctx, in, stdout, tui.Options{Store: store, Path: d.db, Client: d.client, ReadOnly: readOnly}, true)
	}
	url := d.srv.Info().GraphURL
	fmt.Fprintf(stdout, "\nThe incident, as %s did it:\n", d.incident.Actor)
	for _, a := range d.incident.Actions {
		fmt.Fprintf(stdout, "  %s\n", a.Summary)
	}
	fmt.Fprintf(stdout, `
The demo tenant %s is serving Microsoft Graph at %s
and its known-good baseline is snapshot 1 in %s

Walk the recovery, in another terminal:

  lifeline tui --db %[3]s --graph-url %[2]s
  lifeline diff --db %[3]s --from 1 --live --graph-url %[2]s
  lifeline bin --graph-url %[2]s --db %[3]s
  lifeline graph --db %[3]s --snapshot 1 "Break Glass 1"
  lifeline plan --db %[3]s --from 1 --graph-url %[2]s --out %[5]s
  lifeline apply %[5]s
  lifeline verify --db %[3]s --snapshot 1 --graph-url %[2]s
  lifeline ledger --db %[3]s

The sim's log is in %[4]s. Press Ctrl-C to stop; the demo files are removed.
`, d.client.TenantID(), url, d.db, logf.Name(), filepath.Join(d.dir, "plan.json"))
	<-ctx.Done()
	fmt.Fprintln(stdout, "Stopping the demo tenant.")
	return nil
}
