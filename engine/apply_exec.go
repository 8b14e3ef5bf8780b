package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// placeholderRE matches the ledger placeholders a plan writes for recreated objects.
var placeholderRE = regexp.MustCompile(`\{\{(id|appId):([^}]+)\}\}`)

// resolve turns a step's next request into the one to send: placeholders replaced from
// the ledger, ids of objects recreated by earlier runs translated, and a generated
// password put in (and written to the operator's file) where the plan asks for one.
func (a *applier) resolve(sr *stepRun) (graphapi.Request, error) {
	req, err := a.substitute(sr)
	if err != nil {
		return req, err
	}
	if req.Body != nil && bytes.Contains(req.Body, []byte(GeneratedPassword)) {
		var body map[string]any
		if err := json.Unmarshal(req.Body, &body); err != nil {
			return req, fmt.Errorf("%s: the plan's request body is not valid JSON", describe(sr.step))
		}
		pw, err := generatePassword()
		if err != nil {
			return req, err
		}
		upn, _ := body["userPrincipalName"].(string)
		if err := a.writePassword(sr.step, upn, pw); err != nil {
			return req, err
		}
		quoted, _ := json.Marshal(pw)
		req.Body = bytes.ReplaceAll(req.Body, []byte(`"`+GeneratedPassword+`"`), quoted)
	}
	return req, nil
}

// substitute resolves placeholders and ledger translations, without passwords.
func (a *applier) substitute(sr *stepRun) (graphapi.Request, error) {
	r := sr.step.Requests[sr.res.Next]
	missing := ""
	sub := func(s string) string {
		if !strings.Contains(s, "{{") {
			return s
		}
		return placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
			parts := placeholderRE.FindStringSubmatch(m)
			var v string
			var ok bool
			if parts[1] == "id" {
				v, ok = a.ledger.IDs[parts[2]]
			} else {
				v, ok = a.ledger.AppIDs[parts[2]]
			}
			if !ok {
				missing = parts[2]
				return m
			}
			return v
		})
	}
	req := graphapi.Request{Method: r.Method, Path: sub(r.Path), Beta: r.Beta}
	if r.Body != nil {
		req.Body = json.RawMessage(sub(string(r.Body)))
	}
	if missing != "" {
		return req, fmt.Errorf("%s needs the new id of %s, which no step has recorded; build a new plan", describe(sr.step), missing)
	}
	if len(a.ledger.IDs) > 0 {
		req.Path = a.translatePath(req.Path)
		if req.Body != nil {
			req.Body = a.translateBody(entra.Kind(sr.step.Kind), req.Body)
		}
	}
	return req, nil
}

// translatePath replaces path segments that are old ids of objects recreated by an
// earlier run: a plan built before that run still names them by their old ids.
func (a *applier) translatePath(p string) string {
	segs := strings.Split(p, "/")
	changed := false
	for i, s := range segs {
		if n, ok := a.ledger.IDs[s]; ok {
			segs[i], changed = n, true
		}
	}
	if !changed {
		return p
	}
	return strings.Join(segs, "/")
}

// translateBody applies the ledger to a request body's references.
func (a *applier) translateBody(kind entra.Kind, body json.RawMessage) json.RawMessage {
	var obj map[string]any
	if json.Unmarshal(body, &obj) != nil {
		return body
	}
	n := graphx.Rewrite(kind, obj, a.ledger)
	if ref, ok := obj["@odata.id"].(string); ok {
		if i := strings.LastIndex(ref, "/"); i >= 0 {
			if nid, ok := a.ledger.IDs[ref[i+1:]]; ok {
				obj["@odata.id"] = ref[:i+1] + nid
				n++
			}
		}
	}
	if n == 0 {
		return body
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return body
	}
	return out
}

// passwordAlphabet leaves out look-alike characters: the password is read off a file
// and typed by a person.
const passwordAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%+-=?@"

