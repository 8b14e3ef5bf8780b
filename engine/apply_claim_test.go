package engine

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lifelinehq/lifeline/snapshots"
)

// Another run holding the file (from another shell, or the console) refuses this one
// before it reads the journal, writes anything or sends anything.
func TestApplyRefusesASecondRunOfTheFileAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 30, 21)
	r.inject(t, "group-purge", 21)
	plan := r.plan(t)
	unlock, err := r.store.LockApply()
	if err != nil {
		t.Fatal(err)
	}
	before := r.op.Stats().Requests
	_, err = Apply(ctx, plan, r.options(nil))
	if !errors.Is(err, snapshots.ErrApplyRunning) || !strings.Contains(err.Error(), "resumes from the journal") {
		t.Fatalf("apply beside another run: %v", err)
	}
	if _, ok, _ := r.store.Run(ctx, PlanHash(plan)); ok {
		t.Error("the refused apply recorded a run")
	}
	if after := r.op.Stats().Requests; after != before {
		t.Errorf("the refused apply sent %d requests", after-before)
	}
	unlock()
	rep, err := Apply(ctx, plan, r.options(nil))
	if err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("apply once the other run ended: %+v, %v", rep, err)
	}
}

// The same plan started twice at once, as from two shells: one run restores, the other
// is refused (or, when it starts after the first ended, finds it applied), and every
// purged object is recreated once.
func TestApplyTheSamePlanTwiceAtOnceRecreatesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 22)
	r.inject(t, "group-purge", 22)
	plan := r.plan(t)
	want := 0
	for _, st := range plan.Stages {
		for _, s := range st.Steps {
			if s.Action == ActionRecreate {
				want++
			}
		}
	}
	if want == 0 {
		t.Fatal("the incident left nothing to recreate")
	}
	reports := make([]*ApplyReport, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i], errs[i] = Apply(ctx, plan, r.options(nil))
		}()
	}
	wg.Wait()
	recreated := 0
	for i := range 2 {
		switch {
		case errs[i] == nil:
			recreated += reports[i].Recreated
		case errors.Is(errs[i], snapshots.ErrApplyRunning), strings.Contains(errs[i].Error(), "applied completely"):
		default:
			t.Errorf("run %d: %v", i, errs[i])
		}
	}
	if recreated != want {
		t.Errorf("the two runs recreated %d objects, the plan %d", recreated, want)
	}
	rep, err := VerifyLive(ctx, r.op, r.target, VerifyOptions{})
	if err != nil || !rep.Clean {
		t.Fatalf("after the two runs: %v, %v", rep, err)
	}
}

// A plan applied with a copy of its file taken before an earlier restore would read a
// ledger without that restore's new ids: apply refuses the copy before anything is
// written, and names the file the plan was built from.
func TestApplyRefusesACopyOfTheFileWithoutAnEarlierRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 23)
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	copyFile(t, r.store.Path(), copyPath)
	copyFile(t, r.store.Path()+"-wal", copyPath+"-wal") // the snapshot is not checkpointed yet
	r.inject(t, "group-purge", 23)
	if rep, err := Apply(ctx, r.plan(t), r.options(nil)); err != nil || rep.Recreated == 0 {
		t.Fatalf("first restore: %+v, %v", rep, err)
	}
	r.inject(t, "mass-user-deletion", 24)
	plan := r.plan(t)
	other, err := snapshots.Open(ctx, copyPath, snapshots.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	opts := r.options(nil)
	opts.Store = other
	before := r.op.Stats().Requests
	_, err = Apply(ctx, plan, opts)
	if err == nil || !strings.Contains(err.Error(), "does not hold the apply journal the plan was built with") || !strings.Contains(err.Error(), "--db "+r.store.Path()) {
		t.Fatalf("apply with a copy taken before the first restore: %v", err)
	}
	if runs, _ := other.Runs(ctx, plan.TenantID); len(runs) != 0 {
		t.Errorf("the refused apply recorded %d runs in the copy", len(runs))
	}
	if after := r.op.Stats().Requests; after != before {
		t.Errorf("the refused apply sent %d requests", after-before)
	}
	// The plan's own file, and its resume there, are accepted.
	if rep, err := Apply(ctx, plan, r.options(nil)); err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("apply with the plan's own file: %+v, %v", rep, err)
	}
}

// copyFile copies a file byte for byte, as an operator's cp.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
