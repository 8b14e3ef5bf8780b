package graphapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	abs "github.com/microsoft/kiota-abstractions-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
)

// Client talks to one tenant. It is safe for concurrent use; the pacer it holds is the
// tenant's budget, so share one Client per tenant rather than creating several.
type Client struct {
	ep       endpoint
	tenantID string
	who      string // the identity signed in, for error sentences ("app 5f0c...")
	adapter  *msgraphsdk.GraphRequestAdapter
	sdk      *msgraphsdk.GraphServiceClient
	http     *http.Client
	pacer    *pacer
	calls    *callRing
	observer func(Call)

	now               func() time.Time
	sleep             func(context.Context, time.Duration) error
	retryDelaySeconds int

	requests, retries, throttled atomic.Int64
}

// New connects to the tenant behind cfg.GraphURL: it works out the authority (discovering a
// simulated tenant's on loopback), picks the credential, builds the SDK's adapter and
// pipeline, and gets a first token so that bad credentials fail here, in one sentence,
// rather than on the first request of a restore.
func New(ctx context.Context, cfg Config) (*Client, error) {
	ep, err := parseGraphURL(cfg.GraphURL)
	if err != nil {
		return nil, err
	}
	if cfg.Pace < 0 || cfg.Pace > 1 || math.IsNaN(cfg.Pace) {
		return nil, fmt.Errorf("the pace %v is out of range; pass a fraction of the throttling budget above 0 and at most 1.", cfg.Pace)
	}
	c := &Client{
		ep:                ep,
		calls:             newCallRing(callRingSize),
		observer:          cfg.Observer,
		now:               cfg.now,
		sleep:             cfg.sleep,
		retryDelaySeconds: cfg.retryDelaySeconds,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepContext
	}
	c.pacer = newPacer(cfg.Budget, cfg.Pace, c.now, c.sleep)
	c.http = c.newHTTPClient(cfg.HTTPClient)

	var a authority
	if cfg.Credential == nil {
		if a, err = c.resolveAuthority(ctx, cfg); err != nil {
			return nil, err
		}
	}
	tenant := cfg.TenantID
	if a.tenantID != "" {
		if tenant != "" && !strings.EqualFold(tenant, a.tenantID) {
			return nil, fmt.Errorf("the tenant at %s is %s but AZURE_TENANT_ID says %s; unset AZURE_TENANT_ID or point the graph URL at the right tenant.", ep.base(false), a.tenantID, tenant)
		}
		tenant = a.tenantID
	}
	cred, who, err := c.credential(cfg, a, tenant)
	if err != nil {
		return nil, err
	}
	c.who = who

	// The SDK's token provider silently sends no token to hosts outside its allow-list
	// (graph-spec §1.2): allow exactly the configured graph host, and nothing else.
	provider, err := msgraphauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{ep.scope()}, ep.validHosts())
	if err != nil {
		return nil, fmt.Errorf("could not set up the token provider for %s: %v.", ep.root(), err)
	}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(provider, nil, nil, c.http)
	if err != nil {
		return nil, fmt.Errorf("could not set up the Graph request adapter: %v.", err)
	}
	adapter.SetBaseUrl(ep.base(false))
	c.adapter = adapter
	c.sdk = newSDK(adapter)

	// Same options as the SDK's provider, so this token is the one its first request uses.
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{ep.scope()}, EnableCAE: true})
	if err != nil {
		return nil, signInError(err, who, ep.scope())
	}
	if tid := tenantFromToken(tok.Token); tid != "" {
		tenant = tid
	}
	c.tenantID = tenant
	if cfg.AdoptSimBudget && ep.loopback() && cfg.Budget == (Budget{}) {
		c.adoptSimBudget(ctx)
	}
	return c, nil
}

// unlimited is the budget of a simulated tenant that does not throttle.
var unlimited = Budget{ResourceUnitsPer10s: 1 << 30, WritesPer150s: 1 << 30, ConditionalAccessPerSecond: 1 << 20, AuditPer10s: 1 << 30}

// adoptSimBudget asks a simulated tenant on this machine whether it throttles. One that
// says "off" has no budget, so pacing to Graph's would only make lifeline slower than
// the tenant; anything else (Microsoft Graph, a sim throttling realistically, no answer)
// keeps Graph's published budget.
func (c *Client) adoptSimBudget(ctx context.Context) {
	resp, err := c.Raw(ctx, http.MethodGet, "/_sim/identity", nil)
	if err != nil || resp.Status != http.StatusOK {
		return
	}
	var id struct {
		Simulated bool   `json:"simulated"`
		Throttle  string `json:"throttle"`
	}
	if json.Unmarshal(resp.Body, &id) == nil && id.Simulated && id.Throttle == "off" {
		c.pacer = newPacer(unlimited, 1, c.now, c.sleep)
	}
}

var sdkOnce sync.Once

// newSDK wraps the adapter in the typed client. msgraphsdk.NewGraphServiceClient registers
// the SDK's serializers in process-wide registries and rewrites a global on every call; the
// first client does that once, later ones are built the same way without touching globals,
// so creating clients concurrently (tests, drills with two identities) is race-free.
func newSDK(adapter *msgraphsdk.GraphRequestAdapter) *msgraphsdk.GraphServiceClient {
	var first *msgraphsdk.GraphServiceClient
	sdkOnce.Do(func() { first = msgraphsdk.NewGraphServiceClient(adapter) })
	if first != nil {
		return first
	}
	adapter.EnableBackingStore(nil)
	b := abs.NewBaseRequestBuilder(adapter, "{+baseurl}", map[string]string{"baseurl": adapter.GetBaseUrl()})
	return &msgraphsdk.GraphServiceClient{GraphBaseServiceClient: msgraphsdk.GraphBaseServiceClient{BaseRequestBuilder: *b}}
}