// generatePassword returns a 20-character password from crypto/rand with an upper-case
// letter, a lower-case letter, a digit and a symbol (Entra's complexity rule).
func generatePassword() (string, error) {
	for {
		b := make([]byte, 20)
		for i := range b {
			n, err := rand.Int(rand.Reader, big.NewInt(int64(len(passwordAlphabet))))
			if err != nil {
				return "", fmt.Errorf("generating a password: %w", err)
			}
			b[i] = passwordAlphabet[n.Int64()]
		}
		s := string(b)
		if strings.ContainsAny(s, "ABCDEFGHJKLMNPQRSTUVWXYZ") && strings.ContainsAny(s, "abcdefghijkmnopqrstuvwxyz") &&
			strings.ContainsAny(s, "23456789") && strings.ContainsAny(s, "!#%+-=?@") {
			return s, nil
		}
	}
}

// naturalKeys are the properties a create is found by when its answer was lost. An
// application's appId is new on recreate, so its display name stands in.
func naturalKeys(kind entra.Kind) []string {
	if kind == entra.KindApplication {
		return []string{"displayName"}
	}
	spec, ok := entra.Lookup(kind)
	if !ok {
		return nil
	}
	return spec.NaturalKeys
}

// naturalKeyMatch is a live object a create's natural key finds.
type naturalKeyMatch struct{ ID, AppID string }

// naturalKeyMatches looks up the live objects with the natural key of the create sr
// would send (userPrincipalName, mailNickname, display name, appId...), leaving out
// those the ledger says other steps made: the copy an earlier restore made of this
// step's own object is this step's. looked is false when the create has no natural key
// to look for (or its request cannot be resolved yet); err is the lookup's.
func (a *applier) naturalKeyMatches(ctx context.Context, sr *stepRun) (matches []naturalKeyMatch, looked bool, err error) {
	look, ok, err := a.naturalKeyLookup(sr)
	if err != nil || !ok {
		return nil, false, err
	}
	_, err = a.opts.Client.List(ctx, look.path, graphapi.ListOptions{Filter: look.filter, Select: look.sel, Beta: look.beta}, func(p graphapi.Page) error {
		for _, it := range p.Items {
			var f naturalKeyMatch
			if json.Unmarshal(it, &f) == nil && f.ID != "" && !a.ownedElsewhere(sr, f.ID) {
				matches = append(matches, f)
			}
		}
		return nil
	})
	return matches, true, err
}

// naturalKeyQuery is the read that finds the live objects with a create's natural key.
type naturalKeyQuery struct {
	path, filter string
	sel          []string
	beta         bool
}

// request is the query as one GET, for a $batch.
func (q naturalKeyQuery) request() graphapi.Request {
	esc := func(v string) string { return strings.ReplaceAll(url.QueryEscape(v), "+", "%20") }
	return graphapi.Request{Path: q.path + "?$select=" + esc(strings.Join(q.sel, ",")) + "&$filter=" + esc(q.filter), Beta: q.beta}
}

// naturalKeyLookup builds the query for the natural key of the create sr would send;
// ok is false when it has none (or its request cannot be resolved yet).
func (a *applier) naturalKeyLookup(sr *stepRun) (naturalKeyQuery, bool, error) {
	req, err := a.substitute(sr)
	if err != nil {
		return naturalKeyQuery{}, false, err
	}
	kind := entra.Kind(sr.step.Kind)
	var body map[string]any
	if req.Body == nil || json.Unmarshal(req.Body, &body) != nil {
		return naturalKeyQuery{}, false, nil
	}
	var clauses []string
	for _, k := range naturalKeys(kind) {
		v, ok := body[k].(string)
		if !ok || v == "" {
			continue
		}
		clauses = append(clauses, fmt.Sprintf("%s eq '%s'", k, strings.ReplaceAll(v, "'", "''")))
	}
	if len(clauses) == 0 {
		return naturalKeyQuery{}, false, nil
	}
	sel := []string{"id"}
	if kind == entra.KindApplication || kind == entra.KindServicePrincipal {
		sel = append(sel, "appId")
	}
	return naturalKeyQuery{path: req.Path, filter: strings.Join(clauses, " and "), sel: sel, beta: req.Beta}, true, nil
}

// ownedElsewhere reports whether the ledger says another step's object is live as id:
// the copy an earlier restore made of this step's own object is this step's. It counts
// (copies) rather than walks the ledger, which spans every restore of the tenant and is
// asked about every create of a mass recreate.
func (a *applier) ownedElsewhere(sr *stepRun, id string) bool {
	n := a.copies[id]
	if own, ok := a.ledger.IDs[sr.step.ObjectID]; ok && own == id {
		n--
	}
	return n > 0
}

