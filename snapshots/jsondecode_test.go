package snapshots

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// decodeFastCases are objects decodeFast must decode as encoding/json does, or refuse.
var decodeFastCases = []string{
	`{}`, `{"a":1}`, ` {"a" : [ ] , "b" : { } } `, `{"a":1,"a":2}`,
	`{"a":[1,2,{"b":null}],"c":"x\u00e9\ud83d\ude00","d":true,"e":false,"f":-0.5e+10}`,
	`{"a":"\xff"}`, `{"a":01}`, `{"a":"\"\\"}`, `{"a":"\ud800"}`, `{"a":1.}`, `{"a":-}`,
	`{"a":"é"}`, "{\"a\":\"x\ty\"}", `{"a":1}x`, `{"a":1} `, `[1]`, `null`, `{"a":tru}`,
	`{"displayName":"Ann","businessPhones":["+1 555"],"onPremisesExtensionAttributes":{"extensionAttribute1":null}}`,
	// Long strings, read eight bytes at a time (offsetCases has more).
	`{"aLongMemberName1":"0123456789abcdef\"quoted\" and \\ back","aLongMemberName2":"0123456789abcdefé0123456789"}`,
	"{\"longMemberNameWith\tTab\":1}", "{\"k\":\"0123456789abcde\x01fgh\"}", "{\"k\":\"01234567\xff89abcdef\"}",
	`{"0123456789abcdef":"0123456789abcdef","0123456789abcdeg":"0123456789abcdef"}`, `{"k":"0123456789abcdef`,
}

// offsetCases put each kind of byte that ends a run of plain string content (a
// quote, an escape, a control character, non-ASCII, invalid UTF-8) at every offset of
// a name and of a value, across the eight-byte words they are read in.
func offsetCases() []string {
	var out []string
	for _, special := range []string{`\"`, `\\`, "\x01", "é", "\xff", `\u00e9`} {
		for at := 0; at < 20; at++ {
			text := strings.Repeat("a", at) + special + strings.Repeat("b", 20-at)
			out = append(out, `{"`+text+`":1}`, `{"k":"`+text+`"}`, `{"k":"`+strings.Repeat("c", at)+`"}`)
		}
	}
	return out
}

func referenceDecode(data []byte) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := dec.Decode(&m)
	return m, err
}

func checkDecodeFast(t *testing.T, data []byte) {
	m, ok := decodeFast(data)
	if !ok {
		return // the caller falls back to encoding/json
	}
	want, err := referenceDecode(data)
	if err != nil {
		t.Fatalf("decodeFast accepted %q, which encoding/json refuses: %v", data, err)
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("%q: decodeFast gave %#v, encoding/json %#v", data, m, want)
	}
}

func TestDecodeFastIsEncodingJSON(t *testing.T) {
	for _, c := range append(offsetCases(), decodeFastCases...) {
		checkDecodeFast(t, []byte(c))
	}
	// Empty arrays decode as empty, not nil, slices, as encoding/json gives them.
	m, ok := decodeFast([]byte(`{"a":[]}`))
	if !ok || m["a"] == nil || len(m["a"].([]any)) != 0 {
		t.Fatalf(`decodeFast({"a":[]}) = %#v, %v`, m, ok)
	}
}

func FuzzDecodeFast(f *testing.F) {
	for _, c := range decodeFastCases {
		f.Add([]byte(c))
	}
	f.Fuzz(checkDecodeFast)
}

// plainRun stops exactly at the first special byte of the first word that holds one
// (quotes, backslashes, control bytes and, with withHigh, bytes past ASCII), even where
// borrows flag later bytes of the word, and otherwise where fewer than eight bytes
// remain: checked against a byte-at-a-time reading over random strings rich in bytes
// next to the special ones.
func TestPlainRunStopsAtTheFirstSpecialByte(t *testing.T) {
	t.Parallel()
	special := func(c byte, withHigh bool) bool {
		return c == '"' || c == '\\' || c < 0x20 || (withHigh && c >= 0x80)
	}
	want := func(b []byte, i int, withHigh bool) int {
		for ; i+8 <= len(b); i += 8 {
			for j := i; j < i+8; j++ {
				if special(b[j], withHigh) {
					return j
				}
			}
		}
		return i
	}
	alphabet := []byte{'a', 'Z', ' ', '!', '"', '#', '[', '\\', ']', 0x00, 0x01, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xc3, 0xff}
	rng := rand.New(rand.NewPCG(3, 5))
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for k := range b {
			if rng.IntN(4) == 0 {
				b[k] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[k] = 'a' + byte(rng.IntN(26))
			}
		}
		i := 0
		if len(b) > 0 {
			i = rng.IntN(len(b))
		}
		for _, withHigh := range []bool{false, true} {
			if got, w := plainRun(b, i, withHigh), want(b, i, withHigh); got != w {
				t.Fatalf("plainRun(%q, %d, %v) = %d, want %d", b, i, withHigh, got, w)
			}
		}
	}
}
