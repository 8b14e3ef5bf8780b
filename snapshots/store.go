// Package snapshots is lifeline's snapshot store: one SQLite file (modernc.org/sqlite, no
// cgo) holding many versioned, tamper-evident copies of one tenant's directory.
//
// Objects are kept as the JSON Graph returned, canonicalized (and stored packed or as a
// delta against an earlier version), with a SHA-256 per version; a snapshot is a
// manifest of (kind, id) -> version plus the links that are not properties, and a root
// hash over both. Unchanged objects cost nothing in later
// snapshots. The file has one writer at a time and refuses to open anything that is not
// a lifeline snapshot file.
package snapshots

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// ApplicationID is stored in the SQLite header of every lifeline file ("LFLN"), so that a
// foreign SQLite database is recognised and refused before anything reads or writes it.
const ApplicationID = 0x4C464C4E

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is an open snapshot file.
type Store struct {
	path string
	busy time.Duration // how long a write waits for another process's lock
	// w is the only connection that writes: SQLite allows one writer, and funnelling
	// every write through one connection avoids SQLITE_BUSY between our own goroutines.
	w *sql.DB
	// r serves concurrent reads (WAL lets them run beside the writer; see rollback).
	r *sql.DB

	namesMu sync.Mutex
	names   *nameTable // cached link target numbering

	dicts dictCache // the dictionaries of packed versions, read over r

	// created says Open made the file (it was missing or empty): Abandon removes it.
	created bool
	// rollback says the file is still in SQLite's rollback-journal mode, as Open leaves
	// a file it created until the first snapshot is committed (then it switches to WAL,
	// as every file is). A first capture writes hundreds of megabytes into an empty
	// file: in WAL mode every page is written twice (to the log, then copied into the
	// file by the checkpoint at commit, which alone took 1.4-2 s at a million users),
	// while a rollback journal writes new pages once, straight into the file, and keeps
	// the same all-or-nothing commit. Only the writer goroutine and Close touch it.
	rollback bool
	// immutable says the file is read as immutable (openPool): raw connections too.
	immutable bool
}

// OpenOptions says how to open a snapshot file.
type OpenOptions struct {
	// Create makes a new file when none exists at the path.
	Create bool
	// ReadOnly opens the file without any possibility of writing to it.
	ReadOnly bool
	// BusyTimeout is how long a write waits while another process holds the file's
	// write lock before it fails with ErrFileBusy; 0 means 10 s.
	BusyTimeout time.Duration

	// maxPages, in tests, caps the file's size in pages from the first write, as a
	// full disk would.
	maxPages int
}

// ErrNotSnapshotFile is returned (wrapped) for files that are not lifeline snapshot files.
var ErrNotSnapshotFile = errors.New("not a lifeline snapshot file")

// ErrFileBusy is returned (wrapped) by a write that waited its BusyTimeout for another
// process (a capture, an import, an apply) to release the file's write lock.
var ErrFileBusy = errors.New("another process is writing the snapshot file")

// ErrNotWritable is returned (wrapped) by Open when a file to be written, or the folder
// a new one goes in, cannot be written.
var ErrNotWritable = errors.New("cannot be written")

// Open opens the snapshot file at path, creating and migrating it when opts.Create is
// set and it does not exist. A file that is not SQLite, or is another application's
// SQLite database, is refused with an error that says so and is left untouched.
func Open(ctx context.Context, path string, opts OpenOptions) (*Store, error) {
	s, err := open(ctx, path, opts)
	if isBusy(err) {
		// A new file's first capture or import holds it whole until it commits
		// (Store.rollback), where a file in WAL mode lets readers in beside its writer.
		busy := opts.BusyTimeout
		if busy <= 0 {
			busy = defaultBusyTimeout
		}
		return nil, (&Store{path: path, busy: busy}).busyError("a capture or an import", ", and a new file's first snapshot keeps everyone else out until it is committed; wait for it to finish and run this again", err)
	}
	return s, err
}

