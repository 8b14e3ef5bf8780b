// Package entra is lifeline's model of a Microsoft Entra ID directory: the kinds of object it
// backs up and restores, where each lives in Microsoft Graph, which properties a backup must
// select, which a restore may write, and which other objects each property points at.
//
// It is the one place that knows these facts. The simulated tenant serves what entra
// describes, the Graph client and the snapshot store read what entra lists, and the
// dependency graph and restore engine follow the references entra declares. The package
// depends on the standard library only.
package entra

import (
	"fmt"
	"sort"
	"strings"
)

// Kind names a kind of directory object, spelled as Graph spells its type
// ("user", "servicePrincipal", ...), without the "microsoft.graph." namespace.
type Kind string

// The kinds lifeline knows. Their order in Kinds() is the order a restore recreates them in.
const (
	KindUser                        Kind = "user"
	KindGroup                       Kind = "group"
	KindApplication                 Kind = "application"
	KindServicePrincipal            Kind = "servicePrincipal"
	KindNamedLocation               Kind = "namedLocation"
	KindConditionalAccessPolicy     Kind = "conditionalAccessPolicy"
	KindAdministrativeUnit          Kind = "administrativeUnit"
	KindRoleDefinition              Kind = "unifiedRoleDefinition"
	KindRoleAssignment              Kind = "unifiedRoleAssignment"
	KindAppRoleAssignment           Kind = "appRoleAssignment"
	KindOAuth2PermissionGrant       Kind = "oAuth2PermissionGrant"
	KindAuthenticationMethodsPolicy Kind = "authenticationMethodsPolicy"
	KindOrganization                Kind = "organization"
)

// ODataType is the "@odata.type" value Graph writes for an object of this kind.
// Named locations are polymorphic; their concrete types are IPNamedLocationType and
// CountryNamedLocationType.
func (k Kind) ODataType() string { return "#microsoft.graph." + string(k) }

// String returns the kind's name.
func (k Kind) String() string { return string(k) }

// The concrete "@odata.type" values of the polymorphic kinds.
const (
	IPNamedLocationType      = "#microsoft.graph.ipNamedLocation"
	CountryNamedLocationType = "#microsoft.graph.countryNamedLocation"
	IPv4RangeType            = "#microsoft.graph.iPv4CidrRange"
	IPv6RangeType            = "#microsoft.graph.iPv6CidrRange"
)

// Access says what a client may do with a property.
type Access int

const (
	// ReadWrite properties are returned by GET and accepted by POST and PATCH.
	ReadWrite Access = iota
	// ReadOnly properties are generated or computed by the service; a restore never sends them.
	ReadOnly
	// WriteOnly properties are accepted on write and never returned (passwords).
	// They can never be backed up; a restore has to supply a fresh value.
	WriteOnly
	// CreateOnly properties can be set by POST only; a later PATCH is refused.
	CreateOnly
)

// String names the access mode as the docs do.
func (a Access) String() string {
	switch a {
	case ReadOnly:
		return "read-only"
	case WriteOnly:
		return "write-only"
	case CreateOnly:
		return "create-only"
	default:
		return "read-write"
	}
}

// Property describes one top-level property of a kind.
type Property struct {
	// Name is the JSON name Graph uses.
	Name string
	// Access is what a client may do with it.
	Access Access
	// Required marks properties that POST refuses to do without.
	Required bool
	// Default marks the properties Graph returns when the request has no $select.
	// Kinds with no Default property return every readable property by default.
	Default bool
	// Secret marks properties whose values must never reach a snapshot, a log or a plan.
	Secret bool
	// Volatile marks properties that change on their own (timestamps Graph maintains,
	// names Graph copies from other objects): diff ignores them and restore never
	// rolls them back.
	Volatile bool
}

// BinKind says whether, and where, deleted objects of a kind wait before they are purged.
type BinKind int

const (
	// NoBin: DELETE removes the object for good.
	NoBin BinKind = iota
	// DirectoryBin: DELETE moves the object to /directory/deletedItems for 30 days.
	DirectoryBin
	// ConditionalAccessBin: DELETE moves the object to the beta
	// /identity/conditionalAccess/deletedItems container for 30 days.
	ConditionalAccessBin
)

