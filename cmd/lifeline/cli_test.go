package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lifeline runs the CLI in-process and returns what it printed and its exit code.
func lifeline(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runContext(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

// lockedBuffer lets the test read what a running command has written so far.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type simInfo struct {
	GraphURL     string `json:"graph_url"`
	TokenURL     string `json:"token_url"`
	TenantID     string `json:"tenant_id"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// serveSim runs `lifeline sim serve` until the test ends and returns its first line.
// servedBaseline serves a simulated tenant (sim serve args, throttling off) and captures
// its known-good state, labelled "baseline", into tenant.db in a new folder.
func servedBaseline(t *testing.T, args ...string) (simInfo, string) {
	t.Helper()
	info := serveSim(t, append(args, "--throttle", "off")...)
	db := filepath.Join(t.TempDir(), "tenant.db")
	if out, errs, code := lifeline(t, "capture", "--graph-url", info.GraphURL, "--out", db, "--label", "baseline"); code != 0 {
		t.Fatalf("capture: %d\n%s\n%s", code, out, errs)
	}
	return info, db
}

func serveSim(t *testing.T, args ...string) simInfo {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, append([]string{"sim", "serve", "--addr", "127.0.0.1:0"}, args...), pw, &errb)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		go io.Copy(io.Discard, pr)
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("sim serve exited %d after SIGTERM: %s", code, errb.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("sim serve did not shut down")
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no first line from sim serve: %v (stderr: %s)", err, errb.String())
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(line), &raw); err != nil {
		t.Fatalf("first line is not one JSON object: %q", line)
	}
	for _, k := range []string{"graph_url", "token_url", "tenant_id", "client_id", "client_secret"} {
		if s, _ := raw[k].(string); s == "" {
			t.Fatalf("first line lacks %s: %s", k, line)
		}
	}
	var info simInfo
	json.Unmarshal([]byte(line), &info)
	if !strings.Contains(errb.String(), "level=INFO") {
		t.Errorf("logs should go to stderr: %q", errb.String())
	}
	return info
}

func TestSimServeAnswersANewUsersCurl(t *testing.T) {
	t.Parallel()
	info := serveSim(t, "--users", "30", "--seed", "7", "--throttle", "off")
	if !strings.HasPrefix(info.GraphURL, "http://127.0.0.1:") || !strings.HasSuffix(info.GraphURL, "/v1.0") ||
		!strings.HasSuffix(info.TokenURL, "/"+info.TenantID+"/oauth2/v2.0/token") {
		t.Fatalf("contract URLs: %+v", info)
	}
	// What the README's curl does: the token endpoint over plain HTTP on the same port.
	tokenURL := strings.Replace(info.TokenURL, "https://", "http://", 1)
	root := strings.TrimSuffix(info.GraphURL, "/v1.0")
	resp, err := http.PostForm(tokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {info.ClientID},
		"client_secret": {info.ClientSecret}, "scope": {root + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", info.GraphURL+"/users?$top=2&$select=displayName,userPrincipalName", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Value    []map[string]any `json:"value"`
		NextLink string           `json:"@odata.nextLink"`
	}
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if len(page.Value) != 2 || page.NextLink == "" || page.Value[0]["userPrincipalName"] == nil {
		t.Fatalf("users page: %+v", page)
	}
	// A wrong secret: 401 with an AADSTS error.
	resp, _ = http.PostForm(tokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {info.ClientID},
		"client_secret": {"nope"}, "scope": {root + "/.default"}})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), "AADSTS7000215") {
		t.Fatalf("wrong secret: %d %s", resp.StatusCode, body)
	}
	// The same seed serves the same tenant.
	again := serveSim(t, "--users", "30", "--seed", "7", "--throttle", "off")
	if again.TenantID != info.TenantID {
		t.Fatalf("same seed, tenants %s and %s", info.TenantID, again.TenantID)
	}
}

func TestCaptureThenInspectEndToEnd(t *testing.T) {
	t.Parallel()
	info := serveSim(t, "--users", "40", "--seed", "3", "--throttle", "off")
	db := filepath.Join(t.TempDir(), "tenant.db")
	// A first capture that fails leaves no file behind that looks like a snapshot file.
	if _, errs, code := lifeline(t, "capture", "--graph-url", info.GraphURL, "--out", db, "--incremental"); code == 0 || !strings.Contains(errs, "--incremental needs an earlier snapshot") {
		t.Fatalf("--incremental into a new file: %d\n%s", code, errs)
	}
	if left, _ := filepath.Glob(db + "*"); len(left) != 0 {
		t.Fatalf("a failed first capture left %v", left)
	}
	out, errs, code := lifeline(t, "capture", "--graph-url", info.GraphURL, "--out", db, "--label", "baseline")
	if code != 0 || !strings.Contains(out, "Snapshot 1 of tenant "+info.TenantID) {
		t.Fatalf("capture: %d\n%s\n%s", code, out, errs)
	}
	out, _, code = lifeline(t, "snapshots", "list", "--db", db, "--json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 || len(list) != 1 {
		t.Fatalf("snapshots list --json: %d %s", code, out)
	}
	for _, k := range []string{"id", "tenant_id", "taken_at", "label", "graph_url", "counts", "root_hash"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("snapshots list --json lacks %s", k)
		}
	}
	if counts := list[0]["counts"].(map[string]any); counts["user"] != float64(40) {
		t.Errorf("counts: %v", counts)
	}
	if _, _, code := lifeline(t, "snapshots", "verify", "--db", db); code != 0 {
		t.Errorf("verify of an intact file exited %d", code)
	}
	// Export and import round trip, reported in JSON.
	folder := filepath.Join(t.TempDir(), "export")
	out, _, code = lifeline(t, "snapshots", "export", "--db", db, "1", "--to", folder, "--json")
	var exported map[string]any
	if err := json.Unmarshal([]byte(out), &exported); err != nil || code != 0 || exported["snapshot"] != float64(1) || exported["to"] != folder || exported["root_hash"] != list[0]["root_hash"] {
		t.Fatalf("snapshots export --json: %d %s", code, out)
	}
	out, _, code = lifeline(t, "snapshots", "import", "--db", filepath.Join(t.TempDir(), "copy.db"), "--from", folder, "--json")
	var imported struct {
		Snapshot map[string]any `json:"snapshot"`
	}
	if err := json.Unmarshal([]byte(out), &imported); err != nil || code != 0 || imported.Snapshot["root_hash"] != list[0]["root_hash"] {
		t.Fatalf("snapshots import --json of the export: %d %s", code, out)
	}

	// Something happens, a second capture, and diff tells it.
	client := operatorClient(t, info)
	var users struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	client.getJSON(t, "/users?$top=3&$select=id", &users)
	client.send(t, "DELETE", "/users/"+users.Value[1].ID, "")
	client.send(t, "PATCH", "/users/"+users.Value[2].ID, `{"department":"Tampered"}`)
	if _, errs, code := lifeline(t, "capture", "--graph-url", info.GraphURL, "--out", db, "--incremental"); code != 0 {
		t.Fatalf("incremental capture: %s", errs)
	}
	out, _, code = lifeline(t, "diff", "--db", db, "--from", "1", "--to", "2", "--json")
	var diff struct {
		Summary map[string]int   `json:"summary"`
		Changes []map[string]any `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &diff); err != nil || code != 0 {
		t.Fatalf("diff --json: %d %s", code, out)
	}
	if diff.Summary["soft_deleted"] != 1 || diff.Summary["modified"] < 1 {
		t.Errorf("diff summary: %v", diff.Summary)
	}
	for _, c := range diff.Changes {
		for _, k := range []string{"kind", "id", "display_name", "change", "properties", "links", "actor", "at", "activity", "evidence"} {
			if _, ok := c[k]; !ok {
				t.Fatalf("diff change lacks %s: %v", k, c)
			}
		}
	}
	// The live side is named by its time alone: its snapshot id is a scratch file's.
	out, _, code = lifeline(t, "diff", "--db", db, "--from", "baseline", "--live", "--graph-url", info.GraphURL, "--json")
	var liveDiff struct {
		To map[string]any `json:"to"`
	}
	if err := json.Unmarshal([]byte(out), &liveDiff); err != nil || code != 0 || liveDiff.To["live"] != true || liveDiff.To["snapshot"] != nil || liveDiff.To["label"] != nil {
		t.Errorf("diff --live --json names the live side %v (%d)", liveDiff.To, code)
	}
	out, _, code = lifeline(t, "diff", "--db", db, "--from", "baseline", "--live", "--graph-url", info.GraphURL)
	if code != 0 || !strings.Contains(out, "soft-deleted") || !strings.Contains(out, `department: null -> "Tampered"`) && !strings.Contains(out, `"Tampered"`) {
		t.Errorf("diff --live:\n%s", out)
	}

	// The graph of a deleted-then-binned user, by id, from the first snapshot.
	out, _, code = lifeline(t, "graph", "--db", db, "--snapshot", "1", users.Value[1].ID, "--json")
	var g map[string]any
	if err := json.Unmarshal([]byte(out), &g); err != nil || code != 0 {
		t.Fatalf("graph --json: %d %s", code, out)
	}
	for _, k := range []string{"object", "references", "referenced_by", "blast_radius"} {
		if _, ok := g[k]; !ok {
			t.Errorf("graph --json lacks %s", k)
		}
	}
	out, _, _ = lifeline(t, "graph", "--db", db, "--snapshot", "1", users.Value[1].ID, "--dot")
	if !strings.HasPrefix(out, "digraph lifeline {") {
		t.Errorf("graph --dot: %s", out)
	}
	_, errs, code = lifeline(t, "graph", "--db", db, "--snapshot", "1", "nobody@nowhere.example")
	if code != 1 || !strings.Contains(errs, "matches no object") || strings.Contains(errs, "goroutine") {
		t.Errorf("unknown object: %d %s", code, errs)
	}

	// The bin shows the deleted user with 30 days left, the operator as its deleter, and
	// its dependents from the newest snapshot.
	out, _, code = lifeline(t, "bin", "--graph-url", info.GraphURL, "--db", db, "--json")
	var bin []map[string]any
	if err := json.Unmarshal([]byte(out), &bin); err != nil || code != 0 || len(bin) != 1 {
		t.Fatalf("bin --json: %d %s", code, out)
	}
	if bin[0]["id"] != users.Value[1].ID || bin[0]["days_left"] != float64(30) || bin[0]["actor"] == nil || bin[0]["dependents"] == nil {
		t.Errorf("bin item: %v", bin[0])
	}
	// A flipped byte in the file: verify names the damage and exits 1.
	raw, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(raw, []byte("Tampered"))
	if i < 0 {
		t.Fatal("the tampered department is not in the snapshot file")
	}
	raw[i+5] ^= 0x20 // "Tampered" -> "TampeRed"
	if err := os.WriteFile(db, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, code = lifeline(t, "snapshots", "verify", "--db", db)
	if code != 1 || !strings.Contains(out, "DAMAGED") {
		t.Errorf("verify of a damaged file: exit %d\n%s", code, out)
	}

	// Ten days later by the sim's clock, twenty are left.
	client.send(t, "POST", "/_sim/clock", `{"advance":"240h"}`)
	out, _, _ = lifeline(t, "bin", "--graph-url", info.GraphURL, "--json")
	json.Unmarshal([]byte(out), &bin)
	if len(bin) != 1 || bin[0]["days_left"] != float64(20) {
		t.Errorf("bin after 10 days: %s", out)
	}
}

func TestBadInputGetsOneSentenceAndExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"snapshots", "list", "--db", filepath.Join(dir, "missing.db")}, 1, "no snapshot file at"},
		{[]string{"snapshots", "list"}, 2, "--db is required"},
		{[]string{"diff", "--db", "x.db", "--from", "1"}, 2, "exactly one of --to SNAP or --live"},
		{[]string{"capture"}, 2, "--out is required"},
		{[]string{"sim", "serve", "--throttle", "sometimes"}, 2, "throttle"},
		{[]string{"sim", "serve", "--users", "3"}, 2, "between 10 and 1000000"},
		{[]string{"sim", "serve", "--addr", "notanaddr"}, 2, "--addr notanaddr is not a host:port address"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"snapshots", "list", "--db", "x", "--nope"}, 2, "unknown flag"},
		{[]string{"diff", "--db", "x.db", "--from", "1", "--to", "2", "--kind", "printer"}, 2, "unknown object kind"},
		{[]string{"snapshots", "show", "--db", "x.db"}, 2, "'lifeline snapshots show' needs a snapshot: its id, its exact label or latest"},
		{[]string{"snapshots", "export", "--db", "x.db", "1", "2", "--to", dir}, 2, "takes one argument, a snapshot"},
		{[]string{"apply"}, 2, "'lifeline apply' needs the plan file"},
		{[]string{"graph", "--db", "x.db", "--snapshot", "1"}, 2, "'lifeline graph' needs an object"},
		{[]string{"snapshots", "lsit"}, 2, `unknown command "lsit" for "lifeline snapshots": use list, show`},
		{[]string{"sim", "start"}, 2, `unknown command "start" for "lifeline sim": use serve`},
		{[]string{"apply", "plan.json", "--pace", "NaN"}, 2, "--pace NaN: give the fraction"},
		{[]string{"apply", "plan.json", "--pace", "abc"}, 2, `--pace "abc": expected a number (such as 0.5)`},
		{[]string{"capture", "--out", "x.db", "--incremental=maybe"}, 2, `--incremental "maybe": expected true or false`},
		{[]string{"snapshots", "export", "--db", "x.db", "1", "--to", dir, "--bogus"}, 2, "Run 'lifeline snapshots export --help' for usage."},
	}
	if os.Getenv("LIFELINE_GRAPH_URL") == "" {
		cases = append(cases, struct {
			args []string
			code int
			want string
		}{[]string{"drill", "incident", "group-purge"}, 2, "drill incident needs a simulated tenant"})
	}
	for _, c := range cases {
		_, errs, code := lifeline(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d (want %d), stderr %q", c.args, code, c.code, errs)
		}
		if strings.Count(strings.TrimSpace(errs), "\n") > 1 || strings.Contains(errs, "goroutine") {
			t.Errorf("%v: not one clear sentence: %q", c.args, errs)
		}
	}
}

