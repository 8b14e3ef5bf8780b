package snapshots

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

func TestExportImportRoundTripKeepsTheRootHash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newStore(t)
	snap := writeSnapshot(t, src, 25, func(i int) string { return []string{"Sales", "R&D <core>", "Ops"}[i%3] }, "golden")
	dir := filepath.Join(t.TempDir(), "export")
	m, err := src.Export(ctx, snap.ID, dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Objects != 26 || m.Links != 25 || m.RootHash != snap.RootHash {
		t.Fatalf("manifest = %+v", m)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "user", "u3.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"department": "Sales"`) || !strings.Contains(string(raw), "\n  ") {
		t.Fatalf("exported file is not indented, sorted JSON:\n%s", raw)
	}
	group, _ := os.ReadFile(filepath.Join(dir, "group", "g1.json"))
	if !strings.Contains(string(group), `"members": [`) {
		t.Fatalf("group links missing from its file:\n%s", group)
	}

	dst := newStore(t)
	rep, err := dst.Import(ctx, dir, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Snapshot.RootHash != snap.RootHash || len(rep.Skipped) != 0 || rep.Loaded["user"] != 25 || rep.Links != 25 {
		t.Fatalf("import = %+v, want root hash %s", rep, snap.RootHash)
	}
	if again, err := src.Export(ctx, snap.ID, dir); err == nil {
		t.Fatalf("export over a non-empty folder succeeded: %+v", again)
	}
}

func TestImportRefusesTamperedOrHostileFoldersAndChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newStore(t)
	snap := writeSnapshot(t, src, 5, func(int) string { return "Sales" }, "")
	cases := map[string]func(dir string){
		"tampered content": func(dir string) {
			p := filepath.Join(dir, "user", "u2.json")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), `"Sales"`, `"Evil"`, 1)), 0o644)
		},
		"truncated JSON": func(dir string) {
			p := filepath.Join(dir, "user", "u2.json")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		},
		"unknown kind": func(dir string) {
			os.Mkdir(filepath.Join(dir, "printer"), 0o755)
		},
		"id mismatch": func(dir string) {
			os.Rename(filepath.Join(dir, "user", "u2.json"), filepath.Join(dir, "user", "u9.json"))
		},
		"wrong format": func(dir string) {
			os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"format":"something-else/7","tenant_id":"tenant-1"}`), 0o644)
		},
		"object file removed": func(dir string) {
			os.Remove(filepath.Join(dir, "user", "u2.json"))
		},
		"garbage after document": func(dir string) {
			p := filepath.Join(dir, "user", "u1.json")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, append(b, []byte("{}")...), 0o644)
		},
		"links of the wrong type": func(dir string) {
			p := filepath.Join(dir, "user", "u1.json")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), `"kind": "user"`, `"kind": "user", "links": "all of them"`, 1)), 0o644)
		},
		"a link to a file outside": func(dir string) {
			p := filepath.Join(dir, "user", "u1.json")
			os.Remove(p)
			os.Symlink("/etc/hostname", p)
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "export")
			if _, err := src.Export(ctx, snap.ID, dir); err != nil {
				t.Fatal(err)
			}
			damage(dir)
			dst := newStore(t)
			if _, err := dst.Import(ctx, dir, ImportOptions{}); err == nil {
				t.Fatal("damaged folder imported")
			} else if strings.Contains(err.Error(), "goroutine") || strings.Contains(err.Error(), "Go struct") || strings.Contains(err.Error(), "snapshots.") {
				t.Fatalf("error is a dump or names Go types: %v", err)
			}
			if snaps, _ := dst.Snapshots(ctx); len(snaps) != 0 {
				t.Fatalf("a failed import left %d snapshots", len(snaps))
			}
		})
	}
}

// A folder that lost an object file would be a snapshot in which the object was
// deleted: it is refused, saying what is missing, unless the operator accepts the
// edits, and then the report says the folder was edited.
func TestImportOfAnEditedFolderNeedsAcceptEdits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newStore(t)
	snap := writeSnapshot(t, src, 5, func(int) string { return "Sales" }, "")
	dir := filepath.Join(t.TempDir(), "export")
	if _, err := src.Export(ctx, snap.ID, dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "user", "u2.json")); err != nil {
		t.Fatal(err)
	}
	dst := newStore(t)
	_, err := dst.Import(ctx, dir, ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "5 user objects, the folder 4") || !strings.Contains(err.Error(), "--accept-edits") {
		t.Fatalf("import of a folder missing a file: %v", err)
	}
	rep, err := dst.Import(ctx, dir, ImportOptions{AcceptEdits: true})
	if err != nil || rep.Loaded["user"] != 4 || len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0], "--accept-edits") {
		t.Fatalf("import with AcceptEdits: %+v, %v", rep, err)
	}
}

// A disk that fills up during an import (here, SQLite's max_page_count) leaves the file
// as it was and says so in words, not as "database or disk is full (13)".
func TestImportOntoAFullDiskSaysSoAndKeepsTheFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newStore(t)
	snap := writeSnapshot(t, src, 3000, func(i int) string { return "Sales" }, "big")
	dir := filepath.Join(t.TempDir(), "export")
	if _, err := src.Export(ctx, snap.ID, dir); err != nil {
		t.Fatal(err)
	}
	dst := newStore(t)
	first := writeSnapshot(t, dst, 3, func(int) string { return "x" }, "first")
	var pages int64
	if err := dst.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.w.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	_, err := dst.Import(ctx, dir, ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "the disk holding "+dst.Path()+" is full: nothing of this import was kept") {
		t.Fatalf("import onto a full disk: %v", err)
	}
	snaps, err := dst.Snapshots(ctx)
	if err != nil || len(snaps) != 1 || snaps[0].RootHash != first.RootHash {
		t.Fatalf("after the failed import the file holds %+v (%v), want snapshot %d alone", snaps, err, first.ID)
	}
}

// So does an apply journal that cannot be written, with what to do about the apply.
func TestJournalOntoAFullDiskSaysHowToResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	writeSnapshot(t, s, 3, func(int) string { return "x" }, "first")
	var pages int64
	if err := s.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	steps := make([]StepRecord, 5000)
	for i := range steps {
		steps[i] = StepRecord{StepID: fmt.Sprintf("step-%05d", i), State: StepSent, Result: []byte(`{"note":"` + strings.Repeat("x", 200) + `"}`), UpdatedAt: time.Unix(0, 0)}
	}
	err := s.Journal(ctx, "plan", "tenant-1", steps, nil)
	if err == nil || !strings.Contains(err.Error(), "is full, so the apply journal cannot be written and the apply stopped: free some space and run the same apply again") {
		t.Fatalf("journal onto a full disk: %v", err)
	}
}

func TestImportEntraExporterFolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	rep, err := s.Import(ctx, filepath.Join("..", "testdata", "entraexporter"), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Snapshot.TenantID != "11111111-2222-3333-4444-555555555555" || rep.Format != "entraexporter" {
		t.Fatalf("report = %+v", rep)
	}
	want := map[string]int{"organization": 1, "user": 2, "group": 1, "conditionalAccessPolicy": 1, "authenticationMethodsPolicy": 1}
	for k, n := range want {
		if rep.Loaded[k] != n {
			t.Errorf("loaded %s = %d, want %d (all: %v)", k, rep.Loaded[k], n, rep.Loaded)
		}
	}
	if rep.Links != 3 {
		t.Errorf("links = %d, want 3", rep.Links)
	}
	skipped := strings.Join(rep.Skipped, "\n")
	for _, s := range []string{"Domains: lifeline does not model it", "Policies/AuthorizationPolicy: lifeline does not model it", "property user.extensions"} {
		if !strings.Contains(skipped, s) {
			t.Errorf("skipped list lacks %q:\n%s", s, skipped)
		}
	}
	// The UTF-16 file written by Windows PowerShell reads as well as the UTF-8 ones.
	o, err := s.Object(ctx, rep.Snapshot.ID, entra.KindUser, "aaaaaaaa-0000-0000-0000-000000000002")
	if err != nil || !strings.Contains(string(o.JSON), "Alex Wilber") {
		t.Fatalf("UTF-16 user = %s, %v", o.JSON, err)
	}
	if rep, err := s.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("verify after import: %+v %v", rep, err)
	}
}

// A hostile EntraExporter folder is refused whole: a planted copy of an object under
// another folder name (which would replace the genuine one), a link out of the folder,
// a file that is not one object.
func TestImportRefusesAlteredEntraExporterFolders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const alice = "aaaaaaaa-0000-0000-0000-000000000001"
	userFile := filepath.Join("Users", alice, alice+".json")
	cases := []struct {
		name   string
		damage func(dir string) error
		want   string
	}{
		{"a planted copy under another folder name", func(dir string) error {
			b, err := os.ReadFile(filepath.Join(dir, userFile))
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Join(dir, "Users", "00000"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "Users", "00000", "00000.json"), []byte(strings.Replace(string(b), "Adele Vance", "EVIL", 1)), 0o644)
		}, "holds user " + alice + ", not 00000"},
		{"a link out of the folder", func(dir string) error {
			os.Remove(filepath.Join(dir, userFile))
			return os.Symlink("/etc/hostname", filepath.Join(dir, userFile))
		}, "is a symbolic link"},
		{"a list where one object belongs", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, userFile), []byte(`[{"id":"`+alice+`"}]`), 0o644)
		}, "is not a JSON object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "testdata", "entraexporter"))); err != nil {
				t.Fatal(err)
			}
			if err := c.damage(dir); err != nil {
				t.Fatal(err)
			}
			s := newStore(t)
			_, err := s.Import(ctx, dir, ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("import: %v; want one sentence with %q", err, c.want)
			}
			if snaps, _ := s.Snapshots(ctx); len(snaps) != 0 {
				t.Fatalf("a refused import left %d snapshots", len(snaps))
			}
		})
	}
}

// An export into an existing empty folder keeps that folder's mode; a new folder is the
// operator's alone, as it holds the tenant.
func TestExportKeepsAnExistingFoldersMode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newStore(t)
	snap := writeSnapshot(t, src, 3, func(int) string { return "x" }, "")
	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o750); err != nil {
		t.Fatal(err)
	}
	os.Chmod(shared, 0o750) // whatever the umask
	fresh := filepath.Join(t.TempDir(), "fresh")
	for dir, want := range map[string]os.FileMode{shared: 0o750, fresh: 0o700} {
		if _, err := src.Export(ctx, snap.ID, dir); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s after export: %v %v, want mode %v", filepath.Base(dir), st.Mode(), err, want)
		}
	}
}
