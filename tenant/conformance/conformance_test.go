package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

// tenant is one simulated tenant on loopback and lifeline's client of it.
type tenant struct {
	sim    *sim.Sim
	srv    *sim.Server
	ds     *sim.Dataset
	client *graphapi.Client
}

// unthrottled is a client budget far above what an unthrottled sim will ever see.
var unthrottled = graphapi.Budget{ResourceUnitsPer10s: 10_000_000, WritesPer150s: 10_000_000, ConditionalAccessPerSecond: 10_000, AuditPer10s: 100_000}

var (
	datasetOnce sync.Once
	dataset     *sim.Dataset
)

// startTenant serves a freshly loaded 60-user tenant (seed 11) and connects to it with
// nothing but its graph URL, as an operator would.
func startTenant(t *testing.T, mode sim.ThrottleMode) *tenant {
	t.Helper()
	datasetOnce.Do(func() {
		var err error
		dataset, err = sim.Generate(sim.GenerateOptions{Users: 60, Seed: 11})
		if err != nil {
			panic(err)
		}
	})
	s, err := sim.New(dataset, sim.Options{Throttle: mode})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg := graphapi.Config{GraphURL: srv.Info().GraphURL}
	if mode == sim.ThrottleOff {
		cfg.Budget = unthrottled // no need to pace CA reads to Graph's 1 request/s
	}
	client, err := graphapi.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connecting with the graph URL alone: %v", err)
	}
	return &tenant{sim: s, srv: srv, ds: dataset, client: client}
}

func (tn *tenant) count(t *testing.T, path string) int {
	t.Helper()
	n := 0
	if _, err := tn.client.List(context.Background(), path, graphapi.ListOptions{Select: []string{"id"}, Top: 999}, func(p graphapi.Page) error {
		n += len(p.Items)
		return nil
	}); err != nil {
		t.Fatalf("listing %s: %v", path, err)
	}
	return n
}

