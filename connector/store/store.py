"""The store's operations, one transaction per state transition.

Ids that identify a document or an e-mail (ClinicalDocument/id, setId, version,
Message-ID, ENVID) are created once, committed, and reused on every retry: a
duplicate delivery can only ever repeat the same identity.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from connector.model import DocumentIdentity, Recipient
from connector.states import RecipientState, ReportState
from connector.store.db import Database, utcnow

__all__ = ["InputRecord", "NewReport", "ReportRow", "Store"]

# Rows read back per claim: a small batch keeps memory flat whatever the backlog.
CLAIM_BATCH = 64


@dataclass(frozen=True, slots=True)
class InputRecord:
    input_id: int
    duplicate: bool
    ack: bytes | None = None
    same_bytes: bool = True  # False: an MLLP resend under the same MSH key with other content


@dataclass(frozen=True, slots=True)
class NewReport:
    report_id: str
    message_index: int
    patient_index: int
    control_id: str
    series_key: str


@dataclass(frozen=True, slots=True)
class ReportRow:
    report_id: str
    input_id: int
    message_index: int
    patient_index: int
    control_id: str
    state: ReportState
    reason: str
    attempts: int
    next_attempt_at: str
    message_id: str
    envid: str
    received_at: str
    updated_at: str
    sent_at: str


def _row(r: object) -> ReportRow:
    return ReportRow(
        report_id=r["report_id"],  # type: ignore[index]
        input_id=r["input_id"],  # type: ignore[index]
        message_index=r["message_index"],  # type: ignore[index]
        patient_index=r["patient_index"],  # type: ignore[index]
        control_id=r["control_id"],  # type: ignore[index]
        state=ReportState(r["state"]),  # type: ignore[index]
        reason=r["reason"],  # type: ignore[index]
        attempts=r["attempts"],  # type: ignore[index]
        next_attempt_at=r["next_attempt_at"],  # type: ignore[index]
        message_id=r["message_id"] or "",  # type: ignore[index]
        envid=r["envid"] or "",  # type: ignore[index]
        received_at=r["received_at"],  # type: ignore[index]
        updated_at=r["updated_at"],  # type: ignore[index]
        sent_at=r["sent_at"],  # type: ignore[index]
    )


class Store:
    def __init__(self, path: Path) -> None:
        self.db = Database(path)

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ intake

    def record_input(self, data: bytes, *, source: str, dedup_key: str | None = None) -> InputRecord:
        """Commit the raw input; the same bytes or the same MLLP key again is a duplicate."""
        digest = hashlib.sha256(data).hexdigest()
        with self.db.transaction() as c:
            row = c.execute(
                "SELECT id, ack, sha256 FROM inputs WHERE sha256 = ? OR (? IS NOT NULL AND dedup_key = ?)",
                (digest, dedup_key, dedup_key),
            ).fetchone()
            if row is not None:
                return InputRecord(row["id"], True, row["ack"], same_bytes=row["sha256"] == digest)
            cur = c.execute(
                "INSERT INTO inputs (source, received_at, sha256, data, dedup_key) VALUES (?, ?, ?, ?, ?)",
                (source, utcnow(), digest, data, dedup_key),
            )
            return InputRecord(int(cur.lastrowid or 0), False, None)

    def set_ack(self, input_id: int, ack: bytes) -> None:
        with self.db.transaction() as c:
            c.execute("UPDATE inputs SET ack = ? WHERE id = ?", (ack, input_id))

    def input_data(self, input_id: int) -> tuple[str, bytes]:
        row = self.db.query("SELECT source, data FROM inputs WHERE id = ?", (input_id,))[0]
        return row["source"], row["data"]

    def unsplit_inputs(self) -> list[int]:
        """Inputs committed but not yet split into reports (a crash in between): redone at start."""
        return [r["id"] for r in self.db.query("SELECT id FROM inputs WHERE split = 0 ORDER BY id")]

    def record_split(
        self, input_id: int, reports: Sequence[NewReport], errors: Sequence[tuple[int, str]]
    ) -> list[str]:
        """Record an input's reports (state PARSED) and unreadable messages; returns the new report ids."""
        now = utcnow()
        created: list[str] = []
        with self.db.transaction() as c:
            received_at = c.execute("SELECT received_at FROM inputs WHERE id = ?", (input_id,)).fetchone()[0]
            for rep in reports:
                cur = c.execute(
                    "INSERT OR IGNORE INTO reports (report_id, input_id, message_index, patient_index, control_id,"
                    " state, series_key, created_at, updated_at, received_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (rep.report_id, input_id, rep.message_index, rep.patient_index, rep.control_id,
                     ReportState.PARSED.value, rep.series_key, now, now, received_at),
                )
                if cur.rowcount:
                    created.append(rep.report_id)
                    self._event(c, rep.report_id, "report.parsed", f"input {input_id}")
            for index, reason in errors:
                c.execute(
                    "INSERT OR IGNORE INTO input_errors (input_id, message_index, reason, at) VALUES (?,?,?,?)",
                    (input_id, index, reason, now),
                )
            c.execute("UPDATE inputs SET split = 1 WHERE id = ?", (input_id,))
        return created

    # ------------------------------------------------------------------ reports

    def document_of(self, report_id: str) -> dict[str, object]:
        """The ids needed to replace or delete the document later (DMP, corrections)."""
        rows = self.db.query(
            "SELECT document_root, document_ext, set_root, set_ext, version, replaces, lifecycle, dmp_state "
            "FROM reports WHERE report_id = ?", (report_id,))
        return dict(rows[0]) if rows else {}

    def report(self, report_id: str) -> ReportRow | None:
        rows = self.db.query("SELECT * FROM reports WHERE report_id = ?", (report_id,))
        return _row(rows[0]) if rows else None

    def due(self, now: str, *, limit: int = CLAIM_BATCH) -> tuple[list[ReportRow], list[ReportRow]]:
        """(to build, to send): the reports the pipeline should move on now, each list oldest first.

        To send: interrupted sends first, then built e-mails, then retries whose time has come.
        To build: new reports, then retries of reports not built yet. Two lists, so the pipeline
        can build one batch while it sends the other. One indexed query per state: a single
        OR-query would sort the whole backlog each time.
        """
        waiting = ("SELECT * FROM reports WHERE state = ? AND next_attempt_at <= ? AND message_id IS {} NULL "
                   "ORDER BY next_attempt_at LIMIT ?")
        send = self._oldest((ReportState.SENDING, ReportState.BUILT), limit)
        send += [_row(r) for r in self.db.query(waiting.format("NOT"),
                                                (ReportState.WAITING.value, now, limit - len(send)))]
        build = self._oldest((ReportState.PARSED,), limit)
        build += [_row(r) for r in self.db.query(waiting.format(""),
                                                 (ReportState.WAITING.value, now, limit - len(build)))]
        return build, send

    def _oldest(self, states: tuple[ReportState, ...], limit: int) -> list[ReportRow]:
        rows: list[ReportRow] = []
        for state in states:
            if len(rows) >= limit:
                break
            rows += [_row(r) for r in self.db.query(
                "SELECT * FROM reports WHERE state = ? ORDER BY received_at LIMIT ?", (state.value, limit - len(rows)))]
        return rows

    def email(self, report_id: str) -> bytes | None:
        rows = self.db.query("SELECT email FROM reports WHERE report_id = ?", (report_id,))
        return rows[0]["email"] if rows else None

    def document_identity(
        self, report_id: str, *, oid_root: str, effective_time: str, corrects: bool
    ) -> DocumentIdentity:
        """The report's document ids, minted once and committed.

        A report of an already-documented series (same order) that ``corrects`` it becomes
        that series' next version and replaces (RPLC) the last one; otherwise it starts a series.
        """
        with self.db.transaction() as c:
            r = c.execute("SELECT * FROM reports WHERE report_id = ?", (report_id,)).fetchone()
            if not r["document_root"]:
                self._mint(c, r, oid_root=oid_root, effective_time=effective_time, corrects=corrects)
                r = c.execute("SELECT * FROM reports WHERE report_id = ?", (report_id,)).fetchone()
        replaces = tuple(r["replaces"].split("^", 1)) if r["replaces"] else None
        return DocumentIdentity(
            document_id_root=r["document_root"],
            document_id_extension=r["document_ext"],
            set_id_root=r["set_root"],
            set_id_extension=r["set_ext"],
            version=r["version"],
            replaces=replaces,  # type: ignore[arg-type]
            effective_time=r["effective_time"],
        )

    def _mint(self, c: sqlite3.Connection, r: sqlite3.Row, *, oid_root: str, effective_time: str,
              corrects: bool) -> None:
        report_id, key = r["report_id"], r["series_key"]
        doc_root, doc_ext = f"{oid_root}.1", report_id
        series = c.execute("SELECT * FROM series WHERE series_key = ?", (key,)).fetchone() if key else None
        if series is not None and corrects:
            version, set_root, set_ext = series["last_version"] + 1, series["set_root"], series["set_ext"]
            replaces = f"{series['last_root']}^{series['last_ext']}"
        else:
            version, set_root, set_ext, replaces = 1, f"{oid_root}.3", report_id, ""
        if key:
            c.execute("INSERT OR REPLACE INTO series VALUES (?, ?, ?, ?, ?, ?)",
                      (key, set_root, set_ext, version, doc_root, doc_ext))
        c.execute(
            "UPDATE reports SET document_root = ?, document_ext = ?, version = ?, set_root = ?, set_ext = ?,"
            " replaces = ?, effective_time = ? WHERE report_id = ?",
            (doc_root, doc_ext, version, set_root, set_ext, replaces, effective_time, report_id),
        )
        self._event(c, report_id, "document.identity",
                    f"version {version}" + (" replaces an earlier version" if replaces else ""))

    def mark_built(
        self, report_id: str, *, email: bytes, message_id: str, envid: str, recipients: Sequence[Recipient],
        ids: DocumentIdentity | None = None, lifecycle: str = "F", dmp_state: str = "",
    ) -> None:
        """Commit the built e-mail and its ids; ``ids`` records a document the SIL identified (shape B)."""
        now = utcnow()
        with self.db.transaction() as c:
            c.execute(
                "UPDATE reports SET state = ?, reason = '', email = ?, message_id = ?, envid = ?, updated_at = ?, "
                "lifecycle = ?, dmp_state = ? WHERE report_id = ?",
                (ReportState.BUILT.value, email, message_id, envid, now, lifecycle, dmp_state, report_id),
            )
            if ids is not None:
                replaces = "^".join(ids.replaces) if ids.replaces else ""
                c.execute(
                    "UPDATE reports SET document_root = ?, document_ext = ?, version = ?, set_root = ?, set_ext = ?,"
                    " replaces = ?, effective_time = ? WHERE report_id = ? AND document_root IS NULL",
                    (ids.document_id_root, ids.document_id_extension, ids.version, ids.set_id_root,
                     ids.set_id_extension, replaces, ids.effective_time, report_id),
                )
            for rcpt in recipients:
                c.execute(
                    "INSERT OR IGNORE INTO recipients (report_id, address, kind, idnps, state, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (report_id, rcpt.address, rcpt.kind, rcpt.idnps, RecipientState.PENDING.value, now),
                )
            self._event(c, report_id, "report.built", f"{len(recipients)} recipient(s)")

    def mark_sending(self, report_id: str) -> None:
        with self.db.transaction() as c:
            c.execute(
                "UPDATE reports SET state = ?, attempts = attempts + 1, updated_at = ? WHERE report_id = ?",
                (ReportState.SENDING.value, utcnow(), report_id),
            )
            self._event(c, report_id, "report.sending")

    def mark_sent(self, report_id: str, *, accepted: Iterable[str], refused: dict[str, tuple[int, str]],
                  reply: str) -> ReportState:
        """Commit the SMTP outcome right after 250, before anything else (recovery never resends)."""
        now = utcnow()
        accepted = list(accepted)
        with self.db.transaction() as c:
            for address in accepted:
                c.execute(
                    "UPDATE recipients SET state = ?, code = '250', detail = ?, updated_at = ? "
                    "WHERE report_id = ? AND address = ? AND state IN (?, ?)",
                    (RecipientState.ACCEPTED.value, reply[:200], now, report_id, address,
                     RecipientState.PENDING.value, RecipientState.REFUSED.value),
                )
            for address, (code, text) in refused.items():
                c.execute(
                    "UPDATE recipients SET state = ?, code = ?, detail = ?, updated_at = ? "
                    "WHERE report_id = ? AND address = ?",
                    (RecipientState.REFUSED.value, str(code), text[:200], now, report_id, address),
                )
            state = ReportState.SENT if accepted else ReportState.QUARANTINED
            reason = "" if accepted else "every recipient was refused by the operator: check the addresses"
            c.execute(
                "UPDATE reports SET state = ?, reason = ?, sent_at = ?, updated_at = ? WHERE report_id = ?",
                (state.value, reason, now, now, report_id),
            )
            self._event(c, report_id, f"report.{state.value}", f"{len(accepted)} accepted, {len(refused)} refused")
        return state

    def mark_waiting(self, report_id: str, *, reason: str, next_attempt_at: str) -> None:
        with self.db.transaction() as c:
            c.execute(
                "UPDATE reports SET state = ?, reason = ?, next_attempt_at = ?, updated_at = ? WHERE report_id = ?",
                (ReportState.WAITING.value, reason, next_attempt_at, utcnow(), report_id),
            )
            self._event(c, report_id, "report.waiting", reason)

    def quarantine(self, report_id: str, *, reason: str) -> None:
        with self.db.transaction() as c:
            c.execute(
                "UPDATE reports SET state = ?, reason = ?, updated_at = ? WHERE report_id = ?",
                (ReportState.QUARANTINED.value, reason, utcnow(), report_id),
            )
            self._event(c, report_id, "report.quarantined", reason)

    def retry(self, report_id: str) -> bool:
        """Operator retry: a waiting or quarantined report goes back to the start of its path."""
        with self.db.transaction() as c:
            r = c.execute("SELECT state, email FROM reports WHERE report_id = ?", (report_id,)).fetchone()
            if r is None or r["state"] not in (ReportState.WAITING.value, ReportState.QUARANTINED.value):
                return False
            target = ReportState.BUILT if r["email"] else ReportState.PARSED
            # The operator asks for another try: refused or failed recipients are tried again too.
            c.execute(
                "UPDATE recipients SET state = ?, updated_at = ? WHERE report_id = ? AND state IN (?, ?, ?)",
                (RecipientState.PENDING.value, utcnow(), report_id, RecipientState.REFUSED.value,
                 RecipientState.FAILED.value, RecipientState.ERROR.value),
            )
            c.execute(
                "UPDATE reports SET state = ?, reason = '', next_attempt_at = '', updated_at = ? WHERE report_id = ?",
                (target.value, utcnow(), report_id),
            )
            self._event(c, report_id, "report.retry", f"back to {target.value}")
            return True

    # ------------------------------------------------------------------ recipients and acks

    def recipients(self, report_id: str) -> list[dict[str, str]]:
        return [dict(r) for r in self.db.query(
            "SELECT address, kind, idnps, state, code, detail, updated_at FROM recipients WHERE report_id = ? "
            "ORDER BY address", (report_id,))]

    def find_report(self, *, envid: str = "", message_id: str = "") -> str | None:
        if envid:
            rows = self.db.query("SELECT report_id FROM reports WHERE envid = ?", (envid,))
            if rows:
                return str(rows[0]["report_id"])
        if message_id:
            rows = self.db.query("SELECT report_id FROM reports WHERE message_id = ?", (message_id,))
            if rows:
                return str(rows[0]["report_id"])
        return None

    def apply_ack(self, report_id: str, *, address: str, state: RecipientState, code: str, detail: str,
                  zam: tuple[str, str, bytes] | None = None) -> ReportState:
        """Record one recipient's ack (and the ZAM it gives the SIL) in one transaction; derive the report state."""
        now = utcnow()
        with self.db.transaction() as c:
            row = c.execute("SELECT state FROM recipients WHERE report_id = ? AND lower(address) = lower(?)",
                            (report_id, address)).fetchone()
            # Acks arrive in any order (a relay's late DSN after the MDN): a recipient only moves forward.
            if row is not None and _RANK[state.value] >= _RANK[row["state"]]:
                c.execute(
                    "UPDATE recipients SET state = ?, code = ?, detail = ?, updated_at = ? "
                    "WHERE report_id = ? AND lower(address) = lower(?)",
                    (state.value, code, detail[:200], now, report_id, address),
                )
            kind = c.execute("SELECT kind FROM recipients WHERE report_id = ? AND lower(address) = lower(?)",
                             (report_id, address)).fetchone()
            # The kind, not the address: a patient's mailbox is their INS.
            self._event(c, report_id, f"recipient.{state.value}", f"{kind[0] if kind else '?'} {code}".strip())
            if zam is not None:
                kind, name, data = zam
                c.execute(
                    "INSERT OR IGNORE INTO outbox (report_id, kind, name, data, created_at) VALUES (?, ?, ?, ?, ?)",
                    (report_id, kind, name, data, now),
                )
            states = {r[0] for r in c.execute("SELECT state FROM recipients WHERE report_id = ?", (report_id,))}
            current = ReportState(c.execute("SELECT state FROM reports WHERE report_id = ?",
                                            (report_id,)).fetchone()[0])
            new = _derive(current, states)
            reason = ""
            if new is ReportState.QUARANTINED:
                reason = "no recipient could receive the report (bounced, refused or rejected): check the addresses"
            if new is not current:
                c.execute("UPDATE reports SET state = ?, reason = ?, updated_at = ? WHERE report_id = ?",
                          (new.value, reason, now, report_id))
                self._event(c, report_id, f"report.{new.value}", reason)
            return new

    # ------------------------------------------------------------------ IMAP cursor and SIL outbox

    def imap_cursor(self, mailbox: str) -> tuple[int, int] | None:
        rows = self.db.query("SELECT uidvalidity, last_uid FROM imap_cursor WHERE mailbox = ?", (mailbox,))
        return (rows[0][0], rows[0][1]) if rows else None

    def set_imap_cursor(self, mailbox: str, cursor: tuple[int, int]) -> None:
        with self.db.transaction() as c:
            c.execute("INSERT OR REPLACE INTO imap_cursor VALUES (?, ?, ?)", (mailbox, *cursor))

    def add_outbox(self, report_id: str, *, kind: str, name: str, data: bytes) -> None:
        """Queue a ZAM for the SIL; ``name`` is its idempotence key (a second add is ignored)."""
        with self.db.transaction() as c:
            c.execute("INSERT OR IGNORE INTO outbox (report_id, kind, name, data, created_at) VALUES (?, ?, ?, ?, ?)",
                      (report_id, kind, name, data, utcnow()))

    def pending_outbox(self, limit: int = CLAIM_BATCH) -> list[tuple[int, str, bytes]]:
        return [(r["id"], r["name"], r["data"]) for r in self.db.query(
            "SELECT id, name, data FROM outbox WHERE sent = 0 ORDER BY id LIMIT ?", (limit,))]

    def outbox_done(self, outbox_id: int, *, refused: bool = False) -> None:
        """Handed over (sent = 1), or refused by the SIL for good (sent = -1: kept for the operator)."""
        with self.db.transaction() as c:
            c.execute("UPDATE outbox SET sent = ?, attempts = attempts + 1 WHERE id = ?",
                      (-1 if refused else 1, outbox_id))

    # ------------------------------------------------------------------ operator views

    def counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.query("SELECT state, count(*) FROM reports GROUP BY state")}

    def oldest_waiting(self) -> ReportRow | None:
        rows = self.db.query(
            "SELECT * FROM reports WHERE state NOT IN (?, ?, ?, ?) ORDER BY received_at LIMIT 1",
            (ReportState.SENT.value, ReportState.DELIVERED.value, ReportState.READ.value,
             ReportState.QUARANTINED.value),
        )
        return _row(rows[0]) if rows else None

    def reports_in(self, *states: ReportState, limit: int = 1000) -> list[ReportRow]:
        marks = ",".join("?" * len(states))
        return [_row(r) for r in self.db.query(
            f"SELECT * FROM reports WHERE state IN ({marks}) ORDER BY received_at LIMIT ?",
            (*[s.value for s in states], limit))]

    def all_reports(self, limit: int = 10_000) -> list[ReportRow]:
        return [_row(r) for r in self.db.query("SELECT * FROM reports ORDER BY received_at LIMIT ?", (limit,))]

    def events(self, report_id: str) -> list[tuple[str, str, str]]:
        return [(r["at"], r["event"], r["detail"]) for r in self.db.query(
            "SELECT at, event, detail FROM events WHERE report_id = ? ORDER BY id", (report_id,))]

    def input_errors(self, *, include_released: bool = False) -> list[dict[str, object]]:
        sql = ("SELECT e.input_id, e.message_index, e.reason, e.at, i.source FROM input_errors e "
               "JOIN inputs i ON i.id = e.input_id")
        if not include_released:
            sql += " WHERE e.released = 0"
        return [dict(r) for r in self.db.query(sql + " ORDER BY e.at")]

    def release_input_error(self, input_id: int, message_index: int) -> None:
        with self.db.transaction() as c:
            c.execute("UPDATE input_errors SET released = 1 WHERE input_id = ? AND message_index = ?",
                      (input_id, message_index))

    def purge_released(self) -> list[str]:
        """Forget released quarantine items: their rows, and the input bytes no report needs.

        Returns the sources purged (file names), so their files can go from the quarantine folder.
        """
        with self.db.transaction() as c:
            rows = c.execute("SELECT DISTINCT e.input_id, i.source FROM input_errors e JOIN inputs i "
                             "ON i.id = e.input_id WHERE e.released = 1").fetchall()
            for input_id, _ in rows:
                c.execute("DELETE FROM input_errors WHERE input_id = ? AND released = 1", (input_id,))
                # The sha256 stays: the same bytes arriving again are still recognised.
                c.execute("UPDATE inputs SET data = x'' WHERE id = ? AND NOT EXISTS "
                          "(SELECT 1 FROM reports WHERE input_id = ?) AND NOT EXISTS "
                          "(SELECT 1 FROM input_errors WHERE input_id = ?)", (input_id, input_id, input_id))
        return [source for _, source in rows]

    def last_errors(self, limit: int = 10) -> list[tuple[str, str, str, str]]:
        return [(r["at"], r["report_id"], r["event"], r["detail"]) for r in self.db.query(
            "SELECT at, report_id, event, detail FROM events WHERE event IN "
            "('report.quarantined', 'report.waiting', 'recipient.failed', 'recipient.error', 'recipient.refused') "
            "ORDER BY id DESC LIMIT ?", (limit,))]

    @staticmethod
    def _event(c: object, report_id: str, event: str, detail: str = "") -> None:
        c.execute(  # type: ignore[attr-defined]
            "INSERT INTO events (report_id, at, event, detail) VALUES (?, ?, ?, ?)",
            (report_id, utcnow(), event, detail),
        )


