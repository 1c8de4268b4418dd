"""The validation gate: every document passes the official XSD and six schematrons before it leaves.

::

    with ValidationGate.open(mode=ValidationMode.FULL, kit=AnsKit.at(path)) as gate:
        gate.check(cda_bytes).raise_if_rejected(report_id=report_id)    # DocumentRejected

``check`` may be called from any number of threads (the service's build threads, the offline
build's): each call holds one worker process for ~50 ms, so with as many documents in flight as
workers every core validates. ``submit`` returns a future for callers that overlap the checks
themselves (asyncio: ``await asyncio.wrap_future(gate.submit(doc))``).

Outcomes, as the pipeline needs them:

- a verdict that passes → send;
- a verdict that fails → :class:`~connector.errors.DocumentRejected` (a PermanentError: quarantine)
  naming the schematron, the location, the result's codes and the assertion without values;
- the gate cannot give a verdict (a worker died or hung, the pool is closing) →
  :class:`~connector.errors.ValidationUnavailable` (a TransientError: retry later).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType

from lxml import etree

from connector.errors import DocumentRejected, KitError
from connector.logs import event

from .install import check_kit
from .kit import AnsKit, prepare_kit
from .pool import WorkerInfo, WorkerPool, default_workers
from .svrl import Failure
from .worker import Task
from .xsd import XsdValidator

__all__ = ["GateSettings", "GateStatus", "GateVerdict", "ValidationGate", "ValidationMode"]


class ValidationMode(StrEnum):
    """What the gate checks (proposed config key ``validation.mode``)."""

    FULL = "full"  # the XSD and the six ANS schematrons: the production default
    XSD = "xsd"  # the XSD only (≈1 ms): for tests and labs that run the schematrons elsewhere
    OFF = "off"  # nothing: logged at every start, shown by `connector status`


@dataclass(frozen=True, slots=True, kw_only=True)
class GateVerdict:
    mode: ValidationMode
    xsd_errors: tuple[str, ...] = ()
    failures: tuple[Failure, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.xsd_errors and not self.failures

    @property
    def problems(self) -> tuple[str, ...]:
        """One line per problem: ``xsd line N: …`` then ``schematron: location (codes): text``."""
        return tuple(f"xsd {e}" for e in self.xsd_errors) + tuple(str(f) for f in self.failures)

    def raise_if_rejected(self, *, report_id: str) -> None:
        """DocumentRejected naming the first problem (and how many more) unless the document passed."""
        if self.passed:
            return
        problems = self.problems
        what = "the XSD" if self.xsd_errors else f"the ANS schematron {self.failures[0].schematron}"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DocumentRejected(f"report {report_id}: CDA fails {what}: {problems[0]}{more}", problems=problems)


@dataclass(frozen=True, slots=True, kw_only=True)
class GateStatus:
    """What `connector status` shows about validation."""

    mode: ValidationMode
    kit: str  # the kit's folder, "" when validation is off
    kit_digest: str
    workers: tuple[WorkerInfo, ...] = ()
    reduced: bool = False  # test mode without a kit: nothing official runs (not configured off)


@dataclass(frozen=True, slots=True, kw_only=True)
class GateSettings:
    """The ``validation:`` section as the gate takes it (built in connector/config/settings.py)."""

    mode: ValidationMode
    kit: Path  # the configured kit, or <data_dir>/ans-kit where `connector kit install` puts it
    workers: int | None = None  # None: one per core
    required: bool = True  # production: no usable kit stops the start unless the mode is OFF

    @property
    def builds_in_workers(self) -> bool:
        """Builds go to worker processes when there are several, or when the schematrons need them anyway;
        one worker and no schematrons: building in the service's own process costs less (no round trip)."""
        return self.mode is ValidationMode.FULL or (self.workers or default_workers()) > 1


