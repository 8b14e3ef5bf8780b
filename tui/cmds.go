package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
	"github.com/lifelinehq/lifeline/snapshots"
)

// Every command below does I/O and returns a typed message; none touches a model.

type storeLoadedMsg struct {
	tenant string
	snaps  []snapshots.Snapshot
	err    error
	// again marks a re-read (R): the list read before stands when it fails.
	again bool
}

func loadStore(e *env) tea.Cmd {
	store := e.store
	return func() tea.Msg {
		ctx := context.Background()
		tenant, err := store.TenantID(ctx)
		if err != nil {
			return storeLoadedMsg{err: err}
		}
		snaps, err := store.Snapshots(ctx)
		return storeLoadedMsg{tenant: tenant, snaps: snaps, err: err}
	}
}

// reloadStore reads the file's snapshot list again, for R: a capture taken from
// another shell since the console opened then shows up, and b plans back to it, as
// 'lifeline plan --from latest' would, instead of to the newest snapshot at start-up.
func reloadStore(e *env) tea.Cmd {
	load := loadStore(e)
	return func() tea.Msg {
		msg := load().(storeLoadedMsg)
		msg.again = true
		return msg
	}
}

type diffLoadedMsg struct {
	from, to int64
	live     bool // to is a capture of the live tenant, not a snapshot of the file
	res      *snapshots.DiffResult
	// copies are the objects of the first state a restore recreated, so that a by-id
	// diff can say which hard-deleted object and which added one are the same.
	copies engine.Recreated
	err    error
}

func loadDiff(e *env, from, to snapshots.Snapshot) tea.Cmd {
	store := e.store
	return func() tea.Msg {
		res, err := snapshots.Diff(context.Background(),
			snapshots.State{Store: store, Snapshot: from}, snapshots.State{Store: store, Snapshot: to}, snapshots.DiffOptions{})
		msg := diffLoadedMsg{from: from.ID, to: to.ID, res: res, err: err}
		if err == nil {
			msg.copies, msg.err = engine.RecreatedByRestores(context.Background(), snapshots.State{Store: store, Snapshot: from})
		}
		return msg
	}
}

// objectsLoadedMsg carries a snapshot's objects, grouped by kind.
type objectsLoadedMsg struct {
	snap  int64
	kinds []entra.Kind
	rows  map[entra.Kind]*rowSet
	err   error
}

// objectsProgressMsg reports how many objects have been read so far; next waits for
// the following report (or the result).
type objectsProgressMsg struct {
	snap int64
	read int
	next tea.Cmd
}

// loadObjects reads a snapshot's objects in the background. Reading a million objects
// takes seconds, so it reports progress: a goroutine does the work and each command
// waits for its next message (the channel pump).
func loadObjects(e *env, snap int64) tea.Cmd {
	store := e.store
	ch := make(chan tea.Msg, 1)
	var next tea.Cmd
	next = func() tea.Msg { return <-ch }
	go func() {
		rows := map[entra.Kind][]objRow{}
		var linking []linkingRow
		read := 0
		err := store.Objects(context.Background(), snap, "", func(o snapshots.Object) error {
			name := ""
			if nameByEnds[o.Kind] {
				props := map[string]any{}
				_ = json.Unmarshal(o.JSON, &props)
				linking = append(linking, linkingRow{kind: o.Kind, at: len(rows[o.Kind]), props: props})
			} else {
				name = displayName(o.JSON)
			}
			rows[o.Kind] = append(rows[o.Kind], newObjRow(o.Kind, o.ID, name, o.InBin))
			read++
			if read%20_000 == 0 {
				select { // report if the last report was taken; never wait for the UI
				case ch <- objectsProgressMsg{snap: snap, read: read, next: next}:
				default:
				}
			}
			return nil
		})
		nameLinkingRows(rows, linking)
		kinds := make([]entra.Kind, 0, len(rows))
		sets := make(map[entra.Kind]*rowSet, len(rows))
		for k, rs := range rows {
			kinds = append(kinds, k)
			sets[k] = newRowSet(rs)
		}
		sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
		// The final message must arrive even if a progress report is still unread.
		for {
			select {
			case ch <- objectsLoadedMsg{snap: snap, kinds: kinds, rows: sets, err: err}:
				return
			case <-ch:
			}
		}
	}()
	return next
}

