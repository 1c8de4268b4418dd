-- Version 4: the DMP feed. The same as v004_sqlite.sql in PostgreSQL types (text COLLATE "C", see
-- v001_postgresql.sql); the comments there say what each column means.

CREATE TABLE IF NOT EXISTS dmp_feed (
    report_id       TEXT    COLLATE "C" PRIMARY KEY REFERENCES reports(report_id),
    action          TEXT    COLLATE "C" NOT NULL,
    state           TEXT    COLLATE "C" NOT NULL,
    unique_id       TEXT    COLLATE "C" NOT NULL DEFAULT '',
    replaces_id     TEXT    COLLATE "C" NOT NULL DEFAULT '',
    entry_uuid      TEXT    COLLATE "C" NOT NULL DEFAULT '',
    code            TEXT    COLLATE "C" NOT NULL DEFAULT '',
    reason          TEXT    COLLATE "C" NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    COLLATE "C" NOT NULL DEFAULT '',
    created_at      TEXT    COLLATE "C" NOT NULL,
    updated_at      TEXT    COLLATE "C" NOT NULL,
    owner           TEXT    COLLATE "C",
    lease_until     DOUBLE PRECISION
);
-- The due query reads one state at a time in this order; a version waits for the one it replaces.
CREATE INDEX IF NOT EXISTS dmp_feed_due ON dmp_feed(state, next_attempt_at);
CREATE INDEX IF NOT EXISTS dmp_feed_unique_id ON dmp_feed(unique_id);

-- Reports a previous release recorded as addressed to the DMP (built, never fed): the SIL asked, so
-- they are queued; the feed applies the DMP's rules to each (a root^extension id is refused).
INSERT INTO dmp_feed (report_id, action, state, unique_id, replaces_id, created_at, updated_at)
SELECT report_id,
       CASE WHEN lifecycle = 'D' THEN 'delete' WHEN lifecycle = 'C' OR replaces <> '' THEN 'replace' ELSE 'feed' END,
       'to_send',
       CASE WHEN document_ext IS NULL OR document_ext = '' THEN document_root
            ELSE document_root || '^' || document_ext END,
       CASE WHEN replaces LIKE '%^' THEN substr(replaces, 1, length(replaces) - 1) ELSE replaces END,
       updated_at, updated_at
FROM reports WHERE dmp_state = 'to_send' AND email IS NOT NULL AND document_root IS NOT NULL
ON CONFLICT DO NOTHING;
