package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// The injector's plumbing: reading the live tenant, sending the attacker's writes, the
// sim's clock, and seeded choices.

// injector is one incident being injected.
type injector struct {
	op, at *graphapi.Client
	id     SimIdentity
	seed   int64
	rep    *IncidentReport

	// spID is the attacker app's service principal.
	spID string
	// created holds the users the attacker created; backdoor is its admin account.
	created  map[string]bool
	backdoor string
	// binned remembers what went to a recycle bin, by id, with its kind (slow-burn
	// checks that the tenant purged it all).
	binned map[string]string
	// bg are the break-glass accounts seen excluded from Conditional Access.
	bg map[string]bool
}

// drillObj is one object as Graph's JSON.
type drillObj = map[string]any

func dstr(o drillObj, path ...string) string {
	var v any = o
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func dstrList(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func dchild(o drillObj, path ...string) drillObj {
	var v any = o
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	m, _ := v.(map[string]any)
	return m
}

// drillShare is a part of a set: frac of it, rounded up, at least min, at most all of it.
type drillShare struct {
	frac float64
	min  int
}

func (s drillShare) of(n int) int {
	k := int(math.Ceil(s.frac*float64(n) - 1e-9))
	return max(0, min(n, max(k, s.min)))
}

// rng is the seeded random stream of one step: the same seed and label always draw the
// same choices from the same objects.
func (in *injector) rng(label string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(label))
	return rand.New(rand.NewPCG(uint64(in.seed), h.Sum64()))
}

// pick draws k of ids (sorted first, so the draw depends on the seed and the set only)
// and returns them in the order drawn.
func drillPick(r *rand.Rand, ids []string, k int) []string {
	c := append([]string(nil), ids...)
	sort.Strings(c)
	r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	return c[:min(k, len(c))]
}

func drillKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// drillPick2 is one when n is 1, many otherwise.
func drillPick2(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// drillPart is "n things", or "" when n is 0.
func drillPart(n int, one, many string) string {
	if n == 0 {
		return ""
	}
	return drillPlural(n, one, many)
}

// drillList joins the non-empty parts: "a", "a and b", "a, b and c".
func drillList(parts ...string) string {
	var p []string
	for _, s := range parts {
		if s != "" {
			p = append(p, s)
		}
	}
	switch len(p) {
	case 0:
		return ""
	case 1:
		return p[0]
	}
	return strings.Join(p[:len(p)-1], ", ") + " and " + p[len(p)-1]
}

func drillPlural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// list reads a whole collection through the attacker, objects sorted by id.
func (in *injector) list(ctx context.Context, path string, sel []string, beta bool) ([]drillObj, error) {
	var out []drillObj
	_, err := in.at.List(ctx, path, graphapi.ListOptions{Select: sel, Top: 999, Beta: beta}, func(p graphapi.Page) error {
		for _, raw := range p.Items {
			var o drillObj
			if err := json.Unmarshal(raw, &o); err != nil {
				return fmt.Errorf("GET %s: Graph returned an item that is not a JSON object", path)
			}
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("while reading %s: %w", path, err)
	}
	sort.Slice(out, func(i, j int) bool { return dstr(out[i], "id") < dstr(out[j], "id") })
	return out, nil
}

// batchList reads many small collections (owners of each group, ...) through $batch,
// following nextLinks, and returns each one's items in paths' order.
func (in *injector) batchList(ctx context.Context, paths []string) ([][]drillObj, error) {
	reqs := make([]graphapi.Request, len(paths))
	for i, p := range paths {
		reqs[i] = graphapi.Request{Method: http.MethodGet, Path: p}
	}
	res, err := in.at.Batch(ctx, reqs)
	if err != nil {
		return nil, err
	}
	out := make([][]drillObj, len(paths))
	for i, r := range res {
		if r.Err != nil {
			return nil, fmt.Errorf("while reading %s: %w", paths[i], r.Err)
		}
		var page struct {
			Value    []drillObj `json:"value"`
			NextLink string     `json:"@odata.nextLink"`
		}
		if r.Response == nil || json.Unmarshal(r.Response.Body, &page) != nil {
			return nil, fmt.Errorf("while reading %s: Graph answered with something that is not a collection", paths[i])
		}
		out[i] = page.Value
		if page.NextLink != "" {
			_, err := in.at.ListURL(ctx, page.NextLink, nil, func(p graphapi.Page) error {
				for _, raw := range p.Items {
					var o drillObj
					if json.Unmarshal(raw, &o) == nil {
						out[i] = append(out[i], o)
					}
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("while reading %s: %w", paths[i], err)
			}
		}
	}
	return out, nil
}

// send makes the attacker's writes and reports which succeeded. Directory writes go
// through $batch (20 per envelope, throttled items requeued by the client); Conditional
// Access writes one at a time, since Graph allows one such request per second per tenant
// and a batch of them would only earn 429s. Any failure is an error naming the first.
func (in *injector) send(ctx context.Context, doing string, reqs []graphapi.Request, ca bool) ([]bool, error) {
	ok := make([]bool, len(reqs))
	if len(reqs) == 0 {
		return ok, nil
	}
	if ca {
		for i, r := range reqs {
			if _, err := in.at.Do(ctx, r); err != nil {
				return ok, drillSeqFailure(doing, i, len(reqs), err)
			}
			ok[i] = true
		}
		return ok, nil
	}
	res, err := in.at.Batch(ctx, reqs)
	failed, first := 0, -1
	for i, r := range res {
		if r.Err != nil || r.Response == nil {
			failed++
			if first < 0 {
				first = i
			}
			continue
		}
		ok[i] = true
	}
	switch {
	case err != nil:
		// The context ended: what was answered counts, the rest did not happen.
		return ok, err
	case failed > 0:
		ferr := res[first].Err
		if ferr == nil {
			ferr = errors.New(reqs[first].Method + " " + reqs[first].Path + " got no answer")
		}
		return ok, drillBatchFailure(doing, failed, len(reqs), ferr)
	}
	return ok, nil
}

// drillSeqFailure describes writes made one after the other that stopped at the first
// failure; drillBatchFailure writes sent together, some of which failed.
func drillSeqFailure(doing string, done, total int, err error) error {
	msg := strings.TrimRight(err.Error(), ". ")
	if total == 1 {
		return fmt.Errorf("while %s: %s", doing, msg)
	}
	return fmt.Errorf("while %s: %d of %d writes succeeded, then %s", doing, done, total, msg)
}

func drillBatchFailure(doing string, failed, total int, err error) error {
	return fmt.Errorf("while %s: %d of %d writes failed, the first with %s", doing, failed, total, strings.TrimRight(err.Error(), ". "))
}

// drillOK returns ids[i] for every successful write.
func drillOK(ids []string, ok []bool) []string {
	var out []string
	for i, id := range ids {
		if ok[i] {
			out = append(out, id)
		}
	}
	return out
}

func drillBody(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("engine: drill request body: " + err.Error())
	}
	return b
}

// refBody is a $ref body naming a directory object.
func (in *injector) refBody(id string) json.RawMessage {
	return drillBody(map[string]string{"@odata.id": in.at.GraphURL() + "/directoryObjects/" + id})
}

// whoAmI finds the attacker app's display name and service principal.
func (in *injector) whoAmI(ctx context.Context) error {
	in.rep.Actor, in.rep.ActorAppID = graphapi.AttackerClientID, graphapi.AttackerClientID
	sps, err := in.list(ctx, "/servicePrincipals?$filter=appId eq '"+graphapi.AttackerClientID+"'", []string{"id", "appId", "displayName"}, false)
	if err != nil {
		return fmt.Errorf("could not read the attacker app's service principal %s", strings.TrimRight(err.Error(), ". "))
	}
	for _, sp := range sps {
		if strings.EqualFold(dstr(sp, "appId"), graphapi.AttackerClientID) {
			in.spID = dstr(sp, "id")
			if n := dstr(sp, "displayName"); n != "" {
				in.rep.Actor = n
			}
		}
	}
	return nil
}

// clock reads the sim's clock.
func (in *injector) clock(ctx context.Context) (time.Time, error) {
	id, err := CheckSimulated(ctx, in.op)
	return id.Clock, err
}

// advance moves the sim's clock forward through the operator's control surface.
func (in *injector) advance(ctx context.Context, d time.Duration, summary string) error {
	resp, err := in.op.Raw(ctx, http.MethodPost, "/_sim/clock", map[string]string{"advance": d.String()})
	if err != nil {
		return fmt.Errorf("while advancing the sim's clock by %s: %s", d, strings.TrimRight(err.Error(), ". "))
	}
	var out struct {
		Clock time.Time `json:"clock"`
	}
	if json.Unmarshal(resp.Body, &out) != nil {
		return errors.New("while advancing the sim's clock: /_sim/clock did not answer with the new clock")
	}
	in.rep.record(IncidentAction{Action: "advance-clock", Kind: "clock", Count: int(d / time.Hour), IDs: []string{},
		Summary: fmt.Sprintf("Advanced the sim's clock by %s to %s%s.", drillHours(d), out.Clock.UTC().Format("2006-01-02 15:04Z"), summary)})
	return nil
}

func drillHours(d time.Duration) string {
	h := int(d / time.Hour)
	if h%24 == 0 {
		return drillPlural(h/24, "day", "days")
	}
	if h > 24 {
		return fmt.Sprintf("%dd%dh", h/24, h%24)
	}
	return drillPlural(h, "hour", "hours")
}

func (in *injector) markBinned(kind string, ids []string) {
	if in.binned == nil {
		in.binned = map[string]string{}
	}
	for _, id := range ids {
		in.binned[id] = kind
	}
}

func (in *injector) forgetBinned(ids []string) {
	for _, id := range ids {
		delete(in.binned, id)
	}
}
