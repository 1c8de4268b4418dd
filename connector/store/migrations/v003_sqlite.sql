-- Version 3: reports findable from what the SIL knows, and the codes the mappings still miss.

-- What a person at the lab may search a report by, besides its id: the sender (MSH-3, MSH-4) and
-- the order numbers (placer ORC-2/OBR-2, filler ORC-3/OBR-3, group ORC-4). Identifiers of the
-- lab's systems, never patient data. Reports received before version 3 have no rows here: they
-- stay findable by report id, MSH-10 (reports.control_id) and input file name (inputs.source).
CREATE TABLE IF NOT EXISTS report_keys (
    report_id  TEXT NOT NULL REFERENCES reports(report_id),
    kind       TEXT NOT NULL,                  -- connector.store.lookup.KeyKind
    value      TEXT NOT NULL,
    PRIMARY KEY (report_id, kind, value)
);
CREATE INDEX IF NOT EXISTS report_keys_value ON report_keys(value, kind);
CREATE INDEX IF NOT EXISTS reports_control_id ON reports(control_id);
CREATE INDEX IF NOT EXISTS inputs_source ON inputs(source);

-- Local codes and units a report carried without a mapping (`connector mappings unmapped`):
-- one row per report and gap, so a report retried ten times still counts once. Lab catalogue
-- codes, labels and unit spellings only, never a value.
CREATE TABLE IF NOT EXISTS mapping_gaps (
    report_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,                  -- connector.store.lookup.GapKind
    code       TEXT NOT NULL,                  -- the local code (OBX-3.1)
    system     TEXT NOT NULL DEFAULT '',       -- its coding system (OBX-3.3)
    label      TEXT NOT NULL DEFAULT '',       -- the lab's label (OBX-3.2)
    unit       TEXT NOT NULL DEFAULT '',       -- the unit as sent (OBX-6)
    seen_at    TEXT NOT NULL,                  -- UTC ISO 8601
    PRIMARY KEY (report_id, kind, code, system, unit)
);
CREATE INDEX IF NOT EXISTS mapping_gaps_code ON mapping_gaps(kind, code, system, unit);
