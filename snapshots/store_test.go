package snapshots

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

var t0 = time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "tenant.db"), OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func userJSON(i int, dept string) []byte {
	return []byte(fmt.Sprintf(`{"userPrincipalName":"u%d@contoso.com","id":"u%d","displayName":"User %d","department":%q,"@odata.context":"x"}`, i, i, i, dept))
}

// writeSnapshot stores users 0..n-1 (departments from dept) and a group holding them.
func writeSnapshot(t *testing.T, s *Store, n int, dept func(int) string, label string) Snapshot {
	t.Helper()
	ctx := context.Background()
	w, err := s.Begin(ctx, SnapshotMeta{TenantID: "tenant-1", GraphURL: "http://sim/v1.0", TakenAt: t0, Label: label})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := w.PutObject(ctx, entra.KindUser, fmt.Sprintf("u%d", i), userJSON(i, dept(i)), false); err != nil {
			t.Fatal(err)
		}
		if err := w.PutLink(ctx, Link{Kind: entra.KindGroup, From: "g1", Name: "members", To: fmt.Sprintf("u%d", i), ToKind: entra.KindUser}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.PutObject(ctx, entra.KindGroup, "g1", []byte(`{"id":"g1","displayName":"All"}`), false); err != nil {
		t.Fatal(err)
	}
	snap, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestSnapshotRoundTripAndIntervals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	first := writeSnapshot(t, s, 100, func(int) string { return "Sales" }, "baseline")
	// 1% churn: user 7 changes department, user 99 is gone, user 100 is new.
	second := writeSnapshot(t, s, 101, func(i int) string {
		if i == 7 {
			return "Finance"
		}
		return "Sales"
	}, "day 2")
	if first.ID != 1 || second.ID != 2 {
		t.Fatalf("snapshot ids %d, %d", first.ID, second.ID)
	}
	if first.Counts["user"] != 100 || second.Counts["user"] != 101 || second.Counts["group"] != 1 || second.LinkCount != 101 {
		t.Fatalf("counts: %v %v links %d", first.Counts, second.Counts, second.LinkCount)
	}
	if first.RootHash == second.RootHash {
		t.Fatal("different contents, same root hash")
	}
	// The first snapshot still reads as it was.
	o, err := s.Object(ctx, 1, entra.KindUser, "u7")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(o.JSON), `"department":"Sales"`) || strings.Contains(string(o.JSON), "@odata.context") {
		t.Fatalf("snapshot 1 u7 = %s", o.JSON)
	}
	if !strings.HasPrefix(string(o.JSON), `{"department"`) {
		t.Fatalf("stored JSON is not canonical (sorted keys): %s", o.JSON)
	}
	o, err = s.Object(ctx, 2, entra.KindUser, "u7")
	if err != nil || !strings.Contains(string(o.JSON), `"department":"Finance"`) {
		t.Fatalf("snapshot 2 u7 = %s, %v", o.JSON, err)
	}
	if _, err := s.Object(ctx, 1, entra.KindUser, "u100"); !errors.Is(err, ErrNoObject) {
		t.Fatalf("u100 in snapshot 1: %v", err)
	}
	// Unchanged objects share one manifest row across both snapshots.
	var rows int
	if err := s.r.QueryRow("SELECT count(*) FROM objects").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if want := 101 + 1 + 1; rows != want { // 101 users+group from snap 1, u7 v2, u100
		t.Fatalf("manifest rows = %d, want %d", rows, want)
	}
	var n int
	if err := s.Objects(ctx, 1, entra.KindUser, func(Object) error { n++; return nil }); err != nil || n != 100 {
		t.Fatalf("snapshot 1 users = %d, %v", n, err)
	}
	snap, err := s.Resolve(ctx, "baseline")
	if err != nil || snap.ID != 1 {
		t.Fatalf("resolve baseline: %v %v", snap.ID, err)
	}
	if snap, err := s.Resolve(ctx, "latest"); err != nil || snap.ID != 2 {
		t.Fatalf("resolve latest: %v %v", snap.ID, err)
	}
	if _, err := s.Resolve(ctx, "nope"); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("resolve nope: %v", err)
	}
	rep, err := s.Verify(ctx, nil)
	if err != nil || !rep.OK() || rep.Objects != 202+1 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestSecretsNeverStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	w, err := s.Begin(ctx, SnapshotMeta{TenantID: "tenant-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.PutObject(ctx, entra.KindUser, "u1", []byte(`{"id":"u1","passwordProfile":{"password":"hunter2"}}`), false); err != nil {
		t.Fatal(err)
	}
	if err := w.PutObject(ctx, entra.KindApplication, "a1", []byte(`{"id":"a1","passwordCredentials":[{"keyId":"k","secretText":"s3cr3t"}]}`), false); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	raw, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hunter2", "s3cr3t"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("secret %q landed in the snapshot file", secret)
		}
	}
}

