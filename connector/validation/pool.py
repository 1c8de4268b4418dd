"""The gate's worker processes: one per core, each with the schematrons compiled once.

Saxon runs one transformation per thread of a process, and a compiled StrucMin is large, so
the gate uses processes (``spawn``: a fresh interpreter, nothing inherited from the service)
that each compile the engine at start and then check one document at a time. A caller thread
takes an idle worker, sends the document and waits for its verdict.

A worker that dies or hangs costs only the document it held: that call raises
:class:`~connector.errors.ValidationUnavailable` (a TransientError: the report is retried) and
a replacement is started in the background while the other workers go on.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import queue
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from connector.errors import KitError, ValidationUnavailable
from connector.logs import event

from .engine import Check
from .worker import Broken, Failed, Ready, Task, rss_mb, serve

__all__ = ["WorkerInfo", "WorkerPool", "default_workers"]

RESTART_DELAYS = (1.0, 5.0, 30.0, 120.0)  # between failed restarts of a worker slot (then the last)


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerInfo:
    slot: int
    pid: int
    compile_seconds: float
    rss_mb: float  # now, read from /proc


@dataclass(slots=True)
class _Worker:
    slot: int
    process: BaseProcess
    conn: Connection
    ready: Ready | None = None


class _Lost(Exception):
    """The worker died, hung or closed its pipe while holding a document."""


class WorkerPool:
    """``size`` worker processes on a prepared kit; :meth:`check` may be called from many threads."""

    def __init__(self, prepared_root: Path | None, *, xsd_path: Path | None = None, size: int | None = None,
                 start_timeout: float = 900.0, check_timeout: float = 300.0) -> None:
        self._root = prepared_root  # None: workers without the schematrons (builds only, XSD at most)
        self._xsd_path = xsd_path
        self.size = size or default_workers()
        self._start_timeout = start_timeout
        # A check takes well under a second; the margin covers compiling an official stylesheet
        # on the fly (the engine's fallback, tens of seconds on a busy machine).
        self._check_timeout = check_timeout
        self._context = multiprocessing.get_context("spawn")
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._live: dict[int, _Worker] = {}  # slot → worker (idle, busy or starting)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._broken: set[int] = set()  # slots whose restart found the kit broken: not retried

    # ------------------------------------------------------------------ life

    def start(self) -> None:
        """Start every worker and wait until each has compiled (KitError if the kit does not)."""
        started = time.perf_counter()
        workers = [self._spawn(slot) for slot in range(self.size)]
        try:
            for worker in workers:
                self._await_ready(worker)
        except BaseException:
            self.close()
            raise
        for worker in workers:
            self._idle.put(worker)
        event("validation.pool_started", workers=self.size, seconds=round(time.perf_counter() - started, 1))

    def _spawn(self, slot: int) -> _Worker:
        parent, child = self._context.Pipe()
        root = str(self._root) if self._root is not None else None
        xsd = str(self._xsd_path) if self._xsd_path is not None else None
        process = self._context.Process(target=serve, args=(child, root, xsd),
                                        name=f"connector-gate-{slot}", daemon=True)
        process.start()
        child.close()
        worker = _Worker(slot, process, parent)
        with self._lock:
            self._live[slot] = worker
        return worker

    def _await_ready(self, worker: _Worker) -> None:
        try:
            reply = self._receive(worker, self._start_timeout)
        except _Lost:
            self._stop(worker)
            raise ValidationUnavailable(f"validation worker {worker.slot} stopped while compiling the schematrons "
                                        f"(exit code {worker.process.exitcode})") from None
        if isinstance(reply, Broken):
            self._stop(worker)
            raise KitError(reply.message)
        if not isinstance(reply, Ready):
            self._stop(worker)
            raise ValidationUnavailable(f"validation worker {worker.slot} answered out of turn at start")
        worker.ready = reply
        event("validation.worker_ready", slot=worker.slot, pid=reply.pid,
              seconds=round(reply.compile_seconds, 1), rss_mb=round(reply.rss_mb))

    def close(self, timeout: float = 10.0) -> None:
        """Stop every worker: idle ones at once, busy ones when their document is done (or ``timeout``)."""
        self._closed.set()
        while True:
            try:
                self._retire(self._idle.get_nowait())
            except queue.Empty:
                break
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # busy workers are retired by their caller (_give_back)
            with self._lock:
                if not self._live:
                    return
            time.sleep(0.05)
        with self._lock:
            workers = list(self._live.values())
        for worker in workers:
            self._stop(worker)

    def _retire(self, worker: _Worker) -> None:
        """Ask an idle worker to stop (it is between documents), then make sure it did."""
        try:
            worker.conn.send(None)
            worker.process.join(5)
        except OSError:
            pass
        self._stop(worker)

    def _stop(self, worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(5)
        worker.conn.close()
        with self._lock:
            if self._live.get(worker.slot) is worker:
                del self._live[worker.slot]

    # ------------------------------------------------------------------ checking

    def check(self, document: bytes, *, wait: float | None = None) -> Check:
        """The verdict of one worker on ``document``; ValidationUnavailable if the pool cannot give one."""
        reply = self._call(document, wait=wait, timeout=self._check_timeout)
        if isinstance(reply, Failed):
            raise ValidationUnavailable(f"a validation worker raised {reply.error} at {reply.where}")
        if not isinstance(reply, Check):
            raise ValidationUnavailable("a validation worker answered out of turn")
        return reply

    def run(self, task: Task, *, timeout: float, wait: float | None = None) -> object:
        """What ``task.run(engine)`` returned in a worker (a :class:`Failed` for a defect it raised).

        Past ``timeout`` the worker is killed (its CPU freed; a build past its budget) and replaced:
        ValidationUnavailable, as for a worker that died.
        """
        return self._call(task, wait=wait, timeout=timeout)

    def _call(self, message: bytes | Task, *, wait: float | None, timeout: float) -> object:
        worker = self._take(self._start_timeout if wait is None else wait)
        try:
            worker.conn.send(message)
            reply = self._receive(worker, timeout)
        except (_Lost, OSError):
            self._lose(worker)
            raise ValidationUnavailable(f"worker {worker.slot} stopped or timed out while holding a document; "
                                        "it is being restarted and the report will be tried again") from None
        self._give_back(worker)
        return reply

    def _take(self, wait: float) -> _Worker:
        deadline = time.monotonic() + wait
        while True:
            if self._closed.is_set():
                raise ValidationUnavailable("the validation gate is closed")
            if len(self._broken) == self.size:
                raise ValidationUnavailable("no validation worker can start: see the validation.worker_broken event")
            try:
                worker = self._idle.get(timeout=min(1.0, max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    raise ValidationUnavailable("no validation worker became free in time") from None
                continue
            if worker.process.is_alive():
                return worker
            self._lose(worker)  # died while idle (OOM killer, an operator's kill): replaced, no report pays for it

    def _receive(self, worker: _Worker, timeout: float) -> object:
        deadline = time.monotonic() + timeout
        while not worker.conn.poll(0.2):
            if not worker.process.is_alive() or time.monotonic() > deadline:
                raise _Lost
        try:
            return worker.conn.recv()
        except (EOFError, OSError):
            raise _Lost from None

    def _give_back(self, worker: _Worker) -> None:
        if self._closed.is_set():
            self._retire(worker)
        else:
            self._idle.put(worker)

    def _lose(self, worker: _Worker) -> None:
        exitcode = worker.process.exitcode
        self._stop(worker)
        event("validation.worker_lost", level=logging.WARNING, slot=worker.slot,
              pid=worker.ready.pid if worker.ready else None, exit_code=exitcode)
        if not self._closed.is_set():
            threading.Thread(target=self._restart, args=(worker.slot,), name=f"gate-restart-{worker.slot}",
                             daemon=True).start()

    def _restart(self, slot: int) -> None:
        for attempt in itertools.count():
            if self._closed.is_set():
                return
            worker = self._spawn(slot)
            try:
                self._await_ready(worker)
            except KitError as exc:
                self._broken.add(slot)
                event("validation.worker_broken", level=logging.ERROR, slot=slot, reason=str(exc))
                return
            except ValidationUnavailable:
                self._closed.wait(RESTART_DELAYS[min(attempt, len(RESTART_DELAYS) - 1)])
                continue
            self._give_back(worker)
            return

    # ------------------------------------------------------------------ status

    def workers(self) -> list[WorkerInfo]:
        """The workers that have compiled, with their memory now."""
        with self._lock:
            ready = [w for w in self._live.values() if w.ready is not None]
        return [WorkerInfo(slot=w.slot, pid=w.ready.pid, compile_seconds=w.ready.compile_seconds,
                           rss_mb=rss_mb(w.ready.pid)) for w in ready if w.ready is not None]
