"""The DMP feed's side of the store: one ``dmp_feed`` row per report addressed to the patient's DMP.

The channel runs beside MSSanté with its own state, attempts and next attempt; its row is created
in the very transaction that commits the built e-mail (the CDA's source), so a report is never
built without its DMP work queued. Each transition is one transaction that also mirrors the
state into ``reports.dmp_state`` (operator views, retention) and writes the report's timeline; a
final state commits the ZAM^Z01 owed to the SIL with it. The uniqueId (and the DMP's entryUUID
when TD3.1b named it) stay for a later replacement or deletion.

Order between versions: a replacement waits while the version it replaces is still being fed, and
a deletion while the version it deletes is, so TD3.1b finds what it looks for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connector.model import DocumentIdentity
from connector.states import DMP_PENDING, DmpState
from connector.store.backend import Channel, Tx
from connector.store.claims import LEASE_SECONDS
from connector.store.db import utcnow
from connector.store.rows import CLAIM_BATCH, StoreBase, identity_of

__all__ = ["DmpRow", "DmpStore", "Zam"]

# connector.dmp.DmpAction values (the store does not import the DMP stage): the action a lifecycle asks.
FEED, REPLACE, DELETE = "feed", "replace", "delete"
NOT_QUALIFIED = "PFI_INS_NON_QUALIFIE"  # connector.dmp.LocalCode.INS_NOT_QUALIFIED
_PENDING = tuple(sorted(s.value for s in DMP_PENDING))
_IS_PENDING = f"state IN ('{_PENDING[0]}', '{_PENDING[1]}')"
_FINAL = (DmpState.SENT, DmpState.FAILED, DmpState.REFUSED)

Zam = tuple[str, str, bytes]  # (kind, idempotence name, ER7 bytes) for the SIL outbox

# A row may go now unless an earlier row of the same document is still in the feed: the version it
# replaces, or (for a deletion) the version it deletes. ``created_at`` orders them, so two rows never
# wait for each other.
_NOT_BLOCKED = (
    "NOT EXISTS (SELECT 1 FROM dmp_feed p WHERE p.report_id <> dmp_feed.report_id"
    f" AND p.{_IS_PENDING} AND p.created_at <= dmp_feed.created_at"
    " AND (p.unique_id = dmp_feed.replaces_id"
    f" OR (dmp_feed.action = '{DELETE}' AND p.action <> '{DELETE}' AND p.unique_id = dmp_feed.unique_id)))"
)
_DUE = "state = :state AND next_attempt_at <= :now AND " + _NOT_BLOCKED


@dataclass(frozen=True, slots=True, kw_only=True)
class DmpRow:
    """One report's DMP feed (ids, codes and reasons only: no patient data)."""

    report_id: str
    action: str  # connector.dmp.DmpAction value
    state: DmpState
    unique_id: str
    replaces_id: str
    entry_uuid: str
    code: str
    reason: str
    attempts: int
    next_attempt_at: str
    updated_at: str


def dmp_row_of(r: Any) -> DmpRow:
    return DmpRow(report_id=r["report_id"], action=r["action"], state=DmpState(r["state"]), unique_id=r["unique_id"],
                  replaces_id=r["replaces_id"], entry_uuid=r["entry_uuid"], code=r["code"], reason=r["reason"],
                  attempts=r["attempts"], next_attempt_at=r["next_attempt_at"], updated_at=r["updated_at"])


def _action(lifecycle: str, replaces: str) -> str:
    if lifecycle == "D":
        return DELETE
    return REPLACE if lifecycle == "C" or replaces else FEED


def _plain(root: str, ext: str) -> str:
    """The document id as the DMP's uniqueId; an id with an extension is kept whole (the feed refuses it)."""
    return f"{root}^{ext}" if ext else root


