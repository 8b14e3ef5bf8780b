package main

import (
	"encoding/csv"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/snapshots"
)

func newLedgerCommand(stdout io.Writer) *cobra.Command {
	var (
		db            string
		asJSON, asCSV bool
	)
	cmd := &cobra.Command{
		Use:   "ledger --db FILE [--json | --csv]",
		Short: "List old id -> new id for every object lifeline recreated",
		Long: `ledger lists, for every object apply recreated in the file's tenant, its old id and
its new one (and an application's old and new appId): downstream systems that held the
old ids (Azure RBAC assignments, SaaS apps, scripts) need the new ones.

--json prints [{"kind", "old_id", "new_id", "old_app_id", "new_app_id", "display_name",
"plan", "step", "request_id", "recorded_at"}]; --csv prints the same columns with a header.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if db == "" {
				return usagef("--db is required: the snapshot file apply journaled into")
			}
			if asJSON && asCSV {
				return usagef("--json and --csv cannot be used together; pick one")
			}
			ctx := cmd.Context()
			s, err := openStore(ctx, db, false)
			if err != nil {
				return err
			}
			defer s.Close()
			tenant, err := s.TenantID(ctx)
			if err != nil {
				return err
			}
			entries, err := s.Ledger(ctx, tenant)
			if err != nil {
				return err
			}
			// An assignment that came back with its principal is journaled under the id
			// it kept: nothing was recreated, and no downstream system needs a new id.
			entries = slices.DeleteFunc(entries, func(e snapshots.LedgerEntry) bool { return e.OldID == e.NewID })
			switch {
			case asJSON:
				return printJSON(stdout, entries)
			case asCSV:
				w := csv.NewWriter(stdout)
				_ = w.Write([]string{"kind", "old_id", "new_id", "old_app_id", "new_app_id", "display_name", "plan", "step", "request_id", "recorded_at"})
				for _, e := range entries {
					_ = w.Write([]string{string(e.Kind), e.OldID, e.NewID, e.OldAppID, e.NewAppID, e.DisplayName, e.PlanHash, e.StepID, e.RequestID, e.RecordedAt.UTC().Format(time.RFC3339Nano)})
				}
				w.Flush()
				return w.Error()
			}
			if len(entries) == 0 {
				_, err := io.WriteString(stdout, "No object has been recreated in this tenant: the ledger is empty.\n")
				return err
			}
			t := newTable(stdout, "KIND", "NAME", "OLD ID", "NEW ID", "OLD APPID", "NEW APPID", "RECORDED")
			for _, e := range entries {
				t.row(string(e.Kind), clipName(e.DisplayName, 48), e.OldID, e.NewID, dash(e.OldAppID), dash(e.NewAppID), fmtTime(e.RecordedAt))
			}
			t.flush()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&db, "db", "", "snapshot file")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&asCSV, "csv", false, "print CSV")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clipName keeps a table column readable: assignments are named after both ends and
// their scope, which can run to a hundred characters (--json and --csv keep it whole).
func clipName(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
