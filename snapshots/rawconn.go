package snapshots

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// rawConn is a read-only connection to a snapshot file through SQLite's C API
// (modernc.org/sqlite/lib, the library under the database/sql driver), for the reads
// that go through every row of a large snapshot: the manifest, the links and the
// versions. database/sql costs an allocation per column of every row, and hands out
// each blob in a slice the driver allocated for that row, only ours until the next
// one (sql.RawBytes), so a version kept had to be copied a second time. Here a row's
// columns are read where SQLite holds them, and what is kept is copied once.
//
// A rawConn and its statements are used by one goroutine at a time: its libc.TLS is
// not safe for concurrent use.
type rawConn struct {
	tls   *libc.TLS
	db    uintptr
	stmts []uintptr // prepared, finalized by close
}

// openRawConn opens the snapshot file at path for reading.
func openRawConn(path string) (*rawConn, error) {
	return openRawConnFlags(path, path, 0)
}

// openRawConnFlags is openRawConn of name (a path, or a "file:" URI with flags
// SQLITE_OPEN_URI), errors naming path.
func openRawConnFlags(path, name string, flags int32) (_ *rawConn, err error) {
	c := &rawConn{tls: libc.NewTLS()}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	var rc int32
	c.db, rc, err = c.callWithString(name, func(cpath, out uintptr) int32 {
		return sqlite3.Xsqlite3_open_v2(c.tls, cpath, out, sqlite3.SQLITE_OPEN_READONLY|sqlite3.SQLITE_OPEN_NOMUTEX|flags, 0)
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	if rc != sqlite3.SQLITE_OK {
		return nil, fmt.Errorf("cannot open %s: %w", path, c.error(rc))
	}
	// As the read pool's connections do: wait for a writer switching the file to WAL
	// rather than fail.
	sqlite3.Xsqlite3_busy_timeout(c.tls, c.db, 10_000)
	return c, nil
}

// callWithString calls call with s as a C string and room for the C pointer that
// sqlite3_open_v2 and sqlite3_prepare_v2 write their result to, frees both, and returns
// that pointer and call's result code. err is libc having no memory for them.
func (c *rawConn) callWithString(s string, call func(cs, out uintptr) int32) (result uintptr, rc int32, err error) {
	cs, err := libc.CString(s)
	if err != nil {
		return 0, 0, err
	}
	defer libc.Xfree(c.tls, cs)
	out := libc.Xmalloc(c.tls, ptrSize)
	if out == 0 {
		return 0, 0, errors.New("out of memory")
	}
	defer libc.Xfree(c.tls, out)
	*(*uintptr)(cMemory(out)) = 0 // what a call that fails early leaves
	rc = call(cs, out)
	return cPointer(out), rc, nil
}

// ptrSize is the size of a C pointer.
const ptrSize = libc.Tsize_t(unsafe.Sizeof(uintptr(0)))

// cPointer returns the pointer stored at p, in C memory.
func cPointer(p uintptr) uintptr {
	return *(*uintptr)(cMemory(p))
}

// cMemory is p, an address in C memory, as a pointer. What makes this sound is where
// the memory is: libc allocates it with mmap, outside the Go heap, so the collector
// neither moves nor frees it. unsafe.Add from nil is no more valid than converting the
// uintptr; it only keeps vet's check, which is meant for Go memory, quiet.
func cMemory(p uintptr) unsafe.Pointer {
	return unsafe.Add(nil, p)
}

// error is SQLite's message for result code rc on this connection.
func (c *rawConn) error(rc int32) error {
	msg := libc.GoString(sqlite3.Xsqlite3_errstr(c.tls, rc))
	if c.db != 0 {
		if m := libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db)); m != "" && m != msg {
			msg += ": " + m
		}
	}
	return fmt.Errorf("%s (%d)", msg, rc)
}

// close finalizes the statements and releases the connection and the TLS. What was
// copied from it stays valid (it is in Go memory).
func (c *rawConn) close() {
	if c.tls == nil {
		return // closed already
	}
	for _, st := range c.stmts {
		sqlite3.Xsqlite3_finalize(c.tls, st)
	}
	if c.db != 0 {
		sqlite3.Xsqlite3_close_v2(c.tls, c.db)
	}
	c.tls.Close()
	c.tls, c.db, c.stmts = nil, 0, nil
}

