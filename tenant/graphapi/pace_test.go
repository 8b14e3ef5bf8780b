package graphapi

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestRequestCost(t *testing.T) {
	t.Parallel()
	cases := []struct {
		method, rel, query string
		want               cost
	}{
		{"GET", "users", "", cost{ru: 2}},
		{"GET", "users", "$select=id,displayName", cost{ru: 1}},
		{"GET", "users", "%24select=id&%24top=5", cost{ru: 1}}, // never below 1
		{"GET", "users/u1", "", cost{ru: 2}},
		{"GET", "users/u1/memberOf", "", cost{ru: 2}},
		{"GET", "me/transitiveMemberOf", "", cost{ru: 2}},
		{"GET", "applications", "", cost{ru: 2}},
		{"GET", "applications", "$select=id&$top=999", cost{ru: 1}},
		{"GET", "applications/a1/extensionProperties", "", cost{ru: 2}},
		{"GET", "groups", "", cost{ru: 1}},
		{"GET", "groups/g1/members", "", cost{ru: 3}},
		{"GET", "groups/g1/members", "$select=id&$top=10", cost{ru: 1}},
		{"GET", "groups/g1/members/microsoft.graph.user", "$expand=manager", cost{ru: 4}},
		{"GET", "groups/g1/transitiveMembers", "", cost{ru: 5}},
		{"GET", "oauth2PermissionGrants", "", cost{ru: 2}},
		{"GET", "servicePrincipals/s1/appRoleAssignments", "", cost{ru: 2}},
		{"GET", "subscribedSkus", "", cost{ru: 3}},
		{"GET", "domains/contoso.com/domainNameReferences", "", cost{ru: 4}},
		{"GET", "directory/deletedItems/microsoft.graph.user", "", cost{ru: 1}},
		{"POST", "users", "", cost{ru: 1, writes: 1}},
		{"PATCH", "users/u1", "", cost{ru: 1, writes: 1}},
		{"DELETE", "groups/g1/members/u1/$ref", "", cost{ru: 1, writes: 1}},
		{"POST", "directory/deletedItems/u1/restore", "", cost{ru: 1, writes: 1}},
		{"POST", "directoryObjects/getByIds", "", cost{ru: 5}},
		{"POST", "users/u1/checkMemberGroups", "", cost{ru: 4}},
		{"POST", "users/u1/getMemberObjects", "", cost{ru: 2}},
		{"GET", "identity/conditionalAccess/policies", "", cost{ru: 1, ca: 1}},
		{"PATCH", "identity/conditionalAccess/namedLocations/n1", "", cost{ru: 1, writes: 1, ca: 1}},
		{"GET", "auditLogs/directoryAudits", "$top=50", cost{audit: 1}},
		{"GET", "reports/authenticationMethods/userRegistrationDetails", "", cost{audit: 1}},
	}
	for _, tc := range cases {
		if got := requestCost(tc.method, tc.rel, tc.query); got != tc.want {
			t.Errorf("%s %s?%s = %+v, want %+v", tc.method, tc.rel, tc.query, got, tc.want)
		}
	}
}

func TestBudgetForTenantSize(t *testing.T) {
	t.Parallel()
	for users, ru := range map[int]int{0: 3500, 49: 3500, 50: 5000, 500: 5000, 501: 8000, 1_000_000: 8000} {
		b := BudgetForTenantSize(users)
		if b.ResourceUnitsPer10s != ru || b.WritesPer150s != 3000 || b.ConditionalAccessPerSecond != 1 || b.AuditPer10s != 5 {
			t.Errorf("BudgetForTenantSize(%d) = %+v", users, b)
		}
	}
	if (Budget{}).withDefaults() != BudgetForTenantSize(1000) {
		t.Error("the zero budget is not the large tenant's")
	}
	if got := (Budget{WritesPer150s: 300}).withDefaults(); got.WritesPer150s != 300 || got.ResourceUnitsPer10s != 8000 {
		t.Errorf("partial budget = %+v", got)
	}
}

// delays reserves costs one after another at the same instant and returns each one's wait.
func delays(p *pacer, costs ...cost) []time.Duration {
	var out []time.Duration
	for _, c := range costs {
		d, _ := p.reserve(c)
		out = append(out, d)
	}
	return out
}

func repeat(c cost, n int) []cost {
	out := make([]cost, n)
	for i := range out {
		out[i] = c
	}
	return out
}

func TestPacerSpreadsReservations(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	// 10 RU per 10 s at full pace: 1 RU per second, a burst of 1.
	p := newPacer(Budget{ResourceUnitsPer10s: 10}, 1, clock.now, clock.sleep)
	got := delays(p, repeat(cost{ru: 2}, 5)...)
	want := []time.Duration{1 * time.Second, 3 * time.Second, 5 * time.Second, 7 * time.Second, 9 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("GET users every %v, want %v (2 RU at 1 RU/s)", got, want)
	}
}

