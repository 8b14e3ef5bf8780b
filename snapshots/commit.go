package snapshots

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// rowBuffer batches rows of one INSERT into multi-row statements: modernc's per-call
// cost is most of an insert's cost, so sending 64 rows a call is several times faster.
type rowBuffer struct {
	table string
	cols  int
	rows  int
	args  []any
	bytes int
	stmt  *sql.Stmt // for a full batch
}

// batchRows is how many rows one multi-row INSERT carries (fewer when they pass 1 MB).
const batchRows = 256

func (b *rowBuffer) add(ctx context.Context, tx *sql.Tx, size int, vals ...any) error {
	b.args = append(b.args, vals...)
	b.rows++
	b.bytes += size
	if b.rows == batchRows || b.bytes > 1<<20 {
		return b.flush(ctx, tx)
	}
	return nil
}

func (b *rowBuffer) flush(ctx context.Context, tx *sql.Tx) error {
	if b.rows == 0 {
		return nil
	}
	var err error
	if b.rows == batchRows {
		if b.stmt == nil {
			if b.stmt, err = tx.PrepareContext(ctx, insertSQL(b.table, b.cols, batchRows)); err != nil {
				return err
			}
		}
		_, err = b.stmt.ExecContext(ctx, b.args...)
	} else {
		_, err = tx.ExecContext(ctx, insertSQL(b.table, b.cols, b.rows), b.args...)
	}
	clear(b.args)
	b.args, b.rows, b.bytes = b.args[:0], 0, 0
	return err
}

func insertSQL(table string, cols, rows int) string {
	var sb strings.Builder
	sb.WriteString("INSERT INTO " + table + " VALUES ")
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	for i := 0; i < rows; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(row)
	}
	return sb.String()
}

// sqlSink runs a commit's statements in their own goroutine, in order, while the
// manifest and the root hash are worked out: the statements and the hashing each take a
// core's worth of time on a large snapshot.
type sqlSink struct {
	jobs chan sqlJob
	done chan error
}

type sqlJob struct {
	stmt *sql.Stmt
	q    string
	args []any
}

func startSink(ctx context.Context, tx *sql.Tx) *sqlSink {
	s := &sqlSink{jobs: make(chan sqlJob, 64), done: make(chan error, 1)}
	go func() {
		var first error
		for j := range s.jobs {
			if first != nil {
				continue
			}
			var err error
			if j.stmt != nil {
				_, err = j.stmt.ExecContext(ctx, j.args...)
			} else {
				_, err = tx.ExecContext(ctx, j.q, j.args...)
			}
			if err != nil {
				first = err
			}
		}
		s.done <- first
	}()
	return s
}

func (s *sqlSink) send(j sqlJob) { s.jobs <- j }

func (s *sqlSink) wait() error {
	close(s.jobs)
	return <-s.done
}

// batcher groups rows of one INSERT for a sink.
type batcher struct {
	table string
	cols  int
	full  *sql.Stmt
	args  []any
	rows  int
	bytes int
	sink  *sqlSink
}

func (b *batcher) add(size int, vals ...any) {
	b.args = append(b.args, vals...)
	b.rows++
	b.bytes += size
	if b.rows == batchRows || b.bytes > 1<<20 {
		b.flush()
	}
}

func (b *batcher) flush() {
	if b.rows == 0 {
		return
	}
	if b.rows == batchRows {
		b.sink.send(sqlJob{stmt: b.full, args: b.args})
	} else {
		b.sink.send(sqlJob{q: insertSQL(b.table, b.cols, b.rows), args: b.args})
	}
	b.args, b.rows, b.bytes = make([]any, 0, batchRows*b.cols), 0, 0
}

