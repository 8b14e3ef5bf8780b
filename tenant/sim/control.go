package sim

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"net/http"
	"sync"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// The /_sim control surface: what a drill needs that Graph does not offer (the clock,
// a reset, injected faults) and the proof that a tenant is simulated. Only the
// operator's tokens are accepted, so an "attacker" in a drill cannot rewind the clock.

// serveControl handles /_sim/{rest}.
func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request, rest string) {
	if rest == "ca.pem" && r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(s.tls.certPEM)
		return
	}
	claims, aerr := s.authenticate(r)
	if aerr != nil {
		writeHTTPErrorWith(w, r, aerr)
		return
	}
	if !isOperator(claims) {
		writeHTTPErrorWith(w, r, forbidden("The simulated tenant's control surface accepts the operator application only."))
		return
	}
	switch {
	case rest == "identity" && r.Method == http.MethodGet:
		s.mu.RLock()
		out := map[string]any{"simulated": true, "tenant_id": s.st.tenantID, "domain": s.st.domain,
			"clock": s.Now().Format(time.RFC3339), "users": s.st.live[entra.KindUser].Len(),
			"throttle": string(s.currentThrottler().Mode())}
		s.mu.RUnlock()
		writePlainJSON(w, http.StatusOK, out)
	case rest == "clock" && r.Method == http.MethodGet:
		writePlainJSON(w, http.StatusOK, map[string]any{"clock": s.Now().Format(time.RFC3339)})
	case rest == "clock" && r.Method == http.MethodPost:
		var body struct {
			Advance        string   `json:"advance"`
			AdvanceSeconds *float64 `json:"advance_seconds"`
		}
		b, berr := readBody(r)
		if berr != nil {
			writeHTTPErrorWith(w, r, berr)
			return
		}
		if json.Unmarshal(b, &body) != nil {
			writeHTTPErrorWith(w, r, malformed())
			return
		}
		var d time.Duration
		switch {
		case body.Advance != "":
			var err error
			if d, err = time.ParseDuration(body.Advance); err != nil || d < 0 {
				writeHTTPErrorWith(w, r, badRequest("advance must be a positive duration such as \"72h\"."))
				return
			}
		case body.AdvanceSeconds != nil && *body.AdvanceSeconds >= 0:
			d = time.Duration(*body.AdvanceSeconds * float64(time.Second))
		default:
			writeHTTPErrorWith(w, r, badRequest("Give \"advance\" (a duration such as \"72h\") or \"advance_seconds\"."))
			return
		}
		s.Advance(d)
		s.log.Info("sim clock advanced", "by", d.String(), "clock", s.Now().Format(time.RFC3339))
		writePlainJSON(w, http.StatusOK, map[string]any{"clock": s.Now().Format(time.RFC3339)})
	case rest == "throttle" && r.Method == http.MethodPost:
		var body struct {
			Mode string `json:"mode"`
		}
		b, berr := readBody(r)
		if berr != nil {
			writeHTTPErrorWith(w, r, berr)
			return
		}
		mode, err := ParseThrottleMode("")
		if json.Unmarshal(b, &body) == nil {
			mode, err = ParseThrottleMode(body.Mode)
		}
		if err != nil {
			writeHTTPErrorWith(w, r, badRequest("Give {\"mode\": \"off\"} or {\"mode\": \"realistic\"}."))
			return
		}
		s.SetThrottle(mode)
		s.log.Info("sim throttling set", "mode", string(mode))
		writePlainJSON(w, http.StatusOK, map[string]any{"throttle": string(mode)})
	case rest == "reset" && r.Method == http.MethodPost:
		if err := s.reset(); err != nil {
			writeHTTPErrorWith(w, r, newError(http.StatusConflict, "Conflict", "%s", err.Error()))
			return
		}
		s.log.Info("sim reset to its dataset")
		writePlainJSON(w, http.StatusOK, map[string]any{"reset": true, "clock": s.Now().Format(time.RFC3339)})
	case rest == "faults" && r.Method == http.MethodPost:
		var cfg faultConfig
		b, berr := readBody(r)
		if berr != nil {
			writeHTTPErrorWith(w, r, berr)
			return
		}
		// Unknown keys are refused: a misspelt "error_rate" would silently inject nothing.
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if dec.Decode(&cfg) != nil || !cfg.valid() {
			writeHTTPErrorWith(w, r, badRequest("Faults are {\"seed\": n, \"error_rate\": 0..1, \"throttle_rate\": 0..1, \"drop_rate\": 0..1, \"latency_ms\": n, \"write_only\": bool}."))
			return
		}
		s.faults.set(&cfg)
		s.log.Info("sim faults set", "error_rate", cfg.ErrorRate, "throttle_rate", cfg.ThrottleRate, "drop_rate", cfg.DropRate)
		writePlainJSON(w, http.StatusOK, cfg)
	case rest == "faults" && r.Method == http.MethodGet:
		writePlainJSON(w, http.StatusOK, s.faults.get())
	case rest == "faults" && r.Method == http.MethodDelete:
		s.faults.set(nil)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeHTTPErrorWith(w, r, newError(http.StatusNotFound, "NotFound", "No control endpoint '%s %s'.", r.Method, rest))
	}
}

