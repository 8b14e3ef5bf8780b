package snapshots

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// journalMode is the file's journal mode as the store's writer sees it.
func journalMode(t *testing.T, s *Store) string {
	t.Helper()
	var mode string
	if err := s.w.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	return mode
}

// newFile opens a new snapshot file in a temporary folder.
func newFile(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tenant.db")
	s, err := Open(context.Background(), path, OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// commitOneUser writes a snapshot of one user.
func commitOneUser(ctx context.Context, s *Store) error {
	w, err := s.Begin(ctx, SnapshotMeta{TenantID: "t1"})
	if err != nil {
		return err
	}
	if err := w.PutObject(ctx, entra.KindUser, "u1", []byte(`{"id":"u1","displayName":"Ada"}`), false); err != nil {
		w.Rollback()
		return err
	}
	_, err = w.Commit(ctx)
	return err
}

// A new file takes its first snapshot under a rollback journal, which writes the pages
// once, and is in WAL mode from the moment that snapshot is committed: readers then run
// beside the writer, on this store's connections and on any other process's.
func TestFirstSnapshotGoesInUnderARollbackJournalThenTheFileIsWAL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path := newFile(t)
	if got := journalMode(t, s); got != "delete" {
		t.Fatalf("journal mode of a new file before its first snapshot = %q, want delete", got)
	}
	if err := commitOneUser(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := journalMode(t, s); got != "wal" {
		t.Errorf("journal mode after the first snapshot = %q, want wal", got)
	}
	if _, err := os.Stat(path + "-journal"); !os.IsNotExist(err) {
		t.Errorf("the rollback journal outlived the commit: %v", err)
	}
	var sync int
	if err := s.w.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 1 {
		t.Errorf("synchronous after the switch = %d (%v), want 1 (NORMAL)", sync, err)
	}
	// A reader on another connection sees the snapshot while a write is open.
	w2, err := s.Begin(ctx, SnapshotMeta{TenantID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Rollback()
	snaps, err := s.Snapshots(ctx)
	if err != nil || len(snaps) != 1 {
		t.Errorf("snapshots read beside an open write: %v, %v", snaps, err)
	}
}

// A new file that never gets a snapshot (its store closed unused) is left in WAL mode
// too, as every file Open made was before.
func TestNewFileClosedWithoutASnapshotIsWAL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tenant.db")
	s, err := Open(ctx, path, OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, 20)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(hdr, 0); err != nil {
		t.Fatal(err)
	}
	// Bytes 18 and 19 of the header are the write and read versions: 2 for WAL.
	if hdr[18] != 2 || hdr[19] != 2 {
		t.Errorf("header versions %d/%d, want 2/2 (WAL)", hdr[18], hdr[19])
	}
}

// killedFirstCaptureEnv makes this test binary, run again as a child, start the first
// snapshot of the file it names, write until pages have gone into the file itself, say
// so, and wait to be killed.
const killedFirstCaptureEnv = "LIFELINE_TEST_KILLED_FIRST_CAPTURE"

// A first capture killed part-way (kill -9, a crash) leaves a file that opens, holds
// no snapshot and takes the next one: the rollback journal the pages went in under is
// rolled back when the file is next opened, as the WAL's uncommitted frames were
// ignored before.
func TestFirstCaptureKilledPartWayLeavesAnEmptyFile(t *testing.T) {
	if path := os.Getenv(killedFirstCaptureEnv); path != "" {
		writeUntilKilled(path)
		return
	}
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tenant.db")
	child := StartChildTest(t, "TestFirstCaptureKilledPartWayLeavesAnEmptyFile", killedFirstCaptureEnv, path, "spilled")
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	if _, err := os.Stat(path + "-journal"); err != nil {
		t.Fatalf("no rollback journal beside the killed capture's file: %v", err)
	}
	// Where the journal cannot be rolled back (a read-only copy), the file is not read
	// as immutable, which would show the half-written pages.
	ro := &Store{path: path, busy: time.Second}
	if err := ro.openImmutable(); err == nil || !strings.Contains(err.Error(), "-journal beside it holds a write that was cut off") {
		t.Errorf("reading the killed capture's file as immutable: %v", err)
		if err == nil {
			ro.Close()
		}
	}

	s, err := Open(ctx, path, OpenOptions{})
	if err != nil {
		t.Fatalf("opening the file after the killed capture: %v", err)
	}
	defer s.Close()
	snaps, err := s.Snapshots(ctx)
	if err != nil || len(snaps) != 0 {
		t.Fatalf("snapshots after the killed capture: %v, %v; want none", snaps, err)
	}
	rep, err := s.Verify(ctx, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after the killed capture: %+v, %v", rep, err)
	}
	if err := commitOneUser(ctx, s); err != nil {
		t.Fatalf("the next capture: %v", err)
	}
	if got := journalMode(t, s); got != "wal" {
		t.Errorf("journal mode after the next capture = %q, want wal", got)
	}
}

// writeUntilKilled is the child's side: a first snapshot whose versions outgrow a small
// page cache, so that SQLite writes pages into the file before any commit.
func writeUntilKilled(path string) {
	fail := func(err error) {
		os.Stdout.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	ctx := context.Background()
	s, err := Open(ctx, path, OpenOptions{Create: true})
	if err != nil {
		fail(err)
	}
	if _, err := startFirstSnapshot(ctx, s); err != nil {
		fail(err)
	}
	os.Stdout.WriteString("spilled\n")
	time.Sleep(time.Minute)
	os.Exit(0)
}

// startFirstSnapshot begins a snapshot in s, a new file, and puts versions of random
// text into it until the file is 4 MB larger: pages SQLite had to write before the
// commit (a small page cache makes it do so early), which in rollback mode takes the
// exclusive lock.
func startFirstSnapshot(ctx context.Context, s *Store) (*Writer, error) {
	if _, err := s.w.Exec("PRAGMA cache_size = 8"); err != nil {
		return nil, err
	}
	before, err := os.Stat(s.path)
	if err != nil {
		return nil, err
	}
	w, err := s.Begin(ctx, SnapshotMeta{TenantID: "t1"})
	if err != nil {
		return nil, err
	}
	if err := writeIntoFile(ctx, w, s.path, before.Size()); err != nil {
		w.Rollback()
		return nil, err
	}
	return w, nil
}

// writeIntoFile puts versions of random text until the file at path is 4 MB past size.
func writeIntoFile(ctx context.Context, w *Writer, path string, size int64) error {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 256<<10)
	for i := 0; i <= 400; i++ {
		for j := range noise {
			noise[j] = byte(rng.Uint32())
		}
		id := fmt.Sprintf("u%d", i)
		raw := fmt.Sprintf(`{"id":%q,"displayName":%q}`, id, hex.EncodeToString(noise))
		if err := w.PutObject(ctx, entra.KindUser, id, []byte(raw), false); err != nil {
			return err
		}
		if st, err := os.Stat(path); err == nil && st.Size() > size+4<<20 {
			return nil
		}
	}
	return fmt.Errorf("%s did not grow past %d bytes", path, size)
}

// While a new file's first snapshot is being written, opening the file waits the busy
// timeout and then says what holds it, instead of SQLite's "database is locked".
func TestOpeningAFileDuringItsFirstCaptureSaysWhy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path := newFile(t)
	w, err := startFirstSnapshot(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Rollback()
	for _, readOnly := range []bool{true, false} {
		_, err := Open(ctx, path, OpenOptions{ReadOnly: readOnly, BusyTimeout: 20 * time.Millisecond})
		if !errors.Is(err, ErrFileBusy) || !strings.Contains(err.Error(), "first snapshot keeps everyone else out until it is committed") {
			t.Errorf("Open(ReadOnly: %v) during the first capture: %v", readOnly, err)
		}
	}
}