// TenantID is the tenant signed in to: from the token's tid claim when it has one, else from
// the configuration or the simulated tenant's discovery.
func (c *Client) TenantID() string { return c.tenantID }

// GraphURL is the Graph base, with its version ("https://graph.microsoft.com/v1.0").
func (c *Client) GraphURL() string { return c.ep.base(false) }

// Root is scheme://host of the graph URL, where a simulated tenant's /_sim control surface lives.
func (c *Client) Root() string { return c.ep.root() }

// SDK is the typed client on the same adapter and pipeline: same token, pacing and call log.
// Turn its errors into sentences with FromSDK.
func (c *Client) SDK() *msgraphsdk.GraphServiceClient { return c.sdk }

// SetPace changes the fraction of the budget lifeline spends, effective for the next request
// (the console's pace keys). Values outside (0, 1] are clamped.
func (c *Client) SetPace(fraction float64) {
	if fraction <= 0 {
		fraction = 0.01
	}
	c.pacer.setPace(fraction)
}

// Stats reports what the client has spent against the budget.
func (c *Client) Stats() Stats {
	s := c.pacer.stats()
	s.Requests = c.requests.Load()
	s.Retries = c.retries.Load()
	s.Throttled = c.throttled.Load()
	return s
}

// Request is one Graph request with a raw JSON body.
type Request struct {
	// Method is the HTTP method, GET when empty.
	Method string
	// Path is relative to the version root ("/users/1234?$select=id") or an absolute URL
	// on the graph host.
	Path string
	// Body, when set, is sent as application/json (gzip-compressed by the SDK).
	Body json.RawMessage
	// Headers are extra request headers (ConsistencyLevel, If-Match, ...).
	Headers map[string]string
	// Beta sends a relative Path to the beta endpoint.
	Beta bool
}

// Response is Graph's answer with its body as sent.
type Response struct {
	Status int
	// Body is the JSON body, nil when there was none (204).
	Body      json.RawMessage
	Header    http.Header
	RequestID string
}

// Do sends one request. A non-2xx status returns an *Error together with the Response (its
// headers matter for some answers, Location on a 410 for example); a 2xx whose body is not
// JSON returns an *Error alone.
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	method := strings.ToUpper(r.Method)
	if method == "" {
		method = http.MethodGet
	}
	u, err := c.ep.resolve(r.Path, r.Beta)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v.", method, r.Path, err)
	}
	if r.Body != nil && !json.Valid(r.Body) {
		return nil, fmt.Errorf("%s %s: the request body is not valid JSON; nothing was sent.", method, c.ep.display(u))
	}
	raw, err := c.exchange(ctx, method, u, r.Body, r.Headers)
	if err != nil {
		return nil, err
	}
	return c.response(method, u, raw)
}

// Get reads one object ($select, $expand and Headers from opts apply) and returns its JSON.
func (c *Client) Get(ctx context.Context, path string, opts ListOptions) (json.RawMessage, error) {
	p := appendQuery(path, opts)
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, Path: p, Headers: opts.Headers, Beta: opts.Beta})
	if err != nil {
		return nil, err
	}
	if len(resp.Body) == 0 || resp.Body[0] != '{' {
		u, _ := c.ep.resolve(p, opts.Beta)
		what := "with an empty body where an object was expected"
		if len(resp.Body) > 0 {
			what = "with a body that is not a JSON object: " + snippet(string(resp.Body))
		}
		return nil, newBodyError(http.MethodGet, c.ep.display(u), resp.Status, resp.Header, what)
	}
	return resp.Body, nil
}

// Raw reaches any path on the graph host, above all the simulated tenant's /_sim control
// surface, with the same token and pipeline. Paths outside /v1.0 and /beta are not charged
// to Graph's budget; Graph paths are, as always. body is sent as JSON: json.RawMessage and
// []byte as they are (unchecked, so conformance tests can send malformed JSON), anything
// else marshalled.
func (c *Client) Raw(ctx context.Context, method, pathFromRoot string, body any) (*Response, error) {
	method = strings.ToUpper(method)
	u, err := c.ep.fromRoot(pathFromRoot)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v.", method, pathFromRoot, err)
	}
	var b []byte
	switch v := body.(type) {
	case nil:
	case json.RawMessage:
		b = v
	case []byte:
		b = v
	default:
		if b, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("%s %s: the request body cannot be sent as JSON (%v); nothing was sent.", method, pathFromRoot, err)
		}
	}
	raw, err := c.exchange(ctx, method, u, b, nil)
	if err != nil {
		return nil, err
	}
	return c.response(method, u, raw)
}

// response interprets a raw answer: status errors become *Error, success bodies must be JSON
// unless the server says they are text ($count).
func (c *Client) response(method string, u *url.URL, raw *rawResponse) (*Response, error) {
	resp := &Response{Status: raw.status, Header: raw.header, RequestID: requestID(raw.header)}
	path := c.ep.display(u)
	if raw.status < 200 || raw.status > 299 {
		if json.Valid(raw.body) {
			resp.Body = raw.body
		}
		return resp, newStatusError(method, path, raw.status, raw.header, raw.body, c.now())
	}
	if len(bytes.TrimSpace(raw.body)) == 0 {
		return resp, nil
	}
	if !isTextual(raw.header.Get("Content-Type")) && !json.Valid(raw.body) {
		var v any
		err := json.Unmarshal(raw.body, &v)
		return nil, newBodyError(method, path, raw.status, raw.header, jsonProblem(raw.body, err))
	}
	resp.Body = raw.body
	return resp, nil
}
