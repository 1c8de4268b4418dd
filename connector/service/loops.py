"""`connector run`: the long-running service.

Loops, each small and restartable:
- intake: the drop folder (watchdog + periodic rescan) and the MLLP listener hand inputs
  to the pipeline, which commits them before anything is acknowledged or moved;
- work: every due report moves one step (build, send, retry) — woken by intake or a timer;
- acks: the lab mailbox is read over IMAP; acks are applied, committed, then moved;
- outbox: ZAMs go to the SIL;
- dmp: reports addressed to the patient's DMP are fed, one at a time (dmp_loop.py), when dmp.enabled;
- reload: mapping files and the configuration file are re-read when they change (a broken
  one is refused with its line-numbered message and the last good one stays in use).

SIGTERM/SIGINT: stop taking input, finish the step in progress, close connections.
Whatever was in flight is in the store and resumes at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.config import Config
from connector.config.settings import folder_settings, imap_settings, mllp_settings
from connector.errors import ConfigError, InputError, TransientError
from connector.intake import DropFolder, MllpServer, Receipt
from connector.logs import configure, event, where_raised

from .dmp_loop import DmpQueue
from .group import InstanceGroup, join_group
from .metrics import Metrics, MetricsServer
from .readiness import Readiness
from .reload import ConfigWatcher
from .runtime import Runtime, open_runtime
from .tracking import deliver_outbox_once, read_acks_once

__all__ = ["serve"]

# Idle polling: short enough that a report dropped between two watchdog events still leaves in a second.
WORK_INTERVAL_SECONDS = 1.0
RELOAD_INTERVAL_SECONDS = 5.0
STORE_LOST_PAUSE_SECONDS = 5.0  # the store file was deleted or replaced: no step can commit
STORE_DOWN_PAUSE_SECONDS = 2.0  # the store does not answer (PostgreSQL restarting): tried again this often
# An input committed but left unsplit (the store failed between intake's two commits) is split again by a
# pass this often, once it is this old: younger ones may be being split right now, here or elsewhere.
RECOVER_SECONDS = 60.0
RECOVER_AGE_SECONDS = 60.0


def serve(config: Config, *, config_path: Path | None = None) -> int:
    configure()
    check_imap(config)  # like SMTP, at start: not as an unexplained error at every poll
    runtime = open_runtime(config)
    try:
        group = join_group(runtime)  # a shared store: this instance's name taken, its heartbeat begun
    except BaseException:
        runtime.close()
        raise
    durability: dict[str, Any] = runtime.store.db.durability  # PRAGMA names: never event()'s `level`
    event("service.started", mode=config.mode, store=runtime.store.db.where, instance=runtime.store.instance,
          mappings_version=runtime.mappings().version, **durability)
    try:
        # Alone on the store everything unsplit is ours; shared, the youngest may be another instance's now.
        recovered = runtime.pipeline.recover(received_before=recovery_cutoff() if group else "")
        if recovered:
            event("service.recovered", inputs=recovered)
        asyncio.run(Service(runtime, config_path=config_path, group=group).run())
    except Exception as exc:  # noqa: BLE001 - the last line: the class and where, never the text (it may quote input)
        event("service.crashed", level=logging.CRITICAL, error=type(exc).__name__, where=where_raised(exc))
        return 3
    finally:
        if group is not None:
            group.leave()
        runtime.close()
        event("service.stopped")
    return 0


def check_imap(config: Config) -> None:
    """The IMAP side's files, secret and TLS context, built once at start (ConfigError naming the key)."""
    if config.imap.enabled:
        from connector.send import create_ssl_context

        create_ssl_context(imap_settings(config).tls, production=config.production)


def recovery_cutoff() -> str:
    return (datetime.now(UTC) - timedelta(seconds=RECOVER_AGE_SECONDS)).isoformat(timespec="milliseconds")


