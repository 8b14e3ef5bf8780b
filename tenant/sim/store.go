package sim

import (
	"strings"
	"sync/atomic"

	"github.com/lifelinehq/lifeline/entra"
)

// object is one directory object. It is immutable once stored: a write replaces the
// pointer in the store, so a reader that took an object under the read lock keeps a
// consistent value, and the pristine copy kept for /_sim/reset shares the bytes of every
// object nobody changed.
type object struct {
	kind entra.Kind
	id   string
	// data is the object's canonical JSON with every readable property.
	data []byte
	// deleted is the deletedDateTime (sim clock, unix nanoseconds) while the object waits
	// in a recycle bin; 0 while it is live.
	deleted int64
	// layout caches how data is laid out (see objMeta), for the read fast paths.
	layout atomic.Pointer[objMeta]
}

func (o *object) live() bool { return o.deleted == 0 }

// linkKey names one link collection: the holder's id and the navigation property.
type linkKey struct {
	from string
	name string
}

// store is the directory: every object, the recycle bins, the links, the indexes that
// make uniqueness checks and lookups by natural key cheap, the change log that delta
// reads, and the audit log. One RWMutex in Sim guards all of it.
type store struct {
	tenantID    string
	domain      string
	displayName string

	// objs holds every object, live or in a bin, by id (ids are unique across kinds).
	// Only setObj writes it.
	objs map[string]*object
	// slotOf gives each id ever linked to a slot, for good; slotKind says what objs
	// holds for that id: 1 + the index in entra.Kinds() of a live object's kind, 0 when
	// none is live. Link sets keep their targets' slots, so that serving a group's
	// members reads a byte per member, in an array that stays in cache, instead of
	// looking each up by string in a map of every object (a third of the sim's work in
	// serving a capture).
	slotOf   map[string]int32
	slotKind []uint8
	// live and bin hold each kind's ids in order.
	live map[entra.Kind]*idSet
	bin  map[entra.Kind]*idSet

	links map[linkKey]*idSet
	// rev maps a linked object's id to the link collections that contain it, so that a
	// hard delete can unlink it everywhere.
	rev map[string][]linkKey

	// unique maps "kind/property" to lower-cased value to the id of the live object
	// holding it.
	unique map[string]map[string]string
	// apps maps an appId to its application's id, live or deleted.
	apps map[string]string
	// foreignApps are appIds of service principals whose application lives in another
	// tenant (Microsoft's first-party apps): a service principal may be created for them.
	foreignApps map[string]bool
	// foreignSPs keeps the dataset's service principal of each such appId, so a recreated
	// one looks like Microsoft's.
	foreignSPs map[string][]byte
	// holders maps an object id to the role assignments, app role assignments and grants
	// that name it, so that a hard delete removes them and a principal's view lists them.
	holders map[string][]string

	// seq numbers every write; changes records the writes delta reports.
	seq         uint64
	changes     []change
	changeFloor uint64

	audit    []*auditEntry
	auditSeq uint64

	// expiry is when the next bin item or audit entry expires (sim clock, unix ns; 0 =
	// nothing pending): requests purge once the clock has passed it.
	expiry int64
}

func newStore(tenantID, domain, displayName string) *store {
	st := &store{
		tenantID:    tenantID,
		domain:      domain,
		displayName: displayName,
		objs:        map[string]*object{},
		slotOf:      map[string]int32{},
		live:        map[entra.Kind]*idSet{},
		bin:         map[entra.Kind]*idSet{},
		links:       map[linkKey]*idSet{},
		rev:         map[string][]linkKey{},
		unique:      map[string]map[string]string{},
		apps:        map[string]string{},
		foreignApps: map[string]bool{},
		foreignSPs:  map[string][]byte{},
		holders:     map[string][]string{},
	}
	for _, k := range entra.Kinds() {
		st.live[k] = &idSet{}
		st.bin[k] = &idSet{}
	}
	return st
}

// get returns the live object of the given kind, or nil.
func (st *store) get(kind entra.Kind, id string) *object {
	o := st.objs[id]
	if o == nil || o.kind != kind || !o.live() {
		return nil
	}
	return o
}

// getAny returns the live object with the id, whatever its kind, or nil.
func (st *store) getAny(id string) *object {
	o := st.objs[id]
	if o == nil || !o.live() {
		return nil
	}
	return o
}

// visible reports whether a live object shows in reads: assignments and grants hide
// while an object they name waits in a recycle bin, and come back with it.
func (st *store) visible(o *object) bool {
	if o == nil || !o.live() {
		return false
	}
	for _, prop := range dependentProps(o.kind) {
		id := getString(o.data, prop)
		if id == "" {
			continue
		}
		if st.getAny(id) == nil {
			return false
		}
	}
	return true
}

