-- Version 2: several instances on one store (claims with leases), and the instances themselves.
-- The same as v002_sqlite.sql in PostgreSQL types (text COLLATE "C", see v001_postgresql.sql).

-- The instance working on a report or a ZAM, and until when (seconds since 1970, the database's
-- clock): past that time another instance may claim it. NULL: nobody holds it.
ALTER TABLE reports ADD COLUMN owner TEXT COLLATE "C";
ALTER TABLE reports ADD COLUMN lease_until DOUBLE PRECISION;
ALTER TABLE outbox ADD COLUMN owner TEXT COLLATE "C";
ALTER TABLE outbox ADD COLUMN lease_until DOUBLE PRECISION;

-- The instances that opened the store, for `connector status` of the whole group.
CREATE TABLE IF NOT EXISTS instances (
    instance_id  TEXT COLLATE "C" PRIMARY KEY,
    host         TEXT COLLATE "C" NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   TEXT COLLATE "C" NOT NULL,    -- UTC ISO 8601
    seen_at      DOUBLE PRECISION NOT NULL     -- last heartbeat, seconds since 1970 (database clock)
);

-- Retention and recovery look up an input's reports; without this each lookup read every report.
CREATE INDEX IF NOT EXISTS reports_input ON reports(input_id);
