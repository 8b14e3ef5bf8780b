package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
)

func newDiffCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		db, from, to string
		live, asJSON bool
		kinds        []string
		graphURL     string
		keepVolatile bool
	)
	cmd := &cobra.Command{
		Use:   "diff --db FILE --from SNAP (--to SNAP | --live)",
		Short: "Show what changed between two snapshots, or between a snapshot and the live tenant",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return usagef("--from is required: the snapshot to compare against")
			}
			if (to == "") == !live {
				return usagef("give exactly one of --to SNAP or --live")
			}
			var opts snapshots.DiffOptions
			for _, k := range kinds {
				kind, err := entra.ParseKind(k)
				if err != nil {
					return usagef(err.Error())
				}
				opts.Kinds = append(opts.Kinds, kind)
			}
			opts.KeepVolatile = keepVolatile
			ctx := cmd.Context()
			s, err := openStore(ctx, db, false)
			if err != nil {
				return err
			}
			defer s.Close()
			fromSnap, err := s.Resolve(ctx, from)
			if err != nil {
				return err
			}
			var toState snapshots.State
			if live {
				state, cleanup, err := captureLive(ctx, graphURL, fromSnap, stderr)
				if err != nil {
					return err
				}
				defer cleanup()
				toState = state
			} else {
				toSnap, err := s.Resolve(ctx, to)
				if err != nil {
					return err
				}
				toState = snapshots.State{Store: s, Snapshot: toSnap}
			}
			fromState := snapshots.State{Store: s, Snapshot: fromSnap}
			res, err := snapshots.Diff(ctx, fromState, toState, opts)
			if err != nil {
				return err
			}
			if asJSON {
				if res.Changes == nil {
					res.Changes = []snapshots.Change{}
				}
				return printJSON(stdout, res)
			}
			copies, err := engine.RecreatedByRestores(ctx, fromState)
			if err != nil {
				return err
			}
			printDiff(stdout, res, copies)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&db, "db", "", "snapshot file")
	f.StringVar(&from, "from", "", "snapshot to compare from (id, label or 'latest')")
	f.StringVar(&to, "to", "", "snapshot to compare to")
	f.BoolVar(&live, "live", false, "compare with the live tenant")
	f.StringVar(&graphURL, "graph-url", "", "Graph base URL for --live (default $LIFELINE_GRAPH_URL or Microsoft Graph)")
	f.StringSliceVar(&kinds, "kind", nil, "only these kinds (repeatable)")
	f.BoolVar(&keepVolatile, "all-properties", false, "also report properties that change on their own (timestamps)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func describeState(r snapshots.StateRef) string {
	if r.Live {
		return "live tenant (" + fmtTime(r.TakenAt) + ")"
	}
	s := fmt.Sprintf("snapshot %d", r.Snapshot)
	if r.Label != "" {
		s += " " + fmt.Sprintf("%q", r.Label)
	}
	return s + " (" + fmtTime(r.TakenAt) + ")"
}

var classTitles = []struct{ class, title, mark string }{
	{snapshots.HardDeleted, "hard-deleted (gone; must be recreated with new ids)", "-"},
	{snapshots.SoftDeleted, "soft-deleted (in the recycle bin; restorable with their ids)", "-"},
	{snapshots.Modified, "modified", "~"},
	{snapshots.Added, "added (not in the earlier state)", "+"},
	{snapshots.Restored, "restored", "+"},
}

// printDiff writes a diff for people. copies are the objects a restore recreated: a
// by-id diff lists each as hard-deleted and its copy as added, and says so beside both.
func printDiff(w io.Writer, res *snapshots.DiffResult, copies engine.Recreated) {
	s := res.Summary
	fmt.Fprintf(w, "From %s\n  to %s\n\n", describeState(res.From), describeState(res.To))
	fmt.Fprintf(w, "%d added, %d modified, %d soft-deleted, %d hard-deleted, %d restored.\n", s.Added, s.Modified, s.SoftDeleted, s.HardDeleted, s.Restored)
	if paired := copies.Count(res); paired > 0 {
		fmt.Fprintf(w, "%d of the hard-deleted objects were recreated by a restore, and are among the added under their new ids ('lifeline ledger' lists them; 'lifeline verify' and 'lifeline plan' match them).\n", paired)
	}
	for _, ct := range classTitles {
		var rows []snapshots.Change
		for _, c := range res.Changes {
			if c.Change == ct.class {
				rows = append(rows, c)
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: %d\n", ct.title, len(rows))
		for _, c := range rows {
			who := "no audit evidence"
			if c.Actor != nil {
				who = fmt.Sprintf("%s by %s at %s", *c.Activity, *c.Actor, fmtTime(*c.At))
			}
			if twin := copies.Twin(c); twin != "" && c.Change == snapshots.HardDeleted {
				who += "; a restore recreated it as " + twin
			} else if twin != "" {
				who += "; a restore's copy of " + twin
			}
			fmt.Fprintf(w, "  %s %-26s %s (%s)  [%s]\n", ct.mark, c.Kind, c.DisplayName, c.ID, who)
			printChangeDetail(w, c, changeWords{removed: "removed", added: "added", linkRemoved: "-", linkAdded: "+"})
		}
	}
}

// changeWords name a change's two directions: diff speaks of what happened ("removed"),
// verify of what the tenant lacks against the snapshot ("missing").
type changeWords struct{ removed, added, linkRemoved, linkAdded string }

// printChangeDetail writes a change's properties (one list member per line) and links,
// indented under its heading.
func printChangeDetail(w io.Writer, c snapshots.Change, words changeWords) {
	for _, p := range c.Properties {
		switch {
		case strings.HasSuffix(p.Path, "[]") && p.After == nil:
			fmt.Fprintf(w, "      %s: %s %s\n", p.Path, words.removed, snapshots.FormatValue(p.Before))
		case strings.HasSuffix(p.Path, "[]") && p.Before == nil:
			fmt.Fprintf(w, "      %s: %s %s\n", p.Path, words.added, snapshots.FormatValue(p.After))
		default:
			fmt.Fprintf(w, "      %s: %s -> %s\n", p.Path, snapshots.FormatValue(p.Before), snapshots.FormatValue(p.After))
		}
	}
	for _, l := range c.Links {
		mark := words.linkAdded
		if l.Change == "removed" {
			mark = words.linkRemoved
		}
		fmt.Fprintf(w, "      %s %s %s/%s\n", mark, l.Relation, l.TargetKind, l.TargetID)
	}
}
