"""Recipients, acknowledgements, the IMAP cursor and the SIL outbox."""

from __future__ import annotations

from connector.states import RecipientState, ReportState
from connector.store.backend import Channel, Tx
from connector.store.db import utcnow
from connector.store.rows import CLAIM_BATCH, RecipientRow, StoreBase, recipient_of

__all__ = ["AckStore", "derive"]


class AckStore(StoreBase):
    """Per-recipient delivery state, derived report state, and what is owed to the SIL."""

    def recipients(self, report_id: str) -> list[RecipientRow]:
        return [recipient_of(r) for r in self.db.query(
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
            self._lock_report(c, report_id)  # a send's outcome committed meanwhile by another instance waits
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
                if c.execute(
                    "INSERT INTO outbox (report_id, kind, name, data, created_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING", (report_id, kind, name, data, now),
                ).rowcount:
                    self.db.notify(c, Channel.OUTBOX)
            return self._settle(c, report_id)

    def settle(self, report_id: str) -> ReportState:
        """Re-derive a report's state from its recipients (nothing left to send: delivered, or not)."""
        with self.db.transaction() as c:
            self._lock_report(c, report_id)
            return self._settle(c, report_id, sent=True)

    def _settle(self, c: Tx, report_id: str, *, sent: bool = False) -> ReportState:
        """The report state its recipients give, committed with the caller's transaction.

        ``sent``: the operator has accepted every recipient it will (SMTP is over for this report).
        """
        states = {r[0] for r in c.execute("SELECT state FROM recipients WHERE report_id = ?", (report_id,))}
        current = ReportState(c.execute("SELECT state FROM reports WHERE report_id = ?", (report_id,)).fetchone()[0])
        new = derive(current, states, sent=sent)
        if new is not current:
            reason = _REASONS.get(new, "") if new is ReportState.QUARANTINED else ""
            if new is ReportState.QUARANTINED and RecipientState.ERROR.value in states:
                reason = ("the recipients' software could not integrate the report (MDN error, see `connector "
                          "show`): check the patient's identity in the SIL and send a corrected version")
            c.execute("UPDATE reports SET state = ?, reason = ?, updated_at = ? WHERE report_id = ?",
                      (new.value, reason, utcnow(), report_id))
            self._event(c, report_id, f"report.{new.value}", reason)
        return new

    def imap_cursor(self, mailbox: str) -> tuple[int, int] | None:
        rows = self.db.query("SELECT uidvalidity, last_uid FROM imap_cursor WHERE mailbox = ?", (mailbox,))
        return (rows[0][0], rows[0][1]) if rows else None

    def set_imap_cursor(self, mailbox: str, cursor: tuple[int, int]) -> None:
        with self.db.transaction() as c:
            c.execute("INSERT INTO imap_cursor (mailbox, uidvalidity, last_uid) VALUES (?, ?, ?) ON CONFLICT (mailbox)"
                      " DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid",
                      (mailbox, *cursor))

    def add_outbox(self, report_id: str, *, kind: str, name: str, data: bytes) -> None:
        """Queue a ZAM for the SIL; ``name`` is its idempotence key (a second add is ignored)."""
        with self.db.transaction() as c:
            if c.execute("INSERT INTO outbox (report_id, kind, name, data, created_at) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT DO NOTHING", (report_id, kind, name, data, utcnow())).rowcount:
                self.db.notify(c, Channel.OUTBOX)

    def pending_outbox(self, limit: int = CLAIM_BATCH) -> list[tuple[int, str, bytes]]:
        return [(r["id"], r["name"], r["data"]) for r in self.db.query(
            "SELECT id, name, data FROM outbox WHERE sent = 0 ORDER BY id LIMIT ?", (limit,))]

    def outbox_done(self, outbox_id: int, *, refused: bool = False) -> None:
        """Handed over (sent = 1), or refused by the SIL for good (sent = -1: kept for the operator)."""
        with self.db.transaction() as c:
            c.execute("UPDATE outbox SET sent = ?, attempts = attempts + 1 WHERE id = ?",
                      (-1 if refused else 1, outbox_id))


# Forward order of a recipient's states; failures are as final as a read receipt.
_RANK = {
    RecipientState.PENDING.value: 0, RecipientState.ACCEPTED.value: 1, RecipientState.DELAYED.value: 2,
    RecipientState.DELIVERED.value: 3, RecipientState.DISPLAYED.value: 4, RecipientState.PROCESSED.value: 5,
    RecipientState.ERROR.value: 5, RecipientState.FAILED.value: 5, RecipientState.REFUSED.value: 5,
}
_DELIVERED = {RecipientState.DELIVERED.value}
_READ = {RecipientState.DISPLAYED.value, RecipientState.PROCESSED.value}
_BAD = {RecipientState.FAILED.value, RecipientState.ERROR.value, RecipientState.REFUSED.value}


# A report's progress once the operator has it; a report never moves back down this order.
_PROGRESS = {ReportState.SENT: 1, ReportState.DELIVERED: 2, ReportState.READ: 3}
_REASONS = {
    ReportState.QUARANTINED: (
        "no recipient could receive the report (bounced, refused or rejected): check the addresses"
    ),
}


# A report the operator sent back to be built again (`connector retry`) waits for its build: an ack of an
# earlier send must not settle it before its recipients are resolved again.
_REBUILDING = frozenset({ReportState.QUARANTINED, ReportState.RECEIVED, ReportState.PARSED})


def derive(current: ReportState, states: set[str], *, sent: bool = False) -> ReportState:
    """Report state from its recipients' states: it moves forward only.

    Failed or refused recipients do not hold the others back: the report is DELIVERED
    (or READ) when every recipient that can be reached is, whatever step it was at when the
    acknowledgement came (a DSN can overtake a resend after a crash), and the failures stay
    visible on their recipient rows and in the events. A recipient still pending holds it.
    """
    if current in _REBUILDING or not states:
        return current
    live = states - _BAD
    if not live:
        return ReportState.QUARANTINED
    if RecipientState.PENDING.value in live:
        return current
    if live <= _READ:
        new = ReportState.READ
    elif live <= (_READ | _DELIVERED):
        new = ReportState.DELIVERED
    elif sent or current in _PROGRESS:
        new = ReportState.SENT
    else:
        return current
    return new if _PROGRESS[new] > _PROGRESS.get(current, 0) else current