// lookAlikes reads, before a create goes out for the first time, the live objects that
// already share its natural key (an application's display name, a group's name and
// mailNickname), and keeps their ids in the step's journaled result. If the create's
// answer is then lost (a 504, a dropped connection, a crash), reconcile adopts only an
// object made since: never the attacker's look-alike, or a second legitimate object of
// the same name, which it would otherwise take for the restored one. Kinds Graph keeps
// unique by their key, and assignments (whose key is all of them), need no look. A
// step whose lookup fails is failed and not sent; a tenant that stops answering stops
// the run.
func (a *applier) lookAlikes(ctx context.Context, sending []*stepRun, reqs []graphapi.Request) ([]*stepRun, []graphapi.Request, error) {
	var look []*stepRun
	for _, sr := range sending {
		kind := entra.Kind(sr.step.Kind)
		if sr.step.Action == ActionRecreate && sr.res.Next == 0 && !sr.res.LookedUp && !sr.uncertain && lookAlikeKind(kind) {
			look = append(look, sr)
		}
	}
	if len(look) == 0 {
		return sending, reqs, nil
	}
	type found struct {
		ids    []string
		looked bool
		err    error
	}
	// One $batch for the round's lookups: a mass recreate of groups would otherwise
	// wait a read per group between its rounds of writes.
	out := make([]found, len(look))
	var queries []graphapi.Request
	var asked []int
	for i, sr := range look {
		q, ok, err := a.naturalKeyLookup(sr)
		if err != nil || !ok {
			out[i].err = err
			continue
		}
		out[i].looked = true
		queries, asked = append(queries, q.request()), append(asked, i)
	}
	results, err := a.opts.Client.Batch(ctx, queries)
	if err != nil {
		return nil, nil, err
	}
	for j, res := range results {
		i := asked[j]
		if res.Err != nil {
			out[i].err = res.Err
			continue
		}
		var page struct {
			Value []naturalKeyMatch `json:"value"`
		}
		if err := json.Unmarshal(res.Response.Body, &page); err != nil {
			out[i].err = fmt.Errorf("the lookup's answer is not a page of objects: %w", err)
			continue
		}
		for _, m := range page.Value {
			if m.ID != "" && !a.ownedElsewhere(look[i], m.ID) {
				out[i].ids = append(out[i].ids, m.ID)
			}
		}
	}
	failed := map[*stepRun]bool{}
	for i, sr := range look {
		f := out[i]
		switch {
		case f.err != nil && ctx.Err() != nil:
			return nil, nil, ctx.Err()
		case f.err != nil && graphapi.IsUnanswered(f.err):
			return nil, nil, stoppedAnswering(f.err)
		case f.err != nil:
			sr.attempt--
			sr.state, sr.res.Error = snapshots.StepFailed, fmt.Sprintf("%s: lifeline could not read what already has its name (%v), so it did not send it; run apply again", describe(sr.step), f.err)
			failed[sr] = true
		default:
			sr.res.LookedUp, sr.res.Preexisting = f.looked, f.ids
		}
	}
	if len(failed) == 0 {
		return sending, reqs, nil
	}
	var keep []*stepRun
	var keepReqs []graphapi.Request
	var done []*stepRun
	for i, sr := range sending {
		if failed[sr] {
			done = append(done, sr)
			continue
		}
		keep, keepReqs = append(keep, sr), append(keepReqs, reqs[i])
	}
	if err := a.journal(ctx, done, nil); err != nil {
		return nil, nil, err
	}
	for _, sr := range done {
		a.emitStep(sr)
	}
	return keep, keepReqs, nil
}

// lookAlikeKind reports whether another object may share kind's natural key: Graph
// keeps it unique for none of them, and it is not an assignment's (whose key is all of
// it, so a match is the same grant).
func lookAlikeKind(kind entra.Kind) bool {
	return !assignmentKinds[kind] && !uniqueByNaturalKey(kind)
}

