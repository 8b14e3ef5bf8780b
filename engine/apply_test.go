package engine

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// recovery is a drill tenant with its baseline captured into a snapshot file.
type recovery struct {
	*drillTenant
	store  *snapshots.Store
	target snapshots.State
	dir    string
}

func newRecovery(t *testing.T, users int, seed int64) *recovery {
	t.Helper()
	return newRecoveryOpened(t, users, seed, snapshots.OpenOptions{Create: true})
}

// newRecoveryOpened is newRecovery with the snapshot file opened with opts.
func newRecoveryOpened(t *testing.T, users int, seed int64, opts snapshots.OpenOptions) *recovery {
	t.Helper()
	d := newDrillTenant(t, users, seed)
	dir := t.TempDir()
	ctx := context.Background()
	store, err := snapshots.Open(ctx, filepath.Join(dir, "tenant.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	rep, err := snapshots.Capture(ctx, d.op, store, snapshots.CaptureOptions{Label: "baseline"})
	if err != nil {
		t.Fatal(err)
	}
	return &recovery{drillTenant: d, store: store, target: snapshots.State{Store: store, Snapshot: rep.Snapshot}, dir: dir}
}

// plan captures the live tenant and builds the plan back to the baseline.
func (r *recovery) plan(t *testing.T) *Plan {
	t.Helper()
	return r.planTo(t, r.target, PlanOptions{})
}

// planTo captures the live tenant and builds the plan back to target with opts.
func (r *recovery) planTo(t *testing.T, target snapshots.State, opts PlanOptions) *Plan {
	t.Helper()
	ctx := context.Background()
	live, cleanup, err := CaptureLive(ctx, r.op, r.target.Snapshot.TenantID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	p, err := BuildPlan(ctx, target, live, opts)
	if err != nil {
		t.Fatal(err)
	}
	p.DB = r.store.Path()
	return p
}

// scopedOptions is options(nil) with the verify step scoped, as the CLI runs a scoped
// plan's.
func (r *recovery) scopedOptions(scope []graphx.NodeID) ApplyOptions {
	opts := r.options(nil)
	opts.Verify = func(ctx context.Context) (bool, string, error) {
		rep, err := VerifyLive(ctx, r.op, r.target, VerifyOptions{Scope: scope})
		if err != nil {
			return false, "", err
		}
		return rep.Settled(), VerifySentence(rep), nil
	}
	return opts
}

func (r *recovery) options(events *[]Event) ApplyOptions {
	var mu sync.Mutex
	return ApplyOptions{
		Store: r.store, Client: r.op, PlanPath: "plan.json", Operator: "test",
		PasswordFile: filepath.Join(r.dir, "passwords"),
		Fingerprint: func(ctx context.Context) (string, error) {
			return LiveFingerprint(ctx, r.op, r.target.Snapshot.TenantID)
		},
		Verify: func(ctx context.Context) (bool, string, error) {
			rep, err := VerifyLive(ctx, r.op, r.target, VerifyOptions{})
			if err != nil {
				return false, "", err
			}
			return rep.Clean, VerifySentence(rep), nil
		},
		Events: func(e Event) {
			if events == nil {
				return
			}
			mu.Lock()
			*events = append(*events, e)
			mu.Unlock()
		},
	}
}

func TestApplyRecoversKitchenSink(t *testing.T) {
	t.Parallel()
	r := newRecovery(t, 60, 7)
	r.inject(t, "kitchen-sink", 7)
	plan := r.plan(t)
	var events []Event
	rep, err := Apply(context.Background(), plan, r.options(&events))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Failures {
		t.Errorf("failed: %s %s", f.ID, f.Reason)
	}
	if rep.Pending != 0 || rep.Failed != 0 {
		t.Fatalf("report: %+v", rep)
	}
	if rep.Recreated == 0 {
		t.Errorf("kitchen-sink recreates users: recreated %d, passwords %d", rep.Recreated, rep.Passwords)
	}
	if last := events[len(events)-1]; last.Type != EventFinished {
		t.Errorf("last event %+v", last)
	}
	// A plan is applied once, as Terraform applies a saved plan once: running it again
	// is refused, sends nothing, and says how to check the tenant instead.
	before := r.op.Stats().Writes
	if _, err := Apply(context.Background(), plan, r.options(nil)); err == nil || !strings.Contains(err.Error(), "was applied completely") || r.op.Stats().Writes != before {
		t.Errorf("second apply of a finished plan: %v, writes %d -> %d", err, before, r.op.Stats().Writes)
	}
}

// TestResumeRefusedAfterAnotherPlan: a plan stopped part way, then a newer plan applied
// in full: resuming the first would recreate what the second restored, so it is refused
// as stale, before anything is sent.
func TestResumeRefusedAfterAnotherPlan(t *testing.T) {
	t.Parallel()
	r := newRecovery(t, 40, 21)
	r.inject(t, "group-purge", 21)
	first := r.plan(t)
	stop := r.options(nil)
	stop.failpoint = crashAt("after-journal", 1)
	if _, err := Apply(context.Background(), first, stop); !errors.Is(err, errCrash) {
		t.Fatalf("first apply: %v", err)
	}
	second := r.plan(t)
	if rep, err := Apply(context.Background(), second, r.options(nil)); err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("second plan: %+v, %v", rep, err)
	}
	before := r.op.Stats().Writes
	_, err := Apply(context.Background(), first, r.options(nil))
	if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "wrote to the tenant since") || r.op.Stats().Writes != before {
		t.Fatalf("resuming the first plan after the second: %v, writes %d -> %d", err, before, r.op.Stats().Writes)
	}
	r.assertNoDuplicates(t)
}

// A second incident after a restore, planned back to the same snapshot: the objects the
// first restore recreated match their originals through the ledger. The plan neither
// recreates them again nor removes their copies' assignments as additions, and the
// second restore applies cleanly.
func TestApplyTwiceToTheSameSnapshotThroughTheLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 60, 11)
	r.inject(t, "group-purge", 11)
	first, err := Apply(ctx, r.plan(t), r.options(nil))
	if err != nil || first.Failed != 0 || first.Recreated == 0 {
		t.Fatalf("first restore: %+v, %v", first, err)
	}
	ledger, err := r.store.Ledger(ctx, r.target.Snapshot.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	copies := map[string]bool{}
	for _, e := range ledger {
		copies[e.NewID] = true
	}
	recreated, err := RecreatedByRestores(ctx, r.target)
	if err != nil || len(recreated.now) != first.Recreated {
		t.Errorf("RecreatedByRestores: %d objects (%v), the restore recreated %d", len(recreated.now), err, first.Recreated)
	}
	for old, now := range recreated.now {
		if !copies[now] || old == now {
			t.Errorf("RecreatedByRestores: %s -> %s is not in the ledger", old, now)
		}
	}
	r.inject(t, "group-purge", 12)
	plan := r.plan(t)
	for _, st := range plan.Stages {
		for _, s := range st.Steps {
			if copies[s.ObjectID] {
				t.Errorf("%s step %s %s names %s, the first restore's copy of an object: it must be named by its snapshot id", st.Name, s.Action, s.Kind, s.ObjectID)
			}
		}
	}
	second, err := Apply(ctx, plan, r.options(nil))
	if err != nil || second.Failed != 0 || second.Pending != 0 {
		t.Fatalf("second restore: %+v, %v", second, err)
	}
	rep, err := VerifyLive(ctx, r.op, r.target, VerifyOptions{})
	if err != nil || !rep.Clean {
		t.Fatalf("after the second restore: %v, %v", rep, err)
	}
}

