package snapshots

import (
	"context"
	"fmt"
	"reflect"
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