func TestPacerWriteConditionalAccessAndAuditBuckets(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := newPacer(Budget{}, 1, clock.now, clock.sleep)
	// 3,000 writes per 150 s: 20 per second, a burst of 20; the 21st waits 1/20 s.
	got := delays(p, repeat(cost{ru: 1, writes: 1}, 21)...)
	if got[19] != 0 || got[20] != 50*time.Millisecond {
		t.Errorf("write delays %v", got)
	}
	// Conditional Access: 1 per second.
	got = delays(p, repeat(cost{ru: 1, ca: 1}, 3)...)
	if fmt.Sprint(got) != "[0s 1s 2s]" {
		t.Errorf("CA delays %v", got)
	}
	// Audit: 5 per 10 s, one every 2 s.
	got = delays(p, repeat(cost{audit: 1}, 3)...)
	if fmt.Sprint(got) != "[0s 2s 4s]" {
		t.Errorf("audit delays %v", got)
	}
}

func TestSetPaceRescales(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := newPacer(Budget{}, 1, clock.now, clock.sleep)
	delays(p, cost{ca: 1}) // spend the burst
	p.setPace(0.5)
	if got := delays(p, cost{ca: 1}, cost{ca: 1}); fmt.Sprint(got) != "[2s 4s]" {
		t.Errorf("at half pace CA delays %v, want one every 2 s", got)
	}
	if s := p.stats(); s.Pace != 0.5 {
		t.Errorf("pace %v", s.Pace)
	}
	p.setPace(7) // clamped
	if s := p.stats(); s.Pace != 1 {
		t.Errorf("pace %v", s.Pace)
	}
}

func TestPacerPauseAndCancel(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := newPacer(Budget{ResourceUnitsPer10s: 10}, 1, clock.now, clock.sleep)
	p.pause(3 * time.Second)
	if got := delays(p, cost{ru: 1}); got[0] != 3*time.Second {
		t.Errorf("after a 3 s Retry-After the next request waits %v", got[0])
	}
	// A request whose caller gives up returns its tokens.
	d1, cancel := p.reserve(cost{ru: 1})
	cancel()
	d2, _ := p.reserve(cost{ru: 1})
	if d2 != d1 {
		t.Errorf("cancelled reservation kept its tokens: %v then %v", d1, d2)
	}
	ctx, stop := context.WithCancel(context.Background())
	stop()
	if err := p.wait(ctx, cost{ru: 5}); err == nil {
		t.Error("wait ignores a cancelled context")
	}
}

// End to end: with a tiny budget, the client's requests are spread by the pacer's waits
// (recorded by the fake clock, never slept).
func TestClientPacingSpreadsRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"value": []any{}})
	})
	clock := newFakeClock()
	c := f.client(func(c *Config) {
		c.Credential = staticCredential{f.token}
		c.Budget = Budget{ResourceUnitsPer10s: 10}
		c.Pace = 1
		c.now, c.sleep = clock.now, clock.sleep
	})
	for i := 0; i < 4; i++ {
		if _, err := c.List(context.Background(), "/users", ListOptions{}, func(Page) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	// 2 RU each at 1 RU/s, a burst of 1: the first waits 1 s, every later one 2 s.
	if got := clock.recorded(); fmt.Sprint(got) != "[1s 2s 2s 2s]" {
		t.Errorf("pacer waits %v", got)
	}
	s := c.Stats()
	if s.ResourceUnits != 8 || s.Requests != 4 || s.RUInLast10s != 8 || s.RUUtilization() != 0.8 {
		t.Errorf("stats %+v", s)
	}
	c.SetPace(0.5)
	if c.Stats().Pace != 0.5 {
		t.Error("SetPace not applied")
	}
}

func TestUsageWindow(t *testing.T) {
	t.Parallel()
	var w usageWindow
	t0 := time.Unix(1_000_000, 0)
	w.add(t0, 5, 1)
	w.add(t0.Add(9*time.Second), 3, 1)
	w.add(t0.Add(100*time.Second), 2, 1)
	if ru, _ := w.sum(t0.Add(9*time.Second), 10); ru != 8 {
		t.Errorf("RU in 10 s = %d", ru)
	}
	if ru, _ := w.sum(t0.Add(10*time.Second), 10); ru != 3 {
		t.Errorf("RU in 10 s, one second later = %d", ru)
	}
	if _, wr := w.sum(t0.Add(149*time.Second), 150); wr != 3 {
		t.Errorf("writes in 150 s = %d", wr)
	}
	if _, wr := w.sum(t0.Add(200*time.Second), 150); wr != 1 {
		t.Errorf("writes in 150 s, later = %d", wr)
	}
}