// dependentProps are the properties whose targets a kind's objects cannot live without.
func dependentProps(k entra.Kind) []string {
	switch k {
	case entra.KindRoleAssignment:
		return []string{"principalId"}
	case entra.KindAppRoleAssignment:
		return []string{"principalId", "resourceId"}
	case entra.KindOAuth2PermissionGrant:
		return []string{"clientId", "resourceId", "principalId"}
	}
	return nil
}

// put stores o (new or replacing an object with the same id) and updates the ordered
// sets and indexes.
func (st *store) put(o *object) {
	if old := st.objs[o.id]; old != nil {
		st.unindex(old)
		if old.live() {
			st.live[old.kind].Remove(old.id)
		} else {
			st.bin[old.kind].Remove(old.id)
		}
	}
	st.setObj(o.id, o)
	if o.live() {
		st.live[o.kind].Add(o.id)
	} else {
		st.bin[o.kind].Add(o.id)
	}
	st.index(o)
}

// drop removes o from the store for good, with its links and its dependents' index
// entries (the caller removes dependents first).
func (st *store) drop(o *object) {
	st.unindex(o)
	if o.live() {
		st.live[o.kind].Remove(o.id)
	} else {
		st.bin[o.kind].Remove(o.id)
	}
	st.setObj(o.id, nil)
	for _, l := range st.linkNames(o.kind) {
		k := linkKey{o.id, l}
		if set := st.links[k]; set != nil {
			for _, to := range set.Slice() {
				st.removeRev(to, k)
			}
			delete(st.links, k)
		}
	}
	for _, k := range st.rev[o.id] {
		if set := st.links[k]; set != nil {
			set.Remove(o.id)
			if set.Len() == 0 {
				delete(st.links, k)
			}
		}
	}
	delete(st.rev, o.id)
}

func (st *store) linkNames(k entra.Kind) []string {
	spec := entra.MustLookup(k)
	out := make([]string, len(spec.Links))
	for i, l := range spec.Links {
		out[i] = l.Name
	}
	return out
}

func uniqueKey(k entra.Kind, prop string) string { return string(k) + "/" + prop }

// uniqueValues returns the values o holds for each of its kind's unique properties.
func uniqueValues(o *object) map[string][]string {
	spec := entra.MustLookup(o.kind)
	if len(spec.Unique) == 0 {
		return nil
	}
	out := map[string][]string{}
	for _, prop := range spec.Unique {
		if o.kind == entra.KindGroup && prop == "mailNickname" && !isUnified(o.data) {
			continue
		}
		raw := getMember(o.data, prop)
		switch {
		case len(raw) > 0 && raw[0] == '"':
			if v := getString(o.data, prop); v != "" {
				out[prop] = []string{v}
			}
		case len(raw) > 0 && raw[0] == '[':
			if vs := getStrings(o.data, prop); len(vs) > 0 {
				out[prop] = vs
			}
		}
	}
	return out
}

// isUnified reports whether a group is a Microsoft 365 group.
func isUnified(data []byte) bool {
	for _, t := range getStrings(data, "groupTypes") {
		if strings.EqualFold(t, "Unified") {
			return true
		}
	}
	return false
}

func (st *store) index(o *object) {
	if o.live() {
		for prop, vals := range uniqueValues(o) {
			key := uniqueKey(o.kind, prop)
			m := st.unique[key]
			if m == nil {
				m = map[string]string{}
				st.unique[key] = m
			}
			for _, v := range vals {
				m[strings.ToLower(v)] = o.id
			}
		}
	}
	switch o.kind {
	case entra.KindApplication:
		if appID := getString(o.data, "appId"); appID != "" {
			st.apps[strings.ToLower(appID)] = o.id
		}
	case entra.KindRoleAssignment, entra.KindAppRoleAssignment, entra.KindOAuth2PermissionGrant:
		for _, prop := range dependentProps(o.kind) {
			if id := getString(o.data, prop); id != "" {
				st.holders[id] = appendUnique(st.holders[id], o.id)
			}
		}
	}
}

func (st *store) unindex(o *object) {
	for prop, vals := range uniqueValues(o) {
		m := st.unique[uniqueKey(o.kind, prop)]
		for _, v := range vals {
			if m[strings.ToLower(v)] == o.id {
				delete(m, strings.ToLower(v))
			}
		}
	}
	switch o.kind {
	case entra.KindApplication:
		if appID := getString(o.data, "appId"); appID != "" && st.apps[strings.ToLower(appID)] == o.id {
			delete(st.apps, strings.ToLower(appID))
		}
	case entra.KindRoleAssignment, entra.KindAppRoleAssignment, entra.KindOAuth2PermissionGrant:
		for _, prop := range dependentProps(o.kind) {
			if id := getString(o.data, prop); id != "" {
				st.holders[id] = removeString(st.holders[id], o.id)
				if len(st.holders[id]) == 0 {
					delete(st.holders, id)
				}
			}
		}
	}
}

