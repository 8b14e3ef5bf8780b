package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/graphx"
)

// graphObjectJSON is one object in `graph --json`.
type graphObjectJSON struct {
	Kind        string `json:"kind"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	Relation    string `json:"relation,omitempty"`
}

type graphJSON struct {
	Object       graphObjectJSON   `json:"object"`
	References   []graphObjectJSON `json:"references"`
	ReferencedBy []graphObjectJSON `json:"referenced_by"`
	BlastRadius  struct {
		Count  int            `json:"count"`
		ByKind map[string]int `json:"by_kind"`
	} `json:"blast_radius"`
}

func newGraphCommand(stdout io.Writer) *cobra.Command {
	var (
		db, snapRef   string
		depth         int
		asJSON, asDot bool
	)
	cmd := &cobra.Command{
		Use:   "graph --db FILE --snapshot SNAP OBJECT",
		Short: "Show what an object references, what references it, and its blast radius",
		Long: `Show an object's dependencies in a snapshot. OBJECT is an object id, a
userPrincipalName, an appId or an exact display name. The blast radius is what
would break if the object were gone: CA policies that would lose a target or an
exclusion, role assignments, app role assignments and grants that would vanish,
and the groups it is nested in.`,
		Args: oneArg("an object: its id, userPrincipalName, appId or exact display name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON && asDot {
				return usagef("choose one of --json or --dot")
			}
			if depth < 1 {
				return usagef("--depth must be at least 1")
			}
			ctx := cmd.Context()
			s, err := openStore(ctx, db, false)
			if err != nil {
				return err
			}
			defer s.Close()
			snap, err := s.Resolve(ctx, snapRef)
			if err != nil {
				return err
			}
			g, err := engine.LoadGraph(ctx, s, snap.ID)
			if err != nil {
				return err
			}
			node, err := g.Lookup(args[0])
			if err != nil {
				return fmt.Errorf("in snapshot %d: %w", snap.ID, err)
			}
			switch {
			case asDot:
				writeDot(stdout, g, node, depth)
				return nil
			case asJSON:
				return printJSON(stdout, graphReport(g, node))
			}
			printGraph(stdout, g, node, depth)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&db, "db", "", "snapshot file")
	f.StringVar(&snapRef, "snapshot", "latest", "snapshot (id, label or 'latest')")
	f.IntVar(&depth, "depth", 1, "how many hops to show (text and --dot)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&asDot, "dot", false, "print a Graphviz graph")
	return cmd
}

func graphReport(g *graphx.Graph, n graphx.Node) graphJSON {
	var out graphJSON
	out.Object = graphObjectJSON{Kind: string(n.Kind), ID: n.ID, DisplayName: n.DisplayName}
	out.References = []graphObjectJSON{}
	out.ReferencedBy = []graphObjectJSON{}
	for _, e := range g.References(n.NodeID) {
		t, _ := g.Node(e.To)
		out.References = append(out.References, graphObjectJSON{Kind: string(e.To.Kind), ID: e.To.ID, DisplayName: t.DisplayName, Relation: e.Relation})
	}
	for _, e := range g.ReferencedBy(n.NodeID) {
		f, _ := g.Node(e.From)
		out.ReferencedBy = append(out.ReferencedBy, graphObjectJSON{Kind: string(e.From.Kind), ID: e.From.ID, DisplayName: f.DisplayName, Relation: e.Relation})
	}
	br := g.BlastRadius(n.NodeID)
	out.BlastRadius.Count = br.Count
	out.BlastRadius.ByKind = br.ByKind
	return out
}

func printGraph(w io.Writer, g *graphx.Graph, n graphx.Node, depth int) {
	fmt.Fprintf(w, "%s %s (%s)\n", n.Kind, n.DisplayName, n.ID)
	if n.InBin {
		fmt.Fprintln(w, "  (in the recycle bin at this snapshot)")
	}
	refs := g.References(n.NodeID)
	fmt.Fprintf(w, "\nreferences (%d):\n", len(refs))
	for _, e := range refs {
		t, _ := g.Node(e.To)
		fmt.Fprintf(w, "  -> %-24s %s %s (%s)\n", e.Relation, e.To.Kind, t.DisplayName, e.To.ID)
	}
	back := g.ReferencedBy(n.NodeID)
	fmt.Fprintf(w, "\nreferenced by (%d):\n", len(back))
	for _, e := range back {
		f, _ := g.Node(e.From)
		fmt.Fprintf(w, "  <- %-24s %s %s (%s)\n", e.Relation, e.From.Kind, f.DisplayName, e.From.ID)
	}
	br := g.BlastRadius(n.NodeID)
	fmt.Fprintf(w, "\nblast radius: %s would break if it were gone", plural(br.Count, "object", "objects"))
	if br.Count > 0 {
		var kinds []string
		for k, c := range br.ByKind {
			kinds = append(kinds, fmt.Sprintf("%d %s", c, k))
		}
		sort.Strings(kinds)
		fmt.Fprintf(w, " (%s)", strings.Join(kinds, ", "))
	}
	fmt.Fprintln(w)
	for _, im := range br.Impacted {
		what := "loses " + im.Via.Relation
		if im.Vanishes {
			what = "vanishes"
		}
		fmt.Fprintf(w, "  %-10s %s %s (%s)\n", what, im.Node.Kind, im.Node.DisplayName, im.Node.ID)
	}
	if depth > 1 {
		edges := g.Neighborhood(n.NodeID, depth)
		fmt.Fprintf(w, "\nwithin %d hops (%d edges):\n", depth, len(edges))
		for _, e := range edges {
			fmt.Fprintf(w, "  %s -[%s]-> %s\n", e.From, e.Relation, e.To)
		}
	}
}

func writeDot(w io.Writer, g *graphx.Graph, n graphx.Node, depth int) {
	fmt.Fprintln(w, "digraph lifeline {")
	fmt.Fprintln(w, "  rankdir=LR;")
	fmt.Fprintln(w, "  node [shape=box, fontname=\"Helvetica\"];")
	seen := map[graphx.NodeID]bool{}
	node := func(id graphx.NodeID) {
		if seen[id] {
			return
		}
		seen[id] = true
		m, _ := g.Node(id)
		style := ""
		if id == n.NodeID {
			style = ", style=bold"
		}
		fmt.Fprintf(w, "  %q [label=%q%s];\n", id.String(), string(id.Kind)+"\n"+m.DisplayName, style)
	}
	node(n.NodeID)
	for _, e := range g.Neighborhood(n.NodeID, depth) {
		node(e.From)
		node(e.To)
		fmt.Fprintf(w, "  %q -> %q [label=%q];\n", e.From.String(), e.To.String(), e.Relation)
	}
	fmt.Fprintln(w, "}")
}
