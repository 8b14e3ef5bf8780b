package graphx

import (
	"strings"

	"github.com/lifelinehq/lifeline/entra"
)

// Ledger maps what a restore recreated: old object id -> new object id, and old appId
// -> new appId (a recreated application gets a new appId, and so does everything that
// named the old one).
type Ledger struct {
	IDs    map[string]string
	AppIDs map[string]string
}

// NewLedger returns an empty ledger.
func NewLedger() Ledger { return Ledger{IDs: map[string]string{}, AppIDs: map[string]string{}} }

// Rewrite replaces, in place, every reference obj (an object of kind) holds to a
// recreated object with the new id, choosing the map by the reference's id form. Keyword
// values (All, None, AllTrusted...) are never touched. It returns how many values changed.
func Rewrite(kind entra.Kind, obj map[string]any, l Ledger) int {
	spec, ok := entra.Lookup(kind)
	if !ok {
		return 0
	}
	n := 0
	for _, ref := range spec.References {
		ref := ref
		n += entra.RewritePath(obj, ref.Path, func(v string) (string, bool) {
			if ref.IsSpecial(v) {
				return "", false
			}
			switch ref.Form {
			case entra.AppID:
				nv, ok := l.AppIDs[v]
				return nv, ok
			case entra.DirectoryScope:
				old := entra.ScopeObjectID(v)
				nv, ok := l.IDs[old]
				if !ok || old == "" {
					return "", false
				}
				return strings.TrimSuffix(v, old) + nv, true
			default:
				nv, ok := l.IDs[v]
				return nv, ok
			}
		})
	}
	return n
}
