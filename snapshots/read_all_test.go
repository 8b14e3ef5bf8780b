package snapshots

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// AllObjects must give exactly what collecting Objects gives, for whole versions,
// versions stored as deltas, shared versions and recycle-bin objects alike.
func TestAllObjectsIsObjects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	var first, second []fakeObj
	for i := range 300 {
		id := fmt.Sprintf("u-%03d", 299-i)
		doc := fmt.Sprintf(`{"id":%q,"displayName":"User %d","department":"Sales","jobTitle":"Clerk %d","city":"Lyon"}`, id, i, i)
		first = append(first, fakeObj{entra.KindUser, id, doc, false})
		switch i % 3 {
		case 0: // changed: stored as a delta against the first version
			doc = fmt.Sprintf(`{"id":%q,"displayName":"User %d","department":"Finance","jobTitle":"Clerk %d","city":"Lyon"}`, id, i, i)
		case 1:
			continue // deleted
		}
		second = append(second, fakeObj{entra.KindUser, id, doc, i%5 == 0})
	}
	for i := range 5 { // identical objects may share a version
		first = append(first, fakeObj{entra.KindGroup, fmt.Sprintf("g-%d", i), `{"displayName":"Same"}`, false})
	}
	snaps := []Snapshot{put(t, s, t0, first, nil, nil), put(t, s, t0.Add(24*time.Hour), second, nil, nil)}
	for _, snap := range snaps {
		var want []Object
		if err := s.Objects(ctx, snap.ID, "", func(o Object) error { want = append(want, o); return nil }); err != nil {
			t.Fatal(err)
		}
		got, err := s.AllObjects(ctx, snap.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("snapshot %d: AllObjects gave %d objects, Objects %d", snap.ID, len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("snapshot %d, object %d: AllObjects gave %+v, Objects %+v", snap.ID, i, got[i], want[i])
			}
		}
	}
}

// readBlobsInOrder reads dense runs of ids with range queries and sparse ones by id:
// both must give each wanted version, unpacked, and nil for one the file lacks.
func TestReadBlobsInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	var objs []fakeObj
	for i := range 9000 {
		objs = append(objs, fakeObj{entra.KindUser, fmt.Sprintf("u-%05d", i), fmt.Sprintf(`{"department":"Sales","displayName":"User %d","jobTitle":"Account Executive","mail":"user%d@contoso.example","userPrincipalName":"user%d@contoso.example"}`, i, i, i), false})
	}
	put(t, s, t0, objs, nil, nil)
	var all []int64
	rows, err := s.r.QueryContext(ctx, "SELECT id FROM blobs ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		all = append(all, id)
	}
	rows.Close()
	var packed int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM blobs WHERE substr(data, 1, 1) = x'02'").Scan(&packed); err != nil || packed < len(all)/2 {
		t.Fatalf("%d of %d versions packed (%v); the test needs most of them packed", packed, len(all), err)
	}
	last := all[len(all)-1]
	c, err := openRawConn(s.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for name, ids := range map[string][]int64{
		"dense":  all,
		"sparse": {all[0], all[100], all[4000], all[8999]},
		"mixed":  append(append(append([]int64{}, all[:5000:5000]...), all[7000], last+1), last+50_000),
		"half":   everyOther(all),
	} {
		got, err := readBlobsInOrder(ctx, c, &s.dicts, ids)
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.readBlobs(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			w, ok := want[id]
			if ok {
				if w, err = wholeVersion(ctx, &s.dicts, w); err != nil {
					t.Fatal(err)
				}
			}
			if ok != (got[i] != nil) || string(got[i]) != string(w) {
				t.Fatalf("%s: blob %d: got %q (present %v), want %q (present %v)", name, id, got[i], got[i] != nil, w, ok)
			}
		}
	}
}

func everyOther(ids []int64) []int64 {
	var out []int64
	for i := 0; i < len(ids); i += 2 {
		out = append(out, ids[i])
	}
	return out
}

