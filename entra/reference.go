package entra

import (
	"strings"
)

// IDForm says how a reference names its target. The same application is named by its
// object id in one place and by its appId in another; a restore that recreates it must
// rewrite both, each through its own map.
type IDForm int

const (
	// ObjectID: the target's directory object id.
	ObjectID IDForm = iota
	// AppID: an application's appId (client id), which is also its service principal's appId.
	AppID
	// RoleTemplateID: a directory role's template id (equal to a built-in role
	// definition's id).
	RoleTemplateID
	// DirectoryScope: a role assignment scope: "/", "/administrativeUnits/{id}" or
	// "/{applicationObjectId}".
	DirectoryScope
)

// String names the form for reports.
func (f IDForm) String() string {
	switch f {
	case AppID:
		return "appId"
	case RoleTemplateID:
		return "role template id"
	case DirectoryScope:
		return "directory scope"
	default:
		return "object id"
	}
}

// Reference declares one property path whose values point at other objects.
type Reference struct {
	// Path is a JSON path into the object: dot-separated names, where a name ending in
	// "[]" walks every element of an array ("conditions.users.includeGroups[]",
	// "requiredResourceAccess[].resourceAppId").
	Path string
	// Targets are the kinds the value may name; more than one when Graph accepts several
	// (a role assignment's principal is a user, a group or a service principal).
	Targets []Kind
	// Form says how the value names its target.
	Form IDForm
	// Relation is the edge type in the dependency graph ("ca-include-group").
	Relation string
	// Special values are keywords that name no object ("All", "None", "AllTrusted").
	// They are never references and never rewritten.
	Special []string
	// Required references break the holder when their target is gone (an app role
	// assignment without its principal cannot exist); optional ones only weaken it
	// (a CA policy that lost an excluded group still exists, and is now stricter).
	Required bool
}

// IsSpecial reports whether v is one of the reference's keyword values.
func (r Reference) IsSpecial(v string) bool {
	for _, s := range r.Special {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

// LinkSpec declares a relationship Graph keeps apart from the object's properties and
// exposes as a $ref collection (group members, owners).
type LinkSpec struct {
	// Name is the navigation property ("members", "owners", "manager").
	Name string
	// Relation is the edge type in the dependency graph ("member", "owner").
	Relation string
	// Targets are the kinds a link may point at.
	Targets []Kind
	// Single marks single-valued navigation properties (manager), written with PUT $ref.
	Single bool
}

// Path returns the Graph path of the link collection of one object.
func (l LinkSpec) Path(s *Spec, id string) string { return s.ObjectPath(id) + "/" + l.Name }

// ResolvedRef is one reference found in an object's JSON.
type ResolvedRef struct {
	// Reference is the declaration that matched.
	Reference Reference
	// Pointer locates the value in the object, as a JSON pointer ("/conditions/users/includeGroups/2").
	Pointer string
	// Value is the raw string found there.
	Value string
	// ID is the target's identifier in the reference's form: Value itself, or for a
	// directory scope the object id inside it. Empty for "/" and special values.
	ID string
}

// ExtractReferences returns every reference held by obj, an object of kind s decoded as
// Graph JSON (map[string]any). Special keyword values and empty values are skipped.
// The order is the order of s.References, then document order.
func (s *Spec) ExtractReferences(obj map[string]any) []ResolvedRef {
	var out []ResolvedRef
	for _, ref := range s.References {
		WalkPath(obj, ref.Path, func(pointer string, v string) {
			if v == "" || ref.IsSpecial(v) {
				return
			}
			id := v
			if ref.Form == DirectoryScope {
				id = ScopeObjectID(v)
				if id == "" {
					return
				}
			}
			out = append(out, ResolvedRef{Reference: ref, Pointer: pointer, Value: v, ID: id})
		})
	}
	return out
}

// ScopeObjectID returns the object id a directory scope names ("/administrativeUnits/x" ->
// "x", "/x" -> "x"), or "" for the tenant-wide scope "/".
func ScopeObjectID(scope string) string {
	scope = strings.TrimPrefix(scope, "/")
	if scope == "" {
		return ""
	}
	if rest, ok := strings.CutPrefix(scope, "administrativeUnits/"); ok {
		return rest
	}
	return scope
}

// ScopeKind returns the kind a directory scope names: an administrative unit, or an
// application for "/{id}".
func ScopeKind(scope string) (Kind, bool) {
	scope = strings.TrimPrefix(scope, "/")
	switch {
	case scope == "":
		return "", false
	case strings.HasPrefix(scope, "administrativeUnits/"):
		return KindAdministrativeUnit, true
	default:
		return KindApplication, true
	}
}

// WalkPath calls fn for every string value found at path in v, with its JSON pointer.
// Non-string leaves and missing segments are skipped: a reference path that is absent
// in a particular object simply holds nothing.
func WalkPath(v any, path string, fn func(pointer string, value string)) {
	walk(v, strings.Split(path, "."), "", fn)
}

func walk(v any, segs []string, pointer string, fn func(string, string)) {
	if len(segs) == 0 {
		if s, ok := v.(string); ok {
			fn(pointer, s)
		}
		return
	}
	seg := segs[0]
	name, each := strings.CutSuffix(seg, "[]")
	obj, ok := v.(map[string]any)
	if !ok {
		return
	}
	child, ok := obj[name]
	if !ok {
		return
	}
	p := pointer + "/" + escapePointer(name)
	if !each {
		walk(child, segs[1:], p, fn)
		return
	}
	arr, ok := child.([]any)
	if !ok {
		return
	}
	for i, el := range arr {
		walk(el, segs[1:], p+"/"+itoa(i), fn)
	}
}

// RewritePath replaces, in place, every string value at path in v for which fn returns
// (new, true). It reports how many values it replaced.
func RewritePath(v any, path string, fn func(value string) (string, bool)) int {
	return rewrite(v, strings.Split(path, "."), fn)
}

func rewrite(v any, segs []string, fn func(string) (string, bool)) int {
	obj, ok := v.(map[string]any)
	if !ok || len(segs) == 0 {
		return 0
	}
	name, each := strings.CutSuffix(segs[0], "[]")
	child, ok := obj[name]
	if !ok {
		return 0
	}
	last := len(segs) == 1
	n := 0
	switch {
	case each:
		arr, ok := child.([]any)
		if !ok {
			return 0
		}
		for i, el := range arr {
			if last {
				if s, ok := el.(string); ok {
					if nv, ok := fn(s); ok {
						arr[i] = nv
						n++
					}
				}
				continue
			}
			n += rewrite(el, segs[1:], fn)
		}
	case last:
		if s, ok := child.(string); ok {
			if nv, ok := fn(s); ok {
				obj[name] = nv
				n++
			}
		}
	default:
		n += rewrite(child, segs[1:], fn)
	}
	return n
}

func escapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}
