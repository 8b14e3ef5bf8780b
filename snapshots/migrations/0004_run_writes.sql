-- lifeline snapshot file, schema 4: the order in which apply runs wrote to the tenant.
--
-- A resume is refused when another plan wrote to the tenant after the run last did.
-- The order comes from this file, not from clocks: two responders' machines may
-- disagree on the time. last_write is the file's count of sending rounds when the run
-- last journaled one (0: never).
ALTER TABLE apply_runs ADD COLUMN last_write INTEGER NOT NULL DEFAULT 0;
