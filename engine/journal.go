package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sort"

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

// journalDigest names the apply runs the file's journal holds for a tenant, except the
// run of the plan whose hash is except: a plan's own runs change the ledger it was
// built from, and that must not stop it from resuming.
func journalDigest(ctx context.Context, store *snapshots.Store, tenantID, except string) (string, error) {
	runs, err := store.Runs(ctx, tenantID)
	if err != nil {
		return "", err
	}
	hashes := make([]string, 0, len(runs))
	for _, r := range runs {
		if r.PlanHash != except {
			hashes = append(hashes, r.PlanHash)
		}
	}
	sort.Strings(hashes)
	h := sha256.New()
	for _, s := range hashes {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}