// reconcile looks for the object a create may have made before the run stopped: one match
// by natural key that no other step owns is adopted into the ledger; none means the create
// never happened; several cannot be told apart and fail the step for a person to decide.
func (a *applier) reconcile(ctx context.Context, sr *stepRun) error {
	matches, looked, err := a.naturalKeyMatches(ctx, sr)
	// What had the name before the create first went out is not what it made.
	matches = slices.DeleteFunc(matches, func(m naturalKeyMatch) bool { return slices.Contains(sr.res.Preexisting, m.ID) })
	switch {
	case err != nil && !looked:
		sr.state, sr.res.Error = snapshots.StepFailed, err.Error()
		return nil
	case err != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if graphapi.IsUnanswered(err) {
			return stoppedAnswering(err) // the lookup waits for the next run, as the create does
		}
		sr.state, sr.res.Error = snapshots.StepFailed, fmt.Sprintf("%s: the run stopped while it was being created and lifeline could not look it up (%v); check the tenant for it, then run apply again", describe(sr.step), err)
		return nil
	case !looked:
		sr.uncertain = false
		return nil
	}
	kind := entra.Kind(sr.step.Kind)
	switch len(matches) {
	case 0:
		sr.uncertain = false
		return nil
	case 1:
		if lookAlikeKind(kind) && !sr.res.LookedUp {
			// Sent by a lifeline that did not read the look-alikes first: the one match
			// may have had the name before (an attacker's look-alike) as well as not.
			sr.state, sr.res.Error = snapshots.StepFailed, fmt.Sprintf("%s: the run stopped while it was being created, and %s %s has its name now; an older lifeline journaled this run, so whether the run made it or it had the name before cannot be told: if the run made it (its creation time says) or no one wants it, delete it, and if it belongs, rename it; then run apply again, which makes the object anew",
				describe(sr.step), kind, matches[0].ID)
			return nil
		}
		e := a.record(sr, matches[0].ID, matches[0].AppID, "")
		sr.res.Note = "found by " + strings.Join(naturalKeys(kind), " and ") + " after a lost answer; not created twice"
		sr.uncertain = false
		a.advance(sr)
		return a.journal(ctx, []*stepRun{sr}, []snapshots.LedgerEntry{*e})
	default:
		ids := make([]string, 0, len(matches))
		for _, m := range matches {
			ids = append(ids, m.ID)
		}
		sort.Strings(ids)
		sr.state, sr.res.Error = snapshots.StepFailed, fmt.Sprintf("%s: the run stopped while it was being created, and %d objects now match it (%s); delete the ones that are not wanted, then run apply again",
			describe(sr.step), len(ids), strings.Join(ids, ", "))
		return nil
	}
}

// lockoutCheck is the gate before any restored policy leaves report-only: the live
// policies, read back in the snapshot's ids and each set to the state the plan would
// give it, must not block every administrator or any break-glass account.
func (a *applier) lockoutCheck(ctx context.Context, sr *stepRun) {
	facts, err := LoadLockoutFacts(ctx, a.target)
	if err != nil {
		sr.state, sr.res.Error = snapshots.StepFailed, fmt.Sprintf("lockout check: reading the snapshot's administrators failed (%v); every restored policy stays in report-only", err)
		return
	}
	enforce := map[string]string{}
	for _, st := range a.plan.Stages {
		for _, s := range st.Steps {
			if s.Action != ActionEnforce || len(s.Requests) == 0 {
				continue
			}
			var b struct {
				State string `json:"state"`
			}
			if json.Unmarshal(s.Requests[0].Body, &b) == nil && b.State != "" {
				enforce[s.ObjectID] = b.State
			}
		}
	}
	inv, _, err := resolveLedger(ctx, a.target, a.ledger)
	if err != nil {
		sr.state, sr.res.Error = snapshots.StepFailed, fmt.Sprintf("lockout check: reading the ledger failed (%v); every restored policy stays in report-only", err)
		return
	}
	spec := entra.MustLookup(entra.KindConditionalAccessPolicy)
	var policies []map[string]any
	_, err = a.opts.Client.List(ctx, spec.Collection, graphapi.ListOptions{}, func(p graphapi.Page) error {
		for _, it := range p.Items {
			var obj map[string]any
			if err := json.Unmarshal(it, &obj); err != nil {
				return err
			}
			graphx.Rewrite(entra.KindConditionalAccessPolicy, obj, inv)
			id, _ := obj["id"].(string)
			if old, ok := inv.IDs[id]; ok {
				obj["id"], id = old, old
			}
			if st, ok := enforce[id]; ok {
				obj["state"] = st
			}
			policies = append(policies, obj)
		}
		return nil
	})
	if err != nil {
		sr.state, sr.res.Error = snapshots.StepFailed, fmt.Sprintf("lockout check: reading the live policies failed (%v); every restored policy stays in report-only; run apply again", err)
		return
	}
	a.lockouts = facts.Check(policies)
	if len(a.lockouts) == 0 {
		sr.state = snapshots.StepDone
		sr.res.Note = fmt.Sprintf("%d policies checked: none blocks every administrator (%d) or a break-glass account (%d)", len(policies), len(facts.Admins()), len(facts.BreakGlass()))
		return
	}
	var reasons []string
	for _, l := range a.lockouts {
		reasons = append(reasons, l.Reason)
	}
	sr.state = snapshots.StepFailed
	sr.res.Error = "lockout check failed: " + strings.Join(reasons, " ") + " Every restored policy stays in report-only."
}

