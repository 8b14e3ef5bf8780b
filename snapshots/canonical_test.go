package snapshots

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

// reshape writes v back as JSON with keys in random order and random whitespace, so the
// fast canonicalizer meets inputs unlike the sim's already-canonical ones.
func reshape(r *rand.Rand, v any, b *strings.Builder) {
	ws := func() {
		for i := r.IntN(3); i > 0; i-- {
			b.WriteByte(" \n\t"[r.IntN(3)])
		}
	}
	ws()
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			ws()
			b.WriteByte(':')
			reshape(r, t[k], b)
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			reshape(r, e, b)
		}
		b.WriteByte(']')
	default:
		raw, _ := json.Marshal(t)
		if s, ok := t.(string); ok && r.IntN(4) == 0 {
			// Escape some strings needlessly, as other JSON writers do.
			var esc strings.Builder
			esc.WriteByte('"')
			for _, c := range s {
				if c < 0x80 && c != '"' && c != '\\' && c >= 0x20 {
					esc.WriteString(`\u00`)
					esc.WriteString(strings.ToLower(strings.TrimLeft(string(rune('0'+c/16))+string("0123456789abcdef"[c%16]), "")))
					continue
				}
				cb, _ := json.Marshal(string(c))
				esc.Write(cb[1 : len(cb)-1])
			}
			esc.WriteByte('"')
			raw = []byte(esc.String())
		}
		b.Write(raw)
	}
	ws()
}

func TestFastCanonicalizerMatchesTheDefinition(t *testing.T) {
	t.Parallel()
	ds, err := sim.Generate(sim.GenerateOptions{Users: 200, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	inputs := [][]byte{}
	kinds := []entra.Kind{}
	for _, o := range ds.Objects {
		inputs = append(inputs, o.JSON)
		kinds = append(kinds, o.Kind)
		var v any
		dec := json.NewDecoder(bytes.NewReader(o.JSON))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		reshape(r, v, &b)
		inputs = append(inputs, []byte(b.String()))
		kinds = append(kinds, o.Kind)
	}
	tricky := []string{
		`{"id":"x","a":"<tag> & \u2028 \u0007 \b\f\n\t \"q\" \\ é \ud83d\ude00","n":-1.50e+10,"z":[],"e":{}}`,
		"{\"id\":\"x\",\"bad\":\"\xff\xfe invalid utf-8\",\"dup\":1,\"dup\":2}",
		`{"id":"x","@odata.context":"c","@odata.etag":"W/1","passwordProfile":{"password":"p"},"nested":{"secretText":"s","@odata.context":"kept"}}`,
		`{"id":"u\u00e9","x":[{"b":1,"a":[{"d":null,"c":true}]}]}`,
	}
	for _, s := range tricky {
		inputs = append(inputs, []byte(s))
		kinds = append(kinds, entra.KindUser)
	}
	for i, in := range inputs {
		want, werr := canonicalSlow(kinds[i], in)
		got, id, gerr := canonicalFast(kinds[i], in)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("input %d: slow err %v, fast err %v\n%s", i, werr, gerr, in)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("input %d differs:\n in   %s\n fast %s\n slow %s", i, in, got, want)
		}
		var m struct {
			ID string `json:"id"`
		}
		json.Unmarshal(want, &m)
		if id != m.ID {
			t.Fatalf("input %d: id %q, want %q", i, id, m.ID)
		}
	}
	for _, bad := range []string{`{"a":`, `{"a":1}x`, `[1]`, `{"a":tru}`, `{"a":01}`, `{"a":"\x01"}`, `{"a" 1}`, `{"a":1,}`, ``} {
		if _, _, err := canonicalFast(entra.KindUser, []byte(bad)); err == nil {
			t.Errorf("fast canonicalizer accepted %q", bad)
		}
		if _, err := canonicalSlow(entra.KindUser, []byte(bad)); err == nil {
			t.Errorf("slow canonicalizer accepted %q", bad)
		}
	}
}

func FuzzCanonicalizers(f *testing.F) {
	f.Add([]byte(`{"b":1,"a":[true,null,"x"]}`))
	f.Add([]byte(`{"id":"\u00e9","secretText":"s"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		want, werr := canonicalSlow(entra.KindApplication, in)
		got, _, gerr := canonicalFast(entra.KindApplication, in)
		if werr != nil {
			return // the fast one may reject or accept garbage the slow one rejects; only valid input must agree
		}
		if gerr != nil || !bytes.Equal(got, want) {
			t.Fatalf("fast %q (%v), slow %q", got, gerr, want)
		}
	})
}

// A secret never reaches a stored version, whatever case or depth it comes in: Graph
// PowerShell writes "SecretText", hand-made exports "password". Canonical input (the
// as-is path), reordered input (the general path) and the definition all agree.
func TestCanonicalStoresNoSecret(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"id":"a","passwordCredentials":[{"SecretText":"S1","keyId":"k","password":"S2"}]}`,
		`{"passwordCredentials":[{"keyId":"k","PASSWORD":"S2","secrettext":"S1"}],"id":"a"}`,
		`{"id":"a","x":{"y":[{"secretText":{"deep":"S1"}},{"Password":["S2"]}]}}`,
	} {
		got, err := Canonicalize(entra.KindApplication, []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		want, err := canonicalSlow(entra.KindApplication, []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(got, []byte("S1")) || bytes.Contains(got, []byte("S2")) || !bytes.Equal(got, want) {
			t.Errorf("%s\n stored %s\n definition %s", in, got, want)
		}
	}
}
