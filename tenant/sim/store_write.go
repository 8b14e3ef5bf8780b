package sim

import (
	"strings"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// binRetention is how long soft-deleted objects wait before they are purged.
const binRetention = 30 * 24 * time.Hour

// create stores a new object built from a validated body, with the links it binds.
// Everything is checked before anything is written: a refused create changes nothing.
func (st *store) create(k entra.Kind, wb *writeBody, now time.Time, who actor) (*object, *apiError) {
	o, err := st.buildNew(k, wb, now)
	if err != nil {
		return nil, err
	}
	if err := st.checkUnique(k, o.data, o.id); err != nil {
		return nil, err
	}
	binds, err := st.resolveBinds(o, wb.binds, true)
	if err != nil {
		return nil, err
	}
	st.put(o)
	st.logChange(now, o, nil, "")
	st.recordKind(now, who, "Add", o, diffProperties([]byte("{}"), o.data))
	for _, b := range binds {
		st.link(now, who, o, b.name, b.target)
	}
	return o, nil
}

// bind is one link a write body asks for.
type bind struct {
	name   string
	target *object
}

// resolveBinds checks "x@odata.bind" lists: at most 20 references per request, every
// one resolvable and allowed, none already linked. All or nothing.
func (st *store) resolveBinds(holder *object, binds map[string][]string, create bool) ([]bind, *apiError) {
	total := 0
	for _, urls := range binds {
		total += len(urls)
	}
	if total > 20 {
		return nil, badRequest("Too many references in the request: at most 20 objects can be bound in one request, %d were given.", total)
	}
	var out []bind
	seen := map[string]bool{}
	for _, name := range sortedKeys(binds) {
		for _, u := range binds[name] {
			id := refID(u)
			if id == "" {
				return nil, badRequest("Invalid object identifier '%s'.", u)
			}
			target := st.getAny(id)
			if target == nil {
				return nil, notFound(id)
			}
			if seen[name+"/"+id] {
				return nil, addedExists(name)
			}
			seen[name+"/"+id] = true
			if !create {
				if err := st.checkLink(holder, name, target); err != nil {
					return nil, err
				}
			} else if err := st.checkLinkRules(holder, name, target); err != nil {
				return nil, err
			}
			out = append(out, bind{name: name, target: target})
		}
	}
	return out, nil
}

// refID takes the object id out of an "@odata.id" or bind URL: the last path segment,
// in any of the forms Graph writes (directoryObjects/{id}, users/{id},
// v2/{tenant}/directoryObjects/{id}/Microsoft.DirectoryServices.User, ...).
func refID(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	segs := strings.Split(strings.TrimRight(u, "/"), "/")
	for len(segs) > 0 {
		last := segs[len(segs)-1]
		if strings.HasPrefix(last, "Microsoft.DirectoryServices.") || strings.HasPrefix(last, "microsoft.graph.") || last == "$ref" {
			segs = segs[:len(segs)-1]
			continue
		}
		if open := strings.Index(last, "('"); open >= 0 && strings.HasSuffix(last, "')") {
			return last[open+2 : len(last)-2]
		}
		return last
	}
	return ""
}

// update applies a validated PATCH body to o.
func (st *store) update(o *object, wb *writeBody, now time.Time, who actor) *apiError {
	if o.kind == entra.KindRoleDefinition && getBool(o.data, "isBuiltIn") {
		return forbidden("Built-in role definitions cannot be modified.")
	}
	if o.kind == entra.KindNamedLocation {
		if err := checkNamedLocation(wb, getString(o.data, "@odata.type")); err != nil {
			return err
		}
	}
	m, derr := decodeObject(o.data)
	if derr != nil {
		return newError(500, "UnknownError", "The stored object could not be read.")
	}
	before := cloneJSON(m)
	overlay(o.kind, m, wb.props)
	str := func(name string) string { s, _ := m[name].(string); return s }
	switch o.kind {
	case entra.KindUser:
		if _, ok := wb.props["userPrincipalName"]; ok {
			if err := st.checkUPN(str("userPrincipalName")); err != nil {
				return err
			}
		}
		if _, ok := wb.props["mail"]; ok {
			if mail := str("mail"); mail != "" {
				m["proxyAddresses"] = []any{"SMTP:" + mail}
			} else {
				m["proxyAddresses"] = []any{}
			}
		}
		if _, ok := wb.props["passwordProfile"]; ok {
			m["lastPasswordChangeDateTime"] = formatSeconds(now)
		}
	case entra.KindGroup:
		if _, ok := wb.props["mailNickname"]; ok {
			if err := checkMailNickname(str("mailNickname")); err != nil {
				return err
			}
		}
		if _, ok := wb.props["securityEnabled"]; ok && !isUnified(o.data) && m["securityEnabled"] != true {
			return badRequest("A group that is not a Microsoft 365 group must be security-enabled.")
		}
	case entra.KindConditionalAccessPolicy:
		if err := checkPolicy(m); err != nil {
			return err
		}
		m["modifiedDateTime"] = formatTime(now)
	case entra.KindNamedLocation:
		m["modifiedDateTime"] = formatTime(now)
	case entra.KindAuthenticationMethodsPolicy:
		m["lastModifiedDateTime"] = formatTime(now)
	}
	data := mustJSON(m)
	if err := st.checkUnique(o.kind, data, o.id); err != nil {
		return err
	}
	binds, err := st.resolveBinds(o, wb.binds, false)
	if err != nil {
		return err
	}
	changed := diffProperties(mustJSON(before), data)
	next := &object{kind: o.kind, id: o.id, data: data}
	st.put(next)
	if names := propNames(changed); len(names) > 0 {
		st.logChange(now, next, names, "")
	}
	st.recordKind(now, who, "Update", next, changed)
	for _, b := range binds {
		st.link(now, who, next, b.name, b.target)
	}
	return nil
}

func propNames(mods []modifiedProperty) []string {
	out := make([]string, 0, len(mods))
	for _, m := range mods {
		if m.name != "modifiedDateTime" && m.name != "lastModifiedDateTime" {
			out = append(out, m.name)
		}
	}
	return out
}

func cloneJSON(m map[string]any) map[string]any {
	c, _ := decodeObject(mustJSON(m))
	return c
}

// remove is DELETE on an object's own URL: to its recycle bin when the kind has one,
// for good otherwise.
func (st *store) remove(o *object, now time.Time, who actor) *apiError {
	spec := entra.MustLookup(o.kind)
	switch o.kind {
	case entra.KindRoleDefinition:
		if getBool(o.data, "isBuiltIn") {
			return forbidden("Built-in role definitions cannot be deleted.")
		}
		for _, id := range st.live[entra.KindRoleAssignment].Slice() {
			ra := st.objs[id]
			rd := getString(ra.data, "roleDefinitionId")
			if rd == o.id || strings.EqualFold(rd, getString(o.data, "templateId")) {
				return badRequest("The role definition '%s' has assignments: remove them before deleting it.", o.id)
			}
		}
	case entra.KindAuthenticationMethodsPolicy, entra.KindOrganization:
		return methodNotAllowed()
	}
	if !spec.SoftDeletable() {
		st.recordKind(now, who, "Delete", o, nil)
		st.hardDelete(o, now)
		return nil
	}
	st.softDelete(o, now, who)
	if o.kind == entra.KindApplication {
		// Deleting an application in its home tenant deletes its service principal too.
		if sp := st.spByAppID(getString(o.data, "appId")); sp != nil {
			st.softDelete(sp, now, who)
		}
	}
	return nil
}

// softDelete moves o to its bin, stamped with deletedDateTime.
func (st *store) softDelete(o *object, now time.Time, who actor) {
	data := withMembers(o.data, map[string]any{"deletedDateTime": formatTime(now)})
	next := &object{kind: o.kind, id: o.id, data: data, deleted: now.UnixNano()}
	st.put(next)
	st.expireAt(now.Add(binRetention))
	st.logChange(now, next, nil, "changed")
	st.logLinksNaming(now, next, true)
	st.recordKind(now, who, "Delete", next, nil)
}

// logLinksNaming records, for the delta rounds, what a soft delete (gone) or a restore
// of o does to the links that name it: Graph drops an object in a bin from the groups
// it was in and from its reports' manager, and a restore brings both back (graph-spec
// §7: a member's @removed means removed from the group, by unlinking or by deleting).
// A restored group's delta entry is whole, as a created one's, so its members are
// listed again too.
func (st *store) logLinksNaming(now time.Time, o *object, gone bool) {
	for _, k := range st.rev[o.id] {
		h := st.objs[k.from]
		if h == nil || !h.live() {
			continue
		}
		switch {
		case k.name == "members" && h.kind == entra.KindGroup:
			st.logMember(now, h.id, o, gone)
		case k.name == "manager" && h.kind == entra.KindUser:
			st.logChange(now, h, []string{"manager"}, "")
		}
	}
	if o.kind != entra.KindGroup || gone {
		return
	}
	if set := st.linkSet(o.id, "members"); set != nil {
		set.AscendSlots("", func(id string, _ int32) bool {
			if m := st.objs[id]; m != nil && m.live() {
				st.logMember(now, o.id, m, false)
			}
			return true
		})
	}
}

// hardDelete removes o for good, with what cannot exist without it: role assignments,
// app role assignments and grants naming it, and its links both ways.
func (st *store) hardDelete(o *object, now time.Time) {
	for _, hid := range append([]string(nil), st.holders[o.id]...) {
		if h := st.objs[hid]; h != nil {
			st.hardDelete(h, now)
		}
	}
	if o.kind == entra.KindUser || o.kind == entra.KindGroup || o.kind == entra.KindServicePrincipal {
		st.logLinksNaming(now, o, true)
	}
	st.drop(o)
	st.logChange(now, o, nil, "deleted")
}

// purge permanently deletes an object from the directory recycle bin.
func (st *store) purge(o *object, now time.Time, who actor) *apiError {
	if o.kind == entra.KindAdministrativeUnit {
		return badRequest("Permanent deletion of administrative units is not supported; they are purged automatically %d days after deletion.", int(binRetention.Hours()/24))
	}
	st.recordKind(now, who, "Hard delete", o, nil)
	st.hardDelete(o, now)
	return nil
}

// restore brings o back from its bin, with its id, links and assignments. newUPN, when
// set, renames a user whose userPrincipalName was taken in the meantime; reconcile
// (autoReconcileProxyConflict) drops the user's proxy addresses an active user holds
// now, where without it the restore fails on them.
func (st *store) restore(o *object, newUPN string, reconcile bool, now time.Time, who actor) (*object, *apiError) {
	set := map[string]any{"deletedDateTime": nil}
	if o.kind == entra.KindUser || o.kind == entra.KindGroup || o.kind == entra.KindApplication ||
		o.kind == entra.KindServicePrincipal || o.kind == entra.KindAdministrativeUnit ||
		o.kind == entra.KindConditionalAccessPolicy {
		set["deletedDateTime"] = jsonNull
	}
	if newUPN != "" {
		if o.kind != entra.KindUser {
			return nil, badRequest("newUserPrincipalName applies to users only.")
		}
		if err := st.checkUPN(newUPN); err != nil {
			return nil, err
		}
		set["userPrincipalName"] = newUPN
	}
	if reconcile && o.kind == entra.KindUser {
		kept := []any{}
		for _, a := range getStrings(o.data, "proxyAddresses") {
			if holder := st.holderOf(o.kind, "proxyAddresses", a); holder == "" || holder == o.id {
				kept = append(kept, a)
			}
		}
		set["proxyAddresses"] = kept
	}
	data := withMembers(o.data, set)
	if err := st.checkUnique(o.kind, data, o.id); err != nil {
		return nil, err
	}
	next := &object{kind: o.kind, id: o.id, data: data}
	st.put(next)
	st.logChange(now, next, nil, "")
	st.logLinksNaming(now, next, false)
	var mods []modifiedProperty
	if newUPN != "" {
		mods = []modifiedProperty{{name: "UserPrincipalName", oldValue: quoteJSON(getString(o.data, "userPrincipalName")), newValue: quoteJSON(newUPN)}}
	}
	st.recordKind(now, who, "Restore", next, mods)
	return next, nil
}

func quoteJSON(s string) []byte { return mustJSON(s) }

// purgeExpired hard-deletes what has waited in a bin past the retention, and trims the
// audit log and the change log. It returns the next time something expires.
func (st *store) purgeExpired(now time.Time) {
	cut := now.Add(-binRetention).UnixNano()
	next := time.Time{}
	var expired []*object
	for _, set := range st.bin {
		set.Ascend("", func(id string) bool {
			o := st.objs[id]
			if o.deleted <= cut {
				expired = append(expired, o)
			} else if t := time.Unix(0, o.deleted).Add(binRetention); next.IsZero() || t.Before(next) {
				next = t
			}
			return true
		})
	}
	if len(expired) > 0 {
		system := actor{correlationID: newGUID()}
		for _, o := range expired {
			if st.objs[o.id] != o {
				continue // gone with an object purged before it
			}
			st.recordKind(now, system, "Hard delete", o, nil)
			st.hardDelete(o, now)
		}
	}
	st.trimAudit(now)
	st.trimChanges(now)
	if len(st.audit) > 0 {
		if t := st.audit[0].at.Add(auditRetention); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	st.expiry = 0
	if !next.IsZero() {
		st.expiry = next.UnixNano()
	}
}

// expireAt schedules a purge check no later than t.
func (st *store) expireAt(t time.Time) {
	if n := t.UnixNano(); st.expiry == 0 || n < st.expiry {
		st.expiry = n
	}
}