// verifyStep re-reads the tenant through the caller's verifier.
func (a *applier) verifyStep(ctx context.Context, sr *stepRun) {
	if a.opts.Verify == nil {
		sr.state, sr.res.Error = snapshots.StepSkipped, "no verifier was given; run 'lifeline verify' to compare the tenant with the snapshot"
		return
	}
	settled, summary, err := a.opts.Verify(ctx)
	switch {
	case err != nil:
		sr.state, sr.res.Error = snapshots.StepFailed, fmt.Sprintf("verify could not read the tenant (%v); run 'lifeline verify' again", err)
	case !settled:
		// Every other step is done by now, so running this plan again would only
		// verify again. What remains is what the plan could not see (links an object
		// brings back from the bin, a change made since): a new plan sees it.
		sr.state, sr.res.Error = snapshots.StepFailed, summary+"; 'lifeline verify' lists them: "+newPlanAdvice+", which restores what remains (running this one again only verifies again)"
	default:
		sr.state, sr.res.Note = snapshots.StepDone, summary
	}
}

// linkPresent reports whether the link an add-link request would create is already
// there: it reads the holder's link collection once per run and keeps it up to date.
func (a *applier) linkPresent(ctx context.Context, req graphapi.Request) (bool, error) {
	var ref struct {
		ID string `json:"@odata.id"`
	}
	if json.Unmarshal(req.Body, &ref) != nil || ref.ID == "" {
		return false, nil
	}
	target := ref.ID[strings.LastIndex(ref.ID, "/")+1:]
	list := strings.TrimSuffix(req.Path, "/$ref")
	if a.links == nil {
		a.links = map[string]map[string]bool{}
	}
	set, ok := a.links[list]
	if !ok {
		set = map[string]bool{}
		if req.Method == "PUT" {
			raw, err := a.opts.Client.Get(ctx, list, graphapi.ListOptions{Select: []string{"id"}})
			var one struct {
				ID string `json:"id"`
			}
			if err == nil && json.Unmarshal(raw, &one) == nil {
				set[one.ID] = true
			} else if err != nil && !graphapi.IsNotFound(err) {
				return false, ctx.Err()
			}
		} else {
			_, err := a.opts.Client.List(ctx, list, graphapi.ListOptions{Select: []string{"id"}, Top: 999}, func(p graphapi.Page) error {
				for _, it := range p.Items {
					var one struct {
						ID string `json:"id"`
					}
					if json.Unmarshal(it, &one) == nil {
						set[one.ID] = true
					}
				}
				return nil
			})
			if err != nil {
				if ctx.Err() != nil {
					return false, ctx.Err()
				}
				// Unreadable: add the link; "already there" is handled as done.
				return false, nil
			}
		}
		a.links[list] = set
	}
	return set[target], nil
}

// linkAdded keeps the link cache true after an add-link succeeded. Only then: a send
// that failed must be checked again, not taken as done.
func (a *applier) linkAdded(req graphapi.Request) {
	var ref struct {
		ID string `json:"@odata.id"`
	}
	if a.links == nil || json.Unmarshal(req.Body, &ref) != nil || ref.ID == "" {
		return
	}
	if set, ok := a.links[strings.TrimSuffix(req.Path, "/$ref")]; ok {
		set[ref.ID[strings.LastIndex(ref.ID, "/")+1:]] = true
	}
}
