package sim

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// Delta (graph-spec §7) reads a change log: every write to a user or a group appends
// one entry with a sequence number, so a round from a token is a binary search and a
// walk, not a scan of the directory.

// deltaTokenLifetime is how long a delta token stays usable (sim clock).
const deltaTokenLifetime = 7 * 24 * time.Hour

// memberChunk bounds the members@delta of one group entry; bigger groups repeat across
// pages, as Graph's do.
const memberChunk = 500

// change is one entry of the change log.
type change struct {
	seq  uint64
	at   int64
	kind entra.Kind
	id   string
	// props are the properties a change touched; nil for a create, delete or restore.
	props []string
	// removed is "changed" (soft delete) or "deleted" (hard delete).
	removed string
	// member is set for a group membership change.
	member        string
	memberKind    entra.Kind
	memberRemoved bool
}

func tracked(k entra.Kind) bool { return k == entra.KindUser || k == entra.KindGroup }

// logChange records a change to o (every write bumps the sequence).
func (st *store) logChange(now time.Time, o *object, props []string, removed string) {
	st.seq++
	if !tracked(o.kind) {
		return
	}
	st.changes = append(st.changes, change{seq: st.seq, at: now.UnixNano(), kind: o.kind, id: o.id, props: props, removed: removed})
}

// logMember records a membership change of a group.
func (st *store) logMember(now time.Time, group string, member *object, removed bool) {
	st.seq++
	st.changes = append(st.changes, change{seq: st.seq, at: now.UnixNano(), kind: entra.KindGroup, id: group,
		member: member.id, memberKind: member.kind, memberRemoved: removed})
}

// trimChanges drops entries no valid token can need any more.
func (st *store) trimChanges(now time.Time) {
	cut := now.Add(-deltaTokenLifetime).UnixNano()
	i := 0
	for i < len(st.changes) && st.changes[i].at < cut {
		i++
	}
	if i > 0 {
		st.changeFloor = st.changes[i-1].seq
		st.changes = append([]change(nil), st.changes[i:]...)
	}
}

// deltaToken is what a delta $skiptoken or $deltatoken carries.
type deltaToken struct {
	Kind   entra.Kind `json:"k"`
	Select []string   `json:"s,omitempty"`
	Mem    bool       `json:"m,omitempty"`
	// Phase "i" walks every object (first round), "c" walks changes.
	Phase string `json:"p"`
	// After is the last id served; Group/MemAfter resume a large group's members.
	After    string `json:"a,omitempty"`
	Group    string `json:"g,omitempty"`
	MemAfter string `json:"ma,omitempty"`
	// Since/Upto bound the changes of this round; Off is the position in them.
	Since uint64 `json:"f"`
	Upto  uint64 `json:"u,omitempty"`
	Off   int    `json:"o,omitempty"`
	// Issued is when the round's deltaLink was minted (sim clock, unix seconds).
	Issued int64 `json:"t"`
	// Final marks a deltaLink (as opposed to a nextLink).
	Final bool `json:"d,omitempty"`
	// Size is the page size the round was asked for with Prefer: odata.maxpagesize
	// (0: Graph's default), kept for clients that send the preference only once.
	Size int `json:"z,omitempty"`
}

