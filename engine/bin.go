package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// Retention is how long Entra keeps a soft-deleted object before purging it.
const Retention = 30 * 24 * time.Hour

// BinItem is one object waiting in a recycle bin.
type BinItem struct {
	Kind        entra.Kind `json:"kind"`
	ID          string     `json:"id"`
	DisplayName string     `json:"display_name"`
	DeletedAt   time.Time  `json:"deleted_at"`
	// DaysLeft counts the days until the purge by the tenant's clock, today included:
	// 30 on the day of deletion, 1 on the last day, 0 once it is due.
	DaysLeft int       `json:"days_left"`
	PurgeAt  time.Time `json:"purge_at"`
	// Actor is who deleted it, from the audit log; null when the log does not say.
	Actor *string `json:"actor"`
	// Dependents is how much would stay broken if it were purged (its blast radius in
	// the latest snapshot); null when no snapshot holds it.
	Dependents *int `json:"dependents"`
}

// BinReport is the live recycle bin.
type BinReport struct {
	// Now is the tenant's time (Graph's Date header), which days left count from.
	Now   time.Time `json:"now"`
	Items []BinItem `json:"items"`
	// Warnings name bins that could not be read (the beta CA bin with app-only access).
	Warnings []string `json:"warnings"`
	// Snapshot is the snapshot dependents were counted in (0 when none).
	Snapshot int64 `json:"snapshot"`
}

// binSources are the recycle bins: the directory's per kind, and the beta CA bin.
var binSources = []struct {
	kind entra.Kind
	path string
	beta bool
}{
	{entra.KindUser, "/directory/deletedItems/microsoft.graph.user", false},
	{entra.KindGroup, "/directory/deletedItems/microsoft.graph.group", false},
	{entra.KindApplication, "/directory/deletedItems/microsoft.graph.application", false},
	{entra.KindServicePrincipal, "/directory/deletedItems/microsoft.graph.servicePrincipal", false},
	{entra.KindAdministrativeUnit, "/directory/deletedItems/microsoft.graph.administrativeUnit", false},
	{entra.KindConditionalAccessPolicy, "/identity/conditionalAccess/deletedItems/policies", true},
	{entra.KindNamedLocation, "/identity/conditionalAccess/deletedItems/namedLocations", true},
}

// RecycleBin lists every soft-deleted object the tenant still holds, soonest purge
// first, with who deleted it and, when store holds a snapshot of the tenant, how much
// depends on it.
func RecycleBin(ctx context.Context, client *graphapi.Client, store *snapshots.Store) (BinReport, error) {
	rep := BinReport{Items: []BinItem{}, Warnings: []string{}}
	now, err := TenantNow(ctx, client)
	if err != nil {
		return rep, err
	}
	rep.Now = now
	for _, src := range binSources {
		_, err := client.List(ctx, src.path, graphapi.ListOptions{Beta: src.beta, Top: 999}, func(p graphapi.Page) error {
			for _, raw := range p.Items {
				var obj map[string]any
				if err := json.Unmarshal(raw, &obj); err != nil {
					return fmt.Errorf("Graph returned a deleted %s that is not JSON", src.kind)
				}
				id, _ := obj["id"].(string)
				if id == "" {
					// A row without an id could be neither named nor restored; Graph
					// never sends one, so the answer is not to be trusted.
					return fmt.Errorf("Graph returned a deleted %s without an id; the answer cannot be trusted: run 'lifeline bin' again", src.kind)
				}
				at, _ := time.Parse(time.RFC3339, fmt.Sprint(obj["deletedDateTime"]))
				item := BinItem{Kind: src.kind, ID: id, DisplayName: entra.DisplayName(src.kind, obj), DeletedAt: at, PurgeAt: at.Add(Retention)}
				item.DaysLeft = DaysLeft(item.PurgeAt, now)
				rep.Items = append(rep.Items, item)
			}
			return nil
		})
		var gerr *graphapi.Error
		if src.beta && errors.As(err, &gerr) && (gerr.Status == 400 || gerr.Status == 403 || gerr.Status == 404) {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("the Conditional Access recycle bin (beta) could not be read: %s", gerr.Message))
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("reading the recycle bin of %ss: %w", src.kind, err)
		}
	}
	sort.Slice(rep.Items, func(i, j int) bool {
		a, b := rep.Items[i], rep.Items[j]
		if !a.PurgeAt.Equal(b.PurgeAt) {
			return a.PurgeAt.Before(b.PurgeAt)
		}
		return a.ID < b.ID
	})
	if len(rep.Items) == 0 {
		return rep, nil
	}
	if err := attachDeleters(ctx, client, store, &rep); err != nil {
		return rep, err
	}
	if store != nil {
		if err := attachDependents(ctx, store, client.TenantID(), &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// DaysLeft counts whole days until purgeAt, today included. Both times are taken to
// the second, the precision of Graph's Date header.
func DaysLeft(purgeAt, now time.Time) int {
	left := purgeAt.Truncate(time.Second).Sub(now.Truncate(time.Second))
	if left <= 0 {
		return 0
	}
	return int(math.Ceil(left.Hours() / 24))
}

// TenantNow is the tenant's time: the Date header of a Graph answer. A simulated
// tenant's clock may run ahead of this machine's (drills advance it).
func TenantNow(ctx context.Context, client *graphapi.Client) (time.Time, error) {
	resp, err := client.Do(ctx, graphapi.Request{Method: http.MethodGet, Path: "/organization?$select=id"})
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the tenant's clock: %w", err)
	}
	if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		return t.UTC(), nil
	}
	return time.Now().UTC(), nil
}