// rawStmt is a prepared statement of a rawConn, stepped through its rows.
type rawStmt struct {
	c    *rawConn
	p    uintptr
	rows int
	done bool // past the last row: stepping again would run the statement anew
}

// prepare compiles query; the statement lives as long as the connection.
func (c *rawConn) prepare(query string) (*rawStmt, error) {
	p, rc, err := c.callWithString(query, func(cquery, out uintptr) int32 {
		return sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, cquery, -1, out, 0)
	})
	if err != nil {
		return nil, fmt.Errorf("cannot prepare a query: %w", err)
	}
	if rc != sqlite3.SQLITE_OK {
		return nil, c.error(rc)
	}
	st := &rawStmt{c: c, p: p}
	c.stmts = append(c.stmts, st.p)
	return st, nil
}

// start runs the statement anew with args bound to ?1, ?2, ...
func (st *rawStmt) start(args ...int64) {
	sqlite3.Xsqlite3_reset(st.c.tls, st.p)
	for i, a := range args {
		sqlite3.Xsqlite3_bind_int64(st.c.tls, st.p, int32(i+1), a)
	}
	st.rows, st.done = 0, false
}

// stop ends the statement's run before its last row: a statement left on a row keeps
// the connection's read transaction open.
func (st *rawStmt) stop() {
	sqlite3.Xsqlite3_reset(st.c.tls, st.p)
	st.done = true
}

// next moves to the next row, reporting false after the last, and from then on until
// start. It stops with ctx's error once ctx is done, which it checks between rows
// (every thousand), not while SQLite looks for the next one.
func (st *rawStmt) next(ctx context.Context) (bool, error) {
	if st.done {
		return false, nil
	}
	if st.rows%1024 == 0 {
		if err := ctx.Err(); err != nil {
			return false, err
		}
	}
	st.rows++
	switch rc := sqlite3.Xsqlite3_step(st.c.tls, st.p); rc {
	case sqlite3.SQLITE_ROW:
		return true, nil
	case sqlite3.SQLITE_DONE:
		st.done = true
		return false, nil
	default:
		st.done = true
		return false, st.c.error(rc)
	}
}

// int64 is column col of the current row as an integer.
func (st *rawStmt) int64(col int32) int64 {
	return sqlite3.Xsqlite3_column_int64(st.c.tls, st.p, col)
}

// bytes is column col of the current row (a blob, or text) where SQLite holds it:
// valid only until the next call of next or start, so whatever is kept of it must be
// copied. Empty and NULL values are empty.
func (st *rawStmt) bytes(col int32) []byte {
	// The blob first, then its length, as SQLite documents: asking for the length
	// first could convert the value and move it.
	p := sqlite3.Xsqlite3_column_blob(st.c.tls, st.p, col)
	n := int(sqlite3.Xsqlite3_column_bytes(st.c.tls, st.p, col))
	if n == 0 || p == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(cMemory(p)), n)
}

// arena holds copies of many small byte strings in a few large allocations: a
// snapshot's versions are read by the hundred thousand, and kept together for as long
// as the state they make up.
type arena struct{ buf []byte }

// arenaSize is how much an arena allocates at a time: large enough that allocations
// are few, small enough that the unused tail of the last one is not.
const arenaSize = 1 << 20

// alloc returns n bytes of the arena (length n, capacity n), never nil; like copy, a
// large n gets an allocation of its own.
func (a *arena) alloc(n int) []byte {
	if n > arenaSize/4 {
		return make([]byte, n)
	}
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, arenaSize)
	}
	start := len(a.buf)
	a.buf = a.buf[:start+n]
	return a.buf[start : start+n : start+n]
}

// copy returns a copy of b in the arena, never nil (nil means missing to the callers).
// The copy's capacity ends with it, so appending to it cannot reach the next one. A
// large b gets an allocation of its own rather than cutting the current one short.
func (a *arena) copy(b []byte) []byte {
	if len(b) == 0 {
		return []byte{}
	}
	if len(b) > arenaSize/4 {
		return append([]byte(nil), b...)
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, max(arenaSize, len(b)))
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[start:len(a.buf):len(a.buf)]
}