// nameByEnds are the kinds without a name of their own: a row says what they connect.
var nameByEnds = map[entra.Kind]bool{entra.KindRoleAssignment: true, entra.KindOAuth2PermissionGrant: true, entra.KindAppRoleAssignment: true}

// linkingRow is a row of a nameByEnds kind, named once every row is read.
type linkingRow struct {
	kind  entra.Kind
	at    int
	props map[string]any
}

// nameLinkingRows names the rows of assignments and grants by what they connect, with
// the names of the objects they point at where the snapshot holds them ("role Global
// Administrator for Alice at /" rather than three ids).
func nameLinkingRows(rows map[entra.Kind][]objRow, linking []linkingRow) {
	if len(linking) == 0 {
		return
	}
	// The names of the objects the assignments connect, by kind and id, read before
	// any assignment is renamed: a million-row snapshot has a few thousand of those.
	type key struct {
		kind entra.Kind
		id   string
	}
	names := map[key]string{}
	for _, l := range linking {
		for _, e := range entra.DisplayNameEnds {
			id, _ := l.props[e.Property].(string)
			if bare := id[strings.LastIndex(id, "/")+1:]; bare != "" {
				for _, k := range e.Kinds {
					names[key{k, bare}] = ""
				}
			}
		}
	}
	for kind, rs := range rows {
		if nameByEnds[kind] {
			continue
		}
		for _, r := range rs {
			if _, want := names[key{kind, r.id}]; want {
				names[key{kind, r.id}] = r.name
			}
		}
	}
	nameOf := func(kind entra.Kind, id string) string { return names[key{kind, id}] }
	for _, l := range linking {
		r := &rows[l.kind][l.at]
		*r = newObjRow(r.kind, r.id, entra.NameByEnds(l.kind, l.props, nameOf), r.inBin)
	}
}

// displayName reads the name a person knows an object by: its display name, its UPN, or
// for an assignment, who is assigned to what.
func displayName(raw []byte) string {
	var v struct {
		DisplayName string `json:"displayName"`
		UPN         string `json:"userPrincipalName"`
		Principal   string `json:"principalDisplayName"`
		Resource    string `json:"resourceDisplayName"`
	}
	_ = json.Unmarshal(raw, &v)
	switch {
	case v.DisplayName != "":
		return v.DisplayName
	case v.UPN != "":
		return v.UPN
	case v.Principal != "" || v.Resource != "":
		return v.Principal + " → " + v.Resource
	}
	return ""
}

// objectLoadedMsg is one object's pretty JSON in one snapshot.
type objectLoadedMsg struct {
	snap   int64
	kind   entra.Kind
	id     string
	pretty string
	inBin  bool
	err    error
}

// linksLoadedMsg is one object's links in one snapshot, both directions. They come
// apart from the JSON: finding them reads every link of the snapshot.
type linksLoadedMsg struct {
	snap    int64
	kind    entra.Kind
	id      string
	out, in []snapshots.Link
	err     error
}

func loadObject(e *env, snap int64, kind entra.Kind, id string) tea.Cmd {
	store := e.store
	object := func() tea.Msg {
		msg := objectLoadedMsg{snap: snap, kind: kind, id: id}
		o, err := store.Object(context.Background(), snap, kind, id)
		if err != nil {
			msg.err = err
			return msg
		}
		var b bytes.Buffer
		if json.Indent(&b, o.JSON, "", "  ") != nil {
			b.Reset()
			b.Write(o.JSON)
		}
		msg.pretty, msg.inBin = b.String(), o.InBin
		return msg
	}
	links := func() tea.Msg {
		msg := linksLoadedMsg{snap: snap, kind: kind, id: id}
		msg.err = store.Links(context.Background(), snap, func(l snapshots.Link) error {
			if l.From == id && l.Kind == kind {
				msg.out = append(msg.out, l)
			} else if l.To == id && l.ToKind == kind {
				msg.in = append(msg.in, l)
			}
			return nil
		})
		return msg
	}
	return tea.Batch(object, links)
}

type graphLoadedMsg struct {
	snap int64
	g    *graphx.Graph
	err  error
}

func loadGraph(e *env, snap int64) tea.Cmd {
	if g, ok := e.graphs[snap]; ok {
		return func() tea.Msg { return graphLoadedMsg{snap: snap, g: g} }
	}
	store := e.store
	return func() tea.Msg {
		g, err := engine.LoadGraph(context.Background(), store, snap)
		return graphLoadedMsg{snap: snap, g: g, err: err}
	}
}
