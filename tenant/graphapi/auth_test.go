package graphapi

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func orgHandler(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{"value": []any{map[string]any{"id": testTenant, "displayName": "Contoso"}}})
}

// A loopback graph URL alone is enough: the client discovers the sim's authority and
// tenant, trusts the certificate the sim publishes, signs in as the drill app through
// azidentity, and the bearer reaches the plain-http loopback host.
func TestLoopbackDiscoveryAndDrillCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t, orgHandler)
	c, err := New(context.Background(), Config{GraphURL: f.graph.URL + "/v1.0"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if c.TenantID() != testTenant {
		t.Errorf("TenantID = %q, want %q", c.TenantID(), testTenant)
	}
	if got := f.tokenClients(); len(got) != 1 || got[0] != DrillClientID {
		t.Errorf("token requests by %v, want one by the drill app", got)
	}
	if f.anonymousOrg.Load() != 1 {
		t.Errorf("discovery requests = %d, want 1", f.anonymousOrg.Load())
	}
	var items int
	if _, err := c.List(context.Background(), "/organization", ListOptions{}, func(p Page) error {
		items += len(p.Items)
		return nil
	}); err != nil {
		t.Fatalf("List: %v", err)
	}
	if items != 1 {
		t.Errorf("items = %d, want 1", items)
	}
	f.mu.Lock()
	last := f.authHeaders[len(f.authHeaders)-1]
	f.mu.Unlock()
	if last != "Bearer "+f.token {
		t.Errorf("Authorization = %q, want the bearer token", last)
	}
	if got := f.tokenClients(); len(got) != 1 {
		t.Errorf("token requests = %d, want 1 (the first token is cached and reused)", len(got))
	}
	if c.Root() != f.graph.URL || c.GraphURL() != f.graph.URL+"/v1.0" {
		t.Errorf("Root, GraphURL = %q, %q", c.Root(), c.GraphURL())
	}
}

func TestAttackerCredentialsOnLoopback(t *testing.T) {
	t.Parallel()
	f := newFixture(t, orgHandler)
	f.client(func(c *Config) { c.ClientID = AttackerClientID })
	if got := f.tokenClients(); len(got) != 1 || got[0] != AttackerClientID {
		t.Errorf("token requests by %v, want one by the attacker app", got)
	}
}

func TestExplicitAuthorityWithSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t, orgHandler)
	f.addApp("incident-app", "s3cret-value")
	c := f.client(func(c *Config) {
		c.AuthorityHost = f.authority.URL
		c.AuthorityCAPEM = f.caPEM
		c.TenantID = testTenant
		c.ClientID = "incident-app"
		c.ClientSecret = "s3cret-value"
	})
	if f.anonymousOrg.Load() != 0 {
		t.Error("an explicit authority must not be discovered")
	}
	if got := f.tokenClients(); len(got) != 1 || got[0] != "incident-app" {
		t.Errorf("token requests by %v", got)
	}
	if c.TenantID() != testTenant {
		t.Errorf("TenantID = %q", c.TenantID())
	}
}

func TestWrongSecretIsOneSentence(t *testing.T) {
	t.Parallel()
	f := newFixture(t, orgHandler)
	f.addApp("incident-app", "right")
	cfg := f.config()
	cfg.ClientID, cfg.ClientSecret, cfg.TenantID = "incident-app", "wrong-secret-value", testTenant
	_, err := New(context.Background(), cfg)
	assertSentence(t, err)
	msg := err.Error()
	if !strings.Contains(msg, "AADSTS7000215") || !strings.Contains(msg, "invalid_client") {
		t.Errorf("error does not carry the authority's cause: %q", msg)
	}
	if strings.Contains(msg, "wrong-secret-value") || strings.Contains(msg, "Trace ID") || strings.Contains(msg, "troubleshoot") {
		t.Errorf("error leaks a secret or an SDK dump: %q", msg)
	}
}

// The certificate path: PEM with the private key, as AZURE_CLIENT_CERTIFICATE_PATH names it.
func TestCertificateCredential(t *testing.T) {
	t.Parallel()
	f := newFixture(t, orgHandler)
	f.addApp("cert-app", "")
	path := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(path, selfSignedPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	f.client(func(c *Config) {
		c.ClientID, c.CertificatePath = "cert-app", path
	})
	if got := f.tokenClients(); len(got) != 1 || got[0] != "cert-app" {
		t.Errorf("token requests by %v, want one by cert-app with an assertion", got)
	}

	cfg := f.config()
	cfg.ClientID, cfg.CertificatePath = "cert-app", filepath.Join(t.TempDir(), "missing.pem")
	_, err := New(context.Background(), cfg)
	assertSentence(t, err)
}

func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "lifeline-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
}

