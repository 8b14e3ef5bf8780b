package graphapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// The simulated tenant's built-in app registrations. The sim defines the same values; drills
// sign in with them so that `--graph-url http://127.0.0.1:PORT/v1.0` alone is enough. They
// open nothing outside a sim on this machine.
const (
	// DrillClientID and DrillClientSecret are the operator's app in a drill.
	DrillClientID     = "7c3e9a51-2b84-4f6d-9e1a-5d0c8b2f4a63"
	DrillClientSecret = "lifeline-drill-operator~7Qm2Xv9Lp4"
	// AttackerClientID and AttackerClientSecret are the app a drill's incident acts as, so
	// the audit log names the attacker, not the operator.
	AttackerClientID     = "c1a5e8f2-94d3-4b7e-8a6c-3f2d1e0b9c57"
	AttackerClientSecret = "contoso-sync-helper~Rw8Kd3Zt6Yb1"
)

// authority is where tokens come from: the public cloud (host empty) or a simulated tenant.
type authority struct {
	host      string             // "https://127.0.0.1:PORT/", or "" for azidentity's default
	transport policy.Transporter // trusts exactly the authority's CA; nil for the system roots
	tenantID  string             // discovered from the sim, when it was
}

// resolveAuthority works out the authority. For a loopback graph URL with no authority
// configured it asks the simulated tenant: MSAL refuses non-https authorities, so the sim
// serves https on its own port with a certificate it publishes on loopback.
func (c *Client) resolveAuthority(ctx context.Context, cfg Config) (authority, error) {
	a := authority{host: cfg.AuthorityHost}
	caPEM := cfg.AuthorityCAPEM
	if c.ep.loopback() && (a.host == "" || cfg.TenantID == "") {
		host, tenant, err := c.discoverAuthority(ctx)
		if err != nil {
			return a, err
		}
		if a.host == "" {
			a.host = host
		}
		a.tenantID = tenant
	}
	if a.host != "" {
		u, err := url.Parse(a.host)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return a, fmt.Errorf("the authority %q is not an https URL; MSAL signs in only over https.", a.host)
		}
		if !strings.HasSuffix(a.host, "/") {
			a.host += "/"
		}
		if c.ep.loopback() && isLoopbackHost(u.Hostname()) && len(caPEM) == 0 {
			if caPEM, err = c.fetchSimCA(ctx); err != nil {
				return a, err
			}
		}
	}
	if len(caPEM) > 0 {
		t, err := trustOnly(caPEM, isLoopbackHost(hostOf(a.host)))
		if err != nil {
			return a, err
		}
		a.transport = t
	}
	return a, nil
}

var authorizationURIRe = regexp.MustCompile(`authorization_uri="([^"]+)"`)

// discoverAuthority reads the tenant and the authority from the challenge an anonymous
// request earns, the way Graph clients discover a tenant's authority:
// WWW-Authenticate: Bearer realm="", authorization_uri="https://127.0.0.1:PORT/{tenant}/oauth2/authorize", ...
func (c *Client) discoverAuthority(ctx context.Context) (host, tenant string, err error) {
	u := c.ep.base(false) + "/organization"
	resp, _, err := c.anonymousGet(ctx, u)
	if err != nil {
		return "", "", err
	}
	m := authorizationURIRe.FindStringSubmatch(resp.Header.Get("WWW-Authenticate"))
	if resp.StatusCode != http.StatusUnauthorized || m == nil {
		return "", "", fmt.Errorf("%s does not look like a lifeline simulated tenant (GET /organization without a token answered %d, with no sign-in challenge); check --graph-url (a sim prints its graph_url, ending in /v1.0), or for a real tenant set AZURE_TENANT_ID and the authority host.", c.ep.base(false), resp.StatusCode)
	}
	au, err := url.Parse(m[1])
	if err != nil || au.Scheme != "https" || au.Host == "" {
		return "", "", fmt.Errorf("the simulated tenant at %s announced the authority %q, which is not an https URL.", c.ep.root(), m[1])
	}
	if !isLoopbackHost(au.Hostname()) {
		// A tenant on this machine pointing sign-ins elsewhere is not something to follow.
		return "", "", fmt.Errorf("the simulated tenant at %s announced the authority %s, which is not on this machine; refusing to sign in there.", c.ep.root(), au.Host)
	}
	tenant, _, _ = strings.Cut(strings.TrimPrefix(au.Path, "/"), "/")
	if tenant == "" {
		return "", "", fmt.Errorf("the simulated tenant at %s announced the authority %q without a tenant id.", c.ep.root(), m[1])
	}
	return "https://" + au.Host + "/", tenant, nil
}