// Spec is everything lifeline knows about one kind.
type Spec struct {
	// Kind is the kind's name.
	Kind Kind
	// Collection is the Graph path of the kind's collection, relative to the version root
	// ("/users"). For kinds that Graph only exposes under a parent object, it contains the
	// placeholder "{parent}" ("/servicePrincipals/{parent}/appRoleAssignedTo").
	Collection string
	// Parent is the kind whose objects hold this kind's collection, when Collection has a
	// "{parent}" placeholder.
	Parent Kind
	// ParentProperty is the property of a nested object that names its parent
	// (resourceId for app role assignments).
	ParentProperty string
	// Singleton kinds are one object at a fixed path (Collection), not a collection.
	Singleton bool
	// ReadOnlyKind objects are context: lifeline reads them and never writes them.
	ReadOnlyKind bool
	// Beta marks kinds whose backup needs the beta endpoint.
	Beta bool
	// Bin says where deleted objects of this kind go.
	Bin BinKind
	// NaturalKeys are properties that identify an object across a delete and a recreate,
	// in order of preference; unique in the tenant when Unique is set.
	NaturalKeys []string
	// Unique lists the properties whose values Graph keeps unique across the tenant
	// (a duplicate is refused with 400 Request_BadRequest).
	Unique []string
	// Properties are the kind's top-level properties, in the order Graph documents them.
	Properties []Property
	// References are the properties whose values point at other objects.
	References []Reference
	// Links are relationships stored apart from the object (members, owners).
	Links []LinkSpec
	// AuditNoun is how the directory audit log names the kind ("user", "service principal").
	AuditNoun string
	// AuditCategory is the audit log category of writes to the kind.
	AuditCategory string
	// AuditTargetType is the targetResources type of the kind in the audit log.
	AuditTargetType string
}

// Property returns the named property of the kind.
func (s *Spec) Property(name string) (Property, bool) {
	for _, p := range s.Properties {
		if p.Name == name {
			return p, true
		}
	}
	return Property{}, false
}

// Select returns the $select value a backup sends: every readable property of the kind,
// so that nothing is lost to a default property set.
func (s *Spec) Select() string {
	names := make([]string, 0, len(s.Properties))
	for _, p := range s.Properties {
		if p.Access != WriteOnly {
			names = append(names, p.Name)
		}
	}
	return strings.Join(names, ",")
}

// VolatileProperties returns the names diff ignores for the kind.
func (s *Spec) VolatileProperties() []string {
	var names []string
	for _, p := range s.Properties {
		if p.Volatile {
			names = append(names, p.Name)
		}
	}
	return names
}

// DefaultProperties returns the names Graph returns without $select, or nil when it
// returns every readable property.
func (s *Spec) DefaultProperties() []string {
	var names []string
	for _, p := range s.Properties {
		if p.Default {
			names = append(names, p.Name)
		}
	}
	return names
}

// RequiredOnCreate returns the properties POST refuses to do without.
func (s *Spec) RequiredOnCreate() []string {
	var names []string
	for _, p := range s.Properties {
		if p.Required {
			names = append(names, p.Name)
		}
	}
	return names
}

// Writable reports whether a restore may send the property in a POST (create) or a
// PATCH (update). Unknown properties are not writable.
func (s *Spec) Writable(name string, create bool) bool {
	p, ok := s.Property(name)
	if !ok {
		return false
	}
	switch p.Access {
	case ReadWrite, WriteOnly:
		return true
	case CreateOnly:
		return create
	default:
		return false
	}
}

// SoftDeletable reports whether deleting an object of the kind leaves it restorable.
func (s *Spec) SoftDeletable() bool { return s.Bin != NoBin }

// Link returns the kind's link of the given name.
func (s *Spec) Link(name string) (LinkSpec, bool) {
	for _, l := range s.Links {
		if l.Name == name {
			return l, true
		}
	}
	return LinkSpec{}, false
}

// LinkRelation returns the relation (graph edge type) of the link called name that
// objects of kind hold: the link's name itself when entra does not define it.
func LinkRelation(kind Kind, name string) string {
	if spec, ok := Lookup(kind); ok {
		if l, ok := spec.Link(name); ok {
			return l.Relation
		}
	}
	return name
}

// ObjectPath returns the Graph path of one object of the kind.
func (s *Spec) ObjectPath(id string) string {
	if s.Singleton {
		return s.Collection
	}
	return s.Collection + "/" + id
}

var registry = map[Kind]*Spec{}
var ordered []*Spec

func register(s *Spec) {
	if _, dup := registry[s.Kind]; dup {
		panic("entra: kind registered twice: " + s.Kind)
	}
	registry[s.Kind] = s
	ordered = append(ordered, s)
}

// Lookup returns the spec of a kind.
func Lookup(k Kind) (*Spec, bool) {
	s, ok := registry[k]
	return s, ok
}

// MustLookup returns the spec of a kind lifeline is known to define; it panics otherwise,
// which is a programming error, never bad input.
func MustLookup(k Kind) *Spec {
	s, ok := registry[k]
	if !ok {
		panic("entra: unknown kind " + string(k))
	}
	return s
}

