"""Retention in the store: the blobs of old, finished reports go; their ids stay forever.

What is removed and why is stated in :mod:`connector.ops.retention` (the ``connector prune``
command); this is its store side, one batch per transaction so the running service is never
held up long. Re-checked in every statement, so a report that changed since it was listed
(a late MDN) is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from connector.states import DMP_PENDING, ReportState
from connector.store.backend import Tx
from connector.store.db import utcnow
from connector.store.rows import StoreBase

__all__ = ["PRUNED_EVENT", "RetentionStore"]

# Reports handled per transaction: short write locks, so the running service is never held up long.
PRUNE_BATCH = 500
# The timeline keeps one line saying why it is empty.
PRUNED_EVENT = "retention.pruned"

_T = TypeVar("_T")
_DONE = (ReportState.DELIVERED.value, ReportState.READ.value)
# A report the DMP feed still owes work on keeps its e-mail (the CDA's source) and its input (the patient's INS).
_DMP_DONE = f"dmp_state NOT IN ({', '.join(repr(s.value) for s in sorted(DMP_PENDING))})"


# Reports past retention: done, and unchanged since the cutoff. Re-checked in every statement,
# so a report that changed since it was listed (a late MDN) is left alone.
_OLD_REPORT = f"state IN ({', '.join(repr(s) for s in _DONE)}) AND updated_at < :store_cut AND {_DMP_DONE}"

_IN_OLD = f"report_id IN (SELECT report_id FROM reports WHERE report_id IN ({{ids}}) AND {_OLD_REPORT})"
# (kind, table, rows concerned, how they are pruned)
_STORE_STEPS: tuple[tuple[str, str, str, str], ...] = (
    ("email_blobs", "reports", f"email IS NOT NULL AND {_IN_OLD}", "UPDATE reports SET email = NULL"),
    ("events", "events", f"event != '{PRUNED_EVENT}' AND {_IN_OLD}", "DELETE FROM events"),
    # Only ZAMs the SIL already has (sent = 1): an undelivered or refused ack is never touched.
    ("outbox_blobs", "outbox", f"sent = 1 AND length(data) > 0 AND {_IN_OLD}", "UPDATE outbox SET data = :empty"),
)

# An input's bytes go when every report from it is past retention and every message that
# could not be read was quarantined before the quarantine cutoff. ``data`` is NOT NULL: emptied.
_OLD_INPUT = (
    "split = 1 AND length(data) > 0 AND received_at < :store_cut"
    " AND (EXISTS (SELECT 1 FROM reports r WHERE r.input_id = inputs.id)"
    "      OR EXISTS (SELECT 1 FROM input_errors e WHERE e.input_id = inputs.id))"
    " AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.input_id = inputs.id AND NOT"
    f"      (r.state IN ({', '.join(repr(s) for s in _DONE)}) AND r.updated_at < :store_cut AND r.{_DMP_DONE}))"
    " AND NOT EXISTS (SELECT 1 FROM input_errors e WHERE e.input_id = inputs.id AND e.at >= :quarantine_cut)"
)


class RetentionStore(StoreBase):
    def prune(self, *, store_cut: str, quarantine_cut: str, dry_run: bool) -> dict[str, int]:
        """Remove (or, ``dry_run``, count) what is past retention; the counts per kind.

        ``store_cut`` and ``quarantine_cut`` are store timestamps (``utcnow()`` format).
        """
        counts = {"input_blobs": 0, "email_blobs": 0, "events": 0, "outbox_blobs": 0}
        params = {"store_cut": store_cut, "quarantine_cut": quarantine_cut, "empty": b""}
        old = [r[0] for r in self.db.query(
            f"SELECT report_id FROM reports WHERE {_OLD_REPORT.replace(':store_cut', '?')} ORDER BY report_id",
            (store_cut,))]
        for chunk in _chunks(old, PRUNE_BATCH):
            marks = ", ".join(f":id{i}" for i in range(len(chunk)))
            bound = {**params, **{f"id{i}": rid for i, rid in enumerate(chunk)}}
            with self.db.transaction() as c:
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
        with self.db.transaction() as c:
            input_ids = [r[0] for r in c.execute(f"SELECT id FROM inputs WHERE {_OLD_INPUT} ORDER BY id", params)]
        for chunk in _chunks(input_ids, PRUNE_BATCH):
            marks = ", ".join(f":id{i}" for i in range(len(chunk)))
            bound = {**params, **{f"id{i}": iid for i, iid in enumerate(chunk)}}
            where = f"id IN ({marks}) AND {_OLD_INPUT}"
            with self.db.transaction() as c:
                if dry_run:
                    n = c.execute(f"SELECT count(*) FROM inputs WHERE {where}", bound).fetchone()[0]
                else:
                    n = c.execute(f"UPDATE inputs SET data = :empty WHERE {where}", bound).rowcount
                counts["input_blobs"] += n
        return counts


def _mark_timelines(c: Tx, chunk: Sequence[str], bound: dict[str, object], marks: str) -> None:
    """One line per pruned timeline, so `connector show` says why it is empty."""
    c.execute(
        f"INSERT INTO events (report_id, at, event, detail) SELECT report_id, :now, '{PRUNED_EVENT}', "
        "'timeline, e-mail and input removed after the retention period; ids kept' FROM reports "
        f"WHERE report_id IN ({marks}) AND {_OLD_REPORT} AND NOT EXISTS (SELECT 1 FROM events e WHERE "
        f"e.report_id = reports.report_id AND e.event = '{PRUNED_EVENT}')",
        {**bound, "now": utcnow()},
    )


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