// open is Open, but for the sentence a file held by another process gets.
func open(ctx context.Context, path string, opts OpenOptions) (*Store, error) {
	info, statErr := os.Stat(path)
	switch {
	case statErr == nil && info.IsDir():
		return nil, fmt.Errorf("%s is a directory, not a snapshot file; give the path of a .db file", path)
	case statErr == nil && info.Size() == 0 && !opts.Create:
		return nil, fmt.Errorf("%s is an empty file, not a snapshot file; give a file 'lifeline capture' wrote", path)
	case statErr == nil:
		if err := checkHeader(path); err != nil {
			return nil, err
		}
	case errors.Is(statErr, fs.ErrNotExist):
		if !opts.Create {
			return nil, fmt.Errorf("no snapshot file at %s; take one with 'lifeline capture --out %s'", path, path)
		}
		if opts.ReadOnly {
			return nil, fmt.Errorf("no snapshot file at %s to open read-only", path)
		}
		if dir := filepath.Dir(path); !isDir(dir) {
			return nil, fmt.Errorf("cannot create %s: the folder %s does not exist; create it or give another path", path, dir)
		}
	default:
		return nil, fmt.Errorf("cannot read %s: %w", path, statErr)
	}

	if !opts.ReadOnly {
		if err := checkWritable(path, statErr == nil); err != nil {
			return nil, err
		}
	}
	s := &Store{path: path, busy: opts.BusyTimeout, created: statErr != nil || info.Size() == 0}
	s.rollback = s.created && !opts.ReadOnly
	if s.busy <= 0 {
		s.busy = defaultBusyTimeout
	}
	var err error
	if !opts.ReadOnly {
		if s.w, err = openPool(path, false, false, s.rollback, 1, s.busy); err != nil {
			return nil, err
		}
		if opts.maxPages > 0 {
			if _, err := s.w.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", opts.maxPages)); err != nil {
				s.w.Close()
				return nil, err
			}
		}
		if err := s.migrate(ctx); err != nil {
			s.w.Close()
			if statErr != nil {
				// The file is this call's own, and a half-made one would later read as
				// "not a lifeline snapshot file": leave nothing behind.
				for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
					os.Remove(p)
				}
				if isFull(err) {
					return nil, fmt.Errorf("the disk holding %s is full: the new file could not be set up, and nothing was kept; free some space and run it again (%w)", path, err)
				}
			}
			return nil, err
		}
	}
	if s.r, err = openPool(path, opts.ReadOnly, false, s.rollback, 4, s.busy); err != nil {
		if code := sqliteCode(err); opts.ReadOnly && (code == sqlite3.SQLITE_READONLY || code == sqlite3.SQLITE_CANTOPEN) {
			// A file on read-only media or in a folder this user cannot write (a reviewer's
			// copy on a share): SQLite cannot create the shared-memory file a WAL
			// database is read through. Nothing can write there either, so the file is
			// read as immutable, as it stands (Close checkpoints, so it is complete).
			err = s.openImmutable()
		}
	}
	if err != nil {
		if s.w != nil {
			s.w.Close()
		}
		return nil, err
	}
	if opts.ReadOnly {
		if err := s.checkApplicationID(ctx, s.r); err != nil {
			s.r.Close()
			return nil, err
		}
	}
	s.dicts.db = s.r
	return s, nil
}

// checkWritable says, before SQLite does it in its own words ("attempt to write a
// readonly database (8)", "unable to open database file (14)"), that a file to be
// written cannot be: the file itself, or the folder a new one goes in.
func checkWritable(path string, exists bool) error {
	if exists {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("%s %w (%v); this command writes to it: make it writable, or copy it to a folder you can write to", path, ErrNotWritable, errors.Unwrap(err))
		}
		return f.Close()
	}
	dir := filepath.Dir(path)
	probe, err := os.CreateTemp(dir, ".lifeline-probe-*")
	if err != nil {
		return fmt.Errorf("cannot create %s: the folder %s %w (%v); give a path in a folder you can write to", path, dir, ErrNotWritable, errors.Unwrap(err))
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// explainFull turns SQLite's "database or disk is full" during what (a capture, an
// import) into what it means for the operator; other errors pass as they are.
func (s *Store) explainFull(what string, err error) error {
	if !isFull(err) {
		return err
	}
	return fmt.Errorf("the disk holding %s is full: nothing of this %s was kept and the file's earlier snapshots are untouched; free some space and run it again (%w)", s.path, what, err)
}

// IsDamaged reports whether err is SQLite finding the file malformed or not a database
// (a damaged page, a file overwritten in part): the file needs 'snapshots verify' and a
// copy to restore from, not a retry.
func IsDamaged(err error) bool {
	code := sqliteCode(err)
	return code == sqlite3.SQLITE_CORRUPT || code == sqlite3.SQLITE_NOTADB
}

// isFull reports whether err is SQLite's "database or disk is full".
func isFull(err error) bool { return sqliteCode(err) == sqlite3.SQLITE_FULL }

// isBusy reports whether err is SQLite's "database is locked": another process held
// the file's write lock for longer than busy_timeout.
func isBusy(err error) bool { return sqliteCode(err) == sqlite3.SQLITE_BUSY }

// sqliteCode is the primary result code of a SQLite error in err's chain, or -1.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return -1
	}
	return se.Code() & 0xff
}

