package sim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// JSON batching (graph-spec §6): up to 20 requests in one envelope, each dispatched
// through the same handlers, throttled on its own, sequenced by dependsOn.

// maxBatchItems is Graph's limit of requests per $batch.
const maxBatchItems = 20

type batchItem struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

// serveBatch handles POST /$batch.
func (s *Sim) serveBatch(w http.ResponseWriter, r *http.Request, version, root string, claims *tokenClaims, requestID, clientRequestID string) {
	now := s.Now()
	fail := func(e *apiError) {
		errorResult(e, requestID, clientRequestID, now).write(w, requestID, clientRequestID)
	}
	if r.Method != http.MethodPost {
		fail(methodNotAllowed())
		return
	}
	if f := s.faults.decide(r.Method, false); f != nil {
		if f.latency > 0 {
			time.Sleep(f.latency)
		}
		if f.drop {
			dropConnection(w)
			return
		}
		if f.err != nil {
			fail(f.err)
			return
		}
	}
	body, berr := readBody(r)
	if berr != nil {
		fail(berr)
		return
	}
	items, aerr := parseBatch(body)
	if aerr != nil {
		fail(aerr)
		return
	}
	order, aerr := batchOrder(items)
	if aerr != nil {
		fail(aerr)
		return
	}
	status := map[string]int{}
	responses := make([]json.RawMessage, 0, len(items))
	for _, i := range order {
		it := items[i]
		res := s.batchItem(it, version, root, claims, status)
		status[strings.ToLower(it.ID)] = res.status
		responses = append(responses, encodeBatchResponse(it.ID, res))
		res.release() // copied into the envelope
	}
	jsonResult(http.StatusOK, batchEnvelope(responses)).write(w, requestID, clientRequestID)
	s.log.Debug("graph batch", "items", len(items), "app", claims.AppID)
}

// parseBatch reads and checks an envelope; a bad one fails as a whole with 400.
func parseBatch(body []byte) ([]batchItem, *apiError) {
	var env struct {
		Requests *[]batchItem `json:"requests"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil || env.Requests == nil {
		return nil, badRequest("Invalid batch payload format: the body must be {\"requests\": [...]}.")
	}
	items := *env.Requests
	if len(items) == 0 {
		return nil, badRequest("Invalid batch payload format: the batch contains no requests.")
	}
	if len(items) > maxBatchItems {
		return nil, badRequest("Number of batch request steps exceeds the maximum of %d.", maxBatchItems)
	}
	seen := map[string]bool{}
	for _, it := range items {
		id := strings.ToLower(it.ID)
		if it.ID == "" || it.Method == "" || it.URL == "" {
			return nil, badRequest("Invalid batch payload format: every request needs an id, a method and a url.")
		}
		if seen[id] {
			return nil, badRequest("Batch request contains duplicate Id '%s'.", it.ID)
		}
		seen[id] = true
		if strings.HasPrefix(it.URL, "http://") || strings.HasPrefix(it.URL, "https://") {
			return nil, badRequest("Invalid batch payload format: the url '%s' must be relative to the version root.", it.URL)
		}
	}
	for _, it := range items {
		for _, d := range it.DependsOn {
			if !seen[strings.ToLower(d)] || strings.EqualFold(d, it.ID) {
				return nil, badRequest("Invalid batch payload format: request '%s' depends on unknown request '%s'.", it.ID, d)
			}
		}
	}
	return items, nil
}

// batchOrder sequences items so that every item runs after what it depends on.
func batchOrder(items []batchItem) ([]int, *apiError) {
	index := map[string]int{}
	for i, it := range items {
		index[strings.ToLower(it.ID)] = i
	}
	state := make([]int, len(items)) // 0 new, 1 visiting, 2 done
	var order []int
	var visit func(i int) bool
	visit = func(i int) bool {
		switch state[i] {
		case 1:
			return false
		case 2:
			return true
		}
		state[i] = 1
		for _, d := range items[i].DependsOn {
			if !visit(index[strings.ToLower(d)]) {
				return false
			}
		}
		state[i] = 2
		order = append(order, i)
		return true
	}
	for i := range items {
		if !visit(i) {
			return nil, badRequest("Invalid batch payload format: dependsOn forms a cycle.")
		}
	}
	return order, nil
}

// batchItem runs one item through faults, throttling and the handlers.
func (s *Sim) batchItem(it batchItem, version, root string, claims *tokenClaims, status map[string]int) *result {
	now := s.Now()
	requestID := newGUID()
	header := http.Header{}
	for k, v := range it.Headers {
		header.Set(k, v)
	}
	clientRequestID := header.Get("client-request-id")
	if clientRequestID == "" {
		clientRequestID = requestID
	}
	for _, d := range it.DependsOn {
		if st := status[strings.ToLower(d)]; st >= 400 {
			e := newError(http.StatusFailedDependency, "FailedDependency", "The request '%s' this request depends on failed with status %d.", d, st)
			return errorResult(e, requestID, clientRequestID, now)
		}
	}
	method := strings.ToUpper(it.Method)
	u, err := url.Parse("/" + strings.TrimPrefix(it.URL, "/"))
	if err != nil {
		return errorResult(badRequest("Invalid request url '%s'.", it.URL), requestID, clientRequestID, now)
	}
	if u.Path == "/$batch" {
		return errorResult(badRequest("A $batch request cannot contain another $batch request."), requestID, clientRequestID, now)
	}
	var body []byte
	if raw := bytes.TrimSpace(it.Body); len(raw) > 0 && string(raw) != "null" {
		if raw[0] == '"' {
			var str string
			_ = json.Unmarshal(raw, &str)
			body = []byte(str)
		} else {
			body = raw
		}
	}
	f := s.faults.decide(method, true)
	if f != nil {
		if f.latency > 0 {
			time.Sleep(f.latency)
		}
		if f.err != nil {
			return errorResult(f.err, requestID, clientRequestID, now)
		}
	}
	c := &call{
		s: s, header: header, method: method, version: version, root: root, path: u.Path,
		query: u.Query(), body: body, tok: claims, now: now,
		requestID: requestID, clientRequestID: clientRequestID,
	}
	res := s.admitAndDispatch(c)
	if f != nil && f.lost && res.status < 300 {
		res.release()
		res = errorResult(gatewayTimeout(), requestID, clientRequestID, now)
	}
	if res.headers == nil {
		res.headers = map[string]string{}
	}
	res.headers["request-id"] = requestID
	res.headers["client-request-id"] = clientRequestID
	return res
}

// batchEnvelope is {"responses":[...]} around items json.Marshal wrote: the bytes
// mustJSON would write, without validating every item a second time.
func batchEnvelope(responses []json.RawMessage) []byte {
	n := len(`{"responses":[]}`)
	for _, r := range responses {
		n += len(r) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, `{"responses":[`...)
	for i, r := range responses {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, r...)
	}
	return append(out, "]}"...)
}

// encodeBatchResponse writes one item of the envelope's "responses".
func encodeBatchResponse(id string, res *result) json.RawMessage {
	headers := map[string]string{"Cache-Control": "no-cache", "OData-Version": "4.0"}
	for k, v := range res.headers {
		headers[k] = v
	}
	if res.contentType != "" {
		headers["Content-Type"] = res.contentType
	}
	item := map[string]any{"id": id, "status": res.status, "headers": headers}
	if res.status != http.StatusNoContent && len(res.body) > 0 {
		if json.Valid(res.body) && strings.Contains(res.contentType, "json") {
			item["body"] = json.RawMessage(res.body)
		} else {
			item["body"] = string(res.body)
		}
	}
	b, _ := json.Marshal(item)
	return b
}
