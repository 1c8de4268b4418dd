-- Version 4: the DMP feed (issue 15), a channel of its own beside MSSanté: one row per report the SIL
-- (DESTDMP=Y) or the configuration (dmp.discrete_feed) addresses to the patient's DMP.
-- reports.dmp_state mirrors dmp_feed.state, written in the same transaction (operator views, retention).

CREATE TABLE IF NOT EXISTS dmp_feed (
    report_id       TEXT    PRIMARY KEY REFERENCES reports(report_id),
    action          TEXT    NOT NULL,             -- connector.dmp.DmpAction: feed, replace, delete
    state           TEXT    NOT NULL,             -- connector.states.DmpState
    unique_id       TEXT    NOT NULL DEFAULT '',  -- XDSDocumentEntry.uniqueId (root-only OID): later replace/delete
    replaces_id     TEXT    NOT NULL DEFAULT '',  -- the uniqueId of the version this one replaces (RPLC)
    entry_uuid      TEXT    NOT NULL DEFAULT '',  -- the DMP's entryUUID, when TD3.1b named it
    code            TEXT    NOT NULL DEFAULT '',  -- the last DMP / XDS / PFI_* code (the ZAM^Z01 ERR-5)
    reason          TEXT    NOT NULL DEFAULT '',  -- why it waits, failed or was refused; never patient data
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL DEFAULT '',
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    owner           TEXT,                         -- the instance feeding it, until lease_until (as reports)
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
