"""Retention: what the connector deletes, when, and what it keeps forever.

The connector is a transit system, not the lab's record: the SIL keeps the results,
the prescriber's software keeps the documents. So patient data is removed here once it
can no longer be needed, on these stated defaults (``retention:`` in the config):

- ``archive/`` files (inputs already committed to the store) older than 90 days;
- ``quarantine/`` files (and their ``.reason.txt``) older than 365 days; a younger
  entry is never touched, released or not — a person must have had time to act;
- in the store, for reports DELIVERED or READ whose last change is older than 400 days:
  the raw input bytes (when every report and every unreadable message of that input is
  done and old), the stored e-mail, the timeline events, and the bytes of ZAMs already
  delivered to the SIL.

Kept forever, on purpose: the report row with its ids (document id, setId, version,
Message-ID, ENVID), the ``series`` table and the recipient rows. A correction sent by
the SIL years later must still find the setId and replace the right version (RPLC), and
a late acknowledgement must still match a report. Those rows hold ids, states and
professionals' addresses, no patient data. The input's sha256 also stays, so the same
bytes resent are still recognised as a duplicate. Reports still SENT (no DSN ever),
WAITING or QUARANTINED are never pruned: a person must look at them first.

Deleted blobs free pages inside the SQLite file, which new rows reuse; the file itself
does not shrink (run ``VACUUM`` in a maintenance window for that).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from connector.config import Config, RetentionConfig
from connector.intake.folder import REASON_SUFFIX
from connector.logs import event
from connector.states import ReportState
from connector.store import Store

__all__ = ["PruneReport", "RetentionConfig", "prune"]

# Floors under the configured ages: a typo (0, 1) must not wipe what a person still needs.
# Reports handled per transaction: short write locks, so the running service is never held up long.
PRUNE_BATCH = 500
# The timeline keeps one line saying why it is empty.
PRUNED_EVENT = "retention.pruned"

_T = TypeVar("_T")
_DONE = (ReportState.DELIVERED.value, ReportState.READ.value)


@dataclass(frozen=True)
class PruneReport:
    """What was removed (or, with ``dry_run``, what would be), per kind."""

    dry_run: bool
    archive_files: int = 0
    quarantine_files: int = 0
    file_bytes: int = 0
    file_errors: int = 0
    input_blobs: int = 0
    email_blobs: int = 0
    events: int = 0
    outbox_blobs: int = 0
    cutoffs: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def prune(config: Config, *, now: datetime | None = None, dry_run: bool = False,
          retention: RetentionConfig | None = None) -> PruneReport:
    """Remove what is past its retention age; ``retention`` overrides ``config.retention``."""
    policy = retention or config.retention
    policy.check()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    archive_cut = now - timedelta(days=policy.archive_days)
    quarantine_cut = now - timedelta(days=policy.quarantine_days)
    store_cut = now - timedelta(days=policy.store_days)
    folder = config.intake.folder
    archive = _prune_files(config.path(folder.archive), archive_cut, dry_run, grouped=False)
    quarantine = _prune_files(config.path(folder.quarantine), quarantine_cut, dry_run, grouped=True)
    store = Store(config.store_path)
    try:
        rows = _prune_store(store, _iso(store_cut), _iso(quarantine_cut), dry_run)
    finally:
        store.close()
    report = PruneReport(
        dry_run=dry_run, archive_files=archive.count, quarantine_files=quarantine.count,
        file_bytes=archive.size + quarantine.size, file_errors=archive.errors + quarantine.errors,
        cutoffs={"archive": _iso(archive_cut), "quarantine": _iso(quarantine_cut), "store": _iso(store_cut)},
        **rows,
    )
    event("retention.pruned", dry_run=dry_run, archive_files=report.archive_files,
          quarantine_files=report.quarantine_files, file_bytes=report.file_bytes, file_errors=report.file_errors,
          input_blobs=report.input_blobs, email_blobs=report.email_blobs, events=report.events,
          outbox_blobs=report.outbox_blobs)
    return report


def _iso(moment: datetime) -> str:
    """The store's timestamp format (``utcnow()``), so text comparison is time comparison."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


# ---------------------------------------------------------------------------- files


@dataclass
class _FileTally:
    count: int = 0
    size: int = 0
    errors: int = 0


def _prune_files(folder: Path, cutoff: datetime, dry_run: bool, *, grouped: bool) -> _FileTally:
    """Delete regular files older than ``cutoff``; a quarantined file goes with its reason file."""
    tally = _FileTally()
    limit = cutoff.timestamp()
    for group in _groups(folder, grouped):
        if max(st.st_mtime for _, st in group) >= limit:
            continue  # the newest member decides: a fresh reason file keeps its data file
        for path, st in group:
            if not dry_run:
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    tally.errors += 1
                    event("retention.file_error", level=logging.WARNING, folder=str(folder),
                          error=type(exc).__name__)
                    continue
            tally.count += 1
            tally.size += st.st_size
    if tally.count and not dry_run:
        _fsync_dir(folder)
    return tally