// holderOf returns the id of the live object of kind holding value in a unique
// property, or "".
func (st *store) holderOf(k entra.Kind, prop, value string) string {
	return st.unique[uniqueKey(k, prop)][strings.ToLower(value)]
}

// spByAppID returns the live service principal of an appId, or nil.
func (st *store) spByAppID(appID string) *object {
	if id := st.holderOf(entra.KindServicePrincipal, "appId", appID); id != "" {
		return st.get(entra.KindServicePrincipal, id)
	}
	return nil
}

// appByAppID returns the live application of an appId, or nil.
func (st *store) appByAppID(appID string) *object {
	if id := st.apps[strings.ToLower(appID)]; id != "" {
		return st.get(entra.KindApplication, id)
	}
	return nil
}

// setObj makes o the object with id (nil: there is none), in objs and in id's slot.
func (st *store) setObj(id string, o *object) {
	if o == nil {
		delete(st.objs, id)
	} else {
		st.objs[id] = o
	}
	// Only link targets have slots (addLink gives them); others need none.
	if slot, ok := st.slotOf[id]; ok {
		st.slotKind[slot] = liveKindCode(o)
	}
}

// slotFor returns id's slot, giving it one when it has none.
func (st *store) slotFor(id string) int32 {
	if slot, ok := st.slotOf[id]; ok {
		return slot
	}
	slot := int32(len(st.slotKind))
	st.slotOf[id] = slot
	st.slotKind = append(st.slotKind, liveKindCode(st.objs[id]))
	return slot
}

// kindByCode and kindCodes number entra's kinds from 1 for slotKind.
var (
	kindByCode = entra.Kinds()
	kindCodes  = func() map[entra.Kind]uint8 {
		m := map[entra.Kind]uint8{}
		for i, k := range kindByCode {
			m[k] = uint8(i + 1)
		}
		return m
	}()
)

// liveKindCode is the slotKind of o: its kind's code when it is live, 0 otherwise.
func liveKindCode(o *object) uint8 {
	if o == nil || !o.live() {
		return 0
	}
	return kindCodes[o.kind]
}

// memberKind is the kind of the live object a link target names, from the slot its
// link set kept (-1: none, then by id); ok is false when no live object has the id.
func (st *store) memberKind(slot int32, id string) (kind entra.Kind, ok bool) {
	if slot < 0 {
		if o := st.getAny(id); o != nil {
			return o.kind, true
		}
		return "", false
	}
	if c := st.slotKind[slot]; c != 0 {
		return kindByCode[c-1], true
	}
	return "", false
}

// linkSet returns the ids in a link collection (nil when empty).
func (st *store) linkSet(from, name string) *idSet { return st.links[linkKey{from, name}] }

// addLink records that from's navigation property name contains to.
func (st *store) addLink(from, name, to string) bool {
	k := linkKey{from, name}
	set := st.links[k]
	if set == nil {
		set = &idSet{}
		st.links[k] = set
	}
	if !set.AddSlot(to, st.slotFor(to)) {
		return false
	}
	st.rev[to] = append(st.rev[to], k)
	return true
}

// removeLink removes to from from's navigation property name.
func (st *store) removeLink(from, name, to string) bool {
	k := linkKey{from, name}
	set := st.links[k]
	if set == nil || !set.Remove(to) {
		return false
	}
	if set.Len() == 0 {
		delete(st.links, k)
	}
	st.removeRev(to, k)
	return true
}

func (st *store) removeRev(to string, k linkKey) {
	keys := st.rev[to]
	for i, x := range keys {
		if x == k {
			keys = append(keys[:i], keys[i+1:]...)
			break
		}
	}
	if len(keys) == 0 {
		delete(st.rev, to)
	} else {
		st.rev[to] = keys
	}
}

// liveLinkCount counts the live objects in a link collection.
func (st *store) liveLinkCount(from, name string) int {
	set := st.linkSet(from, name)
	if set == nil {
		return 0
	}
	n := 0
	set.Ascend("", func(id string) bool {
		if st.getAny(id) != nil {
			n++
		}
		return true
	})
	return n
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func removeString(list []string, s string) []string {
	for i, x := range list {
		if x == s {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}