// fetchSimCA downloads the certificate the sim's https authority presents. It comes over
// plain http from the same loopback port the operator pointed lifeline at, so it is exactly
// as trustworthy as the graph URL itself.
func (c *Client) fetchSimCA(ctx context.Context) ([]byte, error) {
	u := c.ep.root() + "/_sim/ca.pem"
	resp, body, err := c.anonymousGet(ctx, u)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the simulated tenant at %s did not publish its certificate (GET /_sim/ca.pem answered %d); pass the authority's CA explicitly.", c.ep.root(), resp.StatusCode)
	}
	if _, err := parsePEMCerts(body); err != nil {
		return nil, fmt.Errorf("the simulated tenant at %s published a certificate that does not parse (%v).", c.ep.root(), err)
	}
	return body, nil
}

// anonymousGet sends a GET without a token through the SDK's pipeline (so it is paced and
// logged like everything else).
func (c *Client) anonymousGet(ctx context.Context, u string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	pu, _ := url.Parse(u)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, &requestFailure{method: http.MethodGet, path: c.ep.display(pu), host: c.ep.host, err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, &requestFailure{method: http.MethodGet, path: c.ep.display(pu), host: c.ep.host, err: err}
	}
	return resp, body, nil
}

func parsePEMCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

// trustOnly is a transport for the authority that trusts exactly the given CA, never the
// system roots and never "skip verification".
func trustOnly(caPEM []byte, loopback bool) (*http.Client, error) {
	certs, err := parsePEMCerts(caPEM)
	if err != nil {
		return nil, fmt.Errorf("the authority CA does not parse (%v).", err)
	}
	pool := x509.NewCertPool()
	for _, cert := range certs {
		pool.AddCert(cert)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if loopback {
		t.Proxy = nil
	}
	return &http.Client{Transport: t, Timeout: 60 * time.Second}, nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// credential picks how to sign in, in the order the operator would expect: an explicit
// credential, a certificate, a secret, the sim's drill app, a device code, or a sentence
// saying what to set.
func (c *Client) credential(cfg Config, a authority, tenant string) (azcore.TokenCredential, string, error) {
	co := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: a.host}}
	if a.transport != nil {
		co.Transport = a.transport
	}
	// Instance discovery asks login.microsoftonline.com about the authority: pointless and
	// impossible for a sim on loopback, required for the real clouds.
	noDiscovery := a.host != "" && isLoopbackHost(hostOf(a.host))
	if noDiscovery {
		// A sim on this machine either answers or is misconfigured (wrong CA, not
		// running); azcore's retries would only make the operator wait for the sentence.
		co.Retry = policy.RetryOptions{MaxRetries: 1, RetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second}
	}
	needApp := func(what string) error {
		var missing []string
		if cfg.ClientID == "" {
			missing = append(missing, "AZURE_CLIENT_ID")
		}
		if tenant == "" {
			missing = append(missing, "AZURE_TENANT_ID")
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s is set but %s is not; set it to the app registration lifeline signs in as.", what, strings.Join(missing, " and "))
		}
		return nil
	}
	secret := func(id, s string) (azcore.TokenCredential, string, error) {
		cred, err := azidentity.NewClientSecretCredential(tenant, id, s, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: co, DisableInstanceDiscovery: noDiscovery,
		})
		if err != nil {
			return nil, "", fmt.Errorf("could not set up the client secret credential for app %s: %s.", id, firstLine(err.Error()))
		}
		return cred, "app " + id, nil
	}
	switch {
	case cfg.Credential != nil:
		return cfg.Credential, "the configured credential", nil
	case cfg.CertificatePath != "":
		if err := needApp("AZURE_CLIENT_CERTIFICATE_PATH"); err != nil {
			return nil, "", err
		}
		data, err := os.ReadFile(cfg.CertificatePath)
		if err != nil {
			return nil, "", fmt.Errorf("could not read the certificate %s (%v); check AZURE_CLIENT_CERTIFICATE_PATH.", cfg.CertificatePath, errors.Unwrap(err))
		}
		certs, key, err := azidentity.ParseCertificates(data, []byte(cfg.CertificatePassword))
		if err != nil {
			return nil, "", fmt.Errorf("the certificate %s could not be loaded (%s); it must be PEM or PKCS#12 with its private key, and AZURE_CLIENT_CERTIFICATE_PASSWORD must match.", cfg.CertificatePath, firstLine(err.Error()))
		}
		cred, err := azidentity.NewClientCertificateCredential(tenant, cfg.ClientID, certs, key, &azidentity.ClientCertificateCredentialOptions{
			ClientOptions: co, DisableInstanceDiscovery: noDiscovery,
		})
		if err != nil {
			return nil, "", fmt.Errorf("could not set up the certificate credential for app %s: %s.", cfg.ClientID, firstLine(err.Error()))
		}
		return cred, "app " + cfg.ClientID + " (certificate)", nil
	case cfg.ClientSecret != "":
		if err := needApp("AZURE_CLIENT_SECRET"); err != nil {
			return nil, "", err
		}
		return secret(cfg.ClientID, cfg.ClientSecret)
	case c.ep.loopback() && (cfg.ClientID == "" || cfg.ClientID == DrillClientID):
		return secret(DrillClientID, DrillClientSecret)
	case c.ep.loopback() && cfg.ClientID == AttackerClientID:
		return secret(AttackerClientID, AttackerClientSecret)
	case cfg.Interactive:
		cred, err := azidentity.NewDeviceCodeCredential(&azidentity.DeviceCodeCredentialOptions{
			ClientOptions:            co,
			DisableInstanceDiscovery: noDiscovery,
			TenantID:                 tenant,
			ClientID:                 cfg.ClientID,
			UserPrompt: func(_ context.Context, m azidentity.DeviceCodeMessage) error {
				_, err := fmt.Fprintln(os.Stderr, m.Message)
				return err
			},
		})
		if err != nil {
			return nil, "", fmt.Errorf("could not set up the device code sign-in: %s.", firstLine(err.Error()))
		}
		return cred, "a device code sign-in", nil
	}
	return nil, "", fmt.Errorf("no credentials for %s: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_CERTIFICATE_PATH (preferred) or AZURE_CLIENT_SECRET, or run interactively to sign in with a device code.", c.ep.root())
}

