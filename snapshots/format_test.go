package snapshots

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
)

func TestObjectDeltasRebuildEveryVersion(t *testing.T) {
	t.Parallel()
	base := []byte(`{"a":1,"b":"x","c":[1,2],"d":{"e":null},"id":"u1"}`)
	for _, doc := range []string{
		`{"a":1,"b":"y","c":[1,2],"d":{"e":null},"id":"u1"}`,           // changed
		`{"a":1,"c":[1,2],"d":{"e":null},"id":"u1"}`,                   // removed
		`{"a":1,"aa":true,"b":"x","c":[1,2],"d":{"e":null},"id":"u1"}`, // added
		`{"a":1,"b":"x","c":[1,2],"d":{"e":null},"id":"u1","z":0}`,     // added last
		`{"0":false,"a":1,"b":"x","c":[1,2],"d":{"e":null},"id":"u1"}`, // added first
	} {
		// Padded so that a delta pays.
		pad := `"id":"u1","pad":"` + strings.Repeat("x", 200) + `"`
		padded, doc := bytes.Replace(base, []byte(`"id":"u1"`), []byte(pad), 1), strings.Replace(doc, `"id":"u1"`, pad, 1)
		d := makeDelta(7, padded, []byte(doc))
		if d == nil {
			t.Fatalf("no delta for %s", doc)
		}
		id, rest, err := deltaBase(d)
		if err != nil || id != 7 {
			t.Fatalf("delta base: %d %v", id, err)
		}
		got, err := patchVersion(padded, rest)
		if err != nil || string(got) != doc {
			t.Fatalf("patch(%q) = %s, %v; want %s", d, got, err, doc)
		}
	}
	// A realistic object: one property changed costs a few bytes, not the object again.
	var b strings.Builder
	b.WriteString(`{"id":"u1"`)
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&b, `,"p%02d":"value number %d"`, i, i)
	}
	b.WriteString("}")
	big := []byte(b.String())
	changed := bytes.Replace(big, []byte(`"value number 7"`), []byte(`"seven"`), 1)
	d := makeDelta(1, big, changed)
	if d == nil || len(d) > 30 {
		t.Fatalf("delta of one property is %d bytes: %q", len(d), d)
	}
	// Escaped keys sort by their decoded text: no delta is made for them.
	if d := makeDelta(1, []byte(`{"a\u0062":1,"id":"x"}`), []byte(`{"a\u0062":2,"id":"x"}`)); d != nil {
		t.Fatalf("delta over escaped keys: %q", d)
	}
	for _, bad := range [][]byte{{deltaMarker}, {deltaMarker, 0}, {deltaMarker, 1, 5, 'a'}, {deltaMarker, 1, 1, 'a', 9, 'x'}} {
		if _, rest, err := deltaBase(bad); err == nil {
			if _, err := patchVersion(base, rest); err == nil {
				t.Errorf("malformed delta %q accepted", bad)
			}
		}
	}
}

func TestLinkSetsAndNamesRoundTrip(t *testing.T) {
	t.Parallel()
	ns := []int64{1, 2, 3, 200, 70000, 1 << 40}
	enc := appendSet(nil, ns)
	got, rest, err := readSet(enc, nil)
	if err != nil || len(rest) != 0 || fmt.Sprint(got) != fmt.Sprint(ns) {
		t.Fatalf("set %v -> %v %v %v", ns, got, rest, err)
	}
	if _, _, err := readSet([]byte{3, 1, 0}, nil); err == nil {
		t.Error("a set with a repeated number was accepted")
	}
	refs := appendRefs(nil, []namedSet{{"manager", []int64{42}}, {"x", []int64{1, 9}}})
	sets, err := readRefs(refs)
	if err != nil || len(sets) != 2 || sets[0].name != "manager" || sets[0].ns[0] != 42 || sets[1].ns[1] != 9 {
		t.Fatalf("refs: %+v %v", sets, err)
	}

	var e namesEncoder
	g, _ := ParseGUID("c3c65c8d-a1bc-4bc4-80d5-8c270ebca656")
	e.add(entra.KindUser, &g, "")
	e.add(entra.KindRoleAssignment, nil, "lAPpYvVpN0KRkAEhdxReEJC2sEqbR_9Hr-1Vi8QS0yw-1")
	e.add(entra.KindUser, nil, "C3C65C8D-A1BC-4BC4-80D5-8C270EBCA656")
	var out []string
	err = decodeNames(e.bytes(), func(i int, kind entra.Kind, guid *[16]byte, id string) {
		if guid != nil {
			id = string(appendGUID(nil, guid))
		}
		out = append(out, fmt.Sprintf("%d %s %s", i, kind, id))
	})
	want := "0 user c3c65c8d-a1bc-4bc4-80d5-8c270ebca656|1 unifiedRoleAssignment lAPpYvVpN0KRkAEhdxReEJC2sEqbR_9Hr-1Vi8QS0yw-1|2 user C3C65C8D-A1BC-4BC4-80D5-8C270EBCA656"
	if err != nil || strings.Join(out, "|") != want {
		t.Fatalf("names: %v %v", out, err)
	}
	if err := decodeNames([]byte{1, 1, 4, 'u', 's', 'e', 'r', 0, 0, 1}, func(int, entra.Kind, *[16]byte, string) {}); err == nil {
		t.Error("a truncated names row was accepted")
	}
}

