"""A version-1 store, written as the first release wrote it: its schema.sql and its own SQL statements.

``tests/data/store/schema-v1.sql`` is that release's ``connector/store/schema.sql``, byte for byte;
the statements below are the ones its ``Store`` ran (``INSERT OR IGNORE``, ``INSERT OR REPLACE``,
``PRAGMA user_version = 1`` at every start), so a migration test starts from what a lab has on disk.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_V1 = Path(__file__).resolve().parents[1] / "data" / "store" / "schema-v1.sql"
V1_TABLES = ("inputs", "input_errors", "reports", "series", "recipients", "events", "imap_cursor", "outbox")
STATES = ("parsed", "built", "sending", "sent", "delivered", "read", "waiting", "quarantined")
_AT = "2026-01-0{day}T08:00:00.{ms:03d}+00:00"


@dataclass(frozen=True)
class V1Report:
    state: str = "sent"
    recipients: int = 1  # 0-2
    series: int = 0  # reports of one series share its setId
    zam: bool = False  # a ZAM owed to the SIL
    mllp: bool = False  # came over MLLP: a dedup key and a stored ACK
    unreadable: bool = False  # the input also had a message that could not be read


def write_v1_store(path: Path, reports: Sequence[V1Report]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(SCHEMA_V1.read_text(encoding="utf-8"))
        conn.execute("PRAGMA user_version = 1")
        conn.execute("BEGIN IMMEDIATE")  # the first release committed each step; one commit writes the same rows
        for i, rep in enumerate(reports):
            _write_report(conn, i, rep)
        conn.execute("INSERT OR REPLACE INTO imap_cursor VALUES (?, ?, ?)", ("INBOX", 4_000_000_001, 57))
        conn.execute("COMMIT")
    finally:
        conn.close()
    path.chmod(0o600)


def _write_report(c: sqlite3.Connection, i: int, rep: V1Report) -> None:
    at = _AT.format(day=1 + i % 9, ms=i % 1000)
    data = f"MSH|^~\\&|SIL|LABO|CONNECTOR|LABO|20260101080000||ORU^R01|MSG{i:05d}|P|2.5\r".encode()
    key = f"SIL|LABO|MSG{i:05d}" if rep.mllp else None
    input_id = c.execute(
        "INSERT INTO inputs (source, received_at, sha256, data, dedup_key) VALUES (?, ?, ?, ?, ?)",
        ("mllp:127.0.0.1" if rep.mllp else f"f{i}.hl7", at, hashlib.sha256(data).hexdigest(), data, key),
    ).lastrowid
    if rep.mllp:
        c.execute("UPDATE inputs SET ack = ? WHERE id = ?", (b"MSH|^~\\&|CONNECTOR|LABO\rMSA|AA|MSG", input_id))
    report_id = f"SIL-LABO-MSG{i:05d}-0"
    c.execute("INSERT OR IGNORE INTO reports (report_id, input_id, message_index, patient_index, control_id,"
              " state, series_key, created_at, updated_at, received_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
              (report_id, input_id, 0, 0, f"MSG{i:05d}", "parsed", f"order-{rep.series}", at, at, at))
    c.execute("INSERT INTO events (report_id, at, event, detail) VALUES (?, ?, ?, ?)",
              (report_id, at, "report.parsed", f"input {input_id}"))
    if rep.unreadable:
        c.execute("INSERT OR IGNORE INTO input_errors (input_id, message_index, reason, at) VALUES (?,?,?,?)",
                  (input_id, 1, f"f{i}.hl7 message 1 PID PID-3: expected an identifier", at))
    c.execute("UPDATE inputs SET split = 1 WHERE id = ?", (input_id,))
    if rep.state in ("parsed", "waiting") and rep.recipients == 0:
        c.execute("UPDATE reports SET state = ?, reason = ? WHERE report_id = ?",
                  (rep.state, "no MSSanté address yet" if rep.state == "waiting" else "", report_id))
        return
    series = c.execute("SELECT * FROM series WHERE series_key = ?", (f"order-{rep.series}",)).fetchone()
    version = series[3] + 1 if series else 1
    set_ext = series[2] if series else report_id
    c.execute("INSERT OR REPLACE INTO series VALUES (?, ?, ?, ?, ?, ?)",
              (f"order-{rep.series}", "1.2.250.1.999.1.3", set_ext, version, "1.2.250.1.999.1.1", report_id))
    message_id = f"<{hashlib.sha256(report_id.encode()).hexdigest()[:32]}@labo.test>"
    c.execute("UPDATE reports SET document_root = ?, document_ext = ?, version = ?, set_root = ?, set_ext = ?,"
              " replaces = ?, effective_time = ?, state = ?, email = ?, message_id = ?, envid = ?, attempts = ?,"
              " sent_at = ?, next_attempt_at = ? WHERE report_id = ?",
              ("1.2.250.1.999.1.1", report_id, version, "1.2.250.1.999.1.3", set_ext,
               f"1.2.250.1.999.1.1^{series[5]}" if series else "", "20260101080000+0100", rep.state,
               b"From: labo@labo.test\r\n\r\n" + bytes(range(256)), message_id, message_id[1:33],
               1 if rep.state != "built" else 0, at if rep.state not in ("built", "waiting") else "",
               "2026-01-02T00:00:00.000+00:00" if rep.state == "waiting" else "", report_id))
    for n in range(rep.recipients):
        c.execute("INSERT OR IGNORE INTO recipients (report_id, address, kind, idnps, state, updated_at) "
                  "VALUES (?, ?, ?, ?, ?, ?)",
                  (report_id, f"dr.{n}@hopital.test", "prescriber" if n == 0 else "copy", f"81000000{n}",
                   {"sent": "accepted", "delivered": "delivered", "read": "processed"}.get(rep.state, "pending"), at))
    c.execute("INSERT INTO events (report_id, at, event, detail) VALUES (?, ?, ?, ?)",
              (report_id, at, f"report.{rep.state}", ""))
    if rep.zam:
        c.execute("INSERT OR IGNORE INTO outbox (report_id, kind, name, data, created_at) VALUES (?, ?, ?, ?, ?)",
                  (report_id, "Z02", f"{report_id}-Z02", b"MSH|^~\\&|CONNECTOR|LABO\rZAM", at))


def v1_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every v1 table's v1 columns, in key order: what a migration must leave exactly as it was."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {table: conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(columns)}")
                .fetchall() for table, columns in v1_columns().items()}
    finally:
        conn.close()


def v1_columns() -> dict[str, list[str]]:
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(SCHEMA_V1.read_text(encoding="utf-8"))
        return {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in V1_TABLES}
    finally:
        conn.close()
