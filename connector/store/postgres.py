"""The shared engine: PostgreSQL through psycopg 3 and a connection pool, for several instances.

Durability is checked at start as SQLite's PRAGMAs are: ``fsync`` must be on and every connection
commits with ``synchronous_commit`` not ``off`` (a commit that releases an ACK must survive a crash
of the server). Transactions run at READ COMMITTED; where the SQLite code relied on a single writer,
the store locks the rows it reads (``FOR UPDATE``) or a key (transaction advisory lock). A lost
connection, a server restart or an empty pool raise :class:`StoreUnavailable`: intake answers AE or
leaves the file, nothing is acknowledged, and the next attempt gets a fresh connection.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import IsolationLevel
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import RowMaker, no_result
from psycopg_pool import ConnectionPool

from connector.errors import ConfigError, StoreUnavailable
from connector.store.backend import Channel, Engine, Params, Tx, lock_number
from connector.store.pg_sessions import UNAVAILABLE as _UNAVAILABLE
from connector.store.pg_sessions import PgListener, PgSingleton

__all__ = ["PgRow", "PostgresBackend", "translate"]

# Seconds to get a connection (pool or server) before the store is declared unavailable: short
# enough that an MLLP client gets its AE well within its own timeout.
CONNECT_TIMEOUT = 5.0
POOL_TIMEOUT = 10.0
MIN_SERVER_VERSION = 120000  # GENERATED … AS IDENTITY, SKIP LOCKED, pg_notify: PostgreSQL 12 or later
APPLICATION_NAME = "lab-results-connector"
# Client-side keepalives: a dead server or a cut link is noticed in about a minute, not two hours.
_CONNECT_DEFAULTS = {"connect_timeout": str(int(CONNECT_TIMEOUT)), "keepalives": "1", "keepalives_idle": "30",
                     "keepalives_interval": "10", "keepalives_count": "3", "application_name": APPLICATION_NAME}
_DURABLE_COMMITS = frozenset({"on", "remote_apply", "remote_write", "local"})  # all wait for the local flush
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# psycopg's pool logs each failed (re)connection as free text, which Python's last-resort handler writes to
# stderr in the middle of the JSON-lines log. The store says the same in its own events, once per outage
# (pipeline.store_unavailable, mllp.not_committed, folder.store_unavailable, instance.heartbeat_failed).
logging.getLogger("psycopg").addHandler(logging.NullHandler())


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """The portable SQL's ``?`` and ``:name`` placeholders as psycopg's ``%s`` and ``%(name)s``.

    Quoted text and comments are copied as they are (a ``?`` there is not a placeholder) and a literal
    ``%`` is doubled; ``::`` casts are left alone.
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            end = sql.find(ch, i + 1)
            while end != -1 and sql.startswith(ch, end + 1):  # '' inside a literal
                end = sql.find(ch, end + 2)
            end = n if end == -1 else end + 1
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end == -1 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif ch == "?":
            out.append("%s")
            i += 1
        elif ch == ":" and (i == 0 or sql[i - 1] != ":") and (match := _NAME.match(sql, i + 1)):
            out.append(f"%({match.group()})s")
            i = match.end()
        else:
            out.append("%%" if ch == "%" else ch)
            i += 1
    return "".join(out)


