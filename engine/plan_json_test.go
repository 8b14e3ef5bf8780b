package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
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

// TestCanonicalAsWritten: a value canonicalAsWritten accepts is what appendJSON writes
// for it once decoded, byte for byte; values appendJSON would write differently
// (escapes, HTML characters, whitespace, names out of order) are refused. Random values
// mixing those features check the first half on thousands of cases.
func TestCanonicalAsWritten(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]bool{
		`"plain text"`: true, `""`: true, `0`: true, `-12.5e+3`: true, `true`: true, `null`: true, `[]`: true, `{}`: true,
		`{"a":[1,{"b":null}],"c":"d"}`: true, `["x","y"]`: true, `1E9`: true,
		`"R&D"`: false, `"<b>"`: false, `"caf\u00e9"`: false, `"é"`: false, `"a\"b"`: false, `"tab\t"`: false,
		`{"b":1,"a":2}`: false, `{"a":1,"a":2}`: false, `{ "a":1}`: false, `[1, 2]`: false, `01`: false, `1.`: false,
		`-`: false, `.5`: false, `1e`: false, `tru`: false, `"open`: false, `{"a":1`: false, `[1`: false, `1 `: false,
	} {
		if got := canonicalAsWritten([]byte(raw)); got != want {
			t.Errorf("canonicalAsWritten(%s) = %v, want %v", raw, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(11, 12))
	accepted := 0
	for range 5000 {
		raw := randomJSON(rng, 3)
		if !canonicalAsWritten(raw) {
			continue
		}
		accepted++
		v, err := snapshots.DecodeValue(raw)
		if err != nil {
			t.Fatalf("%s was accepted but does not decode: %v", raw, err)
		}
		if out, err := appendJSON(nil, v); err != nil || string(out) != string(raw) {
			t.Fatalf("%s was accepted but appendJSON writes %s (%v)", raw, out, err)
		}
	}
	if accepted < 500 {
		t.Fatalf("only %d of 5000 random values accepted: the generator no longer exercises the check", accepted)
	}
}

// randomJSON writes a random JSON value, mostly in canonical form, sometimes with what
// canonicalAsWritten must refuse.
func randomJSON(rng *rand.Rand, depth int) []byte {
	strs := []string{`"a"`, `"displayName"`, `""`, `"R&D"`, `"<x>"`, `"é"`, `"q\"t"`, `"\u00e9"`, `"tab\t"`, `"z z"`}
	nums := []string{`0`, `7`, `-1`, `2.50`, `1e3`, `-0.0E-2`, `12345678901234567890`}
	switch k := rng.IntN(8); {
	case k == 0 && depth > 0:
		var b []byte
		b = append(b, '[')
		for i := range rng.IntN(4) {
			if i > 0 {
				b = append(b, ',')
				if rng.IntN(20) == 0 {
					b = append(b, ' ')
				}
			}
			b = append(b, randomJSON(rng, depth-1)...)
		}
		return append(b, ']')
	case k == 1 && depth > 0:
		names := []string{"a", "b", "c", "id", "x<", "é"}
		n := rng.IntN(4)
		picked := rng.Perm(len(names))[:n]
		if rng.IntN(4) > 0 {
			slices.Sort(picked)
		}
		b := []byte{'{'}
		for i, p := range picked {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, names[p]...)
			b = append(b, '"', ':')
			b = append(b, randomJSON(rng, depth-1)...)
		}
		return append(b, '}')
	case k < 4:
		return []byte(strs[rng.IntN(len(strs))])
	case k < 6:
		return []byte(nums[rng.IntN(len(nums))])
	default:
		return []byte([]string{"true", "false", "null"}[rng.IntN(3)])
	}
}

