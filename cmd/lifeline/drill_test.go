package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

var drillNames = []string{"mass-user-deletion", "group-purge", "app-deletion", "ca-tampering", "attribute-tampering", "slow-burn", "kitchen-sink"}

func TestDrillList(t *testing.T) {
	t.Parallel()
	out, errOut, code := lifeline(t, "drill", "list")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, n := range drillNames {
		if !strings.Contains(out, "\n"+n+" ") {
			t.Errorf("drill list lacks %s:\n%s", n, out)
		}
	}
	out, _, code = lifeline(t, "drill", "list", "--json")
	var list []map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != len(drillNames) {
		t.Fatalf("drill list --json (exit %d): %s", code, out)
	}
	for i, s := range list {
		if len(s) != 2 || s["name"] != drillNames[i] || s["description"] == "" {
			t.Errorf("entry %d: %v", i, s)
		}
	}
}

func TestDrillIncidentUsage(t *testing.T) {
	t.Parallel()
	_, errOut, code := lifeline(t, "drill", "incident", "mass-deletion", "--graph-url", "http://127.0.0.1:1/v1.0")
	if code != 2 || !strings.Contains(errOut, "unknown incident \"mass-deletion\"") || !strings.Contains(errOut, strings.Join(drillNames, ", ")) {
		t.Errorf("unknown incident: exit %d: %s", code, errOut)
	}
	if _, errOut, code := lifeline(t, "drill", "run-it"); code != 2 || !strings.Contains(errOut, "use list, incident or run") {
		t.Errorf("unknown drill command: exit %d: %s", code, errOut)
	}
	if _, errOut, code := lifeline(t, "drill", "incident"); code != 2 {
		t.Errorf("no name: exit %d: %s", code, errOut)
	}
	if _, errOut, code := lifeline(t, "drill", "incident", "group-purge", "--seed", "x"); code != 2 {
		t.Errorf("bad seed: exit %d: %s", code, errOut)
	}
}

func TestDrillIncidentJSON(t *testing.T) {
	t.Parallel()
	info := serveSim(t, "--users", "90", "--seed", "4", "--throttle", "off")
	out, errOut, code := lifeline(t, "drill", "incident", "group-purge", "--graph-url", info.GraphURL, "--seed", "3", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("not JSON: %s", out)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := []string{"actions", "actor", "clock_after", "clock_before", "scenario", "tenant_id"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	var rep struct {
		Scenario    string    `json:"scenario"`
		TenantID    string    `json:"tenant_id"`
		Actor       string    `json:"actor"`
		ClockBefore time.Time `json:"clock_before"`
		ClockAfter  time.Time `json:"clock_after"`
		Actions     []map[string]json.RawMessage
	}
	json.Unmarshal([]byte(out), &rep)
	if rep.Scenario != "group-purge" || rep.TenantID != info.TenantID || rep.Actor != "Contoso Sync Helper" || rep.ClockBefore.IsZero() || rep.ClockAfter.Before(rep.ClockBefore) {
		t.Errorf("report: %+v", rep)
	}
	if len(rep.Actions) != 2 {
		t.Fatalf("actions: %s", out)
	}
	for i, want := range []string{`"soft-delete"`, `"purge"`} {
		a := rep.Actions[i]
		var ids []string
		var count int
		json.Unmarshal(a["ids"], &ids)
		json.Unmarshal(a["count"], &count)
		if len(a) != 4 || string(a["action"]) != want || string(a["kind"]) != `"group"` || count == 0 || count != len(ids) {
			t.Errorf("action %d: %v", i, a)
		}
	}
	// The human report, on the same tenant.
	out, errOut, code = lifeline(t, "drill", "incident", "mass-user-deletion", "--graph-url", info.GraphURL, "--seed", "3")
	if code != 0 || !strings.Contains(out, "Deleted 30 users") || !strings.Contains(out, `"Contoso Sync Helper"`) || !strings.Contains(out, "Sim clock: ") {
		t.Fatalf("human report (exit %d): %s%s", code, out, errOut)
	}
	// Slow-burn moves the clock 40 days.
	out, errOut, code = lifeline(t, "drill", "incident", "slow-burn", "--graph-url", info.GraphURL, "--seed", "3")
	if code != 0 || !strings.Contains(out, "(advanced 40 days 1 hours from ") {
		t.Fatalf("slow-burn (exit %d): %s%s", code, out, errOut)
	}
}

func TestDrillIncidentRefusesWhatIsNotASim(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var writes []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			mu.Lock()
			writes = append(writes, r.Method+" "+r.URL.Path)
			mu.Unlock()
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	out, errOut, code := lifeline(t, "drill", "incident", "kitchen-sink", "--graph-url", srv.URL+"/v1.0")
	if code != 1 || out != "" || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "simulated tenant") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(writes) > 0 {
		t.Errorf("writes to a tenant that is not a sim: %v", writes)
	}
}

// Not parallel: it sets the environment the operator's credentials come from.
func TestDrillIncidentRefusesAnOperatorWithoutTheControlSurface(t *testing.T) {
	info := serveSim(t, "--users", "30", "--seed", "5", "--throttle", "off")
	t.Setenv("AZURE_CLIENT_ID", graphapi.AttackerClientID)
	t.Setenv("AZURE_CLIENT_SECRET", graphapi.AttackerClientSecret)
	t.Setenv("AZURE_TENANT_ID", "")
	out, errOut, code := lifeline(t, "drill", "incident", "mass-user-deletion", "--graph-url", info.GraphURL, "--json")
	if code != 1 || !strings.Contains(errOut, "refusing to inject an incident") || !strings.Contains(errOut, "403") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Setenv("AZURE_CLIENT_ID", "")
	t.Setenv("AZURE_CLIENT_SECRET", "")
	out, _, code = lifeline(t, "bin", "--graph-url", info.GraphURL, "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("the refused incident wrote something: %s", out)
	}
}

func TestDrillIncidentThatFailsHalfwayReportsWhatItDid(t *testing.T) {
	t.Parallel()
	info := serveSim(t, "--users", "100", "--seed", "14", "--throttle", "off")
	ctx := context.Background()
	op, err := graphapi.New(ctx, graphapi.Config{GraphURL: info.GraphURL})
	if err != nil {
		t.Fatal(err)
	}
	// The sim's fault injection, seeded: the fourth write answers 500.
	if _, err := op.Raw(ctx, http.MethodPost, "/_sim/faults", map[string]any{"seed": 6, "error_rate": 0.25, "write_only": true}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := lifeline(t, "drill", "incident", "ca-tampering", "--graph-url", info.GraphURL, "--seed", "3", "--json")
	var rep struct {
		Error   string `json:"error"`
		Actions []struct {
			Count int `json:"count"`
		} `json:"actions"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Actions) == 0 || !strings.Contains(rep.Error, "stopped while changing Conditional Access policies") {
		t.Fatalf("exit %d, stdout %s", code, out)
	}
	if !strings.HasPrefix(errOut, "lifeline: the ca-tampering incident stopped") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("stderr: %q", errOut)
	}
}
