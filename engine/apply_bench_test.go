package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

// benchTenant is a running sim whose throttling the benchmark can switch.
type benchTenant struct {
	sim *sim.Sim
	url string
	op  *graphapi.Client
	at  *graphapi.Client
}

func newBenchTenant(b *testing.B, users int, seed int64) *benchTenant {
	b.Helper()
	ds, err := sim.Generate(sim.GenerateOptions{Users: users, Seed: seed})
	if err != nil {
		b.Fatal(err)
	}
	s, err := sim.New(ds, sim.Options{Throttle: sim.ThrottleOff, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := s.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	ctx := context.Background()
	t := &benchTenant{sim: s, url: srv.Info().GraphURL}
	if t.op, err = graphapi.New(ctx, graphapi.Config{GraphURL: t.url, AdoptSimBudget: true}); err != nil {
		b.Fatal(err)
	}
	if t.at, err = graphapi.New(ctx, graphapi.Config{GraphURL: t.url, ClientID: graphapi.AttackerClientID, ClientSecret: graphapi.AttackerClientSecret, Budget: drillUnlimited}); err != nil {
		b.Fatal(err)
	}
	return t
}

// stage captures a baseline, injects the incident and builds the plan back.
func (t *benchTenant) stage(b *testing.B, scenario string, seed int64) (snapshots.State, *Plan, time.Duration) {
	b.Helper()
	ctx := context.Background()
	store, err := snapshots.Open(ctx, filepath.Join(b.TempDir(), "tenant.db"), snapshots.OpenOptions{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	rep, err := snapshots.Capture(ctx, t.op, store, snapshots.CaptureOptions{})
	if err != nil {
		b.Fatal(err)
	}
	target := snapshots.State{Store: store, Snapshot: rep.Snapshot}
	if _, err := InjectIncident(ctx, t.op, t.at, scenario, seed); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	live, cleanup, err := CaptureLive(ctx, t.op, target.Snapshot.TenantID, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cleanup()
	plan, err := BuildPlan(ctx, target, live, PlanOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return target, plan, time.Since(start)
}

// BenchmarkRecoverScenarios runs every drill end to end on a 5,000-user tenant with
// throttling off: plan (live capture included), apply, verify. It reports the steps and
// the time of each phase, and fails if verify is not clean.
//
//	go test ./engine -run XXX -bench RecoverScenarios -benchtime 1x -timeout 30m
func BenchmarkRecoverScenarios(b *testing.B) {
	for i, name := range ScenarioNames() {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				t := newBenchTenant(b, 5000, int64(100+i))
				target, plan, planTime := t.stage(b, name, int64(100+i))
				b.StartTimer()
				start := time.Now()
				rep, err := Apply(context.Background(), plan, ApplyOptions{Store: target.Store, Client: t.op, PasswordFile: filepath.Join(b.TempDir(), "pw")})
				if err != nil {
					b.Fatal(err)
				}
				applyTime := time.Since(start)
				start = time.Now()
				v, err := VerifyLive(context.Background(), t.op, target, VerifyOptions{})
				if err != nil {
					b.Fatal(err)
				}
				verifyTime := time.Since(start)
				if rep.Failed > 0 || !v.Clean {
					b.Fatalf("%s: %d failed, verify %s", name, rep.Failed, VerifySentence(v))
				}
				b.ReportMetric(float64(rep.Done), "steps")
				b.ReportMetric(planTime.Seconds(), "plan-s")
				b.ReportMetric(applyTime.Seconds(), "apply-s")
				b.ReportMetric(verifyTime.Seconds(), "verify-s")
			}
		})
	}
}

// BenchmarkApplyRealisticBudget stages an attribute-tampering incident at full speed, then
// switches the sim to Graph's published budgets and applies at pace 1: it reports the
// writes per second between the first and the last write and their share of the write
// budget (3,000 writes per 150 s), and fails on any failed step. Goal: at least 95%.
//
//	go test ./engine -run XXX -bench ApplyRealisticBudget -benchtime 1x -timeout 30m
func BenchmarkApplyRealisticBudget(b *testing.B) {
	for range b.N {
		b.StopTimer()
		t := newBenchTenant(b, 3000, 7)
		target, plan, _ := t.stage(b, "attribute-tampering", 7)
		t.sim.SetThrottle(sim.ThrottleRealistic)
		ctx := context.Background()
		op, err := graphapi.New(ctx, graphapi.Config{GraphURL: t.url, AdoptSimBudget: true, Pace: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := Apply(ctx, plan, ApplyOptions{Store: target.Store, Client: op, PasswordFile: filepath.Join(b.TempDir(), "pw")})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if rep.Failed > 0 || rep.Pending > 0 {
			b.Fatalf("%d failed, %d pending: %+v", rep.Failed, rep.Pending, rep.Failures)
		}
		var first, last time.Time
		writes := 0
		for _, c := range op.Calls() {
			if !c.Batch {
				continue
			}
			if first.IsZero() || c.Time.Before(first) {
				first = c.Time
			}
			if end := c.Time.Add(c.Duration); end.After(last) {
				last = end
			}
			writes += c.Items
		}
		window := last.Sub(first).Seconds()
		budget := float64(op.Stats().Budget.WritesPer150s) / 150
		rate := float64(writes) / window
		b.ReportMetric(float64(writes), "writes")
		b.ReportMetric(rate, "writes/s")
		b.ReportMetric(100*rate/budget, "%budget")
		b.ReportMetric(float64(rep.Progress.Throttled), "throttled")
		b.Logf("%d writes in %.1f s: %.2f writes/s of %.2f (%.1f%%), %d throttled; Microsoft's quoted rate is %.2f changes/s",
			writes, window, rate, budget, 100*rate/budget, rep.Progress.Throttled, MicrosoftChangesPerSecond)
		t.sim.SetThrottle(sim.ThrottleOff)
		v, err := VerifyLive(ctx, t.op, target, VerifyOptions{})
		if err != nil || !v.Clean {
			b.Fatalf("verify: %v %s", err, fmt.Sprint(VerifySentence(v)))
		}
	}
}
