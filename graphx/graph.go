// Package graphx is the dependency graph over directory objects: typed edges built from
// entra's reference specs and from links (members, owners), reverse edges ("who points
// at me"), blast radius, a stable topological order with readable cycle reports, and the
// rewriting of references through an old-id -> new-id ledger.
//
// It knows nothing of where objects come from: a snapshot, a live capture or a test
// feeds it through a Builder.
package graphx

import (
	"cmp"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/lifelinehq/lifeline/entra"
)

// NodeID names one directory object.
type NodeID struct {
	Kind entra.Kind `json:"kind"`
	ID   string     `json:"id"`
}

// String renders "kind/id".
func (n NodeID) String() string { return string(n.Kind) + "/" + n.ID }

// Node is one object in the graph.
type Node struct {
	NodeID
	DisplayName string
	// InBin marks objects that are in a recycle bin (soft-deleted).
	InBin bool
	// Keys are the other names a person may know the object by (UPN, appId).
	Keys []string
}

// Edge is one typed dependency: From references To.
type Edge struct {
	From NodeID `json:"from"`
	To   NodeID `json:"to"`
	// Relation is the edge type ("member", "ca-include-group", "app-sp", ...).
	Relation string `json:"relation"`
	// Pointer locates the reference in From's JSON ("" for links).
	Pointer string `json:"pointer,omitempty"`
	// Value is the reference as written (an appId, a template id, a scope path).
	Value string `json:"value,omitempty"`
	// Required: From cannot exist without To (an assignment without its principal).
	Required bool `json:"required,omitempty"`
	// Link marks relationships kept apart from properties (members, owners).
	Link bool `json:"link,omitempty"`
}

// Dangling is a reference whose target is not in the graph: a CA policy still naming a
// group that was hard-deleted.
type Dangling struct {
	From     NodeID       `json:"from"`
	Relation string       `json:"relation"`
	Pointer  string       `json:"pointer,omitempty"`
	Value    string       `json:"value"`
	Targets  []entra.Kind `json:"targets"`
}

// Graph is the dependency graph of one directory state. It is read-only once built and
// safe for concurrent readers.
type Graph struct {
	nodes    []Node
	index    map[NodeID]int32
	out, in  [][]int32 // edge indexes per node
	edges    []edge
	dangling []Dangling
	// name indexes for Lookup, built by its first call: a restore plan builds the
	// graph of a whole snapshot and never looks a name up
	indexNames sync.Once
	byKey      map[string][]int32 // lowercased UPN / appId / id
	byName     map[string][]int32 // lowercased display name
}

// nameIndexes builds byKey and byName, once.
func (g *Graph) nameIndexes() {
	g.indexNames.Do(func() {
		g.byKey, g.byName = map[string][]int32{}, map[string][]int32{}
		for i, n := range g.nodes {
			i := int32(i)
			g.byKey[strings.ToLower(n.ID)] = append(g.byKey[strings.ToLower(n.ID)], i)
			for _, k := range n.Keys {
				g.byKey[strings.ToLower(k)] = append(g.byKey[strings.ToLower(k)], i)
			}
			if n.DisplayName != "" {
				g.byName[strings.ToLower(n.DisplayName)] = append(g.byName[strings.ToLower(n.DisplayName)], i)
			}
		}
	})
}

type edge struct {
	from, to int32
	relation string
	pointer  string
	value    string
	required bool
	link     bool
}

func (g *Graph) edge(i int32) Edge {
	e := g.edges[i]
	return Edge{From: g.nodes[e.from].NodeID, To: g.nodes[e.to].NodeID, Relation: e.relation, Pointer: e.pointer, Value: e.value, Required: e.required, Link: e.link}
}

// Len returns the number of nodes.
func (g *Graph) Len() int { return len(g.nodes) }

// EdgeCount returns the number of edges.
func (g *Graph) EdgeCount() int { return len(g.edges) }

// Node returns a node by id.
func (g *Graph) Node(id NodeID) (Node, bool) {
	i, ok := g.index[id]
	if !ok {
		return Node{}, false
	}
	return g.nodes[i], true
}