// busyError says that the write err reports waited out the busy timeout while another
// process (who) held the file, and what follows from it (then).
func (s *Store) busyError(who, then string, err error) error {
	return fmt.Errorf("another process (%s) has been writing to %s for over %v%s (%w: %w)", who, s.path, s.busy, then, ErrFileBusy, err)
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// checkHeader refuses files that are not SQLite databases before the driver sees them:
// opening a random file with SQLite in write mode could otherwise be taken as a new,
// empty database by some code paths.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", path, err)
	}
	defer f.Close()
	var hdr [100]byte
	n, _ := f.Read(hdr[:])
	if n == 0 {
		// An empty file is what a crashed "touch" leaves; SQLite treats it as a new database.
		return nil
	}
	if n < 100 || string(hdr[:16]) != "SQLite format 3\x00" {
		return fmt.Errorf("%s is %w: it is not a SQLite database (corrupt or some other kind of file)", path, ErrNotSnapshotFile)
	}
	appID := uint32(hdr[68])<<24 | uint32(hdr[69])<<16 | uint32(hdr[70])<<8 | uint32(hdr[71])
	if appID != ApplicationID && appID != 0 {
		return fmt.Errorf("%s is %w: it is another application's SQLite database (application id %#x)", path, ErrNotSnapshotFile, appID)
	}
	pages := uint32(hdr[28])<<24 | uint32(hdr[29])<<16 | uint32(hdr[30])<<8 | uint32(hdr[31])
	if appID == 0 && (hdr[60]|hdr[61]|hdr[62]|hdr[63] != 0 || pages > 1) {
		// No application id but a schema version or tables: someone else's database.
		// Refuse it here, before any pragma (WAL) could touch it.
		return fmt.Errorf("%s is %w: it is a SQLite database written by another application", path, ErrNotSnapshotFile)
	}
	return nil
}

// pageSize is the page size of new files: the largest SQLite has. Object versions are
// kilobytes, and 4 KB pages hold one of them and waste the rest (the file was twice its
// data); large pages also make fewer, larger writes.
const pageSize = 65536

// defaultBusyTimeout is how long a write waits for another process's write lock on the
// file before it gives up.
const defaultBusyTimeout = 10 * time.Second

// openPool opens conns connections to the file; immutable (read-only only) reads it
// without locks or its WAL, for files nothing can write. rollback (writable only) leaves
// a new file in rollback-journal mode (Store.rollback) instead of switching it to WAL.
func openPool(path string, readOnly, immutable, rollback bool, conns int, busy time.Duration) (*sql.DB, error) {
	q := url.Values{}
	// busy_timeout must come first so the connection waits instead of failing while
	// another connection switches the file to WAL; the driver orders it first.
	q.Add("_pragma", "busy_timeout("+strconv.Itoa(int(busy.Milliseconds()))+")")
	q.Add("_pragma", "foreign_keys(ON)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		// page_size must precede the switch to WAL, which the driver applies after the
		// _pragma list; it is a no-op on existing files.
		q.Add("_pragma", "page_size("+strconv.Itoa(pageSize)+")")
		if rollback {
			// NORMAL is safe against power loss only in WAL mode; until the switch, a
			// commit syncs in full (useWAL lowers it).
			q.Add("_pragma", "synchronous(FULL)")
		} else {
			q.Set("_journal_mode", "WAL")
			q.Add("_pragma", "synchronous(NORMAL)")
		}
		q.Add("_pragma", "temp_store(MEMORY)")
		// In pages, not KiB: the driver applies cache_size before page_size, and a size in
		// KiB would be converted at the default 4 KB page and then hold 16 times as much.
		q.Add("_pragma", "cache_size("+strconv.Itoa(64<<20/pageSize)+")")
		// BEGIN IMMEDIATE takes the write lock up front instead of upgrading mid-transaction.
		q.Set("_txlock", "immediate")
	}
	dsn := path + "?" + q.Encode()
	if immutable {
		dsn = immutableURI(path) + "&" + q.Encode()
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot open %s as a snapshot file: %w", path, err)
	}
	return db, nil
}