func (w *Writer) commit(ctx context.Context) (Snapshot, error) {
	st := &w.st
	tx := w.tx
	if err := w.blobs.flush(ctx, tx); err != nil {
		return Snapshot{}, err
	}
	if err := w.verifyKept(ctx); err != nil {
		return Snapshot{}, err
	}
	id := w.prev + 1
	snap := Snapshot{
		ID: id, TenantID: w.meta.TenantID, GraphURL: w.meta.GraphURL, TakenAt: w.meta.TakenAt.UTC().Truncate(time.Millisecond),
		Label: w.meta.Label, Incremental: w.meta.Incremental, Source: w.meta.Source,
		Counts: map[string]int{}, BinCounts: map[string]int{}, DeltaTokens: w.tokens,
	}
	n := len(st.ents)

	// Group the surviving links by holder (a counting sort), dropping what removals,
	// clears and, when pruning, dead ends ruled out.
	isLive := make([]bool, n)
	for h := range n {
		isLive[h] = st.ents[h].live()
	}
	live := func(h handle) bool { return isLive[h] }
	start := make([]int32, n+1)
	used := make([]bool, n) // a link target of this snapshot
	for name, pairs := range st.pairs {
		for i := range pairs {
			r := &pairs[i]
			if !st.alive(uint16(name), i) || (w.prune && (!live(r.from) || !live(r.to))) {
				r.from = -1
				continue
			}
			start[r.from+1]++
		}
	}
	for i := 1; i <= n; i++ {
		start[i] += start[i-1]
	}
	grouped := make([]uint64, start[n])
	{
		pos := slices.Clone(start[:n])
		for name, pairs := range st.pairs {
			for _, r := range pairs {
				if r.from < 0 {
					continue
				}
				grouped[pos[r.from]] = uint64(name)<<32 | uint64(uint32(r.to))
				pos[r.from]++
				used[r.to] = true
			}
		}
	}
	st.pairs, st.seqs = nil, nil

	// Key order, (kind, id), as the manifest's primary key and the root hash have it.
	kindRank := make([]int, len(st.kinds))
	byName := slices.Clone(st.kinds)
	slices.Sort(byName)
	for c, k := range st.kinds {
		kindRank[c], _ = slices.BinarySearch(byName, k)
	}
	hasPrevSet := make([]bool, n)
	for k := range st.prevSets {
		hasPrevSet[k.h] = true
	}
	order := st.sortedHandles(kindRank, func(h int) bool {
		e := &st.ents[h]
		return e.staged() || e.prev != 0 || used[h] || start[h+1] > start[h] || hasPrevSet[h]
	})
	rank := make([]int32, n)
	for i, h := range order {
		rank[h] = int32(i)
	}
	// New link targets are numbered in key order, so that a set's numbers usually
	// ascend in the order its lines are hashed.
	var newNames []handle
	for _, h := range order {
		if used[h] && st.ents[h].pn == 0 {
			st.setNumber(h, st.maxPN+1)
			newNames = append(newNames, h)
		}
	}
	// The targets' numbers and ids in key order: a holder's targets are visited in that
	// order, so this copy is read almost sequentially instead of all over st.ents.
	byRank := make([]rankedTarget, len(order))
	for r, h := range order {
		e := &st.ents[h]
		byRank[r] = rankedTarget{g: e.g, pn: e.pn, str: e.str, kind: e.kind, guid: e.flags&entGUID != 0}
	}
	nameRank := make([]uint32, len(st.linkNames))
	nameByRank := make([]uint16, len(st.linkNames))
	{
		idx := make([]uint16, len(st.linkNames))
		for i := range idx {
			idx[i] = uint16(i)
		}
		slices.SortFunc(idx, func(a, b uint16) int { return strings.Compare(st.linkNames[a], st.linkNames[b]) })
		for r, i := range idx {
			nameRank[i] = uint32(r)
			nameByRank[r] = i
		}
	}
	single := map[string]bool{} // kind "\x00" link name
	for _, k := range st.kinds {
		if spec, ok := lookupSpec(k); ok {
			for _, l := range spec.Links {
				if l.Single {
					single[string(k)+"\x00"+l.Name] = true
				}
			}
		}
	}

	sink := startSink(ctx, tx)
	fail := func(err error) (Snapshot, error) {
		sink.wait()
		return snap, fmt.Errorf("cannot record snapshot %d: %w", id, err)
	}
	fullObjs, err := tx.PrepareContext(ctx, insertSQL(objectsTable, 8, batchRows))
	if err != nil {
		return fail(err)
	}
	fullSets, err := tx.PrepareContext(ctx, insertSQL(linksTable, 6, batchRows))
	if err != nil {
		return fail(err)
	}
	closeObj, err := tx.PrepareContext(ctx, "UPDATE objects SET last_snap = ? WHERE kind = ? AND id = ? AND first_snap = ?")
	if err != nil {
		return fail(err)
	}
	closeSet, err := tx.PrepareContext(ctx, "UPDATE links SET last_snap = ? WHERE kind = ? AND from_id = ? AND name = ? AND first_snap = ?")
	if err != nil {
		return fail(err)
	}
	objs := &batcher{table: objectsTable, cols: 8, full: fullObjs, sink: sink, args: make([]any, 0, batchRows*8)}
	sets := &batcher{table: linksTable, cols: 6, full: fullSets, sink: sink, args: make([]any, 0, batchRows*6)}

	objLines, linkLines := sha256.New(), sha256.New()
	var refs, enc, holderLine, prefix, lines, olines []byte
	var keys []uint64
	var ns []int64
	for _, h := range order {
		e := &st.ents[h]
		kind := string(st.kinds[e.kind])
		idb := st.appendID(holderLine[:0], h)
		holderLine = idb
		oid := string(idb)

		// This holder's links, by name, then by target in key order.
		keys = keys[:0]
		for _, l := range grouped[start[h]:start[h+1]] {
			to := handle(uint32(l))
			keys = append(keys, uint64(nameRank[uint16(l>>32)])<<32|uint64(uint32(rank[to])))
		}
		slices.Sort(keys)
		keys = slices.Compact(keys)
		refs = refs[:0]
		type set struct {
			name   string
			ni     uint16
			enc    []byte
			single bool
		}
		var holderSets []set
		for i := 0; i < len(keys); {
			r := uint32(keys[i] >> 32)
			j := i
			for j < len(keys) && uint32(keys[j]>>32) == r {
				j++
			}
			ni := nameByRank[r]
			name := st.linkNames[ni]
			prefix = append(prefix[:0], "l\t"...)
			prefix = append(prefix, kind...)
			prefix = append(prefix, '\t')
			prefix = append(prefix, oid...)
			prefix = append(prefix, '\t')
			prefix = append(prefix, name...)
			prefix = append(prefix, '\t')
			ns = ns[:0]
			ascending := true
			for _, k := range keys[i:j] {
				t := &byRank[uint32(k)]
				pn := int64(t.pn)
				if len(ns) > 0 && pn < ns[len(ns)-1] {
					ascending = false
				}
				ns = append(ns, pn)
				snap.LinkCount++
				lines = append(lines, prefix...)
				if t.guid {
					lines = appendGUID(lines, &t.g)
				} else {
					lines = append(lines, st.strs[t.str]...)
				}
				lines = append(lines, '\t')
				lines = append(lines, st.kinds[t.kind]...)
				lines = append(lines, '\n')
			}
			if len(lines) > 1<<16 {
				linkLines.Write(lines)
				lines = lines[:0]
			}
			if !ascending {
				slices.Sort(ns)
			}
			s := set{name: name, ni: ni, single: j-i == 1 && e.staged() && single[kind+"\x00"+name]}
			if s.single {
				refs = appendRefs(refs, []namedSet{{name, ns}})
			} else {
				enc = appendSet(enc[:0], ns)
				s.enc = slices.Clone(enc)
			}
			holderSets = append(holderSets, s)
			i = j
		}

		// The manifest row.
		prev := st.prevOf(h)
		if e.staged() {
			if e.inBin() {
				snap.BinCounts[kind]++
			} else {
				snap.Counts[kind]++
			}
			olines = append(olines, "o\t"...)
			olines = append(olines, kind...)
			olines = append(olines, '\t')
			olines = append(olines, oid...)
			olines = append(olines, '\t')
			olines = hex.AppendEncode(olines, e.hash[:])
			olines = append(olines, '\t', byte('0'+boolInt(e.inBin())), '\n')
			if len(olines) > 1<<16 {
				objLines.Write(olines)
				olines = olines[:0]
			}
		}
		same := prev != nil && e.staged() && prev.hash == e.hash && prev.blob == e.blob && prev.inBin == e.inBin() && string(st.span(prev.refs, prev.end)) == string(refs)
		if prev != nil && !same {
			sink.send(sqlJob{stmt: closeObj, args: []any{id - 1, kind, oid, prev.first}})
		}
		if e.staged() && !same {
			var r any
			if len(refs) > 0 {
				r = slices.Clone(refs)
			}
			objs.add(0, kind, oid, id, nil, e.hash[:], e.blob, boolInt(e.inBin()), r)
		}
		// Link sets: only those that differ from the previous snapshot's cost a row.
		for _, s := range holderSets {
			if s.single {
				continue
			}
			sk := setKey{h, s.ni}
			if p, ok := st.prevSets[sk]; ok {
				delete(st.prevSets, sk)
				if string(st.span(p.start, p.end)) == string(s.enc) {
					continue
				}
				sink.send(sqlJob{stmt: closeSet, args: []any{id - 1, kind, oid, s.name, p.first}})
			}
			sets.add(len(s.enc), kind, oid, s.name, id, nil, s.enc)
		}
	}
	objLines.Write(olines)
	linkLines.Write(lines)
	// Sets the previous snapshot had and this one does not.
	for k, p := range st.prevSets {
		sink.send(sqlJob{stmt: closeSet, args: []any{id - 1, string(st.kindOf(k.h)), st.id(k.h), st.linkNames[k.name], p.first}})
	}
	objs.flush()
	sets.flush()
	// The new link targets' names, in runs.
	for i := 0; i < len(newNames); i += namesPerRow {
		var enc namesEncoder
		for _, h := range newNames[i:min(i+namesPerRow, len(newNames))] {
			e := &st.ents[h]
			if e.flags&entGUID != 0 {
				enc.add(st.kinds[e.kind], &e.g, "")
			} else {
				enc.add(st.kinds[e.kind], nil, st.strs[e.str])
			}
		}
		sink.send(sqlJob{q: "INSERT INTO names(first, data) VALUES (?, ?)", args: []any{st.ents[newNames[i]].pn, enc.bytes()}})
	}
	if err := sink.wait(); err != nil {
		return snap, fmt.Errorf("cannot record snapshot %d: %w", id, err)
	}
	if err := w.dropOrphans(ctx); err != nil {
		return snap, err
	}
	if err := w.pack.writeFresh(ctx, tx); err != nil {
		return snap, err
	}
	snap.RootHash = rootOf(objLines.Sum(nil), linkLines.Sum(nil))
	if w.check != nil {
		if err := w.check(snap); err != nil {
			return snap, err
		}
	}

	counts, _ := json.Marshal(snap.Counts)
	binCounts, _ := json.Marshal(snap.BinCounts)
	tokens, _ := json.Marshal(snap.DeltaTokens)
	if _, err := tx.ExecContext(ctx, `INSERT INTO snapshots(id, tenant_id, graph_url, taken_at, label, counts, bin_counts, link_count, delta_tokens, root_hash, incremental, source)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, snap.TenantID, snap.GraphURL, snap.TakenAt.Format(time.RFC3339Nano), snap.Label, string(counts), string(binCounts),
		snap.LinkCount, string(tokens), snap.RootHash, boolInt(snap.Incremental), snap.Source); err != nil {
		return snap, err
	}
	if err := tx.Commit(); err != nil {
		return snap, fmt.Errorf("cannot commit snapshot %d to %s: %w", id, w.s.path, err)
	}
	w.s.useWAL(ctx)
	return snap, nil
}

type rankedTarget struct {
	g    [16]byte
	pn   int32
	str  int32
	kind byte
	guid bool
}

const (
	objectsTable = "objects(kind, id, first_snap, last_snap, hash, blob, in_bin, refs)"
	linksTable   = "links(kind, from_id, name, first_snap, last_snap, targets)"
)
