package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// The sim's authority: an OAuth token endpoint of login.microsoftonline.com's shape
// (graph-spec §10.1), the OpenID metadata MSAL reads, and bearer validation on Graph.

// graphAppID is Microsoft Graph's application id, which Graph names in WWW-Authenticate.
const graphAppID = "00000003-0000-0000-c000-000000000000"

// tokenLifetime is the lifetime of an access token, as Entra issues app-only tokens.
const tokenLifetime = 3599 * time.Second

// tokenClaims are the claims of the sim's access tokens.
type tokenClaims struct {
	Aud      string   `json:"aud"`
	Iss      string   `json:"iss"`
	TenantID string   `json:"tid"`
	AppID    string   `json:"appid"`
	AppName  string   `json:"app_displayname"`
	SPID     string   `json:"oid"`
	Sub      string   `json:"sub"`
	IDType   string   `json:"idtyp"`
	Roles    []string `json:"roles"`
	Iat      int64    `json:"iat"`
	Nbf      int64    `json:"nbf"`
	Exp      int64    `json:"exp"`
	Ver      string   `json:"ver"`
}

// signJWT encodes claims as an HS256 JWT signed with the sim's key.
func (s *Sim) signJWT(claims tokenClaims) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	payload, _ := json.Marshal(claims)
	signing := header + "." + base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, s.signKey)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// parseJWT verifies a token's signature and returns its claims.
func (s *Sim) parseJWT(tok string) (*tokenClaims, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, false
	}
	mac := hmac.New(sha256.New, s.signKey)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, false
	}
	var c tokenClaims
	if json.Unmarshal(payload, &c) != nil {
		return nil, false
	}
	return &c, true
}

// authenticate validates a Graph request's bearer token (signature, then expiry by the
// real clock: a drill advancing the sim's clock does not expire tokens).
func (s *Sim) authenticate(r *http.Request) (*tokenClaims, *apiError) {
	tenantID := s.tenantID()
	unauthorized := func(msg string) *apiError {
		e := newError(http.StatusUnauthorized, "InvalidAuthenticationToken", "%s", msg)
		e.headers = map[string]string{"WWW-Authenticate": `Bearer realm="", authorization_uri="https://` + hostOf(r) + "/" + tenantID +
			`/oauth2/authorize", client_id="` + graphAppID + `"`}
		return e
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "bearer ")
	}
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" {
		return nil, unauthorized("Access token is empty.")
	}
	claims, valid := s.parseJWT(tok)
	if !valid || claims.TenantID != tenantID {
		return nil, unauthorized("Access token validation failure. Invalid audience or signature.")
	}
	now := s.clock().Unix()
	if now < claims.Nbf-300 || now >= claims.Exp {
		return nil, unauthorized("Lifetime validation failed, the token is expired. Access token has expired or is not yet valid.")
	}
	return claims, nil
}

// tenantID returns the loaded tenant's id.
func (s *Sim) tenantID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.tenantID
}

func (s *Sim) tenantDomain() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.domain
}

// hostOf is the host (with port) a request was addressed to.
func hostOf(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	return "127.0.0.1"
}

// serveAuthority answers the token endpoint, the OpenID metadata and instance
// discovery. It reports false for paths that are none of these.
func (s *Sim) serveAuthority(w http.ResponseWriter, r *http.Request) bool {
	segs := splitPath(r.URL.Path)
	switch {
	case len(segs) == 3 && segs[0] == "common" && segs[1] == "discovery" && segs[2] == "instance":
		s.serveInstanceDiscovery(w, r)
	case len(segs) == 4 && segs[1] == "v2.0" && segs[2] == ".well-known" && segs[3] == "openid-configuration",
		len(segs) == 3 && segs[1] == ".well-known" && segs[2] == "openid-configuration":
		if !s.tenantMatches(segs[0]) {
			s.oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002, "Tenant '"+segs[0]+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
			return true
		}
		s.serveOpenIDConfig(w, r)
	case len(segs) == 4 && segs[1] == "oauth2" && segs[2] == "v2.0" && segs[3] == "token",
		len(segs) == 3 && segs[1] == "oauth2" && segs[2] == "token":
		s.serveToken(w, r, segs[0])
	case len(segs) == 4 && segs[1] == "discovery" && segs[2] == "v2.0" && segs[3] == "keys":
		writePlainJSON(w, http.StatusOK, map[string]any{"keys": []any{}})
	case len(segs) >= 3 && segs[1] == "oauth2":
		s.oauthError(w, http.StatusBadRequest, "invalid_request", 90014,
			"The simulated tenant issues app-only tokens with the client credentials grant only.")
	default:
		return false
	}
	return true
}

