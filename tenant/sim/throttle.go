package sim

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ThrottleMode selects how the sim throttles: "off" or "realistic".
type ThrottleMode string

// The throttle modes. Off still reports each request's cost, so that a client's pacing
// logic sees the same headers with and without throttling; realistic enforces Graph's
// published budgets (docs/graph-spec.md §5).
const (
	ThrottleOff       ThrottleMode = "off"
	ThrottleRealistic ThrottleMode = "realistic"
)

// ParseThrottleMode reads a throttle mode as a person types it (any case, surrounding
// spaces ignored).
func ParseThrottleMode(s string) (ThrottleMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case string(ThrottleOff):
		return ThrottleOff, nil
	case string(ThrottleRealistic):
		return ThrottleRealistic, nil
	}
	return "", fmt.Errorf("unknown throttle mode %q: use off or realistic", s)
}

// Decision is the throttler's verdict on one request.
type Decision struct {
	// Allowed is false when a budget refused the request; the server answers 429.
	Allowed bool
	// RetryAfter is how long the refusing budget needs to have room again, in whole
	// seconds. 0 means: send no Retry-After header, as Graph's Conditional Access and
	// named-location endpoints do.
	RetryAfter time.Duration
	// ResourceUnits is the request's cost, for the x-ms-resource-unit header.
	ResourceUnits int
	// Headers are the x-ms-* throttling headers to send: x-ms-resource-unit always;
	// x-ms-throttle-limit-percentage when the load is above 0.8; on a refusal,
	// x-ms-throttle-scope and x-ms-throttle-information. Retry-After is not among them:
	// the server writes it from RetryAfter.
	Headers map[string]string
}

// Throttler decides, per request, whether Graph's budgets admit it. It is a pure model
// driven by the clock it is given, so drills can advance time and tests need no sleep.
// It is safe for concurrent use.
type Throttler struct {
	mode ThrottleMode
	now  func() time.Time
	// limits are indexed by the throttle* constants.
	limits [throttleLimits]throttleLimit

	mu      sync.Mutex
	buckets map[throttleKey]*throttleBucket
}

// throttleLimit is one of Graph's budgets: capacity units per window, refilled evenly.
type throttleLimit struct {
	capacity float64
	window   time.Duration
	perApp   bool   // one bucket per (app, tenant); otherwise one per tenant
	scope    string // x-ms-throttle-scope's <Scope>/<Limit>
	info     string // x-ms-throttle-information
	// silent limits answer 429 without Retry-After.
	silent bool
	// loadHeader limits report their load in x-ms-throttle-limit-percentage, which Graph
	// documents for the identity and access budgets only.
	loadHeader bool
}

const (
	throttleRU = iota
	throttleAppWrites
	throttleTenantWrites
	throttleCA
	throttleReports
	throttleLimits
)

// throttleEpsilon absorbs floating-point residue, so that a client that waits exactly
// Retry-After, or paces itself exactly at the refill rate, is admitted.
const throttleEpsilon = 1e-6

type throttleKey struct {
	limit       int
	app, tenant string
}

// throttleBucket is a token bucket (what admission uses) plus a sliding-window count of
// demand, refused requests included (what x-ms-throttle-limit-percentage reports: 1.2
// means clients ask for 20% more than the budget, whatever the bucket's level).
type throttleBucket struct {
	tokens float64
	last   time.Time

	winStart  time.Time
	prev, cur float64
}

// NewThrottler returns a throttler for a tenant of tenantUsers users (the resource-unit
// budget depends on the tenant's size) that reads time from now (time.Now when nil).
func NewThrottler(mode ThrottleMode, tenantUsers int, now func() time.Time) *Throttler {
	if now == nil {
		now = time.Now
	}
	ru := 8000.0
	switch {
	case tenantUsers < 50:
		ru = 3500
	case tenantUsers <= 500:
		ru = 5000
	}
	t := &Throttler{mode: mode, now: now, buckets: map[throttleKey]*throttleBucket{}}
	t.limits = [throttleLimits]throttleLimit{
		throttleRU:           {capacity: ru, window: 10 * time.Second, perApp: true, scope: "Tenant_Application/ReadWrite", info: "ResourceUnitLimitExceeded", loadHeader: true},
		throttleAppWrites:    {capacity: 3000, window: 150 * time.Second, perApp: true, scope: "Tenant_Application/Write", info: "WriteLimitExceeded", loadHeader: true},
		throttleTenantWrites: {capacity: 18000, window: 5 * time.Minute, scope: "Tenant/Write", info: "WriteLimitExceeded", loadHeader: true},
		throttleCA:           {capacity: 1, window: time.Second, scope: "Tenant/ReadWrite", info: "RequestLimitExceeded", silent: true},
		throttleReports:      {capacity: 5, window: 10 * time.Second, perApp: true, scope: "Tenant_Application/Read", info: "RequestLimitExceeded"},
	}
	return t
}

