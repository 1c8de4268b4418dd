"""This instance among the instances sharing one PostgreSQL store: its name, heartbeat, wake-ups, IMAP turn.

- **The name** (``instance.name``, default ``<host>-<pid>``) is unique while the instance runs: it
  holds a lock of that name (an advisory lock on a session of its own, dropped by the server when
  the process dies). A second process started with the name of a live instance is refused at
  start: two processes sharing one name would share leases, and could send one report at once.
  After a host crash the server may keep the dead session, and its lock, until TCP keepalives end
  it (hours by default): a name whose lock is held but whose heartbeat stopped is taken anyway.
- **Heartbeat**: the ``instances`` row's ``seen_at`` every :data:`HEARTBEAT_SECONDS`, for
  `connector status` and the metrics of the group; rows silent for a day are forgotten.
- **Wake-ups**: a thread LISTENs for work committed by any instance (an input split, an operator
  retry) and wakes the idle work loop at once rather than at its next poll.
- **The IMAP poller** runs in one instance at a time: the one holding the ``imap`` lock. When it
  dies, its session ends, the lock is free, and another instance takes it at its next turn; the
  mailbox cursor is in the store, so it carries on from there.

On SQLite (one process) there is no group: :func:`join_group` returns None and nothing here runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from connector.errors import ConfigError, TransientError
from connector.logs import event
from connector.store import HEARTBEAT_SECONDS, Channel, Singleton, Store

from .runtime import Runtime

__all__ = ["InstanceGroup", "join_group"]

NAME_LOCK_SECONDS = 5.0  # a SIGKILLed predecessor's session takes a moment to end on the server
FORGET_AFTER_SECONDS = 86_400.0  # instances silent for a day leave `connector status`
FORGET_EVERY = 720  # heartbeats between two clean-ups (an hour)
LISTEN_WAIT_SECONDS = 1.0  # how long the listener thread waits per turn (and so, to notice a stop)
POLLER_LOCK = "imap"


def join_group(runtime: Runtime) -> InstanceGroup | None:
    """On a shared store: take this instance's name, say it is alive. None on SQLite."""
    if not runtime.store.db.shared:
        return None
    group = InstanceGroup(runtime)
    group.join()
    return group


