"""The embedded engine: :class:`connector.store.db.Database` (one SQLite file, WAL, synchronous=FULL) as a Backend.

One process writes the file, one transaction at a time (``BEGIN IMMEDIATE``): row locks, claims
and advisory locks have nothing to add, so they are no-ops here, and wake-ups and the singleton
lock stay inside the process.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.errors import ConfigError
from connector.store.backend import Channel, Engine, Tx
from connector.store.db import Database

__all__ = ["SqliteBackend"]

_SINGLETONS: dict[tuple[str, str], threading.Lock] = {}
_SINGLETONS_GUARD = threading.Lock()


class SqliteBackend(Database):
    engine = Engine.SQLITE
    shared = False
    for_update = ""
    skip_locked = ""
    # julianday('now') has millisecond resolution; 2440587.5 is 1970-01-01 as a Julian day.
    epoch_now = "((julianday('now') - 2440587.5) * 86400.0)"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._listeners: dict[Channel, set[_LocalListener]] = {c: set() for c in Channel}
        self._listeners_guard = threading.Lock()

    @property
    def where(self) -> str:
        return str(self.path)

    def lock_key(self, c: Tx, namespace: str, key: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already made this the only writer."""

    def stream(self, c: Tx, sql: str, size: int) -> Iterator[Any]:
        cursor = c.execute(sql)  # SQLite steps through the result as it is fetched
        while chunk := cursor.fetchmany(size):
            yield from chunk

    def sync_identity(self, c: Tx, table: str, column: str) -> None:
        """Nothing to do: an INTEGER PRIMARY KEY is the rowid, the next one is always past the largest."""

    def notify(self, c: Tx, channel: Channel) -> None:
        # The woken loop's next read waits for our commit on the shared connection's lock.
        with self._listeners_guard:
            listeners = list(self._listeners[channel])
        for listener in listeners:
            listener.event.set()

    def listener(self, channel: Channel) -> _LocalListener:
        listener = _LocalListener(self, channel)
        with self._listeners_guard:
            self._listeners[channel].add(listener)
        return listener

    def _forget(self, listener: _LocalListener) -> None:
        with self._listeners_guard:
            self._listeners[listener.channel].discard(listener)

    def singleton(self, name: str) -> _LocalSingleton:
        key = (str(self.path.resolve()), name)
        with _SINGLETONS_GUARD:
            lock = _SINGLETONS.setdefault(key, threading.Lock())
        return _LocalSingleton(lock)

    # ---------------------------------------------------------------- schema

    def schema_version(self) -> int:
        """``PRAGMA user_version``: 1 for every store the first release wrote (it set it at each start)."""
        return int(self.query("PRAGMA user_version")[0][0])

    def apply_migration(self, version: int, description: str, script: str) -> None:
        # executescript commits whatever is open first, then runs the text as given: the step, its record
        # and the new user_version go in one explicit transaction, so a failure leaves the old version.
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        record = (
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "description TEXT NOT NULL, applied_at TEXT NOT NULL);\n"
            f"INSERT INTO schema_migrations VALUES ({int(version)}, '{_literal(description)}', '{stamp}');\n"
            f"PRAGMA user_version = {int(version)};\n"
        )
        with self._lock:
            try:
                self._conn.executescript(f"BEGIN IMMEDIATE;\n{script}\n;\n{record}COMMIT;")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise ConfigError(f"schema migration {version} failed ({exc.__class__.__name__}); the store "
                                  "is unchanged", path=self.where) from None

    def backup(self, target: Path) -> None:
        """A consistent copy of the whole store (SQLite's online backup), private to the service user."""
        fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        copy = sqlite3.connect(target)
        try:
            with self._lock:
                self._conn.backup(copy)
        finally:
            copy.close()
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _literal(text: str) -> str:
    return text.replace("'", "''")


class _LocalListener:
    def __init__(self, backend: SqliteBackend, channel: Channel) -> None:
        self.backend = backend
        self.channel = channel
        self.event = threading.Event()

    def wait(self, timeout: float) -> bool:
        woken = self.event.wait(timeout)
        self.event.clear()
        return woken

    def close(self) -> None:
        self.backend._forget(self)


class _LocalSingleton:
    """One process owns an SQLite store: the lock only keeps two threads of it from both polling."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._held = False

    def acquire(self) -> bool:
        if not self._held:
            self._held = self._lock.acquire(blocking=False)
        return self._held

    def held(self) -> bool:
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()
