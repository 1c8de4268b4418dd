"""The store's row values and the one helper every part of the store writes events with."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from connector.states import ReportState
from connector.store.db import Database, utcnow

__all__ = ["CLAIM_BATCH", "InputRecord", "NewReport", "ReportRow", "StoreBase"]

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
    dsn: bool = True  # ask the operator for a delivery report


def row_of(r: object) -> ReportRow:
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
        dsn=bool(r["dsn"]),  # type: ignore[index]
    )


class StoreBase:
    """What the store's parts share: the database, and the report timeline they append to."""

    db: Database

    @staticmethod
    def _event(c: sqlite3.Connection, report_id: str, event: str, detail: str = "") -> None:
        c.execute(
            "INSERT INTO events (report_id, at, event, detail) VALUES (?, ?, ?, ?)",
            (report_id, utcnow(), event, detail),
        )
