package graphx

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/lifelinehq/lifeline/entra"
)

// ErrNotFound is returned (wrapped) by Lookup when nothing matches.
var ErrNotFound = errors.New("no such object")

// Lookup finds the object a person means: an object id, a userPrincipalName, an appId
// (the application before its service principal), or an exact display name (case does
// not matter). An appId or a display name shared by one application and one service
// principal means the application; anything else several objects share is an error
// listing them, so nobody acts on the wrong object.
func (g *Graph) Lookup(query string) (Node, error) {
	q := strings.ToLower(strings.TrimSpace(query))
	if q == "" {
		return Node{}, fmt.Errorf("name an object: an id, a userPrincipalName, an appId or a display name")
	}
	g.nameIndexes()
	if hits := g.byKey[q]; len(hits) > 0 {
		return g.pick(query, hits)
	}
	if hits := g.byName[q]; len(hits) > 0 {
		return g.pick(query, hits)
	}
	return Node{}, fmt.Errorf("%q matches no object by id, userPrincipalName, appId or display name: %w", query, ErrNotFound)
}

func (g *Graph) pick(query string, hits []int32) (Node, error) {
	if len(hits) == 1 {
		return g.nodes[hits[0]], nil
	}
	nodes := make([]Node, len(hits))
	for i, h := range hits {
		nodes[i] = g.nodes[h]
	}
	sort.Slice(nodes, func(i, j int) bool { return lessNode(nodes[i], nodes[j]) })
	// An appId names an application and its service principal: the application is meant.
	if len(nodes) == 2 && nodes[0].Kind == entra.KindApplication && nodes[1].Kind == entra.KindServicePrincipal {
		return nodes[0], nil
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.String())
	}
	return Node{}, fmt.Errorf("%q matches %d objects (%s); name one by its id", query, len(nodes), strings.Join(names, ", "))
}

// Impact is one object a deletion would affect.
type Impact struct {
	Node Node `json:"node"`
	// Via is the edge through which it is affected (Via.To is the deleted object or
	// another casualty).
	Via Edge `json:"via"`
	// Vanishes: the object cannot exist without what it depends on (an assignment
	// whose principal is gone). Otherwise it survives but loses a target, an
	// exclusion, a member or an owner.
	Vanishes bool `json:"vanishes"`
}

// BlastRadius is what would break if an object were gone.
type BlastRadius struct {
	Count    int            `json:"count"`
	ByKind   map[string]int `json:"by_kind"`
	Impacted []Impact       `json:"impacted"`
}

// BlastRadius follows reverse edges from id: objects that require it vanish with it
// (and their own dependents are followed in turn); objects that merely reference it (CA
// policies, containing groups, owned objects' owner lists) lose the reference and are
// counted once, not followed.
func (g *Graph) BlastRadius(id NodeID) BlastRadius {
	br := BlastRadius{ByKind: map[string]int{}}
	start, ok := g.index[id]
	if !ok {
		return br
	}
	seen := map[int32]bool{start: true}
	queue := []int32{start}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, ei := range g.in[cur] {
			e := g.edges[ei]
			if seen[e.from] {
				continue
			}
			seen[e.from] = true
			vanishes := e.required && !e.link
			br.Impacted = append(br.Impacted, Impact{Node: g.nodes[e.from], Via: g.edge(ei), Vanishes: vanishes})
			if vanishes {
				queue = append(queue, e.from)
			}
		}
	}
	sort.Slice(br.Impacted, func(i, j int) bool { return lessNode(br.Impacted[i].Node, br.Impacted[j].Node) })
	br.Count = len(br.Impacted)
	for _, im := range br.Impacted {
		br.ByKind[string(im.Node.Kind)]++
	}
	return br
}

// Neighborhood returns the edges within depth hops of id, in either direction, in
// stable order: what a rendering of the object's surroundings shows.
func (g *Graph) Neighborhood(id NodeID, depth int) []Edge {
	start, ok := g.index[id]
	if !ok || depth < 1 {
		return nil
	}
	seenNode := map[int32]bool{start: true}
	seenEdge := map[int32]bool{}
	frontier := []int32{start}
	var out []Edge
	for d := 0; d < depth && len(frontier) > 0; d++ {
		var next []int32
		for _, n := range frontier {
			for _, adj := range [][]int32{g.out[n], g.in[n]} {
				for _, ei := range adj {
					if seenEdge[ei] {
						continue
					}
					seenEdge[ei] = true
					e := g.edges[ei]
					out = append(out, g.edge(ei))
					for _, m := range []int32{e.from, e.to} {
						if !seenNode[m] {
							seenNode[m] = true
							next = append(next, m)
						}
					}
				}
			}
		}
		frontier = next
	}
	sortEdges(out)
	return out
}
