package engine

import (
	"context"

	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
)

// LoadLedger reads the file's old id -> new id ledger for a tenant: every object lifeline
// has recreated there, in any run.
func LoadLedger(ctx context.Context, store *snapshots.Store, tenantID string) (graphx.Ledger, error) {
	entries, err := store.Ledger(ctx, tenantID)
	if err != nil {
		return graphx.Ledger{}, err
	}
	l := graphx.NewLedger()
	for _, e := range entries {
		l.IDs[e.OldID] = e.NewID
		if e.OldAppID != "" && e.NewAppID != "" {
			l.AppIDs[e.OldAppID] = e.NewAppID
		}
	}
	return l, nil
}

// ledgerNewToOld returns the new -> old ledger, for reading the live tenant in the snapshot's ids.
func ledgerNewToOld(l graphx.Ledger) graphx.Ledger {
	out := graphx.NewLedger()
	for o, n := range l.IDs {
		out.IDs[n] = o
	}
	for o, n := range l.AppIDs {
		out.AppIDs[n] = o
	}
	return out
}
