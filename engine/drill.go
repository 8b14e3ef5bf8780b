package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// Drill incidents: disasters injected into a simulated tenant through ordinary Graph
// calls made by the sim's "attacker" app registration, so that the tenant's audit log
// tells the story the responder then reads. They refuse to touch anything that does not
// prove, through the operator's /_sim/identity, that it is a lifeline simulated tenant.

// Scenario is one incident a drill can inject.
type Scenario struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// drillScenarios are the incidents, in the order `drill list` shows them.
var drillScenarios = []struct {
	Scenario
	run func(ctx context.Context, in *injector) error
}{
	{Scenario{"mass-user-deletion", "A third of the users soft-deleted, administrators and break-glass accounts among them; one Global Administrator is kept alive so that a recovery is possible."}, runMassUserDeletion},
	{Scenario{"group-purge", "Half of the groups that Conditional Access policies, directory roles and app role assignments point at, deleted and then permanently deleted: their assignments are gone and the CA policies name ids that no longer exist."}, runGroupPurge},
	{Scenario{"app-deletion", "A third of the applications deleted with their service principals, delegated grants and app role assignments, half of them permanently; CA policies keep the dangling appIds."}, runAppDeletion},
	{Scenario{"ca-tampering", "Conditional Access undermined: break-glass exclusions removed, policies switched to report-only or disabled, MFA removed or made optional, policies and named locations deleted to the CA recycle bin and some of them purged, and a new policy pushed that blocks every user."}, runCATampering},
	{Scenario{"attribute-tampering", "A quarter of the users get a new department, job title or usage location or are disabled; a backdoor account made Global Administrator and member of the role-assignable groups; a third of the groups and applications taken over by it, their owners removed."}, runAttributeTampering},
	{Scenario{"slow-burn", "A quiet compromise over 40 days of the sim's clock: a backdoor admin first, users, groups, apps, a CA policy and a named location deleted in the first 8 days, then CA, attributes and owners tampered with; by day 40 the recycle bins have purged what it deleted, so everything must be recreated."}, runSlowBurn},
	{Scenario{"kitchen-sink", "All of it at once: attribute-tampering, ca-tampering, app-deletion, group-purge and mass-user-deletion, in that order."}, runKitchenSink},
}

// Scenarios returns the incidents a drill can inject, in a stable order.
func Scenarios() []Scenario {
	out := make([]Scenario, len(drillScenarios))
	for i, d := range drillScenarios {
		out[i] = d.Scenario
	}
	return out
}

// ScenarioNames returns the incidents' names, in Scenarios' order.
func ScenarioNames() []string {
	out := make([]string, len(drillScenarios))
	for i, d := range drillScenarios {
		out[i] = d.Name
	}
	return out
}

// LookupScenario finds an incident by its exact name.
func LookupScenario(name string) (Scenario, bool) {
	for _, d := range drillScenarios {
		if d.Name == name {
			return d.Scenario, true
		}
	}
	return Scenario{}, false
}

// IncidentReport is what an injected incident did, in the order it did it. Its JSON shape
// is what `lifeline drill incident --json` prints.
type IncidentReport struct {
	Scenario string `json:"scenario"`
	TenantID string `json:"tenant_id"`
	// Actor is the display name of the app registration that made the writes (the
	// audit log's initiatedBy.app).
	Actor string `json:"actor"`
	// ActorAppID is the actor's appId.
	ActorAppID string `json:"-"`
	// Seed chose the targets; the same seed on the same tenant chooses the same ones.
	Seed int64 `json:"-"`
	// ClockBefore and ClockAfter are the sim's clock when the incident began and ended.
	ClockBefore time.Time        `json:"clock_before"`
	ClockAfter  time.Time        `json:"clock_after"`
	Actions     []IncidentAction `json:"actions"`
	// Error is set by callers that print a report of an incident that stopped halfway.
	Error string `json:"error,omitempty"`

	progress func(IncidentAction)
}

