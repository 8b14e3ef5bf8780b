package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
)

// broughtBack is a user the plan restores or recreates, by a name it will hold (its
// userPrincipalName, or a proxy address), with the step that does it.
type broughtBack struct {
	n     graphx.NodeID
	stage string
	step  string
}

// The keys of usersBroughtBack's map: a name and what kind of name it is, lower-cased.
func upnKey(upn string) string { return "upn " + strings.ToLower(upn) }

// addressKey drops a proxy address's protocol (SMTP: primary, smtp: secondary): an
// address is one user's, whichever it is for them.
func addressKey(proxy string) string {
	if _, addr, ok := strings.Cut(proxy, ":"); ok {
		proxy = addr
	}
	return "address " + strings.ToLower(proxy)
}

// usersBroughtBack maps the userPrincipalName and proxy addresses (upnKey, addressKey)
// of every user the plan restores from the bin or recreates to that step. It is read
// once the restore and recreate stages are settled, by the removals and by the
// addresses freed first, and kept for the second (a mass restore decodes every user).
func (p *planner) usersBroughtBack() map[string]broughtBack {
	if p.back != nil {
		return p.back
	}
	out := map[string]broughtBack{}
	add := func(steps map[graphx.NodeID]string, stage string) {
		for n, step := range steps {
			if n.Kind != entra.KindUser {
				continue
			}
			var buf memberBuf
			ms, err := p.target.members(n, buf[:0])
			if err != nil {
				continue
			}
			b := broughtBack{n: n, stage: stage, step: step}
			v, _ := ms.Value("userPrincipalName")
			if upn, _ := v.(string); upn != "" {
				out[upnKey(upn)] = b
			}
			v, _ = ms.Value("proxyAddresses")
			proxies, _ := v.([]any)
			for _, a := range proxies {
				if a, _ := a.(string); a != "" {
					out[addressKey(a)] = b
				}
			}
		}
	}
	add(p.restored, StageRestoreFromBin)
	add(p.created, StageRecreate)
	p.back = out
	return out
}

// removeFirstIfItTakesTheName handles an added user n holding the userPrincipalName or
// a proxy address of a user the plan brings back (someone made an account by hand in
// its name, or with its mail). Graph refuses the restore or create while the name is
// taken, so the added user is deleted first: into the bin, where it stays restorable,
// and in the same stage, before the step that needs the name, which waits on it.
func (p *planner) removeFirstIfItTakesTheName(n graphx.NodeID, displayName string) (bool, error) {
	if n.Kind != entra.KindUser {
		return false, nil
	}
	back := p.usersBroughtBack()
	if len(back) == 0 {
		return false, nil
	}
	raw, err := p.liveObject(n.Kind, n.ID)
	if err != nil {
		return false, err
	}
	var u struct {
		UPN     string   `json:"userPrincipalName"`
		Proxies []string `json:"proxyAddresses"`
	}
	if err := json.Unmarshal(raw, &u); err != nil {
		return false, fmt.Errorf("user %s in the live tenant: %w", n.ID, err)
	}
	name, b, ok := "", broughtBack{}, false
	if u.UPN != "" {
		b, ok = back[upnKey(u.UPN)]
		name = "the userPrincipalName " + u.UPN
	}
	for _, a := range u.Proxies {
		if ok {
			break
		}
		b, ok = back[addressKey(a)]
		name = "the address " + a
	}
	if !ok {
		return false, nil
	}
	p.warn(n, "user %q (%s) was made since the snapshot with %s of the user the plan brings back (%s); Graph refuses that while the name is taken, so the plan deletes it first (into the bin, restorable): check it is not in use",
		displayName, n.ID, name, b.n.ID)
	remove := p.add(b.stage, Step{Kind: string(n.Kind), ObjectID: n.ID, DisplayName: displayName, Action: ActionRemoveObject,
		Requests: []Request{{Method: "DELETE", Path: entra.MustLookup(n.Kind).ObjectPath(n.ID)}}}, nil)
	p.waitOn(b.stage, b.step, remove)
	return true, nil
}

