package graphapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	// batchSize is Graph's limit of requests per $batch envelope.
	batchSize = 20
	// batchParallel is how many envelopes one Batch call keeps in flight; the pacer, not
	// this number, decides the rate.
	batchParallel = 4
	// batchRounds bounds how often throttled items are sent again, and batchMaxWait the
	// total time spent waiting for them (the SDK's retry handler gives up at 180 s too).
	batchRounds  = 8
	batchMaxWait = 180 * time.Second
	// batchBackoff is the first wait for throttled items without Retry-After; it doubles.
	batchBackoff = 2 * time.Second
)

// BatchResult is the outcome of one request of a Batch, in input order. Err is an *Error
// for Graph's refusals (including the 429 that remains once requeues ran out) and a
// sentence for requests that never got an answer.
type BatchResult struct {
	Response *Response
	Err      error
}

// Batch sends requests through $batch, up to 20 per envelope, and returns one result per
// request in input order. The SDK does not retry throttled items inside a batch
// (graph-spec §6), so Batch requeues items answered 429, 503 or 504 (and reads answered
// 500 or 502, but not a POST answered 504, which may have been applied) after the
// longest Retry-After among them (exponential backoff when none is given), for a
// bounded number of rounds. Items are independent (no dependsOn); each is charged to the pacer on its own.
// The error is non-nil only when ctx ended; items never answered then carry that error.
func (c *Client) Batch(ctx context.Context, reqs []Request) ([]BatchResult, error) {
	results := make([]BatchResult, len(reqs))
	var queue []*batchItem
	for i, r := range reqs {
		it, err := c.newBatchItem(i, r)
		if err != nil {
			results[i].Err = err
			continue
		}
		queue = append(queue, it)
	}
	waited := time.Duration(0)
	for round := 1; len(queue) > 0; round++ {
		again, wait := c.batchRound(ctx, queue, results)
		if err := ctx.Err(); err != nil {
			return results, c.batchStopped(results, queue, err)
		}
		if len(again) == 0 || round == batchRounds {
			break
		}
		if wait <= 0 {
			wait = batchBackoff * time.Duration(1<<(round-1))
		}
		if waited+wait > batchMaxWait {
			break
		}
		waited += wait
		c.retries.Add(int64(len(again)))
		if err := c.sleep(ctx, wait); err != nil {
			return results, c.batchStopped(results, again, err)
		}
		queue = again
	}
	return results, nil
}

// batchStopped marks the items still pending when the caller gave up.
func (c *Client) batchStopped(results []BatchResult, pending []*batchItem, err error) error {
	for _, it := range pending {
		if results[it.index].Response == nil || results[it.index].Err != nil {
			results[it.index] = BatchResult{Err: &requestFailure{method: it.Method, path: it.display, host: c.ep.host, err: err}}
		}
	}
	return &requestFailure{method: http.MethodPost, path: "/$batch", host: c.ep.host, err: err}
}

