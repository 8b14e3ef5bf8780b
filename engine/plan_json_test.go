package engine

import (
	"encoding/json"
	"testing"
)

// TestAppendJSONIsMarshal: the planner's JSON writer gives json.Marshal's bytes for the
// shapes plans carry, escapes and odd values included.
func TestAppendJSONIsMarshal(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		`{"displayName":"Finance Admins","mailEnabled":false,"securityEnabled":true,"groupTypes":[]}`,
		`{"a":null,"b":[1,2.5,-3e10],"c":{"z":"","y":[{"x":true}]},"d":"<tag> & \"quotes\" \\ \u2028 é"}`,
		`{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/{{id:abc}}"}`,
		`{"password":"{{generated}}","list":["a","b\n","\u0000"],"n":12345678901234567890}`,
		`[]`, `{}`, `"plain"`, `0`, `null`,
	} {
		var v any
		if err := json.Unmarshal([]byte(src), &v); err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendJSON(nil, v)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s:\n got %s (%v)\nwant %s", src, got, err, want)
		}
	}
}

// TestRefBodyIsMarshal: a $ref body is what marshalling its map gives, for plain ids
// and for ids json.Marshal escapes.
func TestRefBodyIsMarshal(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"0f8fad5b-d9cb-469f-a165-70867728950e", IDPlaceholder("x"), "a<b&c>", `q"uote`, "é"} {
		want, _ := json.Marshal(map[string]any{"@odata.id": directoryObjectsURL + id})
		if got := refBody(id); string(got) != string(want) {
			t.Errorf("refBody(%q) = %s, want %s", id, got, want)
		}
	}
}
