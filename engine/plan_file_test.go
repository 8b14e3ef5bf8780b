package engine

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestCheckPlanDestination(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		path, refusal string
	}{
		{filepath.Join(dir, "new.json"), ""},
		{write("empty.json", ""), ""},
		{write("old-plan.json", "{\n  \"format\": \"lifeline-plan/1\",\n  \"stages\": []\n}\n"), ""},
		{write("tenant.db", sqliteHeader+"\x10\x00rest of a database"), "is a SQLite database"},
		{write("notes.txt", "incident notes"), "is not a lifeline plan"},
		{write("other.json", `{"stages": [], "format": "something-else/1"}`), "is not a lifeline plan"},
		{write("array.json", `[1, 2]`), "is not a lifeline plan"},
		{dir, "is a directory"},
	} {
		err := CheckPlanDestination(tc.path)
		switch {
		case tc.refusal == "" && err != nil:
			t.Errorf("%s: refused: %v", filepath.Base(tc.path), err)
		case tc.refusal != "" && (err == nil || !strings.Contains(err.Error(), tc.refusal)):
			t.Errorf("%s: %v, want a refusal saying %q", filepath.Base(tc.path), err, tc.refusal)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) != 0 {
		t.Errorf("the checks left scratch files: %v", left)
	}
}

// A folder that cannot be written is refused before the tenant is read, not after the
// plan is built. Linux's /proc takes no new files, even from root (whom a folder's
// permission bits would not stop).
func TestCheckPlanDestinationRefusesAFolderItCannotWrite(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux's /proc, a folder nobody can create files in")
	}
	err := CheckPlanDestination("/proc/plan.json")
	if err == nil || !strings.Contains(err.Error(), "plan.json cannot be written in /proc") || !strings.Contains(err.Error(), "a folder you can write to") {
		t.Fatalf("plan into /proc: %v", err)
	}
}

func TestCheckPasswordFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		path, refusal string
	}{
		{filepath.Join(dir, "new.passwords"), ""},
		{write("empty.passwords", "", 0o600), ""},
		{write("earlier.passwords", "ann@contoso.com\tSecret-123\told-id\t2026-11-22T05:00:00Z\n", 0o600), ""},
		{write("tenant.db", sqliteHeader+"rest of a database", 0o600), "something other than generated passwords"},
		{write("plan.json", "{\n  \"format\": \"lifeline-plan/1\"\n}\n", 0o600), "something other than generated passwords"},
		{write("shared.passwords", "", 0o644), "can be read by others"},
		{write("shared-tenant.db", sqliteHeader+"rest of a database", 0o644), "something other than generated passwords"},
		{dir, "is a directory"},
		{"", "no password file was given"},
		{write("tenant.db-wal", "", 0o600), "looks like a SQLite -wal file"},
	} {
		err := checkPasswordFile(tc.path)
		switch {
		case tc.refusal == "" && err != nil:
			t.Errorf("%q: refused: %v", filepath.Base(tc.path), err)
		case tc.refusal != "" && (err == nil || !strings.Contains(err.Error(), tc.refusal)):
			t.Errorf("%q: %v, want a refusal saying %q", filepath.Base(tc.path), err, tc.refusal)
		}
	}
}

func TestReadPlanRefusesWhatIsNotAPlan(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	sealed := &Plan{Format: PlanFormat, TenantID: "t", Snapshot: 1, LiveFingerprint: "f", Stages: []Stage{{Name: StageRollback, Steps: []Step{{ID: "a1", Action: ActionRollback,
		Requests: []Request{{Method: "PATCH", Path: "/users/u1", Body: json.RawMessage(`{"department":"Sales"}`)}}}}}}}
	if err := WritePlanJSON(&b, sealed); err != nil {
		t.Fatal(err)
	}
	plan := b.String()
	if _, err := ReadPlan([]byte(plan)); err != nil {
		t.Fatalf("a plan: %v", err)
	}
	// A path that would reach another host, resealed as an attacker with the file can:
	// the seal proves the bytes, not that they came from lifeline.
	for _, bad := range []string{"//127.0.0.1:1/steal", `/\127.0.0.1/steal`, "/users/../../steal", "https://evil.test/x"} {
		other := *sealed
		other.Stages = []Stage{{Name: StageRollback, Steps: []Step{{ID: "a1", Action: ActionRollback, Requests: []Request{{Method: "PATCH", Path: bad}}}}}}
		var ob bytes.Buffer
		if err := WritePlanJSON(&ob, &other); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadPlan(ob.Bytes()); err == nil || !strings.Contains(err.Error(), "is not a Graph path") {
			t.Errorf("a sealed plan sending to %q: %v", bad, err)
		}
	}
	unsealed := `{"format": "lifeline-plan/1", "tenant_id": "t", "snapshot": 1, "live_fingerprint": "f", "stages": []}`
	for _, tc := range []struct{ data, says string }{
		{plan + "\nann@contoso.com\tSecret-123\told-id\t2026-11-22T05:00:00Z\n", "has more after the plan"},
		{strings.Replace(plan, `"Sales"`, `"HACKED"`, 1), "was changed after it was written"},
		{strings.Replace(plan, `"PATCH"`, `"DELETE"`, 1), "was changed after it was written"},
		{unsealed, "has no seal"},
		{strings.ReplaceAll(plan, "\n", "\r\n"), "changed to CRLF"},
		{`[1, 2]`, "the file holds a JSON array"},
		{`{"format": "lifeline-plan/1", "stages": "none"}`, `its "stages" is a JSON string`},
		{`{"format": "lifeline-plan/1", "snapshot": "one"}`, `its "snapshot" is a JSON string`},
	} {
		_, err := ReadPlan([]byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), "Go") {
			t.Errorf("%.40q: %v, want it to say %q", tc.data, err, tc.says)
		}
	}
}

// The typed domain is compared as DNS compares names: ASCII letters in any case, any
// other character exactly, so a look-alike never confirms an apply.
func TestSameDomain(t *testing.T) {
	t.Parallel()
	const domain = "fabrikam.onmicrosoft.com"
	for _, tc := range []struct {
		typed string
		want  bool
	}{
		{domain, true},
		{"Fabrikam.OnMicrosoft.COM", true},
		{"fabrikam.onmicrosoft.co", false},
		{"fabrikam.onmicroſoft.com", false},      // the long s, which Unicode folds to "s"
		{"fabri\u212Aam.onmicrosoft.com", false}, // the Kelvin sign, folded to "k"
		{"", false},
	} {
		if got := SameDomain(tc.typed, domain); got != tc.want {
			t.Errorf("SameDomain(%q) = %v, want %v", tc.typed, got, tc.want)
		}
	}
}