class ValidationGate:
    """XSD + schematrons on a worker pool (FULL), the XSD in this process (XSD), or nothing (OFF)."""

    def __init__(self, *, mode: ValidationMode, kit: AnsKit | None = None, workers: int | None = None,
                 work_dir: Path | None = None, check_timeout: float = 300.0, reduced: bool = False,
                 builds: bool = False) -> None:
        if mode is not ValidationMode.OFF and kit is None:
            raise KitError(f"validation mode {mode.value} needs the ANS kit (install it with `connector kit install`)")
        self.mode = mode
        self.kit = kit
        self.reduced = reduced
        self.builds = builds  # the workers also build (issue 16): started in every mode, OFF included
        self._workers = workers
        self._work_dir = work_dir
        self._check_timeout = check_timeout
        self._digest = ""
        self._xsd: XsdValidator | None = None
        self._pool: WorkerPool | None = None
        self._threads: ThreadPoolExecutor | None = None

    @classmethod
    def open(cls, *, mode: ValidationMode, kit: AnsKit | None = None, workers: int | None = None,
             work_dir: Path | None = None, check_timeout: float = 300.0, builds: bool = False,
             reduced: bool = False) -> ValidationGate:
        """A started gate: the kit checked and, in FULL mode, every worker compiled (≈15–40 s)."""
        gate = cls(mode=mode, kit=kit, workers=workers, work_dir=work_dir, check_timeout=check_timeout,
                   builds=builds, reduced=reduced)
        gate.start()
        return gate

    @classmethod
    def from_settings(cls, settings: GateSettings, *, work_dir: Path | None = None,
                      builds: bool = False) -> ValidationGate:
        """The gate the configuration asks for, started.

        No usable kit: a KitError naming the path and the two ways out, unless validation is
        configured off, or this is not production and no kit is there at all — then the gate
        runs reduced (nothing official is checked), said once by ``validation.reduced``.
        """
        if settings.mode is ValidationMode.OFF:
            return cls.open(mode=ValidationMode.OFF, workers=settings.workers, builds=builds)
        try:
            kit = AnsKit.at(settings.kit)
        except KitError as exc:
            if settings.required or settings.kit.exists():  # a kit that is there but broken is never ignored
                raise KitError(f"validation.mode is {settings.mode.value}: {exc.detail}; install the kit with "
                               "`connector kit install ZIP-or-DIR`, or set validation.mode: off (documents then "
                               "leave unchecked)",
                               path=str(settings.kit), key="validation.ans_kit") from None
            event("validation.reduced", kit=str(settings.kit), mode=settings.mode.value)
            return cls.open(mode=ValidationMode.OFF, reduced=True, workers=settings.workers, builds=builds)
        return cls.open(mode=settings.mode, kit=kit, workers=settings.workers, work_dir=work_dir, builds=builds)

    @property
    def runs_schematrons(self) -> bool:
        return self.mode is ValidationMode.FULL

    @property
    def xsd(self) -> XsdValidator | None:
        """The kit's XSD, compiled in this process (None when validation is off)."""
        return self._xsd

    @property
    def pool(self) -> WorkerPool | None:
        """The worker processes (FULL, or any mode when the gate also builds); None: checks in this process."""
        return self._pool

    def start(self) -> None:
        if self.mode is ValidationMode.OFF:
            if not self.reduced:
                event("validation.off", level=logging.WARNING)
            if self.builds:
                self._start_pool(None, None)
            return
        assert self.kit is not None
        self._digest = check_kit(self.kit.root, compile=False).digest  # complete; unchanged since installed
        self._xsd = XsdValidator(self.kit.xsd_path)
        if self.mode is ValidationMode.FULL:
            self._start_pool(prepare_kit(self.kit, work_dir=self._work_dir), None)
        elif self.builds:
            self._start_pool(None, self.kit.xsd_path)
        event("validation.started", mode=self.mode.value, kit_digest=self._digest[:16],
              workers=self._pool.size if self._pool else 0)

    def _start_pool(self, prepared: Path | None, xsd_path: Path | None) -> None:
        self._pool = WorkerPool(prepared, xsd_path=xsd_path, size=self._workers, check_timeout=self._check_timeout)
        self._pool.start()
        self._threads = ThreadPoolExecutor(max_workers=self._pool.size, thread_name_prefix="gate")

    def close(self) -> None:
        """Stop the workers (a document being checked is finished first), then the gate threads.

        The pool closes first: a thread still waiting for a free worker then fails at once
        (ValidationUnavailable) instead of keeping the shutdown waiting.
        """
        if self._pool is not None:
            self._pool.close()
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ValidationGate:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ checking

    def check(self, document: bytes) -> GateVerdict:
        """The verdict on one serialised CDA document (the very bytes that will be sent)."""
        if self.mode is ValidationMode.OFF:
            return GateVerdict(mode=self.mode)
        if self._pool is not None and self.mode is ValidationMode.FULL:
            result = self._pool.check(document)
            return GateVerdict(mode=self.mode, xsd_errors=result.xsd_errors, failures=result.failures)
        if self._xsd is None:
            raise KitError("the validation gate was not started")
        return GateVerdict(mode=self.mode, xsd_errors=tuple(self._xsd.errors(document)))

    def check_tree(self, root: etree._Element) -> GateVerdict:
        """The verdict on a built tree, serialised as ``connector.cda.serialize`` does."""
        return self.check(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))

    def submit(self, document: bytes) -> Future[GateVerdict]:
        """``check`` on a gate thread; the future raises what ``check`` would."""
        if self._threads is None:
            done: Future[GateVerdict] = Future()
            try:
                done.set_result(self.check(document))
            except Exception as exc:  # noqa: BLE001 - handed to the caller through the future
                done.set_exception(exc)
            return done
        return self._threads.submit(self.check, document)

    def submit_task(self, task: Task, *, timeout: float) -> Future[object]:
        """``task`` on a worker (a build, issue 16), from a gate thread: the future gives its reply."""
        if self._threads is None or self._pool is None:
            raise KitError("the gate has no worker processes (start it with builds=True)")
        pool = self._pool
        return self._threads.submit(lambda: pool.run(task, timeout=timeout))

    def check_many(self, documents: Iterable[bytes]) -> Iterator[GateVerdict]:
        """Verdicts in the order of ``documents``, every worker busy (the offline build, validate)."""
        futures = [self.submit(document) for document in documents]
        for future in futures:
            yield future.result()

    def status(self) -> GateStatus:
        workers = tuple(self._pool.workers()) if self._pool is not None else ()
        return GateStatus(mode=self.mode, kit=str(self.kit.root) if self.kit else "", kit_digest=self._digest,
                          workers=workers, reduced=self.reduced)
