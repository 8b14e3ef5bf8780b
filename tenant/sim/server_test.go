package sim

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// Test fixtures: a small tenant built by hand, so the tests do not depend on Generate.

const (
	tTenant    = "11111111-2222-4333-8444-555555555555"
	tDomain    = "contoso.onmicrosoft.com"
	tAlice     = "a0000000-0000-4000-8000-000000000001"
	tBob       = "a0000000-0000-4000-8000-000000000002"
	tCarol     = "a0000000-0000-4000-8000-000000000003"
	tSecGroup  = "b0000000-0000-4000-8000-000000000001"
	tM365Group = "b0000000-0000-4000-8000-000000000002"
	tRoleGroup = "b0000000-0000-4000-8000-000000000003"
	tApp       = "c0000000-0000-4000-8000-000000000001"
	tAppID     = "c1000000-0000-4000-8000-000000000001"
	tAppSP     = "d0000000-0000-4000-8000-000000000001"
	tGraphSP   = "d0000000-0000-4000-8000-000000000002"
	tAppRole   = "e0000000-0000-4000-8000-000000000001"
	tLocation  = "f0000000-0000-4000-8000-000000000001"
	tPolicy    = "f1000000-0000-4000-8000-000000000001"
	tAU        = "f2000000-0000-4000-8000-000000000001"
	tGlobalAdm = "62e90394-69f5-4237-9190-012177145e10"
	tGrant     = "grant-opaque-id-1"
	tRoleAsg   = "roleasg-opaque-id-1"
)

func obj(k entra.Kind, id string, m map[string]any) Object {
	m["id"] = id
	b, _ := json.Marshal(m)
	return Object{Kind: k, ID: id, JSON: b}
}

func user(id, name string) Object {
	return obj(entra.KindUser, id, map[string]any{
		"accountEnabled": true, "displayName": name, "userPrincipalName": strings.ToLower(name) + "@" + tDomain,
		"mailNickname": strings.ToLower(name), "givenName": name, "surname": "Test", "jobTitle": "Engineer",
		"department": "Ops", "businessPhones": []string{}, "mail": strings.ToLower(name) + "@" + tDomain,
		"createdDateTime": "2025-01-01T00:00:00Z", "userType": "Member",
	})
}