// Nodes returns every node in (kind order, display name, id) order.
func (g *Graph) Nodes() []Node {
	out := append([]Node(nil), g.nodes...)
	sort.Slice(out, func(i, j int) bool { return lessNode(out[i], out[j]) })
	return out
}

// References returns what id points at, in stable order.
func (g *Graph) References(id NodeID) []Edge { return g.collect(id, g.out, false) }

// ReferencedBy returns what points at id, in stable order.
func (g *Graph) ReferencedBy(id NodeID) []Edge { return g.collect(id, g.in, false) }

// PropertyReferences is References less links: the references an object's own
// properties hold. A group's members are links; a restore plan asks for the property
// references of thousands of groups and would otherwise sort every member each time.
func (g *Graph) PropertyReferences(id NodeID) []Edge { return g.collect(id, g.out, true) }

// PropertyReferencedBy is ReferencedBy less links.
func (g *Graph) PropertyReferencedBy(id NodeID) []Edge { return g.collect(id, g.in, true) }

func (g *Graph) collect(id NodeID, adj [][]int32, propertiesOnly bool) []Edge {
	i, ok := g.index[id]
	if !ok {
		return nil
	}
	out := make([]Edge, 0, len(adj[i]))
	for _, e := range adj[i] {
		if propertiesOnly && g.edges[e].link {
			continue
		}
		out = append(out, g.edge(e))
	}
	sortEdges(out)
	return out
}

// Dangling returns the references whose targets are not in the graph.
func (g *Graph) Dangling() []Dangling { return append([]Dangling(nil), g.dangling...) }

// compareNodeStrings compares a.String() with b.String() without building them: the
// edges of a group with thousands of members are sorted every time they are asked for.
func compareNodeStrings(a, b NodeID) int {
	if a.Kind == b.Kind {
		return strings.Compare(a.ID, b.ID)
	}
	at := func(n NodeID, i int) byte {
		switch {
		case i < len(n.Kind):
			return n.Kind[i]
		case i == len(n.Kind):
			return '/'
		}
		return n.ID[i-len(n.Kind)-1]
	}
	la, lb := len(a.Kind)+1+len(a.ID), len(b.Kind)+1+len(b.ID)
	for i := range min(la, lb) {
		if ca, cb := at(a, i), at(b, i); ca != cb {
			return cmp.Compare(ca, cb)
		}
	}
	return cmp.Compare(la, lb)
}

func sortEdges(es []Edge) {
	sort.Slice(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.Relation != b.Relation {
			return a.Relation < b.Relation
		}
		if a.From != b.From {
			return compareNodeStrings(a.From, b.From) < 0
		}
		if a.To != b.To {
			return compareNodeStrings(a.To, b.To) < 0
		}
		return a.Pointer < b.Pointer
	})
}

// kindRank orders kinds as entra registers them: restore order.
var kindRank = func() map[entra.Kind]int {
	m := map[entra.Kind]int{}
	for i, k := range entra.Kinds() {
		m[k] = i
	}
	return m
}()

func lessNode(a, b Node) bool {
	if kindRank[a.Kind] != kindRank[b.Kind] {
		return kindRank[a.Kind] < kindRank[b.Kind]
	}
	if a.DisplayName != b.DisplayName {
		return a.DisplayName < b.DisplayName
	}
	return a.ID < b.ID
}

// Builder accumulates objects and links, then resolves references into a Graph.
type Builder struct {
	g     *Graph
	refs  []pendingRef
	links []pendingLink
	// resolution indexes
	appIDs    map[string][]int32 // appId -> application and service principal nodes
	templates map[string]int32   // role template id (and definition id) -> role definition
	// spOwner is each service principal's appOwnerOrganizationId: a first-party or
	// multi-tenant app's SP names an application that lives in another tenant, which is
	// not a dangling reference.
	spOwner map[int32]string
	orgID   string
	// named are the role assignments and grants, with the properties DisplayName names
	// them from: Build names them by the objects they connect (nameByEnds).
	named map[int32]map[string]any
	// the kind and name of the last link added, and its relation
	lastKind     entra.Kind
	lastName     string
	lastRelation string
}

type pendingRef struct {
	from int32
	ref  entra.ResolvedRef
}