func TestRollbackLeavesEarlierSnapshotsUntouched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	first := writeSnapshot(t, s, 10, func(int) string { return "Sales" }, "")
	w, err := s.Begin(ctx, SnapshotMeta{TenantID: "tenant-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.PutObject(ctx, entra.KindUser, "u1", userJSON(1, "Ops"), false); err != nil {
		t.Fatal(err)
	}
	if err := w.PutObject(ctx, entra.KindUser, "bad", []byte(`{"id":`), false); err == nil {
		t.Fatal("truncated JSON accepted")
	}
	w.Rollback()
	snaps, err := s.Snapshots(ctx)
	if err != nil || len(snaps) != 1 || snaps[0].RootHash != first.RootHash {
		t.Fatalf("after rollback: %+v %v", snaps, err)
	}
	if rep, err := s.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("verify after rollback: %+v %v", rep, err)
	}
	// The next snapshot gets the next id.
	if again := writeSnapshot(t, s, 10, func(int) string { return "Sales" }, ""); again.ID != 2 || again.RootHash != first.RootHash {
		t.Fatalf("snapshot after rollback: %+v", again)
	}
}

func TestAnotherTenantIsRefused(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	writeSnapshot(t, s, 3, func(int) string { return "x" }, "")
	_, err := s.Begin(context.Background(), SnapshotMeta{TenantID: "tenant-2"})
	if err == nil || !strings.Contains(err.Error(), "holds snapshots of tenant tenant-1") {
		t.Fatalf("err = %v", err)
	}
}

// writtenFile writes one snapshot of n users (departments Dept-0000 on) to a new file,
// closes it and returns its path and bytes, for a test to damage.
func writtenFile(t *testing.T, n int) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := Open(context.Background(), path, OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	writeSnapshot(t, s, n, func(i int) string { return fmt.Sprintf("Dept-%04d", i) }, "")
	s.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, raw
}

func TestVerifyFindsAFlippedByte(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, raw := writtenFile(t, 20)
	i := bytes.Index(raw, []byte("Dept-0013"))
	if i < 0 {
		t.Fatal("test data not found in file")
	}
	raw[i+7] ^= 0x01 // Dept-0013 -> Dept-0003
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, err := s.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Damage) != 1 || rep.Damage[0].ID != "u13" || !strings.Contains(rep.Damage[0].String(), "does not match its hash") {
		t.Fatalf("damage = %v", rep.Damage)
	}
}

func TestVerifyFindsAnAlteredManifest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	writeSnapshot(t, s, 5, func(int) string { return "x" }, "")
	if _, err := s.w.Exec("DELETE FROM objects WHERE id = 'u3'"); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(rep.Damage[0].Problem, "root hash") {
		t.Fatalf("damage = %v", rep.Damage)
	}
}

func TestForeignAndCorruptFilesAreRefusedUntouched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()

	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE notes(x TEXT); INSERT INTO notes VALUES ('mine')"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(foreign)

	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not sqlite "), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.db")
	if err := os.WriteFile(truncated, []byte("SQLite format 3\x00abc"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{foreign, garbage, truncated} {
		for _, opts := range []OpenOptions{{}, {Create: true}, {ReadOnly: true}} {
			_, err := Open(ctx, path, opts)
			if !errors.Is(err, ErrNotSnapshotFile) {
				t.Errorf("Open(%s, %+v) = %v, want ErrNotSnapshotFile", filepath.Base(path), opts, err)
			}
		}
	}
	after, _ := os.ReadFile(foreign)
	if !bytes.Equal(before, after) {
		t.Error("refusing a foreign file changed it")
	}
	if _, err := Open(ctx, filepath.Join(dir, "missing.db"), OpenOptions{}); err == nil || !strings.Contains(err.Error(), "lifeline capture --out") {
		t.Errorf("missing file error = %v", err)
	}
	// A new file in a folder that does not exist says which folder, and creates nothing.
	nowhere := filepath.Join(dir, "no", "such", "folder", "new.db")
	if _, err := Open(ctx, nowhere, OpenOptions{Create: true}); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "no", "such", "folder")+" does not exist") {
		t.Errorf("missing folder error = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "no")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refusing a path in a missing folder created something: %v", err)
	}
}

