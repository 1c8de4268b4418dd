"""store: the connector's only durable state (embedded SQLite, WAL, synchronous=FULL)."""

from connector.store.db import Database, age_seconds, utcnow
from connector.store.store import InputRecord, NewReport, ReportRow, Store

__all__ = ["Database", "InputRecord", "NewReport", "ReportRow", "Store", "age_seconds", "utcnow"]
