"""Intake's sink: commit each input, then split it into reports (or record why a message was refused).

    bytes ─record_input (committed: the SIL may be acknowledged)─► split ─► PARSED reports + input errors

The order is the no-loss promise: nothing is acknowledged or moved before ``record_input``
has committed, and a crash between the two commits is repaired by :meth:`Receiver.recover`,
or when the same input comes again (a resend, the file still in drop/).

One bad input never stops the others (issue 13): whatever fails while one input is split
(a parser or checker defect, an lxml error) ends with that input quarantined with a reason,
and the answer (AR, quarantine/) is the same for its resends; only a store that cannot
commit (:class:`~connector.errors.TransientError`) leaves it unsplit, to be tried again.
"""

from __future__ import annotations

import logging

from connector.cda import XsdValidator
from connector.embedded import check_embedded
from connector.errors import InputError, PermanentError, TransientError
from connector.intake import Receipt
from connector.logs import event
from connector.model import LabReport
from connector.parse import parse_message, split_messages
from connector.states import ReportState
from connector.store import KeyKind, NewReport, utcnow

from .bounds import check_structure, check_values
from .compose import series_key
from .context import PipelineContext
from .loader import ReportLoader

__all__ = ["Receiver", "lookup_keys"]

_NOT_SENT = (ReportState.RECEIVED, ReportState.PARSED, ReportState.BUILT, ReportState.WAITING)


