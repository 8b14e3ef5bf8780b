package snapshots

import (
	"context"
	"fmt"
)

// versionReader reads stored versions over a rawConn, copying each once into an arena:
// loading both states of a 100,000-user incident reads 365 MB of versions, and through
// database/sql the second copy, its garbage and the fresh pages it touched cost about a
// second of CPU in BenchmarkBuildPlan100k.
//
// Packed versions are unpacked straight into the arena, so what it returns is a whole
// version's canonical JSON, or a delta.
type versionReader struct {
	c           *rawConn
	inRange, at *rawStmt // versions by id range, one version by id
	dicts       dictSource
	arena       arena
}

// newVersionReader prepares c for reading versions, unpacking them with dicts.
func newVersionReader(c *rawConn, dicts dictSource) (*versionReader, error) {
	r := &versionReader{c: c, dicts: dicts}
	var err error
	if r.inRange, err = c.prepare("SELECT id, data FROM blobs WHERE id BETWEEN ?1 AND ?2 ORDER BY id"); err != nil {
		return nil, fmt.Errorf("cannot read the stored versions: %w", err)
	}
	if r.at, err = c.prepare("SELECT data FROM blobs WHERE id = ?1"); err != nil {
		return nil, fmt.Errorf("cannot read the stored versions: %w", err)
	}
	return r, nil
}

// readRange reads the versions ids, sorted, with one range query from the first to the
// last, which SQLite walks in id order: out[i] becomes the version ids[i] (nil when the
// file lacks it). Rows of the range that are not wanted are not copied.
func (r *versionReader) readRange(ctx context.Context, ids []int64, out [][]byte) error {
	if len(ids) == 0 {
		return nil
	}
	st := r.inRange
	st.start(ids[0], ids[len(ids)-1])
	k := 0
	for {
		ok, err := st.next(ctx)
		if err != nil {
			return fmt.Errorf("cannot read the stored versions: %w", err)
		}
		if !ok {
			return nil
		}
		id := st.int64(0)
		for k < len(ids) && ids[k] < id {
			k++
		}
		if k < len(ids) && ids[k] == id {
			if out[k], err = r.keep(ctx, id, st.bytes(1)); err != nil {
				return err
			}
		}
	}
}

// readOne reads the version id; ok is false when the file lacks it.
func (r *versionReader) readOne(ctx context.Context, id int64) (data []byte, ok bool, err error) {
	st := r.at
	st.start(id)
	defer st.stop() // one row at most: do not keep the read transaction open
	if ok, err = st.next(ctx); err != nil {
		return nil, false, fmt.Errorf("cannot read the stored versions: %w", err)
	}
	if !ok {
		return nil, false, nil
	}
	data, err = r.keep(ctx, id, st.bytes(0))
	return data, err == nil, err
}

// keep copies the stored form of version id, which SQLite owns, into the arena:
// unpacked when it is packed.
func (r *versionReader) keep(ctx context.Context, id int64, stored []byte) ([]byte, error) {
	if len(stored) == 0 || stored[0] != packedMarker {
		return r.arena.copy(stored), nil
	}
	_, _, n, err := packedLen(stored)
	if err != nil {
		return nil, fmt.Errorf("stored version %d is unreadable (run 'lifeline snapshots verify'): %w", id, err)
	}
	doc, err := unpack(ctx, r.dicts, r.arena.alloc(n), stored)
	if err != nil {
		return nil, fmt.Errorf("stored version %d is unreadable (run 'lifeline snapshots verify'): %w", id, err)
	}
	return doc, nil
}
