package graphapi

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	khttp "github.com/microsoft/kiota-http-go"
	"golang.org/x/time/rate"
)

// Budget is a tenant's throttling budget as Graph publishes it (graph-spec §5). lifeline
// paces itself against it so that it rarely earns a 429: a throttled tenant is slower to
// recover than a paced one, because Graph keeps counting while it throttles.
type Budget struct {
	// ResourceUnitsPer10s is the identity service's app+tenant resource-unit quota.
	ResourceUnitsPer10s int
	// WritesPer150s is the app+tenant write quota.
	WritesPer150s int
	// ConditionalAccessPerSecond is the tenant-wide limit on Conditional Access and named
	// location requests (Graph answers these 429s without Retry-After).
	ConditionalAccessPerSecond float64
	// AuditPer10s is the app+tenant limit on audit-log and report requests.
	AuditPer10s int
}

// BudgetForTenantSize returns Graph's published budget for a tenant with this many users:
// 3,500, 5,000 or 8,000 resource units per 10 s (under 50, 50 to 500, over 500 users),
// 3,000 writes per 150 s, 1 Conditional Access request per second and 5 audit requests per 10 s.
func BudgetForTenantSize(users int) Budget {
	ru := 8000
	switch {
	case users < 50:
		ru = 3500
	case users <= 500:
		ru = 5000
	}
	return Budget{ResourceUnitsPer10s: ru, WritesPer150s: 3000, ConditionalAccessPerSecond: 1, AuditPer10s: 5}
}

// withDefaults fills unset limits from the large-tenant budget, so that a caller who only
// knows one limit does not switch the others off.
func (b Budget) withDefaults() Budget {
	d := BudgetForTenantSize(math.MaxInt32)
	if b.ResourceUnitsPer10s <= 0 {
		b.ResourceUnitsPer10s = d.ResourceUnitsPer10s
	}
	if b.WritesPer150s <= 0 {
		b.WritesPer150s = d.WritesPer150s
	}
	if b.ConditionalAccessPerSecond <= 0 {
		b.ConditionalAccessPerSecond = d.ConditionalAccessPerSecond
	}
	if b.AuditPer10s <= 0 {
		b.AuditPer10s = d.AuditPer10s
	}
	return b
}

// cost is what one request takes from each bucket.
type cost struct {
	ru, writes, ca, audit int
}

func (c cost) add(o cost) cost {
	return cost{c.ru + o.ru, c.writes + o.writes, c.ca + o.ca, c.audit + o.audit}
}

// requestCost prices a Graph request per graph-spec §5.2 and §5.3. rel is the path below the
// version root ("groups/1/members"), rawQuery the request's query string.
func requestCost(method, rel, rawQuery string) cost {
	segs := strings.Split(strings.ToLower(strings.Trim(rel, "/")), "/")
	q, _ := url.ParseQuery(rawQuery)
	var c cost
	switch {
	case segs[0] == "auditlogs" || segs[0] == "reports":
		// Reports have their own limit and do not draw on the directory's resource units.
		c.audit = 1
		return c
	case segs[0] == "identityprotection" || (segs[0] == "identity" && len(segs) > 1 && segs[1] == "conditionalaccess"):
		c.ca = 1
	}
	switch method {
	case http.MethodGet, http.MethodHead:
		c.ru = readCost(segs)
	case http.MethodPost:
		if n, ok := actionReadCost(segs); ok {
			c.ru = n
		} else {
			c.ru, c.writes = 1, 1
		}
	default:
		c.ru, c.writes = 1, 1
	}
	if _, ok := q["$select"]; ok {
		c.ru--
	}
	if _, ok := q["$expand"]; ok {
		c.ru++
	}
	if top, err := strconv.Atoi(q.Get("$top")); err == nil && top > 0 && top < 20 {
		c.ru--
	}
	if c.ru < 1 {
		c.ru = 1
	}
	return c
}

// readCost is the base resource-unit cost of a GET (graph-spec §5.2 table).
func readCost(segs []string) int {
	n := len(segs)
	sub := ""
	if n >= 3 {
		sub = segs[2]
	}
	switch segs[0] {
	case "users":
		if n <= 2 {
			return 2
		}
		if perUserReadCost(sub) {
			return 2
		}
	case "me":
		if n >= 2 && perUserReadCost(segs[1]) {
			return 2
		}
	case "applications":
		if n == 1 || sub == "extensionproperties" {
			return 2
		}
	case "contracts", "subscribedskus":
		return 3
	case "domains":
		if sub == "domainnamereferences" {
			return 4
		}
	case "groups":
		switch sub {
		case "members":
			return 3
		case "transitivemembers":
			return 5
		}
	case "oauth2permissiongrants":
		return 2
	case "serviceprincipals":
		if sub == "approleassignments" {
			return 2
		}
	}
	return 1
}