class Service:
    def __init__(self, runtime: Runtime, *, config_path: Path | None = None,
                 group: InstanceGroup | None = None) -> None:
        self.runtime = runtime
        self.group = group
        self.config = runtime.config
        self.reloader = ConfigWatcher(runtime, config_path)
        self.stop = asyncio.Event()
        self.wake = asyncio.Event()
        self.metrics = Metrics(runtime.store)
        runtime.pipeline.observe(self.metrics)
        if group is not None:
            self.metrics.registry.register(group.collector())
        self._alive = False
        self._folder: DropFolder | None = None
        self.intake_problem = ""  # why the last input could not be committed; "" once one is again
        self.readiness = Readiness(runtime.store, running=lambda: self._alive and not self.stop.is_set(),
                                   intake_problem=lambda: self.intake_problem or (
                                       "the drop folder is waiting for the store"
                                       if self._folder is not None and self._folder.store_down else ""))

    def _ready(self) -> bool:
        return not self.readiness.problem()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        config = self.config
        folder = None
        if config.intake.folder.enabled:
            folder = DropFolder(folder_settings(config), _WakingSink(self))
            folder.start()
            self._folder = folder
        mllp = None
        if config.intake.mllp.enabled:
            mllp = MllpServer(mllp_settings(config), _WakingSink(self),
                              ack_app=config.sil.ack_application, ack_facility=config.sil.ack_facility)
            await mllp.start()
            event("mllp.listening", port=mllp.port)
        http = None
        if config.metrics.enabled:
            http = MetricsServer(self.metrics, host=config.metrics.host, port=config.metrics.port,
                                 ready=self._ready, why_not=self.readiness.problem)
            http.start()
            event("metrics.listening", port=http.port)
        self._alive = True
        tasks = [asyncio.create_task(self._work()), asyncio.create_task(self._reload()),
                 asyncio.create_task(self._recover())]
        if self.group is not None:
            tasks.append(asyncio.create_task(self.group.heartbeat(self.stop)))
            self.group.listen(self.wake)
        if config.imap.enabled:
            tasks.append(asyncio.create_task(self._acks()))
        if config.sil.zam_folder or config.sil.zam_host:
            tasks.append(asyncio.create_task(self._outbox()))
        if self.runtime.pipeline.feeds_dmp:
            dmp = DmpQueue(self.runtime.pipeline, self.metrics, store_lost=lambda: self.runtime.store.db.lost)
            tasks.append(asyncio.create_task(dmp.run(self.stop)))
        await self.stop.wait()
        event("service.stopping")
        if mllp is not None:
            await mllp.stop()
        if folder is not None:
            folder.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.runtime.pipeline.close()
        if http is not None:
            http.stop()

    async def _work(self) -> None:
        pipeline = self.runtime.pipeline
        store_down = False
        while not self.stop.is_set():
            if self.runtime.store.db.lost:  # nothing can commit until a restart: said once (store.lost)
                await self._sleep(STORE_LOST_PAUSE_SECONDS)
                continue
            try:
                outcomes = await pipeline.step()
                if store_down:
                    event("pipeline.store_back")
                store_down = False
            except TransientError as exc:  # the store does not answer: every committed state waits for it
                if not store_down:  # once per outage
                    event("pipeline.store_unavailable", level=logging.WARNING, error=type(exc).__name__)
                store_down = True
                await self._sleep(STORE_DOWN_PAUSE_SECONDS)
                continue
            except Exception as exc:  # noqa: BLE001 - a bug in one step must not stop the service; the store kept the state
                event("pipeline.error", level=logging.ERROR, error=type(exc).__name__)
                outcomes = []
            if outcomes:
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), WORK_INTERVAL_SECONDS)

    async def _reload(self) -> None:
        while not self.stop.is_set():
            await asyncio.sleep(RELOAD_INTERVAL_SECONDS)
            if await asyncio.to_thread(self.reloader.reload_if_changed):
                self.config = self.runtime.config
                self.wake.set()
            if await asyncio.to_thread(self.runtime.mappings.reload_if_changed):
                self.wake.set()

    async def _recover(self) -> None:
        """Inputs left unsplit while the service runs (see :data:`RECOVER_SECONDS`); alone on SQLite, only
        after this process left one (no query otherwise: the store's inputs are not scanned for nothing)."""
        pipeline = self.runtime.pipeline
        while not self.stop.is_set():
            await self._sleep(RECOVER_SECONDS)
            if self.stop.is_set() or not (self.group is not None or pipeline.left_unsplit):
                continue
            try:
                recovered = await asyncio.to_thread(pipeline.recover, received_before=recovery_cutoff())
            except TransientError:
                continue  # the store is down: the work loop says so
            if recovered:
                event("service.recovered", inputs=recovered)
                self.wake.set()

    async def _acks(self) -> None:
        while not self.stop.is_set():
            # One poller in the group: the holder of its lock.
            if self.group is not None and not await asyncio.to_thread(self.group.poller_turn):
                await self._sleep(self.config.imap.poll_seconds)
                continue
            try:
                handled = await asyncio.to_thread(read_acks_once, self.runtime)
                if handled:
                    event("acks.read", mails=handled)
            except TransientError as exc:
                self.metrics.imap_errors.labels(kind=type(exc).__name__).inc()
                event("imap.error", level=logging.WARNING, error=type(exc).__name__, reason=str(exc))
            except ConfigError as exc:  # a file changed under us (key, CA): its message names it and is safe
                self.metrics.imap_errors.labels(kind=type(exc).__name__).inc()
                event("acks.error", level=logging.ERROR, error=type(exc).__name__, reason=str(exc))
            except Exception as exc:  # noqa: BLE001 - a bug must not stop ack reading for good; the store kept its state
                self.metrics.imap_errors.labels(kind=type(exc).__name__).inc()
                event("acks.error", level=logging.ERROR, error=type(exc).__name__, where=where_raised(exc))
            await self._sleep(self.config.imap.poll_seconds)

    async def _outbox(self) -> None:
        while not self.stop.is_set():
            try:
                await asyncio.to_thread(deliver_outbox_once, self.runtime)
            except TransientError as exc:
                event("sil.error", level=logging.WARNING, error=type(exc).__name__, reason=str(exc))
            except Exception as exc:  # noqa: BLE001 - as above: keep the loop alive, say what broke
                event("sil.error", level=logging.ERROR, error=type(exc).__name__)
            await self._sleep(WORK_INTERVAL_SECONDS * 5)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)


class _WakingSink:
    """The pipeline as the intake's Sink, waking the work loop after each input."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.pipeline = service.runtime.pipeline
        self.loop = asyncio.get_running_loop()

    def receive(self, data: bytes, *, source: str, dedup_key: tuple[str, str, str] | None = None) -> Receipt:
        try:
            receipt = self.pipeline.receive(data, source=source, dedup_key=dedup_key)
        except TransientError as exc:  # readiness: intake cannot commit until an input commits again
            self.service.intake_problem = str(exc)
            raise
        self.service.intake_problem = ""
        self.loop.call_soon_threadsafe(self.service.wake.set)
        return receipt

    def remember_ack(self, input_id: int, ack: bytes) -> bytes | None:
        return self.pipeline.remember_ack(input_id, ack)

    def refuse(self, data: bytes, *, source: str, error: InputError) -> Receipt:
        receipt = self.pipeline.refuse(data, source=source, error=error)
        self.loop.call_soon_threadsafe(self.service.wake.set)
        return receipt

    def supersede(self, receipt: Receipt, *, reason: str) -> None:
        self.pipeline.supersede(receipt, reason=reason)
