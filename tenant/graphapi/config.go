package graphapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// DefaultGraphURL is Microsoft Graph's v1.0 endpoint in the public cloud.
const DefaultGraphURL = "https://graph.microsoft.com/v1.0"

// DefaultPace is the fraction of the throttling budget lifeline spends when nobody says
// otherwise: close enough to the limit to restore quickly, far enough to rarely earn a 429.
const DefaultPace = 0.9

// Config says which tenant to reach and how to sign in. The zero value, with GraphURL set to
// a loopback simulated tenant, is enough for drills; for Microsoft Graph use ConfigFromEnv.
type Config struct {
	// GraphURL is the Graph base including its version, default DefaultGraphURL; it comes
	// from --graph-url or LIFELINE_GRAPH_URL.
	GraphURL string
	// TenantID, ClientID and ClientSecret are the app registration lifeline signs in as
	// (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET).
	TenantID, ClientID, ClientSecret string
	// CertificatePath and CertificatePassword name a PEM or PKCS#12 certificate with its
	// private key (AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_CERTIFICATE_PASSWORD). A
	// certificate is preferred during incidents: user Conditional Access does not apply to it.
	CertificatePath, CertificatePassword string
	// Interactive allows a device code sign-in, prompted on stderr, when nothing else is
	// configured.
	Interactive bool
	// Credential, when set, is used as is and wins over everything above.
	Credential azcore.TokenCredential
	// AuthorityHost overrides the sign-in authority (for example "https://127.0.0.1:PORT/").
	// For a loopback GraphURL it is discovered from the simulated tenant when empty.
	AuthorityHost string
	// AuthorityCAPEM is the one CA the client trusts for the authority's TLS certificate
	// (loopback simulated tenants); when empty the system roots apply.
	AuthorityCAPEM []byte
	// Budget is the tenant's throttling budget; the zero value is Graph's published budget
	// for a large tenant.
	Budget Budget
	// Pace is the fraction of Budget lifeline may use: 0 < Pace <= 1, default DefaultPace.
	Pace float64
	// HTTPClient, when set, supplies the transport under the SDK's middleware pipeline
	// (tests); its Timeout and redirect policy are not used.
	HTTPClient *http.Client
	// Observer, when set, is called for every HTTP attempt, synchronously: keep it fast.
	Observer func(Call)

	// Test seams: the clock and the sleep used by the pacer and the batch requeue, and the
	// kiota retry handler's base delay in seconds (the SDK's 3 s when zero).
	now               func() time.Time
	sleep             func(context.Context, time.Duration) error
	retryDelaySeconds int
	// AdoptSimBudget lets a simulated tenant on this machine that does not throttle
	// lift the pacer's budget (a real tenant, or a sim throttling realistically, keeps
	// Graph's). Operators' configurations (ConfigFromEnv) set it.
	AdoptSimBudget bool
}

// ConfigFromEnv builds a Config from azidentity's usual environment variables.
// graphURL is the --graph-url flag's value; when empty, LIFELINE_GRAPH_URL and then
// DefaultGraphURL apply.
func ConfigFromEnv(graphURL string) Config {
	return configFromLookup(graphURL, os.Getenv)
}

func configFromLookup(graphURL string, getenv func(string) string) Config {
	if graphURL == "" {
		graphURL = getenv("LIFELINE_GRAPH_URL")
	}
	if graphURL == "" {
		graphURL = DefaultGraphURL
	}
	return Config{
		GraphURL:            graphURL,
		TenantID:            getenv("AZURE_TENANT_ID"),
		ClientID:            getenv("AZURE_CLIENT_ID"),
		ClientSecret:        getenv("AZURE_CLIENT_SECRET"),
		CertificatePath:     getenv("AZURE_CLIENT_CERTIFICATE_PATH"),
		CertificatePassword: getenv("AZURE_CLIENT_CERTIFICATE_PASSWORD"),
		AdoptSimBudget:      true,
	}
}

// endpoint is a parsed Graph base URL. Paths are compared against it to tell Graph calls
// (paced, shown relative to the version root) from the sim's control surface (not paced).
type endpoint struct {
	scheme  string
	host    string // host[:port], as in the URL
	prefix  string // path before the version segment, usually ""
	version string // "v1.0" or "beta"
}