// openImmutable opens the store's readers on the file as immutable. It refuses a file
// whose write-ahead log holds data: immutable reads ignore the log, and would show an
// older state as if it were whole.
func (s *Store) openImmutable() (err error) {
	if st, err := os.Stat(s.path + "-wal"); err == nil && st.Size() > 0 {
		return fmt.Errorf("%s cannot be read here: its newest writes are still in %s-wal, which SQLite must fold in, and this user cannot write beside it; copy both files to a folder you can write to", s.path, s.path)
	}
	// A rollback journal left by a first capture killed part-way (Store.rollback): read
	// as immutable, the file would show that capture's half-written pages.
	if st, err := os.Stat(s.path + "-journal"); err == nil && st.Size() > 0 {
		return fmt.Errorf("%s cannot be read here: %s-journal beside it holds a write that was cut off (a first capture killed part-way), which SQLite must undo, and this user cannot write beside it; copy both files to a folder you can write to", s.path, s.path)
	}
	if s.r, err = openPool(s.path, true, true, false, 4, s.busy); err != nil {
		return err
	}
	s.immutable = true
	return nil
}

// immutableURI names the file for SQLite as read-only and immutable: no locks, no
// shared memory, no WAL.
func immutableURI(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs // "//x" would read as a URI authority
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&immutable=1"
}

// openRaw opens a raw connection to the file, as the store's pools read it.
func (s *Store) openRaw() (*rawConn, error) {
	if s.immutable {
		return openRawConnFlags(s.path, immutableURI(s.path), sqlite3.SQLITE_OPEN_URI)
	}
	return openRawConn(s.path)
}

func (s *Store) checkApplicationID(ctx context.Context, db *sql.DB) error {
	var id int64
	if err := db.QueryRowContext(ctx, "PRAGMA application_id").Scan(&id); err != nil {
		return fmt.Errorf("%s is %w: %v", s.path, ErrNotSnapshotFile, err)
	}
	if uint32(id) != ApplicationID {
		return fmt.Errorf("%s is %w (application id %#x)", s.path, ErrNotSnapshotFile, uint32(id))
	}
	// A newer schema may store what this binary would misread (packed versions were
	// new in schema 3), so a read-only open refuses it as the writer's migrate does.
	var version int64
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("%s is %w: %v", s.path, ErrNotSnapshotFile, err)
	}
	return s.refuseNewer(version, schemaVersions())
}

// schemaVersions is the newest schema this binary knows: its number of migrations.
func schemaVersions() int {
	entries, _ := fs.Glob(migrationFiles, "migrations/*.sql")
	return len(entries)
}

// refuseNewer refuses a file of a schema newer than known, the newest this binary knows.
func (s *Store) refuseNewer(version int64, known int) error {
	if int(version) > known {
		return fmt.Errorf("%s was written by a newer lifeline (schema %d, this binary knows %d); upgrade lifeline to open it", s.path, version, known)
	}
	return nil
}

