package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
)

func kindOrder() []string {
	var out []string
	for _, k := range entra.Kinds() {
		out = append(out, string(k))
	}
	return out
}

// openStore opens an existing snapshot file for reading (or for writing when write is set).
func openStore(ctx context.Context, path string, write bool) (*snapshots.Store, error) {
	if path == "" {
		return nil, usagef("--db is required: the snapshot file to read")
	}
	return snapshots.Open(ctx, path, snapshots.OpenOptions{ReadOnly: !write})
}

func newSnapshotsCommand(stdout io.Writer) *cobra.Command {
	var db string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "snapshots",
		Short: "List, inspect, verify, export and import the snapshots in a file",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupCommand("list, show, verify, export or import"),
	}
	cmd.PersistentFlags().StringVar(&db, "db", "", "snapshot file")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the snapshots in a file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openStore(cmd.Context(), db, false)
			if err != nil {
				return err
			}
			defer s.Close()
			snaps, err := s.Snapshots(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if snaps == nil {
					snaps = []snapshots.Snapshot{}
				}
				return printJSON(stdout, snaps)
			}
			if len(snaps) == 0 {
				fmt.Fprintf(stdout, "%s holds no snapshots yet.\n", db)
				return nil
			}
			t := newTable(stdout, "ID", "TAKEN (UTC)", "LABEL", "OBJECTS", "IN BIN", "LINKS", "ROOT HASH")
			for _, snap := range snaps {
				t.row(strconv.FormatInt(snap.ID, 10), fmtTime(snap.TakenAt), orDash(snap.Label), strconv.Itoa(sum(snap.Counts)),
					strconv.Itoa(sum(snap.BinCounts)), strconv.Itoa(snap.LinkCount), snap.RootHash[:16])
			}
			t.flush()
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	show := &cobra.Command{
		Use:   "show SNAP",
		Short: "Show one snapshot: counts per kind, recycle bin, links, hashes",
		Args:  oneArg("a snapshot: its id, its exact label or latest ('lifeline snapshots list --db FILE' shows them)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(cmd.Context(), db, false)
			if err != nil {
				return err
			}
			defer s.Close()
			snap, err := s.Resolve(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(stdout, snap)
			}
			fmt.Fprintf(stdout, "Snapshot %d of tenant %s\n", snap.ID, snap.TenantID)
			fmt.Fprintf(stdout, "  taken      %s from %s (%s)\n", fmtTime(snap.TakenAt), snap.GraphURL, snap.Source)
			fmt.Fprintf(stdout, "  label      %s\n", orDash(snap.Label))
			fmt.Fprintf(stdout, "  incremental %v\n", snap.Incremental)
			fmt.Fprintf(stdout, "  root hash  %s\n", snap.RootHash)
			fmt.Fprintf(stdout, "  links      %d\n", snap.LinkCount)
			t := newTable(stdout, "  KIND", "LIVE", "IN BIN")
			for _, k := range kindOrder() {
				if snap.Counts[k]+snap.BinCounts[k] > 0 {
					t.row("  "+k, strconv.Itoa(snap.Counts[k]), strconv.Itoa(snap.BinCounts[k]))
				}
			}
			t.flush()
			return nil
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	verify := &cobra.Command{
		Use:   "verify [SNAP]",
		Short: "Recompute every hash; exit 0 only when the file is intact",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			// A file SQLite cannot read at all is verify's finding, not its failure: it
			// is reported as the damage (as JSON too), not sent back to verify.
			defer func() {
				if snapshots.IsDamaged(err) {
					err = unreadableFile(stdout, db, asJSON, err)
				}
			}()
			s, err := openStore(cmd.Context(), db, false)
			if err != nil {
				return err
			}
			defer s.Close()
			var ids []int64
			if len(args) == 1 {
				snap, err := s.Resolve(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				ids = []int64{snap.ID}
			}
			rep, err := s.Verify(cmd.Context(), ids)
			if err != nil {
				return err
			}
			if asJSON {
				if rep.Damage == nil {
					rep.Damage = []snapshots.Damage{}
				}
				if err := printJSON(stdout, rep); err != nil {
					return err
				}
			} else {
				for _, d := range rep.Damage {
					fmt.Fprintln(stdout, "DAMAGED  "+d.String())
				}
				if rep.OK() {
					fmt.Fprintf(stdout, "%s is intact: %s, %s and %s checked.\n", db, plural(len(rep.Snapshots), "snapshot", "snapshots"), plural(rep.Objects, "object", "objects"), plural(rep.Links, "link", "links"))
				}
			}
			if !rep.OK() {
				return &exitError{code: exitFailure, err: fmt.Errorf("%s is damaged: %s found; restore the file from a copy you trust", db, plural(len(rep.Damage), "problem", "problems"))}
			}
			return nil
		},
	}
	verify.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var to string
	export := &cobra.Command{
		Use:   "export SNAP --to DIR",
		Short: "Write a snapshot as one JSON file per object plus a manifest",
		Args:  oneArg("a snapshot: its id, its exact label or latest ('lifeline snapshots list --db FILE' shows them)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usagef("--to is required: the folder to write the export into")
			}
			s, err := openStore(cmd.Context(), db, false)
			if err != nil {
				return err
			}
			defer s.Close()
			snap, err := s.Resolve(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			m, err := s.Export(cmd.Context(), snap.ID, to)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(stdout, struct {
					Snapshot int64  `json:"snapshot"`
					To       string `json:"to"`
					snapshots.Manifest
				}{snap.ID, to, m})
			}
			fmt.Fprintf(stdout, "Exported snapshot %d to %s: %d objects, %d links, root hash %s.\n", snap.ID, to, m.Objects, m.Links, m.RootHash)
			return nil
		},
	}
	export.Flags().StringVar(&to, "to", "", "folder to write (must not exist or be empty)")
	export.Flags().BoolVar(&asJSON, "json", false, "print JSON: the snapshot, the folder and the manifest written")

	var from, label, tenant string
	var acceptEdits bool
	imp := &cobra.Command{
		Use:   "import --from DIR",
		Short: "Load an exported folder (lifeline's, or Microsoft EntraExporter's) as a new snapshot",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return usagef("--from is required: the folder to import")
			}
			if db == "" {
				return usagef("--db is required: the snapshot file to import into")
			}
			s, err := snapshots.Open(cmd.Context(), db, snapshots.OpenOptions{Create: true})
			if err != nil {
				return err
			}
			rep, err := s.Import(cmd.Context(), from, snapshots.ImportOptions{Label: label, TenantID: tenant, AcceptEdits: acceptEdits})
			if err != nil {
				s.Abandon(context.WithoutCancel(cmd.Context())) // a file this import created goes with it
				return fmt.Errorf("nothing was imported: %w", err)
			}
			defer s.Close()
			if asJSON {
				if rep.Skipped == nil {
					rep.Skipped = []string{}
				}
				return printJSON(stdout, rep)
			}
			fmt.Fprintf(stdout, "Imported %s (%s) as snapshot %d: %s; %d links.\n", from, rep.Format, rep.Snapshot.ID, countsLine(rep.Loaded, kindOrder()), rep.Links)
			if len(rep.Skipped) > 0 {
				fmt.Fprintf(stdout, "Not imported (%d):\n", len(rep.Skipped))
				for _, s := range rep.Skipped {
					fmt.Fprintln(stdout, "  "+s)
				}
			}
			return nil
		},
	}
	imp.Flags().StringVar(&from, "from", "", "folder to import")
	imp.Flags().StringVar(&label, "label", "", "label for the new snapshot")
	imp.Flags().StringVar(&tenant, "tenant-id", "", "tenant id, for EntraExporter folders without Organization.json")
	imp.Flags().BoolVar(&acceptEdits, "accept-edits", false, "import a lifeline export edited since it was written (its content no longer matches its manifest)")
	imp.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	cmd.AddCommand(list, show, verify, export, imp)
	return cmd
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// unreadableFile reports a snapshot file SQLite finds malformed before verify can check
// a single object: one damage line (or a JSON report holding it) and a failing exit.
func unreadableFile(stdout io.Writer, db string, asJSON bool, err error) error {
	problem := fmt.Sprintf("the file cannot be read: SQLite finds its pages malformed (%v)", err)
	if asJSON {
		rep := snapshots.VerifyReport{Snapshots: []int64{}, Damage: []snapshots.Damage{{Problem: problem}}}
		if err := printJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(stdout, "DAMAGED  "+problem)
	}
	return &exitError{code: exitFailure, err: fmt.Errorf("%s is damaged: SQLite cannot read it, so not one snapshot in it could be checked; restore the file from a copy you trust", db)}
}
