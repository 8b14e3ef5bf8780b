package snapshots

import (
	"context"
	"fmt"
)

// versionReader reads stored versions over a rawConn, copying each once into an arena:
// loading both states of a 100,000-user incident reads 365 MB of versions, and through
// database/sql the second copy, its garbage and the fresh pages it touched cost about a
// second of CPU in BenchmarkBuildPlan100k.
type versionReader struct {
	c           *rawConn
	inRange, at *rawStmt // versions by id range, one version by id
	arena       arena
}

// newVersionReader prepares c for reading versions.
func newVersionReader(c *rawConn) (*versionReader, error) {
	r := &versionReader{c: c}
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
			out[k] = r.arena.copy(st.bytes(1))
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
	return r.arena.copy(st.bytes(0)), true, nil
}