// delta serves /users/delta and /groups/delta.
func (c *call) delta(k entra.Kind) (*result, *apiError) {
	opts := queryOptions(c.query)
	path := entra.MustLookup(k).Collection + "/delta"
	var tok deltaToken
	switch {
	case opts["skiptoken"] != "" || opts["deltatoken"] != "" && opts["deltatoken"] != "latest":
		raw := opts["skiptoken"]
		if raw == "" {
			raw = opts["deltatoken"]
		}
		if !c.s.readToken(raw, &tok) || tok.Kind != k {
			return nil, badRequest("The delta token is malformed or was not issued for this request.")
		}
		if tok.Final {
			if c.now.Sub(time.Unix(tok.Issued, 0)) > deltaTokenLifetime || tok.Since < c.st.changeFloor {
				e := newError(http.StatusGone, "syncStateNotFound", "The sync state generation token is expired or was not found. Start a new round without a token.")
				e.headers = map[string]string{"Location": c.root + path}
				return nil, e
			}
			tok = deltaToken{Kind: k, Select: tok.Select, Mem: tok.Mem, Phase: "c", Since: tok.Since, Upto: c.st.seq, Size: tok.Size}
		}
	default:
		var sel []string
		if v := opts["select"]; v != "" {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					sel = append(sel, s)
				}
			}
		}
		extra := []string{"manager"}
		if k == entra.KindGroup {
			extra = []string{"members"}
		}
		if _, err := projectionFor(k, sel, extra...); err != nil {
			return nil, err
		}
		if opts["filter"] != "" || opts["top"] != "" || opts["orderby"] != "" {
			return nil, unsupportedQuery("Delta queries of %s support $select and $expand=members only.", k)
		}
		mem := k == entra.KindGroup && (len(sel) == 0 || contains(sel, "members") || strings.Contains(opts["expand"], "members"))
		tok = deltaToken{Kind: k, Select: sel, Mem: mem, Phase: "i", Since: c.st.seq}
		if opts["deltatoken"] == "latest" {
			return c.deltaPage(path, nil, tok, true), nil
		}
	}
	var sel []string
	for _, s := range tok.Select {
		if s != "members" && s != "manager" {
			sel = append(sel, s)
		}
	}
	if len(tok.Select) > 0 && len(sel) == 0 {
		sel = []string{"id"}
	}
	p, err := projectionFor(k, sel)
	if err != nil {
		return nil, err
	}
	if size := preferredPageSize(c.header); size > 0 {
		tok.Size = size
	}
	var res *result
	if tok.Phase == "i" {
		res = c.deltaInitial(path, k, tok, p)
	} else {
		res = c.deltaChanges(path, k, tok, p)
	}
	if tok.Size > 0 {
		if res.headers == nil {
			res.headers = map[string]string{}
		}
		res.headers["Preference-Applied"] = "odata.maxpagesize=" + strconv.Itoa(tok.Size)
	}
	return res, nil
}

// maxPageMembers bounds the members@delta entries of one page of a first round once a
// client asked for large pages (Graph may send fewer items than asked): a page of 200
// groups with 500 members each would be a hundred thousand entries, megabytes that a client
// holds while it works through them. Pages of Graph's default size are cut only by
// their item count, as before.
const maxPageMembers = 20 * memberChunk

// maxDeltaPageSize is the most objects a delta page holds whatever a client prefers.
// graph-spec §7 does not say; Microsoft's answer to the question (learn.microsoft.com
// /en-us/answers/a/2052165) is that Graph caps odata.maxpagesize at 200 for objects such
// as users, so the sim honours no more: it must not be faster to page than Graph is.
const maxDeltaPageSize = 200

// preferredPageSize reads Prefer: odata.maxpagesize=N (0 when absent or invalid), capped
// at maxDeltaPageSize. Delta queries take no $top (graph-spec §7); clients (lifeline's
// capture among them) send this OData preference instead.
func preferredPageSize(h http.Header) int {
	for _, v := range h.Values("Prefer") {
		for _, part := range strings.Split(v, ",") {
			name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "odata.maxpagesize") {
				continue
			}
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
			if err != nil || n < 1 {
				return 0
			}
			return min(n, maxDeltaPageSize)
		}
	}
	return 0
}

// pageSize is the number of items a page of the round holds.
func (t deltaToken) pageSize() int {
	if t.Size > 0 {
		return t.Size
	}
	return defaultPageSize
}

// deltaPage assembles a delta page: items, then a nextLink or (at the end of a round) a
// deltaLink.
func (c *call) deltaPage(path string, items []byte, next deltaToken, final bool) *result {
	body := slices.Grow(c.pageBuffer(0), len(items)+512)
	body = append(body, `{"@odata.context":`...)
	body = strconv.AppendQuote(body, c.root+"/$metadata#"+strings.TrimPrefix(path, "/")[:strings.Index(strings.TrimPrefix(path, "/"), "/")])
	if final {
		next = deltaToken{Kind: next.Kind, Select: next.Select, Mem: next.Mem, Since: next.Upto, Issued: c.now.Unix(), Final: true, Size: next.Size}
		if next.Since == 0 {
			next.Since = c.st.seq
		}
		body = append(body, `,"@odata.deltaLink":`...)
		body = strconv.AppendQuote(body, c.root+path+"?$deltatoken="+url.QueryEscape(c.s.mintToken(next)))
	} else {
		body = append(body, `,"@odata.nextLink":`...)
		body = strconv.AppendQuote(body, c.root+path+"?$skiptoken="+url.QueryEscape(c.s.mintToken(next)))
	}
	body = append(body, `,"value":[`...)
	body = append(body, items...)
	putPageBuffer(items)
	return c.pagedResult(append(body, "]}"...))
}

