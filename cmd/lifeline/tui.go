package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
	"github.com/lifelinehq/lifeline/tui"
)

func newTUICommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		db, graphURL string
		readOnly     bool
	)
	cmd := &cobra.Command{
		Use:   "tui [--db FILE] [--read-only] [--graph-url URL]",
		Short: "The console: the whole recovery, from the recycle bin to verify",
		Long: `Open the console on a snapshot file. Without --db it is plain 'lifeline': the
embedded demo tenant when nothing is configured. With --db only, it works offline, with no
network and no credentials: everything is read-only. With --graph-url (or
LIFELINE_GRAPH_URL and credentials in the environment) it is live: the
recycle bin, the incident against the newest snapshot, plans, apply and verify.
--read-only keeps a live session from writing anything.

Keys: ? help, : go to a screen (overview, bin, snapshots, diff, graph, plan,
run, verify), / filter, space mark, enter open, esc back, q quit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case db == "" && graphURL == "":
				// As plain 'lifeline': the demo when nothing is configured.
				return runDefault(cmd, stdout, stderr, "", readOnly)
			case db == "":
				return usagef("--db is required with --graph-url: the snapshot file the live console reads the incident from and journals a restore in")
			}
			ctx := cmd.Context()
			// A live session that may write opens the file for writing: apply journals there.
			s, readOnly, err := openConsoleStore(ctx, db, readOnly || graphURL == "", stderr)
			if err != nil {
				return err
			}
			defer s.Close()
			var client *graphapi.Client
			if graphURL != "" {
				if client, err = connect(ctx, graphURL, stderr); err != nil {
					return err
				}
			}
			return runConsole(ctx, cmd.InOrStdin(), stdout, tui.Options{Store: s, Path: db, Client: client, ReadOnly: readOnly}, false)
		},
	}
	cmd.SetErr(stderr)
	cmd.Flags().StringVar(&db, "db", "", "snapshot file to open")
	cmd.Flags().StringVar(&graphURL, "graph-url", "", "Graph base URL: open the console live against it (offline when empty)")
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "never write (offline sessions are always read-only)")
	return cmd
}

// runConsole runs the console until the operator quits, then stops what it still runs
// and removes its scratch files. demo says the session is that of 'lifeline demo', whose
// tenant and snapshot file are discarded on exit: a stopped run has nothing to resume.
func runConsole(ctx context.Context, in io.Reader, out io.Writer, opts tui.Options, demo bool) error {
	popts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithOutput(out)}
	if in != os.Stdin {
		popts = append(popts, tea.WithInput(in)) // tests drive the console through a reader
	}
	p := tea.NewProgram(tui.New(opts), popts...)
	final, err := p.Run()
	stopped, planFile := false, ""
	if m, ok := final.(tui.Model); ok {
		if stopped = m.RunInProgress(); stopped {
			fmt.Fprintln(out, "Stopping the restore between rounds…") // Close may wait for the round
		}
		planFile = m.RunPlanFile()
		m.Close()
	}
	if stopped {
		// Quit (ctrl+c) with a restore running: it stopped between rounds, which is
		// not done, and scripts must not read it as success.
		return &exitError{code: exitPending, err: stoppedRunError(opts.Path, planFile, demo)}
	}
	if err != nil && ctx.Err() != nil {
		return nil // interrupted: a clean exit
	}
	if err != nil && strings.Contains(err.Error(), "error opening TTY") {
		// No terminal to read keys from (a cron job, a pipe without a controlling tty).
		return errors.New("the console needs a terminal to read keys from and there is none; run it in a terminal, or use the commands (snapshots, diff, plan, apply, verify) in scripts")
	}
	return err
}

// stoppedRunError says what a restore stopped by quitting left, and how to finish it:
// on the Plan screen, or with 'lifeline apply' only when the run applied a saved plan
// file as it is (any other version of the plan would be refused as stale). The demo
// keeps nothing: its run and its tenant are discarded.
func stoppedRunError(db, planFile string, demo bool) error {
	if demo {
		return errors.New("the demo closed with a restore running: it stopped between rounds, and the demo's tenant and snapshot file are discarded on exit, so there is nothing to resume; 'lifeline demo' starts a new one")
	}
	finish := "to finish, open the console again, build the plan again on the Plan screen (b) and apply it"
	if planFile != "" {
		finish += fmt.Sprintf(", or resume the saved plan it ran with 'lifeline apply %s'", planFile)
	}
	return fmt.Errorf("the console closed with a restore running: it stopped between rounds and the journal in %s keeps what was done; %s", db, finish)
}

// openConsoleStore opens the console's snapshot file, for writing unless readOnly
// (apply journals there). A file this user cannot write opens read-only instead, and
// the session is read-only: it says so on stderr, and in its badge and title. It
// returns whether the session is read-only.
func openConsoleStore(ctx context.Context, db string, readOnly bool, stderr io.Writer) (*snapshots.Store, bool, error) {
	s, err := openStore(ctx, db, !readOnly)
	if !readOnly && errors.Is(err, snapshots.ErrNotWritable) {
		fmt.Fprintf(stderr, "lifeline: %s cannot be written, so this session is read-only: it cannot apply.\n", db)
		s, err = openStore(ctx, db, false)
		readOnly = true
	}
	return s, readOnly, err
}

// openLive opens a snapshot file (for writing unless readOnly: apply journals there)
// and connects to the tenant for a live console.
func openLive(ctx context.Context, db, graphURL string, readOnly bool, stderr io.Writer) (*snapshots.Store, *graphapi.Client, bool, error) {
	s, readOnly, err := openConsoleStore(ctx, db, readOnly, stderr)
	if err != nil {
		return nil, nil, readOnly, err
	}
	client, err := connect(ctx, graphURL, stderr)
	if err != nil {
		s.Close()
		return nil, nil, readOnly, err
	}
	return s, client, readOnly, nil
}
