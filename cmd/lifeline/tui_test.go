package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
)

func TestTUINeedsAFile(t *testing.T) {
	t.Parallel()
	// Without --db, tui is plain lifeline: the demo at a terminal, its usage in a pipe.
	stdout, _, code := lifeline(t, "tui")
	if code != exitOK || !strings.Contains(stdout, "tui [--db FILE]") {
		t.Fatalf("tui without --db in a pipe: exit %d, %q; want its usage", code, stdout)
	}
	_, stderr, code := lifeline(t, "tui", "--graph-url", "http://127.0.0.1:1/v1.0")
	if code != exitUsage || !strings.Contains(stderr, "--db is required with --graph-url") {
		t.Fatalf("a live tui without --db: exit %d, %q; want a usage error naming --db", code, stderr)
	}
	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = lifeline(t, "tui", "--db", junk)
	if code != exitFailure || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("tui on a junk file: exit %d, %q; want one sentence and exit 1", code, stderr)
	}
}

// usersFile writes a snapshot file holding one snapshot of n users (u0, u1, ...).
func usersFile(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := snapshots.Open(ctx, path, snapshots.OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := s.Begin(ctx, snapshots.SnapshotMeta{TenantID: "tenant-tui", TakenAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Label: "only"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprintf("u%d", i)
		if err := w.PutObject(ctx, entra.KindUser, id, []byte(fmt.Sprintf(`{"id":%q,"displayName":"User %d"}`, id, i)), false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTUIOpensAFileOfflineAndQuits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := usersFile(t, 1)

	var out, errb bytes.Buffer
	cmd := newTUICommand(&out, &errb)
	cmd.SetIn(strings.NewReader("q"))
	cmd.SetArgs([]string{"--db", path, "--read-only"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tui: %v (%s)", err, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the console did not quit on q")
	}
	// Without a terminal there is no window size to draw into, but the console did start
	// (it titled the window) and left the alternate screen on the way out.
	if o := out.String(); !strings.Contains(o, "lifeline · Overview") || !strings.Contains(o, "\x1b[?1049l") {
		t.Fatalf("the console did not start and restore the terminal:\n%q", o)
	}
}

func TestTUIOpensLiveAgainstTheSimAndQuits(t *testing.T) {
	t.Parallel()
	info, db := servedBaseline(t, "--users", "30", "--seed", "5")
	var out, errb bytes.Buffer
	cmd := newTUICommand(&out, &errb)
	cmd.SetIn(strings.NewReader("q"))
	cmd.SetArgs([]string{"--db", db, "--graph-url", info.GraphURL})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tui --graph-url: %v (%s)", err, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the live console did not quit on q")
	}
	if o := out.String(); !strings.Contains(o, "lifeline · Overview") || !strings.Contains(o, "\x1b[?1049l") {
		t.Fatalf("the live console did not start and restore the terminal:\n%q", o)
	}
	// Live and without --read-only, the console can apply: it has the file open for
	// writing (apply journals there), and says read-only only when asked to be.
	if o := out.String(); strings.Contains(o, "(read-only)") {
		t.Fatalf("the live console opened read-only:\n%q", o)
	}
	out.Reset()
	cmd = newTUICommand(&out, &errb)
	cmd.SetIn(strings.NewReader("q"))
	cmd.SetArgs([]string{"--db", db, "--graph-url", info.GraphURL, "--read-only"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("tui --graph-url --read-only: %v (%s)", err, errb.String())
	}
	if o := out.String(); !strings.Contains(o, "lifeline · Overview (read-only)") {
		t.Fatalf("the live console with --read-only does not say so:\n%q", o)
	}
}

// Plain 'lifeline' opens the console where the environment points; these cases must
// answer at once, never wait on a console nobody can drive.
func TestPlainLifeline(t *testing.T) {
	for _, v := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH"} {
		t.Setenv(v, "")
	}
	t.Setenv("LIFELINE_GRAPH_URL", "http://127.0.0.1:1/v1.0")
	_, stderr, code := lifeline(t)
	if code != exitUsage || !strings.Contains(stderr, "--db") || strings.Count(stderr, "\n") > 2 {
		t.Fatalf("lifeline with LIFELINE_GRAPH_URL and no --db: exit %d, %q; want one sentence naming --db", code, stderr)
	}
	t.Setenv("LIFELINE_GRAPH_URL", "")
	stdout, _, code := lifeline(t)
	if code != exitOK || !strings.Contains(stdout, "Usage:") {
		t.Fatalf("lifeline with nothing configured and no terminal should print the usage: exit %d\n%s", code, stdout)
	}
	if _, _, code := lifeline(t, "nonsense"); code != exitUsage {
		t.Fatalf("an unknown command is still a usage error: exit %d", code)
	}
}

// 'lifeline --read-only' with nothing configured opens the demo, and read-only it
// stays: the demo is a tenant like any other to the flag.
func TestDemoConsoleKeepsReadOnly(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := runDemo(context.Background(), strings.NewReader("q"), &out, "127.0.0.1:0", true, true); err != nil {
		t.Fatalf("demo console: %v", err)
	}
	if o := out.String(); !strings.Contains(o, "lifeline · Overview (read-only)") {
		t.Fatalf("the demo console with --read-only does not say so:\n%q", o)
	}
}

// A snapshot file SQLite finds malformed gets one sentence naming the file and what to
// do, not SQLite's bare "database disk image is malformed".
func TestADamagedFileIsNamedWithWhatToDo(t *testing.T) {
	t.Parallel()
	path := usersFile(t, 3000)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := int(raw[16])<<8 | int(raw[17])
	if pageSize == 1 {
		pageSize = 65536
	}
	for p := 2; (p+1)*pageSize <= len(raw); p++ {
		for i := p*pageSize + 1; i < p*pageSize+12; i++ {
			raw[i] ^= 0x5a
		}
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := lifeline(t, "graph", "--db", path, "--snapshot", "1", "u7")
	if code != exitFailure || !strings.Contains(stderr, path+" is damaged") || !strings.Contains(stderr, "snapshots verify --db "+path) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("graph on a damaged file: exit %d, %q", code, stderr)
	}
	// verify, the command that sentence names, reports a file cut short so that it
	// cannot even be opened itself, rather than pointing back at verify: a DAMAGED
	// line, or a JSON report holding it.
	path = filepath.Join(filepath.Dir(path), "cut.db")
	if err := os.WriteFile(path, raw[:50000], 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := lifeline(t, "snapshots", "verify", "--db", path)
	if code != exitFailure || !strings.HasPrefix(stdout, "DAMAGED  the file cannot be read") || strings.Contains(stderr, "snapshots verify") || !strings.Contains(stderr, "restore the file from a copy") {
		t.Fatalf("verify of a file SQLite cannot read: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	stdout, _, code = lifeline(t, "snapshots", "verify", "--db", path, "--json")
	var rep struct {
		Damage []struct{ Problem string } `json:"damage"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != exitFailure || len(rep.Damage) != 1 || !strings.Contains(rep.Damage[0].Problem, "malformed") {
		t.Fatalf("verify --json of a file SQLite cannot read: exit %d, %q (%v)", code, stdout, err)
	}
}

// Quitting mid-run names a saved plan to resume only when the run applied exactly that
// file; otherwise the remedy is the console's Plan screen.
func TestStoppedRunNamesOnlyTheSavedPlanItRan(t *testing.T) {
	t.Parallel()
	msg := stoppedRunError("tenant.db", "", false).Error()
	if strings.Contains(msg, "lifeline apply") || !strings.Contains(msg, "Plan screen") {
		t.Fatalf("an unsaved (or edited) plan has no file to resume: %q", msg)
	}
	msg = stoppedRunError("tenant.db", "/x/PLAN.json", false).Error()
	if !strings.Contains(msg, "'lifeline apply /x/PLAN.json'") {
		t.Fatalf("the saved plan the run applied resumes with apply: %q", msg)
	}
}

// The demo discards its tenant and its snapshot file on exit: quitting mid-run says so
// rather than pointing at a journal that is about to be deleted.
func TestStoppedDemoRunSaysItIsDiscarded(t *testing.T) {
	t.Parallel()
	msg := stoppedRunError("/tmp/lifeline-demo-1/demo.db", "/tmp/lifeline-demo-1/PLAN.json", true).Error()
	if strings.Contains(msg, "journal") || strings.Contains(msg, "resume") && !strings.Contains(msg, "nothing to resume") || !strings.Contains(msg, "discarded") {
		t.Fatalf("the demo's stopped run: %q", msg)
	}
}

// A command without --db still gets a sentence that reads: the general name, and FILE
// where the operator puts the path.
func TestADamagedFileWithoutDBFlag(t *testing.T) {
	t.Parallel()
	err := damagedFile(newApplyCommand(io.Discard, io.Discard), errors.New("database disk image is malformed (11)"))
	if msg := err.Error(); !strings.HasPrefix(msg, "the snapshot file is damaged") || !strings.Contains(msg, "snapshots verify --db FILE'") {
		t.Fatalf("no --db: %s", msg)
	}
}
