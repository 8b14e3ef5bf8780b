package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlanAgainstTheSim(t *testing.T) {
	t.Parallel()
	info, db := servedBaseline(t, "--users", "30", "--seed", "5")
	dir := filepath.Dir(db)

	client := operatorClient(t, info)
	var users struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	client.getJSON(t, "/users?$top=3&$select=id", &users)
	var groups struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	client.getJSON(t, "/groups?$top=1&$select=id", &groups)
	if len(users.Value) < 3 || len(groups.Value) < 1 {
		t.Fatalf("sim tenant too small: %v %v", users, groups)
	}
	deleted, group := users.Value[1].ID, groups.Value[0].ID
	client.send(t, "DELETE", "/users/"+deleted, "")
	purged := users.Value[2].ID
	client.send(t, "DELETE", "/users/"+purged, "")
	client.send(t, "DELETE", "/directory/deletedItems/"+purged, "")
	client.send(t, "PATCH", "/groups/"+group, `{"description":"Tampered"}`)

	// An --out in a directory that is not there is refused before any work.
	missing := filepath.Join(dir, "no-such-dir", "plan.json")
	if _, errs, code := lifeline(t, "plan", "--db", db, "--from", "1", "--graph-url", info.GraphURL, "--out", missing); code != 2 || !strings.Contains(errs, "does not exist") {
		t.Fatalf("plan --out in a missing directory: exit %d\n%s", code, errs)
	}
	// Only an earlier plan is replaced: the snapshot file, or any other file, is
	// refused before any work and left as it was.
	notes := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("incident notes"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ path, says string }{{db, "SQLite database"}, {notes, "is not a lifeline plan"}, {dir, "is a directory"}} {
		if _, errs, code := lifeline(t, "plan", "--db", db, "--from", "1", "--graph-url", info.GraphURL, "--out", f.path); code != 2 || !strings.Contains(errs, f.says) {
			t.Errorf("plan --out %s: exit %d\n%s", f.path, code, errs)
		}
	}
	if b, err := os.ReadFile(notes); err != nil || string(b) != "incident notes" {
		t.Errorf("plan --out notes.txt changed it: %q %v", b, err)
	}
	if out, errs, code := lifeline(t, "snapshots", "verify", "--db", db); code != 0 {
		t.Fatalf("the snapshot file after plan --out at it: %d\n%s\n%s", code, out, errs)
	}
	// A plan replaces an earlier plan at --out whole, readable by the operator only,
	// and leaves no temporary file beside it.
	planFile := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(planFile, []byte(`{"format": "lifeline-plan/1", "stages": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := lifeline(t, "plan", "--db", db, "--from", "1", "--graph-url", info.GraphURL, "--out", planFile)
	if code != 0 {
		t.Fatalf("plan: %d\n%s\n%s", code, out, errs)
	}
	if st, err := os.Stat(planFile); err != nil {
		t.Fatal(err)
	} else if st.Mode().Perm() != 0o600 {
		t.Fatalf("plan file mode %v; want 0600", st.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".plan.json.*")); len(left) > 0 {
		t.Fatalf("temporary files left beside the plan: %v", left)
	}
	for _, want := range []string{"1 to restore from the bin", "1 to recreate", "links to restore", "properties to roll back", "additions to remove", "CA policies (report-only first)"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	raw, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	var plan struct {
		Format          string `json:"format"`
		TenantID        string `json:"tenant_id"`
		Snapshot        int64  `json:"snapshot"`
		BuiltAt         string `json:"built_at"`
		LiveFingerprint string `json:"live_fingerprint"`
		Stages          []struct {
			Name  string                       `json:"name"`
			Steps []map[string]json.RawMessage `json:"steps"`
		} `json:"stages"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal(raw, &plan); err != nil {
		t.Fatalf("plan file: %v\n%s", err, raw)
	}
	if plan.Format != "lifeline-plan/1" || plan.TenantID != info.TenantID || plan.Snapshot != 1 || plan.BuiltAt == "" || len(plan.LiveFingerprint) < 32 || plan.Warnings == nil {
		t.Errorf("plan header: %+v", plan)
	}
	var names []string
	found := map[string]bool{}
	for _, st := range plan.Stages {
		names = append(names, st.Name)
		for _, step := range st.Steps {
			for _, k := range []string{"id", "kind", "object_id", "display_name", "action", "depends_on", "requests"} {
				if _, ok := step[k]; !ok {
					t.Errorf("step in %s lacks %s", st.Name, k)
				}
			}
			var id string
			json.Unmarshal(step["object_id"], &id)
			found[st.Name+"/"+id] = true
		}
	}
	if got := strings.Join(names, ","); got != "restore-from-bin,recreate,relink,rollback,remove-additions,conditional-access,verify" {
		t.Errorf("stages %s", got)
	}
	if !found["restore-from-bin/"+deleted] || !found["rollback/"+group] || !found["recreate/"+purged] {
		t.Errorf("plan lacks the restore of %s, the rollback of %s or the recreate of %s:\n%s", deleted, group, purged, raw)
	}
	if !strings.Contains(string(raw), `"password": "{{generated}}"`) && !strings.Contains(string(raw), `"password":"{{generated}}"`) {
		t.Errorf("the recreated user's password is not the placeholder")
	}
	if !strings.Contains(out, "generated password") {
		t.Errorf("summary lacks the password warning:\n%s", out)
	}

	// Without removals, and a scope on the deleted user only.
	out, _, code = lifeline(t, "plan", "--db", db, "--from", "1", "--graph-url", info.GraphURL, "--out", planFile,
		"--without-removals", "--scope", "kind=user,id="+deleted, "--json")
	var sum struct {
		Plan    string         `json:"plan"`
		Summary map[string]any `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || code != 0 {
		t.Fatalf("plan --json: %d %s", code, out)
	}
	if sum.Summary["restore_from_bin"] != float64(1) || sum.Summary["properties"] != float64(0) || sum.Summary["without_removals"] != true {
		t.Errorf("scoped summary: %v", sum.Summary)
	}
}

func TestPlanUsageErrors(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "none.db")
	for _, args := range [][]string{
		{"plan", "--from", "1", "--out", "p.json"},
		{"plan", "--db", db, "--out", "p.json"},
		{"plan", "--db", db, "--from", "1"},
		{"plan", "--db", db, "--from", "1", "--out", "p.json", "--scope", "kind=user"},
		{"plan", "--db", db, "--from", "1", "--out", "p.json", "--scope", "id=x"},
		{"plan", "--db", db, "--from", "1", "--out", "p.json", "--scope", "kind=gizmo,id=x"},
	} {
		_, errs, code := lifeline(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errs)
		}
	}
	_, errs, _ := lifeline(t, "plan", "--db", db, "--from", "1", "--out", "p.json", "--scope", "kind=gizmo,id=x")
	if !strings.Contains(errs, "unknown object kind") {
		t.Errorf("unknown kind message: %s", errs)
	}
	ids, err := parseScope([]string{"kind=user,id=a,kind=Group,id=b", "kind=servicePrincipal,id=c"})
	if err != nil || len(ids) != 3 || ids[1].Kind != "group" || ids[2].ID != "c" {
		t.Errorf("parseScope: %v %v", ids, err)
	}
}