class Receiver:
    """Implements :class:`connector.intake.Sink`."""

    def __init__(self, ctx: PipelineContext, loader: ReportLoader, *, xsd: XsdValidator | None) -> None:
        self._ctx = ctx
        self._loader = loader
        self._xsd = xsd
        # When an input of this process was last left committed but not split (store down between the two
        # commits): the loop's periodic recovery runs until a pass covers that moment. "": none.
        self._unsplit_at = ""

    def receive(self, data: bytes, *, source: str, dedup_key: tuple[str, str, str] | None = None) -> Receipt:
        store = self._ctx.store
        key = "|".join(dedup_key) if dedup_key else None
        record = store.record_input(data, source=source, dedup_key=key)  # committed: safe to ACK/move
        if record.duplicate and not record.same_bytes:
            return self._reused_key(data, source=source, first=record.input_id)
        if record.duplicate:
            event("input.duplicate", input_id=record.input_id, source=source, same_bytes=True)
            if not record.split:  # the first time, a failure came between the two commits: finish it now
                return self.split(record.input_id, data, source=source)
            return Receipt(record.input_id, duplicate=True, stored_ack=record.ack)
        event("input.received", input_id=record.input_id, source=source, bytes=len(data))
        return self.split(record.input_id, data, source=source)

    def _reused_key(self, data: bytes, *, source: str, first: int) -> Receipt:
        """Same MSH-3/4/10 as input ``first``, other bytes: kept with its own bytes and quarantined.

        Answering it with the first message's ACK would drop it unseen (the SIL believes it
        delivered); processing it would send two documents under one control id.
        """
        record = self._ctx.store.record_input(data, source=source)  # no key: the first input holds it
        event("input.duplicate", level=logging.WARNING, input_id=record.input_id, source=source, same_bytes=False,
              first_input_id=first)
        if record.duplicate:  # these very bytes came before (this resend, or the same file)
            if not record.split:
                return self.split(record.input_id, data, source=source)
            return Receipt(record.input_id, duplicate=True, stored_ack=record.ack)
        error = InputError(f"a new MSH-10: input {first} came with this MSH-3/MSH-4/MSH-10 and other content; "
                           "the SIL reused the control id or resent an edited message (make MSH-10 unique, then "
                           "release this item)", source=source, segment="MSH", field="MSH-10", message_index=0)
        return self._record(record.input_id, [], [(0, error)], source=source)

    def remember_ack(self, input_id: int, ack: bytes) -> bytes | None:
        return self._ctx.store.set_ack(input_id, ack)

    def refuse(self, data: bytes, *, source: str, error: InputError) -> Receipt:
        """Record an input the intake refuses before parsing (an incomplete file), quarantined with ``error``."""
        record = self._ctx.store.record_input(data, source=source)
        if record.duplicate and record.split:
            return Receipt(record.input_id, duplicate=True, stored_ack=record.ack)
        event("input.received", input_id=record.input_id, source=source, bytes=len(data))
        return self._record(record.input_id, [], [(0, error)], source=source)

    def supersede(self, receipt: Receipt, *, reason: str) -> None:
        """An input found incomplete after its commit: its reports not sent yet are quarantined with
        ``reason``; one already handed to the operator cannot be called back and is said loudly."""
        for report_id in receipt.reports:
            row = self._ctx.store.report(report_id)
            if row is None:
                continue
            if row.state in _NOT_SENT and not row.sent_at:
                self._ctx.quarantine(report_id, reason)
            else:
                event("input.superseded_late", level=logging.ERROR, report_id=report_id,
                      input_id=receipt.input_id, state=row.state.value)

    def split(self, input_id: int, data: bytes, *, source: str) -> Receipt:
        """Parse an input's messages and record its reports (or why a message was refused).

        Raises only :class:`TransientError` (nothing recorded: the input stays unsplit).
        """
        try:
            new, errors = self._read(data, source=source)
            self._refuse_reused_ids(new, errors, source, input_id)
            return self._record(input_id, new, errors, source=source)
        except TransientError:
            self._unsplit_at = utcnow()  # committed, not split: its resend or the periodic recovery finishes it
            raise
        except Exception as exc:  # noqa: BLE001 - a defect outside one message: the whole input is quarantined
            event("input.split_failed", level=logging.ERROR, input_id=input_id, source=source,
                  error=type(exc).__name__)
            error = InputError(f"an input the connector can read (internal {type(exc).__name__} while splitting it; "
                               "report it to the connector's maintainers)", source=source, message_index=0)
            return self._record(input_id, [], [(0, error)], source=source)

    def _read(self, data: bytes, *, source: str) -> tuple[list[NewReport], list[tuple[int, InputError]]]:
        new: list[NewReport] = []
        errors: list[tuple[int, InputError]] = []
        messages = split_messages(data, source=source)
        if not messages:
            errors.append((0, InputError("at least one HL7 message starting with MSH", source=source)))
        for index, message in enumerate(messages):
            try:
                new += self._message(message, index, source=source)
            except InputError as exc:
                errors.append((index, exc))
            except PermanentError as exc:
                errors.append((index, InputError(f"an embedded CDA the connector can forward ({exc})",
                                                 source=source, message_index=index)))
            except Exception as exc:  # noqa: BLE001 - a defect must not lose the input: quarantined, class name only
                event("input.message_failed", level=logging.ERROR, source=source, message_index=index,
                      error=type(exc).__name__)
                errors.append((index, InputError(f"a message the connector can read (internal {type(exc).__name__}; "
                                                 "report it to the connector's maintainers)",
                                                 source=source, message_index=index)))
        return new, errors

    def _message(self, message: bytes, index: int, *, source: str) -> list[NewReport]:
        settings = self._ctx.settings
        check_structure(message, source=source, index=index)  # before the parser spends time on it
        reports = parse_message(message, source=source, index=index, settings=settings.parse)
        for report in reports:
            check_values(report, source=source, index=index)
            if report.documents:  # shape B: the SIL's own CDA is checked now, so the SIL gets AR
                check_embedded(report, lab=settings.lab, xsd=self._xsd)
        new = [NewReport(report_id=report.report_id, message_index=index, patient_index=patient_index,
                         control_id=report.header.control_id, series_key=series_key(report), keys=lookup_keys(report))
               for patient_index, report in enumerate(reports)]
        for report in reports:
            self._loader.remember(report)
            if report.header.decoded_as and report.header.decoded_as in settings.parse.fallback_codecs():
                # Identity data read in a charset the SIL did not declare: said for each report.
                event("report.charset_fallback", level=logging.WARNING, report_id=report.report_id,
                      declared=report.header.charset, charset=report.header.decoded_as)
        return new

    def _record(self, input_id: int, new: list[NewReport], errors: list[tuple[int, InputError]], *,
                source: str) -> Receipt:
        try:
            created = self._ctx.store.record_split(input_id, new, [(i, e.describe()) for i, e in errors])
        except TransientError:
            self._unsplit_at = utcnow()
            raise
        if len(created) != len(new):
            # Split at the same time elsewhere (another instance got the same MLLP message, or recovered
            # the input): the reports are this input's all the same. Else the same id came from two inputs
            # at the same instant: the first one won.
            known = dict(self._ctx.store.known_reports([r.report_id for r in new if r.report_id not in created]))
            elsewhere = sorted(rid for rid, owner in known.items() if owner != input_id)
            if elsewhere:
                event("input.report_id_race", level=logging.WARNING, input_id=input_id, ignored=",".join(elsewhere))
        for index, error in errors:
            event("input.quarantined", level=logging.WARNING, input_id=input_id, source=source,
                  message_index=index, segment=error.segment, field=error.field, reason=error.describe())
        for rep in new:
            event("report.parsed", report_id=rep.report_id, input_id=input_id)
        return Receipt(input_id, errors=tuple(e for _, e in errors), reports=tuple(r.report_id for r in new))

    def _refuse_reused_ids(self, new: list[NewReport], errors: list[tuple[int, InputError]], source: str,
                           input_id: int) -> None:
        """A report id already in the store means the SIL sent this MSH-3/4/10 before with other bytes
        (the same bytes are caught as a duplicate input): never dropped silently, never sent twice.
        A report of this very input is no reuse: the input was split meanwhile by another instance."""
        known = dict(self._ctx.store.known_reports([r.report_id for r in new]))
        for rep in [r for r in new if r.report_id in known and known[r.report_id] != input_id]:
            new.remove(rep)
            errors.append((rep.message_index, InputError(
                f"a new MSH-10: this control id already gave report {rep.report_id} (input {known[rep.report_id]}); "
                "the SIL reused it or resent an edited message", source=source, segment="MSH", field="MSH-10",
                message_index=rep.message_index)))

    def recover(self, *, received_before: str = "") -> int:
        """Inputs committed but never split (a crash between the two commits), each on its own.

        One input never blocks the others: a defect quarantines it (in :meth:`split`), a store
        that cannot commit now leaves it for the next pass, the next start or its resend.
        ``received_before``: only inputs older than that (see :meth:`Store.unsplit_inputs`).
        """
        count, left = 0, False
        for input_id in self._ctx.store.unsplit_inputs(received_before=received_before):
            count += 1
            try:
                source, data = self._ctx.store.input_data(input_id)
                self.split(input_id, data, source=source)
            except Exception as exc:  # noqa: BLE001 - the next input must still be recovered
                left = left or isinstance(exc, TransientError)
                event("input.recovery_failed", level=logging.ERROR, input_id=input_id, error=type(exc).__name__)
        if not left and self._unsplit_at and (not received_before or self._unsplit_at < received_before):
            self._unsplit_at = ""
        return count

    @property
    def left_unsplit(self) -> bool:
        return bool(self._unsplit_at)

def lookup_keys(report: LabReport) -> tuple[tuple[KeyKind, str], ...]:
    """What a person at the lab may find the report by (`connector show`): the sender and the order numbers."""
    keys = [(KeyKind.SENDING_APPLICATION, report.header.sending_application),
            (KeyKind.SENDING_FACILITY, report.header.sending_facility)]
    for order in report.orders:
        for kind, ident in ((KeyKind.PLACER_ORDER, order.placer_number), (KeyKind.FILLER_ORDER, order.filler_number),
                            (KeyKind.PLACER_GROUP, order.placer_group)):
            if ident is not None and ident.value:
                keys.append((kind, ident.value))
    return tuple(dict.fromkeys(keys))
