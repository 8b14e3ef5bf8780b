package snapshots

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/lifelinehq/lifeline/entra"
)

// A new snapshot keeps the stored copy of every version the previous snapshot already
// holds instead of storing it again. A stored copy that was damaged since (a bad disk
// sector, a flipped bit, a damaged dictionary) would then be carried into the new
// snapshot, which 'snapshots verify' would report as damaged, although the capture had
// just read the good version from Graph. So every kept copy is checked first:
//
//   - a capture's collectors compare the stored copies of a page's versions with what
//     Graph returned, beside the writer and while the next page is on the wire
//     (checkStored); a damaged one is stored afresh, and the capture says so;
//   - PutPrepared compares a version nobody checked (an import, an incremental
//     capture's changes) with its stored copy before it keeps it;
//   - Commit checks the hash of every kept copy that still is unchecked (what an
//     incremental capture carried forward without reading it), and refuses the
//     snapshot if one is damaged: there is no fresh copy of it to store.

// markStored records in p.storedAs, as unchecked (minus the blob), the blob that
// probably stores its version in the previous snapshot, and reports whether there is
// one: checkStored then checks it.
func (pk *packer) markStored(p *Prepared) bool {
	blob, ok := pk.storedBlob(p.Hash)
	if ok {
		p.storedAs = -blob
	}
	return ok
}

// checkStored reads the stored copy of each version in ps (which markStored marked)
// and records in its storedAs whether that copy holds exactly its Data. It reads over raw connections (storedReader), comparing each stored
// version where SQLite holds it: through database/sql this check cost a quarter of a
// recapture's CPU. Without a path to read (no previous snapshot) it checks nothing, and
// the writer checks what it keeps.
func (p *packer) checkStored(ctx context.Context, ps []*Prepared) error {
	if p.path == "" || len(p.previous) == 0 {
		return nil
	}
	type want struct {
		blob int64
		p    *Prepared
	}
	var wants []want
	for _, pr := range ps {
		if pr.storedAs < 0 {
			wants = append(wants, want{-pr.storedAs, pr})
		}
	}
	if len(wants) == 0 {
		return nil
	}
	slices.SortFunc(wants, func(a, b want) int { return cmp.Compare(a.blob, b.blob) })
	r, err := p.getReader()
	if err != nil {
		return err
	}
	defer p.putReader(r)
	type delta struct {
		blob int64
		data []byte
	}
	var deltas []delta // rebuilt once the range is read: a delta's base is another row
	compare := func(blob int64, stored []byte, k int) int {
		for k < len(wants) && wants[k].blob < blob {
			k++
		}
		for ; k < len(wants) && wants[k].blob == blob; k++ {
			switch {
			case len(stored) > 0 && stored[0] == deltaMarker:
				deltas = append(deltas, delta{blob, bytes.Clone(stored)})
				stored = nil // once per blob
			case len(stored) > 0 && stored[0] == packedMarker:
				doc, err := unpack(ctx, p, r.buf[:0], stored)
				if err == nil {
					r.buf = doc[:0]
					p.settle(wants[k].p, blob, bytes.Equal(doc, wants[k].p.Data))
				}
			default:
				p.settle(wants[k].p, blob, bytes.Equal(stored, wants[k].p.Data))
			}
		}
		return k
	}
	first, last := wants[0].blob, wants[len(wants)-1].blob
	if last-first+1 <= 2*int64(len(wants)) {
		// Dense, as a page of versions stored in one earlier capture is: one walk.
		st := r.inRange
		st.start(first, last)
		k := 0
		for {
			ok, err := st.next(ctx)
			if err != nil {
				st.stop()
				return fmt.Errorf("cannot read the stored versions to compare them with Graph's: %w", err)
			}
			if !ok {
				break
			}
			k = compare(st.int64(0), st.bytes(1), k)
		}
	} else {
		for k := 0; k < len(wants); {
			blob := wants[k].blob
			st := r.at
			st.start(blob)
			ok, err := st.next(ctx)
			if err != nil {
				st.stop()
				return fmt.Errorf("cannot read the stored versions to compare them with Graph's: %w", err)
			}
			if ok {
				compare(blob, st.bytes(0), k)
			}
			st.stop()
			for k < len(wants) && wants[k].blob == blob {
				k++
			}
		}
	}
	for _, d := range deltas {
		base, rest, err := deltaBase(d.data)
		var doc []byte
		if err == nil {
			st := r.at
			st.start(base)
			var ok bool
			if ok, err = st.next(ctx); ok {
				if doc, err = wholeVersion(ctx, p, bytes.Clone(st.bytes(0))); err == nil {
					doc, err = patchVersion(doc, rest)
				}
			} else if err == nil {
				err = errBadDelta
			}
			st.stop()
		}
		for _, w := range wants {
			if w.blob == d.blob {
				p.settle(w.p, d.blob, err == nil && bytes.Equal(doc, w.p.Data))
			}
		}
	}
	return nil
}

// storedReader is a raw connection that checkStored reads stored versions over, with
// its statements and a buffer to unpack into. One goroutine uses it at a time.
type storedReader struct {
	c           *rawConn
	inRange, at *rawStmt
	buf         []byte
}