// Three kitchen-sink incidents in a row, each restored back to the same snapshot. From
// the second on, an assignment or grant an earlier restore recreated is hidden while
// its principal is in the recycle bin, so the plan recreates it; restoring the
// principal brings the copy back, and apply adopts it (the ledger makes it the step's
// own) instead of failing with "already exists". A copy that names an object the plan
// recreates again is deleted instead (which of them do depends on the order Graph
// answered in; TestRestoreReplacesAnEarlierCopyNamingAnObjectRecreatedAgain builds
// that case on purpose).
func TestApplyThreeKitchenSinksToTheSameSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 300, 5)
	for seed := int64(1); seed <= 3; seed++ {
		r.inject(t, "kitchen-sink", seed)
		rep, err := Apply(ctx, r.plan(t), r.options(nil))
		if err != nil || rep.Failed != 0 || rep.Pending != 0 {
			for _, f := range rep.Failures {
				t.Logf("failed: %s", f.Reason)
			}
			t.Fatalf("restore %d: done %d, failed %d, pending %d, %v", seed, rep.Done, rep.Failed, rep.Pending, err)
		}
	}
	if rep, err := VerifyLive(ctx, r.op, r.target, VerifyOptions{}); err != nil || !rep.Clean {
		t.Fatalf("after three restores: %v, %v", rep, err)
	}
}

// Right after a clean restore, a new plan back to the same snapshot has nothing to do
// and nothing to warn about: what Graph stamps on the recreated copies (creation times,
// security identifiers) is not a change to undo.
func TestPlanRightAfterARestoreIsEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 60, 7)
	r.inject(t, "kitchen-sink", 7)
	rep, err := Apply(ctx, r.plan(t), r.options(nil))
	if err != nil || rep.Failed != 0 || rep.Recreated == 0 {
		t.Fatalf("restore: %+v, %v", rep, err)
	}
	again := r.plan(t)
	for _, st := range again.Stages {
		for _, s := range st.Steps {
			if s.Action != ActionVerify {
				t.Errorf("%s: %s %s %s (%s)", st.Name, s.Action, s.Kind, s.DisplayName, s.ObjectID)
			}
		}
	}
	for _, w := range again.Warnings {
		t.Errorf("warning: %s", w)
	}
}

// A capture into the snapshot file while an apply runs holds the file's write lock for
// as long as it takes: the apply waits for it, says so, and finishes.
func TestApplyWaitsForAnotherWriterOfTheFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecoveryOpened(t, 30, 5, snapshots.OpenOptions{Create: true, BusyTimeout: 50 * time.Millisecond})
	r.inject(t, "mass-user-deletion", 5)
	plan := r.plan(t)
	other, err := sql.Open("sqlite", r.store.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	holder, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	var events []Event
	opts := r.options(&events)
	record, released := opts.Events, make(chan struct{})
	var once sync.Once
	opts.Events = func(e Event) {
		record(e)
		if e.Type != EventStage {
			return
		}
		once.Do(func() { // the run is under way: another process takes the file for 0.5 s
			if _, err := holder.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
				t.Error(err)
			}
			time.AfterFunc(500*time.Millisecond, func() {
				holder.ExecContext(ctx, "ROLLBACK")
				close(released)
			})
		})
	}
	rep, err := Apply(ctx, plan, opts)
	<-released
	if err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("apply beside another writer: %+v, %v", rep, err)
	}
	waited := false
	for _, e := range events {
		waited = waited || e.Type == EventRun && strings.Contains(e.Message, "another process (a capture or an import) is writing it")
	}
	if !waited {
		t.Error("the apply never said it was waiting for the file")
	}
}

func TestApplyRefusesStalePlanAndOtherTenant(t *testing.T) {
	t.Parallel()
	r := newRecovery(t, 30, 3)
	r.inject(t, "mass-user-deletion", 3)
	plan := r.plan(t)
	// The tenant moves on after the plan was built.
	r.inject(t, "attribute-tampering", 4)
	_, err := Apply(context.Background(), plan, r.options(nil))
	if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "lifeline plan") {
		t.Fatalf("stale plan: %v", err)
	}
	if run, ok, _ := r.store.Run(context.Background(), PlanHash(plan)); ok {
		t.Errorf("a refused plan left a run: %+v", run)
	}
	other := *plan
	other.TenantID = "00000000-0000-0000-0000-000000000000"
	if _, err := Apply(context.Background(), &other, r.options(nil)); err == nil || !strings.Contains(err.Error(), "tenant") {
		t.Fatalf("other tenant: %v", err)
	}
}

// TestApplyRecoversEveryScenario runs each drill end to end on a fresh small tenant:
// baseline, incident, plan, apply (whose last step verifies), and a separate verify.
func TestApplyRecoversEveryScenario(t *testing.T) {
	t.Parallel()
	for i, name := range ScenarioNames() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			seed := int64(20 + i)
			r := newRecovery(t, 40, seed)
			r.inject(t, name, seed)
			plan := r.plan(t)
			rep, err := Apply(context.Background(), plan, r.options(nil))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range append(rep.Failures, rep.Skips...) {
				t.Errorf("%s %s: %s", f.Stage, f.ID, f.Reason)
			}
			if rep.Done == 0 || rep.Pending != 0 {
				t.Fatalf("done %d, pending %d", rep.Done, rep.Pending)
			}
			v, err := VerifyLive(context.Background(), r.op, r.target, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !v.Clean {
				for _, d := range v.Differences {
					t.Errorf("still differs: %s %s %q %s %+v %+v", d.Change, d.Kind, d.DisplayName, d.ID, d.Properties, d.Links)
				}
			}
			if rep.Passwords > 0 {
				info, err := os.Stat(rep.PasswordFile)
				if err != nil || info.Mode().Perm() != 0o600 {
					t.Errorf("password file: %v %v", info, err)
				}
			}
		})
	}
}

// TestApplyPauseResumeAndPace drives the console's keys from another goroutine: the run
// holds while paused, says so, takes a new pace, and finishes once resumed.
func TestApplyPauseResumeAndPace(t *testing.T) {
	t.Parallel()
	r := newRecovery(t, 30, 5)
	r.inject(t, "group-purge", 5)
	plan := r.plan(t)
	ctl := NewControl()
	ctl.Pause()
	opts := r.options(nil)
	opts.Control = ctl
	paused := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var seen []string
	opts.Events = func(e Event) {
		mu.Lock()
		seen = append(seen, e.Type)
		mu.Unlock()
		if e.Type == EventPaused {
			once.Do(func() { close(paused) })
		}
	}
	go func() {
		<-paused
		ctl.SetPace(0.5)
		ctl.Resume()
	}()
	rep, err := Apply(context.Background(), plan, opts)
	if err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("apply: %v %+v", err, rep)
	}
	mu.Lock()
	defer mu.Unlock()
	joined := strings.Join(seen, ",")
	if !strings.Contains(joined, "paused,resumed") || ctl.Pace() != 0.5 || r.op.Stats().Pace != 0.5 {
		t.Errorf("events %s, pace %v / %v", joined, ctl.Pace(), r.op.Stats().Pace)
	}
}

// TestApplyRecoversTheDemoTenant is the demo's own recovery (3,000 users, seed 42,
// kitchen-sink): two purged applications name each other (known clients, required
// resource access), a cycle the plan must break for both to be recreated.
func TestApplyRecoversTheDemoTenant(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("3,000 users")
	}
	r := newRecovery(t, 3000, 42)
	r.inject(t, "kitchen-sink", 42)
	plan := r.plan(t)
	rep, err := Apply(context.Background(), plan, r.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(rep.Failures, rep.Skips...) {
		t.Errorf("%s %s %s: %s", f.Stage, f.Action, f.DisplayName, f.Reason)
	}
	if rep.Failed+rep.Skipped+rep.Pending != 0 {
		t.Fatalf("done %d, failed %d, skipped %d, pending %d", rep.Done, rep.Failed, rep.Skipped, rep.Pending)
	}
}