// batchItem is one request as the envelope carries it (graph-spec §6).
type batchItem struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`

	index   int
	beta    bool
	cost    cost
	display string
}

func (c *Client) newBatchItem(i int, r Request) (*batchItem, error) {
	method := strings.ToUpper(r.Method)
	if method == "" {
		method = http.MethodGet
	}
	u, err := c.ep.resolve(r.Path, r.Beta)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v.", method, r.Path, err)
	}
	rel, ok := c.ep.versionRelative(u)
	if !ok {
		return nil, fmt.Errorf("%s %s: only Graph requests can go in a batch.", method, r.Path)
	}
	beta := r.Beta || strings.HasPrefix(u.Path, c.ep.prefix+"/beta/")
	it := &batchItem{
		ID:      newUUID(),
		Method:  method,
		URL:     "/" + rel,
		index:   i,
		beta:    beta,
		cost:    requestCost(method, rel, u.RawQuery),
		display: c.ep.display(u),
	}
	if u.RawQuery != "" {
		it.URL += "?" + u.RawQuery
	}
	if len(r.Headers) > 0 {
		it.Headers = make(map[string]string, len(r.Headers))
		for k, v := range r.Headers {
			it.Headers[k] = v
		}
	}
	if r.Body != nil {
		if !json.Valid(r.Body) {
			return nil, fmt.Errorf("%s %s: the request body is not valid JSON; nothing was sent.", method, it.display)
		}
		it.Body = r.Body
		if it.Headers == nil {
			it.Headers = map[string]string{}
		}
		if !hasHeader(it.Headers, "Content-Type") {
			it.Headers["Content-Type"] = "application/json"
		}
	}
	return it, nil
}

func hasHeader(h map[string]string, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// batchRound sends the queue in envelopes of up to 20 (v1.0 and beta apart, since an
// envelope belongs to one version; Conditional Access items alone) and returns the items to send again with the longest
// Retry-After among them.
func (c *Client) batchRound(ctx context.Context, queue []*batchItem, results []BatchResult) ([]*batchItem, time.Duration) {
	var chunks [][]*batchItem
	for _, beta := range []bool{false, true} {
		var cur []*batchItem
		for _, it := range queue {
			if it.beta != beta {
				continue
			}
			// Graph allows one Conditional Access request per second per tenant and
			// counts batch items one by one: each goes in an envelope of its own, so the
			// pacer spaces them instead of sending a burst Graph would refuse.
			if it.cost.ca > 0 {
				chunks = append(chunks, []*batchItem{it})
				continue
			}
			cur = append(cur, it)
			if len(cur) == batchSize {
				chunks = append(chunks, cur)
				cur = nil
			}
		}
		if len(cur) > 0 {
			chunks = append(chunks, cur)
		}
	}
	var (
		mu    sync.Mutex
		again []*batchItem
		wait  time.Duration
		wg    sync.WaitGroup
		sem   = make(chan struct{}, batchParallel)
	)
	for _, chunk := range chunks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			retry, w := c.sendEnvelope(ctx, chunk, results)
			mu.Lock()
			again = append(again, retry...)
			wait = max(wait, w)
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Keep the requeue in input order so envelopes stay predictable.
	sortByIndex(again)
	return again, wait
}

func sortByIndex(items []*batchItem) {
	for i := 1; i < len(items); i++ {
		for j := i; j > 0 && items[j].index < items[j-1].index; j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}
}

// batchAnswer is one item of a $batch response.
type batchAnswer struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// sendEnvelope posts one envelope and files each item's outcome into results; throttled
// items come back for another round.
func (c *Client) sendEnvelope(ctx context.Context, chunk []*batchItem, results []BatchResult) ([]*batchItem, time.Duration) {
	beta := chunk[0].beta
	u, _ := url.Parse(c.ep.base(beta) + "/$batch")
	body, err := json.Marshal(struct {
		Requests []*batchItem `json:"requests"`
	}{chunk})
	if err != nil {
		c.failAll(chunk, results, fmt.Errorf("POST /$batch: the batch could not be encoded (%v); nothing was sent.", err))
		return nil, 0
	}
	var total cost
	for _, it := range chunk {
		total = total.add(it.cost)
	}
	// The pacer charges the envelope by its items, on every attempt the SDK makes.
	ectx := withMeta(ctx, requestMeta{cost: total, costSet: true, batchItems: len(chunk), readsOnly: chunkReadsOnly(chunk), creates: chunkCreates(chunk)})
	raw, err := c.exchange(ectx, http.MethodPost, u, body, nil)
	if err != nil {
		c.failAll(chunk, results, err)
		return nil, 0
	}
	display := c.ep.display(u)
	if raw.status < 200 || raw.status > 299 {
		c.failAll(chunk, results, newStatusError(http.MethodPost, display, raw.status, raw.header, raw.body, c.now()))
		return nil, 0
	}
	var resp struct {
		Responses *[]batchAnswer `json:"responses"`
	}
	if err := json.Unmarshal(raw.body, &resp); err != nil || resp.Responses == nil {
		what := "with JSON that is not a batch response (no \"responses\" array)"
		if err != nil {
			what = jsonProblem(raw.body, err)
		}
		c.failAll(chunk, results, newBodyError(http.MethodPost, display, raw.status, raw.header, what))
		return nil, 0
	}
	byID := make(map[string]*batchAnswer, len(*resp.Responses))
	for i := range *resp.Responses {
		a := &(*resp.Responses)[i]
		byID[strings.ToLower(a.ID)] = a
	}
	envelopeID := requestID(raw.header)
	var again []*batchItem
	var wait time.Duration
	for _, it := range chunk {
		a, ok := byID[strings.ToLower(it.ID)]
		if !ok {
			results[it.index] = BatchResult{Err: newBodyError(it.Method, it.display, raw.status, raw.header,
				"in a batch response that left this request out")}
			continue
		}
		res := c.itemResult(it, a, envelopeID)
		results[it.index] = res
		// A POST answered 504 may have been applied: it goes back to the caller (apply
		// looks its object up before sending it again), not round again.
		resend := retriableStatus(a.Status) && !(a.Status == http.StatusGatewayTimeout && it.Method == http.MethodPost)
		if resend || (it.Method == http.MethodGet && serverFault(a.Status)) {
			if a.Status == http.StatusTooManyRequests {
				c.throttled.Add(1)
			}
			again = append(again, it)
			if e, ok := res.Err.(*Error); ok {
				wait = max(wait, e.RetryAfter)
			}
		}
	}
	return again, wait
}

func (c *Client) itemResult(it *batchItem, a *batchAnswer, envelopeID string) BatchResult {
	h := make(http.Header, len(a.Headers))
	for k, v := range a.Headers {
		h.Set(k, v)
	}
	body := a.Body
	if s := strings.TrimSpace(string(body)); s == "" || s == "null" {
		body = nil
	}
	resp := &Response{Status: a.Status, Body: body, Header: h, RequestID: requestID(h)}
	if resp.RequestID == "" {
		resp.RequestID = envelopeID
	}
	if a.Status < 200 || a.Status > 299 {
		e := newStatusError(it.Method, it.display, a.Status, h, body, c.now())
		if e.RequestID == "" {
			e.RequestID = resp.RequestID
		}
		return BatchResult{Response: resp, Err: e}
	}
	return BatchResult{Response: resp}
}

func (c *Client) failAll(chunk []*batchItem, results []BatchResult, err error) {
	for _, it := range chunk {
		results[it.index] = BatchResult{Err: err}
	}
}

// newUUID is a random (version 4) UUID, the id shape the Graph SDKs give batch items.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// chunkReadsOnly reports whether every request of an envelope is a GET: such an
// envelope changes nothing, so one whose answer was lost is sent again, as a GET is,
// rather than failing a capture on one dropped connection.
// chunkCreates reports whether an envelope holds a POST item (see createsOnResend).
func chunkCreates(chunk []*batchItem) bool {
	for _, it := range chunk {
		if it.Method == http.MethodPost {
			return true
		}
	}
	return false
}

func chunkReadsOnly(chunk []*batchItem) bool {
	for _, it := range chunk {
		if it.Method != http.MethodGet {
			return false
		}
	}
	return true
}
