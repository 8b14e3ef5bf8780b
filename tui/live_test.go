package tui

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

// simClock is the sim's wall clock in tests: fixed, so captures and the bin's days left
// are the same on every run.
var simClock = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// liveTenant is an in-process simulated tenant mid-incident: a baseline snapshot of it
// in a file, then the kitchen-sink incident injected.
type liveTenant struct {
	client *graphapi.Client
	store  *snapshots.Store
	path   string
	domain string
}

func newLiveTenant(t testing.TB) *liveTenant {
	t.Helper()
	ctx := context.Background()
	ds, err := sim.Generate(sim.GenerateOptions{Users: 60, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(ds, sim.Options{Throttle: sim.ThrottleOff, Clock: func() time.Time { return simClock }})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client, err := graphapi.New(ctx, graphapi.Config{GraphURL: srv.Info().GraphURL, AdoptSimBudget: true})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tenant.db")
	store, err := snapshots.Open(ctx, path, snapshots.OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := snapshots.Capture(ctx, client, store, snapshots.CaptureOptions{Label: "baseline"}); err != nil {
		t.Fatal(err)
	}
	id, err := engine.CheckSimulated(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	attacker, err := engine.ConnectAttacker(ctx, client, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.InjectIncident(ctx, client, attacker, "kitchen-sink", 1); err != nil {
		t.Fatal(err)
	}
	return &liveTenant{client: client, store: store, path: path, domain: id.Domain}
}

// TestEndToEndLiveRecovery walks a whole recovery through the real program against a
// simulated tenant mid-incident: the overview shows the incident, the diff lists it, p
// plans the restore, a opens the confirmation, the typed domain starts the run, and v
// verifies the tenant is back.
func TestEndToEndLiveRecovery(t *testing.T) {
	lt := newLiveTenant(t)
	m := New(Options{Store: lt.store, Path: lt.path, Client: lt.client, Operator: "console test", Now: func() time.Time { return simClock }})
	seen := &atomic.Pointer[string]{}
	tm := teatest.NewTestModel(t, probe{Model: m, seen: seen},
		teatest.WithInitialTermSize(140, 45),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
	// The renderer redraws only the cells that changed, so text on the screen is not
	// always contiguous in the output: wait on the screen as the model last drew it.
	wait := func(what string, d time.Duration) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func([]byte) bool {
			s := seen.Load()
			return s != nil && strings.Contains(*s, what)
		}, teatest.WithDuration(d), teatest.WithCheckInterval(10*time.Millisecond))
	}
	typeKeys := func(keys ...string) {
		for _, k := range keys {
			tm.Send(press(k))
		}
	}
	typeText := func(s string) {
		for _, r := range s {
			tm.Send(press(string(r)))
		}
	}
	wait("simulated: ", 10*time.Second)
	wait("changes since snapshot 1", 20*time.Second)

	// The bin: mark the object purged soonest, plan its restore alone.
	typeKeys(":", "b", "i", "n", "enter")
	wait("0 marked", 10*time.Second)
	typeKeys(" ", "enter")
	wait("scoped to 1 object", 30*time.Second)

	typeKeys(":", "d", "i", "f", "f", "enter")
	wait("→ the live tenant", 10*time.Second)
	wait("hard deleted", 10*time.Second)

	typeKeys("p")
	wait("steps in", 30*time.Second)

	typeKeys("a")
	wait("Type the tenant's primary domain", 5*time.Second)
	typeText("wrong.example")
	typeKeys("enter")
	wait("is not the tenant's primary domain", 5*time.Second)
	typeText(lt.domain)
	typeKeys("enter")
	wait("FINISHED", 60*time.Second)

	typeKeys("v")
	wait("Still different", 30*time.Second)
	typeKeys("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
	final := tm.FinalModel(t).(probe).Model
	defer final.Close()
	r := final.base["run"].(*runScreen)
	if r.err != nil || r.report == nil || r.report.Failed != 0 || r.report.Pending != 0 {
		t.Fatalf("the run did not finish cleanly: err %v, report %+v, failures %+v", r.err, r.report, r.failures)
	}
	v := final.base["verify"].(*verifyScreen)
	if v.err != nil || v.rep == nil || !v.rep.Clean {
		var diffs []string
		if v.rep != nil {
			for _, c := range v.rep.Differences {
				diffs = append(diffs, string(c.Kind)+" "+c.DisplayName+" "+c.Change)
			}
		}
		t.Fatalf("verify after the run is not clean: err %v; %s", v.err, strings.Join(diffs, "; "))
	}
	if final.env.live.lockout == "" || !strings.HasPrefix(final.env.live.lockout, "passed") {
		t.Errorf("the lockout check's verdict should reach the plan: %q", final.env.live.lockout)
	}
}

// probe is the console with a window on it: after every Update it keeps the screen as
// the model draws it, ANSI stripped, for the test to wait on.
type probe struct {
	Model
	seen *atomic.Pointer[string]
}

func (p probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	nm, cmd := p.Model.Update(msg)
	p.Model = nm.(Model)
	s := ansi.Strip(p.Model.View().Content)
	p.seen.Store(&s)
	return p, cmd
}
