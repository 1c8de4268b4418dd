"""The DMP queue: the service's loop that feeds the patient's DMP, beside (never in the way of) MSSanté.

One feed at a time in a worker thread (the client blocks on HTTPS and signs with RSA); the
client's rate limiter keeps the structure under the DMP's 5 transactions a second. A feed whose
cause is ours (``stops_queue``: a certificate refused, TLS) pauses the whole queue: no other
document can succeed until a person fixes it, so nothing is sent and nothing is counted against
the documents' retries; ``dmp.paused`` says why, the queue probes again every
:data:`PAUSE_SECONDS` (a renewed certificate file is picked up at the next connection) and
``dmp.resumed`` says when it goes again.

The worker is a daemon thread, not the event loop's executor: SIGTERM must not wait for a DMP
answer (up to ``dmp.read_timeout``). A feed cut there is in the store as SENDING, and TD3.1b
settles it at the next start before anything is resent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from connector.logs import event
from connector.pipeline import Pipeline

from .metrics import Metrics

__all__ = ["IDLE_SECONDS", "PAUSE_SECONDS", "DmpQueue"]

IDLE_SECONDS = 1.0  # a report built now is fed within a second
PAUSE_SECONDS = 300.0  # a paused queue tries one document again after this long
T = TypeVar("T")


async def in_daemon_thread(fn: Callable[[], T]) -> T:
    """``fn()`` in a daemon thread; the result (or its exception) comes back to the event loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(result: T | None, error: BaseException | None) -> None:
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine, which decides
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (the service stopped)
                loop.call_soon_threadsafe(deliver, None, exc)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(deliver, result, None)

    threading.Thread(target=work, name="dmp-feed", daemon=True).start()
    return await future


class DmpQueue:
    def __init__(self, pipeline: Pipeline, metrics: Metrics, *, store_lost: Callable[[], bool]) -> None:
        self.pipeline = pipeline
        self.metrics = metrics
        self.store_lost = store_lost
        self.paused = ""  # why, while the queue is paused

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            fed = 0
            if not self.store_lost():
                try:
                    fed = await self._feed_due(stop)
                except Exception as exc:  # noqa: BLE001 - a bug must not stop the feed for good; the store kept the state
                    event("pipeline.error", level=logging.ERROR, error=type(exc).__name__, stage="dmp")
            if fed and not self.paused:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PAUSE_SECONDS if self.paused else IDLE_SECONDS)

    async def _feed_due(self, stop: asyncio.Event) -> int:
        fed = 0
        for row in await in_daemon_thread(self.pipeline.dmp_due):
            if stop.is_set():
                break
            outcome = await in_daemon_thread(lambda row=row: self.pipeline.feed_dmp(row))  # type: ignore[misc]
            fed += 1
            if outcome.pause:
                self._pause(outcome.pause, outcome.code)
                break
            if self.paused:
                self._resume()
        return fed

    def _pause(self, reason: str, code: str) -> None:
        if not self.paused:
            event("dmp.paused", level=logging.ERROR, code=code, reason=reason, retry_seconds=PAUSE_SECONDS)
        self.paused = reason
        self.metrics.dmp_paused.set(1)

    def _resume(self) -> None:
        event("dmp.resumed")
        self.paused = ""
        self.metrics.dmp_paused.set(0)