// appendItem appends one item to a page's comma-separated items.
func appendItem(items, item []byte) []byte {
	if len(items) > 0 {
		items = append(items, ',')
	}
	return append(items, item...)
}

// membersDelta encodes a members@delta annotation from comma-separated entries.
func membersDelta(entries []byte) []byte {
	if len(entries) == 0 {
		return nil
	}
	out := make([]byte, 0, len(entries)+20)
	out = append(out, `"members@delta":[`...)
	out = append(out, entries...)
	return append(out, ']')
}

// memberPrefixes are `{"@odata.type":"#microsoft.graph.KIND","id":` for every kind, so
// that a page of half a million member entries quotes no type name.
var memberPrefixes = func() map[entra.Kind]string {
	m := map[entra.Kind]string{}
	for _, k := range entra.Kinds() {
		m[k] = memberPrefix(k)
	}
	return m
}()

func memberPrefix(kind entra.Kind) string {
	out := []byte(`{"@odata.type":`)
	out = strconv.AppendQuote(out, kind.ODataType())
	return string(append(out, `,"id":`...))
}

// appendMemberEntry appends one entry of a members@delta or manager@delta annotation.
func appendMemberEntry(out []byte, kind entra.Kind, id string, removed bool) []byte {
	prefix, ok := memberPrefixes[kind]
	if !ok {
		prefix = memberPrefix(kind)
	}
	out = append(out, prefix...)
	out = appendQuoted(out, id)
	if removed {
		out = append(out, `,"@removed":{"reason":"deleted"}`...)
	}
	return append(out, '}')
}

// appendQuoted is strconv.AppendQuote, without its per-rune work for the plain ASCII of
// ids.
func appendQuoted(out []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.AppendQuote(out, s)
		}
	}
	out = append(out, '"')
	out = append(out, s...)
	return append(out, '"')
}

// deltaInitial serves a page of the first round: every live object.
func (c *call) deltaInitial(path string, k entra.Kind, tok deltaToken, p *projection) *result {
	items := c.pageBuffer(0) // copied into the page, then recycled by deltaPage
	n, members := 0, 0
	budget := tok.pageSize()
	if tok.Upto == 0 {
		tok.Upto = tok.Since
	}
	// A group cut short on the previous page comes first.
	if tok.Group != "" {
		g := c.st.get(k, tok.Group)
		if g != nil {
			var more bool
			var last string
			var count int
			items, more, last, count = c.appendGroupWithMembers(items, g, p, tok.MemAfter)
			members += count
			if more {
				tok.MemAfter = last
				return c.deltaPage(path, items, tok, false)
			}
		}
		tok.After, tok.Group, tok.MemAfter = tok.Group, "", ""
		budget--
	}
	more := false
	var extra []byte
	c.st.live[k].Ascend(tok.After, func(id string) bool {
		if n >= budget || (tok.Size > 0 && members >= maxPageMembers) {
			more = true
			return false
		}
		o := c.st.objs[id]
		if len(items) > 0 {
			items = append(items, ',')
		}
		n++
		if k == entra.KindGroup && tok.Mem {
			var partial bool
			var last string
			var count int
			items, partial, last, count = c.appendGroupWithMembers(items, o, p, "")
			members += count
			if partial {
				tok.Group, tok.MemAfter = id, last
				more = true
				return false
			}
		} else {
			extra = c.appendManagerDelta(extra[:0], o, tok)
			items = appendObject(items, o, p, "", extra)
		}
		tok.After = id
		return true
	})
	return c.deltaPage(path, items, tok, !more)
}