// ParseKind turns a user's spelling of a kind into a Kind. It accepts Graph's name in any
// case ("servicePrincipal", "serviceprincipal") and returns an error that lists the known
// kinds otherwise.
func ParseKind(s string) (Kind, error) {
	for _, spec := range ordered {
		if strings.EqualFold(string(spec.Kind), s) {
			return spec.Kind, nil
		}
	}
	return "", fmt.Errorf("unknown object kind %q: use one of %s", s, strings.Join(KindNames(), ", "))
}

// Specs returns every kind's spec in restore order.
func Specs() []*Spec { return append([]*Spec(nil), ordered...) }

// Kinds returns every kind in restore order.
func Kinds() []Kind {
	out := make([]Kind, len(ordered))
	for i, s := range ordered {
		out[i] = s.Kind
	}
	return out
}

// KindNames returns the kinds' names, sorted, for messages.
func KindNames() []string {
	out := make([]string, len(ordered))
	for i, s := range ordered {
		out[i] = string(s.Kind)
	}
	sort.Strings(out)
	return out
}

// KindForODataType maps an "@odata.type" value to a kind, including the concrete types of
// polymorphic kinds (an ipNamedLocation is a namedLocation).
func KindForODataType(t string) (Kind, bool) {
	t = strings.TrimPrefix(t, "#")
	t = strings.TrimPrefix(t, "microsoft.graph.")
	switch t {
	case "ipNamedLocation", "countryNamedLocation":
		return KindNamedLocation, true
	}
	for _, s := range ordered {
		if strings.EqualFold(string(s.Kind), t) {
			return s.Kind, true
		}
	}
	return "", false
}

// DisplayNameProperties are the only properties DisplayName reads (all strings): a
// caller holding an object undecoded decodes just these.
var DisplayNameProperties = []string{"principalDisplayName", "resourceDisplayName", "clientId", "resourceId", "scope",
	"roleDefinitionId", "principalId", "directoryScopeId", "displayName", "userPrincipalName", "id"}

// NameEnd is a property of an assignment or grant that holds the id of an object it
// connects (directoryScopeId as "/" + id), with the kinds that object may be of,
// likeliest first.
type NameEnd struct {
	Property string
	Kinds    []Kind
}

// DisplayNameEnds are the properties through which DisplayName names role assignments
// and grants: a caller that knows the connected objects' names puts them in place of
// the ids before calling it.
var DisplayNameEnds = []NameEnd{
	{"principalId", []Kind{KindUser, KindGroup, KindServicePrincipal}},
	{"roleDefinitionId", []Kind{KindRoleDefinition}},
	{"directoryScopeId", []Kind{KindApplication, KindAdministrativeUnit}},
	{"clientId", []Kind{KindServicePrincipal}},
	{"resourceId", []Kind{KindServicePrincipal}},
}

// NameByEnds is DisplayName(k, obj) with the ids of DisplayNameEnds replaced by the
// names nameOf gives the objects they connect (ids stay where it gives none): "role
// Global Administrator for Alice at /" rather than three ids. A directory scope is "/"
// and an id, or a path ending in one ("/administrativeUnits/{id}"). It changes obj.
func NameByEnds(k Kind, obj map[string]any, nameOf func(kind Kind, id string) string) string {
	for _, e := range DisplayNameEnds {
		id, _ := obj[e.Property].(string)
		bare := id[strings.LastIndex(id, "/")+1:]
		if bare == "" {
			continue
		}
		for _, kind := range e.Kinds {
			if name := nameOf(kind, bare); name != "" {
				obj[e.Property] = id[:len(id)-len(bare)] + name
				break
			}
		}
	}
	return DisplayName(k, obj)
}

// DisplayName returns the name a person knows an object by: its displayName, or for
// kinds without one a description built from what it connects. It reads only
// DisplayNameProperties.
func DisplayName(k Kind, obj map[string]any) string {
	str := func(key string) string { s, _ := obj[key].(string); return s }
	switch k {
	case KindAppRoleAssignment:
		if p, r := str("principalDisplayName"), str("resourceDisplayName"); p != "" || r != "" {
			return p + " -> " + r
		}
	case KindOAuth2PermissionGrant:
		return "grant " + str("clientId") + " -> " + str("resourceId") + " (" + str("scope") + ")"
	case KindRoleAssignment:
		return "role " + str("roleDefinitionId") + " for " + str("principalId") + " at " + str("directoryScopeId")
	}
	if n := str("displayName"); n != "" {
		return n
	}
	if n := str("userPrincipalName"); n != "" {
		return n
	}
	return str("id")
}
