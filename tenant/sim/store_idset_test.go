package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// An idSet keeps its ids sorted and each id's slot beside it through inserts that split
// chunks and removals that empty them; AscendSlots resumes after any id.
func TestIDSetKeepsSlotsBesideIDs(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	s := &idSet{}
	want := map[string]int32{}
	for step := range 20_000 {
		id := fmt.Sprintf("id-%05d", r.IntN(5000))
		if r.IntN(3) == 0 {
			_, had := want[id]
			if s.Remove(id) != had {
				t.Fatalf("step %d: Remove(%s) disagreed with the reference", step, id)
			}
			delete(want, id)
			continue
		}
		slot := int32(r.IntN(1 << 20))
		_, had := want[id]
		if s.AddSlot(id, slot) == had {
			t.Fatalf("step %d: AddSlot(%s) disagreed with the reference", step, id)
		}
		if !had {
			want[id] = slot
		}
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if s.Len() != len(ids) || len(s.chunks) < 2 {
		t.Fatalf("%d ids in %d chunks, want %d ids in several chunks", s.Len(), len(s.chunks), len(ids))
	}
	for _, after := range []string{"", ids[0], ids[len(ids)/2], ids[len(ids)-1]} {
		var got []string
		s.AscendSlots(after, func(id string, slot int32) bool {
			if slot != want[id] {
				t.Fatalf("%s has slot %d, want %d", id, slot, want[id])
			}
			got = append(got, id)
			return true
		})
		from, _ := slices.BinarySearch(ids, after)
		if after != "" {
			from++
		}
		if !slices.Equal(got, ids[from:]) {
			t.Fatalf("after %q: %d ids, want %d", after, len(got), len(ids)-from)
		}
	}
	for i, c := range s.chunks {
		if len(c) != len(s.slots[i]) {
			t.Fatalf("chunk %d holds %d ids and %d slots", i, len(c), len(s.slots[i]))
		}
	}
}

// A link set's member is served as the object its id names now: after an update
// replaced the object, after a soft delete hid it and a restore brought it back, and
// after a hard delete removed it.
func TestMemberSlotsFollowTheObject(t *testing.T) {
	t.Parallel()
	st := newStore("t", "contoso.example", "Contoso")
	user := &object{kind: "user", id: "u1", data: []byte(`{"id":"u1"}`)}
	st.put(&object{kind: "group", id: "g1", data: []byte(`{"id":"g1"}`)})
	st.addLink("g1", "members", "u2") // a target not yet there
	st.put(user)
	st.addLink("g1", "members", "u1")
	st.put(&object{kind: "user", id: "u2", data: []byte(`{"id":"u2"}`)})
	members := func() []string {
		var out []string
		st.linkSet("g1", "members").AscendSlots("", func(id string, slot int32) bool {
			kind, ok := st.memberKind(slot, id)
			g := st.getAny(id)
			if ok != (g != nil) || (g != nil && kind != g.kind) {
				t.Fatalf("%s: memberKind %q %v, getAny %v", id, kind, ok, g)
			}
			if ok {
				out = append(out, string(g.data))
			}
			return true
		})
		return out
	}
	if got := members(); !slices.Equal(got, []string{`{"id":"u1"}`, `{"id":"u2"}`}) {
		t.Fatalf("members %v", got)
	}
	st.put(&object{kind: "user", id: "u1", data: []byte(`{"id":"u1","v":2}`)})
	if got := members(); !slices.Equal(got, []string{`{"id":"u1","v":2}`, `{"id":"u2"}`}) {
		t.Fatalf("after an update: members %v", got)
	}
	st.put(&object{kind: "user", id: "u1", deleted: 1, data: []byte(`{"id":"u1","v":2}`)})
	if got := members(); !slices.Equal(got, []string{`{"id":"u2"}`}) {
		t.Fatalf("after a soft delete: members %v", got)
	}
	st.put(&object{kind: "user", id: "u1", data: []byte(`{"id":"u1","v":3}`)})
	if got := members(); !slices.Equal(got, []string{`{"id":"u1","v":3}`, `{"id":"u2"}`}) {
		t.Fatalf("after a restore: members %v", got)
	}
	st.drop(st.objs["u2"])
	if got := members(); !slices.Equal(got, []string{`{"id":"u1","v":3}`}) {
		t.Fatalf("after a hard delete: members %v", got)
	}
}