// appendManagerDelta appends a user's manager@delta annotation to out when the round
// selected manager: the current manager, or an empty list once it was removed, so a
// client replaces what it held.
func (c *call) appendManagerDelta(out []byte, o *object, tok deltaToken) []byte {
	if o.kind != entra.KindUser || !contains(tok.Select, "manager") {
		return out
	}
	out = append(out, `"manager@delta":[`...)
	if set := c.st.linkSet(o.id, "manager"); set != nil {
		first := true
		set.AscendSlots("", func(id string, slot int32) bool {
			if kind, ok := c.st.memberKind(slot, id); ok {
				if !first {
					out = append(out, ',')
				}
				first = false
				out = appendMemberEntry(out, kind, id, false)
			}
			return true
		})
	}
	return append(out, ']')
}

// appendGroupWithMembers appends a group with up to memberChunk of its live members
// after a cursor, reporting whether more remain, the last member written and how many
// were.
func (c *call) appendGroupWithMembers(out []byte, g *object, p *projection, after string) ([]byte, bool, string, int) {
	more := false
	last := ""
	n := 0
	var entries []byte
	if set := c.st.linkSet(g.id, "members"); set != nil {
		// A recycled buffer: one made per group (and grown, entries run past 72 bytes)
		// was half of what a capture of a million users made the sim allocate.
		entries = c.pageBuffer(0)
		defer func() { putPageBuffer(entries) }()
		entries = append(entries, `"members@delta":[`...)
		set.AscendSlots(after, func(id string, slot int32) bool {
			kind, ok := c.st.memberKind(slot, id)
			if !ok {
				return true
			}
			if n == memberChunk {
				more = true
				return false
			}
			if n > 0 {
				entries = append(entries, ',')
			}
			entries = appendMemberEntry(entries, kind, id, false)
			n++
			last = id
			return true
		})
		if n > 0 {
			entries = append(entries, ']')
		}
	}
	if n == 0 {
		return appendObject(out, g, p, "", nil), more, last, n
	}
	return appendObject(out, g, p, "", entries), more, last, n
}

// deltaChanges serves a page of a later round: the objects changed since the token.
func (c *call) deltaChanges(path string, k entra.Kind, tok deltaToken, p *projection) *result {
	lo := sort.Search(len(c.st.changes), func(i int) bool { return c.st.changes[i].seq > tok.Since })
	type pending struct {
		whole   bool
		members map[string]change
	}
	byID := map[string]*pending{}
	var order []string
	selected := func(props []string) bool {
		if len(tok.Select) == 0 {
			return true
		}
		for _, pr := range props {
			if contains(tok.Select, pr) {
				return true
			}
		}
		return false
	}
	for _, ch := range c.st.changes[lo:] {
		if ch.seq > tok.Upto {
			break
		}
		if ch.kind != k {
			continue
		}
		pd := byID[ch.id]
		isMember := ch.member != ""
		if isMember && !tok.Mem {
			continue
		}
		if !isMember && ch.props != nil && !selected(ch.props) {
			continue
		}
		if pd == nil {
			pd = &pending{}
			byID[ch.id] = pd
			order = append(order, ch.id)
		}
		if isMember {
			if pd.members == nil {
				pd.members = map[string]change{}
			}
			pd.members[ch.member] = ch
		} else {
			pd.whole = true
		}
	}
	sort.Strings(order)
	var items []byte
	end := min(tok.Off+tok.pageSize(), len(order))
	for _, id := range order[tok.Off:end] {
		pd := byID[id]
		o := c.st.objs[id]
		switch {
		case o == nil:
			items = appendItem(items, removedEntry(id, "deleted"))
		case !o.live():
			items = appendItem(items, removedEntry(id, "changed"))
		default:
			var entries []byte
			for _, mid := range sortedKeys(pd.members) {
				ch := pd.members[mid]
				if len(entries) > 0 {
					entries = append(entries, ',')
				}
				entries = appendMemberEntry(entries, ch.memberKind, mid, ch.memberRemoved)
			}
			if len(items) > 0 {
				items = append(items, ',')
			}
			items = appendObject(items, o, p, "", membersDelta(entries), c.appendManagerDelta(nil, o, tok))
		}
	}
	if end < len(order) {
		tok.Off = end
		return c.deltaPage(path, items, tok, false)
	}
	return c.deltaPage(path, items, tok, true)
}

func removedEntry(id, reason string) []byte {
	out := []byte(`{"id":`)
	out = strconv.AppendQuote(out, id)
	out = append(out, `,"@removed":{"reason":"`...)
	out = append(out, reason...)
	return append(out, `"}}`...)
}
