package snapshots

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
)

// membersCases add to decodeFastCases what only splitting meets: names out of order,
// given twice, with escapes, and values encoding/json must refuse.
var membersCases = []string{
	`{"b":1,"a":2}`, `{"a":1,"b":2,"a":3}`, `{"a\u0062":1}`, `{"a":"\x"}`, `{"a":"\u12g4"}`,
	`{"a":[1,]}`, `{"a":{"b":1,}}`, `{"a":{"b" 1}}`, `{"a":[1 2]}`, `{"a":nul}`, `{"a":"x"`, `{"a"}`,
	`{ "z" : { "y" : [ 1 , "2" , null ] } , "a" : "\"q\"" }`,
}

func checkSplitMembers(t *testing.T, data []byte) {
	ms, ok := SplitMembers(data, nil)
	if !ok {
		return // the caller decodes the object whole
	}
	want, err := referenceDecode(data)
	if err != nil {
		t.Fatalf("SplitMembers accepted %q, which encoding/json refuses: %v", data, err)
	}
	if len(ms) != len(want) {
		t.Fatalf("%q: %d members, encoding/json finds %d", data, len(ms), len(want))
	}
	for i, m := range ms {
		if i > 0 && ms[i-1].Key >= m.Key {
			t.Fatalf("%q: members out of order: %q before %q", data, ms[i-1].Key, m.Key)
		}
		v, err := DecodeValue(m.Value)
		if err != nil {
			t.Fatalf("%q: member %q = %q does not decode: %v", data, m.Key, m.Value, err)
		}
		if !reflect.DeepEqual(v, want[m.Key]) {
			t.Fatalf("%q: member %q decodes to %#v, encoding/json gives %#v", data, m.Key, v, want[m.Key])
		}
	}
}

func TestSplitMembersIsEncodingJSON(t *testing.T) {
	for _, c := range append(append(offsetCases(), decodeFastCases...), membersCases...) {
		checkSplitMembers(t, []byte(c))
	}
	for _, c := range []string{`{"b":1,"a":2}`, `{"a":{"b" 1}}`, `{"a":1,"b":2,"a":3}`, `{"a\u0062":1,"ab":2}`, `{"a\u0062":1}`} {
		ms, ok := SplitMembers([]byte(c), nil)
		switch c {
		case `{"b":1,"a":2}`:
			if !ok || ms[0].Key != "a" || string(ms[0].Value) != "2" {
				t.Errorf("SplitMembers(%s) = %v, %v; want a sorted split", c, ms, ok)
			}
		case `{"a\u0062":1}`:
			if !ok || ms[0].Key != "ab" {
				t.Errorf("SplitMembers(%s) = %v, %v; want the name decoded", c, ms, ok)
			}
		default:
			if ok {
				t.Errorf("SplitMembers(%s) split it; it must leave it to encoding/json", c)
			}
		}
	}
}

func FuzzSplitMembers(f *testing.F) {
	for _, c := range append(append([]string{}, decodeFastCases...), membersCases...) {
		f.Add([]byte(c))
	}
	f.Fuzz(checkSplitMembers)
}

// randomValue is a JSON value of the shapes stored objects hold, small enough that two
// drawn independently are often equal.
func randomValue(r *rand.Rand, depth int) any {
	switch n := r.IntN(9); {
	case n == 0:
		return nil
	case n == 1:
		return r.IntN(2) == 0
	case n == 2:
		return json.Number(fmt.Sprint(r.IntN(3)))
	case n == 3 && depth < 3:
		m := map[string]any{}
		for i := r.IntN(3); i > 0; i-- {
			m[string(rune('a'+r.IntN(4)))] = randomValue(r, depth+1)
		}
		return m
	case n == 4 && depth < 3:
		a := []any{}
		for i := r.IntN(4); i > 0; i-- {
			a = append(a, randomValue(r, depth+1))
		}
		return a
	default:
		return []string{"Ann", "Bob", "x\"y", "é", ""}[r.IntN(5)]
	}
}