func parseGraphURL(raw string) (endpoint, error) {
	if raw == "" {
		raw = DefaultGraphURL
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return endpoint{}, fmt.Errorf("the graph URL %q is not an http(s) URL; pass something like %s.", raw, DefaultGraphURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return endpoint{}, fmt.Errorf("the graph URL %q must be a plain base URL without query, fragment or user info.", raw)
	}
	ep := endpoint{scheme: u.Scheme, host: u.Host}
	path := strings.TrimRight(u.Path, "/")
	if path == "" {
		// A bare host means the v1.0 endpoint, as in Graph Explorer.
		ep.version = "v1.0"
	} else {
		i := strings.LastIndex(path, "/")
		ep.prefix, ep.version = path[:i], path[i+1:]
	}
	if u.Scheme == "http" && !plainHTTPAllowed(u.Hostname()) {
		return endpoint{}, fmt.Errorf("the graph URL %s uses plain http, which is allowed only for simulated tenants on localhost, 127.0.0.1 or [::1]; use https.", raw)
	}
	return ep, nil
}

// root is scheme://host, where the sim's /_sim control surface lives.
func (e endpoint) root() string { return e.scheme + "://" + e.host }

// base is the version root that relative paths hang off.
func (e endpoint) base(beta bool) string {
	v := e.version
	if beta {
		v = "beta"
	}
	return e.root() + e.prefix + "/" + v
}

func (e endpoint) hostname() string {
	h, _, err := net.SplitHostPort(e.host)
	if err != nil {
		return strings.Trim(e.host, "[]")
	}
	return h
}

// loopback reports whether the graph host is this machine: a simulated tenant.
func (e endpoint) loopback() bool { return isLoopbackHost(e.hostname()) }

// scope is the token audience: Graph's own for Microsoft Graph, the host otherwise
// (the same "<scheme>://<host>/.default" kiota would derive).
func (e endpoint) scope() string { return e.root() + "/.default" }

// validHosts is the token allow-list for the auth provider: only the configured graph host
// ever receives the bearer token.
func (e endpoint) validHosts() []string {
	hosts := []string{strings.ToLower(e.hostname())}
	if e.host != e.hostname() {
		hosts = append(hosts, strings.ToLower(e.host))
	}
	return hosts
}

// resolve turns a path relative to the version root, or an absolute URL on the graph host,
// into the URL to send. Absolute URLs on other hosts are refused: they would go without a
// token at best, and to somebody else at worst.
func (e endpoint) resolve(path string, beta bool) (*url.URL, error) {
	if strings.HasPrefix(path, "https://") || strings.HasPrefix(path, "http://") {
		u, err := url.Parse(path)
		if err != nil {
			return nil, fmt.Errorf("%q is not a valid URL", path)
		}
		if !strings.EqualFold(u.Host, e.host) || u.Scheme != e.scheme {
			return nil, fmt.Errorf("refusing to send a request to %s://%s, which is not the tenant's graph host %s", u.Scheme, u.Host, e.root())
		}
		return u, nil
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(e.base(beta) + path)
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid Graph path", path)
	}
	// Hand-written filters carry spaces ("$filter=displayName eq 'A B'"); a raw space
	// would break the request line, and Graph reads "+" literally.
	u.RawQuery = strings.ReplaceAll(u.RawQuery, " ", "%20")
	return u, nil
}

// fromRoot resolves a path from the host root (the sim's /_sim control surface).
func (e endpoint) fromRoot(path string) (*url.URL, error) {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(e.root() + path)
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid path", path)
	}
	return u, nil
}

// versionRelative returns the path of u below its version root ("users/1234"), and whether
// u is a Graph call at all (under v1.0 or beta on the graph host).
func (e endpoint) versionRelative(u *url.URL) (string, bool) {
	if !strings.EqualFold(u.Host, e.host) {
		return "", false
	}
	p := u.Path
	if !strings.HasPrefix(p, e.prefix+"/") {
		return "", false
	}
	p = p[len(e.prefix)+1:]
	for _, v := range []string{e.version, "beta", "v1.0"} {
		if p == v {
			return "", true
		}
		if strings.HasPrefix(p, v+"/") {
			return p[len(v)+1:], true
		}
	}
	return "", false
}

// display is how a URL appears in errors and the call log: relative to the configured
// version root ("/users/1234"), with the version when it is another one ("/beta/..."),
// and from the host root for non-Graph paths ("/_sim/clock"). Queries are left out: they
// carry skip tokens and long $select lists that help nobody reading a log line.
func (e endpoint) display(u *url.URL) string {
	p := u.EscapedPath()
	if !strings.EqualFold(u.Host, e.host) {
		return u.Scheme + "://" + u.Host + p
	}
	own := e.prefix + "/" + e.version
	if p == own {
		return "/"
	}
	if strings.HasPrefix(p, own+"/") {
		return p[len(own):]
	}
	return strings.TrimPrefix(p, e.prefix)
}

// isLoopbackHost reports whether a host name (without port) is this machine.
func isLoopbackHost(h string) bool {
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// plainHTTPAllowed mirrors kiota-authentication-azure-go, which sends tokens over plain http
// only to these hosts; anything else would fail later with a less helpful message.
func plainHTTPAllowed(h string) bool {
	switch strings.ToLower(strings.Trim(h, "[]")) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}