// perUserReadCost: the me/ costs apply to users/{id}/ too (graph-spec §5.2).
func perUserReadCost(seg string) bool {
	switch seg {
	case "licensedetails", "memberof", "ownedobjects", "transitivememberof":
		return true
	}
	return false
}

// actionReadCost prices the POST actions that only read; everything else POSTed is a write.
func actionReadCost(segs []string) (int, bool) {
	switch segs[len(segs)-1] {
	case "getbyids", "getobjectsbyid":
		return 5, true
	case "ismemberof", "checkmembergroups", "checkmemberobjects":
		return 4, true
	case "getmembergroups", "getmemberobjects":
		return 2, true
	}
	return 0, false
}

// pacer holds the token buckets. x/time/rate does the bucket arithmetic; reservations are
// taken at an injectable clock so tests can assert on delays instead of wall time.
type pacer struct {
	mu     sync.Mutex
	budget Budget
	pace   float64
	ru     *rate.Limiter
	writes *rate.Limiter
	ca     *rate.Limiter
	audit  *rate.Limiter
	// pauseUntil holds every paced request back after Graph answered with Retry-After:
	// other workers firing into a throttled tenant only extend the throttling.
	pauseUntil time.Time
	usage      usageWindow
	totalRU    int64
	totalWr    int64

	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}

func newPacer(b Budget, pace float64, now func() time.Time, sleep func(context.Context, time.Duration) error) *pacer {
	p := &pacer{budget: b.withDefaults(), pace: clampPace(pace), now: now, sleep: sleep}
	// Buckets start full: a fresh client has spent nothing.
	r := p.rates()
	p.ru = rate.NewLimiter(rate.Limit(r[0]), burstFor(r[0]))
	p.writes = rate.NewLimiter(rate.Limit(r[1]), burstFor(r[1]))
	p.ca = rate.NewLimiter(rate.Limit(r[2]), burstFor(r[2]))
	p.audit = rate.NewLimiter(rate.Limit(r[3]), burstFor(r[3]))
	return p
}

// rates are the per-second refill rates of the four buckets at the current pace.
func (p *pacer) rates() [4]float64 {
	return [4]float64{
		float64(p.budget.ResourceUnitsPer10s) / 10 * p.pace,
		float64(p.budget.WritesPer150s) / 150 * p.pace,
		p.budget.ConditionalAccessPerSecond * p.pace,
		float64(p.budget.AuditPer10s) / 10 * p.pace,
	}
}

// burstFor is one second's worth of the rate: no 10 s (or 150 s) window can then see more
// than the budget, even right after an idle spell, yet a worker pool still runs smoothly.
func burstFor(perSecond float64) int { return max(1, int(perSecond)) }

func clampPace(f float64) float64 {
	if f <= 0 || math.IsNaN(f) {
		return DefaultPace
	}
	return min(f, 1)
}

// setPace rescales every bucket; the console's pace keys call it while requests run.
func (p *pacer) setPace(f float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pace = clampPace(f)
	t := p.now()
	for i, l := range []*rate.Limiter{p.ru, p.writes, p.ca, p.audit} {
		r := p.rates()[i]
		l.SetLimitAt(t, rate.Limit(r))
		l.SetBurstAt(t, burstFor(r))
	}
}

// reserve takes c from the buckets now and returns how long the request must wait before
// it goes out, with a function that gives the tokens back if it never does.
func (p *pacer) reserve(c cost) (time.Duration, func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.now()
	var delay time.Duration
	var rs []*rate.Reservation
	take := func(l *rate.Limiter, n int) {
		// A request may cost more than a burst (a 20-item batch on a tiny budget):
		// reserve it in burst-sized pieces, each queued behind the previous one.
		for n > 0 {
			k := min(n, l.Burst())
			r := l.ReserveN(t, k)
			if !r.OK() {
				return
			}
			rs = append(rs, r)
			delay = max(delay, r.DelayFrom(t))
			n -= k
		}
	}
	take(p.ru, c.ru)
	take(p.writes, c.writes)
	take(p.ca, c.ca)
	take(p.audit, c.audit)
	delay = max(delay, p.pauseUntil.Sub(t))
	p.usage.add(t.Add(delay), c.ru, c.writes)
	p.totalRU += int64(c.ru)
	p.totalWr += int64(c.writes)
	cancel := func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		now := p.now()
		for _, r := range rs {
			r.CancelAt(now)
		}
		p.usage.add(t.Add(delay), -c.ru, -c.writes)
		p.totalRU -= int64(c.ru)
		p.totalWr -= int64(c.writes)
	}
	return delay, cancel
}

