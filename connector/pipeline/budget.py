"""A time budget per build: past it the report is held with a reason and the pipeline moves on.

Why (issue 13): one report whose build took minutes made every later report wait, and the
service ignored SIGTERM for as long. The size limits per value (:mod:`.bounds`) and linear
layout keep a build within seconds; the budget is the backstop for what they do not foresee.

How: each build runs in a daemon thread of its own. The event loop waits for it at most
``seconds``; then the build is *abandoned*: the thread may run on (a CPU-bound Python
function cannot be interrupted), but it commits nothing, and a daemon thread never delays
the process's exit, so SIGTERM is honoured at once. A :class:`Ticket` decides, under a lock,
which of the two comes first, the build's own commit or the abandonment: never both.
(A build in a worker process that is killed at the budget would also free the CPU; issue 16
moves builds to processes for throughput, and can take this contract with it.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from connector.logs import event

__all__ = ["BuildBudget", "Ticket"]

T = TypeVar("T")


class Ticket:
    """One build's right to commit its outcome: taken by the build, or withdrawn at the budget."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = "running"

    def may_commit(self) -> bool:
        """Called by the build just before it commits; False once the pipeline has abandoned it."""
        with self._lock:
            if self._state == "abandoned":
                return False
            self._state = "committing"
            return True

    def abandon(self) -> bool:
        """Called at the budget; False when the build is already committing (it is then waited for)."""
        with self._lock:
            if self._state == "committing":
                return False
            self._state = "abandoned"
            return True


class BuildBudget:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running_abandoned = 0  # builds past their budget whose thread has not ended yet

    async def run(self, build: Callable[[Ticket], T], *, seconds: float, report_id: str,
                  ticket: Ticket | None = None) -> T | None:
        """``build(ticket)`` in its own thread; its result, or None when it was abandoned at ``seconds``.

        ``ticket``: one that also asks something else before the build commits (the instance's lease)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        ticket = ticket if ticket is not None else Ticket()
        abandoned = threading.Event()

        def settle(outcome: Callable[[], None]) -> None:
            if not done.done():
                outcome()

        def hand_over(outcome: Callable[[], None]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the service stopped meanwhile
                loop.call_soon_threadsafe(settle, outcome)

        def target() -> None:
            try:
                result = build(ticket)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting loop as is
                hand_over(functools.partial(done.set_exception, exc))
            else:
                hand_over(lambda: done.set_result(result))
            finally:
                if abandoned.is_set():
                    with self._lock:
                        self.running_abandoned -= 1
                    event("build.abandoned_ended", report_id=report_id)

        threading.Thread(target=target, name=f"build {report_id}", daemon=True).start()
        try:
            return await asyncio.wait_for(asyncio.shield(done), seconds)
        except TimeoutError:
            if not ticket.abandon():
                return await done  # it was committing at that very instant: its outcome stands
            with self._lock:
                self.running_abandoned += 1
            abandoned.set()
            event("build.over_budget", level=logging.ERROR, report_id=report_id, seconds=seconds,
                  still_running=self.running_abandoned)
            return None
        except asyncio.CancelledError:  # the service is stopping: the build must not commit behind its back
            ticket.abandon()
            raise
