package snapshots

import (
	"cmp"
	"context"
	"errors"

	"github.com/lifelinehq/lifeline/entra"
)

// nameEnds names the changed role assignments and delegated grants by the names of the
// objects they connect, "role Global Administrator for Alice at /", rather than by
// three ids: the objects are looked up on the side that holds the change, then on the
// other (a principal the incident purged keeps its name from the snapshot). An id
// neither side holds stays an id.
func nameEnds(ctx context.Context, from, to State, res *DiffResult) error {
	named := 0
	for i := range res.Changes {
		c := &res.Changes[i]
		if c.Kind != entra.KindRoleAssignment && c.Kind != entra.KindOAuth2PermissionGrant {
			continue
		}
		sides := []State{to, from}
		if c.Change == HardDeleted {
			sides = []State{from, to}
		}
		obj, err := objectOn(ctx, sides, c.Kind, c.ID)
		if err != nil {
			return err
		}
		if obj == nil {
			continue
		}
		if named++; named > maxNamedEnds {
			return nil // a mass incident: ids it is, rather than a query storm
		}
		var lookupErr error
		c.DisplayName = entra.NameByEnds(c.Kind, obj, func(k entra.Kind, id string) string {
			end, err := objectOn(ctx, sides, k, id)
			if err != nil || end == nil {
				lookupErr = cmp.Or(lookupErr, err)
				return ""
			}
			return entra.DisplayName(k, end)
		})
		if lookupErr != nil {
			return lookupErr
		}
	}
	return nil
}

// maxNamedEnds bounds how many changes nameEnds names: each costs a few point reads.
const maxNamedEnds = 5000

// objectOn decodes the object from the first of sides that holds it; nil when none does.
func objectOn(ctx context.Context, sides []State, kind entra.Kind, id string) (map[string]any, error) {
	for _, s := range sides {
		if s.Store == nil {
			continue
		}
		o, err := s.Store.Object(ctx, s.Snapshot.ID, kind, id)
		if errors.Is(err, ErrNoObject) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return o.Decode()
	}
	return nil, nil
}
