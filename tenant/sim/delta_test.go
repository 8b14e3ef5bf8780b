package sim

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// deltaRound follows a delta round to its deltaLink and returns the items and the link.
func (e *env) deltaRound(start string) ([]map[string]any, string) {
	e.t.Helper()
	var items []map[string]any
	next := start
	for i := 0; i < 100; i++ {
		r := e.must(e.do("GET", next, nil), 200)
		items = append(items, r.values()...)
		if dl := r.str("@odata.deltaLink"); dl != "" {
			return items, dl
		}
		next = r.str("@odata.nextLink")
		if next == "" {
			e.t.Fatalf("delta page without nextLink or deltaLink: %s", r.raw)
		}
	}
	e.t.Fatal("delta round does not end")
	return nil, ""
}

func byID(items []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, it := range items {
		out[it["id"].(string)] = it
	}
	return out
}

func TestDeltaRounds(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := newEnvWith(t, manyUsers(testDataset(), 150), Options{Clock: func() time.Time { return now }})
	items, userLink := e.deltaRound("/v1.0/users/delta?$select=displayName,jobTitle")
	if len(items) != 153 || len(items[0]) != 3 {
		t.Fatalf("first users round: %d items, first %v", len(items), items[0])
	}
	items, groupLink := e.deltaRound("/v1.0/groups/microsoft.graph.delta")
	groups := byID(items)
	if md, _ := groups[tSecGroup]["members@delta"].([]any); len(md) != 2 {
		t.Fatalf("group members@delta in the first round: %v", groups[tSecGroup])
	}
	// Nothing changed: empty round.
	if items, _ := e.deltaRound(userLink); len(items) != 0 {
		t.Errorf("no-change round: %v", items)
	}
	// Changes: an update of a selected property, one of an unselected one, a soft
	// delete, a hard delete, a create, and membership changes.
	e.must(e.do("PATCH", "/v1.0/users/"+tAlice, map[string]any{"jobTitle": "CISO"}), 204)
	e.must(e.do("PATCH", "/v1.0/users/"+tBob, map[string]any{"department": "Untracked"}), 204)
	e.must(e.do("DELETE", "/v1.0/users/"+tCarol, nil), 204)
	newID := e.must(e.do("POST", "/v1.0/users", newUserBody("erin")), 201).str("id")
	e.must(e.do("DELETE", "/v1.0/users/99999999-0000-4000-8000-000000000000", nil), 204)
	e.must(e.do("DELETE", "/v1.0/directory/deletedItems/99999999-0000-4000-8000-000000000000", nil), 204)
	e.must(e.do("DELETE", "/v1.0/groups/"+tSecGroup+"/members/"+tBob+"/$ref", nil), 204)
	e.must(e.do("POST", "/v1.0/groups/"+tSecGroup+"/members/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + newID}), 204)

	items, userLink2 := e.deltaRound(userLink)
	got := byID(items)
	if got[tAlice]["jobTitle"] != "CISO" || got[tBob] != nil || len(got) != 4 {
		t.Errorf("changed users: %v", items)
	}
	if rm, _ := got[tCarol]["@removed"].(map[string]any); rm["reason"] != "changed" {
		t.Errorf("soft delete: %v", got[tCarol])
	}
	if rm, _ := got["99999999-0000-4000-8000-000000000000"]["@removed"].(map[string]any); rm["reason"] != "deleted" {
		t.Errorf("hard delete: %v", got)
	}
	if got[newID]["displayName"] != "New erin" {
		t.Errorf("created: %v", got[newID])
	}
	items, _ = e.deltaRound(groupLink)
	got = byID(items)
	md, _ := got[tSecGroup]["members@delta"].([]any)
	if len(md) != 2 {
		t.Fatalf("members@delta: %v", got[tSecGroup])
	}
	for _, m := range md {
		mm := m.(map[string]any)
		_, removed := mm["@removed"]
		if (mm["id"] == tBob) != removed || mm["@odata.type"] != "#microsoft.graph.user" {
			t.Errorf("member entry %v", mm)
		}
	}
	// A token older than seven days of sim clock is gone.
	e.sim.Advance(8 * 24 * time.Hour)
	r := e.do("GET", userLink2, nil)
	if r.status != 410 || !strings.HasSuffix(r.header.Get("Location"), "/v1.0/users/delta") {
		t.Errorf("expired token: %d %s %v", r.status, r.raw, r.header)
	}
	// latest: a deltaLink and no data.
	r = e.must(e.do("GET", "/v1.0/users/delta?$deltatoken=latest", nil), 200)
	if len(r.values()) != 0 || r.str("@odata.deltaLink") == "" {
		t.Errorf("latest: %s", r.raw)
	}
	if r := e.do("GET", "/v1.0/users/delta?$deltatoken="+url.QueryEscape("forged"), nil); r.status != 400 {
		t.Errorf("forged token: %d", r.status)
	}
}

// TestDeltaReportsMembershipsOfDeletedAndRestoredMembers: a member soft-deleted leaves
// its groups and a restore brings it back (graph-spec §7), and a restored group is
// listed with its members, as a created one is.
func TestDeltaReportsMembershipsOfDeletedAndRestoredMembers(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, testDataset(), Options{})
	items, link := e.deltaRound("/v1.0/groups/delta?$expand=members")
	first, _ := byID(items)[tSecGroup]["members@delta"].([]any)
	var member string
	for _, m := range first {
		if mm := m.(map[string]any); mm["@odata.type"] == "#microsoft.graph.user" {
			member = mm["id"].(string)
			break
		}
	}
	if member == "" {
		t.Fatalf("the test group has no user member: %v", first)
	}
	// entries is the group's members@delta in a round: member id -> removed.
	entries := func(items []map[string]any) map[string]bool {
		out := map[string]bool{}
		md, _ := byID(items)[tSecGroup]["members@delta"].([]any)
		for _, m := range md {
			mm := m.(map[string]any)
			_, removed := mm["@removed"]
			out[mm["id"].(string)] = removed
		}
		return out
	}
	e.must(e.do("DELETE", "/v1.0/users/"+member, nil), 204)
	items, link = e.deltaRound(link)
	if got := entries(items); len(got) != 1 || !got[member] {
		t.Fatalf("a soft-deleted member should be removed from its group: %v", items)
	}
	e.must(e.do("POST", "/v1.0/directory/deletedItems/"+member+"/restore", nil), 200)
	items, link = e.deltaRound(link)
	if got := entries(items); len(got) != 1 || got[member] {
		t.Fatalf("a restored member should be back in its group: %v", items)
	}
	e.must(e.do("DELETE", "/v1.0/groups/"+tSecGroup, nil), 204)
	_, link = e.deltaRound(link)
	e.must(e.do("POST", "/v1.0/directory/deletedItems/"+tSecGroup+"/restore", nil), 200)
	items, _ = e.deltaRound(link)
	if got := entries(items); len(got) != len(first) {
		t.Fatalf("a restored group should list its %d members: %v", len(first), items)
	}
}

func TestDeltaLargeGroupSpansPages(t *testing.T) {
	t.Parallel()
	ds := manyUsers(testDataset(), 1200)
	for i := 0; i < 1200; i++ {
		ds.Links = append(ds.Links, Link{FromKind: "group", From: tM365Group, Name: "members", ToKind: "user", To: ds.Objects[len(ds.Objects)-1-i].ID})
	}
	e := newEnvWith(t, ds, Options{})
	items, _ := e.deltaRound("/v1.0/groups/delta")
	members := map[string]bool{}
	for _, it := range items {
		if it["id"] != tM365Group {
			continue
		}
		md, _ := it["members@delta"].([]any)
		for _, m := range md {
			members[m.(map[string]any)["id"].(string)] = true
		}
	}
	if len(members) != 1200 {
		t.Errorf("members across pages: %d", len(members))
	}
}

// Prefer: odata.maxpagesize sizes delta pages (up to 200), on the pages after the first
// too, whether or not the client sends the header again; the whole round is the same.
func TestDeltaPreferMaxPageSize(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, manyUsers(testDataset(), 1200), Options{})
	plain, _ := e.deltaRound("/v1.0/users/delta?$select=id,manager")
	r := e.must(e.do("GET", "/v1.0/users/delta?$select=id,manager", nil, "Prefer", "odata.maxpagesize=150"), 200)
	if n := len(r.values()); n != 150 {
		t.Fatalf("first page of 150: %d items", n)
	}
	if got := r.header.Get("Preference-Applied"); got != "odata.maxpagesize=150" {
		t.Fatalf("Preference-Applied %q", got)
	}
	items := r.values()
	for next := r.str("@odata.nextLink"); next != ""; {
		r = e.must(e.do("GET", next, nil), 200)
		if n := len(r.values()); n != 150 && r.str("@odata.deltaLink") == "" {
			t.Fatalf("a middle page of %d items", n)
		}
		items = append(items, r.values()...)
		next = r.str("@odata.nextLink")
	}
	if len(items) != len(plain) || len(items) < 1200 {
		t.Fatalf("%d items with large pages, %d without", len(items), len(plain))
	}
	// The next round, from the deltaLink and without the preference, keeps its size.
	r = e.must(e.do("GET", "/v1.0/users/delta?$select=id,jobTitle", nil, "Prefer", "odata.maxpagesize=150"), 200)
	for r.str("@odata.nextLink") != "" {
		r = e.must(e.do("GET", r.str("@odata.nextLink"), nil), 200)
	}
	for i := range 160 {
		e.must(e.do("PATCH", fmt.Sprintf("/v1.0/users/99999999-0000-4000-8000-%012d", i), map[string]any{"jobTitle": "Moved"}), 204)
	}
	next := e.must(e.do("GET", r.str("@odata.deltaLink"), nil), 200)
	if n := len(next.values()); n != 150 {
		t.Fatalf("first page of the next round: %d items, want the 150 the round was asked for", n)
	}
	big := e.must(e.do("GET", "/v1.0/users/delta?$select=id", nil, "Prefer", "return=minimal, odata.maxpagesize=5000"), 200)
	if n := len(big.values()); n != maxDeltaPageSize {
		t.Fatalf("odata.maxpagesize=5000: %d items, want the maximum %d", n, maxDeltaPageSize)
	}
	if got := preferredPageSize(http.Header{"Prefer": {"odata.maxpagesize=0"}}); got != 0 {
		t.Fatalf("odata.maxpagesize=0 read as %d", got)
	}
}

