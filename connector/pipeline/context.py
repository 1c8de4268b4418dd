"""What every step of the pipeline shares: the store, the live settings, the observer, and the
two transitions any step may take (wait and retry later, or quarantine for a person)."""

from __future__ import annotations

import logging

from connector.logs import event
from connector.states import ReportState
from connector.store import ReportRow, Store

from .observe import NO_OBSERVER, Observer
from .settings import PipelineSettings

__all__ = ["PipelineContext"]


class PipelineContext:
    """One per pipeline. ``settings`` is replaced whole on a configuration reload (never mutated)."""

    def __init__(self, store: Store, settings: PipelineSettings, observer: Observer = NO_OBSERVER) -> None:
        self.store = store
        self.settings = settings
        self.observer = observer

    def wait(self, row: ReportRow, reason: str) -> ReportState:
        """Retry later with backoff; past the retry window the report is quarantined with the last reason."""
        retry = self.settings.retry
        when = retry.next_attempt(attempts=row.attempts, received_at=row.received_at)
        if when is None:
            return self.quarantine(row.report_id, f"gave up after {retry.give_up_hours:g} h: {reason}")
        self.store.mark_waiting(row.report_id, reason=reason, next_attempt_at=when)
        if row.state is not ReportState.WAITING:
            # One event per state change, not one per retry (the reason is in the store and `show`).
            event("report.waiting", level=logging.WARNING, report_id=row.report_id, reason=reason,
                  next_attempt_at=when)
        return ReportState.WAITING

    def quarantine(self, report_id: str, reason: str, *, level: int = logging.WARNING) -> ReportState:
        """A person must act; ``reason`` says what to do (never a patient value)."""
        self.store.quarantine(report_id, reason=reason)
        event("report.quarantined", level=level, report_id=report_id, reason=reason)
        return ReportState.QUARANTINED
