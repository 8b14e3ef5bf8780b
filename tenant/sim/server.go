package sim

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// The built-in applications whose credentials the sim's token endpoint knows. They are
// fixed so that lifeline's client can use them as its default drill credentials.
const (
	// OperatorClientID is the client id of the drill operator's application: the
	// responder's own access path, and the only client the /_sim control surface accepts.
	OperatorClientID = "7c3e9a51-2b84-4f6d-9e1a-5d0c8b2f4a63"
	// OperatorClientSecret is the operator application's client secret.
	OperatorClientSecret = "lifeline-drill-operator~7Qm2Xv9Lp4"
	// AttackerClientID is the client id of "Contoso Sync Helper", a compromised admin
	// application: scenarios write through it so the audit log names it as the culprit.
	AttackerClientID = "c1a5e8f2-94d3-4b7e-8a6c-3f2d1e0b9c57"
	// AttackerClientSecret is the attacker application's client secret.
	AttackerClientSecret = "contoso-sync-helper~Rw8Kd3Zt6Yb1"
)

// builtinClient is one application the token endpoint issues tokens to.
type builtinClient struct {
	appID, secret, displayName string
	appObjectID, spID, keyID   string
	roles                      []string
	operator                   bool
}

var builtinClients = []builtinClient{
	{
		appID: OperatorClientID, secret: OperatorClientSecret, displayName: "lifeline recovery operator",
		appObjectID: "0b7f2c1e-5a4d-4e3b-9c8a-7d6e5f4a3b21", spID: "3e1d5c7b-9a8f-4e2d-b6c4-1a0f9e8d7c65",
		keyID: "a4c2e6f8-1b3d-4f5a-8c7e-9d0b2a4c6e81", operator: true,
		roles: []string{"Directory.ReadWrite.All", "User.ReadWrite.All", "Group.ReadWrite.All", "Application.ReadWrite.All",
			"AppRoleAssignment.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All", "RoleManagement.ReadWrite.Directory",
			"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess", "Policy.ReadWrite.AuthenticationMethod",
			"AdministrativeUnit.ReadWrite.All", "AuditLog.Read.All", "User.DeleteRestore.All"},
	},
	{
		appID: AttackerClientID, secret: AttackerClientSecret, displayName: "Contoso Sync Helper",
		appObjectID: "6d9b3f1a-7c2e-4a5b-8e1d-4f3c2b1a0e97", spID: "9f8e7d6c-5b4a-4c3d-a2e1-0f9e8d7c6b54",
		keyID: "e1d3c5b7-a9f2-4e4d-b6c8-0a2e4c6d8f13",
		roles: []string{"Directory.ReadWrite.All", "Application.ReadWrite.All", "RoleManagement.ReadWrite.Directory",
			"Policy.ReadWrite.ConditionalAccess", "AppRoleAssignment.ReadWrite.All", "User.ReadWrite.All", "Group.ReadWrite.All"},
	},
}

// Options configure a simulated tenant.
type Options struct {
	// Throttle selects the throttling model: ThrottleOff or ThrottleRealistic.
	Throttle ThrottleMode
	// StateDir, when set, is where the directory is loaded from at start (when a saved
	// state is there) and saved to on Close.
	StateDir string
	// Clock is the sim's wall clock before any drill advance; nil means time.Now.
	Clock func() time.Time
	// Logger receives the sim's logs; nil discards them.
	Logger *slog.Logger
}

// Sim is a simulated Entra ID tenant: the directory and the Graph protocol over it.
type Sim struct {
	opts     Options
	log      *slog.Logger
	clock    func() time.Time
	pristine *Dataset

	// mu guards st. Reads take it shared, writes exclusively.
	mu sync.RWMutex
	st *store
	// offset is the drill's clock advance, in nanoseconds.
	offset atomic.Int64

	// signKey signs access tokens; tokenKey signs skiptokens and delta tokens.
	signKey  []byte
	tokenKey []byte
	tls      *tlsMaterial

	throttleMu sync.Mutex
	throttler  *Throttler

	faults faultInjector
}

