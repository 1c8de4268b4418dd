"""Store administration: check a store, and copy one into another engine without losing a row.

``connector store copy --to postgresql://…`` moves a lab from its SQLite file to PostgreSQL:

- the source is held still for the whole copy (SQLite: its write lock, so the service, if it was
  left running, cannot commit anything the copy would miss: it answers AE meanwhile);
- the target must be an empty database; its schema is created by the migrations, then every table
  is copied in batches inside ONE target transaction: a copy that fails leaves it empty again;
- each table's row count and a SHA-256 over its rows in key order are computed from the source and
  from the target read back after the commit, and must be equal;
- run again on a target that already holds an identical copy, it says so and changes nothing; a
  target holding anything else is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from connector.errors import ConfigError
from connector.logs import event
from connector.store.backend import Backend, Engine, Tx
from connector.store.migrations import SCHEMA_VERSION, migrate, pending

__all__ = ["COPY_BATCH", "TABLES", "CopyReport", "StoreCheck", "check_store", "checksums", "copy_store"]

COPY_BATCH = 1000  # rows per round trip; a batch of inputs or e-mails holds at most this many blobs in memory
# Every table of the schema, parents before children (foreign keys), each with its key order and the
# id column whose sequence continues after a copy.
TABLES: dict[str, tuple[str, str]] = {
    "inputs": ("id", "id"),
    "input_errors": ("input_id, message_index", ""),
    "reports": ("report_id", ""),
    "series": ("series_key", ""),
    "recipients": ("report_id, address", ""),
    "events": ("id", "id"),
    "imap_cursor": ("mailbox", ""),
    "outbox": ("id", "id"),
    "instances": ("instance_id", ""),
    "report_keys": ("report_id, kind, value", ""),
    "mapping_gaps": ("report_id, kind, code, system, unit", ""),
    "dmp_feed": ("report_id", ""),
}
# Tables a later schema version added: a store at an older version has none of them.
_SINCE = {"instances": 2, "report_keys": 3, "mapping_gaps": 3, "dmp_feed": 4}


@dataclass(frozen=True, slots=True, kw_only=True)
class TableSum:
    rows: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyReport:
    source: str
    target: str
    tables: dict[str, TableSum] = field(default_factory=dict)
    already_copied: bool = False  # the target held this very copy: nothing was written

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreCheck:
    engine: str
    location: str
    schema_version: int
    pending: tuple[int, ...]  # migration steps still to apply
    durability: dict[str, str]
    rows: dict[str, int]
    integrity: str  # SQLite's quick_check ("ok"); "n/a" on PostgreSQL (its own checksums and WAL)

    @property
    def ok(self) -> bool:
        return not self.pending and self.integrity in ("ok", "n/a")


def check_store(db: Backend) -> StoreCheck:
    """What `connector store check` reports; changes nothing (a pending migration is only listed)."""
    steps = tuple(m.version for m in pending(db))
    version = db.schema_version()
    rows = {t: int(db.query(f"SELECT count(*) FROM {t}")[0][0]) for t in _tables_at(version)}
    integrity = str(db.query("PRAGMA quick_check")[0][0]) if db.engine is Engine.SQLITE else "n/a"
    return StoreCheck(engine=db.engine.value, location=db.where, schema_version=version, pending=steps,
                      durability=db.durability, rows=rows, integrity=integrity)


def _tables_at(version: int) -> list[str]:
    return [t for t in TABLES if version >= _SINCE.get(t, 1)] if version else []


def copy_store(source: Backend, target: Backend, *, batch: int = COPY_BATCH) -> CopyReport:
    """Copy every row of ``source`` (at this code's schema) into the empty ``target``; verify both sides."""
    if pending(source):
        raise ConfigError(f"the source store is not at schema {SCHEMA_VERSION}: run `connector store migrate` "
                          "on it first", path=source.where)
    migrate(target)  # creates the schema in an empty database; refuses one newer than this code
    with source.transaction() as src:  # held to the end: nothing changes in the source while we copy
        columns = {t: _columns(src, t) for t in TABLES}
        if any(int(target.query(f"SELECT count(*) FROM {t}")[0][0]) for t in TABLES):
            return _already(source, src, target, columns)
        sums: dict[str, TableSum] = {}
        with target.transaction() as dst:
            for table, (_, identity) in TABLES.items():
                sums[table] = _copy_table(source, src, dst, table, columns[table], batch)
                if identity:
                    target.sync_identity(dst, table, identity)
    copied = _sums(target, columns)
    if copied != sums:
        bad = sorted(t for t in TABLES if copied[t] != sums[t])
        raise ConfigError(f"the copy does not match its source in {', '.join(bad)} (rows or checksum): the "
                          "target was written but must not be used; empty it and copy again", path=target.where)
    event("store.copied", source=source.where, target=target.where, rows=sum(s.rows for s in sums.values()),
          tables=len(sums))
    return CopyReport(source=source.where, target=target.where, tables=sums)


def _already(source: Backend, src: Tx, target: Backend, columns: dict[str, list[str]]) -> CopyReport:
    """A rerun: the target is left alone, and accepted only if it holds exactly the source's rows."""
    mine = {t: _digest(_rows(source, src, t, columns[t])) for t in TABLES}
    theirs = _sums(target, columns)
    if mine != theirs:
        differ = sorted(t for t in TABLES if mine[t] != theirs[t])
        raise ConfigError(f"the target store is not empty and is not a copy of this store (differs in "
                          f"{', '.join(differ)}): copy only into a new, empty database", path=target.where)
    return CopyReport(source=source.where, target=target.where, tables=mine, already_copied=True)


def _columns(c: Tx, table: str) -> list[str]:
    """The table's columns as the source has them (both stores were built by the same migrations)."""
    row = c.execute(f"SELECT * FROM {table} LIMIT 1").fetchone()
    return list(row.keys()) if row is not None else []


def _rows(db: Backend, c: Tx, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    if not columns:  # an empty source table: whatever the other side holds is counted with `*`
        columns = ["*"]
    sql = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {TABLES[table][0]}"
    return (tuple(r) for r in db.stream(c, sql, COPY_BATCH))


def _copy_table(source: Backend, src: Tx, dst: Tx, table: str, columns: list[str], batch: int) -> TableSum:
    if not columns:
        return _digest(())
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    digest, count, chunk = hashlib.sha256(), 0, []
    for row in _rows(source, src, table, columns):
        _feed(digest, row)
        count += 1
        chunk.append(row)
        if len(chunk) >= batch:
            dst.executemany(insert, chunk)
            chunk = []
    if chunk:
        dst.executemany(insert, chunk)
    return TableSum(rows=count, sha256=digest.hexdigest())


def _sums(db: Backend, columns: dict[str, list[str]]) -> dict[str, TableSum]:
    with db.transaction() as c:
        return {t: _digest(_rows(db, c, t, columns[t])) for t in TABLES}


def checksums(db: Backend) -> dict[str, TableSum]:
    """Rows and SHA-256 of every table, in key order: equal on two stores that hold the same data."""
    with db.transaction() as c:
        columns = {t: _columns(c, t) for t in TABLES}
    return _sums(db, columns)


def _digest(rows: Iterable[tuple[Any, ...]]) -> TableSum:
    digest, count = hashlib.sha256(), 0
    for row in rows:
        _feed(digest, row)
        count += 1
    return TableSum(rows=count, sha256=digest.hexdigest())


def _feed(digest: Any, row: tuple[Any, ...]) -> None:
    """One row in a form both engines give alike: bytes as hex, numbers by value, NULL apart from ''."""
    parts = []
    for value in row:
        if value is None:
            parts.append("\x00")
        elif isinstance(value, bytes | bytearray | memoryview):
            parts.append("x" + bytes(value).hex())
        elif isinstance(value, float):
            parts.append(f"f{value!r}")
        else:
            parts.append(f"{type(value).__name__[0]}{value}")
        parts.append("\x1f")
    digest.update("".join(parts).encode("utf-8") + b"\x1e")
