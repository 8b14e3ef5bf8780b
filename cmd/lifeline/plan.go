package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
)

func newPlanCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		db, from, out, graphURL string
		scopes                  []string
		withoutRemovals, asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "plan --db FILE --from SNAP --out PLAN.json",
		Short: "Build a restore plan that brings the live tenant back to a snapshot",
		Long: `plan captures the live tenant, diffs it against the snapshot and writes the steps that
would put it back, in stages: restore from the recycle bin, recreate, relink, roll back,
remove additions, Conditional Access (report-only first) and verify. Nothing is
written to the tenant; 'apply' runs a plan and refuses one the tenant has moved past.

The plan file is {"format": "lifeline-plan/1", "tenant_id", "snapshot", "built_at",
"live_fingerprint", "summary", "stages": [{"name", "steps": [{"id", "kind", "object_id",
"display_name", "action", "depends_on", "requests": [{"method", "path", "body", "beta"}]}]}],
"warnings", "scope", "db", "journal", "seal"}; "scope" lists the --scope objects, "db" is
the snapshot file's absolute path, where apply journals, "journal" a digest of the runs
that file's journal held (apply refuses a copy of the file without them), and "seal" the
SHA-256 apply checks the file against. --json prints {"plan", "tenant_id", "snapshot", "live_fingerprint", "summary",
"warnings"} instead of the summary for people.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if db == "" {
				return usagef("--db is required: the snapshot file to read")
			}
			if from == "" {
				return usagef("--from is required: the snapshot to restore to")
			}
			if out == "" {
				return usagef("--out is required: the file to write the plan to")
			}
			// Said before the live tenant is read and the plan built, not after.
			if st, err := os.Stat(filepath.Dir(out)); err != nil || !st.IsDir() {
				return usagef(fmt.Sprintf("--out %s: the directory %s does not exist; create it or give another path", out, filepath.Dir(out)))
			}
			if err := engine.CheckPlanDestination(out); err != nil {
				return usagef("--out " + err.Error())
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
			snap, err := s.Resolve(ctx, from)
			if err != nil {
				return err
			}
			live, cleanup, err := captureLive(ctx, graphURL, snap, stderr)
			if err != nil {
				return err
			}
			defer cleanup()
			plan, err := engine.BuildPlan(ctx, snapshots.State{Store: s, Snapshot: snap}, live, engine.PlanOptions{Scope: scope, WithoutRemovals: withoutRemovals})
			if err != nil {
				return err
			}
			// apply journals into the file the plan came from, found through the plan.
			if plan.DB, err = filepath.Abs(db); err != nil {
				return err
			}
			err = writeFileAtomic(out, 0o600, func(w io.Writer) error { return engine.WritePlanJSON(w, plan) })
			if err != nil {
				return fmt.Errorf("writing the plan to %s: %w", out, err)
			}
			if asJSON {
				return printJSON(stdout, map[string]any{
					"plan": out, "tenant_id": plan.TenantID, "snapshot": plan.Snapshot,
					"live_fingerprint": plan.LiveFingerprint, "summary": plan.Summary, "warnings": plan.Warnings,
				})
			}
			printPlanSummary(stdout, plan, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&db, "db", "", "snapshot file")
	f.StringVar(&from, "from", "", "snapshot to restore to (id, label or 'latest')")
	f.StringVar(&out, "out", "", "file to write the plan to")
	f.StringVar(&graphURL, "graph-url", "", "Graph base URL (default $LIFELINE_GRAPH_URL or Microsoft Graph)")
	f.StringArrayVar(&scopes, "scope", nil, "only these objects and what they need: kind=K,id=ID (repeatable, or several pairs comma-separated)")
	f.BoolVar(&withoutRemovals, "without-removals", false, "leave what was added since the snapshot in place")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return cmd
}

// parseScope reads --scope values: kind=K,id=ID pairs, repeatable or comma-separated.
func parseScope(values []string) ([]graphx.NodeID, error) {
	var out []graphx.NodeID
	for _, v := range values {
		var cur graphx.NodeID
		haveKind := false
		for _, part := range strings.Split(v, ",") {
			key, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || val == "" {
				return nil, usagef(fmt.Sprintf("--scope %q: expected kind=K,id=ID", v))
			}
			switch strings.ToLower(key) {
			case "kind":
				if haveKind {
					return nil, usagef(fmt.Sprintf("--scope %q: kind=%s has no id=", v, cur.Kind))
				}
				k, err := entra.ParseKind(val)
				if err != nil {
					return nil, usagef("--scope: " + err.Error())
				}
				cur, haveKind = graphx.NodeID{Kind: k}, true
			case "id":
				if !haveKind {
					return nil, usagef(fmt.Sprintf("--scope %q: id=%s needs a kind= before it", v, val))
				}
				cur.ID = val
				out = append(out, cur)
				haveKind = false
			default:
				return nil, usagef(fmt.Sprintf("--scope %q: unknown key %q (use kind= and id=)", v, key))
			}
		}
		if haveKind {
			return nil, usagef(fmt.Sprintf("--scope %q: kind=%s has no id=", v, cur.Kind))
		}
	}
	return out, nil
}

func printPlanSummary(w io.Writer, plan *engine.Plan, out string) {
	s := plan.Summary
	removals := fmt.Sprintf("%d additions to remove", s.Removals)
	if s.WithoutRemovals {
		removals = "additions left in place (--without-removals)"
		if s.Removals > 0 { // relink's: role assignments replaced, stale copies
			removals += fmt.Sprintf(", %d stale assignments to remove", s.Removals)
		}
	}
	fmt.Fprintf(w, "Plan to restore tenant %s to snapshot %d written to %s\n", plan.TenantID, plan.Snapshot, out)
	fmt.Fprintf(w, "%d to restore from the bin, %d to recreate, %d links to restore, %d properties to roll back, %s, %d CA policies (report-only first)\n",
		s.RestoreFromBin, s.Recreate, s.Links, s.Properties, removals, s.CAPolicies)
	if s.LinksToCheck > 0 {
		fmt.Fprintf(w, "%d links usually come back with a restore from the bin: apply checks each and adds only the missing\n", s.LinksToCheck)
	}
	for _, st := range plan.Stages {
		fmt.Fprintf(w, "  %-20s %s\n", st.Name, steps(len(st.Steps)))
	}
	if len(plan.Warnings) > 0 {
		fmt.Fprintf(w, "\nWarnings:\n")
		for _, warn := range plan.Warnings {
			fmt.Fprintf(w, "  - %s\n", warn)
		}
	}
	fmt.Fprintf(w, "\nLive fingerprint %s: apply refuses the plan once the tenant has moved on.\n", plan.LiveFingerprint)
}
