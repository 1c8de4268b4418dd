"""Where the store is: the SQLite file in the data folder (the default), or a PostgreSQL URL.

``store: {url: postgresql://connector@db.lab.example/connector?sslmode=verify-full}`` in the
configuration selects PostgreSQL; :mod:`connector.config.settings` turns the keys into
:class:`StoreSettings`, and :func:`open_backend` opens the engine they name.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from connector.store.backend import Backend

__all__ = ["POSTGRES_SCHEMES", "StoreSettings", "default_instance", "is_postgres_url", "open_backend"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
DEFAULT_POOL_SIZE = 8  # connections per instance: intake threads, the work loop, acks and the outbox at once


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreSettings:
    path: Path  # the SQLite file: the store when ``url`` is empty, and where SQLite's migration backups go
    url: str = ""  # postgresql://…: a shared store instead (no password in it)
    password: str = ""  # from store.password_file or $CONNECTOR_STORE_PASSWORD; never logged
    pool_size: int = DEFAULT_POOL_SIZE

    @property
    def location(self) -> str:
        """What events and messages may say about the store (never the password)."""
        return self.url or str(self.path)


def is_postgres_url(text: str) -> bool:
    return text.startswith(POSTGRES_SCHEMES)


def default_instance() -> str:
    """This process's name in claims and `connector status`: ``<host>-<pid>`` (a restart is a new instance).

    Only letters, digits, ``.``, ``_`` and ``-``: the name is also a folder name (the instance's
    drop-folder claims) and a metrics label.
    """
    host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname().split(".")[0]).lstrip("._-") or "host"
    return f"{host[:48]}-{os.getpid()}"


def open_backend(location: Path | str | StoreSettings) -> Backend:
    """The engine for a path (SQLite), a ``postgresql://`` URL, or the configured :class:`StoreSettings`."""
    if isinstance(location, StoreSettings):
        if not location.url:
            return _sqlite(location.path)
        from connector.store.postgres import PostgresBackend  # psycopg is only loaded for a PostgreSQL store

        return PostgresBackend(location.url, password=location.password, pool_size=location.pool_size)
    if isinstance(location, str) and is_postgres_url(location):
        return open_backend(StoreSettings(path=Path(), url=location))
    return _sqlite(Path(location))


def _sqlite(path: Path) -> Backend:
    from connector.store.sqlite import SqliteBackend

    return SqliteBackend(path)
