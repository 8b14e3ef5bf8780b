package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/snapshots"
)

func newBinCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		graphURL, db string
		asJSON       bool
	)
	cmd := &cobra.Command{
		Use:   "bin",
		Short: "The live recycle bin: what can still be restored with its id, and for how long",
		Long: `List every soft-deleted object the tenant still holds (users, groups, apps,
service principals, administrative units, and the beta Conditional Access bin),
soonest purge first, with days left by the tenant's clock, who deleted it, and,
with --db, how much depends on it in the newest snapshot.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			client, err := connect(ctx, graphURL, stderr)
			if err != nil {
				return err
			}
			var store *snapshots.Store
			if db != "" {
				if store, err = openStore(ctx, db, false); err != nil {
					return err
				}
				defer store.Close()
			}
			rep, err := engine.RecycleBin(ctx, client, store)
			if err != nil {
				return err
			}
			// Warnings go to stderr with --json too: a bin that could not be read must
			// not pass for an empty one.
			for _, w := range rep.Warnings {
				fmt.Fprintln(stderr, "warning: "+w)
			}
			if asJSON {
				return printJSON(stdout, rep.Items)
			}
			if len(rep.Items) == 0 {
				fmt.Fprintf(stdout, "The recycle bin is empty (tenant time %s).\n", fmtTime(rep.Now))
				return nil
			}
			fmt.Fprintf(stdout, "%s in the recycle bin; tenant time %s.\n\n", plural(len(rep.Items), "object", "objects"), fmtTime(rep.Now))
			t := newTable(stdout, "DAYS LEFT", "KIND", "NAME", "ID", "DELETED (UTC)", "BY", "DEPENDENTS")
			for _, it := range rep.Items {
				days := strconv.Itoa(it.DaysLeft)
				if it.DaysLeft <= 3 {
					days += " !"
				}
				by, deps := "(no audit entry)", "-"
				if it.Actor != nil {
					by = *it.Actor
				}
				if it.Dependents != nil {
					deps = strconv.Itoa(*it.Dependents)
				}
				t.row(days, string(it.Kind), it.DisplayName, it.ID, fmtTime(it.DeletedAt), by, deps)
			}
			t.flush()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&graphURL, "graph-url", "", "Graph base URL (default $LIFELINE_GRAPH_URL or Microsoft Graph)")
	f.StringVar(&db, "db", "", "snapshot file to count dependents in (its newest snapshot)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