// Mode reports the throttler's mode; a nil throttler throttles nothing.
func (t *Throttler) Mode() ThrottleMode {
	if t == nil {
		return ThrottleOff
	}
	return t.mode
}

type throttleCharge struct {
	limit  int
	amount float64
}

// Admit charges one request (a top-level request or ONE item inside a $batch) made by appID
// against tenantID. path is relative to the version root, without query ("/users",
// "/groups/{id}/members"); query is the parsed query string.
//
// A refused request consumes nothing: a client that waits Retry-After and tries again
// is admitted.
func (t *Throttler) Admit(appID, tenantID, method, path string, query url.Values) Decision {
	p := throttlePath(path)
	ru, write := throttleCost(strings.ToUpper(method), p, query)
	d := Decision{Allowed: true, ResourceUnits: ru, Headers: map[string]string{"x-ms-resource-unit": strconv.Itoa(ru)}}
	if t == nil || t.mode != ThrottleRealistic {
		return d
	}

	// Conditional Access and the reports have service limits of their own, in place of the
	// directory's resource units.
	var charges [3]throttleCharge
	n := 0
	switch {
	case throttleUnder(p, "/identity/conditionalaccess") || throttleUnder(p, "/identityprotection"):
		charges[0], n = throttleCharge{throttleCA, 1}, 1
	case throttleUnder(p, "/auditlogs") || throttleUnder(p, "/reports/authenticationmethods"):
		charges[0], n = throttleCharge{throttleReports, 1}, 1
	default:
		charges[0], n = throttleCharge{throttleRU, float64(ru)}, 1
		if write {
			charges[1], charges[2], n = throttleCharge{throttleAppWrites, 1}, throttleCharge{throttleTenantWrites, 1}, 3
		}
	}

	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var buckets [3]*throttleBucket
	load, wait, refusedBy := 0.0, 0.0, -1
	for i, c := range charges[:n] {
		lim := &t.limits[c.limit]
		b := t.bucket(c.limit, appID, tenantID, now)
		buckets[i] = b
		b.refill(now, lim)
		if l := b.observe(now, lim, c.amount); lim.loadHeader {
			load = math.Max(load, l)
		}
		need := math.Min(c.amount, lim.capacity)
		if b.tokens < need-throttleEpsilon {
			if w := (need - b.tokens) / lim.capacity * lim.window.Seconds(); refusedBy < 0 || w > wait {
				wait, refusedBy = w, c.limit
			}
		}
	}
	if load > 0.8 {
		d.Headers["x-ms-throttle-limit-percentage"] = strconv.FormatFloat(math.Min(load, 1.8), 'f', 2, 64)
	}
	if refusedBy < 0 {
		for i, c := range charges[:n] {
			buckets[i].tokens -= math.Min(c.amount, t.limits[c.limit].capacity)
		}
		return d
	}
	lim := &t.limits[refusedBy]
	d.Allowed = false
	if !lim.silent {
		// Whole seconds, rounded up, and never 0: a client told to wait 0 s would spin.
		d.RetryAfter = time.Duration(max(1, math.Ceil(wait-throttleEpsilon))) * time.Second
	}
	d.Headers["x-ms-throttle-scope"] = lim.scope + "/" + appID + "/" + tenantID
	d.Headers["x-ms-throttle-information"] = lim.info
	return d
}

func (t *Throttler) bucket(limit int, app, tenant string, now time.Time) *throttleBucket {
	if !t.limits[limit].perApp {
		app = ""
	}
	k := throttleKey{limit, app, tenant}
	b := t.buckets[k]
	if b == nil {
		b = &throttleBucket{tokens: t.limits[limit].capacity, last: now, winStart: now}
		t.buckets[k] = b
	}
	return b
}

func (b *throttleBucket) refill(now time.Time, lim *throttleLimit) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(lim.capacity, b.tokens+el.Seconds()*lim.capacity/lim.window.Seconds())
		b.last = now
	}
}

