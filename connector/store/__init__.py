"""store: the connector's only durable state (embedded SQLite, WAL, synchronous=FULL)."""

from connector.store.db import Database, age_seconds, utcnow
from connector.store.rows import RecipientRow
from connector.store.store import InputRecord, NewReport, ReportRow, Store

__all__ = ["Database", "InputRecord", "NewReport", "RecipientRow", "ReportRow", "Store", "age_seconds", "utcnow"]
