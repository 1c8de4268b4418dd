"""A report's parsed form: from the intake's memory when it is fresh, else parsed again from the store.

The store's input bytes are the source of truth (after a restart, for a backlog); the cache
only saves the reparse of a report built right after it arrived.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from connector.model import LabReport
from connector.parse import ParseSettings, parse_message, split_messages
from connector.store import ReportRow, Store

__all__ = ["PARSED_CACHE_SIZE", "ReportLoader"]

# Reports parsed at intake and not built yet that stay in memory: a burst of this many is built
# without reparsing; beyond it (a backlog) the oldest are reparsed from the store when their turn comes.
PARSED_CACHE_SIZE = 256


class ReportLoader:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._parsed: OrderedDict[str, LabReport] = OrderedDict()
        self._lock = threading.Lock()  # intake threads add, the build thread takes

    def remember(self, report: LabReport) -> None:
        with self._lock:
            self._parsed[report.report_id] = report
            while len(self._parsed) > PARSED_CACHE_SIZE:
                self._parsed.popitem(last=False)

    def forget_all(self) -> None:
        """The parse settings changed: what was parsed under the old ones is parsed again."""
        with self._lock:
            self._parsed.clear()

    def load(self, row: ReportRow, settings: ParseSettings) -> LabReport:
        with self._lock:
            cached = self._parsed.pop(row.report_id, None)
        if cached is not None:
            return cached
        source, data = self._store.input_data(row.input_id)
        message = split_messages(data, source=source)[row.message_index]
        return parse_message(message, source=source, index=row.message_index, settings=settings)[row.patient_index]
