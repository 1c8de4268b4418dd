"""SQLite connection with the durability the connector promises, checked at start.

WAL + ``synchronous=FULL`` on every connection: WAL with NORMAL may lose the last
commits on power loss, and a lost commit after an ACK is a lost result. The store
refuses to open when SQLite does not confirm these settings (a network filesystem
that cannot do WAL, for instance).

A commit only counts when it went into the live store file: SQLite keeps writing into a
database file that was deleted or replaced under it (its descriptor stays open), and those
commits vanish at the next start. So every transaction checks, before it begins and after
it commits, that the path still names the file opened at start; if not, the store is
*lost*: every later transaction raises :class:`StoreUnavailable` (nothing more is
acknowledged), ``commit_problem`` says why (``/readyz``), and one ``store.lost`` event is
logged. Only a restart (after putting the file back) resumes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from connector.errors import ConfigError, StoreUnavailable
from connector.logs import event

__all__ = ["Database", "age_seconds", "utcnow"]

# Long enough to ride out a checkpoint or an operator command holding the lock.
BUSY_TIMEOUT_MS = 10_000
SYNCHRONOUS_FULL = 2
LOST = ("the store file was deleted or replaced while the service ran: nothing is acknowledged any more; "
        "put the file back (or restore it) and restart the service")


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
        self._identity = _identity(path)
        self.lost = False
        self._last_failure = ""  # why the last commit failed; "" once one succeeds again
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

    def free_bytes(self) -> int | None:
        """Room left on the store's filesystem (the WAL and the next input must fit)."""
        try:
            st = os.statvfs(self.path.parent)
        except OSError:
            return None
        return st.f_bavail * st.f_frsize

    @property
    def commit_problem(self) -> str:
        """Why the store cannot commit now ("" when the last commit went through): for ``/readyz``."""
        return LOST if self.lost else self._last_failure

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: the writer lock is taken up front, so no upgrade deadlock.

        Raises :class:`StoreUnavailable` when nothing could be committed: SQLite's operational
        errors (disk full, I/O error, busy) inside the body too, so that a caller never takes a
        full disk for a bad input.
        """
        with self._lock:
            self._check_file()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._failed(f"store busy or unavailable ({exc.__class__.__name__})") from None
            try:
                yield self._conn
            except sqlite3.OperationalError as exc:
                self._rollback()
                raise self._failed(f"store write failed ({exc.__class__.__name__})") from None
            except BaseException:
                self._rollback()
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._failed(f"store commit failed ({exc.__class__.__name__})") from None
            self._check_file()  # committed into a file that was unlinked meanwhile is not committed
            self._last_failure = ""

    def _rollback(self) -> None:
        """SQLite may have rolled back already (a full disk does): then there is nothing to undo."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")

    def _failed(self, reason: str) -> StoreUnavailable:
        self._last_failure = reason
        return StoreUnavailable(reason)

    def _check_file(self) -> None:
        if not self.lost and _identity(self.path) != self._identity:
            self.lost = True
            event("store.lost", level=logging.CRITICAL, store=str(self.path), reason=LOST)
        if self.lost:
            raise StoreUnavailable(LOST)

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"store read failed ({exc.__class__.__name__})") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file ``path`` names now; None when it names nothing."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino
