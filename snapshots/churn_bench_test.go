package snapshots_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

// BenchmarkSnapshots30Days keeps a month of daily snapshots of one tenant in one file: a
// full capture on day 1, then 30 days of 1% churn made through Graph (attribute changes,
// membership and manager changes, a few users deleted and created) each followed by the
// capture a daily job runs. That capture is incremental: it reads users and groups as
// delta changes (Graph's delta tokens live 7 days, a daily job is well inside that), so
// it costs Graph a fraction of a full read, and it stores exactly what a full capture
// would (TestIncrementalCaptureEqualsAFullOne). Metrics: the snapshots' size after day
// 31 over their size after day 1 ("snapshot-ratio", which must stay under 1.5: the
// file without the directory audit log, which grows with the tenant's activity, not
// with its snapshots); the same for the whole file ("size-ratio"); both file sizes,
// the audit log's pages on day 31, and the seconds an incremental capture took.
func BenchmarkSnapshots30Days(b *testing.B) {
	const users = 20_000
	ds, err := sim.Generate(sim.GenerateOptions{Users: users, Seed: 11})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		s, err := sim.New(ds, sim.Options{Throttle: sim.ThrottleOff})
		if err != nil {
			b.Fatal(err)
		}
		srv, err := s.Start("127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		client, err := graphapi.New(ctx, graphapi.Config{GraphURL: srv.Info().GraphURL, Budget: unthrottled})
		if err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(b.TempDir(), "month.db")
		if k := os.Getenv("LIFELINE_BENCH_DB"); k != "" {
			path = k
		}
		capture := func(incremental bool) (snapshots.CaptureReport, int64) {
			store, err := snapshots.Open(ctx, path, snapshots.OpenOptions{Create: true})
			if err != nil {
				b.Fatal(err)
			}
			rep, err := snapshots.Capture(ctx, client, store, snapshots.CaptureOptions{Incremental: incremental})
			if err != nil {
				b.Fatal(err)
			}
			if err := store.Close(); err != nil {
				b.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			return rep, fi.Size()
		}
		_, day1 := capture(false)
		audit1 := auditPages(b, path)
		ch := newChurner(ds, uint64(i))
		var incTime float64
		size := day1
		var last snapshots.CaptureReport
		for day := 2; day <= 31; day++ {
			ch.day(b, ctx, client, day)
			last, size = capture(true)
			incTime += last.Duration.Seconds()
		}
		b.StopTimer()
		// A month of incremental captures holds what a full capture reads, and verifies.
		check, err := snapshots.Open(ctx, filepath.Join(b.TempDir(), "check.db"), snapshots.OpenOptions{Create: true})
		if err != nil {
			b.Fatal(err)
		}
		full, err := snapshots.Capture(ctx, client, check, snapshots.CaptureOptions{})
		check.Close()
		if err != nil {
			b.Fatal(err)
		}
		if full.Snapshot.RootHash != last.Snapshot.RootHash {
			b.Fatalf("day 31's incremental snapshot differs from a full capture: %s vs %s", last.Snapshot.RootHash, full.Snapshot.RootHash)
		}
		store, err := snapshots.Open(ctx, path, snapshots.OpenOptions{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		if rep, err := store.Verify(ctx, nil); err != nil || !rep.OK() {
			b.Fatalf("verify after 30 days: %v %v", err, rep.Damage)
		}
		store.Close()
		srv.Close()
		b.StartTimer()
		audit31 := auditPages(b, path)
		b.ReportMetric(float64(size)/float64(day1), "size-ratio")
		b.ReportMetric(float64(size-audit31)/float64(day1-audit1), "snapshot-ratio")
		b.ReportMetric(float64(audit31)/1e6, "audit-MB")
		b.ReportMetric(float64(day1)/1e6, "day1-MB")
		b.ReportMetric(float64(size)/1e6, "day31-MB")
		b.ReportMetric(incTime/30, "s/incremental")
	}
}

// auditPages returns how many bytes of the file at path the directory audit log's pages
// take (SQLite's dbstat).
func auditPages(b *testing.B, path string) int64 {
	db, err := sql.Open("sqlite", path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = 'audit'").Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// churner changes 1% of a tenant a day, the way its administrators and HR feed would.
type churner struct {
	r      *rand.Rand
	domain string
	users  []string // live users
	groups []string // groups whose members can be changed (not dynamic)
	member map[string][]string
	next   int
}

func newChurner(ds *sim.Dataset, seed uint64) *churner {
	c := &churner{r: rand.New(rand.NewPCG(seed, 99)), domain: ds.Domain, member: map[string][]string{}}
	for _, o := range ds.Objects {
		switch o.Kind {
		case entra.KindUser:
			c.users = append(c.users, o.ID)
		case entra.KindGroup:
			if !strings.Contains(string(o.JSON), "DynamicMembership") {
				c.groups = append(c.groups, o.ID)
			}
		}
	}
	for _, l := range ds.Links {
		if l.Name == "members" && l.FromKind == entra.KindGroup && l.ToKind == entra.KindUser {
			c.member[l.To] = append(c.member[l.To], l.From)
		}
	}
	return c
}

func (c *churner) day(b *testing.B, ctx context.Context, client *graphapi.Client, day int) {
	n := len(c.users)
	var reqs []graphapi.Request
	pick := func() string { return c.users[c.r.IntN(len(c.users))] }
	// 1% of users change attributes (a transfer, a new title, a new phone).
	for range n / 100 {
		body, _ := json.Marshal(map[string]any{"department": fmt.Sprintf("Dept %d", c.r.IntN(40)), "jobTitle": fmt.Sprintf("Title %d-%d", day, c.r.IntN(1000)),
			"mobilePhone": fmt.Sprintf("+1 555 %04d", c.r.IntN(10000))})
		reqs = append(reqs, graphapi.Request{Method: http.MethodPatch, Path: "/users/" + pick(), Body: body})
	}
	// 1% of users join a group, and as many leave one.
	for range n / 100 {
		u, g := pick(), c.groups[c.r.IntN(len(c.groups))]
		body, _ := json.Marshal(map[string]string{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + u})
		reqs = append(reqs, graphapi.Request{Method: http.MethodPost, Path: "/groups/" + g + "/members/$ref", Body: body})
		c.member[u] = append(c.member[u], g)
	}
	for range n / 100 {
		u := pick()
		if gs := c.member[u]; len(gs) > 0 {
			k := c.r.IntN(len(gs))
			reqs = append(reqs, graphapi.Request{Method: http.MethodDelete, Path: "/groups/" + gs[k] + "/members/" + u + "/$ref"})
			c.member[u] = append(gs[:k], gs[k+1:]...)
		}
	}
	// 0.2% get a new manager.
	for range n / 500 {
		body, _ := json.Marshal(map[string]string{"@odata.id": "https://graph.microsoft.com/v1.0/users/" + pick()})
		reqs = append(reqs, graphapi.Request{Method: http.MethodPut, Path: "/users/" + pick() + "/manager/$ref", Body: body})
	}
	// 0.1% leave (soft delete) and as many join.
	for range n / 1000 {
		k := c.r.IntN(len(c.users))
		reqs = append(reqs, graphapi.Request{Method: http.MethodDelete, Path: "/users/" + c.users[k]})
		c.users = append(c.users[:k], c.users[k+1:]...)
	}
	for range n / 1000 {
		c.next++
		nick := fmt.Sprintf("hire%d", c.next)
		body, _ := json.Marshal(map[string]any{"accountEnabled": true, "displayName": "New Hire " + nick, "mailNickname": nick,
			"userPrincipalName": nick + "@" + c.domain, "department": "Sales", "passwordProfile": map[string]any{"password": "Aa1!" + nick + "xx"}})
		reqs = append(reqs, graphapi.Request{Method: http.MethodPost, Path: "/users", Body: body})
	}
	results, err := client.Batch(ctx, reqs)
	if err != nil {
		b.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil && !graphapi.IsNotFound(r.Err) {
			// A user already in the group, or a deleted one picked again: churn, not failure.
			if !strings.Contains(r.Err.Error(), "already exist") && !strings.Contains(r.Err.Error(), "400") {
				b.Fatalf("%s %s: %v", reqs[i].Method, reqs[i].Path, r.Err)
			}
		}
		if r.Err == nil && reqs[i].Method == http.MethodPost && reqs[i].Path == "/users" {
			var u struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(r.Response.Body, &u) == nil && u.ID != "" {
				c.users = append(c.users, u.ID)
			}
		}
	}
}