def _groups(folder: Path, grouped: bool) -> Iterator[list[tuple[Path, os.stat_result]]]:
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    groups: dict[str, list[tuple[Path, os.stat_result]]] = {}
    for entry in entries:
        if not entry.is_file(follow_symlinks=False):
            continue  # never follow a link or descend into a folder we did not create
        key = entry.name.removesuffix(REASON_SUFFIX) if grouped else entry.name
        groups.setdefault(key, []).append((Path(entry.path), entry.stat(follow_symlinks=False)))
    yield from groups.values()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- store

# Reports past retention: done, and unchanged since the cutoff. Re-checked in every statement,
# so a report that changed since it was listed (a late MDN) is left alone.
_OLD_REPORT = f"state IN ({', '.join(repr(s) for s in _DONE)}) AND updated_at < :store_cut"

_IN_OLD = f"report_id IN (SELECT report_id FROM reports WHERE report_id IN ({{ids}}) AND {_OLD_REPORT})"
# (kind, table, rows concerned, how they are pruned)
_STORE_STEPS: tuple[tuple[str, str, str, str], ...] = (
    ("email_blobs", "reports", f"email IS NOT NULL AND {_IN_OLD}", "UPDATE reports SET email = NULL"),
    ("events", "events", f"event != '{PRUNED_EVENT}' AND {_IN_OLD}", "DELETE FROM events"),
    # Only ZAMs the SIL already has (sent = 1): an undelivered or refused ack is never touched.
    ("outbox_blobs", "outbox", f"sent = 1 AND length(data) > 0 AND {_IN_OLD}", "UPDATE outbox SET data = x''"),
)

# An input's bytes go when every report from it is past retention and every message that
# could not be read was quarantined before the quarantine cutoff. ``data`` is NOT NULL: emptied.
_OLD_INPUT = (
    "split = 1 AND length(data) > 0 AND received_at < :store_cut"
    " AND (EXISTS (SELECT 1 FROM reports r WHERE r.input_id = inputs.id)"
    "      OR EXISTS (SELECT 1 FROM input_errors e WHERE e.input_id = inputs.id))"
    " AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.input_id = inputs.id AND NOT"
    f"      (r.state IN ({', '.join(repr(s) for s in _DONE)}) AND r.updated_at < :store_cut))"
    " AND NOT EXISTS (SELECT 1 FROM input_errors e WHERE e.input_id = inputs.id AND e.at >= :quarantine_cut)"
)


def _prune_store(store: Store, store_cut: str, quarantine_cut: str, dry_run: bool) -> dict[str, int]:
    counts = {"input_blobs": 0, "email_blobs": 0, "events": 0, "outbox_blobs": 0}
    params = {"store_cut": store_cut, "quarantine_cut": quarantine_cut}
    old = [r[0] for r in store.db.query(
        f"SELECT report_id FROM reports WHERE {_OLD_REPORT.replace(':store_cut', '?')} ORDER BY report_id",
        (store_cut,))]
    for chunk in _chunks(old, PRUNE_BATCH):
        marks = ", ".join(f":id{i}" for i in range(len(chunk)))
        bound = {**params, **{f"id{i}": rid for i, rid in enumerate(chunk)}}
        with store.db.transaction() as c:
            pruned_events = 0
            for kind, table, where, change in _STORE_STEPS:
                condition = where.format(ids=marks)
                if dry_run:
                    n = c.execute(f"SELECT count(*) FROM {table} WHERE {condition}", bound).fetchone()[0]
                else:
                    n = c.execute(f"{change} WHERE {condition}", bound).rowcount
                counts[kind] += n
                pruned_events += n if kind == "events" else 0
            if pruned_events and not dry_run:
                _mark_timelines(c, chunk, bound, marks)
    input_ids = [r[0] for r in store.db.query(
        f"SELECT id FROM inputs WHERE {_OLD_INPUT.replace(':store_cut', '?1').replace(':quarantine_cut', '?2')}"
        " ORDER BY id", (store_cut, quarantine_cut))]
    for chunk in _chunks(input_ids, PRUNE_BATCH):
        marks = ", ".join(f":id{i}" for i in range(len(chunk)))
        bound = {**params, **{f"id{i}": iid for i, iid in enumerate(chunk)}}
        where = f"id IN ({marks}) AND {_OLD_INPUT}"
        with store.db.transaction() as c:
            if dry_run:
                counts["input_blobs"] += c.execute(f"SELECT count(*) FROM inputs WHERE {where}", bound).fetchone()[0]
            else:
                counts["input_blobs"] += c.execute(f"UPDATE inputs SET data = x'' WHERE {where}", bound).rowcount
    return counts


def _mark_timelines(c: object, chunk: Sequence[str], bound: dict[str, object], marks: str) -> None:
    """One line per pruned timeline, so `connector show` says why it is empty."""
    c.execute(  # type: ignore[attr-defined]
        f"INSERT INTO events (report_id, at, event, detail) SELECT report_id, :now, '{PRUNED_EVENT}', "
        "'timeline, e-mail and input removed after the retention period; ids kept' FROM reports "
        f"WHERE report_id IN ({marks}) AND {_OLD_REPORT} AND NOT EXISTS (SELECT 1 FROM events e WHERE "
        f"e.report_id = reports.report_id AND e.event = '{PRUNED_EVENT}')",
        {**bound, "now": _iso(datetime.now(UTC))},
    )


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