class DmpStore(StoreBase):
    # ------------------------------------------------------------------ queued with the build

    def _queue_dmp(self, c: Tx, report_id: str, state: DmpState) -> None:
        """The report's feed row, in the transaction that commits its built e-mail (mark_built)."""
        if state is DmpState.NOT_ASKED:
            return
        r = c.execute("SELECT document_root, document_ext, replaces, lifecycle FROM reports WHERE report_id = ?",
                      (report_id,)).fetchone()
        if r is None or not r["document_root"]:
            return
        replaces = (r["replaces"] or "").removesuffix("^")
        code, reason = "", ""
        if state is DmpState.NOT_ELIGIBLE:
            code, reason = NOT_QUALIFIED, "the DMP takes only a qualified INS (PID-3 INS with PID-32 QUAL)"
        now = utcnow()
        inserted = c.execute(
            "INSERT INTO dmp_feed (report_id, action, state, unique_id, replaces_id, code, reason, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (report_id, _action(r["lifecycle"], replaces), state.value, _plain(r["document_root"],
             r["document_ext"] or ""), replaces, code, reason, now, now)).rowcount
        if inserted:
            self._event(c, report_id, f"dmp.{'queued' if state is DmpState.TO_SEND else state.value}", code)
            return
        # Built again (an operator retry before the first build committed): the feed keeps its own state.
        c.execute("UPDATE reports SET dmp_state = (SELECT state FROM dmp_feed WHERE report_id = ?) WHERE report_id = ?",
                  (report_id, report_id))

    def _queue_zam(self, c: Tx, report_id: str, zam: Zam) -> None:
        """A ZAM for the SIL in the caller's transaction; its name is its idempotence key."""
        kind, name, data = zam
        if c.execute("INSERT INTO outbox (report_id, kind, name, data, created_at) VALUES (?, ?, ?, ?, ?) "
                     "ON CONFLICT DO NOTHING", (report_id, kind, name, data, utcnow())).rowcount:
            self.db.notify(c, Channel.OUTBOX)

    # ------------------------------------------------------------------ what is due

    def dmp_due(self, now: str, *, limit: int = CLAIM_BATCH) -> list[DmpRow]:
        """Feeds to run now: interrupted ones first (their fate is checked before any resend), then the due."""
        rows: list[DmpRow] = []
        for state in (DmpState.SENDING, DmpState.TO_SEND):
            if len(rows) >= limit:
                break
            rows += [dmp_row_of(r) for r in self.db.query(
                f"SELECT * FROM dmp_feed WHERE state = ? AND next_attempt_at <= ? AND {_NOT_BLOCKED}"
                " ORDER BY next_attempt_at, created_at LIMIT ?", (state.value, now, limit - len(rows)))]
        return rows

    def claim_dmp(self, now: str, *, limit: int = CLAIM_BATCH,
                  lease_seconds: float = LEASE_SECONDS) -> list[DmpRow]:
        """:meth:`dmp_due`, each row leased to this instance on a shared store (as ``claim_due`` does reports)."""
        if not self.db.shared:
            return self.dmp_due(now, limit=limit)
        rows: list[DmpRow] = []
        with self.db.transaction() as c:
            for state in (DmpState.SENDING, DmpState.TO_SEND):
                if len(rows) >= limit:
                    break
                picked = c.execute(
                    f"WITH picked AS MATERIALIZED (SELECT report_id FROM dmp_feed WHERE {_DUE} AND (owner IS NULL"
                    f" OR owner = :me OR lease_until < {self.db.epoch_now}) ORDER BY next_attempt_at, created_at"
                    f" LIMIT :limit{self.db.skip_locked}) UPDATE dmp_feed SET owner = :me, lease_until ="
                    f" {self.db.epoch_now} + :lease FROM picked WHERE dmp_feed.report_id = picked.report_id"
                    " RETURNING dmp_feed.*",
                    {"state": state.value, "now": now, "limit": limit - len(rows), "me": self.instance,
                     "lease": float(lease_seconds)}).fetchall()
                rows += sorted((dmp_row_of(r) for r in picked), key=lambda d: (d.next_attempt_at, d.report_id))
        return rows

    # ------------------------------------------------------------------ transitions

    def dmp_started(self, report_id: str) -> bool:
        """Committed before the first byte goes to the DMP: after a crash the feed knows its fate is unsure."""
        with self.db.transaction() as c:
            self._lock_report(c, report_id)
            moved = c.execute(
                f"UPDATE dmp_feed SET state = ?, attempts = attempts + 1, updated_at = ? WHERE report_id = ? AND"
                f" {_IS_PENDING}",
                (DmpState.SENDING.value, utcnow(), report_id)).rowcount
            if moved:
                self._mirror(c, report_id, DmpState.SENDING)
                self._event(c, report_id, "dmp.sending")
            return bool(moved)

    def dmp_wait(self, report_id: str, *, code: str, reason: str, next_attempt_at: str = "",
                 unsure: bool = False) -> None:
        """Back in the queue: tried again at ``next_attempt_at`` ("" as soon as the queue runs). ``unsure``: an
        interrupted send nothing has settled yet stays SENDING, so TD3.1b still checks it before any resend."""
        state = DmpState.SENDING if unsure else DmpState.TO_SEND
        with self.db.transaction() as c:
            self._lock_report(c, report_id)
            c.execute(
                "UPDATE dmp_feed SET state = ?, code = ?, reason = ?, next_attempt_at = ?, updated_at = ?,"
                f" owner = NULL, lease_until = NULL WHERE report_id = ? AND {_IS_PENDING}",
                (state.value, code, reason[:500], next_attempt_at, utcnow(), report_id))
            self._mirror(c, report_id, state)
            self._event(c, report_id, "dmp.waiting", f"{code} {reason}".strip()[:500])

    def dmp_settle(self, report_id: str, *, state: DmpState, code: str = "", reason: str = "", entry_uuid: str = "",
                   zam: Zam | None = None) -> bool:
        """The feed's final outcome and the ZAM^Z01 it gives the SIL, in one transaction (False: already final)."""
        if state not in _FINAL:
            raise ValueError(f"dmp_settle: expected one of {', '.join(s.value for s in _FINAL)}")
        with self.db.transaction() as c:
            self._lock_report(c, report_id)
            moved = c.execute(
                "UPDATE dmp_feed SET state = ?, code = ?, reason = ?, entry_uuid = CASE WHEN ? = '' THEN entry_uuid"
                " ELSE ? END, next_attempt_at = '', updated_at = ?, owner = NULL, lease_until = NULL"
                f" WHERE report_id = ? AND {_IS_PENDING}",
                (state.value, code, reason[:500], entry_uuid, entry_uuid, utcnow(), report_id)).rowcount
            if not moved:
                return False
            self._mirror(c, report_id, state)
            self._event(c, report_id, f"dmp.{state.value}", f"{code} {reason}".strip()[:500])
            if zam is not None:
                self._queue_zam(c, report_id, zam)
            return True

    def retry_dmp(self, report_id: str) -> bool:
        """Operator retry of a feed that failed (the cause fixed): queued again, its attempts from zero."""
        with self.db.transaction() as c:
            self._lock_report(c, report_id)
            moved = c.execute(
                "UPDATE dmp_feed SET state = ?, attempts = 0, next_attempt_at = '', updated_at = ? WHERE report_id = ?"
                " AND state = ?", (DmpState.TO_SEND.value, utcnow(), report_id, DmpState.FAILED.value)).rowcount
            if moved:
                self._mirror(c, report_id, DmpState.TO_SEND)
                self._event(c, report_id, "dmp.retry")
            return bool(moved)

    def _mirror(self, c: Tx, report_id: str, state: DmpState) -> None:
        c.execute("UPDATE reports SET dmp_state = ? WHERE report_id = ?", (state.value, report_id))

    # ------------------------------------------------------------------ reads

    def dmp_row(self, report_id: str) -> DmpRow | None:
        rows = self.db.query("SELECT * FROM dmp_feed WHERE report_id = ?", (report_id,))
        return dmp_row_of(rows[0]) if rows else None

    def document_ids(self, report_id: str) -> DocumentIdentity | None:
        """The ids a built report's document carries (None before they are minted); nothing is minted here."""
        rows = self.db.query("SELECT * FROM reports WHERE report_id = ? AND document_root IS NOT NULL", (report_id,))
        return identity_of(rows[0]) if rows else None

    def dmp_fed(self, unique_id: str) -> bool:
        """Whether our feed put this version in the DMP, and no deletion of ours took it out since."""
        rows = self.db.query(
            "SELECT action, state FROM dmp_feed WHERE unique_id = ? AND state = ? ORDER BY updated_at",
            (unique_id, DmpState.SENT.value))
        return bool(rows) and rows[-1]["action"] != DELETE

    def dmp_counts(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self.db.query("SELECT state, count(*) FROM dmp_feed GROUP BY state")}

    def dmp_oldest_pending(self) -> str | None:
        """When the oldest feed still owed was queued (``connector status``, the age metric)."""
        rows = self.db.query(f"SELECT min(created_at) FROM dmp_feed WHERE {_IS_PENDING}")
        return rows[0][0] if rows and rows[0][0] else None

    def failed_dmp(self, limit: int = 1000) -> Sequence[str]:
        sql = "SELECT report_id FROM dmp_feed WHERE state = ? ORDER BY updated_at LIMIT ?"
        return [r[0] for r in self.db.query(sql, (DmpState.FAILED.value, limit))]
