"""This instance's leases on the reports it moves on: claimed per step, renewed by the loop, given back after.

On a shared store (PostgreSQL, several instances) :meth:`Leases.claim` takes the due reports with
``claim_due``: each is leased to this instance for ``lease_seconds`` by the database's clock, so
another instance passes it over, and takes it once the lease ends if this one died. While the step
runs, the loop renews the leases of the reports not finished yet (every third of a lease), whatever
runs the work: a build in a thread today, in another process tomorrow; the lease belongs to the
instance, not to the worker. At the end of the step every claimed report is released, so the next
claim (of any instance) sees its new state at once.

Before anything another instance could also do (committing a build, sending an e-mail) the step asks
:meth:`Claim.holds`: a local answer, no round trip. A lease is certain until its last renewal's start
plus the lease, less a margin for the clocks' drift and the commit itself; past that, or once a
renewal said another instance took the report, the step leaves the report alone. Ids are minted once
in the store: even a step that lost its lease could only repeat the same document and e-mail.

On SQLite (one process) the claim is ``due()`` and every report is held: no renewal task, no release,
no cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

from connector.errors import TransientError
from connector.logs import event
from connector.store import LEASE_SECONDS, ReportRow, Store

from .budget import Ticket

__all__ = ["Claim", "LeaseTicket", "Leases"]


@dataclass(eq=False)
class Claim:
    """The reports one step claimed, and until when this instance surely holds them."""

    build: list[ReportRow]
    send: list[ReportRow]
    certain_until: float = float("inf")  # time.monotonic(); inf: a store of one process, nothing to lose
    lost: set[str] = field(default_factory=set)  # taken by another instance (seen at a renewal)
    finished: set[str] = field(default_factory=set)

    @property
    def report_ids(self) -> list[str]:
        return [r.report_id for r in (*self.build, *self.send)]

    def holds(self, report_id: str) -> bool:
        """This instance may still act on the report (commit a build, send its e-mail)."""
        return report_id not in self.lost and time.monotonic() < self.certain_until

    def finish(self, report_id: str) -> None:
        """Done with it for this step: no more renewals."""
        self.finished.add(report_id)

    def outstanding(self) -> list[str]:
        return [rid for rid in self.report_ids if rid not in self.finished and rid not in self.lost]


class LeaseTicket(Ticket):
    """A build's right to commit: the time budget's (:class:`Ticket`) and this instance's lease on the report."""

    def __init__(self, holds: Callable[[], bool]) -> None:
        super().__init__()
        self._holds = holds

    def may_commit(self) -> bool:
        return self._holds() and super().may_commit()


class Leases:
    def __init__(self, store: Store, *, lease_seconds: float = LEASE_SECONDS) -> None:
        self._store = store
        self.lease_seconds = lease_seconds
        self.renew_seconds = lease_seconds / 3  # two renewals may fail before a lease is in doubt
        self.margin_seconds = lease_seconds / 4  # clock drift, a commit, a send's start: stop acting this early
        self.lost_total = 0  # leases another instance took from this one (metrics)

    @property
    def shared(self) -> bool:
        return self._store.db.shared

    @contextlib.asynccontextmanager
    async def claim(self, now: str) -> AsyncIterator[Claim]:
        """The due reports, leased to this instance until the block ends (then released)."""
        started = time.monotonic()  # before the claim: the leases end after started + lease_seconds
        build, send = self._store.claim_due(now, lease_seconds=self.lease_seconds)
        if not self.shared or not (build or send):
            yield Claim(build, send)
            return
        claim = Claim(build, send, certain_until=started + self.lease_seconds - self.margin_seconds)
        renewal = asyncio.create_task(self._renew(claim))
        try:
            yield claim
        finally:
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)
            await self._release(claim.report_ids)

    async def _renew(self, claim: Claim) -> None:
        while True:
            await asyncio.sleep(self.renew_seconds)
            ids = claim.outstanding()
            if not ids:
                continue
            started = time.monotonic()
            try:
                kept = await asyncio.to_thread(self._store.renew, ids, lease_seconds=self.lease_seconds)
            except TransientError as exc:  # the leases run on; past certain_until the step stops acting
                event("lease.renew_failed", level=logging.WARNING, reports=len(ids), error=type(exc).__name__)
                continue
            claim.certain_until = started + self.lease_seconds - self.margin_seconds
            lost = set(ids) - kept
            if lost:
                claim.lost |= lost
                self.lost_total += len(lost)
                event("lease.lost", level=logging.WARNING, reports=len(lost), report_id=sorted(lost)[0])

    async def _release(self, report_ids: Iterable[str]) -> None:
        try:
            await asyncio.to_thread(self._store.release, list(report_ids))
        except TransientError as exc:  # they end by themselves within a lease
            event("lease.release_failed", level=logging.WARNING, error=type(exc).__name__)
