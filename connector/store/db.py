"""SQLite connection with the durability the connector promises, checked at start.

WAL + ``synchronous=FULL`` on every connection: WAL with NORMAL may lose the last
commits on power loss, and a lost commit after an ACK is a lost result. The store
refuses to open when SQLite does not confirm these settings (a network filesystem
that cannot do WAL, for instance).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from connector.errors import ConfigError, StoreUnavailable

__all__ = ["Database", "age_seconds", "utcnow"]

# Long enough to ride out a checkpoint or an operator command holding the lock.
BUSY_TIMEOUT_MS = 10_000
SYNCHRONOUS_FULL = 2


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def age_seconds(stamp: str) -> float:
    """Seconds since a time the store wrote with :func:`utcnow` (ages in status, metrics, latencies)."""
    return (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()


class Database:
    """One connection shared by the service's threads, serialised by a lock.

    SQLite allows one writer at a time anyway; a single connection keeps every
    transaction ordered and avoids SQLITE_BUSY between our own threads.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        try:
            self._conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            )
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the store ({exc.__class__.__name__})", path=str(path)) from None
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._configure()
        # The schema is created and upgraded by connector.store.migrations (PRAGMA user_version).

    def _configure(self) -> None:
        c = self._conn
        mode = c.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        c.execute("PRAGMA synchronous=FULL")
        c.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        c.execute("PRAGMA foreign_keys=ON")
        sync = c.execute("PRAGMA synchronous").fetchone()[0]
        if str(mode).lower() != "wal" or sync != SYNCHRONOUS_FULL:
            raise ConfigError(
                "the store cannot keep its durability guarantee "
                f"(journal_mode={mode}, synchronous={sync}; expected wal and FULL): use a local disk",
                path=str(self.path),
            )

    @property
    def durability(self) -> dict[str, str]:
        with self._lock:
            return {
                "journal_mode": str(self._conn.execute("PRAGMA journal_mode").fetchone()[0]),
                "synchronous": str(self._conn.execute("PRAGMA synchronous").fetchone()[0]),
            }

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: the writer lock is taken up front, so no upgrade deadlock."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"store busy or unavailable ({exc.__class__.__name__})") from None
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise StoreUnavailable(f"store commit failed ({exc.__class__.__name__})") from None

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