class InstanceGroup:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store: Store = runtime.store
        self.name = self.store.instance
        self._name_lock: Singleton = self.store.singleton(f"instance:{self.name}")
        self._poller: Singleton = self.store.singleton(POLLER_LOCK)
        self.polling = False  # this instance holds the IMAP poller's lock (as of its last turn)
        self._stop_listening = threading.Event()
        self._listener_thread: threading.Thread | None = None

    # ------------------------------------------------------------------ membership

    def join(self) -> None:
        deadline = time.monotonic() + NAME_LOCK_SECONDS
        while not self._name_lock.acquire():
            if time.monotonic() > deadline:
                self._lingering_name()
                break
            time.sleep(0.5)
        self.store.register_instance()
        event("instance.joined", instance=self.name, alive=len([i for i in self.store.instances() if i.alive]))

    def _lingering_name(self) -> None:
        """The name's lock is held: by a live instance (refused), or by the session of a dead one."""
        if any(row.instance_id == self.name and row.alive for row in self.store.instances()):
            raise ConfigError(f"instance {self.name} is already running on this store: give each instance its own "
                              "instance.name (or leave it empty: <host>-<pid>)", key="instance.name")
        # Its heartbeat stopped: a session the server has not closed yet (a host that crashed). Taken at a
        # later heartbeat, once the server lets it go.
        event("instance.name_lock_lingering", level=logging.WARNING, instance=self.name)

    def leave(self) -> None:
        """A clean stop: leases given back at once, the row removed, the locks released."""
        self._stop_listening.set()
        if self._listener_thread is not None:
            self._listener_thread.join(LISTEN_WAIT_SECONDS * 5)
        try:
            self.store.deregister_instance()
        except TransientError as exc:  # the leases end by themselves; the row is forgotten later
            event("instance.leave_failed", level=logging.WARNING, instance=self.name, error=type(exc).__name__)
        self._poller.release()
        self._name_lock.release()
        event("instance.left", instance=self.name)

    async def heartbeat(self, stop: asyncio.Event) -> None:
        beats, failing = 0, False
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT_SECONDS)
            if stop.is_set():
                return
            beats += 1
            try:
                await asyncio.to_thread(self._beat)
                if beats % FORGET_EVERY == 0:
                    forgotten = await asyncio.to_thread(self.store.forget_instances,
                                                        silent_seconds=FORGET_AFTER_SECONDS)
                    if forgotten:
                        event("instance.forgotten", instances=forgotten)
            except TransientError as exc:
                if not failing:  # once per outage
                    event("instance.heartbeat_failed", level=logging.WARNING, instance=self.name,
                          error=type(exc).__name__)
                failing = True
                continue
            if failing:
                event("instance.heartbeat_resumed", instance=self.name)
            failing = False

    def _beat(self) -> None:
        self.store.heartbeat()
        self._name_lock.acquire()  # held: one round trip; lost with a server restart: taken again

    # ------------------------------------------------------------------ wake-ups

    def listen(self, wake: asyncio.Event) -> None:
        """Wake the work loop when any instance commits work (a thread on a session of its own)."""
        loop = asyncio.get_running_loop()

        def run() -> None:
            listener = self.store.listener(Channel.WORK)
            try:
                while not self._stop_listening.is_set():
                    if listener.wait(LISTEN_WAIT_SECONDS):
                        with contextlib.suppress(RuntimeError):  # the loop closed: the service is stopping
                            loop.call_soon_threadsafe(wake.set)
            finally:
                listener.close()

        self._listener_thread = threading.Thread(target=run, name="store-listener", daemon=True)
        self._listener_thread.start()

    # ------------------------------------------------------------------ the IMAP poller

    def poller_turn(self) -> bool:
        """True when this instance is the IMAP poller now (blocking: call from a thread)."""
        holds = self._poller.acquire()
        if holds != self.polling:
            event("imap.poller_taken" if holds else "imap.poller_lost", level=logging.INFO if holds else
                  logging.WARNING, instance=self.name)
        self.polling = holds
        return holds

    # ------------------------------------------------------------------ metrics

    def collector(self) -> Collector:
        return _GroupCollector(self)


class _GroupCollector(Collector):
    """Read at scrape time from the store: the group as the database sees it, and this instance's part.

    Labels name instances (``connector_instance``: ``instance`` is Prometheus's own target label),
    never a report or a patient."""

    def __init__(self, group: InstanceGroup) -> None:
        self.group = group

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        store, me = self.group.store, self.group.name
        info = GaugeMetricFamily("connector_instance_info", "This instance's name in the group",
                                 labels=["connector_instance"])
        info.add_metric([me], 1)
        yield info
        yield GaugeMetricFamily("connector_imap_poller", "1 when this instance is the group's IMAP poller",
                                value=1 if self.group.polling else 0)
        lost = CounterMetricFamily("connector_leases_lost", "Leases another instance took from this one")
        lost.add_metric([], self.group.runtime.pipeline.leases.lost_total)
        yield lost
        try:
            rows, leases = store.instances(), store.leases()
        except TransientError:
            return  # the store is down: readiness says so; the group's gauges are absent meanwhile
        by_state = GaugeMetricFamily("connector_group_instances", "Instances of the group by state",
                                     labels=["state"])
        by_state.add_metric(["alive"], sum(r.alive for r in rows))
        by_state.add_metric(["silent"], sum(not r.alive for r in rows))
        yield by_state
        seen = GaugeMetricFamily("connector_group_heartbeat_age_seconds", "Seconds since each instance's heartbeat",
                                 labels=["connector_instance"])
        held = GaugeMetricFamily("connector_group_leases", "Reports leased to each instance now",
                                 labels=["connector_instance"])
        for row in rows:
            seen.add_metric([row.instance_id], row.seen_seconds_ago)
            held.add_metric([row.instance_id], leases.get(row.instance_id, 0))
        yield seen
        yield held
