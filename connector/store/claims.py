"""Work shared by several instances of one store: claims with leases, wake-ups, one poller, the group.

On a shared store (PostgreSQL) an instance *claims* the reports it is about to move on: one
statement picks them with ``FOR UPDATE SKIP LOCKED`` (rows another instance is claiming are
passed over, never waited for) and writes ``owner`` = this instance, ``lease_until`` = the
database clock + the lease. Another instance takes a report only once that lease has ended, so
an instance that died (SIGKILL, lost host) gives its work back after at most one lease; a live
one renews the leases of what it still holds, and releases what it has finished.

Whatever the claim, a report's ids are minted once and its transitions are serialised on its
row (:meth:`StoreBase._lock_report`): an instance that lost its lease and finishes anyway can
only repeat the same document and e-mail (same Message-ID), never send them under a new identity.

On SQLite one process owns the file: every claim succeeds at once and nothing is written.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from connector.states import ReportState
from connector.store.backend import Channel, Listener, Singleton, Tx
from connector.store.db import utcnow
from connector.store.rows import CLAIM_BATCH, ReportRow, StoreBase, row_of

__all__ = ["ALIVE_SECONDS", "HEARTBEAT_SECONDS", "LEASE_SECONDS", "ClaimStore", "InstanceRow"]

# Long enough to build and send a batch (a schematron run is ~0.5 s a document), short enough that
# the work of a dead instance waits at most this long.
LEASE_SECONDS = 60.0
HEARTBEAT_SECONDS = 5.0  # how often a running instance says so (its `seen_at`)
ALIVE_SECONDS = 30.0  # an instance silent longer is shown as gone (killed, host lost, or cut from the store)


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceRow:
    instance_id: str
    host: str
    pid: int
    started_at: str  # UTC ISO 8601
    seen_seconds_ago: float  # since its last heartbeat, by the database clock

    @property
    def alive(self) -> bool:
        return self.seen_seconds_ago <= ALIVE_SECONDS


class ClaimStore(StoreBase):
    if TYPE_CHECKING:  # the Store's own reads, which a store that is not shared claims with
        def due(self, now: str, *, limit: int = CLAIM_BATCH) -> tuple[list[ReportRow], list[ReportRow]]: ...

        def pending_outbox(self, limit: int = CLAIM_BATCH) -> list[tuple[int, str, bytes]]: ...

    # ------------------------------------------------------------------ reports

    def claim_due(self, now: str, *, limit: int = CLAIM_BATCH,
                  lease_seconds: float = LEASE_SECONDS) -> tuple[list[ReportRow], list[ReportRow]]:
        """:meth:`Store.due`, each report returned leased to this instance (and to no other)."""
        if not self.db.shared:
            return self.due(now, limit=limit)
        retry = "state = :state AND next_attempt_at <= :now AND email IS {} NULL"
        with self.db.transaction() as c:
            send: list[ReportRow] = []
            for state, condition, order in ((ReportState.SENDING, "state = :state", "received_at"),
                                            (ReportState.BUILT, "state = :state", "received_at"),
                                            (ReportState.WAITING, retry.format("NOT"), "next_attempt_at")):
                send += self._claim(c, condition, order, limit - len(send), lease_seconds, state=state.value, now=now)
            build: list[ReportRow] = []
            for state, condition, order in ((ReportState.PARSED, "state = :state", "received_at"),
                                            (ReportState.WAITING, retry.format(""), "next_attempt_at")):
                build += self._claim(c, condition, order, limit - len(build), lease_seconds, state=state.value,
                                     now=now)
        return build, send

    def _claim(self, c: Tx, condition: str, order: str, limit: int, lease_seconds: float,
               **params: object) -> list[ReportRow]:
        if limit <= 0:
            return []
        # The pick is materialised once, then updated: the rows it locked are exactly the rows claimed.
        rows = c.execute(
            f"WITH picked AS MATERIALIZED (SELECT report_id FROM reports WHERE {condition} AND (owner IS NULL OR "
            f"owner = :me OR lease_until < {self.db.epoch_now}) ORDER BY {order} LIMIT :limit{self.db.skip_locked}) "
            f"UPDATE reports SET owner = :me, lease_until = {self.db.epoch_now} + :lease FROM picked "
            "WHERE reports.report_id = picked.report_id RETURNING reports.*",
            {"me": self.instance, "lease": float(lease_seconds), "limit": limit, **params},
        ).fetchall()
        # RETURNING has no order of its own: oldest first, as due() gives them.
        return [row_of(r) for r in sorted(rows, key=lambda r: (r[order], r["report_id"]))]

    def renew(self, report_ids: Sequence[str], *, lease_seconds: float = LEASE_SECONDS) -> set[str]:
        """Extend this instance's leases; the ids it no longer holds (another instance took them) are absent."""
        if not self.db.shared or not report_ids:
            return set(report_ids)
        marks = ", ".join(f":id{i}" for i in range(len(report_ids)))
        with self.db.transaction() as c:
            rows = c.execute(
                f"UPDATE reports SET lease_until = {self.db.epoch_now} + :lease WHERE owner = :me AND report_id IN "
                f"({marks}) RETURNING report_id",
                {"me": self.instance, "lease": float(lease_seconds), **_ids(report_ids)}).fetchall()
        return {r[0] for r in rows}

    def release(self, report_ids: Sequence[str]) -> None:
        """Give back finished (or abandoned) reports at once, rather than when their lease ends."""
        if not self.db.shared or not report_ids:
            return
        marks = ", ".join(f":id{i}" for i in range(len(report_ids)))
        with self.db.transaction() as c:
            c.execute(f"UPDATE reports SET owner = NULL, lease_until = NULL WHERE owner = :me AND report_id IN "
                      f"({marks})", {"me": self.instance, **_ids(report_ids)})

    def holds(self, report_id: str) -> bool:
        """This instance's lease on the report is still running (check before an irreversible step)."""
        if not self.db.shared:
            return True
        rows = self.db.query(f"SELECT 1 FROM reports WHERE report_id = ? AND owner = ? AND lease_until >= "
                             f"{self.db.epoch_now}", (report_id, self.instance))
        return bool(rows)

    def leases(self) -> dict[str, int]:
        """Running leases per instance (`connector status` of the group)."""
        return {r[0]: r[1] for r in self.db.query(
            f"SELECT owner, count(*) FROM reports WHERE owner IS NOT NULL AND lease_until >= {self.db.epoch_now} "
            "GROUP BY owner")}

    # ------------------------------------------------------------------ SIL outbox

    def claim_outbox(self, *, limit: int = CLAIM_BATCH,
                     lease_seconds: float = LEASE_SECONDS) -> list[tuple[int, str, bytes]]:
        """:meth:`pending_outbox`, each ZAM leased to this instance: two instances never hand over the same one."""
        if not self.db.shared:
            return self.pending_outbox(limit)
        with self.db.transaction() as c:
            rows = c.execute(
                "WITH picked AS MATERIALIZED (SELECT id FROM outbox WHERE sent = 0 AND (owner IS NULL OR owner = :me "
                f"OR lease_until < {self.db.epoch_now}) ORDER BY id LIMIT :limit{self.db.skip_locked}) "
                f"UPDATE outbox SET owner = :me, lease_until = {self.db.epoch_now} + :lease FROM picked "
                "WHERE outbox.id = picked.id RETURNING outbox.id, outbox.name, outbox.data",
                {"me": self.instance, "lease": float(lease_seconds), "limit": limit}).fetchall()
        return sorted((r[0], r[1], bytes(r[2])) for r in rows)

    # ------------------------------------------------------------------ primitives

    def listener(self, channel: Channel) -> Listener:
        """Wakes when work is announced on ``channel`` (by this instance or another); close it when done."""
        return self.db.listener(channel)

    def singleton(self, name: str) -> Singleton:
        """A lock one instance holds at a time, released when it dies (the IMAP poller: ``imap``)."""
        return self.db.singleton(name)

    # ------------------------------------------------------------------ the group

    def register_instance(self) -> None:
        """Say this instance is alive (at start, then :meth:`heartbeat` every few seconds)."""
        with self.db.transaction() as c:
            c.execute(
                f"INSERT INTO instances (instance_id, host, pid, started_at, seen_at) VALUES (:me, :host, :pid, :at, "
                f"{self.db.epoch_now}) ON CONFLICT (instance_id) DO UPDATE SET host = excluded.host, "
                "pid = excluded.pid, started_at = excluded.started_at, seen_at = excluded.seen_at",
                {"me": self.instance, "host": socket.gethostname(), "pid": os.getpid(), "at": utcnow()})

    def heartbeat(self) -> None:
        with self.db.transaction() as c:
            c.execute(f"UPDATE instances SET seen_at = {self.db.epoch_now} WHERE instance_id = ?", (self.instance,))

    def deregister_instance(self) -> None:
        """A clean stop: this instance's leases are given back at once and its row goes from the group."""
        with self.db.transaction() as c:
            for table in ("reports", "outbox", "dmp_feed"):  # every table claim_* leases rows of
                c.execute(f"UPDATE {table} SET owner = NULL, lease_until = NULL WHERE owner = ?", (self.instance,))
            c.execute("DELETE FROM instances WHERE instance_id = ?", (self.instance,))

    def forget_instances(self, *, silent_seconds: float) -> int:
        """Remove the rows of instances not seen for ``silent_seconds`` (killed, hosts gone): their leases
        have long ended; without this every ``<host>-<pid>`` ever started would stay listed."""
        with self.db.transaction() as c:
            return c.execute(f"DELETE FROM instances WHERE seen_at < {self.db.epoch_now} - ? AND instance_id <> ?",
                             (float(silent_seconds), self.instance)).rowcount

    def instances(self) -> list[InstanceRow]:
        return [InstanceRow(instance_id=r[0], host=r[1], pid=r[2], started_at=r[3], seen_seconds_ago=float(r[4]))
                for r in self.db.query(f"SELECT instance_id, host, pid, started_at, {self.db.epoch_now} - seen_at "
                                       "FROM instances ORDER BY instance_id")]


def _ids(report_ids: Sequence[str]) -> dict[str, object]:
    return {f"id{i}": rid for i, rid in enumerate(report_ids)}