func writeHTTPErrorWith(w http.ResponseWriter, r *http.Request, e *apiError) {
	for k, v := range e.headers {
		w.Header().Set(k, v)
	}
	writeHTTPError(w, r, e)
}

// reset returns the directory to the pristine dataset: a new audit log, the clock at
// the real time, fresh throttle budgets.
func (s *Sim) reset() error {
	if s.pristine == nil {
		return errorf("this sim was loaded from saved state without a dataset; there is nothing to reset to")
	}
	s.offset.Store(0)
	st, err := loadDataset(s.pristine, s.Now())
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.st = st
	s.mu.Unlock()
	s.resetThrottler()
	return nil
}

// faultConfig is a fault-injection setting (POST /_sim/faults).
type faultConfig struct {
	Seed         int64   `json:"seed"`
	ErrorRate    float64 `json:"error_rate"`
	ThrottleRate float64 `json:"throttle_rate"`
	DropRate     float64 `json:"drop_rate"`
	// LostRate is the share of writes that are applied and then answered 504 Gateway
	// Timeout: Graph's gateway gave up while the directory behind it did the work.
	LostRate  float64 `json:"lost_rate"`
	LatencyMS int     `json:"latency_ms"`
	WriteOnly bool    `json:"write_only"`
}

func (f *faultConfig) valid() bool {
	ok := func(r float64) bool { return r >= 0 && r <= 1 }
	return ok(f.ErrorRate) && ok(f.ThrottleRate) && ok(f.DropRate) && ok(f.LostRate) && f.LatencyMS >= 0 && f.LatencyMS <= 60000
}

// faultInjector draws faults from a seeded generator: the same seed and the same order
// of requests give the same faults.
type faultInjector struct {
	mu  sync.Mutex
	cfg *faultConfig
	rng *rand.Rand
}

// faultDecision is what happens to one request.
type faultDecision struct {
	latency time.Duration
	drop    bool
	err     *apiError
	// lost: apply the write, then answer gatewayTimeout instead of its result.
	lost bool
}

// gatewayTimeout is the answer of a write whose result was lost behind the gateway.
func gatewayTimeout() *apiError {
	e := newError(http.StatusGatewayTimeout, "UnknownError", "The gateway timed out waiting for the directory.")
	e.headers = map[string]string{"Retry-After": "1"} // as the injected 504 before the work says
	return e
}

func (f *faultInjector) set(cfg *faultConfig) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = cfg
	if cfg != nil {
		f.rng = rand.New(rand.NewSource(cfg.Seed))
	}
}

func (f *faultInjector) get() any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cfg == nil {
		return map[string]any{"enabled": false}
	}
	return f.cfg
}

// decide draws the fault of one request (nil: none). Batch items cannot drop a
// connection: only the envelope can.
func (f *faultInjector) decide(method string, inBatch bool) *faultDecision {
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg := f.cfg
	if cfg == nil || (cfg.WriteOnly && (method == http.MethodGet || method == http.MethodHead)) {
		return nil
	}
	drop, fail, throttle, pick := f.rng.Float64(), f.rng.Float64(), f.rng.Float64(), f.rng.Intn(3)
	lost := 0.0
	if cfg.LostRate > 0 {
		lost = f.rng.Float64() // drawn only when asked for, so earlier seeds draw as before
	}
	d := &faultDecision{latency: time.Duration(cfg.LatencyMS) * time.Millisecond}
	switch {
	case !inBatch && drop < cfg.DropRate:
		d.drop = true
	case fail < cfg.ErrorRate:
		switch pick {
		case 0:
			d.err = newError(http.StatusServiceUnavailable, "serviceNotAvailable", "The service is temporarily unavailable. Please retry later.")
			d.err.headers = map[string]string{"Retry-After": "1"}
		case 1:
			d.err = newError(http.StatusGatewayTimeout, "UnknownError", "The gateway timed out waiting for the directory.")
			d.err.headers = map[string]string{"Retry-After": "1"}
		default:
			d.err = newError(http.StatusInternalServerError, "UnknownError", "An internal server error occurred.")
		}
	case throttle < cfg.ThrottleRate:
		d.err = newError(http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.")
		d.err.headers = map[string]string{"Retry-After": "1"}
	case lost < cfg.LostRate && method != http.MethodGet && method != http.MethodHead:
		d.lost = true
	}
	if d.latency == 0 && !d.drop && d.err == nil && !d.lost {
		return nil
	}
	return d
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
