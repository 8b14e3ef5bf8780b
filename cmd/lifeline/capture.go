package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// connect builds the Graph client from --graph-url and the environment.
func connect(ctx context.Context, graphURL string, stderr io.Writer) (*graphapi.Client, error) {
	cfg := graphapi.ConfigFromEnv(graphURL)
	cfg.Interactive = isTerminal(os.Stdin) && isTerminal(os.Stderr)
	c, err := graphapi.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// isTerminal reports whether f is a terminal. A character device is not enough:
// /dev/null is one, and a script running 'apply < /dev/null' must be asked for --yes
// rather than prompted.
func isTerminal(f *os.File) bool { return term.IsTerminal(f.Fd()) }

func newCaptureCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		out, graphURL, label string
		incremental, asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "capture --out FILE.db",
		Short: "Capture the whole tenant into a snapshot file",
		Long: `Read every kind lifeline knows, with every property, every link, the recycle
bins and the audit log since the previous capture, and store them as a new
snapshot in FILE.db (created when missing). A capture that fails leaves the
file's earlier snapshots untouched.

When stderr is a terminal, progress is drawn there: per kind still being read,
its objects, the total Graph's $count gave, its rate over the last 5 s and an
ETA. A summary goes to stdout at the end (--json: the report as JSON).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("--out is required: the snapshot file to write")
			}
			ctx := cmd.Context()
			client, err := connect(ctx, graphURL, stderr)
			if err != nil {
				return err
			}
			store, err := snapshots.Open(ctx, out, snapshots.OpenOptions{Create: true})
			if err != nil {
				return err
			}
			prog := newProgress(stderr, isTerminal(os.Stderr) && !asJSON, client.Stats)
			rep, err := snapshots.Capture(ctx, client, store, snapshots.CaptureOptions{Label: label, Incremental: incremental, Progress: prog.events()})
			prog.finish()
			if err != nil {
				store.Abandon(context.WithoutCancel(ctx)) // a file this capture created goes with it
				return err
			}
			defer store.Close()
			if asJSON {
				if rep.Warnings == nil {
					rep.Warnings = []string{}
				}
				return printJSON(stdout, rep)
			}
			total := sum(rep.Objects)
			rate := float64(total) / rep.Duration.Seconds()
			fmt.Fprintf(stdout, "Snapshot %d of tenant %s written to %s\n", rep.Snapshot.ID, rep.Snapshot.TenantID, out)
			fmt.Fprintf(stdout, "  %s\n", countsLine(rep.Objects, kindOrder()))
			fmt.Fprintf(stdout, "  %d in the recycle bins, %d links, %d audit entries\n", sum(rep.Snapshot.BinCounts), rep.Links, rep.Audit)
			fmt.Fprintf(stdout, "  %d objects in %s (%.0f objects/s, %d requests)\n", total, rep.Duration.Round(time.Millisecond), rate, rep.Requests)
			fmt.Fprintf(stdout, "  root hash %s\n", rep.Snapshot.RootHash)
			for _, w := range rep.Warnings {
				fmt.Fprintln(stdout, "  warning: "+w)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "snapshot file to write (created when missing)")
	f.StringVar(&graphURL, "graph-url", "", "Graph base URL (default $LIFELINE_GRAPH_URL or https://graph.microsoft.com/v1.0)")
	f.StringVar(&label, "label", "", "a name for the snapshot")
	f.BoolVar(&incremental, "incremental", false, "read users and groups as changes since the newest snapshot (delta)")
	f.BoolVar(&asJSON, "json", false, "print the capture report as JSON")
	return cmd
}

// captureLive captures the tenant into a scratch file so a diff can read both sides
// the same way. It refuses a tenant other than the snapshot's.
func captureLive(ctx context.Context, graphURL string, against snapshots.Snapshot, stderr io.Writer) (snapshots.State, func(), error) {
	client, err := connect(ctx, graphURL, stderr)
	if err != nil {
		return snapshots.State{}, nil, err
	}
	prog := newProgress(stderr, isTerminal(os.Stderr), client.Stats)
	live, cleanup, err := engine.CaptureLive(ctx, client, against.TenantID, prog.events())
	prog.finish()
	return live, cleanup, err
}