// wait blocks until the request may go out, or the context ends.
func (p *pacer) wait(ctx context.Context, c cost) error {
	d, cancel := p.reserve(c)
	if d <= 0 {
		return nil
	}
	if err := p.sleep(ctx, d); err != nil {
		cancel()
		return err
	}
	return nil
}

// pause holds every paced request back for d (Graph's Retry-After).
func (p *pacer) pause(d time.Duration) {
	if d <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if until := p.now().Add(d); until.After(p.pauseUntil) {
		p.pauseUntil = until
	}
}

// usageWindow counts resource units and writes per second over the last 150 s, for Stats.
type usageWindow struct {
	slots [160]usageSlot
}

type usageSlot struct {
	sec        int64
	ru, writes int
}

func (w *usageWindow) add(t time.Time, ru, writes int) {
	sec := t.Unix()
	s := &w.slots[sec%int64(len(w.slots))]
	if s.sec != sec {
		*s = usageSlot{sec: sec}
	}
	s.ru += ru
	s.writes += writes
}

func (w *usageWindow) sum(now time.Time, seconds int64) (ru, writes int) {
	end := now.Unix()
	for _, s := range w.slots {
		if s.sec > end-seconds && s.sec <= end {
			ru += s.ru
			writes += s.writes
		}
	}
	return ru, writes
}

// Stats is a snapshot of what the client has spent, for the console's pace display.
type Stats struct {
	// Requests is every HTTP attempt, retries included.
	Requests int64
	// Retries is the attempts that were retries (Retry-Attempt > 0) and batch items requeued.
	Retries int64
	// Throttled is the attempts and batch items Graph answered with 429.
	Throttled int64
	// Writes and ResourceUnits are what the pacer charged in total (batch items counted
	// one by one).
	Writes, ResourceUnits int64
	// RUInLast10s and WritesInLast150s are the spend in the budget's own windows: compare
	// them with Budget (and Budget scaled by Pace) to see how close to the limit lifeline runs.
	RUInLast10s, WritesInLast150s int
	// Budget and Pace are the limits in force.
	Budget Budget
	Pace   float64
}

// RUUtilization is the share of the resource-unit budget spent in the last 10 s.
func (s Stats) RUUtilization() float64 {
	if s.Budget.ResourceUnitsPer10s == 0 {
		return 0
	}
	return float64(s.RUInLast10s) / float64(s.Budget.ResourceUnitsPer10s)
}

// WriteUtilization is the share of the write budget spent in the last 150 s.
func (s Stats) WriteUtilization() float64 {
	if s.Budget.WritesPer150s == 0 {
		return 0
	}
	return float64(s.WritesInLast150s) / float64(s.Budget.WritesPer150s)
}

func (p *pacer) stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.now()
	ru10, _ := p.usage.sum(t, 10)
	_, wr150 := p.usage.sum(t, 150)
	return Stats{
		Writes:           p.totalWr,
		ResourceUnits:    p.totalRU,
		RUInLast10s:      ru10,
		WritesInLast150s: wr150,
		Budget:           p.budget,
		Pace:             p.pace,
	}
}

// maxPause bounds how long one Retry-After holds back the other requests.
const maxPause = 30 * time.Second

// paceHandler waits for the budget before each attempt, retries included, and holds every
// other request back when Graph says Retry-After.
type paceHandler struct{ c *Client }

var _ khttp.Middleware = (*paceHandler)(nil)

// Intercept charges the attempt and lets it go when the buckets allow.
func (h *paceHandler) Intercept(p khttp.Pipeline, i int, req *http.Request) (*http.Response, error) {
	c := h.c
	if cst, ok := c.costOf(req); ok {
		if err := c.pacer.wait(req.Context(), cst); err != nil {
			return nil, err
		}
	}
	resp, err := p.Next(req, i)
	if resp != nil && retriableStatus(resp.StatusCode) {
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
			// Capped: a long Retry-After on one path (writes) must not freeze reads
			// that Graph still serves.
			c.pacer.pause(min(d, maxPause))
		}
	}
	return resp, err
}

// costOf prices an attempt; ok is false for requests outside Graph's version roots (the
// sim's control surface), which no Graph budget covers.
func (c *Client) costOf(req *http.Request) (cost, bool) {
	if m, ok := metaFrom(req.Context()); ok && m.costSet {
		return m.cost, true
	}
	rel, ok := c.ep.versionRelative(req.URL)
	if !ok {
		return cost{}, false
	}
	if strings.EqualFold(rel, "$batch") {
		// An envelope sent by the typed SDK: its items are unknown here, so charge one read.
		return cost{ru: 1}, true
	}
	return requestCost(req.Method, rel, req.URL.RawQuery), true
}

// sleepContext waits for d or until ctx ends, whichever comes first.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
