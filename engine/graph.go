package engine

import (
	"context"
	"fmt"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
)

// LoadGraph builds the dependency graph of one snapshot: every object (recycle-bin
// objects included, marked) and every link.
func LoadGraph(ctx context.Context, store *snapshots.Store, snap int64) (*graphx.Graph, error) {
	b := graphx.NewBuilder()
	err := store.Objects(ctx, snap, "", func(o snapshots.Object) error {
		if _, ok := entra.Lookup(o.Kind); !ok {
			return nil
		}
		if err := b.AddObject(o.Kind, o.ID, o.JSON, o.InBin); err != nil {
			return fmt.Errorf("%s %s in snapshot %d is unreadable: %w", o.Kind, o.ID, snap, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = store.Links(ctx, snap, func(l snapshots.Link) error {
		b.AddLink(l.Kind, l.From, l.Name, l.ToKind, l.To)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b.Build(), nil
}