// authorityBase is the https authority a client reaches the sim at.
func authorityBase(r *http.Request) string { return "https://" + hostOf(r) }

func (s *Sim) serveOpenIDConfig(w http.ResponseWriter, r *http.Request) {
	base := requestBase(r)
	tid := s.tenantID()
	t := base + "/" + tid
	writePlainJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        t + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              t + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                t + "/v2.0",
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     base + "/oidc/userinfo",
		"authorization_endpoint":                t + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         t + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  t + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "tid", "appid", "roles"},
		"kerberos_endpoint":                     t + "/kerberos",
		"tenant_region_scope":                   nil,
		"cloud_instance_name":                   hostOf(r),
		"cloud_graph_host_name":                 hostOf(r),
		"msgraph_host":                          hostOf(r),
		"rbac_url":                              base,
	})
}

func (s *Sim) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := hostOf(r)
	tenant := s.tenantID()
	if ae := r.URL.Query().Get("authorization_endpoint"); ae != "" {
		if segs := splitPath(strings.TrimPrefix(strings.TrimPrefix(ae, "https://"), "http://")); len(segs) > 1 && s.tenantMatches(segs[1]) {
			tenant = segs[1]
		}
	}
	writePlainJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": authorityBase(r) + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []any{map[string]any{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
	})
}

// oauthError writes the token endpoint's error body.
func (s *Sim) oauthError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	trace, corr := newGUID(), newGUID()
	now := time.Now().UTC()
	writePlainJSON(w, status, map[string]any{
		"error":             code,
		"error_description": "AADSTS" + itoaInt(aadsts) + ": " + desc + " Trace ID: " + trace + " Correlation ID: " + corr + " Timestamp: " + now.Format("2006-01-02 15:04:05Z"),
		"error_codes":       []int{aadsts},
		"timestamp":         now.Format("2006-01-02 15:04:05Z"),
		"trace_id":          trace,
		"correlation_id":    corr,
	})
}

func itoaInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// serveToken issues app-only access tokens (client credentials with a secret).
func (s *Sim) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodPost {
		s.oauthError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests.")
		return
	}
	if !s.tenantMatches(tenant) {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", 90002, "Tenant '"+tenant+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	form := r.PostForm
	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok && clientID == "" {
		clientID, secret = u, p
	}
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		s.oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	default:
		s.oauthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+gt+"'.")
		return
	}
	if clientID == "" {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	scope := form.Get("scope")
	if !clientCredentialScope(scope) {
		s.oauthError(w, http.StatusBadRequest, "invalid_scope", 1002012, "The provided value for scope "+scope+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		return
	}
	var client *builtinClient
	for i := range builtinClients {
		if strings.EqualFold(builtinClients[i].appID, clientID) {
			client = &builtinClients[i]
		}
	}
	tid := s.tenantID()
	if client == nil {
		s.mu.RLock()
		known := s.st.appByAppID(clientID) != nil
		s.mu.RUnlock()
		if known {
			s.oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+clientID+"'.")
			return
		}
		s.oauthError(w, http.StatusBadRequest, "invalid_client", 700016, "Application with identifier '"+clientID+"' was not found in the directory '"+tid+"'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.")
		return
	}
	if form.Get("client_assertion") != "" {
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", 700027,
			"Client assertion failed signature validation: the simulated tenant holds no certificate credential for app '"+clientID+"'; use its client secret.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(client.secret)) != 1 {
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+clientID+"'.")
		return
	}
	now := s.clock()
	claims := tokenClaims{
		Aud: "https://graph.microsoft.com", Iss: "https://sts.windows.net/" + tid + "/", TenantID: tid,
		AppID: client.appID, AppName: client.displayName, SPID: client.spID, Sub: client.spID, IDType: "app",
		Roles: client.roles, Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(tokenLifetime).Unix(), Ver: "1.0",
	}
	writePlainJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     int(tokenLifetime.Seconds()),
		"ext_expires_in": int(tokenLifetime.Seconds()),
		"access_token":   s.signJWT(claims),
	})
}

// isOperator reports whether a token was issued to the operator application.
func isOperator(c *tokenClaims) bool { return c != nil && strings.EqualFold(c.AppID, OperatorClientID) }

// clientCredentialScope reports whether scope names exactly one resource's "/.default".
// MSAL adds the OpenID Connect scopes (openid, profile, offline_access) to every request,
// and Entra ignores them for the client-credentials grant, so the sim does too.
func clientCredentialScope(scope string) bool {
	defaults := 0
	for _, sc := range strings.Fields(scope) {
		switch {
		case strings.HasSuffix(sc, "/.default"):
			defaults++
		case sc == "openid" || sc == "profile" || sc == "offline_access":
		default:
			return false
		}
	}
	return defaults == 1
}
