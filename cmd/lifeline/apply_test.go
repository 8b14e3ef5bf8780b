package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/engine"
)

// TestApplyEndToEnd walks a recovery through the binary: capture, incident, plan,
// apply --json, verify, ledger; then a second apply of the finished plan is refused.
func TestApplyEndToEnd(t *testing.T) {
	t.Parallel()
	info, db := servedBaseline(t, "--users", "40", "--seed", "9")
	dir := filepath.Dir(db)
	if out, errs, code := lifeline(t, "drill", "incident", "slow-burn", "--graph-url", info.GraphURL, "--seed", "9"); code != 0 {
		t.Fatalf("incident: %d\n%s\n%s", code, out, errs)
	}
	planFile := filepath.Join(dir, "plan.json")
	if out, errs, code := lifeline(t, "plan", "--db", db, "--from", "1", "--graph-url", info.GraphURL, "--out", planFile); code != 0 {
		t.Fatalf("plan: %d\n%s\n%s", code, out, errs)
	}
	// No --graph-url: the plan names its file, the file its tenant.
	out, errs, code := lifeline(t, "apply", planFile, "--yes", "--json")
	if code != 0 {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errs)
	}
	var last map[string]any
	types := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		last = nil
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("--json line is not JSON: %q", sc.Text())
		}
		types[last["type"].(string)]++
		if step, ok := last["step"].(map[string]any); ok {
			for _, k := range []string{"id", "kind", "object_id", "display_name", "action", "state", "new_id", "note", "error", "request_ids"} {
				if _, ok := step[k]; !ok {
					t.Fatalf("a step event lacks %s: %s", k, sc.Text())
				}
			}
		}
	}
	if last["type"] != "finished" || types["stage"] == 0 || types["step"] == 0 || types["run"] != 1 {
		t.Errorf("events: %v, last %v", types, last)
	}
	if strings.Contains(out, "{{generated}}") {
		t.Error("a password placeholder leaked")
	}
	pw := strings.TrimSuffix(planFile, ".json") + ".passwords"
	if st, err := os.Stat(pw); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", st, err)
	}
	data, _ := os.ReadFile(pw)
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if f := strings.Split(line, "\t"); len(f) < 3 || !strings.Contains(f[0], "@") || len(f[1]) < 16 || strings.Contains(out+errs, f[1]) {
			t.Errorf("password line %q (or the password was printed)", line)
		}
	}
	if out, errs, code := lifeline(t, "verify", "--db", db, "--snapshot", "1", "--graph-url", info.GraphURL); code != 0 {
		t.Fatalf("verify: %d\n%s\n%s", code, out, errs)
	}
	out, _, code = lifeline(t, "ledger", "--db", db, "--json")
	var ledger []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &ledger) != nil || len(ledger) == 0 {
		t.Fatalf("ledger --json: %d %s", code, out)
	}
	for _, k := range []string{"kind", "old_id", "new_id", "old_app_id", "new_app_id", "display_name", "plan", "step", "request_id", "recorded_at"} {
		if _, ok := ledger[0][k]; !ok {
			t.Errorf("ledger entry lacks %s: %v", k, ledger[0])
		}
	}
	for _, e := range ledger {
		if e["old_id"] == e["new_id"] {
			t.Errorf("the ledger lists an object that kept its id as recreated: %v", e)
		}
	}
	out, _, code = lifeline(t, "ledger", "--db", db, "--csv")
	if code != 0 || !strings.HasPrefix(out, "kind,old_id,new_id,old_app_id,new_app_id,display_name") || strings.Count(out, "\n") != len(ledger)+1 {
		t.Errorf("ledger --csv: %d\n%s", code, out)
	}
	// The CSV holds the same values as the JSON, the time included.
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != len(ledger)+1 || rows[1][9] != ledger[0]["recorded_at"] {
		t.Errorf("ledger --csv row %v does not match the JSON entry %v (%v)", rows[1:2], ledger[0], err)
	}
	_, errs, code = lifeline(t, "apply", planFile, "--yes")
	if code != exitFailure || !strings.Contains(errs, "was applied completely") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("a second apply of a finished plan: %d\n%s", code, errs)
	}
}

