"""The store's operations, one transaction per state transition.

Ids that identify a document or an e-mail (ClinicalDocument/id, setId, version,
Message-ID, ENVID) are created once, committed, and reused on every retry: a
duplicate delivery can only ever repeat the same identity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from connector.model import DocumentIdentity, Recipient
from connector.states import DmpState, RecipientState, ReportState
from connector.store.acks import AckStore
from connector.store.backend import Channel, Engine, Tx
from connector.store.claims import ClaimStore
from connector.store.db import utcnow
from connector.store.dmp import DmpStore, Zam
from connector.store.engines import StoreSettings, default_instance, open_backend
from connector.store.lookup import LookupStore
from connector.store.migrations import migrate, require_current
from connector.store.retention import RetentionStore
from connector.store.rows import CLAIM_BATCH, InputRecord, NewReport, ReportRow, identity_of, row_of
from connector.store.views import OperatorViews

__all__ = ["InputRecord", "NewReport", "ReportRow", "Store"]


class Store(AckStore, ClaimStore, DmpStore, LookupStore, OperatorViews, RetentionStore):
    """The store on either engine: ``Store(path)`` (SQLite), ``Store("postgresql://…")`` or ``Store(settings)``.

    SQLite is migrated here (after a backup copy beside the file); a PostgreSQL store must already be at
    this code's schema (``connector store migrate``). ``instance`` names this process in claims.
    """

    def __init__(self, location: Path | str | StoreSettings, *, instance: str = "") -> None:
        self.db = open_backend(location)
        self.instance = instance or default_instance()
        try:
            if self.db.engine is Engine.SQLITE:
                migrate(self.db, backup_dir=Path(self.db.where).parent)
            else:
                require_current(self.db)
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ intake

    def record_input(self, data: bytes, *, source: str, dedup_key: str | None = None) -> InputRecord:
        """Commit the raw input; the same bytes or the same MLLP key again is a duplicate."""
        digest = hashlib.sha256(data).hexdigest()
        # ``dedup_key = NULL`` matches nothing: a file is recognised by its bytes only.
        known = "SELECT id, ack, sha256, split FROM inputs WHERE sha256 = ? OR dedup_key = ?"
        with self.db.transaction() as c:
            row = c.execute(known, (digest, dedup_key)).fetchone()
            if row is None:
                inserted = c.execute(
                    "INSERT INTO inputs (source, received_at, sha256, data, dedup_key) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING RETURNING id",
                    (source, utcnow(), digest, data, dedup_key),
                ).fetchall()
                if inserted:
                    return InputRecord(int(inserted[0][0]), False, None)
                # Another instance committed the same bytes or MLLP key after our read (the unique
                # constraints made us wait for it): the input is theirs, this one is the duplicate.
                row = c.execute(known, (digest, dedup_key)).fetchone()
            return InputRecord(row["id"], True, row["ack"], same_bytes=row["sha256"] == digest,
                               split=bool(row["split"]))

    def set_ack(self, input_id: int, ack: bytes) -> bytes | None:
        """Keep the ACK for an input, replayed to its resends; returns the one stored, to send.

        The first one stored stays: two instances answering the same message at once (a SIL that gave
        up on a slow one and resent to the other) both send that one, and a later resend gets it too."""
        with self.db.transaction() as c:
            c.execute("UPDATE inputs SET ack = ? WHERE id = ? AND ack IS NULL", (ack, input_id))
            row = c.execute("SELECT ack FROM inputs WHERE id = ?", (input_id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def input_data(self, input_id: int) -> tuple[str, bytes]:
        row = self.db.query("SELECT source, data FROM inputs WHERE id = ?", (input_id,))[0]
        return row["source"], row["data"]

    def unsplit_inputs(self, *, received_before: str = "") -> list[int]:
        """Inputs committed but not yet split into reports (a crash in between): redone at start.

        ``received_before`` (UTC ISO 8601): only inputs older than that, so a periodic recovery leaves
        alone the inputs an intake (of this or another instance) is splitting right now."""
        if received_before:
            return [r["id"] for r in self.db.query(
                "SELECT id FROM inputs WHERE split = 0 AND received_at < ? ORDER BY id", (received_before,))]
        return [r["id"] for r in self.db.query("SELECT id FROM inputs WHERE split = 0 ORDER BY id")]

    def known_reports(self, report_ids: Sequence[str]) -> list[tuple[str, int]]:
        """(report id, input id) of the given ids already in the store."""
        if not report_ids:
            return []
        marks = ",".join("?" * len(report_ids))
        return [(r[0], r[1]) for r in self.db.query(
            f"SELECT report_id, input_id FROM reports WHERE report_id IN ({marks})", tuple(report_ids))]

    def record_split(
        self, input_id: int, reports: Sequence[NewReport], errors: Sequence[tuple[int, str]]
    ) -> list[str]:
        """Record an input's reports (state PARSED) and unreadable messages; returns the new report ids."""
        now = utcnow()
        created: list[str] = []
        with self.db.transaction() as c:
            # Locked: two instances recovering the same unsplit input split it one after the other.
            received_at = c.execute(f"SELECT received_at FROM inputs WHERE id = ?{self.db.for_update}",
                                    (input_id,)).fetchone()[0]
            for rep in reports:
                cur = c.execute(
                    "INSERT INTO reports (report_id, input_id, message_index, patient_index, control_id,"
                    " state, series_key, created_at, updated_at, received_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT DO NOTHING",
                    (rep.report_id, input_id, rep.message_index, rep.patient_index, rep.control_id,
                     ReportState.PARSED.value, rep.series_key, now, now, received_at),
                )
                if cur.rowcount:
                    created.append(rep.report_id)
                    self.record_keys(c, rep.report_id, rep.keys)
                    self._event(c, rep.report_id, "report.parsed", f"input {input_id}")
            for index, reason in errors:
                c.execute(
                    "INSERT INTO input_errors (input_id, message_index, reason, at) VALUES (?,?,?,?) "
                    "ON CONFLICT DO NOTHING",
                    (input_id, index, reason, now),
                )
            c.execute("UPDATE inputs SET split = 1 WHERE id = ?", (input_id,))
            if created:
                self.db.notify(c, Channel.WORK)
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
        return row_of(rows[0]) if rows else None

    def due(self, now: str, *, limit: int = CLAIM_BATCH) -> tuple[list[ReportRow], list[ReportRow]]:
        """(to build, to send): the reports the pipeline should move on now, each list oldest first.

        To send: interrupted sends first, then built e-mails, then retries whose time has come.
        To build: new reports, then retries of reports not built yet. Two lists, so the pipeline
        can build one batch while it sends the other. One indexed query per state: a single
        OR-query would sort the whole backlog each time.
        """
        waiting = ("SELECT * FROM reports WHERE state = ? AND next_attempt_at <= ? AND email IS {} NULL "
                   "ORDER BY next_attempt_at LIMIT ?")
        send = self._oldest((ReportState.SENDING, ReportState.BUILT), limit)
        send += [row_of(r) for r in self.db.query(waiting.format("NOT"),
                                                (ReportState.WAITING.value, now, limit - len(send)))]
        build = self._oldest((ReportState.PARSED,), limit)
        build += [row_of(r) for r in self.db.query(waiting.format(""),
                                                 (ReportState.WAITING.value, now, limit - len(build)))]
        return build, send

    def _oldest(self, states: tuple[ReportState, ...], limit: int) -> list[ReportRow]:
        rows: list[ReportRow] = []
        for state in states:
            if len(rows) >= limit:
                break
            rows += [row_of(r) for r in self.db.query(
                "SELECT * FROM reports WHERE state = ? ORDER BY received_at LIMIT ?", (state.value, limit - len(rows)))]
        return rows

    def email(self, report_id: str) -> bytes | None:
        rows = self.db.query("SELECT email FROM reports WHERE report_id = ?", (report_id,))
        return rows[0]["email"] if rows else None

    def document_identity(
        self, report_id: str, *, oid_root: str, effective_time: str, corrects: bool,
        root_only: Callable[[str, str], str] | None = None,
    ) -> DocumentIdentity:
        """The report's document ids, minted once and committed.

        A report of an already-documented series (same order) that ``corrects`` it becomes
        that series' next version and replaces (RPLC) the last one; otherwise it starts a series.
        ``root_only`` (a DMP-bound report: ``connector.dmp.plain_oid``) mints the document id as one
        root-only OID, the form the DMP takes; the same document goes to the doctors.
        """
        with self.db.transaction() as c:
            # Locked: an id is minted once even when two instances build the same report.
            r = c.execute(f"SELECT * FROM reports WHERE report_id = ?{self.db.for_update}", (report_id,)).fetchone()
            if not r["document_root"]:
                self._mint(c, r, oid_root=oid_root, effective_time=effective_time, corrects=corrects,
                           root_only=root_only)
                r = c.execute("SELECT * FROM reports WHERE report_id = ?", (report_id,)).fetchone()
        return identity_of(r)

    def _mint(self, c: Tx, r: Any, *, oid_root: str, effective_time: str, corrects: bool,
              root_only: Callable[[str, str], str] | None = None) -> None:
        report_id, key = r["report_id"], r["series_key"]
        doc_root, doc_ext = f"{oid_root}.1", report_id
        if root_only is not None:
            doc_root, doc_ext = root_only(doc_root, doc_ext), ""
        if key:  # two corrections of one order minted at once must not both become the same next version
            self.db.lock_key(c, "series", key)
        series = c.execute("SELECT * FROM series WHERE series_key = ?", (key,)).fetchone() if key else None
        if series is not None and corrects:
            version, set_root, set_ext = series["last_version"] + 1, series["set_root"], series["set_ext"]
            replaces = f"{series['last_root']}^{series['last_ext']}"
        else:
            version, set_root, set_ext, replaces = 1, f"{oid_root}.3", report_id, ""
        if key:
            c.execute("INSERT INTO series (series_key, set_root, set_ext, last_version, last_root, last_ext) "
                      "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (series_key) DO UPDATE SET set_root = excluded.set_root,"
                      " set_ext = excluded.set_ext, last_version = excluded.last_version,"
                      " last_root = excluded.last_root, last_ext = excluded.last_ext",
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
        ids: DocumentIdentity | None = None, lifecycle: str = "F", dmp_state: str = "", dsn: bool = True,
        zam: Zam | None = None,
    ) -> None:
        """Commit the built e-mail and its ids; ``ids`` records a document the SIL identified (shape B).

        A report addressed to the DMP gets its feed queued in the same commit; ``zam`` is a ZAM the
        build owes the SIL (a ZAM^Z01 N when the DMP cannot take the identity)."""
        now = utcnow()
        with self.db.transaction() as c:
            c.execute(
                # Minted once: a rebuild (after `connector retry`) keeps the Message-ID and ENVID acks match on.
                "UPDATE reports SET state = ?, reason = '', email = ?, message_id = COALESCE(message_id, ?), "
                "envid = COALESCE(envid, ?), updated_at = ?, "
                "lifecycle = ?, dmp_state = ?, dsn = ? WHERE report_id = ?",
                (ReportState.BUILT.value, email, message_id, envid, now, lifecycle, dmp_state, int(dsn), report_id),
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
                    "INSERT INTO recipients (report_id, address, kind, idnps, state, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (report_id, rcpt.address, rcpt.kind, rcpt.idnps, RecipientState.PENDING.value, now),
                )
            self._event(c, report_id, "report.built", f"{len(recipients)} recipient(s)")
            self._queue_dmp(c, report_id, DmpState(dmp_state))
            if zam is not None:
                self._queue_zam(c, report_id, zam)

    def mark_sending(self, report_id: str) -> None:
        with self.db.transaction() as c:
            # Only from a step that sends: an ack may have moved the report on since it was claimed.
            c.execute(
                "UPDATE reports SET state = ?, attempts = attempts + 1, updated_at = ? "
                "WHERE report_id = ? AND state IN (?, ?, ?)",
                (ReportState.SENDING.value, utcnow(), report_id, ReportState.BUILT.value,
                 ReportState.SENDING.value, ReportState.WAITING.value),
            )
            self._event(c, report_id, "report.sending")

    def mark_sent(self, report_id: str, *, accepted: Iterable[str], refused: dict[str, tuple[int, str]],
                  reply: str, temporary: dict[str, tuple[int, str]] | None = None,
                  retry: tuple[str, str] | None = None) -> ReportState:
        """Commit the SMTP outcome right after 250, before anything else (recovery never resends).

        ``refused``: permanent refusals. ``temporary``: recipients refused for now (4xx): they stay
        pending and the report waits until ``retry`` = (reason, next_attempt_at), in this same
        commit, so a crash cannot leave them forgotten behind a SENT report.
        """
        now = utcnow()
        accepted = list(accepted)
        temporary = temporary or {}
        with self.db.transaction() as c:
            self._lock_report(c, report_id)  # an ack applied meanwhile by another instance waits, or is seen
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
                    "WHERE report_id = ? AND address = ? AND state = ?",
                    (RecipientState.REFUSED.value, str(code), text[:200], now, report_id, address,
                     RecipientState.PENDING.value),
                )
            for address, (code, text) in temporary.items():
                c.execute(
                    "UPDATE recipients SET code = ?, detail = ?, updated_at = ? WHERE report_id = ? AND address = ?",
                    (str(code), text[:200], now, report_id, address),
                )
            c.execute("UPDATE reports SET sent_at = ?, updated_at = ? WHERE report_id = ?", (now, now, report_id))
            self._event(c, report_id, "report.smtp_result",
                        f"{len(accepted)} accepted, {len(refused)} refused, {len(temporary)} deferred")
            if temporary and retry is not None:
                reason, when = retry
                c.execute(
                    "UPDATE reports SET state = ?, reason = ?, next_attempt_at = ? WHERE report_id = ? AND state IN "
                    "(?, ?)", (ReportState.WAITING.value, reason, when, report_id, ReportState.SENDING.value,
                               ReportState.WAITING.value))
                self._event(c, report_id, "report.waiting", reason)
                return ReportState(c.execute("SELECT state FROM reports WHERE report_id = ?",
                                             (report_id,)).fetchone()[0])
            return self._settle(c, report_id, sent=True)

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
        """Operator retry: a waiting or quarantined report is built again, its recipients resolved again.

        The document keeps its ids (minted once) and the e-mail its Message-ID; recipients already
        accepted or delivered are not sent to again; refused, bounced or erroring ones are forgotten, so a
        corrected directory gives the new address (and an unchanged one the same address, tried again).
        """
        with self.db.transaction() as c:
            r = c.execute(f"SELECT state FROM reports WHERE report_id = ?{self.db.for_update}",
                          (report_id,)).fetchone()
            if r is None or r["state"] not in (ReportState.WAITING.value, ReportState.QUARANTINED.value):
                return False
            target = ReportState.PARSED
            dropped = c.execute(
                "DELETE FROM recipients WHERE report_id = ? AND state IN (?, ?, ?)",
                (report_id, RecipientState.REFUSED.value, RecipientState.FAILED.value, RecipientState.ERROR.value),
            ).rowcount
            if dropped:
                self._event(c, report_id, "report.recipients_reset", f"{dropped} recipient(s) to resolve again")
            # The e-mail is built again (recipients may change); its Message-ID and ENVID stay, so the
            # acknowledgements of the earlier sends still find the report.
            c.execute(
                "UPDATE reports SET state = ?, reason = '', next_attempt_at = '', email = NULL, updated_at = ? "
                "WHERE report_id = ?",
                (target.value, utcnow(), report_id),
            )
            self._event(c, report_id, "report.retry", f"back to {target.value}")
            self.db.notify(c, Channel.WORK)
            return True
