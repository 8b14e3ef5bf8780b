package snapshots

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/lifelinehq/lifeline/entra"
)

// Canonicalize returns the canonical form of one object's Graph JSON: keys sorted at every
// level, no insignificant whitespace, numbers exactly as Graph wrote them, response
// annotations ("@odata.context", "@odata.etag", "@odata.id") dropped, and secrets removed
// (write-only properties such as passwordProfile, and any secretText or password member). Two captures of an
// unchanged object therefore hash alike, whatever order Graph sent the keys in.
func Canonicalize(kind entra.Kind, raw []byte) ([]byte, error) {
	out, _, err := canonicalFast(kind, raw)
	return out, err
}

// canonicalSlow is the definition Canonicalize implements quickly: decode into maps,
// drop, re-encode. Tests hold canonicalFast to it.
func canonicalSlow(kind entra.Kind, raw []byte) ([]byte, error) {
	obj, err := decodeGraphObject(kind, raw)
	if err != nil {
		return nil, err
	}
	return canonicalizeMap(kind, obj)
}

// decodeGraphObject decodes one JSON object, keeping numbers exactly as written.
func decodeGraphObject(kind entra.Kind, raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON for a %s: %w", kind, err)
	}
	// dec.More says nothing of a stray '}' or ']' after the object: look at the rest.
	if len(bytes.TrimLeft(raw[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, fmt.Errorf("invalid JSON for a %s: trailing data after the object", kind)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("invalid JSON for a %s: not an object", kind)
	}
	return obj, nil
}

func canonicalizeMap(kind entra.Kind, obj map[string]any) ([]byte, error) {
	for _, k := range []string{"@odata.context", "@odata.etag", "@odata.id", "@odata.editLink"} {
		delete(obj, k)
	}
	if spec, ok := entra.Lookup(kind); ok {
		for _, p := range spec.Properties {
			if p.Secret || p.Access == entra.WriteOnly {
				delete(obj, p.Name)
			}
		}
	}
	stripSecretText(obj)
	return marshalCanonical(obj)
}

// stripSecretText nulls every secret member (secretMember) anywhere in the object.
// Graph returns a secretText only once, from addPassword, but a snapshot must never
// hold one even if a tenant, or a folder being imported, carries it.
func stripSecretText(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			if secretMember([]byte(k)) {
				t[k] = nil
				continue
			}
			stripSecretText(c)
		}
	case []any:
		for _, c := range t {
			stripSecretText(c)
		}
	}
}

// secretMember reports whether a member of that name, at any depth, holds a secret
// whatever it holds: Graph's secretText and a password, in any case, since exports
// written by other tools (Graph PowerShell writes "SecretText") are imported too.
func secretMember(key []byte) bool {
	switch len(key) {
	case len("secretText"):
		return bytes.EqualFold(key, []byte("secretText"))
	case len("password"):
		return bytes.EqualFold(key, []byte("password"))
	}
	return false
}

func marshalCanonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Graph's strings are data, not HTML: keep "<" and "&" as they are.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Hash is a SHA-256 content hash.
type Hash [32]byte

// HashOf returns the hash of canonical bytes.
func HashOf(b []byte) Hash { return sha256.Sum256(b) }

// String returns the hash in lowercase hex.
func (h Hash) String() string { return fmt.Sprintf("%x", h[:]) }
