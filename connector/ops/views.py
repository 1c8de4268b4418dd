"""Operator views and actions on the store: status, show, retry, quarantine.

These read or change the same SQLite file the running service uses (WAL lets both
work at once). No patient data is ever read here: only ids, states, reasons, codes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from connector.config import Config
from connector.config.settings import store_settings, validation_settings
from connector.errors import KitError
from connector.logs import event
from connector.model import RecipientKind
from connector.states import ReportState
from connector.store import FoundReport, RecipientRow, Store, age_seconds

__all__ = [
    "find_reports",
    "instances_data",
    "purge_released",
    "quarantine_items",
    "release_item",
    "retry_reports",
    "show_data",
    "status_data",
    "validation_status",
]



def status_data(config: Config) -> dict[str, Any]:
    store = Store(store_settings(config))
    try:
        oldest = store.oldest_waiting()
        data: dict[str, Any] = {
            "counts": {s.value: store.counts().get(s.value, 0) for s in ReportState
                       if store.counts().get(s.value, 0)},
            "oldest_in_progress": None if oldest is None else {
                "report_id": oldest.report_id, "state": oldest.state.value, "reason": oldest.reason,
                "age_seconds": age_seconds(oldest.received_at)},
            "input_errors": len(store.input_errors()),
            "dmp": _dmp_status(store),
            "last_errors": [{"at": at, "report_id": rid, "event": ev, "detail": detail}
                            for at, rid, ev, detail in store.last_errors()],
            "validation": validation_status(config),
        }
        if store.db.shared:  # several instances may share it: each one, its heartbeat and its leases
            data["instances"] = instances_data(store)
        return data
    finally:
        store.close()


def instances_data(store: Store) -> list[dict[str, Any]]:
    """The group as the store sees it: every instance that said it runs, alive or silent, and its leases."""
    leases = store.leases()
    return [{"instance": r.instance_id, "host": r.host, "pid": r.pid, "started_at": r.started_at,
             "seen_seconds_ago": round(r.seen_seconds_ago, 1), "alive": r.alive,
             "leases": leases.get(r.instance_id, 0)} for r in store.instances()]


def find_reports(config: Config, query: str, *, sending_application: str = "",
                 sending_facility: str = "") -> list[FoundReport]:
    """The reports a report id, MSH-10, order number or input file name designates."""
    store = Store(store_settings(config))
    try:
        return store.find_reports(query, sending_application=sending_application, sending_facility=sending_facility)
    finally:
        store.close()


def validation_status(config: Config) -> dict[str, Any]:
    """What the service validates with this configuration: the mode, the kit and its digest (issue 12).

    Read from the configuration and the kit's files (their digest is computed again, ~1 s), so it
    holds whether the service runs or not. ``state`` says it in one word: ``full``/``xsd`` (the
    kit checks out), ``off`` (configured off: documents leave unchecked), ``reduced`` (test mode
    without a kit) or ``no-kit`` (production: the service refuses to start).
    """
    from connector.validation import ValidationMode, check_kit

    settings = validation_settings(config)
    out: dict[str, Any] = {"mode": settings.mode.value, "kit": str(settings.kit), "kit_digest": "",
                           "installed_at": "", "state": settings.mode.value, "problem": ""}
    if settings.mode is ValidationMode.OFF:
        out["kit"] = ""
        return out
    try:
        report = check_kit(settings.kit, compile=False)
    except KitError as exc:
        missing = not settings.kit.exists()
        out["state"] = "reduced" if missing and not settings.required else "no-kit"
        out["problem"] = exc.detail
        return out
    out.update(kit_digest=report.digest, installed_at=report.installed_at)
    return out


def show_data(config: Config, report_id: str) -> dict[str, Any] | None:
    store = Store(store_settings(config))
    try:
        row = store.report(report_id)
        if row is None:
            return None
        return {
            "report_id": row.report_id, "state": row.state.value, "reason": row.reason,
            "attempts": row.attempts, "message_id": row.message_id, "control_id": row.control_id,
            "document": store.document_of(report_id),
            "dmp": _dmp_feed(store, report_id),
            "recipients": [_masked(r) for r in store.recipients(report_id)],
            "events": [{"at": at, "event": ev, "detail": d} for at, ev, d in store.events(report_id)],
        }
    finally:
        store.close()


def _dmp_status(store: Store) -> dict[str, Any]:
    """The DMP channel: feeds per state, and the age of the oldest one still owed."""
    oldest = store.dmp_oldest_pending()
    return {"counts": store.dmp_counts(), "oldest_pending_seconds": age_seconds(oldest) if oldest else None}


def _dmp_feed(store: Store, report_id: str) -> dict[str, Any] | None:
    """The report's DMP feed: state, action, uniqueId (and entryUUID when known), last code and reason."""
    row = store.dmp_row(report_id)
    if row is None:
        return None
    return {**dataclasses.asdict(row), "state": row.state.value}


def _masked(recipient: RecipientRow) -> dict[str, str]:
    """A patient's mailbox is ``<INS>@patient.mssante.fr``: shown by kind only."""
    shown = {"address": recipient.address, "kind": recipient.kind.value, "idnps": recipient.idnps,
             "state": recipient.state.value, "code": recipient.code, "detail": recipient.detail,
             "updated_at": recipient.updated_at}
    if recipient.kind is RecipientKind.PATIENT:
        return {**shown, "address": "(patient mailbox)", "detail": ""}
    return shown


def retry_reports(config: Config, *, report_id: str | None, failed: bool) -> list[str]:
    store = Store(store_settings(config))
    try:
        ids = [report_id] if report_id else [
            r.report_id for r in store.reports_in(ReportState.QUARANTINED, ReportState.WAITING)]
        ids += [] if report_id else [rid for rid in store.failed_dmp() if rid not in ids]
        # A report's MSSanté path and its DMP feed are two channels: the retry applies to whichever failed.
        done = [rid for rid in ids if [store.retry(rid), store.retry_dmp(rid)] != [False, False]]
        for rid in done:
            event("report.retry", report_id=rid)
        return done
    finally:
        store.close()


def quarantine_items(config: Config) -> list[dict[str, Any]]:
    store = Store(store_settings(config))
    try:
        return store.input_errors()
    finally:
        store.close()


def release_item(config: Config, item: str) -> None:
    input_id, _, index = item.partition(":")
    store = Store(store_settings(config))
    try:
        store.release_input_error(int(input_id), int(index or 0))
        event("input.released", input_id=int(input_id), message_index=int(index or 0))
    finally:
        store.close()


def purge_released(config: Config) -> list[str]:
    """Remove released quarantine items from the store and their files from the quarantine folder."""
    store = Store(store_settings(config))
    try:
        sources = store.purge_released()
    finally:
        store.close()
    folder = config.path(config.intake.folder.quarantine)
    for source in sources:
        name = Path(source).name  # never a path from the input: only the file's own name
        for target in (folder / name, folder / f"{name}.reason.txt"):
            if target.is_file() and not target.is_symlink():
                target.unlink()
    event("quarantine.purged", items=len(sources))
    return sources
