"""The store's row values and the one helper every part of the store writes events with."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from connector.model import DocumentIdentity, RecipientKind
from connector.states import RecipientState, ReportState
from connector.store.backend import Backend, Tx
from connector.store.db import utcnow

__all__ = [
    "CLAIM_BATCH",
    "InputRecord",
    "KeyKind",
    "NewReport",
    "RecipientRow",
    "ReportRow",
    "StoreBase",
    "identity_of",
    "recipient_of",
    "row_of",
]

class KeyKind(StrEnum):
    """What a report may be found by besides its id (table ``report_keys``)."""

    SENDING_APPLICATION = "msh3"
    SENDING_FACILITY = "msh4"
    PLACER_ORDER = "placer"  # ORC-2 / OBR-2
    FILLER_ORDER = "filler"  # ORC-3 / OBR-3
    PLACER_GROUP = "group"  # ORC-4


# Rows read back per claim: a small batch keeps memory flat whatever the backlog.
CLAIM_BATCH = 64

@dataclass(frozen=True, slots=True)
class InputRecord:
    input_id: int
    duplicate: bool
    ack: bytes | None = None
    same_bytes: bool = True  # False: an MLLP resend under the same MSH key with other content
    split: bool = False  # a duplicate's input was split already (False: a failure came between the two commits)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewReport:
    report_id: str
    message_index: int
    patient_index: int
    control_id: str
    series_key: str
    keys: tuple[tuple[KeyKind, str], ...] = ()  # what a person may find it by (MSH-3/4, order numbers)


@dataclass(frozen=True, slots=True, kw_only=True)
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
    dsn: bool = True  # ask the operator for a delivery report


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientRow:
    """One recipient of a report and where its delivery stands (no patient data but a patient's mailbox)."""

    address: str
    kind: RecipientKind
    idnps: str
    state: RecipientState
    code: str  # SMTP code, DSN status or MDN error code
    detail: str
    updated_at: str


def recipient_of(r: Any) -> RecipientRow:
    return RecipientRow(address=r["address"], kind=RecipientKind(r["kind"]), idnps=r["idnps"],
                        state=RecipientState(r["state"]), code=r["code"], detail=r["detail"],
                        updated_at=r["updated_at"])


def row_of(r: Any) -> ReportRow:
    return ReportRow(
        report_id=r["report_id"], input_id=r["input_id"], message_index=r["message_index"],
        patient_index=r["patient_index"], control_id=r["control_id"], state=ReportState(r["state"]),
        reason=r["reason"], attempts=r["attempts"], next_attempt_at=r["next_attempt_at"],
        message_id=r["message_id"] or "", envid=r["envid"] or "", received_at=r["received_at"],
        updated_at=r["updated_at"], sent_at=r["sent_at"], dsn=bool(r["dsn"]),
    )


def identity_of(r: Any) -> DocumentIdentity:
    """A report row's minted document ids (``replaces`` is stored as ``root^extension``)."""
    replaces = tuple(r["replaces"].split("^", 1)) if r["replaces"] else None
    return DocumentIdentity(
        document_id_root=r["document_root"],
        document_id_extension=r["document_ext"],
        set_id_root=r["set_root"],
        set_id_extension=r["set_ext"],
        version=r["version"],
        replaces=replaces,
        effective_time=r["effective_time"],
    )


class StoreBase:
    """What the store's parts share: the database, and the report timeline they append to."""

    db: Backend
    instance: str  # this process's id in claims and leases (connector.store.engines.default_instance)

    def _lock_report(self, c: Tx, report_id: str) -> None:
        """Hold the report's row until commit, so another instance's transaction on it waits for ours.

        Lock order, for every transaction on a report: its ``reports`` row first (this, or an UPDATE of
        it as the first statement), then its recipients and outbox rows: two instances never deadlock.
        SQLite's ``BEGIN IMMEDIATE`` already made this transaction the only writer: nothing to do there.
        """
        if self.db.for_update:
            c.execute(f"SELECT 1 FROM reports WHERE report_id = ?{self.db.for_update}", (report_id,))

    @staticmethod
    def _event(c: Tx, report_id: str, event: str, detail: str = "") -> None:
        c.execute(
            "INSERT INTO events (report_id, at, event, detail) VALUES (?, ?, ?, ?)",
            (report_id, utcnow(), event, detail),
        )
