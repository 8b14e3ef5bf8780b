package sim

import (
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// throttleClock is a clock the test moves by hand; reads are safe from many goroutines.
type throttleClock struct{ ns atomic.Int64 }

func newThrottleClock() *throttleClock {
	c := &throttleClock{}
	c.ns.Store(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *throttleClock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *throttleClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

const (
	thrAppA    = "11111111-1111-4111-8111-111111111111"
	thrAppB    = "22222222-2222-4222-8222-222222222222"
	thrTenant1 = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	thrTenant2 = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
)

func thrQuery(raw string) url.Values {
	v, err := url.ParseQuery(raw)
	if err != nil {
		panic(err)
	}
	return v
}

// thrAdmitUntilRefused sends the same request at one instant until it is refused, and
// returns how many were admitted and the refusal.
func thrAdmitUntilRefused(t *testing.T, th *Throttler, app, tenant, method, path string, limit int) (int, Decision) {
	t.Helper()
	for i := 0; i < limit; i++ {
		d := th.Admit(app, tenant, method, path, nil)
		if !d.Allowed {
			return i, d
		}
	}
	t.Fatalf("%s %s: still admitted after %d requests at one instant", method, path, limit)
	return 0, Decision{}
}

func TestParseThrottleMode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]ThrottleMode{"off": ThrottleOff, "realistic": ThrottleRealistic, " Realistic ": ThrottleRealistic, "OFF": ThrottleOff} {
		if got, err := ParseThrottleMode(in); err != nil || got != want {
			t.Errorf("ParseThrottleMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "on", "fast", "realistic!"} {
		if _, err := ParseThrottleMode(in); err == nil || !strings.Contains(err.Error(), "use off or realistic") {
			t.Errorf("ParseThrottleMode(%q) error = %v; want one naming the choices", in, err)
		}
	}
}

func TestThrottleCosts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		method, path, query string
		ru                  int
		write               bool
	}{
		{"GET", "/users", "", 2, false},
		{"GET", "users/", "", 2, false},
		{"GET", "/Users", "", 2, false},
		{"GET", "/users", "$select=id,displayName", 1, false},
		{"GET", "/users", "select=id", 1, false},
		{"GET", "/users", "$top=10", 1, false},
		{"GET", "/users", "$top=20", 2, false},
		{"GET", "/users", "$top=999&$expand=manager", 3, false},
		{"GET", "/users", "$select=id&$top=5", 1, false}, // 2-1-1 = 0, but never below 1
		{"GET", "/users/{id}", "", 1, false},
		{"GET", "/users/{id}", "$expand=manager", 2, false},
		{"GET", "/users/{id}/memberOf", "", 2, false},
		{"GET", "/me/transitiveMemberOf", "", 2, false},
		{"GET", "/users/{id}/ownedObjects", "$select=id", 1, false},
		{"GET", "/applications", "", 2, false},
		{"GET", "/applications/{id}", "", 1, false},
		{"GET", "/applications/{id}/extensionProperties", "", 2, false},
		{"GET", "/groups", "", 1, false},
		{"GET", "/groups/{id}/members", "", 3, false},
		{"GET", "/groups/{id}/members/$ref", "", 3, false},
		{"GET", "/groups/{id}/members", "$select=id&$top=999", 2, false},
		{"GET", "/groups/{id}/transitiveMembers", "", 5, false},
		{"GET", "/groups/{id}/transitiveMembers", "$expand=x&$top=3", 5, false},
		{"GET", "/oauth2PermissionGrants", "", 2, false},
		{"GET", "/oauth2PermissionGrants/{id}", "", 2, false},
		{"GET", "/servicePrincipals/{id}/appRoleAssignments", "", 2, false},
		{"GET", "/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')/appRoleAssignments", "", 2, false},
		{"GET", "/servicePrincipals/{id}/appRoleAssignedTo", "", 1, false},
		{"GET", "/subscribedSkus", "", 3, false},
		{"GET", "/contracts", "", 3, false},
		{"GET", "/domains/{id}/domainNameReferences", "", 4, false},
		{"GET", "/directory/deletedItems/microsoft.graph.user", "", 1, false},
		{"POST", "/directoryObjects/getByIds", "", 5, false},
		{"POST", "/directoryObjects/getByIds", "$select=id", 2, false},
		{"POST", "/users/{id}/checkMemberGroups", "", 4, false},
		{"POST", "/me/getMemberObjects", "", 2, false},
		{"POST", "/users", "", 1, true},
		{"POST", "/groups/{id}/members/$ref", "", 1, true},
		{"POST", "/directory/deletedItems/{id}/restore", "", 1, true},
		{"PATCH", "/groups/{id}", "", 1, true},
		{"PUT", "/users/{id}/manager/$ref", "", 1, true},
		{"DELETE", "/applications/{id}", "", 1, true},
		{"delete", "/applications/{id}", "", 1, true},
	}
	off := NewThrottler(ThrottleOff, 10, nil)
	for _, c := range cases {
		ru, write := throttleCost(strings.ToUpper(c.method), throttlePath(c.path), thrQuery(c.query))
		if ru != c.ru || write != c.write {
			t.Errorf("%s %s?%s costs %d RU (write %v), want %d (write %v)", c.method, c.path, c.query, ru, write, c.ru, c.write)
		}
		d := off.Admit(thrAppA, thrTenant1, c.method, c.path, thrQuery(c.query))
		if d.ResourceUnits != c.ru || d.Headers["x-ms-resource-unit"] != strconv.Itoa(c.ru) {
			t.Errorf("%s %s?%s: Decision reports %d RU, header %q", c.method, c.path, c.query, d.ResourceUnits, d.Headers["x-ms-resource-unit"])
		}
	}
}

func TestThrottleOffAlwaysAdmits(t *testing.T) {
	t.Parallel()
	clock := newThrottleClock()
	th := NewThrottler(ThrottleOff, 10, clock.now)
	for i := 0; i < 20000; i++ {
		for _, r := range [][2]string{{"GET", "/groups/x/transitiveMembers"}, {"POST", "/users"}, {"GET", "/identity/conditionalAccess/policies"}, {"GET", "/auditLogs/directoryAudits"}} {
			d := th.Admit(thrAppA, thrTenant1, r[0], r[1], nil)
			if !d.Allowed || d.RetryAfter != 0 || d.Headers["x-ms-resource-unit"] == "" || len(d.Headers) != 1 {
				t.Fatalf("mode off refused or decorated %s %s: %+v", r[0], r[1], d)
			}
		}
	}
}

func TestThrottleResourceUnitBudgetDependsOnTenantSize(t *testing.T) {
	t.Parallel()
	for users, budget := range map[int]int{10: 3500, 49: 3500, 50: 5000, 500: 5000, 501: 8000, 1_000_000: 8000} {
		clock := newThrottleClock()
		th := NewThrottler(ThrottleRealistic, users, clock.now)
		// GET /users costs 2 RU: the budget admits budget/2 of them at once.
		n, d := thrAdmitUntilRefused(t, th, thrAppA, thrTenant1, "GET", "/users", budget)
		if n != budget/2 {
			t.Errorf("%d users: %d GET /users admitted at once, want %d", users, n, budget/2)
		}
		if d.RetryAfter != time.Second {
			t.Errorf("%d users: Retry-After %v, want 1s (2 RU refill in %v)", users, d.RetryAfter, 2*10*time.Second/time.Duration(budget))
		}
		if got, want := d.Headers["x-ms-throttle-scope"], "Tenant_Application/ReadWrite/"+thrAppA+"/"+thrTenant1; got != want {
			t.Errorf("%d users: x-ms-throttle-scope %q, want %q", users, got, want)
		}
		if got := d.Headers["x-ms-throttle-information"]; got != "ResourceUnitLimitExceeded" {
			t.Errorf("%d users: x-ms-throttle-information %q", users, got)
		}
		if d.ResourceUnits != 2 || d.Headers["x-ms-resource-unit"] != "2" {
			t.Errorf("%d users: refused request reports %d RU, header %q", users, d.ResourceUnits, d.Headers["x-ms-resource-unit"])
		}
	}
}

func TestThrottleRefusalConsumesNothingAndTheBucketRefills(t *testing.T) {
	t.Parallel()
	clock := newThrottleClock()
	th := NewThrottler(ThrottleRealistic, 10, clock.now) // 3,500 RU per 10 s: 350 RU/s
	thrAdmitUntilRefused(t, th, thrAppA, thrTenant1, "GET", "/groups/x/members", 5000)
	for i := 0; i < 1000; i++ {
		if d := th.Admit(thrAppA, thrTenant1, "GET", "/groups/x/members", nil); d.Allowed {
			t.Fatalf("request %d admitted with an empty bucket", i)
		}
	}
	clock.advance(time.Second)
	// 350 RU came back on top of the 2 left by 1,166 requests of 3 RU, whatever the
	// refused requests asked for: 117 more requests.
	n, d := thrAdmitUntilRefused(t, th, thrAppA, thrTenant1, "GET", "/groups/x/members", 1000)
	if n != 117 {
		t.Errorf("after 1 s, %d requests of 3 RU admitted; want 117 (352 RU)", n)
	}
	clock.advance(d.RetryAfter)
	if d := th.Admit(thrAppA, thrTenant1, "GET", "/groups/x/members", nil); !d.Allowed {
		t.Errorf("refused again after waiting Retry-After %v: %+v", d.RetryAfter, d)
	}
	// A full window refills the whole budget, and never more.
	clock.advance(time.Hour)
	if n, _ := thrAdmitUntilRefused(t, th, thrAppA, thrTenant1, "GET", "/users", 5000); n != 1750 {
		t.Errorf("after an idle hour, %d GET /users admitted; want 1750 (the budget, not more)", n)
	}
}

func TestThrottleBucketsArePerAppAndTenant(t *testing.T) {
	t.Parallel()
	clock := newThrottleClock()
	th := NewThrottler(ThrottleRealistic, 10, clock.now)
	thrAdmitUntilRefused(t, th, thrAppA, thrTenant1, "GET", "/users", 5000)
	for _, k := range [][2]string{{thrAppB, thrTenant1}, {thrAppA, thrTenant2}} {
		if d := th.Admit(k[0], k[1], "GET", "/users", nil); !d.Allowed {
			t.Errorf("app %s in tenant %s refused because app A used its own budget: %+v", k[0], k[1], d)
		}
	}
}

func TestThrottleWriteBudgets(t *testing.T) {
	t.Parallel()
	clock := newThrottleClock()
	th := NewThrottler(ThrottleRealistic, 100000, clock.now)
	n, d := thrAdmitUntilRefused(t, th, thrAppA, thrTenant1, "POST", "/users", 5000)
	if n != 3000 {
		t.Errorf("%d writes admitted at once, want 3000 per app and tenant", n)
	}
	if d.RetryAfter != time.Second || d.Headers["x-ms-throttle-information"] != "WriteLimitExceeded" ||
		d.Headers["x-ms-throttle-scope"] != "Tenant_Application/Write/"+thrAppA+"/"+thrTenant1 {
		t.Errorf("write refusal: %+v", d)
	}
	// Reads go on while writes are throttled.
	if d := th.Admit(thrAppA, thrTenant1, "GET", "/users", nil); !d.Allowed {
		t.Errorf("a read was refused by the write budget: %+v", d)
	}
	// 150 s refill 3,000 writes: 20 per second.
	clock.advance(time.Second)
	if n, _ := thrAdmitUntilRefused(t, th, thrAppA, thrTenant1, "PATCH", "/users/x", 100); n != 20 {
		t.Errorf("after 1 s, %d writes admitted, want 20", n)
	}

	// The tenant's 18,000 writes per 5 minutes are shared by every app.
	clock.advance(time.Hour)
	apps := []string{thrAppA, thrAppB, "app-3", "app-4", "app-5", "app-6"}
	for _, app := range apps {
		if n, _ := thrAdmitUntilRefused(t, th, app, thrTenant1, "DELETE", "/groups/x", 5000); n != 3000 {
			t.Fatalf("app %s: %d writes admitted, want 3000", app, n)
		}
	}
	d = th.Admit("app-7", thrTenant1, "POST", "/groups", nil)
	if d.Allowed || d.Headers["x-ms-throttle-scope"] != "Tenant/Write/app-7/"+thrTenant1 || d.Headers["x-ms-throttle-information"] != "WriteLimitExceeded" || d.RetryAfter != time.Second {
		t.Errorf("a 7th app's write after 18,000 in the tenant: %+v", d)
	}
	// That refusal spent none of app-7's own budgets: once the tenant has room, app-7
	// writes as much as the tenant allows (60 per second).
	clock.advance(time.Second)
	if n, _ := thrAdmitUntilRefused(t, th, "app-7", thrTenant1, "POST", "/groups", 5000); n != 60 {
		t.Errorf("after 1 s, app-7 wrote %d times, want 60 (the tenant's refill)", n)
	}
}

func TestThrottleConditionalAccessHasNoRetryAfter(t *testing.T) {
	t.Parallel()
	clock := newThrottleClock()
	th := NewThrottler(ThrottleRealistic, 10, clock.now)
	paths := []string{
		"/identity/conditionalAccess/policies",
		"/identity/conditionalAccess/namedLocations/x",
		"/identity/conditionalAccess/deletedItems/policies",
		"/identity/conditionalAccess/deletedItems/namedLocations/x/restore",
	}
	for i, p := range paths {
		if d := th.Admit(thrAppA, thrTenant1, "GET", p, nil); !d.Allowed {
			t.Fatalf("%s at second %d refused: %+v", p, i, d)
		}
		// A second request in the same second, from any app, to any CA path, is refused
		// without Retry-After.
		d := th.Admit(thrAppB, thrTenant1, "PATCH", paths[(i+1)%len(paths)], nil)
		if d.Allowed || d.RetryAfter != 0 {
			t.Fatalf("second CA request in one second: %+v", d)
		}
		if _, ok := d.Headers["x-ms-throttle-limit-percentage"]; ok {
			t.Errorf("CA refusal reports a load percentage, which Graph documents for directory budgets only: %v", d.Headers)
		}
		if d.Headers["x-ms-throttle-scope"] != "Tenant/ReadWrite/"+thrAppB+"/"+thrTenant1 || d.Headers["x-ms-throttle-information"] == "" {
			t.Errorf("CA refusal headers: %v", d.Headers)
		}
		clock.advance(time.Second)
	}
	// Another tenant has its own second.
	if d := th.Admit(thrAppA, thrTenant2, "GET", paths[0], nil); !d.Allowed {
		t.Errorf("tenant 2 refused by tenant 1's CA budget: %+v", d)
	}
	// CA requests spend no resource units, and resource units do not block CA.
	thrAdmitUntilRefused(t, th, thrAppA, thrTenant1, "GET", "/users", 5000)
	if d := th.Admit(thrAppA, thrTenant1, "GET", paths[0], nil); !d.Allowed {
		t.Errorf("CA request refused by the resource-unit budget: %+v", d)
	}
}

func TestThrottleAuditLogs(t *testing.T) {
	t.Parallel()
	clock := newThrottleClock()
	th := NewThrottler(ThrottleRealistic, 1000, clock.now)
	n, d := thrAdmitUntilRefused(t, th, thrAppA, thrTenant1, "GET", "/auditLogs/directoryAudits", 100)
	if n != 5 {
		t.Errorf("%d audit reads admitted at once, want 5", n)
	}
	// One request's room comes back in 2 s (5 per 10 s).
	if d.RetryAfter != 2*time.Second || d.Headers["x-ms-throttle-scope"] != "Tenant_Application/Read/"+thrAppA+"/"+thrTenant1 {
		t.Errorf("audit refusal: %+v", d)
	}
	if d := th.Admit(thrAppB, thrTenant1, "GET", "/auditLogs/signIns", nil); !d.Allowed {
		t.Errorf("another app's audit read refused: %+v", d)
	}
	if d := th.Admit(thrAppA, thrTenant1, "GET", "/users", nil); !d.Allowed {
		t.Errorf("a directory read refused by the audit budget: %+v", d)
	}
	clock.advance(time.Second)
	if d := th.Admit(thrAppA, thrTenant1, "GET", "/auditLogs/directoryAudits", nil); d.Allowed {
		t.Error("audit read admitted 1 s after a refusal that said 2 s")
	}
	clock.advance(time.Second)
	if d := th.Admit(thrAppA, thrTenant1, "GET", "/auditLogs/directoryAudits", nil); !d.Allowed {
		t.Errorf("audit read refused after Retry-After: %+v", d)
	}
}

// thrPace sends one request every interval for the duration and counts refusals; it
// returns the last decision too, for its headers.
func thrPace(th *Throttler, clock *throttleClock, method, path string, interval, duration time.Duration) (sent, refused int, last Decision) {
	for el := time.Duration(0); el < duration; el += interval {
		last = th.Admit(thrAppA, thrTenant1, method, path, nil)
		sent++
		if !last.Allowed {
			refused++
		}
		clock.advance(interval)
	}
	return sent, refused, last
}

func TestThrottlePacing(t *testing.T) {
	t.Parallel()
	const window = 10 * time.Second
	const budget = 8000 / 2 // GET /users at 2 RU in a large tenant: 4,000 per 10 s
	t.Run("95% is never refused", func(t *testing.T) {
		t.Parallel()
		clock := newThrottleClock()
		th := NewThrottler(ThrottleRealistic, 5000, clock.now)
		sent, refused, last := thrPace(th, clock, "GET", "/users", window/(budget*95/100), 2*time.Minute)
		if refused != 0 {
			t.Errorf("%d of %d requests refused at 95%% of the budget", refused, sent)
		}
		pct, err := strconv.ParseFloat(last.Headers["x-ms-throttle-limit-percentage"], 64)
		if err != nil || pct < 0.9 || pct > 1.0 {
			t.Errorf("x-ms-throttle-limit-percentage at 95%% = %q, want about 0.95", last.Headers["x-ms-throttle-limit-percentage"])
		}
	})
	t.Run("120% is refused the excess", func(t *testing.T) {
		t.Parallel()
		clock := newThrottleClock()
		th := NewThrottler(ThrottleRealistic, 5000, clock.now)
		duration := 2 * time.Minute
		sent, refused, last := thrPace(th, clock, "GET", "/users", window/(budget*120/100), duration)
		// Admitted: the initial burst (one budget) plus the refill over the run.
		want := sent - budget - budget*int(duration/window)
		if refused < want*98/100 || refused > want*102/100 {
			t.Errorf("%d of %d requests refused at 120%%, want about %d", refused, sent, want)
		}
		pct, err := strconv.ParseFloat(last.Headers["x-ms-throttle-limit-percentage"], 64)
		if err != nil || pct < 1.15 || pct > 1.25 {
			t.Errorf("x-ms-throttle-limit-percentage at 120%% = %q, want about 1.2", last.Headers["x-ms-throttle-limit-percentage"])
		}
	})
	t.Run("writes at 95% are never refused", func(t *testing.T) {
		t.Parallel()
		clock := newThrottleClock()
		th := NewThrottler(ThrottleRealistic, 5000, clock.now)
		// 3,000 writes per 150 s is 20 per second; 95% is 19 per second.
		sent, refused, _ := thrPace(th, clock, "POST", "/users", time.Second/19, 10*time.Minute)
		if refused != 0 {
			t.Errorf("%d of %d writes refused at 95%% of the write budget", refused, sent)
		}
	})
	t.Run("light load sends no percentage, hammering caps it at 1.8", func(t *testing.T) {
		t.Parallel()
		clock := newThrottleClock()
		th := NewThrottler(ThrottleRealistic, 5000, clock.now)
		_, _, last := thrPace(th, clock, "GET", "/users", window/(budget/2), time.Minute)
		if v, ok := last.Headers["x-ms-throttle-limit-percentage"]; ok {
			t.Errorf("x-ms-throttle-limit-percentage %q sent at 50%% of the budget", v)
		}
		_, _, last = thrPace(th, clock, "GET", "/users", window/(budget*10), time.Minute)
		if v := last.Headers["x-ms-throttle-limit-percentage"]; v != "1.80" {
			t.Errorf("x-ms-throttle-limit-percentage at 10x the budget = %q, want 1.80", v)
		}
	})
}

func TestThrottleIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	clock := newThrottleClock()
	th := NewThrottler(ThrottleRealistic, 10, clock.now)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if th.Admit(thrAppA, thrTenant1, "GET", "/users", nil).Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// 8,000 requests at one instant against 3,500 RU at 2 RU each: exactly 1,750 fit,
	// however the goroutines interleave.
	if got := admitted.Load(); got != 1750 {
		t.Errorf("%d requests admitted concurrently, want exactly 1750", got)
	}

	// With the clock moving under them too.
	var wg2 sync.WaitGroup
	wg2.Add(1)
	go func() {
		defer wg2.Done()
		for i := 0; i < 1000; i++ {
			clock.advance(time.Millisecond)
		}
	}()
	for g := 0; g < 4; g++ {
		wg2.Add(1)
		go func(app string) {
			defer wg2.Done()
			for i := 0; i < 2000; i++ {
				th.Admit(app, thrTenant1, []string{"GET", "POST"}[i%2], "/groups/x/members", nil)
			}
		}([]string{thrAppA, thrAppB}[g%2])
	}
	wg2.Wait()
}
