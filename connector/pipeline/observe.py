"""What the pipeline reports to the metrics, as a protocol: the service's Prometheus metrics implement it.

Labels are states, stages, kinds and codes only: never a report id, an address or a patient value.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["NO_OBSERVER", "Observer"]


class Observer(Protocol):
    def unmapped(self, count: int) -> None:
        """Results sent with a local code only."""

    def validation_failed(self, check: str) -> None:
        """A document refused by ``check`` (xsd, schematron)."""

    def smtp_error(self, kind: str) -> None:
        """An SMTP failure: ``temporary_4xx``, ``rejected_5xx``…"""

    def milestone(self, milestone: str, seconds: float) -> None:
        """A report reached ``milestone`` (sent, delivered, read) ``seconds`` after it was received."""

    def ack(self, kind: str, state: str) -> None:
        """An acknowledgement (dsn, mdn, ko) applied with its recipient state."""

    def dmp_outcome(self, action: str, state: str) -> None:
        """A DMP feed ended: ``action`` feed / replace / delete, ``state`` sent / failed / refused."""


class _NoObserver:
    """Offline use (``connector build``, the demo): nothing is recorded."""

    def unmapped(self, count: int) -> None:
        pass

    def validation_failed(self, check: str) -> None:
        pass

    def smtp_error(self, kind: str) -> None:
        pass

    def milestone(self, milestone: str, seconds: float) -> None:
        pass

    def ack(self, kind: str, state: str) -> None:
        pass

    def dmp_outcome(self, action: str, state: str) -> None:
        pass


NO_OBSERVER: Observer = _NoObserver()