// migrate brings the schema to the newest version, one transaction per migration, and
// stamps the application id. A file whose schema is newer than this binary is refused.
func (s *Store) migrate(ctx context.Context) error {
	var appID, version int64
	if err := s.w.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return fmt.Errorf("%s is %w: %v", s.path, ErrNotSnapshotFile, err)
	}
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("%s is %w: %v", s.path, ErrNotSnapshotFile, err)
	}
	if appID == 0 && version == 0 {
		var tables int
		if err := s.w.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
			return fmt.Errorf("%s is %w: %v", s.path, ErrNotSnapshotFile, err)
		}
		if tables > 0 {
			return fmt.Errorf("%s is %w: it is a SQLite database written by another application", s.path, ErrNotSnapshotFile)
		}
	} else if uint32(appID) != ApplicationID {
		return fmt.Errorf("%s is %w (application id %#x)", s.path, ErrNotSnapshotFile, uint32(appID))
	}

	entries, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(entries)
	if err := s.refuseNewer(version, len(entries)); err != nil {
		return err
	}
	for i := int(version); i < len(entries); i++ {
		name := entries[i]
		n, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, "migrations/"), "_", 2)[0])
		if err != nil || n != i+1 {
			return fmt.Errorf("migration %s is out of sequence", name)
		}
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s to schema %d: %w", s.path, n, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d; PRAGMA application_id = %d", n, ApplicationID)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s to schema %d: %w", s.path, n, err)
		}
	}
	return nil
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// Abandon closes the store after a capture or import failed: when Open created the
// file and it still holds no snapshot, the file is removed with its WAL and shared
// memory, so a failed first capture leaves nothing that looks like a snapshot file.
// A file that holds snapshots is only closed.
func (s *Store) Abandon(ctx context.Context) error {
	if !s.created || s.w == nil {
		return s.Close()
	}
	// Another process may have opened the new file and be capturing into it: only a
	// file whose write lock this store gets at once, and which holds no snapshot, goes.
	// Not getting the lock, or not reading the count, keeps the file: that is no error.
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return errors.Join(err, s.Close())
	}
	var removeErr error
	if s.lockedAndEmpty(ctx, conn) {
		s.rollback = false // switching the removed file to WAL would make its -wal again
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			if err := os.Remove(s.path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				removeErr = errors.Join(removeErr, err)
			}
		}
	}
	conn.ExecContext(ctx, "ROLLBACK")
	conn.Close()
	return errors.Join(removeErr, s.Close())
}

// lockedAndEmpty takes the file's write lock on conn without waiting and reports
// whether it got it and the file holds no snapshot; the caller rolls back.
func (s *Store) lockedAndEmpty(ctx context.Context, conn *sql.Conn) bool {
	var snaps int
	_, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 0")
	if err == nil {
		_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
	}
	if err == nil {
		err = conn.QueryRowContext(ctx, "SELECT count(*) FROM snapshots").Scan(&snaps)
	}
	return err == nil && snaps == 0
}

// useWAL switches a file Open left in rollback-journal mode to WAL, now that its first
// snapshot is committed: from here on, readers run beside the writer again. It needs
// every other connection to the file idle; when another process holds one, the switch
// waits for the next chance (Close), and failing that for the next Open, whose
// connections switch it. Nothing is lost meanwhile: both modes commit all or nothing.
func (s *Store) useWAL(ctx context.Context) {
	if !s.rollback || s.w == nil {
		return
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	// Not waiting: a busy file is switched later, and the caller has a result to return.
	conn.ExecContext(ctx, "PRAGMA busy_timeout = 0")
	defer conn.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.Itoa(int(s.busy.Milliseconds())))
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		return
	}
	conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL")
	s.rollback = false
}

// Close closes the file. Pending writers must have committed or rolled back.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil && s.w != nil && s.rollback {
		// The readers go first: their connections would stand in the switch's way.
		errs = append(errs, s.r.Close())
		s.r = nil
		s.useWAL(context.Background())
	}
	if s.w != nil {
		// Fold the WAL back into the main file so a copied .db is complete on its own.
		_, _ = s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		errs = append(errs, s.w.Close())
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	return errors.Join(errs...)
}

// ReadOnly reports whether the file was opened without a way to write to it.
func (s *Store) ReadOnly() bool { return s.w == nil }

// writable returns the writer or an error for read-only stores.
func (s *Store) writable() (*sql.DB, error) {
	if s.w == nil {
		return nil, fmt.Errorf("%s is open read-only; nothing can be written to it", s.path)
	}
	return s.w, nil
}

// TenantID returns the tenant the file belongs to, or "" for a new file.
func (s *Store) TenantID(ctx context.Context) (string, error) {
	return s.meta(ctx, "tenant_id")
}

func (s *Store) meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}
