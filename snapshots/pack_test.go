package snapshots

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
)

// packUser is a user as a capture stores it: large enough, with enough in common with
// the others, that packing it pays.
func packUser(i int, dept string) []byte {
	return []byte(fmt.Sprintf(`{"accountEnabled":true,"businessPhones":["+1 425 555 %04d"],"city":"Redmond","country":"United States",`+
		`"department":%q,"displayName":"User %d","givenName":"User","id":"p%d","jobTitle":"Account Executive","mail":"user%d@contoso.example",`+
		`"mailNickname":"user%d","officeLocation":"18/%d","usageLocation":"US","userPrincipalName":"user%d@contoso.example","userType":"Member"}`,
		i%10000, dept, i, i, i, i, i, i))
}

func putUsers(t *testing.T, s *Store, ids []int, dept func(int) string) Snapshot {
	t.Helper()
	ctx := context.Background()
	w, err := s.Begin(ctx, SnapshotMeta{TenantID: "tenant-1", GraphURL: "http://sim/v1.0", TakenAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Rollback() // after a failure, so that the store can close
	for _, i := range ids {
		if err := w.PutObject(ctx, entra.KindUser, fmt.Sprintf("p%d", i), packUser(i, dept(i)), false); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func blobForms(t *testing.T, s *Store) (plain, packed, deltas int) {
	t.Helper()
	rows, err := s.r.Query("SELECT substr(data, 1, 1) FROM blobs")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		switch b[0] {
		case '{':
			plain++
		case packedMarker:
			packed++
		case deltaMarker:
			deltas++
		}
	}
	return plain, packed, deltas
}

// Versions are packed once their kind has a dictionary, made from its first versions
// (which stay whole) and written once; later snapshots pack with it, store changes as
// deltas against packed versions, and every reader gets the exact canonical JSON back.
func TestPackedVersionsRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	const n = 3000
	var ids []int
	for i := range n {
		ids = append(ids, i)
	}
	first := putUsers(t, s, ids, func(int) string { return "Sales" })
	plain, packed, _ := blobForms(t, s)
	var dicts int
	s.r.QueryRow("SELECT count(*) FROM dicts").Scan(&dicts)
	if dicts != 1 || packed < n*9/10 || plain+packed != n {
		t.Fatalf("after the first snapshot: %d dictionaries, %d plain, %d packed", dicts, plain, packed)
	}
	var stored, whole int
	s.r.QueryRow("SELECT sum(length(data)) FROM blobs").Scan(&stored)
	for _, i := range ids {
		whole += len(packUser(i, "Sales"))
	}
	if stored*3 > whole {
		t.Errorf("versions take %d bytes packed, %d whole: packing should save at least two thirds", stored, whole)
	}

	// A day later: a tenth moved to Marketing, and 100 users joined.
	changed := func(i int) string {
		if i%10 == 0 {
			return "Marketing"
		}
		return "Sales"
	}
	for i := n; i < n+100; i++ {
		ids = append(ids, i)
	}
	second := putUsers(t, s, ids, changed)
	plain2, packed2, deltas := blobForms(t, s)
	s.r.QueryRow("SELECT count(*) FROM dicts").Scan(&dicts)
	if dicts != 1 || deltas != n/10 || packed2 != packed+100 || plain2 != plain {
		t.Fatalf("after the second snapshot: %d dictionaries, %d plain, %d packed, %d deltas", dicts, plain2, packed2, deltas)
	}

	for _, c := range []struct {
		snap Snapshot
		n    int
		dept func(int) string
	}{{first, n, func(int) string { return "Sales" }}, {second, n + 100, changed}} {
		want := map[string]string{}
		for i := range c.n {
			want[fmt.Sprintf("p%d", i)] = string(packUser(i, c.dept(i)))
		}
		got := 0
		if err := s.Objects(ctx, c.snap.ID, entra.KindUser, func(o Object) error {
			got++
			if string(o.JSON) != want[o.ID] {
				t.Errorf("snapshot %d: Objects gave %s as %s", c.snap.ID, o.ID, o.JSON)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		all, err := s.AllObjects(ctx, c.snap.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range all {
			if string(o.JSON) != want[o.ID] {
				t.Errorf("snapshot %d: AllObjects gave %s as %s", c.snap.ID, o.ID, o.JSON)
			}
		}
		if got != c.n || len(all) != c.n {
			t.Errorf("snapshot %d: %d objects from Objects, %d from AllObjects, want %d", c.snap.ID, got, len(all), c.n)
		}
	}
	if rep, err := s.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	d, err := Diff(ctx, State{Store: s, Snapshot: first}, State{Store: s, Snapshot: second}, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Changes) != n/10+100 {
		t.Errorf("diff: %d changes, want %d", len(d.Changes), n/10+100)
	}
}

// A dictionary made by a snapshot that rolled back is not in the file, and the next
// snapshot makes its own under the same id without confusion.
func TestPackedVersionsAfterRollback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	w, err := s.Begin(ctx, SnapshotMeta{TenantID: "tenant-1", TakenAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := w.PutObject(ctx, entra.KindUser, fmt.Sprintf("p%d", i), packUser(i, "Rolled back"), false); err != nil {
			t.Fatal(err)
		}
	}
	w.Rollback()
	var ids []int
	for i := range 1000 {
		ids = append(ids, i)
	}
	snap := putUsers(t, s, ids, func(int) string { return "Kept" })
	if _, packed, _ := blobForms(t, s); packed == 0 {
		t.Fatal("nothing was packed")
	}
	if err := s.Objects(ctx, snap.ID, entra.KindUser, func(o Object) error {
		if !strings.Contains(string(o.JSON), `"department":"Kept"`) {
			t.Errorf("%s = %s", o.ID, o.JSON)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// Damage to a packed version, to the dictionary it names or to its length prefix is
// reported by verify as damage to that object, never as a crash or a huge allocation.
func TestDamagedPackedVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var ids []int
	for i := range 1000 {
		ids = append(ids, i)
	}
	// Each case damages the first packed version (data) or the dictionary (nil data).
	cases := map[string]func(data []byte) []byte{
		"flipped byte":       func(d []byte) []byte { d[len(d)/2] ^= 0x10; return d },
		"missing dictionary": func(d []byte) []byte { d[1] = 7; return d },
		"huge length":        func(d []byte) []byte { return append([]byte{packedMarker, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}, d[4:]...) },
		"truncated":          func(d []byte) []byte { return d[:12] },
		"marker alone":       func(d []byte) []byte { return d[:1] },
		"damaged dictionary": nil,
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			putUsers(t, s, ids, func(int) string { return "Sales" })
			var victim int64
			var victimID string
			var data []byte
			if err := s.r.QueryRow("SELECT b.id, o.id, b.data FROM blobs b JOIN objects o ON o.blob = b.id WHERE substr(b.data, 1, 1) = x'02' ORDER BY b.id LIMIT 1").Scan(&victim, &victimID, &data); err != nil {
				t.Fatal(err)
			}
			if data[1] != 1 {
				t.Fatalf("the first packed version names dictionary %d, want 1", data[1])
			}
			var err error
			if damage == nil {
				_, err = s.w.Exec("UPDATE dicts SET data = x'00'")
			} else {
				_, err = s.w.Exec("UPDATE blobs SET data = ? WHERE id = ?", damage(data), victim)
			}
			if err != nil {
				t.Fatal(err)
			}
			s.dicts.byID = nil // as a fresh process would find the file
			rep, err := s.Verify(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("verify found nothing")
			}
			if damage != nil && (len(rep.Damage) != 1 || rep.Damage[0].ID != victimID) {
				t.Fatalf("damage = %v, want %s alone", rep.Damage, victimID)
			}
			if damage == nil && len(rep.Damage) < len(ids)/2 {
				t.Fatalf("a damaged dictionary damaged %d versions, want every packed one", len(rep.Damage))
			}
			// Readers stop with an error that sends the operator to verify (a flipped
			// byte may also unpack to other content, which only the hash catches).
			if _, err := s.AllObjects(ctx, 1); (err == nil && name != "flipped byte") || (err != nil && !strings.Contains(err.Error(), "verify")) {
				t.Errorf("reading the snapshot: %v", err)
			}
		})
	}
}

// packedLen refuses a length prefix beyond maxVersionSize before anything is allocated.
func TestPackedLengthIsBounded(t *testing.T) {
	t.Parallel()
	data := []byte{packedMarker, 1}
	data = binary.AppendUvarint(data, maxVersionSize+1)
	if _, _, _, err := packedLen(data); err == nil {
		t.Fatal("a version claiming more than maxVersionSize was accepted")
	}
}

// A damaged dictionary, or one whose id no packed version could name, does not stop
// the next capture: its kind gets a new dictionary (or is stored plain), a changed
// object whose previous version cannot be unpacked is stored whole, and the new
// snapshot reads back exactly while verify still reports the old damage.
func TestCaptureAfterDamagedDictionary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var ids []int
	for i := range 1000 {
		ids = append(ids, i)
	}
	for name, damage := range map[string]string{
		"damaged data":    "UPDATE dicts SET data = x'00'",
		"id out of range": "UPDATE dicts SET id = 4611686018427387905", // 1<<62 + 1
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			putUsers(t, s, ids, func(int) string { return "Sales" })
			if _, err := s.w.Exec(damage); err != nil {
				t.Fatal(err)
			}
			second := putUsers(t, s, ids, func(int) string { return "Marketing" })
			n := 0
			if err := s.Objects(ctx, second.ID, entra.KindUser, func(o Object) error {
				n++
				var i int
				fmt.Sscanf(o.ID, "p%d", &i)
				if string(o.JSON) != string(packUser(i, "Marketing")) {
					t.Errorf("%s = %s", o.ID, o.JSON)
				}
				return nil
			}); err != nil || n != len(ids) {
				t.Fatalf("reading the second snapshot: %d objects, %v", n, err)
			}
			rep, err := s.Verify(ctx, []int64{second.ID})
			if err != nil || !rep.OK() {
				t.Fatalf("verify of the second snapshot: %v %v", rep.Damage, err)
			}
			if rep, err := s.Verify(ctx, []int64{1}); err != nil || rep.OK() {
				t.Fatalf("verify of the first snapshot found no damage (%v)", err)
			}
		})
	}
}

// A file of a newer schema is refused by a read-only open too: this binary could
// misread what it stores, as an older one would misread packed versions.
func TestNewerSchemaIsRefusedReadOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	path := s.Path()
	if _, err := s.w.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, opts := range []OpenOptions{{ReadOnly: true}, {}} {
		_, err := Open(ctx, path, opts)
		if err == nil || !strings.Contains(err.Error(), "written by a newer lifeline (schema 99") {
			t.Errorf("open %+v: %v", opts, err)
		}
	}
}

// A writer knows which versions the previous snapshot holds, so that collectors do not
// pack what it will keep; a version it does not know is packed as before.
func TestPackerKnowsThePreviousVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	w, err := s.Begin(ctx, SnapshotMeta{TenantID: "tenant-1", TakenAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if w.pack.stored(HashOf(packUser(1, "Sales"))) {
		t.Error("an empty file's writer claims to hold a version")
	}
	w.Rollback()
	putUsers(t, s, []int{1, 2, 3}, func(int) string { return "Sales" })
	w, err = s.Begin(ctx, SnapshotMeta{TenantID: "tenant-1", TakenAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Rollback()
	for i := 1; i <= 3; i++ {
		if !w.pack.stored(HashOf(packUser(i, "Sales"))) {
			t.Errorf("user %d's stored version is not known", i)
		}
	}
	if w.pack.stored(HashOf(packUser(1, "Marketing"))) || w.pack.stored(HashOf(packUser(4, "Sales"))) {
		t.Error("a changed or new version is taken for a stored one")
	}
}

// A file of schema 2 (before packed versions) is upgraded when opened for writing: its
// plain versions read as before, and the next snapshot packs its new versions and bases
// its deltas on the old plain ones.
func TestSchema2FileUpgradesToPackedVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	path := s.Path()
	var ids []int
	for i := range 1000 {
		ids = append(ids, i)
	}
	// The old file: plain versions only, no dicts table, schema 2.
	w, err := s.Begin(ctx, SnapshotMeta{TenantID: "tenant-1", TakenAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Rollback()
	w.pack.byKind[entra.KindUser] = &kindDict{sample: nil}
	w.pack.next = 0 // no id left: nothing is packed
	for _, i := range ids {
		if err := w.PutObject(ctx, entra.KindUser, fmt.Sprintf("p%d", i), packUser(i, "Sales"), false); err != nil {
			t.Fatal(err)
		}
	}
	first, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec("DROP TABLE dicts; ALTER TABLE apply_runs DROP COLUMN last_write; PRAGMA user_version = 2"); err != nil {
		t.Fatal(err)
	}
	if _, packed, _ := blobForms(t, s); packed != 0 {
		t.Fatalf("the schema 2 file has %d packed versions", packed)
	}
	s.Close()

	s, err = Open(ctx, path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var version int
	s.r.QueryRow("PRAGMA user_version").Scan(&version)
	if version != schemaVersions() {
		t.Fatalf("schema %d after opening for writing, want %d", version, schemaVersions())
	}
	changed := func(i int) string {
		if i%10 == 0 {
			return "Marketing"
		}
		return "Sales"
	}
	second := putUsers(t, s, append(ids, 1000, 1001), changed)
	if _, packed, deltas := blobForms(t, s); packed != 2 || deltas != 100 {
		t.Fatalf("the upgraded file's next snapshot stored %d packed versions and %d deltas, want 2 and 100", packed, deltas)
	}
	for _, c := range []struct {
		snap Snapshot
		dept func(int) string
	}{{first, func(int) string { return "Sales" }}, {second, changed}} {
		all, err := s.AllObjects(ctx, c.snap.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range all {
			var i int
			fmt.Sscanf(o.ID, "p%d", &i)
			if string(o.JSON) != string(packUser(i, c.dept(i))) {
				t.Errorf("snapshot %d: %s = %s", c.snap.ID, o.ID, o.JSON)
			}
		}
	}
	if rep, err := s.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", rep.Damage, err)
	}
}