// getReader takes an idle reader, or opens one.
func (p *packer) getReader() (*storedReader, error) {
	p.mu.Lock()
	if n := len(p.readers); n > 0 {
		r := p.readers[n-1]
		p.readers = p.readers[:n-1]
		p.mu.Unlock()
		return r, nil
	}
	p.mu.Unlock()
	c, err := openRawConn(p.path)
	if err != nil {
		return nil, err
	}
	r := &storedReader{c: c}
	if r.inRange, err = c.prepare("SELECT id, data FROM blobs WHERE id BETWEEN ?1 AND ?2 ORDER BY id"); err == nil {
		r.at, err = c.prepare("SELECT data FROM blobs WHERE id = ?1")
	}
	if err != nil {
		c.close()
		return nil, fmt.Errorf("cannot read the stored versions to compare them with Graph's: %w", err)
	}
	return r, nil
}

// putReader returns a reader for the next checkStored.
func (p *packer) putReader(r *storedReader) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.readers = append(p.readers, r)
}

// closeReaders closes the idle readers, when the snapshot is committed or abandoned.
func (p *packer) closeReaders() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.readers {
		r.c.close()
	}
	p.readers = nil
}

// settle records in pr whether blob holds it intact.
func (p *packer) settle(pr *Prepared, blob int64, intact bool) {
	if intact {
		pr.storedAs = blob
	} else {
		pr.storedAs = -blob
	}
}

// storedIntact reports whether blob, read within the writer's transaction, holds
// exactly doc.
func (w *Writer) storedIntact(ctx context.Context, blob int64, doc []byte) bool {
	var data []byte
	if err := w.tx.QueryRowContext(ctx, "SELECT data FROM blobs WHERE id = ?", blob).Scan(&data); err != nil {
		return false
	}
	got, err := resolveBlob(ctx, w.tx, w.pack, data)
	return err == nil && bytes.Equal(got, doc)
}

// damagedVersion is a stored version that a capture or an import found damaged: its
// kind and id, and the first snapshot of its manifest row.
type damagedVersion struct {
	kind  entra.Kind
	id    string
	first int64
}

// Repaired says, in one sentence, which stored versions the snapshot being written
// found damaged and stored again from the copies it read, and which earlier snapshots
// still hold the damaged ones; "" when none were.
func (w *Writer) Repaired() string {
	if len(w.damaged) == 0 {
		return ""
	}
	first := w.prev
	for _, d := range w.damaged {
		first = min(first, d.first)
	}
	held := fmt.Sprintf("snapshot %d still holds", w.prev)
	if first < w.prev {
		held = fmt.Sprintf("snapshots %d to %d still hold", first, w.prev)
	}
	return fmt.Sprintf("%s stored in %s %s damaged (%s): this snapshot holds the copies just read, but %s the damaged ones; run 'lifeline snapshots verify --db %s'",
		plural(len(w.damaged), "version", "versions"), w.s.path, isAre(len(w.damaged)), someObjects(w.damaged), held, w.s.path)
}

// verifyKept checks the hash of every version the snapshot keeps from earlier ones and
// nobody compared with a fresh copy (what an incremental capture carries forward), a
// few at a time over the store's readers, and refuses the snapshot when one is
// damaged: it has no fresh copy to store instead.
func (w *Writer) verifyKept(ctx context.Context) error {
	st := &w.st
	type kept struct {
		blob int64
		hash Hash
		h    handle
	}
	var todo []kept
	for i := range st.ents {
		if e := &st.ents[i]; e.staged() && e.blob < w.newBlob && e.flags&entChecked == 0 {
			todo = append(todo, kept{e.blob, e.hash, handle(i)})
		}
	}
	if len(todo) == 0 {
		return nil
	}
	sort.Slice(todo, func(i, j int) bool { return todo[i].blob < todo[j].blob })
	const workers = 2
	var mu sync.Mutex
	var bad []damagedVersion
	var wg sync.WaitGroup
	errs := make([]error, workers)
	chunk := (len(todo) + workers - 1) / workers
	for k := range workers {
		part := todo[min(k*chunk, len(todo)):min((k+1)*chunk, len(todo))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, t := range part {
				var data []byte
				err := w.s.r.QueryRowContext(ctx, "SELECT data FROM blobs WHERE id = ?", t.blob).Scan(&data)
				if ctx.Err() != nil {
					errs[k] = ctx.Err()
					return
				}
				var doc []byte
				if err == nil {
					doc, err = resolveBlob(ctx, w.s.r, w.pack, data)
				}
				if err != nil || sha256.Sum256(doc) != t.hash {
					mu.Lock()
					bad = append(bad, damagedVersion{kind: st.kindOf(t.h), id: st.id(t.h)})
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Slice(bad, func(i, j int) bool {
		return bad[i].kind < bad[j].kind || bad[i].kind == bad[j].kind && bad[i].id < bad[j].id
	})
	what := "a capture"
	if w.meta.Incremental {
		what = "an incremental capture"
	}
	return fmt.Errorf("%s stored in %s %s damaged (%s) and %s would keep them unread, so nothing was written; take a full capture without --incremental, which stores fresh copies, and run 'lifeline snapshots verify --db %s'",
		plural(len(bad), "version", "versions"), w.s.path, isAre(len(bad)), someObjects(bad), what, w.s.path)
}

// someObjects names the first few damaged objects.
func someObjects(ds []damagedVersion) string {
	var names []string
	for _, d := range ds[:min(len(ds), 3)] {
		names = append(names, string(d.kind)+" "+d.id)
	}
	s := strings.Join(names, ", ")
	if len(ds) > 3 {
		s += fmt.Sprintf(" and %d more", len(ds)-3)
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func isAre(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}