// TestRawCreateBodyIsDecodedBody: a create body written from a stored object's members
// has the bytes of the body createBody builds from the decoded object, with escapes,
// HTML characters, non-ASCII text, nulls, numbers as written, read-only and unknown
// properties, and the temporary password.
func TestRawCreateBodyIsDecodedBody(t *testing.T) {
	t.Parallel()
	objects := map[graphx.NodeID]string{
		{Kind: entra.KindUser, ID: "u1"}: `{"id":"u1","displayName":"Zoë <R&D>","mailNickname":"zoe","accountEnabled":true,
			"userPrincipalName":"zoe@contoso.example","department":"Research & \"Development\"","jobTitle":null,
			"businessPhones":["+1 555 0100"],"createdDateTime":"2026-01-02T03:04:05Z","usageLocation":"NO",
			"employeeHireDate":null,"onPremisesExtensionAttributes":{"extensionAttribute1":"x","extensionAttribute2":null},
			"ageGroup":"\u0041dult","unknownProperty":1.50e3}`,
		{Kind: entra.KindUser, ID: "u2"}: `{"id":"u2","displayName":"Plain","mailNickname":"plain","accountEnabled":false,"userPrincipalName":"p@c.example"}`,
		{Kind: entra.KindGroup, ID: "g1"}: `{"id":"g1","displayName":"Finance","mailEnabled":false,"securityEnabled":true,"groupTypes":[],
			"mailNickname":"fin","description":"tab\there","membershipRule":null,"visibility":"Private"}`,
		{Kind: entra.KindAdministrativeUnit, ID: "a1"}: `{"id":"a1","displayName":"Oslo","description":null,"visibility":"HiddenMembership"}`,
	}
	var stored []snapshots.Object
	for n, src := range objects {
		data, err := snapshots.Canonicalize(n.Kind, []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, snapshots.Object{Kind: n.Kind, ID: n.ID, JSON: data})
	}
	p := &planner{target: newSide(stored, nil), ledger: graphx.NewLedger()}
	for n := range objects {
		if decodesToRecreate(n.Kind) {
			t.Fatalf("%s decodes to be recreated: the test no longer reaches rawCreateBody", n.Kind)
		}
		var extra snapshots.Members
		if n.Kind == entra.KindUser {
			extra = temporaryPassword
		}
		got, ok, err := p.rawCreateBody(n, extra, 0)
		if err != nil || !ok {
			t.Fatalf("%s: rawCreateBody: ok %v, %v", n, ok, err)
		}
		o, _ := p.target.object(n)
		obj, err := o.Decode()
		if err != nil {
			t.Fatal(err)
		}
		body := p.createBody(n.Kind, obj)
		if n.Kind == entra.KindUser {
			body["passwordProfile"] = map[string]any{"forceChangePasswordNextSignIn": true, "password": GeneratedPassword}
		}
		if want := mustJSON(body); string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", n, got, want)
		}
	}
}

// requireEncoderBytes fails the test unless WritePlanJSON writes plan exactly as an
// encoding/json Encoder with the plan file's settings does.
func requireEncoderBytes(t *testing.T, plan *Plan) {
	t.Helper()
	// The encoder's bytes of the plan sealed with the SHA-256 of those of the plan
	// without its seal, up to its last member.
	var unsealed, want, got bytes.Buffer
	if err := newPlanEncoder(&unsealed, "").Encode(plan); err != nil {
		t.Fatal(err)
	}
	sealed := *plan
	sealed.Seal = fmt.Sprintf("%x", sha256.Sum256(bytes.TrimSuffix(unsealed.Bytes(), []byte("\n}\n"))))
	if err := newPlanEncoder(&want, "").Encode(&sealed); err != nil {
		t.Fatal(err)
	}
	if err := WritePlanJSON(&got, plan); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		g, w := got.Bytes(), want.Bytes()
		at := 0
		for at < min(len(g), len(w)) && g[at] == w[at] {
			at++
		}
		t.Fatalf("WritePlanJSON differs from the encoder at byte %d of %d:\n got %q\nwant %q", at, len(w), g[max(0, at-80):min(len(g), at+80)], w[max(0, at-80):min(len(w), at+80)])
	}
}

// WritePlanJSON writes what the encoder writes: empty stages, bodies with HTML
// characters, escapes and non-ASCII names, empty and absent lists, no warnings and
// warnings, a stage with more steps than a chunk.
func TestWritePlanJSONIsTheEncoders(t *testing.T) {
	t.Parallel()
	step := func(i int) Step {
		return Step{ID: StepID("relink", ActionAddLink, entra.KindGroup, fmt.Sprint("g", i)), Kind: "group", ObjectID: fmt.Sprint("g", i),
			DisplayName: "R&D <Zürich> \"core\"", Action: ActionAddLink, Link: "members", TargetKind: "user", TargetID: fmt.Sprint("u", i),
			DependsOn: []string{}, Requests: []Request{{Method: "POST", Path: "/groups/g/members/$ref",
				Body: json.RawMessage(`{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/u<&>","n":[1,{"a":null}],"s":"\u00e9\n"}`)}}}
	}
	var many []Step
	for i := range 5000 {
		many = append(many, step(i))
	}
	for name, plan := range map[string]*Plan{
		"empty": {Format: PlanFormat, Stages: []Stage{{Name: StageRestoreFromBin, Steps: []Step{}}, {Name: StageVerify, Steps: []Step{}}}, Warnings: []string{}},
		"small": {Format: PlanFormat, TenantID: "t", Snapshot: 3, BuiltAt: fixedNow, Stages: []Stage{{Name: StageRestoreFromBin, Steps: []Step{}},
			{Name: StageRelink, Steps: []Step{step(1), step(2)}}, {Name: StageVerify, Steps: []Step{{ID: "v", Action: ActionVerify, DependsOn: []string{"a", "b"}, Requests: []Request{}}}}},
			Warnings: []string{"a warning with \"steps\": [] in it", "<html> & more"}, DB: "/tmp/x.db"},
		"many": {Format: PlanFormat, Stages: []Stage{{Name: StageRelink, Steps: many}, {Name: StageRollback, Steps: many[:3]}}},
	} {
		t.Run(name, func(t *testing.T) { requireEncoderBytes(t, plan) })
	}
}