// waitOn makes the step of stage with this id wait on deps as well, once each: a step
// added after it was built that must go first.
func (p *planner) waitOn(stage, id string, deps ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	steps := p.stages[stage]
	for i := range steps {
		if steps[i].ID != id {
			continue
		}
		for _, d := range deps {
			if !slices.Contains(steps[i].DependsOn, d) {
				steps[i].DependsOn = append(steps[i].DependsOn, d)
			}
		}
	}
}

// freeAddressesTakenSince handles a user of the snapshot who was given, since, the mail
// of a user the plan brings back (Bob is given Alice's address after Alice was
// deleted). Graph refuses Alice's restore while Bob holds one of her proxy addresses,
// and the rollback stage that gives Bob his own mail back comes after the restore. So
// Bob's mail is set back first, in the plan's first stage, and the restore waits on it
// (the rollback sets it again, to the same value). When Bob's own mail was given to
// Carol in turn, Carol's is set back before Bob's. Deleting Bob, which the failure
// would otherwise suggest, is never right: he is in the snapshot.
func (p *planner) freeAddressesTakenSince() error {
	// holders are the users of the snapshot whose mail changed since, by the addresses
	// they hold now; read only when a plan has such users, which most do not.
	holders := map[string]graphx.NodeID{}
	names := map[graphx.NodeID]string{}
	for _, c := range p.sortedChanges(snapshots.Modified, func(c *snapshots.Change) bool { return c.Kind == entra.KindUser }) {
		if !slices.ContainsFunc(c.Properties, func(pc snapshots.PropertyChange) bool {
			return pc.Path == "mail" || strings.HasPrefix(pc.Path, "proxyAddresses")
		}) {
			continue
		}
		n := graphx.NodeID{Kind: c.Kind, ID: c.ID}
		raw, err := p.liveObject(n.Kind, n.ID)
		if err != nil {
			return err
		}
		var u struct {
			Proxies []string `json:"proxyAddresses"`
		}
		if err := json.Unmarshal(raw, &u); err != nil {
			return fmt.Errorf("user %s in the live tenant: %w", n.ID, err)
		}
		for _, a := range u.Proxies {
			holders[addressKey(a)] = n
		}
		names[n] = c.DisplayName
	}
	if len(holders) == 0 {
		return nil
	}
	freed := map[graphx.NodeID]string{} // holder -> its early step
	var free func(n graphx.NodeID, visiting map[graphx.NodeID]bool) (string, error)
	free = func(n graphx.NodeID, visiting map[graphx.NodeID]bool) (string, error) {
		if id, ok := freed[n]; ok {
			return id, nil
		}
		var buf memberBuf
		ms, err := p.target.members(n, buf[:0])
		if err != nil {
			return "", err
		}
		mail, _ := ms.Value("mail")
		var deps []string
		// The mail n gets back may be held, since, by another such user: that one
		// goes first. Two users who swapped mails cannot be ordered; the PATCH then
		// fails with Graph's sentence, and the rollback stage sets both.
		if m, _ := mail.(string); m != "" {
			if h, ok := holders[addressKey(m)]; ok && h != n && !visiting[h] {
				visiting[n] = true
				dep, err := free(h, visiting)
				if err != nil {
					return "", err
				}
				deps = append(deps, dep)
			}
		}
		id := p.add(StageRestoreFromBin, Step{Kind: string(n.Kind), ObjectID: n.ID, DisplayName: names[n], Action: ActionRollback, DependsOn: nonNil(deps),
			Requests: []Request{{Method: "PATCH", Path: entra.MustLookup(n.Kind).ObjectPath(n.ID), Body: mustJSON(map[string]any{"mail": mail})}}}, nil)
		freed[n] = id
		return id, nil
	}
	back := p.usersBroughtBack()
	for _, key := range sortedKeys(back) {
		b := back[key]
		h, ok := holders[key]
		if !ok || !strings.HasPrefix(key, "address ") || h == b.n {
			continue
		}
		_, already := freed[h]
		step, err := free(h, map[graphx.NodeID]bool{})
		if err != nil {
			return err
		}
		if !already {
			p.warn(h, "user %q (%s) holds the %s of the user the plan brings back (%s) since the snapshot; Graph refuses that while the address is taken, so the plan sets %q's mail back first",
				names[h], h.ID, key, b.n.ID, names[h])
		}
		p.waitOn(b.stage, b.step, step)
	}
	return nil
}
