package snapshots

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
)

// readRef must answer what parseRef answers, for the entries it reads itself and for
// every other one (which it hands over).
func TestReadRefMatchesParseRef(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	types := []string{"#microsoft.graph.device", "#microsoft.graph.orgContact", "#microsoft.graph.us\\u0065r", ""}
	for _, k := range entra.Kinds() {
		types = append(types, k.ODataType())
	}
	ids := []string{"5f3c2a1e-0000-4000-8000-00000000abcd", "", "a\\\"b", "x y", "\u00e9t\u00e9", "tab\there"}
	reasons := []string{"deleted", "changed", "odd\\n"}
	pick := func(s []string) string { return s[rng.Intn(len(s))] }
	matched := 0
	for i := 0; i < 50000; i++ {
		var b strings.Builder
		typ, id := pick(types), pick(ids)
		switch rng.Intn(6) {
		case 0: // id first
			b.WriteString(`{"id":"` + id + `","@odata.type":"` + typ + `"}`)
		case 1: // whitespace
			b.WriteString(`{ "@odata.type": "` + typ + `", "id": "` + id + `" }`)
		default: // Graph's form
			b.WriteString(`{"@odata.type":"` + typ + `","id":"` + id + `"`)
			switch rng.Intn(4) {
			case 0:
				b.WriteString(`,"@removed":{"reason":"` + pick(reasons) + `"}`)
			case 1:
				b.WriteString(`,"displayName":"n"`)
			}
			b.WriteString(`}`)
		}
		elem := []byte(b.String())
		if rng.Intn(10) == 0 {
			elem = elem[:rng.Intn(len(elem))]
		}
		want, werr := parseRef(elem)
		got, gerr := readRef(elem)
		if _, ok := matchRef(elem); ok {
			matched++
		}
		if (werr == nil) != (gerr == nil) || !bytes.Equal(got.id, want.id) || (got.id == nil) != (want.id == nil) ||
			got.kind != want.kind || got.typed != want.typed || got.ok != want.ok || got.removed != want.removed {
			t.Fatalf("%s:\n got %+v, %v\nwant %+v, %v", elem, got, gerr, want, werr)
		}
	}
	if matched < 5000 {
		t.Fatalf("only %d entries took the fast path", matched)
	}
}