class PgRow:
    """A result row readable by column name and by position, as ``sqlite3.Row`` is."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: Mapping[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        return self._values[self._index[key]] if isinstance(key, str) else self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:  # the columns only: a row may hold an input's bytes
        return f"PgRow({', '.join(self._index)})"


def pg_row(cursor: psycopg.Cursor[Any]) -> RowMaker[PgRow]:
    if cursor.description is None:
        return no_result
    index = {column.name: i for i, column in enumerate(cursor.description)}
    return lambda values: PgRow(values, index)


class _PgTx:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def executemany(self, sql: str, seq_of_parameters: Iterable[Params], /) -> None:
        # psycopg pipelines the statements: one round trip for the batch, not one per row.
        with self.conn.cursor() as cur:
            cur.executemany(translate(sql), seq_of_parameters)

    def execute(self, sql: str, parameters: Params = (), /) -> psycopg.Cursor[Any]:
        if not parameters:  # no placeholders parsed: a script of several statements runs as it is
            return self.conn.execute(sql)  # our own SQL text, never input
        return self.conn.execute(translate(sql), parameters)


def _unavailable(exc: BaseException) -> StoreUnavailable:
    """The class and SQLSTATE only: a server message can quote the values of a row."""
    state = getattr(getattr(exc, "diag", None), "sqlstate", None) or ""
    return StoreUnavailable(f"store unavailable ({type(exc).__name__}{' ' + state if state else ''})")


class PostgresBackend:
    engine = Engine.POSTGRESQL
    shared = True
    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    epoch_now = "CAST(extract(epoch FROM clock_timestamp()) AS double precision)"

    def __init__(self, url: str, *, password: str = "", pool_size: int = 8) -> None:
        try:
            given = conninfo_to_dict(url)
        except psycopg.ProgrammingError:
            raise ConfigError("expected a PostgreSQL URL postgresql://user@host:port/database",
                              key="store.url") from None
        host, port, dbname = (str(given.get(k) or "") for k in ("host", "port", "dbname"))
        self._last_failure = ""
        self._where = f"postgresql://{host or 'localhost'}{':' + port if port else ''}/{dbname}"
        extra = {k: v for k, v in _CONNECT_DEFAULTS.items() if k not in given}
        if password:
            extra["password"] = password
        self.conninfo = make_conninfo(url, **extra)
        try:  # one direct connection first: a refused or misconfigured server is said at once
            with psycopg.Connection.connect(self.conninfo, autocommit=True) as first:
                self._check(first)
        except _UNAVAILABLE as exc:
            # libpq's reason (refused, timed out, wrong password, no such database) names the server, the
            # user and the database, never a row: it tells the operator what to fix.
            reason = " ".join(str(exc).split())[:300]
            raise StoreUnavailable(f"cannot reach the PostgreSQL store {self._where}: {reason}") from None
        self._pool: ConnectionPool[Any] = ConnectionPool(
            self.conninfo, min_size=1, max_size=pool_size, open=False, timeout=POOL_TIMEOUT,
            # autocommit: a read is one round trip; transaction() sends BEGIN … COMMIT itself.
            kwargs={"row_factory": pg_row, "autocommit": True}, configure=_configure, name="connector-store",
            # A failed background reconnection is dropped at once rather than retried with a backoff that
            # grows to minutes: the next request starts a fresh attempt, so the store is back with the server.
            reconnect_timeout=0)
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT * 2)
        except _UNAVAILABLE as exc:
            self._pool.close()
            raise StoreUnavailable(f"cannot reach the PostgreSQL store {self._where} "
                                   f"({type(exc).__name__})") from None

    @property
    def where(self) -> str:
        return self._where

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        _configure(conn)
        settings = _durability(conn)
        if int(settings["server_version_num"]) < MIN_SERVER_VERSION:
            raise ConfigError(f"PostgreSQL {MIN_SERVER_VERSION // 10000} or later is needed "
                              f"(the server is {settings['server_version_num']})", path=self._where)
        if settings["fsync"] != "on" or settings["synchronous_commit"] not in _DURABLE_COMMITS:
            raise ConfigError(
                "the store cannot keep its durability guarantee (fsync="
                f"{settings['fsync']}, synchronous_commit={settings['synchronous_commit']}; expected fsync on "
                "and synchronous_commit on): fix the server's postgresql.conf", path=self._where)

    @property
    def durability(self) -> dict[str, str]:
        try:
            with self._pool.connection() as conn:
                return _durability(conn)
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from None

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        try:
            with self._pool.connection() as conn, conn.transaction():
                yield _PgTx(conn)
        except _UNAVAILABLE as exc:
            failure = _unavailable(exc)
            self._last_failure = str(failure)
            raise failure from None
        self._last_failure = ""

    # ---------------------------------------------------------------- health

    @property
    def lost(self) -> bool:
        return False  # the server keeps the database: a lost connection is transient, not a lost store

    @property
    def commit_problem(self) -> str:
        return self._last_failure

    def free_bytes(self) -> int | None:
        return None  # the server's disk: its own monitoring watches it

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[Any]:
        try:
            with self._pool.connection() as conn:
                cursor = _PgTx(conn).execute(sql, params)
                return cursor.fetchall() if cursor.description is not None else []  # as sqlite3: [] for a write
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from None

    def close(self) -> None:
        self._pool.close()

    # ---------------------------------------------------------------- dialect

    def lock_key(self, c: Tx, namespace: str, key: str) -> None:
        c.execute("SELECT pg_advisory_xact_lock(?)", (lock_number(namespace, key),))

    def stream(self, c: Tx, sql: str, size: int) -> Iterator[Any]:
        if not isinstance(c, _PgTx):
            raise TypeError("a transaction of this store was expected")
        # A server-side cursor: the server keeps the result, we fetch `size` rows per round trip.
        with c.conn.cursor(name="connector_stream") as cursor:
            cursor.itersize = size
            cursor.execute(sql)  # our own SQL text, never input
            yield from cursor

    def sync_identity(self, c: Tx, table: str, column: str) -> None:
        c.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "  # our table names only
                  f"coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)")

    def notify(self, c: Tx, channel: Channel) -> None:
        c.execute("SELECT pg_notify(?, '')", (channel.value,))  # delivered at commit, once per transaction

    def listener(self, channel: Channel) -> PgListener:
        return PgListener(self.conninfo, channel)

    def singleton(self, name: str) -> PgSingleton:
        return PgSingleton(self.conninfo, lock_number("singleton", name))

    # ---------------------------------------------------------------- schema

    def schema_version(self) -> int:
        with self.transaction() as c:
            return _version(c)

    def apply_migration(self, version: int, description: str, script: str) -> None:
        key = lock_number("schema", "migrate")
        try:
            with self._pool.connection() as conn:
                # Two migrations started at once: the second waits here, then finds the step done. The lock
                # is the session's and taken before BEGIN: a transaction begun before the other one's DDL
                # committed could still see the old catalog (no schema_migrations table yet).
                conn.execute("SELECT pg_advisory_lock(%s)", (key,))
                try:
                    with conn.transaction():
                        c = _PgTx(conn)
                        if _version(c) >= version:
                            return
                        c.execute(script)
                        c.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                                  "description TEXT NOT NULL, applied_at TEXT NOT NULL)")
                        c.execute("INSERT INTO schema_migrations VALUES (?, ?, to_char(clock_timestamp() AT TIME "
                                  "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"+00:00\"'))", (version, description))
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from None
        except psycopg.Error as exc:  # the step's SQL was refused: the transaction left the old version
            raise ConfigError(f"schema migration {version} failed ({type(exc).__name__}); the store is unchanged",
                              path=self._where) from None


def _version(c: Tx) -> int:
    if c.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
        return 0
    return int(c.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0])


def _durability(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """The session's settings that decide whether a commit survives a crash (as this connection sees them)."""
    rows = conn.execute("SELECT name, setting FROM pg_settings WHERE name IN "
                        "('synchronous_commit', 'fsync', 'server_version_num')").fetchall()
    return {r[0]: str(r[1]) for r in rows}


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Every pooled connection: READ COMMITTED whatever the server's default, and durable commits."""
    conn.isolation_level = IsolationLevel.READ_COMMITTED
    # A server or role set to `off` is overridden for our sessions; a stronger setting (remote_apply
    # with a synchronous standby) is kept.
    if conn.execute("SHOW synchronous_commit").fetchone()[0] == "off":  # type: ignore[index]
        conn.execute("SET synchronous_commit TO on")