// TestScopedPlanVerifiesItsScope: a plan scoped to one purged group leaves the rest of
// the incident alone, so its verify step checks the group, not the whole tenant (which
// every partial restore would fail).
func TestScopedPlanVerifiesItsScope(t *testing.T) {
	t.Parallel()
	info, db := servedBaseline(t, "--users", "30", "--seed", "6")
	dir := filepath.Dir(db)
	out, errs, code := lifeline(t, "drill", "incident", "group-purge", "--graph-url", info.GraphURL, "--json")
	var incident struct {
		Actions []struct {
			Kind string   `json:"kind"`
			IDs  []string `json:"ids"`
		} `json:"actions"`
	}
	if err := json.Unmarshal([]byte(out), &incident); err != nil || code != 0 {
		t.Fatalf("incident: %d %s %s", code, out, errs)
	}
	var group string
	for _, a := range incident.Actions {
		if a.Kind == "group" && len(a.IDs) > 1 {
			group = a.IDs[0]
			break
		}
	}
	if group == "" {
		t.Fatalf("the incident purged fewer than two groups: %s", out)
	}
	planFile := filepath.Join(dir, "plan.json")
	if _, errs, code := lifeline(t, "plan", "--db", db, "--from", "1", "--graph-url", info.GraphURL, "--scope", "kind=group,id="+group, "--out", planFile); code != 0 {
		t.Fatal(errs)
	}
	out, errs, code = lifeline(t, "apply", planFile, "--yes", "--graph-url", info.GraphURL)
	if code != 0 || !strings.Contains(out, "0 failed") {
		t.Fatalf("a scoped apply: %d\n%s\n%s", code, out, errs)
	}
	// The rest of the incident is still there.
	if _, _, code := lifeline(t, "verify", "--db", db, "--snapshot", "1", "--graph-url", info.GraphURL); code != 3 {
		t.Errorf("a whole verify after a scoped restore: exit %d, want 3 (the other purged groups)", code)
	}
}

