-- lifeline snapshot file, schema 1.
--
-- One file holds many snapshots of one tenant. Object versions are content-addressed
-- (blobs), and a snapshot's manifest is stored as validity intervals over snapshot ids:
-- an object unchanged across thirty daily captures is one blob and one manifest row,
-- so a snapshot of a tenant where 1% changed costs about 1% of a full one.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- One object version: Graph's raw JSON, canonicalized; hash = SHA-256(data). A rowid
-- table (not WITHOUT ROWID): versions are kilobytes, and appending them in rowid order
-- keeps bulk captures fast.
CREATE TABLE blobs (
    hash BLOB PRIMARY KEY,
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

-- The manifest: object (kind, id) had version hash in every snapshot from first_snap to
-- last_snap inclusive (last_snap NULL: still in the newest snapshot).
CREATE TABLE objects (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    first_snap INTEGER NOT NULL REFERENCES snapshots(id),
    last_snap  INTEGER,
    hash       BLOB NOT NULL REFERENCES blobs(hash),
    in_bin     INTEGER NOT NULL DEFAULT 0, -- 1: soft-deleted, in a recycle bin at capture time
    PRIMARY KEY (kind, id, first_snap)
) STRICT, WITHOUT ROWID;

-- Relationships kept apart from objects (members, owners, manager), with the same
-- interval encoding.
CREATE TABLE links (
    kind       TEXT NOT NULL,
    from_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    to_id      TEXT NOT NULL,
    to_kind    TEXT NOT NULL,
    first_snap INTEGER NOT NULL REFERENCES snapshots(id),
    last_snap  INTEGER,
    PRIMARY KEY (kind, from_id, name, to_id, first_snap)
) STRICT, WITHOUT ROWID;

-- Directory audit entries, captured once each, so that diff can say who did it.
CREATE TABLE audit (
    id          TEXT PRIMARY KEY,
    activity_at TEXT NOT NULL,   -- RFC 3339, UTC
    activity    TEXT NOT NULL,
    data        BLOB NOT NULL    -- Graph's raw directoryAudit JSON
) STRICT, WITHOUT ROWID;
CREATE INDEX audit_by_time ON audit (activity_at);