// A write that finds another process holding the file's write lock past the busy
// timeout says what is going on and what to do, for a capture and for an apply.
func TestWritingWhileAnotherProcessWritesSaysSo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	writeSnapshot(t, s, 3, func(int) string { return "x" }, "first")
	defer holdWriteLock(t, s.Path())()
	// Production waits defaultBusyTimeout; the test need not.
	if _, err := s.w.ExecContext(ctx, "PRAGMA busy_timeout = 20"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Begin(ctx, SnapshotMeta{TenantID: "tenant-1"}); err == nil || !strings.Contains(err.Error(), "has been writing to "+s.Path()+" for over 10s; wait for it to finish or write to another file") {
		t.Errorf("Begin while another process writes: %v", err)
	}
	err := s.Journal(ctx, "plan", "tenant-1", []StepRecord{{StepID: "s1", State: StepSent, UpdatedAt: time.Unix(0, 0)}}, nil)
	if !errors.Is(err, ErrFileBusy) || !strings.Contains(err.Error(), "so the apply journal cannot be written and the apply stopped: run the same apply again once it has finished") {
		t.Errorf("Journal while another process writes: %v", err)
	}
	err = s.StartRun(ctx, Run{PlanHash: "plan", TenantID: "tenant-1", StartedAt: time.Unix(0, 0)})
	if !errors.Is(err, ErrFileBusy) || !strings.Contains(err.Error(), "so the apply cannot start: run it again once that has finished") {
		t.Errorf("StartRun while another process writes: %v", err)
	}
}

