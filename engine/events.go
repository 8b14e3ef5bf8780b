package engine

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// Event types apply emits, in the order a run produces them.
const (
	EventRun      = "run"      // the run started or resumed, or waits for its snapshot file (Message says which)
	EventStage    = "stage"    // a stage started
	EventStep     = "step"     // a step reached a state: done, failed, skipped, sent again
	EventThrottle = "throttle" // requests were held back by Graph's throttling
	EventProgress = "progress" // counts, rate against the budget, ETA
	EventPaused   = "paused"
	EventResumed  = "resumed"
	EventFinished = "finished" // the run ended; Progress holds the totals
)

// Event is one thing that happened during apply; the console receives them as
// messages, `apply --json` prints one per line.
type Event struct {
	Type     string     `json:"type"`
	At       time.Time  `json:"at"`
	Stage    string     `json:"stage,omitempty"`
	Step     *StepEvent `json:"step,omitempty"`
	Progress *Progress  `json:"progress,omitempty"`
	Message  string     `json:"message,omitempty"`
	// WaitSeconds is how long throttling held requests back (throttle events).
	WaitSeconds float64 `json:"wait_s,omitempty"`
}

// StepEvent is a step's new state.
type StepEvent struct {
	ID          string   `json:"id"`
	Kind        string   `json:"kind"`
	ObjectID    string   `json:"object_id"`
	DisplayName string   `json:"display_name"`
	Action      string   `json:"action"`
	State       string   `json:"state"`
	NewID       string   `json:"new_id"`
	Note        string   `json:"note"`
	Error       string   `json:"error"`
	RequestIDs  []string `json:"request_ids"`
}

// MarshalJSON writes every key of a step event, empty ones included, so that
// 'lifeline apply --json' keeps one shape: request_ids is [] rather than null.
func (e StepEvent) MarshalJSON() ([]byte, error) {
	type plain StepEvent
	p := plain(e)
	if p.RequestIDs == nil {
		p.RequestIDs = []string{}
	}
	return json.Marshal(p)
}

// StageProgress counts one stage's steps by state.
type StageProgress struct {
	Name    string `json:"name"`
	Total   int    `json:"total"`
	Done    int    `json:"done"`
	Failed  int    `json:"failed"`
	Skipped int    `json:"skipped"`
}

// Progress is where a run stands: per stage, and the write rate against the budget.
type Progress struct {
	Stages  []StageProgress `json:"stages"`
	Total   int             `json:"total"`
	Done    int             `json:"done"`
	Failed  int             `json:"failed"`
	Skipped int             `json:"skipped"`
	// Writes is what this run has written; WritesPerSecond its rate since the run began;
	// BudgetWritesPerSecond the tenant's write budget at full pace, Pace the fraction in use.
	Writes                int64   `json:"writes"`
	WritesPerSecond       float64 `json:"writes_per_s"`
	BudgetWritesPerSecond float64 `json:"budget_writes_per_s"`
	Pace                  float64 `json:"pace"`
	Requests              int64   `json:"requests"`
	Throttled             int64   `json:"throttled"`
	Retries               int64   `json:"retries"`
	ElapsedSeconds        float64 `json:"elapsed_s"`
	// ETASeconds is the remaining writes at the paced budget (0 when unknown).
	ETASeconds float64 `json:"eta_s"`
}

// HasBudget reports whether the write budget is one to quote: a simulated tenant with
// throttling off has none, and the client's pacer then holds an effectively unlimited
// one.
func (p Progress) HasBudget() bool {
	return p.BudgetWritesPerSecond > 0 && p.BudgetWritesPerSecond < 1e6
}

// RateSettleSeconds is how long a run goes on before its write rate says anything: in
// the first moments a handful of writes in a few milliseconds reads as hundreds a
// second, far over the budget, as if the pacer were broken.
const RateSettleSeconds = 2

// RateKnown reports whether the run has gone on long enough (RateSettleSeconds) for
// WritesPerSecond to be worth showing.
func (p Progress) RateKnown() bool { return p.ElapsedSeconds >= RateSettleSeconds }

// Control lets the operator pause, resume and re-pace a running apply (the console's
// keys). It is safe for concurrent use; the zero value is not: use NewControl.
type Control struct {
	mu      sync.Mutex
	paused  bool
	resume  chan struct{}
	pace    float64
	setPace func(float64)
	changed bool
}

// NewControl returns a control for one apply, running and at the default pace.
func NewControl() *Control { return &Control{resume: make(chan struct{})} }

// Pause holds the run back before its next round of requests (those in flight finish).
func (c *Control) Pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.paused {
		c.paused, c.changed = true, true
	}
}

// Resume lets a paused run go on.
func (c *Control) Resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused {
		c.paused, c.changed = false, true
		close(c.resume)
		c.resume = make(chan struct{})
	}
}

// Paused reports whether the run is held.
func (c *Control) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}

// SetPace changes the fraction of the tenant's budget the run may use, from its next
// request on.
func (c *Control) SetPace(f float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pace = f
	if c.setPace != nil {
		c.setPace(f)
	}
}

// Pace returns the fraction last set (0 when never set).
func (c *Control) Pace() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pace
}

func (c *Control) attach(setPace func(float64)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setPace = setPace
	if c.pace > 0 {
		setPace(c.pace)
	}
}

// wait blocks while the run is paused; it reports whether the state changed since the
// last call, so the run can tell the operator.
func (c *Control) wait(ctx context.Context, emit func(string)) error {
	for {
		c.mu.Lock()
		paused, ch, changed := c.paused, c.resume, c.changed
		c.changed = false
		c.mu.Unlock()
		if changed {
			if paused {
				emit(EventPaused)
			} else {
				emit(EventResumed)
			}
		}
		if !paused {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
