"""The acknowledgement step: a returned mail → recipient states → the ZAM owed to the SIL.

Everything one mail changes (each recipient's state, the report's state, the ZAM) is committed
in one transaction per acknowledgement, so applying the same mail twice changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

from connector.errors import InputError
from connector.logs import event
from connector.model import Recipient, RecipientKind
from connector.parse import header_of, split_messages
from connector.states import RecipientState, ReportState
from connector.store import ReportRow, age_seconds
from connector.track import Ack, build_zam, read_ack_mail

from .compose import cda_time
from .context import PipelineContext
from .loader import ReportLoader

__all__ = ["AckStep"]

_OK_STATES = (RecipientState.DELIVERED, RecipientState.DISPLAYED, RecipientState.PROCESSED)


def ack_code(ack: Ack) -> str:
    """The code operators see (events, ``connector show``, alert rules): a DSN's enhanced status (5.1.1),
    an MDN's or KO mail's error code (902). The ZAM^Z02 keeps the SMTP reply code (550) its table names."""
    if ack.kind == "dsn":
        return ack.status or ack.error_code
    return ack.error_code or ack.status


class AckStep:
    def __init__(self, ctx: PipelineContext, loader: ReportLoader) -> None:
        self._ctx = ctx
        self._loader = loader

    def handle_mail(self, raw: bytes) -> bool:
        """Apply the acks one returned mail carries; False when it matches no report of ours."""
        store, observer = self._ctx.store, self._ctx.observer
        known = False
        outcome = read_ack_mail(raw)
        if not outcome.acks:
            # A person wrote to the lab's applicative mailbox (a doctor replying): nobody reads it but us.
            event("ack.unmatched", level=logging.WARNING, kind="none", reason=outcome.reason,
                  folder="unknown_folder")
        for ack in outcome.acks:
            report_id = store.find_report(envid=ack.envid, message_id=ack.original_message_id)
            if report_id is None:
                event("ack.unmatched", level=logging.WARNING, kind=ack.kind, state=ack.state.value,
                      reason="no report of ours has this ENVID or Message-ID", folder="unknown_folder")
                continue
            known = True
            zam = self._zam(report_id, ack)
            code = ack_code(ack)
            state = store.apply_ack(report_id, address=ack.recipient, state=ack.state, code=code,
                                    detail=ack.diagnostic, zam=zam)
            bad = ack.state in (RecipientState.FAILED, RecipientState.ERROR)
            event(f"recipient.{ack.state.value}", level=logging.WARNING if bad else logging.INFO,
                  report_id=report_id, kind=ack.kind, code=code, smtp_code=ack.error_code if ack.kind == "dsn" else "",
                  report_state=state.value)
            observer.ack(ack.kind, ack.state.value)
            row = store.report(report_id)
            if row is not None and state in (ReportState.DELIVERED, ReportState.READ):
                observer.milestone(state.value, age_seconds(row.received_at))
        return known

    def tell_sil_no_address(self, row: ReportRow) -> None:
        """A negative ZAM^Z02 (SMTPERRORCODE 510) when a report starts waiting for a directory entry."""
        try:
            report = self._loader.load(row, self._ctx.settings.parse)
        except InputError:
            return
        prescriber = report.prescriber
        recipient = Recipient(address="", kind=RecipientKind.PRESCRIBER, idnps=prescriber.idnps if prescriber else "")
        name = f"{row.report_id}-Z02-no-address"
        data = self._zam_bytes(row.report_id, "Z02", name, recipient=recipient, ok=False, error_code="510",
                               error_label="Aucune adresse MSSante dans l'annuaire pour le destinataire")
        if data is not None:
            self._ctx.store.add_outbox(row.report_id, kind="Z02", name=name, data=data)

    def _zam(self, report_id: str, ack: Ack) -> tuple[str, str, bytes] | None:
        if ack.state is RecipientState.DELAYED:
            return None
        kind = "Z02" if ack.kind == "dsn" else "Z03"
        row = next((r for r in self._ctx.store.recipients(report_id)
                    if r.address.lower() == ack.recipient.lower()), None)
        # An ack for an address we did not send to (a forward): the ZAM names the address, no IDNPS.
        recipient = Recipient(address=ack.recipient, kind=row.kind if row else RecipientKind.COPY,
                              idnps=row.idnps if row else "")
        # Idempotence key: one ZAM per (report, kind, recipient, state). The address is hashed:
        # a patient's mailbox is their INS.
        who = hashlib.sha256(ack.recipient.lower().encode()).hexdigest()[:16]
        name = f"{report_id}-{kind}-{who}-{ack.state.value}"
        data = self._zam_bytes(report_id, kind, name, recipient=recipient, ok=ack.state in _OK_STATES,
                               error_code=ack.error_code, error_label=ack.diagnostic[:80])
        return None if data is None else (kind, name, data)

    def _zam_bytes(self, report_id: str, kind: str, name: str, *, recipient: Recipient, ok: bool,
                   error_code: str, error_label: str) -> bytes | None:
        store, settings = self._ctx.store, self._ctx.settings
        row = store.report(report_id)
        if row is None:
            return None
        source, data = store.input_data(row.input_id)
        messages = split_messages(data, source=source)
        if row.message_index >= len(messages):  # input bytes pruned (retention): no ZAM can be built
            return None
        header = header_of(messages[row.message_index])
        if header is None:
            return None
        control_id = hashlib.sha256(name.encode()).hexdigest()[:20]
        return build_zam(kind, original=header, recipient=recipient, ok=ok, error_code=error_code,
                         error_label=error_label, sender_app=settings.sil.application,
                         sender_facility=settings.sil.facility, control_id=control_id,
                         when=cda_time(datetime.now(UTC), settings.lab.timezone)[:14])
