"""Intake's sink: commit each input, then split it into reports (or record why a message was refused).

    bytes ─record_input (committed: the SIL may be acknowledged)─► split ─► PARSED reports + input errors

The order is the no-loss promise: nothing is acknowledged or moved before ``record_input``
has committed, and a crash between the two commits is repaired by :meth:`Receiver.recover`.
"""

from __future__ import annotations

import logging

from connector.cda import XsdValidator
from connector.embedded import check_embedded
from connector.errors import InputError, PermanentError
from connector.intake import Receipt
from connector.logs import event
from connector.parse import parse_message, split_messages
from connector.store import NewReport

from .compose import series_key
from .context import PipelineContext
from .loader import ReportLoader

__all__ = ["Receiver"]


class Receiver:
    """Implements :class:`connector.intake.Sink`."""

    def __init__(self, ctx: PipelineContext, loader: ReportLoader, *, xsd: XsdValidator | None) -> None:
        self._ctx = ctx
        self._loader = loader
        self._xsd = xsd

    def receive(self, data: bytes, *, source: str, dedup_key: tuple[str, str, str] | None = None) -> Receipt:
        store = self._ctx.store
        key = "|".join(dedup_key) if dedup_key else None
        record = store.record_input(data, source=source, dedup_key=key)  # committed: safe to ACK/move
        if record.duplicate:
            # Same MSH key, other bytes: the SIL reused a control id. Answered like a resend (the
            # stored ACK), but said loudly: a person should check the SIL's numbering.
            event("input.duplicate", level=logging.INFO if record.same_bytes else logging.WARNING,
                  input_id=record.input_id, source=source, same_bytes=record.same_bytes)
            return Receipt(record.input_id, duplicate=True, stored_ack=record.ack)
        event("input.received", input_id=record.input_id, source=source, bytes=len(data))
        return self.split(record.input_id, data, source=source)

    def remember_ack(self, input_id: int, ack: bytes) -> None:
        self._ctx.store.set_ack(input_id, ack)

    def split(self, input_id: int, data: bytes, *, source: str) -> Receipt:
        """Parse an input's messages and record its reports (or why a message was refused)."""
        settings = self._ctx.settings
        new: list[NewReport] = []
        errors: list[tuple[int, InputError]] = []
        messages = split_messages(data, source=source)
        if not messages:
            errors.append((0, InputError("at least one HL7 message starting with MSH", source=source)))
        for index, message in enumerate(messages):
            try:
                reports = parse_message(message, source=source, index=index, settings=settings.parse)
            except InputError as exc:
                errors.append((index, exc))
                continue
            except Exception as exc:  # noqa: BLE001 - a parser bug must not lose the input: quarantine with the class name
                errors.append((index, InputError(f"a message the parser can read (internal {type(exc).__name__})",
                                                 source=source, message_index=index)))
                continue
            try:
                for report in reports:
                    if report.documents:  # shape B: the SIL's own CDA is checked now, so the SIL gets AE
                        check_embedded(report, lab=settings.lab, xsd=self._xsd)
            except (InputError, PermanentError) as exc:
                errors.append((index, exc if isinstance(exc, InputError) else InputError(
                    f"an embedded CDA the connector can forward ({exc})", source=source, message_index=index)))
                continue
            for patient_index, report in enumerate(reports):
                new.append(NewReport(report_id=report.report_id, message_index=index, patient_index=patient_index,
                                     control_id=report.header.control_id, series_key=series_key(report)))
                self._loader.remember(report)
        self._refuse_reused_ids(new, errors, source)
        created = self._ctx.store.record_split(input_id, new, [(i, e.describe()) for i, e in errors])
        if len(created) != len(new):  # the same id from two inputs at the same instant: the first one won
            event("input.report_id_race", level=logging.WARNING, input_id=input_id,
                  ignored=",".join(sorted({r.report_id for r in new} - set(created))))
        for index, error in errors:
            event("input.quarantined", level=logging.WARNING, input_id=input_id, source=source,
                  message_index=index, segment=error.segment, field=error.field, reason=error.describe())
        for rep in new:
            event("report.parsed", report_id=rep.report_id, input_id=input_id)
        return Receipt(input_id, errors=tuple(e for _, e in errors), reports=tuple(r.report_id for r in new))

    def _refuse_reused_ids(self, new: list[NewReport], errors: list[tuple[int, InputError]], source: str) -> None:
        """A report id already in the store means the SIL sent this MSH-3/4/10 before with other bytes
        (the same bytes are caught as a duplicate input): never dropped silently, never sent twice."""
        known = dict(self._ctx.store.known_reports([r.report_id for r in new]))
        for rep in [r for r in new if r.report_id in known]:
            new.remove(rep)
            errors.append((rep.message_index, InputError(
                f"a new MSH-10: this control id already gave report {rep.report_id} (input {known[rep.report_id]}); "
                "the SIL reused it or resent an edited message", source=source, segment="MSH", field="MSH-10",
                message_index=rep.message_index)))

    def recover(self) -> int:
        """Inputs committed but never split (a crash between the two commits)."""
        count = 0
        for input_id in self._ctx.store.unsplit_inputs():
            source, data = self._ctx.store.input_data(input_id)
            self.split(input_id, data, source=source)
            count += 1
        return count