// IncidentAction is one kind of write made to many objects, or one advance of the clock.
type IncidentAction struct {
	// Action is what was done: soft-delete (to a recycle bin), purge (from it), delete
	// (kinds without a bin), create, set-department, set-jobTitle, set-usageLocation,
	// disable-account, add-member (the attacker's account into groups), add-app-member
	// (the attacker app's service principal into a group), add-owner, remove-owner,
	// assign-role, remove-break-glass-exclusion, set-report-only, disable-policy,
	// weaken-grant-controls, expire (purged by the tenant when the retention ran out),
	// advance-clock.
	Action string `json:"action"`
	// Kind is the entra kind of the objects (of the holders, for link changes), or
	// "clock" for advance-clock.
	Kind string `json:"kind"`
	// Count is len(IDs), or the hours advanced for advance-clock.
	Count int `json:"count"`
	// IDs are the objects written, sorted.
	IDs []string `json:"ids"`
	// Summary says it in a sentence, for people.
	Summary string `json:"-"`
}

// SimIdentity is a simulated tenant's answer to GET /_sim/identity.
type SimIdentity struct {
	Simulated bool      `json:"simulated"`
	TenantID  string    `json:"tenant_id"`
	Domain    string    `json:"domain"`
	Clock     time.Time `json:"clock"`
	Users     int       `json:"users"`
	Throttle  string    `json:"throttle"`
}

// CheckSimulated asks the tenant behind operator to prove it is a lifeline simulated
// tenant (GET /_sim/identity, which only the sim's operator app may read) and that it is
// the tenant operator is signed in to. Anything else gets a one-sentence refusal.
func CheckSimulated(ctx context.Context, operator *graphapi.Client) (SimIdentity, error) {
	var id SimIdentity
	where := operator.Root()
	resp, err := operator.Raw(ctx, http.MethodGet, "/_sim/identity", nil)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return id, err
		}
		why := "it did not answer GET /_sim/identity"
		var gerr *graphapi.Error
		if errors.As(err, &gerr) {
			why = fmt.Sprintf("GET /_sim/identity answered %d", gerr.Status)
			if gerr.Status == http.StatusUnauthorized || gerr.Status == http.StatusForbidden {
				return id, fmt.Errorf("refusing to inject an incident into %s: %s, so either it is not a lifeline simulated tenant or the signed-in app is not its operator, and drills run only as the operator of a simulated tenant.", where, why)
			}
		}
		return id, fmt.Errorf("refusing to inject an incident into %s: it is not a lifeline simulated tenant (%s), and drills write only to simulated tenants.", where, why)
	}
	if json.Unmarshal(resp.Body, &id) != nil || !id.Simulated {
		return id, fmt.Errorf("refusing to inject an incident into %s: GET /_sim/identity did not answer {\"simulated\": true}, so it is not a lifeline simulated tenant.", where)
	}
	if id.TenantID == "" || !strings.EqualFold(id.TenantID, operator.TenantID()) {
		return id, fmt.Errorf("refusing to inject an incident into %s: the simulated tenant says it is %q but the operator is signed in to %q.", where, id.TenantID, operator.TenantID())
	}
	return id, nil
}

// drillUnlimited is the pacer budget of a sim that does not throttle.
var drillUnlimited = graphapi.Budget{ResourceUnitsPer10s: 1 << 30, WritesPer150s: 1 << 30, ConditionalAccessPerSecond: 1 << 20, AuditPer10s: 1 << 30}

// AttackerConfig is the configuration of the drill's attacker client for the simulated
// tenant id behind graphURL: the sim's built-in attacker app, paced to Graph's budget for
// a tenant of the sim's size, or not at all when the sim does not throttle.
func AttackerConfig(graphURL string, id SimIdentity) graphapi.Config {
	cfg := graphapi.Config{
		GraphURL:     graphURL,
		TenantID:     id.TenantID,
		ClientID:     graphapi.AttackerClientID,
		ClientSecret: graphapi.AttackerClientSecret,
		Budget:       graphapi.BudgetForTenantSize(id.Users),
	}
	if id.Throttle == "off" {
		cfg.Budget = drillUnlimited
	}
	return cfg
}