func TestCarryForwardAndRemove(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	writeSnapshot(t, s, 10, func(int) string { return "x" }, "")
	w, err := s.Begin(ctx, SnapshotMeta{TenantID: "tenant-1", Incremental: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []entra.Kind{entra.KindUser, entra.KindGroup} {
		if err := w.CarryForward(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.RemoveObject(ctx, entra.KindUser, "u4"); err != nil {
		t.Fatal(err)
	}
	if err := w.RemoveLink(ctx, Link{Kind: entra.KindGroup, From: "g1", Name: "members", To: "u4"}); err != nil {
		t.Fatal(err)
	}
	snap, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Counts["user"] != 9 || snap.LinkCount != 9 || !snap.Incremental {
		t.Fatalf("incremental snapshot = %+v", snap)
	}
	if rep, err := s.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// An empty file is a snapshot file only to a command that creates one; a store that
// created its file and holds no snapshot is removed by Abandon, one with snapshots is
// kept.
func TestEmptyFilesAndAbandon(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []OpenOptions{{}, {ReadOnly: true}} {
		if _, err := Open(ctx, empty, opts); err == nil || !strings.Contains(err.Error(), "is an empty file, not a snapshot file") {
			t.Errorf("open %+v of an empty file: %v", opts, err)
		}
	}
	if st, err := os.Stat(empty); err != nil || st.Size() != 0 {
		t.Fatalf("the empty file changed: %v %v", st, err)
	}
	for _, path := range []string{empty, filepath.Join(dir, "new.db")} {
		s, err := Open(ctx, path, OpenOptions{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Abandon(ctx); err != nil {
			t.Fatal(err)
		}
		if left, _ := filepath.Glob(path + "*"); len(left) != 0 {
			t.Errorf("Abandon left %v", left)
		}
	}
	// A new file another process is writing into (it holds the write lock) is kept.
	busy := filepath.Join(dir, "busy.db")
	s, err := Open(ctx, busy, OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	release := holdWriteLock(t, busy)
	s.Abandon(ctx)
	release()
	if _, err := os.Stat(busy); err != nil {
		t.Errorf("Abandon removed a file another process was writing: %v", err)
	}
	path := filepath.Join(dir, "kept.db")
	s, err = Open(ctx, path, OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	writeSnapshot(t, s, 2, func(int) string { return "x" }, "")
	if err := s.Abandon(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Abandon removed a file with a snapshot: %v", err)
	}
}

// A file in a folder this user cannot write (a reviewer's copy on a share) is read as
// immutable: every read works, through the pools and the raw connections, and SQLite
// creates nothing beside the file.
func TestAnImmutableFileReadsWholly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "copy.db")
	s, err := Open(ctx, path, OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	snap := writeSnapshot(t, s, 30, func(i int) string { return fmt.Sprintf("Dept-%d", i%3) }, "")
	s.Close()
	r := &Store{path: path, busy: time.Second}
	if err := r.openImmutable(); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.dicts.db = r.r
	rep, err := r.Verify(ctx, nil)
	if err != nil || !rep.OK() || rep.Objects == 0 || rep.Links == 0 {
		t.Fatalf("verify of an immutable file: %+v, %v", rep, err)
	}
	if got, err := r.Resolve(ctx, "latest"); err != nil || got.RootHash != snap.RootHash {
		t.Fatalf("resolve: %+v, %v", got, err)
	}
	if left, _ := filepath.Glob(path + "-*"); len(left) != 0 {
		t.Errorf("reading an immutable file made %v", left)
	}
}

// holdWriteLock takes the file's write lock from another connection, as another
// process writing it would, until the returned function releases it.
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	ctx := context.Background()
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := other.Conn(ctx)
	if err != nil {
		other.Close()
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		holder.Close()
		other.Close()
		t.Fatal(err)
	}
	return func() {
		holder.ExecContext(ctx, "ROLLBACK")
		holder.Close()
		other.Close()
	}
}

// A file whose pages SQLite finds malformed is reported as damage, one line each, not
// as an error that hides the report, nor as SQLite's multi-line dump.
func TestVerifyReportsAMalformedFileAsDamage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, raw := writtenFile(t, 3000)
	pageSize := int(raw[16])<<8 | int(raw[17])
	if pageSize == 1 {
		pageSize = 65536
	}
	// Every page's header after the first two: cell pointers and counts garbled.
	for p := 2; (p+1)*pageSize <= len(raw); p++ {
		for i := p*pageSize + 1; i < p*pageSize+12; i++ {
			raw[i] ^= 0x5a
		}
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Skipf("the damage is found on opening already: %v", err)
	}
	defer s.Close()
	rep, err := s.Verify(ctx, nil)
	if err != nil {
		t.Fatalf("verify of a malformed file returned an error instead of damage: %v", err)
	}
	if rep.OK() {
		t.Fatal("a malformed file verified intact")
	}
	for _, d := range rep.Damage {
		if strings.Contains(d.String(), "\n") {
			t.Errorf("a damage line spans lines: %q", d.String())
		}
	}
}

// A disk that fills up while a new file is being set up leaves no half-made file (which
// would later read as "not a lifeline snapshot file") and says so in words.
func TestANewFileOnAFullDiskLeavesNothing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "new.db")
	_, err := Open(context.Background(), path, OpenOptions{Create: true, maxPages: 2})
	if err == nil || !strings.Contains(err.Error(), "the disk holding "+path+" is full: the new file could not be set up") {
		t.Fatalf("open on a full disk: %v", err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s was left behind (%v)", p, err)
		}
	}
}

// The ledger maps every id an object ever had to the one it has now: recording that
// A now lives as C, after A -> B and Z -> A, leaves Z, A and B all at C, and an
// application's earlier appIds with them. An object that kept its id moves nothing.
func TestLedgerPointsEveryEarlierIDAtTheNewest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	record := func(old, new, oldApp, newApp string) {
		t.Helper()
		e := LedgerEntry{Kind: entra.KindApplication, OldID: old, NewID: new, OldAppID: oldApp, NewAppID: newApp, DisplayName: "Payroll", StepID: "s-" + new, RecordedAt: time.Unix(1, 0)}
		if err := s.Journal(ctx, "plan-"+new, "tenant-1", nil, []LedgerEntry{e}); err != nil {
			t.Fatal(err)
		}
	}
	record("Z", "A", "appZ", "appA")
	record("A", "B", "appA", "appB")
	record("A", "C", "appA", "appC")
	record("K", "K", "", "")
	entries, err := s.Ledger(ctx, "tenant-1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range entries {
		got[e.OldID+"/"+e.OldAppID] = e.NewID + "/" + e.NewAppID
	}
	want := map[string]string{"Z/appZ": "C/appC", "A/appA": "C/appC", "B/appB": "C/appC", "K/": "K/"}
	if !maps.Equal(got, want) {
		t.Errorf("ledger %v, want %v", got, want)
	}
}
