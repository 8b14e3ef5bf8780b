package sim

import (
	"net/http"
	"strings"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// addedExists is Graph's answer to linking an object that is already linked.
func addedExists(name string) *apiError {
	return badRequest("One or more added object references already exist for the following modified properties: '%s'.", name)
}

// removedMissing is Graph's answer to unlinking an object that is not linked.
func removedMissing(name string) *apiError {
	return newError(http.StatusNotFound, "Request_ResourceNotFound",
		"One or more removed object references do not exist for the following modified properties: '%s'.", name)
}

// checkLinkRules applies the membership rules of graph-spec §2.2.1 (and the like for
// owners, administrative unit members and managers) to a new link, without looking at
// what is already linked.
func (st *store) checkLinkRules(holder *object, name string, target *object) *apiError {
	spec := entra.MustLookup(holder.kind)
	ls, ok := spec.Link(name)
	if !ok {
		return segmentNotFound(name)
	}
	if !kindIn(ls.Targets, target.kind) {
		return badRequest("An object of type '%s' cannot be added to the '%s' of a %s.", target.kind, name, holder.kind)
	}
	if target.id == holder.id {
		return badRequest("An object cannot be added to its own '%s'.", name)
	}
	if holder.kind == entra.KindGroup && name == "members" {
		for _, t := range getStrings(holder.data, "groupTypes") {
			if strings.EqualFold(t, "DynamicMembership") {
				return badRequest("The members of a group with dynamic membership are computed by its membership rule and cannot be changed.")
			}
		}
		if target.kind == entra.KindGroup {
			if isUnified(holder.data) {
				return badRequest("A Microsoft 365 group cannot have groups as members.")
			}
			if isUnified(target.data) {
				return badRequest("A Microsoft 365 group cannot be a member of another group.")
			}
		}
		if isUnified(holder.data) && target.kind != entra.KindUser {
			return badRequest("An object of type '%s' cannot be a member of a Microsoft 365 group.", target.kind)
		}
	}
	return nil
}

// checkLink is checkLinkRules plus "already linked".
func (st *store) checkLink(holder *object, name string, target *object) *apiError {
	if err := st.checkLinkRules(holder, name, target); err != nil {
		return err
	}
	if set := st.linkSet(holder.id, name); set != nil && set.Has(target.id) {
		return addedExists(name)
	}
	return nil
}

func kindIn(list []entra.Kind, k entra.Kind) bool {
	for _, x := range list {
		if x == k {
			return true
		}
	}
	return false
}

// linkActivity is how the audit log names a link change ("Add member to group").
func linkActivity(add bool, holder entra.Kind, name string) (activity, opType string) {
	verb, prep, opType := "Add", "to", "Assign"
	if !add {
		verb, prep, opType = "Remove", "from", "Unassign"
	}
	noun := strings.TrimSuffix(name, "s")
	return verb + " " + noun + " " + prep + " " + entra.MustLookup(holder).AuditNoun, opType
}

// link adds a checked link and records it.
func (st *store) link(now time.Time, who actor, holder *object, name string, target *object) {
	if !st.addLink(holder.id, name, target.id) {
		return
	}
	if holder.kind == entra.KindGroup && name == "members" {
		st.logMember(now, holder.id, target, false)
	}
	activity, op := linkActivity(true, holder.kind, name)
	spec := entra.MustLookup(holder.kind)
	st.record(now, who, activity, spec.AuditCategory, op, "", targetOf(holder), targetOf(target))
}

// unlink removes a link, refusing to remove a group's last owner.
func (st *store) unlink(now time.Time, who actor, holder *object, name, targetID string) *apiError {
	set := st.linkSet(holder.id, name)
	target := st.getAny(targetID)
	if set == nil || !set.Has(targetID) || target == nil {
		return removedMissing(name)
	}
	if holder.kind == entra.KindGroup && name == "owners" && st.liveLinkCount(holder.id, name) <= 1 {
		return badRequest("The group must have at least one owner, hence this owner cannot be removed.")
	}
	st.removeLink(holder.id, name, targetID)
	if holder.kind == entra.KindGroup && name == "members" {
		st.logMember(now, holder.id, target, true)
	}
	activity, op := linkActivity(false, holder.kind, name)
	spec := entra.MustLookup(holder.kind)
	st.record(now, who, activity, spec.AuditCategory, op, "", targetOf(holder), targetOf(target))
	return nil
}

// setManager replaces a user's manager.
func (st *store) setManager(now time.Time, who actor, user, manager *object) *apiError {
	if err := st.checkLinkRules(user, "manager", manager); err != nil {
		return err
	}
	old := ""
	if set := st.linkSet(user.id, "manager"); set != nil {
		for _, id := range set.Slice() {
			old = id
			st.removeLink(user.id, "manager", id)
		}
	}
	st.addLink(user.id, "manager", manager.id)
	st.logChange(now, user, []string{"manager"}, "")
	t := targetOf(user)
	t.modified = []modifiedProperty{{name: "Manager", oldValue: quoteIfSet(old), newValue: quoteJSON(manager.id)}}
	st.record(now, who, "Update user", entra.MustLookup(entra.KindUser).AuditCategory, "Update", "", t)
	return nil
}

// clearManager removes a user's manager.
func (st *store) clearManager(now time.Time, who actor, user *object) *apiError {
	set := st.linkSet(user.id, "manager")
	if set == nil || set.Len() == 0 {
		return removedMissing("manager")
	}
	old := set.Slice()[0]
	st.removeLink(user.id, "manager", old)
	st.logChange(now, user, []string{"manager"}, "")
	t := targetOf(user)
	t.modified = []modifiedProperty{{name: "Manager", oldValue: quoteJSON(old)}}
	st.record(now, who, "Update user", entra.MustLookup(entra.KindUser).AuditCategory, "Update", "", t)
	return nil
}

func quoteIfSet(s string) []byte {
	if s == "" {
		return nil
	}
	return quoteJSON(s)
}