// TestDiffObjectsIsDiffTop diffs random pairs of objects by their members and by
// decoding them whole: the changes and the name must be the same.
func TestDiffObjectsIsDiffTop(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 5))
	keys := []string{"displayName", "userPrincipalName", "id", "department", "tags", "extra", "deletedDateTime", "@odata.type"}
	ignore := map[string]bool{"deletedDateTime": true, "@odata.type": false}
	for i := 0; i < 3000; i++ {
		a, b := map[string]any{}, map[string]any{}
		for _, k := range keys {
			if r.IntN(4) > 0 {
				a[k] = randomValue(r, 0)
			}
			switch r.IntN(3) {
			case 0:
				if v, ok := a[k]; ok {
					b[k] = v
				}
			case 1:
				b[k] = randomValue(r, 0)
			}
		}
		aj, _ := json.Marshal(a)
		bj, _ := json.Marshal(b)
		if i%5 == 0 {
			// Not canonical: spaces and members out of order split the same.
			bj = []byte(strings.ReplaceAll(string(bj), ",", " , "))
			aj = reorder(t, aj)
		}
		for _, kind := range []entra.Kind{entra.KindUser, entra.KindAppRoleAssignment} {
			kept := map[string]any{}
			got, name, err := diffObjects(kind, aj, bj, ignore, nil, func(k string, v any) { kept[k] = v })
			if err != nil {
				t.Fatal(err)
			}
			x, _ := decodeObject(aj)
			y, _ := decodeObject(bj)
			want := diffTop(x, y, ignore, nil)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s vs %s:\nby members %#v\nwhole      %#v", aj, bj, got, want)
			}
			// Kept: each member with changes, once, with its first value.
			wantKept := map[string]any{}
			for _, m := range [...]map[string]any{x, y} {
				for k := range m {
					if !ignore[k] && len(diffValues(k, x[k], y[k], nil)) > 0 {
						wantKept[k] = x[k]
					}
				}
			}
			if !reflect.DeepEqual(kept, wantKept) {
				t.Fatalf("%s vs %s:\nkept %#v\nwant %#v", aj, bj, kept, wantKept)
			}
			if wantName := entra.DisplayName(kind, y); name != wantName {
				t.Fatalf("%s: name %q, want %q", bj, name, wantName)
			}
		}
	}
}

// reorder writes an object's members in reverse order.
func reorder(t *testing.T, data []byte) []byte {
	ms, ok := SplitMembers(data, nil)
	if !ok {
		t.Fatalf("cannot split %s", data)
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := len(ms) - 1; i >= 0; i-- {
		k, _ := json.Marshal(ms[i].Key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(ms[i].Value)
		if i > 0 {
			b.WriteByte(',')
		}
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// TestMergeSortedIsStableSort: merging the manifest's changes with the link holders
// appended after them gives what sorting them stably gives, sorted parts or not.
func TestMergeSortedIsStableSort(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(4, 4))
	kinds := []entra.Kind{entra.KindGroup, entra.KindUser, entra.KindApplication}
	for round := 0; round < 200; round++ {
		n, m := r.IntN(20), r.IntN(20)
		var cs []Change
		for i := 0; i < n+m; i++ {
			cs = append(cs, Change{Kind: kinds[r.IntN(3)], ID: fmt.Sprint(r.IntN(30)), DisplayName: fmt.Sprint(i)})
		}
		if round%2 == 0 { // the usual case: both parts already in order
			byKey := func(a, b Change) int {
				return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.ID, b.ID))
			}
			slices.SortStableFunc(cs[:n], byKey)
			slices.SortStableFunc(cs[n:], byKey)
		}
		want := slices.Clone(cs)
		slices.SortStableFunc(want, func(a, b Change) int {
			return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.ID, b.ID))
		})
		got := mergeSorted(slices.Clone(cs), n)
		for i := range want {
			if got[i].Kind != want[i].Kind || got[i].ID != want[i].ID || got[i].DisplayName != want[i].DisplayName {
				t.Fatalf("round %d: at %d got %v/%v/%v, want %v/%v/%v", round, i, got[i].Kind, got[i].ID, got[i].DisplayName, want[i].Kind, want[i].ID, want[i].DisplayName)
			}
		}
	}
}

// Object.Members splits what SplitMembers leaves to encoding/json as Decode reads it.
func TestObjectMembersFallsBackToDecode(t *testing.T) {
	t.Parallel()
	for _, c := range []string{`{"a":1,"b":2,"a":3}`, `{"a":"x"}`, `{"a":"\u003c&\u003e"}`} {
		o := Object{Kind: entra.KindUser, ID: "u", JSON: []byte(c)}
		ms, err := o.Members(nil)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		want, _ := o.Decode()
		if len(ms) != len(want) {
			t.Fatalf("%s: %d members, Decode %d", c, len(ms), len(want))
		}
		for _, m := range ms {
			if v, _ := ms.Value(m.Key); !reflect.DeepEqual(v, want[m.Key]) {
				t.Errorf("%s: %s = %#v, Decode %#v", c, m.Key, v, want[m.Key])
			}
		}
	}
	if _, err := (Object{Kind: entra.KindUser, ID: "u", JSON: []byte(`{"a":`)}).Members(nil); err == nil {
		t.Error("a broken object split")
	}
}