// opClient is a bare HTTP client holding an operator token, for the test's own writes.
type opClient struct {
	graph, token string
}

func operatorClient(t *testing.T, info simInfo) *opClient {
	t.Helper()
	root := strings.TrimSuffix(info.GraphURL, "/v1.0")
	resp, err := http.PostForm(strings.Replace(info.TokenURL, "https://", "http://", 1), url.Values{"grant_type": {"client_credentials"},
		"client_id": {info.ClientID}, "client_secret": {info.ClientSecret}, "scope": {root + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	return &opClient{graph: info.GraphURL, token: tok.AccessToken}
}

func (c *opClient) send(t *testing.T, method, path, body string) []byte {
	t.Helper()
	u := c.graph + path
	if strings.HasPrefix(path, "/_sim/") {
		u = strings.TrimSuffix(c.graph, "/v1.0") + path
	}
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b
}

func (c *opClient) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(c.send(t, "GET", path, ""), v); err != nil {
		t.Fatal(err)
	}
}

func TestDemoStartsATenantWithABaseline(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() { done <- runContext(ctx, []string{"demo"}, &out, &errb) }()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl-C") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("demo did not come up: %s %s", out.String(), errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var db string
	for _, line := range strings.Split(out.String(), "\n") {
		if i := strings.Index(line, "snapshot 1 in "); i >= 0 {
			db = strings.TrimSpace(line[i+len("snapshot 1 in "):])
		}
	}
	stdout, _, code := lifeline(t, "snapshots", "show", "--db", db, "1", "--json")
	if code != 0 || !strings.Contains(stdout, `"user": 3000`) {
		t.Errorf("demo baseline: %d %s", code, stdout)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("demo exited %d: %s", code, errb.String())
	}
}
