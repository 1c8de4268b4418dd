"""The contract between the intake and the rest of the connector.

The intake only moves bytes: it hands each raw input to a :class:`Sink` and acts on
the :class:`Receipt`. The sink (``connector/pipeline.py``, on top of the SQLite store)
owns parsing, dedup and quarantine records. The one promise the intake relies on:
``receive`` returns only after the input is durably committed, so an ACK sent or a
file moved after it returns can never lose a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from connector.errors import InputError

__all__ = ["Receipt", "Sink"]


@dataclass(frozen=True)
class Receipt:
    """What the sink did with one input (a file or an MLLP block)."""

    input_id: int
    duplicate: bool = False  # same (MSH-3, MSH-4, MSH-10) seen before
    errors: tuple[InputError, ...] = ()  # messages that could not be read; they are quarantined by the sink
    reports: tuple[str, ...] = ()  # report ids created
    stored_ack: bytes | None = None  # for a duplicate MLLP message: the ACK sent the first time


class Sink(Protocol):
    """Where the intake puts what it receives."""

    def receive(self, data: bytes, *, source: str, dedup_key: tuple[str, str, str] | None = None) -> Receipt:
        """Durably record the input (committed) BEFORE returning.

        Raises :class:`~connector.errors.StoreUnavailable` (a ``TransientError``) when it
        cannot commit; the intake then keeps the file or asks the sender to resend.
        """
        ...

    def remember_ack(self, input_id: int, ack: bytes) -> bytes | None:
        """Store the ACK we are about to send, so a resent message gets the same one.

        Returns the ACK to send: the first one stored for this input (with several instances, another
        one may have answered the same message a moment before), or None to send ``ack`` itself.
        Raises a ``TransientError`` when it cannot be stored: the intake then answers AE.
        """
        ...

    def refuse(self, data: bytes, *, source: str, error: InputError) -> Receipt:
        """Durably record an input the intake itself refuses (an incomplete file), with ``error`` as the
        reason: it is quarantined like an unreadable message, never parsed or sent."""
        ...

    def supersede(self, receipt: Receipt, *, reason: str) -> None:
        """The input behind ``receipt`` was incomplete (its file grew after it was read and committed):
        none of its reports may be sent; the complete version comes as a new input."""
        ...
