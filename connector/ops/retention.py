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
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.config import Config
from connector.config.schema import RetentionConfig
from connector.config.settings import store_settings
from connector.files import fsync_dir
from connector.intake.folder import REASON_SUFFIX
from connector.logs import event
from connector.store import Store

__all__ = ["PruneReport", "RetentionConfig", "prune"]



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
    store = Store(store_settings(config))
    try:
        rows = store.prune(store_cut=_iso(store_cut), quarantine_cut=_iso(quarantine_cut), dry_run=dry_run)
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
        fsync_dir(folder)
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
