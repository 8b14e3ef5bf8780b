package sim

import (
	"strconv"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// auditRetention is how long the directory keeps audit entries (P1/P2 tenants).
const auditRetention = 30 * 24 * time.Hour

// actor is who made a write: the calling application, as the audit log shows it, and the
// correlation id shared by every entry one request produces.
type actor struct {
	appID         string
	displayName   string
	spID          string
	correlationID string
}

// auditEntry is one directoryAudit, kept encoded: reads slice it as they slice objects.
type auditEntry struct {
	seq      uint64
	id       string
	at       time.Time
	activity string
	data     []byte
}

// auditTarget is one targetResources element.
type auditTarget struct {
	id          string
	displayName string
	typ         string
	upn         string
	groupType   string
	modified    []modifiedProperty
}

type modifiedProperty struct {
	name     string
	oldValue []byte
	newValue []byte
}

// targetOf describes an object as an audit target.
func targetOf(o *object) auditTarget {
	spec := entra.MustLookup(o.kind)
	t := auditTarget{id: o.id, typ: spec.AuditTargetType}
	m, _ := decodeObject(o.data)
	t.displayName = entra.DisplayName(o.kind, m)
	switch o.kind {
	case entra.KindUser:
		t.upn = getString(o.data, "userPrincipalName")
	case entra.KindGroup:
		switch {
		case isUnified(o.data):
			t.groupType = "unifiedGroups"
		case getBool(o.data, "mailEnabled"):
			t.groupType = "distributionList"
		default:
			t.groupType = "azureAD"
		}
	}
	return t
}

// auditValue encodes a property value as the log does: a JSON array of values, as text.
func auditValue(raw []byte) string {
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "[]"
	case raw[0] == '[':
		return string(raw)
	default:
		return "[" + string(raw) + "]"
	}
}

// record appends a directoryAudit entry for a successful write.
func (st *store) record(now time.Time, who actor, activity, category, operationType, reason string, targets ...auditTarget) {
	st.auditSeq++
	id := "Directory_" + who.correlationID + "_" + strconv.FormatUint(st.auditSeq, 10)
	tr := make([]map[string]any, 0, len(targets))
	for _, t := range targets {
		mods := make([]map[string]any, 0, len(t.modified))
		for _, mp := range t.modified {
			mods = append(mods, map[string]any{
				"displayName": mp.name,
				"oldValue":    auditValue(mp.oldValue),
				"newValue":    auditValue(mp.newValue),
			})
		}
		entry := map[string]any{
			"id":                 t.id,
			"displayName":        nullable(t.displayName),
			"type":               t.typ,
			"userPrincipalName":  nullable(t.upn),
			"groupType":          nullable(t.groupType),
			"modifiedProperties": mods,
		}
		tr = append(tr, entry)
	}
	var app any
	if who.appID != "" {
		app = map[string]any{
			"appId":                who.appID,
			"displayName":          who.displayName,
			"servicePrincipalId":   nullable(who.spID),
			"servicePrincipalName": nullable(who.displayName),
		}
	}
	data := mustJSON(map[string]any{
		"id":                  id,
		"category":            category,
		"correlationId":       who.correlationID,
		"result":              "success",
		"resultReason":        reason,
		"activityDisplayName": activity,
		"activityDateTime":    formatTime(now),
		"loggedByService":     "Core Directory",
		"operationType":       operationType,
		"initiatedBy":         map[string]any{"user": nil, "app": app},
		"targetResources":     tr,
		"additionalDetails":   []any{},
	})
	st.audit = append(st.audit, &auditEntry{seq: st.auditSeq, id: id, at: now, activity: activity, data: data})
	st.expireAt(now.Add(auditRetention))
}

// recordKind records a write to an object of a kind, in the log's vocabulary:
// verb is "Add", "Update", "Delete", "Hard delete", "Restore" (or "Remove" for service
// principals, as the log writes it).
func (st *store) recordKind(now time.Time, who actor, verb string, o *object, modified []modifiedProperty) {
	spec := entra.MustLookup(o.kind)
	noun := spec.AuditNoun
	if verb == "Delete" {
		if activity, ok := st.deleteActivity(o); ok {
			st.record(now, who, activity, spec.AuditCategory, "Unassign", "", targetOf(o))
			return
		}
	}
	if verb == "Delete" && o.kind == entra.KindServicePrincipal {
		verb = "Remove"
	}
	op := map[string]string{"Add": "Add", "Update": "Update", "Delete": "Delete", "Remove": "Delete", "Hard delete": "Delete", "Restore": "Update"}[verb]
	t := targetOf(o)
	t.modified = modified
	st.record(now, who, verb+" "+noun, spec.AuditCategory, op, "", t)
}

// trimAudit drops entries older than the retention.
func (st *store) trimAudit(now time.Time) {
	cut := now.Add(-auditRetention)
	i := 0
	for i < len(st.audit) && st.audit[i].at.Before(cut) {
		i++
	}
	if i > 0 {
		st.audit = append([]*auditEntry(nil), st.audit[i:]...)
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// formatTime writes a timestamp as Graph does (UTC, RFC 3339).
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// formatSeconds writes a timestamp with whole seconds, as Graph writes createdDateTime.
func formatSeconds(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// diffProperties lists the top-level members that differ between two versions of an
// object, for the audit log's modifiedProperties and delta's change tracking.
func diffProperties(oldData, newData []byte) []modifiedProperty {
	oldM := map[string][]byte{}
	eachMember(oldData, func(m member) bool { oldM[string(m.key)] = m.value; return true })
	var out []modifiedProperty
	seen := map[string]bool{}
	eachMember(newData, func(m member) bool {
		k := string(m.key)
		seen[k] = true
		if ov, ok := oldM[k]; !ok || string(ov) != string(m.value) {
			if !(string(m.value) == "null" && !ok) {
				out = append(out, modifiedProperty{name: k, oldValue: ov, newValue: m.value})
			}
		}
		return true
	})
	for k, ov := range oldM {
		if !seen[k] && string(ov) != "null" {
			out = append(out, modifiedProperty{name: k, oldValue: ov})
		}
	}
	return out
}