// Versions of one object over several snapshots: whole, then deltas against it; links
// that change alone cost a link row, a manager change costs a manifest row; every
// snapshot reads back as it was written and verifies.
func TestVersionsLinksAndManagersAcrossSnapshots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	user := func(i int, title string) []byte {
		var b strings.Builder
		fmt.Fprintf(&b, `{"id":"00000000-0000-0000-0000-%012d","jobTitle":%q`, i, title)
		for p := 0; p < 40; p++ {
			fmt.Fprintf(&b, `,"prop%02d":"some value that takes room %d"`, p, p)
		}
		b.WriteString("}")
		return []byte(b.String())
	}
	uid := func(i int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", i) }
	type day struct {
		titles  map[int]string
		manager map[int]int
		members []int
	}
	days := []day{
		{titles: map[int]string{1: "a", 2: "a", 3: "a"}, manager: map[int]int{2: 1, 3: 1}, members: []int{1, 2}},
		{titles: map[int]string{1: "b", 2: "a", 3: "a"}, manager: map[int]int{2: 1, 3: 1}, members: []int{1, 2, 3}},
		{titles: map[int]string{1: "c", 2: "a", 3: "a"}, manager: map[int]int{2: 1, 3: 2}, members: []int{1, 2, 3}},
		{titles: map[int]string{1: "c", 2: "a"}, manager: map[int]int{2: 1}, members: []int{2}},
	}
	var snaps []Snapshot
	for _, d := range days {
		w, err := s.Begin(ctx, SnapshotMeta{TenantID: "tenant-1"})
		if err != nil {
			t.Fatal(err)
		}
		for i, title := range d.titles {
			if err := w.PutObject(ctx, entra.KindUser, uid(i), user(i, title), false); err != nil {
				t.Fatal(err)
			}
		}
		for u, m := range d.manager {
			w.PutLink(ctx, Link{Kind: entra.KindUser, From: uid(u), Name: "manager", To: uid(m), ToKind: entra.KindUser})
		}
		w.PutObject(ctx, entra.KindGroup, "g1", []byte(`{"id":"g1","displayName":"All"}`), false)
		for _, m := range d.members {
			w.PutLink(ctx, Link{Kind: entra.KindGroup, From: "g1", Name: "members", To: uid(m), ToKind: entra.KindUser})
		}
		w.PruneLinks(ctx)
		snap, err := w.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, snap)
	}
	for k, d := range days {
		snap := snaps[k].ID
		n := 0
		if err := s.Objects(ctx, snap, entra.KindUser, func(o Object) error {
			n++
			var i int
			fmt.Sscanf(o.ID[24:], "%d", &i)
			if want := user(i, d.titles[i]); !bytes.Equal(o.JSON, want) || HashOf(o.JSON) != o.Hash {
				t.Errorf("snapshot %d: %s = %s", snap, o.ID, o.JSON)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var links []string
		s.Links(ctx, snap, func(l Link) error {
			links = append(links, fmt.Sprintf("%s %s %s", l.From, l.Name, l.To[24:]))
			return nil
		})
		want := []string{}
		for _, m := range d.members {
			want = append(want, fmt.Sprintf("g1 members %012d", m))
		}
		for u := 1; u <= 3; u++ {
			if m, ok := d.manager[u]; ok {
				want = append(want, fmt.Sprintf("%s manager %012d", uid(u), m))
			}
		}
		if n != len(d.titles) || strings.Join(links, "|") != strings.Join(want, "|") {
			t.Errorf("snapshot %d: %d users, links %v, want %v", snap, n, links, want)
		}
	}
	var rows, setRows, deltas int
	s.r.QueryRow("SELECT count(*) FROM objects").Scan(&rows)
	s.r.QueryRow("SELECT count(*) FROM links").Scan(&setRows)
	s.r.QueryRow("SELECT count(*) FROM blobs WHERE hex(substr(data, 1, 1)) <> '7B'").Scan(&deltas)
	// Users 1-3 and g1; u1 changed twice (two deltas); u3 changed manager (day 3); g1
	// kept its row while its members changed on days 2 and 4.
	if rows != 4+2+1 || setRows != 3 || deltas != 2 {
		t.Errorf("manifest rows %d, link rows %d, deltas %d", rows, setRows, deltas)
	}
	if rep, err := s.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
