package engine

import (
	"context"
	"encoding/json"
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
		spec, ok := entra.Lookup(o.Kind)
		if !ok {
			return nil
		}
		if len(spec.References) == 0 {
			// Most objects (users, groups) hold no property references: decode only
			// the names lookup needs, which is several times cheaper than a full map.
			var names struct {
				DisplayName            string `json:"displayName"`
				UserPrincipalName      string `json:"userPrincipalName"`
				AppID                  string `json:"appId"`
				TemplateID             string `json:"templateId"`
				AppOwnerOrganizationID string `json:"appOwnerOrganizationId"`
			}
			if err := json.Unmarshal(o.JSON, &names); err != nil {
				return fmt.Errorf("%s %s in snapshot %d is unreadable: %w", o.Kind, o.ID, snap, err)
			}
			m := map[string]any{"id": o.ID}
			for k, v := range map[string]string{"displayName": names.DisplayName, "userPrincipalName": names.UserPrincipalName,
				"appId": names.AppID, "templateId": names.TemplateID, "appOwnerOrganizationId": names.AppOwnerOrganizationID} {
				if v != "" {
					m[k] = v
				}
			}
			b.AddDecoded(o.Kind, o.ID, m, o.InBin)
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
