"""A gate worker process: compiles the engine once, then checks documents sent over its pipe.

Messages (pickled by ``multiprocessing.Connection``), parent → worker: ``bytes`` (a document
to check), a :class:`Task` (a build: its reply is whatever it returns) or ``None`` (stop).
Worker → parent: a :class:`Ready` or :class:`Broken` once, then one reply per message: a
:class:`~connector.validation.engine.Check`, the task's reply, or :class:`Failed`. Nothing else
crosses the pipe; no patient data is ever logged here.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from connector.errors import ConnectorError
from connector.logs import where_raised

if TYPE_CHECKING:
    from connector.validation.engine import Engine

__all__ = ["Broken", "Failed", "Ready", "Task", "rss_mb", "serve"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Ready:
    pid: int
    compile_seconds: float
    rss_mb: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Broken:
    """The engine could not be built (the kit does not compile): the message names the kit file."""

    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Failed:
    """The engine raised on this document (a bug, not a verdict): the class name only, then retried."""

    error: str
    where: str = ""  # connector/…/x.py:LINE (function): names the code, never the message (it may quote input)


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process (this one by default), in MB; NaN where /proc is absent."""
    try:
        with open(f"/proc/{pid or 'self'}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _silence_standard_streams() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


@runtime_checkable
class Task(Protocol):
    """Work other than a check, sent to a worker (issue 16: the builds). Picklable; its class is imported
    in the worker when it is unpickled, so a stage above validation (the pipeline) can define it.

    ``run`` returns the reply (picklable). It must turn the errors it expects into values: anything it
    raises is a defect, reported to the caller by class name only (:class:`Failed`).
    """

    def run(self, engine: Engine) -> object: ...


def serve(conn: Connection, prepared_root: str | None, xsd_path: str | None = None) -> None:
    """The worker's main loop (the target of the ``spawn``-ed process).

    ``prepared_root``: the six schematrons are compiled (FULL); else ``xsd_path``: the XSD only;
    else no validation at all (a build worker with validation off or reduced).
    """
    from connector.validation.engine import GateEngine, LightEngine

    # Ctrl-C in a terminal reaches the whole process group: the parent stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Saxon prints dynamic errors on stderr, quoting the document ("("19790328", "19790328") is not
    # allowed…"); the service's stderr is its log. A worker reports through its pipe only.
    _silence_standard_streams()
    start = time.perf_counter()
    try:
        engine: Engine = (GateEngine(Path(prepared_root)) if prepared_root is not None
                          else LightEngine(Path(xsd_path) if xsd_path is not None else None))
    except ConnectorError as exc:
        conn.send(Broken(message=str(exc)))
        return
    conn.send(Ready(pid=os.getpid(), compile_seconds=time.perf_counter() - start, rss_mb=rss_mb()))
    while True:
        try:
            document = conn.recv()
        except (EOFError, OSError):  # the parent went away
            return
        if document is None:
            return
        try:
            reply: object = engine.check(document) if isinstance(document, bytes) else document.run(engine)
        except Exception as exc:  # noqa: BLE001 - the worker stays up; the parent raises a TransientError
            reply = Failed(error=type(exc).__name__, where=where_raised(exc))
        conn.send(reply)