// The authority is trusted through exactly the CA given, never by skipping verification.
func TestUntrustedAuthorityIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, orgHandler)
	cfg := f.config()
	// httptest servers share one certificate: trust a freshly made one instead.
	cfg.AuthorityCAPEM = selfSignedPEM(t)
	_, err := New(context.Background(), cfg)
	assertSentence(t, err)
	t.Log(err)
	if len(f.tokenClients()) != 0 {
		t.Error("a token was issued through an untrusted TLS connection")
	}
}

func TestNoCredentialsNamesTheVariables(t *testing.T) {
	t.Parallel()
	_, err := New(context.Background(), Config{})
	assertSentence(t, err)
	for _, v := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_SECRET"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error does not name %s: %q", v, err)
		}
	}
	_, err = New(context.Background(), Config{ClientSecret: "x", ClientID: "app"})
	assertSentence(t, err)
	if !strings.Contains(err.Error(), "AZURE_TENANT_ID") {
		t.Errorf("missing tenant not named: %q", err)
	}
}

func TestGraphURLValidation(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://graph.example.com/v1.0", "ftp://x/v1.0", "https://graph.microsoft.com/v1.0?x=1", "::"} {
		_, err := New(context.Background(), Config{GraphURL: u})
		assertSentence(t, err)
	}
	_, err := New(context.Background(), Config{GraphURL: DefaultGraphURL, Pace: 1.5})
	assertSentence(t, err)
}

// With a credential given as is, no discovery runs and the tenant comes from the token.
func TestTenantFromTokenClaim(t *testing.T) {
	t.Parallel()
	f := newFixture(t, orgHandler)
	c := f.client(func(c *Config) { c.Credential = staticCredential{f.token} })
	if c.TenantID() != testTenant {
		t.Errorf("TenantID = %q, want the token's tid", c.TenantID())
	}
	if f.anonymousOrg.Load() != 0 {
		t.Error("discovery ran although a credential was given")
	}
}

func TestTenantMismatchIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, orgHandler)
	cfg := f.config()
	cfg.TenantID = "00000000-0000-0000-0000-000000000001"
	_, err := New(context.Background(), cfg)
	assertSentence(t, err)
	if !strings.Contains(err.Error(), testTenant) {
		t.Errorf("error does not name the tenant found: %q", err)
	}
}

func TestDiscoveryOfSomethingElse(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"value": []any{}})
	}))
	defer srv.Close()
	_, err := New(context.Background(), Config{GraphURL: srv.URL + "/v1.0"})
	assertSentence(t, err)
	if !strings.Contains(err.Error(), "does not look like a lifeline simulated tenant") || !strings.Contains(err.Error(), "check --graph-url") {
		t.Errorf("unexpected error: %q", err)
	}
}

func TestConfigFromLookup(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"AZURE_TENANT_ID":                   "t",
		"AZURE_CLIENT_ID":                   "c",
		"AZURE_CLIENT_SECRET":               "s",
		"AZURE_CLIENT_CERTIFICATE_PATH":     "/p.pem",
		"AZURE_CLIENT_CERTIFICATE_PASSWORD": "pw",
		"LIFELINE_GRAPH_URL":                "http://127.0.0.1:9/v1.0",
	}
	cfg := configFromLookup("", func(k string) string { return env[k] })
	if cfg.GraphURL != "http://127.0.0.1:9/v1.0" || cfg.TenantID != "t" || cfg.ClientID != "c" || cfg.ClientSecret != "s" ||
		cfg.CertificatePath != "/p.pem" || cfg.CertificatePassword != "pw" {
		t.Errorf("cfg = %+v", cfg)
	}
	if got := configFromLookup("https://x/v1.0", func(k string) string { return env[k] }).GraphURL; got != "https://x/v1.0" {
		t.Errorf("the flag must win over LIFELINE_GRAPH_URL, got %q", got)
	}
	if got := configFromLookup("", func(string) string { return "" }).GraphURL; got != DefaultGraphURL {
		t.Errorf("default GraphURL = %q", got)
	}
}

func TestTenantFromToken(t *testing.T) {
	t.Parallel()
	if got := tenantFromToken(fakeJWT("abc")); got != "abc" {
		t.Errorf("tid = %q", got)
	}
	for _, tok := range []string{"", "opaque", "a.b.c", "a.!!!.c"} {
		if got := tenantFromToken(tok); got != "" {
			t.Errorf("tenantFromToken(%q) = %q", tok, got)
		}
	}
}