func (tn *tenant) objectsOf(kind entra.Kind) []sim.Object {
	var out []sim.Object
	for _, o := range tn.ds.Objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// staticGroup returns a security group with assigned membership that is not
// role-assignable: the kind whose members anyone may change.
func (tn *tenant) staticGroup(t *testing.T, skip int) sim.Object {
	t.Helper()
	for _, g := range tn.objectsOf(entra.KindGroup) {
		var m map[string]any
		json.Unmarshal(g.JSON, &m)
		types := fmt.Sprint(m["groupTypes"])
		if strings.Contains(types, "Unified") || strings.Contains(types, "DynamicMembership") || m["isAssignableToRole"] == true {
			continue
		}
		if skip == 0 {
			return g
		}
		skip--
	}
	t.Fatal("the generated tenant has no static security group")
	return sim.Object{}
}

func graphError(t *testing.T, err error) *graphapi.Error {
	t.Helper()
	var gerr *graphapi.Error
	if !errors.As(err, &gerr) {
		t.Fatalf("want a Graph error, got %v", err)
	}
	return gerr
}

func do(t *testing.T, c *graphapi.Client, method, path, body string) (*graphapi.Response, error) {
	t.Helper()
	r := graphapi.Request{Method: method, Path: path}
	if body != "" {
		r.Body = json.RawMessage(body)
	}
	return c.Do(context.Background(), r)
}

func TestDrillCredentialsAreTheSims(t *testing.T) {
	t.Parallel()
	if graphapi.DrillClientID != sim.OperatorClientID || graphapi.DrillClientSecret != sim.OperatorClientSecret {
		t.Fatal("the client's default drill credentials must be the sim's operator app")
	}
	if graphapi.AttackerClientID != sim.AttackerClientID || graphapi.AttackerClientSecret != sim.AttackerClientSecret {
		t.Fatal("the client's attacker credentials must be the sim's attacker app")
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	tn := startTenant(t, sim.ThrottleOff)
	if tn.client.TenantID() != tn.ds.TenantID {
		t.Fatalf("discovered tenant %s, want %s", tn.client.TenantID(), tn.ds.TenantID)
	}
	// The operator's secret, given explicitly, works through the real authority flow.
	info := tn.srv.Info()
	if _, err := graphapi.New(context.Background(), graphapi.Config{GraphURL: info.GraphURL, TenantID: info.TenantID, ClientID: info.ClientID, ClientSecret: info.ClientSecret}); err != nil {
		t.Fatalf("explicit operator credentials: %v", err)
	}
	// A wrong secret is refused at the token endpoint with Entra's error.
	_, err := graphapi.New(context.Background(), graphapi.Config{GraphURL: info.GraphURL, TenantID: info.TenantID, ClientID: info.ClientID, ClientSecret: "wrong"})
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("wrong secret: %v", err)
	}
	if strings.Contains(fmt.Sprint(err), "wrong") && strings.Contains(fmt.Sprint(err), "client_secret") {
		t.Fatalf("the error repeats the secret: %v", err)
	}
	// A token the sim did not issue is refused on every Graph call.
	bogus, err := graphapi.New(context.Background(), graphapi.Config{GraphURL: info.GraphURL, TenantID: info.TenantID, Credential: staticToken("not-a-token")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bogus.Get(context.Background(), "/organization", graphapi.ListOptions{})
	if gerr := graphError(t, err); gerr.Status != 401 || gerr.Code != "InvalidAuthenticationToken" {
		t.Fatalf("bogus token: %+v", gerr)
	}
}

type staticToken string

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestListPagingSelectFilterCount(t *testing.T) {
	t.Parallel()
	tn := startTenant(t, sim.ThrottleOff)
	ctx := context.Background()
	users := tn.objectsOf(entra.KindUser)

	// Small pages: every user exactly once across absolute nextLinks.
	seen := map[string]bool{}
	pages := 0
	if _, err := tn.client.List(ctx, "/users", graphapi.ListOptions{Top: 7}, func(p graphapi.Page) error {
		pages++
		if p.NextLink != "" && !strings.HasPrefix(p.NextLink, "http://127.0.0.1:") {
			t.Errorf("nextLink is not absolute: %s", p.NextLink)
		}
		for _, raw := range p.Items {
			var u map[string]any
			json.Unmarshal(raw, &u)
			id := u["id"].(string)
			if seen[id] {
				t.Errorf("user %s listed twice", id)
			}
			seen[id] = true
			// Default property set only, without $select.
			if _, ok := u["department"]; ok {
				t.Fatalf("department returned without $select: %s", raw)
			}
			if _, ok := u["userPrincipalName"]; !ok {
				t.Fatalf("userPrincipalName missing from the default set: %s", raw)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(users) || pages != (len(users)+6)/7 {
		t.Fatalf("listed %d users in %d pages, want %d users", len(seen), pages, len(users))
	}

	// Out-of-range page size: Graph's exact message.
	_, err := tn.client.List(ctx, "/users", graphapi.ListOptions{Top: 1000}, func(graphapi.Page) error { return nil })
	if gerr := graphError(t, err); gerr.Status != 400 || !strings.Contains(gerr.Message, "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.") {
		t.Fatalf("$top=1000: %+v", gerr)
	}

	// $select returns exactly what was asked (plus id).
	raw, err := tn.client.Get(ctx, "/users/"+users[3].ID, graphapi.ListOptions{Select: []string{"department", "usageLocation"}})
	if err != nil {
		t.Fatal(err)
	}
	var u map[string]any
	json.Unmarshal(raw, &u)
	delete(u, "@odata.context")
	if len(u) != 3 {
		t.Fatalf("$select=department,usageLocation returned %v", u)
	}

	// $filter forms a backup and a restore use.
	var first map[string]any
	json.Unmarshal(users[5].JSON, &first)
	upn := first["userPrincipalName"].(string)
	for _, f := range []string{
		"userPrincipalName eq '" + upn + "'",
		"startswith(userPrincipalName,'" + upn[:len(upn)-3] + "')",
		"id in ('" + users[5].ID + "','nope')",
	} {
		n := 0
		if _, err := tn.client.List(ctx, "/users", graphapi.ListOptions{Filter: f}, func(p graphapi.Page) error { n += len(p.Items); return nil }); err != nil || n != 1 {
			t.Errorf("$filter=%s: %d users, %v", f, n, err)
		}
	}
	_, err = tn.client.List(ctx, "/users", graphapi.ListOptions{Filter: "endswith(mail,'x')"}, func(graphapi.Page) error { return nil })
	if gerr := graphError(t, err); gerr.Status != 400 {
		t.Errorf("unsupported filter: %+v", gerr)
	}

	// $count needs ConsistencyLevel: eventual, and appears on the first page only.
	var counts []*int64
	if _, err := tn.client.List(ctx, "/users", graphapi.ListOptions{Count: true, Top: 50, Headers: map[string]string{"ConsistencyLevel": "eventual"}}, func(p graphapi.Page) error {
		counts = append(counts, p.Count)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(counts) < 2 || counts[0] == nil || *counts[0] != int64(len(users)) || counts[1] != nil {
		t.Fatalf("@odata.count per page: %v", counts)
	}
}

func TestWritesAndBadInputChangeNothing(t *testing.T) {
	t.Parallel()
	tn := startTenant(t, sim.ThrottleOff)
	before := tn.count(t, "/users")
	var existing map[string]any
	json.Unmarshal(tn.objectsOf(entra.KindUser)[0].JSON, &existing)
	domain := tn.ds.Domain

	bad := []struct {
		name, body string
		status     int
		want       string
	}{
		{"unknown property", `{"accountEnabled":true,"displayName":"X","mailNickname":"x","userPrincipalName":"x@` + domain + `","passwordProfile":{"password":"Aa1!aaaaaa"},"favouriteColour":"red"}`, 400, "favouriteColour"},
		{"wrong type", `{"accountEnabled":"yes","displayName":"X","mailNickname":"x","userPrincipalName":"x@` + domain + `","passwordProfile":{"password":"Aa1!aaaaaa"}}`, 400, "accountEnabled"},
		{"missing required", `{"accountEnabled":true,"displayName":"X","userPrincipalName":"x@` + domain + `","passwordProfile":{"password":"Aa1!aaaaaa"}}`, 400, "mailNickname"},
		{"read-only property", `{"accountEnabled":true,"displayName":"X","mailNickname":"x","userPrincipalName":"x@` + domain + `","passwordProfile":{"password":"Aa1!aaaaaa"},"createdDateTime":"2020-01-01T00:00:00Z"}`, 400, "createdDateTime"},
		{"duplicate UPN", `{"accountEnabled":true,"displayName":"X","mailNickname":"x","userPrincipalName":"` + existing["userPrincipalName"].(string) + `","passwordProfile":{"password":"Aa1!aaaaaa"}}`, 400, "Another object with the same value for property userPrincipalName already exists."},
	}
	for _, b := range bad {
		_, err := do(t, tn.client, "POST", "/users", b.body)
		gerr := graphError(t, err)
		if gerr.Status != b.status || !strings.Contains(gerr.Message, b.want) {
			t.Errorf("%s: %d %s %q", b.name, gerr.Status, gerr.Code, gerr.Message)
		}
		if b.name == "duplicate UPN" && (!graphapi.IsConflict(err) || gerr.Code != "Request_BadRequest") {
			t.Errorf("duplicate UPN is not a 400 Request_BadRequest conflict: %+v", gerr)
		}
	}
	// Malformed JSON can only be sent raw: the client refuses to send it through Do.
	resp, err := tn.client.Raw(context.Background(), "POST", "/v1.0/users", []byte(`{"displayName": "broken`))
	if gerr := graphError(t, err); gerr.Status != 400 || resp == nil {
		t.Errorf("malformed JSON: %+v", gerr)
	}
	if _, err := do(t, tn.client, "POST", "/users", `{"displayName": "broken`); err == nil || !strings.Contains(err.Error(), "nothing was sent") {
		t.Errorf("client sent malformed JSON: %v", err)
	}
	// Unknown paths and kinds.
	_, err = do(t, tn.client, "GET", "/printers", "")
	if gerr := graphError(t, err); gerr.Status != 400 && gerr.Status != 404 {
		t.Errorf("unknown kind: %+v", gerr)
	}
	_, err = do(t, tn.client, "GET", "/users/00000000-0000-0000-0000-00000000dead", "")
	if gerr := graphError(t, err); gerr.Status != 404 || gerr.Code != "Request_ResourceNotFound" || !graphapi.IsNotFound(err) {
		t.Errorf("unknown id: %+v", gerr)
	}
	if after := tn.count(t, "/users"); after != before {
		t.Fatalf("bad input changed the tenant: %d users before, %d after", before, after)
	}

	// A good create answers 201 with the default property set; PATCH answers 204.
	resp, err = do(t, tn.client, "POST", "/users", `{"accountEnabled":true,"displayName":"Drill User","mailNickname":"drill","userPrincipalName":"drill@`+domain+`","passwordProfile":{"password":"Aa1!aaaaaaaa"},"department":"Ops"}`)
	if err != nil || resp.Status != 201 {
		t.Fatalf("create: %v %+v", err, resp)
	}
	var created map[string]any
	json.Unmarshal(resp.Body, &created)
	id := created["id"].(string)
	if _, ok := created["department"]; ok {
		t.Errorf("create returned more than the default set: %s", resp.Body)
	}
	resp, err = do(t, tn.client, "PATCH", "/users/"+id, `{"department":"Finance"}`)
	if err != nil || resp.Status != 204 {
		t.Fatalf("patch: %v %+v", err, resp)
	}
	raw, err := tn.client.Get(context.Background(), "/users/"+id, graphapi.ListOptions{Select: []string{"department"}})
	if err != nil || !strings.Contains(string(raw), `"Finance"`) {
		t.Fatalf("after patch: %s %v", raw, err)
	}
	if raw, _ := tn.client.Get(context.Background(), "/users/"+id, graphapi.ListOptions{Select: strings.Split(entra.MustLookup(entra.KindUser).Select(), ",")}); strings.Contains(string(raw), "Aa1!") {
		t.Fatal("the password came back")
	}
}

func TestSoftDeleteRestorePurge(t *testing.T) {
	t.Parallel()
	tn := startTenant(t, sim.ThrottleOff)
	ctx := context.Background()
	users := tn.objectsOf(entra.KindUser)
	victim, other := users[10], users[11]
	var v map[string]any
	json.Unmarshal(victim.JSON, &v)

	if resp, err := do(t, tn.client, "DELETE", "/users/"+victim.ID, ""); err != nil || resp.Status != 204 {
		t.Fatalf("delete: %v", err)
	}
	_, err := do(t, tn.client, "GET", "/users/"+victim.ID, "")
	if !graphapi.IsNotFound(err) {
		t.Fatalf("a soft-deleted user must 404 on its normal URL: %v", err)
	}
	raw, err := tn.client.Get(ctx, "/directory/deletedItems/"+victim.ID, graphapi.ListOptions{})
	if err != nil || !strings.Contains(string(raw), "deletedDateTime") || !strings.Contains(string(raw), "#microsoft.graph.user") {
		t.Fatalf("deleted item: %s %v", raw, err)
	}
	if n := tn.count(t, "/directory/deletedItems/microsoft.graph.user"); n != 1 {
		t.Fatalf("bin holds %d users", n)
	}
	_, err = do(t, tn.client, "GET", "/directory/deletedItems", "")
	if gerr := graphError(t, err); gerr.Status != 400 {
		t.Errorf("deletedItems without a cast: %+v", gerr)
	}

	// Someone takes the UPN; restoring conflicts until a new UPN is given.
	upn := v["userPrincipalName"].(string)
	if _, err := do(t, tn.client, "PATCH", "/users/"+other.ID, `{"userPrincipalName":"`+upn+`"}`); err != nil {
		t.Fatal(err)
	}
	_, err = do(t, tn.client, "POST", "/directory/deletedItems/"+victim.ID+"/restore", "")
	if gerr := graphError(t, err); gerr.Status != 400 || !strings.Contains(gerr.Message, "userPrincipalName") {
		t.Fatalf("restore into a taken UPN: %+v", gerr)
	}
	resp, err := do(t, tn.client, "POST", "/directory/deletedItems/"+victim.ID+"/restore", `{"newUserPrincipalName":"restored@`+tn.ds.Domain+`"}`)
	if err != nil || resp.Status != 200 || !strings.Contains(string(resp.Body), "restored@") {
		t.Fatalf("restore with newUserPrincipalName: %v %s", err, resp.Body)
	}

	// Permanent delete, and purge by the sim's clock after 30 days.
	do(t, tn.client, "DELETE", "/users/"+victim.ID, "")
	if resp, err := do(t, tn.client, "DELETE", "/directory/deletedItems/"+victim.ID, ""); err != nil || resp.Status != 204 {
		t.Fatalf("permanent delete: %v", err)
	}
	if _, err := do(t, tn.client, "POST", "/directory/deletedItems/"+victim.ID+"/restore", ""); !graphapi.IsNotFound(err) {
		t.Fatalf("restore after permanent delete: %v", err)
	}
	do(t, tn.client, "DELETE", "/users/"+other.ID, "")
	if resp, err := tn.client.Raw(ctx, "POST", "/_sim/clock", map[string]string{"advance": "721h"}); err != nil || resp.Status != 200 {
		t.Fatalf("advancing the clock: %v", err)
	}
	if n := tn.count(t, "/directory/deletedItems/microsoft.graph.user"); n != 0 {
		t.Fatalf("after 30 days the bin still holds %d users", n)
	}
}

func TestConditionalAccessBin(t *testing.T) {
	t.Parallel()
	tn := startTenant(t, sim.ThrottleOff)
	policy := tn.objectsOf(entra.KindConditionalAccessPolicy)[0]
	if _, err := do(t, tn.client, "DELETE", "/identity/conditionalAccess/policies/"+policy.ID, ""); err != nil {
		t.Fatal(err)
	}
	n := 0
	if _, err := tn.client.List(context.Background(), "/identity/conditionalAccess/deletedItems/policies", graphapi.ListOptions{Beta: true}, func(p graphapi.Page) error {
		n += len(p.Items)
		return nil
	}); err != nil || n != 1 {
		t.Fatalf("CA bin: %d, %v", n, err)
	}
	resp, err := tn.client.Do(context.Background(), graphapi.Request{Method: "POST", Path: "/identity/conditionalAccess/deletedItems/policies/" + policy.ID + "/restore", Beta: true})
	if err != nil || resp.Status != 200 {
		t.Fatalf("CA restore: %v", err)
	}
	if _, err := tn.client.Get(context.Background(), "/identity/conditionalAccess/policies/"+policy.ID, graphapi.ListOptions{}); err != nil {
		t.Fatalf("restored policy: %v", err)
	}
}

func TestLinksFollowGraphsRules(t *testing.T) {
	t.Parallel()
	tn := startTenant(t, sim.ThrottleOff)
	var group, m365 sim.Object
	for _, g := range tn.objectsOf(entra.KindGroup) {
		var m map[string]any
		json.Unmarshal(g.JSON, &m)
		unified := strings.Contains(fmt.Sprint(m["groupTypes"]), "Unified")
		if unified && m365.ID == "" {
			m365 = g
		}
		dynamic := strings.Contains(fmt.Sprint(m["groupTypes"]), "DynamicMembership")
		if !unified && !dynamic && group.ID == "" && m["isAssignableToRole"] != true {
			group = g
		}
	}
	users := tn.objectsOf(entra.KindUser)
	newMember := users[len(users)-1].ID
	// Remove it first in case the generator made it a member, then add it.
	do(t, tn.client, "DELETE", "/groups/"+group.ID+"/members/"+newMember+"/$ref", "")
	body := `{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/` + newMember + `"}`
	if resp, err := do(t, tn.client, "POST", "/groups/"+group.ID+"/members/$ref", body); err != nil || resp.Status != 204 {
		t.Fatalf("add member: %v", err)
	}
	_, err := do(t, tn.client, "POST", "/groups/"+group.ID+"/members/$ref", body)
	if gerr := graphError(t, err); gerr.Status != 400 || !strings.Contains(gerr.Message, "One or more added object references already exist") {
		t.Errorf("duplicate member: %+v", gerr)
	}
	_, err = do(t, tn.client, "POST", "/groups/"+group.ID+"/members/$ref", `{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/00000000-0000-0000-0000-0000000000aa"}`)
	if gerr := graphError(t, err); gerr.Status != 404 {
		t.Errorf("unknown member: %+v", gerr)
	}
	_, err = do(t, tn.client, "POST", "/groups/"+m365.ID+"/members/$ref", `{"@odata.id":"https://graph.microsoft.com/v1.0/groups/`+group.ID+`"}`)
	if gerr := graphError(t, err); gerr.Status != 400 {
		t.Errorf("a group inside a Microsoft 365 group: %+v", gerr)
	}
	found := false
	if _, err := tn.client.List(context.Background(), "/groups/"+group.ID+"/members", graphapi.ListOptions{}, func(p graphapi.Page) error {
		for _, raw := range p.Items {
			var m map[string]any
			json.Unmarshal(raw, &m)
			if m["@odata.type"] == nil {
				t.Fatalf("member without @odata.type: %s", raw)
			}
			if m["id"] == newMember {
				found = true
			}
		}
		return nil
	}); err != nil || !found {
		t.Fatalf("members list: found=%v %v", found, err)
	}
}

func TestDeltaRounds(t *testing.T) {
	t.Parallel()
	tn := startTenant(t, sim.ThrottleOff)
	ctx := context.Background()
	sel := []string{"displayName", "description", "members"}
	var groups int
	link, err := tn.client.List(ctx, "/groups/delta", graphapi.ListOptions{Select: sel}, func(p graphapi.Page) error {
		groups += len(p.Items)
		return nil
	})
	if err != nil || link == "" || groups != len(tn.objectsOf(entra.KindGroup)) {
		t.Fatalf("initial group delta: %d groups, link %q, %v", groups, link, err)
	}
	g := tn.staticGroup(t, 1)
	u := tn.objectsOf(entra.KindUser)[7]
	do(t, tn.client, "DELETE", "/groups/"+g.ID+"/members/"+u.ID+"/$ref", "")
	// Drain whatever the removal produced, then add the member and read the next round.
	link, _ = tn.client.ListURL(ctx, link, nil, func(graphapi.Page) error { return nil })
	if _, err := do(t, tn.client, "POST", "/groups/"+g.ID+"/members/$ref", `{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/`+u.ID+`"}`); err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	link, err = tn.client.ListURL(ctx, link, nil, func(p graphapi.Page) error {
		for _, raw := range p.Items {
			var m map[string]any
			json.Unmarshal(raw, &m)
			items = append(items, m)
		}
		return nil
	})
	if err != nil || len(items) != 1 || !strings.Contains(fmt.Sprint(items[0]["members@delta"]), u.ID) {
		t.Fatalf("delta after adding a member: %v %v", items, err)
	}
	// A soft-deleted group shows as @removed "changed".
	do(t, tn.client, "DELETE", "/groups/"+g.ID, "")
	items = nil
	link, err = tn.client.ListURL(ctx, link, nil, func(p graphapi.Page) error {
		for _, raw := range p.Items {
			var m map[string]any
			json.Unmarshal(raw, &m)
			items = append(items, m)
		}
		return nil
	})
	if err != nil || len(items) != 1 || !strings.Contains(fmt.Sprint(items[0]["@removed"]), "changed") {
		t.Fatalf("delta after soft delete: %v %v", items, err)
	}
	// Tokens expire after 7 days of the sim's clock.
	tn.client.Raw(ctx, "POST", "/_sim/clock", map[string]string{"advance": "169h"})
	_, err = tn.client.ListURL(ctx, link, nil, func(graphapi.Page) error { return nil })
	if gerr := graphError(t, err); gerr.Status != 410 {
		t.Fatalf("expired delta token: %+v", gerr)
	}
}

func TestAuditLogNamesTheCallingApp(t *testing.T) {
	t.Parallel()
	tn := startTenant(t, sim.ThrottleOff)
	ctx := context.Background()
	info := tn.srv.Info()
	attacker, err := graphapi.New(ctx, graphapi.Config{GraphURL: info.GraphURL, TenantID: info.TenantID, ClientID: graphapi.AttackerClientID, ClientSecret: graphapi.AttackerClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	victim := tn.objectsOf(entra.KindUser)[20]
	if _, err := do(t, attacker, "DELETE", "/users/"+victim.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := do(t, tn.client, "POST", "/directory/deletedItems/"+victim.ID+"/restore", ""); err != nil {
		t.Fatal(err)
	}
	var entries []map[string]any
	if _, err := tn.client.List(ctx, "/auditLogs/directoryAudits", graphapi.ListOptions{}, func(p graphapi.Page) error {
		for _, raw := range p.Items {
			var m map[string]any
			json.Unmarshal(raw, &m)
			entries = append(entries, m)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	actors := map[string]string{}
	for _, e := range entries {
		app, _ := e["initiatedBy"].(map[string]any)["app"].(map[string]any)
		actors[e["activityDisplayName"].(string)] = fmt.Sprint(app["appId"])
	}
	if actors["Delete user"] != graphapi.AttackerClientID || actors["Restore user"] != graphapi.DrillClientID {
		t.Fatalf("audit actors: %v", actors)
	}
	// The attacker cannot touch the control surface.
	if _, err := attacker.Raw(ctx, "POST", "/_sim/clock", map[string]string{"advance": "1h"}); graphError(t, err).Status != 403 {
		t.Fatalf("attacker reached /_sim: %v", err)
	}
}

func TestBatch(t *testing.T) {
	t.Parallel()
	tn := startTenant(t, sim.ThrottleOff)
	ctx := context.Background()
	users := tn.objectsOf(entra.KindUser)
	var reqs []graphapi.Request
	for i := 0; i < 45; i++ {
		reqs = append(reqs, graphapi.Request{Method: "GET", Path: "/users/" + users[i].ID + "?$select=id"})
	}
	reqs = append(reqs, graphapi.Request{Method: "GET", Path: "/users/00000000-0000-0000-0000-0000000000ff"})
	results, err := tn.client.Batch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results[:45] {
		if r.Err != nil || !strings.Contains(string(r.Response.Body), users[i].ID) {
			t.Fatalf("item %d: %v", i, r.Err)
		}
	}
	if !graphapi.IsNotFound(results[45].Err) {
		t.Fatalf("missing user in a batch: %v", results[45].Err)
	}
	// The envelope rules: at most 20 items, unique ids, dependsOn answered 424 on failure.
	envelope := func(n int, extra string) string {
		var items []string
		for i := 0; i < n; i++ {
			items = append(items, fmt.Sprintf(`{"id":"%d","method":"GET","url":"/users?$top=1"}`, i))
		}
		if extra != "" {
			items = append(items, extra)
		}
		return `{"requests":[` + strings.Join(items, ",") + `]}`
	}
	_, err = tn.client.Raw(ctx, "POST", "/v1.0/$batch", json.RawMessage(envelope(21, "")))
	if gerr := graphError(t, err); gerr.Status != 400 {
		t.Errorf("21 items: %+v", gerr)
	}
	_, err = tn.client.Raw(ctx, "POST", "/v1.0/$batch", json.RawMessage(envelope(2, `{"id":"1","method":"GET","url":"/users"}`)))
	if gerr := graphError(t, err); gerr.Status != 400 {
		t.Errorf("duplicate ids: %+v", gerr)
	}
	resp, err := tn.client.Raw(ctx, "POST", "/v1.0/$batch", json.RawMessage(`{"requests":[
		{"id":"a","method":"GET","url":"users/00000000-0000-0000-0000-0000000000ee"},
		{"id":"b","dependsOn":["a"],"method":"GET","url":"/organization"}]}`))
	if err != nil || resp.Status != 200 {
		t.Fatalf("dependsOn batch: %v", err)
	}
	var out struct {
		Responses []struct {
			ID     string `json:"id"`
			Status int    `json:"status"`
		} `json:"responses"`
	}
	json.Unmarshal(resp.Body, &out)
	status := map[string]int{}
	for _, r := range out.Responses {
		status[r.ID] = r.Status
	}
	if status["a"] != 404 || status["b"] != 424 {
		t.Fatalf("dependsOn statuses: %v", status)
	}
}

func TestRealisticThrottlingIsSurvived(t *testing.T) {
	t.Parallel()
	tn := startTenant(t, sim.ThrottleRealistic)
	ctx := context.Background()
	// The CA budget is 1 request per second per tenant and its 429s carry no
	// Retry-After: three quick reads must still all succeed.
	for i := 0; i < 3; i++ {
		if _, err := tn.client.List(ctx, "/identity/conditionalAccess/policies", graphapi.ListOptions{}, func(graphapi.Page) error { return nil }); err != nil {
			t.Fatalf("CA read %d: %v", i, err)
		}
	}
	// Faults: a storm of 429 items inside $batch is requeued by the client.
	if _, err := tn.client.Raw(ctx, "POST", "/_sim/faults", map[string]any{"seed": 3, "throttle_rate": 0.4}); err != nil {
		t.Fatal(err)
	}
	users := tn.objectsOf(entra.KindUser)
	var reqs []graphapi.Request
	for _, u := range users[:40] {
		reqs = append(reqs, graphapi.Request{Method: "GET", Path: "/users/" + u.ID + "?$select=id"})
	}
	results, err := tn.client.Batch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("item %d failed despite requeues: %v", i, r.Err)
		}
	}
	throttled := 0
	for _, c := range tn.client.Calls() {
		if c.Throttled || c.Status == 429 || c.Status == 503 {
			throttled++
		}
	}
	if tn.client.Stats().Throttled == 0 && throttled == 0 {
		t.Fatal("the fault storm never reached the client: the test proves nothing")
	}
}

func TestSameSeedSameTenant(t *testing.T) {
	t.Parallel()
	a, err := sim.Generate(sim.GenerateOptions{Users: 40, Seed: 99})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := sim.Generate(sim.GenerateOptions{Users: 40, Seed: 99})
	if len(a.Objects) != len(b.Objects) || a.TenantID != b.TenantID {
		t.Fatal("same seed, different tenants")
	}
	for i := range a.Objects {
		if string(a.Objects[i].JSON) != string(b.Objects[i].JSON) {
			t.Fatalf("object %d differs", i)
		}
	}
	// And the served JSON of a generated object equals its dataset JSON.
	tn := startTenant(t, sim.ThrottleOff)
	u := tn.objectsOf(entra.KindUser)[1]
	raw, err := tn.client.Get(context.Background(), "/users/"+u.ID, graphapi.ListOptions{Select: strings.Split(entra.MustLookup(entra.KindUser).Select(), ",")})
	if err != nil {
		t.Fatal(err)
	}
	var served, want map[string]any
	json.Unmarshal(raw, &served)
	json.Unmarshal(u.JSON, &want)
	delete(served, "@odata.context")
	for k, v := range want {
		if fmt.Sprint(served[k]) != fmt.Sprint(v) {
			t.Errorf("%s: served %v, dataset %v", k, served[k], v)
		}
	}
	_ = http.MethodGet
}
