package graphx

import (
	"container/heap"
	"fmt"
	"sort"
	"strings"
)

// TopoSort orders items so that every item comes after what it depends on. Among items
// that are ready at the same time, less decides, so the order is stable: the same input
// gives the same order, which plans and golden files rely on.
//
// Items on a dependency cycle cannot be ordered among themselves; each cycle (a
// strongly connected component of more than one item, or an item depending on itself)
// is kept together, ordered by less, placed where the whole group becomes ready, and
// reported in cycles with its members in order starting from the least. Dependencies on
// items not in the input are ignored.
func TopoSort[K comparable](items []K, deps func(K) []K, less func(a, b K) bool) (order []K, cycles [][]K) {
	idx := make(map[K]int, len(items))
	for i, it := range items {
		if _, dup := idx[it]; !dup {
			idx[it] = i
		}
	}
	n := len(items)
	adj := make([][]int, n) // i -> what i depends on
	selfLoop := make([]bool, n)
	for i, it := range items {
		if idx[it] != i {
			continue
		}
		for _, d := range deps(it) {
			j, ok := idx[d]
			if !ok {
				continue
			}
			if j == i {
				selfLoop[i] = true
				continue
			}
			adj[i] = append(adj[i], j)
		}
	}
	comp, comps := tarjan(n, adj)

	// Members of each component, sorted; the component's rank is its least member.
	members := make([][]int, comps)
	for i := 0; i < n; i++ {
		if idx[items[i]] == i {
			members[comp[i]] = append(members[comp[i]], i)
		}
	}
	for c := range members {
		sort.Slice(members[c], func(a, b int) bool { return less(items[members[c][a]], items[members[c][b]]) })
		m := members[c]
		if len(m) > 1 || (len(m) == 1 && selfLoop[m[0]]) {
			cyc := make([]K, len(m))
			for k, i := range m {
				cyc[k] = items[i]
			}
			cycles = append(cycles, cyc)
		}
	}
	sort.Slice(cycles, func(a, b int) bool { return less(cycles[a][0], cycles[b][0]) })

	// Kahn over the condensation: a component is ready when every component it depends
	// on is placed.
	waiting := make([]int, comps)
	dependents := make([][]int, comps)
	for i := 0; i < n; i++ {
		for _, j := range adj[i] {
			if comp[i] != comp[j] {
				waiting[comp[i]]++
				dependents[comp[j]] = append(dependents[comp[j]], comp[i])
			}
		}
	}
	h := &compHeap{less: func(a, b int) bool { return less(items[members[a][0]], items[members[b][0]]) }}
	for c := 0; c < comps; c++ {
		if waiting[c] == 0 && len(members[c]) > 0 {
			h.items = append(h.items, c)
		}
	}
	heap.Init(h)
	order = make([]K, 0, len(idx))
	for h.Len() > 0 {
		c := heap.Pop(h).(int)
		for _, i := range members[c] {
			order = append(order, items[i])
		}
		for _, d := range dependents[c] {
			waiting[d]--
			if waiting[d] == 0 {
				heap.Push(h, d)
			}
		}
	}
	return order, cycles
}

// tarjan labels each node with its strongly connected component (iteratively, so deep
// chains of nested groups cannot overflow the stack).
func tarjan(n int, adj [][]int) (comp []int, count int) {
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	comp = make([]int, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next := 0
	type frame struct{ v, edge int }
	for root := 0; root < n; root++ {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			if f.edge < len(adj[f.v]) {
				w := adj[f.v][f.edge]
				f.edge++
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{w, 0})
				} else if onStack[w] && index[w] < low[f.v] {
					low[f.v] = index[w]
				}
				continue
			}
			v := f.v
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].v
				if low[v] < low[p] {
					low[p] = low[v]
				}
			}
			if low[v] == index[v] {
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp[w] = count
					if w == v {
						break
					}
				}
				count++
			}
		}
	}
	return comp, count
}

type compHeap struct {
	items []int
	less  func(a, b int) bool
}

func (h *compHeap) Len() int           { return len(h.items) }
func (h *compHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *compHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *compHeap) Push(x any)         { h.items = append(h.items, x.(int)) }
func (h *compHeap) Pop() any {
	old := h.items
	x := old[len(old)-1]
	h.items = old[:len(old)-1]
	return x
}

// Order returns the given objects in restore order: every object after the objects its
// properties reference (links such as members are not dependencies: they are restored
// once both ends exist). Ties break by kind order, display name, then id. Cycles come
// back as readable sentences.
func (g *Graph) Order(ids []NodeID) ([]NodeID, []string) {
	// Each id is sorted by position, once, with its sort key and dependencies looked up
	// once: a heap over tens of thousands of objects compares them a million times.
	type key struct {
		rank int
		name string
		id   NodeID
	}
	pos := make([]int32, len(g.nodes)) // node index -> position + 1
	var keys []key
	var nodes []int32 // position -> node index, -1 when not in the graph
	seen := make(map[NodeID]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue // TopoSort keeps the first of duplicates
		}
		seen[id] = true
		k := key{rank: kindRank[id.Kind], id: id}
		i, ok := g.index[id]
		if ok {
			k.name = g.nodes[i].DisplayName
			pos[i] = int32(len(keys)) + 1
		} else {
			i = -1
		}
		keys = append(keys, k)
		nodes = append(nodes, i)
	}
	items := make([]int, len(keys))
	for i := range items {
		items[i] = i
	}
	deps := func(p int) []int {
		if nodes[p] < 0 {
			return nil
		}
		var out []int
		for _, ei := range g.out[nodes[p]] {
			if e := g.edges[ei]; !e.link && pos[e.to] > 0 {
				out = append(out, int(pos[e.to])-1)
			}
		}
		return out
	}
	// lessNode, on the keys.
	less := func(a, b int) bool {
		x, y := &keys[a], &keys[b]
		if x.rank != y.rank {
			return x.rank < y.rank
		}
		if x.name != y.name {
			return x.name < y.name
		}
		return x.id.ID < y.id.ID
	}
	order, cycles := TopoSort(items, deps, less)
	out := make([]NodeID, len(order))
	for i, p := range order {
		out[i] = keys[p].id
	}
	var reports []string
	for _, c := range cycles {
		members := make([]NodeID, len(c))
		for i, p := range c {
			members[i] = keys[p].id
		}
		reports = append(reports, g.describeCycle(members))
	}
	return out, reports
}

func (g *Graph) describeCycle(members []NodeID) string {
	in := map[NodeID]bool{}
	for _, m := range members {
		in[m] = true
	}
	// Walk the cycle from its least member along edges that stay inside it.
	var parts []string
	cur := members[0]
	visited := map[NodeID]bool{}
	for !visited[cur] {
		visited[cur] = true
		n, _ := g.Node(cur)
		var next *Edge
		for _, e := range g.References(cur) {
			if !e.Link && in[e.To] {
				e := e
				next = &e
				break
			}
		}
		label := fmt.Sprintf("%s %q", cur.String(), n.DisplayName)
		if next == nil {
			parts = append(parts, label)
			break
		}
		parts = append(parts, label+" -["+next.Relation+"]->")
		cur = next.To
	}
	parts = append(parts, members[0].String())
	return "dependency cycle: " + strings.Join(parts, " ")
}
