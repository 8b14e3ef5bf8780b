package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// MicrosoftChangesPerSecond is the rate Microsoft quotes for its own Backup and Recovery:
// up to 30 hours for 500,000 changes. Drills compare lifeline's rate with it.
const MicrosoftChangesPerSecond = 500000.0 / (30 * 3600)

// DrillRunOptions say where a guided drill runs.
type DrillRunOptions struct {
	// Operator reaches the simulated tenant as lifeline does.
	Operator *graphapi.Client
	// Store receives the baseline snapshot, the journal and the ledger.
	Store *snapshots.Store
	// Scenario is the incident to inject (see ScenarioNames); Seed picks its targets.
	Scenario string
	Seed     int64
	// PasswordFile receives recreated users' generated passwords (mode 0600).
	PasswordFile string
	// Phase is told when each phase starts; Events receives apply's events.
	Phase  func(name string)
	Events func(Event)
}

// DrillPhase is one timed phase of a drill.
type DrillPhase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// DrillScore is how a drill went: the phases, what the plan held, how apply ran against
// the budget, whether verify came out clean, and a score out of 100.
type DrillScore struct {
	Scenario string         `json:"scenario"`
	TenantID string         `json:"tenant_id"`
	Snapshot int64          `json:"snapshot"`
	Incident IncidentReport `json:"incident"`
	Phases   []DrillPhase   `json:"phases"`
	Plan     PlanSummary    `json:"plan"`
	Steps    int            `json:"steps"`
	Apply    *ApplyReport   `json:"apply"`
	Verify   *VerifyReport  `json:"verify"`
	// RecoverySeconds is plan + apply + verify: the time from "we know what happened"
	// to "the tenant is back".
	RecoverySeconds float64 `json:"recovery_seconds"`
	// ChangesPerSecond is apply's completed steps per second; VersusMicrosoft is how many
	// times Microsoft's quoted rate that is.
	ChangesPerSecond float64 `json:"changes_per_s"`
	VersusMicrosoft  float64 `json:"versus_microsoft"`
	// Score is 100 for a clean recovery with no failed step, less for each failure
	// and each difference left.
	Score int `json:"score"`
}

// RunDrill takes a baseline, injects the incident as the attacker, plans, applies and
// verifies: the whole recovery, timed and scored. It refuses anything that is not a
// lifeline simulated tenant before any write.
func RunDrill(ctx context.Context, opts DrillRunOptions) (*DrillScore, error) {
	if _, ok := LookupScenario(opts.Scenario); !ok {
		return nil, fmt.Errorf("unknown incident %q", opts.Scenario)
	}
	id, err := CheckSimulated(ctx, opts.Operator)
	if err != nil {
		return nil, err
	}
	attacker, err := ConnectAttacker(ctx, opts.Operator, id)
	if err != nil {
		return nil, err
	}
	score := &DrillScore{Scenario: opts.Scenario, TenantID: opts.Operator.TenantID()}
	phase := func(name string, fn func() error) error {
		if opts.Phase != nil {
			opts.Phase(name)
		}
		start := time.Now()
		err := fn()
		score.Phases = append(score.Phases, DrillPhase{Name: name, Seconds: time.Since(start).Seconds()})
		return err
	}
	var target snapshots.State
	if err := phase("baseline", func() error {
		rep, err := snapshots.Capture(ctx, opts.Operator, opts.Store, snapshots.CaptureOptions{Label: "drill baseline: " + opts.Scenario})
		if err != nil {
			return err
		}
		target = snapshots.State{Store: opts.Store, Snapshot: rep.Snapshot}
		score.Snapshot = rep.Snapshot.ID
		return nil
	}); err != nil {
		return score, fmt.Errorf("taking the baseline: %w", err)
	}
	if err := phase("incident", func() error {
		score.Incident, err = InjectIncident(ctx, opts.Operator, attacker, opts.Scenario, opts.Seed)
		return err
	}); err != nil {
		return score, fmt.Errorf("injecting %s: %w", opts.Scenario, err)
	}
	var plan *Plan
	if err := phase("plan", func() error {
		live, cleanup, err := CaptureLive(ctx, opts.Operator, target.Snapshot.TenantID, nil)
		if err != nil {
			return err
		}
		defer cleanup()
		if plan, err = BuildPlan(ctx, target, live, PlanOptions{}); err != nil {
			return err
		}
		plan.DB = opts.Store.Path()
		return nil
	}); err != nil {
		return score, fmt.Errorf("planning: %w", err)
	}
	score.Plan = plan.Summary
	for _, st := range plan.Stages {
		score.Steps += len(st.Steps)
	}
	// Apply's own last step verifies; the drill keeps its report and times it apart.
	var verifySeconds float64
	if err := phase("apply", func() error {
		score.Apply, err = Apply(ctx, plan, ApplyOptions{
			Store: opts.Store, Client: opts.Operator, PlanPath: "drill:" + opts.Scenario, Operator: "lifeline drill run",
			PasswordFile: opts.PasswordFile, Events: opts.Events,
			// No staleness check: the plan was built from a capture moments ago, in
			// this process, and nothing else writes to a drill's tenant.
			Verify: func(ctx context.Context) (bool, string, error) {
				if opts.Phase != nil {
					opts.Phase("verify")
				}
				start := time.Now()
				defer func() { verifySeconds = time.Since(start).Seconds() }()
				rep, err := VerifyLive(ctx, opts.Operator, target, VerifyOptions{})
				if err != nil {
					return false, "", err
				}
				score.Verify = rep
				return rep.Settled(), VerifySentence(rep), nil
			},
		})
		return err
	}); err != nil {
		return score, fmt.Errorf("applying: %w", err)
	}
	score.Phases[3].Seconds -= verifySeconds
	score.Phases = append(score.Phases, DrillPhase{Name: "verify", Seconds: verifySeconds})
	for _, p := range score.Phases[2:] {
		score.RecoverySeconds += p.Seconds
	}
	if apply := score.Phases[3].Seconds; apply > 0 {
		score.ChangesPerSecond = float64(score.Apply.Done) / apply
		score.VersusMicrosoft = score.ChangesPerSecond / MicrosoftChangesPerSecond
	}
	score.Score = drillScore(score)
	return score, nil
}

// drillScore: 100 for a clean recovery, 10 off per failed step, 2 per skipped one, 5 per
// difference left, half off when verify could not run; never below 0. The point is a
// number a drill team can track over time.
func drillScore(s *DrillScore) int {
	n := 100
	if s.Apply != nil {
		n -= 10*s.Apply.Failed + 2*s.Apply.Skipped
	}
	if s.Verify != nil {
		n -= 5 * len(s.Verify.Differences)
	} else {
		n -= 50
	}
	return max(n, 0)
}