# Forward order of a recipient's states; failures are as final as a read receipt.
_RANK = {
    RecipientState.PENDING.value: 0, RecipientState.ACCEPTED.value: 1, RecipientState.DELAYED.value: 2,
    RecipientState.DELIVERED.value: 3, RecipientState.DISPLAYED.value: 4, RecipientState.PROCESSED.value: 5,
    RecipientState.ERROR.value: 5, RecipientState.FAILED.value: 5, RecipientState.REFUSED.value: 5,
}
_DELIVERED = {RecipientState.DELIVERED.value}
_READ = {RecipientState.DISPLAYED.value, RecipientState.PROCESSED.value}
_BAD = {RecipientState.FAILED.value, RecipientState.ERROR.value, RecipientState.REFUSED.value}


def _derive(current: ReportState, states: set[str]) -> ReportState:
    """Report state from its recipients' states: it moves forward only.

    Failed or refused recipients do not hold the others back: the report is DELIVERED
    (or READ) when every recipient that can be reached is, and the failures stay visible
    on their recipient rows and in the events.
    """
    if current in (ReportState.QUARANTINED,) or not states:
        return current
    live = states - _BAD
    if not live:
        return ReportState.QUARANTINED
    if live <= _READ:
        return ReportState.READ
    if live <= (_READ | _DELIVERED) and current in (ReportState.SENT, ReportState.SENDING):
        return ReportState.DELIVERED
    return current