type pendingLink struct {
	from, to NodeID
	relation string
}

// NewBuilder starts an empty graph.
func NewBuilder() *Builder {
	return &Builder{
		g:      &Graph{index: map[NodeID]int32{}},
		appIDs: map[string][]int32{}, templates: map[string]int32{}, spOwner: map[int32]string{},
	}
}

// AddObject adds one object from its Graph JSON. References are resolved in Build, so
// objects may arrive in any order.
func (b *Builder) AddObject(kind entra.Kind, id string, raw []byte, inBin bool) error {
	if spec, ok := entra.Lookup(kind); ok && len(spec.References) == 0 {
		// Most objects (users, groups) hold no property references: decode only the
		// names lookup needs, several times cheaper than a map of every property.
		obj := map[string]any{"id": id}
		err := topLevelStrings(raw, nodeProperties, func(key, value string) {
			if value != "" {
				obj[key] = value
			}
		})
		if err != nil {
			return err
		}
		b.AddDecoded(kind, id, obj, inBin)
		return nil
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return err
	}
	b.AddDecoded(kind, id, obj, inBin)
	return nil
}

// nodeProperties are the properties a node of an object without references is built
// from: AddDecoded reads no others of it. entra.DisplayName reads only displayName and
// userPrincipalName (and the id) of those kinds; the kinds it names from other
// properties (assignments, grants) hold references and are decoded whole. A test holds
// the two ways of building a node to the same names.
var nodeProperties = []string{"displayName", "userPrincipalName", "appId", "templateId", "appOwnerOrganizationId"}

// AddDecoded adds one object already decoded into a map.
func (b *Builder) AddDecoded(kind entra.Kind, id string, obj map[string]any, inBin bool) {
	nid := NodeID{Kind: kind, ID: id}
	if _, dup := b.g.index[nid]; dup {
		return
	}
	i := int32(len(b.g.nodes))
	n := Node{NodeID: nid, DisplayName: entra.DisplayName(kind, obj), InBin: inBin}
	str := func(k string) string { s, _ := obj[k].(string); return s }
	switch kind {
	case entra.KindUser:
		if upn := str("userPrincipalName"); upn != "" {
			n.Keys = append(n.Keys, upn)
		}
	case entra.KindApplication, entra.KindServicePrincipal:
		if appID := str("appId"); appID != "" {
			n.Keys = append(n.Keys, appID)
			b.appIDs[appID] = append(b.appIDs[appID], i)
		}
		if owner := str("appOwnerOrganizationId"); owner != "" {
			b.spOwner[i] = owner
		}
	case entra.KindOrganization:
		b.orgID = id
	case entra.KindRoleDefinition:
		b.templates[id] = i
		if t := str("templateId"); t != "" {
			b.templates[t] = i
		}
	case entra.KindRoleAssignment, entra.KindOAuth2PermissionGrant:
		props := make(map[string]any, len(entra.DisplayNameProperties))
		for _, k := range entra.DisplayNameProperties {
			if v, ok := obj[k]; ok {
				props[k] = v
			}
		}
		if b.named == nil {
			b.named = map[int32]map[string]any{}
		}
		b.named[i] = props
	}
	b.g.nodes = append(b.g.nodes, n)
	b.g.index[nid] = i
	if spec, ok := entra.Lookup(kind); ok && len(spec.References) > 0 {
		for _, r := range spec.ExtractReferences(obj) {
			b.refs = append(b.refs, pendingRef{from: i, ref: r})
		}
	}
}

// AddLink adds one relationship kept apart from properties (from's members, owners...).
func (b *Builder) AddLink(fromKind entra.Kind, from, name string, toKind entra.Kind, to string) {
	// Links come by holder, hundreds of thousands of them with a handful of names:
	// the last name's relation is kept.
	relation := b.lastRelation
	if fromKind != b.lastKind || name != b.lastName {
		relation = entra.LinkRelation(fromKind, name)
		b.lastKind, b.lastName, b.lastRelation = fromKind, name, relation
	}
	// Resolved in Build, once every object is in.
	b.links = append(b.links, pendingLink{from: NodeID{Kind: fromKind, ID: from}, to: NodeID{Kind: toKind, ID: to}, relation: relation})
}

