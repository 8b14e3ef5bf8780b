package snapshots_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/snapshots"
)

// holdApplyLockEnv makes this test binary, run again as a child, take the apply lock
// of the file it names, say so, and wait to be killed.
const holdApplyLockEnv = "LIFELINE_TEST_HOLD_APPLY_LOCK"

// An apply killed with the claim held (kill -9, a crash) gives it up with its process:
// its resume, run at once, is not refused as a second apply.
func TestApplyLockGoesWithAKilledProcess(t *testing.T) {
	if path := os.Getenv(holdApplyLockEnv); path != "" {
		holdApplyLock(path)
		return
	}
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tenant.db")
	store, err := snapshots.Open(ctx, path, snapshots.OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	child := snapshots.StartChildTest(t, "TestApplyLockGoesWithAKilledProcess", holdApplyLockEnv, path, "held")
	if _, err := store.LockApply(); !errors.Is(err, snapshots.ErrApplyRunning) {
		t.Fatalf("lock held by another process: %v", err)
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	unlock, err := store.LockApply()
	if err != nil {
		t.Fatalf("lock after its holder was killed: %v", err)
	}
	unlock()
}

// holdApplyLock is the child's side: lock, say so, wait.
func holdApplyLock(path string) {
	store, err := snapshots.Open(context.Background(), path, snapshots.OpenOptions{})
	if err != nil {
		os.Stdout.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	if _, err := store.LockApply(); err != nil {
		os.Stdout.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("held\n")
	time.Sleep(time.Minute)
	os.Exit(0)
}
