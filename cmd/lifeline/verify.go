package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/snapshots"
)

// exitDifferences is verify's exit code when the live tenant still differs from the
// snapshot (DESIGN.md): scripts tell "not back yet" from "could not check".
const exitDifferences = 3

func newVerifyCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		db, snapRef, graphURL string
		scopes                []string
		asJSON                bool
	)
	cmd := &cobra.Command{
		Use:   "verify --db FILE --snapshot SNAP",
		Short: "Check that the live tenant is back to a snapshot",
		Long: `verify captures the live tenant and compares it with the snapshot through the ledger:
an object a restore recreated is matched with its original by the ledger, not by id,
and references to it are compared after mapping its new id back. What no restore can
bring back (passwords, client secrets, read-only properties such as createdDateTime)
is listed apart and does not count as a difference.

Exit status 0 means every restorable property and link is back; 3 means differences
remain (each is listed); 1 means the check itself failed.

--json prints {"snapshot", "clean", "summary", "differences": [{"kind", "id",
"display_name", "change", "properties": [{"path", "before", "after"}], "links":
[{"relation", "target_kind", "target_id", "change"}], ...}], "unrestorable": [{"kind",
"id", "new_id", "display_name", "what"}]}; ids are the snapshot's, "before" is the
snapshot's value and "after" the live one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if db == "" {
				return usagef("--db is required: the snapshot file to read")
			}
			if snapRef == "" {
				return usagef("--snapshot is required: the snapshot the tenant should match")
			}
			scope, err := parseScope(scopes)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := openStore(ctx, db, false)
			if err != nil {
				return err
			}
			defer s.Close()
			snap, err := s.Resolve(ctx, snapRef)
			if err != nil {
				return err
			}
			ledger, err := engine.LoadLedger(ctx, s, snap.TenantID)
			if err != nil {
				return err
			}
			live, cleanup, err := captureLive(ctx, graphURL, snap, stderr)
			if err != nil {
				return err
			}
			defer cleanup()
			rep, err := engine.Verify(ctx, snapshots.State{Store: s, Snapshot: snap}, live, ledger, engine.VerifyOptions{Scope: scope})
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(stdout, rep); err != nil {
					return err
				}
			} else {
				printVerify(stdout, rep)
			}
			if !rep.Clean {
				// The report said what differs; the exit status is the verdict.
				return &exitError{code: exitDifferences}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&db, "db", "", "snapshot file")
	f.StringVar(&snapRef, "snapshot", "", "snapshot the tenant should match (id, label or 'latest')")
	f.StringVar(&graphURL, "graph-url", "", "Graph base URL (default $LIFELINE_GRAPH_URL or Microsoft Graph)")
	f.StringArrayVar(&scopes, "scope", nil, "only these objects: kind=K,id=ID (repeatable, or several pairs comma-separated; a recreated object by either id)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// verifyTitles name each class of difference from the restore's point of view: the
// snapshot is what should be, the live tenant what is.
var verifyTitles = []struct{ class, title, mark string }{
	{snapshots.HardDeleted, "missing from the live tenant", "-"},
	{snapshots.SoftDeleted, "still in the recycle bin", "-"},
	{snapshots.Modified, "different (snapshot -> live)", "~"},
	{snapshots.Added, "in the live tenant only (left in place)", "+"},
	{snapshots.Restored, "live again, though deleted in the snapshot", "+"},
}

// printVerify prints the verdict (saying when it is about the scoped objects only) and
// what differs.
func printVerify(w io.Writer, rep *engine.VerifyReport) {
	if scoped := len(rep.Scope); rep.Clean && scoped > 0 {
		fmt.Fprintf(w, "Live tenant matches snapshot %d for %s in scope: every restorable property and link of theirs is back (the rest of the tenant was not compared).\n", rep.Snapshot, plural(scoped, "object", "objects"))
	} else if rep.Clean {
		fmt.Fprintf(w, "Live tenant matches snapshot %d: every restorable property and link is back.\n", rep.Snapshot)
	} else {
		s := rep.Summary
		fmt.Fprintf(w, "Live tenant differs from snapshot %d in %s: %d missing, %d in the recycle bin, %d different, %d added, %d restored.\n",
			rep.Snapshot, plural(len(rep.Differences), "object", "objects"), s.HardDeleted, s.SoftDeleted, s.Modified, s.Added, s.Restored)
	}
	for _, vt := range verifyTitles {
		var rows []snapshots.Change
		for _, c := range rep.Differences {
			if c.Change == vt.class {
				rows = append(rows, c)
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: %d\n", vt.title, len(rows))
		for _, c := range rows {
			fmt.Fprintf(w, "  %s %-26s %s (%s)\n", vt.mark, c.Kind, c.DisplayName, c.ID)
			printChangeDetail(w, c, changeWords{removed: "missing", added: "extra", linkRemoved: "missing", linkAdded: "extra"})
		}
	}
	if len(rep.Unrestorable) > 0 {
		fmt.Fprintf(w, "\nNot restorable through Graph (not counted as differences): %d\n", len(rep.Unrestorable))
		for _, u := range rep.Unrestorable {
			id := u.ID
			if u.NewID != "" {
				id += ", now " + u.NewID
			}
			fmt.Fprintf(w, "  %-28s %s (%s): %s\n", u.Kind, u.DisplayName, id, u.What)
		}
	}
	if rep.Clean {
		return
	}
	// A plan leaves an added group or application in place (it warns instead), so
	// sending the operator to build one for those alone would go round in circles.
	kept := rep.LeftInPlace()
	if kept < len(rep.Differences) {
		fmt.Fprintf(w, "\nTo put them back, build a plan from snapshot %d ('lifeline plan --from %d'), apply it and verify again.\n", rep.Snapshot, rep.Snapshot)
	}
	if kept > 0 {
		are := "are"
		if kept == 1 {
			are = "is"
		}
		fmt.Fprintf(w, "\n%s added since the snapshot %s left in place by every plan (only a person can tell a new team's group from an attacker's application): delete those that should not exist by hand, then verify again.\n", plural(kept, "object", "objects"), are)
	}
}
