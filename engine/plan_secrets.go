package engine

import (
	"slices"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
)

// ActionRemoveSecret takes away a client secret the incident added to an application
// or a service principal that survived it: POST removePassword with its keyId. A
// secret added by an attacker is the classic way to keep access after the rest is put
// back, and passwordCredentials cannot be written by PATCH.
const ActionRemoveSecret = "remove-secret"

// secretChange is what an object's passwordCredentials lost and gained, by keyId.
type secretChange struct {
	added, lost []string
}

// secretsChanged compares the client secrets of a property change on
// passwordCredentials: the keyIds after holds that before lacks, and the reverse.
func secretsChanged(pc snapshots.PropertyChange) secretChange {
	before, after := secretKeyIDs(pc.Before), secretKeyIDs(pc.After)
	var sc secretChange
	for _, k := range after {
		if !slices.Contains(before, k) {
			sc.added = append(sc.added, k)
		}
	}
	for _, k := range before {
		if !slices.Contains(after, k) {
			sc.lost = append(sc.lost, k)
		}
	}
	return sc
}

// secretKeyIDs lists the keyIds of a passwordCredentials value, sorted.
func secretKeyIDs(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, c := range list {
		if m, ok := c.(map[string]any); ok {
			if id, _ := m["keyId"].(string); id != "" {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return out
}

// removeAddedSecrets plans a removePassword for each client secret an application or a
// service principal gained since the snapshot.
func (p *planner) removeAddedSecrets() {
	for _, c := range p.sortedChanges(snapshots.Modified, func(c *snapshots.Change) bool {
		return c.Kind == entra.KindApplication || c.Kind == entra.KindServicePrincipal
	}) {
		for _, pc := range c.Properties {
			if topProperty(pc.Path) != "passwordCredentials" {
				continue
			}
			n := graphx.NodeID{Kind: c.Kind, ID: c.ID}
			path := entra.MustLookup(c.Kind).ObjectPath(c.ID) + "/removePassword"
			for _, key := range secretsChanged(pc).added {
				s := Step{Kind: string(c.Kind), ObjectID: c.ID, DisplayName: p.displayName(n), Action: ActionRemoveSecret,
					Paths: []string{"passwordCredentials"}, Requests: []Request{{Method: "POST", Path: path, Body: mustJSON(map[string]string{"keyId": key})}}}
				s.ID = StepID(StageRemoveAdditions, s.Action, c.Kind, c.ID, key)
				p.addWithID(StageRemoveAdditions, s)
			}
		}
	}
}