// TestApplyLockoutKeepsPoliciesInReportOnly: the snapshot itself holds a policy that
// blocks everyone, break-glass accounts included. Restoring it would lock the tenant
// out, so the lockout check fails, names it, and every restored policy stays in
// report-only; the rest of the plan completes.
func TestApplyLockoutKeepsPoliciesInReportOnly(t *testing.T) {
	t.Parallel()
	d := newDrillTenant(t, 40, 19)
	ctx := context.Background()
	policies := d.list(t, "/identity/conditionalAccess/policies", false)
	victim := policies[0]["id"].(string)
	blockAll := `{"state":"enabled","conditions":{"users":{"includeUsers":["All"],"excludeUsers":[],"excludeGroups":[],"excludeRoles":[]},` +
		`"applications":{"includeApplications":["All"]}},"grantControls":{"operator":"OR","builtInControls":["block"]}}`
	if _, err := d.op.Do(ctx, graphapi.Request{Method: "PATCH", Path: "/identity/conditionalAccess/policies/" + victim, Body: []byte(blockAll)}); err != nil {
		t.Fatal(err)
	}
	r := &recovery{drillTenant: d, dir: t.TempDir()}
	store, err := snapshots.Open(ctx, filepath.Join(r.dir, "tenant.db"), snapshots.OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	snap, err := snapshots.Capture(ctx, d.op, store, snapshots.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r.store, r.target = store, snapshots.State{Store: store, Snapshot: snap.Snapshot}
	// The incident switches the blocking policy to report-only among others.
	r.inject(t, "ca-tampering", 19)
	if _, err := d.at.Do(ctx, graphapi.Request{Method: "PATCH", Path: "/identity/conditionalAccess/policies/" + victim, Body: []byte(`{"state":"disabled"}`)}); err != nil {
		t.Fatal(err)
	}
	plan := r.plan(t)
	rep, err := Apply(ctx, plan, r.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Lockouts) == 0 || rep.Lockouts[0].PolicyID != victim || !strings.Contains(rep.Lockouts[0].Reason, "Break Glass") {
		t.Fatalf("lockouts: %+v", rep.Lockouts)
	}
	var lockFailed bool
	for _, f := range rep.Failures {
		lockFailed = lockFailed || f.Action == ActionLockoutCheck
	}
	enforceSkipped := 0
	for _, s := range rep.Skips {
		if s.Action == ActionEnforce {
			enforceSkipped++
		}
	}
	if !lockFailed || enforceSkipped == 0 {
		t.Errorf("the lockout check must fail and hold every enforce step: %+v", rep)
	}
	if p, _ := d.get(t, "/identity/conditionalAccess/policies/"+victim, false); p["state"] != CAReportOnly {
		t.Errorf("the blocking policy is %v, not report-only", p["state"])
	}
}

// TestApplyRefusesAPasswordFileOthersCanRead: the plan recreates users, and the file
// for their passwords is readable by others; apply refuses before writing anything.
func TestApplyRefusesAPasswordFileOthersCanRead(t *testing.T) {
	t.Parallel()
	r := newRecovery(t, 30, 23)
	r.inject(t, "slow-burn", 23)
	plan := r.plan(t)
	opts := r.options(nil)
	if err := os.WriteFile(opts.PasswordFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	before := r.op.Stats().Writes
	_, err := Apply(context.Background(), plan, opts)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("apply with a world-readable password file: %v", err)
	}
	if r.op.Stats().Writes != before {
		t.Error("apply wrote to the tenant before refusing")
	}
	if _, ok, _ := r.store.Run(context.Background(), PlanHash(plan)); ok {
		t.Error("a refused apply left a run in the journal")
	}
}

// scopedAssignment is a user's role assignment scoped to an application.
type scopedAssignment struct{ id, app, principal, role string }

// userAssignmentScopedToApp finds the first user's role assignment scoped to an
// application in r's tenant.
func (r *recovery) userAssignmentScopedToApp(t *testing.T) scopedAssignment {
	t.Helper()
	apps := r.ids(t, "/applications", false)
	users := r.ids(t, "/users", false)
	for _, a := range r.list(t, "/roleManagement/directory/roleAssignments", false) {
		scope, _ := a["directoryScopeId"].(string)
		if p, _ := a["principalId"].(string); apps[strings.TrimPrefix(scope, "/")] && users[p] {
			role, _ := a["roleDefinitionId"].(string)
			return scopedAssignment{id: a["id"].(string), app: strings.TrimPrefix(scope, "/"), principal: p, role: role}
		}
	}
	t.Fatal("the tenant has no user's role assignment scoped to an application")
	return scopedAssignment{}
}

// A role assignment scoped to an application that is purged is replaced by one scoped
// to the application's copy (Graph cannot update an assignment). That copy is hidden
// while its principal waits in the bin; when the application's copy is purged in turn,
// the plan recreates the assignment at the newest copy and deletes the earlier one once
// the principal's restore brings it back, instead of leaving it scoped to nothing.
func TestRestoreReplacesAnEarlierCopyNamingAnObjectRecreatedAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 300, 5)
	a := r.userAssignmentScopedToApp(t)
	assignment, app, principal := a.id, a.app, a.principal
	restore := func(round string) *Plan {
		t.Helper()
		plan := r.plan(t)
		rep, err := Apply(ctx, plan, r.options(nil))
		if err != nil || rep.Failed != 0 || rep.Pending != 0 {
			for _, f := range rep.Failures {
				t.Logf("failed: %s", f.Reason)
			}
			t.Fatalf("%s: done %d, failed %d, pending %d, %v", round, rep.Done, rep.Failed, rep.Pending, err)
		}
		return plan
	}
	r.attack(t, "DELETE", "/applications/"+app)
	r.attack(t, "DELETE", "/directory/deletedItems/"+app)
	first := restore("first restore")
	if first.Summary.Removals == 0 {
		t.Errorf("the replaced assignment's deletion is not counted among the plan's removals: %+v", first.Summary)
	}
	for _, w := range first.Warnings {
		if strings.Contains(w, assignment) {
			t.Errorf("the first plan leaves the assignment scoped to the purged application to a person: %s", w)
		}
	}
	ledger, err := LoadLedger(ctx, r.store, r.target.Snapshot.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	appCopy, copy := ledger.IDs[app], ledger.IDs[assignment]
	if appCopy == "" || copy == "" {
		t.Fatalf("the first restore recreated neither the application nor its assignment: %v", ledger.IDs)
	}

	r.attack(t, "DELETE", "/users/"+principal)
	r.attack(t, "DELETE", "/applications/"+appCopy)
	r.attack(t, "DELETE", "/directory/deletedItems/"+appCopy)
	plan := restore("second restore")
	removes := false
	for _, st := range plan.Stages {
		for _, s := range st.Steps {
			removes = removes || st.Name == StageRelink && s.Action == ActionRemoveObject && s.ObjectID == copy
		}
	}
	if !removes {
		t.Errorf("the second plan does not delete the first restore's copy %s of the assignment", copy)
	}
	if _, ok := r.get(t, "/roleManagement/directory/roleAssignments/"+copy, false); ok {
		t.Errorf("the first restore's copy %s is still there", copy)
	}
	if rep, err := VerifyLive(ctx, r.op, r.target, VerifyOptions{}); err != nil || !rep.Clean {
		t.Fatalf("after the second restore: %+v, %v", rep.Differences, err)
	}
}

// TestResumeRefusedWhenAnObjectToRecreateWasMadeSince: a plan stops part way; someone
// recreates one of the purged groups it still has to recreate (another restore,
// journaled in another file, or a person); resuming would make a second group of the
// same name, so it is refused before anything is sent.
func TestResumeRefusedWhenAnObjectToRecreateWasMadeSince(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 21)
	r.inject(t, "mass-user-deletion", 21)
	r.inject(t, "group-purge", 21)
	plan := r.plan(t)
	var group *Step
	for _, st := range plan.Stages {
		for i, s := range st.Steps {
			if s.Action == ActionRecreate && s.Kind == "group" && group == nil {
				group = &st.Steps[i]
			}
		}
	}
	if group == nil {
		t.Fatal("the plan recreates no group")
	}
	// Stopped after the first round of restores from the bin: no create went out.
	stop := r.options(nil)
	stop.failpoint = crashAt("after-journal", 1)
	if _, err := Apply(ctx, plan, stop); !errors.Is(err, errCrash) {
		t.Fatalf("first apply: %v", err)
	}
	var body map[string]any
	if err := json.Unmarshal(group.Requests[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	made, err := json.Marshal(map[string]any{"displayName": body["displayName"], "mailNickname": body["mailNickname"],
		"mailEnabled": body["mailEnabled"], "securityEnabled": body["securityEnabled"], "groupTypes": body["groupTypes"]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.op.Do(ctx, graphapi.Request{Method: "POST", Path: "/groups", Body: made}); err != nil {
		t.Fatal(err)
	}
	before := r.op.Stats().Writes
	_, err = Apply(ctx, plan, r.options(nil))
	if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "already exist in the tenant") || r.op.Stats().Writes != before {
		t.Fatalf("resuming after the group was made: %v, writes %d -> %d", err, before, r.op.Stats().Writes)
	}
}

// A user's role assignment scoped to an application: the user soft-deleted (Graph hides
// the assignment with them), the application purged. The plan restores the user, which
// brings the assignment back still scoped to the purged application, and recreates it
// at the application's copy: the original must be deleted once it is back, not left
// beside its replacement (verify, matching the original to the copy through the ledger,
// would not see it).
func TestRestoreDeletesTheOriginalAssignmentItsPrincipalBringsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 300, 5)
	a := r.userAssignmentScopedToApp(t)
	assignment, app, principal, role := a.id, a.app, a.principal, a.role
	r.attack(t, "DELETE", "/users/"+principal)
	r.attack(t, "DELETE", "/applications/"+app)
	r.attack(t, "DELETE", "/directory/deletedItems/"+app)
	plan := r.plan(t)
	if rep, err := Apply(ctx, plan, r.options(nil)); err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("restore: %+v, %v", rep, err)
	}
	if _, ok := r.get(t, "/roleManagement/directory/roleAssignments/"+assignment, false); ok {
		t.Errorf("the original assignment %s, scoped to the purged application, is still there", assignment)
	}
	held := 0
	for _, a := range r.list(t, "/roleManagement/directory/roleAssignments", false) {
		if a["principalId"] == principal && a["roleDefinitionId"] == role {
			held++
		}
	}
	if held != 1 {
		t.Errorf("the user holds the role %d times, want once (at the application's copy)", held)
	}
	if rep, err := VerifyLive(ctx, r.op, r.target, VerifyOptions{}); err != nil || !rep.Clean {
		t.Fatalf("after the restore: %+v, %v", rep.Differences, err)
	}
}