// TestDeltaLargePagesBoundMembers: with a large preferred page size, a first round of
// groups ends a page once it holds maxPageMembers member entries (Graph may send fewer
// items than asked), and the next pages bring every group and member.
func TestDeltaLargePagesBoundMembers(t *testing.T) {
	t.Parallel()
	const groups, users = 30, 400
	ds := manyUsers(testDataset(), users)
	for g := range groups {
		id := fmt.Sprintf("88888888-0000-4000-8000-%012d", g)
		ds.Objects = append(ds.Objects, obj(entra.KindGroup, id, map[string]any{"displayName": fmt.Sprintf("Big%02d", g),
			"mailEnabled": false, "mailNickname": fmt.Sprintf("big%02d", g), "securityEnabled": true, "groupTypes": []string{}}))
		for u := range users {
			ds.Links = append(ds.Links, Link{FromKind: entra.KindGroup, From: id, Name: "members", ToKind: entra.KindUser,
				To: fmt.Sprintf("99999999-0000-4000-8000-%012d", u)})
		}
	}
	e := newEnvWith(t, ds, Options{})
	members := func(r response) int {
		n := 0
		for _, v := range r.values() {
			m, _ := v["members@delta"].([]any)
			n += len(m)
		}
		return n
	}
	r := e.must(e.do("GET", "/v1.0/groups/delta?$select=id,displayName,members", nil, "Prefer", "odata.maxpagesize=200"), 200)
	if n := members(r); len(r.values()) >= groups || n < maxPageMembers || n >= maxPageMembers+memberChunk {
		t.Fatalf("first page: %d groups, %d member entries; want it cut once it holds %d", len(r.values()), n, maxPageMembers)
	}
	total := map[string]int{}
	for {
		for _, v := range r.values() {
			m, _ := v["members@delta"].([]any)
			total[v["id"].(string)] += len(m)
		}
		next := r.str("@odata.nextLink")
		if next == "" {
			break
		}
		r = e.must(e.do("GET", next, nil), 200)
	}
	big := 0
	for id, n := range total {
		if strings.HasPrefix(id, "88888888-") {
			big++
			if n != users {
				t.Errorf("group %s: %d members over the round, want %d", id, n, users)
			}
		}
	}
	if big != groups {
		t.Fatalf("%d of %d groups in the round", big, groups)
	}
}