// attachDeleters names who deleted each item, from the live audit log (falling back to
// the entries captured in store when the log cannot be read).
func attachDeleters(ctx context.Context, client *graphapi.Client, store *snapshots.Store, rep *BinReport) error {
	oldest := rep.Now
	want := map[string]bool{}
	for _, it := range rep.Items {
		if it.DeletedAt.Before(oldest) {
			oldest = it.DeletedAt
		}
		want[it.ID] = true
	}
	actors := map[string]string{}
	stamp := map[string]time.Time{}
	consider := func(raw []byte) {
		rec, err := snapshots.ParseAudit(raw)
		if err != nil || !snapshots.ActivityFits(snapshots.SoftDeleted, rec.Activity) {
			return
		}
		actor := rec.Actor
		if actor == "" {
			actor = "unknown"
		}
		for _, t := range rec.Targets {
			if want[t] && !rec.At.Before(stamp[t]) {
				actors[t], stamp[t] = actor, rec.At
			}
		}
	}
	filter := "activityDateTime ge " + oldest.Add(-time.Minute).UTC().Format(time.RFC3339)
	_, err := client.List(ctx, "/auditLogs/directoryAudits", graphapi.ListOptions{Filter: filter, Top: 999}, func(p graphapi.Page) error {
		for _, raw := range p.Items {
			consider(raw)
		}
		return nil
	})
	var gerr *graphapi.Error
	switch {
	case errors.As(err, &gerr) && gerr.Status == 403:
		rep.Warnings = append(rep.Warnings, "the audit log could not be read ("+gerr.Message+"); deleters come from the snapshot file")
		if store != nil {
			if err := store.Audit(ctx, oldest.Add(-time.Minute), time.Time{}, func(e snapshots.AuditEntry) error {
				consider(e.JSON)
				return nil
			}); err != nil {
				return err
			}
		}
	case err != nil:
		return fmt.Errorf("reading the audit log: %w", err)
	}
	for i := range rep.Items {
		if a, ok := actors[rep.Items[i].ID]; ok {
			a := a
			rep.Items[i].Actor = &a
		}
	}
	return nil
}

// attachDependents counts, in the newest snapshot of the tenant, what each binned
// object's purge would leave broken.
func attachDependents(ctx context.Context, store *snapshots.Store, tenantID string, rep *BinReport) error {
	snap, err := store.Resolve(ctx, "latest")
	if errors.Is(err, snapshots.ErrNoSnapshot) {
		return nil
	}
	if err != nil {
		return err
	}
	if snap.TenantID != tenantID {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s holds tenant %s, not %s: dependents not counted", store.Path(), snap.TenantID, tenantID))
		return nil
	}
	g, err := LoadGraph(ctx, store, snap.ID)
	if err != nil {
		return err
	}
	rep.Snapshot = snap.ID
	for i := range rep.Items {
		id := graphx.NodeID{Kind: rep.Items[i].Kind, ID: rep.Items[i].ID}
		if _, ok := g.Node(id); !ok {
			continue
		}
		n := g.BlastRadius(id).Count
		rep.Items[i].Dependents = &n
	}
	return nil
}