// observe records demand and returns it as a fraction of the budget over the last window,
// estimated from the current and previous fixed windows.
func (b *throttleBucket) observe(now time.Time, lim *throttleLimit, amount float64) float64 {
	if el := now.Sub(b.winStart); el >= lim.window {
		k := el / lim.window
		if k == 1 {
			b.prev = b.cur
		} else {
			b.prev = 0
		}
		b.cur = 0
		b.winStart = b.winStart.Add(k * lim.window)
	}
	b.cur += amount
	frac := float64(now.Sub(b.winStart)) / float64(lim.window)
	frac = math.Min(1, math.Max(0, frac))
	return (b.prev*(1-frac) + b.cur) / lim.capacity
}

// throttlePath lower-cases the path, gives it a leading slash, and drops a query, a
// trailing slash and key syntax ("/servicePrincipals(appId='x')/appRoleAssignedTo"
// becomes "/serviceprincipals/{key}/approleassignedto"), so the cost rules see one form.
func throttlePath(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	p = strings.ToLower(strings.Trim(p, "/"))
	if i := strings.IndexByte(p, '('); i >= 0 {
		if j := strings.IndexByte(p[i:], ')'); j >= 0 {
			p = p[:i] + "/{key}" + p[i+j+1:]
		}
	}
	return "/" + p
}

func throttleUnder(p, prefix string) bool {
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// throttleCost prices a request in resource units from the table in graph-spec §5.2,
// and reports whether it also spends the write budgets.
func throttleCost(method, p string, query url.Values) (ru int, write bool) {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	last := segs[len(segs)-1]
	// "me/..." costs apply to "users/{id}/..." too.
	var sub string
	switch {
	case segs[0] == "me" && len(segs) >= 2:
		sub = segs[1]
	case segs[0] == "users" && len(segs) >= 3:
		sub = segs[2]
	}
	base := 1
	switch method {
	case "GET", "HEAD":
		switch {
		case len(segs) == 1 && (segs[0] == "users" || segs[0] == "applications"):
			base = 2
		case len(segs) == 1 && (segs[0] == "contracts" || segs[0] == "subscribedskus"):
			base = 3
		case segs[0] == "oauth2permissiongrants" && len(segs) <= 2:
			base = 2
		case segs[0] == "groups" && len(segs) >= 3 && segs[2] == "members":
			base = 3
		case segs[0] == "groups" && len(segs) >= 3 && segs[2] == "transitivemembers":
			base = 5
		case segs[0] == "applications" && len(segs) >= 3 && segs[2] == "extensionproperties":
			base = 2
		case segs[0] == "serviceprincipals" && len(segs) >= 3 && segs[2] == "approleassignments":
			base = 2
		case segs[0] == "domains" && len(segs) >= 3 && segs[2] == "domainnamereferences":
			base = 4
		case sub == "licensedetails" || sub == "memberof" || sub == "ownedobjects" || sub == "transitivememberof":
			base = 2
		}
	case "POST":
		switch last {
		case "getbyids", "getobjectsbyid":
			if throttleHas(query, "select") {
				return 2, false // flat price with $select, per the table's footnote
			}
			base = 5
		case "checkmembergroups", "checkmemberobjects", "ismemberof":
			base = 4
		case "getmembergroups", "getmemberobjects":
			base = 2
		case "$batch":
			// The envelope is free; its items are charged one by one.
		default:
			write = true
		}
	default:
		write = true
	}
	if write {
		return 1, true
	}
	ru = base
	if throttleHas(query, "select") {
		ru--
	}
	if throttleHas(query, "expand") {
		ru++
	}
	if top, ok := throttleTop(query); ok && top < 20 {
		ru--
	}
	return max(ru, 1), false
}

// throttleHas reports whether a system query option is present, spelled with or
// without its "$", in any case, as Graph accepts it.
func throttleHas(q url.Values, name string) bool {
	for k := range q {
		if strings.EqualFold(strings.TrimPrefix(k, "$"), name) {
			return true
		}
	}
	return false
}

func throttleTop(q url.Values) (int, bool) {
	for k, v := range q {
		if strings.EqualFold(strings.TrimPrefix(k, "$"), "top") && len(v) > 0 {
			n, err := strconv.Atoi(strings.TrimSpace(v[0]))
			return n, err == nil
		}
	}
	return 0, false
}
