-- lifeline snapshot file, schema 2: the restore journal and the id ledger.
--
-- apply writes every step's state and result here, in the same transaction as the ledger
-- rows the step produced, so that a crash or kill -9 resumes without creating anything
-- twice. A step is 'sent' before its requests go out: on resume, a sent create is looked
-- up by natural key before it is retried, because its response may have been lost.

-- One row per plan ever applied to this file, keyed by the SHA-256 of the plan file.
CREATE TABLE apply_runs (
    plan_hash   TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    snapshot    INTEGER NOT NULL,
    plan_path   TEXT NOT NULL,
    operator    TEXT NOT NULL,   -- who ran it: OS user@host and the app's client id
    started_at  TEXT NOT NULL,   -- RFC 3339, UTC
    updated_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL DEFAULT ''
) STRICT;

-- The state of each step of a run: sent, done, failed or skipped (absent: pending).
-- result is JSON: new ids, Graph request ids, statuses, the error sentence.
CREATE TABLE apply_steps (
    plan_hash  TEXT NOT NULL,
    step_id    TEXT NOT NULL,
    state      TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    result     TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (plan_hash, step_id)
) STRICT, WITHOUT ROWID;

-- Old id -> new id of every object lifeline recreated in this tenant, for relinking and
-- for downstream systems (Azure RBAC, SaaS apps) that hold the old ids.
CREATE TABLE ledger (
    tenant_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    old_id       TEXT NOT NULL,
    new_id       TEXT NOT NULL,
    old_app_id   TEXT NOT NULL DEFAULT '',
    new_app_id   TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    plan_hash    TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    request_id   TEXT NOT NULL DEFAULT '',
    recorded_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, old_id)
) STRICT;