// Build resolves every reference and link into edges and returns the graph. The
// Builder must not be used afterwards.
func (b *Builder) Build() *Graph {
	g := b.g
	g.out = make([][]int32, len(g.nodes))
	g.in = make([][]int32, len(g.nodes))
	g.edges = slices.Grow(g.edges, len(b.refs)+len(b.links))
	add := func(e edge) {
		k := int32(len(g.edges))
		g.edges = append(g.edges, e)
		g.out[e.from] = append(g.out[e.from], k)
		g.in[e.to] = append(g.in[e.to], k)
	}
	for _, p := range b.refs {
		targets := b.resolve(p.ref)
		if len(targets) == 0 && p.ref.Reference.Relation == "app-sp" {
			if owner := b.spOwner[p.from]; owner != "" && b.orgID != "" && owner != b.orgID {
				continue // another tenant's application
			}
		}
		if len(targets) == 0 {
			g.dangling = append(g.dangling, Dangling{From: g.nodes[p.from].NodeID, Relation: p.ref.Reference.Relation, Pointer: p.ref.Pointer, Value: p.ref.Value, Targets: p.ref.Reference.Targets})
			continue
		}
		for _, t := range targets {
			if t == p.from {
				continue
			}
			add(edge{from: p.from, to: t, relation: p.ref.Reference.Relation, pointer: p.ref.Pointer, value: p.ref.Value, required: p.ref.Reference.Required})
		}
	}
	// Links come grouped by holder: its index is looked up once per holder.
	var holder NodeID
	from, holderOK := int32(0), false
	for i, l := range b.links {
		if i == 0 || l.from != holder {
			holder = l.from
			from, holderOK = g.index[l.from]
		}
		if !holderOK {
			continue // the holder itself is not in this state
		}
		to, ok := g.index[l.to]
		if !ok {
			g.dangling = append(g.dangling, Dangling{From: l.from, Relation: l.relation, Value: l.to.ID, Targets: []entra.Kind{l.to.Kind}})
			continue
		}
		add(edge{from: from, to: to, relation: l.relation, value: l.to.ID, link: true})
	}
	sort.Slice(g.dangling, func(i, j int) bool {
		a, b := g.dangling[i], g.dangling[j]
		if a.From != b.From {
			return a.From.String() < b.From.String()
		}
		return a.Pointer+a.Value < b.Pointer+b.Value
	})
	b.nameByEnds()
	b.g = nil
	return g
}

// nameByEnds names role assignments and grants by the names of the objects they
// connect, where the graph holds them: "role Global Administrator for Alice at /"
// rather than three ids (entra.DisplayNameEnds, as the diff names them).
func (b *Builder) nameByEnds() {
	g := b.g
	nameOf := func(kind entra.Kind, id string) string {
		if j, ok := g.index[NodeID{Kind: kind, ID: id}]; ok {
			return g.nodes[j].DisplayName
		}
		return ""
	}
	for i, props := range b.named {
		g.nodes[i].DisplayName = entra.NameByEnds(g.nodes[i].Kind, props, nameOf)
	}
	b.named = nil
}

// resolve finds the nodes a reference value names, by the reference's id form.
func (b *Builder) resolve(r entra.ResolvedRef) []int32 {
	g := b.g
	switch r.Reference.Form {
	case entra.AppID:
		var out []int32
		for _, i := range b.appIDs[r.ID] {
			for _, k := range r.Reference.Targets {
				if g.nodes[i].Kind == k {
					out = append(out, i)
				}
			}
		}
		return out
	case entra.RoleTemplateID:
		if i, ok := b.templates[r.ID]; ok {
			return []int32{i}
		}
		return nil
	case entra.DirectoryScope:
		if k, ok := entra.ScopeKind(r.Value); ok {
			if i, ok := g.index[NodeID{Kind: k, ID: r.ID}]; ok {
				return []int32{i}
			}
		}
		return nil
	default:
		for _, k := range r.Reference.Targets {
			if i, ok := g.index[NodeID{Kind: k, ID: r.ID}]; ok {
				return []int32{i}
			}
		}
		return nil
	}
}
