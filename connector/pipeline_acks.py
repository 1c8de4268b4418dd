"""The pipeline's acknowledgement steps: a returned mail → recipient states → the ZAM owed to the SIL.

A mixin of :class:`connector.pipeline.Pipeline` (it uses the pipeline's store, config and loader);
kept apart so the send path and the tracking path each read on their own.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from connector.build import cda_time
from connector.errors import InputError
from connector.logs import event
from connector.model import LabIdentity, LabReport, Recipient
from connector.parse import header_of, split_messages
from connector.states import RecipientState, ReportState
from connector.store import age_seconds
from connector.track import Ack, build_zam, parse_acks

if TYPE_CHECKING:
    from connector.config import Config
    from connector.metrics import Metrics
    from connector.store import ReportRow, Store

__all__ = ["AckSteps"]


class AckSteps:
    store: Store
    config: Config
    lab: LabIdentity
    metrics: Metrics | None

    def load(self, row: ReportRow) -> LabReport:
        raise NotImplementedError

    def handle_ack_mail(self, raw: bytes) -> bool:
        """Apply the acks one returned mail carries; False when it matches no report of ours."""
        known = False
        for ack in parse_acks(raw):
            report_id = self.store.find_report(envid=ack.envid, message_id=ack.original_message_id)
            if report_id is None:
                event("ack.unmatched", kind=ack.kind, state=ack.state.value)
                continue
            known = True
            zam = self._zam(report_id, ack)
            state = self.store.apply_ack(report_id, address=ack.recipient, state=ack.state,
                                         code=ack.error_code or ack.status, detail=ack.diagnostic, zam=zam)
            bad = ack.state in (RecipientState.FAILED, RecipientState.ERROR)
            event(f"recipient.{ack.state.value}", level=logging.WARNING if bad else logging.INFO,
                  report_id=report_id, kind=ack.kind, code=ack.error_code or ack.status, report_state=state.value)
            if self.metrics is not None:
                self.metrics.acks.labels(kind=ack.kind, state=ack.state.value).inc()
                row = self.store.report(report_id)
                if row is not None and state in (ReportState.DELIVERED, ReportState.READ):
                    self.metrics.latency.labels(milestone=state.value).observe(age_seconds(row.received_at))
        return known

    def _zam(self, report_id: str, ack: Ack) -> tuple[str, str, bytes] | None:
        if ack.state in (RecipientState.DELAYED,):
            return None
        kind = "Z02" if ack.kind == "dsn" else "Z03"
        rcpt = next((r for r in self.store.recipients(report_id)
                     if r["address"].lower() == ack.recipient.lower()), None)
        recipient = Recipient(address=ack.recipient, kind=rcpt["kind"] if rcpt else "",
                              idnps=rcpt["idnps"] if rcpt else "")
        ok = ack.state in (RecipientState.DELIVERED, RecipientState.DISPLAYED, RecipientState.PROCESSED)
        # Idempotence key: one ZAM per (report, kind, recipient, state). The address is hashed:
        # a patient's mailbox is their INS.
        who = hashlib.sha256(ack.recipient.lower().encode()).hexdigest()[:16]
        name = f"{report_id}-{kind}-{who}-{ack.state.value}"
        data = self._zam_bytes(report_id, kind, name, recipient=recipient, ok=ok, error_code=ack.error_code,
                               error_label=ack.diagnostic[:80])
        return None if data is None else (kind, name, data)

    def _tell_sil_no_address(self, row: ReportRow) -> None:
        try:
            report = self.load(row)
        except InputError:
            return
        prescriber = report.prescriber
        recipient = Recipient(address="", kind="prescriber", idnps=prescriber.idnps if prescriber else "")
        name = f"{row.report_id}-Z02-no-address"
        data = self._zam_bytes(row.report_id, "Z02", name, recipient=recipient, ok=False, error_code="510",
                               error_label="Aucune adresse MSSante dans l'annuaire pour le destinataire")
        if data is not None:
            self.store.add_outbox(row.report_id, kind="Z02", name=name, data=data)

    def _zam_bytes(self, report_id: str, kind: str, name: str, *, recipient: Recipient, ok: bool,
                   error_code: str, error_label: str) -> bytes | None:
        row = self.store.report(report_id)
        if row is None:
            return None
        source, data = self.store.input_data(row.input_id)
        messages = split_messages(data, source=source)
        if row.message_index >= len(messages):  # input bytes pruned (retention): no ZAM can be built
            return None
        header = header_of(messages[row.message_index])
        if header is None:
            return None
        control_id = hashlib.sha256(name.encode()).hexdigest()[:20]
        return build_zam(kind, original=header, recipient=recipient, ok=ok, error_code=error_code,
                         error_label=error_label, sender_app=self.config.sil.ack_application,
                         sender_facility=self.config.sil.ack_facility, control_id=control_id,
                         when=cda_time(datetime.now(UTC), self.lab.timezone)[:14])