// An attacker adds an enabled policy that blocks every user: the snapshot does not
// have it, so the restore must take it out before the lockout check, not leave it in
// place to block the administrators and fail the check.
func TestRestoreRemovesAnAddedBlockingPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 17)
	resp, err := r.at.Do(ctx, graphapi.Request{Method: "POST", Path: "/identity/conditionalAccess/policies", Body: json.RawMessage(`{"displayName":"Block everyone","state":"enabled",
		"conditions":{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["All"]},"clientAppTypes":["all"]},
		"grantControls":{"operator":"OR","builtInControls":["block"]}}`)})
	if err != nil {
		t.Fatal(err)
	}
	var added struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp.Body, &added); err != nil || added.ID == "" {
		t.Fatalf("the policy was not created: %s %v", resp.Body, err)
	}
	// Without removals, the plan leaves it, and says so.
	live, cleanup, err := CaptureLive(ctx, r.op, r.target.Snapshot.TenantID, nil)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := BuildPlan(ctx, r.target, live, PlanOptions{WithoutRemovals: true})
	cleanup()
	if err != nil {
		t.Fatal(err)
	}
	warns := func(w string) bool {
		return strings.Contains(w, added.ID) && strings.Contains(w, "--without-removals leaves it")
	}
	if !slices.ContainsFunc(kept.Warnings, warns) {
		t.Errorf("a plan without removals does not warn of the added policy: %q", kept.Warnings)
	}
	plan := r.plan(t)
	rep, err := Apply(ctx, plan, r.options(nil))
	if err != nil || rep.Failed != 0 || rep.Pending != 0 || len(rep.Lockouts) != 0 {
		t.Fatalf("restore: %+v, %v", rep, err)
	}
	if _, ok := r.get(t, "/identity/conditionalAccess/policies/"+added.ID, false); ok {
		t.Error("the added blocking policy is still live")
	}
	if v, err := VerifyLive(ctx, r.op, r.target, VerifyOptions{}); err != nil || !v.Clean {
		t.Fatalf("after the restore: %v %s", err, VerifySentence(v))
	}
}

// A restore from the bin whose object is an earlier restore's copy, restored by someone
// else before apply sends it (as when the answer to apply's own request was lost),
// answers 404: apply finds the copy live under its live id and counts the step done
// instead of saying the object was purged.
func TestApplyFindsACopyRestoredBehindItsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 3)
	users := r.list(t, "/users", false)
	user := users[len(users)-1]["id"].(string)
	r.attack(t, "DELETE", "/users/"+user)
	r.attack(t, "DELETE", "/directory/deletedItems/"+user)
	if rep, err := Apply(ctx, r.plan(t), r.options(nil)); err != nil || rep.Failed != 0 || rep.Recreated == 0 {
		t.Fatalf("first restore: %+v, %v", rep, err)
	}
	ledger, err := LoadLedger(ctx, r.store, r.target.Snapshot.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	copy := ledger.IDs[user]
	if copy == "" || copy == user {
		t.Fatalf("the first restore did not recreate %s: %v", user, ledger.IDs)
	}

	r.attack(t, "DELETE", "/users/"+copy)
	plan := r.plan(t)
	r.attack(t, "POST", "/directory/deletedItems/"+copy+"/restore")
	var events []Event
	opts := r.options(&events)
	opts.Fingerprint = func(context.Context) (string, error) { return plan.LiveFingerprint, nil }
	rep, err := Apply(ctx, plan, opts)
	if err != nil || rep.Failed != 0 || rep.Pending != 0 {
		for _, f := range rep.Failures {
			t.Logf("failed: %s", f.Reason)
		}
		t.Fatalf("second restore: done %d, failed %d, pending %d, %v", rep.Done, rep.Failed, rep.Pending, err)
	}
	found := false
	for _, e := range events {
		if s := e.Step; s != nil && s.Action == ActionRestore && s.ObjectID == user && s.State == string(snapshots.StepDone) {
			found = s.Note == "already restored"
		}
	}
	if !found {
		t.Errorf("the restore of %s (live %s) is not reported done as already restored", user, copy)
	}
}

