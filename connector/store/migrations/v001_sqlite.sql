-- The connector's only durable state. One transaction per state transition.
-- Nothing here is deleted by the pipeline; pruning is an operator command with stated retention.

-- Raw inputs exactly as received (a file, or one MLLP message). Recorded and committed
-- before the SIL is acknowledged or the file leaves the drop folder.
CREATE TABLE IF NOT EXISTS inputs (
    id           INTEGER PRIMARY KEY,
    source       TEXT    NOT NULL,              -- file name or mllp:<peer>; never patient data
    received_at  TEXT    NOT NULL,              -- UTC ISO 8601
    sha256       TEXT    NOT NULL UNIQUE,       -- the same bytes twice are one input
    data         BLOB    NOT NULL,
    dedup_key    TEXT    UNIQUE,                -- MLLP: MSH-3|MSH-4|MSH-10; NULL for files
    ack          BLOB,                          -- MLLP: the ACK we sent, replayed to a resend
    split        INTEGER NOT NULL DEFAULT 0     -- 1 once its messages and reports are recorded
);

-- One row per message that could not be read: the input stays, the reason is for a person.
CREATE TABLE IF NOT EXISTS input_errors (
    input_id      INTEGER NOT NULL REFERENCES inputs(id),
    message_index INTEGER NOT NULL,
    reason        TEXT    NOT NULL,
    at            TEXT    NOT NULL,
    released      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (input_id, message_index)
);

-- One row per report: one patient's results from one message.
CREATE TABLE IF NOT EXISTS reports (
    report_id       TEXT    PRIMARY KEY,        -- derived from MSH-3/4/10 + patient index; no patient data
    input_id        INTEGER NOT NULL REFERENCES inputs(id),
    message_index   INTEGER NOT NULL,
    patient_index   INTEGER NOT NULL,
    control_id      TEXT    NOT NULL,           -- MSH-10, for ZAM correlation
    state           TEXT    NOT NULL,           -- connector.states.ReportState
    reason          TEXT    NOT NULL DEFAULT '',-- why WAITING / QUARANTINED, actionable
    series_key      TEXT    NOT NULL DEFAULT '',-- documents of the same order share a setId
    document_root   TEXT,                       -- ClinicalDocument/id, fixed once
    document_ext    TEXT,
    version         INTEGER,
    set_root        TEXT,                       -- setId, shared by every version of the document
    set_ext         TEXT,
    replaces        TEXT NOT NULL DEFAULT '',   -- root^extension of the version this one replaces (RPLC)
    effective_time  TEXT,
    message_id      TEXT,                       -- RFC 5322 Message-ID, fixed once, reused on retry
    envid           TEXT,                       -- DSN ENVID
    dsn             INTEGER NOT NULL DEFAULT 1, -- 0: no delivery report asked (shape B ACK_RECEPTION=N)
    email           BLOB,                       -- the exact bytes sent (and resent)
    lifecycle       TEXT    NOT NULL DEFAULT 'F', -- F new, C replaces, D deletes: for the DMP feed
    dmp_state       TEXT    NOT NULL DEFAULT '',  -- '' not asked; to_send (DESTDMP=Y, qualified INS); not_eligible
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL DEFAULT '',
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    received_at     TEXT    NOT NULL,           -- input received (latency metrics)
    sent_at         TEXT    NOT NULL DEFAULT ''
);
-- The claim queries read one state at a time in index order, so they stay fast with 100,000 waiting.
CREATE INDEX IF NOT EXISTS reports_state ON reports(state, next_attempt_at);
CREATE INDEX IF NOT EXISTS reports_state_age ON reports(state, received_at);
CREATE INDEX IF NOT EXISTS reports_message_id ON reports(message_id);
CREATE INDEX IF NOT EXISTS reports_envid ON reports(envid);

-- Document series: the setId and the last version, so a correction replaces (RPLC) the previous one.
CREATE TABLE IF NOT EXISTS series (
    series_key    TEXT PRIMARY KEY,
    set_root      TEXT NOT NULL,
    set_ext       TEXT NOT NULL,
    last_version  INTEGER NOT NULL,
    last_root     TEXT NOT NULL,
    last_ext      TEXT NOT NULL
);

-- Per-recipient delivery state.
CREATE TABLE IF NOT EXISTS recipients (
    report_id   TEXT NOT NULL REFERENCES reports(report_id),
    address     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    idnps       TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL,                  -- connector.states.RecipientState
    code        TEXT NOT NULL DEFAULT '',       -- SMTP code, DSN status or MDN error code
    detail      TEXT NOT NULL DEFAULT '',
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (report_id, address)
);

-- A report's timeline (for `connector show`): state changes and acknowledgements. No patient data.
CREATE TABLE IF NOT EXISTS events (
    id         INTEGER PRIMARY KEY,
    report_id  TEXT NOT NULL,
    at         TEXT NOT NULL,
    event      TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_report ON events(report_id, id);

-- IMAP cursor per mailbox: (UIDVALIDITY, last UID handled).
CREATE TABLE IF NOT EXISTS imap_cursor (
    mailbox      TEXT PRIMARY KEY,
    uidvalidity  INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL
);

-- Business acks (ZAM) waiting to reach the SIL.
CREATE TABLE IF NOT EXISTS outbox (
    id          INTEGER PRIMARY KEY,
    report_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,                  -- Z01 / Z02 / Z03
    name        TEXT NOT NULL UNIQUE,           -- idempotence key: one ZAM per ack event
    data        BLOB NOT NULL,
    sent        INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);
