package sim

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// appendObject's fast paths must write exactly what appendProjected's member walk does.

func TestAppendObjectMatchesProjectedRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	pool := []string{"id", "displayName", "mail", "accountEnabled", "businessPhones", "manager", "a", "zeta",
		"passwordProfile", "@odata.type", "onPremisesExtensionAttributes", "tags"}
	value := func() any {
		switch rng.Intn(7) {
		case 0:
			return nil
		case 1:
			return rng.Intn(2) == 0
		case 2:
			return rng.Intn(1000)
		case 3:
			return []any{"x", fmt.Sprint(rng.Intn(9)), map[string]any{"b": 1, "a": "q\"uo\\te"}}
		case 4:
			return map[string]any{"z": nil, "k": "v"}
		case 5:
			return "line\nbreak \u00e9 <tag> & \"q\""
		default:
			return fmt.Sprintf("v%d", rng.Intn(100))
		}
	}
	fast, idOnly := 0, 0
	for i := 0; i < 20000; i++ {
		m := map[string]any{}
		for _, k := range pool {
			if rng.Intn(3) > 0 {
				m[k] = value()
			}
		}
		if rng.Intn(4) > 0 {
			m["id"] = fmt.Sprintf("%08x-0000-4000-8000-%012x", rng.Uint32(), rng.Int63n(1<<40))
		}
		if rng.Intn(10) == 0 {
			m["id"] = "needs \"quoting\" é"
		}
		data := mustJSON(m)
		switch rng.Intn(12) {
		case 0: // not compact
			data = bytes.Replace(data, []byte(`,"`), []byte(`, "`), 1)
		case 1: // keys out of order
			data = append([]byte(`{"zz":1,`), data[1:]...)
			if len(m) == 0 {
				data = []byte(`{"zz":1}`)
			}
		}
		keys := sortedKeys(m)
		var names []string
		switch rng.Intn(4) {
		case 0: // exactly the object's keys, as a capture selects them
			for _, k := range keys {
				if !strings.HasPrefix(k, "@") {
					names = append(names, k)
				}
			}
			rng.Shuffle(len(names), func(a, b int) { names[a], names[b] = names[b], names[a] })
		case 1:
			names = []string{"id"}
		default:
			for _, k := range pool {
				if rng.Intn(2) == 0 && !strings.HasPrefix(k, "@") {
					names = append(names, k)
				}
			}
		}
		var hide map[string]bool
		if rng.Intn(5) == 0 {
			hide = map[string]bool{"passwordProfile": true}
		}
		p := newProjection(names, hide)
		if rng.Intn(20) == 0 {
			p.all = true
		}
		odataType := ""
		if rng.Intn(3) == 0 {
			odataType = "#microsoft.graph.user"
		}
		var extra [][]byte
		if rng.Intn(2) == 0 {
			extra = append(extra, []byte(`"manager@delta":[]`))
		}
		if rng.Intn(3) == 0 {
			extra = append(extra, nil)
		}
		o := &object{kind: entra.KindUser, id: fmt.Sprint(m["id"]), data: data}
		want := appendProjected([]byte("prefix"), data, p, odataType, extra...)
		got := appendObject([]byte("prefix"), o, p, odataType, extra...)
		if meta := o.meta(); meta.shape != nil && !meta.shape.odataType && !p.all {
			if p.shapeKeys == meta.shape.keys {
				fast++
			} else if p.idOnly && meta.idEnd > 0 {
				idOnly++
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d: data %s names %v hide %v type %q extra %q:\n got %s\nwant %s", i, data, names, hide, odataType, extra, got, want)
		}
	}
	if fast < 1000 || idOnly < 1000 {
		t.Fatalf("the fast paths ran too rarely to be tested: %d as stored, %d id only", fast, idOnly)
	}
}

func TestAppendObjectMatchesProjectedGenerated(t *testing.T) {
	ds, err := Generate(GenerateOptions{Users: 300, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	st, err := loadDataset(ds, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	fast := 0
	for _, o := range st.objs {
		spec := entra.MustLookup(o.kind)
		sels := [][]string{strings.Split(spec.Select(), ","), {"id"}, {"displayName"}, nil}
		for _, sel := range sels {
			p, perr := projectionFor(o.kind, sel)
			if perr != nil {
				continue
			}
			for _, typ := range []string{"", o.kind.ODataType()} {
				want := appendProjected(nil, o.data, p, typ, []byte(`"x":1`))
				got := appendObject(nil, o, p, typ, []byte(`"x":1`))
				if !bytes.Equal(got, want) {
					t.Fatalf("%s %s select %v:\n got %s\nwant %s", o.kind, o.id, sel, got, want)
				}
				if !p.all && p.shapeKeys == o.meta().shape.keys {
					fast++
				}
			}
		}
	}
	// Generated users carry every property lifeline selects: the fast path must apply.
	if fast < 300 {
		t.Fatalf("only %d objects were shown as stored", fast)
	}
}