// ConnectAttacker signs in as the drill's attacker app to the simulated tenant that
// operator reaches (id is CheckSimulated's answer).
func ConnectAttacker(ctx context.Context, operator *graphapi.Client, id SimIdentity) (*graphapi.Client, error) {
	c, err := graphapi.New(ctx, AttackerConfig(operator.GraphURL(), id))
	if err != nil {
		return nil, fmt.Errorf("could not sign in as the drill's attacker app: %w", err)
	}
	return c, nil
}

// InjectIncident injects the named incident into the simulated tenant: every write is
// made by attacker, the clock is advanced through operator's /_sim/clock, and targets
// are drawn from seed over live objects sorted by id. Before any write it checks, through
// operator, that the tenant is simulated and that both clients reach it. On failure the
// report holds what was done before the failing write.
func InjectIncident(ctx context.Context, operator, attacker *graphapi.Client, name string, seed int64) (IncidentReport, error) {
	return InjectIncidentWith(ctx, operator, attacker, name, seed, IncidentOptions{})
}

// IncidentOptions are the optional settings of InjectIncidentWith.
type IncidentOptions struct {
	// Progress, when set, is called with each action as soon as it is done (the sim's
	// clock advances included), from the calling goroutine.
	Progress func(IncidentAction)
}

// InjectIncidentWith is InjectIncident with options.
func InjectIncidentWith(ctx context.Context, operator, attacker *graphapi.Client, name string, seed int64, opts IncidentOptions) (IncidentReport, error) {
	rep := IncidentReport{Scenario: name, Seed: seed, Actions: []IncidentAction{}, progress: opts.Progress}
	var run func(context.Context, *injector) error
	for _, d := range drillScenarios {
		if d.Name == name {
			run = d.run
		}
	}
	if run == nil {
		return rep, fmt.Errorf("unknown incident %q: use one of %s.", name, strings.Join(ScenarioNames(), ", "))
	}
	id, err := CheckSimulated(ctx, operator)
	if err != nil {
		return rep, err
	}
	rep.TenantID = id.TenantID
	rep.ClockBefore, rep.ClockAfter = id.Clock, id.Clock
	if attacker.Root() != operator.Root() || !strings.EqualFold(attacker.TenantID(), id.TenantID) {
		return rep, fmt.Errorf("refusing to inject an incident: the attacker app is signed in to tenant %q at %s, not to the simulated tenant %s at %s.", attacker.TenantID(), attacker.Root(), id.TenantID, operator.Root())
	}
	in := &injector{op: operator, at: attacker, id: id, seed: seed, rep: &rep, created: map[string]bool{}}
	if err := in.whoAmI(ctx); err != nil {
		return rep, err
	}
	err = run(ctx, in)
	if now, cerr := in.clock(ctx); cerr == nil {
		rep.ClockAfter = now
	}
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return rep, fmt.Errorf("the %s incident was interrupted after %d action(s); the report lists what was done.", name, len(rep.Actions))
		}
		return rep, fmt.Errorf("the %s incident stopped %s; the report lists what was done before.", name, strings.TrimRight(err.Error(), ". "))
	}
	return rep, nil
}

// add appends an action (nothing when ids is empty), its ids sorted.
func (r *IncidentReport) add(action, kind string, ids []string, summary string) {
	if len(ids) == 0 {
		return
	}
	ids = append([]string(nil), ids...)
	sort.Strings(ids)
	r.record(IncidentAction{Action: action, Kind: kind, Count: len(ids), IDs: ids, Summary: summary})
}

func (r *IncidentReport) record(a IncidentAction) {
	r.Actions = append(r.Actions, a)
	if r.progress != nil {
		r.progress(a)
	}
}
