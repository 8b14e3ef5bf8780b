package main

import (
	"io"
	"os"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/tui"
)

func newTUICommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		db       string
		readOnly bool
	)
	cmd := &cobra.Command{
		Use:   "tui --db FILE [--read-only]",
		Short: "The console: browse snapshots, diffs and dependencies",
		Long: `Open the console. With --db only, it works offline on a snapshot file, with no
network and no credentials: everything is read-only. Keys: ? help, : go to a
screen, / filter, enter open, esc back, q quit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if db == "" {
				return usagef("--db is required for now: the console opens a snapshot file offline (live sessions are not built yet)")
			}
			ctx := cmd.Context()
			s, err := openStore(ctx, db, false)
			if err != nil {
				return err
			}
			defer s.Close()
			opts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithOutput(stdout)}
			if in := cmd.InOrStdin(); in != os.Stdin {
				opts = append(opts, tea.WithInput(in)) // tests drive the console through a reader
			}
			p := tea.NewProgram(tui.NewOffline(s, db, readOnly), opts...)
			_, err = p.Run()
			if err != nil && ctx.Err() != nil {
				return nil // interrupted: a clean exit
			}
			return err
		},
	}
	cmd.SetErr(stderr)
	cmd.Flags().StringVar(&db, "db", "", "snapshot file to open offline")
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "never write (offline sessions are always read-only)")
	return cmd
}
