package snapshots

import (
	"context"
	"fmt"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// versionReader reads stored versions through SQLite's C API (modernc.org/sqlite/lib,
// the library under the database/sql driver) on a read-only connection of its own,
// copying each straight into an arena. Through database/sql every version arrives in a
// slice the driver allocated for that row, which had to be copied again because it is
// only ours until the next row (sql.RawBytes): loading both states of a 100,000-user
// incident read 365 MB of versions twice over, and the second copy, its garbage and the
// fresh pages it touched cost about a second of CPU in BenchmarkBuildPlan100k.
//
// A versionReader is used by one goroutine at a time: its libc.TLS is not safe for
// concurrent use.
type versionReader struct {
	tls         *libc.TLS
	db          uintptr
	inRange, at uintptr // prepared statements: versions by id range, one version by id
	arena       []byte  // where versions are copied to; a new one is started when full
}

// arenaSize is how much a versionReader allocates at a time for the versions it
// copies: large enough that allocations are few, small enough that the unused tail of
// the last one is not.
const arenaSize = 1 << 20

// openVersionReader opens the snapshot file at path for reading versions.
func openVersionReader(path string) (_ *versionReader, err error) {
	r := &versionReader{tls: libc.NewTLS()}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	cpath, err := libc.CString(path)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(r.tls, cpath)
	out := libc.Xmalloc(r.tls, ptrSize)
	if out == 0 {
		return nil, fmt.Errorf("cannot open %s: out of memory", path)
	}
	defer libc.Xfree(r.tls, out)
	rc := sqlite3.Xsqlite3_open_v2(r.tls, cpath, out, sqlite3.SQLITE_OPEN_READONLY|sqlite3.SQLITE_OPEN_NOMUTEX, 0)
	r.db = cPointer(out)
	if rc != sqlite3.SQLITE_OK {
		return nil, fmt.Errorf("cannot open %s: %w", path, r.error(rc))
	}
	// As the read pool's connections do: wait for a writer switching the file to WAL
	// rather than fail.
	sqlite3.Xsqlite3_busy_timeout(r.tls, r.db, 10_000)
	if r.inRange, err = r.prepare("SELECT id, data FROM blobs WHERE id BETWEEN ?1 AND ?2 ORDER BY id"); err != nil {
		return nil, err
	}
	if r.at, err = r.prepare("SELECT data FROM blobs WHERE id = ?1"); err != nil {
		return nil, err
	}
	return r, nil
}

// ptrSize is the size of a C pointer, which sqlite3_open_v2 and sqlite3_prepare_v2
// write their results to.
const ptrSize = libc.Tsize_t(unsafe.Sizeof(uintptr(0)))

// cPointer returns the pointer stored at p, in C memory.
func cPointer(p uintptr) uintptr {
	// C memory is outside the Go heap: unsafe.Add from nil makes the pointer without the
	// uintptr conversion vet rightly distrusts for Go memory.
	return *(*uintptr)(unsafe.Add(nil, p))
}

func (r *versionReader) prepare(query string) (uintptr, error) {
	cquery, err := libc.CString(query)
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(r.tls, cquery)
	out := libc.Xmalloc(r.tls, ptrSize)
	if out == 0 {
		return 0, fmt.Errorf("cannot read the stored versions: out of memory")
	}
	defer libc.Xfree(r.tls, out)
	if rc := sqlite3.Xsqlite3_prepare_v2(r.tls, r.db, cquery, -1, out, 0); rc != sqlite3.SQLITE_OK {
		return 0, fmt.Errorf("cannot read the stored versions: %w", r.error(rc))
	}
	return cPointer(out), nil
}

// error is SQLite's message for result code rc on this connection.
func (r *versionReader) error(rc int32) error {
	msg := libc.GoString(sqlite3.Xsqlite3_errstr(r.tls, rc))
	if r.db != 0 {
		if m := libc.GoString(sqlite3.Xsqlite3_errmsg(r.tls, r.db)); m != "" && m != msg {
			msg += ": " + m
		}
	}
	return fmt.Errorf("%s (%d)", msg, rc)
}

// close releases the statements, the connection and the TLS; the versions read stay
// valid (they are in Go memory).
func (r *versionReader) close() {
	for _, st := range []uintptr{r.inRange, r.at} {
		if st != 0 {
			sqlite3.Xsqlite3_finalize(r.tls, st)
		}
	}
	if r.db != 0 {
		sqlite3.Xsqlite3_close_v2(r.tls, r.db)
	}
	r.tls.Close()
}

// readRange reads the versions ids, sorted and between ids[0] and ids[len(ids)-1], with
// one range query, which SQLite walks in id order: out[i] becomes the version ids[i]
// (nil when the file lacks it). Rows in the range that are not wanted are skipped
// without copying.
func (r *versionReader) readRange(ctx context.Context, ids []int64, out [][]byte) error {
	if len(ids) == 0 {
		return nil
	}
	st := r.inRange
	defer sqlite3.Xsqlite3_reset(r.tls, st)
	sqlite3.Xsqlite3_bind_int64(r.tls, st, 1, ids[0])
	sqlite3.Xsqlite3_bind_int64(r.tls, st, 2, ids[len(ids)-1])
	k := 0
	for row := 0; ; row++ {
		if row%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		switch rc := sqlite3.Xsqlite3_step(r.tls, st); rc {
		case sqlite3.SQLITE_ROW:
		case sqlite3.SQLITE_DONE:
			return nil
		default:
			return fmt.Errorf("cannot read the stored versions: %w", r.error(rc))
		}
		id := sqlite3.Xsqlite3_column_int64(r.tls, st, 0)
		for k < len(ids) && ids[k] < id {
			k++
		}
		if k < len(ids) && ids[k] == id {
			out[k] = r.column(st, 1)
		}
	}
}

// readOne reads the version id; ok is false when the file lacks it.
func (r *versionReader) readOne(id int64) (data []byte, ok bool, err error) {
	st := r.at
	defer sqlite3.Xsqlite3_reset(r.tls, st)
	sqlite3.Xsqlite3_bind_int64(r.tls, st, 1, id)
	switch rc := sqlite3.Xsqlite3_step(r.tls, st); rc {
	case sqlite3.SQLITE_ROW:
		return r.column(st, 0), true, nil
	case sqlite3.SQLITE_DONE:
		return nil, false, nil
	default:
		return nil, false, fmt.Errorf("cannot read the stored versions: %w", r.error(rc))
	}
}

// column copies the blob in column col of the current row into the arena and returns
// it (never nil: nil means missing). The copy's capacity ends with it, so appending to
// it cannot overwrite the next version.
func (r *versionReader) column(st uintptr, col int32) []byte {
	// The blob first, then its length, as SQLite documents: asking for the length
	// first could convert the value and move it.
	p := sqlite3.Xsqlite3_column_blob(r.tls, st, col)
	n := int(sqlite3.Xsqlite3_column_bytes(r.tls, st, col))
	if n == 0 || p == 0 {
		return []byte{}
	}
	if cap(r.arena)-len(r.arena) < n {
		r.arena = make([]byte, 0, max(arenaSize, n))
	}
	start := len(r.arena)
	// The blob is SQLite's until the next step; it is copied before that.
	r.arena = append(r.arena, unsafe.Slice((*byte)(unsafe.Add(nil, p)), n)...)
	return r.arena[start:len(r.arena):len(r.arena)]
}
