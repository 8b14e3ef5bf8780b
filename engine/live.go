package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// CaptureLive reads the live tenant into a scratch snapshot file, so that diff, plan,
// apply's staleness check and verify read both sides the same way. tenantID, when set,
// must be the tenant the client reaches. The returned cleanup closes and removes the
// scratch file.
func CaptureLive(ctx context.Context, client *graphapi.Client, tenantID string, progress func(snapshots.CaptureProgress)) (snapshots.State, func(), error) {
	if tenantID != "" && client.TenantID() != tenantID {
		return snapshots.State{}, nil, fmt.Errorf("the snapshot is of tenant %s but the credentials reach tenant %s; point --graph-url or AZURE_TENANT_ID at the snapshot's tenant", tenantID, client.TenantID())
	}
	dir, err := os.MkdirTemp("", "lifeline-live-")
	if err != nil {
		return snapshots.State{}, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	store, err := snapshots.Open(ctx, filepath.Join(dir, "live.db"), snapshots.OpenOptions{Create: true})
	if err != nil {
		cleanup()
		return snapshots.State{}, nil, err
	}
	rep, err := snapshots.Capture(ctx, client, store, snapshots.CaptureOptions{Label: "live", Progress: progress})
	if err != nil {
		store.Close()
		cleanup()
		return snapshots.State{}, nil, fmt.Errorf("reading the live tenant: %w", err)
	}
	return snapshots.State{Store: store, Snapshot: rep.Snapshot, Live: true}, func() { store.Close(); cleanup() }, nil
}

// LiveFingerprint captures the tenant and returns the capture's root hash: what a plan
// records as live_fingerprint, and what apply compares it with.
func LiveFingerprint(ctx context.Context, client *graphapi.Client, tenantID string) (string, error) {
	live, cleanup, err := CaptureLive(ctx, client, tenantID, nil)
	if err != nil {
		return "", err
	}
	defer cleanup()
	return live.Snapshot.RootHash, nil
}

// SameDomain reports whether the domain an operator typed to confirm an apply names
// domain, compared as DNS compares names: without regard to the case of ASCII letters
// (RFC 4343). Any other character must match exactly: strings.EqualFold alone would
// take a look-alike, the long s "ſ" for "s" or the Kelvin sign for "k".
func SameDomain(typed, domain string) bool {
	for _, c := range typed + domain {
		if c >= utf8.RuneSelf {
			return typed == domain
		}
	}
	return strings.EqualFold(typed, domain)
}

// PrimaryDomain returns the tenant's default verified domain: what an operator types to
// confirm a restore, because it tells one tenant from another at a glance.
func PrimaryDomain(ctx context.Context, client *graphapi.Client) (string, error) {
	raw, err := client.Get(ctx, "/organization", graphapi.ListOptions{Select: []string{"id", "verifiedDomains"}})
	if err != nil {
		return "", fmt.Errorf("reading the tenant's domains: %w", err)
	}
	var org struct {
		Value []struct {
			VerifiedDomains []struct {
				Name      string `json:"name"`
				IsDefault bool   `json:"isDefault"`
			} `json:"verifiedDomains"`
		} `json:"value"`
	}
	if err := json.Unmarshal(raw, &org); err != nil {
		return "", fmt.Errorf("reading the tenant's domains: Graph's answer was not the organization list: %w", err)
	}
	for _, o := range org.Value {
		for _, d := range o.VerifiedDomains {
			if d.IsDefault {
				return d.Name, nil
			}
		}
	}
	for _, o := range org.Value {
		for _, d := range o.VerifiedDomains {
			return d.Name, nil
		}
	}
	return "", fmt.Errorf("the tenant lists no verified domain; confirm with --yes instead")
}

// VerifyLive captures the tenant and verifies it against target through the file's
// ledger: what `lifeline verify` and apply's verify step run.
func VerifyLive(ctx context.Context, client *graphapi.Client, target snapshots.State, opts VerifyOptions) (*VerifyReport, error) {
	ledger, err := LoadLedger(ctx, target.Store, target.Snapshot.TenantID)
	if err != nil {
		return nil, err
	}
	live, cleanup, err := CaptureLive(ctx, client, target.Snapshot.TenantID, nil)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	return Verify(ctx, target, live, ledger, opts)
}

// VerifySentence says in one line how a verify came out, and of what: the whole tenant,
// or the objects a scoped verify compared. Objects added since the snapshot that every
// plan leaves in place are said apart, with what to do about them: a new plan would
// leave them again.
func VerifySentence(rep *VerifyReport) string {
	of := ""
	if n := len(rep.Scope); n > 0 {
		of = " for the " + countNoun(n, "scoped object", "scoped objects") + ", the rest of the tenant not compared"
	}
	if rep.Clean {
		return fmt.Sprintf("the tenant matches snapshot %d%s: every restorable property and link is back (%s cannot be restored by Graph)", rep.Snapshot, of, countNoun(len(rep.Unrestorable), "thing", "things"))
	}
	kept := rep.LeftInPlace()
	if kept == len(rep.Differences) {
		remain := "remain"
		if kept == 1 {
			remain = "remains"
		}
		return fmt.Sprintf("%s added since snapshot %d %s, which no plan removes (%s): delete those that should not exist by hand ('lifeline verify' lists them); everything else matches%s",
			countNoun(kept, "object", "objects"), rep.Snapshot, remain, rep.leftInPlaceKinds(), of)
	}
	s := rep.Summary
	out := fmt.Sprintf("%d differences remain against snapshot %d%s (%d added, %d modified, %d soft-deleted, %d hard-deleted, %d restored though deleted in the snapshot)",
		len(rep.Differences), rep.Snapshot, of, s.Added, s.Modified, s.SoftDeleted, s.HardDeleted, s.Restored)
	if kept > 0 {
		out += fmt.Sprintf("; %d of the added (%s) no plan removes: delete those that should not exist by hand", kept, rep.leftInPlaceKinds())
	}
	return out
}

// countNoun is n with its noun, singular or plural.
func countNoun(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
