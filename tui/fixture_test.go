package tui

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
)

// -fixture writes the hand-made tenant to a file, to look at the console by hand:
// go test ./tui -run TestWriteFixture -fixture /tmp/tenant.db
var fixturePath = flag.String("fixture", "", "write the test tenant's snapshot file here")

func TestWriteFixture(t *testing.T) {
	if *fixturePath == "" {
		t.Skip("no -fixture path given")
	}
	s, err := snapshots.Open(context.Background(), *fixturePath, snapshots.OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	writeTenant(t, s)
}

const tenantID = "6f1c2a4e-0000-4000-8000-00000000c0de"

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// Fixed ids, so goldens are stable.
const (
	uAlice   = "11111111-1111-4111-8111-000000000001"
	uBob     = "11111111-1111-4111-8111-000000000002"
	uCarol   = "11111111-1111-4111-8111-000000000003"
	uGlass   = "11111111-1111-4111-8111-000000000004"
	uDave    = "11111111-1111-4111-8111-000000000005"
	gAdmins  = "22222222-2222-4222-8222-000000000001"
	gSales   = "22222222-2222-4222-8222-000000000002"
	appPay   = "33333333-3333-4333-8333-000000000001"
	appPayID = "33333333-3333-4333-8333-0000000000a1"
	spPay    = "44444444-4444-4444-8444-000000000001"
	caMFA    = "55555555-5555-4555-8555-000000000001"
)

type fixObj struct {
	kind  entra.Kind
	id    string
	json  string
	inBin bool
}

func user(id, name, dept string) fixObj {
	upn := fmt.Sprintf("%s@contoso.example", name)
	return fixObj{entra.KindUser, id, fmt.Sprintf(`{"id":%q,"displayName":%q,"userPrincipalName":%q,"department":%q,"accountEnabled":true}`, id, name, upn, dept), false}
}

func group(id, name string) fixObj {
	return fixObj{entra.KindGroup, id, fmt.Sprintf(`{"id":%q,"displayName":%q,"securityEnabled":true,"mailEnabled":false,"mailNickname":%q}`, id, name, name), false}
}

func caPolicy(state string) fixObj {
	return fixObj{entra.KindConditionalAccessPolicy, caMFA, fmt.Sprintf(`{"id":%q,"displayName":"Require MFA for admins","state":%q,"conditions":{"users":{"includeGroups":[%q],"excludeUsers":[%q]},"applications":{"includeApplications":[%q]}},"grantControls":{"operator":"OR","builtInControls":["mfa"]}}`, caMFA, state, gAdmins, uGlass, appPayID), false}
}

var (
	app = fixObj{entra.KindApplication, appPay, fmt.Sprintf(`{"id":%q,"appId":%q,"displayName":"Payroll"}`, appPay, appPayID), false}
	sp  = fixObj{entra.KindServicePrincipal, spPay, fmt.Sprintf(`{"id":%q,"appId":%q,"displayName":"Payroll"}`, spPay, appPayID), false}
)

func member(g, u string) snapshots.Link {
	return snapshots.Link{Kind: entra.KindGroup, From: g, Name: "members", To: u, ToKind: entra.KindUser}
}

// writeTenant writes two snapshots of a small tenant a day apart; between them Bob was
// hard-deleted, Carol soft-deleted, Alice moved department, Dave was added to Admins and
// the MFA policy was switched to report-only.
func writeTenant(t testing.TB, s *snapshots.Store) {
	t.Helper()
	put(t, s, t0, "baseline", []fixObj{
		user(uAlice, "Alice", "Finance"), user(uBob, "Bob", "Sales"), user(uCarol, "Carol", "Sales"), user(uGlass, "Break Glass", "IT"),
		group(gAdmins, "Admins"), group(gSales, "Sales"), app, sp, caPolicy("enabled"),
	}, []snapshots.Link{member(gAdmins, uAlice), member(gSales, uBob), member(gSales, uCarol)}, nil)
	carol := user(uCarol, "Carol", "Sales")
	carol.json = carol.json[:len(carol.json)-1] + `,"deletedDateTime":"2026-11-02T08:00:00Z"}`
	carol.inBin = true
	put(t, s, t0.Add(24*time.Hour), "after incident", []fixObj{
		user(uAlice, "Alice", "Treasury"), carol, user(uGlass, "Break Glass", "IT"), user(uDave, "Dave", "Unknown"),
		group(gAdmins, "Admins"), group(gSales, "Sales"), app, sp, caPolicy("enabledForReportingButNotEnforced"),
	}, []snapshots.Link{member(gAdmins, uAlice), member(gAdmins, uDave)}, []audit{
		{t0.Add(23 * time.Hour), "Update conditional access policy", caMFA},
	})
}

type audit struct {
	at       time.Time
	activity string
	target   string
}

func put(t testing.TB, s *snapshots.Store, at time.Time, label string, objs []fixObj, links []snapshots.Link, audits []audit) {
	t.Helper()
	ctx := context.Background()
	w, err := s.Begin(ctx, snapshots.SnapshotMeta{TenantID: tenantID, TakenAt: at, Label: label, GraphURL: "https://graph.microsoft.com/v1.0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := w.PutObject(ctx, o.kind, o.id, []byte(o.json), o.inBin); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range links {
		if err := w.PutLink(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	for i, a := range audits {
		raw, _ := json.Marshal(map[string]any{
			"activityDateTime": a.at.Format(time.RFC3339), "activityDisplayName": a.activity,
			"initiatedBy":     map[string]any{"user": map[string]any{"userPrincipalName": "mallory@contoso.example"}},
			"targetResources": []any{map[string]any{"id": a.target}},
		})
		if err := w.PutAudit(ctx, fmt.Sprintf("audit-%d", i), a.at, a.activity, raw); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// newTestStore opens a fresh snapshot file holding the test tenant.
func newTestStore(t testing.TB) (*snapshots.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tenant.db")
	s, err := snapshots.Open(context.Background(), path, snapshots.OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	writeTenant(t, s)
	return s, path
}
