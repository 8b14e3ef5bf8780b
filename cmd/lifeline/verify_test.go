package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifyAgainstTheSim(t *testing.T) {
	t.Parallel()
	info, db := servedBaseline(t, "--users", "30", "--seed", "9")

	// Nothing happened since: exit 0 and the one line that says so.
	out, errs, code := lifeline(t, "verify", "--db", db, "--snapshot", "baseline", "--graph-url", info.GraphURL)
	if code != 0 || !strings.HasPrefix(out, "Live tenant matches snapshot 1: every restorable property and link is back.\n") {
		t.Fatalf("verify of an untouched tenant: exit %d\n%s\n%s", code, out, errs)
	}

	client := operatorClient(t, info)
	var groups struct {
		Value []struct {
			ID          string `json:"id"`
			DisplayName string `json:"displayName"`
		} `json:"value"`
	}
	client.getJSON(t, "/groups?$top=1&$select=id,displayName", &groups)
	var users struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	client.getJSON(t, "/users?$top=4&$select=id", &users)
	if len(groups.Value) < 1 || len(users.Value) < 4 {
		t.Fatalf("sim tenant too small: %v %v", groups, users)
	}
	group, deleted := groups.Value[0], users.Value[3].ID
	client.send(t, "PATCH", "/groups/"+group.ID, `{"description":"Tampered"}`)
	client.send(t, "DELETE", "/users/"+deleted, "")

	out, errs, code = lifeline(t, "verify", "--db", db, "--snapshot", "1", "--graph-url", info.GraphURL)
	if code != 3 {
		t.Fatalf("verify after a change: exit %d, want 3\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"Live tenant differs from snapshot 1", group.DisplayName + " (" + group.ID + ")", `description: `, `-> "Tampered"`,
		"still in the recycle bin", deleted, "lifeline plan --from 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	if strings.TrimSpace(errs) != "" {
		t.Errorf("verify printed to stderr: %q", errs)
	}

	out, _, code = lifeline(t, "verify", "--db", db, "--snapshot", "1", "--graph-url", info.GraphURL, "--json")
	var rep struct {
		Snapshot     int64            `json:"snapshot"`
		Clean        bool             `json:"clean"`
		Summary      map[string]int   `json:"summary"`
		Differences  []map[string]any `json:"differences"`
		Unrestorable []map[string]any `json:"unrestorable"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 3 {
		t.Fatalf("verify --json: exit %d, %v\n%s", code, err, out)
	}
	if rep.Snapshot != 1 || rep.Clean || rep.Summary["modified"] < 1 || rep.Summary["soft_deleted"] != 1 || rep.Unrestorable == nil {
		t.Errorf("verify --json: %+v", rep)
	}
	// The deleted user's memberships and manager link differ too; the two changes
	// themselves must be there.
	found := map[string]string{}
	for _, d := range rep.Differences {
		found[d["id"].(string)] = d["change"].(string)
	}
	if found[group.ID] != "modified" || found[deleted] != "soft_deleted" {
		t.Errorf("verify --json differences lack the group or the user: %v", found)
	}

	// Scoped to the group alone, the deleted user is not in the report.
	out, _, code = lifeline(t, "verify", "--db", db, "--snapshot", "1", "--graph-url", info.GraphURL, "--json", "--scope", "kind=group,id="+group.ID)
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 3 || len(rep.Differences) != 1 || rep.Differences[0]["id"] != group.ID {
		t.Errorf("scoped verify: exit %d\n%s", code, out)
	}
}

func TestVerifyUsageErrors(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "none.db")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"verify", "--snapshot", "1"}, 2, "--db is required"},
		{[]string{"verify", "--db", db}, 2, "--snapshot is required"},
		{[]string{"verify", "--db", db, "--snapshot", "1", "--scope", "kind=gizmo,id=x"}, 2, "unknown object kind"},
		{[]string{"verify", "--db", db, "--snapshot", "1"}, 1, "no snapshot file at"},
	} {
		_, errs, code := lifeline(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d (want %d), stderr %q", c.args, code, c.code, errs)
		}
	}
}

// A group made since the snapshot is left in place by every plan (with a warning):
// apply's verify step passes and says so, and verify exits 3 telling the operator to
// delete it by hand, not to build a plan that would leave it again.
func TestVerifyDoesNotSendAnAddedGroupToANewPlan(t *testing.T) {
	t.Parallel()
	info, db := servedBaseline(t, "--users", "20", "--seed", "12")
	client := operatorClient(t, info)
	client.send(t, "POST", "/groups", `{"displayName":"Backdoor admins","mailEnabled":false,"mailNickname":"backdoor","securityEnabled":true}`)
	planFile := filepath.Join(filepath.Dir(db), "plan.json")
	if _, errs, code := lifeline(t, "plan", "--db", db, "--from", "1", "--graph-url", info.GraphURL, "--out", planFile); code != 0 {
		t.Fatal(errs)
	}
	out, errs, code := lifeline(t, "apply", planFile, "--yes", "--graph-url", info.GraphURL)
	if code != 0 || !strings.Contains(errs, "verified: 1 object added since snapshot 1 remains, which no plan removes (1 group)") {
		t.Errorf("apply: exit %d\n%s\n%s", code, out, errs)
	}
	out, errs, code = lifeline(t, "verify", "--db", db, "--snapshot", "1", "--graph-url", info.GraphURL)
	if code != 3 || !strings.Contains(out, "Backdoor admins") || !strings.Contains(out, "1 object added since the snapshot is left in place by every plan") ||
		strings.Contains(out, "lifeline plan --from") {
		t.Errorf("verify: exit %d\n%s\n%s", code, out, errs)
	}
}