// signInError turns whatever azidentity or MSAL returned into one sentence. Their messages
// are multi-line dumps with troubleshooting links; the useful part is the authority's error
// code and the first line of its description (AADSTS7000215: Invalid client secret ...), or
// the network's complaint when the authority could not be reached.
func signInError(err error, who, scope string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("signing in as %s stopped (%w).", who, err)
	}
	f := &signInFailure{who: who, scope: scope, err: err,
		hint: "check the credentials and that the app is registered in this tenant"}
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) && af.RawResponse != nil {
		body, _ := runtime.Payload(af.RawResponse)
		var oauth struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &oauth) == nil && (oauth.Error != "" || oauth.Description != "") {
			f.cause = strings.TrimSpace(oauth.Error + " " + firstLine(oauth.Description))
		} else {
			f.cause = fmt.Sprintf("the authority answered %d", af.RawResponse.StatusCode)
		}
	} else {
		f.cause = azMessage(err.Error())
		switch {
		case strings.Contains(f.cause, "x509:") || strings.Contains(f.cause, "tls:"):
			f.hint = "the authority's TLS certificate is not the one lifeline was told to trust"
		case strings.Contains(f.cause, "connection refused") || strings.Contains(f.cause, "no such host"):
			f.hint = "check that the authority is reachable from here"
		}
	}
	f.cause = cleanText(f.cause, 300)
	return f
}

type signInFailure struct {
	who, scope, cause, hint string
	err                     error
}

func (e *signInFailure) Error() string {
	return fmt.Sprintf("could not get a token for %s as %s: %s; %s.",
		strings.TrimSuffix(e.scope, "/.default"), e.who, strings.TrimRight(e.cause, ". "), e.hint)
}

func (e *signInFailure) Unwrap() error { return e.err }

// azMessage trims an azidentity message to its substance: no credential-type prefix, no
// troubleshooting link, one line.
func azMessage(s string) string {
	if i := strings.Index(s, "To troubleshoot, visit"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, "Credential: "); i >= 0 && i < 40 {
		s = s[i+len("Credential: "):]
	}
	return cleanText(s, 300)
}

// firstLine keeps the first line of a multi-line message, without azidentity's
// troubleshooting link.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, " To troubleshoot, visit"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// tenantFromToken reads the tid claim of a JWT access token. It only informs TenantID();
// nothing is authorised on the strength of an unverified claim.
func tenantFromToken(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		TID string `json:"tid"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.TID
}
