"""store: the connector's only durable state: embedded SQLite (WAL, synchronous=FULL) or a shared PostgreSQL."""

from connector.store.backend import Backend, Channel, Engine, Listener, Singleton
from connector.store.claims import ALIVE_SECONDS, HEARTBEAT_SECONDS, LEASE_SECONDS, InstanceRow
from connector.store.db import Database, age_seconds, utcnow
from connector.store.engines import StoreSettings, default_instance, is_postgres_url, open_backend
from connector.store.lookup import FoundReport, Gap, GapKind, GapRow
from connector.store.migrations import SCHEMA_VERSION
from connector.store.rows import KeyKind, RecipientRow
from connector.store.store import InputRecord, NewReport, ReportRow, Store

__all__ = [
    "ALIVE_SECONDS",
    "HEARTBEAT_SECONDS",
    "LEASE_SECONDS",
    "SCHEMA_VERSION",
    "Backend",
    "Channel",
    "Database",
    "Engine",
    "FoundReport",
    "Gap",
    "GapKind",
    "GapRow",
    "InputRecord",
    "InstanceRow",
    "KeyKind",
    "Listener",
    "NewReport",
    "RecipientRow",
    "ReportRow",
    "Singleton",
    "Store",
    "StoreSettings",
    "age_seconds",
    "default_instance",
    "is_postgres_url",
    "open_backend",
    "utcnow",
]