func testDataset() *Dataset {
	return &Dataset{
		TenantID: tTenant, Domain: tDomain, DisplayName: "Contoso",
		Objects: []Object{
			user(tAlice, "Alice"), user(tBob, "Bob"), user(tCarol, "Carol"),
			obj(entra.KindGroup, tSecGroup, map[string]any{"displayName": "Sec Ops", "mailEnabled": false, "mailNickname": "secops",
				"securityEnabled": true, "groupTypes": []string{}, "createdDateTime": "2025-01-01T00:00:00Z"}),
			obj(entra.KindGroup, tM365Group, map[string]any{"displayName": "Marketing", "mailEnabled": true, "mailNickname": "marketing",
				"securityEnabled": false, "groupTypes": []string{"Unified"}, "mail": "marketing@" + tDomain}),
			obj(entra.KindGroup, tRoleGroup, map[string]any{"displayName": "Tier0 Admins", "mailEnabled": false, "mailNickname": "tier0",
				"securityEnabled": true, "groupTypes": []string{}, "isAssignableToRole": true}),
			obj(entra.KindApplication, tApp, map[string]any{"displayName": "Payroll", "appId": tAppID, "identifierUris": []string{"api://payroll"},
				"uniqueName": "payroll", "appRoles": []any{map[string]any{"id": tAppRole, "value": "Payroll.Read", "displayName": "Read", "allowedMemberTypes": []string{"User", "Application"}, "isEnabled": true}},
				"passwordCredentials": []any{map[string]any{"keyId": "k1", "hint": "abc", "secretText": "leaked!"}}}),
			obj(entra.KindServicePrincipal, tAppSP, map[string]any{"displayName": "Payroll", "appId": tAppID, "appDisplayName": "Payroll",
				"appRoles": []any{map[string]any{"id": tAppRole, "value": "Payroll.Read"}}, "servicePrincipalType": "Application"}),
			obj(entra.KindServicePrincipal, tGraphSP, map[string]any{"displayName": "Microsoft Graph", "appId": graphAppID, "appDisplayName": "Microsoft Graph",
				"appOwnerOrganizationId": microsoftTenantID, "appRoles": []any{}}),
			obj(entra.KindNamedLocation, tLocation, map[string]any{"@odata.type": entra.IPNamedLocationType, "displayName": "HQ",
				"isTrusted": true, "ipRanges": []any{map[string]any{"@odata.type": entra.IPv4RangeType, "cidrAddress": "10.0.0.0/8"}}}),
			obj(entra.KindConditionalAccessPolicy, tPolicy, map[string]any{"displayName": "MFA for admins", "state": "enabled",
				"conditions": map[string]any{"applications": map[string]any{"includeApplications": []string{"All"}},
					"users": map[string]any{"includeGroups": []string{tSecGroup}}, "clientAppTypes": []string{"all"}},
				"grantControls": map[string]any{"operator": "OR", "builtInControls": []string{"mfa"}}}),
			obj(entra.KindAdministrativeUnit, tAU, map[string]any{"displayName": "Paris"}),
			obj(entra.KindRoleDefinition, tGlobalAdm, map[string]any{"displayName": "Global Administrator", "isBuiltIn": true, "isEnabled": true,
				"templateId": tGlobalAdm, "rolePermissions": []any{}}),
			obj(entra.KindRoleAssignment, tRoleAsg, map[string]any{"principalId": tAlice, "roleDefinitionId": tGlobalAdm, "directoryScopeId": "/"}),
			obj(entra.KindOAuth2PermissionGrant, tGrant, map[string]any{"clientId": tAppSP, "resourceId": tGraphSP, "consentType": "AllPrincipals", "scope": "User.Read"}),
		},
		Links: []Link{
			{FromKind: entra.KindGroup, From: tSecGroup, Name: "members", ToKind: entra.KindUser, To: tAlice},
			{FromKind: entra.KindGroup, From: tSecGroup, Name: "members", ToKind: entra.KindUser, To: tBob},
			{FromKind: entra.KindGroup, From: tSecGroup, Name: "owners", ToKind: entra.KindUser, To: tCarol},
			{FromKind: entra.KindGroup, From: tM365Group, Name: "owners", ToKind: entra.KindUser, To: tAlice},
			{FromKind: entra.KindGroup, From: tM365Group, Name: "owners", ToKind: entra.KindUser, To: tBob},
			{FromKind: entra.KindUser, From: tBob, Name: "manager", ToKind: entra.KindUser, To: tAlice},
			{FromKind: entra.KindAdministrativeUnit, From: tAU, Name: "members", ToKind: entra.KindUser, To: tCarol},
		},
	}
}

// env is a running sim under test and a client that speaks to it.
type env struct {
	t     testing.TB
	sim   *Sim
	srv   *Server
	base  string
	token string
	hc    *http.Client
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	return newEnvWith(t, testDataset(), opts)
}

func newEnvWith(t testing.TB, ds *Dataset, opts Options) *env {
	t.Helper()
	s, err := New(ds, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.tls.certPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	e := &env{t: t, sim: s, srv: srv, base: strings.TrimSuffix(srv.Info().GraphURL, "/v1.0"), hc: hc}
	e.token = e.tokenFor(OperatorClientID, OperatorClientSecret)
	return e
}

func (e *env) tokenFor(clientID, secret string) string {
	e.t.Helper()
	status, body := e.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID},
		"client_secret": {secret}, "scope": {"https://graph.microsoft.com/.default"}})
	if status != 200 {
		e.t.Fatalf("token: %d %s", status, body)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &out)
	return out.AccessToken
}

