package graphapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

func TestSplitPageMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	pages := []string{
		`{"@odata.context":"x","value":[{"id":"1","a":[1,2.5e-3,true,null,{"b":"\u00e9\n"}]},{"id":"2"}],"@odata.nextLink":"http://h/next"}`,
		`{"value":[],"@odata.deltaLink":"http://h/d","@odata.count":42}`,
		` { "value" : [ 1 , "s" , [ ] , { } ] } `,
		`{"value":null}`,
		`{"@odata.count":null,"value":[{}]}`,
		`{"value":[{"id":"1"}],"value":[{"id":"2"}]}`,
	}
	bad := []string{``, `[]`, `{"value":[}`, `{"value":[1,]}`, `{"value":[01]}`, `{"value":["\x01"]}`, `{"value":[tru]}`,
		`{"value":[1]} x`, `{"value":{}}`, `{"@odata.count":"many","value":[]}`, `{"value":["\q"]}`, `{"value":["\u12g4"]}`, `{"value":[-]}`, `{"value":[1.]}`, `{"a" 1}`}
	r := rand.New(rand.NewPCG(4, 4))
	for n := 0; n < 300; n++ {
		// Random pages built by encoding/json, then damaged at a random byte half the time.
		items := make([]any, r.IntN(6))
		for i := range items {
			items[i] = map[string]any{"id": r.Int64(), "s": string(rune(r.IntN(0x2FFF))), "n": r.Float64(), "l": []any{nil, true, "x\"y"}}
		}
		b, _ := json.Marshal(map[string]any{"value": items, "@odata.nextLink": "http://h/n"})
		if n%2 == 1 && len(b) > 2 {
			damage := "{}[],:\"\\x0 "
			b[r.IntN(len(b))] = damage[r.IntN(len(damage))]
		}
		pages = append(pages, string(b))
	}
	for _, s := range append(pages, bad...) {
		body := []byte(s)
		fast, ok, ferr := splitPage(body)
		std, serr := decodePageStd(body)
		if ferr == nil && ok {
			if serr != nil {
				t.Fatalf("splitPage accepted what encoding/json rejects (%v): %q", serr, s)
			}
			if len(fast.Items) != len(std.Items) || fast.NextLink != std.NextLink || fast.DeltaLink != std.DeltaLink || (fast.Count == nil) != (std.Count == nil) {
				t.Fatalf("pages differ for %q:\n fast %+v\n std  %+v", s, fast, std)
			}
			for i := range fast.Items {
				if !bytes.Equal(fast.Items[i], std.Items[i]) {
					t.Fatalf("item %d differs for %q", i, s)
				}
			}
			continue
		}
		// Whatever splitPage does not accept goes to encoding/json, so decodePage's answer is
		// encoding/json's by construction; check splitPage never rejects a valid page.
		if serr == nil && std.Items != nil && ferr != nil {
			t.Fatalf("splitPage rejected a valid page (%v): %q", ferr, s)
		}
	}
}
