-- Version 2: several instances on one store (claims with leases), and the instances themselves.
-- On SQLite one process owns the file: the columns exist so both engines have one schema (and
-- `connector store copy` one set of columns), and claims there succeed at once.

-- The instance working on a report or a ZAM, and until when (seconds since 1970, the database's
-- clock): past that time another instance may claim it. NULL: nobody holds it.
ALTER TABLE reports ADD COLUMN owner TEXT;
ALTER TABLE reports ADD COLUMN lease_until DOUBLE PRECISION;
ALTER TABLE outbox ADD COLUMN owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until DOUBLE PRECISION;

-- The instances that opened the store, for `connector status` of the whole group.
CREATE TABLE IF NOT EXISTS instances (
    instance_id  TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   TEXT NOT NULL,                -- UTC ISO 8601
    seen_at      DOUBLE PRECISION NOT NULL     -- last heartbeat, seconds since 1970 (database clock)
);

-- Retention and recovery look up an input's reports; without this each lookup read every report.
CREATE INDEX IF NOT EXISTS reports_input ON reports(input_id);
