"""What the store's SQL runs on: one protocol, two engines (embedded SQLite, shared PostgreSQL).

The store's methods are written once, in a portable subset of SQL: ``?`` and ``:name``
placeholders, ``INSERT … ON CONFLICT DO NOTHING / DO UPDATE``, ``RETURNING``, timestamps as
``utcnow()`` text, blobs as ``bytes``. What differs between the engines is behind
:class:`Backend`: transactions, placeholders, row locks (SQLite has one writer at a time, so
its locks are no-ops), the durability check, and the primitives several instances need
(wake-up notifications, a singleton lock, the database clock for leases).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "Backend",
    "Channel",
    "Cursor",
    "Engine",
    "Listener",
    "Params",
    "Singleton",
    "Tx",
    "lock_number",
]

Params = Sequence[object] | Mapping[str, object]


class Engine(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class Channel(StrEnum):
    """What a wake-up notification announces (PostgreSQL LISTEN/NOTIFY channel names)."""

    WORK = "connector_work"  # reports became due (new input split, operator retry)
    OUTBOX = "connector_outbox"  # a ZAM is waiting for the SIL


class Cursor(Protocol):
    """The part of a DB-API cursor the store uses (``sqlite3.Cursor`` and ``psycopg.Cursor`` both are one)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ..., /) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Tx(Protocol):
    """An open transaction: statements in the portable subset, rows readable by name and by position."""

    def execute(self, sql: str, parameters: Params = ..., /) -> Cursor: ...

    def executemany(self, sql: str, seq_of_parameters: Iterable[Params], /) -> object: ...


class Listener(Protocol):
    """Wakes an idle loop when another instance (or thread) announced work on a channel."""

    def wait(self, timeout: float) -> bool:
        """True when notified (or when the link to the database broke: poll anyway), False on timeout."""
        ...

    def close(self) -> None: ...


class Singleton(Protocol):
    """A lock held by one instance at a time (the IMAP poller); released when its holder dies."""

    def acquire(self) -> bool:
        """Take the lock if it is free; never waits. True when this instance holds it now."""
        ...

    def held(self) -> bool:
        """Still ours: a holder checks before each round and stops when it lost the lock."""
        ...

    def release(self) -> None: ...


class Backend(Protocol):
    engine: Engine
    # True when several instances may work on the same store: claims take leases and skip locked rows.
    shared: bool

    @property
    def where(self) -> str:
        """The store's location for messages and events: a path or host/database, never a password."""
        ...

    def transaction(self) -> AbstractContextManager[Tx]: ...

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[Any]: ...

    @property
    def durability(self) -> dict[str, str]: ...

    # ---------------------------------------------------------------- health (for /readyz and the work loop)

    @property
    def lost(self) -> bool:
        """The store this process opened is gone (SQLite file deleted or replaced): nothing commits until a restart."""
        ...

    @property
    def commit_problem(self) -> str:
        """Why the last transaction could not commit ("" after a successful one): readiness says it."""
        ...

    def free_bytes(self) -> int | None:
        """Room left where the store writes, when this process can tell (a local file); None otherwise."""
        ...

    def close(self) -> None: ...

    # ---------------------------------------------------------------- dialect

    @property
    def for_update(self) -> str:
        """Suffix of a SELECT that locks its rows until commit (empty where there is one writer)."""
        ...

    @property
    def skip_locked(self) -> str:
        """Suffix of a claim's inner SELECT: rows another instance holds are passed over, not waited for."""
        ...

    @property
    def epoch_now(self) -> str:
        """SQL expression: the database's clock in seconds since 1970 (one clock for every instance's leases)."""
        ...

    def lock_key(self, c: Tx, namespace: str, key: str) -> None:
        """Serialise transactions on one key (a document series) until commit; no-op with one writer."""
        ...

    def stream(self, c: Tx, sql: str, size: int) -> Iterator[Any]:
        """The rows of a large result ``size`` at a time, never all of it in memory (a copy of every input)."""
        ...

    def sync_identity(self, c: Tx, table: str, column: str) -> None:
        """After rows were inserted with their ids given (a copy), new ids continue after the largest."""
        ...

    def notify(self, c: Tx, channel: Channel) -> None:
        """Announce work on ``channel`` when ``c`` commits."""
        ...

    def listener(self, channel: Channel) -> Listener: ...

    def singleton(self, name: str) -> Singleton: ...

    # ---------------------------------------------------------------- schema

    def schema_version(self) -> int: ...

    def apply_migration(self, version: int, description: str, script: str) -> None:
        """Run one migration step and record it, in one transaction (or not at all)."""
        ...


def lock_number(namespace: str, key: str) -> int:
    """A signed 64-bit advisory-lock key for ``namespace:key`` (a collision only serialises two keys)."""
    digest = hashlib.sha256(f"connector:{namespace}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