// A tenant that stops answering mid-run stops the run with its steps pending, failing
// none (each would otherwise burn its attempts in moments and the one cause would be
// buried under hundreds of failures); once the tenant answers again, running the same
// plan finishes it without creating anything twice.
func TestApplyStopsPendingWhenTheTenantStopsAnswering(t *testing.T) {
	t.Parallel()
	r := newRecovery(t, 40, 23)
	r.inject(t, "mass-user-deletion", 23)
	plan := r.plan(t)
	var events []Event
	opts := r.options(&events)
	opts.unansweredWait = 10 * time.Millisecond
	addr := strings.TrimPrefix(strings.TrimSuffix(r.srv.Info().GraphURL, "/v1.0"), "http://")
	sends := 0
	opts.failpoint = func(point string) error {
		if point == "before-send" {
			if sends++; sends == 2 {
				r.srv.Close() // the round about to go out finds nobody there
			}
		}
		return nil
	}
	rep, err := Apply(context.Background(), plan, opts)
	if err == nil || !strings.Contains(err.Error(), "stopped answering") || rep.Failed != 0 || rep.Pending == 0 {
		t.Fatalf("apply with the tenant gone: %v; %d failed, %d pending", err, rep.Failed, rep.Pending)
	}
	retried := 0
	for _, e := range events {
		if strings.HasPrefix(e.Message, "no answer from the tenant") {
			retried++
		}
	}
	if retried == 0 {
		t.Error("the run stopped at the first round without an answer; a blip must be waited out")
	}
	srv, err := r.sim.Start(addr)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	rep, err = Apply(context.Background(), plan, r.options(nil))
	if err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("resume once the tenant answers: %v; %+v", err, rep)
	}
	r.assertNoDuplicates(t)
}

// A password that cannot be written down (a full disk) stops the run before the user it
// is for is sent, failing nothing; and a run stopped before it sent anything is not a
// resume: once there is room, the same plan runs, even though another plan finished in
// the file before it (that one is older than this plan, which its fingerprint shows).
func TestApplyStopsOnAPasswordItCannotWrite(t *testing.T) {
	t.Parallel()
	r := newRecovery(t, 30, 29)
	r.inject(t, "group-purge", 29)
	if rep, err := Apply(context.Background(), r.plan(t), r.options(nil)); err != nil || rep.Failed != 0 {
		t.Fatalf("the first restore: %v %+v", err, rep)
	}
	r.inject(t, "slow-burn", 29)
	plan := r.plan(t)
	opts := r.options(nil)
	opts.failpoint = func(point string) error {
		if point == "password" {
			return syscall.ENOSPC
		}
		return nil
	}
	before := r.op.Stats().Writes
	rep, err := Apply(context.Background(), plan, opts)
	if err == nil || !strings.Contains(err.Error(), "so the run stopped before sending the user") || rep.Failed != 0 {
		t.Fatalf("apply that cannot write a password: %v; %d failed", err, rep.Failed)
	}
	if r.op.Stats().Writes != before {
		t.Fatalf("%d writes went out before the password that failed", r.op.Stats().Writes-before)
	}
	rep, err = Apply(context.Background(), plan, r.options(nil))
	if err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("the same plan once the password file can be written: %v %+v", err, rep)
	}
	r.assertNoDuplicates(t)
}

// An attacker widens a trusted IP range: the rollback PATCH names the location's subtype,
// which Graph requires, so the range is put back rather than failing on every run.
func TestRestoreRollsBackAWidenedNamedLocation(t *testing.T) {
	t.Parallel()
	r := newRecovery(t, 30, 31)
	var id string
	for _, o := range r.ds.Objects {
		if o.Kind == entra.KindNamedLocation && bytes.Contains(o.JSON, []byte("#microsoft.graph.ipNamedLocation")) {
			id = o.ID
			break
		}
	}
	if id == "" {
		t.Fatal("the tenant has no IP named location")
	}
	widened := `{"@odata.type":"#microsoft.graph.ipNamedLocation","ipRanges":[{"@odata.type":"#microsoft.graph.iPv4CidrRange","cidrAddress":"0.0.0.0/1"}]}`
	if _, err := r.at.Do(context.Background(), graphapi.Request{Method: "PATCH", Path: "/identity/conditionalAccess/namedLocations/" + id, Body: []byte(widened)}); err != nil {
		t.Fatal(err)
	}
	rep, err := Apply(context.Background(), r.plan(t), r.options(nil))
	if err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("rolling back the widened location: %v; %+v", err, rep.Failures)
	}
}

// Ctrl-C while the verify step reads the tenant leaves the step pending (exit 4,
// resumable), not failed; the next run verifies.
func TestInterruptedVerifyStaysPending(t *testing.T) {
	t.Parallel()
	r := newRecovery(t, 30, 37)
	r.inject(t, "group-purge", 37)
	plan := r.plan(t)
	ctx, cancel := context.WithCancel(context.Background())
	opts := r.options(nil)
	opts.Verify = func(vctx context.Context) (bool, string, error) {
		cancel()
		<-vctx.Done()
		return false, "", vctx.Err()
	}
	rep, err := Apply(ctx, plan, opts)
	if !errors.Is(err, context.Canceled) || rep.Failed != 0 || rep.Pending != 1 {
		t.Fatalf("apply stopped during verify: %v; %d failed, %d pending", err, rep.Failed, rep.Pending)
	}
	rep, err = Apply(context.Background(), plan, r.options(nil))
	if err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("the next run: %v; %+v", err, rep)
	}
}

// A client secret an attacker adds to a surviving application is a difference, not
// something Graph cannot restore: verify says so, the plan takes it away with
// removePassword, and after the restore verify is clean.
func TestRestoreRemovesAnAddedClientSecret(t *testing.T) {
	t.Parallel()
	r := newRecovery(t, 30, 41)
	ctx := context.Background()
	var app string
	for _, o := range r.ds.Objects {
		if o.Kind == entra.KindApplication {
			app = o.ID
			break
		}
	}
	resp, err := r.at.Do(ctx, graphapi.Request{Method: "POST", Path: "/applications/" + app + "/addPassword", Body: []byte(`{"passwordCredential":{"displayName":"backdoor"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	var added struct {
		KeyID string `json:"keyId"`
	}
	if err := json.Unmarshal(resp.Body, &added); err != nil || added.KeyID == "" {
		t.Fatalf("addPassword: %s", resp.Body)
	}
	if rep, err := VerifyLive(ctx, r.op, r.target, VerifyOptions{}); err != nil || rep.Clean {
		t.Fatalf("verify with a backdoor secret: clean=%v %v", rep != nil && rep.Clean, err)
	}
	plan := r.plan(t)
	remove := findStep(t, plan, StageRemoveAdditions, ActionRemoveSecret, "application", app)
	if !bytes.Contains(remove.Requests[0].Body, []byte(added.KeyID)) || len(plan.Warnings) != 0 {
		t.Fatalf("the plan's removal: %+v; warnings %v", remove, plan.Warnings)
	}
	if rep, err := Apply(ctx, plan, r.options(nil)); err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("apply: %v; %+v", err, rep)
	}
	got, err := r.op.Do(ctx, graphapi.Request{Method: "GET", Path: "/applications/" + app + "?$select=passwordCredentials"})
	if err != nil || bytes.Contains(got.Body, []byte(added.KeyID)) {
		t.Fatalf("the secret is still there: %s %v", got.Body, err)
	}
}

// A resume after a second incident deleted an object the plan still had to change: the
// step fails saying the object is gone and a new plan is needed, and the report says
// running this plan again cannot mend it.
func TestResumeAfterAnObjectWasDeletedSaysBuildANewPlan(t *testing.T) {
	t.Parallel()
	r := newRecovery(t, 40, 43)
	r.inject(t, "attribute-tampering", 43)
	plan := r.plan(t)
	var victim string
	for _, s := range stepsOf(plan, StageRollback) {
		if s.Kind == "user" {
			victim = s.ObjectID
			break
		}
	}
	if victim == "" {
		t.Fatal("no user to roll back")
	}
	stop := r.options(nil)
	stop.failpoint = crashAt("after-journal", 1)
	if _, err := Apply(context.Background(), plan, stop); !errors.Is(err, errCrash) {
		t.Fatalf("first run: %v", err)
	}
	if _, err := r.at.Do(context.Background(), graphapi.Request{Method: "DELETE", Path: "/users/" + victim}); err != nil {
		t.Fatal(err)
	}
	rep, err := Apply(context.Background(), plan, r.options(nil))
	if err != nil || rep.Failed == 0 || !rep.NeedsANewPlan() {
		t.Fatalf("resume: %v; %+v", err, rep.Failures)
	}
	for _, f := range rep.Failures {
		if f.ObjectID == victim && !strings.Contains(f.Reason, "no longer exists in the tenant") {
			t.Errorf("the failure on the deleted user: %s", f.Reason)
		}
	}
}

// Someone makes an account by hand in the name (userPrincipalName) of a deleted user
// before the restore: the plan warns, deletes that account first, in the restore's own
// stage, and the restore then succeeds instead of being refused while the name is taken.
func TestRestoreClearsTheNameOfAUserItBringsBack(t *testing.T) {
	t.Parallel()
	r := newRecovery(t, 40, 47)
	r.inject(t, "mass-user-deletion", 47)
	var victim, upn string
	for _, s := range stepsOf(r.plan(t), StageRestoreFromBin) {
		if s.Kind != "user" {
			continue
		}
		for _, o := range r.ds.Objects {
			if o.ID == s.ObjectID {
				var u struct {
					UPN string `json:"userPrincipalName"`
				}
				_ = json.Unmarshal(o.JSON, &u)
				victim, upn = o.ID, u.UPN
			}
		}
		break
	}
	body := map[string]any{"accountEnabled": true, "displayName": "Made by hand", "mailNickname": "byhand", "userPrincipalName": upn,
		"passwordProfile": map[string]any{"password": "xWwvJ]6NMw+bWH-d", "forceChangePasswordNextSignIn": true}}
	if _, err := r.op.Do(context.Background(), graphapi.Request{Method: "POST", Path: "/users", Body: mustJSON(body)}); err != nil {
		t.Fatalf("a user by hand named %s: %v", upn, err)
	}
	plan := r.plan(t)
	restore := findStep(t, plan, StageRestoreFromBin, ActionRestore, "user", victim)
	if len(restore.DependsOn) != 1 || !strings.Contains(strings.Join(plan.Warnings, "\n"), "Graph refuses that while the name is taken") {
		t.Fatalf("the restore of %s does not wait on clearing its name: %+v; warnings %v", upn, restore, plan.Warnings)
	}
	rep, err := Apply(context.Background(), plan, r.options(nil))
	if err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("apply: %v; %+v", err, rep.Failures)
	}
}

// An attacker makes a user Global Administrator, then deletes the user: the
// assignment is out of sight while the user is in the bin and comes back with the
// restore. The plan cannot see it; its verify step does, and says a new plan is what
// removes it (running this one again would only verify again), which a new plan does.
func TestLinksABinRestoreBringsBackNeedANewPlan(t *testing.T) {
	t.Parallel()
	r := newRecovery(t, 30, 53)
	ctx := context.Background()
	var user, ga string
	for _, o := range r.ds.Objects {
		switch {
		case user == "" && o.Kind == entra.KindUser && !bytes.Contains(o.JSON, []byte("Break Glass")):
			user = o.ID
		case o.Kind == entra.KindRoleDefinition && bytes.Contains(o.JSON, []byte(`"displayName":"Global Administrator"`)):
			ga = o.ID
		}
	}
	grant := mustJSON(map[string]string{"principalId": user, "roleDefinitionId": ga, "directoryScopeId": "/"})
	for _, req := range []graphapi.Request{
		{Method: "POST", Path: "/roleManagement/directory/roleAssignments", Body: grant},
		{Method: "DELETE", Path: "/users/" + user},
	} {
		if _, err := r.at.Do(ctx, req); err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.Path, err)
		}
	}
	rep, err := Apply(ctx, r.plan(t), r.options(nil))
	if err != nil || rep.Failed != 1 || !rep.NeedsANewPlan() {
		t.Fatalf("the restore: %v; %+v", err, rep.Failures)
	}
	rep, err = Apply(ctx, r.plan(t), r.options(nil))
	if err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("the new plan: %v; %+v", err, rep.Failures)
	}
}

// A plan scoped to a Conditional Access policy recreates the purged group the policy
// names, and brings back that group's members with it: recreated empty, an exclusion
// group would put the policy on the very accounts it excluded.
func TestScopedPlanBringsBackAPulledInGroupsMembers(t *testing.T) {
	t.Parallel()
	r := newRecovery(t, 60, 59)
	r.inject(t, "group-purge", 59)
	ctx := context.Background()
	live, cleanup, err := CaptureLive(ctx, r.op, r.target.Snapshot.TenantID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	full, err := BuildPlan(ctx, r.target, live, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A policy step that waits on a group's recreate, where that group has members to add.
	recreated, members := map[string]string{}, map[string]int{}
	for _, s := range stepsOf(full, StageRecreate) {
		if s.Kind == "group" {
			recreated[s.ID] = s.ObjectID
		}
	}
	for _, s := range stepsOf(full, StageRelink) {
		if s.Action == ActionAddLink && s.Kind == "group" && s.Link == "members" {
			members[s.ObjectID]++
		}
	}
	var policy, group string
	for _, s := range stepsOf(full, StageConditionalAccess) {
		for _, d := range s.DependsOn {
			if g, ok := recreated[d]; ok && members[g] > 0 && policy == "" {
				policy, group = s.ObjectID, g
			}
		}
	}
	if policy == "" {
		t.Fatal("no policy names a purged group with members")
	}
	scoped, err := BuildPlan(ctx, r.target, live, PlanOptions{Scope: []graphx.NodeID{{Kind: entra.KindConditionalAccessPolicy, ID: policy}}})
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, s := range stepsOf(scoped, StageRelink) {
		if s.Action == ActionAddLink && s.ObjectID == group && s.Link == "members" {
			kept++
		}
	}
	if kept != members[group] {
		t.Fatalf("the scoped plan adds %d of the %d members of group %s it recreates", kept, members[group], group)
	}
}

// Two incidents, restored from two snapshots: a named location is deleted and restored
// from the baseline (copy B); a later snapshot holds B; B is deleted and restored from
// the baseline again (copy C). A plan from the later snapshot must know B as C, not
// make a second copy: every id the object ever had maps to the one it has now.
func TestLedgerKeepsEveryEarlierIDOfAnObjectRecreatedTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 30, 33)
	var original string
	for _, o := range r.ds.Objects {
		if o.Kind == entra.KindNamedLocation {
			original = o.ID
			break
		}
	}
	if original == "" {
		t.Fatal("the tenant has no named location")
	}
	restoreBaseline := func(round string) string {
		t.Helper()
		rep, err := Apply(ctx, r.plan(t), r.options(nil))
		if err != nil || rep.Failed != 0 || rep.Pending != 0 || rep.Recreated == 0 {
			t.Fatalf("%s: %+v, %v", round, rep, err)
		}
		ledger, err := LoadLedger(ctx, r.store, r.target.Snapshot.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		return follow(ledger.IDs, original)
	}
	purge := func(id string) {
		r.attack(t, "DELETE", "/identity/conditionalAccess/namedLocations/"+id)
		if _, err := r.at.Do(ctx, graphapi.Request{Method: "DELETE", Path: "/identity/conditionalAccess/deletedItems/namedLocations/" + id, Beta: true}); err != nil {
			t.Fatal(err)
		}
	}
	purge(original)
	first := restoreBaseline("first restore")
	later, err := snapshots.Capture(ctx, r.op, r.store, snapshots.CaptureOptions{Label: "after the first restore"})
	if err != nil {
		t.Fatal(err)
	}
	purge(first)
	second := restoreBaseline("second restore")
	if second == first || second == original {
		t.Fatalf("the second restore did not recreate the location: %s -> %s -> %s", original, first, second)
	}

	ledger, err := LoadLedger(ctx, r.store, r.target.Snapshot.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	if got := follow(ledger.IDs, first); got != second {
		t.Errorf("the ledger maps the first copy %s to %s, not to the copy %s that replaced it", first, got, second)
	}
	laterState := snapshots.State{Store: r.store, Snapshot: later.Snapshot}
	if p := r.planTo(t, laterState, PlanOptions{}); p.Summary.Recreate != 0 {
		t.Errorf("a plan back to the later snapshot recreates %d objects; the location it holds as %s lives on as %s", p.Summary.Recreate, first, second)
	}
	if rep, err := VerifyLive(ctx, r.op, laterState, VerifyOptions{}); err != nil || !rep.Clean {
		t.Errorf("verify against the later snapshot: %+v, %v", rep, err)
	}
}

// A scoped restore of a user who belonged to a purged dynamic group brings the group
// back: no step adds a member its rule computes, so without the group the user's
// membership stays missing and the plan's verify step could never pass.
func TestScopedPlanBringsBackAUsersPurgedDynamicGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 60, 2)
	r.inject(t, "group-purge", 2)
	dynamic := map[string]bool{}
	for _, s := range stepsOf(r.plan(t), StageRecreate) {
		if o, err := r.store.Object(ctx, r.target.Snapshot.ID, entra.KindGroup, s.ObjectID); err == nil && bytes.Contains(o.JSON, []byte(`"DynamicMembership"`)) {
			dynamic[s.ObjectID] = true
		}
	}
	var user, group string
	err := r.store.Links(ctx, r.target.Snapshot.ID, func(l snapshots.Link) error {
		if user == "" && dynamic[l.From] && l.ToKind == entra.KindUser {
			user, group = l.To, l.From
		}
		return nil
	})
	if err != nil || user == "" {
		t.Fatalf("the incident purged no dynamic group with a user in it (%v)", err)
	}
	scope := []graphx.NodeID{{Kind: entra.KindUser, ID: user}}
	plan := r.planTo(t, r.target, PlanOptions{Scope: scope})
	if !slices.ContainsFunc(stepsOf(plan, StageRecreate), func(s Step) bool { return s.ObjectID == group }) {
		t.Fatalf("the plan scoped to user %s does not recreate the dynamic group %s the user was in", user, group)
	}
	rep, err := Apply(ctx, plan, r.scopedOptions(scope))
	if err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("scoped restore: %v; %+v", err, rep.Failures)
	}
}

// Someone makes an account by hand with the mail of a user in the bin: Graph refuses
// the restore while another active user holds one of its proxy addresses, so the plan
// deletes that account first, as it does one made in the user's name.
func TestRestoreClearsTheAddressOfAUserItBringsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 48)
	r.inject(t, "mass-user-deletion", 48)
	var victim, mail string
	for _, s := range stepsOf(r.plan(t), StageRestoreFromBin) {
		if o, err := r.store.Object(ctx, r.target.Snapshot.ID, entra.KindUser, s.ObjectID); err == nil {
			var u struct {
				Mail string `json:"mail"`
			}
			if json.Unmarshal(o.JSON, &u) == nil && u.Mail != "" {
				victim, mail = s.ObjectID, u.Mail
				break
			}
		}
	}
	if victim == "" {
		t.Fatal("no user with a mail address is in the bin")
	}
	body := map[string]any{"accountEnabled": true, "displayName": "Made by hand", "mailNickname": "byhand", "userPrincipalName": "byhand@" + strings.SplitN(mail, "@", 2)[1],
		"mail": mail, "passwordProfile": map[string]any{"password": "xWwvJ]6NMw+bWH-d", "forceChangePasswordNextSignIn": true}}
	if _, err := r.op.Do(ctx, graphapi.Request{Method: "POST", Path: "/users", Body: mustJSON(body)}); err != nil {
		t.Fatalf("a user by hand with the address %s: %v", mail, err)
	}
	// Without removals the account stays, and the restore fails saying what holds the
	// address and what to do, which is not to delete a user who may belong.
	kept := r.planTo(t, r.target, PlanOptions{WithoutRemovals: true})
	rep, err := Apply(ctx, kept, r.options(nil))
	if err != nil || rep.Failed != 1 || !strings.Contains(rep.Failures[0].Reason, "another user holds one of its mail addresses (proxyAddresses) now; give the address back") {
		t.Fatalf("a plan without removals: %v; %+v", err, rep.Failures)
	}
	plan := r.plan(t)
	restore := findStep(t, plan, StageRestoreFromBin, ActionRestore, "user", victim)
	if len(restore.DependsOn) != 1 || !strings.Contains(strings.Join(plan.Warnings, "\n"), "with the address SMTP:"+mail) {
		t.Fatalf("the restore of %s does not wait on clearing its address: %+v; warnings %v", victim, restore, plan.Warnings)
	}
	if rep, err = Apply(ctx, plan, r.options(nil)); err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("apply: %v; %+v", err, rep.Failures)
	}
}

// A scoped restore of a purged administrator brings back the roles and app
// assignments it held: they are objects of their own that point at the user, and
// without them the account comes back powerless while a scoped verify said clean.
func TestScopedPlanBringsBackAPrincipalsAssignments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 30, 5)
	var user string
	roles := map[string]bool{}
	for _, a := range r.list(t, "/roleManagement/directory/roleAssignments", false) {
		p := a["principalId"].(string)
		if _, ok := r.get(t, "/users/"+p, false); ok && (user == "" || user == p) {
			user = p
			roles[a["id"].(string)] = true
		}
	}
	if user == "" {
		t.Fatal("no user holds a directory role")
	}
	r.attack(t, "DELETE", "/users/"+user)
	r.attack(t, "DELETE", "/directory/deletedItems/"+user)
	scope := []graphx.NodeID{{Kind: entra.KindUser, ID: user}}
	before, err := VerifyLive(ctx, r.op, r.target, VerifyOptions{Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range before.Differences {
		delete(roles, d.ID)
	}
	if len(roles) != 0 {
		t.Errorf("a verify scoped to the purged user does not count its role assignments %v", roles)
	}
	plan := r.planTo(t, r.target, PlanOptions{Scope: scope})
	assignments := 0
	for _, st := range plan.Stages {
		for _, s := range st.Steps {
			if s.Action == ActionRecreate && s.Kind == string(entra.KindRoleAssignment) {
				assignments++
			}
		}
	}
	if assignments == 0 {
		t.Fatalf("the plan scoped to user %s recreates none of its role assignments", user)
	}
	if rep, err := Apply(ctx, plan, r.scopedOptions(scope)); err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("scoped restore: %v; %+v", err, rep.Failures)
	}
	if rep, err := VerifyLive(ctx, r.op, r.target, VerifyOptions{}); err != nil || !rep.Clean {
		t.Errorf("after restoring the only purged user, the whole tenant still differs: %v %v", VerifySentence(rep), err)
	}
}

// A scoped restore of a purged application brings back its service principal, with
// who may use it and what it may do (its app role assignments and grants): the
// enterprise app is what people sign in to.
func TestScopedPlanBringsBackAnApplicationsServicePrincipal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 9)
	var app, sp string
	for _, s := range r.list(t, "/servicePrincipals", false) {
		id := s["id"].(string)
		if len(r.list(t, "/servicePrincipals/"+id+"/appRoleAssignedTo", false)) == 0 {
			continue
		}
		for _, a := range r.list(t, "/applications", false) {
			if a["appId"] == s["appId"] {
				app, sp = a["id"].(string), id
			}
		}
		if app != "" {
			break
		}
	}
	if app == "" {
		t.Fatal("no application's service principal has users assigned")
	}
	r.attack(t, "DELETE", "/applications/"+app)
	r.attack(t, "DELETE", "/directory/deletedItems/"+app)
	if _, ok := r.get(t, "/directory/deletedItems/"+sp, false); ok {
		r.attack(t, "DELETE", "/directory/deletedItems/"+sp)
	}
	scope := []graphx.NodeID{{Kind: entra.KindApplication, ID: app}}
	plan := r.planTo(t, r.target, PlanOptions{Scope: scope})
	kinds := map[string]int{}
	for _, st := range plan.Stages {
		for _, s := range st.Steps {
			if s.Action == ActionRecreate {
				kinds[s.Kind]++
			}
		}
	}
	if kinds[string(entra.KindServicePrincipal)] != 1 || kinds[string(entra.KindAppRoleAssignment)] == 0 {
		t.Fatalf("the plan scoped to application %s recreates %v; want its service principal and the assignments to it", app, kinds)
	}
	if rep, err := Apply(ctx, plan, r.scopedOptions(scope)); err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("scoped restore: %v; %+v", err, rep.Failures)
	}
	// What is left is what points at the application from outside it (another app's
	// requiredResourceAccess), which a scope leaves out.
	rep, err := VerifyLive(ctx, r.op, r.target, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.Differences {
		if d.Change != snapshots.Modified || d.Kind == entra.KindServicePrincipal || d.Kind == entra.KindGroup {
			t.Errorf("after restoring the only purged application by scope: %s %s %q (%s)", d.Change, d.Kind, d.DisplayName, d.ID)
		}
	}
}

// An attacker adds a named location marked trusted over every IPv4 address: a policy
// that requires MFA outside trusted locations then requires it nowhere, and no policy
// changed. A restore removes the location, as it removes an added policy.
func TestRestoreRemovesAnAddedTrustedLocation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 17)
	loc := r.addTrustedLocation(t, "0.0.0.0/1", "128.0.0.0/1")
	plan := r.plan(t)
	findStep(t, plan, StageRemoveAdditions, ActionRemoveObject, string(entra.KindNamedLocation), loc)
	if rep, err := Apply(ctx, plan, r.options(nil)); err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("apply: %v; %+v", err, rep.Failures)
	}
	if _, ok := r.get(t, "/identity/conditionalAccess/namedLocations/"+loc, false); ok {
		t.Errorf("the trusted location %s is still there", loc)
	}
}

// addTrustedLocation has the attacker add a named location marked trusted over these
// IPv4 ranges, and returns its id.
func (r *recovery) addTrustedLocation(t *testing.T, cidrs ...string) string {
	t.Helper()
	var ranges []map[string]any
	for _, c := range cidrs {
		ranges = append(ranges, map[string]any{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": c})
	}
	resp, err := r.at.Do(context.Background(), graphapi.Request{Method: "POST", Path: "/identity/conditionalAccess/namedLocations", Body: mustJSON(map[string]any{
		"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Branch VPN", "isTrusted": true, "ipRanges": ranges})})
	if err != nil {
		t.Fatal(err)
	}
	var loc struct{ ID string }
	if err := json.Unmarshal(resp.Body, &loc); err != nil || loc.ID == "" {
		t.Fatalf("the added location: %v %s", err, resp.Body)
	}
	return loc.ID
}

// An attacker makes an ordinary user Global Administrator: a plan scoped to that user
// takes the role away (access granted since the snapshot is part of the user too),
// rather than leaving it while the scoped verify, which counts it, fails every run.
func TestScopedPlanRemovesAccessAddedToAPrincipal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 30, 5)
	admins := map[string]bool{}
	for _, a := range r.list(t, "/roleManagement/directory/roleAssignments", false) {
		admins[a["principalId"].(string)] = true
	}
	var user string
	for _, u := range r.list(t, "/users", false) {
		if id := u["id"].(string); !admins[id] {
			user = id
			break
		}
	}
	resp, err := r.at.Do(ctx, graphapi.Request{Method: "POST", Path: "/roleManagement/directory/roleAssignments", Body: mustJSON(map[string]any{
		"principalId": user, "roleDefinitionId": "62e90394-69f5-4237-9190-012177145e10", "directoryScopeId": "/"})})
	if err != nil {
		t.Fatal(err)
	}
	var added struct{ ID string }
	_ = json.Unmarshal(resp.Body, &added)
	scope := []graphx.NodeID{{Kind: entra.KindUser, ID: user}}
	plan := r.planTo(t, r.target, PlanOptions{Scope: scope})
	findStep(t, plan, StageRemoveAdditions, ActionRemoveObject, string(entra.KindRoleAssignment), added.ID)
	if rep, err := Apply(ctx, plan, r.scopedOptions(scope)); err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("scoped restore: %v; %+v", err, rep.Failures)
	}
	if _, ok := r.get(t, "/roleManagement/directory/roleAssignments/"+added.ID, false); ok {
		t.Errorf("user %s still holds the Global Administrator assignment %s", user, added.ID)
	}
}

// The attacker deletes Alice (to the bin) and gives Bob, who is in the snapshot, her
// mail. Graph refuses Alice's restore while Bob holds her address, so the plan sets
// Bob's mail back first, in the restore's stage, and the restore succeeds the first
// time; deleting Bob, as a conflict sentence would suggest, is never the answer.
func TestRestoreFreesAnAddressASurvivingUserTook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 48)
	var alice, bob, mail string
	for _, u := range r.list(t, "/users", false) {
		m, _ := u["mail"].(string)
		switch {
		case m == "":
		case alice == "":
			alice, mail = u["id"].(string), m
		case bob == "":
			bob = u["id"].(string)
		}
	}
	r.attack(t, "DELETE", "/users/"+alice)
	if _, err := r.at.Do(ctx, graphapi.Request{Method: "PATCH", Path: "/users/" + bob, Body: mustJSON(map[string]any{"mail": mail})}); err != nil {
		t.Fatal(err)
	}
	plan := r.plan(t)
	free := findStep(t, plan, StageRestoreFromBin, ActionRollback, string(entra.KindUser), bob)
	if restore := findStep(t, plan, StageRestoreFromBin, ActionRestore, string(entra.KindUser), alice); !slices.Contains(restore.DependsOn, free.ID) {
		t.Fatalf("the restore of %s does not wait on setting %s's mail back: %+v", alice, bob, restore)
	}
	if rep, err := Apply(ctx, plan, r.options(nil)); err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("apply: %v; %+v", err, rep.Failures)
	}
}

// The ETA is the writes left at the paced budget: the rate so far, in the burst a run
// opens with, can be far above it, and an ETA from it read "0s" with writes to go.
func TestProgressETAIsTheWritesLeftAtThePacedBudget(t *testing.T) {
	t.Parallel()
	d := newDrillTenant(t, 10, 1)
	client, err := graphapi.New(context.Background(), graphapi.Config{GraphURL: d.srv.Info().GraphURL, Pace: 0.5}) // Graph's budget: 20 writes/s
	if err != nil {
		t.Fatal(err)
	}
	var steps []Step
	for i := range 30 {
		steps = append(steps, Step{ID: strconv.Itoa(i), Requests: []Request{{Method: "PATCH"}, {Method: "GET"}}})
	}
	plan := &Plan{Stages: []Stage{{Name: StageRollback, Steps: steps}}}
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	a := &applier{plan: plan, opts: ApplyOptions{Client: client}, start: now.Add(-time.Second), now: func() time.Time { return now }}
	for i := range plan.Stages[0].Steps {
		a.steps = append(a.steps, &stepRun{step: &plan.Stages[0].Steps[i]})
	}
	a.base = client.Stats()
	a.base.Writes -= 600 // 600 writes in the run's first second
	p := a.progress()
	if p.WritesPerSecond != 600 || p.ETASeconds != 3 {
		t.Errorf("30 writes left at half of 20/s, 600 writes/s so far: ETA %vs, rate %v/s; want 3s", p.ETASeconds, p.WritesPerSecond)
	}
}
