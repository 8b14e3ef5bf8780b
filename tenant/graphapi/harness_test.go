package graphapi

import (
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

const testTenant = "7d3c0a52-1f4e-4b8a-9c6d-2e5f8a1b3c4d"

// fixture is a tenant in miniature: an https authority with the token endpoint's real
// shape (OpenID metadata, /{tenant}/oauth2/v2.0/token) and a loopback http Graph that
// answers anonymous requests with the sim's discovery challenge and publishes the
// authority's certificate at /_sim/ca.pem.
type fixture struct {
	t         *testing.T
	token     string
	authority *httptest.Server
	graph     *httptest.Server
	caPEM     []byte

	mu      sync.Mutex
	apps    map[string]string // client id -> secret ("" accepts a certificate assertion)
	tokens  []string          // client ids that got a token
	handler http.HandlerFunc

	anonymousOrg atomic.Int32
	authHeaders  []string
}

func newFixture(t *testing.T, h http.HandlerFunc) *fixture {
	t.Helper()
	f := &fixture{
		t:       t,
		token:   fakeJWT(testTenant),
		apps:    map[string]string{DrillClientID: DrillClientSecret, AttackerClientID: AttackerClientSecret},
		handler: h,
	}
	f.authority = httptest.NewTLSServer(http.HandlerFunc(f.serveAuthority))
	t.Cleanup(f.authority.Close)
	f.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.authority.Certificate().Raw})
	f.graph = httptest.NewServer(http.HandlerFunc(f.serveGraph))
	t.Cleanup(f.graph.Close)
	return f
}

// fakeJWT is shaped like an access token, so the client can read its tid claim.
func fakeJWT(tid string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		enc([]byte(fmt.Sprintf(`{"tid":%q,"aud":"https://graph.microsoft.com"}`, tid))) + ".c2lnbmF0dXJl"
}

func (f *fixture) serveAuthority(w http.ResponseWriter, r *http.Request) {
	base := f.authority.URL + "/" + testTenant
	switch r.URL.Path {
	case "/" + testTenant + "/v2.0/.well-known/openid-configuration":
		writeJSON(w, 200, map[string]any{
			"issuer":                        base + "/v2.0",
			"token_endpoint":                base + "/oauth2/v2.0/token",
			"authorization_endpoint":        base + "/oauth2/v2.0/authorize",
			"device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
		})
	case "/" + testTenant + "/oauth2/v2.0/token":
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		id := r.PostForm.Get("client_id")
		f.mu.Lock()
		secret, known := f.apps[id]
		f.mu.Unlock()
		ok := known && r.PostForm.Get("grant_type") == "client_credentials"
		if secret == "" {
			ok = ok && r.PostForm.Get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" &&
				strings.Count(r.PostForm.Get("client_assertion"), ".") == 2
		} else {
			ok = ok && r.PostForm.Get("client_secret") == secret
		}
		if !ok {
			writeJSON(w, 401, map[string]any{
				"error":             "invalid_client",
				"error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: 1\r\nCorrelation ID: 2",
			})
			return
		}
		f.mu.Lock()
		f.tokens = append(f.tokens, id)
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": f.token})
	default:
		http.NotFound(w, r)
	}
}

func (f *fixture) serveGraph(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_sim/ca.pem" {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(f.caPEM)
		return
	}
	auth := r.Header.Get("Authorization")
	f.mu.Lock()
	f.authHeaders = append(f.authHeaders, auth)
	f.mu.Unlock()
	if auth == "" && r.URL.Path == "/v1.0/organization" {
		f.anonymousOrg.Add(1)
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="", authorization_uri="%s/%s/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`,
			f.authority.URL, testTenant))
		writeJSON(w, 401, map[string]any{"error": map[string]any{"code": "InvalidAuthenticationToken", "message": "Access token is empty."}})
		return
	}
	if auth != "Bearer "+f.token {
		writeJSON(w, 401, map[string]any{"error": map[string]any{"code": "InvalidAuthenticationToken", "message": "Access token is empty."}})
		return
	}
	f.handler(w, r)
}

// config is a Config for the fixture's loopback graph, with the SDK's retry delay at its
// 1 s minimum so that backoff tests stay short.
func (f *fixture) config() Config {
	return Config{GraphURL: f.graph.URL + "/v1.0", retryDelaySeconds: 1}
}

func (f *fixture) client(mut func(*Config)) *Client {
	f.t.Helper()
	cfg := f.config()
	if mut != nil {
		mut(&cfg)
	}
	c, err := New(context.Background(), cfg)
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	return c
}

func (f *fixture) addApp(id, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apps[id] = secret
}

func (f *fixture) tokenClients() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tokens...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.Header().Set("request-id", "req-"+fmt.Sprint(status))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readBody returns a request body, gunzipping it when the SDK compressed it.
func readBody(t *testing.T, r *http.Request) []byte {
	t.Helper()
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Errorf("gzip body: %v", err)
			return nil
		}
		rd = zr
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Errorf("reading body: %v", err)
	}
	return b
}

// staticCredential hands out a fixed token, for tests that are not about signing in.
type staticCredential struct{ token string }

func (s staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: s.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// fakeClock is a clock the sleeps advance, so pacing tests read delays, not wall time.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

func (c *fakeClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// assertSentence checks the error-message contract: one line, ending with a period.
func assertSentence(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") || !strings.HasSuffix(msg, ".") {
		t.Errorf("not one sentence: %q", msg)
	}
}
