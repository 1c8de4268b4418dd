"""Versioned schema migrations: numbered steps, one SQL file per engine (``vNNN_sqlite.sql``, ``vNNN_postgresql.sql``).

Version 1 is the first release's schema (its ``schema.sql``, which set SQLite's ``PRAGMA user_version``
to 1 at every start), so every store that release wrote is a version-1 store here. SQLite keeps
``user_version`` as its version; both engines record each step in ``schema_migrations``.

- SQLite migrates when the service (or a command) opens it, after a backup copy beside the store.
- PostgreSQL is shared by several instances: only ``connector store migrate`` changes its schema
  (one decision, taken once); an instance refuses to start on an older schema.
- A store newer than this code is refused on both: an older connector would misread it.

Adding a step: new files ``vNNN_<engine>.sql`` for both engines and a :class:`Migration` below;
a step only adds (tables, nullable or defaulted columns, indexes), so the previous release's
backups stay readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from connector.errors import ConfigError
from connector.logs import event
from connector.store.backend import Backend, Engine
from connector.store.sqlite import SqliteBackend

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "MigrationResult", "migrate", "pending", "require_current"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    version: int
    description: str

    def script(self, engine: Engine) -> str:
        name = f"v{self.version:03d}_{engine.value}.sql"
        return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


MIGRATIONS = (
    Migration(version=1, description="the first release's schema"),
    Migration(version=2, description="claims with leases (owner, lease_until), instances, reports by input"),
    Migration(version=3, description="reports findable by MSH-10, order number and input file; mapping gaps"),
    Migration(version=4, description="the DMP feed: dmp_feed, one row per report addressed to the DMP"),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationResult:
    before: int
    after: int
    backup: Path | None = None  # the SQLite copy taken before the first step


def _current(db: Backend) -> int:
    version = db.schema_version()
    if version > SCHEMA_VERSION:
        raise ConfigError(f"the store was written by a newer connector (schema {version}, this one knows "
                          f"{SCHEMA_VERSION}): upgrade the connector", path=db.where)
    return version


def pending(db: Backend) -> list[Migration]:
    """The steps this store still needs (none when it is current); a newer store is refused."""
    current = _current(db)
    return [m for m in MIGRATIONS if m.version > current]


def migrate(db: Backend, *, backup_dir: Path | None = None) -> MigrationResult:
    """Bring the store to :data:`SCHEMA_VERSION`, one transaction per step.

    An SQLite store that already holds data is first copied to ``backup_dir`` (SQLite's online
    backup): a step that goes wrong leaves the old version anyway, the copy is for the step that
    went right and turns out wrong.
    """
    before = _current(db)
    steps = [m for m in MIGRATIONS if m.version > before]
    backup = None
    if steps and before > 0 and backup_dir is not None and isinstance(db, SqliteBackend):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        backup = backup_dir / f"{db.path.name}.schema{before}-{stamp}.bak"
        db.backup(backup)
    for step in steps:
        db.apply_migration(step.version, step.description, step.script(db.engine))
    after = db.schema_version()
    if steps:
        event("store.migrated", engine=db.engine.value, before=before, after=after,
              backup=str(backup) if backup else "")
    return MigrationResult(before=before, after=after, backup=backup)


def require_current(db: Backend) -> None:
    """Refuse a store whose schema is not this code's (a shared store is migrated by the operator)."""
    current = _current(db)
    if current < SCHEMA_VERSION:
        raise ConfigError(f"the store is at schema {current}, this connector needs {SCHEMA_VERSION}: run "
                          "`connector store migrate --config …` once, from one instance", path=db.where)
