-- lifeline snapshot file, schema 1.
--
-- One file holds many snapshots of one tenant. A snapshot's manifest is stored as
-- validity intervals over snapshot ids: an object unchanged across thirty daily captures
-- is one manifest row and one stored version, so a snapshot of a tenant where 1% changed
-- costs about 1% of a full one. The rows are written in key order by one transaction per
-- snapshot; nothing here is updated in place except an interval's last_snap.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- Object versions: Graph's raw JSON, canonicalized, addressed by rowid from the manifest,
-- which holds each version's SHA-256. Appended in arrival order, kilobytes each. A later
-- version of an object is usually stored as the members that changed against a whole
-- earlier one (see blob.go).
CREATE TABLE blobs (
    id   INTEGER PRIMARY KEY,
    data BLOB NOT NULL
) STRICT;

CREATE TABLE snapshots (
    id           INTEGER PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    graph_url    TEXT NOT NULL,
    taken_at     TEXT NOT NULL,            -- RFC 3339, UTC
    label        TEXT NOT NULL DEFAULT '',
    counts       TEXT NOT NULL,            -- JSON {"user": n, ...}: live objects
    bin_counts   TEXT NOT NULL DEFAULT '{}', -- JSON {"user": n, ...}: objects in a recycle bin
    link_count   INTEGER NOT NULL DEFAULT 0,
    delta_tokens TEXT NOT NULL DEFAULT '{}', -- JSON {"user": deltaLink, "group": deltaLink}
    root_hash    TEXT NOT NULL,            -- hex SHA-256 over the sorted manifest and links
    incremental  INTEGER NOT NULL DEFAULT 0,
    source       TEXT NOT NULL DEFAULT 'capture' -- capture | import | entraexporter
) STRICT;

-- Link targets, numbered once per file: link sets hold these numbers (a few bytes each,
-- delta-encoded) instead of 36-character ids. Numbers are given in runs, one row per run
-- of up to 4096 consecutive numbers starting at first: (kind, id) pairs, GUIDs as 16
-- bytes (see names.go).
CREATE TABLE names (
    first INTEGER PRIMARY KEY,
    data  BLOB NOT NULL
) STRICT;

-- The manifest: object (kind, id) had the version in blob (SHA-256 hash) in every
-- snapshot from first_snap to last_snap inclusive (last_snap NULL: still in the newest
-- snapshot). refs holds its single-valued links (a user's manager), which change with
-- the object like a property.
CREATE TABLE objects (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    first_snap INTEGER NOT NULL,
    last_snap  INTEGER,
    hash       BLOB NOT NULL,
    blob       INTEGER NOT NULL,
    in_bin     INTEGER NOT NULL DEFAULT 0, -- 1: soft-deleted, in a recycle bin at capture time
    refs       BLOB,                       -- encoded single-valued links, NULL when none
    PRIMARY KEY (kind, id, first_snap)
) STRICT, WITHOUT ROWID;

-- Multi-valued relationships (members, owners): one row per holder and link name with
-- the same interval encoding, its targets an encoded set of names.n. A group whose
-- members did not change costs nothing in a later snapshot.
CREATE TABLE links (
    kind       TEXT NOT NULL,
    from_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    first_snap INTEGER NOT NULL,
    last_snap  INTEGER,
    targets    BLOB NOT NULL,
    PRIMARY KEY (kind, from_id, name, first_snap)
) STRICT, WITHOUT ROWID;

-- Directory audit entries, captured once each, so that diff can say who did it. Keyed by
-- time first: reads are time ranges, and a second index would cost as much as the table.
-- data is the entry deflated (see audit_codec.go).
CREATE TABLE audit (
    activity_at TEXT NOT NULL,   -- RFC 3339, UTC
    id          TEXT NOT NULL,
    activity    TEXT NOT NULL,
    data        BLOB NOT NULL,   -- Graph's raw directoryAudit JSON, compressed
    PRIMARY KEY (activity_at, id)
) STRICT, WITHOUT ROWID;
