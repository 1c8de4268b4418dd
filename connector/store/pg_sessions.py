"""PostgreSQL sessions of their own, outside the pool: the wake-up listener and the singleton lock.

Both keep state in their session (LISTEN, a session advisory lock), so each holds one connection for
as long as it is used; the pool's connections are shared between threads and could hold neither.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import psycopg

from connector.store.backend import Channel

__all__ = ["UNAVAILABLE", "PgListener", "PgSingleton"]

UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError)  # a lost server or link; includes PoolTimeout


def _session(conninfo: str) -> psycopg.Connection[Any]:
    return psycopg.Connection.connect(conninfo, autocommit=True)


class PgListener:
    """LISTEN on a connection of its own; a broken link is reopened at the next wait."""

    def __init__(self, conninfo: str, channel: Channel) -> None:
        self._conninfo = conninfo
        self.channel = channel
        self._conn: psycopg.Connection[Any] | None = None

    def _connected(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = _session(self._conninfo)
            self._conn.execute(f"LISTEN {self.channel.value}")  # an enum value: never input
        return self._conn

    def wait(self, timeout: float) -> bool:
        try:
            conn = self._connected()
        except UNAVAILABLE:
            time.sleep(timeout)  # the store is down: the caller's own poll will say so
            return False
        try:
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                return True
            return False
        except UNAVAILABLE:
            self.close()
            return True  # notifications may have been missed while the link was down: poll now

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PgSingleton:
    """A session advisory lock on a connection of its own: it dies with the process holding it.

    A SIGKILLed holder's connection closes, the server drops the lock, another instance takes over.
    """

    def __init__(self, conninfo: str, key: int) -> None:
        self._conninfo = conninfo
        self._key = key
        self._conn: psycopg.Connection[Any] | None = None
        self._locked = False

    def acquire(self) -> bool:
        if self.held():
            return True
        try:
            if self._conn is None or self._conn.closed:
                self._conn = _session(self._conninfo)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        except UNAVAILABLE:
            self._drop()
            return False
        if row is None or not row[0]:
            return False
        self._locked = True
        return True

    def held(self) -> bool:
        if self._conn is None or self._conn.closed or not self._locked:
            return False
        try:
            self._conn.execute("SELECT 1")
        except UNAVAILABLE:
            self._drop()  # the server restarted or the link broke: the lock went with the session
            return False
        return True

    def _drop(self) -> None:
        self._locked = False
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def release(self) -> None:
        if self._conn is not None and not self._conn.closed and self._locked:
            with contextlib.suppress(*UNAVAILABLE):  # the session is gone, and the lock with it
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        self._drop()