// New loads a simulated tenant from ds (or, when opts.StateDir holds a saved state, from
// that state). It keeps ds as the pristine copy /_sim/reset returns to.
func New(ds *Dataset, opts Options) (*Sim, error) {
	s := &Sim{opts: opts, log: opts.Logger, clock: opts.Clock, pristine: ds}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	loaded := false
	if opts.StateDir != "" {
		ok, err := s.loadState(opts.StateDir)
		if err != nil {
			return nil, err
		}
		loaded = ok
	}
	if !loaded {
		st, err := loadDataset(ds, s.Now())
		if err != nil {
			return nil, err
		}
		s.st = st
		s.signKey = randomKey()
		s.tokenKey = randomKey()
		tm, err := newTLSMaterial()
		if err != nil {
			return nil, err
		}
		s.tls = tm
	}
	s.resetThrottler()
	s.st.purgeExpired(s.Now())
	s.log.Info("simulated tenant loaded", "tenant_id", s.st.tenantID, "domain", s.st.domain,
		"users", s.st.live[entra.KindUser].Len(), "objects", len(s.st.objs), "from_state", loaded)
	return s, nil
}

func randomKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

func (s *Sim) resetThrottler() {
	s.throttleMu.Lock()
	defer s.throttleMu.Unlock()
	s.mu.RLock()
	users := s.st.live[entra.KindUser].Len()
	s.mu.RUnlock()
	s.throttler = NewThrottler(s.opts.Throttle, users, s.Now)
}

// SetThrottle switches the throttling model of a running sim, with fresh budgets: a
// benchmark or drill can stage an incident at full speed and then measure a recovery
// against Graph's published limits.
func (s *Sim) SetThrottle(mode ThrottleMode) {
	s.throttleMu.Lock()
	s.opts.Throttle = mode
	s.throttleMu.Unlock()
	s.resetThrottler()
}

func (s *Sim) currentThrottler() *Throttler {
	s.throttleMu.Lock()
	defer s.throttleMu.Unlock()
	return s.throttler
}

// Now returns the sim's clock: the real clock plus the drill's advance.
func (s *Sim) Now() time.Time {
	return s.clock().Add(time.Duration(s.offset.Load())).UTC()
}

// Advance moves the sim's clock forward by d (a drill skipping days) and purges what
// expired meanwhile: bin items past 30 days, audit entries past retention.
func (s *Sim) Advance(d time.Duration) {
	if d < 0 {
		d = 0
	}
	s.offset.Add(int64(d))
	s.mu.Lock()
	s.st.purgeExpired(s.Now())
	s.mu.Unlock()
}

// purgeDue purges expired objects once the clock has passed the next expiry.
func (s *Sim) purgeDue(now time.Time) {
	s.mu.RLock()
	due := s.st.expiry != 0 && now.UnixNano() >= s.st.expiry
	s.mu.RUnlock()
	if !due {
		return
	}
	s.mu.Lock()
	if s.st.expiry != 0 && now.UnixNano() >= s.st.expiry {
		s.st.purgeExpired(now)
	}
	s.mu.Unlock()
}

// Handler returns the sim's plain HTTP handler: Graph under /v1.0 and /beta, the token
// endpoint and OpenID metadata of the authority, and the /_sim control surface.
func (s *Sim) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Sim) serveHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/v1.0" || strings.HasPrefix(path, "/v1.0/"):
		s.serveGraph(w, r, "v1.0", strings.TrimPrefix(path, "/v1.0"))
	case path == "/beta" || strings.HasPrefix(path, "/beta/"):
		s.serveGraph(w, r, "beta", strings.TrimPrefix(path, "/beta"))
	case strings.HasPrefix(path, "/_sim/"):
		s.serveControl(w, r, strings.TrimPrefix(path, "/_sim/"))
	default:
		if !s.serveAuthority(w, r) {
			writeHTTPError(w, r, newError(http.StatusNotFound, "NotFound", "No resource at '%s'. Graph is served under /v1.0 and /beta.", path))
		}
	}
}

// tenantMatches reports whether an authority path's tenant segment names this tenant.
func (s *Sim) tenantMatches(t string) bool {
	return strings.EqualFold(t, s.tenantID()) || strings.EqualFold(t, s.tenantDomain()) ||
		strings.EqualFold(t, "organizations") || strings.EqualFold(t, "common")
}

// shutdownContext bounds a graceful shutdown.
func shutdownContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

func errorf(format string, args ...any) error { return fmt.Errorf("sim: "+format, args...) }