// TestApplyRefusesAndExplains: a stale plan, bad flags and a broken plan file each get
// one sentence and change nothing.
func TestApplyRefusesAndExplains(t *testing.T) {
	t.Parallel()
	info, db := servedBaseline(t, "--users", "20", "--seed", "4")
	dir := filepath.Dir(db)
	if _, errs, code := lifeline(t, "drill", "incident", "mass-user-deletion", "--graph-url", info.GraphURL); code != 0 {
		t.Fatal(errs)
	}
	planFile := filepath.Join(dir, "plan.json")
	if _, errs, code := lifeline(t, "plan", "--db", db, "--from", "1", "--graph-url", info.GraphURL, "--out", planFile); code != 0 {
		t.Fatal(errs)
	}
	if _, errs, code := lifeline(t, "drill", "incident", "attribute-tampering", "--graph-url", info.GraphURL); code != 0 {
		t.Fatal(errs)
	}
	_, errs, code := lifeline(t, "apply", planFile, "--yes")
	if code != 1 || !strings.Contains(errs, "stale") || !strings.Contains(errs, "lifeline plan") || strings.Count(strings.TrimSpace(errs), "\n") > 1 {
		t.Errorf("stale plan: %d %q", code, errs)
	}
	// --json says so on stdout as well: one "refused" event with the same sentence.
	out, errs, code := lifeline(t, "apply", planFile, "--yes", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var refused engine.Event
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &refused); err != nil || code != 1 || refused.Type != "refused" ||
		!strings.Contains(refused.Message, "stale") || !strings.Contains(errs, refused.Message) {
		t.Errorf("stale plan with --json: %d, stdout %q (%v), stderr %q", code, out, err, errs)
	}
	if out, _, _ := lifeline(t, "ledger", "--db", db); !strings.Contains(out, "ledger is empty") {
		t.Errorf("a refused apply wrote to the ledger: %s", out)
	}
	// A plan edited by hand (here: a step's request turned into a deletion) is refused.
	data, err := os.ReadFile(planFile)
	if err != nil || !strings.Contains(string(data), `"method": "POST"`) {
		t.Fatalf("the plan has no POST to edit: %v", err)
	}
	edited := filepath.Join(dir, "edited.json")
	if err := os.WriteFile(edited, []byte(strings.Replace(string(data), `"method": "POST"`, `"method": "DELETE"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"apply", edited, "--yes"}, 1, "was changed after it was written"},
		{[]string{"apply", planFile}, 2, "--yes"},
		{[]string{"apply", planFile, "--yes", "--pace", "0"}, 2, "--pace"},
		{[]string{"apply", planFile, "--yes", "--pace", "1.5"}, 2, "--pace"},
		{[]string{"apply", filepath.Join(dir, "missing.json"), "--yes"}, 1, "cannot read the plan"},
		{[]string{"apply", db, "--yes"}, 1, "not valid JSON"},
		{[]string{"ledger", "--db", db, "--json", "--csv"}, 2, "pick one"},
	} {
		if c.want == "--yes" && isTerminal(os.Stdin) {
			continue // at a terminal apply asks for the domain instead
		}
		_, errs, code := lifeline(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) || strings.Contains(errs, "goroutine") {
			t.Errorf("%v: %d %q", c.args, code, errs)
		}
	}
}

// TestDrillRunEveryScenario recovers each incident end to end through the binary, on a
// small in-process tenant: baseline, incident, plan, apply, verify clean, score 100.
func TestDrillRunEveryScenario(t *testing.T) {
	t.Parallel()
	for i, name := range engine.ScenarioNames() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			drillRunClean(t, name, fmt.Sprint(30+i))
		})
	}
	if _, errs, code := lifeline(t, "drill", "run", "nope"); code != 2 || !strings.Contains(errs, "unknown incident") {
		t.Errorf("unknown incident: %d %s", code, errs)
	}
}

func drillRunClean(t *testing.T, name, seed string) {
	out, errs, code := lifeline(t, "drill", "run", name, "--users", "40", "--seed", seed, "--json")
	if code != 0 {
		t.Fatalf("drill run: %d\n%s\n%s", code, out, errs)
	}
	var score struct {
		Scenario string `json:"scenario"`
		Score    int    `json:"score"`
		Phases   []struct {
			Name    string  `json:"name"`
			Seconds float64 `json:"seconds"`
		} `json:"phases"`
		Verify struct {
			Clean bool `json:"clean"`
		} `json:"verify"`
		Apply struct {
			Done int `json:"done"`
		} `json:"apply"`
		VersusMicrosoft float64 `json:"versus_microsoft"`
	}
	if err := json.Unmarshal([]byte(out), &score); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var names []string
	for _, p := range score.Phases {
		names = append(names, p.Name)
	}
	if score.Scenario != name || score.Score != 100 || !score.Verify.Clean || score.Apply.Done == 0 ||
		strings.Join(names, ",") != "baseline,incident,plan,apply,verify" || score.VersusMicrosoft <= 0 {
		t.Errorf("score: %+v", score)
	}
}

// /dev/null is a character device but no terminal: an apply reading it is asked for
// --yes instead of prompting for a domain nobody can type.
func TestApplyFromDevNullAsksForYes(t *testing.T) {
	t.Parallel()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	var errb bytes.Buffer
	err = confirmApply(context.Background(), nil, &engine.Plan{TenantID: "tenant-1"}, devNull, &errb)
	if err == nil || !strings.Contains(err.Error(), "pass --yes") || errb.Len() != 0 {
		t.Fatalf("apply with stdin from %s: %v (prompted %q)", os.DevNull, err, errb.String())
	}
}

// Apply's progress, when stderr is a log rather than a terminal: a line at the first
// progress event, then none until logProgressEvery has passed, and no budget quoted
// for a simulated tenant that has none.
func TestApplyProgressInALog(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	o := newApplyOutput(&stdout, &stderr, false, false)
	p := &engine.Progress{Total: 10, Done: 3, WritesPerSecond: 12.5, BudgetWritesPerSecond: 1e9, Pace: 0.9, ElapsedSeconds: 5}
	o.event(engine.Event{Type: engine.EventProgress, Progress: p})
	o.event(engine.Event{Type: engine.EventProgress, Progress: p})
	if got := strings.Count(stderr.String(), "3/10 steps"); got != 1 {
		t.Fatalf("progress lines in a log: %d, want 1 until %v has passed:\n%s", got, logProgressEvery, stderr.String())
	}
	if !strings.Contains(stderr.String(), "no write budget") || strings.Contains(stderr.String(), "\r") {
		t.Errorf("a log line quotes a budget the sim does not have, or redraws: %q", stderr.String())
	}
	o.last = o.last.Add(-logProgressEvery)
	o.event(engine.Event{Type: engine.EventProgress, Progress: p})
	if got := strings.Count(stderr.String(), "3/10 steps"); got != 2 {
		t.Errorf("no second progress line after %v: %d lines", logProgressEvery, got)
	}
}

// In a run's first moments a few writes in milliseconds read as hundreds a second, far
// over the budget, and the ETA as 0s: the line says neither until the rate settles.
func TestProgressLineWaitsForTheRateToSettle(t *testing.T) {
	t.Parallel()
	early := &engine.Progress{Total: 77, Done: 4, Writes: 6, WritesPerSecond: 1319.4, BudgetWritesPerSecond: 20, Pace: 0.9, ElapsedSeconds: 0.01, ETASeconds: 180}
	if got := progressLine(early); got != "4/77 steps, 0 failed" {
		t.Errorf("progress after 10ms: %q", got)
	}
	settled := *early
	settled.ElapsedSeconds, settled.WritesPerSecond = 30, 17.9
	if got := progressLine(&settled); got != "4/77 steps, 0 failed; 17.9 writes/s of a 20.0/s budget (pace 90%), ETA 3m0s" {
		t.Errorf("progress after 30s: %q", got)
	}
}

// The resume hint repeats the operator's own command, flags and all, so pasting it at
// 3 a.m. runs as the first attempt did: with --yes it does not stop to ask.
func TestRerunCommandRepeatsTheFlagsGiven(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"plan.json"}, "lifeline apply plan.json"},
		{[]string{"plan.json", "--yes", "--pace", "0.5"}, "lifeline apply plan.json --pace 0.5 --yes"},
		{[]string{"my plan.json", "--db", "it's.db", "--json"}, `lifeline apply 'my plan.json' --db 'it'\''s.db' --json`},
	} {
		cmd := newApplyCommand(io.Discard, io.Discard)
		if err := cmd.ParseFlags(c.args); err != nil {
			t.Fatal(err)
		}
		if got := rerunCommand(cmd.Flags().Arg(0), cmd.Flags()); got != c.want {
			t.Errorf("rerun of %q: %s, want %s", c.args, got, c.want)
		}
	}
}

// How a run ended decides what the operator is told: run the same plan again when that
// can help, build a new plan when every failure is one it cannot mend.
func TestApplyOutcomeSaysWhatHelps(t *testing.T) {
	t.Parallel()
	const again = "lifeline apply p.json --yes"
	gone := engine.StepOutcome{Reason: "rolling back user \"Ann\" (u1): it no longer exists in the tenant (deleted since the plan was built); build a new plan, which restores it"}
	other := engine.StepOutcome{Reason: "recreating group \"Sales\" (g1) failed: Graph answered 400"}
	for _, c := range []struct {
		name string
		rep  engine.ApplyReport
		err  error
		code int
		says string
	}{
		{"done", engine.ApplyReport{}, nil, exitOK, ""},
		{"interrupted", engine.ApplyReport{Pending: 3}, context.Canceled, exitPending, "run '" + again + "' again to resume"},
		{"only a new plan helps", engine.ApplyReport{Failed: 1, Failures: []engine.StepOutcome{gone}}, nil, exitFailure, "build a new plan with 'lifeline plan'"},
		{"a rerun may help", engine.ApplyReport{Failed: 2, Failures: []engine.StepOutcome{gone, other}}, nil, exitFailure, "then run '" + again + "' again"},
		{"pending", engine.ApplyReport{Pending: 1}, nil, exitPending, "still pending"},
	} {
		err := applyOutcome(&c.rep, c.err, again)
		var ee *exitError
		switch {
		case c.code == exitOK && err != nil, c.code != exitOK && (!errors.As(err, &ee) || ee.code != c.code || !strings.Contains(ee.err.Error(), c.says)):
			t.Errorf("%s: %v, want exit %d saying %q", c.name, err, c.code, c.says)
		}
	}
}