func (e *env) tokenRequest(form url.Values) (int, []byte) {
	e.t.Helper()
	resp, err := e.hc.PostForm(e.srv.Info().TokenURL, form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

func (r response) str(path ...string) string {
	var cur any = r.json
	for _, p := range path {
		m, _ := cur.(map[string]any)
		cur = m[p]
	}
	s, _ := cur.(string)
	return s
}

func (r response) values() []map[string]any {
	arr, _ := r.json["value"].([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, v := range arr {
		m, _ := v.(map[string]any)
		out = append(out, m)
	}
	return out
}

func (r response) errCode() string { return r.str("error", "code") }

// do sends a Graph request; path is relative to the host ("/v1.0/users") or absolute.
func (e *env) do(method, path string, body any, hdr ...string) response {
	return e.doWith(e.token, method, path, body, hdr...)
}

func (e *env) doWith(token, method, path string, body any, hdr ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = e.base + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.json)
	return r
}

func (e *env) must(r response, status int) response {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

// snapshot is a fingerprint of the directory, to prove a refused request changed nothing.
func (e *env) snapshot() string {
	e.sim.mu.RLock()
	defer e.sim.mu.RUnlock()
	var b strings.Builder
	for _, k := range entra.Kinds() {
		for _, id := range e.sim.st.live[k].Slice() {
			fmt.Fprintf(&b, "%s %s\n", id, e.sim.st.objs[id].data)
		}
		for _, id := range e.sim.st.bin[k].Slice() {
			fmt.Fprintf(&b, "bin %s %s\n", id, e.sim.st.objs[id].data)
		}
	}
	for _, k := range sortedLinkKeys(e.sim.st.links) {
		fmt.Fprintf(&b, "%s/%s %v\n", k.from, k.name, e.sim.st.links[k].Slice())
	}
	fmt.Fprintf(&b, "audit %d\n", len(e.sim.st.audit))
	return b.String()
}

func sortedLinkKeys(m map[linkKey]*idSet) []linkKey {
	keys := make([]linkKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j].from+keys[j].name < keys[i].from+keys[i].name {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestTokenIssuanceAndRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	claims, ok := e.sim.parseJWT(e.token)
	if !ok || claims.TenantID != tTenant || claims.AppID != OperatorClientID || len(claims.Roles) == 0 || claims.Exp-claims.Iat != 3599 {
		t.Fatalf("claims %+v", claims)
	}
	cases := []struct {
		form   url.Values
		status int
		code   string
		aadsts string
	}{
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {OperatorClientID}, "client_secret": {"wrong"}, "scope": {"https://graph.microsoft.com/.default"}}, 401, "invalid_client", "7000215"},
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {"99999999-9999-4999-8999-999999999999"}, "client_secret": {"x"}, "scope": {"https://graph.microsoft.com/.default"}}, 400, "invalid_client", "700016"},
		{url.Values{"grant_type": {"password"}, "client_id": {OperatorClientID}, "client_secret": {OperatorClientSecret}, "scope": {"https://graph.microsoft.com/.default"}}, 400, "unsupported_grant_type", "70003"},
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {OperatorClientID}, "client_secret": {OperatorClientSecret}, "scope": {"User.Read"}}, 400, "invalid_scope", "1002012"},
	}
	for _, c := range cases {
		status, body := e.tokenRequest(c.form)
		var out map[string]any
		_ = json.Unmarshal(body, &out)
		if status != c.status || out["error"] != c.code || !strings.Contains(fmt.Sprint(out["error_description"]), "AADSTS"+c.aadsts) ||
			out["trace_id"] == nil || out["correlation_id"] == nil || out["timestamp"] == nil {
			t.Errorf("%v: %d %s", c.form, status, body)
		}
	}
	// The tenant may be named by id, domain or "organizations"; others are refused.
	for _, tenant := range []string{tDomain, "organizations"} {
		u := strings.Replace(e.srv.Info().TokenURL, tTenant, tenant, 1)
		resp, err := e.hc.PostForm(u, url.Values{"grant_type": {"client_credentials"}, "client_id": {AttackerClientID}, "client_secret": {AttackerClientSecret}, "scope": {"https://graph.microsoft.com/.default"}})
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("tenant %s: %v %v", tenant, err, resp.StatusCode)
		}
		resp.Body.Close()
	}
	// OpenID metadata uses the https scheme and host of the request.
	resp, err := e.hc.Get(strings.Replace(e.srv.Info().TokenURL, "/oauth2/v2.0/token", "/v2.0/.well-known/openid-configuration", 1))
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta["token_endpoint"] != e.srv.Info().TokenURL || !strings.HasPrefix(fmt.Sprint(meta["issuer"]), "https://127.0.0.1:") || meta["authorization_endpoint"] == nil {
		t.Errorf("openid configuration: %v", meta)
	}
	if _, ok := meta["tenant_region_scope"]; !ok {
		t.Error("tenant_region_scope missing")
	}
	resp, err = e.hc.Get(e.base + "/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape("https://x/"+tTenant+"/oauth2/v2.0/authorize"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("instance discovery: %v", err)
	}
	resp.Body.Close()
}

func TestUnauthenticatedGraphCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	before := e.snapshot()
	host := strings.TrimPrefix(e.base, "http://")
	wantAuth := `Bearer realm="", authorization_uri="https://` + host + "/" + tTenant + `/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`
	for _, tc := range []struct{ token, msg string }{
		{"", "Access token is empty."},
		{"garbage.token.here", "validation failure"},
		{e.token[:len(e.token)-4] + "AAAA", "validation failure"},
	} {
		r := e.doWith(tc.token, "DELETE", "/v1.0/users/"+tAlice, nil)
		if r.status != 401 || r.errCode() != "InvalidAuthenticationToken" || !strings.Contains(r.str("error", "message"), tc.msg) {
			t.Errorf("token %q: %d %s", tc.token, r.status, r.raw)
		}
		if got := r.header.Get("WWW-Authenticate"); got != wantAuth {
			t.Errorf("WWW-Authenticate %q, want %q", got, wantAuth)
		}
	}
	// An expired token (by the real clock) is refused.
	claims, _ := e.sim.parseJWT(e.token)
	claims.Exp = time.Now().Add(-time.Minute).Unix()
	r := e.doWith(e.sim.signJWT(*claims), "GET", "/v1.0/users", nil)
	if r.status != 401 || !strings.Contains(r.str("error", "message"), "expired") {
		t.Errorf("expired: %d %s", r.status, r.raw)
	}
	if e.snapshot() != before {
		t.Error("a refused request changed the directory")
	}
}

func TestResponseHeadersAndErrorShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.must(e.do("GET", "/v1.0/users", nil, "client-request-id", "my-crid"), 200)
	if r.header.Get("Content-Type") != odataJSON || r.header.Get("OData-Version") != "4.0" ||
		r.header.Get("request-id") == "" || r.header.Get("client-request-id") != "my-crid" || r.header.Get("Date") == "" {
		t.Errorf("headers %v", r.header)
	}
	r = e.do("GET", "/v1.0/users/"+tCarol+"x", nil, "client-request-id", "c2")
	inner, _ := r.json["error"].(map[string]any)["innerError"].(map[string]any)
	if r.status != 404 || r.errCode() != "Request_ResourceNotFound" || inner["date"] == nil || inner["request-id"] != r.header.Get("request-id") || inner["client-request-id"] != "c2" {
		t.Errorf("404 shape: %s", r.raw)
	}
	if r := e.do("GET", "/v1.0/nothingHere", nil); r.status != 400 || !strings.Contains(r.str("error", "message"), "nothingHere") {
		t.Errorf("unknown segment: %d %s", r.status, r.raw)
	}
	if r := e.do("PUT", "/v1.0/users", nil); r.status != 405 {
		t.Errorf("PUT on a collection: %d", r.status)
	}
}

func TestTLSOnTheSamePortAndCA(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	httpsBase := strings.Replace(e.base, "http://", "https://", 1)
	r := e.must(e.do("GET", httpsBase+"/v1.0/users?$top=1", nil), 200)
	if next := r.str("@odata.nextLink"); !strings.HasPrefix(next, "https://") {
		t.Errorf("nextLink over TLS should be https: %s", next)
	}
	resp, err := http.Get(e.base + "/_sim/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("ca.pem is not a certificate")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	resp, err = hc.Get(httpsBase + "/_sim/ca.pem")
	if err != nil {
		t.Fatalf("TLS with the published certificate pinned: %v", err)
	}
	resp.Body.Close()
}

func newRequest(method, u, body, token string) (*http.Request, error) {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// TestMemberOfProjectsEachKind: memberOf lists the groups and administrative units an
// object is a member of, each with its @odata.type and the $select that fits its kind
// (a property of groups only leaves an administrative unit with its defaults).
func TestMemberOfProjectsEachKind(t *testing.T) {
	t.Parallel()
	ds := testDataset()
	ds.Links = append(ds.Links, Link{FromKind: entra.KindAdministrativeUnit, From: tAU, Name: "members", ToKind: entra.KindUser, To: tAlice})
	e := newEnvWith(t, ds, Options{})
	r := e.must(e.do("GET", "/v1.0/users/"+tAlice+"/memberOf?$select=id,displayName,securityEnabled", nil), 200)
	got := map[string]map[string]any{}
	for _, v := range r.values() {
		got[v["id"].(string)] = v
	}
	g, au := got[tSecGroup], got[tAU]
	if len(got) != 2 || g == nil || au == nil {
		t.Fatalf("memberOf: %v", r.values())
	}
	if g["@odata.type"] != entra.KindGroup.ODataType() || g["displayName"] != "Sec Ops" || g["securityEnabled"] != true {
		t.Errorf("group: %v", g)
	}
	if au["@odata.type"] != entra.KindAdministrativeUnit.ODataType() || au["displayName"] != "Paris" {
		t.Errorf("administrative unit: %v", au)
	}
	if _, ok := au["securityEnabled"]; ok {
		t.Errorf("administrative unit given a group's property: %v", au)
	}
}