// The versionReader's versions are copies of their own: changing or appending to one
// leaves the others as stored, an empty version is not a missing one, and a cancelled
// read stops with the context's error.
func TestVersionReaderCopies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.w.ExecContext(ctx, "INSERT INTO blobs (id, data) VALUES (1, CAST('one' AS BLOB)), (2, CAST('two' AS BLOB)), (3, x''), (5, CAST('five' AS BLOB))"); err != nil {
		t.Fatal(err)
	}
	c, err := openRawConn(s.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	r, err := newVersionReader(c, &s.dicts)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int64{1, 2, 3, 4, 5}
	got := make([][]byte, len(ids))
	if err := r.readRange(ctx, ids, got); err != nil {
		t.Fatal(err)
	}
	want := []string{"one", "two", "", "", "five"}
	for i := range ids {
		if string(got[i]) != want[i] || (got[i] == nil) != (ids[i] == 4) {
			t.Fatalf("version %d: got %q (nil %v), want %q", ids[i], got[i], got[i] == nil, want[i])
		}
	}
	got[0] = append(got[0], "-and-more"...)
	got[1][0] = 'T'
	if string(got[1]) != "Two" || string(got[4]) != "five" {
		t.Fatalf("changing one version changed another: %q %q", got[1], got[4])
	}
	if d, ok, err := r.readOne(ctx, 5); err != nil || !ok || string(d) != "five" {
		t.Fatalf("readOne(5) = %q, %v, %v", d, ok, err)
	}
	if d, ok, err := r.readOne(ctx, 4); err != nil || ok || d != nil {
		t.Fatalf("readOne(4) = %q, %v, %v; want missing", d, ok, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := readBlobsInOrder(cancelled, c, &s.dicts, ids); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled read gave %v", err)
	}
	if _, err := s.AllObjects(cancelled, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled AllObjects gave %v", err)
	}
}

// A file that is not there cannot be read from, and says so; nor can a query the file
// has no table for.
func TestRawConnErrors(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gone.db")
	if _, err := openRawConn(path); err == nil || !strings.Contains(err.Error(), "cannot open "+path) {
		t.Fatalf("opening a missing file gave %v", err)
	}
	s := newStore(t)
	c, err := openRawConn(s.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if _, err := c.prepare("SELECT data FROM no_such_table"); err == nil || !strings.Contains(err.Error(), "no such table: no_such_table") {
		t.Fatalf("preparing a query of a missing table gave %v", err)
	}
}

// A statement past its last row stays there until it is started again: SQLite would
// run it anew on the next step, and a reader that asks once too often would loop.
func TestRawStmtStaysDone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	c, err := openRawConn(s.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	st, err := c.prepare("SELECT ?1")
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		st.start(int64(round + 7))
		var got []int64
		for range 4 {
			ok, err := st.next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				got = append(got, st.int64(0))
			}
		}
		if len(got) != 1 || got[0] != int64(round+7) {
			t.Fatalf("round %d: rows %v, want [%d]", round, got, round+7)
		}
	}
}

// A snapshot's recorded counts only size the manifest's slice: damaged ones (huge,
// negative, summing past the largest int, not JSON in the file) give a small capacity
// or none, and the objects are read all the same.
func TestObjectCapacityIsAHint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	snap := put(t, s, t0, []fakeObj{{entra.KindUser, "u1", `{"id":"u1","displayName":"One"}`, false}}, nil, nil)
	if n := objectCapacity(snap); n != 1 {
		t.Fatalf("objectCapacity of an intact snapshot = %d, want 1", n)
	}
	for _, counts := range [][2]map[string]int{
		{{"user": math.MaxInt}, {"group": 1}},
		{{"user": -5}, {}},
	} {
		damaged := snap
		damaged.Counts, damaged.BinCounts = counts[0], counts[1]
		if n := objectCapacity(damaged); n < 0 || n > 1<<18 {
			t.Errorf("counts %v, %v: objectCapacity = %d", counts[0], counts[1], n)
		}
		var l Loaded
		if err := l.LoadObjects(ctx, State{Store: s, Snapshot: damaged}); err != nil || len(l.Objects) != 1 {
			t.Errorf("counts %v, %v: LoadObjects = %d objects, %v", counts[0], counts[1], len(l.Objects), err)
		}
	}
	for _, counts := range [][2]string{
		{`{"user":9223372036854775807}`, `{"group":1}`},
		{`{"user":-5}`, `{}`},
		{`not json`, `{}`},
	} {
		if _, err := s.w.ExecContext(ctx, "UPDATE snapshots SET counts = ?, bin_counts = ? WHERE id = ?", counts[0], counts[1], snap.ID); err != nil {
			t.Fatal(err)
		}
		if objs, err := s.AllObjects(ctx, snap.ID); err != nil || len(objs) != 1 {
			t.Errorf("counts %s, %s: AllObjects = %d objects, %v", counts[0], counts[1], len(objs), err)
		}
	}
}
